/*
 * fakemx_int.h — fakemx's internal objects, shared by fakemx.c (hosts,
 * recordings), session.c (the SMTP server) and json.c.
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
    char *listen; /* "ip:port" */
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
    int data_too_big;
    int skipping_long_line;
    int closing;
    struct strbuf data;
    struct fakemx_session *next;
};

struct fakemx {
    struct event_base *base;
    struct fakemx_host *hosts;
    struct fakemx_session *sessions;
    struct fakemx_message **msgs;
    size_t nmsgs;
    size_t nconnections;
    unsigned long queue_seq;
    fakemx_delivery_fn *delivery_fn;
    void *delivery_arg;
};

#define FAKEMX_SIZE_LIMIT 10240000L
#define FAKEMX_LINE_LIMIT 1000 /* RFC 5321 section 4.5.3.1.6, with CRLF */

void fakemx_session_start(struct fakemx_host *h, int fd,
                          const struct netaddr *peer);
void fakemx_session_free(struct fakemx_session *s);
/* Sessions of host h from client ip now open (this one included). */
int fakemx_host_clients(const struct fakemx_host *h, const char *ip);
/* Record the session's current transaction as an accepted message. */
void fakemx_record(struct fakemx_session *s);

#endif
