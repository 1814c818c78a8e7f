/*
 * bench_conn.c — the load generator's connections (bench_int.h): opening,
 * taking the next message, writing its envelope and content (pipelined
 * where the server offers PIPELINING, RFC 2920), and one reply handler per
 * command (RFC 5321 section 4.3.2), each counting a message's outcome once
 * through bench_msg_done.
 */
#include "bench_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mxlab/log.h"
#include "mxlab/strutil.h"
#include "smtpcli.h"

/* ---- connections ---- */

static void bench_conn_on_event(struct smtpcli *cli,
                                const struct smtpcli_event *ev, void *arg);

static void bench_expect(struct bench_conn *c, enum bench_expect e)
{
    struct timeval tv = {c->l->cfg.timeout_ms / 1000,
                         (c->l->cfg.timeout_ms % 1000) * 1000};

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        unsigned char *ring = xmalloc(cap);
        for (size_t i = 0; i < c->n; i++)
            ring[i] = c->expect[(c->head + i) % c->cap];
        free(c->expect);
        c->expect = ring;
        c->head = 0;
        c->cap = cap;
    }
    c->expect[(c->head + c->n) % c->cap] = (unsigned char)e;
    if (c->n++ == 0)
        evtimer_add(c->timer, &tv); /* waits for the oldest reply */
}

void bench_conn_free(struct bench_conn *c)
{
    struct bench_load *l = c->l;

    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->quitting)
        l->nquitting--;
    else
        l->nconns--;
    smtpcli_free(c->cli);
    event_free(c->timer);
    free(c->expect);
    free(c);
}

/* The connection is over (error, close, timeout): its message, if any,
 * is an error; a replacement may open. */
static void bench_conn_fail(struct bench_conn *c, const char *why)
{
    struct bench_load *l = c->l;

    bench_msg_done(c, &c->sending, 0, why);
    bench_msg_done(c, &c->msg, 0, why);
    bench_conn_free(c);
    bench_pump(l);
}

/* No more messages on this connection: QUIT (RFC 5321 section 4.1.1.10)
 * into out (to go with other commands, RFC 2920 section 3.1) or at once
 * when out is NULL; the slot may open another while the 221 comes. */
void bench_conn_quit(struct bench_conn *c, struct strbuf *out)
{
    if (c->quitting)
        return;
    c->quitting = 1;
    c->l->nconns--;
    c->l->nquitting++;
    if (out)
        strbuf_puts(out, "QUIT\r\n");
    else
        smtpcli_send_line(c->cli, "QUIT");
    bench_expect(c, BX_QUIT);
}

static void bench_conn_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct bench_conn *c = arg;

    (void)fd;
    (void)what;
    bench_conn_fail(c, "timeout");
}

/* A new connection with its first message (taken already, or not when
 * only finishing). */
struct bench_conn *bench_conn_open(struct bench_load *l)
{
    struct bench_conn *c = xcalloc(1, sizeof(*c));
    char err[256];

    c->l = l;
    c->timer = evtimer_new(l->base, bench_conn_on_timeout, c);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    c->handshaking = l->cfg.tls_now;
    c->cli = smtpcli_connect(l->base, &l->cfg.dst, NULL, l->cfg.tls_now, l->ctx,
                             bench_conn_on_event, c, err, sizeof(err));
    if (c->cli == NULL) {
        log_warnx("bench: %s", err);
        return c; /* the caller sees cli == NULL */
    }
    smtpcli_direct_writes(c->cli, 1);
    bench_expect(c, BX_GREET);
    return c;
}

/* ---- messages ---- */

/* RCPT TO for recipient i of the message in flight into line. */
static void bench_rcpt_line(struct bench_conn *c, int i, char *line, size_t len)
{
    const char *to = c->l->cfg.to;

    if (to[0] == '@')
        snprintf(line, len, "RCPT TO:<r%" PRIu64 "%s>",
                 c->msg.seq * (uint64_t)c->l->cfg.recipients + (uint64_t)i, to);
    else
        snprintf(line, len, "RCPT TO:<%s>", to);
}

/* The envelope into sb: all of it with PIPELINING (RFC 2920 section
 * 3.1, DATA last in the group), else MAIL alone. */
static void bench_msg_envelope(struct bench_conn *c, struct strbuf *sb)
{
    char line[600];

    c->msg.started = 1;
    /* Closed loop on a reused connection: from MAIL (RFC 5321 3.3). */
    if (c->l->cfg.rate <= 0 && c->l->cfg.per_connection != 1)
        c->msg.origin_us = bench_now_us();
    strbuf_printf(sb, "MAIL FROM:<%s>\r\n", c->l->cfg.from);
    bench_expect(c, BX_MAIL);
    for (int i = 0; c->pipelining && i < c->l->cfg.recipients; i++) {
        bench_rcpt_line(c, i, line, sizeof(line));
        strbuf_printf(sb, "%s\r\n", line);
        bench_expect(c, BX_RCPT);
    }
    if (c->pipelining) {
        strbuf_puts(sb, "DATA\r\n");
        bench_expect(c, BX_DATA);
    }
}

/* With PIPELINING, what goes with a message's content (RFC 2920 section
 * 3.1: content may open a group): the next message's envelope, or QUIT
 * when this connection has taken its share. */
static void bench_msg_follow(struct bench_conn *c, struct strbuf *sb)
{
    int limit = c->l->cfg.per_connection;

    if (!c->pipelining || c->msg.active)
        return;
    if (limit > 0 && c->taken_here >= (unsigned)limit)
        bench_conn_quit(c, sb);
    else if (bench_msg_take(c))
        bench_msg_envelope(c, sb);
}

/* After 354: the message becomes c->sending and goes out with headers
 * naming its sequence number (for the fake MX's arrival record), lines
 * of 'x' up to its size, the dot, and what follows it, in one write. */
static void bench_msg_content(struct bench_conn *c)
{
    struct bench_load *l = c->l;
    struct bench_msg *m = &c->sending;
    const size_t line = BENCH_LINE + 2;
    char hdr[700];
    struct strbuf next;
    size_t body, rem;
    int n;

    *m = c->msg;
    memset(&c->msg, 0, sizeof(c->msg));
    n = snprintf(hdr, sizeof(hdr),
                 "From: <%s>\r\nTo: <%s>\r\nSubject: mxlab bench\r\n"
                 "Message-ID: <%" PRIu64 ".%lld@bench.mxlab>\r\n"
                 "X-Mxlab-Bench: %" PRIu64 "\r\n\r\n",
                 l->cfg.from, l->cfg.to, m->seq, l->t0_us, m->seq);
    if (n < 0 || (size_t)n >= sizeof(hdr))
        n = 0;
    body = m->size > (size_t)n ? m->size - (size_t)n : 0;
    rem = body % line;
    if (rem == 1) /* a line needs its CRLF */
        rem = 0;
    m->size = (size_t)n + body - body % line + rem;
    bench_expect(c, BX_DOT);
    strbuf_init(&next);
    bench_msg_follow(c, &next);
    /* The headers, whole lines, the end of the first line (rem - 2 x's
     * and its CRLF), the dot, what follows. */
    struct iovec iov[5] = {{hdr, (size_t)n},
                           {l->body, body - body % line},
                           {l->body + line - rem, rem},
                           {".\r\n", 3},
                           {next.buf, next.len}};
    smtpcli_writev(c->cli, iov, 5);
    strbuf_clear(&next);
}

/* Take the next message for c, if there is one due. */
int bench_msg_take(struct bench_conn *c)
{
    struct bench_load *l = c->l;
    long long origin, now = bench_now_us();

    if (!bench_work(l, now, &origin))
        return 0;
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg.active = 1;
    c->msg.seq = l->sent++;
    c->msg.size = bench_size_pick(l);
    c->msg.origin_us = origin;
    c->taken_here++;
    bench_run_point(l->run, bench_interval(l, now))->sent++;
    l->run->sent++;
    return 1;
}

/* A ready connection sends its message, taking the next one first if it
 * has none; or says QUIT when it has taken its share. Without PIPELINING
 * only once the last message's 250 is in. 0 if it stays idle for want of
 * work. */
int bench_conn_idle(struct bench_conn *c)
{
    struct bench_load *l = c->l;
    int limit = l->cfg.per_connection;
    struct strbuf sb;

    if (c->quitting || !c->ready || c->msg.started ||
        (c->sending.active && !c->pipelining))
        return 1;
    strbuf_init(&sb);
    if (!c->msg.active && limit > 0 && c->taken_here >= (unsigned)limit)
        bench_conn_quit(c, &sb);
    else if (c->msg.active || bench_msg_take(c))
        bench_msg_envelope(c, &sb);
    else
        return 0;
    smtpcli_write(c->cli, sb.buf, sb.len);
    strbuf_clear(&sb);
    return 1;
}

/* After a reply: the next message, or the end of the run. c may be
 * freed on return. */
static void bench_conn_next(struct bench_conn *c)
{
    struct bench_load *l = c->l;

    if (c->quitting)
        bench_pump(l); /* its slot is free for another connection */
    else if (!bench_conn_idle(c))
        bench_check_end(l);
}

/* ---- replies, one handler per command (RFC 5321 section 4.3.2) ---- */

typedef void bench_reply_fn(struct bench_conn *c,
                            const struct smtpcli_reply *rep);

/* The session cannot go on: the message (if any) is refused with the
 * code, the connection says QUIT. */
static void bench_refuse(struct bench_conn *c, int code)
{
    bench_msg_done(c, &c->msg, code, NULL);
    bench_conn_quit(c, NULL);
}

static void bench_send_ehlo(struct bench_conn *c)
{
    char line[300];

    snprintf(line, sizeof(line), "EHLO %s", c->l->cfg.helo);
    smtpcli_send_line(c->cli, line);
    bench_expect(c, BX_EHLO);
}

static void bench_on_greet(struct bench_conn *c,
                           const struct smtpcli_reply *rep)
{
    c->greeted = 1;
    if (rep->code != 220)
        bench_refuse(c, rep->code);
    else
        bench_send_ehlo(c);
}

/* 1 if the EHLO reply lists keyword (RFC 5321 section 4.1.1.1). */
static int bench_ehlo_has(const struct smtpcli_reply *rep, const char *kw)
{
    size_t n = strlen(kw);

    for (size_t i = 1; i < rep->nline; i++) {
        const char *p = rep->line[i];
        if (strlen(p) >= 4 + n && str_ncasecmp(p + 4, kw, n) == 0 &&
            (p[4 + n] == '\0' || p[4 + n] == ' '))
            return 1;
    }
    return 0;
}

static void bench_on_ehlo(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    if (rep->code != 250) {
        bench_refuse(c, rep->code);
        return;
    }
    c->pipelining = bench_ehlo_has(rep, "PIPELINING");
    c->l->run->pipelining |= c->pipelining;
    if (c->l->cfg.starttls && !c->tls_done) {
        if (!bench_ehlo_has(rep, "STARTTLS")) {
            bench_msg_done(c, &c->msg, 0, "no STARTTLS");
            bench_conn_quit(c, NULL);
            return;
        }
        smtpcli_send_line(c->cli, "STARTTLS");
        bench_expect(c, BX_STARTTLS);
        return;
    }
    c->ready = 1;
    bench_conn_next(c);
}

static void bench_on_starttls(struct bench_conn *c,
                              const struct smtpcli_reply *rep)
{
    if (rep->code != 220) {
        bench_refuse(c, rep->code);
        return;
    }
    c->handshaking = 1;
    if (smtpcli_starttls(c->cli, NULL) < 0)
        bench_conn_fail(c, "tls");
    /* EHLO again once SMTPCLI_EV_TLS comes (RFC 3207 section 4.2). */
}

/* A transaction failed before its content: RSET if MAIL was accepted
 * (RFC 5321 section 4.1.1.5), then the next message. */
static void bench_txn_failed(struct bench_conn *c, int code)
{
    int mail_ok = c->msg.mail_ok;

    bench_msg_done(c, &c->msg, c->msg.bad_code ? c->msg.bad_code : code, NULL);
    if (mail_ok) {
        smtpcli_send_line(c->cli, "RSET");
        bench_expect(c, BX_RSET);
    }
    bench_conn_next(c);
}

static void bench_on_mail(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    char line[600];

    c->msg.mail_ok = rep->code / 100 == 2;
    if (!c->msg.mail_ok && !c->msg.bad_code)
        c->msg.bad_code = rep->code;
    if (c->pipelining)
        return; /* RCPT and DATA replies follow */
    if (!c->msg.mail_ok) {
        bench_txn_failed(c, rep->code);
        return;
    }
    bench_rcpt_line(c, 0, line, sizeof(line));
    smtpcli_send_line(c->cli, line);
    bench_expect(c, BX_RCPT);
}

static void bench_on_rcpt(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    char line[600], key[16];
    int sent_rcpts = c->msg.rcpt_ok + c->msg.rcpt_bad + 1;

    if (rep->code / 100 == 2) {
        c->msg.rcpt_ok++;
    } else {
        c->msg.rcpt_bad++;
        snprintf(key, sizeof(key), "RCPT %d", rep->code);
        bench_run_count(c->l->run, key, 1);
    }
    if (c->pipelining)
        return;
    if (sent_rcpts < c->l->cfg.recipients) {
        bench_rcpt_line(c, sent_rcpts, line, sizeof(line));
        smtpcli_send_line(c->cli, line);
        bench_expect(c, BX_RCPT);
    } else if (c->msg.rcpt_ok == 0) {
        bench_txn_failed(c, rep->code);
    } else {
        smtpcli_send_line(c->cli, "DATA");
        bench_expect(c, BX_DATA);
    }
}

static void bench_on_data(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    if (rep->code != 354) {
        bench_txn_failed(c, rep->code);
        return;
    }
    if (c->msg.mail_ok && c->msg.rcpt_ok > 0) {
        bench_msg_content(c);
        return;
    }
    /* 354 with nobody to deliver to (a pipelining server may answer so,
     * RFC 2920 section 3.1): end it empty; the outcome is the refusal. */
    if (!c->msg.bad_code)
        c->msg.bad_code = 554;
    c->sending = c->msg;
    memset(&c->msg, 0, sizeof(c->msg));
    smtpcli_write(c->cli, ".\r\n", 3);
    bench_expect(c, BX_DOT);
}

static void bench_on_dot(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    struct bench_msg *m = &c->sending;

    bench_msg_done(c, m, m->bad_code ? m->bad_code : rep->code, NULL);
    bench_conn_next(c);
}

static void bench_on_rset(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    (void)c;
    (void)rep;
}

static void bench_on_quit(struct bench_conn *c, const struct smtpcli_reply *rep)
{
    struct bench_load *l = c->l;

    (void)rep;
    bench_conn_free(c);
    bench_pump(l);
}

static bench_reply_fn *const bench_on_reply[] = {
    [BX_GREET] = bench_on_greet,       [BX_EHLO] = bench_on_ehlo,
    [BX_STARTTLS] = bench_on_starttls, [BX_MAIL] = bench_on_mail,
    [BX_RCPT] = bench_on_rcpt,         [BX_DATA] = bench_on_data,
    [BX_DOT] = bench_on_dot,           [BX_RSET] = bench_on_rset,
    [BX_QUIT] = bench_on_quit,
};

static void bench_conn_on_event(struct smtpcli *cli,
                                const struct smtpcli_event *ev, void *arg)
{
    struct bench_conn *c = arg;
    enum bench_expect e;

    (void)cli;
    switch (ev->kind) {
    case SMTPCLI_EV_CONNECTED:
        c->handshaking = 0; /* smtps: the handshake is done */
        return;
    case SMTPCLI_EV_TLS:
        c->tls_done = 1;
        c->handshaking = 0;
        bench_send_ehlo(c);
        return;
    case SMTPCLI_EV_CLOSED:
        /* After QUIT that is the end; before, or with a message still
         * awaiting its 250 (QUIT pipelined after it), an error. */
        bench_conn_fail(c, "closed");
        return;
    case SMTPCLI_EV_ERROR:
        bench_conn_fail(c, c->handshaking ? "tls"
                           : c->greeted   ? "connection"
                                          : "connect");
        return;
    case SMTPCLI_EV_REPLY:
        break;
    }
    if (c->n == 0 || ev->reply->code < 0) {
        bench_conn_fail(c, "protocol"); /* a reply nobody asked for */
        return;
    }
    e = (enum bench_expect)c->expect[c->head];
    c->head = (c->head + 1) % c->cap;
    evtimer_del(c->timer);
    if (--c->n > 0) {
        struct timeval tv = {c->l->cfg.timeout_ms / 1000,
                             (c->l->cfg.timeout_ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
    }
    bench_on_reply[e](c, ev->reply);
}
