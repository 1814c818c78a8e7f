/*
 * config.h — Postfix main.cf syntax: "name = value", '#' comments, a line
 * that starts with white space continues the previous one, later settings
 * override earlier ones, "$name", "${name}" and "$(name)" expand, as do
 * "${name?text}" (text if name is non-empty) and "${name:text}" (text if
 * empty). Values are stored raw and expanded on read, as Postfix does.
 */
#ifndef MXLAB_CONFIG_H
#define MXLAB_CONFIG_H

#include <stddef.h>

struct config;

struct config *config_new(void);
void config_free(struct config *cf);
/* A deep copy (values, defaults, where they were set): master.cf's
 * per-service overrides start from main.cf. Caller frees. */
struct config *config_copy(const struct config *cf);

/* Load a main.cf-format file. Returns 0, or -1 with "file:line: what"
 * (or "file: strerror") in err. */
int config_load(struct config *cf, const char *path, char *err, size_t errlen);
/* Parse main.cf text held in memory; name is used in messages. */
int config_load_text(struct config *cf, const char *name, const char *text,
                     char *err, size_t errlen);

/* Set a value as if written in main.cf (overrides). */
void config_set(struct config *cf, const char *name, const char *value);
/* The same, remembering where ("master.cf:12") for config_where(). */
void config_set_at(struct config *cf, const char *name, const char *value,
                   const char *where);
/* Set a default: used when the file does not set name. */
void config_set_default(struct config *cf, const char *name, const char *value);

/* 1 if the file (or config_set) gave name a value, 0 if only a default. */
int config_is_set(const struct config *cf, const char *name);
/* Raw value (unexpanded) or NULL; borrowed until cf is freed or changed. */
const char *config_raw(const struct config *cf, const char *name);
/* "file:line" where name was set, or NULL (set in code or default). */
const char *config_where(const struct config *cf, const char *name);

/* Expanded value, "" if unknown; borrowed until cf is freed or changed. */
const char *config_get(struct config *cf, const char *name);
/* Expand $name references in any text; caller frees. A recursion
 * ("a = $a", "a = $b" with "b = $a") or a value over 1 MiB stops the
 * expansion there and is kept for config_expand_error. */
char *config_expand(struct config *cf, const char *text);
/* The first expansion error since the last change, or NULL. */
const char *config_expand_error(const struct config *cf);
/* Expand every parameter set explicitly: 0, or -1 with "file:line:
 * parameter NAME: unreasonable macro call nesting: \"NAME\"" (Postfix's
 * words) or "... expansion longer than 1048576 bytes" in err. */
int config_check(struct config *cf, char *err, size_t errlen);
/* Postfix booleans: yes/no/true/false (any case). -1 if malformed. */
int config_get_bool(struct config *cf, const char *name);
/* Integer; -1 on error (with err set to "file:line: ..." if err). */
long config_get_long(struct config *cf, const char *name, char *err,
                     size_t errlen);
/* Time with Postfix units (s, m, h, d, w; default_unit when none);
 * seconds, or -1 on error. */
long config_get_time(struct config *cf, const char *name, char default_unit,
                     char *err, size_t errlen);

/* Call fn for every parameter set explicitly (as "postconf -n" lists),
 * in name order, with its raw value. */
typedef void config_each_fn(void *arg, const char *name, const char *raw);
void config_each_set(const struct config *cf, config_each_fn *fn, void *arg);

#endif
