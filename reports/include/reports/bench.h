/*
 * bench.h — the results of a load run ("mxlab bench") and what is done
 * with them: bench.json (written and read back), the final table, the
 * merge of runs from several load machines (histograms add exactly), the
 * CI gate against a baseline, and the HTML report with SVG plots.
 * Knows nothing of SMTP beyond reply codes as counted keys.
 */
#ifndef REPORTS_BENCH_H
#define REPORTS_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "reports/hist.h"

#define BENCH_FORMAT 1 /* "mxlab_bench" in bench.json */

/* One interval of the timeline (bench_run.interval seconds long). */
struct bench_point {
    uint64_t sent, accepted, bytes; /* during the interval */
    long long queue;                /* SUT's queue at its end, -1 unknown */
};

/* Outcomes counted by key: "250", "451", "550", "connect", "timeout"... */
struct bench_code {
    char key[16];
    uint64_t n;
};

struct bench_run {
    /* What was run (owned strings; NULL when not applicable). */
    char *target;       /* "relay", "postfix", "smtp://127.0.0.1:2525" */
    char *scenario;     /* scenario file of a lab SUT */
    char *size;         /* "2048", or the distribution as given */
    char *latency_from; /* "intended send time", "connect", "MAIL" */
    int open_loop;      /* 1: fixed arrival rate */
    double rate;        /* open loop: messages per second asked */
    int connections;
    int per_connection; /* messages per connection, 0: no limit */
    int recipients;
    int tls, pipelining;
    int loaders; /* runs merged into this one (1 for a single run) */
    /* What happened. */
    double seconds; /* first connection to last reply */
    uint64_t sent, accepted, refused, errors, bytes, arrived;
    int have_arrived; /* lab SUTs: arrived counted at the fake MX */
    struct bench_code *codes;
    size_t ncodes;
    struct hist *latency; /* µs, per message to the final 250 */
    struct hist *e2e;     /* µs from 250 to arrival; NULL if unmeasured */
    double interval;      /* timeline step in seconds */
    struct bench_point *points;
    size_t npoints;
    double sut_cpu_ns;    /* SUT CPU over the run; < 0 unknown */
    char *cpu_source;     /* "cgroup", "schedstat" */
    double client_cpu_ns; /* the load generator's own; < 0 unknown */
};

/* A new empty run (histograms allocated, CPU unknown). Caller frees. */
struct bench_run *bench_run_new(void);
void bench_run_free(struct bench_run *r);

/* Count n more outcomes under key (truncated to 15 bytes). */
void bench_run_count(struct bench_run *r, const char *key, uint64_t n);
/* The timeline point for interval i, grown (with unknown queues) as
 * needed. */
struct bench_point *bench_run_point(struct bench_run *r, size_t i);

double bench_run_rate(const struct bench_run *r); /* accepted msg/s */
double bench_run_mbps(const struct bench_run *r); /* accepted MB/s */

/* bench.json. 0, or -1 with errno. */
int bench_run_write_json(const struct bench_run *r, FILE *fp);
/* Read a bench.json; NULL with "PATH: what" (or "PATH:LINE:COL: what")
 * in err. Caller frees. */
struct bench_run *bench_run_read(const char *path, char *err, size_t errlen);

/* Add src (run on another load machine at the same time) to dst:
 * counts and histograms add, seconds is the longer, timelines add by
 * interval. 0, or -1 with the reason in err (different precision or
 * interval). */
int bench_run_merge(struct bench_run *dst, const struct bench_run *src,
                    char *err, size_t errlen);

/* The final table, for people. */
void bench_run_table(const struct bench_run *r, FILE *fp);

/* CI gate: throughput may drop and p99 latency may rise by at most
 * tolerance percent against the baseline. Prints one line per figure
 * ("ok" or "REGRESSED") to fp; returns the number of figures that
 * regressed. */
int bench_gate(const struct bench_run *cur, const struct bench_run *base,
               double tolerance, FILE *fp);

/* A self-contained HTML page (no network): figures, and SVG plots of the
 * rate over time, the latency percentile curve and the queue size over
 * time. 0, or -1 with errno. */
int bench_html_write(const struct bench_run *r, FILE *fp);

#endif
