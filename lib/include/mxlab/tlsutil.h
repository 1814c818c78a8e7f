/*
 * tlsutil.h — what the lab's TLS users share (RFC 3207 STARTTLS servers
 * and clients, the harness's generated certificates): self-signed
 * certificates made in memory, PEM files, OpenSSL's error queue as text,
 * and a TLS session described as Postfix's tls_log_summary() does.
 * Knows nothing of SMTP.
 */
#ifndef MXLAB_TLSUTIL_H
#define MXLAB_TLSUTIL_H

#include <openssl/ssl.h>
#include <stddef.h>

struct strbuf;

enum tls_keytype { TLS_KEY_EC, TLS_KEY_RSA };

/* A self-signed X.509 v3 certificate for cn (subject and issuer CN, also
 * a DNS subjectAltName), valid from a day ago for a year, with a new key:
 * EC P-256 or RSA-2048. 0, or -1 with OpenSSL's reason in err. The caller
 * frees *key (EVP_PKEY_free) and *crt (X509_free). */
int tls_selfsigned(const char *cn, enum tls_keytype type, EVP_PKEY **key,
                   X509 **crt, char *err, size_t errlen);

/* key (if not NULL) then crt (if not NULL) in PEM, appended to out. */
void tls_pem(struct strbuf *out, EVP_PKEY *key, X509 *crt);

/* OpenSSL's error queue, emptied: each error as Postfix's
 * tls_print_errors() writes it ("error:0A00010B:SSL routines::wrong
 * version number:FILE:LINE:"), one per line (with '\n'), into out. */
void tls_errors(struct strbuf *out);

/* An established session as Postfix 3.7 logs it: "TLSv1.3 with cipher
 * TLS_AES_256_GCM_SHA384 (256/256 bits)" into summary, and the TLS 1.3
 * details " key-exchange X25519 server-signature ECDSA (prime256v1)
 * server-digest SHA256" (empty before TLS 1.3) into details. */
void tls_describe(SSL *ssl, struct strbuf *summary, struct strbuf *details);

#endif
