/*
 * capture.c — captured values and the patterns that use them. See
 * capture.h. A glob is built as an anchored POSIX ERE; captured values
 * are quoted when they are matched again.
 */
#include "capture.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAPTURE_SPECIAL ".[]()*+?{}|^$\\"

void capture_init(struct capture *c)
{
    strlist_init(&c->names);
    strlist_init(&c->values);
}

void capture_clear(struct capture *c)
{
    strlist_clear(&c->names);
    strlist_clear(&c->values);
}

const char *capture_get(const struct capture *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->names.n; i++)
        if (strlen(c->names.v[i]) == len &&
            memcmp(c->names.v[i], name, len) == 0)
            return c->values.v[i];
    return NULL;
}

int capture_substitute(const struct capture *c, const char *in,
                       struct strbuf *out, char *unknown, size_t ulen)
{
    for (const char *p = in; *p;) {
        const char *end;
        if (*p == '{' && (end = strchr(p, '}')) != NULL && end > p + 1) {
            const char *v = capture_get(c, p + 1, (size_t)(end - p - 1));
            if (v == NULL) {
                snprintf(unknown, ulen, "%.*s", (int)(end - p - 1), p + 1);
                return -1;
            }
            strbuf_puts(out, v);
            p = end + 1;
            continue;
        }
        strbuf_putc(out, *p++);
    }
    return 0;
}

static void capture_quote(struct strbuf *re, char ch)
{
    if (strchr(CAPTURE_SPECIAL, ch))
        strbuf_putc(re, '\\');
    strbuf_putc(re, ch);
}

/* The ERE of a glob; the names of new captures, in order, into names. */
static void capture_glob_re(const struct capture *c, const char *pattern,
                            struct strbuf *re, struct strlist *names)
{
    strbuf_putc(re, '^');
    for (const char *p = pattern; *p; p++) {
        const char *end;
        if (*p == '*') {
            strbuf_puts(re, ".*");
        } else if (*p == '?') {
            strbuf_putc(re, '.');
        } else if (*p == '{' && (end = strchr(p, '}')) != NULL && end > p + 1 &&
                   names->n < 9) {
            const char *v = capture_get(c, p + 1, (size_t)(end - p - 1));
            if (v != NULL) {
                for (const char *q = v; *q; q++)
                    capture_quote(re, *q);
            } else {
                char *name = xstrndup(p + 1, (size_t)(end - p - 1));
                strbuf_puts(re, "([^ ]+)");
                strlist_push(names, name);
                free(name);
            }
            p = end;
        } else {
            if (*p == '\\' && p[1] != '\0')
                p++;
            capture_quote(re, *p);
        }
    }
    strbuf_putc(re, '$');
}

int capture_glob(struct capture *c, const char *pattern, const char *line)
{
    struct strbuf re;
    struct strlist names;
    regex_t rx;
    regmatch_t m[10];
    int ok = 0;

    strbuf_init(&re);
    strlist_init(&names);
    capture_glob_re(c, pattern, &re, &names);
    if (regcomp(&rx, re.buf, REG_EXTENDED) == 0) {
        ok = regexec(&rx, line, 10, m, 0) == 0;
        for (size_t i = 0; ok && i < names.n; i++) {
            char *val = xstrndup(line + m[i + 1].rm_so,
                                 (size_t)(m[i + 1].rm_eo - m[i + 1].rm_so));
            strlist_push(&c->names, names.v[i]);
            strlist_push(&c->values, val);
            free(val);
        }
        regfree(&rx);
    }
    strbuf_clear(&re);
    strlist_clear(&names);
    return ok;
}

int capture_regex(const char *re, const char *line)
{
    regex_t rx;
    int ok;

    if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    ok = regexec(&rx, line, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}
