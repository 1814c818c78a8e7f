/*
 * admin.c — the admin commands, with Postfix's forms and output
 * (postqueue(1) -p/-f, postsuper(1) -d/-r, mailq), on the relay's own
 * queue. The listing follows Postfix 3.7's showq output byte for byte:
 *   "%-11s%c%7ld %s  %s" (ID, status '*' active / '!' hold / ' ', size,
 *   arrival as "Mon Nov 23 08:11:31", sender), each deferral reason in
 *   parentheses right-aligned to column 77 (not indented when longer)
 *   above the recipients it applies to,
 *   recipients at column 42, a blank line, and "-- N Kbytes in N
 *   Request(s)." or "Mail queue is empty".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mxlab/maillog.h"
#include "mxlab/xmem.h"
#include "relay_int.h"

int relay_mailq(struct relay *r, struct strbuf *out)
{
    size_t total = 0, count = 0;

    if (r->queue == NULL) {
        strbuf_puts(out, "Mail queue is empty\n");
        return 0;
    }
    strbuf_puts(out, "-Queue ID-  --Size-- ----Arrival Time---- "
                     "-Sender/Recipient-------\n");
    for (const struct queue_msg *m = r->queue; m != NULL; m = m->next) {
        char when[32];
        struct tm tm;
        char status = m->state == QUEUE_HOLD ? '!' : m->in_delivery ? '*' : ' ';
        if (m->deleted)
            continue;
        localtime_r(&m->arrival, &tm);
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
        strbuf_printf(out, "%-11s%c%7zu %s  %s\n", m->id, status, m->size, when,
                      m->sender[0] ? m->sender : "MAILER-DAEMON");
        /* Recipients grouped under their reason, in first-seen order. */
        int *shown = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*shown));
        for (size_t i = 0; i < m->nrcpt; i++) {
            const char *reason = m->rcpts[i].reason;
            if (shown[i] || m->rcpts[i].done)
                continue;
            /* Postfix right-aligns "(reason)" to end at column 77; a
             * longer one starts at column 1 (as seed 000 shows it). */
            if (reason != NULL) {
                int pad = 77 - (int)strlen(reason) - 2;
                strbuf_printf(out, "%*s(%s)\n", pad > 0 ? pad : 0, "", reason);
            }
            for (size_t k = i; k < m->nrcpt; k++) {
                const char *rk = m->rcpts[k].reason;
                if (shown[k] || m->rcpts[k].done)
                    continue;
                if ((reason == NULL) != (rk == NULL) ||
                    (reason && strcmp(reason, rk) != 0))
                    continue;
                strbuf_printf(out, "%41s%s\n", "", m->rcpts[k].addr);
                shown[k] = 1;
            }
        }
        free(shown);
        strbuf_putc(out, '\n');
        total += m->size;
        count++;
    }
    strbuf_printf(out, "-- %zu Kbytes in %zu Request%s.\n", total / 1024, count,
                  count == 1 ? "" : "s");
    return 0;
}

/* Apply fn to the message named id, or to all of them for "ALL". The
 * messages are chosen first: fn may add messages (requeue) or remove
 * them. */
static int relay_each(struct relay *r, const char *id, size_t *n,
                      int (*fn)(struct relay *, struct queue_msg *))
{
    struct queue_msg **chosen = NULL;
    size_t k = 0;

    *n = 0;
    for (struct queue_msg *m = r->queue; m != NULL; m = m->next) {
        if (m->deleted)
            continue;
        if (strcmp(id, "ALL") != 0 && strcmp(id, m->id) != 0)
            continue;
        chosen = xrealloc(chosen, (k + 1) * sizeof(*chosen));
        chosen[k++] = m;
    }
    for (size_t i = 0; i < k; i++)
        if (fn(r, chosen[i]) == 0)
            (*n)++;
    free(chosen);
    return 0;
}

static int relay_delete_one(struct relay *r, struct queue_msg *m)
{
    queue_delete(r, m);
    return 0;
}

static int relay_requeue_one(struct relay *r, struct queue_msg *m)
{
    return queue_requeue(r, m);
}

/* As Postfix 3.7's postsuper: a message named by its ID is reported
 * ("ID: removed") in the log and on standard error (msg); with ALL only
 * the count is. */
int relay_postsuper_delete(struct relay *r, const char *id, size_t *n,
                           struct strbuf *msg)
{
    relay_each(r, id, n, relay_delete_one);
    if (*n > 0 && strcmp(id, "ALL") != 0) {
        maillog_printf(r->log, "postsuper", "%s: removed", id);
        if (msg != NULL)
            strbuf_printf(msg, "postsuper: %s: removed\n", id);
    }
    if (*n > 0)
        maillog_printf(r->log, "postsuper", "Deleted: %zu message%s", *n,
                       *n == 1 ? "" : "s");
    relay_changed(r);
    return 0;
}

int relay_postsuper_requeue(struct relay *r, const char *id, size_t *n)
{
    relay_each(r, id, n, relay_requeue_one);
    if (*n > 0)
        maillog_printf(r->log, "postsuper", "Requeued: %zu message%s", *n,
                       *n == 1 ? "" : "s");
    qmgr_schedule(r);
    relay_changed(r);
    return 0;
}

int relay_admin(struct relay *r, const char *cmdline, struct strbuf *out,
                struct strbuf *err)
{
    struct strlist w;
    int rc = 64;
    size_t n = 0;

    strlist_init(&w);
    strlist_split(&w, cmdline);
    if (w.n == 1 && strcmp(w.v[0], "mailq") == 0) {
        rc = relay_mailq(r, out);
    } else if (w.n == 2 && strcmp(w.v[0], "postqueue") == 0 &&
               strcmp(w.v[1], "-p") == 0) {
        rc = relay_mailq(r, out);
    } else if (w.n == 2 && strcmp(w.v[0], "postqueue") == 0 &&
               strcmp(w.v[1], "-f") == 0) {
        relay_flush(r);
        rc = 0;
    } else if (w.n == 3 && strcmp(w.v[0], "postsuper") == 0 &&
               (strcmp(w.v[1], "-d") == 0 || strcmp(w.v[1], "-r") == 0)) {
        int del = w.v[1][1] == 'd';
        if (del)
            relay_postsuper_delete(r, w.v[2], &n, err);
        else
            relay_postsuper_requeue(r, w.v[2], &n);
        if (n > 0)
            strbuf_printf(err, "postsuper: %s: %zu message%s\n",
                          del ? "Deleted" : "Requeued", n, n == 1 ? "" : "s");
        rc = 0;
    } else {
        strbuf_printf(err,
                      "%s: usage: mailq | postqueue -p | postqueue -f | "
                      "postsuper -d ID|ALL | postsuper -r ID|ALL\n",
                      w.n ? w.v[0] : "admin");
    }
    strlist_clear(&w);
    return rc;
}
