/*
 * hist.c — log-bucketed histogram. See hist.h.
 * Layout with b = bits: slots 0 .. 2^(b+1)-1 hold the values themselves;
 * a value whose highest set bit is b+k (k >= 1) goes to slot
 * k*2^b + (v >> k), so each octave [2^(b+k), 2^(b+k+1)) has 2^b slots of
 * width 2^k, a relative width of at most 1/2^b.
 */
#include "reports/hist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/xmem.h"
#include "reports/json.h"

static int hist_msb(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

struct hist *hist_new(int bits)
{
    struct hist *h = xcalloc(1, sizeof(*h));
    int top;

    if (bits < HIST_BITS_MIN)
        bits = HIST_BITS_MIN;
    if (bits > HIST_BITS_MAX)
        bits = HIST_BITS_MAX;
    h->bits = bits;
    top = hist_msb(HIST_VALUE_MAX) - bits; /* the largest k */
    h->nslots = (size_t)(top + 2) << bits;
    h->counts = xcalloc(h->nslots, sizeof(*h->counts));
    return h;
}

void hist_free(struct hist *h)
{
    if (h == NULL)
        return;
    free(h->counts);
    free(h);
}

void hist_reset(struct hist *h)
{
    memset(h->counts, 0, h->nslots * sizeof(*h->counts));
    h->total = h->min = h->max = 0;
    h->sum = 0;
}

size_t hist_index(const struct hist *h, uint64_t v)
{
    int k;

    if (v > HIST_VALUE_MAX)
        v = HIST_VALUE_MAX;
    if (v < (UINT64_C(2) << h->bits))
        return (size_t)v;
    k = hist_msb(v) - h->bits;
    return ((size_t)k << h->bits) + (size_t)(v >> k);
}

void hist_bucket_range(const struct hist *h, size_t i, uint64_t *lo,
                       uint64_t *hi)
{
    size_t k;

    if (i < ((size_t)2 << h->bits)) {
        *lo = *hi = i;
        return;
    }
    k = (i >> h->bits) - 1;
    *lo = (uint64_t)(i - (k << h->bits)) << k;
    *hi = *lo + (UINT64_C(1) << k) - 1;
}

void hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    if (v > HIST_VALUE_MAX)
        v = HIST_VALUE_MAX;
    h->counts[hist_index(h, v)] += n;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total += n;
    h->sum += (double)v * (double)n;
}

void hist_record(struct hist *h, uint64_t v)
{
    hist_record_n(h, v, 1);
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    uint64_t rank, seen = 0, lo, hi;
    double want;

    if (h->total == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    /* The rank of the value: ceil(p% of total), at least the first; a
     * fraction below 1e-9 is rounding (0.999 * 100000 is not 99900.0 in
     * binary floating point), not a rank of its own. */
    want = (p / 100.0) * (double)h->total;
    rank = (uint64_t)want;
    if (want - (double)rank > 1e-9 * (double)h->total)
        rank++;
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < h->nslots; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            hist_bucket_range(h, i, &lo, &hi);
            if (hi > h->max)
                hi = h->max;
            return hi < h->min ? h->min : hi;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->total ? h->sum / (double)h->total : 0;
}

int hist_merge(struct hist *dst, const struct hist *src)
{
    if (dst->bits != src->bits)
        return -1;
    if (src->total == 0)
        return 0;
    for (size_t i = 0; i < dst->nslots; i++)
        dst->counts[i] += src->counts[i];
    if (dst->total == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->total += src->total;
    dst->sum += src->sum;
    return 0;
}

void hist_write_json(const struct hist *h, struct strbuf *out)
{
    uint64_t lo, hi;
    int first = 1;

    strbuf_printf(out,
                  "{\"bits\": %d, \"count\": %" PRIu64 ", \"min\": %" PRIu64
                  ", \"max\": %" PRIu64 ", \"sum\": %.0f, \"buckets\": [",
                  h->bits, h->total, h->min, h->max, h->sum);
    for (size_t i = 0; i < h->nslots; i++) {
        if (h->counts[i] == 0)
            continue;
        hist_bucket_range(h, i, &lo, &hi);
        strbuf_printf(out, "%s[%" PRIu64 ", %" PRIu64 "]", first ? "" : ", ",
                      lo, h->counts[i]);
        first = 0;
    }
    strbuf_puts(out, "]}");
}

/* A whole number in 0..2^53 (exact in a double), or -1. */
static int hist_json_uint(const struct json *j, uint64_t *out)
{
    if (j == NULL || j->type != JSON_NUMBER || j->num < 0 ||
        j->num > 9007199254740992.0 || j->num != (double)(uint64_t)j->num)
        return -1;
    *out = (uint64_t)j->num;
    return 0;
}

static struct hist *hist_json_fail(struct hist *h, char *err, size_t errlen,
                                   const char *what)
{
    snprintf(err, errlen, "histogram: %s", what);
    hist_free(h);
    return NULL;
}

struct hist *hist_from_json(const struct json *j, char *err, size_t errlen)
{
    const struct json *b = json_get(j, "buckets");
    uint64_t bits, count, min, max, lo, n, sum = 0;
    size_t last = 0;
    struct hist *h;

    if (hist_json_uint(json_get(j, "bits"), &bits) < 0 ||
        bits < HIST_BITS_MIN || bits > HIST_BITS_MAX)
        return hist_json_fail(NULL, err, errlen, "bad or missing \"bits\"");
    if (hist_json_uint(json_get(j, "count"), &count) < 0 ||
        hist_json_uint(json_get(j, "min"), &min) < 0 ||
        hist_json_uint(json_get(j, "max"), &max) < 0 || b == NULL ||
        b->type != JSON_ARRAY)
        return hist_json_fail(NULL, err, errlen,
                              "\"count\", \"min\", \"max\" or \"buckets\" "
                              "missing or not a whole number");
    h = hist_new((int)bits);
    for (size_t i = 0; i < b->n; i++) {
        const struct json *e = &b->items[i];
        size_t idx;
        if (e->type != JSON_ARRAY || e->n != 2 ||
            hist_json_uint(&e->items[0], &lo) < 0 ||
            hist_json_uint(&e->items[1], &n) < 0 || lo > HIST_VALUE_MAX)
            return hist_json_fail(h, err, errlen,
                                  "a bucket is not [LOW, COUNT]");
        idx = hist_index(h, lo);
        if (i > 0 && idx <= last)
            return hist_json_fail(h, err, errlen, "buckets out of order");
        h->counts[idx] += n;
        sum += n;
        last = idx;
    }
    if (sum != count || (count > 0 && min > max))
        return hist_json_fail(h, err, errlen,
                              "bucket counts do not add up to \"count\"");
    h->total = count;
    h->min = min;
    h->max = max;
    h->sum = json_get_num(j, "sum", 0);
    return h;
}
