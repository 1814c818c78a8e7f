/*
 * rewrite.c — address classes and routing, as Postfix's trivial-rewrite
 * (resolve.c) and cleanup (virtual alias expansion) do them:
 * ADDRESS_CLASS_README, virtual(5), transport(5).
 * Order of classes: virtual alias domain, then (for other domains) relay
 * domain or default; mydestination is the local class. relayhost replaces
 * the next hop of relay and default classes; transport_maps override all
 * but the virtual alias class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"
#include "relay_int.h"

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
            struct map *m = relay_table(r, pat);
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

enum rewrite_class rewrite_class(struct relay *r, const char *addr)
{
    const char *domain = smtp_addr_domain(addr);

    if (*domain == '\0' || rewrite_is_local_domain(r, domain))
        return REWRITE_CLASS_LOCAL;
    if (rewrite_domain_match(r, &r->p.virtual_alias_domains, domain, 0))
        return REWRITE_CLASS_ALIAS;
    if (rewrite_domain_match(r, &r->p.relay_domains, domain, 1))
        return REWRITE_CLASS_RELAY;
    return REWRITE_CLASS_DEFAULT;
}

int rewrite_auth_destination(struct relay *r, const char *addr)
{
    enum rewrite_class cls = rewrite_class(r, addr);
    const char *at = strrchr(addr, '@');

    /* allow_untrusted_routing = no: sender-specified routing
     * (user%site@relay.domain, site!user@relay.domain) through a relay
     * domain is not an authorised destination. */
    if (cls == REWRITE_CLASS_RELAY && !r->p.allow_untrusted_routing &&
        at != NULL && strcspn(addr, "%!@") < (size_t)(at - addr))
        return 0;
    return cls != REWRITE_CLASS_DEFAULT;
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
    const char *domain = smtp_addr_domain(addr);
    const char *channel = NULL, *t;

    memset(route, 0, sizeof(*route));
    switch (rewrite_class(r, addr)) {
    case REWRITE_CLASS_ALIAS:
        snprintf(route->transport, sizeof(route->transport), "error");
        snprintf(route->nexthop, sizeof(route->nexthop),
                 "User unknown in virtual alias table");
        return;
    case REWRITE_CLASS_LOCAL:
        snprintf(route->transport, sizeof(route->transport), "local");
        snprintf(route->nexthop, sizeof(route->nexthop), "%s", domain);
        break;
    case REWRITE_CLASS_RELAY:
        channel = r->p.relay_transport;
        break;
    case REWRITE_CLASS_DEFAULT:
        channel = r->p.default_transport;
        break;
    }
    if (channel != NULL) {
        snprintf(route->nexthop, sizeof(route->nexthop), "%s",
                 r->p.relayhost[0] ? r->p.relayhost : domain);
        snprintf(route->transport, sizeof(route->transport), "%s", channel);
        /* An explicit main.cf "transport:nexthop" overrides the nexthop. */
        char *colon = strchr(route->transport, ':');
        if (colon != NULL) {
            *colon = '\0';
            if (colon[1] != '\0')
                snprintf(route->nexthop, sizeof(route->nexthop), "%s",
                         strchr(channel, ':') + 1);
        }
    }
    if ((t = rewrite_transport_lookup(r, addr, domain)) != NULL)
        rewrite_apply_transport(t, domain, route);
}
