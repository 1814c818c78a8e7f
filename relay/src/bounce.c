/*
 * bounce.c — non-delivery reports (RFC 3464 multipart/report), laid out
 * as Postfix 3.7's bounce(8) writes them (checked against a private
 * Postfix): the notification text with each recipient's reason wrapped
 * at 76 columns, the message/delivery-status part, and the returned
 * message with its Return-Path. The report is queued durably like any
 * message, from the null sender; a message from the null sender gets no
 * report (notify_classes leaves out double bounces by default).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mxlab/clock.h"
#include "mxlab/maillog.h"
#include "mxlab/xmem.h"
#include "relay_int.h"

#define BOUNCE_WRAP 76

void bounce_add(struct queue_msg *m, const struct queue_rcpt *qr,
                const char *dsn, const char *reason, const char *diag,
                const char *remote)
{
    struct bounce_entry *b;

    m->bounces = xrealloc(m->bounces, (m->nbounces + 1) * sizeof(*b));
    b = &m->bounces[m->nbounces++];
    memset(b, 0, sizeof(*b));
    b->addr = xstrdup(qr->addr);
    b->orig = xstrdup(qr->orig);
    snprintf(b->dsn, sizeof(b->dsn), "%s", dsn);
    b->reason = xstrdup(reason ? reason : "");
    b->diag = diag ? xstrdup(diag) : NULL;
    b->remote = remote ? xstrdup(remote) : NULL;
}

void bounce_clear(struct queue_msg *m)
{
    for (size_t i = 0; i < m->nbounces; i++) {
        free(m->bounces[i].addr);
        free(m->bounces[i].orig);
        free(m->bounces[i].reason);
        free(m->bounces[i].diag);
        free(m->bounces[i].remote);
    }
    free(m->bounces);
    m->bounces = NULL;
    m->nbounces = 0;
}

/* "<rcpt>: reason", folded at 76 columns with a 4-space indent. */
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

static void bounce_date(time_t t, char *buf, size_t len)
{
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z (%Z)", &tm);
}

int bounce_flush(struct relay *r, struct queue_msg *m)
{
    struct strbuf msg;
    struct strlist rcpt, orig;
    char id[16], now_date[80], arrival[80], stamp[32], boundary[200];
    char *data = NULL;
    size_t len = 0;
    time_t now = clock_time();
    struct tm tm;
    int rc = -1;

    if (m->nbounces == 0)
        return 0;
    if (m->sender[0] == '\0') {
        bounce_clear(m); /* no report about a report */
        return 0;
    }
    if (queue_read_data(r, m, &data, &len) < 0)
        return -1;
    queue_new_id(r, id, sizeof(id));
    bounce_date(now, now_date, sizeof(now_date));
    bounce_date(m->arrival, arrival, sizeof(arrival));
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    snprintf(boundary, sizeof(boundary), "%s.%lld/%s", m->id, (long long)now,
             r->p.myhostname);
    strbuf_init(&msg);
    strbuf_printf(&msg,
                  "Received: by %s (Postfix)\r\n\tid %s; %s\r\n"
                  "Date: %s\r\n"
                  "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
                  "Subject: Undelivered Mail Returned to Sender\r\n"
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
                  m->sender, boundary, stamp, id, r->p.myhostname);
    strbuf_printf(&msg,
                  "--%s\r\n"
                  "Content-Description: Notification\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "\r\n"
                  "This is the mail system at host %s.\r\n"
                  "\r\n"
                  "I'm sorry to have to inform you that your message could "
                  "not\r\n"
                  "be delivered to one or more recipients. It's attached "
                  "below.\r\n"
                  "\r\n"
                  "For further assistance, please send mail to "
                  "postmaster.\r\n"
                  "\r\n"
                  "If you do so, please include this problem report. You "
                  "can\r\n"
                  "delete your own text from the attached returned "
                  "message.\r\n"
                  "\r\n"
                  "                   The mail system\r\n"
                  "\r\n",
                  boundary, r->p.myhostname);
    for (size_t i = 0; i < m->nbounces; i++) {
        char *line =
            xasprintf("<%s>: %s", m->bounces[i].addr, m->bounces[i].reason);
        bounce_wrap(&msg, line);
        strbuf_puts(&msg, "\r\n");
        free(line);
    }
    strbuf_printf(&msg,
                  "--%s\r\n"
                  "Content-Description: Delivery report\r\n"
                  "Content-Type: message/delivery-status\r\n"
                  "\r\n"
                  "Reporting-MTA: dns; %s\r\n"
                  "X-Postfix-Queue-ID: %s\r\n"
                  "X-Postfix-Sender: rfc822; %s\r\n"
                  "Arrival-Date: %s\r\n"
                  "\r\n",
                  boundary, r->p.myhostname, m->id, m->sender, arrival);
    for (size_t i = 0; i < m->nbounces; i++) {
        const struct bounce_entry *b = &m->bounces[i];
        strbuf_printf(&msg,
                      "Final-Recipient: rfc822; %s\r\n"
                      "Original-Recipient: rfc822;%s\r\n"
                      "Action: failed\r\n"
                      "Status: %s\r\n",
                      b->addr, b->orig, b->dsn);
        if (b->remote != NULL)
            strbuf_printf(&msg, "Remote-MTA: dns; %s\r\n", b->remote);
        if (b->diag != NULL)
            strbuf_printf(&msg, "Diagnostic-Code: smtp; %s\r\n", b->diag);
        else
            strbuf_printf(&msg, "Diagnostic-Code: X-Postfix; %s\r\n",
                          b->reason);
        strbuf_puts(&msg, "\r\n");
    }
    strbuf_printf(&msg,
                  "--%s\r\n"
                  "Content-Description: Undelivered Message\r\n"
                  "Content-Type: message/rfc822\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "\r\n"
                  "Return-Path: <%s>\r\n",
                  boundary, m->sender);
    strbuf_append(&msg, data, len);
    strbuf_printf(&msg, "\r\n--%s--\r\n", boundary);
    strlist_init(&rcpt);
    strlist_init(&orig);
    strlist_push(&rcpt, m->sender);
    strlist_push(&orig, m->sender);
    if (queue_commit(r, id, "", &rcpt, &orig, msg.buf, msg.len) == 0) {
        char msgid[200];
        snprintf(msgid, sizeof(msgid), "<%s.%s@%s>", stamp, id,
                 r->p.myhostname);
        maillog_printf(r->log, "cleanup", "%s: message-id=%s", id, msgid);
        maillog_printf(r->log, "bounce",
                       "%s: sender non-delivery notification: %s", m->id, id);
        bounce_clear(m);
        rc = 0;
    }
    strlist_clear(&rcpt);
    strlist_clear(&orig);
    strbuf_clear(&msg);
    free(data);
    return rc;
}
