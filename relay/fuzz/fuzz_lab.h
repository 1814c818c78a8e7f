/*
 * fuzz_lab.h — what the relay's fuzz targets share: one relay per process
 * on its own event loop, configured in a private temporary directory
 * (loopback only; its DNS a silent fakedns so that lookups answer at
 * once), built on the first input and kept for the others.
 */
#ifndef RELAY_FUZZ_LAB_H
#define RELAY_FUZZ_LAB_H

struct event_base;
struct relay;

struct fuzz_lab {
    struct event_base *base;
    struct relay *relay;
    char dir[64];
    int smtp_port;
};

/* The lab, built on first use (started when start is 1: listeners,
 * queue recovery); aborts if it cannot be built (the target is broken,
 * not the input). */
struct fuzz_lab *fuzz_lab_get(int start);

#endif
