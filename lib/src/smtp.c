/*
 * smtp.c — SMTP reply and path codecs, dot-stuffing. See smtp.h.
 */
#include "mxlab/smtp.h"

#include <arpa/inet.h>
#include <string.h>

#include "mxlab/strutil.h"

int smtp_reply_code(const char *line, int *last)
{
    int code;

    if (!str_isdigit((unsigned char)line[0]) ||
        !str_isdigit((unsigned char)line[1]) ||
        !str_isdigit((unsigned char)line[2]))
        return -1;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 100 || code > 599)
        return -1;
    if (line[3] != '\0' && line[3] != ' ' && line[3] != '-')
        return -1;
    if (last != NULL)
        *last = line[3] != '-';
    return code;
}

const char *smtp_path_strstatus(enum smtp_path_status st)
{
    switch (st) {
    case SMTP_PATH_OK:
        return "ok";
    case SMTP_PATH_SYNTAX:
        return "bad address syntax";
    case SMTP_PATH_TOO_LONG:
        return "address too long";
    case SMTP_PATH_MISSING:
        return "missing address";
    }
    return "unknown";
}

enum smtp_path_status smtp_parse_path(const char *arg, int strict, char *addr,
                                      size_t addrlen, const char **params)
{
    const char *p = arg, *start, *end;
    int quoted = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return SMTP_PATH_MISSING;
    if (*p == '<') {
        p++;
        /* RFC 5321 section 4.1.1.3 / appendix C: ignore a source route. */
        if (*p == '@') {
            const char *colon = strchr(p, ':');
            const char *gt = strchr(p, '>');
            if (colon == NULL || (gt != NULL && colon > gt))
                return SMTP_PATH_SYNTAX;
            p = colon + 1;
        }
        start = p;
        for (; *p != '\0'; p++) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == '\\' && quoted && p[1] != '\0')
                p++;
            else if (*p == '>' && !quoted)
                break;
        }
        if (*p != '>')
            return SMTP_PATH_SYNTAX;
        end = p++;
    } else {
        if (strict)
            return SMTP_PATH_SYNTAX;
        /* A source route without brackets goes too (Postfix's
         * extract_addr()). */
        if (*p == '@' && strchr(p, ':') != NULL &&
            strcspn(p, ": \t") < strcspn(p, " \t"))
            p = strchr(p, ':') + 1;
        start = p;
        for (; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
            if (*p == '<' || *p == '>')
                return SMTP_PATH_SYNTAX;
        }
        end = p;
    }
    if ((size_t)(end - start) >= addrlen ||
        (size_t)(end - start) >= SMTP_PATH_MAX)
        return SMTP_PATH_TOO_LONG;
    for (const char *q = start; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c == 0x7f)
            return SMTP_PATH_SYNTAX;
    }
    memcpy(addr, start, (size_t)(end - start));
    addr[end - start] = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    if (params != NULL)
        *params = p;
    return SMTP_PATH_OK;
}

int smtp_valid_hostname(const char *name)
{
    size_t len = strlen(name), label = 0;
    int numeric = 1;

    if (len > 2 && name[0] == '[' && name[len - 1] == ']') {
        char lit[64];
        unsigned char bin[16];
        if (len - 2 >= sizeof(lit))
            return 0;
        memcpy(lit, name + 1, len - 2);
        lit[len - 2] = '\0';
        if (str_ncasecmp(lit, "IPv6:", 5) == 0)
            return inet_pton(AF_INET6, lit + 5, bin) == 1;
        return inet_pton(AF_INET, lit, bin) == 1;
    }
    if (len == 0 || len > 255)
        return 0;
    for (const char *p = name;; p++) {
        if (*p == '.' || *p == '\0') {
            /* No empty label, none that starts or ends with '-'. */
            if (label == 0 || p[-1] == '-' || p[-(long)label] == '-')
                return 0;
            if (*p == '\0')
                break;
            label = 0;
            continue;
        }
        if (!str_isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return 0;
        if (!str_isdigit((unsigned char)*p))
            numeric = 0;
        if (++label > 63)
            return 0;
    }
    return !numeric;
}

const char *smtp_addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');

    return at ? at + 1 : "";
}

void smtp_dotstuff_line(struct strbuf *out, const char *line, size_t len)
{
    if (len > 0 && line[0] == '.')
        strbuf_putc(out, '.');
    strbuf_append(out, line, len);
    strbuf_append(out, "\r\n", 2);
}
