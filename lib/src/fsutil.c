/*
 * fsutil.c — durable file writes and directory helpers. See fsutil.h.
 */
#include "mxlab/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

int fs_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
    char *dcopy = xstrdup(path);
    int fd = -1, rc = -1, saved = 0;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto done;
    if (fs_write_all(fd, data, len) < 0 || fsync(fd) < 0)
        goto done;
    if (close(fd) < 0) {
        fd = -1;
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto done;
    if (fs_fsync_dir(dirname(dcopy)) < 0)
        goto done;
    rc = 0;
done:
    saved = errno;
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    free(dcopy);
    errno = saved;
    return rc;
}

int fs_read_file(const char *path, char **out, size_t *lenp)
{
    struct strbuf sb;
    char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    strbuf_init(&sb);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            close(fd);
            strbuf_clear(&sb);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        strbuf_append(&sb, buf, (size_t)n);
    }
    close(fd);
    if (lenp != NULL)
        *lenp = sb.len;
    *out = strbuf_detach(&sb);
    return 0;
}

int fs_rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *sub = xasprintf("%s/%s", path, de->d_name);
        fs_rm_rf(sub);
        free(sub);
    }
    closedir(d);
    return rmdir(path);
}

static int fs_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_list_dir(const char *dir, struct strlist *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t first = out->n;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            strlist_push(out, de->d_name);
    closedir(d);
    if (out->n - first > 1)
        qsort(out->v + first, out->n - first, sizeof(*out->v), fs_cmp_names);
    return 0;
}
