/*
 * filter.h — Postfix's after-queue content filter (FILTER_README) in the
 * relay: the content_filter value ("transport:nexthop") as smtpd records
 * it in the queue file and qmgr reads it back, the master.cf delivery
 * services (type unix, command smtp or lmtp, with their -o overrides)
 * that qmgr maps a transport name to, and receive_override_options.
 */
#ifndef RELAY_FILTER_H
#define RELAY_FILTER_H

#include <stddef.h>

#include "params.h"

struct relay;
struct config;

/* Bounds of a content_filter value: what the queue file accepts back. */
#define FILTER_TRANSPORT_MAX 63 /* as rewrite_route.transport */
#define FILTER_NEXTHOP_MAX 511  /* as rewrite_route.nexthop */

/* Split a content_filter value into transport and next hop at the first
 * ':' (no ':': no next hop), as qmgr does. 0, or -1 if it is not one: an
 * empty transport, a name of other than letters, digits, '.', '_', '-',
 * either part over its bound, or a control character (the queue file
 * and the log take it as one line). transport and nexthop may be NULL. */
int filter_split(const char *value, char transport[FILTER_TRANSPORT_MAX + 1],
                 char nexthop[FILTER_NEXTHOP_MAX + 1]);

/* receive_override_options (postconf(5)): the FILTER_NO_* bits of value,
 * or -1 with the first word that is none of them copied into bad. */
enum {
    FILTER_NO_UNKNOWN_RECIPIENT_CHECKS = 1 << 0,
    FILTER_NO_ADDRESS_MAPPINGS = 1 << 1,
    FILTER_NO_HEADER_BODY_CHECKS = 1 << 2,
    FILTER_NO_MILTERS = 1 << 3,
};
int filter_receive_overrides(const char *value, char *bad, size_t badlen);

/* A delivery service of master.cf ("smtp-amavis unix - - n - 2 smtp -o
 * ..."): main.cf's parameters with its -o overrides, as qmgr(8) reaches
 * a transport by its name. Deliveries in progress hold references, so a
 * reload frees it only after them. */
struct relay_transport {
    int refs;
    char *name;    /* the service field */
    int lmtp;      /* its command: lmtp (else smtp) */
    char *logname; /* process name in the log: "smtp", "relay/smtp" */
    long maxproc;  /* concurrent deliveries, 0: no limit */
    size_t active; /* deliveries in progress */
    struct config *cf;
    struct relay_params p;
    struct relay_transport *next;
};

/* Add the service name (command "smtp" or "lmtp", maxproc field, cf:
 * main.cf with the service's overrides, taken over) to r's transports.
 * -1 with "where: what" in err. */
int filter_transport_add(struct relay *r, const char *name, const char *command,
                         const char *maxproc, struct config *cf,
                         const char *where, char *err, size_t errlen);
/* The master.cf delivery service called name, or NULL. Borrowed: take a
 * reference (refs++) to keep it past the next reload. */
struct relay_transport *filter_transport_find(struct relay *r,
                                              const char *name);
/* Drop a reference; the last frees it. NULL: no-op. */
void filter_transport_release(struct relay_transport *t);
/* r's list, at teardown. */
void filter_transport_free_all(struct relay *r);

#endif
