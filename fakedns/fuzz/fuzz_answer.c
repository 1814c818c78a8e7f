/*
 * fuzz_answer.c — libFuzzer target for the bytes fakedns takes from the
 * network: any input is a query packet for fakedns_answer(), against a
 * zone with a wildcard, a CNAME chain, a DNSBL list and a fault of each
 * answer-shaping kind (cmake/mxlab.cmake: mxlab_fuzz).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fakedns/fakedns.h"

static const char fuzz_zone[] = "$ORIGIN f.test.\n"
                                "@ SOA ns hm 1 2 3 4 5\n"
                                "@ MX 10 mx\n"
                                "mx A 127.0.2.1\n"
                                "www CNAME mx\n"
                                "*.w A 127.0.2.2\n"
                                "$FAULT mal malformed\n"
                                "$FAULT tc truncate\n"
                                "$FAULT nx nxdomain pattern=x.\n"
                                "$LISTED 127.0.2.0/23 127.0.0.3 \"r\"\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fakedns *fd;
    uint8_t *resp = NULL;
    size_t rlen = 0;
    char err[256];

    if (fd == NULL) {
        fd = fakedns_new(NULL);
        if (fakedns_load_zone_text(fd, "fuzz", 1, NULL, fuzz_zone, err,
                                   sizeof(err)) < 0)
            abort();
    }
    if (fakedns_answer(fd, data, size, &resp, &rlen) == 0 && rlen < 12)
        abort();
    free(resp);
    fakedns_query_log_clear(fd);
    return 0;
}
