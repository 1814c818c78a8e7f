/*
 * tcpreasm.c — TCP reassembly (see tcpreasm.h). Each direction keeps the
 * next sequence number it expects; a segment is trimmed of what was
 * already delivered (retransmissions, overlaps), delivered if it starts
 * there, else held in a list sorted by sequence number until the hole
 * before it is filled. Live connections are found through a hash of
 * their two endpoints; one teardown path, tcpreasm_end.
 */
#include "tcpreasm.h"

#include <stdlib.h>
#include <string.h>

#include "mxlab/xmem.h"

#define TCPREASM_BUCKETS 8192

/* RFC 9293 section 3.4: comparisons modulo 2^32. */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)

struct tcpreasm_held {
    struct tcpreasm_held *next;
    uint32_t seq;
    size_t len;
    unsigned char data[];
};

struct tcpreasm_dir {
    int have_isn, fin_seen, closed, gap;
    uint32_t next, fin_seq;
    struct tcpreasm_held *held; /* sorted by seq */
    size_t held_bytes;
};

struct tcpreasm_conn {
    struct tcpreasm_flow flow; /* what the caller sees */
    struct tcpreasm_dir dir[2];
    unsigned bucket;
    struct tcpreasm_conn *hnext;
};

struct tcpreasm {
    tcpreasm_fn *fn;
    void *arg;
    struct tcpreasm_conn *buckets[TCPREASM_BUCKETS];
    size_t live;
    unsigned long refused, unopened;
};

struct tcpreasm *tcpreasm_new(tcpreasm_fn *fn, void *arg)
{
    struct tcpreasm *r = xcalloc(1, sizeof(*r));

    r->fn = fn;
    r->arg = arg;
    return r;
}

static int tcpreasm_same(const struct tcpreasm_endpoint *a,
                         const struct tcpreasm_endpoint *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* The same for both directions: a sum of the two endpoints' hashes. */
static unsigned tcpreasm_hash(const struct tcpreasm_endpoint *a,
                              const struct tcpreasm_endpoint *b)
{
    const struct tcpreasm_endpoint *e[2] = {a, b};
    unsigned h[2];

    for (int i = 0; i < 2; i++) {
        h[i] = 2166136261u ^ e[i]->port;
        for (size_t k = 0; k < sizeof(e[i]->addr); k++)
            h[i] = (h[i] ^ e[i]->addr[k]) * 16777619u;
    }
    return (h[0] + h[1]) % TCPREASM_BUCKETS;
}

/* The live connection of seg, and its direction in *dir. */
static struct tcpreasm_conn *
tcpreasm_find(struct tcpreasm *r, const struct tcpreasm_segment *seg, int *dir)
{
    struct tcpreasm_conn *c = r->buckets[tcpreasm_hash(&seg->src, &seg->dst)];

    for (; c != NULL; c = c->hnext) {
        if (tcpreasm_same(&c->flow.client, &seg->src) &&
            tcpreasm_same(&c->flow.server, &seg->dst)) {
            *dir = 0;
            return c;
        }
        if (tcpreasm_same(&c->flow.client, &seg->dst) &&
            tcpreasm_same(&c->flow.server, &seg->src)) {
            *dir = 1;
            return c;
        }
    }
    return NULL;
}

static void tcpreasm_drop_held(struct tcpreasm_dir *d)
{
    while (d->held != NULL) {
        struct tcpreasm_held *h = d->held;
        d->held = h->next;
        free(h);
    }
    d->held_bytes = 0;
}

/* The one teardown path: GAP where bytes are missing, END, free. */
static void tcpreasm_end(struct tcpreasm *r, struct tcpreasm_conn *c)
{
    struct tcpreasm_conn **pp = &r->buckets[c->bucket];

    for (int i = 0; i < 2; i++) {
        struct tcpreasm_dir *d = &c->dir[i];
        if (!d->gap && !c->flow.reset &&
            (d->held != NULL || (d->fin_seen && !d->closed)))
            r->fn(r->arg, &c->flow, i, TCPREASM_GAP, NULL, 0);
        tcpreasm_drop_held(d);
    }
    r->fn(r->arg, &c->flow, 0, TCPREASM_END, NULL, 0);
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    r->live--;
    free(c);
}

static struct tcpreasm_conn *tcpreasm_open(struct tcpreasm *r,
                                           const struct tcpreasm_segment *seg)
{
    struct tcpreasm_conn *c;

    if (r->live >= TCPREASM_MAX_LIVE) {
        r->refused++;
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->flow.client = seg->src;
    c->flow.server = seg->dst;
    c->flow.start = seg->ts;
    c->bucket = tcpreasm_hash(&seg->src, &seg->dst);
    c->hnext = r->buckets[c->bucket];
    r->buckets[c->bucket] = c;
    r->live++;
    r->fn(r->arg, &c->flow, 0, TCPREASM_OPEN, NULL, 0);
    return c;
}

/* Deliver in order from d->next: what starts there, then what was held
 * and now follows. */
static void tcpreasm_deliver(struct tcpreasm *r, struct tcpreasm_conn *c,
                             int dir, const unsigned char *data, size_t len)
{
    struct tcpreasm_dir *d = &c->dir[dir];

    r->fn(r->arg, &c->flow, dir, TCPREASM_DATA, data, len);
    d->next += (uint32_t)len;
    while (d->held != NULL && SEQ_LEQ(d->held->seq, d->next)) {
        struct tcpreasm_held *h = d->held;
        uint32_t skip = d->next - h->seq;
        d->held = h->next;
        d->held_bytes -= h->len;
        if (skip < h->len) {
            r->fn(r->arg, &c->flow, dir, TCPREASM_DATA, h->data + skip,
                  h->len - skip);
            d->next += (uint32_t)(h->len - skip);
        }
        free(h);
    }
}

/* Hold a segment that starts past a hole, sorted; the same start twice
 * keeps the longer. Past the bound, the direction has a gap. */
static void tcpreasm_hold(struct tcpreasm *r, struct tcpreasm_conn *c, int dir,
                          uint32_t seq, const unsigned char *data, size_t len)
{
    struct tcpreasm_dir *d = &c->dir[dir];
    struct tcpreasm_held **pp = &d->held, *h;

    while (*pp != NULL && SEQ_LT((*pp)->seq, seq))
        pp = &(*pp)->next;
    if (*pp != NULL && (*pp)->seq == seq && (*pp)->len >= len)
        return; /* a retransmission of what is held */
    if (d->held_bytes + len > TCPREASM_MAX_PENDING) {
        d->gap = 1;
        tcpreasm_drop_held(d);
        r->fn(r->arg, &c->flow, dir, TCPREASM_GAP, NULL, 0);
        return;
    }
    h = xmalloc(sizeof(*h) + len);
    h->seq = seq;
    h->len = len;
    memcpy(h->data, data, len);
    h->next = *pp;
    *pp = h;
    d->held_bytes += len;
}

/* Payload (and FIN) of a segment of a followed direction. 1 if the
 * connection ended. */
static int tcpreasm_take(struct tcpreasm *r, struct tcpreasm_conn *c, int dir,
                         uint32_t seq, const unsigned char *data, size_t len,
                         int fin)
{
    struct tcpreasm_dir *d = &c->dir[dir];
    const struct tcpreasm_dir *o = &c->dir[!dir];

    if (fin && !d->fin_seen) {
        d->fin_seen = 1;
        d->fin_seq = seq + (uint32_t)len;
    }
    if (len > 0 && SEQ_LT(seq, d->next)) {
        uint32_t skip = d->next - seq; /* already delivered */
        if (skip >= len)
            len = 0;
        else {
            data += skip;
            len -= skip;
            seq = d->next;
        }
    }
    if (len > 0 && seq == d->next)
        tcpreasm_deliver(r, c, dir, data, len);
    else if (len > 0)
        tcpreasm_hold(r, c, dir, seq, data, len);
    if (d->fin_seen && !d->closed && !d->gap && d->next == d->fin_seq) {
        d->closed = 1;
        d->next++;
        r->fn(r->arg, &c->flow, dir, TCPREASM_CLOSE, NULL, 0);
    }
    if ((d->closed || d->gap) && (o->closed || o->gap)) {
        tcpreasm_end(r, c);
        return 1;
    }
    return 0;
}

void tcpreasm_segment(struct tcpreasm *r, const struct tcpreasm_segment *seg)
{
    int dir = 0, syn = (seg->flags & TCPREASM_SYN) != 0;
    struct tcpreasm_conn *c = tcpreasm_find(r, seg, &dir);
    uint32_t seq = seg->seq;
    struct tcpreasm_dir *d;

    if (c != NULL && syn && !(seg->flags & TCPREASM_ACK) && dir == 0 &&
        c->dir[0].have_isn && seq + 1 != c->dir[0].next &&
        SEQ_LT(c->dir[0].next, seq)) {
        tcpreasm_end(r, c); /* the 4-tuple used again */
        c = NULL;
    }
    if (c == NULL) {
        if (!syn || (seg->flags & TCPREASM_ACK)) {
            r->unopened += seg->len > 0; /* a last ACK is no loss */
            return;
        }
        if ((c = tcpreasm_open(r, seg)) == NULL)
            return;
    }
    if (seg->flags & TCPREASM_RST) {
        c->flow.reset = 1;
        tcpreasm_end(r, c);
        return;
    }
    d = &c->dir[dir];
    if (syn) {
        if (!d->have_isn) {
            d->have_isn = 1;
            d->next = seq + 1;
        }
        seq++; /* the SYN takes one sequence number */
    } else if (!d->have_isn) {
        /* The SYN-ACK was not captured: the server's bytes start here. */
        d->have_isn = 1;
        d->next = seq;
    }
    if (d->closed || d->gap)
        return;
    tcpreasm_take(r, c, dir, seq, seg->data, seg->len,
                  (seg->flags & TCPREASM_FIN) != 0);
}

void tcpreasm_finish(struct tcpreasm *r)
{
    for (size_t i = 0; i < TCPREASM_BUCKETS; i++)
        while (r->buckets[i] != NULL)
            tcpreasm_end(r, r->buckets[i]);
}

unsigned long tcpreasm_refused(const struct tcpreasm *r)
{
    return r->refused;
}

unsigned long tcpreasm_unopened(const struct tcpreasm *r)
{
    return r->unopened;
}

void tcpreasm_free(struct tcpreasm *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < TCPREASM_BUCKETS; i++)
        while (r->buckets[i] != NULL) {
            struct tcpreasm_conn *c = r->buckets[i];
            r->buckets[i] = c->hnext;
            tcpreasm_drop_held(&c->dir[0]);
            tcpreasm_drop_held(&c->dir[1]);
            free(c);
        }
    free(r);
}
