/*
 * json.c — one JSON object per recorded message (the --dump format,
 * RFC 8259), with the SHA-256 of the message data, and one Maildir file
 * per message. Strings are escaped
 * byte by byte: control bytes as \u00XX, valid UTF-8 passes through, and a
 * byte that is not part of valid UTF-8 (8BITMIME data in Latin-1, say) is
 * written as \u00XX too, so every line is valid JSON; "size" and "sha256"
 * always describe the raw bytes.
 */
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakemx_int.h"
#include "mxlab/fsutil.h"

/* ,"key": — keys are our own literals, never escaped. */
static void fakemx_json_key(struct strbuf *sb, const char *key)
{
    size_t n = strlen(key);

    strbuf_append(sb, ",\"", 2);
    strbuf_append(sb, key, n);
    strbuf_append(sb, "\":", 2);
}

static void fakemx_json_field(struct strbuf *sb, const char *key,
                              const char *value)
{
    fakemx_json_key(sb, key);
    strbuf_put_json(sb, value ? value : "", value ? strlen(value) : 0);
}

/* Decimal digits of v, at least width of them (zero-padded): printf
 * costs more than the rest of a short field. */
static void fakemx_json_uint(struct strbuf *sb, unsigned long long v, int width)
{
    char num[24], *p = num + sizeof(num);

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || num + sizeof(num) - p < width);
    strbuf_append(sb, p, (size_t)(num + sizeof(num) - p));
}

/* Seconds with microseconds, e.g. 1700000000.000042. */
static void fakemx_json_time(struct strbuf *sb, const char *key,
                             const struct timeval *tv)
{
    fakemx_json_key(sb, key);
    if (tv->tv_sec < 0 || tv->tv_usec < 0) {
        strbuf_printf(sb, "%lld.%06ld", (long long)tv->tv_sec,
                      (long)tv->tv_usec);
        return;
    }
    fakemx_json_uint(sb, (unsigned long long)tv->tv_sec, 1);
    strbuf_putc(sb, '.');
    fakemx_json_uint(sb, (unsigned long long)tv->tv_usec, 6);
}

static void fakemx_json_array(struct strbuf *sb, const char *key,
                              char *const *v, size_t n)
{
    fakemx_json_key(sb, key);
    strbuf_putc(sb, '[');
    for (size_t i = 0; v != NULL && i < n; i++) {
        if (i > 0)
            strbuf_putc(sb, ',');
        strbuf_put_json(sb, v[i], strlen(v[i]));
    }
    strbuf_putc(sb, ']');
}

/* The message line is built here and keeps the storage from one message
 * to the next (the process is one thread: its event loop), so a message
 * costs no malloc for its line; storage grown past FAKEMX_JSON_KEEP by a
 * large message is let go after it. */
#define FAKEMX_JSON_KEEP (256 * 1024)
static struct strbuf fakemx_json_line;

void fakemx_message_write_json(const struct fakemx_message *m, FILE *fp)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    const struct fakemx_session_record *sr = m->session;
    struct strbuf *sb = &fakemx_json_line;

    /* Room for the data (escaping may grow it a little) and the envelope
     * at once: no realloc chain on the hot path. */
    strbuf_reset(sb);
    if (sb->cap < m->data_len + m->data_len / 8 + 2048) {
        sb->cap = m->data_len + m->data_len / 8 + 2048;
        sb->buf = xrealloc(sb->buf, sb->cap);
        sb->buf[0] = '\0';
    }
    strbuf_append(sb, "{\"host\":", 8);
    strbuf_put_json(sb, m->host ? m->host : "", m->host ? strlen(m->host) : 0);
    fakemx_json_field(sb, "name", m->host_name);
    fakemx_json_field(sb, "client_ip", m->client_ip);
    fakemx_json_field(sb, "helo", m->helo);
    fakemx_json_field(sb, "mail_from", m->mail_from);
    fakemx_json_array(sb, "rcpt_to", m->rcpts, m->nrcpt);
    fakemx_json_key(sb, "size");
    fakemx_json_uint(sb, m->data_len, 1);
    strbuf_puts(sb, ",\"sha256\":\"");
    if (m->sha256[0] != '\0') {
        strbuf_puts(sb, m->sha256);
    } else {
        SHA256((const unsigned char *)(m->data ? m->data : ""), m->data_len,
               digest);
        for (size_t i = 0; i < sizeof(digest); i++)
            strbuf_printf(sb, "%02x", digest[i]);
    }
    strbuf_puts(sb, "\",\"data\":");
    strbuf_put_json(sb, m->data ? m->data : "", m->data_len);
    /* Since issue 4, after the original keys. */
    fakemx_json_field(sb, "mail_params", m->mail_params);
    fakemx_json_array(sb, "rcpt_params", m->rcpt_params,
                      m->rcpt_params ? m->nrcpt : 0);
    fakemx_json_field(sb, "tls", m->tls_version);
    fakemx_json_field(sb, "subject", m->subject);
    fakemx_json_field(sb, "header_from", m->header_from);
    fakemx_json_field(sb, "header_to", m->header_to);
    fakemx_json_field(sb, "message_id", m->message_id);
    fakemx_json_time(sb, "connected", &m->connected);
    fakemx_json_time(sb, "mail_time", &m->mail_time);
    fakemx_json_time(sb, "received", &m->received);
    fakemx_json_key(sb, "session");
    fakemx_json_uint(sb, sr ? sr->id : 0UL, 1);
    fakemx_json_array(
        sb, "replies",
        sr && m->reply_first < sr->nreplies ? sr->replies + m->reply_first
                                            : NULL,
        sr && m->reply_first + m->reply_count <= sr->nreplies ? m->reply_count
                                                              : 0);
    strbuf_puts(sb, "}\n");
    /* The line is built whole and handed to stdio in one call. */
    fwrite(sb->buf, 1, sb->len, fp);
    if (sb->cap > FAKEMX_JSON_KEEP)
        strbuf_clear(sb);
}

void fakemx_session_write_json(const struct fakemx_session_record *r, FILE *fp)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_printf(&sb, "{\"session\":%lu", r->id);
    fakemx_json_field(&sb, "host", r->host);
    fakemx_json_field(&sb, "name", r->host_name);
    fakemx_json_field(&sb, "client_ip", r->client_ip);
    fakemx_json_field(&sb, "helo", r->helo);
    fakemx_json_field(&sb, "tls", r->tls_version);
    strbuf_printf(&sb, ",\"messages\":%zu", r->nmessages);
    fakemx_json_time(&sb, "connected", &r->connected);
    fakemx_json_time(&sb, "closed", &r->closed);
    fakemx_json_array(&sb, "replies", r->replies, r->nreplies);
    strbuf_puts(&sb, "}\n");
    fwrite(sb.buf, 1, sb.len, fp);
    strbuf_clear(&sb);
}

/* Maildir (https://cr.yp.to/proto/maildir.html): write in tmp, fsync,
 * rename into new. The name is time.MusecPpidQn.host, unique within the
 * process by n. */
int fakemx_message_write_maildir(const struct fakemx_message *m,
                                 const char *dir, char *err, size_t errlen)
{
    static const char *const sub[] = {"tmp", "new", "cur"};
    static unsigned long seq;
    char host[256], name[512], *tmp = NULL, *dst = NULL, *path;
    struct strbuf sb;
    struct timeval tv;
    int fd = -1, rc = -1;

    for (size_t i = 0; i < 3; i++) {
        path = xasprintf("%s/%s", dir, sub[i]);
        rc = fs_mkdir_p(path, 0700);
        free(path);
        if (rc < 0) {
            snprintf(err, errlen, "%s/%s: %s", dir, sub[i], strerror(errno));
            return -1;
        }
    }
    rc = -1;
    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    /* '/' and ':' cannot appear in the unique part. */
    for (char *p = host; *p; p++)
        if (*p == '/' || *p == ':')
            *p = '_';
    gettimeofday(&tv, NULL);
    snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%lu.%s", (long long)tv.tv_sec,
             (long)tv.tv_usec, (long)getpid(), ++seq, host);
    tmp = xasprintf("%s/tmp/%s", dir, name);
    dst = xasprintf("%s/new/%s", dir, name);
    strbuf_init(&sb);
    strbuf_printf(&sb, "Return-Path: <%s>\n", m->mail_from ? m->mail_from : "");
    for (size_t i = 0; i < m->nrcpt; i++)
        strbuf_printf(&sb, "Delivered-To: %s\n", m->rcpts[i]);
    for (size_t i = 0; i < m->data_len; i++) {
        if (m->data[i] == '\r' && i + 1 < m->data_len && m->data[i + 1] == '\n')
            continue;
        strbuf_putc(&sb, m->data[i]);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    for (size_t off = 0; off < sb.len;) {
        ssize_t n = write(fd, sb.buf + off, sb.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
            goto done;
        }
        off += (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, dst) < 0) {
        snprintf(err, errlen, "%s: %s", dst, strerror(errno));
        goto done;
    }
    rc = 0;

done:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    strbuf_clear(&sb);
    free(tmp);
    free(dst);
    return rc;
}
