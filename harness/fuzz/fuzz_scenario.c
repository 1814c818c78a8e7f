/*
 * fuzz_scenario.c — scenario files as users write them (and as they come
 * out of a bad copy-paste): parsed in full. A scenario is accepted or
 * refused with "file:line: what"; never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scenario.h"
#include "mxlab/xmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scenario *s;
    char err[2048], *text;

    if (size > 262144 || memchr(data, '\0', size) != NULL)
        return 0;
    text = xstrndup((const char *)data, size);
    s = scenario_parse("fuzz.scn", text, err, sizeof(err));
    if (s == NULL && strncmp(err, "fuzz.scn:", 9) != 0)
        abort(); /* every refusal names file:line */
    scenario_free(s);
    free(text);
    return 0;
}
