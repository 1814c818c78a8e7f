/*
 * fuzz_zone.c — zone files as a scenario or a user gives them (RFC 1035
 * master file syntax, $ORIGIN/$TTL/$INCLUDE refused, fakedns's $LISTED and
 * $FAULT): loaded, then asked a few questions. Errors are data
 * ("file:line: what"), never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns/fakedns.h"
#include "mxlab/xmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Queries for f.test. MX, mx.f.test. A, f.test. TXT (id 0x1234, RD). */
static const uint8_t fuzz_queries[][40] = {
    {0x12, 0x34, 1, 0,   0,   1,   0,   0, 0, 0,  0, 0,
     1,    'f',  4, 't', 'e', 's', 't', 0, 0, 15, 0, 1},
    {0x12, 0x34, 1,   0, 0,   1,   0,   0,   0, 0, 0, 0, 2, 'm',
     'x',  1,    'f', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1},
    {0x12, 0x34, 1, 0,   0,   1,   0,   0, 0, 0,  0, 0,
     1,    'f',  4, 't', 'e', 's', 't', 0, 0, 16, 0, 1},
};
static const size_t fuzz_qlen[] = {24, 27, 24};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fakedns *fd;
    char err[512], *text;

    if (size > 65536 || memchr(data, '\0', size) != NULL)
        return 0;
    text = xstrndup((const char *)data, size);
    fd = fakedns_new(NULL);
    if (fakedns_load_zone_text(fd, "fuzz.zone", 1, "f.test.", text, err,
                               sizeof(err)) == 0) {
        for (size_t i = 0; i < sizeof(fuzz_qlen) / sizeof(fuzz_qlen[0]); i++) {
            uint8_t *resp = NULL;
            size_t rlen = 0;
            if (fakedns_answer(fd, fuzz_queries[i], fuzz_qlen[i], &resp,
                               &rlen) == 0 &&
                rlen < 12)
                abort();
            free(resp);
        }
    }
    fakedns_free(fd);
    free(text);
    return 0;
}
