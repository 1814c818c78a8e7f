/*
 * relay_int.h — what the relay's modules share and nobody else sees:
 * the relay object, parsed parameters, queue entries, and the functions
 * one module calls in another. One header, so the layering stays visible:
 * smtpd -> (policy, rewrite, queue) ; qmgr -> (rewrite, smtpc, queue).
 */
#ifndef RELAY_INT_H
#define RELAY_INT_H

#include <stddef.h>
#include <sys/time.h>
#include <time.h>

#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "policy_client.h"
#include "relay/relay.h"
#include "sasl.h"

struct config;
struct maplist;
struct maillog;
struct dns;
struct evconnlistener;
struct event;
struct smtpd_session;
struct smtpd_lookup;
struct smtpc;
struct smtpc_conn;
struct smtpc_rcpt;
struct anvil;
struct relay_transport;

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

/* An inet smtpd service of master.cf: main.cf's parameters with the
 * service's "-o name=value" overrides applied (master(5)). Its listeners
 * and the sessions they accepted hold references, so a session keeps
 * the parameters it started with through a reload. */
struct relay_service {
    int refs;
    char *name;        /* the service field, "127.0.0.1:2587" */
    struct config *cf; /* main.cf, then the overrides */
    struct relay_params p;
    /* master(8)'s process limit (master.cf maxproc, 0: none) as a cap on
     * concurrent sessions, and the parameters of sessions that start
     * while the service is under stress ("-o stress=yes"; master.c). */
    long maxproc;
    size_t nsessions;
    struct relay_params stress_p;
    time_t stress_until; /* stress mode until then */
    time_t busy_warned;  /* the process limit warning, last logged */
};
void relay_service_release(struct relay_service *svc);
/* Read the parameters of cf into p; -1 with "file:line: what" in err.
 * _free releases what p holds (also after a failed read). */
int relay_service_params(struct relay *r, struct config *cf,
                         struct relay_params *p, char *err, size_t errlen);
void relay_service_params_free(struct relay_params *p);
/* A list of networks (mynetworks syntax) in parameter name, where
 * "$mynetworks" stands for the computed list (p->mynetworks, read
 * first); appended to *out. -1 with "file:line: what" in err; with
 * names_ok, a word that is no network (a host name, a table) is warned
 * about and skipped instead. */
int relay_load_networks(struct config *cf, const struct relay_params *p,
                        const char *name, const char *raw, int names_ok,
                        struct cidr **out, size_t *nout, char *err,
                        size_t errlen);

/* One SMTP listener from master.cf. */
struct relay_listener {
    struct relay *r;
    struct netaddr addr;
    struct evconnlistener *lev;
    struct relay_service *svc;
};

/* RFC 3461 NOTIFY bits (Postfix's DSN_NOTIFY_*) and RET values. */
enum {
    DSN_NOTIFY_NEVER = 1 << 0,
    DSN_NOTIFY_SUCCESS = 1 << 1,
    DSN_NOTIFY_DELAY = 1 << 2,
    DSN_NOTIFY_FAILURE = 1 << 3,
};
enum { DSN_RET_NONE, DSN_RET_FULL, DSN_RET_HDRS };

/* A recipient of a queued message: the address to deliver to and the
 * address the client gave (Postfix's orig_to), with its RFC 3461
 * parameters. */
struct queue_rcpt {
    char *addr;
    char *orig;
    int done;     /* delivered or bounced: never tried again */
    char *reason; /* last deferral reason, or NULL */
    char dsn[16]; /* its enhanced status code ("4.3.2"), or "" */
    char *diag;   /* the remote server's reply then, or NULL */
    int notify;   /* DSN_NOTIFY_* bits, 0: not given */
    char *orcpt;  /* ORCPT as "type;address" (decoded), or NULL */
};

/* A recipient that failed for good, kept until the sender is told. */
struct bounce_entry {
    char *addr, *orig;
    char *orcpt; /* RFC 3461 ORCPT "type;address", or NULL */
    int notify;  /* DSN_NOTIFY_* bits, 0: not given */
    char dsn[16];
    char *reason; /* the text Postfix logs: "host x said: ... (in ...)" */
    char *diag;   /* the remote server's reply, or NULL */
    char *remote; /* Remote-MTA host, or NULL */
};

struct queue_msg {
    char id[16];
    char *sender;
    int dsn_ret;     /* DSN_RET_* (RFC 3461 RET) */
    char *dsn_envid; /* RFC 3461 ENVID (decoded), or NULL */
    char *filter;    /* content_filter "transport:nexthop", or NULL */
    time_t arrival;
    long arrival_usec; /* for the log's delay= and delays= */
    size_t size;       /* message bytes */
    struct queue_rcpt *rcpts;
    size_t nrcpt;
    int state;       /* QUEUE_* */
    time_t next_try; /* not before then (deferred/: the file's mtime) */
    int in_delivery; /* deliveries in progress for this message */
    int deleted;     /* postsuper -d while in delivery: drop at the end */
    int warned;      /* the delay warning went to the sender */
    int ondisk;      /* read from deferred/ or hold/ for an admin command:
                        not in r->queue, freed by whoever loaded it */
    struct bounce_entry *bounces; /* failed for good, sender not told */
    size_t nbounces;
    /* Relayed to a next hop without DSN, NOTIFY=SUCCESS asked: the
     * sender gets a "relayed" notice (not kept across restarts). */
    struct bounce_entry *successes;
    size_t nsuccesses;
    struct queue_msg *next;
};

enum { QUEUE_ACTIVE, QUEUE_DEFERRED, QUEUE_HOLD };

struct relay {
    struct event_base *base;
    char *config_dir;
    struct config *cf;
    struct relay_params p;
    struct maplist *virtual_alias_maps;
    /* Tables named in restriction and domain lists, opened on first use
     * and kept, as Postfix's daemons keep theirs (a failed open is kept
     * too, as NULL, so that it is reported once). */
    struct relay_table {
        char *spec;
        struct map *map;
    } * tables;
    size_t ntables;
    struct maplist *transport_maps;
    struct relay_transport *transports; /* master.cf's (filter.c) */
    struct strlist passwd_tables;       /* "unix:passwd.byname" */
    struct strlist param_warnings;      /* params.c's, for the mail log */
    struct maillog *log;
    struct dns *dns;
    struct relay_listener **listeners;
    size_t nlisteners;
    int pid_fd; /* queue_directory/pid/master.pid, locked; -1 if none */
    struct smtpd_session *sessions;
    struct smtpd_lookup *lookups;       /* client name lookups in progress */
    struct policy_check *policy_checks; /* RCPT checks in progress */
    /* The active queue: messages being scheduled or delivered, at most
     * qmgr_message_active_limit from deferred/. Deferred and held
     * messages are on disk only, as in Postfix (a deferred file's mtime is
     * its next delivery time), so memory does not grow with them. */
    struct queue_msg *queue;
    struct queue_msg *queue_tail;
    size_t queue_count;
    /* Group commit: messages written, waiting for one syncfs. */
    struct queue_pending *pending;
    size_t npending, cpending;
    /* Deferrals written to deferred/ID.tmp, renamed after that syncfs. */
    struct queue_msg **deferring;
    size_t ndeferring, cdeferring;
    struct event *commit_ev;
    int queue_dirfd;               /* -1 until queue_open() */
    struct smtpc *clients;         /* deliveries in progress */
    struct smtpc_conn *conn_cache; /* idle connections kept for reuse */
    size_t ndeliveries;
    struct event *qmgr_timer;
    time_t qmgr_start; /* deferred-queue scans: every queue_run_delay */
    long scan_slot;  /* the last scan's (now - qmgr_start) / queue_run_delay */
    int scan_wanted; /* scan deferred/ at the next pass (flush, release,
                        or the active limit stopped the last scan) */
    size_t deferred_left;           /* files the last scan left in deferred/ */
    int qmgr_pending;               /* a scheduling pass is queued */
    struct evconnlistener *control; /* admin commands while running */
    char *control_path;
    relay_change_fn *change_fn;
    void *change_arg;
    struct relay_tls *tls;           /* smtpd_tls_* (tls.c) */
    struct policy_pool *policy_pool; /* check_policy_service connections */
    struct anvil *anvil;             /* client counts and rates (anvil.c) */
    /* accept() failed for lack of descriptors: listeners paused until
     * the timer runs out or a session ends (master.c). */
    struct event *accept_pause;
    int accept_paused;
    time_t accept_warned; /* the shortage was last logged then */
};

/* relay.c */
void relay_changed(struct relay *r);
/* A table was built again (postmap, postalias, newaliases): as Postfix's
 * daemons, which restart when one of their tables changed and then read
 * main.cf too, the relay reads its configuration and tables again, without
 * master's reload log line. 0, or -1 with err (configuration kept). */
int relay_tables_changed(struct relay *r, char *err, size_t errlen);
/* The relay's default for a Postfix parameter it implements, or NULL. */
const char *relay_default(const char *name);
/* Now on the relay's clock, as Postfix writes dates in headers:
 * "Mon, 23 Nov 2026 08:59:46 +0000 (UTC)". */
void relay_date(char *buf, size_t len);
/* The table named spec ("hash:/etc/postfix/whitelist"), opened once; NULL
 * if it cannot be opened (warned about the first time). Owned by r. */
struct map *relay_table(struct relay *r, const char *spec);
/* 1 if addr is one of this host's interface addresses
 * (permit_inet_interfaces). */
int relay_is_inet_interface(const struct relay *r, const struct netaddr *a);

/* policy.c — smtpd restriction lists (RFC 5321 section 4.2 replies). */
struct policy_ctx {
    const struct relay_params *p; /* the session's service's */
    const struct netaddr *client;
    const char *client_name;
    const char *helo;
    const char *sender;
    const char *rcpt;
    int pipelined; /* the client sent commands ahead without ESMTP */
    /* AUTH (RFC 4954): the session's login, or NULL; MAIL's AUTH=. */
    const char *sasl_method, *sasl_username, *sasl_sender;
    /* check_policy_service: the request's attributes (policy_client.c),
     * and where PREPEND actions go (the session's, NULL: nowhere). */
    const char *policy_request;
    struct strlist *prepend;
};
int policy_mynetworks(const struct relay_params *p,
                      const struct netaddr *client);
/* The RCPT decision (smtpd_delay_reject = yes): smtpd_client, helo,
 * sender, relay, then recipient restrictions, DNS lists included. done runs
 * once, with rc -1 and the reply, or 0/1 to accept. Returns the check while it
 * waits for DNS, or NULL when done has already run. */
typedef void policy_done_fn(void *arg, int rc, const char *reply);
struct policy_check;
struct policy_check *policy_check_rcpt(struct relay *r,
                                       const struct policy_ctx *ctx,
                                       policy_done_fn *done, void *arg);
/* The session went away: done will not be called. */
void policy_check_cancel(struct policy_check *c);
/* Teardown, after dns_free(): checks still waiting for DNS (cancelled
 * ones whose answer will never come) are freed. */
void policy_free_all(struct relay *r);

/* rewrite.c — address classes and routing (trivial-rewrite, cleanup). */
enum rewrite_class {
    REWRITE_CLASS_LOCAL,
    REWRITE_CLASS_ALIAS,
    REWRITE_CLASS_RELAY,
    REWRITE_CLASS_DEFAULT,
};
enum rewrite_class rewrite_class(struct relay *r, const char *addr);
/* Resolve addr (RFC 5321 or internal form) as trivial-rewrite does, with
 * main.cf's allow_percent_hack, swap_bangpath, resolve_* settings. */
struct resolve_result;
void rewrite_resolve_addr(struct relay *r, const char *addr,
                          struct resolve_result *res);
/* 1 if domain is in a Postfix domain list whose names also match their
 * subdomains (parent_domain_matches_subdomains: fast_flush_domains...). */
int rewrite_domain_listed(struct relay *r, const struct strlist *list,
                          const char *domain);
/* 1 if the domain is one this relay accepts mail for from anyone
 * (mydestination, virtual_alias_domains, relay_domains) and the address
 * names no route of its own unless p (the smtpd service's parameters)
 * has allow_untrusted_routing = yes. */
int rewrite_auth_destination(struct relay *r, const struct relay_params *p,
                             const char *addr);
/* Expand addr through virtual_alias_maps (virtual(5)) into out. Returns 0,
 * 1 if addr is in a virtual alias domain and has no mapping (User
 * unknown), -1 if the recursion or expansion limit was hit. */
int rewrite_virtual(struct relay *r, const char *addr, struct strlist *out);
/* Resolve the delivery channel and next hop of addr: transport_maps, then
 * relayhost for off-host classes, else the recipient domain. */
struct rewrite_route {
    char transport[64]; /* "smtp", "relay", "error", "discard", "local" */
    char nexthop[512];  /* "[host]:port", "domain", error text */
    char rcpt[1024];    /* the resolved recipient (RFC 5321 form) */
};
void rewrite_resolve(struct relay *r, const char *addr,
                     struct rewrite_route *route);

/* queue.c — the durable queue. */
/* The RFC 3461 parameters of a new message: RET and ENVID, and for each
 * recipient NOTIFY bits and ORCPT ("type;address", "" if none). NULL
 * where none were given. Also the content filter that smtpd records
 * with it (content_filter, "transport:nexthop"; NULL or "": none). */
struct queue_dsn {
    int ret;
    const char *envid;
    const int *notify;
    const struct strlist *orcpt;
    const char *filter;
};
/* A new Postfix-style queue ID (10 hex digits, unique in the process). */
void queue_new_id(struct relay *r, char *id, size_t len);
/* Write a new message (envelope + content) durably under id; on success
 * the message is in r->queue. -1 with errno, and nothing left on disk. */
int queue_commit(struct relay *r, const char *id, const char *sender,
                 const struct strlist *rcpts, const struct strlist *origs,
                 const struct queue_dsn *dsn, const char *data, size_t len);
/* Rewrite the envelope after a delivery attempt (done recipients and
 * reasons), or remove the files when every recipient is done. */
int queue_update(struct relay *r, struct queue_msg *m);
/* The same as queue_commit for smtpd, in a group: the file is written now
 * and made durable with the other messages of this event-loop turn by one
 * syncfs; then the message joins r->queue and fn(arg, 0) runs (or
 * fn(arg, -1) with errno, the file removed). Returns 0 when fn will be
 * called, -1 with errno if the file could not be written (fn is not
 * called), 1 if the queue is not open and the message was committed
 * synchronously (fn is not called either). */
typedef void queue_commit_fn(void *arg, int rc);
int queue_commit_async(struct relay *r, const char *id, const char *sender,
                       const struct strlist *rcpts, const struct strlist *origs,
                       const struct queue_dsn *dsn, const char *data,
                       size_t len, queue_commit_fn *fn, void *arg);
/* arg (a session) has gone: its messages are still committed, silently. */
void queue_commit_cancel(struct relay *r, void *arg);
/* Open queue_directory for group commits; queue_close syncs what is
 * pending and closes. */
int queue_open(struct relay *r);
void queue_close(struct relay *r);
/* The Message-ID header's value in a queued message, "" if none. */
void queue_message_id(const char *data, size_t len, char *out, size_t outlen);
int queue_read_data(struct relay *r, const struct queue_msg *m, char **data,
                    size_t *len);
int queue_recover(struct relay *r, char *err, size_t errlen);
/* Remove a message's file and forget it (postsuper -d). A message in
 * delivery is only marked; qmgr drops it when its deliveries report. */
void queue_delete(struct relay *r, struct queue_msg *m);
/* postsuper -h (hold 1): into hold/, out of the queue manager's sight;
 * -H (hold 0): back to deferred/, due now. 0, or -1 if m is not in the
 * state to move (already held, not held, being delivered). */
int queue_hold(struct relay *r, struct queue_msg *m, int hold);
/* postsuper -r: the message is queued again under a new ID (logged as
 * Postfix's pickup does) and the old one removed. -1 if it is being
 * delivered or cannot be read. */
int queue_requeue(struct relay *r, struct queue_msg *m);
void queue_free_all(struct relay *r);
void queue_msg_free(struct queue_msg *m);
/* Messages in deferred/ or hold/ (state), in files only. */
size_t queue_disk_count(struct relay *r, int state);
/* The number of deferred messages, and the earliest next delivery time
 * among them in *first. */
size_t queue_deferred_first(struct relay *r, time_t *first);
/* fn(arg, m) for each message in state's directory, oldest first, read
 * from its file (m->ondisk: fn may delete, hold, release or requeue it,
 * not keep it); stops at the first non-zero return, which it returns. */
typedef int queue_each_fn(void *arg, struct queue_msg *m);
int queue_each_on_disk(struct relay *r, int state, queue_each_fn *fn,
                       void *arg);
/* The message id in deferred/ or hold/, read from its file (m->ondisk,
 * the caller frees it with queue_msg_free), or NULL. */
struct queue_msg *queue_find_on_disk(struct relay *r, const char *id);
/* A deferred message (m->ondisk), or all of them, due at the next scan,
 * which is asked for (postqueue -f, -s). */
int queue_make_due(struct relay *r, const struct queue_msg *m);
void queue_make_all_due(struct relay *r);
/* Move the deferred messages due by cutoff (file mtime) to the active
 * queue, oldest first, while it holds fewer than limit. 1 if some due
 * ones were left for lack of room, else 0. */
int queue_scan_deferred(struct relay *r, time_t cutoff, size_t limit);

/* qmgr.c — scheduling deliveries. */
void qmgr_init(struct relay *r);
void qmgr_schedule(struct relay *r); /* run a pass soon */
void qmgr_flush(struct relay *r);
/* 1 if the next pass scans deferred/ (a scan period began, or one was
 * asked for). */
int qmgr_scan_due(const struct relay *r);
/* When a message deferred now is tried again: after as long as it has
 * been queued, within minimal_backoff_time and maximal_backoff_time (as
 * Postfix's qmgr). */
time_t qmgr_next_try(const struct relay *r, const struct queue_msg *m,
                     time_t now);
/* The next time after now at which the queue manager has work (a retry
 * in the active queue, a scan that will find a deferred message due), or
 * 0 if none. */
time_t qmgr_next_event(struct relay *r);
void qmgr_time_changed(struct relay *r); /* the simulated clock moved */
void qmgr_free(struct relay *r);

/* admin.c */
/* postqueue -s SITE (and ETRN): deliver now what waits for SITE. 0, or 1
 * with Postfix's error in err when SITE is not in fast_flush_domains. */
int relay_flush_site(struct relay *r, const char *site, struct strbuf *err);

/* control.c — the admin control socket. */
void control_stop(struct relay *r);

/* bounce.c — RFC 3464 non-delivery reports, as Postfix's bounce(8)
 * writes them. */
void bounce_add(struct queue_msg *m, const struct queue_rcpt *qr,
                const char *dsn, const char *reason, const char *diag,
                const char *remote);
/* Queue the report for m's bounced recipients to its sender (none for
 * the null sender), then forget them. 0, or -1 with errno (the bounced
 * recipients stay pending so that nothing is lost). */
int bounce_flush(struct relay *r, struct queue_msg *m);
/* A recipient relayed to a next hop that does not do DSN, for the
 * sender's success notice (reason: "delivery via HOST[IP]:PORT: REPLY"). */
void bounce_add_success(struct queue_msg *m, const struct queue_rcpt *qr,
                        const char *reason, const char *diag,
                        const char *remote);
/* The "Successful Mail Delivery Report" for them, then forget them. 0, or
 * -1 with errno. */
int bounce_success_flush(struct relay *r, struct queue_msg *m);
void bounce_clear(struct queue_msg *m);
/* delay_warning_time: tell the sender that m's pending recipients are
 * still being retried (Postfix's "Delayed Mail (still being retried)").
 * 0, or -1 with errno. */
int bounce_delay_warn(struct relay *r, struct queue_msg *m);

/* local.c — local(8): aliases (expanded recursively in local domains,
 * the rest forwarded as one new message), then the users' Maildirs or
 * mboxes. Each piece is logged through log (to= the expanded address);
 * rcpts[i] (idx[i]: its index in m->rcpts) gets the combined outcome and
 * logged = 1. */
typedef void local_log_fn(void *arg, size_t i, const char *to,
                          const struct smtpc_rcpt *piece);
void local_deliver(struct relay *r, const struct queue_msg *m,
                   struct smtpc_rcpt *rcpts, const size_t *idx, size_t n,
                   const char *data, size_t len, local_log_fn *log,
                   void *log_arg);

/* tls.c — smtpd's TLS settings (RFC 3207). */
enum { RELAY_TLS_NONE, RELAY_TLS_MAY, RELAY_TLS_ENCRYPT };
struct relay_tls {
    int level;              /* smtpd_tls_security_level: RELAY_TLS_* */
    int loglevel;           /* smtpd_tls_loglevel */
    int received_header;    /* smtpd_tls_received_header */
    struct ssl_ctx_st *ctx; /* NULL: TLS not available (454) */
};
/* Read the smtpd_tls_* parameters and load the certificate, logging
 * Postfix's warnings to the mail log (open it first); never fails: a
 * certificate that cannot be loaded leaves ctx NULL. */
void relay_tls_init(struct relay *r);
void relay_tls_free(struct relay *r);
/* smtpd_tls_security_level in cf (or the obsolete booleans): a
 * RELAY_TLS_* value; *bad names a value that is none of them (then
 * RELAY_TLS_NONE). */
int relay_tls_level(struct config *cf, const char **bad);

/* smtpd.c */
void smtpd_accept(struct relay *r, struct relay_service *svc, int fd,
                  const struct netaddr *peer);
void smtpd_free_all(struct relay *r);
/* Client name lookups that outlived their sessions (after dns_free). */
void smtpd_lookups_free(struct relay *r);

/* smtpc.c — one SMTP client delivery: a message to recipients sharing a
 * next hop. done() runs once with per-recipient results filled in. */
struct smtpc_rcpt {
    const char *addr;
    const char *orig;  /* the original recipient (ORCPT when none given) */
    const char *orcpt; /* RFC 3461 ORCPT "type;address" given, or NULL */
    int notify;        /* DSN_NOTIFY_* bits, 0: not given */
    int status;        /* 2, 4 or 5 (class of the final reply) */
    char dsn[16];      /* enhanced status code "2.0.0" */
    char *reply;       /* reason text for the log */
    char *diag;        /* the server's own reply, when it gave one */
    int logged;        /* the transport logged it already (local) */
};
struct smtpc_result {
    char relay_desc[400]; /* "name[ip]:port" or "none" */
    int conn_use;         /* 2 and up: a cached connection's Nth use */
    int offered_dsn;      /* the server offered DSN (RFC 3461) */
    struct timeval t_start, t_conn, t_done;
};
typedef void smtpc_done_fn(void *arg, struct smtpc_rcpt *rcpts, size_t n,
                           const struct smtpc_result *res);
struct smtpc;
struct smtpc_conn;
struct smtpc_rcpt;
/* The message a delivery carries: its sender, RFC 3461 RET and ENVID
 * (passed on when the server offers DSN, as Postfix's smtp does) and
 * content. */
struct smtpc_msg {
    const char *sender;
    int dsn_ret;           /* DSN_RET_* */
    const char *dsn_envid; /* decoded, or NULL */
    const char *data;
    size_t len;
    /* The transport's parameters (a master.cf service's, borrowed for
     * the delivery), NULL: main.cf's. */
    const struct relay_params *p;
};
/* agent: "smtp" or "lmtp" (the protocol); service and qid name the log
 * lines of failed addresses when another address is tried next. */
void smtpc_start(struct relay *r, const char *agent, const char *service,
                 const char *qid, const char *nexthop,
                 const struct smtpc_msg *msg, struct smtpc_rcpt *rcpts,
                 size_t n, smtpc_done_fn *done, void *arg);
/* Deliveries in progress to nexthop (the destination concurrency). */
size_t smtpc_count_nexthop(const struct relay *r, const char *nexthop);
/* Close the idle cached connections (with QUIT). */
void smtpc_close_cached(struct relay *r);
/* Teardown: drop every delivery in progress without reporting. */
void smtpc_cancel_all(struct relay *r);

#endif
