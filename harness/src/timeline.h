/*
 * timeline.h — what happened when, on the scenario's (simulated) clock,
 * for the HTML report's timeline and queue plot and for the live progress
 * line of "mxlab run" (timeline.c). Times are milliseconds since the
 * scenario started, read from the mxlab clock (mxlab/clock.h), the clock
 * the SUT and the fake MX hosts follow.
 */
#ifndef HARNESS_TIMELINE_H
#define HARNESS_TIMELINE_H

#include "harness/lab.h"
#include "harness/scenario.h"
#include "mxlab/xmem.h"

struct timeline;

/* A timeline of s written into out (borrowed until timeline_free), one
 * event a line (runner.h: runner_result.timeline); progress, if not
 * NULL, is a file rewritten at each step ("SIM_MS TOTAL_MS LINE KIND":
 * where the scenario is on its clock, of how much its [time passes]
 * steps add up to). Caller frees with timeline_free (NULL no-op). */
struct timeline *timeline_new(const struct scenario *s, struct strbuf *out,
                              const char *progress);
void timeline_free(struct timeline *tl);

/* The step of line (kind as in runner_result.steps) begins; ends (ok 1)
 * or failed (ok 0): "step BEGIN END LINE KIND ok|failed". */
void timeline_step_begin(struct timeline *tl, int line, const char *kind);
void timeline_step_end(struct timeline *tl, int ok);
/* The SUT's queue, when its size changed: "queue T N". */
void timeline_queue(struct timeline *tl, struct lab *lab);
/* At the end, with the lab still open: the fake MX hosts' sessions
 * ("mx CONNECTED CLOSED IP NAME MESSAGES CODE", CODE the first reply of
 * 400 or more, "-" if none) and messages ("msg T IP NAME SIZE <FROM>
 * <RCPT>,... SUBJECT"). */
void timeline_fakemx(struct timeline *tl, struct lab *lab);

#endif
