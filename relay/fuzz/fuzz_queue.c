/*
 * fuzz_queue.c — a queue file as the relay finds it on disk (written by
 * an older version, cut short by a crash, edited by hand): put in hold/
 * and read by mailq, postqueue -j and postcat. A file that does not parse
 * is reported, never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_lab.h"
#include "mxlab/fsutil.h"
#include "mxlab/xmem.h"
#include "relay/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const cmds[] = {"mailq", "postqueue -j",
                                       "postcat -q 4A5B6C7D8E9",
                                       "postsuper -H ALL", "postsuper -d ALL"};
    struct fuzz_lab *lab;
    struct strbuf out, err;
    char dir[128], path[160];

    if (size > 262144)
        return 0;
    lab = fuzz_lab_get(0);
    snprintf(dir, sizeof(dir), "%s/queue/hold", lab->dir);
    fs_mkdir_p(dir, 0700);
    snprintf(path, sizeof(path), "%s/4A5B6C7D8E9", dir);
    if (fs_write_atomic(path, (const char *)data, size) < 0)
        abort();
    strbuf_init(&out);
    strbuf_init(&err);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        strbuf_reset(&out);
        strbuf_reset(&err);
        relay_admin(lab->relay, cmds[i], &out, &err);
    }
    strbuf_clear(&out);
    strbuf_clear(&err);
    return 0;
}
