/*
 * import.c — "mxlab import" (see import.h). Packets are decoded through
 * one bounded reader (import_rd: every read checked against the captured
 * length), TCP segments go to tcpreasm, and each followed connection's
 * bytes become lines of its session: the client's as C: (C= with escapes
 * when the bytes need them, and for BDAT chunks, RFC 3030), the server's
 * as S: patterns (glob characters quoted, queue ids captured as {qidN}).
 * Sessions are written in the order they began, once they and every
 * earlier one ended, so memory holds only the sessions still open.
 */
#include "import.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/run.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "tcpreasm.h"

#define IMPORT_MAX_LINE 65536          /* a line longer is cut */
#define IMPORT_MAX_SESSION (16u << 20) /* text of one session */
#define IMPORT_QID_MARK "queued as "   /* Postfix: "Ok: queued as ID" */

/* ---- one session ---- */

struct import_session {
    struct import_session *next; /* in the order they began */
    struct tcpreasm_flow *flow;  /* NULL once ended */
    struct strbuf text;          /* [session] block so far */
    struct strbuf line[2];       /* partial line per direction */
    unsigned long long bytes[2];
    long bdat_left;  /* client: raw bytes of a BDAT chunk to come */
    int server_seen; /* a server line was read */
    int not_smtp, tls, cut, in_body, last_data, starttls, quit;
    int closed[2], gap[2], reset, ended;
    char from[INET6_ADDRSTRLEN + 8], conn[256];
};

struct import {
    const struct import_opts *o;
    FILE *out;
    struct import_session *head, **tail;
    unsigned long sessions, skipped, truncated, fragments;
    unsigned qids;
};

static void import_endpoint_str(const struct tcpreasm_endpoint *e, char *buf,
                                size_t len, int with_port)
{
    char ip[INET6_ADDRSTRLEN];

    inet_ntop(e->family, e->addr, ip, sizeof(ip));
    if (!with_port)
        snprintf(buf, len, "%s", ip);
    else if (e->family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", ip, e->port);
    else
        snprintf(buf, len, "%s:%u", ip, e->port);
}

/* "text" of the session, unless it was cut at IMPORT_MAX_SESSION. */
static void import_put(struct import_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void import_put(struct import_session *s, const char *fmt, ...)
{
    va_list ap;

    if (s->cut)
        return;
    if (s->text.len > IMPORT_MAX_SESSION) {
        s->cut = 1;
        strbuf_puts(&s->text, "# (the rest of this session is left out: "
                              "more than 16 MiB)\n");
        return;
    }
    va_start(ap, fmt);
    strbuf_vprintf(&s->text, fmt, ap);
    va_end(ap);
}

/* "C= " line: bytes with the scenario's escapes (scenario_unescape). */
static void import_put_raw(struct import_session *s, const unsigned char *p,
                           size_t n)
{
    static const char hex[] = "0123456789abcdef";
    struct strbuf e;

    strbuf_init(&e);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if (ch == '\\')
            strbuf_puts(&e, "\\\\");
        else if (ch == '\r')
            strbuf_puts(&e, "\\r");
        else if (ch == '\n')
            strbuf_puts(&e, "\\n");
        else if (ch == '\t')
            strbuf_puts(&e, "\\t");
        else if (ch < 0x20 || ch >= 0x7f) {
            char x[5] = {'\\', 'x', hex[ch >> 4], hex[ch & 15], 0};
            strbuf_puts(&e, x);
        } else
            strbuf_putc(&e, (char)ch);
    }
    import_put(s, "C= %s\n", e.buf ? e.buf : "");
    strbuf_clear(&e);
}

/* Raw client bytes, one C= line per line of them. */
static void import_put_raw_lines(struct import_session *s,
                                 const unsigned char *p, size_t n)
{
    while (n > 0) {
        const unsigned char *lf = memchr(p, '\n', n);
        size_t k = lf ? (size_t)(lf - p) + 1 : n;
        import_put_raw(s, p, k);
        p += k;
        n -= k;
    }
}

/* 1 if a client line (without its CRLF) can be written "C: line": plain
 * ASCII, no blank at either end (the file's blanks are not kept), no
 * "{" (C: lines substitute captures). */
static int import_plain(const unsigned char *p, size_t n)
{
    if (n > 0 &&
        (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '{')
            return 0;
    return 1;
}

/* The command word of a client line, upper-cased ASCII, in buf. */
static void import_verb(const unsigned char *p, size_t n, char *buf, size_t len)
{
    size_t k = 0;

    while (k < n && k + 1 < len && p[k] != ' ' && p[k] != '\r' &&
           p[k] != '\n') {
        unsigned char ch = p[k];
        buf[k++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    }
    buf[k] = '\0';
}

/* A whole client line (terminator included, if any). */
static void import_client_line(struct import_session *s, const unsigned char *p,
                               size_t n)
{
    size_t body = n;
    char verb[16];

    if (body >= 2 && p[body - 2] == '\r' && p[body - 1] == '\n')
        body -= 2;
    else
        body = (size_t)-1; /* bare LF, or no end: raw */
    if (body != (size_t)-1 && import_plain(p, body))
        import_put(s, body ? "C: %.*s\n" : "C:\n", (int)body, (const char *)p);
    else
        import_put_raw(s, p, n);
    if (s->in_body) {
        if (n >= 1 && p[0] == '.' && (n == 1 || p[1] == '\r' || p[1] == '\n'))
            s->in_body = 0; /* RFC 5321 section 4.1.1.4 */
        return;
    }
    import_verb(p, n, verb, sizeof(verb));
    s->last_data = strcmp(verb, "DATA") == 0;
    s->starttls |= strcmp(verb, "STARTTLS") == 0;
    s->quit |= strcmp(verb, "QUIT") == 0;
    if (strcmp(verb, "BDAT") == 0) {
        long size;
        char arg[24];
        size_t a = 5, k = 0;
        while (a < n && k + 1 < sizeof(arg) && p[a] >= '0' && p[a] <= '9')
            arg[k++] = (char)p[a++];
        arg[k] = '\0';
        if (k > 0 && str_to_long(arg, &size) == 0)
            s->bdat_left = size;
    }
}

/* Client bytes in order: lines, or raw BDAT chunk bytes. */
static void import_client_bytes(struct import_session *s,
                                const unsigned char *p, size_t n)
{
    struct strbuf *l = &s->line[0];

    while (n > 0) {
        if (s->bdat_left > 0) {
            size_t k = (size_t)s->bdat_left < n ? (size_t)s->bdat_left : n;
            import_put_raw_lines(s, p, k);
            s->bdat_left -= (long)k;
            p += k;
            n -= k;
            continue;
        }
        const unsigned char *lf = memchr(p, '\n', n);
        size_t k = lf ? (size_t)(lf - p) + 1 : n;
        strbuf_append(l, p, k);
        p += k;
        n -= k;
        if (lf != NULL || l->len >= IMPORT_MAX_LINE) {
            if (lf != NULL)
                import_client_line(s, (unsigned char *)l->buf, l->len);
            else
                import_put_raw(s, (unsigned char *)l->buf, l->len);
            strbuf_reset(l);
        }
    }
}

/* "S: " pattern of a reply line (CRLF removed): glob characters quoted,
 * other bytes and end blanks as '?', a queue id as {qidN}. */
static void import_server_line(struct import *im, struct import_session *s,
                               const char *p, size_t n)
{
    struct strbuf pat;
    const char *qid = NULL;
    size_t qlen = 0;
    int final = n == 3 || (n > 3 && p[3] == ' ');

    for (size_t i = 0; i + strlen(IMPORT_QID_MARK) < n && qid == NULL; i++)
        if (memcmp(p + i, IMPORT_QID_MARK, strlen(IMPORT_QID_MARK)) == 0) {
            qid = p + i + strlen(IMPORT_QID_MARK);
            while (qid + qlen < p + n && qid[qlen] != ' ')
                qlen++;
        }
    strbuf_init(&pat);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (qid != NULL && p + i == qid && qlen > 0) {
            strbuf_printf(&pat, "{qid%u}", ++im->qids);
            i += qlen - 1;
        } else if (ch == '*' || ch == '?' || ch == '\\' || ch == '{') {
            strbuf_putc(&pat, '\\');
            strbuf_putc(&pat, (char)ch);
        } else if (ch < 0x20 || ch >= 0x7f ||
                   ((ch == ' ' || ch == '\t') && (i == 0 || i + 1 == n)))
            strbuf_putc(&pat, '?');
        else
            strbuf_putc(&pat, (char)ch);
    }
    import_put(s, "S: %s\n", pat.buf ? pat.buf : "");
    strbuf_clear(&pat);
    if (!final)
        return;
    if (s->starttls && n >= 3 && memcmp(p, "220", 3) == 0) {
        s->tls = 1; /* RFC 3207 section 4: TLS negotiation starts now */
        s->bytes[0] = s->bytes[1] = 0;
    }
    s->starttls = 0;
    if (s->last_data && n >= 3 && memcmp(p, "354", 3) == 0)
        s->in_body = 1;
    s->last_data = 0;
}

/* Server bytes in order, as lines; the first must be a reply. */
static void import_server_bytes(struct import *im, struct import_session *s,
                                const unsigned char *p, size_t n)
{
    struct strbuf *l = &s->line[1];

    while (n > 0 && !s->not_smtp && !s->tls) {
        const unsigned char *lf = memchr(p, '\n', n);
        size_t k = lf ? (size_t)(lf - p) + 1 : n;
        strbuf_append(l, p, k);
        p += k;
        n -= k;
        if (!s->server_seen && l->len >= 3 &&
            !(str_isdigit((unsigned char)l->buf[0]) &&
              str_isdigit((unsigned char)l->buf[1]) &&
              str_isdigit((unsigned char)l->buf[2]))) {
            s->not_smtp = 1;
            return;
        }
        if (lf == NULL && l->len < IMPORT_MAX_LINE)
            continue;
        size_t len = l->len;
        if (len > 0 && l->buf[len - 1] == '\n')
            len--;
        if (len > 0 && l->buf[len - 1] == '\r')
            len--;
        s->server_seen = 1;
        import_server_line(im, s, l->buf, len);
        strbuf_reset(l);
    }
    if (s->tls)
        s->bytes[1] += n;
}

/* ---- sessions in the order they began ---- */

/* The client's address as a [session from] (DESIGN.md: a document's
 * 192.168.2.253 is 127.168.2.253 in the lab); a note if it was changed. */
static void import_from(struct import_session *s,
                        const struct tcpreasm_endpoint *c)
{
    static const unsigned char v6lo[16] = {[15] = 1};

    if (c->family == AF_INET) {
        snprintf(s->from, sizeof(s->from), " from 127.%u.%u.%u", c->addr[1],
                 c->addr[2], c->addr[3]);
        if (c->addr[0] != 127)
            import_put(s, "# the client was %u.%u.%u.%u, in the lab %s\n",
                       c->addr[0], c->addr[1], c->addr[2], c->addr[3],
                       s->from + 6);
    } else if (memcmp(c->addr, v6lo, 16) == 0) {
        snprintf(s->from, sizeof(s->from), " from ::1");
    } else {
        char ip[INET6_ADDRSTRLEN];
        import_endpoint_str(c, ip, sizeof(ip), 0);
        import_put(s, "# the client was %s (the lab sends from loopback)\n",
                   ip);
    }
}

static struct import_session *import_open(struct import *im,
                                          struct tcpreasm_flow *f)
{
    struct import_session *s;
    char cli[80], srv[80], when[40];
    struct tm tm;
    time_t t = f->start.tv_sec;

    if (im->o->has_server) {
        struct netaddr na;
        import_endpoint_str(&f->server, srv, sizeof(srv), 1);
        if (netaddr_parse(srv, 0, &na) < 0 ||
            !netaddr_equal(&na, &im->o->server))
            return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->flow = f;
    strbuf_init(&s->text);
    strbuf_init(&s->line[0]);
    strbuf_init(&s->line[1]);
    import_endpoint_str(&f->client, cli, sizeof(cli), 1);
    import_endpoint_str(&f->server, srv, sizeof(srv), 1);
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(s->conn, sizeof(s->conn), "%s > %s at %s.%06ldZ", cli, srv, when,
             (long)f->start.tv_usec);
    import_from(s, &f->client);
    *im->tail = s;
    im->tail = &s->next;
    return s;
}

/* A session that ended: what is left of its lines, and notes. */
static void import_end(struct import_session *s)
{
    if (!s->cut && !s->tls && s->line[0].len > 0)
        import_put_raw(s, (unsigned char *)s->line[0].buf, s->line[0].len);
    if (!s->cut && !s->tls && s->line[1].len > 0)
        import_put(s, "# the server's last %zu bytes had no line end\n",
                   s->line[1].len);
    if (s->tls)
        import_put(s,
                   "# TLS from here (STARTTLS, RFC 3207): %llu bytes from "
                   "the client and %llu from the server, encrypted, are "
                   "not shown\n",
                   s->bytes[0], s->bytes[1]);
    else if (s->reset)
        import_put(s, "# the connection was reset (RST)\n");
    else if (!s->cut && s->closed[1] && !s->quit)
        import_put(s, "S= closed\n");
    if (!s->reset && !s->gap[0] && !s->gap[1] &&
        !(s->closed[0] && s->closed[1]))
        import_put(s, "# the capture ends here, before the session did\n");
    s->ended = 1;
    s->flow = NULL;
}

static void import_session_free(struct import_session *s)
{
    strbuf_clear(&s->text);
    strbuf_clear(&s->line[0]);
    strbuf_clear(&s->line[1]);
    free(s);
}

/* Write the sessions at the head that ended. */
static void import_flush(struct import *im)
{
    while (im->head != NULL && im->head->ended) {
        struct import_session *s = im->head;
        im->head = s->next;
        if (im->head == NULL)
            im->tail = &im->head;
        if (s->not_smtp || !s->server_seen) {
            fprintf(im->out, "# %s: %s, left out\n\n", s->conn,
                    s->not_smtp ? "not SMTP in clear text (TLS from the "
                                  "first byte, or another protocol)"
                                : "no reply from the server");
            im->skipped++;
        } else {
            fprintf(im->out, "# %s\n[session%s]\n%s\n", s->conn, s->from,
                    s->text.buf ? s->text.buf : "");
            im->sessions++;
        }
        import_session_free(s);
    }
}

static void import_event(void *arg, struct tcpreasm_flow *f, int dir,
                         enum tcpreasm_event ev, const unsigned char *data,
                         size_t len)
{
    struct import *im = arg;
    struct import_session *s = f->user;

    if (ev == TCPREASM_OPEN) {
        f->user = import_open(im, f);
        return;
    }
    if (s == NULL)
        return;
    switch (ev) {
    case TCPREASM_DATA:
        if (s->tls || s->not_smtp || s->cut)
            s->bytes[dir] += len;
        else if (dir == 0)
            import_client_bytes(s, data, len);
        else
            import_server_bytes(im, s, data, len);
        break;
    case TCPREASM_CLOSE:
        s->closed[dir] = 1;
        break;
    case TCPREASM_GAP:
        import_put(s,
                   "# bytes from the %s are missing from the capture here "
                   "(packets the capture lost): the session stops\n",
                   dir == 0 ? "client" : "server");
        s->gap[dir] = 1;
        s->cut = 1;
        break;
    case TCPREASM_END:
        s->reset = f->reset;
        import_end(s);
        import_flush(im);
        break;
    default:
        break;
    }
}

/* ---- packets: one bounded reader ---- */

struct import_rd {
    const unsigned char *p;
    size_t len, off;
    int bad; /* a read went past the end */
};

static const unsigned char *import_take(struct import_rd *rd, size_t n)
{
    const unsigned char *at = rd->p + rd->off;

    if (rd->bad || n > rd->len - rd->off) {
        rd->bad = 1;
        return NULL;
    }
    rd->off += n;
    return at;
}

static unsigned import_u8(struct import_rd *rd)
{
    const unsigned char *b = import_take(rd, 1);
    return b ? b[0] : 0;
}

static unsigned import_u16(struct import_rd *rd)
{
    const unsigned char *b = import_take(rd, 2);
    return b ? (unsigned)b[0] << 8 | b[1] : 0;
}

static uint32_t import_u32(struct import_rd *rd)
{
    const unsigned char *b = import_take(rd, 4);
    return b ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                   (uint32_t)b[2] << 8 | b[3]
             : 0;
}

/* The link header: the ethertype of what follows (0x0800 IPv4, 0x86dd
 * IPv6), or 0 if it is something else. */
static unsigned import_link(int dlt, struct import_rd *rd)
{
    unsigned type = 0, fam;

    switch (dlt) {
    case DLT_EN10MB:
        import_take(rd, 12);
        type = import_u16(rd);
        while (type == 0x8100 || type == 0x88a8) { /* VLAN tags */
            import_take(rd, 2);
            type = import_u16(rd);
        }
        return type;
    case DLT_LINUX_SLL: /* tcpdump -i any */
        import_take(rd, 14);
        return import_u16(rd);
    case DLT_LINUX_SLL2:
        type = import_u16(rd);
        import_take(rd, 18);
        return type;
    case DLT_NULL:
    case DLT_LOOP: /* a 4-byte address family, in either byte order */
        fam = (unsigned)import_u32(rd);
        if (fam == 2 || fam == 0x02000000u)
            return 0x0800;
        return fam == 24 || fam == 28 || fam == 30 || fam == 0x18000000u ||
                       fam == 0x1c000000u || fam == 0x1e000000u
                   ? 0x86dd
                   : 0;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
        if (rd->len == 0)
            return 0;
        return rd->p[0] >> 4 == 4 ? 0x0800 : rd->p[0] >> 4 == 6 ? 0x86dd : 0;
    default:
        return 0;
    }
}

/* The IP header: addresses into seg, *end the end of the IP payload. 1
 * for TCP, 0 for anything else, -1 for a fragment. */
static int import_ip(unsigned type, struct import_rd *rd,
                     struct tcpreasm_segment *seg, size_t *end)
{
    size_t start = rd->off, total;
    const unsigned char *a;

    if (type == 0x0800) {
        unsigned vhl = import_u8(rd), frag, proto;
        import_u8(rd);
        total = import_u16(rd);
        import_u16(rd);
        frag = import_u16(rd);
        import_u8(rd);
        proto = import_u8(rd);
        import_u16(rd);
        seg->src.family = seg->dst.family = AF_INET;
        if ((a = import_take(rd, 4)) != NULL)
            memcpy(seg->src.addr, a, 4);
        if ((a = import_take(rd, 4)) != NULL)
            memcpy(seg->dst.addr, a, 4);
        if (rd->bad || vhl >> 4 != 4 || (vhl & 15) < 5 ||
            total < (vhl & 15) * 4u)
            return 0;
        if (frag & 0x3fff) /* MF or an offset: RFC 791 */
            return -1;
        import_take(rd, (vhl & 15) * 4u - 20);
        *end = start + total;
        return proto == 6 && !rd->bad;
    }
    if (type == 0x86dd) {
        import_take(rd, 4);
        total = import_u16(rd);
        unsigned next = import_u8(rd);
        import_u8(rd);
        seg->src.family = seg->dst.family = AF_INET6;
        if ((a = import_take(rd, 16)) != NULL)
            memcpy(seg->src.addr, a, 16);
        if ((a = import_take(rd, 16)) != NULL)
            memcpy(seg->dst.addr, a, 16);
        *end = rd->off + total;
        return next == 6 && !rd->bad; /* no extension headers followed */
    }
    return 0;
}

/* One captured packet into the reassembler. */
static void import_packet(struct import *im, struct tcpreasm *r, int dlt,
                          const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct import_rd rd = {bytes, h->caplen, 0, 0};
    struct tcpreasm_segment seg;
    size_t end = 0, doff;
    unsigned type = import_link(dlt, &rd);
    int ip;

    memset(&seg, 0, sizeof(seg));
    if (rd.bad || type == 0 || (ip = import_ip(type, &rd, &seg, &end)) == 0)
        return;
    if (ip < 0) {
        im->fragments++;
        return;
    }
    seg.src.port = (uint16_t)import_u16(&rd);
    seg.dst.port = (uint16_t)import_u16(&rd);
    seg.seq = import_u32(&rd);
    import_u32(&rd); /* ack */
    doff = (import_u8(&rd) >> 4) * 4u;
    seg.flags = (uint8_t)import_u8(&rd);
    import_take(&rd, 6); /* window, checksum, urgent pointer */
    if (rd.bad || doff < 20 || end < rd.off - 20 + doff)
        return;
    import_take(&rd, doff - 20); /* options */
    if (rd.bad)
        return;
    if (end > h->caplen) {
        im->truncated++; /* cut by the snaplen: its bytes are missing */
        return;
    }
    seg.data = bytes + rd.off;
    seg.len = end - rd.off;
    seg.ts = h->ts;
    tcpreasm_segment(r, &seg);
}

/* ---- the capture, the scenario ---- */

static int import_linktype_ok(int dlt)
{
    static const int ok[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2,
                             DLT_NULL,   DLT_LOOP,      DLT_RAW,
#ifdef DLT_IPV4
                             DLT_IPV4,   DLT_IPV6
#endif
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ok[i] == dlt)
            return 1;
    return 0;
}

static void import_header(const struct import_opts *o, FILE *out)
{
    char srv[80] = "";

    if (o->has_server)
        netaddr_str(&o->server, srv, sizeof(srv));
    fprintf(out,
            "# Imported by \"mxlab import\" from %s%s%s.\n"
            "# C: lines are what the client sent, S: lines what the server\n"
            "# answered (queue ids captured as {qidN}). To replay it, add\n"
            "# the server's [main.cf], [zone] and [mx] blocks, or run it\n"
            "# with --sut smtp://HOST:PORT against a server like it.\n\n"
            "[scenario]\nname = %s\n\n",
            o->source, o->has_server ? ", sessions to " : "", srv, o->name);
}

int import_capture(FILE *in, FILE *out, const struct import_opts *o, char *err,
                   size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_fopen_offline(in, ebuf);
    struct import im;
    struct tcpreasm *r;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    int dlt, rc;

    if (p == NULL) {
        snprintf(err, errlen, "%s: not a capture file: %s", o->source, ebuf);
        fclose(in);
        return -1;
    }
    dlt = pcap_datalink(p);
    if (!import_linktype_ok(dlt)) {
        snprintf(err, errlen,
                 "%s: link type %s not supported (Ethernet, Linux cooked, "
                 "loopback and raw IP are)",
                 o->source, pcap_datalink_val_to_name(dlt));
        pcap_close(p);
        return -1;
    }
    memset(&im, 0, sizeof(im));
    im.o = o;
    im.out = out;
    im.tail = &im.head;
    r = tcpreasm_new(import_event, &im);
    import_header(o, out);
    while ((rc = pcap_next_ex(p, &h, &bytes)) == 1)
        import_packet(&im, r, dlt, h, bytes);
    tcpreasm_finish(r);
    import_flush(&im);
    fprintf(out, "# %lu session%s", im.sessions, im.sessions == 1 ? "" : "s");
    if (im.skipped)
        fprintf(out, ", %lu connections left out", im.skipped);
    if (tcpreasm_unopened(r))
        fprintf(out,
                "; %lu data segments of connections begun before the capture "
                "(left out)",
                tcpreasm_unopened(r));
    if (tcpreasm_refused(r))
        fprintf(out, "; %lu connections past %d at once not followed",
                tcpreasm_refused(r), TCPREASM_MAX_LIVE);
    if (im.truncated)
        fprintf(out, "; %lu packets cut by the snaplen (tcpdump -s 0)",
                im.truncated);
    if (im.fragments)
        fprintf(out, "; %lu IP fragments not reassembled", im.fragments);
    fprintf(out, "\n");
    tcpreasm_free(r);
    if (im.sessions == 0) {
        /* a scenario without a step would not parse: nothing to test */
        snprintf(err, errlen, "%s: no SMTP session to import", o->source);
        pcap_close(p);
        return -1;
    }
    if (rc == PCAP_ERROR) {
        snprintf(err, errlen, "%s: %s (what came before is imported)",
                 o->source, pcap_geterr(p));
        fprintf(out, "# %s\n", err);
    }
    pcap_close(p);
    return rc == PCAP_ERROR ? 1 : 0;
}

/* ---- mxlab import ---- */

static void import_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab import [--server IP:PORT] [-o FILE] CAPTURE\n"
            "\n"
            "Turn the SMTP sessions of a packet capture (pcap or pcapng, as\n"
            "\"tcpdump -s 0 -w FILE port 25\" writes on a relay, or\n"
            "\"mxlab run --pcap\" in the lab) into a scenario's [session]\n"
            "blocks: C: lines as the client sent them, S: lines as the\n"
            "server answered, queue ids captured as {qidN}. TCP is\n"
            "reassembled (retransmissions, segments out of order); a\n"
            "session under STARTTLS is kept up to the server's 220, then\n"
            "a note. Client addresses become loopback ones (192.168.2.253\n"
            "is written 127.168.2.253).\n"
            "\n"
            "  --server IP:PORT  only the sessions to this server ([v6]:PORT)\n"
            "  -o FILE           write the scenario to FILE (default: stdout)\n"
            "  -h, --help        this text\n"
            "\n"
            "Exits 0; 1 if the capture cannot be read or holds no SMTP\n"
            "session, or was cut short (what came before it is written);\n"
            "2 on a usage error.\n");
}

/* The scenario's name: the capture's file name without .pcap/.pcapng,
 * letters, digits, '-', '_' and '.' kept. Caller frees. */
static char *import_name(const char *path)
{
    const char *base = strrchr(path, '/');
    char *name = xstrdup(base ? base + 1 : path), *dot = strrchr(name, '.');

    if (dot != NULL && dot != name &&
        (strcmp(dot, ".pcap") == 0 || strcmp(dot, ".pcapng") == 0))
        *dot = '\0';
    for (char *q = name; *q; q++)
        if (!str_isalnum((unsigned char)*q) && *q != '-' && *q != '_' &&
            *q != '.')
            *q = '-';
    return name;
}

/* Write to -o FILE through a temporary file renamed at the end, so a
 * failed import leaves no half scenario. */
static int import_run(const char *capture, const char *outpath,
                      struct import_opts *o)
{
    char err[1024], *tmp = NULL, *name = import_name(capture);
    FILE *in = fopen(capture, "rb"), *out = stdout;
    int rc;

    o->name = name;
    o->source = capture;
    if (in == NULL) {
        fprintf(stderr, "mxlab import: %s: %s\n", capture, strerror(errno));
        free(name);
        return 1;
    }
    if (outpath != NULL) {
        tmp = xasprintf("%s.tmp", outpath);
        if ((out = fopen(tmp, "w")) == NULL) {
            fprintf(stderr, "mxlab import: %s: %s\n", tmp, strerror(errno));
            fclose(in);
            free(tmp);
            free(name);
            return 1;
        }
    }
    rc = import_capture(in, out, o, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "mxlab import: %s\n", err);
    if (outpath != NULL) {
        if (fclose(out) != 0 && rc == 0) {
            fprintf(stderr, "mxlab import: %s: %s\n", tmp, strerror(errno));
            rc = -1;
        }
        if (rc < 0 || rename(tmp, outpath) < 0)
            unlink(tmp);
        free(tmp);
    }
    free(name);
    return rc != 0;
}

int import_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct import_opts o;
    const char *outpath = NULL;
    int opt;

    memset(&o, 0, sizeof(o));
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (netaddr_parse(optarg, 0, &o.server) < 0 ||
                netaddr_port(&o.server) <= 0) {
                fprintf(stderr,
                        "mxlab import: --server %s: IP:PORT expected "
                        "(127.0.0.1:25, [::1]:25)\n",
                        optarg);
                return 2;
            }
            o.has_server = 1;
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'h':
            import_usage(stdout);
            return 0;
        default:
            return run_option_error("mxlab import", opt, argv, import_usage);
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "mxlab import: one CAPTURE file expected\n");
        import_usage(stderr);
        return 2;
    }
    return import_run(argv[optind], outpath, &o);
}
