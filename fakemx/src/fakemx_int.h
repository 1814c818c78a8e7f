/*
 * fakemx_int.h — fakemx's internal objects, shared by fakemx.c (hosts,
 * recordings), session.c (the SMTP server) and json.c. Ownership: a
 * struct fakemx owns its hosts, sessions and recorded messages; a session
 * is freed only by fakemx_session_free() (its one teardown path).
 */
#ifndef FAKEMX_INT_H
#define FAKEMX_INT_H

#include <errno.h>

#include "fakemx/fakemx.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct evconnlistener;
struct bufferevent;

struct fakemx_host {
    struct fakemx *fm;
    struct netaddr addr;
    char *listen; /* "ip:port", the bound port (also when 0 was asked) */
    char *name;
    struct fakemx_behaviour beh; /* strings owned */
    struct evconnlistener *lev;
    struct fakemx_host *next;
};

struct fakemx_session {
    struct fakemx_host *host;
    struct bufferevent *bev;
    char client_ip[64];
    char *helo;
    char *mail_from; /* NULL: no transaction */
    struct strlist rcpts;
    int in_data;
    int data_too_big;       /* over FAKEMX_SIZE_LIMIT: discard, 552 at "." */
    int data_mid_line;      /* the head of a long DATA line was consumed */
    int skipping_long_line; /* command state: drop bytes up to the next LF */
    int closing;            /* last reply queued; freed once it is written */
    struct strbuf data;
    struct fakemx_session *next;
};

struct fakemx {
    struct event_base *base;
    struct fakemx_host *hosts; /* in the order added */
    struct fakemx_session *sessions;
    struct fakemx_message **msgs;
    size_t nmsgs;
    size_t nconnections;
    fakemx_delivery_fn *delivery_fn;
    void *delivery_arg;
};

/* RFC 1870: the SIZE we advertise and enforce. */
#define FAKEMX_SIZE_LIMIT 10240000L
/* RFC 5321 section 4.5.3.1.4/4.5.3.1.6: a command line, CRLF included. */
#define FAKEMX_LINE_LIMIT 1000
/* A DATA line without LF is consumed in pieces once this much is buffered,
 * so a client cannot make us buffer beyond SIZE. */
#define FAKEMX_DATA_CHUNK 65536
/* Idle timeout (Postfix's smtpd_timeout default). */
#define FAKEMX_IDLE_TIMEOUT 300

/* Start the SMTP conversation on an accepted, non-blocking socket. */
void fakemx_session_start(struct fakemx_host *h, int fd,
                          const struct netaddr *peer);
/* Close the connection and free s; the one teardown path of a session. */
void fakemx_session_free(struct fakemx_session *s);
/* Open sessions of host h from client ip that are not closing. */
int fakemx_host_clients(const struct fakemx_host *h, const char *ip);
/* Record the session's current transaction as an accepted message, then
 * run the delivery callback. */
void fakemx_record(struct fakemx_session *s);

#endif
