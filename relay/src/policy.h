/*
 * policy.h — smtpd's restriction lists (policy.c): the RCPT decision
 * over smtpd_*_restrictions, DNS lists and policy services, with the
 * replies of RFC 5321 section 4.2.
 */
#ifndef RELAY_POLICY_H
#define RELAY_POLICY_H

struct relay;
struct relay_params;
struct netaddr;
struct strlist;

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

#endif
