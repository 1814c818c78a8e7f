/*
 * diff.h — "mxlab diff": the same scenarios on the reference relay and on
 * a private Postfix, compared step by step (see diff.c).
 */
#ifndef HARNESS_DIFF_H
#define HARNESS_DIFF_H

#include <stdio.h>

int diff_main(int argc, char **argv);

/* Compare the two runs of one scenario, kept in RDIR/work/WORK and
 * PDIR/work/WORK (result, observations, scenario files written by mxlab
 * run): print "SAME name", "SKIP name: ..." or "DIFF name" and each
 * difference to out. Returns the number of unexplained differences. */
int diff_scenario(const char *rdir, const char *pdir, const char *work,
                  FILE *out);

#endif
