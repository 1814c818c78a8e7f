/*
 * scenario.c — the scenario parser. See scenario.h and scenarios/README.md.
 * Lines before the first section may only be blank or '#' comments; native
 * bodies are kept byte for byte (their own comment syntax applies).
 */
#include "harness/scenario.h"

#include "expect.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/fsutil.h"
#include "mxlab/netaddr.h"
#include "mxlab/posixre.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct scn_parser {
    struct scenario *s;
    const char *path;
    char *err;
    size_t errlen;
    struct strbuf body; /* native body being collected */
    int in_meta;
};

static int scn_error(struct scn_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int scn_error(struct scn_parser *p, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
    return -1;
}

static struct scn_block *scn_cur(struct scn_parser *p)
{
    return p->s->nblocks ? &p->s->blocks[p->s->nblocks - 1] : NULL;
}

static int scn_is_native(enum scn_block_kind k)
{
    return k == SCN_MAINCF || k == SCN_FILE || k == SCN_ZONE ||
           k == SCN_MASTERCF || k == SCN_DAEMON || k == SCN_CHANGE_MAINCF ||
           k == SCN_CHANGE_FILE || k == SCN_CHANGE_ZONE || k == SCN_SYSTEM;
}

static void scn_close_block(struct scn_parser *p)
{
    struct scn_block *b = scn_cur(p);

    if (b != NULL && scn_is_native(b->kind) && b->text == NULL)
        b->text = strbuf_detach(&p->body);
    strbuf_reset(&p->body);
}

/* Section headers: each kind checks its own arguments into b (freed by
 * the caller on error). */
typedef int scn_hdr_fn(struct scn_parser *p, int line, const struct strlist *w,
                       struct scn_block *b);

static int scn_hdr_none(struct scn_parser *p, int line, const struct strlist *w,
                        struct scn_block *b)
{
    (void)b;
    if (w->n != 1)
        return scn_error(p, line, "[%s] takes no argument", w->v[0]);
    return 0;
}

/* [file NAME], [zone ORIGIN], [mx IP] */
static int scn_hdr_one(struct scn_parser *p, int line, const struct strlist *w,
                       struct scn_block *b)
{
    struct netaddr na;

    if (w->n != 2)
        return scn_error(p, line, "[%s] needs one argument", w->v[0]);
    if (b->kind == SCN_FILE &&
        (strchr(w->v[1], '/') != NULL || w->v[1][0] == '.'))
        return scn_error(p, line,
                         "[file %s]: a plain file name is expected (it is "
                         "written into the SUT's config directory)",
                         w->v[1]);
    if (b->kind == SCN_MX &&
        (netaddr_parse(w->v[1], 0, &na) < 0 || netaddr_port(&na) != 0))
        return scn_error(p, line,
                         "[mx %s]: an IP address without port is expected "
                         "(127.x.y.z)",
                         w->v[1]);
    b->arg = xstrdup(w->v[1]);
    return 0;
}

/* [session [from IP] [to SERVICE] [keep]] */
static int scn_hdr_session(struct scn_parser *p, int line,
                           const struct strlist *w, struct scn_block *b)
{
    for (size_t i = 1; i < w->n; i += 2) {
        struct netaddr na;
        int from = strcmp(w->v[i], "from") == 0;
        if (strcmp(w->v[i], "keep") == 0 && !b->keep) {
            b->keep = 1; /* one word: the loop's step is undone */
            i--;
            continue;
        }
        if (i + 1 >= w->n || (from ? b->arg : b->to) != NULL ||
            (!from && strcmp(w->v[i], "to") != 0) ||
            (from && netaddr_parse(w->v[i + 1], 0, &na) < 0))
            return scn_error(p, line,
                             "expected [session], [session from IP], "
                             "[session to SERVICE] or [session from IP to "
                             "SERVICE], each with \"keep\" at the end "
                             "optionally");
        if (from)
            b->arg = xstrdup(w->v[i + 1]);
        else
            b->to = xstrdup(w->v[i + 1]);
    }
    return 0;
}

/* [change mx IP], [change dns], [change main.cf], [change file NAME],
 * [change zone ORIGIN] */
static int scn_hdr_change(struct scn_parser *p, int line,
                          const struct strlist *w, struct scn_block *b)
{
    struct netaddr na;

    if (w->n == 2 && strcmp(w->v[1], "dns") == 0) {
        b->kind = SCN_CHANGE_DNS;
        return 0;
    }
    if (w->n == 2 && strcmp(w->v[1], "main.cf") == 0) {
        b->kind = SCN_CHANGE_MAINCF;
        return 0;
    }
    if (w->n == 3 && strcmp(w->v[1], "file") == 0 &&
        strchr(w->v[2], '/') == NULL && w->v[2][0] != '.') {
        b->kind = SCN_CHANGE_FILE;
        b->arg = xstrdup(w->v[2]);
        return 0;
    }
    if (w->n == 3 && strcmp(w->v[1], "zone") == 0) {
        b->kind = SCN_CHANGE_ZONE;
        b->arg = xstrdup(w->v[2]);
        return 0;
    }
    if (w->n != 3 || strcmp(w->v[1], "mx") != 0 ||
        netaddr_parse(w->v[2], 0, &na) < 0)
        return scn_error(p, line,
                         "expected [change mx IP], [change dns], [change "
                         "main.cf], [change file NAME] or [change zone "
                         "ORIGIN]");
    b->arg = xstrdup(w->v[2]);
    return 0;
}

/* [system NAME IP]: a second system, listening on IP (127.x.y.z) at the
 * port the lab delivers to, so that MX records can point at it. */
static int scn_hdr_system(struct scn_parser *p, int line,
                          const struct strlist *w, struct scn_block *b)
{
    struct netaddr na;

    if (w->n != 3 || netaddr_parse(w->v[2], 0, &na) < 0 ||
        netaddr_port(&na) != 0 || strchr(w->v[1], '/') != NULL ||
        w->v[1][0] == '.')
        return scn_error(p, line,
                         "expected [system NAME IP] (a plain name, an "
                         "address without port)");
    b->arg = xstrdup(w->v[1]);
    b->ip = xstrdup(w->v[2]);
    return 0;
}

/* "on NAME" at the end of [admin], [expect], [change main.cf] and
 * [change file NAME]: taken out of w into b->on. */
static void scn_hdr_on(struct strlist *w, struct scn_block *b)
{
    const char *k = w->v[0];

    if (w->n < 3 || strcmp(w->v[w->n - 2], "on") != 0 ||
        !(strcmp(k, "admin") == 0 || strcmp(k, "expect") == 0 ||
          (strcmp(k, "change") == 0 &&
           (strcmp(w->v[1], "main.cf") == 0 || strcmp(w->v[1], "file") == 0))))
        return;
    b->on = w->v[w->n - 1];
    free(w->v[w->n - 2]);
    w->n -= 2;
}

/* [time passes DURATION]: "300s", "5m", "2h", "5d", "1w" (Postfix's
 * time units; a bare number is seconds). */
static int scn_hdr_time(struct scn_parser *p, int line, const struct strlist *w,
                        struct scn_block *b)
{
    if (w->n != 3 || strcmp(w->v[1], "passes") != 0 ||
        str_to_seconds(w->v[2], 's', &b->seconds) < 0)
        return scn_error(p, line,
                         "expected [time passes DURATION] with a duration "
                         "such as 300s, 5m, 2h, 5d or 1w");
    return 0;
}

/* [daemon KIND inet:127.x.y.z:PORT]: the endpoint as the scenario's
 * main.cf names it (daemon.c checks KIND). */
static int scn_hdr_daemon(struct scn_parser *p, int line,
                          const struct strlist *w, struct scn_block *b)
{
    struct netaddr na;

    if (w->n != 3 || strncmp(w->v[2], "inet:", 5) != 0 ||
        netaddr_parse(w->v[2] + 5, 0, &na) < 0 || netaddr_port(&na) == 0 ||
        strncmp(w->v[2] + 5, "127.", 4) != 0)
        return scn_error(p, line,
                         "expected [daemon KIND inet:127.x.y.z:PORT] (the "
                         "endpoint as main.cf names it, on loopback)");
    b->arg = xstrdup(w->v[1]);
    b->to = xstrdup(w->v[2]);
    return 0;
}

/* [tls cert NAME] */
static int scn_hdr_tls(struct scn_parser *p, int line, const struct strlist *w,
                       struct scn_block *b)
{
    if (w->n != 3 || strcmp(w->v[1], "cert") != 0)
        return scn_error(p, line, "expected [tls cert NAME]");
    if (strchr(w->v[2], '/') != NULL || w->v[2][0] == '.')
        return scn_error(p, line,
                         "[tls cert %s]: a plain file name is expected "
                         "(NAME.pem, NAME.key and NAME.crt are written into "
                         "the SUT's config directory)",
                         w->v[2]);
    b->arg = xstrdup(w->v[2]);
    return 0;
}

static int scn_open_block(struct scn_parser *p, int line, char *hdr)
{
    static const struct {
        const char *word;
        enum scn_block_kind kind;
        scn_hdr_fn *args;
    } kinds[] = {{"main.cf", SCN_MAINCF, scn_hdr_none},
                 {"master.cf", SCN_MASTERCF, scn_hdr_none},
                 {"file", SCN_FILE, scn_hdr_one},
                 {"zone", SCN_ZONE, scn_hdr_one},
                 {"mx", SCN_MX, scn_hdr_one},
                 {"session", SCN_SESSION, scn_hdr_session},
                 {"expect", SCN_EXPECT, scn_hdr_none},
                 {"admin", SCN_ADMIN, scn_hdr_none},
                 {"change", SCN_CHANGE_MX, scn_hdr_change},
                 {"time", SCN_TIME, scn_hdr_time},
                 {"tls", SCN_TLS_CERT, scn_hdr_tls},
                 {"daemon", SCN_DAEMON, scn_hdr_daemon},
                 {"system", SCN_SYSTEM, scn_hdr_system}};
    struct strlist w;
    struct scn_block b;
    size_t k;
    int rc = 0;

    scn_close_block(p);
    p->in_meta = 0;
    strlist_init(&w);
    strlist_split(&w, hdr);
    if (w.n == 1 && strcmp(w.v[0], "scenario") == 0) {
        p->in_meta = 1;
        strlist_clear(&w);
        return 0;
    }
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (w.n > 0 && strcmp(w.v[0], kinds[k].word) == 0)
            break;
    if (k == sizeof(kinds) / sizeof(kinds[0])) {
        rc = scn_error(p, line,
                       "unknown section [%s]; expected [scenario], "
                       "[main.cf], [master.cf], [file NAME], [zone ORIGIN], "
                       "[mx IP], [session [from IP] [to SERVICE]], [expect], "
                       "[admin], [change mx IP], [change dns], [change "
                       "main.cf], [change file NAME], [change zone ORIGIN], "
                       "[time passes DURATION], [tls cert NAME], [daemon KIND "
                       "ENDPOINT] or [system NAME IP]",
                       hdr);
        strlist_clear(&w);
        return rc;
    }
    memset(&b, 0, sizeof(b));
    b.kind = kinds[k].kind;
    b.line = line;
    b.text_line = line + 1;
    scn_hdr_on(&w, &b);
    rc = kinds[k].args(p, line, &w, &b);
    if (rc < 0) {
        free(b.arg);
        free(b.to);
        free(b.on);
        free(b.ip);
    } else {
        p->s->blocks =
            xrealloc(p->s->blocks, (p->s->nblocks + 1) * sizeof(*p->s->blocks));
        p->s->blocks[p->s->nblocks++] = b;
    }
    strlist_clear(&w);
    return rc;
}

static int scn_meta_line(struct scn_parser *p, int line, char *text)
{
    char *eq = strchr(text, '=');
    char *key, *val;

    if (eq == NULL)
        return scn_error(p, line, "expected key = value in [scenario]");
    *eq = '\0';
    key = str_trim(text);
    val = str_trim(eq + 1);
    if (strcmp(key, "name") == 0) {
        free(p->s->name);
        p->s->name = xstrdup(val);
    } else if (strcmp(key, "seed") == 0) {
        free(p->s->seed);
        p->s->seed = xstrdup(val);
    } else if (strcmp(key, "timeout") == 0) {
        long v;
        size_t n = strlen(val);
        int ms = n > 2 && strcmp(val + n - 2, "ms") == 0;
        if (ms || (n > 1 && val[n - 1] == 's'))
            val[n - (ms ? 2 : 1)] = '\0';
        if (str_to_long(val, &v) < 0 || v <= 0)
            return scn_error(p, line,
                             "timeout: expected a duration like 10s "
                             "or 500ms");
        p->s->timeout_ms = ms ? v : v * 1000;
    } else if (strcmp(key, "postfix_time_scale") == 0) {
        long v;
        if (str_to_long(val, &v) < 0 || v < 1 || v > 1000000)
            return scn_error(p, line,
                             "postfix_time_scale: expected a number from 1 "
                             "to 1000000");
        p->s->postfix_time_scale = v;
    } else if (strcmp(key, "description") != 0) {
        return scn_error(p, line,
                         "unknown key \"%s\" in [scenario]; expected name, "
                         "seed, description, timeout or postfix_time_scale",
                         key);
    }
    return 0;
}

/* [tls cert NAME]: "cn = HOSTNAME", "key = ec|rsa". */
static int scn_cert_line(struct scn_parser *p, struct scn_block *b, int line,
                         char *text)
{
    char *eq = strchr(text, '=');
    char *key, *val;

    if (eq == NULL)
        return scn_error(p, line,
                         "expected \"cn = HOSTNAME\" or \"key = ec|rsa\" "
                         "in [tls cert]");
    *eq = '\0';
    key = str_trim(text);
    val = str_trim(eq + 1);
    if (strcmp(key, "cn") == 0 && *val != '\0' && strchr(val, ' ') == NULL) {
        free(b->cert_cn);
        b->cert_cn = xstrdup(val);
    } else if (strcmp(key, "key") == 0) {
        if (strcmp(val, "ec") != 0 && strcmp(val, "rsa") != 0)
            return scn_error(p, line,
                             "[tls cert] key: expected ec (P-256) or rsa "
                             "(2048 bits), not \"%s\"",
                             val);
        b->cert_rsa = strcmp(val, "rsa") == 0;
    } else {
        return scn_error(p, line,
                         "expected \"cn = HOSTNAME\" or \"key = ec|rsa\" "
                         "in [tls cert]");
    }
    return 0;
}

/* [mx IP] and [change mx IP] lines are fakemx's behaviour format. */
static int scn_mx_line(struct scn_parser *p, struct scn_block *b, int line,
                       char *text)
{
    char err[512];

    if (fakemx_behaviour_parse_line(&b->mx, text, err, sizeof(err)) < 0)
        return scn_error(p, line, "%s", err);
    return 0;
}

int scenario_unescape(const char *text, struct strbuf *out)
{
    for (const char *p = text; *p; p++) {
        if (*p != '\\') {
            strbuf_putc(out, *p);
            continue;
        }
        switch (*++p) {
        case 'r':
            strbuf_putc(out, '\r');
            break;
        case 'n':
            strbuf_putc(out, '\n');
            break;
        case 't':
            strbuf_putc(out, '\t');
            break;
        case '0':
            strbuf_putc(out, '\0');
            break;
        case '\\':
            strbuf_putc(out, '\\');
            break;
        case 'x': {
            char hex[3] = {0, 0, 0};
            char *end;
            if (p[1] == '\0' || p[2] == '\0')
                return -1;
            hex[0] = p[1];
            hex[1] = p[2];
            long v = strtol(hex, &end, 16);
            if (*end != '\0')
                return -1;
            strbuf_putc(out, (char)v);
            p += 2;
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

static int scn_session_line(struct scn_parser *p, struct scn_block *b, int line,
                            const char *text)
{
    struct scn_item it;

    memset(&it, 0, sizeof(it));
    it.line = line;
    if (strncmp(text, "C:", 2) == 0) {
        it.kind = SCN_SEND;
    } else if (strncmp(text, "C=", 2) == 0) {
        struct strbuf probe;
        strbuf_init(&probe);
        int bad =
            scenario_unescape(text[2] == ' ' ? text + 3 : text + 2, &probe) < 0;
        strbuf_clear(&probe);
        if (bad)
            return scn_error(p, line,
                             "C=: bad escape; expected \\r, \\n, \\t, "
                             "\\0, \\\\ or \\xHH");
        it.kind = SCN_SEND_RAW;
    } else if (strncmp(text, "S:", 2) == 0) {
        it.kind = SCN_EXPECT_GLOB;
    } else if (strncmp(text, "S~", 2) == 0 || strncmp(text, "S!", 2) == 0) {
        regex_t re;
        const char *q = text[2] == ' ' ? text + 3 : text + 2, *why;
        unsigned long cost;
        /* regcomp() would take gigabytes for some (fuzzing found one). */
        if ((why = posixre_refuse(q, 1, &cost)) != NULL)
            return scn_error(p, line, "%.2s: regular expression refused: %s",
                             text, why);
        if (regcomp(&re, q, REG_EXTENDED | REG_NOSUB) != 0)
            return scn_error(p, line, "%.2s: bad regular expression \"%s\"",
                             text, q);
        regfree(&re);
        it.kind = text[1] == '~' ? SCN_EXPECT_REGEX : SCN_EXPECT_NO_LINE;
    } else if (strncmp(text, "S=", 2) == 0) {
        const char *q = text[2] == ' ' ? text + 3 : text + 2;
        if (strcmp(q, "closed") != 0)
            return scn_error(p, line,
                             "S=: expected \"S= closed\" (the server ends "
                             "the connection)");
        it.kind = SCN_EXPECT_CLOSED;
    } else {
        return scn_error(p, line,
                         "expected \"C: line to send\", \"C= raw bytes\", "
                         "\"S: expected reply\", \"S~ regex\", \"S! "
                         "regex\" or \"S= closed\" in [session]");
    }
    /* One space after the marker is decoration; the rest is kept. */
    it.text = xstrdup(text[2] == ' ' ? text + 3 : text + 2);
    b->items = xrealloc(b->items, (b->nitems + 1) * sizeof(*b->items));
    b->items[b->nitems++] = it;
    return 0;
}

static int scn_admin_line(struct scn_parser *p, struct scn_block *b, int line,
                          const char *text)
{
    struct scn_item it;

    memset(&it, 0, sizeof(it));
    it.line = line;
    if (text[0] == '$') {
        it.kind = SCN_COMMAND;
    } else if (text[0] == '>') {
        if (b->nitems == 0)
            return scn_error(p, line,
                             "\"> output\" before any \"$ "
                             "command\"");
        it.kind = SCN_OUTPUT;
    } else {
        return scn_error(p, line,
                         "expected \"$ command\" or \"> expected output\" "
                         "in [admin]");
    }
    it.text = xstrdup(text[1] == ' ' ? text + 2 : text + 1);
    if (it.kind == SCN_COMMAND && *str_trim(it.text) == '\0') {
        free(it.text);
        return scn_error(p, line, "\"$\" without a command");
    }
    b->items = xrealloc(b->items, (b->nitems + 1) * sizeof(*b->items));
    b->items[b->nitems++] = it;
    return 0;
}

/* [change dns]: "fault NAME [TYPE] SPEC..." or "clear NAME [TYPE]" or
 * "clear all"; checked again by fakedns when the step runs. */
static int scn_dns_line(struct scn_parser *p, struct scn_block *b, int line,
                        const char *text)
{
    struct strlist w;
    struct scn_item it;
    int ok;

    strlist_init(&w);
    strlist_split(&w, text);
    ok = (w.n >= 3 && strcmp(w.v[0], "fault") == 0) ||
         (w.n >= 2 && w.n <= 3 && strcmp(w.v[0], "clear") == 0);
    strlist_clear(&w);
    if (!ok)
        return scn_error(p, line,
                         "expected \"fault NAME [TYPE] SPEC\", \"clear "
                         "NAME [TYPE]\" or \"clear all\" in [change dns]");
    memset(&it, 0, sizeof(it));
    it.kind = SCN_COMMAND;
    it.line = line;
    it.text = xstrdup(text);
    b->items = xrealloc(b->items, (b->nitems + 1) * sizeof(*b->items));
    b->items[b->nitems++] = it;
    return 0;
}

/* An [expect] line: its kind's entry in expect.c parses it. */
static int scn_expect_line(struct scn_parser *p, struct scn_block *b, int line,
                           const char *text)
{
    struct scn_expect x;
    char err[512];

    if (expect_parse(&x, text, err, sizeof(err)) < 0)
        return scn_error(p, line, "%s", err);
    x.line = line;
    b->expects = xrealloc(b->expects, (b->nexpects + 1) * sizeof(*b->expects));
    b->expects[b->nexpects++] = x;
    return 0;
}

static int scn_line(struct scn_parser *p, int line, char *text)
{
    struct scn_block *b = scn_cur(p);
    char *t = text;

    while (str_isspace((unsigned char)*t))
        t++;
    if (text[0] == '[') {
        char *end = strrchr(text, ']');
        if (end == NULL || str_trim(end + 1)[0] != '\0')
            return scn_error(p, line,
                             "section header must be \"[kind "
                             "args]\" alone on its line");
        *end = '\0';
        return scn_open_block(p, line, text + 1);
    }
    if (b == NULL && !p->in_meta) {
        if (*t == '\0' || *t == '#')
            return 0;
        return scn_error(p, line,
                         "text before the first section; start "
                         "with [scenario] or another [section]");
    }
    if (p->in_meta) {
        if (*t == '\0' || *t == '#')
            return 0;
        return scn_meta_line(p, line, text);
    }
    if (scn_is_native(b->kind)) {
        /* A scenario comment inside a zone (whose own comments start with
         * ';') becomes a blank line: line numbers stay right. */
        if (!((b->kind == SCN_ZONE || b->kind == SCN_CHANGE_ZONE) && *t == '#'))
            strbuf_puts(&p->body, text);
        strbuf_putc(&p->body, '\n');
        return 0;
    }
    if (*t == '\0' || *t == '#')
        return 0;
    switch (b->kind) {
    case SCN_MX:
    case SCN_CHANGE_MX:
        return scn_mx_line(p, b, line, t);
    case SCN_ADMIN:
        return scn_admin_line(p, b, line, t);
    case SCN_CHANGE_DNS:
        return scn_dns_line(p, b, line, t);
    case SCN_SESSION:
        return scn_session_line(p, b, line, t);
    case SCN_EXPECT:
        return scn_expect_line(p, b, line, t);
    case SCN_TLS_CERT:
        return scn_cert_line(p, b, line, t);
    default:
        return 0;
    }
}

struct scn_master_loader {
    struct scn_block *b;
};

static int scn_master_one(void *arg, char *line, int lineno)
{
    struct scn_block *b = ((struct scn_master_loader *)arg)->b;

    b->items = xrealloc(b->items, (b->nitems + 1) * sizeof(*b->items));
    b->items[b->nitems].kind = SCN_SERVICE;
    b->items[b->nitems].line = b->text_line + lineno - 1;
    b->items[b->nitems].text = xstrdup(line);
    b->nitems++;
    return 0;
}

/* [master.cf]: its logical lines, and [session to SERVICE] must name one
 * of its inet services. */
static int scn_check_master(struct scn_parser *p)
{
    for (size_t i = 0; i < p->s->nblocks; i++) {
        struct scn_block *b = &p->s->blocks[i];
        struct scn_master_loader l = {b};
        int orphan = 0;
        if (b->kind == SCN_MASTERCF &&
            str_logical_lines(b->text ? b->text : "", scn_master_one, &l,
                              &orphan) < 0)
            return scn_error(p, b->text_line + orphan - 1,
                             "[master.cf]: continuation line without a "
                             "service before it");
    }
    for (size_t i = 0; i < p->s->nblocks; i++) {
        const struct scn_block *b = &p->s->blocks[i];
        if (b->kind == SCN_SESSION && b->to != NULL &&
            scenario_system(p->s, b->to) != NULL) {
            p->s->blocks[i].on = xstrdup(b->to);
            continue;
        }
        if (b->on != NULL && scenario_system(p->s, b->on) == NULL)
            return scn_error(p, b->line, "on %s: no [system %s]", b->on, b->on);
        if (b->kind == SCN_SESSION && b->to != NULL &&
            scenario_service(p->s, b->to, NULL) == NULL)
            return scn_error(p, b->line,
                             "[session to %s]: no inet service %s in "
                             "[master.cf]",
                             b->to, b->to);
    }
    return 0;
}

const struct scn_block *scenario_system(const struct scenario *s,
                                        const char *name)
{
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].kind == SCN_SYSTEM &&
            strcmp(s->blocks[i].arg, name) == 0)
            return &s->blocks[i];
    return NULL;
}

const struct scn_item *scenario_service(const struct scenario *s,
                                        const char *name, size_t *index)
{
    size_t n = 0;

    for (size_t i = 0; i < s->nblocks; i++) {
        const struct scn_block *b = &s->blocks[i];
        for (size_t k = 0; b->kind == SCN_MASTERCF && k < b->nitems; k++) {
            struct strlist f;
            int inet, match;
            strlist_init(&f);
            strlist_split(&f, b->items[k].text);
            inet = f.n >= 2 && strcmp(f.v[1], "inet") == 0;
            match = inet && name != NULL && strcmp(f.v[0], name) == 0;
            strlist_clear(&f);
            if (inet && (match || (name == NULL && index && n == *index))) {
                if (index != NULL)
                    *index = n;
                return &b->items[k];
            }
            n += inet;
        }
    }
    return NULL;
}

struct scenario *scenario_parse(const char *path, const char *text, char *err,
                                size_t errlen)
{
    struct scn_parser p;
    const char *q = text;
    int line = 0, rc = 0;

    memset(&p, 0, sizeof(p));
    p.s = xcalloc(1, sizeof(*p.s));
    p.s->path = xstrdup(path);
    p.s->timeout_ms = 10000;
    p.path = path;
    p.err = err;
    p.errlen = errlen;
    strbuf_init(&p.body);
    while (*q != '\0' && rc == 0) {
        const char *nl = strchr(q, '\n');
        size_t len = nl ? (size_t)(nl - q) : strlen(q);
        char *l = xstrndup(q, len);
        size_t ll = strlen(l);
        line++;
        if (ll > 0 && l[ll - 1] == '\r')
            l[ll - 1] = '\0';
        rc = scn_line(&p, line, l);
        free(l);
        q = nl ? nl + 1 : q + len;
    }
    scn_close_block(&p);
    strbuf_clear(&p.body);
    if (rc == 0) {
        int sessions = 0;
        /* Stop at the first error: a later one must not overwrite it. */
        for (size_t i = 0; rc == 0 && i < p.s->nblocks; i++) {
            struct scn_block *b = &p.s->blocks[i];
            sessions += b->kind == SCN_SESSION || b->kind == SCN_EXPECT ||
                        b->kind == SCN_ADMIN;
            if ((b->kind == SCN_SESSION || b->kind == SCN_ADMIN) &&
                b->nitems == 0)
                rc = scn_error(&p, b->line, "empty [%s]",
                               b->kind == SCN_SESSION ? "session" : "admin");
            for (size_t k = 0;
                 rc == 0 && b->kind == SCN_SESSION && k + 1 < b->nitems; k++)
                if (b->items[k].kind == SCN_EXPECT_CLOSED)
                    rc = scn_error(&p, b->items[k].line,
                                   "S= closed: nothing can follow it in "
                                   "its [session]");
            if (b->kind == SCN_CHANGE_MX) {
                size_t k;
                for (k = 0; k < i; k++)
                    if (p.s->blocks[k].kind == SCN_MX &&
                        strcmp(p.s->blocks[k].arg, b->arg) == 0)
                        break;
                if (rc == 0 && k == i)
                    rc = scn_error(&p, b->line,
                                   "[change mx %s]: no [mx %s] before it",
                                   b->arg, b->arg);
            }
        }
        if (rc == 0 && sessions == 0)
            rc = scn_error(&p, line ? line : 1,
                           "no [session] or [expect]: nothing to test");
        if (rc == 0)
            rc = scn_check_master(&p);
    }
    if (rc < 0) {
        scenario_free(p.s);
        return NULL;
    }
    if (p.s->name == NULL) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (n > 4 && strcmp(base + n - 4, ".scn") == 0)
            n -= 4;
        p.s->name = xstrndup(base, n);
    }
    return p.s;
}

struct scenario *scenario_load(const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    struct scenario *s;

    if (fs_read_file(path, &text, &len) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (strlen(text) != len) {
        snprintf(err, errlen, "%s: NUL byte in scenario file", path);
        free(text);
        return NULL;
    }
    s = scenario_parse(path, text, err, errlen);
    free(text);
    return s;
}

void scenario_free(struct scenario *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nblocks; i++) {
        struct scn_block *b = &s->blocks[i];
        free(b->arg);
        free(b->to);
        free(b->on);
        free(b->ip);
        free(b->text);
        free(b->cert_cn);
        fakemx_behaviour_clear(&b->mx);
        for (size_t k = 0; k < b->nitems; k++)
            free(b->items[k].text);
        free(b->items);
        for (size_t k = 0; k < b->nexpects; k++)
            expect_clear(&b->expects[k]);
        free(b->expects);
    }
    free(s->blocks);
    free(s->path);
    free(s->name);
    free(s->seed);
    free(s);
}
