/*
 * fakedns.h — an authoritative fake DNS server for the lab: zones in
 * RFC 1035 master-file syntax (parsed by ldns), answered over UDP on a
 * libevent loop. Embeddable (the harness runs it in its own process) and
 * standalone (mxlab-fakedns). RFC 1034 section 4.3.2 answering: AA set,
 * NXDOMAIN vs NODATA with the zone's SOA in the authority section, names
 * matched case-insensitively, the question echoed as asked.
 */
#ifndef FAKEDNS_FAKEDNS_H
#define FAKEDNS_FAKEDNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fakedns;

/* One entry of the query log (for assertions). */
struct fakedns_query {
    char client[64]; /* client address "ip:port" */
    char name[256];  /* as asked, lower-cased */
    int type;        /* RR type number (1 = A, 15 = MX, ...) */
    int rcode;       /* rcode answered (0 NOERROR, 3 NXDOMAIN, ...) */
};

struct fakedns *fakedns_new(struct event_base *base);
/* Stops listening and frees everything. NULL is a no-op. */
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

/* Listen on UDP at "ip:port" (v4 or [v6]). Several calls allowed.
 * Returns 0, or -1 with a message in err. */
int fakedns_listen(struct fakedns *fd, const char *addr, char *err,
                   size_t errlen);

/* Answer one query packet (what the UDP listener does, exposed for tests
 * and fuzzing). Returns 0 and a malloc'd answer in *resp (caller frees),
 * or -1 when the packet deserves no answer at all (e.g. it is a response
 * or shorter than a header). */
int fakedns_answer(struct fakedns *fd, const uint8_t *query, size_t qlen,
                   uint8_t **resp, size_t *rlen);

/* Query log: entries are valid until the next query is answered. */
size_t fakedns_query_count(const struct fakedns *fd);
const struct fakedns_query *fakedns_query_at(const struct fakedns *fd,
                                             size_t i);

#endif
