/*
 * bench.c — "mxlab bench" and "mxlab bench merge": options, the system
 * under test, the load run (bench_load.c), the SUT's CPU (bench_cpu.c),
 * and the outputs: a live progress line, the final table, bench.json, the
 * HTML report, and the gate against a baseline (exit 1 on a regression).
 * Systems under test are one table (bench_suts): a lab SUT is one entry.
 */
#include "harness/bench.h"
#include "harness/run.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_cpu.h"
#include "bench_lab.h"
#include "bench_load.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "reports/bench.h"

struct bench_opts {
    const char *sut, *scenario, *report, *baseline, *size;
    /* The event loop that the load and a lab SUT share, made first; the
     * load, for a lab SUT's deliveries (bench_load_arrived); what a lab
     * SUT needs to stop. */
    struct event_base *base;
    struct bench_load *load;
    void (*sut_close)(struct bench_opts *o);
    void *sut_state;
    double tolerance;
    int json, quiet, drain_ms;
    struct bench_load_cfg cfg;
    struct bench_cpu cpu;
};

static void bench_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: mxlab bench [--sut relay|postfix|smtp://HOST[:PORT]|\n"
        "                   smtps://HOST[:PORT]] [SCENARIO]\n"
        "                   [--messages N | --duration D] [--connections C]\n"
        "                   [--rate R/s] [--size BYTES|DIST] [--recipients K]\n"
        "                   [--per-connection N] [--from ADDR]\n"
        "                   [--to ADDR|@domain] [--tls] [--helo NAME]\n"
        "                   [--timeout S] [--cpu-pid PID] [--cpu-cgroup DIR]\n"
        "                   [--report DIR] [--baseline FILE]\n"
        "                   [--tolerance P%%] [--json] [--quiet] [--drain D]\n"
        "       mxlab bench merge [--report DIR] [--baseline FILE]\n"
        "                   [--tolerance P%%] [--json] BENCH.JSON...\n"
        "\n"
        "Measure how fast a mail server accepts mail, and with what latency\n"
        "tail. Closed loop by default (each connection sends its next message\n"
        "as soon as the last is answered); with --rate, open loop: messages\n"
        "are due at a fixed rate and latency counts from each one's intended\n"
        "send time, so a stalled server shows its real tail (no coordinated\n"
        "omission). PIPELINING is used where offered: the envelope in one\n"
        "write, and a message's content with the next envelope or QUIT\n"
        "(RFC 2920).\n"
        "\n"
        "  --sut relay|postfix SCENARIO  a lab SUT (default relay): the\n"
        "                  scenario's world (main.cf, zones, fake MX hosts\n"
        "                  that throttle, greylist, answer slowly) around\n"
        "                  the embedded relay or a private Postfix (root);\n"
        "                  adds the delay from 250 to arrival at the fake\n"
        "                  MX, the queue size over time and, for Postfix\n"
        "                  as root, its CPU per message (own cgroup v2)\n"
        "  --sut smtp://HOST[:PORT]  a server already running, as it is\n"
        "                  (port 25; smtps:// is TLS from the first byte,\n"
        "                  port 465)\n"
        "  --drain D       lab SUTs: after the load, wait up to D (default\n"
        "                  60s) for accepted messages to reach the fake MX\n"
        "  --messages N    messages to send (default 1000 without --duration)\n"
        "  --duration D    send for D (\"30s\", \"2m\"); with --messages, at\n"
        "                  most N\n"
        "  --connections C concurrent connections (default 10)\n"
        "  --rate R/s      open loop at R messages per second\n"
        "  --size S        message size in bytes (default 2048; k and M\n"
        "                  units), a range LOW-HIGH, or SIZE:WEIGHT,...\n"
        "                  (\"2k:0.9,100k:0.1\")\n"
        "  --recipients K  recipients per message (default 1)\n"
        "  --per-connection N  messages per connection (default 0: no\n"
        "                  limit, like a relay's connection cache; 1: one\n"
        "                  connection per message, latency from connect)\n"
        "  --from ADDR     envelope sender (default bench@mxlab.test)\n"
        "  --to ADDR|@dom  the recipient, or @domain for r<N>@domain\n"
        "                  (default sink@bench.test)\n"
        "  --tls           STARTTLS on every connection (RFC 3207)\n"
        "  --timeout S     seconds to wait for each reply (default 30)\n"
        "  --cpu-pid PID   the SUT runs here as PID (repeatable): its CPU\n"
        "                  time per message, from /proc/PID/task/*/schedstat\n"
        "  --cpu-cgroup DIR  the SUT's cgroup v2: CPU of all its processes\n"
        "  --report DIR    write DIR/bench.json and DIR/bench.html\n"
        "                  (default bench-report)\n"
        "  --baseline FILE compare with a saved bench.json: exit 1 if the\n"
        "                  throughput fell or p99 latency rose by more than\n"
        "  --tolerance P%% (default 10%%)\n"
        "  --json          print bench.json instead of the table\n"
        "  --quiet         no progress line\n"
        "\n"
        "Counts: sent = accepted + refused (4xx/5xx, by code) + errors\n"
        "(connect, connection, closed, timeout, tls, protocol, unfinished).\n"
        "Exit: 0; 1 a regression against the baseline, or nothing accepted;\n"
        "2 bad usage.\n");
}

/* ---- systems under test ---- */

/* A lab SUT: the scenario's world in REPORT/work (replaced), the load at
 * the SUT's smtpd, deliveries and queue watched. */
static void bench_sut_lab_close(struct bench_opts *o)
{
    bench_lab_close(o->sut_state);
    o->sut_state = NULL;
}

static int bench_sut_lab(struct bench_opts *o, const struct sut_spec *spec,
                         char *err, size_t errlen)
{
    char *cwd = getcwd(NULL, 0), *work;
    int rc = 0;

    if (o->scenario == NULL) {
        snprintf(err, errlen, "--sut %s: needs a SCENARIO (its world)",
                 spec->name);
        free(cwd);
        return -1;
    }
    work = o->report[0] == '/' || cwd == NULL
               ? xasprintf("%s/work", o->report)
               : xasprintf("%s/%s/work", cwd, o->report);
    free(cwd);
    if (!sut_spec_usable(spec, work, err, errlen)) {
        rc = -1;
    } else {
        fs_rm_rf(work);
        o->sut_state = bench_lab_open(o->base, o->scenario, spec, work, &o->cfg,
                                      &o->cpu, &o->load, err, errlen);
        if (o->sut_state == NULL)
            rc = -1;
        else
            o->sut_close = bench_sut_lab_close;
    }
    free(work);
    return rc;
}

/* --sut as "mxlab run" reads it (lab.h): a server already running is
 * taken as it is; relay and postfix build the scenario's world. */
static int bench_sut_open(struct bench_opts *o, char *err, size_t errlen)
{
    struct sut_spec spec;

    if (sut_spec_parse(o->sut, &spec, err, errlen) < 0)
        return -1;
    if (!sut_spec_usable(&spec, NULL, err, errlen))
        return -1;
    if (sut_spec_caps(&spec) & LAB_CAP_CONFIG)
        return bench_sut_lab(o, &spec, err, errlen);
    if (o->scenario) {
        snprintf(err, errlen,
                 "a SCENARIO needs a lab SUT (--sut relay or postfix), not "
                 "%s",
                 spec.name);
        return -1;
    }
    o->cfg.dst = spec.addr;
    o->cfg.tls_now = spec.tls;
    return 0;
}

/* ---- options ---- */

enum {
    BO_MESSAGES = 256,
    BO_DURATION,
    BO_CONNECTIONS,
    BO_RATE,
    BO_SIZE,
    BO_RECIPIENTS,
    BO_PER_CONN,
    BO_FROM,
    BO_TO,
    BO_TLS,
    BO_HELO,
    BO_TIMEOUT,
    BO_CPU_PID,
    BO_CPU_CGROUP,
    BO_REPORT,
    BO_BASELINE,
    BO_TOLERANCE,
    BO_JSON,
    BO_QUIET,
    BO_SUT,
    BO_DRAIN,
    BO_HELP,
};

static const struct option bench_longopts[] = {
    {"messages", required_argument, NULL, BO_MESSAGES},
    {"duration", required_argument, NULL, BO_DURATION},
    {"connections", required_argument, NULL, BO_CONNECTIONS},
    {"rate", required_argument, NULL, BO_RATE},
    {"size", required_argument, NULL, BO_SIZE},
    {"recipients", required_argument, NULL, BO_RECIPIENTS},
    {"per-connection", required_argument, NULL, BO_PER_CONN},
    {"from", required_argument, NULL, BO_FROM},
    {"to", required_argument, NULL, BO_TO},
    {"tls", no_argument, NULL, BO_TLS},
    {"helo", required_argument, NULL, BO_HELO},
    {"timeout", required_argument, NULL, BO_TIMEOUT},
    {"cpu-pid", required_argument, NULL, BO_CPU_PID},
    {"cpu-cgroup", required_argument, NULL, BO_CPU_CGROUP},
    {"report", required_argument, NULL, BO_REPORT},
    {"baseline", required_argument, NULL, BO_BASELINE},
    {"tolerance", required_argument, NULL, BO_TOLERANCE},
    {"json", no_argument, NULL, BO_JSON},
    {"quiet", no_argument, NULL, BO_QUIET},
    {"sut", required_argument, NULL, BO_SUT},
    {"drain", required_argument, NULL, BO_DRAIN},
    {"help", no_argument, NULL, BO_HELP},
    {NULL, 0, NULL, 0},
};

/* A positive number with an optional suffix ("100/s", "10%"). */
static int bench_number(const char *s, const char *suffix, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || !(v >= 0) || (*end && strcmp(end, suffix) != 0))
        return -1;
    *out = v;
    return 0;
}

/* A whole number within lo..hi. */
static int bench_whole(const char *s, long lo, long hi, long *out)
{
    return str_to_long(s, out) == 0 && *out >= lo && *out <= hi ? 0 : -1;
}

/* One option into o; the reason in err if its value is bad. */
static int bench_option(struct bench_opts *o, int opt, const char *arg,
                        char *err, size_t errlen)
{
    struct bench_load_cfg *c = &o->cfg;
    long v = 0;
    int bad = 0;

    switch (opt) {
    case BO_MESSAGES:
        bad = bench_whole(arg, 1, 1000000000, &v);
        c->messages = (uint64_t)v;
        break;
    case BO_DURATION:
        bad = str_to_seconds(arg, 's', &v) < 0 || v < 1 || v > 86400;
        c->duration = (double)v;
        break;
    case BO_CONNECTIONS:
        bad = bench_whole(arg, 1, 10000, &v);
        c->connections = (int)v;
        break;
    case BO_RATE:
        bad = (bench_number(arg, "/s", &c->rate) < 0 || c->rate <= 0 ||
               c->rate > 1e7);
        break;
    case BO_SIZE:
        o->size = arg;
        bad = (int)(c->nsizes = (size_t)bench_size_parse(
                        arg, c->sizes, BENCH_SIZES_MAX, err, errlen)) < 0;
        if (bad)
            return -1;
        break;
    case BO_RECIPIENTS:
        bad = bench_whole(arg, 1, 1000, &v);
        c->recipients = (int)v;
        break;
    case BO_PER_CONN:
        bad = bench_whole(arg, 0, 1000000000, &v);
        c->per_connection = (int)v;
        break;
    case BO_TIMEOUT:
        bad = bench_whole(arg, 1, 3600, &v);
        c->timeout_ms = (int)v * 1000;
        break;
    case BO_CPU_PID:
        bad = bench_whole(arg, 1, 1 << 22, &v) ||
              o->cpu.npids == BENCH_CPU_PIDS_MAX;
        if (!bad)
            o->cpu.pids[o->cpu.npids++] = (pid_t)v;
        break;
    case BO_DRAIN:
        bad = str_to_seconds(arg, 's', &v) < 0 || v > 3600;
        o->drain_ms = (int)v * 1000;
        break;
    case BO_TOLERANCE:
        bad = bench_number(arg, "%", &o->tolerance) < 0 || o->tolerance > 1000;
        break;
    default:
        return 1; /* a string option: the caller's */
    }
    if (bad)
        snprintf(err, errlen, "bad value \"%s\"", arg);
    return bad ? -1 : 0;
}

/* String options and flags. */
static void bench_option_str(struct bench_opts *o, int opt, char *arg)
{
    switch (opt) {
    case BO_FROM:
        o->cfg.from = arg;
        break;
    case BO_TO:
        o->cfg.to = arg;
        break;
    case BO_HELO:
        o->cfg.helo = arg;
        break;
    case BO_TLS:
        o->cfg.starttls = 1;
        break;
    case BO_CPU_CGROUP:
        free(o->cpu.cgroup);
        o->cpu.cgroup = xstrdup(arg);
        break;
    case BO_REPORT:
        o->report = arg;
        break;
    case BO_BASELINE:
        o->baseline = arg;
        break;
    case BO_JSON:
        o->json = 1;
        break;
    case BO_QUIET:
        o->quiet = 1;
        break;
    case BO_SUT:
        o->sut = arg;
        break;
    }
}

static void bench_defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->sut = NULL;
    o->report = "bench-report";
    o->size = "2048";
    o->tolerance = 10;
    o->drain_ms = 60000;
    o->cfg.connections = 10;
    o->cfg.recipients = 1;
    o->cfg.from = "bench@mxlab.test";
    o->cfg.to = "sink@bench.test";
    o->cfg.helo = "loadgen.mxlab.test";
    o->cfg.timeout_ms = 30000;
    o->cfg.nsizes = 1;
    o->cfg.sizes[0].lo = o->cfg.sizes[0].hi = 2048;
    o->cfg.sizes[0].weight = 1;
}

/* Options for both "bench" and "bench merge". 0, or 2 (usage). */
static int bench_parse(struct bench_opts *o, int argc, char **argv)
{
    char err[256];
    int opt;

    optind = 1;
    opterr = 0; /* our own messages, with our name */
    while ((opt = getopt_long(argc, argv, ":h", bench_longopts, NULL)) != -1) {
        int rc;
        if (opt == BO_HELP || opt == 'h') {
            bench_usage(stdout);
            exit(0);
        }
        if (opt == '?' || opt == ':')
            return run_option_error("mxlab bench", opt, argv, bench_usage);
        rc = bench_option(o, opt, optarg, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "mxlab bench: --%s: %s\n",
                    bench_longopts[opt - BO_MESSAGES].name, err);
            return 2;
        }
        if (rc > 0)
            bench_option_str(o, opt, optarg);
    }
    if (o->cfg.messages == 0 && o->cfg.duration == 0)
        o->cfg.messages = 1000;
    return 0;
}

/* ---- outputs ---- */

/* DIR/NAME := what write produces. 0, or -1 with a message. */
static int bench_save(const char *dir, const char *name,
                      int (*write)(const struct bench_run *, FILE *),
                      const struct bench_run *r)
{
    char *text = NULL, *path = xasprintf("%s/%s", dir, name);
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int rc = mem && write(r, mem) == 0 ? 0 : -1;

    if (mem)
        fclose(mem);
    if (rc == 0 &&
        (fs_mkdir_p(dir, 0755) < 0 || fs_write_atomic(path, text, len) < 0)) {
        fprintf(stderr, "mxlab bench: %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(text);
    free(path);
    return rc;
}

/* Table or JSON, the report files, the gate. The exit status. */
static int bench_output(const struct bench_opts *o, const struct bench_run *r)
{
    int rc = 0;

    if (o->json)
        bench_run_write_json(r, stdout);
    else
        bench_run_table(r, stdout);
    if (bench_save(o->report, "bench.json", bench_run_write_json, r) < 0 ||
        bench_save(o->report, "bench.html", bench_html_write, r) < 0)
        rc = 1;
    if (o->baseline) {
        char err[512];
        struct bench_run *base = bench_run_read(o->baseline, err, sizeof(err));
        if (base == NULL) {
            fprintf(stderr, "mxlab bench: --baseline %s\n", err);
            return 2;
        }
        if (bench_gate(r, base, o->tolerance, o->json ? stderr : stdout) > 0)
            rc = 1;
        bench_run_free(base);
    }
    return rc;
}

/* "mxlab bench merge A.json B.json ...". */
static int bench_merge_main(int argc, char **argv)
{
    struct bench_opts o;
    struct bench_run *all = NULL;
    char err[512];
    int rc;

    bench_defaults(&o);
    if ((rc = bench_parse(&o, argc, argv)) != 0)
        return rc;
    if (optind >= argc) {
        fprintf(stderr, "mxlab bench merge: no bench.json given\n");
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        struct bench_run *r = bench_run_read(argv[i], err, sizeof(err));
        if (r == NULL || (all && bench_run_merge(all, r, err, sizeof(err)))) {
            fprintf(stderr, "mxlab bench merge: %s%s%s\n", r ? argv[i] : "",
                    r ? ": " : "", err);
            bench_run_free(r);
            bench_run_free(all);
            return 2;
        }
        if (all == NULL)
            all = r;
        else
            bench_run_free(r);
    }
    rc = bench_output(&o, all);
    bench_run_free(all);
    return rc;
}

/* The load run itself on the SUT that o names; fills r. */
static int bench_measure(struct bench_opts *o, struct bench_run *r)
{
    double cpu0 = bench_cpu_read(&o->cpu), cpu1;
    int rc;

    o->cfg.progress = o->quiet ? 0 : isatty(STDERR_FILENO) ? 1 : 2;
    o->load = bench_load_new(o->base, &o->cfg, r);
    rc = bench_load_run(o->load);
    if (rc == 0 && o->cfg.track_arrivals &&
        bench_load_drain(o->load, o->drain_ms) < 0)
        fprintf(stderr,
                "mxlab bench: %llu of %llu accepted messages arrived at the "
                "fake MX within --drain\n",
                (unsigned long long)r->arrived,
                (unsigned long long)r->accepted);
    cpu1 = bench_cpu_read(&o->cpu);
    if (cpu0 >= 0 && cpu1 >= 0) {
        r->sut_cpu_ns = cpu1 - cpu0;
        r->cpu_source = xstrdup(bench_cpu_source(&o->cpu));
    }
    bench_load_free(o->load);
    o->load = NULL;
    return rc;
}

/* One run on an open SUT: the figures, the outputs. The exit status. */
static int bench_run_sut(struct bench_opts *o)
{
    struct bench_run *r = bench_run_new();
    int rc = 0, orc;

    r->target = xstrdup(o->sut);
    r->scenario = o->scenario ? xstrdup(o->scenario) : NULL;
    r->size = xstrdup(o->size);
    if (bench_measure(o, r) < 0 || r->accepted == 0) {
        fprintf(stderr, "mxlab bench: no message was accepted\n");
        rc = 1;
    }
    if (o->sut_close)
        o->sut_close(o);
    if ((orc = bench_output(o, r)) != 0)
        rc = orc;
    bench_run_free(r);
    return rc;
}

int bench_main(int argc, char **argv)
{
    struct bench_opts o;
    char err[512];
    int rc;

    if (argc > 1 && strcmp(argv[1], "merge") == 0)
        return bench_merge_main(argc - 1, argv + 1);
    bench_defaults(&o);
    if ((rc = bench_parse(&o, argc, argv)) != 0)
        return rc;
    if (optind < argc)
        o.scenario = argv[optind++];
    if (o.sut == NULL)
        o.sut = "relay";
    if ((o.base = event_base_new()) == NULL) {
        fprintf(stderr, "mxlab bench: cannot make an event loop\n");
        return 1;
    }
    if (optind < argc || bench_sut_open(&o, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab bench: %s\n",
                optind < argc ? "one SCENARIO at most" : err);
        rc = 2;
    } else {
        rc = bench_run_sut(&o);
    }
    event_base_free(o.base);
    free(o.cpu.cgroup);
    return rc;
}
