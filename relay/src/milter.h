/*
 * milter.h — the Sendmail milter protocol as Postfix speaks it
 * (MILTER_README, libmilter's wire format): the packet codec, the
 * message's header list with the end-of-message modifications, and a
 * client that runs one message's whole conversation with each milter of
 * smtpd_milters at the end of DATA.
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
    const struct strlist *rcpts;
    const char *myhostname, *daemon_name, *daemon_addr, *version;
    const char *queue_id, *auth_type, *auth_authen;
};
/* A macro's value (name as in milter_*_macros); rcpt: the recipient of
 * the RCPT stage or NULL. NULL if undefined. Caller frees. */
char *milter_macro(const struct milter_info *info, const char *name,
                   const char *rcpt);
/* What the milters decided for a message. */
enum milter_verdict {
    MILTER_V_ACCEPT,   /* msg (possibly modified) is to be queued */
    MILTER_V_REJECT,   /* reply holds the 5xx text */
    MILTER_V_TEMPFAIL, /* reply holds the 4xx text */
    MILTER_V_DISCARD,  /* accepted and thrown away */
};
/* Run each milter of conf->milters over the message in msg (replaced by
 * the modified one). reply: the SMTP reply for REJECT and TEMPFAIL;
 * warn: a log text when a milter failed (empty if none). */
enum milter_verdict milter_run(const struct milter_conf *conf,
                               const struct milter_info *info,
                               struct strbuf *msg, char *reply, size_t rlen,
                               char *warn, size_t wlen);

#endif
