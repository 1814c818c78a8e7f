/*
 * report.h — scenario results for people and for CI: a result table with
 * Postfix-free plain text, the closing line "N passed, N failed, N skipped",
 * and JUnit XML (one testcase per scenario; a failure names the step and
 * carries the transcript). Knows nothing of SMTP.
 */
#ifndef REPORTS_REPORT_H
#define REPORTS_REPORT_H

#include <stddef.h>
#include <stdio.h>

enum report_status { REPORT_PASSED, REPORT_FAILED, REPORT_SKIPPED };

struct report_case {
    const char *name;      /* scenario name */
    const char *classname; /* e.g. "seeds" (the scenario's folder) */
    const char *file;      /* scenario path */
    double seconds;
    enum report_status status;
    const char *message; /* one line: where and what failed, or why skipped */
    const char *detail;  /* transcript and expectations (may be NULL) */
    const char *steps;   /* "LINE KIND MILLISECONDS[ failed]" lines (may be
                            NULL) */
    /* For the HTML report (report_html.h), each may be NULL: */
    const char *timeline; /* events on the scenario's clock (the harness's
                             timeline.h formats) */
    const char *maillog;  /* the SUT's log, or an excerpt */
    const char *diff;     /* what mxlab diff found different */
    const char *workdir;  /* link to the kept work files, relative to the
                             report */
    const char *capture;  /* link to a capture file, likewise */
};

/* The run as a whole: which system was tested, when, by which mxlab. */
struct report_run {
    const char *sut;     /* "relay", "postfix", "smtp://127.0.0.1:2525" */
    const char *started; /* ISO 8601, UTC: "2026-12-02T03:10:00Z" */
    const char *version; /* mxlab's */
};

const char *report_strstatus(enum report_status st);
/* "passed", "failed", "skipped" (results.json, index.html). */
const char *report_status_word(enum report_status st);
/* The sum of the cases' seconds. */
double report_seconds(const struct report_case *c, size_t n);

/* The line above the result table: "mxlab VERSION  sut=SUT  started
 * TIME". */
void report_run_header_write(FILE *fp, const struct report_run *run);

/* Totals over n cases. */
void report_count(const struct report_case *c, size_t n, size_t *passed,
                  size_t *failed, size_t *skipped);

/* One line per case ("PASS  seeds/000-ovh-relay  0.42s"), then the
 * closing line "N passed, N failed, N skipped". */
void report_summary_write(FILE *fp, const struct report_case *c, size_t n);

/* JUnit XML in the common (Jenkins/Surefire) dialect. 0, or -1 with
 * errno. */
int report_junit_write(FILE *fp, const char *suite, const struct report_case *c,
                       size_t n);
/* The same with the run's sut, started and mxlab_version as the suite's
 * <properties> (run may be NULL: none). */
int report_junit_write_run(FILE *fp, const char *suite,
                           const struct report_run *run,
                           const struct report_case *c, size_t n);

/* results.json: {"scenarios":[{"name","class","file","status","seconds",
 * "message","steps":[{"line","kind","ms"[,"failed":true]}]}], "passed",
 * "failed","skipped"}. 0, or -1 with errno. */
int report_results_json_write(FILE *fp, const struct report_case *c, size_t n);
/* The same with {"run":{"sut","started","version"}, ...} first (run may
 * be NULL: none). */
int report_results_json_write_run(FILE *fp, const struct report_run *run,
                                  const struct report_case *c, size_t n);

/* A duration for people: "850 ms", "27 s", "4.5 min", "2 h", "5 d". */
void report_duration(char *buf, size_t len, double seconds);

/* XML-escape s into fp: & < > " ' and control bytes (as U+FFFD where XML
 * 1.0 forbids them). */
void report_xml_escape(FILE *fp, const char *s);

#endif
