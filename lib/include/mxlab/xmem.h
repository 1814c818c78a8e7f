/*
 * xmem.h — allocation that cannot fail (fatal on exhaustion) and a growable
 * string buffer. Everything mxlab allocates goes through these.
 */
#ifndef MXLAB_XMEM_H
#define MXLAB_XMEM_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf that cannot fail; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable, always NUL-terminated byte buffer (may hold NULs). */
struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
};

void strbuf_init(struct strbuf *sb);
void strbuf_clear(struct strbuf *sb); /* frees the storage */
void strbuf_reset(struct strbuf *sb); /* len = 0, storage kept */
void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Append s[0..len) as a JSON string in quotes: valid UTF-8 as it is,
 * '"', '\\', \n, \r, \t escaped, other control bytes, DEL and bytes
 * that are not valid UTF-8 as \u00XX. */
void strbuf_put_json(struct strbuf *sb, const char *s, size_t len);
/* Hand the storage to the caller (who frees it) and reset sb. */
char *strbuf_detach(struct strbuf *sb);

#endif
