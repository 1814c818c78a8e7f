/*
 * loop.h — the daemons' main loop: run until SIGTERM or SIGINT, the clean
 * way for mxlab-relay, mxlab-fakedns and mxlab-fakemx to stop.
 */
#ifndef MXLAB_LOOP_H
#define MXLAB_LOOP_H

struct event_base;

/* Dispatch base until SIGTERM or SIGINT arrives (returns 0) or the loop
 * cannot run (returns -1, with the reason on stderr). */
int loop_run_until_signal(struct event_base *base);

#endif
