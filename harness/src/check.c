/*
 * check.c — "mxlab check": is this server safe to put on the Internet?
 * Runs the batteries (open-relay, smuggling, starttls, rfc5321) against
 * one target, prints the verdict table, writes results.json and JUnit,
 * and exits 1 when any test found a weakness, 0 when none, 2 on usage
 * errors. The verdicts come from reply classes (RFC 5321 section 4.2.1)
 * and from what arrived, never from a product's wording.
 */
#include "harness/check.h"
#include "harness/run.h"

#include "check_int.h"

#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpcli.h"

#include "mxlab/clock.h"
#include "mxlab/strutil.h"

#define CHECK_OUTSIDE "outside.example"
#define CHECK_TIMEOUT_MS 10000

static const struct check_battery {
    const char *name;
    check_battery_fn *run;
} check_batteries[] = {
    {"open-relay", check_battery_relay},
    {"smuggling", check_battery_smuggling},
    {"starttls", check_battery_starttls},
    {"rfc5321", check_battery_rfc5321},
};
#define CHECK_NBATTERIES (sizeof(check_batteries) / sizeof(check_batteries[0]))

const char *check_strverdict(enum check_verdict v)
{
    static const char *const names[] = {"refused", "accepted", "split",
                                        "not applicable"};
    return v <= CHECK_NA ? names[v] : "?";
}

int check_result_weak(const struct check_result *r)
{
    switch (r->want) {
    case CHECK_WANT_REFUSED:
        return r->verdict == CHECK_ACCEPTED || r->verdict == CHECK_SPLIT;
    case CHECK_WANT_ACCEPTED:
        return r->verdict == CHECK_REFUSED;
    case CHECK_WANT_NOT_SPLIT:
        return r->verdict == CHECK_SPLIT;
    case CHECK_WANT_ANY:
        return 0;
    }
    return 0;
}

struct check_result *check_results_add(struct check_results *rs,
                                       const char *battery, const char *name,
                                       enum check_want want)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 32;
        rs->v = xrealloc(rs->v, rs->cap * sizeof(*rs->v));
    }
    struct check_result *r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    r->battery = battery;
    r->name = name;
    r->want = want;
    r->verdict = CHECK_NA;
    return r;
}

void check_results_clear(struct check_results *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].sent);
        free(rs->v[i].reason);
        free(rs->v[i].reply);
        free(rs->v[i].transcript);
    }
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}

void check_result_set(struct check_result *r, enum check_verdict v,
                      const struct check_reply *decisive, const char *fmt, ...)
{
    struct strbuf sb;
    va_list ap;

    r->verdict = v;
    strbuf_init(&sb);
    va_start(ap, fmt);
    strbuf_vprintf(&sb, fmt, ap);
    va_end(ap);
    free(r->reason);
    r->reason = sb.buf ? sb.buf : xstrdup("");
    if (decisive != NULL && decisive->text != NULL) {
        const char *nl = strchr(decisive->text, '\n');
        free(r->reply);
        r->reply = nl ? xstrndup(decisive->text, (size_t)(nl - decisive->text))
                      : xstrdup(decisive->text);
    }
}

char *check_domain_dot(const char *d)
{
    return xasprintf("%s.", d);
}

char *check_domain_upper(const char *d)
{
    char *u = xstrdup(d);
    for (char *p = u; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    return u;
}

static void check_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: mxlab check [--sut relay|postfix|smtp://HOST[:PORT]|"
        "smtps://HOST[:PORT]]\n"
        "                   [--battery open-relay,smuggling,starttls,rfc5321]\n"
        "                   [--domain LOCAL-DOMAIN] [--from ADDR]\n"
        "                   [--source IP] [--timeout SECONDS] [--report DIR]\n"
        "                   [--service NAME] [SCENARIO]\n"
        "\n"
        "Is this server safe to put on the Internet? Runs test batteries\n"
        "against it, prints one line per test (battery, test, what was\n"
        "sent, verdict, the decisive reply) and writes DIR/results.json and\n"
        "DIR/junit.xml (one testcase per test, transcript on failure).\n"
        "\n"
        "Verdicts, judged by reply class and by what arrived, never by a\n"
        "product's wording:\n"
        "  refused         the server said no (4xx or 5xx), or ended the\n"
        "                  session, at the step that decides\n"
        "  accepted        the server said yes (2xx, 3xx to DATA) all along\n"
        "  split           smuggling: the server ended a message at a\n"
        "                  non-standard end-of-data sequence and ran what\n"
        "                  followed as commands\n"
        "  not applicable  the test cannot be judged here, with the reason\n"
        "                  (an extension not offered, an earlier step\n"
        "                  refused)\n"
        "A test whose verdict is not what a server safe on the Internet\n"
        "gives is a finding (WEAK in the table).\n"
        "\n"
        "Batteries:\n"
        "  open-relay  nmap's 16 smtp-open-relay combinations and the\n"
        "              address tricks relays get wrong (%%-hack, bang paths,\n"
        "              source routes, quoted local parts, double @, IP\n"
        "              literals, case and trailing-dot variants of the local\n"
        "              domain, null, empty and spoofed local senders): each\n"
        "              refused at RCPT, or accepted only if the message is\n"
        "              accepted through DATA. Control: mail for the local\n"
        "              domain is accepted (never a finding).\n"
        "  smuggling   SMTP smuggling (SEC Consult, 2023): a message hides a\n"
        "              second complete transaction behind one of 16\n"
        "              non-standard end-of-data sequences (\\n.\\n, "
        "\\n.\\r\\n,\n"
        "              \\r.\\r, \\r\\n.\\r, \\r.\\r\\n, \\r\\n.\\n, "
        "\\r\\n\\x00.\\r\\n,\n"
        "              \\r\\r\\n.\\r\\r\\n, ...). A server that answers the "
        "hidden\n"
        "              transaction split the message (finding); refusing\n"
        "              the message or accepting it as one is safe.\n"
        "  starttls    STARTTLS offered (reported), command injection after\n"
        "              STARTTLS (CVE-2011-0411: commands pipelined with\n"
        "              STARTTLS must be discarded), the certificate\n"
        "              (subject, issuer, expiry, protocol, cipher), and\n"
        "              AUTH PLAIN/LOGIN offered before TLS (finding).\n"
        "  rfc5321     greeting, EHLO and HELO, extensions in any order,\n"
        "              VRFY and EXPN policy (reported), RSET, NOOP, unknown\n"
        "              command and syntax errors refused, 512-octet command\n"
        "              and 1000-octet text lines accepted (section 4.5.3.1),\n"
        "              MAIL FROM:<>, postmaster (section 4.5.1), pipelining\n"
        "              (RFC 2920) answered in order, QUIT.\n"
        "\n"
        "With a lab SUT (--sut relay or postfix and a SCENARIO giving its\n"
        "configuration: mxlab check scenarios/seeds/000-ovh-relay.scn)\n"
        "the batteries run from a loopback address outside mynetworks;\n"
        "what reaches the scenario's fake MX hosts for the outside domain\n"
        "is counted (a %%-hack or bang address accepted for the local\n"
        "domain that leaves nothing is refused). Then, from inside:\n"
        "  relay-inside   open-relay again (reported, never a finding: a\n"
        "                 trusted client may relay)\n"
        "  smuggling-out  each sequence sent through the SUT to the\n"
        "                 outside domain: passing a bare CR or LF on to\n"
        "                 the next hop is a finding (a lenient receiver\n"
        "                 ends DATA there); a split the SUT made itself\n"
        "                 for the trusted client is reported\n"
        "With --sut smtp:// these are not applicable (the server is judged\n"
        "by its replies alone).\n"
        "\n");
    fprintf(
        fp,
        "Options:\n"
        "  --sut smtp://HOST[:PORT]   the server as it is (port 25; smtps://\n"
        "                             speaks TLS from the first byte, port\n"
        "                             465). relay and postfix build a\n"
        "                             scenario's world (needs SCENARIO).\n"
        "  --battery LIST             batteries to run (default: all)\n"
        "  --domain D                 a domain the server receives mail for\n"
        "                             (default: the name in its greeting)\n"
        "  --from ADDR                envelope sender for the tests that\n"
        "                             need one (default: the first of\n"
        "                             " CHECK_SENDER ", postmaster@D,\n"
        "                             mxlab-check@D that the server takes)\n"
        "  --source IP                start sessions from this local\n"
        "                             address (remote SUTs; default: the\n"
        "                             host's own address for the route)\n"
        "  --service NAME             relay and postfix: check the scenario's\n"
        "                             [master.cf] inet service NAME\n"
        "                             (submission, smtps...) instead of\n"
        "                             the main smtpd on port 25\n"
        "  --timeout SECONDS          wait for each reply (default 10)\n"
        "  --report DIR               where results.json and junit.xml go\n"
        "                             (default reports/check)\n"
        "\n"
        "Exit: 0 no weakness found, 1 a weakness found or the server could\n"
        "not be reached, 2 usage error.\n");
}

/* smtp://HOST[:PORT] or smtps://HOST[:PORT] into t. -1 with err. */
static int check_parse_url(const char *url, struct check_target *t, char *err,
                           size_t errlen)
{
    const char *hp = str_casestart(url, "smtp://");
    long port = 25;
    char host[256];
    const char *end, *colon;

    if (hp == NULL && (hp = str_casestart(url, "smtps://")) != NULL) {
        t->tls_now = 1;
        port = 465;
    }
    if (hp == NULL)
        goto bad;
    if (*hp == '[') {
        hp++;
        end = strchr(hp, ']');
        colon = end && end[1] == ':' ? end + 1 : NULL;
        if (end == NULL || (end[1] != '\0' && colon == NULL))
            goto bad;
    } else {
        colon = strrchr(hp, ':');
        end = colon ? colon : hp + strlen(hp);
    }
    if (end == hp || (size_t)(end - hp) >= sizeof(host) ||
        (colon &&
         (str_to_long(colon + 1, &port) < 0 || port < 1 || port > 65535)))
        goto bad;
    memcpy(host, hp, (size_t)(end - hp));
    host[end - hp] = '\0';
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    netaddr_from_sa(&t->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    netaddr_set_port(&t->addr, (int)port);
    netaddr_ip(&t->addr, t->ip, sizeof(t->ip));
    return 0;
bad:
    snprintf(err, errlen,
             "%s: expected smtp://HOST[:PORT] or "
             "smtps://HOST[:PORT]",
             url);
    return -1;
}

/* "open-relay,smuggling" into a mask over check_batteries. -1 if a name
 * is unknown. */
static int check_parse_batteries(const char *list, unsigned *mask, char *err,
                                 size_t errlen)
{
    struct strlist w;
    int rc = 0;

    strlist_init(&w);
    strlist_split(&w, list);
    *mask = 0;
    for (size_t i = 0; i < w.n && rc == 0; i++) {
        size_t b = 0;
        while (b < CHECK_NBATTERIES &&
               strcmp(w.v[i], check_batteries[b].name) != 0)
            b++;
        if (b == CHECK_NBATTERIES) {
            snprintf(err, errlen,
                     "--battery: unknown battery \"%s\" (open-relay, "
                     "smuggling, starttls, rfc5321)",
                     w.v[i]);
            rc = -1;
        } else {
            *mask |= 1u << b;
        }
    }
    strlist_clear(&w);
    return *mask == 0 && rc == 0 ? -1 : rc;
}

/* The name the server gives in its greeting ("220 NAME ..."), or NULL. */
static char *check_greeting_name(const struct check_reply *g)
{
    const char *p = g->text;

    if (g->code != 220 || strlen(p) < 5)
        return NULL;
    p += 4;
    size_t n = 0;
    while (p[n] && p[n] != ' ' && p[n] != '\n')
        n++;
    return n ? xstrndup(p, n) : NULL;
}

int check_probe(struct check_target *t, char *err, size_t errlen)
{
    struct check_reply g;
    struct check_conn *c = check_conn_open(t, &g, err, errlen);

    if (c == NULL)
        return -1;
    t->srvname = check_greeting_name(&g);
    if (t->srvname == NULL)
        t->srvname = xstrdup(t->ip);
    check_reply_clear(&g);
    check_conn_free(c);
    return 0;
}

/* Options into o; 0, 1 for --help, -1 on a usage error (said). */
static int check_parse_args(int argc, char **argv, struct check_opts *o)
{
    static const struct option longopts[] = {
        {"sut", required_argument, NULL, 's'},
        {"battery", required_argument, NULL, 'b'},
        {"domain", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"source", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 't'},
        {"report", required_argument, NULL, 'r'},
        {"service", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[256];
    int ch;

    memset(o, 0, sizeof(*o));
    o->sut = "relay";
    o->report = "reports/check";
    o->batteries = (1u << CHECK_NBATTERIES) - 1;
    o->timeout = CHECK_TIMEOUT_MS / 1000;
    optind = 1;
    opterr = 0; /* our own messages, with our name */
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->sut = optarg;
            break;
        case 'd':
            o->domain = optarg;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 'S':
            o->source = optarg;
            break;
        case 'r':
            o->report = optarg;
            break;
        case 'v':
            o->service = optarg;
            break;
        case 'b':
            if (check_parse_batteries(optarg, &o->batteries, err, sizeof(err)) <
                0) {
                fprintf(stderr, "mxlab check: %s\n",
                        *err ? err : "--battery: empty list");
                return -1;
            }
            break;
        case 't':
            if (str_to_long(optarg, &o->timeout) < 0 || o->timeout < 1 ||
                o->timeout > 600) {
                fprintf(stderr, "mxlab check: --timeout %s: 1 to 600\n",
                        optarg);
                return -1;
            }
            break;
        case 'h':
            check_usage(stdout);
            return 1;
        default:
            run_option_error("mxlab check", ch, argv, check_usage);
            return -1;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "mxlab check: one SCENARIO at most\n");
        return -1;
    }
    o->scenario = optind < argc ? argv[optind] : NULL;
    return 0;
}

int check_target_init(struct check_target *t, const struct check_opts *o,
                      char *err, size_t errlen)
{
    t->sender = xstrdup(o->from ? o->from : CHECK_SENDER);
    t->outside = xstrdup(CHECK_OUTSIDE);
    t->timeout_ms = (int)o->timeout * 1000;
    t->tls_level = -1;
    if (o->source != NULL) {
        if (netaddr_parse(o->source, 0, &t->src) < 0) {
            snprintf(err, errlen, "--source %s: not an IP address", o->source);
            return -1;
        }
        t->has_src = 1;
    }
    if (o->from && (strchr(o->from, '<') || strchr(o->from, '>') ||
                    strchr(o->from, ' '))) {
        snprintf(err, errlen, "--from %s: an address without <>", o->from);
        return -1;
    }
    return 0;
}

void check_target_clear(struct check_target *t)
{
    free(t->domain);
    free(t->outside);
    free(t->sender);
    free(t->srvname);
    if (t->tls)
        SSL_CTX_free(t->tls);
    if (t->base)
        event_base_free(t->base);
}

/* Senders tried when --from is not given: the first that the server
 * takes with postmaster@DOMAIN as recipient is used (a server that checks
 * sender domains in DNS refuses an unresolvable one). */
static const char *const check_senders[] = {CHECK_SENDER, "postmaster@{L}",
                                            "mxlab-check@{L}"};

void check_pick_sender(struct check_target *t)
{
    struct check_result probe = {0};
    struct strbuf rcpt;
    struct check_conn *c = check_session_begin(t, &probe, NULL);

    strbuf_init(&rcpt);
    check_expand(t, "RCPT TO:<postmaster@{L}>", &rcpt);
    for (size_t i = 0;
         c != NULL && i < sizeof(check_senders) / sizeof(check_senders[0]);
         i++) {
        struct check_reply a = {-1, NULL}, b = {-1, NULL};
        struct strbuf from, mail;
        strbuf_init(&from);
        strbuf_init(&mail);
        check_expand(t, check_senders[i], &from);
        strbuf_printf(&mail, "MAIL FROM:<%s>", from.buf);
        int ok = check_conn_cmd(c, mail.buf, &a) == 0 &&
                 check_reply_class(&a) == 2 &&
                 check_conn_cmd(c, rcpt.buf, &b) == 0 &&
                 check_reply_class(&b) == 2;
        check_reply_clear(&a);
        check_reply_clear(&b);
        if (check_conn_cmd(c, "RSET", &a) == 0)
            check_reply_clear(&a);
        if (ok) {
            free(t->sender);
            t->sender = xstrdup(from.buf);
        }
        strbuf_clear(&from);
        strbuf_clear(&mail);
        if (ok)
            break;
    }
    strbuf_clear(&rcpt);
    check_session_end(c, &probe);
    free(probe.reason);
    free(probe.reply);
    free(probe.transcript);
}

void check_run_batteries(struct check_target *t, unsigned mask,
                         struct check_results *rs)
{
    for (size_t b = 0; b < CHECK_NBATTERIES; b++) {
        if (!(mask & (1u << b)))
            continue;
        size_t first = rs->n;
        long long t0 = clock_mono_ms();
        check_batteries[b].run(t, rs);
        for (size_t i = first; i < rs->n; i++)
            if (rs->v[i].seconds == 0)
                rs->v[i].seconds = (double)(clock_mono_ms() - t0) / 1000.0 /
                                   (double)(rs->n - first);
    }
}

int check_finish(const struct check_opts *o, struct check_results *rs)
{
    char err[512];
    size_t weak = 0, na = 0;

    check_table_write(stdout, rs);
    for (size_t i = 0; i < rs->n; i++) {
        weak += check_result_weak(&rs->v[i]);
        na += rs->v[i].verdict == CHECK_NA;
    }
    printf("%zu test%s, %zu weakness%s, %zu not applicable\n", rs->n,
           rs->n == 1 ? "" : "s", weak, weak == 1 ? "" : "es", na);
    if (check_report_write(o->report, o->sut, rs, err, sizeof(err)) < 0)
        fprintf(stderr, "mxlab check: %s\n", err);
    check_results_clear(rs);
    return weak ? 1 : 0;
}

int check_main(int argc, char **argv)
{
    struct check_opts o;
    struct check_target t = {0};
    char err[512];
    int rc;

    if ((rc = check_parse_args(argc, argv, &o)) != 0)
        return rc > 0 ? 0 : 2;
    if (str_casestart(o.sut, "smtp://") == NULL &&
        str_casestart(o.sut, "smtps://") == NULL) {
        return check_lab_main(&o);
    }
    if (o.scenario != NULL || o.service != NULL) {
        fprintf(stderr,
                "mxlab check: %s: a scenario and its services are a lab "
                "SUT's; with --sut %s the server is taken as it is (its "
                "port in the URL)\n",
                o.scenario ? o.scenario : o.service, o.sut);
        return 2;
    }
    if (check_parse_url(o.sut, &t, err, sizeof(err)) < 0 ||
        check_target_init(&t, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab check: %s\n", err);
        check_target_clear(&t);
        return 2;
    }
    t.base = event_base_new();
    t.tls = smtpcli_tls_ctx_new();
    if (check_probe(&t, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab check: %s: %s\n", o.sut, err);
        check_target_clear(&t);
        return 1;
    }
    t.domain = xstrdup(o.domain ? o.domain : t.srvname);
    if (o.from == NULL)
        check_pick_sender(&t);
    printf("mxlab check %s (%s), local domain %s, outside domain %s, "
           "sender %s\n",
           o.sut, t.ip, t.domain, t.outside, t.sender);
    struct check_results rs = {0};
    check_run_batteries(&t, o.batteries, &rs);
    if (o.batteries & CHECK_BATTERY_SMUGGLING)
        check_battery_smuggling_outbound(&t, &rs);
    check_target_clear(&t);
    return check_finish(&o, &rs);
}
