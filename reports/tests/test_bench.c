/*
 * test_bench.c — the histogram against known inputs (percentiles exact to
 * the bucket precision, merge, serialise), the JSON reader (good and bad
 * documents, errors with line:column), bench.json round trips, the merge
 * of runs and the baseline gate.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxlab/xmem.h"
#include "reports/bench.h"
#include "reports/hist.h"
#include "reports/json.h"

TCase *test_bench_tcase(void);

static const int bits_cases[] = {3, 7, 10, 14};

/* Buckets tile the value range: contiguous, each value in its own. */
START_TEST(test_hist_buckets)
{
    struct hist *h = hist_new(bits_cases[_i]);
    uint64_t lo, hi, prev_hi = 0;

    for (size_t i = 0; i < h->nslots; i++) {
        hist_bucket_range(h, i, &lo, &hi);
        if (i > 0)
            ck_assert_uint_eq(lo, prev_hi + 1);
        ck_assert_uint_eq(hist_index(h, lo), i);
        ck_assert_uint_eq(hist_index(h, hi), i);
        /* Relative width at most 1/2^bits. */
        ck_assert(hi - lo <= (lo >> h->bits));
        prev_hi = hi;
    }
    ck_assert_uint_eq(prev_hi, HIST_VALUE_MAX);
    hist_free(h);
}
END_TEST

/* Small values are exact: 0..2^(bits+1)-1 once each. */
START_TEST(test_hist_exact_small)
{
    struct hist *h = hist_new(bits_cases[_i]);
    uint64_t n = UINT64_C(2) << h->bits;

    for (uint64_t v = 0; v < n; v++)
        hist_record(h, v);
    ck_assert_uint_eq(h->total, n);
    ck_assert_uint_eq(hist_percentile(h, 50), n / 2 - 1);
    ck_assert_uint_eq(hist_percentile(h, 100), n - 1);
    ck_assert_uint_eq(hist_percentile(h, 0), 0);
    hist_free(h);
}
END_TEST

static uint64_t lcg_state;

static uint64_t lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lcg_state >> 33;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Against the exact order statistic of 100000 values spread over six
 * decades: the reported value is the upper end of the bucket holding it,
 * so it is >= the exact one and within 1/2^bits of it. */
START_TEST(test_hist_percentiles_known)
{
    static const double ps[] = {0, 1, 50, 90, 99, 99.9, 99.99, 100};
    enum { N = 100000 };
    uint64_t *v = xmalloc(N * sizeof(*v));
    struct hist *h = hist_new(bits_cases[_i]);

    lcg_state = 42;
    for (size_t i = 0; i < N; i++) {
        v[i] = (lcg() % 1000) * (UINT64_C(1) << (lcg() % 20)) + lcg() % 7;
        hist_record(h, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        /* ceil(p% of N), as hist_percentile rounds it */
        double want = ps[k] / 100 * N;
        size_t rank = (size_t)want + (want - (size_t)want > 1e-9 * N);
        uint64_t exact = v[rank ? rank - 1 : 0],
                 got = hist_percentile(h, ps[k]);
        ck_assert_msg(got >= exact && got - exact <= (exact >> h->bits),
                      "bits %d p%g: got %" PRIu64 ", exact %" PRIu64, h->bits,
                      ps[k], got, exact);
    }
    ck_assert_uint_eq(h->min, v[0]);
    ck_assert_uint_eq(h->max, v[N - 1]);
    free(v);
    hist_free(h);
}
END_TEST

/* Uniform 1..1000000: p50 500000, p99 990000, within 1/1024. */
START_TEST(test_hist_uniform)
{
    struct hist *h = hist_new(HIST_BITS_DEFAULT);

    for (uint64_t v = 1; v <= 1000000; v++)
        hist_record(h, v);
    ck_assert_uint_ge(hist_percentile(h, 50), 500000);
    ck_assert_uint_le(hist_percentile(h, 50), 500000 + 500000 / 1024);
    ck_assert_uint_ge(hist_percentile(h, 99), 990000);
    ck_assert_uint_le(hist_percentile(h, 99), 990000 + 990000 / 1024);
    ck_assert_uint_ge(hist_percentile(h, 99.9), 999000);
    ck_assert_uint_le(hist_percentile(h, 99.9), 999000 + 999000 / 1024);
    ck_assert(hist_mean(h) > 500000.4 && hist_mean(h) < 500000.6);
    hist_record(h, UINT64_MAX); /* clamps */
    ck_assert_uint_eq(h->max, HIST_VALUE_MAX);
    hist_free(h);
}
END_TEST

/* Merging two halves gives the histogram of the whole, bucket for bucket. */
START_TEST(test_hist_merge)
{
    struct hist *a = hist_new(7), *b = hist_new(7), *all = hist_new(7);
    struct hist *other = hist_new(8);

    lcg_state = 7;
    for (int i = 0; i < 50000; i++) {
        uint64_t v = lcg() % 5000000;
        hist_record(i % 3 ? a : b, v);
        hist_record(all, v);
    }
    ck_assert_int_eq(hist_merge(a, b), 0);
    ck_assert_uint_eq(a->total, all->total);
    ck_assert_uint_eq(a->min, all->min);
    ck_assert_uint_eq(a->max, all->max);
    ck_assert_mem_eq(a->counts, all->counts, a->nslots * sizeof(uint64_t));
    ck_assert_uint_eq(hist_percentile(a, 99.9), hist_percentile(all, 99.9));
    ck_assert_int_eq(hist_merge(a, other), -1);
    hist_free(a);
    hist_free(b);
    hist_free(all);
    hist_free(other);
}
END_TEST

static struct json *parse_ok(const char *text)
{
    char err[256];
    struct json *j = json_parse(text, strlen(text), err, sizeof(err));

    ck_assert_msg(j != NULL, "%s: %s", text, err);
    return j;
}

/* Serialise and read back: identical counts; damaged copies refused. */
START_TEST(test_hist_serialise)
{
    struct hist *h = hist_new(10), *back;
    struct strbuf sb;
    struct json *j;
    char err[256];

    for (uint64_t v = 0; v < 300000; v += 7)
        hist_record_n(h, v * v % 9999991, 1 + v % 3);
    strbuf_init(&sb);
    hist_write_json(h, &sb);
    j = parse_ok(sb.buf);
    back = hist_from_json(j, err, sizeof(err));
    ck_assert_msg(back != NULL, "%s", err);
    ck_assert_uint_eq(back->total, h->total);
    ck_assert_uint_eq(back->min, h->min);
    ck_assert_uint_eq(back->max, h->max);
    ck_assert_mem_eq(back->counts, h->counts, h->nslots * sizeof(uint64_t));
    hist_free(back);
    json_free(j);
    j = parse_ok("{\"bits\": 10, \"count\": 3, \"min\": 1, \"max\": 9, "
                 "\"buckets\": [[9, 1], [1, 2]]}");
    ck_assert_ptr_null(hist_from_json(j, err, sizeof(err)));
    ck_assert_str_eq(err, "histogram: buckets out of order");
    json_free(j);
    j = parse_ok("{\"bits\": 10, \"count\": 4, \"min\": 1, \"max\": 9, "
                 "\"buckets\": [[1, 2], [9, 1]]}");
    ck_assert_ptr_null(hist_from_json(j, err, sizeof(err)));
    ck_assert_str_eq(err, "histogram: bucket counts do not add up to "
                          "\"count\"");
    json_free(j);
    strbuf_clear(&sb);
    hist_free(h);
}
END_TEST

static const struct {
    const char *text, *err; /* err NULL: parses */
} json_cases[] = {
    {"{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"]}",
     NULL},
    {"  []  ", NULL},
    {"{}", NULL},
    {"", "1:1: unexpected end of text"},
    {"{\"a\" 1}", "1:6: ':' expected after member name"},
    {"[1,\n 2,\n x]", "3:2: unexpected bytes (expected a value)"},
    {"[1 2]", "1:4: ',' or ']' expected"},
    {"{\"a\": 1,}", "1:9: member name expected"},
    {"\"abc", "1:5: unterminated string"},
    {"\"a\tb\"", "1:3: control byte in string"},
    {"\"\\u0000\"", "1:8: \\u0000 in a string"},
    {"\"\\ud800x\"", "1:8: lone surrogate in \\u escape"},
    {"\"\\q\"", "1:4: bad escape in string"},
    {"01", "1:2: trailing bytes after the value"},
    {"-", "1:2: digit expected in number"},
    {"1.", "1:3: digit expected in number"},
    {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
     "1:34: nested too deep"},
    {"tru", "1:1: unexpected bytes (expected a value)"},
};

START_TEST(test_json_cases)
{
    char err[256] = "";
    struct json *j = json_parse(json_cases[_i].text,
                                strlen(json_cases[_i].text), err, sizeof(err));

    if (json_cases[_i].err == NULL) {
        ck_assert_msg(j != NULL, "%s: %s", json_cases[_i].text, err);
    } else {
        ck_assert_msg(j == NULL, "%s parsed", json_cases[_i].text);
        ck_assert_str_eq(err, json_cases[_i].err);
    }
    json_free(j);
}
END_TEST

START_TEST(test_json_values)
{
    struct json *j =
        parse_ok("{\"n\": 12.5, \"s\": \"x\\u00e9\\ud83d\\ude00\", "
                 "\"b\": true}");

    ck_assert(json_get_num(j, "n", 0) == 12.5);
    ck_assert_str_eq(json_get_str(j, "s"), "x\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert(json_get_num(j, "missing", -1) == -1);
    ck_assert_ptr_null(json_get_str(j, "n"));
    ck_assert_int_eq(json_get(j, "b")->type, JSON_BOOL);
    json_free(j);
}
END_TEST

/* A run with every part filled: rate 1000 msg/s, p99 about 5 ms. */
static struct bench_run *sample_run(uint64_t lat_scale)
{
    struct bench_run *r = bench_run_new();

    r->target = xstrdup("smtp://127.0.0.1:2525");
    r->size = xstrdup("2048");
    r->latency_from = xstrdup("MAIL");
    r->connections = 4;
    r->pipelining = 1;
    r->seconds = 2;
    r->sent = 2003;
    r->accepted = 2000;
    r->refused = 2;
    r->errors = 1;
    r->bytes = 2000 * 2048;
    bench_run_count(r, "250", 2000);
    bench_run_count(r, "451", 2);
    bench_run_count(r, "timeout", 1);
    for (uint64_t i = 0; i < 2000; i++)
        hist_record(r->latency, (1000 + i * 2) * lat_scale);
    for (size_t i = 0; i < 2; i++) {
        bench_run_point(r, i)->accepted = 1000;
        r->points[i].sent = 1001;
        r->points[i].bytes = 1000 * 2048;
    }
    r->sut_cpu_ns = 2000 * 30000.0;
    r->cpu_source = xstrdup("schedstat");
    return r;
}

static char *write_tmp(const struct bench_run *r)
{
    char *path = xstrdup("/tmp/test_bench.XXXXXX");
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");

    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(bench_run_write_json(r, fp), 0);
    fclose(fp);
    return path;
}

START_TEST(test_bench_roundtrip_merge)
{
    struct bench_run *a = sample_run(1), *b, *c = sample_run(3);
    char *path = write_tmp(a), err[256];

    b = bench_run_read(path, err, sizeof(err));
    ck_assert_msg(b != NULL, "%s", err);
    ck_assert_uint_eq(b->sent, 2003);
    ck_assert_uint_eq(b->accepted + b->refused + b->errors, b->sent);
    ck_assert_str_eq(b->target, a->target);
    ck_assert_uint_eq(hist_percentile(b->latency, 99),
                      hist_percentile(a->latency, 99));
    ck_assert_uint_eq(b->npoints, 2);
    ck_assert_int_eq(b->pipelining, 1);
    ck_assert_int_eq(bench_run_merge(b, c, err, sizeof(err)), 0);
    ck_assert_uint_eq(b->accepted, 4000);
    ck_assert_uint_eq(b->latency->total, 4000);
    ck_assert_uint_eq(b->points[1].accepted, 2000);
    ck_assert_int_eq(b->loaders, 2);
    ck_assert(bench_run_rate(b) == 2000);
    ck_assert(b->sut_cpu_ns == 2 * 2000 * 30000.0);
    for (size_t i = 0; i < b->ncodes; i++)
        if (strcmp(b->codes[i].key, "451") == 0)
            ck_assert_uint_eq(b->codes[i].n, 4);
    unlink(path);
    free(path);
    bench_run_free(a);
    bench_run_free(b);
    bench_run_free(c);
}
END_TEST

START_TEST(test_bench_read_errors)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"{\"mxlab_bench\": 2}", "not a bench.json of this version"},
        {"{\"mxlab_bench\": 1, \"sent\": -1}", "a count (sent"},
        {"{\"mxlab_bench\": 1,\n \"sent\": }", ":2:10: unexpected bytes"},
    };
    char path[] = "/tmp/test_bench.XXXXXX", err[256];
    int fd = mkstemp(path);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *fp = fopen(path, "w");
        fputs(cases[i].text, fp);
        fclose(fp);
        ck_assert_ptr_null(bench_run_read(path, err, sizeof(err)));
        ck_assert_msg(strstr(err, cases[i].err) && strstr(err, path) == err,
                      "%s: %s", cases[i].text, err);
    }
    close(fd);
    unlink(path);
}
END_TEST

/* The gate passes against itself and fails, naming the figure, against
 * a baseline that was better. */
START_TEST(test_bench_gate)
{
    struct bench_run *cur = sample_run(1), *faster = sample_run(1);
    struct bench_run *quicker = sample_run(1);
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    faster->seconds = 1.5; /* 1333 msg/s: cur is 25% slower */
    hist_reset(quicker->latency);
    for (uint64_t i = 0; i < 2000; i++)
        hist_record(quicker->latency, 500 + i);
    ck_assert_int_eq(bench_gate(cur, cur, 10, fp), 0);
    ck_assert_int_eq(bench_gate(cur, faster, 10, fp), 1);
    ck_assert_int_eq(bench_gate(cur, faster, 30, fp), 0);
    ck_assert_int_eq(bench_gate(cur, quicker, 10, fp), 1);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(out, "gate: throughput 1000.0 msg/s against "
                                      "1333.3 msg/s in the baseline (-25.0%, "
                                      "tolerance 10.0%): REGRESSED"));
    ck_assert_ptr_nonnull(strstr(out, "gate: p99 latency"));
    ck_assert_ptr_nonnull(strstr(out, "): REGRESSED\n"));
    free(out);
    bench_run_free(cur);
    bench_run_free(faster);
    bench_run_free(quicker);
}
END_TEST

START_TEST(test_bench_html)
{
    struct bench_run *r = sample_run(1);
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    ck_assert_int_eq(bench_html_write(r, fp), 0);
    fclose(fp);
    ck_assert_ptr_nonnull(strstr(out, "id=\"plot-rate\" data-has-data=\"1\""));
    ck_assert_ptr_nonnull(
        strstr(out, "id=\"plot-latency\" data-has-data=\"1\""));
    ck_assert_ptr_nonnull(strstr(out, "id=\"plot-queue\" data-has-data=\"0\""));
    /* Nothing from the network: the only URL is the SVG namespace. */
    for (const char *p = strstr(out, "http"); p; p = strstr(p + 1, "http"))
        ck_assert(strncmp(p, "http://www.w3.org/2000/svg", 26) == 0);
    ck_assert_ptr_null(strstr(out, "<script src"));
    free(out);
    bench_run_free(r);
}
END_TEST

/* The bench tests as one case of the reports test binary. */
TCase *test_bench_tcase(void)
{
    TCase *tc = tcase_create("bench");
    int nb = sizeof(bits_cases) / sizeof(bits_cases[0]);

    tcase_add_loop_test(tc, test_hist_buckets, 0, nb);
    tcase_add_loop_test(tc, test_hist_exact_small, 0, nb);
    tcase_add_loop_test(tc, test_hist_percentiles_known, 0, nb);
    tcase_add_test(tc, test_hist_uniform);
    tcase_add_test(tc, test_hist_merge);
    tcase_add_test(tc, test_hist_serialise);
    tcase_add_loop_test(tc, test_json_cases, 0,
                        sizeof(json_cases) / sizeof(json_cases[0]));
    tcase_add_test(tc, test_json_values);
    tcase_add_test(tc, test_bench_roundtrip_merge);
    tcase_add_test(tc, test_bench_read_errors);
    tcase_add_test(tc, test_bench_gate);
    tcase_add_test(tc, test_bench_html);
    return tc;
}
