/*
 * test_fakemx.c — unit tests of fakemx: a fake host on 127.0.0.31 (a free
 * port the kernel picks) and test clients bound to 127.0.0.77/78, all on
 * one event_base in this process. Clients are bufferevents too, so every
 * wait is "run the loop until a condition holds or a deadline passes".
 * Table-driven SMTP sessions, then hardening, limits and the JSON dump.
 */
#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakemx/fakemx.h"
#include "mxlab/clock.h"
#include "mxlab/netaddr.h"
#include "mxlab/smtp.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define T_NAME "mx.test"
#define T_CLIENT "127.0.0.77"
#define T_WAIT_SEC 20

static struct event_base *base;
static struct fakemx *fm;
static struct fakemx_host *host;

/* ---- a test client on the same loop ---- */

struct client {
    struct bufferevent *bev;
    struct strbuf in; /* everything received */
    size_t used;      /* bytes of in already handed out as replies */
    int eof;
    int tls_up;
};

static void client_on_read(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);

    strbuf_append(&c->in, evbuffer_pullup(in, (ev_ssize_t)n), n);
    evbuffer_drain(in, n);
}

static void client_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct client *c = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        c->eof = 1;
}

static void pump_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Run the loop until cond(arg) or T_WAIT_SEC pass; returns cond(arg). */
static int pump(int (*cond)(void *), void *arg)
{
    struct timeval tv = {T_WAIT_SEC, 0};
    int expired = 0;
    struct event *t = evtimer_new(base, pump_expired, &expired);

    evtimer_add(t, &tv);
    while (!cond(arg) && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return cond(arg);
}

static struct client *client_connect_from(const char *src_ip)
{
    struct client *c = xcalloc(1, sizeof(*c));
    struct netaddr dst, src;
    int fd;

    ck_assert_int_eq(netaddr_parse(fakemx_host_listen(host), 0, &dst), 0);
    ck_assert_int_eq(netaddr_parse(src_ip, 0, &src), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&src.ss, src.len), 0);
    ck_assert_int_eq(evutil_make_socket_nonblocking(fd), 0);
    strbuf_init(&c->in);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(c->bev);
    bufferevent_setcb(c->bev, client_on_read, NULL, client_on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    ck_assert_int_eq(bufferevent_socket_connect(
                         c->bev, (struct sockaddr *)&dst.ss, (int)dst.len),
                     0);
    return c;
}

static struct client *client_connect(void)
{
    return client_connect_from(T_CLIENT);
}

static void client_free(struct client *c)
{
    bufferevent_free(c->bev);
    strbuf_clear(&c->in);
    free(c);
}

static void client_send(struct client *c, const void *p, size_t len)
{
    bufferevent_write(c->bev, p, len);
}

static void client_puts(struct client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

/* Complete reply lines after c->used, and how many of them end a reply
 * (at most max); *end is where the last counted reply ends. */
static size_t client_finals(const struct client *c, size_t max, size_t *end)
{
    size_t n = 0, pos = c->used;
    char line[SMTP_LINE_MAX + 1];

    *end = pos;
    while (pos < c->in.len && n < max) {
        const char *nl = memchr(c->in.buf + pos, '\n', c->in.len - pos);
        size_t len;
        int last = 1;
        if (nl == NULL)
            break;
        len = (size_t)(nl - (c->in.buf + pos));
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, c->in.buf + pos, len);
        line[len] = '\0';
        /* A malformed line counts as a reply: better a clear mismatch
         * than a wait until the deadline. */
        pos = (size_t)(nl - c->in.buf) + 1;
        if (smtp_reply_code(line, &last) < 0 || last) {
            n++;
            *end = pos;
        }
    }
    return n;
}

struct wait_replies {
    struct client *c;
    size_t n;
};

static int cond_replies(void *arg)
{
    struct wait_replies *w = arg;
    size_t end;

    return client_finals(w->c, w->n, &end) >= w->n || w->c->eof;
}

/* Wait for n complete replies; return their lines, CRLF turned into "\n"
 * separators (caller frees). */
static char *client_replies(struct client *c, size_t n)
{
    struct wait_replies w = {c, n};
    struct strbuf sb;
    size_t end;

    pump(cond_replies, &w);
    strbuf_init(&sb);
    strbuf_append(&sb, "", 0); /* never NULL */
    if (client_finals(c, n, &end) < n)
        end = c->in.len; /* EOF or deadline: show all there is */
    for (size_t i = c->used; i < end; i++) {
        char ch = c->in.buf[i];
        if (ch == '\r')
            continue;
        strbuf_putc(&sb, ch);
    }
    if (sb.len > 0 && sb.buf[sb.len - 1] == '\n')
        sb.buf[--sb.len] = '\0';
    c->used = end;
    return strbuf_detach(&sb);
}

static int cond_eof(void *arg)
{
    return ((struct client *)arg)->eof;
}

/* Number of final reply lines in an expectation ("250-a\n250 b": 1). */
static size_t expect_finals(const char *expect)
{
    size_t n = 0;

    for (const char *p = expect; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char code[5] = {0};
        int last = 1;
        memcpy(code, p, len < 4 ? len : 4);
        if (smtp_reply_code(code, &last) < 0 || last)
            n++;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* Every line of got matches the glob on the same line of want. */
static int replies_match(const char *got, const char *want)
{
    char *g = xstrdup(got), *w = xstrdup(want);
    char *gp = g, *wp = w;
    int ok = 1;

    while (ok && gp != NULL && wp != NULL) {
        char *gn = strchr(gp, '\n'), *wn = strchr(wp, '\n');
        if (gn)
            *gn++ = '\0';
        if (wn)
            *wn++ = '\0';
        ok = str_glob(wp, gp);
        gp = gn;
        wp = wn;
    }
    ok = ok && gp == NULL && wp == NULL;
    free(g);
    free(w);
    return ok;
}

static void client_expect(struct client *c, const char *want)
{
    char *got = client_replies(c, expect_finals(want));

    ck_assert_msg(replies_match(got, want), "replies:\n%s\nexpected:\n%s", got,
                  want);
    free(got);
}

/* ---- fixture ---- */

static void setup(void)
{
    char err[256];

    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    fm = fakemx_new(base);
    host = fakemx_add_host(fm, "127.0.0.31:0", T_NAME, NULL, err, sizeof(err));
    ck_assert_msg(host != NULL, "%s", err);
}

static void teardown(void)
{
    fakemx_free(fm);
    event_base_free(base);
}

/* ---- table-driven sessions ---- */

#define EHLO_REPLY                                                             \
    "250-" T_NAME "\n250-PIPELINING\n250-SIZE 10240000\n250-8BITMIME\n"        \
    "250 ENHANCEDSTATUSCODES"
#define GREET                                                                  \
    {                                                                          \
        NULL, 0, 0, "220 " T_NAME " ESMTP fakemx"                              \
    }
#define QUEUED "250 2.0.0 Ok: queued as FM*"
#define GO_AHEAD "354 End data with <CR><LF>.<CR><LF>"

struct step {
    const char *send;   /* NULL: send nothing, read the greeting */
    size_t len;         /* 0: strlen(send) */
    size_t pad;         /* > 0: send, then pad 'x', then CRLF */
    const char *expect; /* reply lines ('\n'-separated globs) */
};

static const struct session_case {
    const char *name;
    const char *greeting_reply;
    struct step steps[20];
    int closes; /* the server closes after the last step */
    size_t nmsg;
    /* the last message recorded */
    const char *helo, *from, *rcpts, *data;
    size_t data_len; /* 0: strlen(data) */
} session_cases[] = {
    {"helo_transaction",
     NULL,
     {GREET,
      {"HELO client.test\r\n", 0, 0, "250 " T_NAME},
      {"MAIL FROM:<a@example.com>\r\n", 0, 0, "250 2.1.0 Ok"},
      {"RCPT TO:<b@example.org>\r\n", 0, 0, "250 2.1.5 Ok"},
      {"DATA\r\n", 0, 0, GO_AHEAD},
      {"Subject: t\r\n\r\nhello\r\n.\r\n", 0, 0, QUEUED},
      {"QUIT\r\n", 0, 0, "221 2.0.0 Bye"}},
     1,
     1,
     "client.test",
     "a@example.com",
     "b@example.org",
     "Subject: t\r\n\r\nhello\r\n",
     0},
    {"ehlo_any_case_null_sender",
     NULL,
     {GREET,
      {"ehlo client.test\r\n", 0, 0, EHLO_REPLY},
      {"mail from:<>\r\n", 0, 0, "250 2.1.0 Ok"},
      {"rcpt to:<b@example.org>\r\n", 0, 0, "250 2.1.5 Ok"},
      {"Rcpt To: c@example.org\r\n", 0, 0, "250 2.1.5 Ok"},
      {"data\r\n", 0, 0, GO_AHEAD},
      {"x\r\n.\r\n", 0, 0, QUEUED}},
     0,
     1,
     "client.test",
     "",
     "b@example.org,c@example.org",
     "x\r\n",
     0},
    {"sequence_errors",
     NULL,
     {GREET,
      {"RCPT TO:<b@x.test>\r\n", 0, 0, "503 5.5.1 Error: need MAIL command"},
      {"DATA\r\n", 0, 0, "503 5.5.1 Error: need RCPT command"},
      {"MAIL FROM:<a@x.test>\r\n", 0, 0, "250 2.1.0 Ok"},
      {"MAIL FROM:<a@x.test>\r\n", 0, 0,
       "503 5.5.1 Error: nested MAIL command"},
      {"DATA\r\n", 0, 0, "554 5.5.1 Error: no valid recipients"},
      {"RSET\r\n", 0, 0, "250 2.0.0 Ok"},
      {"RCPT TO:<b@x.test>\r\n", 0, 0, "503 5.5.1 Error: need MAIL command"},
      {"MAIL FROM:<a@x.test\r\n", 0, 0, "501 5.1.7 Bad sender address syntax"},
      {"MAIL TO:<a@x.test>\r\n", 0, 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@x.test>\r\n", 0, 0, "250 2.1.0 Ok"},
      {"RCPT TO:<>\r\n", 0, 0, "501 5.1.3 Bad recipient address syntax"},
      {"VRFY root\r\n", 0, 0, "502 5.5.2 Error: command not recognized"},
      {"NOOP whatever\r\n", 0, 0, "250 2.0.0 Ok"},
      {"EHLO\r\n", 0, 0, "501 Syntax: EHLO hostname"},
      {"HELO \r\n", 0, 0, "501 Syntax: HELO hostname"},
      {"QUIT\r\n", 0, 0, "221 2.0.0 Bye"}},
     1,
     0,
     NULL,
     NULL,
     NULL,
     NULL,
     0},
    {"ehlo_resets_transaction",
     NULL,
     {GREET,
      {"MAIL FROM:<a@x.test>\r\n", 0, 0, "250 2.1.0 Ok"},
      {"EHLO again.test\r\n", 0, 0, EHLO_REPLY},
      {"RCPT TO:<b@x.test>\r\n", 0, 0, "503 5.5.1 Error: need MAIL command"}},
     0,
     0,
     NULL,
     NULL,
     NULL,
     NULL,
     0},
    {"pipelined_mail_rcpt_data",
     NULL,
     {GREET,
      {"EHLO c.test\r\n", 0, 0, EHLO_REPLY},
      {"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
       "DATA\r\n",
       0, 0, "250 2.1.0 Ok\n250 2.1.5 Ok\n250 2.1.5 Ok\n" GO_AHEAD},
      {"line1\r\n.\r\n", 0, 0, QUEUED}},
     0,
     1,
     "c.test",
     "a@x.test",
     "b@y.test,c@y.test",
     "line1\r\n",
     0},
    {"pipelined_whole_session",
     NULL,
     {GREET,
      {"EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
       "hello\r\n.\r\nMAIL FROM:<d@x.test>\r\nRCPT TO:<e@y.test>\r\nDATA\r\n"
       "second\r\n.\r\nQUIT\r\n",
       0, 0,
       EHLO_REPLY "\n250 2.1.0 Ok\n250 2.1.5 Ok\n" GO_AHEAD "\n" QUEUED
                  "\n250 2.1.0 Ok\n250 2.1.5 Ok\n" GO_AHEAD "\n" QUEUED
                  "\n221 2.0.0 Bye"}},
     1,
     2,
     "c.test",
     "d@x.test",
     "e@y.test",
     "second\r\n",
     0},
    {"dot_unstuffing",
     NULL,
     {GREET,
      {"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n", 0, 0,
       "250 2.1.0 Ok\n250 2.1.5 Ok\n" GO_AHEAD},
      {"..leading dot\r\n...\r\n. \r\nend.\r\n.\r\n", 0, 0, QUEUED}},
     0,
     1,
     "",
     "a@x.test",
     "b@y.test",
     ".leading dot\r\n..\r\n \r\nend.\r\n",
     0},
    {"line_too_long",
     NULL,
     {GREET,
      /* 5 + 993 + CRLF = 1000 bytes: the limit itself is fine */
      {"NOOP ", 0, 993, "250 2.0.0 Ok"},
      {"NOOP ", 0, 994, "500 5.5.0 Error: line too long"},
      /* arrives in many reads; one reply all the same */
      {"NOOP ", 0, 100000, "500 5.5.0 Error: line too long"},
      {"MAIL FROM:<", 0, 2000, "500 5.5.0 Error: line too long"},
      {"NOOP\r\n", 0, 0, "250 2.0.0 Ok"}},
     0,
     0,
     NULL,
     NULL,
     NULL,
     NULL,
     0},
    {"nul_and_bare_cr",
     NULL,
     {GREET,
      {"NO\0OP\r\n", 7, 0, "500 5.5.2 Error: bad syntax"},
      {"NOOP\rQUIT\r\n", 0, 0, "502 5.5.2 Error: command not recognized"},
      {"\r\n", 0, 0, "500 5.5.2 Error: bad syntax"},
      {"\r\r\n", 0, 0, "502 5.5.2 Error: command not recognized"},
      {"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n", 0, 0,
       "250 2.1.0 Ok\n250 2.1.5 Ok\n" GO_AHEAD},
      {"a\0b\rc\r\n.\r\n", 10, 0, QUEUED}},
     0,
     1,
     "",
     "a@x.test",
     "b@y.test",
     "a\0b\rc\r\n",
     7},
    {"size_and_parameters",
     NULL,
     {GREET,
      {"MAIL FROM:<a@x.test> SIZE=20000000\r\n", 0, 0,
       "552 5.3.4 Message size exceeds fixed limit"},
      {"MAIL FROM:<a@x.test> SIZE=1000 BODY=8BITMIME\r\n", 0, 0,
       "250 2.1.0 Ok"},
      {"RCPT TO:<b@y.test> NOTIFY=NEVER\r\n", 0, 0, "250 2.1.5 Ok"},
      {"DATA now\r\n", 0, 0, "501 5.5.4 Syntax: DATA"},
      {"RSET please\r\n", 0, 0, "501 5.5.4 Syntax: RSET"},
      {"DATA\r\n", 0, 0, GO_AHEAD},
      {"\r\n.\r\n", 0, 0, QUEUED}},
     0,
     1,
     "",
     "a@x.test",
     "b@y.test",
     "\r\n",
     0},
    {"greeting_reply_is_no_format",
     "554 5.7.1 %s go away %d%n %%s",
     {{NULL, 0, 0, "554 5.7.1 " T_CLIENT " go away %d%n %" T_CLIENT}},
     1,
     0,
     NULL,
     NULL,
     NULL,
     NULL,
     0},
    {"greeting_reply_multiline",
     "421-%s busy\n421 4.3.2 try later",
     {{NULL, 0, 0, "421-" T_CLIENT " busy\n421 4.3.2 try later"}},
     1,
     0,
     NULL,
     NULL,
     NULL,
     NULL,
     0},
};

static char *join_rcpts(const struct fakemx_message *m)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_append(&sb, "", 0); /* never NULL */
    for (size_t i = 0; i < m->nrcpt; i++)
        strbuf_printf(&sb, "%s%s", i ? "," : "", m->rcpts[i]);
    return strbuf_detach(&sb);
}

START_TEST(test_session)
{
    const struct session_case *tc = &session_cases[_i];
    struct client *c;

    if (tc->greeting_reply != NULL) {
        struct fakemx_behaviour b = {.greeting_reply = tc->greeting_reply};
        fakemx_host_set_behaviour(host, &b);
    }
    c = client_connect();
    for (size_t i = 0; i < sizeof(tc->steps) / sizeof(tc->steps[0]); i++) {
        const struct step *st = &tc->steps[i];
        if (st->expect == NULL)
            break;
        if (st->send != NULL) {
            client_send(c, st->send, st->len ? st->len : strlen(st->send));
            if (st->pad > 0) {
                char *pad = xmalloc(st->pad);
                memset(pad, 'x', st->pad);
                client_send(c, pad, st->pad);
                client_puts(c, "\r\n");
                free(pad);
            }
        }
        char *got = client_replies(c, expect_finals(st->expect));
        ck_assert_msg(replies_match(got, st->expect),
                      "%s step %zu: replies:\n%s\nexpected:\n%s", tc->name, i,
                      got, st->expect);
        free(got);
    }
    if (tc->closes) {
        ck_assert_msg(pump(cond_eof, c), "%s: server did not close", tc->name);
        ck_assert_uint_eq(c->used, c->in.len); /* nothing after the last */
    } else {
        /* Still in step: no reply more, none less. */
        client_puts(c, "NOOP\r\n");
        client_expect(c, "250 2.0.0 Ok");
    }
    ck_assert_uint_eq(fakemx_message_count(fm), tc->nmsg);
    if (tc->nmsg > 0) {
        const struct fakemx_message *m = fakemx_message_at(fm, tc->nmsg - 1);
        size_t dlen = tc->data_len ? tc->data_len : strlen(tc->data);
        char *rcpts = join_rcpts(m);
        ck_assert_str_eq(m->host, fakemx_host_listen(host));
        ck_assert_str_eq(m->host_name, T_NAME);
        ck_assert_str_eq(m->client_ip, T_CLIENT);
        ck_assert_str_eq(m->helo, tc->helo);
        ck_assert_str_eq(m->mail_from, tc->from);
        ck_assert_str_eq(rcpts, tc->rcpts);
        ck_assert_uint_eq(m->data_len, dlen);
        ck_assert(memcmp(m->data, tc->data, dlen) == 0);
        ck_assert_int_eq(m->data[dlen], '\0');
        free(rcpts);
    }
    ck_assert_ptr_null(fakemx_message_at(fm, tc->nmsg));
    client_free(c);
}
END_TEST

/* ---- limits and odd clients ---- */

START_TEST(test_max_conn_per_ip)
{
    struct fakemx_behaviour b = {.max_conn_per_ip = 1};
    struct client *a, *x, *other, *again;

    fakemx_host_set_behaviour(host, &b);
    a = client_connect();
    client_expect(a, "220 " T_NAME " ESMTP fakemx");
    x = client_connect();
    client_expect(x, "421 4.7.0 " T_NAME
                     " Error: too many connections from " T_CLIENT);
    ck_assert(pump(cond_eof, x));
    /* The limit is per client address. */
    other = client_connect_from("127.0.0.78");
    client_expect(other, "220 " T_NAME " ESMTP fakemx");
    /* Once the first one has gone, the address may connect again. */
    client_puts(a, "QUIT\r\n");
    client_expect(a, "221 2.0.0 Bye");
    ck_assert(pump(cond_eof, a));
    again = client_connect();
    client_expect(again, "220 " T_NAME " ESMTP fakemx");
    ck_assert_uint_eq(fakemx_connection_count(fm), 4);
    client_free(a);
    client_free(x);
    client_free(other);
    client_free(again);
}
END_TEST

START_TEST(test_disconnect_mid_data)
{
    struct client *a = client_connect(), *b;

    client_expect(a, "220 *");
    client_puts(a, "MAIL FROM:<a@x.test>\r\nRCPT TO:<lost@y.test>\r\nDATA\r\n"
                   "Subject: half\r\n");
    client_expect(a, "250 *\n250 *\n354 *");
    client_free(a); /* closes the connection in the middle of DATA */
    b = client_connect();
    client_expect(b, "220 *");
    client_puts(b, "MAIL FROM:<a@x.test>\r\nRCPT TO:<kept@y.test>\r\nDATA\r\n"
                   "whole\r\n.\r\n");
    client_expect(b, "250 *\n250 *\n354 *\n" QUEUED);
    ck_assert_uint_eq(fakemx_message_count(fm), 1);
    ck_assert_str_eq(fakemx_message_at(fm, 0)->rcpts[0], "kept@y.test");
    client_free(b);
}
END_TEST

/* Send DATA text of n bytes in lines of 1000, then ".". */
static void send_body(struct client *c, size_t n)
{
    char line[1000];

    memset(line, 'y', sizeof(line) - 2);
    line[998] = '\r';
    line[999] = '\n';
    for (; n >= sizeof(line); n -= sizeof(line))
        client_send(c, line, sizeof(line));
    client_puts(c, ".\r\n");
}

START_TEST(test_data_too_big)
{
    struct client *c = client_connect();
    const struct fakemx_message *m;

    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    client_expect(c, "250 *\n250 *\n354 *");
    send_body(c, 10241000); /* one line over the advertised SIZE */
    client_expect(c, "552 5.3.4 Error: message file too big");
    ck_assert_uint_eq(fakemx_message_count(fm), 0);
    /* The transaction is over; the session goes on. */
    client_puts(c, "RCPT TO:<b@y.test>\r\n");
    client_expect(c, "503 5.5.1 Error: need MAIL command");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    client_expect(c, "250 *\n250 *\n354 *");
    send_body(c, 10240000); /* exactly the limit */
    client_expect(c, QUEUED);
    ck_assert_uint_eq(fakemx_message_count(fm), 1);
    m = fakemx_message_at(fm, 0);
    ck_assert_uint_eq(m->data_len, 10240000);
    client_free(c);
}
END_TEST

START_TEST(test_long_data_line)
{
    const size_t n = 300000;
    struct client *c = client_connect();
    const struct fakemx_message *m;
    char *big = xmalloc(n);

    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    client_expect(c, "250 *\n250 *\n354 *");
    /* A stuffed dot in front of a line far longer than a read. */
    memset(big, 'z', n);
    client_puts(c, "..");
    client_send(c, big, n);
    client_puts(c, "\r\n.\r\n");
    client_expect(c, QUEUED);
    m = fakemx_message_at(fm, 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->data_len, n + 3);
    ck_assert_int_eq(m->data[0], '.');
    ck_assert(memcmp(m->data + 1, big, n) == 0);
    ck_assert(memcmp(m->data + 1 + n, "\r\n", 2) == 0);
    free(big);
    client_free(c);
}
END_TEST

struct deliveries {
    size_t calls;
    size_t count_seen[4];
};

static void on_delivery(void *arg, const struct fakemx_message *m)
{
    struct deliveries *d = arg;

    (void)m;
    if (d->calls < 4)
        d->count_seen[d->calls] = fakemx_message_count(fm);
    d->calls++;
}

START_TEST(test_delivery_callback)
{
    struct deliveries d = {0, {0}};
    struct client *c;
    const struct fakemx_message *m0, *m1;

    fakemx_on_delivery(fm, on_delivery, &d);
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "HELO one.test\r\nMAIL FROM:<a@x.test>\r\n"
                   "RCPT TO:<b@y.test>\r\nDATA\r\n1\r\n.\r\n"
                   "MAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\n"
                   "2\r\n.\r\n");
    client_expect(c, "250 *\n250 *\n250 *\n354 *\n" QUEUED
                     "\n250 *\n250 *\n354 *\n" QUEUED);
    ck_assert_uint_eq(d.calls, 2);
    /* The message is recorded before the callback runs. */
    ck_assert_uint_eq(d.count_seen[0], 1);
    ck_assert_uint_eq(d.count_seen[1], 2);
    m0 = fakemx_message_at(fm, 0);
    m1 = fakemx_message_at(fm, 1);
    ck_assert_str_eq(m0->mail_from, "a@x.test");
    ck_assert_str_eq(m1->mail_from, "c@x.test");
    ck_assert_str_eq(m1->helo, "one.test");
    ck_assert_str_eq(m1->data, "2\r\n");
    ck_assert(m0->received.tv_sec > 0);
    client_free(c);
}
END_TEST

/* The server's end of c's connection, found among this process's
 * descriptors by its two addresses; -1 if there is none. */
static int server_fd_of(struct client *c)
{
    struct sockaddr_storage cname, cpeer, sname, speer;
    socklen_t cnlen = sizeof(cname), cplen = sizeof(cpeer);
    int cfd = (int)bufferevent_getfd(c->bev);

    if (getsockname(cfd, (struct sockaddr *)&cname, &cnlen) < 0 ||
        getpeername(cfd, (struct sockaddr *)&cpeer, &cplen) < 0)
        return -1;
    for (int fd = 0; fd < 1024; fd++) {
        socklen_t snlen = sizeof(sname), splen = sizeof(speer);
        if (fd == cfd ||
            getsockname(fd, (struct sockaddr *)&sname, &snlen) < 0 ||
            getpeername(fd, (struct sockaddr *)&speer, &splen) < 0)
            continue;
        if (snlen == cplen && splen == cnlen &&
            memcmp(&sname, &cpeer, snlen) == 0 &&
            memcmp(&speer, &cname, splen) == 0)
            return fd;
    }
    return -1;
}

/* Nagle is off on every accepted connection: a second write for one
 * client flight must not wait for the client's delayed ACK. */
START_TEST(test_nodelay)
{
    struct client *c = client_connect();
    int fd, on = 0;
    socklen_t len = sizeof(on);

    client_expect(c, "220 *");
    fd = server_fd_of(c);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    ck_assert_int_ne(on, 0);
    client_free(c);
}
END_TEST

/* A pipelined batch (RFC 2920) and a message, each larger than one read
 * (and, under TLS, than one record): every reply, in order. */
static void check_big_batch(struct client *c)
{
    enum { NRCPT = 1000, NLINES = 2000 };
    const struct fakemx_message *m;
    struct strbuf batch, want;

    strbuf_init(&batch);
    strbuf_init(&want);
    strbuf_puts(&batch, "EHLO big.test\r\nMAIL FROM:<a@x.test>\r\n");
    strbuf_puts(&want, EHLO_REPLY "\n250 2.1.0 Ok\n");
    for (int i = 0; i < NRCPT; i++) {
        strbuf_printf(&batch, "RCPT TO:<r%d@y.test>\r\n", i);
        strbuf_puts(&want, "250 2.1.5 Ok\n");
    }
    ck_assert_uint_gt(batch.len, 16384);
    strbuf_puts(&batch, "DATA\r\n");
    strbuf_puts(&want, GO_AHEAD);
    client_send(c, batch.buf, batch.len);
    client_expect(c, want.buf);
    strbuf_reset(&batch);
    for (int i = 0; i < NLINES; i++)
        strbuf_printf(&batch, "line %04d of a message of many reads\r\n", i);
    strbuf_puts(&batch, ".\r\nNOOP\r\n");
    client_send(c, batch.buf, batch.len);
    client_expect(c, QUEUED "\n250 2.0.0 Ok");
    m = fakemx_message_at(fm, 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->nrcpt, NRCPT);
    ck_assert_uint_eq(m->data_len, batch.len - strlen(".\r\nNOOP\r\n"));
    ck_assert(memcmp(m->data, batch.buf, m->data_len) == 0);
    strbuf_clear(&batch);
    strbuf_clear(&want);
}

START_TEST(test_pipeline_over_reads)
{
    struct client *c = client_connect();

    client_expect(c, "220 *");
    check_big_batch(c);
    client_free(c);
}
END_TEST

START_TEST(test_queue_ids_differ)
{
    struct client *c = client_connect();
    char *r1, *r2;

    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.\r\n");
    client_expect(c, "250 *\n250 *\n354 *");
    r1 = client_replies(c, 1);
    client_puts(c, "MAIL FROM:<>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.\r\n");
    client_expect(c, "250 *\n250 *\n354 *");
    r2 = client_replies(c, 1);
    ck_assert(str_glob(QUEUED, r1));
    ck_assert(str_glob(QUEUED, r2));
    ck_assert_str_ne(r1, r2);
    ck_assert_uint_eq(fakemx_message_at(fm, 1)->data_len, 0);
    free(r1);
    free(r2);
    client_free(c);
}
END_TEST

START_TEST(test_set_behaviour)
{
    struct fakemx_behaviour b = {.greeting_reply = "421 4.3.2 %s down"};
    struct client *c;

    fakemx_host_set_behaviour(host, &b);
    c = client_connect();
    client_expect(c, "421 4.3.2 " T_CLIENT " down");
    ck_assert(pump(cond_eof, c));
    client_free(c);
    fakemx_host_set_behaviour(host, NULL);
    c = client_connect();
    client_expect(c, "220 " T_NAME " ESMTP fakemx");
    client_free(c);
}
END_TEST

START_TEST(test_add_host_errors)
{
    char err[256];

    ck_assert_ptr_null(
        fakemx_add_host(fm, "not an address", NULL, NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "not an address"));
    ck_assert_ptr_null(fakemx_add_host(fm, fakemx_host_listen(host), NULL, NULL,
                                       err, sizeof(err)));
    ck_assert_msg(strstr(err, fakemx_host_listen(host)) != NULL &&
                      strstr(err, "in use") != NULL,
                  "%s", err);
    ck_assert_ptr_nonnull(
        fakemx_add_host(fm, "127.0.0.32:0", NULL, NULL, err, sizeof(err)));
}
END_TEST

/* ---- JSON ---- */

static char *json_of(const struct fakemx_message *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(fp);
    fakemx_message_write_json(m, fp);
    fclose(fp);
    return buf;
}

/* ---- the behaviour engine ---- */

/* Parse text as a behaviour and give it to the host. */
static void set_beh(const char *text)
{
    struct fakemx_behaviour b;
    char err[512];

    memset(&b, 0, sizeof(b));
    ck_assert_msg(fakemx_behaviour_parse(&b, "t", 1, text, err, sizeof(err)) ==
                      0,
                  "%s", err);
    ck_assert_int_eq(fakemx_host_set_behaviour(host, &b), 0);
    fakemx_behaviour_clear(&b);
}

static const struct parse_case {
    const char *text;
    const char *err; /* NULL: valid; else a substring of the error */
} parse_cases[] = {
    {"# comment\n\nname = mx1.example\n", NULL},
    {"greeting = 421 4.7.0 mx Error: too many connections from %s", NULL},
    {"greeting =", NULL},
    {"max_conn_per_ip = 3", NULL},
    {"max_conn_per_ip = 2 421 smtp4-g19.free.fr Error: too many "
     "connections from %s",
     NULL},
    {"rate = 10 connections per 1m", NULL},
    {"rate = 5 messages per 1h 450 4.7.1 slow down", NULL},
    {"rate = off", NULL},
    {"greylist = 300s,4h", NULL},
    {"greylist = 5m", NULL},
    {"greylist = off", NULL},
    {"reply = RCPT #3 452 4.5.3 Too many recipients", NULL},
    {"reply = CONNECT every 5 421 4.7.0 busy", NULL},
    {"reply = RCPT match unknown-* 550 5.1.1 User unknown", NULL},
    {"reply = MAIL match x@spam.example 550 5.7.1 No", NULL},
    {"reply = DOT 554 5.7.1 Rejected\\n(multi-line)", NULL},
    {"tarpit = RCPT 30s\ntarpit = banner 500ms\ntarpit = MAIL #2 1m", NULL},
    {"hang = DATA", NULL},
    {"drop = banner\ndrop = after MAIL\ndrop = on RCPT #2\ndrop = data 100",
     NULL},
    {"down = refuse\ndown = blackhole\ndown = no", NULL},
    {"starttls = yes\ntls_required = yes\nsize = 1000", NULL},
    {"x", "t:1: expected key = value"},
    {"\n# c\nbogus = 1", "t:3: unknown key \"bogus\""},
    {"greeting = hello", "t:1: greeting: expected an SMTP reply"},
    {"max_conn_per_ip = many", "t:1: max_conn_per_ip"},
    {"rate = 5 cats per 1m", "t:1: rate: expected"},
    {"rate = 5 messages per soon", "t:1: rate: bad duration"},
    {"greylist = 10m,5m", "MAX must be greater"},
    {"greylist = 3x", "greylist: expected"},
    {"reply = RCPT 250 fine", "only 4xx and 5xx"},
    {"reply = FOO 550 no", "expected a command"},
    {"reply = RCPT #0 550 no", "expected #N"},
    {"reply = RCPT match", "match: expected a pattern"},
    {"reply = RCPT", "expected CODE TEXT"},
    {"tarpit = RCPT", "tarpit: expected a duration"},
    {"hang = RCPT now", "unexpected \"now\""},
    {"drop = sometimes", "drop: expected"},
    {"drop = data x", "drop = data BYTES"},
    {"down = maybe", "down: expected"},
    {"starttls = perhaps", "starttls: expected yes or no"},
    {"size = 0", "size: expected"},
    {"eod = lenient\neod = strict\neod = LENIENT", NULL},
    {"eod = sloppy", "t:1: eod: expected strict or lenient"},
    {"filter = 127.0.0.1:10025\nfilter_header = X-Virus-Scanned: ok\n"
     "filter = off\nfilter_header =",
     NULL},
    {"filter = [::1]:10025", NULL},
    {"filter = 127.0.0.1", "t:1: filter: expected a loopback IP:PORT"},
    {"filter = localhost:10025", "t:1: filter: expected a loopback"},
    {"filter_header = no colon here", "t:1: filter_header: expected"},
    {"filter_header = : empty name", "t:1: filter_header: expected"},
};

START_TEST(test_parse)
{
    const struct parse_case *tc = &parse_cases[_i];
    struct fakemx_behaviour b;
    char err[512] = "";
    int rc;

    memset(&b, 0, sizeof(b));
    rc = fakemx_behaviour_parse(&b, "t", 1, tc->text, err, sizeof(err));
    if (tc->err == NULL)
        ck_assert_msg(rc == 0, "%s: %s", tc->text, err);
    else
        ck_assert_msg(rc < 0 && strstr(err, tc->err) != NULL,
                      "%s: got \"%s\", expected \"%s\"", tc->text, err,
                      tc->err);
    fakemx_behaviour_clear(&b);
}
END_TEST

START_TEST(test_parse_fields)
{
    struct fakemx_behaviour b, c;
    char err[512];

    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(
        fakemx_behaviour_parse(
            &b, "f", 10,
            "name = mx9\ngreeting = 421 4.3.2 %s x\\ny\nmax_conn_per_ip = 4\n"
            "rate = 3 messages per 2m\ngreylist = 5m,4h\n"
            "reply = RCPT #3 452 4.5.3 Too many\ntarpit = MAIL 250ms\n"
            "drop = on QUIT\ndrop = data 7\ndown = blackhole\nsize = 99\n",
            err, sizeof(err)),
        0);
    ck_assert_str_eq(b.name, "mx9");
    ck_assert_str_eq(b.greeting_reply, "421 4.3.2 %s x\ny");
    ck_assert_int_eq(b.max_conn_per_ip, 4);
    ck_assert_int_eq(b.msg_rate.count, 3);
    ck_assert_int_eq(b.msg_rate.window_ms, 120000);
    ck_assert(b.greylist && b.greylist_min == 300 && b.greylist_max == 14400);
    ck_assert_uint_eq(b.nrules, 3);
    ck_assert(b.rules[0].action == FAKEMX_ACT_REPLY &&
              b.rules[0].cmd == FAKEMX_CMD_RCPT &&
              b.rules[0].when == FAKEMX_WHEN_NTH && b.rules[0].n == 3);
    ck_assert_str_eq(b.rules[0].reply, "452 4.5.3 Too many");
    ck_assert(b.rules[1].action == FAKEMX_ACT_TARPIT &&
              b.rules[1].delay_ms == 250);
    ck_assert(b.rules[2].action == FAKEMX_ACT_DROP_ON &&
              b.rules[2].cmd == FAKEMX_CMD_QUIT);
    ck_assert_int_eq(b.drop_data_bytes, 7);
    ck_assert(b.down == FAKEMX_DOWN_BLACKHOLE);
    ck_assert_int_eq(b.size, 99);
    /* A deep copy survives the original. */
    fakemx_behaviour_copy(&c, &b);
    fakemx_behaviour_clear(&b);
    ck_assert_str_eq(c.rules[0].reply, "452 4.5.3 Too many");
    /* Errors carry the line: first_line + index. */
    ck_assert_int_eq(fakemx_behaviour_parse(&c, "f", 10, "size = 1\n\nbad", err,
                                            sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "f:12: expected key = value");
    ck_assert_int_eq(
        fakemx_behaviour_parse_line(&c, "  # only a comment", err, sizeof(err)),
        0);
    fakemx_behaviour_clear(&c);
}
END_TEST

START_TEST(test_reply_nth_rcpt)
{
    struct client *c;

    set_beh("reply = RCPT #3 452 4.5.3 Too many recipients");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<1@y.test>\r\n"
                   "RCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\n"
                   "RCPT TO:<4@y.test>\r\nDATA\r\nx\r\n.\r\n");
    client_expect(c, "250 2.1.0 Ok\n250 2.1.5 Ok\n250 2.1.5 Ok\n"
                     "452 4.5.3 Too many recipients\n250 2.1.5 Ok\n" GO_AHEAD
                     "\n" QUEUED);
    ck_assert_uint_eq(fakemx_message_at(fm, 0)->nrcpt, 3);
    ck_assert_str_eq(fakemx_message_at(fm, 0)->rcpts[2], "4@y.test");
    /* Per session: the next session counts from 1 again. */
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<5@y.test>\r\n");
    client_expect(c, "250 *\n250 2.1.5 Ok");
    client_free(c);
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<1@y.test>\r\n"
                   "RCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\n");
    client_expect(c, "250 *\n250 *\n250 *\n452 4.5.3 *");
    client_free(c);
}
END_TEST

/* "#N-M" and "#N,M" selectors: the RCPTs of those ranks. */
START_TEST(test_reply_ranges)
{
    struct client *c;
    char err[256];
    struct fakemx_behaviour b;

    set_beh("reply = RCPT #1-2,4 450 4.2.0 later");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<1@y.test>\r\n"
                   "RCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\n"
                   "RCPT TO:<4@y.test>\r\nRCPT TO:<5@y.test>\r\n");
    client_expect(c, "250 2.1.0 Ok\n450 4.2.0 later\n450 4.2.0 later\n"
                     "250 2.1.5 Ok\n450 4.2.0 later\n250 2.1.5 Ok");
    client_free(c);
    memset(&b, 0, sizeof(b));
    ck_assert_int_eq(fakemx_behaviour_parse_line(&b, "reply = RCPT #1,3 550 no",
                                                 err, sizeof(err)),
                     0);
    ck_assert_uint_eq(b.rules[0].nranges, 2);
    ck_assert_int_eq(b.rules[0].ranges[1][0], 3);
    ck_assert_int_eq(b.rules[0].ranges[1][1], 3);
    fakemx_behaviour_clear(&b);
    static const char *const bad[] = {
        "reply = RCPT #2-1 550 no", "reply = RCPT #1,,2 550 no",
        "reply = RCPT #1-x 550 no", "reply = RCPT #1,2,3,4,5,6,7,8,9 550 no"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&b, 0, sizeof(b));
        ck_assert_msg(
            fakemx_behaviour_parse_line(&b, bad[i], err, sizeof(err)) < 0, "%s",
            bad[i]);
        ck_assert_msg(strstr(err, "expected #N, #N-M or a list") != NULL, "%s",
                      err);
        fakemx_behaviour_clear(&b);
    }
}
END_TEST

START_TEST(test_reply_every_connect)
{
    set_beh("reply = CONNECT every 3 421 4.7.0 busy %s\n"
            "reply = EHLO #1 550 5.7.1 no hello");
    for (int i = 1; i <= 6; i++) {
        struct client *c = client_connect();
        if (i % 3 == 0) {
            client_expect(c, "421 4.7.0 busy " T_CLIENT);
            ck_assert(pump(cond_eof, c));
        } else {
            client_expect(c, "220 " T_NAME " ESMTP fakemx");
            client_puts(c, "EHLO a\r\nEHLO b\r\n");
            client_expect(c, "550 5.7.1 no hello\n" EHLO_REPLY);
        }
        client_free(c);
    }
}
END_TEST

START_TEST(test_reply_match)
{
    struct client *c;

    set_beh("reply = RCPT match unknown-* 550 5.1.1 User unknown\n"
            "reply = MAIL match x@SPAM.example 550 5.7.1 No\n"
            "reply = DOT #2 554 5.7.1 Second message refused");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<X@spam.example>\r\nMAIL FROM:<ok@x.test>\r\n"
                   "RCPT TO:<Unknown-1@y.test>\r\nRCPT TO:<known@y.test>\r\n"
                   "DATA\r\n1\r\n.\r\n");
    client_expect(c, "550 5.7.1 No\n250 2.1.0 Ok\n550 5.1.1 User unknown\n"
                     "250 2.1.5 Ok\n" GO_AHEAD "\n" QUEUED);
    /* A refused "." ends the transaction without a message. */
    client_puts(c, "MAIL FROM:<ok@x.test>\r\nRCPT TO:<known@y.test>\r\n"
                   "DATA\r\n2\r\n.\r\nRCPT TO:<known@y.test>\r\n");
    client_expect(c, "250 *\n250 *\n" GO_AHEAD
                     "\n554 5.7.1 Second message refused\n"
                     "503 5.5.1 Error: need MAIL command");
    ck_assert_uint_eq(fakemx_message_count(fm), 1);
    client_free(c);
}
END_TEST

/* lmtp = yes (RFC 2033): LHLO only, one reply per recipient after the
 * dot, picked by "reply = DOT" rules (match: the address, #N: the N-th
 * recipient); the message is recorded with the accepted ones. */
START_TEST(test_lmtp)
{
    struct client *c;

    set_beh("lmtp = yes\n"
            "reply = DOT match full@* 452 4.2.2 <full@y.test> Mailbox full\n"
            "reply = DOT #3 550 5.1.1 Third refused");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "EHLO a.test\r\nHELO a.test\r\nLHLO a.test\r\n");
    client_expect(c, "500 5.5.1 Error: command not recognized\n"
                     "500 5.5.1 Error: command not recognized\n250-*\n"
                     "250-PIPELINING\n250-SIZE *\n250-8BITMIME\n"
                     "250 ENHANCEDSTATUSCODES");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<ok@y.test>\r\n"
                   "RCPT TO:<Full@y.test>\r\nRCPT TO:<third@y.test>\r\n"
                   "RCPT TO:<fourth@y.test>\r\nDATA\r\nx\r\n.\r\n");
    client_expect(c, "250 *\n250 *\n250 *\n250 *\n250 *\n" GO_AHEAD "\n"
                     "250 2.0.0 <ok@y.test> Ok: queued as FM*\n"
                     "452 4.2.2 <full@y.test> Mailbox full\n"
                     "550 5.1.1 Third refused\n"
                     "250 2.0.0 <fourth@y.test> Ok: queued as FM*");
    ck_assert_uint_eq(fakemx_message_count(fm), 1);
    ck_assert_uint_eq(fakemx_message_at(fm, 0)->nrcpt, 2);
    ck_assert_str_eq(fakemx_message_at(fm, 0)->rcpts[0], "ok@y.test");
    ck_assert_str_eq(fakemx_message_at(fm, 0)->rcpts[1], "fourth@y.test");
    /* All refused: nothing recorded, the session goes on. */
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<full@y.test>\r\n"
                   "DATA\r\nx\r\n.\r\nNOOP\r\n");
    client_expect(c, "250 *\n250 *\n" GO_AHEAD "\n452 4.2.2 *\n250 *");
    ck_assert_uint_eq(fakemx_message_count(fm), 1);
    client_free(c);
    /* Without lmtp, LHLO is not a command. */
    set_beh("");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "LHLO a.test\r\n");
    client_expect(c, "500 5.5.1 Error: command not recognized");
    client_free(c);
}
END_TEST

/* filter = IP:PORT: each message goes back by SMTP to IP:PORT (here a
 * second fake host), from the filter host's address, with the same
 * envelope and the header added on top; the dot is answered with what
 * that server said, and a refusal or a dead server is answered 4xx
 * without recording the message (nothing acknowledged is lost). */
START_TEST(test_filter)
{
    struct fakemx_host *down;
    const struct fakemx_message *m;
    struct fakemx_behaviour b;
    struct client *c;
    char err[256], beh[256], want[512];

    down = fakemx_add_host(fm, "127.0.0.32:0", "reinject.test", NULL, err,
                           sizeof(err));
    ck_assert_msg(down != NULL, "%s", err);
    snprintf(beh, sizeof(beh),
             "filter = %s\nfilter_header = X-Virus-Scanned: test",
             fakemx_host_listen(down));
    set_beh(beh);
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "EHLO a.test\r\nMAIL FROM:<a@x.test>\r\n"
                   "RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
                   "Subject: hi\r\n\r\n..dot line\r\nend\r\n.\r\n");
    snprintf(want, sizeof(want),
             "250-*\n250-*\n250-*\n250-*\n250 *\n250 *\n250 *\n250 *\n" GO_AHEAD
             "\n250 2.0.0 from MTA(smtp:[127.0.0.32]:%s): 250 2.0.0 Ok: "
             "queued as FM*",
             strchr(fakemx_host_listen(down), ':') + 1);
    client_expect(c, want);
    /* Both recorded: the filter's, then the hand-back (recorded before
     * its 250 went out, so before the filter's own record). */
    ck_assert_uint_eq(fakemx_message_count(fm), 2);
    m = fakemx_message_at(fm, 0);
    ck_assert_str_eq(m->host, fakemx_host_listen(down));
    ck_assert_str_eq(m->client_ip, "127.0.0.31");
    ck_assert_str_eq(m->helo, T_NAME);
    ck_assert_str_eq(m->mail_from, "a@x.test");
    ck_assert_uint_eq(m->nrcpt, 2);
    ck_assert_str_eq(m->rcpts[1], "c@y.test");
    ck_assert_str_eq(m->data, "X-Virus-Scanned: test\r\nSubject: hi\r\n\r\n"
                              ".dot line\r\nend\r\n");
    m = fakemx_message_at(fm, 1);
    ck_assert_str_eq(m->host, fakemx_host_listen(host));
    ck_assert_str_eq(m->data, "Subject: hi\r\n\r\n.dot line\r\nend\r\n");
    /* Refused downstream: its code comes back, nothing is recorded. */
    memset(&b, 0, sizeof(b));
    ck_assert_int_eq(fakemx_behaviour_parse(&b, "t", 1,
                                            "reply = RCPT #2 450 4.2.0 later",
                                            err, sizeof(err)),
                     0);
    ck_assert_int_eq(fakemx_host_set_behaviour(down, &b), 0);
    fakemx_behaviour_clear(&b);
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                   "RCPT TO:<c@y.test>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n");
    client_expect(c, "250 *\n250 *\n250 *\n" GO_AHEAD
                     "\n450 4.5.0 from MTA(smtp:[127.0.0.32]:*): 450 4.2.0 "
                     "later\n250 2.0.0 Ok");
    ck_assert_uint_eq(fakemx_message_count(fm), 2);
    /* Down: 451, the session goes on. */
    memset(&b, 0, sizeof(b));
    b.down = FAKEMX_DOWN_REFUSE;
    ck_assert_int_eq(fakemx_host_set_behaviour(down, &b), 0);
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                   "DATA\r\nx\r\n.\r\nNOOP\r\n");
    client_expect(c, "250 *\n250 *\n" GO_AHEAD
                     "\n451 4.4.1 from MTA(smtp:[127.0.0.32]:*): cannot "
                     "connect: *\n250 2.0.0 Ok");
    ck_assert_uint_eq(fakemx_message_count(fm), 2);
    /* A session that goes away while its message is being handed back:
     * the hand-back is dropped with it (no leak, no late answer). */
    ck_assert_int_eq(fakemx_host_set_behaviour(down, NULL), 0);
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                   "DATA\r\nx\r\n.\r\n");
    client_expect(c, "250 *\n250 *\n" GO_AHEAD);
    client_free(c);
}
END_TEST

START_TEST(test_max_conn_reply)
{
    struct client *a, *b;

    set_beh("max_conn_per_ip = 1 421 smtp4-g19.free.fr Error: too many "
            "connections from %s");
    a = client_connect();
    client_expect(a, "220 *");
    b = client_connect();
    client_expect(b, "421 smtp4-g19.free.fr Error: too many connections "
                     "from " T_CLIENT);
    ck_assert(pump(cond_eof, b));
    client_free(a);
    client_free(b);
}
END_TEST

static void advance(long sec)
{
    struct timeval tv = {sec, 0};

    clock_advance(&tv);
    fakemx_time_changed(fm);
}

START_TEST(test_greylist)
{
    struct client *c;

    clock_simulate(1700000000);
    set_beh("greylist = 300s,4h");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
    client_expect(c, "250 *\n450 4.2.0 <b@y.test>: Recipient address "
                     "rejected: Greylisted, retry in 300 seconds");
    advance(100);
    client_puts(c, "RCPT TO:<B@y.test>\r\nRCPT TO:<c@y.test>\r\n");
    client_expect(c, "450 4.2.0 * retry in 200 seconds\n"
                     "450 4.2.0 <c@y.test>:* retry in 300 seconds");
    advance(200);
    client_puts(c, "RCPT TO:<b@y.test>\r\n");
    client_expect(c, "250 2.1.5 Ok");
    /* Passed triplets stay passed; c@ retried after 4h is too late and
     * starts over. */
    advance(4 * 3600);
    client_puts(c, "RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n");
    client_expect(c, "250 2.1.5 Ok\n450 4.2.0 * retry in 300 seconds");
    advance(300);
    client_puts(c, "RCPT TO:<c@y.test>\r\n");
    client_expect(c, "250 2.1.5 Ok");
    client_free(c);
    /* Another client IP is another triplet. */
    c = client_connect_from("127.0.0.78");
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
    client_expect(c, "250 *\n450 4.2.0 *");
    client_free(c);
}
END_TEST

static struct client *connect_quit(const char *expect)
{
    struct client *c = client_connect();

    client_expect(c, expect);
    if (expect[0] == '2') {
        client_puts(c, "QUIT\r\n");
        client_expect(c, "221 *");
    }
    ck_assert(pump(cond_eof, c));
    return c;
}

START_TEST(test_rate_connections)
{
    clock_simulate(1700000000);
    set_beh("rate = 2 connections per 60s");
    client_free(connect_quit("220 *"));
    advance(30);
    client_free(connect_quit("220 *"));
    client_free(connect_quit("421 4.7.0 " T_NAME
                             " Error: too many connections from " T_CLIENT));
    advance(30); /* the first has left the window */
    client_free(connect_quit("220 *"));
    client_free(connect_quit("421 *"));
    /* Behaviour changes at run time: the limit off, then a custom text. */
    set_beh("");
    client_free(connect_quit("220 *"));
    set_beh("rate = 1 connections per 1h 421 4.7.0 slow down %s");
    client_free(connect_quit("421 4.7.0 slow down " T_CLIENT));
}
END_TEST

START_TEST(test_rate_messages)
{
    struct client *c;

    clock_simulate(1700000000);
    set_beh("rate = 2 messages per 1m");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRSET\r\nMAIL FROM:<a@x.test>\r\n"
                   "RSET\r\nMAIL FROM:<a@x.test>\r\n");
    client_expect(c, "250 *\n250 *\n250 *\n250 *\n"
                     "450 4.7.1 Error: too much mail from " T_CLIENT);
    advance(60);
    client_puts(c, "MAIL FROM:<a@x.test>\r\n");
    client_expect(c, "250 2.1.0 Ok");
    client_free(c);
}
END_TEST

static int cond_waiting(void *arg)
{
    return fakemx_waiting_count(fm) == *(size_t *)arg;
}

/* Let the loop run what is ready, without waiting. */
static void spin(void)
{
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

START_TEST(test_tarpit_simulated)
{
    struct client *c;
    size_t one = 1, zero = 0;

    clock_simulate(1700000000);
    set_beh("tarpit = MAIL 30s\ntarpit = CONNECT 10s");
    c = client_connect();
    ck_assert(pump(cond_waiting, &one));
    spin();
    ck_assert_uint_eq(c->in.len, 0);
    advance(10);
    client_expect(c, "220 *");
    /* Pipelined commands after the held one wait their turn. */
    client_puts(c, "MAIL FROM:<a@x.test>\r\nNOOP\r\n");
    ck_assert(pump(cond_waiting, &one));
    advance(29);
    spin();
    ck_assert_uint_eq(c->used, c->in.len);
    advance(1);
    client_expect(c, "250 2.1.0 Ok\n250 2.0.0 Ok");
    ck_assert(pump(cond_waiting, &zero));
    client_free(c);
}
END_TEST

START_TEST(test_tarpit_wall)
{
    struct client *c;
    long long t0;

    set_beh("tarpit = RCPT 150ms");
    c = client_connect();
    client_expect(c, "220 *");
    t0 = clock_mono_ms();
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
    client_expect(c, "250 2.1.0 Ok\n250 2.1.5 Ok");
    ck_assert_int_ge(clock_mono_ms() - t0, 150);
    client_free(c);
}
END_TEST

START_TEST(test_hang)
{
    struct client *c;
    size_t one = 1;

    set_beh("hang = RCPT");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nNOOP\r\n");
    client_expect(c, "250 2.1.0 Ok");
    ck_assert(pump(cond_waiting, &one));
    spin();
    ck_assert_uint_eq(c->used, c->in.len);
    ck_assert(!c->eof);
    client_free(c);
}
END_TEST

static const struct drop_case {
    const char *beh;
    const char *send;
    const char *expect; /* replies before the close */
} drop_cases[] = {
    {"drop = banner", "", "220 *"},
    {"drop = after MAIL", "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n",
     "250 2.1.0 Ok"},
    {"drop = on RCPT #2",
     "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
     "NOOP\r\n",
     "250 *\n250 *"},
    {"drop = data 100",
     "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
     "0123456789012345678901234567890123456789\r\n"
     "0123456789012345678901234567890123456789\r\n"
     "0123456789012345678901234567890123456789\r\n.\r\n",
     "250 *\n250 *\n" GO_AHEAD},
    {"reply = RCPT 421 4.3.2 shutting down",
     "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nNOOP\r\n",
     "250 *\n421 4.3.2 shutting down"},
};

START_TEST(test_drop)
{
    const struct drop_case *tc = &drop_cases[_i];
    struct client *c;

    set_beh(tc->beh);
    c = client_connect();
    if (strncmp(tc->beh, "drop = banner", 13) != 0)
        client_expect(c, "220 *");
    client_puts(c, tc->send);
    client_expect(c, tc->expect);
    ck_assert_msg(pump(cond_eof, c), "%s: no close", tc->beh);
    ck_assert_msg(c->used == c->in.len, "%s: more after the close: %s", tc->beh,
                  c->in.buf + c->used);
    ck_assert_uint_eq(fakemx_message_count(fm), 0);
    client_free(c);
}
END_TEST

START_TEST(test_down)
{
    struct client *c;
    size_t one = 1;

    /* A connection open when the server goes down ends with it. */
    c = client_connect();
    client_expect(c, "220 " T_NAME " ESMTP fakemx");
    set_beh("down = refuse");
    ck_assert(pump(cond_eof, c));
    client_free(c);
    ck_assert_uint_eq(fakemx_connection_count(fm), 1);
    c = client_connect();
    ck_assert(pump(cond_eof, c));
    ck_assert_uint_eq(c->in.len, 0);
    client_free(c);
    ck_assert_uint_eq(fakemx_connection_count(fm), 1);
    /* Up again on the same address and port. */
    set_beh("");
    c = client_connect();
    client_expect(c, "220 " T_NAME " ESMTP fakemx");
    client_free(c);
    /* A black hole: the connect succeeds, nothing is ever said. */
    set_beh("down = blackhole");
    c = client_connect();
    ck_assert(pump(cond_waiting, &one));
    client_puts(c, "EHLO x\r\n");
    spin();
    ck_assert_uint_eq(c->in.len, 0);
    ck_assert(!c->eof);
    client_free(c);
}
END_TEST

START_TEST(test_hardening)
{
    struct client *c;
    const struct fakemx_message *m;

    set_beh("size = 100");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=101\r\n"
                   "RCPT TO:<b@y.test>\r\nDATA\r\n");
    client_expect(c, "250-" T_NAME "\n250-PIPELINING\n250-SIZE 100\n"
                     "250-8BITMIME\n250 ENHANCEDSTATUSCODES\n"
                     "552 5.3.4 Message size exceeds fixed limit\n"
                     "503 5.5.1 Error: need MAIL command\n"
                     "503 5.5.1 Error: need RCPT command");
    /* Over SIZE in DATA: 552 at the end, the session goes on. */
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    client_expect(c, "250 *\n250 *\n" GO_AHEAD);
    send_body(c, 1000);
    client_expect(c, "552 5.3.4 Error: message file too big");
    /* Only CRLF ends a line in DATA: "\n.\n" is data (no smuggling). */
    client_puts(c, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
                   "a\n.\nMAIL FROM:<evil@x.test>\r\nb\r.\r\n.\r\n");
    client_expect(c, "250 *\n250 *\n" GO_AHEAD "\n" QUEUED);
    m = fakemx_message_at(fm, 0);
    ck_assert_str_eq(m->data, "a\n.\nMAIL FROM:<evil@x.test>\r\nb\r.\r\n");
    /* A bare LF ending a command: Postfix's 521, then the close. */
    client_puts(c, "NOOP\nNOOP\r\n");
    client_expect(c, "521 5.5.2 " T_NAME " Error: bare <LF> received");
    ck_assert(pump(cond_eof, c));
    ck_assert_uint_eq(c->used, c->in.len);
    client_free(c);
}
END_TEST

/* ---- STARTTLS ---- */

static void client_on_tls_event(struct bufferevent *bev, short what, void *arg)
{
    struct client *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        c->tls_up = 1;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        c->eof = 1;
}

static int cond_tls(void *arg)
{
    struct client *c = arg;

    return c->tls_up || c->eof;
}

/* After the 220 to STARTTLS: the client side of the handshake. */
/* QUIT, its 221, the server's close; then c is freed. */
static void client_quit(struct client *c)
{
    client_puts(c, "QUIT\r\n");
    client_expect(c, "221 2.0.0 Bye");
    ck_assert(pump(cond_eof, c));
    client_free(c);
}

static void client_start_tls(struct client *c, SSL_CTX *ctx)
{
    SSL *ssl = SSL_new(ctx);

    ck_assert_ptr_nonnull(ssl);
    c->bev = bufferevent_openssl_filter_new(
        base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(c->bev);
    bufferevent_setcb(c->bev, client_on_read, NULL, client_on_tls_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    ck_assert(pump(cond_tls, c));
    ck_assert(c->tls_up);
}

/* eod = lenient: the receiver that SMTP smuggling works against. A bare
 * LF ends a line and ".\n" the message, so what a client hid behind
 * "\n.\n" is a second transaction; CRLF still works, a bare CR is data,
 * and the default (strict) host is not fooled. */
START_TEST(test_eod_lenient)
{
    static const char hidden[] =
        "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
        "one\n.\nMAIL FROM:<evil@x.test>\nRCPT TO:<c@y.test>\r\nDATA\n"
        "two\r.\r\n..dot\r\n.\r\n";
    struct client *c;

    set_beh("eod = lenient");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "HELO c\n");
    client_expect(c, "250 *");
    client_puts(c, hidden);
    client_expect(c, "250 *\n250 *\n" GO_AHEAD "\n" QUEUED
                     "\n250 *\n250 *\n" GO_AHEAD "\n" QUEUED);
    ck_assert_uint_eq(fakemx_message_count(fm), 2);
    ck_assert_str_eq(fakemx_message_at(fm, 0)->data, "one\n");
    ck_assert_str_eq(fakemx_message_at(fm, 1)->mail_from, "evil@x.test");
    ck_assert_str_eq(fakemx_message_at(fm, 1)->data, "two\r.\r\n.dot\r\n");
    client_free(c);
    /* strict again: one message, the smuggled text is data. */
    set_beh("eod = strict");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "HELO c\r\n");
    client_expect(c, "250 *");
    client_puts(c, hidden);
    client_expect(c, "250 *\n250 *\n" GO_AHEAD "\n" QUEUED);
    ck_assert_uint_eq(fakemx_message_count(fm), 3);
    ck_assert_str_eq(fakemx_message_at(fm, 2)->data,
                     "one\n.\nMAIL FROM:<evil@x.test>\nRCPT TO:<c@y.test>\r\n"
                     "DATA\ntwo\r.\r\n.dot\r\n");
    client_free(c);
}
END_TEST

/* The same over TLS: input that OpenSSL has buffered is not lost while
 * the socket has nothing more to read. */
START_TEST(test_starttls_big_batch)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct client *c;

    ck_assert_ptr_nonnull(ctx);
    set_beh("starttls = yes");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "STARTTLS\r\n");
    client_expect(c, "220 2.0.0 Ready to start TLS");
    client_start_tls(c, ctx);
    check_big_batch(c);
    /* One TLS record each, arriving together. */
    for (int i = 0; i < 3; i++)
        client_puts(c, "NOOP\r\n");
    client_expect(c, "250 2.0.0 Ok\n250 2.0.0 Ok\n250 2.0.0 Ok");
    client_quit(c);
    SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_starttls)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    const struct fakemx_message *m;
    const struct fakemx_session_record *sr;
    struct client *c;

    ck_assert_ptr_nonnull(ctx);
    set_beh("starttls = yes\ntls_required = yes");
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                   "DATA\r\n");
    client_expect(c, "250-" T_NAME "\n250-PIPELINING\n250-SIZE 10240000\n"
                     "250-8BITMIME\n250-STARTTLS\n250 ENHANCEDSTATUSCODES\n"
                     "530 5.7.0 Must issue a STARTTLS command first\n"
                     "530 5.7.0 *\n530 5.7.0 *");
    /* Plain text pipelined after STARTTLS is dropped (RFC 3207 sec. 5). */
    client_puts(c, "STARTTLS\r\nNOOP\r\n");
    client_expect(c, "220 2.0.0 Ready to start TLS");
    client_start_tls(c, ctx);
    client_puts(c, "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@x.test>\r\n"
                   "RCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n");
    client_expect(c, EHLO_REPLY "\n554 5.5.1 Error: TLS already active\n"
                                "250 *\n250 *\n" GO_AHEAD "\n" QUEUED);
    m = fakemx_message_at(fm, 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_msg(strncmp(m->tls_version, "TLSv1.", 6) == 0, "%s",
                  m->tls_version);
    sr = fakemx_session_at(fm, 0);
    ck_assert_str_eq(sr->tls_version, m->tls_version);
    /* The NOOP sent in plain text got no reply. */
    for (size_t i = 0; i < sr->nreplies; i++)
        ck_assert_str_ne(sr->replies[i], "250 2.0.0 Ok");
    client_quit(c);
    SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_starttls_not_offered)
{
    struct client *c = client_connect();

    client_expect(c, "220 *");
    client_puts(c, "STARTTLS\r\n");
    client_expect(c, "502 5.5.1 Error: command not implemented");
    client_free(c);
}
END_TEST

/* ---- recording ---- */

START_TEST(test_recording)
{
    const struct fakemx_message *m;
    const struct fakemx_session_record *sr;
    char dir[] = "/tmp/fakemx-test-XXXXXX", err[256], *js, *path;
    struct client *c;
    size_t nfiles = 0;
    FILE *ls;
    char buf[512];

    clock_simulate(1700000000);
    c = client_connect();
    client_expect(c, "220 *");
    client_puts(c, "EHLO rec.test\r\nMAIL FROM:<a@x.test> SIZE=300 "
                   "BODY=8BITMIME\r\nRCPT TO:<b@y.test> NOTIFY=NEVER\r\n"
                   "RCPT TO:<>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
                   "Subject: hello\r\n  world\r\nFrom: A <a@x.test>\r\n"
                   "to: b@y.test\r\nMessage-ID: <1@x.test>\r\n\r\n"
                   "Subject: not a header\r\n.\r\nQUIT\r\n");
    client_expect(c, EHLO_REPLY "\n250 *\n250 *\n501 *\n250 *\n" GO_AHEAD
                                "\n" QUEUED "\n221 *");
    ck_assert(pump(cond_eof, c));
    client_free(c);
    m = fakemx_message_at(fm, 0);
    ck_assert_str_eq(m->mail_params, "SIZE=300 BODY=8BITMIME");
    ck_assert_uint_eq(m->nrcpt, 2);
    ck_assert_str_eq(m->rcpt_params[0], "NOTIFY=NEVER");
    ck_assert_str_eq(m->rcpt_params[1], "");
    ck_assert_str_eq(m->subject, "hello  world");
    ck_assert_str_eq(m->header_from, "A <a@x.test>");
    ck_assert_str_eq(m->header_to, "b@y.test");
    ck_assert_str_eq(m->message_id, "<1@x.test>");
    ck_assert_str_eq(m->tls_version, "");
    ck_assert_uint_eq(strlen(m->sha256), 64);
    ck_assert_int_eq(m->received.tv_sec, 1700000000);
    ck_assert_int_eq(m->connected.tv_sec, 1700000000);
    sr = m->session;
    ck_assert_ptr_eq(sr, fakemx_session_at(fm, 0));
    ck_assert_uint_eq(fakemx_session_count(fm), 1);
    ck_assert_str_eq(sr->helo, "rec.test");
    ck_assert_str_eq(sr->client_ip, T_CLIENT);
    ck_assert_uint_eq(sr->nmessages, 1);
    ck_assert_uint_eq(sr->nreplies, 9);
    ck_assert_str_eq(sr->replies[1], EHLO_REPLY);
    ck_assert_str_eq(sr->replies[4], "501 5.1.3 Bad recipient address syntax");
    ck_assert_str_eq(sr->replies[8], "221 2.0.0 Bye");
    ck_assert(sr->closed.tv_sec != 0);
    ck_assert_uint_eq(m->reply_first, 2);
    ck_assert_uint_eq(m->reply_count, 6);
    js = json_of(m);
    ck_assert_msg(strstr(js, "\"mail_params\":\"SIZE=300 BODY=8BITMIME\","
                             "\"rcpt_params\":[\"NOTIFY=NEVER\",\"\"],"
                             "\"tls\":\"\",\"subject\":\"hello  world\"") &&
                      strstr(js, "\"received\":1700000000.000000,"
                                 "\"session\":1,\"replies\":[\"250 2.1.0 "
                                 "Ok\",\"250 2.1.5 Ok\",\"501 5.1.3 Bad") &&
                      strstr(js, m->sha256),
                  "%s", js);
    free(js);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_msg(fakemx_message_write_maildir(m, dir, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_msg(fakemx_message_write_maildir(m, dir, err, sizeof(err)) == 0,
                  "%s", err);
    path = xasprintf("ls %s/new && cat %s/new/*", dir, dir);
    ls = popen(path, "r");
    while (fgets(buf, sizeof(buf), ls) != NULL)
        if (strstr(buf, ".M") != NULL && strstr(buf, "P") != NULL)
            nfiles++;
    pclose(ls);
    free(path);
    ck_assert_uint_eq(nfiles, 2);
    path = xasprintf("grep -c '^Return-Path: <a@x.test>$' %s/new/* | "
                     "grep -c ':1$' | grep -qx 2 && ! grep -l $'\\r' "
                     "%s/new/* && rm -rf %s",
                     dir, dir, dir);
    ck_assert_int_eq(system(path), 0);
    free(path);
}
END_TEST

static void on_session_end(void *arg, const struct fakemx_session_record *r)
{
    char **js = arg;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(fp);
    fakemx_session_write_json(r, fp);
    fclose(fp);
    free(*js);
    *js = buf;
}

static int cond_str(void *arg)
{
    return *(char **)arg != NULL;
}

START_TEST(test_session_end)
{
    char *js = NULL;
    struct client *c;

    clock_simulate(1700000000);
    fakemx_on_session_end(fm, on_session_end, &js);
    set_beh("max_conn_per_ip = 0\nname = mx.session.test");
    c = client_connect();
    client_expect(c, "220 mx.session.test ESMTP fakemx");
    client_puts(c, "HELO s.test\r\nNOOP\r\nQUIT\r\n");
    client_expect(c, "250 mx.session.test\n250 2.0.0 Ok\n221 2.0.0 Bye");
    ck_assert(pump(cond_str, &js));
    ck_assert_msg(strstr(js, "{\"session\":1,\"host\":\"") == js &&
                      strstr(js, "\"name\":\"mx.session.test\",\"client_ip\":"
                                 "\"" T_CLIENT "\",\"helo\":\"s.test\","
                                 "\"tls\":\"\",\"messages\":0,"
                                 "\"connected\":1700000000.000000,"
                                 "\"closed\":1700000000.000000,\"replies\":"
                                 "[\"220 mx.session.test ESMTP fakemx\","
                                 "\"250 mx.session.test\",\"250 2.0.0 Ok\","
                                 "\"221 2.0.0 Bye\"]}\n") != NULL,
                  "%s", js);
    free(js);
    client_free(c);
}
END_TEST

/* ---- robustness: deterministic garbage ---- */

/* Pseudo-random sessions made of SMTP fragments, CR, LF, NUL, dots and
 * long runs (a fixed LCG: the same bytes on every run). The server must
 * not crash (the sanitizer build checks memory), and still greet the next
 * client. */
START_TEST(test_random_input)
{
    static const char *const frag[] = {"MAIL FROM:<a@x.test>",
                                       "RCPT TO:<b@y.test>",
                                       "DATA",
                                       ".",
                                       "\r\n",
                                       "\r\n",
                                       "\r\n",
                                       "\n",
                                       "\r",
                                       "EHLO h",
                                       "RSET",
                                       "NOOP",
                                       ".\r\n",
                                       "..",
                                       "STARTTLS",
                                       "MAIL FROM:<a@x.test> SIZE=999999999",
                                       "RCPT TO:<unknown-1@y.test>",
                                       "Subject: x",
                                       " ",
                                       "\t",
                                       "QUIT"};
    unsigned long long seed = 0x9e3779b97f4a7c15ULL * (unsigned)(_i + 1);
    struct client *c, *next;

    set_beh("reply = RCPT every 3 452 4.5.3 Too many\n"
            "reply = RCPT match unknown-* 550 5.1.1 No\nsize = 3000\n"
            "reply = DOT #2 554 5.7.1 no\ndrop = data 20000");
    c = client_connect();
    client_expect(c, "220 *");
    for (int i = 0; i < 400 && !c->eof; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(seed >> 33);
        if (r % 50 == 0) {
            char nul[3] = {'a', '\0', 'b'};
            client_send(c, nul, sizeof(nul));
        } else if (r % 97 == 0) {
            char *big = xmalloc(4000);
            memset(big, 'z', 4000);
            client_send(c, big, 4000);
            free(big);
        } else {
            const char *f = frag[r % (sizeof(frag) / sizeof(frag[0]))];
            /* Bare LF ends the session at once: keep it rare. */
            if (strcmp(f, "\n") == 0 && r % 7 != 0)
                f = "\r\n";
            client_puts(c, f);
        }
        if (i % 40 == 0)
            spin(); /* any interleaving must be safe */
    }
    client_free(c);
    next = client_connect();
    client_expect(next, "220 *");
    client_free(next);
}
END_TEST

START_TEST(test_json)
{
    char *rcpts[] = {"a@b", "c\\d"};
    static const char odd[] = "\x01\t\r\n\x7f/\xc3\xa9 \xe9 \xed\xa0\x80 "
                              "\xe2\x82\xac \xf0\x9f\x98\x80 \xf0\x9f\x98";
    struct fakemx_message m;
    char *js;

    memset(&m, 0, sizeof(m));
    m.host = "127.0.0.1:25";
    m.host_name = "mx";
    m.client_ip = "127.0.0.2";
    m.helo = "h\"q";
    m.mail_from = "";
    m.rcpts = rcpts;
    m.nrcpt = 2;
    m.data = "abc";
    m.data_len = 3;
    js = json_of(&m);
    ck_assert_str_eq(
        js, "{\"host\":\"127.0.0.1:25\",\"name\":\"mx\",\"client_ip\":"
            "\"127.0.0.2\",\"helo\":\"h\\\"q\",\"mail_from\":\"\",\"rcpt_to\":"
            "[\"a@b\",\"c\\\\d\"],\"size\":3,\"sha256\":"
            "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            "\",\"data\":\"abc\",\"mail_params\":\"\",\"rcpt_params\":[],"
            "\"tls\":\"\",\"subject\":\"\",\"header_from\":\"\","
            "\"header_to\":\"\",\"message_id\":\"\",\"connected\":0.000000,"
            "\"mail_time\":0.000000,\"received\":0.000000,\"session\":0,"
            "\"replies\":[]}\n");
    free(js);

    /* Control bytes escaped, valid UTF-8 kept, other high bytes escaped;
     * an empty message hashes as the empty string. */
    m.data = odd;
    m.data_len = sizeof(odd) - 1;
    js = json_of(&m);
    ck_assert_msg(strstr(js,
                         "\"data\":\"\\u0001\\t\\r\\n\\u007f/\xc3\xa9 "
                         "\\u00e9 \\u00ed\\u00a0\\u0080 \xe2\x82\xac "
                         "\xf0\x9f\x98\x80 \\u00f0\\u009f\\u0098\",") != NULL,
                  "%s", js);
    free(js);
    m.data = "";
    m.data_len = 0;
    m.nrcpt = 0;
    js = json_of(&m);
    ck_assert_ptr_nonnull(strstr(
        js, "\"rcpt_to\":[],\"size\":0,\"sha256\":\"e3b0c44298fc1c149afbf4c8996"
            "fb92427ae41e4649b934ca495991b7852b855\",\"data\":\"\","));
    free(js);
}
END_TEST

static Suite *fakemx_suite(void)
{
    Suite *s = suite_create("fakemx");
    TCase *tc = tcase_create("smtp");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_session, 0,
                        sizeof(session_cases) / sizeof(session_cases[0]));
    tcase_add_test(tc, test_max_conn_per_ip);
    tcase_add_test(tc, test_disconnect_mid_data);
    tcase_add_test(tc, test_data_too_big);
    tcase_add_test(tc, test_long_data_line);
    tcase_add_test(tc, test_delivery_callback);
    tcase_add_test(tc, test_queue_ids_differ);
    tcase_add_test(tc, test_nodelay);
    tcase_add_test(tc, test_pipeline_over_reads);
    tcase_add_test(tc, test_set_behaviour);
    tcase_add_test(tc, test_add_host_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("behaviour");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_parse, 0,
                        sizeof(parse_cases) / sizeof(parse_cases[0]));
    tcase_add_test(tc, test_parse_fields);
    tcase_add_test(tc, test_reply_nth_rcpt);
    tcase_add_test(tc, test_reply_every_connect);
    tcase_add_test(tc, test_reply_ranges);
    tcase_add_test(tc, test_reply_match);
    tcase_add_test(tc, test_lmtp);
    tcase_add_test(tc, test_filter);
    tcase_add_test(tc, test_max_conn_reply);
    tcase_add_test(tc, test_greylist);
    tcase_add_test(tc, test_rate_connections);
    tcase_add_test(tc, test_rate_messages);
    tcase_add_test(tc, test_tarpit_simulated);
    tcase_add_test(tc, test_tarpit_wall);
    tcase_add_test(tc, test_hang);
    tcase_add_loop_test(tc, test_drop, 0,
                        sizeof(drop_cases) / sizeof(drop_cases[0]));
    tcase_add_test(tc, test_down);
    tcase_add_test(tc, test_hardening);
    tcase_add_test(tc, test_eod_lenient);
    tcase_add_test(tc, test_starttls);
    tcase_add_test(tc, test_starttls_big_batch);
    tcase_add_test(tc, test_starttls_not_offered);
    tcase_add_test(tc, test_recording);
    tcase_add_test(tc, test_session_end);
    tcase_add_loop_test(tc, test_random_input, 0, 8);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_test(tc, test_json);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fakemx_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
