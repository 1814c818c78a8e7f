/*
 * smtpd_line.c — client input into lines, as Postfix's smtp_get() cuts
 * it, under smtpd_forbid_bare_newline (see smtpd_line.h). Pure functions
 * over (pointer, length): the session hands them what its input buffer
 * holds and drains what they used.
 */
#include "smtpd_line.h"

#include <string.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

int smtpd_bare_lf_parse(const char *value)
{
    static const struct {
        const char *name;
        int mask;
    } table[] = {
        /* Postfix's bare_lf_mask_table ("note" is 3.9's only). */
        {"normalize", SMTPD_BARE_LF_WANT_STD_EOD},
        {"yes", SMTPD_BARE_LF_WANT_STD_EOD},
        {"reject", SMTPD_BARE_LF_WANT_STD_EOD | SMTPD_BARE_LF_REJECT},
        {"no", SMTPD_BARE_LF_NO},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (str_casecmp(value, table[i].name) == 0)
            return table[i].mask;
    return -1;
}

int smtpd_line_scan(const char *p, size_t n, size_t limit, int mask,
                    struct smtpd_line *l)
{
    size_t look = n < limit + 1 ? n : limit + 1;
    const char *nl = memchr(p, '\n', look);

    if (nl == NULL) {
        if (n <= limit)
            return 0;
        /* smtp_get() with a bound: a piece, the rest read later. */
        l->len = limit;
        l->consumed = limit;
        l->end = SMTPD_LINE_PARTIAL;
        return 1;
    }
    l->len = (size_t)(nl - p);
    l->consumed = l->len + 1;
    l->end = smtpd_line_strip(p, &l->len, mask);
    return 1;
}

enum smtpd_line_end smtpd_line_strip(const char *p, size_t *len, int mask)
{
    if (mask != SMTPD_BARE_LF_NO) {
        /* One CR belongs to the line ending; none makes a bare LF. */
        if (*len == 0 || p[*len - 1] != '\r')
            return SMTPD_LINE_BARE_LF;
        --*len;
        return SMTPD_LINE_CRLF;
    }
    /* Postfix < 3.9's default: every CR before the LF goes ("\r\r\n"
     * ends a line as "\r\n" does). */
    while (*len > 0 && p[*len - 1] == '\r')
        --*len;
    return SMTPD_LINE_CRLF;
}

void smtpd_line_mask_stray(char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\r' || p[i] == '\n')
            p[i] = ' ';
}

void smtpd_line_escape(struct strbuf *out, const char *p, size_t n)
{
    static const char named[] = "\a\b\f\n\r\t\v", letters[] = "abfnrtv";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        const char *k = c != 0 ? strchr(named, c) : NULL;
        if (c >= 32 && c < 127) {
            if (c == '\\')
                strbuf_putc(out, '\\');
            strbuf_putc(out, (char)c);
        } else if (k != NULL) {
            strbuf_putc(out, '\\');
            strbuf_putc(out, letters[k - named]);
        } else {
            strbuf_printf(out, "\\%03o", c);
        }
    }
}
