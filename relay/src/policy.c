/*
 * policy.c — smtpd restriction lists (postconf(5) smtpd_*_restrictions,
 * access(5)) with Postfix's reply codes and texts, evaluated at RCPT time
 * (smtpd_delay_reject = yes) through one table of {name, handler}. An
 * unknown restriction is warned about at start with its list's file:line,
 * and is a server configuration error (451 4.3.5) in a session, as in
 * Postfix. DNS lists and policy services are asked while the session
 * waits; DNS list replies are default_rbl_reply's text.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/config.h"
#include "mxlab/dns.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"
#include "params.h"
#include "policy.h"
#include "policy_client.h"
#include "relay.h"
#include "rewrite.h"
#include "table.h"

enum { POLICY_DUNNO = 0, POLICY_PERMIT = 1, POLICY_REJECT = -1 };
/* Access actions that set something aside and go on (the text is in
 * the reply buffer): DEFER_IF_PERMIT, DEFER_IF_REJECT, PREPEND. */
enum {
    POLICY_DEFER_IF_PERMIT = 3,
    POLICY_DEFER_IF_REJECT = 4,
    POLICY_PREPEND = 5,
};

int policy_mynetworks(const struct relay_params *p,
                      const struct netaddr *client)
{
    for (size_t i = 0; i < p->nmynetworks; i++)
        if (cidr_match(&p->mynetworks[i], client))
            return 1;
    return 0;
}

/* Postfix's check_table_result() reply: "CODE D.D.D <addr>: what
 * rejected: text". The text may start with its own enhanced status code
 * (postgrey's "4.2.0 Greylisted"), whose class follows CODE's. */
static void policy_reply_text(char *reply, size_t len, int code,
                              const char *text, const char *deftext,
                              const char *addr, const char *what)
{
    char dsn[16];
    size_t n = 0;

    text += strspn(text, " \t");
    snprintf(dsn, sizeof(dsn), "%d.7.1", code / 100);
    if (str_isdigit((unsigned char)text[0]) && text[1] == '.') {
        size_t d1 = strspn(text + 2, "0123456789");
        const char *q = text + 2 + d1;
        size_t d2 = *q == '.' ? strspn(q + 1, "0123456789") : 0;
        n = 2 + d1 + 1 + d2;
        if (d1 < 1 || d1 > 3 || d2 < 1 || d2 > 3 ||
            (text[n] != '\0' && text[n] != ' '))
            n = 0;
    }
    if (n > 0) {
        snprintf(dsn, sizeof(dsn), "%d%.*s", code / 100, (int)n - 1, text + 1);
        text += n;
        text += strspn(text, " \t");
    }
    snprintf(reply, len, "%d %s <%s>: %s rejected: %s", code, dsn, addr, what,
             *text ? text : deftext);
}

/* An access(5) action: OK, DUNNO, REJECT [text], DEFER [text], "4NN/5NN
 * [x.y.z] text", PERMIT, and those that wait for the rest of the
 * restrictions (DEFER_IF_PERMIT, DEFER_IF_REJECT, PREPEND: the text in
 * reply). WARN and INFO only log in Postfix: DUNNO here. what names the
 * address ("Sender address", "Client host"). */
static int policy_access_action(const char *action, const char *addr,
                                const char *what, char *reply, size_t len)
{
    static const struct {
        const char *name;
        int code; /* the reply's, 0: none */
        int rc;
        const char *deftext;
    } actions[] = {
        {"OK", 0, POLICY_PERMIT, NULL},
        {"PERMIT", 0, POLICY_PERMIT, NULL},
        {"DUNNO", 0, POLICY_DUNNO, NULL},
        {"WARN", 0, POLICY_DUNNO, NULL},
        {"INFO", 0, POLICY_DUNNO, NULL},
        {"PREPEND", 0, POLICY_PREPEND, NULL},
        {"REJECT", 554, POLICY_REJECT, "Access denied"},
        {"DEFER", 450, POLICY_REJECT, "Access denied"},
        {"DEFER_IF_PERMIT", 450, POLICY_DEFER_IF_PERMIT, "Service unavailable"},
        {"DEFER_IF_REJECT", 450, POLICY_DEFER_IF_REJECT, "Service unavailable"},
    };
    int code;

    if (*action == '\0')
        return POLICY_DUNNO;
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        const char *text = str_casestart(action, actions[i].name);
        if (text == NULL || (*text != '\0' && *text != ' ' && *text != '\t'))
            continue;
        if (actions[i].rc == POLICY_PREPEND)
            snprintf(reply, len, "%s", text + strspn(text, " \t"));
        else if (actions[i].code != 0)
            policy_reply_text(reply, len, actions[i].code, text,
                              actions[i].deftext, addr, what);
        return actions[i].rc;
    }
    code = smtp_reply_code(action, NULL);
    if (code >= 400 && code < 600) {
        policy_reply_text(reply, len, code, action + 3, "Access denied", addr,
                          what);
        return POLICY_REJECT;
    }
    log_warnx("access table: unknown action \"%s\": ignored", action);
    return POLICY_DUNNO;
}

/* check_sender_access / check_recipient_access: user@domain, domain and
 * parent domains, user@ (access(5) EMAIL ADDRESS PATTERNS). */
static int policy_check_addr_access(struct relay *r, const char *table,
                                    const char *addr, const char *what,
                                    char *reply, size_t len)
{
    struct map *m = table_get(r, table);
    const char *v = NULL, *domain = smtp_addr_domain(addr);
    int rc;

    if (m == NULL) {
        snprintf(reply, len, "451 4.3.5 Server configuration error");
        return POLICY_REJECT;
    }
    v = map_lookup(m, addr);
    if (map_whole_keys(m))
        domain = ""; /* the whole address only */
    for (const char *d = domain; v == NULL && d != NULL && *d;) {
        v = map_lookup(m, d);
        d = strchr(d, '.');
        if (d != NULL)
            d++;
    }
    if (v == NULL && *domain) {
        char *user = xstrndup(addr, (size_t)(domain - addr));
        v = map_lookup(m, user);
        free(user);
    }
    rc = v ? policy_access_action(v, addr, what, reply, len) : POLICY_DUNNO;
    return rc;
}

/* check_client_access: the client's name, then its address and the
 * address's shorter prefixes (1.2.3.4, 1.2.3, 1.2, 1), as access(5) says
 * for host names and addresses. */
static int policy_check_client_access(struct relay *r, const char *table,
                                      const struct policy_ctx *ctx, char *reply,
                                      size_t len)
{
    char ip[64], who[400];
    struct map *m = table_get(r, table);
    const char *v = NULL;
    int rc;

    if (m == NULL) {
        snprintf(reply, len, "451 4.3.5 Server configuration error");
        return POLICY_REJECT;
    }
    netaddr_ip(ctx->client, ip, sizeof(ip));
    if (strcmp(ctx->client_name, "unknown") != 0)
        v = map_lookup(m, ctx->client_name);
    for (char *dot = ip + strlen(ip); v == NULL && dot != NULL;) {
        *dot = '\0';
        v = map_lookup(m, ip);
        dot = map_whole_keys(m) ? NULL : strrchr(ip, '.');
    }
    netaddr_ip(ctx->client, ip, sizeof(ip));
    snprintf(who, sizeof(who), "%s[%s]", ctx->client_name, ip);
    rc = v ? policy_access_action(v, who, "Client host", reply, len)
           : POLICY_DUNNO;
    return rc;
}

static int policy_fqdn(const char *addr)
{
    const char *d = smtp_addr_domain(addr);

    return *addr == '\0' || (*d != '\0' && strchr(d, '.') != NULL);
}

/* Which list a restriction sits in decides what "reject" names. */
enum policy_stage { STAGE_CLIENT, STAGE_HELO, STAGE_SENDER, STAGE_RCPT };

/* A restriction of the table applied to one session: its entry, the
 * argument it takes (the next word of the list, checked), the session
 * and where its reply goes. */
struct policy_call {
    struct relay *r;
    const struct policy_restriction *pr;
    const char *arg;
    const struct policy_ctx *ctx;
    enum policy_stage stage;
    char *reply;
    size_t len;
};

/* The result of a check that needs no DNS, besides the access actions:
 * POLICY_ASYNC for those that look something up (pr->start). */
enum { POLICY_ASYNC = 2 };

/* reject_*_sender_login_mismatch: which checks a name asks for (the
 * table entry's variant). */
enum { LOGIN_AUTHENTICATED = 1, LOGIN_UNAUTHENTICATED = 2, LOGIN_KNOWN = 4 };

/* The owners of a sender address in smtpd_sender_login_maps: the whole
 * address, then "@domain" (Postfix's mail_addr_find()). NULL if none;
 * -1 in *failed when a table cannot be opened. Borrowed. */
static const char *
policy_login_owners(struct relay *r, const struct policy_ctx *ctx, int *failed)
{
    const struct strlist *maps = &ctx->p->sasl.sender_login_maps;
    const char *at = strrchr(ctx->sender, '@');
    const char *v = NULL;

    *failed = 0;
    for (size_t i = 0; i < maps->n && v == NULL; i++) {
        struct map *m = table_get(r, maps->v[i]);
        if (m == NULL) {
            *failed = 1;
            return NULL;
        }
        v = map_lookup(m, ctx->sender);
        if (v == NULL && at != NULL && !map_whole_keys(m))
            v = map_lookup(m, at);
    }
    return v;
}

/* smtpd_sender_login_maps against the SASL login (postconf(5)
 * reject_sender_login_mismatch and its halves). */
static int policy_login_mismatch(const struct policy_call *q)
{
    const struct policy_ctx *ctx = q->ctx;
    int checks = q->pr->variant, failed;
    const char *owners;

    if (*ctx->sender == '\0' || ctx->p->sasl.sender_login_maps.n == 0)
        return POLICY_DUNNO;
    owners = policy_login_owners(q->r, ctx, &failed);
    if (failed) {
        snprintf(q->reply, q->len, "451 4.3.0 <%s>: Temporary lookup failure",
                 ctx->sender);
        return POLICY_REJECT;
    }
    if (ctx->sasl_username != NULL && (checks & LOGIN_AUTHENTICATED) &&
        (owners != NULL || !(checks & LOGIN_KNOWN))) {
        struct strlist l;
        strlist_init(&l);
        strlist_split(&l, owners ? owners : "");
        int owned = strlist_contains_case(&l, ctx->sasl_username);
        strlist_clear(&l);
        if (owned)
            return POLICY_DUNNO;
        snprintf(q->reply, q->len,
                 "553 5.7.1 <%s>: Sender address rejected: not owned by "
                 "user %s",
                 ctx->sender, ctx->sasl_username);
        return POLICY_REJECT;
    }
    if (ctx->sasl_username == NULL && (checks & LOGIN_UNAUTHENTICATED) &&
        owners != NULL) {
        snprintf(q->reply, q->len,
                 "553 5.7.1 <%s>: Sender address rejected: not logged in",
                 ctx->sender);
        return POLICY_REJECT;
    }
    return POLICY_DUNNO;
}

static int policy_permit(const struct policy_call *q)
{
    (void)q;
    return POLICY_PERMIT;
}

/* reject (variant 0) and defer (1), naming what the list is about. */
static int policy_reject(const struct policy_call *q)
{
    const struct policy_ctx *ctx = q->ctx;
    const char *code = q->pr->variant ? "450 4.7.1" : "554 5.7.1";
    char ip[64];

    switch (q->stage) {
    case STAGE_CLIENT:
        snprintf(q->reply, q->len,
                 "%s <%s[%s]>: Client host rejected: Access denied", code,
                 ctx->client_name, netaddr_ip(ctx->client, ip, sizeof(ip)));
        break;
    case STAGE_HELO:
        snprintf(q->reply, q->len,
                 "%s <%s>: Helo command rejected: Access denied", code,
                 ctx->helo);
        break;
    case STAGE_SENDER:
        snprintf(q->reply, q->len,
                 "%s <%s>: Sender address rejected: Access denied", code,
                 ctx->sender);
        break;
    case STAGE_RCPT:
        snprintf(q->reply, q->len,
                 "%s <%s>: Recipient address rejected: Access denied", code,
                 ctx->rcpt);
        break;
    }
    return POLICY_REJECT;
}

static int policy_permit_mynetworks(const struct policy_call *q)
{
    return policy_mynetworks(q->ctx->p, q->ctx->client) ? POLICY_PERMIT
                                                        : POLICY_DUNNO;
}

/* Postfix's permit_sasl_auth(): any method but ANONYMOUS. */
static int policy_permit_sasl(const struct policy_call *q)
{
    const char *method = q->ctx->sasl_method;

    return method != NULL && str_casecmp(method, "anonymous") != 0
               ? POLICY_PERMIT
               : POLICY_DUNNO;
}

/* reject_unauth_destination (variant 0), defer_unauth_destination (1). */
static int policy_unauth_destination(const struct policy_call *q)
{
    if (rewrite_auth_destination(q->r, q->ctx->p, q->ctx->rcpt))
        return POLICY_DUNNO;
    snprintf(q->reply, q->len, "%s <%s>: Relay access denied",
             q->pr->variant ? "454 4.7.1" : "554 5.7.1", q->ctx->rcpt);
    return POLICY_REJECT;
}

/* reject_non_fqdn_recipient (variant 0), reject_non_fqdn_sender (1). */
static int policy_non_fqdn_addr(const struct policy_call *q)
{
    const char *addr = q->pr->variant ? q->ctx->sender : q->ctx->rcpt;

    if (policy_fqdn(addr))
        return POLICY_DUNNO;
    snprintf(q->reply, q->len,
             "504 5.5.2 <%s>: %s address rejected: need "
             "fully-qualified address",
             addr, q->pr->variant ? "Sender" : "Recipient");
    return POLICY_REJECT;
}

static int policy_invalid_helo(const struct policy_call *q)
{
    const char *helo = q->ctx->helo;

    if (*helo == '\0' || smtp_valid_hostname(helo))
        return POLICY_DUNNO;
    snprintf(q->reply, q->len,
             "501 5.5.2 <%s>: Helo command rejected: Invalid name", helo);
    return POLICY_REJECT;
}

static int policy_non_fqdn_helo(const struct policy_call *q)
{
    const char *helo = q->ctx->helo;

    /* As Postfix: address literals pass; trailing dots are ignored. */
    if (*helo == '\0' || *helo == '[')
        return POLICY_DUNNO;
    char *h = xstrdup(helo);
    size_t n = strlen(h);
    while (n > 1 && h[n - 1] == '.')
        h[--n] = '\0';
    int fqdn = strchr(h, '.') != NULL && smtp_valid_hostname(h);
    free(h);
    if (fqdn)
        return POLICY_DUNNO;
    snprintf(q->reply, q->len,
             "504 5.5.2 <%s>: Helo command rejected: need "
             "fully-qualified hostname",
             helo);
    return POLICY_REJECT;
}

static int policy_unauth_pipelining(const struct policy_call *q)
{
    if (!q->ctx->pipelined)
        return POLICY_DUNNO;
    snprintf(q->reply, q->len,
             "503 5.5.0 <%s>: Recipient address rejected: Improper use "
             "of SMTP command pipelining",
             q->ctx->rcpt);
    return POLICY_REJECT;
}

static int policy_client_access(const struct policy_call *q)
{
    return policy_check_client_access(q->r, q->arg, q->ctx, q->reply, q->len);
}

/* check_recipient_access (variant 0), check_sender_access (1). */
static int policy_addr_access(const struct policy_call *q)
{
    int sender = q->pr->variant;
    const char *addr = sender ? q->ctx->sender : q->ctx->rcpt;

    if (*addr == '\0')
        return POLICY_DUNNO;
    return policy_check_addr_access(
        q->r, q->arg, addr, sender ? "Sender address" : "Recipient address",
        q->reply, q->len);
}

static policy_start_fn policy_start_domain, policy_start_rbl,
    policy_start_service;

/* The restrictions mxlab-relay implements (postconf(5) "SMTPD ACCESS
 * RESTRICTIONS"): a new one is one entry and its handler. Names are
 * matched exactly. */
static const struct policy_restriction policy_restrictions[] = {
    {"permit", POLICY_ARG_NONE, 0, policy_permit, NULL},
    {"reject", POLICY_ARG_NONE, 0, policy_reject, NULL},
    {"defer", POLICY_ARG_NONE, 1, policy_reject, NULL},
    {"permit_mynetworks", POLICY_ARG_NONE, 0, policy_permit_mynetworks, NULL},
    {"permit_sasl_authenticated", POLICY_ARG_NONE, 0, policy_permit_sasl, NULL},
    {"reject_sender_login_mismatch", POLICY_ARG_NONE,
     LOGIN_AUTHENTICATED | LOGIN_UNAUTHENTICATED, policy_login_mismatch, NULL},
    {"reject_authenticated_sender_login_mismatch", POLICY_ARG_NONE,
     LOGIN_AUTHENTICATED, policy_login_mismatch, NULL},
    {"reject_known_sender_login_mismatch", POLICY_ARG_NONE,
     LOGIN_AUTHENTICATED | LOGIN_KNOWN, policy_login_mismatch, NULL},
    {"reject_unauthenticated_sender_login_mismatch", POLICY_ARG_NONE,
     LOGIN_UNAUTHENTICATED, policy_login_mismatch, NULL},
    {"reject_unauth_destination", POLICY_ARG_NONE, 0, policy_unauth_destination,
     NULL},
    {"defer_unauth_destination", POLICY_ARG_NONE, 1, policy_unauth_destination,
     NULL},
    {"reject_non_fqdn_recipient", POLICY_ARG_NONE, 0, policy_non_fqdn_addr,
     NULL},
    {"reject_non_fqdn_sender", POLICY_ARG_NONE, 1, policy_non_fqdn_addr, NULL},
    {"reject_invalid_helo_hostname", POLICY_ARG_NONE, 0, policy_invalid_helo,
     NULL},
    {"reject_invalid_hostname", POLICY_ARG_NONE, 0, policy_invalid_helo, NULL},
    {"reject_non_fqdn_helo_hostname", POLICY_ARG_NONE, 0, policy_non_fqdn_helo,
     NULL},
    {"reject_non_fqdn_hostname", POLICY_ARG_NONE, 0, policy_non_fqdn_helo,
     NULL},
    {"reject_unauth_pipelining", POLICY_ARG_NONE, 0, policy_unauth_pipelining,
     NULL},
    {"reject_unknown_sender_domain", POLICY_ARG_NONE, 1, NULL,
     policy_start_domain},
    {"reject_unknown_recipient_domain", POLICY_ARG_NONE, 0, NULL,
     policy_start_domain},
    {"check_client_access", POLICY_ARG_TABLE, 0, policy_client_access, NULL},
    {"check_sender_access", POLICY_ARG_TABLE, 1, policy_addr_access, NULL},
    {"check_recipient_access", POLICY_ARG_TABLE, 0, policy_addr_access, NULL},
    {"check_policy_service", POLICY_ARG_SERVER, 0, NULL, policy_start_service},
    {"reject_rbl_client", POLICY_ARG_DNSLIST, 0, NULL, policy_start_rbl},
    {"reject_rhsbl_sender", POLICY_ARG_DNSLIST, 1, NULL, policy_start_rbl},
};

const struct policy_restriction *policy_restriction_find(const char *name)
{
    size_t n = sizeof(policy_restrictions) / sizeof(policy_restrictions[0]);

    for (size_t i = 0; i < n; i++)
        if (str_casecmp(name, policy_restrictions[i].name) == 0)
            return &policy_restrictions[i];
    return NULL;
}

/* 1 if the argument a restriction needs is missing (or, for a policy
 * service, not transport:server), warned about as Postfix does. */
static int policy_arg_missing(const struct policy_restriction *pr,
                              const char *arg)
{
    switch (pr->arg) {
    case POLICY_ARG_NONE:
        return 0;
    case POLICY_ARG_SERVER:
        if (arg != NULL &&
            (strncmp(arg, "inet:", 5) == 0 || strncmp(arg, "unix:", 5) == 0))
            return 0;
        log_warnx("restriction %s must be followed by transport:server",
                  pr->name);
        return 1;
    case POLICY_ARG_TABLE:
    case POLICY_ARG_DNSLIST:
        if (arg != NULL)
            return 0;
        log_warnx("%s: missing %s argument", pr->name,
                  pr->arg == POLICY_ARG_TABLE ? "table" : "DNS list");
        return 1;
    }
    return 1;
}

/* One restriction (q->pr, NULL if unknown): POLICY_PERMIT, POLICY_REJECT,
 * POLICY_DUNNO, an access action set aside, or POLICY_ASYNC for those
 * that look something up (started by the caller). *used is set when the
 * restriction consumed its argument. An unknown restriction or a missing
 * argument is a server configuration error (Postfix's 451 4.3.5). */
static int policy_sync(const struct policy_call *q, const char *name, int *used)
{
    *used = 0;
    if (q->pr == NULL)
        log_warnx("unknown smtpd restriction: \"%s\"", name);
    if (q->pr == NULL || policy_arg_missing(q->pr, q->arg)) {
        snprintf(q->reply, q->len, "451 4.3.5 Server configuration error");
        return POLICY_REJECT;
    }
    *used = q->pr->arg != POLICY_ARG_NONE;
    return q->pr->sync != NULL ? q->pr->sync(q) : POLICY_ASYNC;
}

/* The restriction lists in the order smtpd_delay_reject = yes applies
 * them at RCPT TO (Postfix's), each with the stage it speaks for. */
static const struct {
    const char *param;
    size_t off; /* its strlist in struct relay_params */
    enum policy_stage stage;
} policy_lists[] = {
    {"smtpd_client_restrictions",
     offsetof(struct relay_params, smtpd_client_restrictions), STAGE_CLIENT},
    {"smtpd_helo_restrictions",
     offsetof(struct relay_params, smtpd_helo_restrictions), STAGE_HELO},
    {"smtpd_sender_restrictions",
     offsetof(struct relay_params, smtpd_sender_restrictions), STAGE_SENDER},
    {"smtpd_relay_restrictions",
     offsetof(struct relay_params, smtpd_relay_restrictions), STAGE_RCPT},
    {"smtpd_recipient_restrictions",
     offsetof(struct relay_params, smtpd_recipient_restrictions), STAGE_RCPT},
};
#define POLICY_NLISTS (sizeof(policy_lists) / sizeof(policy_lists[0]))

static const struct strlist *policy_list(const struct relay_params *p, size_t k)
{
    return (const struct strlist *)((const char *)p + policy_lists[k].off);
}

void policy_warn_unknown(struct config *cf, const struct relay_params *p,
                         struct strlist *out)
{
    for (size_t k = 0; k < POLICY_NLISTS; k++) {
        const struct strlist *l = policy_list(p, k);
        const char *where = config_where(cf, policy_lists[k].param);
        for (size_t i = 0; i < l->n; i++) {
            const struct policy_restriction *pr =
                policy_restriction_find(l->v[i]);
            if (pr != NULL) {
                i += pr->arg != POLICY_ARG_NONE; /* not a name */
                continue;
            }
            char *msg = xasprintf("%s: unknown smtpd restriction: \"%s\"",
                                  where ? where : "main.cf", l->v[i]);
            if (!strlist_contains_case(out, msg)) {
                log_warnx("%s", msg);
                strlist_push(out, msg);
            }
            free(msg);
        }
    }
}

/* An evaluation in progress: smtpd_relay_restrictions, then
 * smtpd_recipient_restrictions (both must not reject), resumed after each
 * DNS answer. */
struct policy_check {
    struct relay *r;
    struct policy_ctx ctx; /* strings owned below */
    char *client_ip, *client_name, *helo, *sender, *rcpt;
    char *sasl_method, *sasl_username, *sasl_sender;
    char *policy_request;
    struct policy_query *pquery; /* check_policy_service in progress */
    char defer_if_permit[1200];  /* "" or the reply DEFER_IF_PERMIT asked */
    char defer_if_reject[1200];
    struct netaddr client;
    const struct strlist *lists[POLICY_NLISTS];
    size_t list; /* the list being walked: policy_lists[list] */
    size_t i;
    char query[600];  /* DNS name being looked up */
    char what[600];   /* "Client host [ip]" / "Sender address [a]" */
    char domain[256]; /* the DNS list */
    char filter[64];  /* domain=127.0.0.2: only this answer counts */
    char reply[1200];
    policy_done_fn *done;
    void *arg;
    int cancelled;
    int starting; /* inside policy_check_rcpt(): do not free yet */
    int finished;
    struct policy_check *next; /* r->policy_checks: freed at teardown */
};

static void policy_step(struct policy_check *c);

static void policy_free(struct policy_check *c)
{
    for (struct policy_check **pp = &c->r->policy_checks; *pp != NULL;
         pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c->client_ip);
    free(c->client_name);
    free(c->helo);
    free(c->sender);
    free(c->rcpt);
    free(c->sasl_method);
    free(c->sasl_username);
    free(c->sasl_sender);
    free(c->policy_request);
    policy_query_cancel(c->pquery);
    free(c);
}

static void policy_finish(struct policy_check *c, int rc)
{
    /* The actions set aside by access tables and policy servers. */
    if (rc != POLICY_REJECT && c->defer_if_permit[0] != '\0') {
        snprintf(c->reply, sizeof(c->reply), "%s", c->defer_if_permit);
        rc = POLICY_REJECT;
    } else if (rc == POLICY_REJECT && c->reply[0] == '5' &&
               c->defer_if_reject[0] != '\0') {
        snprintf(c->reply, sizeof(c->reply), "%s", c->defer_if_reject);
    }
    if (!c->cancelled)
        c->done(c->arg, rc, c->reply);
    c->finished = 1;
    if (!c->starting)
        policy_free(c);
}

/* Postfix's default_rbl_reply: "$rbl_code Service unavailable;
 * $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?;
 * $rbl_reason}" with rbl_code 554. */
static void policy_on_rbl_txt(void *arg, enum dns_status st, char **texts,
                              size_t n)
{
    struct policy_check *c = arg;

    snprintf(c->reply, sizeof(c->reply),
             "554 5.7.1 Service unavailable; %s blocked using %s%s%s", c->what,
             c->domain, st == DNS_OK && n > 0 ? "; " : "",
             st == DNS_OK && n > 0 ? texts[0] : "");
    policy_finish(c, POLICY_REJECT);
}

static void policy_on_rbl_a(void *arg, enum dns_status st, char **addrs,
                            size_t n)
{
    struct policy_check *c = arg;
    int listed = 0;

    if (c->cancelled) {
        policy_finish(c, POLICY_DUNNO);
        return;
    }
    /* A DNS list that does not answer lists nobody (Postfix logs a
     * warning and goes on): never a permanent reject on a failure. */
    for (size_t i = 0; st == DNS_OK && i < n; i++)
        if (c->filter[0] == '\0' || strcmp(addrs[i], c->filter) == 0)
            listed = 1;
    if (!listed) {
        policy_step(c);
        return;
    }
    dns_lookup_txt(c->r->dns, c->query, policy_on_rbl_txt, c);
}

/* reject_unknown_*_domain: a domain with neither MX nor A record is
 * unknown. Postfix answers 450 for a temporary DNS failure too
 * (unknown_address_reject_code, checked against Postfix 3.7). */
static void policy_unknown_domain(struct policy_check *c)
{
    int sender = strcmp(c->what, "sender") == 0;
    const char *addr = sender ? c->sender : c->rcpt;

    snprintf(c->reply, sizeof(c->reply),
             "450 %s <%s>: %s address rejected: Domain not found",
             sender ? "4.1.8" : "4.1.2", addr, sender ? "Sender" : "Recipient");
    policy_finish(c, POLICY_REJECT);
}

static void policy_on_domain_a(void *arg, enum dns_status st, char **addrs,
                               size_t n)
{
    struct policy_check *c = arg;

    (void)addrs;
    if (c->cancelled)
        policy_finish(c, POLICY_DUNNO);
    else if (st == DNS_OK && n > 0)
        policy_step(c);
    else
        policy_unknown_domain(c);
}

static void policy_on_domain_mx(void *arg, enum dns_status st,
                                const struct dns_mx *mx, size_t n)
{
    struct policy_check *c = arg;

    (void)mx;
    if (c->cancelled)
        policy_finish(c, POLICY_DUNNO);
    else if (st == DNS_OK && n > 0)
        policy_step(c);
    else
        dns_lookup_a(c->r->dns, c->query, policy_on_domain_a, c);
}

/* reject_unknown_sender_domain (variant 1), reject_unknown_recipient_
 * domain (0): the domain's MX, then A records. 0 when a lookup is under
 * way, 1 when there is nothing to look up (a null sender, no domain, an
 * address literal). */
static int policy_start_domain(struct policy_check *c,
                               const struct policy_call *q)
{
    int sender = q->pr->variant;
    const char *d = smtp_addr_domain(sender ? c->sender : c->rcpt);

    if (*d == '\0' || d[0] == '[')
        return 1;
    snprintf(c->what, sizeof(c->what), "%s", sender ? "sender" : "recipient");
    snprintf(c->query, sizeof(c->query), "%s", d);
    dns_lookup_mx(c->r->dns, c->query, policy_on_domain_mx, c);
    return 0;
}

/* reject_rbl_client (variant 0) and reject_rhsbl_sender (1) with the
 * list "domain[=d.d.d.d]". 0 when a lookup is under way, 1 when there is
 * nothing to look up (an IPv6 client, a null sender). */
static int policy_start_rbl(struct policy_check *c, const struct policy_call *q)
{
    const char *eq = strchr(q->arg, '=');
    size_t dl = eq ? (size_t)(eq - q->arg) : strlen(q->arg);

    snprintf(c->domain, sizeof(c->domain), "%.*s", (int)dl, q->arg);
    snprintf(c->filter, sizeof(c->filter), "%s", eq ? eq + 1 : "");
    if (!q->pr->variant) {
        unsigned char a[4];
        if (netaddr_family(&c->client) != AF_INET)
            return 1;
        memcpy(a, &((const struct sockaddr_in *)&c->client.ss)->sin_addr, 4);
        snprintf(c->query, sizeof(c->query), "%u.%u.%u.%u.%s", a[3], a[2], a[1],
                 a[0], c->domain);
        snprintf(c->what, sizeof(c->what), "Client host [%s]", c->client_ip);
    } else {
        const char *d = smtp_addr_domain(c->sender);
        if (*d == '\0')
            return 1;
        snprintf(c->query, sizeof(c->query), "%s.%s", d, c->domain);
        snprintf(c->what, sizeof(c->what), "Sender address [%s]", c->sender);
    }
    dns_lookup_a(c->r->dns, c->query, policy_on_rbl_a, c);
    return 0;
}

/* DEFER_IF_PERMIT, DEFER_IF_REJECT and PREPEND: kept for the end (the
 * text is in c->reply); 1 if rc was one of them. */
static int policy_aside(struct policy_check *c, int rc)
{
    if (rc == POLICY_DEFER_IF_PERMIT)
        snprintf(c->defer_if_permit, sizeof(c->defer_if_permit), "%s",
                 c->reply);
    else if (rc == POLICY_DEFER_IF_REJECT)
        snprintf(c->defer_if_reject, sizeof(c->defer_if_reject), "%s",
                 c->reply);
    else if (rc == POLICY_PREPEND && !c->cancelled && c->ctx.prepend != NULL)
        strlist_push(c->ctx.prepend, c->reply);
    else if (rc != POLICY_PREPEND)
        return 0;
    c->reply[0] = '\0';
    return 1;
}

static void policy_query_warn(void *arg, const char *text)
{
    struct policy_check *c = arg;

    maillog_printf(c->r->log, "smtpd", "warning: %s", text);
}

/* The policy server answered (action) or could not be asked (NULL:
 * smtpd_policy_service_default_action): its action applies as an access
 * table's, naming what the list is about. */
static void policy_on_query(void *arg, const char *action)
{
    struct policy_check *c = arg;
    const struct policy_ctx *x = &c->ctx;
    char who[400];
    int rc;

    c->pquery = NULL;
    if (c->cancelled) {
        policy_finish(c, POLICY_DUNNO);
        return;
    }
    if (action == NULL || *action == '\0')
        action = x->p->policy_service.default_action;
    switch (policy_lists[c->list].stage) {
    case STAGE_CLIENT:
        snprintf(who, sizeof(who), "%s[%s]", x->client_name, c->client_ip);
        rc = policy_access_action(action, who, "Client host", c->reply,
                                  sizeof(c->reply));
        break;
    case STAGE_HELO:
        rc = policy_access_action(action, x->helo, "Helo command", c->reply,
                                  sizeof(c->reply));
        break;
    case STAGE_SENDER:
        rc = policy_access_action(action, x->sender, "Sender address", c->reply,
                                  sizeof(c->reply));
        break;
    default:
        rc = policy_access_action(action, x->rcpt, "Recipient address",
                                  c->reply, sizeof(c->reply));
        break;
    }
    if (rc == POLICY_REJECT) {
        policy_finish(c, POLICY_REJECT);
        return;
    }
    policy_aside(c, rc);
    if (rc == POLICY_PERMIT) { /* this list says yes */
        c->list++;
        c->i = 0;
    }
    policy_step(c);
}

static void policy_start_query(struct policy_check *c, const char *server)
{
    struct relay *r = c->r;

    if (r->policy_pool == NULL)
        r->policy_pool = policy_pool_new(r->base);
    c->pquery = policy_query_start(r->policy_pool, &c->ctx.p->policy_service,
                                   server, c->policy_request, policy_on_query,
                                   policy_query_warn, c);
}

/* check_policy_service: resumed by policy_on_query(). */
static int policy_start_service(struct policy_check *c,
                                const struct policy_call *q)
{
    policy_start_query(c, q->arg);
    return 0;
}

static void policy_step(struct policy_check *c)
{
    for (; c->list < POLICY_NLISTS; c->list++, c->i = 0) {
        const struct strlist *l = c->lists[c->list];
        while (c->i < l->n) {
            const char *name = l->v[c->i];
            struct policy_call q = {c->r,
                                    policy_restriction_find(name),
                                    c->i + 1 < l->n ? l->v[c->i + 1] : NULL,
                                    &c->ctx,
                                    policy_lists[c->list].stage,
                                    c->reply,
                                    sizeof(c->reply)};
            int used, rc = policy_sync(&q, name, &used);
            c->i += 1 + used;
            if (rc == POLICY_ASYNC) {
                if (q.pr->start(c, &q) == 0)
                    return; /* resumed by the lookup's callback */
                continue;
            }
            if (policy_aside(c, rc))
                continue;
            if (rc == POLICY_REJECT) {
                policy_finish(c, POLICY_REJECT);
                return;
            }
            if (rc == POLICY_PERMIT)
                break; /* this list says yes: on to the next list */
        }
    }
    policy_finish(c, POLICY_DUNNO);
}

struct policy_check *policy_check_rcpt(struct relay *r,
                                       const struct policy_ctx *ctx,
                                       policy_done_fn *done, void *arg)
{
    struct policy_check *c = xcalloc(1, sizeof(*c));
    char ip[64];

    c->r = r;
    c->client = *ctx->client;
    c->client_ip = xstrdup(netaddr_ip(ctx->client, ip, sizeof(ip)));
    c->client_name = xstrdup(ctx->client_name);
    c->helo = xstrdup(ctx->helo);
    c->sender = xstrdup(ctx->sender);
    c->rcpt = xstrdup(ctx->rcpt);
    c->ctx.client = &c->client;
    c->ctx.client_name = c->client_name;
    c->ctx.helo = c->helo;
    c->ctx.sender = c->sender;
    c->ctx.rcpt = c->rcpt;
    c->ctx.pipelined = ctx->pipelined;
    c->ctx.sasl_method = c->sasl_method =
        ctx->sasl_method ? xstrdup(ctx->sasl_method) : NULL;
    c->ctx.sasl_username = c->sasl_username =
        ctx->sasl_username ? xstrdup(ctx->sasl_username) : NULL;
    c->ctx.sasl_sender = c->sasl_sender =
        ctx->sasl_sender ? xstrdup(ctx->sasl_sender) : NULL;
    c->policy_request = xstrdup(ctx->policy_request ? ctx->policy_request : "");
    c->ctx.policy_request = c->policy_request;
    c->ctx.prepend = ctx->prepend;
    c->ctx.p = ctx->p;
    /* smtpd_delay_reject = yes: every list is applied at RCPT TO, in
     * Postfix's order. */
    for (size_t k = 0; k < POLICY_NLISTS; k++)
        c->lists[k] = policy_list(ctx->p, k);
    c->done = done;
    c->arg = arg;
    c->next = r->policy_checks;
    r->policy_checks = c;
    c->starting = 1;
    policy_step(c);
    c->starting = 0;
    if (c->finished) {
        policy_free(c);
        return NULL;
    }
    return c;
}

void policy_check_cancel(struct policy_check *c)
{
    if (c == NULL)
        return;
    c->cancelled = 1;
    c->ctx.prepend = NULL;
    /* A policy query is ours to stop; a DNS lookup calls back later. */
    if (c->pquery != NULL)
        policy_free(c);
}

void policy_free_all(struct relay *r)
{
    while (r->policy_checks != NULL)
        policy_free(r->policy_checks);
}
