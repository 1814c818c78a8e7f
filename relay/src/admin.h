/*
 * admin.h — the admin commands (admin.c) other modules call: the flush
 * of one site that postqueue -s and smtpd's ETRN share.
 */
#ifndef RELAY_ADMIN_H
#define RELAY_ADMIN_H

struct relay;
struct strbuf;

/* postqueue -s SITE (and ETRN): deliver now what waits for SITE. 0, or 1
 * with Postfix's error in err when SITE is not in fast_flush_domains. */
int relay_flush_site(struct relay *r, const char *site, struct strbuf *err);

#endif
