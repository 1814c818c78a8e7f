/*
 * main.c — mxlab-relay: run the reference relay in the foreground on a
 * Postfix-style configuration directory. SIGTERM/SIGINT stop it cleanly;
 * queued mail stays on disk for the next start.
 */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/log.h"
#include "mxlab/loop.h"
#include "mxlab/version.h"
#include "mxlab/xmem.h"
#include "relay/relay.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab-relay -c CONFIG_DIR [-v]\n"
            "       mxlab-relay -c CONFIG_DIR mailq | postqueue -p|-j|-f |\n"
            "                   postqueue -s SITE | postcat -q ID\n"
            "       mxlab-relay -c CONFIG_DIR postsuper -d|-r|-h|-H ID|ALL "
            "[QUEUE]\n"
            "\n"
            "Run mxlab's reference relay in the foreground: reads\n"
            "CONFIG_DIR/main.cf and CONFIG_DIR/master.cf (Postfix syntax),\n"
            "listens on master.cf's inet smtpd services, queues under\n"
            "queue_directory and logs to maillog_file (stderr if unset).\n"
            "\n"
            "With a command, act on the queue as Postfix's mailq,\n"
            "postqueue and postsuper do: through the running relay's\n"
            "control socket, or on the queue files when it is stopped\n"
            "(postqueue -f then fails: there is nobody to deliver).\n"
            "\n"
            "  -c DIR       configuration directory (required)\n"
            "  -v           more diagnostics on stderr\n"
            "  --help       this text\n"
            "  --version    print the version\n");
}

/* mxlab-relay -c DIR COMMAND ARGS...: an admin command. */
static int admin_command(const char *confdir, int argc, char **argv)
{
    struct event_base *base = event_base_new();
    struct strbuf cmd, out, err;
    struct relay *r;
    char msg[1024];
    int rc;

    strbuf_init(&cmd);
    strbuf_init(&out);
    strbuf_init(&err);
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            strbuf_putc(&cmd, ' ');
        strbuf_puts(&cmd, argv[i]);
    }
    r = relay_new(base, confdir, msg, sizeof(msg));
    if (r == NULL) {
        fprintf(stderr, "mxlab-relay: %s\n", msg);
        rc = 1;
        goto done;
    }
    rc = relay_control_call(r, cmd.buf, &out, &err);
    if (rc < 0) {
        /* Not running: work on the queue files, as Postfix allows. */
        if (strcmp(cmd.buf, "postqueue -f") == 0) {
            fprintf(stderr, "postqueue: fatal: Cannot flush mail queue - "
                            "mail system is down\n");
            rc = 1;
        } else if (relay_load_queue(r, msg, sizeof(msg)) < 0) {
            fprintf(stderr, "mxlab-relay: %s\n", msg);
            rc = 1;
        } else {
            rc = relay_admin(r, cmd.buf, &out, &err);
        }
    }
    fwrite(out.buf ? out.buf : "", 1, out.len, stdout);
    fwrite(err.buf ? err.buf : "", 1, err.len, stderr);
    if (rc == 64)
        rc = 2;
done:
    relay_free(r);
    event_base_free(base);
    strbuf_clear(&cmd);
    strbuf_clear(&out);
    strbuf_clear(&err);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *confdir = NULL;
    struct event_base *base;
    int rc;
    struct relay *r;
    char err[1024];
    int verbose = 0, c;

    /* '+': stop at the first non-option, so "postsuper -d ID" stays the
     * command's own arguments. */
    while ((c = getopt_long(argc, argv, "+c:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("mxlab-relay %s\n", MXLAB_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (confdir == NULL) {
        usage(stderr);
        return 2;
    }
    if (optind < argc)
        return admin_command(confdir, argc - optind, argv + optind);
    log_init("mxlab-relay", verbose);
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (base == NULL)
        fatalx("event_base_new failed");
    r = relay_new(base, confdir, err, sizeof(err));
    if (r == NULL) {
        fprintf(stderr, "mxlab-relay: %s\n", err);
        event_base_free(base);
        return 1;
    }
    if (relay_start(r, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab-relay: %s\n", err);
        relay_free(r);
        event_base_free(base);
        return 1;
    }
    if (relay_control_start(r, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab-relay: %s\n", err);
        relay_free(r);
        event_base_free(base);
        return 1;
    }
    rc = loop_run_until_signal(base) < 0 ? 1 : 0;
    relay_free(r);
    event_base_free(base);
    return rc;
}
