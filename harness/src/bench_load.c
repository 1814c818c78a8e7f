/*
 * bench_load.c — the load generator. See bench_load.h.
 * Each connection keeps the replies it waits for, in order, in a small
 * ring (RFC 2920 section 3.1: replies come in the order of the commands),
 * so pipelined and lock-step sessions share one reply handler. A message
 * is taken by a connection when it is ready (or when the connection opens,
 * for its first), and its outcome is counted exactly once, in
 * bench_msg_done.
 */
#include "bench_int.h"

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

long long bench_now_us(void)
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

size_t bench_size_pick(struct bench_load *l)
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

size_t bench_interval(const struct bench_load *l, long long now)
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
void bench_msg_done(struct bench_conn *c, struct bench_msg *m, int code,
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

/* ---- scheduling ---- */

/* Is a message due now? Closed loop: while any are left and time
 * remains. Open loop: message k is due at t0 + k / rate, and counts its
 * latency from then, however late a connection takes it. */
int bench_work(struct bench_load *l, long long now, long long *origin)
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
void bench_pump(struct bench_load *l)
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
void bench_check_end(struct bench_load *l)
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
