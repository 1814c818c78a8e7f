/*
 * answer.c — one query in, one response out, as an authoritative server
 * answers (RFC 1034 section 4.3.2): AA set, CNAMEs followed within our
 * zones, NXDOMAIN vs NODATA with the SOA in the authority section
 * (RFC 2308 sections 2.1, 2.2), wildcards (RFC 4592), EDNS (RFC 6891) and
 * truncation to what the client can take over UDP (RFC 1035 section
 * 4.2.1). Parsing and building go through ldns; no network here.
 */
#include <stdlib.h>
#include <string.h>

#include "fakedns_int.h"
#include "mxlab/log.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define ANSWER_HEADER_SIZE 12 /* RFC 1035 section 4.1.1 */
#define ANSWER_UDP_MIN 512    /* RFC 1035 section 4.2.1 */
#define ANSWER_EDNS_SIZE 1232 /* our EDNS payload (DNS flag day 2020) */
#define ANSWER_CNAME_MAX 8    /* CNAME hops followed before stopping */
#define ANSWER_BADVERS 16     /* RFC 6891 section 6.1.3 */

/* A response with the header only (no question): for packets whose body
 * we cannot or need not read. ID, opcode and RD are copied (RFC 1035
 * section 4.1.1). The caller checked that query holds a header. */
static void answer_header_only(const uint8_t *query, int rcode, uint8_t **resp,
                               size_t *rlen)
{
    uint8_t *r = xcalloc(1, ANSWER_HEADER_SIZE);

    r[0] = query[0];
    r[1] = query[1];
    r[2] = (uint8_t)(0x80 | (query[2] & 0x79)); /* QR, opcode, RD */
    r[3] = (uint8_t)(rcode & 0x0f);
    *resp = r;
    *rlen = ANSWER_HEADER_SIZE;
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

    if (qclass != LDNS_RR_CLASS_IN && qclass != LDNS_RR_CLASS_ANY)
        return LDNS_RCODE_REFUSED;
    /* Zone transfers are not offered (and never over UDP). */
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

int fakedns_answer_from(struct fakedns *fd, const char *client,
                        const uint8_t *query, size_t qlen, uint8_t **resp,
                        size_t *rlen)
{
    ldns_pkt *q = NULL, *r = NULL;
    const ldns_rr *question;
    char name[256] = "";
    char *s;
    size_t limit = ANSWER_UDP_MIN;
    int type = 0, rcode, ret = -1;

    *resp = NULL;
    *rlen = 0;
    /* Never answer a response (that way lie loops), nor a runt. */
    if (qlen < ANSWER_HEADER_SIZE || (query[2] & 0x80) != 0)
        return -1;
    if (((query[2] >> 3) & 0x0f) != LDNS_PACKET_QUERY) {
        rcode = LDNS_RCODE_NOTIMPL; /* RFC 1035 section 4.1.1 */
        answer_header_only(query, rcode, resp, rlen);
        ret = 0;
        goto done;
    }
    if (ldns_wire2pkt(&q, query, qlen) != LDNS_STATUS_OK ||
        ldns_pkt_qdcount(q) != 1 ||
        ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1) {
        rcode = LDNS_RCODE_FORMERR;
        answer_header_only(query, rcode, resp, rlen);
        ret = 0;
        goto done;
    }
    question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    type = ldns_rr_get_type(question);
    if ((s = ldns_rdf2str(ldns_rr_owner(question))) != NULL) {
        snprintf(name, sizeof(name), "%s", s);
        str_lower(name);
        free(s);
    }

    r = ldns_pkt_new();
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
    ldns_pkt_set_rd(r, ldns_pkt_rd(q));
    ldns_pkt_set_cd(r, ldns_pkt_cd(q));
    /* The question as asked, case included (RFC 4343 section 4.1). */
    ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    if (ldns_pkt_edns(q)) {
        /* RFC 6891 section 6.2.5: a payload size under 512 means 512. */
        if (ldns_pkt_edns_udp_size(q) > limit)
            limit = ldns_pkt_edns_udp_size(q);
        ldns_pkt_set_edns_udp_size(r, ANSWER_EDNS_SIZE);
        if (ldns_pkt_edns_version(q) != 0) {
            rcode = ANSWER_BADVERS; /* RFC 6891 section 6.1.3 */
            ldns_pkt_set_edns_extended_rcode(r, ANSWER_BADVERS >> 4);
            ldns_pkt_set_rcode(r, 0);
            goto wire;
        }
    }
    rcode = answer_resolve(fd, r, question);
    ldns_pkt_set_rcode(r, (uint8_t)rcode);

wire:
    if (answer_wire(r, limit, resp, rlen) < 0) {
        /* Only a failing ldns gets here: tell the client so. */
        rcode = LDNS_RCODE_SERVFAIL;
        answer_header_only(query, rcode, resp, rlen);
    }
    ret = 0;

done:
    if (ret == 0) {
        log_debug("query %s type %d from %s: rcode %d, %zu bytes",
                  name[0] ? name : "-", type, client[0] ? client : "-", rcode,
                  *rlen);
        fakedns_log_query(fd, client, name, type, rcode);
    }
    ldns_pkt_free(q);
    ldns_pkt_free(r);
    return ret;
}

int fakedns_answer(struct fakedns *fd, const uint8_t *query, size_t qlen,
                   uint8_t **resp, size_t *rlen)
{
    return fakedns_answer_from(fd, "", query, qlen, resp, rlen);
}
