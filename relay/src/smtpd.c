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
 * Ownership: sessions live on r->sessions; smtpd_session_free() is the one
 * teardown path.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mxlab/clock.h"
#include "mxlab/dns.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/tlsutil.h"
#include "mxlab/xmem.h"
#include "relay_int.h"

#define SMTPD_LINE_LIMIT 2048 /* Postfix line_length_limit */

/* In the order of Postfix's command table: the "disconnect from" line
 * counts them in this order. */
enum smtpd_cmd {
    CMD_HELO,
    CMD_EHLO,
    CMD_STARTTLS,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_RSET,
    CMD_NOOP,
    CMD_VRFY,
    CMD_QUIT,
    CMD_UNKNOWN,
    CMD_COUNT
};

static const char *smtpd_cmd_names[CMD_COUNT] = {
    "helo", "ehlo", "starttls", "mail", "rcpt",   "data",
    "rset", "noop", "vrfy",     "quit", "unknown"};

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
    int committing;   /* the message waits for its group commit */
    int discarding;   /* the rest of an overlong command line */
    SSL *ssl;         /* under TLS (owned by bev), else NULL */
    int tls_starting; /* the TLS handshake is under way */
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
    struct smtpd_session *next;
};

static void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
    s->qid[0] = '\0';
    free(s->sender);
    s->sender = NULL;
    strlist_clear(&s->rcpts);
    strbuf_reset(&s->data);
    s->data_too_big = 0;
    s->in_data = 0;
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
    if (total_ok == total)
        strbuf_printf(&counts, " commands=%d", total);
    else
        strbuf_printf(&counts, " commands=%d/%d", total_ok, total);
    maillog_printf(r->log, "smtpd", "disconnect from %s[%s]%s", s->name, s->ip,
                   counts.buf ? counts.buf : "");
    strbuf_clear(&counts);
    policy_check_cancel(s->pending);
    if (s->lookup != NULL)
        s->lookup->s = NULL; /* DNS answers later, to nobody */
    queue_commit_cancel(r, s);
    free(s->commit_msgid);
    free(s->pending_rcpt);
    for (struct smtpd_session **pp = &r->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    bufferevent_free(s->bev);
    smtpd_reset(s);
    strbuf_clear(&s->data);
    free(s->helo);
    relay_service_release(s->svc);
    free(s);
}

void smtpd_free_all(struct relay *r)
{
    while (r->sessions != NULL)
        smtpd_session_free(r->sessions);
}

static void smtpd_noqueue_reject(struct smtpd_session *s, const char *cmd,
                                 const char *reply, const char *rcpt)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_printf(&sb, "%s: reject: %s from %s[%s]: %s;",
                  s->qid[0] ? s->qid : "NOQUEUE", cmd, s->name, s->ip, reply);
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

static int smtpd_rcpt_maps(struct smtpd_session *s, const char *addr,
                           char *reply, size_t len);

/* smtpd_reject_unlisted_recipient: an address in a virtual alias domain
 * must have a mapping; one not aliased away must be known to its class's
 * recipient table (local_recipient_maps, relay_recipient_maps). -1 with
 * the refusal (naming shown, the address as the client gave it). */
static int smtpd_rcpt_unlisted(struct smtpd_session *s, const char *addr,
                               const char *shown, char *reply, size_t len)
{
    struct relay *r = s->r;
    struct strlist probe;
    int rc = 0;

    strlist_init(&probe);
    int vrc = rewrite_virtual(r, addr, &probe);
    if (vrc == 1) {
        snprintf(reply, len,
                 "550 5.1.1 <%s>: Recipient address rejected: User unknown "
                 "in virtual alias table",
                 shown);
        rc = -1;
    } else if (vrc == 0 && probe.n == 1 && str_casecmp(probe.v[0], addr) == 0) {
        rc = smtpd_rcpt_maps(s, addr, reply, len);
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
    smtpd_reply(s, "250-%s", s->p->myhostname);
    smtpd_reply(s, "250-PIPELINING");
    smtpd_reply(s, "250-SIZE %ld", s->p->message_size_limit);
    if (!s->p->disable_vrfy_command)
        smtpd_reply(s, "250-VRFY");
    /* RFC 3207 section 4.2: not offered again once TLS is on. */
    if (smtpd_tls_level(s) != RELAY_TLS_NONE && s->ssl == NULL)
        smtpd_reply(s, "250-STARTTLS");
    smtpd_reply(s, "250-ENHANCEDSTATUSCODES");
    smtpd_reply(s, "250 8BITMIME");
    return 1;
}

static int smtpd_mail(struct smtpd_session *s, const char *arg)
{
    char addr[SMTP_PATH_MAX];
    const char *params;
    const char *p = str_casestart(arg, "FROM:");

    if (s->sender != NULL) {
        smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
        return 0;
    }
    if (p == NULL) {
        smtpd_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return 0;
    }
    if (smtp_parse_path(p, s->p->strict_rfc821_envelopes, addr, sizeof(addr),
                        &params) != SMTP_PATH_OK) {
        smtpd_reply(s, "501 5.1.7 Bad sender address syntax");
        return 0;
    }
    /* RFC 1870: refuse a declared size over the limit now. */
    for (const char *q = params; q && *q;) {
        const char *v = str_casestart(q, "SIZE=");
        long size;
        if (v != NULL) {
            char num[32];
            size_t n = strcspn(v, " ");
            snprintf(num, sizeof(num), "%.*s", (int)(n < 31 ? n : 31), v);
            if (str_to_long(num, &size) == 0 && s->p->message_size_limit &&
                size > s->p->message_size_limit) {
                smtpd_reply(s, "552 5.3.4 Message size exceeds fixed limit");
                return 0;
            }
        }
        q = strchr(q, ' ');
        while (q && *q == ' ')
            q++;
    }
    s->sender = xstrdup(addr);
    smtpd_reply(s, "250 2.1.0 Ok");
    return 1;
}

static void smtpd_process(struct smtpd_session *s);

/* smtpd_reject_unlisted_recipient for the local and relay classes: the
 * address, the local part (local class only) or "@domain" must be in one
 * of the tables; an empty parameter accepts everyone. -1 with the reply. */
static int smtpd_rcpt_maps(struct smtpd_session *s, const char *addr,
                           char *reply, size_t len)
{
    struct relay *r = s->r;
    enum rewrite_class cls = rewrite_class(r, addr);
    const struct strlist *tables =
        cls == REWRITE_CLASS_LOCAL   ? &s->p->local_recipient_maps
        : cls == REWRITE_CLASS_RELAY ? &s->p->relay_recipient_maps
                                     : NULL;
    const char *at = strrchr(addr, '@');
    char *keys[3];
    int nkeys = 0, found = 0;

    if (tables == NULL || tables->n == 0)
        return 0;
    keys[nkeys++] = xstrdup(addr);
    if (cls == REWRITE_CLASS_LOCAL)
        keys[nkeys++] =
            at ? xstrndup(addr, (size_t)(at - addr)) : xstrdup(addr);
    if (at != NULL)
        keys[nkeys++] = xstrdup(at);
    for (size_t i = 0; i < tables->n && found == 0; i++) {
        struct map *m = relay_table(r, tables->v[i]);
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
        snprintf(reply, len, "451 4.3.0 <%s>: Temporary lookup failure", addr);
    else if (found == 0)
        snprintf(reply, len,
                 "550 5.1.1 <%s>: Recipient address rejected: User unknown "
                 "in %s recipient table",
                 addr, cls == REWRITE_CLASS_LOCAL ? "local" : "relay");
    return found == 1 ? 0 : -1;
}

/* The RCPT decision is in: reply, count, and go on with the commands
 * that waited. */
static void smtpd_rcpt_done(void *arg, int rc, const char *why)
{
    struct smtpd_session *s = arg;
    struct relay *r = s->r;
    const char *addr = s->pending_rcpt;
    char reply[1200];

    s->pending = NULL;
    snprintf(reply, sizeof(reply), "%s", why);
    if (rc >= 0) {
        if (smtpd_rcpt_unlisted(s, addr, addr, reply, sizeof(reply)) < 0)
            rc = -1;
    }
    if (rc < 0) {
        smtpd_noqueue_reject(s, "RCPT", reply, addr);
        smtpd_reply(s, "%s", reply);
    } else {
        strlist_push(&s->rcpts, addr);
        smtpd_reply(s, "250 2.1.5 Ok");
        s->count_ok[CMD_RCPT]++;
        if (s->qid[0] == '\0') {
            queue_new_id(r, s->qid, sizeof(s->qid));
            maillog_printf(r->log, "smtpd", "%s: client=%s[%s]", s->qid,
                           s->name, s->ip);
        }
    }
    free(s->pending_rcpt);
    s->pending_rcpt = NULL;
    if (!s->rcpt_starting)
        smtpd_process(s);
}

static int smtpd_rcpt(struct smtpd_session *s, const char *arg)
{
    struct relay *r = s->r;
    char addr[SMTP_PATH_MAX];
    const char *p = str_casestart(arg, "TO:");
    struct policy_ctx ctx;

    if (s->sender == NULL) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return 0;
    }
    if (p == NULL) {
        smtpd_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return 0;
    }
    if (smtp_parse_path(p, s->p->strict_rfc821_envelopes, addr, sizeof(addr),
                        NULL) != SMTP_PATH_OK ||
        addr[0] == '\0') {
        smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
        return 0;
    }
    if ((long)s->rcpts.n >= s->p->smtpd_recipient_limit) {
        smtpd_reply(s, "452 4.5.3 Error: too many recipients");
        return 0;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.client = &s->peer;
    ctx.client_name = s->name;
    ctx.helo = s->helo ? s->helo : "";
    ctx.sender = s->sender;
    ctx.rcpt = addr;
    ctx.pipelined = s->sent_ahead && !s->esmtp;
    ctx.p = s->p;
    /* The decision may wait for DNS lists: commands that follow wait in
     * the input buffer (pipelining keeps its order). */
    s->pending_rcpt = xstrdup(addr);
    s->rcpt_starting = 1;
    s->pending = policy_check_rcpt(r, &ctx, smtpd_rcpt_done, s);
    s->rcpt_starting = 0;
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

/* What cleanup(8) does to the content that users see: the header block
 * ends at the first line that is not a header (an empty line is inserted
 * there when missing); for clients that match local_header_rewrite_clients
 * (Postfix's default: permit_inet_interfaces) missing Message-Id:, Date:
 * and From: headers are appended. Postfix 3.7 adds no "To:
 * undisclosed-recipients:;" (undisclosed_recipients_header is empty).
 * The Message-ID value (or "<>") goes to msgid for the log. */
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
            p += len + (nl ? 1 : 0);
            continue;
        }
        name = smtpd_header_name_len(p, content);
        if (name == 0) {
            need_separator = 1;
            break;
        }
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
    strbuf_append(msg, data, (size_t)(hdr_end - data));
    if (relay_is_inet_interface(s->r, &s->peer)) {
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
            relay_date(date, sizeof(date));
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
        smtpd_reply(s, "250 2.0.0 Ok: queued as %s", id);
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

/* cleanup(8): expand recipients, add the Received header, commit. */
static void smtpd_finish_data(struct smtpd_session *s)
{
    struct relay *r = s->r;
    struct strlist addrs, origs;
    struct strbuf msg;
    char id[16], date[80], msgid[1000];

    if (s->data_too_big) {
        smtpd_reply(s, "552 5.3.4 Error: message file too big");
        smtpd_reset(s);
        return;
    }
    strlist_init(&addrs);
    strlist_init(&origs);
    for (size_t i = 0; i < s->rcpts.n; i++) {
        struct strlist exp;
        strlist_init(&exp);
        if (rewrite_virtual(r, s->rcpts.v[i], &exp) != 0) {
            strlist_clear(&exp);
            strlist_push(&exp, s->rcpts.v[i]);
        }
        for (size_t k = 0; k < exp.n; k++) {
            /* cleanup drops duplicate recipients (duplicate_filter_limit). */
            if (strlist_contains_case(&addrs, exp.v[k]))
                continue;
            strlist_push(&addrs, exp.v[k]);
            strlist_push(&origs, s->rcpts.v[i]);
        }
        strlist_clear(&exp);
    }
    /* The ID given at the first accepted RCPT (DATA needs one). */
    if (s->qid[0] == '\0')
        queue_new_id(r, s->qid, sizeof(s->qid));
    snprintf(id, sizeof(id), "%s", s->qid);
    relay_date(date, sizeof(date));
    strbuf_init(&msg);
    strbuf_printf(&msg, "Received: from %s (%s [%s])\r\n",
                  s->helo ? s->helo : s->name, s->name, s->ip);
    if (s->ssl != NULL && r->tls->received_header)
        smtpd_tls_received(s, &msg);
    /* RFC 3848: ESMTPS for ESMTP under TLS (Postfix keeps "SMTP" for
     * HELO). */
    strbuf_printf(&msg, "\tby %s (Postfix) with %s id %s", s->p->myhostname,
                  s->esmtp ? (s->ssl != NULL ? "ESMTPS" : "ESMTP") : "SMTP",
                  id);
    if (s->rcpts.n == 1)
        strbuf_printf(&msg, "\r\n\tfor <%s>; %s\r\n", s->rcpts.v[0], date);
    else
        strbuf_printf(&msg, ";\r\n\t%s\r\n", date);
    smtpd_cleanup_content(s, id, &msg, msgid, sizeof(msgid));
    snprintf(s->commit_id, sizeof(s->commit_id), "%s", id);
    free(s->commit_msgid);
    s->commit_msgid = xstrdup(msgid);
    int rc = queue_commit_async(r, id, s->sender, &addrs, &origs, msg.buf,
                                msg.len, smtpd_committed, s);
    strbuf_clear(&msg);
    strlist_clear(&addrs);
    strlist_clear(&origs);
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

static void smtpd_data_line(struct smtpd_session *s, const char *line,
                            size_t len)
{
    if (len == 1 && line[0] == '.') {
        s->in_data = 0;
        smtpd_finish_data(s);
        return;
    }
    /* RFC 5321 section 4.5.2: remove the leading dot of a stuffed line. */
    if (len > 0 && line[0] == '.') {
        line++;
        len--;
    }
    if (s->data_too_big)
        return;
    if (s->p->message_size_limit &&
        (long)(s->data.len + len + 2) > s->p->message_size_limit) {
        s->data_too_big = 1;
        return;
    }
    strbuf_append(&s->data, line, len);
    strbuf_append(&s->data, "\r\n", 2);
}

static enum smtpd_cmd smtpd_parse_cmd(const char *line, const char **arg)
{
    static const struct {
        const char *verb;
        enum smtpd_cmd cmd;
    } verbs[] = {{"HELO", CMD_HELO}, {"EHLO", CMD_EHLO},
                 {"MAIL", CMD_MAIL}, {"RCPT", CMD_RCPT},
                 {"DATA", CMD_DATA}, {"RSET", CMD_RSET},
                 {"NOOP", CMD_NOOP}, {"QUIT", CMD_QUIT},
                 {"VRFY", CMD_VRFY}, {"STARTTLS", CMD_STARTTLS}};

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
    struct timeval tv = {s->p->smtpd_timeout, 0};
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
    bufferevent_set_timeouts(tb, &tv, &tv);
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
    maillog_printf(s->r->log, "smtpd",
                   "lost connection after STARTTLS from %s[%s]", s->name,
                   s->ip);
}

/* Postfix's SMTPD_CMD_FLAG_PRE_TLS: what a client may do before
 * STARTTLS when TLS is required (unknown commands are refused anyway). */
static int smtpd_pre_tls(enum smtpd_cmd cmd)
{
    return cmd == CMD_HELO || cmd == CMD_EHLO || cmd == CMD_STARTTLS ||
           cmd == CMD_NOOP || cmd == CMD_QUIT || cmd == CMD_UNKNOWN;
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
    /* RFC 3207 section 4: "530 5.7.0 Must issue a STARTTLS command
     * first" (smtpd_tls_security_level = encrypt). */
    if (smtpd_tls_level(s) == RELAY_TLS_ENCRYPT && s->ssl == NULL &&
        !smtpd_pre_tls(cmd)) {
        smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    switch (cmd) {
    case CMD_HELO:
    case CMD_EHLO:
        ok = smtpd_helo(s, arg, cmd == CMD_EHLO);
        break;
    case CMD_MAIL:
        ok = smtpd_mail(s, arg);
        break;
    case CMD_RCPT:
        ok = smtpd_rcpt(s, arg);
        break;
    case CMD_DATA:
        if (s->rcpts.n == 0) {
            /* Postfix 3.7: 554 inside a transaction (even with no RCPT
             * tried), 503 outside one; no NOQUEUE line either way. */
            if (s->sender != NULL)
                smtpd_reply(s, "554 5.5.1 Error: no valid recipients");
            else
                smtpd_reply(s, "503 5.5.1 Error: need RCPT command");
            break;
        }
        s->in_data = 1;
        strbuf_reset(&s->data);
        smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
        ok = 1;
        break;
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

    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    if (s->quitting)
        smtpd_session_free(s);
    else if (s->tls_starting && s->ssl == NULL)
        smtpd_tls_begin(s);
}

/* Handle the complete lines in the input buffer, in order, until the
 * session quits or a RCPT waits for DNS. */
/* The next line as Postfix's smtpd reads a command: at most
 * line_length_limit bytes (the rest of a longer line is read and thrown
 * away), and only up to a NUL byte (NOOP<NUL>x is NOOP; NO<NUL>OP is NO).
 * Message lines are taken whole. NULL until a line is in. */
static char *smtpd_next_line(struct smtpd_session *s, struct evbuffer *in,
                             size_t *len)
{
    for (;;) {
        char *line;
        if (s->in_data)
            return evbuffer_readln(in, len, EVBUFFER_EOL_CRLF);
        struct evbuffer_ptr eol =
            evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF);
        if (eol.pos < 0) {
            if (s->discarding) {
                evbuffer_drain(in, evbuffer_get_length(in));
                return NULL;
            }
            if (evbuffer_get_length(in) < SMTPD_LINE_LIMIT)
                return NULL;
            /* A command longer than the limit, its end not here yet. */
            line = xmalloc(SMTPD_LINE_LIMIT + 1);
            evbuffer_remove(in, line, SMTPD_LINE_LIMIT);
            line[SMTPD_LINE_LIMIT] = '\0';
            s->discarding = 1;
            *len = strlen(line);
            return line;
        }
        line = evbuffer_readln(in, len, EVBUFFER_EOL_CRLF);
        if (line == NULL)
            return NULL;
        if (s->discarding) {
            s->discarding = 0;
            free(line);
            continue;
        }
        if (*len > SMTPD_LINE_LIMIT)
            line[SMTPD_LINE_LIMIT] = '\0';
        *len = strlen(line);
        return line;
    }
}

static void smtpd_process(struct smtpd_session *s)
{
    struct evbuffer *in;
    char *line;
    size_t len;

    /* STARTTLS changes s->bev: the input buffer is looked up each time. */
    while (!s->quitting && s->pending == NULL && !s->committing &&
           !s->tls_starting &&
           (line = smtpd_next_line(s, in = bufferevent_get_input(s->bev),
                                   &len)) != NULL) {
        if (s->in_data) {
            smtpd_data_line(s, line, len);
        } else {
            s->sent_ahead = evbuffer_get_length(in) > 0;
            smtpd_command(s, line);
        }
        free(line);
    }
    if (s->quitting)
        bufferevent_disable(s->bev, EV_READ);
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
        smtpd_process(s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        maillog_printf(s->r->log, "smtpd", "timeout after %s from %s[%s]",
                       s->in_data ? "DATA" : "END-OF-MESSAGE", s->name, s->ip);
        smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded",
                    s->p->myhostname);
        s->quitting = 1;
        bufferevent_disable(bev, EV_READ);
        return;
    }
    if (s->tls_starting)
        smtpd_tls_failed(s, what);
    else if (s->in_data)
        maillog_printf(s->r->log, "smtpd",
                       "lost connection after DATA from %s[%s]", s->name,
                       s->ip);
    smtpd_session_free(s);
}

/* The client's name is known: the session begins. */
static void smtpd_greet(struct smtpd_session *s)
{
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    maillog_printf(s->r->log, "smtpd", "connect from %s[%s]", s->name, s->ip);
    smtpd_reply(s, "220 %s", s->p->smtpd_banner);
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

void smtpd_accept(struct relay *r, struct relay_service *svc, int fd,
                  const struct netaddr *peer)
{
    struct smtpd_session *s = xcalloc(1, sizeof(*s));
    struct timeval tv = {svc->p.smtpd_timeout, 0};

    s->r = r;
    s->svc = svc;
    svc->refs++;
    s->p = &svc->p;
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
    strbuf_init(&s->data);
    s->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, smtpd_on_read, smtpd_on_write, smtpd_on_event, s);
    bufferevent_set_timeouts(s->bev, &tv, &tv);
    s->next = r->sessions;
    r->sessions = s;
    if (strcmp(s->name, "localhost") == 0 || !smtpd_lookup_name(s))
        smtpd_greet(s);
}
