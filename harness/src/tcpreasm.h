/*
 * tcpreasm.h — TCP reassembly for "mxlab import": segments as a capture
 * holds them (retransmitted, overlapping, out of order) in, each
 * direction's bytes in sequence order out (RFC 9293 section 3.4: sequence
 * numbers modulo 2^32). Only connections whose SYN is in the capture are
 * followed. Memory is bounded: live connections, and bytes held out of
 * order per direction; past a bound the connection gets TCPREASM_GAP.
 */
#ifndef HARNESS_TCPREASM_H
#define HARNESS_TCPREASM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define TCPREASM_MAX_LIVE 4096          /* connections followed at once */
#define TCPREASM_MAX_PENDING (1u << 20) /* out-of-order bytes per direction */

#define TCPREASM_FIN 0x01
#define TCPREASM_SYN 0x02
#define TCPREASM_RST 0x04
#define TCPREASM_ACK 0x10

struct tcpreasm_endpoint {
    int family; /* AF_INET, AF_INET6 */
    unsigned char addr[16];
    uint16_t port;
};

/* One segment, borrowed for the call. */
struct tcpreasm_segment {
    struct tcpreasm_endpoint src, dst;
    uint32_t seq;
    uint8_t flags;
    const unsigned char *data;
    size_t len;
    struct timeval ts;
};

enum tcpreasm_event {
    TCPREASM_OPEN,  /* a SYN: the connection is followed from here */
    TCPREASM_DATA,  /* bytes in order, dir 0 client to server, 1 back */
    TCPREASM_CLOSE, /* that direction sent FIN (in sequence) */
    TCPREASM_GAP,   /* bytes of that direction are missing: no more DATA */
    TCPREASM_END,   /* last event: both FINs, a RST or end of capture */
};

/* A connection: client is the SYN's sender. user is the caller's. */
struct tcpreasm_flow {
    struct tcpreasm_endpoint client, server;
    struct timeval start;
    int reset; /* ended by a RST */
    void *user;
};

typedef void tcpreasm_fn(void *arg, struct tcpreasm_flow *f, int dir,
                         enum tcpreasm_event ev, const unsigned char *data,
                         size_t len);

struct tcpreasm;

/* A reassembler calling fn for every event. Caller frees. */
struct tcpreasm *tcpreasm_new(tcpreasm_fn *fn, void *arg);
/* One captured segment. */
void tcpreasm_segment(struct tcpreasm *r, const struct tcpreasm_segment *seg);
/* End of capture: every live connection gets GAP (where bytes are
 * missing) and END. */
void tcpreasm_finish(struct tcpreasm *r);
/* Segments of connections not followed because TCPREASM_MAX_LIVE were
 * live; segments with data of connections whose SYN was not seen. */
unsigned long tcpreasm_refused(const struct tcpreasm *r);
unsigned long tcpreasm_unopened(const struct tcpreasm *r);
/* NULL is a no-op; connections still live get no more events. */
void tcpreasm_free(struct tcpreasm *r);

#endif
