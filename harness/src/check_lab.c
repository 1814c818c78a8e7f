/*
 * check_lab.c — "mxlab check [--sut relay|postfix] SCENARIO": the
 * scenario's lab (its main.cf, maps, fakedns and fake MX hosts) is built
 * and its SUT started; the batteries then run from a client outside
 * mynetworks, and the open-relay battery again from inside (reported: a
 * trusted client may relay). What reaches a fake MX for the outside
 * domain is counted, so a relay is shown by what left, not only by
 * replies. The lab module owns the SUT; this file only drives it.
 */
#include "fakedns/fakedns.h"
#include "harness/lab.h"

#include "check_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mxlab/clock.h"
#include "mxlab/config.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "smtpcli.h"

/* Client addresses tried for "outside mynetworks", in order. */
static const char *const check_lab_outside_ips[] = {
    "127.1.2.3", "127.254.1.1", "127.0.0.254", "127.200.0.1"};

struct check_lab {
    struct lab *lab;
    struct event_base *base;
    const char *outside;
    long left; /* messages that reached a fake MX for the outside domain */
    struct strbuf *data; /* their contents, as received, [0..left) */
    int timeout_ms;
};

/* A delivery at a fake MX: does it carry a recipient in the outside
 * domain (any case, trailing dot or not)? */
static void check_lab_on_delivery(void *arg, const struct fakemx_message *m)
{
    struct check_lab *cl = arg;
    size_t on = strlen(cl->outside);

    for (size_t i = 0; i < m->nrcpt; i++) {
        const char *at = strrchr(m->rcpts[i], '@');
        if (at != NULL && str_ncasecmp(at + 1, cl->outside, on) == 0 &&
            (at[1 + on] == '\0' || (at[1 + on] == '.' && at[2 + on] == 0))) {
            cl->data =
                xrealloc(cl->data, (size_t)(cl->left + 1) * sizeof(*cl->data));
            strbuf_init(&cl->data[cl->left]);
            strbuf_append(&cl->data[cl->left], m->data, m->data_len);
            cl->left++;
            return;
        }
    }
}

static void check_lab_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* The outside deliveries so far, once the SUT has nothing left to do (a
 * bounded wait, the loop turning at least every 50 ms). */
static long check_lab_left(void *arg)
{
    struct check_lab *cl = arg;
    struct event *tick = evtimer_new(cl->base, check_lab_tick, NULL);
    struct timeval tv = {0, 50 * 1000};

    for (long long end = clock_mono_ms() + cl->timeout_ms;
         !lab_idle(cl->lab) && clock_mono_ms() < end;) {
        evtimer_add(tick, &tv);
        event_base_loop(cl->base, EVLOOP_ONCE);
    }
    event_free(tick);
    return cl->left;
}

static int check_lab_passed(void *arg, long since, const void *pat, size_t len)
{
    struct check_lab *cl = arg;

    for (long i = since; i < cl->left; i++)
        if (cl->data[i].len >= len &&
            memmem(cl->data[i].buf, cl->data[i].len, pat, len) != NULL)
            return 1;
    return 0;
}

/* The first domain of the first of these parameters that names one (a
 * map or a "$" reference that expands to nothing is passed over), or
 * myhostname. Caller frees. */
static char *check_lab_domain(struct config *cf)
{
    static const char *const params[] = {"relay_domains", "mydestination",
                                         "virtual_mailbox_domains",
                                         "virtual_alias_domains", "myhostname"};

    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        const char *v = config_get(cf, params[i]);
        struct strlist w;
        char *found = NULL;
        strlist_init(&w);
        strlist_split(&w, v ? v : "");
        for (size_t k = 0; k < w.n && found == NULL; k++) {
            const char *d = w.v[k][0] == '@' ? w.v[k] + 1 : w.v[k];
            if (*d && strchr(d, ':') == NULL && strchr(d, '/') == NULL &&
                strchr(d, '.') != NULL)
                found = xstrdup(d);
        }
        strlist_clear(&w);
        if (found)
            return found;
    }
    return xstrdup("localhost");
}

/* smtpd_tls_security_level as check_target's tls_level (Postfix's
 * obsolete smtpd_use_tls and smtpd_enforce_tls when it is not set). */
static int check_lab_tls_level(struct config *cf)
{
    const char *lvl = config_is_set(cf, "smtpd_tls_security_level")
                          ? config_get(cf, "smtpd_tls_security_level")
                          : NULL;

    if (lvl == NULL || *lvl == '\0') {
        if (config_is_set(cf, "smtpd_enforce_tls") &&
            config_get_bool(cf, "smtpd_enforce_tls") > 0)
            return 2;
        return config_is_set(cf, "smtpd_use_tls") &&
                       config_get_bool(cf, "smtpd_use_tls") > 0
                   ? 1
                   : 0;
    }
    return str_casecmp(lvl, "encrypt") == 0 ? 2
           : str_casecmp(lvl, "may") == 0   ? 1
                                            : 0;
}

/* 1 if ip falls in the configuration's mynetworks (Postfix's default
 * "host" style when unset: this host's 127.0.0.1). */
static int check_lab_trusted(struct config *cf, const struct netaddr *ip)
{
    const char *v = config_is_set(cf, "mynetworks")
                        ? config_get(cf, "mynetworks")
                        : "127.0.0.1/32";
    struct strlist w;
    int in = 0;

    strlist_init(&w);
    strlist_split(&w, v ? v : "");
    for (size_t i = 0; i < w.n && !in; i++) {
        struct cidr c;
        if (cidr_parse(w.v[i], &c) == 0)
            in = cidr_match(&c, ip);
    }
    strlist_clear(&w);
    return in;
}

/* 1 if the server turns the client at t->src away outright: a 5xx to
 * its greeting, EHLO, or a plain MAIL FROM and RCPT TO postmaster (the
 * scenario lists it in a DNSBL, say). Such a client tests nothing but
 * that block, so another address is tried. */
static int check_lab_blocked(struct check_target *t)
{
    static const char *const cmds[] = {"MAIL FROM:<" CHECK_SENDER ">",
                                       "RCPT TO:<postmaster@{L}>"};
    struct check_result probe = {0};
    struct check_conn *c = check_session_begin(t, &probe, NULL);
    int blocked = c == NULL;

    for (size_t i = 0; c != NULL && !blocked && i < 2; i++) {
        struct check_reply rep = {-1, NULL};
        struct strbuf cmd;
        strbuf_init(&cmd);
        check_expand(t, cmds[i], &cmd);
        blocked = check_conn_cmd(c, cmd.buf, &rep) < 0 ||
                  check_reply_class(&rep) == 5;
        check_reply_clear(&rep);
        strbuf_clear(&cmd);
    }
    check_session_end(c, &probe);
    free(probe.reason);
    free(probe.reply);
    free(probe.transcript);
    return blocked;
}

/* A client address outside (trusted = 0) or inside (1) mynetworks into
 * *out; -1 if none of the candidates is. */
static int check_lab_pick(struct check_lab *cl, struct config *cf, int trusted,
                          struct check_target *t)
{
    const char *inside[] = {"127.0.0.1", NULL};
    const char *const *cand = trusted ? inside : check_lab_outside_ips;
    size_t n = trusted ? 1
                       : sizeof(check_lab_outside_ips) /
                             sizeof(check_lab_outside_ips[0]);
    char err[256];
    struct strlist w;
    struct netaddr *out = &t->src, first;
    int have_first = 0;

    for (size_t i = 0; i < n; i++) {
        if (lab_source(cl->lab, cand[i], out, err, sizeof(err)) < 0 ||
            check_lab_trusted(cf, out) != trusted)
            continue;
        if (trusted)
            return 0;
        if (!have_first) {
            first = *out;
            have_first = 1;
        }
        t->has_src = 1;
        if (!check_lab_blocked(t))
            return 0;
    }
    if (have_first) {
        /* Every outside address is blocked: the tests say so. */
        *out = first;
        return 0;
    }
    if (!trusted)
        return -1;
    /* Inside: the first address of the first IPv4 network listed. */
    strlist_init(&w);
    strlist_split(&w, config_is_set(cf, "mynetworks")
                          ? config_get(cf, "mynetworks")
                          : "");
    for (size_t i = 0; i < w.n; i++) {
        struct cidr c;
        char net[64], *slash;
        if (cidr_parse(w.v[i], &c) < 0 || c.family != AF_INET)
            continue;
        cidr_str(&c, net, sizeof(net));
        if ((slash = strchr(net, '/')) != NULL)
            *slash = '\0';
        if (lab_source(cl->lab, net, out, err, sizeof(err)) >= 0) {
            ((struct sockaddr_in *)&out->ss)->sin_addr.s_addr |= htonl(1);
            strlist_clear(&w);
            return 0;
        }
    }
    strlist_clear(&w);
    return -1;
}

/* The open-relay battery from inside mynetworks: reported, never a
 * finding (a trusted client may relay, as configured). */
static void check_lab_inside(struct check_target *t, struct check_results *rs)
{
    struct check_results in = {0};

    check_battery_relay(t, &in);
    for (size_t i = 0; i < in.n; i++) {
        struct check_result *r =
            check_results_add(rs, "relay-inside", in.v[i].name, CHECK_WANT_ANY);
        struct check_result keep = *r;
        *r = in.v[i];
        r->battery = keep.battery;
        r->want = CHECK_WANT_ANY;
        memset(&in.v[i], 0, sizeof(in.v[i]));
    }
    check_results_clear(&in);
}

/* Load the scenario, open its lab; fill t. -1 with err. */
static int check_lab_open(const struct check_opts *o, struct check_lab *cl,
                          struct check_target *t, struct scenario **s,
                          char *workdir, char *err, size_t errlen)
{
    struct sut_spec spec;
    struct lab_endpoint ep;

    if ((*s = scenario_load(o->scenario, err, errlen)) == NULL ||
        sut_spec_parse(o->sut, &spec, err, errlen) < 0 ||
        !sut_spec_usable(&spec, NULL, err, errlen))
        return -1;
    if (mkdtemp(workdir) == NULL) {
        snprintf(err, errlen, "%s: cannot make it", workdir);
        return -1;
    }
    /* A private Postfix's unprivileged processes walk through it. */
    chmod(workdir, 0755);
    cl->lab = lab_open(t->base, *s, workdir, &spec, err, errlen);
    if (cl->lab == NULL ||
        lab_endpoint(cl->lab, o->service, &ep, err, errlen) < 0)
        return -1;
    /* The check's own sender domain exists in the lab's DNS, as a real
     * sender's would: a SUT that refuses unknown sender domains
     * (reject_unknown_sender_domain) judges the tests, not the sender. */
    if (fakedns_load_zone_text(lab_fakedns(cl->lab), "mxlab check", 1,
                               CHECK_SENDER_DOMAIN ".",
                               "@ 300 IN A " CHECK_SENDER_IP "\n"
                               "@ 300 IN MX 10 @\n",
                               err, errlen) < 0)
        return -1;
    t->addr = ep.addr;
    t->tls_now = ep.tls;
    netaddr_ip(&t->addr, t->ip, sizeof(t->ip));
    cl->base = t->base;
    cl->outside = t->outside;
    cl->timeout_ms = t->timeout_ms;
    lab_on_delivery(cl->lab, check_lab_on_delivery, cl);
    t->left = check_lab_left;
    t->passed = check_lab_passed;
    t->left_arg = cl;
    return 0;
}

int check_lab_main(const struct check_opts *o)
{
    struct check_target t = {0};
    struct check_lab cl = {0};
    struct check_results rs = {0};
    struct scenario *s = NULL;
    struct config *cf = config_new();
    char err[1024], workdir[] = "/tmp/mxlab-check.XXXXXX";
    int rc = 2;

    if (o->scenario == NULL || o->source != NULL) {
        fprintf(stderr, "mxlab check: --sut %s: %s\n", o->sut,
                o->source ? "--source is for remote SUTs: the lab picks "
                            "addresses inside and outside mynetworks"
                          : "needs a SCENARIO (its configuration)");
        goto done;
    }
    t.base = event_base_new();
    t.tls = smtpcli_tls_ctx_new();
    if (check_target_init(&t, o, err, sizeof(err)) < 0 ||
        check_lab_open(o, &cl, &t, &s, workdir, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab check: %s\n", err);
        goto done;
    }
    char *maincf = xasprintf("%s/main.cf", lab_confdir(cl.lab));
    if (config_load(cf, maincf, err, sizeof(err)) < 0)
        fprintf(stderr, "mxlab check: %s (defaults assumed)\n", err);
    free(maincf);
    rc = 1;
    t.domain = o->domain ? xstrdup(o->domain) : check_lab_domain(cf);
    t.tls_level = check_lab_tls_level(cf);
    /* Every loopback address may be trusted (mynetworks = 127.0.0.0/8):
     * then the rest runs from inside and open-relay cannot be judged. */
    int outside = check_lab_pick(&cl, cf, 0, &t) == 0;
    if (!outside && check_lab_pick(&cl, cf, 1, &t) < 0) {
        fprintf(stderr,
                "mxlab check: %s: no loopback address to test "
                "from\n",
                o->scenario);
        goto done;
    }
    t.has_src = 1;
    if (check_probe(&t, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab check: %s: %s\n", lab_sut_name(cl.lab), err);
        goto done;
    }
    if (o->from == NULL)
        check_pick_sender(&t);
    char from[64];
    netaddr_ip(&t.src, from, sizeof(from));
    printf("mxlab check %s on %s (%s), from %s, local domain %s, outside "
           "domain %s, sender %s\n",
           o->scenario, lab_sut_name(cl.lab), t.ip, from, t.domain, t.outside,
           t.sender);
    unsigned mask = o->batteries;
    /* From inside mynetworks, smuggling is what a trusted client may do
     * (smtpd_forbid_bare_newline_exclusions): no outside sender to test
     * as, so not a finding either way. */
    if (!outside && (mask & CHECK_BATTERY_SMUGGLING)) {
        struct check_result *r = check_results_add(
            &rs, "smuggling", "outside-client", CHECK_WANT_REFUSED);
        r->sent = xstrdup("(no session)");
        check_result_set(r, CHECK_NA, NULL,
                         "every loopback address the lab can use is in "
                         "mynetworks (%s): no untrusted client to smuggle "
                         "from",
                         config_get(cf, "mynetworks"));
        mask &= ~CHECK_BATTERY_SMUGGLING;
    }
    if (!outside && (mask & CHECK_BATTERY_RELAY)) {
        struct check_result *r = check_results_add(
            &rs, "open-relay", "outside-client", CHECK_WANT_REFUSED);
        r->sent = xstrdup("(no session)");
        check_result_set(r, CHECK_NA, NULL,
                         "every loopback address the lab can use is in "
                         "mynetworks (%s): no client outside it",
                         config_get(cf, "mynetworks"));
        mask &= ~CHECK_BATTERY_RELAY;
    }
    check_run_batteries(&t, mask, &rs);
    if ((o->batteries & (CHECK_BATTERY_RELAY | CHECK_BATTERY_SMUGGLING)) &&
        check_lab_pick(&cl, cf, 1, &t) == 0) {
        if (o->batteries & CHECK_BATTERY_RELAY)
            check_lab_inside(&t, &rs);
        if (o->batteries & CHECK_BATTERY_SMUGGLING)
            check_battery_smuggling_outbound(&t, &rs);
    }
    rc = check_finish(o, &rs);
done:
    check_results_clear(&rs);
    lab_close(cl.lab);
    for (long i = 0; i < cl.left; i++)
        strbuf_clear(&cl.data[i]);
    free(cl.data);
    /* mkdtemp replaced the X's once the directory exists. */
    if (strcmp(workdir + sizeof(workdir) - 7, "XXXXXX") != 0)
        fs_rm_rf(workdir);
    scenario_free(s);
    config_free(cf);
    check_target_clear(&t);
    return rc;
}
