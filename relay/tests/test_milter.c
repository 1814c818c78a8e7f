/*
 * test_milter.c — unit tests of the milter protocol client (milter.c,
 * libmilter's wire format as Postfix speaks it): packet framing and its
 * bounds, the header list and the end-of-message modifications
 * (ADDHEADER, INSHEADER, CHGHEADER), the macros, and the asynchronous
 * client against a scripted milter in a child process: a whole session,
 * a decision at each stage (CONNECT, HELO, MAIL, one RCPT), an
 * unreachable milter under each milter_default_action, and a milter
 * that never answers while another session goes on.
 */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "milter.h"

START_TEST(test_packet)
{
    struct strbuf sb;
    const unsigned char *data;
    size_t dlen;
    int cmd;

    strbuf_init(&sb);
    milter_put(&sb, MILTER_C_HELO, "mx.example\0", 11);
    ck_assert_uint_eq(sb.len, 16);
    ck_assert_mem_eq(sb.buf, "\0\0\0\x0cHmx.example\0", 16);
    for (size_t cut = 0; cut < sb.len; cut++)
        ck_assert_int_eq(
            milter_get((unsigned char *)sb.buf, cut, &cmd, &data, &dlen), 0);
    ck_assert_int_eq(
        milter_get((unsigned char *)sb.buf, sb.len, &cmd, &data, &dlen), 16);
    ck_assert_int_eq(cmd, 'H');
    ck_assert_uint_eq(dlen, 11);
    ck_assert_str_eq((const char *)data, "mx.example");
    /* A zero length, and one over the limit, are refused. */
    ck_assert_int_eq(
        milter_get((const unsigned char *)"\0\0\0\0c", 5, &cmd, &data, &dlen),
        -1);
    ck_assert_int_eq(
        milter_get((const unsigned char *)"\x7f\0\0\0c", 5, &cmd, &data, &dlen),
        -1);
    strbuf_clear(&sb);
}
END_TEST

/* One modification on the same message each: the reply packet's data,
 * whether the milter writes its own leading space, what comes out. */
static const struct {
    int cmd;
    const char *data;
    size_t len;
    int leadspc;
    const char *want; /* the header block */
} mod_cases[] = {
    {MILTER_R_ADDHEADER, "X-A\0yes\0", 8, 0,
     "Received: from a\r\n\tby b\r\nFrom: x@y\r\nTo: z@w\r\nX-A: yes\r\n"},
    {MILTER_R_INSHEADER, "\0\0\0\0DKIM-Signature\0 v=1;\n\tb=x\0", 30, 1,
     "DKIM-Signature: v=1;\r\n\tb=x\r\nReceived: from a\r\n\tby b\r\n"
     "From: x@y\r\nTo: z@w\r\n"},
    {MILTER_R_INSHEADER, "\0\0\0\x02X-B\0b\0", 10, 0,
     "Received: from a\r\n\tby b\r\nFrom: x@y\r\nX-B: b\r\nTo: z@w\r\n"},
    {MILTER_R_CHGHEADER, "\0\0\0\x01to\0new@w\0", 15, 0,
     "Received: from a\r\n\tby b\r\nFrom: x@y\r\nTo: new@w\r\n"},
    {MILTER_R_CHGHEADER, "\0\0\0\001From\0\0", 10, 0,
     "Received: from a\r\n\tby b\r\nTo: z@w\r\n"},
    {MILTER_R_CHGHEADER, "\0\0\0\002From\0two\0", 13, 0,
     "Received: from a\r\n\tby b\r\nFrom: x@y\r\nTo: z@w\r\nFrom: two\r\n"},
};

START_TEST(test_modify)
{
    static const char text[] = "Received: from a\r\n\tby b\r\nFrom: x@y\r\n"
                               "To: z@w\r\n\r\nbody\r\n";
    struct milter_msg m;
    struct strbuf out;
    char *want;

    milter_msg_parse(&m, text, sizeof(text) - 1);
    ck_assert_uint_eq(m.names.n, 3);
    ck_assert_str_eq(m.values.v[0], " from a\r\n\tby b");
    ck_assert_int_eq(
        milter_msg_modify(&m, mod_cases[_i].cmd,
                          (const unsigned char *)mod_cases[_i].data,
                          mod_cases[_i].len, mod_cases[_i].leadspc),
        0);
    strbuf_init(&out);
    milter_msg_write(&m, &out);
    want = xasprintf("%s\r\nbody\r\n", mod_cases[_i].want);
    ck_assert_str_eq(out.buf, want);
    free(want);
    strbuf_clear(&out);
    /* Malformed: no NUL after the value, or no index. */
    ck_assert_int_eq(milter_msg_modify(&m, MILTER_R_ADDHEADER,
                                       (const unsigned char *)"X-A\0yes", 7, 0),
                     -1);
    ck_assert_int_eq(milter_msg_modify(&m, MILTER_R_INSHEADER,
                                       (const unsigned char *)"\0\0", 2, 0),
                     -1);
    milter_msg_clear(&m);
}
END_TEST

START_TEST(test_macros)
{
    struct milter_info i = {.client_name = "localhost",
                            .client_addr = "127.0.0.1",
                            .sender = "a@minet.net",
                            .myhostname = "smtp.minet.net",
                            .version = "Postfix 3.7.11",
                            .queue_id = "ABC123"};
    char *v;

    v = milter_macro(&i, "_", NULL);
    ck_assert_str_eq(v, "localhost [127.0.0.1]");
    free(v);
    v = milter_macro(&i, "{rcpt_addr}", "b@example.org");
    ck_assert_str_eq(v, "b@example.org");
    free(v);
    v = milter_macro(&i, "i", NULL);
    ck_assert_str_eq(v, "ABC123");
    free(v);
    ck_assert_ptr_null(milter_macro(&i, "{auth_authen}", NULL));
    ck_assert_ptr_null(milter_macro(&i, "{no_such}", NULL));
}
END_TEST

/* What the scripted milter does: at command `at` (and only when its data
 * holds `match`, if given) it answers `reply` (with `text` as data);
 * at `silent` it stops answering; to everything else CONTINUE, and at
 * BODYEOB it inserts "X-Milter: seen" first. */
struct script {
    int at, reply;
    const char *match, *text;
    int silent;
    uint32_t proto; /* SMFIP_ flags asked for in OPTNEG, besides LEADSPC */
};

/* The child: one connection on lfd; the command letters it gets (but
 * MACRO) are written to out. */
static void fake_milter(int lfd, int out, const struct script *sc)
{
    int fd = accept(lfd, NULL, NULL);
    unsigned char buf[65536];
    size_t have = 0;
    int mute = 0;

    for (;;) {
        const unsigned char *data;
        size_t dlen;
        int cmd;
        long n = milter_get(buf, have, &cmd, &data, &dlen);
        if (n == 0) {
            ssize_t r = read(fd, buf + have, sizeof(buf) - have);
            if (r <= 0)
                _exit(0);
            have += (size_t)r;
            continue;
        }
        char c = (char)cmd;
        if (cmd != MILTER_C_MACRO)
            (void)!write(out, &c, 1);
        mute |= cmd == sc->silent;
        struct strbuf rep;
        strbuf_init(&rep);
        if (cmd == MILTER_C_OPTNEG) {
            uint32_t v[3] = {htonl(6), htonl(1),
                             htonl(MILTER_P_HDR_LEADSPC | sc->proto)};
            milter_put(&rep, 'O', v, sizeof(v));
        } else if (mute || cmd == MILTER_C_MACRO || cmd == MILTER_C_QUIT ||
                   cmd == MILTER_C_ABORT) {
            /* no reply */
        } else if (cmd == sc->at &&
                   (sc->match == NULL ||
                    memmem(data, dlen, sc->match, strlen(sc->match)))) {
            milter_put(&rep, sc->reply, sc->text,
                       sc->text ? strlen(sc->text) + 1 : 0);
        } else if (cmd == MILTER_C_BODYEOB) {
            milter_put(&rep, 'i', "\0\0\0\0X-Milter\0 seen\0", 19);
            milter_put(&rep, 'c', NULL, 0);
        } else {
            milter_put(&rep, 'c', NULL, 0);
        }
        (void)!write(fd, rep.buf, rep.len);
        strbuf_clear(&rep);
        memmove(buf, buf + n, have - (size_t)n);
        have -= (size_t)n;
    }
}

/* A scripted milter in a child process. */
struct fake {
    pid_t pid;
    int out; /* its command letters */
    char spec[64];
};

static void fake_start(struct fake *f, const struct script *sc)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), p[2];

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    ck_assert_int_eq(pipe(p), 0);
    if ((f->pid = fork()) == 0) {
        close(p[0]);
        fake_milter(lfd, p[1], sc);
    }
    close(p[1]);
    close(lfd);
    f->out = p[0];
    snprintf(f->spec, sizeof(f->spec), "inet:127.0.0.1:%d",
             ntohs(sin.sin_port));
}

/* The letters the milter got, once it has ended (kill: it is stopped
 * first, a silent one never ends by itself). */
static void fake_seen(struct fake *f, char *got, size_t len, int kill_it)
{
    size_t n = 0;
    ssize_t r;

    if (kill_it)
        kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    while (n + 1 < len && (r = read(f->out, got + n, len - 1 - n)) > 0)
        n += (size_t)r;
    got[n] = '\0';
    close(f->out);
}

/* The client's side: each outcome as it comes. */
struct outcome {
    int n;
    enum milter_verdict v;
    char reply[256];
    char msg[512];
    char warn[512];
};

static void on_done(void *arg, const struct milter_result *r)
{
    struct outcome *o = arg;

    o->n++;
    o->v = r->verdict;
    snprintf(o->reply, sizeof(o->reply), "%s", r->reply ? r->reply : "");
    snprintf(o->msg, sizeof(o->msg), "%.*s", r->msg ? (int)r->msg->len : 0,
             r->msg ? r->msg->buf : "");
}

static void on_warn(void *arg, const char *text)
{
    struct outcome *o = arg;

    snprintf(o->warn, sizeof(o->warn), "%s", text);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Run the loop until o has want outcomes; 10 s at most (a bound, not a
 * pause: it ends as soon as they are in). */
static void run_until(struct event_base *b, const struct outcome *o, int want)
{
    int expired = 0;
    struct timeval tv = {10, 0};
    struct event *t = evtimer_new(b, on_deadline, &expired);

    evtimer_add(t, &tv);
    while (o->n < want && !expired)
        event_base_loop(b, EVLOOP_ONCE);
    event_free(t);
    ck_assert_int_ge(o->n, want);
}

static const struct milter_info test_info = {.client_name = "localhost",
                                             .client_addr = "127.0.0.1",
                                             .client_family = AF_INET,
                                             .sender = "a@minet.net",
                                             .myhostname = "smtp.minet.net",
                                             .queue_id = "Q1"};

/* One event and its outcome. */
static enum milter_verdict ask(struct event_base *b, struct milter_session *ms,
                               struct outcome *o, int cmd, const char *arg)
{
    int n = o->n;

    ck_assert_int_eq(milter_event(ms, cmd, &test_info, arg), 0);
    /* Never from inside the call: always from the loop. */
    ck_assert_int_eq(o->n, n);
    run_until(b, o, n + 1);
    return o->v;
}

START_TEST(test_conversation)
{
    struct script sc = {0};
    struct fake f;
    struct outcome o = {0};
    struct event_base *b = event_base_new();
    static const char text[] = "From: a@minet.net\r\nTo: b@example.org\r\n"
                               "\r\nhi\r\n";
    char got[64];

    fake_start(&f, &sc);
    struct milter_conf c = {f.spec, "tempfail", 6, 5, 5, 5, {"j", "", "i"}};
    struct milter_session *ms = milter_session_new(b, &c, on_done, on_warn, &o);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_CONNECT, NULL), MILTER_V_CONTINUE);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_HELO, "h"), MILTER_V_CONTINUE);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_MAIL, "a@minet.net"),
                     MILTER_V_CONTINUE);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_RCPT, "b@example.org"),
                     MILTER_V_CONTINUE);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_DATA, NULL), MILTER_V_CONTINUE);
    ck_assert_int_eq(milter_message(ms, &test_info, text, sizeof(text) - 1), 0);
    run_until(b, &o, 6);
    ck_assert_int_eq(o.v, MILTER_V_CONTINUE);
    ck_assert_str_eq(o.msg, "X-Milter: seen\r\nFrom: a@minet.net\r\n"
                            "To: b@example.org\r\n\r\nhi\r\n");
    ck_assert_str_eq(o.warn, "");
    milter_abort(ms);
    milter_session_free(ms);
    event_base_free(b); /* the sockets close (bufferevents are freed) */
    fake_seen(&f, got, sizeof(got), 0);
    /* OPTNEG, CONNECT (its macros not written), HELO, MAIL, RCPT, DATA,
     * two HEADERs, EOH, BODY, BODYEOB, ABORT, QUIT. */
    ck_assert_str_eq(got, "OCHMRTLLNBEAQ");
}
END_TEST

/* A decision at one stage, then what the later events get: events
 * C(onnect) H(elo) M(ail) R(cpt good@) X (rcpt bad@) T (data); want:
 * per event c(ontinue), r(eject), t(empfail), d(iscard), s(hutdown). */
static const struct stage_case {
    struct script sc;
    const char *events, *want, *reply, *seen;
} stage_cases[] = {
    /* RCPT: only that recipient is refused. */
    {{'R', 'r', "bad@", NULL, 0, 0},
     "CHMRXRT",
     "ccccrcc",
     "550 5.7.1 Command rejected",
     "OCHMRRRTQ"},
    {{'M', 'r', NULL, NULL, 0, 0},
     "CHMT",
     "ccrc",
     "550 5.7.1 Command rejected",
     "OCHMTQ"},
    /* CONNECT: the refusal answers every later event (not sent). */
    {{'C', 'r', NULL, NULL, 0, 0},
     "CHMR",
     "rrrr",
     "550 5.7.1 Command rejected",
     "OCQ"},
    {{'H', 't', NULL, NULL, 0, 0},
     "CHMR",
     "cttt",
     "451 4.7.1 Service unavailable - try again later",
     "OCHQ"},
    {{'R', 'y', "bad@", "554 5.7.1 not%% here", 0, 0},
     "CHMXR",
     "cccrc",
     "554 5.7.1 not% here",
     "OCHMRRQ"},
    {{'M', '4', NULL, NULL, 0, 0},
     "CHM",
     "ccs",
     "421 4.7.0 Server closing connection",
     "OCHMQ"},
    /* DISCARD at RCPT: the rest of the transaction is not asked. */
    {{'R', 'd', NULL, NULL, 0, 0}, "CHMRRT", "cccdcc", "", "OCHMRQ"},
};

START_TEST(test_stage)
{
    const struct stage_case *tc = &stage_cases[_i];
    static const char *const rcpt[] = {"good@example.org", "bad@example.org"};
    struct fake f;
    struct outcome o = {0};
    struct event_base *b = event_base_new();
    char got[64];

    fake_start(&f, &tc->sc);
    struct milter_conf c = {f.spec, "tempfail", 6, 5, 5, 5, {0}};
    struct milter_session *ms = milter_session_new(b, &c, on_done, on_warn, &o);
    for (size_t k = 0; tc->events[k] != '\0'; k++) {
        int e = tc->events[k];
        enum milter_verdict v = ask(b, ms, &o, e == 'X' ? MILTER_C_RCPT : e,
                                    e == 'X'   ? rcpt[1]
                                    : e == 'R' ? rcpt[0]
                                               : "h.example");
        ck_assert_msg(v == (enum milter_verdict)(strchr("crtdhs", tc->want[k]) -
                                                 "crtdhs"),
                      "event %zu (%c): verdict %d", k, e, v);
        if (v != MILTER_V_CONTINUE && v != MILTER_V_DISCARD)
            ck_assert_str_eq(o.reply, tc->reply);
    }
    milter_session_free(ms);
    event_base_free(b);
    fake_seen(&f, got, sizeof(got), 0);
    ck_assert_str_eq(got, tc->seen);
}
END_TEST

/* milter_default_action for a milter that cannot be reached: its reply
 * answers from CONNECT on (Postfix's milter8_comm_error()). */
static const struct {
    const char *action;
    enum milter_verdict v;
    const char *reply;
} unreachable_cases[] = {
    {"tempfail", MILTER_V_TEMPFAIL,
     "451 4.7.1 Service unavailable - try again later"},
    {"reject", MILTER_V_REJECT, "550 5.5.0 Service unavailable"},
    {"accept", MILTER_V_CONTINUE, ""},
    {"quarantine", MILTER_V_HOLD, ""},
};

START_TEST(test_unreachable)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char spec[64];
    struct outcome o = {0};
    struct event_base *b = event_base_new();

    /* A port bound but not listening: the connection is refused. */
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    snprintf(spec, sizeof(spec), "inet:127.0.0.1:%d", ntohs(sin.sin_port));
    struct milter_conf c = {spec, unreachable_cases[_i].action, 6, 5, 5, 5,
                            {0}};
    struct milter_session *ms = milter_session_new(b, &c, on_done, on_warn, &o);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_CONNECT, NULL),
                     unreachable_cases[_i].v);
    ck_assert_str_eq(o.reply, unreachable_cases[_i].reply);
    ck_assert_ptr_nonnull(strstr(o.warn, "connect to Milter service inet:"));
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_MAIL, "a@minet.net"),
                     unreachable_cases[_i].v);
    milter_session_free(ms);
    close(fd);
    event_base_free(b);
}
END_TEST

/* A milter that asked not to get CONNECT awaits nothing after OPTNEG:
 * a client quiet for longer than milter_command_timeout (1 s here; the
 * loop runs 1.5 s, the time passing is what is tested) still finds it
 * there at MAIL, not dropped by a read timeout left set. */
START_TEST(test_quiet_after_optneg)
{
    struct script sc = {.proto = MILTER_P_NOCONNECT};
    struct fake f;
    struct outcome o = {0};
    struct event_base *b = event_base_new();
    struct timeval later = {1, 500000};
    char got[64];

    fake_start(&f, &sc);
    struct milter_conf c = {f.spec, "tempfail", 6, 5, 1, 5, {0}};
    struct milter_session *ms = milter_session_new(b, &c, on_done, on_warn, &o);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_CONNECT, NULL), MILTER_V_CONTINUE);
    event_base_loopexit(b, &later);
    event_base_dispatch(b);
    ck_assert_int_eq(ask(b, ms, &o, MILTER_C_MAIL, "a@minet.net"),
                     MILTER_V_CONTINUE);
    ck_assert_str_eq(o.warn, "");
    milter_session_free(ms);
    event_base_free(b);
    fake_seen(&f, got, sizeof(got), 0);
    ck_assert_ptr_nonnull(strchr(got, 'M'));
}
END_TEST

/* A milter that never answers holds only its own session: another on
 * the same loop is answered meanwhile; its own ends at
 * milter_command_timeout with the default action. */
START_TEST(test_silent)
{
    struct script mute = {.silent = MILTER_C_CONNECT}, talk = {0};
    struct fake f1, f2;
    struct outcome o1 = {0}, o2 = {0};
    struct event_base *b = event_base_new();
    char got[64];

    fake_start(&f1, &mute);
    fake_start(&f2, &talk);
    struct milter_conf c1 = {f1.spec, "tempfail", 6, 5, 1, 5, {0}};
    struct milter_conf c2 = {f2.spec, "tempfail", 6, 5, 60, 5, {0}};
    struct milter_session *m1 =
        milter_session_new(b, &c1, on_done, on_warn, &o1);
    struct milter_session *m2 =
        milter_session_new(b, &c2, on_done, on_warn, &o2);
    ck_assert_int_eq(milter_event(m1, MILTER_C_CONNECT, &test_info, NULL), 0);
    ck_assert_int_eq(ask(b, m2, &o2, MILTER_C_CONNECT, NULL),
                     MILTER_V_CONTINUE);
    ck_assert_int_eq(ask(b, m2, &o2, MILTER_C_HELO, "h"), MILTER_V_CONTINUE);
    ck_assert_int_eq(o1.n, 0); /* still waiting */
    run_until(b, &o1, 1);
    ck_assert_int_eq(o1.v, MILTER_V_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(o1.warn, "can't read SMFIC_CONNECT reply "
                                          "packet header: Connection timed "
                                          "out"));
    milter_session_free(m1);
    milter_session_free(m2);
    event_base_free(b);
    fake_seen(&f1, got, sizeof(got), 1);
    ck_assert_str_eq(got, "OC");
    fake_seen(&f2, got, sizeof(got), 0);
    ck_assert_str_eq(got, "OCHQ");
}
END_TEST

static Suite *milter_suite(void)
{
    Suite *s = suite_create("milter");
    TCase *tc = tcase_create("codec");
    TCase *conv = tcase_create("conversation");

    tcase_add_test(tc, test_packet);
    tcase_add_loop_test(tc, test_modify, 0,
                        sizeof(mod_cases) / sizeof(mod_cases[0]));
    tcase_add_test(tc, test_macros);
    suite_add_tcase(s, tc);
    tcase_set_timeout(conv, 30);
    tcase_add_test(conv, test_conversation);
    tcase_add_loop_test(conv, test_stage, 0,
                        sizeof(stage_cases) / sizeof(stage_cases[0]));
    tcase_add_loop_test(conv, test_unreachable, 0,
                        sizeof(unreachable_cases) /
                            sizeof(unreachable_cases[0]));
    tcase_add_test(conv, test_silent);
    tcase_add_test(conv, test_quiet_after_optneg);
    suite_add_tcase(s, conv);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(milter_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
