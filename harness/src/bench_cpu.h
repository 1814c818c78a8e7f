/*
 * bench_cpu.h — CPU time used by the system under test, for "CPU per
 * message": from a cgroup v2 cpu.stat (every process in it, so Postfix's
 * many short-lived ones count too), or from /proc/PID/task/N/schedstat
 * for named processes (all their threads; their children are not
 * counted: use a cgroup for those).
 */
#ifndef HARNESS_BENCH_CPU_H
#define HARNESS_BENCH_CPU_H

#include <stddef.h>
#include <sys/types.h>

#define BENCH_CPU_PIDS_MAX 16

struct bench_cpu {
    pid_t pids[BENCH_CPU_PIDS_MAX];
    size_t npids;
    char *cgroup; /* a cgroup v2 directory, owned */
};

/* CPU nanoseconds used so far by what cpu names; -1 if it names nothing
 * or cannot be read. */
double bench_cpu_read(const struct bench_cpu *cpu);
/* "cgroup" or "schedstat" (for bench.json's cpu_source). */
const char *bench_cpu_source(const struct bench_cpu *cpu);

/* A new cgroup v2 of its own under the unified hierarchy (root only):
 * its path (caller frees, bench_cgroup_remove when done), or NULL with
 * the reason in err. Put processes in with bench_cgroup_add. */
char *bench_cgroup_new(const char *name, char *err, size_t errlen);
int bench_cgroup_add(const char *cgroup, pid_t pid);
/* Move this process into cgroup, so that what it starts from now on is
 * counted there; the cgroup it was in (caller frees) for
 * bench_cgroup_add(back, getpid()) afterwards, or NULL (nothing moved). */
char *bench_cgroup_enter(const char *cgroup);
/* Move what is left to the parent and remove the directory. */
void bench_cgroup_remove(const char *cgroup);

#endif
