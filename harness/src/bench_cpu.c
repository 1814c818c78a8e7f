/*
 * bench_cpu.c — SUT CPU time from cgroup v2 or schedstat. See bench_cpu.h.
 * cgroup v2 cpu.stat's usage_usec is kept for the cgroup's life and
 * includes processes that have exited (Documentation/admin-guide/
 * cgroup-v2.rst, "cpu.stat"); schedstat's first field is a thread's time
 * on the CPU in ns (Documentation/scheduler/sched-stats.rst).
 */
#include "bench_cpu.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

/* The first decimal number in file path after prefix (or at its start
 * when prefix is ""), or -1. */
static double bench_cpu_field(const char *path, const char *prefix)
{
    char *text = NULL, *p;
    size_t len;
    double v = -1;

    if (fs_read_file(path, &text, &len) < 0)
        return -1;
    p = prefix[0] ? strstr(text, prefix) : text;
    if (p && (p == text || p[-1] == '\n' || !prefix[0])) {
        p += strlen(prefix);
        if (str_isdigit((unsigned char)*p))
            v = strtod(p, NULL);
    }
    free(text);
    return v;
}

static double bench_cpu_pid(pid_t pid)
{
    char dir[64], path[384];
    struct dirent *de;
    double sum = 0, v;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
    if ((d = opendir(dir)) == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/schedstat", dir, de->d_name);
        if ((v = bench_cpu_field(path, "")) >= 0)
            sum += v;
    }
    closedir(d);
    return sum;
}

double bench_cpu_read(const struct bench_cpu *cpu)
{
    double sum = 0, v;
    char *path;

    if (cpu->cgroup) {
        path = xasprintf("%s/cpu.stat", cpu->cgroup);
        v = bench_cpu_field(path, "usage_usec ");
        free(path);
        return v < 0 ? -1 : v * 1e3;
    }
    if (cpu->npids == 0)
        return -1;
    for (size_t i = 0; i < cpu->npids; i++) {
        if ((v = bench_cpu_pid(cpu->pids[i])) < 0)
            return -1;
        sum += v;
    }
    return sum;
}

const char *bench_cpu_source(const struct bench_cpu *cpu)
{
    return cpu->cgroup ? "cgroup" : "schedstat";
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup itself, or its "unified"
 * directory on a hybrid (v1 and v2) system. */
static const char *bench_cgroup_root(void)
{
    static const char *const roots[] = {"/sys/fs/cgroup/unified",
                                        "/sys/fs/cgroup"};
    struct stat st;
    char path[96];

    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        snprintf(path, sizeof(path), "%s/cgroup.procs", roots[i]);
        if (stat(path, &st) == 0) {
            snprintf(path, sizeof(path), "%s/cpu.stat", roots[i]);
            if (stat(path, &st) == 0 || i == 0)
                return roots[i];
        }
    }
    return NULL;
}

char *bench_cgroup_new(const char *name, char *err, size_t errlen)
{
    const char *root = bench_cgroup_root();
    char *path;

    if (root == NULL) {
        snprintf(err, errlen, "no cgroup v2 hierarchy under /sys/fs/cgroup");
        return NULL;
    }
    path = xasprintf("%s/%s-%d", root, name, (int)getpid());
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    return path;
}

int bench_cgroup_add(const char *cgroup, pid_t pid)
{
    char *path = xasprintf("%s/cgroup.procs", cgroup);
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid), rc;
    FILE *fp = fopen(path, "w");

    free(path);
    if (fp == NULL)
        return -1;
    rc = fwrite(buf, 1, (size_t)n, fp) == (size_t)n ? 0 : -1;
    return fclose(fp) == 0 ? rc : -1;
}

void bench_cgroup_remove(const char *cgroup)
{
    char *procs = xasprintf("%s/cgroup.procs", cgroup), *text = NULL;
    char *parent = xstrdup(cgroup), *slash = strrchr(parent, '/'), *p, *end;
    size_t len;

    if (slash)
        *slash = '\0';
    if (fs_read_file(procs, &text, &len) == 0) {
        for (p = text; *p; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0)
                bench_cgroup_add(parent, (pid_t)pid);
        }
    }
    rmdir(cgroup);
    free(text);
    free(procs);
    free(parent);
}

char *bench_cgroup_enter(const char *cgroup)
{
    const char *root = bench_cgroup_root();
    char *text = NULL, *line, *back = NULL;
    size_t len;

    if (root == NULL || fs_read_file("/proc/self/cgroup", &text, &len) < 0)
        return NULL;
    /* cgroup v2's line is "0::PATH" (cgroups(7)). */
    for (line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, "0::", 3) == 0) {
            size_t n = strcspn(line + 3, "\n");
            back = xasprintf("%s%.*s", root, (int)n, line + 3);
            break;
        }
    }
    free(text);
    if (back && bench_cgroup_add(cgroup, getpid()) < 0) {
        free(back);
        back = NULL;
    }
    return back;
}
