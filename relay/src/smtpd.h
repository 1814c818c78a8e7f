/*
 * smtpd.h — the SMTP server sessions (smtpd.c, RFC 5321): what the
 * listeners and the relay's teardown call.
 */
#ifndef RELAY_SMTPD_H
#define RELAY_SMTPD_H

struct relay;
struct relay_service;
struct netaddr;

/* A client connected on fd (owned by the session from now) to a
 * listener of svc: a session starts, holding a reference to svc, and
 * greets (RFC 5321 section 3.1) once the client's name is looked up. */
void smtpd_accept(struct relay *r, struct relay_service *svc, int fd,
                  const struct netaddr *peer);
/* Teardown: close every session without a reply. */
void smtpd_free_all(struct relay *r);
/* Client name lookups that outlived their sessions (after dns_free). */
void smtpd_lookups_free(struct relay *r);

#endif
