/*
 * fuzz_behaviour.c — libFuzzer target for the behaviour text format
 * (fakemx_behaviour_parse): any bytes either parse or fail with
 * "name:LINE: reason"; a parsed behaviour copies and clears cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakemx/fakemx.h"
#include "mxlab/xmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fakemx_behaviour b, c;
    char err[512], *text = xstrndup((const char *)data, size);

    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    if (fakemx_behaviour_parse(&b, "fuzz", 1, text, err, sizeof(err)) < 0) {
        if (strncmp(err, "fuzz:", 5) != 0)
            abort();
    }
    fakemx_behaviour_copy(&c, &b);
    fakemx_behaviour_clear(&b);
    fakemx_behaviour_clear(&c);
    free(text);
    return 0;
}
