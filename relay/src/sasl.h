/*
 * sasl.h — smtpd's SASL authentication (RFC 4954) through Dovecot's
 * authentication protocol, client side, as Postfix's xsasl_dovecot does:
 * the smtpd_sasl_* parameters, the line codec (unit tested alone) and one
 * asynchronous connection per SMTP session.
 */
#ifndef RELAY_SASL_H
#define RELAY_SASL_H

#include <stddef.h>

#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

struct config;
struct event_base;

/* Security properties (Postfix's SEC_PROPS_*): smtpd_sasl_security_options
 * names them "noplaintext"...; Dovecot's MECH lines "plaintext"... */
enum {
    SASL_SEC_NOPLAINTEXT = 1 << 0,
    SASL_SEC_NOACTIVE = 1 << 1,
    SASL_SEC_NODICTIONARY = 1 << 2,
    SASL_SEC_NOANONYMOUS = 1 << 3,
    SASL_SEC_FWD_SECRECY = 1 << 4,
    SASL_SEC_MUTUAL_AUTH = 1 << 5,
    SASL_SEC_PRIVATE = 1 << 6,
};

/* The smtpd_sasl_* parameters of a service (main.cf and its -o). */
struct sasl_conf {
    int enable;                       /* smtpd_sasl_auth_enable */
    char *path;                       /* smtpd_sasl_path, resolved */
    char *service;                    /* smtpd_sasl_service */
    int sec_opts;                     /* smtpd_sasl_security_options */
    int tls_sec_opts;                 /* smtpd_sasl_tls_security_options */
    int tls_auth_only;                /* smtpd_tls_auth_only */
    int authenticated_header;         /* smtpd_sasl_authenticated_header */
    int broken_clients;               /* broken_sasl_auth_clients */
    struct strlist sender_login_maps; /* smtpd_sender_login_maps */
};

/* Read the smtpd_sasl_* parameters of cf into c (zeroed first). A path
 * that does not start with "/" or "inet:" is relative to queue_dir, as
 * Postfix's daemons run there. -1 with "file:line: what" in err. */
int sasl_conf_load(struct sasl_conf *c, struct config *cf,
                   const char *queue_dir, char *err, size_t errlen);
void sasl_conf_clear(struct sasl_conf *c);
/* The parameters' defaults (Postfix 3.7): one, or NULL if name is not
 * one of them; all of them into cf. */
const char *sasl_default(const char *name);
void sasl_set_defaults(struct config *cf);

/* Postfix's names ("noanonymous, noplaintext") into SASL_SEC_* bits; -1
 * with the unknown name in bad (borrowed from text) if one is unknown. */
int sasl_sec_opts_parse(const char *text, const char **bad, size_t *badlen);

/* One line from the Dovecot auth server (without its LF), split. */
enum sasl_dc_kind {
    SASL_DC_OTHER, /* ignored, as Postfix ignores unknown lines */
    SASL_DC_VERSION,
    SASL_DC_MECH,
    SASL_DC_SPID,
    SASL_DC_DONE,
    SASL_DC_OK,
    SASL_DC_CONT,
    SASL_DC_FAIL,
    SASL_DC_BAD, /* a known line with missing or malformed fields */
};
struct sasl_dc_line {
    enum sasl_dc_kind kind;
    unsigned long major, minor; /* VERSION */
    unsigned long id;           /* OK, CONT, FAIL */
    char mech[64];              /* MECH: its name */
    int props;                  /* MECH: SASL_SEC_* it has */
    char *user;                 /* OK/FAIL user=, or NULL (caller frees) */
    char *reason;               /* FAIL reason=, or NULL (caller frees) */
    char *data;                 /* CONT: the challenge (caller frees) */
    int temp;                   /* FAIL: "temp" (try again later) */
};
/* Split line[0..len) into out; the strings in out are the caller's
 * (sasl_dc_line_clear). Unprintable bytes become '?', as Postfix's
 * printable(). */
void sasl_dc_parse(const char *line, size_t len, struct sasl_dc_line *out);
void sasl_dc_line_clear(struct sasl_dc_line *l);
/* The AUTH request line (with its LF) for a new exchange. resp: the
 * client's initial response, base64, or NULL. */
void sasl_dc_auth_request(struct strbuf *out, unsigned long id,
                          const char *mech, const char *service,
                          const char *lip, const char *rip, int secured,
                          const char *resp);
/* 1 if s is only base64 characters (Postfix's is_valid_base64). */
int sasl_base64_valid(const char *s);
/* Whether a mechanism with Dovecot's props passes the configured
 * security options (Postfix's mechanism filter). */
int sasl_mech_allowed(int mech_props, int conf_opts);

/* A session's connection to the auth server. */
enum sasl_status {
    SASL_MORE, /* 334 challenge in text */
    SASL_DONE, /* authenticated */
    SASL_FAIL, /* 535 with text */
    SASL_TEMP, /* 454 with text */
};
struct sasl_client;
typedef void sasl_ready_fn(void *arg, const char *mechs);
typedef void sasl_reply_fn(void *arg, enum sasl_status st, const char *text);
/* Connect to conf->path and do the handshake; ready(arg, mechs) runs
 * once: mechs is the filtered list ("PLAIN LOGIN"), or NULL when the
 * server cannot be reached (warnings already in the mail log through
 * warn). lip, rip: the server's and the client's addresses. */
typedef void sasl_warn_fn(void *arg, const char *text);
struct sasl_client *sasl_client_new(struct event_base *base,
                                    const struct sasl_conf *conf, int tls,
                                    const char *lip, const char *rip,
                                    sasl_ready_fn *ready, sasl_warn_fn *warn,
                                    void *arg);
/* AUTH mech [resp]: reply(arg, ...) runs once with the outcome. */
void sasl_client_first(struct sasl_client *c, const char *mech,
                       const char *resp, sasl_reply_fn *reply);
/* The client's answer to a 334 challenge. */
void sasl_client_next(struct sasl_client *c, const char *resp,
                      sasl_reply_fn *reply);
/* The client gave up on a challenge ("*"): the exchange is over. */
void sasl_client_abort(struct sasl_client *c);
/* The user= of the last OK or FAIL (NULL: none yet). Borrowed. */
const char *sasl_client_username(const struct sasl_client *c);
/* 1 while the handshake or an exchange waits for the server. */
int sasl_client_busy(const struct sasl_client *c);
/* x_free(NULL) is a no-op; no callback runs after it. */
void sasl_client_free(struct sasl_client *c);

#endif
