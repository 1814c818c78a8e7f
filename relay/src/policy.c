/*
 * policy.c — smtpd restriction lists (postconf(5) smtpd_*_restrictions,
 * access(5)) with Postfix's reply codes and texts. Evaluated at RCPT time
 * (smtpd_delay_reject = yes). A restriction that mxlab does not know is a
 * server configuration error (451 4.3.5), as in Postfix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/log.h"
#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"
#include "relay_int.h"

enum { POLICY_DUNNO = 0, POLICY_PERMIT = 1, POLICY_REJECT = -1 };

int policy_mynetworks(struct relay *r, const struct netaddr *client)
{
    for (size_t i = 0; i < r->p.nmynetworks; i++)
        if (cidr_match(&r->p.mynetworks[i], client))
            return 1;
    return 0;
}

/* An access(5) action: OK, DUNNO, REJECT [text], DEFER [text],
 * "4NN/5NN [x.y.z] text", PERMIT. what names the address ("Sender
 * address", "Client host"). */
static int policy_access_action(const char *action, const char *addr,
                                const char *what, char *reply, size_t len)
{
    const char *text;

    if (str_casecmp(action, "OK") == 0 || str_casecmp(action, "PERMIT") == 0)
        return POLICY_PERMIT;
    if (str_casecmp(action, "DUNNO") == 0 || *action == '\0')
        return POLICY_DUNNO;
    if ((text = str_casestart(action, "REJECT")) != NULL &&
        (*text == '\0' || *text == ' ')) {
        while (*text == ' ')
            text++;
        snprintf(reply, len, "554 5.7.1 <%s>: %s rejected: %s", addr, what,
                 *text ? text : "Access denied");
        return POLICY_REJECT;
    }
    if ((text = str_casestart(action, "DEFER")) != NULL &&
        (*text == '\0' || *text == ' ')) {
        while (*text == ' ')
            text++;
        snprintf(reply, len, "450 4.7.1 <%s>: %s rejected: %s", addr, what,
                 *text ? text : "Access denied");
        return POLICY_REJECT;
    }
    int code = smtp_reply_code(action, NULL);
    if ((code >= 400 && code < 600)) {
        const char *t = action + 3;
        char dsn[16];
        while (*t == ' ')
            t++;
        /* Keep an enhanced status code the table gives, else derive one. */
        if (t[0] == action[0] && t[1] == '.') {
            size_t n = strcspn(t, " ");
            snprintf(dsn, sizeof(dsn), "%.*s", (int)n, t);
            t += n;
            while (*t == ' ')
                t++;
        } else {
            snprintf(dsn, sizeof(dsn), "%c.7.1", action[0]);
        }
        snprintf(reply, len, "%d %s <%s>: %s rejected: %s", code, dsn, addr,
                 what, *t ? t : "Access denied");
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
    char err[512];
    struct map *m = map_open(table, r->config_dir, err, sizeof(err));
    const char *v = NULL, *domain = smtp_addr_domain(addr);
    int rc;

    if (m == NULL) {
        log_warnx("%s", err);
        snprintf(reply, len, "451 4.3.5 Server configuration error");
        return POLICY_REJECT;
    }
    v = map_lookup(m, addr);
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
    map_free(m);
    return rc;
}

static int policy_fqdn(const char *addr)
{
    const char *d = smtp_addr_domain(addr);

    return *addr == '\0' || (*d != '\0' && strchr(d, '.') != NULL);
}

int policy_eval(struct relay *r, const struct strlist *list,
                const struct policy_ctx *ctx, char *reply, size_t len)
{
    for (size_t i = 0; i < list->n; i++) {
        const char *name = list->v[i];
        const char *arg = i + 1 < list->n ? list->v[i + 1] : NULL;
        int rc = POLICY_DUNNO;

        if (strcmp(name, "permit") == 0) {
            return POLICY_PERMIT;
        } else if (strcmp(name, "reject") == 0) {
            snprintf(reply, len,
                     "554 5.7.1 <%s>: Recipient address rejected: Access "
                     "denied",
                     ctx->rcpt);
            return POLICY_REJECT;
        } else if (strcmp(name, "defer") == 0) {
            snprintf(reply, len,
                     "450 4.7.1 <%s>: Recipient address rejected: Access "
                     "denied",
                     ctx->rcpt);
            return POLICY_REJECT;
        } else if (strcmp(name, "permit_mynetworks") == 0) {
            if (policy_mynetworks(r, ctx->client))
                return POLICY_PERMIT;
        } else if (strcmp(name, "permit_sasl_authenticated") == 0) {
            /* No AUTH yet: never authenticated. */
        } else if (strcmp(name, "reject_unauth_destination") == 0 ||
                   strcmp(name, "defer_unauth_destination") == 0) {
            if (!rewrite_auth_destination(r, ctx->rcpt)) {
                int defer = name[0] == 'd';
                snprintf(reply, len, "%s <%s>: Relay access denied",
                         defer ? "454 4.7.1" : "554 5.7.1", ctx->rcpt);
                return POLICY_REJECT;
            }
        } else if (strcmp(name, "reject_non_fqdn_recipient") == 0) {
            if (!policy_fqdn(ctx->rcpt)) {
                snprintf(reply, len,
                         "504 5.5.2 <%s>: Recipient address rejected: need "
                         "fully-qualified address",
                         ctx->rcpt);
                return POLICY_REJECT;
            }
        } else if (strcmp(name, "reject_non_fqdn_sender") == 0) {
            if (!policy_fqdn(ctx->sender)) {
                snprintf(reply, len,
                         "504 5.5.2 <%s>: Sender address rejected: need "
                         "fully-qualified address",
                         ctx->sender);
                return POLICY_REJECT;
            }
        } else if (strcmp(name, "check_sender_access") == 0 && arg) {
            i++;
            if (*ctx->sender != '\0')
                rc = policy_check_addr_access(r, arg, ctx->sender,
                                              "Sender address", reply, len);
        } else if (strcmp(name, "check_recipient_access") == 0 && arg) {
            i++;
            rc = policy_check_addr_access(r, arg, ctx->rcpt,
                                          "Recipient address", reply, len);
        } else {
            log_warnx("unknown smtpd restriction: \"%s\"", name);
            snprintf(reply, len, "451 4.3.5 Server configuration error");
            return POLICY_REJECT;
        }
        if (rc != POLICY_DUNNO)
            return rc;
    }
    return POLICY_DUNNO;
}
