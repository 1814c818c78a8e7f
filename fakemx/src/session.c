/*
 * session.c — the fake MX's SMTP server side (RFC 5321 section 4):
 * ESMTP with PIPELINING (replies in order, RFC 2920), SIZE (RFC 1870),
 * 8BITMIME (RFC 6152) and ENHANCEDSTATUSCODES (RFC 2034), dot-unstuffing
 * (RFC 5321 section 4.5.2), and hardening: overlong command lines, NUL
 * bytes, bare CR, commands out of order and oversized DATA get a reply,
 * never a crash. Reply texts are Postfix's smtpd's.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakemx_int.h"
#include "mxlab/log.h"
#include "mxlab/smtp.h"

/* Queue IDs count per process, so two fake hosts (or two fakemx objects)
 * never hand out the same one. */
static unsigned long fakemx_queue_seq;

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

/* Send a reply given as text, with "%s" replaced by the client IP. The
 * text comes from a scenario: it is never used as a printf format. A "\n"
 * in it starts a new reply line (CRLF on the wire); CRs are dropped. */
static void fakemx_reply_template(struct fakemx_session *s, const char *text)
{
    struct evbuffer *out = bufferevent_get_output(s->bev);

    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 's') {
            evbuffer_add(out, s->client_ip, strlen(s->client_ip));
            p++;
        } else if (*p == '\n') {
            evbuffer_add(out, "\r\n", 2);
        } else if (*p != '\r') {
            evbuffer_add(out, p, 1);
        }
    }
    evbuffer_add(out, "\r\n", 2);
}

/* Stop reading; the session is freed by fakemx_on_write once the reply
 * just queued has been written (or by fakemx_on_event on error). */
static void fakemx_close_after_reply(struct fakemx_session *s)
{
    s->closing = 1;
    bufferevent_disable(s->bev, EV_READ);
}

/* Forget the mail transaction (RFC 5321 section 4.1.1.5). */
static void fakemx_reset(struct fakemx_session *s)
{
    free(s->mail_from);
    s->mail_from = NULL;
    strlist_clear(&s->rcpts);
    strbuf_reset(&s->data);
    s->in_data = 0;
    s->data_too_big = 0;
    s->data_mid_line = 0;
}

void fakemx_session_free(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;

    for (struct fakemx_session **pp = &fm->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    log_debug("%s: disconnect from %s", s->host->listen, s->client_ip);
    bufferevent_free(s->bev);
    fakemx_reset(s);
    strbuf_clear(&s->data);
    free(s->helo);
    free(s);
}

/* ---- DATA ---- */

static void fakemx_data_append(struct fakemx_session *s, const char *p,
                               size_t len)
{
    if (s->data_too_big)
        return;
    /* RFC 1870 section 6: over the limit we keep reading up to the final
     * "." and reject the message there (552). */
    if (s->data.len + len > (size_t)FAKEMX_SIZE_LIMIT) {
        s->data_too_big = 1;
        strbuf_clear(&s->data);
        return;
    }
    strbuf_append(&s->data, p, len);
}

static void fakemx_end_of_data(struct fakemx_session *s)
{
    char id[32];

    s->in_data = 0;
    if (s->data_too_big) {
        fakemx_reply(s, "552 5.3.4 Error: message file too big");
    } else {
        snprintf(id, sizeof(id), "FM%08lX", ++fakemx_queue_seq);
        fakemx_reply(s, "250 2.0.0 Ok: queued as %s", id);
        log_info("%s: %s: from=<%s>, nrcpt=%zu, size=%zu, client=%s",
                 s->host->listen, id, s->mail_from, s->rcpts.n, s->data.len,
                 s->client_ip);
        fakemx_record(s);
    }
    fakemx_reset(s);
}

/* One complete DATA line without its line end. */
static void fakemx_data_line(struct fakemx_session *s, const char *line,
                             size_t len)
{
    if (s->data_mid_line) {
        /* The tail of a long line whose head is already stored. */
        s->data_mid_line = 0;
    } else if (len == 1 && line[0] == '.') {
        fakemx_end_of_data(s);
        return;
    } else if (len > 0 && line[0] == '.') {
        /* RFC 5321 section 4.5.2: drop the stuffed leading dot. */
        line++;
        len--;
    }
    fakemx_data_append(s, line, len);
    fakemx_data_append(s, "\r\n", 2);
}

/* A long DATA line with no LF yet: store what we have but the last byte
 * (it may be the CR of the CRLF still to come). */
static void fakemx_data_partial(struct fakemx_session *s, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in) - 1;
    unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
    size_t skip = 0;

    if (!s->data_mid_line && n > 0 && p[0] == '.')
        skip = 1; /* stuffed dot, as in fakemx_data_line */
    fakemx_data_append(s, (const char *)p + skip, n - skip);
    evbuffer_drain(in, n);
    s->data_mid_line = 1;
}

/* ---- commands ---- */

/* HELO and EHLO (RFC 5321 section 4.1.1.1). */
static void fakemx_hello(struct fakemx_session *s, const char *arg, int ehlo)
{
    struct fakemx_host *h = s->host;

    if (*arg == '\0') {
        fakemx_reply(s, "501 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    /* RFC 5321 section 4.1.4: EHLO/HELO also resets the transaction. */
    fakemx_reset(s);
    free(s->helo);
    s->helo = xstrdup(arg);
    if (!ehlo) {
        fakemx_reply(s, "250 %s", h->name);
        return;
    }
    fakemx_reply(s, "250-%s", h->name);
    fakemx_reply(s, "250-PIPELINING");
    fakemx_reply(s, "250-SIZE %ld", FAKEMX_SIZE_LIMIT);
    fakemx_reply(s, "250-8BITMIME");
    fakemx_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void fakemx_cmd_ehlo(struct fakemx_session *s, const char *arg)
{
    fakemx_hello(s, arg, 1);
}

static void fakemx_cmd_helo(struct fakemx_session *s, const char *arg)
{
    fakemx_hello(s, arg, 0);
}

/* 1 if the MAIL parameters carry a SIZE= beyond our limit (RFC 1870). */
static int fakemx_size_exceeded(const char *params)
{
    const char *p = params;
    char num[32];
    long size;

    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        const char *v = str_casestart(p, "SIZE=");
        if (v != NULL && v < p + n) {
            size_t vlen = (size_t)(p + n - v);
            if (vlen >= sizeof(num))
                return 1; /* more digits than any long */
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            if (str_to_long(num, &size) == 0 && size > FAKEMX_SIZE_LIMIT)
                return 1;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static void fakemx_cmd_mail(struct fakemx_session *s, const char *arg)
{
    char addr[SMTP_PATH_MAX];
    const char *path, *params = "";

    if (s->mail_from != NULL) {
        fakemx_reply(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if ((path = str_casestart(arg, "FROM:")) == NULL) {
        fakemx_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    if (smtp_parse_path(path, 0, addr, sizeof(addr), &params) != SMTP_PATH_OK) {
        fakemx_reply(s, "501 5.1.7 Bad sender address syntax");
        return;
    }
    if (fakemx_size_exceeded(params)) {
        fakemx_reply(s, "552 5.3.4 Message size exceeds fixed limit");
        return;
    }
    s->mail_from = xstrdup(addr);
    fakemx_reply(s, "250 2.1.0 Ok");
}

static void fakemx_cmd_rcpt(struct fakemx_session *s, const char *arg)
{
    char addr[SMTP_PATH_MAX];
    const char *path;

    if (s->mail_from == NULL) {
        fakemx_reply(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if ((path = str_casestart(arg, "TO:")) == NULL) {
        fakemx_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if (smtp_parse_path(path, 0, addr, sizeof(addr), NULL) != SMTP_PATH_OK ||
        addr[0] == '\0') {
        fakemx_reply(s, "501 5.1.3 Bad recipient address syntax");
        return;
    }
    strlist_push(&s->rcpts, addr);
    fakemx_reply(s, "250 2.1.5 Ok");
}

static void fakemx_cmd_data(struct fakemx_session *s, const char *arg)
{
    /* Postfix's order and texts: without a transaction it asks for RCPT;
     * with MAIL but no accepted recipient (all rejected while pipelining)
     * it is no protocol error but "no valid recipients". */
    if (s->mail_from == NULL) {
        fakemx_reply(s, "503 5.5.1 Error: need RCPT command");
    } else if (s->rcpts.n == 0) {
        fakemx_reply(s, "554 5.5.1 Error: no valid recipients");
    } else if (*arg != '\0') {
        fakemx_reply(s, "501 5.5.4 Syntax: DATA");
    } else {
        s->in_data = 1;
        s->data_too_big = 0;
        s->data_mid_line = 0;
        strbuf_reset(&s->data);
        fakemx_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    }
}

static void fakemx_cmd_rset(struct fakemx_session *s, const char *arg)
{
    if (*arg != '\0') {
        fakemx_reply(s, "501 5.5.4 Syntax: RSET");
        return;
    }
    fakemx_reset(s);
    fakemx_reply(s, "250 2.0.0 Ok");
}

static void fakemx_cmd_noop(struct fakemx_session *s, const char *arg)
{
    (void)arg; /* RFC 5321 section 4.1.1.9: a parameter is ignored */
    fakemx_reply(s, "250 2.0.0 Ok");
}

static void fakemx_cmd_quit(struct fakemx_session *s, const char *arg)
{
    (void)arg;
    fakemx_reply(s, "221 2.0.0 Bye");
    fakemx_close_after_reply(s);
}

static const struct fakemx_cmd {
    const char *verb;
    void (*fn)(struct fakemx_session *, const char *);
} fakemx_cmds[] = {
    {"EHLO", fakemx_cmd_ehlo}, {"HELO", fakemx_cmd_helo},
    {"MAIL", fakemx_cmd_mail}, {"RCPT", fakemx_cmd_rcpt},
    {"DATA", fakemx_cmd_data}, {"RSET", fakemx_cmd_rset},
    {"NOOP", fakemx_cmd_noop}, {"QUIT", fakemx_cmd_quit},
};

/* One command line, NUL-free, without its line end; modified in place. */
static void fakemx_command(struct fakemx_session *s, char *line)
{
    char *arg, *end;
    size_t vlen;

    log_debug("%s: %s: < %s", s->host->listen, s->client_ip, line);
    while (*line == ' ')
        line++;
    end = line + strlen(line);
    while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (*line == '\0') {
        fakemx_reply(s, "500 5.5.2 Error: bad syntax");
        return;
    }
    vlen = strcspn(line, " ");
    arg = line + vlen;
    while (*arg == ' ')
        arg++;
    for (size_t i = 0; i < sizeof(fakemx_cmds) / sizeof(fakemx_cmds[0]); i++) {
        if (vlen == 4 && str_ncasecmp(line, fakemx_cmds[i].verb, 4) == 0) {
            fakemx_cmds[i].fn(s, arg);
            return;
        }
    }
    fakemx_reply(s, "502 5.5.2 Error: command not recognized");
}

/* ---- I/O ---- */

/* Answer every complete line in the input, in order (RFC 2920: a client
 * may send MAIL, RCPT..., DATA in one write). */
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
        if (s->in_data) {
            fakemx_data_line(s, line, len);
        } else if (s->skipping_long_line) {
            /* The tail of an overlong command line: one reply for all. */
            s->skipping_long_line = 0;
            fakemx_reply(s, "500 5.5.0 Error: line too long");
        } else if (len + 2 > FAKEMX_LINE_LIMIT) {
            fakemx_reply(s, "500 5.5.0 Error: line too long");
        } else if (memchr(line, '\0', len) != NULL) {
            fakemx_reply(s, "500 5.5.2 Error: bad syntax");
        } else {
            fakemx_command(s, line);
        }
        free(line);
    }
    if (s->closing)
        return;
    /* No line end yet. An overlong command line is dropped as it comes;
     * a long DATA line is stored in pieces (only SIZE limits DATA). */
    len = evbuffer_get_length(in);
    if (s->in_data) {
        if (len >= FAKEMX_DATA_CHUNK)
            fakemx_data_partial(s, in);
    } else if (len > FAKEMX_LINE_LIMIT) {
        evbuffer_drain(in, len);
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
    struct fakemx_session *s = arg;

    (void)bev;
    /* Idle: say so as Postfix does, then close once it is written. */
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
        !s->closing) {
        fakemx_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->host->name);
        fakemx_close_after_reply(s);
        return;
    }
    /* EOF, error, write timeout: a transaction not ended by "." is not
     * recorded. */
    fakemx_session_free(s);
}

void fakemx_session_start(struct fakemx_host *h, int fd,
                          const struct netaddr *peer)
{
    struct fakemx *fm = h->fm;
    struct fakemx_session *s = xcalloc(1, sizeof(*s));
    struct timeval idle = {FAKEMX_IDLE_TIMEOUT, 0};

    s->host = h;
    netaddr_ip(peer, s->client_ip, sizeof(s->client_ip));
    strlist_init(&s->rcpts);
    strbuf_init(&s->data);
    s->bev = bufferevent_socket_new(fm->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL) {
        log_warnx("%s: cannot set up a connection from %s", h->listen,
                  s->client_ip);
        evutil_closesocket(fd);
        strbuf_clear(&s->data);
        free(s);
        return;
    }
    bufferevent_setcb(s->bev, fakemx_on_read, fakemx_on_write, fakemx_on_event,
                      s);
    bufferevent_set_timeouts(s->bev, &idle, &idle);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->next = fm->sessions;
    fm->sessions = s;
    log_debug("%s: connect from %s", h->listen, s->client_ip);
    if (h->beh.greeting_reply != NULL) {
        fakemx_reply_template(s, h->beh.greeting_reply);
        fakemx_close_after_reply(s);
        return;
    }
    /* This session is already in the list: it counts itself. */
    if (h->beh.max_conn_per_ip > 0 &&
        fakemx_host_clients(h, s->client_ip) > h->beh.max_conn_per_ip) {
        fakemx_reply(s, "421 4.7.0 %s Error: too many connections from %s",
                     h->name, s->client_ip);
        fakemx_close_after_reply(s);
        return;
    }
    fakemx_reply(s, "220 %s ESMTP fakemx", h->name);
}
