/*
 * update.c — records added, replaced or removed in a loaded zone while it
 * is served (fakedns_update_zone), the SOA serial bumped (RFC 1982
 * arithmetic, ldns_rr_soa_increment). Resolvers cache what they were
 * told for its TTL (RFC 1035 section 3.2.1, RFC 2181 section 8): an
 * RRset that changes while a resolver holds it keeps being answered, its
 * TTL counting down, until that cache entry would have expired. Which
 * resolver cache holds what is read from the query log: the lab's SUTs
 * share fakedns as their resolver, so it answers as their cache would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns_int.h"
#include "mxlab/clock.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define UPDATE_DEFAULT_TTL 3600

/* An RRset still held by the resolver cache after it changed. */
struct fakedns_stale {
    ldns_rr_list *rrs; /* owned; owner and type from the first */
    time_t until;      /* on the lab clock */
};

static int update_same_set(const ldns_rr *a, const ldns_rdf *owner,
                           ldns_rr_type type)
{
    return ldns_rr_get_type(a) == type &&
           ldns_dname_compare(ldns_rr_owner(a), owner) == 0;
}

/* When a cache that is asked whenever the log shows a query for
 * (owner, type) last filled itself: a query answers from the cache until
 * fill + ttl, the next one after that fills it again. -1: never. */
static long long update_fill_time(const struct fakedns *fd,
                                  const ldns_rdf *owner, ldns_rr_type type,
                                  uint32_t ttl)
{
    char *name = ldns_rdf2str(owner);
    long long fill = -1;

    if (name == NULL)
        return -1;
    str_lower(name);
    for (size_t i = 0; i < fd->nlog; i++) {
        const struct fakedns_query *q = &fd->log[i];
        if (q->type != (int)type || q->rcode != 0 ||
            q->fault != FAKEDNS_FAULT_NONE || strcmp(q->name, name) != 0)
            continue;
        if (fill < 0 || (long long)q->time.tv_sec >= fill + ttl)
            fill = (long long)q->time.tv_sec;
    }
    free(name);
    return fill;
}

/* removed holds the old records of one RRset: keep them as stale if a
 * resolver still caches them; else free them. */
static void update_keep_stale(struct fakedns *fd, ldns_rr_list *removed)
{
    const ldns_rr *first = ldns_rr_list_rr(removed, 0);
    uint32_t ttl = ldns_rr_ttl(first);
    long long fill;

    for (size_t i = 1; i < ldns_rr_list_rr_count(removed); i++)
        if (ldns_rr_ttl(ldns_rr_list_rr(removed, i)) < ttl)
            ttl = ldns_rr_ttl(ldns_rr_list_rr(removed, i));
    fill = update_fill_time(fd, ldns_rr_owner(first), ldns_rr_get_type(first),
                            ttl);
    if (fill < 0 || fill + ttl <= (long long)clock_time()) {
        ldns_rr_list_deep_free(removed);
        return;
    }
    fd->stale = xrealloc(fd->stale, (fd->nstale + 1) * sizeof(*fd->stale));
    fd->stale[fd->nstale].rrs = removed;
    fd->stale[fd->nstale].until = (time_t)(fill + ttl);
    fd->nstale++;
}

/* Take the records of (owner, type) out of z (type 0: every type; rdata
 * not NULL: only that record) into RRsets kept as stale. How many. */
static size_t update_remove(struct fakedns *fd, struct fakedns_zone *z,
                            const ldns_rdf *owner, ldns_rr_type type,
                            const ldns_rr *rdata)
{
    ldns_rr_list *keep = ldns_rr_list_new();
    size_t n = 0;

    for (;;) {
        ldns_rr_list *removed = ldns_rr_list_new();
        ldns_rr_type t = 0;
        for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++) {
            ldns_rr *rr = ldns_rr_list_rr(z->rrs, i);
            int hit = rr != z->soa &&
                      ldns_dname_compare(ldns_rr_owner(rr), owner) == 0 &&
                      (type == 0 || ldns_rr_get_type(rr) == type) &&
                      (t == 0 || ldns_rr_get_type(rr) == t) &&
                      (rdata == NULL || ldns_rr_compare(rr, rdata) == 0);
            if (hit) {
                t = ldns_rr_get_type(rr);
                ldns_rr_list_push_rr(removed, rr);
            } else {
                ldns_rr_list_push_rr(keep, rr);
            }
        }
        /* z->rrs now lives in keep and removed: swap the lists. */
        ldns_rr_list_free(z->rrs);
        z->rrs = keep;
        keep = ldns_rr_list_new();
        n += ldns_rr_list_rr_count(removed);
        if (ldns_rr_list_rr_count(removed) == 0) {
            ldns_rr_list_free(removed);
            break;
        }
        update_keep_stale(fd, removed);
        if (type != 0)
            break;
    }
    ldns_rr_list_free(keep);
    return n;
}

/* "delete NAME [TYPE [RDATA]]" */
static int update_delete(struct fakedns *fd, struct fakedns_zone *z,
                         const char *args, char *why, size_t whylen)
{
    struct strlist w;
    ldns_rdf *owner = NULL;
    ldns_rr *rdata = NULL;
    ldns_rr_type type = 0;
    int rc = -1;

    strlist_init(&w);
    strlist_split(&w, args);
    if (w.n == 0) {
        snprintf(why, whylen, "delete NAME [TYPE [RDATA]] expected");
        goto done;
    }
    if (strcmp(w.v[0], "@") == 0)
        owner = ldns_rdf_clone(z->apex);
    else if ((owner = ldns_dname_new_frm_str(w.v[0])) != NULL &&
             !ldns_dname_str_absolute(w.v[0]))
        ldns_dname_cat(owner, z->apex);
    if (owner == NULL) {
        snprintf(why, whylen, "bad name \"%s\"", w.v[0]);
        goto done;
    }
    if (w.n >= 2 && (type = ldns_get_rr_type_by_name(w.v[1])) == 0) {
        snprintf(why, whylen, "unknown type \"%s\"", w.v[1]);
        goto done;
    }
    if (w.n >= 3) {
        /* "NAME 0 IN TYPE RDATA" as a record, to compare its data. */
        const char *rest = args + strspn(args, " \t");
        for (int f = 0; f < 2; f++) {
            rest += strcspn(rest, " \t");
            rest += strspn(rest, " \t");
        }
        char *line = xasprintf("%s 0 IN %s %s", w.v[0], w.v[1], rest);
        ldns_status st = ldns_rr_new_frm_str(&rdata, line, 0, z->apex, NULL);
        free(line);
        if (st != LDNS_STATUS_OK) {
            snprintf(why, whylen, "%s", ldns_get_errorstr_by_id(st));
            goto done;
        }
        ldns_rr_set_ttl(rdata, 0);
    }
    if (update_remove(fd, z, owner, type, rdata) == 0)
        snprintf(why, whylen, "delete %s: no such record", args);
    else
        rc = 0;
done:
    ldns_rdf_deep_free(owner);
    ldns_rr_free(rdata);
    strlist_clear(&w);
    return rc;
}

/* A record line, with "add" (to its RRset) or without (the RRset
 * replaced; by the first such line of the change only). */
static int update_record(struct fakedns *fd, struct fakedns_zone *z,
                         const char *text, int add, ldns_rr_list *replaced,
                         ldns_rdf **prev, char *why, size_t whylen)
{
    ldns_rr *rr = NULL;
    ldns_status st =
        ldns_rr_new_frm_str(&rr, text, UPDATE_DEFAULT_TTL, z->apex, prev);

    if (st != LDNS_STATUS_OK) {
        snprintf(why, whylen, "%s", ldns_get_errorstr_by_id(st));
        return -1;
    }
    if (!fakedns_dname_under(ldns_rr_owner(rr), z->apex)) {
        snprintf(why, whylen, "the record is outside the zone");
        ldns_rr_free(rr);
        return -1;
    }
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
        snprintf(why, whylen,
                 "the SOA is not changed this way (its serial "
                 "goes up by itself)");
        ldns_rr_free(rr);
        return -1;
    }
    if (!add) {
        int done = 0;
        for (size_t i = 0; i < ldns_rr_list_rr_count(replaced) && !done; i++)
            done = update_same_set(ldns_rr_list_rr(replaced, i),
                                   ldns_rr_owner(rr), ldns_rr_get_type(rr));
        if (!done) {
            update_remove(fd, z, ldns_rr_owner(rr), ldns_rr_get_type(rr), NULL);
            ldns_rr_list_push_rr(replaced, ldns_rr_clone(rr));
        }
    }
    ldns_rr_list_push_rr(z->rrs, rr);
    return 0;
}

static struct fakedns_zone *update_find(struct fakedns *fd, const char *origin)
{
    ldns_rdf *o = ldns_dname_new_frm_str(origin);
    struct fakedns_zone *z = NULL;

    for (size_t i = 0; o != NULL && i < fd->nzones && z == NULL; i++)
        if (ldns_dname_compare(fd->zones[i]->apex, o) == 0)
            z = fd->zones[i];
    ldns_rdf_deep_free(o);
    return z;
}

int fakedns_update_zone(struct fakedns *fd, const char *name, int first_line,
                        const char *origin, const char *text, char *err,
                        size_t errlen)
{
    struct fakedns_zone *z = update_find(fd, origin);
    ldns_rr_list *replaced = ldns_rr_list_new();
    ldns_rdf *prev = NULL;
    int line = first_line, rc = 0;

    if (z == NULL) {
        snprintf(err, errlen, "%s:%d: no zone %s is loaded", name,
                 first_line - 1, origin);
        ldns_rr_list_free(replaced);
        return -1;
    }
    fakedns_stale_expire(fd);
    for (const char *l = text; *l != '\0' && rc == 0; line++) {
        size_t len = strcspn(l, "\n");
        char *copy = xstrndup(l, len), *t = str_trim(copy);
        char why[300] = "";
        l += len + (l[len] == '\n');
        if (*t == '\0' || *t == ';' || *t == '#') {
            free(copy);
            continue;
        }
        if (strncmp(t, "delete ", 7) == 0)
            rc = update_delete(fd, z, t + 7, why, sizeof(why));
        else if (strncmp(t, "add ", 4) == 0)
            rc = update_record(fd, z, t + 4, 1, replaced, &prev, why,
                               sizeof(why));
        else
            rc = update_record(fd, z, t, 0, replaced, &prev, why, sizeof(why));
        if (rc < 0)
            snprintf(err, errlen, "%s:%d: %s", name, line, why);
        free(copy);
    }
    ldns_rr_soa_increment((ldns_rr *)z->soa);
    ldns_rr_list_deep_free(replaced);
    ldns_rdf_deep_free(prev);
    fakedns_cache_flush(&fd->cache);
    return rc;
}

void fakedns_stale_expire(struct fakedns *fd)
{
    size_t k = 0;
    time_t now = clock_time();

    for (size_t i = 0; i < fd->nstale; i++) {
        if (fd->stale[i].until > now)
            fd->stale[k++] = fd->stale[i];
        else
            ldns_rr_list_deep_free(fd->stale[i].rrs);
    }
    fd->nstale = k;
    if (k == 0) {
        free(fd->stale);
        fd->stale = NULL;
    }
}

size_t fakedns_stale_copy(struct fakedns *fd, const ldns_rdf *owner,
                          ldns_rr_type type, const ldns_rdf *as_owner,
                          ldns_rr_list *out)
{
    time_t now = clock_time();
    size_t n = 0;

    for (size_t i = 0; i < fd->nstale && n == 0; i++) {
        const struct fakedns_stale *st = &fd->stale[i];
        if (st->until <= now ||
            !update_same_set(ldns_rr_list_rr(st->rrs, 0), owner, type))
            continue;
        for (size_t k = 0; k < ldns_rr_list_rr_count(st->rrs); k++) {
            ldns_rr *copy = ldns_rr_clone(ldns_rr_list_rr(st->rrs, k));
            ldns_rdf_deep_free(ldns_rr_owner(copy));
            ldns_rr_set_owner(copy, ldns_rdf_clone(as_owner));
            /* what the cache has left of the TTL */
            ldns_rr_set_ttl(copy, (uint32_t)(st->until - now));
            ldns_rr_list_push_rr(out, copy);
            n++;
        }
    }
    return n;
}

void fakedns_stale_free(struct fakedns *fd)
{
    for (size_t i = 0; i < fd->nstale; i++)
        ldns_rr_list_deep_free(fd->stale[i].rrs);
    free(fd->stale);
    fd->stale = NULL;
    fd->nstale = 0;
}
