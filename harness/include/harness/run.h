/*
 * run.h — "mxlab run": finds scenario files, runs each in its own worker
 * process (isolation: own addresses, ports, directories; a crash or hang
 * in one cannot take the others down), at most --jobs at a time, each
 * bounded in time, and writes the reports. SIGINT/SIGTERM stop every
 * worker before exiting.
 */
#ifndef HARNESS_RUN_H
#define HARNESS_RUN_H

int run_main(int argc, char **argv);

#endif
