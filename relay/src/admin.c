/*
 * admin.c — the admin commands, with Postfix's forms and output
 * (postqueue(1) -p/-f, postsuper(1) -d/-r, mailq), on the relay's own
 * queue. The listing follows Postfix 3.7's showq output byte for byte
 * (checked with its 11-character queue IDs, which the relay's IDs have
 * too): "%-10s%c%8ld %s  %s" (ID, status '*' active / '!' hold / ' ', size,
 *   arrival as "Mon Nov 23 08:11:31", sender), each deferral reason in
 *   parentheses after 76 - length spaces (none when longer)
 *   above the recipients it applies to,
 *   recipients at column 42, a blank line, and "-- N Kbytes in N
 *   Request(s)." or "Mail queue is empty".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "mxlab/config.h"
#include "mxlab/maillog.h"
#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "params.h"
#include "qmgr.h"
#include "queue.h"
#include "relay.h"
#include "rewrite.h"

/* fn(arg, m) for every message, as showq lists them: the active queue
 * in arrival order, then deferred/ and hold/ oldest first (read from the
 * files: fn must not change the queue). Stops at a non-zero return. */
static int relay_each_msg(struct relay *r, queue_each_fn *fn, void *arg)
{
    int rc = 0;

    for (struct queue_msg *m = r->queue; m != NULL && rc == 0; m = m->next)
        if (!m->deleted)
            rc = fn(arg, m);
    for (int state = QUEUE_DEFERRED; state <= QUEUE_HOLD && rc == 0; state++)
        rc = queue_each_on_disk(r, state, fn, arg);
    return rc;
}

struct relay_listing {
    struct strbuf *out;
    size_t total, count;
};

static int relay_mailq_one(void *arg, struct queue_msg *m)
{
    struct relay_listing *l = arg;
    struct strbuf *out = l->out;
    char when[32];
    struct tm tm;
    char status = m->state == QUEUE_HOLD ? '!' : m->in_delivery ? '*' : ' ';

    localtime_r(&m->arrival, &tm);
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
    strbuf_printf(out, "%-10s%c%8zu %s  %s\n", m->id, status, m->size, when,
                  m->sender[0] ? m->sender : "MAILER-DAEMON");
    /* Recipients grouped under their reason, in first-seen order. */
    int *shown = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*shown));
    for (size_t i = 0; i < m->nrcpt; i++) {
        const char *reason = m->rcpts[i].reason;
        if (shown[i] || m->rcpts[i].done)
            continue;
        /* Postfix pads "(reason)" with 76 - length spaces; a longer
         * one starts at column 1 (as seed 000 shows it). */
        if (reason != NULL) {
            int pad = 76 - (int)strlen(reason);
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
    l->total += m->size;
    l->count++;
    return 0;
}

int relay_mailq(struct relay *r, struct strbuf *out)
{
    struct strbuf body;
    struct relay_listing l = {&body, 0, 0};

    strbuf_init(&body);
    relay_each_msg(r, relay_mailq_one, &l);
    if (l.count == 0) {
        strbuf_puts(out, "Mail queue is empty\n");
    } else {
        strbuf_puts(out, "-Queue ID-  --Size-- ----Arrival Time---- "
                         "-Sender/Recipient-------\n");
        strbuf_append(out, body.buf, body.len);
        strbuf_printf(out, "-- %zu Kbytes in %zu Request%s.\n", l.total / 1024,
                      l.count, l.count == 1 ? "" : "s");
    }
    strbuf_clear(&body);
    return 0;
}

/* The queue a message is in, as Postfix names them. */
static const char *relay_queue_name(const struct queue_msg *m)
{
    if (m->state == QUEUE_HOLD)
        return "hold";
    if (m->state == QUEUE_DEFERRED)
        return "deferred";
    return "active";
}

/* An admin action on the messages named by id ("ALL": every one) within
 * queue (NULL: any). */
struct relay_each {
    struct relay *r;
    const char *id, *queue;
    int (*fn)(struct relay *, struct queue_msg *);
    size_t n;
};

static int relay_each_wants(const struct relay_each *e,
                            const struct queue_msg *m)
{
    if (m->deleted)
        return 0;
    if (strcmp(e->id, "ALL") != 0 && strcmp(e->id, m->id) != 0)
        return 0;
    return e->queue == NULL || strcmp(e->queue, relay_queue_name(m)) == 0;
}

static int relay_each_disk(void *arg, struct queue_msg *m)
{
    struct relay_each *e = arg;

    if (relay_each_wants(e, m) && e->fn(e->r, m) == 0)
        e->n++;
    return 0;
}

/* Apply fn to the message named id, or to all of them for "ALL", within
 * the named queue if queue is not NULL. The active queue's messages are
 * chosen first: fn may add messages (requeue) or remove them. */
static int relay_each_in(struct relay *r, const char *id, const char *queue,
                         size_t *n,
                         int (*fn)(struct relay *, struct queue_msg *))
{
    struct relay_each e = {r, id, queue, fn, 0};
    struct queue_msg **chosen = NULL;
    size_t k = 0;

    for (struct queue_msg *m = r->queue; m != NULL; m = m->next) {
        if (!relay_each_wants(&e, m))
            continue;
        chosen = xrealloc(chosen, (k + 1) * sizeof(*chosen));
        chosen[k++] = m;
    }
    for (size_t i = 0; i < k; i++)
        if (fn(r, chosen[i]) == 0)
            e.n++;
    free(chosen);
    if (strcmp(id, "ALL") != 0) {
        struct queue_msg *m = k == 0 ? queue_find_on_disk(r, id) : NULL;
        if (m != NULL) {
            relay_each_disk(&e, m);
            queue_msg_free(m);
        }
    } else {
        for (int state = QUEUE_DEFERRED; state <= QUEUE_HOLD; state++)
            queue_each_on_disk(r, state, relay_each_disk, &e);
    }
    *n = e.n;
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
int relay_postsuper_delete(struct relay *r, const char *id, const char *queue,
                           size_t *n, struct strbuf *msg)
{
    relay_each_in(r, id, queue, n, relay_delete_one);
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

int relay_postsuper_requeue(struct relay *r, const char *id, const char *queue,
                            size_t *n)
{
    relay_each_in(r, id, queue, n, relay_requeue_one);
    if (*n > 0)
        maillog_printf(r->log, "postsuper", "Requeued: %zu message%s", *n,
                       *n == 1 ? "" : "s");
    qmgr_schedule(r);
    relay_changed(r);
    return 0;
}

static int relay_hold_one(struct relay *r, struct queue_msg *m)
{
    return queue_hold(r, m, 1);
}

static int relay_release_one(struct relay *r, struct queue_msg *m)
{
    return queue_hold(r, m, 0);
}

/* postsuper -h / -H ID|ALL [queue]: as Postfix 3.7, a named message is
 * reported on its own, and the count always ("Placed on hold: 0
 * messages" included), on standard error and in the log. */
static void relay_postsuper_hold(struct relay *r, const char *id,
                                 const char *queue, int hold,
                                 struct strbuf *err)
{
    size_t n = 0;

    relay_each_in(r, id, queue, &n, hold ? relay_hold_one : relay_release_one);
    if (n > 0 && strcmp(id, "ALL") != 0) {
        maillog_printf(r->log, "postsuper", "%s: %s", id,
                       hold ? "placed on hold" : "released from hold");
        strbuf_printf(err, "postsuper: %s: %s\n", id,
                      hold ? "placed on hold" : "released from hold");
    }
    maillog_printf(r->log, "postsuper", "%s: %zu message%s",
                   hold ? "Placed on hold" : "Released from hold", n,
                   n == 1 ? "" : "s");
    strbuf_printf(err, "postsuper: %s: %zu message%s\n",
                  hold ? "Placed on hold" : "Released from hold", n,
                  n == 1 ? "" : "s");
    qmgr_schedule(r);
    relay_changed(r);
}

/* postqueue -j: one JSON object per message, Postfix 3.7's keys. */
static int relay_json_one(void *arg, struct queue_msg *m)
{
    struct strbuf *out = arg;
    int first = 1;

    strbuf_printf(out,
                  "{\"queue_name\": \"%s\", \"queue_id\": \"%s\", "
                  "\"arrival_time\": %lld, \"message_size\": %zu, "
                  "\"forced_expire\": false, \"sender\": ",
                  relay_queue_name(m), m->id, (long long)m->arrival, m->size);
    strbuf_put_json(out, m->sender, strlen(m->sender));
    strbuf_puts(out, ", \"recipients\": [");
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (m->rcpts[i].done)
            continue;
        strbuf_puts(out, first ? "{\"address\": " : ", {\"address\": ");
        strbuf_put_json(out, m->rcpts[i].addr, strlen(m->rcpts[i].addr));
        if (m->rcpts[i].reason != NULL) {
            strbuf_puts(out, ", \"delay_reason\": ");
            strbuf_put_json(out, m->rcpts[i].reason,
                            strlen(m->rcpts[i].reason));
        }
        strbuf_putc(out, '}');
        first = 0;
    }
    strbuf_puts(out, "]}\n");
    return 0;
}

/* postcat -q ID: the envelope and the content, in postcat's layout (the
 * records the relay keeps: arrival, sender, each pending recipient with
 * its original address). */
static int relay_postcat(struct relay *r, const char *id, struct strbuf *out,
                         struct strbuf *err)
{
    struct queue_msg *m, *loaded = NULL;
    char *data = NULL, when[64];
    size_t len = 0;
    struct tm tm;

    for (m = r->queue; m != NULL; m = m->next)
        if (!m->deleted && strcmp(m->id, id) == 0)
            break;
    if (m == NULL)
        m = loaded = queue_find_on_disk(r, id);
    if (m == NULL || queue_read_data(r, m, &data, &len) < 0) {
        strbuf_printf(err,
                      "postcat: fatal: open queue file %s: No such "
                      "file or directory\n",
                      id);
        if (loaded != NULL)
            queue_msg_free(loaded);
        return 1;
    }
    const char *q = m->state == QUEUE_HOLD       ? "hold"
                    : m->state == QUEUE_DEFERRED ? "deferred"
                                                 : "active";
    localtime_r(&m->arrival, &tm);
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
    strbuf_printf(out, "*** ENVELOPE RECORDS %s/%s ***\n", q, m->id);
    strbuf_printf(out, "message_arrival_time: %s\n", when);
    strbuf_printf(out, "sender: %s\n", m->sender);
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (m->rcpts[i].done)
            continue;
        strbuf_printf(out, "original_recipient: %s\nrecipient: %s\n",
                      m->rcpts[i].orig, m->rcpts[i].addr);
    }
    strbuf_printf(out, "*** MESSAGE CONTENTS %s/%s ***\n", q, m->id);
    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        strbuf_append(out, p, n > 0 && p[n - 1] == '\r' ? n - 1 : n);
        strbuf_putc(out, '\n');
        p = nl ? nl + 1 : end;
    }
    strbuf_printf(out, "*** HEADER EXTRACTED %s/%s ***\n", q, m->id);
    strbuf_printf(out, "*** MESSAGE FILE END %s/%s ***\n", q, m->id);
    free(data);
    if (loaded != NULL)
        queue_msg_free(loaded);
    return 0;
}

struct relay_site {
    struct relay *r;
    const char *site;
};

static int relay_flush_site_one(void *arg, struct queue_msg *m)
{
    struct relay_site *rs = arg;

    for (size_t i = 0; i < m->nrcpt; i++)
        if (!m->rcpts[i].done &&
            str_casecmp(smtp_addr_domain(m->rcpts[i].addr), rs->site) == 0) {
            queue_make_due(rs->r, m); /* a file just gone: nothing to do */
            break;
        }
    return 0;
}

/* postqueue -s SITE: deliver now what waits for SITE, when SITE is one
 * of fast_flush_domains (default $relay_domains), else Postfix's fatal
 * error. */
int relay_flush_site(struct relay *r, const char *site, struct strbuf *err)
{
    if (!rewrite_domain_listed(r, &r->p.fast_flush_domains, site)) {
        strbuf_printf(err,
                      "postqueue: fatal: Flush service is not configured for "
                      "destination \"%s\"\n",
                      site);
        return 1;
    }
    struct relay_site rs = {r, site};
    queue_each_on_disk(r, QUEUE_DEFERRED, relay_flush_site_one, &rs);
    qmgr_schedule(r);
    return 0;
}

static void relay_postconf_line(void *arg, const char *name, const char *raw)
{
    strbuf_printf(arg, "%s = %s\n", name, raw);
}

/* postconf -n | -d NAME... | NAME...: main.cf's settings, the relay's
 * defaults, or a parameter's value as written (else its default). */
static int relay_postconf(struct relay *r, const struct strlist *w,
                          struct strbuf *out, struct strbuf *err)
{
    size_t i = 1;
    int defaults = 0;

    if (w->n == 2 && strcmp(w->v[1], "-n") == 0) {
        config_each_set(r->cf, relay_postconf_line, out);
        return 0;
    }
    if (i < w->n && strcmp(w->v[i], "-d") == 0) {
        defaults = 1;
        i++;
    }
    for (; i < w->n; i++) {
        const char *v = defaults ? relay_params_default(w->v[i])
                        : config_is_set(r->cf, w->v[i])
                            ? config_raw(r->cf, w->v[i])
                            : relay_params_default(w->v[i]);
        if (v == NULL)
            strbuf_printf(err, "postconf: warning: %s: unknown parameter\n",
                          w->v[i]);
        else
            strbuf_printf(out, "%s = %s\n", w->v[i], v);
    }
    return 0;
}

static void relay_postmap_line(void *arg, const char *key, const char *value)
{
    strbuf_printf(arg, "%s\t%s\n", key, value);
}

/* postmap/postalias [-q KEY | -s] TABLE: a query, a dump, or (without
 * an option) a check of the file: mxlab reads the text form directly,
 * so "building" a table is reading it, and the running relay takes the
 * new table (relay_tables_changed). A table without "type:" is hash:.
 * Relative names are taken from the config directory. */
static int relay_postmap(struct relay *r, const struct strlist *w,
                         struct strbuf *out, struct strbuf *err)
{
    const char *prog = w->v[0], *key = NULL, *table;
    int dump = 0, alias = strcmp(prog, "postalias") == 0;
    char merr[600];
    char *spec;
    struct map *m;
    int rc = 0;

    if (w->n == 4 && strcmp(w->v[1], "-q") == 0) {
        key = w->v[2];
        table = w->v[3];
    } else if (w->n == 3 && strcmp(w->v[1], "-s") == 0) {
        dump = 1;
        table = w->v[2];
    } else if (w->n == 2 && w->v[1][0] != '-') {
        table = w->v[1];
    } else {
        strbuf_printf(err, "usage: %s [-q KEY | -s] [type:]FILE\n", prog);
        return 64;
    }
    spec = strchr(table, ':') ? xstrdup(table) : xasprintf("hash:%s", table);
    m = map_open_flags(spec, r->config_dir, alias ? MAP_ALIASES : 0, merr,
                       sizeof(merr));
    if (m == NULL) {
        strbuf_printf(err, "%s: fatal: %s\n", prog, merr);
        free(spec);
        return 1;
    }
    if (key != NULL) {
        const char *v = map_lookup(m, key);
        if (v != NULL)
            strbuf_printf(out, "%s\n", v);
        rc = v != NULL ? 0 : 1;
    } else if (dump) {
        map_each(m, relay_postmap_line, out);
    }
    map_free(m);
    free(spec);
    if (key == NULL && !dump &&
        relay_tables_changed(r, merr, sizeof(merr)) < 0) {
        /* built, but the configuration no longer loads: say so, as a
         * restarting Postfix daemon would log its fatal error */
        strbuf_printf(err, "%s: warning: %s\n", prog, merr);
    }
    return rc;
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
    } else if (w.n == 2 && strcmp(w.v[0], "postfix") == 0 &&
               strcmp(w.v[1], "reload") == 0) {
        /* postfix(1) reload: postfix-script's message goes to the mail
         * log (to stderr only on a terminal), then master's. */
        char rerr[1024];
        maillog_printf(r->log, "postfix-script",
                       "refreshing the Postfix mail system");
        if (relay_reload(r, rerr, sizeof(rerr)) < 0) {
            strbuf_printf(err, "postfix: fatal: %s\n", rerr);
            rc = 1;
        } else {
            rc = 0;
        }
    } else if (w.n >= 2 && strcmp(w.v[0], "postconf") == 0) {
        rc = relay_postconf(r, &w, out, err);
    } else if (w.n >= 2 && (strcmp(w.v[0], "postmap") == 0 ||
                            strcmp(w.v[0], "postalias") == 0)) {
        rc = relay_postmap(r, &w, out, err);
    } else if (w.n == 1 && strcmp(w.v[0], "newaliases") == 0) {
        /* Every table of alias_database, checked. */
        rc = 0;
        for (size_t i = 0; i < r->p.alias_maps.n && rc == 0; i++) {
            struct strlist one;
            strlist_init(&one);
            strlist_push(&one, "postalias");
            strlist_push(&one, r->p.alias_maps.v[i]);
            if (strncmp(r->p.alias_maps.v[i], "nis:", 4) != 0)
                rc = relay_postmap(r, &one, out, err);
            strlist_clear(&one);
        }
    } else if (w.n == 2 && strcmp(w.v[0], "postqueue") == 0 &&
               strcmp(w.v[1], "-j") == 0) {
        rc = relay_each_msg(r, relay_json_one, out);
    } else if (w.n == 3 && strcmp(w.v[0], "postqueue") == 0 &&
               strcmp(w.v[1], "-s") == 0) {
        rc = relay_flush_site(r, w.v[2], err);
    } else if (w.n == 3 && strcmp(w.v[0], "postcat") == 0 &&
               strcmp(w.v[1], "-q") == 0) {
        rc = relay_postcat(r, w.v[2], out, err);
    } else if ((w.n == 3 || w.n == 4) && strcmp(w.v[0], "postsuper") == 0 &&
               (strcmp(w.v[1], "-h") == 0 || strcmp(w.v[1], "-H") == 0)) {
        relay_postsuper_hold(r, w.v[2], w.n == 4 ? w.v[3] : NULL,
                             w.v[1][1] == 'h', err);
        rc = 0;
    } else if ((w.n == 3 || w.n == 4) && strcmp(w.v[0], "postsuper") == 0 &&
               (strcmp(w.v[1], "-d") == 0 || strcmp(w.v[1], "-r") == 0)) {
        int del = w.v[1][1] == 'd';
        const char *queue = w.n == 4 ? w.v[3] : NULL;
        if (del)
            relay_postsuper_delete(r, w.v[2], queue, &n, err);
        else
            relay_postsuper_requeue(r, w.v[2], queue, &n);
        if (n > 0)
            strbuf_printf(err, "postsuper: %s: %zu message%s\n",
                          del ? "Deleted" : "Requeued", n, n == 1 ? "" : "s");
        rc = 0;
    } else {
        strbuf_printf(err,
                      "%s: usage: mailq | postqueue -p|-j|-f | postqueue -s "
                      "SITE | postsuper -d|-r|-h|-H ID|ALL [QUEUE] | postcat "
                      "-q ID | postconf -n|[-d] NAME... | postmap|postalias "
                      "[-q KEY|-s] TABLE | newaliases | postfix reload\n",
                      w.n ? w.v[0] : "admin");
    }
    strlist_clear(&w);
    return rc;
}
