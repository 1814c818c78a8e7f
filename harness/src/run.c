/*
 * run.c — the "mxlab run" command. See run.h. Three parts: the options
 * (run_options), the scheduler of workers (run_schedule: at most --jobs
 * at a time, each in its own process and bounded in time), and the
 * reports (run_report: table, junit.xml, results.json, each naming the
 * system tested, when, and by which mxlab).
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

#include "casefile.h"
#include "harness/lab.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/version.h"
#include "mxlab/xmem.h"
#include "pcap_capture.h"
#include "progress.h"
#include "reportdir.h"
#include "reports/report.h"
#include "shard.h"

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
    char *timeline, *maillog, *links[2]; /* for index.html */
    long index; /* in the whole list (shards share it) */
};

/* Everything one "mxlab run" works with. */
struct run_state {
    const char *report, *filter, *shard, *durations;
    long jobs, shard_k, shard_n;
    int keep, clean;
    enum progress_level level;
    struct progress prog;
    time_t t0;
    struct sut_spec sut;
    char *absreport;
    char started[32]; /* ISO 8601 UTC */
    struct run_case *cases;
    size_t n;
};

static void run_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab run [--sut relay|postfix|smtp://HOST[:PORT]|"
            "smtps://HOST[:PORT]]\n"
            "                 [--report DIR] [--jobs N]\n"
            "                 [--filter GLOB] [--keep] [--clean] [--pcap]\n"
            "                 [--quiet|--verbose]\n"
            "                 [--shard K/N [--durations REPORT]] PATH...\n"
            "\n"
            "Run scenario files (PATH may be a directory: every *.scn below\n"
            "it) against the system under test and report.\n"
            "\n"
            "  --sut relay     the embedded reference relay (default)\n"
            "  --sut postfix   a private Postfix built from each scenario\n"
            "                  (needs root and Debian's postfix; the report\n"
            "                  directory must be reachable by its mail_owner)\n"
            "  --sut smtp://HOST[:PORT]  a server already running (port 25\n"
            "                  by default): black-box scenarios (sessions\n"
            "                  only) run, the others are skipped with the\n"
            "                  reason\n"
            "  --sut smtps://HOST[:PORT] the same with TLS from the first\n"
            "                  byte (port 465 by default)\n"
            "  --report DIR    write junit.xml, results.json and\n"
            "                  per-scenario work directories there\n"
            "                  (default: report); a directory that is\n"
            "                  not empty is kept: the report goes to a\n"
            "                  new DIR/YYYYmmddTHHMMSSZ, DIR/latest\n"
            "                  points at the last run's\n"
            "  --clean         empty the report directory instead\n"
            "  --shard K/N     run only the K-th of N parts of the\n"
            "                  scenarios (mxlab merge joins the reports)\n"
            "  --durations REPORT  balance the parts by the times of a\n"
            "                  previous report (its directory or its\n"
            "                  results.json; else: by a hash of the names)\n"
            "  --jobs N        scenarios run in parallel (default: 2)\n"
            "  --filter GLOB   only scenarios whose name matches GLOB\n"
            "  --keep          keep work directories of passed scenarios\n"
            "  -q, --quiet     show failures and the totals only\n"
            "  -v, --verbose   show each scenario's steps, and the\n"
            "                  transcript of a failure\n"
            "  --pcap          capture each scenario's packets (SMTP and\n"
            "                  DNS on loopback) into its work directory's\n"
            "                  capture.pcap (needs root or CAP_NET_RAW;\n"
            "                  without, said once and run without)\n"
            "  -h, --help      this text\n"
            "\n"
            "Prints one line per scenario (on a terminal, under a live\n"
            "line: counts, time, the current scenario and where it is on\n"
            "its simulated clock), the table and \"N passed, N failed, N "
            "skipped\";\nexits 0 only if none failed, 2 on a usage error.\n");
}

/* ---- options ---- */

int run_option_error(const char *prog, int opt, char *const argv[],
                     void (*usage)(FILE *))
{
    if (opt == '?' && optopt != 0)
        fprintf(stderr, "%s: -%c: unknown option\n", prog, optopt);
    else
        fprintf(stderr, "%s: %s: %s\n", prog, argv[optind - 1],
                opt == ':' ? "needs a value" : "unknown option");
    usage(stderr);
    return 2;
}

/* --pcap: on if this process can capture, else said once. */
static void run_pcap_check(void)
{
    char why[1024];

    if (pcap_capture_possible(why, sizeof(why))) {
        runner_set_pcap(1);
        return;
    }
    fprintf(stderr,
            "mxlab run: --pcap: no capture on loopback: %s; "
            "running without capture\n",
            why);
    runner_set_pcap(0);
}

/* Parse the options into st; 0 to go on, else the exit status (0 for
 * --help). *first: the first PATH. */
static int run_options(int argc, char **argv, struct run_state *st, int *first)
{
    static const struct option longopts[] = {
        {"sut", required_argument, NULL, 's'},
        {"report", required_argument, NULL, 'r'},
        {"jobs", required_argument, NULL, 'j'},
        {"filter", required_argument, NULL, 'f'},
        {"keep", no_argument, NULL, 'k'},
        {"clean", no_argument, NULL, 'c'},
        {"shard", required_argument, NULL, 'S'},
        {"durations", required_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"pcap", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *sut = "relay";
    char why[512];
    int opt;

    st->report = "report";
    st->jobs = 2;
    st->level = PROGRESS_NORMAL;
    optind = 0; /* GNU getopt: full reinitialisation (diff runs run twice) */
    opterr = 0; /* our own messages, with our name */
    while ((opt = getopt_long(argc, argv, ":hqv", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            sut = optarg;
            break;
        case 'r':
            st->report = optarg;
            break;
        case 'j':
            if (str_to_long(optarg, &st->jobs) < 0 || st->jobs < 1 ||
                st->jobs > 64) {
                fprintf(stderr, "mxlab run: --jobs: 1 to 64 expected\n");
                return 2;
            }
            break;
        case 'f':
            st->filter = optarg;
            break;
        case 'k':
            st->keep = 1;
            break;
        case 'c':
            st->clean = 1;
            break;
        case 'S':
            st->shard = optarg;
            if (shard_parse(optarg, &st->shard_k, &st->shard_n) < 0) {
                fprintf(stderr,
                        "mxlab run: --shard %s: K/N expected, 1 <= "
                        "K <= N <= 1000\n",
                        optarg);
                return 2;
            }
            break;
        case 'D':
            st->durations = optarg;
            break;
        case 'q':
            st->level = PROGRESS_QUIET;
            break;
        case 'v':
            st->level = PROGRESS_VERBOSE;
            break;
        case 'p':
            run_pcap_check();
            break;
        case 'h':
            run_usage(stdout);
            return 0;
        default:
            return run_option_error("mxlab run", opt, argv, run_usage);
        }
    }
    if (st->durations != NULL && st->shard == NULL) {
        fprintf(stderr, "mxlab run: --durations goes with --shard\n");
        return 2;
    }
    if (sut_spec_parse(sut, &st->sut, why, sizeof(why)) < 0) {
        fprintf(stderr, "mxlab run: --sut %s\n", why);
        return 2;
    }
    if (!sut_spec_usable(&st->sut, NULL, why, sizeof(why)))
        fprintf(stderr, "mxlab run: %s: every scenario is skipped\n", why);
    if (optind >= argc) {
        run_usage(stderr);
        return 2;
    }
    *first = optind;
    return 0;
}

/* ---- the scenarios ---- */

/* PATH's scenarios into out: a file as given, a directory's *.scn below
 * it. -1 (with the reason on stderr) if path does not exist. */
static int run_collect(const char *path, struct strlist *out, int top)
{
    struct stat st;
    struct strlist names;
    int rc = 0;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "mxlab run: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        if (top || (n > 4 && strcmp(path + n - 4, ".scn") == 0))
            strlist_push(out, path);
        return 0;
    }
    strlist_init(&names);
    fs_list_dir(path, &names);
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char *sub = xasprintf("%s/%s", path, names.v[i]);
        rc = run_collect(sub, out, 0);
        free(sub);
    }
    strlist_clear(&names);
    return rc;
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

/* The report directory: refused (before it is made) if the SUT could
 * not work below it, then claimed (reportdir.h: a new subdirectory if it
 * is not empty, unless --clean) and made absolute (relay config files
 * name paths that must stay valid). 0, or -1 with the reason on stderr. */
static int run_report_dir(struct run_state *st)
{
    char why[1024], *cwd = getcwd(NULL, 0), *dir = NULL;
    char *lexical = st->report[0] == '/' || cwd == NULL
                        ? xstrdup(st->report)
                        : xasprintf("%s/%s", cwd, st->report);
    int rc = 0;

    if (sut_spec_usable(&st->sut, NULL, why, sizeof(why)) &&
        !sut_spec_usable(&st->sut, lexical, why, sizeof(why))) {
        fprintf(stderr, "mxlab run: --sut %s --report %s: %s\n", st->sut.name,
                st->report, why);
        rc = -1;
    } else if ((dir = reportdir_claim(st->report, st->clean, st->t0, why,
                                      sizeof(why))) == NULL) {
        fprintf(stderr, "mxlab run: %s\n", why);
        rc = -1;
    } else if ((st->absreport = realpath(dir, NULL)) == NULL) {
        fprintf(stderr, "mxlab run: %s: %s\n", dir, strerror(errno));
        rc = -1;
    } else if (strcmp(dir, st->report) != 0) {
        fprintf(stderr,
                "mxlab run: %s is not empty: this run's report is %s (%s/latest"
                "; --clean empties %s instead)\n",
                st->report, dir, st->report, st->report);
    }
    free(dir);
    free(cwd);
    free(lexical);
    return rc;
}

/* --durations REPORT, or REPORT/results.json: the report directory
 * (whose records hold the times). Caller frees. */
static char *run_report_of(const char *arg)
{
    struct stat sb;
    char *copy, *slash;

    if (stat(arg, &sb) < 0 || S_ISDIR(sb.st_mode))
        return xstrdup(arg);
    copy = xstrdup(arg);
    slash = strrchr(copy, '/');
    if (slash == NULL) {
        free(copy);
        return xstrdup(".");
    }
    *slash = '\0';
    return copy;
}

/* The recorded seconds of each case in the report directory dir (or
 * dir/latest), -1 for those it does not have. 0, or -1 (on stderr). */
static int run_durations(const struct run_state *st, double *w)
{
    struct casefile *rec = NULL;
    size_t nrec = 0;
    char err[1024], *base = run_report_of(st->durations);
    char *latest = xasprintf("%s/latest", base);
    const char *dir = access(latest, F_OK) == 0 ? latest : base;
    int rc = casefile_read_all(dir, &rec, &nrec, err, sizeof(err));

    if (rc == 0 && nrec == 0) {
        snprintf(err, sizeof(err),
                 "%s: no scenario recorded (not a report "
                 "directory of mxlab run?)",
                 dir);
        rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "mxlab run: --durations %s\n", err);
    for (size_t i = 0; i < st->n && rc == 0; i++) {
        w[i] = -1;
        for (size_t k = 0; k < nrec; k++)
            if (strcmp(rec[k].rc.name, st->cases[i].name) == 0 &&
                rec[k].rc.classname != NULL &&
                strcmp(rec[k].rc.classname, st->cases[i].classname) == 0)
                w[i] = rec[k].rc.seconds;
    }
    casefile_free(rec, nrec);
    free(latest);
    free(base);
    return rc;
}

/* --shard K/N: only this shard's cases stay (their index kept). 0, or -1
 * (on stderr). */
static int run_shard(struct run_state *st)
{
    char **keys = xcalloc(st->n, sizeof(*keys));
    double *w = st->durations ? xcalloc(st->n, sizeof(*w)) : NULL;
    long *part = xcalloc(st->n, sizeof(*part));
    size_t kept = 0, all = st->n;
    int rc = 0;

    for (size_t i = 0; i < st->n; i++)
        keys[i] = xasprintf("%s/%s", st->cases[i].classname, st->cases[i].name);
    if (w != NULL)
        rc = run_durations(st, w);
    if (rc == 0)
        shard_assign((const char *const *)keys, w, st->n, st->shard_n, part);
    for (size_t i = 0; i < all; i++) {
        struct run_case *c = &st->cases[i];
        if (rc == 0 && part[i] == st->shard_k - 1) {
            st->cases[kept++] = *c;
            continue;
        }
        free(c->path);
        free(c->name);
        free(c->classname);
    }
    st->n = kept;
    if (rc == 0)
        printf("shard %ld/%ld: %zu of %zu scenarios (balanced by %s)\n",
               st->shard_k, st->shard_n, kept, all,
               w ? "recorded durations" : "name hash");
    for (size_t i = 0; i < all; i++)
        free(keys[i]);
    free(keys);
    free(w);
    free(part);
    return rc;
}

/* The cases of the PATHs (filtered), with their work directories under
 * the report directory. 0, or the exit status. */
static int run_cases(int argc, char **argv, struct run_state *st)
{
    struct strlist paths;
    int rc = 0;

    strlist_init(&paths);
    for (int i = 0; i < argc && rc == 0; i++)
        rc = run_collect(argv[i], &paths, 1);
    st->cases = xcalloc(paths.n ? paths.n : 1, sizeof(*st->cases));
    for (size_t i = 0; i < paths.n && rc == 0; i++) {
        char *name = run_base_name(paths.v[i], 1);
        if (st->filter != NULL && fnmatch(st->filter, name, 0) != 0) {
            free(name);
            continue;
        }
        st->cases[st->n].path = xstrdup(paths.v[i]);
        st->cases[st->n].name = name;
        st->cases[st->n].classname = run_dir_name(paths.v[i]);
        st->cases[st->n].index = (long)st->n;
        st->n++;
    }
    strlist_clear(&paths);
    if (rc < 0)
        return 2;
    if (st->n == 0) {
        fprintf(stderr, "mxlab run: no scenario to run\n");
        return 2;
    }
    if (st->shard != NULL && run_shard(st) < 0)
        return 2;
    if (run_report_dir(st) < 0)
        return 2;
    for (size_t i = 0; i < st->n; i++)
        st->cases[i].workdir =
            xasprintf("%s/work/%s-%s", st->absreport, st->cases[i].classname,
                      st->cases[i].name);
    return 0;
}

/* ---- the worker ---- */

/* WORKDIR/NAME := what sb holds (for the parent and for mxlab diff). */
static void run_save(const char *workdir, const char *name,
                     const struct strbuf *sb)
{
    char *path = xasprintf("%s/%s", workdir, name);

    fs_write_atomic(path, sb->buf ? sb->buf : "", sb->len);
    free(path);
}

static void run_save_result(const struct run_case *c,
                            const struct runner_result *res)
{
    char *path = xasprintf("%s/scenario", c->workdir);
    FILE *fp;

    run_save(c->workdir, "transcript", &res->transcript);
    run_save(c->workdir, "observations", &res->observations);
    run_save(c->workdir, "steps", &res->steps);
    run_save(c->workdir, "timeline", &res->timeline);
    fs_write_atomic(path, c->path, strlen(c->path));
    free(path);
    path = xasprintf("%s/result", c->workdir);
    fp = fopen(path, "w");
    if (fp != NULL) {
        fprintf(fp, "%s\n%.3f\n%s\n",
                res->status == RUNNER_PASSED   ? "passed"
                : res->status == RUNNER_FAILED ? "failed"
                                               : "skipped",
                res->seconds, res->message);
        fclose(fp);
    }
    free(path);
}

/* The worker: parse, run, write the result files, exit. */
static _Noreturn void run_worker(const struct run_state *st,
                                 const struct run_case *c)
{
    struct runner_result res;
    struct scenario *s;
    char err[2048];

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    memset(&res, 0, sizeof(res));
    strbuf_init(&res.transcript);
    strbuf_init(&res.observations);
    strbuf_init(&res.steps);
    strbuf_init(&res.timeline);
    fs_rm_rf(c->workdir);
    fs_mkdir_p(c->workdir, 0755);
    s = scenario_load(c->path, err, sizeof(err));
    if (s == NULL) {
        res.status = RUNNER_FAILED;
        snprintf(res.message, sizeof(res.message), "%s", err);
    } else if (!sut_spec_usable(&st->sut, NULL, err, sizeof(err))) {
        res.status = RUNNER_SKIPPED;
        snprintf(res.message, sizeof(res.message), "%s", err);
    } else {
        runner_run(s, c->workdir, &st->sut, &res);
    }
    scenario_free(s);
    run_save_result(c, &res);
    strbuf_clear(&res.transcript);
    strbuf_clear(&res.observations);
    strbuf_clear(&res.steps);
    strbuf_clear(&res.timeline);
    _exit(0);
}

/* WORKDIR/name's text, or NULL. Caller frees. */
static char *run_read(const char *workdir, const char *name)
{
    char *path = xasprintf("%s/%s", workdir, name), *text = NULL;

    if (fs_read_file(path, &text, NULL) < 0)
        text = NULL;
    free(path);
    return text;
}

static void run_read_result(struct run_case *c, int exit_status)
{
    char *text = run_read(c->workdir, "result");

    c->rc.status = REPORT_FAILED;
    if (text != NULL) {
        /* "status\nseconds\nmessage\n" */
        size_t n1 = strcspn(text, "\n"), n2 = 0;
        if (text[n1] == '\n')
            n2 = n1 + 1 + strcspn(text + n1 + 1, "\n");
        if (n1 == 6 && strncmp(text, "passed", 6) == 0)
            c->rc.status = REPORT_PASSED;
        else if (n1 == 7 && strncmp(text, "skipped", 7) == 0)
            c->rc.status = REPORT_SKIPPED;
        if (n2 > 0 && text[n2] == '\n')
            c->message = xstrndup(text + n2 + 1, strcspn(text + n2 + 1, "\n"));
    } else if (WIFSIGNALED(exit_status)) {
        c->message = xasprintf(
            "%s: worker killed by signal %d%s", c->path, WTERMSIG(exit_status),
            WTERMSIG(exit_status) == SIGKILL ? " (time limit)" : "");
    } else {
        c->message = xasprintf("%s: worker ended without a result (exit "
                               "status %d)",
                               c->path, WEXITSTATUS(exit_status));
    }
    free(text);
    c->detail = run_read(c->workdir, "transcript");
    c->steps = run_read(c->workdir, "steps");
    c->rc.name = c->name;
    c->rc.classname = c->classname;
    c->rc.file = c->path;
    c->rc.seconds = (double)(clock_mono_ms() - c->started_ms) / 1000.0;
    c->rc.message = c->message && *c->message ? c->message : NULL;
    c->rc.detail = c->detail;
    c->rc.steps = c->steps;
    c->done = 1;
}

/* ---- the scheduler ---- */

/* Start the next case in its worker. 1 if it runs, 0 if fork failed
 * (the case is done, failed). */
static int run_start(struct run_state *st, struct run_case *c,
                     const sigset_t *old)
{
    c->started_ms = clock_mono_ms();
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) {
        sigprocmask(SIG_SETMASK, old, NULL);
        run_worker(st, c);
    }
    if (c->pid > 0)
        return 1;
    c->message = xasprintf("%s: fork: %s", c->path, strerror(errno));
    c->rc.status = REPORT_FAILED;
    c->rc.name = c->name;
    c->rc.classname = c->classname;
    c->rc.message = c->message;
    c->done = 1;
    return 0;
}

/* Reap the workers that ended; the number reaped. */
static size_t run_reap(struct run_state *st)
{
    size_t reaped = 0;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < st->n; i++) {
            struct run_case *c = &st->cases[i];
            if (c->pid != pid || c->done)
                continue;
            sut_spec_reap(&st->sut, c->workdir);
            run_read_result(c, status);
            reaped++;
            progress_case(&st->prog, &c->rc);
        }
    }
    return reaped;
}

/* Kill what overstayed; how long to wait for the next deadline (ms). */
static long long run_police(struct run_state *st, size_t started)
{
    long long now = clock_mono_ms(), wait_ms = 1000;

    for (size_t i = 0; i < started; i++) {
        struct run_case *c = &st->cases[i];
        if (c->done || c->pid <= 0)
            continue;
        long long left = c->started_ms + RUN_WORKER_LIMIT_MS - now;
        if (left <= 0)
            kill(c->pid, SIGKILL);
        else if (left < wait_ms)
            wait_ms = left;
    }
    return wait_ms;
}

/* SIGINT/SIGTERM: every worker is killed, and what it ran is reaped. */
static void run_stop_all(struct run_state *st, size_t started)
{
    for (size_t i = 0; i < started; i++)
        if (!st->cases[i].done && st->cases[i].pid > 0)
            kill(st->cases[i].pid, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0)
        ;
    for (size_t i = 0; i < started; i++)
        sut_spec_reap(&st->sut, st->cases[i].workdir);
    fprintf(stderr, "mxlab run: interrupted; workers stopped\n");
}

/* The live line: the longest-running case is the current one. */
static void run_tick(struct run_state *st, size_t started)
{
    const struct run_case *cur = NULL;
    size_t running = 0;

    for (size_t i = 0; i < started; i++) {
        const struct run_case *c = &st->cases[i];
        if (c->done || c->pid <= 0)
            continue;
        running++;
        if (cur == NULL || c->started_ms < cur->started_ms)
            cur = c;
    }
    progress_tick(&st->prog, cur ? cur->name : NULL, cur ? cur->workdir : NULL,
                  cur ? cur->started_ms : 0, running ? running - 1 : 0);
}

/* Run every case, at most --jobs at a time. 0, or 130 if interrupted. */
static int run_schedule(struct run_state *st)
{
    size_t next = 0, running = 0, finished = 0;
    sigset_t set, old;
    int interrupted = 0;

    progress_init(&st->prog, stdout, st->level, st->n);
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    while (finished < st->n && !interrupted) {
        while (running < (size_t)st->jobs && next < st->n) {
            if (run_start(st, &st->cases[next++], &old))
                running++;
            else
                finished++;
        }
        size_t reaped = run_reap(st);
        running -= reaped;
        finished += reaped;
        long long wait_ms = run_police(st, next);
        if (finished >= st->n)
            break;
        run_tick(st, next);
        if (st->prog.live && wait_ms > 200)
            wait_ms = 200; /* the live line's refresh */
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        interrupted = sig == SIGINT || sig == SIGTERM;
    }
    progress_end(&st->prog);
    if (interrupted)
        run_stop_all(st, next);
    else
        sigprocmask(SIG_SETMASK, &old, NULL);
    return interrupted ? 130 : 0;
}

/* ---- the reports ---- */

#define RUN_MAILLOG_HEAD 200 /* lines of a long maillog in the report */
#define RUN_MAILLOG_TAIL 200

/* The SUT's log for the report: all of it, or its first and last lines. */
static char *run_maillog_excerpt(const char *workdir)
{
    char *text = run_read(workdir, "maillog");
    size_t lines = 0, k = 0;
    struct strbuf sb;

    for (const char *p = text; p != NULL && *p; p++)
        lines += *p == '\n';
    if (text == NULL || lines <= RUN_MAILLOG_HEAD + RUN_MAILLOG_TAIL)
        return text;
    strbuf_init(&sb);
    for (const char *p = text; *p; p++) {
        if (k < RUN_MAILLOG_HEAD || k >= lines - RUN_MAILLOG_TAIL)
            strbuf_putc(&sb, *p);
        if (*p == '\n' && ++k == RUN_MAILLOG_HEAD)
            strbuf_printf(&sb,
                          "... %zu lines left out (the whole log is "
                          "in the work files) ...\n",
                          lines - RUN_MAILLOG_HEAD - RUN_MAILLOG_TAIL);
    }
    free(text);
    return strbuf_detach(&sb);
}

/* What index.html shows of a case beyond results.json; links only to
 * work files that stay. */
static void run_case_extras(const struct run_state *st, struct run_case *c)
{
    int kept = c->rc.status == REPORT_FAILED || st->keep;
    struct strlist names;

    c->timeline = run_read(c->workdir, "timeline");
    c->maillog = run_maillog_excerpt(c->workdir);
    c->rc.timeline = c->timeline;
    c->rc.maillog = c->maillog;
    if (!kept || access(c->workdir, F_OK) != 0)
        return;
    c->links[0] = xasprintf("work/%s-%s", c->classname, c->name);
    c->rc.workdir = c->links[0];
    strlist_init(&names);
    fs_list_dir(c->workdir, &names);
    for (size_t i = 0; i < names.n && c->links[1] == NULL; i++) {
        size_t len = strlen(names.v[i]);
        if (len > 5 && strcmp(names.v[i] + len - 5, ".pcap") == 0)
            c->links[1] = xasprintf("%s/%s", c->links[0], names.v[i]);
    }
    c->rc.capture = c->links[1];
    strlist_clear(&names);
}

/* The table, the records (casefile.h), junit.xml, results.json and
 * index.html; work directories of passed scenarios removed (unless
 * --keep). The exit status: 1 if any failed. */
static int run_report(struct run_state *st)
{
    struct report_case *rcs = xcalloc(st->n ? st->n : 1, sizeof(*rcs));
    struct report_run run = {st->sut.name, st->started, MXLAB_VERSION};
    size_t passed, failed, skipped;

    for (size_t i = 0; i < st->n; i++) {
        run_case_extras(st, &st->cases[i]);
        rcs[i] = st->cases[i].rc;
        if (casefile_write(st->absreport, &rcs[i], st->cases[i].index) < 0)
            fprintf(stderr, "mxlab run: %s/cases: %s\n", st->absreport,
                    strerror(errno));
    }
    report_count(rcs, st->n, &passed, &failed, &skipped);
    if (st->level == PROGRESS_QUIET) {
        printf("%zu passed, %zu failed, %zu skipped\n", passed, failed,
               skipped);
    } else {
        fputc('\n', stdout);
        report_run_header_write(stdout, &run);
        report_summary_write(stdout, rcs, st->n);
    }
    casefile_run_write(st->absreport, &run, st->shard);
    casefile_reports("mxlab run", st->absreport, &run, rcs, st->n);
    fprintf(stdout, "report: %s/junit.xml, %s/index.html\n", st->absreport,
            st->absreport);
    for (size_t i = 0; i < st->n; i++) {
        const struct run_case *c = &st->cases[i];
        if (c->rc.status == REPORT_PASSED && !st->keep)
            fs_rm_rf(c->workdir);
        else if (c->rc.status == REPORT_FAILED)
            fprintf(stdout, "  kept for %s: %s (transcript, maillog, config)\n",
                    c->name, c->workdir);
    }
    free(rcs);
    return failed ? 1 : 0;
}

static void run_state_clear(struct run_state *st)
{
    for (size_t i = 0; i < st->n; i++) {
        struct run_case *c = &st->cases[i];
        free(c->path);
        free(c->name);
        free(c->classname);
        free(c->workdir);
        free(c->message);
        free(c->detail);
        free(c->steps);
        free(c->timeline);
        free(c->maillog);
        free(c->links[0]);
        free(c->links[1]);
    }
    free(st->cases);
    free(st->absreport);
}

int run_main(int argc, char **argv)
{
    struct run_state st;
    time_t now = time(NULL);
    struct tm tm;
    int first = 0, rc;

    memset(&st, 0, sizeof(st));
    st.t0 = now;
    strftime(st.started, sizeof(st.started), "%Y-%m-%dT%H:%M:%SZ",
             gmtime_r(&now, &tm));
    rc = run_options(argc, argv, &st, &first);
    if (rc == 0 && first > 0)
        rc = run_cases(argc - first, argv + first, &st);
    if (rc == 0 && first > 0)
        rc = run_schedule(&st);
    if (rc == 0 && first > 0)
        rc = run_report(&st);
    run_state_clear(&st);
    return rc;
}
