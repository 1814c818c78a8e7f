/*
 * test_milter.c — unit tests of the milter protocol client (milter.c,
 * libmilter's wire format as Postfix speaks it): packet framing and its
 * bounds, the header list and the end-of-message modifications
 * (ADDHEADER, INSHEADER, CHGHEADER), the macros, and one whole
 * conversation with a scripted milter in a child process.
 */
#include <arpa/inet.h>
#include <check.h>
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

/* The scripted milter: answers OPTNEG with HDR_LEADSPC, CONTINUE to
 * each command, and at BODYEOB inserts a header and accepts; writes the
 * command letters it got (macros as 'D') to out. */
static void fake_milter(int lfd, int out)
{
    int fd = accept(lfd, NULL, NULL);
    unsigned char buf[65536];
    size_t have = 0;

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
        (void)!write(out, &c, 1);
        struct strbuf rep;
        strbuf_init(&rep);
        if (cmd == MILTER_C_OPTNEG) {
            uint32_t v[3] = {htonl(6), htonl(1), htonl(MILTER_P_HDR_LEADSPC)};
            milter_put(&rep, 'O', v, sizeof(v));
        } else if (cmd == MILTER_C_BODYEOB) {
            milter_put(&rep, 'i', "\0\0\0\0X-Milter\0 seen\0", 19);
            milter_put(&rep, 'a', NULL, 0);
        } else if (cmd != MILTER_C_MACRO && cmd != MILTER_C_QUIT) {
            milter_put(&rep, 'c', NULL, 0);
        }
        (void)!write(fd, rep.buf, rep.len);
        strbuf_clear(&rep);
        memmove(buf, buf + n, have - (size_t)n);
        have -= (size_t)n;
    }
}

START_TEST(test_conversation)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), p[2];
    char spec[64], reply[256], warn[256], got[64] = "";
    struct strlist rcpts;
    struct strbuf msg;
    pid_t pid;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    ck_assert_int_eq(pipe(p), 0);
    if ((pid = fork()) == 0) {
        close(p[0]);
        fake_milter(lfd, p[1]);
    }
    close(p[1]);
    close(lfd);
    snprintf(spec, sizeof(spec), "inet:127.0.0.1:%d", ntohs(sin.sin_port));
    struct milter_conf c = {spec, "tempfail", 6, 5, 5, 5, {"j", "", "i"}};
    strlist_init(&rcpts);
    strlist_push(&rcpts, "b@example.org");
    struct milter_info i = {.client_name = "localhost",
                            .client_addr = "127.0.0.1",
                            .helo = "h",
                            .sender = "a@minet.net",
                            .client_family = AF_INET,
                            .rcpts = &rcpts,
                            .myhostname = "smtp.minet.net",
                            .queue_id = "Q1"};
    strbuf_init(&msg);
    strbuf_puts(&msg, "From: a@minet.net\r\nTo: b@example.org\r\n\r\nhi\r\n");
    ck_assert_int_eq(
        milter_run(&c, &i, &msg, reply, sizeof(reply), warn, sizeof(warn)),
        MILTER_V_ACCEPT);
    ck_assert_str_eq(warn, "");
    ck_assert_str_eq(msg.buf, "X-Milter: seen\r\nFrom: a@minet.net\r\n"
                              "To: b@example.org\r\n\r\nhi\r\n");
    ck_assert_int_gt(read(p[0], got, sizeof(got) - 1), 0);
    waitpid(pid, NULL, 0);
    while (read(p[0], got + strlen(got), sizeof(got) - 1 - strlen(got)) > 0)
        ;
    /* OPTNEG, CONNECT with its macros, HELO, MAIL with "i", RCPT, DATA,
     * two HEADERs, EOH, BODY, BODYEOB, QUIT. */
    ck_assert_str_eq(got, "ODCHDMRTLLNBEQ");
    close(p[0]);
    strbuf_clear(&msg);
    strlist_clear(&rcpts);
}
END_TEST

START_TEST(test_unreachable)
{
    struct milter_conf c = {"inet:127.0.0.1:1", "tempfail", 6, 5, 5, 5, {0}};
    struct strlist rcpts;
    struct milter_info i = {.client_name = "x",
                            .client_addr = "127.0.0.1",
                            .sender = "",
                            .rcpts = &rcpts};
    char reply[256], warn[256];
    struct strbuf msg;

    strlist_init(&rcpts);
    strbuf_init(&msg);
    strbuf_puts(&msg, "Subject: x\r\n\r\n");
    ck_assert_int_eq(
        milter_run(&c, &i, &msg, reply, sizeof(reply), warn, sizeof(warn)),
        MILTER_V_TEMPFAIL);
    ck_assert_str_eq(reply, "451 4.7.1 Service unavailable - try again later");
    ck_assert_ptr_nonnull(strstr(warn, "inet:127.0.0.1:1"));
    c.default_action = "accept";
    ck_assert_int_eq(
        milter_run(&c, &i, &msg, reply, sizeof(reply), warn, sizeof(warn)),
        MILTER_V_ACCEPT);
    ck_assert_str_eq(msg.buf, "Subject: x\r\n\r\n");
    strbuf_clear(&msg);
}
END_TEST

static Suite *milter_suite(void)
{
    Suite *s = suite_create("milter");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_packet);
    tcase_add_loop_test(tc, test_modify, 0,
                        sizeof(mod_cases) / sizeof(mod_cases[0]));
    tcase_add_test(tc, test_macros);
    tcase_add_test(tc, test_conversation);
    tcase_add_test(tc, test_unreachable);
    suite_add_tcase(s, tc);
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
