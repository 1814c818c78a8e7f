/*
 * queue.h — the durable queue (queue.c): queued messages and their
 * recipients with their RFC 3461 parameters, the group commit smtpd
 * uses, deferred/ and hold/ on disk, and the admin operations on them.
 */
#ifndef RELAY_QUEUE_H
#define RELAY_QUEUE_H

#include <stddef.h>
#include <time.h>

struct relay;
struct strlist;

/* RFC 3461 NOTIFY bits (Postfix's DSN_NOTIFY_*) and RET values. */
enum {
    DSN_NOTIFY_NEVER = 1 << 0,
    DSN_NOTIFY_SUCCESS = 1 << 1,
    DSN_NOTIFY_DELAY = 1 << 2,
    DSN_NOTIFY_FAILURE = 1 << 3,
};
enum { DSN_RET_NONE, DSN_RET_FULL, DSN_RET_HDRS };

/* A recipient of a queued message: the address to deliver to and the
 * address the client gave (Postfix's orig_to), with its RFC 3461
 * parameters. */
struct queue_rcpt {
    char *addr;
    char *orig;
    int done;     /* delivered or bounced: never tried again */
    char *reason; /* last deferral reason, or NULL */
    char dsn[16]; /* its enhanced status code ("4.3.2"), or "" */
    char *diag;   /* the remote server's reply then, or NULL */
    int notify;   /* DSN_NOTIFY_* bits, 0: not given */
    char *orcpt;  /* ORCPT as "type;address" (decoded), or NULL */
};

/* A recipient that failed for good, kept until the sender is told. */
struct bounce_entry {
    char *addr, *orig;
    char *orcpt; /* RFC 3461 ORCPT "type;address", or NULL */
    int notify;  /* DSN_NOTIFY_* bits, 0: not given */
    char dsn[16];
    char *reason; /* the text Postfix logs: "host x said: ... (in ...)" */
    char *diag;   /* the remote server's reply, or NULL */
    char *remote; /* Remote-MTA host, or NULL */
};

struct queue_msg {
    char id[16];
    char *sender;
    int dsn_ret;     /* DSN_RET_* (RFC 3461 RET) */
    char *dsn_envid; /* RFC 3461 ENVID (decoded), or NULL */
    char *filter;    /* content_filter "transport:nexthop", or NULL */
    time_t arrival;
    long arrival_usec; /* for the log's delay= and delays= */
    size_t size;       /* message bytes */
    struct queue_rcpt *rcpts;
    size_t nrcpt;
    int state;       /* QUEUE_* */
    time_t next_try; /* not before then (deferred/: the file's mtime) */
    int in_delivery; /* deliveries in progress for this message */
    int deleted;     /* postsuper -d while in delivery: drop at the end */
    int warned;      /* the delay warning went to the sender */
    int ondisk;      /* read from deferred/ or hold/ for an admin command:
                        not in r->queue, freed by whoever loaded it */
    struct bounce_entry *bounces; /* failed for good, sender not told */
    size_t nbounces;
    /* Relayed to a next hop without DSN, NOTIFY=SUCCESS asked: the
     * sender gets a "relayed" notice (not kept across restarts). */
    struct bounce_entry *successes;
    size_t nsuccesses;
    struct queue_msg *next;
};

enum { QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD };

/* The RFC 3461 parameters of a new message: RET and ENVID, and for each
 * recipient NOTIFY bits and ORCPT ("type;address", "" if none). NULL
 * where none were given. Also the content filter that smtpd records
 * with it (content_filter, "transport:nexthop"; NULL or "": none). */
struct queue_dsn {
    int ret;
    const char *envid;
    const int *notify;
    const struct strlist *orcpt;
    const char *filter;
};
/* A new Postfix-style queue ID (10 hex digits, unique in the process). */
void queue_new_id(struct relay *r, char *id, size_t len);
/* Write a new message (envelope + content) durably under id; on success
 * the message is in r->queue. -1 with errno, and nothing left on disk. */
int queue_commit(struct relay *r, const char *id, const char *sender,
                 const struct strlist *rcpts, const struct strlist *origs,
                 const struct queue_dsn *dsn, const char *data, size_t len);
/* Rewrite the envelope after a delivery attempt (done recipients and
 * reasons), or remove the files when every recipient is done. */
int queue_update(struct relay *r, struct queue_msg *m);
/* The same as queue_commit for smtpd, in a group: the file is written now
 * and made durable with the other messages of this event-loop turn by one
 * syncfs; then the message joins r->queue and fn(arg, 0) runs (or
 * fn(arg, -1) with errno, the file removed). Returns 0 when fn will be
 * called, -1 with errno if the file could not be written (fn is not
 * called), 1 if the queue is not open and the message was committed
 * synchronously (fn is not called either). */
typedef void queue_commit_fn(void *arg, int rc);
int queue_commit_async(struct relay *r, const char *id, const char *sender,
                       const struct strlist *rcpts, const struct strlist *origs,
                       const struct queue_dsn *dsn, const char *data,
                       size_t len, queue_commit_fn *fn, void *arg);
/* arg (a session) has gone: its messages are still committed, silently. */
void queue_commit_cancel(struct relay *r, void *arg);
/* Open queue_directory for group commits; queue_close syncs what is
 * pending and closes. */
int queue_open(struct relay *r);
void queue_close(struct relay *r);
/* The Message-ID header's value in a queued message, "" if none. */
void queue_message_id(const char *data, size_t len, char *out, size_t outlen);
/* The content of m, read from its queue file into *data (caller frees;
 * NUL-terminated) and *len. 0, or -1 with errno. */
int queue_read_data(struct relay *r, const struct queue_msg *m, char **data,
                    size_t *len);
/* At start: messages left in incoming/ and active/ by a crash are
 * brought back, deferral files left half-written are removed. 0, or -1
 * with "dir: what" in err. */
int queue_recover(struct relay *r, char *err, size_t errlen);
/* Remove a message's file and forget it (postsuper -d). A message in
 * delivery is only marked; qmgr drops it when its deliveries report. */
void queue_delete(struct relay *r, struct queue_msg *m);
/* postsuper -h (hold 1): into hold/, out of the queue manager's sight;
 * -H (hold 0): back to deferred/, due now. 0, or -1 if m is not in the
 * state to move (already held, not held, being delivered). */
int queue_hold(struct relay *r, struct queue_msg *m, int hold);
/* postsuper -r: the message is queued again under a new ID (logged as
 * Postfix's pickup does) and the old one removed. -1 if it is being
 * delivered or cannot be read. */
int queue_requeue(struct relay *r, struct queue_msg *m);
/* Teardown: forget the active queue (the files stay). */
void queue_free_all(struct relay *r);
/* Free m, its recipients and pending notices. */
void queue_msg_free(struct queue_msg *m);
/* Messages in deferred/ or hold/ (state), in files only. */
size_t queue_disk_count(struct relay *r, int state);
/* The number of deferred messages, and the earliest next delivery time
 * among them in *first. */
size_t queue_deferred_first(struct relay *r, time_t *first);
/* fn(arg, m) for each message in state's directory, oldest first, read
 * from its file (m->ondisk: fn may delete, hold, release or requeue it,
 * not keep it); stops at the first non-zero return, which it returns. */
typedef int queue_each_fn(void *arg, struct queue_msg *m);
int queue_each_on_disk(struct relay *r, int state, queue_each_fn *fn,
                       void *arg);
/* The message id in deferred/ or hold/, read from its file (m->ondisk,
 * the caller frees it with queue_msg_free), or NULL. */
struct queue_msg *queue_find_on_disk(struct relay *r, const char *id);
/* A deferred message (m->ondisk), or all of them, due at the next scan,
 * which is asked for (postqueue -f, -s). */
int queue_make_due(struct relay *r, const struct queue_msg *m);
void queue_make_all_due(struct relay *r);
/* Move the deferred messages due by cutoff (file mtime) to the active
 * queue, oldest first, while it holds fewer than limit. 1 if some due
 * ones were left for lack of room, else 0. */
int queue_scan_deferred(struct relay *r, time_t cutoff, size_t limit);

#endif
