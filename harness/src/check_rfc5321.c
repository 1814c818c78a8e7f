/*
 * check_rfc5321.c — the basics any SMTP server must get right (RFC 5321),
 * judged by reply class only: greeting (section 4.2, 3.1), EHLO and HELO
 * (4.1.1.1), extensions in any order, VRFY and EXPN (3.5, reported), RSET,
 * NOOP, unknown commands and syntax errors (4.2.4), commands out of order
 * (4.1.4), line limits (4.5.3.1.4: 512 octets a command line, 4.5.3.1.6:
 * 1000 a text line), the null reverse-path (4.5.5), postmaster (4.5.1),
 * pipelining (RFC 2920 section 3.1: replies in order), QUIT (4.1.1.10).
 */
#include "check_int.h"

#include <stdlib.h>
#include <string.h>

#define CHECK_RFC_SETUP_MAX 3

typedef void check_rfc_fn(struct check_target *t, struct check_conn *c,
                          struct check_result *r, const struct strlist *kw);

/* A test: setup commands that must get 2xx (else not applicable), then
 * one decisive command judged by class (2xx or 3xx accepted, 4xx or 5xx
 * refused); or a function for what a line cannot say. Templates as in
 * check_expand(). */
struct check_rfc_test {
    const char *name;
    enum check_want want;
    const char *setup[CHECK_RFC_SETUP_MAX];
    const char *cmd;
    check_rfc_fn *fn;
};

/* Reply class into a verdict: 2xx and 3xx accepted, else refused. */
static void check_rfc_class(struct check_result *r,
                            const struct check_reply *rep, const char *what)
{
    int cl = check_reply_class(rep);

    /* A 4xx says "not now" (greylisting, a policy server, a lookup that
     * failed): not a refusal, and no acceptance either. */
    if (cl == 4 && r->want == CHECK_WANT_ACCEPTED) {
        check_result_set(r, CHECK_NA, rep,
                         "%s: answered with a temporary failure (4xx): "
                         "greylisting or a policy; not judged",
                         what);
        return;
    }
    check_result_set(r, cl == 2 || cl == 3 ? CHECK_ACCEPTED : CHECK_REFUSED,
                     rep, "%s: %s", what,
                     cl == 0   ? rep->text
                     : cl <= 3 ? "accepted"
                               : "refused");
}

static void check_rfc_ehlo(struct check_target *t, struct check_conn *c,
                           struct check_result *r, const struct strlist *kw)
{
    struct strbuf list;

    (void)t;
    (void)c;
    strbuf_init(&list);
    for (size_t i = 0; i < kw->n; i++)
        strbuf_printf(&list, "%s%s", i ? " " : "", kw->v[i]);
    check_result_set(r, CHECK_ACCEPTED, NULL,
                     "EHLO answered 250 with %zu "
                     "extension(s), in the server's order: %s",
                     kw->n, list.buf ? list.buf : "(none)");
    strbuf_clear(&list);
}

/* RFC 2920: a burst of commands, every reply in order. What the server
 * thinks of the sender or recipient is not the question: the four
 * replies must come, and RSET and NOOP (which always succeed, RFC 5321
 * sections 4.1.1.5 and 4.1.1.9) must be answered 2xx in their place. */
static void check_rfc_pipelining(struct check_target *t, struct check_conn *c,
                                 struct check_result *r,
                                 const struct strlist *kw)
{
    struct check_reply rep = {-1, NULL};
    struct strbuf burst, codes;
    int ok = 0, got = 0;

    if (!strlist_contains_case(kw, "PIPELINING")) {
        check_result_set(r, CHECK_NA, NULL, "PIPELINING not offered");
        return;
    }
    strbuf_init(&burst);
    strbuf_init(&codes);
    check_expand(t,
                 "MAIL FROM:<{F}>\r\nRCPT TO:<postmaster@{L}>\r\nRSET\r\n"
                 "NOOP\r\n",
                 &burst);
    check_conn_write(c, burst.buf, burst.len);
    for (got = 0; got < 4 && check_conn_read(c, &rep) == 0; got++) {
        ok += got < 2 || check_reply_class(&rep) == 2;
        strbuf_printf(&codes, " %d", rep.code);
        if (got < 3)
            check_reply_clear(&rep);
    }
    check_result_set(r, ok == 4 ? CHECK_ACCEPTED : CHECK_REFUSED, &rep,
                     "%d of 4 pipelined commands answered, %d in order:%s", got,
                     ok, codes.buf ? codes.buf : " none");
    check_reply_clear(&rep);
    strbuf_clear(&burst);
    strbuf_clear(&codes);
}

/* A text line of 998 octets plus CRLF (section 4.5.3.1.6). */
static void check_rfc_text_line(struct check_target *t, struct check_conn *c,
                                struct check_result *r,
                                const struct strlist *kw)
{
    struct check_reply rep = {-1, NULL};
    struct strbuf msg;
    char line[999];

    (void)t;
    (void)kw;
    memset(line, 'x', 998);
    line[998] = '\0';
    strbuf_init(&msg);
    strbuf_printf(&msg, "Subject: mxlab check text line\r\n\r\n%s\r\n.\r\n",
                  line);
    check_conn_write(c, msg.buf, msg.len);
    check_conn_read(c, &rep);
    check_rfc_class(r, &rep, "a message with a 1000-octet line");
    check_reply_clear(&rep);
    strbuf_clear(&msg);
}

/* Section 4.5.3.1.4: a 512-octet command line (NOOP [SP String],
 * section 4.1.1.9) must be taken. */
static void check_rfc_cmd512(struct check_target *t, struct check_conn *c,
                             struct check_result *r, const struct strlist *kw)
{
    struct check_reply rep = {-1, NULL};
    char line[512];

    (void)t;
    (void)kw;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(line, "NOOP ", 5);
    memset(line + 5, 'x', 510 - 5);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(line + 510, "\r\n", 2);
    check_conn_write(c, line, sizeof(line));
    check_conn_read(c, &rep);
    check_rfc_class(r, &rep, "a 512-octet command line");
    check_reply_clear(&rep);
}

/* Far past the limit: reported, with whether the session still works. */
static void check_rfc_overlong(struct check_target *t, struct check_conn *c,
                               struct check_result *r, const struct strlist *kw)
{
    struct check_reply rep = {-1, NULL}, after = {-1, NULL};
    char *line = xmalloc(4096 + 2);

    (void)t;
    (void)kw;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(line, "NOOP ", 5);
    memset(line + 5, 'x', 4096 - 5);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(line + 4096, "\r\n", 2);
    check_conn_write(c, line, 4096 + 2);
    free(line);
    check_conn_read(c, &rep);
    if (!check_conn_dead(c))
        check_conn_cmd(c, "NOOP", &after);
    int cl = check_reply_class(&rep);
    check_result_set(r, cl == 2 ? CHECK_ACCEPTED : CHECK_REFUSED, &rep,
                     "a 4098-octet command line %s; the session %s",
                     cl == 2 ? "accepted"
                     : cl    ? "refused"
                             : "unanswered",
                     check_reply_class(&after) == 2 ? "goes on"
                                                    : "ended or broke");
    check_reply_clear(&rep);
    check_reply_clear(&after);
}

static const struct check_rfc_test check_rfc_tests[] = {
    {"ehlo-extensions", CHECK_WANT_ACCEPTED, {NULL}, NULL, check_rfc_ehlo},
    {"helo", CHECK_WANT_ACCEPTED, {NULL}, "HELO check.{O}", NULL},
    {"noop", CHECK_WANT_ACCEPTED, {NULL}, "NOOP", NULL},
    {"rset", CHECK_WANT_ACCEPTED, {"MAIL FROM:<{F}>"}, "RSET", NULL},
    {"vrfy", CHECK_WANT_ANY, {NULL}, "VRFY postmaster", NULL},
    {"expn", CHECK_WANT_ANY, {NULL}, "EXPN postmaster", NULL},
    {"unknown-command", CHECK_WANT_REFUSED, {NULL}, "XMXLAB-UNKNOWN", NULL},
    {"mail-syntax-error", CHECK_WANT_REFUSED, {NULL}, "MAIL FROM:<{F}", NULL},
    {"mail-no-argument", CHECK_WANT_REFUSED, {NULL}, "MAIL", NULL},
    {"rcpt-before-mail",
     CHECK_WANT_REFUSED,
     {NULL},
     "RCPT TO:<postmaster@{L}>",
     NULL},
    {"data-before-rcpt", CHECK_WANT_REFUSED, {"MAIL FROM:<{F}>"}, "DATA", NULL},
    {"mail-twice",
     CHECK_WANT_REFUSED,
     {"MAIL FROM:<{F}>"},
     "MAIL FROM:<{F}>",
     NULL},
    {"null-sender", CHECK_WANT_ACCEPTED, {NULL}, "MAIL FROM:<>", NULL},
    {"postmaster",
     CHECK_WANT_ACCEPTED,
     {"MAIL FROM:<{F}>"},
     "RCPT TO:<postmaster@{L}>",
     NULL},
    {"postmaster-case",
     CHECK_WANT_ACCEPTED,
     {"MAIL FROM:<{F}>"},
     "RCPT TO:<PostMaster@{LU}>",
     NULL},
    {"postmaster-unqualified",
     CHECK_WANT_ANY,
     {"MAIL FROM:<{F}>"},
     "RCPT TO:<postmaster>",
     NULL},
    {"command-line-512", CHECK_WANT_ACCEPTED, {NULL}, NULL, check_rfc_cmd512},
    {"command-line-overlong", CHECK_WANT_ANY, {NULL}, NULL, check_rfc_overlong},
    {"text-line-1000",
     CHECK_WANT_ACCEPTED,
     {"MAIL FROM:<{F}>", "RCPT TO:<postmaster@{L}>", "DATA"},
     NULL,
     check_rfc_text_line},
    {"pipelining", CHECK_WANT_ACCEPTED, {NULL}, NULL, check_rfc_pipelining},
    {"quit", CHECK_WANT_ACCEPTED, {NULL}, "QUIT", NULL},
};

/* The setup commands: 0, or -1 with r not applicable. */
static int check_rfc_setup(struct check_target *t, struct check_conn *c,
                           struct check_result *r,
                           const struct check_rfc_test *tt)
{
    for (size_t k = 0; k < CHECK_RFC_SETUP_MAX && tt->setup[k]; k++) {
        struct check_reply rep = {-1, NULL};
        struct strbuf cmd;
        strbuf_init(&cmd);
        check_expand(t, tt->setup[k], &cmd);
        check_conn_cmd(c, cmd.buf, &rep);
        int cl = check_reply_class(&rep);
        if (cl != 2 && cl != 3) {
            check_result_set(r, CHECK_NA, &rep, "%s refused before the test",
                             cmd.buf);
            check_reply_clear(&rep);
            strbuf_clear(&cmd);
            return -1;
        }
        check_reply_clear(&rep);
        strbuf_clear(&cmd);
    }
    return 0;
}

static void check_rfc_one(struct check_target *t, struct check_results *rs,
                          const struct check_rfc_test *tt)
{
    struct check_result *r =
        check_results_add(rs, "rfc5321", tt->name, tt->want);
    struct strlist kw;
    struct strbuf sent;

    strlist_init(&kw);
    strbuf_init(&sent);
    for (size_t k = 0; k < CHECK_RFC_SETUP_MAX && tt->setup[k]; k++) {
        check_expand(t, tt->setup[k], &sent);
        strbuf_puts(&sent, " / ");
    }
    if (tt->cmd != NULL) {
        struct strbuf cmd;
        strbuf_init(&cmd);
        check_expand(t, tt->cmd, &cmd);
        check_escape(&sent, cmd.buf, cmd.len, 60);
        strbuf_clear(&cmd);
    } else {
        strbuf_puts(&sent, tt->name);
    }
    r->sent = sent.buf;
    struct check_conn *c = check_session_begin(t, r, &kw);
    if (c != NULL && check_rfc_setup(t, c, r, tt) == 0) {
        if (tt->fn != NULL) {
            tt->fn(t, c, r, &kw);
        } else {
            struct check_reply rep = {-1, NULL};
            struct strbuf cmd;
            strbuf_init(&cmd);
            check_expand(t, tt->cmd, &cmd);
            check_conn_cmd(c, cmd.buf, &rep);
            check_rfc_class(r, &rep, tt->name);
            check_reply_clear(&rep);
            strbuf_clear(&cmd);
        }
    }
    check_session_end(c, r);
    strlist_clear(&kw);
}

void check_battery_rfc5321(struct check_target *t, struct check_results *rs)
{
    size_t n = sizeof(check_rfc_tests) / sizeof(check_rfc_tests[0]);
    struct check_result *r =
        check_results_add(rs, "rfc5321", "greeting", CHECK_WANT_ACCEPTED);
    struct check_reply g = {-1, NULL};
    char err[256];

    /* Section 3.1: the server speaks first, with 220. */
    r->sent = xstrdup("(connect)");
    struct check_conn *c = check_conn_open(t, &g, err, sizeof(err));
    if (c == NULL)
        check_result_set(r, CHECK_NA, NULL, "%s", err);
    else
        check_result_set(r, g.code == 220 ? CHECK_ACCEPTED : CHECK_REFUSED, &g,
                         "greeting %d", g.code);
    check_reply_clear(&g);
    check_session_end(c, r);
    for (size_t i = 0; i < n; i++)
        check_rfc_one(t, rs, &check_rfc_tests[i]);
}
