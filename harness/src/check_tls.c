/*
 * check_tls.c — the STARTTLS battery (RFC 3207): whether STARTTLS is
 * offered and mail is taken without it (reported), command injection
 * (CVE-2011-0411: plain-text commands pipelined behind STARTTLS must be
 * discarded, RFC 3207 section 4.2), the certificate and session (subject,
 * issuer, expiry, protocol, cipher: reported), and AUTH PLAIN or LOGIN
 * offered before TLS (a finding: passwords in clear, RFC 4954 section 4).
 */
#include "check_int.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/tlsutil.h"

/* The injected command: unknown to every server, so a reply to it (5xx)
 * cannot be mistaken for the reply to EHLO (250). */
#define CHECK_TLS_INJECTED "XMXLAB-INJECTED"

/* STARTTLS offered, and MAIL before TLS: reported for a remote SUT; with
 * a lab SUT, judged against its smtpd_tls_security_level (may: offered
 * and not required; encrypt: offered and required, 530 before TLS; none:
 * not offered). */
static void check_tls_offered(struct check_target *t, struct check_results *rs,
                              int *offered)
{
    int lvl = t->tls_level;
    struct check_result *r =
        check_results_add(rs, "starttls", "offered",
                          lvl < 0    ? CHECK_WANT_ANY
                          : lvl == 0 ? CHECK_WANT_REFUSED
                                     : CHECK_WANT_ACCEPTED);
    struct check_result *q =
        check_results_add(rs, "starttls", "mail-before-tls",
                          lvl < 0    ? CHECK_WANT_ANY
                          : lvl == 2 ? CHECK_WANT_REFUSED
                                     : CHECK_WANT_ACCEPTED);
    struct strlist kw;
    struct check_reply rep = {-1, NULL};

    strlist_init(&kw);
    char *mail = xasprintf("MAIL FROM:<%s>", t->sender);
    r->sent = xstrdup("EHLO");
    q->sent = xasprintf("EHLO; %s before STARTTLS", mail);
    struct check_conn *c = check_session_begin(t, r, &kw);
    if (c != NULL) {
        *offered = strlist_contains_case(&kw, "STARTTLS");
        check_result_set(r, *offered ? CHECK_ACCEPTED : CHECK_REFUSED, NULL,
                         "STARTTLS %s%s", *offered ? "offered" : "not offered",
                         lvl < 0    ? ""
                         : lvl == 0 ? " (smtpd_tls_security_level = none)"
                                    : " (smtpd_tls_security_level = may or "
                                      "encrypt)");
        check_conn_cmd(c, mail, &rep);
        int cl = check_reply_class(&rep);
        check_result_set(q, cl == 2 ? CHECK_ACCEPTED : CHECK_REFUSED, &rep,
                         "mail before TLS %s",
                         rep.code == 530 ? "refused with 530: TLS required"
                         : cl == 2       ? "accepted"
                                         : "refused");
        q->transcript = xstrdup(check_conn_transcript(c));
        check_session_end(c, r);
    } else {
        check_result_set(q, CHECK_NA, NULL, "%s", r->reason);
    }
    free(mail);
    check_reply_clear(&rep);
    strlist_clear(&kw);
}

static void check_tls_plain_auth(struct check_target *t,
                                 struct check_results *rs)
{
    struct check_result *r = check_results_add(
        rs, "starttls", "auth-before-tls", CHECK_WANT_REFUSED);
    struct check_reply rep = {-1, NULL};
    char *name = xasprintf("check.%s", t->outside);

    r->sent = xasprintf("EHLO %s (before TLS)", name);
    struct check_conn *c = check_session_begin(t, r, NULL);
    if (c != NULL) {
        check_conn_ehlo(c, name, &rep, NULL);
        const char *auth = rep.text ? strstr(rep.text, "AUTH") : NULL;
        int plain = 0;
        for (const char *p = auth; p && *p && *p != '\n'; p++)
            if (str_casestart(p, " PLAIN") || str_casestart(p, " LOGIN"))
                plain = 1;
        if (t->tls_now)
            check_result_set(r, CHECK_NA, &rep, "smtps: TLS from the start");
        else if (plain)
            check_result_set(r, CHECK_ACCEPTED, &rep,
                             "AUTH PLAIN or LOGIN offered without TLS: "
                             "passwords would cross in clear");
        else
            check_result_set(r, CHECK_REFUSED, &rep,
                             "no AUTH PLAIN or LOGIN before TLS");
        check_session_end(c, r);
    }
    free(name);
    check_reply_clear(&rep);
}

/* "subject S, issuer I, expires E, TLSv1.3 with cipher C" into out. */
static void check_tls_describe(SSL *ssl, struct strbuf *out)
{
    X509 *crt = SSL_get1_peer_certificate(ssl);
    struct strbuf sum, det;
    char subj[256] = "none", iss[256] = "none", exp[64] = "?";

    if (crt != NULL) {
        X509_NAME_oneline(X509_get_subject_name(crt), subj, sizeof(subj));
        X509_NAME_oneline(X509_get_issuer_name(crt), iss, sizeof(iss));
        const ASN1_TIME *na = X509_get0_notAfter(crt);
        struct tm tm;
        if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1)
            strftime(exp, sizeof(exp), "%Y-%m-%d %H:%M:%S UTC", &tm);
        X509_free(crt);
    }
    strbuf_init(&sum);
    strbuf_init(&det);
    tls_describe(ssl, &sum, &det);
    strbuf_printf(out, "subject %s, issuer %s, expires %s, %s", subj, iss, exp,
                  sum.buf ? sum.buf : "");
    strbuf_clear(&sum);
    strbuf_clear(&det);
}

/* STARTTLS with an unknown command pipelined behind it; after the
 * handshake, EHLO. The first reply under TLS belongs to the injected
 * command if the server kept it. Also reports the certificate. */
static void check_tls_injection(struct check_target *t,
                                struct check_results *rs, int offered)
{
    struct check_result *r = check_results_add(
        rs, "starttls", "command-injection", CHECK_WANT_REFUSED);
    struct check_result *cr =
        check_results_add(rs, "starttls", "certificate", CHECK_WANT_ANY);
    struct check_reply rep = {-1, NULL};
    char err[256];
    size_t extra = 0;

    r->sent = xstrdup("STARTTLS\\r\\n" CHECK_TLS_INJECTED "\\r\\n in one "
                      "write; then EHLO under TLS");
    cr->sent = xstrdup("STARTTLS; handshake");
    if (!offered || t->tls_now) {
        const char *why = t->tls_now ? "smtps: TLS from the start, no STARTTLS"
                                     : "STARTTLS not offered";
        check_result_set(r, CHECK_NA, NULL, "%s", why);
        check_result_set(cr, CHECK_NA, NULL, "%s", why);
        return;
    }
    struct check_conn *c = check_session_begin(t, r, NULL);
    if (c == NULL)
        return;
    check_conn_write(c, "STARTTLS\r\n" CHECK_TLS_INJECTED "\r\n",
                     10 + sizeof(CHECK_TLS_INJECTED) - 1 + 2);
    if (check_conn_read(c, &rep) < 0 || rep.code != 220) {
        check_result_set(r, CHECK_REFUSED, &rep, "STARTTLS not accepted");
        check_result_set(cr, CHECK_NA, &rep, "STARTTLS not accepted");
    } else if (check_conn_starttls(c, &extra, err, sizeof(err)) < 0) {
        /* A plain-text reply to the injected command, or a handshake
         * that the injected bytes broke: either way not run under TLS. */
        check_result_set(r, extra ? CHECK_ACCEPTED : CHECK_REFUSED, &rep, "%s",
                         err);
        check_result_set(cr, CHECK_NA, &rep, "no TLS session: %s", err);
    } else {
        struct strbuf d;
        strbuf_init(&d);
        check_tls_describe(check_conn_ssl(c), &d);
        check_result_set(cr, CHECK_ACCEPTED, &rep, "%s", d.buf);
        strbuf_clear(&d);
        char *name = xasprintf("EHLO check.%s", t->outside);
        check_reply_clear(&rep);
        check_conn_cmd(c, name, &rep);
        free(name);
        if (check_reply_class(&rep) == 2)
            check_result_set(r, CHECK_REFUSED, &rep,
                             "the injected command was discarded: the first "
                             "reply under TLS answers EHLO");
        else if (rep.code > 0)
            check_result_set(r, CHECK_ACCEPTED, &rep,
                             "the injected plain-text command was answered "
                             "under TLS (CVE-2011-0411)");
        else
            check_result_set(r, CHECK_REFUSED, &rep, "no reply under TLS: %s",
                             rep.text);
    }
    check_reply_clear(&rep);
    free(cr->transcript);
    cr->transcript = xstrdup(check_conn_transcript(c));
    check_session_end(c, r);
}

void check_battery_starttls(struct check_target *t, struct check_results *rs)
{
    int offered = 0;

    check_tls_offered(t, rs, &offered);
    check_tls_injection(t, rs, offered);
    check_tls_plain_auth(t, rs);
}
