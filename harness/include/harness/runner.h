/*
 * runner.h — runs one parsed scenario in this process: builds the lab
 * (fakedns, fake MX hosts, the reference relay as system under test) on one
 * event loop in workdir, plays the steps in order, and stops everything it
 * started, whatever happened. Every wait is bounded by the scenario's
 * timeout and ends on a real condition, never on a fixed sleep.
 */
#ifndef HARNESS_RUNNER_H
#define HARNESS_RUNNER_H

#include "harness/scenario.h"
#include "mxlab/xmem.h"

enum runner_status { RUNNER_PASSED, RUNNER_FAILED, RUNNER_SKIPPED };

/* The system under test: mxlab's embedded relay, a private Postfix, or a
 * server already running at smtp://HOST:PORT (black-box scenarios only:
 * sessions, nothing that needs the SUT's configuration, queue or log). */
enum runner_sut { RUNNER_SUT_RELAY, RUNNER_SUT_POSTFIX, RUNNER_SUT_REMOTE };

/* For RUNNER_SUT_REMOTE: "smtp://HOST:PORT" (HOST a name or an address,
 * [v6] in brackets). 0, or -1 with the reason in err. */
int runner_set_remote(const char *url, char *err, size_t errlen);

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
     * expect, admin, change-mx, change-dns, time-passes, setup). */
    struct strbuf steps;
    double seconds;
};

/* Run s with scratch files under workdir (created). Fills res (caller
 * clears res->transcript and res->observations with strbuf_clear).
 * Returns res->status. */
enum runner_status runner_run(const struct scenario *s, const char *workdir,
                              enum runner_sut sut, struct runner_result *res);

#endif
