/*
 * smtp.h — SMTP codecs shared by the relay, fakemx and the harness:
 * reply-code parsing, path (MAIL FROM / RCPT TO argument) parsing per
 * RFC 5321 section 4.1.2 with Postfix's leniency, and dot-stuffing
 * (RFC 5321 section 4.5.2).
 */
#ifndef MXLAB_SMTP_H
#define MXLAB_SMTP_H

#include <stddef.h>

#include "mxlab/xmem.h"

/* RFC 5321 section 4.5.3.1: limits. */
#define SMTP_LINE_MAX 1000 /* text line incl. CRLF */
#define SMTP_PATH_MAX 256

/* Reply code of a reply line ("250-..." / "250 ..." / "250"): 100..599, or
 * -1 if the line does not start with three digits. *last is set to 1 when
 * this is the final line of the reply (no '-' after the code). */
int smtp_reply_code(const char *line, int *last);

enum smtp_path_status {
    SMTP_PATH_OK = 0,
    SMTP_PATH_SYNTAX, /* 501 5.1.7/5.1.3 Bad ... address syntax */
    SMTP_PATH_TOO_LONG,
    SMTP_PATH_MISSING, /* nothing after the colon */
};
const char *smtp_path_strstatus(enum smtp_path_status st);

/* Parse what follows "MAIL FROM:" or "RCPT TO:" (leading spaces allowed).
 * Accepts "<a@b>", "<>", and, unless strict, a bare "a@b" as Postfix does
 * with strict_rfc821_envelopes = no. A source route "<@x,@y:a@b>" is
 * stripped (RFC 5321 section 4.1.1.3 appendix C). Quoted local parts are
 * kept as written. The address (without brackets) goes to addr, the
 * ESMTP parameters (may be empty) are pointed to by *params. */
enum smtp_path_status smtp_parse_path(const char *arg, int strict, char *addr,
                                      size_t addrlen, const char **params);

/* 1 if name is a host name as Postfix's valid_hostname() wants it
 * (labels of letters, digits, '-' and '_', at most 63 each and 255 in
 * all, not all numeric) or an address literal "[192.0.2.1]",
 * "[IPv6:::1]" (valid_mailhost_literal()); else 0. */
int smtp_valid_hostname(const char *name);

/* Domain part of an address (after the last '@'), or "" if none. */
const char *smtp_addr_domain(const char *addr);

/* Append one line of message text to out with dot-stuffing and CRLF. */
void smtp_dotstuff_line(struct strbuf *out, const char *line, size_t len);

#endif
