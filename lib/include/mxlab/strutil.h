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
