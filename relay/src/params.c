/*
 * params.c — the table of the main.cf parameters mxlab-relay implements
 * (see params.h), the typed ones parsed from it, and the warnings about
 * parameters it ignores: postconf(5) names and Postfix 3.7.11 defaults.
 * Adding a parameter is one entry here (and its field in relay_params
 * for a typed one); relay.c keeps the few that need code of their own
 * (RP_CODE), which still appear here so that nothing is silently ignored.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/config.h"
#include "mxlab/log.h"
#include "mxlab/xmem.h"
#include "params.h"
#include "policy_client.h"
#include "sasl.h"

/* 1 if "transport[:nexthop]" value names the transport name. */
static int relay_param_transport_is(const char *value, const char *name)
{
    size_t n = strcspn(value, ":");

    return strlen(name) == n && strncmp(value, name, n) == 0;
}

/* A transport that qmgr.c does not have (pipe, lmtp, virtual, a
 * master.cf service): "transport[:nexthop]". */
static int relay_param_other_transport(const char *value)
{
    static const char *const known[] = {"smtp",    "relay", "error",
                                        "discard", "local", "lmtp"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (relay_param_transport_is(value, known[i]))
            return 0;
    return 1;
}

/* mailbox_transport: one local(8) can hand a mailbox delivery to (not
 * local itself, which would hand it on again); "" delivers itself. */
static int relay_param_other_mailbox_transport(const char *value)
{
    return value[0] != '\0' && (relay_param_other_transport(value) ||
                                relay_param_transport_is(value, "local"));
}

/* A setting that turns on what is left out: yes, or any words. */
static int relay_param_yes(const char *value)
{
    return str_casecmp(value, "yes") == 0 || str_casecmp(value, "true") == 0;
}

static int relay_param_nonempty(const char *value)
{
    return value[strspn(value, " \t,")] != '\0';
}

#define RP_TRANSPORTS                                                          \
    "only the smtp, relay, error, discard, local and lmtp transports and "     \
    "master.cf's smtp and lmtp services; mail for another is deferred (mail "  \
    "transport unavailable)"

enum relay_param_type {
    RP_STR,  /* char *, the expanded value */
    RP_LIST, /* struct strlist, split at commas and white space */
    RP_BOOL, /* int 0/1: yes/no/true/false, anything else an error */
    RP_LONG, /* long within [min, max] */
    RP_TIME, /* long seconds within [min, max]; unit: default unit */
    RP_CODE, /* read by code elsewhere (relay.c, tls.c, priv.c, main.c) */
    RP_NOOP, /* accepted, no effect in a lab (and said so nowhere) */
};

#define RP_NOFIELD ((size_t)-1)

struct relay_param {
    const char *name;
    enum relay_param_type type;
    const char *def; /* Postfix 3.7.11's default; NULL: set by relay.c */
    long min, max;
    char unit;
    size_t off;          /* into struct relay_params, or RP_NOFIELD */
    const char *partial; /* what the relay leaves out, or NULL */
    /* With partial: 1 if this value needs what is left out (NULL: any
     * setting does). */
    int (*needs_missing)(const char *value);
};

/* clang-format off */
#define F(field) offsetof(struct relay_params, field)
#define TYPED(n, t, d, lo, hi, u) \
    {.name = #n, .type = (t), .def = (d), .min = (lo), .max = (hi), \
     .unit = (u), \
     .off = F(n)}
#define STR(n, d) TYPED(n, RP_STR, d, 0, 0, 0)
#define LIST(n, d) TYPED(n, RP_LIST, d, 0, 0, 0)
#define BOOL(n, d) TYPED(n, RP_BOOL, d, 0, 1, 0)
#define LONG(n, d, lo) TYPED(n, RP_LONG, d, lo, LONG_MAX, 0)
#define TIME(n, d, u) TYPED(n, RP_TIME, d, 0, LONG_MAX, u)
#define CODE(n, d) {.name = #n, .type = RP_CODE, .def = (d), .off = RP_NOFIELD}
#define NOOP(n, d) {.name = #n, .type = RP_NOOP, .def = (d), .off = RP_NOFIELD}
#define PART(n, d, what) \
    {.name = #n, .type = RP_CODE, .def = (d), .off = RP_NOFIELD, \
     .partial = (what)}
#define PARTIF(n, d, what, fn) \
    {.name = #n, .type = RP_CODE, .def = (d), .off = RP_NOFIELD, \
     .partial = (what), .needs_missing = (fn)}
#define PARTSTR(n, d, what, fn) \
    {.name = #n, .type = RP_STR, .def = (d), .off = F(n), .partial = (what), \
     .needs_missing = (fn)}
/* clang-format on */

static const struct relay_param relay_param_table[] = {
    /* Identity, files, logging. */
    CODE(mail_name, "Postfix"),
    CODE(mail_version, "3.7.11"),
    CODE(mail_owner, "postfix"),
    STR(myhostname, NULL),
    STR(mydomain, NULL),
    STR(myorigin, "$myhostname"),
    STR(smtpd_banner, "$myhostname ESMTP $mail_name"),
    STR(queue_directory, "/var/spool/mxlab"),
    STR(maillog_file, ""),
    CODE(syslog_name, "postfix"),
    CODE(config_directory, NULL),
    CODE(compatibility_level, "0"),
    CODE(inet_interfaces, "all"),
    PART(inet_protocols, "all",
         "it only decides which interface addresses are this host's in "
         "[address] literals; the relay listens where master.cf says"),
    /* Address classes and routing (trivial-rewrite). */
    LIST(mydestination, "$myhostname, localhost.$mydomain, localhost"),
    LIST(relay_domains, NULL),
    LIST(virtual_alias_domains, "$virtual_alias_maps"),
    CODE(virtual_alias_maps, "$virtual_maps"),
    CODE(virtual_maps, ""),
    CODE(transport_maps, ""),
    STR(relayhost, ""),
    PARTSTR(default_transport, "smtp", RP_TRANSPORTS,
            relay_param_other_transport),
    PARTSTR(relay_transport, "relay", RP_TRANSPORTS,
            relay_param_other_transport),
    PART(local_transport, "local:$myhostname",
         "local class mail always goes to the relay's local(8)"),
    LIST(virtual_mailbox_domains, "$virtual_mailbox_maps"),
    LIST(virtual_mailbox_maps, ""),
    PARTSTR(virtual_transport, "virtual", RP_TRANSPORTS,
            relay_param_other_transport),
    BOOL(allow_untrusted_routing, "no"),
    BOOL(allow_percent_hack, "yes"),
    BOOL(swap_bangpath, "yes"),
    BOOL(resolve_dequoted_address, "yes"),
    BOOL(resolve_null_domain, "no"),
    BOOL(resolve_numeric_domain, "no"),
    BOOL(append_at_myorigin, "yes"),
    BOOL(append_dot_mydomain, NULL),
    LIST(fast_flush_domains, "$relay_domains"),
    LONG(virtual_alias_recursion_limit, "1000", 1),
    LONG(virtual_alias_expansion_limit, "1000", 1),
    /* Local delivery. */
    LIST(alias_maps, "hash:/etc/aliases, nis:mail.aliases"),
    CODE(alias_database, "hash:/etc/aliases"),
    LIST(local_recipient_maps, "proxy:unix:passwd.byname $alias_maps"),
    STR(mail_spool_directory, "/var/mail"),
    STR(home_mailbox, ""),
    PARTSTR(mailbox_transport, "", RP_TRANSPORTS,
            relay_param_other_mailbox_transport),
    LIST(mailbox_transport_maps, ""),
    /* smtpd. */
    LIST(relay_recipient_maps, ""),
    LIST(smtpd_client_restrictions, ""),
    LIST(smtpd_helo_restrictions, ""),
    LIST(smtpd_sender_restrictions, ""),
    LIST(smtpd_relay_restrictions, NULL),
    LIST(smtpd_recipient_restrictions, NULL),
    CODE(mynetworks, NULL),
    CODE(mynetworks_style, NULL),
    BOOL(strict_rfc821_envelopes, "no"),
    BOOL(disable_vrfy_command, "no"),
    BOOL(smtputf8_enable, "yes"),
    STR(smtpd_discard_ehlo_keywords, ""),
    LIST(smtpd_discard_ehlo_keyword_address_maps, ""),
    LONG(message_size_limit, "10240000", 0),
    LONG(smtpd_recipient_limit, "1000", 1),
    LONG(smtpd_soft_error_limit, "10", 0),
    LONG(smtpd_hard_error_limit, "${stress?{1}:{20}}", 0),
    TIME(smtpd_error_sleep_time, "1s", 's'),
    LONG(smtpd_junk_command_limit, "${stress?{1}:{100}}", 0),
    TIME(smtpd_timeout, "${stress?{10}:{300}}s", 's'),
    /* Client limits (anvil.c) and master's process limit (master.c).
     * smtpd_per_record_deadline and smtpd_client_connection_limit_exceptions
     * are Postfix's older names, read through the newer ones' defaults. */
    LONG(smtpd_client_connection_count_limit, "50", 0),
    LONG(smtpd_client_connection_rate_limit, "0", 0),
    LONG(smtpd_client_message_rate_limit, "0", 0),
    LONG(smtpd_client_recipient_rate_limit, "0", 0),
    CODE(smtpd_client_event_limit_exceptions,
         "${smtpd_client_connection_limit_exceptions:$mynetworks}"),
    CODE(smtpd_client_connection_limit_exceptions, NULL),
    TYPED(anvil_rate_time_unit, RP_TIME, "60s", 1, LONG_MAX, 's'),
    LONG(smtpd_recipient_overshoot_limit, "1000", 0),
    BOOL(smtpd_per_request_deadline,
         "${smtpd_per_record_deadline?{$smtpd_per_record_deadline}:"
         "{${stress?{yes}:{no}}}}"),
    CODE(smtpd_per_record_deadline, NULL),
    CODE(default_process_limit, "100"),
    CODE(stress, ""),
    /* SMTP smuggling: Postfix 3.9's default, not 3.7.11's "no". */
    CODE(smtpd_forbid_bare_newline, "normalize"),
    CODE(smtpd_forbid_bare_newline_exclusions, "$mynetworks"),
    CODE(smtpd_forbid_bare_newline_reject_code, "550"),
    BOOL(smtpd_forbid_unauth_pipelining, "no"),
    BOOL(cleanup_replace_stray_cr_lf, "yes"),
    /* Milters (milter.c): asked command by command, asynchronously. */
    STR(smtpd_milters, ""),
    PART(non_smtpd_milters, "",
         "mail enters the relay only by SMTP (no sendmail(1) or pickup(8))"),
    STR(milter_default_action, "tempfail"),
    {.name = "milter_protocol",
     .type = RP_LONG,
     .def = "6",
     .min = 2,
     .max = 6,
     .off = F(milter_protocol)},
    TIME(milter_connect_timeout, "30s", 's'),
    TIME(milter_command_timeout, "30s", 's'),
    TIME(milter_content_timeout, "300s", 's'),
    STR(milter_connect_macros, "j {daemon_name} {daemon_addr} v _"),
    STR(milter_helo_macros,
        "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}"),
    STR(milter_mail_macros, "i {auth_type} {auth_authen} {auth_author} "
                            "{mail_addr} {mail_host} {mail_mailer}"),
    STR(milter_rcpt_macros, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}"),
    STR(milter_data_macros, "i"),
    STR(milter_end_of_header_macros, "i"),
    STR(milter_end_of_data_macros, "i"),
    STR(milter_macro_daemon_name, "$myhostname"),
    STR(milter_macro_v, "$mail_name $mail_version"),
    /* The after-queue content filter (filter.c, FILTER_README), and what
     * the amavis recipe sets on its master.cf services. */
    STR(content_filter, ""),
    STR(default_filter_nexthop, ""),
    CODE(receive_override_options, ""),
    BOOL(disable_dns_lookups, "no"),
    PARTIF(smtp_send_xforward_command, "no",
           "XFORWARD is never sent (the queue file keeps no client "
           "attributes); the filter sees the relay as the client",
           relay_param_yes),
    NOOP(max_use, "100"),
    PARTIF(smtpd_restriction_classes, "",
           "restriction classes are not implemented; a class name in a "
           "restriction list is an unknown restriction",
           relay_param_nonempty),
    /* smtpd TLS (tls.c). */
    BOOL(smtpd_tls_wrappermode, "no"),
    CODE(smtpd_tls_security_level, ""),
    CODE(smtpd_use_tls, "no"),
    CODE(smtpd_enforce_tls, "no"),
    CODE(smtpd_tls_cert_file, ""),
    CODE(smtpd_tls_key_file, "$smtpd_tls_cert_file"),
    CODE(smtpd_tls_chain_files, ""),
    CODE(smtpd_tls_loglevel, "0"),
    CODE(smtpd_tls_received_header, "no"),
    /* Queue manager and SMTP client. */
    CODE(smtp_tcp_port, "smtp"),
    CODE(lmtp_tcp_port, "24"),
    BOOL(smtp_skip_5xx_greeting, "yes"),
    CODE(default_destination_concurrency_limit, "20"),
    LONG(smtp_destination_concurrency_limit,
         "$default_destination_concurrency_limit", 0),
    LONG(relay_destination_concurrency_limit,
         "$default_destination_concurrency_limit", 0),
    TIME(minimal_backoff_time, "300s", 's'),
    TIME(maximal_backoff_time, "4000s", 's'),
    TIME(queue_run_delay, "300s", 's'),
    LONG(qmgr_message_active_limit, "20000", 1),
    TIME(maximal_queue_lifetime, "5d", 'd'),
    TIME(bounce_queue_lifetime, "5d", 'd'),
    TIME(delay_warning_time, "0h", 'h'),
    CODE(double_bounce_sender, "double-bounce"), /* smtpd.c: never refused */
    TIME(smtp_connect_timeout, "30s", 's'),
    TIME(smtp_helo_timeout, "300s", 's'),
    TIME(smtp_data_done_timeout, "600s", 's'),
    CODE(smtp_connection_cache_on_demand, "yes"),
    CODE(smtp_connection_cache_time_limit, "2s"),
    /* mxlab's own (never warned about). */
    STR(mxlab_dns_servers, ""),
    /* The passwd(5) file that unix:passwd.byname reads, so a lab can
     * have local users without touching the host's. */
    CODE(mxlab_passwd_file, "/etc/passwd"),
    /* Accepted with no effect: installation paths and switches that
     * mean nothing to a relay that runs inside a lab. */
    NOOP(biff, "yes"),
    NOOP(readme_directory, "no"),
    NOOP(html_directory, "no"),
    NOOP(manpage_directory, "/usr/share/man"),
    NOOP(sample_directory, "/etc/postfix"),
    NOOP(sendmail_path, "/usr/sbin/sendmail"),
    NOOP(newaliases_path, "/usr/bin/newaliases"),
    NOOP(mailq_path, "/usr/bin/mailq"),
    NOOP(setgid_group, "postdrop"),
    NOOP(command_directory, "/usr/sbin"),
    NOOP(daemon_directory, "/usr/lib/postfix/sbin"),
    NOOP(meta_directory, "/etc/postfix"),
    NOOP(shlib_directory, "/usr/lib/postfix"),
    NOOP(data_directory, "/var/lib/mxlab"),
    NOOP(maillog_file_prefixes, "/var, /dev/stdout"),
};

#define RELAY_NPARAMS (sizeof(relay_param_table) / sizeof(relay_param_table[0]))

/* rp's field in p; NULL for a parameter without one (no pointer is
 * formed from RP_NOFIELD). */
static void *relay_param_field(struct relay_params *p,
                               const struct relay_param *rp)
{
    return rp->off == RP_NOFIELD ? NULL : (char *)p + rp->off;
}

static const struct relay_param *relay_param_find(const char *name)
{
    for (size_t i = 0; i < RELAY_NPARAMS; i++)
        if (strcmp(relay_param_table[i].name, name) == 0)
            return &relay_param_table[i];
    return NULL;
}

void relay_params_defaults(struct config *cf)
{
    for (size_t i = 0; i < RELAY_NPARAMS; i++)
        if (relay_param_table[i].def != NULL)
            config_set_default(cf, relay_param_table[i].name,
                               relay_param_table[i].def);
}

const char *relay_params_default(const char *name)
{
    const struct relay_param *rp = relay_param_find(name);
    const char *v = rp != NULL ? rp->def : NULL;

    if (v == NULL)
        v = sasl_default(name);
    return v != NULL ? v : policy_client_default(name);
}

void relay_params_init(struct relay_params *p)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < RELAY_NPARAMS; i++)
        if (relay_param_table[i].type == RP_LIST)
            strlist_init(relay_param_field(p, &relay_param_table[i]));
}

void relay_params_free(struct relay_params *p)
{
    for (size_t i = 0; i < RELAY_NPARAMS; i++) {
        const struct relay_param *rp = &relay_param_table[i];
        void *field = relay_param_field(p, rp);
        if (rp->type == RP_STR) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (rp->type == RP_LIST) {
            strlist_clear(field);
        }
    }
}

/* One typed parameter into its field; -1 with err set. */
static int relay_param_load(struct config *cf, const struct relay_param *rp,
                            struct relay_params *p, char *err, size_t errlen)
{
    void *field = relay_param_field(p, rp);
    const char *where = config_where(cf, rp->name);
    long v = 0;

    switch (rp->type) {
    case RP_STR:
        free(*(char **)field);
        *(char **)field = xstrdup(config_get(cf, rp->name));
        return 0;
    case RP_LIST:
        strlist_split(field, config_get(cf, rp->name));
        return 0;
    case RP_BOOL:
        if ((*(int *)field = config_get_bool(cf, rp->name)) >= 0)
            return 0;
        snprintf(err, errlen, "%s%sbad boolean value for parameter %s: \"%s\"",
                 where ? where : "", where ? ": " : "", rp->name,
                 config_get(cf, rp->name));
        return -1;
    case RP_LONG:
        v = config_get_long(cf, rp->name, err, errlen);
        break;
    case RP_TIME:
        v = config_get_time(cf, rp->name, rp->unit, err, errlen);
        break;
    case RP_CODE:
    case RP_NOOP:
        return 0;
    }
    if (v < 0 && err[0] != '\0')
        return -1;
    if (v < rp->min || v > rp->max) {
        snprintf(err, errlen,
                 "%s%sparameter %s: \"%s\" is out of range (at least %ld)",
                 where ? where : "", where ? ": " : "", rp->name,
                 config_get(cf, rp->name), rp->min);
        return -1;
    }
    *(long *)field = v;
    return 0;
}

int relay_params_load(struct config *cf, struct relay_params *p, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < RELAY_NPARAMS; i++) {
        if (errlen > 0)
            err[0] = '\0';
        if (relay_param_load(cf, &relay_param_table[i], p, err, errlen) < 0)
            return -1;
    }
    return 0;
}

#include "postfix_params.h"

static int relay_cmp_param(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static int relay_postfix_knows(const char *name)
{
    return bsearch(name, postfix_params,
                   sizeof(postfix_params) / sizeof(postfix_params[0]),
                   sizeof(postfix_params[0]), relay_cmp_param) != NULL;
}

#define RELAY_NO_VIRTUAL                                                       \
    "mxlab-relay has no virtual(8) delivery agent (virtual_transport = "       \
    "virtual defers the mail)"

/* What a parameter the relay ignores leaves out, by name prefix; the
 * first match wins. */
static const struct {
    const char *prefix, *effect;
} relay_ignored_effects[] = {
    {"smtpd_milters", "mail is accepted without it"},
    {"non_smtpd_milters", "mail is accepted without it"},
    {"milter_", "mail is accepted without it"},
    {"smtpd_sasl_", "AUTH is not offered"},
    {"header_checks", "content is not inspected"},
    {"body_checks", "content is not inspected"},
    {"mime_header_checks", "content is not inspected"},
    {"nested_header_checks", "content is not inspected"},
    {"smtp_tls_", "deliveries are made without it"},
    {"smtp_sasl_", "deliveries are made without it"},
    {"recipient_delimiter", "user+extension is looked up whole"},
    {"mailbox_size_limit", "mailboxes have no size limit"},
    /* virtual(8)'s own settings (virtual_mailbox_domains and _maps are
     * trivial-rewrite's and smtpd's, in the table). */
    {"virtual_mailbox_", RELAY_NO_VIRTUAL},
    {"virtual_minimum_uid", RELAY_NO_VIRTUAL},
    {"virtual_uid_maps", RELAY_NO_VIRTUAL},
    {"virtual_gid_maps", RELAY_NO_VIRTUAL},
    {"virtual_delivery_status_filter", RELAY_NO_VIRTUAL},
    {"virtual_destination_", RELAY_NO_VIRTUAL},
    {"smtpd_", "mail is accepted without it"},
    {"", "it has no effect"},
};

static const char *relay_ignored_effect(const char *name)
{
    size_t i = 0;

    while (strncmp(name, relay_ignored_effects[i].prefix,
                   strlen(relay_ignored_effects[i].prefix)) != 0)
        i++;
    return relay_ignored_effects[i].effect;
}

struct relay_unused {
    struct config *cf;
    struct strbuf all;              /* every value, for $name references */
    struct strlist *out;            /* the warnings given */
    const struct strlist *services; /* master.cf delivery services */
};

/* value ("transport[:nexthop]") names a master.cf delivery service,
 * which qmgr reaches like a built-in transport (filter.c). */
static int relay_param_service(const struct relay_unused *u, const char *value)
{
    for (size_t i = 0; u->services != NULL && i < u->services->n; i++)
        if (relay_param_transport_is(value, u->services->v[i]))
            return 1;
    return 0;
}

/* One warning (msg: allocated, taken over): on stderr and kept. */
static void relay_param_warning(const struct relay_unused *u, char *msg)
{
    log_warnx("%s", msg);
    strlist_push(u->out, msg);
    free(msg);
}

static void relay_collect_value(void *arg, const char *name, const char *raw)
{
    struct relay_unused *u = arg;

    (void)name;
    strbuf_puts(&u->all, raw);
    strbuf_putc(&u->all, '\n');
}

/* A reference to name ($name, ${name}, $(name)) in text. */
static int relay_referenced(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = strchr(text, '$'); p != NULL; p = strchr(p + 1, '$')) {
        const char *q = p + 1;
        if (*q == '{' || *q == '(')
            q++;
        if (strncmp(q, name, n) == 0 &&
            !(str_isalnum((unsigned char)q[n]) || q[n] == '_'))
            return 1;
    }
    return 0;
}

/* The warning for one setting (where: file:line), if it needs one. */
static void relay_param_check(const struct relay_unused *u, const char *where,
                              const char *name, const char *raw,
                              const char *value)
{
    const struct relay_param *rp = relay_param_find(name);

    /* Implemented outside this table (sasl.c, policy_client.c). */
    if (rp == NULL && relay_params_default(name) != NULL)
        return;
    if (rp != NULL) {
        if (rp->partial != NULL &&
            (rp->needs_missing == NULL || rp->needs_missing(value)) &&
            !((rp->needs_missing == relay_param_other_transport ||
               rp->needs_missing == relay_param_other_mailbox_transport) &&
              relay_param_service(u, value)))
            relay_param_warning(
                u, xasprintf(
                       "%s: %s is only partly implemented by mxlab-relay: %s",
                       where, name, rp->partial));
    } else if (strncmp(name, "mxlab_", 6) == 0) {
        relay_param_warning(
            u,
            xasprintf("%s: %s is not an mxlab-relay parameter", where, name));
    } else if (relay_postfix_knows(name)) {
        relay_param_warning(
            u, xasprintf("%s: %s is not implemented by mxlab-relay; %s", where,
                         name, relay_ignored_effect(name)));
    } else if (!relay_referenced(u->all.buf ? u->all.buf : "", name)) {
        /* postconf(1): most likely a typo. */
        relay_param_warning(
            u, xasprintf("%s: unused parameter: %s=%s", where, name, raw));
    }
}

static void relay_check_name(void *arg, const char *name, const char *raw)
{
    struct relay_unused *u = arg;
    const char *where = config_where(u->cf, name);

    if (where != NULL)
        relay_param_check(u, where, name, raw, config_get(u->cf, name));
}

/* Virtual mailbox domains whose virtual_transport is left at Postfix's
 * default, virtual(8), which the relay does not have: their mail would be
 * deferred, so say it at the line that made the domains virtual (a
 * virtual_transport set in main.cf is warned about as itself). */
static void relay_params_warn_virtual(const struct relay_unused *u)
{
    const char *where = config_where(u->cf, "virtual_mailbox_domains");
    const char *vt = config_get(u->cf, "virtual_transport");
    const char *domains = config_get(u->cf, "virtual_mailbox_domains");

    if (config_where(u->cf, "virtual_transport") != NULL ||
        !relay_param_other_transport(vt) || relay_param_service(u, vt))
        return;
    if (where == NULL)
        where = config_where(u->cf, "virtual_mailbox_maps");
    if (where == NULL || domains[strspn(domains, " \t,")] == '\0')
        return;
    relay_param_warning(
        u, xasprintf("%s: virtual_mailbox_domains: their mail goes to "
                     "virtual_transport = %s, and mxlab-relay has no "
                     "virtual(8) delivery agent: it is deferred (mail "
                     "transport unavailable); set virtual_transport = "
                     "lmtp:HOST or lmtp:unix:PATH",
                     where, vt));
}

void relay_params_warn(struct config *cf, const struct strlist *overrides,
                       const struct strlist *services, struct strlist *out)
{
    struct relay_unused u = {cf, {0}, out, services};

    strbuf_init(&u.all);
    config_each_set(cf, relay_collect_value, &u);
    for (size_t i = 0; i + 2 < overrides->n; i += 3)
        relay_collect_value(&u, overrides->v[i + 1], overrides->v[i + 2]);
    config_each_set(cf, relay_check_name, &u);
    for (size_t i = 0; i + 2 < overrides->n; i += 3)
        relay_param_check(&u, overrides->v[i], overrides->v[i + 1],
                          overrides->v[i + 2], overrides->v[i + 2]);
    relay_params_warn_virtual(&u);
    strbuf_clear(&u.all);
}
