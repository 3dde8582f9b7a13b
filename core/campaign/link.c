/* link.c - the personal objection link (see herald/link.h and
 * docs/objection-link.md, which must stay in step with this file).
 *
 * Verification does not scan for separators. Once the campaign id is known,
 * {{campaign}} is fixed text and {{token}} is exactly HD_LINK_TOKEN_LEN
 * characters, so the only part of unknown length is {{person}}: everything
 * before it matches a prefix of the URL, everything after it a suffix, and
 * the person id is what lies between. That split is unambiguous whatever
 * characters separate the placeholders, and a truncated token or extra
 * trailing characters change a length or a byte and fail.
 */
#include "herald/link.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "herald/files.h"
#include "herald/hash.h"

/* Domain separation: the MAC input starts with this label and a NUL. */
static const char link_label[] = "herald-link-v1";

enum placeholder { PH_NONE, PH_TOKEN, PH_PERSON, PH_CAMPAIGN, PH_UNKNOWN, PH_UNTERMINATED };

/* Finds the next "{{...}}" at or after pos. Sets *start and *end to the
 * placeholder's bounds (end one past "}}") and returns its kind, PH_NONE when
 * there is none. Spaces inside the braces are allowed, as in notice
 * templates, so "{{ token }}" works too. */
static enum placeholder next_placeholder(const char *s, size_t pos, size_t *start, size_t *end)
{
    const char *open = strstr(s + pos, "{{");
    const char *close, *a, *b;
    size_t n;
    if (open == NULL)
        return PH_NONE;
    *start = (size_t)(open - s);
    close = strstr(open + 2, "}}");
    if (close == NULL) {
        *end = strlen(s);
        return PH_UNTERMINATED;
    }
    *end = (size_t)(close - s) + 2;
    a = open + 2;
    b = close;
    while (a < b && (*a == ' ' || *a == '\t'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    n = (size_t)(b - a);
    if (n == 5 && memcmp(a, "token", 5) == 0)
        return PH_TOKEN;
    if (n == 6 && memcmp(a, "person", 6) == 0)
        return PH_PERSON;
    if (n == 8 && memcmp(a, "campaign", 8) == 0)
        return PH_CAMPAIGN;
    return PH_UNKNOWN;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static const char hex_upper[] = "0123456789ABCDEF";

/* Writes s[0, n) percent-encoded to dst (room for 3 * n bytes), keeping
 * only RFC 3986 unreserved characters; returns the bytes written. */
static size_t percent_encode_to(char *dst, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex_upper[c >> 4];
            dst[o++] = hex_upper[c & 15];
        }
    }
    return o;
}

/* Appends s[0, n) percent-encoded. Returns 0 or -1 (out unchanged). */
static int percent_encode_n(struct hd_buf *out, const char *s, size_t n)
{
    if (n > HD_BUF_MAX / 3 || hd_buf_reserve(out, 3 * n) != 0)
        return -1;
    out->len += percent_encode_to(out->data + out->len, s, n);
    out->data[out->len] = '\0';
    return 0;
}

static int percent_encode(struct hd_buf *out, const char *s)
{
    return percent_encode_n(out, s, strlen(s));
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of s into out (room for n + 1). Returns the decoded
 * length, or -1 for a malformed escape or a NUL byte, which no C-string
 * person id can contain. */
static long percent_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hex_value((unsigned char)s[i + 1]);
            lo = hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of 16 bytes: 128 bits make 21 full sextets plus
 * 2 bits, hence 22 characters. */
static void encode_token(const unsigned char mac[16], char out[HD_LINK_TOKEN_LEN + 1])
{
    size_t o = 0;
    for (size_t i = 0; i < 16; i += 3) {
        unsigned v = (unsigned)mac[i] << 16;
        if (i + 1 < 16)
            v |= (unsigned)mac[i + 1] << 8;
        if (i + 2 < 16)
            v |= mac[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < 16)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < 16)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

/* The MAC input up to the person id: the label with its NUL, the campaign id
 * and a NUL. The NULs are part of the MAC input: ids cannot contain NUL, so
 * ("a", "bc") and ("ab", "c") never collide. */
static void absorb_prefix(struct hd_sha256 *work, const char *campaign_id, size_t campaign_len)
{
    static const char zero = 0;
    hd_sha256_update(work, link_label, sizeof link_label);
    hd_sha256_update(work, campaign_id, campaign_len);
    hd_sha256_update(work, &zero, 1);
}

/* Finishes the MAC begun by work (prefix and person absorbed) into a token. */
static void finish_token(const struct hd_hmac *k, struct hd_sha256 *work,
                         char out[HD_LINK_TOKEN_LEN + 1])
{
    uint8_t md[HD_SHA256_LEN];
    hd_hmac_end(k, work, md);
    encode_token(md, out);
    OPENSSL_cleanse(md, sizeof md);
}

void hd_link_token(const struct hd_link_secret *secret, const char *campaign_id,
                   const char *person_id, char out[HD_LINK_TOKEN_LEN + 1])
{
    struct hd_hmac k;
    struct hd_sha256 work;
    hd_hmac_init(&k, secret->bytes, secret->len);
    hd_hmac_begin(&k, &work);
    absorb_prefix(&work, campaign_id, strlen(campaign_id));
    hd_sha256_update(&work, person_id, strlen(person_id));
    finish_token(&k, &work, out);
    hd_hmac_wipe(&k);
}

int hd_link_template_check(const char *tmpl, struct hd_err *err)
{
    size_t pos = 0, start, end, host;
    int ntoken = 0, nperson = 0, ncampaign = 0;
    enum placeholder ph;

    if (tmpl == NULL || *tmpl == '\0') {
        hd_err_set(err, HD_EX_DATAERR, "objection link template is empty");
        return -1;
    }
    if (strncmp(tmpl, "https://", 8) == 0)
        host = 8;
    else if (strncmp(tmpl, "http://", 7) == 0)
        host = 7;
    else {
        hd_err_set(err, HD_EX_DATAERR,
                   "objection link template must start with \"https://\" or \"http://\"");
        return -1;
    }
    if (tmpl[host] == '\0' || tmpl[host] == '/' || tmpl[host] == '?' || tmpl[host] == '#') {
        hd_err_set(err, HD_EX_DATAERR, "objection link template has no host after \"%.*s\"",
                   (int)host, tmpl);
        return -1;
    }
    for (;;) {
        ph = next_placeholder(tmpl, pos, &start, &end);
        if (ph == PH_NONE)
            start = end = strlen(tmpl);
        /* Spaces and control characters would be mangled by mail clients and
         * cannot appear in a URL anyway. Inside braces spaces are allowed,
         * as in notice templates ("{{ token }}"). */
        for (size_t i = pos; i < start; i++) {
            unsigned char c = (unsigned char)tmpl[i];
            if (c <= 0x20 || c == 0x7f) {
                hd_err_set(err, HD_EX_DATAERR,
                           "objection link template contains a space or control character");
                return -1;
            }
        }
        if (ph == PH_NONE)
            break;
        switch (ph) {
        case PH_TOKEN:
            ntoken++;
            break;
        case PH_PERSON:
            nperson++;
            break;
        case PH_CAMPAIGN:
            ncampaign++;
            break;
        case PH_UNTERMINATED:
            hd_err_set(err, HD_EX_DATAERR, "objection link template has an unterminated \"{{\"");
            return -1;
        default:
            hd_err_set(err, HD_EX_DATAERR,
                       "objection link template has unknown placeholder \"%.*s\" (allowed: "
                       "{{token}}, {{person}}, {{campaign}})",
                       (int)(end - start), tmpl + start);
            return -1;
        }
        pos = end;
    }
    if (ntoken == 0 || nperson == 0) {
        hd_err_set(err, HD_EX_DATAERR, "objection link template lacks %s",
                   ntoken == 0 ? "{{token}}" : "{{person}}");
        return -1;
    }
    if (ntoken > 1 || nperson > 1 || ncampaign > 1) {
        hd_err_set(err, HD_EX_DATAERR, "objection link template has %s more than once",
                   ntoken > 1    ? "{{token}}"
                   : nperson > 1 ? "{{person}}"
                                 : "{{campaign}}");
        return -1;
    }
    return 0;
}

int hd_link_build(const struct hd_link_secret *secret, const char *tmpl, const char *campaign_id,
                  const char *person_id, struct hd_buf *out)
{
    char token[HD_LINK_TOKEN_LEN + 1];
    size_t pos = 0, start, end, mark = out->len;
    enum placeholder ph;
    int rc = -1;

    /* Building from an unchecked template could emit a link that can never
     * verify; refuse instead. */
    if (hd_link_template_check(tmpl, NULL) != 0)
        goto done;
    hd_link_token(secret, campaign_id, person_id, token);
    while ((ph = next_placeholder(tmpl, pos, &start, &end)) != PH_NONE) {
        int r;
        if (hd_buf_append(out, tmpl + pos, start - pos) != 0)
            goto done;
        if (ph == PH_TOKEN)
            r = hd_buf_append(out, token, HD_LINK_TOKEN_LEN);
        else if (ph == PH_PERSON)
            r = percent_encode(out, person_id);
        else
            r = percent_encode(out, campaign_id);
        if (r != 0)
            goto done;
        pos = end;
    }
    if (hd_buf_puts(out, tmpl + pos) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && out->data != NULL) {
        /* Leave out as it was rather than with half a URL. */
        out->len = mark;
        out->data[mark] = '\0';
    }
    OPENSSL_cleanse(token, sizeof token);
    return rc;
}

/* A prepared hd_link_build. The template check guarantees exactly one
 * {{token}} and one {{person}} and at most one {{campaign}}; the campaign id
 * is fixed per linker, so it is substituted into the literal text once. What
 * remains is text[0] ph[0] text[1] ph[1] text[2], with ph[] the token and the
 * person in template order and the texts possibly empty. The HMAC's inner
 * state has absorbed the key pad and the MAC input up to the person id, so a
 * token costs one SHA-256 of the person id plus the outer hash. */
struct hd_linker {
    struct hd_hmac mac;
    enum placeholder ph[2];
    size_t cut[3];    /* text[i] ends at text + cut[i]; text[i + 1] starts there */
    size_t fixed_len; /* literal bytes plus the token */
    char *text;
};

struct hd_linker *hd_linker_new(const struct hd_link_secret *secret, const char *tmpl,
                                const char *campaign_id, struct hd_err *err)
{
    struct hd_linker *l = NULL;
    struct hd_buf text = HD_BUF_INIT;
    struct hd_sha256 work;
    size_t pos = 0, start, end, nph = 0;
    enum placeholder ph;

    if (secret == NULL || campaign_id == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: objection link without %s",
                   secret == NULL ? "a secret" : "a campaign id");
        return NULL;
    }
    if (hd_link_template_check(tmpl, err) != 0)
        return NULL;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        goto oom;
    /* Same walk as hd_link_build, so the same bytes come out. */
    while ((ph = next_placeholder(tmpl, pos, &start, &end)) != PH_NONE) {
        if (hd_buf_append(&text, tmpl + pos, start - pos) != 0)
            goto oom;
        if (ph == PH_CAMPAIGN) {
            if (percent_encode(&text, campaign_id) != 0)
                goto oom;
        } else {
            l->ph[nph] = ph;
            l->cut[nph++] = text.len;
        }
        pos = end;
    }
    if (hd_buf_puts(&text, tmpl + pos) != 0)
        goto oom;
    l->cut[2] = text.len;
    l->fixed_len = text.len + HD_LINK_TOKEN_LEN;
    l->text = text.data;
    hd_hmac_init(&l->mac, secret->bytes, secret->len);
    hd_hmac_begin(&l->mac, &work);
    absorb_prefix(&work, campaign_id, strlen(campaign_id));
    l->mac.inner = work;
    OPENSSL_cleanse(&work, sizeof work);
    return l;
oom:
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
    hd_buf_release(&text);
    free(l);
    return NULL;
}

int hd_linker_build(struct hd_linker *l, const char *person_id, size_t len, struct hd_buf *out)
{
    char token[HD_LINK_TOKEN_LEN + 1];
    struct hd_sha256 work;
    size_t from = 0;
    char *p;

    if (len > (HD_BUF_MAX - l->fixed_len) / 3 || hd_buf_reserve(out, l->fixed_len + 3 * len) != 0)
        return -1;
    hd_hmac_begin(&l->mac, &work);
    hd_sha256_update(&work, person_id, len);
    finish_token(&l->mac, &work, token);
    p = out->data + out->len;
    for (size_t i = 0; i < 2; i++) {
        memcpy(p, l->text + from, l->cut[i] - from);
        p += l->cut[i] - from;
        from = l->cut[i];
        if (l->ph[i] == PH_TOKEN) {
            memcpy(p, token, HD_LINK_TOKEN_LEN);
            p += HD_LINK_TOKEN_LEN;
        } else {
            p += percent_encode_to(p, person_id, len);
        }
    }
    memcpy(p, l->text + from, l->cut[2] - from);
    p += l->cut[2] - from;
    *p = '\0';
    out->len = (size_t)(p - out->data);
    OPENSSL_cleanse(token, sizeof token);
    return 0;
}

void hd_linker_free(struct hd_linker *l)
{
    if (l == NULL)
        return;
    hd_hmac_wipe(&l->mac);
    free(l->text);
    free(l);
}

/* Matches the template part tmpl[from, to) - literals, {{campaign}} and
 * {{token}} only - against url[at, ...). Returns the number of URL bytes
 * consumed, or -1. The token's characters are copied to token_out. */
static long match_fixed(const char *tmpl, size_t from, size_t to, const char *url, size_t url_len,
                        size_t at, const char *campaign_enc, size_t campaign_len,
                        char token_out[HD_LINK_TOKEN_LEN + 1])
{
    size_t pos = from, start, end, u = at;
    enum placeholder ph;
    for (;;) {
        size_t lit_end, n;
        ph = next_placeholder(tmpl, pos, &start, &end);
        lit_end = (ph == PH_NONE || start >= to) ? to : start;
        n = lit_end - pos;
        if (n > url_len - u || memcmp(url + u, tmpl + pos, n) != 0)
            return -1;
        u += n;
        if (lit_end == to)
            break;
        if (ph == PH_CAMPAIGN) {
            n = campaign_len;
            if (n > url_len - u || memcmp(url + u, campaign_enc, n) != 0)
                return -1;
        } else if (ph == PH_TOKEN) {
            n = HD_LINK_TOKEN_LEN;
            if (n > url_len - u)
                return -1;
            memcpy(token_out, url + u, n);
            token_out[n] = '\0';
        } else {
            return -1;
        }
        u += n;
        pos = end;
    }
    return (long)(u - at);
}

/* Length of the URL text the template part tmpl[from, to) produces. */
static size_t fixed_len(const char *tmpl, size_t from, size_t to, size_t campaign_len)
{
    size_t pos = from, start, end, n = 0;
    enum placeholder ph;
    while ((ph = next_placeholder(tmpl, pos, &start, &end)) != PH_NONE && start < to) {
        n += start - pos;
        n += ph == PH_TOKEN ? HD_LINK_TOKEN_LEN : campaign_len;
        pos = end;
    }
    return n + (to - pos);
}

bool hd_link_verify(const struct hd_link_secret *secret, const char *tmpl, const char *campaign_id,
                    const char *url, char *person_out, size_t cap)
{
    struct hd_buf campaign_enc = HD_BUF_INIT;
    char got[HD_LINK_TOKEN_LEN + 1] = "", want[HD_LINK_TOKEN_LEN + 1];
    char *person = NULL;
    size_t pos = 0, start = 0, end = 0, url_len, head_len, tail_len, tmpl_len, mid = 0;
    enum placeholder ph;
    long n;
    bool ok = false;

    if (url == NULL || hd_link_template_check(tmpl, NULL) != 0)
        goto done;
    if (percent_encode(&campaign_enc, campaign_id) != 0)
        goto done;
    /* Locate {{person}}; the template check guarantees exactly one. */
    while ((ph = next_placeholder(tmpl, pos, &start, &end)) != PH_PERSON)
        pos = end;
    url_len = strlen(url);
    tmpl_len = strlen(tmpl);
    head_len = fixed_len(tmpl, 0, start, campaign_enc.len);
    tail_len = fixed_len(tmpl, end, tmpl_len, campaign_enc.len);
    /* An empty person id is never issued, so require at least one byte. */
    if (url_len <= head_len + tail_len)
        goto done;
    mid = url_len - head_len - tail_len;
    n = match_fixed(tmpl, 0, start, url, url_len, 0, campaign_enc.data, campaign_enc.len, got);
    if (n < 0 || (size_t)n != head_len)
        goto done;
    n = match_fixed(tmpl, end, tmpl_len, url, url_len, head_len + mid, campaign_enc.data,
                    campaign_enc.len, got);
    if (n < 0 || (size_t)n != tail_len)
        goto done;
    person = malloc(mid + 1);
    if (person == NULL || percent_decode(url + head_len, mid, person) <= 0)
        goto done;
    hd_link_token(secret, campaign_id, person, want);
    if (strlen(got) != HD_LINK_TOKEN_LEN)
        goto done;
    if (CRYPTO_memcmp(got, want, HD_LINK_TOKEN_LEN) != 0)
        goto done;
    ok = true;
    if (person_out != NULL && cap > 0) {
        size_t plen = strlen(person);
        if (plen >= cap)
            plen = cap - 1;
        memcpy(person_out, person, plen);
        person_out[plen] = '\0';
    }
done:
    if (person != NULL) {
        OPENSSL_cleanse(person, mid + 1);
        free(person);
    }
    OPENSSL_cleanse(want, sizeof want);
    hd_buf_release(&campaign_enc);
    return ok;
}

int hd_link_secret_load(struct hd_link_secret *out, const char *env_name, const char *key_file,
                        struct hd_err *err)
{
    unsigned char buf[HD_LINK_SECRET_MAX + 2];
    const char *env = env_name != NULL ? getenv(env_name) : NULL;
    size_t len = 0;
    long n;
    int rc = -1;

    OPENSSL_cleanse(out, sizeof *out);
    if (env != NULL && *env != '\0') {
        /* A set variable wins even when it is bad: silently falling back to
         * the file would sign with a secret the operator did not choose. */
        len = strlen(env);
        if (len > HD_LINK_SECRET_MAX) {
            hd_err_set(err, HD_EX_CONFIG,
                       "objection link secret in environment variable %s is longer than %d "
                       "bytes",
                       env_name, HD_LINK_SECRET_MAX);
            goto done;
        }
        if (len < HD_LINK_SECRET_MIN) {
            hd_err_set(err, HD_EX_CONFIG,
                       "objection link secret in environment variable %s is shorter than %d "
                       "bytes",
                       env_name, HD_LINK_SECRET_MIN);
            goto done;
        }
        memcpy(out->bytes, env, len);
        out->len = len;
        rc = 0;
        goto done;
    }
    if (key_file == NULL) {
        if (env_name != NULL)
            hd_err_set(err, HD_EX_CONFIG,
                       "objection link secret: environment variable %s is not set and no key "
                       "file is configured",
                       env_name);
        else
            hd_err_set(err, HD_EX_CONFIG,
                       "no objection link secret configured (set an "
                       "environment variable or a key file)");
        goto done;
    }
    /* Anyone who can read the key can forge objection links for every
     * person, and anyone who can write it can break all links sent so far. */
    n = hd_key_file_read(key_file, "objection link key file", buf, HD_LINK_SECRET_MAX, 0, err);
    if (n < 0)
        goto done;
    len = (size_t)n;
    if (len < HD_LINK_SECRET_MIN) {
        hd_err_set(err, HD_EX_CONFIG,
                   "objection link secret in key file %s is shorter than %d bytes", key_file,
                   HD_LINK_SECRET_MIN);
        goto done;
    }
    memcpy(out->bytes, buf, len);
    out->len = len;
    rc = 0;
done:
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc != 0)
        OPENSSL_cleanse(out, sizeof *out);
    return rc;
}
