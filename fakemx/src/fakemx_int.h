/*
 * fakemx_int.h — fakemx's internal objects, shared by fakemx.c (hosts,
 * recordings, greylist and rate state), behaviour.c (the behaviour text
 * format), session.c (the SMTP server), tls.c (the certificate) and
 * json.c. Ownership: a struct fakemx owns its hosts, sessions and
 * recordings (these in its region, freed all at once by fakemx_free()); a
 * session is freed only by fakemx_session_free() (its one teardown path).
 */
#ifndef FAKEMX_INT_H
#define FAKEMX_INT_H

#include <errno.h>

#include "fakemx/fakemx.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct evconnlistener;
struct event;
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

/* RFC 1870: the SIZE we advertise and enforce by default. */
#define FAKEMX_SIZE_LIMIT 10240000L
/* RFC 5321 section 4.5.3.1.4/4.5.3.1.6: a command line, CRLF included. */
#define FAKEMX_LINE_LIMIT 1000
/* A DATA line without LF is consumed in pieces once this much is buffered,
 * so a client cannot make us buffer beyond SIZE. */
#define FAKEMX_DATA_CHUNK 65536
/* Bytes asked of one read(). */
#define FAKEMX_READ_SIZE 16384
/* DATA buffer allocated at DATA (it grows beyond as needed). */
#define FAKEMX_DATA_RESERVE 8192
/* DATA buffers of ended sessions kept for the next DATA (at most this
 * many, each at most FAKEMX_SPARE_MAX bytes): no malloc and free of the
 * DATA buffer per session when every connection carries one message. */
#define FAKEMX_SPARE_DATA 32
#define FAKEMX_SPARE_MAX (256 * 1024)
/* Idle timeout (Postfix's smtpd_timeout default). */
#define FAKEMX_IDLE_TIMEOUT 300

/* Sliding-window event times (ms on the mxlab clock) of one client IP. */
struct fakemx_window {
    long long *t;
    size_t n, cap;
};

struct fakemx_client {
    char ip[64];
    struct fakemx_window conns, msgs;
    struct fakemx_client *next;
};

#define FAKEMX_GREY_BUCKETS 1024

struct fakemx_grey {
    char *key; /* ip NUL sender NUL recipient */
    size_t keylen;
    long long first_ms;
    int passed;
    struct fakemx_grey *next;
};

struct fakemx_host {
    struct fakemx *fm;
    struct netaddr addr;
    char *listen; /* "ip:port", the bound port (also when 0 was asked) */
    char *name;
    struct fakemx_behaviour beh; /* everything owned */
    struct evconnlistener *lev;  /* NULL while down = refuse */
    unsigned long nconn;         /* connections accepted, for CONNECT #N */
    struct fakemx_client *clients;
    struct fakemx_grey *grey[FAKEMX_GREY_BUCKETS];
    struct fakemx_host *next;
};

/* The recordings (messages, session records and their strings) live
 * until fakemx_free(): they are carved from large blocks, a region in
 * NSD's manner, and each block is unmapped once at the end. */
struct fakemx_block {
    struct fakemx_block *next;
    size_t size, used; /* size: the whole mapping, this header included */
};

/* The first block is small (a harness scenario records a handful of
 * messages); each next one doubles up to FAKEMX_BLOCK_MAX. A request
 * over a quarter of that gets a block of its own. */
#define FAKEMX_BLOCK_FIRST (64 * 1024)
#define FAKEMX_BLOCK_MAX (2 * 1024 * 1024)

/* The session record with its growth bookkeeping. */
struct fakemx_srec {
    struct fakemx_session_record pub;
    size_t cap;
    struct fakemx *fm; /* whose region holds the strings */
};

struct fakemx_session {
    struct fakemx_host *host;
    /* The socket with our own events, in plain text and under TLS alike
     * (ssl then reads and writes through it), so a reply is written in
     * the event that made it, never a loop turn later. The session's own
     * buffers: input from ibuf.buf + ioff, replies to obuf (sent from
     * ooff); both keep their storage from one command to the next. */
    int fd;
    struct event *rev, *wev;
    SSL *ssl;             /* NULL: plain text */
    int tls_handshaking;  /* ssl is set, its handshake not done */
    int ssl_read_blocked; /* SSL_read wants the socket writable */
    struct strbuf ibuf, obuf;
    size_t ioff, ooff;
    struct fakemx_srec *rec;
    char client_ip[64];
    char *helo;
    char *mail_from; /* NULL: no transaction */
    char *mail_params;
    struct timeval mail_time;
    size_t reply_first;
    struct strlist rcpts;
    struct strlist rcpt_params;
    unsigned long count[FAKEMX_CMD_COUNT]; /* commands seen, per kind */
    int in_data;
    int data_too_big;       /* over SIZE: discard, 552 at "." */
    int data_mid_line;      /* not at the start of a DATA line */
    long long data_raw;     /* DATA bytes received, for drop = data */
    int skipping_long_line; /* command state: drop bytes up to the next LF */
    int closing;            /* last reply queued; freed once it is written */
    int dead;               /* the connection failed or ended: free it */
    int hung;               /* never answer again */
    int tls;                /* TLS is on */
    int tls_starting;       /* 220 for STARTTLS queued: handshake next */
    unsigned long conn_ord; /* this connection's number on its host */
    /* A command held by a tarpit: what it was, and when it is due. */
    struct event *wait_ev;
    int waiting;
    enum fakemx_cmd wait_cmd;
    unsigned long wait_ord;
    char *wait_line;
    long long wait_due_ms;
    struct strbuf data;
    struct fakemx_filter *filter; /* the hand-back in progress (filter.c) */
    struct fakemx_session *next;
};

struct fakemx {
    struct event_base *base;
    struct fakemx_host *hosts; /* in the order added */
    struct fakemx_session *sessions;
    /* filter.c's hand-backs that are over for their session and only
     * wait for the 221 of their QUIT. */
    struct fakemx_filter *filters;
    struct fakemx_message **msgs;
    size_t nmsgs, msgcap;
    struct fakemx_srec **srecs;
    size_t nsrecs, sreccap;
    size_t nconnections;
    SSL_CTX *ssl_ctx; /* made when the first host wants STARTTLS */
    EVP_MD *sha256;   /* fetched once, for every message */
    EVP_MD_CTX *sha256_ctx;
    struct strbuf spare[FAKEMX_SPARE_DATA]; /* DATA buffers to reuse */
    size_t nspare;
    struct fakemx_block *region; /* the recordings; current block first */
    size_t region_next;          /* size of the next block */
    char rbuf[FAKEMX_READ_SIZE]; /* every plain read lands here first */
    fakemx_delivery_fn *delivery_fn;
    void *delivery_arg;
    fakemx_session_fn *session_fn;
    void *session_arg;
    int freeing; /* in fakemx_free(): no more callbacks */
};

/* Start the SMTP conversation on an accepted, non-blocking socket. */
void fakemx_session_start(struct fakemx_host *h, int fd,
                          const struct netaddr *peer);
/* Close the connection and free s; the one teardown path of a session. */
void fakemx_session_free(struct fakemx_session *s);
/* Open sessions of host h from client ip that are not closing. */
int fakemx_host_clients(const struct fakemx_host *h, const char *ip);
/* Storage of at least want bytes for a session's DATA buffer b (empty):
 * a spare one if there is, else allocated. */
void fakemx_data_take(struct fakemx *fm, struct strbuf *b, size_t want);
/* Give the session's DATA buffer b back (kept as a spare or freed); b is
 * empty after. */
void fakemx_data_give(struct fakemx *fm, struct strbuf *b);
/* n bytes of zeroed storage aligned for any object, owned by fm's
 * region until fakemx_free(); never NULL (out of memory is fatal, as in
 * xmalloc). */
void *fakemx_region_alloc(struct fakemx *fm, size_t n);
/* Record the session's current transaction as an accepted message (the
 * session's data buffer is handed over). */
void fakemx_record(struct fakemx_session *s);
/* Run the delivery callback for the message just recorded, once its 250
 * is recorded too. */
void fakemx_record_notify(struct fakemx *fm);
/* A new session record (connected now). */
struct fakemx_srec *fakemx_srec_new(struct fakemx_host *h, const char *ip);
/* Append a reply (lines separated by CRLF or LF, no final line end; CRs
 * are dropped) to the record. */
void fakemx_srec_reply(struct fakemx_srec *r, const char *text, size_t len);
/* A copy of text (CRs dropped) in the region, owned with the record. */
char *fakemx_srec_strdup(struct fakemx_srec *r, const char *text, size_t len);
/* The current time on the mxlab clock, in ms. */
long long fakemx_now_ms(void);
/* Rate window: 1 if one more event is within r for ip (and count it),
 * 0 if over the limit. */
int fakemx_rate_take(struct fakemx_host *h, const char *ip, int msgs,
                     const struct fakemx_rate *r);
/* filter.c: hand the message of s (its transaction, kept until the
 * answer) to the host's filter address; fakemx_filter_answer(s, ...)
 * runs later, from the event loop, once it is answered or failed.
 * Returns the hand-back, which s owns until then. */
struct fakemx_filter;
struct fakemx_filter *fakemx_filter_start(struct fakemx_session *s);
/* Drop a hand-back (the session ends first, or fakemx_free). NULL:
 * no-op. */
void fakemx_filter_cancel(struct fakemx_filter *f);
/* session.c: the hand-back of s is over: ok (recorded as accepted) or
 * not; reply is the one line for the final dot. */
void fakemx_filter_answer(struct fakemx_session *s, int ok, const char *reply);
/* Greylisting verdict for a triplet: 0 accept, else the seconds still to
 * wait (at least 1). */
long fakemx_greylist_check(struct fakemx_host *h, const char *ip,
                           const char *from, const char *rcpt);
/* The process-wide server SSL_CTX with a fresh self-signed certificate for
 * CN name; NULL (logged) on failure. */
SSL_CTX *fakemx_tls_ctx_new(const char *name);
void fakemx_tls_ctx_free(SSL_CTX *ctx);
/* Header summary, in one pass over the header section of data: the first
 * Subject, From, To and Message-ID, unfolded, trimmed, at most 998 bytes
 * each ("" when absent). */
#define FAKEMX_NHEADERS 4
#define FAKEMX_HEADER_MAX 999
void fakemx_header_summary(const char *data, size_t len,
                           char out[FAKEMX_NHEADERS][FAKEMX_HEADER_MAX]);

#endif
