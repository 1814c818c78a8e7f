/*
 * mynetworks.h — the networks of main.cf: mynetworks (or the default
 * mynetworks_style computes from this host's interfaces), lists of
 * networks in mynetworks syntax that may name "$mynetworks", and the
 * interface addresses of permit_inet_interfaces.
 */
#ifndef RELAY_MYNETWORKS_H
#define RELAY_MYNETWORKS_H

#include <stddef.h>

struct cidr;
struct config;
struct netaddr;
struct relay_params;

/* This host's interface addresses into p->inet_addrs, then mynetworks
 * (set, or from mynetworks_style) into p->mynetworks. -1 with
 * "file:line: what" in err for a bad network. */
int mynetworks_load(struct config *cf, struct relay_params *p, char *err,
                    size_t errlen);
/* A list of networks (mynetworks syntax) in parameter name, where
 * "$mynetworks" stands for the computed list (p->mynetworks, read
 * first); appended to *out. -1 with "file:line: what" in err; with
 * names_ok, a word that is no network (a host name, a table) is warned
 * about and skipped instead. */
int mynetworks_load_list(struct config *cf, const struct relay_params *p,
                         const char *name, const char *raw, int names_ok,
                         struct cidr **out, size_t *nout, char *err,
                         size_t errlen);
/* 1 if a is one of this host's interface addresses in p
 * (permit_inet_interfaces), else 0. */
int mynetworks_inet_interface(const struct relay_params *p,
                              const struct netaddr *a);

#endif
