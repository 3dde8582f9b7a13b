/* channels/smtp/test/dkim_vectors.c - the DKIM signer (../dkim.c) against
 * the example of RFC 8463 Appendix A: the RFC 6376 example message signed
 * with the RFC's RSA key (selector "test") and Ed25519 key (selector
 * "brisbane"), t=1528637909, relaxed/relaxed. Both algorithms are
 * deterministic (PKCS #1 v1.5, Ed25519), so the body hash and the
 * signatures must equal the RFC's byte for byte.
 *
 * Built and run by tests/e2e/test_smtp_dkim.sh:
 *   cc -std=c11 -I channels/smtp channels/smtp/test/dkim_vectors.c \
 *      channels/smtp/dkim.c -lcrypto
 * Prints the signature headers; exits 1 on any difference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dkim.h"

/* RFC 8463 A.2: the RSA key of selector "test" (1024 bits, as in the RFC). */
static const char rsa_pem[] = "-----BEGIN RSA PRIVATE KEY-----\n"
                              "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
                              "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
                              "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
                              "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
                              "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
                              "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
                              "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
                              "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
                              "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
                              "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
                              "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
                              "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
                              "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
                              "-----END RSA PRIVATE KEY-----\n";

/* RFC 8463 A.2: the Ed25519 private key of selector "brisbane" (its seed). */
static const char ed25519_seed_b64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

/* RFC 6376 A.1 / RFC 8463 A.3: the message. */
static const char message[] = "From: Joe SixPack <joe@football.example.com>\r\n"
                              "To: Suzie Q <suzie@shopping.example.net>\r\n"
                              "Subject: Is dinner ready?\r\n"
                              "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                              "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
                              "\r\n"
                              "Hi.\r\n"
                              "\r\n"
                              "We lost the game.  Are you hungry yet?\r\n"
                              "\r\n"
                              "Joe.\r\n";

/* RFC 8463 A.3: what the signatures carry (white space removed). */
static const char want_bh[] = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";
static const char want_ed25519_b[] = "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus"
                                     "Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
static const char want_rsa_b[] = "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3"
                                 "DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz"
                                 "dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=";

static const char *const rfc_headers[] = {"from", "to",      "subject", "date", "message-id",
                                          "from", "subject", "date",    NULL};

/* The value of tag in a DKIM-Signature header, white space removed. */
static void tag_value(const char *header, const char *tag, char *out, size_t cap)
{
    char pat[16];
    size_t o = 0;
    snprintf(pat, sizeof pat, " %s=", tag);
    const char *p = strstr(header, pat);
    if (p == NULL) {
        snprintf(pat, sizeof pat, ";%s=", tag);
        p = strstr(header, pat);
    }
    if (p)
        for (p += strlen(pat); *p && *p != ';' && o + 1 < cap; p++)
            if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                out[o++] = *p;
    out[o] = '\0';
}

static int check(const char *name, const char *got, const char *want)
{
    if (strcmp(got, want) == 0) {
        printf("ok: %s matches RFC 8463\n", name);
        return 0;
    }
    printf("FAIL: %s\n  got  %s\n  want %s\n", name, got, want);
    return 1;
}

static int max_line(const char *h)
{
    int longest = 0, cur = 0;
    for (; *h; h++) {
        if (*h == '\n') {
            cur = 0;
            continue;
        }
        if (*h != '\r' && ++cur > longest)
            longest = cur;
    }
    return longest;
}

int main(void)
{
    int fails = 0;
    const char *why = "?";
    char got[512], bh[64];
    unsigned char seed[33];

    BIO *bio = BIO_new_mem_buf(rsa_pem, -1);
    EVP_PKEY *rsa = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (EVP_DecodeBlock(seed, (const unsigned char *)ed25519_seed_b64,
                        (int)strlen(ed25519_seed_b64)) < 32) {
        puts("FAIL: bad seed");
        return 1;
    }
    EVP_PKEY *ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (rsa == NULL || ed == NULL) {
        puts("FAIL: cannot load the RFC 8463 keys");
        return 1;
    }

    if (dkim_body_hash((const uint8_t *)message, strlen(message), bh, &why) != 0) {
        printf("FAIL: body hash: %s\n", why);
        return 1;
    }
    fails += check("relaxed body hash (bh=)", bh, want_bh);

    struct dkim_params p = {.alg = DKIM_ED25519_SHA256,
                            .key = ed,
                            .domain = "football.example.com",
                            .selector = "brisbane",
                            .identity = "@football.example.com",
                            .query = "dns/txt",
                            .t = 1528637909,
                            .headers = rfc_headers,
                            .h_sep = " : "};
    char *h = dkim_signature(&p, (const uint8_t *)message, strlen(message), &why);
    if (h == NULL) {
        printf("FAIL: ed25519-sha256: %s\n", why);
        return 1;
    }
    fputs(h, stdout);
    tag_value(h, "b", got, sizeof got);
    fails += check("ed25519-sha256 signature (b=)", got, want_ed25519_b);
    tag_value(h, "bh", got, sizeof got);
    fails += check("ed25519-sha256 bh=", got, want_bh);
    if (max_line(h) > 78)
        fails += check("ed25519 header lines <= 78", "longer", "no");
    free(h);

    p.alg = DKIM_RSA_SHA256;
    p.key = rsa;
    p.selector = "test";
    h = dkim_signature(&p, (const uint8_t *)message, strlen(message), &why);
    if (h == NULL) {
        printf("FAIL: rsa-sha256: %s\n", why);
        return 1;
    }
    fputs(h, stdout);
    tag_value(h, "b", got, sizeof got);
    fails += check("rsa-sha256 signature (b=)", got, want_rsa_b);
    if (max_line(h) > 78)
        fails += check("rsa header lines <= 78", "longer", "no");
    free(h);

    /* Herald's own defaults (oversigned core headers) on the same message. */
    p.identity = NULL;
    p.query = NULL;
    p.headers = NULL;
    p.h_sep = NULL;
    h = dkim_signature(&p, (const uint8_t *)message, strlen(message), &why);
    char flat[2048];
    size_t o = 0;
    for (const char *q = h ? h : ""; *q && o + 1 < sizeof flat; q++)
        if (*q != '\r' && *q != '\n' && !(*q == ' ' && q > h && q[-1] == '\n'))
            flat[o++] = *q;
    flat[o] = '\0';
    if (h == NULL || strstr(flat, "h=from:from:to:to:cc:reply-to:sender:subject:subject:date:"
                                  "date:message-id:message-id:") == NULL) {
        printf("FAIL: default header list: %s\n", h ? h : why);
        fails++;
    } else {
        printf("ok: default h= oversigns present headers, signs absent ones: %.70s...\n",
               strstr(flat, "h="));
    }
    if (h && max_line(h) > 78)
        fails += check("default header lines <= 78", "longer", "no");
    free(h);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
    return fails ? 1 : 0;
}
