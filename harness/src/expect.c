/*
 * expect.c — the expectation kinds, one table entry each. See expect.h and
 * scenarios/README.md. Judges wait for the SUT to be idle before they
 * call something absent; deliveries are what the fake MX hosts received.
 */
#include "expect.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_dkim.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"

/* ---- shared helpers ---- */

/* What follows the first occurrence of word in text, spaces skipped. */
const char *expect_rest(const char *text, const char *word)
{
    const char *t = strstr(text, word) + strlen(word);

    return t + strspn(t, " \t");
}

/* An address in an expectation, as written or in angle brackets as SMTP
 * writes it ("<a@b>" is a@b; "<>" stays the null sender). */
static char *expect_bare_addr(const char *a)
{
    size_t n = strlen(a);

    if (n > 2 && a[0] == '<' && a[n - 1] == '>')
        return xstrndup(a + 1, n - 2);
    return xstrdup(a);
}

/* 1 if a line of text contains pattern (glob: '*' and '?'). */
int expect_text_has_line(const char *text, const char *pattern)
{
    char *copy = xstrdup(text), *glob = xasprintf("*%s*", pattern);
    int found = 0;

    for (char *line = copy; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        found = str_glob(glob, line);
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    free(glob);
    return found;
}

int expect_idle(struct expect_env *env)
{
    return lab_idle(env->lab);
}

static size_t expect_ndelivered(struct expect_env *env)
{
    return fakemx_message_count(lab_fakemx(env->lab));
}

static const struct fakemx_message *expect_msg(struct expect_env *env, size_t i)
{
    return fakemx_message_at(lab_fakemx(env->lab), i);
}

static int expect_message_has(const struct fakemx_message *m, const char *rcpt)
{
    for (size_t i = 0; i < m->nrcpt; i++)
        if (str_casecmp(m->rcpts[i], rcpt) == 0)
            return 1;
    return 0;
}

/* 1 if m was received by the [mx] host at ip (any host if ip is NULL). */
static int expect_message_at(const struct fakemx_message *m, const char *ip)
{
    char buf[64];
    struct netaddr na;

    return ip == NULL || (netaddr_parse(m->host, 0, &na) == 0 &&
                          strcmp(netaddr_ip(&na, buf, sizeof(buf)), ip) == 0);
}

static void expect_describe_deliveries(struct expect_env *env,
                                       struct strbuf *sb)
{
    size_t n = expect_ndelivered(env);

    if (n == 0) {
        strbuf_puts(sb, "nothing was delivered");
        return;
    }
    strbuf_puts(sb, "delivered:");
    for (size_t i = 0; i < n; i++) {
        const struct fakemx_message *m = expect_msg(env, i);
        strbuf_printf(sb, " [to %s from <%s> rcpt", m->client_ip ? m->host : "",
                      m->mail_from);
        for (size_t k = 0; k < m->nrcpt; k++)
            strbuf_printf(sb, " <%s>", m->rcpts[k]);
        strbuf_putc(sb, ']');
    }
}

/* ---- delivered to IP [from ADDR] [rcpt ADDR...] / not delivered ---- */

/* From word i on: [to IP] [from ADDR] [rcpt ADDR...]. */
static int expect_parse_route(struct scn_expect *x, const struct strlist *w,
                              size_t i, int need_to, char *err, size_t errlen)
{
    if (need_to || (i < w->n && strcmp(w->v[i], "to") == 0)) {
        struct netaddr na;
        if (i + 1 >= w->n || strcmp(w->v[i], "to") != 0 ||
            netaddr_parse(w->v[i + 1], 0, &na) < 0) {
            snprintf(err, errlen,
                     "expected \"delivered to IP [from ADDR] rcpt ADDR...\"");
            return -1;
        }
        x->host = xstrdup(w->v[i + 1]);
        i += 2;
    }
    if (i + 1 < w->n && strcmp(w->v[i], "from") == 0) {
        x->from = expect_bare_addr(w->v[i + 1]);
        i += 2;
    }
    /* "delivered to IP [from ADDR]" alone: any such message. */
    if (need_to && i == w->n)
        return 0;
    if (i >= w->n || strcmp(w->v[i], "rcpt") != 0 || i + 1 >= w->n) {
        snprintf(err, errlen, "\"rcpt ADDR...\" expected");
        return -1;
    }
    for (i++; i < w->n; i++) {
        x->rcpts = xrealloc(x->rcpts, (x->nrcpt + 1) * sizeof(*x->rcpts));
        x->rcpts[x->nrcpt++] = expect_bare_addr(w->v[i]);
    }
    return 0;
}

static int expect_parse_delivered(struct scn_expect *x, const struct strlist *w,
                                  const char *text, char *err, size_t errlen)
{
    (void)text;
    return expect_parse_route(x, w, 1, 1, err, errlen);
}

static int expect_check_delivered(const struct scn_expect *x,
                                  struct expect_env *env, struct strbuf *why)
{
    (void)why;
    for (size_t i = 0; i < expect_ndelivered(env); i++) {
        const struct fakemx_message *m = expect_msg(env, i);
        size_t k;
        if (!expect_message_at(m, x->host))
            continue;
        /* "from <>" names the null sender. */
        if (x->from && str_casecmp(strcmp(x->from, "<>") == 0 ? "" : x->from,
                                   m->mail_from) != 0)
            continue;
        for (k = 0; k < x->nrcpt; k++)
            if (!expect_message_has(m, x->rcpts[k]))
                break;
        if (k == x->nrcpt)
            return 1;
    }
    return 0;
}

static void expect_explain_delivered(const struct scn_expect *x,
                                     struct expect_env *env, struct strbuf *why)
{
    strbuf_printf(why, "no message to %s", x->host);
    if (x->from)
        strbuf_printf(why, " from <%s>", x->from);
    if (x->nrcpt > 0)
        strbuf_puts(why, " with rcpt");
    for (size_t k = 0; k < x->nrcpt; k++)
        strbuf_printf(why, " <%s>", x->rcpts[k]);
    strbuf_puts(why, "; ");
    expect_describe_deliveries(env, why);
}

static int expect_parse_not_delivered(struct scn_expect *x,
                                      const struct strlist *w, const char *text,
                                      char *err, size_t errlen)
{
    (void)text;
    if (w->n < 2 || strcmp(w->v[1], "delivered") != 0) {
        snprintf(err, errlen,
                 "expected \"not delivered [to IP] rcpt ADDR...\"");
        return -1;
    }
    return expect_parse_route(x, w, 2, 0, err, errlen);
}

static int expect_check_not_delivered(const struct scn_expect *x,
                                      struct expect_env *env,
                                      struct strbuf *why)
{
    if (!expect_idle(env) && !env->final_try)
        return 0;
    for (size_t i = 0; i < expect_ndelivered(env); i++)
        for (size_t k = 0; k < x->nrcpt; k++)
            if (expect_message_at(expect_msg(env, i), x->host) &&
                expect_message_has(expect_msg(env, i), x->rcpts[k])) {
                strbuf_printf(why, "<%s> was delivered (to %s)", x->rcpts[k],
                              expect_msg(env, i)->host);
                return -1;
            }
    return 1;
}

/* ---- queue empty, deliveries N ---- */

static int expect_parse_nothing(struct scn_expect *x, const struct strlist *w,
                                const char *text, char *err, size_t errlen)
{
    (void)x, (void)w, (void)text, (void)err, (void)errlen;
    return 0;
}

static size_t expect_queue_count(struct expect_env *env)
{
    size_t total, busy;

    return lab_queue(env->lab, &total, &busy) == 0 ? total : (size_t)-1;
}

static int expect_check_queue_empty(const struct scn_expect *x,
                                    struct expect_env *env, struct strbuf *why)
{
    (void)x, (void)why;
    return expect_queue_count(env) == 0;
}

static void expect_explain_queue_empty(const struct scn_expect *x,
                                       struct expect_env *env,
                                       struct strbuf *why)
{
    (void)x;
    strbuf_printf(why, "queue holds %zu message(s)", expect_queue_count(env));
}

static int expect_parse_deliveries(struct scn_expect *x,
                                   const struct strlist *w, const char *text,
                                   char *err, size_t errlen)
{
    (void)text;
    if (str_to_long(w->v[1], &x->count) < 0) {
        snprintf(err, errlen, "deliveries: expected a number");
        return -1;
    }
    return 0;
}

static int expect_check_deliveries(const struct scn_expect *x,
                                   struct expect_env *env, struct strbuf *why)
{
    long n = (long)expect_ndelivered(env);

    (void)why;
    if (!expect_idle(env) && !env->final_try)
        return 0;
    return n == x->count;
}

static void expect_explain_deliveries(const struct scn_expect *x,
                                      struct expect_env *env,
                                      struct strbuf *why)
{
    strbuf_printf(why, "expected %ld deliveries, got %zu; ", x->count,
                  expect_ndelivered(env));
    expect_describe_deliveries(env, why);
}

/* ---- delivered data|envelope contains|lacks TEXT ---- */

/* "delivered data ...": the content's lines; "delivered envelope ...":
 * "MAIL FROM:<a> PARAMS" and "RCPT TO:<b> PARAMS" lines, as the fake MX
 * received them. */
static int expect_parse_content(struct scn_expect *x, const struct strlist *w,
                                const char *text, char *err, size_t errlen)
{
    const char *t = expect_rest(text, w->v[1]);
    int ok = 1;

    if (strncmp(t, "contains", 8) == 0)
        x->lacks = 0;
    else if (strncmp(t, "lacks", 5) == 0)
        x->lacks = 1;
    else
        ok = 0;
    t += strcspn(t, " \t");
    t += strspn(t, " \t");
    if (!ok || *t == '\0') {
        snprintf(err, errlen,
                 "expected \"delivered %s contains TEXT\" or \"delivered %s "
                 "lacks TEXT\"",
                 w->v[1], w->v[1]);
        return -1;
    }
    x->text = xstrdup(t);
    return 0;
}

/* A delivered message's content (CRs as spaces), or with env its
 * envelope as "MAIL FROM:<a> PARAMS" and "RCPT TO:<b> PARAMS" lines. */
static char *expect_message_lines(const struct fakemx_message *m, int env)
{
    struct strbuf sb;

    strbuf_init(&sb);
    if (!env) {
        strbuf_append(&sb, m->data, m->data_len);
        for (size_t i = 0; i < sb.len; i++)
            if (sb.buf[i] == '\r')
                sb.buf[i] = ' ';
        return strbuf_detach(&sb);
    }
    strbuf_printf(&sb, "MAIL FROM:<%s>%s%s\n", m->mail_from,
                  m->mail_params && *m->mail_params ? " " : "",
                  m->mail_params ? m->mail_params : "");
    for (size_t k = 0; k < m->nrcpt; k++) {
        const char *pr = m->rcpt_params ? m->rcpt_params[k] : NULL;
        strbuf_printf(&sb, "RCPT TO:<%s>%s%s\n", m->rcpts[k],
                      pr && *pr ? " " : "", pr ? pr : "");
    }
    return strbuf_detach(&sb);
}

static int expect_check_content(const struct scn_expect *x,
                                struct expect_env *env, int envelope,
                                struct strbuf *why)
{
    int found = 0;

    if (x->lacks && !expect_idle(env) && !env->final_try)
        return 0;
    for (size_t i = 0; i < expect_ndelivered(env) && !found; i++) {
        char *text = expect_message_lines(expect_msg(env, i), envelope);
        found = expect_text_has_line(text, x->text);
        free(text);
    }
    if (found != x->lacks)
        return 1;
    if (!env->final_try && !x->lacks)
        return 0;
    strbuf_printf(why, "%s delivered %s has a line with \"%s\"",
                  found ? "a" : "no", envelope ? "envelope" : "message",
                  x->text);
    return -1;
}

static int expect_check_data(const struct scn_expect *x, struct expect_env *env,
                             struct strbuf *why)
{
    return expect_check_content(x, env, 0, why);
}

static int expect_check_envelope(const struct scn_expect *x,
                                 struct expect_env *env, struct strbuf *why)
{
    return expect_check_content(x, env, 1, why);
}

/* ---- dns queried NAME [TYPE] [N times] ---- */

/* "A", "MX"... as ldns names them; 0 for "*" or "ANY", -1 if unknown. */
static int expect_rr_type(const char *name)
{
    if (strcmp(name, "*") == 0 || str_casecmp(name, "ANY") == 0)
        return 0;
    ldns_rr_type t = ldns_get_rr_type_by_name(name);
    return t == 0 ? -1 : (int)t;
}

static int expect_parse_dns(struct scn_expect *x, const struct strlist *w,
                            const char *text, char *err, size_t errlen)
{
    size_t k = 3;

    (void)text;
    x->mailbox = str_lower(xstrdup(w->v[2]));
    if (x->mailbox[strlen(x->mailbox) - 1] == '.')
        x->mailbox[strlen(x->mailbox) - 1] = '\0';
    x->count = -1;
    if (k < w->n && !(k + 1 < w->n && strcmp(w->v[k + 1], "times") == 0)) {
        x->dns_type = expect_rr_type(w->v[k]);
        if (x->dns_type < 0) {
            snprintf(err, errlen, "dns queried: unknown type \"%s\"", w->v[k]);
            return -1;
        }
        k++;
    }
    if (k < w->n && (k + 2 != w->n || strcmp(w->v[k + 1], "times") != 0 ||
                     str_to_long(w->v[k], &x->count) < 0)) {
        snprintf(err, errlen, "expected \"dns queried NAME [TYPE] [N times]\"");
        return -1;
    }
    return 0;
}

static int expect_check_dns(const struct scn_expect *x, struct expect_env *env,
                            struct strbuf *why)
{
    struct fakedns *dns = lab_fakedns(env->lab);
    size_t want = strlen(x->mailbox);
    long count = 0;

    for (size_t i = 0; i < fakedns_query_count(dns); i++) {
        const struct fakedns_query *q = fakedns_query_at(dns, i);
        size_t nl = strlen(q->name);
        /* the log keeps the name as asked, maybe with its final dot */
        if ((strcmp(q->name, x->mailbox) == 0 ||
             (nl == want + 1 && q->name[nl - 1] == '.' &&
              strncmp(q->name, x->mailbox, nl - 1) == 0)) &&
            (x->dns_type == 0 || q->type == x->dns_type))
            count++;
    }
    if (x->count < 0 ? count > 0 : count == x->count)
        return 1;
    if (!env->final_try &&
        (x->count < 0 || count < x->count || !expect_idle(env)))
        return 0;
    if (x->count < 0)
        strbuf_printf(why, "fakedns was never asked for %s", x->mailbox);
    else
        strbuf_printf(why, "fakedns was asked for %s %ld time%s, expected %ld",
                      x->mailbox, count, count == 1 ? "" : "s", x->count);
    if (x->dns_type != 0)
        strbuf_printf(why, " (type %d)", x->dns_type);
    return -1;
}

/* ---- queue deferred|active|hold|incoming N ---- */

static const char *const expect_queues[] = {"deferred", "active", "hold",
                                            "incoming"};

static int expect_parse_queue_n(struct scn_expect *x, const struct strlist *w,
                                const char *text, char *err, size_t errlen)
{
    size_t q;

    (void)text;
    for (q = 0; q < sizeof(expect_queues) / sizeof(expect_queues[0]); q++)
        if (strcmp(w->v[1], expect_queues[q]) == 0)
            break;
    if (q == sizeof(expect_queues) / sizeof(expect_queues[0]) ||
        str_to_long(w->v[2], &x->count) < 0 || x->count < 0) {
        snprintf(err, errlen,
                 "queue: expected \"queue empty\" or \"queue "
                 "deferred|active|hold|incoming N\"");
        return -1;
    }
    x->text = xstrdup(w->v[1]);
    return 0;
}

/* Messages in one of the SUT's queues, as its "postqueue -j" lists them
 * (Postfix's and the relay's), or -1 if it cannot say. */
static long expect_queue_named(struct expect_env *env, const char *queue)
{
    struct strbuf out, err;
    char *needle = xasprintf("\"queue_name\": \"%s\"", queue);
    long n = 0;

    strbuf_init(&out);
    strbuf_init(&err);
    if (lab_admin(env->lab, "postqueue -j", &out, &err) != 0)
        n = -1;
    for (const char *p = out.buf; n >= 0 && p && (p = strstr(p, needle));
         p += strlen(needle))
        n++;
    free(needle);
    strbuf_clear(&out);
    strbuf_clear(&err);
    return n;
}

static int expect_check_queue_n(const struct scn_expect *x,
                                struct expect_env *env, struct strbuf *why)
{
    (void)why;
    if (!expect_idle(env) && !env->final_try)
        return 0;
    return expect_queue_named(env, x->text) == x->count;
}

static void expect_explain_queue_n(const struct scn_expect *x,
                                   struct expect_env *env, struct strbuf *why)
{
    strbuf_printf(why, "expected %ld message(s) in the %s queue, found %ld",
                  x->count, x->text, expect_queue_named(env, x->text));
}

/* ---- mx IP connections|messages N ---- */

static int expect_parse_mx_n(struct scn_expect *x, const struct strlist *w,
                             const char *text, char *err, size_t errlen)
{
    struct netaddr na;

    (void)text;
    if (netaddr_parse(w->v[1], 0, &na) < 0 || netaddr_port(&na) != 0 ||
        (strcmp(w->v[2], "connections") != 0 &&
         strcmp(w->v[2], "messages") != 0) ||
        str_to_long(w->v[3], &x->count) < 0 || x->count < 0) {
        snprintf(err, errlen, "mx: expected \"mx IP connections|messages N\"");
        return -1;
    }
    x->host = xstrdup(w->v[1]);
    x->text = xstrdup(w->v[2]);
    return 0;
}

/* Connections the [mx IP] host accepted, or messages it received. */
static long expect_mx_count(const struct scn_expect *x, struct expect_env *env)
{
    struct fakemx *mx = lab_fakemx(env->lab);
    long n = 0;

    if (strcmp(x->text, "messages") == 0) {
        for (size_t i = 0; i < fakemx_message_count(mx); i++)
            n += expect_message_at(fakemx_message_at(mx, i), x->host);
        return n;
    }
    for (size_t i = 0; i < fakemx_session_count(mx); i++) {
        struct netaddr na;
        char ip[64];
        const struct fakemx_session_record *r = fakemx_session_at(mx, i);
        n += netaddr_parse(r->host, 0, &na) == 0 &&
             strcmp(netaddr_ip(&na, ip, sizeof(ip)), x->host) == 0;
    }
    return n;
}

static int expect_check_mx_n(const struct scn_expect *x, struct expect_env *env,
                             struct strbuf *why)
{
    (void)why;
    if (!expect_idle(env) && !env->final_try)
        return 0;
    return expect_mx_count(x, env) == x->count;
}

static void expect_explain_mx_n(const struct scn_expect *x,
                                struct expect_env *env, struct strbuf *why)
{
    strbuf_printf(why, "expected %ld %s at %s, got %ld", x->count, x->text,
                  x->host, expect_mx_count(x, env));
}

/* ---- the table ---- */

static const struct expect_kind expect_kinds[] = {
    {"delivered data", 3, 0, expect_parse_content, expect_check_data, NULL},
    {"delivered dkim", 4, 4, expect_parse_dkim, expect_check_dkim, NULL},
    {"delivered envelope", 3, 0, expect_parse_content, expect_check_envelope,
     NULL},
    {"dns queried", 3, 0, expect_parse_dns, expect_check_dns, NULL},
    {"queue empty", 2, 2, expect_parse_nothing, expect_check_queue_empty,
     expect_explain_queue_empty},
    {"queue", 3, 3, expect_parse_queue_n, expect_check_queue_n,
     expect_explain_queue_n},
    {"mx", 4, 4, expect_parse_mx_n, expect_check_mx_n, expect_explain_mx_n},
    {"deliveries", 2, 2, expect_parse_deliveries, expect_check_deliveries,
     expect_explain_deliveries},
    {"delivered", 1, 0, expect_parse_delivered, expect_check_delivered,
     expect_explain_delivered},
    {"not", 1, 0, expect_parse_not_delivered, expect_check_not_delivered, NULL},
};

/* 1 if the line's words w start with the kind's keyword. */
static int expect_matches(const struct expect_kind *k, const struct strlist *w)
{
    struct strlist kw;
    int ok;

    if (w->n < k->min_words || (k->max_words && w->n > k->max_words))
        return 0;
    strlist_init(&kw);
    strlist_split(&kw, k->keyword);
    ok = kw.n <= w->n;
    for (size_t i = 0; ok && i < kw.n; i++)
        ok = strcmp(kw.v[i], w->v[i]) == 0;
    strlist_clear(&kw);
    return ok;
}

/* The first kind of table whose keyword starts w, or NULL. */
static const struct expect_kind *expect_find(const struct expect_kind *t,
                                             size_t n, const struct strlist *w)
{
    for (size_t i = 0; i < n; i++)
        if (expect_matches(&t[i], w))
            return &t[i];
    return NULL;
}

int expect_parse(struct scn_expect *x, const char *text, char *err,
                 size_t errlen)
{
    struct strlist w;
    int rc = -1;

    memset(x, 0, sizeof(*x));
    strlist_init(&w);
    strlist_split(&w, text);
    /* The two tables have no keyword in common: which goes first does not
     * matter; within one, longer keywords come before their prefixes. */
    const struct expect_kind *k =
        expect_find(expect_log_kinds, expect_log_nkinds, &w);
    if (k == NULL)
        k = expect_find(expect_kinds,
                        sizeof(expect_kinds) / sizeof(expect_kinds[0]), &w);
    if (k != NULL) {
        x->kind = k;
        rc = k->parse(x, &w, text, err, errlen);
    }
    if (x->kind == NULL)
        snprintf(err, errlen,
                 "unknown expectation; expected \"delivered to IP [from "
                 "ADDR] [rcpt ADDR...]\", \"not delivered [to IP] rcpt "
                 "ADDR...\", \"deliveries N\", \"queue empty\", \"queue "
                 "deferred|active|hold|incoming N\", \"mx IP "
                 "connections|messages N\", \"log contains TEXT\", \"log "
                 "count PATTERN N\", \"log totals ...\", \"mailbox USER "
                 "messages N|contains TEXT\", \"delivered dkim pass DOMAIN\", "
                 "\"delivered data "
                 "contains|lacks TEXT\", \"delivered envelope contains|lacks "
                 "TEXT\" or \"dns queried NAME ...\"");
    strlist_clear(&w);
    if (rc < 0)
        expect_clear(x);
    return rc;
}

int expect_check(const struct scn_expect *x, struct expect_env *env,
                 struct strbuf *why)
{
    int rc = x->kind->check(x, env, why);

    if (rc != 0 || !env->final_try)
        return rc;
    if (x->kind->explain != NULL)
        x->kind->explain(x, env, why);
    return -1;
}

void expect_clear(struct scn_expect *x)
{
    free(x->host);
    free(x->from);
    free(x->text);
    free(x->mailbox);
    free(x->keys);
    free(x->values);
    for (size_t k = 0; k < x->nrcpt; k++)
        free(x->rcpts[k]);
    free(x->rcpts);
    memset(x, 0, sizeof(*x));
}
