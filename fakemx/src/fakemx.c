/*
 * fakemx.c — fake upstream MX hosts: listeners, per-host behaviour,
 * per-client connection counts, and the recordings of accepted messages.
 * The SMTP conversation itself is in session.c, the JSON form of a
 * recording in json.c. Ownership: fakemx owns hosts, sessions and
 * messages; fakemx_free() is the one teardown path for all of them.
 */
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakemx_int.h"
#include "mxlab/clock.h"
#include "mxlab/log.h"
#include "mxlab/xmem.h"

struct fakemx *fakemx_new(struct event_base *base)
{
    struct fakemx *fm = xcalloc(1, sizeof(*fm));

    fm->base = base;
    return fm;
}

static void fakemx_behaviour_clear(struct fakemx_behaviour *b)
{
    free((char *)b->greeting_reply);
    memset(b, 0, sizeof(*b));
}

static void fakemx_behaviour_copy(struct fakemx_behaviour *dst,
                                  const struct fakemx_behaviour *src)
{
    char *greeting = NULL;

    /* Copy before clearing: src may share strings with dst. */
    if (src != NULL && src->greeting_reply != NULL)
        greeting = xstrdup(src->greeting_reply);
    fakemx_behaviour_clear(dst);
    if (src == NULL)
        return;
    *dst = *src;
    dst->greeting_reply = greeting;
}

static void fakemx_host_free(struct fakemx_host *h)
{
    if (h->lev != NULL)
        evconnlistener_free(h->lev);
    fakemx_behaviour_clear(&h->beh);
    free(h->name);
    free(h->listen);
    free(h);
}

static void fakemx_message_free(struct fakemx_message *m)
{
    free((char *)m->host);
    free((char *)m->host_name);
    free((char *)m->client_ip);
    free((char *)m->helo);
    free((char *)m->mail_from);
    for (size_t k = 0; k < m->nrcpt; k++)
        free(m->rcpts[k]);
    free(m->rcpts);
    free((char *)m->data);
    free(m);
}

void fakemx_free(struct fakemx *fm)
{
    if (fm == NULL)
        return;
    while (fm->sessions != NULL)
        fakemx_session_free(fm->sessions);
    while (fm->hosts != NULL) {
        struct fakemx_host *h = fm->hosts;
        fm->hosts = h->next;
        fakemx_host_free(h);
    }
    for (size_t i = 0; i < fm->nmsgs; i++)
        fakemx_message_free(fm->msgs[i]);
    free(fm->msgs);
    free(fm);
}

static void fakemx_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                             struct sockaddr *sa, int salen, void *arg)
{
    struct fakemx_host *h = arg;
    struct netaddr peer;

    (void)lev;
    netaddr_from_sa(&peer, sa, (socklen_t)salen);
    h->fm->nconnections++;
    fakemx_session_start(h, fd, &peer);
}

/* accept() failed (EMFILE and the like): say so and keep listening. */
static void fakemx_on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct fakemx_host *h = arg;

    (void)lev;
    log_warn("%s: accept", h->listen);
}

struct fakemx_host *fakemx_add_host(struct fakemx *fm, const char *listen,
                                    const char *name,
                                    const struct fakemx_behaviour *b, char *err,
                                    size_t errlen)
{
    struct fakemx_host *h = NULL, **tail;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    struct netaddr na;
    char buf[80];
    int fd = -1;

    if (listen == NULL || netaddr_parse(listen, 25, &na) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\" (ip:port expected)",
                 listen ? listen : "");
        goto fail;
    }
    fd = netaddr_listen_tcp(&na, 128);
    if (fd < 0) {
        snprintf(err, errlen, "listen on %s: %s", listen, strerror(errno));
        goto fail;
    }
    /* Port 0 asks the kernel for a free port: record the one we got. */
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
        snprintf(err, errlen, "listen on %s: getsockname: %s", listen,
                 strerror(errno));
        goto fail;
    }
    netaddr_from_sa(&na, (struct sockaddr *)&ss, sslen);
    h = xcalloc(1, sizeof(*h));
    h->fm = fm;
    h->addr = na;
    h->listen = xstrdup(netaddr_str(&na, buf, sizeof(buf)));
    h->name = xstrdup(name ? name : "fakemx");
    fakemx_behaviour_copy(&h->beh, b);
    h->lev = evconnlistener_new(fm->base, fakemx_on_accept, h,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                -1, fd);
    if (h->lev == NULL) {
        snprintf(err, errlen, "listen on %s: libevent failure", listen);
        goto fail;
    }
    evconnlistener_set_error_cb(h->lev, fakemx_on_accept_error);
    for (tail = &fm->hosts; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = h;
    log_info("%s: listening as %s", h->listen, h->name);
    return h;

fail:
    if (h != NULL)
        fakemx_host_free(h);
    if (fd >= 0)
        close(fd);
    return NULL;
}

const char *fakemx_host_listen(const struct fakemx_host *h)
{
    return h->listen;
}

void fakemx_host_set_behaviour(struct fakemx_host *h,
                               const struct fakemx_behaviour *b)
{
    fakemx_behaviour_copy(&h->beh, b);
}

void fakemx_on_delivery(struct fakemx *fm, fakemx_delivery_fn *fn, void *arg)
{
    fm->delivery_fn = fn;
    fm->delivery_arg = arg;
}

size_t fakemx_message_count(const struct fakemx *fm)
{
    return fm->nmsgs;
}

const struct fakemx_message *fakemx_message_at(const struct fakemx *fm,
                                               size_t i)
{
    return i < fm->nmsgs ? fm->msgs[i] : NULL;
}

size_t fakemx_connection_count(const struct fakemx *fm)
{
    return fm->nconnections;
}

int fakemx_host_clients(const struct fakemx_host *h, const char *ip)
{
    int n = 0;

    for (const struct fakemx_session *s = h->fm->sessions; s; s = s->next)
        if (s->host == h && !s->closing && strcmp(s->client_ip, ip) == 0)
            n++;
    return n;
}

void fakemx_record(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;
    struct fakemx_message *m = xcalloc(1, sizeof(*m));
    char *data;

    m->host = xstrdup(s->host->listen);
    m->host_name = xstrdup(s->host->name);
    m->client_ip = xstrdup(s->client_ip);
    m->helo = xstrdup(s->helo ? s->helo : "");
    m->mail_from = xstrdup(s->mail_from ? s->mail_from : "");
    m->nrcpt = s->rcpts.n;
    m->rcpts = xcalloc(s->rcpts.n ? s->rcpts.n : 1, sizeof(*m->rcpts));
    for (size_t i = 0; i < s->rcpts.n; i++)
        m->rcpts[i] = xstrdup(s->rcpts.v[i]);
    /* The data may hold NUL bytes: copy by length, keep a terminator. */
    data = xmalloc(s->data.len + 1);
    if (s->data.len > 0)
        memcpy(data, s->data.buf, s->data.len);
    data[s->data.len] = '\0';
    m->data = data;
    m->data_len = s->data.len;
    clock_now(&m->received);
    fm->msgs = xrealloc(fm->msgs, (fm->nmsgs + 1) * sizeof(*fm->msgs));
    fm->msgs[fm->nmsgs++] = m;
    if (fm->delivery_fn != NULL)
        fm->delivery_fn(fm->delivery_arg, m);
}
