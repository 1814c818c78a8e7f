/*
 * expect_log.c — the expectations on what the system under test wrote:
 * its mail log ("log contains", "log count", "log totals", also against
 * pflogsumm) and its local mailboxes ("mailbox USER ..."). Table entries
 * of expect.c's kind (expect.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "expect.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "reports/logsum.h"

/* ---- log contains TEXT, log totals ... ---- */

static int expect_parse_log_contains(struct scn_expect *x,
                                     const struct strlist *w, const char *text,
                                     char *err, size_t errlen)
{
    const char *t = expect_rest(text, "contains");

    (void)w;
    if (*t == '\0') {
        snprintf(err, errlen, "log contains: text expected");
        return -1;
    }
    x->text = xstrdup(t);
    return 0;
}

static long expect_log_count(const struct scn_expect *x, struct expect_env *env,
                             struct strbuf *why);

static int expect_check_log_contains(const struct scn_expect *x,
                                     struct expect_env *env, struct strbuf *why)
{
    long n = expect_log_count(x, env, why);

    return n < 0 ? -1 : n > 0;
}

static void expect_explain_log_contains(const struct scn_expect *x,
                                        struct expect_env *env,
                                        struct strbuf *why)
{
    strbuf_printf(why, "no log line contains \"%s\" (log: %s)", x->text,
                  lab_maillog(env->lab));
}

static int expect_parse_log_totals(struct scn_expect *x,
                                   const struct strlist *w, const char *text,
                                   char *err, size_t errlen)
{
    (void)text;
    if (w->n == 4 && strcmp(w->v[2], "as") == 0 &&
        strcmp(w->v[3], "pflogsumm") == 0)
        return 0;
    if (w->n < 4 || w->n % 2 != 0) {
        snprintf(err, errlen,
                 "expected \"log totals as pflogsumm\" or \"log totals NAME N "
                 "[NAME N]...\"");
        return -1;
    }
    for (size_t i = 2; i + 1 < w->n; i += 2) {
        int k = logsum_key(w->v[i]);
        long v;
        if (k < 0) {
            snprintf(err, errlen,
                     "log totals: unknown counter \"%s\"; expected received, "
                     "delivered, forwarded, deferred, deferrals, bounced, "
                     "rejected, reject-warnings, held, discarded, "
                     "bytes-received, bytes-delivered, senders, "
                     "sending-domains, recipients or recipient-domains",
                     w->v[i]);
            return -1;
        }
        if (str_to_long(w->v[i + 1], &v) < 0) {
            snprintf(err, errlen, "log totals: %s: expected a number", w->v[i]);
            return -1;
        }
        x->keys = xrealloc(x->keys, (x->nkeys + 1) * sizeof(*x->keys));
        x->values = xrealloc(x->values, (x->nkeys + 1) * sizeof(*x->values));
        x->keys[x->nkeys] = k;
        x->values[x->nkeys++] = v;
    }
    return 0;
}

/* pflogsumm's reading of the SUT's log with seed 003's options, against
 * ours. Differences go to why; 1 if none. */
static int expect_pflogsumm_same(struct expect_env *env, struct logsum *mine,
                                 struct strbuf *why)
{
    struct strbuf out, err;
    struct logsum want;
    int same = 1;

    strbuf_init(&out);
    strbuf_init(&err);
    int rc = admin_pflogsumm(env->lab,
                             "pflogsumm -h 0 -u 0 --bounce_detail=0 "
                             "--deferral_detail=0 --reject_detail=0 "
                             "--no_no_msg_size --smtpd_warning_detail=0",
                             &out, &err);
    if (rc != 0 || logsum_parse_pflogsumm(out.buf, &want) < 0) {
        strbuf_printf(why, "pflogsumm gave no totals (exit %d): %s", rc,
                      err.buf ? err.buf : "");
        same = 0;
    } else {
        logsum_round_like_pflogsumm(mine);
        for (int k = 0; k < LOGSUM_NKEYS; k++)
            if (mine->v[k] != want.v[k]) {
                strbuf_printf(why, "%s%s: mxlab counts %ld, pflogsumm %ld",
                              same ? "" : "; ", logsum_name(k), mine->v[k],
                              want.v[k]);
                same = 0;
            }
    }
    strbuf_clear(&out);
    strbuf_clear(&err);
    return same;
}

static int expect_check_log_totals(const struct scn_expect *x,
                                   struct expect_env *env, struct strbuf *why)
{
    struct logsum mine;
    char *log = NULL;
    int same = 1;

    if (!expect_idle(env) && !env->final_try)
        return 0;
    if (fs_read_file(lab_maillog(env->lab), &log, NULL) < 0) {
        strbuf_printf(why, "cannot read the log %s", lab_maillog(env->lab));
        return env->final_try ? -1 : 0;
    }
    logsum_read(log, &mine);
    free(log);
    if (x->nkeys == 0)
        same = expect_pflogsumm_same(env, &mine, why);
    for (size_t i = 0; i < x->nkeys; i++)
        if (mine.v[x->keys[i]] != x->values[i]) {
            strbuf_printf(why, "%slog totals: %s is %ld, expected %ld",
                          same ? "" : "; ", logsum_name(x->keys[i]),
                          mine.v[x->keys[i]], x->values[i]);
            same = 0;
        }
    if (same)
        return 1;
    if (!env->final_try) {
        strbuf_reset(why);
        return 0;
    }
    return -1;
}

/* ---- mailbox USER messages N | contains TEXT ---- */

static int expect_parse_mailbox(struct scn_expect *x, const struct strlist *w,
                                const char *text, char *err, size_t errlen)
{
    if (w->n == 4 && strcmp(w->v[2], "messages") == 0 &&
        str_to_long(w->v[3], &x->count) == 0) {
        /* a count */
    } else if (w->n >= 4 && strcmp(w->v[2], "contains") == 0) {
        x->text = xstrdup(expect_rest(text, "contains"));
    } else {
        snprintf(err, errlen,
                 "expected \"mailbox USER messages N\" or \"mailbox USER "
                 "contains TEXT\"");
        return -1;
    }
    if (strchr(w->v[1], '/') != NULL || w->v[1][0] == '.') {
        snprintf(err, errlen, "mailbox: \"%s\" is not a user name", w->v[1]);
        return -1;
    }
    x->mailbox = xstrdup(w->v[1]);
    return 0;
}

/* The "From " blocks of an mbox, each pushed to msgs. */
static void expect_mbox(const char *text, struct strlist *msgs)
{
    struct strbuf one;

    strbuf_init(&one);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (strncmp(line, "From ", 5) == 0 && one.len > 0) {
            strlist_push(msgs, one.buf);
            strbuf_reset(&one);
        }
        strbuf_append(&one, line, n);
        line += n;
    }
    if (one.len > 0)
        strlist_push(msgs, one.buf);
    strbuf_clear(&one);
}

/* The messages in a local user's mailbox under the lab's spool: the
 * files of a Maildir's new/ and cur/, or the messages of an mbox. */
static void expect_mailbox(struct expect_env *env, const char *user,
                           struct strlist *msgs)
{
    static const char *subs[] = {"new", "cur"};
    char *path = xasprintf("%s/mail/%s", lab_workdir(env->lab), user);
    char *text;

    if (fs_read_file(path, &text, NULL) == 0) {
        expect_mbox(text, msgs);
        free(text);
    }
    for (size_t i = 0; i < 2; i++) {
        char *dir = xasprintf("%s/%s", path, subs[i]);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char *f = xasprintf("%s/%s", dir, de->d_name);
            if (fs_read_file(f, &text, NULL) == 0) {
                strlist_push(msgs, text);
                free(text);
            }
            free(f);
        }
        if (d != NULL)
            closedir(d);
        free(dir);
    }
    free(path);
}

/* 1 if the mailbox matches, 0 if not; *n: its messages. */
static int expect_mailbox_match(const struct scn_expect *x,
                                struct expect_env *env, size_t *n)
{
    struct strlist msgs;
    int ok = 0;

    strlist_init(&msgs);
    expect_mailbox(env, x->mailbox, &msgs);
    if (x->text == NULL)
        ok = (long)msgs.n == x->count;
    for (size_t i = 0; x->text != NULL && i < msgs.n && !ok; i++)
        ok = expect_text_has_line(msgs.v[i], x->text);
    *n = msgs.n;
    strlist_clear(&msgs);
    return ok;
}

static int expect_check_mailbox(const struct scn_expect *x,
                                struct expect_env *env, struct strbuf *why)
{
    size_t n;

    (void)why;
    if (!expect_idle(env) && !env->final_try)
        return 0;
    return expect_mailbox_match(x, env, &n);
}

static void expect_explain_mailbox(const struct scn_expect *x,
                                   struct expect_env *env, struct strbuf *why)
{
    size_t n;

    expect_mailbox_match(x, env, &n);
    if (x->text == NULL)
        strbuf_printf(why, "mailbox %s holds %zu message(s), expected %ld",
                      x->mailbox, n, x->count);
    else
        strbuf_printf(why,
                      "no message in mailbox %s (%zu message(s)) has a line "
                      "with \"%s\"",
                      x->mailbox, n, x->text);
}

/* In the order they are tried: "delivered data" before "delivered". */
/* ---- log count PATTERN N ---- */

static int expect_parse_log_count(struct scn_expect *x, const struct strlist *w,
                                  const char *text, char *err, size_t errlen)
{
    const char *t = expect_rest(text, "count");
    size_t len = strlen(t), end;
    char *num;
    int bad;

    (void)w;
    /* The count is the last word of the text itself, the pattern all
     * before it (found in t, not in the word list, whose idea of a
     * blank may differ: found by the scenario fuzzer). */
    while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        len--;
    end = len;
    while (len > 0 && t[len - 1] != ' ' && t[len - 1] != '\t')
        len--;
    num = xstrndup(t + len, end - len);
    while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        len--;
    bad = len == 0 || str_to_long(num, &x->count) < 0 || x->count < 0;
    free(num);
    if (bad) {
        snprintf(err, errlen, "log count: expected \"log count PATTERN N\"");
        return -1;
    }
    x->text = xstrndup(t, len);
    return 0;
}

/* Lines of the mail log that contain x->text ({captures} replaced; '*'
 * and '?' as in S:), or -1 with why: "log contains" and "log count". */
static long expect_log_count(const struct scn_expect *x, struct expect_env *env,
                             struct strbuf *why)
{
    struct strbuf text;
    char unknown[128], *log, *glob;
    long n = 0;

    strbuf_init(&text);
    if (capture_substitute(env->vars, x->text, &text, unknown,
                           sizeof(unknown)) < 0) {
        strbuf_clear(&text);
        strbuf_printf(why, "unknown variable {%s}", unknown);
        return -1;
    }
    glob = xasprintf("*%s*", text.buf ? text.buf : "");
    if (fs_read_file(lab_maillog(env->lab), &log, NULL) == 0) {
        for (char *line = log; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            n += str_glob(glob, line);
            line = nl ? nl + 1 : NULL;
        }
        free(log);
    }
    free(glob);
    strbuf_clear(&text);
    return n;
}

static int expect_check_log_count(const struct scn_expect *x,
                                  struct expect_env *env, struct strbuf *why)
{
    long n;

    if (!expect_idle(env) && !env->final_try)
        return 0;
    n = expect_log_count(x, env, why);
    return n < 0 ? -1 : n == x->count;
}

static void expect_explain_log_count(const struct scn_expect *x,
                                     struct expect_env *env, struct strbuf *why)
{
    struct strbuf ignored;

    strbuf_init(&ignored);
    strbuf_printf(why, "expected %ld log line(s) containing \"%s\", found %ld",
                  x->count, x->text, expect_log_count(x, env, &ignored));
    strbuf_clear(&ignored);
}

const struct expect_kind expect_log_kinds[] = {
    {"log contains", 2, 0, expect_parse_log_contains, expect_check_log_contains,
     expect_explain_log_contains},
    {"log count", 4, 0, expect_parse_log_count, expect_check_log_count,
     expect_explain_log_count},
    {"log totals", 2, 0, expect_parse_log_totals, expect_check_log_totals,
     NULL},
    {"mailbox", 1, 0, expect_parse_mailbox, expect_check_mailbox,
     expect_explain_mailbox},
};
const size_t expect_log_nkinds =
    sizeof(expect_log_kinds) / sizeof(expect_log_kinds[0]);
