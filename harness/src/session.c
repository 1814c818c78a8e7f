/*
 * session.c — the [session] player (session.h). Replies come whole from
 * smtpcli (its bounded reader); their lines wait in a queue until the
 * session's "S" lines judge them:
 *  - "S: 250 ..." matches a whole reply (continuation lines are skipped
 *    unless the pattern lists them, "S: 250-...");
 *  - "S~ regex" looks for its line within the reply (EHLO's extensions
 *    come in any order), "S! regex" fails if any line of it matches;
 *  - "S= closed": the server ends the connection.
 * A transcript that starts by sending waits for the 2xx greeting first.
 * Every wait is bounded by the scenario's timeout.
 */
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/strutil.h"
#include "smtpcli.h"

struct session_line {
    char *text;
    int code; /* the reply's code, -1 on a line without it */
    int last; /* the reply's last line */
};

struct session {
    struct session_ctx ctx;
    const struct scn_block *b;
    struct smtpcli *cli;
    struct event *deadline;
    size_t item;
    int need_banner;
    /* STARTTLS: command lines sent and not answered yet, and which of
     * those replies (counting from 1) answers STARTTLS (0: none) */
    size_t awaited, starttls_reply;
    int in_body; /* after a 354: message lines await no reply */
    int handshaking;
    int over;
    int depth; /* callbacks running: free afterwards */
    int freed;
    /* lines received and not judged yet, oldest at head */
    struct session_line *q;
    size_t qhead, qlen, qcap;
    /* the lines of the reply being judged that were passed already:
     * "S~" finds its line anywhere in the reply (keywords come in any
     * order); forgotten when a command is sent or a new reply begins */
    struct strlist seen;
    int reply_open;
    session_done_fn *done;
    void *arg;
};

static void session_advance(struct session *ss);
static void session_destroy(struct session *ss);

/* Around every callback: the runner's done may free the session. */
static void session_enter(struct session *ss)
{
    ss->depth++;
}

static void session_leave(struct session *ss)
{
    if (--ss->depth == 0 && ss->freed)
        session_destroy(ss);
}

/* The end, either way: the connection goes, the runner is told. */
static void session_end(struct session *ss, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void session_end(struct session *ss, int line, const char *fmt, ...)
{
    char msg[1600];
    va_list ap;

    if (ss->over)
        return;
    ss->over = 1;
    evtimer_del(ss->deadline);
    /* [session ... keep]: the connection stays open (what the server
     * says later is not judged) until the runner frees the session. */
    if (fmt != NULL || !ss->b->keep) {
        smtpcli_free(ss->cli);
        ss->cli = NULL;
    }
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    }
    ss->done(ss->arg, line, fmt ? msg : NULL);
}

static void session_arm(struct session *ss)
{
    struct timeval tv = {ss->ctx.timeout_ms / 1000,
                         (ss->ctx.timeout_ms % 1000) * 1000};

    if (!evtimer_pending(ss->deadline, NULL))
        evtimer_add(ss->deadline, &tv);
}

static const struct scn_item *session_item(const struct session *ss)
{
    const struct scn_block *b = ss->b;

    return &b->items[ss->item < b->nitems ? ss->item : b->nitems - 1];
}

static void session_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct session *ss = arg;
    const struct scn_item *it = session_item(ss);

    (void)fd;
    (void)what;
    session_enter(ss);
    session_end(ss, it->line, "timed out after %ld ms waiting for \"%s\"",
                ss->ctx.timeout_ms,
                ss->need_banner ? "220 greeting" : it->text);
    session_leave(ss);
}

/* mxlab diff's observation of the line a S:, S~ or S! line judged: its
 * code and enhanced status code (RFC 3463 "class.subject.detail"). */
static void session_observe(struct session *ss, int line, const char *reply)
{
    size_t len = strlen(reply), n, k = 0;
    long code = 0;
    const char *e;

    while (k < len && reply[k] >= '0' && reply[k] <= '9' && k < 9)
        code = code * 10 + (reply[k++] - '0');
    e = reply + (len < 3 ? len : 3);
    while (*e == ' ' || *e == '-')
        e++;
    n = strspn(e, "0123456789.");
    if (n < 5 || (e[0] != '2' && e[0] != '4' && e[0] != '5') || e[1] != '.')
        n = 0;
    strbuf_printf(ss->ctx.observations, "%d reply %ld%s%.*s\n", line, code,
                  n ? " " : "", (int)n, e);
}

/* Command lines that went out: each awaits a reply; STARTTLS's (sent
 * with "C:", not as raw bytes) is the one that decides whether the
 * session goes on under TLS. */
static void session_note_sent(struct session *ss, const char *data, size_t len,
                              int may_starttls)
{
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n;
        if (nl == NULL)
            break; /* not a whole line: not a command yet */
        n = (size_t)(nl - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (ss->in_body) {
            /* RFC 5321 section 4.1.1.4: only the final "." is answered */
            ss->in_body = !(n == 1 && p[0] == '.');
            ss->awaited += !ss->in_body;
            p = nl + 1;
            continue;
        }
        ss->awaited++;
        if (may_starttls && n == 8 && str_ncasecmp(p, "STARTTLS", 8) == 0)
            ss->starttls_reply = ss->awaited;
        p = nl + 1;
    }
}

/* "C:" (captures substituted, CRLF added) or "C=" (escapes decoded, as
 * is). 0, or -1 when the session ended. */
static int session_send(struct session *ss, const struct scn_item *it)
{
    struct strbuf out;
    char unknown[128];
    int raw = it->kind == SCN_SEND_RAW;

    strbuf_init(&out);
    if (raw) {
        scenario_unescape(it->text, &out);
    } else if (capture_substitute(ss->ctx.vars, it->text, &out, unknown,
                                  sizeof(unknown)) < 0) {
        strbuf_clear(&out);
        session_end(ss, it->line, "unknown variable {%s}", unknown);
        return -1;
    }
    strbuf_printf(ss->ctx.transcript, "C%c %s\n", raw ? '=' : ':',
                  raw       ? it->text
                  : out.buf ? out.buf
                            : "");
    if (!raw)
        strbuf_append(&out, "\r\n", 2);
    smtpcli_write(ss->cli, out.buf ? out.buf : "", out.len);
    session_note_sent(ss, out.buf ? out.buf : "", out.len, !raw);
    strlist_clear(&ss->seen);
    ss->reply_open = 0;
    strbuf_clear(&out);
    return 0;
}

/* The server said 220 to STARTTLS (RFC 3207 section 4): the handshake
 * starts on the same socket; the session waits for it. A server that
 * sent anything more in plain text is wrong (and would be exploitable,
 * CVE-2011-0411): that fails the step. */
static void session_starttls(struct session *ss, int line)
{
    size_t extra = 0;

    if (smtpcli_starttls(ss->cli, &extra) == 0) {
        ss->handshaking = 1;
        session_arm(ss);
    } else if (extra > 0) {
        session_end(ss, line,
                    "the server sent %zu more bytes in plain text after its "
                    "220 to STARTTLS",
                    extra);
    } else {
        session_end(ss, line, "cannot start TLS (OpenSSL or libevent failure)");
    }
}

/* The greeting, before the first line is sent: 1 when it was judged
 * (good), 0 to read on, -1 when the session ended. */
static int session_banner(struct session *ss, const struct session_line *l)
{
    if (l->code >= 0 && !l->last)
        return 0;
    ss->need_banner = 0;
    if (l->code < 200 || l->code > 299) {
        session_end(ss, session_item(ss)->line,
                    "expected a 2xx greeting, got \"%s\"", l->text);
        return -1;
    }
    return 1;
}

/* Judge one received line against the current item. 1: the item is
 * done; 0: the line was passed over; -1: the session ended. */
static int session_judge(struct session *ss, const struct session_line *l)
{
    const struct scn_item *it = session_item(ss);
    int ok;

    if (it->kind == SCN_EXPECT_CLOSED) {
        session_end(ss, it->line,
                    "expected the server to close the connection, got \"%s\"",
                    l->text);
        return -1;
    }
    /* "S! regex": every line of the reply is looked at. */
    if (it->kind == SCN_EXPECT_NO_LINE && capture_regex(it->text, l->text)) {
        session_end(ss, it->line, "a line of the reply matches \"%s\": \"%s\"",
                    it->text, l->text);
        return -1;
    }
    int pattern_continues = strlen(it->text) > 3 && it->text[3] == '-';
    if (l->code >= 0 && !l->last && !pattern_continues &&
        it->kind != SCN_EXPECT_REGEX)
        return 0;
    ok = it->kind == SCN_EXPECT_NO_LINE ? 1
         : it->kind == SCN_EXPECT_REGEX
             ? capture_regex(it->text, l->text)
             : capture_glob(ss->ctx.vars, it->text, l->text);
    if (!ok && it->kind == SCN_EXPECT_REGEX && l->code >= 0 && !l->last)
        return 0;
    /* Observed for mxlab diff: the line that was judged (not the
     * extensions an S~ looked past, which differ between servers). */
    session_observe(ss, it->line, l->text);
    if (!ok) {
        session_end(ss, it->line, "expected \"%s\", got \"%s\"", it->text,
                    l->text);
        return -1;
    }
    return 1;
}

/* A whole reply was judged: was it the answer to STARTTLS? 1 if TLS
 * starts (the rest waits for the handshake). */
static int session_reply_done(struct session *ss, const struct session_line *l,
                              int line)
{
    if (l->code < 0 || !l->last || ss->awaited == 0)
        return 0;
    ss->awaited--;
    ss->in_body = l->code == 354;
    if (ss->starttls_reply > 0 && --ss->starttls_reply == 0 && l->code == 220) {
        session_starttls(ss, line);
        return 1;
    }
    return 0;
}

/* "S~ regex" whose line is not in what is left of the reply but was
 * passed already by an earlier S~ of the same reply: met (EHLO keywords
 * in any order). 1 if so. */
static int session_regex_seen(struct session *ss, const struct scn_item *it)
{
    if (it->kind != SCN_EXPECT_REGEX ||
        (!ss->reply_open && ss->qlen > 0)) /* a new reply is here */
        return 0;
    for (size_t i = ss->qhead; i < ss->qhead + ss->qlen; i++) {
        if (capture_regex(it->text, ss->q[i].text))
            return 0; /* ahead: the usual way finds it */
        if (ss->q[i].last)
            break;
    }
    for (size_t i = 0; i < ss->seen.n; i++)
        if (capture_regex(it->text, ss->seen.v[i])) {
            strbuf_printf(ss->ctx.transcript, "S~ %s: matched above: %s\n",
                          it->text, ss->seen.v[i]);
            session_observe(ss, it->line, ss->seen.v[i]);
            return 1;
        }
    return 0;
}

static void session_pop(struct session *ss, struct session_line *out)
{
    if (!ss->reply_open)
        strlist_clear(&ss->seen);
    ss->reply_open = !ss->q[ss->qhead].last;
    strlist_push(&ss->seen, ss->q[ss->qhead].text);
    *out = ss->q[ss->qhead++];
    ss->qlen--;
    if (ss->qlen == 0)
        ss->qhead = 0;
}

static void session_advance(struct session *ss)
{
    const struct scn_block *b = ss->b;

    while (!ss->over && !ss->handshaking && ss->item < b->nitems) {
        const struct scn_item *it = &b->items[ss->item];
        struct session_line l;
        int rc;
        if ((it->kind == SCN_SEND || it->kind == SCN_SEND_RAW) &&
            !ss->need_banner) {
            if (session_send(ss, it) < 0)
                return;
            ss->item++;
            continue;
        }
        if (!ss->need_banner && session_regex_seen(ss, it)) {
            ss->item++;
            continue;
        }
        if (ss->qlen == 0 && it->kind == SCN_EXPECT_REGEX && !ss->reply_open &&
            ss->awaited == 0 && ss->seen.n > 0) {
            /* The reply is all in, no other is coming: say so now. */
            session_end(ss, it->line, "expected \"%s\", not in the reply (%s)",
                        it->text, ss->seen.v[ss->seen.n - 1]);
            return;
        }
        if (ss->qlen == 0) {
            session_arm(ss);
            return;
        }
        evtimer_del(ss->deadline);
        session_pop(ss, &l);
        strbuf_printf(ss->ctx.transcript, "S: %s\n", l.text);
        rc = ss->need_banner ? session_banner(ss, &l) : session_judge(ss, &l);
        if (rc > 0 && !ss->need_banner && it->kind != SCN_SEND &&
            it->kind != SCN_SEND_RAW) {
            ss->item++;
            rc = session_reply_done(ss, &l, it->line) ? -1 : rc;
        }
        free(l.text);
        if (rc < 0)
            return;
    }
    if (!ss->over && !ss->handshaking && ss->item >= b->nitems)
        session_end(ss, b->line, NULL);
}

/* A reply from smtpcli: its lines join the queue. */
static void session_queue_reply(struct session *ss,
                                const struct smtpcli_reply *rep)
{
    for (size_t i = 0; i < rep->nline; i++) {
        struct session_line l;
        /* a line that does not start like the reply's first is not one
         * of its reply lines (smtpcli keeps it within the reply) */
        l.code = i == 0 || strncmp(rep->line[i], rep->line[0], 3) == 0
                     ? rep->code
                     : -1;
        l.last = i + 1 == rep->nline;
        l.text = xstrdup(rep->line[i]);
        if (ss->qhead + ss->qlen == ss->qcap) {
            ss->qcap = ss->qcap ? ss->qcap * 2 : 16;
            ss->q = xrealloc(ss->q, ss->qcap * sizeof(*ss->q));
        }
        ss->q[ss->qhead + ss->qlen++] = l;
    }
}

/* The connection ended (closed, reset, refused) with what it said. */
static void session_gone(struct session *ss, const struct smtpcli_event *ev)
{
    const struct scn_item *it = session_item(ss);
    char where[96];

    if (ev->kind == SMTPCLI_EV_ERROR && ss->handshaking) {
        const char *why = ev->text ? ev->text : "";
        const char *p = str_casestart(why, "TLS handshake failed: ");
        session_end(ss, ss->b->items[ss->item ? ss->item - 1 : 0].line,
                    "TLS handshake with the server failed: %s", p ? p : why);
        return;
    }
    if (ev->kind == SMTPCLI_EV_ERROR && ev->text &&
        strcmp(ev->text, "connection refused") == 0) {
        struct lab_endpoint ep;
        char err[256];
        lab_endpoint(ss->ctx.lab, ss->b->to, &ep, err, sizeof(err));
        session_end(ss, ss->b->line, "cannot connect to %s: connection refused",
                    netaddr_str(&ep.addr, where, sizeof(where)));
        return;
    }
    if (it->kind == SCN_EXPECT_CLOSED) {
        /* "S= closed" is the session's last line (scenario.c). */
        strbuf_printf(ss->ctx.transcript, "S= closed\n");
        session_end(ss, ss->b->line, NULL);
    } else if (ev->kind == SMTPCLI_EV_CLOSED) {
        session_end(ss, it->line,
                    "connection closed by the server while waiting for "
                    "\"%s\"",
                    it->text);
    } else {
        session_end(ss, it->line, "%s while waiting for \"%s\"",
                    ev->text ? ev->text : "connection failed", it->text);
    }
}

static void session_on_event(struct smtpcli *c, const struct smtpcli_event *ev,
                             void *arg)
{
    struct session *ss = arg;

    (void)c;
    session_enter(ss);
    switch (ev->kind) {
    case SMTPCLI_EV_CONNECTED:
    case SMTPCLI_EV_TLS:
        if (ev->text != NULL)
            strbuf_printf(ss->ctx.transcript, "== TLS: %s\n", ev->text);
        if (ss->handshaking)
            evtimer_del(ss->deadline);
        ss->handshaking = 0;
        session_advance(ss);
        break;
    case SMTPCLI_EV_REPLY:
        session_queue_reply(ss, ev->reply);
        session_advance(ss);
        break;
    case SMTPCLI_EV_CLOSED:
    case SMTPCLI_EV_ERROR:
        session_advance(ss); /* what came before the end first */
        if (!ss->over)
            session_gone(ss, ev);
        break;
    }
    session_leave(ss);
}

struct session *session_start(const struct session_ctx *ctx,
                              const struct scn_block *b, session_done_fn *done,
                              void *arg, int *line, char *err, size_t errlen)
{
    struct lab_endpoint ep;
    struct netaddr src;
    char why[512];
    int bind;

    *line = b->line;
    strbuf_printf(ctx->transcript, "== [session from %s%s%s] (line %d)\n",
                  b->arg ? b->arg : "127.0.0.1", b->to ? " to " : "",
                  b->to ? b->to : "", b->line);
    if (lab_endpoint(ctx->lab, b->to, &ep, err, errlen) < 0 ||
        (bind = lab_source(ctx->lab, b->arg, &src, err, errlen)) < 0)
        return NULL;
    struct session *ss = xcalloc(1, sizeof(*ss));

    strlist_init(&ss->seen);
    ss->ctx = *ctx;
    ss->b = b;
    ss->done = done;
    ss->arg = arg;
    ss->deadline = evtimer_new(ctx->base, session_on_deadline, ss);
    /* A transcript that starts by sending expects the greeting first. */
    ss->need_banner =
        b->items[0].kind == SCN_SEND || b->items[0].kind == SCN_SEND_RAW;
    /* An smtps service: TLS from the first byte, the greeting under it. */
    ss->handshaking = ep.tls;
    ss->cli =
        smtpcli_connect(ctx->base, &ep.addr, bind ? &src : NULL, ep.tls,
                        ctx->tls_ctx, session_on_event, ss, why, sizeof(why));
    if (ss->cli == NULL) {
        snprintf(err, errlen, "connect from %s: %s",
                 b->arg ? b->arg : "127.0.0.1", why);
        ss->over = 1;
        session_destroy(ss);
        return NULL;
    }
    session_arm(ss);
    return ss;
}

static void session_destroy(struct session *ss)
{
    smtpcli_free(ss->cli);
    if (ss->deadline != NULL)
        event_free(ss->deadline);
    for (size_t i = 0; i < ss->qlen; i++)
        free(ss->q[ss->qhead + i].text);
    free(ss->q);
    strlist_clear(&ss->seen);
    free(ss);
}

void session_free(struct session *ss)
{
    if (ss == NULL)
        return;
    if (ss->depth > 0) {
        ss->freed = 1; /* session_leave frees it */
        return;
    }
    session_destroy(ss);
}
