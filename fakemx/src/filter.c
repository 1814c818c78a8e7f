/*
 * filter.c — fakemx's filter mode: a fake content filter in amavis's
 * place of Postfix's FILTER_README ("advanced content filter"). A host
 * with "filter = IP:PORT" hands each message it accepted back by SMTP
 * (RFC 5321 client side: EHLO, MAIL, RCPT, DATA, section 3.3) to IP:PORT,
 * from its own address, with the same envelope and one header added at
 * the top (RFC 5322 section 3.6.7: trace and filter fields go on top).
 * The final dot of the incoming message is answered only once the
 * hand-back is: "250 2.0.0 from MTA(smtp:[IP]:PORT): REPLY" as amavis
 * answers, the refusal otherwise, so that nothing the filter
 * acknowledged is ever lost. Replies are read by this file's own reader
 * (a judge shares no parser with what it judges); one teardown path,
 * fakemx_filter_cancel, or the answer.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakemx_int.h"
#include "mxlab/log.h"

/* Each reply of the hand-back is awaited at most this long. */
#define FAKEMX_FILTER_TIMEOUT 60
/* A reply longer than this (all its lines) is a broken server. */
#define FAKEMX_FILTER_REPLY_MAX 4096

enum fakemx_filter_state {
    FAKEMX_FILTER_GREETING,
    FAKEMX_FILTER_EHLO,
    FAKEMX_FILTER_MAIL,
    FAKEMX_FILTER_RCPT,
    FAKEMX_FILTER_DATA,
    FAKEMX_FILTER_DOT,
    FAKEMX_FILTER_QUIT,
};

struct fakemx_filter {
    struct fakemx_session *s; /* NULL once answered: QUIT sent, 221 next */
    struct fakemx *fm;
    struct bufferevent *bev;
    enum fakemx_filter_state state;
    size_t ircpt;        /* the RCPT whose reply comes next */
    int talking;         /* the server has said something */
    struct event *later; /* a failure before any I/O, reported from the loop */
    char why[160];
    struct fakemx_filter *next; /* on fm->filters while closing */
    char target[80];            /* "[127.0.0.1]:10025", for the replies */
    struct strbuf reply;        /* the reply being read, lines joined by "\n" */
};

void fakemx_filter_cancel(struct fakemx_filter *f)
{
    if (f == NULL)
        return;
    for (struct fakemx_filter **pp = &f->fm->filters; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (f->bev != NULL)
        bufferevent_free(f->bev);
    if (f->later != NULL)
        event_free(f->later);
    strbuf_clear(&f->reply);
    free(f);
}

/* The hand-back is over: the session gets its answer (a single reply
 * line: what the downstream server said is kept to its last line). */
static void fakemx_filter_end(struct fakemx_filter *f, int ok, const char *code,
                              const char *text)
{
    struct fakemx_session *s = f->s;
    char line[1024];
    size_t n;

    n = (size_t)snprintf(line, sizeof(line), "%s from MTA(smtp:%s): %s", code,
                         f->target, text);
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\r' || line[i] == '\n')
            line[i] = ' ';
    log_info("%s: filter: %s", s->host->listen, line);
    if (ok) {
        /* QUIT is out: the connection stays until its 221 (or a close),
         * apart from the session, which goes on now. */
        f->s = NULL;
        f->state = FAKEMX_FILTER_QUIT;
        f->next = f->fm->filters;
        f->fm->filters = f;
    } else {
        fakemx_filter_cancel(f);
    }
    fakemx_filter_answer(s, ok, line);
}

/* A failure without a reply from downstream (connect, timeout, close). */
static void fakemx_filter_fail(struct fakemx_filter *f, const char *why)
{
    fakemx_filter_end(f, 0, "451 4.4.1", why);
}

/* A refusal by the downstream server: its own code goes back. A reply
 * that is no refusal but not the one expected (250 to DATA) is a
 * failure: passed on as it is, a 2xx would acknowledge a message that was
 * never handed back. */
static void fakemx_filter_refused(struct fakemx_filter *f, int code)
{
    const char *last = strrchr(f->reply.buf, '\n');
    char prefix[16];

    if (code / 100 != 4 && code / 100 != 5) {
        fakemx_filter_fail(f, "unexpected reply from the server");
        return;
    }
    last = last ? last + 1 : f->reply.buf;
    snprintf(prefix, sizeof(prefix), "%d %d.%d.%d", code, code / 100,
             code / 100 == 5 ? 7 : 5, code / 100 == 5 ? 1 : 0);
    fakemx_filter_end(f, 0, prefix, last);
}

static void fakemx_filter_send(struct fakemx_filter *f, const char *a,
                               const char *b, const char *c)
{
    struct evbuffer *out = bufferevent_get_output(f->bev);

    evbuffer_add(out, a, strlen(a));
    evbuffer_add(out, b, strlen(b));
    evbuffer_add(out, c, strlen(c));
    evbuffer_add(out, "\r\n", 2);
}

/* The message: the added header, then the data as received, dot-stuffed
 * (RFC 5321 section 4.5.2), ending in CRLF, then the final dot. */
static void fakemx_filter_send_data(struct fakemx_filter *f)
{
    struct fakemx_session *s = f->s;
    struct evbuffer *out = bufferevent_get_output(f->bev);
    const char *p = s->data.buf ? s->data.buf : "", *end = p + s->data.len;
    const char *header = s->host->beh.filter_header;
    char def[512];

    if (header == NULL) {
        snprintf(def, sizeof(def), "X-Virus-Scanned: mxlab-fakemx at %s",
                 s->host->beh.name ? s->host->beh.name : s->host->name);
        header = def;
    }
    if (*header != '\0') {
        evbuffer_add(out, header, strlen(header));
        evbuffer_add(out, "\r\n", 2);
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (*p == '.')
            evbuffer_add(out, ".", 1);
        evbuffer_add(out, p, len);
        p += len;
    }
    if (s->data.len > 0 && s->data.buf[s->data.len - 1] != '\n')
        evbuffer_add(out, "\r\n", 2);
    evbuffer_add(out, ".\r\n", 3);
}

/* The next command after a 2xx (or 354 for DATA). */
static void fakemx_filter_next(struct fakemx_filter *f)
{
    struct fakemx_session *s = f->s;

    switch (f->state) {
    case FAKEMX_FILTER_GREETING:
        fakemx_filter_send(
            f, "EHLO ", s->host->beh.name ? s->host->beh.name : s->host->name,
            "");
        f->state = FAKEMX_FILTER_EHLO;
        break;
    case FAKEMX_FILTER_EHLO:
        fakemx_filter_send(f, "MAIL FROM:<", s->mail_from, ">");
        f->state = FAKEMX_FILTER_MAIL;
        break;
    case FAKEMX_FILTER_MAIL:
    case FAKEMX_FILTER_RCPT:
        if (f->ircpt < s->rcpts.n) {
            fakemx_filter_send(f, "RCPT TO:<", s->rcpts.v[f->ircpt++], ">");
            f->state = FAKEMX_FILTER_RCPT;
        } else {
            fakemx_filter_send(f, "DATA", "", "");
            f->state = FAKEMX_FILTER_DATA;
        }
        break;
    case FAKEMX_FILTER_DATA:
        fakemx_filter_send_data(f);
        f->state = FAKEMX_FILTER_DOT;
        break;
    case FAKEMX_FILTER_DOT:
    case FAKEMX_FILTER_QUIT:
        break;
    }
}

/* One whole reply (code, text in f->reply). 1 if f is gone (the
 * session has its answer). */
static int fakemx_filter_reply(struct fakemx_filter *f, int code)
{
    const char *last;

    if (f->state == FAKEMX_FILTER_DATA ? code != 354 : code / 100 != 2) {
        fakemx_filter_refused(f, code);
        return 1;
    }
    if (f->state != FAKEMX_FILTER_DOT) {
        fakemx_filter_next(f);
        strbuf_reset(&f->reply);
        return 0;
    }
    /* Accepted downstream: QUIT (RFC 5321 section 4.1.1.10). */
    fakemx_filter_send(f, "QUIT", "", "");
    last = strrchr(f->reply.buf, '\n');
    last = last ? last + 1 : f->reply.buf;
    fakemx_filter_end(f, 1, "250 2.0.0", last);
    return 1;
}

/* "DDD text" ends a reply, "DDD-text" continues it (RFC 5321 section
 * 4.2.1): the code, 0 to read on, or -1 for a line that is neither. */
static int fakemx_filter_line(const char *line, size_t len, int *last)
{
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
        line[1] > '9' || line[2] < '0' || line[2] > '9')
        return -1;
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return -1;
    *last = len == 3 || line[3] == ' ';
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

static void fakemx_filter_on_read(struct bufferevent *bev, void *arg)
{
    struct fakemx_filter *f = arg;
    char *line;
    size_t len;

    if (f->s == NULL) {
        fakemx_filter_cancel(f); /* the 221: done */
        return;
    }
    while ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
                                   EVBUFFER_EOL_CRLF)) != NULL) {
        int last = 0, code = fakemx_filter_line(line, len, &last);
        f->talking = 1;
        if (f->reply.len > 0)
            strbuf_putc(&f->reply, '\n');
        strbuf_append(&f->reply, line, len);
        free(line);
        if (code < 0 || f->reply.len > FAKEMX_FILTER_REPLY_MAX) {
            fakemx_filter_fail(f, "malformed reply from the server");
            return;
        }
        if (last && fakemx_filter_reply(f, code))
            return;
    }
    /* A line that never ends is bounded too, not only whole ones. */
    if (evbuffer_get_length(bufferevent_get_input(bev)) >
        FAKEMX_FILTER_REPLY_MAX)
        fakemx_filter_fail(f, "malformed reply from the server");
}

static void fakemx_filter_on_event(struct bufferevent *bev, short what,
                                   void *arg)
{
    struct fakemx_filter *f = arg;
    char why[200];

    (void)bev;
    if (f->s == NULL) {
        fakemx_filter_cancel(f); /* closed or silent after QUIT */
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        fakemx_filter_fail(f, "timed out waiting for the server");
    } else if (f->talking) {
        fakemx_filter_fail(f, "lost connection with the server");
    } else {
        snprintf(why, sizeof(why), "cannot connect: %s",
                 (what & BEV_EVENT_EOF)
                     ? "connection closed"
                     : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        fakemx_filter_fail(f, why);
    }
}

/* A failure found before any I/O: reported from the loop, never from
 * inside the session's own call. */
static void fakemx_filter_on_later(evutil_socket_t fd, short what, void *arg)
{
    struct fakemx_filter *f = arg;

    (void)fd;
    (void)what;
    fakemx_filter_fail(f, f->why);
}

struct fakemx_filter *fakemx_filter_start(struct fakemx_session *s)
{
    struct fakemx_host *h = s->host;
    struct fakemx_filter *f = xcalloc(1, sizeof(*f));
    struct timeval tv = {FAKEMX_FILTER_TIMEOUT, 0}, now = {0, 0};
    struct netaddr dst;
    char ip[64];
    int fd = -1;

    f->s = s;
    f->fm = h->fm;
    strbuf_init(&f->reply);
    f->later = evtimer_new(h->fm->base, fakemx_filter_on_later, f);
    /* The behaviour parser checked it: a loopback IP:PORT. */
    if (netaddr_parse(h->beh.filter, 0, &dst) < 0 || netaddr_port(&dst) == 0) {
        snprintf(f->target, sizeof(f->target), "%.60s", h->beh.filter);
        snprintf(f->why, sizeof(f->why), "bad filter address");
    } else {
        snprintf(f->target, sizeof(f->target), "[%s]:%d",
                 netaddr_ip(&dst, ip, sizeof(ip)), netaddr_port(&dst));
        /* From the host's own address: the re-injection service's
         * mynetworks (127.0.0.0/8) lets the filter in. */
        if ((fd = netaddr_connect_tcp(&dst, &h->addr)) < 0)
            snprintf(f->why, sizeof(f->why), "cannot connect: %s",
                     strerror(errno));
        else if ((f->bev = bufferevent_socket_new(
                      h->fm->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL)
            snprintf(f->why, sizeof(f->why), "cannot set up the connection");
    }
    if (f->bev == NULL) {
        if (fd >= 0)
            close(fd);
        evtimer_add(f->later, &now);
        return f;
    }
    /* The connect is in progress: an error shows as a failed read. */
    bufferevent_setcb(f->bev, fakemx_filter_on_read, NULL,
                      fakemx_filter_on_event, f);
    bufferevent_set_timeouts(f->bev, &tv, &tv);
    bufferevent_enable(f->bev, EV_READ | EV_WRITE);
    log_debug("%s: filter: to %s", h->listen, f->target);
    return f;
}
