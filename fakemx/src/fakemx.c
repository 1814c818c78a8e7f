/*
 * fakemx.c — fake upstream MX hosts: listeners, per-host behaviour,
 * per-client connection counts, and the recordings of accepted messages.
 * The SMTP conversation itself is in session.c. Ownership: fakemx owns
 * hosts, sessions and messages; fakemx_free() is the one teardown path.
 */
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakemx_int.h"
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
    fakemx_behaviour_clear(dst);
    if (src == NULL)
        return;
    *dst = *src;
    dst->greeting_reply =
        src->greeting_reply ? xstrdup(src->greeting_reply) : NULL;
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
        evconnlistener_free(h->lev);
        fakemx_behaviour_clear(&h->beh);
        free(h->name);
        free(h->listen);
        free(h);
    }
    for (size_t i = 0; i < fm->nmsgs; i++) {
        struct fakemx_message *m = fm->msgs[i];
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

struct fakemx_host *fakemx_add_host(struct fakemx *fm, const char *listen,
                                    const char *name,
                                    const struct fakemx_behaviour *b, char *err,
                                    size_t errlen)
{
    struct netaddr na;
    struct fakemx_host *h;
    char buf[80];
    int fd;

    if (netaddr_parse(listen, 25, &na) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\" (ip:port expected)",
                 listen);
        return NULL;
    }
    fd = netaddr_listen_tcp(&na, 128);
    if (fd < 0) {
        snprintf(err, errlen, "listen on %s: %s", listen, strerror(errno));
        return NULL;
    }
    h = xcalloc(1, sizeof(*h));
    h->fm = fm;
    h->addr = na;
    h->listen = xstrdup(netaddr_str(&na, buf, sizeof(buf)));
    h->name = xstrdup(name ? name : "fakemx");
    fakemx_behaviour_copy(&h->beh, b);
    h->lev = evconnlistener_new(fm->base, fakemx_on_accept, h,
                                LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (h->lev == NULL) {
        close(fd);
        snprintf(err, errlen, "listen on %s: libevent failure", listen);
        fakemx_behaviour_clear(&h->beh);
        free(h->listen);
        free(h->name);
        free(h);
        return NULL;
    }
    h->next = fm->hosts;
    fm->hosts = h;
    return h;
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
        if (s->host == h && strcmp(s->client_ip, ip) == 0)
            n++;
    return n;
}

void fakemx_record(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;
    struct fakemx_message *m = xcalloc(1, sizeof(*m));

    m->host = xstrdup(s->host->listen);
    m->host_name = xstrdup(s->host->name);
    m->client_ip = xstrdup(s->client_ip);
    m->helo = xstrdup(s->helo ? s->helo : "");
    m->mail_from = xstrdup(s->mail_from ? s->mail_from : "");
    m->nrcpt = s->rcpts.n;
    m->rcpts = xcalloc(s->rcpts.n ? s->rcpts.n : 1, sizeof(*m->rcpts));
    for (size_t i = 0; i < s->rcpts.n; i++)
        m->rcpts[i] = xstrdup(s->rcpts.v[i]);
    m->data_len = s->data.len;
    m->data = xmalloc(s->data.len + 1);
    memcpy((char *)m->data, s->data.buf ? s->data.buf : "", s->data.len);
    ((char *)m->data)[s->data.len] = '\0';
    gettimeofday(&m->received, NULL);
    fm->msgs = xrealloc(fm->msgs, (fm->nmsgs + 1) * sizeof(*fm->msgs));
    fm->msgs[fm->nmsgs++] = m;
    if (fm->delivery_fn != NULL)
        fm->delivery_fn(fm->delivery_arg, m);
}
