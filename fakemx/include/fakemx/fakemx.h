/*
 * fakemx.h — fake upstream MX hosts: many hosts in one process on one
 * libevent loop, each listening on its own 127.x address, each with its own
 * banner name and behaviour, recording every session and every message it
 * accepts (RFC 5321 server side). Embeddable (the harness) and standalone
 * (mxlab-fakemx). Time-dependent behaviour (greylisting, rate windows,
 * tarpits) reads the mxlab clock (mxlab/clock.h), so it follows simulated
 * time; see fakemx_time_changed().
 */
#ifndef FAKEMX_FAKEMX_H
#define FAKEMX_FAKEMX_H

#include <stddef.h>
#include <stdio.h>
#include <sys/time.h>

struct event_base;
struct fakemx;
struct fakemx_host;

/* One SMTP session (connection) as seen by a fake host. All strings owned
 * by fakemx, valid until fakemx_free(); the record is updated while the
 * session is open. */
struct fakemx_session_record {
    unsigned long id;      /* 1, 2, ... in connection order */
    const char *host;      /* "ip:port" of the fake host */
    const char *host_name; /* banner name when it connected */
    const char *client_ip;
    const char *helo;        /* last HELO/EHLO argument, "" for none */
    const char *tls_version; /* "TLSv1.3" once STARTTLS completed, else "" */
    char **replies;          /* every reply given, in order; a multi-line
                                reply is one string, lines joined by "\n" */
    size_t nreplies;
    size_t nmessages; /* messages accepted in this session */
    struct timeval connected;
    struct timeval closed; /* zero while open */
};

/* A recorded message. All strings owned by fakemx, valid until
 * fakemx_free(). */
struct fakemx_message {
    const char *host;      /* listen address of the fake host, "ip:port" */
    const char *host_name; /* its banner name */
    const char *client_ip; /* peer address, no port */
    const char *helo;      /* HELO/EHLO argument */
    const char *mail_from; /* envelope sender without <>, "" for null */
    char **rcpts;          /* accepted envelope recipients without <> */
    size_t nrcpt;
    const char *data; /* message as received, dot-unstuffed, without the
                         final "." line (a bare LF is kept as it came) */
    size_t data_len;
    struct timeval received; /* the final "." */
    /* Since issue 4; NULL/zero in a message not made by fakemx. */
    const char *mail_params; /* MAIL FROM parameters as sent, "" none */
    char **rcpt_params;      /* per accepted recipient, "" none */
    const char *tls_version; /* "" in plain text */
    const char *subject;     /* header summary, unfolded, "" absent */
    const char *header_from;
    const char *header_to;
    const char *message_id;
    char sha256[65];          /* hex SHA-256 of data; "" not computed */
    struct timeval connected; /* session start */
    struct timeval mail_time; /* MAIL command */
    const struct fakemx_session_record *session;
    size_t reply_first; /* this transaction's replies (MAIL to the final */
    size_t reply_count; /* reply) are session->replies[reply_first...] */
};

/* The commands a behaviour rule can name. EHLO stands for HELO too; DOT is
 * the end of message data; CONNECT is the greeting. */
enum fakemx_cmd {
    FAKEMX_CMD_CONNECT,
    FAKEMX_CMD_EHLO,
    FAKEMX_CMD_MAIL,
    FAKEMX_CMD_RCPT,
    FAKEMX_CMD_DATA,
    FAKEMX_CMD_DOT,
    FAKEMX_CMD_RSET,
    FAKEMX_CMD_NOOP,
    FAKEMX_CMD_QUIT,
    FAKEMX_CMD_STARTTLS,
    FAKEMX_CMD_OTHER, /* any command fakemx does not know */
    FAKEMX_CMD_COUNT
};

enum fakemx_action {
    FAKEMX_ACT_REPLY,      /* answer reply instead of the normal answer */
    FAKEMX_ACT_TARPIT,     /* wait delay_ms before answering */
    FAKEMX_ACT_HANG,       /* never answer, never close */
    FAKEMX_ACT_DROP_ON,    /* close without answering */
    FAKEMX_ACT_DROP_AFTER, /* answer, then close */
};

#define FAKEMX_RANGES_MAX 8 /* "#N-M,K,...": pieces of a selector */

enum fakemx_when {
    FAKEMX_WHEN_ALWAYS,
    FAKEMX_WHEN_NTH,   /* the n-th such command of a session (CONNECT: of
                          the host), or one in ranges */
    FAKEMX_WHEN_EVERY, /* every n-th */
    FAKEMX_WHEN_MATCH, /* argument matches pattern (glob, any case): the
                          address for MAIL/RCPT, the client IP for CONNECT */
};

struct fakemx_rule {
    enum fakemx_action action;
    enum fakemx_cmd cmd;
    enum fakemx_when when;
    long n;
    /* FAKEMX_WHEN_NTH: "#1-2,5" is {1,2}, {5,5}; "#3" is {3,3} (n: 3) */
    long ranges[FAKEMX_RANGES_MAX][2];
    size_t nranges;
    const char *pattern; /* FAKEMX_WHEN_MATCH */
    const char *reply;   /* FAKEMX_ACT_REPLY: "452 4.5.3 Too many ..." */
    long delay_ms;       /* FAKEMX_ACT_TARPIT */
};

/* N events per window per client IP (sliding window); count 0: none. */
struct fakemx_rate {
    long count;
    long window_ms;
    const char *reply; /* NULL: Postfix's text */
};

enum fakemx_down {
    FAKEMX_UP,
    FAKEMX_DOWN_REFUSE,    /* listener closed: connect is refused */
    FAKEMX_DOWN_BLACKHOLE, /* connect succeeds, nothing is ever said */
};

/* Behaviour of one host. Zeroed = accept everything. The first two fields
 * keep their place for positional initialisers. */
struct fakemx_behaviour {
    /* If non-NULL, the greeting is this reply (e.g. "421 4.7.0 mx Error:
     * too many connections from %s", where %s is the client IP) and the
     * connection is closed after it. */
    const char *greeting_reply;
    /* Per client IP concurrent-connection limit (0: none); beyond it the
     * greeting is max_conn_reply or "421 4.7.0 <name> Error: too many
     * connections from <ip>" and the connection is closed. */
    int max_conn_per_ip;
    const char *max_conn_reply;   /* %s: client IP */
    const char *name;             /* banner name; NULL: the host's */
    struct fakemx_rate conn_rate; /* over: 421 4.7.0, close */
    struct fakemx_rate msg_rate;  /* counted at MAIL; over: 450 4.7.1 */
    /* Greylisting of (client IP, sender, recipient) at RCPT: a retry is
     * accepted after greylist_min seconds and, if greylist_max > 0, before
     * greylist_max; later the triplet starts again. Off when both are 0. */
    long greylist_min;
    long greylist_max;
    int greylist;
    struct fakemx_rule *rules; /* in file order; the first REPLY wins */
    size_t nrules;
    long drop_data_bytes; /* > 0: close mid-DATA after this many bytes */
    int starttls;         /* advertise STARTTLS (self-signed certificate) */
    int tls_required;     /* 530 5.7.0 for MAIL/RCPT/DATA before TLS */
    int dsn;              /* advertise DSN (RFC 3461; parameters recorded) */
    /* eod = lenient: a bare LF ends a command or a DATA line and ".\n"
     * ends DATA, as on a receiver open to SMTP smuggling; strict (the
     * default): only CRLF, and a command ending in bare LF gets 521. */
    int eod_lenient;
    /* lmtp = yes: RFC 2033: LHLO (EHLO and HELO are 500), and after the
     * final dot one reply per accepted recipient; "reply = DOT" rules
     * then pick a recipient's reply (#N: the N-th recipient of the
     * message, match GLOB: its address). */
    int lmtp;
    long size; /* SIZE limit; 0: 10240000 */
    enum fakemx_down down;
    /* filter = IP:PORT: a fake content filter (amavis in Postfix's
     * FILTER_README): each accepted message is handed back by SMTP to
     * IP:PORT (loopback) with the same envelope and filter_header added
     * on top (NULL: "X-Virus-Scanned: mxlab-fakemx at NAME", "": none);
     * the final dot is answered once that is answered. */
    const char *filter;
    const char *filter_header;
};

/* ---- the behaviour text format ----
 * One "key = value" per line; blank lines and lines starting with '#' are
 * ignored; a key given again replaces the earlier value, except reply,
 * tarpit, hang and drop lines, which add rules. Durations: digits with a
 * unit ms, s, m, h, d, w (default s). COMMAND: CONNECT (or BANNER), EHLO
 * (or HELO), MAIL, RCPT, DATA, DOT (the final "."), RSET, NOOP, QUIT,
 * STARTTLS, OTHER (unknown verbs). SEL: nothing (always), "#N" (the N-th
 * such command of each session; CONNECT: the host's N-th connection),
 * "#N-M" (the N-th to the M-th), "#N,M" and mixes ("#1-2,5": lists),
 * "every N" (likewise every N-th), "match GLOB" (any case; the address
 * for MAIL and RCPT, the client IP for CONNECT, else the argument).
 *   name = NAME                      banner name
 *   greeting = CODE TEXT             greet with this and close ("": normal)
 *   max_conn_per_ip = N [CODE TEXT]  concurrent connections per client IP
 *   rate = N connections|messages per DURATION [CODE TEXT] | off
 *                                    sliding window per client IP;
 *                                    messages count at MAIL
 *   greylist = MIN[,MAX] | off       (client IP, sender, recipient)
 *   reply = COMMAND [SEL] CODE TEXT  4xx/5xx instead of the normal answer;
 *                                    421 (and any CONNECT reply) closes,
 *                                    a DOT reply rejects the message
 *   tarpit = COMMAND [SEL] DURATION  delay the answer (the longest wins)
 *   hang = COMMAND [SEL]             never answer, never close
 *   drop = banner | after COMMAND [SEL] | on COMMAND [SEL] | data BYTES
 *                                    close after the answer, instead of
 *                                    it, or once BYTES of DATA came
 *   down = refuse | blackhole | no   listener closed, or accept and never
 *                                    speak
 *   starttls = yes|no     tls_required = yes|no     size = BYTES
 *   dsn = yes|no
 *   eod = strict|lenient             lenient: a bare LF ends lines and
 *                                    ".\n" ends DATA (SMTP smuggling
 *                                    target); strict: only CRLF
 *   filter = IP:PORT | off           hand each message back by SMTP to
 *                                    IP:PORT (a content filter); the dot
 *                                    is answered "250 2.0.0 from
 *                                    MTA(smtp:[IP]:PORT): REPLY" after
 *   filter_header = NAME: VALUE      the header it adds ("": none)
 * In reply texts "%s" is the client IP and "\n" starts a new line. The
 * first matching reply rule wins; rules take precedence over fakemx's own
 * checks (order, TLS, greylisting, rates), except hardening replies. */

/* Parse one line (without line end) into b; comments and blank lines are
 * accepted. Returns 0, or -1 with the reason in err (no position). */
int fakemx_behaviour_parse_line(struct fakemx_behaviour *b, const char *line,
                                char *err, size_t errlen);
/* Parse a whole text into b (which the caller has zeroed or parsed into
 * before: keys given again replace, rule lines add). Returns 0, or -1 with
 * "name:LINE: reason" in err, LINE = first_line + the line's index. The
 * strings in b are owned by b: release with fakemx_behaviour_clear(). */
int fakemx_behaviour_parse(struct fakemx_behaviour *b, const char *name,
                           int first_line, const char *text, char *err,
                           size_t errlen);
/* Free the strings and rules a parse put in b, and zero it. */
void fakemx_behaviour_clear(struct fakemx_behaviour *b);
/* Deep copy: dst (owned, cleared first) becomes src (NULL: zeroed); src
 * may share strings with dst. */
void fakemx_behaviour_copy(struct fakemx_behaviour *dst,
                           const struct fakemx_behaviour *src);
const char *fakemx_cmd_name(enum fakemx_cmd cmd);

typedef void fakemx_delivery_fn(void *arg, const struct fakemx_message *m);
typedef void fakemx_session_fn(void *arg,
                               const struct fakemx_session_record *r);

struct fakemx *fakemx_new(struct event_base *base);
/* Closes every listener and connection, frees recordings. NULL no-op. */
void fakemx_free(struct fakemx *fm);

/* Add a host listening on "ip:port" with banner name (NULL: "fakemx") and
 * behaviour (NULL: accept). Returns the host, or NULL with err set. */
struct fakemx_host *fakemx_add_host(struct fakemx *fm, const char *listen,
                                    const char *name,
                                    const struct fakemx_behaviour *b, char *err,
                                    size_t errlen);
/* The host's listen address as "ip:port" with the port actually bound
 * (so "127.0.0.1:0" asks for any free port). Borrowed until fakemx_free(). */
const char *fakemx_host_listen(const struct fakemx_host *h);
/* Change a host's behaviour at run time (everything is copied). Open
 * sessions follow the new behaviour from their next command; "down =
 * refuse" ends them at once, as when a server stops. Switching
 * "down = refuse" off listens again on the same address; -1 (logged) if
 * that fails. */
int fakemx_host_set_behaviour(struct fakemx_host *h,
                              const struct fakemx_behaviour *b);

/* Tell fakemx that the simulated clock moved (clock_advance()): tarpits
 * that have come due answer. A no-op on the wall clock, where tarpits are
 * ordinary timers. */
void fakemx_time_changed(struct fakemx *fm);
/* Sessions currently held by a tarpit or a hang. */
size_t fakemx_waiting_count(const struct fakemx *fm);

/* Called after each message is accepted (250 queued for sending) and
 * recorded, so fakemx_message_count() already includes it. fn must not
 * call fakemx_free(). */
void fakemx_on_delivery(struct fakemx *fm, fakemx_delivery_fn *fn, void *arg);
/* Called when a session ends (its record complete, closed set); not for
 * the sessions fakemx_free() cuts. fn must not call fakemx_free(). */
void fakemx_on_session_end(struct fakemx *fm, fakemx_session_fn *fn, void *arg);

size_t fakemx_message_count(const struct fakemx *fm);
const struct fakemx_message *fakemx_message_at(const struct fakemx *fm,
                                               size_t i);
/* Number of SMTP connections accepted so far, over all hosts. */
size_t fakemx_connection_count(const struct fakemx *fm);
size_t fakemx_session_count(const struct fakemx *fm);
const struct fakemx_session_record *fakemx_session_at(const struct fakemx *fm,
                                                      size_t i);

/* Write one JSON object per line for message m (the --dump format):
 * {"host":..,"name":..,"client_ip":..,"helo":..,"mail_from":..,
 *  "rcpt_to":[..],"size":N,"sha256":"hex","data":"..",
 *  "mail_params":..,"rcpt_params":[..],"tls":..,"subject":..,
 *  "header_from":..,"header_to":..,"message_id":..,"connected":SEC.USEC,
 *  "mail_time":SEC.USEC,"received":SEC.USEC,"session":ID,"replies":[..]} */
void fakemx_message_write_json(const struct fakemx_message *m, FILE *fp);
/* One JSON object per line for session record r:
 * {"session":ID,"host":..,"name":..,"client_ip":..,"helo":..,"tls":..,
 *  "messages":N,"connected":SEC.USEC,"closed":SEC.USEC,"replies":[..]} */
void fakemx_session_write_json(const struct fakemx_session_record *r, FILE *fp);
/* Deliver m into the Maildir dir (dir/tmp, dir/new, dir/cur are created):
 * Return-Path and Delivered-To lines, then the data with CRLF as LF;
 * written in tmp, fsynced, renamed into new. 0, or -1 with err set. */
int fakemx_message_write_maildir(const struct fakemx_message *m,
                                 const char *dir, char *err, size_t errlen);

#endif
