/*
 * anvil.h — client connection counts and event rates, as Postfix's
 * anvil(8) keeps them for smtpd: per (service, client address), the
 * connections open now and, within the current anvil_rate_time_unit,
 * the connections, MAIL and RCPT commands seen. Times are the relay's
 * clock (clock_time(), which the harness can simulate).
 */
#ifndef RELAY_ANVIL_H
#define RELAY_ANVIL_H

#include <stddef.h>

struct anvil;
struct config;
struct relay_params;

/* An empty table; anvil_free(NULL) is a no-op. */
struct anvil *anvil_new(void);
void anvil_free(struct anvil *a);
/* A connection from addr to service: counted, then *count (open now,
 * this one included) and *rate (this window's connections). */
void anvil_connect(struct anvil *a, const char *service, const char *addr,
                   long unit, int *count, int *rate);
/* That connection ended (its state goes once unit has passed). */
void anvil_disconnect(struct anvil *a, const char *service, const char *addr,
                      long unit);
/* A MAIL (anvil_mail) or RCPT (anvil_rcpt) command: counted, then the
 * window's count of them (0 for a client never connected). */
int anvil_mail(struct anvil *a, const char *service, const char *addr,
               long unit);
int anvil_rcpt(struct anvil *a, const char *service, const char *addr,
               long unit);
/* Entries kept now (tests: state is dropped once unused). */
size_t anvil_size(const struct anvil *a);

/* smtpd_client_event_limit_exceptions from cf into p, after mynetworks
 * (the limits themselves are typed parameters, params.c): -1 with
 * "file:line: what" in err. */
int anvil_load_params(struct config *cf, struct relay_params *p, char *err,
                      size_t errlen);

#endif
