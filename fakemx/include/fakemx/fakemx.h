/*
 * fakemx.h — fake upstream MX hosts: many hosts in one process on one
 * libevent loop, each listening on its own 127.x address, each with its own
 * banner name and behaviour, recording every message it accepts
 * (RFC 5321 server side). Embeddable (the harness) and standalone
 * (mxlab-fakemx).
 */
#ifndef FAKEMX_FAKEMX_H
#define FAKEMX_FAKEMX_H

#include <stddef.h>
#include <stdio.h>
#include <sys/time.h>

struct event_base;
struct fakemx;
struct fakemx_host;

/* A recorded message. All strings owned by fakemx, valid until
 * fakemx_free(). */
struct fakemx_message {
    const char *host;      /* listen address of the fake host, "ip:port" */
    const char *host_name; /* its banner name */
    const char *client_ip; /* peer address, no port */
    const char *helo;      /* HELO/EHLO argument */
    const char *mail_from; /* envelope sender without <>, "" for null */
    char **rcpts;          /* accepted envelope recipients without <> */
    size_t nrcpt;
    const char *data; /* message as received, dot-unstuffed, CRLF lines,
                         without the final "." line */
    size_t data_len;
    struct timeval received;
};

/* Behaviour of one host. Zeroed = accept everything. */
struct fakemx_behaviour {
    /* If non-NULL, the greeting is this reply (e.g. "421 4.7.0 mx Error:
     * too many connections from %s", where %s is the client IP) and the
     * connection is closed after it. */
    const char *greeting_reply;
    /* Per client IP concurrent-connection limit (0: none); beyond it the
     * greeting is "421 4.7.0 <name> Error: too many connections from
     * <ip>" and the connection is closed. */
    int max_conn_per_ip;
};

typedef void fakemx_delivery_fn(void *arg, const struct fakemx_message *m);

struct fakemx *fakemx_new(struct event_base *base);
/* Closes every listener and connection, frees recordings. NULL no-op. */
void fakemx_free(struct fakemx *fm);

/* Add a host listening on "ip:port" with banner name (NULL: "fakemx") and
 * behaviour (NULL: accept). Returns the host, or NULL with err set. */
struct fakemx_host *fakemx_add_host(struct fakemx *fm, const char *listen,
                                    const char *name,
                                    const struct fakemx_behaviour *b, char *err,
                                    size_t errlen);
/* The host's listen address as "ip:port" with the port actually bound
 * (so "127.0.0.1:0" asks for any free port). Borrowed until fakemx_free(). */
const char *fakemx_host_listen(const struct fakemx_host *h);
/* Change a host's behaviour at run time (strings are copied). */
void fakemx_host_set_behaviour(struct fakemx_host *h,
                               const struct fakemx_behaviour *b);

/* Called after each message is accepted (250 queued for sending) and
 * recorded, so fakemx_message_count() already includes it. fn must not
 * call fakemx_free(). */
void fakemx_on_delivery(struct fakemx *fm, fakemx_delivery_fn *fn, void *arg);

size_t fakemx_message_count(const struct fakemx *fm);
const struct fakemx_message *fakemx_message_at(const struct fakemx *fm,
                                               size_t i);
/* Number of SMTP connections accepted so far, over all hosts. */
size_t fakemx_connection_count(const struct fakemx *fm);

/* Write one JSON object per line for message m (the --dump format):
 * {"host":..,"name":..,"client_ip":..,"helo":..,"mail_from":..,
 *  "rcpt_to":[..],"size":N,"sha256":"hex","data":".."} */
void fakemx_message_write_json(const struct fakemx_message *m, FILE *fp);

#endif
