/*
 * policy_client.c — check_policy_service's client (Postfix's
 * SMTPD_POLICY_README): the request is name=value lines and an empty
 * line; so is the reply, of which action= counts. Connections are kept
 * per server for the next request (smtpd_policy_service_max_idle,
 * _max_ttl, _request_limit), a failed one is tried again after
 * _retry_delay up to _try_limit times, each request within _timeout.
 * Ownership: the pool owns its idle connections; a query owns the
 * connection it uses until it is done or cancelled.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mxlab/clock.h"
#include "mxlab/config.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "policy_client.h"

static const struct {
    const char *name, *value;
} policy_client_defaults[] = {
    {"smtpd_policy_service_max_idle", "300s"},
    {"smtpd_policy_service_max_ttl", "1000s"},
    {"smtpd_policy_service_timeout", "100s"},
    {"smtpd_policy_service_retry_delay", "1s"},
    {"smtpd_policy_service_request_limit", "0"},
    {"smtpd_policy_service_try_limit", "2"},
    {"smtpd_policy_service_default_action",
     "451 4.3.5 Server configuration problem"},
    {"smtpd_policy_service_policy_context", ""},
};
#define POLICY_NDEFAULTS                                                       \
    (sizeof(policy_client_defaults) / sizeof(policy_client_defaults[0]))

const char *policy_client_default(const char *name)
{
    for (size_t i = 0; i < POLICY_NDEFAULTS; i++)
        if (strcmp(policy_client_defaults[i].name, name) == 0)
            return policy_client_defaults[i].value;
    return NULL;
}

void policy_client_set_defaults(struct config *cf)
{
    for (size_t i = 0; i < POLICY_NDEFAULTS; i++)
        config_set_default(cf, policy_client_defaults[i].name,
                           policy_client_defaults[i].value);
}

int policy_client_conf_load(struct policy_client_conf *c, struct config *cf,
                            char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
        int time;
    } nums[] = {
        {"smtpd_policy_service_max_idle",
         offsetof(struct policy_client_conf, max_idle), 1},
        {"smtpd_policy_service_max_ttl",
         offsetof(struct policy_client_conf, max_ttl), 1},
        {"smtpd_policy_service_timeout",
         offsetof(struct policy_client_conf, timeout), 1},
        {"smtpd_policy_service_retry_delay",
         offsetof(struct policy_client_conf, retry_delay), 1},
        {"smtpd_policy_service_request_limit",
         offsetof(struct policy_client_conf, request_limit), 0},
        {"smtpd_policy_service_try_limit",
         offsetof(struct policy_client_conf, try_limit), 0},
    };

    memset(c, 0, sizeof(*c));
    c->default_action =
        xstrdup(config_get(cf, "smtpd_policy_service_default_action"));
    c->policy_context =
        xstrdup(config_get(cf, "smtpd_policy_service_policy_context"));
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        long v = nums[i].time
                     ? config_get_time(cf, nums[i].name, 's', err, errlen)
                     : config_get_long(cf, nums[i].name, err, errlen);
        if (v < 0)
            return -1;
        *(long *)((char *)c + nums[i].off) = v;
    }
    if (c->try_limit < 1)
        c->try_limit = 1; /* Postfix: at least one try */
    return 0;
}

void policy_client_conf_clear(struct policy_client_conf *c)
{
    free(c->default_action);
    free(c->policy_context);
    c->default_action = c->policy_context = NULL;
}

/* name=value and LF; the value stops at a CR or LF (one line each). */
static void policy_attr(struct strbuf *out, const char *name, const char *v)
{
    if (v == NULL)
        v = "";
    strbuf_printf(out, "%s=%.*s\n", name, (int)strcspn(v, "\r\n"), v);
}

void policy_client_request(struct strbuf *out, const struct policy_attrs *a,
                           const char *policy_context)
{
    char count[24], size[24], bits[24], port[24];

    snprintf(count, sizeof(count), "%ld", a->recipient_count);
    snprintf(size, sizeof(size), "%ld", a->size);
    snprintf(bits, sizeof(bits), "%ld", a->encryption_keysize);
    snprintf(port, sizeof(port), "%ld", a->server_port);
    /* Postfix 3.7's order (smtpd_check.c check_policy_service()). */
    const struct {
        const char *name, *value;
    } attrs[] = {
        {"request", "smtpd_access_policy"},
        {"protocol_state", a->protocol_state},
        {"protocol_name", a->protocol_name},
        {"helo_name", a->helo_name},
        {"queue_id", a->queue_id},
        {"sender", a->sender},
        {"recipient", a->recipient},
        {"recipient_count", count},
        {"client_address", a->client_address},
        {"client_name", a->client_name},
        {"reverse_client_name", a->reverse_client_name},
        {"instance", a->instance},
        {"sasl_method", a->sasl_method},
        {"sasl_username", a->sasl_username},
        {"sasl_sender", a->sasl_sender},
        {"size", size},
        {"ccert_subject", NULL},
        {"ccert_issuer", NULL},
        {"ccert_fingerprint", NULL},
        {"ccert_pubkey_fingerprint", NULL},
        {"encryption_protocol", a->encryption_protocol},
        {"encryption_cipher", a->encryption_cipher},
        {"encryption_keysize", bits},
        {"etrn_domain", NULL},
        {"stress", NULL},
        {"server_address", a->server_address},
        {"server_port", port},
        {"policy_context", policy_context},
        {"compatibility_level", "3.6"},
        {"mail_version", "3.7.11"},
    };

    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        policy_attr(out, attrs[i].name, attrs[i].value);
    strbuf_putc(out, '\n');
}

int policy_reply_line(struct policy_reply *r, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0) {
        if (r->action == NULL)
            r->action = xstrdup("");
        return 1;
    }
    /* The first action= counts; other attributes are ignored, as in
     * Postfix's attr_clnt (ATTR_FLAG_MISSING not set). */
    if (r->action == NULL && len >= 7 && memcmp(line, "action=", 7) == 0)
        r->action = xstrndup(line + 7, len - 7);
    return 0;
}

void policy_reply_clear(struct policy_reply *r)
{
    free(r->action);
    r->action = NULL;
}

/* Connections. */

struct policy_conn {
    struct policy_pool *pool;
    const struct policy_client_conf *conf; /* its service's (not shared
                                              across services, as in
                                              Postfix: one per smtpd) */
    char *server;
    struct bufferevent *bev;
    struct event *idle_ev; /* max_idle, while in the pool */
    time_t born;
    long requests;
    int connected;
    struct policy_query *q; /* the query it serves, NULL when idle */
    struct policy_conn *next;
};

struct policy_pool {
    struct event_base *base;
    struct policy_conn *idle;
};

struct policy_query {
    struct policy_pool *pool;
    const struct policy_client_conf *conf;
    char *server;
    char *request;
    struct policy_conn *conn;
    struct policy_reply reply;
    struct event *retry_ev;
    long tries;
    policy_query_fn *done;
    policy_warn_fn *warn;
    void *arg;
};

struct policy_pool *policy_pool_new(struct event_base *base)
{
    struct policy_pool *p = xcalloc(1, sizeof(*p));

    p->base = base;
    return p;
}

static void policy_conn_free(struct policy_conn *c)
{
    if (c == NULL)
        return;
    for (struct policy_conn **pp = &c->pool->idle; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    bufferevent_free(c->bev);
    if (c->idle_ev != NULL)
        event_free(c->idle_ev);
    free(c->server);
    free(c);
}

void policy_pool_free(struct policy_pool *p)
{
    if (p == NULL)
        return;
    while (p->idle != NULL)
        policy_conn_free(p->idle);
    free(p);
}

static void policy_warn(struct policy_query *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void policy_warn(struct policy_query *q, const char *fmt, ...)
{
    char text[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    q->warn(q->arg, text);
}

/* Postfix names a server without its "inet:" in its warnings. */
static const char *policy_server_name(const char *server)
{
    return strncmp(server, "inet:", 5) == 0   ? server + 5
           : strncmp(server, "unix:", 5) == 0 ? server + 5
                                              : server;
}

static void policy_query_end(struct policy_query *q, const char *action)
{
    policy_query_fn *done = q->done;
    void *arg = q->arg;
    char *copy = action ? xstrdup(action) : NULL;

    policy_query_cancel(q);
    done(arg, copy);
    free(copy);
}

static void policy_try(struct policy_query *q);

/* The connection failed (why: errno text, or "timeout"; connecting: it
 * was never established), as Postfix's attr_clnt logs it: again after
 * retry_delay, or give up. */
static void policy_failed(struct policy_query *q, const char *why,
                          int connecting)
{
    struct timeval tv = {q->conf->retry_delay, 0};

    if (connecting)
        policy_warn(q, "connect to %s: %s", policy_server_name(q->server), why);
    policy_warn(q, "problem talking to server %s: %s",
                policy_server_name(q->server), why);
    policy_conn_free(q->conn);
    q->conn = NULL;
    policy_reply_clear(&q->reply);
    if (++q->tries >= q->conf->try_limit) {
        policy_query_end(q, NULL);
        return;
    }
    evtimer_add(q->retry_ev, &tv);
}

static void policy_on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    policy_conn_free(arg); /* max_idle passed */
}

/* The reply is in: the connection goes back to the pool unless it has
 * served its time or its requests. */
static void policy_release(struct policy_query *q)
{
    struct policy_conn *c = q->conn;
    const struct policy_client_conf *conf = q->conf;
    struct timeval idle = {conf->max_idle, 0};

    q->conn = NULL;
    c->q = NULL;
    c->requests++;
    if ((conf->request_limit > 0 && c->requests >= conf->request_limit) ||
        clock_time() - c->born >= conf->max_ttl) {
        policy_conn_free(c);
        return;
    }
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    c->next = c->pool->idle;
    c->pool->idle = c;
    if (c->idle_ev == NULL)
        c->idle_ev = evtimer_new(c->pool->base, policy_on_idle, c);
    evtimer_add(c->idle_ev, &idle);
}

static void policy_on_read(struct bufferevent *bev, void *arg)
{
    struct policy_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;

    if (c->q == NULL) { /* idle: nothing may come */
        policy_conn_free(c);
        return;
    }
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        int end = policy_reply_line(&c->q->reply, line, n);
        free(line);
        if (end) {
            struct policy_query *q = c->q;
            char *action = q->reply.action;
            q->reply.action = NULL;
            policy_release(q);
            policy_query_end(q, action);
            free(action);
            return;
        }
    }
}

static void policy_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct policy_conn *c = arg;
    int err = EVUTIL_SOCKET_ERROR();

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = 1;
        return;
    }
    if (c->q == NULL) {
        policy_conn_free(c); /* the server closed an idle connection */
        return;
    }
    policy_failed(c->q,
                  what & BEV_EVENT_TIMEOUT ? "timeout"
                  : what & BEV_EVENT_EOF   ? "lost connection"
                                           : strerror(err),
                  !c->connected);
}

/* A new connection to server, being established; NULL with errno. */
static struct policy_conn *policy_connect(struct policy_pool *p,
                                          const char *server,
                                          const struct policy_client_conf *conf)
{
    struct policy_conn *c = xcalloc(1, sizeof(*c));
    struct netaddr na;
    int ok = netaddr_parse_endpoint(server, &na) == 0;

    c->pool = p;
    c->conf = conf;
    c->server = xstrdup(server);
    c->born = clock_time();
    c->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, policy_on_read, NULL, policy_on_event, c);
    if (!ok) {
        errno = EINVAL;
    } else if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&na.ss,
                                          (int)na.len) == 0) {
        return c;
    }
    int saved = errno;
    policy_conn_free(c);
    errno = saved;
    return NULL;
}

static void policy_try(struct policy_query *q)
{
    struct policy_pool *p = q->pool;
    struct policy_conn *c, **pp;
    struct timeval tv = {q->conf->timeout, 0};

    for (pp = &p->idle; (c = *pp) != NULL; pp = &c->next)
        if (c->conf == q->conf && strcmp(c->server, q->server) == 0)
            break;
    if (c != NULL) {
        *pp = c->next; /* out of the pool */
        c->next = NULL;
        evtimer_del(c->idle_ev);
    } else if ((c = policy_connect(p, q->server, q->conf)) == NULL) {
        struct timeval now = {0, 0};
        const char *why = strerror(errno);
        policy_warn(q, "connect to %s: %s", policy_server_name(q->server), why);
        policy_warn(q, "problem talking to server %s: %s",
                    policy_server_name(q->server), why);
        if (++q->tries >= q->conf->try_limit) {
            /* Not from inside policy_query_start(): next turn. */
            q->tries = -1;
            evtimer_add(q->retry_ev, &now);
        } else {
            tv.tv_sec = q->conf->retry_delay;
            evtimer_add(q->retry_ev, &tv);
        }
        return;
    }
    c->q = q;
    q->conn = c;
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    bufferevent_write(c->bev, q->request, strlen(q->request));
}

/* retry_delay has passed (try again), or the last try failed at once
 * (tries -1: give up). */
static void policy_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct policy_query *q = arg;

    (void)fd;
    (void)what;
    if (q->tries < 0)
        policy_query_end(q, NULL);
    else
        policy_try(q);
}

struct policy_query *policy_query_start(struct policy_pool *p,
                                        const struct policy_client_conf *conf,
                                        const char *server, const char *request,
                                        policy_query_fn *done,
                                        policy_warn_fn *warn, void *arg)
{
    struct policy_query *q = xcalloc(1, sizeof(*q));

    q->pool = p;
    q->conf = conf;
    q->server = xstrdup(server);
    q->request = xstrdup(request);
    q->done = done;
    q->warn = warn;
    q->arg = arg;
    q->retry_ev = evtimer_new(p->base, policy_on_retry, q);
    policy_try(q);
    return q;
}

void policy_query_cancel(struct policy_query *q)
{
    if (q == NULL)
        return;
    policy_conn_free(q->conn);
    event_free(q->retry_ev);
    policy_reply_clear(&q->reply);
    free(q->server);
    free(q->request);
    free(q);
}
