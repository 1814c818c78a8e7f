/*
 * zone.c — the zones fakedns serves: RFC 1035 section 5 master-file text
 * parsed by ldns ($ORIGIN, $TTL, "@", relative names, parentheses), then
 * checked (relative names need an origin, records must lie at or below the
 * apex, one zone per apex) and searched. A zone without an SOA gets a
 * synthesised one so negative answers can carry it (RFC 2308 section 3).
 * Before ldns reads the text, our directives are taken out of it (see
 * fakedns.h): $FAULT lines become fault rules, $LISTED lines DNSBL/RHSBL
 * records (RFC 5782) with the test points of section 5.
 * Names compare case-insensitively (RFC 4343); the zone owns its records.
 */
#include <arpa/inet.h>
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
    int line = 0, ret = -1, soa_at = 0;

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
        /* RFC 1035 section 5.2: one SOA, at the top of the zone. (ldns
         * would skip a second one, and libldns 1.8.3 dereferences NULL
         * comparing owner-less ones: found by the zone fuzz target.) */
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && soa_at > 0) {
            snprintf(err, errlen,
                     "%s:%d: a second SOA record (the zone's is at line %d)",
                     name, at, soa_at);
            ldns_rr_free(rr);
            goto done;
        }
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
            soa_at = at;
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

/* What the directives of one zone text gave ($FAULT, $LISTED). */
struct zone_directives {
    struct fakedns_fault *faults;
    size_t nfaults;
    ldns_rr_list *rrs;       /* $LISTED records, owned */
    ldns_rdf *listed_origin; /* the origin of the first $LISTED, owned */
    int kinds;               /* ZONE_LISTED_* seen */
};

#define ZONE_LISTED_V4 1
#define ZONE_LISTED_V6 2
#define ZONE_LISTED_NAME 4
#define ZONE_LISTED_CODE "127.0.0.2" /* RFC 5782 section 2.1 */
#define ZONE_TOKENS_MAX 32

static void zone_directives_clear(struct zone_directives *d)
{
    free(d->faults);
    ldns_rr_list_deep_free(d->rrs);
    ldns_rdf_deep_free(d->listed_origin);
}

/* Split a directive line in place into blank-separated tokens; a token
 * in double quotes may hold blanks and the escapes \" \\ \DDD (RFC 1035
 * section 5.1) and is unescaped, its length in lens. Returns the count,
 * or -1 on an unterminated quote. */
static int zone_tokens(char *line, char **tok, size_t *lens, int *quoted,
                       int max)
{
    char *p = line;
    int n = 0;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0' || *p == ';' || n == max)
            return n;
        quoted[n] = *p == '"';
        if (quoted[n]) {
            char *o = ++p;
            tok[n] = o;
            while (*p != '"') {
                if (*p == '\0')
                    return -1;
                if (*p == '\\' && str_isdigit((unsigned char)p[1]) &&
                    str_isdigit((unsigned char)p[2]) &&
                    str_isdigit((unsigned char)p[3])) {
                    *o++ = (char)((p[1] - '0') * 100 + (p[2] - '0') * 10 +
                                  (p[3] - '0'));
                    p += 4;
                } else {
                    if (*p == '\\' && p[1] != '\0')
                        p++;
                    *o++ = *p++;
                }
            }
            lens[n] = (size_t)(o - tok[n]);
            p++;
            if (*p != '\0')
                *p++ = '\0';
            *o = '\0';
        } else {
            tok[n] = p;
            while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
                p++;
            lens[n] = (size_t)(p - tok[n]);
            if (*p != '\0')
                *p++ = '\0';
        }
        n++;
    }
}

/* An absolute name from directive text: "@" is the origin, "x." is
 * absolute, "x" is relative to origin. Caller frees; NULL when relative
 * without an origin. */
static char *zone_abs_name(const char *tok, const char *origin)
{
    size_t len = strlen(tok);

    if (strcmp(tok, "@") == 0)
        return origin != NULL ? xstrdup(origin) : NULL;
    if (len > 0 && tok[len - 1] == '.')
        return xstrdup(tok);
    if (origin == NULL)
        return NULL;
    return strcmp(origin, ".") == 0 ? xasprintf("%s.", tok)
                                    : xasprintf("%s.%s", tok, origin);
}

/* Add one record from presentation text to d and its owner to owners. */
static int zone_listed_rr(struct zone_directives *d, const char *text, int line,
                          struct zone_owner **owners, size_t *nowners)
{
    ldns_rr *rr = NULL;

    if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
        return -1;
    *owners = xrealloc(*owners, (*nowners + 1) * sizeof(**owners));
    (*owners)[*nowners].name = ldns_rdf_clone(ldns_rr_owner(rr));
    (*owners)[(*nowners)++].line = line;
    ldns_rr_list_push_rr(d->rrs, rr);
    return 0;
}

/* 1 if d already has a record at owner (presentation text). */
static int zone_listed_has(const struct zone_directives *d, const char *owner)
{
    ldns_rdf *o = ldns_dname_new_frm_str(owner);
    int found = 0;

    for (size_t i = 0; o != NULL && i < ldns_rr_list_rr_count(d->rrs); i++)
        if (ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(d->rrs, i)), o) ==
            0)
            found = 1;
    ldns_rdf_deep_free(o);
    return found;
}

/* The A record (code) and, with a reason, the TXT record at owner; the
 * reason cut into strings of at most 255 bytes (RFC 1035 section
 * 3.3.14), quotes, backslashes and unprintables escaped. */
static int zone_listed_entry(struct zone_directives *d, const char *owner,
                             uint32_t ttl, const char *code, const char *reason,
                             size_t rlen, int line, struct zone_owner **owners,
                             size_t *nowners)
{
    struct strbuf sb;
    int ret;

    strbuf_init(&sb);
    strbuf_printf(&sb, "%s %u IN A %s", owner, ttl, code);
    ret = zone_listed_rr(d, sb.buf, line, owners, nowners);
    if (ret == 0 && reason != NULL) {
        strbuf_reset(&sb);
        strbuf_printf(&sb, "%s %u IN TXT", owner, ttl);
        for (size_t i = 0; i < rlen || i == 0; i++) {
            unsigned char c = i < rlen ? (unsigned char)reason[i] : 0;

            if (i % 255 == 0)
                strbuf_puts(&sb, i == 0 ? " \"" : "\" \"");
            if (i >= rlen)
                break;
            if (c == '"' || c == '\\')
                strbuf_printf(&sb, "\\%c", c);
            else if (c < 0x20 || c > 0x7e)
                strbuf_printf(&sb, "\\%03u", c);
            else
                strbuf_putc(&sb, (char)c);
        }
        strbuf_putc(&sb, '"');
        ret = zone_listed_rr(d, sb.buf, line, owners, nowners);
    }
    strbuf_clear(&sb);
    return ret;
}

/* The owners for an address network under origin: the address reversed
 * by octets (IPv4, RFC 5782 section 2.1) or nibbles (IPv6, section 2.4),
 * a wildcard for the part the prefix leaves open, the last partial unit
 * expanded. */
static int zone_listed_net(struct zone_directives *d, const uint8_t *a, int v6,
                           int bits, const char *origin, uint32_t ttl,
                           const char *code, const char *reason, size_t rlen,
                           int line, struct zone_owner **owners,
                           size_t *nowners)
{
    int unit = v6 ? 4 : 8, nunits = v6 ? 32 : 4;
    int full = bits / unit, rest = bits % unit;
    unsigned first = 0, span = 1;
    int ret = 0;

    if (rest != 0) {
        unsigned mask = ((1u << rest) - 1) << (unit - rest);
        unsigned u = v6 ? (full % 2 == 0 ? a[full / 2] >> 4 : a[full / 2] & 15)
                        : a[full];
        first = u & mask;
        span = 1u << (unit - rest);
    }
    for (unsigned v = first; v < first + span && ret == 0; v++) {
        int n = full + (rest != 0);
        struct strbuf sb;

        strbuf_init(&sb);
        if (n < nunits)
            strbuf_puts(&sb, "*.");
        for (int i = n - 1; i >= 0; i--) {
            unsigned u = i == full ? v
                         : v6 ? (i % 2 == 0 ? a[i / 2] >> 4 : a[i / 2] & 15)
                              : a[i];
            strbuf_printf(&sb, v6 ? "%x." : "%u.", u);
        }
        strbuf_puts(&sb, strcmp(origin, ".") == 0 ? "" : origin);
        ret = zone_listed_entry(d, sb.buf, ttl, code, reason, rlen, line,
                                owners, nowners);
        strbuf_clear(&sb);
    }
    return ret;
}

/* One $LISTED line (tokens after the keyword). */
static int zone_listed(struct zone_directives *d, char **tok, size_t *lens,
                       const int *quoted, int n, const char *origin,
                       uint32_t ttl, int line, struct zone_owner **owners,
                       size_t *nowners, char *why, size_t whylen)
{
    const char *code = ZONE_LISTED_CODE, *reason = NULL;
    size_t rlen = 0;
    struct in_addr check;
    uint8_t addr[16];
    char *slash, *owner;
    long bits;
    int i = 1, v6, numeric, ret;

    if (n < 1 || quoted[0]) {
        snprintf(why, whylen, "$LISTED needs an address, network or domain");
        return -1;
    }
    if (origin == NULL) {
        snprintf(why, whylen,
                 "$LISTED but no origin (set $ORIGIN or give "
                 "the zone's origin)");
        return -1;
    }
    if (i < n && !quoted[i]) {
        code = tok[i++];
        if (inet_pton(AF_INET, code, &check) != 1) {
            snprintf(why, whylen,
                     "bad return code \"%s\" (an IPv4 address "
                     "such as 127.0.0.2)",
                     code);
            return -1;
        }
    }
    if (i < n && quoted[i]) {
        reason = tok[i];
        rlen = lens[i++];
    }
    if (i < n) {
        snprintf(why, whylen, "unexpected \"%s\" after $LISTED %s", tok[i],
                 tok[0]);
        return -1;
    }
    if (d->listed_origin == NULL)
        d->listed_origin = ldns_dname_new_frm_str(origin);
    slash = strchr(tok[0], '/');
    if (slash != NULL)
        *slash = '\0';
    v6 = strchr(tok[0], ':') != NULL;
    /* Digits and dots only: meant as an IPv4 address, never a domain. */
    numeric = strspn(tok[0], "0123456789.") == strlen(tok[0]);
    if (inet_pton(v6 ? AF_INET6 : AF_INET, tok[0], addr) == 1) {
        bits = v6 ? 128 : 32;
        if (slash != NULL && (str_to_long(slash + 1, &bits) < 0 ||
                              bits > (v6 ? 128 : 32) || bits < (v6 ? 16 : 8))) {
            snprintf(why, whylen, "bad prefix length \"/%s\" (%d to %d)",
                     slash + 1, v6 ? 16 : 8, v6 ? 128 : 32);
            return -1;
        }
        d->kinds |= v6 ? ZONE_LISTED_V6 : ZONE_LISTED_V4;
        ret = zone_listed_net(d, addr, v6, (int)bits, origin, ttl, code, reason,
                              rlen, line, owners, nowners);
    } else if (slash != NULL || v6 || numeric) {
        snprintf(why, whylen, "bad address \"%s\"", tok[0]);
        return -1;
    } else {
        /* RHSBL: the domain itself under the zone (RFC 5782 2.2). */
        size_t len = strlen(tok[0]);
        if (len > 0 && tok[0][len - 1] == '.')
            tok[0][len - 1] = '\0';
        d->kinds |= ZONE_LISTED_NAME;
        owner = zone_abs_name(tok[0], origin);
        ret = zone_listed_entry(d, owner, ttl, code, reason, rlen, line, owners,
                                nowners);
        free(owner);
    }
    if (ret < 0)
        snprintf(why, whylen, "cannot list \"%s\"", tok[0]);
    return ret;
}

/* RFC 5782 section 5: the test points of the kinds listed, unless the
 * author listed them already. */
static int zone_listed_test_points(struct zone_directives *d, uint32_t ttl,
                                   int line, struct zone_owner **owners,
                                   size_t *nowners)
{
    static const char *const names[] = {
        "2.0.0.127",
        "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
        "test"};
    static const int kinds[] = {ZONE_LISTED_V4, ZONE_LISTED_V6,
                                ZONE_LISTED_NAME};
    static const char reason[] = "RFC 5782 test point";
    char *origin = ldns_rdf2str(d->listed_origin);
    int ret = 0;

    for (size_t i = 0; i < 3 && ret == 0 && origin != NULL; i++) {
        char *owner;

        if ((d->kinds & kinds[i]) == 0)
            continue;
        owner = zone_abs_name(names[i], origin);
        if (!zone_listed_has(d, owner))
            ret = zone_listed_entry(d, owner, ttl, ZONE_LISTED_CODE, reason,
                                    sizeof(reason) - 1, line, owners, nowners);
        free(owner);
    }
    free(origin);
    return ret;
}

/* One $FAULT line (tokens after the keyword). */
static int zone_fault(struct zone_directives *d, char **tok, int n,
                      const char *origin, char *why, size_t whylen)
{
    struct fakedns_fault f;
    struct strbuf spec;
    char *name;
    int i = 1, ret = -1;

    memset(&f, 0, sizeof(f));
    strbuf_init(&spec);
    if (n < 2) {
        snprintf(why, whylen, "$FAULT needs a name and a fault");
        goto done;
    }
    if ((name = zone_abs_name(tok[0], origin)) == NULL) {
        snprintf(why, whylen, "relative name \"%s\" but no origin", tok[0]);
        goto done;
    }
    if (fakedns_fault_set_name(&f, name) < 0) {
        snprintf(why, whylen, "bad name \"%s\"", tok[0]);
        free(name);
        goto done;
    }
    free(name);
    if (strcmp(tok[1], "*") == 0 || str_casecmp(tok[1], "ANY") == 0)
        i = 2;
    else if ((f.type = ldns_get_rr_type_by_name(tok[1])) != 0)
        i = 2;
    for (; i < n; i++) {
        strbuf_puts(&spec, tok[i]);
        strbuf_putc(&spec, ' ');
    }
    if (fakedns_fault_parse(&f, spec.buf ? spec.buf : "", why, whylen) < 0)
        goto done;
    f.from_zone = 1;
    d->faults = xrealloc(d->faults, (d->nfaults + 1) * sizeof(*d->faults));
    d->faults[d->nfaults++] = f;
    ret = 0;

done:
    strbuf_clear(&spec);
    return ret;
}

/* Take the $FAULT and $LISTED lines out of buf (each becomes a comment,
 * so ldns's line numbers stay right), following $ORIGIN and $TTL to
 * resolve them, and collect what they say into d. Lines inside
 * parentheses are never directives. Returns 0 or -1 with err set. */
static int zone_directives(char *buf, size_t len, const char *name,
                           int first_line, const char *origin,
                           struct zone_directives *d,
                           struct zone_owner **owners, size_t *nowners,
                           char *err, size_t errlen)
{
    char *cur = origin != NULL ? xstrdup(origin) : NULL;
    uint32_t ttl = ZONE_DEFAULT_TTL;
    size_t off = 0;
    int depth = 0, lineno = 0, last = first_line, ret = -1;

    d->rrs = ldns_rr_list_new();
    while (off < len) {
        char *line = buf + off, *nl = memchr(line, '\n', len - off);
        size_t ll = nl != NULL ? (size_t)(nl - line) : len - off;
        int at = first_line + lineno++;

        off += ll + 1;
        if (depth == 0 && ll > 0 && line[0] == '$') {
            char *copy = xstrndup(line, ll), *tok[ZONE_TOKENS_MAX], why[300];
            size_t lens[ZONE_TOKENS_MAX];
            int quoted[ZONE_TOKENS_MAX];
            int n = zone_tokens(copy, tok, lens, quoted, ZONE_TOKENS_MAX), rc;
            long v;

            rc = 0;
            why[0] = '\0';
            if (n < 0) {
                snprintf(why, sizeof(why), "unterminated quote");
                rc = -1;
            } else if (str_casecmp(tok[0], "$ORIGIN") == 0 && n >= 2) {
                char *o = zone_abs_name(tok[1], cur);
                if (o != NULL) {
                    free(cur);
                    cur = o;
                }
            } else if (str_casecmp(tok[0], "$TTL") == 0 && n >= 2) {
                if (str_to_seconds(tok[1], 's', &v) == 0 && v <= 2147483647L)
                    ttl = (uint32_t)v;
            } else if (str_casecmp(tok[0], "$FAULT") == 0) {
                rc = zone_fault(d, tok + 1, n - 1, cur, why, sizeof(why));
                memset(line, ' ', ll);
                line[0] = ';';
            } else if (str_casecmp(tok[0], "$LISTED") == 0) {
                rc = zone_listed(d, tok + 1, lens + 1, quoted + 1, n - 1, cur,
                                 ttl, at, owners, nowners, why, sizeof(why));
                last = at;
                memset(line, ' ', ll);
                line[0] = ';';
            }
            free(copy);
            if (rc < 0) {
                snprintf(err, errlen, "%s:%d: %s", name, at, why);
                goto done;
            }
            continue;
        }
        /* Follow parentheses outside quotes and comments (RFC 1035
         * section 5.1) so a continued record is never a directive. */
        for (size_t i = 0, q = 0; i < ll; i++) {
            if (q) {
                if (line[i] == '\\')
                    i++;
                else if (line[i] == '"')
                    q = 0;
            } else if (line[i] == '"') {
                q = 1;
            } else if (line[i] == ';') {
                break;
            } else if (line[i] == '(') {
                depth++;
            } else if (line[i] == ')' && depth > 0) {
                depth--;
            }
        }
    }
    if (d->kinds != 0 &&
        zone_listed_test_points(d, ttl, last, owners, nowners) < 0) {
        snprintf(err, errlen, "%s:%d: cannot add the RFC 5782 test points",
                 name, last);
        goto done;
    }
    ret = 0;

done:
    free(cur);
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
    struct zone_directives dir;
    char *buf = NULL, *s = NULL, *t = NULL, *otext = NULL;
    FILE *fp = NULL;
    ldns_status st;
    int line = 0, ret = -1;

    memset(&dir, 0, sizeof(dir));
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
    if (noorigin == NULL)
        otext = ldns_rdf2str(orig);
    if (zone_directives(buf, len, name, first_line, otext, &dir, &owners,
                        &nowners, err, errlen) < 0)
        goto done;
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
    for (size_t i = 0; i < ldns_rr_list_rr_count(dir.rrs); i++)
        ldns_rr_list_push_rr(all, ldns_rr_clone(ldns_rr_list_rr(dir.rrs, i)));

    z = xcalloc(1, sizeof(*z));
    if (ldns_zone_soa(lz) != NULL)
        z->apex = ldns_rdf_clone(ldns_rr_owner(ldns_zone_soa(lz)));
    else if (noorigin == NULL)
        z->apex = ldns_rdf_clone(orig);
    else if (dir.listed_origin != NULL)
        z->apex = ldns_rdf_clone(dir.listed_origin);
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
    for (size_t i = 0; i < dir.nfaults; i++)
        fakedns_fault_add(fd, &dir.faults[i]);
    /* Cached answers (REFUSED, NXDOMAIN...) may no longer hold. */
    fakedns_cache_flush(&fd->cache);
    ret = 0;

done:
    if (fp != NULL)
        fclose(fp);
    free(buf);
    free(s);
    free(t);
    free(otext);
    zone_directives_clear(&dir);
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
