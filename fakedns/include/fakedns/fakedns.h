/*
 * fakedns.h — an authoritative fake DNS server for the lab: zones in
 * RFC 1035 master-file syntax (parsed by ldns), answered over UDP and TCP
 * (RFC 7766: several queries per connection, 2-byte length framing) on a
 * libevent loop. Embeddable (the harness runs it in its own process) and
 * standalone (mxlab-fakedns). RFC 1034 section 4.3.2 answering: AA set,
 * NXDOMAIN vs NODATA with the zone's SOA in the authority section, names
 * matched case-insensitively, the question echoed as asked. EDNS0
 * (RFC 6891): the client's UDP payload size is honoured (under 512 counts
 * as 512, RFC 6891 section 6.2.5) and an OPT record comes back; an answer
 * that does not fit over UDP goes out with TC set and no records, so the
 * client retries over TCP (RFC 2181 section 9). Limits: queries over
 * 4096 bytes get FORMERR over UDP and a close over TCP, as does a TCP
 * length under 12; a TCP connection idle for 10 s is closed; at most 256
 * are open. Bad packets never crash: runts and responses are ignored,
 * QDCOUNT other than 1 or unparsable bodies (compression loops...) get
 * FORMERR, opcodes other than QUERY NOTIMP, classes other than IN/ANY
 * and AXFR/IXFR REFUSED, EDNS versions other than 0 BADVERS.
 *
 * Zone text directives, stripped by the loader before ldns reads the rest
 * (so a scenario's [zone] block can carry them):
 *
 *   $FAULT NAME [TYPE] SPEC
 *       NAME relative to the current $ORIGIN, "@" or absolute;
 *       "*.NAME" matches every name below NAME. TYPE is a mnemonic
 *       ("MX"), or "*"/"ANY"/absent for every type. SPEC is below.
 *   $LISTED ITEM [CODE] ["reason"]
 *       a DNSBL/RHSBL entry under the current $ORIGIN. ITEM is an IPv4
 *       or IPv6 address or network ("192.0.2.0/24", "2001:db8::/32";
 *       reversed, or nibble-reversed, for the author: networks on an
 *       octet/nibble boundary become a wildcard, others are expanded to
 *       the next boundary), or a domain ("spam.example", RHSBL). CODE is
 *       the A record returned (default 127.0.0.2); the reason, if given,
 *       becomes the TXT record (split into 255-byte strings). A zone that
 *       uses $LISTED also gets the RFC 5782 section 5 test points of the
 *       kinds it lists (127.0.0.2 and ::ffff:127.0.0.2 listed, "test"
 *       listed; 127.0.0.1 and "invalid" never added) and, with no SOA, a
 *       synthetic SOA at the $ORIGIN so negative answers carry one.
 *   Directive errors read "file:line: reason", as other zone errors do.
 *
 * Fault SPEC (also for fakedns_set_fault): one kind and modifiers,
 * separated by blanks.
 *   kind: servfail | refused | nxdomain (rcode, NXDOMAIN with the SOA)
 *         | timeout (no answer at all) | delay=MS (the true answer, MS
 *         milliseconds late; also a modifier of the other kinds)
 *         | truncate (TC set, no records; UDP only by default, so the
 *         TCP retry gets the true answer) | malformed (ANCOUNT one more
 *         than the records present, the last one cut short).
 *   which queries (counted per fault, over the queries that match its
 *   name, type and transport; the first is 1): every one by default;
 *         nth=N      only the Nth
 *         count=N    the first N, then never again
 *         pattern=P  P of 'x' (fault) and '.' (true answer) applies to
 *                    queries 1..len(P) and then repeats: "x." faults the
 *                    odd-numbered queries, "..x" every third
 *         percent=P seed=S  a fault with probability P%, from a PRNG
 *                    seeded with S (deterministic; seed is mandatory)
 *   transport: udp | tcp (only that one; default both, truncate: udp).
 * The first fault (in the order set) matching a query's name, type and
 * transport decides for it; runtime faults (fakedns_set_fault) come
 * before those of zones.
 */
#ifndef FAKEDNS_FAKEDNS_H
#define FAKEDNS_FAKEDNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

struct event_base;
struct fakedns;

/* The fault applied to a query (FAKEDNS_FAULT_NONE: answered truly). */
enum fakedns_fault_kind {
    FAKEDNS_FAULT_NONE = 0,
    FAKEDNS_FAULT_SERVFAIL,
    FAKEDNS_FAULT_REFUSED,
    FAKEDNS_FAULT_NXDOMAIN,
    FAKEDNS_FAULT_TIMEOUT,
    FAKEDNS_FAULT_DELAY,
    FAKEDNS_FAULT_TRUNCATE,
    FAKEDNS_FAULT_MALFORMED,
};
/* "servfail", ..., "none". */
const char *fakedns_fault_name(enum fakedns_fault_kind kind);

/* One entry of the query log (for assertions). */
struct fakedns_query {
    char client[64];     /* client address "ip:port" ("" for fakedns_answer) */
    char name[256];      /* as asked, lower-cased ("" if unreadable) */
    int type;            /* RR type number (1 = A, 15 = MX, ...) */
    int rcode;           /* rcode answered (0 NOERROR, 3 NXDOMAIN, ...);
                            -1 when no answer was sent (timeout fault) */
    struct timeval time; /* when the query arrived (clock_now()) */
    int tcp;             /* 1 if it came over TCP */
    enum fakedns_fault_kind fault; /* fault applied, or NONE */
};

struct fakedns *fakedns_new(struct event_base *base);
/* Stops listening, drops pending delayed answers and open connections,
 * frees everything. NULL is a no-op. */
void fakedns_free(struct fakedns *fd);

/* Load a zone from a master file. origin ("example.com.") may be NULL when
 * the file sets $ORIGIN or uses absolute names. Returns 0, or -1 with
 * "file:line: reason" in err. Several zones may be loaded. */
int fakedns_load_zone_file(struct fakedns *fd, const char *path,
                           const char *origin, char *err, size_t errlen);
/* The same for master-file text held in memory (a scenario block): name
 * and first_line make errors read "name:LINE: reason", where LINE is
 * first_line + the line's index in text (first_line is text's line 1). */
int fakedns_load_zone_text(struct fakedns *fd, const char *name, int first_line,
                           const char *origin, const char *text, char *err,
                           size_t errlen);
/* Replace fd's zones and zone faults ($FAULT) with those of from (loaded
 * with fakedns_new(NULL) and the loaders), leaving from without zones:
 * an all-or-nothing reload. Runtime faults, listeners and the log stay. */
void fakedns_take_zones(struct fakedns *fd, struct fakedns *from);

/* Change the loaded zone origin while it is served: each line of text is
 * a record in master-file syntax that replaces its RRset (the records of
 * its name and type; later lines for the same RRset add to it), "add
 * RECORD" (added to its RRset) or "delete NAME [TYPE [RDATA]]"; relative
 * names are under origin, a TTL left out is 3600; blank and ';' lines are
 * skipped. The SOA serial goes up by one. An RRset that changes while a
 * resolver caches it (the query log shows it was answered within its TTL,
 * counted as a cache would: filled at a query, kept for the TTL) is still
 * answered, TTL counting down, until that entry expires on the lab clock
 * (mxlab/clock.h): the SUTs see a change as through their resolver.
 * 0, or -1 with "name:LINE: what" (LINE counted from first_line; the
 * lines before a bad one are applied). */
int fakedns_update_zone(struct fakedns *fd, const char *name, int first_line,
                        const char *origin, const char *text, char *err,
                        size_t errlen);

/* Listen on UDP and TCP at "ip:port" (v4 or [v6]); port 0 lets the
 * kernel choose one free for both. Several calls allowed. Returns 0, or
 * -1 with a message in err. */
int fakedns_listen(struct fakedns *fd, const char *addr, char *err,
                   size_t errlen);
/* The port of the i-th successful fakedns_listen, or -1. */
int fakedns_listen_port(const struct fakedns *fd, size_t i);

/* Add a fault for name (absolute, "*.name" for all below) and type (0:
 * every type) with SPEC as above, replacing one set before for the same
 * name and type (its counters start again). Returns 0, or -1 with the
 * reason in err. */
int fakedns_set_fault(struct fakedns *fd, const char *name, int type,
                      const char *spec, char *err, size_t errlen);
/* Remove runtime faults: those for name and type (type 0: every type of
 * name), or all of them when name is NULL. Zone faults stay. */
void fakedns_clear_faults(struct fakedns *fd, const char *name, int type);

/* Answer one query packet (what the listeners do, exposed for tests and
 * fuzzing; as over UDP). Returns 0 and a malloc'd answer in *resp (caller
 * frees), or -1 when the packet deserves no answer at all (e.g. it is a
 * response or shorter than a header, or a timeout fault). A delay fault
 * is answered at once. */
int fakedns_answer(struct fakedns *fd, const uint8_t *query, size_t qlen,
                   uint8_t **resp, size_t *rlen);

/* Query log: entries are valid until the next query is answered. */
size_t fakedns_query_count(const struct fakedns *fd);
const struct fakedns_query *fakedns_query_at(const struct fakedns *fd,
                                             size_t i);
/* Forget the entries logged so far. */
void fakedns_query_log_clear(struct fakedns *fd);

#endif
