/*
 * bounce.c — non-delivery reports (RFC 3464 multipart/report), laid out
 * as Postfix 3.7's bounce(8) writes them (checked against a private
 * Postfix): the notification text with each recipient's reason wrapped
 * at 79 columns, the message/delivery-status part, and the returned
 * message with its Return-Path. The report is queued durably like any
 * message, from the null sender; a message from the null sender gets no
 * report (notify_classes leaves out double bounces by default). Delay
 * warnings (delay_warning_time) share the layout: Action: delayed,
 * Will-Retry-Until, and the returned headers only. RFC 3461: a recipient
 * whose NOTIFY leaves out FAILURE (or DELAY) is not reported, RET=HDRS
 * returns the headers only, ENVID and ORCPT are given back as
 * Original-Envelope-Id and Original-Recipient. A recipient relayed with
 * NOTIFY=SUCCESS to a next hop that does not offer DSN gets the sender a
 * "Successful Mail Delivery Report" (Action: relayed, headers only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "mxlab/clock.h"
#include "mxlab/maillog.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "queue.h"
#include "relay.h"

#define BOUNCE_WRAP 79 /* bounce(8): line_wrap(..., 79, 4, ...) */

static void bounce_entry_set(struct bounce_entry *b,
                             const struct queue_rcpt *qr, const char *dsn,
                             const char *reason, const char *diag,
                             const char *remote)
{
    memset(b, 0, sizeof(*b));
    b->addr = xstrdup(qr->addr);
    b->orig = xstrdup(qr->orig);
    b->orcpt = qr->orcpt ? xstrdup(qr->orcpt) : NULL;
    b->notify = qr->notify;
    snprintf(b->dsn, sizeof(b->dsn), "%s", dsn);
    b->reason = xstrdup(reason ? reason : "");
    b->diag = diag ? xstrdup(diag) : NULL;
    b->remote = remote ? xstrdup(remote) : NULL;
}

void bounce_add(struct queue_msg *m, const struct queue_rcpt *qr,
                const char *dsn, const char *reason, const char *diag,
                const char *remote)
{
    m->bounces = xrealloc(m->bounces, (m->nbounces + 1) * sizeof(*m->bounces));
    bounce_entry_set(&m->bounces[m->nbounces++], qr, dsn, reason, diag, remote);
}

void bounce_add_success(struct queue_msg *m, const struct queue_rcpt *qr,
                        const char *reason, const char *diag,
                        const char *remote)
{
    m->successes =
        xrealloc(m->successes, (m->nsuccesses + 1) * sizeof(*m->successes));
    bounce_entry_set(&m->successes[m->nsuccesses++], qr, "2.0.0", reason, diag,
                     remote);
}

static void bounce_entries_free(struct bounce_entry **v, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free((*v)[i].addr);
        free((*v)[i].orig);
        free((*v)[i].orcpt);
        free((*v)[i].reason);
        free((*v)[i].diag);
        free((*v)[i].remote);
    }
    free(*v);
    *v = NULL;
    *n = 0;
}

void bounce_clear(struct queue_msg *m)
{
    bounce_entries_free(&m->bounces, &m->nbounces);
    bounce_entries_free(&m->successes, &m->nsuccesses);
}

/* "<rcpt>: reason", folded at 79 columns with a 4-space indent. */
static void bounce_wrap(struct strbuf *out, const char *text)
{
    size_t col = 0;
    const char *p = text;

    while (*p) {
        size_t wl = strcspn(p, " ");
        if (col > 0 && col + 1 + wl > BOUNCE_WRAP) {
            strbuf_puts(out, "\r\n    ");
            col = 4;
        } else if (col > 0) {
            strbuf_putc(out, ' ');
            col++;
        }
        strbuf_append(out, p, wl);
        col += wl;
        p += wl;
        while (*p == ' ')
            p++;
    }
    strbuf_puts(out, "\r\n");
}

/* RFC 3461 section 4.1: without NOTIFY, failures and delays are
 * reported; with it, only those it names. */
/* What a report is about. */
enum { BOUNCE_FAILED, BOUNCE_DELAYED, BOUNCE_RELAYED };

static int bounce_wanted(int notify, int what)
{
    return notify == 0 || (notify & what) != 0;
}

/* Recipient i of the report (delayed: m's pending ones; relayed: the
 * success list; else the bounced ones) if the sender asked to hear about
 * it, else NULL; *reason and *orig (the address the client gave) too. */
static const char *bounce_pick(const struct queue_msg *m, size_t i, int kind,
                               const char **reason, const char **orig)
{
    const struct bounce_entry *b;

    if (kind == BOUNCE_DELAYED) {
        const struct queue_rcpt *q = &m->rcpts[i];
        if (q->done || q->reason == NULL ||
            !bounce_wanted(q->notify, DSN_NOTIFY_DELAY))
            return NULL;
        *reason = q->reason;
        *orig = q->orig;
        return q->addr;
    }
    b = kind == BOUNCE_RELAYED ? &m->successes[i] : &m->bounces[i];
    if (kind != BOUNCE_RELAYED && !bounce_wanted(b->notify, DSN_NOTIFY_FAILURE))
        return NULL;
    *reason = b->reason;
    *orig = b->orig;
    return b->addr;
}

/* One report to m's sender: the failed recipients (delayed 0, from
 * m->bounces) or the ones still being retried (delayed 1), laid out as
 * Postfix's bounce(8) writes them. The report is queued; 0, or -1. */
static int bounce_report(struct relay *r, struct queue_msg *m, int kind)
{
    int delayed = kind == BOUNCE_DELAYED, relayed = kind == BOUNCE_RELAYED;
    struct strbuf msg;
    struct strlist to, to_orig;
    char id[16], now_date[80], arrival[80], stamp[32], boundary[200];
    char until[80];
    char *data = NULL;
    size_t len = 0;
    time_t now = clock_time();
    struct tm tm;
    int rc = -1;

    if (queue_read_data(r, m, &data, &len) < 0)
        return -1;
    queue_new_id(r, id, sizeof(id));
    clock_date(now, now_date, sizeof(now_date));
    clock_date(m->arrival, arrival, sizeof(arrival));
    clock_date(m->arrival + r->p.maximal_queue_lifetime, until, sizeof(until));
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    snprintf(boundary, sizeof(boundary), "%s.%lld/%s", m->id, (long long)now,
             r->p.myhostname);
    strbuf_init(&msg);
    strbuf_printf(&msg,
                  "Received: by %s (Postfix)\r\n\tid %s; %s\r\n"
                  "Date: %s\r\n"
                  "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
                  "Subject: %s\r\n"
                  "To: %s\r\n"
                  "Auto-Submitted: auto-replied\r\n"
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: multipart/report; "
                  "report-type=delivery-status;\r\n"
                  "\tboundary=\"%s\"\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "Message-Id: <%s.%s@%s>\r\n"
                  "\r\n"
                  "This is a MIME-encapsulated message.\r\n"
                  "\r\n",
                  r->p.myhostname, id, now_date, now_date, r->p.myhostname,
                  delayed   ? "Delayed Mail (still being retried)"
                  : relayed ? "Successful Mail Delivery Report"
                            : "Undelivered Mail Returned to Sender",
                  m->sender, boundary, stamp, id, r->p.myhostname);
    strbuf_printf(&msg,
                  "--%s\r\n"
                  "Content-Description: Notification\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "\r\n"
                  "This is the mail system at host %s.\r\n"
                  "\r\n",
                  boundary, r->p.myhostname);
    if (delayed)
        strbuf_printf(
            &msg,
            "################################################################"
            "####\r\n"
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR "
            "MESSAGE. #\r\n"
            "################################################################"
            "####\r\n"
            "\r\n"
            "Your message could not be delivered for more than %ld hour(s)."
            "\r\n"
            "It will be retried until it is %ld day(s) old.\r\n"
            "\r\n",
            r->p.delay_warning_time / 3600,
            r->p.maximal_queue_lifetime / 86400);
    else if (relayed)
        strbuf_puts(&msg, "Your message was successfully delivered to the "
                          "destination(s)\r\n"
                          "listed below. If the message was delivered to "
                          "mailbox you will\r\n"
                          "receive no further notifications. Otherwise you "
                          "may still receive\r\n"
                          "notifications of mail delivery errors from other "
                          "systems.\r\n"
                          "\r\n");
    else
        strbuf_puts(&msg,
                    "I'm sorry to have to inform you that your message could "
                    "not\r\n"
                    "be delivered to one or more recipients. It's attached "
                    "below.\r\n"
                    "\r\n");
    if (!relayed)
        strbuf_puts(&msg,
                    "For further assistance, please send mail to "
                    "postmaster.\r\n"
                    "\r\n"
                    "If you do so, please include this problem report. You "
                    "can\r\n"
                    "delete your own text from the attached returned "
                    "message.\r\n"
                    "\r\n");
    strbuf_puts(&msg, "                   The mail system\r\n"
                      "\r\n");
    /* The recipients the report is about: addr, orig, dsn, reason, diag,
     * remote — from the bounce list, or the pending ones. */
    size_t n = delayed ? m->nrcpt : relayed ? m->nsuccesses : m->nbounces;
    for (size_t i = 0; i < n; i++) {
        const char *reason, *orig,
            *addr = bounce_pick(m, i, kind, &reason, &orig);
        if (addr == NULL)
            continue;
        /* bounce(8)'s bounce_recipient_log(): an address that aliases or
         * virtual aliases made says what it was expanded from. */
        char *line =
            orig != NULL && orig[0] != '\0' && str_casecmp(orig, addr) != 0
                ? xasprintf("<%s> (expanded from <%s>): %s", addr, orig, reason)
                : xasprintf("<%s>: %s", addr, reason);
        bounce_wrap(&msg, line);
        strbuf_puts(&msg, "\r\n");
        free(line);
    }
    strbuf_printf(&msg,
                  "--%s\r\n"
                  "Content-Description: Delivery report\r\n"
                  "Content-Type: message/delivery-status\r\n"
                  "\r\n"
                  "Reporting-MTA: dns; %s\r\n",
                  boundary, r->p.myhostname);
    if (m->dsn_envid != NULL && m->dsn_envid[0] != '\0')
        strbuf_printf(&msg, "Original-Envelope-Id: %s\r\n", m->dsn_envid);
    strbuf_printf(&msg,
                  "X-Postfix-Queue-ID: %s\r\n"
                  "X-Postfix-Sender: rfc822; %s\r\n"
                  "Arrival-Date: %s\r\n"
                  "\r\n",
                  m->id, m->sender, arrival);
    for (size_t i = 0; i < n; i++) {
        const char *addr, *orig, *orcpt, *dsn, *reason, *diag;
        char remote[256] = "";
        if (bounce_pick(m, i, kind, &reason, &orig) == NULL)
            continue;
        if (delayed) {
            const struct queue_rcpt *q = &m->rcpts[i];
            addr = q->addr;
            orig = q->orig;
            orcpt = q->orcpt;
            dsn = q->dsn[0] ? q->dsn : "4.0.0";
            reason = q->reason;
            diag = q->diag;
            /* "host NAME[ip] said: ..." names the remote MTA. */
            if (diag != NULL && strncmp(reason, "host ", 5) == 0)
                snprintf(remote, sizeof(remote), "%.*s",
                         (int)strcspn(reason + 5, "["), reason + 5);
        } else {
            const struct bounce_entry *b =
                relayed ? &m->successes[i] : &m->bounces[i];
            addr = b->addr;
            orig = b->orig;
            orcpt = b->orcpt;
            dsn = b->dsn;
            reason = b->reason;
            diag = b->diag;
            if (b->remote != NULL)
                snprintf(remote, sizeof(remote), "%s", b->remote);
        }
        strbuf_printf(&msg, "Final-Recipient: rfc822; %s\r\n", addr);
        if (orcpt != NULL)
            strbuf_printf(&msg, "Original-Recipient: %s\r\n", orcpt);
        else
            strbuf_printf(&msg, "Original-Recipient: rfc822;%s\r\n", orig);
        strbuf_printf(&msg, "Action: %s\r\nStatus: %s\r\n",
                      delayed   ? "delayed"
                      : relayed ? "relayed"
                                : "failed",
                      dsn);
        /* bounce_recipient_dsn() folds these two as the text above. */
        char *field =
            remote[0] != '\0' ? xasprintf("Remote-MTA: dns; %s", remote) : NULL;
        if (field != NULL)
            bounce_wrap(&msg, field);
        free(field);
        field = diag != NULL
                    ? xasprintf("Diagnostic-Code: smtp; %s", diag)
                    : xasprintf("Diagnostic-Code: X-Postfix; %s", reason);
        bounce_wrap(&msg, field);
        free(field);
        if (delayed)
            strbuf_printf(&msg, "Will-Retry-Until: %s\r\n", until);
        strbuf_puts(&msg, "\r\n");
    }
    /* RFC 3461 section 4.3: RET=HDRS returns the headers only, as a
     * delay warning always does. */
    /* A success notice too, even with RET=FULL (as Postfix 3.7). */
    int headers_only = delayed || relayed || m->dsn_ret == DSN_RET_HDRS;
    strbuf_printf(&msg,
                  "--%s\r\n"
                  "Content-Description: %s%s\r\n"
                  "Content-Type: %s\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "\r\n"
                  "Return-Path: <%s>\r\n",
                  boundary, relayed ? "" : "Undelivered ",
                  headers_only ? "Message Headers" : "Message",
                  headers_only ? "text/rfc822-headers" : "message/rfc822",
                  m->sender);
    if (headers_only) {
        /* The headers only: up to the empty line. */
        const char *end = strstr(data, "\r\n\r\n");
        size_t hl = end ? (size_t)(end - data) + 2 : len;
        strbuf_append(&msg, data, hl);
        strbuf_printf(&msg, "\r\n--%s--\r\n", boundary);
    } else {
        strbuf_append(&msg, data, len);
        strbuf_printf(&msg, "\r\n--%s--\r\n", boundary);
    }
    strlist_init(&to);
    strlist_init(&to_orig);
    strlist_push(&to, m->sender);
    strlist_push(&to_orig, m->sender);
    if (queue_commit(r, id, "", &to, &to_orig, NULL, msg.buf, msg.len) == 0) {
        char msgid[200];
        snprintf(msgid, sizeof(msgid), "<%s.%s@%s>", stamp, id,
                 r->p.myhostname);
        maillog_printf(r->log, "cleanup", "%s: message-id=%s", id, msgid);
        maillog_printf(r->log, "bounce", "%s: sender %s notification: %s",
                       m->id,
                       delayed   ? "delay"
                       : relayed ? "delivery status"
                                 : "non-delivery",
                       id);
        rc = 0;
    }
    strlist_clear(&to);
    strlist_clear(&to_orig);
    strbuf_clear(&msg);
    free(data);
    return rc;
}

int bounce_flush(struct relay *r, struct queue_msg *m)
{
    if (m->nbounces == 0)
        return 0;
    size_t wanted = 0;
    for (size_t i = 0; i < m->nbounces; i++)
        wanted += bounce_wanted(m->bounces[i].notify, DSN_NOTIFY_FAILURE);
    /* No report about a report, nor for NOTIFY=NEVER recipients. */
    if (m->sender[0] == '\0' || wanted == 0) {
        bounce_entries_free(&m->bounces, &m->nbounces);
        return 0;
    }
    if (bounce_report(r, m, BOUNCE_FAILED) < 0)
        return -1;
    bounce_entries_free(&m->bounces, &m->nbounces);
    return 0;
}

int bounce_success_flush(struct relay *r, struct queue_msg *m)
{
    int rc = 0;

    if (m->nsuccesses > 0 && m->sender[0] != '\0')
        rc = bounce_report(r, m, BOUNCE_RELAYED);
    bounce_entries_free(&m->successes, &m->nsuccesses);
    return rc;
}

int bounce_delay_warn(struct relay *r, struct queue_msg *m)
{
    for (size_t i = 0; i < m->nrcpt; i++)
        if (!m->rcpts[i].done && m->rcpts[i].reason != NULL &&
            bounce_wanted(m->rcpts[i].notify, DSN_NOTIFY_DELAY))
            return bounce_report(r, m, BOUNCE_DELAYED);
    return 0;
}
