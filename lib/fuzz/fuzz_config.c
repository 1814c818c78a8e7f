/*
 * fuzz_config.c — main.cf text as a user pastes it: parsed, checked
 * ($name recursion and size bounds), then every parameter read back as
 * text, boolean, number and time. Whatever the bytes, a parse error or a
 * value, never a crash or a hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/config.h"
#include "mxlab/xmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_names {
    char **v;
    size_t n;
};

static void fuzz_collect(void *arg, const char *name, const char *raw)
{
    struct fuzz_names *fn = arg;

    (void)raw;
    fn->v = xrealloc(fn->v, (fn->n + 1) * sizeof(*fn->v));
    fn->v[fn->n++] = xstrdup(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cf;
    struct fuzz_names names = {NULL, 0};
    char err[512];
    char *text;

    if (size > 65536 || memchr(data, '\0', size) != NULL)
        return 0;
    text = xstrndup((const char *)data, size);
    cf = config_new();
    config_set_default(cf, "myhostname", "fuzz.example");
    config_set_default(cf, "mydomain", "example");
    if (config_load_text(cf, "main.cf", text, err, sizeof(err)) == 0) {
        config_check(cf, err, sizeof(err));
        config_each_set(cf, fuzz_collect, &names);
        for (size_t i = 0; i < names.n; i++) {
            config_get(cf, names.v[i]);
            config_get_bool(cf, names.v[i]);
            config_get_long(cf, names.v[i], err, sizeof(err));
            config_get_time(cf, names.v[i], 's', err, sizeof(err));
            free(names.v[i]);
        }
        free(names.v);
        free(config_expand(cf, "$myhostname ${mydomain?{x}:{y}} $(nope)"));
    }
    config_free(cf);
    free(text);
    return 0;
}
