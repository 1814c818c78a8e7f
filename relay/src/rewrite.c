/*
 * rewrite.c — address classes and routing, as Postfix's trivial-rewrite
 * (resolve.c) and cleanup (virtual alias expansion) do them:
 * ADDRESS_CLASS_README, virtual(5), transport(5).
 * Order of classes: virtual alias domain, virtual mailbox domain, then
 * (for other domains) relay domain or default; mydestination is the local
 * class. relayhost replaces the next hop of relay and default classes;
 * transport_maps override all but the virtual alias class.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"
#include "mynetworks.h"
#include "params.h"
#include "relay.h"
#include "resolve.h"
#include "rewrite.h"
#include "table.h"

/* Match a domain against a Postfix domain list ("!x", "type:table",
 * ".parent", "name"). parent_style: "name" also matches its subdomains
 * (parent_domain_matches_subdomains). */
static int rewrite_domain_match(struct relay *r, const struct strlist *list,
                                const char *domain, int parent_style)
{
    for (size_t i = 0; i < list->n; i++) {
        const char *pat = list->v[i];
        int negate = 0, hit = 0;

        if (*pat == '!') {
            negate = 1;
            pat++;
        }
        if (strchr(pat, ':') != NULL && pat[0] != '[') {
            struct map *m = table_get(r, pat);
            for (const char *d = domain; m != NULL && d != NULL && !hit;) {
                hit = map_lookup(m, d) != NULL;
                d = parent_style ? strchr(d + 1, '.') : NULL;
                if (d != NULL)
                    d++;
            }
        } else if (*pat == '.') {
            size_t dl = strlen(domain), pl = strlen(pat);
            hit = dl > pl && str_casecmp(domain + dl - pl, pat) == 0;
        } else {
            size_t dl = strlen(domain), pl = strlen(pat);
            hit = str_casecmp(domain, pat) == 0 ||
                  (parent_style && dl > pl + 1 && domain[dl - pl - 1] == '.' &&
                   str_casecmp(domain + dl - pl, pat) == 0);
        }
        if (hit)
            return !negate;
    }
    return 0;
}

int rewrite_domain_listed(struct relay *r, const struct strlist *list,
                          const char *domain)
{
    return rewrite_domain_match(r, list, domain, 1);
}

static int rewrite_is_local_domain(struct relay *r, const char *domain)
{
    return rewrite_domain_match(r, &r->p.mydestination, domain, 0);
}

/* An address literal "[192.0.2.1]" or "[IPv6:...]" naming one of this
 * host's addresses (resolve_local()), of a family inet_protocols allows. */
static int rewrite_own_literal(struct relay *r, const char *domain)
{
    size_t n = strlen(domain);
    char lit[80];
    const char *ip = lit;
    struct netaddr na;

    if (n < 3 || domain[0] != '[' || domain[n - 1] != ']' ||
        n - 2 >= sizeof(lit))
        return 0;
    memcpy(lit, domain + 1, n - 2);
    lit[n - 2] = '\0';
    if (str_ncasecmp(lit, "IPv6:", 5) == 0)
        ip = lit + 5;
    else if (strchr(lit, ':') != NULL)
        return 0;
    if (netaddr_parse(ip, 0, &na) < 0)
        return 0;
    if ((na.ss.ss_family == AF_INET && !r->p.inet_ipv4) ||
        (na.ss.ss_family == AF_INET6 && !r->p.inet_ipv6))
        return 0;
    return mynetworks_inet_interface(&r->p, &na);
}

/* resolve_local(): mydestination, or this host's address literal; one
 * trailing dot does not count, two make the domain remote. */
static int rewrite_local_cb(void *arg, const char *domain)
{
    struct relay *r = arg;
    char d[RESOLVE_ADDR_MAX];
    size_t n = strlen(domain);

    if (n == 0 || n >= sizeof(d))
        return 0;
    memcpy(d, domain, n + 1);
    if (d[n - 1] == '.')
        d[--n] = '\0';
    if (n == 0 || d[n - 1] == '.')
        return 0;
    return rewrite_is_local_domain(r, d) || rewrite_own_literal(r, d);
}

void rewrite_resolve_addr(struct relay *r, const char *addr,
                          struct resolve_result *res)
{
    char internal[RESOLVE_ADDR_MAX];
    const struct relay_params *p = &r->p;
    struct resolve_opts o = {
        .allow_percent_hack = p->allow_percent_hack,
        .swap_bangpath = p->swap_bangpath,
        .resolve_dequoted_address = p->resolve_dequoted_address,
        .resolve_null_domain = p->resolve_null_domain,
        .resolve_numeric_domain = p->resolve_numeric_domain,
        .append_at_myorigin = p->append_at_myorigin,
        .append_dot_mydomain = p->append_dot_mydomain,
        .myhostname = p->myhostname,
        .myorigin = p->myorigin,
        .mydomain = p->mydomain,
        .is_local = rewrite_local_cb,
        .arg = r,
    };

    /* Internal form is kept as it is (no quotes to take away). */
    if (resolve_internalize(addr, internal, sizeof(internal)) < 0)
        internal[0] = '\0';
    resolve_addr(&o, internal, res);
}

static enum rewrite_class rewrite_class_of(struct relay *r,
                                           const struct resolve_result *res)
{
    if (res->flags & RESOLVE_FLAG_ERROR)
        return REWRITE_CLASS_DEFAULT;
    if (res->local)
        return REWRITE_CLASS_LOCAL;
    if (rewrite_domain_match(r, &r->p.virtual_alias_domains, res->domain, 0))
        return REWRITE_CLASS_ALIAS;
    if (rewrite_domain_match(r, &r->p.virtual_mailbox_domains, res->domain, 0))
        return REWRITE_CLASS_VIRTUAL;
    if (rewrite_domain_match(r, &r->p.relay_domains, res->domain, 1))
        return REWRITE_CLASS_RELAY;
    return REWRITE_CLASS_DEFAULT;
}

enum rewrite_class rewrite_class(struct relay *r, const char *addr)
{
    struct resolve_result res;

    rewrite_resolve_addr(r, addr, &res);
    return rewrite_class_of(r, &res);
}

int rewrite_auth_destination(struct relay *r, const struct relay_params *p,
                             const char *addr)
{
    struct resolve_result res;

    rewrite_resolve_addr(r, addr, &res);
    /* allow_untrusted_routing = no: an address that names its own route
     * (user%site@here, site!user@here, "user@site"@here) is not an
     * authorised destination, whatever its class (smtpd_check.c's
     * permit_auth_destination). */
    if (!p->allow_untrusted_routing && (res.flags & RESOLVE_FLAG_ROUTED))
        return 0;
    return rewrite_class_of(r, &res) != REWRITE_CLASS_DEFAULT;
}

/* virtual(5) lookup order: user@domain, user (local domains only),
 * @domain. A result "@other" keeps the user part. Returns the expansion
 * (caller frees) or NULL. */
static char *rewrite_virtual_lookup(struct relay *r, const char *addr)
{
    const char *at = strrchr(addr, '@');
    const char *v = maplist_lookup(r->virtual_alias_maps, addr);
    struct strbuf out;
    struct strlist l;

    if (v == NULL && at != NULL && rewrite_is_local_domain(r, at + 1)) {
        char *user = xstrndup(addr, (size_t)(at - addr));
        v = maplist_lookup(r->virtual_alias_maps, user);
        free(user);
    }
    if (v == NULL && at != NULL)
        v = maplist_lookup(r->virtual_alias_maps, at);
    if (v == NULL)
        return NULL;
    strbuf_init(&out);
    strlist_init(&l);
    strlist_split(&l, v);
    for (size_t i = 0; i < l.n; i++) {
        if (i > 0)
            strbuf_puts(&out, ", ");
        if (l.v[i][0] == '@' && at != NULL)
            strbuf_append(&out, addr, (size_t)(at - addr));
        strbuf_puts(&out, l.v[i]);
    }
    strlist_clear(&l);
    return strbuf_detach(&out);
}

static int rewrite_virtual_rec(struct relay *r, const char *addr, int depth,
                               struct strlist *out)
{
    char *v;
    struct strlist l;
    int rc = 0;

    if (depth > r->p.virtual_alias_recursion_limit)
        return -1;
    v = maplist_count(r->virtual_alias_maps) ? rewrite_virtual_lookup(r, addr)
                                             : NULL;
    if (v == NULL) {
        if (depth == 0 && rewrite_class(r, addr) == REWRITE_CLASS_ALIAS)
            return 1;
        if (!strlist_contains_case(out, addr))
            strlist_push(out, addr);
        return 0;
    }
    strlist_init(&l);
    strlist_split(&l, v);
    free(v);
    for (size_t i = 0; i < l.n && rc >= 0; i++) {
        if ((long)out->n >= r->p.virtual_alias_expansion_limit) {
            rc = -1;
            break;
        }
        /* An address that maps to itself ends the recursion (virtual(5)). */
        if (str_casecmp(l.v[i], addr) == 0) {
            if (!strlist_contains_case(out, addr))
                strlist_push(out, addr);
            continue;
        }
        int sub = rewrite_virtual_rec(r, l.v[i], depth + 1, out);
        if (sub < 0)
            rc = -1;
    }
    strlist_clear(&l);
    return rc;
}

int rewrite_virtual(struct relay *r, const char *addr, struct strlist *out)
{
    return rewrite_virtual_rec(r, addr, 0, out);
}

/* "transport:nexthop" into route; an empty part keeps (transport) or
 * resets to the domain (nexthop), as transport(5) says. */
static void rewrite_apply_transport(const char *value, const char *domain,
                                    struct rewrite_route *route)
{
    const char *colon = strchr(value, ':');
    size_t tl = colon ? (size_t)(colon - value) : strlen(value);

    if (tl > 0 && tl < sizeof(route->transport)) {
        memcpy(route->transport, value, tl);
        route->transport[tl] = '\0';
    }
    if (colon != NULL && colon[1] != '\0')
        snprintf(route->nexthop, sizeof(route->nexthop), "%s", colon + 1);
    else
        snprintf(route->nexthop, sizeof(route->nexthop), "%s", domain);
}

/* A main.cf "transport[:nexthop]" (default_transport, virtual_transport,
 * ...) into route; without an explicit next hop, nexthop is used. */
static void rewrite_channel(struct rewrite_route *route, const char *channel,
                            const char *nexthop)
{
    const char *colon = strchr(channel, ':');
    size_t tl = colon ? (size_t)(colon - channel) : strlen(channel);

    if (tl >= sizeof(route->transport))
        tl = sizeof(route->transport) - 1;
    memcpy(route->transport, channel, tl);
    route->transport[tl] = '\0';
    snprintf(route->nexthop, sizeof(route->nexthop), "%s",
             colon != NULL && colon[1] != '\0' ? colon + 1 : nexthop);
}

static const char *rewrite_transport_lookup(struct relay *r, const char *addr,
                                            const char *domain)
{
    const char *v;

    if (maplist_count(r->transport_maps) == 0)
        return NULL;
    if ((v = maplist_lookup(r->transport_maps, addr)) != NULL)
        return v;
    if ((v = maplist_lookup(r->transport_maps, domain)) != NULL)
        return v;
    for (const char *d = strchr(domain, '.'); d != NULL; d = strchr(d + 1, '.'))
        if ((v = maplist_lookup(r->transport_maps, d)) != NULL)
            return v;
    return maplist_lookup(r->transport_maps, "*");
}

void rewrite_resolve(struct relay *r, const char *addr,
                     struct rewrite_route *route)
{
    struct resolve_result res;
    const char *channel = NULL, *t, *domain;

    memset(route, 0, sizeof(*route));
    rewrite_resolve_addr(r, addr, &res);
    domain = res.domain;
    if (res.flags & RESOLVE_FLAG_ERROR) {
        /* qmgr's answer to a resolver syntax error. */
        snprintf(route->transport, sizeof(route->transport), "error");
        snprintf(route->nexthop, sizeof(route->nexthop), "bad address syntax");
        return;
    }
    if (resolve_externalize(res.addr, route->rcpt, sizeof(route->rcpt)) < 0)
        snprintf(route->rcpt, sizeof(route->rcpt), "%s", addr);
    switch (rewrite_class_of(r, &res)) {
    case REWRITE_CLASS_ALIAS:
        snprintf(route->transport, sizeof(route->transport), "error");
        snprintf(route->nexthop, sizeof(route->nexthop),
                 "User unknown in virtual alias table");
        return;
    case REWRITE_CLASS_LOCAL:
        snprintf(route->transport, sizeof(route->transport), "local");
        snprintf(route->nexthop, sizeof(route->nexthop), "%s", domain);
        break;
    case REWRITE_CLASS_VIRTUAL:
        /* No relayhost: the mailboxes are this site's (resolve.c's
         * virtual class has the recipient domain as its next hop). */
        rewrite_channel(route, r->p.virtual_transport, domain);
        break;
    case REWRITE_CLASS_RELAY:
        channel = r->p.relay_transport;
        break;
    case REWRITE_CLASS_DEFAULT:
        channel = r->p.default_transport;
        break;
    }
    if (channel != NULL)
        rewrite_channel(route, channel,
                        r->p.relayhost[0] ? r->p.relayhost : domain);
    if ((t = rewrite_transport_lookup(r, res.addr, domain)) != NULL)
        rewrite_apply_transport(t, domain, route);
}
