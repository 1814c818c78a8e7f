/*
 * main.c — mxlab-fakedns: serve master-file zones over UDP and TCP in
 * the foreground until SIGTERM or SIGINT (exit 0). SIGHUP reloads every
 * zone file, all or nothing: a file that no longer loads is reported
 * ("file:line: reason") and the zones already served stay. Exit 1 when a
 * zone does not load at start or an address cannot be bound, 2 on bad
 * usage.
 */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns/fakedns.h"
#include "mxlab/log.h"
#include "mxlab/loop.h"
#include "mxlab/strutil.h"
#include "mxlab/version.h"
#include "mxlab/xmem.h"

/* One --zone, with the --origin that applies to it (may be NULL). */
struct main_zone {
    const char *path;
    const char *origin;
};

/* What SIGHUP needs: the server and the zones to read again. */
struct main_reload {
    struct fakedns *fd;
    const struct main_zone *zones;
    size_t nzones;
};

/* Load every zone into fd; 0, or -1 with the message in err. */
static int main_load(struct fakedns *fd, const struct main_zone *zones,
                     size_t nzones, char *err, size_t errlen)
{
    for (size_t i = 0; i < nzones; i++) {
        if (fakedns_load_zone_file(fd, zones[i].path, zones[i].origin, err,
                                   errlen) < 0)
            return -1;
        log_info("loaded zone %s", zones[i].path);
    }
    return 0;
}

/* SIGHUP: load into a scratch server, then swap the zones in. */
static void main_on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct main_reload *r = arg;
    struct fakedns *tmp = fakedns_new(NULL);
    char err[1024];

    (void)sig;
    (void)what;
    if (main_load(tmp, r->zones, r->nzones, err, sizeof(err)) < 0) {
        log_warnx("reload refused, zones unchanged: %s", err);
    } else {
        fakedns_take_zones(r->fd, tmp);
        log_info("reloaded %zu zone file(s)", r->nzones);
    }
    fakedns_free(tmp);
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab-fakedns --listen ADDR:PORT [--listen ...]\n"
            "                     --zone FILE [--zone FILE ...]\n"
            "                     [--origin NAME] [-v]\n"
            "\n"
            "Serve zones in RFC 1035 master-file syntax over UDP and TCP as\n"
            "an authoritative server, until SIGTERM or SIGINT; SIGHUP\n"
            "reloads the zone files.\n"
            "\n"
            "  --listen ADDR:PORT  UDP and TCP address (\"127.0.0.53:5353\",\n"
            "                      \"[::1]:5353\"); repeatable\n"
            "  --zone FILE         zone file; repeatable\n"
            "  --origin NAME       origin of the --zone files after it (or,\n"
            "                      given after them, of those without one)\n"
            "  -v                  more diagnostics on stderr (-vv: each "
            "query)\n"
            "  -h, --help          this text\n"
            "  --version           print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"zone", required_argument, NULL, 'z'},
        {"origin", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    struct strlist listen;
    struct main_zone *zones = NULL;
    size_t nzones = 0;
    const char *origin = NULL;
    struct event_base *base = NULL;
    struct fakedns *fd = NULL;
    struct event *hup = NULL;
    struct main_reload reload;
    char err[1024];
    int verbose = 0, c, ret = 1;

    strlist_init(&listen);
    opterr = 0; /* our own messages, with our name */
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            strlist_push(&listen, optarg);
            break;
        case 'z':
            zones = xrealloc(zones, (nzones + 1) * sizeof(*zones));
            zones[nzones].path = optarg;
            zones[nzones++].origin = origin;
            break;
        case 'o':
            origin = optarg;
            /* Given after some --zone: it names their origin too. */
            for (size_t i = 0; i < nzones; i++)
                if (zones[i].origin == NULL)
                    zones[i].origin = origin;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            ret = 0;
            goto done;
        case 'V':
            printf("mxlab-fakedns %s\n", MXLAB_VERSION);
            ret = 0;
            goto done;
        default:
            fprintf(stderr,
                    "mxlab-fakedns: %s: unknown option or missing value\n",
                    argv[optind - 1]);
            usage(stderr);
            ret = 2;
            goto done;
        }
    }
    if (optind != argc || listen.n == 0 || nzones == 0) {
        if (optind != argc)
            fprintf(stderr, "mxlab-fakedns: unexpected argument \"%s\"\n",
                    argv[optind]);
        else
            fprintf(stderr, "mxlab-fakedns: %s\n",
                    listen.n == 0 ? "--listen is required"
                                  : "--zone is required");
        usage(stderr);
        ret = 2;
        goto done;
    }
    log_init("mxlab-fakedns", verbose);
    signal(SIGPIPE, SIG_IGN);

    if ((base = event_base_new()) == NULL) {
        log_warnx("cannot create the event loop");
        goto done;
    }
    fd = fakedns_new(base);
    if (main_load(fd, zones, nzones, err, sizeof(err)) < 0) {
        fprintf(stderr, "mxlab-fakedns: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < listen.n; i++) {
        if (fakedns_listen(fd, listen.v[i], err, sizeof(err)) < 0) {
            log_warnx("%s", err);
            goto done;
        }
    }
    reload.fd = fd;
    reload.zones = zones;
    reload.nzones = nzones;
    hup = evsignal_new(base, SIGHUP, main_on_hup, &reload);
    if (hup == NULL || event_add(hup, NULL) < 0) {
        log_warnx("cannot watch SIGHUP");
        goto done;
    }
    log_info("ready");
    if (loop_run_until_signal(base) < 0)
        goto done;
    log_info("stopping");
    ret = 0;

done:
    if (hup != NULL)
        event_free(hup);
    fakedns_free(fd);
    if (base != NULL)
        event_base_free(base);
    free(zones);
    strlist_clear(&listen);
    return ret;
}
