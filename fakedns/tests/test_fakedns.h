/*
 * test_fakedns.h — the pieces of the fakedns test binary: test_fakedns.c
 * (loading and answering, no network) and test_net.c (loopback UDP and
 * TCP, c-ares as the client).
 */
#ifndef TEST_FAKEDNS_H
#define TEST_FAKEDNS_H

#include <check.h>

/* The network cases, run on 127.0.0.1 at a port the kernel picks. */
TCase *test_net_tcase(void);

#endif
