/*
 * shard.h — splitting a suite over N CI jobs (shard.c): every job lists
 * the same scenarios and keeps its own part, so the parts are disjoint and
 * cover the suite whatever order the jobs run in.
 */
#ifndef HARNESS_SHARD_H
#define HARNESS_SHARD_H

#include <stddef.h>

/* "K/N" (1 <= K <= N <= 1000) into *k and *n. 0, or -1. */
int shard_parse(const char *arg, long *k, long *n);

/* The shard (0 to nshards-1) of each of the n scenarios named keys[i]
 * into out[i]. Without weights (NULL): by a hash of the name, so a
 * scenario stays in its shard when others come and go. With weights (its
 * recorded seconds, < 0 when unknown: the mean of the known ones):
 * longest first, each to the least loaded shard, so the shards take about
 * the same time; ties go by name, so every job computes the same split. */
void shard_assign(const char *const *keys, const double *weights, size_t n,
                  long nshards, long *out);

#endif
