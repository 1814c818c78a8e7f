/*
 * table.c — the relay's cache of opened lookup tables (see table.h): one
 * open per table spec and configuration, shared by smtpd, policy,
 * rewrite and local.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "mxlab/log.h"
#include "mxlab/map.h"
#include "mxlab/xmem.h"
#include "relay.h"

struct map *table_get(struct relay *r, const char *spec)
{
    char err[512];
    struct table_set *ts = &r->tables;
    struct table_entry *t;

    for (size_t i = 0; i < ts->n; i++)
        if (strcmp(ts->v[i].spec, spec) == 0)
            return ts->v[i].map;
    ts->v = xrealloc(ts->v, (ts->n + 1) * sizeof(*ts->v));
    t = &ts->v[ts->n++];
    t->spec = xstrdup(spec);
    /* The tables of alias_maps are in aliases(5) format wherever they are
     * named (local_recipient_maps includes them). */
    t->map = map_open_flags(
        spec, r->config_dir,
        strlist_contains_case(&r->p.alias_maps, spec) ? MAP_ALIASES : 0, err,
        sizeof(err));
    if (t->map == NULL)
        log_warnx("%s", err);
    return t->map;
}

void table_set_clear(struct table_set *ts)
{
    for (size_t i = 0; i < ts->n; i++) {
        free(ts->v[i].spec);
        map_free(ts->v[i].map);
    }
    free(ts->v);
    ts->v = NULL;
    ts->n = 0;
}
