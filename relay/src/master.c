/*
 * master.c — the part of Postfix's master(8) that a single-process relay
 * needs: master.cf maxproc caps a service's concurrent sessions (beyond
 * it, new connections wait in the listen queue, as with busy smtpd
 * processes), and a service at its limit goes under stress for 1000 s:
 * new sessions get the "${stress?...}" parameter values (smtpd_timeout
 * 10s, per-request deadlines, smaller error limits; STRESS_README).
 * When accept() fails for lack of descriptors the listeners pause for a
 * second (or until a session ends), logged once, instead of spinning.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "master.h"
#include "mxlab/clock.h"
#include "mxlab/config.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "params.h"
#include "relay.h"

#define MASTER_STRESS_TIME 1000 /* seconds, as master_avail.c */
#define MASTER_ACCEPT_PAUSE 1   /* seconds without accept() */

enum { MASTER_ACCEPTING, MASTER_PAUSED, MASTER_RETRYING };

int master_service_init(struct relay *r, struct relay_service *svc,
                        const char *maxproc, const char *where, char *err,
                        size_t errlen)
{
    struct config *cf;
    long n;
    int rc;

    if (strcmp(maxproc, "-") == 0) {
        n = config_get_long(svc->cf, "default_process_limit", err, errlen);
        if (n < 0)
            return -1;
    } else if (str_to_long(maxproc, &n) < 0 || n < 0) {
        snprintf(err, errlen, "%s: bad maxproc field \"%s\" (a number or -)",
                 where, maxproc);
        return -1;
    }
    svc->maxproc = n;
    cf = config_copy(svc->cf);
    config_set(cf, "stress", "yes");
    rc = relay_service_params(r, cf, &svc->stress_p, err, errlen);
    config_free(cf);
    return rc;
}

/* master's name for the service's endpoint: "25", or "[ip]:port". */
static void master_endpoint(const struct relay *r,
                            const struct relay_service *svc, char *buf,
                            size_t len)
{
    char ip[64];

    snprintf(buf, len, "%s", svc->name);
    for (size_t i = 0; i < r->nlisteners; i++) {
        const struct relay_listener *l = r->listeners[i];
        if (l->svc != svc)
            continue;
        if (strchr(svc->name, ':') != NULL)
            snprintf(buf, len, "[%s]:%d", netaddr_ip(&l->addr, ip, sizeof(ip)),
                     netaddr_port(&l->addr));
        else
            snprintf(buf, len, "%d", netaddr_port(&l->addr));
        break;
    }
}

const struct relay_params *master_session_start(struct relay *r,
                                                struct relay_service *svc)
{
    time_t now = clock_time();
    char endpoint[128];

    svc->nsessions++;
    if (svc->maxproc > 0 && svc->nsessions >= (size_t)svc->maxproc) {
        /* master_avail_event(): the session that takes the last slot
         * already runs under stress. */
        svc->stress_until = now + MASTER_STRESS_TIME;
        if (svc->busy_warned == 0 || svc->busy_warned < now - 1000) {
            svc->busy_warned = now;
            master_endpoint(r, svc, endpoint, sizeof(endpoint));
            maillog_printf(r->log, "master",
                           "warning: service \"%s\" (%s) has reached its "
                           "process limit \"%ld\": new clients may "
                           "experience noticeable delays",
                           svc->name, endpoint, svc->maxproc);
            maillog_printf(r->log, "master",
                           "warning: to avoid this condition, increase the "
                           "process count in master.cf or reduce the "
                           "service time per client");
            maillog_printf(r->log, "master",
                           "warning: see "
                           "http://www.postfix.org/STRESS_README.html for "
                           "examples of stress-adapting configuration "
                           "settings");
        }
        master_listen_update(r);
    }
    return svc->stress_until > now ? &svc->stress_p : &svc->p;
}

void master_session_end(struct relay *r, struct relay_service *svc)
{
    svc->nsessions--;
    /* A descriptor came free: try accepting again now. */
    if (r->accept_paused == MASTER_PAUSED)
        r->accept_paused = MASTER_RETRYING;
    master_listen_update(r);
}

void master_listen_update(struct relay *r)
{
    for (size_t i = 0; i < r->nlisteners; i++) {
        struct relay_listener *l = r->listeners[i];
        const struct relay_service *svc = l->svc;
        if (l->lev == NULL)
            continue;
        if (r->accept_paused != MASTER_PAUSED &&
            (svc->maxproc == 0 || svc->nsessions < (size_t)svc->maxproc))
            evconnlistener_enable(l->lev);
        else
            evconnlistener_disable(l->lev);
    }
}

void master_accept_ok(struct relay *r)
{
    r->accept_paused = MASTER_ACCEPTING;
}

static void master_on_pause_end(evutil_socket_t fd, short what, void *arg)
{
    struct relay *r = arg;

    (void)fd;
    (void)what;
    if (r->accept_paused == MASTER_PAUSED)
        r->accept_paused = MASTER_RETRYING;
    master_listen_update(r);
}

void master_accept_error(struct evconnlistener *lev, void *arg)
{
    struct relay_listener *l = arg;
    struct relay *r = l->r;
    struct timeval tv = {MASTER_ACCEPT_PAUSE, 0};
    int err = EVUTIL_SOCKET_ERROR();
    time_t now = clock_time();

    (void)lev;
    if (err == EINTR || err == ECONNABORTED)
        return;
    /* Once per shortage, however long it lasts or however often a
     * session that ends lets one more in: at most every 1000 s, as
     * master warns of a process limit. */
    if (r->accept_warned == 0 || r->accept_warned < now - 1000) {
        r->accept_warned = now;
        maillog_printf(r->log, "master",
                       "warning: service \"%s\": accept connection: %s: "
                       "not accepting new connections for %d second%s "
                       "at a time until this clears",
                       l->svc->name, strerror(err), MASTER_ACCEPT_PAUSE,
                       MASTER_ACCEPT_PAUSE == 1 ? "" : "s");
    }
    r->accept_paused = MASTER_PAUSED;
    if (r->accept_pause == NULL)
        r->accept_pause = evtimer_new(r->base, master_on_pause_end, r);
    evtimer_add(r->accept_pause, &tv);
    master_listen_update(r);
}

void master_free(struct relay *r)
{
    if (r->accept_pause != NULL)
        event_free(r->accept_pause);
    r->accept_pause = NULL;
}
