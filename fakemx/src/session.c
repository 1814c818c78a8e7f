/*
 * session.c — the fake MX's SMTP server side (RFC 5321 section 4):
 * ESMTP with PIPELINING (replies in order, RFC 2920), SIZE (RFC 1870),
 * 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034) and STARTTLS
 * (RFC 3207), dot-unstuffing (RFC 5321 section 4.5.2), and the behaviour
 * engine: forced replies, tarpits, hangs and drops per command, rate
 * windows, greylisting. Hardening: overlong command lines, bare LF, NUL
 * bytes, bare CR, commands out of order and oversized DATA get a reply,
 * never a crash. Reply texts are Postfix's smtpd's. Every reply is also
 * appended to the session record.
 */
#include <event2/event.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakemx_int.h"
#include "mxlab/clock.h"
#include "mxlab/log.h"
#include "mxlab/smtp.h"

/* Queue IDs count per process, so two fake hosts (or two fakemx objects)
 * never hand out the same one. */
static unsigned long fakemx_queue_seq;

static void fakemx_process(struct fakemx_session *s);
static void fakemx_drained(struct fakemx_session *s);

static const char *fakemx_name(const struct fakemx_session *s)
{
    return s->host->beh.name ? s->host->beh.name : s->host->name;
}

static long fakemx_size_limit(const struct fakemx_session *s)
{
    return s->host->beh.size > 0 ? s->host->beh.size : FAKEMX_SIZE_LIMIT;
}

/* Queue a reply (lines separated by CRLF, no final CRLF) and record it. */
static void fakemx_send(struct fakemx_session *s, const char *text, size_t len)
{
    strbuf_append(&s->obuf, text, len);
    strbuf_append(&s->obuf, "\r\n", 2);
    fakemx_srec_reply(s->rec, text, len);
}

/* A reply with no variable part: no printf on the hot path. */
#define FAKEMX_REPLY_LIT(s, text) fakemx_send((s), "" text, sizeof(text) - 1)

/* A reply of three parts, e.g. "220 ", the name, " ESMTP fakemx". */
static void fakemx_reply3(struct fakemx_session *s, const char *a,
                          const char *b, const char *c)
{
    char buf[1024];
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);

    if (la + lb + lc > sizeof(buf))
        lb = sizeof(buf) - la - lc; /* a name too long for a line: cut */
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(buf, a, la);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(buf + la, b, lb);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(buf + la + lb, c, lc);
    fakemx_send(s, buf, la + lb + lc);
}

static void fakemx_reply(struct fakemx_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fakemx_reply(struct fakemx_session *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    fakemx_send(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Send a reply given as text, with "%s" replaced by the client IP. The
 * text comes from a scenario: it is never used as a printf format. A "\n"
 * in it starts a new reply line (CRLF on the wire); CRs are dropped. */
static void fakemx_reply_template(struct fakemx_session *s, const char *text)
{
    struct strbuf sb;

    strbuf_init(&sb);
    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 's') {
            strbuf_puts(&sb, s->client_ip);
            p++;
        } else if (*p == '\n') {
            strbuf_append(&sb, "\r\n", 2);
        } else if (*p != '\r') {
            strbuf_putc(&sb, *p);
        }
    }
    fakemx_send(s, sb.buf ? sb.buf : "", sb.len);
    strbuf_clear(&sb);
}

/* Reading stops while a command is held, and for good when closing. */
static void fakemx_read_stop(struct fakemx_session *s)
{
    event_del(s->rev);
}

/* Under TLS, input that OpenSSL has already taken from the socket makes
 * no readiness event: the read callback is run for it. */
static void fakemx_ssl_kick(struct fakemx_session *s)
{
    if (s->ssl != NULL && !s->tls_handshaking && SSL_has_pending(s->ssl) &&
        event_pending(s->rev, EV_READ, NULL))
        event_active(s->rev, EV_READ, 0);
}

static void fakemx_read_start(struct fakemx_session *s)
{
    struct timeval idle = {FAKEMX_IDLE_TIMEOUT, 0};

    event_add(s->rev, &idle);
    fakemx_ssl_kick(s);
}

/* Stop reading; the session is freed once the replies queued so far are
 * written (fakemx_settle), or on a write error. Also a "drop": then this
 * command gets no reply, the earlier ones still go out. */
static void fakemx_close_after_reply(struct fakemx_session *s)
{
    s->closing = 1;
    fakemx_read_stop(s);
}

/* Never answer again; keep reading (and discarding) to notice the client
 * going away, with no idle timeout. */
static void fakemx_hang(struct fakemx_session *s)
{
    s->hung = 1;
    event_del(s->rev);
    event_add(s->rev, NULL);
}

/* Forget the mail transaction (RFC 5321 section 4.1.1.5). */
static void fakemx_reset(struct fakemx_session *s)
{
    free(s->mail_from);
    s->mail_from = NULL;
    free(s->mail_params);
    s->mail_params = NULL;
    strlist_clear(&s->rcpts);
    strlist_clear(&s->rcpt_params);
    strbuf_reset(&s->data);
    s->in_data = 0;
    s->data_too_big = 0;
    s->data_mid_line = 0;
    s->data_raw = 0;
}

void fakemx_session_free(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;

    for (struct fakemx_session **pp = &fm->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    log_debug("%s: disconnect from %s", s->host->listen, s->client_ip);
    clock_now(&s->rec->pub.closed);
    /* No close_notify (RFC 8446 section 6.1): the connection just ends,
     * as it did when a bufferevent carried TLS. */
    SSL_free(s->ssl);
    event_free(s->rev);
    event_free(s->wev);
    close(s->fd);
    strbuf_clear(&s->ibuf);
    strbuf_clear(&s->obuf);
    if (s->wait_ev != NULL)
        event_free(s->wait_ev);
    fakemx_filter_cancel(s->filter);
    free(s->wait_line);
    fakemx_reset(s);
    fakemx_data_give(fm, &s->data);
    free(s->helo);
    if (fm->session_fn != NULL && !fm->freeing)
        fm->session_fn(fm->session_arg, &s->rec->pub);
    free(s);
}

/* Reply bytes not yet handed to the kernel. */
static size_t fakemx_pending(const struct fakemx_session *s)
{
    return s->obuf.len - s->ooff;
}

/* Wait until the socket is writable (EV_WRITE, with the idle timeout). */
static void fakemx_want_write(struct fakemx_session *s)
{
    struct timeval idle = {FAKEMX_IDLE_TIMEOUT, 0};

    if (!event_pending(s->wev, EV_WRITE, NULL))
        event_add(s->wev, &idle);
}

/* An SSL call returned rc <= 0: 0 when it is to be retried once the
 * socket is ready (EV_WRITE armed if it must be writable), -1 when the
 * connection is over (closed, reset, a TLS error). */
static int fakemx_ssl_retry(struct fakemx_session *s, int rc)
{
    struct timeval idle = {FAKEMX_IDLE_TIMEOUT, 0};

    switch (SSL_get_error(s->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        /* Usually reading is on. A write that needs to read (a TLS 1.2
         * renegotiation) while reading is stopped turns it on: input then
         * read is kept or dropped as the session's state says. */
        if (!event_pending(s->rev, EV_READ, NULL))
            event_add(s->rev, &idle);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        fakemx_want_write(s);
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* Send up to len bytes: the count taken, or -1 with errno EAGAIN (wait;
 * EV_WRITE is armed if the socket is full) or another errno (gone). */
static ssize_t fakemx_send_bytes(struct fakemx_session *s, const char *p,
                                 size_t len)
{
    ssize_t n;
    int rc;

    if (s->ssl == NULL) {
        while ((n = write(s->fd, p, len)) < 0 && errno == EINTR)
            ;
        if (n < 0 && errno == EAGAIN)
            fakemx_want_write(s);
        return n;
    }
    ERR_clear_error(); /* SSL_get_error reads this thread's queue */
    rc = SSL_write(s->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    if (rc > 0)
        return rc;
    errno = fakemx_ssl_retry(s, rc) == 0 ? EAGAIN : EPIPE;
    return -1;
}

/* Write what is queued now: straight to the socket (under TLS, through
 * SSL_write) from the session's own buffer, which keeps its storage;
 * only what the kernel does not take waits for EV_WRITE. So a reply
 * costs one write and no allocation or epoll_ctl (the benchmark's hot
 * path), and goes out in the event that made it. */
static void fakemx_flush(struct fakemx_session *s)
{
    while (!s->dead && s->ooff < s->obuf.len) {
        ssize_t n =
            fakemx_send_bytes(s, s->obuf.buf + s->ooff, s->obuf.len - s->ooff);
        if (n > 0)
            s->ooff += (size_t)n;
        else if (n < 0 && errno == EAGAIN)
            return;
        else
            s->dead = 1; /* EPIPE, ECONNRESET: the client has gone */
    }
    s->obuf.len = s->ooff = 0;
}

/* After an event: write, then free a session that is dead, or closing
 * with all written. Returns 1 if s is gone. */
static int fakemx_settle(struct fakemx_session *s)
{
    fakemx_flush(s);
    if (s->dead || (s->closing && fakemx_pending(s) == 0)) {
        fakemx_session_free(s);
        return 1;
    }
    return 0;
}

static int fakemx_rule_fires(const struct fakemx_rule *r, unsigned long ord,
                             const char *subject);

/* LMTP: the reply rule for recipient number ord (from 1) of address
 * rcpt, or NULL for the default reply. */
static const struct fakemx_rule *
fakemx_lmtp_rule(const struct fakemx_session *s, unsigned long ord,
                 const char *rcpt)
{
    const struct fakemx_behaviour *b = &s->host->beh;
    char subject[SMTP_PATH_MAX + 64];

    snprintf(subject, sizeof(subject), "%s", rcpt);
    str_lower(subject);
    for (size_t k = 0; k < b->nrules; k++)
        if (b->rules[k].cmd == FAKEMX_CMD_DOT &&
            b->rules[k].action == FAKEMX_ACT_REPLY &&
            fakemx_rule_fires(&b->rules[k], ord, subject))
            return &b->rules[k];
    return NULL;
}

/* RFC 2033 section 4.2: one reply per accepted recipient, in order; the
 * message is recorded with the recipients that got a 2xx. */
static void fakemx_lmtp_end_of_data(struct fakemx_session *s, const char *id)
{
    struct strlist all = s->rcpts, allp = s->rcpt_params;
    const struct fakemx_rule **rule = xcalloc(all.n ? all.n : 1, sizeof(*rule));

    strlist_init(&s->rcpts);
    strlist_init(&s->rcpt_params);
    for (size_t i = 0; i < all.n; i++) {
        rule[i] = fakemx_lmtp_rule(s, i + 1, all.v[i]);
        if (rule[i] == NULL ||
            smtp_reply_code(rule[i]->reply, NULL) / 100 == 2) {
            strlist_push(&s->rcpts, all.v[i]);
            strlist_push(&s->rcpt_params, allp.v[i]);
        }
    }
    if (s->rcpts.n > 0)
        fakemx_record(s);
    for (size_t i = 0; i < all.n; i++) {
        if (rule[i] != NULL)
            fakemx_reply_template(s, rule[i]->reply);
        else
            fakemx_reply(s, "250 2.0.0 <%s> Ok: queued as %s", all.v[i], id);
    }
    if (s->rcpts.n > 0)
        fakemx_record_notify(s->host->fm);
    strlist_clear(&s->rcpts);
    strlist_clear(&s->rcpt_params);
    s->rcpts = all;
    s->rcpt_params = allp;
    free(rule);
}

/* ---- DATA ---- */

static void fakemx_data_append(struct fakemx_session *s, const char *p,
                               size_t len)
{
    if (s->data_too_big)
        return;
    /* RFC 1870 section 6: over the limit we keep reading up to the final
     * "." and reject the message there (552). */
    if (s->data.len + len > (size_t)fakemx_size_limit(s)) {
        s->data_too_big = 1;
        strbuf_clear(&s->data);
        return;
    }
    strbuf_append(&s->data, p, len);
}

static void fakemx_end_of_data(struct fakemx_session *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char id[32], *p = id + sizeof(id) - 1;
    unsigned long seq;

    s->in_data = 0;
    if (s->data_too_big) {
        /* LMTP: the refusal once per recipient. */
        for (size_t i = 0; i < (s->host->beh.lmtp ? s->rcpts.n : 1); i++)
            FAKEMX_REPLY_LIT(s, "552 5.3.4 Error: message file too big");
    } else {
        /* "FM%08lX", written backwards without printf. */
        seq = ++fakemx_queue_seq;
        *p = '\0';
        for (int i = 0; i < 8 || seq != 0; i++, seq >>= 4)
            *--p = hex[seq & 15];
        *--p = 'M';
        *--p = 'F';
        log_info("%s: %s: from=<%s>, nrcpt=%zu, size=%zu, client=%s",
                 s->host->listen, p, s->mail_from, s->rcpts.n, s->data.len,
                 s->client_ip);
        if (s->host->beh.lmtp) {
            fakemx_lmtp_end_of_data(s, p);
        } else if (s->host->beh.filter != NULL) {
            /* A content filter answers once it has handed the message
             * back: the session holds its transaction until then. */
            fakemx_read_stop(s);
            s->waiting = 1;
            s->wait_due_ms = LLONG_MAX; /* no tarpit: not the clock's */
            s->filter = fakemx_filter_start(s);
            return;
        } else {
            fakemx_record(s);
            fakemx_reply3(s, "250 2.0.0 Ok: queued as ", p, "");
            /* Before the 250 is written: a harness observes the delivery
             * (and the SUT's queue) before the SUT can know of it. */
            fakemx_record_notify(s->host->fm);
        }
    }
    fakemx_reset(s);
}

void fakemx_filter_answer(struct fakemx_session *s, int ok, const char *reply)
{
    s->filter = NULL;
    s->waiting = 0;
    if (ok)
        fakemx_record(s);
    fakemx_send(s, reply, strlen(reply));
    if (ok)
        fakemx_record_notify(s->host->fm);
    fakemx_reset(s);
    if (!s->closing && !s->hung) {
        fakemx_read_start(s);
        fakemx_process(s);
    }
    if (fakemx_settle(s))
        return;
    fakemx_drained(s);
}

/* ---- commands ---- */

/* RFC 3207 section 4: with "tls_required", no mail before STARTTLS. */
static int fakemx_need_tls(struct fakemx_session *s)
{
    if (s->host->beh.tls_required && !s->tls) {
        FAKEMX_REPLY_LIT(s, "530 5.7.0 Must issue a STARTTLS command first");
        return 1;
    }
    return 0;
}

/* HELO and EHLO (RFC 5321 section 4.1.1.1). */
static void fakemx_hello(struct fakemx_session *s, const char *arg, int ehlo)
{
    struct fakemx_host *h = s->host;
    char buf[512];
    int n;

    if (*arg == '\0') {
        fakemx_reply(s, "501 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    /* RFC 5321 section 4.1.4: EHLO/HELO also resets the transaction. */
    fakemx_reset(s);
    free(s->helo);
    s->helo = xstrdup(arg);
    s->rec->pub.helo = fakemx_srec_strdup(s->rec, arg, strlen(arg));
    if (!ehlo) {
        fakemx_reply3(s, "250 ", fakemx_name(s), "");
        return;
    }
    n = snprintf(buf, sizeof(buf),
                 "250-%s\r\n250-PIPELINING\r\n250-SIZE %ld\r\n250-8BITMIME\r\n"
                 "%s%s250 ENHANCEDSTATUSCODES",
                 fakemx_name(s), fakemx_size_limit(s),
                 h->beh.starttls && !s->tls && h->fm->ssl_ctx != NULL
                     ? "250-STARTTLS\r\n"
                     : "",
                 h->beh.dsn ? "250-DSN\r\n" : "");
    fakemx_send(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* RFC 2033 section 4.1: an LMTP server refuses HELO and EHLO; an SMTP
 * one does not know LHLO. */
static int fakemx_wrong_hello(struct fakemx_session *s, int lhlo)
{
    if (s->host->beh.lmtp == lhlo)
        return 0;
    FAKEMX_REPLY_LIT(s, "500 5.5.1 Error: command not recognized");
    return 1;
}

static void fakemx_cmd_ehlo(struct fakemx_session *s, const char *arg)
{
    if (!fakemx_wrong_hello(s, 0))
        fakemx_hello(s, arg, 1);
}

static void fakemx_cmd_helo(struct fakemx_session *s, const char *arg)
{
    if (!fakemx_wrong_hello(s, 0))
        fakemx_hello(s, arg, 0);
}

static void fakemx_cmd_lhlo(struct fakemx_session *s, const char *arg)
{
    if (!fakemx_wrong_hello(s, 1))
        fakemx_hello(s, arg, 1);
}

/* 1 if the MAIL parameters carry a SIZE= beyond limit (RFC 1870). */
static int fakemx_size_exceeded(const char *params, long limit)
{
    const char *p = params;
    char num[32];
    long size;

    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        const char *v = str_casestart(p, "SIZE=");
        if (v != NULL && v < p + n) {
            size_t vlen = (size_t)(p + n - v);
            if (vlen >= sizeof(num))
                return 1; /* more digits than any long */
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            if (str_to_long(num, &size) == 0 && size > limit)
                return 1;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static void fakemx_cmd_mail(struct fakemx_session *s, const char *arg)
{
    const struct fakemx_behaviour *b = &s->host->beh;
    char addr[SMTP_PATH_MAX];
    const char *path, *params = "";

    if (fakemx_need_tls(s))
        return;
    if (s->mail_from != NULL) {
        FAKEMX_REPLY_LIT(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if ((path = str_casestart(arg, "FROM:")) == NULL) {
        FAKEMX_REPLY_LIT(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    if (smtp_parse_path(path, 0, addr, sizeof(addr), &params) != SMTP_PATH_OK) {
        FAKEMX_REPLY_LIT(s, "501 5.1.7 Bad sender address syntax");
        return;
    }
    if (fakemx_size_exceeded(params, fakemx_size_limit(s))) {
        FAKEMX_REPLY_LIT(s, "552 5.3.4 Message size exceeds fixed limit");
        return;
    }
    /* Postfix's smtpd_client_message_rate_limit counts MAIL commands. */
    if (!fakemx_rate_take(s->host, s->client_ip, 1, &b->msg_rate)) {
        if (b->msg_rate.reply != NULL)
            fakemx_reply_template(s, b->msg_rate.reply);
        else
            fakemx_reply(s, "450 4.7.1 Error: too much mail from %s",
                         s->client_ip);
        return;
    }
    s->mail_from = xstrdup(addr);
    s->mail_params = xstrdup(params);
    clock_now(&s->mail_time);
    s->reply_first = s->rec->pub.nreplies;
    FAKEMX_REPLY_LIT(s, "250 2.1.0 Ok");
}

static void fakemx_cmd_rcpt(struct fakemx_session *s, const char *arg)
{
    char addr[SMTP_PATH_MAX];
    const char *path, *params = "";
    long wait;

    if (fakemx_need_tls(s))
        return;
    if (s->mail_from == NULL) {
        FAKEMX_REPLY_LIT(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if ((path = str_casestart(arg, "TO:")) == NULL) {
        FAKEMX_REPLY_LIT(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if (smtp_parse_path(path, 0, addr, sizeof(addr), &params) != SMTP_PATH_OK ||
        addr[0] == '\0') {
        FAKEMX_REPLY_LIT(s, "501 5.1.3 Bad recipient address syntax");
        return;
    }
    if (s->host->beh.greylist &&
        (wait = fakemx_greylist_check(s->host, s->client_ip, s->mail_from,
                                      addr)) > 0) {
        fakemx_reply(s,
                     "450 4.2.0 <%s>: Recipient address rejected: "
                     "Greylisted, retry in %ld seconds",
                     addr, wait);
        return;
    }
    strlist_push(&s->rcpts, addr);
    strlist_push(&s->rcpt_params, params);
    FAKEMX_REPLY_LIT(s, "250 2.1.5 Ok");
}

static void fakemx_cmd_data(struct fakemx_session *s, const char *arg)
{
    if (fakemx_need_tls(s))
        return;
    /* Postfix's order and texts: without a transaction it asks for RCPT;
     * with MAIL but no accepted recipient (all rejected while pipelining)
     * it is no protocol error but "no valid recipients". */
    if (s->mail_from == NULL) {
        FAKEMX_REPLY_LIT(s, "503 5.5.1 Error: need RCPT command");
    } else if (s->rcpts.n == 0) {
        FAKEMX_REPLY_LIT(s, "554 5.5.1 Error: no valid recipients");
    } else if (*arg != '\0') {
        FAKEMX_REPLY_LIT(s, "501 5.5.4 Syntax: DATA");
    } else {
        s->in_data = 1;
        s->data_too_big = 0;
        s->data_mid_line = 0;
        s->data_raw = 0;
        strbuf_reset(&s->data);
        /* One allocation up front rather than a chain of reallocs, or
         * the buffer of a session that has ended. */
        fakemx_data_take(s->host->fm, &s->data, FAKEMX_DATA_RESERVE);
        FAKEMX_REPLY_LIT(s, "354 End data with <CR><LF>.<CR><LF>");
    }
}

static void fakemx_cmd_rset(struct fakemx_session *s, const char *arg)
{
    if (*arg != '\0') {
        FAKEMX_REPLY_LIT(s, "501 5.5.4 Syntax: RSET");
        return;
    }
    fakemx_reset(s);
    FAKEMX_REPLY_LIT(s, "250 2.0.0 Ok");
}

static void fakemx_cmd_noop(struct fakemx_session *s, const char *arg)
{
    (void)arg; /* RFC 5321 section 4.1.1.9: a parameter is ignored */
    FAKEMX_REPLY_LIT(s, "250 2.0.0 Ok");
}

static void fakemx_cmd_quit(struct fakemx_session *s, const char *arg)
{
    (void)arg;
    FAKEMX_REPLY_LIT(s, "221 2.0.0 Bye");
    fakemx_close_after_reply(s);
}

/* RFC 3207 section 4: 220, then the handshake once the 220 is written
 * (fakemx_on_write). Anything pipelined after STARTTLS is discarded
 * (section 5, the plaintext injection attack). */
static void fakemx_cmd_starttls(struct fakemx_session *s, const char *arg)
{
    if (!s->host->beh.starttls || s->host->fm->ssl_ctx == NULL) {
        FAKEMX_REPLY_LIT(s, "502 5.5.1 Error: command not implemented");
    } else if (s->tls) {
        FAKEMX_REPLY_LIT(s, "554 5.5.1 Error: TLS already active");
    } else if (*arg != '\0') {
        FAKEMX_REPLY_LIT(s, "501 5.5.4 Syntax: STARTTLS");
    } else {
        FAKEMX_REPLY_LIT(s, "220 2.0.0 Ready to start TLS");
        s->tls_starting = 1;
        fakemx_read_stop(s);
    }
}

static void fakemx_cmd_other(struct fakemx_session *s, const char *arg)
{
    (void)arg;
    FAKEMX_REPLY_LIT(s, "502 5.5.2 Error: command not recognized");
}

/* The greeting (RFC 5321 section 4.2, 3.1): a forced greeting, the
 * concurrency limit and the connection rate come first. */
static void fakemx_cmd_connect(struct fakemx_session *s, const char *arg)
{
    struct fakemx_host *h = s->host;
    const struct fakemx_behaviour *b = &h->beh;

    (void)arg;
    if (b->greeting_reply != NULL) {
        fakemx_reply_template(s, b->greeting_reply);
        fakemx_close_after_reply(s);
        return;
    }
    /* This session is already in the list: it counts itself. */
    if (b->max_conn_per_ip > 0 &&
        fakemx_host_clients(h, s->client_ip) > b->max_conn_per_ip) {
        if (b->max_conn_reply != NULL)
            fakemx_reply_template(s, b->max_conn_reply);
        else
            fakemx_reply(s, "421 4.7.0 %s Error: too many connections from %s",
                         fakemx_name(s), s->client_ip);
        fakemx_close_after_reply(s);
        return;
    }
    if (!fakemx_rate_take(h, s->client_ip, 0, &b->conn_rate)) {
        if (b->conn_rate.reply != NULL)
            fakemx_reply_template(s, b->conn_rate.reply);
        else
            fakemx_reply(s, "421 4.7.0 %s Error: too many connections from %s",
                         fakemx_name(s), s->client_ip);
        fakemx_close_after_reply(s);
        return;
    }
    fakemx_reply3(s, "220 ", fakemx_name(s), " ESMTP fakemx");
}

static void fakemx_cmd_dot(struct fakemx_session *s, const char *arg)
{
    (void)arg;
    fakemx_end_of_data(s);
}

typedef void fakemx_cmd_fn(struct fakemx_session *, const char *);

static const struct fakemx_verb {
    const char *verb;
    enum fakemx_cmd cmd;
    fakemx_cmd_fn *fn;
} fakemx_verbs[] = {
    {"EHLO", FAKEMX_CMD_EHLO, fakemx_cmd_ehlo},
    {"HELO", FAKEMX_CMD_EHLO, fakemx_cmd_helo},
    {"LHLO", FAKEMX_CMD_EHLO, fakemx_cmd_lhlo},
    {"MAIL", FAKEMX_CMD_MAIL, fakemx_cmd_mail},
    {"RCPT", FAKEMX_CMD_RCPT, fakemx_cmd_rcpt},
    {"DATA", FAKEMX_CMD_DATA, fakemx_cmd_data},
    {"RSET", FAKEMX_CMD_RSET, fakemx_cmd_rset},
    {"NOOP", FAKEMX_CMD_NOOP, fakemx_cmd_noop},
    {"QUIT", FAKEMX_CMD_QUIT, fakemx_cmd_quit},
    {"STARTTLS", FAKEMX_CMD_STARTTLS, fakemx_cmd_starttls},
};

/* What a "match" selector looks at, lowercased: the address of MAIL and
 * RCPT, the client IP of CONNECT, else the argument. */
static void fakemx_match_subject(const struct fakemx_session *s,
                                 enum fakemx_cmd cmd, const char *arg,
                                 char *out, size_t outlen)
{
    const char *path = NULL;

    if (cmd == FAKEMX_CMD_CONNECT)
        arg = s->client_ip;
    else if (cmd == FAKEMX_CMD_MAIL)
        path = str_casestart(arg, "FROM:");
    else if (cmd == FAKEMX_CMD_RCPT)
        path = str_casestart(arg, "TO:");
    if (path == NULL ||
        smtp_parse_path(path, 0, out, outlen, NULL) != SMTP_PATH_OK)
        snprintf(out, outlen, "%s", arg ? arg : "");
    str_lower(out);
}

static int fakemx_rule_fires(const struct fakemx_rule *r, unsigned long ord,
                             const char *subject)
{
    switch (r->when) {
    case FAKEMX_WHEN_NTH:
        for (size_t i = 0; i < r->nranges; i++)
            if (ord >= (unsigned long)r->ranges[i][0] &&
                ord <= (unsigned long)r->ranges[i][1])
                return 1;
        return r->nranges == 0 && ord == (unsigned long)r->n;
    case FAKEMX_WHEN_EVERY:
        return ord % (unsigned long)r->n == 0;
    case FAKEMX_WHEN_MATCH:
        return str_glob(r->pattern, subject);
    default:
        return 1;
    }
}

/* Hold command cmd (line: its text, NULL for CONNECT and DOT) for
 * delay_ms: a timer on the wall clock, fakemx_time_changed() on a
 * simulated one. Reading stops meanwhile, so replies stay in order. */
static void fakemx_wait(struct fakemx_session *s, enum fakemx_cmd cmd,
                        const char *line, unsigned long ord, long delay_ms)
{
    s->waiting = 1;
    s->wait_cmd = cmd;
    s->wait_ord = ord;
    s->wait_line = line ? xstrdup(line) : NULL;
    s->wait_due_ms = fakemx_now_ms() + delay_ms;
    fakemx_read_stop(s);
    if (!clock_is_simulated()) {
        struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
        evtimer_add(s->wait_ev, &tv);
    }
}

/* Run one command through the behaviour rules, then (unless a rule took
 * it) its handler. line is the command line (NULL for CONNECT and DOT);
 * resumed: it comes back from a tarpit, already counted. */
static void fakemx_do(struct fakemx_session *s, enum fakemx_cmd cmd, char *line,
                      int resumed)
{
    const struct fakemx_behaviour *b = &s->host->beh;
    const struct fakemx_rule *forced = NULL;
    fakemx_cmd_fn *fn = NULL;
    const char *arg = "";
    char subject[SMTP_PATH_MAX + 64];
    unsigned long ord;
    long delay = 0;
    int drop_after = 0, have_subject = 0;

    subject[0] = '\0';
    if (cmd == FAKEMX_CMD_CONNECT) {
        fn = fakemx_cmd_connect;
    } else if (cmd == FAKEMX_CMD_DOT) {
        fn = fakemx_cmd_dot;
    } else {
        char *p = line, *end;
        size_t vlen;
        log_debug("%s: %s: < %s", s->host->listen, s->client_ip, line);
        while (*p == ' ')
            p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*p == '\0') {
            FAKEMX_REPLY_LIT(s, "500 5.5.2 Error: bad syntax");
            return;
        }
        line = p;
        vlen = strcspn(line, " ");
        arg = line + vlen;
        while (*arg == ' ')
            arg++;
        cmd = FAKEMX_CMD_OTHER;
        fn = fakemx_cmd_other;
        for (size_t i = 0; i < sizeof(fakemx_verbs) / sizeof(fakemx_verbs[0]);
             i++) {
            if (vlen == strlen(fakemx_verbs[i].verb) &&
                str_ncasecmp(line, fakemx_verbs[i].verb, vlen) == 0) {
                cmd = fakemx_verbs[i].cmd;
                fn = fakemx_verbs[i].fn;
                break;
            }
        }
    }
    if (resumed)
        ord = s->wait_ord;
    else if (cmd == FAKEMX_CMD_CONNECT)
        ord = s->conn_ord;
    else
        ord = ++s->count[cmd];
    for (size_t i = 0; i < b->nrules; i++) {
        const struct fakemx_rule *r = &b->rules[i];
        if (r->cmd != cmd)
            continue;
        if (r->when == FAKEMX_WHEN_MATCH && !have_subject) {
            fakemx_match_subject(s, cmd, arg, subject, sizeof(subject));
            have_subject = 1;
        }
        if (!fakemx_rule_fires(r, ord, subject))
            continue;
        switch (r->action) {
        case FAKEMX_ACT_HANG:
            fakemx_hang(s);
            return;
        case FAKEMX_ACT_DROP_ON:
            fakemx_close_after_reply(s);
            return;
        case FAKEMX_ACT_TARPIT:
            if (!resumed && r->delay_ms > delay)
                delay = r->delay_ms;
            break;
        case FAKEMX_ACT_REPLY:
            /* LMTP: per recipient, at the end of data. */
            if (forced == NULL && !(cmd == FAKEMX_CMD_DOT && b->lmtp))
                forced = r;
            break;
        case FAKEMX_ACT_DROP_AFTER:
            drop_after = 1;
            break;
        }
    }
    if (delay > 0) {
        fakemx_wait(s, cmd, line, ord, delay);
        return;
    }
    if (forced != NULL) {
        int code = smtp_reply_code(forced->reply, NULL);
        fakemx_reply_template(s, forced->reply);
        /* RFC 5321 section 3.8: 421 closes; a refused greeting too. A
         * refused "." rejects the message. */
        if (code == 421 || cmd == FAKEMX_CMD_CONNECT)
            fakemx_close_after_reply(s);
        else if (cmd == FAKEMX_CMD_DOT)
            fakemx_reset(s);
    } else {
        fn(s, arg);
    }
    if (drop_after && !s->closing)
        fakemx_close_after_reply(s);
}

/* ---- I/O ---- */

/* DATA bytes from p[pos..n): lines to the buffer, the final "." to
 * fakemx_do. Only CRLF ends a line (RFC 5321 section 2.3.8): a bare LF or
 * CR is data, so "\n.\n" cannot end the message (SMTP smuggling). With
 * "eod = lenient" a bare LF ends a line too and ".\n" the message, as on
 * a receiver that SMTP smuggling works against. Returns the new pos. */
static size_t fakemx_data_scan(struct fakemx_session *s, const char *p,
                               size_t n, size_t pos)
{
    long drop = s->host->beh.drop_data_bytes;

    while (pos < n && s->in_data) {
        const char *lf = memchr(p + pos, '\n', n - pos);
        const char *line = p + pos;
        size_t len, end;
        int crlf, eol;

        if (lf == NULL) {
            /* A long line with no LF yet: store what we have but the last
             * byte (it may be the CR of the CRLF still to come). */
            size_t avail = n - pos, skip = 0;
            if (avail < FAKEMX_DATA_CHUNK &&
                (drop <= 0 || s->data_raw + (long long)avail < drop))
                break;
            if (!s->data_mid_line && line[0] == '.')
                skip = 1; /* stuffed dot */
            fakemx_data_append(s, line + skip, avail - 1 - skip);
            s->data_mid_line = 1;
            s->data_raw += (long long)avail - 1;
            pos += avail - 1;
            if (drop > 0 && s->data_raw + 1 >= drop)
                fakemx_close_after_reply(s);
            break;
        }
        end = (size_t)(lf - p) + 1;
        len = end - pos;
        crlf = len >= 2 && line[len - 2] == '\r';
        eol = crlf || s->host->beh.eod_lenient;
        s->data_raw += (long long)len;
        pos = end;
        if (!s->data_mid_line && line[0] == '.' &&
            ((crlf && len == 3) || (eol && len == 2))) {
            s->in_data = 0;
            fakemx_do(s, FAKEMX_CMD_DOT, NULL, 0);
            break;
        }
        if (!s->data_mid_line && line[0] == '.') {
            /* RFC 5321 section 4.5.2: drop the stuffed leading dot. */
            line++;
            len--;
        }
        fakemx_data_append(s, line, len);
        s->data_mid_line = !eol;
        if (drop > 0 && s->data_raw >= drop) {
            fakemx_close_after_reply(s);
            break;
        }
    }
    return pos;
}

/* Answer every complete command line in p[0..n), in order (RFC 2920: a
 * client may send MAIL, RCPT..., DATA in one write), until something
 * holds the session (tarpit, hang, STARTTLS, close). Returns the bytes
 * used. */
static size_t fakemx_scan(struct fakemx_session *s, const char *p, size_t n)
{
    size_t pos = 0;

    while (pos < n && !s->closing && !s->waiting && !s->hung &&
           !s->tls_starting) {
        const char *lf;
        size_t end, len;
        char line[FAKEMX_LINE_LIMIT];

        if (s->in_data) {
            size_t before = pos;
            pos = fakemx_data_scan(s, p, n, pos);
            if (pos == before && s->in_data)
                break;
            continue;
        }
        if ((lf = memchr(p + pos, '\n', n - pos)) == NULL)
            break;
        end = (size_t)(lf - p);
        len = end - pos;
        if (s->skipping_long_line) {
            /* The tail of an overlong command line: one reply for all. */
            s->skipping_long_line = 0;
            FAKEMX_REPLY_LIT(s, "500 5.5.0 Error: line too long");
        } else if ((len == 0 || p[end - 1] != '\r') &&
                   !s->host->beh.eod_lenient) {
            /* RFC 5321 section 2.3.8: only CRLF ends a command. Postfix
             * with smtpd_forbid_bare_newline = reject and code 521. */
            fakemx_reply(s, "521 5.5.2 %s Error: bare <LF> received",
                         fakemx_name(s));
            fakemx_close_after_reply(s);
        } else if (len + 1 > FAKEMX_LINE_LIMIT) {
            FAKEMX_REPLY_LIT(s, "500 5.5.0 Error: line too long");
        } else {
            /* The CR of the CRLF (eod = lenient: a bare LF ends it). */
            size_t clen = len > 0 && p[end - 1] == '\r' ? len - 1 : len;
            if (memchr(p + pos, '\0', clen) != NULL) {
                FAKEMX_REPLY_LIT(s, "500 5.5.2 Error: bad syntax");
            } else {
                memcpy(line, p + pos, clen);
                line[clen] = '\0';
                fakemx_do(s, FAKEMX_CMD_OTHER, line, 0);
            }
        }
        pos = end + 1;
    }
    return pos;
}

/* n input bytes were left unused: 1 if they are to wait for more input,
 * 0 if they are to be dropped. */
static int fakemx_keep_rest(struct fakemx_session *s, size_t n)
{
    /* RFC 3207 section 5: plain text pipelined after STARTTLS is dropped;
     * nothing more is read once closing or hung. */
    if (n == 0 || s->hung || s->tls_starting || s->closing)
        return 0;
    if (!s->in_data && !s->waiting && n > FAKEMX_LINE_LIMIT) {
        /* An overlong command line is dropped as it comes. */
        s->skipping_long_line = 1;
        return 0;
    }
    return 1;
}

/* Work on the input kept in ibuf. */
static void fakemx_process(struct fakemx_session *s)
{
    size_t n = s->ibuf.len - s->ioff;

    if (n > 0 && !s->hung && !s->closing && !s->waiting)
        s->ioff += fakemx_scan(s, s->ibuf.buf + s->ioff, n);
    if (!fakemx_keep_rest(s, s->ibuf.len - s->ioff))
        s->ibuf.len = s->ioff = 0;
}

/* Work on n new bytes at p (not in ibuf); ibuf keeps what waits for
 * more. */
static void fakemx_process_bytes(struct fakemx_session *s, const char *p,
                                 size_t n)
{
    size_t used = 0;

    if (!s->hung && !s->closing && !s->waiting)
        used = fakemx_scan(s, p, n);
    if (fakemx_keep_rest(s, n - used))
        strbuf_append(&s->ibuf, p + used, n - used);
}

/* Room for want more input bytes at the end of ibuf: unread bytes move
 * to the front, storage grows only when that is not enough. */
static char *fakemx_input_room(struct fakemx_session *s, size_t want)
{
    struct strbuf *b = &s->ibuf;

    if (s->ioff > 0 && b->cap - b->len < want + 1) {
        memmove(b->buf, b->buf + s->ioff, b->len - s->ioff);
        b->len -= s->ioff;
        s->ioff = 0;
    }
    if (b->cap - b->len < want + 1) {
        size_t cap = b->len + want + 1;
        if (cap < 2 * b->cap)
            cap = 2 * b->cap;
        b->buf = xrealloc(b->buf, cap);
        b->cap = cap;
    }
    return b->buf + b->len;
}

static void fakemx_tls_begin(struct fakemx_session *s);

/* The reply queue is empty: STARTTLS can start. */
static void fakemx_drained(struct fakemx_session *s)
{
    if (s->tls_starting && !s->closing && fakemx_pending(s) == 0)
        fakemx_tls_begin(s);
}

/* Idle for FAKEMX_IDLE_TIMEOUT: say so as Postfix does, then close once
 * it is written (a TLS handshake that stalls just ends). */
static void fakemx_idle(struct fakemx_session *s)
{
    if (s->closing || s->tls_handshaking) {
        s->dead = 1;
        return;
    }
    fakemx_reply(s, "421 4.4.2 %s Error: timeout exceeded", fakemx_name(s));
    fakemx_close_after_reply(s);
}

/* Read up to len bytes: the count, 0 at EOF, or -1 with errno (EAGAIN:
 * nothing yet). Under TLS a close_notify or a TLS error counts as EOF. */
static ssize_t fakemx_recv_bytes(struct fakemx_session *s, char *p, size_t len)
{
    int rc;

    if (s->ssl == NULL)
        return read(s->fd, p, len);
    ERR_clear_error();
    rc = SSL_read(s->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    if (rc > 0)
        return rc;
    if (SSL_get_error(s->ssl, rc) == SSL_ERROR_WANT_WRITE)
        s->ssl_read_blocked = 1; /* fakemx_on_writable reads again */
    if (fakemx_ssl_retry(s, rc) < 0)
        return 0;
    errno = EAGAIN;
    return -1;
}

/* One step of the TLS handshake (RFC 8446 section 4): done (the version
 * recorded), still going (the right event armed), or failed (dead). */
static void fakemx_tls_handshake(struct fakemx_session *s)
{
    const char *v;
    int rc;

    ERR_clear_error();
    if ((rc = SSL_do_handshake(s->ssl)) <= 0) {
        if (fakemx_ssl_retry(s, rc) < 0)
            s->dead = 1;
        return;
    }
    s->tls_handshaking = 0;
    v = SSL_get_version(s->ssl);
    s->rec->pub.tls_version = fakemx_srec_strdup(s->rec, v, strlen(v));
    log_debug("%s: %s: %s established", s->host->listen, s->client_ip,
              s->rec->pub.tls_version);
}

/* One read per readiness, into our input buffer (no FIONREAD), then
 * every complete command; under TLS the handshake first. */
static void fakemx_on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct fakemx_session *s = arg;
    char *room;
    ssize_t n;

    (void)fd;
    if (what & EV_TIMEOUT) {
        fakemx_idle(s);
        fakemx_settle(s);
        return;
    }
    if (s->tls_handshaking) {
        fakemx_tls_handshake(s);
        if (s->dead || s->tls_handshaking) {
            fakemx_settle(s);
            return;
        }
    }
    /* Usually every line read is complete: then the bytes are used where
     * they were read, in the buffer all sessions share, and only an
     * incomplete rest is copied to the session. */
    if (s->ibuf.len > s->ioff)
        room = fakemx_input_room(s, FAKEMX_READ_SIZE);
    else
        room = s->host->fm->rbuf;
    n = fakemx_recv_bytes(s, room, FAKEMX_READ_SIZE);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF or error: a transaction not ended by "." is not recorded. */
        s->dead = 1;
        fakemx_settle(s);
        return;
    }
    if (room == s->host->fm->rbuf) {
        fakemx_process_bytes(s, room, (size_t)n);
    } else {
        s->ibuf.len += (size_t)n;
        s->ibuf.buf[s->ibuf.len] = '\0';
        fakemx_process(s);
    }
    if (fakemx_settle(s))
        return;
    fakemx_ssl_kick(s);
    fakemx_drained(s); /* last: it may free s */
}

static void fakemx_on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct fakemx_session *s = arg;

    if (what & EV_TIMEOUT) {
        s->dead = 1;
        fakemx_settle(s);
        return;
    }
    if (s->tls_handshaking || s->ssl_read_blocked) {
        /* What waited for the socket to be writable was a read. */
        s->ssl_read_blocked = 0;
        fakemx_on_readable(fd, EV_READ, s);
        return;
    }
    fakemx_flush(s);
    if (!s->dead && s->ooff < s->obuf.len)
        return; /* fakemx_flush waits for EV_WRITE again */
    if (fakemx_settle(s))
        return;
    fakemx_drained(s);
}

/* A tarpit has run out: run the held command, then go on reading. */
static void fakemx_on_wait(evutil_socket_t fd, short what, void *arg)
{
    struct fakemx_session *s = arg;
    char *line = s->wait_line;

    (void)fd;
    (void)what;
    if (!s->waiting)
        return;
    s->waiting = 0;
    s->wait_line = NULL;
    fakemx_do(s, s->wait_cmd, line, 1);
    free(line);
    if (!s->closing && !s->waiting && !s->hung && !s->tls_starting) {
        fakemx_read_start(s);
        fakemx_process(s);
    }
    if (fakemx_settle(s))
        return;
    fakemx_drained(s);
}

/* The 220 for STARTTLS is written: the socket goes on under TLS, read
 * and written through SSL on the same events. RFC 3207 section 4.2: the
 * client must say EHLO again; the transaction is forgotten. */
static void fakemx_tls_begin(struct fakemx_session *s)
{
    s->tls_starting = 0;
    if ((s->ssl = SSL_new(s->host->fm->ssl_ctx)) == NULL ||
        !SSL_set_fd(s->ssl, s->fd)) {
        log_warnx("%s: cannot start TLS with %s", s->host->listen,
                  s->client_ip);
        ERR_clear_error();
        s->dead = 1;
        fakemx_settle(s);
        return;
    }
    /* obuf may move between a blocked SSL_write and its retry; a record
     * may be written in part. Read-ahead: one read() per record batch,
     * not a header and a body (fakemx_ssl_kick runs what it buffers). */
    SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_read_ahead(s->ssl, 1);
    SSL_set_accept_state(s->ssl);
    s->tls_handshaking = 1;
    s->tls = 1;
    fakemx_reset(s);
    free(s->helo);
    s->helo = NULL;
    fakemx_read_start(s); /* the ClientHello comes as a readiness */
}

/* Nagle off. Every reply flight is built whole in obuf and written with
 * one write(), so Nagle has nothing to coalesce; left on, it holds the
 * second write of one client flight (a pipelined batch read in two
 * pieces, RFC 2920) until the client's delayed ACK, about 40 ms on
 * Linux, while the client waits for that very reply. */
static void fakemx_nodelay(struct fakemx_host *h, int fd)
{
    int on = 1;

    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0)
        log_warn("%s: TCP_NODELAY", h->listen);
}

void fakemx_session_start(struct fakemx_host *h, int fd,
                          const struct netaddr *peer)
{
    struct fakemx *fm = h->fm;
    struct fakemx_session *s = xcalloc(1, sizeof(*s));
    struct timeval idle = {FAKEMX_IDLE_TIMEOUT, 0};

    s->host = h;
    s->fd = fd;
    fakemx_nodelay(h, fd);
    s->conn_ord = h->nconn;
    netaddr_ip(peer, s->client_ip, sizeof(s->client_ip));
    strlist_init(&s->rcpts);
    strlist_init(&s->rcpt_params);
    strbuf_init(&s->data);
    strbuf_init(&s->ibuf);
    strbuf_init(&s->obuf);
    s->rev =
        event_new(fm->base, fd, EV_READ | EV_PERSIST, fakemx_on_readable, s);
    s->wev = event_new(fm->base, fd, EV_WRITE, fakemx_on_writable, s);
    s->wait_ev = evtimer_new(fm->base, fakemx_on_wait, s);
    if (s->rev == NULL || s->wev == NULL || s->wait_ev == NULL ||
        event_add(s->rev, &idle) < 0) {
        log_warnx("%s: cannot set up a connection from %s", h->listen,
                  s->client_ip);
        if (s->rev != NULL)
            event_free(s->rev);
        if (s->wev != NULL)
            event_free(s->wev);
        if (s->wait_ev != NULL)
            event_free(s->wait_ev);
        evutil_closesocket(fd);
        free(s);
        return;
    }
    s->rec = fakemx_srec_new(h, s->client_ip);
    s->next = fm->sessions;
    fm->sessions = s;
    log_debug("%s: connect from %s", h->listen, s->client_ip);
    /* A black hole accepts and never says a word. */
    if (h->beh.down == FAKEMX_DOWN_BLACKHOLE) {
        fakemx_hang(s);
        return;
    }
    fakemx_do(s, FAKEMX_CMD_CONNECT, NULL, 0);
    fakemx_settle(s);
}
