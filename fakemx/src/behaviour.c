/*
 * behaviour.c — the behaviour text format of a fake host (see fakemx.h):
 * "key = value" lines, shared by mxlab-fakemx --behaviour FILE and the
 * harness's [mx] blocks; deep copy and release of struct fakemx_behaviour.
 * Reply texts are checked to start with an SMTP code (RFC 5321 section
 * 4.2); errors name file:line. A parsed behaviour owns all its strings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakemx_int.h"
#include "mxlab/smtp.h"

static const char *const fakemx_cmd_names[FAKEMX_CMD_COUNT] = {
    "CONNECT", "EHLO", "MAIL", "RCPT",     "DATA", "DOT",
    "RSET",    "NOOP", "QUIT", "STARTTLS", "OTHER"};

const char *fakemx_cmd_name(enum fakemx_cmd cmd)
{
    return (unsigned)cmd < FAKEMX_CMD_COUNT ? fakemx_cmd_names[cmd] : "?";
}

static int fakemx_cmd_parse(const char *word, enum fakemx_cmd *out)
{
    for (int i = 0; i < FAKEMX_CMD_COUNT; i++)
        if (str_casecmp(word, fakemx_cmd_names[i]) == 0) {
            *out = (enum fakemx_cmd)i;
            return 0;
        }
    if (str_casecmp(word, "BANNER") == 0)
        *out = FAKEMX_CMD_CONNECT;
    else if (str_casecmp(word, "HELO") == 0)
        *out = FAKEMX_CMD_EHLO;
    else
        return -1;
    return 0;
}

void fakemx_behaviour_clear(struct fakemx_behaviour *b)
{
    free((char *)b->greeting_reply);
    free((char *)b->max_conn_reply);
    free((char *)b->name);
    free((char *)b->conn_rate.reply);
    free((char *)b->msg_rate.reply);
    free((char *)b->filter);
    free((char *)b->filter_header);
    for (size_t i = 0; i < b->nrules; i++) {
        free((char *)b->rules[i].pattern);
        free((char *)b->rules[i].reply);
    }
    free(b->rules);
    memset(b, 0, sizeof(*b));
}

static char *fakemx_dup(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

void fakemx_behaviour_copy(struct fakemx_behaviour *dst,
                           const struct fakemx_behaviour *src)
{
    struct fakemx_behaviour n;

    /* Build the copy before clearing: src may share strings with dst. */
    memset(&n, 0, sizeof(n));
    if (src != NULL) {
        n = *src;
        n.greeting_reply = fakemx_dup(src->greeting_reply);
        n.max_conn_reply = fakemx_dup(src->max_conn_reply);
        n.name = fakemx_dup(src->name);
        n.conn_rate.reply = fakemx_dup(src->conn_rate.reply);
        n.msg_rate.reply = fakemx_dup(src->msg_rate.reply);
        n.filter = fakemx_dup(src->filter);
        n.filter_header = fakemx_dup(src->filter_header);
        n.rules = NULL;
        if (src->nrules > 0) {
            n.rules = xcalloc(src->nrules, sizeof(*n.rules));
            for (size_t i = 0; i < src->nrules; i++) {
                n.rules[i] = src->rules[i];
                n.rules[i].pattern = fakemx_dup(src->rules[i].pattern);
                n.rules[i].reply = fakemx_dup(src->rules[i].reply);
            }
        }
    }
    fakemx_behaviour_clear(dst);
    *dst = n;
}

static int fakemx_perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fakemx_perr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Next blank-separated word of *p (modifies the text); NULL at the end. */
static char *fakemx_word(char **p)
{
    char *s = *p, *w;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    w = s;
    while (*s != '\0' && *s != ' ' && *s != '\t')
        s++;
    if (*s != '\0')
        *s++ = '\0';
    *p = s;
    return w;
}

static char *fakemx_rest(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Duration with unit ms, s, m, h, d, w (default s), into ms. */
static int fakemx_duration_ms(const char *s, long *ms)
{
    size_t n = strlen(s);
    long v;

    if (n > 2 && strcmp(s + n - 2, "ms") == 0) {
        char num[32];
        if (n - 2 >= sizeof(num))
            return -1;
        memcpy(num, s, n - 2);
        num[n - 2] = '\0';
        if (str_to_long(num, &v) < 0)
            return -1;
        *ms = v;
        return 0;
    }
    if (str_to_seconds(s, 's', &v) < 0 || v > 100L * 365 * 86400)
        return -1;
    *ms = v * 1000;
    return 0;
}

/* An SMTP reply as a behaviour writes it: a code, then text. Multi-line
 * replies are written with "\n" (two characters) between lines. */
static int fakemx_reply_text(const char *text, int need_error, char **out,
                             char *err, size_t errlen)
{
    struct strbuf sb;
    int code = smtp_reply_code(text, NULL);

    if (code < 0 || (text[3] != '\0' && text[3] != ' ' && text[3] != '-'))
        return fakemx_perr(err, errlen,
                           "expected an SMTP reply such as \"450 4.7.1 try "
                           "later\", got \"%s\"",
                           text);
    if (need_error && code < 400)
        return fakemx_perr(err, errlen,
                           "reply code %d: only 4xx and 5xx replies can be "
                           "forced",
                           code);
    strbuf_init(&sb);
    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == 'n') {
            strbuf_putc(&sb, '\n');
            p++;
        } else {
            strbuf_putc(&sb, *p);
        }
    }
    *out = strbuf_detach(&sb);
    return 0;
}

static int fakemx_yesno(const char *v, int *out)
{
    if (str_casecmp(v, "yes") == 0 || str_casecmp(v, "on") == 0 ||
        strcmp(v, "1") == 0)
        *out = 1;
    else if (str_casecmp(v, "no") == 0 || str_casecmp(v, "off") == 0 ||
             strcmp(v, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* "#N", "#N-M", "#N,M", "#N-M,K": the ordinals a rule applies to, into
 * r->ranges (r->n: the first). 0, or -1 with err. */
static int fakemx_rule_ranges(const char *w, struct fakemx_rule *r, char *err,
                              size_t errlen)
{
    char *copy = xstrdup(w + 1), *save = NULL;
    size_t len = strlen(copy);
    /* strtok_r would skip empty pieces: "#1,,2" and "#,1" are errors */
    int rc = len == 0 || copy[0] == ',' || copy[len - 1] == ',' ||
                     strstr(copy, ",,") != NULL
                 ? -1
                 : 0;

    r->nranges = 0;
    for (char *piece = rc ? NULL : strtok_r(copy, ",", &save);
         piece != NULL && rc == 0; piece = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(piece, '-');
        long lo, hi;
        if (dash != NULL)
            *dash = '\0';
        if (r->nranges == FAKEMX_RANGES_MAX || str_to_long(piece, &lo) < 0 ||
            lo < 1 ||
            (dash != NULL && (str_to_long(dash + 1, &hi) < 0 || hi < lo)))
            rc = -1;
        else {
            r->ranges[r->nranges][0] = lo;
            r->ranges[r->nranges++][1] = dash ? hi : lo;
        }
    }
    free(copy);
    if (rc < 0 || r->nranges == 0)
        return fakemx_perr(err, errlen,
                           "\"%s\": expected #N, #N-M or a list such as "
                           "#1,3 (N >= 1, at most %d pieces)",
                           w, FAKEMX_RANGES_MAX);
    r->n = r->ranges[0][0];
    return 0;
}

/* "COMMAND [#N[-M][,...] | every N | match GLOB]" at the start of *p. */
static int fakemx_rule_head(char **p, struct fakemx_rule *r, char *err,
                            size_t errlen)
{
    char *w = fakemx_word(p), *save;

    if (w == NULL || fakemx_cmd_parse(w, &r->cmd) < 0)
        return fakemx_perr(err, errlen,
                           "expected a command (CONNECT, EHLO, MAIL, RCPT, "
                           "DATA, DOT, RSET, NOOP, QUIT, STARTTLS, OTHER), "
                           "got \"%s\"",
                           w ? w : "");
    r->when = FAKEMX_WHEN_ALWAYS;
    save = *p;
    w = fakemx_word(p);
    if (w == NULL) {
        return 0;
    } else if (w[0] == '#') {
        if (fakemx_rule_ranges(w, r, err, errlen) < 0)
            return -1;
        r->when = FAKEMX_WHEN_NTH;
    } else if (str_casecmp(w, "every") == 0) {
        w = fakemx_word(p);
        if (w == NULL || str_to_long(w, &r->n) < 0 || r->n < 1)
            return fakemx_perr(err, errlen, "every: expected N >= 1");
        r->when = FAKEMX_WHEN_EVERY;
    } else if (str_casecmp(w, "match") == 0) {
        w = fakemx_word(p);
        if (w == NULL)
            return fakemx_perr(err, errlen, "match: expected a pattern");
        r->when = FAKEMX_WHEN_MATCH;
        r->pattern = str_lower(xstrdup(w));
    } else {
        /* Not a selector: put the word back. */
        if ((*p)[-1] == '\0')
            (*p)[-1] = ' ';
        *p = save;
    }
    return 0;
}

static void fakemx_rule_add(struct fakemx_behaviour *b,
                            const struct fakemx_rule *r)
{
    b->rules = xrealloc(b->rules, (b->nrules + 1) * sizeof(*b->rules));
    b->rules[b->nrules++] = *r;
}

static int fakemx_parse_rule(struct fakemx_behaviour *b, enum fakemx_action act,
                             char *v, char *err, size_t errlen)
{
    struct fakemx_rule r;
    char *p = v, *w;
    int rc = -1;

    memset(&r, 0, sizeof(r));
    r.action = act;
    if (act == FAKEMX_ACT_DROP_AFTER) {
        /* drop = banner | after CMD [SEL] | on CMD [SEL] | data BYTES */
        w = fakemx_word(&p);
        if (w != NULL && str_casecmp(w, "banner") == 0 &&
            *fakemx_rest(p) == '\0') {
            r.cmd = FAKEMX_CMD_CONNECT;
            r.when = FAKEMX_WHEN_ALWAYS;
            fakemx_rule_add(b, &r);
            return 0;
        }
        if (w != NULL && str_casecmp(w, "data") == 0) {
            w = fakemx_word(&p);
            if (w == NULL || str_to_long(w, &b->drop_data_bytes) < 0 ||
                b->drop_data_bytes < 1 || *fakemx_rest(p) != '\0')
                return fakemx_perr(err, errlen,
                                   "drop = data BYTES: expected a number "
                                   ">= 1");
            return 0;
        }
        if (w != NULL && str_casecmp(w, "on") == 0)
            r.action = act = FAKEMX_ACT_DROP_ON;
        else if (w == NULL || str_casecmp(w, "after") != 0)
            return fakemx_perr(err, errlen,
                               "drop: expected banner, after COMMAND, on "
                               "COMMAND or data BYTES");
    }
    if (fakemx_rule_head(&p, &r, err, errlen) < 0)
        goto done;
    p = fakemx_rest(p);
    switch (act) {
    case FAKEMX_ACT_REPLY: {
        char *text;
        if (*p == '\0') {
            fakemx_perr(err, errlen, "reply: expected CODE TEXT after %s",
                        fakemx_cmd_name(r.cmd));
            goto done;
        }
        if (fakemx_reply_text(p, 1, &text, err, errlen) < 0)
            goto done;
        r.reply = text;
        break;
    }
    case FAKEMX_ACT_TARPIT:
        if (fakemx_duration_ms(p, &r.delay_ms) < 0) {
            fakemx_perr(err, errlen,
                        "tarpit: expected a duration such as 30s or 500ms, "
                        "got \"%s\"",
                        p);
            goto done;
        }
        break;
    default:
        if (*p != '\0') {
            fakemx_perr(err, errlen, "unexpected \"%s\"", p);
            goto done;
        }
        break;
    }
    fakemx_rule_add(b, &r);
    r.pattern = NULL;
    r.reply = NULL;
    rc = 0;

done:
    free((char *)r.pattern);
    free((char *)r.reply);
    return rc;
}

/* rate = N connections|messages per DURATION [CODE TEXT] */
static int fakemx_parse_rate(struct fakemx_behaviour *b, char *v, char *err,
                             size_t errlen)
{
    struct fakemx_rate r;
    char *p = v, *w, *n, *what, *per, *dur;

    memset(&r, 0, sizeof(r));
    w = fakemx_word(&p);
    if (w != NULL && str_casecmp(w, "off") == 0 && *fakemx_rest(p) == '\0') {
        free((char *)b->conn_rate.reply);
        free((char *)b->msg_rate.reply);
        memset(&b->conn_rate, 0, sizeof(b->conn_rate));
        memset(&b->msg_rate, 0, sizeof(b->msg_rate));
        return 0;
    }
    n = w;
    what = fakemx_word(&p);
    per = fakemx_word(&p);
    dur = fakemx_word(&p);
    if (n == NULL || what == NULL || per == NULL || dur == NULL ||
        str_to_long(n, &r.count) < 0 || str_casecmp(per, "per") != 0 ||
        (str_casecmp(what, "connections") != 0 &&
         str_casecmp(what, "messages") != 0))
        return fakemx_perr(err, errlen,
                           "rate: expected N connections|messages per "
                           "DURATION [CODE TEXT]");
    if (fakemx_duration_ms(dur, &r.window_ms) < 0 || r.window_ms <= 0)
        return fakemx_perr(err, errlen, "rate: bad duration \"%s\"", dur);
    p = fakemx_rest(p);
    if (*p != '\0') {
        char *text;
        if (fakemx_reply_text(p, 1, &text, err, errlen) < 0)
            return -1;
        r.reply = text;
    }
    if (str_casecmp(what, "connections") == 0) {
        free((char *)b->conn_rate.reply);
        b->conn_rate = r;
    } else {
        free((char *)b->msg_rate.reply);
        b->msg_rate = r;
    }
    return 0;
}

/* greylist = MIN[,MAX] | off */
static int fakemx_parse_greylist(struct fakemx_behaviour *b, const char *v,
                                 char *err, size_t errlen)
{
    char min[32];
    const char *comma = strchr(v, ',');
    long lo, hi = 0;
    size_t n = comma ? (size_t)(comma - v) : strlen(v);

    if (str_casecmp(v, "off") == 0 || str_casecmp(v, "no") == 0) {
        b->greylist = 0;
        b->greylist_min = b->greylist_max = 0;
        return 0;
    }
    if (n == 0 || n >= sizeof(min))
        goto bad;
    memcpy(min, v, n);
    min[n] = '\0';
    if (str_to_seconds(str_trim(min), 's', &lo) < 0)
        goto bad;
    if (comma != NULL) {
        char max[32];
        snprintf(max, sizeof(max), "%s", comma + 1);
        if (str_to_seconds(str_trim(max), 's', &hi) < 0)
            goto bad;
        if (hi <= lo)
            return fakemx_perr(err, errlen,
                               "greylist: MAX must be greater than MIN");
    }
    b->greylist = 1;
    b->greylist_min = lo;
    b->greylist_max = hi;
    return 0;

bad:
    return fakemx_perr(err, errlen,
                       "greylist: expected MIN[,MAX] durations such as "
                       "300s,4h, or off");
}

/* filter = IP:PORT (loopback only: the lab never leaves 127.0.0.0/8
 * and ::1) or off. */
static int fakemx_parse_filter(struct fakemx_behaviour *b, const char *v,
                               char *err, size_t errlen)
{
    struct netaddr na;
    struct cidr lo4, lo6;
    int yes;

    if (fakemx_yesno(v, &yes) == 0 && !yes) {
        free((char *)b->filter);
        b->filter = NULL;
        return 0;
    }
    cidr_parse("127.0.0.0/8", &lo4);
    cidr_parse("::1", &lo6);
    if (netaddr_parse(v, 0, &na) < 0 || netaddr_port(&na) == 0 ||
        !(cidr_match(&lo4, &na) || cidr_match(&lo6, &na)))
        return fakemx_perr(err, errlen,
                           "filter: expected a loopback IP:PORT (such as "
                           "127.0.0.1:10025) or off");
    free((char *)b->filter);
    b->filter = xstrdup(v);
    return 0;
}

/* filter_header = Name: value (RFC 5322 section 2.2: a field name of
 * printable ASCII but the colon), or nothing for none. */
static int fakemx_parse_filter_header(struct fakemx_behaviour *b, const char *v,
                                      char *err, size_t errlen)
{
    size_t n = strcspn(v, ":");

    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] > '~')
            n = 0;
    if (*v != '\0' && (n == 0 || v[n] != ':'))
        return fakemx_perr(err, errlen,
                           "filter_header: expected Name: value, or nothing");
    free((char *)b->filter_header);
    b->filter_header = xstrdup(v);
    return 0;
}

int fakemx_behaviour_parse_line(struct fakemx_behaviour *b, const char *line,
                                char *err, size_t errlen)
{
    char *copy = xstrdup(line), *t = str_trim(copy), *eq, *key, *v;
    long n;
    int rc = -1, yes;

    if (*t == '\0' || *t == '#') {
        rc = 0;
        goto done;
    }
    if ((eq = strchr(t, '=')) == NULL) {
        fakemx_perr(err, errlen, "expected key = value");
        goto done;
    }
    *eq = '\0';
    key = str_trim(t);
    v = str_trim(eq + 1);
    if (strcmp(key, "name") == 0) {
        if (*v == '\0' || strpbrk(v, " \t") != NULL) {
            fakemx_perr(err, errlen, "name: expected a host name");
            goto done;
        }
        free((char *)b->name);
        b->name = xstrdup(v);
    } else if (strcmp(key, "greeting") == 0) {
        char *text = NULL;
        /* "greeting =" (in [change mx]): back to the normal banner. */
        if (*v != '\0' && fakemx_reply_text(v, 0, &text, err, errlen) < 0) {
            char msg[256];
            snprintf(msg, sizeof(msg), "greeting: %s", err);
            snprintf(err, errlen, "%s", msg);
            goto done;
        }
        free((char *)b->greeting_reply);
        b->greeting_reply = text;
    } else if (strcmp(key, "max_conn_per_ip") == 0) {
        char *p = v, *w = fakemx_word(&p), *text = NULL;
        if (w == NULL || str_to_long(w, &n) < 0 || n > 100000) {
            fakemx_perr(err, errlen,
                        "max_conn_per_ip: expected a number [CODE TEXT]");
            goto done;
        }
        p = fakemx_rest(p);
        if (*p != '\0' && fakemx_reply_text(p, 1, &text, err, errlen) < 0)
            goto done;
        b->max_conn_per_ip = (int)n;
        free((char *)b->max_conn_reply);
        b->max_conn_reply = text;
    } else if (strcmp(key, "rate") == 0) {
        if (fakemx_parse_rate(b, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "greylist") == 0) {
        if (fakemx_parse_greylist(b, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "reply") == 0) {
        if (fakemx_parse_rule(b, FAKEMX_ACT_REPLY, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "tarpit") == 0) {
        if (fakemx_parse_rule(b, FAKEMX_ACT_TARPIT, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "hang") == 0) {
        if (fakemx_parse_rule(b, FAKEMX_ACT_HANG, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "drop") == 0) {
        if (fakemx_parse_rule(b, FAKEMX_ACT_DROP_AFTER, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "down") == 0) {
        if (str_casecmp(v, "refuse") == 0)
            b->down = FAKEMX_DOWN_REFUSE;
        else if (str_casecmp(v, "blackhole") == 0)
            b->down = FAKEMX_DOWN_BLACKHOLE;
        else if (fakemx_yesno(v, &yes) == 0 && !yes)
            b->down = FAKEMX_UP;
        else {
            fakemx_perr(err, errlen, "down: expected refuse, blackhole or no");
            goto done;
        }
    } else if (strcmp(key, "starttls") == 0 ||
               strcmp(key, "tls_required") == 0 || strcmp(key, "dsn") == 0 ||
               strcmp(key, "lmtp") == 0) {
        if (fakemx_yesno(v, &yes) < 0) {
            fakemx_perr(err, errlen, "%s: expected yes or no", key);
            goto done;
        }
        if (key[0] == 'd')
            b->dsn = yes;
        else if (key[0] == 'l')
            b->lmtp = yes;
        else if (key[1] == 't')
            b->starttls = yes;
        else
            b->tls_required = yes;
    } else if (strcmp(key, "eod") == 0) {
        if (str_casecmp(v, "strict") == 0 || str_casecmp(v, "lenient") == 0) {
            b->eod_lenient = str_casecmp(v, "lenient") == 0;
        } else {
            fakemx_perr(err, errlen, "eod: expected strict or lenient");
            goto done;
        }
    } else if (strcmp(key, "filter") == 0) {
        if (fakemx_parse_filter(b, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "filter_header") == 0) {
        if (fakemx_parse_filter_header(b, v, err, errlen) < 0)
            goto done;
    } else if (strcmp(key, "size") == 0) {
        if (str_to_long(v, &n) < 0 || n < 1) {
            fakemx_perr(err, errlen, "size: expected a number of bytes >= 1");
            goto done;
        }
        b->size = n;
    } else {
        fakemx_perr(err, errlen,
                    "unknown key \"%s\"; expected name, greeting, "
                    "max_conn_per_ip, rate, greylist, reply, tarpit, hang, "
                    "drop, down, starttls, tls_required, dsn, lmtp, eod, "
                    "filter, filter_header or size",
                    key);
        goto done;
    }
    rc = 0;

done:
    free(copy);
    return rc;
}

int fakemx_behaviour_parse(struct fakemx_behaviour *b, const char *name,
                           int first_line, const char *text, char *err,
                           size_t errlen)
{
    const char *p = text;
    char msg[512];

    for (int i = 0; *p != '\0'; i++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, len);
        int rc;

        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
        if (memchr(p, '\0', len) != NULL) {
            rc = -1;
            snprintf(msg, sizeof(msg), "NUL byte");
        } else {
            rc = fakemx_behaviour_parse_line(b, line, msg, sizeof(msg));
        }
        free(line);
        if (rc < 0) {
            snprintf(err, errlen, "%s:%d: %s", name ? name : "behaviour",
                     first_line + i, msg);
            return -1;
        }
        p = nl ? nl + 1 : p + len;
    }
    return 0;
}
