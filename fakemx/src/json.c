/*
 * json.c — one JSON object per recorded message (the --dump format,
 * RFC 8259), with the SHA-256 of the message data. Strings are escaped
 * byte by byte: control bytes as \u00XX, valid UTF-8 passes through, and a
 * byte that is not part of valid UTF-8 (8BITMIME data in Latin-1, say) is
 * written as \u00XX too, so every line is valid JSON; "size" and "sha256"
 * always describe the raw bytes.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "fakemx_int.h"

/* Length of the valid UTF-8 sequence at p (RFC 3629 section 4), or 0. */
static size_t fakemx_json_utf8_len(const unsigned char *p, size_t n)
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

static void fakemx_json_string(struct strbuf *sb, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    strbuf_putc(sb, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        size_t u;
        if (c == '"' || c == '\\') {
            strbuf_putc(sb, '\\');
            strbuf_putc(sb, (char)c);
        } else if (c == '\n') {
            strbuf_puts(sb, "\\n");
        } else if (c == '\r') {
            strbuf_puts(sb, "\\r");
        } else if (c == '\t') {
            strbuf_puts(sb, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            strbuf_printf(sb, "\\u%04x", c);
        } else if (c < 0x80) {
            strbuf_putc(sb, (char)c);
        } else if ((u = fakemx_json_utf8_len(p + i, len - i)) > 0) {
            strbuf_append(sb, p + i, u);
            i += u - 1;
        } else {
            strbuf_printf(sb, "\\u%04x", c);
        }
    }
    strbuf_putc(sb, '"');
}

static void fakemx_json_field(struct strbuf *sb, const char *key,
                              const char *value)
{
    strbuf_printf(sb, ",\"%s\":", key);
    fakemx_json_string(sb, value ? value : "", value ? strlen(value) : 0);
}

void fakemx_message_write_json(const struct fakemx_message *m, FILE *fp)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    struct strbuf sb;

    SHA256((const unsigned char *)(m->data ? m->data : ""), m->data_len,
           digest);
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"host\":");
    fakemx_json_string(&sb, m->host ? m->host : "",
                       m->host ? strlen(m->host) : 0);
    fakemx_json_field(&sb, "name", m->host_name);
    fakemx_json_field(&sb, "client_ip", m->client_ip);
    fakemx_json_field(&sb, "helo", m->helo);
    fakemx_json_field(&sb, "mail_from", m->mail_from);
    strbuf_puts(&sb, ",\"rcpt_to\":[");
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (i > 0)
            strbuf_putc(&sb, ',');
        fakemx_json_string(&sb, m->rcpts[i], strlen(m->rcpts[i]));
    }
    strbuf_printf(&sb, "],\"size\":%zu,\"sha256\":\"", m->data_len);
    for (size_t i = 0; i < sizeof(digest); i++)
        strbuf_printf(&sb, "%02x", digest[i]);
    strbuf_puts(&sb, "\",\"data\":");
    fakemx_json_string(&sb, m->data ? m->data : "", m->data_len);
    strbuf_puts(&sb, "}\n");
    /* The line is built whole and handed to stdio in one call. */
    fwrite(sb.buf, 1, sb.len, fp);
    strbuf_clear(&sb);
}
