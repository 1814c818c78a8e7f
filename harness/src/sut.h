/*
 * sut.h — a kind of system under test is a table of operations (as
 * OpenSMTPD's queue backends): sut_relay.c, sut_postfix.c, sut_remote.c.
 * The lab (lab.c, labconf.c) fills a struct sut_env and calls them; it
 * never asks which kind it has, only what the kind can do (caps).
 */
#ifndef HARNESS_SUT_H
#define HARNESS_SUT_H

#include <event2/event.h>
#include <stddef.h>
#include <time.h>

#include "harness/lab.h"
#include "harness/scenario.h"
#include "mxlab/xmem.h"

#define SUT_IP "127.0.0.1" /* where the lab's own SUTs listen */

/* What a SUT backend is given, and keeps (priv). */
struct sut_env {
    struct event_base *base;
    const struct scenario *s;
    const struct scn_block *maincf; /* the scenario's [main.cf] (or the
                                       [system]'s body), or NULL */
    char *maincf_text;              /* that text after [change main.cf]
                                       steps (NULL: none yet) */
    const char *listen_ip;          /* where its smtpd listens (SUT_IP, or
                                       a [system]'s address) */
    int maincf_header_lines;        /* lines the lab writes before it */
    char *workdir, *confdir, *maillog, *queuedir;
    int smtp_port, mx_port, dns_port;
    char dns_ip[64];
    char *master_extra;      /* [master.cf] lines, inet services on own ports */
    struct daemons *daemons; /* [daemon] sections (daemon.c) */
    lab_change_fn *on_change; /* the SUT's queue changed (lab.c) */
    void *on_change_arg;
    void *priv; /* the backend's own state */
    char *err;  /* where a failure is described: "file:line: what" */
    size_t errlen;
};

struct sut_ops {
    const char *name; /* "relay", "postfix", "remote" */
    unsigned caps;    /* enum lab_cap */
    /* 1 if this machine can run it with work under workdir (may be
     * NULL), else 0 with why. NULL: always. */
    int (*usable)(const char *workdir, char *err, size_t errlen);
    /* After a worker ended, however: stop what it left. NULL: nothing. */
    void (*reap)(const char *workdir);
    /* Ports, DNS address, queue directory. -1 with env->err. */
    int (*prepare)(struct sut_env *env);
    /* Settings appended to the generated main.cf. -1 with env->err. */
    int (*maincf)(struct sut_env *env, struct strbuf *sb);
    /* Start on the generated configuration. -1 with env->err. */
    int (*start)(struct sut_env *env);
    /* Stop and free priv; safe after a failed start. */
    void (*stop)(struct sut_env *env);
    int (*admin)(struct sut_env *env, const char *cmdline, struct strbuf *out,
                 struct strbuf *err);
    /* Messages queued, and not deferred or held: 0, or -1. */
    int (*queue)(struct sut_env *env, size_t *total, size_t *busy);
    /* 1 when the SUT has nothing to do now. */
    int (*idle)(struct sut_env *env);
    /* A simulated clock: the next moment the SUT has work at (0: none),
     * and the call after the clock moved. NULL next_event: real time,
     * the SUT's timers divided by the scenario's time scale. */
    time_t (*next_event)(struct sut_env *env);
    void (*time_moved)(struct sut_env *env);
};

extern const struct sut_ops sut_relay_ops;
extern const struct sut_ops sut_postfix_ops;
extern const struct sut_ops sut_remote_ops;

/* "file:line: what" into env->err; returns -1. */
int sut_fail(struct sut_env *env, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The scenario's time scale for SUTs on real time (default 60). */
long sut_time_scale(const struct sut_env *env);

/* For smtp:// and smtps:// (sut_remote.c): fill out and 0, -1 with err,
 * or -2 if arg is neither. */
int sut_remote_parse(const char *arg, struct sut_spec *out, char *err,
                     size_t errlen);

#endif
