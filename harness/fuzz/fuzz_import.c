/*
 * fuzz_import.c — capture files as "mxlab import" reads them (a pcap or
 * pcapng from anywhere): link, IP and TCP headers through the bounded
 * reader, TCP reassembly, SMTP lines. A capture is imported or refused
 * naming it, never a crash, and what is written always parses as a
 * scenario.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scenario.h"
#include "import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct import_opts o;
    char err[2048], *text = NULL;
    size_t len = 0;
    FILE *in, *out;
    struct scenario *s;
    int rc;

    if (size == 0 || size > 1048576)
        return 0;
    memset(&o, 0, sizeof(o));
    o.name = "fuzz";
    o.source = "fuzz.pcap";
    in = fmemopen((void *)data, size, "rb");
    out = open_memstream(&text, &len);
    if (in == NULL || out == NULL)
        abort();
    rc = import_capture(in, out, &o, err, sizeof(err));
    fclose(out);
    if (rc != 0 && strncmp(err, "fuzz.pcap: ", 11) != 0)
        abort(); /* every refusal names the capture */
    if (rc >= 0) {
        s = scenario_parse("fuzz.scn", text, err, sizeof(err));
        if (s == NULL) {
            fprintf(stderr, "import wrote what does not parse: %s\n", err);
            abort();
        }
        scenario_free(s);
    }
    free(text);
    return 0;
}
