/*
 * json.c — bounded JSON reader. See json.h.
 * One cursor (pointer, length, position) checked at every byte; a value
 * is parsed into a node the caller owns; errors carry line and column.
 * RFC 8259 grammar; \u escapes become UTF-8 (surrogate pairs joined,
 * U+0000 refused since strings are NUL-terminated).
 */
#include "reports/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct json_cur {
    const char *p;
    size_t len, pos;
    char *err;
    size_t errlen;
    int failed;
};

static int json_fail(struct json_cur *c, const char *what)
{
    size_t line = 1, col = 1;

    if (c->failed)
        return -1;
    for (size_t i = 0; i < c->pos && i < c->len; i++) {
        if (c->p[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(c->err, c->errlen, "%zu:%zu: %s", line, col, what);
    c->failed = 1;
    return -1;
}

static int json_peek(const struct json_cur *c)
{
    return c->pos < c->len ? (unsigned char)c->p[c->pos] : -1;
}

static void json_ws(struct json_cur *c)
{
    while (c->pos < c->len && (c->p[c->pos] == ' ' || c->p[c->pos] == '\t' ||
                               c->p[c->pos] == '\n' || c->p[c->pos] == '\r'))
        c->pos++;
}

static int json_word(struct json_cur *c, const char *w)
{
    size_t n = strlen(w);

    if (c->len - c->pos < n || memcmp(c->p + c->pos, w, n) != 0)
        return json_fail(c, "unexpected bytes (expected a value)");
    c->pos += n;
    return 0;
}

static int json_hex4(struct json_cur *c, unsigned *out)
{
    unsigned v = 0;

    if (c->len - c->pos < 4)
        return json_fail(c, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        int ch = (unsigned char)c->p[c->pos++], d;
        if (str_isdigit(ch))
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            return json_fail(c, "bad hex digit in \\u escape");
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

static void json_utf8(struct strbuf *sb, unsigned cp)
{
    char b[4];

    if (cp < 0x80) {
        strbuf_putc(sb, (char)cp);
        return;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        strbuf_append(sb, b, 2);
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        strbuf_append(sb, b, 3);
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        strbuf_append(sb, b, 4);
    }
}

/* After a backslash: one escape into sb. */
static int json_escape(struct json_cur *c, struct strbuf *sb)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e;
    unsigned cp, lo;
    int ch = json_peek(c);

    if (ch < 0)
        return json_fail(c, "unterminated string");
    c->pos++;
    if (ch != 'u') {
        if (ch == 0 || (e = strchr(from, ch)) == NULL)
            return json_fail(c, "bad escape in string");
        strbuf_putc(sb, to[e - from]);
        return 0;
    }
    if (json_hex4(c, &cp) < 0)
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (c->len - c->pos < 2 || c->p[c->pos] != '\\' ||
            c->p[c->pos + 1] != 'u')
            return json_fail(c, "lone surrogate in \\u escape");
        c->pos += 2;
        if (json_hex4(c, &lo) < 0)
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return json_fail(c, "bad surrogate pair in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return json_fail(c, "lone surrogate in \\u escape");
    }
    if (cp == 0)
        return json_fail(c, "\\u0000 in a string");
    json_utf8(sb, cp);
    return 0;
}

static char *json_string(struct json_cur *c)
{
    struct strbuf sb;

    strbuf_init(&sb);
    c->pos++; /* the opening quote */
    for (;;) {
        int ch = json_peek(c);
        if (ch < 0) {
            json_fail(c, "unterminated string");
            break;
        }
        c->pos++;
        if (ch == '"')
            return strbuf_detach(&sb);
        if (ch < 0x20) {
            c->pos--;
            json_fail(c, "control byte in string");
            break;
        }
        if (ch == '\\') {
            if (json_escape(c, &sb) < 0)
                break;
        } else {
            strbuf_putc(&sb, (char)ch);
        }
    }
    strbuf_clear(&sb);
    return NULL;
}

static int json_digits(struct json_cur *c)
{
    size_t start = c->pos;

    while (json_peek(c) >= 0 && str_isdigit(json_peek(c)))
        c->pos++;
    return c->pos > start ? 0 : json_fail(c, "digit expected in number");
}

static int json_number(struct json_cur *c, double *out)
{
    size_t start = c->pos;
    char buf[64];

    if (json_peek(c) == '-')
        c->pos++;
    if (json_peek(c) == '0')
        c->pos++;
    else if (json_digits(c) < 0)
        return -1;
    if (json_peek(c) == '.') {
        c->pos++;
        if (json_digits(c) < 0)
            return -1;
    }
    if (json_peek(c) == 'e' || json_peek(c) == 'E') {
        c->pos++;
        if (json_peek(c) == '+' || json_peek(c) == '-')
            c->pos++;
        if (json_digits(c) < 0)
            return -1;
    }
    if (c->pos - start >= sizeof(buf))
        return json_fail(c, "number too long");
    memcpy(buf, c->p + start, c->pos - start);
    buf[c->pos - start] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

static int json_value(struct json_cur *c, struct json *out, int depth);

/* An array or an object (close is ']' or '}'), items appended to out. */
static int json_list(struct json_cur *c, struct json *out, int depth, int close)
{
    size_t cap = 0;

    c->pos++;
    json_ws(c);
    if (json_peek(c) == close) {
        c->pos++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        json_ws(c);
        if (close == '}') {
            if (json_peek(c) != '"')
                return json_fail(c, "member name expected");
            if ((key = json_string(c)) == NULL)
                return -1;
            json_ws(c);
            if (json_peek(c) != ':') {
                free(key);
                return json_fail(c, "':' expected after member name");
            }
            c->pos++;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            out->items = xrealloc(out->items, cap * sizeof(*out->items));
            if (close == '}')
                out->keys = xrealloc(out->keys, cap * sizeof(*out->keys));
        }
        memset(&out->items[out->n], 0, sizeof(*out->items));
        if (close == '}')
            out->keys[out->n] = key;
        out->n++;
        if (json_value(c, &out->items[out->n - 1], depth + 1) < 0)
            return -1;
        json_ws(c);
        if (json_peek(c) == close) {
            c->pos++;
            return 0;
        }
        if (json_peek(c) != ',')
            return json_fail(c, close == '}' ? "',' or '}' expected"
                                             : "',' or ']' expected");
        c->pos++;
    }
}

static int json_value(struct json_cur *c, struct json *out, int depth)
{
    int ch;

    if (depth > JSON_DEPTH_MAX)
        return json_fail(c, "nested too deep");
    json_ws(c);
    ch = json_peek(c);
    switch (ch) {
    case '{':
        out->type = JSON_OBJECT;
        return json_list(c, out, depth, '}');
    case '[':
        out->type = JSON_ARRAY;
        return json_list(c, out, depth, ']');
    case '"':
        out->type = JSON_STRING;
        return (out->str = json_string(c)) ? 0 : -1;
    case 't':
        out->type = JSON_BOOL;
        out->num = 1;
        return json_word(c, "true");
    case 'f':
        out->type = JSON_BOOL;
        return json_word(c, "false");
    case 'n':
        out->type = JSON_NULL;
        return json_word(c, "null");
    case -1:
        return json_fail(c, "unexpected end of text");
    default:
        if (ch != '-' && !str_isdigit(ch))
            return json_fail(c, "unexpected bytes (expected a value)");
        out->type = JSON_NUMBER;
        return json_number(c, &out->num);
    }
}

static void json_clear(struct json *j)
{
    for (size_t i = 0; i < j->n; i++) {
        json_clear(&j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
}

struct json *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct json_cur c = {text, len, 0, err, errlen, 0};
    struct json *j = xcalloc(1, sizeof(*j));

    if (json_value(&c, j, 0) == 0) {
        json_ws(&c);
        if (c.pos == c.len)
            return j;
        json_fail(&c, "trailing bytes after the value");
    }
    json_free(j);
    return NULL;
}

void json_free(struct json *j)
{
    if (j == NULL)
        return;
    json_clear(j);
    free(j);
}

const struct json *json_get(const struct json *j, const char *key)
{
    if (j == NULL || j->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->keys[i], key) == 0)
            return &j->items[i];
    return NULL;
}

double json_get_num(const struct json *j, const char *key, double dflt)
{
    const struct json *v = json_get(j, key);

    return v && v->type == JSON_NUMBER ? v->num : dflt;
}

const char *json_get_str(const struct json *j, const char *key)
{
    const struct json *v = json_get(j, key);

    return v && v->type == JSON_STRING ? v->str : NULL;
}
