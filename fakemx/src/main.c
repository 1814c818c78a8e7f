/*
 * main.c — mxlab-fakemx: fake upstream MX hosts from the command line, one
 * per --listen address, each with the --behaviour FILE (and an own file
 * after a comma); every accepted message is appended as one JSON line to
 * --dump FILE (standard output by default) and flushed before the next
 * event, or, when --dump names a directory, to DIR/fakemx.jsonl and as one
 * file in the Maildir DIR/maildir, every ended session (with each reply
 * given) to DIR/sessions.jsonl. SIGTERM/SIGINT end it cleanly (exit 0).
 * Exit 2: bad usage or a bad behaviour file (file:line); exit 1: a listen
 * address or the dump cannot be opened.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fakemx/fakemx.h"
#include "mxlab/fsutil.h"
#include "mxlab/log.h"
#include "mxlab/loop.h"
#include "mxlab/strutil.h"
#include "mxlab/version.h"
#include "mxlab/xmem.h"

#define MAIN_MAX_LISTEN 64

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: mxlab-fakemx --listen IP:PORT[,FILE] [--listen ...]\n"
        "                    [--name NAME] [--max-conn-per-ip N]\n"
        "                    [--greylist MIN[,MAX]] [--behaviour FILE]\n"
        "                    [--dump FILE|DIR] [-v]\n"
        "       mxlab-fakemx --help | --version\n"
        "\n"
        "Fake upstream MX hosts: accept SMTP on each --listen address\n"
        "(banner name NAME, default \"fakemx\") and append every accepted\n"
        "message as one JSON line to FILE (standard output by default):\n"
        "  {\"host\",\"name\",\"client_ip\",\"helo\",\"mail_from\","
        "\"rcpt_to\",\"size\",\"sha256\",\"data\",...}\n"
        "  --dump DIR           an existing directory (or DIR/): append to\n"
        "                       DIR/fakemx.jsonl, deliver into the Maildir\n"
        "                       DIR/maildir, and log every session (each\n"
        "                       reply given) to DIR/sessions.jsonl\n"
        "  --behaviour FILE     behaviour of every host (key = value lines:\n"
        "                       see fakemx.h); IP:PORT,FILE adds FILE for\n"
        "                       that host\n"
        "  --max-conn-per-ip N  refuse (421) more than N concurrent\n"
        "                       connections from one client address\n"
        "  --greylist MIN[,MAX] greylist (IP, sender, recipient) triplets\n"
        "  -v                   log to standard error (-vv: commands)\n");
}

struct main_dump {
    FILE *fp;
    FILE *sessions;      /* DIR/sessions.jsonl; NULL: not written */
    char *maildir;       /* NULL: JSON only */
    struct event *flush; /* after this loop iteration's callbacks */
    struct fakemx *fm;   /* whose messages go to fp */
    size_t dumped;       /* messages already written to fp */
};

/* Runs once the callbacks that are ready now have run (and at the end):
 * the JSON lines of the messages accepted since, then one write of all
 * that stdio holds. Their 250s are on the wire by then: the formatting
 * never delays a reply, and the lines come in the order accepted. */
static void main_flush(evutil_socket_t fd, short what, void *arg)
{
    struct main_dump *d = arg;

    (void)fd;
    (void)what;
    for (; d->dumped < fakemx_message_count(d->fm); d->dumped++)
        fakemx_message_write_json(fakemx_message_at(d->fm, d->dumped), d->fp);
    if (fflush(d->fp) == EOF || ferror(d->fp)) {
        log_warn("cannot write the message dump");
        clearerr(d->fp);
    }
    if (d->sessions != NULL &&
        (fflush(d->sessions) == EOF || ferror(d->sessions))) {
        log_warn("cannot write the session dump");
        clearerr(d->sessions);
    }
}

static void main_on_session_end(void *arg,
                                const struct fakemx_session_record *r)
{
    struct main_dump *d = arg;

    fakemx_session_write_json(r, d->sessions);
    if (!event_pending(d->flush, EV_TIMEOUT, NULL))
        event_active(d->flush, EV_TIMEOUT, 0);
}

/* The JSON line is written by main_flush, after the replies; the Maildir
 * copy is on disk (fsynced) before the 250 goes out. */
static void main_on_delivery(void *arg, const struct fakemx_message *m)
{
    struct main_dump *d = arg;
    char err[512];

    if (!event_pending(d->flush, EV_TIMEOUT, NULL))
        event_active(d->flush, EV_TIMEOUT, 0);
    if (d->maildir != NULL &&
        fakemx_message_write_maildir(m, d->maildir, err, sizeof(err)) < 0)
        log_warnx("maildir: %s", err);
}

/* Parse behaviour file path into b (on top of what b holds); 0, or -1
 * with the reason on stderr. */
static int main_load_behaviour(struct fakemx_behaviour *b, const char *path)
{
    char err[600], *text = NULL;
    size_t len;
    int rc;

    if (fs_read_file(path, &text, &len) < 0) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", path, strerror(errno));
        return -1;
    }
    rc = fakemx_behaviour_parse(b, path, 1, text, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "mxlab-fakemx: %s\n", err);
    free(text);
    return rc;
}

/* A command-line option as a behaviour line, so both share one parser. */
static int main_option_line(struct fakemx_behaviour *b, const char *opt,
                            const char *key, const char *value)
{
    char err[512], *line = xasprintf("%s = %s", key, value);
    int rc = fakemx_behaviour_parse_line(b, line, err, sizeof(err));

    if (rc < 0)
        fprintf(stderr, "mxlab-fakemx: --%s: %s\n", opt, err);
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"max-conn-per-ip", required_argument, NULL, 'm'},
        {"greylist", required_argument, NULL, 'g'},
        {"behaviour", required_argument, NULL, 'b'},
        {"behavior", required_argument, NULL, 'b'},
        {"dump", required_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *listens[MAIN_MAX_LISTEN], *name = NULL, *dump = NULL;
    const char *beh_file = NULL, *max_conn = NULL, *greylist = NULL;
    size_t nlisten = 0;
    struct fakemx_behaviour beh, hb;
    struct event_base *base = NULL;
    struct fakemx *fm = NULL;
    struct main_dump out = {stdout, NULL, NULL, NULL, NULL, 0};
    struct stat st;
    char err[512], *jsonl = NULL, *sjsonl = NULL;
    int c, verbose = 0, rc = 1;

    memset(&beh, 0, sizeof(beh));
    memset(&hb, 0, sizeof(hb));
    opterr = 0; /* our own messages, with our name */
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
            max_conn = optarg;
            break;
        case 'g':
            greylist = optarg;
            break;
        case 'b':
            beh_file = optarg;
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
            fprintf(stderr,
                    "mxlab-fakemx: %s: unknown option or missing value\n",
                    argv[optind - 1]);
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
    /* The file first; options on the command line override it. */
    rc = 2;
    if (beh_file != NULL && main_load_behaviour(&beh, beh_file) < 0)
        goto done;
    if (max_conn != NULL && main_option_line(&beh, "max-conn-per-ip",
                                             "max_conn_per_ip", max_conn) < 0)
        goto done;
    if (greylist != NULL &&
        main_option_line(&beh, "greylist", "greylist", greylist) < 0)
        goto done;
    rc = 1;
    log_init("mxlab-fakemx", verbose);
    signal(SIGPIPE, SIG_IGN);
    /* A directory (existing, or named with a trailing '/'): JSON lines
     * and a Maildir in it. */
    if (dump != NULL && *dump != '\0' && dump[strlen(dump) - 1] == '/' &&
        fs_mkdir_p(dump, 0755) < 0) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", dump, strerror(errno));
        goto done;
    }
    if (dump != NULL && stat(dump, &st) == 0 && S_ISDIR(st.st_mode)) {
        jsonl = xasprintf("%s/fakemx.jsonl", dump);
        sjsonl = xasprintf("%s/sessions.jsonl", dump);
        out.maildir = xasprintf("%s/maildir", dump);
        if ((out.sessions = fopen(sjsonl, "a")) == NULL) {
            fprintf(stderr, "mxlab-fakemx: %s: %s\n", sjsonl, strerror(errno));
            goto done;
        }
        if (fs_mkdir_p(out.maildir, 0700) < 0) {
            fprintf(stderr, "mxlab-fakemx: %s: %s\n", out.maildir,
                    strerror(errno));
            goto done;
        }
    }
    if (dump != NULL && (out.fp = fopen(jsonl ? jsonl : dump, "a")) == NULL) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", jsonl ? jsonl : dump,
                strerror(errno));
        out.fp = stdout;
        goto done;
    }
    if ((base = event_base_new()) == NULL) {
        fprintf(stderr, "mxlab-fakemx: cannot create an event loop\n");
        goto done;
    }
    if ((out.flush = evtimer_new(base, main_flush, &out)) == NULL) {
        fprintf(stderr, "mxlab-fakemx: cannot create an event\n");
        goto done;
    }
    fm = out.fm = fakemx_new(base);
    fakemx_on_delivery(fm, main_on_delivery, &out);
    if (out.sessions != NULL)
        fakemx_on_session_end(fm, main_on_session_end, &out);
    for (size_t i = 0; i < nlisten; i++) {
        char *addr = xstrdup(listens[i]), *file = strchr(addr, ',');
        struct fakemx_host *h;
        if (file != NULL)
            *file++ = '\0';
        fakemx_behaviour_clear(&hb);
        fakemx_behaviour_copy(&hb, &beh);
        if (file != NULL && main_load_behaviour(&hb, file) < 0) {
            free(addr);
            rc = 2;
            goto done;
        }
        h = fakemx_add_host(fm, addr, name, &hb, err, sizeof(err));
        free(addr);
        if (h == NULL) {
            fprintf(stderr, "mxlab-fakemx: %s\n", err);
            goto done;
        }
    }
    if (loop_run_until_signal(base) < 0)
        goto done;
    rc = 0;

done:
    if (fm != NULL)
        main_flush(-1, 0, &out); /* what the last iteration left */
    fakemx_free(fm);
    if (out.flush != NULL)
        event_free(out.flush);
    if (base != NULL)
        event_base_free(base);
    fakemx_behaviour_clear(&beh);
    fakemx_behaviour_clear(&hb);
    if (out.fp != stdout && fclose(out.fp) == EOF) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", jsonl ? jsonl : dump,
                strerror(errno));
        rc = 1;
    }
    if (out.sessions != NULL && fclose(out.sessions) == EOF) {
        fprintf(stderr, "mxlab-fakemx: %s: %s\n", sjsonl, strerror(errno));
        rc = 1;
    }
    free(jsonl);
    free(sjsonl);
    free(out.maildir);
    return rc;
}
