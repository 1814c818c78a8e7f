/*
 * lab.c — the lab of one scenario: fakedns on DNS_IP:<port>, each [mx IP]
 * on IP:<port> (the SUT's smtp_tcp_port), the SUT on 127.0.0.1:<port> with
 * a config directory generated from the scenario (labconf.c), and the
 * SUT's operations (sut_*.c) behind what the steps need. See lab.h.
 * One teardown path: lab_close, whatever lab_open got to.
 */
#include "harness/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "labconf.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "sut.h"

#define LAB_DNS_IP "127.0.0.53"
#define LAB_RECHECK_MS 100
/* The SUT acts at most this many times within one [time passes] (five
 * days of retries every 300 s are 1440). */
#define LAB_MAX_TIME_STEPS 100000

/* One system: the SUT, or a [system NAME IP] beside it (the same kind,
 * its own configuration, queue and log, listening on IP at the port the
 * lab delivers to, so that MX records can point at it). */
struct lab_sys {
    const char *name; /* NULL: the SUT */
    struct sut_env env;
    const struct sut_ops *ops;
    int *svc_ports; /* [master.cf] inet services, in order (the SUT's) */
    size_t nsvc;
};

struct lab {
    struct lab_sys *sys; /* [0] the SUT, then the [system] blocks */
    size_t nsys;
    struct lab_sys *cur; /* what admin, queue, log and sessions act on */
    struct sut_spec spec;
    struct fakedns *dns;
    struct fakemx *mx;
    struct lab_mx {
        const char *ip;
        struct fakemx_host *host;
    } * mxhosts;
    size_t nmxhosts;
    struct event_base *base;
    lab_delivery_fn *on_delivery;
    void *on_delivery_arg;
    lab_change_fn *on_change;
    void *on_change_arg;
    /* [time passes] */
    int time_active;
    time_t time_target;
    long time_steps;
    lab_time_fn *time_done;
    void *time_arg;
    struct event *time_timer;   /* real time: the scaled wait */
    struct event *time_recheck; /* simulated: look again now and then */
    /* Simulated clock, but a [daemon] reads the real one (postgrey):
     * the scaled real wait comes first. */
    int time_waiting_real;
    char errbuf[1600];
};

int sut_spec_parse(const char *arg, struct sut_spec *out, char *err,
                   size_t errlen)
{
    static const struct sut_ops *const local[] = {&sut_relay_ops,
                                                  &sut_postfix_ops};
    int rc;

    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (strcmp(arg, local[i]->name) == 0) {
            memset(out, 0, sizeof(*out));
            out->ops = local[i];
            snprintf(out->name, sizeof(out->name), "%s", arg);
            return 0;
        }
    rc = sut_remote_parse(arg, out, err, errlen);
    if (rc == -2)
        snprintf(err, errlen,
                 "%s: relay, postfix, smtp://HOST[:PORT] or "
                 "smtps://HOST[:PORT] expected",
                 arg);
    return rc < 0 ? -1 : 0;
}

unsigned sut_spec_caps(const struct sut_spec *sut)
{
    return sut->ops->caps;
}

int sut_spec_usable(const struct sut_spec *sut, const char *workdir, char *err,
                    size_t errlen)
{
    return sut->ops->usable ? sut->ops->usable(workdir, err, errlen) : 1;
}

void sut_spec_reap(const struct sut_spec *sut, const char *workdir)
{
    if (sut->ops->reap != NULL)
        sut->ops->reap(workdir);
}

static void lab_time_step(struct lab *lab);
static int lab_map_filters(struct lab *lab);

static void lab_changed(void *arg)
{
    struct lab *lab = arg;

    if (lab->on_change != NULL)
        lab->on_change(lab->on_change_arg);
    if (lab->time_active && lab->sys->ops->next_event != NULL)
        lab_time_step(lab);
}

static void lab_delivered(void *arg, const struct fakemx_message *m)
{
    struct lab *lab = arg;

    if (lab->on_delivery != NULL)
        lab->on_delivery(lab->on_delivery_arg, m);
    if (lab->time_active && lab->sys->ops->next_event != NULL)
        lab_time_step(lab);
}

/* Ports and addresses: the SUT's own choice, else the lab's. A [system]
 * listens on its own address at the SUT's delivery port and shares the
 * SUT's fakedns. */
static int lab_prepare(struct lab *lab, struct lab_sys *sys)
{
    struct sut_env *env = &sys->env;

    if (sys->ops->prepare != NULL) {
        if (sys->ops->prepare(env) < 0)
            return -1;
        if (sys != lab->sys) {
            env->smtp_port = env->mx_port = lab->sys->env.mx_port;
            env->dns_port = lab->sys->env.dns_port;
            snprintf(env->dns_ip, sizeof(env->dns_ip), "%s",
                     lab->sys->env.dns_ip);
        }
    } else {
        env->mx_port = labconf_free_port(SOCK_STREAM);
        env->dns_port = labconf_free_port(SOCK_DGRAM);
        snprintf(env->dns_ip, sizeof(env->dns_ip), "%s", LAB_DNS_IP);
    }
    if ((daemon_wanted(env->s, "policyd-spf") ||
         daemon_wanted(env->s, "opendkim")) &&
        env->dns_port != 53) {
        /* policyd-spf's and opendkim's resolvers ask port 53 only: one
         * 127.53.x.y address per worker. */
        unsigned pid = (unsigned)getpid();
        env->dns_port = 53;
        snprintf(env->dns_ip, sizeof(env->dns_ip), "127.53.%u.%u",
                 (pid >> 8) & 255, pid & 255);
    }
    if (env->mx_port < 0 || env->dns_port < 0 ||
        ((sys->ops->caps & LAB_CAP_CONFIG) && env->smtp_port < 0))
        return sut_fail(env, 1, "no free loopback port: %s", strerror(errno));
    if ((sys->ops->caps & LAB_CAP_CONFIG) && fs_mkdir_p(env->confdir, 0755) < 0)
        return sut_fail(env, 1, "%s: %s", env->confdir, strerror(errno));
    return 0;
}

/* fakedns with the scenario's zones, the fake MX hosts. */
static int lab_world(struct lab *lab)
{
    struct sut_env *env = &lab->sys->env;
    char err[1024], addr[128];

    for (size_t i = 0; i < env->s->nblocks; i++) {
        const struct scn_block *b = &env->s->blocks[i];
        if (b->kind == SCN_ZONE &&
            fakedns_load_zone_text(lab->dns, env->s->path, b->text_line, b->arg,
                                   b->text ? b->text : "", err,
                                   sizeof(err)) < 0) {
            snprintf(env->err, env->errlen, "%s", err); /* file:line */
            return -1;
        }
        if (b->kind != SCN_MX)
            continue;
        snprintf(addr, sizeof(addr), "%s:%d", b->arg, env->mx_port);
        struct fakemx_host *h =
            fakemx_add_host(lab->mx, addr, b->mx.name ? b->mx.name : b->arg,
                            &b->mx, err, sizeof(err));
        if (h == NULL)
            return sut_fail(env, b->line, "[mx %s]: %s", b->arg, err);
        lab->mxhosts =
            xrealloc(lab->mxhosts, (lab->nmxhosts + 1) * sizeof(*lab->mxhosts));
        lab->mxhosts[lab->nmxhosts].ip = b->arg;
        lab->mxhosts[lab->nmxhosts++].host = h;
    }
    snprintf(addr, sizeof(addr), "%s:%d", env->dns_ip, env->dns_port);
    if (fakedns_listen(lab->dns, addr, err, sizeof(err)) < 0)
        return sut_fail(env, 1, "fakedns: %s", err);
    return 0;
}

/* The scenario's [main.cf] (one at most). */
static int lab_find_maincf(struct sut_env *env)
{
    if (env->maincf != NULL)
        return 0; /* a [system]: its own block */
    for (size_t i = 0; i < env->s->nblocks; i++) {
        const struct scn_block *b = &env->s->blocks[i];
        if (b->kind != SCN_MAINCF)
            continue;
        if (env->maincf != NULL)
            return sut_fail(env, b->line,
                            "a second [main.cf] (first at line %d)",
                            env->maincf->line);
        env->maincf = b;
    }
    return 0;
}

/* Files and configuration, then the system itself. A [system] gets the
 * scenario's [file] blocks, no [master.cf] services. */
static int lab_start_sut(struct lab *lab, struct lab_sys *sys)
{
    struct sut_env *env = &sys->env;

    if (!(sys->ops->caps & LAB_CAP_CONFIG))
        return 0;
    if (sys != lab->sys) {
        env->master_extra = xstrdup("");
        /* The lab's daemons are the SUT's; a [system] names them too. */
        env->daemons = lab->sys->env.daemons;
    }
    if (labconf_files(env) < 0 ||
        (sys == lab->sys && (env->daemons = daemons_start(env)) == NULL) ||
        (sys == lab->sys &&
         labconf_master_services(env, &sys->svc_ports, &sys->nsvc) < 0) ||
        labconf_write_maincf(env, sys->ops->maincf) < 0 ||
        labconf_write_local(env) < 0)
        return -1;
    return sys->ops->start ? sys->ops->start(env) : 0;
}

/* sys's environment: the SUT's in workdir, a [system NAME]'s in
 * workdir/NAME. */
static void lab_sys_init(struct lab *lab, struct lab_sys *sys,
                         const struct scenario *s, const char *workdir,
                         const struct scn_block *system)
{
    struct sut_env *env = &sys->env;

    sys->ops = lab->spec.ops;
    sys->name = system ? system->arg : NULL;
    env->base = lab->base;
    env->s = s;
    env->workdir =
        system ? xasprintf("%s/%s", workdir, system->arg) : xstrdup(workdir);
    env->confdir = xasprintf("%s/config", env->workdir);
    env->maillog = xasprintf("%s/maillog", env->workdir);
    env->maincf = system;
    env->listen_ip = system ? system->ip : SUT_IP;
    env->err = lab->errbuf;
    env->errlen = sizeof(lab->errbuf);
    env->on_change = lab_changed;
    env->on_change_arg = lab;
}

/* Every system's directories, ports, configuration, and start. */
static int lab_start_all(struct lab *lab)
{
    for (size_t i = 0; i < lab->nsys; i++) {
        struct sut_env *env = &lab->sys[i].env;
        if (fs_mkdir_p(env->workdir, 0755) < 0)
            return sut_fail(env, 1, "%s: %s", env->workdir, strerror(errno));
        if (lab_find_maincf(env) < 0 || lab_prepare(lab, &lab->sys[i]) < 0)
            return -1;
        if (i == 0 && lab_world(lab) < 0)
            return -1;
    }
    for (size_t i = 0; i < lab->nsys; i++)
        if (lab_start_sut(lab, &lab->sys[i]) < 0)
            return -1;
    return lab_map_filters(lab);
}

struct lab *lab_open(struct event_base *base, const struct scenario *s,
                     const char *workdir, const struct sut_spec *sut, char *err,
                     size_t errlen)
{
    struct lab *lab = xcalloc(1, sizeof(*lab));

    lab->spec = *sut;
    lab->base = base;
    lab->nsys = 1;
    for (size_t i = 0; i < s->nblocks; i++)
        lab->nsys += s->blocks[i].kind == SCN_SYSTEM;
    /* Allocated once: the systems' environments are callback arguments. */
    lab->sys = xcalloc(lab->nsys, sizeof(*lab->sys));
    lab->cur = lab->sys;
    lab_sys_init(lab, lab->sys, s, workdir, NULL);
    for (size_t i = 0, k = 1; i < s->nblocks; i++)
        if (s->blocks[i].kind == SCN_SYSTEM)
            lab_sys_init(lab, &lab->sys[k++], s, workdir, &s->blocks[i]);
    lab->dns = fakedns_new(base);
    lab->mx = fakemx_new(base);
    fakemx_on_delivery(lab->mx, lab_delivered, lab);
    if (lab_start_all(lab) == 0)
        return lab;
    snprintf(err, errlen, "%s", lab->errbuf);
    lab_close(lab);
    return NULL;
}

void lab_close(struct lab *lab)
{
    if (lab == NULL)
        return;
    for (size_t i = lab->nsys; i-- > 0;)
        if (lab->sys[i].ops->stop != NULL)
            lab->sys[i].ops->stop(&lab->sys[i].env);
    if (lab->nsys > 0)
        daemons_stop(lab->sys->env.daemons);
    if (lab->time_timer != NULL)
        event_free(lab->time_timer);
    if (lab->time_recheck != NULL)
        event_free(lab->time_recheck);
    fakemx_free(lab->mx);
    fakedns_free(lab->dns);
    free(lab->mxhosts);
    for (size_t i = 0; i < lab->nsys; i++) {
        struct sut_env *env = &lab->sys[i].env;
        free(lab->sys[i].svc_ports);
        free(env->master_extra);
        free(env->maincf_text);
        free(env->queuedir);
        free(env->workdir);
        free(env->confdir);
        free(env->maillog);
    }
    free(lab->sys);
    free(lab);
}

int lab_use(struct lab *lab, const char *name)
{
    for (size_t i = 0; i < lab->nsys; i++)
        if ((name == NULL && lab->sys[i].name == NULL) ||
            (name != NULL && lab->sys[i].name != NULL &&
             strcmp(name, lab->sys[i].name) == 0)) {
            lab->cur = &lab->sys[i];
            return 0;
        }
    return -1;
}

int lab_change_maincf(struct lab *lab, const char *text, char *err,
                      size_t errlen)
{
    struct sut_env *env = &lab->cur->env;
    const char *now = env->maincf_text      ? env->maincf_text
                      : env->maincf != NULL ? env->maincf->text
                                            : NULL;
    char *merged = labconf_maincf_merge(now ? now : "", text);

    free(env->maincf_text);
    env->maincf_text = merged;
    if (labconf_write_maincf(env, lab->cur->ops->maincf) < 0) {
        snprintf(err, errlen, "%s", lab->errbuf);
        return -1;
    }
    return 0;
}

int lab_change_file(struct lab *lab, const char *name, const char *text,
                    char *err, size_t errlen)
{
    struct sut_env *env = &lab->cur->env;

    if (labconf_write(env, name, text, 0644) < 0) {
        snprintf(err, errlen, "%s", lab->errbuf);
        return -1;
    }
    return 0;
}

unsigned lab_caps(const struct lab *lab)
{
    return lab->sys->ops->caps;
}

const char *lab_sut_name(const struct lab *lab)
{
    return lab->spec.name;
}

const char *lab_confdir(const struct lab *lab)
{
    return lab->cur->env.confdir;
}

const char *lab_maillog(const struct lab *lab)
{
    return lab->cur->env.maillog;
}

const char *lab_workdir(const struct lab *lab)
{
    return lab->cur->env.workdir;
}

void lab_capture_filter(const struct lab *lab, struct strbuf *out)
{
    const struct lab_sys *sut = lab->sys;
    const struct sut_env *env = &sut->env;
    char ip[64];

    /* fakedns: under Postfix every lab's is on port 53 of its own
     * address; the other ports are free ports taken by this lab (a
     * [system NAME IP] listens on the fake MXs' port). */
    strbuf_printf(out, "(host %s and port %d) or tcp port %d", env->dns_ip,
                  env->dns_port, env->mx_port);
    if (sut->ops->caps & LAB_CAP_CONFIG)
        strbuf_printf(out, " or (host %s and tcp port %d)", SUT_IP,
                      env->smtp_port);
    else
        strbuf_printf(out, " or (host %s and tcp port %d)",
                      netaddr_ip(&lab->spec.addr, ip, sizeof(ip)),
                      netaddr_port(&lab->spec.addr));
    for (size_t i = 0; i < sut->nsvc; i++)
        strbuf_printf(out, " or (host %s and tcp port %d)", SUT_IP,
                      sut->svc_ports[i]);
}

struct fakemx *lab_fakemx(struct lab *lab)
{
    return lab->mx;
}

struct fakedns *lab_fakedns(struct lab *lab)
{
    return lab->dns;
}

void lab_on_delivery(struct lab *lab, lab_delivery_fn *fn, void *arg)
{
    lab->on_delivery = fn;
    lab->on_delivery_arg = arg;
}

void lab_on_change(struct lab *lab, lab_change_fn *fn, void *arg)
{
    lab->on_change = fn;
    lab->on_change_arg = arg;
}

/* 1 if a [master.cf] service line sets smtpd_tls_wrappermode = yes (in
 * "-o name=value" or "-o { name = value }" form). */
static int lab_service_wrapper(const char *text)
{
    const char *p = strstr(text, "smtpd_tls_wrappermode");

    if (p == NULL)
        return 0;
    p += strlen("smtpd_tls_wrappermode");
    p += strspn(p, " \t");
    if (*p != '=')
        return 0;
    p++;
    p += strspn(p, " \t");
    return str_ncasecmp(p, "yes", 3) == 0 || str_ncasecmp(p, "true", 4) == 0 ||
           *p == '1';
}

int lab_endpoint(const struct lab *lab, const char *service,
                 struct lab_endpoint *out, char *err, size_t errlen)
{
    const struct scn_item *svc = NULL;
    size_t index = 0;

    memset(out, 0, sizeof(*out));
    if (lab->cur != lab->sys) {
        /* a [system]: its smtpd on its own address */
        netaddr_parse(lab->cur->env.listen_ip, lab->cur->env.smtp_port,
                      &out->addr);
        return 0;
    }
    if (!(lab->sys->ops->caps & LAB_CAP_CONFIG) && service == NULL) {
        out->addr = lab->spec.addr;
        out->tls = lab->spec.tls;
        return 0;
    }
    if (service != NULL &&
        ((svc = scenario_service(lab->sys->env.s, service, &index)) == NULL ||
         index >= lab->sys->nsvc)) {
        snprintf(err, errlen, "no inet service %s on %s", service,
                 lab->spec.name);
        return -1;
    }
    netaddr_parse(SUT_IP,
                  svc ? lab->sys->svc_ports[index] : lab->sys->env.smtp_port,
                  &out->addr);
    out->tls = svc != NULL && lab_service_wrapper(svc->text);
    return 0;
}

int lab_source(const struct lab *lab, const char *from, struct netaddr *out,
               char *err, size_t errlen)
{
    static const char *const loopback[] = {"127.0.0.0/8", "::1/128"};
    int local = 0;

    if (from == NULL && !(lab->sys->ops->caps & LAB_CAP_CONFIG))
        return 0; /* a remote SUT: from wherever this host routes */
    if (netaddr_parse(from ? from : SUT_IP, 0, out) < 0) {
        snprintf(err, errlen, "bad source address \"%s\"", from);
        return -1;
    }
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
        struct cidr c;
        cidr_parse(loopback[i], &c);
        local |= cidr_match(&c, out);
    }
    if (!local) {
        snprintf(err, errlen,
                 "%s is not an address the lab sends from: a session can "
                 "come from any address in 127.0.0.0/8 or from ::1 "
                 "(loopback; a document's 192.168.2.253 is written "
                 "127.168.2.253)",
                 from);
        return -1;
    }
    return 1;
}

/* A fake MX in filter mode ("filter = 127.0.0.1:10025") hands mail
 * back to the [master.cf] inet service of that name, which listens on a
 * free port of its own (labconf_master_services): b with the filter
 * address replaced by where that service listens, into *out (owned).
 * -1 with err when no such service exists. */
static int lab_filter_target(const struct lab *lab,
                             const struct fakemx_behaviour *b,
                             struct fakemx_behaviour *out, char *err,
                             size_t errlen)
{
    size_t index = 0;
    char addr[80];

    memset(out, 0, sizeof(*out));
    fakemx_behaviour_copy(out, b);
    if (b->filter == NULL || !(lab->sys->ops->caps & LAB_CAP_CONFIG))
        return 0;
    if (scenario_service(lab->sys->env.s, b->filter, &index) == NULL ||
        index >= lab->sys->nsvc) {
        snprintf(err, errlen,
                 "filter = %s: no inet service %s in [master.cf] (the "
                 "re-injection listener)",
                 b->filter, b->filter);
        fakemx_behaviour_clear(out);
        return -1;
    }
    snprintf(addr, sizeof(addr), "%s:%d", SUT_IP, lab->sys->svc_ports[index]);
    free((char *)out->filter);
    out->filter = xstrdup(addr);
    return 0;
}

/* The [mx ip] host gets behaviour b (its filter address mapped). -1
 * with the reason in why. */
static int lab_set_mx(struct lab *lab, const char *ip,
                      const struct fakemx_behaviour *b, char *why,
                      size_t whylen)
{
    struct fakemx_behaviour mapped;
    int rc = 0;

    if (lab_filter_target(lab, b, &mapped, why, whylen) < 0)
        return -1;
    for (size_t i = 0; i < lab->nmxhosts && rc == 0; i++)
        if (strcmp(lab->mxhosts[i].ip, ip) == 0 &&
            fakemx_host_set_behaviour(lab->mxhosts[i].host, &mapped) < 0) {
            snprintf(why, whylen, "cannot listen again");
            rc = -1;
        }
    fakemx_behaviour_clear(&mapped);
    return rc;
}

int lab_change_mx(struct lab *lab, const char *ip,
                  const struct fakemx_behaviour *b, char *err, size_t errlen)
{
    char why[300];

    if (lab_set_mx(lab, ip, b, why, sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "[change mx %s]: %s", ip, why);
    return -1;
}

/* Once the [master.cf] services have their ports: the [mx] hosts in
 * filter mode get the re-injection address. */
static int lab_map_filters(struct lab *lab)
{
    const struct scenario *s = lab->sys->env.s;
    char err[400];

    for (size_t i = 0; i < s->nblocks; i++) {
        const struct scn_block *b = &s->blocks[i];
        if (b->kind == SCN_MX && b->mx.filter != NULL &&
            lab_set_mx(lab, b->arg, &b->mx, err, sizeof(err)) < 0)
            return sut_fail(&lab->sys->env, b->line, "[mx %s]: %s", b->arg,
                            err);
    }
    return 0;
}

int lab_queue(struct lab *lab, size_t *total, size_t *busy)
{
    *total = *busy = 0;
    if (lab->cur->ops->queue == NULL || lab->cur->env.priv == NULL)
        return -1;
    return lab->cur->ops->queue(&lab->cur->env, total, busy);
}

int lab_idle(struct lab *lab)
{
    /* Every system: mail one of them holds may be on its way to another. */
    for (size_t i = 0; i < lab->nsys; i++) {
        struct lab_sys *sys = &lab->sys[i];
        if (sys->ops->idle != NULL && sys->env.priv != NULL &&
            !sys->ops->idle(&sys->env))
            return 0;
    }
    return 1;
}

int lab_admin(struct lab *lab, const char *cmdline, struct strbuf *out,
              struct strbuf *err)
{
    if (lab->cur->ops->admin == NULL || lab->cur->env.priv == NULL) {
        strbuf_printf(err, "%s: %s has no admin commands\n", cmdline,
                      lab->spec.name);
        return 64;
    }
    return lab->cur->ops->admin(&lab->cur->env, cmdline, out, err);
}

/* The first moment any system has work at, 0 if none. */
static time_t lab_next_event(struct lab *lab)
{
    time_t first = 0;

    for (size_t i = 0; i < lab->nsys; i++) {
        time_t t = lab->sys[i].ops->next_event(&lab->sys[i].env);
        if (t != 0 && (first == 0 || t < first))
            first = t;
    }
    return first;
}

static void lab_time_end(struct lab *lab, int ok, const char *msg)
{
    lab->time_active = 0;
    evtimer_del(lab->time_recheck);
    lab->time_done(lab->time_arg, ok, msg);
}

/* A simulated clock: time goes on from one moment at which the SUT has
 * work (a retry, a deferred-queue scan that finds mail due) to the next,
 * the SUT doing it before the clock moves again, as it would in real
 * time; then to the end. Resumed on the SUT's changes, deliveries and the
 * recheck timer while the SUT is busy. */
static void lab_time_step(struct lab *lab)
{
    while (lab->time_active && !lab->time_waiting_real) {
        if (!lab_idle(lab))
            return; /* the SUT's changes bring us back */
        time_t now = clock_time();
        time_t next = lab_next_event(lab);
        time_t to =
            next > now && next < lab->time_target ? next : lab->time_target;
        if (to > now) {
            struct timeval tv = {to - now, 0};
            clock_advance(&tv);
            for (size_t i = 0; i < lab->nsys; i++)
                lab->sys[i].ops->time_moved(&lab->sys[i].env);
            fakemx_time_changed(lab->mx);
        }
        if (to >= lab->time_target) {
            lab_time_end(lab, 1, NULL);
            return;
        }
        if (++lab->time_steps > LAB_MAX_TIME_STEPS) {
            char msg[128];
            snprintf(msg, sizeof(msg),
                     "[time passes]: the relay had work at more than %d "
                     "moments",
                     LAB_MAX_TIME_STEPS);
            lab_time_end(lab, 0, msg);
            return;
        }
    }
}

static void lab_on_time_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lab *lab = arg;

    (void)fd;
    (void)what;
    if (lab->sys->ops->next_event == NULL) {
        lab_time_end(lab, 1, NULL);
        return;
    }
    if (lab->time_waiting_real) {
        struct timeval recheck = {0, LAB_RECHECK_MS * 1000};
        lab->time_waiting_real = 0;
        evtimer_add(lab->time_recheck, &recheck);
    }
    lab_time_step(lab);
}

long lab_time_scale(const struct lab *lab)
{
    return lab->sys->ops->next_event != NULL ? 0
                                             : sut_time_scale(&lab->sys->env);
}

int lab_time_passes(struct lab *lab, long seconds, lab_time_fn *done, void *arg)
{
    struct timeval lab_tv = {seconds, 0};

    if (!(lab->sys->ops->caps & LAB_CAP_CLOCK))
        return -1;
    if (lab->time_timer == NULL) {
        lab->time_timer =
            evtimer_new(lab->sys->env.base, lab_on_time_timer, lab);
        lab->time_recheck = event_new(lab->sys->env.base, -1, EV_PERSIST,
                                      lab_on_time_timer, lab);
    }
    lab->time_done = done;
    lab->time_arg = arg;
    lab->time_active = 1;
    /* Real time: the SUT's timers were divided by the time scale
     * (labconf_compress_timers), so the same share of real time passes. */
    long scale = sut_time_scale(&lab->sys->env);
    double secs = (double)seconds / (double)scale;
    struct timeval tv = {(time_t)secs,
                         (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    if (lab->sys->ops->next_event != NULL) {
        struct timeval recheck = {0, LAB_RECHECK_MS * 1000};
        lab->time_target = clock_time() + seconds;
        lab->time_steps = 0;
        /* A [daemon] on the real clock sees the same scaled share of
         * real time as it would beside Postfix. */
        if (daemons_realtime(lab->sys->env.daemons)) {
            lab->time_waiting_real = 1;
            evtimer_add(lab->time_timer, &tv);
            return 0;
        }
        evtimer_add(lab->time_recheck, &recheck);
        lab_time_step(lab);
        return 0;
    }
    /* The lab's own servers (fakemx greylisting, rate windows) read the
     * simulated clock: for them the whole duration passes at once. */
    clock_advance(&lab_tv);
    fakemx_time_changed(lab->mx);
    evtimer_add(lab->time_timer, &tv);
    return 0;
}
