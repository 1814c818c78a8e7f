/*
 * sut_postfix.c — the private Postfix SUT. See sut_postfix.h.
 * master.cf comes from Postfix's master.cf.proto with chroot off and the
 * public "smtp inet" service replaced by 127.0.0.1:<port>. Commands run
 * with "-c DIR", so no Postfix command ever reads /etc/postfix.
 */
#include "sut_postfix.h"

#include "command.h"

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

struct pfsut {
    char *confdir;
    pid_t pid; /* unshare ... postfix start-fg */
};

int pfsut_available(char *err, size_t errlen)
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

static int pfsut_write_master(const char *confdir, int port, const char *extra,
                              char *err, size_t errlen)
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
    strbuf_printf(&out, "127.0.0.1:%d inet n - n - - smtpd\n%s", port,
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

struct pfsut *pfsut_start(const char *confdir, const char *workdir,
                          const char *dns_ip, int smtp_port, const char *extra,
                          const char *const *maps, size_t nmaps, char *err,
                          size_t errlen)
{
    struct pfsut *p = xcalloc(1, sizeof(*p));
    char *resolv = xasprintf("%s/resolv.conf", workdir);
    char *data = xasprintf("%s/data", workdir);
    char *text =
        xasprintf("nameserver %s\noptions attempts:2 timeout:1\n", dns_ip);
    char *script = NULL, *log = xasprintf("%s/postfix.stderr", workdir);
    struct passwd *pw = getpwnam("postfix");
    struct netaddr sut;
    int ok = 0;

    p->confdir = xstrdup(confdir);
    p->pid = -1;
    /* Postfix's unprivileged processes walk these directories. */
    chmod(workdir, 0755);
    chmod(confdir, 0755);
    fs_mkdir_p(data, 0755);
    /* postfix start makes the queue's subdirectories; the runner made
     * queue_directory itself. */
    if (pw != NULL && chown(data, pw->pw_uid, pw->pw_gid) < 0) {
        snprintf(err, errlen, "chown %s: %s", data, strerror(errno));
        goto done;
    }
    if (fs_write_atomic(resolv, text, strlen(text)) < 0 ||
        pfsut_write_master(confdir, smtp_port, extra, err, errlen) < 0)
        goto done;
    chmod(resolv, 0644);
    for (size_t i = 0; i < nmaps; i++) {
        char *file = xasprintf("%s/%s", confdir, maps[i]);
        /* aliases(5) files are built by postalias, the rest by postmap. */
        int alias = strcmp(maps[i], "aliases") == 0;
        char *argv[] = {alias ? "/usr/sbin/postalias" : "/usr/sbin/postmap",
                        "-c", p->confdir, file, NULL};
        struct strbuf e;
        strbuf_init(&e);
        int rc = command_run(argv, NULL, &e);
        free(file);
        if (rc != 0) {
            snprintf(err, errlen, "%s %s: %s", argv[0], maps[i],
                     e.buf ? e.buf : "failed");
            strbuf_clear(&e);
            goto done;
        }
        strbuf_clear(&e);
    }
    /* Its own resolver and its own users (the runner's passwd file: the
     * host's plus the scenario's), both only inside its namespace. */
    script = xasprintf("mount --bind '%s' /etc/resolv.conf && "
                       "mount --bind '%s/passwd' /etc/passwd && exec "
                       "/usr/sbin/postfix -c '%s' start-fg",
                       resolv, confdir, confdir);
    p->pid = fork();
    if (p->pid == 0) {
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
    if (p->pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    /* Ready when it answers on its port: a bounded wait on that. */
    netaddr_parse("127.0.0.1", smtp_port, &sut);
    for (long long end = clock_mono_ms() + PFSUT_START_MS;
         clock_mono_ms() < end;) {
        int status, fd = netaddr_connect_tcp(&sut, NULL);
        if (fd >= 0) {
            struct pollfd pf = {fd, POLLOUT, 0};
            int so = 0;
            socklen_t sl = sizeof(so);
            if (poll(&pf, 1, 200) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 &&
                so == 0) {
                close(fd);
                ok = 1;
                break;
            }
            close(fd);
        }
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            char *why = NULL;
            fs_read_file(log, &why, NULL);
            snprintf(err, errlen, "postfix did not start: %s",
                     why && *why ? why : "(no message)");
            free(why);
            p->pid = -1;
            goto done;
        }
        struct pollfd none = {-1, 0, 0};
        poll(&none, 0, 50); /* between two bounded connection attempts */
    }
    if (!ok)
        snprintf(err, errlen, "postfix did not answer on 127.0.0.1:%d",
                 smtp_port);
done:
    free(resolv);
    free(data);
    free(text);
    free(script);
    free(log);
    if (!ok) {
        pfsut_stop(p);
        return NULL;
    }
    return p;
}

void pfsut_stop(struct pfsut *p)
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

int pfsut_admin(struct pfsut *p, const char *cmdline, struct strbuf *out,
                struct strbuf *err)
{
    struct strlist w;
    char *argv[8];
    int rc = 64;

    strlist_init(&w);
    strlist_split(&w, cmdline);
    if (w.n == 1 && strcmp(w.v[0], "mailq") == 0) {
        argv[0] = "/usr/sbin/postqueue";
        argv[1] = "-c";
        argv[2] = p->confdir;
        argv[3] = "-p";
        argv[4] = NULL;
        rc = command_run(argv, out, err);
    } else if (w.n >= 2 && w.n <= 5 &&
               (strcmp(w.v[0], "postqueue") == 0 ||
                strcmp(w.v[0], "postsuper") == 0 ||
                strcmp(w.v[0], "postcat") == 0 ||
                strcmp(w.v[0], "postconf") == 0 ||
                strcmp(w.v[0], "postmap") == 0 ||
                strcmp(w.v[0], "postalias") == 0)) {
        /* Postfix's own command, on this instance's configuration. */
        char *cmd = xasprintf("/usr/sbin/%s", w.v[0]);
        argv[0] = cmd;
        argv[1] = "-c";
        argv[2] = p->confdir;
        for (size_t i = 1; i < w.n; i++)
            argv[2 + i] = w.v[i];
        argv[2 + w.n] = NULL;
        rc = command_run(argv, out, err);
        free(cmd);
    } else {
        strbuf_printf(err,
                      "%s: not one of mailq, postqueue, postsuper, postcat, "
                      "postconf, postmap, postalias\n",
                      cmdline);
    }
    strlist_clear(&w);
    return rc;
}

int pfsut_queue(struct pfsut *p, size_t *total, size_t *busy)
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

void pfsut_reap_orphan(const char *workdir)
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
