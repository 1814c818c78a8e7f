/*
 * bench.c — load-run results: bench.json out and back in, merge, table,
 * gate. See bench.h. bench.json keeps the histograms whole (non-empty
 * buckets), so percentiles of merged runs are exact to the bucket
 * precision, not averages of percentiles. Derived figures (rates,
 * percentiles) are written for readers and recomputed when read.
 */
#include "reports/bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/fsutil.h"
#include "mxlab/xmem.h"
#include "reports/json.h"

struct bench_run *bench_run_new(void)
{
    struct bench_run *r = xcalloc(1, sizeof(*r));

    r->latency = hist_new(HIST_BITS_DEFAULT);
    r->interval = 1.0;
    r->loaders = 1;
    r->recipients = 1;
    r->sut_cpu_ns = -1;
    r->client_cpu_ns = -1;
    return r;
}

void bench_run_free(struct bench_run *r)
{
    if (r == NULL)
        return;
    free(r->target);
    free(r->scenario);
    free(r->size);
    free(r->latency_from);
    free(r->cpu_source);
    free(r->codes);
    hist_free(r->latency);
    hist_free(r->e2e);
    free(r->points);
    free(r);
}

void bench_run_count(struct bench_run *r, const char *key, uint64_t n)
{
    size_t i;

    for (i = 0; i < r->ncodes; i++)
        if (strncmp(r->codes[i].key, key, sizeof(r->codes[i].key) - 1) == 0)
            break;
    if (i == r->ncodes) {
        r->codes = xrealloc(r->codes, (r->ncodes + 1) * sizeof(*r->codes));
        memset(&r->codes[i], 0, sizeof(r->codes[i]));
        snprintf(r->codes[i].key, sizeof(r->codes[i].key), "%s", key);
        r->ncodes++;
    }
    r->codes[i].n += n;
}

struct bench_point *bench_run_point(struct bench_run *r, size_t i)
{
    if (i >= r->npoints) {
        r->points = xrealloc(r->points, (i + 1) * sizeof(*r->points));
        for (size_t k = r->npoints; k <= i; k++) {
            memset(&r->points[k], 0, sizeof(r->points[k]));
            r->points[k].queue = -1;
        }
        r->npoints = i + 1;
    }
    return &r->points[i];
}

double bench_run_rate(const struct bench_run *r)
{
    return r->seconds > 0 ? (double)r->accepted / r->seconds : 0;
}

double bench_run_mbps(const struct bench_run *r)
{
    return r->seconds > 0 ? (double)r->bytes / r->seconds / 1e6 : 0;
}

/* "key": "value" or "key": null, then ", ". */
static void bench_json_str(struct strbuf *sb, const char *key, const char *v)
{
    strbuf_printf(sb, "  \"%s\": ", key);
    if (v)
        strbuf_put_json(sb, v, strlen(v));
    else
        strbuf_puts(sb, "null");
    strbuf_puts(sb, ",\n");
}

/* "name": {percentiles..., "histogram": {...}} */
static void bench_json_hist(struct strbuf *sb, const char *key,
                            const struct hist *h)
{
    strbuf_printf(sb, "  \"%s\": ", key);
    if (h == NULL) {
        strbuf_puts(sb, "null,\n");
        return;
    }
    strbuf_printf(
        sb,
        "{\"p50\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
        ", \"p99.9\": %" PRIu64 ", \"max\": %" PRIu64
        ", \"mean\": %.1f,\n    \"histogram\": ",
        hist_percentile(h, 50), hist_percentile(h, 90), hist_percentile(h, 99),
        hist_percentile(h, 99.9), h->max, hist_mean(h));
    hist_write_json(h, sb);
    strbuf_puts(sb, "},\n");
}

static void bench_json_load(struct strbuf *sb, const struct bench_run *r)
{
    strbuf_printf(sb,
                  "  \"load\": {\"loop\": \"%s\", \"rate\": %.3f, "
                  "\"connections\": %d, \"per_connection\": %d, "
                  "\"recipients\": %d, \"tls\": %s, \"pipelining\": %s, "
                  "\"size\": ",
                  r->open_loop ? "open" : "closed", r->rate, r->connections,
                  r->per_connection, r->recipients, r->tls ? "true" : "false",
                  r->pipelining ? "true" : "false");
    strbuf_put_json(sb, r->size ? r->size : "", r->size ? strlen(r->size) : 0);
    strbuf_puts(sb, ", \"latency_from\": ");
    strbuf_put_json(sb, r->latency_from ? r->latency_from : "",
                    r->latency_from ? strlen(r->latency_from) : 0);
    strbuf_puts(sb, "},\n");
}

int bench_run_write_json(const struct bench_run *r, FILE *fp)
{
    struct strbuf sb;
    int rc;

    strbuf_init(&sb);
    strbuf_printf(&sb, "{\n  \"mxlab_bench\": %d,\n", BENCH_FORMAT);
    bench_json_str(&sb, "target", r->target);
    bench_json_str(&sb, "scenario", r->scenario);
    bench_json_load(&sb, r);
    strbuf_printf(&sb,
                  "  \"loaders\": %d,\n  \"seconds\": %.6f,\n"
                  "  \"sent\": %" PRIu64 ",\n  \"accepted\": %" PRIu64
                  ",\n  \"refused\": %" PRIu64 ",\n  \"errors\": %" PRIu64
                  ",\n  \"bytes\": %" PRIu64 ",\n",
                  r->loaders, r->seconds, r->sent, r->accepted, r->refused,
                  r->errors, r->bytes);
    if (r->have_arrived)
        strbuf_printf(&sb, "  \"arrived\": %" PRIu64 ",\n", r->arrived);
    strbuf_printf(&sb, "  \"rate_msg_s\": %.3f,\n  \"rate_mb_s\": %.3f,\n",
                  bench_run_rate(r), bench_run_mbps(r));
    strbuf_puts(&sb, "  \"replies\": {");
    for (size_t i = 0; i < r->ncodes; i++) {
        strbuf_puts(&sb, i ? ", " : "");
        strbuf_put_json(&sb, r->codes[i].key, strlen(r->codes[i].key));
        strbuf_printf(&sb, ": %" PRIu64, r->codes[i].n);
    }
    strbuf_puts(&sb, "},\n");
    bench_json_hist(&sb, "latency_us", r->latency);
    bench_json_hist(&sb, "e2e_us", r->e2e);
    strbuf_printf(&sb, "  \"sut_cpu_ns\": %.0f,\n  \"client_cpu_ns\": %.0f,\n",
                  r->sut_cpu_ns, r->client_cpu_ns);
    bench_json_str(&sb, "cpu_source", r->cpu_source);
    strbuf_printf(&sb, "  \"interval\": %.3f,\n  \"timeline\": [", r->interval);
    for (size_t i = 0; i < r->npoints; i++)
        strbuf_printf(&sb,
                      "%s\n    [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %lld]",
                      i ? "," : "", r->points[i].sent, r->points[i].accepted,
                      r->points[i].bytes, r->points[i].queue);
    strbuf_puts(&sb, "]\n}\n");
    rc = fwrite(sb.buf, 1, sb.len, fp) == sb.len ? 0 : -1;
    strbuf_clear(&sb);
    return rc;
}

/* The whole-number members of bench.json, read and merged alike. */
static const struct {
    const char *key;
    size_t off;
} bench_counts[] = {
    {"sent", offsetof(struct bench_run, sent)},
    {"accepted", offsetof(struct bench_run, accepted)},
    {"refused", offsetof(struct bench_run, refused)},
    {"errors", offsetof(struct bench_run, errors)},
    {"bytes", offsetof(struct bench_run, bytes)},
};

#define BENCH_COUNT(r, i) (*(uint64_t *)((char *)(r) + bench_counts[i].off))
#define BENCH_NCOUNTS (sizeof(bench_counts) / sizeof(bench_counts[0]))

static int bench_uint(const struct json *j, uint64_t *out)
{
    if (j == NULL || j->type != JSON_NUMBER || j->num < 0 ||
        j->num > 9007199254740992.0 || j->num != (double)(uint64_t)j->num)
        return -1;
    *out = (uint64_t)j->num;
    return 0;
}

static char *bench_dup(const struct json *j, const char *key)
{
    const char *s = json_get_str(j, key);

    return s ? xstrdup(s) : NULL;
}

static void bench_read_load(struct bench_run *r, const struct json *load)
{
    const char *loop = json_get_str(load, "loop");
    const struct json *b;

    r->open_loop = loop && strcmp(loop, "open") == 0;
    r->rate = json_get_num(load, "rate", 0);
    r->connections = (int)json_get_num(load, "connections", 0);
    r->per_connection = (int)json_get_num(load, "per_connection", 0);
    r->recipients = (int)json_get_num(load, "recipients", 1);
    b = json_get(load, "tls");
    r->tls = b && b->type == JSON_BOOL && b->num != 0;
    b = json_get(load, "pipelining");
    r->pipelining = b && b->type == JSON_BOOL && b->num != 0;
    r->size = bench_dup(load, "size");
    r->latency_from = bench_dup(load, "latency_from");
}

/* Histograms, replies and timeline; "what" on error. */
static const char *bench_read_parts(struct bench_run *r, const struct json *j,
                                    char *herr, size_t herrlen)
{
    const struct json *h, *rep = json_get(j, "replies"), *tl;
    uint64_t n;

    h = json_get(json_get(j, "latency_us"), "histogram");
    hist_free(r->latency);
    if ((r->latency = hist_from_json(h, herr, herrlen)) == NULL)
        return herr;
    h = json_get(json_get(j, "e2e_us"), "histogram");
    if (h && (r->e2e = hist_from_json(h, herr, herrlen)) == NULL)
        return herr;
    if (rep == NULL || rep->type != JSON_OBJECT)
        return "\"replies\" is not an object";
    for (size_t i = 0; i < rep->n; i++) {
        if (bench_uint(&rep->items[i], &n) < 0)
            return "a count in \"replies\" is not a whole number";
        bench_run_count(r, rep->keys[i], n);
    }
    tl = json_get(j, "timeline");
    if (tl == NULL || tl->type != JSON_ARRAY)
        return "\"timeline\" is not an array";
    for (size_t i = 0; i < tl->n; i++) {
        const struct json *p = &tl->items[i];
        struct bench_point *pt = bench_run_point(r, i);
        if (p->type != JSON_ARRAY || p->n != 4 ||
            bench_uint(&p->items[0], &pt->sent) < 0 ||
            bench_uint(&p->items[1], &pt->accepted) < 0 ||
            bench_uint(&p->items[2], &pt->bytes) < 0 ||
            p->items[3].type != JSON_NUMBER)
            return "a timeline point is not [SENT, ACCEPTED, BYTES, QUEUE]";
        pt->queue = (long long)p->items[3].num;
    }
    return NULL;
}

static const char *bench_read_tree(struct bench_run *r, const struct json *j,
                                   char *herr, size_t herrlen)
{
    uint64_t v;

    if (json_get_num(j, "mxlab_bench", 0) != BENCH_FORMAT)
        return "not a bench.json of this version (\"mxlab_bench\": 1)";
    for (size_t i = 0; i < BENCH_NCOUNTS; i++)
        if (bench_uint(json_get(j, bench_counts[i].key), &BENCH_COUNT(r, i)) <
            0)
            return "a count (sent, accepted, refused, errors, bytes) is "
                   "missing or not a whole number";
    if (bench_uint(json_get(j, "arrived"), &v) == 0) {
        r->arrived = v;
        r->have_arrived = 1;
    }
    r->seconds = json_get_num(j, "seconds", -1);
    r->interval = json_get_num(j, "interval", -1);
    if (r->seconds < 0 || r->interval <= 0)
        return "\"seconds\" or \"interval\" missing or negative";
    r->loaders = (int)json_get_num(j, "loaders", 1);
    r->target = bench_dup(j, "target");
    r->scenario = bench_dup(j, "scenario");
    r->cpu_source = bench_dup(j, "cpu_source");
    r->sut_cpu_ns = json_get_num(j, "sut_cpu_ns", -1);
    r->client_cpu_ns = json_get_num(j, "client_cpu_ns", -1);
    bench_read_load(r, json_get(j, "load"));
    return bench_read_parts(r, j, herr, herrlen);
}

struct bench_run *bench_run_read(const char *path, char *err, size_t errlen)
{
    struct bench_run *r = NULL;
    struct json *j = NULL;
    char *text = NULL, jerr[256], herr[256];
    const char *what;
    size_t len;

    if (fs_read_file(path, &text, &len) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if ((j = json_parse(text, len, jerr, sizeof(jerr))) == NULL) {
        snprintf(err, errlen, "%s:%s", path, jerr);
        goto done;
    }
    r = bench_run_new();
    if ((what = bench_read_tree(r, j, herr, sizeof(herr))) != NULL) {
        snprintf(err, errlen, "%s: %s", path, what);
        bench_run_free(r);
        r = NULL;
    }
done:
    json_free(j);
    free(text);
    return r;
}

/* CPU figures add only when both runs have them. */
static double bench_add_cpu(double a, double b)
{
    return a < 0 || b < 0 ? -1 : a + b;
}

int bench_run_merge(struct bench_run *dst, const struct bench_run *src,
                    char *err, size_t errlen)
{
    if (dst->interval != src->interval) {
        snprintf(err, errlen, "timeline intervals differ (%.3f s, %.3f s)",
                 dst->interval, src->interval);
        return -1;
    }
    if (hist_merge(dst->latency, src->latency) < 0 ||
        (dst->e2e && src->e2e && hist_merge(dst->e2e, src->e2e) < 0)) {
        snprintf(err, errlen, "histogram precisions differ");
        return -1;
    }
    if (dst->e2e == NULL && src->e2e) {
        dst->e2e = hist_new(src->e2e->bits);
        hist_merge(dst->e2e, src->e2e);
    }
    for (size_t i = 0; i < BENCH_NCOUNTS; i++)
        BENCH_COUNT(dst, i) += BENCH_COUNT(src, i);
    dst->arrived += src->arrived;
    dst->have_arrived = dst->have_arrived && src->have_arrived;
    for (size_t i = 0; i < src->ncodes; i++)
        bench_run_count(dst, src->codes[i].key, src->codes[i].n);
    for (size_t i = 0; i < src->npoints; i++) {
        struct bench_point *p = bench_run_point(dst, i);
        p->sent += src->points[i].sent;
        p->accepted += src->points[i].accepted;
        p->bytes += src->points[i].bytes;
        if (src->points[i].queue > p->queue)
            p->queue = src->points[i].queue;
    }
    if (src->seconds > dst->seconds)
        dst->seconds = src->seconds;
    dst->connections += src->connections;
    dst->rate += src->rate;
    dst->loaders += src->loaders;
    dst->sut_cpu_ns = bench_add_cpu(dst->sut_cpu_ns, src->sut_cpu_ns);
    dst->client_cpu_ns = bench_add_cpu(dst->client_cpu_ns, src->client_cpu_ns);
    return 0;
}

/* A duration in µs for people: "850us", "12.35ms", "2.50s". */
static const char *bench_fmt_us(uint64_t us, char *buf, size_t len)
{
    if (us < 1000)
        snprintf(buf, len, "%" PRIu64 "us", us);
    else if (us < 1000000)
        snprintf(buf, len, "%.2fms", (double)us / 1e3);
    else
        snprintf(buf, len, "%.2fs", (double)us / 1e6);
    return buf;
}

static void bench_table_hist(FILE *fp, const char *label, const struct hist *h)
{
    static const double ps[] = {50, 90, 99, 99.9};
    static const char *const names[] = {"p50", "p90", "p99", "p99.9"};
    char b[32];

    fprintf(fp, "%-12s", label);
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        fprintf(fp, " %s %s", names[i],
                bench_fmt_us(hist_percentile(h, ps[i]), b, sizeof(b)));
    fprintf(fp, " max %s\n", bench_fmt_us(h->max, b, sizeof(b)));
}

static void bench_table_load(const struct bench_run *r, FILE *fp)
{
    fprintf(fp, "%-12s %s%s%s\n", "target", r->target ? r->target : "?",
            r->scenario ? ", scenario " : "", r->scenario ? r->scenario : "");
    fprintf(fp, "%-12s ", "load");
    if (r->open_loop)
        fprintf(fp, "open loop at %.1f msg/s", r->rate);
    else
        fprintf(fp, "closed loop");
    fprintf(fp, ", %d connections, ", r->connections);
    if (r->per_connection == 1)
        fprintf(fp, "one message per connection");
    else
        fprintf(fp, "connections reused");
    fprintf(fp, ", size %s, %d recipient%s%s%s", r->size ? r->size : "?",
            r->recipients, r->recipients == 1 ? "" : "s",
            r->pipelining ? ", PIPELINING" : "", r->tls ? ", STARTTLS" : "");
    if (r->loaders > 1)
        fprintf(fp, ", %d load machines merged", r->loaders);
    fputc('\n', fp);
}

void bench_run_table(const struct bench_run *r, FILE *fp)
{
    double m = (double)(r->accepted ? r->accepted : 1);

    bench_table_load(r, fp);
    fprintf(fp,
            "%-12s sent %" PRIu64 ", accepted %" PRIu64 ", refused %" PRIu64
            ", errors %" PRIu64,
            "messages", r->sent, r->accepted, r->refused, r->errors);
    if (r->have_arrived)
        fprintf(fp, ", arrived at the fake MX %" PRIu64, r->arrived);
    fprintf(fp, "\n%-12s %.1f msg/s, %.2f MB/s over %.3f s\n", "rate",
            bench_run_rate(r), bench_run_mbps(r), r->seconds);
    bench_table_hist(fp, "latency", r->latency);
    fprintf(fp, "%-12s from %s to the final 250\n", "",
            r->latency_from ? r->latency_from : "?");
    if (r->e2e)
        bench_table_hist(fp, "end-to-end", r->e2e);
    fprintf(fp, "%-12s", "replies");
    for (size_t i = 0; i < r->ncodes; i++)
        fprintf(fp, " %s x%" PRIu64, r->codes[i].key, r->codes[i].n);
    fputc('\n', fp);
    if (r->sut_cpu_ns >= 0)
        fprintf(fp, "%-12s %.1f us/msg (%s)\n", "SUT CPU",
                r->sut_cpu_ns / m / 1e3, r->cpu_source ? r->cpu_source : "?");
    if (r->client_cpu_ns >= 0)
        fprintf(fp, "%-12s %.1f us/msg\n", "client CPU",
                r->client_cpu_ns / m / 1e3);
}

int bench_gate(const struct bench_run *cur, const struct bench_run *base,
               double tolerance, FILE *fp)
{
    double rc = bench_run_rate(cur), rb = bench_run_rate(base);
    double pc = (double)hist_percentile(cur->latency, 99);
    double pb = (double)hist_percentile(base->latency, 99);
    int bad_rate = rc < rb * (1 - tolerance / 100);
    int bad_p99 = pc > pb * (1 + tolerance / 100);

    fprintf(fp,
            "gate: throughput %.1f msg/s against %.1f msg/s in the baseline "
            "(%+.1f%%, tolerance %.1f%%): %s\n",
            rc, rb, rb > 0 ? 100 * (rc - rb) / rb : 0, tolerance,
            bad_rate ? "REGRESSED" : "ok");
    fprintf(fp,
            "gate: p99 latency %.0f us against %.0f us in the baseline "
            "(%+.1f%%, tolerance %.1f%%): %s\n",
            pc, pb, pb > 0 ? 100 * (pc - pb) / pb : 0, tolerance,
            bad_p99 ? "REGRESSED" : "ok");
    return bad_rate + bad_p99;
}
