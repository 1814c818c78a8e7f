/*
 * runner.c — the step scheduler: one scenario, one event loop, one lab
 * (lab.h). Steps are played in order; a step that waits (a session, an
 * expectation, time passing) resumes on socket events, deliveries, the
 * SUT's queue changes, a recheck timer and one deadline per wait. Each
 * kind of block is one entry of run_kinds: what it needs of the SUT and
 * how it is played. Sessions are session.c, expectations expect.c,
 * [admin] admin.c.
 */
#include "harness/runner.h"

#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "capture.h"
#include "daemon.h"
#include "expect.h"
#include "mxlab/clock.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "pcap_capture.h"
#include "session.h"
#include "smtpcli.h"
#include "timeline.h"

#define RUNNER_RECHECK_MS 100

static int runner_pcap; /* runner_set_pcap: one scenario per process */

struct run {
    const struct scenario *s;
    struct runner_result *res;
    struct event_base *base;
    struct lab *lab;
    size_t step;
    int finished;
    long long step_t0;      /* when the current step began (monotonic ms) */
    size_t observed;        /* fake MX messages already in the observations */
    struct event *deadline; /* an [expect]'s wait */
    struct event *recheck;
    struct session *session;
    struct session **kept; /* [session ... keep]: open until the end */
    size_t nkept;
    SSL_CTX *tls_ctx; /* shared by the sessions, made on first use */
    size_t xi;        /* the [expect] line being judged */
    struct capture vars;
    struct timeline *tl;       /* the report's timeline, the progress file */
    struct pcap_capture *pcap; /* --pcap */
};

/* How a step is played: 0 done (the scheduler goes on), 1 it goes on by
 * itself (run_step_done), -1 failed (run_fail was called). */
typedef int run_play_fn(struct run *r, const struct scn_block *b);

struct run_kind {
    enum scn_block_kind kind;
    const char *name; /* in the results; NULL: part of the lab's setup */
    unsigned needs;   /* enum lab_cap */
    run_play_fn *play;
};

static const struct run_kind *run_kind_of(enum scn_block_kind k);
static void run_next_step(struct run *r);

static const char *run_step_name(const struct run *r)
{
    const struct run_kind *k;

    if (r->step >= r->s->nblocks)
        return NULL;
    k = run_kind_of(r->s->blocks[r->step].kind);
    return k ? k->name : NULL;
}

static void run_fail(struct run *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The scenario failed at line: the message, the transcript, and the step
 * that failed in the results. */
static void run_fail(struct run *r, int line, const char *fmt, ...)
{
    char msg[1600];
    va_list ap;
    const char *name = run_step_name(r);

    if (r->finished)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(r->res->message, sizeof(r->res->message), "%s:%d: %s", r->s->path,
             line, msg);
    strbuf_printf(&r->res->transcript, "!! %s\n", r->res->message);
    if (name != NULL)
        strbuf_printf(&r->res->steps, "%d %s %lld failed\n",
                      r->s->blocks[r->step].line, name,
                      clock_mono_ms() - r->step_t0);
    r->res->status = RUNNER_FAILED;
    r->finished = 1;
    timeline_step_end(r->tl, 0);
    event_base_loopbreak(r->base);
}

/* The current step is over: its timing goes to the results. */
static void run_step_next(struct run *r)
{
    long long now = clock_mono_ms();
    const char *name = run_step_name(r);

    if (name != NULL)
        strbuf_printf(&r->res->steps, "%d %s %lld\n",
                      r->s->blocks[r->step].line, name, now - r->step_t0);
    timeline_step_end(r->tl, 1);
    timeline_queue(r->tl, r->lab);
    r->step++;
    r->step_t0 = now;
    lab_use(r->lab, NULL); /* "on NAME" lasts one step */
}

/* A step that went on by itself is over: the next one starts. */
static void run_step_done(struct run *r)
{
    run_step_next(r);
    run_next_step(r);
}

static int run_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* mxlab diff's observations (runner.h): the messages that arrived since
 * the last look, sorted, and the queue. */
static void run_observe_state(struct run *r, int line)
{
    struct fakemx *mx = lab_fakemx(r->lab);
    size_t n = fakemx_message_count(mx), total, busy;
    struct strlist got;

    strlist_init(&got);
    for (; r->observed < n; r->observed++) {
        const struct fakemx_message *m = fakemx_message_at(mx, r->observed);
        struct netaddr na;
        char ip[64] = "?";
        struct strbuf one;
        if (netaddr_parse(m->host, 0, &na) == 0)
            netaddr_ip(&na, ip, sizeof(ip));
        strbuf_init(&one);
        strbuf_printf(&one, "%s <%s>", ip, m->mail_from);
        for (size_t k = 0; k < m->nrcpt; k++)
            strbuf_printf(&one, " <%s>", m->rcpts[k]);
        strlist_push(&got, one.buf);
        strbuf_clear(&one);
    }
    if (got.n > 1)
        qsort(got.v, got.n, sizeof(*got.v), run_cmp_str);
    for (size_t i = 0; i < got.n; i++)
        strbuf_printf(&r->res->observations, "%d delivered %s\n", line,
                      got.v[i]);
    if (lab_queue(r->lab, &total, &busy) < 0)
        total = (size_t)-1, busy = 0;
    /* A count taken while a delivery is under way depends on when the
     * SUT reads its next hop's 250: mxlab diff does not compare it. */
    strbuf_printf(&r->res->observations, "%d queue %zu%s\n", line, total,
                  busy > 0 ? " busy" : "");
    strlist_clear(&got);
}

/* ---- [session] ---- */

static void run_session_done(void *arg, int line, const char *msg)
{
    struct run *r = arg;

    if (msg == NULL && r->s->blocks[r->step].keep) {
        r->kept = xrealloc(r->kept, (r->nkept + 1) * sizeof(*r->kept));
        r->kept[r->nkept++] = r->session;
    } else {
        session_free(r->session);
    }
    r->session = NULL;
    if (msg != NULL)
        run_fail(r, line, "%s", msg);
    else
        run_step_done(r);
}

static int run_play_session(struct run *r, const struct scn_block *b)
{
    struct session_ctx ctx;
    char err[1024];
    int line;

    if (r->tls_ctx == NULL)
        r->tls_ctx = smtpcli_tls_ctx_new();
    ctx.base = r->base;
    ctx.lab = r->lab;
    ctx.vars = &r->vars;
    ctx.transcript = &r->res->transcript;
    ctx.observations = &r->res->observations;
    ctx.tls_ctx = r->tls_ctx;
    ctx.timeout_ms = r->s->timeout_ms;
    r->session =
        session_start(&ctx, b, run_session_done, r, &line, err, sizeof(err));
    if (r->session == NULL) {
        run_fail(r, line, "%s", err);
        return -1;
    }
    return 1;
}

/* ---- [expect] ---- */

static void run_arm_deadline(struct run *r)
{
    struct timeval tv = {r->s->timeout_ms / 1000,
                         (r->s->timeout_ms % 1000) * 1000};

    if (!evtimer_pending(r->deadline, NULL))
        evtimer_add(r->deadline, &tv);
}

static void run_expect_advance(struct run *r, int final_try)
{
    const struct scn_block *b = &r->s->blocks[r->step];
    struct expect_env env = {r->lab, &r->vars, final_try};

    while (!r->finished && r->xi < b->nexpects) {
        struct strbuf why;
        strbuf_init(&why);
        int rc = expect_check(&b->expects[r->xi], &env, &why);
        if (rc < 0)
            run_fail(r, b->expects[r->xi].line, "%s", why.buf ? why.buf : "");
        strbuf_clear(&why);
        if (rc < 0)
            return;
        if (rc == 0) {
            run_arm_deadline(r);
            return;
        }
        strbuf_printf(&r->res->transcript, "ok line %d\n",
                      b->expects[r->xi].line);
        evtimer_del(r->deadline);
        r->xi++;
    }
    if (!r->finished) {
        run_observe_state(r, b->line);
        run_step_done(r);
    }
}

static int run_play_expect(struct run *r, const struct scn_block *b)
{
    strbuf_printf(&r->res->transcript, "== [expect] (line %d)\n", b->line);
    r->xi = 0;
    run_arm_deadline(r);
    run_expect_advance(r, 0);
    return 1;
}

/* Something happened in the lab: let a waiting [expect] look again (its
 * last look when its deadline has passed). */
static void run_continue(struct run *r)
{
    if (r->finished || r->step >= r->s->nblocks ||
        r->s->blocks[r->step].kind != SCN_EXPECT)
        return;
    run_expect_advance(r, evtimer_pending(r->deadline, NULL) ? 0 : 1);
}

static void run_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    const struct scn_block *b = &r->s->blocks[r->step];

    (void)fd;
    (void)what;
    run_continue(r); /* expectations report their own failure */
    if (!r->finished && b->kind == SCN_EXPECT && r->xi < b->nexpects)
        run_fail(r, b->expects[r->xi].line, "timed out after %ld ms",
                 r->s->timeout_ms);
}

static void run_on_recheck(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_continue(arg);
}

static void run_on_change(void *arg)
{
    struct run *r = arg;

    timeline_queue(r->tl, r->lab);
    run_continue(r);
}

static void run_on_delivery(void *arg, const struct fakemx_message *m)
{
    struct run *r = arg;
    struct strbuf *t = &r->res->transcript;

    strbuf_printf(t, "-- %s (%s) received from <%s> for", m->host_name, m->host,
                  m->mail_from);
    for (size_t i = 0; i < m->nrcpt; i++)
        strbuf_printf(t, " <%s>", m->rcpts[i]);
    strbuf_putc(t, '\n');
    run_continue(r);
}

/* ---- [admin], [change mx], [change dns], [time passes] ---- */

static int run_play_admin(struct run *r, const struct scn_block *b)
{
    char msg[1024];
    int line = b->line;
    int rc = admin_play(r->lab, r->s, b, &r->vars, &r->res->transcript, &line,
                        msg, sizeof(msg));

    run_observe_state(r, b->line);
    if (rc < 0)
        run_fail(r, line, "%s", msg);
    return rc;
}

static int run_play_change_mx(struct run *r, const struct scn_block *b)
{
    char err[256];
    int rc = lab_change_mx(r->lab, b->arg, &b->mx, err, sizeof(err));

    strbuf_printf(&r->res->transcript, "== [change mx %s] (line %d)\n", b->arg,
                  b->line);
    if (rc < 0)
        run_fail(r, b->line, "%s", err);
    return rc;
}

/* "fault NAME [TYPE] SPEC" or "clear NAME [TYPE]": the name made
 * absolute, the type (0: any), and where SPEC starts. */
static char *run_dns_target(const char *text, const struct strlist *w,
                            int *type, const char **spec)
{
    char *name = str_lower(xstrdup(w->v[1]));
    size_t k = 2;

    if (name[strlen(name) - 1] != '.') {
        char *abs = xasprintf("%s.", name);
        free(name);
        name = abs;
    }
    *type = 0;
    if (w->n > 2) {
        ldns_rr_type t = ldns_get_rr_type_by_name(w->v[2]);
        if (strcmp(w->v[2], "*") == 0 || str_casecmp(w->v[2], "ANY") == 0)
            k = 3;
        else if (t != 0 && (strcmp(w->v[0], "clear") == 0 || w->n > 3)) {
            *type = (int)t;
            k = 3;
        }
    }
    *spec = text;
    for (size_t f = 0; f < k; f++) {
        *spec += strspn(*spec, " \t");
        *spec += strcspn(*spec, " \t");
    }
    *spec += strspn(*spec, " \t");
    return name;
}

/* [change dns]: faults set or cleared in the running fakedns. */
static int run_play_change_dns(struct run *r, const struct scn_block *b)
{
    struct fakedns *dns = lab_fakedns(r->lab);

    strbuf_printf(&r->res->transcript, "== [change dns] (line %d)\n", b->line);
    for (size_t i = 0; i < b->nitems && !r->finished; i++) {
        const struct scn_item *it = &b->items[i];
        struct strlist w;
        char err[512] = "";
        const char *spec;
        int type;

        strlist_init(&w);
        strlist_split(&w, it->text);
        if (strcmp(w.v[0], "clear") == 0 && strcmp(w.v[1], "all") == 0) {
            fakedns_clear_faults(dns, NULL, 0);
        } else {
            char *name = run_dns_target(it->text, &w, &type, &spec);
            if (strcmp(w.v[0], "clear") == 0)
                fakedns_clear_faults(dns, name, type);
            else if (fakedns_set_fault(dns, name, type, spec, err,
                                       sizeof(err)) < 0)
                run_fail(r, it->line, "[change dns]: %s", err);
            free(name);
        }
        strbuf_printf(&r->res->transcript, "%s\n", it->text);
        strlist_clear(&w);
    }
    return r->finished ? -1 : 0;
}

/* [change main.cf], [change file NAME] (on the system lab_use chose). */
static int run_play_change_conf(struct run *r, const struct scn_block *b)
{
    char err[1600];
    int rc = b->kind == SCN_CHANGE_MAINCF
                 ? lab_change_maincf(r->lab, b->text ? b->text : "", err,
                                     sizeof(err))
                 : lab_change_file(r->lab, b->arg, b->text ? b->text : "", err,
                                   sizeof(err));

    strbuf_printf(&r->res->transcript, "== [change %s%s%s%s] (line %d)\n%s",
                  b->kind == SCN_CHANGE_MAINCF ? "main.cf" : "file ",
                  b->kind == SCN_CHANGE_MAINCF ? "" : b->arg,
                  b->on ? " on " : "", b->on ? b->on : "", b->line,
                  b->text ? b->text : "");
    if (rc < 0)
        run_fail(r, b->line, "%s", err);
    return rc;
}

/* [change zone ORIGIN]: records added, replaced or removed in fakedns;
 * what resolvers had cached stays until its TTL runs out. */
static int run_play_change_zone(struct run *r, const struct scn_block *b)
{
    char err[1024];
    int rc =
        fakedns_update_zone(lab_fakedns(r->lab), r->s->path, b->text_line,
                            b->arg, b->text ? b->text : "", err, sizeof(err));

    strbuf_printf(&r->res->transcript, "== [change zone %s] (line %d)\n%s",
                  b->arg, b->line, b->text ? b->text : "");
    if (rc < 0)
        run_fail(r, b->line, "%s", err);
    return rc;
}

static void run_time_done(void *arg, int ok, const char *msg)
{
    struct run *r = arg;

    if (ok)
        run_step_done(r);
    else
        run_fail(r, r->s->blocks[r->step].line, "%s", msg);
}

static int run_play_time(struct run *r, const struct scn_block *b)
{
    struct strbuf *t = &r->res->transcript;
    long scale = lab_time_scale(r->lab);

    strbuf_printf(t, "== [time passes %lds] (line %d)", b->seconds, b->line);
    if (scale > 0)
        strbuf_printf(t, ": %.3fs on Postfix's timers, divided by %ld",
                      (double)b->seconds / (double)scale, scale);
    strbuf_putc(t, '\n');
    lab_time_passes(r->lab, b->seconds, run_time_done, r);
    return 1;
}

/* ---- the scheduler ---- */

static const struct run_kind run_kinds[] = {
    {SCN_MAINCF, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_MASTERCF, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_FILE, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_TLS_CERT, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_DAEMON, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_ZONE, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_MX, NULL, LAB_CAP_CONFIG, NULL},
    {SCN_SESSION, "session", 0, run_play_session},
    {SCN_EXPECT, "expect", LAB_CAP_DELIVERIES, run_play_expect},
    {SCN_ADMIN, "admin", LAB_CAP_ADMIN, run_play_admin},
    {SCN_CHANGE_MX, "change-mx", LAB_CAP_CONFIG, run_play_change_mx},
    {SCN_CHANGE_DNS, "change-dns", LAB_CAP_CONFIG, run_play_change_dns},
    {SCN_TIME, "time-passes", LAB_CAP_CLOCK, run_play_time},
    {SCN_CHANGE_MAINCF, "change-main.cf", LAB_CAP_CONFIG, run_play_change_conf},
    {SCN_CHANGE_FILE, "change-file", LAB_CAP_CONFIG, run_play_change_conf},
    {SCN_CHANGE_ZONE, "change-zone", LAB_CAP_CONFIG, run_play_change_zone},
    {SCN_SYSTEM, NULL, LAB_CAP_CONFIG, NULL},
};

static const struct run_kind *run_kind_of(enum scn_block_kind k)
{
    for (size_t i = 0; i < sizeof(run_kinds) / sizeof(run_kinds[0]); i++)
        if (run_kinds[i].kind == k)
            return &run_kinds[i];
    return NULL;
}

static void run_next_step(struct run *r)
{
    while (!r->finished && r->step < r->s->nblocks) {
        const struct run_kind *k = run_kind_of(r->s->blocks[r->step].kind);
        if (k != NULL && k->name != NULL)
            timeline_step_begin(r->tl, r->s->blocks[r->step].line, k->name);
        if (r->s->blocks[r->step].on != NULL)
            lab_use(r->lab, r->s->blocks[r->step].on);
        if (k != NULL && k->play != NULL &&
            k->play(r, &r->s->blocks[r->step]) != 0)
            return; /* it goes on by itself, or failed */
        run_step_next(r);
    }
    if (!r->finished) {
        r->finished = 1;
        r->res->status = RUNNER_PASSED;
        event_base_loopbreak(r->base);
    }
}

/* The first block that needs what the SUT cannot do, or NULL. */
static const struct scn_block *run_needs(const struct scenario *s,
                                         unsigned caps)
{
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct run_kind *k = run_kind_of(s->blocks[i].kind);
        if (k != NULL && (k->needs & ~caps) != 0)
            return &s->blocks[i];
    }
    return NULL;
}

/* The lab could not be built: err is "file:line: what". */
static void run_setup_failed(struct run *r, const char *err)
{
    const char *p = str_casestart(err, r->s->path);
    long line = 1;

    if (p != NULL && *p == ':') {
        char num[12];
        size_t n = strspn(p + 1, "0123456789");
        snprintf(num, sizeof(num), "%.*s", (int)(n < 11 ? n : 11), p + 1);
        if (str_to_long(num, &line) < 0)
            line = 1;
    }
    snprintf(r->res->message, sizeof(r->res->message), "%s", err);
    strbuf_printf(&r->res->transcript, "!! %s\n", err);
    strbuf_printf(&r->res->steps, "%ld setup %lld failed\n", line,
                  clock_mono_ms() - r->step_t0);
    r->res->status = RUNNER_FAILED;
    r->finished = 1;
}

/* What the fake MX hosts received stays with the work directory (kept
 * when the scenario fails), one JSON object per message. */
static void run_save_deliveries(struct run *r, const char *workdir)
{
    struct fakemx *mx = lab_fakemx(r->lab);
    char *path;
    FILE *fp;

    if (fakemx_message_count(mx) == 0)
        return;
    path = xasprintf("%s/fakemx.jsonl", workdir);
    fp = fopen(path, "w");
    for (size_t i = 0; fp && i < fakemx_message_count(mx); i++)
        fakemx_message_write_json(fakemx_message_at(mx, i), fp);
    if (fp != NULL)
        fclose(fp);
    free(path);
}

/* Play the steps on an open lab until the end or a failure. */
static void run_play(struct run *r)
{
    struct timeval recheck = {0, RUNNER_RECHECK_MS * 1000};

    lab_on_delivery(r->lab, run_on_delivery, r);
    lab_on_change(r->lab, run_on_change, r);
    r->deadline = evtimer_new(r->base, run_on_deadline, r);
    /* Re-look at waiting expectations now and then as well as on every
     * lab event: a bounded re-check of a real condition, not a sleep. */
    r->recheck = event_new(r->base, -1, EV_PERSIST, run_on_recheck, r);
    evtimer_add(r->recheck, &recheck);
    run_next_step(r);
    if (!r->finished)
        event_base_dispatch(r->base);
    session_free(r->session);
    r->session = NULL;
    for (size_t i = 0; i < r->nkept; i++)
        session_free(r->kept[i]);
    free(r->kept);
    event_free(r->deadline);
    event_free(r->recheck);
}

void runner_set_pcap(int on)
{
    runner_pcap = on;
}

/* --pcap: the lab's traffic into WORKDIR/capture.pcap, from now until
 * run_capture_stop. NULL (the transcript says why) if it cannot be. */
static struct pcap_capture *run_capture_start(struct run *r,
                                              const char *workdir)
{
    struct strbuf filter;
    struct pcap_capture *c;
    char *path = xasprintf("%s/capture.pcap", workdir), err[1024];

    strbuf_init(&filter);
    lab_capture_filter(r->lab, &filter);
    c = pcap_capture_start(r->base, filter.buf, path, err, sizeof(err));
    if (c == NULL)
        strbuf_printf(&r->res->transcript, "-- no capture: %s\n", err);
    else
        strbuf_printf(&r->res->transcript, "-- capture: %s (filter: %s)\n",
                      path, filter.buf);
    strbuf_clear(&filter);
    free(path);
    return c;
}

static void run_capture_stop(struct run *r)
{
    unsigned dropped;
    long n;

    if (r->pcap == NULL)
        return;
    n = pcap_capture_stop(r->pcap, &dropped);
    r->pcap = NULL;
    strbuf_printf(&r->res->transcript,
                  "-- capture: %ld packets, %u dropped by the kernel\n", n,
                  dropped);
}

enum runner_status runner_run(const struct scenario *s, const char *workdir,
                              const struct sut_spec *sut,
                              struct runner_result *res)
{
    struct run r;
    long long t0 = clock_mono_ms();
    const struct scn_block *b = run_needs(s, sut_spec_caps(sut));
    char err[2048], *progress;

    memset(res, 0, sizeof(*res));
    strbuf_init(&res->transcript);
    strbuf_init(&res->observations);
    strbuf_init(&res->steps);
    strbuf_init(&res->timeline);
    if (b != NULL) {
        res->status = RUNNER_SKIPPED;
        snprintf(res->message, sizeof(res->message),
                 "%s:%d: needs its own system under test (this block "
                 "configures or inspects it); %s runs black-box scenarios "
                 "only",
                 s->path, b->line, sut->name);
        return res->status;
    }
    /* [daemon] programs missing here: skipped, with which and why. */
    if (sut_spec_caps(sut) & LAB_CAP_CONFIG) {
        int rc = daemon_check(s, res->message, sizeof(res->message));
        if (rc < 0) {
            res->status = rc == -1 ? RUNNER_SKIPPED : RUNNER_FAILED;
            return res->status;
        }
    }
    /* The embedded relay reads the process clock: simulated, so that
     * hours of retries pass in a [time passes] step. Each scenario runs
     * in its own worker process. */
    clock_simulate(0);
    memset(&r, 0, sizeof(r));
    r.s = s;
    r.res = res;
    r.base = event_base_new();
    r.step_t0 = clock_mono_ms();
    progress = xasprintf("%s/progress", workdir);
    r.tl = timeline_new(s, &res->timeline, progress);
    free(progress);
    capture_init(&r.vars);
    r.lab = lab_open(r.base, s, workdir, sut, err, sizeof(err));
    if (r.lab == NULL)
        run_setup_failed(&r, err);
    else {
        r.pcap = runner_pcap ? run_capture_start(&r, workdir) : NULL;
        run_play(&r);
    }
    if (r.lab != NULL) {
        run_save_deliveries(&r, workdir);
        timeline_fakemx(r.tl, r.lab);
    }
    /* One teardown path, whatever happened. */
    lab_close(r.lab);
    pcap_capture_unwatch(r.pcap);
    SSL_CTX_free(r.tls_ctx);
    event_base_free(r.base); /* closes the last sockets */
    run_capture_stop(&r);    /* after their last packets */
    capture_clear(&r.vars);
    timeline_free(r.tl);
    res->seconds = (double)(clock_mono_ms() - t0) / 1000.0;
    return res->status;
}
