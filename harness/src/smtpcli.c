/*
 * smtpcli.c — the harness's SMTP client (smtpcli.h). One bufferevent per
 * connection; replies are taken line by line from its input (at most
 * SMTPCLI_LINE_MAX bytes a line, SMTPCLI_LINES_MAX lines a reply), so
 * memory stays bounded whatever the server sends. Callbacks may free the
 * client or start TLS: the reader notices and stops.
 */
#include "smtpcli.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mxlab/tlsutil.h"
#include "mxlab/xmem.h"

struct smtpcli {
    struct event_base *base;
    struct bufferevent *bev;
    SSL_CTX *ctx;
    int own_ctx;
    int tls_now;     /* smtps: TLS as soon as TCP is up */
    int handshaking; /* a TLS handshake is under way */
    int tls;         /* TLS is up */
    int in_cb;       /* a callback is running: free later */
    int dead;        /* freed during a callback, or failed */
    int connecting;  /* TCP connect under way */
    int direct;      /* smtpcli_direct_writes */
    smtpcli_fn *cb;
    void *arg;
    struct smtpcli_reply reply;
    size_t reply_bytes; /* bytes of the reply being read (pending) */
};

/* ---- the bounded reply reader ---- */

const char *smtpcli_strstatus(enum smtpcli_status st)
{
    switch (st) {
    case SMTPCLI_DONE:
        return "whole reply";
    case SMTPCLI_MORE:
        return "reply continues";
    case SMTPCLI_LINE_TOO_LONG:
        return "reply line longer than 2048 bytes";
    case SMTPCLI_TOO_MANY_LINES:
        return "reply of more than 200 lines";
    }
    return "?";
}

static int smtpcli_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The reply code of a line, and whether it is the reply's last line
 * (RFC 5321 section 4.2.1: "NNN-" continues, "NNN SP" or "NNN" ends).
 * -1 if the line does not start with a code. */
static int smtpcli_line_code(const char *line, size_t len, int *last)
{
    *last = 1;
    if (len < 3 || !smtpcli_digit(line[0]) || !smtpcli_digit(line[1]) ||
        !smtpcli_digit(line[2]))
        return -1;
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return -1;
    *last = len == 3 || line[3] == ' ';
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

enum smtpcli_status smtpcli_reply_feed(struct smtpcli_reply *rep,
                                       const char *line, size_t len)
{
    int last, code;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    else
        rep->bare_lf = 1;
    if (len > SMTPCLI_LINE_MAX)
        return SMTPCLI_LINE_TOO_LONG;
    if (rep->nline >= SMTPCLI_LINES_MAX)
        return SMTPCLI_TOO_MANY_LINES;
    code = smtpcli_line_code(line, len, &last);
    if (rep->nline == 0)
        rep->code = code;
    if (rep->nline + 1 > rep->cap) {
        rep->cap = rep->cap ? rep->cap * 2 : 8;
        rep->off = xrealloc(rep->off, rep->cap * sizeof(*rep->off));
        rep->ptr = xrealloc(rep->ptr, rep->cap * sizeof(*rep->ptr));
    }
    rep->off[rep->nline++] = rep->store.len;
    strbuf_append(&rep->store, line, len);
    strbuf_putc(&rep->store, '\0');
    /* A line without a code inside a multi-line reply is kept as part of
     * it; alone, it is a reply by itself (code -1). */
    if (code < 0 ? rep->nline > 1 : !last)
        return SMTPCLI_MORE;
    for (size_t i = 0; i < rep->nline; i++)
        rep->ptr[i] = rep->store.buf + rep->off[i];
    rep->line = rep->ptr;
    return SMTPCLI_DONE;
}

void smtpcli_reply_reset(struct smtpcli_reply *rep)
{
    strbuf_reset(&rep->store);
    rep->nline = 0;
    rep->code = -1;
    rep->bare_lf = 0;
    rep->line = NULL;
}

void smtpcli_reply_clear(struct smtpcli_reply *rep)
{
    strbuf_clear(&rep->store);
    free(rep->off);
    free(rep->ptr);
    memset(rep, 0, sizeof(*rep));
}

/* ---- the connection ---- */

static void smtpcli_emit(struct smtpcli *c, enum smtpcli_event_kind kind,
                         const char *text)
{
    struct smtpcli_event ev = {kind, NULL, text};

    /* Once dead, only the failure itself is told (smtpcli_fail). */
    if (c->cb == NULL || (c->dead && kind != SMTPCLI_EV_ERROR))
        return;
    if (kind == SMTPCLI_EV_REPLY)
        ev.reply = &c->reply;
    c->in_cb++;
    c->cb(c, &ev, c->arg);
    c->in_cb--;
}

static void smtpcli_destroy(struct smtpcli *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    if (c->own_ctx && c->ctx != NULL)
        SSL_CTX_free(c->ctx);
    smtpcli_reply_clear(&c->reply);
    free(c);
}

/* The connection failed: tell the caller once, then stop reading. */
static void smtpcli_fail(struct smtpcli *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = 1;
    if (c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    smtpcli_emit(c, SMTPCLI_EV_ERROR, why);
}

/* Whole replies from the input, one callback each. Stops when a callback
 * frees the client or starts TLS (the input buffer is then another). */
static void smtpcli_drain(struct smtpcli *c)
{
    char line[SMTPCLI_LINE_MAX + 3];

    while (!c->dead && !c->handshaking) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t eol_len = 0, have = evbuffer_get_length(in), n;
        struct evbuffer_ptr eol =
            evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
        if (eol.pos < 0) {
            if (have > SMTPCLI_LINE_MAX + 1)
                smtpcli_fail(c, smtpcli_strstatus(SMTPCLI_LINE_TOO_LONG));
            return;
        }
        n = (size_t)eol.pos;
        if (n > SMTPCLI_LINE_MAX + 1) {
            smtpcli_fail(c, smtpcli_strstatus(SMTPCLI_LINE_TOO_LONG));
            return;
        }
        evbuffer_remove(in, line, n + eol_len);
        c->reply_bytes += n + eol_len;
        enum smtpcli_status st = smtpcli_reply_feed(&c->reply, line, n);
        if (st == SMTPCLI_MORE)
            continue;
        if (st != SMTPCLI_DONE) {
            smtpcli_fail(c, smtpcli_strstatus(st));
            return;
        }
        smtpcli_emit(c, SMTPCLI_EV_REPLY, NULL);
        smtpcli_reply_reset(&c->reply);
        c->reply_bytes = 0;
    }
}

static void smtpcli_on_read(struct bufferevent *bev, void *arg)
{
    struct smtpcli *c = arg;

    (void)bev;
    c->in_cb++;
    smtpcli_drain(c);
    c->in_cb--;
    if (c->dead && c->in_cb == 0 && c->cb == NULL)
        smtpcli_destroy(c);
}

static void smtpcli_on_event(struct bufferevent *bev, short what, void *arg);

/* TLS on the connection's socket, in place of the plain bufferevent. */
static int smtpcli_tls_start(struct smtpcli *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    struct bufferevent *tb = NULL;
    SSL *ssl;

    if (c->ctx == NULL) {
        c->ctx = smtpcli_tls_ctx_new();
        c->own_ctx = 1;
    }
    ssl = c->ctx ? SSL_new(c->ctx) : NULL;
    if (ssl != NULL)
        tb = bufferevent_openssl_socket_new(c->base, fd, ssl,
                                            BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (tb == NULL) {
        if (ssl != NULL)
            SSL_free(ssl);
        ERR_clear_error();
        return -1;
    }
    /* The plain bufferevent lets go of the socket, which tb now owns. */
    bufferevent_setfd(c->bev, -1);
    bufferevent_free(c->bev);
    c->bev = tb;
    c->handshaking = 1;
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    bufferevent_setcb(tb, smtpcli_on_read, NULL, smtpcli_on_event, c);
    bufferevent_enable(tb, EV_READ | EV_WRITE);
    return 0;
}

/* "TLSv1.3 with cipher ... (256/256 bits), server certificate /CN=x (not
 * verified)" */
static void smtpcli_tls_text(struct smtpcli *c, struct strbuf *out)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    struct strbuf sum, details;
    char subject[256] = "none";
    X509 *crt;

    strbuf_init(&sum);
    strbuf_init(&details);
    tls_describe(ssl, &sum, &details);
    if ((crt = SSL_get1_peer_certificate(ssl)) != NULL) {
        X509_NAME_oneline(X509_get_subject_name(crt), subject, sizeof(subject));
        X509_free(crt);
    }
    strbuf_printf(out, "%s%s, server certificate %s (not verified)",
                  sum.buf ? sum.buf : "", details.len ? details.buf : "",
                  subject);
    strbuf_clear(&sum);
    strbuf_clear(&details);
}

static void smtpcli_connected(struct smtpcli *c)
{
    c->connecting = 0;
    if (c->handshaking) {
        struct strbuf text;
        c->handshaking = 0;
        c->tls = 1;
        strbuf_init(&text);
        smtpcli_tls_text(c, &text);
        if (c->tls_now) {
            c->tls_now = 0;
            smtpcli_emit(c, SMTPCLI_EV_CONNECTED, text.buf);
        } else {
            smtpcli_emit(c, SMTPCLI_EV_TLS, text.buf);
        }
        strbuf_clear(&text);
        if (!c->dead)
            smtpcli_drain(c);
        return;
    }
    bufferevent_enable(c->bev, EV_READ);
    if (c->tls_now) {
        if (smtpcli_tls_start(c) < 0)
            smtpcli_fail(c, "cannot start TLS (OpenSSL or libevent failure)");
        return;
    }
    smtpcli_emit(c, SMTPCLI_EV_CONNECTED, NULL);
}

/* Why a bufferevent failed, in words a mail administrator reads. */
static void smtpcli_error_text(struct smtpcli *c, struct strbuf *out)
{
    int err = EVUTIL_SOCKET_ERROR();

    if (c->connecting) {
        /* libevent reports a connect refused at once (loopback) without
         * errno: the socket's pending error, else that. */
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        getsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_ERROR, &soerr,
                   &len);
        err = soerr                            ? soerr
              : err == 0 || err == EINPROGRESS ? ECONNREFUSED
                                               : err;
        c->connecting = 0;
    }
    if (c->handshaking) {
        unsigned long e;
        char buf[256] = "the server closed the connection";
        /* libevent also queues SSL_get_error()'s code: skip it. */
        while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
            if (ERR_GET_LIB(e) != 0)
                ERR_error_string_n(e, buf, sizeof(buf));
        strbuf_printf(out, "TLS handshake failed: %s", buf);
    } else if (err == ECONNREFUSED) {
        strbuf_puts(out, "connection refused");
    } else if (err == ECONNRESET) {
        strbuf_puts(out, "connection reset by the server");
    } else {
        strbuf_printf(out, "connection failed: %s",
                      evutil_socket_error_to_string(err));
    }
}

static void smtpcli_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtpcli *c = arg;

    (void)bev;
    c->in_cb++;
    if (what & BEV_EVENT_CONNECTED) {
        smtpcli_connected(c);
    } else if (c->handshaking || (what & BEV_EVENT_ERROR)) {
        struct strbuf why;
        strbuf_init(&why);
        smtpcli_error_text(c, &why);
        /* Read what is left before telling of the failure. */
        if (!c->handshaking)
            smtpcli_drain(c);
        smtpcli_fail(c, why.buf);
        strbuf_clear(&why);
    } else if (what & BEV_EVENT_EOF) {
        smtpcli_drain(c);
        if (!c->dead) {
            bufferevent_disable(c->bev, EV_READ | EV_WRITE);
            smtpcli_emit(c, SMTPCLI_EV_CLOSED, NULL);
            c->dead = 1;
        }
    }
    c->in_cb--;
    if (c->dead && c->in_cb == 0 && c->cb == NULL)
        smtpcli_destroy(c);
}

SSL_CTX *smtpcli_tls_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx != NULL)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

struct smtpcli *smtpcli_connect(struct event_base *base,
                                const struct netaddr *dst,
                                const struct netaddr *src, int tls_now,
                                SSL_CTX *ctx, smtpcli_fn *cb, void *arg,
                                char *err, size_t errlen)
{
    struct smtpcli *c;
    int one = 1;
    int fd = socket(dst->ss.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    if (src != NULL) {
        struct netaddr s = *src;
        char ip[64];
        netaddr_set_port(&s, 0);
        if (bind(fd, (const struct sockaddr *)&s.ss, s.len) < 0) {
            snprintf(err, errlen, "cannot use %s as the source address: %s",
                     netaddr_ip(src, ip, sizeof(ip)), strerror(errno));
            close(fd);
            return NULL;
        }
    }
    /* Commands go out as soon as they are written; pipelined ones are
     * written together by the caller. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->ctx = ctx;
    c->tls_now = tls_now;
    c->cb = cb;
    c->arg = arg;
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        snprintf(err, errlen, "cannot make a libevent buffer");
        close(fd);
        free(c);
        return NULL;
    }
    bufferevent_setcb(c->bev, smtpcli_on_read, NULL, smtpcli_on_event, c);
    /* Reading is enabled once connected, writing only while bytes wait
     * (smtpcli_out): events enabled earlier cost epoll_ctl calls around
     * the connect (libevent re-adds them). */
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&dst->ss,
                                   (int)dst->len) < 0) {
        char where[96];
        snprintf(err, errlen, "%s: %s", netaddr_str(dst, where, sizeof(where)),
                 errno == ECONNREFUSED ? "connection refused"
                                       : strerror(errno));
        bufferevent_free(c->bev);
        free(c);
        return NULL;
    }
    c->connecting = 1;
    smtpcli_reply_reset(&c->reply);
    return c;
}

/* Out to the server. With direct writes on, nothing queued and TCP up
 * without TLS, the socket gets the bytes at once (one sendmsg): the event
 * loop then never has to watch for writability, which costs two
 * epoll_ctl calls a write (the load generator's figure of CPU per
 * message). Whatever the socket does not take is queued, in order, for
 * the bufferevent. */
static void smtpcli_out(struct smtpcli *c, const struct iovec *iov, int n)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t skip = 0;

    if (c->dead)
        return;
    if (c->direct && !c->tls && !c->connecting && !c->handshaking &&
        evbuffer_get_length(out) == 0) {
        struct msghdr mh = {0};
        ssize_t k;
        mh.msg_iov = (struct iovec *)iov;
        mh.msg_iovlen = (size_t)n;
        k = sendmsg(bufferevent_getfd(c->bev), &mh,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0)
            skip = (size_t)k;
    }
    for (int i = 0; i < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        evbuffer_add(out, (const char *)iov[i].iov_base + skip,
                     iov[i].iov_len - skip);
        skip = 0;
    }
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(c->bev, EV_WRITE);
}

void smtpcli_direct_writes(struct smtpcli *c, int on)
{
    c->direct = on;
}

void smtpcli_write(struct smtpcli *c, const void *data, size_t len)
{
    struct iovec iov = {(void *)data, len};

    smtpcli_out(c, &iov, 1);
}

void smtpcli_writev(struct smtpcli *c, const struct iovec *iov, int n)
{
    smtpcli_out(c, iov, n);
}

void smtpcli_send_line(struct smtpcli *c, const char *line)
{
    struct iovec iov[2] = {{(void *)line, strlen(line)}, {"\r\n", 2}};

    smtpcli_out(c, iov, 2);
}

int smtpcli_starttls(struct smtpcli *c, size_t *extra)
{
    size_t n = evbuffer_get_length(bufferevent_get_input(c->bev));

    if (extra != NULL)
        *extra = n;
    if (c->dead || c->tls || c->handshaking || n > 0)
        return -1;
    return smtpcli_tls_start(c);
}

int smtpcli_tls_active(const struct smtpcli *c)
{
    return c->tls;
}

SSL *smtpcli_ssl(struct smtpcli *c)
{
    return c->tls ? bufferevent_openssl_get_ssl(c->bev) : NULL;
}

size_t smtpcli_pending(const struct smtpcli *c)
{
    return c->reply_bytes + evbuffer_get_length(bufferevent_get_input(c->bev));
}

void smtpcli_free(struct smtpcli *c)
{
    if (c == NULL)
        return;
    if (c->in_cb > 0) {
        /* Inside one of our callbacks: the reader frees it on return. */
        c->dead = 1;
        c->cb = NULL;
        if (c->bev != NULL)
            bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        return;
    }
    smtpcli_destroy(c);
}
