/*
 * main.c — mxlab, the harness: "mxlab run PATH..." plays scenarios against
 * the system under test. Commands dispatch to their modules.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness/diff.h"
#include "harness/run.h"
#include "logsum_cmd.h"
#include "merge.h"
#include "mxlab/log.h"
#include "mxlab/version.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxlab COMMAND [ARGS]\n"
                "\n"
                "mxlab — SMTP relay conformance and simulation lab.\n"
                "\n"
                "commands:\n"
                "  run PATH...   run scenarios (mxlab run --help)\n"
                "  diff PATH...  run them on the relay and on Postfix and\n"
                "                compare (mxlab diff --help)\n"
                "  merge DIR...  join the reports of a sharded run\n"
                "                (mxlab merge --help)\n"
                "  logsum LOG    a mail log's totals, as pflogsumm or as\n"
                "                Zabbix items (mxlab logsum --help)\n"
                "\n"
                "  -h, --help    this text\n"
                "  --version     print the version\n");
}

int main(int argc, char **argv)
{
    log_init("mxlab", 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mxlab %s\n", MXLAB_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0)
        return run_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "diff") == 0)
        return diff_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "merge") == 0)
        return merge_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "logsum") == 0)
        return logsum_main(argc - 1, argv + 1);
    fprintf(stderr, "mxlab: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
