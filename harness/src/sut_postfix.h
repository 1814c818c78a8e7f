/*
 * sut_postfix.h — a private Postfix as the system under test: its own
 * config directory (written by the runner), queue, ports and log, run as
 * "postfix -c DIR start-fg" inside a private mount namespace whose
 * /etc/resolv.conf points at the scenario's fakedns. The host's own files
 * are never touched. Needs root. See docs/postfix-oracle.md.
 */
#ifndef HARNESS_SUT_POSTFIX_H
#define HARNESS_SUT_POSTFIX_H

#include <stddef.h>

#include "mxlab/xmem.h"

struct pfsut;

/* 1 if this machine can run a private Postfix, else 0 with why in err. */
int pfsut_available(char *err, size_t errlen);
/* Write master.cf (extra: the scenario's own lines, appended), build the
 * maps with postmap, start Postfix and wait (bounded) until it answers on
 * 127.0.0.1:smtp_port. NULL with err. */
struct pfsut *pfsut_start(const char *confdir, const char *workdir,
                          const char *dns_ip, int smtp_port, const char *extra,
                          const char *const *maps, size_t nmaps, char *err,
                          size_t errlen);
/* After a worker has ended, however it ended: if the Postfix it ran from
 * WORKDIR/config is still alive (the worker was killed before it could
 * stop it), stop it, and remove its private queue. */
void pfsut_reap_orphan(const char *workdir);
/* Stop Postfix and reap it; NULL is a no-op. */
void pfsut_stop(struct pfsut *p);
/* mailq, postqueue -p|-f, postsuper -d|-r: Postfix's own commands. */
int pfsut_admin(struct pfsut *p, const char *cmdline, struct strbuf *out,
                struct strbuf *err);
/* Messages in the queue, and how many are not deferred or held. -1 if
 * postqueue failed. */
int pfsut_queue(struct pfsut *p, size_t *total, size_t *busy);

#endif
