/*
 * main.c — mxlab-fakemx: fake upstream MX hosts from the command line, one
 * per --listen address; every accepted message is appended as one JSON
 * line to --dump FILE (standard output by default) and flushed before the
 * next event. SIGTERM/SIGINT end it cleanly (exit 0). Exit 2: bad usage;
 * exit 1: a listen address or the dump file cannot be opened.
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
#include "mxlab/loop.h"
#include "mxlab/strutil.h"
#include "mxlab/version.h"

#define MAIN_MAX_LISTEN 64

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: mxlab-fakemx --listen IP:PORT [--listen ...] [--name NAME]\n"
        "                    [--max-conn-per-ip N] [--dump FILE] [-v]\n"
        "       mxlab-fakemx --help | --version\n"
        "\n"
        "Fake upstream MX hosts: accept SMTP on each --listen address\n"
        "(banner name NAME, default \"fakemx\") and append every accepted\n"
        "message as one JSON line to FILE (standard output by default):\n"
        "  {\"host\",\"name\",\"client_ip\",\"helo\",\"mail_from\","
        "\"rcpt_to\",\"size\",\"sha256\",\"data\"}\n"
        "  --max-conn-per-ip N  refuse (421) more than N concurrent\n"
        "                       connections from one client address\n"
        "  -v                   log to standard error (-vv: commands)\n");
}

static void main_on_delivery(void *arg, const struct fakemx_message *m)
{
    FILE *fp = arg;

    fakemx_message_write_json(m, fp);
    if (fflush(fp) == EOF || ferror(fp)) {
        log_warn("cannot write the message dump");
        clearerr(fp);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"max-conn-per-ip", required_argument, NULL, 'm'},
        {"dump", required_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *listens[MAIN_MAX_LISTEN], *name = NULL, *dump = NULL;
    size_t nlisten = 0;
    struct fakemx_behaviour beh;
    struct event_base *base = NULL;
    struct fakemx *fm = NULL;
    FILE *out = stdout;
    char err[512];
    long v;
    int c, verbose = 0, rc = 1;

    memset(&beh, 0, sizeof(beh));
    while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (nlisten == MAIN_MAX_LISTEN) {
                fprintf(stderr, "mxlab-fakemx: more than %d --listen\n",
                        MAIN_MAX_LISTEN);
                return 2;
            }
            listens[nlisten++] = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'm':
            if (str_to_long(optarg, &v) < 0 || v > 100000) {
                fprintf(stderr,
                        "mxlab-fakemx: --max-conn-per-ip: \"%s\": a number "
                        "from 0 to 100000 expected\n",
                        optarg);
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
    if (optind != argc) {
        fprintf(stderr, "mxlab-fakemx: unexpected argument \"%s\"\n",
                argv[optind]);
        usage(stderr);
        return 2;
    }
    if (nlisten == 0) {
        fprintf(stderr, "mxlab-fakemx: at least one --listen is needed\n");
        usage(stderr);
        return 2;
    }
    log_init("mxlab-fakemx", verbose);
    signal(SIGPIPE, SIG_IGN);
    if (dump != NULL && (out = fopen(dump, "a")) == NULL) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", dump, strerror(errno));
        return 1;
    }
    if ((base = event_base_new()) == NULL) {
        fprintf(stderr, "mxlab-fakemx: cannot create an event loop\n");
        goto done;
    }
    fm = fakemx_new(base);
    fakemx_on_delivery(fm, main_on_delivery, out);
    for (size_t i = 0; i < nlisten; i++) {
        if (fakemx_add_host(fm, listens[i], name, &beh, err, sizeof(err)) ==
            NULL) {
            fprintf(stderr, "mxlab-fakemx: %s\n", err);
            goto done;
        }
    }
    if (loop_run_until_signal(base) < 0)
        goto done;
    rc = 0;

done:
    fakemx_free(fm);
    if (base != NULL)
        event_base_free(base);
    if (out != stdout && fclose(out) == EOF) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", dump, strerror(errno));
        rc = 1;
    }
    return rc;
}
