/* channels/smtp/dkim.h - a DKIM signer (RFC 6376) on OpenSSL: relaxed/relaxed
 * canonicalization, rsa-sha256 and ed25519-sha256 (RFC 8463).
 *
 * No Herald dependencies: channels/smtp/test/dkim_vectors.c checks it
 * against the RFC 8463 Appendix A example on its own. Thread-safe: keys
 * are only read.
 */
#ifndef HERALD_CHANNELS_SMTP_DKIM_H
#define HERALD_CHANNELS_SMTP_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256 };

struct dkim_params {
    enum dkim_alg alg;
    EVP_PKEY *key;        /* RSA or Ed25519 private key */
    const char *domain;   /* d= */
    const char *selector; /* s= */
    const char *identity; /* i=, or NULL */
    const char *query;    /* q=, or NULL */
    long long t;          /* t=, unix seconds */
    /* h=: the header names to sign, in order, NULL-terminated; a name
     * listed more often than the message has it also signs its absence
     * (oversigning). NULL: every name of dkim_default_headers, each once
     * more than the message has it. */
    const char *const *headers;
    const char *h_sep; /* between h= names: ":" (default) or " : " */
};

/* The header names Herald signs by default (each oversigned). */
extern const char *const dkim_default_headers[];

/* Signs msg (RFC 5322, CRLF line ends). Returns the whole folded
 * "DKIM-Signature: ...\r\n" header (malloc'd; lines under 78 characters),
 * or NULL with *why set (static text). */
char *dkim_signature(const struct dkim_params *p, const uint8_t *msg, size_t len, const char **why);

/* Helpers, exposed for tests: the relaxed body hash (base64 of SHA-256)
 * into out (at least 45 bytes). Returns 0, or -1 with *why set. */
int dkim_body_hash(const uint8_t *msg, size_t len, char *out, const char **why);

#endif
