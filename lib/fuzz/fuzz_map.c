/*
 * fuzz_map.c — Postfix lookup tables from their text: the first byte picks
 * the type (texthash, cidr, regexp, pcre, hash, an aliases file, inline),
 * the rest is the file (or the inline list). The table is opened, walked
 * and asked a few keys. Errors are data: "file:line: what".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxlab/map.h"
#include "mxlab/xmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_types[] = {
    "texthash", "cidr", "regexp", "pcre", "hash", "aliases", "inline"};
static const char *const fuzz_keys[] = {"user@example.com",
                                        "example.com",
                                        "user@",
                                        "127.0.0.1",
                                        "::1",
                                        "@example.com",
                                        "",
                                        "postmaster"};

static void fuzz_each(void *arg, const char *key, const char *value)
{
    (void)arg;
    (void)key;
    (void)value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    const char *type;
    char err[512], *spec;
    struct map *m;
    FILE *fp;
    int flags = 0;

    if (size < 1 || size > 65536 || memchr(data, '\0', size) != NULL)
        return 0;
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "/tmp/mxlab-fuzz-map.%ld", (long)getpid());
    type = fuzz_types[data[0] % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];
    if (strcmp(type, "inline") == 0) {
        spec =
            xasprintf("inline:{%.*s}", (int)(size - 1), (const char *)data + 1);
    } else {
        fp = fopen(path, "wb");
        if (fp == NULL)
            return 0;
        fwrite(data + 1, 1, size - 1, fp);
        fclose(fp);
        if (strcmp(type, "aliases") == 0) {
            flags = MAP_ALIASES;
            type = "texthash";
        }
        spec = xasprintf("%s:%s", type, path);
    }
    m = map_open_flags(spec, NULL, flags, err, sizeof(err));
    if (m != NULL) {
        map_each(m, fuzz_each, NULL);
        for (size_t i = 0; i < sizeof(fuzz_keys) / sizeof(fuzz_keys[0]); i++)
            map_lookup(m, fuzz_keys[i]);
        map_free(m);
    }
    free(spec);
    /* One scratch file per input: nothing is left in /tmp afterwards. */
    (void)unlink(path);
    return 0;
}
