/*
 * runner.h — runs one parsed scenario in this process: opens its lab
 * (lab.h: fakedns, fake MX hosts, the system under test) on one event
 * loop in workdir, plays the steps in order, and closes the lab, whatever
 * happened. Every wait is bounded by the scenario's timeout and ends on
 * a real condition, never on a fixed sleep.
 */
#ifndef HARNESS_RUNNER_H
#define HARNESS_RUNNER_H

#include "harness/lab.h"
#include "harness/scenario.h"
#include "mxlab/xmem.h"

enum runner_status { RUNNER_PASSED, RUNNER_FAILED, RUNNER_SKIPPED };

struct runner_result {
    enum runner_status status;
    char message[2048];       /* "file:line: what went wrong" */
    struct strbuf transcript; /* every line sent and received, per step */
    /* What mxlab diff compares between systems under test, one line per
     * observation, "LINE KIND VALUE": "12 reply 250 2.1.5" (the reply to
     * the S: at line 12), "40 delivered 127.0.8.1 <from> <rcpt>..." (the
     * messages that arrived during the [expect] of line 40, sorted),
     * "40 queue 0" (messages queued when that step ended). */
    struct strbuf observations;
    /* Each step that ended: "LINE KIND MILLISECONDS" (kind: session,
     * expect, admin, change-mx, change-dns, time-passes; setup when the
     * lab could not be built), with " failed" on the step that failed. */
    struct strbuf steps;
    /* When things happened on the scenario's clock, for the HTML report:
     * steps, the queue size, the fake MX hosts' sessions and messages
     * (timeline.h has the line formats). The runner also keeps
     * WORKDIR/progress up to date while it plays. */
    struct strbuf timeline;
    double seconds;
};

/* Run s against sut with scratch files under workdir (created). A
 * scenario with a block that needs a capability sut lacks is skipped,
 * naming that block's line. Fills res (caller clears its strbufs with
 * strbuf_clear). Returns res->status. */
enum runner_status runner_run(const struct scenario *s, const char *workdir,
                              const struct sut_spec *sut,
                              struct runner_result *res);

/* "mxlab run --pcap": from now on, each scenario's packets are captured
 * into WORKDIR/capture.pcap (pcap_capture.h); the transcript says how
 * many, or why there is no capture. */
void runner_set_pcap(int on);

#endif
