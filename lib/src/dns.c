/*
 * dns.c — c-ares driven by a libevent loop. See dns.h.
 * c-ares tells us which sockets it wants watched (sock_state_cb); we keep a
 * libevent event per socket and one timer for c-ares' own timeouts.
 */
#include "mxlab/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct dns_sock {
    ares_socket_t fd;
    struct event *ev;
    struct dns *dns;
    struct dns_sock *next;
};

struct dns {
    struct event_base *base;
    ares_channel channel;
    struct event *timer;
    struct dns_sock *socks;
    int destroying;
};

enum dns_kind { DNS_Q_MX, DNS_Q_A, DNS_Q_TXT, DNS_Q_PTR };

struct dns_req {
    struct dns *dns;
    enum dns_kind kind;
    union {
        dns_mx_fn *mx;
        dns_addr_fn *a;
        dns_txt_fn *txt;
        dns_ptr_fn *ptr;
    } cb;
    struct in_addr addr; /* PTR: the address asked about */
    void *arg;
};

static int dns_library_ready;

const char *dns_strstatus(enum dns_status st)
{
    switch (st) {
    case DNS_OK:
        return "ok";
    case DNS_NXDOMAIN:
        return "Host not found";
    case DNS_NODATA:
        return "No address associated with hostname";
    case DNS_TEMPFAIL:
        return "Host not found, try again";
    }
    return "unknown";
}

static void dns_rearm_timer(struct dns *d)
{
    struct timeval tv, *tvp;

    tvp = ares_timeout(d->channel, NULL, &tv);
    if (tvp == NULL)
        evtimer_del(d->timer);
    else
        evtimer_add(d->timer, tvp);
}

static void dns_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dns *d = arg;

    (void)fd;
    (void)what;
    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_rearm_timer(d);
}

static void dns_on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct dns_sock *s = arg;
    struct dns *d = s->dns;

    ares_process_fd(d->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    dns_rearm_timer(d);
}

static void dns_sock_state(void *data, ares_socket_t fd, int readable,
                           int writable)
{
    struct dns *d = data;
    struct dns_sock **pp, *s;

    for (pp = &d->socks; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->fd == fd)
            break;
    s = *pp;
    if (!readable && !writable) {
        if (s != NULL) {
            *pp = s->next;
            event_free(s->ev);
            free(s);
        }
        return;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->dns = d;
        s->next = d->socks;
        d->socks = s;
    } else {
        event_free(s->ev);
    }
    s->ev = event_new(d->base, fd,
                      (short)((readable ? EV_READ : 0) |
                              (writable ? EV_WRITE : 0) | EV_PERSIST),
                      dns_on_sock, s);
    event_add(s->ev, NULL);
}

struct dns *dns_new(struct event_base *base, const char *servers, char *err,
                    size_t errlen)
{
    struct ares_options opts;
    int optmask = ARES_OPT_SOCK_STATE_CB;
    struct dns *d;
    int rc;

    if (!dns_library_ready) {
        rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
            return NULL;
        }
        dns_library_ready = 1;
    }
    d = xcalloc(1, sizeof(*d));
    d->base = base;
    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = dns_sock_state;
    opts.sock_state_cb_data = d;
    if (servers != NULL && *servers != '\0') {
        /* A lab server answers at once or is faulted on purpose: keep
         * the wait short so temporary failures surface quickly. */
        opts.timeout = 1000;
        opts.tries = 2;
        optmask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    }
    rc = ares_init_options(&d->channel, &opts, optmask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        free(d);
        return NULL;
    }
    if (servers != NULL && *servers != '\0') {
        struct strbuf csv;
        struct strlist l;
        strbuf_init(&csv);
        strlist_init(&l);
        strlist_split(&l, servers);
        for (size_t i = 0; i < l.n; i++) {
            if (i > 0)
                strbuf_putc(&csv, ',');
            strbuf_puts(&csv, l.v[i]);
        }
        rc = ares_set_servers_ports_csv(d->channel, csv.buf ? csv.buf : "");
        strlist_clear(&l);
        strbuf_clear(&csv);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "bad DNS server list \"%s\": %s", servers,
                     ares_strerror(rc));
            ares_destroy(d->channel);
            free(d);
            return NULL;
        }
    }
    d->timer = evtimer_new(base, dns_on_timer, d);
    return d;
}

void dns_free(struct dns *d)
{
    if (d == NULL)
        return;
    d->destroying = 1;
    ares_destroy(d->channel);
    while (d->socks != NULL) {
        struct dns_sock *s = d->socks;
        d->socks = s->next;
        event_free(s->ev);
        free(s);
    }
    event_free(d->timer);
    free(d);
}

static enum dns_status dns_map_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return DNS_OK;
    case ARES_ENOTFOUND:
        return DNS_NXDOMAIN;
    case ARES_ENODATA:
        return DNS_NODATA;
    default:
        return DNS_TEMPFAIL;
    }
}

static void dns_answer_mx(struct dns_req *r, enum dns_status st,
                          unsigned char *abuf, int alen)
{
    struct ares_mx_reply *head = NULL;
    struct dns_mx *v = NULL;
    size_t n = 0;

    if (st == DNS_OK) {
        int rc = ares_parse_mx_reply(abuf, alen, &head);
        st = dns_map_status(rc);
        for (struct ares_mx_reply *p = head; st == DNS_OK && p; p = p->next) {
            v = xrealloc(v, (n + 1) * sizeof(*v));
            v[n].pref = p->priority;
            snprintf(v[n].host, sizeof(v[n].host), "%s", p->host);
            n++;
        }
        if (st == DNS_OK && n == 0)
            st = DNS_NODATA;
    }
    r->cb.mx(r->arg, st, v, n);
    free(v);
    if (head != NULL)
        ares_free_data(head);
}

static void dns_answer_a(struct dns_req *r, enum dns_status st,
                         unsigned char *abuf, int alen)
{
    struct ares_addrttl ttls[64];
    int nttl = 64;
    char **v = NULL;
    size_t n = 0;

    if (st == DNS_OK) {
        int rc = ares_parse_a_reply(abuf, alen, NULL, ttls, &nttl);
        st = dns_map_status(rc);
        if (st == DNS_OK && nttl == 0)
            st = DNS_NODATA;
        for (int i = 0; st == DNS_OK && i < nttl; i++) {
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &ttls[i].ipaddr, ip, sizeof(ip));
            v = xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = xstrdup(ip);
        }
    }
    r->cb.a(r->arg, st, v, n);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void dns_answer_txt(struct dns_req *r, enum dns_status st,
                           unsigned char *abuf, int alen)
{
    struct ares_txt_ext *head = NULL;
    struct strbuf cur;
    char **v = NULL;
    size_t n = 0;

    strbuf_init(&cur);
    if (st == DNS_OK) {
        int rc = ares_parse_txt_reply_ext(abuf, alen, &head);
        st = dns_map_status(rc);
        for (struct ares_txt_ext *p = head; st == DNS_OK && p; p = p->next) {
            /* record_start marks the first string of each TXT record. */
            if (p->record_start && cur.len > 0) {
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = strbuf_detach(&cur);
            }
            strbuf_append(&cur, p->txt, p->length);
        }
        if (st == DNS_OK && (cur.len > 0 || head != NULL)) {
            v = xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = strbuf_detach(&cur);
        }
        if (st == DNS_OK && n == 0)
            st = DNS_NODATA;
    }
    r->cb.txt(r->arg, st, v, n);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    strbuf_clear(&cur);
    if (head != NULL)
        ares_free_data(head);
}

static void dns_answer_ptr(struct dns_req *r, enum dns_status st,
                           unsigned char *abuf, int alen)
{
    struct hostent *host = NULL;
    const char *name = NULL;

    if (st == DNS_OK) {
        int rc = ares_parse_ptr_reply(abuf, alen, &r->addr, sizeof(r->addr),
                                      AF_INET, &host);
        st = dns_map_status(rc);
        if (st == DNS_OK && (host == NULL || host->h_name == NULL))
            st = DNS_NODATA;
        if (st == DNS_OK)
            name = host->h_name;
    }
    r->cb.ptr(r->arg, st, name);
    if (host != NULL)
        ares_free_hostent(host);
}

static void dns_on_answer(void *arg, int status, int timeouts,
                          unsigned char *abuf, int alen)
{
    struct dns_req *r = arg;
    enum dns_status st = dns_map_status(status);

    (void)timeouts;
    if (status == ARES_EDESTRUCTION || r->dns->destroying) {
        free(r);
        return;
    }
    switch (r->kind) {
    case DNS_Q_MX:
        dns_answer_mx(r, st, abuf, alen);
        break;
    case DNS_Q_A:
        dns_answer_a(r, st, abuf, alen);
        break;
    case DNS_Q_TXT:
        dns_answer_txt(r, st, abuf, alen);
        break;
    case DNS_Q_PTR:
        dns_answer_ptr(r, st, abuf, alen);
        break;
    }
    free(r);
}

static struct dns_req *dns_req_new(struct dns *d, enum dns_kind kind, void *arg)
{
    struct dns_req *r = xcalloc(1, sizeof(*r));

    r->dns = d;
    r->kind = kind;
    r->arg = arg;
    return r;
}

static void dns_query(struct dns *d, const char *name, int type,
                      struct dns_req *r)
{
    ares_query(d->channel, name, ns_c_in, type, dns_on_answer, r);
    dns_rearm_timer(d);
}

void dns_lookup_mx(struct dns *d, const char *name, dns_mx_fn *cb, void *arg)
{
    struct dns_req *r = dns_req_new(d, DNS_Q_MX, arg);

    r->cb.mx = cb;
    dns_query(d, name, ns_t_mx, r);
}

void dns_lookup_a(struct dns *d, const char *name, dns_addr_fn *cb, void *arg)
{
    struct dns_req *r = dns_req_new(d, DNS_Q_A, arg);

    r->cb.a = cb;
    dns_query(d, name, ns_t_a, r);
}

void dns_lookup_txt(struct dns *d, const char *name, dns_txt_fn *cb, void *arg)
{
    struct dns_req *r = dns_req_new(d, DNS_Q_TXT, arg);

    r->cb.txt = cb;
    dns_query(d, name, ns_t_txt, r);
}

int dns_lookup_ptr(struct dns *d, const char *ip, dns_ptr_fn *cb, void *arg)
{
    struct dns_req *r;
    unsigned char *b;
    char name[64];
    struct in_addr a;

    if (inet_pton(AF_INET, ip, &a) != 1)
        return -1;
    b = (unsigned char *)&a;
    snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1],
             b[0]);
    r = dns_req_new(d, DNS_Q_PTR, arg);
    r->cb.ptr = cb;
    r->addr = a;
    dns_query(d, name, ns_t_ptr, r);
    return 0;
}
