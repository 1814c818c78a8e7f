/*
 * bounce.h — RFC 3464 delivery status notifications (bounce.c), as
 * Postfix's bounce(8) writes them: non-delivery, success and delay
 * reports, queued as new messages to the sender.
 */
#ifndef RELAY_BOUNCE_H
#define RELAY_BOUNCE_H

struct relay;
struct queue_msg;
struct queue_rcpt;

/* Recipient qr of m failed for good (dsn, reason as logged, diag: the
 * remote reply or NULL, remote: Remote-MTA or NULL): kept in m for the
 * next bounce_flush. */
void bounce_add(struct queue_msg *m, const struct queue_rcpt *qr,
                const char *dsn, const char *reason, const char *diag,
                const char *remote);
/* Queue the report for m's bounced recipients to its sender (none for
 * the null sender), then forget them. 0, or -1 with errno (the bounced
 * recipients stay pending so that nothing is lost). */
int bounce_flush(struct relay *r, struct queue_msg *m);
/* A recipient relayed to a next hop that does not do DSN, for the
 * sender's success notice (reason: "delivery via HOST[IP]:PORT: REPLY"). */
void bounce_add_success(struct queue_msg *m, const struct queue_rcpt *qr,
                        const char *reason, const char *diag,
                        const char *remote);
/* The "Successful Mail Delivery Report" for them, then forget them. 0, or
 * -1 with errno. */
int bounce_success_flush(struct relay *r, struct queue_msg *m);
/* Forget m's pending failure and success notices without sending. */
void bounce_clear(struct queue_msg *m);
/* delay_warning_time: tell the sender that m's pending recipients are
 * still being retried (Postfix's "Delayed Mail (still being retried)").
 * 0, or -1 with errno. */
int bounce_delay_warn(struct relay *r, struct queue_msg *m);

#endif
