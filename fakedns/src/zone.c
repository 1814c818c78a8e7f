/*
 * zone.c — the zones fakedns serves: RFC 1035 section 5 master-file text
 * parsed by ldns ($ORIGIN, $TTL, "@", relative names, parentheses), then
 * checked (relative names need an origin, records must lie at or below the
 * apex, one zone per apex) and searched. A zone without an SOA gets a
 * synthesised one so negative answers can carry it (RFC 2308 section 3).
 * Names compare case-insensitively (RFC 4343); the zone owns its records.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns_int.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

/* Without an origin ldns would silently make relative names relative to
 * the root; made relative to this name instead, zone_scan can find and
 * report them. */
#define ZONE_NO_ORIGIN "no-origin.fakedns.invalid."

/* TTL of records when the text has neither $TTL nor an explicit TTL. */
#define ZONE_DEFAULT_TTL 3600

/* The SOA given to a zone that has none: plausible values, the negative
 * caching TTL (RFC 2308 section 4) short so tests never wait on it. */
#define ZONE_SYNTH_SOA "@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300"

/* Equal wire-format names, ASCII case folded. Length octets are below 64
 * and so are never changed by folding. */
static int zone_bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_tolower(a[i]) != str_tolower(b[i]))
            return 0;
    return 1;
}

int fakedns_dname_under(const ldns_rdf *name, const ldns_rdf *parent)
{
    const uint8_t *n = ldns_rdf_data(name), *p = ldns_rdf_data(parent);
    size_t nlen = ldns_rdf_size(name), plen = ldns_rdf_size(parent);
    size_t off = 0;

    /* Walk the label boundaries of name: parent must be a whole suffix. */
    while (off < nlen && nlen - off >= plen) {
        if (nlen - off == plen)
            return zone_bytes_eq(n + off, p, plen);
        if (n[off] == 0)
            break;
        off += 1 + (size_t)n[off];
    }
    return 0;
}

static int zone_dname_eq(const ldns_rdf *a, const ldns_rdf *b)
{
    return ldns_rdf_size(a) == ldns_rdf_size(b) &&
           zone_bytes_eq(ldns_rdf_data(a), ldns_rdf_data(b), ldns_rdf_size(a));
}

/* 1 if some record is owned by name. */
static int zone_owns(const struct fakedns_zone *z, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++)
        if (zone_dname_eq(ldns_rr_owner(ldns_rr_list_rr(z->rrs, i)), name))
            return 1;
    return 0;
}

/* Presentation form of a name; caller frees. */
static char *zone_dname_str(const ldns_rdf *d)
{
    char *s = ldns_rdf2str(d);
    char *copy;

    if (s == NULL)
        return xstrdup("?");
    copy = xstrdup(s);
    free(s);
    return copy;
}

void fakedns_zone_free(struct fakedns_zone *z)
{
    if (z == NULL)
        return;
    ldns_rr_list_deep_free(z->rrs);
    ldns_rdf_deep_free(z->apex);
    free(z);
}

/* A relative name used while there was no origin: its text without the
 * placeholder origin (caller frees), or NULL if rr has none. */
static char *zone_relative_name(const ldns_rr *rr, const ldns_rdf *noorigin)
{
    for (size_t i = 0; i <= ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *d = i == 0 ? ldns_rr_owner(rr) : ldns_rr_rdf(rr, i - 1);
        char *s;
        size_t slen, olen = strlen(ZONE_NO_ORIGIN);

        if (d == NULL || ldns_rdf_get_type(d) != LDNS_RDF_TYPE_DNAME ||
            !fakedns_dname_under(d, noorigin))
            continue;
        s = zone_dname_str(d);
        slen = strlen(s);
        if (slen > olen)
            s[slen - olen - 1] = '\0'; /* drop ".no-origin..." */
        else
            strcpy(s, "@");
        return s;
    }
    return NULL;
}

/* The deepest name at or above every owner in rrs; caller frees. */
static ldns_rdf *zone_common_apex(const ldns_rr_list *rrs)
{
    ldns_rdf *apex = ldns_rdf_clone(ldns_rr_owner(ldns_rr_list_rr(rrs, 0)));

    for (size_t i = 1; i < ldns_rr_list_rr_count(rrs); i++) {
        const ldns_rdf *owner = ldns_rr_owner(ldns_rr_list_rr(rrs, i));

        /* The root is above every name, so this ends. */
        while (!fakedns_dname_under(owner, apex)) {
            ldns_rdf *up = ldns_dname_left_chop(apex);
            ldns_rdf_deep_free(apex);
            apex = up;
        }
    }
    return apex;
}

/* Build the origin name from the caller's text ("example.org" is taken
 * as absolute). NULL if malformed. */
static ldns_rdf *zone_origin(const char *origin)
{
    ldns_rdf *d = NULL;
    size_t len = strlen(origin);
    char *s = (len > 0 && origin[len - 1] == '.') ? xstrdup(origin)
                                                  : xasprintf("%s.", origin);

    if (ldns_str2rdf_dname(&d, s) != LDNS_STATUS_OK)
        d = NULL;
    free(s);
    return d;
}

/* Owners seen by zone_scan, with the line each record ends on. */
struct zone_owner {
    ldns_rdf *name;
    int line;
};

static void zone_owners_free(struct zone_owner *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ldns_rdf_deep_free(v[i].name);
    free(v);
}

/* First pass, record by record: syntax errors and relative names without
 * an origin, each with its line, and the owners for the later checks.
 * This pass exists because ldns_zone_new_frm_fp_l() leaks the records it
 * parsed before an error; the second pass (ldns's, for its TTL rules)
 * then reads text known to be good. Returns 0 or -1 with err set. */
static int zone_scan(FILE *fp, const char *name, int first_line,
                     const ldns_rdf *origin, const ldns_rdf *noorigin,
                     struct zone_owner **owners, size_t *nowners, char *err,
                     size_t errlen)
{
    ldns_rdf *my_origin = ldns_rdf_clone(origin);
    ldns_rdf *my_prev = ldns_rdf_clone(origin);
    uint32_t ttl = ZONE_DEFAULT_TTL;
    int line = 0, ret = -1;

    while (!feof(fp)) {
        ldns_rr *rr = NULL;
        ldns_status st =
            ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &my_origin, &my_prev, &line);
        int at = first_line + (line > 0 ? line - 1 : 0);
        char *rel;

        if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
            st == LDNS_STATUS_SYNTAX_ORIGIN)
            continue;
        if (st == LDNS_STATUS_SYNTAX_INCLUDE)
            st = LDNS_STATUS_SYNTAX_INCLUDE_ERR_NOTIMPL;
        if (st != LDNS_STATUS_OK) {
            snprintf(err, errlen, "%s:%d: %s", name, at,
                     ldns_get_errorstr_by_id(st));
            goto done;
        }
        rel = noorigin != NULL ? zone_relative_name(rr, noorigin) : NULL;
        if (rel != NULL) {
            snprintf(err, errlen,
                     "%s:%d: relative name \"%s\" but no origin (set "
                     "$ORIGIN or give the zone's origin)",
                     name, at, rel);
            free(rel);
            ldns_rr_free(rr);
            goto done;
        }
        *owners = xrealloc(*owners, (*nowners + 1) * sizeof(**owners));
        (*owners)[*nowners].name = ldns_rdf_clone(ldns_rr_owner(rr));
        (*owners)[(*nowners)++].line = at;
        ldns_rr_free(rr);
    }
    ret = 0;

done:
    ldns_rdf_deep_free(my_origin);
    ldns_rdf_deep_free(my_prev);
    return ret;
}

int fakedns_zone_load(struct fakedns *fd, const char *name, int first_line,
                      const char *origin, const char *text, size_t len,
                      char *err, size_t errlen)
{
    ldns_rdf *orig = NULL, *noorigin = NULL;
    ldns_zone *lz = NULL;
    ldns_rr_list *all = NULL;
    struct fakedns_zone *z = NULL;
    struct zone_owner *owners = NULL;
    size_t nowners = 0;
    ldns_rr *soa = NULL;
    char *buf = NULL, *s = NULL, *t = NULL;
    FILE *fp = NULL;
    ldns_status st;
    int line = 0, ret = -1;

    if (origin != NULL && origin[0] != '\0') {
        if ((orig = zone_origin(origin)) == NULL) {
            snprintf(err, errlen, "%s:%d: bad origin \"%s\"", name, first_line,
                     origin);
            goto done;
        }
    } else {
        orig = noorigin = ldns_dname_new_frm_str(ZONE_NO_ORIGIN);
    }

    /* ldns counts a line when it reads its newline: make sure the last
     * line has one, so an error there is not reported one line early. */
    buf = xmalloc(len + 1);
    memcpy(buf, text, len);
    if (len == 0 || buf[len - 1] != '\n')
        buf[len++] = '\n';
    if ((fp = fmemopen(buf, len, "r")) == NULL) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        goto done;
    }
    if (zone_scan(fp, name, first_line, orig, noorigin, &owners, &nowners, err,
                  errlen) < 0)
        goto done;
    rewind(fp);
    st = ldns_zone_new_frm_fp_l(&lz, fp, orig, ZONE_DEFAULT_TTL,
                                LDNS_RR_CLASS_IN, &line);
    if (st != LDNS_STATUS_OK) {
        snprintf(err, errlen, "%s:%d: %s", name,
                 first_line + (line > 0 ? line - 1 : 0),
                 ldns_get_errorstr_by_id(st));
        goto done;
    }

    /* One list of everything, the SOA first. */
    all = ldns_rr_list_new();
    if (ldns_zone_soa(lz) != NULL)
        ldns_rr_list_push_rr(all, ldns_rr_clone(ldns_zone_soa(lz)));
    for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_zone_rrs(lz)); i++)
        ldns_rr_list_push_rr(
            all, ldns_rr_clone(ldns_rr_list_rr(ldns_zone_rrs(lz), i)));

    z = xcalloc(1, sizeof(*z));
    if (ldns_zone_soa(lz) != NULL)
        z->apex = ldns_rdf_clone(ldns_rr_owner(ldns_zone_soa(lz)));
    else if (noorigin == NULL)
        z->apex = ldns_rdf_clone(orig);
    else if (ldns_rr_list_rr_count(all) > 0)
        z->apex = zone_common_apex(all);
    else {
        snprintf(err, errlen, "%s: no records and no origin", name);
        goto done;
    }

    for (size_t i = 0; i < nowners; i++) {
        if (!fakedns_dname_under(owners[i].name, z->apex)) {
            s = zone_dname_str(owners[i].name);
            t = zone_dname_str(z->apex);
            snprintf(err, errlen, "%s:%d: \"%s\" is outside the zone \"%s\"",
                     name, owners[i].line, s, t);
            goto done;
        }
    }
    for (size_t i = 0; i < fd->nzones; i++) {
        if (zone_dname_eq(fd->zones[i]->apex, z->apex)) {
            t = zone_dname_str(z->apex);
            snprintf(err, errlen, "%s: zone \"%s\" is already loaded", name, t);
            goto done;
        }
    }

    if (ldns_zone_soa(lz) == NULL) {
        if (ldns_rr_new_frm_str(&soa, ZONE_SYNTH_SOA, 0, z->apex, NULL) !=
            LDNS_STATUS_OK) {
            snprintf(err, errlen, "%s: cannot synthesise an SOA", name);
            goto done;
        }
        ldns_rr_list_push_rr(all, soa);
    }
    z->soa = soa != NULL ? soa : ldns_rr_list_rr(all, 0);
    z->rrs = all;
    all = NULL;
    fd->zones = xrealloc(fd->zones, (fd->nzones + 1) * sizeof(*fd->zones));
    fd->zones[fd->nzones++] = z;
    z = NULL;
    ret = 0;

done:
    if (fp != NULL)
        fclose(fp);
    free(buf);
    free(s);
    free(t);
    zone_owners_free(owners, nowners);
    if (z != NULL) {
        ldns_rdf_deep_free(z->apex);
        free(z);
    }
    ldns_rr_list_deep_free(all);
    if (lz != NULL)
        ldns_zone_deep_free(lz);
    ldns_rdf_deep_free(orig);
    return ret;
}

const struct fakedns_zone *fakedns_zone_find(const struct fakedns *fd,
                                             const ldns_rdf *name)
{
    const struct fakedns_zone *best = NULL;

    /* The closest enclosing zone wins (a child zone loaded beside its
     * parent answers for its own names). */
    for (size_t i = 0; i < fd->nzones; i++) {
        const struct fakedns_zone *z = fd->zones[i];

        if (fakedns_dname_under(name, z->apex) &&
            (best == NULL ||
             ldns_rdf_size(z->apex) > ldns_rdf_size(best->apex)))
            best = z;
    }
    return best;
}

int fakedns_zone_exists(const struct fakedns_zone *z, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++)
        if (fakedns_dname_under(ldns_rr_owner(ldns_rr_list_rr(z->rrs, i)),
                                name))
            return 1;
    return 0;
}

size_t fakedns_zone_copy(const struct fakedns_zone *z, const ldns_rdf *owner,
                         ldns_rr_type type, const ldns_rdf *as_owner,
                         ldns_rr_list *out)
{
    size_t n = 0;

    for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(z->rrs, i);
        ldns_rr *copy;

        if (!zone_dname_eq(ldns_rr_owner(rr), owner) ||
            (type != LDNS_RR_TYPE_ANY && ldns_rr_get_type(rr) != type))
            continue;
        copy = ldns_rr_clone(rr);
        ldns_rdf_deep_free(ldns_rr_owner(copy));
        ldns_rr_set_owner(copy, ldns_rdf_clone(as_owner));
        ldns_rr_list_push_rr(out, copy);
        n++;
    }
    return n;
}

const ldns_rr *fakedns_zone_get(const struct fakedns_zone *z,
                                const ldns_rdf *owner, ldns_rr_type type)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(z->rrs, i);

        if (ldns_rr_get_type(rr) == type &&
            zone_dname_eq(ldns_rr_owner(rr), owner))
            return rr;
    }
    return NULL;
}

ldns_rdf *fakedns_zone_wildcard(const struct fakedns_zone *z,
                                const ldns_rdf *name)
{
    ldns_rdf *encloser = ldns_dname_left_chop(name), *wild = NULL;
    uint8_t data[LDNS_MAX_DOMAINLEN + 1];
    size_t elen;

    /* The closest encloser: the nearest existing ancestor. The apex
     * exists (it owns the SOA), so the walk stays inside the zone. */
    while (encloser != NULL && !fakedns_zone_exists(z, encloser)) {
        ldns_rdf *up = ldns_dname_left_chop(encloser);
        ldns_rdf_deep_free(encloser);
        encloser = up;
    }
    if (encloser == NULL)
        return NULL;
    elen = ldns_rdf_size(encloser);
    if (elen + 2 <= LDNS_MAX_DOMAINLEN) {
        data[0] = 1;
        data[1] = '*';
        memcpy(data + 2, ldns_rdf_data(encloser), elen);
        wild = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, elen + 2, data);
    }
    ldns_rdf_deep_free(encloser);
    if (wild != NULL && zone_owns(z, wild))
        return wild;
    ldns_rdf_deep_free(wild);
    return NULL;
}
