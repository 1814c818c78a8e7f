/*
 * strutil.c — locale-independent string helpers. See strutil.h.
 */
#include "mxlab/strutil.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/xmem.h"

int str_isspace(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

int str_isdigit(int c)
{
    return c >= '0' && c <= '9';
}

int str_isalpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int str_isalnum(int c)
{
    return str_isalpha(c) || str_isdigit(c);
}

int str_tolower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

char *str_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)str_tolower((unsigned char)*p);
    return s;
}

int str_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = str_tolower((unsigned char)*a);
        int cb = str_tolower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

int str_ncasecmp(const char *a, const char *b, size_t n)
{
    for (; n > 0; a++, b++, n--) {
        int ca = str_tolower((unsigned char)*a);
        int cb = str_tolower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
    return 0;
}

const char *str_casestart(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);

    return str_ncasecmp(s, prefix, n) == 0 ? s + n : NULL;
}

char *str_trim(char *s)
{
    char *e;

    while (str_isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && str_isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int str_to_long(const char *s, long *out)
{
    long v = 0;

    while (str_isspace((unsigned char)*s))
        s++;
    if (!str_isdigit((unsigned char)*s))
        return -1;
    for (; str_isdigit((unsigned char)*s); s++) {
        int d = *s - '0';
        if (v > (LONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    while (str_isspace((unsigned char)*s))
        s++;
    if (*s != '\0')
        return -1;
    *out = v;
    return 0;
}

int str_to_seconds(const char *s, char default_unit, long *out)
{
    char num[32];
    size_t n = 0;
    long v, mult;
    char unit;

    while (str_isdigit((unsigned char)s[n]) && n < sizeof(num) - 1) {
        num[n] = s[n];
        n++;
    }
    num[n] = '\0';
    unit = s[n] ? s[n] : default_unit;
    if (n == 0 || (s[n] && s[n + 1]) || str_to_long(num, &v) < 0)
        return -1;
    switch (unit) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    case 'w':
        mult = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (v > LONG_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

int str_logical_lines(const char *text, str_logical_fn *fn, void *arg,
                      int *orphan)
{
    struct strbuf logical;
    int lineno = 0, start = 0, rc = 0;
    const char *p = text;

    strbuf_init(&logical);
    while (*p != '\0' && rc == 0) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, len);
        char *t = line;

        lineno++;
        p = nl ? nl + 1 : p + len;
        while (str_isspace((unsigned char)*t))
            t++;
        if (*t == '#' || *t == '\0') {
            /* Comments and blank lines end nothing, as in Postfix. */
        } else if (str_isspace((unsigned char)line[0])) {
            if (logical.len == 0) {
                if (orphan != NULL)
                    *orphan = lineno;
                rc = -2;
            } else {
                strbuf_putc(&logical, ' ');
                strbuf_puts(&logical, str_trim(t));
            }
        } else {
            if (logical.len > 0)
                rc = fn(arg, str_trim(logical.buf), start);
            strbuf_reset(&logical);
            strbuf_puts(&logical, str_trim(t));
            start = lineno;
        }
        free(line);
    }
    if (rc == 0 && logical.len > 0)
        rc = fn(arg, str_trim(logical.buf), start);
    strbuf_clear(&logical);
    return rc;
}

int str_glob(const char *p, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;

    while (*s) {
        if (*p == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        }
        if (*p == '\\' && p[1] != '\0') {
            if (p[1] == *s) {
                p += 2;
                s++;
                continue;
            }
        } else if (*p != '\0' && (*p == '?' || *p == *s)) {
            p++;
            s++;
            continue;
        }
        if (star_p == NULL)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

void strlist_init(struct strlist *l)
{
    l->v = NULL;
    l->n = 0;
}

void strlist_push(struct strlist *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(s);
}

void strlist_clear(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    strlist_init(l);
}

int strlist_contains_case(const struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (str_casecmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

void strlist_split(struct strlist *l, const char *s)
{
    const char *p = s;

    while (*p) {
        while (*p == ',' || str_isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        /* Postfix keeps "{ ... }" groups (inline tables) as one element. */
        int depth = 0;
        while (*p &&
               (depth > 0 || !(*p == ',' || str_isspace((unsigned char)*p)))) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && depth > 0)
                depth--;
            p++;
        }
        char *item = xstrndup(start, (size_t)(p - start));
        strlist_push(l, item);
        free(item);
    }
}
