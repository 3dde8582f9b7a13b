/* channels/smtp/dkim.c - DKIM signatures (RFC 6376) with OpenSSL:
 * relaxed/relaxed canonicalization, rsa-sha256 (PKCS #1 v1.5) and
 * ed25519-sha256 (RFC 8463: Ed25519 over the SHA-256 of the data).
 *
 * The signature header is built first with an empty b= (folded under 78
 * columns), canonicalized like every signed header (relaxed: name in lower
 * case, continuation lines unfolded, runs of white space made one space, no
 * white space around the colon or at the end), appended to the signed
 * headers' canonical form without its CRLF, signed, and then the signature
 * goes after b=. A verifier that removes the b= value finds the same text.
 */
#include "dkim.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

const char *const dkim_default_headers[] = {"from",
                                            "to",
                                            "cc",
                                            "reply-to",
                                            "sender",
                                            "subject",
                                            "date",
                                            "message-id",
                                            "mime-version",
                                            "content-type",
                                            "content-language",
                                            "x-herald-campaign",
                                            "auto-submitted",
                                            "list-unsubscribe",
                                            "list-unsubscribe-post",
                                            NULL};

#define FOLD_AT 76 /* columns a header line may reach before a fold */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static bool wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- canonicalization ------------------------------------------------------- */

/* Relaxed canonical form of one header field, raw[0..n) including its final
 * CRLF (and any folded continuation lines), appended to out. */
static void canon_header(struct sbuf *out, const char *raw, size_t n, bool final_crlf)
{
    const char *colon = memchr(raw, ':', n);
    if (colon == NULL)
        return;
    size_t nl = (size_t)(colon - raw);
    while (nl > 0 && wsp(raw[nl - 1]))
        nl--;
    for (size_t i = 0; i < nl; i++) {
        char c = (char)tolower((unsigned char)raw[i]);
        sb_add(out, &c, 1);
    }
    sb_add(out, ":", 1);
    const char *p = colon + 1, *end = raw + n;
    bool pending_space = false, started = false;
    for (; p < end; p++) {
        char c = *p;
        if (c == '\r' || c == '\n')
            continue; /* unfold */
        if (wsp(c)) {
            pending_space = started;
            continue;
        }
        if (pending_space)
            sb_add(out, " ", 1);
        pending_space = false;
        started = true;
        sb_add(out, &c, 1);
    }
    if (final_crlf)
        sb_add(out, "\r\n", 2);
}

/* Relaxed body canonicalization straight into the digest. */
static int hash_body(EVP_MD_CTX *md, const char *body, size_t n)
{
    char line[1024];
    size_t blank = 0;
    const char *p = body, *end = body + n;
    while (p < end) {
        const char *eol = p;
        while (eol < end && !(eol[0] == '\r' && eol + 1 < end && eol[1] == '\n'))
            eol++;
        /* one line p..eol, without its CRLF */
        size_t o = 0;
        bool pending_space = false;
        bool empty = true;
        for (const char *q = p; q < eol; q++) {
            if (wsp(*q)) {
                pending_space = true;
                continue;
            }
            if (o + 3 > sizeof line) {
                if (EVP_DigestUpdate(md, line, o) != 1)
                    return -1;
                o = 0;
            }
            if (empty) {
                /* the blank lines before this one were not trailing */
                for (; blank > 0; blank--)
                    if (EVP_DigestUpdate(md, "\r\n", 2) != 1)
                        return -1;
            }
            if (pending_space)
                line[o++] = ' ';
            pending_space = false;
            empty = false;
            line[o++] = *q;
        }
        if (empty) {
            blank++;
        } else {
            line[o++] = '\r';
            line[o++] = '\n';
            if (EVP_DigestUpdate(md, line, o) != 1)
                return -1;
        }
        p = eol < end ? eol + 2 : end;
    }
    return 0; /* trailing blank lines are dropped */
}

int dkim_body_hash(const uint8_t *msg, size_t len, char *out, const char **why)
{
    const char *m = (const char *)msg;
    size_t body = 0; /* offset of the body, after the empty line */
    if (len >= 2 && m[0] == '\r' && m[1] == '\n')
        body = 2; /* no header fields at all */
    for (size_t i = 0; body == 0 && i + 3 < len; i++)
        if (m[i] == '\r' && m[i + 1] == '\n' && m[i + 2] == '\r' && m[i + 3] == '\n')
            body = i + 4;
    if (body == 0) {
        *why = "the message has no empty line between header and body";
        return -1;
    }
    unsigned char dig[32];
    unsigned dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             hash_body(md, m + body, len - body) == 0 && EVP_DigestFinal_ex(md, dig, &dl) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        *why = "SHA-256 failed (OpenSSL)";
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)out, dig, 32);
    return 0;
}

/* ---- the signature ------------------------------------------------------------ */

struct field {
    const char *raw;
    size_t len;     /* including the final CRLF */
    size_t namelen; /* up to the colon, without trailing white space */
    bool used;
};

/* Splits the header block into fields; returns their count or -1. */
static long split_fields(const char *m, size_t hlen, struct field **out)
{
    size_t cap = 32, n = 0;
    struct field *f = malloc(cap * sizeof *f);
    if (f == NULL)
        return -1;
    size_t i = 0;
    while (i < hlen) {
        size_t start = i;
        /* a field: this line and every following line that starts with WSP */
        do {
            while (i + 1 < hlen && !(m[i] == '\r' && m[i + 1] == '\n'))
                i++;
            i = i + 2 <= hlen ? i + 2 : hlen;
        } while (i < hlen && wsp(m[i]));
        const char *colon = memchr(m + start, ':', i - start);
        if (colon == NULL)
            continue; /* not a header field: ignored, never signed */
        if (n == cap) {
            struct field *g = realloc(f, (cap *= 2) * sizeof *f);
            if (g == NULL) {
                free(f);
                return -1;
            }
            f = g;
        }
        size_t nl = (size_t)(colon - (m + start));
        while (nl > 0 && wsp(m[start + nl - 1]))
            nl--;
        f[n++] = (struct field){m + start, i - start, nl, false};
    }
    *out = f;
    return (long)n;
}

/* Appends token to the header being built, folding first when the line
 * would pass FOLD_AT; space: a space separates it from what precedes. */
static void fold_add(struct sbuf *h, size_t *col, const char *tok, bool space)
{
    size_t n = strlen(tok);
    if (*col + (space ? 1 : 0) + n > FOLD_AT && *col > 1) {
        sb_str(h, "\r\n ");
        *col = 1;
    } else if (space) {
        sb_add(h, " ", 1);
        (*col)++;
    }
    sb_add(h, tok, n);
    *col += n;
}

static bool token_ok(const char *s, bool dots)
{
    if (s == NULL || *s == '\0' || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || (dots && *s == '.')))
            return false;
    return true;
}

char *dkim_signature(const struct dkim_params *p, const uint8_t *msg, size_t len, const char **why)
{
    const char *m = (const char *)msg;
    char bh[64], tok[320];
    struct field *fields = NULL;
    struct sbuf h = {0}, data = {0};
    const char *names_buf[64];
    const char *const *names = p->headers;
    const char *sep = p->h_sep ? p->h_sep : ":";
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *b64 = NULL, *result = NULL;
    EVP_MD_CTX *md = NULL;
    long nf;

    if (!token_ok(p->domain, true) || !token_ok(p->selector, true) || p->key == NULL) {
        *why = "bad DKIM domain, selector or key";
        return NULL;
    }
    if (dkim_body_hash(msg, len, bh, why) != 0)
        return NULL;
    size_t hlen = 0;
    if (!(len >= 2 && m[0] == '\r' && m[1] == '\n'))
        for (; hlen + 3 < len; hlen++)
            if (m[hlen] == '\r' && m[hlen + 1] == '\n' && m[hlen + 2] == '\r' &&
                m[hlen + 3] == '\n')
                break;
    hlen = hlen ? hlen + 2 : 0; /* through the last field's CRLF */
    if ((nf = split_fields(m, hlen, &fields)) < 0) {
        *why = "out of memory";
        return NULL;
    }
    if (names == NULL) { /* each default name once more than present */
        size_t k = 0;
        for (size_t i = 0; dkim_default_headers[i]; i++) {
            const char *nm = dkim_default_headers[i];
            size_t count = 0;
            for (long j = 0; j < nf; j++)
                count += fields[j].namelen == strlen(nm) &&
                         strncasecmp(fields[j].raw, nm, fields[j].namelen) == 0;
            for (size_t c = 0; c <= count && k + 1 < sizeof names_buf / sizeof names_buf[0]; c++)
                names_buf[k++] = nm;
        }
        names_buf[k] = NULL;
        names = names_buf;
    }

    /* the signed header fields, canonical, bottom-up per name */
    for (size_t i = 0; names[i]; i++) {
        size_t nl = strlen(names[i]);
        for (long j = nf - 1; j >= 0; j--) {
            if (fields[j].used || fields[j].namelen != nl ||
                strncasecmp(fields[j].raw, names[i], nl) != 0)
                continue;
            fields[j].used = true;
            canon_header(&data, fields[j].raw, fields[j].len, true);
            break;
        }
    }

    /* the DKIM-Signature header with an empty b= */
    size_t col = 0;
    sb_str(&h, "DKIM-Signature:");
    col = strlen("DKIM-Signature:");
    fold_add(&h, &col, "v=1;", true);
    fold_add(&h, &col, p->alg == DKIM_RSA_SHA256 ? "a=rsa-sha256;" : "a=ed25519-sha256;", true);
    fold_add(&h, &col, "c=relaxed/relaxed;", true);
    snprintf(tok, sizeof tok, "d=%s;", p->domain);
    fold_add(&h, &col, tok, true);
    if (p->identity) {
        snprintf(tok, sizeof tok, "i=%s;", p->identity);
        fold_add(&h, &col, tok, true);
    }
    if (p->query) {
        snprintf(tok, sizeof tok, "q=%s;", p->query);
        fold_add(&h, &col, tok, true);
    }
    snprintf(tok, sizeof tok, "s=%s;", p->selector);
    fold_add(&h, &col, tok, true);
    snprintf(tok, sizeof tok, "t=%lld;", p->t);
    fold_add(&h, &col, tok, true);
    {
        bool spaced = strchr(sep, ' ') != NULL;
        for (size_t i = 0; names[i]; i++) {
            snprintf(tok, sizeof tok, "%s%s%s", i == 0 ? "h=" : "", names[i],
                     names[i + 1] ? (spaced ? " :" : ":") : ";");
            fold_add(&h, &col, tok, i == 0 || spaced);
        }
    }
    snprintf(tok, sizeof tok, "bh=%s;", bh);
    fold_add(&h, &col, tok, true);
    fold_add(&h, &col, "b=", true);
    canon_header(&data, h.p ? h.p : "", h.len, false);
    if (h.oom || data.oom) {
        *why = "out of memory";
        goto out;
    }

    /* sign */
    md = EVP_MD_CTX_new();
    if (md == NULL) {
        *why = "out of memory";
        goto out;
    }
    if (p->alg == DKIM_RSA_SHA256) {
        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, p->key) != 1 ||
            EVP_DigestSignUpdate(md, data.p, data.len) != 1 ||
            EVP_DigestSignFinal(md, NULL, &siglen) != 1 || (sig = malloc(siglen)) == NULL ||
            EVP_DigestSignFinal(md, sig, &siglen) != 1) {
            *why = "RSA signing failed (OpenSSL)";
            goto out;
        }
    } else {
        unsigned char dig[32];
        unsigned dl = 0;
        if (EVP_Digest(data.p, data.len, dig, &dl, EVP_sha256(), NULL) != 1 ||
            EVP_DigestSignInit(md, NULL, NULL, NULL, p->key) != 1 ||
            EVP_DigestSign(md, NULL, &siglen, dig, dl) != 1 || (sig = malloc(siglen)) == NULL ||
            EVP_DigestSign(md, sig, &siglen, dig, dl) != 1) {
            *why = "Ed25519 signing failed (OpenSSL)";
            goto out;
        }
    }
    b64 = malloc(4 * ((siglen + 2) / 3) + 1);
    if (b64 == NULL) {
        *why = "out of memory";
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
    for (const char *s = b64; *s;) {
        size_t room = col < FOLD_AT ? FOLD_AT - col : 0, left = strlen(s);
        if (room == 0) {
            sb_str(&h, "\r\n ");
            col = 1;
            continue;
        }
        size_t n = left < room ? left : room;
        sb_add(&h, s, n);
        col += n;
        s += n;
    }
    sb_str(&h, "\r\n");
    if (h.oom) {
        *why = "out of memory";
        goto out;
    }
    result = h.p;
    h.p = NULL;
out:
    EVP_MD_CTX_free(md);
    free(sig);
    free(b64);
    free(fields);
    free(h.p);
    if (data.p)
        OPENSSL_cleanse(data.p, data.len);
    free(data.p);
    return result;
}
