/*
 * relay.c — the relay object: reads main.cf (Postfix 3.7 names and
 * defaults, compatibility_level-dependent ones included) and master.cf
 * (inet smtpd services), opens tables, log and DNS, starts listeners and
 * the queue manager. Teardown is relay_free(), the one path.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anvil.h"
#include "control.h"
#include "filter.h"
#include "master.h"
#include "mxlab/config.h"
#include "mxlab/dns.h"
#include "mxlab/fsutil.h"
#include "mxlab/maillog.h"
#include "mxlab/map.h"
#include "mxlab/xmem.h"
#include "mynetworks.h"
#include "params.h"
#include "policy.h"
#include "policy_client.h"
#include "qmgr.h"
#include "queue.h"
#include "relay.h"
#include "sasl.h"
#include "smtpd.h"
#include "smtpd_line.h"
#include "tls.h"

void relay_changed(struct relay *r)
{
    if (r->change_fn != NULL)
        r->change_fn(r->change_arg);
}

void relay_on_change(struct relay *r, relay_change_fn *fn, void *arg)
{
    r->change_fn = fn;
    r->change_arg = arg;
}

size_t relay_queue_count(struct relay *r)
{
    return r->queue_count + queue_disk_count(r, QUEUE_DEFERRED) +
           queue_disk_count(r, QUEUE_HOLD);
}

size_t relay_busy(const struct relay *r)
{
    /* The active queue, and deferred messages a scan is about to bring
     * back. */
    return r->queue_count + (size_t)qmgr_scan_due(r);
}

time_t relay_next_event(struct relay *r)
{
    return qmgr_next_event(r);
}

size_t relay_active_deliveries(const struct relay *r)
{
    return r->ndeliveries;
}

int relay_load_queue(struct relay *r, char *err, size_t errlen)
{
    return queue_recover(r, err, errlen);
}

void relay_time_changed(struct relay *r)
{
    qmgr_time_changed(r);
}

void relay_flush(struct relay *r)
{
    qmgr_flush(r);
}

static void relay_hostname_defaults(struct config *cf)
{
    char host[256] = "localhost";
    const char *mydomain;

    if (gethostname(host, sizeof(host) - 1) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if (strchr(host, '.') == NULL) {
        char *fq = xasprintf("%s.localdomain", host);
        config_set_default(cf, "myhostname", fq);
        free(fq);
    } else {
        config_set_default(cf, "myhostname", host);
    }
    mydomain = strchr(config_get(cf, "myhostname"), '.');
    config_set_default(cf, "mydomain",
                       mydomain && mydomain[1] ? mydomain + 1 : "localdomain");
}

/* Postfix's compatibility_level decides a few defaults (postconf(5)). */
static void relay_compat_defaults(struct config *cf)
{
    const char *lvl = config_get(cf, "compatibility_level");
    long major = 0;
    char buf[16];
    size_t i = 0;

    while (str_isdigit((unsigned char)lvl[i]) && i < sizeof(buf) - 1) {
        buf[i] = lvl[i];
        i++;
    }
    buf[i] = '\0';
    if (i > 0)
        str_to_long(buf, &major);
    if (major >= 1) {
        config_set_default(cf, "smtpd_relay_restrictions",
                           "permit_mynetworks, permit_sasl_authenticated, "
                           "defer_unauth_destination");
        config_set_default(cf, "smtpd_recipient_restrictions", "");
    } else {
        config_set_default(cf, "smtpd_relay_restrictions", "");
        config_set_default(cf, "smtpd_recipient_restrictions",
                           "permit_mynetworks, reject_unauth_destination");
    }
    config_set_default(cf, "relay_domains", major >= 2 ? "" : "$mydestination");
    config_set_default(cf, "append_dot_mydomain", major >= 1 ? "no" : "yes");
    config_set_default(cf, "mynetworks_style", major >= 2 ? "host" : "subnet");
}

/* "file:line: " where name was set, or "main.cf: ". */
static const char *relay_where(struct config *cf, const char *name, char *buf,
                               size_t len)
{
    const char *where = config_where(cf, name);

    snprintf(buf, len, "%s: ", where ? where : "main.cf");
    return buf;
}

/* The SMTP smuggling defences of Postfix >= 3.7.10 (after mynetworks,
 * which the exclusions may name). */
static int relay_load_smuggling(struct config *cf, struct relay_params *p,
                                char *err, size_t errlen)
{
    const char *v = config_get(cf, "smtpd_forbid_bare_newline");
    char where[256];
    long code;

    p->smtpd_forbid_bare_newline = smtpd_bare_lf_parse(v);
    if (p->smtpd_forbid_bare_newline < 0) {
        snprintf(
            err, errlen, "%sinvalid smtpd_forbid_bare_newline: \"%s\"",
            relay_where(cf, "smtpd_forbid_bare_newline", where, sizeof(where)),
            v);
        return -1;
    }
    v = config_get(cf, "smtpd_forbid_bare_newline_reject_code");
    if (str_to_long(v, &code) < 0 || code < 500 || code > 599) {
        /* Postfix: an integer from 500 to 599. */
        snprintf(err, errlen,
                 "%sinvalid smtpd_forbid_bare_newline_reject_code: \"%s\"",
                 relay_where(cf, "smtpd_forbid_bare_newline_reject_code", where,
                             sizeof(where)),
                 v);
        return -1;
    }
    p->smtpd_forbid_bare_newline_reject_code = (int)code;
    p->smtpd_forbid_unauth_pipelining =
        config_get_bool(cf, "smtpd_forbid_unauth_pipelining") == 1;
    p->cleanup_replace_stray_cr_lf =
        config_get_bool(cf, "cleanup_replace_stray_cr_lf") != 0;
    /* smtpd_forbid_bare_newline_exclusions: networks as in mynetworks,
     * and $mynetworks itself (the default), which stands for the computed
     * list when mynetworks is not set (mynetworks_style). */
    v = config_raw(cf, "smtpd_forbid_bare_newline_exclusions");
    return mynetworks_load_list(cf, p, "smtpd_forbid_bare_newline_exclusions",
                                v ? v : "", 0, &p->bare_lf_exclusions,
                                &p->nbare_lf_exclusions, err, errlen);
}

static long relay_time(struct config *cf, const char *name, int *bad, char *err,
                       size_t errlen)
{
    long v = config_get_time(cf, name, 's', err, errlen);

    if (v < 0)
        *bad = 1;
    return v;
}

/* inet_protocols: which interface addresses are this host's in address
 * literals (resolve_local()). */
static void relay_load_protocols(struct config *cf, struct relay_params *p)
{
    const char *proto = config_get(cf, "inet_protocols");

    p->inet_ipv4 = strstr(proto, "all") != NULL || strstr(proto, "ipv4");
    p->inet_ipv6 = strstr(proto, "all") != NULL || strstr(proto, "ipv6");
}

static void relay_init_params(struct relay_params *p)
{
    relay_params_init(p);
}

/* smtp_tcp_port, lmtp_tcp_port: a number, or the service names "smtp"
 * (25) and "lmtp" (24). */
static int relay_tcp_port(struct config *cf, const char *name, int *out,
                          char *err, size_t errlen)
{
    const char *port = config_get(cf, name);
    long v;

    if (strcmp(port, "smtp") == 0 || strcmp(port, "lmtp") == 0) {
        *out = port[0] == 's' ? 25 : 24;
        return 0;
    }
    if (str_to_long(port, &v) < 0 || v < 1 || v > 65535) {
        snprintf(err, errlen, "%s: bad %s \"%s\"",
                 config_where(cf, name) ? config_where(cf, name) : "main.cf",
                 name, port);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* content_filter (a "transport:nexthop" the queue file can hold) and
 * receive_override_options (filter.c). -1 with "file:line: what". */
static int relay_load_filter(struct config *cf, struct relay_params *p,
                             char *err, size_t errlen)
{
    char where[600], bad[128];
    int bits;

    if (p->content_filter[0] != '\0' &&
        filter_split(p->content_filter, NULL, NULL) < 0) {
        snprintf(err, errlen,
                 "%sbad content_filter value \"%s\" (transport:nexthop)",
                 relay_where(cf, "content_filter", where, sizeof(where)),
                 p->content_filter);
        return -1;
    }
    bits = filter_receive_overrides(config_get(cf, "receive_override_options"),
                                    bad, sizeof(bad));
    if (bits < 0) {
        /* Postfix: fatal, as an unknown name in any name_mask list. */
        snprintf(
            err, errlen,
            "%sunknown receive_override_options value \"%s\" "
            "(no_unknown_recipient_checks, no_address_mappings, "
            "no_header_body_checks, no_milters)",
            relay_where(cf, "receive_override_options", where, sizeof(where)),
            bad);
        return -1;
    }
    p->receive_override = bits;
    return 0;
}

/* Read the parameters of cf into p (relay_init_params() first). -1 with
 * "file:line: what" in err. */
static int relay_load_params(struct relay *r, struct config *cf,
                             struct relay_params *p, char *err, size_t errlen)
{
    int bad = 0;

    /* The typed parameters of the table (params.c), then those that need
     * code of their own. */
    if (relay_params_load(cf, p, err, errlen) < 0)
        return -1;
    /* Unknown restriction names, once per start or reload, even if a later
     * parameter is refused (a session that meets one answers 451 4.3.5,
     * as Postfix's smtpd does). */
    policy_warn_unknown(cf, p, &r->param_warnings);
    {
        const char *pw = config_get(cf, "mxlab_passwd_file");
        char *abs =
            pw[0] == '/' ? xstrdup(pw) : xasprintf("%s/%s", r->config_dir, pw);
        map_set_passwd_file(abs);
        free(abs);
    }
    relay_load_protocols(cf, p);
    if (relay_tcp_port(cf, "smtp_tcp_port", &p->smtp_tcp_port, err, errlen) <
            0 ||
        relay_tcp_port(cf, "lmtp_tcp_port", &p->lmtp_tcp_port, err, errlen) < 0)
        return -1;
    const char *badlevel;
    p->smtpd_tls_level = relay_tls_level(cf, &badlevel);
    p->smtp_connection_cache_time_limit =
        config_get_bool(cf, "smtp_connection_cache_on_demand") == 0
            ? 0
            : relay_time(cf, "smtp_connection_cache_time_limit", &bad, err,
                         errlen);
    if (relay_load_filter(cf, p, err, errlen) < 0)
        return -1;
    if (bad || mynetworks_load(cf, p, err, errlen) < 0 ||
        relay_load_smuggling(cf, p, err, errlen) < 0 ||
        sasl_conf_load(&p->sasl, cf, p->queue_directory, err, errlen) < 0 ||
        policy_client_conf_load(&p->policy_service, cf, err, errlen) < 0)
        return -1;
    return anvil_load_params(cf, p, err, errlen);
}

static void relay_free_params(struct relay_params *p)
{
    sasl_conf_clear(&p->sasl);
    policy_client_conf_clear(&p->policy_service);
    relay_params_free(p);
    free(p->mynetworks);
    free(p->bare_lf_exclusions);
    free(p->event_limit_exceptions);
    free(p->inet_addrs);
}

static int relay_open_maps(struct relay *r, const char *param,
                           struct maplist **out, char *err, size_t errlen)
{
    char merr[512];

    *out = maplist_open(config_get(r->cf, param), r->config_dir, merr,
                        sizeof(merr));
    if (*out == NULL) {
        const char *where = config_where(r->cf, param);
        snprintf(err, errlen, "%s%s%s: %s", where ? where : "",
                 where ? ": " : "", param, merr);
        return -1;
    }
    return 0;
}

void relay_service_release(struct relay_service *svc)
{
    if (svc == NULL || --svc->refs > 0)
        return;
    relay_free_params(&svc->p);
    relay_free_params(&svc->stress_p);
    config_free(svc->cf);
    free(svc->name);
    free(svc);
}

void relay_service_params_free(struct relay_params *p)
{
    relay_free_params(p);
}

int relay_service_params(struct relay *r, struct config *cf,
                         struct relay_params *p, char *err, size_t errlen)
{
    relay_init_params(p);
    return relay_load_params(r, cf, p, err, errlen);
}

/* Turn a master.cf service name into listen addresses (Postfix's
 * "[host:]port" form; a bare port listens on inet_interfaces). Each
 * listener holds a reference to svc. */
static int relay_service_addrs(struct relay *r, struct relay_service *svc,
                               const char *where, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int port;
    } well_known[] = {{"smtp", 25}, {"submission", 587}, {"smtps", 465}};
    const char *service = svc->name;
    const char *colon = strrchr(service, ':');
    const char *portstr = colon ? colon + 1 : service;
    char *host = colon ? xstrndup(service, (size_t)(colon - service)) : NULL;
    long port = -1;
    struct strlist ifaces;
    int rc = 0;

    for (size_t i = 0; i < sizeof(well_known) / sizeof(well_known[0]); i++)
        if (strcmp(portstr, well_known[i].name) == 0)
            port = well_known[i].port;
    if (port < 0 &&
        (str_to_long(portstr, &port) < 0 || port < 1 || port > 65535)) {
        snprintf(err, errlen, "%s: bad service port \"%s\"", where, service);
        free(host);
        return -1;
    }
    strlist_init(&ifaces);
    if (host != NULL && *host != '\0')
        strlist_push(&ifaces, host);
    else
        strlist_split(&ifaces, config_get(r->cf, "inet_interfaces"));
    for (size_t i = 0; i < ifaces.n && rc == 0; i++) {
        const char *h = ifaces.v[i];
        struct relay_listener *l;
        struct netaddr na;
        if (strcmp(h, "all") == 0)
            h = "0.0.0.0";
        else if (strcmp(h, "localhost") == 0 || strcmp(h, "loopback-only") == 0)
            h = "127.0.0.1";
        if (netaddr_parse(h, (int)port, &na) < 0) {
            snprintf(err, errlen,
                     "%s: \"%s\": mxlab-relay listens on address literals "
                     "only",
                     where, h);
            rc = -1;
            break;
        }
        l = xcalloc(1, sizeof(*l));
        l->r = r;
        l->addr = na;
        l->svc = svc;
        svc->refs++;
        r->listeners =
            xrealloc(r->listeners, (r->nlisteners + 1) * sizeof(*r->listeners));
        r->listeners[r->nlisteners++] = l;
    }
    strlist_clear(&ifaces);
    free(host);
    return rc;
}

/* master.cf fields are separated by white space; "{ text }" is one field,
 * its braces and the white space inside them at either end removed
 * (master(5), Postfix 3.0 and later). */
static int relay_master_fields(const char *text, struct strlist *f,
                               const char *where, char *err, size_t errlen)
{
    const char *p = text;

    while (*p != '\0') {
        const char *start;
        char *field;
        int depth = 1;
        if (str_isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (*p != '{') {
            start = p;
            while (*p != '\0' && !str_isspace((unsigned char)*p))
                p++;
            field = xstrndup(start, (size_t)(p - start));
            strlist_push(f, field);
            free(field);
            continue;
        }
        start = ++p;
        for (; *p != '\0'; p++) {
            depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
            if (depth == 0)
                break;
        }
        if (*p != '}') {
            snprintf(err, errlen, "%s: missing '}' after \"{%.40s\"", where,
                     start);
            return -1;
        }
        field = xstrndup(start, (size_t)(p - start));
        strlist_push(f, str_trim(field));
        free(field);
        p++;
    }
    return 0;
}

struct relay_master_loader {
    struct relay *r;
    const char *path;
    char *err;
    size_t errlen;
    struct strlist overrides; /* where, name, value: for the unused check */
};

/* The daemon arguments of an smtpd service: "-o name=value" and
 * "-o { name = value }" override main.cf for this service only (the value
 * may use $name, expanded as in main.cf). Other options are Postfix's
 * (-v, -D) and change nothing here. */
static int relay_service_overrides(struct relay_master_loader *l,
                                   struct config *cf, const struct strlist *f,
                                   const char *where)
{
    for (size_t k = 8; k < f->n; k++) {
        const char *ov, *eq;
        char *name, *value;
        if (strcmp(f->v[k], "-o") == 0 && k + 1 < f->n)
            ov = f->v[++k];
        else if (strncmp(f->v[k], "-o", 2) == 0 && f->v[k][2] != '\0')
            ov = f->v[k] + 2;
        else
            continue;
        eq = strchr(ov, '=');
        name = eq ? xstrndup(ov, (size_t)(eq - ov)) : NULL;
        if (name == NULL || *str_trim(name) == '\0') {
            snprintf(l->err, l->errlen,
                     "%s: -o \"%s\": expected name=value or { name = value }",
                     where, ov);
            free(name);
            return -1;
        }
        value = xstrdup(eq + 1);
        config_set_at(cf, str_trim(name), str_trim(value), where);
        strlist_push(&l->overrides, where);
        strlist_push(&l->overrides, str_trim(name));
        strlist_push(&l->overrides, str_trim(value));
        free(name);
        free(value);
    }
    return 0;
}

/* One logical master.cf line: "service type private unpriv chroot wakeup
 * maxproc command args". Inet services running smtpd become services
 * with their own parameters and listeners; unix services running smtp
 * or lmtp become transports (filter.c); the others are Postfix's own
 * daemons, which the relay has built in. */
static int relay_master_entry(struct relay_master_loader *l, const char *text,
                              const char *where)
{
    struct relay *r = l->r;
    struct relay_service *svc = NULL;
    struct strlist f;
    int rc = 0;

    strlist_init(&f);
    if (relay_master_fields(text, &f, where, l->err, l->errlen) < 0) {
        rc = -1;
    } else if (f.n < 8) {
        snprintf(l->err, l->errlen,
                 "%s: expected 8 or more fields (service type private "
                 "unpriv chroot wakeup maxproc command)",
                 where);
        rc = -1;
    } else if (strcmp(f.v[1], "inet") == 0 && strcmp(f.v[7], "smtpd") == 0) {
        svc = xcalloc(1, sizeof(*svc));
        svc->refs = 1; /* ours, until the listeners hold it */
        svc->name = xstrdup(f.v[0]);
        svc->cf = config_copy(r->cf);
        relay_init_params(&svc->p);
        relay_init_params(&svc->stress_p);
        rc = relay_service_overrides(l, svc->cf, &f, where);
        if (rc == 0)
            rc = relay_load_params(r, svc->cf, &svc->p, l->err, l->errlen);
        if (rc == 0)
            rc = master_service_init(r, svc, f.v[6], where, l->err, l->errlen);
        if (rc == 0)
            rc = relay_service_addrs(r, svc, where, l->err, l->errlen);
        relay_service_release(svc);
    } else if (strcmp(f.v[1], "unix") == 0 &&
               (strcmp(f.v[7], "smtp") == 0 || strcmp(f.v[7], "lmtp") == 0)) {
        /* A delivery service (smtp-amavis, relay, lmtp): a transport
         * name that qmgr reaches, with its own parameters. */
        struct config *cf = config_copy(r->cf);
        rc = relay_service_overrides(l, cf, &f, where);
        if (rc == 0)
            rc = filter_transport_add(r, f.v[0], f.v[7], f.v[6], cf, where,
                                      l->err, l->errlen);
        else
            config_free(cf);
    }
    strlist_clear(&f);
    return rc;
}

static int relay_master_one(void *arg, char *line, int lineno)
{
    struct relay_master_loader *l = arg;
    char where[600];

    snprintf(where, sizeof(where), "%s:%d", l->path, lineno);
    return relay_master_entry(l, line, where);
}

/* master.cf, in Postfix's logical lines ('#' comments, continuation lines
 * start with white space). */
static int relay_load_master(struct relay_master_loader *l)
{
    struct relay *r = l->r;
    char *text = NULL;
    int orphan = 0, rc = 0;

    if (fs_read_file(l->path, &text, NULL) < 0) {
        snprintf(l->err, l->errlen, "%s: %s", l->path, strerror(errno));
        rc = -1;
    } else {
        rc = str_logical_lines(text, relay_master_one, l, &orphan);
        if (rc == -2)
            snprintf(l->err, l->errlen,
                     "%s:%d: continuation line without a service before it",
                     l->path, orphan);
        if (rc == 0 && r->nlisteners == 0) {
            snprintf(l->err, l->errlen, "%s: no inet smtpd service", l->path);
            rc = -1;
        }
    }
    free(text);
    return rc == 0 ? 0 : -1;
}

struct relay *relay_new(struct event_base *base, const char *config_dir,
                        char *err, size_t errlen)
{
    struct relay *r = xcalloc(1, sizeof(*r));
    char *main_cf = xasprintf("%s/main.cf", config_dir);
    struct relay_master_loader l = {r, NULL, err, errlen, {0}};
    char cerr[512];
    int rc;

    r->base = base;
    /* Absolute, so that tables opened later (access maps at RCPT time)
     * do not depend on the working directory. */
    r->config_dir = realpath(config_dir, NULL);
    if (r->config_dir == NULL)
        r->config_dir = xstrdup(config_dir);
    r->cf = config_new();
    r->anvil = anvil_new();
    r->queue_dirfd = -1;
    r->pid_fd = -1;
    relay_init_params(&r->p);
    strlist_init(&r->passwd_tables);
    strlist_push(&r->passwd_tables, "unix:passwd.byname");
    strlist_init(&r->param_warnings);
    strlist_init(&l.overrides);
    relay_params_defaults(r->cf);
    sasl_set_defaults(r->cf);
    policy_client_set_defaults(r->cf);
    config_set_default(r->cf, "config_directory", config_dir);
    relay_hostname_defaults(r->cf);
    if (config_load(r->cf, main_cf, cerr, sizeof(cerr)) < 0) {
        snprintf(err, errlen, "%s", cerr);
        goto fail;
    }
    relay_compat_defaults(r->cf);
    /* A recursive or exploding $name is refused before anything reads
     * a parameter, with the file:line that set it. */
    if (config_check(r->cf, cerr, sizeof(cerr)) < 0) {
        snprintf(err, errlen, "%s", cerr);
        goto fail;
    }
    l.path = xasprintf("%s/master.cf", config_dir);
    rc = relay_load_master(&l);
    struct strlist services;
    strlist_init(&services);
    for (const struct relay_transport *t = r->transports; t != NULL;
         t = t->next)
        strlist_push(&services, t->name);
    relay_params_warn(r->cf, &l.overrides, &services, &r->param_warnings);
    strlist_clear(&services);
    if (rc < 0 || relay_load_params(r, r->cf, &r->p, err, errlen) < 0 ||
        relay_open_maps(r, "virtual_alias_maps", &r->virtual_alias_maps, err,
                        errlen) < 0 ||
        relay_open_maps(r, "transport_maps", &r->transport_maps, err, errlen) <
            0)
        goto fail;
    free((char *)l.path);
    strlist_clear(&l.overrides);
    free(main_cf);
    return r;
fail:
    free((char *)l.path);
    strlist_clear(&l.overrides);
    free(main_cf);
    relay_free(r);
    return NULL;
}

static void relay_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                            struct sockaddr *sa, int salen, void *arg)
{
    struct relay_listener *l = arg;
    struct netaddr peer;

    (void)lev;
    netaddr_from_sa(&peer, sa, (socklen_t)salen);
    master_accept_ok(l->r);
    smtpd_accept(l->r, l->svc, fd, &peer);
}

static int relay_listen(struct relay_listener *l, char *err, size_t errlen)
{
    char a[80];
    int fd = netaddr_listen_tcp(&l->addr, 128);

    if (fd < 0) {
        snprintf(err, errlen, "listen on %s: %s",
                 netaddr_str(&l->addr, a, sizeof(a)), strerror(errno));
        return -1;
    }
    l->lev = evconnlistener_new(l->r->base, relay_on_accept, l,
                                LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (l->lev == NULL) {
        close(fd);
        snprintf(err, errlen, "listen on %s: libevent failure",
                 netaddr_str(&l->addr, a, sizeof(a)));
        return -1;
    }
    evconnlistener_set_error_cb(l->lev, master_accept_error);
    return 0;
}

/* The parameter warnings of the configuration read last, in the mail log
 * too (as Postfix's daemons log theirs): at start and at each reload. */
static void relay_log_param_warnings(struct relay *r)
{
    for (size_t i = 0; i < r->param_warnings.n; i++)
        maillog_printf(r->log, "master", "warning: %s", r->param_warnings.v[i]);
}

int relay_start(struct relay *r, char *err, size_t errlen)
{
    static const char *dirs[] = {"incoming", "active",  "deferred",
                                 "hold",     "corrupt", "public"};
    char derr[256];

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *d = xasprintf("%s/%s", r->p.queue_directory, dirs[i]);
        int rc = fs_mkdir_p(d, 0700);
        if (rc < 0)
            snprintf(err, errlen, "queue_directory %s: %s", d, strerror(errno));
        free(d);
        if (rc < 0)
            return -1;
    }
    /* Absolute from here on: mxlab-relay works from queue_directory. */
    char *absq = realpath(r->p.queue_directory, NULL);
    if (absq != NULL) {
        free(r->p.queue_directory);
        r->p.queue_directory = absq;
    }
    r->log = maillog_open(r->p.maillog_file[0] ? r->p.maillog_file : NULL,
                          r->p.myhostname, config_get(r->cf, "syslog_name"));
    if (r->log == NULL) {
        snprintf(err, errlen, "maillog_file %s: %s", r->p.maillog_file,
                 strerror(errno));
        return -1;
    }
    relay_tls_init(r);
    if (queue_open(r) < 0) {
        snprintf(err, errlen, "queue_directory %s: %s", r->p.queue_directory,
                 strerror(errno));
        return -1;
    }
    r->dns = dns_new(r->base,
                     r->p.mxlab_dns_servers[0] ? r->p.mxlab_dns_servers : NULL,
                     derr, sizeof(derr));
    if (r->dns == NULL) {
        const char *where = config_where(r->cf, "mxlab_dns_servers");
        snprintf(err, errlen, "%s%s%s", where ? where : "", where ? ": " : "",
                 derr);
        return -1;
    }
    qmgr_init(r);
    if (queue_recover(r, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < r->nlisteners; i++)
        if (relay_listen(r->listeners[i], err, errlen) < 0)
            return -1;
    maillog_printf(r->log, "master",
                   "daemon started -- version %s, "
                   "configuration %s",
                   MXLAB_VERSION, r->config_dir);
    relay_log_param_warnings(r);
    qmgr_schedule(r);
    return 0;
}

#define RELAY_SWAP(type, a, b)                                                 \
    do {                                                                       \
        type t_ = (a);                                                         \
        (a) = (b);                                                             \
        (b) = t_;                                                              \
    } while (0)

/* Read the configuration and tables again; master logs the reload
 * (postfix reload) or not (a daemon that restarts because one of its
 * tables changed logs nothing of it). */
static int relay_reread(struct relay *r, int logged, char *err, size_t errlen)
{
    struct relay *n = relay_new(r->base, r->config_dir, err, errlen);

    if (n == NULL) {
        maillog_printf(r->log, "master",
                       "warning: reload failed, configuration unchanged: %s",
                       err);
        return -1;
    }
    /* Listeners: an address that stays keeps its socket (no connection
     * is refused meanwhile) and serves the new service; a new one is
     * bound; those left in n close when n is freed. */
    for (size_t i = 0; i < n->nlisteners; i++) {
        struct relay_listener *nl = n->listeners[i];
        nl->r = r;
        for (size_t k = 0; k < r->nlisteners && nl->lev == NULL; k++) {
            struct relay_listener *ol = r->listeners[k];
            if (ol->lev != NULL && netaddr_equal(&ol->addr, &nl->addr)) {
                nl->lev = ol->lev;
                ol->lev = NULL;
                evconnlistener_set_cb(nl->lev, relay_on_accept, nl);
            }
        }
        if (nl->lev == NULL && relay_listen(nl, err, errlen) < 0)
            maillog_printf(r->log, "master", "warning: %s", err);
    }
    for (size_t i = 0; i < r->nlisteners; i++)
        r->listeners[i]->r = n;
    RELAY_SWAP(struct relay_listener **, r->listeners, n->listeners);
    RELAY_SWAP(size_t, r->nlisteners, n->nlisteners);
    /* Parameters, maps and tables; what was opened at start (queue, log,
     * DNS servers) stays as it is, as with Postfix's master, which must be
     * stopped and started for queue_directory. */
    RELAY_SWAP(struct config *, r->cf, n->cf);
    RELAY_SWAP(struct relay_params, r->p, n->p);
    RELAY_SWAP(char *, r->p.queue_directory, n->p.queue_directory);
    RELAY_SWAP(char *, r->p.maillog_file, n->p.maillog_file);
    RELAY_SWAP(char *, r->p.mxlab_dns_servers, n->p.mxlab_dns_servers);
    RELAY_SWAP(struct maplist *, r->virtual_alias_maps, n->virtual_alias_maps);
    RELAY_SWAP(struct maplist *, r->transport_maps, n->transport_maps);
    RELAY_SWAP(struct relay_transport *, r->transports, n->transports);
    RELAY_SWAP(struct table_set, r->tables, n->tables);
    RELAY_SWAP(struct strlist, r->param_warnings, n->param_warnings);
    relay_free(n);
    /* New sessions get the certificate as it is now (sessions under TLS
     * keep a reference to the old one). */
    relay_tls_free(r);
    relay_tls_init(r);
    if (logged) {
        maillog_printf(r->log, "master",
                       "reload -- version %s, configuration %s", MXLAB_VERSION,
                       r->config_dir);
        relay_log_param_warnings(r);
    }
    qmgr_schedule(r);
    return 0;
}

int relay_reload(struct relay *r, char *err, size_t errlen)
{
    return relay_reread(r, 1, err, errlen);
}

int relay_tables_changed(struct relay *r, char *err, size_t errlen)
{
    return relay_reread(r, 0, err, errlen);
}

void relay_free(struct relay *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nlisteners; i++) {
        struct relay_listener *l = r->listeners[i];
        if (l->lev != NULL)
            evconnlistener_free(l->lev);
        relay_service_release(l->svc);
        free(l);
    }
    free(r->listeners);
    r->listeners = NULL;
    r->nlisteners = 0; /* sessions ending below update no listener */
    control_stop(r);
    smtpd_free_all(r);
    policy_pool_free(r->policy_pool);
    master_free(r);
    anvil_free(r->anvil);
    relay_tls_free(r);
    queue_close(r);
    qmgr_free(r);
    queue_free_all(r);
    dns_free(r->dns);
    smtpd_lookups_free(r);
    policy_free_all(r);
    maillog_free(r->log);
    maplist_free(r->virtual_alias_maps);
    table_set_clear(&r->tables);
    strlist_clear(&r->passwd_tables);
    strlist_clear(&r->param_warnings);
    maplist_free(r->transport_maps);
    filter_transport_free_all(r);
    relay_free_params(&r->p);
    config_free(r->cf);
    if (r->pid_fd >= 0)
        close(r->pid_fd);
    free(r->config_dir);
    free(r);
}
