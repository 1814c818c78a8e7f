/*
 * session.h — plays one [session] block: a telnet-style transcript
 * ("C:" lines sent, "S:" lines judged against the server's replies) over
 * smtpcli, the harness's own SMTP client. STARTTLS: once the server
 * answers 220 to a "C: STARTTLS" line, the session goes on under TLS.
 */
#ifndef HARNESS_SESSION_H
#define HARNESS_SESSION_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "capture.h"
#include "harness/lab.h"
#include "harness/scenario.h"

/* What a session needs from its runner; borrowed for its life. */
struct session_ctx {
    struct event_base *base;
    struct lab *lab;
    struct capture *vars;        /* {name} captures, shared by steps */
    struct strbuf *transcript;   /* every line sent and received */
    struct strbuf *observations; /* "LINE reply CODE ENH" (runner.h) */
    SSL_CTX *tls_ctx;            /* shared TLS client context */
    long timeout_ms;             /* per wait */
};

/* Called once when the session is over: msg NULL if every line held,
 * else what went wrong at line. The callback may free the session. */
typedef void session_done_fn(void *arg, int line, const char *msg);

struct session;

/* Connect and start playing b. NULL if it could not start, with the line
 * and the reason in err; otherwise done comes later, from the loop. */
struct session *session_start(const struct session_ctx *ctx,
                              const struct scn_block *b, session_done_fn *done,
                              void *arg, int *line, char *err, size_t errlen);
/* Close the connection and free; NULL is a no-op. */
void session_free(struct session *ss);

#endif
