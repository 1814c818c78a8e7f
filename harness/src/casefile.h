/*
 * casefile.h — what a report directory keeps of each scenario, so that
 * its reports can be made again elsewhere (casefile.c): REPORT/run (the
 * run: SUT, start, version, shard) and REPORT/cases/CLASS-NAME/ (meta,
 * transcript, steps, timeline, maillog, diff). "mxlab run" writes them and
 * makes junit.xml, results.json and index.html from them; "mxlab merge"
 * reads those of several shards and makes one report.
 */
#ifndef HARNESS_CASEFILE_H
#define HARNESS_CASEFILE_H

#include <stddef.h>

#include "reports/report.h"

/* A scenario's record as read back: rc points into the strings owned
 * here; index is its place in the whole (unsplit) list of the run. */
struct casefile {
    struct report_case rc;
    long index;
    char *owned[11];
};

/* The run's line of a report. */
struct casefile_run {
    char *sut, *started, *version, *shard;
};

/* REPORT/cases/CLASS-NAME/ := rc, index. 0, or -1 with errno. */
int casefile_write(const char *report, const struct report_case *rc,
                   long index);
/* REPORT/run := run and shard ("K/N", or NULL). 0, or -1 with errno. */
int casefile_run_write(const char *report, const struct report_run *run,
                       const char *shard);
/* The records of report, sorted by index (then class and name), into
 * *out (caller frees with casefile_free). 0, or -1 with "REPORT: what" in
 * err. */
int casefile_read_all(const char *report, struct casefile **out, size_t *n,
                      char *err, size_t errlen);
void casefile_free(struct casefile *c, size_t n);
/* REPORT/run read back (fields NULL when absent); caller frees with
 * casefile_run_clear. -1 with err if there is no REPORT/run. */
int casefile_run_read(const char *report, struct casefile_run *out, char *err,
                      size_t errlen);
void casefile_run_clear(struct casefile_run *r);

/* junit.xml, results.json and index.html of n cases into report. 0, or
 * -1 with the reason on stderr (prefixed by prog). */
int casefile_reports(const char *prog, const char *report,
                     const struct report_run *run, const struct report_case *c,
                     size_t n);

/* The reports of report made again from its records (after
 * casefile_add_text). 0, or -1 (on stderr, prefixed by prog). */
int casefile_remake(const char *prog, const char *report);
/* REPORT/cases/ID/FILE := text (FILE one of the texts: "diff"...). 0, or
 * -1 with errno. */
int casefile_add_text(const char *report, const char *id, const char *file,
                      const char *text);

#endif
