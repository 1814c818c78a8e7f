/*
 * bench_int.h — the load generator's insides, shared by bench_load.c
 * (sizes, outcomes, scheduling, the API of bench_load.h) and bench_conn.c
 * (connections, messages and the reply handlers, one per command).
 */
#ifndef HARNESS_BENCH_INT_H
#define HARNESS_BENCH_INT_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "bench_load.h"
#include "mxlab/xmem.h"

struct smtpcli;

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

/* bench_conn.c: close c and unlink it from its load; NULL is a no-op. */
void bench_conn_free(struct bench_conn *c);
/* 1 if c waits for nothing and may take a message. */
int bench_conn_idle(struct bench_conn *c);
/* A new connection of l, connecting; NULL if it cannot start. */
struct bench_conn *bench_conn_open(struct bench_load *l);
/* QUIT appended to out (or written at once when out is NULL). */
void bench_conn_quit(struct bench_conn *c, struct strbuf *out);
/* c takes the next message if one is due: 1 taken, 0 none. */
int bench_msg_take(struct bench_conn *c);
/* bench_load.c: the run ends once nothing is left to send or wait for. */
void bench_check_end(struct bench_load *l);
/* The rate-over-time interval that now falls in. */
size_t bench_interval(const struct bench_load *l, long long now);
/* A message's outcome (code: its final reply, 0: an error, why), counted
 * once, and its latency recorded. */
void bench_msg_done(struct bench_conn *c, struct bench_msg *m, int code,
                    const char *why);
/* The monotonic clock in microseconds. */
long long bench_now_us(void);
/* Open connections and hand out messages as the loop allows. */
void bench_pump(struct bench_load *l);
/* A message size drawn from the configured distribution. */
size_t bench_size_pick(struct bench_load *l);
/* 1 if a message is due now (open loop: *origin its intended time). */
int bench_work(struct bench_load *l, long long now, long long *origin);

#endif
