/*
 * fsutil.h — files and directories with durability: a write is complete
 * only after the file and its directory are fsynced (OpenSMTPD queue_fs).
 * All return 0 on success, -1 with errno set.
 */
#ifndef MXLAB_FSUTIL_H
#define MXLAB_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

int fs_mkdir_p(const char *path, mode_t mode);
int fs_fsync_dir(const char *dir);
/* Write data to path via a temporary name in the same directory, fsync the
 * file, rename, fsync the directory. On failure nothing is left behind. */
int fs_write_atomic(const char *path, const void *data, size_t len);
/* write(2) all of data, again after EINTR and short writes. */
int fs_write_all(int fd, const void *data, size_t len);
/* Read a whole file; caller frees *out (NUL-terminated). */
int fs_read_file(const char *path, char **out, size_t *len);
/* Append the names in dir (not those starting with '.'), sorted, to
 * out. -1 with errno if dir cannot be read. */
struct strlist;
int fs_list_dir(const char *dir, struct strlist *out);
/* Remove a directory tree (used for scratch directories only). */
int fs_rm_rf(const char *path);

#endif
