/*
 * casefile.c — the per-scenario records of a report directory. See
 * casefile.h. REPORT/cases/CLASS-NAME/meta is "key value" lines (index,
 * name, class, file, status, seconds, message, workdir, capture; a value
 * runs to the end of its line); the texts are files of their own, so
 * that a record is read back without a parser.
 */
#include "casefile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "reports/report_html.h"

/* The texts of a record: file name, and where it sits in report_case. */
static const struct casefile_text {
    const char *file;
    size_t off;
} casefile_texts[] = {
    {"transcript", offsetof(struct report_case, detail)},
    {"steps", offsetof(struct report_case, steps)},
    {"timeline", offsetof(struct report_case, timeline)},
    {"maillog", offsetof(struct report_case, maillog)},
    {"diff", offsetof(struct report_case, diff)},
};
#define CASEFILE_NTEXTS (sizeof(casefile_texts) / sizeof(casefile_texts[0]))

/* "key value\n", the value on one line. */
static void casefile_kv(FILE *fp, const char *key, const char *value)
{
    if (value == NULL)
        return;
    fprintf(fp, "%s ", key);
    for (const char *p = value; *p; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, fp);
    fputc('\n', fp);
}

static int casefile_meta_write(const char *dir, const struct report_case *rc,
                               long index)
{
    char *text = NULL, *path = xasprintf("%s/meta", dir);
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    int rc_ = -1;

    if (fp != NULL) {
        fprintf(fp, "index %ld\n", index);
        casefile_kv(fp, "name", rc->name);
        casefile_kv(fp, "class", rc->classname);
        casefile_kv(fp, "file", rc->file);
        casefile_kv(fp, "status", report_status_word(rc->status));
        fprintf(fp, "seconds %.3f\n", rc->seconds);
        casefile_kv(fp, "message", rc->message);
        casefile_kv(fp, "workdir", rc->workdir);
        casefile_kv(fp, "capture", rc->capture);
        fclose(fp);
        rc_ = fs_write_atomic(path, text, len);
    }
    free(text);
    free(path);
    return rc_;
}

int casefile_write(const char *report, const struct report_case *rc, long index)
{
    char *dir = xasprintf("%s/cases/%s-%s", report,
                          rc->classname ? rc->classname : "", rc->name);
    int ret = fs_mkdir_p(dir, 0755) < 0 ? -1 : 0;

    for (size_t i = 0; i < CASEFILE_NTEXTS && ret == 0; i++) {
        const char *text =
            *(const char *const *)((const char *)rc + casefile_texts[i].off);
        char *path = xasprintf("%s/%s", dir, casefile_texts[i].file);
        if (text != NULL && *text)
            ret = fs_write_atomic(path, text, strlen(text));
        free(path);
    }
    if (ret == 0)
        ret = casefile_meta_write(dir, rc, index);
    free(dir);
    return ret;
}

int casefile_run_write(const char *report, const struct report_run *run,
                       const char *shard)
{
    char *text = NULL, *path = xasprintf("%s/run", report);
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    int rc = -1;

    if (fp != NULL) {
        casefile_kv(fp, "sut", run->sut);
        casefile_kv(fp, "started", run->started);
        casefile_kv(fp, "version", run->version);
        casefile_kv(fp, "shard", shard);
        fclose(fp);
        rc = fs_write_atomic(path, text, len);
    }
    free(text);
    free(path);
    return rc;
}

/* The value of key in "key value" lines (a copy), or NULL. */
static char *casefile_get(const char *text, const char *key)
{
    size_t k = strlen(key);

    for (const char *l = text; l != NULL && *l;) {
        if (strncmp(l, key, k) == 0 && l[k] == ' ')
            return xstrndup(l + k + 1, strcspn(l + k + 1, "\n"));
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    return NULL;
}

/* One record from dir; 0, or -1 with err. */
static int casefile_read_one(const char *dir, struct casefile *c, char *err,
                             size_t errlen)
{
    char *path = xasprintf("%s/meta", dir), *meta = NULL, *v;
    long index = 0;
    size_t o = 0;

    memset(c, 0, sizeof(*c));
    if (fs_read_file(path, &meta, NULL) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    v = casefile_get(meta, "index");
    if (v == NULL || str_to_long(v, &index) < 0)
        index = -1;
    free(v);
    c->index = index;
    c->rc.name = c->owned[o++] = casefile_get(meta, "name");
    c->rc.classname = c->owned[o++] = casefile_get(meta, "class");
    c->rc.file = c->owned[o++] = casefile_get(meta, "file");
    c->rc.message = c->owned[o++] = casefile_get(meta, "message");
    c->rc.workdir = c->owned[o++] = casefile_get(meta, "workdir");
    c->rc.capture = c->owned[o++] = casefile_get(meta, "capture");
    v = casefile_get(meta, "status");
    c->rc.status = v && strcmp(v, "passed") == 0    ? REPORT_PASSED
                   : v && strcmp(v, "skipped") == 0 ? REPORT_SKIPPED
                                                    : REPORT_FAILED;
    free(v);
    v = casefile_get(meta, "seconds");
    c->rc.seconds = v ? strtod(v, NULL) : 0;
    free(v);
    free(meta);
    for (size_t i = 0; i < CASEFILE_NTEXTS; i++) {
        char *text = NULL;
        path = xasprintf("%s/%s", dir, casefile_texts[i].file);
        if (fs_read_file(path, &text, NULL) < 0)
            text = NULL;
        free(path);
        c->owned[o++] = text;
        *(const char **)((char *)&c->rc + casefile_texts[i].off) = text;
    }
    if (c->rc.name == NULL || index < 0) {
        snprintf(err, errlen, "%s/meta: no name or index", dir);
        return -1;
    }
    return 0;
}

static int casefile_cmp(const void *a, const void *b)
{
    const struct casefile *x = a, *y = b;
    int d;

    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    d = strcmp(x->rc.classname ? x->rc.classname : "",
               y->rc.classname ? y->rc.classname : "");
    return d ? d : strcmp(x->rc.name, y->rc.name);
}

int casefile_read_all(const char *report, struct casefile **out, size_t *n,
                      char *err, size_t errlen)
{
    char *root = xasprintf("%s/cases", report);
    struct strlist names;
    int rc = 0;

    strlist_init(&names);
    *out = NULL;
    *n = 0;
    if (fs_list_dir(root, &names) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", root, strerror(errno));
        rc = -1;
    }
    *out = xcalloc(names.n ? names.n : 1, sizeof(**out));
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char *dir = xasprintf("%s/%s", root, names.v[i]);
        rc = casefile_read_one(dir, &(*out)[*n], err, errlen);
        (*n)++;
        free(dir);
    }
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), casefile_cmp);
    strlist_clear(&names);
    free(root);
    return rc;
}

void casefile_free(struct casefile *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof(c[i].owned) / sizeof(c[i].owned[0]); k++)
            free(c[i].owned[k]);
    free(c);
}

int casefile_run_read(const char *report, struct casefile_run *out, char *err,
                      size_t errlen)
{
    char *path = xasprintf("%s/run", report), *text = NULL;

    memset(out, 0, sizeof(*out));
    if (fs_read_file(path, &text, NULL) < 0) {
        snprintf(err, errlen, "%s: %s (not a report of mxlab run)", path,
                 strerror(errno));
        free(path);
        return -1;
    }
    out->sut = casefile_get(text, "sut");
    out->started = casefile_get(text, "started");
    out->version = casefile_get(text, "version");
    out->shard = casefile_get(text, "shard");
    free(text);
    free(path);
    return 0;
}

void casefile_run_clear(struct casefile_run *r)
{
    free(r->sut);
    free(r->started);
    free(r->version);
    free(r->shard);
    memset(r, 0, sizeof(*r));
}

/* Writers of the three reports, by file name. */
enum casefile_kind { CASEFILE_JUNIT, CASEFILE_JSON, CASEFILE_HTML };

static int casefile_report(FILE *fp, enum casefile_kind kind,
                           const struct report_run *run,
                           const struct report_case *c, size_t n)
{
    switch (kind) {
    case CASEFILE_JUNIT:
        return report_junit_write_run(fp, "mxlab", run, c, n);
    case CASEFILE_JSON:
        return report_results_json_write_run(fp, run, c, n);
    case CASEFILE_HTML:
        return report_html_write(fp, run, c, n);
    }
    return -1;
}

int casefile_reports(const char *prog, const char *report,
                     const struct report_run *run, const struct report_case *c,
                     size_t n)
{
    static const struct {
        const char *name;
        enum casefile_kind kind;
    } files[] = {{"junit.xml", CASEFILE_JUNIT},
                 {"results.json", CASEFILE_JSON},
                 {"index.html", CASEFILE_HTML}};
    int rc = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *path = xasprintf("%s/%s", report, files[i].name);
        FILE *fp = fopen(path, "w");
        if (fp == NULL || casefile_report(fp, files[i].kind, run, c, n) < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
            rc = -1;
        }
        if (fp != NULL && fclose(fp) != 0 && rc == 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
            rc = -1;
        }
        free(path);
    }
    return rc;
}

int casefile_remake(const char *prog, const char *report)
{
    struct casefile_run run;
    struct casefile *c = NULL;
    size_t n = 0;
    char err[1024];
    int rc = -1;

    if (casefile_run_read(report, &run, err, sizeof(err)) == 0 &&
        casefile_read_all(report, &c, &n, err, sizeof(err)) == 0) {
        struct report_run r = {run.sut, run.started, run.version};
        struct report_case *rcs = xcalloc(n ? n : 1, sizeof(*rcs));
        for (size_t i = 0; i < n; i++)
            rcs[i] = c[i].rc;
        rc = casefile_reports(prog, report, &r, rcs, n);
        free(rcs);
    } else {
        fprintf(stderr, "%s: %s\n", prog, err);
    }
    casefile_free(c, n);
    casefile_run_clear(&run);
    return rc;
}

int casefile_add_text(const char *report, const char *id, const char *file,
                      const char *text)
{
    char *path = xasprintf("%s/cases/%s/%s", report, id, file);
    int rc = fs_write_atomic(path, text, strlen(text));

    free(path);
    return rc;
}
