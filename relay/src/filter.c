/*
 * filter.c — the after-queue content filter of Postfix's FILTER_README:
 * content_filter values checked and split as qmgr(8) splits them, the
 * master.cf delivery services that a transport name reaches (with their
 * own parameters, as each master.cf service has), and
 * receive_override_options. See filter.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "mxlab/config.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "relay.h"

int filter_split(const char *value, char transport[FILTER_TRANSPORT_MAX + 1],
                 char nexthop[FILTER_NEXTHOP_MAX + 1])
{
    size_t n = strcspn(value, ":");
    const char *hop = value[n] == ':' ? value + n + 1 : "";

    if (n == 0 || n > FILTER_TRANSPORT_MAX || strlen(hop) > FILTER_NEXTHOP_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (!str_isalnum(c) && strchr("._-", c) == NULL)
            return -1;
    }
    for (const char *p = hop; *p != '\0'; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return -1;
    if (transport != NULL) {
        memcpy(transport, value, n);
        transport[n] = '\0';
    }
    if (nexthop != NULL)
        snprintf(nexthop, FILTER_NEXTHOP_MAX + 1, "%s", hop);
    return 0;
}

int filter_receive_overrides(const char *value, char *bad, size_t badlen)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {
        {"no_unknown_recipient_checks", FILTER_NO_UNKNOWN_RECIPIENT_CHECKS},
        {"no_address_mappings", FILTER_NO_ADDRESS_MAPPINGS},
        {"no_header_body_checks", FILTER_NO_HEADER_BODY_CHECKS},
        {"no_milters", FILTER_NO_MILTERS},
    };
    struct strlist words;
    int bits = 0;

    strlist_init(&words);
    strlist_split(&words, value);
    for (size_t i = 0; i < words.n && bits >= 0; i++) {
        size_t k = 0;
        while (k < sizeof(names) / sizeof(names[0]) &&
               str_casecmp(words.v[i], names[k].name) != 0)
            k++;
        if (k < sizeof(names) / sizeof(names[0])) {
            bits |= names[k].bit;
        } else {
            snprintf(bad, badlen, "%s", words.v[i]);
            bits = -1;
        }
    }
    strlist_clear(&words);
    return bits;
}

/* The process name Postfix logs for a delivery service: its command,
 * after "syslog_name" when the service sets one ("-o
 * syslog_name=postfix/$service_name": "relay/smtp"). */
static char *filter_logname(struct config *cf, const char *command)
{
    const char *sys = config_get(cf, "syslog_name");

    if (strncmp(sys, "postfix/", 8) == 0 && sys[8] != '\0')
        return xasprintf("%s/%s", sys + 8, command);
    return xstrdup(command);
}

int filter_transport_add(struct relay *r, const char *name, const char *command,
                         const char *maxproc, struct config *cf,
                         const char *where, char *err, size_t errlen)
{
    struct relay_transport *t = xcalloc(1, sizeof(*t));
    long n = 0;
    int rc;

    t->refs = 1;
    t->name = xstrdup(name);
    t->lmtp = strcmp(command, "lmtp") == 0;
    t->cf = cf;
    config_set(cf, "service_name", name);
    t->logname = filter_logname(cf, command);
    if (strcmp(maxproc, "-") == 0) {
        n = config_get_long(cf, "default_process_limit", err, errlen);
    } else if (str_to_long(maxproc, &n) < 0 || n < 0) {
        snprintf(err, errlen, "%s: bad maxproc field \"%s\" (a number or -)",
                 where, maxproc);
        n = -1;
    }
    t->maxproc = n;
    rc = n < 0 ? -1 : relay_service_params(r, cf, &t->p, err, errlen);
    if (rc < 0) {
        filter_transport_release(t);
        return -1;
    }
    t->next = r->transports;
    r->transports = t;
    return 0;
}

struct relay_transport *filter_transport_find(struct relay *r, const char *name)
{
    for (struct relay_transport *t = r->transports; t != NULL; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

void filter_transport_release(struct relay_transport *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    relay_service_params_free(&t->p);
    config_free(t->cf);
    free(t->logname);
    free(t->name);
    free(t);
}

void filter_transport_free_all(struct relay *r)
{
    while (r->transports != NULL) {
        struct relay_transport *t = r->transports;
        r->transports = t->next;
        filter_transport_release(t);
    }
}
