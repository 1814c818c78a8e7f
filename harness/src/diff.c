/*
 * diff.c — "mxlab diff PATH...": every scenario runs on the reference
 * relay and on a private Postfix ("mxlab run" twice, work directories
 * kept under REPORT/relay and REPORT/postfix), then their observations
 * (runner.h: the reply code and enhanced status code of every S: line,
 * the messages that arrived at each step, the queue size after each step)
 * and verdicts are compared. A difference is explained when the file
 * diff-allow.txt beside the scenario has a matching line:
 *
 *     NAME LINE KIND  reason...
 *
 * NAME and LINE are shell globs (fnmatch) over the scenario name and the
 * scenario line, KIND is reply, delivered, queue or verdict. A verdict
 * that differs is explained by a "verdict" line whose LINE matches the
 * line where the failing side failed; observations from that line on
 * are then not compared (the failing side made none after it). Exit 0
 * when every scenario has the same verdict on both (or an explained
 * one) and no unexplained difference.
 */
#include "harness/diff.h"

#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefile.h"
#include "harness/run.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

static void diff_usage(FILE *fp)
{
    fprintf(fp, "usage: mxlab diff [--report DIR] [--jobs N] [--filter GLOB] "
                "PATH...\n"
                "\n"
                "Run each scenario on the reference relay and on a private\n"
                "Postfix, and report every step whose reply code, enhanced\n"
                "status code, delivered messages or queue size differ.\n"
                "Deliberate differences are listed, with their reason, in\n"
                "diff-allow.txt beside the scenarios (\"NAME LINE KIND "
                "reason\").\n"
                "\n"
                "  --report DIR    where both runs keep their work (default:\n"
                "                  report/diff)\n"
                "  --jobs N        scenarios run in parallel (default: 2)\n"
                "  --filter GLOB   only scenarios whose name matches GLOB\n"
                "  -h, --help      this text\n");
}

/* One line of a run's observations: "LINE KIND VALUE". */
struct diff_obs {
    int line;
    char kind[16];
    char *value;
    int matched;
};

static size_t diff_read_obs(const char *workdir, struct diff_obs **out)
{
    char *path = xasprintf("%s/observations", workdir), *text = NULL;
    size_t n = 0;

    *out = NULL;
    if (fs_read_file(path, &text, NULL) == 0) {
        for (char *l = text; l && *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = '\0';
            struct diff_obs o;
            int used = 0;
            memset(&o, 0, sizeof(o));
            /* NOLINTNEXTLINE(cert-err34-c): own work file */
            if (sscanf(l, "%d %15s %n", &o.line, o.kind, &used) >= 2) {
                o.value = xstrdup(l + used);
                *out = xrealloc(*out, (n + 1) * sizeof(**out));
                (*out)[n++] = o;
            }
            l = nl ? nl + 1 : NULL;
        }
    }
    free(text);
    free(path);
    return n;
}

/* The scenario line of a failure message ("path.scn:25: expected ..."),
 * or 0. */
static int diff_failed_line(const char *msg)
{
    const char *p = msg ? strstr(msg, ".scn:") : NULL;
    long line = 0;

    if (p == NULL)
        return 0;
    for (p += 5; *p >= '0' && *p <= '9' && line < 1000000; p++)
        line = line * 10 + (*p - '0');
    return *p == ':' ? (int)line : 0;
}

static void diff_free_obs(struct diff_obs *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].value);
    free(v);
}

/* 1 if a and b are queue sizes of which one was taken while that SUT
 * was delivering (runner: "queue N busy"): not comparable. */
static int diff_busy_queue(const struct diff_obs *a, const struct diff_obs *b)
{
    size_t la = strlen(a->value), lb = strlen(b->value);

    return strcmp(a->kind, "queue") == 0 &&
           ((la > 5 && strcmp(a->value + la - 5, " busy") == 0) ||
            (lb > 5 && strcmp(b->value + lb - 5, " busy") == 0));
}

/* The first line of WORK/result and its message (third line). */
static char *diff_read_result(const char *workdir, char **message)
{
    char *path = xasprintf("%s/result", workdir), *text = NULL;
    char *status = NULL;

    *message = NULL;
    if (fs_read_file(path, &text, NULL) == 0) {
        char *l2 = strchr(text, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
        if (l2)
            *l2 = '\0';
        if (l3) {
            char *nl = strchr(l3 + 1, '\n');
            if (nl)
                *nl = '\0';
            *message = xstrdup(l3 + 1);
        }
        status = xstrdup(text);
    }
    free(text);
    free(path);
    return status ? status : xstrdup("missing");
}

/* The reason in diff-allow.txt beside scenario for (name, line, kind),
 * or NULL. Borrowed from allow (the file's text, kept by the caller). */
static const char *diff_allowed(const char *allow, const char *name, int line,
                                const char *kind, char *buf, size_t buflen)
{
    char num[16];

    snprintf(num, sizeof(num), "%d", line);
    for (const char *l = allow; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char *copy = xstrndup(l, len);
        struct strlist w;
        strlist_init(&w);
        strlist_split(&w, copy);
        if (copy[0] != '#' && w.n >= 3 && fnmatch(w.v[0], name, 0) == 0 &&
            fnmatch(w.v[1], num, 0) == 0 && strcmp(w.v[2], kind) == 0) {
            const char *reason = copy;
            for (int f = 0; f < 3; f++) {
                reason += strspn(reason, " \t");
                reason += strcspn(reason, " \t");
            }
            reason += strspn(reason, " \t");
            snprintf(buf, buflen, "%s", *reason ? reason : "(no reason)");
            strlist_clear(&w);
            free(copy);
            return buf;
        }
        strlist_clear(&w);
        free(copy);
        l = nl ? nl + 1 : NULL;
    }
    return NULL;
}

int diff_scenario(const char *rdir, const char *pdir, const char *work,
                  FILE *out)
{
    char *rw = xasprintf("%s/work/%s", rdir, work);
    char *pw = xasprintf("%s/work/%s", pdir, work);
    char *scn_path = NULL, *allow = NULL, *rmsg, *pmsg;
    char *rres = diff_read_result(rw, &rmsg),
         *pres = diff_read_result(pw, &pmsg);
    struct diff_obs *ro, *po;
    size_t nr = diff_read_obs(rw, &ro), np = diff_read_obs(pw, &po);
    int unexplained = 0, explained = 0, cut = 0;
    char reason[512];
    const char *name = work;
    char *path = xasprintf("%s/scenario", rw);

    if (fs_read_file(path, &scn_path, NULL) == 0) {
        char *dir = xstrdup(scn_path), *slash = strrchr(dir, '/');
        char *ap = slash ? (*slash = '\0', xasprintf("%s/diff-allow.txt", dir))
                         : xstrdup("diff-allow.txt");
        if (fs_read_file(ap, &allow, NULL) < 0)
            allow = NULL;
        free(ap);
        free(dir);
        const char *b = strrchr(scn_path, '/');
        name = b ? b + 1 : scn_path;
    }
    free(path);
    char *shortname = xstrdup(name);
    size_t sl = strlen(shortname);
    if (sl > 4 && strcmp(shortname + sl - 4, ".scn") == 0)
        shortname[sl - 4] = '\0';
    if (strcmp(pres, "skipped") == 0 || strcmp(rres, "skipped") == 0) {
        fprintf(out, "SKIP  %s: not compared (%s)\n", shortname,
                strcmp(pres, "skipped") == 0 && pmsg ? pmsg
                : rmsg                               ? rmsg
                                                     : "skipped");
        goto done;
    }
    if (strcmp(rres, pres) != 0) {
        /* The line where the failing side stopped. */
        int line = diff_failed_line(strcmp(rres, "failed") == 0 ? rmsg : pmsg);
        if (allow != NULL && line > 0 &&
            diff_allowed(allow, shortname, line, "verdict", reason,
                         sizeof(reason)) != NULL) {
            explained++;
            cut = line;
        } else {
            fprintf(out, "DIFF  %s: verdict: relay %s, postfix %s\n", shortname,
                    rres, pres);
            if (rmsg && *rmsg)
                fprintf(out, "        relay: %s\n", rmsg);
            if (pmsg && *pmsg)
                fprintf(out, "        postfix: %s\n", pmsg);
            unexplained++;
        }
    }
    /* Pair equal observations; what is left differs. */
    for (size_t i = 0; i < nr; i++)
        for (size_t k = 0; k < np; k++)
            if (!po[k].matched && ro[i].line == po[k].line &&
                strcmp(ro[i].kind, po[k].kind) == 0 &&
                (strcmp(ro[i].value, po[k].value) == 0 ||
                 diff_busy_queue(&ro[i], &po[k]))) {
                ro[i].matched = po[k].matched = 1;
                break;
            }
    for (int side = 0; side < 2; side++) {
        struct diff_obs *v = side ? po : ro;
        size_t n = side ? np : nr;
        for (size_t i = 0; i < n; i++) {
            if (v[i].matched || (cut > 0 && v[i].line >= cut))
                continue;
            const char *why =
                allow ? diff_allowed(allow, shortname, v[i].line, v[i].kind,
                                     reason, sizeof(reason))
                      : NULL;
            if (why != NULL) {
                explained++;
                continue;
            }
            if (unexplained++ == 0 && strcmp(rres, pres) == 0)
                fprintf(out, "DIFF  %s\n", shortname);
            fprintf(out, "        %s:%d %s: %s only: %s\n",
                    scn_path ? scn_path : shortname, v[i].line, v[i].kind,
                    side ? "postfix" : "relay", v[i].value);
        }
    }
    if (unexplained == 0) {
        if (explained > 0)
            fprintf(out, "SAME  %s (%d deliberate difference%s)\n", shortname,
                    explained, explained == 1 ? "" : "s");
        else
            fprintf(out, "SAME  %s\n", shortname);
    }
done:
    diff_free_obs(ro, nr);
    diff_free_obs(po, np);
    free(rres);
    free(pres);
    free(rmsg);
    free(pmsg);
    free(allow);
    free(scn_path);
    free(shortname);
    free(rw);
    free(pw);
    return unexplained;
}

/* One scenario compared: on stdout, and in both reports' records (the
 * HTML report shows it). What diff_scenario returns. */
static int diff_one(char *const dirs[2], const char *work)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int rc;

    if (mem == NULL)
        return diff_scenario(dirs[0], dirs[1], work, stdout);
    rc = diff_scenario(dirs[0], dirs[1], work, mem);
    fclose(mem);
    fputs(text, stdout);
    for (int s = 0; s < 2; s++)
        casefile_add_text(dirs[s], work, "diff", text);
    free(text);
    return rc;
}

int diff_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"report", required_argument, NULL, 'r'},
        {"jobs", required_argument, NULL, 'j'},
        {"filter", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *report = "report/diff", *jobs = "2", *filter = NULL;
    int opt, differing = 0, compared = 0;

    optind = 0; /* GNU getopt: full reinitialisation (diff runs run twice) */
    opterr = 0; /* our own messages, with our name */
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            report = optarg;
            break;
        case 'j':
            jobs = optarg;
            break;
        case 'f':
            filter = optarg;
            break;
        case 'h':
            diff_usage(stdout);
            return 0;
        default:
            return run_option_error("mxlab diff", opt, argv, diff_usage);
        }
    }
    if (optind >= argc) {
        diff_usage(stderr);
        return 2;
    }
    int first = optind; /* run_main's getopt moves optind */
    char *dirs[2] = {xasprintf("%s/relay", report),
                     xasprintf("%s/postfix", report)};
    static const char *suts[2] = {"relay", "postfix"};
    for (int s = 0; s < 2; s++) {
        struct strlist a;
        strlist_init(&a);
        strlist_push(&a, "run");
        strlist_push(&a, "--sut");
        strlist_push(&a, suts[s]);
        strlist_push(&a, "--report");
        strlist_push(&a, dirs[s]);
        strlist_push(&a, "--jobs");
        strlist_push(&a, jobs);
        strlist_push(&a, "--keep");
        if (filter != NULL) {
            strlist_push(&a, "--filter");
            strlist_push(&a, filter);
        }
        for (int i = first; i < argc; i++)
            strlist_push(&a, argv[i]);
        printf("== %s\n", suts[s]);
        fflush(stdout);
        fs_rm_rf(dirs[s]);
        int rc = run_main((int)a.n, a.v);
        strlist_clear(&a);
        if (rc == 2 || rc == 130) {
            free(dirs[0]);
            free(dirs[1]);
            return rc;
        }
        printf("\n");
    }
    printf("== relay vs postfix\n");
    char *workroot = xasprintf("%s/work", dirs[0]);
    struct strlist works;
    strlist_init(&works);
    fs_list_dir(workroot, &works);
    for (size_t i = 0; i < works.n; i++) {
        differing += diff_one(dirs, works.v[i]) > 0;
        compared++;
    }
    printf("%d compared, %d with unexplained differences\n", compared,
           differing);
    for (int s = 0; s < 2; s++)
        if (casefile_remake("mxlab diff", dirs[s]) == 0)
            printf("report: %s/index.html\n", dirs[s]);
    strlist_clear(&works);
    free(workroot);
    free(dirs[0]);
    free(dirs[1]);
    return differing > 0 ? 1 : 0;
}
