/*
 * main.c — mxlab, the harness: "mxlab run PATH..." plays scenarios against
 * the system under test. Commands dispatch to their modules.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness/bench.h"
#include "harness/check.h"
#include "harness/diff.h"
#include "harness/run.h"
#include "import.h"
#include "logsum_cmd.h"
#include "merge.h"
#include "mxlab/log.h"
#include "mxlab/version.h"

/* The commands: adding one is one entry here. */
static const struct mxlab_command {
    const char *name, *args, *help;
    int (*main)(int argc, char **argv);
} mxlab_commands[] = {
    {"run", "PATH...", "run scenarios", run_main},
    {"diff", "PATH...", "run them on the relay and on Postfix and compare",
     diff_main},
    {"check", "[SCENARIO]",
     "is this server safe on the Internet (relaying, smuggling, TLS)",
     check_main},
    {"bench", "[SCENARIO]", "load a server: rate, latency percentiles, CPU",
     bench_main},
    {"merge", "DIR...", "join the reports of a sharded run", merge_main},
    {"import", "PCAP", "a capture's SMTP sessions as a scenario", import_main},
    {"logsum", "LOG", "a mail log's totals (pflogsumm's, or Zabbix items)",
     logsum_main},
};
#define MXLAB_NCOMMANDS (sizeof(mxlab_commands) / sizeof(mxlab_commands[0]))

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxlab COMMAND [ARGS]\n"
                "\n"
                "mxlab — SMTP relay conformance and simulation lab.\n"
                "\n"
                "commands (mxlab COMMAND --help for each):\n");
    for (size_t i = 0; i < MXLAB_NCOMMANDS; i++) {
        const struct mxlab_command *cmd = &mxlab_commands[i];
        char head[32];
        snprintf(head, sizeof(head), "%s %s", cmd->name, cmd->args);
        fprintf(fp, "  %-16s %s\n", head, cmd->help);
    }
    fprintf(fp, "\n"
                "  -h, --help       this text\n"
                "  --version        print the version\n");
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
    for (size_t i = 0; i < MXLAB_NCOMMANDS; i++)
        if (strcmp(argv[1], mxlab_commands[i].name) == 0)
            return mxlab_commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "mxlab: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
