/*
 * smtpd_line.h — how the relay's smtpd cuts client input into lines, as
 * Postfix's smtp_get() does (RFC 5321 section 2.3.8: CRLF ends a line),
 * with smtpd_forbid_bare_newline (Postfix >= 3.7.10): "no" takes a bare
 * LF as a line end and drops every CR before it; "normalize" (the relay's
 * default, as Postfix 3.9's) and "reject" drop one CR and flag a bare LF,
 * so that only <CR><LF>.<CR><LF> ends DATA (SMTP smuggling). Bounded:
 * no piece is ever longer than the limit the caller gives.
 */
#ifndef RELAY_SMTPD_LINE_H
#define RELAY_SMTPD_LINE_H

#include <stddef.h>

/* smtpd_forbid_bare_newline: bits of Postfix's bare_lf_mask. */
enum {
    SMTPD_BARE_LF_NO = 0,
    SMTPD_BARE_LF_WANT_STD_EOD = 1 << 0, /* normalize, yes */
    SMTPD_BARE_LF_REJECT = 1 << 1,       /* reject */
};

/* How a piece of input ended. */
enum smtpd_line_end {
    SMTPD_LINE_PARTIAL, /* no LF within the limit: the line goes on */
    SMTPD_LINE_CRLF,    /* LF (with its CR, or any CR under "no") */
    SMTPD_LINE_BARE_LF, /* LF without CR, while bare LF is watched */
};

struct smtpd_line {
    size_t len;      /* content bytes, line ending excluded */
    size_t consumed; /* input bytes used, line ending included */
    enum smtpd_line_end end;
};

/* The smtpd_forbid_bare_newline value (case does not matter) as
 * SMTPD_BARE_LF_* bits, or -1 if Postfix 3.7.11 would not take it. */
int smtpd_bare_lf_parse(const char *value);

/* The next line of the n bytes at p: 1 with *l filled when one is there
 * (a piece of limit bytes, SMTPD_LINE_PARTIAL, when no LF comes within
 * limit + 1 bytes), 0 when more input is needed. mask: the session's
 * SMTPD_BARE_LF_* bits (0 for an excluded client). */
int smtpd_line_scan(const char *p, size_t n, size_t limit, int mask,
                    struct smtpd_line *l);

/* The ending of a line of len bytes that came before an LF, its CRs
 * taken off *len as mask says (see above). */
enum smtpd_line_end smtpd_line_strip(const char *p, size_t *len, int mask);

/* cleanup_replace_stray_cr_lf: each CR or LF in a message line becomes a
 * space, as Postfix >= 3.7.10's cleanup does before anything else reads
 * the content (outbound SMTP smuggling). */
void smtpd_line_mask_stray(char *p, size_t len);

/* Bytes as Postfix's escape() shows them in the log: printable ASCII as
 * is ('\\' doubled), \a \b \f \n \r \t \v, anything else \ooo. */
struct strbuf;
void smtpd_line_escape(struct strbuf *out, const char *p, size_t n);

#endif
