/*
 * table.h — the lookup tables named in restriction lists, domain lists
 * and local_recipient_maps ("hash:/etc/postfix/access"), opened on first
 * use and kept for the life of the configuration, as Postfix's daemons
 * keep theirs. A table that cannot be opened is warned about once.
 */
#ifndef RELAY_TABLE_H
#define RELAY_TABLE_H

#include <stddef.h>

struct map;
struct relay;

/* The tables opened so far, each with the spec that named it (map NULL:
 * it could not be opened). Embedded in struct relay. */
struct table_set {
    struct table_entry {
        char *spec;
        struct map *map;
    } * v;
    size_t n;
};

/* The table named spec, opened once (in aliases(5) format if it is one
 * of r's alias_maps, relative names under r's config directory); NULL if
 * it cannot be opened, warned about the first time. Owned by r. */
struct map *table_get(struct relay *r, const char *spec);

/* Close every table of ts and empty it (a reload, the relay's teardown). */
void table_set_clear(struct table_set *ts);

#endif
