/*
 * shard.c — the split of a suite into shards. See shard.h. The hash is
 * FNV-1a (64 bits), fixed here so that every machine and every version
 * of mxlab puts a scenario in the same shard.
 */
#include "shard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

int shard_parse(const char *arg, long *k, long *n)
{
    const char *slash = strchr(arg, '/');
    char *a;
    int rc;

    if (slash == NULL)
        return -1;
    a = xstrndup(arg, (size_t)(slash - arg));
    rc = str_to_long(a, k) < 0 || str_to_long(slash + 1, n) < 0 || *n < 1 ||
                 *n > 1000 || *k < 1 || *k > *n
             ? -1
             : 0;
    free(a);
    return rc;
}

static uint64_t shard_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

struct shard_item {
    const char *key;
    double w;
    size_t i;
};

static int shard_cmp(const void *a, const void *b)
{
    const struct shard_item *x = a, *y = b;

    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return strcmp(x->key, y->key);
}

void shard_assign(const char *const *keys, const double *weights, size_t n,
                  long nshards, long *out)
{
    struct shard_item *items;
    double *load, known = 0, mean = 1;
    size_t nknown = 0;

    if (weights == NULL) {
        for (size_t i = 0; i < n; i++)
            out[i] = (long)(shard_hash(keys[i]) % (uint64_t)nshards);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (weights[i] >= 0) {
            known += weights[i];
            nknown++;
        }
    if (nknown > 0 && known > 0)
        mean = known / (double)nknown;
    items = xcalloc(n ? n : 1, sizeof(*items));
    load = xcalloc((size_t)nshards, sizeof(*load));
    for (size_t i = 0; i < n; i++)
        items[i] = (struct shard_item){keys[i],
                                       weights[i] >= 0 ? weights[i] : mean, i};
    qsort(items, n, sizeof(*items), shard_cmp);
    for (size_t i = 0; i < n; i++) {
        long best = 0;
        for (long s = 1; s < nshards; s++)
            if (load[s] < load[best])
                best = s;
        out[items[i].i] = best;
        load[best] += items[i].w;
    }
    free(items);
    free(load);
}
