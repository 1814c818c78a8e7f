/*
 * pcap_capture.c — a scenario's capture (see pcap_capture.h). The handle
 * is opened by priv.c in immediate, non-blocking mode; packets are read
 * on the event loop as they come. To stop, a UDP datagram carrying a
 * random tag goes from a socket of ours to itself on 127.0.0.1 (the
 * filter admits it): once it is read back, every packet sent before it
 * has been read too (on loopback a packet reaches the capture in the
 * sender's own send). The marker itself is not written.
 */
#include "pcap_capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mxlab/clock.h"
#include "mxlab/xmem.h"
#include "priv.h"

#define PCAP_CAPTURE_DEV "lo"
#define PCAP_CAPTURE_DRAIN_MS 2000 /* the longest wait for the marker */
#define PCAP_CAPTURE_TAG 16

struct pcap_capture {
    pcap_t *p;
    pcap_dumper_t *dump;
    struct event *ev;
    int marker_fd;
    struct sockaddr_in marker;
    unsigned char tag[PCAP_CAPTURE_TAG];
    int marker_seen;
    long packets;
    unsigned drops0; /* before the filter: other traffic, not ours */
};

int pcap_capture_possible(char *err, size_t errlen)
{
    pcap_t *p = priv_pcap_open(PCAP_CAPTURE_DEV, err, errlen);

    if (p == NULL)
        return 0;
    pcap_close(p);
    return 1;
}

/* One packet: the marker ends the capture, anything else is written. */
static void pcap_capture_packet(u_char *arg, const struct pcap_pkthdr *h,
                                const u_char *bytes)
{
    struct pcap_capture *c = (struct pcap_capture *)arg;

    if (h->caplen == h->len && h->caplen >= PCAP_CAPTURE_TAG &&
        memcmp(bytes + h->caplen - PCAP_CAPTURE_TAG, c->tag,
               PCAP_CAPTURE_TAG) == 0) {
        c->marker_seen = 1;
        return;
    }
    pcap_dump((u_char *)c->dump, h, bytes);
    c->packets++;
}

static void pcap_capture_discard(u_char *arg, const struct pcap_pkthdr *h,
                                 const u_char *bytes)
{
    (void)arg;
    (void)h;
    (void)bytes;
}

static void pcap_capture_readable(evutil_socket_t fd, short what, void *arg)
{
    struct pcap_capture *c = arg;

    (void)fd;
    (void)what;
    while (pcap_dispatch(c->p, -1, pcap_capture_packet, (u_char *)c) > 0)
        ;
}

/* The marker's socket, bound to 127.0.0.1 on a port of its own. */
static int pcap_capture_marker(struct pcap_capture *c, char *err, size_t errlen)
{
    socklen_t len = sizeof(c->marker);

    memset(&c->marker, 0, sizeof(c->marker));
    c->marker.sin_family = AF_INET;
    c->marker.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->marker_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (c->marker_fd < 0 ||
        bind(c->marker_fd, (struct sockaddr *)&c->marker, sizeof(c->marker)) <
            0 ||
        getsockname(c->marker_fd, (struct sockaddr *)&c->marker, &len) < 0 ||
        getrandom(c->tag, sizeof(c->tag), 0) != (ssize_t)sizeof(c->tag)) {
        snprintf(err, errlen, "marker socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The user's filter, or the marker. -1 with err. */
static int pcap_capture_filter(struct pcap_capture *c, const char *filter,
                               char *err, size_t errlen)
{
    struct bpf_program prog;
    int port = ntohs(c->marker.sin_port);
    char *text = xasprintf("(%s) or (udp and src port %d and dst port %d)",
                           filter, port, port);
    int rc = pcap_compile(c->p, &prog, text, 1, PCAP_NETMASK_UNKNOWN);

    if (rc == 0) {
        rc = pcap_setfilter(c->p, &prog);
        pcap_freecode(&prog);
    }
    if (rc < 0)
        snprintf(err, errlen, "filter \"%s\": %s", text, pcap_geterr(c->p));
    free(text);
    return rc;
}

struct pcap_capture *pcap_capture_start(struct event_base *base,
                                        const char *filter, const char *path,
                                        char *err, size_t errlen)
{
    struct pcap_capture *c = xcalloc(1, sizeof(*c));
    struct pcap_stat st;

    c->marker_fd = -1;
    c->p = priv_pcap_open(PCAP_CAPTURE_DEV, err, errlen);
    if (c->p == NULL || pcap_capture_marker(c, err, errlen) < 0 ||
        pcap_capture_filter(c, filter, err, errlen) < 0)
        goto fail;
    /* What the ring took before the filter was set (any lab's traffic)
     * is filtered now, as it is read: read it, so that it leaves room. */
    while (pcap_dispatch(c->p, -1, pcap_capture_discard, NULL) > 0)
        ;
    if (pcap_stats(c->p, &st) == 0)
        c->drops0 = st.ps_drop;
    c->dump = pcap_dump_open(c->p, path);
    if (c->dump == NULL) {
        snprintf(err, errlen, "%s", pcap_geterr(c->p));
        goto fail;
    }
    c->ev = event_new(base, pcap_get_selectable_fd(c->p), EV_READ | EV_PERSIST,
                      pcap_capture_readable, c);
    if (c->ev == NULL || event_add(c->ev, NULL) < 0) {
        snprintf(err, errlen, "cannot watch the capture");
        goto fail;
    }
    return c;
fail:
    pcap_capture_stop(c, NULL);
    return NULL;
}

/* Send the marker and read until it is back, at most DRAIN_MS. */
static void pcap_capture_drain(struct pcap_capture *c)
{
    long long until = clock_mono_ms() + PCAP_CAPTURE_DRAIN_MS, now;
    struct pollfd pfd = {pcap_get_selectable_fd(c->p), POLLIN, 0};

    if (sendto(c->marker_fd, c->tag, sizeof(c->tag), 0,
               (struct sockaddr *)&c->marker, sizeof(c->marker)) < 0)
        return;
    while (!c->marker_seen && (now = clock_mono_ms()) < until) {
        if (pcap_dispatch(c->p, -1, pcap_capture_packet, (u_char *)c) > 0)
            continue;
        if (poll(&pfd, 1, (int)(until - now)) < 0 && errno != EINTR)
            return;
    }
}

void pcap_capture_unwatch(struct pcap_capture *c)
{
    if (c != NULL && c->ev != NULL) {
        event_free(c->ev);
        c->ev = NULL;
    }
}

long pcap_capture_stop(struct pcap_capture *c, unsigned *dropped)
{
    struct pcap_stat st;
    long packets;

    if (dropped != NULL)
        *dropped = 0;
    if (c == NULL)
        return 0;
    pcap_capture_unwatch(c);
    if (c->dump != NULL) {
        pcap_capture_drain(c);
        if (dropped != NULL && pcap_stats(c->p, &st) == 0)
            *dropped = st.ps_drop - c->drops0;
        pcap_dump_close(c->dump);
    }
    if (c->marker_fd >= 0)
        close(c->marker_fd);
    if (c->p != NULL)
        pcap_close(c->p);
    packets = c->packets;
    free(c);
    return packets;
}
