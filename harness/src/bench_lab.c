/*
 * bench_lab.c — mxlab bench on a lab SUT. See bench_lab.h.
 * A private Postfix is started inside lab_open: this process steps into a
 * new cgroup v2 for that call only, so Postfix's master and everything it
 * forks later (smtpd, cleanup, qmgr, smtp) are counted there and the
 * load generator is not. The embedded relay shares this process, so its
 * CPU cannot be told apart from the load generator's.
 */
#include "bench_lab.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/scenario.h"
#include "mxlab/clock.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define BENCH_LAB_SETTLE_MS 5000 /* at the end: the SUT finishing its work */
#define BENCH_LAB_POLL_MS 20

struct bench_lab {
    struct event_base *base;
    struct event *poll;
    long long settle_until;
    struct lab *lab;
    struct scenario *scn;
    struct bench_load **loadp;
    char *cgroup;
};

int bench_lab_seq(const char *message_id, unsigned long long *seq)
{
    static const char tail[] = "@bench.mxlab>";
    const char *p = message_id;
    size_t n;
    unsigned long long v = 0;

    if (p == NULL || *p++ != '<' || !str_isdigit((unsigned char)*p))
        return -1;
    for (; str_isdigit((unsigned char)*p); p++) {
        if (v > (~0ULL - 9) / 10)
            return -1;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    if (*p++ != '.' || !str_isdigit((unsigned char)*p))
        return -1;
    while (str_isdigit((unsigned char)*p))
        p++;
    n = strlen(p);
    if (n != sizeof(tail) - 1 || memcmp(p, tail, n) != 0)
        return -1;
    *seq = v;
    return 0;
}

static void bench_lab_delivered(void *arg, const struct fakemx_message *m)
{
    struct bench_lab *bl = arg;
    unsigned long long seq;

    if (*bl->loadp && bench_lab_seq(m->message_id, &seq) == 0)
        bench_load_arrived(*bl->loadp, seq);
}

static long long bench_lab_queue(void *arg)
{
    struct bench_lab *bl = arg;
    size_t total, busy;

    return lab_queue(bl->lab, &total, &busy) == 0 ? (long long)total : -1;
}

/* lab_open, inside a cgroup of its own when one can be made (root,
 * cgroup v2) and the SUT is a separate process (Postfix). */
static struct lab *bench_lab_start(struct bench_lab *bl,
                                   struct event_base *base,
                                   const struct sut_spec *sut,
                                   const char *workdir, char *err,
                                   size_t errlen)
{
    char cgerr[256], *back = NULL;
    struct lab *lab;

    if (strcmp(sut->name, "postfix") == 0 &&
        (bl->cgroup = bench_cgroup_new("mxlab-bench-sut", cgerr,
                                       sizeof(cgerr))) != NULL &&
        (back = bench_cgroup_enter(bl->cgroup)) == NULL) {
        bench_cgroup_remove(bl->cgroup);
        free(bl->cgroup);
        bl->cgroup = NULL;
    }
    lab = lab_open(base, bl->scn, workdir, sut, err, errlen);
    if (back) {
        bench_cgroup_add(back, getpid());
        free(back);
    }
    return lab;
}

struct bench_lab *
bench_lab_open(struct event_base *base, const char *path,
               const struct sut_spec *sut, const char *workdir,
               struct bench_load_cfg *cfg, struct bench_cpu *cpu,
               struct bench_load **loadp, char *err, size_t errlen)
{
    struct bench_lab *bl = xcalloc(1, sizeof(*bl));
    struct lab_endpoint ep;

    bl->loadp = loadp;
    bl->base = base;
    if ((bl->scn = scenario_load(path, err, errlen)) == NULL ||
        (bl->lab = bench_lab_start(bl, base, sut, workdir, err, errlen)) ==
            NULL ||
        lab_endpoint(bl->lab, NULL, &ep, err, errlen) < 0) {
        bench_lab_close(bl);
        return NULL;
    }
    cfg->dst = ep.addr;
    cfg->tls_now = ep.tls;
    cfg->track_arrivals = 1;
    cfg->queue_fn = bench_lab_queue;
    cfg->queue_arg = bl;
    lab_on_delivery(bl->lab, bench_lab_delivered, bl);
    if (bl->cgroup) {
        free(cpu->cgroup);
        cpu->cgroup = xstrdup(bl->cgroup);
    }
    return bl;
}

/* Every BENCH_LAB_POLL_MS while settling: is the SUT idle yet? */
static void bench_lab_on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct bench_lab *bl = arg;
    struct timeval tv = {0, BENCH_LAB_POLL_MS * 1000};

    (void)fd;
    (void)what;
    if (lab_idle(bl->lab) || clock_mono_ms() > bl->settle_until)
        event_base_loopexit(bl->base, NULL);
    else
        evtimer_add(bl->poll, &tv);
}

/* A message has arrived at the fake MX before the SUT has read the 250
 * for it: let the SUT finish (at most BENCH_LAB_SETTLE_MS) so that it is
 * stopped idle, not in the middle of deliveries. */
static void bench_lab_settle(struct bench_lab *bl)
{
    struct timeval tv = {0, 0};

    bl->settle_until = clock_mono_ms() + BENCH_LAB_SETTLE_MS;
    bl->poll = evtimer_new(bl->base, bench_lab_on_poll, bl);
    evtimer_add(bl->poll, &tv);
    event_base_dispatch(bl->base);
    event_free(bl->poll);
}

void bench_lab_close(struct bench_lab *bl)
{
    if (bl == NULL)
        return;
    if (bl->lab)
        bench_lab_settle(bl);
    lab_close(bl->lab);
    scenario_free(bl->scn);
    if (bl->cgroup) {
        bench_cgroup_remove(bl->cgroup);
        free(bl->cgroup);
    }
    free(bl);
}
