/*
 * answer.c — one query in, one response out, as an authoritative server
 * answers (RFC 1034 section 4.3.2): AA set, CNAMEs followed within our
 * zones, NXDOMAIN vs NODATA with the SOA in the authority section
 * (RFC 2308 sections 2.1, 2.2), wildcards (RFC 4592), EDNS (RFC 6891) and
 * truncation to what the client can take over UDP (RFC 1035 section
 * 4.2.1); faults (fault.c) bend the answer. Two paths: a plain query
 * (one question, no compression, at most an OPT) is read by hand and,
 * without a fault, answered from a cache of finished answers keyed by
 * question, EDNS and size limit; everything else, and every first
 * answer, goes through ldns. No network here.
 */
#include <stdlib.h>
#include <string.h>

#include "fakedns_int.h"
#include "mxlab/log.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define ANSWER_UDP_MIN 512     /* RFC 1035 section 4.2.1 */
#define ANSWER_EDNS_SIZE 1232  /* our EDNS payload (DNS flag day 2020) */
#define ANSWER_CNAME_MAX 8     /* CNAME hops followed before stopping */
#define ANSWER_BADVERS 16      /* RFC 6891 section 6.1.3 */
#define ANSWER_CACHE_MAX 32768 /* answers kept; past that, built each time */

/* A plain query, as answer_parse_fast read it. */
struct answer_q {
    uint8_t name[255]; /* the question's name, wire form, lower-cased */
    size_t namelen;
    int type, qclass;
    int edns;          /* an OPT record came (version 0) */
    unsigned udp_size; /* its payload size */
};

struct fakedns_cache_entry {
    uint64_t hash;
    struct answer_q key;
    size_t limit;
    size_t len;
    uint8_t wire[];
};

static uint16_t answer_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Read a plain query: header with QR clear, opcode QUERY, QDCOUNT 1, no
 * answer or authority records, at most one additional record, an OPT of
 * EDNS version 0; a question name without compression pointers; nothing
 * after. 1 if so, 0 if the full parser must look at it. Bounds-checked
 * at every step. */
static int answer_parse_fast(const uint8_t *q, size_t len, struct answer_q *out)
{
    size_t off = FAKEDNS_HEADER_SIZE, n = 0;
    unsigned arcount, rdlen;

    if (len < FAKEDNS_HEADER_SIZE || (q[2] & 0xf8) != 0 ||
        answer_u16(q + 4) != 1 || answer_u16(q + 6) != 0 ||
        answer_u16(q + 8) != 0 || (arcount = answer_u16(q + 10)) > 1)
        return 0;
    for (;;) {
        unsigned l;

        if (off >= len)
            return 0;
        l = q[off++];
        if ((l & 0xc0) != 0 || n + 1 + l > sizeof(out->name))
            return 0;
        out->name[n++] = (uint8_t)l;
        if (l == 0)
            break;
        if (l > len - off)
            return 0;
        for (unsigned i = 0; i < l; i++)
            out->name[n++] = (uint8_t)str_tolower(q[off + i]);
        off += l;
    }
    out->namelen = n;
    if (len - off < 4)
        return 0;
    out->type = answer_u16(q + off);
    out->qclass = answer_u16(q + off + 2);
    off += 4;
    out->edns = 0;
    out->udp_size = 0;
    if (arcount == 0)
        return off == len;
    /* RFC 6891 section 6.1.2: root owner, TYPE 41, CLASS the payload
     * size, TTL extended rcode/version/flags, then RDLEN and options. */
    if (len - off < 11 || q[off] != 0 || answer_u16(q + off + 1) != 41 ||
        q[off + 6] != 0)
        return 0;
    out->edns = 1;
    out->udp_size = answer_u16(q + off + 3);
    rdlen = answer_u16(q + off + 9);
    return len - off - 11 == rdlen;
}

/* The most a client takes over this transport (RFC 6891 section 6.2.5:
 * a payload size under 512 means 512). */
static size_t answer_limit(const struct fakedns_peer *peer, int edns,
                           unsigned udp_size)
{
    if (peer->tcp)
        return FAKEDNS_TCP_LIMIT;
    return edns && udp_size > ANSWER_UDP_MIN ? udp_size : ANSWER_UDP_MIN;
}

void fakedns_wire_name_str(const uint8_t *name, size_t len, char *out,
                           size_t outlen)
{
    size_t off = 0, o = 0;

    if (outlen == 0)
        return;
    /* The same escapes as ldns_rdf2str (RFC 1035 section 5.1). */
    while (off < len && name[off] != 0 && o + 5 < outlen) {
        size_t l = name[off++];

        for (size_t i = 0; i < l && off < len && o + 5 < outlen; i++) {
            int c = str_tolower(name[off++]);

            if (c == '.' || c == ';' || c == '(' || c == ')' || c == '\\') {
                out[o++] = '\\';
                out[o++] = (char)c;
            } else if (c < 0x21 || c > 0x7e) {
                o += (size_t)snprintf(out + o, outlen - o, "\\%03d", c);
            } else {
                out[o++] = (char)c;
            }
        }
        out[o++] = '.';
    }
    if (o == 0)
        out[o++] = '.';
    out[o < outlen ? o : outlen - 1] = '\0';
}

/* FNV-1a over the key. */
static uint64_t answer_hash(const struct answer_q *k, size_t limit)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    uint8_t tail[9] = {
        (uint8_t)(k->type >> 8), (uint8_t)k->type, (uint8_t)(k->qclass >> 8),
        (uint8_t)k->qclass,      (uint8_t)k->edns, (uint8_t)(limit >> 16),
        (uint8_t)(limit >> 8),   (uint8_t)limit,   0};

    for (size_t i = 0; i < k->namelen; i++)
        h = (h ^ k->name[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < sizeof(tail); i++)
        h = (h ^ tail[i]) * 0x100000001b3ULL;
    return h;
}

static int answer_key_eq(const struct fakedns_cache_entry *e,
                         const struct answer_q *k, size_t limit)
{
    return e->limit == limit && e->key.namelen == k->namelen &&
           e->key.type == k->type && e->key.qclass == k->qclass &&
           e->key.edns == k->edns &&
           memcmp(e->key.name, k->name, k->namelen) == 0;
}

static const struct fakedns_cache_entry *
answer_cache_find(const struct fakedns_cache *c, const struct answer_q *k,
                  size_t limit, uint64_t h)
{
    if (c->cap == 0)
        return NULL;
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        const struct fakedns_cache_entry *e = c->slots[i];

        if (e == NULL)
            return NULL;
        if (e->hash == h && answer_key_eq(e, k, limit))
            return e;
    }
}

static void answer_cache_put(struct fakedns_cache *c,
                             struct fakedns_cache_entry *e)
{
    size_t i = e->hash & (c->cap - 1);

    while (c->slots[i] != NULL)
        i = (i + 1) & (c->cap - 1);
    c->slots[i] = e;
    c->n++;
}

/* Keep a copy of a true answer for its key (the cache stays at most
 * half full; past ANSWER_CACHE_MAX answers nothing more is kept). */
static void answer_cache_add(struct fakedns_cache *c, const struct answer_q *k,
                             size_t limit, const uint8_t *wire, size_t len)
{
    struct fakedns_cache_entry *e;

    if (c->n >= ANSWER_CACHE_MAX)
        return;
    if ((c->n + 1) * 2 > c->cap) {
        struct fakedns_cache_entry **old = c->slots;
        size_t oldcap = c->cap;

        c->cap = c->cap ? c->cap * 2 : 1024;
        c->slots = xcalloc(c->cap, sizeof(*c->slots));
        c->n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i] != NULL)
                answer_cache_put(c, old[i]);
        free(old);
    }
    e = xmalloc(sizeof(*e) + len);
    e->hash = answer_hash(k, limit);
    e->key = *k;
    e->limit = limit;
    e->len = len;
    memcpy(e->wire, wire, len);
    answer_cache_put(c, e);
}

void fakedns_cache_flush(struct fakedns_cache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->slots[i]);
    free(c->slots);
    c->slots = NULL;
    c->cap = c->n = 0;
}

void fakedns_reply_clear(struct fakedns_reply *r)
{
    if (r->owned)
        free(r->wire);
    memset(r, 0, sizeof(*r));
}

/* A response with the header only (no question): for packets whose body
 * we cannot or need not read. ID, opcode and RD are copied (RFC 1035
 * section 4.1.1). The caller checked that query holds a header. */
static void answer_header_only(const uint8_t *query, int rcode, uint8_t **resp,
                               size_t *rlen)
{
    uint8_t *r = xcalloc(1, FAKEDNS_HEADER_SIZE);

    r[0] = query[0];
    r[1] = query[1];
    r[2] = (uint8_t)(0x80 | (query[2] & 0x79)); /* QR, opcode, RD */
    r[3] = (uint8_t)(rcode & 0x0f);
    *resp = r;
    *rlen = FAKEDNS_HEADER_SIZE;
}

/* The zone's SOA into the authority section of a negative answer, its
 * TTL lowered to the SOA MINIMUM field if that is smaller (RFC 2308
 * section 3). */
static void answer_soa(ldns_pkt *r, const struct fakedns_zone *z)
{
    ldns_rr *soa = ldns_rr_clone(z->soa);
    const ldns_rdf *min = ldns_rr_rdf(soa, 6);

    if (min != NULL && ldns_rdf_get_type(min) == LDNS_RDF_TYPE_PERIOD &&
        ldns_rdf2native_int32(min) < ldns_rr_ttl(soa))
        ldns_rr_set_ttl(soa, ldns_rdf2native_int32(min));
    ldns_rr_list_push_rr(ldns_pkt_authority(r), soa);
}

/* RFC 1034 section 4.3.2, step 3, for our zones: fill r's answer and
 * authority sections and set AA. Returns the rcode. */
static int answer_resolve(struct fakedns *fd, ldns_pkt *r,
                          const ldns_rr *question)
{
    ldns_rr_type qtype = ldns_rr_get_type(question);
    ldns_rr_class qclass = ldns_rr_get_class(question);
    ldns_rdf *name, *wild = NULL;
    int rcode = LDNS_RCODE_NOERROR;

    /* Not authoritative for other classes (RFC 1034 section 4.3.2
     * step 2 leaves them to others): REFUSED, as NSD does. */
    if (qclass != LDNS_RR_CLASS_IN && qclass != LDNS_RR_CLASS_ANY)
        return LDNS_RCODE_REFUSED;
    /* Zone transfers are not offered. */
    if (qtype == LDNS_RR_TYPE_AXFR || qtype == LDNS_RR_TYPE_IXFR)
        return LDNS_RCODE_REFUSED;

    name = ldns_rdf_clone(ldns_rr_owner(question));
    for (int hops = 0;; hops++) {
        const struct fakedns_zone *z = fakedns_zone_find(fd, name);
        const ldns_rdf *owner = name;
        const ldns_rr *cname;

        if (z == NULL) {
            /* Step 2: not ours. After a CNAME hop, the client's resolver
             * follows the rest of the chain itself. */
            rcode = hops == 0 ? LDNS_RCODE_REFUSED : LDNS_RCODE_NOERROR;
            break;
        }
        ldns_pkt_set_aa(r, true);
        /* What resolvers still cache of a changed RRset (update.c). */
        if (fd->nstale > 0 && qtype != LDNS_RR_TYPE_ANY &&
            fakedns_stale_copy(fd, name, qtype, name, ldns_pkt_answer(r)) > 0)
            break;
        if (!fakedns_zone_exists(z, name)) {
            /* Step 3c: a wildcard, or the name does not exist. */
            if ((wild = fakedns_zone_wildcard(z, name)) == NULL) {
                rcode = LDNS_RCODE_NXDOMAIN;
                answer_soa(r, z);
                break;
            }
            owner = wild;
        }
        /* Step 3a: the records asked for, under the name asked for. */
        if (fakedns_zone_copy(z, owner, qtype, name, ldns_pkt_answer(r)) > 0)
            break;
        cname = (qtype == LDNS_RR_TYPE_CNAME || qtype == LDNS_RR_TYPE_ANY)
                    ? NULL
                    : fakedns_zone_get(z, owner, LDNS_RR_TYPE_CNAME);
        if (cname == NULL) {
            /* NODATA (RFC 2308 section 2.2), including empty
             * non-terminals. */
            answer_soa(r, z);
            break;
        }
        fakedns_zone_copy(z, owner, LDNS_RR_TYPE_CNAME, name,
                          ldns_pkt_answer(r));
        if (hops + 1 >= ANSWER_CNAME_MAX)
            break;
        ldns_rdf_deep_free(name);
        name = ldns_rdf_clone(ldns_rr_rdf(cname, 0));
        ldns_rdf_deep_free(wild);
        wild = NULL;
    }
    ldns_rdf_deep_free(wild);
    ldns_rdf_deep_free(name);
    return rcode;
}

/* Empty one section of r. */
static void answer_drop(ldns_pkt *r, ldns_pkt_section section)
{
    switch (section) {
    case LDNS_SECTION_ANSWER:
        ldns_rr_list_deep_free(ldns_pkt_answer(r));
        ldns_pkt_set_answer(r, ldns_rr_list_new());
        break;
    case LDNS_SECTION_AUTHORITY:
        ldns_rr_list_deep_free(ldns_pkt_authority(r));
        ldns_pkt_set_authority(r, ldns_rr_list_new());
        break;
    default:
        ldns_rr_list_deep_free(ldns_pkt_additional(r));
        ldns_pkt_set_additional(r, ldns_rr_list_new());
        break;
    }
}

/* r to wire form within limit bytes: if it does not fit, set TC and
 * send the question alone (RFC 2181 section 9). 0, or -1 on failure. */
static int answer_wire(ldns_pkt *r, size_t limit, uint8_t **resp, size_t *rlen)
{
    for (int pass = 0; pass < 2; pass++) {
        ldns_pkt_set_ancount(
            r, (uint16_t)ldns_rr_list_rr_count(ldns_pkt_answer(r)));
        ldns_pkt_set_nscount(
            r, (uint16_t)ldns_rr_list_rr_count(ldns_pkt_authority(r)));
        ldns_pkt_set_arcount(
            r, (uint16_t)ldns_rr_list_rr_count(ldns_pkt_additional(r)));
        if (ldns_pkt2wire(resp, r, rlen) != LDNS_STATUS_OK)
            return -1;
        if (*rlen <= limit)
            return 0;
        free(*resp);
        *resp = NULL;
        ldns_pkt_set_tc(r, true);
        answer_drop(r, LDNS_SECTION_ANSWER);
        answer_drop(r, LDNS_SECTION_AUTHORITY);
        answer_drop(r, LDNS_SECTION_ADDITIONAL);
    }
    return -1;
}

/* The 'malformed' fault: the answer section only, ANCOUNT one more than
 * the records present and, for that extra record, a root owner and half
 * a TYPE, so that every parser runs out of message (RFC 1035 section
 * 4.1.3 cannot be satisfied). */
static int answer_malform(const ldns_pkt *r, uint8_t **resp, size_t *rlen)
{
    const ldns_rr_list *an = ldns_pkt_answer(r);
    size_t n = ldns_rr_list_rr_count(an);
    ldns_pkt *m = ldns_pkt_new();
    uint8_t *w;
    int ret = -1;

    /* A copy without authority, additional or OPT: the cut-short record
     * must be the last thing in the message. */
    ldns_pkt_set_id(m, ldns_pkt_id(r));
    ldns_pkt_set_qr(m, true);
    ldns_pkt_set_aa(m, ldns_pkt_aa(r));
    ldns_pkt_set_rd(m, ldns_pkt_rd(r));
    ldns_pkt_set_cd(m, ldns_pkt_cd(r));
    ldns_pkt_set_opcode(m, ldns_pkt_get_opcode(r));
    ldns_pkt_set_rcode(m, ldns_pkt_get_rcode(r));
    ldns_pkt_push_rr(m, LDNS_SECTION_QUESTION,
                     ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(r), 0)));
    for (size_t i = 0; i < n; i++)
        ldns_pkt_push_rr(m, LDNS_SECTION_ANSWER,
                         ldns_rr_clone(ldns_rr_list_rr(an, i)));
    if (answer_wire(m, FAKEDNS_TCP_LIMIT, resp, rlen) < 0)
        goto done;
    w = xrealloc(*resp, *rlen + 2);
    w[*rlen] = 0;     /* root owner */
    w[*rlen + 1] = 0; /* first byte of TYPE, and then nothing */
    *rlen += 2;
    w[6] = (uint8_t)((n + 1) >> 8);
    w[7] = (uint8_t)(n + 1);
    *resp = w;
    ret = 0;

done:
    ldns_pkt_free(m);
    return ret;
}

/* The full path: parse with ldns, apply a fault, build with ldns. aq is
 * the plain reading (or NULL), fault_known tells whether fault was
 * already decided. On a true answer to a plain query the result is
 * cached. */
static int answer_full(struct fakedns *fd, const struct fakedns_peer *peer,
                       const uint8_t *query, size_t qlen,
                       const struct answer_q *aq, int fault_known,
                       const struct fakedns_fault *fault,
                       struct fakedns_reply *out)
{
    ldns_pkt *q = NULL, *r = NULL;
    const ldns_rr *question;
    const struct fakedns_zone *z;
    uint8_t lname[256], *resp = NULL;
    size_t lnamelen = 0, rlen = 0, limit;
    char name[256] = "";
    int type = 0, rcode, ret = -1;
    enum fakedns_fault_kind kind = FAKEDNS_FAULT_NONE;

    if (((query[2] >> 3) & 0x0f) != LDNS_PACKET_QUERY) {
        rcode = LDNS_RCODE_NOTIMPL; /* RFC 1035 section 4.1.1 */
        answer_header_only(query, rcode, &resp, &rlen);
        ret = 0;
        goto done;
    }
    /* ldns_wire2pkt bounds-checks and limits compression pointers, so
     * loops and pointers past the end come back as errors: FORMERR. */
    if (qlen > FAKEDNS_QUERY_MAX ||
        ldns_wire2pkt(&q, query, qlen) != LDNS_STATUS_OK ||
        ldns_pkt_qdcount(q) != 1 ||
        ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1) {
        rcode = LDNS_RCODE_FORMERR;
        answer_header_only(query, rcode, &resp, &rlen);
        ret = 0;
        goto done;
    }
    question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    type = ldns_rr_get_type(question);
    lnamelen = ldns_rdf_size(ldns_rr_owner(question));
    if (lnamelen > sizeof(lname))
        lnamelen = sizeof(lname);
    for (size_t i = 0; i < lnamelen; i++)
        lname[i] =
            (uint8_t)str_tolower(ldns_rdf_data(ldns_rr_owner(question))[i]);
    fakedns_wire_name_str(lname, lnamelen, name, sizeof(name));
    if (!fault_known && fd->nfaults > 0)
        fault = fakedns_fault_match(fd, lname, lnamelen, type, peer->tcp);
    if (fault != NULL) {
        kind = fault->kind;
        out->delay_ms = fault->delay_ms;
    }
    if (kind == FAKEDNS_FAULT_TIMEOUT) {
        rcode = -1; /* no answer at all */
        ret = 0;
        goto done;
    }

    r = ldns_pkt_new();
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
    ldns_pkt_set_rd(r, ldns_pkt_rd(q));
    ldns_pkt_set_cd(r, ldns_pkt_cd(q));
    /* The question as asked, case included (RFC 4343 section 4.1). */
    ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    limit = answer_limit(peer, ldns_pkt_edns(q), ldns_pkt_edns_udp_size(q));
    if (ldns_pkt_edns(q)) {
        ldns_pkt_set_edns_udp_size(r, ANSWER_EDNS_SIZE);
        if (ldns_pkt_edns_version(q) != 0) {
            rcode = ANSWER_BADVERS; /* RFC 6891 section 6.1.3 */
            ldns_pkt_set_edns_extended_rcode(r, ANSWER_BADVERS >> 4);
            ldns_pkt_set_rcode(r, 0);
            goto wire;
        }
    }
    switch (kind) {
    case FAKEDNS_FAULT_SERVFAIL:
        rcode = LDNS_RCODE_SERVFAIL;
        break;
    case FAKEDNS_FAULT_REFUSED:
        rcode = LDNS_RCODE_REFUSED;
        break;
    case FAKEDNS_FAULT_NXDOMAIN:
    case FAKEDNS_FAULT_TRUNCATE:
        /* As our zone would say it: AA, and the SOA for NXDOMAIN. */
        z = fakedns_zone_find(fd, ldns_rr_owner(question));
        ldns_pkt_set_aa(r, z != NULL);
        if (kind == FAKEDNS_FAULT_TRUNCATE) {
            ldns_pkt_set_tc(r, true);
            rcode = LDNS_RCODE_NOERROR;
        } else {
            if (z != NULL)
                answer_soa(r, z);
            rcode = LDNS_RCODE_NXDOMAIN;
        }
        break;
    default:
        rcode = answer_resolve(fd, r, question);
        break;
    }
    ldns_pkt_set_rcode(r, (uint8_t)rcode);

wire:
    if (kind == FAKEDNS_FAULT_MALFORMED
            ? answer_malform(r, &resp, &rlen) < 0
            : answer_wire(r, limit, &resp, &rlen) < 0) {
        /* Only a failing ldns gets here: tell the client so. */
        free(resp);
        rcode = LDNS_RCODE_SERVFAIL;
        answer_header_only(query, rcode, &resp, &rlen);
    } else if (aq != NULL && kind == FAKEDNS_FAULT_NONE && fd->nstale == 0) {
        answer_cache_add(&fd->cache, aq, limit, resp, rlen);
    }
    ret = 0;

done:
    if (ret == 0) {
        fakedns_log_query(fd, peer, name, type, rcode, kind);
        out->wire = resp;
        out->len = rlen;
        out->owned = 1;
    }
    ldns_pkt_free(q);
    ldns_pkt_free(r);
    return ret;
}

int fakedns_answer_packet(struct fakedns *fd, const struct fakedns_peer *peer,
                          const uint8_t *query, size_t qlen, uint8_t *buf,
                          size_t bufsize, struct fakedns_reply *out)
{
    const struct fakedns_fault *fault = NULL;
    const struct fakedns_cache_entry *e;
    struct answer_q aq;
    size_t limit;
    uint8_t *w;

    memset(out, 0, sizeof(*out));
    /* Never answer a response (that way lie loops), nor a runt. */
    if (qlen < FAKEDNS_HEADER_SIZE || (query[2] & 0x80) != 0)
        return -1;
    if (!answer_parse_fast(query, qlen, &aq))
        return answer_full(fd, peer, query, qlen, NULL, 0, NULL, out);
    limit = answer_limit(peer, aq.edns, aq.udp_size);
    if (fd->nfaults > 0)
        fault =
            fakedns_fault_match(fd, aq.name, aq.namelen, aq.type, peer->tcp);
    if (fd->nstale > 0)
        fakedns_stale_expire(fd);
    if (fault != NULL || fd->nstale > 0 ||
        (e = answer_cache_find(&fd->cache, &aq, limit,
                               answer_hash(&aq, limit))) == NULL)
        return answer_full(fd, peer, query, qlen, &aq, 1, fault, out);

    /* A cached answer, made this query's: its ID, RD and CD (RFC 1035
     * section 4.1.1) and its question's case (RFC 4343 section 4.1). */
    if (e->len <= bufsize) {
        w = buf;
    } else {
        w = xmalloc(e->len);
        out->owned = 1;
    }
    memcpy(w, e->wire, e->len);
    w[0] = query[0];
    w[1] = query[1];
    w[2] = (uint8_t)((w[2] & ~0x01) | (query[2] & 0x01));
    w[3] = (uint8_t)((w[3] & ~0x10) | (query[3] & 0x10));
    memcpy(w + FAKEDNS_HEADER_SIZE, query + FAKEDNS_HEADER_SIZE, aq.namelen);
    out->wire = w;
    out->len = e->len;
    if (fakedns_log_wanted(fd)) {
        char name[256];

        fakedns_wire_name_str(aq.name, aq.namelen, name, sizeof(name));
        fakedns_log_query(fd, peer, name, aq.type, w[3] & 0x0f,
                          FAKEDNS_FAULT_NONE);
    }
    return 0;
}

int fakedns_answer(struct fakedns *fd, const uint8_t *query, size_t qlen,
                   uint8_t **resp, size_t *rlen)
{
    struct fakedns_peer peer = {NULL, 0, 0};
    struct fakedns_reply out;

    *resp = NULL;
    *rlen = 0;
    if (fakedns_answer_packet(fd, &peer, query, qlen, NULL, 0, &out) < 0)
        return -1;
    if (out.wire == NULL)
        return -1;
    if (out.owned) {
        *resp = out.wire;
    } else {
        *resp = xmalloc(out.len);
        memcpy(*resp, out.wire, out.len);
    }
    *rlen = out.len;
    return 0;
}
