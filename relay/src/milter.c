/*
 * milter.c — Sendmail milter protocol client (libmilter's wire format as
 * Postfix's milter8.c speaks it; MILTER_README). Each milter of
 * smtpd_milters has one connection for the whole SMTP session: OPTNEG
 * and CONNECT when the client connects, then HELO, MAIL, RCPT, DATA as
 * the commands come, HEADER, EOH, BODY, BODYEOB at the end of the
 * message, ABORT after each transaction, QUIT at the end. The I/O is
 * asynchronous (bufferevents on the relay's loop), each wait bounded by
 * milter_connect_timeout, _command_timeout or _content_timeout.
 * Ownership: a milter_session owns its connections and the event in
 * progress; the caller's strings are copied when an event starts.
 */
#include "milter.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* ---- Macros ---- */

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

/* ---- The conversation ---- */

/* A milter's state in the session, as Postfix's MILTER8_STAT_*. */
enum milter_state {
    MILTER_S_NEW,        /* not connected yet */
    MILTER_S_ERROR,      /* failed: def_reply (the default action) */
    MILTER_S_ENVELOPE,   /* talking */
    MILTER_S_ACCEPT_CON, /* accepted the session: asked no more */
    MILTER_S_ACCEPT_MSG, /* accepted the message: asked no more until ABORT */
    MILTER_S_REJECT_CON, /* refused the session: def_reply answers */
};

/* What the current milter is to be sent next in the event. */
enum milter_phase {
    MILTER_PH_START,   /* nothing yet */
    MILTER_PH_CONNECT, /* the TCP or UNIX connection is being made */
    MILTER_PH_OPTNEG,  /* OPTNEG sent */
    MILTER_PH_CMD,     /* the envelope command */
    MILTER_PH_HEADER,  /* header number ms->hdr */
    MILTER_PH_EOH,
    MILTER_PH_BODY, /* the body from ms->body_off */
    MILTER_PH_EOB,
    MILTER_PH_EOM,  /* BODYEOB sent: modifications, then the decision */
    MILTER_PH_END,  /* the milter has nothing more to say */
    MILTER_PH_DONE, /* the event is decided */
};

struct milter_conn {
    struct milter_session *ms;
    const char *spec; /* into ms->specs */
    struct bufferevent *bev;
    enum milter_state state;
    uint32_t proto;  /* the protocol flags the milter asked for */
    char *def_reply; /* Postfix's persistent reply, NULL: none */
    int last_cmd;    /* the command whose reply is awaited */
};

struct milter_session {
    struct event_base *base;
    struct milter_conf conf;
    struct strlist specs;
    struct milter_conn *conns;
    size_t n;
    milter_done_fn *done;
    milter_warn_fn *warn;
    void *arg;
    struct event *done_ev;
    int discard; /* DISCARD before the message: the rest is skipped */
    int hold;    /* QUARANTINE at the end of the message */
    /* The event in progress: its command, the milter asked (cur), what
     * it is sent next, whether a reply (or the connection) is awaited. */
    int busy, cmd, waiting;
    size_t cur;
    enum milter_phase phase;
    struct strbuf pkt;      /* the envelope event's MACRO and command */
    struct strbuf eoh, eod; /* the message's MACRO packets */
    struct milter_msg msg;  /* the message, modified as milters ask */
    char *text;             /* what msg points into */
    size_t hdr, body_off;
    struct strbuf out; /* the message after the milters */
    enum milter_verdict verdict;
    char *reply;
};

static void milter_run(struct milter_session *ms);

static void milter_warn(struct milter_session *ms, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void milter_warn(struct milter_session *ms, const char *fmt, ...)
{
    char text[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ms->warn(ms->arg, text);
}

/* libmilter's names of the commands, for the warnings. */
static const char *milter_cmd_name(int cmd)
{
    static const struct {
        int cmd;
        const char *name;
    } names[] = {
        {MILTER_C_CONNECT, "SMFIC_CONNECT"}, {MILTER_C_HELO, "SMFIC_HELO"},
        {MILTER_C_MAIL, "SMFIC_MAIL"},       {MILTER_C_RCPT, "SMFIC_RCPT"},
        {MILTER_C_DATA, "SMFIC_DATA"},       {MILTER_C_HEADER, "SMFIC_HEADER"},
        {MILTER_C_EOH, "SMFIC_EOH"},         {MILTER_C_BODY, "SMFIC_BODY"},
        {MILTER_C_BODYEOB, "SMFIC_BODYEOB"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].cmd == cmd)
            return names[i].name;
    return "unknown";
}

/* The event's decision: resp in Postfix's form (an SMTP reply, "D",
 * "H", "S"); NULL: this milter lets it through, the next one is asked. */
static void milter_decide(struct milter_session *ms, const char *resp)
{
    if (resp == NULL) {
        ms->cur++;
        ms->phase = MILTER_PH_START;
        return;
    }
    ms->phase = MILTER_PH_DONE;
    free(ms->reply);
    ms->reply = NULL;
    if (resp[0] == 'D') {
        ms->verdict = MILTER_V_DISCARD;
    } else if (resp[0] == 'H') {
        ms->verdict = MILTER_V_HOLD;
    } else if (resp[0] == 'S' || strncmp(resp, "421", 3) == 0) {
        ms->verdict = MILTER_V_SHUTDOWN;
        ms->reply = xstrdup(resp[0] == 'S' ? "421 4.7.0 Server closing "
                                             "connection"
                                           : resp);
    } else {
        ms->verdict = resp[0] == '5' ? MILTER_V_REJECT : MILTER_V_TEMPFAIL;
        ms->reply = xstrdup(resp);
    }
    event_active(ms->done_ev, 0, 0);
}

static void milter_set_def(struct milter_conn *c, const char *reply)
{
    free(c->def_reply);
    c->def_reply = reply ? xstrdup(reply) : NULL;
}

/* Postfix's milter8_comm_error(): the connection is dropped and from now
 * on milter_default_action answers for this milter. */
static void milter_comm_error(struct milter_conn *c)
{
    const char *action = c->ms->conf.default_action;

    if (c->bev != NULL)
        bufferevent_free(c->bev);
    c->bev = NULL;
    c->state = MILTER_S_ERROR;
    if (strcmp(action, "accept") == 0)
        milter_set_def(c, NULL);
    else if (strcmp(action, "reject") == 0)
        milter_set_def(c, "550 5.5.0 Service unavailable");
    else if (strcmp(action, "tempfail") == 0)
        milter_set_def(c, "451 4.7.1 Service unavailable - try again later");
    else if (strcmp(action, "quarantine") == 0)
        milter_set_def(c, "H");
    else
        milter_set_def(c, "451 4.3.5 Server configuration problem - try "
                          "again later");
}

/* c failed while the event waited for it: its default decides. */
static void milter_failed(struct milter_conn *c)
{
    struct milter_session *ms = c->ms;
    int current =
        ms->busy && ms->phase != MILTER_PH_DONE && &ms->conns[ms->cur] == c;

    milter_comm_error(c);
    if (current) {
        ms->waiting = 0;
        milter_decide(ms, c->def_reply);
        milter_run(ms);
    }
}

/* Send out; with a reply awaited (wait), within timeout seconds. */
static void milter_write(struct milter_conn *c, const struct strbuf *out,
                         int cmd, int wait, long timeout)
{
    struct timeval tv = {timeout, 0};

    c->last_cmd = cmd;
    bufferevent_set_timeouts(c->bev, wait ? &tv : NULL, &tv);
    bufferevent_write(c->bev, out->buf, out->len);
    c->ms->waiting = wait;
}

/* One packet (macros first, if any) unless the milter asked not to get
 * this command (skip); its reply awaited unless it asked for none (nr). */
static void milter_send(struct milter_conn *c, const struct strbuf *pkt,
                        int cmd, uint32_t skip, uint32_t nr, long timeout)
{
    if ((c->proto & skip) != 0)
        return;
    milter_write(c, pkt, cmd, (c->proto & nr) == 0, timeout);
}

static void milter_on_read(struct bufferevent *bev, void *arg);
static void milter_on_event(struct bufferevent *bev, short what, void *arg);

/* Begin with milter c: what its state answers, or what it is sent (a
 * new milter is connected to first). */
static void milter_begin(struct milter_session *ms, struct milter_conn *c)
{
    struct netaddr na;
    struct timeval tv = {ms->conf.connect_timeout, 0};

    switch (c->state) {
    case MILTER_S_ERROR:
    case MILTER_S_REJECT_CON:
        milter_decide(ms, c->def_reply);
        return;
    case MILTER_S_ACCEPT_CON:
    case MILTER_S_ACCEPT_MSG:
        milter_decide(ms, NULL);
        return;
    case MILTER_S_ENVELOPE:
        ms->hdr = 0;
        ms->body_off = 0;
        ms->phase =
            ms->cmd == MILTER_C_BODYEOB ? MILTER_PH_HEADER : MILTER_PH_CMD;
        return;
    case MILTER_S_NEW:
        break;
    }
    if (netaddr_parse_endpoint(c->spec, &na) < 0) {
        milter_warn(ms,
                    "Milter service needs transport:endpoint instead "
                    "of \"%s\"",
                    c->spec);
    } else {
        c->bev = bufferevent_socket_new(ms->base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, milter_on_read, NULL, milter_on_event, c);
        bufferevent_set_timeouts(c->bev, NULL, &tv);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&na.ss,
                                       (int)na.len) == 0) {
            ms->phase = MILTER_PH_CONNECT;
            ms->waiting = 1;
            return;
        }
        milter_warn(ms, "connect to Milter service %s: %s", c->spec,
                    strerror(errno));
    }
    milter_comm_error(c);
    milter_decide(ms, c->def_reply);
}

/* SMFIC_OPTNEG: our version, every action and protocol flag Postfix
 * offers but RCPT_REJ; the milter answers with the ones it wants. */
static void milter_optneg(struct milter_conn *c)
{
    uint32_t v[3] = {htonl((uint32_t)c->ms->conf.protocol), htonl(0x1ffu),
                     htonl(0x1fffffu & ~MILTER_P_RCPT_REJ)};
    struct strbuf out;

    strbuf_init(&out);
    milter_put(&out, MILTER_C_OPTNEG, v, sizeof(v));
    c->ms->phase = MILTER_PH_OPTNEG;
    milter_write(c, &out, MILTER_C_OPTNEG, 1, c->ms->conf.command_timeout);
    strbuf_clear(&out);
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

/* The content, one packet a step: HEADER..., EOH, BODY chunks, BODYEOB
 * (whose reply, with the modifications before it, is always awaited). */
static void milter_content(struct milter_session *ms, struct milter_conn *c)
{
    long t = ms->conf.content_timeout;
    struct strbuf d, pkt;

    strbuf_init(&d);
    strbuf_init(&pkt);
    if (ms->phase == MILTER_PH_HEADER && ms->hdr < ms->msg.names.n) {
        milter_header_data(&d, ms->msg.names.v[ms->hdr],
                           ms->msg.values.v[ms->hdr],
                           (c->proto & MILTER_P_HDR_LEADSPC) != 0);
        ms->hdr++;
        milter_put(&pkt, MILTER_C_HEADER, d.buf, d.len);
        milter_send(c, &pkt, MILTER_C_HEADER, MILTER_P_NOHDRS, MILTER_P_NR_HDR,
                    t);
    } else if (ms->phase == MILTER_PH_HEADER) {
        ms->phase = MILTER_PH_EOH;
    } else if (ms->phase == MILTER_PH_EOH) {
        strbuf_append(&pkt, ms->eoh.buf, ms->eoh.len);
        milter_put(&pkt, MILTER_C_EOH, NULL, 0);
        ms->phase = MILTER_PH_BODY;
        milter_send(c, &pkt, MILTER_C_EOH, MILTER_P_NOEOH, MILTER_P_NR_EOH, t);
    } else if (ms->phase == MILTER_PH_BODY && ms->body_off < ms->msg.body_len) {
        size_t n = ms->msg.body_len - ms->body_off;
        n = n > MILTER_CHUNK ? MILTER_CHUNK : n;
        milter_put(&pkt, MILTER_C_BODY, ms->msg.body + ms->body_off, n);
        ms->body_off += n;
        milter_send(c, &pkt, MILTER_C_BODY, MILTER_P_NOBODY, MILTER_P_NR_BODY,
                    t);
    } else {
        strbuf_append(&pkt, ms->eod.buf, ms->eod.len);
        milter_put(&pkt, MILTER_C_BODYEOB, NULL, 0);
        ms->phase = MILTER_PH_EOM;
        milter_write(c, &pkt, MILTER_C_BODYEOB, 1, t);
    }
    strbuf_clear(&d);
    strbuf_clear(&pkt);
}

/* The envelope command's SMFIP_NO* and SMFIP_NR_* flags. */
static void milter_cmd_flags(int cmd, uint32_t *skip, uint32_t *nr)
{
    static const struct {
        int cmd;
        uint32_t skip, nr;
    } flags[] = {
        {MILTER_C_CONNECT, MILTER_P_NOCONNECT, MILTER_P_NR_CONN},
        {MILTER_C_HELO, MILTER_P_NOHELO, MILTER_P_NR_HELO},
        {MILTER_C_MAIL, MILTER_P_NOMAIL, MILTER_P_NR_MAIL},
        {MILTER_C_RCPT, MILTER_P_NORCPT, MILTER_P_NR_RCPT},
        {MILTER_C_DATA, MILTER_P_NODATA, MILTER_P_NR_DATA},
    };

    *skip = *nr = 0;
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (flags[i].cmd == cmd) {
            *skip = flags[i].skip;
            *nr = flags[i].nr;
        }
}

/* Ask the milters in turn until one decides or none is left. */
static void milter_run(struct milter_session *ms)
{
    uint32_t skip, nr;

    while (ms->busy && ms->phase != MILTER_PH_DONE && !ms->waiting) {
        if (ms->cur >= ms->n) {
            /* None said more than "continue"; a QUARANTINE is kept. */
            ms->phase = MILTER_PH_DONE;
            ms->verdict = ms->hold && ms->cmd == MILTER_C_BODYEOB
                              ? MILTER_V_HOLD
                              : MILTER_V_CONTINUE;
            event_active(ms->done_ev, 0, 0);
            return;
        }
        struct milter_conn *c = &ms->conns[ms->cur];
        switch (ms->phase) {
        case MILTER_PH_START:
            milter_begin(ms, c);
            break;
        case MILTER_PH_CMD:
            ms->phase = MILTER_PH_END;
            milter_cmd_flags(ms->cmd, &skip, &nr);
            milter_send(c, &ms->pkt, ms->cmd, skip, nr,
                        ms->conf.command_timeout);
            break;
        case MILTER_PH_END:
            milter_decide(ms, NULL);
            break;
        default:
            milter_content(ms, c);
            break;
        }
    }
}

/* IN_CONNECT_EVENT in Postfix: a decision at CONNECT or HELO holds for
 * the whole session. */
static int milter_session_event(int cmd)
{
    return cmd == MILTER_C_CONNECT || cmd == MILTER_C_HELO;
}

/* A refusal: at CONNECT or HELO it answers every later event too. */
static void milter_refuse(struct milter_conn *c, const char *reply)
{
    if (milter_session_event(c->ms->cmd)) {
        c->state = MILTER_S_REJECT_CON;
        milter_set_def(c, reply);
    }
    milter_decide(c->ms, reply);
}

/* SMFIR_REPLYCODE's text: "4xx" or "5xx", a space or '-' after it, an
 * enhanced code of the same class if any; '%%' is '%' and a lone '%'
 * dropped (sendmail took it as a format). -1 if malformed. */
static int milter_replycode(char *text)
{
    char *r = text, *w = text;

    if ((text[0] != '4' && text[0] != '5') || !str_isdigit(text[1]) ||
        !str_isdigit(text[2]) || (text[3] != ' ' && text[3] != '-') ||
        (str_isdigit(text[4]) && text[4] != text[0]))
        return -1;
    for (; *r != '\0'; r++)
        if (*r != '%' || (r[1] == '%' && *++r != '\0'))
            *w++ = *r;
    *w = '\0';
    return 0;
}

/* A final reply to an envelope command or to the content, as Postfix's
 * milter8_event() takes it. */
static void milter_final(struct milter_conn *c, int cmd, char *data)
{
    struct milter_session *ms = c->ms;

    switch (cmd) {
    case MILTER_R_CONTINUE:
        if (ms->phase == MILTER_PH_EOM)
            milter_decide(ms, NULL);
        return; /* on with the next packet */
    case MILTER_R_SKIP:
        ms->body_off = ms->msg.body_len; /* no more body wanted */
        return;
    case MILTER_R_ACCEPT:
        c->state = milter_session_event(ms->cmd) ? MILTER_S_ACCEPT_CON
                                                 : MILTER_S_ACCEPT_MSG;
        milter_decide(ms, NULL);
        return;
    case MILTER_R_DISCARD:
        if (milter_session_event(ms->cmd)) {
            milter_warn(ms,
                        "milter %s: DISCARD action is not allowed for "
                        "connect or helo",
                        c->spec);
            milter_decide(ms, NULL);
            return;
        }
        c->state = MILTER_S_ACCEPT_MSG;
        milter_decide(ms, "D");
        return;
    case MILTER_R_REJECT:
        milter_refuse(c, "550 5.7.1 Command rejected");
        return;
    case MILTER_R_TEMPFAIL:
        milter_refuse(c, "451 4.7.1 Service unavailable - try again later");
        return;
    case MILTER_R_SHUTDOWN:
        c->state = MILTER_S_REJECT_CON;
        milter_set_def(c, "S");
        milter_decide(ms, "S");
        return;
    case MILTER_R_REPLYCODE:
        if (milter_replycode(data) == 0) {
            milter_refuse(c, data);
            return;
        }
        milter_warn(ms, "milter %s: malformed reply: %s", c->spec, data);
        break;
    default:
        milter_warn(ms,
                    "milter %s: unexpected filter response %c after "
                    "event %s",
                    c->spec, cmd, milter_cmd_name(c->last_cmd));
        break;
    }
    milter_comm_error(c);
    milter_decide(ms, c->def_reply);
}

/* After BODYEOB: 1 for a modification (applied) or a QUARANTINE (kept),
 * which the final reply follows. */
static int milter_eom_reply(struct milter_conn *c, int cmd,
                            const unsigned char *data, size_t dlen)
{
    struct milter_session *ms = c->ms;

    switch (cmd) {
    case MILTER_R_ADDHEADER:
    case MILTER_R_INSHEADER:
    case MILTER_R_CHGHEADER:
        if (milter_msg_modify(&ms->msg, cmd, data, dlen,
                              (c->proto & MILTER_P_HDR_LEADSPC) != 0) < 0)
            milter_warn(ms, "milter %s: malformed header change request",
                        c->spec);
        return 1;
    case MILTER_R_QUARANTINE:
        ms->hold = 1;
        return 1;
    case MILTER_R_ADDRCPT:
    case MILTER_R_DELRCPT:
    case MILTER_R_CHGFROM:
    case MILTER_R_REPLBODY:
    case '2':     /* SMFIR_ADDRCPT_PAR */
        return 1; /* not applied */
    default:
        return 0;
    }
}

/* OPTNEG's answer: the milter's version, actions and protocol flags. */
static void milter_negotiated(struct milter_conn *c, int cmd,
                              const unsigned char *data, size_t dlen)
{
    struct milter_session *ms = c->ms;

    /* Nothing is awaited now: a command the milter asked not to get
     * (SMFIP_NOCONNECT...) sends nothing, and a read timeout left set
     * would drop a healthy milter while the client is quiet. */
    ms->waiting = 0;
    if (c->bev != NULL)
        bufferevent_set_timeouts(c->bev, NULL, NULL);
    if (cmd != MILTER_C_OPTNEG || dlen < 12) {
        milter_warn(ms,
                    "milter %s: unexpected reply \"%c\" in initial "
                    "handshake",
                    c->spec, cmd);
        milter_comm_error(c);
        milter_decide(ms, c->def_reply);
        return;
    }
    c->proto = milter_u32(data + 8);
    c->state = MILTER_S_ENVELOPE;
    ms->phase = MILTER_PH_START;
}

/* A whole reply packet from the milter the event waits for. */
static void milter_reply(struct milter_conn *c, int cmd, unsigned char *data,
                         size_t dlen)
{
    struct milter_session *ms = c->ms;

    if (cmd == MILTER_R_PROGRESS)
        return; /* still working: the wait goes on */
    if (ms->phase == MILTER_PH_OPTNEG) {
        milter_negotiated(c, cmd, data, dlen);
    } else if (ms->phase != MILTER_PH_EOM ||
               !milter_eom_reply(c, cmd, data, dlen)) {
        ms->waiting = 0;
        if (c->bev != NULL)
            bufferevent_set_timeouts(c->bev, NULL, NULL);
        milter_final(c, cmd, (char *)data);
    }
    milter_run(ms);
}

static void milter_on_read(struct bufferevent *bev, void *arg)
{
    struct milter_conn *c = arg;
    struct milter_session *ms = c->ms;
    struct evbuffer *in = bufferevent_get_input(bev);

    /* Bytes that come while nothing is asked wait for the next event. */
    while (c->bev == bev && ms->busy && ms->waiting &&
           &ms->conns[ms->cur] == c) {
        size_t len = evbuffer_get_length(in), dlen;
        const unsigned char *data;
        int cmd;
        long n = milter_get(evbuffer_pullup(in, -1), len, &cmd, &data, &dlen);
        if (n == 0)
            return;
        if (n < 0) {
            milter_warn(ms, "milter %s: bad packet length", c->spec);
            milter_failed(c);
            return;
        }
        unsigned char *copy = xmalloc(dlen + 1);
        memcpy(copy, data, dlen);
        copy[dlen] = '\0';
        evbuffer_drain(in, (size_t)n);
        milter_reply(c, cmd, copy, dlen);
        free(copy);
    }
}

static void milter_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct milter_conn *c = arg;
    struct milter_session *ms = c->ms;
    int err = EVUTIL_SOCKET_ERROR();
    int current = ms->busy && ms->waiting && &ms->conns[ms->cur] == c;
    const char *why = what & BEV_EVENT_TIMEOUT ? "Connection timed out"
                      : what & BEV_EVENT_EOF   ? strerror(0)
                                               : strerror(err);

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        milter_optneg(c);
        return;
    }
    if (current && ms->phase == MILTER_PH_CONNECT)
        milter_warn(ms, "connect to Milter service %s: %s", c->spec, why);
    else if (current && ms->phase == MILTER_PH_OPTNEG)
        milter_warn(ms, "milter %s: read error in initial handshake", c->spec);
    else if (current || c->state == MILTER_S_ENVELOPE)
        milter_warn(ms, "milter %s: can't read %s reply packet header: %s",
                    c->spec, milter_cmd_name(c->last_cmd), why);
    if (!current && c->state != MILTER_S_ENVELOPE) {
        /* Done with the session anyway (accepted or refused it). */
        bufferevent_free(c->bev);
        c->bev = NULL;
        return;
    }
    milter_failed(c);
}

static void milter_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct milter_session *ms = arg;
    struct milter_result r = {ms->verdict, ms->reply, NULL};

    (void)fd;
    (void)what;
    ms->busy = 0;
    if (ms->cmd == MILTER_C_BODYEOB) {
        strbuf_reset(&ms->out);
        milter_msg_write(&ms->msg, &ms->out);
        r.msg = &ms->out;
    } else if (ms->verdict == MILTER_V_DISCARD) {
        ms->discard = 1; /* until the transaction ends */
    }
    ms->done(ms->arg, &r); /* may free ms */
}

struct milter_session *milter_session_new(struct event_base *base,
                                          const struct milter_conf *conf,
                                          milter_done_fn *done,
                                          milter_warn_fn *warn, void *arg)
{
    struct milter_session *ms = xcalloc(1, sizeof(*ms));

    ms->base = base;
    ms->conf = *conf;
    ms->done = done;
    ms->warn = warn;
    ms->arg = arg;
    strlist_init(&ms->specs);
    strlist_split(&ms->specs, conf->milters);
    ms->n = ms->specs.n;
    ms->conns = xcalloc(ms->n + 1, sizeof(*ms->conns));
    for (size_t i = 0; i < ms->n; i++) {
        ms->conns[i].ms = ms;
        ms->conns[i].spec = ms->specs.v[i];
    }
    ms->done_ev = event_new(base, -1, 0, milter_on_done, ms);
    strbuf_init(&ms->pkt);
    strbuf_init(&ms->eoh);
    strbuf_init(&ms->eod);
    strbuf_init(&ms->out);
    strlist_init(&ms->msg.names);
    strlist_init(&ms->msg.values);
    return ms;
}

void milter_session_free(struct milter_session *ms)
{
    if (ms == NULL)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct milter_conn *c = &ms->conns[i];
        if (c->bev != NULL && c->state != MILTER_S_NEW && !ms->busy) {
            /* What is still buffered (an ABORT), then QUIT, if it goes
             * out at once: the socket closes next. */
            struct evbuffer *out = bufferevent_get_output(c->bev);
            size_t n = evbuffer_get_length(out);
            unsigned char quit[5] = {0, 0, 0, 1, MILTER_C_QUIT};
            evutil_socket_t fd = bufferevent_getfd(c->bev);
            if (n == 0 || send(fd, evbuffer_pullup(out, -1), n,
                               MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
                (void)!send(fd, quit, sizeof(quit),
                            MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        free(c->def_reply);
    }
    free(ms->conns);
    strlist_clear(&ms->specs);
    event_free(ms->done_ev);
    strbuf_clear(&ms->pkt);
    strbuf_clear(&ms->eoh);
    strbuf_clear(&ms->eod);
    strbuf_clear(&ms->out);
    milter_msg_clear(&ms->msg);
    free(ms->text);
    free(ms->reply);
    free(ms);
}

/* CONNECT's data: hostname ("[address]" when unknown, as Postfix sends
 * it), family, port (network order), address. */
static void milter_connect_data(struct strbuf *d, const struct milter_info *i)
{
    unsigned char port[2] = {(unsigned char)(i->client_port >> 8),
                             (unsigned char)i->client_port};

    if (strcmp(i->client_name, "unknown") == 0)
        strbuf_printf(d, "[%s]", i->client_addr);
    else
        strbuf_puts(d, i->client_name);
    strbuf_putc(d, '\0');
    strbuf_putc(d, i->client_family == AF_INET6 ? '6' : '4');
    strbuf_append(d, port, 2);
    strbuf_append(d, i->client_addr, strlen(i->client_addr) + 1);
}

/* An event begins: the first milter is asked (at once, or it is
 * decided from the loop). */
static void milter_start(struct milter_session *ms, int cmd)
{
    ms->busy = 1;
    ms->cmd = cmd;
    ms->cur = 0;
    ms->waiting = 0;
    ms->phase = MILTER_PH_START;
    ms->verdict = MILTER_V_CONTINUE;
    free(ms->reply);
    ms->reply = NULL;
}

int milter_event(struct milter_session *ms, int cmd,
                 const struct milter_info *info, const char *arg)
{
    static const int stages[] = {MILTER_C_CONNECT, MILTER_C_HELO, MILTER_C_MAIL,
                                 MILTER_C_RCPT, MILTER_C_DATA};
    struct strbuf d;
    size_t stage = 0;

    if (ms->busy)
        return -1;
    while (stage < 4 && stages[stage] != cmd)
        stage++;
    milter_start(ms, cmd);
    strbuf_reset(&ms->pkt);
    strbuf_init(&d);
    milter_macros(&ms->pkt, cmd, ms->conf.macros[stage], info,
                  cmd == MILTER_C_RCPT ? arg : NULL);
    if (cmd == MILTER_C_CONNECT)
        milter_connect_data(&d, info);
    else if (cmd == MILTER_C_HELO)
        strbuf_append(&d, arg, strlen(arg) + 1);
    else if (cmd == MILTER_C_MAIL || cmd == MILTER_C_RCPT)
        strbuf_printf(&d, "<%s>%c", arg, '\0');
    milter_put(&ms->pkt, cmd, d.buf, d.len);
    strbuf_clear(&d);
    if (ms->discard && !milter_session_event(cmd)) {
        /* Postfix's MILTER_SKIP_FLAGS: the message is dropped anyway. */
        ms->phase = MILTER_PH_DONE;
        event_active(ms->done_ev, 0, 0);
        return 0;
    }
    milter_run(ms);
    return 0;
}

int milter_message(struct milter_session *ms, const struct milter_info *info,
                   const char *msg, size_t len)
{
    if (ms->busy)
        return -1;
    milter_start(ms, MILTER_C_BODYEOB);
    milter_msg_clear(&ms->msg);
    free(ms->text);
    ms->text = xmalloc(len + 1);
    memcpy(ms->text, msg, len);
    ms->text[len] = '\0';
    milter_msg_parse(&ms->msg, ms->text, len);
    strbuf_reset(&ms->eoh);
    strbuf_reset(&ms->eod);
    milter_macros(&ms->eoh, MILTER_C_EOH, ms->conf.macros[5], info, NULL);
    milter_macros(&ms->eod, MILTER_C_BODYEOB, ms->conf.macros[6], info, NULL);
    if (ms->discard) {
        ms->phase = MILTER_PH_DONE;
        ms->verdict = MILTER_V_DISCARD;
        event_active(ms->done_ev, 0, 0);
        return 0;
    }
    milter_run(ms);
    return 0;
}

void milter_abort(struct milter_session *ms)
{
    struct strbuf pkt;

    if (ms == NULL || ms->busy)
        return;
    ms->discard = 0;
    ms->hold = 0;
    strbuf_init(&pkt);
    milter_put(&pkt, MILTER_C_ABORT, NULL, 0);
    /* Postfix's milter8_abort(): to the milters inside a transaction. */
    for (size_t i = 0; i < ms->n; i++) {
        struct milter_conn *c = &ms->conns[i];
        if (c->bev == NULL ||
            (c->state != MILTER_S_ENVELOPE && c->state != MILTER_S_ACCEPT_MSG))
            continue;
        bufferevent_write(c->bev, pkt.buf, pkt.len);
        c->state = MILTER_S_ENVELOPE;
    }
    strbuf_clear(&pkt);
}
