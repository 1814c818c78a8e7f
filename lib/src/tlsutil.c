/*
 * tlsutil.c — shared TLS helpers (see tlsutil.h): self-signed
 * certificates, PEM text, OpenSSL's error queue as Postfix prints it, and
 * the session summary of Postfix's tls_log_summary() (tls_misc.c,
 * tls_get_signature_params(): TLS 1.3 key exchange and signature details).
 */
#include "mxlab/tlsutil.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/xmem.h"

static void tls_err_text(char *err, size_t errlen, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s: %s", what, e ? buf : "failure");
    ERR_clear_error();
}

/* A DNS subjectAltName for cn, as clients that check names expect. */
static int tls_add_san(X509 *crt, const char *cn)
{
    char *value = xasprintf("DNS:%s", cn);
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, crt, crt, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, value);
    ok = ext != NULL && X509_add_ext(crt, ext, -1);
    X509_EXTENSION_free(ext);
    free(value);
    return ok;
}

int tls_selfsigned(const char *cn, enum tls_keytype type, EVP_PKEY **key,
                   X509 **crt, char *err, size_t errlen)
{
    EVP_PKEY *k = NULL;
    X509 *c = NULL;
    X509_NAME *subject;

    k = type == TLS_KEY_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                            : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k == NULL) {
        tls_err_text(err, errlen, "key generation");
        goto fail;
    }
    if ((c = X509_new()) == NULL || !X509_set_version(c, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(c), 1) ||
        X509_gmtime_adj(X509_getm_notBefore(c), -86400) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 365) == NULL ||
        !X509_set_pubkey(c, k)) {
        tls_err_text(err, errlen, "certificate");
        goto fail;
    }
    subject = X509_get_subject_name(c);
    if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(c, subject) || !tls_add_san(c, cn) ||
        !X509_sign(c, k, EVP_sha256())) {
        tls_err_text(err, errlen, "certificate signature");
        goto fail;
    }
    *key = k;
    *crt = c;
    return 0;

fail:
    X509_free(c);
    EVP_PKEY_free(k);
    return -1;
}

void tls_pem(struct strbuf *out, EVP_PKEY *key, X509 *crt)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;

    if (bio == NULL)
        return;
    if (key != NULL)
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    if (crt != NULL)
        PEM_write_bio_X509(bio, crt);
    len = BIO_get_mem_data(bio, &data);
    if (len > 0)
        strbuf_append(out, data, (size_t)len);
    BIO_free(bio);
}

void tls_errors(struct strbuf *out)
{
    const char *file, *data;
    int line, flags;
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error_all(&file, &line, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        strbuf_printf(out, "%s:%s:%d:", buf, file ? file : "", line);
        if (flags & ERR_TXT_STRING)
            strbuf_printf(out, "%s:", data);
        strbuf_putc(out, '\n');
    }
}

/* A key as Postfix names it: for a signature "RSA-PSS (2048 bits)" (TLS
 * 1.3 signs with PSS) or "ECDSA (prime256v1)"; for a key exchange
 * "ECDHE (prime256v1)" or "DHE (2048 bits)"; else OpenSSL's short name
 * ("X25519"). */
static void tls_pkey_name(struct strbuf *out, EVP_PKEY *pkey, int signing)
{
    int id = EVP_PKEY_get_base_id(pkey);
    char group[80];

    if (id == EVP_PKEY_RSA && signing) {
        strbuf_printf(out, "RSA-PSS (%d bits)", EVP_PKEY_get_bits(pkey));
    } else if (id == EVP_PKEY_DH) {
        strbuf_printf(out, "DHE (%d bits)", EVP_PKEY_get_bits(pkey));
    } else if (id == EVP_PKEY_EC) {
        strbuf_puts(out, signing ? "ECDSA" : "ECDHE");
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL))
            strbuf_printf(out, " (%s)", group);
    } else {
        strbuf_puts(out, OBJ_nid2sn(id));
    }
}

/* " server-signature ECDSA (prime256v1) server-digest SHA256": one
 * end's certificate key and signature digest (NID_undef: none). */
static void tls_sig_detail(struct strbuf *out, const char *role, X509 *crt,
                           int digest)
{
    if (crt == NULL || X509_get0_pubkey(crt) == NULL)
        return;
    strbuf_printf(out, " %s-signature ", role);
    tls_pkey_name(out, X509_get0_pubkey(crt), 1);
    if (digest != NID_undef)
        strbuf_printf(out, " %s-digest %s", role, OBJ_nid2sn(digest));
}

void tls_describe(SSL *ssl, struct strbuf *summary, struct strbuf *details)
{
    const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
    int alg = 0, use = cipher ? SSL_CIPHER_get_bits(cipher, &alg) : 0;
    int server = SSL_is_server(ssl), nid;
    EVP_PKEY *kex = NULL;
    X509 *peer;

    strbuf_printf(summary, "%s with cipher %s (%d/%d bits)",
                  SSL_get_version(ssl),
                  cipher ? SSL_CIPHER_get_name(cipher) : "(NONE)", use, alg);
    if (SSL_version(ssl) < TLS1_3_VERSION)
        return;
    if (SSL_get_peer_tmp_key(ssl, &kex) && kex != NULL) {
        strbuf_puts(details, " key-exchange ");
        tls_pkey_name(details, kex, 0);
        EVP_PKEY_free(kex);
    }
    /* The local end, then the peer: "server-" or "client-" by role. */
    if (server || SSL_get_signature_nid(ssl, &nid))
        tls_sig_detail(details, server ? "server" : "client",
                       SSL_get_certificate(ssl),
                       SSL_get_signature_nid(ssl, &nid) ? nid : NID_undef);
    if ((peer = SSL_get1_peer_certificate(ssl)) != NULL) {
        tls_sig_detail(details, server ? "client" : "server", peer,
                       SSL_get_peer_signature_nid(ssl, &nid) ? nid : NID_undef);
        X509_free(peer);
    }
}
