/*
 * smtpd.c — the relay's SMTP server (Postfix smtpd(8) and the part of
 * cleanup(8) that users see): RFC 5321 commands with Postfix's replies and
 * enhanced status codes (RFC 3463), restrictions at RCPT time, virtual
 * alias expansion and a Received header at the end of DATA, then a durable
 * queue commit before "250 2.0.0 Ok: queued as ID". Every refusal is
 * logged as Postfix's "NOQUEUE: reject: ..." line. STARTTLS (RFC 3207)
 * as Postfix 3.7 does it: plain text pipelined after the command is
 * thrown away (the CVE-2011-0411 command injection), the session starts
 * over (EHLO again) and, with smtpd_tls_security_level = encrypt, only
 * HELO, EHLO, STARTTLS, NOOP and QUIT are served before it.
 * ESMTP extensions as Postfix 3.7 offers them: SIZE (RFC 1870), ETRN
 * (RFC 1985, through the fast flush domains), 8BITMIME (RFC 6152),
 * SMTPUTF8 (RFC 6531), DSN (RFC 3461: RET, ENVID, NOTIFY, ORCPT, kept in
 * the queue file) and CHUNKING (RFC 3030 BDAT, read by byte count, never
 * more than message_size_limit in memory); smtpd_discard_ehlo_keywords
 * (and its per-client address maps) hides them.
 * Ownership: sessions live on r->sessions; smtpd_session_free() is the one
 * teardown path.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "anvil.h"
#include "filter.h"
#include "master.h"
#include "milter.h"
#include "mxlab/clock.h"
#include "mxlab/dns.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/tlsutil.h"
#include "mxlab/xmem.h"
#include "mynetworks.h"
#include "params.h"
#include "policy.h"
#include "policy_client.h"
#include "qmgr.h"
#include "queue.h"
#include "relay.h"
#include "resolve.h"
#include "rewrite.h"
#include "sasl.h"
#include "smtpd.h"
#include "smtpd_line.h"
#include "table.h"
#include "tls.h"

#define SMTPD_LINE_LIMIT 2048 /* Postfix line_length_limit */
/* Back-pressure, as a Postfix smtpd that blocks in write() or waits for
 * a lookup stops reading: at most SMTPD_IN_MAX bytes of input are read
 * ahead of the command being served, and no command is served while
 * more than SMTPD_OUT_MAX bytes of replies wait to be sent (reading
 * resumes once they are down to SMTPD_OUT_LOW). */
#define SMTPD_IN_MAX (64 * 1024)
#define SMTPD_OUT_MAX (64 * 1024)
#define SMTPD_OUT_LOW (16 * 1024)

/* In the order of Postfix's command table: the "disconnect from" line
 * counts them in this order. */
enum smtpd_cmd {
    CMD_HELO,
    CMD_EHLO,
    CMD_STARTTLS,
    CMD_AUTH,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_BDAT,
    CMD_RSET,
    CMD_NOOP,
    CMD_VRFY,
    CMD_ETRN,
    CMD_QUIT,
    CMD_UNKNOWN,
    CMD_COUNT
};

static const char *smtpd_cmd_names[CMD_COUNT] = {
    "helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data",
    "bdat", "rset", "noop",     "vrfy", "etrn", "quit", "unknown"};

/* smtpd_discard_ehlo_keywords: Postfix's ehlo_mask() names, in the order
 * in which "discarding EHLO keywords:" lists them (SMTPUTF8 under its
 * first name in Postfix's table). */
enum {
    EHLO_MASK_8BITMIME = 1 << 0,
    EHLO_MASK_AUTH = 1 << 1,
    EHLO_MASK_ETRN = 1 << 2,
    EHLO_MASK_PIPELINING = 1 << 3,
    EHLO_MASK_SIZE = 1 << 4,
    EHLO_MASK_VERP = 1 << 5,
    EHLO_MASK_VRFY = 1 << 6,
    EHLO_MASK_XCLIENT = 1 << 7,
    EHLO_MASK_XFORWARD = 1 << 8,
    EHLO_MASK_STARTTLS = 1 << 9,
    EHLO_MASK_ENHANCEDSTATUSCODES = 1 << 10,
    EHLO_MASK_DSN = 1 << 11,
    EHLO_MASK_SMTPUTF8 = 1 << 12,
    EHLO_MASK_CHUNKING = 1 << 13,
    EHLO_MASK_SILENT = 1 << 14,
};

static const struct {
    const char *name;
    int mask;
} smtpd_ehlo_names[] = {
    {"8BITMIME", EHLO_MASK_8BITMIME},
    {"AUTH", EHLO_MASK_AUTH},
    {"ETRN", EHLO_MASK_ETRN},
    {"PIPELINING", EHLO_MASK_PIPELINING},
    {"SIZE", EHLO_MASK_SIZE},
    {"VERP", EHLO_MASK_VERP},
    {"VRFY", EHLO_MASK_VRFY},
    {"XCLIENT", EHLO_MASK_XCLIENT},
    {"XFORWARD", EHLO_MASK_XFORWARD},
    {"STARTTLS", EHLO_MASK_STARTTLS},
    {"ENHANCEDSTATUSCODES", EHLO_MASK_ENHANCEDSTATUSCODES},
    {"DSN", EHLO_MASK_DSN},
    {"EHLO_MASK_SMTPUTF8", EHLO_MASK_SMTPUTF8},
    {"SMTPUTF8", EHLO_MASK_SMTPUTF8},
    {"CHUNKING", EHLO_MASK_CHUNKING},
    {"SILENT-DISCARD", EHLO_MASK_SILENT},
};

/* BDAT (RFC 3030) state of a transaction, as Postfix's bdat_state. */
enum { BDAT_NONE, BDAT_OK, BDAT_ERROR };

struct smtpd_session {
    struct relay *r;
    struct relay_service *svc;    /* its master.cf service (held) */
    const struct relay_params *p; /* &svc->p: main.cf with its -o */
    struct bufferevent *bev;
    struct netaddr peer;
    char ip[64];
    char name[256];
    char *helo;
    int esmtp;
    int in_data;
    int quitting;
    struct policy_check *pending; /* RCPT waiting for DNS lists */
    struct smtpd_lookup *lookup;  /* the client's name, before greeting */
    char *pending_rcpt;
    int rcpt_starting;
    int committing; /* the message waits for its group commit */
    int discarding; /* the rest of an overlong command line */
    /* SMTP smuggling: smtpd_forbid_bare_newline's bits for this client
     * (0 if excluded); in the message, a bare LF seen under "reject",
     * the last line's bare LF, a line that goes on in the next piece. */
    int bare_lf_mask;
    int bare_lf_seen;
    int prev_bare_lf;
    int data_cont;
    int ill_pipelining; /* "improper command pipelining" was logged */
    SSL *ssl;           /* under TLS (owned by bev), else NULL */
    int tls_starting;   /* the TLS handshake is under way */
    int wrapper;        /* smtps: TLS before the greeting */
    /* The transaction's queue ID, given at its first accepted RCPT as
     * Postfix's cleanup does ("" before): later refusals name it. */
    char qid[16];
    char commit_id[16]; /* its queue ID and Message-ID, for the log */
    char *commit_msgid;
    int sent_ahead;       /* more input was waiting behind this command */
    char *sender;         /* NULL: no transaction */
    struct strlist rcpts; /* accepted, as given */
    struct strbuf data;
    int data_too_big;
    int count_ok[CMD_COUNT];
    int count_all[CMD_COUNT];
    /* Postfix's error count: failed commands (and junk commands past
     * smtpd_junk_command_limit) since the last message was queued. */
    int errors_base; /* failed commands counted before that message */
    int junk;        /* NOOP, VRFY, ETRN, RSET since then */
    int junk_errors;
    struct event *err_sleep; /* smtpd_error_sleep_time before a reply */
    int slept;               /* the next command has had its wait */
    const char *last_cmd;    /* the last command's name, NULL: none yet */
    int message_in;          /* the last DATA's message is in */
    /* smtpd_discard_ehlo_keywords, looked up at first use (the
     * zeroed session's fields below all start empty). */
    int ehlo_mask;
    int ehlo_mask_known;
    /* RFC 3461: the transaction's RET and ENVID, each accepted RCPT's
     * NOTIFY bits and ORCPT ("" if none), and the pending RCPT's. */
    int dsn_ret;
    char *dsn_envid;
    int *rcpt_notify;
    struct strlist rcpt_orcpts;
    int pending_notify;
    char *pending_orcpt;
    /* RFC 3030 BDAT: the chunk being read (bdat_left bytes to go; with
     * bdat_reply set they are thrown away and that is the answer), the
     * message size as Postfix counts it (each line + 2), and the line
     * that the next chunk continues. */
    int bdat_state;
    int bdat_reading;
    int bdat_last;
    long long bdat_left, bdat_left_total;
    char *bdat_reply;
    long act_size;
    struct strbuf bdat_line;
    int commit_bdat; /* "Ok: N bytes queued as" (BDAT LAST) */
    long commit_bdat_size;
    /* Limits: counted by anvil (not an exception), the 452s past
     * smtpd_recipient_limit, replies not read by the client, and with
     * smtpd_per_request_deadline the timer of the record being read
     * (bdat_record: bytes of a BDAT chunk read since it started). */
    int anvil_counted;
    long rcpt_overshoot;
    int out_paused;
    struct event *deadline;
    int deadline_armed;
    long bdat_record;
    /* SASL (RFC 4954, sasl.c): the auth server connection (NULL: not
     * enabled), the mechanisms it offers, who logged in, MAIL's AUTH=,
     * and the exchange in progress. */
    struct sasl_client *sasl;
    char *sasl_mechs;
    char *sasl_username, *sasl_method, *sasl_sender;
    char *auth_mech;
    int auth_challenged; /* a 334 was sent: the next line answers it */
    int auth_starting;   /* inside smtpd_auth(): no smtpd_process() */
    int greeted;         /* the 220 was sent */
    /* check_policy_service: the transaction's instance attribute, and
     * the headers PREPEND actions asked for. */
    char instance[64];
    struct strlist prepend;
    /* smtpd_milters (milter.c): the session's milters (NULL: none), the
     * command that waits for their reply (SMTPD_MILTER_*, 0: none) with
     * its argument, and their answer at CONNECT (the greeting's). */
    struct milter_session *milters;
    int milter_wait;
    char *milter_arg;
    enum milter_verdict milter_greeting;
    struct smtpd_session *next;
};

/* What waits for the milters (smtpd_milter_ask()). */
enum {
    SMTPD_MILTER_CONNECT = 1,
    SMTPD_MILTER_HELO,
    SMTPD_MILTER_EHLO,
    SMTPD_MILTER_MAIL,
    SMTPD_MILTER_RCPT,
    SMTPD_MILTER_DATA,
    SMTPD_MILTER_BDAT,
    SMTPD_MILTER_EOM,
};
static int smtpd_milter_ask(struct smtpd_session *s, int what, const char *arg);

static void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void smtpd_bev_limits(struct smtpd_session *s, struct bufferevent *bev);

static void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
    struct evbuffer *out = bufferevent_get_output(s->bev);
    va_list ap;

    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add(out, "\r\n", 2);
}

static void smtpd_reset(struct smtpd_session *s)
{
    if (s->sender != NULL)
        milter_abort(s->milters); /* Postfix's mail_reset() */
    s->qid[0] = '\0';
    free(s->sender);
    s->sender = NULL;
    strlist_clear(&s->rcpts);
    strbuf_reset(&s->data);
    s->data_too_big = 0;
    s->in_data = 0;
    s->bare_lf_seen = 0;
    s->prev_bare_lf = 0;
    s->data_cont = 0;
    s->dsn_ret = DSN_RET_NONE;
    free(s->dsn_envid);
    s->dsn_envid = NULL;
    free(s->rcpt_notify);
    s->rcpt_notify = NULL;
    strlist_clear(&s->rcpt_orcpts);
    s->bdat_state = BDAT_NONE;
    s->act_size = 0;
    strbuf_clear(&s->bdat_line);
    s->rcpt_overshoot = 0;
    free(s->sasl_sender);
    s->sasl_sender = NULL;
    s->instance[0] = '\0';
    strlist_clear(&s->prepend);
}

/* The client's name, as Postfix's smtpd finds it before the greeting:
 * the PTR record of its address, kept only if that name resolves back to
 * the address; "unknown" otherwise. It outlives a session that ends
 * meanwhile (s NULL), until DNS answers. */
struct smtpd_lookup {
    struct relay *r;
    struct smtpd_session *s;
    char ptr[256];
    struct smtpd_lookup *next;
};

/* Where the session is, as Postfix's smtpd names it in "lost connection
 * after ...", "timeout after ..." and "too many errors after ...": the
 * last command in capitals ("CONNECT" before any), "DATA (N bytes)"
 * while a message comes, "END-OF-MESSAGE" once it is in. */
static void smtpd_where(const struct smtpd_session *s, char *buf, size_t len)
{
    const char *c = s->last_cmd ? s->last_cmd : "connect";
    size_t i;

    if (s->in_data) {
        snprintf(buf, len, "DATA (%ld bytes)", s->act_size);
        return;
    }
    if (s->message_in) {
        snprintf(buf, len, "END-OF-MESSAGE");
        return;
    }
    for (i = 0; c[i] != '\0' && i + 1 < len; i++)
        buf[i] = c[i] >= 'a' && c[i] <= 'z' ? (char)(c[i] - 'a' + 'A') : c[i];
    buf[i] = '\0';
}

static void smtpd_sasl_end(struct smtpd_session *s);

static void smtpd_session_free(struct smtpd_session *s)
{
    struct relay *r = s->r;
    struct strbuf counts;

    strbuf_init(&counts);
    int total_ok = 0, total = 0;
    for (int i = 0; i < CMD_COUNT; i++) {
        if (s->count_all[i] == 0)
            continue;
        total_ok += s->count_ok[i];
        total += s->count_all[i];
        if (s->count_ok[i] == s->count_all[i])
            strbuf_printf(&counts, " %s=%d", smtpd_cmd_names[i],
                          s->count_all[i]);
        else
            strbuf_printf(&counts, " %s=%d/%d", smtpd_cmd_names[i],
                          s->count_ok[i], s->count_all[i]);
    }
    /* Postfix writes "commands=0/0" for a session without any. */
    if (total_ok == total && total > 0)
        strbuf_printf(&counts, " commands=%d", total);
    else
        strbuf_printf(&counts, " commands=%d/%d", total_ok, total);
    maillog_printf(r->log, "smtpd", "disconnect from %s[%s]%s", s->name, s->ip,
                   counts.buf ? counts.buf : "");
    strbuf_clear(&counts);
    policy_check_cancel(s->pending);
    milter_session_free(s->milters);
    s->milters = NULL;
    free(s->milter_arg);
    if (s->lookup != NULL)
        s->lookup->s = NULL; /* DNS answers later, to nobody */
    if (s->err_sleep != NULL)
        event_free(s->err_sleep);
    if (s->deadline != NULL)
        event_free(s->deadline);
    if (s->anvil_counted)
        anvil_disconnect(r->anvil, s->svc->name, s->ip,
                         r->p.anvil_rate_time_unit);
    master_session_end(r, s->svc);
    queue_commit_cancel(r, s);
    free(s->commit_msgid);
    free(s->pending_rcpt);
    free(s->pending_orcpt);
    free(s->bdat_reply);
    for (struct smtpd_session **pp = &r->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    bufferevent_free(s->bev);
    smtpd_reset(s);
    strbuf_clear(&s->data);
    free(s->helo);
    smtpd_sasl_end(s);
    relay_service_release(s->svc);
    free(s);
}

void smtpd_free_all(struct relay *r)
{
    while (r->sessions != NULL)
        smtpd_session_free(r->sessions);
}

/* "ID: ACTION: CMD from NAME[IP]: REPLY; from=<> to=<> proto= helo=<>",
 * as Postfix's smtpd logs a refusal (its smtpd_whatsup()). */
static void smtpd_log_action(struct smtpd_session *s, const char *action,
                             const char *cmd, const char *reply,
                             const char *rcpt)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_printf(&sb, "%s: %s: %s from %s[%s]: %s;",
                  s->qid[0] ? s->qid : "NOQUEUE", action, cmd, s->name, s->ip,
                  reply);
    if (s->sender != NULL)
        strbuf_printf(&sb, " from=<%s>", s->sender);
    if (rcpt != NULL)
        strbuf_printf(&sb, " to=<%s>", rcpt);
    strbuf_printf(&sb, " proto=%s", s->esmtp ? "ESMTP" : "SMTP");
    if (s->helo != NULL)
        strbuf_printf(&sb, " helo=<%s>", s->helo);
    maillog_printf(s->r->log, "smtpd", "%s", sb.buf);
    strbuf_clear(&sb);
}

static void smtpd_noqueue_reject(struct smtpd_session *s, const char *cmd,
                                 const char *reply, const char *rcpt)
{
    smtpd_log_action(s, "reject", cmd, reply, rcpt);
}

static int smtpd_rcpt_maps(struct smtpd_session *s, const char *addr,
                           const char *shown, char *reply, size_t len);

/* extract_addr(): the address in internal form (out), and 0, or -1 when
 * trivial-rewrite finds its syntax bad (a domain that is no host name,
 * "user@", a bare IP address), logged as Postfix logs it. */
static int smtpd_check_addr(struct smtpd_session *s, const char *cmd,
                            const char *addr, char *out, size_t len)
{
    struct resolve_result res;

    if (resolve_internalize(addr, out, len) < 0)
        return -1;
    if (*out == '\0')
        return 0;
    rewrite_resolve_addr(s->r, out, &res);
    if ((res.flags & RESOLVE_FLAG_ERROR) == 0)
        return 0;
    maillog_printf(s->r->log, "smtpd",
                   "warning: Illegal address syntax from %s[%s] in %s "
                   "command: <%s>",
                   s->name, s->ip, cmd, addr);
    return -1;
}

/* anvil's limits apply to this client: not in
 * smtpd_client_event_limit_exceptions ($mynetworks by default). */
static int smtpd_anvil_applies(const struct smtpd_session *s)
{
    for (size_t i = 0; i < s->p->nevent_limit_exceptions; i++)
        if (cidr_match(&s->p->event_limit_exceptions[i], &s->peer))
            return 0;
    return 1;
}

/* Before the greeting, as Postfix's smtpd_proto(): the connection is
 * counted, and past smtpd_client_connection_count_limit or
 * smtpd_client_connection_rate_limit the client gets 421 instead of the
 * greeting. 1 if the session ends. */
static int smtpd_anvil_connect(struct smtpd_session *s)
{
    const struct relay_params *p = s->p;
    int count, rate;

    if (!smtpd_anvil_applies(s))
        return 0;
    anvil_connect(s->r->anvil, s->svc->name, s->ip,
                  s->r->p.anvil_rate_time_unit, &count, &rate);
    s->anvil_counted = 1;
    if (p->smtpd_client_connection_count_limit > 0 &&
        count > p->smtpd_client_connection_count_limit)
        maillog_printf(s->r->log, "smtpd",
                       "warning: Connection concurrency limit exceeded: %d "
                       "from %s[%s] for service %s",
                       count, s->name, s->ip, s->svc->name);
    else if (p->smtpd_client_connection_rate_limit > 0 &&
             rate > p->smtpd_client_connection_rate_limit)
        maillog_printf(s->r->log, "smtpd",
                       "warning: Connection rate limit exceeded: %d from "
                       "%s[%s] for service %s",
                       rate, s->name, s->ip, s->svc->name);
    else
        return 0;
    smtpd_reply(s, "421 4.7.0 %s Error: too many connections from %s",
                p->myhostname, s->ip);
    s->quitting = 1;
    return 1;
}

/* smtpd_client_message_rate_limit (MAIL) and
 * smtpd_client_recipient_rate_limit (RCPT): the command is counted, and
 * past the limit refused with Postfix's 450. 1 if refused. */
static int smtpd_anvil_event(struct smtpd_session *s, int rcpt)
{
    long limit = rcpt ? s->p->smtpd_client_recipient_rate_limit
                      : s->p->smtpd_client_message_rate_limit;
    int rate;

    if (limit <= 0 || !s->anvil_counted)
        return 0;
    rate = (rcpt ? anvil_rcpt : anvil_mail)(s->r->anvil, s->svc->name, s->ip,
                                            s->r->p.anvil_rate_time_unit);
    if (rate <= limit)
        return 0;
    maillog_printf(s->r->log, "smtpd",
                   "warning: %s rate limit exceeded: %d from %s[%s] for "
                   "service %s",
                   rcpt ? "Recipient address" : "Message delivery request",
                   rate, s->name, s->ip, s->svc->name);
    if (rcpt)
        smtpd_reply(s, "450 4.7.1 Error: too many recipients from %s", s->ip);
    else
        smtpd_reply(s, "450 4.7.1 Error: too much mail from %s", s->ip);
    return 1;
}

/* smtpd_reject_unlisted_recipient: an address in a virtual alias domain
 * must have a mapping; one not aliased away must be known to its class's
 * recipient table (local_recipient_maps, virtual_mailbox_maps,
 * relay_recipient_maps). -1 with the refusal (naming shown, the address
 * as the client gave it). */
static int smtpd_rcpt_unlisted(struct smtpd_session *s, const char *addr,
                               const char *shown, char *reply, size_t len)
{
    struct relay *r = s->r;
    struct strlist probe;
    struct resolve_result res;
    int rc = 0;

    /* receive_override_options = no_unknown_recipient_checks: the
     * filter's re-injection takes what the first smtpd accepted. */
    if (s->p->receive_override & FILTER_NO_UNKNOWN_RECIPIENT_CHECKS)
        return 0;

    /* The tables are asked about the address as resolved: "user@here."
     * is user@here (check_rcpt_maps()). */
    rewrite_resolve_addr(r, addr, &res);
    addr = res.addr;
    strlist_init(&probe);
    int vrc = rewrite_virtual(r, addr, &probe);
    if (vrc == 1) {
        snprintf(reply, len,
                 "550 5.1.1 <%s>: Recipient address rejected: User unknown "
                 "in virtual alias table",
                 shown);
        rc = -1;
    } else if (vrc == 0 && probe.n == 1 && str_casecmp(probe.v[0], addr) == 0) {
        rc = smtpd_rcpt_maps(s, addr, shown, reply, len);
    }
    strlist_clear(&probe);
    return rc;
}

/* VRFY (disable_vrfy_command = no, Postfix's default): an address the
 * recipient tables refuse gets the RCPT refusal; any other gets
 * "252 2.0.0 ARG" (neither confirmed nor denied, RFC 5321 section 3.5.3). */
static int smtpd_vrfy(struct smtpd_session *s, const char *arg)
{
    struct relay *r = s->r;
    char addr[SMTP_PATH_MAX], reply[1200];
    int rc;

    if (s->p->disable_vrfy_command) {
        smtpd_reply(s, "502 5.5.1 VRFY command is disabled");
        return 0;
    }
    if (*arg == '\0') {
        smtpd_reply(s, "501 5.5.4 Syntax: VRFY address [SMTPUTF8]");
        return 0;
    }
    if (smtp_parse_path(arg, 0, addr, sizeof(addr), NULL) != SMTP_PATH_OK ||
        addr[0] == '\0') {
        smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
        return 0;
    }
    /* A bare name is qualified with $myorigin, as trivial-rewrite does. */
    char *full = strchr(addr, '@') ? xstrdup(addr)
                                   : xasprintf("%s@%s", addr, r->p.myorigin);
    rc = smtpd_rcpt_unlisted(s, full, addr, reply, sizeof(reply));
    free(full);
    if (rc < 0) {
        smtpd_noqueue_reject(s, "VRFY", reply, addr);
        smtpd_reply(s, "%s", reply);
        return 0;
    }
    smtpd_reply(s, "252 2.0.0 %s", arg);
    return 1;
}

/* The service's smtpd_tls_security_level (master.cf -o included). */
static int smtpd_tls_level(const struct smtpd_session *s)
{
    return s->r->tls != NULL ? s->p->smtpd_tls_level : RELAY_TLS_NONE;
}

/* Postfix's ehlo_mask(): the names in text (commas or spaces between,
 * any case); unknown ones are ignored. */
static int smtpd_ehlo_mask_parse(const char *text)
{
    int mask = 0;

    while (*text != '\0') {
        size_t n = strcspn(text, ", \t\r\n");
        for (size_t i = 0; n > 0 && i < sizeof(smtpd_ehlo_names) /
                                            sizeof(smtpd_ehlo_names[0]);
             i++)
            if (strlen(smtpd_ehlo_names[i].name) == n &&
                str_ncasecmp(text, smtpd_ehlo_names[i].name, n) == 0)
                mask |= smtpd_ehlo_names[i].mask;
        text += n;
        text += strspn(text, ", \t\r\n");
    }
    return mask;
}

/* What EHLO hides from this client: its address looked up in
 * smtpd_discard_ehlo_keyword_address_maps, else
 * smtpd_discard_ehlo_keywords (decided once per session, as Postfix
 * does at connect time). */
static int smtpd_ehlo_mask(struct smtpd_session *s)
{
    const char *words = NULL;
    const struct strlist *maps = &s->p->smtpd_discard_ehlo_keyword_address_maps;

    if (s->ehlo_mask_known)
        return s->ehlo_mask;
    for (size_t i = 0; i < maps->n && words == NULL; i++) {
        struct map *m = table_get(s->r, maps->v[i]);
        if (m != NULL)
            words = map_lookup(m, s->ip);
    }
    if (words == NULL)
        words = s->p->smtpd_discard_ehlo_keywords;
    s->ehlo_mask = smtpd_ehlo_mask_parse(words);
    s->ehlo_mask_known = 1;
    return s->ehlo_mask;
}

/* "discarding EHLO keywords: ..." as Postfix's str_ehlo_mask() names
 * them: each bit once, under its first name in the table. */
static void smtpd_ehlo_log_discard(struct smtpd_session *s, int mask)
{
    struct strbuf names;

    strbuf_init(&names);
    for (size_t i = 0;
         i < sizeof(smtpd_ehlo_names) / sizeof(smtpd_ehlo_names[0]); i++)
        if ((mask & smtpd_ehlo_names[i].mask) != 0) {
            strbuf_printf(&names, "%s%s", names.len ? " " : "",
                          smtpd_ehlo_names[i].name);
            mask &= ~smtpd_ehlo_names[i].mask;
        }
    maillog_printf(s->r->log, "smtpd", "discarding EHLO keywords: %s",
                   names.buf);
    strbuf_clear(&names);
}

static int smtpd_sasl_offered(struct smtpd_session *s);
static const char *smtpd_sasl_mail_opt(struct smtpd_session *s,
                                       const char *value, char **kept);

static int smtpd_helo(struct smtpd_session *s, const char *arg, int esmtp)
{
    if (*arg == '\0') {
        smtpd_reply(s, "501 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
        return 0;
    }
    /* RFC 5321 section 4.1.4: EHLO/HELO resets the transaction. */
    smtpd_reset(s);
    free(s->helo);
    s->helo = xstrdup(arg);
    s->esmtp = esmtp;
    if (!esmtp) {
        smtpd_reply(s, "250 %s", s->p->myhostname);
        return 1;
    }
    /* Postfix 3.7's order; each line "250-" but the last. */
    int mask = smtpd_ehlo_mask(s);
    struct strlist kw;
    strlist_init(&kw);
    if ((mask & EHLO_MASK_ENHANCEDSTATUSCODES) == 0 && mask != 0 &&
        (mask & EHLO_MASK_SILENT) == 0)
        smtpd_ehlo_log_discard(s, mask);
    strlist_push(&kw, s->p->myhostname);
    if ((mask & EHLO_MASK_PIPELINING) == 0)
        strlist_push(&kw, "PIPELINING");
    if ((mask & EHLO_MASK_SIZE) == 0) {
        char size[40] = "SIZE";
        if (s->p->message_size_limit > 0)
            snprintf(size, sizeof(size), "SIZE %ld", s->p->message_size_limit);
        strlist_push(&kw, size);
    }
    if ((mask & EHLO_MASK_VRFY) == 0 && !s->p->disable_vrfy_command)
        strlist_push(&kw, "VRFY");
    if ((mask & EHLO_MASK_ETRN) == 0)
        strlist_push(&kw, "ETRN");
    /* RFC 3207 section 4.2: not offered again once TLS is on. */
    if ((mask & EHLO_MASK_STARTTLS) == 0 &&
        smtpd_tls_level(s) != RELAY_TLS_NONE && s->ssl == NULL)
        strlist_push(&kw, "STARTTLS");
    if (smtpd_sasl_offered(s)) {
        char *auth = xasprintf("AUTH %s", s->sasl_mechs);
        strlist_push(&kw, auth);
        free(auth);
        /* broken_sasl_auth_clients: the draft's "AUTH=" form too. */
        if (s->p->sasl.broken_clients) {
            auth = xasprintf("AUTH=%s", s->sasl_mechs);
            strlist_push(&kw, auth);
            free(auth);
        }
    }
    if ((mask & EHLO_MASK_ENHANCEDSTATUSCODES) == 0)
        strlist_push(&kw, "ENHANCEDSTATUSCODES");
    if ((mask & EHLO_MASK_8BITMIME) == 0)
        strlist_push(&kw, "8BITMIME");
    if ((mask & EHLO_MASK_DSN) == 0)
        strlist_push(&kw, "DSN");
    if ((mask & EHLO_MASK_SMTPUTF8) == 0 && s->p->smtputf8_enable)
        strlist_push(&kw, "SMTPUTF8");
    if ((mask & EHLO_MASK_CHUNKING) == 0)
        strlist_push(&kw, "CHUNKING");
    for (size_t i = 0; i < kw.n; i++)
        smtpd_reply(s, "250%c%s", i + 1 < kw.n ? '-' : ' ', kw.v[i]);
    strlist_clear(&kw);
    return 1;
}

/* The next ESMTP parameter of a MAIL or RCPT command into tok (NUL
 * terminated; the commands are at most SMTPD_LINE_LIMIT long); 0 when
 * there is none left. */
static int smtpd_next_param(const char **q, char *tok, size_t len)
{
    const char *p = *q + strspn(*q, " \t");
    size_t n = strcspn(p, " \t");

    if (n == 0)
        return 0;
    snprintf(tok, len, "%.*s", (int)n, p);
    *q = p + n;
    return 1;
}

/* RFC 3461 section 4: xtext ("+" and two hex digits for a byte) into out,
 * as Postfix's xtext_unquote(). -1 if malformed, or (unlike Postfix) if
 * it hides a control character, which the queue file cannot keep. */
static int smtpd_hex(char c)
{
    static const char hex[] = "0123456789abcdef";
    const char *d =
        c != '\0' ? strchr(hex, str_tolower((unsigned char)c)) : NULL;

    return d ? (int)(d - hex) : -1;
}

static int smtpd_xtext_decode(const char *in, struct strbuf *out)
{
    strbuf_reset(out);
    for (const char *p = in; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '+') {
            int hi = smtpd_hex(p[1]), lo = hi < 0 ? -1 : smtpd_hex(p[2]);
            if (lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            p += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        strbuf_putc(out, (char)c);
    }
    return 0;
}

/* RFC 3461 section 4.1 NOTIFY: NEVER alone, or some of SUCCESS, FAILURE
 * and DELAY; 0 if invalid (an unknown word is logged as Postfix's
 * dsn_notify_mask() does). */
static int smtpd_notify_parse(struct smtpd_session *s, const char *value)
{
    static const struct {
        const char *name;
        int bit;
    } words[] = {{"NEVER", DSN_NOTIFY_NEVER},
                 {"SUCCESS", DSN_NOTIFY_SUCCESS},
                 {"FAILURE", DSN_NOTIFY_FAILURE},
                 {"DELAY", DSN_NOTIFY_DELAY}};
    int mask = 0;

    for (const char *p = value + strspn(value, ", \t"); *p != '\0';
         p += strspn(p, ", \t")) {
        size_t n = strcspn(p, ", \t"), i;
        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (strlen(words[i].name) == n &&
                str_ncasecmp(p, words[i].name, n) == 0)
                break;
        if (i == sizeof(words) / sizeof(words[0])) {
            maillog_printf(s->r->log, "smtpd",
                           "warning: unknown DSN NOTIFY command value "
                           "\"%.*s\" in \"%s\"",
                           (int)n, p, value);
            return 0;
        }
        mask |= words[i].bit;
        p += n;
    }
    if ((mask & DSN_NOTIFY_NEVER) && mask != DSN_NOTIFY_NEVER)
        return 0;
    return mask;
}

/* SIZE=N (RFC 1870): -1 if not all digits, -2 if past what a file may
 * hold (Postfix's off_t), else 0 with the size. */
static int smtpd_size_param(const char *v, long long *size)
{
    long long n = 0;

    if (*v == '\0')
        return -1;
    for (; *v != '\0'; v++) {
        if (!str_isdigit((unsigned char)*v))
            return -1;
        if (n > (LLONG_MAX - (*v - '0')) / 10)
            return -2;
        n = n * 10 + (*v - '0');
    }
    *size = n;
    return 0;
}

/* MAIL FROM and its parameters, checked in Postfix 3.7's order: BODY
 * (RFC 6152), SIZE (RFC 1870), SMTPUTF8 (RFC 6531), AUTH (ignored:
 * no SASL here), RET and ENVID (RFC 3461); anything else is "555 5.5.4
 * Unsupported option". A parameter whose EHLO keyword is discarded is
 * refused as Postfix refuses it. */
static int smtpd_mail(struct smtpd_session *s, const char *arg)
{
    char addr[SMTP_PATH_MAX], internal[SMTP_PATH_MAX];
    char tok[SMTPD_LINE_LIMIT + 1];
    const char *params;
    const char *p = str_casestart(arg, "FROM:");
    int mask = smtpd_ehlo_mask(s), ret = DSN_RET_NONE, have_envid = 0;
    int utf8 = s->p->smtputf8_enable && (mask & EHLO_MASK_SMTPUTF8) == 0;
    int dsn_off = (mask & EHLO_MASK_DSN) != 0;
    long long size = 0;
    struct strbuf envid;
    char *auth_sender = NULL;

    if (s->sender != NULL) {
        smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
        return 0;
    }
    if (s->bdat_state != BDAT_NONE) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL after BDAT");
        return 0;
    }
    if (p == NULL) {
        smtpd_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return 0;
    }
    if (smtpd_anvil_event(s, 0))
        return 0;
    if (smtp_parse_path(p, s->p->strict_rfc821_envelopes, addr, sizeof(addr),
                        &params) != SMTP_PATH_OK ||
        smtpd_check_addr(s, "MAIL", addr, internal, sizeof(internal)) < 0) {
        smtpd_reply(s, "501 5.1.7 Bad sender address syntax");
        return 0;
    }
    strbuf_init(&envid);
    const char *err = NULL;
    for (const char *q = params;
         err == NULL && smtpd_next_param(&q, tok, sizeof(tok));) {
        const char *v;
        if (str_casecmp(tok, "BODY=8BITMIME") == 0 ||
            str_casecmp(tok, "BODY=7BIT") == 0 ||
            (utf8 && str_casecmp(tok, "SMTPUTF8") == 0)) {
            continue;
        } else if ((v = str_casestart(tok, "AUTH=")) != NULL) {
            /* AUTH=: without SASL, Postfix accepts and ignores it. */
            if (s->p->sasl.enable)
                err = smtpd_sasl_mail_opt(s, v, &auth_sender);
        } else if ((v = str_casestart(tok, "SIZE=")) != NULL) {
            int rc = smtpd_size_param(v, &size);
            if (rc == -1)
                err = "501 5.5.4 Bad message size syntax";
            else if (rc == -2)
                err = "552 5.3.4 Message size exceeds file system imposed "
                      "limit";
        } else if ((v = str_casestart(tok, "RET=")) != NULL) {
            if (dsn_off)
                err = "501 5.7.1 DSN support is disabled";
            else if (ret != DSN_RET_NONE)
                err = "501 5.5.4 Bad RET parameter syntax";
            else if (str_casecmp(v, "FULL") == 0)
                ret = DSN_RET_FULL;
            else if (str_casecmp(v, "HDRS") == 0)
                ret = DSN_RET_HDRS;
            else
                err = "501 5.5.4 Bad RET parameter syntax";
        } else if ((v = str_casestart(tok, "ENVID=")) != NULL) {
            if (dsn_off)
                err = "501 5.7.1 DSN support is disabled";
            else if (have_envid || smtpd_xtext_decode(v, &envid) < 0)
                err = "501 5.5.4 Bad ENVID parameter syntax";
            have_envid = 1;
        } else {
            smtpd_reply(s, "555 5.5.4 Unsupported option: %s", tok);
            strbuf_clear(&envid);
            free(auth_sender);
            return 0;
        }
    }
    if (err == NULL && s->p->message_size_limit > 0 &&
        size > s->p->message_size_limit) {
        err = "552 5.3.4 Message size exceeds fixed limit";
        /* smtpd_check_size() logs the refusal with the sender. */
        s->sender = addr;
        smtpd_noqueue_reject(s, "MAIL", err, NULL);
        s->sender = NULL;
    }
    if (err != NULL) {
        smtpd_reply(s, "%s", err);
        strbuf_clear(&envid);
        free(auth_sender);
        return 0;
    }
    s->sender = xstrdup(addr);
    s->sasl_sender = auth_sender;
    s->dsn_ret = ret;
    s->dsn_envid = have_envid ? xstrdup(envid.buf ? envid.buf : "") : NULL;
    strbuf_clear(&envid);
    if (smtpd_milter_ask(s, SMTPD_MILTER_MAIL, addr))
        return 0; /* counted once the milters answer */
    smtpd_reply(s, "250 2.1.0 Ok");
    return 1;
}

static void smtpd_process(struct smtpd_session *s);

/* Postfix never refuses the local postmaster, MAILER-DAEMON or
 * $double_bounce_sender for want of a local_recipient_maps entry
 * (RFC 5321 section 4.5.1 wants postmaster reachable); the relay class
 * has no such exception (checked against Postfix 3.7.11). */
static int smtpd_rcpt_exempt(struct smtpd_session *s, const char *addr,
                             const char *at)
{
    const char *names[] = {"postmaster", "mailer-daemon",
                           relay_param(s->r, "double_bounce_sender")};
    size_t n = at ? (size_t)(at - addr) : strlen(addr);

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i] != NULL && names[i][0] != '\0' && strlen(names[i]) == n &&
            str_ncasecmp(addr, names[i], n) == 0)
            return 1;
    return 0;
}

/* Each class's recipient table, and what the refusal calls it. */
static const struct strlist *smtpd_rcpt_table(const struct relay_params *p,
                                              enum rewrite_class cls,
                                              const char **what)
{
    switch (cls) {
    case REWRITE_CLASS_LOCAL:
        *what = "local recipient";
        return &p->local_recipient_maps;
    case REWRITE_CLASS_VIRTUAL:
        *what = "virtual mailbox";
        return &p->virtual_mailbox_maps;
    case REWRITE_CLASS_RELAY:
        *what = "relay recipient";
        return &p->relay_recipient_maps;
    default:
        return NULL;
    }
}

/* smtpd_reject_unlisted_recipient for the local, virtual mailbox and
 * relay classes: the address, the local part (local class only) or
 * "@domain" must be in one of the tables; an empty parameter accepts
 * everyone. -1 with the reply. */
static int smtpd_rcpt_maps(struct smtpd_session *s, const char *addr,
                           const char *shown, char *reply, size_t len)
{
    struct relay *r = s->r;
    enum rewrite_class cls = rewrite_class(r, addr);
    const char *what = "";
    const struct strlist *tables = smtpd_rcpt_table(s->p, cls, &what);
    const char *at = strrchr(addr, '@');
    char *keys[3];
    int nkeys = 0, found = 0;

    if (tables == NULL || tables->n == 0 ||
        (cls == REWRITE_CLASS_LOCAL && smtpd_rcpt_exempt(s, addr, at)))
        return 0;
    keys[nkeys++] = xstrdup(addr);
    if (cls == REWRITE_CLASS_LOCAL)
        keys[nkeys++] =
            at ? xstrndup(addr, (size_t)(at - addr)) : xstrdup(addr);
    if (at != NULL)
        keys[nkeys++] = xstrdup(at);
    for (size_t i = 0; i < tables->n && found == 0; i++) {
        struct map *m = table_get(r, tables->v[i]);
        if (m == NULL) {
            found = -1;
            break;
        }
        for (int k = 0; k < nkeys && !found; k++)
            found = map_lookup(m, keys[k]) != NULL;
    }
    for (int k = 0; k < nkeys; k++)
        free(keys[k]);
    if (found < 0)
        snprintf(reply, len, "451 4.3.0 <%s>: Temporary lookup failure", shown);
    else if (found == 0)
        snprintf(reply, len,
                 "550 5.1.1 <%s>: Recipient address rejected: User unknown "
                 "in %s table",
                 shown, what);
    return found == 1 ? 0 : -1;
}

/* The pending recipient is accepted: 250, and the queue ID at the
 * first one. */
static void smtpd_rcpt_accept(struct smtpd_session *s)
{
    struct relay *r = s->r;
    const char *addr = s->pending_rcpt;

    strlist_push(&s->rcpts, addr);
    s->rcpt_notify =
        xrealloc(s->rcpt_notify, s->rcpts.n * sizeof(*s->rcpt_notify));
    s->rcpt_notify[s->rcpts.n - 1] = s->pending_notify;
    strlist_push(&s->rcpt_orcpts, s->pending_orcpt ? s->pending_orcpt : "");
    smtpd_reply(s, "250 2.1.5 Ok");
    s->count_ok[CMD_RCPT]++;
    if (s->qid[0] == '\0') {
        queue_new_id(r, s->qid, sizeof(s->qid));
        /* Postfix's smtpd_sasl_mail_log() when logged in. */
        maillog_printf(r->log, "smtpd", "%s: client=%s[%s]%s%s%s%s%s%s", s->qid,
                       s->name, s->ip, s->sasl_method ? ", sasl_method=" : "",
                       s->sasl_method ? s->sasl_method : "",
                       s->sasl_username ? ", sasl_username=" : "",
                       s->sasl_username ? s->sasl_username : "",
                       s->sasl_sender ? ", sasl_sender=" : "",
                       s->sasl_sender ? s->sasl_sender : "");
    }
}

/* The RCPT decision is in: reply, count, and go on with the commands
 * that waited (the milters are asked about an accepted recipient). */
static void smtpd_rcpt_done(void *arg, int rc, const char *why)
{
    struct smtpd_session *s = arg;
    const char *addr = s->pending_rcpt;
    char reply[1200];

    s->pending = NULL;
    snprintf(reply, sizeof(reply), "%s", why);
    if (rc >= 0) {
        char shown[SMTP_PATH_MAX];
        if (resolve_internalize(addr, shown, sizeof(shown)) < 0)
            snprintf(shown, sizeof(shown), "%s", addr);
        if (smtpd_rcpt_unlisted(s, addr, shown, reply, sizeof(reply)) < 0)
            rc = -1;
    }
    if (rc < 0) {
        smtpd_noqueue_reject(s, "RCPT", reply, addr);
        smtpd_reply(s, "%s", reply);
    } else if (smtpd_milter_ask(s, SMTPD_MILTER_RCPT, addr)) {
        return; /* smtpd_milter_done() goes on */
    } else {
        smtpd_rcpt_accept(s);
    }
    free(s->pending_rcpt);
    s->pending_rcpt = NULL;
    if (!s->rcpt_starting)
        smtpd_process(s);
}

/* RCPT TO's parameters: NOTIFY and ORCPT (RFC 3461), into
 * s->pending_notify and s->pending_orcpt; -1 once refused as Postfix
 * refuses them. */
static int smtpd_rcpt_params(struct smtpd_session *s, const char *params)
{
    char tok[SMTPD_LINE_LIMIT + 1];
    int dsn_off = (smtpd_ehlo_mask(s) & EHLO_MASK_DSN) != 0;
    const char *err = NULL;
    struct strbuf orcpt;

    s->pending_notify = 0;
    free(s->pending_orcpt);
    s->pending_orcpt = NULL;
    strbuf_init(&orcpt);
    for (const char *q = params;
         err == NULL && smtpd_next_param(&q, tok, sizeof(tok));) {
        const char *v;
        if ((v = str_casestart(tok, "NOTIFY=")) != NULL) {
            if (dsn_off)
                err = "501 5.7.1 DSN support is disabled";
            else if (s->pending_notify != 0 ||
                     (s->pending_notify = smtpd_notify_parse(s, v)) == 0)
                err = "501 5.5.4 Error: Bad NOTIFY parameter syntax";
        } else if ((v = str_casestart(tok, "ORCPT=")) != NULL) {
            /* RFC 3461 section 4.2: addr-type ";" xtext. */
            const char *semi = strchr(v, ';');
            if (dsn_off)
                err = "501 5.7.1 DSN support is disabled";
            else if (s->pending_orcpt != NULL || semi == NULL || semi == v ||
                     smtpd_xtext_decode(semi + 1, &orcpt) < 0)
                err = "501 5.5.4 Error: Bad ORCPT parameter syntax";
            else
                s->pending_orcpt = xasprintf("%.*s;%s", (int)(semi - v), v,
                                             orcpt.buf ? orcpt.buf : "");
        } else {
            smtpd_reply(s, "555 5.5.4 Unsupported option: %s", tok);
            strbuf_clear(&orcpt);
            return -1;
        }
    }
    strbuf_clear(&orcpt);
    if (err != NULL) {
        smtpd_reply(s, "%s", err);
        return -1;
    }
    return 0;
}

/* The address the client connected to (into ip, "" if unknown); its
 * port, or 0. */
static int smtpd_local_addr(struct smtpd_session *s, char *ip, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct netaddr local;

    ip[0] = '\0';
    if (getsockname(bufferevent_getfd(s->bev), (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    netaddr_from_sa(&local, (struct sockaddr *)&ss, sl);
    netaddr_ip(&local, ip, len);
    return netaddr_port(&local);
}

/* 1 if a restriction list of the service asks a policy server. */
static int smtpd_policy_used(const struct relay_params *p)
{
    const struct strlist *lists[] = {
        &p->smtpd_client_restrictions, &p->smtpd_helo_restrictions,
        &p->smtpd_sender_restrictions, &p->smtpd_relay_restrictions,
        &p->smtpd_recipient_restrictions};

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (strlist_contains_case(lists[i], "check_policy_service"))
            return 1;
    return 0;
}

/* The attributes of a policy request at RCPT (SMTPD_POLICY_README). */
static char *smtpd_policy_request(struct smtpd_session *s, const char *rcpt)
{
    static unsigned long serial;
    struct policy_attrs a;
    char lip[64];
    struct strbuf out;

    memset(&a, 0, sizeof(a));
    a.server_port = smtpd_local_addr(s, lip, sizeof(lip));
    /* One instance per message: policyd-spf caches its answer by it. */
    if (s->instance[0] == '\0')
        snprintf(s->instance, sizeof(s->instance), "%lx.%lx.%lx.0",
                 (unsigned long)getpid(), (unsigned long)clock_time(),
                 ++serial);
    a.protocol_state = "RCPT";
    a.protocol_name = s->esmtp ? "ESMTP" : "SMTP";
    a.helo_name = s->helo;
    a.queue_id = s->qid;
    a.sender = s->sender;
    a.recipient = rcpt;
    a.recipient_count = (long)s->rcpts.n;
    a.client_address = s->ip;
    a.client_name = s->name;
    a.reverse_client_name = s->name;
    a.instance = s->instance;
    a.sasl_method = s->sasl_method;
    a.sasl_username = s->sasl_username;
    a.sasl_sender = s->sasl_sender;
    a.server_address = lip;
    if (s->ssl != NULL) {
        a.encryption_protocol = SSL_get_version(s->ssl);
        a.encryption_cipher = SSL_get_cipher_name(s->ssl);
        a.encryption_keysize = SSL_get_cipher_bits(s->ssl, NULL);
    }
    strbuf_init(&out);
    policy_client_request(&out, &a, s->p->policy_service.policy_context);
    return strbuf_detach(&out);
}

static int smtpd_rcpt(struct smtpd_session *s, const char *arg)
{
    struct relay *r = s->r;
    char addr[SMTP_PATH_MAX], internal[SMTP_PATH_MAX];
    const char *params;
    const char *p = str_casestart(arg, "TO:");
    struct policy_ctx ctx;

    if (s->sender == NULL) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return 0;
    }
    if (s->bdat_state != BDAT_NONE) {
        smtpd_reply(s, "503 5.5.1 Error: RCPT after BDAT");
        return 0;
    }
    if (p == NULL) {
        smtpd_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return 0;
    }
    if (smtpd_anvil_event(s, 1))
        return 0;
    if (smtp_parse_path(p, s->p->strict_rfc821_envelopes, addr, sizeof(addr),
                        &params) != SMTP_PATH_OK ||
        smtpd_check_addr(s, "RCPT", addr, internal, sizeof(internal)) < 0 ||
        internal[0] == '\0') {
        smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
        return 0;
    }
    if (smtpd_rcpt_params(s, params) < 0)
        return 0;
    if (s->p->smtpd_recipient_limit > 0 &&
        (long)s->rcpts.n >= s->p->smtpd_recipient_limit) {
        /* The client may go on to DATA with the recipients it has: only
         * past smtpd_recipient_overshoot_limit does each 452 count as an
         * error (and the command as failed), as in Postfix. */
        smtpd_reply(s, "452 4.5.3 Error: too many recipients");
        return s->rcpt_overshoot++ < s->p->smtpd_recipient_overshoot_limit;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.client = &s->peer;
    ctx.client_name = s->name;
    ctx.helo = s->helo ? s->helo : "";
    ctx.sender = s->sender;
    ctx.rcpt = internal; /* the internal form, as Postfix's checks see it */
    ctx.pipelined = s->sent_ahead && !s->esmtp;
    ctx.p = s->p;
    ctx.sasl_method = s->sasl_method;
    ctx.sasl_username = s->sasl_username;
    ctx.sasl_sender = s->sasl_sender;
    ctx.prepend = &s->prepend;
    char *request =
        smtpd_policy_used(s->p) ? smtpd_policy_request(s, addr) : NULL;
    ctx.policy_request = request;
    /* The decision may wait for DNS lists: commands that follow wait in
     * the input buffer (pipelining keeps its order). */
    s->pending_rcpt = xstrdup(addr);
    s->rcpt_starting = 1;
    s->pending = policy_check_rcpt(r, &ctx, smtpd_rcpt_done, s);
    s->rcpt_starting = 0;
    free(request);
    return 0; /* counted by smtpd_rcpt_done() */
}

/* RFC 5322 date as Postfix writes it: "Mon, 23 Nov 2026 07:00:00 +0000". */
/* RFC 5322 section 2.2: a header field name is printable ASCII but ':'. */
static size_t smtpd_header_name_len(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && line[i] > 32 && line[i] < 127 && line[i] != ':')
        i++;
    return (i > 0 && i < len && line[i] == ':') ? i : 0;
}

/* A header line into msg, up to a NUL byte if it has one. */
static void smtpd_header_put(struct strbuf *msg, const char *p, size_t len)
{
    const char *nul = memchr(p, '\0', len);

    strbuf_append(msg, p, nul ? (size_t)(nul - p) : len);
    strbuf_append(msg, "\r\n", 2);
}

/* What cleanup(8) does to the content that users see: the header block
 * ends at the first line that is not a header (an empty line is inserted
 * there when missing); for clients that match local_header_rewrite_clients
 * (Postfix's default: permit_inet_interfaces) missing Message-Id:, Date:
 * and From: headers are appended. Postfix 3.7 adds no "To:
 * undisclosed-recipients:;" (undisclosed_recipients_header is empty).
 * A header line ends at a NUL byte (cleanup keeps headers as C strings;
 * a NUL in the body stays). The Message-ID value (or "<>") goes to msgid
 * for the log. */
static void smtpd_cleanup_content(struct smtpd_session *s, const char *id,
                                  struct strbuf *msg, char *msgid, size_t idlen)
{
    const char *data = s->data.buf ? s->data.buf : "";
    const char *p = data, *end = data + s->data.len, *hdr_end;
    int seen_msgid = 0, seen_date = 0, seen_from = 0, have_header = 0;
    int need_separator = 0;
    char date[80];

    snprintf(msgid, idlen, "<>");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t content = (len > 0 && p[len - 1] == '\r') ? len - 1 : len;
        size_t name;
        if (content == 0)
            break;
        if ((p[0] == ' ' || p[0] == '\t') && have_header) {
            smtpd_header_put(msg, p, content);
            p += len + (nl ? 1 : 0);
            continue;
        }
        name = smtpd_header_name_len(p, content);
        if (name == 0) {
            need_separator = 1;
            break;
        }
        smtpd_header_put(msg, p, content);
        have_header = 1;
        if (name == 10 && str_ncasecmp(p, "message-id", 10) == 0) {
            const char *v = p + 11;
            size_t vl = content - 11;
            while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
            snprintf(msgid, idlen, "%.*s", (int)vl, v);
            seen_msgid = 1;
        } else if (name == 4 && str_ncasecmp(p, "date", 4) == 0) {
            seen_date = 1;
        } else if (name == 4 && str_ncasecmp(p, "from", 4) == 0) {
            seen_from = 1;
        }
        p += len + (nl ? 1 : 0);
    }
    hdr_end = p;
    if (mynetworks_inet_interface(&s->r->p, &s->peer)) {
        time_t now = clock_time();
        struct tm tm;
        localtime_r(&now, &tm);
        if (!seen_msgid) {
            char stamp[32];
            strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
            snprintf(msgid, idlen, "<%s.%s@%s>", stamp, id, s->p->myhostname);
            strbuf_printf(msg, "Message-Id: %s\r\n", msgid);
        }
        if (!seen_date) {
            clock_date(clock_time(), date, sizeof(date));
            strbuf_printf(msg, "Date: %s\r\n", date);
        }
        if (!seen_from)
            strbuf_printf(msg, "From: %s\r\n",
                          s->sender[0] ? s->sender : "MAILER-DAEMON");
    }
    if (need_separator)
        strbuf_puts(msg, "\r\n");
    strbuf_append(msg, hdr_end, (size_t)(end - hdr_end));
}

static void smtpd_process(struct smtpd_session *s);

/* The message is durable (rc 0) or could not be written (-1): answer,
 * then go on with the commands that waited. */
/* Commands that failed in the whole session. */
static int smtpd_failed(const struct smtpd_session *s)
{
    int failed = 0;

    for (int i = 0; i < CMD_COUNT; i++)
        failed += s->count_all[i] - s->count_ok[i];
    return failed;
}

/* The session's errors as Postfix counts them. */
static int smtpd_errors(const struct smtpd_session *s)
{
    return smtpd_failed(s) - s->errors_base + s->junk_errors;
}

/* A message was queued: errors and junk count from zero again. */
static void smtpd_errors_reset(struct smtpd_session *s)
{
    s->errors_base = smtpd_failed(s);
    s->junk = 0;
    s->junk_errors = 0;
}

static void smtpd_committed(void *arg, int rc)
{
    struct smtpd_session *s = arg;
    struct relay *r = s->r;
    const char *id = s->commit_id;

    if (rc < 0) {
        log_warn("queue commit %s", id);
        maillog_printf(r->log, "cleanup", "warning: %s: queue file write error",
                       id);
        /* Nothing was acknowledged: a temporary failure, never a loss. */
        smtpd_reply(s, "451 4.3.0 Error: queue file write error");
    } else {
        maillog_printf(r->log, "cleanup", "%s: message-id=%s", id,
                       s->commit_msgid ? s->commit_msgid : "");
        if (s->commit_bdat)
            smtpd_reply(s, "250 2.0.0 Ok: %ld bytes queued as %s",
                        s->commit_bdat_size, id);
        else
            smtpd_reply(s, "250 2.0.0 Ok: queued as %s", id);
        if (!s->commit_bdat)
            s->count_ok[CMD_DATA]++;
        smtpd_errors_reset(s);
    }
    if (s->committing) {
        s->committing = 0;
        smtpd_process(s);
    }
}

/* smtpd_tls_received_header = yes: the session's TLS parameters, as
 * Postfix writes them (no client certificate is ever asked for). */
static void smtpd_tls_received(struct smtpd_session *s, struct strbuf *msg)
{
    struct strbuf sum, details;

    strbuf_init(&sum);
    strbuf_init(&details);
    tls_describe(s->ssl, &sum, &details);
    strbuf_printf(
        msg, "\t(using %s%s%s)\r\n\t(No client certificate requested)\r\n",
        sum.buf, details.len ? "\r\n\t" : "", details.len ? details.buf : "");
    strbuf_clear(&sum);
    strbuf_clear(&details);
}

/* 1 if the expanded address is already among the message's recipients
 * with the same original recipient and DSN parameters as the client's
 * recipient i (cleanup's duplicate filter). */
static int smtpd_rcpt_duplicate(const struct smtpd_session *s,
                                const struct strlist *addrs,
                                const struct strlist *origs,
                                const struct strlist *orcpts, const int *notify,
                                const char *addr, size_t i)
{
    for (size_t k = 0; k < addrs->n; k++)
        if (str_casecmp(addrs->v[k], addr) == 0 &&
            str_casecmp(origs->v[k], s->rcpts.v[i]) == 0 &&
            strcmp(orcpts->v[k], s->rcpt_orcpts.v[i]) == 0 &&
            notify[k] == s->rcpt_notify[i])
            return 1;
    return 0;
}

/* smtpd_milters (milter.c), as Postfix's smtpd talks to them: each
 * event as its command comes; the command waits for their answer as it
 * waits for a DNS list (smtpd_busy()). */

static int smtpd_sasl_begin(struct smtpd_session *s);
static void smtpd_data_begin(struct smtpd_session *s);
static void smtpd_queue_message(struct smtpd_session *s,
                                const struct strbuf *msg, const char *msgid);

/* What the commands and the macros tell the milters. */
static void smtpd_milter_info(struct smtpd_session *s, struct milter_info *mi,
                              char *local, size_t len)
{
    const struct relay_params *p = s->p;

    smtpd_local_addr(s, local, len);
    memset(mi, 0, sizeof(*mi));
    mi->client_name = s->name;
    mi->client_addr = s->ip;
    mi->helo = s->helo;
    mi->sender = s->sender;
    mi->client_port = netaddr_port(&s->peer);
    mi->client_family = netaddr_family(&s->peer);
    mi->myhostname = p->myhostname;
    mi->daemon_name = p->milter_macro_daemon_name;
    mi->daemon_addr = local;
    mi->version = p->milter_macro_v;
    mi->queue_id = s->qid[0] ? s->qid : NULL;
    mi->auth_type = s->sasl_method;
    mi->auth_authen = s->sasl_username;
}

/* Ask the milters about a command (what: SMTPD_MILTER_*; arg: HELO's
 * name, the sender, the recipient): 1 if the session waits for them. */
static int smtpd_milter_ask(struct smtpd_session *s, int what, const char *arg)
{
    static const int cmds[] = {[SMTPD_MILTER_CONNECT] = MILTER_C_CONNECT,
                               [SMTPD_MILTER_HELO] = MILTER_C_HELO,
                               [SMTPD_MILTER_EHLO] = MILTER_C_HELO,
                               [SMTPD_MILTER_MAIL] = MILTER_C_MAIL,
                               [SMTPD_MILTER_RCPT] = MILTER_C_RCPT,
                               [SMTPD_MILTER_DATA] = MILTER_C_DATA,
                               [SMTPD_MILTER_BDAT] = MILTER_C_DATA};
    struct milter_info mi;
    char local[64];

    if (s->milters == NULL)
        return 0;
    smtpd_milter_info(s, &mi, local, sizeof(local));
    if (milter_event(s->milters, cmds[what], &mi, arg) < 0)
        return 0; /* not reached: one command at a time */
    s->milter_wait = what;
    free(s->milter_arg);
    s->milter_arg = arg ? xstrdup(arg) : NULL;
    return 1;
}

/* Postfix's check_milter_reply() log line for a decision other than
 * "continue" (where: the event, rcpt: the recipient or NULL). */
static void smtpd_milter_log(struct smtpd_session *s, const char *where,
                             const struct milter_result *r, const char *rcpt)
{
    if (r->verdict == MILTER_V_DISCARD)
        smtpd_log_action(s, "milter-discard", where,
                         "milter triggers DISCARD action", rcpt);
    else if (r->verdict == MILTER_V_HOLD)
        smtpd_log_action(s, "milter-hold", where, "milter triggers HOLD action",
                         rcpt);
    else if (r->verdict != MILTER_V_CONTINUE)
        smtpd_log_action(s, "milter-reject", where, r->reply, rcpt);
}

/* The milters' answer to a command: logged; 1 if it refuses the command
 * (its reply sent; a 421 ends the session). DISCARD and HOLD accept it. */
static int smtpd_milter_refused(struct smtpd_session *s, const char *where,
                                const struct milter_result *r, const char *rcpt)
{
    smtpd_milter_log(s, where, r, rcpt);
    if (r->verdict == MILTER_V_CONTINUE || r->verdict == MILTER_V_DISCARD ||
        r->verdict == MILTER_V_HOLD)
        return 0;
    smtpd_reply(s, "%s", r->reply);
    s->quitting |= r->verdict == MILTER_V_SHUTDOWN;
    return 1;
}

/* The greeting: after the milters' refusal at CONNECT Postfix's 554
 * (the session goes on: their refusal answers MAIL) or 421; a 4xx
 * refusal keeps the 220 and answers MAIL (smtpd_proto()). */
static void smtpd_banner(struct smtpd_session *s)
{
    s->greeted = 1;
    if (s->milter_greeting == MILTER_V_REJECT) {
        smtpd_reply(s, "554 %s ESMTP not accepting connections",
                    s->p->myhostname);
        s->junk_errors++;
    } else if (s->milter_greeting == MILTER_V_SHUTDOWN) {
        smtpd_reply(s, "421 %s Service unavailable - try again later",
                    s->p->myhostname);
        s->quitting = 1;
    } else {
        smtpd_reply(s, "220 %s", s->p->smtpd_banner);
    }
}

/* HELO or EHLO after the milters: only a 421 refuses it (Sendmail's
 * way); a refusal is logged with the new name and holds for MAIL. */
static void smtpd_milter_helo(struct smtpd_session *s, int esmtp, char *name,
                              const struct milter_result *r)
{
    char *helo = s->helo;

    s->helo = name;
    smtpd_milter_log(s, esmtp ? "EHLO" : "HELO", r, NULL);
    s->helo = helo;
    if (r->verdict == MILTER_V_SHUTDOWN) {
        smtpd_reply(s, "%s", r->reply);
        s->quitting = 1;
        return;
    }
    if (s->helo != NULL)
        milter_abort(s->milters); /* Postfix's helo_reset() */
    s->count_ok[esmtp ? CMD_EHLO : CMD_HELO] += smtpd_helo(s, name, esmtp);
}

/* The end of the message after the milters, logged as cleanup(8) logs
 * their decision; queued unless they refused or discarded it (HOLD is
 * queued: the relay has no hold queue). */
static void smtpd_milter_eom(struct smtpd_session *s,
                             const struct milter_result *r)
{
    const char *id = s->qid;
    const char *text =
        r->verdict == MILTER_V_DISCARD ? "milter triggers DISCARD action"
        : r->verdict == MILTER_V_HOLD  ? "milter triggers HOLD action"
                                       : (r->reply ? r->reply + 4 : "");

    if (r->verdict != MILTER_V_CONTINUE)
        maillog_printf(s->r->log, "cleanup",
                       "%s: %s: END-OF-MESSAGE from %s[%s]: %s; from=<%s> "
                       "to=<%s> proto=%s helo=<%s>",
                       id,
                       r->verdict == MILTER_V_DISCARD ? "milter-discard"
                       : r->verdict == MILTER_V_HOLD  ? "milter-hold"
                                                      : "milter-reject",
                       s->name, s->ip, text, s->sender, s->rcpts.v[0],
                       s->esmtp ? "ESMTP" : "SMTP", s->helo ? s->helo : "");
    if (r->verdict == MILTER_V_CONTINUE || r->verdict == MILTER_V_HOLD) {
        smtpd_queue_message(s, r->msg, s->commit_msgid);
        return;
    }
    if (r->verdict == MILTER_V_DISCARD)
        smtpd_reply(s, "250 2.0.0 Ok: queued as %s", id);
    else
        smtpd_reply(s, "%s", r->reply);
    s->quitting |= r->verdict == MILTER_V_SHUTDOWN;
    smtpd_reset(s);
}

/* The milters answered the command that waited (milter.c's done). */
static void smtpd_milter_done(void *arg, const struct milter_result *r)
{
    struct smtpd_session *s = arg;
    int what = s->milter_wait;
    char *marg = s->milter_arg;

    s->milter_wait = 0;
    s->milter_arg = NULL;
    switch (what) {
    case SMTPD_MILTER_CONNECT:
        smtpd_milter_log(s, "CONNECT", r, NULL);
        s->milter_greeting = r->verdict;
        if (!smtpd_sasl_begin(s))
            smtpd_banner(s);
        break;
    case SMTPD_MILTER_HELO:
    case SMTPD_MILTER_EHLO:
        smtpd_milter_helo(s, what == SMTPD_MILTER_EHLO, marg, r);
        break;
    case SMTPD_MILTER_MAIL:
        if (smtpd_milter_refused(s, "MAIL", r, NULL)) {
            smtpd_reset(s);
        } else {
            smtpd_reply(s, "250 2.1.0 Ok");
            s->count_ok[CMD_MAIL]++;
        }
        break;
    case SMTPD_MILTER_RCPT:
        if (!smtpd_milter_refused(s, "RCPT", r, s->pending_rcpt))
            smtpd_rcpt_accept(s);
        free(s->pending_rcpt);
        s->pending_rcpt = NULL;
        break;
    case SMTPD_MILTER_DATA:
        if (!smtpd_milter_refused(s, "DATA", r, NULL))
            smtpd_data_begin(s);
        break;
    case SMTPD_MILTER_BDAT:
        /* The chunk is read all the same; the refusal answers it. */
        smtpd_milter_log(s, "BDAT", r, NULL);
        if (r->reply != NULL && s->bdat_reply == NULL)
            s->bdat_reply = xstrdup(r->reply); /* the first refusal */
        break;
    default:
        smtpd_milter_eom(s, r);
        break;
    }
    free(marg);
    smtpd_process(s);
}

static void smtpd_milter_warn(void *arg, const char *text)
{
    struct smtpd_session *s = arg;

    maillog_printf(s->r->log, "smtpd", "warning: %s", text);
}

/* Postfix's setup_milters() and CONNECT event when the client connects:
 * 1 if the greeting waits for the milters. */
static int smtpd_milter_connect(struct smtpd_session *s)
{
    const struct relay_params *p = s->p;
    struct milter_conf mc = {
        p->smtpd_milters,
        p->milter_default_action,
        p->milter_protocol,
        p->milter_connect_timeout,
        p->milter_command_timeout,
        p->milter_content_timeout,
        {p->milter_connect_macros, p->milter_helo_macros, p->milter_mail_macros,
         p->milter_rcpt_macros, p->milter_data_macros,
         p->milter_end_of_header_macros, p->milter_end_of_data_macros}};

    /* receive_override_options = no_milters: none for this service. */
    if (p->smtpd_milters[0] == '\0' ||
        (p->receive_override & FILTER_NO_MILTERS) || s->milters != NULL)
        return 0;
    s->milters = milter_session_new(s->r->base, &mc, smtpd_milter_done,
                                    smtpd_milter_warn, s);
    return smtpd_milter_ask(s, SMTPD_MILTER_CONNECT, NULL);
}

/* cleanup(8): expand the recipients and commit msg (the message as it
 * is queued; msgid for the log), then answer. */
static void smtpd_queue_message(struct smtpd_session *s,
                                const struct strbuf *msg, const char *msgid)
{
    struct relay *r = s->r;
    struct strlist addrs, origs, orcpts;
    char *kept = xstrdup(msgid);
    int *notify;

    strlist_init(&addrs);
    strlist_init(&origs);
    strlist_init(&orcpts);
    notify = NULL;
    for (size_t i = 0; i < s->rcpts.n; i++) {
        struct strlist exp;
        strlist_init(&exp);
        /* receive_override_options = no_address_mappings: cleanup maps
         * no address (the filter's own smtpd does, after it). */
        if ((s->p->receive_override & FILTER_NO_ADDRESS_MAPPINGS) ||
            rewrite_virtual(r, s->rcpts.v[i], &exp) != 0) {
            strlist_clear(&exp);
            strlist_push(&exp, s->rcpts.v[i]);
        }
        for (size_t k = 0; k < exp.n; k++) {
            /* cleanup drops duplicate recipients (duplicate_filter_limit),
             * the same address with the same DSN parameters. */
            if (smtpd_rcpt_duplicate(s, &addrs, &origs, &orcpts, notify,
                                     exp.v[k], i))
                continue;
            notify = xrealloc(notify, (addrs.n + 1) * sizeof(*notify));
            notify[addrs.n] = s->rcpt_notify[i];
            strlist_push(&addrs, exp.v[k]);
            strlist_push(&origs, s->rcpts.v[i]);
            strlist_push(&orcpts, s->rcpt_orcpts.v[i]);
        }
        strlist_clear(&exp);
    }
    snprintf(s->commit_id, sizeof(s->commit_id), "%s", s->qid);
    free(s->commit_msgid);
    s->commit_msgid = kept;
    /* FILTER_README: the content filter goes into the queue file, for
     * qmgr (this service's, "-o content_filter=" for none). */
    struct queue_dsn dsn = {s->dsn_ret, s->dsn_envid, notify, &orcpts,
                            s->p->content_filter};
    s->commit_bdat = s->bdat_state != BDAT_NONE;
    s->commit_bdat_size = s->act_size;
    int rc = queue_commit_async(r, s->commit_id, s->sender, &addrs, &origs,
                                &dsn, msg->buf, msg->len, smtpd_committed, s);
    strlist_clear(&addrs);
    strlist_clear(&origs);
    strlist_clear(&orcpts);
    free(notify);
    smtpd_reset(s);
    if (rc == 0) {
        /* The reply waits for the group's sync; so do later commands. */
        s->committing = 1;
        return;
    }
    smtpd_committed(s, rc < 0 ? -1 : 0);
    if (rc > 0) {
        relay_changed(r);
        qmgr_schedule(r);
    }
}

/* cleanup(8): add the Received header and what cleanup adds, then the
 * milters see the message (the session waits for them) before it is
 * queued. */
static void smtpd_finish_data(struct smtpd_session *s)
{
    struct relay *r = s->r;
    struct strbuf msg;
    char id[16], date[80], msgid[1000];

    if (s->bare_lf_seen) {
        /* smtpd_forbid_bare_newline = reject: refused once the message
         * (or the BDAT chunk) is in, the session goes on (Postfix's
         * delayed reject). */
        int chunk = s->bdat_state != BDAT_NONE && !s->bdat_last;
        smtpd_noqueue_reject(s, chunk ? "BDAT content" : "END-OF-MESSAGE",
                             "bare <LF> received", s->rcpts.v[s->rcpts.n - 1]);
        smtpd_reply(s, "%d 5.5.2 %s Error: bare <LF> received",
                    s->p->smtpd_forbid_bare_newline_reject_code,
                    s->p->myhostname);
        smtpd_reset(s);
        return;
    }
    if (s->data_too_big) {
        smtpd_reply(s, "552 5.3.4 Error: message file too big");
        smtpd_reset(s);
        return;
    }
    /* The ID given at the first accepted RCPT (DATA needs one). */
    if (s->qid[0] == '\0')
        queue_new_id(r, s->qid, sizeof(s->qid));
    snprintf(id, sizeof(id), "%s", s->qid);
    clock_date(clock_time(), date, sizeof(date));
    strbuf_init(&msg);
    /* PREPEND actions' headers come first, in their order. */
    for (size_t i = 0; i < s->prepend.n; i++)
        strbuf_printf(&msg, "%s\r\n", s->prepend.v[i]);
    strbuf_printf(&msg, "Received: from %s (%s [%s])\r\n",
                  s->helo ? s->helo : s->name, s->name, s->ip);
    if (s->ssl != NULL && r->tls->received_header)
        smtpd_tls_received(s, &msg);
    if (s->sasl_username != NULL && s->p->sasl.authenticated_header)
        strbuf_printf(&msg, "\t(Authenticated sender: %s)\r\n",
                      s->sasl_username);
    /* RFC 3848: ESMTPS for ESMTP under TLS, ESMTPA once authenticated,
     * ESMTPSA for both (Postfix keeps "SMTP" for HELO). */
    strbuf_printf(&msg, "\tby %s (Postfix) with %s%s%s id %s", s->p->myhostname,
                  s->esmtp ? "ESMTP" : "SMTP",
                  s->esmtp && s->ssl != NULL ? "S" : "",
                  s->esmtp && s->sasl_username != NULL ? "A" : "", id);
    if (s->rcpts.n == 1)
        strbuf_printf(&msg, "\r\n\tfor <%s>; %s\r\n", s->rcpts.v[0], date);
    else
        strbuf_printf(&msg, ";\r\n\t%s\r\n", date);
    smtpd_cleanup_content(s, id, &msg, msgid, sizeof(msgid));
    if (s->milters != NULL) {
        struct milter_info mi;
        char local[64];
        free(s->commit_msgid);
        s->commit_msgid = xstrdup(msgid);
        smtpd_milter_info(s, &mi, local, sizeof(local));
        if (milter_message(s->milters, &mi, msg.buf, msg.len) == 0)
            s->milter_wait = SMTPD_MILTER_EOM;
    }
    if (s->milter_wait == 0)
        smtpd_queue_message(s, &msg, msgid);
    strbuf_clear(&msg);
}

/* One line of message content (or a line_length_limit piece of one,
 * cont set) into the message, counted as Postfix counts it: its length
 * + 2. Past message_size_limit nothing more is kept (the rest is read
 * and thrown away: memory stays bounded). cleanup_replace_stray_cr_lf
 * turns a CR or LF left in the line into a space. */
static void smtpd_content_put(struct smtpd_session *s, char *line, size_t len,
                              int cont)
{
    long limit = s->p->message_size_limit;

    if (s->data_too_big)
        return;
    if (limit > 0 && limit - s->act_size < (long)len + 2) {
        s->data_too_big = 1;
        maillog_printf(s->r->log, "smtpd",
                       "warning: %s: queue file size limit exceeded",
                       s->qid[0] ? s->qid : "NOQUEUE");
        return;
    }
    s->act_size += (long)len + 2;
    if (s->p->cleanup_replace_stray_cr_lf)
        smtpd_line_mask_stray(line, len);
    strbuf_append(&s->data, line, len);
    if (!cont)
        strbuf_append(&s->data, "\r\n", 2);
}

/* A DATA line. RFC 5321 section 4.1.1.4: only <CRLF>.<CRLF> ends the
 * message; with smtpd_forbid_bare_newline set, a "." line that a bare LF
 * ends or follows is no end (it is dropped, as Postfix drops it), so a
 * second transaction hidden behind "\n.\n" stays message text (SMTP
 * smuggling). */
static void smtpd_data_line(struct smtpd_session *s, char *line,
                            const struct smtpd_line *l)
{
    size_t len = l->len;
    int bare = l->end == SMTPD_LINE_BARE_LF, prev_bare = s->prev_bare_lf;
    int at_start = !s->data_cont;

    s->prev_bare_lf = bare;
    s->data_cont = l->end == SMTPD_LINE_PARTIAL;
    if (bare && (s->bare_lf_mask & SMTPD_BARE_LF_REJECT))
        s->bare_lf_seen = 1;
    if (at_start && len > 0 && line[0] == '.') {
        if (len == 1 && (s->bare_lf_mask & SMTPD_BARE_LF_WANT_STD_EOD) &&
            (bare || prev_bare))
            return;
        if (len == 1) {
            s->in_data = 0;
            s->message_in = 1;
            smtpd_finish_data(s);
            return;
        }
        /* RFC 5321 section 4.5.2: remove the leading dot of a stuffed
         * line. */
        line++;
        len--;
    }
    smtpd_content_put(s, line, len, s->data_cont);
}

static enum smtpd_cmd smtpd_parse_cmd(const char *line, const char **arg)
{
    static const struct {
        const char *verb;
        enum smtpd_cmd cmd;
    } verbs[] = {
        {"HELO", CMD_HELO},         {"EHLO", CMD_EHLO}, {"MAIL", CMD_MAIL},
        {"RCPT", CMD_RCPT},         {"DATA", CMD_DATA}, {"RSET", CMD_RSET},
        {"NOOP", CMD_NOOP},         {"QUIT", CMD_QUIT}, {"VRFY", CMD_VRFY},
        {"STARTTLS", CMD_STARTTLS}, {"ETRN", CMD_ETRN}, {"BDAT", CMD_BDAT},
        {"AUTH", CMD_AUTH}};

    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        const char *p = str_casestart(line, verbs[i].verb);
        if (p != NULL && (*p == '\0' || *p == ' ' || *p == '\t')) {
            while (*p == ' ' || *p == '\t')
                p++;
            *arg = p;
            return verbs[i].cmd;
        }
    }
    *arg = "";
    return CMD_UNKNOWN;
}

/* ETRN (RFC 1985) as Postfix's etrn_cmd(): outside a transaction, one
 * domain ("@" or "#" before it allowed) or address literal; a domain of
 * fast_flush_domains has its deferred mail tried now (postqueue -s),
 * any other is refused with RFC 1985's 459. No enhanced status codes,
 * as in Postfix. */
static int smtpd_etrn(struct smtpd_session *s, const char *arg)
{
    struct strbuf err;

    if (s->sender != NULL) {
        smtpd_reply(s, "503 Error: MAIL transaction in progress");
        return 0;
    }
    if (*arg == '\0' || arg[strcspn(arg, " \t")] != '\0') {
        smtpd_reply(s, "500 Syntax: ETRN domain");
        return 0;
    }
    if (*arg == '@' || *arg == '#')
        arg++;
    if (!smtp_valid_hostname(arg)) {
        smtpd_reply(s, "501 Error: invalid parameter syntax");
        return 0;
    }
    strbuf_init(&err);
    int rc = relay_flush_site(s->r, arg, &err);
    strbuf_clear(&err);
    if (rc != 0) {
        maillog_printf(s->r->log, "smtpd",
                       "warning: reject: ETRN %.100s... from %s[%s]", arg,
                       s->name, s->ip);
        smtpd_reply(s, "459 <%s>: service unavailable", arg);
        return 0;
    }
    smtpd_reply(s, "250 Queuing started");
    return 1;
}

/* Bytes of an accepted chunk: split into lines at LF (a CR before it
 * dropped), a line that goes on in the next chunk kept aside. */
static void smtpd_bdat_bytes(struct smtpd_session *s, const char *p, size_t n)
{
    struct strbuf *lb = &s->bdat_line;

    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (lb->len + take > SMTPD_LINE_LIMIT)
            take = SMTPD_LINE_LIMIT - lb->len;
        strbuf_append(lb, p, take);
        p += take;
        n -= take;
        if (n > 0 && *p == '\n') {
            size_t l = lb->len;
            char empty[1] = "";
            /* As in DATA; no end-of-data to protect in a chunk. */
            if (smtpd_line_strip(lb->buf ? lb->buf : empty, &l,
                                 s->bare_lf_mask) == SMTPD_LINE_BARE_LF &&
                (s->bare_lf_mask & SMTPD_BARE_LF_REJECT))
                s->bare_lf_seen = 1;
            smtpd_content_put(s, lb->buf ? lb->buf : empty, l, 0);
            strbuf_reset(lb);
            p++;
            n--;
        } else if (lb->len == SMTPD_LINE_LIMIT) {
            smtpd_content_put(s, lb->buf, lb->len, 1);
            strbuf_reset(lb);
        }
    }
}

/* The chunk has been read: answer as Postfix's bdat_cmd() does. */
static void smtpd_bdat_end(struct smtpd_session *s)
{
    s->bdat_reading = 0;
    if (s->bdat_reply != NULL) {
        /* skip_bdat(): a refused chunk; LAST ends the transaction, else
         * the chunks that follow are thrown away until LAST or RSET. */
        smtpd_reply(s, "%s", s->bdat_reply);
        free(s->bdat_reply);
        s->bdat_reply = NULL;
        if (s->bdat_last)
            smtpd_reset(s);
        else
            s->bdat_state = BDAT_ERROR;
        return;
    }
    s->count_ok[CMD_BDAT] += !s->data_too_big;
    if (s->bdat_last) {
        if (s->bdat_line.len > 0)
            smtpd_content_put(s, s->bdat_line.buf, s->bdat_line.len, 0);
        smtpd_finish_data(s);
    } else if (s->data_too_big || s->bare_lf_seen) {
        smtpd_finish_data(s); /* the 552 or 550: the transaction is over */
        s->bdat_state = BDAT_ERROR;
    } else {
        smtpd_reply(s, "250 2.0.0 Ok: %lld bytes", s->bdat_left_total);
    }
}

/* Read what is here of the chunk; 1 when it is complete. */
static int smtpd_bdat_feed(struct smtpd_session *s, struct evbuffer *in)
{
    while (s->bdat_left > 0) {
        char buf[16384];
        size_t avail = evbuffer_get_length(in);
        size_t n = avail < sizeof(buf) ? avail : sizeof(buf);
        if ((long long)n > s->bdat_left)
            n = (size_t)s->bdat_left;
        if (n == 0)
            return 0;
        if (s->bdat_reply != NULL) {
            evbuffer_drain(in, n); /* thrown away: no memory held */
        } else {
            evbuffer_remove(in, buf, n);
            smtpd_bdat_bytes(s, buf, n);
        }
        s->bdat_left -= (long long)n;
        /* smtpd_per_request_deadline: a line's worth is a record. */
        if ((s->bdat_record += (long)n) >= SMTPD_LINE_LIMIT) {
            s->bdat_record = 0;
            s->deadline_armed = 0;
        }
    }
    smtpd_bdat_end(s);
    return 1;
}

/* BDAT (RFC 3030) as Postfix 3.7's bdat_cmd(): a malformed command gets
 * 521 and the session ends (what follows would be content); otherwise
 * the chunk is read by its byte count whatever the answer, which comes
 * once it is in. */
static void smtpd_bdat(struct smtpd_session *s, const char *line,
                       const char *arg)
{
    char size[64], extra[16];
    const char *q = arg;
    long long n = 0;
    int last = 0;
    const char *qid = s->qid[0] ? s->qid : "NOQUEUE";

    if (smtpd_ehlo_mask(s) & EHLO_MASK_CHUNKING) {
        smtpd_reply(s, "521 5.5.1 Error: command not implemented");
        s->quitting = 1;
        return;
    }
    int nargs = smtpd_next_param(&q, size, sizeof(size));
    if (nargs > 0 && smtpd_next_param(&q, extra, sizeof(extra))) {
        last = str_casecmp(extra, "LAST") == 0;
        nargs = last && !smtpd_next_param(&q, extra, sizeof(extra)) ? 1 : 0;
    }
    if (nargs == 0 || smtpd_size_param(size, &n) < 0) {
        maillog_printf(s->r->log, "smtpd",
                       "warning: %s: malformed BDAT command syntax from "
                       "%s[%s]: %.100s",
                       qid, s->name, s->ip, line);
        smtpd_reply(s, "521 5.5.4 Syntax: BDAT count [LAST]");
        s->quitting = 1;
        return;
    }
    s->bdat_reading = 1;
    s->bdat_last = last;
    s->bdat_left = s->bdat_left_total = n;
    if (n == 0 && !last) {
        maillog_printf(s->r->log, "smtpd",
                       "warning: %s: null BDAT request from %s[%s]", qid,
                       s->name, s->ip);
        s->bdat_reply = xstrdup("551 5.7.1 Null BDAT request");
    } else if (s->bdat_state == BDAT_ERROR) {
        s->bdat_reply =
            xasprintf("551 5.0.0 Discarded %lld bytes after earlier error", n);
    } else if (s->bdat_state == BDAT_NONE && s->rcpts.n == 0) {
        /* RFC 3030 with pipelining: BDAT may come before the RCPT
         * replies, so this is no protocol error. */
        s->bdat_reply =
            xstrdup(s->sender != NULL ? "554 5.5.1 Error: no valid recipients"
                                      : "503 5.5.1 Error: need RCPT command");
    } else if (s->p->message_size_limit > 0 &&
               s->act_size > s->p->message_size_limit - n) {
        maillog_printf(s->r->log, "smtpd",
                       "warning: %s: BDAT request from %s[%s] exceeds "
                       "message size limit",
                       qid, s->name, s->ip);
        s->bdat_reply = xstrdup("552 5.3.4 Chunk exceeds message size limit");
    } else {
        /* The first chunk is DATA for the milters (Postfix's bdat_cmd()). */
        if (s->bdat_state == BDAT_NONE)
            smtpd_milter_ask(s, SMTPD_MILTER_BDAT, NULL);
        s->bdat_state = BDAT_OK;
    }
}

static void smtpd_on_read(struct bufferevent *bev, void *arg);
static void smtpd_on_write(struct bufferevent *bev, void *arg);
static void smtpd_on_event(struct bufferevent *bev, short what, void *arg);

/* STARTTLS (RFC 3207), checked in Postfix's order. After the 220 the
 * session forgets HELO and the transaction (section 4.2) and reads no
 * more plain text: smtpd_tls_begin() runs once the 220 is written. */
static void smtpd_starttls(struct smtpd_session *s, const char *arg)
{
    struct relay *r = s->r;

    if (*arg != '\0') {
        smtpd_reply(s, "501 5.5.4 Syntax: STARTTLS");
        return;
    }
    if (s->ssl != NULL) {
        smtpd_reply(s, "554 5.5.1 Error: TLS already active");
        return;
    }
    if (smtpd_tls_level(s) == RELAY_TLS_NONE) {
        smtpd_reply(s, "502 5.5.1 Error: command not implemented");
        return;
    }
    if (r->tls->ctx == NULL) {
        smtpd_reply(s, "454 4.7.0 TLS not available due to local problem");
        return;
    }
    smtpd_reply(s, "220 2.0.0 Ready to start TLS");
    s->tls_starting = 1;
    bufferevent_disable(s->bev, EV_READ);
    smtpd_reset(s);
    free(s->helo);
    s->helo = NULL;
}

/* The 220 is written: the socket goes on under TLS. Whatever the client
 * sent after STARTTLS in plain text is thrown away (RFC 3207 section 6,
 * the CVE-2011-0411 command injection); what comes next is the
 * handshake. Counted as done once it succeeds. */
static void smtpd_tls_begin(struct smtpd_session *s)
{
    struct relay *r = s->r;
    struct evbuffer *in = bufferevent_get_input(s->bev);
    evutil_socket_t fd = bufferevent_getfd(s->bev);
    struct bufferevent *tb = NULL;
    SSL *ssl = SSL_new(r->tls->ctx);

    evbuffer_drain(in, evbuffer_get_length(in));
    s->discarding = 0;
    if (ssl != NULL)
        tb = bufferevent_openssl_socket_new(
            r->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (tb == NULL) {
        if (ssl != NULL)
            SSL_free(ssl);
        ERR_clear_error();
        maillog_printf(r->log, "smtpd", "warning: cannot start TLS with %s[%s]",
                       s->name, s->ip);
        smtpd_session_free(s);
        return;
    }
    /* The plain bufferevent lets go of the socket, which tb now owns. */
    bufferevent_setfd(s->bev, -1);
    bufferevent_free(s->bev);
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    bufferevent_setcb(tb, smtpd_on_read, smtpd_on_write, smtpd_on_event, s);
    smtpd_bev_limits(s, tb);
    bufferevent_enable(tb, EV_READ | EV_WRITE);
    s->bev = tb;
    s->ssl = ssl;
}

/* The handshake is done: log it as Postfix does at smtpd_tls_loglevel
 * 1 and up, and serve what the client sent since. */
static void smtpd_tls_established(struct smtpd_session *s)
{
    struct strbuf sum, details;

    s->tls_starting = 0;
    if (!s->wrapper)
        s->count_ok[CMD_STARTTLS]++;
    if (s->r->tls->loglevel >= 1) {
        strbuf_init(&sum);
        strbuf_init(&details);
        tls_describe(s->ssl, &sum, &details);
        maillog_printf(s->r->log, "smtpd",
                       "Anonymous TLS connection established from %s[%s]: "
                       "%s%s",
                       s->name, s->ip, sum.buf, details.len ? details.buf : "");
        strbuf_clear(&sum);
        strbuf_clear(&details);
    }
}

/* The handshake failed, or the client went away during it (an EOF,
 * which OpenSSL 3 reports as "unexpected eof while reading"): logged as
 * Postfix logs it, but for the OpenSSL source file and line, which
 * libevent does not keep. */
static void smtpd_tls_failed(struct smtpd_session *s, short what)
{
    unsigned long errs[8], e;
    size_t n = 0;
    int eof = !(what & BEV_EVENT_ERROR);
    char buf[256];

    while ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
        /* libevent also queues SSL_get_error()'s code, not an error. */
        if (ERR_GET_LIB(e) == 0)
            continue;
        if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            eof = 1;
        else if (n < sizeof(errs) / sizeof(errs[0]))
            errs[n++] = e;
    }
    maillog_printf(s->r->log, "smtpd", "SSL_accept error from %s[%s]: %s",
                   s->name, s->ip, eof ? "lost connection" : "-1");
    for (size_t i = 0; i < n && !eof; i++) {
        ERR_error_string_n(errs[i], buf, sizeof(buf));
        maillog_printf(s->r->log, "smtpd",
                       "warning: TLS library problem: %s:", buf);
    }
    maillog_printf(s->r->log, "smtpd", "lost connection after %s from %s[%s]",
                   s->wrapper ? "CONNECT" : "STARTTLS", s->name, s->ip);
}

/* SASL authentication (RFC 4954) as Postfix 3.7's smtpd does it with
 * smtpd_sasl_type = dovecot: the auth server is asked for its mechanisms
 * before the greeting (and again, with smtpd_sasl_tls_security_options,
 * after STARTTLS); no mechanism is Postfix's "fatal: no SASL
 * authentication mechanisms": the session ends without a greeting. */

static void smtpd_sasl_logout(struct smtpd_session *s)
{
    free(s->sasl_username);
    free(s->sasl_method);
    free(s->auth_mech);
    s->sasl_username = s->sasl_method = s->auth_mech = NULL;
    s->auth_challenged = 0;
}

static void smtpd_sasl_end(struct smtpd_session *s)
{
    sasl_client_free(s->sasl);
    s->sasl = NULL;
    free(s->sasl_mechs);
    s->sasl_mechs = NULL;
    smtpd_sasl_logout(s);
}

static void smtpd_sasl_warn(void *arg, const char *text)
{
    struct smtpd_session *s = arg;

    maillog_printf(s->r->log, "smtpd", "warning: %s", text);
}

static void smtpd_sasl_ready(void *arg, const char *mechs)
{
    struct smtpd_session *s = arg;

    if (mechs == NULL) {
        maillog_printf(s->r->log, "smtpd",
                       "fatal: no SASL authentication mechanisms");
        smtpd_session_free(s);
        return;
    }
    s->sasl_mechs = xstrdup(mechs);
    if (!s->greeted)
        smtpd_banner(s);
    smtpd_process(s);
}

/* Connect to the auth server when smtpd_sasl_auth_enable is set (again
 * after STARTTLS, forgetting a login). 1 if the session waits for it. */
static int smtpd_sasl_begin(struct smtpd_session *s)
{
    char lip[64];

    smtpd_sasl_end(s);
    /* smtpd_tls_auth_only: Postfix 3.7 does not activate SASL before TLS
     * (AUTH is then "not enabled", as if off). */
    if (!s->p->sasl.enable || (s->p->sasl.tls_auth_only && s->ssl == NULL))
        return 0;
    smtpd_local_addr(s, lip, sizeof(lip));
    s->sasl = sasl_client_new(s->r->base, &s->p->sasl, s->ssl != NULL, lip,
                              s->ip, smtpd_sasl_ready, smtpd_sasl_warn, s);
    return 1;
}

/* 1 if EHLO offers AUTH (and AUTH is served): smtpd_tls_auth_only keeps
 * it for TLS sessions. */
static int smtpd_sasl_offered(struct smtpd_session *s)
{
    return s->sasl_mechs != NULL &&
           (smtpd_ehlo_mask(s) & EHLO_MASK_AUTH) == 0 &&
           (!s->p->sasl.tls_auth_only || s->ssl != NULL);
}

static void smtpd_auth_reply(void *arg, enum sasl_status st, const char *text)
{
    struct smtpd_session *s = arg;
    const char *user;

    s->auth_challenged = st == SASL_MORE;
    switch (st) {
    case SASL_MORE:
        smtpd_reply(s, "334 %s", text);
        break;
    case SASL_DONE:
        /* RFC 4954 section 6. */
        smtpd_reply(s, "235 2.7.0 Authentication successful");
        s->sasl_username = xstrdup(sasl_client_username(s->sasl));
        s->sasl_method = xstrdup(s->auth_mech);
        s->count_ok[CMD_AUTH]++;
        break;
    case SASL_FAIL:
    case SASL_TEMP:
        user = sasl_client_username(s->sasl);
        maillog_printf(s->r->log, "smtpd",
                       "warning: %s[%s]: SASL %.100s authentication failed: "
                       "%s, sasl_username=%.100s",
                       s->name, s->ip, s->auth_mech, text,
                       user ? user : "(unavailable)");
        if (st == SASL_TEMP)
            smtpd_reply(s, "454 4.7.0 Temporary authentication failure: %s",
                        text);
        else
            smtpd_reply(s, "535 5.7.8 Error: authentication failed: %s", text);
        break;
    }
    if (!s->auth_starting)
        smtpd_process(s);
}

/* AUTH mechanism [initial-response], refused in Postfix's order. */
static void smtpd_auth(struct smtpd_session *s, const char *arg)
{
    char mech[64], resp[SMTPD_LINE_LIMIT + 1] = "";
    size_t n = strcspn(arg, " \t");
    const char *rest = arg + n + strspn(arg + n, " \t");

    if (s->sasl == NULL || s->sasl_mechs == NULL ||
        (smtpd_ehlo_mask(s) & EHLO_MASK_AUTH) != 0) {
        smtpd_reply(s, "503 5.5.1 Error: authentication not enabled");
        return;
    }
    if (s->sender != NULL) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    if (s->p->sasl.tls_auth_only && s->ssl == NULL) {
        /* RFC 4954 section 4. */
        smtpd_reply(s, "504 5.5.4 Encryption required for requested "
                       "authentication mechanism");
        return;
    }
    if (s->sasl_username != NULL) {
        smtpd_reply(s, "503 5.5.1 Error: already authenticated");
        return;
    }
    if (n == 0 || n >= sizeof(mech) || rest[strcspn(rest, " \t")] != '\0') {
        smtpd_reply(s, "501 5.5.4 Syntax: AUTH mechanism");
        return;
    }
    snprintf(mech, sizeof(mech), "%.*s", (int)n, arg);
    snprintf(resp, sizeof(resp), "%s", rest);
    free(s->auth_mech);
    s->auth_mech = xstrdup(mech);
    s->auth_starting = 1;
    sasl_client_first(s->sasl, mech, *rest ? resp : NULL, smtpd_auth_reply);
    s->auth_starting = 0;
}

/* The client's answer to a 334: "*" gives up (RFC 4954 section 4). */
static void smtpd_auth_line(struct smtpd_session *s, const char *line)
{
    s->auth_challenged = 0;
    if (strcmp(line, "*") == 0) {
        maillog_printf(s->r->log, "smtpd",
                       "warning: %s[%s]: SASL %s authentication aborted",
                       s->name, s->ip, s->auth_mech);
        smtpd_reply(s, "501 5.7.0 Authentication aborted");
        sasl_client_abort(s->sasl);
        return;
    }
    s->auth_starting = 1;
    sasl_client_next(s->sasl, line, smtpd_auth_reply);
    s->auth_starting = 0;
}

/* MAIL FROM's AUTH= (RFC 4954 section 5) with SASL enabled: kept for the
 * log's sasl_sender=, "<>" is nobody. NULL, or the refusal. */
static const char *smtpd_sasl_mail_opt(struct smtpd_session *s,
                                       const char *value, char **kept)
{
    if (s->sasl_mechs == NULL)
        return "503 5.5.4 Error: authentication disabled";
    if (*kept != NULL)
        return "503 5.5.4 Error: multiple AUTH= options";
    if (strcmp(value, "<>") != 0)
        *kept = xstrdup(value);
    return NULL;
}

/* Postfix's SMTPD_CMD_FLAG_PRE_TLS: what a client may do before
 * STARTTLS when TLS is required (unknown commands are refused anyway). */
static int smtpd_pre_tls(enum smtpd_cmd cmd)
{
    return cmd == CMD_HELO || cmd == CMD_EHLO || cmd == CMD_STARTTLS ||
           cmd == CMD_NOOP || cmd == CMD_QUIT || cmd == CMD_UNKNOWN;
}

/* RFC 2920 section 3.1: a client may send commands without waiting for
 * their replies only after EHLO offered PIPELINING, and even then EHLO,
 * HELO, DATA, NOOP and VRFY must end a group (Postfix's
 * SMTPD_CMD_FLAG_LAST). Postfix logs the first violation with what came
 * early (ahead: those bytes) and, with smtpd_forbid_unauth_pipelining,
 * answers 554 and hangs up. 1 if the session ends. */
static int smtpd_ill_pipelining(struct smtpd_session *s, const char *where,
                                const char *ahead, size_t n)
{
    struct strbuf text;

    if (s->ill_pipelining || n == 0)
        return 0;
    s->ill_pipelining = 1;
    strbuf_init(&text);
    smtpd_line_escape(&text, ahead, n < 100 ? n : 100);
    maillog_printf(s->r->log, "smtpd",
                   "improper command pipelining after %s from %s[%s]: %s",
                   where, s->name, s->ip, text.buf ? text.buf : "");
    strbuf_clear(&text);
    if (!s->p->smtpd_forbid_unauth_pipelining)
        return 0;
    smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
    s->quitting = 1;
    return 1;
}

/* The pipelining check of a command (smtpd_ill_pipelining), on what is
 * waiting in the input buffer behind it. */
static int smtpd_pipelining_check(struct smtpd_session *s, enum smtpd_cmd cmd)
{
    static const int last = 1 << CMD_HELO | 1 << CMD_EHLO | 1 << CMD_DATA |
                            1 << CMD_NOOP | 1 << CMD_VRFY;
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t n = evbuffer_get_length(in);
    char where[64];

    if (cmd == CMD_UNKNOWN || n == 0 || (s->esmtp && !(last & 1 << cmd)))
        return 0;
    smtpd_where(s, where, sizeof(where));
    n = n < 100 ? n : 100;
    return smtpd_ill_pipelining(
        s, where, (const char *)evbuffer_pullup(in, (ev_ssize_t)n), n);
}

/* DATA is accepted: 354, and the message comes. */
static void smtpd_data_begin(struct smtpd_session *s)
{
    s->in_data = 1;
    s->prev_bare_lf = 0; /* the DATA line does not count */
    s->data_cont = 0;
    strbuf_reset(&s->data);
    smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void smtpd_command(struct smtpd_session *s, char *line)
{
    const char *arg;
    enum smtpd_cmd cmd = smtpd_parse_cmd(line, &arg);
    int ok = 0;
    char *end = line + strlen(line);

    while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    s->count_all[cmd]++;
    s->last_cmd = smtpd_cmd_names[cmd];
    s->message_in = 0;
    /* smtpd_junk_command_limit: past it, each of these is an error. */
    if ((cmd == CMD_NOOP || cmd == CMD_VRFY || cmd == CMD_ETRN ||
         cmd == CMD_RSET) &&
        ++s->junk > s->p->smtpd_junk_command_limit)
        s->junk_errors++;
    /* RFC 3207 section 4: "530 5.7.0 Must issue a STARTTLS command
     * first" (smtpd_tls_security_level = encrypt). */
    if (smtpd_tls_level(s) == RELAY_TLS_ENCRYPT && s->ssl == NULL &&
        !smtpd_pre_tls(cmd)) {
        smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    if (smtpd_pipelining_check(s, cmd))
        return;
    switch (cmd) {
    case CMD_HELO:
    case CMD_EHLO:
        /* Past the syntax check the milters are asked first. */
        if (*arg != '\0' &&
            smtpd_milter_ask(
                s, cmd == CMD_EHLO ? SMTPD_MILTER_EHLO : SMTPD_MILTER_HELO,
                arg))
            break; /* counted by smtpd_milter_helo() */
        ok = smtpd_helo(s, arg, cmd == CMD_EHLO);
        break;
    case CMD_MAIL:
        ok = smtpd_mail(s, arg);
        break;
    case CMD_RCPT:
        ok = smtpd_rcpt(s, arg);
        break;
    case CMD_DATA:
        if (s->bdat_state != BDAT_NONE) {
            smtpd_reply(s, "503 5.5.1 Error: DATA after BDAT");
            break;
        }
        if (s->rcpts.n == 0) {
            /* Postfix 3.7: 554 inside a transaction (even with no RCPT
             * tried), 503 outside one; no NOQUEUE line either way. */
            if (s->sender != NULL)
                smtpd_reply(s, "554 5.5.1 Error: no valid recipients");
            else
                smtpd_reply(s, "503 5.5.1 Error: need RCPT command");
            break;
        }
        if (!smtpd_milter_ask(s, SMTPD_MILTER_DATA, NULL))
            smtpd_data_begin(s);
        break; /* counted as done once the message is queued */
    case CMD_RSET:
        smtpd_reset(s);
        smtpd_reply(s, "250 2.0.0 Ok");
        ok = 1;
        break;
    case CMD_NOOP:
        smtpd_reply(s, "250 2.0.0 Ok");
        ok = 1;
        break;
    case CMD_QUIT:
        smtpd_reply(s, "221 2.0.0 Bye");
        s->quitting = 1;
        ok = 1;
        break;
    case CMD_VRFY:
        ok = smtpd_vrfy(s, arg);
        break;
    case CMD_STARTTLS:
        smtpd_starttls(s, arg);
        break;
    case CMD_AUTH:
        smtpd_auth(s, arg); /* counted by smtpd_auth_reply() */
        break;
    case CMD_ETRN:
        ok = smtpd_etrn(s, arg);
        break;
    case CMD_BDAT:
        smtpd_bdat(s, line, arg); /* counted by smtpd_bdat_end() */
        break;
    default:
        if (line[0] == '\0')
            smtpd_reply(s, "500 5.5.2 Error: bad syntax");
        else
            smtpd_reply(s, "500 5.5.2 Error: command not recognized");
        break;
    }
    s->count_ok[cmd] += ok;
}

static void smtpd_on_write(struct bufferevent *bev, void *arg)
{
    struct smtpd_session *s = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));

    if (s->out_paused && left <= SMTPD_OUT_LOW && !s->quitting) {
        /* The client reads its replies again: so do we. */
        s->out_paused = 0;
        if (s->err_sleep == NULL || !evtimer_pending(s->err_sleep, NULL))
            bufferevent_enable(bev, EV_READ);
        smtpd_process(s);
        return;
    }
    if (left > 0)
        return;
    if (s->quitting)
        smtpd_session_free(s);
    else if (s->tls_starting && s->ssl == NULL)
        smtpd_tls_begin(s);
}

/* The next line as Postfix's smtpd reads it (smtpd_line.h): at most
 * line_length_limit bytes at a time, so that neither a command nor a
 * message line without LF holds more memory than that. A command is cut
 * there (the rest of a longer line is read and thrown away) and taken
 * only up to a NUL byte (NOOP<NUL>x is NOOP; NO<NUL>OP is NO); message
 * lines come in pieces (l->end SMTPD_LINE_PARTIAL). NULL until a line
 * is in; the caller frees. */
static char *smtpd_next_line(struct smtpd_session *s, struct evbuffer *in,
                             struct smtpd_line *l)
{
    for (;;) {
        size_t n = evbuffer_get_length(in);
        size_t look = n < SMTPD_LINE_LIMIT + 1 ? n : SMTPD_LINE_LIMIT + 1;
        const char *p;
        char *line;

        if (look == 0)
            return NULL;
        p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        if (!smtpd_line_scan(p, look, SMTPD_LINE_LIMIT, s->bare_lf_mask, l))
            return NULL;
        line = xmalloc(l->len + 1);
        memcpy(line, p, l->len);
        line[l->len] = '\0';
        evbuffer_drain(in, l->consumed);
        if (s->in_data)
            return line;
        if (s->discarding) {
            /* The rest of a command longer than the limit. */
            s->discarding = l->end == SMTPD_LINE_PARTIAL;
            free(line);
            continue;
        }
        s->discarding = l->end == SMTPD_LINE_PARTIAL;
        l->len = strlen(line);
        return line;
    }
}

/* smtpd_forbid_bare_newline = reject: a command that ends in a bare LF
 * gets the reject code and the session ends, as in Postfix. */
static void smtpd_bare_lf_command(struct smtpd_session *s)
{
    char where[64];

    smtpd_where(s, where, sizeof(where));
    smtpd_noqueue_reject(s, where, "bare <LF> received",
                         s->rcpts.n > 0 ? s->rcpts.v[s->rcpts.n - 1] : NULL);
    smtpd_reply(s, "%d 5.5.2 %s Error: bare <LF> received",
                s->p->smtpd_forbid_bare_newline_reject_code, s->p->myhostname);
    s->quitting = 1;
}

static void smtpd_process(struct smtpd_session *s);

static void smtpd_on_err_sleep(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_session *s = arg;

    (void)fd;
    (void)what;
    s->slept = 1;
    bufferevent_enable(s->bev, EV_READ);
    smtpd_process(s);
}

/* Postfix's limits on a client that makes errors without delivering
 * mail: at smtpd_hard_error_limit, "421 ... too many errors" at once and
 * the end of the session; from smtpd_soft_error_limit on, each reply
 * waits smtpd_error_sleep_time (the next command is read that much
 * later). 1 if the session must not read a command now. */
static int smtpd_error_limits(struct smtpd_session *s)
{
    int errors = smtpd_errors(s);

    if (errors >= s->p->smtpd_hard_error_limit) {
        char where[64];
        smtpd_where(s, where, sizeof(where));
        maillog_printf(s->r->log, "smtpd",
                       "too many errors after %s from %s[%s]", where, s->name,
                       s->ip);
        smtpd_reply(s, "421 4.7.0 %s Error: too many errors", s->p->myhostname);
        s->quitting = 1;
        return 1;
    }
    if (errors >= s->p->smtpd_soft_error_limit &&
        s->p->smtpd_error_sleep_time > 0 && !s->slept) {
        struct timeval tv = {s->p->smtpd_error_sleep_time, 0};
        struct evbuffer *in = bufferevent_get_input(s->bev);
        /* Only once a command is there to answer. */
        if (evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF).pos < 0)
            return 0;
        if (s->err_sleep == NULL)
            s->err_sleep = evtimer_new(s->r->base, smtpd_on_err_sleep, s);
        bufferevent_disable(s->bev, EV_READ);
        evtimer_add(s->err_sleep, &tv);
        return 1;
    }
    return 0;
}

/* smtpd_timeout ran out while the session waited for the client: 421
 * and the end, as Postfix's "timeout after CMD". */
static void smtpd_timeout(struct smtpd_session *s)
{
    char where[64];

    smtpd_where(s, where, sizeof(where));
    maillog_printf(s->r->log, "smtpd", "timeout after %s from %s[%s]", where,
                   s->name, s->ip);
    smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->p->myhostname);
    s->quitting = 1;
    s->deadline_armed = 0;
    bufferevent_disable(s->bev, EV_READ);
}

static void smtpd_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtpd_timeout(arg);
}

/* smtpd_per_request_deadline: smtpd_timeout is the time the client has
 * to send a whole record (a command line, a message line or a
 * line_length_limit piece of one, as much of a BDAT chunk), however it
 * trickles in; per read() otherwise (bufferevent timeouts). The clock
 * runs only while the session waits for the client (waiting reading
 * 1). */
static void smtpd_deadline(struct smtpd_session *s, int reading)
{
    struct timeval tv = {s->p->smtpd_timeout, 0};

    if (!s->p->smtpd_per_request_deadline)
        return;
    if (!reading) {
        if (s->deadline != NULL)
            evtimer_del(s->deadline);
        s->deadline_armed = 0;
        return;
    }
    if (s->deadline_armed)
        return;
    if (s->deadline == NULL)
        s->deadline = evtimer_new(s->r->base, smtpd_on_deadline, s);
    evtimer_add(s->deadline, &tv);
    s->deadline_armed = 1;
}

/* A record is in: the next one has the whole smtpd_timeout. */
static void smtpd_record_done(struct smtpd_session *s)
{
    s->deadline_armed = 0;
    s->bdat_record = 0;
}

/* More replies wait than the client reads: stop serving it until they
 * drain (smtpd_on_write). 1 if paused. */
static int smtpd_output_full(struct smtpd_session *s)
{
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) <= SMTPD_OUT_MAX)
        return 0;
    s->out_paused = 1;
    bufferevent_disable(s->bev, EV_READ);
    return 1;
}

/* 1 while the session serves no command: it is ending, or waits for a
 * lookup (DNS lists, policy service), a commit, a TLS handshake, the auth
 * server. Its input is not read meanwhile beyond SMTPD_IN_MAX. */
static int smtpd_busy(const struct smtpd_session *s)
{
    return s->quitting || s->pending != NULL || s->committing ||
           s->milter_wait != 0 || s->tls_starting ||
           (s->sasl != NULL && sasl_client_busy(s->sasl));
}

static void smtpd_process(struct smtpd_session *s)
{
    struct evbuffer *in;
    struct smtpd_line l;
    char *line;

    /* STARTTLS changes s->bev: the input buffer is looked up each time. */
    while (!smtpd_busy(s) && !smtpd_output_full(s)) {
        if (!s->in_data && !s->bdat_reading && smtpd_error_limits(s))
            break;
        in = bufferevent_get_input(s->bev);
        if (s->bdat_reading) {
            if (!smtpd_bdat_feed(s, in))
                break;
            smtpd_record_done(s);
            continue;
        }
        if ((line = smtpd_next_line(s, in, &l)) == NULL)
            break;
        smtpd_record_done(s);
        if (s->in_data) {
            smtpd_data_line(s, line, &l);
        } else if (s->auth_challenged) {
            smtpd_auth_line(s, line);
        } else if (l.end == SMTPD_LINE_BARE_LF &&
                   (s->bare_lf_mask & SMTPD_BARE_LF_REJECT)) {
            smtpd_bare_lf_command(s);
        } else {
            s->sent_ahead = evbuffer_get_length(in) > 0;
            smtpd_command(s, line);
            s->slept = 0;
        }
        free(line);
    }
    if (s->quitting)
        bufferevent_disable(s->bev, EV_READ);
    smtpd_deadline(
        s, !smtpd_busy(s) && !s->out_paused &&
               (s->err_sleep == NULL || !evtimer_pending(s->err_sleep, NULL)));
}

static void smtpd_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    smtpd_process(arg);
}

static void smtpd_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtpd_session *s = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        smtpd_tls_established(s);
        /* smtps: anvil's limits before anything else (the 421 takes
         * the greeting's place). */
        if (s->wrapper && smtpd_anvil_connect(s)) {
            smtpd_process(s);
            return;
        }
        /* On smtps the greeting waits for the milters' CONNECT. */
        if (s->wrapper && !s->greeted && smtpd_milter_connect(s)) {
            smtpd_process(s);
            return;
        }
        /* SASL again, with smtpd_sasl_tls_security_options; on smtps
         * the greeting waits for it. */
        if (!smtpd_sasl_begin(s) && s->wrapper)
            smtpd_banner(s);
        smtpd_process(s);
        return;
    }
    char where[64];
    smtpd_where(s, where, sizeof(where));
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING)) {
        /* The client read no reply for smtpd_timeout: no 421 can reach
         * it either (Postfix's smtpd ends there too). */
        maillog_printf(s->r->log, "smtpd", "timeout after %s from %s[%s]",
                       where, s->name, s->ip);
        smtpd_session_free(s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        smtpd_timeout(s);
        return;
    }
    if (s->tls_starting)
        smtpd_tls_failed(s, what);
    else if (s->bdat_reading && s->bdat_reply == NULL)
        maillog_printf(s->r->log, "smtpd",
                       "lost connection after BDAT (%ld bytes) from %s[%s]",
                       s->act_size + (long)s->bdat_line.len, s->name, s->ip);
    else if (s->bdat_reading)
        maillog_printf(s->r->log, "smtpd",
                       "lost connection after BDAT from %s[%s]", s->name,
                       s->ip);
    else if (!s->quitting)
        maillog_printf(s->r->log, "smtpd",
                       "lost connection after %s from %s[%s]", where, s->name,
                       s->ip);
    smtpd_session_free(s);
}

static void smtpd_tls_begin(struct smtpd_session *s);

/* The client's name is known: the session begins (on an smtps service,
 * with the TLS handshake; the greeting comes after it). */
static void smtpd_greet(struct smtpd_session *s)
{
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    maillog_printf(s->r->log, "smtpd", "connect from %s[%s]", s->name, s->ip);
    if (s->p->smtpd_tls_wrappermode) {
        if (s->r->tls == NULL || s->r->tls->ctx == NULL) {
            maillog_printf(s->r->log, "smtpd",
                           "warning: Wrapper-mode request dropped from "
                           "%s[%s] for service %s. TLS context "
                           "initialization failed. For details see earlier "
                           "warnings in your logs.",
                           s->name, s->ip, s->svc->name);
            smtpd_session_free(s);
            return;
        }
        s->wrapper = 1;
        s->tls_starting = 1;
        smtpd_tls_begin(s);
        return;
    }
    /* A client that speaks before the greeting (not on smtps). */
    char early[100];
    ssize_t n = recv(bufferevent_getfd(s->bev), early, sizeof(early),
                     MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 && smtpd_ill_pipelining(s, "CONNECT", early, (size_t)n))
        return;
    if (smtpd_anvil_connect(s))
        return;
    if (smtpd_milter_connect(s))
        return; /* greeted once the milters answer */
    if (smtpd_sasl_begin(s))
        return; /* greeted once the auth server answers */
    smtpd_banner(s);
}

/* Looking up the client's name (below). */

static void smtpd_lookup_done(struct smtpd_lookup *l)
{
    for (struct smtpd_lookup **pp = &l->r->lookups; *pp != NULL;
         pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    if (l->s != NULL) {
        l->s->lookup = NULL;
        smtpd_greet(l->s);
    }
    free(l);
}

void smtpd_lookups_free(struct relay *r)
{
    while (r->lookups != NULL) {
        struct smtpd_lookup *l = r->lookups;
        r->lookups = l->next;
        if (l->s != NULL)
            l->s->lookup = NULL;
        free(l);
    }
}

static void smtpd_on_forward(void *arg, enum dns_status st, char **addrs,
                             size_t n)
{
    struct smtpd_lookup *l = arg;
    struct smtpd_session *s = l->s;
    int match = 0;

    for (size_t i = 0; st == DNS_OK && i < n; i++)
        match |= strcmp(addrs[i], s != NULL ? s->ip : "") == 0;
    if (s != NULL && match) {
        snprintf(s->name, sizeof(s->name), "%s", l->ptr);
    } else if (s != NULL) {
        /* Postfix's words, with getaddrinfo's reason when it failed. */
        const char *why = st == DNS_OK || st == DNS_NODATA ? NULL
                          : st == DNS_NXDOMAIN
                              ? "Name or service not known"
                              : "Temporary failure in name resolution";
        maillog_printf(l->r->log, "smtpd",
                       "warning: hostname %s does not resolve to address "
                       "%s%s%s",
                       l->ptr, s->ip, why ? ": " : "", why ? why : "");
    }
    smtpd_lookup_done(l);
}

static void smtpd_on_ptr(void *arg, enum dns_status st, const char *name)
{
    struct smtpd_lookup *l = arg;

    if (l->s == NULL || st != DNS_OK || strlen(name) >= sizeof(l->ptr)) {
        smtpd_lookup_done(l);
        return;
    }
    snprintf(l->ptr, sizeof(l->ptr), "%s", name);
    dns_lookup_a(l->r->dns, l->ptr, smtpd_on_forward, l);
}

/* 1 if the name lookup was started (the greeting waits for it). */
static int smtpd_lookup_name(struct smtpd_session *s)
{
    struct smtpd_lookup *l;

    if (s->r->dns == NULL)
        return 0;
    l = xcalloc(1, sizeof(*l));
    l->r = s->r;
    l->s = s;
    if (dns_lookup_ptr(s->r->dns, s->ip, smtpd_on_ptr, l) < 0) {
        free(l); /* IPv6: not looked up */
        return 0;
    }
    s->lookup = l;
    l->next = s->r->lookups;
    s->r->lookups = l;
    return 1;
}

/* The limits of a session's bufferevent (plain or TLS): read timeouts,
 * and how much input is read ahead and output kept (SMTPD_*_MAX). */
static void smtpd_bev_limits(struct smtpd_session *s, struct bufferevent *bev)
{
    struct timeval tv = {s->p->smtpd_timeout, 0};

    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setwatermark(bev, EV_READ, 0, SMTPD_IN_MAX);
    bufferevent_setwatermark(bev, EV_WRITE, SMTPD_OUT_LOW, 0);
}

void smtpd_accept(struct relay *r, struct relay_service *svc, int fd,
                  const struct netaddr *peer)
{
    struct smtpd_session *s = xcalloc(1, sizeof(*s));

    s->r = r;
    s->svc = svc;
    svc->refs++;
    s->p = master_session_start(r, svc);
    s->peer = *peer;
    netaddr_ip(peer, s->ip, sizeof(s->ip));
    /* Postfix's /etc/hosts answers for loopback; other clients are
     * "unknown" unless their PTR record names them (and that name has
     * their address). */
    snprintf(s->name, sizeof(s->name), "%s",
             strcmp(s->ip, "127.0.0.1") == 0 || strcmp(s->ip, "::1") == 0
                 ? "localhost"
                 : "unknown");
    strlist_init(&s->rcpts);
    strlist_init(&s->prepend);
    strbuf_init(&s->data);
    s->bare_lf_mask = s->p->smtpd_forbid_bare_newline;
    for (size_t i = 0; i < s->p->nbare_lf_exclusions; i++)
        if (cidr_match(&s->p->bare_lf_exclusions[i], peer))
            s->bare_lf_mask = SMTPD_BARE_LF_NO;
    s->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, smtpd_on_read, smtpd_on_write, smtpd_on_event, s);
    smtpd_bev_limits(s, s->bev);
    s->next = r->sessions;
    r->sessions = s;
    if (strcmp(s->name, "localhost") == 0 || !smtpd_lookup_name(s))
        smtpd_greet(s);
}
