/*
 * test_net.c — fakedns over the network, on 127.0.0.1 at a port the
 * kernel picks: every fault kind observed by c-ares (mxlab's dns module,
 * the relay's own client), TC over UDP with the retry over TCP, several
 * queries on one TCP connection (RFC 7766), bad TCP framing, and the
 * query log's client, time and transport. One event loop runs server and
 * client; every wait is bounded by a loop timeout, never a sleep.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakedns/fakedns.h"
#include "mxlab/clock.h"
#include "mxlab/dns.h"
#include "test_fakedns.h"

#define NET_WAIT_SECONDS 15 /* no case comes near; a hang fails the case */

static const char net_zone[] = "$TTL 300\n"
                               "@ SOA ns1 hostmaster 1 3600 600 86400 60\n"
                               "@ MX 10 mx1\n"
                               "mx1 A 127.0.2.1\n"
                               "big TXT ( \"v=spf1 \" %s \"-all\" )\n";

/* Server and loop for one case. */
struct net {
    struct event_base *base;
    struct fakedns *fd;
    int port;
};

static void net_start(struct net *n)
{
    char err[512], text[2048], big[1200];
    size_t off = 0;

    /* About 1 KB of TXT in strings of 10 terms: over 512 bytes, under
     * any EDNS size. */
    for (int i = 0; i < 60; i++)
        off += (size_t)snprintf(big + off, sizeof(big) - off,
                                "%sip4:127.0.2.%d %s", i % 10 == 0 ? "\"" : "",
                                i, i % 10 == 9 ? "\" " : "");
    snprintf(text, sizeof(text), net_zone, big);
    n->base = event_base_new();
    ck_assert_ptr_nonnull(n->base);
    n->fd = fakedns_new(n->base);
    ck_assert_msg(fakedns_load_zone_text(n->fd, "net", 1, "net.test.", text,
                                         err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_msg(fakedns_listen(n->fd, "127.0.0.1:0", err, sizeof(err)) == 0,
                  "%s", err);
    n->port = fakedns_listen_port(n->fd, 0);
    ck_assert_int_gt(n->port, 0);
    ck_assert_int_eq(fakedns_listen_port(n->fd, 1), -1);
}

static void net_stop(struct net *n)
{
    fakedns_free(n->fd);
    event_base_free(n->base);
}

/* Run the loop until a callback breaks it; fail if the bound passes. */
static void net_run(struct net *n)
{
    struct timeval limit = {NET_WAIT_SECONDS, 0};

    event_base_loopexit(n->base, &limit);
    event_base_dispatch(n->base);
}

/* One c-ares lookup's outcome. */
struct net_result {
    struct event_base *base;
    int done;
    enum dns_status st;
    char first[1200];
};

static void net_on_addr(void *arg, enum dns_status st, char **addrs, size_t n)
{
    struct net_result *r = arg;

    r->done = 1;
    r->st = st;
    snprintf(r->first, sizeof(r->first), "%s", n > 0 ? addrs[0] : "");
    event_base_loopbreak(r->base);
}

static void net_on_txt(void *arg, enum dns_status st, char **texts, size_t n)
{
    net_on_addr(arg, st, texts, n);
}

/* Each fault, as c-ares (two tries of one second) reports it. */
static const struct {
    const char *spec; /* NULL: no fault */
    const char *name;
    int txt;
    enum dns_status st;
    const char *first;
    int tcp_retry; /* 1: the answer came over TCP after a TC */
} fault_cases[] = {
    {NULL, "mx1.net.test", 0, DNS_OK, "127.0.2.1", 0},
    {"servfail", "mx1.net.test", 0, DNS_TEMPFAIL, "", 0},
    {"refused", "mx1.net.test", 0, DNS_TEMPFAIL, "", 0},
    {"nxdomain", "mx1.net.test", 0, DNS_NXDOMAIN, "", 0},
    {"malformed", "mx1.net.test", 0, DNS_TEMPFAIL, "", 0},
    {"timeout", "mx1.net.test", 0, DNS_TEMPFAIL, "", 0},
    {"timeout nth=1", "mx1.net.test", 0, DNS_OK, "127.0.2.1", 0},
    {"delay=300", "mx1.net.test", 0, DNS_OK, "127.0.2.1", 0},
    {"truncate", "mx1.net.test", 0, DNS_OK, "127.0.2.1", 1},
    {NULL, "big.net.test", 1, DNS_OK, "v=spf1 ip4:127.0.2.0 ", 1},
    {"nxdomain nth=2", "nope.net.test", 0, DNS_NXDOMAIN, "", 0},
};

START_TEST(test_cares_faults)
{
    struct net n;
    struct net_result r;
    struct dns *d;
    char err[256], servers[64];
    long long t0, elapsed;
    size_t nlog;
    const struct fakedns_query *q;

    net_start(&n);
    if (fault_cases[_i].spec != NULL)
        ck_assert_msg(fakedns_set_fault(n.fd, fault_cases[_i].name, 0,
                                        fault_cases[_i].spec, err,
                                        sizeof(err)) == 0,
                      "%s", err);
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", n.port);
    d = dns_new(n.base, servers, err, sizeof(err));
    ck_assert_msg(d != NULL, "%s", err);
    memset(&r, 0, sizeof(r));
    r.base = n.base;
    t0 = clock_mono_ms();
    if (fault_cases[_i].txt)
        dns_lookup_txt(d, fault_cases[_i].name, net_on_txt, &r);
    else
        dns_lookup_a(d, fault_cases[_i].name, net_on_addr, &r);
    net_run(&n);
    elapsed = clock_mono_ms() - t0;
    ck_assert_msg(r.done, "no answer within %d s", NET_WAIT_SECONDS);
    ck_assert_msg(r.st == fault_cases[_i].st, "%s: status %s",
                  fault_cases[_i].spec ? fault_cases[_i].spec : "none",
                  dns_strstatus(r.st));
    ck_assert_msg(strncmp(r.first, fault_cases[_i].first,
                          strlen(fault_cases[_i].first)) == 0,
                  "got \"%s\"", r.first);

    nlog = fakedns_query_count(n.fd);
    ck_assert_uint_ge(nlog, 1);
    q = fakedns_query_at(n.fd, 0);
    ck_assert_msg(strncmp(q->client, "127.0.0.1:", 10) == 0, "client %s",
                  q->client);
    ck_assert_int_gt(q->time.tv_sec, 0);
    ck_assert_int_eq(q->tcp, 0);
    if (fault_cases[_i].spec != NULL &&
        strncmp(fault_cases[_i].spec, "delay", 5) == 0)
        ck_assert_int_ge(elapsed, 300);
    if (fault_cases[_i].tcp_retry) {
        /* UDP first (TC), then the same question over TCP. */
        ck_assert_uint_eq(nlog, 2);
        ck_assert_int_eq(fakedns_query_at(n.fd, 1)->tcp, 1);
        ck_assert_str_eq(fakedns_query_at(n.fd, 1)->name, q->name);
        ck_assert_int_eq(fakedns_query_at(n.fd, 1)->fault, FAKEDNS_FAULT_NONE);
    }
    if (fault_cases[_i].spec != NULL &&
        strcmp(fault_cases[_i].spec, "timeout") == 0) {
        ck_assert_uint_ge(nlog, 2); /* c-ares tried again */
        ck_assert_int_eq(q->rcode, -1);
        ck_assert_int_eq(q->fault, FAKEDNS_FAULT_TIMEOUT);
    }
    dns_free(d);
    net_stop(&n);
}
END_TEST

/* A client TCP connection driven by the same loop. */
struct net_tcp {
    struct event_base *base;
    int sock;
    uint8_t buf[16384];
    size_t len;
    size_t want; /* break once this many framed messages arrived */
    int eof;
};

static size_t net_tcp_messages(const struct net_tcp *t)
{
    size_t off = 0, n = 0;

    while (t->len - off >= 2) {
        size_t l = (size_t)((t->buf[off] << 8) | t->buf[off + 1]);
        if (t->len - off - 2 < l)
            break;
        off += 2 + l;
        n++;
    }
    return n;
}

static void net_tcp_on_read(evutil_socket_t sock, short what, void *arg)
{
    struct net_tcp *t = arg;
    ssize_t k;

    (void)what;
    k = recv(sock, t->buf + t->len, sizeof(t->buf) - t->len, 0);
    if (k <= 0) {
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        t->eof = 1;
        event_base_loopbreak(t->base);
        return;
    }
    t->len += (size_t)k;
    if (net_tcp_messages(t) >= t->want)
        event_base_loopbreak(t->base);
}

/* Connect, send bytes, collect until want messages or EOF. */
static void net_tcp_exchange(struct net *n, struct net_tcp *t,
                             const uint8_t *out, size_t outlen, size_t want)
{
    struct sockaddr_in sin;
    struct event *ev;

    memset(t, 0, sizeof(*t));
    t->base = n->base;
    t->want = want;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)n->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t->sock = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(t->sock, 0);
    /* Loopback: connect completes at once (the kernel queues it). */
    ck_assert_int_eq(connect(t->sock, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(send(t->sock, out, outlen, 0), (ssize_t)outlen);
    evutil_make_socket_nonblocking(t->sock);
    ev = event_new(n->base, t->sock, EV_READ | EV_PERSIST, net_tcp_on_read, t);
    event_add(ev, NULL);
    net_run(n);
    event_free(ev);
    close(t->sock);
}

/* Append one framed query to out; returns the new length. */
static size_t net_frame(uint8_t *out, size_t off, const char *name,
                        ldns_rr_type type, uint16_t id)
{
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type,
                                     LDNS_RR_CLASS_IN, 0);
    uint8_t *wire = NULL;
    size_t len;

    ldns_pkt_set_id(q, id);
    ck_assert_int_eq(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    out[off] = (uint8_t)(len >> 8);
    out[off + 1] = (uint8_t)len;
    memcpy(out + off + 2, wire, len);
    free(wire);
    ldns_pkt_free(q);
    return off + 2 + len;
}

/* The i-th framed message of t, parsed. */
static ldns_pkt *net_tcp_msg(const struct net_tcp *t, size_t i)
{
    size_t off = 0;
    ldns_pkt *p = NULL;

    for (;;) {
        size_t l = (size_t)((t->buf[off] << 8) | t->buf[off + 1]);
        if (i-- == 0) {
            ck_assert_int_eq(ldns_wire2pkt(&p, t->buf + off + 2, l),
                             LDNS_STATUS_OK);
            return p;
        }
        off += 2 + l;
    }
}

/* RFC 7766 section 6.2.1: several queries on one connection, sent
 * together; a query under a timeout fault gets no answer, the others
 * do; the big TXT comes whole (no TC over TCP); 'truncate' is for UDP. */
START_TEST(test_tcp_pipeline)
{
    struct net n;
    struct net_tcp t;
    uint8_t out[1024];
    size_t off = 0;
    int seen[5] = {0};
    char err[128];

    net_start(&n);
    ck_assert(fakedns_set_fault(n.fd, "nope.net.test", 0, "timeout", err,
                                sizeof(err)) == 0);
    ck_assert(fakedns_set_fault(n.fd, "mx1.net.test", 0, "truncate", err,
                                sizeof(err)) == 0);
    off = net_frame(out, off, "mx1.net.test.", LDNS_RR_TYPE_A, 1);
    off = net_frame(out, off, "nope.net.test.", LDNS_RR_TYPE_A, 2);
    off = net_frame(out, off, "net.test.", LDNS_RR_TYPE_MX, 3);
    off = net_frame(out, off, "big.net.test.", LDNS_RR_TYPE_TXT, 4);
    net_tcp_exchange(&n, &t, out, off, 3);
    ck_assert_uint_eq(net_tcp_messages(&t), 3);
    for (size_t i = 0; i < 3; i++) {
        ldns_pkt *p = net_tcp_msg(&t, i);
        uint16_t id = ldns_pkt_id(p);

        ck_assert(id >= 1 && id <= 4 && id != 2);
        seen[id] = 1;
        ck_assert(!ldns_pkt_tc(p));
        ck_assert_int_eq(ldns_pkt_get_rcode(p), 0);
        ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 1);
        ldns_pkt_free(p);
    }
    ck_assert(seen[1] && seen[3] && seen[4]);
    ck_assert_uint_eq(fakedns_query_count(n.fd), 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(fakedns_query_at(n.fd, i)->tcp, 1);
    net_stop(&n);
}
END_TEST

/* Framing the server cannot use: the connection is closed, nothing is
 * answered, the server lives on. */
static const struct {
    const char *what;
    const uint8_t bytes[8];
    size_t len;
} framing_cases[] = {
    {"length under a header", {0x00, 0x05, 1, 2, 3, 4, 5}, 7},
    {"length over the query limit", {0xff, 0xff, 1, 2, 3, 4, 5, 6}, 8},
    {"zero length", {0x00, 0x00}, 2},
};

START_TEST(test_tcp_framing)
{
    struct net n;
    struct net_tcp t;
    uint8_t out[512];
    size_t off;

    net_start(&n);
    net_tcp_exchange(&n, &t, framing_cases[_i].bytes, framing_cases[_i].len, 1);
    ck_assert_msg(t.eof, "%s: connection left open", framing_cases[_i].what);
    ck_assert_uint_eq(t.len, 0);
    /* Still serving. */
    off = net_frame(out, 0, "mx1.net.test.", LDNS_RR_TYPE_A, 9);
    net_tcp_exchange(&n, &t, out, off, 1);
    ck_assert_uint_eq(net_tcp_messages(&t), 1);
    net_stop(&n);
}
END_TEST

/* A delayed answer does not hold up the others (a timer, not a sleep):
 * over one TCP connection the quick answer arrives first. */
START_TEST(test_delay_nonblocking)
{
    struct net n;
    struct net_tcp t;
    uint8_t out[512];
    size_t off = 0;
    char err[128];
    ldns_pkt *p;

    net_start(&n);
    ck_assert(fakedns_set_fault(n.fd, "net.test", LDNS_RR_TYPE_MX, "delay=400",
                                err, sizeof(err)) == 0);
    off = net_frame(out, off, "net.test.", LDNS_RR_TYPE_MX, 1);
    off = net_frame(out, off, "mx1.net.test.", LDNS_RR_TYPE_A, 2);
    net_tcp_exchange(&n, &t, out, off, 2);
    ck_assert_uint_eq(net_tcp_messages(&t), 2);
    p = net_tcp_msg(&t, 0);
    ck_assert_int_eq(ldns_pkt_id(p), 2);
    ldns_pkt_free(p);
    p = net_tcp_msg(&t, 1);
    ck_assert_int_eq(ldns_pkt_id(p), 1);
    ldns_pkt_free(p);
    net_stop(&n);
}
END_TEST

/* A taken address is refused with the reason; a bad one too. */
START_TEST(test_listen_errors)
{
    struct net n;
    char addr[64], err[256] = "";

    net_start(&n);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", n.port);
    ck_assert_int_eq(fakedns_listen(n.fd, addr, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    ck_assert_int_eq(fakedns_listen(n.fd, "127.0.0.1:99999", err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "bad listen address \"127.0.0.1:99999\"");
    ck_assert_int_eq(fakedns_listen_port(n.fd, 1), -1);
    net_stop(&n);
}
END_TEST

TCase *test_net_tcase(void)
{
    TCase *tc = tcase_create("net");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_cares_faults, 0,
                        sizeof(fault_cases) / sizeof(fault_cases[0]));
    tcase_add_test(tc, test_tcp_pipeline);
    tcase_add_loop_test(tc, test_tcp_framing, 0,
                        sizeof(framing_cases) / sizeof(framing_cases[0]));
    tcase_add_test(tc, test_delay_nonblocking);
    tcase_add_test(tc, test_listen_errors);
    return tc;
}
