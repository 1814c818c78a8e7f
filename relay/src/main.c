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
#include "mxlab/version.h"
#include "relay/relay.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab-relay -c CONFIG_DIR [-v]\n"
            "\n"
            "Run mxlab's reference relay in the foreground: reads\n"
            "CONFIG_DIR/main.cf and CONFIG_DIR/master.cf (Postfix syntax),\n"
            "listens on master.cf's inet smtpd services, queues under\n"
            "queue_directory and logs to maillog_file (stderr if unset).\n"
            "\n"
            "  -c DIR       configuration directory (required)\n"
            "  -v           more diagnostics on stderr\n"
            "  --help       this text\n"
            "  --version    print the version\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *confdir = NULL;
    struct event_base *base;
    struct event *sigterm, *sigint;
    struct relay *r;
    char err[1024];
    int verbose = 0, c;

    while ((c = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1) {
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
    if (confdir == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
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
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(base);
    event_free(sigterm);
    event_free(sigint);
    relay_free(r);
    event_base_free(base);
    return 0;
}
