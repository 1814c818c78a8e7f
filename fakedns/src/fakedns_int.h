/*
 * fakedns_int.h — what the files of fakedns share and nobody else sees: the
 * server object, the zone store (zone.c), the query log (server.c) and the
 * answering entry point with a client address (answer.c).
 * Zones own their ldns records; lookups hand out borrowed pointers or
 * clones that the caller's packet then owns.
 */
#ifndef FAKEDNS_INT_H
#define FAKEDNS_INT_H

#include <ldns/ldns.h>

#include "fakedns/fakedns.h"

/* One zone: the apex, its SOA (from the file or synthesised) and every
 * record, the SOA included, so that SOA queries are answered too. */
struct fakedns_zone {
    ldns_rdf *apex;     /* owned */
    ldns_rr_list *rrs;  /* owned, SOA included */
    const ldns_rr *soa; /* borrowed from rrs */
};

struct fakedns_listener;

struct fakedns {
    struct event_base *base;
    struct fakedns_zone **zones;
    size_t nzones;
    struct fakedns_listener **listeners;
    size_t nlisteners;
    struct fakedns_query *log;
    size_t nlog, caplog;
    int log_full_warned;
};

/* zone.c */
void fakedns_zone_free(struct fakedns_zone *z);
/* Parse text (len bytes) and add the zone to fd; see
 * fakedns_load_zone_text for errors. */
int fakedns_zone_load(struct fakedns *fd, const char *name, int first_line,
                      const char *origin, const char *text, size_t len,
                      char *err, size_t errlen);
/* The zone with the longest apex at or above name, or NULL. */
const struct fakedns_zone *fakedns_zone_find(const struct fakedns *fd,
                                             const ldns_rdf *name);
/* 1 if name owns records or has descendants that do (RFC 4592 section
 * 2.2.2: an empty non-terminal exists). */
int fakedns_zone_exists(const struct fakedns_zone *z, const ldns_rdf *name);
/* Append clones of the records at owner with type type (LDNS_RR_TYPE_ANY:
 * all) to out, renamed to as_owner. Returns how many. */
size_t fakedns_zone_copy(const struct fakedns_zone *z, const ldns_rdf *owner,
                         ldns_rr_type type, const ldns_rdf *as_owner,
                         ldns_rr_list *out);
/* First record at owner with type type, borrowed, or NULL. */
const ldns_rr *fakedns_zone_get(const struct fakedns_zone *z,
                                const ldns_rdf *owner, ldns_rr_type type);
/* RFC 4592 section 3.3.1: for a name that does not exist, the source of
 * synthesis "*.<closest encloser>" if it owns records (caller frees),
 * else NULL. */
ldns_rdf *fakedns_zone_wildcard(const struct fakedns_zone *z,
                                const ldns_rdf *name);
/* 1 if name equals parent or lies below it (case-insensitive). */
int fakedns_dname_under(const ldns_rdf *name, const ldns_rdf *parent);

/* answer.c: fakedns_answer with the client recorded in the query log. */
int fakedns_answer_from(struct fakedns *fd, const char *client,
                        const uint8_t *query, size_t qlen, uint8_t **resp,
                        size_t *rlen);

/* server.c */
void fakedns_log_query(struct fakedns *fd, const char *client, const char *name,
                       int type, int rcode);

#endif
