/*
 * qmgr.h — the queue manager (qmgr.c): schedules deliveries of the
 * active queue, scans deferred/ every queue_run_delay and computes
 * retry times, as Postfix's qmgr(8) does.
 */
#ifndef RELAY_QMGR_H
#define RELAY_QMGR_H

#include <time.h>

struct relay;
struct queue_msg;

/* The pass timer; the first pass scans deferred/. */
void qmgr_init(struct relay *r);
/* Run a scheduling pass soon (new mail, a delivery ended). */
void qmgr_schedule(struct relay *r);
/* postqueue -f: every message due now, active and deferred. */
void qmgr_flush(struct relay *r);
/* 1 if the next pass scans deferred/ (a scan period began, or one was
 * asked for). */
int qmgr_scan_due(const struct relay *r);
/* When a message deferred now is tried again: after as long as it has
 * been queued, within minimal_backoff_time and maximal_backoff_time (as
 * Postfix's qmgr). */
time_t qmgr_next_try(const struct relay *r, const struct queue_msg *m,
                     time_t now);
/* The next time after now at which the queue manager has work (a retry
 * in the active queue, a scan that will find a deferred message due), or
 * 0 if none. */
time_t qmgr_next_event(struct relay *r);
/* The simulated clock moved: run what became due. */
void qmgr_time_changed(struct relay *r);
/* Teardown: deliveries dropped, cached connections closed. */
void qmgr_free(struct relay *r);

#endif
