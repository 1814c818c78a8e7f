/*
 * server.c — the fakedns object: zones, UDP listeners on a libevent loop
 * and the query log. A listener reads every waiting datagram, answers it
 * with fakedns_answer_from() and sends the response back to its source
 * (RFC 1035 section 4.2.1). fakedns_free() is the one teardown path:
 * events, sockets, zones, log.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakedns_int.h"
#include "mxlab/fsutil.h"
#include "mxlab/log.h"
#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

/* Datagrams handled per wake-up, so one busy socket cannot starve the
 * rest of the loop. */
#define SERVER_BATCH 64

/* Query log entries kept; a lab run never comes near, a long-running
 * mxlab-fakedns must not grow without bound. */
#define SERVER_LOG_MAX 100000

struct fakedns_listener {
    struct fakedns *fd;
    struct event *ev;
    int sock;
    char addr[64];
    uint8_t buf[65536];
};

struct fakedns *fakedns_new(struct event_base *base)
{
    struct fakedns *fd = xcalloc(1, sizeof(*fd));

    fd->base = base;
    return fd;
}

void fakedns_free(struct fakedns *fd)
{
    if (fd == NULL)
        return;
    for (size_t i = 0; i < fd->nlisteners; i++) {
        struct fakedns_listener *l = fd->listeners[i];

        event_free(l->ev);
        close(l->sock);
        free(l);
    }
    free(fd->listeners);
    for (size_t i = 0; i < fd->nzones; i++)
        fakedns_zone_free(fd->zones[i]);
    free(fd->zones);
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

static void server_on_read(evutil_socket_t sock, short what, void *arg)
{
    struct fakedns_listener *l = arg;

    (void)what;
    for (int i = 0; i < SERVER_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        struct netaddr from;
        char client[64];
        uint8_t *resp;
        size_t rlen;
        ssize_t n = recvfrom(sock, l->buf, sizeof(l->buf), 0,
                             (struct sockaddr *)&ss, &sslen);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("fakedns %s: recvfrom", l->addr);
            return;
        }
        netaddr_from_sa(&from, (struct sockaddr *)&ss, sslen);
        netaddr_str(&from, client, sizeof(client));
        if (fakedns_answer_from(l->fd, client, l->buf, (size_t)n, &resp,
                                &rlen) < 0) {
            log_debug("fakedns %s: %zd bytes from %s not answered", l->addr, n,
                      client);
            continue;
        }
        if (sendto(sock, resp, rlen, 0, (struct sockaddr *)&ss, sslen) < 0)
            log_warn("fakedns %s: sendto %s", l->addr, client);
        free(resp);
    }
}

int fakedns_listen(struct fakedns *fd, const char *addr, char *err,
                   size_t errlen)
{
    struct fakedns_listener *l;
    struct netaddr na;
    int sock;

    if (fd->base == NULL) {
        snprintf(err, errlen, "%s: no event loop to listen on", addr);
        return -1;
    }
    if (netaddr_parse(addr, 53, &na) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\"", addr);
        return -1;
    }
    if ((sock = netaddr_bind_udp(&na)) < 0) {
        snprintf(err, errlen, "%s: %s", addr, strerror(errno));
        return -1;
    }
    l = xcalloc(1, sizeof(*l));
    l->fd = fd;
    l->sock = sock;
    netaddr_str(&na, l->addr, sizeof(l->addr));
    l->ev = event_new(fd->base, sock, EV_READ | EV_PERSIST, server_on_read, l);
    if (l->ev == NULL || event_add(l->ev, NULL) < 0) {
        snprintf(err, errlen, "%s: cannot add a libevent event", addr);
        if (l->ev != NULL)
            event_free(l->ev);
        close(sock);
        free(l);
        return -1;
    }
    fd->listeners =
        xrealloc(fd->listeners, (fd->nlisteners + 1) * sizeof(*fd->listeners));
    fd->listeners[fd->nlisteners++] = l;
    log_info("fakedns: listening on %s (udp)", l->addr);
    return 0;
}

void fakedns_log_query(struct fakedns *fd, const char *client, const char *name,
                       int type, int rcode)
{
    struct fakedns_query *e;

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
    snprintf(e->client, sizeof(e->client), "%s", client);
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->type = type;
    e->rcode = rcode;
}

size_t fakedns_query_count(const struct fakedns *fd)
{
    return fd->nlog;
}

const struct fakedns_query *fakedns_query_at(const struct fakedns *fd, size_t i)
{
    return i < fd->nlog ? &fd->log[i] : NULL;
}
