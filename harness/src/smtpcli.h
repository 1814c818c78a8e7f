/*
 * smtpcli.h — the harness's SMTP client: one connection to a server under
 * test, on the caller's event loop. It sends what it is given (commands,
 * raw bytes, pipelined or not) and hands back whole replies (RFC 5321
 * section 4.2: "NNN-" lines then one "NNN " line) read through one
 * bounded line reader, so a hostile server cannot make it buffer without
 * limit. TLS from the first byte (smtps) or after STARTTLS (RFC 3207).
 * It judges nothing: callers decide what a reply means. It shares no
 * parsing code with the relay (the judge must not share the judged's bugs).
 */
#ifndef HARNESS_SMTPCLI_H
#define HARNESS_SMTPCLI_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>

#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

/* Bounds on what a server may send (RFC 5321 section 4.5.3.1.5 allows 512
 * octets per reply line; real servers exceed it a little). */
#define SMTPCLI_LINE_MAX 2048
#define SMTPCLI_LINES_MAX 200

/* One reply, as read. Lines are NUL-terminated, without their line end.
 * Zero-initialised before first use; smtpcli_reply_clear frees it. */
struct smtpcli_reply {
    int code;    /* 100..599, or -1: a line that is not a reply line */
    char **line; /* line[0..nline-1]: borrowed until the callback returns */
    size_t nline;
    int bare_lf; /* some line ended in LF without CR */
    /* private: the lines one after the other, and where each starts */
    struct strbuf store;
    size_t *off;
    char **ptr;
    size_t cap;
};

enum smtpcli_status {
    SMTPCLI_DONE,           /* a whole reply is in */
    SMTPCLI_MORE,           /* a continuation line: more to come */
    SMTPCLI_LINE_TOO_LONG,  /* a line over SMTPCLI_LINE_MAX */
    SMTPCLI_TOO_MANY_LINES, /* a reply over SMTPCLI_LINES_MAX lines */
};
const char *smtpcli_strstatus(enum smtpcli_status st);

/* What happened on a connection. */
enum smtpcli_event_kind {
    SMTPCLI_EV_CONNECTED, /* TCP is up (for smtps: after the handshake) */
    SMTPCLI_EV_REPLY,     /* ev->reply holds a whole reply */
    SMTPCLI_EV_TLS,       /* a STARTTLS handshake finished (ev->text) */
    SMTPCLI_EV_CLOSED,    /* the server closed the connection */
    SMTPCLI_EV_ERROR,     /* refused, reset, TLS failure, reply too long:
                             ev->text says which; the connection is dead */
};
struct smtpcli_event {
    enum smtpcli_event_kind kind;
    const struct smtpcli_reply *reply; /* SMTPCLI_EV_REPLY */
    const char *text; /* TLS: "TLSv1.3 with cipher ..., server certificate
                         SUBJECT"; ERROR: "connection refused", ... */
};

struct smtpcli;
typedef void smtpcli_fn(struct smtpcli *c, const struct smtpcli_event *ev,
                        void *arg);

/* Connect to dst (from src if not NULL), TLS from the first byte if
 * tls_now. ctx: the TLS client context to use (NULL: the client makes its
 * own on first need; many connections should share one from
 * smtpcli_tls_ctx_new). Events go to cb. NULL with the reason in err
 * (e.g. the source address is not on this host). Caller frees with
 * smtpcli_free. */
struct smtpcli *smtpcli_connect(struct event_base *base,
                                const struct netaddr *dst,
                                const struct netaddr *src, int tls_now,
                                SSL_CTX *ctx, smtpcli_fn *cb, void *arg,
                                char *err, size_t errlen);
/* Queue bytes for the server, as they are (no CRLF added). */
void smtpcli_write(struct smtpcli *c, const void *data, size_t len);
/* With on, writes go to the socket at once when nothing is queued (one
 * system call, no write event: the load generator's CPU per message).
 * Off by default: bytes then leave from the event loop, so a scenario's
 * client and an embedded SUT on the same loop keep their event order. */
void smtpcli_direct_writes(struct smtpcli *c, int on);
/* The same for n pieces one after the other (one system call when the
 * socket takes them all). */
struct iovec;
void smtpcli_writev(struct smtpcli *c, const struct iovec *iov, int n);
/* Queue "line\r\n". */
void smtpcli_send_line(struct smtpcli *c, const char *line);
/* Start TLS on the connection now (after a 220 to STARTTLS). -1 if the
 * server already sent bytes that were not read (plain-text injection,
 * CVE-2011-0411: *extra gets how many) or TLS cannot start; the
 * handshake's end comes as SMTPCLI_EV_TLS or SMTPCLI_EV_ERROR. */
int smtpcli_starttls(struct smtpcli *c, size_t *extra);
/* 1 once TLS is up on the connection. */
int smtpcli_tls_active(const struct smtpcli *c);
/* The SSL object once TLS is up (certificate, protocol), else NULL. */
SSL *smtpcli_ssl(struct smtpcli *c);
/* Bytes received and not yet part of a whole reply. */
size_t smtpcli_pending(const struct smtpcli *c);
/* Close and free; NULL is a no-op. No callback runs afterwards. */
void smtpcli_free(struct smtpcli *c);

/* A TLS client context that verifies nothing (the lab tests the server's
 * SMTP, not its PKI). NULL on OpenSSL failure. Caller frees with
 * SSL_CTX_free. */
SSL_CTX *smtpcli_tls_ctx_new(void);

/* The bounded reply reader, alone (for tests and other transports): feed
 * one line (without its LF; a trailing CR is removed) into rep, which
 * collects it. Returns SMTPCLI_DONE when rep holds a whole reply. */
enum smtpcli_status smtpcli_reply_feed(struct smtpcli_reply *rep,
                                       const char *line, size_t len);
/* Forget rep's lines (storage kept for the next reply). */
void smtpcli_reply_reset(struct smtpcli_reply *rep);
/* Free rep's storage. */
void smtpcli_reply_clear(struct smtpcli_reply *rep);

#endif
