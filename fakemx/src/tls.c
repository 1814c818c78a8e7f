/*
 * tls.c — the server side of STARTTLS (RFC 3207): one SSL_CTX per fakemx
 * with a self-signed certificate made in memory at startup by lib's
 * tls_selfsigned() (an EC P-256 key, CN = the first TLS host's name).
 * Nothing touches the disk; the key dies with the process.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fakemx_int.h"
#include "mxlab/log.h"
#include "mxlab/tlsutil.h"

static void fakemx_tls_log_error(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    ERR_error_string_n(e, buf, sizeof(buf));
    log_warnx("STARTTLS: %s: %s", what, e ? buf : "failure");
    ERR_clear_error();
}

SSL_CTX *fakemx_tls_ctx_new(const char *name)
{
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    SSL_CTX *ctx = NULL;
    char err[300];

    if (tls_selfsigned(name, TLS_KEY_EC, &key, &crt, err, sizeof(err)) < 0) {
        log_warnx("STARTTLS: %s", err);
        goto fail;
    }
    if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
        !SSL_CTX_use_certificate(ctx, crt) ||
        !SSL_CTX_use_PrivateKey(ctx, key) || !SSL_CTX_check_private_key(ctx)) {
        fakemx_tls_log_error("context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    X509_free(crt);
    EVP_PKEY_free(key);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    X509_free(crt);
    EVP_PKEY_free(key);
    return NULL;
}

void fakemx_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}
