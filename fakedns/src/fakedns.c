/*
 * fakedns.c — zones (parsed by ldns), authoritative answers and the UDP
 * listener. RFC 1034 section 4.3.2 answering: exact match, CNAME followed
 * within our zones, NODATA vs NXDOMAIN with the zone's SOA in the
 * authority section (RFC 2308), AA set, the question echoed as asked.
 * Malformed queries get FORMERR, unknown opcodes NOTIMP, names outside our
 * zones REFUSED; packets that are responses or shorter than a header get
 * nothing. Ownership: fakedns owns zones, listeners and the query log.
 */
#include "fakedns/fakedns.h"

#include <errno.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

#define FAKEDNS_CNAME_CHAIN 8
#define FAKEDNS_LOG_MAX 100000

struct fakedns_zone {
    ldns_rdf *origin;
    ldns_rr_list *rrs;
    ldns_rr *soa; /* owned, from the file or synthesised */
};

struct fakedns_listener {
    int fd;
    struct event *ev;
    struct fakedns *owner;
};

struct fakedns {
    struct event_base *base;
    struct fakedns_zone *zones;
    size_t nzones;
    struct fakedns_listener **listeners;
    size_t nlisteners;
    struct fakedns_query *log;
    size_t nlog;
};

struct fakedns *fakedns_new(struct event_base *base)
{
    struct fakedns *fd = xcalloc(1, sizeof(*fd));

    fd->base = base;
    return fd;
}

void fakedns_free(struct fakedns *fd)
{
    if (fd == NULL)
        return;
    for (size_t i = 0; i < fd->nlisteners; i++) {
        event_free(fd->listeners[i]->ev);
        close(fd->listeners[i]->fd);
        free(fd->listeners[i]);
    }
    free(fd->listeners);
    for (size_t i = 0; i < fd->nzones; i++) {
        ldns_rdf_deep_free(fd->zones[i].origin);
        ldns_rr_list_deep_free(fd->zones[i].rrs);
        ldns_rr_free(fd->zones[i].soa);
    }
    free(fd->zones);
    free(fd->log);
    free(fd);
}

/* A zone without SOA still needs one for negative answers. */
static ldns_rr *fakedns_synth_soa(const ldns_rdf *origin)
{
    char *o = ldns_rdf2str(origin);
    char *text = xasprintf("%s 300 IN SOA ns.%s hostmaster.%s 1 3600 600 "
                           "86400 300",
                           o, strcmp(o, ".") == 0 ? "" : o,
                           strcmp(o, ".") == 0 ? "" : o);
    ldns_rr *rr = NULL;

    if (ldns_rr_new_frm_str(&rr, text, 300, NULL, NULL) != LDNS_STATUS_OK)
        rr = NULL;
    free(text);
    free(o);
    return rr;
}

static int fakedns_load_fp(struct fakedns *fd, FILE *fp, const char *name,
                           int first_line, const char *origin, char *err,
                           size_t errlen)
{
    ldns_zone *z = NULL;
    ldns_rdf *orig = NULL;
    ldns_status st;
    int line = 0;
    struct fakedns_zone zone;

    if (origin != NULL) {
        char *o = strlen(origin) && origin[strlen(origin) - 1] == '.'
                      ? xstrdup(origin)
                      : xasprintf("%s.", origin);
        orig = ldns_dname_new_frm_str(o);
        free(o);
        if (orig == NULL) {
            snprintf(err, errlen, "%s:%d: bad zone origin \"%s\"", name,
                     first_line > 0 ? first_line - 1 : 0, origin);
            return -1;
        }
    }
    st = ldns_zone_new_frm_fp_l(&z, fp, orig, 3600, LDNS_RR_CLASS_IN, &line);
    if (st != LDNS_STATUS_OK) {
        snprintf(err, errlen, "%s:%d: %s", name,
                 first_line + (line > 0 ? line - 1 : 0),
                 ldns_get_errorstr_by_id(st));
        ldns_rdf_deep_free(orig);
        return -1;
    }
    memset(&zone, 0, sizeof(zone));
    zone.rrs = ldns_rr_list_clone(ldns_zone_rrs(z));
    if (ldns_zone_soa(z) != NULL) {
        zone.soa = ldns_rr_clone(ldns_zone_soa(z));
        zone.origin = ldns_rdf_clone(ldns_rr_owner(zone.soa));
    } else if (orig != NULL) {
        zone.origin = ldns_rdf_clone(orig);
    } else if (ldns_rr_list_rr_count(zone.rrs) > 0) {
        zone.origin = ldns_rdf_clone(
            ldns_rr_owner(ldns_rr_list_rr(zone.rrs, 0)));
    }
    ldns_zone_deep_free(z);
    ldns_rdf_deep_free(orig);
    if (zone.origin == NULL) {
        snprintf(err, errlen, "%s:%d: empty zone without origin", name,
                 first_line);
        ldns_rr_list_deep_free(zone.rrs);
        return -1;
    }
    ldns_dname2canonical(zone.origin);
    if (zone.soa == NULL)
        zone.soa = fakedns_synth_soa(zone.origin);
    fd->zones = xrealloc(fd->zones, (fd->nzones + 1) * sizeof(*fd->zones));
    fd->zones[fd->nzones++] = zone;
    return 0;
}

int fakedns_load_zone_file(struct fakedns *fd, const char *path,
                           const char *origin, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    int rc;

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    rc = fakedns_load_fp(fd, fp, path, 1, origin, err, errlen);
    fclose(fp);
    return rc;
}

int fakedns_load_zone_text(struct fakedns *fd, const char *name,
                           int first_line, const char *origin,
                           const char *text, char *err, size_t errlen)
{
    FILE *fp = fmemopen((void *)text, strlen(text), "r");
    int rc;

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        return -1;
    }
    rc = fakedns_load_fp(fd, fp, name, first_line, origin, err, errlen);
    fclose(fp);
    return rc;
}

/* The zone with the longest origin that contains name, or NULL. */
static struct fakedns_zone *fakedns_find_zone(struct fakedns *fd,
                                              const ldns_rdf *name)
{
    struct fakedns_zone *best = NULL;

    for (size_t i = 0; i < fd->nzones; i++) {
        struct fakedns_zone *z = &fd->zones[i];
        if (ldns_dname_compare(name, z->origin) != 0 &&
            !ldns_dname_is_subdomain(name, z->origin))
            continue;
        if (best == NULL ||
            ldns_dname_label_count(z->origin) >
                ldns_dname_label_count(best->origin))
            best = z;
    }
    return best;
}

/* Does any record own name, or a name below it (empty non-terminal)? */
static int fakedns_name_exists(const struct fakedns_zone *z,
                               const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++) {
        const ldns_rdf *owner = ldns_rr_owner(ldns_rr_list_rr(z->rrs, i));
        if (ldns_dname_compare(owner, name) == 0 ||
            ldns_dname_is_subdomain(owner, name))
            return 1;
    }
    return ldns_dname_compare(name, z->origin) == 0;
}

/* Append to out the records of z owned by name with type (ANY: all).
 * Returns how many. */
static size_t fakedns_collect(const struct fakedns_zone *z,
                              const ldns_rdf *name, ldns_rr_type type,
                              ldns_rr_list *out)
{
    size_t n = 0;

    for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(z->rrs, i);
        if (ldns_dname_compare(ldns_rr_owner(rr), name) != 0)
            continue;
        if (type != LDNS_RR_TYPE_ANY && ldns_rr_get_type(rr) != type)
            continue;
        ldns_rr_list_push_rr(out, ldns_rr_clone(rr));
        n++;
    }
    return n;
}

/* A bare header answer (FORMERR, NOTIMP) echoing the query's ID. */
static int fakedns_header_only(const uint8_t *q, int rcode, uint8_t **resp,
                               size_t *rlen)
{
    uint8_t *r = xcalloc(1, 12);

    r[0] = q[0];
    r[1] = q[1];
    r[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, opcode and RD kept */
    r[3] = (uint8_t)(rcode & 0x0f);
    *resp = r;
    *rlen = 12;
    return 0;
}

static void fakedns_log_query(struct fakedns *fd, const char *client,
                              const ldns_rdf *qname, int type, int rcode)
{
    struct fakedns_query *q;
    char *name;

    if (fd->nlog >= FAKEDNS_LOG_MAX)
        return;
    fd->log = xrealloc(fd->log, (fd->nlog + 1) * sizeof(*fd->log));
    q = &fd->log[fd->nlog++];
    snprintf(q->client, sizeof(q->client), "%s", client ? client : "");
    name = qname ? ldns_rdf2str(qname) : NULL;
    snprintf(q->name, sizeof(q->name), "%s", name ? name : "");
    for (char *p = q->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    free(name);
    q->type = type;
    q->rcode = rcode;
}

static int fakedns_answer_from(struct fakedns *fd, const char *client,
                               const uint8_t *query, size_t qlen,
                               uint8_t **resp, size_t *rlen)
{
    ldns_pkt *q = NULL, *r = NULL;
    ldns_rr *question;
    ldns_rdf *qname, *cur = NULL;
    struct fakedns_zone *zone;
    ldns_rr_type qtype;
    ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
    uint8_t *wire = NULL;
    size_t wlen = 0, limit = 512;
    int rc = -1;

    if (qlen < 12 || (query[2] & 0x80))
        return -1; /* not a query: never answer (no reflection loops) */
    if (((query[2] >> 3) & 0x0f) != LDNS_PACKET_QUERY) {
        fakedns_log_query(fd, client, NULL, 0, LDNS_RCODE_NOTIMPL);
        return fakedns_header_only(query, LDNS_RCODE_NOTIMPL, resp, rlen);
    }
    if (ldns_wire2pkt(&q, query, qlen) != LDNS_STATUS_OK ||
        ldns_pkt_qdcount(q) != 1 ||
        ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1) {
        ldns_pkt_free(q);
        fakedns_log_query(fd, client, NULL, 0, LDNS_RCODE_FORMERR);
        return fakedns_header_only(query, LDNS_RCODE_FORMERR, resp, rlen);
    }
    question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    qname = ldns_rr_owner(question);
    qtype = ldns_rr_get_type(question);
    r = ldns_pkt_new();
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
    ldns_pkt_set_rd(r, ldns_pkt_rd(q));
    ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    if (ldns_pkt_edns(q)) {
        ldns_pkt_set_edns_udp_size(r, 1232);
        if (ldns_pkt_edns_udp_size(q) > limit)
            limit = ldns_pkt_edns_udp_size(q);
    }
    if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN &&
        ldns_rr_get_class(question) != LDNS_RR_CLASS_ANY) {
        rcode = LDNS_RCODE_REFUSED;
        goto build;
    }
    zone = fakedns_find_zone(fd, qname);
    if (zone == NULL) {
        rcode = LDNS_RCODE_REFUSED;
        goto build;
    }
    ldns_pkt_set_aa(r, true);
    cur = ldns_rdf_clone(qname);
    ldns_dname2canonical(cur);
    for (int chain = 0; chain < FAKEDNS_CNAME_CHAIN; chain++) {
        ldns_rr_list *found = ldns_rr_list_new();
        size_t n = fakedns_collect(zone, cur, qtype, found);
        if (n == 0 && qtype != LDNS_RR_TYPE_CNAME &&
            fakedns_collect(zone, cur, LDNS_RR_TYPE_CNAME, found) > 0) {
            /* RFC 1034 section 3.6.2: give the CNAME and follow it. */
            ldns_rr *cname = ldns_rr_list_rr(found, 0);
            ldns_rdf *target = ldns_rdf_clone(ldns_rr_rdf(cname, 0));
            ldns_pkt_push_rr_list(r, LDNS_SECTION_ANSWER, found);
            ldns_rr_list_free(found);
            ldns_rdf_deep_free(cur);
            cur = target;
            ldns_dname2canonical(cur);
            struct fakedns_zone *next = fakedns_find_zone(fd, cur);
            if (next == NULL)
                break; /* outside our zones: the resolver goes on */
            zone = next;
            continue;
        }
        if (n > 0) {
            ldns_pkt_push_rr_list(r, LDNS_SECTION_ANSWER, found);
        } else {
            if (!fakedns_name_exists(zone, cur))
                rcode = LDNS_RCODE_NXDOMAIN;
            /* RFC 2308 section 3: SOA in the authority section. */
            if (zone->soa != NULL)
                ldns_pkt_push_rr(r, LDNS_SECTION_AUTHORITY,
                                 ldns_rr_clone(zone->soa));
        }
        ldns_rr_list_free(found);
        break;
    }
build:
    ldns_pkt_set_rcode(r, (uint8_t)rcode);
    fakedns_log_query(fd, client, qname, qtype, rcode);
    if (ldns_pkt2wire(&wire, r, &wlen) != LDNS_STATUS_OK)
        goto done;
    if (wlen > limit) {
        /* RFC 2181 section 9: set TC and send what fits (nothing). */
        free(wire);
        wire = NULL;
        ldns_rr_list_deep_free(ldns_pkt_answer(r));
        ldns_pkt_set_answer(r, ldns_rr_list_new());
        ldns_rr_list_deep_free(ldns_pkt_authority(r));
        ldns_pkt_set_authority(r, ldns_rr_list_new());
        ldns_pkt_set_ancount(r, 0);
        ldns_pkt_set_nscount(r, 0);
        ldns_pkt_set_tc(r, true);
        if (ldns_pkt2wire(&wire, r, &wlen) != LDNS_STATUS_OK)
            goto done;
    }
    *resp = wire;
    *rlen = wlen;
    wire = NULL;
    rc = 0;
done:
    free(wire);
    ldns_rdf_deep_free(cur);
    ldns_pkt_free(q);
    ldns_pkt_free(r);
    return rc;
}

int fakedns_answer(struct fakedns *fd, const uint8_t *query, size_t qlen,
                   uint8_t **resp, size_t *rlen)
{
    return fakedns_answer_from(fd, NULL, query, qlen, resp, rlen);
}

static void fakedns_on_udp(evutil_socket_t sock, short what, void *arg)
{
    struct fakedns_listener *l = arg;
    uint8_t buf[65536];

    (void)what;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ssize_t n = recvfrom(sock, buf, sizeof(buf), 0,
                             (struct sockaddr *)&ss, &sl);
        uint8_t *resp = NULL;
        size_t rlen = 0;
        struct netaddr peer;
        char client[80];

        if (n < 0)
            return; /* EAGAIN: drained */
        netaddr_from_sa(&peer, (struct sockaddr *)&ss, sl);
        netaddr_str(&peer, client, sizeof(client));
        if (fakedns_answer_from(l->owner, client, buf, (size_t)n, &resp,
                                &rlen) == 0) {
            if (sendto(sock, resp, rlen, 0, (struct sockaddr *)&ss, sl) < 0) {
                /* The client went away: nothing to do for UDP. */
            }
            free(resp);
        }
    }
}

int fakedns_listen(struct fakedns *fd, const char *addr, char *err,
                   size_t errlen)
{
    struct netaddr na;
    struct fakedns_listener *l;
    int s;

    if (netaddr_parse(addr, 53, &na) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\" (ip:port expected)",
                 addr);
        return -1;
    }
    s = netaddr_bind_udp(&na);
    if (s < 0) {
        snprintf(err, errlen, "listen on %s (udp): %s", addr,
                 strerror(errno));
        return -1;
    }
    l = xcalloc(1, sizeof(*l));
    l->fd = s;
    l->owner = fd;
    l->ev = event_new(fd->base, s, EV_READ | EV_PERSIST, fakedns_on_udp, l);
    event_add(l->ev, NULL);
    fd->listeners = xrealloc(fd->listeners,
                             (fd->nlisteners + 1) * sizeof(*fd->listeners));
    fd->listeners[fd->nlisteners++] = l;
    return 0;
}

size_t fakedns_query_count(const struct fakedns *fd)
{
    return fd->nlog;
}

const struct fakedns_query *fakedns_query_at(const struct fakedns *fd,
                                             size_t i)
{
    return i < fd->nlog ? &fd->log[i] : NULL;
}
