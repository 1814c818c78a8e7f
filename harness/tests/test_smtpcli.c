/*
 * test_smtpcli.c — the harness's SMTP client: the bounded reply reader on
 * known lines, and live connections to a loopback server played by the
 * test (multi-line replies split across reads, a refused connection, an
 * overlong line, the client freed from its own callback).
 */
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/smtpcli.h"
#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

/* ---- the reader ---- */

struct feed_case {
    const char *lines[4]; /* fed in order; NULL ends */
    enum smtpcli_status last;
    int code;
    size_t nline;
    int bare_lf;
};

static const struct feed_case feeds[] = {
    {{"250 2.0.0 Ok\r"}, SMTPCLI_DONE, 250, 1, 0},
    {{"250-a\r", "250 b\r"}, SMTPCLI_DONE, 250, 2, 0},
    {{"250-a\r", "250-b\r"}, SMTPCLI_MORE, 250, 2, 0},
    /* RFC 5321 section 4.2: the text is optional */
    {{"450\r"}, SMTPCLI_DONE, 450, 1, 0},
    {{"220-x\r", "220\r"}, SMTPCLI_DONE, 220, 2, 0},
    {{"garbage\r"}, SMTPCLI_DONE, -1, 1, 0},
    {{"250-a\r", "junk\r", "250 c\r"}, SMTPCLI_DONE, 250, 3, 0},
    {{"250 bare"}, SMTPCLI_DONE, 250, 1, 1},
    {{"25O ok\r"}, SMTPCLI_DONE, -1, 1, 0},
    {{"2500 ok\r"}, SMTPCLI_DONE, -1, 1, 0},
    {{"250x\r"}, SMTPCLI_DONE, -1, 1, 0},
    {{"\r"}, SMTPCLI_DONE, -1, 1, 0},
};

START_TEST(test_feed)
{
    const struct feed_case *fc = &feeds[_i];
    struct smtpcli_reply rep;
    enum smtpcli_status st = SMTPCLI_MORE;

    memset(&rep, 0, sizeof(rep));
    smtpcli_reply_reset(&rep);
    for (size_t i = 0; i < 4 && fc->lines[i] != NULL; i++)
        st = smtpcli_reply_feed(&rep, fc->lines[i], strlen(fc->lines[i]));
    ck_assert_int_eq(st, fc->last);
    ck_assert_int_eq(rep.code, fc->code);
    ck_assert_uint_eq(rep.nline, fc->nline);
    ck_assert_int_eq(rep.bare_lf, fc->bare_lf);
    if (st == SMTPCLI_DONE) {
        /* Lines come back without CR. */
        const char *first = fc->lines[0];
        size_t n = strlen(first);
        if (n > 0 && first[n - 1] == '\r')
            n--;
        ck_assert_uint_eq(strlen(rep.line[0]), n);
        ck_assert(memcmp(rep.line[0], first, n) == 0);
    }
    smtpcli_reply_clear(&rep);
}
END_TEST

START_TEST(test_bounds)
{
    struct smtpcli_reply rep;
    char *longline = xmalloc(SMTPCLI_LINE_MAX + 2);

    memset(&rep, 0, sizeof(rep));
    memset(longline, 'x', SMTPCLI_LINE_MAX + 1);
    memcpy(longline, "250 ", 4);
    ck_assert_int_eq(smtpcli_reply_feed(&rep, longline, SMTPCLI_LINE_MAX),
                     SMTPCLI_DONE);
    smtpcli_reply_reset(&rep);
    ck_assert_int_eq(smtpcli_reply_feed(&rep, longline, SMTPCLI_LINE_MAX + 1),
                     SMTPCLI_LINE_TOO_LONG);
    smtpcli_reply_reset(&rep);
    for (size_t i = 0; i < SMTPCLI_LINES_MAX; i++)
        ck_assert_int_eq(smtpcli_reply_feed(&rep, "250-x\r", 6), SMTPCLI_MORE);
    ck_assert_int_eq(smtpcli_reply_feed(&rep, "250 x\r", 6),
                     SMTPCLI_TOO_MANY_LINES);
    smtpcli_reply_clear(&rep);
    free(longline);
}
END_TEST

/* ---- live ---- */

struct live {
    struct event_base *base;
    int lfd, sfd;            /* the test's server: listener, accepted */
    const char *const *send; /* what the server sends, one chunk per turn */
    size_t sent;
    struct strbuf got; /* what the client saw, as text */
    int free_on_reply; /* free the client in its first reply callback */
    struct smtpcli *c;
    struct event *ev_accept;
};

/* The server's next chunk (or its close, after the last), one per loop
 * turn, so that the client mostly reads them apart (its verdict must not
 * depend on how they are split). */
static void live_server_next(evutil_socket_t fd, short what, void *arg)
{
    struct live *lv = arg;
    const char *chunk = lv->send[lv->sent];
    struct timeval now = {0, 0};

    (void)fd;
    (void)what;
    if (chunk == NULL) {
        if (lv->sfd >= 0)
            close(lv->sfd);
        lv->sfd = -1;
        return;
    }
    lv->sent++;
    ck_assert_int_eq(write(lv->sfd, chunk, strlen(chunk)),
                     (ssize_t)strlen(chunk));
    event_base_once(lv->base, -1, EV_TIMEOUT, live_server_next, lv, &now);
}

static void live_on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct live *lv = arg;

    (void)what;
    lv->sfd = accept(fd, NULL, NULL);
    ck_assert_int_ge(lv->sfd, 0);
    live_server_next(-1, 0, lv);
}

static void live_cb(struct smtpcli *c, const struct smtpcli_event *ev,
                    void *arg)
{
    struct live *lv = arg;

    switch (ev->kind) {
    case SMTPCLI_EV_CONNECTED:
        strbuf_puts(&lv->got, "connected\n");
        return;
    case SMTPCLI_EV_REPLY:
        strbuf_printf(&lv->got, "reply %d", ev->reply->code);
        for (size_t i = 0; i < ev->reply->nline; i++)
            strbuf_printf(&lv->got, " [%s]", ev->reply->line[i]);
        strbuf_putc(&lv->got, '\n');
        if (lv->free_on_reply) {
            smtpcli_free(c);
            lv->c = NULL;
            event_base_loopbreak(lv->base);
        }
        return;
    case SMTPCLI_EV_TLS:
        strbuf_puts(&lv->got, "tls\n");
        return;
    case SMTPCLI_EV_CLOSED:
        strbuf_puts(&lv->got, "closed\n");
        break;
    case SMTPCLI_EV_ERROR:
        strbuf_printf(&lv->got, "error %s\n", ev->text);
        break;
    }
    event_base_loopbreak(lv->base);
}

/* Run the client against a server that sends chunks; the transcript of
 * what the client saw. */
static char *live_run(const char *const *chunks, int listen_at_all,
                      int free_on_reply)
{
    struct live lv;
    struct netaddr na;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char err[256];
    struct timeval limit = {10, 0};

    memset(&lv, 0, sizeof(lv));
    lv.base = event_base_new();
    lv.send = chunks;
    lv.sfd = -1;
    lv.free_on_reply = free_on_reply;
    strbuf_init(&lv.got);
    netaddr_parse("127.0.0.1", 0, &na);
    lv.lfd = netaddr_listen_tcp(&na, 8);
    ck_assert_int_ge(lv.lfd, 0);
    getsockname(lv.lfd, (struct sockaddr *)&ss, &len);
    netaddr_from_sa(&na, (struct sockaddr *)&ss, len);
    if (!listen_at_all) {
        close(lv.lfd); /* the port is now refused */
        lv.lfd = -1;
    } else {
        lv.ev_accept = event_new(lv.base, lv.lfd, EV_READ | EV_PERSIST,
                                 live_on_accept, &lv);
        event_add(lv.ev_accept, NULL);
    }
    lv.c = smtpcli_connect(lv.base, &na, NULL, 0, NULL, live_cb, &lv, err,
                           sizeof(err));
    if (lv.c == NULL) {
        strbuf_printf(&lv.got, "connect %s\n", err);
    } else {
        event_base_loopexit(lv.base, &limit);
        event_base_dispatch(lv.base);
    }
    smtpcli_free(lv.c);
    if (lv.ev_accept != NULL)
        event_free(lv.ev_accept);
    if (lv.lfd >= 0)
        close(lv.lfd);
    if (lv.sfd >= 0)
        close(lv.sfd);
    event_base_free(lv.base);
    return strbuf_detach(&lv.got);
}

START_TEST(test_live_replies)
{
    /* A reply split in the middle of a line and of its code, then one
     * with a bare LF, then the close. */
    static const char *const chunks[] = {
        "220-mx.example ESMTP\r\n220 ",
        "ready\r\n",
        "250-a\r\n25",
        "0 b\n",
        NULL,
    };
    char *got = live_run(chunks, 1, 0);

    ck_assert_str_eq(got, "connected\n"
                          "reply 220 [220-mx.example ESMTP] [220 ready]\n"
                          "reply 250 [250-a] [250 b]\n"
                          "closed\n");
    free(got);
}
END_TEST

START_TEST(test_live_refused)
{
    static const char *const none[] = {NULL};
    char *got = live_run(none, 0, 0);

    ck_assert_msg(strstr(got, "connection refused") != NULL, "%s", got);
    free(got);
}
END_TEST

START_TEST(test_live_too_long)
{
    char *big = xmalloc(SMTPCLI_LINE_MAX * 3);
    const char *chunks[] = {big, NULL};
    char *got;

    memset(big, 'x', SMTPCLI_LINE_MAX * 3 - 1);
    big[SMTPCLI_LINE_MAX * 3 - 1] = '\0';
    memcpy(big, "220 ", 4);
    got = live_run(chunks, 1, 0);
    ck_assert_str_eq(got, "connected\n"
                          "error reply line longer than 2048 bytes\n");
    free(got);
    free(big);
}
END_TEST

START_TEST(test_live_free_in_callback)
{
    /* Two replies in one read: the client is freed after the first. */
    static const char *const chunks[] = {"220 a\r\n250 b\r\n", NULL};
    char *got = live_run(chunks, 1, 1);

    ck_assert_str_eq(got, "connected\nreply 220 [220 a]\n");
    free(got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smtpcli");
    TCase *tc = tcase_create("smtpcli");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_feed, 0, sizeof(feeds) / sizeof(feeds[0]));
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_live_replies);
    tcase_add_test(tc, test_live_refused);
    tcase_add_test(tc, test_live_too_long);
    tcase_add_test(tc, test_live_free_in_callback);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
