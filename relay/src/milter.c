/*
 * milter.c — Sendmail milter protocol client (libmilter's wire format as
 * Postfix's milter8.c speaks it; MILTER_README). Each milter of
 * smtpd_milters gets the whole conversation for one message at the end
 * of DATA: OPTNEG, CONNECT, HELO, MAIL, RCPT, DATA, HEADER, EOH, BODY,
 * BODYEOB with the milter_*_macros, then QUIT. Replies and the
 * end-of-message header modifications are applied here; the I/O is
 * blocking on one socket with poll() timeouts (milter_*_timeout).
 */
#include "milter.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"

/* ---- Packets ---- */

void milter_put(struct strbuf *out, int cmd, const void *data, size_t len)
{
    uint32_t n = (uint32_t)len + 1;
    unsigned char hdr[5] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n,
                            (unsigned char)cmd};

    strbuf_append(out, hdr, sizeof(hdr));
    if (len > 0)
        strbuf_append(out, data, len);
}

uint32_t milter_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

long milter_get(const unsigned char *buf, size_t len, int *cmd,
                const unsigned char **data, size_t *dlen)
{
    uint32_t n;

    if (len < 4)
        return 0;
    n = milter_u32(buf);
    if (n == 0 || n > MILTER_MAX_DATA + 1)
        return -1;
    if (len - 4 < n)
        return 0;
    *cmd = buf[4];
    *data = buf + 5;
    *dlen = n - 1;
    return (long)n + 4;
}

/* ---- The message ---- */

/* RFC 5322 section 2.2: a field name is printable ASCII but ':'. */
static size_t milter_field_name(const char *p, size_t len)
{
    size_t i = 0;

    while (i < len && p[i] > 32 && p[i] < 127 && p[i] != ':')
        i++;
    return (i > 0 && i < len && p[i] == ':') ? i : 0;
}

void milter_msg_parse(struct milter_msg *m, const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    strlist_init(&m->names);
    strlist_init(&m->values);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        size_t content = l, name;
        while (content > 0 &&
               (p[content - 1] == '\n' || p[content - 1] == '\r'))
            content--;
        if (content == 0) {
            p += l; /* the empty line that ends the header block */
            break;
        }
        if ((p[0] == ' ' || p[0] == '\t') && m->values.n > 0) {
            char **v = &m->values.v[m->values.n - 1];
            char *joined = xasprintf("%s\r\n%.*s", *v, (int)content, p);
            free(*v);
            *v = joined;
            p += l;
            continue;
        }
        if ((name = milter_field_name(p, content)) == 0)
            break;
        char *n = xasprintf("%.*s", (int)name, p);
        char *v = xasprintf("%.*s", (int)(content - name - 1), p + name + 1);
        strlist_push(&m->names, n);
        strlist_push(&m->values, v);
        free(n);
        free(v);
        p += l;
    }
    m->body = p;
    m->body_len = (size_t)(end - p);
}

void milter_msg_clear(struct milter_msg *m)
{
    strlist_clear(&m->names);
    strlist_clear(&m->values);
}

void milter_msg_write(const struct milter_msg *m, struct strbuf *out)
{
    for (size_t i = 0; i < m->names.n; i++)
        strbuf_printf(out, "%s:%s\r\n", m->names.v[i], m->values.v[i]);
    strbuf_puts(out, "\r\n");
    strbuf_append(out, m->body, m->body_len);
}

/* name\0value\0 at data: 0 with pointers into data, or -1. */
static int milter_name_value(const unsigned char *data, size_t len,
                             const char **name, const char **value)
{
    const unsigned char *z1 = memchr(data, '\0', len), *z2;

    if (z1 == NULL || z1 == data)
        return -1;
    z2 = memchr(z1 + 1, '\0', len - (size_t)(z1 + 1 - data));
    if (z2 == NULL)
        return -1;
    *name = (const char *)data;
    *value = (const char *)z1 + 1;
    return 0;
}

/* A milter's value as stored: LF line ends become CRLF (its folds come
 * as "\n\t"), one space first unless the milter writes its own. */
static char *milter_stored_value(const char *value, int leadspc)
{
    struct strbuf sb;

    strbuf_init(&sb);
    if (!leadspc)
        strbuf_putc(&sb, ' ');
    for (const char *p = value; *p; p++) {
        if (*p == '\n' && (p == value || p[-1] != '\r'))
            strbuf_putc(&sb, '\r');
        strbuf_putc(&sb, *p);
    }
    return strbuf_detach(&sb);
}

/* Insert (name, value) before field number at (0 = first); value is
 * taken over. */
static void milter_msg_insert(struct milter_msg *m, size_t at, const char *name,
                              char *value)
{
    char *n, *v;

    strlist_push(&m->names, name);
    strlist_push(&m->values, value);
    free(value);
    n = m->names.v[m->names.n - 1];
    v = m->values.v[m->values.n - 1];
    if (at > m->names.n - 1)
        at = m->names.n - 1;
    for (size_t i = m->names.n - 1; i > at; i--) {
        m->names.v[i] = m->names.v[i - 1];
        m->values.v[i] = m->values.v[i - 1];
    }
    m->names.v[at] = n;
    m->values.v[at] = v;
}

/* CHGHEADER: the index-th field (1-based) of that name gets value; an
 * empty value deletes it; none such adds it (libmilter's smfi_chgheader). */
static void milter_msg_change(struct milter_msg *m, uint32_t index,
                              const char *name, const char *value, int leadspc)
{
    uint32_t seen = 0;

    for (size_t i = 0; i < m->names.n; i++) {
        if (str_casecmp(m->names.v[i], name) != 0 || ++seen != index)
            continue;
        free(m->values.v[i]);
        if (*value != '\0') {
            m->values.v[i] = milter_stored_value(value, leadspc);
            return;
        }
        free(m->names.v[i]);
        for (size_t k = i; k + 1 < m->names.n; k++) {
            m->names.v[k] = m->names.v[k + 1];
            m->values.v[k] = m->values.v[k + 1];
        }
        m->names.n--;
        m->values.n--;
        return;
    }
    if (*value != '\0')
        milter_msg_insert(m, m->names.n, name,
                          milter_stored_value(value, leadspc));
}

int milter_msg_modify(struct milter_msg *m, int cmd, const unsigned char *data,
                      size_t len, int leadspc)
{
    const char *name, *value;
    uint32_t index = 0;

    if (cmd == MILTER_R_INSHEADER || cmd == MILTER_R_CHGHEADER) {
        if (len < 4)
            return -1;
        index = milter_u32(data);
        data += 4;
        len -= 4;
    }
    if (milter_name_value(data, len, &name, &value) < 0)
        return -1;
    if (cmd == MILTER_R_ADDHEADER)
        milter_msg_insert(m, m->names.n, name,
                          milter_stored_value(value, leadspc));
    else if (cmd == MILTER_R_INSHEADER)
        milter_msg_insert(m, index, name, milter_stored_value(value, leadspc));
    else if (cmd == MILTER_R_CHGHEADER)
        milter_msg_change(m, index, name, value, leadspc);
    else
        return -1;
    return 0;
}

/* ---- The conversation ---- */

struct milter_conn {
    int fd;
    uint32_t proto; /* the protocol flags the milter asked for */
    const struct milter_conf *conf;
    struct strbuf in;    /* bytes read, not yet a whole packet */
    int cmd;             /* the last reply */
    unsigned char *data; /* its data (a copy; NUL-terminated) */
    size_t dlen;
    const char *rcpt; /* the RCPT stage's, for {rcpt_addr} */
};

/* Connect to "inet:host:port" or "unix:path" within the timeout. */
static int milter_connect(const char *spec, long timeout)
{
    struct netaddr na;
    struct sockaddr_un sun;
    int fd, err = 0;
    socklen_t elen = sizeof(err);
    struct pollfd pfd;

    if (strncmp(spec, "unix:", 5) == 0) {
        if (strlen(spec + 5) >= sizeof(sun.sun_path))
            return -1;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, spec + 5);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    if (strncmp(spec, "inet:", 5) == 0)
        spec += 5;
    if (netaddr_parse(spec, -1, &na) < 0 || netaddr_port(&na) <= 0 ||
        (fd = netaddr_connect_tcp(&na, NULL)) < 0)
        return -1;
    pfd.fd = fd;
    pfd.events = POLLOUT;
    if (poll(&pfd, 1, (int)(timeout * 1000)) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int milter_send(struct milter_conn *c, const struct strbuf *out)
{
    size_t off = 0;

    while (off < out->len) {
        struct pollfd pfd = {c->fd, POLLOUT, 0};
        ssize_t n;
        if (poll(&pfd, 1, (int)(c->conf->command_timeout * 1000)) != 1)
            return -1;
        n = send(c->fd, out->buf + off, out->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        off += n > 0 ? (size_t)n : 0;
    }
    return 0;
}

/* The next reply packet into c->cmd/data (PROGRESS packets skipped);
 * 0, or -1 on timeout, EOF or a malformed packet. */
static int milter_recv(struct milter_conn *c, long timeout)
{
    for (;;) {
        const unsigned char *data;
        size_t dlen;
        long n = milter_get((const unsigned char *)c->in.buf, c->in.len,
                            &c->cmd, &data, &dlen);
        if (n < 0)
            return -1;
        if (n > 0) {
            free(c->data);
            c->data = xmalloc(dlen + 1);
            memcpy(c->data, data, dlen);
            c->data[dlen] = '\0';
            c->dlen = dlen;
            memmove(c->in.buf, c->in.buf + n, c->in.len - (size_t)n);
            c->in.len -= (size_t)n;
            if (c->cmd == MILTER_R_PROGRESS)
                continue;
            return 0;
        }
        char buf[8192];
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(timeout * 1000)) != 1)
            return -1;
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r <= 0)
            return -1;
        strbuf_append(&c->in, buf, (size_t)r);
    }
}

char *milter_macro(const struct milter_info *info, const char *name,
                   const char *rcpt)
{
    const struct {
        const char *name, *value;
    } simple[] = {
        {"j", info->myhostname},
        {"{daemon_name}", info->daemon_name},
        {"{daemon_addr}", info->daemon_addr},
        {"v", info->version},
        {"i", info->queue_id},
        {"{auth_type}", info->auth_type},
        {"{auth_authen}", info->auth_authen},
        {"{mail_addr}", info->sender},
        {"{rcpt_addr}", rcpt},
    };

    /* "_": the client as sendmail writes it, "name [address]". */
    if (strcmp(name, "_") == 0)
        return xasprintf("%s [%s]", info->client_name, info->client_addr);
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (strcmp(simple[i].name, name) == 0)
            return simple[i].value ? xstrdup(simple[i].value) : NULL;
    return NULL;
}

/* SMFIC_MACRO for one stage: name\0value\0 of each defined macro. */
static void milter_macros(struct strbuf *out, int stage, const char *names,
                          const struct milter_info *info, const char *rcpt)
{
    struct strlist l;
    struct strbuf d;

    strlist_init(&l);
    strbuf_init(&d);
    strlist_split(&l, names ? names : "");
    strbuf_putc(&d, (char)stage);
    for (size_t i = 0; i < l.n; i++) {
        char *v = milter_macro(info, l.v[i], rcpt);
        if (v == NULL)
            continue;
        strbuf_append(&d, l.v[i], strlen(l.v[i]) + 1);
        strbuf_append(&d, v, strlen(v) + 1);
        free(v);
    }
    if (d.len > 1)
        milter_put(out, MILTER_C_MACRO, d.buf, d.len);
    strlist_clear(&l);
    strbuf_clear(&d);
}

/* One step: macros, the command, its reply unless the milter said it
 * wants none (nr) or none of this command (skip). 1 when the reply is
 * CONTINUE (or none), 0 when it ends the conversation (c->cmd), -1 on
 * an I/O error. */
static int milter_step(struct milter_conn *c, const struct milter_info *info,
                       int cmd, int macro_stage, const void *data, size_t len,
                       uint32_t skip, uint32_t nr, long timeout)
{
    struct strbuf out;
    int rc;

    if (c->proto & skip)
        return 1;
    strbuf_init(&out);
    if (macro_stage >= 0)
        milter_macros(&out, cmd, c->conf->macros[macro_stage], info, c->rcpt);
    milter_put(&out, cmd, data, len);
    rc = milter_send(c, &out);
    strbuf_clear(&out);
    if (rc < 0)
        return -1;
    if (c->proto & nr)
        return 1;
    if (milter_recv(c, timeout) < 0)
        return -1;
    return c->cmd == MILTER_R_CONTINUE ? 1 : 0;
}

/* SMFIC_OPTNEG: our version, every action and protocol flag Postfix
 * offers; the milter answers with the ones it wants. */
static int milter_optneg(struct milter_conn *c)
{
    uint32_t v[3] = {htonl((uint32_t)c->conf->protocol), htonl(0x1ffu),
                     htonl(0x1fffffu & ~MILTER_P_RCPT_REJ)};
    struct strbuf out;
    int rc;

    strbuf_init(&out);
    milter_put(&out, MILTER_C_OPTNEG, v, sizeof(v));
    rc = milter_send(c, &out);
    strbuf_clear(&out);
    if (rc < 0 || milter_recv(c, c->conf->command_timeout) < 0 ||
        c->cmd != MILTER_C_OPTNEG || c->dlen < 12)
        return -1;
    c->proto = milter_u32(c->data + 8);
    return 0;
}

/* CONNECT's data: hostname\0, family, port (network order), address\0. */
static void milter_connect_data(struct strbuf *d, const struct milter_info *i)
{
    unsigned char port[2] = {(unsigned char)(i->client_port >> 8),
                             (unsigned char)i->client_port};

    strbuf_append(d, i->client_name, strlen(i->client_name) + 1);
    strbuf_putc(d, i->client_family == AF_INET6 ? '6' : '4');
    strbuf_append(d, port, 2);
    strbuf_append(d, i->client_addr, strlen(i->client_addr) + 1);
}

/* The envelope: CONNECT, HELO, MAIL, RCPT..., DATA. */
static int milter_envelope(struct milter_conn *c, const struct milter_info *i)
{
    struct strbuf d;
    long t = c->conf->command_timeout;
    int rc;

    strbuf_init(&d);
    milter_connect_data(&d, i);
    rc = milter_step(c, i, MILTER_C_CONNECT, 0, d.buf, d.len,
                     MILTER_P_NOCONNECT, MILTER_P_NR_CONN, t);
    if (rc == 1 && i->helo != NULL)
        rc = milter_step(c, i, MILTER_C_HELO, 1, i->helo, strlen(i->helo) + 1,
                         MILTER_P_NOHELO, MILTER_P_NR_HELO, t);
    strbuf_reset(&d);
    strbuf_printf(&d, "<%s>", i->sender);
    if (rc == 1)
        rc = milter_step(c, i, MILTER_C_MAIL, 2, d.buf, d.len + 1,
                         MILTER_P_NOMAIL, MILTER_P_NR_MAIL, t);
    for (size_t k = 0; rc == 1 && k < i->rcpts->n; k++) {
        strbuf_reset(&d);
        strbuf_printf(&d, "<%s>", i->rcpts->v[k]);
        c->rcpt = i->rcpts->v[k];
        rc = milter_step(c, i, MILTER_C_RCPT, 3, d.buf, d.len + 1,
                         MILTER_P_NORCPT, MILTER_P_NR_RCPT, t);
    }
    c->rcpt = NULL;
    if (rc == 1)
        rc = milter_step(c, i, MILTER_C_DATA, 4, NULL, 0, MILTER_P_NODATA,
                         MILTER_P_NR_DATA, t);
    strbuf_clear(&d);
    return rc;
}

/* A header's value as milters get it: CRLF folds as LF, leading white
 * space dropped unless SMFIP_HDR_LEADSPC. */
static void milter_header_data(struct strbuf *d, const char *name,
                               const char *value, int leadspc)
{
    strbuf_append(d, name, strlen(name) + 1);
    if (!leadspc)
        while (*value == ' ' || *value == '\t')
            value++;
    for (; *value; value++)
        if (!(value[0] == '\r' && value[1] == '\n'))
            strbuf_putc(d, *value);
    strbuf_putc(d, '\0');
}

/* HEADER..., EOH, BODY chunks, then BODYEOB (with its reply read by the
 * caller). */
static int milter_content(struct milter_conn *c, const struct milter_info *i,
                          const struct milter_msg *m)
{
    long t = c->conf->content_timeout;
    int leadspc = (c->proto & MILTER_P_HDR_LEADSPC) != 0, rc = 1;
    struct strbuf d;

    strbuf_init(&d);
    for (size_t k = 0; rc == 1 && k < m->names.n; k++) {
        strbuf_reset(&d);
        milter_header_data(&d, m->names.v[k], m->values.v[k], leadspc);
        rc = milter_step(c, i, MILTER_C_HEADER, -1, d.buf, d.len,
                         MILTER_P_NOHDRS, MILTER_P_NR_HDR, t);
    }
    strbuf_clear(&d);
    if (rc == 1)
        rc = milter_step(c, i, MILTER_C_EOH, 5, NULL, 0, MILTER_P_NOEOH,
                         MILTER_P_NR_EOH, t);
    for (size_t off = 0; rc == 1 && off < m->body_len; off += MILTER_CHUNK) {
        size_t n = m->body_len - off;
        rc = milter_step(c, i, MILTER_C_BODY, -1, m->body + off,
                         n > MILTER_CHUNK ? MILTER_CHUNK : n, MILTER_P_NOBODY,
                         MILTER_P_NR_BODY, t);
    }
    if (rc == 0 && c->cmd == MILTER_R_SKIP)
        rc = 1; /* no more body wanted */
    if (rc == 1)
        rc = milter_step(c, i, MILTER_C_BODYEOB, 6, NULL, 0, 0, 0, t);
    return rc;
}

/* After BODYEOB: modifications until the final reply. */
static int milter_eom(struct milter_conn *c, struct milter_msg *m)
{
    int leadspc = (c->proto & MILTER_P_HDR_LEADSPC) != 0;

    for (;;) {
        switch (c->cmd) {
        case MILTER_R_ADDHEADER:
        case MILTER_R_INSHEADER:
        case MILTER_R_CHGHEADER:
            if (milter_msg_modify(m, c->cmd, c->data, c->dlen, leadspc) < 0)
                return -1;
            break;
        case MILTER_R_QUARANTINE:
        case MILTER_R_ADDRCPT:
        case MILTER_R_DELRCPT:
        case MILTER_R_CHGFROM:
        case MILTER_R_REPLBODY:
            break; /* not applied (the relay has no hold queue) */
        default:
            return 0;
        }
        if (milter_recv(c, c->conf->content_timeout) < 0)
            return -1;
    }
}

/* The SMTP reply for a final milter reply; the verdict. */
static enum milter_verdict milter_final(const struct milter_conn *c,
                                        char *reply, size_t rlen)
{
    switch (c->cmd) {
    case MILTER_R_REJECT:
        snprintf(reply, rlen, "550 5.7.1 Command rejected");
        return MILTER_V_REJECT;
    case MILTER_R_TEMPFAIL:
        snprintf(reply, rlen,
                 "451 4.7.1 Service unavailable - try again later");
        return MILTER_V_TEMPFAIL;
    case MILTER_R_REPLYCODE:
        snprintf(reply, rlen, "%s", (const char *)c->data);
        return c->data[0] == '5' ? MILTER_V_REJECT : MILTER_V_TEMPFAIL;
    case MILTER_R_DISCARD:
        return MILTER_V_DISCARD;
    default:
        return MILTER_V_ACCEPT;
    }
}

/* One milter over the message; -1 if it could not be asked. */
static int milter_one(const char *spec, const struct milter_conf *conf,
                      const struct milter_info *info, struct milter_msg *m,
                      enum milter_verdict *v, char *reply, size_t rlen)
{
    struct milter_conn c = {.fd = -1, .conf = conf};
    int rc = -1;

    strbuf_init(&c.in);
    c.fd = milter_connect(spec, conf->connect_timeout);
    if (c.fd >= 0 && milter_optneg(&c) == 0 &&
        (rc = milter_envelope(&c, info)) == 1)
        rc = milter_content(&c, info, m);
    if (rc >= 0)
        rc = milter_eom(&c, m);
    if (rc == 0) {
        struct strbuf q;
        strbuf_init(&q);
        milter_put(&q, MILTER_C_QUIT, NULL, 0);
        (void)milter_send(&c, &q);
        strbuf_clear(&q);
        *v = milter_final(&c, reply, rlen);
    }
    if (c.fd >= 0)
        close(c.fd);
    strbuf_clear(&c.in);
    free(c.data);
    return rc < 0 ? -1 : 0;
}

/* milter_default_action for a milter that failed. */
static enum milter_verdict milter_default(const char *action, char *reply,
                                          size_t rlen)
{
    if (strcmp(action, "reject") == 0) {
        snprintf(reply, rlen, "550 5.7.1 Command rejected");
        return MILTER_V_REJECT;
    }
    if (strcmp(action, "tempfail") == 0) {
        snprintf(reply, rlen,
                 "451 4.7.1 Service unavailable - try again later");
        return MILTER_V_TEMPFAIL;
    }
    return MILTER_V_ACCEPT; /* accept, quarantine */
}

enum milter_verdict milter_run(const struct milter_conf *conf,
                               const struct milter_info *info,
                               struct strbuf *msg, char *reply, size_t rlen,
                               char *warn, size_t wlen)
{
    enum milter_verdict v = MILTER_V_ACCEPT;
    struct milter_msg m;
    struct strlist list;
    char *copy = xmalloc(msg->len + 1);

    memcpy(copy, msg->buf, msg->len);
    copy[msg->len] = '\0';
    milter_msg_parse(&m, copy, msg->len);
    strlist_init(&list);
    strlist_split(&list, conf->milters);
    warn[0] = '\0';
    for (size_t i = 0; i < list.n && v == MILTER_V_ACCEPT; i++) {
        if (milter_one(list.v[i], conf, info, &m, &v, reply, rlen) == 0)
            continue;
        snprintf(warn, wlen, "milter %s: can't read or write reply packet",
                 list.v[i]);
        v = milter_default(conf->default_action, reply, rlen);
    }
    if (v == MILTER_V_ACCEPT) {
        strbuf_reset(msg);
        milter_msg_write(&m, msg);
    }
    milter_msg_clear(&m);
    strlist_clear(&list);
    free(copy);
    return v;
}
