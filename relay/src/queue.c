/*
 * queue.c — the durable queue under queue_directory.
 *
 * New messages from smtpd are committed in groups (queue_commit_async):
 * each is written straight to active/ID, and once per event-loop turn one
 * syncfs(2) makes every file written since durable (data, inode and
 * directory entry, then one flush of the disk's cache) before smtpd
 * answers 250 to all of them. A file cut short by a crash is recognised
 * by its data length and removed at recovery: it was never acknowledged.
 * Other writers (bounces, forwards, envelope updates) write a temporary
 * name, fsync, rename and fsync the directory (fs_write_atomic). A
 * message whose recipients are all done is unlinked. Recovery at start
 * reads incoming/, active/, deferred/ and hold/; a file that does not
 * parse goes to corrupt/.
 *
 * Only active/ is held in memory (r->queue). As in Postfix, a deferred
 * message is a file in deferred/ whose mtime is its next delivery time:
 * the queue manager scans the directory every queue_run_delay and moves
 * the files whose time has come back to active/ (queue_scan_deferred),
 * so a queue of 100k deferred messages costs disk, not memory. hold/ is
 * only read by admin commands.
 *
 * File format (text envelope, then the message):
 *   mxlab-queue 1 \n arrival EPOCH \n sender ADDR \n
 *   [ret FULL|HDRS \n] [envid TEXT \n] (RFC 3461, both optional)
 *   [filter TRANSPORT:NEXTHOP \n] (content_filter, filter.h's bounds)
 *   [warned \n] rcpt DONE ADDR<TAB>ORIG \n [notify BITS \n]
 *   [orcpt TYPE;ADDR \n] [reason TEXT \n] [dsn CODE \n]
 *   [diag TEXT \n] ... data LEN \n <message>
 * Files written before the RFC 3461 or filter lines existed read the
 * same.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bounce.h"
#include "filter.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/xmem.h"
#include "qmgr.h"
#include "queue.h"
#include "relay.h"

static const char *queue_state_dir(int state)
{
    switch (state) {
    case QUEUE_DEFERRED:
        return "deferred";
    case QUEUE_HOLD:
        return "hold";
    default:
        return "active";
    }
}

static char *queue_path(struct relay *r, int state, const char *id)
{
    return xasprintf("%s/%s/%s", r->p.queue_directory, queue_state_dir(state),
                     id);
}

/* The file at path is due at when (its mtime; 0: at the next scan). */
static int queue_set_due(const char *path, time_t when)
{
    struct timespec ts[2] = {{when, 0}, {when, 0}};

    return utimensat(AT_FDCWD, path, ts, 0);
}

/* Postfix-style short queue ID: the arrival time in microseconds as hex,
 * bumped to stay unique within the process. */
void queue_new_id(struct relay *r, char *id, size_t len)
{
    static unsigned long long last;
    struct timeval tv;
    unsigned long long t;

    (void)r;
    gettimeofday(&tv, NULL);
    t = (unsigned long long)tv.tv_sec * 1000000ULL +
        (unsigned long long)tv.tv_usec;
    if (t <= last)
        t = last + 1;
    last = t;
    snprintf(id, len, "%011llX", t & 0xFFFFFFFFFFFULL);
}

static void queue_serialize(const struct queue_msg *m, const char *data,
                            size_t len, struct strbuf *out)
{
    strbuf_printf(out, "mxlab-queue 1\narrival %lld.%06ld\nsender %s\n",
                  (long long)m->arrival, m->arrival_usec, m->sender);
    if (m->dsn_ret != DSN_RET_NONE)
        strbuf_printf(out, "ret %s\n",
                      m->dsn_ret == DSN_RET_HDRS ? "HDRS" : "FULL");
    if (m->dsn_envid != NULL)
        strbuf_printf(out, "envid %s\n", m->dsn_envid);
    if (m->filter != NULL)
        strbuf_printf(out, "filter %s\n", m->filter);
    if (m->warned)
        strbuf_puts(out, "warned\n");
    for (size_t i = 0; i < m->nrcpt; i++) {
        strbuf_printf(out, "rcpt %d %s\t%s\n", m->rcpts[i].done,
                      m->rcpts[i].addr, m->rcpts[i].orig);
        if (m->rcpts[i].notify != 0)
            strbuf_printf(out, "notify %d\n", m->rcpts[i].notify);
        if (m->rcpts[i].orcpt != NULL)
            strbuf_printf(out, "orcpt %s\n", m->rcpts[i].orcpt);
        if (m->rcpts[i].reason != NULL)
            strbuf_printf(out, "reason %s\n", m->rcpts[i].reason);
        if (m->rcpts[i].dsn[0] != '\0')
            strbuf_printf(out, "dsn %s\n", m->rcpts[i].dsn);
        if (m->rcpts[i].diag != NULL)
            strbuf_printf(out, "diag %s\n", m->rcpts[i].diag);
    }
    strbuf_printf(out, "data %zu\n", len);
    strbuf_append(out, data, len);
}

void queue_msg_free(struct queue_msg *m)
{
    bounce_clear(m);
    for (size_t i = 0; i < m->nrcpt; i++) {
        free(m->rcpts[i].addr);
        free(m->rcpts[i].orig);
        free(m->rcpts[i].orcpt);
        free(m->rcpts[i].reason);
        free(m->rcpts[i].diag);
    }
    free(m->rcpts);
    free(m->sender);
    free(m->dsn_envid);
    free(m->filter);
    free(m);
}

static void queue_add_rcpt(struct queue_msg *m, const char *addr,
                           const char *orig, int done)
{
    m->rcpts = xrealloc(m->rcpts, (m->nrcpt + 1) * sizeof(*m->rcpts));
    m->rcpts[m->nrcpt].addr = xstrdup(addr);
    m->rcpts[m->nrcpt].orig = xstrdup(orig);
    m->rcpts[m->nrcpt].done = done;
    m->rcpts[m->nrcpt].notify = 0;
    m->rcpts[m->nrcpt].orcpt = NULL;
    m->rcpts[m->nrcpt].reason = NULL;
    m->rcpts[m->nrcpt].dsn[0] = '\0';
    m->rcpts[m->nrcpt].diag = NULL;
    m->nrcpt++;
}

static void queue_link(struct relay *r, struct queue_msg *m)
{
    /* Keep arrival order: the queue manager serves oldest first. */
    m->next = NULL;
    if (r->queue == NULL)
        r->queue = m;
    else
        r->queue_tail->next = m;
    r->queue_tail = m;
    r->queue_count++;
}

static struct queue_msg *queue_new_msg(const char *id, const char *sender,
                                       const struct strlist *rcpts,
                                       const struct strlist *origs,
                                       const struct queue_dsn *dsn, size_t len)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));
    struct timeval now;

    snprintf(m->id, sizeof(m->id), "%s", id);
    m->sender = xstrdup(sender);
    clock_now(&now);
    m->arrival = now.tv_sec;
    m->arrival_usec = (long)now.tv_usec;
    m->size = len;
    m->state = QUEUE_ACTIVE;
    for (size_t i = 0; i < rcpts->n; i++) {
        queue_add_rcpt(m, rcpts->v[i], origs->v[i], 0);
        if (dsn == NULL)
            continue;
        if (dsn->notify != NULL)
            m->rcpts[i].notify = dsn->notify[i];
        if (dsn->orcpt != NULL && dsn->orcpt->v[i][0] != '\0')
            m->rcpts[i].orcpt = xstrdup(dsn->orcpt->v[i]);
    }
    if (dsn != NULL) {
        m->dsn_ret = dsn->ret;
        m->dsn_envid = dsn->envid ? xstrdup(dsn->envid) : NULL;
        if (dsn->filter != NULL && dsn->filter[0] != '\0')
            m->filter = xstrdup(dsn->filter);
    }
    return m;
}

int queue_commit(struct relay *r, const char *id, const char *sender,
                 const struct strlist *rcpts, const struct strlist *origs,
                 const struct queue_dsn *dsn, const char *data, size_t len)
{
    struct queue_msg *m = queue_new_msg(id, sender, rcpts, origs, dsn, len);
    struct strbuf sb;
    char *path;
    int rc;

    strbuf_init(&sb);
    queue_serialize(m, data, len, &sb);
    path = queue_path(r, QUEUE_ACTIVE, m->id);
    rc = fs_write_atomic(path, sb.buf, sb.len);
    free(path);
    strbuf_clear(&sb);
    if (rc < 0) {
        int saved = errno;
        queue_msg_free(m);
        errno = saved;
        return -1;
    }
    queue_link(r, m);
    return 0;
}

static void queue_deferring_commit(struct relay *r, int rc);

/* Write sb to a new file at path (flags: O_EXCL or O_TRUNC), not synced:
 * the group's syncfs makes it durable. 0, or -1 with errno and nothing
 * left behind. */
static int queue_write_unsynced(const char *path, const struct strbuf *sb,
                                int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | flags | O_CLOEXEC, 0600);
    int rc = -1, saved;

    if (fd < 0)
        return -1;
    if (fs_write_all(fd, sb->buf, sb->len) == 0)
        rc = 0;
    saved = errno;
    if (close(fd) < 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    if (rc < 0) {
        unlink(path);
        errno = saved;
    }
    return rc;
}

/* A message written, waiting for the group's syncfs. */
struct queue_pending {
    struct queue_msg *m;
    queue_commit_fn *fn; /* NULL once the session has gone */
    void *arg;
};

/* The group's turn: one syncfs for every file written since the last,
 * then each message joins the queue and its session gets the answer. */
static void queue_on_commit(evutil_socket_t fd, short what, void *arg)
{
    struct relay *r = arg;
    struct queue_pending *batch = r->pending;
    size_t n = r->npending;
    int rc = 0, saved = 0;

    (void)fd;
    (void)what;
    r->pending = NULL;
    r->npending = r->cpending = 0;
    if (syncfs(r->queue_dirfd) < 0) {
        saved = errno;
        rc = -1;
    }
    if (r->ndeferring > 0) {
        queue_deferring_commit(r, rc);
        relay_changed(r);
        qmgr_schedule(r);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            queue_link(r, batch[i].m);
        } else {
            char *path = queue_path(r, QUEUE_ACTIVE, batch[i].m->id);
            unlink(path);
            free(path);
            queue_msg_free(batch[i].m);
        }
        if (batch[i].fn != NULL) {
            errno = saved;
            batch[i].fn(batch[i].arg, rc);
        }
    }
    free(batch);
    if (rc == 0 && n > 0) {
        relay_changed(r);
        qmgr_schedule(r);
    }
}

int queue_commit_async(struct relay *r, const char *id, const char *sender,
                       const struct strlist *rcpts, const struct strlist *origs,
                       const struct queue_dsn *dsn, const char *data,
                       size_t len, queue_commit_fn *fn, void *arg)
{
    struct queue_msg *m;
    struct strbuf sb;
    char *path;
    int rc = -1, saved = 0;

    if (r->queue_dirfd < 0 || r->commit_ev == NULL)
        return queue_commit(r, id, sender, rcpts, origs, dsn, data, len) < 0
                   ? -1
                   : 1;
    m = queue_new_msg(id, sender, rcpts, origs, dsn, len);
    strbuf_init(&sb);
    queue_serialize(m, data, len, &sb);
    path = queue_path(r, QUEUE_ACTIVE, m->id);
    rc = queue_write_unsynced(path, &sb, O_EXCL);
    saved = errno;
    if (rc < 0) {
        queue_msg_free(m);
    } else {
        if (r->npending == r->cpending) {
            r->cpending = r->cpending ? 2 * r->cpending : 16;
            r->pending =
                xrealloc(r->pending, r->cpending * sizeof(*r->pending));
        }
        r->pending[r->npending].m = m;
        r->pending[r->npending].fn = fn;
        r->pending[r->npending].arg = arg;
        r->npending++;
        /* After the other sessions that are ready in this turn. */
        event_active(r->commit_ev, EV_TIMEOUT, 0);
    }
    free(path);
    strbuf_clear(&sb);
    errno = saved;
    return rc;
}

void queue_commit_cancel(struct relay *r, void *arg)
{
    for (size_t i = 0; i < r->npending; i++)
        if (r->pending[i].arg == arg)
            r->pending[i].fn = NULL;
}

int queue_open(struct relay *r)
{
    r->queue_dirfd =
        open(r->p.queue_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->queue_dirfd < 0)
        return -1;
    r->commit_ev = event_new(r->base, -1, 0, queue_on_commit, r);
    return 0;
}

void queue_close(struct relay *r)
{
    /* Messages written but not yet synced: sync them now (nothing the
     * relay may have answered for is left behind). */
    if ((r->npending > 0 || r->ndeferring > 0) && r->commit_ev != NULL)
        queue_on_commit(-1, 0, r);
    if (r->commit_ev != NULL)
        event_free(r->commit_ev);
    r->commit_ev = NULL;
    if (r->queue_dirfd >= 0)
        close(r->queue_dirfd);
    r->queue_dirfd = -1;
}

int queue_read_data(struct relay *r, const struct queue_msg *m, char **data,
                    size_t *len)
{
    char *path = queue_path(r, m->state, m->id);
    char *text, *p;
    size_t tlen;
    int rc = fs_read_file(path, &text, &tlen);

    free(path);
    if (rc < 0)
        return -1;
    p = strstr(text, "\ndata ");
    p = p ? strchr(p + 1, '\n') : NULL;
    if (p == NULL) {
        free(text);
        errno = EINVAL;
        return -1;
    }
    p++;
    *len = tlen - (size_t)(p - text);
    *data = xmalloc(*len + 1);
    memcpy(*data, p, *len);
    (*data)[*len] = '\0';
    free(text);
    return 0;
}

static void queue_unlink_msg(struct relay *r, struct queue_msg *m)
{
    struct queue_msg *prev = NULL;

    for (struct queue_msg **pp = &r->queue; *pp != NULL;
         prev = *pp, pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            if (r->queue_tail == m)
                r->queue_tail = prev;
            r->queue_count--;
            return;
        }
    }
}

int queue_hold(struct relay *r, struct queue_msg *m, int hold)
{
    int to = hold ? QUEUE_HOLD : QUEUE_DEFERRED;
    char *from, *dest, *dir;
    int rc;

    if (m->in_delivery ||
        (hold ? m->state == QUEUE_HOLD : m->state != QUEUE_HOLD))
        return -1;
    from = queue_path(r, m->state, m->id);
    dest = queue_path(r, to, m->id);
    rc = rename(from, dest);
    if (rc == 0) {
        dir = xasprintf("%s/%s", r->p.queue_directory, queue_state_dir(to));
        fs_fsync_dir(dir);
        free(dir);
        if (!hold) {
            /* Released: due at the next scan, which comes now. */
            queue_set_due(dest, 0);
            r->scan_wanted = 1;
        }
        if (m->ondisk) {
            m->state = to;
        } else {
            queue_unlink_msg(r, m);
            queue_msg_free(m);
        }
    }
    free(from);
    free(dest);
    return rc;
}

void queue_delete(struct relay *r, struct queue_msg *m)
{
    char *path = queue_path(r, m->state, m->id);

    unlink(path);
    free(path);
    if (m->ondisk)
        return; /* its loader frees it */
    if (m->in_delivery) {
        m->deleted = 1;
        return;
    }
    queue_unlink_msg(r, m);
    queue_msg_free(m);
}

/* The Message-ID header's value, or "<>", from a message's headers. */
void queue_message_id(const char *data, size_t len, char *out, size_t outlen)
{
    const char *p = data, *end = data + len;

    snprintf(out, outlen, "<>");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l == 0 || (l == 1 && p[0] == '\r'))
            break; /* end of the headers */
        if (l > 11 && strncasecmp(p, "message-id:", 11) == 0) {
            const char *v = p + 11;
            size_t vl = l - 11;
            while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return;
        }
        p += l + (nl ? 1 : 0);
    }
}

int queue_requeue(struct relay *r, struct queue_msg *m)
{
    struct strlist rcpts, origs, orcpts;
    /* The filter stays: mail not yet filtered is filtered once requeued. */
    struct queue_dsn dsn = {m->dsn_ret, m->dsn_envid, NULL, &orcpts, m->filter};
    char id[16], msgid[1000];
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    if (m->in_delivery)
        return -1; /* Postfix would requeue it after this attempt */
    if (queue_read_data(r, m, &data, &len) < 0)
        return -1;
    strlist_init(&rcpts);
    strlist_init(&origs);
    strlist_init(&orcpts);
    int *notify = xcalloc(m->nrcpt, sizeof(*notify));
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (m->rcpts[i].done)
            continue;
        notify[rcpts.n] = m->rcpts[i].notify;
        strlist_push(&rcpts, m->rcpts[i].addr);
        strlist_push(&origs, m->rcpts[i].orig);
        strlist_push(&orcpts, m->rcpts[i].orcpt ? m->rcpts[i].orcpt : "");
    }
    dsn.notify = notify;
    /* As postsuper -r: the message goes through pickup and cleanup again,
     * under a new queue ID (so routing changes apply to it). */
    queue_new_id(r, id, sizeof(id));
    if (rcpts.n > 0 &&
        queue_commit(r, id, m->sender, &rcpts, &origs, &dsn, data, len) == 0) {
        queue_message_id(data, len, msgid, sizeof(msgid));
        maillog_printf(r->log, "pickup", "%s: uid=%ld from=<%s> orig_id=%s", id,
                       (long)getuid(), m->sender, m->id);
        maillog_printf(r->log, "cleanup", "%s: message-id=%s", id, msgid);
        queue_delete(r, m);
        rc = 0;
    }
    strlist_clear(&rcpts);
    strlist_clear(&origs);
    strlist_clear(&orcpts);
    free(notify);
    free(data);
    return rc;
}

/* m is in deferred/ now: out of the active queue and of memory. */
static void queue_deferred_done(struct relay *r, struct queue_msg *m,
                                const char *path)
{
    char *old;

    /* A crash before the mtime is set only makes it due sooner. */
    if (queue_set_due(path, m->next_try) < 0)
        log_warn("%s: set the next delivery time", path);
    old = queue_path(r, m->state, m->id);
    unlink(old);
    free(old);
    queue_unlink_msg(r, m);
    queue_msg_free(m);
    /* The queue manager's timer must come back for it (real clock). */
    r->deferred_left++;
}

static char *queue_deferring_tmp(struct relay *r, const struct queue_msg *m)
{
    return xasprintf("%s/deferred/%s.tmp", r->p.queue_directory, m->id);
}

/* After the group's syncfs (rc 0) the deferrals written in this turn take
 * effect: each file is renamed into place (the rename and the unlink of
 * active/ID reach the disk in that order, as a journaling file system
 * orders its metadata), or, if the sync failed, the message stays in the
 * active queue and is tried again after its backoff. */
static void queue_deferring_commit(struct relay *r, int rc)
{
    struct queue_msg **batch = r->deferring;
    size_t n = r->ndeferring;

    r->deferring = NULL;
    r->ndeferring = r->cdeferring = 0;
    for (size_t i = 0; i < n; i++) {
        struct queue_msg *m = batch[i];
        char *tmp = queue_deferring_tmp(r, m);
        char *path = queue_path(r, QUEUE_DEFERRED, m->id);
        m->in_delivery = 0;
        if (m->deleted) {
            /* postsuper -d came meanwhile (active/ID is gone already). */
            unlink(tmp);
            queue_unlink_msg(r, m);
            queue_msg_free(m);
        } else if (rc == 0 && rename(tmp, path) == 0) {
            queue_deferred_done(r, m, path);
        } else {
            log_warn("%s: cannot move to deferred/", m->id);
            unlink(tmp);
        }
        free(tmp);
        free(path);
    }
    free(batch);
}

int queue_update(struct relay *r, struct queue_msg *m)
{
    char *path = NULL, *data = NULL;
    int all_done = 1, rc = -1;
    size_t len = 0;
    struct strbuf sb;

    for (size_t i = 0; i < m->nrcpt; i++)
        all_done &= m->rcpts[i].done;
    if (all_done) {
        /* Not synced: should a crash undo the unlink, the message is
         * delivered again (a duplicate, never a loss), as with Postfix. */
        path = queue_path(r, m->state, m->id);
        rc = unlink(path);
        free(path);
        queue_unlink_msg(r, m);
        queue_msg_free(m);
        return rc;
    }
    if (queue_read_data(r, m, &data, &len) < 0)
        return -1;
    strbuf_init(&sb);
    queue_serialize(m, data, len, &sb);
    free(data);
    if (r->commit_ev == NULL) {
        /* No group commit (admin commands, tests): on its own. */
        path = queue_path(r, QUEUE_DEFERRED, m->id);
        rc = fs_write_atomic(path, sb.buf, sb.len);
        if (rc == 0)
            queue_deferred_done(r, m, path);
        free(path);
        strbuf_clear(&sb);
        return rc;
    }
    /* In the group: written now, renamed after this turn's syncfs; until
     * then the message stays in the active queue, not scheduled. */
    path = queue_deferring_tmp(r, m);
    rc = queue_write_unsynced(path, &sb, O_TRUNC);
    if (rc == 0) {
        if (r->ndeferring == r->cdeferring) {
            r->cdeferring = r->cdeferring ? 2 * r->cdeferring : 16;
            r->deferring =
                xrealloc(r->deferring, r->cdeferring * sizeof(*r->deferring));
        }
        r->deferring[r->ndeferring++] = m;
        m->in_delivery = 1;
        event_active(r->commit_ev, EV_TIMEOUT, 0);
    }
    free(path);
    strbuf_clear(&sb);
    return rc;
}

/* Parse one queue file; NULL if it is not a complete queue file. */
/* "EPOCH[.USEC]": digits only, within time_t and the microsecond's
 * range; 0, or -1 for anything else. */
static int queue_parse_arrival(struct queue_msg *m, const char *s)
{
    const char *dot = strchr(s, '.');
    char secs[24];
    long v, usec = 0;
    size_t n = dot ? (size_t)(dot - s) : strlen(s);

    if (n == 0 || n >= sizeof(secs))
        return -1;
    memcpy(secs, s, n);
    secs[n] = '\0';
    if (str_to_long(secs, &v) < 0 ||
        (dot != NULL && (str_to_long(dot + 1, &usec) < 0 || usec > 999999)))
        return -1;
    m->arrival = (time_t)v;
    m->arrival_usec = usec;
    return 0;
}

static struct queue_msg *queue_parse(const char *id, int state,
                                     const char *text, size_t len,
                                     int *incomplete)
{
    struct queue_msg *m = xcalloc(1, sizeof(*m));
    const char *p = text, *end = text + len;
    int have_data = 0;

    if (strlen(id) >= sizeof(m->id))
        goto bad; /* not one of our queue IDs */
    memcpy(m->id, id, strlen(id) + 1);
    m->state = state;
    if (strncmp(p, "mxlab-queue 1\n", 14) != 0)
        goto bad;
    p += 14;
    while (p < end && !have_data) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line;
        if (nl == NULL)
            goto bad;
        line = xstrndup(p, (size_t)(nl - p));
        p = nl + 1;
        if (strncmp(line, "arrival ", 8) == 0) {
            if (queue_parse_arrival(m, line + 8) < 0) {
                free(line);
                goto bad;
            }
        } else if (strncmp(line, "sender ", 7) == 0) {
            if (m->sender != NULL) { /* a second sender: not ours */
                free(line);
                goto bad;
            }
            m->sender = xstrdup(line + 7);
        } else if (strncmp(line, "rcpt ", 5) == 0 && line[5] != '\0' &&
                   line[6] == ' ') {
            char *tab = strchr(line + 7, '\t');
            if (tab != NULL)
                *tab = '\0';
            queue_add_rcpt(m, line + 7, tab ? tab + 1 : line + 7,
                           line[5] == '1');
        } else if (strncmp(line, "ret ", 4) == 0) {
            m->dsn_ret =
                strcmp(line + 4, "HDRS") == 0 ? DSN_RET_HDRS : DSN_RET_FULL;
        } else if (strncmp(line, "filter ", 7) == 0) {
            /* Range-checked as content_filter is: a file that says
             * otherwise is not ours. */
            if (m->filter != NULL || filter_split(line + 7, NULL, NULL) < 0) {
                free(line);
                goto bad;
            }
            m->filter = xstrdup(line + 7);
        } else if (strncmp(line, "envid ", 6) == 0) {
            free(m->dsn_envid);
            m->dsn_envid = xstrdup(line + 6);
        } else if (strncmp(line, "notify ", 7) == 0 && m->nrcpt > 0) {
            long bits = 0;
            str_to_long(line + 7, &bits);
            m->rcpts[m->nrcpt - 1].notify = (int)bits;
        } else if (strncmp(line, "orcpt ", 6) == 0 && m->nrcpt > 0) {
            free(m->rcpts[m->nrcpt - 1].orcpt);
            m->rcpts[m->nrcpt - 1].orcpt = xstrdup(line + 6);
        } else if (strncmp(line, "reason ", 7) == 0 && m->nrcpt > 0) {
            free(m->rcpts[m->nrcpt - 1].reason);
            m->rcpts[m->nrcpt - 1].reason = xstrdup(line + 7);
        } else if (strncmp(line, "dsn ", 4) == 0 && m->nrcpt > 0) {
            snprintf(m->rcpts[m->nrcpt - 1].dsn,
                     sizeof(m->rcpts[m->nrcpt - 1].dsn), "%s", line + 4);
        } else if (strncmp(line, "diag ", 5) == 0 && m->nrcpt > 0) {
            free(m->rcpts[m->nrcpt - 1].diag);
            m->rcpts[m->nrcpt - 1].diag = xstrdup(line + 5);
        } else if (strcmp(line, "warned") == 0) {
            m->warned = 1;
        } else if (strncmp(line, "data ", 5) == 0) {
            char *e;
            unsigned long long want = strtoull(line + 5, &e, 10);
            if (*e != '\0' || e == line + 5) {
                free(line);
                goto bad;
            }
            if (want != (unsigned long long)(end - p)) {
                /* Cut short (or grown): a write that did not finish. */
                *incomplete = 1;
                free(line);
                goto bad;
            }
            have_data = 1;
        } else {
            free(line);
            goto bad;
        }
        free(line);
    }
    if (!have_data || m->sender == NULL || m->nrcpt == 0)
        goto bad;
    m->size = (size_t)(end - p);
    return m;
bad:
    queue_msg_free(m);
    return NULL;
}

/* A queue file that does not parse: cut short by a crash (it was never
 * synced, so never answered with 250: the client still has it), removed;
 * anything else goes to corrupt/. */
static void queue_quarantine(struct relay *r, const char *path,
                             const char *name, int incomplete)
{
    if (incomplete) {
        maillog_printf(r->log, "qmgr",
                       "warning: %s: removing incomplete queue file", name);
        unlink(path);
    } else {
        char *to = xasprintf("%s/corrupt/%s", r->p.queue_directory, name);
        maillog_printf(r->log, "qmgr",
                       "warning: %s: corrupt queue file moved to corrupt/",
                       name);
        rename(path, to);
        free(to);
    }
}

/* The message in state's directory under id, parsed; NULL if it is gone
 * (errno ENOENT) or does not parse (then quarantined). */
static struct queue_msg *queue_load(struct relay *r, int state, const char *id)
{
    char *path = queue_path(r, state, id), *text;
    struct queue_msg *m = NULL;
    int incomplete = 0;
    size_t len;

    if (fs_read_file(path, &text, &len) < 0) {
        if (errno != ENOENT)
            log_warn("queue file %s", path);
        free(path);
        return NULL;
    }
    m = queue_parse(id, state, text, len, &incomplete);
    free(text);
    if (m == NULL) {
        queue_quarantine(r, path, id, incomplete);
        errno = EINVAL;
    }
    free(path);
    return m;
}

/* A queue file's name: an ID, not a temporary or hidden file. */
static int queue_is_id(const char *name)
{
    return name[0] != '.' && strlen(name) < 16 && strchr(name, '.') == NULL;
}

/* fn(arg, dirfd, name) for each entry of state's directory (not "." and
 * ".."); nothing if it cannot be opened. */
typedef void queue_dir_fn(void *arg, int dfd, const char *name);
static void queue_dir_each(struct relay *r, int state, queue_dir_fn *fn,
                           void *arg)
{
    char *dir =
        xasprintf("%s/%s", r->p.queue_directory, queue_state_dir(state));
    DIR *d = opendir(dir);
    struct dirent *de;

    free(dir);
    while (d != NULL && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            fn(arg, dirfd(d), de->d_name);
    if (d != NULL)
        closedir(d);
}

/* A walk over a queue directory's IDs: how many, the earliest mtime, and
 * (when ids is wanted) those due by *before, in one block of 16-byte
 * names. */
struct queue_walk {
    const time_t *before; /* NULL: every ID */
    int want_ids, want_first;
    char (*ids)[16];
    size_t nids, cap, total;
    time_t first;
};

static void queue_walk_one(void *arg, int dfd, const char *name)
{
    struct queue_walk *w = arg;
    struct stat st;

    if (!queue_is_id(name))
        return;
    if ((w->before != NULL || w->want_first) &&
        fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return; /* gone meanwhile */
    if (w->want_first && (w->total == 0 || st.st_mtime < w->first))
        w->first = st.st_mtime;
    w->total++;
    if (!w->want_ids || (w->before != NULL && st.st_mtime > *w->before))
        return;
    if (w->nids == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->ids = xrealloc(w->ids, w->cap * sizeof(*w->ids));
    }
    memcpy(w->ids[w->nids++], name, strlen(name) + 1);
}

static int queue_cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The IDs in state's directory (only those whose mtime is at most *before
 * when before is not NULL), oldest first: IDs sort by arrival. The caller
 * frees w->ids. */
static void queue_ids(struct relay *r, int state, const time_t *before,
                      struct queue_walk *w)
{
    memset(w, 0, sizeof(*w));
    w->before = before;
    w->want_ids = 1;
    queue_dir_each(r, state, queue_walk_one, w);
    if (w->nids > 1)
        qsort(w->ids, w->nids, sizeof(*w->ids), queue_cmp_id);
}

size_t queue_deferred_first(struct relay *r, time_t *first)
{
    struct queue_walk w = {.want_first = 1};

    queue_dir_each(r, QUEUE_DEFERRED, queue_walk_one, &w);
    *first = w.first;
    return w.total;
}

size_t queue_disk_count(struct relay *r, int state)
{
    struct queue_walk w = {0};

    queue_dir_each(r, state, queue_walk_one, &w);
    return w.total;
}

int queue_each_on_disk(struct relay *r, int state, queue_each_fn *fn, void *arg)
{
    struct queue_walk w;
    int rc = 0;

    queue_ids(r, state, NULL, &w);
    for (size_t i = 0; i < w.nids && rc == 0; i++) {
        struct queue_msg *m = queue_load(r, state, w.ids[i]);
        if (m == NULL)
            continue; /* gone since the listing, or corrupt */
        m->ondisk = 1;
        rc = fn(arg, m);
        queue_msg_free(m);
    }
    free(w.ids);
    return rc;
}

struct queue_msg *queue_find_on_disk(struct relay *r, const char *id)
{
    struct queue_msg *m = NULL;

    if (!queue_is_id(id))
        return NULL;
    for (int state = QUEUE_DEFERRED; state <= QUEUE_HOLD && m == NULL; state++)
        m = queue_load(r, state, id);
    if (m != NULL)
        m->ondisk = 1;
    return m;
}

int queue_make_due(struct relay *r, const struct queue_msg *m)
{
    char *path = queue_path(r, QUEUE_DEFERRED, m->id);
    int rc = m->state == QUEUE_DEFERRED ? queue_set_due(path, 0) : -1;

    free(path);
    if (rc == 0)
        r->scan_wanted = 1;
    return rc;
}

static void queue_make_due_one(void *arg, int dfd, const char *name)
{
    struct timespec ts[2] = {{0, 0}, {0, 0}};

    (void)arg;
    if (queue_is_id(name))
        utimensat(dfd, name, ts, 0);
}

void queue_make_all_due(struct relay *r)
{
    queue_dir_each(r, QUEUE_DEFERRED, queue_make_due_one, NULL);
    r->scan_wanted = 1;
}

int queue_scan_deferred(struct relay *r, time_t cutoff, size_t limit)
{
    struct queue_walk w;
    size_t moved = 0;

    queue_ids(r, QUEUE_DEFERRED, &cutoff, &w);
    for (size_t i = 0; i < w.nids && r->queue_count < limit; i++) {
        char *from = queue_path(r, QUEUE_DEFERRED, w.ids[i]);
        char *to = queue_path(r, QUEUE_ACTIVE, w.ids[i]);
        struct queue_msg *m;
        /* Into active/ first: a file is in one place at any time. */
        if (rename(from, to) < 0) {
            if (errno != ENOENT)
                log_warn("%s", from);
        } else if ((m = queue_load(r, QUEUE_ACTIVE, w.ids[i])) != NULL) {
            queue_link(r, m);
        }
        free(from);
        free(to);
        moved++;
    }
    free(w.ids);
    r->deferred_left = w.total - moved;
    return moved < w.nids;
}

static int queue_recover_dir(struct relay *r, const char *sub)
{
    char *dir = xasprintf("%s/%s", r->p.queue_directory, sub);
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL) {
        free(dir);
        return errno == ENOENT ? 0 : -1;
    }
    while ((de = readdir(d)) != NULL) {
        char *path, *text;
        size_t len;
        struct queue_msg *m;

        if (de->d_name[0] == '.')
            continue;
        path = xasprintf("%s/%s", dir, de->d_name);
        if (strstr(de->d_name, ".tmp") != NULL) {
            /* An interrupted write: never acknowledged, never delivered. */
            unlink(path);
            free(path);
            continue;
        }
        if (fs_read_file(path, &text, &len) < 0) {
            log_warn("queue file %s", path);
            free(path);
            continue;
        }
        int incomplete = 0;
        m = queue_parse(de->d_name, QUEUE_ACTIVE, text, len, &incomplete);
        free(text);
        if (m == NULL) {
            queue_quarantine(r, path, de->d_name, incomplete);
        } else {
            if (strcmp(sub, "incoming") == 0) {
                /* Move into active/ so every later path is uniform. */
                char *to = queue_path(r, QUEUE_ACTIVE, m->id);
                rename(path, to);
                free(to);
            }
            queue_link(r, m);
        }
        free(path);
    }
    closedir(d);
    free(dir);
    return 0;
}

/* An interrupted write's temporary file: never acknowledged, removed. */
static void queue_unlink_tmp(void *arg, int dfd, const char *name)
{
    (void)arg;
    if (name[0] != '.' && strstr(name, ".tmp") != NULL)
        unlinkat(dfd, name, 0);
}

/* What a crash or a stop left in incoming/ and active/ goes back into
 * the active queue; deferred/ and hold/ stay on disk (their files wait
 * for the scans, whose first is at start), temporary files of
 * interrupted writes there are removed. */
int queue_recover(struct relay *r, char *err, size_t errlen)
{
    static const char *const subs[] = {"incoming", "active"};

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (queue_recover_dir(r, subs[i]) < 0) {
            snprintf(err, errlen, "%s/%s: %s", r->p.queue_directory, subs[i],
                     strerror(errno));
            return -1;
        }
    }
    for (int state = QUEUE_DEFERRED; state <= QUEUE_HOLD; state++)
        queue_dir_each(r, state, queue_unlink_tmp, NULL);
    return 0;
}

void queue_free_all(struct relay *r)
{
    while (r->queue != NULL) {
        struct queue_msg *m = r->queue;
        r->queue = m->next;
        queue_msg_free(m);
    }
    r->queue_count = 0;
}
