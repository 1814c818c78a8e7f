/*
 * qmgr.c — the queue manager (Postfix qmgr(8)): picks messages whose time
 * has come, groups their recipients by transport and next hop, starts one
 * delivery per group, logs each recipient's outcome in Postfix's format and
 * updates the queue file. A deferred message waits its backoff: the age of
 * the message bounded by minimal_backoff_time and maximal_backoff_time, as
 * qmgr does. A message with a content filter (FILTER_README) goes whole
 * to the filter's transport and next hop instead; a transport named in
 * master.cf (filter.c) is delivered with that service's parameters.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "filter.h"
#include "local.h"
#include "mxlab/clock.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/xmem.h"
#include "qmgr.h"
#include "queue.h"
#include "relay.h"
#include "rewrite.h"
#include "smtpc.h"

#define QMGR_MAX_DELIVERIES 100

/* One delivery: a message's recipients that share a route; or one
 * mailbox delivery that local(8) handed to mailbox_transport (parent: the
 * local job, which finishes when its hand-offs have). */
struct qmgr_job {
    struct relay *r;
    struct queue_msg *m;
    char *data; /* a hand-off borrows its parent's */
    size_t len;
    struct smtpc_rcpt *rcpts;
    size_t *idx; /* index of each rcpts[i] in m->rcpts */
    size_t n;
    struct rewrite_route route;
    struct relay_transport *tr; /* master.cf's service, referenced; NULL */
    char logname[96];           /* the delivery agent's name in the log */
    struct timeval t_active;
    smtpc_done_fn *done; /* qmgr_on_delivered, qmgr_on_passed */
    const char *service; /* the log's process name, NULL: the transport */
    struct qmgr_job *parent;
    size_t parent_i; /* the hand-off's recipient in the parent */
    char *pass_addr; /* the address handed on */
    size_t passing;  /* local: hand-offs not yet done, plus one */
    struct smtpc_result local_res;
};

static void qmgr_on_timer(evutil_socket_t fd, short what, void *arg);

void qmgr_init(struct relay *r)
{
    r->qmgr_timer = evtimer_new(r->base, qmgr_on_timer, r);
    r->qmgr_start = clock_time();
    r->scan_slot = -1; /* the first pass scans deferred/ */
}

/* Postfix's qmgr scans the deferred queue every queue_run_delay from its
 * start: a message whose backoff has run out goes back at the next scan.
 * The number of the scan period now is in. */
static long qmgr_run_delay(const struct relay *r)
{
    return r->p.queue_run_delay > 0 ? r->p.queue_run_delay : 1;
}

static long qmgr_slot(const struct relay *r, time_t now)
{
    return now <= r->qmgr_start
               ? 0
               : (long)(now - r->qmgr_start) / qmgr_run_delay(r);
}

/* When scan period slot begins. */
static time_t qmgr_slot_start(const struct relay *r, long slot)
{
    return r->qmgr_start + (time_t)slot * qmgr_run_delay(r);
}

int qmgr_scan_due(const struct relay *r)
{
    return r->scan_wanted || qmgr_slot(r, clock_time()) > r->scan_slot;
}

void qmgr_time_changed(struct relay *r)
{
    qmgr_schedule(r);
}

void qmgr_free(struct relay *r)
{
    smtpc_cancel_all(r);
    smtpc_close_cached(r);
    if (r->qmgr_timer != NULL)
        event_free(r->qmgr_timer);
    r->qmgr_timer = NULL;
}

void qmgr_schedule(struct relay *r)
{
    struct timeval now = {0, 0};

    if (r->qmgr_timer != NULL)
        evtimer_add(r->qmgr_timer, &now);
}

void qmgr_flush(struct relay *r)
{
    for (struct queue_msg *m = r->queue; m != NULL; m = m->next)
        m->next_try = 0;
    queue_make_all_due(r);
    qmgr_schedule(r);
}

static double qmgr_secs(const struct timeval *a, const struct timeval *b)
{
    double d = (double)(b->tv_sec - a->tv_sec) +
               (double)(b->tv_usec - a->tv_usec) / 1e6;

    return d < 0 ? 0 : d;
}

/* Postfix's delay format: "0" below 10 ms, two significant digits below
 * 10 s ("0.07", "1.9"), whole seconds above. */
static void qmgr_fmt_delay(char *buf, size_t len, double d)
{
    if (d < 0.01)
        snprintf(buf, len, "0");
    else if (d < 10)
        snprintf(buf, len, "%.2g", d);
    else
        snprintf(buf, len, "%.0f", d);
}

static void qmgr_log_rcpt(struct qmgr_job *j, const struct smtpc_rcpt *rc,
                          const char *to, const struct queue_rcpt *qr,
                          const struct smtpc_result *res)
{
    static const char *status[] = {"", "", "sent", "", "deferred", "bounced"};
    struct timeval arrival = {j->m->arrival, j->m->arrival_usec};
    char delay[16], a[16], b[16], c[16], d[16];
    char orig[600] = "";

    qmgr_fmt_delay(delay, sizeof(delay), qmgr_secs(&arrival, &res->t_done));
    qmgr_fmt_delay(a, sizeof(a), qmgr_secs(&arrival, &j->t_active));
    qmgr_fmt_delay(b, sizeof(b), qmgr_secs(&j->t_active, &res->t_start));
    qmgr_fmt_delay(c, sizeof(c),
                   qmgr_secs(&res->t_start,
                             res->t_conn.tv_sec ? &res->t_conn : &res->t_done));
    qmgr_fmt_delay(d, sizeof(d),
                   res->t_conn.tv_sec ? qmgr_secs(&res->t_conn, &res->t_done)
                                      : 0);
    if (str_casecmp(qr->orig, to) != 0)
        snprintf(orig, sizeof(orig), ", orig_to=<%s>", qr->orig);
    /* Postfix names the process "service/command" when they differ
     * (qmgr_job_agent); a deferral for a missing agent is error(8)'s. */
    const char *service = j->service ? j->service : j->logname;
    char use[32] = "";
    if (res->conn_use > 1)
        snprintf(use, sizeof(use), ", conn_use=%d", res->conn_use);
    maillog_printf(j->r->log, service,
                   "%s: to=<%s>%s, relay=%s%s, delay=%s, delays=%s/%s/%s/%s, "
                   "dsn=%s, status=%s (%s)",
                   j->m->id, to, orig, res->relay_desc, use, delay, a, b, c, d,
                   rc->dsn, status[rc->status], rc->reply ? rc->reply : "");
}

static void qmgr_job_free(struct qmgr_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->rcpts[i].reply);
        free(j->rcpts[i].diag);
    }
    free(j->rcpts);
    free(j->idx);
    if (j->parent == NULL)
        free(j->data);
    free(j->pass_addr);
    if (j->tr != NULL)
        j->tr->active--;
    filter_transport_release(j->tr);
    free(j);
}

time_t qmgr_next_try(const struct relay *r, const struct queue_msg *m,
                     time_t now)
{
    long backoff = (long)(now - m->arrival);

    if (backoff < r->p.minimal_backoff_time)
        backoff = r->p.minimal_backoff_time;
    if (backoff > r->p.maximal_backoff_time)
        backoff = r->p.maximal_backoff_time;
    return now + backoff;
}

/* Every delivery of m has reported: update or remove its queue file. */
static void qmgr_message_done(struct relay *r, struct queue_msg *m)
{
    int remaining = 0;
    time_t now = clock_time();

    for (size_t i = 0; i < m->nrcpt; i++)
        remaining += !m->rcpts[i].done;
    /* maximal_queue_lifetime (bounce_queue_lifetime for the null sender):
     * what is still pending goes back to the sender. */
    long lifetime =
        m->sender[0] ? r->p.maximal_queue_lifetime : r->p.bounce_queue_lifetime;
    if (remaining > 0 && now - m->arrival >= lifetime) {
        maillog_printf(r->log, "qmgr",
                       "%s: from=<%s>, status=expired, returned to sender",
                       m->id, m->sender);
        for (size_t i = 0; i < m->nrcpt; i++) {
            struct queue_rcpt *qr = &m->rcpts[i];
            if (qr->done)
                continue;
            bounce_add(m, qr, "4.4.7",
                       qr->reason ? qr->reason
                                  : "delivery temporarily suspended",
                       NULL, NULL);
            qr->done = 1;
        }
        remaining = 0;
    }
    /* The report is queued before the recipients are recorded as done:
     * if it cannot be written, they stay pending (nothing is lost). */
    if (m->nbounces > 0 && bounce_flush(r, m) < 0) {
        log_warn("%s: cannot queue the non-delivery report", m->id);
        for (size_t b = 0; b < m->nbounces; b++)
            for (size_t i = 0; i < m->nrcpt; i++)
                if (m->rcpts[i].done &&
                    strcmp(m->rcpts[i].addr, m->bounces[b].addr) == 0) {
                    m->rcpts[i].done = 0;
                    free(m->rcpts[i].reason);
                    m->rcpts[i].reason = xstrdup(m->bounces[b].reason);
                    remaining++;
                }
        bounce_clear(m);
    }
    /* Success notices: best effort (a failure is logged, the message is
     * not kept for it). */
    if (m->nsuccesses > 0 && bounce_success_flush(r, m) < 0)
        log_warn("%s: cannot queue the delivery status notification", m->id);
    if (remaining == 0) {
        char id[16];
        snprintf(id, sizeof(id), "%s", m->id);
        if (queue_update(r, m) < 0)
            log_warn("%s: remove queue file", id);
        maillog_printf(r->log, "qmgr", "%s: removed", id);
        return;
    }
    /* delay_warning_time: once, to the sender, while retries go on. */
    if (r->p.delay_warning_time > 0 && !m->warned && m->sender[0] != '\0' &&
        now - m->arrival >= r->p.delay_warning_time) {
        if (bounce_delay_warn(r, m) == 0)
            m->warned = 1;
        else
            log_warn("%s: cannot queue the delay warning", m->id);
    }
    m->next_try = qmgr_next_try(r, m, now);
    /* Into deferred/ and out of memory; if the file cannot be written, m
     * stays in the active queue and is tried again then. */
    char id[16];
    snprintf(id, sizeof(id), "%s", m->id);
    if (queue_update(r, m) < 0)
        log_warn("%s: update queue file", id);
}

static void qmgr_on_delivered(void *arg, struct smtpc_rcpt *rcpts, size_t n,
                              const struct smtpc_result *res)
{
    struct qmgr_job *j = arg;
    struct relay *r = j->r;
    struct queue_msg *m = j->m;

    char remote[256] = "";
    /* Remote-MTA: the host of "host[ip]:port", when we got that far. */
    if (strcmp(res->relay_desc, "none") != 0)
        snprintf(remote, sizeof(remote), "%.*s",
                 (int)strcspn(res->relay_desc, "["), res->relay_desc);
    /* Those refused at RCPT TO first: smtp(8) and lmtp(8) log them (and
     * append their bounce) when the reply comes, smtp_rcpt_fail(), before
     * the outcomes of the end of DATA. */
    for (size_t k = 0; k < 2 * n; k++) {
        size_t i = k % n;
        if ((k < n) != (rcpts[i].at_rcpt != 0))
            continue;
        struct queue_rcpt *qr = &m->rcpts[j->idx[i]];
        if (!rcpts[i].logged)
            qmgr_log_rcpt(j, &rcpts[i], qr->addr, qr, res);
        free(qr->reason);
        qr->reason = NULL;
        free(qr->diag);
        qr->diag = NULL;
        qr->dsn[0] = '\0';
        if (rcpts[i].status == 4) {
            qr->reason = xstrdup(rcpts[i].reply ? rcpts[i].reply : "");
            snprintf(qr->dsn, sizeof(qr->dsn), "%s", rcpts[i].dsn);
            if (rcpts[i].diag != NULL)
                qr->diag = xstrdup(rcpts[i].diag);
            continue;
        }
        if (rcpts[i].status == 5 && strcmp(res->relay_desc, "local") == 0) {
            /* local(8) has no remote MTA; a hand-off to LMTP has, named
             * by its reply ("host NAME[ip] said: ..."). */
            const char *why = rcpts[i].reply ? rcpts[i].reply : "";
            char host[256] = "";
            if (rcpts[i].diag != NULL && strncmp(why, "host ", 5) == 0)
                snprintf(host, sizeof(host), "%.*s", (int)strcspn(why + 5, "["),
                         why + 5);
            bounce_add(m, qr, rcpts[i].dsn, why, rcpts[i].diag,
                       host[0] ? host : NULL);
        } else if (rcpts[i].status == 5) {
            bounce_add(m, qr, rcpts[i].dsn, rcpts[i].reply, rcpts[i].diag,
                       remote[0] ? remote : NULL);
        }
        /* RFC 3461 section 5.2.2: a next hop without DSN takes no
         * request for a success notice along: this one says "relayed". */
        if (rcpts[i].status == 2 && (qr->notify & DSN_NOTIFY_SUCCESS) &&
            remote[0] != '\0' && !res->offered_dsn) {
            char *why = xasprintf("delivery via %s: %s", res->relay_desc,
                                  rcpts[i].reply ? rcpts[i].reply : "");
            bounce_add_success(m, qr, why, rcpts[i].reply, remote);
            free(why);
        }
        qr->done = 1;
    }
    qmgr_job_free(j);
    if (--m->in_delivery == 0) {
        if (m->deleted)
            queue_delete(r, m); /* postsuper -d came during delivery */
        else
            qmgr_message_done(r, m);
    }
    relay_changed(r);
    qmgr_schedule(r);
}

/* Local outcome without a connection (error:, discard:, unavailable). */
static void qmgr_local_outcome(struct qmgr_job *j, int status, const char *dsn,
                               const char *text)
{
    struct smtpc_result res;

    memset(&res, 0, sizeof(res));
    snprintf(res.relay_desc, sizeof(res.relay_desc), "none");
    clock_now(&res.t_start);
    res.t_done = res.t_start;
    for (size_t i = 0; i < j->n; i++) {
        j->rcpts[i].status = status;
        snprintf(j->rcpts[i].dsn, sizeof(j->rcpts[i].dsn), "%s", dsn);
        j->rcpts[i].reply = xstrdup(text);
    }
    j->done(j, j->rcpts, j->n, &res);
}

/* local(8) logs each piece of an alias expansion on its own line. */
static void qmgr_local_log(void *arg, size_t i, const char *to,
                           const struct smtpc_rcpt *piece)
{
    struct qmgr_job *j = arg;
    struct smtpc_result res = j->local_res;

    clock_now(&res.t_done);
    qmgr_log_rcpt(j, piece, to, &j->m->rcpts[j->idx[i]], &res);
}

/* One of the local job's hand-offs is done (or, the last time, the
 * starting of them): when none is left, the job is. */
static void qmgr_pass_done(struct qmgr_job *j)
{
    if (--j->passing > 0)
        return;
    clock_now(&j->local_res.t_done);
    qmgr_on_delivered(j, j->rcpts, j->n, &j->local_res);
}

/* A hand-off has its outcome: logged by its transport (to= the address
 * handed on), folded into the local job's recipient. */
static void qmgr_on_passed(void *arg, struct smtpc_rcpt *rcpts, size_t n,
                           const struct smtpc_result *res)
{
    struct qmgr_job *sj = arg, *j = sj->parent;

    (void)n;
    qmgr_log_rcpt(sj, &rcpts[0], rcpts[0].addr, &sj->m->rcpts[sj->idx[0]], res);
    local_fold(&j->rcpts[sj->parent_i], &rcpts[0]);
    qmgr_job_free(sj);
    qmgr_pass_done(j);
}

static void qmgr_start_job(struct qmgr_job *j);
static void qmgr_job_agent(struct qmgr_job *j);

/* Run one mailbox delivery that local(8) handed on, as deliver_pass()
 * does: one recipient per request, to the transport named. */
static void qmgr_start_pass(struct qmgr_job *j, const struct local_pass *lp)
{
    struct qmgr_job *sj = xcalloc(1, sizeof(*sj));
    const struct smtpc_rcpt *rc = &j->rcpts[lp->i];

    sj->r = j->r;
    sj->m = j->m;
    sj->data = j->data;
    sj->len = j->len;
    sj->t_active = j->t_active;
    sj->done = qmgr_on_passed;
    sj->parent = j;
    sj->parent_i = lp->i;
    sj->pass_addr = xstrdup(lp->addr);
    snprintf(sj->route.transport, sizeof(sj->route.transport), "%s",
             lp->transport);
    snprintf(sj->route.nexthop, sizeof(sj->route.nexthop), "%s", lp->nexthop);
    sj->rcpts = xcalloc(1, sizeof(*sj->rcpts));
    sj->idx = xcalloc(1, sizeof(*sj->idx));
    sj->rcpts[0].addr = sj->pass_addr;
    sj->rcpts[0].orig = rc->orig;
    sj->rcpts[0].orcpt = rc->orcpt;
    sj->rcpts[0].notify = rc->notify;
    sj->idx[0] = j->idx[lp->i];
    sj->n = 1;
    qmgr_job_agent(sj);
    j->passing++;
    qmgr_start_job(sj);
}

/* local(8): aliases and mailboxes now; the mailbox deliveries handed to
 * mailbox_transport run on, and the job ends with the last of them. */
static void qmgr_start_local(struct qmgr_job *j)
{
    struct local_passes passes = {NULL, 0};

    memset(&j->local_res, 0, sizeof(j->local_res));
    snprintf(j->local_res.relay_desc, sizeof(j->local_res.relay_desc), "local");
    clock_now(&j->local_res.t_start);
    local_deliver(j->r, j->m, j->rcpts, j->idx, j->n, j->data, j->len,
                  qmgr_local_log, j, &passes);
    /* One count for this loop: a hand-off that ends at once (an
     * unavailable transport) cannot end the job under it. */
    j->passing = 1;
    for (size_t k = 0; k < passes.n; k++)
        qmgr_start_pass(j, &passes.v[k]);
    local_passes_clear(&passes);
    qmgr_pass_done(j);
}

/* The job's delivery agent: a master.cf service of that name (its
 * command and parameters), else one built in. Its name in the log is
 * Postfix's process name ("service/command" for relay, whose master.cf
 * line sets syslog_name). */
static void qmgr_job_agent(struct qmgr_job *j)
{
    const char *t = j->route.transport;

    j->tr = filter_transport_find(j->r, t);
    if (j->tr != NULL) {
        j->tr->refs++;
        j->tr->active++;
        snprintf(j->logname, sizeof(j->logname), "%s", j->tr->logname);
    } else {
        snprintf(j->logname, sizeof(j->logname), "%s",
                 strcmp(t, "relay") == 0 ? "relay/smtp" : t);
    }
}

static void qmgr_start_job(struct qmgr_job *j)
{
    const char *t = j->route.transport;

    if (j->tr != NULL || strcmp(t, "smtp") == 0 || strcmp(t, "relay") == 0 ||
        strcmp(t, "lmtp") == 0) {
        struct smtpc_msg msg = {j->m->sender, j->m->dsn_ret, j->m->dsn_envid,
                                j->data,      j->len,        NULL};
        const char *agent = j->logname;
        if (j->tr != NULL) {
            msg.p = &j->tr->p;
            agent = j->tr->lmtp ? "lmtp" : "smtp";
        }
        smtpc_start(j->r, agent, j->logname, j->m->id, j->route.nexthop, &msg,
                    j->rcpts, j->n, j->done, j);
    } else if (strcmp(t, "error") == 0) {
        qmgr_local_outcome(j, 5, "5.0.0", j->route.nexthop);
    } else if (strcmp(t, "discard") == 0) {
        qmgr_local_outcome(j, 2, "2.0.0", j->route.nexthop);
    } else if (strcmp(t, "local") == 0 && j->parent == NULL) {
        qmgr_start_local(j);
    } else {
        /* Neither built in nor in master.cf: qmgr(8) cannot reach the
         * service and defers, error(8) logs the deferral (local(8) both,
         * for a hand-off). Postfix's own agents the relay lacks (virtual;
         * local as mailbox_transport) say so; anything else (a pipe
         * service, a typo) gets Postfix's words. */
        int lacked = j->parent != NULL || strcmp(t, "virtual") == 0;
        maillog_printf(j->r->log, j->parent != NULL ? "local" : "qmgr",
                       "warning: connect to transport private/%s: %s", t,
                       lacked ? "mxlab-relay has no such delivery agent"
                              : "No such file or directory");
        j->service = j->parent != NULL ? "local" : "error";
        qmgr_local_outcome(j, 4, "4.3.0", "mail transport unavailable");
    }
}

/* qmgr_message_sort's order within a job: by domain (any case), then
 * by address; an address without a domain comes last. */
static int qmgr_rcpt_cmp(const char *a, const char *b)
{
    const char *da = strrchr(a, '@'), *db = strrchr(b, '@');
    int rc;

    if ((da == NULL) != (db == NULL))
        return da == NULL ? 1 : -1;
    if (da != NULL && (rc = str_casecmp(da, db)) != 0)
        return rc;
    return strcmp(a, b);
}

/* Where a recipient of m goes: the content filter's transport and next
 * hop when m has one (qmgr_message_resolve(): it overrides the address
 * resolver; no next hop: default_filter_nexthop, else the recipient's
 * domain), else the address's own route. */
static void qmgr_route(struct relay *r, const struct queue_msg *m,
                       const char *addr, struct rewrite_route *route)
{
    char transport[FILTER_TRANSPORT_MAX + 1], nexthop[FILTER_NEXTHOP_MAX + 1];
    const char *at;

    if (m->filter == NULL || filter_split(m->filter, transport, nexthop) < 0) {
        rewrite_resolve(r, addr, route);
        return;
    }
    memset(route, 0, sizeof(*route));
    snprintf(route->transport, sizeof(route->transport), "%s", transport);
    at = strrchr(addr, '@');
    snprintf(route->nexthop, sizeof(route->nexthop), "%s",
             nexthop[0]                       ? nexthop
             : r->p.default_filter_nexthop[0] ? r->p.default_filter_nexthop
             : at != NULL && at[1] != '\0'    ? at + 1
                                              : r->p.myhostname);
    snprintf(route->rcpt, sizeof(route->rcpt), "%s", addr);
}

/* Split m's pending recipients into jobs by route and start them. */
static void qmgr_start_message(struct relay *r, struct queue_msg *m)
{
    struct qmgr_job **jobs = NULL;
    size_t njobs = 0, pending = 0;
    char *data = NULL;
    size_t len = 0;
    struct timeval now;

    if (queue_read_data(r, m, &data, &len) < 0) {
        log_warn("%s: read queue file", m->id);
        m->next_try = clock_time() + r->p.minimal_backoff_time;
        return;
    }
    clock_now(&now);
    for (size_t i = 0; i < m->nrcpt; i++)
        pending += !m->rcpts[i].done;
    maillog_printf(r->log, "qmgr",
                   "%s: from=<%s>, size=%zu, nrcpt=%zu "
                   "(queue active)",
                   m->id, m->sender, m->size, pending);
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct rewrite_route route;
        struct qmgr_job *j = NULL;

        if (m->rcpts[i].done)
            continue;
        qmgr_route(r, m, m->rcpts[i].addr, &route);
        /* The resolver may rewrite the address (user%site@here is
         * user@site): deliver to that one, as qmgr's RECIPIENT_UPDATE. */
        if (route.rcpt[0] != '\0' &&
            strcmp(route.rcpt, m->rcpts[i].addr) != 0) {
            free(m->rcpts[i].addr);
            m->rcpts[i].addr = xstrdup(route.rcpt);
        }
        for (size_t k = 0; k < njobs; k++)
            if (strcmp(jobs[k]->route.transport, route.transport) == 0 &&
                strcmp(jobs[k]->route.nexthop, route.nexthop) == 0)
                j = jobs[k];
        if (j == NULL) {
            j = xcalloc(1, sizeof(*j));
            j->r = r;
            j->m = m;
            j->done = qmgr_on_delivered;
            j->route = route;
            qmgr_job_agent(j);
            j->t_active = now;
            j->data = xmalloc(len + 1);
            memcpy(j->data, data, len);
            j->len = len;
            jobs = xrealloc(jobs, (njobs + 1) * sizeof(*jobs));
            jobs[njobs++] = j;
        }
        j->rcpts = xrealloc(j->rcpts, (j->n + 1) * sizeof(*j->rcpts));
        j->idx = xrealloc(j->idx, (j->n + 1) * sizeof(*j->idx));
        /* In address order, as Postfix's qmgr sorts a message's
         * recipients (qmgr_message_sort): the RCPT commands come in that
         * order. */
        size_t at = j->n;
        while (at > 0 &&
               qmgr_rcpt_cmp(j->rcpts[at - 1].addr, m->rcpts[i].addr) > 0) {
            j->rcpts[at] = j->rcpts[at - 1];
            j->idx[at] = j->idx[at - 1];
            at--;
        }
        memset(&j->rcpts[at], 0, sizeof(j->rcpts[0]));
        j->rcpts[at].addr = m->rcpts[i].addr;
        j->rcpts[at].orig = m->rcpts[i].orig;
        j->rcpts[at].orcpt = m->rcpts[i].orcpt;
        j->rcpts[at].notify = m->rcpts[i].notify;
        j->idx[at] = i;
        j->n++;
    }
    free(data);
    /* Count all jobs first: a job may finish synchronously, and m must not
     * be finalised before its last job has reported. */
    m->in_delivery = (int)njobs;
    for (size_t k = 0; k < njobs; k++)
        qmgr_start_job(jobs[k]);
    free(jobs);
}

/* 1 if a next hop of m's pending recipients already has as many
 * deliveries in progress as its transport's
 * destination_concurrency_limit allows: m waits (in arrival order). */
static int qmgr_destination_full(struct relay *r, const struct queue_msg *m)
{
    long least = r->p.smtp_destination_concurrency_limit;
    int busy = 0;

    /* A master.cf service at its process limit (maxproc): its mail
     * waits for a delivery to end, as for a free process in Postfix.
     * Routes are resolved only while one is at its limit. */
    for (const struct relay_transport *t = r->transports; t && !busy;
         t = t->next)
        busy = t->maxproc > 0 && (long)t->active >= t->maxproc;
    for (size_t i = 0; i < m->nrcpt && busy; i++) {
        struct rewrite_route route;
        const struct relay_transport *tr;
        if (m->rcpts[i].done)
            continue;
        qmgr_route(r, m, m->rcpts[i].addr, &route);
        tr = filter_transport_find(r, route.transport);
        if (tr != NULL && tr->maxproc > 0 && (long)tr->active >= tr->maxproc)
            return 1;
    }

    if (least <= 0 || (r->p.relay_destination_concurrency_limit > 0 &&
                       r->p.relay_destination_concurrency_limit < least))
        least = r->p.relay_destination_concurrency_limit;
    /* Fewer deliveries in all than the smallest limit: none can be full,
     * and no route needs resolving twice. */
    if (least <= 0 || (long)r->ndeliveries < least)
        return 0;
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct rewrite_route route;
        long limit;

        if (m->rcpts[i].done)
            continue;
        qmgr_route(r, m, m->rcpts[i].addr, &route);
        if (strcmp(route.transport, "smtp") == 0)
            limit = r->p.smtp_destination_concurrency_limit;
        else if (strcmp(route.transport, "relay") == 0)
            limit = r->p.relay_destination_concurrency_limit;
        else
            continue;
        if (limit > 0 && (long)smtpc_count_nexthop(r, route.nexthop) >= limit)
            return 1;
    }
    return 0;
}

time_t qmgr_next_event(struct relay *r)
{
    time_t now = clock_time(), next = 0, first;

    for (const struct queue_msg *m = r->queue; m != NULL; m = m->next)
        if (!m->in_delivery && m->next_try > now &&
            (next == 0 || m->next_try < next))
            next = m->next_try;
    if (queue_deferred_first(r, &first) > 0) {
        /* The first scan after now that finds it due. */
        long qrd = qmgr_run_delay(r), slot = qmgr_slot(r, now) + 1;
        if (first > qmgr_slot_start(r, slot))
            slot = (long)((first - r->qmgr_start + qrd - 1) / qrd);
        time_t scan = qmgr_slot_start(r, slot);
        if (next == 0 || scan < next)
            next = scan;
    }
    return next;
}

static void qmgr_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct relay *r = arg;
    struct queue_msg **ready = NULL;
    size_t nready = 0;
    time_t now = clock_time(), next = 0;
    long slot = qmgr_slot(r, now);
    int scanned = 0;

    (void)fd;
    (void)what;
    if (qmgr_scan_due(r)) {
        /* Files due by the start of this scan period (the scan Postfix
         * would have made then), while the active queue has room. */
        r->scan_slot = slot;
        r->scan_wanted =
            queue_scan_deferred(r, qmgr_slot_start(r, slot),
                                (size_t)r->p.qmgr_message_active_limit);
        scanned = 1;
    }
    for (struct queue_msg *m = r->queue; m != NULL; m = m->next) {
        if (m->in_delivery)
            continue;
        if (m->next_try > now) {
            if (next == 0 || m->next_try < next)
                next = m->next_try;
            continue;
        }
        ready = xrealloc(ready, (nready + 1) * sizeof(*ready));
        ready[nready++] = m;
    }
    for (size_t i = 0; i < nready; i++) {
        if (r->ndeliveries >= QMGR_MAX_DELIVERIES)
            break; /* the next completion schedules another pass */
        if (qmgr_destination_full(r, ready[i]))
            continue; /* a completion there schedules another pass */
        qmgr_start_message(r, ready[i]);
    }
    free(ready);
    if (scanned)
        relay_changed(r); /* the harness's "idle" may have changed */
    if (r->deferred_left > 0) {
        time_t scan = qmgr_slot_start(r, slot + 1);
        if (next == 0 || scan < next)
            next = scan;
    }
    /* On a simulated clock the harness says when time passes. */
    if (next != 0 && !clock_is_simulated()) {
        struct timeval tv = {next > now ? next - now : 0, 0};
        if (!evtimer_pending(r->qmgr_timer, NULL))
            evtimer_add(r->qmgr_timer, &tv);
    }
}
