/*
 * test_relay.c — unit tests of the relay's configuration loading, address
 * classes, virtual alias expansion (virtual(5)), next-hop resolution and
 * relay control, on the configuration of seed 000.
 */
#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxlab/clock.h"
#include "mxlab/strutil.h"

#include "anvil.h"
#include "bounce.h"
#include "filter.h"
#include "local.h"
#include "mxlab/fsutil.h"
#include "mxlab/xmem.h"
#include "policy.h"
#include "qmgr.h"
#include "queue.h"
#include "relay.h"
#include "resolve.h"
#include "rewrite.h"
#include "smtpc.h"
#include "smtpd_line.h"
#include "table.h"

static char tmpdir[64];
static struct event_base *base;

static void write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);

    ck_assert_int_eq(fs_write_atomic(path, text, strlen(text)), 0);
    free(path);
}

static const char *seed000_main_cf =
    "compatibility_level = 3.6\n"
    "myhostname = relais.hebergee.com\n"
    "mydestination = $myhostname, localhost\n"
    "mynetworks = 127.0.0.0/8\n"
    "relay_recipient_maps =\n"
    "relay_domains = mail.xxx.dyndns.com\n"
    "relayhost = [127.168.2.253]\n"
    "virtual_alias_domains = hebergee.com\n"
    "virtual_alias_maps = hash:${config_directory}/virtual\n";

static const char *seed000_virtual =
    "social@hebergee.com pomme@mail.xxx.dyndns.com, "
    "poire@mail.xxx.dyndns.com\n"
    "abuse@hebergee.com contact@ladministrateur.com\n"
    "@hebergee.com @mail.xxx.dyndns.com\n";

static struct relay *make_relay(const char *main_cf, const char *master_cf,
                                char *err, size_t errlen)
{
    write_file("main.cf", main_cf);
    write_file("master.cf", master_cf);
    write_file("virtual", seed000_virtual);
    return relay_new(base, tmpdir, err, errlen);
}

/* The queue directories, as relay_start makes them, without listening. */
static void make_queue_dirs(void)
{
    for (const char *d = "incoming\0active\0deferred\0hold\0corrupt\0"; *d;
         d += strlen(d) + 1) {
        char *p = xasprintf("%s/queue/%s", tmpdir, d);
        ck_assert_int_eq(fs_mkdir_p(p, 0700), 0);
        free(p);
    }
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mxlab-relay-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    base = event_base_new();
}

static void teardown(void)
{
    event_base_free(base);
    fs_rm_rf(tmpdir);
}

static const char *master_ok = "127.0.0.1:2525 inet n - n - - smtpd\n";

static const struct {
    const char *addr;
    const char *expansion; /* comma-joined, or "UNKNOWN" */
} virtual_cases[] = {
    {"social@hebergee.com",
     "pomme@mail.xxx.dyndns.com,poire@mail.xxx.dyndns.com"},
    {"abuse@hebergee.com", "contact@ladministrateur.com"},
    {"ladresse@hebergee.com", "ladresse@mail.xxx.dyndns.com"},
    {"LAdresse@Hebergee.COM", "LAdresse@mail.xxx.dyndns.com"},
    {"x@mail.xxx.dyndns.com", "x@mail.xxx.dyndns.com"},
    {"someone@elsewhere.example", "someone@elsewhere.example"},
};

START_TEST(test_virtual)
{
    char err[512];
    struct relay *r = make_relay(seed000_main_cf, master_ok, err, sizeof(err));
    struct strlist out;
    struct strbuf joined;

    ck_assert_msg(r != NULL, "%s", err);
    strlist_init(&out);
    strbuf_init(&joined);
    ck_assert_int_eq(rewrite_virtual(r, virtual_cases[_i].addr, &out), 0);
    for (size_t i = 0; i < out.n; i++) {
        if (i)
            strbuf_putc(&joined, ',');
        strbuf_puts(&joined, out.v[i]);
    }
    ck_assert_str_eq(joined.buf, virtual_cases[_i].expansion);
    strbuf_clear(&joined);
    strlist_clear(&out);
    relay_free(r);
}
END_TEST

static const struct {
    const char *addr, *transport, *nexthop;
    int auth;
} route_cases[] = {
    /* relayhost overrides the next hop for relay and default classes. */
    {"pomme@mail.xxx.dyndns.com", "relay", "[127.168.2.253]", 1},
    {"contact@ladministrateur.com", "smtp", "[127.168.2.253]", 0},
    {"nobody@hebergee.com", "error", "User unknown in virtual alias table", 1},
    {"root@relais.hebergee.com", "local", "relais.hebergee.com", 1},
    /* relay_domains matches subdomains (parent_domain_matches_subdomains) */
    {"a@sub.mail.xxx.dyndns.com", "relay", "[127.168.2.253]", 1},
};

START_TEST(test_route)
{
    char err[512];
    struct relay *r = make_relay(seed000_main_cf, master_ok, err, sizeof(err));
    struct rewrite_route route;

    ck_assert_msg(r != NULL, "%s", err);
    rewrite_resolve(r, route_cases[_i].addr, &route);
    ck_assert_str_eq(route.transport, route_cases[_i].transport);
    ck_assert_str_eq(route.nexthop, route_cases[_i].nexthop);
    ck_assert_int_eq(rewrite_auth_destination(r, &r->p, route_cases[_i].addr),
                     route_cases[_i].auth);
    relay_free(r);
}
END_TEST

/* The virtual mailbox class (ADDRESS_CLASS_README): after the virtual
 * alias class, before the relay class; virtual_transport with the
 * recipient domain as next hop (relayhost is for relay and default
 * only); transport_maps override it. main: lines after seed 000's. */
static const struct {
    const char *main, *addr, *transport, *nexthop;
    int cls;
} vmailbox_cases[] = {
#define VM "virtual_mailbox_domains = minet.net, hebergee.com\n"
    {VM, "a@minet.net", "virtual", "minet.net", REWRITE_CLASS_VIRTUAL},
    {VM "virtual_transport = lmtp:unix:private/dovecot-lmtp\n", "a@minet.net",
     "lmtp", "unix:private/dovecot-lmtp", REWRITE_CLASS_VIRTUAL},
    {VM "virtual_transport = lmtp\n", "a@minet.net", "lmtp", "minet.net",
     REWRITE_CLASS_VIRTUAL},
    {VM "transport_maps = inline:{minet.net=smtp:[127.0.0.9]}\n", "a@minet.net",
     "smtp", "[127.0.0.9]", REWRITE_CLASS_VIRTUAL},
    /* A virtual alias domain first; mydestination before both. */
    {VM, "nobody@hebergee.com", "error", "User unknown in virtual alias table",
     REWRITE_CLASS_ALIAS},
    {"virtual_mailbox_domains = relais.hebergee.com\n",
     "root@relais.hebergee.com", "local", "relais.hebergee.com",
     REWRITE_CLASS_LOCAL},
    /* Subdomains are not matched (no parent_domain_matches_subdomains). */
    {VM, "a@sub.minet.net", "smtp", "[127.168.2.253]", REWRITE_CLASS_DEFAULT},
    /* virtual_mailbox_domains defaults to $virtual_mailbox_maps: the
     * table's keys name the domains. */
    {"virtual_mailbox_maps = inline:{minet.net=x, a@minet.net=x}\n",
     "b@minet.net", "virtual", "minet.net", REWRITE_CLASS_VIRTUAL},
#undef VM
};

START_TEST(test_vmailbox)
{
    char err[512],
        *main_cf = xasprintf("%s%s", seed000_main_cf, vmailbox_cases[_i].main);
    struct relay *r = make_relay(main_cf, master_ok, err, sizeof(err));
    struct rewrite_route route;

    ck_assert_msg(r != NULL, "%s", err);
    rewrite_resolve(r, vmailbox_cases[_i].addr, &route);
    ck_assert_str_eq(route.transport, vmailbox_cases[_i].transport);
    ck_assert_str_eq(route.nexthop, vmailbox_cases[_i].nexthop);
    ck_assert_int_eq(rewrite_class(r, vmailbox_cases[_i].addr),
                     vmailbox_cases[_i].cls);
    ck_assert_int_eq(
        rewrite_auth_destination(r, &r->p, vmailbox_cases[_i].addr),
        vmailbox_cases[_i].cls != REWRITE_CLASS_DEFAULT);
    relay_free(r);
    free(main_cf);
}
END_TEST

/* trivial-rewrite's resolver alone: local.example and [127.0.0.1] are
 * this host's. opts: 0 Postfix's defaults; 1 allow_percent_hack,
 * swap_bangpath and resolve_dequoted_address off, resolve_null_domain
 * and resolve_numeric_domain on. Results checked against Postfix 3.7.11
 * (scenarios/relay-tests/address-tricks-*.scn). */
static int resolve_test_local(void *arg, const char *domain)
{
    (void)arg;
    return str_casecmp(domain, "local.example") == 0 ||
           str_casecmp(domain, "mx.local.example") == 0 ||
           strcmp(domain, "[127.0.0.1]") == 0;
}

static const struct {
    int opts;
    const char *in, *out;
    int local, flags;
} resolve_cases[] = {
    {0, "user@local.example", "user@local.example", 1, 0},
    {0, "user@LOCAL.EXAMPLE.", "user@LOCAL.EXAMPLE", 1, 0},
    {0, "user@local.example..", "user@local.example..", 0, RESOLVE_FLAG_ERROR},
    {0, "user", "user@mx.local.example", 1, 0},
    {0, "user@", "user@", 0, RESOLVE_FLAG_ERROR},
    {0, "user@127.0.0.1", "user@127.0.0.1", 0, RESOLVE_FLAG_ERROR},
    {0, "user@[127.0.0.1]", "user@[127.0.0.1]", 1, 0},
    {0, "user@[127.9.9.9]", "user@[127.9.9.9]", 0, 0},
    {0, "user@[300.1.2.3]", "user@[300.1.2.3]", 0, RESOLVE_FLAG_ERROR},
    {0, "user%outside.example@local.example", "user@outside.example", 0, 0},
    {0, "user%outside.example", "user@outside.example", 0, 0},
    {0, "a%b%local.example@local.example", "a@b", 0, 0},
    {0, "outside.example!user@local.example", "user@outside.example", 0, 0},
    {0, "local.example!outside.example!user", "user@outside.example", 0, 0},
    {0, "a.example!b.example!user@local.example", "b.example!user@a.example", 0,
     RESOLVE_FLAG_ROUTED},
    {0, "user@outside.example@local.example", "user@outside.example", 0, 0},
    {0, "user@local.example@outside.example",
     "user@local.example@outside.example", 0, RESOLVE_FLAG_ROUTED},
    {0, "user%relay.example@relay.example", "user%relay.example@relay.example",
     0, RESOLVE_FLAG_ROUTED},
    {0, "louen%local.example@local.example", "louen@local.example", 1, 0},
    {0, "@local.example", "MAILER-DAEMON@local.example", 1, 0},
    {1, "user%outside.example@local.example",
     "user%outside.example@local.example", 1, RESOLVE_FLAG_ROUTED},
    {1, "outside.example!user", "outside.example!user@mx.local.example", 1,
     RESOLVE_FLAG_ROUTED},
    {1, "user@outside.example@local.example",
     "user@outside.example@local.example", 1, RESOLVE_FLAG_ROUTED},
    {1, "user@", "user@mx.local.example", 1, 0},
    {1, "user@127.0.0.1", "user@[127.0.0.1]", 1, 0},
    {1, "user@127.9.9.9", "user@[127.9.9.9]", 0, 0},
};

START_TEST(test_resolve)
{
    struct resolve_opts o = {1,
                             1,
                             1,
                             0,
                             0,
                             1,
                             0,
                             "mx.local.example",
                             "mx.local.example",
                             "local.example",
                             resolve_test_local,
                             NULL};
    struct resolve_result res;

    if (resolve_cases[_i].opts == 1) {
        o.allow_percent_hack = o.swap_bangpath = 0;
        o.resolve_dequoted_address = 0;
        o.resolve_null_domain = o.resolve_numeric_domain = 1;
    }
    resolve_addr(&o, resolve_cases[_i].in, &res);
    ck_assert_str_eq(res.addr, resolve_cases[_i].out);
    ck_assert_int_eq(res.local, resolve_cases[_i].local);
    ck_assert_int_eq(res.flags, resolve_cases[_i].flags);
}
END_TEST

static const struct {
    const char *ext, *internal;
} quote_cases[] = {
    {"\"user@outside\"@local", "user@outside@local"},
    {"\"a b\"@x", "a b@x"},
    {"\"a\\\"b\"@x", "a\"b@x"},
    {"plain.user@x", "plain.user@x"},
    {"\"a..b\"@x", "a..b@x"},
};

START_TEST(test_resolve_quote)
{
    char in[256], ext[256];

    ck_assert_int_eq(resolve_internalize(quote_cases[_i].ext, in, sizeof(in)),
                     0);
    ck_assert_str_eq(in, quote_cases[_i].internal);
    ck_assert_int_eq(resolve_externalize(in, ext, sizeof(ext)), 0);
    ck_assert_str_eq(ext, quote_cases[_i].ext);
    ck_assert_int_eq(resolve_internalize(quote_cases[_i].ext, in, 4), -1);
}
END_TEST

static const struct {
    const char *client, *rcpt;
    int rc;
    const char *reply;
} relay_control_cases[] = {
    {"127.0.0.1", "contact@ladministrateur.com", 0, ""},
    {"127.1.2.3", "ladresse@hebergee.com", 0, ""},
    {"127.1.2.3", "pomme@mail.xxx.dyndns.com", 0, ""},
    {"::1", "contact@ladministrateur.com", -1,
     "454 4.7.1 <contact@ladministrateur.com>: Relay access denied"},
    /* An IPv4 client outside mynetworks (127.0.0.0/8): non-loopback by
     * nature, parsed only. */
    {"128.1.2.3", "contact@ladministrateur.com", -1,
     "454 4.7.1 <contact@ladministrateur.com>: Relay access denied"},
};

/* policy_check_rcpt's verdict, when it needs no DNS (synchronous). */
struct verdict {
    int called, rc;
    char reply[512];
};

static void verdict_done(void *arg, int rc, const char *reply)
{
    struct verdict *v = arg;

    v->called = 1;
    v->rc = rc;
    snprintf(v->reply, sizeof(v->reply), "%s", reply);
}

START_TEST(test_relay_control)
{
    char err[512];
    struct relay *r = make_relay(seed000_main_cf, master_ok, err, sizeof(err));
    struct policy_ctx ctx;
    struct netaddr na;

    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(netaddr_parse(relay_control_cases[_i].client, 0, &na), 0);
    memset(&ctx, 0, sizeof(ctx));
    ctx.p = &r->p;
    ctx.client = &na;
    ctx.client_name = "unknown";
    ctx.helo = "test";
    ctx.sender = "monadresse@mondomaine.tld";
    ctx.rcpt = relay_control_cases[_i].rcpt;
    struct verdict v = {0, 0, ""};
    ck_assert_ptr_null(policy_check_rcpt(r, &ctx, verdict_done, &v));
    ck_assert_int_eq(v.called, 1);
    ck_assert_int_eq(v.rc < 0 ? -1 : 0, relay_control_cases[_i].rc);
    if (relay_control_cases[_i].rc < 0)
        ck_assert_str_eq(v.reply, relay_control_cases[_i].reply);
    relay_free(r);
}
END_TEST

static const struct {
    const char *main_cf, *master_cf, *err;
} config_error_cases[] = {
    {"mynetworks = 127.0.0.0/8 not-a-net\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: mynetworks: bad network/mask \"not-a-net\""},
    {"virtual_alias_maps = hash:/nonexistent/virtual\n",
     "2525 inet n - n - - smtpd\n", "/nonexistent/virtual"},
    {"queue_run_delay = soon\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: bad time value for parameter queue_run_delay"},
    {"", "smtp inet n\n", "master.cf:1: expected 8 or more fields"},
    {"", "pickup fifo n - n 60 1 pickup\n", "no inet smtpd service"},
    {"", "127.0.0.1:99999 inet n - n - - smtpd\n", "bad service port"},
    {"  indented = x\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: continuation line without a parameter"},
    {"smtpd_forbid_bare_newline = note\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: invalid smtpd_forbid_bare_newline: \"note\""},
    {"smtpd_forbid_bare_newline_reject_code = 450\n",
     "2525 inet n - n - - smtpd\n",
     "main.cf:1: invalid smtpd_forbid_bare_newline_reject_code: \"450\""},
    {"smtpd_forbid_bare_newline_exclusions = $mynetworks host.example\n",
     "2525 inet n - n - - smtpd\n",
     "main.cf:1: smtpd_forbid_bare_newline_exclusions: bad network/mask "
     "\"host.example\""},
    {"", "2525 inet n - n - - smtpd -o smtpd_forbid_bare_newline=maybe\n",
     "master.cf:1: invalid smtpd_forbid_bare_newline: \"maybe\""},
    {"", "2525 inet n - n - many smtpd\n",
     "master.cf:1: bad maxproc field \"many\""},
    {"smtpd_client_connection_count_limit = -1\n",
     "2525 inet n - n - - smtpd\n",
     "main.cf:1: bad numerical value for parameter "
     "smtpd_client_connection_count_limit: \"-1\""},
    {"anvil_rate_time_unit = 0s\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: parameter anvil_rate_time_unit: \"0s\" is out of range "
     "(at least 1)"},
    {"smtpd_client_event_limit_exceptions = 127.0.0.1 [::1]/129\n",
     "2525 inet n - n - - smtpd\n",
     "main.cf:1: smtpd_client_event_limit_exceptions: bad network/mask "
     "\"[::1]/129\""},
    /* Typed parameters from the table (params.c): syntax and bounds. */
    {"allow_percent_hack = maybe\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: bad boolean value for parameter allow_percent_hack: "
     "\"maybe\""},
    {"smtpd_recipient_limit = 0\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: parameter smtpd_recipient_limit: \"0\" is out of range "
     "(at least 1)"},
    {"message_size_limit = -5\n", "2525 inet n - n - - smtpd\n",
     "main.cf:1: bad numerical value for parameter message_size_limit"},
    {"", "2525 inet n - n - - smtpd -o smtpd_timeout=forever\n",
     "master.cf:1: bad time value for parameter smtpd_timeout"},
    /* The content filter (filter.c). */
    {"content_filter = smtp amavis:[127.0.0.1]:10024\n",
     "2525 inet n - n - - smtpd\n",
     "main.cf:1: bad content_filter value \"smtp amavis:[127.0.0.1]:10024\""},
    {"", "2525 inet n - n - - smtpd -o content_filter=:[127.0.0.1]:10024\n",
     "master.cf:1: bad content_filter value"},
    {"", "2525 inet n - n - - smtpd -o receive_override_options=no_spam\n",
     "master.cf:1: unknown receive_override_options value \"no_spam\""},
    {"", "2525 inet n - n - - smtpd\nsmtp-amavis unix - - n - two smtp\n",
     "master.cf:2: bad maxproc field \"two\""},
    {"",
     "2525 inet n - n - - smtpd\namavis unix - - n - 2 smtp -o "
     "smtp_data_done_timeout=long\n",
     "master.cf:2: bad time value for parameter smtp_data_done_timeout"},
};

START_TEST(test_config_errors)
{
    char err[512] = "";
    struct relay *r =
        make_relay(config_error_cases[_i].main_cf,
                   config_error_cases[_i].master_cf, err, sizeof(err));

    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, config_error_cases[_i].err) != NULL,
                  "expected \"%s\" in \"%s\"", config_error_cases[_i].err, err);
}
END_TEST

/* Start-up warnings (params.c): each names the file:line that set the
 * parameter. The extra main.cf line is line 10 (after the seed's nine). */
static const struct {
    const char *main_line, *master_cf, *want;
} warn_cases[] = {
    /* The content filter and amavis's master.cf services (filter.c). */
    {"content_filter = smtp-amavis:[127.0.0.1]:10024\n", NULL, ""},
    {"",
     "127.0.0.1:2525 inet n - n - - smtpd\nsmtp-amavis unix - - n - 2 "
     "smtp -o smtp_data_done_timeout=1200 -o disable_dns_lookups=yes -o "
     "max_use=20\n",
     ""},
    {"",
     "127.0.0.1:2525 inet n - n - - smtpd\nsmtp-amavis unix - - n - 2 "
     "smtp -o smtp_send_xforward_command=yes\n",
     "master.cf:2: smtp_send_xforward_command is only partly implemented by "
     "mxlab-relay: XFORWARD is never sent"},
    {"",
     "127.0.0.1:2525 inet n - n - - smtpd -o content_filter= -o "
     "smtpd_restriction_classes= -o receive_override_options="
     "no_unknown_recipient_checks,no_header_body_checks\n",
     ""},
    /* A transport that master.cf defines is one the relay has; one it
     * does not define is still warned about. */
    {"default_transport = smtp-amavis\n",
     "127.0.0.1:2525 inet n - n - - smtpd\nsmtp-amavis unix - - n - 2 "
     "smtp\n",
     ""},
    {"relay_transport = scan:[127.0.0.1]:10024\n",
     "127.0.0.1:2525 inet n - n - - smtpd\nscan unix - - n - 2 lmtp\n", ""},
    {"default_transport = smtp-amavis\n", NULL,
     "main.cf:10: default_transport is only partly implemented"},
    {"smtpd_restriction_classes = friends\n", NULL,
     "main.cf:10: smtpd_restriction_classes is only partly implemented"},
    /* Implemented (milter.c): no warning. */
    {"smtpd_milters = inet:127.0.0.1:8891\nmilter_default_action = accept\n"
     "milter_protocol = 6\n",
     NULL, ""},
    {"non_smtpd_milters = inet:127.0.0.1:8891\n", NULL,
     "main.cf:10: non_smtpd_milters is only partly implemented by "
     "mxlab-relay: mail enters the relay only by SMTP"},
    /* Implemented outside the table (sasl.c): no warning. */
    {"smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\n"
     "smtpd_sasl_path = inet:127.0.0.1:12345\n",
     NULL, ""},
    {"header_checks = regexp:/etc/postfix/header_checks\n", NULL,
     "main.cf:10: header_checks is not implemented by mxlab-relay; content "
     "is not inspected"},
    {"smtp_tls_security_level = may\n", NULL,
     "main.cf:10: smtp_tls_security_level is not implemented by "
     "mxlab-relay; deliveries are made without it"},
    {"mailbox_size_limit = 0\n", NULL,
     "main.cf:10: mailbox_size_limit is not implemented by mxlab-relay; "
     "mailboxes have no size limit"},
    {"bounce_size_limit = 1000\n", NULL,
     "main.cf:10: bounce_size_limit is not implemented by mxlab-relay; it "
     "has no effect"},
    {"inet_protocols = ipv4\n", NULL,
     "main.cf:10: inet_protocols is only partly implemented by mxlab-relay: "
     "it only decides"},
    {"myhostnme = typo.example\n", NULL,
     "main.cf:10: unused parameter: myhostnme=typo.example"},
    {"mxlab_dns_server = 127.0.0.1:53\n", NULL,
     "main.cf:10: mxlab_dns_server is not an mxlab-relay parameter"},
    {"", "127.0.0.1:2525 inet n - n - - smtpd -o header_checks=regexp:x\n",
     "master.cf:1: header_checks is not implemented by mxlab-relay"},
    {"default_transport = uucp\n", NULL,
     "main.cf:10: default_transport is only partly implemented by "
     "mxlab-relay: only the smtp, relay, error, discard, local and lmtp"},
    {"", "127.0.0.1:2525 inet n - n - - smtpd -o relay_transport=uucp:x\n",
     "master.cf:1: relay_transport is only partly implemented"},
    /* Virtual mailbox domains: virtual(8) is not in the relay. */
    {"virtual_mailbox_domains = v.example\n", NULL,
     "main.cf:10: virtual_mailbox_domains: their mail goes to "
     "virtual_transport = virtual, and mxlab-relay has no virtual(8)"},
    {"virtual_mailbox_maps = texthash:/dev/null\n", NULL,
     "main.cf:10: virtual_mailbox_domains: their mail goes to "
     "virtual_transport = virtual"},
    {"virtual_transport = virtual\n", NULL,
     "main.cf:10: virtual_transport is only partly implemented"},
    {"virtual_mailbox_base = /var/mail/vhosts\n", NULL,
     "main.cf:10: virtual_mailbox_base is not implemented by mxlab-relay; "
     "mxlab-relay has no virtual(8) delivery agent"},
    {"virtual_uid_maps = static:5000\n", NULL,
     "main.cf:10: virtual_uid_maps is not implemented by mxlab-relay; "
     "mxlab-relay has no virtual(8)"},
    {"mailbox_transport = dovecot\n", NULL,
     "main.cf:10: mailbox_transport is only partly implemented"},
    {"mailbox_transport = local\n", NULL,
     "main.cf:10: mailbox_transport is only partly implemented"},
    /* Implemented, or accepted with no effect: no warning at all. */
    {"virtual_mailbox_domains = v.example\nvirtual_transport = lmtp:inet:x\n",
     NULL, ""},
    {"mailbox_transport = lmtp:unix:private/dovecot-lmtp\n", NULL, ""},
    {"mailbox_transport =\n", NULL, ""},
    {"default_transport = error:no mail here\n", NULL, ""},
    {"biff = no\n", NULL, ""},
    {"readme_directory = no\n", NULL, ""},
    {"allow_percent_hack = no\n", NULL, ""},
    {"smtpd_forbid_bare_newline = reject\n", NULL, ""},
    {"", "127.0.0.1:2525 inet n - n - - smtpd -o smtpd_timeout=10s\n", ""},
    /* Restriction names the relay does not know (policy.c's table), with
     * the file:line of the list; arguments are not names. */
    {"smtpd_recipient_restrictions = permit_mynetworks, permit_mynetwork,"
     " reject_unauth_destination\n",
     NULL, "main.cf:10: unknown smtpd restriction: \"permit_mynetwork\""},
    {"smtpd_client_restrictions = check_client_access hash:/no/access,"
     " reject_rbl_client zen.example, check_policy_service unix:private/p,"
     " reject_unknown_sender_domain, permit\n",
     NULL, ""},
    {"",
     "127.0.0.1:2525 inet n - n - - smtpd -o smtpd_helo_restrictions=rejectt\n",
     "master.cf:1: unknown smtpd restriction: \"rejectt\""},
};

START_TEST(test_param_warnings)
{
    char err[512] = "", *main_cf, *path = xasprintf("%s/stderr", tmpdir);
    char *out = NULL;
    int saved = dup(STDERR_FILENO);
    FILE *fp = fopen(path, "w");
    struct relay *r;

    ck_assert_ptr_nonnull(fp);
    fflush(stderr);
    dup2(fileno(fp), STDERR_FILENO);
    main_cf = xasprintf("%s%s", seed000_main_cf, warn_cases[_i].main_line);
    r = make_relay(main_cf,
                   warn_cases[_i].master_cf ? warn_cases[_i].master_cf
                                            : master_ok,
                   err, sizeof(err));
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(fp);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(fs_read_file(path, &out, NULL), 0);
    if (warn_cases[_i].want[0] == '\0')
        ck_assert_msg(strstr(out, "warning") == NULL, "unexpected: %s", out);
    else
        ck_assert_msg(strstr(out, warn_cases[_i].want) != NULL,
                      "expected \"%s\" in \"%s\"", warn_cases[_i].want, out);
    free(out);
    free(main_cf);
    free(path);
    relay_free(r);
}
END_TEST

/* Client input into lines (smtpd_line.c) under each
 * smtpd_forbid_bare_newline setting, with a line limit of 8. */
static const struct {
    const char *in;
    size_t inlen;
    int mask, ret;
    size_t len, consumed;
    enum smtpd_line_end end;
} line_cases[] = {
#define L(s) s, sizeof(s) - 1
    {L("NOOP\r\nx"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 4, 6, SMTPD_LINE_CRLF},
    {L("NOOP\nx"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 4, 5, SMTPD_LINE_BARE_LF},
    {L(".\n"), SMTPD_BARE_LF_REJECT, 1, 1, 2, SMTPD_LINE_BARE_LF},
    /* Only one CR is the line's: ".\r\r\n" is ".\r", no end of data. */
    {L(".\r\r\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 2, 4, SMTPD_LINE_CRLF},
    /* "no" (Postfix 3.7's default): every CR goes, a bare LF is a CRLF. */
    {L(".\r\r\n"), SMTPD_BARE_LF_NO, 1, 1, 4, SMTPD_LINE_CRLF},
    {L(".\n"), SMTPD_BARE_LF_NO, 1, 1, 2, SMTPD_LINE_CRLF},
    /* A bare CR ends nothing. */
    {L("a\r.\rb\r\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 5, 7, SMTPD_LINE_CRLF},
    {L("\r\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 0, 2, SMTPD_LINE_CRLF},
    {L("\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 0, 1, SMTPD_LINE_BARE_LF},
    /* Not yet a line; then pieces of the limit, never more. */
    {L("12345678"), SMTPD_BARE_LF_WANT_STD_EOD, 0, 0, 0, SMTPD_LINE_PARTIAL},
    {L("123456789"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 8, 8, SMTPD_LINE_PARTIAL},
    {L("12345678\n"), SMTPD_BARE_LF_NO, 1, 8, 9, SMTPD_LINE_CRLF},
    {L("1234567\r\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 7, 9, SMTPD_LINE_CRLF},
    {L("12345678\r\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 8, 8,
     SMTPD_LINE_PARTIAL},
    {L("a\0b\r\n"), SMTPD_BARE_LF_WANT_STD_EOD, 1, 3, 5, SMTPD_LINE_CRLF},
    {L(""), SMTPD_BARE_LF_NO, 0, 0, 0, SMTPD_LINE_PARTIAL},
#undef L
};

START_TEST(test_line_scan)
{
    struct smtpd_line l = {0, 0, SMTPD_LINE_PARTIAL};
    int ret = smtpd_line_scan(line_cases[_i].in, line_cases[_i].inlen, 8,
                              line_cases[_i].mask, &l);

    ck_assert_int_eq(ret, line_cases[_i].ret);
    if (ret == 0)
        return;
    ck_assert_uint_eq(l.len, line_cases[_i].len);
    ck_assert_uint_eq(l.consumed, line_cases[_i].consumed);
    ck_assert_int_eq(l.end, line_cases[_i].end);
}
END_TEST

START_TEST(test_line_helpers)
{
    char text[] = "a\rb\nc\0d";
    struct strbuf sb;

    ck_assert_int_eq(smtpd_bare_lf_parse("NORMALIZE"),
                     SMTPD_BARE_LF_WANT_STD_EOD);
    ck_assert_int_eq(smtpd_bare_lf_parse("yes"), SMTPD_BARE_LF_WANT_STD_EOD);
    ck_assert_int_eq(smtpd_bare_lf_parse("Reject"),
                     SMTPD_BARE_LF_WANT_STD_EOD | SMTPD_BARE_LF_REJECT);
    ck_assert_int_eq(smtpd_bare_lf_parse("no"), SMTPD_BARE_LF_NO);
    ck_assert_int_eq(smtpd_bare_lf_parse("note"), -1);
    smtpd_line_mask_stray(text, sizeof(text) - 1);
    ck_assert_int_eq(memcmp(text, "a b c\0d", 7), 0);
    strbuf_init(&sb);
    smtpd_line_escape(&sb, "MAIL\\\r\n\0\x7f\xe9", 10);
    ck_assert_str_eq(sb.buf, "MAIL\\\\\\r\\n\\000\\177\\351");
    strbuf_clear(&sb);
}
END_TEST

static const char *queued_content = "Subject: x\r\n\r\nbody\r\n";

/* A relay with seed 000's main.cf, its queue under tmpdir, and one
 * message from a@b.example to rcpt (given as orig) queued as id. Caller
 * frees *main_cf and the relay. */
static struct relay *queue_one(const char *rcpt, const char *orig, char id[16],
                               char **main_cf)
{
    char err[512];
    struct strlist rcpts, origs;
    struct relay *r;

    *main_cf =
        xasprintf("%squeue_directory = %s/queue\n", seed000_main_cf, tmpdir);
    r = make_relay(*main_cf, master_ok, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    make_queue_dirs();
    strlist_init(&rcpts);
    strlist_init(&origs);
    strlist_push(&rcpts, rcpt);
    strlist_push(&origs, orig);
    queue_new_id(r, id, 16);
    ck_assert_int_eq(queue_commit(r, id, "a@b.example", &rcpts, &origs, NULL,
                                  queued_content, strlen(queued_content)),
                     0);
    ck_assert_int_eq(relay_queue_count(r), 1);
    strlist_clear(&rcpts);
    strlist_clear(&origs);
    return r;
}

START_TEST(test_queue_commit_recover)
{
    char err[512], id[16], *main_cf;
    struct relay *r = queue_one("pomme@mail.xxx.dyndns.com",
                                "social@hebergee.com", id, &main_cf);
    char *data;
    size_t len;

    const char *content = queued_content;
    relay_free(r);
    /* A half-written file and a corrupt one beside the good one. */
    write_file("queue/active/ABCDEF.tmp123", "mxlab-queue 1\narr");
    write_file("queue/active/0000000BAD", "not a queue file\n");
    /* Written by a group commit, cut short by a crash before its sync:
     * never acknowledged, so removed, not kept as corrupt. */
    write_file("queue/active/00000000CC", "mxlab-queue 1\narrival 1.0\n"
                                          "sender a@b.example\n"
                                          "rcpt 0 x@y.example\tx@y.example\n"
                                          "data 100\nSubject: cut");
    r = make_relay(main_cf, master_ok, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(queue_recover(r, err, sizeof(err)), 0);
    ck_assert_int_eq(relay_queue_count(r), 1);
    ck_assert_str_eq(r->queue->id, id);
    ck_assert_str_eq(r->queue->sender, "a@b.example");
    ck_assert_str_eq(r->queue->rcpts[0].orig, "social@hebergee.com");
    ck_assert_int_eq(queue_read_data(r, r->queue, &data, &len), 0);
    ck_assert_int_eq(len, strlen(content));
    free(data);
    char *cut = xasprintf("%s/queue/active/00000000CC", tmpdir);
    char *cut2 = xasprintf("%s/queue/corrupt/00000000CC", tmpdir);
    ck_assert_int_eq(access(cut, F_OK), -1);
    ck_assert_int_eq(access(cut2, F_OK), -1);
    free(cut);
    free(cut2);
    char *tmp = xasprintf("%s/queue/active/ABCDEF.tmp123", tmpdir);
    char *bad = xasprintf("%s/queue/corrupt/0000000BAD", tmpdir);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(access(bad, F_OK), 0);
    free(tmp);
    free(bad);
    relay_free(r);
    free(main_cf);
}
END_TEST

/* bounce(8)'s report as Postfix 3.7 writes it for a virtual alias member
 * that the LMTP server refused: "(expanded from <alias>)" in the text,
 * and Diagnostic-Code folded at 79 columns as the text is (seed 003's
 * Dovecot scenario, SAME on Postfix). */
START_TEST(test_bounce_report)
{
    char id[16], *main_cf;
    struct relay *r =
        queue_one("ancien@minet.net", "bureau@minet.net", id, &main_cf);
    char *data;
    size_t len;

    struct queue_msg *m = r->queue;
    ck_assert_ptr_nonnull(m);
    bounce_add(m, &m->rcpts[0], "5.1.1",
               "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <ancien@minet.net> "
               "User doesn't exist: ancien@minet.net (in reply to RCPT TO "
               "command)",
               "550 5.1.1 <ancien@minet.net> User doesn't exist: "
               "ancien@minet.net",
               "127.0.0.1");
    ck_assert_int_eq(bounce_flush(r, m), 0);
    ck_assert_int_eq(relay_queue_count(r), 2);
    struct queue_msg *b = r->queue == m ? m->next : r->queue;
    ck_assert_str_eq(b->sender, "");
    ck_assert_int_eq(queue_read_data(r, b, &data, &len), 0);
    ck_assert_msg(strstr(data, "\r\n<ancien@minet.net> (expanded from "
                               "<bureau@minet.net>): host\r\n"
                               "    127.0.0.1[127.0.0.1] said: 550 5.1.1 "
                               "<ancien@minet.net> User doesn't exist:\r\n"
                               "    ancien@minet.net (in reply to RCPT TO "
                               "command)\r\n") != NULL,
                  "%s", data);
    ck_assert_msg(strstr(data, "\r\nRemote-MTA: dns; 127.0.0.1\r\n"
                               "Diagnostic-Code: smtp; 550 5.1.1 "
                               "<ancien@minet.net> User doesn't exist:\r\n"
                               "    ancien@minet.net\r\n") != NULL,
                  "%s", data);
    free(data);
    relay_free(r);
    free(main_cf);
}
END_TEST

static int file_mtime(const char *rel, time_t *mtime)
{
    char *path = xasprintf("%s/%s", tmpdir, rel);
    struct stat st;
    int rc = stat(path, &st);

    free(path);
    *mtime = st.st_mtime;
    return rc;
}

/* Deferred messages live in deferred/ only, due at their file's mtime,
 * and come back to the active queue at the first scan that finds them
 * due, no more at a time than the active queue's limit. */
START_TEST(test_deferred_on_disk)
{
    char err[512], id[3][16];
    const time_t t0 = 1800000000;
    char *main_cf = xasprintf("%squeue_directory = %s/queue\n"
                              "queue_run_delay = 300s\n",
                              seed000_main_cf, tmpdir);
    struct relay *r;
    struct strlist rcpts, origs;
    struct strbuf out;
    time_t mtime;

    clock_simulate(t0);
    r = make_relay(main_cf, master_ok, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    make_queue_dirs();
    qmgr_init(r);
    strlist_init(&rcpts);
    strlist_init(&origs);
    strlist_push(&rcpts, "pomme@mail.xxx.dyndns.com");
    strlist_push(&origs, "pomme@mail.xxx.dyndns.com");
    for (int i = 0; i < 3; i++) {
        queue_new_id(r, id[i], sizeof(id[i]));
        ck_assert_int_eq(queue_commit(r, id[i], "a@b.example", &rcpts, &origs,
                                      NULL, "\r\nx\r\n", 5),
                         0);
    }
    ck_assert_int_eq(r->queue_count, 3);
    /* Deferred for 600 s: out of memory, into deferred/ with that mtime. */
    for (int i = 0; i < 3; i++) {
        struct queue_msg *m = r->queue;
        ck_assert_str_eq(m->id, id[i]);
        m->rcpts[0].reason = xstrdup("host x[127.0.0.9] said: 421 busy");
        m->next_try = t0 + 600 + 300 * i;
        ck_assert_int_eq(queue_update(r, m), 0);
    }
    ck_assert_ptr_null(r->queue);
    ck_assert_int_eq(r->queue_count, 0);
    ck_assert_int_eq(relay_queue_count(r), 3);
    char *rel = xasprintf("queue/deferred/%s", id[0]);
    ck_assert_int_eq(file_mtime(rel, &mtime), 0);
    ck_assert_int_eq(mtime, t0 + 600);
    free(rel);
    /* mailq reads it from the file, reason included. */
    strbuf_init(&out);
    relay_mailq(r, &out);
    ck_assert_ptr_nonnull(strstr(out.buf, id[0]));
    ck_assert_ptr_nonnull(
        strstr(out.buf, "(host x[127.0.0.9] said: 421 busy)"));
    ck_assert_ptr_nonnull(strstr(out.buf, "-- 0 Kbytes in 3 Requests."));
    strbuf_clear(&out);
    /* Backoff: the message's age, within 300 s and 4000 s (defaults). */
    struct queue_msg probe = {.arrival = t0};
    ck_assert_int_eq(qmgr_next_try(r, &probe, t0), t0 + 300);
    ck_assert_int_eq(qmgr_next_try(r, &probe, t0 + 1000), t0 + 2000);
    ck_assert_int_eq(qmgr_next_try(r, &probe, t0 + 86400), t0 + 90400);
    /* The first scan that finds one due is at t0 + 600. */
    ck_assert_int_eq(qmgr_next_event(r), t0 + 600);
    ck_assert_int_eq(queue_scan_deferred(r, t0 + 599, 100), 0);
    ck_assert_ptr_null(r->queue);
    /* A corrupt file found by a scan goes to corrupt/. */
    write_file("queue/deferred/0000000BAD", "not a queue file\n");
    /* Due: all three by t0 + 1200, but the active queue holds 2. */
    ck_assert_int_eq(queue_scan_deferred(r, t0 + 1200, 2), 1);
    ck_assert_int_eq(r->queue_count, 2);
    ck_assert_str_eq(r->queue->id, id[0]);
    ck_assert_str_eq(r->queue->rcpts[0].reason,
                     "host x[127.0.0.9] said: 421 busy");
    ck_assert_int_eq(queue_scan_deferred(r, t0 + 1200, 3), 0);
    ck_assert_int_eq(r->queue_count, 3);
    ck_assert_int_eq(queue_disk_count(r, QUEUE_DEFERRED), 0);
    ck_assert_int_eq(file_mtime("queue/corrupt/0000000BAD", &mtime), 0);
    ck_assert_int_eq(relay_queue_count(r), 3);
    relay_free(r);
    strlist_clear(&rcpts);
    strlist_clear(&origs);
    free(main_cf);
}
END_TEST

/* policy.c's restriction table: names matched exactly, each with the
 * argument it takes; what it does not hold is unknown (451 4.3.5). */
static const struct {
    const char *name;
    int known;
    enum policy_arg arg;
} restriction_cases[] = {
    {"permit", 1, POLICY_ARG_NONE},
    {"defer_unauth_destination", 1, POLICY_ARG_NONE},
    {"reject_unauthenticated_sender_login_mismatch", 1, POLICY_ARG_NONE},
    {"reject_unknown_recipient_domain", 1, POLICY_ARG_NONE},
    {"check_sender_access", 1, POLICY_ARG_TABLE},
    {"check_policy_service", 1, POLICY_ARG_SERVER},
    {"reject_rhsbl_sender", 1, POLICY_ARG_DNSLIST},
    {"reject_unverified_recipient", 0, POLICY_ARG_NONE},
    {"permit_mynetwork", 0, POLICY_ARG_NONE},
    {"permit_mynetworks_", 0, POLICY_ARG_NONE},
    {"Permit", 1, POLICY_ARG_NONE}, /* any case, as Postfix (strcasecmp) */
    {"Check_Sender_Access", 1, POLICY_ARG_TABLE},
    {"", 0, POLICY_ARG_NONE},
};

START_TEST(test_restriction_find)
{
    const struct policy_restriction *pr =
        policy_restriction_find(restriction_cases[_i].name);

    if (!restriction_cases[_i].known) {
        ck_assert_ptr_null(pr);
        return;
    }
    ck_assert_ptr_nonnull(pr);
    ck_assert_int_eq(str_casecmp(pr->name, restriction_cases[_i].name), 0);
    ck_assert_int_eq(pr->arg, restriction_cases[_i].arg);
    /* Exactly one handler: a check, or a lookup that resumes the walk. */
    ck_assert_int_eq(pr->sync != NULL, pr->start == NULL);
}
END_TEST

/* content_filter values as the queue file keeps them (filter.h's
 * bounds): "transport:nexthop" split at the first ':'. */
static const struct {
    const char *value, *transport, *nexthop; /* transport NULL: refused */
} filter_cases[] = {
    {"smtp-amavis:[127.0.0.1]:10024", "smtp-amavis", "[127.0.0.1]:10024"},
    {"scan", "scan", ""},
    {"lmtp:unix:private/amavis", "lmtp", "unix:private/amavis"},
    {"scan:", "scan", ""},
    {":[127.0.0.1]:10024", NULL, NULL},
    {"", NULL, NULL},
    {"smtp amavis:x", NULL, NULL},
    {"smtp:host\tname", NULL, NULL},
    {"smtp:host\nrcpt 0 x@y", NULL, NULL},
    {"a234567890123456789012345678901234567890123456789012345678901234:x", NULL,
     NULL},
};

START_TEST(test_filter_split)
{
    char t[FILTER_TRANSPORT_MAX + 1] = "", h[FILTER_NEXTHOP_MAX + 1] = "";
    int rc = filter_split(filter_cases[_i].value, t, h);

    if (filter_cases[_i].transport == NULL) {
        ck_assert_msg(rc < 0, "%s: accepted", filter_cases[_i].value);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(t, filter_cases[_i].transport);
    ck_assert_str_eq(h, filter_cases[_i].nexthop);
}
END_TEST

START_TEST(test_receive_overrides)
{
    char bad[64] = "";

    ck_assert_int_eq(filter_receive_overrides("", bad, sizeof(bad)), 0);
    ck_assert_int_eq(filter_receive_overrides(
                         "no_unknown_recipient_checks,no_header_body_checks",
                         bad, sizeof(bad)),
                     FILTER_NO_UNKNOWN_RECIPIENT_CHECKS |
                         FILTER_NO_HEADER_BODY_CHECKS);
    ck_assert_int_eq(filter_receive_overrides("no_address_mappings no_milters",
                                              bad, sizeof(bad)),
                     FILTER_NO_ADDRESS_MAPPINGS | FILTER_NO_MILTERS);
    ck_assert_int_eq(
        filter_receive_overrides("no_milters, maybe_later", bad, sizeof(bad)),
        -1);
    ck_assert_str_eq(bad, "maybe_later");
}
END_TEST

/* master.cf's delivery services are transports qmgr reaches by name,
 * each with main.cf's parameters and its own -o overrides. */
START_TEST(test_master_transports)
{
    char err[512];
    struct relay *r = make_relay(
        seed000_main_cf,
        "127.0.0.1:2525 inet n - n - - smtpd\n"
        "smtp-amavis unix - - n - 2 smtp\n"
        "    -o smtp_data_done_timeout=1200\n"
        "    -o disable_dns_lookups=yes\n"
        "    -o max_use=20\n"
        "relay unix - - n - - smtp -o syslog_name=postfix/$service_name\n"
        "dovecot unix - - n - - lmtp\n"
        "showq unix n - n - - showq\n",
        err, sizeof(err));
    struct relay_transport *t;

    ck_assert_msg(r != NULL, "%s", err);
    t = filter_transport_find(r, "smtp-amavis");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->lmtp, 0);
    ck_assert_int_eq(t->maxproc, 2);
    ck_assert_str_eq(t->logname, "smtp");
    ck_assert_int_eq(t->p.smtp_data_done_timeout, 1200);
    ck_assert_int_eq(t->p.disable_dns_lookups, 1);
    /* main.cf's own value is untouched. */
    ck_assert_int_eq(r->p.smtp_data_done_timeout, 600);
    ck_assert_int_eq(r->p.disable_dns_lookups, 0);
    t = filter_transport_find(r, "relay");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->logname, "relay/smtp");
    ck_assert_int_eq(t->maxproc, 100); /* "-": default_process_limit */
    t = filter_transport_find(r, "dovecot");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->lmtp, 1);
    ck_assert_str_eq(t->logname, "lmtp");
    /* Not a delivery service, not a service at all. */
    ck_assert_ptr_null(filter_transport_find(r, "showq"));
    ck_assert_ptr_null(filter_transport_find(r, "smtp-amavi"));
    relay_free(r);
}
END_TEST

/* The content filter is a queue-file line: written with the message,
 * read back at recovery, range-checked (a file with a bad one is not
 * ours: corrupt/), and absent from the files of before. */
START_TEST(test_queue_filter)
{
    char err[512], id[16];
    char *main_cf =
        xasprintf("%squeue_directory = %s/queue\n", seed000_main_cf, tmpdir);
    struct relay *r = make_relay(main_cf, master_ok, err, sizeof(err));
    struct strlist rcpts, origs;
    struct queue_dsn dsn = {0, NULL, NULL, NULL,
                            "smtp-amavis:[127.0.0.1]:10024"};
    char *text = NULL, *path;

    ck_assert_msg(r != NULL, "%s", err);
    make_queue_dirs();
    strlist_init(&rcpts);
    strlist_init(&origs);
    strlist_push(&rcpts, "adherent@minet.net");
    strlist_push(&origs, "adherent@minet.net");
    queue_new_id(r, id, sizeof(id));
    ck_assert_int_eq(queue_commit(r, id, "a@b.example", &rcpts, &origs, &dsn,
                                  "\r\nx\r\n", 5),
                     0);
    path = xasprintf("%s/queue/active/%s", tmpdir, id);
    ck_assert_int_eq(fs_read_file(path, &text, NULL), 0);
    ck_assert_ptr_nonnull(
        strstr(text, "\nfilter smtp-amavis:[127.0.0.1]:10024\n"));
    free(text);
    free(path);
    relay_free(r);
    /* Written before the filter line existed: no filter. */
    write_file("queue/active/00000000A1", "mxlab-queue 1\narrival 1.0\n"
                                          "sender a@b.example\n"
                                          "rcpt 0 x@y.example\tx@y.example\n"
                                          "data 3\nx\r\n");
    /* A filter line out of range, or twice: not one of ours. */
    write_file("queue/active/00000000B1", "mxlab-queue 1\narrival 1.0\n"
                                          "sender a@b.example\n"
                                          "filter :[127.0.0.1]:10024\n"
                                          "rcpt 0 x@y.example\tx@y.example\n"
                                          "data 3\nx\r\n");
    write_file("queue/active/00000000B2", "mxlab-queue 1\narrival 1.0\n"
                                          "sender a@b.example\n"
                                          "filter a:b\nfilter c:d\n"
                                          "rcpt 0 x@y.example\tx@y.example\n"
                                          "data 3\nx\r\n");
    r = make_relay(main_cf, master_ok, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(queue_recover(r, err, sizeof(err)), 0);
    ck_assert_int_eq(r->queue_count, 2);
    for (struct queue_msg *m = r->queue; m != NULL; m = m->next) {
        if (strcmp(m->id, id) == 0)
            ck_assert_str_eq(m->filter, "smtp-amavis:[127.0.0.1]:10024");
        else
            ck_assert_ptr_null(m->filter);
    }
    path = xasprintf("%s/queue/corrupt/00000000B1", tmpdir);
    ck_assert_int_eq(access(path, F_OK), 0);
    free(path);
    path = xasprintf("%s/queue/corrupt/00000000B2", tmpdir);
    ck_assert_int_eq(access(path, F_OK), 0);
    free(path);
    relay_free(r);
    strlist_clear(&rcpts);
    strlist_clear(&origs);
    free(main_cf);
}
END_TEST

START_TEST(test_table_cache)
{
    char err[512];
    struct relay *r = make_relay(seed000_main_cf, master_ok, err, sizeof(err));
    char *spec = xasprintf("hash:%s/virtual", tmpdir);
    struct map *m;

    ck_assert_msg(r != NULL, "%s", err);
    m = table_get(r, spec);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_eq(table_get(r, spec), m); /* opened once */
    ck_assert_ptr_null(table_get(r, "hash:/nonexistent/table"));
    ck_assert_ptr_null(table_get(r, "hash:/nonexistent/table"));
    ck_assert_int_eq(r->tables.n, 2);
    free(spec);
    relay_free(r);
}
END_TEST

/* local(8) pieces as the log would show them: "to status dsn (text)". */
static void local_log_collect(void *arg, size_t i, const char *to,
                              const struct smtpc_rcpt *piece)
{
    struct strlist *lines = arg;
    char *line = xasprintf("%zu %s %d %s (%s)", i, to, piece->status,
                           piece->dsn, piece->reply ? piece->reply : "");
    strlist_push(lines, line);
    free(line);
}

/* A message from sender@remote.example to four addresses, as qmgr hands
 * it to local(8): its recipients, one job recipient each. */
struct local_msg {
    struct queue_msg m;
    struct queue_rcpt qr[4];
    struct smtpc_rcpt rc[4];
    size_t idx[4];
};

static void local_msg_init(struct local_msg *lm, const char *const to[4])
{
    memset(lm, 0, sizeof(*lm));
    snprintf(lm->m.id, sizeof(lm->m.id), "0123456789");
    lm->m.sender = "sender@remote.example";
    lm->m.rcpts = lm->qr;
    lm->m.nrcpt = 4;
    for (size_t i = 0; i < 4; i++) {
        lm->qr[i].addr = lm->qr[i].orig = (char *)to[i];
        lm->rc[i].addr = to[i];
        lm->idx[i] = i;
    }
}

START_TEST(test_local_delivery)
{
    char err[512];
    char *main_cf =
        xasprintf("myhostname = mx.lab.example\n"
                  "mydestination = $myhostname\n"
                  "myorigin = $myhostname\n"
                  "alias_maps = texthash:$config_directory/aliases\n"
                  "mxlab_passwd_file = passwd\n"
                  "mail_spool_directory = %s/spool\n",
                  tmpdir);
    write_file("aliases", "prog: |/usr/bin/procmail\n"
                          "list: louen, karim\n");
    write_file("passwd", "louen:x:60001:60001::/nonexistent:/bin/sh\n"
                         "karim:x:60002:60002::/nonexistent:/bin/sh\n");
    struct relay *r = make_relay(main_cf, master_ok, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);

    struct local_msg lm;
    static const char *const to[4] = {
        "list@mx.lab.example", "prog@mx.lab.example",
        "nobody-here@mx.lab.example", "seen@mx.lab.example"};
    local_msg_init(&lm, to);
    struct queue_msg m = lm.m;
    struct smtpc_rcpt *rc = lm.rc;
    size_t *idx = lm.idx;
    /* mbox quoting of a body line starting with "From ", and a message
     * that has been here before (Delivered-To). */
    const char *data = "Delivered-To: seen@mx.lab.example\r\n"
                       "Subject: x\r\n\r\nFrom here on\r\nbody\r\n";
    struct strlist log;
    strlist_init(&log);
    struct local_passes passes = {NULL, 0};
    local_deliver(r, &m, rc, idx, 4, data, strlen(data), local_log_collect,
                  &log, &passes);
    ck_assert_uint_eq(passes.n, 0);
    ck_assert_int_eq(log.n, 5);
    ck_assert_str_eq(log.v[0], "0 louen@mx.lab.example 2 2.0.0 (delivered to "
                               "mailbox)");
    ck_assert_str_eq(log.v[1], "0 karim@mx.lab.example 2 2.0.0 (delivered to "
                               "mailbox)");
    ck_assert_str_eq(log.v[2],
                     "1 prog@mx.lab.example 5 5.3.0 (alias destination "
                     "\"|/usr/bin/procmail\" is a command or file, which "
                     "mxlab-relay does not deliver to)");
    ck_assert_str_eq(log.v[3], "2 nobody-here@mx.lab.example 5 5.1.1 (unknown "
                               "user: \"nobody-here\")");
    ck_assert_str_eq(log.v[4], "3 seen@mx.lab.example 5 5.4.6 (mail "
                               "forwarding loop for seen@mx.lab.example)");
    ck_assert_int_eq(rc[0].status, 2);
    ck_assert_int_eq(rc[1].status, 5);
    ck_assert_int_eq(rc[3].status, 5);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(rc[i].logged, 1);
        free(rc[i].reply);
    }
    char *path = xasprintf("%s/spool/louen", tmpdir), *text;
    ck_assert_int_eq(fs_read_file(path, &text, NULL), 0);
    ck_assert_msg(strncmp(text, "From sender@remote.example  ", 28) == 0, "%s",
                  text);
    ck_assert_ptr_nonnull(strstr(text,
                                 "\nReturn-Path: <sender@remote.example>\n"
                                 "X-Original-To: list@mx.lab.example\n"
                                 "Delivered-To: louen@mx.lab.example\n"));
    ck_assert_ptr_nonnull(strstr(text, "\n\n>From here on\nbody\n\n"));
    ck_assert_ptr_null(strchr(text, '\r'));
    free(text);
    free(path);
    strlist_clear(&log);
    relay_free(r);
    free(main_cf);
}
END_TEST

/* mailbox_transport and mailbox_transport_maps: after alias expansion,
 * each mailbox (once per user) is handed on, known to passwd or not, as
 * local(8)'s deliver_mailbox() does; the hand-offs' outcomes fold into the
 * queue recipient's (a deferral wins). */
START_TEST(test_local_pass)
{
    char err[512];
    write_file("aliases", "prog: |/usr/bin/procmail\n"
                          "list: louen, karim, louen\n");
    write_file("mbt", "karim lmtp:inet:127.0.0.1:24\nbob lmtp\n");
    write_file("passwd", "");
    struct relay *r =
        make_relay("myhostname = mx.lab.example\n"
                   "mydestination = $myhostname\n"
                   "alias_maps = texthash:$config_directory/aliases\n"
                   "mxlab_passwd_file = passwd\n"
                   "mailbox_transport = lmtp:unix:private/dovecot-lmtp\n"
                   "mailbox_transport_maps = texthash:$config_directory/mbt\n",
                   master_ok, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    struct local_msg lm;
    static const char *const to[4] = {
        "list@mx.lab.example", "nobody@mx.lab.example", "Bob@mx.lab.example",
        "prog@mx.lab.example"};
    local_msg_init(&lm, to);
    struct queue_msg m = lm.m;
    struct smtpc_rcpt *rc = lm.rc;
    size_t *idx = lm.idx;
    const char *data = "Subject: x\r\n\r\nbody\r\n";
    struct strlist log;
    struct local_passes passes = {NULL, 0};
    strlist_init(&log);
    local_deliver(r, &m, rc, idx, 4, data, strlen(data), local_log_collect,
                  &log, &passes);
    static const char *const want[] = {
        "0 louen@mx.lab.example lmtp unix:private/dovecot-lmtp",
        "0 karim@mx.lab.example lmtp inet:127.0.0.1:24",
        "1 nobody@mx.lab.example lmtp unix:private/dovecot-lmtp",
        "2 Bob@mx.lab.example lmtp mx.lab.example",
    };
    ck_assert_uint_eq(passes.n, 4);
    for (size_t i = 0; i < passes.n; i++) {
        char *got = xasprintf("%zu %s %s %s", passes.v[i].i, passes.v[i].addr,
                              passes.v[i].transport, passes.v[i].nexthop);
        ck_assert_str_eq(got, want[i]);
        free(got);
    }
    ck_assert_int_eq(log.n, 1); /* prog's, the only piece not handed on */
    ck_assert_int_eq(rc[0].status, 2);
    ck_assert_int_eq(rc[3].status, 5);
    /* A hand-off's bounce, then its deferral: the deferral stays. */
    struct smtpc_rcpt bounced = {.status = 5, .dsn = "5.1.1"};
    struct smtpc_rcpt deferred = {.status = 4, .dsn = "4.2.2"};
    bounced.reply = "host x said: 550";
    bounced.diag = "550 5.1.1 unknown";
    deferred.reply = "host x said: 452";
    local_fold(&rc[0], &bounced);
    ck_assert_int_eq(rc[0].status, 5);
    ck_assert_str_eq(rc[0].diag, "550 5.1.1 unknown");
    local_fold(&rc[0], &deferred);
    local_fold(&rc[0], &bounced);
    ck_assert_int_eq(rc[0].status, 4);
    ck_assert_str_eq(rc[0].dsn, "4.2.2");
    ck_assert_ptr_null(rc[0].diag);
    for (size_t i = 0; i < 4; i++) {
        free(rc[i].reply);
        free(rc[i].diag);
    }
    local_passes_clear(&passes);
    strlist_clear(&log);
    relay_free(r);
}
END_TEST

/* anvil's bookkeeping on the simulated clock (unit 60 s): each step lets
 * some seconds pass, then counts an event for client "a" (or "b") of
 * service "smtp" and expects what anvil answers. */
enum { AV_CONNECT, AV_DISCONNECT, AV_MAIL, AV_RCPT };
static const struct {
    long advance;
    int op;
    const char *addr;
    int count, rate; /* connect: both; mail, rcpt: rate */
    size_t entries;  /* kept afterwards */
} anvil_steps[] = {
    {0, AV_CONNECT, "a", 1, 1, 1},
    {10, AV_CONNECT, "a", 2, 2, 1},
    {0, AV_MAIL, "a", 0, 1, 1},
    {0, AV_MAIL, "a", 0, 2, 1},
    {0, AV_RCPT, "a", 0, 1, 1},
    {0, AV_CONNECT, "b", 1, 1, 2},
    {0, AV_MAIL, "c", 0, 0, 2}, /* never connected: nothing counted */
    /* The window (from the first event at 0) ends after 60 s: all
     * rates start again, the open connections stay counted. */
    {50, AV_CONNECT, "a", 3, 3, 2},
    {1, AV_CONNECT, "a", 4, 1, 2},
    {0, AV_MAIL, "a", 0, 1, 2},
    {0, AV_DISCONNECT, "a", 0, 0, 2},
    {0, AV_DISCONNECT, "a", 0, 0, 2},
    {0, AV_DISCONNECT, "a", 0, 0, 2},
    {0, AV_DISCONNECT, "a", 0, 0, 2},
    {0, AV_DISCONNECT, "b", 0, 0, 2},
    /* Unused for a whole unit: forgotten when next met ("a" starts
     * anew, "b" is gone). */
    {60, AV_CONNECT, "a", 1, 1, 2},
    {0, AV_MAIL, "a", 0, 1, 2},
    {0, AV_MAIL, "b", 0, 0, 1},
};

START_TEST(test_anvil)
{
    struct anvil *a = anvil_new();
    int count = 0, rate = 0;

    clock_simulate(1700000000);
    for (size_t i = 0; i < sizeof(anvil_steps) / sizeof(anvil_steps[0]); i++) {
        struct timeval tv = {anvil_steps[i].advance, 0};
        const char *addr = anvil_steps[i].addr;
        clock_advance(&tv);
        switch (anvil_steps[i].op) {
        case AV_CONNECT:
            anvil_connect(a, "smtp", addr, 60, &count, &rate);
            ck_assert_int_eq(count, anvil_steps[i].count);
            break;
        case AV_DISCONNECT:
            anvil_disconnect(a, "smtp", addr, 60);
            rate = anvil_steps[i].rate;
            break;
        case AV_MAIL:
            rate = anvil_mail(a, "smtp", addr, 60);
            break;
        default:
            rate = anvil_rcpt(a, "smtp", addr, 60);
        }
        ck_assert_msg(rate == anvil_steps[i].rate, "step %zu: rate %d, not %d",
                      i, rate, anvil_steps[i].rate);
        ck_assert_msg(anvil_size(a) == anvil_steps[i].entries,
                      "step %zu: %zu entries, not %zu", i, anvil_size(a),
                      anvil_steps[i].entries);
    }
    anvil_free(a);
}
END_TEST

/* master.cf maxproc ("-": default_process_limit) and the parameters of
 * sessions under stress: Postfix's ${stress?...} defaults. */
START_TEST(test_service_limits)
{
    char err[512] = "";
    struct relay *r = make_relay(
        "default_process_limit = 7\n"
        "smtpd_client_event_limit_exceptions = 127.0.0.0/8 host.example "
        "!127.10.0.1 hash:/etc/postfix/clients\n",
        "2525 inet n - n - - smtpd\n2526 inet n - n - 0 smtpd\n"
        "2527 inet n - n - 3 smtpd -o smtpd_per_record_deadline=yes\n",
        err, sizeof(err));

    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_uint_eq(r->nlisteners, 3);
    ck_assert_int_eq(r->listeners[0]->svc->maxproc, 7);
    ck_assert_int_eq(r->listeners[1]->svc->maxproc, 0);
    ck_assert_int_eq(r->listeners[2]->svc->maxproc, 3);
    ck_assert_int_eq(r->listeners[0]->svc->p.smtpd_timeout, 300);
    ck_assert_int_eq(r->listeners[0]->svc->p.smtpd_per_request_deadline, 0);
    ck_assert_int_eq(r->listeners[0]->svc->p.smtpd_hard_error_limit, 20);
    ck_assert_int_eq(r->listeners[0]->svc->stress_p.smtpd_timeout, 10);
    ck_assert_int_eq(r->listeners[0]->svc->stress_p.smtpd_per_request_deadline,
                     1);
    ck_assert_int_eq(r->listeners[0]->svc->stress_p.smtpd_hard_error_limit, 1);
    ck_assert_int_eq(r->listeners[2]->svc->p.smtpd_per_request_deadline, 1);
    ck_assert_int_eq(r->p.smtpd_client_connection_count_limit, 50);
    ck_assert_int_eq(r->p.anvil_rate_time_unit, 60);
    ck_assert_int_eq(r->p.smtpd_recipient_overshoot_limit, 1000);
    /* Names, negations and tables are warned about and left out. */
    ck_assert_uint_eq(r->p.nevent_limit_exceptions, 1);
    relay_free(r);
}
END_TEST

static Suite *relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_local_delivery);
    tcase_add_test(tc, test_local_pass);
    tcase_add_loop_test(tc, test_virtual, 0,
                        sizeof(virtual_cases) / sizeof(virtual_cases[0]));
    tcase_add_loop_test(tc, test_resolve, 0,
                        sizeof(resolve_cases) / sizeof(resolve_cases[0]));
    tcase_add_loop_test(tc, test_resolve_quote, 0,
                        sizeof(quote_cases) / sizeof(quote_cases[0]));
    tcase_add_loop_test(tc, test_route, 0,
                        sizeof(route_cases) / sizeof(route_cases[0]));
    tcase_add_loop_test(tc, test_vmailbox, 0,
                        sizeof(vmailbox_cases) / sizeof(vmailbox_cases[0]));
    tcase_add_loop_test(tc, test_relay_control, 0,
                        sizeof(relay_control_cases) /
                            sizeof(relay_control_cases[0]));
    tcase_add_loop_test(tc, test_param_warnings, 0,
                        sizeof(warn_cases) / sizeof(warn_cases[0]));
    tcase_add_loop_test(tc, test_config_errors, 0,
                        sizeof(config_error_cases) /
                            sizeof(config_error_cases[0]));
    tcase_add_loop_test(tc, test_line_scan, 0,
                        sizeof(line_cases) / sizeof(line_cases[0]));
    tcase_add_test(tc, test_line_helpers);
    tcase_add_test(tc, test_queue_commit_recover);
    tcase_add_test(tc, test_bounce_report);
    tcase_add_test(tc, test_deferred_on_disk);
    tcase_add_test(tc, test_table_cache);
    tcase_add_loop_test(tc, test_restriction_find, 0,
                        sizeof(restriction_cases) /
                            sizeof(restriction_cases[0]));
    tcase_add_loop_test(tc, test_filter_split, 0,
                        sizeof(filter_cases) / sizeof(filter_cases[0]));
    tcase_add_test(tc, test_receive_overrides);
    tcase_add_test(tc, test_master_transports);
    tcase_add_test(tc, test_queue_filter);
    tcase_add_test(tc, test_anvil);
    tcase_add_test(tc, test_service_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(relay_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
