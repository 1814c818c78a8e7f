/*
 * xmem.c — allocation wrappers and the string buffer. See xmem.h.
 */
#include "mxlab/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/log.h"

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        fatal("malloc(%zu)", n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        fatal("calloc(%zu, %zu)", n, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        fatal("realloc(%zu)", n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    struct strbuf sb;
    va_list ap;

    strbuf_init(&sb);
    va_start(ap, fmt);
    strbuf_vprintf(&sb, fmt, ap);
    va_end(ap);
    return strbuf_detach(&sb);
}

void strbuf_init(struct strbuf *sb)
{
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void strbuf_clear(struct strbuf *sb)
{
    free(sb->buf);
    strbuf_init(sb);
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->buf != NULL)
        sb->buf[0] = '\0';
}

static void strbuf_grow(struct strbuf *sb, size_t more)
{
    size_t need = sb->len + more + 1;

    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    sb->buf = xrealloc(sb->buf, cap);
    sb->cap = cap;
}

void strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
    strbuf_grow(sb, len);
    if (len > 0)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
    strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(struct strbuf *sb, char c)
{
    strbuf_append(sb, &c, 1);
}

void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    strbuf_grow(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

char *strbuf_detach(struct strbuf *sb)
{
    char *p = sb->buf;

    if (p == NULL)
        p = xstrdup("");
    strbuf_init(sb);
    return p;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629 section 4), or 0. */
static size_t strbuf_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

void strbuf_put_json(struct strbuf *sb, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* start of the pending run of bytes copied as they are */

    strbuf_putc(sb, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        size_t u;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            continue; /* the common case: part of the run */
        if (c >= 0x80 && (u = strbuf_utf8_len(p + i, len - i)) > 0) {
            i += u - 1; /* valid UTF-8 passes through */
            continue;
        }
        strbuf_append(sb, p + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            strbuf_append(sb, esc, 2);
        } else if (c == '\n') {
            strbuf_append(sb, "\\n", 2);
        } else if (c == '\r') {
            strbuf_append(sb, "\\r", 2);
        } else if (c == '\t') {
            strbuf_append(sb, "\\t", 2);
        } else {
            /* Other control bytes, DEL, bytes not in valid UTF-8. */
            char hex[7];
            snprintf(hex, sizeof(hex), "\\u%04x", c);
            strbuf_append(sb, hex, 6);
        }
    }
    strbuf_append(sb, p + run, len - run);
    strbuf_putc(sb, '"');
}
