/*
 * server.c — the fakedns object: zones, listeners on a libevent loop and
 * the query log. Each fakedns_listen address serves UDP and TCP on the
 * same port. UDP: datagrams are read and answered in batches
 * (recvmmsg/sendmmsg), each answer to its source (RFC 1035 section
 * 4.2.1). TCP (RFC 7766): 2-byte length framing, any number of queries
 * per connection, answers possibly out of order (section 6.2.1.1), idle
 * connections closed (section 6.2.3). Delayed answers wait on a libevent
 * timer, never blocking the loop. fakedns_free() is the one teardown
 * path: timers, connections, sockets, zones, faults, cache, log.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakedns_int.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/log.h"
#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

/* Datagrams handled per wake-up, so one busy socket cannot starve the
 * rest of the loop. */
#define SERVER_BATCH 32
#define SERVER_ROUNDS 4 /* full batches read per wake-up */

/* Query log entries kept; a lab run never comes near, a long-running
 * mxlab-fakedns must not grow without bound. */
#define SERVER_LOG_MAX 100000

#define SERVER_TCP_BACKLOG 64
#define SERVER_TCP_MAX 256 /* open connections; more are closed */
#define SERVER_TCP_IDLE 10 /* seconds without a query (RFC 7766 6.2.3) */
#define SERVER_TCP_OUT_MAX 1048576 /* unread answers before we stop reading */
#define SERVER_PORT_TRIES 20       /* port 0: UDP ports tried for a free TCP */

struct fakedns_listener {
    struct fakedns *fd;
    struct event *uev, *tev;
    int usock, tsock;
    int port;
    char addr[64];
    struct mmsghdr msgs[SERVER_BATCH];
    struct iovec iov[SERVER_BATCH];
    struct sockaddr_storage from[SERVER_BATCH];
    struct mmsghdr out[SERVER_BATCH];
    struct iovec oiov[SERVER_BATCH];
    struct fakedns_reply replies[SERVER_BATCH];
    /* One byte over the limit: a longer datagram arrives cut to
     * FAKEDNS_QUERY_MAX + 1 bytes, and gets FORMERR. */
    uint8_t in[SERVER_BATCH][FAKEDNS_QUERY_MAX + 1];
    uint8_t obuf[SERVER_BATCH][FAKEDNS_QUERY_MAX];
};

/* One TCP client connection. */
struct fakedns_conn {
    struct fakedns *fd;
    struct bufferevent *bev;
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct fakedns_conn *prev, *next;
};

/* An answer waiting for its delay to pass. */
struct fakedns_delayed {
    struct fakedns *fd;
    struct event *ev;
    uint8_t *wire;
    size_t len;
    int usock; /* UDP: the socket and the client's address */
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct fakedns_conn *conn; /* TCP: the connection, or NULL */
    struct fakedns_delayed *prev, *next;
};

struct fakedns *fakedns_new(struct event_base *base)
{
    struct fakedns *fd = xcalloc(1, sizeof(*fd));

    fd->base = base;
    return fd;
}

static void server_delayed_free(struct fakedns_delayed *d)
{
    struct fakedns *fd = d->fd;

    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        fd->delayed = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    event_free(d->ev);
    free(d->wire);
    free(d);
}

static void server_conn_free(struct fakedns_conn *c)
{
    struct fakedns *fd = c->fd;
    struct fakedns_delayed *d, *next;

    /* Answers still waiting for this connection have nowhere to go. */
    for (d = fd->delayed; d != NULL; d = next) {
        next = d->next;
        if (d->conn == c)
            server_delayed_free(d);
    }
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        fd->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    fd->nconns--;
    bufferevent_free(c->bev);
    free(c);
}

void fakedns_free(struct fakedns *fd)
{
    if (fd == NULL)
        return;
    while (fd->delayed != NULL)
        server_delayed_free(fd->delayed);
    while (fd->conns != NULL)
        server_conn_free(fd->conns);
    for (size_t i = 0; i < fd->nlisteners; i++) {
        struct fakedns_listener *l = fd->listeners[i];

        event_free(l->uev);
        event_free(l->tev);
        close(l->usock);
        close(l->tsock);
        free(l);
    }
    free(fd->listeners);
    for (size_t i = 0; i < fd->nzones; i++)
        fakedns_zone_free(fd->zones[i]);
    free(fd->zones);
    free(fd->faults);
    fakedns_cache_flush(&fd->cache);
    fakedns_stale_free(fd);
    free(fd->log);
    free(fd);
}

int fakedns_load_zone_text(struct fakedns *fd, const char *name, int first_line,
                           const char *origin, const char *text, char *err,
                           size_t errlen)
{
    return fakedns_zone_load(fd, name, first_line, origin, text, strlen(text),
                             err, errlen);
}

int fakedns_load_zone_file(struct fakedns *fd, const char *path,
                           const char *origin, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int ret;

    if (fs_read_file(path, &text, &len) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    ret = fakedns_zone_load(fd, path, 1, origin, text, len, err, errlen);
    free(text);
    return ret;
}

void fakedns_take_zones(struct fakedns *fd, struct fakedns *from)
{
    size_t j = 0;

    for (size_t i = 0; i < fd->nzones; i++)
        fakedns_zone_free(fd->zones[i]);
    free(fd->zones);
    fd->zones = from->zones;
    fd->nzones = from->nzones;
    from->zones = NULL;
    from->nzones = 0;
    /* Runtime faults stay; zone faults are the new zones'. */
    for (size_t i = 0; i < fd->nfaults; i++)
        if (!fd->faults[i].from_zone)
            fd->faults[j++] = fd->faults[i];
    fd->nfaults = j;
    for (size_t i = 0; i < from->nfaults; i++)
        if (from->faults[i].from_zone)
            fakedns_fault_add(fd, &from->faults[i]);
    free(from->faults);
    from->faults = NULL;
    from->nfaults = 0;
    fakedns_cache_flush(&fd->cache);
    fakedns_cache_flush(&from->cache);
}

/* Send a finished answer: over TCP with its length in front (RFC 1035
 * section 4.2.2), else as one datagram. */
static void server_send(struct fakedns *fd, int usock,
                        const struct sockaddr_storage *ss, socklen_t sslen,
                        struct fakedns_conn *c, const uint8_t *wire, size_t len)
{
    (void)fd;
    if (c != NULL) {
        uint8_t pre[2] = {(uint8_t)(len >> 8), (uint8_t)len};
        struct evbuffer *out = bufferevent_get_output(c->bev);

        evbuffer_add(out, pre, 2);
        evbuffer_add(out, wire, len);
        return;
    }
    if (sendto(usock, wire, len, 0, (const struct sockaddr *)ss, sslen) < 0)
        log_warn("fakedns: sendto");
}

static void server_on_delay(evutil_socket_t sock, short what, void *arg)
{
    struct fakedns_delayed *d = arg;

    (void)sock;
    (void)what;
    server_send(d->fd, d->usock, &d->ss, d->sslen, d->conn, d->wire, d->len);
    server_delayed_free(d);
}

/* Hold a reply for its delay on a timer; the reply is taken over. */
static void server_delay(struct fakedns *fd, struct fakedns_reply *r, int usock,
                         const struct sockaddr_storage *ss, socklen_t sslen,
                         struct fakedns_conn *c)
{
    struct fakedns_delayed *d = xcalloc(1, sizeof(*d));
    struct timeval tv = {r->delay_ms / 1000, (r->delay_ms % 1000) * 1000};

    d->ev = evtimer_new(fd->base, server_on_delay, d);
    if (d->ev == NULL || evtimer_add(d->ev, &tv) < 0) {
        log_warnx("fakedns: cannot arm a delay timer; answering now");
        server_send(fd, usock, ss, sslen, c, r->wire, r->len);
        if (d->ev != NULL)
            event_free(d->ev);
        free(d);
        fakedns_reply_clear(r);
        return;
    }
    d->fd = fd;
    if (r->owned) {
        d->wire = r->wire;
        r->owned = 0;
    } else {
        d->wire = xmalloc(r->len);
        memcpy(d->wire, r->wire, r->len);
    }
    d->len = r->len;
    d->usock = usock;
    if (ss != NULL)
        memcpy(&d->ss, ss, sslen);
    d->sslen = sslen;
    d->conn = c;
    d->next = fd->delayed;
    if (fd->delayed != NULL)
        fd->delayed->prev = d;
    fd->delayed = d;
    fakedns_reply_clear(r);
}

/* Read, answer and send one batch of datagrams; returns how many were
 * read (0 when none waited or on error). */
static int server_udp_batch(struct fakedns_listener *l, int sock)
{
    struct fakedns *fd = l->fd;
    int n, nout = 0;

    for (int i = 0; i < SERVER_BATCH; i++) {
        l->iov[i].iov_base = l->in[i];
        l->iov[i].iov_len = sizeof(l->in[i]);
        memset(&l->msgs[i].msg_hdr, 0, sizeof(l->msgs[i].msg_hdr));
        l->msgs[i].msg_hdr.msg_name = &l->from[i];
        l->msgs[i].msg_hdr.msg_namelen = sizeof(l->from[i]);
        l->msgs[i].msg_hdr.msg_iov = &l->iov[i];
        l->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    n = recvmmsg(sock, l->msgs, SERVER_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            log_warn("fakedns %s: recvmmsg", l->addr);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        struct fakedns_peer peer = {(struct sockaddr *)&l->from[i],
                                    l->msgs[i].msg_hdr.msg_namelen, 0};
        struct fakedns_reply *r = &l->replies[nout];
        size_t qlen = l->msgs[i].msg_len;

        if (fakedns_answer_packet(fd, &peer, l->in[i], qlen, l->obuf[nout],
                                  sizeof(l->obuf[nout]), r) < 0 ||
            r->wire == NULL) {
            fakedns_reply_clear(r);
            continue;
        }
        if (r->delay_ms > 0) {
            server_delay(fd, r, sock, &l->from[i], peer.salen, NULL);
            continue;
        }
        memset(&l->out[nout].msg_hdr, 0, sizeof(l->out[nout].msg_hdr));
        l->oiov[nout].iov_base = r->wire;
        l->oiov[nout].iov_len = r->len;
        l->out[nout].msg_hdr.msg_name = &l->from[i];
        l->out[nout].msg_hdr.msg_namelen = peer.salen;
        l->out[nout].msg_hdr.msg_iov = &l->oiov[nout];
        l->out[nout].msg_hdr.msg_iovlen = 1;
        nout++;
    }
    for (int sent = 0; sent < nout;) {
        int k = sendmmsg(sock, l->out + sent, (unsigned)(nout - sent), 0);

        if (k < 0) {
            if (errno == EINTR)
                continue;
            /* One bad destination must not cost the others theirs. */
            log_warn("fakedns %s: sendmmsg", l->addr);
            k = 1;
        }
        sent += k;
    }
    for (int i = 0; i < nout; i++)
        fakedns_reply_clear(&l->replies[i]);
    return n;
}

static void server_on_udp(evutil_socket_t sock, short what, void *arg)
{
    (void)what;
    /* Under load, a few full batches before going back to the loop
     * (fewer epoll_wait calls), then the others get their turn. */
    for (int i = 0; i < SERVER_ROUNDS; i++)
        if (server_udp_batch(arg, sock) < SERVER_BATCH)
            break;
}

/* The client read enough of its answers: read its queries again. */
static void server_on_conn_read(struct bufferevent *bev, void *arg);

static void server_on_conn_write(struct bufferevent *bev, void *arg)
{
    if ((bufferevent_get_enabled(bev) & EV_READ) != 0)
        return;
    bufferevent_enable(bev, EV_READ);
    /* Queries that arrived meanwhile are already buffered. */
    server_on_conn_read(bev, arg);
}

static void server_on_conn_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    /* EOF, error or idle timeout: RFC 7766 section 6.2.3 lets the
     * server close. */
    server_conn_free(arg);
}

/* Every complete framed query in the input: answer it. A length under a
 * header or over FAKEDNS_QUERY_MAX closes the connection (RFC 7766
 * section 6.2.3: nothing sensible can follow). */
static void server_on_conn_read(struct bufferevent *bev, void *arg)
{
    struct fakedns_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint8_t q[FAKEDNS_QUERY_MAX], obuf[FAKEDNS_QUERY_MAX], pre[2];

    for (;;) {
        struct fakedns_peer peer = {(struct sockaddr *)&c->ss, c->sslen, 1};
        struct fakedns_reply r;
        size_t len;

        /* A client that sends and never reads stops being read until
         * its answers drain (server_on_conn_write). */
        if (evbuffer_get_length(bufferevent_get_output(bev)) >
            SERVER_TCP_OUT_MAX) {
            bufferevent_disable(bev, EV_READ);
            return;
        }
        if (evbuffer_get_length(in) < 2)
            return;
        evbuffer_copyout(in, pre, 2);
        len = (size_t)((pre[0] << 8) | pre[1]);
        if (len < FAKEDNS_HEADER_SIZE || len > sizeof(q)) {
            log_debug("fakedns: TCP query length %zu, closing", len);
            server_conn_free(c);
            return;
        }
        if (evbuffer_get_length(in) < 2 + len)
            return;
        evbuffer_drain(in, 2);
        evbuffer_remove(in, q, len);
        if (fakedns_answer_packet(c->fd, &peer, q, len, obuf, sizeof(obuf),
                                  &r) < 0 ||
            r.wire == NULL) {
            fakedns_reply_clear(&r);
            continue;
        }
        if (r.delay_ms > 0)
            server_delay(c->fd, &r, -1, NULL, 0, c);
        else
            server_send(c->fd, -1, NULL, 0, c, r.wire, r.len);
        fakedns_reply_clear(&r);
    }
}

static void server_on_accept(evutil_socket_t sock, short what, void *arg)
{
    struct fakedns_listener *l = arg;
    struct fakedns *fd = l->fd;

    (void)what;
    for (int i = 0; i < SERVER_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        struct timeval idle = {SERVER_TCP_IDLE, 0};
        struct fakedns_conn *c;
        int s = accept4(sock, (struct sockaddr *)&ss, &sslen,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (s < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                log_warn("fakedns %s: accept", l->addr);
            return;
        }
        if (fd->nconns >= SERVER_TCP_MAX) {
            log_debug("fakedns %s: %d connections open, closing a new one",
                      l->addr, SERVER_TCP_MAX);
            close(s);
            continue;
        }
        c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        memcpy(&c->ss, &ss, sslen);
        c->sslen = sslen;
        c->bev = bufferevent_socket_new(fd->base, s, BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            close(s);
            free(c);
            continue;
        }
        c->next = fd->conns;
        if (fd->conns != NULL)
            fd->conns->prev = c;
        fd->conns = c;
        fd->nconns++;
        bufferevent_setcb(c->bev, server_on_conn_read, server_on_conn_write,
                          server_on_conn_event, c);
        bufferevent_set_timeouts(c->bev, &idle, &idle);
        /* At most one partial query is ever buffered. */
        bufferevent_setwatermark(c->bev, EV_READ, 0, 2 + FAKEDNS_QUERY_MAX);
        bufferevent_setwatermark(c->bev, EV_WRITE, SERVER_TCP_OUT_MAX / 2, 0);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    }
}

/* Bind UDP and TCP at na (port 0: a port free for both). 0 or -1. */
static int server_bind(struct netaddr *na, int *usock, int *tsock)
{
    int want = netaddr_port(na);

    for (int i = 0; i < (want == 0 ? SERVER_PORT_TRIES : 1); i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        struct netaddr bound;
        int saved;

        netaddr_set_port(na, want);
        if ((*usock = netaddr_bind_udp(na)) < 0)
            return -1;
        if (getsockname(*usock, (struct sockaddr *)&ss, &sslen) < 0)
            goto fail;
        netaddr_from_sa(&bound, (struct sockaddr *)&ss, sslen);
        netaddr_set_port(na, netaddr_port(&bound));
        if ((*tsock = netaddr_listen_tcp(na, SERVER_TCP_BACKLOG)) >= 0)
            return 0;
    fail:
        saved = errno;
        close(*usock);
        errno = saved;
        if (want != 0 || errno != EADDRINUSE)
            return -1;
    }
    return -1;
}

int fakedns_listen(struct fakedns *fd, const char *addr, char *err,
                   size_t errlen)
{
    struct fakedns_listener *l;
    struct netaddr na;
    int usock, tsock;

    if (fd->base == NULL) {
        snprintf(err, errlen, "%s: no event loop to listen on", addr);
        return -1;
    }
    if (netaddr_parse(addr, 53, &na) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\"", addr);
        return -1;
    }
    if (server_bind(&na, &usock, &tsock) < 0) {
        snprintf(err, errlen, "%s: %s", addr, strerror(errno));
        return -1;
    }
    l = xcalloc(1, sizeof(*l));
    l->fd = fd;
    l->usock = usock;
    l->tsock = tsock;
    l->port = netaddr_port(&na);
    netaddr_str(&na, l->addr, sizeof(l->addr));
    l->uev = event_new(fd->base, usock, EV_READ | EV_PERSIST, server_on_udp, l);
    l->tev =
        event_new(fd->base, tsock, EV_READ | EV_PERSIST, server_on_accept, l);
    if (l->uev == NULL || l->tev == NULL || event_add(l->uev, NULL) < 0 ||
        event_add(l->tev, NULL) < 0) {
        snprintf(err, errlen, "%s: cannot add a libevent event", addr);
        if (l->uev != NULL)
            event_free(l->uev);
        if (l->tev != NULL)
            event_free(l->tev);
        close(usock);
        close(tsock);
        free(l);
        return -1;
    }
    fd->listeners =
        xrealloc(fd->listeners, (fd->nlisteners + 1) * sizeof(*fd->listeners));
    fd->listeners[fd->nlisteners++] = l;
    log_info("fakedns: listening on %s (udp, tcp)", l->addr);
    return 0;
}

int fakedns_listen_port(const struct fakedns *fd, size_t i)
{
    return i < fd->nlisteners ? fd->listeners[i]->port : -1;
}

int fakedns_log_wanted(const struct fakedns *fd)
{
    return fd->nlog < SERVER_LOG_MAX || log_verbosity() >= 2;
}

void fakedns_log_query(struct fakedns *fd, const struct fakedns_peer *peer,
                       const char *name, int type, int rcode,
                       enum fakedns_fault_kind fault)
{
    struct fakedns_query *e;
    struct netaddr from;
    char client[64] = "";

    if (!fakedns_log_wanted(fd))
        return;
    if (peer->sa != NULL) {
        netaddr_from_sa(&from, peer->sa, peer->salen);
        netaddr_str(&from, client, sizeof(client));
    }
    log_debug("query %s type %d from %s%s: rcode %d, fault %s",
              name[0] ? name : "-", type, client[0] ? client : "-",
              peer->tcp ? " over tcp" : "", rcode, fakedns_fault_name(fault));
    if (fd->nlog >= SERVER_LOG_MAX) {
        if (!fd->log_full_warned)
            log_warnx("fakedns: query log full (%d), no longer recording",
                      SERVER_LOG_MAX);
        fd->log_full_warned = 1;
        return;
    }
    if (fd->nlog == fd->caplog) {
        fd->caplog = fd->caplog ? fd->caplog * 2 : 16;
        fd->log = xrealloc(fd->log, fd->caplog * sizeof(*fd->log));
    }
    e = &fd->log[fd->nlog++];
    memcpy(e->client, client, sizeof(e->client));
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->type = type;
    e->rcode = rcode;
    clock_now(&e->time);
    e->tcp = peer->tcp;
    e->fault = fault;
}

size_t fakedns_query_count(const struct fakedns *fd)
{
    return fd->nlog;
}

const struct fakedns_query *fakedns_query_at(const struct fakedns *fd, size_t i)
{
    return i < fd->nlog ? &fd->log[i] : NULL;
}

void fakedns_query_log_clear(struct fakedns *fd)
{
    fd->nlog = 0;
    fd->log_full_warned = 0;
}
