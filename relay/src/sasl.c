/*
 * sasl.c — the client side of Dovecot's authentication protocol (version
 * 1: VERSION/MECH/SPID/CUID/COOKIE/DONE handshake, then AUTH, CONT, OK and
 * FAIL lines, tab-separated), as Postfix 3.7's xsasl_dovecot_server speaks
 * it for smtpd's AUTH command (RFC 4954). One connection per SMTP session,
 * driven by libevent; the session pauses while the server thinks.
 * Ownership: a sasl_client belongs to its session (sasl_client_free).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mxlab/config.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "sasl.h"

#define SASL_DC_MAJOR 1
#define SASL_DC_MINOR 1
#define SASL_TIMEOUT 10 /* seconds: Postfix's AUTH_TIMEOUT */

static const struct {
    const char *name, *value;
} sasl_defaults[] = {
    {"smtpd_sasl_auth_enable", "no"},
    {"smtpd_sasl_type", "cyrus"},
    {"smtpd_sasl_path", "smtpd"},
    {"smtpd_sasl_service", "smtp"},
    {"smtpd_sasl_security_options", "noanonymous"},
    {"smtpd_sasl_tls_security_options", "$smtpd_sasl_security_options"},
    {"smtpd_tls_auth_only", "no"},
    {"smtpd_sasl_authenticated_header", "no"},
    {"broken_sasl_auth_clients", "no"},
    {"smtpd_sender_login_maps", ""},
};

const char *sasl_default(const char *name)
{
    for (size_t i = 0; i < sizeof(sasl_defaults) / sizeof(sasl_defaults[0]);
         i++)
        if (strcmp(sasl_defaults[i].name, name) == 0)
            return sasl_defaults[i].value;
    return NULL;
}

void sasl_set_defaults(struct config *cf)
{
    for (size_t i = 0; i < sizeof(sasl_defaults) / sizeof(sasl_defaults[0]);
         i++)
        config_set_default(cf, sasl_defaults[i].name, sasl_defaults[i].value);
}

/* Postfix's names (main.cf) and Dovecot's (MECH lines) of one bit. */
static const struct {
    const char *conf, *dovecot;
    int bit;
} sasl_props[] = {
    {"noplaintext", "plaintext", SASL_SEC_NOPLAINTEXT},
    {"noactive", "active", SASL_SEC_NOACTIVE},
    {"nodictionary", "dictionary", SASL_SEC_NODICTIONARY},
    {"noanonymous", "anonymous", SASL_SEC_NOANONYMOUS},
    {"forward_secrecy", "forward-secrecy", SASL_SEC_FWD_SECRECY},
    {"mutual_auth", "mutual-auth", SASL_SEC_MUTUAL_AUTH},
    {NULL, "private", SASL_SEC_PRIVATE},
};
#define SASL_NPROPS (sizeof(sasl_props) / sizeof(sasl_props[0]))

/* The bit named by p[0..n) in Postfix's (dovecot 0) or Dovecot's names,
 * any case; 0 if none. */
static int sasl_prop_bit(const char *p, size_t n, int dovecot)
{
    for (size_t i = 0; i < SASL_NPROPS; i++) {
        const char *name = dovecot ? sasl_props[i].dovecot : sasl_props[i].conf;
        if (name != NULL && strlen(name) == n && str_ncasecmp(p, name, n) == 0)
            return sasl_props[i].bit;
    }
    return 0;
}

int sasl_sec_opts_parse(const char *text, const char **bad, size_t *badlen)
{
    int mask = 0;

    while (*text != '\0') {
        size_t n = strcspn(text, ", \t\r\n");
        if (n > 0) {
            int bit = sasl_prop_bit(text, n, 0);
            if (bit == 0) {
                *bad = text;
                *badlen = n;
                return -1;
            }
            mask |= bit;
        }
        text += n;
        text += strspn(text, ", \t\r\n");
    }
    return mask;
}

int sasl_mech_allowed(int mech_props, int conf_opts)
{
    int pos = conf_opts & (SASL_SEC_FWD_SECRECY | SASL_SEC_MUTUAL_AUTH);
    int neg = conf_opts & (SASL_SEC_NOPLAINTEXT | SASL_SEC_NOACTIVE |
                           SASL_SEC_NODICTIONARY | SASL_SEC_NOANONYMOUS);

    return (mech_props & pos) == pos && (mech_props & neg) == 0;
}

static int sasl_load_opts(struct config *cf, const char *name, int *out,
                          char *err, size_t errlen)
{
    const char *bad = NULL;
    size_t badlen = 0;
    int v = sasl_sec_opts_parse(config_get(cf, name), &bad, &badlen);
    const char *where = config_where(cf, name);

    if (v < 0) {
        /* Postfix: "fatal: unknown smtpd_sasl_security_options value
         * \"x\" in \"...\"". */
        snprintf(err, errlen, "%s: unknown %s value \"%.*s\" in \"%s\"",
                 where ? where : "main.cf", name, (int)badlen, bad,
                 config_get(cf, name));
        return -1;
    }
    *out = v;
    return 0;
}

int sasl_conf_load(struct sasl_conf *c, struct config *cf,
                   const char *queue_dir, char *err, size_t errlen)
{
    const char *path = config_get(cf, "smtpd_sasl_path");
    const char *type = config_get(cf, "smtpd_sasl_type");

    memset(c, 0, sizeof(*c));
    strlist_init(&c->sender_login_maps);
    strlist_split(&c->sender_login_maps,
                  config_get(cf, "smtpd_sender_login_maps"));
    c->enable = config_get_bool(cf, "smtpd_sasl_auth_enable") == 1;
    c->tls_auth_only = config_get_bool(cf, "smtpd_tls_auth_only") == 1;
    c->authenticated_header =
        config_get_bool(cf, "smtpd_sasl_authenticated_header") == 1;
    c->broken_clients = config_get_bool(cf, "broken_sasl_auth_clients") == 1;
    c->service = xstrdup(config_get(cf, "smtpd_sasl_service"));
    if (path[0] == '/' || strncmp(path, "inet:", 5) == 0)
        c->path = xstrdup(path);
    else
        c->path = xasprintf("%s/%s", queue_dir,
                            strncmp(path, "unix:", 5) == 0 ? path + 5 : path);
    if (sasl_load_opts(cf, "smtpd_sasl_security_options", &c->sec_opts, err,
                       errlen) < 0 ||
        sasl_load_opts(cf, "smtpd_sasl_tls_security_options", &c->tls_sec_opts,
                       err, errlen) < 0)
        return -1;
    if (c->enable && strcmp(type, "dovecot") != 0) {
        const char *where = config_where(cf, "smtpd_sasl_type");
        /* Postfix: "unsupported SASL server implementation: x"; mxlab
         * has no Cyrus SASL library behind it. */
        snprintf(err, errlen,
                 "%s: unsupported SASL server implementation: %s (mxlab "
                 "speaks only smtpd_sasl_type = dovecot)",
                 where ? where : "main.cf", type);
        return -1;
    }
    return 0;
}

void sasl_conf_clear(struct sasl_conf *c)
{
    free(c->path);
    free(c->service);
    c->path = c->service = NULL;
    strlist_clear(&c->sender_login_maps);
}

int sasl_base64_valid(const char *s)
{
    for (; *s != '\0'; s++)
        if (!(str_isalnum((unsigned char)*s) || *s == '+' || *s == '/' ||
              *s == '='))
            return 0;
    return 1;
}

/* The next tab-separated field of [*p, end) into f (NUL terminated,
 * unprintable bytes as '?'); 0 when there is none left (*p NULL). */
static int sasl_dc_field(const char **p, const char *end, struct strbuf *f)
{
    const char *q = *p;

    if (q == NULL)
        return 0;
    strbuf_reset(f);
    while (q < end && *q != '\t') {
        unsigned char ch = (unsigned char)*q++;
        strbuf_putc(f, ch < 0x20 || ch >= 0x7f ? '?' : (char)ch);
    }
    strbuf_putc(f, '\0');
    f->len--;
    *p = q < end ? q + 1 : NULL; /* past the tab; NULL: that was the last */
    return 1;
}

static int sasl_dc_number(const char *s, unsigned long *out)
{
    long v;

    if (str_to_long(s, &v) < 0 || v < 0)
        return -1;
    *out = (unsigned long)v;
    return 0;
}

/* OK, CONT and FAIL: the request id, then the arguments. */
static void sasl_dc_reply_args(const char **p, const char *end,
                               struct sasl_dc_line *out, struct strbuf *f)
{
    if (!sasl_dc_field(p, end, f) || sasl_dc_number(f->buf, &out->id) < 0) {
        out->kind = SASL_DC_BAD;
        return;
    }
    if (out->kind == SASL_DC_CONT) {
        if (!sasl_dc_field(p, end, f))
            out->kind = SASL_DC_BAD;
        else
            out->data = xstrdup(f->buf);
        return;
    }
    while (sasl_dc_field(p, end, f)) {
        if (strncmp(f->buf, "user=", 5) == 0) {
            free(out->user);
            out->user = xstrdup(f->buf + 5);
        } else if (strncmp(f->buf, "reason=", 7) == 0) {
            free(out->reason);
            out->reason = xstrdup(f->buf + 7);
        } else if (strcmp(f->buf, "temp") == 0) {
            out->temp = 1;
        }
    }
}

static void sasl_dc_mech(const char **p, const char *end,
                         struct sasl_dc_line *out, struct strbuf *f)
{
    if (!sasl_dc_field(p, end, f) || f->len == 0 ||
        f->len >= sizeof(out->mech)) {
        out->kind = SASL_DC_BAD;
        return;
    }
    memcpy(out->mech, f->buf, f->len + 1);
    while (sasl_dc_field(p, end, f))
        out->props |= sasl_prop_bit(f->buf, f->len, 1);
}

void sasl_dc_parse(const char *line, size_t len, struct sasl_dc_line *out)
{
    static const struct {
        const char *cmd;
        enum sasl_dc_kind kind;
    } cmds[] = {
        {"VERSION", SASL_DC_VERSION}, {"MECH", SASL_DC_MECH},
        {"SPID", SASL_DC_SPID},       {"DONE", SASL_DC_DONE},
        {"OK", SASL_DC_OK},           {"CONT", SASL_DC_CONT},
        {"FAIL", SASL_DC_FAIL},
    };
    const char *p = line, *end = line + len;
    struct strbuf f;

    memset(out, 0, sizeof(*out));
    strbuf_init(&f);
    sasl_dc_field(&p, end, &f);
    out->kind = SASL_DC_OTHER;
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(f.buf, cmds[i].cmd) == 0)
            out->kind = cmds[i].kind;
    switch (out->kind) {
    case SASL_DC_VERSION:
        if (!sasl_dc_field(&p, end, &f) ||
            sasl_dc_number(f.buf, &out->major) < 0 ||
            !sasl_dc_field(&p, end, &f) ||
            sasl_dc_number(f.buf, &out->minor) < 0)
            out->kind = SASL_DC_BAD;
        break;
    case SASL_DC_MECH:
        sasl_dc_mech(&p, end, out, &f);
        break;
    case SASL_DC_OK:
    case SASL_DC_CONT:
    case SASL_DC_FAIL:
        sasl_dc_reply_args(&p, end, out, &f);
        break;
    default:
        break;
    }
    strbuf_clear(&f);
}

void sasl_dc_line_clear(struct sasl_dc_line *l)
{
    free(l->user);
    free(l->reason);
    free(l->data);
    l->user = l->reason = l->data = NULL;
}

void sasl_dc_auth_request(struct strbuf *out, unsigned long id,
                          const char *mech, const char *service,
                          const char *lip, const char *rip, int secured,
                          const char *resp)
{
    strbuf_printf(out, "AUTH\t%lu\t%s\tservice=%s\tnologin\tlip=%s\trip=%s", id,
                  mech, service, lip, rip);
    if (secured)
        strbuf_puts(out, "\tsecured");
    if (resp != NULL)
        strbuf_printf(out, "\tresp=%s", resp);
    strbuf_putc(out, '\n');
}

/* The connection. */

/* SC_WAITING: for the server; SC_CHALLENGED: for the SMTP client's
 * answer to a 334. */
enum { SC_HANDSHAKE, SC_READY, SC_WAITING, SC_CHALLENGED, SC_DEAD };

struct sasl_client {
    const struct sasl_conf *conf;
    struct bufferevent *bev;
    struct event *later; /* reports a failed connect outside _new() */
    int state;
    int tls;
    int have_mech;
    char *lip, *rip;
    struct strlist mechs; /* those the security options allow */
    struct strbuf mechstr;
    unsigned long last_id, next_id;
    char *username;
    char *mech; /* of the exchange in progress */
    sasl_ready_fn *ready;
    sasl_warn_fn *warn;
    sasl_reply_fn *reply;
    void *arg;
};

static void sasl_warn(struct sasl_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sasl_warn(struct sasl_client *c, const char *fmt, ...)
{
    char text[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->warn(c->arg, text);
}

/* The connection is unusable: whoever waits hears of it once. */
static void sasl_dead(struct sasl_client *c)
{
    int was = c->state;

    c->state = SC_DEAD;
    if (c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ);
    if (was == SC_HANDSHAKE)
        c->ready(c->arg, NULL);
    else if (was == SC_WAITING)
        c->reply(c->arg, SASL_TEMP, "Connection lost to authentication server");
}

/* A handshake line; 1 if it ended the handshake (ready() ran: c may be
 * gone). */
static int sasl_handshake_line(struct sasl_client *c,
                               const struct sasl_dc_line *l)
{
    int opts = c->tls ? c->conf->tls_sec_opts : c->conf->sec_opts;

    switch (l->kind) {
    case SASL_DC_VERSION:
        if (l->major == SASL_DC_MAJOR)
            return 0;
        sasl_warn(c, "SASL: Protocol version mismatch (%lu vs. %d)", l->major,
                  SASL_DC_MAJOR);
        sasl_dead(c);
        return 1;
    case SASL_DC_BAD:
        sasl_warn(c, "SASL: Protocol version error");
        sasl_dead(c);
        return 1;
    case SASL_DC_MECH:
        c->have_mech = 1;
        if ((l->props & SASL_SEC_PRIVATE) == 0 &&
            sasl_mech_allowed(l->props, opts)) {
            strlist_push(&c->mechs, l->mech);
            strbuf_printf(&c->mechstr, "%s%s", c->mechstr.len ? " " : "",
                          l->mech);
        }
        return 0;
    case SASL_DC_SPID:
        if (c->have_mech)
            return 0;
        sasl_warn(c, "SASL: Connected to wrong auth socket (auth-master "
                     "instead of auth-client)");
        sasl_dead(c);
        return 1;
    case SASL_DC_DONE:
        c->state = SC_READY;
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        /* Postfix: no mechanism left is "no SASL authentication
         * mechanisms". */
        c->ready(c->arg, c->mechstr.len ? c->mechstr.buf : NULL);
        return 1;
    default:
        return 0; /* CUID, COOKIE, ...: ignored, as Postfix does */
    }
}

/* A line while an exchange waits; 1 if it was the answer (reply() ran:
 * c may be gone). */
static int sasl_reply_line(struct sasl_client *c, const struct sasl_dc_line *l)
{
    if ((l->kind != SASL_DC_OK && l->kind != SASL_DC_CONT &&
         l->kind != SASL_DC_FAIL) ||
        l->id != c->last_id)
        return 0; /* another request's, or not a reply: ignored */
    c->state = SC_READY;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    if (l->kind == SASL_DC_CONT) {
        c->state = SC_CHALLENGED;
        c->reply(c->arg, SASL_MORE, l->data);
        return 1;
    }
    if (l->kind == SASL_DC_OK || l->user != NULL) {
        free(c->username);
        c->username = l->user ? xstrdup(l->user) : NULL;
    }
    if (l->kind == SASL_DC_OK && c->username == NULL) {
        sasl_warn(c, "missing Dovecot server OK username field");
        c->reply(c->arg, SASL_FAIL, "Authentication backend error");
    } else if (l->kind == SASL_DC_OK) {
        c->reply(c->arg, SASL_DONE, "");
    } else {
        /* Dovecot gives no reason for a wrong password: Postfix 3.7
         * says "(reason unavailable)". */
        c->reply(c->arg, l->temp ? SASL_TEMP : SASL_FAIL,
                 l->reason ? l->reason : "(reason unavailable)");
    }
    return 1;
}

/* The server's lines. A callback may free c (the session ended): it is
 * not touched after one; lines still buffered then are moot. */
static void sasl_on_read(struct bufferevent *bev, void *arg)
{
    struct sasl_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line;

    while (c->state != SC_DEAD &&
           (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        struct sasl_dc_line l;
        int called = 0;
        sasl_dc_parse(line, n, &l);
        free(line);
        if (c->state == SC_HANDSHAKE)
            called = sasl_handshake_line(c, &l);
        else if (c->state == SC_WAITING)
            called = sasl_reply_line(c, &l);
        sasl_dc_line_clear(&l);
        if (called)
            return;
    }
}

static void sasl_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sasl_client *c = arg;
    int err = EVUTIL_SOCKET_ERROR();

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (c->state == SC_HANDSHAKE && (what & BEV_EVENT_ERROR))
        sasl_warn(c, "SASL: Connect to Dovecot auth socket '%s' failed: %s",
                  c->conf->path, strerror(err));
    else if (what & BEV_EVENT_TIMEOUT)
        sasl_warn(c, "SASL: read timeout on Dovecot auth socket '%s'",
                  c->conf->path);
    sasl_dead(c);
}

static void sasl_on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sasl_dead(arg);
}

/* Start connecting to conf->path ("inet:host:port" or a socket path);
 * -1 with errno when it cannot even start. */
static int sasl_connect(struct sasl_client *c)
{
    const char *path = c->conf->path;
    struct sockaddr_un sun;
    struct netaddr na;

    if (strncmp(path, "inet:", 5) == 0) {
        if (netaddr_parse(path + 5, 0, &na) < 0 || netaddr_port(&na) == 0) {
            errno = EINVAL;
            return -1;
        }
        return bufferevent_socket_connect(c->bev, (struct sockaddr *)&na.ss,
                                          (int)na.len);
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    return bufferevent_socket_connect(c->bev, (struct sockaddr *)&sun,
                                      sizeof(sun));
}

struct sasl_client *sasl_client_new(struct event_base *base,
                                    const struct sasl_conf *conf, int tls,
                                    const char *lip, const char *rip,
                                    sasl_ready_fn *ready, sasl_warn_fn *warn,
                                    void *arg)
{
    struct sasl_client *c = xcalloc(1, sizeof(*c));
    struct timeval tv = {SASL_TIMEOUT, 0};

    c->conf = conf;
    c->tls = tls;
    c->lip = xstrdup(lip);
    c->rip = xstrdup(rip);
    c->ready = ready;
    c->warn = warn;
    c->arg = arg;
    strlist_init(&c->mechs);
    strbuf_init(&c->mechstr);
    c->later = evtimer_new(base, sasl_on_later, c);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, sasl_on_read, NULL, sasl_on_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "VERSION\t%d\t%d\nCPID\t%u\n", SASL_DC_MAJOR,
                        SASL_DC_MINOR, (unsigned)getpid());
    if (sasl_connect(c) < 0) {
        struct timeval now = {0, 0};
        sasl_warn(c, "SASL: Connect to Dovecot auth socket '%s' failed: %s",
                  conf->path, strerror(errno));
        evtimer_add(c->later, &now);
    }
    return c;
}

static void sasl_send(struct sasl_client *c, struct strbuf *req,
                      sasl_reply_fn *reply)
{
    struct timeval tv = {SASL_TIMEOUT, 0};

    c->reply = reply;
    if (c->state != SC_READY && c->state != SC_CHALLENGED) {
        reply(c->arg, SASL_TEMP, "Can't connect to authentication server");
        return;
    }
    c->state = SC_WAITING;
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_write(c->bev, req->buf, req->len);
}

void sasl_client_first(struct sasl_client *c, const char *mech,
                       const char *resp, sasl_reply_fn *reply)
{
    struct strbuf req;

    if (!strlist_contains_case(&c->mechs, mech)) {
        reply(c->arg, SASL_FAIL, "Invalid authentication mechanism");
        return;
    }
    if (resp != NULL && !sasl_base64_valid(resp)) {
        reply(c->arg, SASL_FAIL, "Invalid base64 data in initial response");
        return;
    }
    free(c->mech);
    c->mech = xstrdup(mech);
    c->last_id = ++c->next_id;
    strbuf_init(&req);
    sasl_dc_auth_request(&req, c->last_id, mech, c->conf->service, c->lip,
                         c->rip, c->tls, resp);
    sasl_send(c, &req, reply);
    strbuf_clear(&req);
}

void sasl_client_next(struct sasl_client *c, const char *resp,
                      sasl_reply_fn *reply)
{
    struct strbuf req;

    if (!sasl_base64_valid(resp)) {
        sasl_client_abort(c);
        reply(c->arg, SASL_FAIL, "Invalid base64 data in continued response");
        return;
    }
    strbuf_init(&req);
    strbuf_printf(&req, "CONT\t%lu\t%s\n", c->last_id, resp);
    sasl_send(c, &req, reply);
    strbuf_clear(&req);
}

void sasl_client_abort(struct sasl_client *c)
{
    if (c->state == SC_CHALLENGED)
        c->state = SC_READY;
}

const char *sasl_client_username(const struct sasl_client *c)
{
    return c->username;
}

int sasl_client_busy(const struct sasl_client *c)
{
    return c->state == SC_HANDSHAKE || c->state == SC_WAITING;
}

void sasl_client_free(struct sasl_client *c)
{
    if (c == NULL)
        return;
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    event_free(c->later);
    strlist_clear(&c->mechs);
    strbuf_clear(&c->mechstr);
    free(c->lip);
    free(c->rip);
    free(c->username);
    free(c->mech);
    free(c);
}
