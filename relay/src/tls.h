/*
 * tls.h — smtpd's TLS settings (tls.c, RFC 3207): the security level,
 * log level and the server certificate's context.
 */
#ifndef RELAY_TLS_H
#define RELAY_TLS_H

struct relay;
struct config;
struct ssl_ctx_st;

/* smtpd_tls_security_level values. */
enum { RELAY_TLS_NONE, RELAY_TLS_MAY, RELAY_TLS_ENCRYPT };
struct relay_tls {
    int level;              /* smtpd_tls_security_level: RELAY_TLS_* */
    int loglevel;           /* smtpd_tls_loglevel */
    int received_header;    /* smtpd_tls_received_header */
    struct ssl_ctx_st *ctx; /* NULL: TLS not available (454) */
};
/* Read the smtpd_tls_* parameters and load the certificate, logging
 * Postfix's warnings to the mail log (open it first); never fails: a
 * certificate that cannot be loaded leaves ctx NULL. */
void relay_tls_init(struct relay *r);
/* Free r->tls; a no-op when there is none. */
void relay_tls_free(struct relay *r);
/* smtpd_tls_security_level in cf (or the obsolete booleans): a
 * RELAY_TLS_* value; *bad names a value that is none of them (then
 * RELAY_TLS_NONE). */
int relay_tls_level(struct config *cf, const char **bad);

#endif
