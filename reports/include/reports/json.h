/*
 * json.h — a small, bounded JSON reader (RFC 8259) for the files mxlab
 * writes itself and reads back (bench.json for baselines and merges).
 * The text is untrusted: every step is checked against its length, depth
 * is limited, and an error names line and column. One json_free per tree.
 */
#ifndef REPORTS_JSON_H
#define REPORTS_JSON_H

#include <stddef.h>

enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
};

struct json {
    enum json_type type;
    double num;         /* JSON_NUMBER; JSON_BOOL: 0 or 1 */
    char *str;          /* JSON_STRING, NUL-terminated (no NULs inside) */
    size_t n;           /* items in an array or object */
    struct json *items; /* array elements or object values */
    char **keys;        /* object keys, parallel to items */
};

#define JSON_DEPTH_MAX 32

/* Parse text[0..len) as one JSON value. NULL on error, with
 * "LINE:COL: what" in err. Caller frees with json_free. */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *j);

/* The member key of an object (borrowed), or NULL if j is not an object
 * or has no such member. */
const struct json *json_get(const struct json *j, const char *key);
/* Member key as a number, or dflt if absent or not a number. */
double json_get_num(const struct json *j, const char *key, double dflt);
/* Member key as a string (borrowed), or NULL. */
const char *json_get_str(const struct json *j, const char *key);

#endif
