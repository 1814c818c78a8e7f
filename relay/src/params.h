/*
 * params.h — the main.cf parameters mxlab-relay implements, in one table
 * (name, type, Postfix 3.7 default, bounds, the struct relay_params field
 * it sets, what is missing when only partly implemented): defaults,
 * parsing, "postconf -d" and the start-up warnings about parameters
 * Postfix knows and the relay does not all come from it.
 */
#ifndef RELAY_PARAMS_H
#define RELAY_PARAMS_H

#include <stddef.h>

#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "policy_client.h"
#include "sasl.h"

struct config;

/* Parameters read at start and at reload (Postfix names). */
struct relay_params {
    char *myhostname;
    char *smtpd_banner;
    char *queue_directory;
    char *maillog_file;
    char *relayhost;
    char *default_transport;
    char *relay_transport;
    char *mxlab_dns_servers;
    char *myorigin;
    char *home_mailbox;
    char *mail_spool_directory;
    char *mailbox_transport; /* local.c: "" or "lmtp:..." */
    struct strlist mailbox_transport_maps;
    char *virtual_transport; /* the virtual mailbox class */
    struct strlist virtual_mailbox_domains;
    struct strlist virtual_mailbox_maps;
    struct strlist alias_maps;
    struct strlist local_recipient_maps;
    struct strlist relay_recipient_maps;
    struct strlist mydestination;
    struct strlist relay_domains;
    struct strlist fast_flush_domains;
    char *smtpd_discard_ehlo_keywords;
    struct strlist smtpd_discard_ehlo_keyword_address_maps;
    struct strlist virtual_alias_domains;
    struct strlist smtpd_client_restrictions;
    struct strlist smtpd_helo_restrictions;
    struct strlist smtpd_sender_restrictions;
    struct strlist smtpd_relay_restrictions;
    struct strlist smtpd_recipient_restrictions;
    struct sasl_conf sasl;                    /* smtpd_sasl_* (sasl.c) */
    struct policy_client_conf policy_service; /* smtpd_policy_service_* */
    struct cidr *mynetworks;
    size_t nmynetworks;
    struct netaddr *inet_addrs; /* this host's interface addresses */
    size_t ninet_addrs;
    int strict_rfc821_envelopes;
    int smtp_skip_5xx_greeting;
    int allow_untrusted_routing;
    /* trivial-rewrite's address resolution (resolve.h). */
    char *mydomain;
    int allow_percent_hack;
    int swap_bangpath;
    int resolve_dequoted_address;
    int resolve_null_domain;
    int resolve_numeric_domain;
    int append_at_myorigin;
    int append_dot_mydomain;
    int inet_ipv4, inet_ipv6; /* inet_protocols */
    int disable_vrfy_command;
    int smtputf8_enable;
    int smtp_tcp_port;
    int lmtp_tcp_port;
    long message_size_limit;
    long smtpd_recipient_limit;
    long smtp_destination_concurrency_limit; /* 0: no limit */
    long relay_destination_concurrency_limit;
    long minimal_backoff_time;
    long maximal_backoff_time;
    long queue_run_delay;
    long qmgr_message_active_limit;
    long maximal_queue_lifetime;
    long bounce_queue_lifetime;
    long delay_warning_time; /* 0: no delay warnings */
    long smtp_connect_timeout;
    long smtp_helo_timeout;
    long smtp_data_done_timeout;
    long smtp_connection_cache_time_limit; /* 0: no connection cache */
    long smtpd_timeout;
    long virtual_alias_recursion_limit;
    long virtual_alias_expansion_limit;
    int smtpd_tls_level; /* RELAY_TLS_*: per service (master.cf -o) */
    int smtpd_tls_wrappermode;
    long smtpd_soft_error_limit;
    long smtpd_hard_error_limit;
    long smtpd_error_sleep_time;
    long smtpd_junk_command_limit;
    /* SMTP smuggling (Postfix >= 3.7.10): SMTPD_BARE_LF_* bits, the
     * clients left out ($mynetworks), the reply code of "reject";
     * RFC 2920 pipelining enforced; stray CR/LF in content masked. */
    int smtpd_forbid_bare_newline;
    struct cidr *bare_lf_exclusions;
    size_t nbare_lf_exclusions;
    int smtpd_forbid_bare_newline_reject_code;
    int smtpd_forbid_unauth_pipelining;
    int cleanup_replace_stray_cr_lf;
    /* Limits on one client (anvil.c): anvil(8)'s rates per
     * anvil_rate_time_unit, smtpd_client_event_limit_exceptions left
     * out; smtpd_timeout per request line instead of per read;
     * smtpd_recipient_overshoot_limit. 0: no limit. */
    long smtpd_client_connection_count_limit;
    long smtpd_client_connection_rate_limit;
    long smtpd_client_message_rate_limit;
    long smtpd_client_recipient_rate_limit;
    long anvil_rate_time_unit;
    struct cidr *event_limit_exceptions;
    size_t nevent_limit_exceptions;
    int smtpd_per_request_deadline;
    long smtpd_recipient_overshoot_limit;
    /* Milters (milter.c): the list, what a failed one means, the
     * protocol version, timeouts and the macros of each stage. */
    char *smtpd_milters;
    char *milter_default_action;
    long milter_protocol;
    long milter_connect_timeout;
    long milter_command_timeout;
    long milter_content_timeout;
    char *milter_connect_macros, *milter_helo_macros, *milter_mail_macros;
    char *milter_rcpt_macros, *milter_data_macros;
    char *milter_end_of_header_macros, *milter_end_of_data_macros;
    char *milter_macro_daemon_name, *milter_macro_v;
    /* The after-queue content filter (filter.c): "transport:nexthop"
     * recorded in the queue file of each message received ("": none),
     * the next hop when it names none (default: the recipient domain),
     * receive_override_options' FILTER_NO_* bits, and the delivery
     * service settings of the amavis recipe. */
    char *content_filter;
    char *default_filter_nexthop;
    int receive_override;
    int disable_dns_lookups;
};

/* Set the default of every parameter in the table (those that depend on
 * compatibility_level or the host name are set by relay.c). */
void relay_params_defaults(struct config *cf);

/* Postfix 3.7's default for a parameter the relay implements (in this
 * table, sasl.c's or policy_client.c's), or NULL. */
const char *relay_params_default(const char *name);

/* strlist fields ready (before relay_params_load); _free releases what
 * the table-driven fields hold. */
void relay_params_init(struct relay_params *p);
void relay_params_free(struct relay_params *p);

/* Parse the table's typed parameters of cf into p. -1 with
 * "file:line: what" in err for a bad boolean, number or time, or one out
 * of its bounds. */
int relay_params_load(struct config *cf, struct relay_params *p, char *err,
                      size_t errlen);

/* The warnings of a start or reload, through log_warnx and into out (for
 * the mail log, which is not open yet), each naming the file:line that
 * set the parameter: one Postfix knows that the relay does not implement
 * ("... is not implemented by mxlab-relay; ..."), one it implements in
 * part (what is missing), and one neither knows nor any setting uses as
 * $name (postconf's "unused parameter"). overrides: the master.cf "-o"
 * settings as (where, name, value) triples; services: the names of
 * master.cf's delivery services (transports the relay has), or NULL. */
void relay_params_warn(struct config *cf, const struct strlist *overrides,
                       const struct strlist *services, struct strlist *out);

#endif
