/*
 * bench.h — "mxlab bench": load a mail server (a lab SUT or one already
 * running at smtp://HOST[:PORT]) and measure acceptance rate, latency
 * percentiles, errors by reply code and the SUT's CPU per message;
 * "mxlab bench merge" joins runs from several load machines. Reports:
 * table, bench.json, bench.html; a gate against a baseline for CI.
 */
#ifndef HARNESS_BENCH_H
#define HARNESS_BENCH_H

/* argv[0] is "bench". Returns the exit status: 0, 1 (a regression
 * against --baseline, or nothing accepted), 2 (bad usage). */
int bench_main(int argc, char **argv);

#endif
