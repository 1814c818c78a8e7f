/*
 * fakedns_int.h — what the files of fakedns share and nobody else sees: the
 * server object, the zone store (zone.c), faults (fault.c), the answer
 * cache and answering entry point (answer.c), the query log (server.c).
 * Zones own their ldns records; lookups hand out borrowed pointers or
 * clones that the caller's packet then owns. Wire names held outside
 * ldns are uncompressed and lower-cased.
 */
#ifndef FAKEDNS_INT_H
#define FAKEDNS_INT_H

#include <ldns/ldns.h>
#include <sys/socket.h>

#include "fakedns/fakedns.h"

#define FAKEDNS_HEADER_SIZE 12  /* RFC 1035 section 4.1.1 */
#define FAKEDNS_QUERY_MAX 4096  /* larger queries get FORMERR or a close */
#define FAKEDNS_TCP_LIMIT 65535 /* a TCP answer's limit (RFC 1035 4.2.2) */

/* One zone: the apex, its SOA (from the file or synthesised) and every
 * record, the SOA included, so that SOA queries are answered too. */
struct fakedns_zone {
    ldns_rdf *apex;     /* owned */
    ldns_rr_list *rrs;  /* owned, SOA included */
    const ldns_rr *soa; /* borrowed from rrs */
};

/* Which transports a fault applies to. */
#define FAKEDNS_FAULT_UDP 1
#define FAKEDNS_FAULT_TCP 2

/* One fault rule ($FAULT or fakedns_set_fault). */
struct fakedns_fault {
    uint8_t name[256]; /* wire form, lower-cased; for "*.x": x */
    size_t namelen;
    int wild; /* 1: names strictly below name */
    int type; /* 0: every type */
    enum fakedns_fault_kind kind;
    int delay_ms;             /* delay before the (faulted) answer, 0 none */
    int transports;           /* FAKEDNS_FAULT_UDP | FAKEDNS_FAULT_TCP */
    unsigned long nth, count; /* 0: not set */
    char pattern[64];         /* "" not set */
    int percent;              /* -1 not set */
    uint64_t rng;             /* PRNG state when percent is set */
    unsigned long seen;       /* matching queries so far */
    int from_zone;            /* 1: $FAULT, replaced on reload */
};

/* The answer cache: true answers (no fault) by question and limit. */
struct fakedns_cache_entry;
struct fakedns_cache {
    struct fakedns_cache_entry **slots;
    size_t cap, n;
};

struct fakedns_listener;
struct fakedns_stale;
struct fakedns_conn;
struct fakedns_delayed;

struct fakedns {
    struct event_base *base;
    struct fakedns_zone **zones;
    size_t nzones;
    struct fakedns_fault *faults; /* runtime ones first */
    size_t nfaults;
    struct fakedns_cache cache;
    struct fakedns_stale *stale; /* changed RRsets still cached (update.c) */
    size_t nstale;
    struct fakedns_listener **listeners;
    size_t nlisteners;
    struct fakedns_conn *conns; /* open TCP connections */
    size_t nconns;
    struct fakedns_delayed *delayed; /* answers waiting on a timer */
    struct fakedns_query *log;
    size_t nlog, caplog;
    int log_full_warned;
};

/* zone.c */
void fakedns_zone_free(struct fakedns_zone *z);
/* Parse text (len bytes) and add the zone (and its $FAULTs) to fd; see
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

/* fault.c */
/* Parse spec into f (name and type left alone). 0, or -1 with err. */
int fakedns_fault_parse(struct fakedns_fault *f, const char *spec, char *err,
                        size_t errlen);
/* Set f's name from presentation text (absolute). 0 or -1. */
int fakedns_fault_set_name(struct fakedns_fault *f, const char *name);
/* Add f (copied) to fd: runtime faults go before zone faults; one with
 * the same name, type and origin is replaced. */
void fakedns_fault_add(struct fakedns *fd, const struct fakedns_fault *f);
/* The fault to apply to a query for the lower-cased wire name qname, or
 * NULL; counts the query against the first matching rule. */
const struct fakedns_fault *fakedns_fault_match(struct fakedns *fd,
                                                const uint8_t *qname,
                                                size_t qnamelen, int qtype,
                                                int tcp);

/* answer.c */
/* Where a query came from, for the log and the transport's limits. */
struct fakedns_peer {
    const struct sockaddr *sa; /* NULL: none (fakedns_answer) */
    socklen_t salen;
    int tcp;
};
/* What to send back: nothing (wire NULL), or len bytes of wire, which
 * point into the caller's buffer or are malloc'd (owned), after
 * delay_ms milliseconds. */
struct fakedns_reply {
    uint8_t *wire;
    size_t len;
    int owned;
    int delay_ms;
};
/* Answer one query: 0 with out filled (out->wire may be NULL: timeout
 * fault), or -1 when the packet gets no answer. buf (bufsize bytes) is
 * used for the answer when it fits. */
int fakedns_answer_packet(struct fakedns *fd, const struct fakedns_peer *peer,
                          const uint8_t *query, size_t qlen, uint8_t *buf,
                          size_t bufsize, struct fakedns_reply *out);
/* Free an owned reply's wire and clear it. */
void fakedns_reply_clear(struct fakedns_reply *r);
/* Drop every cached answer (zones changed). */
void fakedns_cache_flush(struct fakedns_cache *c);
/* Presentation form of a wire name, lower-cased, into out (256 bytes). */
void fakedns_wire_name_str(const uint8_t *name, size_t len, char *out,
                           size_t outlen);

/* update.c */
/* Append clones of the stale RRset (owner, type), renamed to as_owner,
 * with the TTL it has left, to out. How many (0: none cached). */
size_t fakedns_stale_copy(struct fakedns *fd, const ldns_rdf *owner,
                          ldns_rr_type type, const ldns_rdf *as_owner,
                          ldns_rr_list *out);
/* Forget the stale RRsets whose TTL ran out; all of them. */
void fakedns_stale_expire(struct fakedns *fd);
void fakedns_stale_free(struct fakedns *fd);

/* server.c */
void fakedns_log_query(struct fakedns *fd, const struct fakedns_peer *peer,
                       const char *name, int type, int rcode,
                       enum fakedns_fault_kind fault);
/* 1 while the query log still records (so callers can skip the work). */
int fakedns_log_wanted(const struct fakedns *fd);

#endif
