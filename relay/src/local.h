/*
 * local.h — local(8): aliases, then each user's mailbox, either written
 * by the relay (Maildir, mbox) or handed to mailbox_transport /
 * mailbox_transport_maps (Dovecot's LMTP), one recipient at a time, as
 * Postfix's deliver_pass() does. The queue manager runs the hand-offs
 * (qmgr.c) and folds their outcome into the queue recipient's.
 */
#ifndef RELAY_LOCAL_H
#define RELAY_LOCAL_H

#include <stddef.h>

struct relay;
struct queue_msg;
struct smtpc_rcpt;

/* A mailbox delivery handed to another transport. */
struct local_pass {
    size_t i;           /* the queue recipient's index in the job */
    char *addr;         /* the address handed on (after alias expansion) */
    char transport[64]; /* "lmtp", from "transport[:nexthop]" */
    char nexthop[512];  /* "unix:private/dovecot-lmtp"; none given:
                           $myhostname, local_transport's next hop */
};

struct local_passes {
    struct local_pass *v;
    size_t n;
};

/* Free what the hand-offs hold (the struct itself is the caller's). */
void local_passes_clear(struct local_passes *p);

/* Fold one piece's outcome into the queue recipient's: a deferral beats
 * a bounce beats success (the recipient is tried again as a whole, as
 * Postfix's local(8) does). rc->reply is replaced by a copy. */
void local_fold(struct smtpc_rcpt *rc, const struct smtpc_rcpt *piece);

/* Deliver rcpts (idx[i]: its index in m->rcpts) of m: aliases expanded
 * recursively in local domains, the rest forwarded as one new message,
 * then the users' Maildirs or mboxes. Each piece is logged through log
 * (to= the expanded address); rcpts[i] gets the combined outcome and
 * logged = 1. Mailbox deliveries for mailbox_transport(_maps) are logged
 * ("passing <ADDR> to transport=T") and appended to passes for the
 * caller to run and fold into rcpts[i]. */
typedef void local_log_fn(void *arg, size_t i, const char *to,
                          const struct smtpc_rcpt *piece);
void local_deliver(struct relay *r, const struct queue_msg *m,
                   struct smtpc_rcpt *rcpts, const size_t *idx, size_t n,
                   const char *data, size_t len, local_log_fn *log,
                   void *log_arg, struct local_passes *passes);

#endif
