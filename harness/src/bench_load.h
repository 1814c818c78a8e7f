/*
 * bench_load.h — mxlab bench's load generator: C connections on the
 * caller's event loop (smtpcli), closed loop (each connection sends its
 * next message as soon as the last is answered) or open loop (messages
 * due at a fixed rate; latency counted from each one's intended send
 * time, so a stalled server shows its whole tail: no coordinated
 * omission). PIPELINING where offered (RFC 2920: MAIL, RCPT..., DATA in
 * one write), several messages per connection or one, STARTTLS (RFC 3207).
 * Every message started gets exactly one outcome: accepted, refused (a
 * 4xx/5xx reply, counted by code) or an error (connect, closed, timeout,
 * tls, protocol), so sent = accepted + refused + errors.
 */
#ifndef HARNESS_BENCH_LOAD_H
#define HARNESS_BENCH_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "mxlab/netaddr.h"
#include "reports/bench.h"

struct event_base;

/* One part of a size distribution: sizes lo..hi (uniform), chosen with
 * probability weight / sum of weights. */
struct bench_size {
    size_t lo, hi;
    double weight;
};

#define BENCH_SIZES_MAX 16
#define BENCH_SIZE_MIN 256      /* room for the headers */
#define BENCH_SIZE_MAX 67108864 /* 64 MiB */

/* "2048", "1k-64k", "2k:0.9,100k:0.1" (k = 1024, M = 1024k) into out.
 * Returns the number of parts, or -1 with the reason in err. */
int bench_size_parse(const char *s, struct bench_size *out, size_t max,
                     char *err, size_t errlen);

/* Called once per interval (and at the end) with the SUT's queue size,
 * -1 if unknown. */
typedef long long bench_queue_fn(void *arg);

struct bench_load_cfg {
    struct netaddr dst;
    int tls_now;  /* smtps: TLS from the first byte */
    int starttls; /* STARTTLS after EHLO (fails the message if refused) */
    int connections;
    uint64_t messages;  /* closed and open loop: at most this many */
    double duration;    /* seconds; 0: until messages are sent */
    double rate;        /* open loop: messages per second; 0: closed loop */
    int per_connection; /* messages per connection; 0: no limit */
    struct bench_size sizes[BENCH_SIZES_MAX];
    size_t nsizes;
    int recipients;
    const char *from; /* envelope sender */
    const char *to;   /* a recipient, or "@domain": r<N>@domain */
    const char *helo;
    int timeout_ms;     /* for each reply */
    int progress;       /* 0 none, 1 a live line (terminal), 2 plain lines */
    int track_arrivals; /* lab SUTs: bench_load_arrived will be called */
    bench_queue_fn *queue_fn;
    void *queue_arg;
};

struct bench_load;

/* A load run on base with cfg (copied; strings borrowed until
 * bench_load_free) that fills run. Caller frees. */
struct bench_load *bench_load_new(struct event_base *base,
                                  const struct bench_load_cfg *cfg,
                                  struct bench_run *run);
/* Run until every message has its outcome (or the drain limit after the
 * duration passed); dispatches base. 0, or -1 if nothing could start. */
int bench_load_run(struct bench_load *l);
/* With track_arrivals: run the loop on until every accepted message has
 * arrived at a fake MX (the queue still sampled each interval), at most
 * limit_ms. 0 when all arrived, -1 when some had not. */
int bench_load_drain(struct bench_load *l, int limit_ms);
/* A message with sequence number seq (from its X-Mxlab-Bench header)
 * arrived at a fake MX: its end-to-end delay from its 250 is recorded. */
void bench_load_arrived(struct bench_load *l, uint64_t seq);
void bench_load_free(struct bench_load *l);

#endif
