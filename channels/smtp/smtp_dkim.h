/* channels/smtp/smtp_dkim.h - private to the smtp channel module: the dkim:
 * settings and signing (smtp_dkim.c, on the signer of dkim.c). */
#ifndef HERALD_CHANNELS_SMTP_SMTP_DKIM_H
#define HERALD_CHANNELS_SMTP_SMTP_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "builtin.h"

struct dkim_signer;

/* Loads the dkim: settings mapping (domain, selector, rsa_selector,
 * ed25519_selector, rsa_key_file, ed25519_key_file; at least one key).
 * Returns NULL with err set (located at the offending node). */
struct dkim_signer *dkim_load(const struct hd_channel_view *view, const struct hd_ynode *map,
                              struct hd_err *err);
void dkim_free(struct dkim_signer *d);
/* Checks the same mapping without reading the key files (for check());
 * copies the signing domain into domain. 0, or -1 with err set. */
int dkim_check(const struct hd_ynode *map, char *domain, size_t size, struct hd_err *err);
const char *dkim_domain(const struct dkim_signer *d);

/* Signs msg (CRLF line ends): returns a malloc'd copy with the
 * DKIM-Signature header(s) in front and its length in *out_len, or NULL
 * with *why set (static text). Thread-safe. */
uint8_t *dkim_sign(const struct dkim_signer *d, const uint8_t *msg, size_t len, size_t *out_len,
                   const char **why);

#endif
