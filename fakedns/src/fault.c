/*
 * fault.c — fault rules: the SPEC syntax of fakedns.h parsed into a
 * struct fakedns_fault, the runtime API (fakedns_set_fault,
 * fakedns_clear_faults) and the per-query decision. Deterministic: a
 * rule fires by its own query counter (nth, count, pattern) or by a
 * PRNG seeded from the spec, never from the clock. The rules are an
 * array owned by struct fakedns, runtime ones first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns_int.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define FAULT_DELAY_MAX 600000 /* ms: ten minutes is already forever */

const char *fakedns_fault_name(enum fakedns_fault_kind kind)
{
    switch (kind) {
    case FAKEDNS_FAULT_NONE:
        return "none";
    case FAKEDNS_FAULT_SERVFAIL:
        return "servfail";
    case FAKEDNS_FAULT_REFUSED:
        return "refused";
    case FAKEDNS_FAULT_NXDOMAIN:
        return "nxdomain";
    case FAKEDNS_FAULT_TIMEOUT:
        return "timeout";
    case FAKEDNS_FAULT_DELAY:
        return "delay";
    case FAKEDNS_FAULT_TRUNCATE:
        return "truncate";
    case FAKEDNS_FAULT_MALFORMED:
        return "malformed";
    }
    return "unknown";
}

/* A decimal value after "key=" within [min, max]. */
static int fault_number(const char *tok, const char *val, long min, long max,
                        long *out, char *err, size_t errlen)
{
    if (str_to_long(val, out) < 0 || *out < min || *out > max) {
        snprintf(err, errlen, "bad value in \"%s\" (%ld to %ld)", tok, min,
                 max);
        return -1;
    }
    return 0;
}

int fakedns_fault_parse(struct fakedns_fault *f, const char *spec, char *err,
                        size_t errlen)
{
    static const struct {
        const char *word;
        enum fakedns_fault_kind kind;
    } kinds[] = {
        {"servfail", FAKEDNS_FAULT_SERVFAIL},
        {"refused", FAKEDNS_FAULT_REFUSED},
        {"nxdomain", FAKEDNS_FAULT_NXDOMAIN},
        {"timeout", FAKEDNS_FAULT_TIMEOUT},
        {"truncate", FAKEDNS_FAULT_TRUNCATE},
        {"malformed", FAKEDNS_FAULT_MALFORMED},
    };
    struct strlist toks;
    long v, seed = -1;
    int ret = -1;

    f->kind = FAKEDNS_FAULT_NONE;
    f->delay_ms = 0;
    f->transports = 0;
    f->nth = f->count = 0;
    f->pattern[0] = '\0';
    f->percent = -1;
    f->seen = 0;
    strlist_init(&toks);
    strlist_split(&toks, spec != NULL ? spec : "");
    for (size_t i = 0; i < toks.n; i++) {
        const char *t = toks.v[i], *val;
        size_t k;

        for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
            if (str_casecmp(t, kinds[k].word) == 0)
                break;
        if (k < sizeof(kinds) / sizeof(kinds[0])) {
            if (f->kind != FAKEDNS_FAULT_NONE &&
                f->kind != FAKEDNS_FAULT_DELAY) {
                snprintf(err, errlen, "two fault kinds (\"%s\")", t);
                goto done;
            }
            f->kind = kinds[k].kind;
        } else if ((val = str_casestart(t, "delay=")) != NULL) {
            if (fault_number(t, val, 0, FAULT_DELAY_MAX, &v, err, errlen) < 0)
                goto done;
            f->delay_ms = (int)v;
            if (f->kind == FAKEDNS_FAULT_NONE)
                f->kind = FAKEDNS_FAULT_DELAY;
        } else if ((val = str_casestart(t, "nth=")) != NULL) {
            if (fault_number(t, val, 1, 1000000000L, &v, err, errlen) < 0)
                goto done;
            f->nth = (unsigned long)v;
        } else if ((val = str_casestart(t, "count=")) != NULL) {
            if (fault_number(t, val, 1, 1000000000L, &v, err, errlen) < 0)
                goto done;
            f->count = (unsigned long)v;
        } else if ((val = str_casestart(t, "percent=")) != NULL) {
            if (fault_number(t, val, 0, 100, &v, err, errlen) < 0)
                goto done;
            f->percent = (int)v;
        } else if ((val = str_casestart(t, "seed=")) != NULL) {
            if (fault_number(t, val, 0, 2147483647L, &seed, err, errlen) < 0)
                goto done;
        } else if ((val = str_casestart(t, "pattern=")) != NULL) {
            size_t n = strlen(val);
            if (n == 0 || n >= sizeof(f->pattern) || strspn(val, "x.") != n) {
                snprintf(err, errlen,
                         "bad pattern \"%s\" (1 to %zu of 'x' and '.')", val,
                         sizeof(f->pattern) - 1);
                goto done;
            }
            memcpy(f->pattern, val, n + 1);
        } else if (str_casecmp(t, "udp") == 0) {
            f->transports |= FAKEDNS_FAULT_UDP;
        } else if (str_casecmp(t, "tcp") == 0) {
            f->transports |= FAKEDNS_FAULT_TCP;
        } else {
            snprintf(err, errlen, "unknown fault \"%s\"", t);
            goto done;
        }
    }
    if (f->kind == FAKEDNS_FAULT_NONE) {
        snprintf(err, errlen,
                 "no fault kind (servfail, refused, nxdomain, timeout, "
                 "delay=MS, truncate, malformed)");
        goto done;
    }
    if ((f->nth != 0) + (f->count != 0) + (f->pattern[0] != '\0') +
            (f->percent >= 0) >
        1) {
        snprintf(err, errlen,
                 "nth, count, pattern and percent exclude "
                 "each other");
        goto done;
    }
    if ((f->percent >= 0) != (seed >= 0)) {
        snprintf(err, errlen, "percent= needs seed= (and seed= percent=)");
        goto done;
    }
    /* splitmix64 wants a non-zero-looking start; any seed gives one. */
    f->rng = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 1;
    if (f->transports == 0)
        f->transports = f->kind == FAKEDNS_FAULT_TRUNCATE
                            ? FAKEDNS_FAULT_UDP
                            : FAKEDNS_FAULT_UDP | FAKEDNS_FAULT_TCP;
    ret = 0;

done:
    strlist_clear(&toks);
    return ret;
}

int fakedns_fault_set_name(struct fakedns_fault *f, const char *name)
{
    ldns_rdf *d = NULL;
    size_t len = strlen(name);
    char *s;
    int ret = -1;

    f->wild = 0;
    if (name[0] == '*' && (name[1] == '.' || name[1] == '\0')) {
        f->wild = 1;
        name += name[1] == '.' ? 2 : 1;
        len = strlen(name);
    }
    if (len == 0)
        s = xstrdup(".");
    else
        s = name[len - 1] == '.' ? xstrdup(name) : xasprintf("%s.", name);
    if (ldns_str2rdf_dname(&d, s) == LDNS_STATUS_OK &&
        ldns_rdf_size(d) <= sizeof(f->name)) {
        f->namelen = ldns_rdf_size(d);
        memcpy(f->name, ldns_rdf_data(d), f->namelen);
        for (size_t i = 0; i < f->namelen; i++)
            f->name[i] = (uint8_t)str_tolower(f->name[i]);
        ret = 0;
    }
    ldns_rdf_deep_free(d);
    free(s);
    return ret;
}

void fakedns_fault_add(struct fakedns *fd, const struct fakedns_fault *f)
{
    size_t at;

    for (size_t i = 0; i < fd->nfaults; i++) {
        struct fakedns_fault *o = &fd->faults[i];

        if (o->from_zone == f->from_zone && o->type == f->type &&
            o->wild == f->wild && o->namelen == f->namelen &&
            memcmp(o->name, f->name, f->namelen) == 0) {
            *o = *f;
            return;
        }
    }
    /* Runtime faults before zone faults, each kind in the order set. */
    at = fd->nfaults;
    if (!f->from_zone)
        for (at = 0; at < fd->nfaults && !fd->faults[at].from_zone; at++)
            ;
    fd->faults = xrealloc(fd->faults, (fd->nfaults + 1) * sizeof(*fd->faults));
    memmove(fd->faults + at + 1, fd->faults + at,
            (fd->nfaults - at) * sizeof(*fd->faults));
    fd->faults[at] = *f;
    fd->nfaults++;
}

int fakedns_set_fault(struct fakedns *fd, const char *name, int type,
                      const char *spec, char *err, size_t errlen)
{
    struct fakedns_fault f;

    memset(&f, 0, sizeof(f));
    if (name == NULL || fakedns_fault_set_name(&f, name) < 0) {
        snprintf(err, errlen, "bad fault name \"%s\"", name ? name : "(null)");
        return -1;
    }
    if (type < 0 || type > 65535) {
        snprintf(err, errlen, "bad fault type %d", type);
        return -1;
    }
    f.type = type;
    if (fakedns_fault_parse(&f, spec, err, errlen) < 0)
        return -1;
    fakedns_fault_add(fd, &f);
    return 0;
}

void fakedns_clear_faults(struct fakedns *fd, const char *name, int type)
{
    struct fakedns_fault key;
    size_t j = 0;

    memset(&key, 0, sizeof(key));
    if (name != NULL && fakedns_fault_set_name(&key, name) < 0)
        return;
    for (size_t i = 0; i < fd->nfaults; i++) {
        const struct fakedns_fault *f = &fd->faults[i];
        int drop = !f->from_zone &&
                   (name == NULL ||
                    (f->wild == key.wild && f->namelen == key.namelen &&
                     memcmp(f->name, key.name, key.namelen) == 0 &&
                     (type == 0 || f->type == type)));

        if (!drop)
            fd->faults[j++] = *f;
    }
    fd->nfaults = j;
}

/* 1 if the lower-cased wire name q is f's name (or, wild, below it). */
static int fault_name_matches(const struct fakedns_fault *f, const uint8_t *q,
                              size_t qlen)
{
    size_t off = 0;

    if (!f->wild)
        return qlen == f->namelen && memcmp(q, f->name, qlen) == 0;
    /* Strictly below: skip at least one label, then compare a suffix
     * that starts on a label boundary. */
    while (off < qlen && q[off] != 0) {
        off += 1 + (size_t)q[off];
        if (off >= qlen)
            break;
        if (qlen - off == f->namelen &&
            memcmp(q + off, f->name, f->namelen) == 0)
            return 1;
        if (qlen - off < f->namelen)
            break;
    }
    return 0;
}

/* splitmix64: small, good enough, and the same on every platform. */
static uint64_t fault_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

const struct fakedns_fault *fakedns_fault_match(struct fakedns *fd,
                                                const uint8_t *qname,
                                                size_t qnamelen, int qtype,
                                                int tcp)
{
    int transport = tcp ? FAKEDNS_FAULT_TCP : FAKEDNS_FAULT_UDP;

    for (size_t i = 0; i < fd->nfaults; i++) {
        struct fakedns_fault *f = &fd->faults[i];
        unsigned long k;

        if ((f->transports & transport) == 0 ||
            (f->type != 0 && f->type != qtype) ||
            !fault_name_matches(f, qname, qnamelen))
            continue;
        /* The first matching rule decides, firing or not. */
        k = ++f->seen;
        if (f->nth != 0)
            return k == f->nth ? f : NULL;
        if (f->count != 0)
            return k <= f->count ? f : NULL;
        if (f->pattern[0] != '\0')
            return f->pattern[(k - 1) % strlen(f->pattern)] == 'x' ? f : NULL;
        if (f->percent >= 0)
            return fault_next(&f->rng) % 100 < (uint64_t)f->percent ? f : NULL;
        return f;
    }
    return NULL;
}
