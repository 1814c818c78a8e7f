/*
 * report_html.h — index.html of a run (report_html.c): one self-contained
 * page (inline CSS and SVG, a few lines of script that check the page
 * drew; nothing from the network) with the run's summary, a row per
 * scenario, and per scenario its steps, an SVG timeline, the queue size
 * over time, the transcript, the fake MX hosts' recordings, the log
 * excerpt, mxlab diff's findings and links to the kept work files.
 */
#ifndef REPORTS_REPORT_HTML_H
#define REPORTS_REPORT_HTML_H

#include <stdio.h>

#include "reports/report.h"

/* The page for n cases of run into fp. Each scenario is a
 * <section class="scenario" id="s-CLASS-NAME" data-status="STATUS"> with
 * <svg class="timeline"> and, when its timeline has [time passes] steps,
 * <svg class="queue">; the script writes "ok: N scenarios" (or "FAIL:
 * ids") into #selfcheck. 0, or -1 with errno. */
int report_html_write(FILE *fp, const struct report_run *run,
                      const struct report_case *c, size_t n);

#endif
