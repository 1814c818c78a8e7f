/*
 * sut_postfix.c — a private Postfix as the system under test: its own
 * config directory (written by the lab), queue, ports and log, run as
 * "postfix -c DIR start-fg" inside a private mount namespace whose
 * /etc/resolv.conf points at the scenario's fakedns. The host's own files
 * are never touched. Needs root. See docs/postfix-oracle.md.
 * master.cf comes from Postfix's master.cf.proto with chroot off and the
 * public "smtp inet" service replaced by 127.0.0.1:<port>. Commands run
 * with "-c DIR", so no Postfix command ever reads /etc/postfix. Its clock
 * cannot be moved: [time passes] divides its timers instead (labconf.c).
 */
#include <grp.h>
#include <sys/socket.h>

#include "command.h"
#include "daemon.h"
#include "labconf.h"
#include "sut.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"

#define PFSUT_PROTO "/etc/postfix/master.cf.proto"
#define PFSUT_START_MS 20000
#define PFSUT_LOG_LINES 8 /* of its log, in a start failure */

struct pfsut {
    char *confdir;
    pid_t pid; /* unshare ... postfix start-fg */
};

static void pfsut_stop(struct pfsut *p);

static int pfsut_available(char *err, size_t errlen)
{
    if (geteuid() != 0) {
        snprintf(err, errlen,
                 "--sut postfix needs root (a private mount "
                 "namespace for its resolv.conf)");
        return 0;
    }
    if (access("/usr/sbin/postfix", X_OK) < 0 ||
        access(PFSUT_PROTO, R_OK) < 0) {
        snprintf(err, errlen,
                 "--sut postfix needs Debian's postfix package "
                 "(ci/bootstrap installs it)");
        return 0;
    }
    return 1;
}

static int pfsut_write_master(const char *confdir, const char *ip, int port,
                              const char *extra, char *err, size_t errlen)
{
    char *proto = NULL, *path = xasprintf("%s/master.cf", confdir);
    struct strbuf out;
    int rc = -1;

    strbuf_init(&out);
    if (fs_read_file(PFSUT_PROTO, &proto, NULL) < 0) {
        snprintf(err, errlen, "%s: %s", PFSUT_PROTO, strerror(errno));
        goto done;
    }
    for (char *line = proto; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        struct strlist f;
        strlist_init(&f);
        strlist_split(&f, line);
        if (line[0] != '#' && !str_isspace((unsigned char)line[0]) &&
            f.n >= 8) {
            if (strcmp(f.v[0], "smtp") == 0 && strcmp(f.v[1], "inet") == 0) {
                strlist_clear(&f);
                line = nl ? nl + 1 : NULL;
                continue; /* the public port 25 service: ours instead */
            }
            /* Column 5 (chroot) off: the queue is not set up for it. */
            strbuf_printf(&out, "%s %s %s %s n", f.v[0], f.v[1], f.v[2],
                          f.v[3]);
            for (size_t i = 5; i < f.n; i++)
                strbuf_printf(&out, " %s", f.v[i]);
            strbuf_putc(&out, '\n');
        } else {
            strbuf_puts(&out, line);
            strbuf_putc(&out, '\n');
        }
        strlist_clear(&f);
        line = nl ? nl + 1 : NULL;
    }
    strbuf_printf(&out, "%s:%d inet n - n - - smtpd\n%s", ip, port,
                  extra ? extra : "");
    if (fs_write_atomic(path, out.buf, out.len) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    strbuf_clear(&out);
    free(proto);
    free(path);
    return rc;
}

/* postmap/postalias for every map file of the scenario. -1 with err. */
static int pfsut_build_maps(const char *confdir, const char *const *maps,
                            size_t nmaps, char *err, size_t errlen)
{
    for (size_t i = 0; i < nmaps; i++) {
        char *file = xasprintf("%s/%s", confdir, maps[i]);
        /* aliases(5) files are built by postalias, the rest by postmap. */
        int alias = strcmp(maps[i], "aliases") == 0;
        char *argv[] = {alias ? "/usr/sbin/postalias" : "/usr/sbin/postmap",
                        "-c", (char *)confdir, file, NULL};
        struct strbuf e;
        strbuf_init(&e);
        int rc = command_run(argv, NULL, &e);
        free(file);
        if (rc != 0)
            snprintf(err, errlen, "%s %s: %s", argv[0], maps[i],
                     e.buf ? e.buf : "failed");
        strbuf_clear(&e);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The last lines of a file, joined by " | " (a result message is one
 * line). */
static void pfsut_tail(const char *path, struct strbuf *out)
{
    char *text = NULL;
    struct strlist lines;

    strlist_init(&lines);
    if (fs_read_file(path, &text, NULL) == 0)
        for (char *l = text; l && *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = '\0';
            if (*str_trim(l) != '\0')
                strlist_push(&lines, str_trim(l));
            l = nl ? nl + 1 : NULL;
        }
    for (size_t i = lines.n > PFSUT_LOG_LINES ? lines.n - PFSUT_LOG_LINES : 0;
         i < lines.n; i++)
        strbuf_printf(out, "%s%s", out->len ? " | " : "", lines.v[i]);
    strlist_clear(&lines);
    free(text);
}

/* Why Postfix did not start: what it wrote on stderr and in its log. */
static void pfsut_why(const char *workdir, const char *what, char *err,
                      size_t errlen)
{
    char *path = xasprintf("%s/postfix.stderr", workdir);
    struct strbuf sb;

    strbuf_init(&sb);
    pfsut_tail(path, &sb);
    free(path);
    path = xasprintf("%s/maillog", workdir);
    pfsut_tail(path, &sb);
    free(path);
    snprintf(err, errlen, "%s; it logged: %s", what,
             sb.len ? sb.buf : "nothing (see postfix.stderr and maillog)");
    strbuf_clear(&sb);
}

/* "postfix start-fg" in its own mount namespace, with its own resolver
 * and its own users (the lab's passwd file: the host's plus the
 * scenario's). Its output goes to WORKDIR/postfix.stderr. */
static pid_t pfsut_spawn(const char *confdir, const char *workdir)
{
    char *log = xasprintf("%s/postfix.stderr", workdir);
    char *script = xasprintf("mount --bind '%s/resolv.conf' /etc/resolv.conf "
                             "&& mount --bind '%s/passwd' /etc/passwd && exec "
                             "/usr/sbin/postfix -c '%s' start-fg",
                             workdir, confdir, confdir);
    pid_t pid = fork();

    if (pid == 0) {
        /* If the worker dies, so does this Postfix. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/bin/unshare", "unshare", "-m", "/bin/sh", "-c", script,
              (char *)NULL);
        _exit(127);
    }
    free(log);
    free(script);
    return pid;
}

/* Ready when it answers on its port: a bounded wait on that. 0, or -1
 * with err (and p->pid -1 if it ended). */
static int pfsut_wait_ready(struct pfsut *p, const char *workdir,
                            const char *ip, int port, char *err, size_t errlen)
{
    struct netaddr sut;

    netaddr_parse(ip, port, &sut);
    for (long long end = clock_mono_ms() + PFSUT_START_MS;
         clock_mono_ms() < end;) {
        int status, fd = netaddr_connect_tcp(&sut, NULL);
        if (fd >= 0) {
            struct pollfd pf = {fd, POLLOUT, 0};
            int so = 0;
            socklen_t sl = sizeof(so);
            int up = poll(&pf, 1, 200) == 1 &&
                     getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 &&
                     so == 0;
            close(fd);
            if (up)
                return 0;
        }
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = -1;
            pfsut_why(workdir, "postfix did not start", err, errlen);
            return -1;
        }
        struct pollfd none = {-1, 0, 0};
        poll(&none, 0, 50); /* between two bounded connection attempts */
    }
    char what[128];
    snprintf(what, sizeof(what), "postfix did not answer on %s:%d", ip, port);
    pfsut_why(workdir, what, err, errlen);
    return -1;
}

/* Write master.cf (extra: the scenario's own lines, appended), build the
 * maps with postmap, start Postfix and wait (bounded) until it answers on
 * listen_ip:smtp_port. NULL with err. */
static struct pfsut *pfsut_start(const struct sut_env *env,
                                 const char *const *maps, size_t nmaps,
                                 char *err, size_t errlen)
{
    const char *confdir = env->confdir, *workdir = env->workdir;
    const char *dns_ip = env->dns_ip, *extra = env->master_extra;
    int smtp_port = env->smtp_port;
    struct pfsut *p = xcalloc(1, sizeof(*p));
    char *resolv = xasprintf("%s/resolv.conf", workdir);
    char *data = xasprintf("%s/data", workdir);
    char *text =
        xasprintf("nameserver %s\noptions attempts:2 timeout:1\n", dns_ip);
    struct passwd *pw = getpwnam("postfix");
    int ok = 0;

    p->confdir = xstrdup(confdir);
    p->pid = -1;
    /* Postfix's unprivileged processes walk these directories. */
    chmod(workdir, 0755);
    chmod(confdir, 0755);
    fs_mkdir_p(data, 0755);
    /* postfix start makes the queue's subdirectories; the lab made
     * queue_directory itself. */
    if (pw != NULL && chown(data, pw->pw_uid, pw->pw_gid) < 0) {
        snprintf(err, errlen, "chown %s: %s", data, strerror(errno));
        goto done;
    }
    if (fs_write_atomic(resolv, text, strlen(text)) < 0 ||
        pfsut_write_master(confdir, env->listen_ip, smtp_port, extra, err,
                           errlen) < 0 ||
        pfsut_build_maps(confdir, maps, nmaps, err, errlen) < 0)
        goto done;
    chmod(resolv, 0644);
    p->pid = pfsut_spawn(confdir, workdir);
    if (p->pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    ok = pfsut_wait_ready(p, workdir, env->listen_ip, smtp_port, err, errlen) ==
         0;
done:
    free(resolv);
    free(data);
    free(text);
    if (!ok) {
        pfsut_stop(p);
        return NULL;
    }
    return p;
}

static void pfsut_stop(struct pfsut *p)
{
    if (p == NULL)
        return;
    if (p->pid > 0) {
        char *argv[] = {"/usr/sbin/postfix", "-c", p->confdir, "stop", NULL};
        int status;
        command_run(argv, NULL, NULL);
        for (long long end = clock_mono_ms() + 10000; clock_mono_ms() < end;) {
            if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                p->pid = -1;
                break;
            }
            struct pollfd none = {-1, 0, 0};
            poll(&none, 0, 20);
        }
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
        }
    }
    free(p->confdir);
    free(p);
}

/* postmap/postalias's table argument: a name without '/' ("transport",
 * "hash:virtual") is the configuration directory's file, as the documents'
 * "cd /etc/postfix && postmap transport" means it. Caller frees. */
static char *pfsut_table_path(const char *confdir, const char *arg)
{
    const char *colon = strchr(arg, ':');
    const char *file = colon ? colon + 1 : arg;

    if (arg[0] == '-' || strchr(file, '/') != NULL)
        return xstrdup(arg);
    return xasprintf("%.*s%s/%s", (int)(file - arg), arg, confdir, file);
}

/* Postfix's own command /usr/sbin/PROG -c CONFDIR ARGS..., on this
 * instance's configuration. */
static int pfsut_run(struct pfsut *p, const char *prog, const struct strlist *w,
                     size_t first, struct strbuf *out, struct strbuf *err)
{
    char *argv[12];
    char *cmd = xasprintf("/usr/sbin/%s", prog);
    int table = strcmp(prog, "postmap") == 0 || strcmp(prog, "postalias") == 0;
    size_t n = 0;
    int rc;

    argv[n++] = cmd;
    argv[n++] = "-c";
    argv[n++] = p->confdir;
    for (size_t i = first; i < w->n && n < 11; i++)
        argv[n++] = table && i + 1 == w->n
                        ? pfsut_table_path(p->confdir, w->v[i])
                        : w->v[i];
    argv[n] = NULL;
    rc = command_run(argv, out, err);
    if (table && w->n > first)
        free(argv[n - 1]);
    free(cmd);
    return rc;
}

static int pfsut_admin(struct pfsut *p, const char *cmdline, struct strbuf *out,
                       struct strbuf *err)
{
    static const char *const progs[] = {"postqueue", "postsuper", "postcat",
                                        "postconf",  "postmap",   "postalias"};
    struct strlist w, alias;
    int rc = 64;

    strlist_init(&w);
    strlist_init(&alias);
    strlist_split(&w, cmdline);
    if (w.n == 1 && strcmp(w.v[0], "mailq") == 0) {
        strlist_push(&alias, "-p");
        rc = pfsut_run(p, "postqueue", &alias, 0, out, err);
    } else if (w.n == 2 && strcmp(w.v[0], "postfix") == 0 &&
               strcmp(w.v[1], "reload") == 0) {
        rc = pfsut_run(p, "postfix", &w, 1, out, err);
    } else if (w.n == 1 && strcmp(w.v[0], "newaliases") == 0) {
        /* sendmail -bi: postalias on every alias_database table. */
        char *argv[] = {"/usr/sbin/sendmail", "-C", p->confdir, "-bi", NULL};
        rc = command_run(argv, out, err);
    } else {
        for (size_t i = 0;
             w.n >= 2 && w.n <= 5 && i < sizeof(progs) / sizeof(progs[0]); i++)
            if (strcmp(w.v[0], progs[i]) == 0)
                rc = pfsut_run(p, progs[i], &w, 1, out, err);
        if (rc == 64)
            strbuf_printf(err,
                          "%s: not one of mailq, postqueue, postsuper, "
                          "postcat, postconf, postmap, postalias, newaliases, "
                          "postfix reload\n",
                          cmdline);
    }
    strlist_clear(&alias);
    strlist_clear(&w);
    return rc;
}

static int pfsut_queue(struct pfsut *p, size_t *total, size_t *busy)
{
    char *argv[] = {"/usr/sbin/postqueue", "-c", p->confdir, "-j", NULL};
    struct strbuf out;
    int rc;

    strbuf_init(&out);
    rc = command_run(argv, &out, NULL);
    *total = *busy = 0;
    for (char *l = out.buf; rc == 0 && l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (*l == '{') {
            (*total)++;
            if (strstr(l, "\"queue_name\": \"deferred\"") == NULL &&
                strstr(l, "\"queue_name\": \"hold\"") == NULL)
                (*busy)++;
        }
        l = nl ? nl + 1 : NULL;
    }
    strbuf_clear(&out);
    return rc == 0 ? 0 : -1;
}

/* Read "queue_directory = X" from a generated main.cf. */
static char *pfsut_queue_dir(const char *confdir)
{
    char *path = xasprintf("%s/main.cf", confdir), *text = NULL, *q = NULL;

    if (fs_read_file(path, &text, NULL) == 0) {
        for (char *line = text; line && *line && q == NULL;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (strncmp(line, "queue_directory = ", 18) == 0)
                q = xstrdup(line + 18);
            line = nl ? nl + 1 : NULL;
        }
    }
    free(text);
    free(path);
    return q;
}

static void pfsut_reap_one(const char *workdir)
{
    char *confdir = xasprintf("%s/config", workdir);
    char *q = pfsut_queue_dir(confdir);
    char *pidfile, *text = NULL, *cwd, link[PATH_MAX];
    long pid;

    free(confdir);
    /* Only our own private queues: a mkdtemp directory under /tmp. */
    if (q == NULL || strncmp(q, "/tmp/mxlab-pf.", 14) != 0) {
        free(q);
        return;
    }
    pidfile = xasprintf("%s/pid/master.pid", q);
    if (fs_read_file(pidfile, &text, NULL) == 0 &&
        str_to_long(str_trim(text), &pid) == 0 && pid > 1) {
        /* The pid is that master only if it still works in this queue. */
        cwd = xasprintf("/proc/%ld/cwd", pid);
        ssize_t n = readlink(cwd, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            if (strcmp(link, q) == 0) {
                kill((pid_t)pid, SIGTERM);
                for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) {
                    struct pollfd none = {-1, 0, 0};
                    poll(&none, 0, 20);
                }
                kill((pid_t)pid, SIGKILL);
            }
        }
        free(cwd);
    }
    free(text);
    free(pidfile);
    fs_rm_rf(q);
    free(q);
}

/* The SUT's Postfix, and those of its [system]s (workdir/NAME). */
static void pfsut_reap_orphan(const char *workdir)
{
    DIR *d = opendir(workdir);
    struct dirent *e;

    pfsut_reap_one(workdir);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *sub = xasprintf("%s/%s", workdir, e->d_name);
        char *maincf = xasprintf("%s/config/main.cf", sub);
        if (e->d_name[0] != '.' && strcmp(e->d_name, "config") != 0 &&
            access(maincf, R_OK) == 0)
            pfsut_reap_one(sub);
        free(maincf);
        free(sub);
    }
    if (d != NULL)
        closedir(d);
}

/* 1 if the user pw may enter the directory st (search permission, by
 * owner, group or others, as the kernel decides for a non-root user). */
static int pfsut_may_enter(const struct passwd *pw, const struct stat *st)
{
    gid_t groups[64];
    int ngroups = 64;

    if (st->st_uid == pw->pw_uid)
        return (st->st_mode & S_IXUSR) != 0;
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) < 0)
        ngroups = 0;
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == st->st_gid)
            return (st->st_mode & S_IXGRP) != 0;
    return (st->st_mode & S_IXOTH) != 0;
}

/* Postfix's processes run as its mail_owner ("postfix") and read the
 * configuration and write data under the work directory: every directory
 * above it must let that user in. 0, or -1 naming the first that does
 * not (a mktemp -d directory, mode 700, is the usual one). */
static int pfsut_check_dir(const char *workdir, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam("postfix");
    char *path = xstrdup(workdir);
    int rc = 0;

    if (pw == NULL) {
        free(path);
        return 0; /* pfsut_available says what is missing */
    }
    for (char *slash = path; rc == 0 && slash != NULL;) {
        struct stat st;
        slash = strchr(slash + 1, '/');
        if (slash != NULL)
            *slash = '\0';
        if (stat(path[0] ? path : "/", &st) == 0 && S_ISDIR(st.st_mode) &&
            !pfsut_may_enter(pw, &st)) {
            snprintf(err, errlen,
                     "%s: Postfix's mail_owner (%s) cannot enter it (mode "
                     "%03o, owner uid %ld): its processes read the "
                     "configuration and write data below it; use a report "
                     "directory it can reach, or chmod o+x %s",
                     path, pw->pw_name, (unsigned)(st.st_mode & 07777),
                     (long)st.st_uid, path);
            rc = -1;
        }
        if (slash != NULL)
            *slash = '/';
    }
    free(path);
    return rc;
}

static int sut_postfix_usable(const char *workdir, char *err, size_t errlen)
{
    if (!pfsut_available(err, errlen))
        return 0;
    return workdir == NULL || pfsut_check_dir(workdir, err, errlen) == 0;
}

static int sut_postfix_prepare(struct sut_env *env)
{
    /* The libc resolver asks port 53 only: one 127.53.x.y address per
     * worker keeps parallel scenarios apart. */
    unsigned pid = (unsigned)getpid();
    /* Postfix's commands reach $queue_directory/public/postlog by
     * absolute path, within sun_path's 108 bytes: a short private
     * directory, removed after the run. */
    char tmpl[] = "/tmp/mxlab-pf.XXXXXX", why[512];

    if (pfsut_check_dir(env->workdir, why, sizeof(why)) < 0)
        return sut_fail(env, 1, "%s", why);
    env->smtp_port = labconf_free_port(SOCK_STREAM);
    env->mx_port = labconf_free_port(SOCK_STREAM);
    snprintf(env->dns_ip, sizeof(env->dns_ip), "127.53.%u.%u", (pid >> 8) & 255,
             pid & 255);
    env->dns_port = 53;
    if (mkdtemp(tmpl) == NULL)
        return sut_fail(env, 1, "mkdtemp: %s", strerror(errno));
    chmod(tmpl, 0755);
    env->queuedir = xstrdup(tmpl);
    return 0;
}

static int sut_postfix_maincf(struct sut_env *env, struct strbuf *sb)
{
    /* Loopback only, its log where we read it; DNS comes from the
     * private resolv.conf. A [system]'s own address is in master.cf only:
     * Postfix wants inet_interfaces on an interface, and lo has just
     * 127.0.0.1 (the rest of 127/8 is routed to it). */
    strbuf_printf(sb,
                  "maillog_file_prefixes = %s\n"
                  "inet_interfaces = 127.0.0.1\n"
                  "inet_protocols = ipv4\n",
                  env->workdir);
    return labconf_compress_timers(env, sb);
}

static int sut_postfix_start(struct sut_env *env)
{
    const struct scenario *s = env->s;
    const char **maps = xcalloc(s->nblocks + 2, sizeof(*maps));
    size_t nmaps = 0;
    int have_aliases = 0;
    char err[1500];

    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].kind == SCN_FILE &&
            strcmp(s->blocks[i].arg, "passwd") != 0 &&
            !daemon_owns_file(s, s->blocks[i].arg)) {
            maps[nmaps++] = s->blocks[i].arg;
            have_aliases |= strcmp(s->blocks[i].arg, "aliases") == 0;
        }
    if (!have_aliases)
        maps[nmaps++] = "aliases";
    env->priv = pfsut_start(env, maps, nmaps, err, sizeof(err));
    free(maps);
    if (env->priv == NULL)
        return sut_fail(env, env->maincf ? env->maincf->line : 1, "%s", err);
    return 0;
}

static void sut_postfix_stop(struct sut_env *env)
{
    pfsut_stop(env->priv);
    env->priv = NULL;
    if (env->queuedir != NULL &&
        strncmp(env->queuedir, "/tmp/mxlab-pf.", strlen("/tmp/mxlab-pf.")) == 0)
        fs_rm_rf(env->queuedir);
}

static int sut_postfix_admin(struct sut_env *env, const char *cmdline,
                             struct strbuf *out, struct strbuf *err)
{
    return pfsut_admin(env->priv, cmdline, out, err);
}

static int sut_postfix_queue(struct sut_env *env, size_t *total, size_t *busy)
{
    return pfsut_queue(env->priv, total, busy);
}

static int sut_postfix_idle(struct sut_env *env)
{
    size_t total, busy;

    return pfsut_queue(env->priv, &total, &busy) == 0 && busy == 0;
}

const struct sut_ops sut_postfix_ops = {
    .name = "postfix",
    .caps = LAB_CAP_CONFIG | LAB_CAP_CLOCK | LAB_CAP_DELIVERIES | LAB_CAP_ADMIN,
    .usable = sut_postfix_usable,
    .reap = pfsut_reap_orphan,
    .prepare = sut_postfix_prepare,
    .maincf = sut_postfix_maincf,
    .start = sut_postfix_start,
    .stop = sut_postfix_stop,
    .admin = sut_postfix_admin,
    .queue = sut_postfix_queue,
    .idle = sut_postfix_idle,
};
