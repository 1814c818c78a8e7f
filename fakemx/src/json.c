/*
 * json.c — one JSON object per recorded message (the --dump format), with
 * the SHA-256 of the message data.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "fakemx_int.h"

static void fakemx_json_string(FILE *fp, const char *s, size_t len)
{
    fputc('"', fp);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", fp);
        else if (c == '\r')
            fputs("\\r", fp);
        else if (c == '\t')
            fputs("\\t", fp);
        else if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

static void fakemx_json_cstr(FILE *fp, const char *s)
{
    fakemx_json_string(fp, s, strlen(s));
}

void fakemx_message_write_json(const struct fakemx_message *m, FILE *fp)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)m->data, m->data_len, digest);
    fputs("{\"host\":", fp);
    fakemx_json_cstr(fp, m->host);
    fputs(",\"name\":", fp);
    fakemx_json_cstr(fp, m->host_name);
    fputs(",\"client_ip\":", fp);
    fakemx_json_cstr(fp, m->client_ip);
    fputs(",\"helo\":", fp);
    fakemx_json_cstr(fp, m->helo);
    fputs(",\"mail_from\":", fp);
    fakemx_json_cstr(fp, m->mail_from);
    fputs(",\"rcpt_to\":[", fp);
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (i > 0)
            fputc(',', fp);
        fakemx_json_cstr(fp, m->rcpts[i]);
    }
    fprintf(fp, "],\"size\":%zu,\"sha256\":\"", m->data_len);
    for (size_t i = 0; i < sizeof(digest); i++)
        fprintf(fp, "%02x", digest[i]);
    fputs("\",\"data\":", fp);
    fakemx_json_string(fp, m->data, m->data_len);
    fputs("}\n", fp);
}
