/*
 * mynetworks.c — the networks of main.cf (postconf(5) mynetworks,
 * mynetworks_style) and the lists that name networks the same way
 * (smtpd_forbid_bare_newline_exclusions, smtpd_client_event_limit_
 * exceptions), and this host's interface addresses.
 */
#include "mynetworks.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/config.h"
#include "mxlab/log.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "params.h"

/* "file:line: " where name was set, or "main.cf: ". */
static const char *mynetworks_where(struct config *cf, const char *name,
                                    char *buf, size_t len)
{
    const char *where = config_where(cf, name);

    snprintf(buf, len, "%s: ", where ? where : "main.cf");
    return buf;
}

static void mynetworks_add(struct relay_params *p, const struct cidr *c)
{
    p->mynetworks =
        xrealloc(p->mynetworks, (p->nmynetworks + 1) * sizeof(*p->mynetworks));
    p->mynetworks[p->nmynetworks++] = *c;
}

int mynetworks_inet_interface(const struct relay_params *p,
                              const struct netaddr *a)
{
    char x[64], y[64];

    netaddr_ip(a, x, sizeof(x));
    for (size_t i = 0; i < p->ninet_addrs; i++)
        if (strcmp(netaddr_ip(&p->inet_addrs[i], y, sizeof(y)), x) == 0)
            return 1;
    return 0;
}

static int mynetworks_mask_bits(const struct sockaddr *mask)
{
    const unsigned char *m;
    size_t n;
    int bits = 0;

    if (mask->sa_family == AF_INET) {
        m = (const unsigned char *)&((const struct sockaddr_in *)mask)
                ->sin_addr;
        n = 4;
    } else {
        m = (const unsigned char *)&((const struct sockaddr_in6 *)mask)
                ->sin6_addr;
        n = 16;
    }
    for (size_t k = 0; k < n; k++)
        for (int b = 7; b >= 0; b--)
            bits += (m[k] >> b) & 1;
    return bits;
}

/* This host's interface addresses (permit_inet_interfaces, and the
 * default mynetworks from mynetworks_style when mynetworks is unset). */
static void mynetworks_interfaces(struct config *cf, struct relay_params *p)
{
    const char *style = config_get(cf, "mynetworks_style");
    int want_nets = !config_is_set(cf, "mynetworks");
    struct ifaddrs *ifa, *i;
    struct cidr c;

    if (getifaddrs(&ifa) < 0) {
        if (want_nets && cidr_parse("127.0.0.1/32", &c) == 0)
            mynetworks_add(p, &c);
        return;
    }
    for (i = ifa; i != NULL; i = i->ifa_next) {
        struct netaddr na;
        char ip[64], *spec;
        int bits;

        if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
                                    i->ifa_addr->sa_family != AF_INET6))
            continue;
        netaddr_from_sa(&na, i->ifa_addr,
                        i->ifa_addr->sa_family == AF_INET
                            ? sizeof(struct sockaddr_in)
                            : sizeof(struct sockaddr_in6));
        p->inet_addrs = xrealloc(p->inet_addrs,
                                 (p->ninet_addrs + 1) * sizeof(*p->inet_addrs));
        p->inet_addrs[p->ninet_addrs++] = na;
        if (!want_nets)
            continue;
        netaddr_ip(&na, ip, sizeof(ip));
        bits = na.ss.ss_family == AF_INET ? 32 : 128;
        if (strcmp(style, "host") != 0 && i->ifa_netmask != NULL)
            bits = mynetworks_mask_bits(i->ifa_netmask);
        spec = na.ss.ss_family == AF_INET6 ? xasprintf("[%s]/%d", ip, bits)
                                           : xasprintf("%s/%d", ip, bits);
        if (cidr_parse(spec, &c) == 0)
            mynetworks_add(p, &c);
        free(spec);
    }
    freeifaddrs(ifa);
}

int mynetworks_load(struct config *cf, struct relay_params *p, char *err,
                    size_t errlen)
{
    struct strlist l;
    struct cidr c;
    int rc = 0;

    mynetworks_interfaces(cf, p);
    if (!config_is_set(cf, "mynetworks"))
        return 0;
    strlist_init(&l);
    strlist_split(&l, config_get(cf, "mynetworks"));
    for (size_t i = 0; i < l.n; i++) {
        if (cidr_parse(l.v[i], &c) < 0) {
            const char *where = config_where(cf, "mynetworks");
            snprintf(err, errlen, "%s%smynetworks: bad network/mask \"%s\"",
                     where ? where : "", where ? ": " : "", l.v[i]);
            rc = -1;
            break;
        }
        mynetworks_add(p, &c);
    }
    strlist_clear(&l);
    return rc;
}

/* A host or domain name, a "type:table" or a "!" negation: words that
 * Postfix's address lists take besides networks. */
static int mynetworks_not_network(const char *w)
{
    size_t alpha = 0;

    if (*w == '!')
        return 1;
    while (str_isalpha((unsigned char)w[alpha]))
        alpha++;
    if (alpha > 1 && w[alpha] == ':')
        return 1;
    if (strchr(w, '/') != NULL || *w == '[')
        return 0;
    for (; *w != '\0'; w++)
        if (str_isalpha((unsigned char)*w) && *w != ':')
            return 1;
    return 0;
}

int mynetworks_load_list(struct config *cf, const struct relay_params *p,
                         const char *name, const char *raw, int names_ok,
                         struct cidr **out, size_t *nout, char *err,
                         size_t errlen)
{
    struct strlist words;
    char where[256];
    int rc = 0;

    strlist_init(&words);
    strlist_split(&words, raw);
    for (size_t i = 0; i < words.n && rc == 0; i++) {
        const char *t = words.v[i];
        if (strcmp(t, "$mynetworks") == 0 || strcmp(t, "${mynetworks}") == 0 ||
            strcmp(t, "$(mynetworks)") == 0) {
            *out = xrealloc(*out, (*nout + p->nmynetworks + 1) * sizeof(**out));
            memcpy(*out + *nout, p->mynetworks,
                   p->nmynetworks * sizeof(struct cidr));
            *nout += p->nmynetworks;
            continue;
        }
        char *text = config_expand(cf, t);
        struct strlist sub;
        strlist_init(&sub);
        strlist_split(&sub, text);
        for (size_t k = 0; k < sub.n && rc == 0; k++) {
            struct cidr c;
            if (cidr_parse(sub.v[k], &c) < 0 && names_ok &&
                mynetworks_not_network(sub.v[k])) {
                /* Postfix also takes host and domain names and tables
                 * here; the relay matches addresses only. */
                log_warnx("%s%s: \"%s\" is not an address or network: "
                          "mxlab-relay ignores it",
                          mynetworks_where(cf, name, where, sizeof(where)),
                          name, sub.v[k]);
                continue;
            }
            if (cidr_parse(sub.v[k], &c) < 0) {
                snprintf(err, errlen, "%s%s: bad network/mask \"%s\"",
                         mynetworks_where(cf, name, where, sizeof(where)), name,
                         sub.v[k]);
                rc = -1;
                break;
            }
            *out = xrealloc(*out, (*nout + 1) * sizeof(**out));
            (*out)[(*nout)++] = c;
        }
        strlist_clear(&sub);
        free(text);
    }
    strlist_clear(&words);
    return rc;
}
