/*
 * strutil.h — locale-independent string helpers for protocol bytes and
 * configuration text (no <ctype.h>, no atoi: c-ares habit).
 */
#ifndef MXLAB_STRUTIL_H
#define MXLAB_STRUTIL_H

#include <stddef.h>

int str_isspace(int c);
int str_isdigit(int c);
int str_isalpha(int c);
int str_isalnum(int c);
int str_tolower(int c);
/* Lowercase ASCII in place; returns s. */
char *str_lower(char *s);
int str_casecmp(const char *a, const char *b);
int str_ncasecmp(const char *a, const char *b, size_t n);
/* Case-insensitive prefix test; returns pointer past the prefix or NULL. */
const char *str_casestart(const char *s, const char *prefix);
/* Strip leading and trailing white space in place; returns the start. */
char *str_trim(char *s);
/* Parse a non-negative decimal integer that fills all of s (after
 * optional surrounding spaces). Returns 0 on success, -1 otherwise. */
int str_to_long(const char *s, long *out);
/* A Postfix time value: digits and an optional unit, s m h d w
 * (default_unit when none): "300s", "5m", "5d". 0, or -1 if malformed. */
int str_to_seconds(const char *s, char default_unit, long *out);

/* Postfix's logical lines (main.cf, master.cf, lookup tables): blank
 * lines and lines whose first non-blank character is '#' are skipped; a
 * line that starts with white space continues the previous one (joined
 * with one space). fn gets each logical line, trimmed and modifiable, with
 * the number of its first physical line; a non-zero return stops the walk
 * and is returned. A continuation line with nothing before it returns -2
 * with its number in *orphan. */
typedef int str_logical_fn(void *arg, char *line, int lineno);
int str_logical_lines(const char *text, str_logical_fn *fn, void *arg,
                      int *orphan);

/* Glob match: '*' matches any run (also empty), '?' any one byte, '\\'
 * quotes the next byte. Case-sensitive. Returns 1 on match. */
int str_glob(const char *pattern, const char *s);

/* A list of strings, owned. */
struct strlist {
    char **v;
    size_t n;
};
void strlist_init(struct strlist *l);
void strlist_push(struct strlist *l, const char *s);
void strlist_clear(struct strlist *l);
int strlist_contains_case(const struct strlist *l, const char *s);
/* Split a Postfix-style list ("a, b c,d") on commas and white space. */
void strlist_split(struct strlist *l, const char *s);

#endif
