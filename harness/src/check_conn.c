/*
 * check_conn.c — a blocking SMTP dialogue for "mxlab check", built on the
 * harness's asynchronous client (smtpcli): each call runs the event loop
 * until a reply, the end of a TLS handshake, a close or the timeout. Tests
 * read as the dialogue they hold. Replies queue in order of arrival, so a
 * pipelined burst (RFC 2920) is read back one reply at a time.
 */
#include "check_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "smtpcli.h"

#define CHECK_TRANSCRIPT_MAX (256 * 1024)
#define CHECK_LINE_SHOWN 300

struct check_conn {
    struct check_target *t;
    struct smtpcli *cli;
    struct event *timer;
    int timed_out;
    int dead;
    int tls_done;
    int quit_sent;
    char why[256];
    struct check_reply *q; /* replies not yet read */
    size_t nq, capq;
    struct strbuf log;
};

void check_reply_clear(struct check_reply *r)
{
    free(r->text);
    r->text = NULL;
    r->code = -1;
}

int check_reply_class(const struct check_reply *r)
{
    return r->code >= 200 && r->code <= 599 ? r->code / 100 : 0;
}

void check_escape(struct strbuf *out, const void *data, size_t len, size_t max)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        if (i == max) {
            strbuf_printf(out, "...(%zu bytes)", len);
            return;
        }
        if (p[i] == '\r')
            strbuf_puts(out, "\\r");
        else if (p[i] == '\n')
            strbuf_puts(out, "\\n");
        else if (p[i] == '\\')
            strbuf_puts(out, "\\\\");
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            strbuf_printf(out, "\\x%02x", p[i]);
        else
            strbuf_putc(out, (char)p[i]);
    }
}

static void check_conn_log(struct check_conn *c, const char *who,
                           const void *data, size_t len)
{
    if (c->log.len > CHECK_TRANSCRIPT_MAX)
        return;
    strbuf_puts(&c->log, who);
    check_escape(&c->log, data, len, CHECK_LINE_SHOWN * 4);
    strbuf_putc(&c->log, '\n');
}

static void check_conn_on_event(struct smtpcli *cli,
                                const struct smtpcli_event *ev, void *arg)
{
    struct check_conn *c = arg;

    (void)cli;
    switch (ev->kind) {
    case SMTPCLI_EV_CONNECTED:
        /* smtps: the handshake is done before the greeting. */
        if (ev->text != NULL) {
            c->tls_done = 1;
            strbuf_printf(&c->log, "-- TLS: %s\n", ev->text);
        }
        break;
    case SMTPCLI_EV_REPLY: {
        struct strbuf text;
        strbuf_init(&text);
        for (size_t i = 0; i < ev->reply->nline; i++) {
            if (i)
                strbuf_putc(&text, '\n');
            strbuf_puts(&text, ev->reply->line[i]);
            if (c->log.len <= CHECK_TRANSCRIPT_MAX)
                strbuf_printf(&c->log, "S: %.*s\n", CHECK_LINE_SHOWN,
                              ev->reply->line[i]);
        }
        if (c->nq == c->capq) {
            c->capq = c->capq ? c->capq * 2 : 8;
            c->q = xrealloc(c->q, c->capq * sizeof(*c->q));
        }
        c->q[c->nq].code = ev->reply->code;
        c->q[c->nq].text = text.buf ? text.buf : xstrdup("");
        c->nq++;
        break;
    }
    case SMTPCLI_EV_TLS:
        c->tls_done = 1;
        strbuf_printf(&c->log, "-- TLS: %s\n", ev->text ? ev->text : "");
        break;
    case SMTPCLI_EV_CLOSED:
        c->dead = 1;
        snprintf(c->why, sizeof(c->why), "the server closed the connection");
        strbuf_puts(&c->log, "-- closed by the server\n");
        break;
    case SMTPCLI_EV_ERROR:
        c->dead = 1;
        snprintf(c->why, sizeof(c->why), "%s", ev->text ? ev->text : "error");
        strbuf_printf(&c->log, "-- %s\n", c->why);
        break;
    }
}

static void check_conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct check_conn *c = arg;

    (void)fd;
    (void)what;
    c->timed_out = 1;
}

/* Run the loop until *flag is set (or a reply is queued, when flag is
 * NULL), the connection dies, or the timeout passes. 0 when it came. */
static int check_conn_wait(struct check_conn *c, const int *flag)
{
    struct timeval tv = {c->t->timeout_ms / 1000,
                         (c->t->timeout_ms % 1000) * 1000};

    c->timed_out = 0;
    evtimer_add(c->timer, &tv);
    while (!(flag ? *flag : c->nq > 0) && !c->dead && !c->timed_out)
        event_base_loop(c->t->base, EVLOOP_ONCE);
    evtimer_del(c->timer);
    if (flag ? *flag : c->nq > 0)
        return 0;
    if (c->timed_out && !c->dead) {
        snprintf(c->why, sizeof(c->why), "no reply within %d ms",
                 c->t->timeout_ms);
        strbuf_printf(&c->log, "-- %s\n", c->why);
    }
    return -1;
}

int check_conn_read(struct check_conn *c, struct check_reply *out)
{
    out->code = -1;
    out->text = NULL;
    if (check_conn_wait(c, NULL) < 0) {
        out->text = xstrdup(c->why);
        return -1;
    }
    *out = c->q[0];
    memmove(c->q, c->q + 1, (c->nq - 1) * sizeof(*c->q));
    c->nq--;
    return 0;
}

void check_conn_write(struct check_conn *c, const void *data, size_t len)
{
    const char *p = data, *end = p + len;

    /* One transcript line per line sent, however the bytes end it. */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        check_conn_log(c, "C: ", p, n);
        p += n;
    }
    if (len >= 6 && str_ncasecmp(data, "QUIT\r\n", 6) == 0)
        c->quit_sent = 1;
    if (!c->dead)
        smtpcli_write(c->cli, data, len);
}

int check_conn_cmd(struct check_conn *c, const char *line,
                   struct check_reply *out)
{
    char *wire = xasprintf("%s\r\n", line);

    check_conn_write(c, wire, strlen(wire));
    free(wire);
    return check_conn_read(c, out);
}

int check_conn_ehlo(struct check_conn *c, const char *name,
                    struct check_reply *out, struct strlist *kw)
{
    char *cmd = xasprintf("EHLO %s", name);
    int rc = check_conn_cmd(c, cmd, out);

    free(cmd);
    if (rc < 0 || out->code != 250 || kw == NULL)
        return rc;
    /* RFC 5321 section 4.1.1.1: the first line greets, each later line
     * names one extension, in any order. */
    const char *p = strchr(out->text, '\n');
    while (p != NULL) {
        const char *line = p + 1, *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > 4) {
            size_t k = 4;
            while (k < n && line[k] != ' ')
                k++;
            char *word = xstrndup(line + 4, k - 4);
            for (char *w = word; *w; w++)
                *w = (char)(*w >= 'a' && *w <= 'z' ? *w - 32 : *w);
            strlist_push(kw, word);
            free(word);
        }
        p = end;
    }
    return rc;
}

struct check_conn *check_conn_open(struct check_target *t,
                                   struct check_reply *greeting, char *err,
                                   size_t errlen)
{
    struct check_conn *c = xcalloc(1, sizeof(*c));
    struct check_reply g = {-1, NULL};

    c->t = t;
    strbuf_init(&c->log);
    c->timer = evtimer_new(t->base, check_conn_on_timer, c);
    c->cli = smtpcli_connect(t->base, &t->addr, t->has_src ? &t->src : NULL,
                             t->tls_now, t->tls, check_conn_on_event, c, err,
                             errlen);
    if (c->cli == NULL) {
        c->dead = 1;
        check_conn_free(c);
        return NULL;
    }
    if (check_conn_read(c, &g) < 0) {
        snprintf(err, errlen, "no greeting: %s", g.text);
        check_reply_clear(&g);
        check_conn_free(c);
        return NULL;
    }
    if (greeting)
        *greeting = g;
    else
        check_reply_clear(&g);
    return c;
}

int check_conn_starttls(struct check_conn *c, size_t *extra, char *err,
                        size_t errlen)
{
    *extra = 0;
    if (c->dead) {
        snprintf(err, errlen, "%s", c->why);
        return -1;
    }
    if (smtpcli_starttls(c->cli, extra) < 0) {
        snprintf(err, errlen,
                 *extra ? "the server sent %zu bytes after its 220 to "
                          "STARTTLS, before the handshake"
                        : "TLS cannot start",
                 *extra);
        return -1;
    }
    if (check_conn_wait(c, &c->tls_done) < 0) {
        snprintf(err, errlen, "%s", c->why);
        return -1;
    }
    return 0;
}

SSL *check_conn_ssl(struct check_conn *c)
{
    return c->cli && c->tls_done ? smtpcli_ssl(c->cli) : NULL;
}

int check_conn_dead(const struct check_conn *c)
{
    return c->dead;
}

const char *check_conn_transcript(const struct check_conn *c)
{
    return c->log.buf ? c->log.buf : "";
}

void check_conn_free(struct check_conn *c)
{
    if (c == NULL)
        return;
    if (c->cli != NULL && !c->dead && !c->quit_sent) {
        /* A polite end; its reply is not waited for beyond the timeout. */
        struct check_reply r;
        check_conn_cmd(c, "QUIT", &r);
        check_reply_clear(&r);
    }
    smtpcli_free(c->cli);
    if (c->timer)
        event_free(c->timer);
    for (size_t i = 0; i < c->nq; i++)
        free(c->q[i].text);
    free(c->q);
    strbuf_clear(&c->log);
    free(c);
}

const char *check_reply_line(const struct check_reply *rep, char *buf,
                             size_t len)
{
    const char *t = rep->text ? rep->text : "(none)";
    const char *nl = strchr(t, '\n');
    int n = nl ? (int)(nl - t) : (int)strlen(t);

    snprintf(buf, len, "%.*s", n, t);
    return buf;
}

struct check_conn *check_session_begin(struct check_target *t,
                                       struct check_result *r,
                                       struct strlist *kw)
{
    struct check_reply g = {-1, NULL}, e = {-1, NULL};
    char err[256], line[128];
    struct check_conn *c = check_conn_open(t, &g, err, sizeof(err));

    if (c == NULL) {
        check_result_set(r, CHECK_NA, NULL, "%s", err);
        return NULL;
    }
    if (check_reply_class(&g) != 2) {
        check_result_set(r, CHECK_NA, &g, "greeting not 2xx: %s",
                         check_reply_line(&g, line, sizeof(line)));
        goto fail;
    }
    char *name = xasprintf("check.%s", t->outside);
    check_conn_ehlo(c, name, &e, kw);
    if (check_reply_class(&e) != 2 && !check_conn_dead(c)) {
        /* RFC 5321 section 4.1.4: a client falls back to HELO. */
        char *helo = xasprintf("HELO %s", name);
        check_reply_clear(&e);
        check_conn_cmd(c, helo, &e);
        free(helo);
    }
    free(name);
    if (check_reply_class(&e) != 2) {
        check_result_set(r, CHECK_NA, &e, "EHLO and HELO refused: %s",
                         check_reply_line(&e, line, sizeof(line)));
        goto fail;
    }
    check_reply_clear(&g);
    check_reply_clear(&e);
    return c;
fail:
    check_reply_clear(&g);
    check_reply_clear(&e);
    check_session_end(c, r);
    return NULL;
}

void check_session_end(struct check_conn *c, struct check_result *r)
{
    if (c == NULL)
        return;
    free(r->transcript);
    r->transcript = xstrdup(check_conn_transcript(c));
    check_conn_free(c);
}
