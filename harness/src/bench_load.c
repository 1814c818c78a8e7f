/*
 * bench_load.c — the load generator. See bench_load.h.
 * Each connection keeps the replies it waits for, in order, in a small
 * ring (RFC 2920 section 3.1: replies come in the order of the commands),
 * so pipelined and lock-step sessions share one reply handler. A message
 * is taken by a connection when it is ready (or when the connection opens,
 * for its first), and its outcome is counted exactly once, in
 * bench_msg_done.
 */
#include "bench_load.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "mxlab/log.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "smtpcli.h"

#define BENCH_LINE 78        /* body line length before CRLF */
#define BENCH_DRAIN_MS 10000 /* after the duration: in-flight messages */
#define BENCH_QUIT_MS 2000   /* at the end: waiting for 221s */

enum bench_expect {
    BX_GREET,
    BX_EHLO,
    BX_STARTTLS,
    BX_MAIL,
    BX_RCPT,
    BX_DATA,
    BX_DOT,
    BX_RSET,
    BX_QUIT,
};

struct bench_msg {
    int active, started; /* taken; envelope sent */
    uint64_t seq;
    long long origin_us; /* latency counts from here */
    size_t size;
    int mail_ok, rcpt_ok, rcpt_bad, bad_code;
};

struct bench_conn {
    struct bench_load *l;
    struct smtpcli *cli;
    struct event *timer;
    unsigned char *expect; /* ring of enum bench_expect */
    size_t head, n, cap;
    int pipelining, ready, quitting, tls_done;
    int greeted, handshaking;
    unsigned taken_here;      /* messages taken by this connection */
    struct bench_msg msg;     /* its envelope is under way (or next) */
    struct bench_msg sending; /* its content is sent, the 250 awaited */
    struct bench_conn *prev, *next;
};

struct bench_load {
    struct event_base *base;
    struct bench_load_cfg cfg;
    struct bench_run *run;
    SSL_CTX *ctx;
    struct bench_conn *conns;
    int nconns; /* not quitting */
    int nquitting;
    uint64_t sent, finished, limit;
    long long t0_us, end_us;
    int finishing, stopped, draining;
    struct event *tick, *due;
    char *body; /* lines of 'x', the largest size's worth */
    size_t body_len;
    long long *accepted_at, *arrived_at; /* by seq, for end-to-end */
    size_t ntrack;
    uint64_t seed;
    uint64_t last_accepted; /* for the progress line */
};

static long long bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- sizes ---- */

static int bench_size_one(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || v < 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        v *= 1024, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1048576, end++;
    if (*end != '\0' || v < BENCH_SIZE_MIN || v > BENCH_SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

int bench_size_parse(const char *s, struct bench_size *out, size_t max,
                     char *err, size_t errlen)
{
    char *copy = xstrdup(s), *save = NULL, *part;
    int n = 0;

    for (part = strtok_r(copy, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(part, ':'), *dash, *end = NULL;
        struct bench_size *b = &out[n];
        if ((size_t)n == max)
            goto bad;
        b->weight = 1;
        if (colon) {
            *colon = '\0';
            b->weight = strtod(colon + 1, &end);
            if (end == colon + 1 || *end != '\0' || !(b->weight > 0))
                goto bad;
        }
        dash = strchr(part, '-');
        if (dash)
            *dash = '\0';
        if (bench_size_one(part, &b->lo) < 0 ||
            bench_size_one(dash ? dash + 1 : part, &b->hi) < 0 || b->hi < b->lo)
            goto bad;
        n++;
    }
    free(copy);
    if (n > 0)
        return n;
    snprintf(err, errlen, "empty size");
    return -1;
bad:
    free(copy);
    snprintf(err, errlen,
             "bad size \"%s\" (BYTES, LOW-HIGH, or SIZE:WEIGHT,...; k and M "
             "units; each %d..%d bytes, at most %zu parts)",
             s, BENCH_SIZE_MIN, BENCH_SIZE_MAX, max);
    return -1;
}

static uint64_t bench_rand(struct bench_load *l)
{
    l->seed = l->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return l->seed >> 11;
}

static size_t bench_size_pick(struct bench_load *l)
{
    const struct bench_size *s = l->cfg.sizes;
    double total = 0, r;
    size_t i;

    for (i = 0; i < l->cfg.nsizes; i++)
        total += s[i].weight;
    r = (double)bench_rand(l) / 9007199254740992.0 * total;
    for (i = 0; i + 1 < l->cfg.nsizes && r >= s[i].weight; i++)
        r -= s[i].weight;
    return s[i].lo + (s[i].hi > s[i].lo
                          ? (size_t)(bench_rand(l) % (s[i].hi - s[i].lo + 1))
                          : 0);
}

/* ---- outcomes ---- */

static size_t bench_interval(const struct bench_load *l, long long now)
{
    long long us = (long long)(l->run->interval * 1e6);

    return now > l->t0_us ? (size_t)((now - l->t0_us) / us) : 0;
}

/* Remember when seq was accepted (or arrived), for end-to-end delays. */
static void bench_track(struct bench_load *l, uint64_t seq, int arrived,
                        long long now)
{
    long long other;

    if (seq >= l->ntrack) {
        size_t n = l->ntrack ? l->ntrack : 1024;
        while (n <= seq)
            n *= 2;
        l->accepted_at = xrealloc(l->accepted_at, n * sizeof(long long));
        l->arrived_at = xrealloc(l->arrived_at, n * sizeof(long long));
        memset(l->accepted_at + l->ntrack, 0,
               (n - l->ntrack) * sizeof(long long));
        memset(l->arrived_at + l->ntrack, 0,
               (n - l->ntrack) * sizeof(long long));
        l->ntrack = n;
    }
    (arrived ? l->arrived_at : l->accepted_at)[seq] = now;
    other = (arrived ? l->accepted_at : l->arrived_at)[seq];
    if (other == 0)
        return;
    if (l->run->e2e == NULL)
        l->run->e2e = hist_new(HIST_BITS_DEFAULT);
    /* An arrival seen before its 250 was read counts as no delay. */
    hist_record(l->run->e2e,
                (uint64_t)(l->arrived_at[seq] > l->accepted_at[seq]
                               ? l->arrived_at[seq] - l->accepted_at[seq]
                               : 0));
}

void bench_load_arrived(struct bench_load *l, uint64_t seq)
{
    /* Each message once (several recipients may arrive apart). */
    if (seq >= l->sent || (seq < l->ntrack && l->arrived_at[seq] != 0))
        return;
    l->run->arrived++;
    bench_track(l, seq, 1, bench_now_us());
    if (l->draining && l->run->arrived >= l->run->accepted)
        event_base_loopexit(l->base, NULL);
}

/* The one place a message gets its outcome: code 2xx accepted, another
 * code refused, 0 an error named by why; m is c->msg or c->sending. */
static void bench_msg_done(struct bench_conn *c, struct bench_msg *m, int code,
                           const char *why)
{
    struct bench_load *l = c->l;
    struct bench_run *r = l->run;
    long long now = bench_now_us();
    char key[16];

    if (!m->active)
        return;
    m->active = m->started = 0;
    l->finished++;
    if (code >= 200 && code < 300) {
        struct bench_point *p = bench_run_point(r, bench_interval(l, now));
        r->accepted++;
        r->bytes += m->size;
        p->accepted++;
        p->bytes += m->size;
        hist_record(r->latency, (uint64_t)(now - m->origin_us));
        if (l->cfg.track_arrivals)
            bench_track(l, m->seq, 0, now);
    } else if (code > 0) {
        r->refused++;
    } else {
        r->errors++;
    }
    if (code > 0)
        snprintf(key, sizeof(key), "%d", code);
    bench_run_count(r, code > 0 ? key : why, 1);
    r->seconds = (double)(now - l->t0_us) / 1e6;
}

/* ---- connections ---- */

static void bench_pump(struct bench_load *l);
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

static void bench_conn_free(struct bench_conn *c)
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
static void bench_conn_quit(struct bench_conn *c, struct strbuf *out)
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
static struct bench_conn *bench_conn_open(struct bench_load *l)
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

static int bench_msg_take(struct bench_conn *c);

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

static int bench_work(struct bench_load *l, long long now, long long *origin);

/* Take the next message for c, if there is one due. */
static int bench_msg_take(struct bench_conn *c)
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
static int bench_conn_idle(struct bench_conn *c)
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

static void bench_check_end(struct bench_load *l);

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

/* ---- scheduling ---- */

/* Is a message due now? Closed loop: while any are left and time
 * remains. Open loop: message k is due at t0 + k / rate, and counts its
 * latency from then, however late a connection takes it. */
static int bench_work(struct bench_load *l, long long now, long long *origin)
{
    long long due;

    if (l->finishing || l->sent >= l->limit)
        return 0;
    if (l->cfg.rate <= 0) {
        if (l->cfg.duration > 0 && now >= l->end_us)
            return 0;
        *origin = now;
        return 1;
    }
    /* A message due before the end is sent, however late its timer. */
    due = l->t0_us + (long long)((double)l->sent * 1e6 / l->cfg.rate);
    if (due > now || (l->cfg.duration > 0 && due >= l->end_us))
        return 0;
    *origin = due;
    return 1;
}

static void bench_finish(struct bench_load *l);

static void bench_stop(struct bench_load *l)
{
    l->stopped = 1;
    event_base_loopexit(l->base, NULL);
}

/* Give work to idle connections, open connections up to the limit, arm
 * the open loop's timer for the next message due, and end the run when
 * nothing is left. */
static void bench_pump(struct bench_load *l)
{
    long long origin, now = bench_now_us();

    if (l->stopped)
        return;
    if (l->finishing) {
        if (l->conns == NULL)
            bench_stop(l);
        return;
    }
    for (struct bench_conn *c = l->conns; c; c = c->next)
        bench_conn_idle(c);
    while (!l->finishing && l->nconns < l->cfg.connections &&
           bench_work(l, now, &origin)) {
        struct bench_conn *c = bench_conn_open(l);
        if (bench_msg_take(c) && c->cli == NULL)
            bench_msg_done(c, &c->msg, 0, "connect");
        if (c->cli == NULL) {
            bench_conn_free(c);
            break; /* the next tick tries again */
        }
    }
    if (l->cfg.rate > 0 && !l->finishing && l->sent < l->limit) {
        long long due =
            l->t0_us + (long long)((double)l->sent * 1e6 / l->cfg.rate);
        long long wait = due > now ? due - now : 0;
        struct timeval tv = {(time_t)(wait / 1000000),
                             (suseconds_t)(wait % 1000000)};
        evtimer_add(l->due, &tv);
    }
    bench_check_end(l);
}

/* The run is over when every message taken has its outcome and no more
 * will come (all sent, or the duration is over). */
static void bench_check_end(struct bench_load *l)
{
    long long origin, now = bench_now_us();

    if (l->finishing || l->finished != l->sent || bench_work(l, now, &origin))
        return;
    if (l->cfg.rate <= 0 || l->sent >= l->limit ||
        (l->cfg.duration > 0 && now >= l->end_us))
        bench_finish(l);
}

/* The open loop's next message is due; once finishing, the wait for
 * 221s (or for arrivals, bench_load_drain) is over. */
static void bench_on_due(evutil_socket_t fd, short what, void *arg)
{
    struct bench_load *l = arg;

    (void)fd;
    (void)what;
    if (l->finishing)
        bench_stop(l);
    else
        bench_pump(l);
}

/* Nothing more to send: messages still in flight are errors, ready
 * connections say QUIT, the others close; the loop ends when all are
 * gone or after BENCH_QUIT_MS. */
static void bench_finish(struct bench_load *l)
{
    struct bench_conn *c, *next;
    struct timeval tv = {BENCH_QUIT_MS / 1000, (BENCH_QUIT_MS % 1000) * 1000};

    if (l->finishing)
        return;
    l->finishing = 1;
    for (c = l->conns; c; c = next) {
        next = c->next;
        bench_msg_done(c, &c->sending, 0, "unfinished");
        bench_msg_done(c, &c->msg, 0, "unfinished");
        if (c->quitting)
            continue;
        if (c->ready && c->n == 0)
            bench_conn_quit(c, NULL);
        else
            bench_conn_free(c);
    }
    if (l->conns == NULL)
        bench_stop(l);
    else
        evtimer_add(l->due, &tv); /* bench_on_due: the end */
}

static double bench_cpu_self_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The progress line: elapsed, rate in the last interval, p99 so far,
 * sent of expected, ETA (from the rate so far, or the duration). */
static void bench_progress(struct bench_load *l, long long now)
{
    struct bench_run *r = l->run;
    double t = (double)(now - l->t0_us) / 1e6, eta = -1;
    char expect[32] = "?", etas[32] = "?";

    if (l->limit != UINT64_MAX) {
        snprintf(expect, sizeof(expect), "%" PRIu64, l->limit);
        if (l->finished > 0 && t > 0)
            eta = (double)(l->limit - l->finished) * t / (double)l->finished;
    }
    if (l->cfg.duration > 0 && (eta < 0 || l->cfg.duration - t < eta))
        eta = l->cfg.duration > t ? l->cfg.duration - t : 0;
    if (eta >= 0)
        snprintf(etas, sizeof(etas), "%.0fs", eta);
    fprintf(stderr,
            "%s%7.1fs %8.0f msg/s  p99 %6.2fms  sent %" PRIu64 "/%s  ETA %s%s",
            l->cfg.progress == 1 ? "\r" : "", t,
            (double)(r->accepted - l->last_accepted) / r->interval,
            (double)hist_percentile(r->latency, 99) / 1e3, l->sent, expect,
            etas, l->cfg.progress == 1 ? "\033[K" : "\n");
    l->last_accepted = r->accepted;
}

/* Every interval: the queue size into the timeline, the progress line,
 * a retry of connections, and the drain limit after the duration. */
static void bench_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct bench_load *l = arg;
    long long now = bench_now_us();
    size_t i = bench_interval(l, now);

    (void)fd;
    (void)what;
    if (l->cfg.queue_fn && i > 0)
        bench_run_point(l->run, i - 1)->queue =
            l->cfg.queue_fn(l->cfg.queue_arg);
    if (l->cfg.progress)
        bench_progress(l, now);
    if (l->cfg.duration > 0 && now > l->end_us + BENCH_DRAIN_MS * 1000LL)
        bench_finish(l);
    else
        bench_pump(l);
}

struct bench_load *bench_load_new(struct event_base *base,
                                  const struct bench_load_cfg *cfg,
                                  struct bench_run *run)
{
    struct bench_load *l = xcalloc(1, sizeof(*l));
    size_t max = 0, line = BENCH_LINE + 2;

    l->base = base;
    l->cfg = *cfg;
    l->run = run;
    l->seed = 0x6d786c6162ULL;
    l->limit = cfg->messages ? cfg->messages : UINT64_MAX;
    for (size_t i = 0; i < cfg->nsizes; i++)
        if (cfg->sizes[i].hi > max)
            max = cfg->sizes[i].hi;
    l->body_len = (max / line + 1) * line;
    l->body = xmalloc(l->body_len);
    for (size_t i = 0; i < l->body_len; i++)
        l->body[i] = i % line == BENCH_LINE       ? '\r'
                     : i % line == BENCH_LINE + 1 ? '\n'
                                                  : 'x';
    if (cfg->tls_now || cfg->starttls)
        l->ctx = smtpcli_tls_ctx_new();
    l->tick = event_new(base, -1, EV_PERSIST, bench_on_tick, l);
    l->due = evtimer_new(base, bench_on_due, l);
    run->open_loop = cfg->rate > 0;
    run->rate = cfg->rate;
    run->connections = cfg->connections;
    run->per_connection = cfg->per_connection;
    run->recipients = cfg->recipients;
    run->tls = cfg->tls_now || cfg->starttls;
    run->have_arrived = cfg->track_arrivals;
    free(run->latency_from);
    run->latency_from = xstrdup(cfg->rate > 0 ? "intended send time"
                                : cfg->per_connection == 1 ? "connect"
                                                           : "MAIL");
    return l;
}

int bench_load_run(struct bench_load *l)
{
    struct timeval tv = {
        (time_t)l->run->interval,
        (suseconds_t)((l->run->interval - (double)(time_t)l->run->interval) *
                      1e6)};
    double cpu0 = bench_cpu_self_ns();

    l->t0_us = bench_now_us();
    l->end_us = l->t0_us + (long long)(l->cfg.duration * 1e6);
    evtimer_add(l->tick, &tv);
    bench_pump(l);
    if (!l->stopped)
        event_base_dispatch(l->base);
    if (l->cfg.progress == 1)
        fputc('\n', stderr);
    /* Whatever the loop left (the QUIT wait ran out). */
    while (l->conns)
        bench_conn_free(l->conns);
    evtimer_del(l->tick);
    evtimer_del(l->due);
    if (l->cfg.queue_fn)
        bench_run_point(l->run, bench_interval(l, bench_now_us()))->queue =
            l->cfg.queue_fn(l->cfg.queue_arg);
    l->run->client_cpu_ns = bench_cpu_self_ns() - cpu0;
    return l->run->sent > 0 ? 0 : -1;
}

int bench_load_drain(struct bench_load *l, int limit_ms)
{
    struct timeval tv = {(time_t)l->run->interval, 0},
                   lim = {limit_ms / 1000, (limit_ms % 1000) * 1000};

    if (!l->cfg.track_arrivals || l->run->arrived >= l->run->accepted)
        return 0;
    l->draining = 1;
    l->cfg.progress = 0;
    if (tv.tv_sec == 0)
        tv.tv_sec = 1;
    evtimer_add(l->tick, &tv);
    evtimer_add(l->due, &lim);
    event_base_dispatch(l->base);
    evtimer_del(l->tick);
    evtimer_del(l->due);
    l->draining = 0;
    return l->run->arrived >= l->run->accepted ? 0 : -1;
}

void bench_load_free(struct bench_load *l)
{
    if (l == NULL)
        return;
    while (l->conns)
        bench_conn_free(l->conns);
    event_free(l->tick);
    event_free(l->due);
    if (l->ctx)
        SSL_CTX_free(l->ctx);
    free(l->body);
    free(l->accepted_at);
    free(l->arrived_at);
    free(l);
}
