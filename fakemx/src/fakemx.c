/*
 * fakemx.c — fake upstream MX hosts: listeners (and their going down and
 * up again), per-client connection counts, rate windows and greylisting
 * state, and the recordings of sessions and accepted messages. The SMTP
 * conversation itself is in session.c, the behaviour format in behaviour.c,
 * the JSON and Maildir forms of a recording in json.c. Ownership: fakemx
 * owns hosts, sessions and recordings; fakemx_free() is the one teardown
 * path for all of them. Recordings grow by doubling: 5000 messages cost
 * 5000 records, not a quadratic copy; they are carved from a region of
 * large blocks (fakemx_region_alloc), never freed one by one.
 */
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fakemx_int.h"
#include "mxlab/clock.h"
#include "mxlab/log.h"
#include "mxlab/xmem.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAKEMX_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(FAKEMX_ASAN)
#include <sanitizer/asan_interface.h>
#define FAKEMX_REDZONE 16
#else
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define FAKEMX_REDZONE 0
#endif

struct fakemx *fakemx_new(struct event_base *base)
{
    struct fakemx *fm = xcalloc(1, sizeof(*fm));

    fm->base = base;
    /* The digest every message needs, fetched now: the first fetch in a
     * process loads OpenSSL's configuration (a millisecond or more),
     * which would otherwise hold the first message's 250. A failure here
     * is retried per message (fakemx_sha256_hex). */
    fm->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    fm->sha256_ctx = EVP_MD_CTX_new();
    return fm;
}

long long fakemx_now_ms(void)
{
    struct timeval tv;

    clock_now(&tv);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void fakemx_host_free(struct fakemx_host *h)
{
    if (h->lev != NULL)
        evconnlistener_free(h->lev);
    while (h->clients != NULL) {
        struct fakemx_client *c = h->clients;
        h->clients = c->next;
        free(c->conns.t);
        free(c->msgs.t);
        free(c);
    }
    for (size_t i = 0; i < FAKEMX_GREY_BUCKETS; i++)
        while (h->grey[i] != NULL) {
            struct fakemx_grey *g = h->grey[i];
            h->grey[i] = g->next;
            free(g->key);
            free(g);
        }
    fakemx_behaviour_clear(&h->beh);
    free(h->name);
    free(h->listen);
    free(h);
}

/* A message is one region allocation (fakemx_record) and a session
 * record's strings are region allocations: only the replies array is
 * the record's own. */
static void fakemx_srec_free(struct fakemx_srec *r)
{
    free(r->pub.replies);
}

static void fakemx_region_free(struct fakemx *fm)
{
    while (fm->region != NULL) {
        struct fakemx_block *b = fm->region;
        fm->region = b->next;
        ASAN_UNPOISON_MEMORY_REGION(b, b->size);
        munmap(b, b->size);
    }
}

void fakemx_free(struct fakemx *fm)
{
    if (fm == NULL)
        return;
    fm->freeing = 1;
    while (fm->sessions != NULL)
        fakemx_session_free(fm->sessions);
    while (fm->filters != NULL)
        fakemx_filter_cancel(fm->filters);
    while (fm->hosts != NULL) {
        struct fakemx_host *h = fm->hosts;
        fm->hosts = h->next;
        fakemx_host_free(h);
    }
    free(fm->msgs);
    for (size_t i = 0; i < fm->nsrecs; i++)
        fakemx_srec_free(fm->srecs[i]);
    free(fm->srecs);
    fakemx_region_free(fm);
    while (fm->nspare > 0)
        strbuf_clear(&fm->spare[--fm->nspare]);
    EVP_MD_CTX_free(fm->sha256_ctx);
    EVP_MD_free(fm->sha256);
    fakemx_tls_ctx_free(fm->ssl_ctx);
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
    h->nconn++;
    fakemx_session_start(h, fd, &peer);
}

/* accept() failed (EMFILE and the like): say so and keep listening. */
static void fakemx_on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct fakemx_host *h = arg;

    (void)lev;
    log_warn("%s: accept", h->listen);
}

/* Listen on h->addr (its bound port); 0 or -1 with err set. */
static int fakemx_host_open(struct fakemx_host *h, char *err, size_t errlen)
{
    int fd = netaddr_listen_tcp(&h->addr, 128);

    if (fd < 0) {
        snprintf(err, errlen, "listen on %s: %s", h->listen, strerror(errno));
        return -1;
    }
    h->lev = evconnlistener_new(h->fm->base, fakemx_on_accept, h,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                -1, fd);
    if (h->lev == NULL) {
        close(fd);
        snprintf(err, errlen, "listen on %s: libevent failure", h->listen);
        return -1;
    }
    evconnlistener_set_error_cb(h->lev, fakemx_on_accept_error);
    return 0;
}

/* Bring the listener in line with the behaviour: closed while "down =
 * refuse" (connects get RST), open otherwise. */
static int fakemx_host_sync_listener(struct fakemx_host *h, char *err,
                                     size_t errlen)
{
    if (h->beh.down == FAKEMX_DOWN_REFUSE) {
        if (h->lev != NULL) {
            evconnlistener_free(h->lev);
            h->lev = NULL;
        }
        return 0;
    }
    if (h->lev == NULL)
        return fakemx_host_open(h, err, errlen);
    return 0;
}

/* The SSL_CTX exists once any host wants STARTTLS. */
static void fakemx_host_tls_prepare(struct fakemx_host *h)
{
    if (h->beh.starttls && h->fm->ssl_ctx == NULL)
        h->fm->ssl_ctx = fakemx_tls_ctx_new(h->name);
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
    fd = -1; /* the listener owns it */
    evconnlistener_set_error_cb(h->lev, fakemx_on_accept_error);
    /* Starting down: the port stays ours (bound once), then closes. */
    fakemx_host_sync_listener(h, err, errlen);
    fakemx_host_tls_prepare(h);
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

int fakemx_host_set_behaviour(struct fakemx_host *h,
                              const struct fakemx_behaviour *b)
{
    char err[256];

    fakemx_behaviour_copy(&h->beh, b);
    /* A server that is down has no connections either: those still open
     * (a client's cached one) end now, as when the server stops. */
    if (h->beh.down == FAKEMX_DOWN_REFUSE)
        for (struct fakemx_session *s = h->fm->sessions, *next; s; s = next) {
            next = s->next;
            if (s->host == h)
                fakemx_session_free(s);
        }
    fakemx_host_tls_prepare(h);
    if (fakemx_host_sync_listener(h, err, sizeof(err)) < 0) {
        log_warnx("%s", err);
        return -1;
    }
    return 0;
}

void fakemx_on_delivery(struct fakemx *fm, fakemx_delivery_fn *fn, void *arg)
{
    fm->delivery_fn = fn;
    fm->delivery_arg = arg;
}

void fakemx_on_session_end(struct fakemx *fm, fakemx_session_fn *fn, void *arg)
{
    fm->session_fn = fn;
    fm->session_arg = arg;
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

size_t fakemx_session_count(const struct fakemx *fm)
{
    return fm->nsrecs;
}

const struct fakemx_session_record *fakemx_session_at(const struct fakemx *fm,
                                                      size_t i)
{
    return i < fm->nsrecs ? &fm->srecs[i]->pub : NULL;
}

int fakemx_host_clients(const struct fakemx_host *h, const char *ip)
{
    int n = 0;

    for (const struct fakemx_session *s = h->fm->sessions; s; s = s->next)
        if (s->host == h && !s->closing && strcmp(s->client_ip, ip) == 0)
            n++;
    return n;
}

/* ---- tarpits on the simulated clock ---- */

void fakemx_time_changed(struct fakemx *fm)
{
    long long now = fakemx_now_ms();

    if (!clock_is_simulated())
        return;
    /* Activate rather than call: the session runs from the loop, never
     * from inside the harness's call. */
    for (struct fakemx_session *s = fm->sessions; s != NULL; s = s->next)
        if (s->waiting && s->wait_due_ms <= now &&
            !event_pending(s->wait_ev, EV_TIMEOUT, NULL))
            event_active(s->wait_ev, EV_TIMEOUT, 0);
}

size_t fakemx_waiting_count(const struct fakemx *fm)
{
    size_t n = 0;

    for (const struct fakemx_session *s = fm->sessions; s; s = s->next)
        if (s->waiting || s->hung)
            n++;
    return n;
}

/* ---- rate windows and greylisting ---- */

static struct fakemx_client *fakemx_client_get(struct fakemx_host *h,
                                               const char *ip)
{
    struct fakemx_client *c;

    for (c = h->clients; c != NULL; c = c->next)
        if (strcmp(c->ip, ip) == 0)
            return c;
    c = xcalloc(1, sizeof(*c));
    snprintf(c->ip, sizeof(c->ip), "%s", ip);
    c->next = h->clients;
    h->clients = c;
    return c;
}

int fakemx_rate_take(struct fakemx_host *h, const char *ip, int msgs,
                     const struct fakemx_rate *r)
{
    struct fakemx_client *c;
    struct fakemx_window *w;
    long long now = fakemx_now_ms();
    size_t keep = 0;

    if (r->count <= 0)
        return 1;
    c = fakemx_client_get(h, ip);
    w = msgs ? &c->msgs : &c->conns;
    /* Sliding window: forget events at least window_ms old. */
    for (size_t i = 0; i < w->n; i++)
        if (now - w->t[i] < r->window_ms)
            w->t[keep++] = w->t[i];
    w->n = keep;
    if ((long)w->n >= r->count)
        return 0;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 8;
        w->t = xrealloc(w->t, w->cap * sizeof(*w->t));
    }
    w->t[w->n++] = now;
    return 1;
}

static size_t fakemx_grey_hash(const char *key, size_t len)
{
    unsigned long long hv = 1469598103934665603ULL; /* FNV-1a */

    for (size_t i = 0; i < len; i++) {
        hv ^= (unsigned char)key[i];
        hv *= 1099511628211ULL;
    }
    return (size_t)(hv % FAKEMX_GREY_BUCKETS);
}

long fakemx_greylist_check(struct fakemx_host *h, const char *ip,
                           const char *from, const char *rcpt)
{
    const struct fakemx_behaviour *b = &h->beh;
    long long now = fakemx_now_ms(), min_ms = b->greylist_min * 1000LL;
    struct strbuf key;
    struct fakemx_grey *g;
    size_t slot;
    long wait;

    /* Addresses compare without case, as greylisting daemons do. */
    strbuf_init(&key);
    strbuf_puts(&key, ip);
    strbuf_putc(&key, '\0');
    strbuf_puts(&key, from);
    strbuf_putc(&key, '\0');
    strbuf_puts(&key, rcpt);
    str_lower(key.buf + strlen(ip) + 1);
    str_lower(key.buf + strlen(ip) + 1 + strlen(from) + 1);
    slot = fakemx_grey_hash(key.buf, key.len);
    for (g = h->grey[slot]; g != NULL; g = g->next)
        if (g->keylen == key.len && memcmp(g->key, key.buf, key.len) == 0)
            break;
    if (g == NULL) {
        g = xcalloc(1, sizeof(*g));
        g->keylen = key.len;
        g->key = strbuf_detach(&key);
        g->first_ms = now;
        g->next = h->grey[slot];
        h->grey[slot] = g;
        return b->greylist_min > 0 ? b->greylist_min : 1;
    }
    strbuf_clear(&key);
    if (g->passed)
        return 0;
    if (b->greylist_max > 0 && now - g->first_ms > b->greylist_max * 1000LL) {
        /* Retried too late: the triplet starts over. */
        g->first_ms = now;
        return b->greylist_min > 0 ? b->greylist_min : 1;
    }
    if (now - g->first_ms < min_ms) {
        wait = (long)((min_ms - (now - g->first_ms) + 999) / 1000);
        return wait > 0 ? wait : 1;
    }
    g->passed = 1;
    return 0;
}

/* ---- recordings ---- */

/* n bytes at the given alignment from the region. Under ASan the space
 * not handed out stays poisoned and every piece is followed by a red
 * zone, so an overrun is caught as it would be with malloc. */
static void *fakemx_region_take(struct fakemx *fm, size_t n, size_t align)
{
    const size_t hdr = (sizeof(struct fakemx_block) + 15) & ~(size_t)15;
    struct fakemx_block *b = fm->region;
    size_t size, off, need = n + FAKEMX_REDZONE;
    char *p;

    off = b != NULL ? (b->used + align - 1) & ~(align - 1) : 0;
    if (b == NULL || off > b->size || b->size - off < need) {
        if (fm->region_next == 0)
            fm->region_next = FAKEMX_BLOCK_FIRST;
        if (need > FAKEMX_BLOCK_MAX / 4) {
            size = (hdr + need + 4095) & ~(size_t)4095;
        } else {
            while (fm->region_next < hdr + need)
                fm->region_next *= 2;
            size = fm->region_next;
            if (fm->region_next < FAKEMX_BLOCK_MAX)
                fm->region_next *= 2;
        }
        /* Populated at once: one call instead of a page fault for every
         * page the recordings reach. The pages come zeroed. */
        b = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (b == MAP_FAILED)
            fatal("mmap(%zu)", size);
        b->size = size;
        b->used = off = hdr;
        ASAN_POISON_MEMORY_REGION((char *)b + hdr, size - hdr);
        if (need > FAKEMX_BLOCK_MAX / 4 && fm->region != NULL) {
            /* A block of its own: the current block stays first. */
            b->next = fm->region->next;
            fm->region->next = b;
        } else {
            b->next = fm->region;
            fm->region = b;
        }
    }
    p = (char *)b + off;
    b->used = off + need;
    ASAN_UNPOISON_MEMORY_REGION(p, n);
    return p;
}

void *fakemx_region_alloc(struct fakemx *fm, size_t n)
{
    /* Aligned as malloc would: a message block holds pointers and
     * timevals. */
    return fakemx_region_take(fm, n, 16);
}

/* A record's strings are packed without alignment. */
static char *fakemx_srec_alloc(struct fakemx_srec *r, size_t n)
{
    return fakemx_region_take(r->fm, n, 1);
}

char *fakemx_srec_strdup(struct fakemx_srec *r, const char *text, size_t len)
{
    char *copy = fakemx_srec_alloc(r, len + 1), *q = copy;

    if (memchr(text, '\r', len) == NULL) {
        memcpy(copy, text, len); /* a one-line reply, or a name */
        copy[len] = '\0';
        return copy;
    }
    /* CRLF between reply lines is kept as "\n". */
    for (size_t i = 0; i < len; i++)
        if (text[i] != '\r')
            *q++ = text[i];
    *q = '\0';
    return copy;
}

struct fakemx_srec *fakemx_srec_new(struct fakemx_host *h, const char *ip)
{
    struct fakemx *fm = h->fm;
    struct fakemx_srec *r = fakemx_region_alloc(fm, sizeof(*r));
    const char *name = h->beh.name ? h->beh.name : h->name;

    r->fm = fm;

    r->pub.id = (unsigned long)fm->nsrecs + 1;
    r->pub.host = fakemx_srec_strdup(r, h->listen, strlen(h->listen));
    r->pub.host_name = fakemx_srec_strdup(r, name, strlen(name));
    r->pub.client_ip = fakemx_srec_strdup(r, ip, strlen(ip));
    r->pub.helo = "";
    r->pub.tls_version = "";
    clock_now(&r->pub.connected);
    if (fm->nsrecs == fm->sreccap) {
        fm->sreccap = fm->sreccap ? 2 * fm->sreccap : 64;
        fm->srecs = xrealloc(fm->srecs, fm->sreccap * sizeof(*fm->srecs));
    }
    fm->srecs[fm->nsrecs++] = r;
    return r;
}

void fakemx_srec_reply(struct fakemx_srec *r, const char *text, size_t len)
{
    if (r->pub.nreplies == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->pub.replies =
            xrealloc(r->pub.replies, r->cap * sizeof(*r->pub.replies));
    }
    r->pub.replies[r->pub.nreplies++] = fakemx_srec_strdup(r, text, len);
}

void fakemx_header_summary(const char *data, size_t len,
                           char out[FAKEMX_NHEADERS][FAKEMX_HEADER_MAX])
{
    static const char *const names[FAKEMX_NHEADERS] = {"Subject", "From", "To",
                                                       "Message-ID"};
    size_t pos = 0, olen = 0;
    int cur = -1; /* the field being unfolded */

    for (int k = 0; k < FAKEMX_NHEADERS; k++)
        out[k][0] = '\0';
    /* RFC 5322 section 2.2: header fields up to the first empty line; a
     * line starting with white space continues the field (unfolding,
     * section 2.2.3). The first occurrence of each name counts. */
    while (pos < len) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - line) : len - pos;
        const char *v = NULL;
        pos += l + (nl ? 1 : 0);
        if (l > 0 && line[l - 1] == '\r')
            l--;
        if (l == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            v = line; /* continuation */
        } else {
            cur = -1;
            for (int k = 0; k < FAKEMX_NHEADERS && cur < 0; k++) {
                size_t nlen = strlen(names[k]);
                if (out[k][0] == '\0' && l > nlen && line[nlen] == ':' &&
                    str_ncasecmp(line, names[k], nlen) == 0) {
                    cur = k;
                    olen = 0;
                    v = line + nlen + 1;
                    l -= nlen + 1;
                }
            }
        }
        if (cur < 0 || v == NULL)
            continue;
        /* A continuation adds the whole line, its leading blank too. */
        for (size_t i = 0; i < l && olen < FAKEMX_HEADER_MAX - 1; i++)
            out[cur][olen++] = (v[i] == '\t' || v[i] == '\0') ? ' ' : v[i];
        out[cur][olen] = '\0';
    }
    for (int k = 0; k < FAKEMX_NHEADERS; k++) {
        char *t = str_trim(out[k]);
        if (t != out[k])
            memmove(out[k], t, strlen(t) + 1);
    }
}

void fakemx_data_take(struct fakemx *fm, struct strbuf *b, size_t want)
{
    if (b->cap >= want)
        return;
    if (fm->nspare > 0 && b->buf == NULL) {
        *b = fm->spare[--fm->nspare];
        if (b->cap >= want)
            return;
    }
    b->buf = xrealloc(b->buf, want);
    b->cap = want;
    b->buf[0] = '\0';
}

void fakemx_data_give(struct fakemx *fm, struct strbuf *b)
{
    if (b->buf != NULL && b->cap <= FAKEMX_SPARE_MAX &&
        fm->nspare < FAKEMX_SPARE_DATA && !fm->freeing) {
        strbuf_reset(b);
        fm->spare[fm->nspare++] = *b;
        strbuf_init(b);
        return;
    }
    strbuf_clear(b);
}

/* Hex SHA-256 of data into out[65]. The digest is fetched once and its
 * context reused: SHA256() would fetch the algorithm for every message. */
static void fakemx_sha256_hex(struct fakemx *fm, const char *data, size_t len,
                              char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    unsigned int dlen = 0;

    if (fm->sha256 == NULL)
        fm->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (fm->sha256_ctx == NULL)
        fm->sha256_ctx = EVP_MD_CTX_new();
    if (fm->sha256 == NULL || fm->sha256_ctx == NULL ||
        !EVP_DigestInit_ex2(fm->sha256_ctx, fm->sha256, NULL) ||
        !EVP_DigestUpdate(fm->sha256_ctx, data, len) ||
        !EVP_DigestFinal_ex(fm->sha256_ctx, digest, &dlen) ||
        dlen != sizeof(digest)) {
        /* Not expected; the one-shot form then, so the record is whole. */
        SHA256((const unsigned char *)data, len, digest);
    }
    for (size_t i = 0; i < sizeof(digest); i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

/* Copy n bytes (and a NUL) to *p in the message block; return the copy. */
static const char *fakemx_pack(char **p, const char *src, size_t n)
{
    char *dst = *p;

    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
    *p += n + 1;
    return dst;
}

void fakemx_record(struct fakemx_session *s)
{
    struct fakemx *fm = s->host->fm;
    char hdr[FAKEMX_NHEADERS][FAKEMX_HEADER_MAX];
    const struct fakemx_session_record *sr = &s->rec->pub;
    const char *helo = s->helo ? s->helo : "";
    const char *from = s->mail_from ? s->mail_from : "";
    const char *params = s->mail_params ? s->mail_params : "";
    size_t len = s->data.len, nr = s->rcpts.n, size, strs;
    struct fakemx_message *m;
    char *p;

    fakemx_header_summary(s->data.buf ? s->data.buf : "", len, hdr);
    /* One block: struct, two pointer arrays, every string, the data. */
    strs = strlen(sr->host) + strlen(sr->host_name) + strlen(s->client_ip) +
           strlen(helo) + strlen(from) + strlen(params) +
           strlen(sr->tls_version) + 7;
    for (size_t i = 0; i < nr; i++)
        strs += strlen(s->rcpts.v[i]) + strlen(s->rcpt_params.v[i]) + 2;
    for (int k = 0; k < FAKEMX_NHEADERS; k++)
        strs += strlen(hdr[k]) + 1;
    size = sizeof(*m) + 2 * (nr ? nr : 1) * sizeof(char *) + strs + len + 1;
    m = fakemx_region_alloc(fm, size);
    m->rcpts = (char **)(m + 1);
    m->rcpt_params = m->rcpts + (nr ? nr : 1);
    p = (char *)(m->rcpt_params + (nr ? nr : 1));
    m->host = fakemx_pack(&p, sr->host, strlen(sr->host));
    m->host_name = fakemx_pack(&p, sr->host_name, strlen(sr->host_name));
    m->client_ip = fakemx_pack(&p, s->client_ip, strlen(s->client_ip));
    m->helo = fakemx_pack(&p, helo, strlen(helo));
    m->mail_from = fakemx_pack(&p, from, strlen(from));
    m->mail_params = fakemx_pack(&p, params, strlen(params));
    m->tls_version = fakemx_pack(&p, sr->tls_version, strlen(sr->tls_version));
    m->nrcpt = nr;
    for (size_t i = 0; i < nr; i++) {
        m->rcpts[i] =
            (char *)fakemx_pack(&p, s->rcpts.v[i], strlen(s->rcpts.v[i]));
        m->rcpt_params[i] = (char *)fakemx_pack(&p, s->rcpt_params.v[i],
                                                strlen(s->rcpt_params.v[i]));
    }
    m->subject = fakemx_pack(&p, hdr[0], strlen(hdr[0]));
    m->header_from = fakemx_pack(&p, hdr[1], strlen(hdr[1]));
    m->header_to = fakemx_pack(&p, hdr[2], strlen(hdr[2]));
    m->message_id = fakemx_pack(&p, hdr[3], strlen(hdr[3]));
    /* The data may hold NUL bytes: it travels by length, NUL-terminated
     * all the same. The session's buffer keeps its storage for the next
     * message. */
    m->data = fakemx_pack(&p, s->data.buf ? s->data.buf : "", len);
    m->data_len = len;
    fakemx_sha256_hex(fm, m->data, len, m->sha256);
    m->connected = sr->connected;
    m->mail_time = s->mail_time;
    clock_now(&m->received);
    m->session = sr;
    m->reply_first = s->reply_first;
    /* The 250 for "." is the next reply the session records. */
    m->reply_count = sr->nreplies - s->reply_first + 1;
    s->rec->pub.nmessages++;
    if (fm->nmsgs == fm->msgcap) {
        fm->msgcap = fm->msgcap ? 2 * fm->msgcap : 64;
        fm->msgs = xrealloc(fm->msgs, fm->msgcap * sizeof(*fm->msgs));
    }
    fm->msgs[fm->nmsgs++] = m;
}

void fakemx_record_notify(struct fakemx *fm)
{
    if (fm->delivery_fn != NULL && fm->nmsgs > 0)
        fm->delivery_fn(fm->delivery_arg, fm->msgs[fm->nmsgs - 1]);
}
