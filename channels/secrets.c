/* channels/secrets.c - redaction of a module's secrets from the texts it
 * reports (builtin.h: struct hd_secrets). One place for every built-in
 * module, so a service that echoes credentials in its replies cannot put
 * them into the store, the proofs or the log. */
#define _GNU_SOURCE /* memmem */
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/str.h"
#include "herald/proof.h"
#include "builtin.h"

#define TAIL_MIN 6 /* a reply cut short may end in a secret's first bytes */

int hd_secrets_add(struct hd_secrets *sec, const char *secret, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < sec->n; i++)
        if (sec->len[i] == len && memcmp(sec->s[i], secret, len) == 0)
            return 0;
    if (sec->n == HD_SECRETS_MAX)
        return -1;
    char *c = malloc(len + 1);
    if (c == NULL)
        return -1;
    memcpy(c, secret, len);
    c[len] = '\0';
    sec->s[sec->n] = c;
    sec->len[sec->n++] = len;
    return 0;
}

int hd_secrets_add_b64(struct hd_secrets *sec, const unsigned char *secret, size_t len)
{
    if (len == 0)
        return 0;
    char *b = malloc(HD_BASE64_LEN(len) + 1);
    if (b == NULL)
        return -1;
    size_t n = hd_base64_encode(secret, len, b);
    int rc = hd_secrets_add(sec, b, n);
    OPENSSL_cleanse(b, n);
    free(b);
    return rc;
}

void hd_secrets_free(struct hd_secrets *sec)
{
    if (sec == NULL)
        return;
    for (size_t i = 0; i < sec->n; i++) {
        OPENSSL_cleanse(sec->s[i], sec->len[i]);
        free(sec->s[i]);
        sec->s[i] = NULL;
    }
    sec->n = 0;
}

/* The first secret occurring in text[0..len) at the lowest position. */
static const char *find_first(const struct hd_secrets *sec, const char *text, size_t len,
                              size_t *which)
{
    const char *best = NULL;
    for (size_t i = 0; i < sec->n; i++) {
        const char *p = memmem(text, len, sec->s[i], sec->len[i]);
        if (p && (best == NULL || p < best || (p == best && sec->len[i] > sec->len[*which]))) {
            best = p;
            *which = i;
        }
    }
    return best;
}

size_t hd_secrets_redact(const struct hd_secrets *sec, char *text, size_t cap)
{
    size_t count = 0, len, at = 0, which = 0;
    const size_t rl = sizeof HD_REDACTED - 1;
    if (sec == NULL || sec->n == 0 || text == NULL || cap == 0)
        return 0;
    len = strlen(text);
    for (;;) {
        const char *p = find_first(sec, text + at, len - at, &which);
        if (p == NULL)
            break;
        size_t pos = (size_t)(p - text), sl = sec->len[which];
        size_t tail = len - pos - sl;
        /* text[pos..pos+sl) becomes HD_REDACTED; what follows moves, cut at cap */
        size_t keep = pos + rl + tail < cap ? tail : (pos + rl < cap ? cap - 1 - pos - rl : 0);
        size_t put = pos + rl < cap ? rl : cap - 1 - pos;
        memmove(text + pos + put, text + pos + sl, keep);
        memcpy(text + pos, HD_REDACTED, put);
        len = pos + put + keep;
        text[len] = '\0';
        at = pos + put;
        count++;
        if (put < rl)
            break;
    }
    /* a tail that is a secret's beginning: the reply was cut inside it */
    for (size_t i = 0; i < sec->n; i++) {
        size_t sl = sec->len[i];
        size_t from = len > sl ? len - sl + 1 : 0;
        for (size_t pos = from; pos + TAIL_MIN <= len; pos++) {
            if (memcmp(text + pos, sec->s[i], len - pos) != 0)
                continue;
            size_t put = pos + rl < cap ? rl : cap - 1 - pos;
            memcpy(text + pos, HD_REDACTED, put);
            len = pos + put;
            text[len] = '\0';
            count++;
            break;
        }
    }
    return count;
}

static size_t redact_cb(const void *ctx, char *text, size_t cap)
{
    return hd_secrets_redact(ctx, text, cap);
}

void hd_secrets_guard(struct hd_channel_out *out, const struct hd_secrets *sec)
{
    /* no secret, no copies: the outcome goes out as it is */
    out->redact = sec && sec->n ? redact_cb : NULL;
    out->redact_ctx = sec;
}
