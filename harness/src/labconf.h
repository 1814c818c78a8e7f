/*
 * labconf.h — what the lab writes for its SUT from a scenario: main.cf
 * (a header, the scenario's lines, the isolation settings last so that
 * they win, as in Postfix), master.cf services on free loopback ports,
 * [file] and [tls cert] files, the passwd/aliases/spool of local delivery,
 * and free ports.
 */
#ifndef HARNESS_LABCONF_H
#define HARNESS_LABCONF_H

#include <sys/types.h>

#include "sut.h"

/* A port free for both TCP and UDP on every address, below the kernel's
 * ephemeral range and not given before by this process (type: the one
 * the caller binds, SOCK_STREAM or SOCK_DGRAM), or -1. */
int labconf_free_port(int type);
/* CONFDIR/name := text, with mode. -1 with env->err. */
int labconf_write(struct sut_env *env, const char *name, const char *text,
                  mode_t mode);
/* Every [file NAME] and [tls cert NAME] of the scenario. -1 with err. */
int labconf_files(struct sut_env *env);
/* [master.cf]: env->master_extra, each inet service on 127.0.0.1 at a
 * free port (*ports, *nports: in the order of scenario_service; caller
 * frees *ports). -1 with err. */
int labconf_master_services(struct sut_env *env, int **ports, size_t *nports);
/* text (main.cf, a master.cf line) with each next hop "[IP]:PORT" whose
 * IP is an [mx] host or a [system] given the lab's delivery port instead
 * (content_filter = smtp-amavis:[127.0.0.1]:10024 reaches [mx
 * 127.0.0.1]). Caller frees. */
char *labconf_rewrite_ports(const struct sut_env *env, const char *text);
/* main.cf; tail (may be NULL) appends the SUT's own settings. */
int labconf_write_maincf(struct sut_env *env,
                         int (*tail)(struct sut_env *, struct strbuf *));
/* main.cf text with change's parameters (logical lines, continuation
 * lines included) put in place of those of the same name, the others
 * appended: what an administrator's edit leaves. Caller frees. */
char *labconf_maincf_merge(const char *text, const char *change);
/* passwd, aliases, and the mail spool. -1 with err. */
int labconf_write_local(struct sut_env *env);
/* Postfix's queue timers divided by the time scale, appended to sb when
 * the scenario lets time pass. -1 with err. */
int labconf_compress_timers(struct sut_env *env, struct strbuf *sb);
/* A configuration error of the SUT ("CONFDIR/main.cf:N: what") pointed
 * at the scenario's [main.cf] line. Returns -1. */
int labconf_config_error(struct sut_env *env, const char *err);

#endif
