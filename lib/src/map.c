/*
 * map.c — Postfix lookup tables from their text formats. See map.h.
 * hash:/btree:/texthash: read "key value" lines (postmap(1) format: '#'
 * comments, continuation lines start with white space, first entry of a
 * duplicate key wins, as postmap keeps it with a warning). Keys are
 * lowercased unless the table is cidr:. Alias tables (MAP_ALIASES) read
 * aliases(5) "name: value" lines, as postalias(1) does. unix:passwd.byname
 * reads a passwd(5) file (map_set_passwd_file), user name -> the line.
 * regexp: (POSIX extended expressions, regexp_table(5)) and pcre:
 * (libpcre2, pcre_table(5)): "[!]/pattern/flags result" tried in order,
 * $1..$9 in results, "if /pattern/" ... "endif" blocks, case-insensitive
 * unless the i flag is given, on the case-folded key. pcre: takes
 * Postfix's flags i m s x A E U (s, "." matches a newline, is on by
 * default) and ignores X, as Postfix built with PCRE2 does.
 */
#include "mxlab/map.h"
#include "mxlab/posixre.h"

#include <errno.h>
#include <regex.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/fsutil.h"
#include "mxlab/log.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

enum map_kind { MAP_DICT, MAP_CIDR, MAP_STATIC, MAP_REGEXP };

struct map_slot {
    char *key;
    char *value;
};

struct map_cidr_entry {
    struct cidr net;
    char *value;
};

/* regexp_table(5): a rule, "if /re/" (skip to its endif when the
 * pattern does not match), or "endif". */
struct map_re_entry {
    enum { MAP_RE_RULE, MAP_RE_IF, MAP_RE_ENDIF } type;
    regex_t re;     /* regexp: */
    pcre2_code *pc; /* pcre: (then re is not used) */
    int negate;
    char *value;  /* rules */
    size_t endif; /* ifs: index of the matching endif */
};

struct map {
    enum map_kind kind;
    int flags;
    int pcre;              /* MAP_REGEXP from a pcre: table */
    unsigned long re_cost; /* regexp: the table's map_posix_cost so far */
    char *spec;
    /* MAP_DICT: open addressing, power-of-two size. */
    struct map_slot *slots;
    size_t nslots;
    size_t count;
    /* MAP_CIDR */
    struct map_cidr_entry *cidrs;
    size_t ncidr;
    /* MAP_STATIC */
    char *static_value;
    /* MAP_REGEXP */
    struct map_re_entry *res;
    size_t nre;
    size_t *open_ifs; /* while loading: indexes of unclosed ifs */
    size_t nopen;
    char *result; /* the last lookup's result, $N expanded */
};

static uint32_t map_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static struct map_slot *map_slot_find(struct map *m, const char *key)
{
    size_t mask = m->nslots - 1;
    size_t i = map_hash(key) & mask;

    while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    return &m->slots[i];
}

static void map_dict_grow(struct map *m)
{
    struct map_slot *old = m->slots;
    size_t oldn = m->nslots;

    m->nslots = oldn ? oldn * 2 : 16;
    m->slots = xcalloc(m->nslots, sizeof(*m->slots));
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].key != NULL)
            *map_slot_find(m, old[i].key) = old[i];
    }
    free(old);
}

/* Returns 0, or 1 if the key was already present (first one kept). */
static int map_dict_add(struct map *m, const char *key, const char *value)
{
    struct map_slot *s;

    if ((m->count + 1) * 2 > m->nslots)
        map_dict_grow(m);
    s = map_slot_find(m, key);
    if (s->key != NULL)
        return 1;
    s->key = xstrdup(key);
    s->value = xstrdup(value);
    m->count++;
    return 0;
}

static int map_add_entry(struct map *m, char *key, const char *value,
                         const char *file, int lineno, char *err, size_t errlen)
{
    if (m->kind == MAP_CIDR) {
        struct cidr net;
        if (cidr_parse(key, &net) < 0) {
            snprintf(err, errlen, "%s:%d: bad network/mask \"%s\"", file,
                     lineno, key);
            return -1;
        }
        m->cidrs = xrealloc(m->cidrs, (m->ncidr + 1) * sizeof(*m->cidrs));
        m->cidrs[m->ncidr].net = net;
        m->cidrs[m->ncidr].value = xstrdup(value);
        m->ncidr++;
        return 0;
    }
    str_lower(key);
    map_dict_add(m, key, value);
    return 0;
}

static char *map_passwd_path;

void map_set_passwd_file(const char *path)
{
    free(map_passwd_path);
    map_passwd_path = path ? xstrdup(path) : NULL;
}

static void map_re_clear(struct map_re_entry *e)
{
    if (e->pc != NULL)
        pcre2_code_free(e->pc);
    else if (e->type != MAP_RE_ENDIF)
        regfree(&e->re);
    free(e->value);
}

/* pcre_table(5) flags: each toggles one option; CASELESS and DOTALL are
 * on to begin with. X (PCRE_EXTRA) does not exist in PCRE2: ignored. */
static int map_pcre_flags(const char *f, size_t n, uint32_t *opts,
                          const char *file, int lineno, char *err,
                          size_t errlen)
{
    static const struct {
        char flag;
        uint32_t opt;
    } table[] = {{'i', PCRE2_CASELESS}, {'m', PCRE2_MULTILINE},
                 {'s', PCRE2_DOTALL},   {'x', PCRE2_EXTENDED},
                 {'A', PCRE2_ANCHORED}, {'E', PCRE2_DOLLAR_ENDONLY},
                 {'U', PCRE2_UNGREEDY}, {'X', 0}};

    *opts = PCRE2_CASELESS | PCRE2_DOTALL;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < sizeof(table) / sizeof(table[0]) && table[k].flag != f[i])
            k++;
        if (k == sizeof(table) / sizeof(table[0])) {
            snprintf(err, errlen, "%s:%d: unknown regexp flag '%c'", file,
                     lineno, f[i]);
            return -1;
        }
        *opts ^= table[k].opt;
    }
    return 0;
}

static int map_pcre_compile(struct map_re_entry *e, const char *re,
                            const char *f, size_t n, const char *file,
                            int lineno, char *err, size_t errlen)
{
    uint32_t opts;
    int code;
    PCRE2_SIZE off;

    if (map_pcre_flags(f, n, &opts, file, lineno, err, errlen) < 0)
        return -1;
    e->pc = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, opts, &code,
                          &off, NULL);
    if (e->pc == NULL) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "%s:%d: bad regular expression at offset %lu: %s",
                 file, lineno, (unsigned long)off, (const char *)msg);
        return -1;
    }
    return 0;
}

#define MAP_RE_TABLE_COST_MAX 20000UL /* posixre.h: beyond each pattern */

static int map_posix_compile(struct map *m, struct map_re_entry *e,
                             const char *re, const char *f, size_t n,
                             const char *file, int lineno, char *err,
                             size_t errlen)
{
    int cflags = REG_EXTENDED | REG_ICASE;
    unsigned long cost;
    const char *why;

    for (size_t i = 0; i < n; i++) {
        if (f[i] == 'i')
            cflags ^= REG_ICASE;
        else if (f[i] == 'x')
            cflags ^= REG_EXTENDED;
        else if (f[i] == 'm')
            cflags ^= REG_NEWLINE; /* regexp_table(5): multi-line mode */
        else {
            snprintf(err, errlen, "%s:%d: unknown regexp flag '%c'", file,
                     lineno, f[i]);
            return -1;
        }
    }
    why = posixre_refuse(re, (cflags & REG_EXTENDED) != 0, &cost);
    if (why == NULL && cost > strlen(re) &&
        (m->re_cost += cost - strlen(re)) > MAP_RE_TABLE_COST_MAX)
        why = "the table's expressions are too large together";
    if (why != NULL) {
        snprintf(err, errlen, "%s:%d: regular expression refused: %s", file,
                 lineno, why);
        return -1;
    }
    int rc = regcomp(&e->re, re, cflags);
    if (rc != 0) {
        char msg[200];
        regerror(rc, &e->re, msg, sizeof(msg));
        snprintf(err, errlen, "%s:%d: bad regular expression: %s", file, lineno,
                 msg);
        return -1;
    }
    return 0;
}

/* "[!]/pattern/flags": compile into e (POSIX, or PCRE2 for pcre: tables);
 * *rest points after the flags. */
static int map_regexp_pattern(struct map *m, struct map_re_entry *e, char *p,
                              char **rest, const char *file, int lineno,
                              char *err, size_t errlen)
{
    char delim, *end, *flags;

    if (*p == '!') {
        e->negate = 1;
        p++;
    }
    delim = *p;
    if (delim == '\0' || str_isalnum((unsigned char)delim) ||
        str_isspace((unsigned char)delim)) {
        snprintf(err, errlen, "%s:%d: expected /pattern/", file, lineno);
        return -1;
    }
    end = p + 1;
    while (*end && *end != delim) {
        if (*end == '\\' && end[1] != '\0')
            end++;
        end++;
    }
    if (*end != delim) {
        snprintf(err, errlen, "%s:%d: missing closing %c", file, lineno, delim);
        return -1;
    }
    *end++ = '\0';
    flags = end;
    while (*end && !str_isspace((unsigned char)*end))
        end++;
    *rest = end;
    if (m->pcre)
        return map_pcre_compile(e, p + 1, flags, (size_t)(end - flags), file,
                                lineno, err, errlen);
    return map_posix_compile(m, e, p + 1, flags, (size_t)(end - flags), file,
                             lineno, err, errlen);
}

static int map_parse_regexp(struct map *m, char *p, const char *file,
                            int lineno, char *err, size_t errlen)
{
    struct map_re_entry e;
    char *rest;

    memset(&e, 0, sizeof(e));
    if (strncmp(p, "endif", 5) == 0 &&
        (p[5] == '\0' || str_isspace((unsigned char)p[5]))) {
        if (m->nopen == 0) {
            snprintf(err, errlen, "%s:%d: endif without if", file, lineno);
            return -1;
        }
        e.type = MAP_RE_ENDIF;
        m->res[m->open_ifs[--m->nopen]].endif = m->nre;
    } else {
        int is_if =
            strncmp(p, "if", 2) == 0 && str_isspace((unsigned char)p[2]);
        if (is_if)
            p = str_trim(p + 2);
        if (map_regexp_pattern(m, &e, p, &rest, file, lineno, err, errlen) < 0)
            return -1;
        rest = str_trim(rest);
        if (is_if) {
            e.type = MAP_RE_IF;
            m->open_ifs =
                xrealloc(m->open_ifs, (m->nopen + 1) * sizeof(*m->open_ifs));
            m->open_ifs[m->nopen++] = m->nre;
        } else if (*rest == '\0') {
            map_re_clear(&e);
            snprintf(err, errlen, "%s:%d: no result after the pattern", file,
                     lineno);
            return -1;
        } else {
            e.type = MAP_RE_RULE;
            e.value = xstrdup(rest);
        }
    }
    m->res = xrealloc(m->res, (m->nre + 1) * sizeof(*m->res));
    m->res[m->nre++] = e;
    return 0;
}

/* The result of rule e for key: $1..$9 (and ${1}) are the groups. */
static const char *map_regexp_result(struct map *m,
                                     const struct map_re_entry *e,
                                     const char *key, const regmatch_t *g)
{
    struct strbuf out;

    strbuf_init(&out);
    for (const char *p = e->value; *p; p++) {
        int n = -1;
        if (p[0] == '$' && p[1] >= '1' && p[1] <= '9') {
            n = p[1] - '0';
            p++;
        } else if (p[0] == '$' && p[1] == '{' && p[2] >= '1' && p[2] <= '9' &&
                   p[3] == '}') {
            n = p[2] - '0';
            p += 3;
        } else if (p[0] == '$' && p[1] == '$') {
            strbuf_putc(&out, '$');
            p++;
            continue;
        }
        if (n < 0)
            strbuf_putc(&out, *p);
        else if (g[n].rm_so >= 0)
            strbuf_append(&out, key + g[n].rm_so,
                          (size_t)(g[n].rm_eo - g[n].rm_so));
    }
    free(m->result);
    m->result = strbuf_detach(&out);
    if (m->result == NULL)
        m->result = xstrdup("");
    return m->result;
}

/* Split "key value" (key ends at the first white space, or for cidr at
 * the first white space after the network); aliases(5): "name: value",
 * the name possibly in double quotes. */
static int map_parse_entry(struct map *m, char *text, const char *file,
                           int lineno, char *err, size_t errlen)
{
    char *p = str_trim(text);
    char *key = p;

    if (m->kind == MAP_REGEXP)
        return map_parse_regexp(m, p, file, lineno, err, errlen);
    if (m->flags & MAP_ALIASES) {
        char *colon;
        if (*p == '"' && (colon = strchr(p + 1, '"')) != NULL) {
            key = p + 1;
            *colon = '\0';
            colon = strchr(colon + 1, ':');
        } else {
            colon = strchr(p, ':');
        }
        if (colon == NULL) {
            snprintf(err, errlen, "%s:%d: need name:value pair", file, lineno);
            return -1;
        }
        *colon = '\0';
        key = str_trim(key);
        if (*key == '\0') {
            snprintf(err, errlen, "%s:%d: missing name before ':'", file,
                     lineno);
            return -1;
        }
        return map_add_entry(m, key, str_trim(colon + 1), file, lineno, err,
                             errlen);
    }
    while (*p && !str_isspace((unsigned char)*p))
        p++;
    if (*p == '\0') {
        snprintf(err, errlen, "%s:%d: expected format: key whitespace value",
                 file, lineno);
        return -1;
    }
    *p++ = '\0';
    return map_add_entry(m, key, str_trim(p), file, lineno, err, errlen);
}

struct map_loader {
    struct map *m;
    const char *file;
    char *err;
    size_t errlen;
};

static int map_load_one(void *arg, char *line, int lineno)
{
    struct map_loader *l = arg;

    return map_parse_entry(l->m, line, l->file, lineno, l->err, l->errlen);
}

static int map_load_text(struct map *m, const char *file, const char *text,
                         char *err, size_t errlen)
{
    struct map_loader l = {m, file, err, errlen};
    int orphan = 0, rc = str_logical_lines(text, map_load_one, &l, &orphan);

    if (rc == -2)
        snprintf(err, errlen,
                 "%s:%d: continuation line without a key before it", file,
                 orphan);
    return rc == 0 ? 0 : -1;
}

/* inline:{ key=value, { key = value with spaces } } */
static int map_load_inline(struct map *m, const char *body, char *err,
                           size_t errlen)
{
    size_t len = strlen(body);
    char *copy, *p;
    int rc = 0;

    if (len < 2 || body[0] != '{' || body[len - 1] != '}') {
        snprintf(err, errlen, "%s: expected inline:{ name=value, ... }",
                 m->spec);
        return -1;
    }
    copy = xstrndup(body + 1, len - 2);
    p = copy;
    while (*p && rc == 0) {
        while (*p == ',' || str_isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        char *item, *end;
        if (*p == '{') {
            item = ++p;
            end = strchr(p, '}');
            if (end == NULL) {
                snprintf(err, errlen, "%s: missing '}'", m->spec);
                rc = -1;
                break;
            }
            *end = '\0';
            p = end + 1;
        } else {
            item = p;
            while (*p && *p != ',' && !str_isspace((unsigned char)*p))
                p++;
            if (*p)
                *p++ = '\0';
        }
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s: missing '=' in \"%s\"", m->spec, item);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = str_trim(item);
        rc = map_add_entry(m, key, str_trim(eq + 1), m->spec, 1, err, errlen);
    }
    free(copy);
    return rc;
}

/* passwd(5): "name:pw:uid:gid:gecos:home:shell" -> the whole line. */
static int map_load_passwd(struct map *m, const char *path, char *err,
                           size_t errlen)
{
    char *text, *line, *next;
    size_t len;
    int lineno = 0;

    if (fs_read_file(path, &text, &len) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (line = text; line != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line) {
            if (*line != '\0' && *line != '#')
                log_warnx("%s:%d: not a passwd(5) entry", path, lineno);
            continue;
        }
        char *key = xstrndup(line, (size_t)(colon - line));
        map_dict_add(m, key, line);
        free(key);
    }
    free(text);
    return 0;
}

struct map *map_open(const char *spec, const char *base_dir, char *err,
                     size_t errlen)
{
    return map_open_flags(spec, base_dir, 0, err, errlen);
}

struct map *map_open_flags(const char *spec, const char *base_dir, int flags,
                           char *err, size_t errlen)
{
    struct map *m;

    /* proxymap(8) only changes who opens the table. */
    if (strncmp(spec, "proxy:", 6) == 0)
        spec += 6;
    m = xcalloc(1, sizeof(*m));
    m->flags = flags;
    const char *colon = strchr(spec, ':');
    char *type, *path = NULL, *text = NULL;
    size_t len;
    int rc = -1;

    m->spec = xstrdup(spec);
    if (colon == NULL) {
        snprintf(err, errlen,
                 "%s: expected type:name (hash:, texthash:, cidr:, "
                 "regexp:, pcre:, inline:, static:)",
                 spec);
        goto done;
    }
    type = xstrndup(spec, (size_t)(colon - spec));
    const char *name = colon + 1;
    if (strcmp(type, "static") == 0) {
        m->kind = MAP_STATIC;
        m->static_value = xstrdup(
            name[0] == '{' && name[strlen(name) - 1] == '}' ? name + 1 : name);
        if (name[0] == '{')
            m->static_value[strlen(m->static_value) - 1] = '\0';
        rc = 0;
    } else if (strcmp(type, "unix") == 0) {
        m->kind = MAP_DICT;
        if (strcmp(name, "passwd.byname") != 0)
            snprintf(err, errlen,
                     "%s: unsupported unix: table (only "
                     "passwd.byname)",
                     spec);
        else
            rc = map_load_passwd(
                m, map_passwd_path ? map_passwd_path : "/etc/passwd", err,
                errlen);
    } else if (strcmp(type, "nis") == 0) {
        /* No NIS in the lab: the table is there and empty, as Postfix's
         * default alias_maps "hash:/etc/aliases, nis:mail.aliases" is read
         * on hosts without NIS. */
        m->kind = MAP_DICT;
        rc = 0;
    } else if (strcmp(type, "inline") == 0) {
        m->kind = MAP_DICT;
        rc = map_load_inline(m, name, err, errlen);
    } else if (strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0 ||
               strcmp(type, "texthash") == 0 || strcmp(type, "cidr") == 0 ||
               strcmp(type, "regexp") == 0 || strcmp(type, "pcre") == 0) {
        m->pcre = strcmp(type, "pcre") == 0;
        m->kind = strcmp(type, "cidr") == 0     ? MAP_CIDR
                  : strcmp(type, "regexp") == 0 ? MAP_REGEXP
                  : strcmp(type, "pcre") == 0   ? MAP_REGEXP
                                                : MAP_DICT;
        if (name[0] != '/' && base_dir != NULL)
            path = xasprintf("%s/%s", base_dir, name);
        else
            path = xstrdup(name);
        if (fs_read_file(path, &text, &len) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        } else if (strlen(text) != len) {
            snprintf(err, errlen, "%s: NUL byte in table", path);
        } else {
            rc = map_load_text(m, path, text, err, errlen);
            if (rc == 0 && m->nopen > 0) {
                snprintf(err, errlen, "%s: \"if\" without endif", path);
                rc = -1;
            }
        }
    } else {
        snprintf(err, errlen, "%s: unsupported lookup table type \"%s\"", spec,
                 type);
    }
    free(type);
done:
    free(path);
    free(text);
    if (rc < 0) {
        map_free(m);
        return NULL;
    }
    return m;
}

void map_free(struct map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        free(m->slots[i].key);
        free(m->slots[i].value);
    }
    free(m->slots);
    for (size_t i = 0; i < m->ncidr; i++)
        free(m->cidrs[i].value);
    free(m->cidrs);
    free(m->static_value);
    for (size_t i = 0; i < m->nre; i++)
        map_re_clear(&m->res[i]);
    free(m->res);
    free(m->open_ifs);
    free(m->result);
    free(m->spec);
    free(m);
}

int map_whole_keys(const struct map *m)
{
    return m->kind == MAP_REGEXP || m->kind == MAP_CIDR;
}

const char *map_spec(const struct map *m)
{
    return m->spec;
}

/* 1 if e's pattern matches k, with groups 0..9 in g (-1: unset); 0 if
 * not; -1 if PCRE2 gave up (a match limit): no match, even for "!". */
static int map_re_match(const struct map_re_entry *e, const char *k,
                        regmatch_t *g)
{
    pcre2_match_data *md;
    int rc;

    if (e->pc == NULL)
        return regexec(&e->re, k, 10, g, 0) == 0;
    md = pcre2_match_data_create(10, NULL);
    rc = pcre2_match(e->pc, (PCRE2_SPTR)k, strlen(k), 0, 0, md, NULL);
    for (int j = 0; j < 10; j++)
        g[j].rm_so = g[j].rm_eo = -1;
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        for (int j = 0; j < rc && j < 10; j++) {
            if (ov[2 * j] == PCRE2_UNSET || ov[2 * j + 1] < ov[2 * j])
                continue;
            g[j].rm_so = (regoff_t)ov[2 * j];
            g[j].rm_eo = (regoff_t)ov[2 * j + 1];
        }
    }
    pcre2_match_data_free(md);
    /* 0: a match with more groups than the vector holds. */
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

const char *map_lookup(struct map *m, const char *key)
{
    switch (m->kind) {
    case MAP_STATIC:
        return m->static_value;
    case MAP_REGEXP: {
        /* The key is case-folded first, as Postfix's access and address
         * lookups open their tables (DICT_FLAG_FOLD_FIX): "$1" of
         * Joe@SPAM.example is "joe". */
        char *k = str_lower(xstrdup(key));
        const char *v = NULL;
        for (size_t i = 0; i < m->nre && v == NULL; i++) {
            const struct map_re_entry *e = &m->res[i];
            regmatch_t g[10];
            if (e->type == MAP_RE_ENDIF)
                continue;
            int hit = map_re_match(e, k, g);
            if (hit < 0)
                hit = 0;
            else if (e->negate)
                hit = !hit;
            if (e->type == MAP_RE_IF) {
                if (!hit)
                    i = e->endif; /* skip the block */
                continue;
            }
            if (hit) {
                if (e->negate)
                    for (int j = 0; j < 10; j++)
                        g[j].rm_so = g[j].rm_eo = -1;
                v = map_regexp_result(m, e, k, g);
            }
        }
        free(k);
        return v;
    }
    case MAP_CIDR: {
        struct netaddr na;
        if (netaddr_parse(key, 0, &na) < 0)
            return NULL;
        for (size_t i = 0; i < m->ncidr; i++)
            if (cidr_match(&m->cidrs[i].net, &na))
                return m->cidrs[i].value;
        return NULL;
    }
    case MAP_DICT: {
        if (m->count == 0)
            return NULL;
        char *k = str_lower(xstrdup(key));
        struct map_slot *s = map_slot_find(m, k);
        free(k);
        return s->key ? s->value : NULL;
    }
    }
    return NULL;
}

struct maplist {
    struct map **v;
    size_t n;
};

struct maplist *maplist_open(const char *specs, const char *base_dir, char *err,
                             size_t errlen)
{
    return maplist_open_flags(specs, base_dir, 0, err, errlen);
}

struct maplist *maplist_open_flags(const char *specs, const char *base_dir,
                                   int flags, char *err, size_t errlen)
{
    struct maplist *ml = xcalloc(1, sizeof(*ml));
    struct strlist l;

    strlist_init(&l);
    strlist_split(&l, specs);
    for (size_t i = 0; i < l.n; i++) {
        struct map *m = map_open_flags(l.v[i], base_dir, flags, err, errlen);
        if (m == NULL) {
            strlist_clear(&l);
            maplist_free(ml);
            return NULL;
        }
        ml->v = xrealloc(ml->v, (ml->n + 1) * sizeof(*ml->v));
        ml->v[ml->n++] = m;
    }
    strlist_clear(&l);
    return ml;
}

void maplist_free(struct maplist *ml)
{
    if (ml == NULL)
        return;
    for (size_t i = 0; i < ml->n; i++)
        map_free(ml->v[i]);
    free(ml->v);
    free(ml);
}

size_t maplist_count(const struct maplist *ml)
{
    return ml ? ml->n : 0;
}

const char *maplist_lookup(struct maplist *ml, const char *key)
{
    if (ml == NULL)
        return NULL;
    for (size_t i = 0; i < ml->n; i++) {
        const char *v = map_lookup(ml->v[i], key);
        if (v != NULL)
            return v;
    }
    return NULL;
}

static int map_cmp_slot(const void *a, const void *b)
{
    return strcmp((*(const struct map_slot *const *)a)->key,
                  (*(const struct map_slot *const *)b)->key);
}

void map_each(const struct map *m, map_each_fn *fn, void *arg)
{
    if (m->kind == MAP_CIDR) {
        for (size_t i = 0; i < m->ncidr; i++) {
            char net[128];
            cidr_str(&m->cidrs[i].net, net, sizeof(net));
            fn(arg, net, m->cidrs[i].value);
        }
        return;
    }
    if (m->kind != MAP_DICT || m->count == 0)
        return;
    const struct map_slot **v = xcalloc(m->count, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].key != NULL)
            v[n++] = &m->slots[i];
    qsort(v, n, sizeof(*v), map_cmp_slot);
    for (size_t i = 0; i < n; i++)
        fn(arg, v[i]->key, v[i]->value);
    free(v);
}
