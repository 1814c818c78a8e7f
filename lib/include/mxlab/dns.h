/*
 * dns.h — c-ares on a libevent loop. All mxlab DNS lookups go through here:
 * one channel per component instance, servers from a Postfix-style list
 * ("127.0.0.53:5353, [::1]:53") or the system's resolv.conf when NULL.
 * Answers are parsed into small owned structures; a status tells a
 * permanent failure (NXDOMAIN, no data) from a temporary one (SERVFAIL,
 * timeout, refused), which callers must never turn into a permanent reject.
 */
#ifndef MXLAB_DNS_H
#define MXLAB_DNS_H

#include <stddef.h>

struct event_base;
struct dns;

enum dns_status {
    DNS_OK = 0,
    DNS_NXDOMAIN, /* name does not exist (permanent) */
    DNS_NODATA,   /* name exists, no record of that type (permanent) */
    DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, malformed answer */
};
const char *dns_strstatus(enum dns_status st);

struct dns_mx {
    int pref;
    char host[256];
};

/* Results: arrays owned by the dns module, valid during the callback only. */
typedef void dns_mx_fn(void *arg, enum dns_status st, const struct dns_mx *mx,
                       size_t n);
/* addrs are IPv4/IPv6 literals as text. */
typedef void dns_addr_fn(void *arg, enum dns_status st, char **addrs, size_t n);
/* texts: each TXT record's strings concatenated. */
typedef void dns_txt_fn(void *arg, enum dns_status st, char **texts, size_t n);

/* NULL on error with a message in err. */
struct dns *dns_new(struct event_base *base, const char *servers, char *err,
                    size_t errlen);
/* Cancels outstanding queries; their callbacks are not called. */
void dns_free(struct dns *d);

void dns_lookup_mx(struct dns *d, const char *name, dns_mx_fn *cb, void *arg);
/* A records (IPv4 only for now). */
void dns_lookup_a(struct dns *d, const char *name, dns_addr_fn *cb, void *arg);
void dns_lookup_txt(struct dns *d, const char *name, dns_txt_fn *cb, void *arg);
/* The PTR record of an IPv4 address (its first name, or NULL unless
 * DNS_OK). -1 if ip is not an IPv4 address (cb is not called). */
typedef void dns_ptr_fn(void *arg, enum dns_status st, const char *name);
int dns_lookup_ptr(struct dns *d, const char *ip, dns_ptr_fn *cb, void *arg);

#endif
