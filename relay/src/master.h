/*
 * master.h — what Postfix's master(8) does for the relay's smtpd
 * services: the master.cf process limit (maxproc) as a cap on concurrent
 * sessions per service, with stress mode beyond it, and a pause in
 * accepting when the process runs out of file descriptors.
 */
#ifndef RELAY_MASTER_H
#define RELAY_MASTER_H

#include <event2/listener.h>

struct relay;
struct relay_service;
struct relay_params;

/* The service's maxproc field ("-": default_process_limit; 0: none) and
 * its stress parameters ("-o stress=yes"). -1 with "where: what" in err. */
int master_service_init(struct relay *r, struct relay_service *svc,
                        const char *maxproc, const char *where, char *err,
                        size_t errlen);
/* A session of svc starts: the parameters it runs with (borrowed while
 * it holds svc). At the process limit the service stops accepting and
 * goes under stress, as master does. */
const struct relay_params *master_session_start(struct relay *r,
                                                struct relay_service *svc);
/* A session of svc ended: accepting may start again. */
void master_session_end(struct relay *r, struct relay_service *svc);
/* A connection was accepted (the descriptor shortage, if any, is over). */
void master_accept_ok(struct relay *r);
/* evconnlistener's error callback (arg: the struct relay_listener). */
void master_accept_error(struct evconnlistener *lev, void *arg);
/* Enable each listener unless its service is at its limit or accepting
 * is paused. */
void master_listen_update(struct relay *r);
/* Teardown of the pause timer. */
void master_free(struct relay *r);

#endif
