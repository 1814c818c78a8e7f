/*
 * tls.c — the server side of STARTTLS (RFC 3207): one SSL_CTX per fakemx
 * with a self-signed certificate made in memory at startup (an EC P-256
 * key, CN = the first TLS host's name, valid for a day either side of
 * now). Nothing touches the disk; the key dies with the process.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fakemx_int.h"
#include "mxlab/log.h"

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
    X509_NAME *subject;
    SSL_CTX *ctx = NULL;

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL) {
        fakemx_tls_log_error("key generation");
        goto fail;
    }
    if ((crt = X509_new()) == NULL || !X509_set_version(crt, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(crt), 1) ||
        X509_gmtime_adj(X509_getm_notBefore(crt), -86400) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(crt), 86400L * 365) == NULL ||
        !X509_set_pubkey(crt, key)) {
        fakemx_tls_log_error("certificate");
        goto fail;
    }
    subject = X509_get_subject_name(crt);
    if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                    (const unsigned char *)name, -1, -1, 0) ||
        !X509_set_issuer_name(crt, subject) ||
        !X509_sign(crt, key, EVP_sha256())) {
        fakemx_tls_log_error("certificate signature");
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
