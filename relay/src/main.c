/*
 * main.c — mxlab-relay: run the reference relay on a Postfix-style
 * configuration directory, in the foreground or, with "start", as a
 * daemon that "stop", "reload" and "status" find through its pid file
 * (postfix(1), postfix-script). SIGTERM/SIGINT stop it cleanly (queued
 * mail stays on disk for the next start), SIGHUP reloads main.cf and
 * master.cf. Started as root, it serves as mail_owner.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "mxlab/log.h"
#include "mxlab/loop.h"
#include "mxlab/version.h"
#include "mxlab/xmem.h"
#include "relay/relay.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab-relay -c CONFIG_DIR [-v] [start|stop|reload|status]\n"
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
            "start, stop, reload and status act as postfix(1)'s: start runs\n"
            "the relay in the background (pid in queue_directory/pid/\n"
            "master.pid), reload makes it read its configuration again.\n"
            "Started as root, the relay serves as mail_owner (postfix).\n"
            "\n"
            "  -c DIR       configuration directory (required)\n"
            "  -v           more diagnostics on stderr\n"
            "  -h, --help   this text\n"
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
    if (relay_admin_identity(r, msg, sizeof(msg)) < 0) {
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

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    char err[1024];

    (void)sig;
    (void)what;
    if (relay_reload(arg, err, sizeof(err)) < 0)
        log_warnx("reload: %s", err);
}

/* Tell the "start" process how start-up went: "0", or "1" and why. */
static void notify(int fd, const char *err)
{
    if (fd < 0)
        return;
    if (write(fd, err ? "1" : "0", 1) < 0 ||
        (err != NULL && write(fd, err, strlen(err)) < 0))
        log_warn("start-up status");
    close(fd);
}

/* Run the relay until SIGTERM/SIGINT: the pid lock, the queue and the
 * listeners, the control socket, then mail_owner's identity for good,
 * and the loop (SIGHUP: reload). notify_fd >= 0: a "start" process waits
 * on it for the outcome. */
static int serve(const char *confdir, int notify_fd)
{
    struct event_base *base = event_base_new();
    struct event *hup = NULL;
    struct relay *r = NULL;
    char err[1024];
    int rc = 1, lock;

    if (base == NULL)
        fatalx("event_base_new failed");
    r = relay_new(base, confdir, err, sizeof(err));
    if (r == NULL)
        goto fail;
    lock = relay_pid_lock(r, err, sizeof(err));
    if (lock == 1)
        snprintf(err, sizeof(err),
                 "%s/postfix-script: fatal: the Postfix mail system is "
                 "already running",
                 relay_param(r, "syslog_name"));
    if (lock != 0 || relay_start(r, err, sizeof(err)) < 0 ||
        relay_control_start(r, err, sizeof(err)) < 0 ||
        relay_drop_privileges(r, err, sizeof(err)) < 0)
        goto fail;
    hup = evsignal_new(base, SIGHUP, on_sighup, r);
    if (hup == NULL || event_add(hup, NULL) < 0)
        fatalx("cannot watch SIGHUP");
    notify(notify_fd, NULL);
    rc = loop_run_until_signal(base) < 0 ? 1 : 0;
    goto done;
fail:
    if (notify_fd >= 0)
        notify(notify_fd, err);
    else
        fprintf(stderr, "%s%s\n",
                strstr(err, "postfix-script:") ? "" : "mxlab-relay: ", err);
done:
    if (hup != NULL)
        event_free(hup);
    relay_free(r);
    /* One more turn: libevent finalizes the bufferevents just freed
     * (sessions whose reading was suspended at the input watermark are
     * left otherwise). */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    return rc;
}

/* "start": check, then fork a daemon (own session, stdio on /dev/null)
 * and wait for its start-up status, as "postfix start" waits for
 * master -w. */
static int start(const char *confdir, const char *tag)
{
    int pfd[2];
    char buf[1024];
    ssize_t n;
    size_t len = 0;
    pid_t pid;

    fprintf(stderr, "%s/postfix-script: starting the Postfix mail system\n",
            tag);
    if (pipe(pfd) < 0) {
        log_warn("pipe");
        return 1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        log_warn("fork");
        return 1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        close(pfd[0]);
        setsid();
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        _exit(serve(confdir, pfd[1]));
    }
    close(pfd[1]);
    while (len < sizeof(buf) - 1 &&
           (n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0)
            break;
        len += (size_t)n;
    }
    close(pfd[0]);
    buf[len] = '\0';
    if (len > 0 && buf[0] == '0')
        return 0;
    if (len > 1)
        fprintf(
            stderr, "%s%s\n",
            strstr(buf + 1, "postfix-script:") ? "" : "mxlab-relay: ", buf + 1);
    fprintf(stderr, "%s/postfix-script: fatal: mail system startup failed\n",
            tag);
    return 1;
}

/* The process has exited (a zombie waiting for its reaper counts). */
static int gone(long pid)
{
    char path[64], buf[256];
    const char *state;
    ssize_t n;
    int fd;

    if (kill((pid_t)pid, 0) < 0)
        return 1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return 1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    state = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return state != NULL && state[1] == ' ' && state[2] == 'Z';
}

/* mxlab-relay -c DIR start|stop|reload|status, with postfix-script's
 * messages (on stderr, where Postfix's postlog shows them on a terminal)
 * and exit codes. */
static int life_command(const char *confdir, const char *cmd)
{
    struct event_base *base = event_base_new();
    char err[1024], tag[256];
    struct relay *r = relay_new(base, confdir, err, sizeof(err));
    long pid;
    int rc = 1;

    if (r == NULL) {
        fprintf(stderr, "mxlab-relay: %s\n", err);
        event_base_free(base);
        return 1;
    }
    snprintf(tag, sizeof(tag), "%s", relay_param(r, "syslog_name"));
    pid = relay_pid_running(r);
    relay_free(r);
    event_base_free(base);
    if (strcmp(cmd, "start") == 0) {
        if (pid > 0) {
            fprintf(stderr,
                    "%s/postfix-script: fatal: the Postfix mail system is "
                    "already running\n",
                    tag);
            return 1;
        }
        return start(confdir, tag);
    }
    if (pid == 0) {
        fprintf(stderr,
                "%s/postfix-script: %sthe Postfix mail system is not "
                "running\n",
                tag, strcmp(cmd, "status") == 0 ? "" : "fatal: ");
        return 1;
    }
    if (strcmp(cmd, "status") == 0) {
        fprintf(stderr,
                "%s/postfix-script: the Postfix mail system is running: "
                "PID: %ld\n",
                tag, pid);
        return 0;
    }
    if (strcmp(cmd, "reload") == 0) {
        fprintf(stderr,
                "%s/postfix-script: refreshing the Postfix mail system\n", tag);
        return kill((pid_t)pid, SIGHUP) < 0 ? 1 : 0;
    }
    /* stop: SIGTERM, then up to 5 s for a clean exit, then SIGKILL. */
    fprintf(stderr, "%s/postfix-script: stopping the Postfix mail system\n",
            tag);
    if (kill((pid_t)pid, SIGTERM) < 0)
        return 1;
    base = event_base_new();
    r = relay_new(base, confdir, err, sizeof(err));
    for (int i = 0; r != NULL && i < 50; i++) {
        if (relay_pid_running(r) == 0 && gone(pid)) {
            rc = 0;
            break;
        }
        if (i > 0 && i % 10 == 0)
            fprintf(stderr,
                    "%s/postfix-script: waiting for the Postfix mail "
                    "system to terminate\n",
                    tag);
        poll(NULL, 0, 100);
    }
    relay_free(r);
    event_base_free(base);
    if (rc != 0) {
        fprintf(stderr,
                "%s/postfix-script: warning: stopping the Postfix mail "
                "system with force\n",
                tag);
        rc = kill((pid_t)pid, SIGKILL) < 0 ? 1 : 0;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    const char *confdir = NULL;
    int verbose = 0, c;

    /* '+': stop at the first non-option, so "postsuper -d ID" stays the
     * command's own arguments. */
    opterr = 0; /* our own messages, with our name */
    while ((c = getopt_long(argc, argv, "+c:vh", longopts, NULL)) != -1) {
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
            fprintf(stderr,
                    "mxlab-relay: %s: unknown option or missing "
                    "value\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (confdir == NULL) {
        fprintf(stderr, "mxlab-relay: -c CONFIG_DIR is required\n");
        usage(stderr);
        return 2;
    }
    log_init("mxlab-relay", verbose);
    signal(SIGPIPE, SIG_IGN);
    if (optind + 1 == argc && (strcmp(argv[optind], "start") == 0 ||
                               strcmp(argv[optind], "stop") == 0 ||
                               strcmp(argv[optind], "reload") == 0 ||
                               strcmp(argv[optind], "status") == 0))
        return life_command(confdir, argv[optind]);
    if (optind < argc)
        return admin_command(confdir, argc - optind, argv + optind);
    return serve(confdir, -1);
}
