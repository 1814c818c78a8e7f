/*
 * test_fakemx.c — the fake MX's SMTP server, driven over loopback by a
 * small non-blocking client in the test while the event loop is pumped:
 * replies in order (pipelining), recordings, dot-unstuffing, hardening,
 * and the 421 behaviours. Every wait is bounded (5 s) and ends as soon as
 * the expected replies are in.
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakemx/fakemx.h"
#include "mxlab/clock.h"
#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

static struct event_base *base;
static struct fakemx *fm;
static char listen_addr[64];

static void start(const struct fakemx_behaviour *b)
{
    char err[256];

    base = event_base_new();
    fm = fakemx_new(base);
    /* Port 0 is not allowed by the API: find a free one by trying. */
    for (int port = 20000 + (getpid() % 20000), tries = 0; tries < 50;
         tries++, port++) {
        snprintf(listen_addr, sizeof(listen_addr), "127.0.0.25:%d", port);
        if (fakemx_add_host(fm, listen_addr, "mx.test", b, err, sizeof(err)) !=
            NULL)
            return;
    }
    ck_abort_msg("no free port: %s", err);
}

static void stop(void)
{
    fakemx_free(fm);
    event_base_free(base);
}

static int client_connect(void)
{
    struct netaddr dst, src;
    int fd;

    ck_assert_int_eq(netaddr_parse(listen_addr, 0, &dst), 0);
    ck_assert_int_eq(netaddr_parse("127.0.0.1", 0, &src), 0);
    fd = netaddr_connect_tcp(&dst, &src);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Send text (may be NULL), then pump the loop until nlines complete lines
 * arrived (or the connection closed, or 5 s passed). Returns the lines. */
static char *exchange(int fd, const char *text, int nlines)
{
    struct strbuf in;
    long long deadline = clock_mono_ms() + 5000;
    size_t off = 0, len = text ? strlen(text) : 0;
    int lines = 0, closed = 0;

    strbuf_init(&in);
    while (clock_mono_ms() < deadline && (lines < nlines || off < len) &&
           !closed) {
        struct pollfd p = {fd, POLLIN | (off < len ? POLLOUT : 0), 0};
        event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
        if (poll(&p, 1, 10) <= 0)
            continue;
        if ((p.revents & POLLOUT) && off < len) {
            ssize_t n = write(fd, text + off, len - off);
            if (n > 0)
                off += (size_t)n;
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0) {
                closed = n == 0 || errno != EAGAIN;
                continue;
            }
            strbuf_append(&in, buf, (size_t)n);
            lines = 0;
            for (size_t i = 0; i + 1 < in.len; i++)
                lines += in.buf[i] == '\r' && in.buf[i + 1] == '\n';
        }
    }
    /* Let the server finish whatever the last reply triggered. */
    for (int i = 0; i < 5; i++)
        event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    return strbuf_detach(&in);
}

static void expect_reply(int fd, const char *send, const char *want)
{
    int n = 1;

    for (const char *p = want; (p = strstr(p, "\r\n")) && p[2]; p += 2)
        n++;
    char *got = exchange(fd, send, n);
    ck_assert_msg(strncmp(got, want, strlen(want)) == 0,
                  "sent \"%s\": expected \"%s\", got \"%s\"", send ? send : "",
                  want, got);
    free(got);
}

START_TEST(test_session_recorded)
{
    int fd;
    const struct fakemx_message *m;

    start(NULL);
    fd = client_connect();
    expect_reply(fd, NULL, "220 mx.test ESMTP fakemx\r\n");
    expect_reply(fd, "EHLO relay.example.net\r\n",
                 "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                 "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
    expect_reply(fd, "MAIL FROM:<a@example.net> SIZE=100\r\n",
                 "250 2.1.0 Ok\r\n");
    expect_reply(fd, "RCPT TO:<b@example.org>\r\n", "250 2.1.5 Ok\r\n");
    expect_reply(fd, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
    expect_reply(fd, "Subject: t\r\n\r\n..stuffed\r\nbody\r\n.\r\n",
                 "250 2.0.0 Ok: queued as FM");
    expect_reply(fd, "QUIT\r\n", "221 2.0.0 Bye\r\n");
    close(fd);
    ck_assert_int_eq(fakemx_message_count(fm), 1);
    m = fakemx_message_at(fm, 0);
    ck_assert_str_eq(m->mail_from, "a@example.net");
    ck_assert_int_eq(m->nrcpt, 1);
    ck_assert_str_eq(m->rcpts[0], "b@example.org");
    ck_assert_str_eq(m->helo, "relay.example.net");
    ck_assert_str_eq(m->client_ip, "127.0.0.1");
    ck_assert_str_eq(m->host_name, "mx.test");
    ck_assert_str_eq(m->data, "Subject: t\r\n\r\n.stuffed\r\nbody\r\n");
    ck_assert_int_eq(m->data_len, strlen(m->data));
    stop();
}
END_TEST

/* Command sequences and the replies they must get, in order. */
static const struct {
    const char *send, *want;
} seq_cases[] = {
    /* RFC 2920: a pipelined group is answered in order. */
    {"EHLO x\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
     "RCPT TO:<c@y.example>\r\nDATA\r\n",
     "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
     "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
     "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"},
    {"RCPT TO:<b@y.example>\r\n", "503 5.5.1 Error: need MAIL command\r\n"},
    {"MAIL FROM:<a@x.example>\r\nDATA\r\n",
     "250 2.1.0 Ok\r\n503 5.5.1 Error: need RCPT command\r\n"},
    {"MAIL FROM:<a@x.example>\r\nMAIL FROM:<a@x.example>\r\n",
     "250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n"},
    {"MAIL FROM:<a@x.example\r\n", "501 5.1.7 Bad sender address syntax\r\n"},
    {"MAIL FROM:<a@x.example> SIZE=99999999\r\n",
     "552 5.3.4 Message size exceeds fixed limit\r\n"},
    {"HELO\r\n", "501 Syntax: HELO hostname\r\n"},
    {"VRFY x\r\n", "502 5.5.2 Error: command not recognized\r\n"},
    {"\r\n", "500 5.5.2 Error: bad syntax\r\n"},
    {"NO\0OP\r\nNOOP\r\n", "500 5.5.2 Error: bad syntax\r\n250 2.0.0 Ok\r\n"},
    {"MAIL FROM:<a@x.example>\r\nRSET\r\nRCPT TO:<b@y.example>\r\n",
     "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n"},
    {"helo lower.case\r\nnoop\r\n", "250 mx.test\r\n250 2.0.0 Ok\r\n"},
};

START_TEST(test_sequences)
{
    int fd;

    start(NULL);
    fd = client_connect();
    expect_reply(fd, NULL, "220 ");
    /* seq_cases[10] has a NUL byte: send its full length. */
    const char *send = seq_cases[_i].send;
    if (strncmp(send, "NO", 2) == 0 && send[2] == '\0') {
        static const char nul[] = "NO\0OP\r\nNOOP\r\n";
        ck_assert_int_eq(write(fd, nul, sizeof(nul) - 1),
                         (ssize_t)(sizeof(nul) - 1));
        send = NULL;
    }
    expect_reply(fd, send, seq_cases[_i].want);
    close(fd);
    ck_assert_int_eq(fakemx_message_count(fm), 0);
    stop();
}
END_TEST

START_TEST(test_line_too_long)
{
    char *line = xmalloc(3000);
    int fd;

    memset(line, 'A', 2995);
    memcpy(line + 2995, "\r\n", 3);
    start(NULL);
    fd = client_connect();
    expect_reply(fd, NULL, "220 ");
    expect_reply(fd, line, "500 5.5.0 Error: line too long\r\n");
    /* The session goes on after the refusal. */
    expect_reply(fd, "NOOP\r\n", "250 2.0.0 Ok\r\n");
    close(fd);
    free(line);
    stop();
}
END_TEST

START_TEST(test_disconnect_mid_data)
{
    int fd;

    start(NULL);
    fd = client_connect();
    expect_reply(fd, NULL, "220 ");
    expect_reply(fd,
                 "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
                 "DATA\r\n",
                 "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 ");
    free(exchange(fd, "Subject: cut\r\npartial", 0));
    close(fd);
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    ck_assert_int_eq(fakemx_message_count(fm), 0);
    stop();
}
END_TEST

START_TEST(test_greeting_reply)
{
    struct fakemx_behaviour b = {.greeting_reply =
                                     "421 smtp4-g19.free.fr Error: too many "
                                     "connections from %s"};
    int fd;

    start(&b);
    fd = client_connect();
    expect_reply(fd, NULL,
                 "421 smtp4-g19.free.fr Error: too many connections from "
                 "127.0.0.1\r\n");
    /* Then the server closes: the next read sees EOF. */
    char *rest = exchange(fd, NULL, 1);
    ck_assert_str_eq(rest, "");
    free(rest);
    close(fd);
    stop();
}
END_TEST

START_TEST(test_max_conn_per_ip)
{
    struct fakemx_behaviour b = {.max_conn_per_ip = 1};
    int fd1, fd2;

    start(&b);
    fd1 = client_connect();
    expect_reply(fd1, NULL, "220 mx.test");
    fd2 = client_connect();
    expect_reply(fd2, NULL,
                 "421 4.7.0 mx.test Error: too many connections from "
                 "127.0.0.1\r\n");
    close(fd2);
    expect_reply(fd1, "QUIT\r\n", "221 2.0.0 Bye\r\n");
    close(fd1);
    /* Both gone: a new connection is welcome again. */
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    fd1 = client_connect();
    expect_reply(fd1, NULL, "220 mx.test");
    close(fd1);
    ck_assert_int_eq(fakemx_connection_count(fm), 3);
    stop();
}
END_TEST

START_TEST(test_json)
{
    struct fakemx_message m;
    char *rcpts[] = {"b@y.example", "c@y.example"};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    memset(&m, 0, sizeof(m));
    m.host = "127.0.0.25:2525";
    m.host_name = "mx.test";
    m.client_ip = "127.0.0.1";
    m.helo = "relay \"x\"";
    m.mail_from = "";
    m.rcpts = rcpts;
    m.nrcpt = 2;
    m.data = "a\r\n\x01";
    m.data_len = 4;
    fakemx_message_write_json(&m, fp);
    fclose(fp);
    ck_assert_str_eq(
        buf, "{\"host\":\"127.0.0.25:2525\",\"name\":\"mx.test\","
             "\"client_ip\":\"127.0.0.1\",\"helo\":\"relay \\\"x\\\"\","
             "\"mail_from\":\"\",\"rcpt_to\":[\"b@y.example\","
             "\"c@y.example\"],\"size\":4,\"sha256\":"
             "\"9a9b7d5fe4cadd6bb5183aec497ad76147954120720c1305306215f6"
             "23e6b478\",\"data\":\"a\\r\\n\\u0001\"}\n");
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fakemx");
    TCase *tc = tcase_create("smtp");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_session_recorded);
    tcase_add_loop_test(tc, test_sequences, 0,
                        sizeof(seq_cases) / sizeof(seq_cases[0]));
    tcase_add_test(tc, test_line_too_long);
    tcase_add_test(tc, test_disconnect_mid_data);
    tcase_add_test(tc, test_greeting_reply);
    tcase_add_test(tc, test_max_conn_per_ip);
    tcase_add_test(tc, test_json);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
