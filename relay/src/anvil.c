/*
 * anvil.c — Postfix anvil(8)'s bookkeeping, in the relay's process: per
 * (service, client address) the connections open now and the events of
 * the current rate window (connections, MAIL, RCPT). As anvil does, a
 * window starts with the first event after the last one ran out
 * (anvil_rate_time_unit) and the counts restart from zero; state with no
 * connection open is forgotten one time unit later. Kept in a hash
 * table whose chains are swept as they are walked, so memory follows the
 * clients of the last time unit. Ownership: anvil_free() frees all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anvil.h"
#include "mxlab/clock.h"
#include "mxlab/config.h"
#include "mxlab/xmem.h"
#include "mynetworks.h"
#include "params.h"

#define ANVIL_BUCKETS 1024

struct anvil_entry {
    char *ident; /* "service:address" */
    int count;   /* connections open now */
    int rate, mail, rcpt;
    time_t start;   /* the rate window's first event */
    time_t dropped; /* when count fell to 0 */
    struct anvil_entry *next;
};

struct anvil {
    struct anvil_entry *bucket[ANVIL_BUCKETS];
    size_t n;
};

struct anvil *anvil_new(void)
{
    return xcalloc(1, sizeof(struct anvil));
}

void anvil_free(struct anvil *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < ANVIL_BUCKETS; i++)
        while (a->bucket[i] != NULL) {
            struct anvil_entry *e = a->bucket[i];
            a->bucket[i] = e->next;
            free(e->ident);
            free(e);
        }
    free(a);
}

size_t anvil_size(const struct anvil *a)
{
    return a->n;
}

static unsigned anvil_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % ANVIL_BUCKETS;
}

/* The entry for (service, addr), or NULL (create: a new one, counts 0).
 * Idle entries met on the way that have outlived their time unit go. */
static struct anvil_entry *anvil_find(struct anvil *a, const char *service,
                                      const char *addr, long unit, int create)
{
    char *ident = xasprintf("%s:%s", service, addr);
    struct anvil_entry **pp = &a->bucket[anvil_hash(ident)], *found = NULL;
    time_t now = clock_time();

    while (*pp != NULL) {
        struct anvil_entry *e = *pp;
        if (e->count == 0 && now - e->dropped >= unit) {
            *pp = e->next;
            free(e->ident);
            free(e);
            a->n--;
            continue;
        }
        if (strcmp(e->ident, ident) == 0)
            found = e;
        pp = &e->next;
    }
    if (found == NULL && create) {
        found = xcalloc(1, sizeof(*found));
        found->ident = ident;
        found->start = now;
        found->dropped = now;
        *pp = found;
        a->n++;
        ident = NULL;
    }
    free(ident);
    /* anvil: the window ran out, the rates start again. */
    if (found != NULL && found->start + unit < now) {
        found->rate = found->mail = found->rcpt = 0;
        found->start = now;
    }
    return found;
}

void anvil_connect(struct anvil *a, const char *service, const char *addr,
                   long unit, int *count, int *rate)
{
    struct anvil_entry *e = anvil_find(a, service, addr, unit, 1);

    e->count++;
    e->rate++;
    *count = e->count;
    *rate = e->rate;
}

void anvil_disconnect(struct anvil *a, const char *service, const char *addr,
                      long unit)
{
    struct anvil_entry *e = anvil_find(a, service, addr, unit, 0);

    if (e != NULL && e->count > 0 && --e->count == 0)
        e->dropped = clock_time();
}

int anvil_mail(struct anvil *a, const char *service, const char *addr,
               long unit)
{
    struct anvil_entry *e = anvil_find(a, service, addr, unit, 0);

    return e != NULL ? ++e->mail : 0;
}

int anvil_rcpt(struct anvil *a, const char *service, const char *addr,
               long unit)
{
    struct anvil_entry *e = anvil_find(a, service, addr, unit, 0);

    return e != NULL ? ++e->rcpt : 0;
}

int anvil_load_params(struct config *cf, struct relay_params *p, char *err,
                      size_t errlen)
{
    static const char exc[] = "smtpd_client_event_limit_exceptions";
    static const char old[] = "smtpd_client_connection_limit_exceptions";
    const char *raw;

    /* The counts and times are typed parameters (params.c). The
     * default, ${smtpd_client_connection_limit_exceptions:$mynetworks}
     * (the older name's value if set), with $mynetworks standing for the
     * computed list. */
    raw = config_is_set(cf, exc)   ? config_raw(cf, exc)
          : config_is_set(cf, old) ? config_raw(cf, old)
                                   : "$mynetworks";
    return mynetworks_load_list(cf, p, exc, raw, 1, &p->event_limit_exceptions,
                                &p->nevent_limit_exceptions, err, errlen);
}
