/*
 * daemon.c — what Postfix's master(8) and postfix-script do for the
 * relay's life cycle: queue_directory/pid/master.pid, written and locked
 * (flock) while the relay runs, so that "mxlab-relay -c DIR start|stop|
 * reload|status" find it, and a stale file from a crash is no obstacle
 * (the kernel drops the lock with the process).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "mxlab/config.h"
#include "mxlab/fsutil.h"
#include "mxlab/xmem.h"
#include "relay.h"

#define DAEMON_LOCK_TRIES 20 /* x 50 ms: a probe may hold it briefly */

static char *daemon_pid_path(const struct relay *r)
{
    return xasprintf("%s/pid/master.pid", r->p.queue_directory);
}

int relay_pid_lock(struct relay *r, char *err, size_t errlen)
{
    char *dir = xasprintf("%s/pid", r->p.queue_directory);
    char *path = daemon_pid_path(r);
    char line[64];
    int fd = -1, rc = -1;

    if (fs_mkdir_p(dir, 0755) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto done;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "open lock file %s: %s", path, strerror(errno));
        goto done;
    }
    for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
        if (errno != EWOULDBLOCK || i >= DAEMON_LOCK_TRIES) {
            if (errno == EWOULDBLOCK)
                rc = 1; /* another relay runs on this queue */
            else
                snprintf(err, errlen, "lock %s: %s", path, strerror(errno));
            goto done;
        }
        poll(NULL, 0, 50);
    }
    /* As Postfix's master writes it: the pid right-aligned in 32. */
    snprintf(line, sizeof(line), "%*ld\n", 32, (long)getpid());
    if (ftruncate(fd, 0) < 0 || fs_write_all(fd, line, strlen(line)) < 0) {
        snprintf(err, errlen, "cannot update lock file %s: %s", path,
                 strerror(errno));
        goto done;
    }
    if (r->pid_fd >= 0)
        close(r->pid_fd);
    r->pid_fd = fd;
    fd = -1;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    free(dir);
    free(path);
    return rc;
}

long relay_pid_running(struct relay *r)
{
    char *path = daemon_pid_path(r), *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long pid = 0;

    if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
        /* Locked: a relay runs. Its pid, or 1 if the file is unreadable. */
        pid = 1;
        if (fs_read_file(path, &text, NULL) == 0 &&
            (str_to_long(str_trim(text), &pid) < 0 || pid < 1))
            pid = 1;
    }
    if (fd >= 0)
        close(fd); /* and with it our probe's lock, if we got it */
    free(text);
    free(path);
    return pid;
}

const char *relay_param(struct relay *r, const char *name)
{
    return config_get(r->cf, name);
}
