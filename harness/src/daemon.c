/*
 * daemon.c — [daemon KIND ENDPOINT] (issue 17): the real programs a site
 * runs beside Postfix, on 127.0.0.1 at a free port, configured in their
 * own syntax; the endpoint main.cf names is rewritten to that port for
 * either SUT. One table entry per kind: dovecot-auth, dovecot-lmtp (RFC
 * 2033, into Maildirs under the lab's spool), postgrey (--delay on the
 * time scale), policyd-spf (spawn(8)-style, its resolv.conf the lab's
 * fakedns in a private mount namespace), opendkim. daemons_stop() ends
 * each process group.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "labconf.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"
#include "sut.h"

#define DAEMON_WAIT_MS 15000 /* until it listens */

struct daemon {
    const struct scn_block *b;
    char *dir;      /* its files, under the work directory */
    char *rundir;   /* sockets (108-byte paths): a short /tmp dir, or NULL */
    char *endpoint; /* "inet:127.0.0.1:PORT" */
    int port;
    pid_t pid;  /* leader of its process group, -1 once reaped */
    pid_t pgid; /* its process group (what it spawned too) */
};

struct daemons {
    struct daemon *v;
    size_t n;
    int realtime;
};

typedef int daemon_argv_fn(struct sut_env *env, struct daemon *d,
                           struct strlist *argv);
static daemon_argv_fn daemon_dovecot, daemon_dovecot_lmtp, daemon_postgrey,
    daemon_spf, daemon_opendkim;

static const struct daemon_kind {
    const char *name;
    const char *program; /* must exist */
    const char *package; /* Debian's */
    const char *root;    /* why it needs root, or NULL */
    int realtime;
    daemon_argv_fn *argv;
} daemon_kinds[] = {
    {"dovecot-auth", "/usr/sbin/dovecot", "dovecot-core", NULL, 0,
     daemon_dovecot},
    {"dovecot-lmtp", "/usr/lib/dovecot/lmtp", "dovecot-lmtpd",
     "it delivers as the userdb's uid", 0, daemon_dovecot_lmtp},
    {"postgrey", "/usr/sbin/postgrey", "postgrey", NULL, 1, daemon_postgrey},
    {"policyd-spf", "/usr/bin/policyd-spf", "postfix-policyd-spf-python",
     "a private /etc/resolv.conf in a mount namespace", 0, daemon_spf},
    {"opendkim", "/usr/sbin/opendkim", "opendkim", NULL, 0, daemon_opendkim},
};

static const struct daemon_kind *daemon_kind(const char *name)
{
    for (size_t i = 0; i < sizeof(daemon_kinds) / sizeof(daemon_kinds[0]); i++)
        if (strcmp(daemon_kinds[i].name, name) == 0)
            return &daemon_kinds[i];
    return NULL;
}

int daemon_check(const struct scenario *s, char *why, size_t len)
{
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct scn_block *b = &s->blocks[i];
        const struct daemon_kind *k;
        if (b->kind != SCN_DAEMON)
            continue;
        if ((k = daemon_kind(b->arg)) == NULL) {
            snprintf(why, len,
                     "%s:%d: [daemon %s]: unknown kind (dovecot-auth, "
                     "dovecot-lmtp, postgrey, policyd-spf, opendkim)",
                     s->path, b->line, b->arg);
            return -2;
        }
        if (access(k->program, X_OK) != 0) {
            snprintf(why, len,
                     "%s:%d: [daemon %s]: %s not installed (Debian package "
                     "%s)",
                     s->path, b->line, b->arg, k->program, k->package);
            return -1;
        }
        if (k->root != NULL && geteuid() != 0) {
            snprintf(why, len, "%s:%d: [daemon %s]: needs root (%s)", s->path,
                     b->line, b->arg, k->root);
            return -1;
        }
    }
    return 0;
}

int daemon_wanted(const struct scenario *s, const char *kind)
{
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].kind == SCN_DAEMON &&
            strcmp(s->blocks[i].arg, kind) == 0)
            return 1;
    return 0;
}

/* 1 if text names ref as a whole path ("$config_directory/users" is not
 * "$config_directory/users.db" nor ".../users2"). */
static int daemon_names(const char *text, const char *ref)
{
    static const char namechars[] = "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

    for (const char *hit = text; (hit = strstr(hit, ref)) != NULL; hit++) {
        char next = hit[strlen(ref)];
        if (next == '\0' || strchr(namechars, next) == NULL)
            return 1;
    }
    return 0;
}

int daemon_owns_file(const struct scenario *s, const char *name)
{
    char *ref = xasprintf("$config_directory/%s", name);
    int owns = 0;

    for (size_t i = 0; i < s->nblocks && !owns; i++)
        owns = s->blocks[i].kind == SCN_DAEMON && s->blocks[i].text &&
               daemon_names(s->blocks[i].text, ref);
    free(ref);
    return owns;
}

/* text with every from replaced by to. Caller frees. */
static char *daemon_replace(const char *text, const char *from, const char *to)
{
    const char *t = text, *hit;
    struct strbuf sb;

    strbuf_init(&sb);
    while ((hit = strstr(t, from)) != NULL) {
        strbuf_append(&sb, t, (size_t)(hit - t));
        strbuf_puts(&sb, to);
        t = hit + strlen(from);
    }
    strbuf_puts(&sb, t);
    return strbuf_detach(&sb);
}

/* The body with $config_directory replaced by the SUT's (where the
 * scenario's [file NAME] blocks are) and $mail_spool_directory by the
 * lab's spool (the SUT's main.cf's, without its final '/'), where
 * "mailbox USER" looks. Caller frees. */
static char *daemon_body(struct sut_env *env, const struct scn_block *b)
{
    char *spool = xasprintf("%s/mail", env->workdir);
    char *conf = daemon_replace(b->text ? b->text : "", "$config_directory",
                                env->confdir);
    char *body = daemon_replace(conf, "$mail_spool_directory", spool);

    free(spool);
    free(conf);
    return body;
}

static int daemon_write(struct sut_env *env, const struct daemon *d,
                        const char *name, const char *text, char **path)
{
    *path = xasprintf("%s/%s", d->dir, name);
    if (fs_write_atomic(*path, text, strlen(text)) < 0)
        return sut_fail(env, d->b->line, "cannot write %s: %s", *path,
                        strerror(errno));
    chmod(*path, 0644);
    return 0;
}

/* Write the configuration file name, then argv: the words of cmd and
 * the file's path. */
static int daemon_conf_argv(struct sut_env *env, const struct daemon *d,
                            const char *name, const char *conf,
                            struct strlist *argv, const char *cmd)
{
    char *path;
    int rc = daemon_write(env, d, name, conf, &path);

    if (rc == 0) {
        strlist_split(argv, cmd);
        strlist_push(argv, path);
    }
    free(path);
    return rc;
}

/* A private Dovecot serving protocols (none: auth alone) with the
 * scenario's settings, service's listener on our port, nothing read from
 * /etc/dovecot. */
static int daemon_dovecot_conf(struct sut_env *env, struct daemon *d,
                               const char *protocols, const char *service,
                               struct strlist *argv)
{
    char *body = daemon_body(env, d->b), *conf;
    char tmpl[] = "/tmp/mxlab-dc.XXXXXX";
    int rc;

    /* Its sockets' paths must fit in sun_path: a short private base_dir,
     * removed after the run (as the Postfix SUT's queue). */
    if (mkdtemp(tmpl) == NULL) {
        free(body);
        return sut_fail(env, d->b->line, "mkdtemp: %s", strerror(errno));
    }
    chmod(tmpl, 0755);
    d->rundir = xstrdup(tmpl);
    conf = xasprintf("# generated by mxlab for %s:%d\n"
                     "base_dir = %s\nstate_dir = %s/state\n"
                     "instance_name = mxlab-%d\nlog_path = %s/dovecot.log\n"
                     "protocols = %s\nlisten = 127.0.0.1\nssl = no\n"
                     "%s\n"
                     "service %s {\n  inet_listener mxlab {\n"
                     "    address = 127.0.0.1\n    port = %d\n  }\n}\n",
                     env->s->path, d->b->line, d->rundir, d->dir, d->port,
                     d->dir, protocols, body, service, d->port);
    free(body);
    rc = daemon_conf_argv(env, d, "dovecot.conf", conf, argv,
                          "/usr/sbin/dovecot -F -c");
    free(conf);
    return rc;
}

/* Dovecot's auth service alone, its listener on our port. */
static int daemon_dovecot(struct sut_env *env, struct daemon *d,
                          struct strlist *argv)
{
    return daemon_dovecot_conf(env, d, "", "auth", argv);
}

/* Dovecot's LMTP server (RFC 2033), its listener on our port; the
 * scenario gives passdb, userdb and mail_location. */
static int daemon_dovecot_lmtp(struct sut_env *env, struct daemon *d,
                               struct strlist *argv)
{
    return daemon_dovecot_conf(env, d, "lmtp", "lmtp", argv);
}

/* postgrey's options, one per line; --delay on the scenario's time
 * scale, as the SUTs' timers (scenarios/README.md). */
static void daemon_postgrey_option(struct sut_env *env, const char *opt,
                                   struct strlist *argv)
{
    long delay;
    const char *v = str_casestart(opt, "--delay=");

    if (v != NULL && str_to_long(v, &delay) == 0) {
        long scaled = delay / sut_time_scale(env);
        char *o = xasprintf("--delay=%ld", scaled < 1 ? 1 : scaled);
        strlist_push(argv, o);
        free(o);
        return;
    }
    strlist_push(argv, opt);
}

static int daemon_postgrey(struct sut_env *env, struct daemon *d,
                           struct strlist *argv)
{
    char *body = daemon_body(env, d->b), *wl, *opt;
    struct strlist lines;
    int rc = daemon_write(env, d, "whitelist", "", &wl);

    strlist_push(argv, "/usr/sbin/postgrey");
    opt = xasprintf("--inet=127.0.0.1:%d", d->port);
    strlist_push(argv, opt);
    free(opt);
    opt = xasprintf("--dbdir=%s", d->dir);
    strlist_push(argv, opt);
    free(opt);
    opt = xasprintf("--whitelist-clients=%s", wl);
    strlist_push(argv, opt);
    free(opt);
    opt = xasprintf("--whitelist-recipients=%s", wl);
    strlist_push(argv, opt);
    free(opt);
    if (geteuid() == 0) {
        strlist_push(argv, "--user=root");
        strlist_push(argv, "--group=root");
    }
    strlist_init(&lines);
    strlist_split(&lines, body);
    for (size_t i = 0; i < lines.n; i++)
        daemon_postgrey_option(env, lines.v[i], argv);
    strlist_clear(&lines);
    free(body);
    free(wl);
    return rc;
}

/* spawn(8) for policyd-spf: a listener whose every connection gets its
 * own process on stdin and stdout. Runs in the child, never returns. */
static _Noreturn void daemon_spawn_loop(int lfd, char *const *cmd)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT; /* no zombies */
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            _exit(1);
        }
        if (fork() == 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            close(fd);
            close(lfd);
            execv(cmd[0], cmd);
            _exit(127);
        }
        close(fd);
    }
}

/* policyd-spf's argv, for daemon_spawn_loop (its first word "spawn:"
 * tells daemon_exec to serve it that way). */
static int daemon_spf(struct sut_env *env, struct daemon *d,
                      struct strlist *argv)
{
    char *body = daemon_body(env, d->b), *conf, *resolv;
    char *ns = xasprintf("nameserver %s\n", env->dns_ip);
    int rc = daemon_write(env, d, "policyd-spf.conf", body, &conf);

    if (rc == 0 && env->dns_port != 53)
        rc = sut_fail(env, d->b->line,
                      "[daemon policyd-spf]: the lab's DNS is not on port "
                      "53");
    if (rc == 0)
        rc = daemon_write(env, d, "resolv.conf", ns, &resolv);
    else
        resolv = NULL;
    strlist_push(argv, "spawn:");
    strlist_push(argv, resolv ? resolv : "");
    strlist_push(argv, "/usr/bin/policyd-spf");
    strlist_push(argv, conf);
    free(body);
    free(ns);
    free(conf);
    free(resolv);
    return rc;
}

/* opendkim in the foreground with the scenario's opendkim.conf lines;
 * the harness adds its Socket, PidFile, the lab's DNS (Nameservers) and
 * RequireSafeKeys no (the [file] key is the scenario's, mode 0644). */
static int daemon_opendkim(struct sut_env *env, struct daemon *d,
                           struct strlist *argv)
{
    char *body = daemon_body(env, d->b), *conf;
    int rc;

    conf =
        xasprintf("# generated by mxlab for %s:%d\n%s\n"
                  "Socket inet:%d@127.0.0.1\nPidFile %s/opendkim.pid\n"
                  "Nameservers %s\nRequireSafeKeys no\nSyslog no\n"
                  "Background no\n",
                  env->s->path, d->b->line, body, d->port, d->dir, env->dns_ip);
    free(body);
    rc = daemon_conf_argv(env, d, "opendkim.conf", conf, argv,
                          "/usr/sbin/opendkim -f -x");
    free(conf);
    return rc;
}

/* In the child: the private resolv.conf (spawn: only), then the
 * program. Never returns. */
static _Noreturn void daemon_child(struct daemon *d, char **argv, int log)
{
    setpgid(0, 0);
    dup2(log, 1);
    dup2(log, 2);
    if (strcmp(argv[0], "spawn:") != 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    struct sockaddr_in sin;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)d->port);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(argv[1], "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0 ||
        bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(lfd, 16) < 0) {
        perror("mxlab daemon spawn");
        _exit(1);
    }
    daemon_spawn_loop(lfd, argv + 2);
}

/* 1 if 127.0.0.1:port accepts a connection (a blocking connect on
 * loopback answers at once). */
static int daemon_listening(int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)port);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Start d and wait (bounded) until its port accepts. */
static int daemon_exec(struct sut_env *env, struct daemon *d,
                       struct strlist *argv)
{
    char *logpath = xasprintf("%s/daemon.log", d->dir);
    int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    char **v = xcalloc(argv->n + 1, sizeof(*v));

    free(logpath);
    for (size_t i = 0; i < argv->n; i++)
        v[i] = argv->v[i];
    d->pid = log < 0 ? -1 : fork();
    if (d->pid == 0)
        daemon_child(d, v, log);
    free(v);
    if (log >= 0)
        close(log);
    if (d->pid < 0)
        return sut_fail(env, d->b->line, "[daemon %s]: cannot start: %s",
                        d->b->arg, strerror(errno));
    d->pgid = d->pid;
    for (long waited = 0; waited < DAEMON_WAIT_MS; waited += 20) {
        struct timespec ts = {0, 20 * 1000000L};
        int status;
        if (daemon_listening(d->port))
            return 0;
        nanosleep(&ts, NULL);
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = -1;
            return sut_fail(env, d->b->line,
                            "[daemon %s]: exited at start (see %s/daemon.log)",
                            d->b->arg, d->dir);
        }
    }
    return sut_fail(env, d->b->line, "[daemon %s]: not listening after %ds",
                    d->b->arg, DAEMON_WAIT_MS / 1000);
}

struct daemons *daemons_start(struct sut_env *env)
{
    struct daemons *ds = xcalloc(1, sizeof(*ds));

    for (size_t i = 0; i < env->s->nblocks; i++) {
        const struct scn_block *b = &env->s->blocks[i];
        const struct daemon_kind *k;
        struct strlist argv;
        if (b->kind != SCN_DAEMON || (k = daemon_kind(b->arg)) == NULL)
            continue;
        ds->v = xrealloc(ds->v, (ds->n + 1) * sizeof(*ds->v));
        struct daemon *d = &ds->v[ds->n++];
        memset(d, 0, sizeof(*d));
        d->b = b;
        d->pid = -1;
        d->port = labconf_free_port(SOCK_STREAM);
        d->dir = xasprintf("%s/daemon-%d-%s", env->workdir, b->line, b->arg);
        d->endpoint = xasprintf("inet:127.0.0.1:%d", d->port);
        ds->realtime |= k->realtime;
        strlist_init(&argv);
        int rc = fs_mkdir_p(d->dir, 0755) < 0
                     ? sut_fail(env, b->line, "%s: %s", d->dir, strerror(errno))
                     : k->argv(env, d, &argv);
        if (rc == 0)
            rc = daemon_exec(env, d, &argv);
        strlist_clear(&argv);
        if (rc < 0) {
            daemons_stop(ds);
            return NULL;
        }
    }
    return ds;
}

void daemons_stop(struct daemons *ds)
{
    if (ds == NULL)
        return;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->v[i].pid > 0)
            kill(-ds->v[i].pid, SIGTERM);
    for (size_t i = 0; i < ds->n; i++) {
        struct daemon *d = &ds->v[i];
        for (int k = 0; d->pid > 0 && k < 250; k++) {
            struct timespec ts = {0, 20 * 1000000L};
            if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
                d->pid = -1;
            else
                nanosleep(&ts, NULL);
        }
        if (d->pid > 0) {
            kill(-d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
        }
        /* What the group left (spawned policyd-spf processes). */
        if (d->pgid > 0)
            kill(-d->pgid, SIGKILL);
        if (d->rundir != NULL)
            fs_rm_rf(d->rundir);
        free(d->rundir);
        free(d->dir);
        free(d->endpoint);
    }
    free(ds->v);
    free(ds);
}

char *daemons_rewrite(const struct daemons *ds, const char *text)
{
    char *out = xstrdup(text ? text : "");

    for (size_t i = 0; ds != NULL && i < ds->n; i++) {
        char *next = daemon_replace(out, ds->v[i].b->to, ds->v[i].endpoint);
        free(out);
        out = next;
    }
    return out;
}

int daemons_realtime(const struct daemons *ds)
{
    return ds != NULL && ds->realtime;
}
