/*
 * merge.c — "mxlab merge DIR...": the reports of the shards of a suite
 * (mxlab run --shard K/N, each on its own CI job) joined into one:
 * junit.xml, results.json and index.html made from the shards' records
 * (casefile.h), in the order of the unsplit suite, links to kept work
 * files pointing into the shards' directories. Shards that are missing or
 * overlap are refused.
 */
#include "merge.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casefile.h"
#include "harness/run.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "reportdir.h"
#include "shard.h"

static void merge_usage(FILE *fp)
{
    fprintf(fp, "usage: mxlab merge [--report DIR] [--clean] REPORT...\n"
                "\n"
                "Join the reports of mxlab run's shards (--shard K/N) into\n"
                "one: junit.xml, results.json and index.html in the order\n"
                "of the whole suite. A REPORT directory whose latest link\n"
                "points elsewhere is read there.\n"
                "\n"
                "  --report DIR    where the merged report goes (default:\n"
                "                  report; not replaced when it is not\n"
                "                  empty, as with mxlab run)\n"
                "  --clean         empty DIR first\n"
                "  -h, --help      this text\n"
                "\n"
                "Exit 0 when no scenario failed, 1 if one did, 2 when the\n"
                "reports cannot be merged.\n");
}

struct merge_part {
    char *dir; /* absolute */
    struct casefile_run run;
    struct casefile *cases;
    size_t n;
};

/* path relative to the directory from (both absolute). Caller frees. */
static char *merge_relative(const char *from, const char *path)
{
    size_t common = 0, i = 0;
    struct strbuf sb;

    for (; from[i] && from[i] == path[i]; i++)
        if (from[i] == '/')
            common = i;
    if (from[i] == '\0' && (path[i] == '/' || path[i] == '\0'))
        common = i;
    strbuf_init(&sb);
    for (const char *p = from + common; *p; p++)
        if (*p == '/')
            strbuf_puts(&sb, "../");
    strbuf_puts(&sb, path[common] == '/' ? path + common + 1 : path + common);
    return strbuf_detach(&sb);
}

/* A shard's report: DIR, or DIR/latest when DIR has no run of its own. */
static int merge_read(const char *arg, struct merge_part *p)
{
    char err[1024], *latest = xasprintf("%s/latest/run", arg);
    char *run = xasprintf("%s/run", arg);
    int follow = access(run, F_OK) != 0 && access(latest, F_OK) == 0;
    char *path = xasprintf("%s%s", arg, follow ? "/latest" : "");
    int rc = -1;

    p->dir = realpath(path, NULL);
    if (p->dir == NULL)
        snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
    else if (casefile_run_read(p->dir, &p->run, err, sizeof(err)) == 0 &&
             casefile_read_all(p->dir, &p->cases, &p->n, err, sizeof(err)) == 0)
        rc = 0;
    if (rc < 0)
        fprintf(stderr, "mxlab merge: %s\n", err);
    free(latest);
    free(run);
    free(path);
    return rc;
}

/* Every shard of the same N once, or reports that are not shards. */
static int merge_check_shards(const struct merge_part *p, size_t np)
{
    long n0 = 0, k, n;
    unsigned char seen[1001] = {0};

    for (size_t i = 0; i < np; i++) {
        if (p[i].run.shard == NULL || shard_parse(p[i].run.shard, &k, &n) < 0) {
            if (n0 > 0)
                goto mixed;
            continue;
        }
        if ((n0 != 0 && n != n0) || (n0 == 0 && i > 0))
            goto mixed;
        n0 = n;
        if (seen[k]++) {
            fprintf(stderr, "mxlab merge: shard %ld/%ld given twice\n", k, n);
            return -1;
        }
    }
    for (long s = 1; s <= n0; s++)
        if (!seen[s]) {
            fprintf(stderr, "mxlab merge: shard %ld/%ld is missing\n", s, n0);
            return -1;
        }
    return 0;
mixed:
    fprintf(stderr, "mxlab merge: the reports are not the shards of one "
                    "split (--shard K/N with the same N)\n");
    return -1;
}

static int merge_cmp(const void *a, const void *b)
{
    const struct casefile *const *x = a, *const *y = b;

    if ((*x)->index != (*y)->index)
        return (*x)->index < (*y)->index ? -1 : 1;
    return strcmp((*x)->rc.name, (*y)->rc.name);
}

/* All cases, in suite order, links made relative to out. NULL (on
 * stderr) if a scenario is in two reports. */
static struct report_case *merge_cases(struct merge_part *p, size_t np,
                                       const char *out, size_t *n,
                                       struct strlist *links)
{
    struct casefile **all;
    struct report_case *rcs;
    size_t total = 0, k = 0;

    for (size_t i = 0; i < np; i++)
        total += p[i].n;
    all = xcalloc(total ? total : 1, sizeof(*all));
    rcs = xcalloc(total ? total : 1, sizeof(*rcs));
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < p[i].n; j++) {
            struct casefile *c = &p[i].cases[j];
            for (int l = 0; l < 2; l++) {
                const char **link = l ? &c->rc.capture : &c->rc.workdir;
                if (*link == NULL)
                    continue;
                char *abs = xasprintf("%s/%s", p[i].dir, *link);
                char *rel = merge_relative(out, abs);
                strlist_push(links, rel);
                *link = links->v[links->n - 1];
                free(abs);
                free(rel);
            }
            all[k++] = c;
        }
    qsort(all, total, sizeof(*all), merge_cmp);
    for (size_t i = 0; i < total; i++) {
        rcs[i] = all[i]->rc;
        if (i > 0 && all[i]->index == all[i - 1]->index &&
            strcmp(all[i]->rc.name, all[i - 1]->rc.name) == 0) {
            fprintf(stderr, "mxlab merge: %s/%s is in two reports\n",
                    rcs[i].classname, rcs[i].name);
            free(rcs);
            rcs = NULL;
            break;
        }
    }
    free(all);
    *n = total;
    return rcs;
}

/* The merged report into out; the exit status. */
static int merge_write(struct merge_part *p, size_t np, const char *out)
{
    struct strlist links;
    struct report_run run = {p[0].run.sut, p[0].run.started, p[0].run.version};
    struct report_case *rcs;
    size_t n = 0, passed, failed, skipped;

    for (size_t i = 1; i < np; i++)
        if (p[i].run.started != NULL &&
            (run.started == NULL || strcmp(p[i].run.started, run.started) < 0))
            run.started = p[i].run.started;
    strlist_init(&links);
    rcs = merge_cases(p, np, out, &n, &links);
    if (rcs == NULL) {
        strlist_clear(&links);
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        casefile_write(out, &rcs[i], (long)i);
    casefile_run_write(out, &run, NULL);
    report_run_header_write(stdout, &run);
    report_summary_write(stdout, rcs, n);
    casefile_reports("mxlab merge", out, &run, rcs, n);
    printf("report: %s/junit.xml, %s/index.html (%zu reports merged)\n", out,
           out, np);
    report_count(rcs, n, &passed, &failed, &skipped);
    free(rcs);
    strlist_clear(&links);
    return failed ? 1 : 0;
}

static int merge_options(int argc, char **argv, const char **report, int *clean)
{
    static const struct option longopts[] = {
        {"report", required_argument, NULL, 'r'},
        {"clean", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int opt;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (opt == 'r')
            *report = optarg;
        else if (opt == 'c')
            *clean = 1;
        else if (opt == 'h') {
            merge_usage(stdout);
            return 0;
        } else
            return run_option_error("mxlab merge", opt, argv, merge_usage);
    }
    if (optind >= argc) {
        merge_usage(stderr);
        return 2;
    }
    return -1;
}

int merge_main(int argc, char **argv)
{
    const char *report = "report";
    int clean = 0, rc = merge_options(argc, argv, &report, &clean);
    struct merge_part *parts;
    size_t np = 0;
    char err[1024], *out = NULL, *abs = NULL;

    if (rc >= 0)
        return rc;
    parts = xcalloc((size_t)(argc - optind), sizeof(*parts));
    rc = 0;
    for (int i = optind; i < argc && rc == 0; i++)
        rc = merge_read(argv[i], &parts[np++]) < 0 ? 2 : 0;
    if (rc == 0 && merge_check_shards(parts, np) < 0)
        rc = 2;
    if (rc == 0 && (out = reportdir_claim(report, clean, time(NULL), err,
                                          sizeof(err))) == NULL) {
        fprintf(stderr, "mxlab merge: %s\n", err);
        rc = 2;
    }
    if (rc == 0 && (abs = realpath(out, NULL)) == NULL) {
        fprintf(stderr, "mxlab merge: %s: %s\n", out, strerror(errno));
        rc = 2;
    }
    if (rc == 0)
        rc = merge_write(parts, np, abs);
    for (size_t i = 0; i < np; i++) {
        free(parts[i].dir);
        casefile_run_clear(&parts[i].run);
        casefile_free(parts[i].cases, parts[i].n);
    }
    free(parts);
    free(out);
    free(abs);
    return rc;
}
