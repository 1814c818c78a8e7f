/*
 * policy.h — smtpd's restriction lists (policy.c): the RCPT decision
 * over smtpd_*_restrictions, DNS lists and policy services, with the
 * replies of RFC 5321 section 4.2.
 */
#ifndef RELAY_POLICY_H
#define RELAY_POLICY_H

struct config;
struct relay;
struct relay_params;
struct netaddr;
struct strlist;
struct policy_call;
struct policy_check;

/* What a restriction sees of the session. */
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
/* 1 if client is in p's mynetworks (permit_mynetworks), else 0. */
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

/* What a restriction takes as its argument: the next word of the list. */
enum policy_arg {
    POLICY_ARG_NONE,
    POLICY_ARG_TABLE,   /* check_*_access type:table */
    POLICY_ARG_SERVER,  /* check_policy_service inet:host:port, unix:path */
    POLICY_ARG_DNSLIST, /* reject_rbl_client domain[=d.d.d.d] */
};
/* A check decided on what the session holds, or one that starts a lookup
 * (0: the walk resumes from its callback; 1: nothing to look up). */
typedef int policy_sync_fn(const struct policy_call *q);
typedef int policy_start_fn(struct policy_check *c,
                            const struct policy_call *q);
/* One restriction of the table: its name, its argument, the handler's
 * variant (reject or defer, sender or recipient, login checks) and
 * either handler. */
struct policy_restriction {
    const char *name;
    enum policy_arg arg;
    int variant;
    policy_sync_fn *sync;
    policy_start_fn *start;
};
/* The table's entry for the restriction name (matched exactly), or NULL
 * if mxlab-relay does not implement it. */
const struct policy_restriction *policy_restriction_find(const char *name);
/* The restriction names of p's smtpd_*_restrictions (read from cf) that
 * the table does not know, warned about at start and reload through
 * log_warnx and into out (for the mail log), each once, with the file:line
 * that set the list: "main.cf:12: unknown smtpd restriction: \"foo\"". A
 * session that meets one answers 451 4.3.5, as Postfix does. */
void policy_warn_unknown(struct config *cf, const struct relay_params *p,
                         struct strlist *out);

#endif
