/*
 * check_smuggle.c — the SMTP smuggling battery (SEC Consult, December
 * 2023; Postfix's smtp-smuggling.html). RFC 5321 section 4.1.1.4 ends a
 * message with <CRLF>.<CRLF> only. Each test hides a second complete
 * transaction behind one non-standard end-of-data sequence, then ends the
 * message properly. A server that reads the message as one answers once;
 * a server that ended it at the sequence also answers the hidden MAIL,
 * RCPT and DATA: it split the message. The verdict needs nothing but the
 * replies, so it holds for any server.
 */
#include "check_int.h"

#include <stdlib.h>
#include <string.h>

static const struct check_smuggle_variant {
    const char *name;
    const char *eod; /* may hold NUL: eodlen says how long */
    size_t eodlen;
} check_smuggle_variants[] = {
#define V(name, s)                                                             \
    {                                                                          \
        name, s, sizeof(s) - 1                                                 \
    }
    V("lf-dot-lf", "\n.\n"),
    V("lf-dot-crlf", "\n.\r\n"),
    V("cr-dot-cr", "\r.\r"),
    V("crlf-dot-cr", "\r\n.\r"),
    V("cr-dot-crlf", "\r.\r\n"),
    V("crlf-dot-lf", "\r\n.\n"),
    V("crlf-nul-dot-crlf", "\r\n\0.\r\n"),
    V("crcrlf-dot-crcrlf", "\r\r\n.\r\r\n"),
    V("crlf-dot-nul-crlf", "\r\n.\0\r\n"),
    V("crlf-nul-dot-cr", "\r\n\0.\r"),
    V("crlf-nul-dot-lf", "\r\n\0.\n"),
    V("lf-lf-dot-crlf", "\n\n.\r\n"),
    V("lf-dot-cr", "\n.\r"),
    V("cr-dot-lf", "\r.\n"),
    V("lf-lf-dot-lf-lf", "\n\n.\n\n"),
    V("crlf-dot-crcrlf", "\r\n.\r\r\n"),
#undef V
};

/* The message for rcpt: a first part, the sequence, a hidden transaction
 * for the same recipient, and the real end of data. */
static void check_smuggle_payload(const struct check_target *t,
                                  const struct check_smuggle_variant *v,
                                  const char *rcpt, struct strbuf *out)
{
    strbuf_printf(out,
                  "To: <%s>\r\nSubject: mxlab check smuggling %s (outer)"
                  "\r\n\r\nThe next line ends this message only for a "
                  "server that splits it.",
                  rcpt, v->name);
    strbuf_append(out, v->eod, v->eodlen);
    strbuf_printf(out,
                  "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                  "To: <%s>\r\nSubject: mxlab check smuggling %s (hidden)"
                  "\r\n\r\nSmuggled.\r\n.\r\n",
                  t->sender, rcpt, rcpt, v->name);
}

/* MAIL and RCPT that the server accepts, then DATA: 0, or -1 with r not
 * applicable. */
static int check_smuggle_open(struct check_target *t, struct check_conn *c,
                              struct check_result *r, const char *to)
{
    struct check_reply rep = {-1, NULL};
    char *mail = xasprintf("MAIL FROM:<%s>", t->sender);
    char *rcpt = xasprintf("RCPT TO:<%s>", to);
    char line[160];
    int rc = -1;

    if (check_conn_cmd(c, mail, &rep) < 0 || check_reply_class(&rep) != 2)
        check_result_set(r, CHECK_NA, &rep,
                         "sender refused (%s): give --from an address it "
                         "takes",
                         check_reply_line(&rep, line, sizeof(line)));
    else if (check_reply_clear(&rep),
             check_conn_cmd(c, rcpt, &rep) < 0 || check_reply_class(&rep) != 2)
        check_result_set(r, CHECK_NA, &rep,
                         "%s refused: give --domain a domain it receives "
                         "for",
                         to);
    else if (check_reply_clear(&rep),
             check_conn_cmd(c, "DATA", &rep) < 0 || rep.code != 354)
        check_result_set(r, CHECK_NA, &rep, "DATA refused");
    else
        rc = 0;
    check_reply_clear(&rep);
    free(mail);
    free(rcpt);
    return rc;
}

/* Send the payload; read the reply to the message, then QUIT and every
 * reply up to QUIT's 221: any reply in between belongs to the hidden
 * transaction. */
static void check_smuggle_judge(struct check_target *t, struct check_conn *c,
                                struct check_result *r,
                                const struct check_smuggle_variant *v)
{
    struct check_reply first = {-1, NULL}, rep = {-1, NULL};
    struct strbuf payload, codes;
    char line[160];
    int hidden = 0, hidden_data = 0, hidden_data_ok = 0;

    strbuf_init(&payload);
    strbuf_init(&codes);
    char *to = xasprintf("postmaster@%s", t->domain);
    check_smuggle_payload(t, v, to, &payload);
    free(to);
    check_conn_write(c, payload.buf, payload.len);
    if (check_conn_read(c, &first) < 0) {
        check_result_set(r, CHECK_NA, &first,
                         "no reply to the end of the message: %s", first.text);
        goto done;
    }
    if (check_reply_class(&first) != 2) {
        check_result_set(r, CHECK_REFUSED, &first,
                         "the message with %s was refused: %s", v->name,
                         check_reply_line(&first, line, sizeof(line)));
        goto done;
    }
    check_conn_write(c, "QUIT\r\n", 6);
    while (check_conn_read(c, &rep) == 0 && rep.code != 221) {
        hidden++;
        /* MAIL, RCPT, DATA (354), then the hidden message's own end (an
         * empty line between may draw a 500 first). */
        if (hidden_data && check_reply_class(&rep) == 2)
            hidden_data_ok = 1;
        hidden_data = hidden_data || rep.code == 354;
        strbuf_printf(&codes, " %d", rep.code);
        check_reply_clear(&rep);
    }
    if (hidden == 0)
        check_result_set(r, CHECK_ACCEPTED, &first,
                         "one message: the sequence was taken as content");
    else
        check_result_set(r, CHECK_SPLIT, &first,
                         "the server ended DATA at the sequence and answered "
                         "%d hidden command(s) (%s)%s",
                         hidden, codes.buf + 1,
                         hidden_data_ok ? ": the hidden message was accepted"
                                        : "");
done:
    check_reply_clear(&first);
    check_reply_clear(&rep);
    strbuf_clear(&payload);
    strbuf_clear(&codes);
}

void check_battery_smuggling(struct check_target *t, struct check_results *rs)
{
    size_t n =
        sizeof(check_smuggle_variants) / sizeof(check_smuggle_variants[0]);

    for (size_t i = 0; i < n; i++) {
        const struct check_smuggle_variant *v = &check_smuggle_variants[i];
        struct check_result *r =
            check_results_add(rs, "smuggling", v->name, CHECK_WANT_NOT_SPLIT);
        struct strbuf sent;
        strbuf_init(&sent);
        strbuf_puts(&sent, "DATA ...");
        check_escape(&sent, v->eod, v->eodlen, 16);
        strbuf_puts(&sent, "MAIL FROM ... \\r\\n.\\r\\n");
        r->sent = sent.buf;
        struct check_conn *c = check_session_begin(t, r, NULL);
        if (c == NULL)
            continue;
        char *to = xasprintf("postmaster@%s", t->domain);
        if (check_smuggle_open(t, c, r, to) == 0)
            check_smuggle_judge(t, c, r, v);
        free(to);
        check_session_end(c, r);
    }
}

/* 1 if the sequence holds a line end other than CRLF (a bare CR or LF):
 * what a lenient receiver may take as the end of a line. */
static int check_smuggle_bare(const struct check_smuggle_variant *v)
{
    for (size_t i = 0; i < v->eodlen; i++) {
        if (v->eod[i] == '\r' && (i + 1 == v->eodlen || v->eod[i + 1] != '\n'))
            return 1;
        if (v->eod[i] == '\n' && (i == 0 || v->eod[i - 1] != '\r'))
            return 1;
    }
    return 0;
}

/* One outbound test: the message goes to the outside domain through the
 * SUT (which must relay for this client); what reached the next hop says
 * whether the SUT passed the sequence on as it came. */
static void check_smuggle_outbound_one(struct check_target *t,
                                       struct check_result *r,
                                       const struct check_smuggle_variant *v)
{
    struct check_reply rep = {-1, NULL};
    struct strbuf payload;
    char *to = xasprintf("relaytest@%s", t->outside);
    struct check_conn *c = check_session_begin(t, r, NULL);
    long mark = t->left(t->left_arg);

    strbuf_init(&payload);
    if (c != NULL && check_smuggle_open(t, c, r, to) == 0) {
        check_smuggle_payload(t, v, to, &payload);
        check_conn_write(c, payload.buf, payload.len);
        if (check_conn_read(c, &rep) < 0 || check_reply_class(&rep) != 2) {
            check_result_set(r, CHECK_REFUSED, &rep,
                             "the message with %s was refused", v->name);
        } else {
            long got = t->left(t->left_arg) - mark;
            int raw = t->passed(t->left_arg, mark, v->eod, v->eodlen);
            if (got == 0) {
                check_result_set(r, CHECK_NA, &rep,
                                 "nothing reached a fake MX for %s (no "
                                 "route from this scenario)",
                                 t->outside);
            } else if (raw && check_smuggle_bare(v)) {
                check_result_set(r, CHECK_SPLIT, &rep,
                                 "passed on as it came, bare CR or LF and "
                                 "all: a lenient next hop ends DATA there "
                                 "(%ld message(s) at the next hop)",
                                 got);
            } else if (got > 1) {
                /* The SUT split it itself: the inbound battery judges
                 * that; from a trusted client it may be configured
                 * (Postfix's smtpd_forbid_bare_newline_exclusions). */
                r->want = CHECK_WANT_ANY;
                check_result_set(r, CHECK_SPLIT, &rep,
                                 "the SUT split it itself for this client in "
                                 "mynetworks: %ld messages at the next hop "
                                 "(reported)",
                                 got);
            } else {
                check_result_set(r, CHECK_ACCEPTED, &rep,
                                 "one message at the next hop, %s",
                                 raw ? "the sequence as it came (no bare CR "
                                       "or LF in it)"
                                     : "its line ends made standard");
            }
        }
    }
    check_reply_clear(&rep);
    check_session_end(c, r);
    strbuf_clear(&payload);
    free(to);
}

void check_battery_smuggling_outbound(struct check_target *t,
                                      struct check_results *rs)
{
    size_t n =
        sizeof(check_smuggle_variants) / sizeof(check_smuggle_variants[0]);

    if (t->left == NULL || t->passed == NULL) {
        struct check_result *r = check_results_add(
            rs, "smuggling-out", "next-hop", CHECK_WANT_NOT_SPLIT);
        r->sent = xstrdup("(no session)");
        check_result_set(r, CHECK_NA, NULL,
                         "needs a lab SUT: what the SUT passes on is seen "
                         "only at a fake MX");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct check_smuggle_variant *v = &check_smuggle_variants[i];
        struct check_result *r = check_results_add(rs, "smuggling-out", v->name,
                                                   CHECK_WANT_NOT_SPLIT);
        struct strbuf sent;
        strbuf_init(&sent);
        strbuf_printf(&sent, "RCPT TO:<relaytest@%s> DATA ...", t->outside);
        check_escape(&sent, v->eod, v->eodlen, 16);
        strbuf_puts(&sent, "MAIL FROM ... \\r\\n.\\r\\n");
        r->sent = sent.buf;
        check_smuggle_outbound_one(t, r, v);
    }
}
