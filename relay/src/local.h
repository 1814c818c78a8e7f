/*
 * local.h — local(8) delivery (local.c): aliases, then the users'
 * Maildirs or mboxes.
 */
#ifndef RELAY_LOCAL_H
#define RELAY_LOCAL_H

#include <stddef.h>

struct relay;
struct queue_msg;
struct smtpc_rcpt;

/* local(8): aliases (expanded recursively in local domains,
 * the rest forwarded as one new message), then the users' Maildirs or
 * mboxes. Each piece is logged through log (to= the expanded address);
 * rcpts[i] (idx[i]: its index in m->rcpts) gets the combined outcome and
 * logged = 1. */
typedef void local_log_fn(void *arg, size_t i, const char *to,
                          const struct smtpc_rcpt *piece);
void local_deliver(struct relay *r, const struct queue_msg *m,
                   struct smtpc_rcpt *rcpts, const size_t *idx, size_t n,
                   const char *data, size_t len, local_log_fn *log,
                   void *log_arg);

#endif
