/*
 * main.c — mxlab-fakemx: fake upstream MX hosts from the command line;
 * every accepted message is written as one JSON line (--dump FILE, or
 * standard output). SIGTERM/SIGINT end it cleanly.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakemx/fakemx.h"
#include "mxlab/log.h"
#include "mxlab/strutil.h"
#include "mxlab/version.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mxlab-fakemx --listen IP:PORT [--listen ...] [--name "
                "NAME]\n"
                "                    [--max-conn-per-ip N] [--dump FILE] [-v]\n"
                "\n"
                "Fake upstream MX hosts: accept SMTP on each --listen address\n"
                "and write every accepted message as a JSON line to FILE\n"
                "(standard output by default).\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static void on_delivery(void *arg, const struct fakemx_message *m)
{
    FILE *fp = arg;

    fakemx_message_write_json(m, fp);
    fflush(fp);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"max-conn-per-ip", required_argument, NULL, 'm'},
        {"dump", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *listens[64], *name = NULL, *dump = NULL;
    size_t nlisten = 0;
    struct fakemx_behaviour beh;
    struct event_base *base;
    struct event *sigterm, *sigint;
    struct fakemx *fm;
    FILE *out = stdout;
    char err[512];
    long v;
    int c, verbose = 0;

    memset(&beh, 0, sizeof(beh));
    while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == sizeof(listens) / sizeof(listens[0])) {
                fprintf(stderr, "mxlab-fakemx: too many --listen\n");
                return 2;
            }
            listens[nlisten++] = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'm':
            if (str_to_long(optarg, &v) < 0 || v > 100000) {
                fprintf(stderr, "mxlab-fakemx: --max-conn-per-ip: a number "
                                "expected\n");
                return 2;
            }
            beh.max_conn_per_ip = (int)v;
            break;
        case 'd':
            dump = optarg;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("mxlab-fakemx %s\n", MXLAB_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (nlisten == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("mxlab-fakemx", verbose);
    signal(SIGPIPE, SIG_IGN);
    if (dump != NULL && (out = fopen(dump, "a")) == NULL) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", dump, strerror(errno));
        return 1;
    }
    base = event_base_new();
    fm = fakemx_new(base);
    fakemx_on_delivery(fm, on_delivery, out);
    for (size_t i = 0; i < nlisten; i++) {
        if (fakemx_add_host(fm, listens[i], name, &beh, err, sizeof(err)) ==
            NULL) {
            fprintf(stderr, "mxlab-fakemx: %s\n", err);
            fakemx_free(fm);
            event_base_free(base);
            return 1;
        }
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(base);
    event_free(sigterm);
    event_free(sigint);
    fakemx_free(fm);
    event_base_free(base);
    if (out != stdout)
        fclose(out);
    return 0;
}
