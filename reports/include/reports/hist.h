/*
 * hist.h — a log-bucketed histogram of non-negative integer values
 * (HdrHistogram's idea): values below 2^(bits+1) are counted exactly, above
 * that each power of two is split into 2^bits equal buckets, so any
 * percentile is exact to within 1/2^bits of its value. Fixed memory, O(1)
 * record; two histograms with the same bits merge exactly (counts add).
 * Knows nothing of SMTP; the unit is the caller's (mxlab bench: µs).
 */
#ifndef REPORTS_HIST_H
#define REPORTS_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_BITS_DEFAULT 10 /* 1/1024: "three significant digits" */
#define HIST_BITS_MIN 1
#define HIST_BITS_MAX 14
#define HIST_VALUE_MAX ((UINT64_C(1) << 40) - 1) /* larger values clamp */

struct hist {
    int bits;          /* sub-bucket precision, HIST_BITS_MIN..MAX */
    size_t nslots;     /* length of counts */
    uint64_t *counts;  /* per bucket */
    uint64_t total;    /* values recorded */
    uint64_t min, max; /* exact extremes (0, 0 when empty) */
    double sum;        /* for the mean */
};

/* A new empty histogram with precision 1/2^bits (bits is clamped to
 * HIST_BITS_MIN..MAX). Caller frees with hist_free. */
struct hist *hist_new(int bits);
void hist_free(struct hist *h);
/* Forget every value, keep the precision. */
void hist_reset(struct hist *h);

/* Count value v once (n times); values above HIST_VALUE_MAX count as
 * HIST_VALUE_MAX. */
void hist_record(struct hist *h, uint64_t v);
void hist_record_n(struct hist *h, uint64_t v, uint64_t n);

/* The value at percentile p (0..100): the smallest bucket's upper bound
 * (clamped to the exact min and max) such that at least p% of the values
 * are at or below it. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Add src's counts to dst. 0, or -1 if their precisions differ. */
int hist_merge(struct hist *dst, const struct hist *src);

struct strbuf;
struct json;
/* Append h as a JSON object: {"bits", "count", "min", "max", "sum",
 * "buckets": [[LOW, COUNT], ...]} with the non-empty buckets in order,
 * each named by the lowest value it holds. */
void hist_write_json(const struct hist *h, struct strbuf *out);
/* A histogram from hist_write_json's object; NULL with the reason in err
 * if a member is missing, a bucket is out of order or its count does not
 * add up. Caller frees. */
struct hist *hist_from_json(const struct json *j, char *err, size_t errlen);

/* Bucket i's range [lo, hi] of values; walking i from 0 to nslots - 1
 * gives ascending, disjoint ranges. */
void hist_bucket_range(const struct hist *h, size_t i, uint64_t *lo,
                       uint64_t *hi);
/* The bucket that holds v. */
size_t hist_index(const struct hist *h, uint64_t v);

#endif
