/*
 * daemon.h — the real outside daemons a scenario's main.cf refers to
 * ([daemon KIND ENDPOINT]: dovecot-auth, postgrey, policyd-spf), started
 * privately on loopback for either SUT and stopped with the lab.
 */
#ifndef HARNESS_DAEMON_H
#define HARNESS_DAEMON_H

#include <stddef.h>

struct scenario;
struct sut_env;
struct daemons;

/* 0 if every [daemon] of s can run on this machine; else -1 with
 * "file:line: [daemon KIND]: why" in why (the scenario is skipped). */
int daemon_check(const struct scenario *s, char *why, size_t len);
/* 1 if s has a daemon of this kind. */
int daemon_wanted(const struct scenario *s, const char *kind);
/* Start them (after the lab's DNS is up); NULL with env->err. */
struct daemons *daemons_start(struct sut_env *env);
/* Stop each (SIGTERM to its process group, then SIGKILL); NULL ok. */
void daemons_stop(struct daemons *d);
/* text with each daemon's endpoint as written replaced by where it
 * listens ("inet:127.0.0.1:PORT"); caller frees. d may be NULL. */
char *daemons_rewrite(const struct daemons *d, const char *text);
/* 1 if a daemon reads the real clock (postgrey): [time passes] must let
 * real (scaled) time pass on a simulated-clock SUT too. */
int daemons_realtime(const struct daemons *d);
/* 1 if the [file name] is a daemon's (not a Postfix map to postmap). */
int daemon_owns_file(const struct scenario *s, const char *name);

#endif
