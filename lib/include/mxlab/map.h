/*
 * map.h — Postfix lookup tables in their text formats.
 * Types: "hash:" and "btree:" (read from the source text FILE, not FILE.db:
 * mxlab needs no postmap step), "texthash:", "inline:{ k=v, { k = v w } }",
 * "cidr:" (network → value, first match wins), "static:value",
 * "regexp:" (POSIX, regexp_table(5)) and "pcre:" (libpcre2, pcre_table(5)
 * with its flags); results valid until the next lookup in the same table.
 * Keys are matched case-insensitively (lowercased), as Postfix's tables are
 * built by postmap.
 */
#ifndef MXLAB_MAP_H
#define MXLAB_MAP_H

#include <stddef.h>

struct map;
struct netaddr;

/* Open a table. A relative file name is taken relative to base_dir (may be
 * NULL). Returns NULL with "file:line: what" in err on error. */
struct map *map_open(const char *spec, const char *base_dir, char *err,
                     size_t errlen);
/* The same with flags: MAP_ALIASES reads hash:/texthash: files in
 * aliases(5) format ("name: value, value"). Every form also accepts
 * "proxy:" before the type, "unix:passwd.byname" (the passwd(5) file set
 * with map_set_passwd_file, /etc/passwd by default: user -> its line) and
 * "nis:NAME" (always empty: the lab has no NIS). */
#define MAP_ALIASES 1
struct map *map_open_flags(const char *spec, const char *base_dir, int flags,
                           char *err, size_t errlen);
void map_set_passwd_file(const char *path);
void map_free(struct map *m);
const char *map_spec(const struct map *m);
/* 1 for tables of patterns (regexp:, pcre:, cidr:): access(5) queries them
 * with the whole string only, never with parent domains, address
 * prefixes or the user@ part. */
int map_whole_keys(const struct map *m);

/* Value for key, or NULL; borrowed until the map is freed. For cidr:
 * tables the key is an IP address. */
const char *map_lookup(struct map *m, const char *key);

/* Every entry (dict tables: keys in byte order; cidr: in file order). */
typedef void map_each_fn(void *arg, const char *key, const char *value);
void map_each(const struct map *m, map_each_fn *fn, void *arg);

/* A Postfix parameter that names several tables ("hash:a, texthash:b"):
 * first table with a value wins. */
struct maplist;
struct maplist *maplist_open(const char *specs, const char *base_dir, char *err,
                             size_t errlen);
struct maplist *maplist_open_flags(const char *specs, const char *base_dir,
                                   int flags, char *err, size_t errlen);
void maplist_free(struct maplist *ml);
size_t maplist_count(const struct maplist *ml);
const char *maplist_lookup(struct maplist *ml, const char *key);

#endif
