/*
 * session.c — the fake MX's SMTP server side (RFC 5321 section 4):
 * ESMTP with PIPELINING (replies in order, RFC 2920), SIZE (RFC 1870),
 * 8BITMIME and ENHANCEDSTATUSCODES (RFC 2034), dot-unstuffing, and
 * hardening: overlong command lines, NUL bytes, commands out of order and
 * oversized DATA get a reply, never a crash. Replies use Postfix's texts.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakemx_int.h"
#include "mxlab/smtp.h"

static void fakemx_reply(struct fakemx_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fakemx_reply(struct fakemx_session *s, const char *fmt, ...)
{
    struct evbuffer *out = bufferevent_get_output(s->bev);
    va_list ap;

    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add(out, "\r\n", 2);
}

/* Send text with "%s" replaced by the client IP (the text is scenario
 * input: never a printf format). */
static void fakemx_reply_template(struct fakemx_session *s, const char *text)
{
    struct evbuffer *out = bufferevent_get_output(s->bev);

    for (const char *p = text; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            evbuffer_add(out, s->client_ip, strlen(s->client_ip));
            p++;
        } else {
            evbuffer_add(out, p, 1);
        }
    }
    evbuffer_add(out, "\r\n", 2);
}

static void fakemx_close_after_reply(struct fakemx_session *s)
{
    s->closing = 1;
    bufferevent_disable(s->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        fakemx_session_free(s);
}

static void fakemx_reset(struct fakemx_session *s)
{
    free(s->mail_from);
    s->mail_from = NULL;
    strlist_clear(&s->rcpts);
    strbuf_reset(&s->data);
    s->in_data = 0;
    s->data_too_big = 0;
}

void fakemx_session_free(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;

    for (struct fakemx_session **pp = &fm->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    bufferevent_free(s->bev);
    fakemx_reset(s);
    strbuf_clear(&s->data);
    free(s->helo);
    free(s);
}

static void fakemx_end_of_data(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;

    s->in_data = 0;
    if (s->data_too_big) {
        fakemx_reply(s, "552 5.3.4 Error: message file too big");
    } else {
        fakemx_reply(s, "250 2.0.0 Ok: queued as FM%08lX", ++fm->queue_seq);
        fakemx_record(s);
    }
    fakemx_reset(s);
}

static void fakemx_data_line(struct fakemx_session *s, const char *line,
                             size_t len)
{
    if (len == 1 && line[0] == '.') {
        fakemx_end_of_data(s);
        return;
    }
    /* RFC 5321 section 4.5.2: drop the stuffed leading dot. */
    if (len > 0 && line[0] == '.') {
        line++;
        len--;
    }
    if (s->data_too_big)
        return;
    if ((long)(s->data.len + len + 2) > FAKEMX_SIZE_LIMIT) {
        s->data_too_big = 1;
        return;
    }
    strbuf_append(&s->data, line, len);
    strbuf_append(&s->data, "\r\n", 2);
}

static void fakemx_command(struct fakemx_session *s, const char *line)
{
    struct fakemx_host *h = s->host;
    char addr[SMTP_PATH_MAX];
    const char *arg;

    if ((arg = str_casestart(line, "EHLO")) != NULL &&
        (*arg == ' ' || *arg == '\0')) {
        while (*arg == ' ')
            arg++;
        if (*arg == '\0') {
            fakemx_reply(s, "501 Syntax: EHLO hostname");
            return;
        }
        fakemx_reset(s);
        free(s->helo);
        s->helo = xstrdup(arg);
        fakemx_reply(s, "250-%s", h->name);
        fakemx_reply(s, "250-PIPELINING");
        fakemx_reply(s, "250-SIZE %ld", FAKEMX_SIZE_LIMIT);
        fakemx_reply(s, "250-8BITMIME");
        fakemx_reply(s, "250 ENHANCEDSTATUSCODES");
    } else if ((arg = str_casestart(line, "HELO")) != NULL &&
               (*arg == ' ' || *arg == '\0')) {
        while (*arg == ' ')
            arg++;
        if (*arg == '\0') {
            fakemx_reply(s, "501 Syntax: HELO hostname");
            return;
        }
        fakemx_reset(s);
        free(s->helo);
        s->helo = xstrdup(arg);
        fakemx_reply(s, "250 %s", h->name);
    } else if ((arg = str_casestart(line, "MAIL FROM:")) != NULL) {
        const char *params;
        if (s->mail_from != NULL) {
            fakemx_reply(s, "503 5.5.1 Error: nested MAIL command");
            return;
        }
        if (smtp_parse_path(arg, 0, addr, sizeof(addr), &params) !=
            SMTP_PATH_OK) {
            fakemx_reply(s, "501 5.1.7 Bad sender address syntax");
            return;
        }
        for (const char *q = params; q && *q;) {
            const char *v = str_casestart(q, "SIZE=");
            long size;
            char num[32];
            if (v != NULL) {
                size_t n = strcspn(v, " ");
                snprintf(num, sizeof(num), "%.*s", (int)(n < 31 ? n : 31), v);
                if (str_to_long(num, &size) == 0 && size > FAKEMX_SIZE_LIMIT) {
                    fakemx_reply(s, "552 5.3.4 Message size exceeds fixed "
                                    "limit");
                    return;
                }
            }
            q = strchr(q, ' ');
            while (q && *q == ' ')
                q++;
        }
        s->mail_from = xstrdup(addr);
        fakemx_reply(s, "250 2.1.0 Ok");
    } else if ((arg = str_casestart(line, "RCPT TO:")) != NULL) {
        if (s->mail_from == NULL) {
            fakemx_reply(s, "503 5.5.1 Error: need MAIL command");
            return;
        }
        if (smtp_parse_path(arg, 0, addr, sizeof(addr), NULL) != SMTP_PATH_OK ||
            addr[0] == '\0') {
            fakemx_reply(s, "501 5.1.3 Bad recipient address syntax");
            return;
        }
        strlist_push(&s->rcpts, addr);
        fakemx_reply(s, "250 2.1.5 Ok");
    } else if (str_casecmp(line, "DATA") == 0) {
        if (s->mail_from == NULL) {
            fakemx_reply(s, "503 5.5.1 Error: need MAIL command");
        } else if (s->rcpts.n == 0) {
            fakemx_reply(s, "503 5.5.1 Error: need RCPT command");
        } else {
            s->in_data = 1;
            strbuf_reset(&s->data);
            fakemx_reply(s, "354 End data with <CR><LF>.<CR><LF>");
        }
    } else if (str_casecmp(line, "RSET") == 0) {
        fakemx_reset(s);
        fakemx_reply(s, "250 2.0.0 Ok");
    } else if (str_casecmp(line, "NOOP") == 0) {
        fakemx_reply(s, "250 2.0.0 Ok");
    } else if (str_casecmp(line, "QUIT") == 0) {
        fakemx_reply(s, "221 2.0.0 Bye");
        fakemx_close_after_reply(s);
    } else if (line[0] == '\0') {
        fakemx_reply(s, "500 5.5.2 Error: bad syntax");
    } else {
        fakemx_reply(s, "502 5.5.2 Error: command not recognized");
    }
}

static void fakemx_on_read(struct bufferevent *bev, void *arg)
{
    struct fakemx_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;

    while (!s->closing) {
        line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
        if (line == NULL)
            break;
        if (s->skipping_long_line) {
            /* The tail of an overlong command line: refuse it once. */
            s->skipping_long_line = 0;
            fakemx_reply(s, "500 5.5.0 Error: line too long");
        } else if (s->in_data) {
            fakemx_data_line(s, line, len);
        } else if (strlen(line) != len) {
            fakemx_reply(s, "500 5.5.2 Error: bad syntax");
        } else if (len + 2 > FAKEMX_LINE_LIMIT) {
            fakemx_reply(s, "500 5.5.0 Error: line too long");
        } else {
            fakemx_command(s, line);
        }
        free(line);
    }
    if (s->closing)
        return;
    /* No end of line yet: an overlong command line is dropped as it
     * comes; a long DATA line is kept (only SIZE limits DATA). */
    if (!s->in_data && evbuffer_get_length(in) > FAKEMX_LINE_LIMIT) {
        evbuffer_drain(in, evbuffer_get_length(in));
        s->skipping_long_line = 1;
    }
}

static void fakemx_on_write(struct bufferevent *bev, void *arg)
{
    struct fakemx_session *s = arg;

    if (s->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        fakemx_session_free(s);
}

static void fakemx_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    /* EOF, error or idle timeout: a transaction not ended by "." is not
     * recorded. */
    fakemx_session_free(arg);
}

void fakemx_session_start(struct fakemx_host *h, int fd,
                          const struct netaddr *peer)
{
    struct fakemx *fm = h->fm;
    struct fakemx_session *s = xcalloc(1, sizeof(*s));
    struct timeval idle = {300, 0};

    s->host = h;
    netaddr_ip(peer, s->client_ip, sizeof(s->client_ip));
    strlist_init(&s->rcpts);
    strbuf_init(&s->data);
    s->bev = bufferevent_socket_new(fm->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, fakemx_on_read, fakemx_on_write, fakemx_on_event,
                      s);
    bufferevent_set_timeouts(s->bev, &idle, &idle);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->next = fm->sessions;
    fm->sessions = s;
    if (h->beh.greeting_reply != NULL) {
        fakemx_reply_template(s, h->beh.greeting_reply);
        fakemx_close_after_reply(s);
        return;
    }
    if (h->beh.max_conn_per_ip > 0 &&
        fakemx_host_clients(h, s->client_ip) > h->beh.max_conn_per_ip) {
        fakemx_reply(s, "421 4.7.0 %s Error: too many connections from %s",
                     h->name, s->client_ip);
        fakemx_close_after_reply(s);
        return;
    }
    fakemx_reply(s, "220 %s ESMTP fakemx", h->name);
}
