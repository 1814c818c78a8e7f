/*
 * tls.c — the relay's TLS settings and server context (Postfix's
 * smtpd_tls_* parameters, RFC 3207): the security level, the certificate
 * and key loaded as Postfix 3.7's tls_certkey.c loads them (with its
 * warnings; a file that cannot be loaded disables TLS, so STARTTLS is
 * still offered and answered "454 4.7.0 TLS not available due to local
 * problem"), the log level and the Received header clause.
 * Ownership: r->tls, made by relay_tls_init(), freed by relay_tls_free().
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/config.h"
#include "mxlab/maillog.h"
#include "mxlab/tlsutil.h"
#include "mxlab/xmem.h"
#include "relay.h"
#include "tls.h"

/* A warning in the mail log, from smtpd as in Postfix (FMT a literal). */
#define relay_tls_warn(r, ...)                                                 \
    maillog_printf((r)->log, "smtpd", "warning: " __VA_ARGS__)

/* The last word of a failed load_pem_bio(): TLS is off. -1. */
static int relay_tls_disabled(struct relay *r, const char *origin)
{
    relay_tls_warn(r,
                   "error loading private keys and certificates from: %s: "
                   "disabling TLS support",
                   origin);
    return -1;
}

/* OpenSSL's reasons, as Postfix's tls_print_errors() logs them. */
static void relay_tls_print_errors(struct relay *r)
{
    struct strbuf sb;

    strbuf_init(&sb);
    tls_errors(&sb);
    for (char *line = sb.buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        relay_tls_warn(r, "TLS library problem: %s", line);
        line = nl ? nl + 1 : NULL;
    }
    strbuf_clear(&sb);
}

/* One file holding the key and the certificate (smtpd_tls_key_file =
 * $smtpd_tls_cert_file, Postfix's default): load_mixed_file(). */
static int relay_tls_load_mixed(struct relay *r, SSL_CTX *ctx, const char *path)
{
    FILE *fp = fopen(path, "r");

    if (fp == NULL) {
        relay_tls_warn(r, "error opening chain file: %s: %s", path,
                       strerror(errno));
        return -1;
    }
    fclose(fp);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, path) <= 0) {
        relay_tls_print_errors(r);
        return relay_tls_disabled(r, path);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) <= 0) {
        ERR_clear_error();
        relay_tls_warn(r, "No private key found in %s", path);
        return relay_tls_disabled(r, path);
    }
    if (!SSL_CTX_check_private_key(ctx)) {
        relay_tls_warn(r,
                       "key at index 1 in %s does not match next "
                       "certificate",
                       path);
        relay_tls_print_errors(r);
        return relay_tls_disabled(r, path);
    }
    return 0;
}

/* Separate certificate and key files: set_cert_stuff(). */
static int relay_tls_load_pair(struct relay *r, SSL_CTX *ctx, const char *crt,
                               const char *key)
{
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, crt) <= 0) {
        relay_tls_warn(r,
                       "cannot get RSA certificate from file \"%s\": "
                       "disabling TLS support",
                       crt);
        relay_tls_print_errors(r);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) <= 0) {
        relay_tls_warn(r,
                       "cannot get RSA private key from file \"%s\": "
                       "disabling TLS support",
                       key);
        relay_tls_print_errors(r);
        return -1;
    }
    if (!SSL_CTX_check_private_key(ctx)) {
        relay_tls_warn(r,
                       "RSA private key in %s does not match public key in "
                       "%s: disabling TLS support",
                       key, crt);
        return -1;
    }
    return 0;
}

/* smtpd_tls_chain_files: each file a key followed by its certificate
 * chain (load_chain_files(), simplified: one key and chain per file). */
static int relay_tls_load_chains(struct relay *r, SSL_CTX *ctx,
                                 const char *files)
{
    struct strlist l;
    int rc = 0;

    strlist_init(&l);
    strlist_split(&l, files);
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        FILE *fp = fopen(l.v[i], "r");
        if (fp == NULL) {
            relay_tls_warn(r, "error opening chain file: %s: %s", l.v[i],
                           strerror(errno));
            rc = -1;
            break;
        }
        fclose(fp);
        ERR_clear_error();
        if (SSL_CTX_use_PrivateKey_file(ctx, l.v[i], SSL_FILETYPE_PEM) <= 0 ||
            SSL_CTX_use_certificate_chain_file(ctx, l.v[i]) <= 0 ||
            !SSL_CTX_check_private_key(ctx)) {
            relay_tls_print_errors(r);
            rc = relay_tls_disabled(r, files);
        }
    }
    strlist_clear(&l);
    return rc;
}

static SSL_CTX *relay_tls_server_ctx(struct relay *r)
{
    const char *chain = config_get(r->cf, "smtpd_tls_chain_files");
    const char *crt = config_get(r->cf, "smtpd_tls_cert_file");
    const char *key = config_get(r->cf, "smtpd_tls_key_file");
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int rc;

    if (ctx == NULL) {
        relay_tls_print_errors(r);
        return NULL;
    }
    /* Postfix 3.7's default smtpd_tls_protocols: not SSLv2 or SSLv3. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    if (*chain != '\0') {
        rc = relay_tls_load_chains(r, ctx, chain);
    } else if (*crt == '\0') {
        relay_tls_warn(r, "No server certs available. TLS won't be enabled");
        rc = -1;
    } else if (strcmp(crt, key) == 0) {
        rc = relay_tls_load_mixed(r, ctx, crt);
    } else {
        rc = relay_tls_load_pair(r, ctx, crt, key);
    }
    if (rc < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int relay_tls_level(struct config *cf, const char **bad)
{
    const char *level = config_get(cf, "smtpd_tls_security_level");

    *bad = NULL;
    /* An empty level falls back to the obsolete booleans (postconf(5)). */
    if (*level == '\0')
        level = config_get_bool(cf, "smtpd_enforce_tls") == 1 ? "encrypt"
                : config_get_bool(cf, "smtpd_use_tls") == 1   ? "may"
                                                              : "none";
    if (strcmp(level, "encrypt") == 0)
        return RELAY_TLS_ENCRYPT;
    if (strcmp(level, "may") == 0)
        return RELAY_TLS_MAY;
    if (strcmp(level, "none") != 0)
        *bad = level;
    return RELAY_TLS_NONE;
}

void relay_tls_init(struct relay *r)
{
    struct relay_tls *t = xcalloc(1, sizeof(*t));
    const char *bad;
    long loglevel;
    int wanted;

    r->tls = t;
    t->level = relay_tls_level(r->cf, &bad);
    if (bad != NULL)
        relay_tls_warn(r,
                       "invalid smtpd_tls_security_level value \"%s\": "
                       "TLS disabled",
                       bad);
    loglevel = config_get_long(r->cf, "smtpd_tls_loglevel", NULL, 0);
    t->loglevel = loglevel < 0 ? 0 : (int)loglevel;
    t->received_header =
        config_get_bool(r->cf, "smtpd_tls_received_header") == 1;
    /* The certificate is main.cf's; a master.cf service may turn TLS on
     * (-o smtpd_tls_security_level=encrypt on submission) where main.cf
     * leaves it off. */
    wanted = t->level != RELAY_TLS_NONE;
    for (size_t i = 0; i < r->nlisteners; i++)
        wanted |= r->listeners[i]->svc->p.smtpd_tls_level != RELAY_TLS_NONE ||
                  r->listeners[i]->svc->p.smtpd_tls_wrappermode;
    if (wanted)
        t->ctx = relay_tls_server_ctx(r);
}

void relay_tls_free(struct relay *r)
{
    if (r->tls == NULL)
        return;
    SSL_CTX_free(r->tls->ctx);
    free(r->tls);
    r->tls = NULL;
}
