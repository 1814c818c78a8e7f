/*
 * bench_lab.h — mxlab bench on a lab SUT (--sut relay|postfix SCENARIO):
 * the scenario's world (main.cf, zones, fake MX hosts with their
 * behaviours) built by lab.h, the load aimed at the SUT's smtpd, every
 * delivery to a fake MX matched to its message (end-to-end delay from
 * the 250), the SUT's queue sampled, and a private Postfix's processes
 * in a cgroup v2 of their own (root) for CPU per message.
 */
#ifndef HARNESS_BENCH_LAB_H
#define HARNESS_BENCH_LAB_H

#include <stddef.h>

#include "bench_cpu.h"
#include "bench_load.h"
#include "harness/lab.h"

struct bench_lab;

/* Open the lab of the scenario file path for sut in workdir on base, and
 * point cfg (address, TLS, queue sampler, arrival tracking) and cpu (a
 * cgroup for Postfix) at it. *loadp is read on each delivery (the load
 * that is running, or NULL). NULL with the reason in err. Caller closes
 * with bench_lab_close. */
struct bench_lab *
bench_lab_open(struct event_base *base, const char *path,
               const struct sut_spec *sut, const char *workdir,
               struct bench_load_cfg *cfg, struct bench_cpu *cpu,
               struct bench_load **loadp, char *err, size_t errlen);
/* Stop the SUT and the fakes, remove the cgroup; NULL is a no-op. */
void bench_lab_close(struct bench_lab *bl);

/* The sequence number in a Message-ID that mxlab bench wrote
 * ("<SEQ.RUN@bench.mxlab>"). 0, or -1 if it is not one. */
int bench_lab_seq(const char *message_id, unsigned long long *seq);

#endif
