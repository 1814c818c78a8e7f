/*
 * smtpc.h — the SMTP client (smtpc.c, RFC 5321): one delivery of a
 * message to the recipients that share a next hop, with a cache of idle
 * connections; per-recipient results for qmgr and local.
 */
#ifndef RELAY_SMTPC_H
#define RELAY_SMTPC_H

#include <stddef.h>
#include <sys/time.h>

struct relay;
struct smtpc;
struct smtpc_conn;

/* A recipient of one delivery, and its result. */
struct smtpc_rcpt {
    const char *addr;
    const char *orig;  /* the original recipient (ORCPT when none given) */
    const char *orcpt; /* RFC 3461 ORCPT "type;address" given, or NULL */
    int notify;        /* DSN_NOTIFY_* bits, 0: not given */
    int status;        /* 2, 4 or 5 (class of the final reply) */
    char dsn[16];      /* enhanced status code "2.0.0" */
    char *reply;       /* reason text for the log */
    char *diag;        /* the server's own reply, when it gave one */
    int logged;        /* the transport logged it already (local) */
    int at_rcpt;       /* its outcome is the reply to RCPT TO */
};
struct smtpc_result {
    char relay_desc[400]; /* "name[ip]:port" or "none" */
    int conn_use;         /* 2 and up: a cached connection's Nth use */
    int offered_dsn;      /* the server offered DSN (RFC 3461) */
    struct timeval t_start, t_conn, t_done;
};
typedef void smtpc_done_fn(void *arg, struct smtpc_rcpt *rcpts, size_t n,
                           const struct smtpc_result *res);
/* The message a delivery carries: its sender, RFC 3461 RET and ENVID
 * (passed on when the server offers DSN, as Postfix's smtp does) and
 * content. */
struct smtpc_msg {
    const char *sender;
    int dsn_ret;           /* DSN_RET_* */
    const char *dsn_envid; /* decoded, or NULL */
    const char *data;
    size_t len;
    /* The transport's parameters (a master.cf service's, borrowed for
     * the delivery), NULL: main.cf's. */
    const struct relay_params *p;
};
/* Deliver msg to rcpts (sharing nexthop); done(arg, ...) runs once with
 * each recipient's result filled in. agent: "smtp" or "lmtp" (the
 * protocol); service and qid name the log lines of failed addresses when
 * another address is tried next. */
void smtpc_start(struct relay *r, const char *agent, const char *service,
                 const char *qid, const char *nexthop,
                 const struct smtpc_msg *msg, struct smtpc_rcpt *rcpts,
                 size_t n, smtpc_done_fn *done, void *arg);
/* Deliveries in progress to nexthop (the destination concurrency). */
size_t smtpc_count_nexthop(const struct relay *r, const char *nexthop);
/* Close the idle cached connections (with QUIT). */
void smtpc_close_cached(struct relay *r);
/* Teardown: drop every delivery in progress without reporting. */
void smtpc_cancel_all(struct relay *r);

#endif
