/*
 * run.c — the "mxlab run" command. See run.h.
 * Worker protocol: the worker writes WORK/result ("passed|failed|skipped",
 * seconds, message) and WORK/transcript, then exits 0. The parent reaps
 * workers with sigtimedwait() on SIGCHLD, so every wait has a deadline.
 */
#include "harness/run.h"

#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/runner.h"
#include "harness/scenario.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "reports/report.h"
#include "sut_postfix.h"

#define RUN_WORKER_LIMIT_MS 120000 /* a whole scenario, hard cap */

struct run_case {
    char *path;
    char *name;
    char *classname;
    char *workdir;
    pid_t pid;
    long long started_ms;
    int done;
    struct report_case rc;
    char *message;
    char *detail;
    char *steps;
};

static void run_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab run [--sut relay|postfix|smtp://HOST:PORT]\n"
            "                 [--report DIR] [--jobs N]\n"
            "                 [--filter GLOB] [--keep] PATH...\n"
            "\n"
            "Run scenario files (PATH may be a directory: every *.scn below\n"
            "it) against the system under test and report.\n"
            "\n"
            "  --sut relay     the embedded reference relay (default)\n"
            "  --sut postfix   a private Postfix built from each scenario\n"
            "                  (needs root and Debian's postfix)\n"
            "  --sut smtp://HOST:PORT  a server already running: black-box\n"
            "                  scenarios (sessions only) run, the others\n"
            "                  are skipped with the reason\n"
            "  --report DIR    write junit.xml and per-scenario work\n"
            "                  directories there (default: report)\n"
            "  --jobs N        scenarios run in parallel (default: 2)\n"
            "  --filter GLOB   only scenarios whose name matches GLOB\n"
            "  --keep          keep work directories of passed scenarios\n"
            "\n"
            "Prints one line per scenario and \"N passed, N failed, N "
            "skipped\";\nexits 0 only if none failed.\n");
}

static void run_collect(const char *path, struct strlist *out, int top)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        /* Reported later as a failing scenario with the reason. */
        strlist_push(out, path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        if (top || (n > 4 && strcmp(path + n - 4, ".scn") == 0))
            strlist_push(out, path);
        return;
    }
    struct strlist names;
    strlist_init(&names);
    fs_list_dir(path, &names);
    for (size_t i = 0; i < names.n; i++) {
        char *sub = xasprintf("%s/%s", path, names.v[i]);
        run_collect(sub, out, 0);
        free(sub);
    }
    strlist_clear(&names);
}

static char *run_base_name(const char *path, int strip_ext)
{
    const char *b = strrchr(path, '/');
    size_t n;

    b = b ? b + 1 : path;
    n = strlen(b);
    if (strip_ext && n > 4 && strcmp(b + n - 4, ".scn") == 0)
        n -= 4;
    return xstrndup(b, n);
}

static char *run_dir_name(const char *path)
{
    char *copy = xstrdup(path), *slash = strrchr(copy, '/');
    char *name;

    if (slash == NULL) {
        free(copy);
        return xstrdup("scenarios");
    }
    *slash = '\0';
    name = run_base_name(copy, 0);
    free(copy);
    return name;
}

/* The worker: parse, run, write the result files, exit. */
static enum runner_sut run_sut = RUNNER_SUT_RELAY;

/* WORKDIR/NAME := what sb holds (for the parent and for mxlab diff). */
static void run_save(const char *workdir, const char *name,
                     const struct strbuf *sb)
{
    char *path = xasprintf("%s/%s", workdir, name);

    fs_write_atomic(path, sb->buf ? sb->buf : "", sb->len);
    free(path);
}

static _Noreturn void run_worker(struct run_case *c)
{
    struct runner_result res;
    struct scenario *s;
    char err[2048];
    FILE *fp;
    char *path;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    memset(&res, 0, sizeof(res));
    strbuf_init(&res.transcript);
    strbuf_init(&res.observations);
    strbuf_init(&res.steps);
    fs_rm_rf(c->workdir);
    fs_mkdir_p(c->workdir, 0755);
    s = scenario_load(c->path, err, sizeof(err));
    if (s != NULL && run_sut == RUNNER_SUT_POSTFIX &&
        !pfsut_available(err, sizeof(err))) {
        res.status = RUNNER_SKIPPED;
        snprintf(res.message, sizeof(res.message), "%s", err);
        scenario_free(s);
        s = NULL;
    } else if (s == NULL) {
        res.status = RUNNER_FAILED;
        snprintf(res.message, sizeof(res.message), "%s", err);
    } else if (s != NULL) {
        runner_run(s, c->workdir, run_sut, &res);
        scenario_free(s);
    }
    run_save(c->workdir, "transcript", &res.transcript);
    run_save(c->workdir, "observations", &res.observations);
    run_save(c->workdir, "steps", &res.steps);
    path = xasprintf("%s/scenario", c->workdir);
    fs_write_atomic(path, c->path, strlen(c->path));
    free(path);
    path = xasprintf("%s/result", c->workdir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fprintf(fp, "%s\n%.3f\n%s\n",
                res.status == RUNNER_PASSED   ? "passed"
                : res.status == RUNNER_FAILED ? "failed"
                                              : "skipped",
                res.seconds, res.message);
        fclose(fp);
    }
    free(path);
    strbuf_clear(&res.transcript);
    strbuf_clear(&res.observations);
    strbuf_clear(&res.steps);
    _exit(0);
}

static void run_read_result(struct run_case *c, int exit_status)
{
    char *path = xasprintf("%s/result", c->workdir), *text = NULL;
    double secs = (double)(clock_mono_ms() - c->started_ms) / 1000.0;

    c->rc.status = REPORT_FAILED;
    if (fs_read_file(path, &text, NULL) == 0) {
        char *l1 = text, *l2 = strchr(l1, '\n'), *l3 = NULL;
        if (l2 != NULL) {
            *l2++ = '\0';
            l3 = strchr(l2, '\n');
            if (l3 != NULL)
                *l3++ = '\0';
        }
        if (strcmp(l1, "passed") == 0)
            c->rc.status = REPORT_PASSED;
        else if (strcmp(l1, "skipped") == 0)
            c->rc.status = REPORT_SKIPPED;
        if (l3 != NULL) {
            char *nl = strchr(l3, '\n');
            if (nl)
                *nl = '\0';
            c->message = xstrdup(l3);
        }
    } else if (WIFSIGNALED(exit_status)) {
        c->message = xasprintf(
            "%s: worker killed by signal %d%s", c->path, WTERMSIG(exit_status),
            WTERMSIG(exit_status) == SIGKILL ? " (time limit)" : "");
    } else {
        c->message = xasprintf("%s: worker ended without a result (exit "
                               "status %d)",
                               c->path, WEXITSTATUS(exit_status));
    }
    free(path);
    free(text);
    path = xasprintf("%s/transcript", c->workdir);
    if (fs_read_file(path, &text, NULL) == 0)
        c->detail = text;
    free(path);
    path = xasprintf("%s/steps", c->workdir);
    if (fs_read_file(path, &text, NULL) == 0)
        c->steps = text;
    free(path);
    c->rc.name = c->name;
    c->rc.classname = c->classname;
    c->rc.file = c->path;
    c->rc.seconds = secs;
    c->rc.message = c->message && *c->message ? c->message : NULL;
    c->rc.detail = c->detail;
    c->rc.steps = c->steps;
    c->done = 1;
}

static volatile sig_atomic_t run_interrupted;

int run_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sut", required_argument, NULL, 's'},
        {"report", required_argument, NULL, 'r'},
        {"jobs", required_argument, NULL, 'j'},
        {"filter", required_argument, NULL, 'f'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *report = "report", *filter = NULL, *sut = "relay";
    long jobs = 2;
    int keep = 0, opt, exit_code;
    struct strlist paths;
    struct run_case *cases;
    struct report_case *rcs = NULL;
    size_t n = 0, next = 0, running = 0, finished = 0;
    sigset_t set, old;

    optind = 0; /* GNU getopt: full reinitialisation (diff runs run twice) */
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            sut = optarg;
            break;
        case 'r':
            report = optarg;
            break;
        case 'j':
            if (str_to_long(optarg, &jobs) < 0 || jobs < 1 || jobs > 64) {
                fprintf(stderr, "mxlab run: --jobs: 1 to 64 expected\n");
                return 2;
            }
            break;
        case 'f':
            filter = optarg;
            break;
        case 'k':
            keep = 1;
            break;
        case 'h':
            run_usage(stdout);
            return 0;
        default:
            run_usage(stderr);
            return 2;
        }
    }
    char why[256] = "";
    if (strcmp(sut, "relay") == 0) {
        run_sut = RUNNER_SUT_RELAY;
    } else if (strcmp(sut, "postfix") == 0) {
        run_sut = RUNNER_SUT_POSTFIX;
        if (!pfsut_available(why, sizeof(why)))
            fprintf(stderr, "mxlab run: %s: every scenario is skipped\n", why);
    } else if (str_casestart(sut, "smtp://") != NULL) {
        run_sut = RUNNER_SUT_REMOTE;
        if (runner_set_remote(sut, why, sizeof(why)) < 0) {
            fprintf(stderr, "mxlab run: --sut %s\n", why);
            return 2;
        }
    } else {
        fprintf(stderr,
                "mxlab run: --sut %s: relay, postfix or smtp://HOST:PORT "
                "expected\n",
                sut);
        return 2;
    }
    if (optind >= argc) {
        run_usage(stderr);
        return 2;
    }
    strlist_init(&paths);
    for (int i = optind; i < argc; i++)
        run_collect(argv[i], &paths, 1);
    cases = xcalloc(paths.n ? paths.n : 1, sizeof(*cases));
    for (size_t i = 0; i < paths.n; i++) {
        char *name = run_base_name(paths.v[i], 1);
        if (filter != NULL && fnmatch(filter, name, 0) != 0) {
            free(name);
            continue;
        }
        cases[n].path = xstrdup(paths.v[i]);
        cases[n].name = name;
        cases[n].classname = run_dir_name(paths.v[i]);
        cases[n].workdir =
            xasprintf("%s/work/%s-%s", report, cases[n].classname, name);
        n++;
    }
    strlist_clear(&paths);
    if (n == 0) {
        fprintf(stderr, "mxlab run: no scenario to run\n");
        free(cases);
        return 2;
    }
    if (fs_mkdir_p(report, 0755) < 0) {
        fprintf(stderr, "mxlab run: %s: %s\n", report, strerror(errno));
        return 2;
    }
    /* Make report absolute for workers (they chdir nowhere, but relay
     * config files name paths that must stay valid). */
    char *absreport = realpath(report, NULL);
    for (size_t i = 0; i < n; i++) {
        char *w = xasprintf("%s/work/%s-%s", absreport, cases[i].classname,
                            cases[i].name);
        free(cases[i].workdir);
        cases[i].workdir = w;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(NULL);
    while (finished < n && !run_interrupted) {
        while (running < (size_t)jobs && next < n) {
            struct run_case *c = &cases[next++];
            c->started_ms = clock_mono_ms();
            c->pid = fork();
            if (c->pid == 0) {
                sigprocmask(SIG_SETMASK, &old, NULL);
                run_worker(c);
            }
            if (c->pid < 0) {
                c->message =
                    xasprintf("%s: fork: %s", c->path, strerror(errno));
                c->rc.status = REPORT_FAILED;
                c->rc.name = c->name;
                c->rc.classname = c->classname;
                c->rc.message = c->message;
                c->done = 1;
                finished++;
                continue;
            }
            running++;
        }
        /* Reap what has finished; kill what overstayed. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (size_t i = 0; i < n; i++) {
                if (cases[i].pid == pid && !cases[i].done) {
                    if (run_sut == RUNNER_SUT_POSTFIX)
                        pfsut_reap_orphan(cases[i].workdir);
                    run_read_result(&cases[i], status);
                    running--;
                    finished++;
                    fprintf(stdout, "%s  %s\n",
                            report_strstatus(cases[i].rc.status),
                            cases[i].name);
                    fflush(stdout);
                }
            }
        }
        long long now = clock_mono_ms(), wait_ms = 1000;
        for (size_t i = 0; i < next; i++) {
            if (cases[i].done || cases[i].pid <= 0)
                continue;
            long long left = cases[i].started_ms + RUN_WORKER_LIMIT_MS - now;
            if (left <= 0)
                kill(cases[i].pid, SIGKILL);
            else if (left < wait_ms)
                wait_ms = left;
        }
        if (finished >= n)
            break;
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            run_interrupted = 1;
    }
    if (run_interrupted) {
        for (size_t i = 0; i < next; i++)
            if (!cases[i].done && cases[i].pid > 0)
                kill(cases[i].pid, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0)
            ;
        if (run_sut == RUNNER_SUT_POSTFIX)
            for (size_t i = 0; i < next; i++)
                pfsut_reap_orphan(cases[i].workdir);
        fprintf(stderr, "mxlab run: interrupted; workers stopped\n");
        exit_code = 130;
        goto done;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    rcs = xcalloc(n, sizeof(*rcs));
    for (size_t i = 0; i < n; i++)
        rcs[i] = cases[i].rc;
    fputc('\n', stdout);
    report_summary_write(stdout, rcs, n);
    char *junit = xasprintf("%s/junit.xml", absreport);
    FILE *fp = fopen(junit, "w");
    if (fp == NULL || report_junit_write(fp, "mxlab", rcs, n) < 0) {
        fprintf(stderr, "mxlab run: %s: %s\n", junit, strerror(errno));
    }
    if (fp != NULL)
        fclose(fp);
    char *results = xasprintf("%s/results.json", absreport);
    fp = fopen(results, "w");
    if (fp == NULL || report_results_json_write(fp, rcs, n) < 0)
        fprintf(stderr, "mxlab run: %s: %s\n", results, strerror(errno));
    if (fp != NULL)
        fclose(fp);
    free(results);
    fprintf(stdout, "report: %s\n", junit);
    size_t passed, failed, skipped;
    report_count(rcs, n, &passed, &failed, &skipped);
    exit_code = failed ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].rc.status == REPORT_PASSED && !keep)
            fs_rm_rf(cases[i].workdir);
        else if (cases[i].rc.status == REPORT_FAILED)
            fprintf(stdout,
                    "  kept for %s: %s (transcript, maillog, "
                    "config)\n",
                    cases[i].name, cases[i].workdir);
    }
    free(junit);
done:
    for (size_t i = 0; i < n; i++) {
        free(cases[i].path);
        free(cases[i].name);
        free(cases[i].classname);
        free(cases[i].workdir);
        free(cases[i].message);
        free(cases[i].detail);
        free(cases[i].steps);
    }
    free(absreport);
    free(rcs);
    free(cases);
    return exit_code;
}
