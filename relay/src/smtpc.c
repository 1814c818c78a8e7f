/*
 * smtpc.c — the relay's SMTP client (Postfix smtp(8)): resolves a next hop
 * ("[host]:port" without MX lookup, "host" with MX lookup and A fallback,
 * RFC 5321 section 5.1), tries each address in preference order (random
 * among equal preferences), and runs one transaction for a message and the
 * recipients that share the next hop. Results are per recipient, with the
 * reason texts Postfix logs and mailq shows.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "mxlab/clock.h"
#include "mxlab/dns.h"
#include "mxlab/log.h"
#include "mxlab/maillog.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"
#include "queue.h"
#include "relay.h"
#include "smtpc.h"
#include "smtpd_line.h"

#define SMTPC_LINE_LIMIT 2048 /* Postfix line_length_limit */

enum smtpc_state {
    SMTPC_RESOLVE_MX,
    SMTPC_RESOLVE_A,
    SMTPC_CONNECT,
    SMTPC_GREETING,
    SMTPC_EHLO,
    SMTPC_HELO,
    SMTPC_MAIL,
    SMTPC_RCPT,
    SMTPC_DATA,
    SMTPC_DOT,
    SMTPC_QUIT,
};

struct smtpc_target {
    char host[256];
    char ip[108]; /* an address, or lmtp:unix:'s socket path */
};

struct smtpc {
    struct relay *r;
    int pipelining;  /* the server offered PIPELINING (RFC 2920) */
    int offers_size; /* SIZE (RFC 1870): MAIL FROM says the size */
    int offers_dsn;  /* DSN (RFC 3461): RET, ENVID, NOTIFY, ORCPT go on */
    int dsn_ret;
    char *dsn_envid;
    int piped;         /* MAIL, RCPTs and DATA went out together */
    int lmtp;          /* RFC 2033: LHLO, a reply per recipient after DATA */
    int unix_socket;   /* lmtp:unix:PATH: the target's "ip" is the path */
    char nexthop[512]; /* as the queue manager gave it: the cache key */
    char service[96];  /* for the log: "smtp", "relay/smtp" */
    /* The transport's parameters: main.cf's, or a master.cf service's
     * with its -o overrides (borrowed: the job holds the service). */
    const struct relay_params *p;
    char qid[16];
    char host[256]; /* next-hop host (without brackets/port) */
    int port;
    int bracketed;
    char *sender;
    struct smtpc_rcpt *rcpts;
    size_t n;
    const char *data;
    size_t len;
    smtpc_done_fn *done;
    void *arg;
    enum smtpc_state state;
    /* MX hosts to resolve, then addresses to try. */
    struct dns_mx *mx;
    size_t nmx, imx;
    struct smtpc_target *targets;
    size_t ntargets, itarget;
    struct bufferevent *bev;
    struct strbuf reply; /* current (multi-line) reply, lines joined */
    int skipping;        /* the rest of an overlong reply line */
    size_t ircpt;        /* next RCPT to send / answer */
    size_t naccepted;
    char last_reason[1024];
    int last_class; /* 4 or 5: class of the last failure */
    char last_dsn[16];
    char last_diag[1024]; /* the refusing server's reply, if any */
    int dns_pending;
    struct smtpc_result res;
    struct smtpc *next; /* on r->clients */
};

/* Postfix's "host[address]:port", or "host[path]" for a UNIX socket. */
static void smtpc_describe(const struct smtpc *c, const struct smtpc_target *t,
                           char *buf, size_t len)
{
    if (c->unix_socket)
        snprintf(buf, len, "%s[%s]", t->host, t->ip);
    else
        snprintf(buf, len, "%s[%s]:%d", t->host, t->ip, c->port);
}

static void smtpc_unlink(struct smtpc *c)
{
    for (struct smtpc **pp = &c->r->clients; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            c->r->ndeliveries--;
            return;
        }
    }
}

static void smtpc_free(struct smtpc *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    strbuf_clear(&c->reply);
    free(c->mx);
    free(c->targets);
    free(c->sender);
    free(c->dsn_envid);
    free(c);
}

static void smtpc_try_next(struct smtpc *c);

/* An idle connection after a delivered message, kept for the next
 * delivery to the same next hop (smtp_connection_cache_on_demand), at
 * most smtp_connection_cache_time_limit, then closed with QUIT. */
struct smtpc_conn {
    struct relay *r;
    char nexthop[512];
    int port;
    struct smtpc_target target;
    struct bufferevent *bev;
    struct event *idle;
    int uses;
    int pipelining, offers_size, offers_dsn;
    struct smtpc_conn *next;
};

static void smtpc_conn_drop(struct smtpc_conn *k, int say_quit)
{
    for (struct smtpc_conn **pp = &k->r->conn_cache; *pp != NULL;
         pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    if (say_quit)
        evbuffer_add_printf(bufferevent_get_output(k->bev), "QUIT\r\n");
    bufferevent_free(k->bev);
    event_free(k->idle);
    free(k);
}

static void smtpc_conn_on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtpc_conn_drop(arg, 1);
}

/* Anything from an idle server (a 421 timeout notice, a close) ends it. */
static void smtpc_conn_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    smtpc_conn_drop(arg, 0);
}

static void smtpc_conn_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    smtpc_conn_drop(arg, 0);
}

static void smtpc_conn_park(struct smtpc *c)
{
    struct smtpc_conn *k = xcalloc(1, sizeof(*k));
    struct timeval tv = {c->p->smtp_connection_cache_time_limit, 0};

    k->r = c->r;
    snprintf(k->nexthop, sizeof(k->nexthop), "%s", c->nexthop);
    k->port = c->port;
    k->target = c->targets[c->itarget];
    k->bev = c->bev;
    k->uses = c->res.conn_use > 0 ? c->res.conn_use : 1;
    k->pipelining = c->pipelining;
    k->offers_size = c->offers_size;
    k->offers_dsn = c->offers_dsn;
    c->bev = NULL;
    bufferevent_setcb(k->bev, smtpc_conn_on_read, NULL, smtpc_conn_on_event, k);
    bufferevent_set_timeouts(k->bev, NULL, NULL);
    k->idle = evtimer_new(k->r->base, smtpc_conn_on_idle, k);
    evtimer_add(k->idle, &tv);
    k->next = k->r->conn_cache;
    k->r->conn_cache = k;
}

size_t smtpc_count_nexthop(const struct relay *r, const char *nexthop)
{
    size_t n = 0;

    for (const struct smtpc *c = r->clients; c != NULL; c = c->next)
        n += strcmp(c->nexthop, nexthop) == 0;
    return n;
}

void smtpc_close_cached(struct relay *r)
{
    while (r->conn_cache != NULL)
        smtpc_conn_drop(r->conn_cache, 1);
}

static void smtpc_on_read(struct bufferevent *bev, void *arg);
static void smtpc_on_event(struct bufferevent *bev, short what, void *arg);
static void smtpc_send(struct smtpc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 1 if an EHLO reply (its lines joined by spaces) lists the keyword. */
static int smtpc_offers(const char *reply, const char *kw)
{
    size_t n = strlen(kw);

    for (const char *p = reply; (p = strcasestr(p, kw)) != NULL; p += n)
        if ((p == reply || p[-1] == ' ' || p[-1] == '-') &&
            (p[n] == '\0' || p[n] == ' '))
            return 1;
    return 0;
}

/* RFC 3461 section 4: xtext, as Postfix's xtext_quote() writes it. */
static void smtpc_put_xtext(struct strbuf *sb, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
            strbuf_printf(sb, "+%02X", *p);
        else
            strbuf_putc(sb, (char)*p);
    }
}

/* MAIL FROM with the parameters Postfix's smtp sends: SIZE when offered,
 * ENVID and RET when the server offers DSN. */
static void smtpc_send_mail(struct smtpc *c)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_printf(&sb, "MAIL FROM:<%s>", c->sender);
    if (c->offers_size)
        strbuf_printf(&sb, " SIZE=%zu", c->len);
    if (c->offers_dsn && c->dsn_envid != NULL) {
        strbuf_puts(&sb, " ENVID=");
        smtpc_put_xtext(&sb, c->dsn_envid);
    }
    if (c->offers_dsn && c->dsn_ret != DSN_RET_NONE)
        strbuf_puts(&sb,
                    c->dsn_ret == DSN_RET_HDRS ? " RET=HDRS" : " RET=FULL");
    smtpc_send(c, "%s", sb.buf);
    strbuf_clear(&sb);
}

/* RCPT TO; with DSN offered, ORCPT (the one the client gave, else the
 * original recipient) and NOTIFY, in Postfix's order. */
static void smtpc_send_rcpt_at(struct smtpc *c, size_t i)
{
    static const struct {
        int bit;
        const char *name;
    } notify[] = {{DSN_NOTIFY_NEVER, "NEVER"},
                  {DSN_NOTIFY_SUCCESS, "SUCCESS"},
                  {DSN_NOTIFY_FAILURE, "FAILURE"},
                  {DSN_NOTIFY_DELAY, "DELAY"}};
    const struct smtpc_rcpt *rc = &c->rcpts[i];
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_printf(&sb, "RCPT TO:<%s>", rc->addr);
    if (c->offers_dsn) {
        const char *orcpt = rc->orcpt;
        const char *semi = orcpt ? strchr(orcpt, ';') : NULL;
        if (semi != NULL) {
            strbuf_printf(&sb, " ORCPT=%.*s;", (int)(semi - orcpt), orcpt);
            smtpc_put_xtext(&sb, semi + 1);
        } else if (rc->orig != NULL && *rc->orig != '\0') {
            strbuf_puts(&sb, " ORCPT=rfc822;");
            smtpc_put_xtext(&sb, rc->orig);
        }
        for (size_t k = 0, first = 1; k < sizeof(notify) / sizeof(notify[0]);
             k++)
            if (rc->notify & notify[k].bit) {
                strbuf_puts(&sb, first ? " NOTIFY=" : ",");
                strbuf_puts(&sb, notify[k].name);
                first = 0;
            }
    }
    smtpc_send(c, "%s", sb.buf);
    strbuf_clear(&sb);
}

/* MAIL FROM, and with PIPELINING the RCPTs and DATA in the same write
 * (RFC 2920); the replies are then read in order. */
static void smtpc_start_transaction(struct smtpc *c)
{
    c->state = SMTPC_MAIL;
    c->piped = c->pipelining;
    smtpc_send_mail(c);
    if (c->piped) {
        for (size_t i = 0; i < c->n; i++)
            smtpc_send_rcpt_at(c, i);
        smtpc_send(c, "DATA");
    }
}

/* Take a cached connection to c's next hop, if there is one: the
 * transaction starts at MAIL FROM. */
static int smtpc_reuse(struct smtpc *c)
{
    struct smtpc_conn *k;
    struct timeval tv = {c->p->smtp_helo_timeout, 0};

    for (k = c->r->conn_cache; k != NULL; k = k->next)
        if (strcmp(k->nexthop, c->nexthop) == 0 && k->port == c->port)
            break;
    if (k == NULL)
        return 0;
    c->targets = xcalloc(1, sizeof(*c->targets));
    c->targets[0] = k->target;
    c->ntargets = 1;
    c->itarget = 0;
    c->bev = k->bev;
    c->res.conn_use = k->uses + 1;
    c->pipelining = k->pipelining;
    c->offers_size = k->offers_size;
    c->offers_dsn = k->offers_dsn;
    for (struct smtpc_conn **pp = &c->r->conn_cache; *pp != NULL;
         pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    event_free(k->idle);
    free(k);
    smtpc_describe(c, &c->targets[0], c->res.relay_desc,
                   sizeof(c->res.relay_desc));
    clock_now(&c->res.t_conn);
    bufferevent_setcb(c->bev, smtpc_on_read, NULL, smtpc_on_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    smtpc_start_transaction(c);
    return 1;
}

/* The one way a delivery ends: report, then free. */
static void smtpc_finish(struct smtpc *c)
{
    clock_now(&c->res.t_done);
    c->res.offered_dsn = c->offers_dsn;
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    smtpc_unlink(c);
    c->done(c->arg, c->rcpts, c->n, &c->res);
    smtpc_free(c);
}

/* Give every recipient still without a final result the same outcome. */
static void smtpc_fail_rest(struct smtpc *c, int cls, const char *dsn,
                            const char *reason, const char *diag)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->rcpts[i].status != 0)
            continue;
        c->rcpts[i].status = cls;
        snprintf(c->rcpts[i].dsn, sizeof(c->rcpts[i].dsn), "%s", dsn);
        free(c->rcpts[i].reply);
        c->rcpts[i].reply = xstrdup(reason);
        free(c->rcpts[i].diag);
        c->rcpts[i].diag = diag ? xstrdup(diag) : NULL;
    }
}

/* Enhanced status code of a reply ("250 2.0.0 Ok" -> "2.0.0"), or the
 * class default (x.0.0). */
static void smtpc_reply_dsn(const char *reply, char *dsn, size_t len)
{
    const char *p = reply + 4;

    if (strlen(reply) > 4 && p[0] == reply[0] && p[1] == '.') {
        size_t n = strcspn(p, " ");
        if (n < len) {
            memcpy(dsn, p, n);
            dsn[n] = '\0';
            return;
        }
    }
    snprintf(dsn, len, "%c.0.0", reply[0]);
}

static const char *smtpc_command_name(enum smtpc_state st)
{
    switch (st) {
    case SMTPC_MAIL:
        return "MAIL FROM";
    case SMTPC_RCPT:
        return "RCPT TO";
    case SMTPC_DATA:
        return "DATA";
    case SMTPC_DOT:
        return "end of DATA";
    case SMTPC_EHLO:
        return "EHLO";
    case SMTPC_HELO:
        return "HELO";
    default:
        return "greeting";
    }
}

static void smtpc_send(struct smtpc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void smtpc_send(struct smtpc *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
    va_end(ap);
    evbuffer_add(bufferevent_get_output(c->bev), "\r\n", 2);
}

static void smtpc_send_rcpt(struct smtpc *c)
{
    smtpc_send_rcpt_at(c, c->ircpt);
}

static void smtpc_send_data(struct smtpc *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    const char *p = c->data, *end = c->data + c->len;
    struct strbuf sb;

    strbuf_init(&sb);
    /* RFC 5321 section 4.5.2: dot-stuff each line. */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t content = (l > 0 && p[l - 1] == '\r') ? l - 1 : l;
        smtp_dotstuff_line(&sb, p, content);
        p += l + (nl ? 1 : 0);
    }
    strbuf_puts(&sb, ".\r\n");
    evbuffer_add(out, sb.buf, sb.len);
    strbuf_clear(&sb);
}

/* The current address failed at connection level: remember why and move
 * on to the next address (or give up). */
static void smtpc_address_failed(struct smtpc *c, int cls, const char *dsn,
                                 const char *reason)
{
    snprintf(c->last_reason, sizeof(c->last_reason), "%s", reason);
    snprintf(c->last_dsn, sizeof(c->last_dsn), "%s", dsn);
    c->last_class = cls;
    /* As Postfix's smtp(8): when another address is left to try, the
     * failure is logged on its own (a refused connect without the queue
     * ID, a refusing server with it); the last one goes into the
     * recipients' status lines. */
    if (c->itarget + 1 < c->ntargets) {
        if (strncmp(reason, "connect to ", 11) == 0)
            maillog_printf(c->r->log, c->service, "%s", reason);
        else
            maillog_printf(c->r->log, c->service, "%s: %s", c->qid, reason);
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->itarget++;
    smtpc_try_next(c);
}

/* RFC 2033 section 4.2: after the final dot, one reply per recipient
 * that RCPT accepted, in their order. Records it; 1 while more are due,
 * 0 after the last (every recipient then has its outcome). */
static int smtpc_lmtp_reply(struct smtpc *c, int cls, const char *dsn,
                            const char *reply)
{
    const struct smtpc_target *t = &c->targets[c->itarget];
    struct smtpc_rcpt *rc;
    char reason[1400];

    while (c->ircpt < c->n && c->rcpts[c->ircpt].status != 0)
        c->ircpt++; /* refused at RCPT: no reply after DATA */
    if (c->ircpt >= c->n)
        return 0;
    rc = &c->rcpts[c->ircpt++];
    if (cls == 2)
        snprintf(reason, sizeof(reason), "%s", reply);
    else
        snprintf(reason, sizeof(reason),
                 "host %s[%s] said: %s (in reply to end of DATA command)",
                 t->host, t->ip, reply);
    rc->status = cls == 2 ? 2 : cls == 5 ? 5 : 4;
    snprintf(rc->dsn, sizeof(rc->dsn), "%s", dsn);
    rc->reply = xstrdup(reason);
    rc->diag = cls == 2 ? NULL : xstrdup(reply);
    while (c->ircpt < c->n && c->rcpts[c->ircpt].status != 0)
        c->ircpt++;
    return c->ircpt < c->n;
}

/* Handle one complete reply. Returns 0 to keep reading this connection,
 * -1 when c was finished (freed) or moved to another address. */
static int smtpc_on_reply(struct smtpc *c, int code)
{
    const char *reply = c->reply.buf;
    const struct smtpc_target *t = &c->targets[c->itarget];
    char reason[1400], dsn[16];
    int cls = code / 100;

    smtpc_reply_dsn(reply, dsn, sizeof(dsn));
    switch (c->state) {
    case SMTPC_GREETING:
        if (cls != 2) {
            snprintf(reason, sizeof(reason),
                     "host %s[%s] refused to talk to me: %s", t->host, t->ip,
                     reply);
            snprintf(c->last_diag, sizeof(c->last_diag), "%s", reply);
            /* smtp_skip_5xx_greeting: a 5xx greeting only means "not this
             * server": try the next one, and defer if it was the last. */
            if (cls == 5 && c->p->smtp_skip_5xx_greeting) {
                cls = 4;
                dsn[0] = '4';
            }
            smtpc_address_failed(c, cls == 5 ? 5 : 4, dsn, reason);
            return -1;
        }
        clock_now(&c->res.t_conn);
        c->state = SMTPC_EHLO;
        smtpc_send(c, "%s %s", c->lmtp ? "LHLO" : "EHLO", c->p->myhostname);
        return 0;
    case SMTPC_EHLO:
        if (cls != 2 && !c->lmtp) {
            c->state = SMTPC_HELO;
            smtpc_send(c, "HELO %s", c->p->myhostname);
            return 0;
        }
        if (cls != 2)
            break; /* RFC 2033 section 4.1: no HELO to fall back to */
        c->pipelining = smtpc_offers(reply, "PIPELINING");
        c->offers_size = smtpc_offers(reply, "SIZE");
        c->offers_dsn = smtpc_offers(reply, "DSN");
        __attribute__((fallthrough));
    case SMTPC_HELO:
        if (cls != 2)
            break;
        smtpc_start_transaction(c);
        return 0;
    case SMTPC_MAIL:
        if (cls != 2)
            break;
        c->state = SMTPC_RCPT;
        c->ircpt = 0;
        if (!c->piped)
            smtpc_send_rcpt(c);
        return 0;
    case SMTPC_RCPT: {
        struct smtpc_rcpt *rc = &c->rcpts[c->ircpt];
        if (cls == 2) {
            c->naccepted++;
        } else {
            snprintf(reason, sizeof(reason),
                     "host %s[%s] said: %s (in reply to RCPT TO command)",
                     t->host, t->ip, reply);
            rc->status = cls == 5 ? 5 : 4;
            rc->at_rcpt = 1;
            snprintf(rc->dsn, sizeof(rc->dsn), "%s", dsn);
            rc->reply = xstrdup(reason);
            rc->diag = xstrdup(reply);
        }
        if (++c->ircpt < c->n) {
            if (!c->piped)
                smtpc_send_rcpt(c);
            return 0;
        }
        if (c->naccepted == 0) {
            /* A pipelined DATA gets its refusal after we have gone. */
            c->state = SMTPC_QUIT;
            smtpc_send(c, "QUIT");
            smtpc_finish(c);
            return -1;
        }
        c->state = SMTPC_DATA;
        if (!c->piped)
            smtpc_send(c, "DATA");
        return 0;
    }
    case SMTPC_DATA:
        if (code != 354)
            break;
        c->state = SMTPC_DOT;
        c->ircpt = 0;
        {
            /* The reply to the final dot may take smtp_data_done_timeout
             * (a content filter scanning, 1200s in amavis's recipe). */
            struct timeval rd = {c->p->smtp_data_done_timeout, 0};
            struct timeval wr = {c->p->smtp_helo_timeout, 0};
            bufferevent_set_timeouts(c->bev, &rd, &wr);
        }
        smtpc_send_data(c);
        return 0;
    case SMTPC_DOT:
        if (c->lmtp && smtpc_lmtp_reply(c, cls, dsn, reply))
            return 0; /* more recipients' replies to come */
        if (cls == 2)
            smtpc_fail_rest(c, 2, dsn, reply, reply);
        else
            break;
        if (c->p->smtp_connection_cache_time_limit > 0) {
            smtpc_conn_park(c);
        } else {
            c->state = SMTPC_QUIT;
            smtpc_send(c, "QUIT");
        }
        smtpc_finish(c);
        return -1;
    default:
        return 0;
    }
    /* A non-2xx reply to a transaction command: all pending recipients get
     * it (Postfix's "host X said: ... (in reply to ... command)"). */
    snprintf(reason, sizeof(reason),
             "host %s[%s] said: %s (in reply to %s "
             "command)",
             t->host, t->ip, reply, smtpc_command_name(c->state));
    smtpc_fail_rest(c, cls == 5 ? 5 : 4, dsn, reason, reply);
    c->state = SMTPC_QUIT;
    smtpc_send(c, "QUIT");
    smtpc_finish(c);
    return -1;
}

/* The next reply line, as Postfix's smtp_chat_resp() reads it: at most
 * line_length_limit bytes (a longer line is cut there, the rest read and
 * thrown away, with Postfix's warning), every CR before the LF dropped.
 * NULL until a line is in; the caller frees. */
static char *smtpc_next_line(struct smtpc *c, struct evbuffer *in)
{
    for (;;) {
        size_t n = evbuffer_get_length(in);
        size_t look = n < SMTPC_LINE_LIMIT + 1 ? n : SMTPC_LINE_LIMIT + 1;
        struct smtpd_line l;
        const char *p;
        char *line;

        if (look == 0)
            return NULL;
        p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        if (!smtpd_line_scan(p, look, SMTPC_LINE_LIMIT, SMTPD_BARE_LF_NO, &l))
            return NULL;
        line = xmalloc(l.len + 1);
        memcpy(line, p, l.len);
        line[l.len] = '\0';
        evbuffer_drain(in, l.consumed);
        if (c->skipping) {
            c->skipping = l.end == SMTPD_LINE_PARTIAL;
            free(line);
            continue;
        }
        if ((c->skipping = l.end == SMTPD_LINE_PARTIAL) != 0)
            maillog_printf(c->r->log, c->service,
                           "warning: %s: response longer than %d: %.30s...",
                           c->res.relay_desc, SMTPC_LINE_LIMIT, line);
        return line;
    }
}

static void smtpc_on_read(struct bufferevent *bev, void *arg)
{
    struct smtpc *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;

    while ((line = smtpc_next_line(c, in)) != NULL) {
        int last = 1;
        int code = smtp_reply_code(line, &last);
        if (code < 0) {
            const struct smtpc_target *t = &c->targets[c->itarget];
            char reason[1400];
            snprintf(reason, sizeof(reason),
                     "host %s[%s] said: malformed reply \"%.200s\"", t->host,
                     t->ip, line);
            free(line);
            if (c->state == SMTPC_GREETING) {
                smtpc_address_failed(c, 4, "4.4.2", reason);
            } else {
                smtpc_fail_rest(c, 4, "4.4.2", reason, NULL);
                smtpc_finish(c);
            }
            return;
        }
        /* The lines of a multi-line reply, codes and all, joined with
         * spaces as Postfix logs them ("450-first line 450"); past
         * line_length_limit bytes the rest is read, not kept. A last
         * line may be just its code (RFC 5321 section 4.2). */
        if (c->reply.len < SMTPC_LINE_LIMIT) {
            if (c->reply.len > 0)
                strbuf_putc(&c->reply, ' ');
            strbuf_puts(&c->reply, line);
        }
        free(line);
        if (!last)
            continue;
        if (smtpc_on_reply(c, code) < 0)
            return;
        strbuf_reset(&c->reply);
    }
}

static void smtpc_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtpc *c = arg;
    const struct smtpc_target *t = &c->targets[c->itarget];
    char reason[1200];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        struct timeval tv = {c->p->smtp_helo_timeout, 0};
        /* Postfix logs relay=none until a connection is made. */
        smtpc_describe(c, t, c->res.relay_desc, sizeof(c->res.relay_desc));
        c->state = SMTPC_GREETING;
        bufferevent_set_timeouts(bev, &tv, &tv);
        return;
    }
    if (c->state == SMTPC_CONNECT) {
        char where[400];
        smtpc_describe(c, t, where, sizeof(where));
        snprintf(reason, sizeof(reason), "connect to %s: %s", where,
                 (what & BEV_EVENT_TIMEOUT)
                     ? "Connection timed out"
                     : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        smtpc_address_failed(c, 4, "4.4.1", reason);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        snprintf(reason, sizeof(reason),
                 "conversation with %s[%s] timed out while %s", t->host, t->ip,
                 smtpc_command_name(c->state));
    else
        snprintf(reason, sizeof(reason), "lost connection with %s[%s] while %s",
                 t->host, t->ip, smtpc_command_name(c->state));
    if (c->state == SMTPC_GREETING) {
        smtpc_address_failed(c, 4, "4.4.2", reason);
        return;
    }
    smtpc_fail_rest(c, 4, "4.4.2", reason, NULL);
    smtpc_finish(c);
}

/* The target's socket address: an IP address and c->port, or for
 * lmtp:unix: a path (relative ones under queue_directory, as Postfix's
 * private/dovecot-lmtp). -1 if it is none. */
static int smtpc_sockaddr(const struct smtpc *c, const struct smtpc_target *t,
                          struct netaddr *na)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&na->ss;
    int n;

    if (!c->unix_socket)
        return netaddr_parse(t->ip, c->port, na);
    memset(na, 0, sizeof(*na));
    sun->sun_family = AF_UNIX;
    n = t->ip[0] == '/'
            ? snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", t->ip)
            : snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s",
                       c->p->queue_directory, t->ip);
    if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
        return -1;
    na->len = (socklen_t)sizeof(*sun);
    return 0;
}

static void smtpc_connect(struct smtpc *c)
{
    const struct smtpc_target *t = &c->targets[c->itarget];
    struct netaddr na;
    struct timeval tv;

    if (smtpc_sockaddr(c, t, &na) < 0) {
        c->itarget++;
        smtpc_try_next(c);
        return;
    }
    c->state = SMTPC_CONNECT;
    c->last_diag[0] = '\0'; /* a reply belongs to one address */
    c->bev = bufferevent_socket_new(c->r->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, smtpc_on_read, NULL, smtpc_on_event, c);
    tv.tv_sec = c->p->smtp_connect_timeout;
    tv.tv_usec = 0;
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&na.ss,
                                   (int)na.len) < 0) {
        char reason[600], where[400];
        smtpc_describe(c, t, where, sizeof(where));
        snprintf(reason, sizeof(reason), "connect to %s: %s", where,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        smtpc_address_failed(c, 4, "4.4.1", reason);
        return;
    }
}

static void smtpc_try_next(struct smtpc *c)
{
    if (c->itarget < c->ntargets) {
        smtpc_connect(c);
        return;
    }
    if (c->last_reason[0] == '\0')
        snprintf(c->last_reason, sizeof(c->last_reason),
                 "no usable address for %s", c->host);
    smtpc_fail_rest(c, c->last_class ? c->last_class : 4,
                    c->last_dsn[0] ? c->last_dsn : "4.4.1", c->last_reason,
                    c->last_diag[0] ? c->last_diag : NULL);
    smtpc_finish(c);
}

static void smtpc_add_target(struct smtpc *c, const char *host, const char *ip)
{
    size_t iplen = strlen(ip);

    if (iplen >= sizeof(c->targets[0].ip))
        return; /* no address is that long */
    c->targets = xrealloc(c->targets, (c->ntargets + 1) * sizeof(*c->targets));
    snprintf(c->targets[c->ntargets].host, sizeof(c->targets[0].host), "%s",
             host);
    memcpy(c->targets[c->ntargets].ip, ip, iplen + 1);
    c->ntargets++;
}

static void smtpc_resolve_next_mx(struct smtpc *c);

static void smtpc_on_a(void *arg, enum dns_status st, char **addrs, size_t n)
{
    struct smtpc *c = arg;

    if (st == DNS_OK) {
        for (size_t i = 0; i < n; i++)
            smtpc_add_target(c, c->mx[c->imx].host, addrs[i]);
    } else {
        snprintf(c->last_reason, sizeof(c->last_reason),
                 "Host or domain name not found. Name service error for "
                 "name=%s type=A: %s",
                 c->mx[c->imx].host, dns_strstatus(st));
        c->last_class = (st == DNS_TEMPFAIL || c->nmx > 1) ? 4 : 5;
        snprintf(c->last_dsn, sizeof(c->last_dsn), "%d.4.4", c->last_class);
    }
    c->imx++;
    smtpc_resolve_next_mx(c);
}

static void smtpc_resolve_next_mx(struct smtpc *c)
{
    if (c->imx < c->nmx) {
        c->state = SMTPC_RESOLVE_A;
        dns_lookup_a(c->r->dns, c->mx[c->imx].host, smtpc_on_a, c);
        return;
    }
    c->itarget = 0;
    clock_now(&c->res.t_conn);
    smtpc_try_next(c);
}

static int smtpc_mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;

    return x->pref - y->pref;
}

static void smtpc_on_mx(void *arg, enum dns_status st, const struct dns_mx *mx,
                        size_t n)
{
    struct smtpc *c = arg;

    if (st == DNS_TEMPFAIL) {
        char reason[600];
        snprintf(reason, sizeof(reason),
                 "Host or domain name not found. Name service error for "
                 "name=%s type=MX: Host not found, try again",
                 c->host);
        smtpc_fail_rest(c, 4, "4.4.3", reason, NULL);
        smtpc_finish(c);
        return;
    }
    if (st != DNS_OK) {
        /* RFC 5321 section 5.1: no MX, use the domain's address. */
        c->mx = xcalloc(1, sizeof(*c->mx));
        snprintf(c->mx[0].host, sizeof(c->mx[0].host), "%s", c->host);
        c->nmx = 1;
        smtpc_resolve_next_mx(c);
        return;
    }
    if (n == 1 && mx[0].host[0] == '\0') {
        char reason[600];
        /* RFC 7505: a null MX says the domain accepts no mail. */
        snprintf(reason, sizeof(reason),
                 "Domain %s does not accept mail (nullMX)", c->host);
        smtpc_fail_rest(c, 5, "5.1.0", reason, NULL);
        smtpc_finish(c);
        return;
    }
    c->mx = xcalloc(n, sizeof(*c->mx));
    memcpy(c->mx, mx, n * sizeof(*mx));
    c->nmx = n;
    /* Shuffle, then a stable sort by preference: random order among equal
     * preferences, as Postfix does to share load (seed 003). */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)random() % i;
        struct dns_mx tmp = c->mx[i - 1];
        c->mx[i - 1] = c->mx[j];
        c->mx[j] = tmp;
    }
    for (size_t i = 1; i < n; i++) {
        struct dns_mx key = c->mx[i];
        size_t j = i;
        while (j > 0 && smtpc_mx_cmp(&c->mx[j - 1], &key) > 0) {
            c->mx[j] = c->mx[j - 1];
            j--;
        }
        c->mx[j] = key;
    }
    smtpc_resolve_next_mx(c);
}

/* Split "[host]:port", "[host]", "host:port" or "host". */
static int smtpc_parse_nexthop(struct smtpc *c, const char *nexthop)
{
    const char *p = nexthop, *end;
    long port;

    c->port = c->lmtp ? c->p->lmtp_tcp_port : c->p->smtp_tcp_port;
    /* lmtp(8)'s "inet:host:port" and "unix:path". */
    if (c->lmtp && strncmp(p, "inet:", 5) == 0)
        p += 5;
    if (c->lmtp && strncmp(p, "unix:", 5) == 0 && p[5] != '\0') {
        c->unix_socket = 1;
        snprintf(c->host, sizeof(c->host), "%s", p + 5);
        return 0;
    }
    if (*p == '[') {
        end = strchr(p, ']');
        if (end == NULL)
            return -1;
        c->bracketed = 1;
        snprintf(c->host, sizeof(c->host), "%.*s", (int)(end - p - 1), p + 1);
        p = end + 1;
    } else {
        end = strchr(p, ':');
        if (end == NULL)
            end = p + strlen(p);
        snprintf(c->host, sizeof(c->host), "%.*s", (int)(end - p), p);
        p = end;
    }
    if (*p == ':') {
        if (str_to_long(p + 1, &port) < 0 || port < 1 || port > 65535)
            return -1;
        c->port = (int)port;
    } else if (*p != '\0') {
        return -1;
    }
    return c->host[0] ? 0 : -1;
}

void smtpc_start(struct relay *r, const char *agent, const char *service,
                 const char *qid, const char *nexthop,
                 const struct smtpc_msg *msg, struct smtpc_rcpt *rcpts,
                 size_t n, smtpc_done_fn *done, void *arg)
{
    struct smtpc *c = xcalloc(1, sizeof(*c));
    struct netaddr na;

    c->r = r;
    c->p = msg->p != NULL ? msg->p : &r->p;
    snprintf(c->service, sizeof(c->service), "%s", service);
    c->lmtp = strcmp(agent, "lmtp") == 0;
    snprintf(c->qid, sizeof(c->qid), "%s", qid);
    c->next = r->clients;
    r->clients = c;
    r->ndeliveries++;
    c->sender = xstrdup(msg->sender);
    c->dsn_ret = msg->dsn_ret;
    c->dsn_envid = msg->dsn_envid ? xstrdup(msg->dsn_envid) : NULL;
    c->rcpts = rcpts;
    c->n = n;
    c->data = msg->data;
    c->len = msg->len;
    c->done = done;
    c->arg = arg;
    strbuf_init(&c->reply);
    clock_now(&c->res.t_start);
    snprintf(c->res.relay_desc, sizeof(c->res.relay_desc), "none");
    if (smtpc_parse_nexthop(c, nexthop) < 0) {
        char reason[700];
        snprintf(reason, sizeof(reason), "bad next-hop destination \"%s\"",
                 nexthop);
        smtpc_fail_rest(c, 4, "4.3.5", reason, NULL);
        smtpc_finish(c);
        return;
    }
    snprintf(c->nexthop, sizeof(c->nexthop), "%s", nexthop);
    if (smtpc_reuse(c))
        return;
    if (c->unix_socket) {
        smtpc_add_target(c, c->p->myhostname, c->host);
        smtpc_try_next(c);
    } else if (netaddr_parse(c->host, c->port, &na) == 0) {
        smtpc_add_target(c, c->host, c->host);
        smtpc_try_next(c);
    } else if (c->bracketed || c->lmtp || c->p->disable_dns_lookups) {
        /* LMTP looks up addresses only (Postfix's lmtp(8): no MX); so
         * does smtp(8) with disable_dns_lookups = yes (the host's own
         * resolver there; the lab's DNS here). */
        c->mx = xcalloc(1, sizeof(*c->mx));
        snprintf(c->mx[0].host, sizeof(c->mx[0].host), "%s", c->host);
        c->nmx = 1;
        smtpc_resolve_next_mx(c);
    } else {
        c->state = SMTPC_RESOLVE_MX;
        dns_lookup_mx(r->dns, c->host, smtpc_on_mx, c);
    }
}

void smtpc_cancel_all(struct relay *r)
{
    while (r->clients != NULL) {
        struct smtpc *c = r->clients;
        r->clients = c->next;
        smtpc_free(c);
    }
    r->ndeliveries = 0;
}
