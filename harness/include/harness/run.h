/*
 * run.h — "mxlab run": finds scenario files, runs each in its own worker
 * process (isolation: own addresses, ports, directories; a crash or hang
 * in one cannot take the others down), at most --jobs at a time, each
 * bounded in time, and writes the reports. SIGINT/SIGTERM stop every
 * worker before exiting.
 */
#ifndef HARNESS_RUN_H
#define HARNESS_RUN_H

#include <stdio.h>

int run_main(int argc, char **argv);

/* After getopt_long (opterr 0, ":" first in its short options) returned
 * opt for a bad option: "PROG: -x: unknown option" or "PROG: --sut: needs
 * a value" on stderr, then usage(stderr). Returns 2, the exit status. */
int run_option_error(const char *prog, int opt, char *const argv[],
                     void (*usage)(FILE *));

#endif
