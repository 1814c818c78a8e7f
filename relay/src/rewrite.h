/*
 * rewrite.h — address classes and routing (rewrite.c), as Postfix's
 * trivial-rewrite and cleanup do them: local, alias, relay or default
 * class, virtual_alias_maps, transport_maps and relayhost.
 */
#ifndef RELAY_REWRITE_H
#define RELAY_REWRITE_H

struct relay;
struct relay_params;
struct strlist;
struct resolve_result;

/* The class of an address (Postfix's ADDRESS_CLASS_README). */
enum rewrite_class {
    REWRITE_CLASS_LOCAL,
    REWRITE_CLASS_ALIAS,
    REWRITE_CLASS_VIRTUAL, /* virtual_mailbox_domains */
    REWRITE_CLASS_RELAY,
    REWRITE_CLASS_DEFAULT,
};
/* The class of addr's domain after trivial-rewrite's resolution
 * (ADDRESS_CLASS_README): local, virtual alias, relay or default. */
enum rewrite_class rewrite_class(struct relay *r, const char *addr);
/* Resolve addr (RFC 5321 or internal form) as trivial-rewrite does, with
 * main.cf's allow_percent_hack, swap_bangpath, resolve_* settings. */
struct resolve_result;
void rewrite_resolve_addr(struct relay *r, const char *addr,
                          struct resolve_result *res);
/* 1 if domain is in a Postfix domain list whose names also match their
 * subdomains (parent_domain_matches_subdomains: fast_flush_domains...). */
int rewrite_domain_listed(struct relay *r, const struct strlist *list,
                          const char *domain);
/* 1 if the domain is one this relay accepts mail for from anyone
 * (mydestination, virtual_alias_domains, relay_domains) and the address
 * names no route of its own unless p (the smtpd service's parameters)
 * has allow_untrusted_routing = yes. */
int rewrite_auth_destination(struct relay *r, const struct relay_params *p,
                             const char *addr);
/* Expand addr through virtual_alias_maps (virtual(5)) into out. Returns 0,
 * 1 if addr is in a virtual alias domain and has no mapping (User
 * unknown), -1 if the recursion or expansion limit was hit. */
int rewrite_virtual(struct relay *r, const char *addr, struct strlist *out);
/* Resolve the delivery channel and next hop of addr: transport_maps, then
 * relayhost for off-host classes, else the recipient domain. */
struct rewrite_route {
    char transport[64]; /* "smtp", "relay", "error", "discard", "local" */
    char nexthop[512];  /* "[host]:port", "domain", error text */
    char rcpt[1024];    /* the resolved recipient (RFC 5321 form) */
};
void rewrite_resolve(struct relay *r, const char *addr,
                     struct rewrite_route *route);

#endif
