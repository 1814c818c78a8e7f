/*
 * local.c — delivery to the local class (mydestination), as Postfix's
 * local(8) does it for addresses: alias_maps first (aliases(5); the
 * expansion is queued again as a new message, "forwarded as ID", with
 * bare names qualified with $myorigin), then the user of the passwd table
 * (mxlab_passwd_file) gets the message in a Maildir or an mbox:
 * home_mailbox under the home directory, else mail_spool_directory/USER
 * (a Maildir when the name ends in '/'). Return-Path, X-Original-To and
 * Delivered-To are prepended; a Delivered-To already present for the same
 * address is a forwarding loop (5.4.6). With mailbox_transport (or a
 * mailbox_transport_maps entry for the user) the mailbox delivery is
 * handed to that transport instead, before the passwd lookup, as
 * local(8)'s deliver_mailbox() does. Files and commands as alias targets
 * are not delivered by the lab: those recipients bounce with the reason
 * said.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/map.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"
#include "queue.h"
#include "relay.h"
#include "rewrite.h"
#include "smtpc.h"
#include "table.h"

static void local_result(struct smtpc_rcpt *rc, int status, const char *dsn,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void local_result(struct smtpc_rcpt *rc, int status, const char *dsn,
                         const char *fmt, ...)
{
    va_list ap;
    struct strbuf b;

    strbuf_init(&b);
    va_start(ap, fmt);
    strbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    rc->status = status;
    snprintf(rc->dsn, sizeof(rc->dsn), "%s", dsn);
    free(rc->reply);
    rc->reply = strbuf_detach(&b);
}

/* Look key up in every table of the parameter; 1 found (value in *out,
 * borrowed), 0 not found, -1 a table could not be opened. */
static int local_lookup(struct relay *r, const struct strlist *tables,
                        const char *key, const char **out)
{
    for (size_t i = 0; i < tables->n; i++) {
        struct map *m = table_get(r, tables->v[i]);
        if (m == NULL)
            return -1;
        if ((*out = map_lookup(m, key)) != NULL)
            return 1;
    }
    return 0;
}

/* 1 if the header block of data has "Delivered-To: addr". */
static int local_delivered_to(const char *data, size_t len, const char *addr)
{
    size_t alen = strlen(addr);

    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* end of headers */
        if (n >= 13 + alen && str_ncasecmp(p, "Delivered-To:", 13) == 0) {
            const char *v = p + 13;
            while (*v == ' ' || *v == '\t')
                v++;
            if ((size_t)(p + n - v) == alen && str_ncasecmp(v, addr, alen) == 0)
                return 1;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return 0;
}

/* The message as a mailbox stores it: the delivery headers, then the
 * content with LF line ends; mbox adds the "From " line and quoting. */
static void local_format(struct strbuf *out, const struct queue_msg *m,
                         const char *addr, const char *orig, const char *data,
                         size_t len, int mbox)
{
    if (mbox) {
        time_t now = clock_time();
        char when[32];
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
        strbuf_printf(out, "From %s  %s\n",
                      m->sender[0] ? m->sender : "MAILER-DAEMON", when);
    }
    strbuf_printf(out,
                  "Return-Path: <%s>\nX-Original-To: %s\n"
                  "Delivered-To: %s\n",
                  m->sender, orig, addr);
    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t keep = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
        if (mbox && keep >= 5 && memcmp(p, "From ", 5) == 0)
            strbuf_putc(out, '>');
        strbuf_append(out, p, keep);
        strbuf_putc(out, '\n');
        p = nl ? nl + 1 : end;
    }
    if (mbox)
        strbuf_putc(out, '\n');
}

/* Maildir: tmp/NAME, fsync, link into new/ (maildir(5)). */
static int local_maildir(struct relay *r, const char *dir, const char *text,
                         size_t len, char *why, size_t whylen)
{
    static unsigned long seq;
    struct timeval now;
    char *tmp = NULL, *dst = NULL, *sub;
    int rc = -1;

    clock_now(&now);
    for (int i = 0; i < 3; i++) {
        static const char *subs[] = {"tmp", "new", "cur"};
        sub = xasprintf("%s/%s", dir, subs[i]);
        if (fs_mkdir_p(sub, 0700) < 0) {
            snprintf(why, whylen, "create maildir file %s: %s", sub,
                     strerror(errno));
            free(sub);
            return -1;
        }
        free(sub);
    }
    tmp = xasprintf("%s/tmp/%ld.P%ldQ%lu.%s", dir, (long)now.tv_sec,
                    (long)getpid(), ++seq, r->p.myhostname);
    dst = xasprintf("%s/new/%ld.P%ldQ%lu.%s", dir, (long)now.tv_sec,
                    (long)getpid(), seq, r->p.myhostname);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || fs_write_all(fd, text, len) < 0 || fsync(fd) < 0) {
        snprintf(why, whylen, "create maildir file %s: %s", tmp,
                 strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    } else if (rename(tmp, dst) < 0) {
        snprintf(why, whylen, "rename maildir file %s: %s", tmp,
                 strerror(errno));
        unlink(tmp);
    } else {
        /* Durable in new/ before the queue forgets the message. */
        char *newdir = xasprintf("%s/new", dir);
        rc = fs_fsync_dir(newdir) < 0 ? -1 : 0;
        if (rc < 0)
            snprintf(why, whylen, "sync maildir %s: %s", newdir,
                     strerror(errno));
        free(newdir);
    }
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(dst);
    return rc;
}

static int local_mbox(const char *path, const char *text, size_t len, char *why,
                      size_t whylen)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int fd, rc = -1;

    if (slash != NULL && slash != dir) {
        *slash = '\0';
        (void)fs_mkdir_p(dir, 0700);
    }
    free(dir);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fs_write_all(fd, text, len) < 0 || fsync(fd) < 0)
        snprintf(why, whylen, "cannot update mailbox %s: %s", path,
                 strerror(errno));
    else
        rc = 0;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Deliver to the mailbox of user (pw: the passwd line). */
static void local_mailbox(struct relay *r, const struct queue_msg *m,
                          struct smtpc_rcpt *rc, const char *orig,
                          const char *user, const char *pw, const char *data,
                          size_t len)
{
    struct strlist f;
    char *path;
    char why[600];
    int maildir, ok;
    struct strbuf text;
    const char *home = "";

    /* passwd(5) fields: name:pw:uid:gid:gecos:home:shell */
    strlist_init(&f);
    for (const char *p = pw, *c; p != NULL; p = c ? c + 1 : NULL) {
        c = strchr(p, ':');
        char *field = c ? xstrndup(p, (size_t)(c - p)) : xstrdup(p);
        strlist_push(&f, field);
        free(field);
    }
    if (f.n > 5)
        home = f.v[5];
    if (r->p.home_mailbox[0] != '\0') {
        path = xasprintf("%s/%s", home, r->p.home_mailbox);
        maildir = r->p.home_mailbox[strlen(r->p.home_mailbox) - 1] == '/';
    } else {
        const char *spool = r->p.mail_spool_directory;
        maildir = spool[0] && spool[strlen(spool) - 1] == '/';
        path = xasprintf("%s%s%s", spool, maildir ? "" : "/", user);
    }
    strbuf_init(&text);
    local_format(&text, m, rc->addr, orig, data, len, !maildir);
    ok = maildir ? local_maildir(r, path, text.buf, text.len, why, sizeof(why))
                 : local_mbox(path, text.buf, text.len, why, sizeof(why));
    if (ok == 0)
        local_result(rc, 2, "2.0.0", "delivered to %s",
                     maildir ? "maildir" : "mailbox");
    else
        local_result(rc, 4, "4.2.0", "%s delivery failed: %s",
                     maildir ? "maildir" : "mailbox", why);
    strbuf_clear(&text);
    strlist_clear(&f);
    free(path);
}

/* Queue the alias expansion as a new message, as local(8) hands it to
 * cleanup(8) (which applies virtual aliases again). */
static void local_forward(struct relay *r, const struct queue_msg *m,
                          struct smtpc_rcpt *rc, const char *addr,
                          const char *orig, const struct strlist *targets,
                          const char *data, size_t len)
{
    struct strlist addrs, origs;
    struct strbuf msg;
    char id[16], msgid[1000], date[80];
    char *lower;

    strlist_init(&addrs);
    strlist_init(&origs);
    for (size_t i = 0; i < targets->n; i++) {
        struct strlist exp;
        strlist_init(&exp);
        if (rewrite_virtual(r, targets->v[i], &exp) != 0) {
            strlist_clear(&exp);
            strlist_push(&exp, targets->v[i]);
        }
        for (size_t k = 0; k < exp.n; k++)
            if (!strlist_contains_case(&addrs, exp.v[k])) {
                strlist_push(&addrs, exp.v[k]);
                strlist_push(&origs, orig);
            }
        strlist_clear(&exp);
    }
    strbuf_init(&msg);
    /* As local(8) resubmits: a Received line of its own, the lowercased
     * Delivered-To that detects loops, then the message. */
    queue_new_id(r, id, sizeof(id));
    clock_date(clock_time(), date, sizeof(date));
    lower = str_lower(xstrdup(addr));
    strbuf_printf(&msg,
                  "Received: by %s (Postfix)\r\n\tid %s; %s\r\n"
                  "Delivered-To: %s\r\n",
                  r->p.myhostname, id, date, lower);
    free(lower);
    strbuf_append(&msg, data, len);
    if (queue_commit(r, id, m->sender, &addrs, &origs, NULL, msg.buf, msg.len) <
        0) {
        local_result(rc, 4, "4.3.0", "cannot forward: queue file write error");
    } else {
        queue_message_id(msg.buf, msg.len, msgid, sizeof(msgid));
        maillog_printf(r->log, "cleanup", "%s: message-id=%s", id, msgid);
        local_result(rc, 2, "2.0.0", "forwarded as %s", id);
    }
    strbuf_clear(&msg);
    strlist_clear(&addrs);
    strlist_clear(&origs);
}

/* One local delivery: the queue recipient, what its aliases expand to
 * so far, and where each piece went. */
struct local_ctx {
    struct relay *r;
    const struct queue_msg *m;
    const char *orig; /* the queue recipient's original address */
    const char *data;
    size_t len;
    struct strlist seen;    /* alias names expanded (loop detection) */
    struct strlist mailbox; /* users already delivered to */
    struct strlist forward; /* non-local addresses, one new message */
    local_log_fn *log;
    void *log_arg;
    size_t i;                    /* index of the queue recipient in the job */
    struct smtpc_rcpt *rc;       /* the combined outcome */
    struct local_passes *passes; /* mailbox deliveries handed on */
};

/* How bad an outcome is: none, sent, bounced, deferred. */
static int local_rank(int status)
{
    return status == 4 ? 3 : status == 5 ? 2 : status == 2 ? 1 : 0;
}

void local_fold(struct smtpc_rcpt *rc, const struct smtpc_rcpt *piece)
{
    if (local_rank(piece->status) <= local_rank(rc->status))
        return;
    rc->status = piece->status;
    snprintf(rc->dsn, sizeof(rc->dsn), "%s", piece->dsn);
    free(rc->reply);
    rc->reply = xstrdup(piece->reply ? piece->reply : "");
    free(rc->diag);
    rc->diag = piece->diag != NULL ? xstrdup(piece->diag) : NULL;
}

/* Record one piece's outcome: logged as its own line (to= the expanded
 * address), and folded into the queue recipient's result. */
static void local_piece(struct local_ctx *c, const char *to,
                        struct smtpc_rcpt *piece)
{
    c->log(c->log_arg, c->i, to, piece);
    local_fold(c->rc, piece);
    free(piece->reply);
    piece->reply = NULL;
}

void local_passes_clear(struct local_passes *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].addr);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

/* mailbox_transport_maps (by user name), then mailbox_transport: the
 * transport that takes user's mailbox delivery, NULL if the relay writes
 * it itself. -1 if a table cannot be read. */
static int local_mailbox_transport(struct relay *r, const char *user,
                                   const char **out)
{
    int found = local_lookup(r, &r->p.mailbox_transport_maps, user, out);

    if (found == 0)
        *out =
            r->p.mailbox_transport[0] != '\0' ? r->p.mailbox_transport : NULL;
    return found < 0 ? -1 : 0;
}

/* Hand addr's mailbox delivery to "transport[:nexthop]" (deliver_pass():
 * no next hop is local_transport's, $myhostname): logged now, run by the
 * caller, its outcome folded in then. */
static void local_pass(struct local_ctx *c, const char *addr,
                       const char *service)
{
    struct local_passes *p = c->passes;
    const char *colon = strchr(service, ':');
    struct local_pass *lp;

    p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
    lp = &p->v[p->n++];
    lp->i = c->i;
    lp->addr = xstrdup(addr);
    snprintf(lp->transport, sizeof(lp->transport), "%.*s",
             (int)(colon ? (size_t)(colon - service) : strlen(service)),
             service);
    snprintf(lp->nexthop, sizeof(lp->nexthop), "%s",
             colon != NULL && colon[1] != '\0' ? colon + 1
                                               : c->r->p.myhostname);
    maillog_printf(c->r->log, "local", "%s: passing <%s> to transport=%s",
                   c->m->id, addr, lp->transport);
}

static void local_user(struct local_ctx *c, const char *addr, const char *user)
{
    struct smtpc_rcpt piece;
    const char *pw = NULL, *transport = NULL;

    memset(&piece, 0, sizeof(piece));
    piece.addr = addr;
    if (strlist_contains_case(&c->mailbox, user))
        return; /* duplicate elimination: one copy per mailbox */
    if (local_mailbox_transport(c->r, user, &transport) < 0) {
        local_result(&piece, 4, "4.3.0", "table lookup failure");
    } else if (transport != NULL) {
        strlist_push(&c->mailbox, user);
        local_pass(c, addr, transport);
        return;
    } else if (local_lookup(c->r, &c->r->passwd_tables, user, &pw) < 0) {
        local_result(&piece, 4, "4.3.0", "user database unavailable");
    } else if (pw == NULL) {
        local_result(&piece, 5, "5.1.1", "unknown user: \"%s\"", user);
    } else {
        strlist_push(&c->mailbox, user);
        local_mailbox(c->r, c->m, &piece, c->orig, user, pw, c->data, c->len);
    }
    local_piece(c, addr, &piece);
}

/* local(8)'s recursion: an alias's members in a local domain are
 * expanded in this same delivery; the others are forwarded together. */
static void local_expand(struct local_ctx *c, const char *addr, int depth)
{
    struct relay *r = c->r;
    const char *at = strrchr(addr, '@');
    char *user =
        str_lower(at ? xstrndup(addr, (size_t)(at - addr)) : xstrdup(addr));
    const char *alias = NULL;
    struct smtpc_rcpt piece;
    struct strlist items;
    int found, self = 0;

    memset(&piece, 0, sizeof(piece));
    piece.addr = addr;
    found = local_lookup(r, &r->p.alias_maps, user, &alias);
    if (found < 0) {
        local_result(&piece, 4, "4.3.0", "alias database unavailable");
        local_piece(c, addr, &piece);
        goto done;
    }
    if (!found) {
        local_user(c, addr, user);
        goto done;
    }
    strlist_init(&items);
    strlist_split(&items, alias);
    strlist_push(&c->seen, user);
    /* A member already expanded on the way here is a loop. */
    for (size_t i = 0; i < items.n && piece.status == 0; i++) {
        const char *t = items.v[i];
        if (t[0] == '|' || t[0] == '/' || str_casestart(t, ":include:"))
            local_result(&piece, 5, "5.3.0",
                         "alias destination \"%s\" is a command or file, "
                         "which mxlab-relay does not deliver to",
                         t);
        else if (strchr(t, '@') == NULL && str_casecmp(t, user) != 0 &&
                 strlist_contains_case(&c->seen, t))
            local_result(&piece, 5, "5.4.6", "alias database loop for %s",
                         user);
        else if (depth >= r->p.virtual_alias_recursion_limit)
            local_result(&piece, 5, "5.4.6", "alias database loop for %s",
                         user);
    }
    if (piece.status != 0) {
        maillog_printf(r->log, "local", "warning: %s", piece.reply);
        local_piece(c, addr, &piece);
        strlist_clear(&items);
        goto done;
    }
    for (size_t i = 0; i < items.n; i++) {
        const char *t = items.v[i];
        char *q;
        if (strchr(t, '@') == NULL && str_casecmp(t, user) == 0) {
            self = 1; /* "name: name, ..." also delivers to name */
            continue;
        }
        q = strchr(t, '@') ? xstrdup(t) : xasprintf("%s@%s", t, r->p.myorigin);
        if (rewrite_class(r, q) == REWRITE_CLASS_LOCAL)
            local_expand(c, q, depth + 1);
        else if (!strlist_contains_case(&c->forward, q))
            strlist_push(&c->forward, q);
        free(q);
    }
    strlist_clear(&items);
    if (self)
        local_user(c, addr, user);
done:
    free(user);
}

void local_deliver(struct relay *r, const struct queue_msg *m,
                   struct smtpc_rcpt *rcpts, const size_t *idx, size_t n,
                   const char *data, size_t len, local_log_fn *log,
                   void *log_arg, struct local_passes *passes)
{
    for (size_t i = 0; i < n; i++) {
        struct local_ctx c;
        struct smtpc_rcpt *rc = &rcpts[i];

        memset(&c, 0, sizeof(c));
        c.r = r;
        c.m = m;
        c.orig = m->rcpts[idx[i]].orig;
        c.data = data;
        c.len = len;
        c.log = log;
        c.log_arg = log_arg;
        c.i = i;
        c.rc = rc;
        c.passes = passes;
        strlist_init(&c.seen);
        strlist_init(&c.mailbox);
        strlist_init(&c.forward);
        rc->status = 0;
        if (local_delivered_to(data, len, rc->addr)) {
            struct smtpc_rcpt piece;
            memset(&piece, 0, sizeof(piece));
            local_result(&piece, 5, "5.4.6", "mail forwarding loop for %s",
                         rc->addr);
            local_piece(&c, rc->addr, &piece);
        } else {
            local_expand(&c, rc->addr, 0);
        }
        if (c.forward.n > 0) {
            struct smtpc_rcpt piece;
            memset(&piece, 0, sizeof(piece));
            local_forward(r, m, &piece, rc->addr, c.orig, &c.forward, data,
                          len);
            local_piece(&c, rc->addr, &piece);
        }
        if (rc->status == 0) /* e.g. only duplicates: nothing left to do */
            local_result(rc, 2, "2.0.0", "delivered");
        rc->logged = 1;
        strlist_clear(&c.seen);
        strlist_clear(&c.mailbox);
        strlist_clear(&c.forward);
    }
}
