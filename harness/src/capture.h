/*
 * capture.h — a scenario's captured values ({qid} in "S: 250 2.0.0 Ok:
 * queued as {qid}") and the patterns that set and use them: globs with
 * captures for S: and "> " lines, substitution in lines to send,
 * commands and log texts, POSIX EREs for S~ and S!.
 */
#ifndef HARNESS_CAPTURE_H
#define HARNESS_CAPTURE_H

#include <stddef.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct capture {
    struct strlist names, values;
};

void capture_init(struct capture *c);
void capture_clear(struct capture *c);
/* The value of name (len bytes), or NULL. Borrowed. */
const char *capture_get(const struct capture *c, const char *name, size_t len);
/* Substitute {name} in in, appended to out. 0, or -1 with the unknown
 * variable's name in unknown. */
int capture_substitute(const struct capture *c, const char *in,
                       struct strbuf *out, char *unknown, size_t ulen);
/* Glob with captures: '*' any run, '?' one byte, "{name}" captures a
 * token (or matches its earlier value), '\' quotes; anchored. 1 if line
 * matches (new captures kept), else 0. */
int capture_glob(struct capture *c, const char *pattern, const char *line);
/* 1 if the POSIX ERE re matches somewhere in line. */
int capture_regex(const char *re, const char *line);

#endif
