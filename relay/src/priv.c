/*
 * priv.c — the relay's one privileged act: started as root, once the
 * listeners are bound and the queue, log and control socket are open,
 * it becomes mail_owner (Postfix's default "postfix") for good, as
 * Postfix's daemons do (set_ugid(3)): the queue is given to that user
 * first so that it can write there, and sessions never run as root.
 * Like Postfix, an unknown mail_owner, or one with uid 0, is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxlab/config.h"
#include "mxlab/xmem.h"
#include "relay.h"

/* Give path and everything below it to uid:gid (no symlinks followed). */
static int priv_chown_tree(const char *path, uid_t uid, gid_t gid)
{
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (lchown(path, uid, gid) < 0)
        return -1;
    d = opendir(path);
    if (d == NULL)
        return errno == ENOTDIR ? 0 : -1;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        char *sub;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sub = xasprintf("%s/%s", path, de->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            rc = priv_chown_tree(sub, uid, gid);
        else if (lchown(sub, uid, gid) < 0 && errno != ENOENT)
            rc = -1;
        free(sub);
    }
    closedir(d);
    return rc;
}

/* set_ugid(3): groups, gid, then uid, for good; checked. */
static int priv_become(const char *owner, uid_t uid, gid_t gid, char *err,
                       size_t errlen)
{
    if (setgid(gid) < 0 || setgroups(1, &gid) < 0 || setuid(uid) < 0) {
        snprintf(err, errlen, "cannot become mail_owner %s: %s", owner,
                 strerror(errno));
        return -1;
    }
    /* Neither the real nor the saved uid may give root back. */
    if (setuid(0) == 0 || seteuid(0) == 0 || getuid() == 0 || geteuid() == 0) {
        snprintf(err, errlen, "mail_owner %s: root privileges came back",
                 owner);
        return -1;
    }
    return 0;
}

int relay_admin_identity(struct relay *r, char *err, size_t errlen)
{
    const char *owner = config_get(r->cf, "mail_owner");
    struct passwd *pw;
    struct stat st;

    if (geteuid() != 0 || stat(r->p.queue_directory, &st) < 0)
        return 0;
    pw = getpwnam(owner);
    if (pw == NULL || pw->pw_uid == 0 || st.st_uid != pw->pw_uid)
        return 0;
    return priv_become(owner, pw->pw_uid, pw->pw_gid, err, errlen);
}

int relay_drop_privileges(struct relay *r, char *err, size_t errlen)
{
    static const char *dirs[] = {"incoming", "active",  "deferred",
                                 "hold",     "corrupt", "public"};
    const char *owner = config_get(r->cf, "mail_owner");
    char *main_cf = xasprintf("%s/main.cf", r->config_dir);
    struct passwd *pw;
    uid_t uid;
    gid_t gid;
    int rc = -1;

    if (geteuid() != 0) {
        free(main_cf);
        return 0; /* nothing to drop */
    }
    pw = getpwnam(owner);
    if (pw == NULL) {
        snprintf(err, errlen,
                 "file %s: parameter mail_owner: unknown user name value: %s",
                 main_cf, owner);
        goto done;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (uid == 0) {
        snprintf(err, errlen,
                 "file %s: parameter mail_owner: user %s has privileged user "
                 "ID",
                 main_cf, owner);
        goto done;
    }
    /* The queue directory and its queues (the pid/ directory stays
     * root's, as in Postfix). */
    if (chown(r->p.queue_directory, uid, gid) < 0) {
        snprintf(err, errlen, "chown %s: %s", r->p.queue_directory,
                 strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *d = xasprintf("%s/%s", r->p.queue_directory, dirs[i]);
        int bad = priv_chown_tree(d, uid, gid) < 0;
        if (bad)
            snprintf(err, errlen, "chown %s: %s", d, strerror(errno));
        free(d);
        if (bad)
            goto done;
    }
    if (priv_become(owner, uid, gid, err, errlen) < 0)
        goto done;
    if (access(r->p.queue_directory, R_OK | W_OK | X_OK) < 0) {
        snprintf(err, errlen,
                 "queue_directory %s: %s for mail_owner %s (the directories "
                 "above it need mode 755)",
                 r->p.queue_directory, strerror(errno), owner);
        goto done;
    }
    rc = 0;
done:
    free(main_cf);
    return rc;
}
