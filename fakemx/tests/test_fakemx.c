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
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakemx/fakemx.h"
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
        struct fakemx_behaviour b = {tc->greeting_reply, 0};
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
    struct fakemx_behaviour b = {NULL, 1};
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
    struct fakemx_behaviour b = {"421 4.3.2 %s down", 0};
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
            "\",\"data\":\"abc\"}\n");
    free(js);

    /* Control bytes escaped, valid UTF-8 kept, other high bytes escaped;
     * an empty message hashes as the empty string. */
    m.data = odd;
    m.data_len = sizeof(odd) - 1;
    js = json_of(&m);
    ck_assert_msg(strstr(js,
                         "\"data\":\"\\u0001\\t\\r\\n\\u007f/\xc3\xa9 "
                         "\\u00e9 \\u00ed\\u00a0\\u0080 \xe2\x82\xac "
                         "\xf0\x9f\x98\x80 \\u00f0\\u009f\\u0098\"}\n") != NULL,
                  "%s", js);
    free(js);
    m.data = "";
    m.data_len = 0;
    m.nrcpt = 0;
    js = json_of(&m);
    ck_assert_ptr_nonnull(strstr(
        js, "\"rcpt_to\":[],\"size\":0,\"sha256\":\"e3b0c44298fc1c149afbf4c8996"
            "fb92427ae41e4649b934ca495991b7852b855\",\"data\":\"\"}\n"));
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
    tcase_add_test(tc, test_set_behaviour);
    tcase_add_test(tc, test_add_host_errors);
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
