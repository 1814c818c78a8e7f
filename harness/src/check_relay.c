/*
 * check_relay.c — the open-relay battery. From a client the server does
 * not trust, mail for a domain it does not serve must be refused (RFC 5321
 * section 3.6.2, RFC 2505). Each test is one session: MAIL, RCPT, and
 * where RCPT is accepted, DATA and a short message; the verdict is
 * "accepted" only if the message itself was accepted. nmap's 16
 * smtp-open-relay combinations come first, then the address tricks that
 * relays get wrong (RFC 5321 section 3.6.1 source routes, RFC 2505
 * section 2 "%", "!" and quoted forms).
 */
#include "check_int.h"

#include <stdlib.h>
#include <string.h>

#include "mxlab/strutil.h"

/* Templates: {L} the local domain, {O} the outside domain, {S} the name
 * in the greeting, {I} the server's address, {L.} and {O.} with a
 * trailing dot, {LU} and {OU} in upper case, {F} the --from sender. */
static const struct check_relay_test {
    const char *name;
    const char *from; /* NULL: MAIL FROM:<> ; "" : "MAIL FROM: <>" */
    const char *to;
    enum check_want want;
} check_relay_tests[] = {
    /* nmap 7.93 smtp-open-relay, in its order, domain = {O}. */
    {"nmap-01-null-sender", NULL, "relaytest@{O}", CHECK_WANT_REFUSED},
    {"nmap-02-outside-sender", "antispam@{O}", "relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"nmap-03-server-name-sender", "antispam@{S}", "relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"nmap-04-ip-literal-sender", "antispam@[{I}]", "relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"nmap-05-percent-ip", "antispam@[{I}]", "relaytest%{O}@[{I}]",
     CHECK_WANT_REFUSED},
    {"nmap-06-percent-server", "antispam@[{I}]", "relaytest%{O}@{S}",
     CHECK_WANT_REFUSED},
    {"nmap-07-quoted-at", "antispam@[{I}]", "\"relaytest@{O}\"",
     CHECK_WANT_REFUSED},
    {"nmap-08-quoted-percent", "antispam@[{I}]", "\"relaytest%{O}\"",
     CHECK_WANT_REFUSED},
    {"nmap-09-double-at-ip", "antispam@[{I}]", "relaytest@{O}@[{I}]",
     CHECK_WANT_REFUSED},
    {"nmap-10-quoted-at-ip", "antispam@[{I}]", "\"relaytest@{O}\"@[{I}]",
     CHECK_WANT_REFUSED},
    {"nmap-11-double-at-server", "antispam@[{I}]", "relaytest@{O}@{S}",
     CHECK_WANT_REFUSED},
    {"nmap-12-source-route-ip", "antispam@[{I}]", "@[{I}]:relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"nmap-13-source-route-server", "antispam@[{I}]", "@{S}:relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"nmap-14-bang", "antispam@[{I}]", "{O}!relaytest", CHECK_WANT_REFUSED},
    {"nmap-15-bang-ip", "antispam@[{I}]", "{O}!relaytest@[{I}]",
     CHECK_WANT_REFUSED},
    {"nmap-16-bang-server", "antispam@[{I}]", "{O}!relaytest@{S}",
     CHECK_WANT_REFUSED},
    /* The local domain: mail for it is accepted (control, never a
     * finding); tricks that route through it must not leave. */
    {"control-local-recipient", "{F}", "relaytest@{L}", CHECK_WANT_ANY},
    {"percent-hack", "{F}", "relaytest%{O}@{L}", CHECK_WANT_REFUSED},
    {"percent-hack-dot", "{F}", "relaytest%{O}@{L.}", CHECK_WANT_REFUSED},
    {"percent-hack-case", "{F}", "relaytest%{O}@{LU}", CHECK_WANT_REFUSED},
    {"bang-path", "{F}", "{O}!relaytest@{L}", CHECK_WANT_REFUSED},
    {"bang-chain", "{F}", "{L}!{O}!relaytest", CHECK_WANT_REFUSED},
    {"source-route", "{F}", "@{L}:relaytest@{O}", CHECK_WANT_REFUSED},
    {"source-route-two-hops", "{F}", "@{L},@{L.}:relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"quoted-at", "{F}", "\"relaytest@{O}\"@{L}", CHECK_WANT_REFUSED},
    {"quoted-percent", "{F}", "\"relaytest%{O}\"@{L}", CHECK_WANT_REFUSED},
    {"quoted-bang", "{F}", "\"{O}!relaytest\"@{L}", CHECK_WANT_REFUSED},
    {"double-at", "{F}", "relaytest@{O}@{L}", CHECK_WANT_REFUSED},
    {"ip-literal-percent", "{F}", "relaytest%{O}@[{I}]", CHECK_WANT_REFUSED},
    {"outside-dot", "{F}", "relaytest@{O.}", CHECK_WANT_REFUSED},
    {"outside-case", "{F}", "relaytest@{OU}", CHECK_WANT_REFUSED},
    {"outside-case-local-sender", "postmaster@{LU}", "relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"empty-sender", "", "relaytest@{O}", CHECK_WANT_REFUSED},
    {"spoofed-local-sender", "postmaster@{L}", "relaytest@{O}",
     CHECK_WANT_REFUSED},
    {"spoofed-local-sender-dot", "postmaster@{L.}", "relaytest@{O}",
     CHECK_WANT_REFUSED},
};

void check_expand(const struct check_target *t, const char *tpl,
                  struct strbuf *out)
{
    const struct {
        const char *key;
        const char *val;
        int how; /* 0 as is, 1 with a dot, 2 upper case */
    } keys[] = {
        {"{L.}", t->domain, 1}, {"{O.}", t->outside, 1},
        {"{LU}", t->domain, 2}, {"{OU}", t->outside, 2},
        {"{L}", t->domain, 0},  {"{O}", t->outside, 0},
        {"{S}", t->srvname, 0}, {"{I}", t->ip, 0},
        {"{F}", t->sender, 0},
    };

    for (const char *p = tpl; *p;) {
        size_t k = 0, nk = sizeof(keys) / sizeof(keys[0]);
        while (k < nk && strncmp(p, keys[k].key, strlen(keys[k].key)) != 0)
            k++;
        if (k == nk) {
            strbuf_putc(out, *p++);
            continue;
        }
        char *v = keys[k].how == 1   ? check_domain_dot(keys[k].val)
                  : keys[k].how == 2 ? check_domain_upper(keys[k].val)
                                     : xstrdup(keys[k].val);
        strbuf_puts(out, v);
        free(v);
        p += strlen(keys[k].key);
    }
}

/* 1 if the recipient's domain is one of the server's own forms (the
 * local domain in any case, with or without a trailing dot, its greeting
 * name, its address literal) or missing: then only a lab can tell
 * whether the trick made it leave. */
static int check_relay_local_form(const struct check_target *t, const char *to)
{
    const char *q = to[0] == '"' ? strchr(to + 1, '"') : NULL;
    const char *at = strrchr(q ? q : to, '@');
    const char *own[3] = {t->domain, t->srvname, NULL};
    char lit[80];

    if (at == NULL)
        return 1;
    snprintf(lit, sizeof(lit), "[%s]", t->ip);
    own[2] = lit;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(own[i]);
        if (str_ncasecmp(at + 1, own[i], n) == 0 &&
            (at[1 + n] == '\0' || (at[1 + n] == '.' && at[2 + n] == '\0')))
            return 1;
    }
    return 0;
}

/* MAIL, RCPT, DATA, message: the verdict on r. */
static void check_relay_dialogue(struct check_target *t, struct check_conn *c,
                                 struct check_result *r, const char *mail,
                                 const char *rcpt, const char *to)
{
    struct check_reply rep = {-1, NULL};
    char line[160];
    long left0 = t->left ? t->left(t->left_arg) : -1;

    if (check_conn_cmd(c, mail, &rep) < 0 || check_reply_class(&rep) != 2) {
        check_result_set(r, CHECK_REFUSED, &rep, "sender refused at MAIL: %s",
                         check_reply_line(&rep, line, sizeof(line)));
        goto done;
    }
    check_reply_clear(&rep);
    if (check_conn_cmd(c, rcpt, &rep) < 0 || check_reply_class(&rep) != 2) {
        check_result_set(r, CHECK_REFUSED, &rep, "refused at RCPT");
        goto done;
    }
    check_reply_clear(&rep);
    if (check_conn_cmd(c, "DATA", &rep) < 0 || rep.code != 354) {
        check_result_set(r, CHECK_REFUSED, &rep,
                         "accepted at RCPT, refused at DATA");
        goto done;
    }
    check_reply_clear(&rep);
    char *msg = xasprintf("To: <%s>\r\nSubject: mxlab check %s %s\r\n\r\n"
                          "A test of whether this server relays; it should "
                          "have been refused.\r\n.\r\n",
                          to, r->battery, r->name);
    check_conn_write(c, msg, strlen(msg));
    free(msg);
    if (check_conn_read(c, &rep) < 0 || check_reply_class(&rep) != 2) {
        check_result_set(r, CHECK_REFUSED, &rep,
                         "accepted at RCPT, message refused at end of DATA");
        goto done;
    }
    if (left0 >= 0) {
        /* A lab SUT: what reached a fake MX for the outside domain. An
         * address in a local form that left nothing was kept or bounced:
         * not relayed. One for another domain was relayed, routable or
         * not. */
        long left = t->left(t->left_arg) - left0;
        int local =
            r->want == CHECK_WANT_REFUSED && check_relay_local_form(t, to);
        check_result_set(
            r, left > 0 || !local ? CHECK_ACCEPTED : CHECK_REFUSED, &rep,
            "accepted through DATA; %ld message(s) reached a "
            "fake MX for %s%s",
            left, t->outside,
            left == 0 && local ? " (kept or bounced locally)" : "");
        goto done;
    }
    check_result_set(r, CHECK_ACCEPTED, &rep,
                     "accepted at RCPT and through DATA");
done:
    check_reply_clear(&rep);
}

void check_battery_relay(struct check_target *t, struct check_results *rs)
{
    size_t n = sizeof(check_relay_tests) / sizeof(check_relay_tests[0]);

    for (size_t i = 0; i < n; i++) {
        const struct check_relay_test *tt = &check_relay_tests[i];
        struct check_result *r =
            check_results_add(rs, "open-relay", tt->name, tt->want);
        struct strbuf from, to;
        strbuf_init(&from);
        strbuf_init(&to);
        if (tt->from)
            check_expand(t, tt->from, &from);
        check_expand(t, tt->to, &to);
        char *mail = tt->from == NULL ? xasprintf("MAIL FROM:<>")
                     : *tt->from == '\0'
                         ? xasprintf("MAIL FROM: <>")
                         : xasprintf("MAIL FROM:<%s>", from.buf);
        char *rcpt = xasprintf("RCPT TO:<%s>", to.buf);
        r->sent = xasprintf("%s / %s", mail, rcpt);
        struct check_conn *c = check_session_begin(t, r, NULL);
        if (c != NULL) {
            check_relay_dialogue(t, c, r, mail, rcpt, to.buf);
            check_session_end(c, r);
        }
        if (tt->want == CHECK_WANT_ANY && r->verdict == CHECK_ACCEPTED) {
            char *why =
                xasprintf("%s (mail for the local domain: control)", r->reason);
            free(r->reason);
            r->reason = why;
        }
        free(mail);
        free(rcpt);
        strbuf_clear(&from);
        strbuf_clear(&to);
    }
}
