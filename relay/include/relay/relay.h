/*
 * relay.h — mxlab's reference relay: a Postfix-compatible MTA (main.cf,
 * master.cf, lookup tables, queue, log format) that runs on a libevent
 * loop, standalone (mxlab-relay) or embedded in the harness.
 * Ownership: the relay owns its sessions, queue and deliveries; the caller
 * owns the event base and must free the relay before the base.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stddef.h>
#include <time.h>

struct strbuf;

struct event_base;
struct relay;

/* Load DIR/main.cf and DIR/master.cf and open the lookup tables. Nothing
 * listens yet. NULL with "file:line: what" in err on a configuration
 * error. */
struct relay *relay_new(struct event_base *base, const char *config_dir,
                        char *err, size_t errlen);
/* Create the queue directories, recover queued messages, open the log and
 * start the listeners of master.cf. 0, or -1 with err set. */
int relay_start(struct relay *r, char *err, size_t errlen);
/* Read main.cf and master.cf again (postfix reload, SIGHUP): new
 * sessions get the new parameters, those under way keep theirs; listeners
 * whose address stays keep their socket, new ones are bound, the others
 * closed; queued mail and deliveries are untouched. queue_directory,
 * maillog_file and mxlab_dns_servers keep their values until a restart.
 * 0, or -1 with err set (the running configuration is kept). */
int relay_reload(struct relay *r, char *err, size_t errlen);
/* Stop listening, close sessions and deliveries; queued mail stays on
 * disk. NULL is a no-op. */
void relay_free(struct relay *r);

/* Messages in the queue (incoming, active, deferred, hold). */
size_t relay_queue_count(struct relay *r);
/* Messages waiting for a first or immediate delivery attempt, or being
 * delivered: 0 means the relay has nothing to do until a deferred
 * message's retry time (the harness's "idle"). */
size_t relay_busy(const struct relay *r);
/* On the relay's clock, the next time after now at which it has work to
 * do without being asked (a retry, a deferred-queue scan finding a
 * message due), or 0 if none: the harness steps simulated time through
 * these. */
time_t relay_next_event(struct relay *r);
/* Deliveries (SMTP client sessions) in progress. */
size_t relay_active_deliveries(const struct relay *r);
/* The process clock (mxlab/clock.h) was advanced: run what is due. */
void relay_time_changed(struct relay *r);
/* Schedule every deferred message for immediate delivery (postqueue -f). */
void relay_flush(struct relay *r);

/* Admin commands, Postfix's forms and outputs (postqueue(1),
 * postsuper(1)). out receives what the command prints on stdout; the
 * return value is the exit status. */
/* mailq / postqueue -p: the queue listing. */
int relay_mailq(struct relay *r, struct strbuf *out);
/* postsuper -d ID|ALL and postsuper -r ID|ALL, within queue ("hold",
 * "deferred", "active"; NULL: all): count in *n; for -d ID,
 * "postsuper: ID: removed" is appended to msg (may be NULL), as Postfix
 * prints it on stderr. */
int relay_postsuper_delete(struct relay *r, const char *id, const char *queue,
                           size_t *n, struct strbuf *msg);
int relay_postsuper_requeue(struct relay *r, const char *id, const char *queue,
                            size_t *n);
/* Run an admin command line ("mailq", "postqueue -p", "postqueue -f",
 * "postsuper -d ID|ALL", "postsuper -r ID|ALL"): output to out (stdout)
 * and err (stderr); returns the exit status, 64 for a usage error. */
int relay_admin(struct relay *r, const char *cmdline, struct strbuf *out,
                struct strbuf *err);

/* Read the queue files into r without starting anything (admin commands
 * while the relay is stopped). 0, or -1 with err set. */
int relay_load_queue(struct relay *r, char *err, size_t errlen);
/* Listen for admin commands on queue_directory/public/mxlab-admin (what
 * mxlab-relay does after relay_start()). Like Postfix's daemons, this
 * makes queue_directory the process's working directory and binds a
 * relative path, so a deep queue_directory is no problem. The harness
 * does not need it: it calls relay_admin() directly. */
int relay_control_start(struct relay *r, char *err, size_t errlen);
/* Ask a running relay, through its control socket under
 * queue_directory/public, to run an admin command line (this changes the
 * working directory to queue_directory). Returns the
 * command's exit status, or -1 when no relay answers (not running). */
int relay_control_call(struct relay *r, const char *cmdline, struct strbuf *out,
                       struct strbuf *err);

/* queue_directory/pid/master.pid, as Postfix's master keeps it: take its
 * lock (held until relay_free()) and write this process's pid. 0; 1 if
 * another relay holds it (running on this queue); -1 with err. */
int relay_pid_lock(struct relay *r, char *err, size_t errlen);
/* The pid of the relay that holds the lock, 0 if none runs. */
long relay_pid_running(struct relay *r);
/* A parameter's expanded value (main.cf), "" if unknown; borrowed. */
const char *relay_param(struct relay *r, const char *name);
/* Started as root: give the queue to mail_owner and become that user for
 * good (groups, gid, uid; checked). Call once listeners, queue, log and
 * control socket are open. A no-op if not root. 0, or -1 with err (an
 * unknown or uid-0 mail_owner is refused, as Postfix does). */
int relay_drop_privileges(struct relay *r, char *err, size_t errlen);
/* An admin command run by root on a queue that mail_owner owns acts as
 * mail_owner (as postsuper does), so that the files it writes stay the
 * relay's. 0 (also when nothing changes), or -1 with err. */
int relay_admin_identity(struct relay *r, char *err, size_t errlen);

/* Called whenever the queue or delivery state changes (a message queued,
 * delivered, deferred or removed), on the loop's thread. */
typedef void relay_change_fn(void *arg);
void relay_on_change(struct relay *r, relay_change_fn *fn, void *arg);

#endif
