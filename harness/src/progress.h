/*
 * progress.h — what "mxlab run" shows while it runs (progress.c): on a
 * terminal one live line ("12/40 passed 11 failed 1 — 8.3 s — current:
 * bounce (27 s of simulated 5 d)") above which finished scenarios are
 * listed; elsewhere plain lines only. --quiet shows failures only,
 * --verbose also each scenario's steps and a failure's transcript.
 */
#ifndef HARNESS_PROGRESS_H
#define HARNESS_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "reports/report.h"

enum progress_level { PROGRESS_QUIET, PROGRESS_NORMAL, PROGRESS_VERBOSE };

struct progress {
    FILE *fp;
    int live; /* a terminal: the live line is drawn */
    enum progress_level level;
    size_t total, done, passed, failed, skipped;
    long long t0_ms;
    int drawn; /* the live line is on the screen */
};

/* Start showing the progress of total scenarios on fp; live when fp is a
 * terminal (and TERM is not "dumb") and level is not quiet. */
void progress_init(struct progress *p, FILE *fp, enum progress_level level,
                   size_t total);
/* A scenario ended (rc: its result): its line, per the level. */
void progress_case(struct progress *p, const struct report_case *rc);
/* Redraw the live line; current: the longest-running scenario's name
 * (NULL: none), its work directory (where the runner keeps "progress")
 * and its start (monotonic ms); others: how many more run. */
void progress_tick(struct progress *p, const char *current, const char *workdir,
                   long long started_ms, size_t others);
/* Clear the live line, before the final table. */
void progress_end(struct progress *p);

#endif
