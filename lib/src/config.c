/*
 * config.c — main.cf parsing and $name expansion. See config.h.
 * Postfix semantics (postconf(5)): a logical line begins at a non-space
 * character in column one; lines that start with white space continue it;
 * '#' at the start of a line is a comment; the last setting wins.
 */
#include "mxlab/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#define CONFIG_EXPAND_DEPTH 100
/* No expanded value may exceed this: a fan-out of $names (a = $b $b,
 * b = $c $c, ...) would otherwise grow without bound. */
#define CONFIG_EXPAND_MAX (1024 * 1024)
#define CONFIG_TIME_MAX (366L * 86400)

struct config_entry {
    char *name;
    char *raw;      /* explicit value, or NULL */
    char *def;      /* default, or NULL */
    char *where;    /* "file:line" of the explicit value */
    char *expanded; /* cache, freed on any change */
};

struct config {
    struct config_entry *v;
    size_t n;
    /* The expansion under way: indices of the parameters being expanded
     * (a name met again is a recursion), and the first error seen. */
    size_t expanding[CONFIG_EXPAND_DEPTH + 1];
    int nexpanding;
    char *expand_error;
};

struct config *config_new(void)
{
    return xcalloc(1, sizeof(struct config));
}

static void config_flush_cache(struct config *cf)
{
    free(cf->expand_error);
    cf->expand_error = NULL;
    for (size_t i = 0; i < cf->n; i++) {
        free(cf->v[i].expanded);
        cf->v[i].expanded = NULL;
    }
}

void config_free(struct config *cf)
{
    if (cf == NULL)
        return;
    config_flush_cache(cf);
    for (size_t i = 0; i < cf->n; i++) {
        free(cf->v[i].name);
        free(cf->v[i].raw);
        free(cf->v[i].def);
        free(cf->v[i].where);
    }
    free(cf->v);
    free(cf);
}

struct config *config_copy(const struct config *cf)
{
    struct config *c = config_new();

    c->v = xcalloc(cf->n ? cf->n : 1, sizeof(*c->v));
    for (size_t i = 0; i < cf->n; i++) {
        const struct config_entry *e = &cf->v[i];
        c->v[i].name = xstrdup(e->name);
        c->v[i].raw = e->raw ? xstrdup(e->raw) : NULL;
        c->v[i].def = e->def ? xstrdup(e->def) : NULL;
        c->v[i].where = e->where ? xstrdup(e->where) : NULL;
    }
    c->n = cf->n;
    return c;
}

static struct config_entry *config_find(const struct config *cf,
                                        const char *name, size_t len)
{
    for (size_t i = 0; i < cf->n; i++)
        if (strlen(cf->v[i].name) == len &&
            memcmp(cf->v[i].name, name, len) == 0)
            return &cf->v[i];
    return NULL;
}

static struct config_entry *config_entry(struct config *cf, const char *name)
{
    struct config_entry *e = config_find(cf, name, strlen(name));

    if (e != NULL)
        return e;
    cf->v = xrealloc(cf->v, (cf->n + 1) * sizeof(*cf->v));
    e = &cf->v[cf->n++];
    memset(e, 0, sizeof(*e));
    e->name = xstrdup(name);
    return e;
}

/* value may be borrowed from config_get(): copy it before the cache that
 * may hold it is flushed. */
static void config_set_where(struct config *cf, const char *name,
                             const char *value, const char *where)
{
    char *copy = xstrdup(value);
    struct config_entry *e;

    config_flush_cache(cf);
    e = config_entry(cf, name);
    free(e->raw);
    free(e->where);
    e->raw = copy;
    e->where = where ? xstrdup(where) : NULL;
}

void config_set(struct config *cf, const char *name, const char *value)
{
    config_set_where(cf, name, value, NULL);
}

void config_set_at(struct config *cf, const char *name, const char *value,
                   const char *where)
{
    config_set_where(cf, name, value, where);
}

void config_set_default(struct config *cf, const char *name, const char *value)
{
    char *copy = xstrdup(value); /* may be borrowed from config_get() */
    struct config_entry *e;

    config_flush_cache(cf);
    e = config_entry(cf, name);
    free(e->def);
    e->def = copy;
}

int config_is_set(const struct config *cf, const char *name)
{
    const struct config_entry *e = config_find(cf, name, strlen(name));

    return e != NULL && e->raw != NULL;
}

const char *config_raw(const struct config *cf, const char *name)
{
    const struct config_entry *e = config_find(cf, name, strlen(name));

    if (e == NULL)
        return NULL;
    return e->raw ? e->raw : e->def;
}

const char *config_where(const struct config *cf, const char *name)
{
    const struct config_entry *e = config_find(cf, name, strlen(name));

    return e ? e->where : NULL;
}

static int config_valid_name_char(int c)
{
    return str_isalnum(c) || c == '_';
}

/* Parse one logical line "name = value". */
static int config_parse_line(struct config *cf, const char *file, int lineno,
                             char *line, char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    char *name, *value;
    char where[512];

    if (eq == NULL) {
        /* Postfix: missing '=' after attribute name: "..." */
        snprintf(err, errlen,
                 "%s:%d: missing '=' after attribute name: \"%.100s\"", file,
                 lineno, str_trim(line));
        return -1;
    }
    *eq = '\0';
    name = str_trim(line);
    value = str_trim(eq + 1);
    if (*name == '\0') {
        snprintf(err, errlen, "%s:%d: missing parameter name before '='", file,
                 lineno);
        return -1;
    }
    for (char *p = name; *p; p++) {
        if (!config_valid_name_char((unsigned char)*p)) {
            snprintf(err, errlen, "%s:%d: bad parameter name \"%s\"", file,
                     lineno, name);
            return -1;
        }
    }
    snprintf(where, sizeof(where), "%s:%d", file, lineno);
    config_set_where(cf, name, value, where);
    return 0;
}

struct config_loader {
    struct config *cf;
    const char *name;
    char *err;
    size_t errlen;
};

static int config_load_one(void *arg, char *line, int lineno)
{
    struct config_loader *l = arg;

    return config_parse_line(l->cf, l->name, lineno, line, l->err, l->errlen);
}

int config_load_text(struct config *cf, const char *name, const char *text,
                     char *err, size_t errlen)
{
    struct config_loader l = {cf, name, err, errlen};
    int orphan = 0, rc;

    rc = str_logical_lines(text, config_load_one, &l, &orphan);
    if (rc == -2)
        snprintf(err, errlen,
                 "%s:%d: continuation line without a parameter before it", name,
                 orphan);
    return rc == 0 ? 0 : -1;
}

int config_load(struct config *cf, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc;

    if (fs_read_file(path, &text, &len) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (strlen(text) != len) {
        snprintf(err, errlen, "%s: NUL byte in file", path);
        free(text);
        return -1;
    }
    rc = config_load_text(cf, path, text, err, errlen);
    free(text);
    return rc;
}

static void config_expand_into(struct config *cf, const char *text,
                               struct strbuf *out, int depth);

/* The first expansion error is kept (config_expand_error): a recursion
 * on name, or (name NULL) an expansion over CONFIG_EXPAND_MAX. */
static void config_expand_fail(struct config *cf, const char *name, size_t len)
{
    if (cf->expand_error != NULL)
        return;
    if (name != NULL)
        cf->expand_error = xasprintf(
            "unreasonable macro call nesting: \"%.*s\"", (int)len, name);
    else
        cf->expand_error =
            xasprintf("expansion longer than %d bytes", CONFIG_EXPAND_MAX);
}

/* $name: its value, expanded once and cached, so that a name used many
 * times costs one expansion (Postfix expands each parameter once). A
 * name met again while it is being expanded is a recursion, which
 * Postfix reports as "unreasonable macro call nesting". */
static void config_expand_name(struct config *cf, const char *name, size_t len,
                               struct strbuf *out, int depth)
{
    struct config_entry *e = config_find(cf, name, len);
    size_t idx;
    const char *raw;
    struct strbuf val;

    if (e == NULL)
        return;
    if (e->expanded != NULL) {
        strbuf_puts(out, e->expanded);
        return;
    }
    idx = (size_t)(e - cf->v);
    for (int i = 0; i < cf->nexpanding; i++)
        if (cf->expanding[i] == idx) {
            config_expand_fail(cf, name, len);
            return;
        }
    raw = e->raw ? e->raw : e->def;
    if (raw == NULL || cf->nexpanding > CONFIG_EXPAND_DEPTH)
        return;
    cf->expanding[cf->nexpanding++] = idx;
    strbuf_init(&val);
    config_expand_into(cf, raw, &val, depth + 1);
    cf->nexpanding--;
    strbuf_append(out, val.buf ? val.buf : "", val.len);
    if (cf->expand_error == NULL)
        e->expanded = strbuf_detach(&val);
    else
        strbuf_clear(&val);
}

static void config_expand_into(struct config *cf, const char *text,
                               struct strbuf *out, int depth)
{
    const char *p = text;

    if (depth > CONFIG_EXPAND_DEPTH)
        return;
    while (*p != '\0') {
        if (out->len > CONFIG_EXPAND_MAX) {
            config_expand_fail(cf, NULL, 0);
            return;
        }
        if (*p != '$') {
            strbuf_putc(out, *p++);
            continue;
        }
        p++;
        if (*p == '$') {
            strbuf_putc(out, *p++);
            continue;
        }
        if (*p == '{' || *p == '(') {
            char close = *p == '{' ? '}' : ')';
            const char *s = ++p;
            int nest = 0;
            while (*p && (nest > 0 || *p != close)) {
                if (*p == '{' || *p == '(')
                    nest++;
                else if (*p == '}' || *p == ')')
                    nest--;
                p++;
            }
            size_t len = (size_t)(p - s);
            if (*p == close)
                p++;
            const char *op = s;
            while (op < s + len && config_valid_name_char((unsigned char)*op))
                op++;
            if (op < s + len && (*op == '?' || *op == ':')) {
                /* ${name?text}: text when name is non-empty;
                 * ${name:text}: text when name is empty. */
                struct strbuf val;
                strbuf_init(&val);
                config_expand_name(cf, s, (size_t)(op - s), &val, depth);
                int nonempty = val.len > 0;
                strbuf_clear(&val);
                const char *t = op + 1, *end = s + len;
                size_t tlen = (size_t)(end - t);
                /* Postfix 3.0: ${name?{text1}:{text2}}, ${name:{text}}. */
                const char *close1 = NULL;
                if (*t == '{') {
                    int depth1 = 0;
                    for (const char *q = t; q < end; q++) {
                        depth1 += *q == '{' ? 1 : *q == '}' ? -1 : 0;
                        if (depth1 == 0) {
                            close1 = q;
                            break;
                        }
                    }
                }
                if (close1 != NULL) {
                    const char *t2 = close1 + 1;
                    int has2 = *op == '?' && t2 + 1 < end && t2[0] == ':' &&
                               t2[1] == '{' && end[-1] == '}';
                    if ((*op == '?') == nonempty) {
                        t = t + 1;
                        tlen = (size_t)(close1 - t);
                    } else if (has2) {
                        t = t2 + 2;
                        tlen = (size_t)(end - 1 - t);
                    } else {
                        tlen = 0;
                    }
                } else if ((*op == '?') != nonempty) {
                    tlen = 0;
                }
                if (tlen > 0) {
                    char *sub = xstrndup(t, tlen);
                    config_expand_into(cf, sub, out, depth + 1);
                    free(sub);
                }
            } else {
                config_expand_name(cf, s, len, out, depth);
            }
            continue;
        }
        const char *s = p;
        while (config_valid_name_char((unsigned char)*p))
            p++;
        if (p == s) {
            strbuf_putc(out, '$');
            continue;
        }
        config_expand_name(cf, s, (size_t)(p - s), out, depth);
    }
}

char *config_expand(struct config *cf, const char *text)
{
    struct strbuf sb;

    strbuf_init(&sb);
    config_expand_into(cf, text, &sb, 0);
    return strbuf_detach(&sb);
}

const char *config_get(struct config *cf, const char *name)
{
    struct config_entry *e = config_find(cf, name, strlen(name));

    if (e == NULL)
        return "";
    if (e->expanded == NULL) {
        struct strbuf sb;
        strbuf_init(&sb);
        config_expand_name(cf, name, strlen(name), &sb, 0);
        /* After an error nothing was cached: keep what came out, so that
         * the value stays borrowed as promised. */
        if (e->expanded == NULL)
            e->expanded = sb.buf ? strbuf_detach(&sb) : xstrdup("");
        strbuf_clear(&sb);
    }
    return e->expanded;
}

const char *config_expand_error(const struct config *cf)
{
    return cf->expand_error;
}

int config_check(struct config *cf, char *err, size_t errlen)
{
    for (size_t i = 0; i < cf->n; i++) {
        const struct config_entry *e = &cf->v[i];
        if (e->raw == NULL)
            continue;
        config_get(cf, e->name);
        if (cf->expand_error != NULL) {
            snprintf(err, errlen, "%s%sparameter %s: %s",
                     e->where ? e->where : "", e->where ? ": " : "", e->name,
                     cf->expand_error);
            return -1;
        }
    }
    return 0;
}

int config_get_bool(struct config *cf, const char *name)
{
    const char *v = config_get(cf, name);

    if (str_casecmp(v, "yes") == 0 || str_casecmp(v, "true") == 0)
        return 1;
    if (str_casecmp(v, "no") == 0 || str_casecmp(v, "false") == 0)
        return 0;
    return -1;
}

static void config_bad_value(struct config *cf, const char *name,
                             const char *what, char *err, size_t errlen)
{
    const char *where;

    if (err == NULL)
        return;
    where = config_where(cf, name);
    snprintf(err, errlen, "%s%sbad %s value for parameter %s: \"%s\"",
             where ? where : "", where ? ": " : "", what, name,
             config_get(cf, name));
}

long config_get_long(struct config *cf, const char *name, char *err,
                     size_t errlen)
{
    long v;

    if (str_to_long(config_get(cf, name), &v) < 0) {
        config_bad_value(cf, name, "numerical", err, errlen);
        return -1;
    }
    return v;
}

long config_get_time(struct config *cf, const char *name, char default_unit,
                     char *err, size_t errlen)
{
    long v;

    if (str_to_seconds(config_get(cf, name), default_unit, &v) < 0) {
        config_bad_value(cf, name, "time", err, errlen);
        return -1;
    }
    /* No Postfix timer means more than a year; such a value is a typo
     * (and would overflow the deadlines computed from it). */
    if (v > CONFIG_TIME_MAX) {
        config_bad_value(cf, name, "time (more than a year)", err, errlen);
        return -1;
    }
    return v;
}

static int config_cmp_name(const void *a, const void *b)
{
    const struct config_entry *const *x = a, *const *y = b;

    return strcmp((*x)->name, (*y)->name);
}

void config_each_set(const struct config *cf, config_each_fn *fn, void *arg)
{
    const struct config_entry **v = xcalloc(cf->n, sizeof(*v));
    size_t n = 0;

    for (size_t i = 0; i < cf->n; i++)
        if (cf->v[i].raw != NULL)
            v[n++] = &cf->v[i];
    qsort(v, n, sizeof(*v), config_cmp_name);
    for (size_t i = 0; i < n; i++)
        fn(arg, v[i]->name, v[i]->raw);
    free(v);
}
