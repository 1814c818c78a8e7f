/*
 * relay.h — the relay process inside: the relay object that every module
 * is handed, the master.cf services and listeners it runs, and what
 * relay.c offers the other modules. The public API (relay_new, admin
 * commands) is relay/relay.h; each module declares its own functions in
 * its own header.
 */
#ifndef RELAY_CORE_H
#define RELAY_CORE_H

#include <stddef.h>
#include <time.h>

#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "params.h"
#include "relay/relay.h"
#include "table.h"

struct config;
struct maplist;
struct maillog;
struct dns;
struct event;
struct event_base;
struct evconnlistener;
struct smtpd_session;
struct smtpd_lookup;
struct policy_check;
struct policy_pool;
struct queue_msg;
struct queue_pending;
struct smtpc;
struct smtpc_conn;
struct relay_tls;
struct anvil;
struct relay_transport;

/* An inet smtpd service of master.cf: main.cf's parameters with the
 * service's "-o name=value" overrides applied (master(5)). Its listeners
 * and the sessions they accepted hold references, so a session keeps
 * the parameters it started with through a reload. */
struct relay_service {
    int refs;
    char *name;        /* the service field, "127.0.0.1:2587" */
    struct config *cf; /* main.cf, then the overrides */
    struct relay_params p;
    /* master(8)'s process limit (master.cf maxproc, 0: none) as a cap on
     * concurrent sessions, and the parameters of sessions that start
     * while the service is under stress ("-o stress=yes"; master.c). */
    long maxproc;
    size_t nsessions;
    struct relay_params stress_p;
    time_t stress_until; /* stress mode until then */
    time_t busy_warned;  /* the process limit warning, last logged */
};
/* Drop a reference to svc (a listener's or a session's); the last one
 * frees its parameters and configuration. NULL is a no-op. */
void relay_service_release(struct relay_service *svc);
/* Read the parameters of cf into p; -1 with "file:line: what" in err.
 * _free releases what p holds (also after a failed read). */
int relay_service_params(struct relay *r, struct config *cf,
                         struct relay_params *p, char *err, size_t errlen);
void relay_service_params_free(struct relay_params *p);

/* One SMTP listener from master.cf. */
struct relay_listener {
    struct relay *r;
    struct netaddr addr;
    struct evconnlistener *lev;
    struct relay_service *svc;
};

struct relay {
    struct event_base *base;
    char *config_dir;
    struct config *cf;
    struct relay_params p;
    struct maplist *virtual_alias_maps;
    struct table_set tables; /* opened on first use (table.c) */
    struct maplist *transport_maps;
    struct relay_transport *transports; /* master.cf's (filter.c) */
    struct strlist passwd_tables;       /* "unix:passwd.byname" */
    struct strlist param_warnings;      /* params.c's, for the mail log */
    struct maillog *log;
    struct dns *dns;
    struct relay_listener **listeners;
    size_t nlisteners;
    int pid_fd; /* queue_directory/pid/master.pid, locked; -1 if none */
    struct smtpd_session *sessions;
    struct smtpd_lookup *lookups;       /* client name lookups in progress */
    struct policy_check *policy_checks; /* RCPT checks in progress */
    /* The active queue: messages being scheduled or delivered, at most
     * qmgr_message_active_limit from deferred/. Deferred and held
     * messages are on disk only, as in Postfix (a deferred file's mtime is
     * its next delivery time), so memory does not grow with them. */
    struct queue_msg *queue;
    struct queue_msg *queue_tail;
    size_t queue_count;
    /* Group commit: messages written, waiting for one syncfs. */
    struct queue_pending *pending;
    size_t npending, cpending;
    /* Deferrals written to deferred/ID.tmp, renamed after that syncfs. */
    struct queue_msg **deferring;
    size_t ndeferring, cdeferring;
    struct event *commit_ev;
    int queue_dirfd;               /* -1 until queue_open() */
    struct smtpc *clients;         /* deliveries in progress */
    struct smtpc_conn *conn_cache; /* idle connections kept for reuse */
    size_t ndeliveries;
    struct event *qmgr_timer;
    time_t qmgr_start; /* deferred-queue scans: every queue_run_delay */
    long scan_slot;  /* the last scan's (now - qmgr_start) / queue_run_delay */
    int scan_wanted; /* scan deferred/ at the next pass (flush, release,
                        or the active limit stopped the last scan) */
    size_t deferred_left;           /* files the last scan left in deferred/ */
    int qmgr_pending;               /* a scheduling pass is queued */
    struct evconnlistener *control; /* admin commands while running */
    char *control_path;
    relay_change_fn *change_fn;
    void *change_arg;
    struct relay_tls *tls;           /* smtpd_tls_* (tls.c) */
    struct policy_pool *policy_pool; /* check_policy_service connections */
    struct anvil *anvil;             /* client counts and rates (anvil.c) */
    /* accept() failed for lack of descriptors: listeners paused until
     * the timer runs out or a session ends (master.c). */
    struct event *accept_pause;
    int accept_paused;
    time_t accept_warned; /* the shortage was last logged then */
};

/* Tell the embedder (relay_on_change) that the queue or the deliveries
 * changed, so the harness can wake up. */
void relay_changed(struct relay *r);
/* A table was built again (postmap, postalias, newaliases): as Postfix's
 * daemons, which restart when one of their tables changed and then read
 * main.cf too, the relay reads its configuration and tables again, without
 * master's reload log line. 0, or -1 with err (configuration kept). */
int relay_tables_changed(struct relay *r, char *err, size_t errlen);

#endif
