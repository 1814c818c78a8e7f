/*
 * milter.h — the Sendmail milter protocol as Postfix speaks it
 * (MILTER_README, libmilter's wire format): the packet codec, the
 * message's header list with the end-of-message modifications, and an
 * asynchronous client that talks to each milter of smtpd_milters command
 * by command, as Postfix's smtpd and cleanup do.
 */
#ifndef RELAY_MILTER_H
#define RELAY_MILTER_H

#include <stddef.h>
#include <stdint.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

/* Commands (MTA to milter) and replies (milter to MTA), libmilter's
 * mfdef.h values. */
enum {
    MILTER_C_ABORT = 'A',
    MILTER_C_BODY = 'B',
    MILTER_C_CONNECT = 'C',
    MILTER_C_BODYEOB = 'E',
    MILTER_C_HELO = 'H',
    MILTER_C_HEADER = 'L',
    MILTER_C_MACRO = 'D',
    MILTER_C_MAIL = 'M',
    MILTER_C_EOH = 'N',
    MILTER_C_OPTNEG = 'O',
    MILTER_C_QUIT = 'Q',
    MILTER_C_RCPT = 'R',
    MILTER_C_DATA = 'T',
    MILTER_R_SHUTDOWN = '4',
    MILTER_R_ADDRCPT = '+',
    MILTER_R_DELRCPT = '-',
    MILTER_R_ACCEPT = 'a',
    MILTER_R_REPLBODY = 'b',
    MILTER_R_CONTINUE = 'c',
    MILTER_R_DISCARD = 'd',
    MILTER_R_CHGFROM = 'e',
    MILTER_R_ADDHEADER = 'h',
    MILTER_R_INSHEADER = 'i',
    MILTER_R_CHGHEADER = 'm',
    MILTER_R_PROGRESS = 'p',
    MILTER_R_QUARANTINE = 'q',
    MILTER_R_REJECT = 'r',
    MILTER_R_SKIP = 's',
    MILTER_R_TEMPFAIL = 't',
    MILTER_R_REPLYCODE = 'y',
};

/* SMFIP_* protocol flags that change what the MTA sends. */
#define MILTER_P_NOCONNECT 0x1u
#define MILTER_P_NOHELO 0x2u
#define MILTER_P_NOMAIL 0x4u
#define MILTER_P_NORCPT 0x8u
#define MILTER_P_NOBODY 0x10u
#define MILTER_P_NOHDRS 0x20u
#define MILTER_P_NOEOH 0x40u
#define MILTER_P_NR_HDR 0x80u
#define MILTER_P_NOUNKNOWN 0x100u
#define MILTER_P_NODATA 0x200u
#define MILTER_P_SKIP 0x400u
#define MILTER_P_RCPT_REJ 0x800u
#define MILTER_P_NR_CONN 0x1000u
#define MILTER_P_NR_HELO 0x2000u
#define MILTER_P_NR_MAIL 0x4000u
#define MILTER_P_NR_RCPT 0x8000u
#define MILTER_P_NR_DATA 0x10000u
#define MILTER_P_NR_UNKN 0x20000u
#define MILTER_P_NR_EOH 0x40000u
#define MILTER_P_NR_BODY 0x80000u
#define MILTER_P_HDR_LEADSPC 0x100000u

/* A packet's largest data (libmilter's MILTER_MAX_DATA_SIZE is 64k; we
 * accept a milter's replies up to 1 MB) and a body chunk's. */
#define MILTER_MAX_DATA (1024 * 1024)
#define MILTER_CHUNK 65535

/* One packet (4-byte length in network order, command, data) onto out. */
void milter_put(struct strbuf *out, int cmd, const void *data, size_t len);
/* One packet from buf: its length (>0) with *cmd, *data, *dlen set, 0
 * if buf holds less than a packet, -1 if the length is 0 or over
 * MILTER_MAX_DATA. */
long milter_get(const unsigned char *buf, size_t len, int *cmd,
                const unsigned char **data, size_t *dlen);
/* A 32-bit value at p (network order). */
uint32_t milter_u32(const unsigned char *p);

/* The message's header block as fields (name, and value after the
 * colon as received: leading space and CRLF folds kept) and its body. */
struct milter_msg {
    struct strlist names, values;
    const char *body; /* borrowed from the parsed text */
    size_t body_len;
};
/* Parse an RFC 5322 message (CRLF lines; the header block ends at the
 * first line that is not a field). */
void milter_msg_parse(struct milter_msg *m, const char *text, size_t len);
void milter_msg_clear(struct milter_msg *m);
/* The message again, with the modifications applied, onto out. */
void milter_msg_write(const struct milter_msg *m, struct strbuf *out);
/* A modification reply (ADDHEADER, INSHEADER, CHGHEADER) applied to m;
 * leadspc: the value is written after the colon as given (else one
 * space is put before it). -1 if data is malformed. */
int milter_msg_modify(struct milter_msg *m, int cmd, const unsigned char *data,
                      size_t len, int leadspc);

/* The milter_* parameters and the session's facts that macros carry. */
struct milter_conf {
    const char *milters;        /* smtpd_milters */
    const char *default_action; /* accept, reject, tempfail, quarantine */
    long protocol;              /* 2..6 */
    long connect_timeout, command_timeout, content_timeout; /* seconds */
    const char *macros[7]; /* connect helo mail rcpt data eoh eod */
};
/* What the session knows, for the commands and the macros (Postfix's
 * names: j, {daemon_name}, {daemon_addr}, v, _, i, {auth_type},
 * {auth_authen}, {mail_addr}, {rcpt_addr}); NULL: undefined. */
struct milter_info {
    const char *client_name, *client_addr, *helo, *sender;
    int client_port, client_family; /* AF_INET, AF_INET6 */
    const char *myhostname, *daemon_name, *daemon_addr, *version;
    const char *queue_id, *auth_type, *auth_authen;
};
/* A macro's value (name as in milter_*_macros); rcpt: the recipient of
 * the RCPT stage or NULL. NULL if undefined. Caller frees. */
char *milter_macro(const struct milter_info *info, const char *name,
                   const char *rcpt);

/* What the milters decided for an SMTP event, as Postfix's milter8.c
 * reports it to smtpd (its reply strings "D", "H", "S", "4xx", "5xx"). */
enum milter_verdict {
    MILTER_V_CONTINUE, /* go on (also ACCEPT, and SMFIR_CONTINUE at EOM) */
    MILTER_V_REJECT,   /* reply holds the 5xx text */
    MILTER_V_TEMPFAIL, /* reply holds the 4xx text */
    MILTER_V_DISCARD,  /* the message is accepted and thrown away */
    MILTER_V_HOLD,     /* quarantine: accepted (the relay has no hold queue) */
    MILTER_V_SHUTDOWN, /* reply is 421: the session ends */
};
struct milter_result {
    enum milter_verdict verdict;
    const char *reply;  /* REJECT, TEMPFAIL, SHUTDOWN: the SMTP reply */
    struct strbuf *msg; /* at end of message: the message, modified */
};
/* done(arg, result): the event's outcome, always from the event loop
 * (never inside the call that started it); result is borrowed for the
 * call. warn(arg, text): a "warning:" line to log (Postfix's words). */
typedef void milter_done_fn(void *arg, const struct milter_result *r);
typedef void milter_warn_fn(void *arg, const char *text);

/* One SMTP session's conversation with each milter of conf->milters, as
 * Postfix's smtpd holds it: one connection per milter for the whole
 * session, an event per SMTP command (CONNECT at connect, HELO, MAIL,
 * each RCPT, DATA), the content at the end of the message, ABORT when a
 * transaction ends, QUIT at the end. Asynchronous on base; the milters
 * are asked in order, the first that does not say "continue" decides.
 * conf's strings are borrowed for the session's life. */
struct event_base;
struct milter_session;
struct milter_session *milter_session_new(struct event_base *base,
                                          const struct milter_conf *conf,
                                          milter_done_fn *done,
                                          milter_warn_fn *warn, void *arg);
/* QUIT to the milters that are talking; an event in progress is
 * dropped (done does not run). NULL is a no-op. */
void milter_session_free(struct milter_session *ms);
/* An SMTP event: cmd is MILTER_C_CONNECT, _HELO (arg: the name), _MAIL
 * (arg: the sender), _RCPT (arg: the recipient) or _DATA; info is read
 * during the call only. One event at a time: -1 if one is in progress. */
int milter_event(struct milter_session *ms, int cmd,
                 const struct milter_info *info, const char *arg);
/* The end of the message: HEADER..., EOH, BODY..., BODYEOB, then the
 * header modifications until the final reply; msg (the whole message,
 * CRLF lines) is copied. -1 if an event is in progress. */
int milter_message(struct milter_session *ms, const struct milter_info *info,
                   const char *msg, size_t len);
/* The transaction ended (RSET, a new EHLO, a refused MAIL, after the
 * message): SMFIC_ABORT to the milters inside one. */
void milter_abort(struct milter_session *ms);

#endif
