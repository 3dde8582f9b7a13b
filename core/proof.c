/* proof.c - delivery proofs: records, recording, signed bundles (see
 * herald/proof.h; docs/proofs.md is the reference for every format here). */
#define _GNU_SOURCE /* sync_file_range */
#include "herald/proof.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "herald/audience.h"
#include "herald/hash.h"
#include "herald/mime.h"
#include "herald/render.h"

/* ---- small helpers --------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hd_proof_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Lowercase hex only: the canonical form. */
static const int8_t hexv[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16}; /* value + 1; 0: not hex */

static int hexval(char c)
{
    return hexv[(unsigned char)c] - 1;
}

static bool hex_ok(const char *s, size_t n)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bad |= (unsigned char)(c - '0') >= 10 && (unsigned char)(c - 'a') >= 6;
    }
    return bad == 0;
}

int hd_proof_unhex(const char *s, size_t n, uint8_t *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);
        if (a < 0 || b < 0)
            return -1;
        out[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hd_proof_base64(const uint8_t *b, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* Strict: padded, no whitespace, the unused bits zero (one text per value). */
int hd_proof_unbase64(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = s[i + j] ? strchr(b64chars, s[i + j]) : NULL;
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (p == NULL || pad)
                return -1;
            v[j] = (int)(p - b64chars);
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        size_t k = (size_t)(3 - pad);
        if ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF)) || o + k > cap)
            return -1;
        for (size_t j = 0; j < k; j++)
            out[o++] = (uint8_t)(w >> (16 - 8 * j));
    }
    *outlen = o;
    return 0;
}

/* "2025-06-26T08:00:00.123Z" */
static void fmt_ts(int64_t ms, char out[25])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy(out, buf, 24);
    out[24] = '\0';
}

int hd_proof_read_file(const char *path, struct hd_buf *out, struct hd_err *err)
{
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n;
    hd_buf_reset(out);
    if (f == NULL) {
        hd_err_set(err, errno == ENOENT ? HD_EX_NOINPUT : HD_EX_IOERR, "%s: %s", path,
                   strerror(errno));
        return -1;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (hd_buf_append(out, buf, n) != 0) {
            fclose(f);
            hd_err_set(err, HD_EX_SOFTWARE, "%s: too large or out of memory", path);
            return -1;
        }
    }
    if (ferror(f)) {
        hd_err_set(err, HD_EX_IOERR, "%s: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* ---- pseudonyms: HMAC-SHA256 (herald/hash.h) --------------------------------------------------
 */

/* HMAC over label (with its NUL) || a || [0 || b]. */
static void hmac_raw(const struct hd_hmac *k, const char *label, const char *a, size_t na,
                     const char *b, size_t nb, uint8_t mac[HD_SHA256_LEN])
{
    static const uint8_t zero = 0;
    struct hd_sha256 w;
    hd_hmac_begin(k, &w);
    hd_sha256_update(&w, label, strlen(label) + 1);
    hd_sha256_update(&w, a, na);
    if (b != NULL) {
        hd_sha256_update(&w, &zero, 1);
        hd_sha256_update(&w, b, nb);
    }
    hd_hmac_end(k, &w, mac);
}

static void hmac_hex(const struct hd_hmac *k, const char *label, const char *a, size_t na,
                     const char *b, size_t nb, char out[65])
{
    uint8_t mac[HD_SHA256_LEN];
    hmac_raw(k, label, a, na, b, nb, mac);
    hd_proof_hex(mac, HD_SHA256_LEN, out);
}

static const char person_label[] = "herald-person-v1";
static const char address_label[] = "herald-address-v1";
static const char link_label[] = "herald-link-v1";

static void pseudonym(const struct hd_pseudonym_key *k, const char *label, const char *a, size_t na,
                      const char *b, size_t nb, char out[65])
{
    struct hd_hmac h;
    hd_hmac_init(&h, k->bytes, k->len);
    hmac_hex(&h, label, a, na, b, nb, out);
    hd_hmac_wipe(&h);
}

void hd_proof_person_key(const struct hd_pseudonym_key *k, const char *id, size_t len, char out[65])
{
    pseudonym(k, person_label, id, len, NULL, 0, out);
}

void hd_proof_address_key(const struct hd_pseudonym_key *k, const char *type, const char *addr,
                          size_t len, char out[65])
{
    pseudonym(k, address_label, type, strlen(type), addr, len, out);
}

void hd_proof_link_hmac(const struct hd_pseudonym_key *k, const char *url, size_t len, char out[65])
{
    pseudonym(k, link_label, url, len, NULL, 0, out);
}

/* ---- the pseudonym key ----------------------------------------------------------------------- */

static long read_secret_file(const char *path, const char *what, unsigned char *buf, size_t cap,
                             struct hd_err *err)
{
    struct stat st;
    size_t got = 0;
    long rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        hd_err_set(err, HD_EX_CONFIG, "cannot open %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        hd_err_set(err, HD_EX_CONFIG, "%s %s is not a regular file", what, path);
        goto done;
    }
    /* Whoever reads the pseudonym key can re-identify every record. */
    if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s %s is accessible by group or others (mode %04o); run: chmod 600 %s", what,
                   path, (unsigned)(st.st_mode & 07777), path);
        goto done;
    }
    if ((unsigned long long)st.st_size > cap) {
        hd_err_set(err, HD_EX_CONFIG, "%s %s is longer than %zu bytes", what, path, cap - 2);
        goto done;
    }
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            hd_err_set(err, HD_EX_CONFIG, "cannot read %s %s: %s", what, path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = (long)got;
done:
    close(fd);
    return rc;
}

int hd_pseudonym_key_load(struct hd_pseudonym_key *k, const char *env, const char *file,
                          const char *key_id, struct hd_err *err)
{
    unsigned char buf[HD_PSEUDONYM_KEY_MAX + 2];
    const char *v = env ? getenv(env) : NULL;
    size_t len;
    OPENSSL_cleanse(k, sizeof *k);
    if (v != NULL && *v != '\0') {
        len = strlen(v);
        if (len < HD_PSEUDONYM_KEY_MIN || len > HD_PSEUDONYM_KEY_MAX) {
            hd_err_set(err, HD_EX_CONFIG,
                       "pseudonym key in environment variable %s must be %d to %d bytes long", env,
                       HD_PSEUDONYM_KEY_MIN, HD_PSEUDONYM_KEY_MAX);
            return -1;
        }
        memcpy(k->bytes, v, len);
    } else if (file != NULL) {
        long n = read_secret_file(file, "pseudonym key file", buf, sizeof buf, err);
        if (n < 0) {
            if (env)
                hd_err_prefix(err, "environment variable %s is not set, and", env);
            return -1;
        }
        len = (size_t)n;
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
        if (len < HD_PSEUDONYM_KEY_MIN || len > HD_PSEUDONYM_KEY_MAX) {
            OPENSSL_cleanse(buf, sizeof buf);
            hd_err_set(err, HD_EX_CONFIG, "pseudonym key file %s must hold %d to %d bytes", file,
                       HD_PSEUDONYM_KEY_MIN, HD_PSEUDONYM_KEY_MAX);
            return -1;
        }
        memcpy(k->bytes, buf, len);
        OPENSSL_cleanse(buf, sizeof buf);
    } else {
        hd_err_set(err, HD_EX_CONFIG,
                   "no pseudonym key for proofs: environment variable %s is not set and no "
                   "pseudonym_key_file is configured",
                   env ? env : "(none)");
        return -1;
    }
    k->len = len;
    if (key_id) {
        snprintf(k->id, sizeof k->id, "%.32s", key_id);
    } else {
        static const char label[] = "herald-key-id-v1";
        uint8_t h[HD_SHA256_LEN];
        char hex[65];
        struct hd_sha256 ctx;
        hd_sha256_init(&ctx);
        hd_sha256_update(&ctx, label, sizeof label);
        hd_sha256_update(&ctx, k->bytes, k->len);
        hd_sha256_final(&ctx, h);
        hd_proof_hex(h, 6, hex);
        snprintf(k->id, sizeof k->id, "k-%.12s", hex);
    }
    return 0;
}

/* ---- canonical JSON out ---------------------------------------------------------------------- */

/* The canonical form is what Python's json.dumps(obj, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=True) writes: short escapes for
 * " \ \b \f \n \r \t, \u00XX for the other controls and DEL, \uXXXX
 * (lowercase, surrogate pairs above U+FFFF) for everything past ASCII.
 * Bytes that are not UTF-8 become U+FFFD. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t v, lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if (i > 1 && (s[i] < 0x80 || s[i] > 0xBF)) {
            *cp = 0xFFFD;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* True when s[0..n) is all printable ASCII without '\\' (no early exit,
 * so the compiler can do it many bytes at a time). */
static bool plain_run(const char *s, size_t n)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bad |= (unsigned char)(c - 0x20) >= 0x5F;
        bad |= c == '\\';
    }
    return bad == 0;
}

/* True when s[0..n) is all printable ASCII without '"' and '\\' (nothing to
 * escape), 8 bytes at a time: any byte below 0x20, from 0x7F up, '"' or '\\'
 * sets a high bit of bad (the exact "has a byte less than" / "has a zero
 * byte" tests of Bit Twiddling Hacks). */
static bool json_plain(const char *s, size_t n)
{
    static const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t bad = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, q, b, d;
        memcpy(&x, s + i, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        d = x ^ (ones * 0x7F);
        bad |= ((x - ones * 0x20) & ~x) | x | ((q - ones) & ~q) | ((b - ones) & ~b) |
               ((d - ones) & ~d);
        if (bad & highs)
            return false;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* Escapes s[0..n) into p (room for 6 bytes per input byte plus quotes);
 * returns the end. */
static char *json_str(char *p, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    *p++ = '"';
    if (json_plain(str, n)) { /* nearly always */
        memcpy(p, str, n);
        p[n] = '"';
        return p + n + 1;
    }
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x7F && s[run] != '"' && s[run] != '\\')
            run++;
        memcpy(p, s + i, run - i);
        p += run - i;
        i = run;
        if (i == n)
            break;
        uint8_t c = s[i];
        char e = c == '"'    ? '"'
                 : c == '\\' ? '\\'
                 : c == '\b' ? 'b'
                 : c == '\f' ? 'f'
                 : c == '\n' ? 'n'
                 : c == '\r' ? 'r'
                 : c == '\t' ? 't'
                             : 0;
        uint32_t cp = c;
        if (e) {
            *p++ = '\\';
            *p++ = e;
            i++;
            continue;
        }
        if (c < 0x80)
            i++;
        else
            i += utf8_decode(s + i, n - i, &cp);
        uint32_t units[2] = {cp, 0};
        int nu = 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[0] = 0xD800 | (cp >> 10);
            units[1] = 0xDC00 | (cp & 0x3FF);
            nu = 2;
        }
        for (int k = 0; k < nu; k++) {
            uint32_t u = units[k];
            *p++ = '\\';
            *p++ = 'u';
            *p++ = hex[u >> 12 & 15];
            *p++ = hex[u >> 8 & 15];
            *p++ = hex[u >> 4 & 15];
            *p++ = hex[u & 15];
        }
    }
    *p++ = '"';
    return p;
}

static char *put_uint(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put2(char *p, unsigned v)
{
    *p++ = (char)('0' + v / 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes) without the C library: days to
 * the civil date as in H. Hinnant's chrono algorithms (proleptic
 * Gregorian, UTC). */
static char *put_ts(char *p, int64_t ms)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    unsigned msec = (unsigned)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    unsigned sod = (unsigned)(secs - days * 86400);
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999)
        y = 0;
    p = put2(p, (unsigned)(y / 100));
    p = put2(p, (unsigned)(y % 100));
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, sod / 3600);
    *p++ = ':';
    p = put2(p, sod / 60 % 60);
    *p++ = ':';
    p = put2(p, sod % 60);
    *p++ = '.';
    *p++ = (char)('0' + msec / 100);
    p = put2(p, msec % 100);
    *p++ = 'Z';
    return p;
}

/* The record writer: keys are written in sorted order by the code below
 * (hd_proof_format); the unit tests parse every shape it makes with the
 * strict parser, which refuses unsorted keys. Space is reserved up front. */
struct jw {
    char *p;
    bool first[2];
    int depth;
};

static void jw_key(struct jw *w, const char *key)
{
    size_t n = strlen(key);
    if (!w->first[w->depth])
        *w->p++ = ',';
    w->first[w->depth] = false;
    *w->p++ = '"';
    memcpy(w->p, key, n);
    w->p += n;
    *w->p++ = '"';
    *w->p++ = ':';
}

static void jw_str(struct jw *w, const char *key, const char *s, size_t n)
{
    jw_key(w, key);
    w->p = json_str(w->p, s, n);
}

static void jw_cstr(struct jw *w, const char *key, const char *s)
{
    jw_str(w, key, s, strlen(s));
}

static void jw_uint(struct jw *w, const char *key, uint64_t v)
{
    jw_key(w, key);
    w->p = put_uint(w->p, v);
}

static void jw_bool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    memcpy(w->p, v ? "true" : "false", v ? 4 : 5);
    w->p += v ? 4 : 5;
}

static void jw_hex(struct jw *w, const char *key, const uint8_t *bytes)
{
    jw_key(w, key);
    *w->p++ = '"';
    hd_proof_hex(bytes, 32, w->p);
    w->p += 64;
    *w->p++ = '"';
}

static void jw_ts(struct jw *w, const char *key, int64_t ms)
{
    jw_key(w, key);
    *w->p++ = '"';
    w->p = put_ts(w->p, ms);
    *w->p++ = '"';
}

static void jw_open(struct jw *w, const char *key)
{
    if (key) {
        jw_key(w, key);
        w->depth++;
    }
    w->first[w->depth] = true;
    *w->p++ = '{';
}

static void jw_close(struct jw *w)
{
    *w->p++ = '}';
    if (w->depth > 0)
        w->depth--;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

/* ---- records --------------------------------------------------------------------------------- */

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int hd_proof_format(const struct hd_proof_fields *f, struct hd_buf *out)
{
    struct jw w;
    /* Every string can grow 6 times when escaped; the rest is far below 2 KiB. */
    size_t strings = slen(f->campaign) + slen(f->snapshot) + slen(f->key_id) + slen(f->person_key) +
                     slen(f->country) + slen(f->event) + slen(f->address_key) + slen(f->channel) +
                     slen(f->language) + slen(f->template_) + slen(f->link_hmac) +
                     slen(f->message_id) + slen(f->reason) + slen(f->field) +
                     (f->provider_id ? f->provider_id_len : 0) +
                     (f->response ? f->response_len : 0);
    if (strings > HD_BUF_MAX / 8 || hd_buf_reserve(out, 2048 + 6 * strings) != 0)
        return -1;
    memset(&w, 0, sizeof w);
    w.p = out->data + out->len;
    jw_open(&w, NULL);
    if (!f->exclusion) {
        if (f->sent)
            jw_ts(&w, "accepted", f->last_change_ms);
        if (f->address_key)
            jw_cstr(&w, "address_key", f->address_key);
        jw_uint(&w, "attempts", f->attempts);
    }
    jw_cstr(&w, "campaign", f->campaign);
    if (!f->exclusion)
        jw_cstr(&w, "channel", f->channel);
    if (f->country && *f->country)
        jw_cstr(&w, "country", f->country);
    jw_cstr(&w, "event", f->event);
    if (!f->exclusion)
        jw_bool(&w, "fallback", f->fallback);
    if (f->exclusion && f->field)
        jw_cstr(&w, "field", f->field);
    if (!f->exclusion && f->first_attempt_ms > 0)
        jw_ts(&w, "first_attempt", f->first_attempt_ms);
    if (!f->exclusion && f->push)
        jw_cstr(&w, "idempotency_key", f->message_id);
    jw_cstr(&w, "key_id", f->key_id);
    jw_cstr(&w, "kind", f->exclusion ? "exclusion" : "delivery");
    if (!f->exclusion)
        jw_cstr(&w, "language", f->language);
    jw_ts(&w, "last_change", f->last_change_ms);
    if (!f->exclusion) {
        jw_cstr(&w, "link_hmac", f->link_hmac);
        if (!f->push)
            jw_cstr(&w, "message_id", f->message_id);
    }
    if (f->person_key)
        jw_cstr(&w, "person_key", f->person_key);
    if (f->prev)
        jw_hex(&w, "prev", f->prev);
    if (f->exclusion)
        jw_cstr(&w, "reason", f->reason);
    if (!f->exclusion) {
        jw_open(&w, "response");
        jw_uint(&w, "code", f->code);
        if (f->provider_id && f->provider_id_len)
            jw_str(&w, "provider_id", f->provider_id, f->provider_id_len);
        if (f->response && f->response_len)
            jw_str(&w, "text", f->response, f->response_len);
        jw_close(&w);
    }
    jw_uint(&w, "seq", f->seq);
    if (!f->exclusion && f->sha256 && !all_zero(f->sha256, 32))
        jw_hex(&w, "sha256", f->sha256);
    jw_cstr(&w, "snapshot", f->snapshot);
    jw_cstr(&w, "state", f->exclusion ? "excluded" : f->sent ? "sent" : "failed");
    if (!f->exclusion) {
        jw_cstr(&w, "template", f->template_);
        jw_bool(&w, "uncertain", f->uncertain);
    }
    jw_close(&w);
    out->len = (size_t)(w.p - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* ---- canonical JSON in ----------------------------------------------------------------------- */

const char *const hd_proof_field_names[HD_PF_COUNT] = {
    "accepted", "address_key", "attempts",    "campaign",      "channel",         "country",
    "event",    "fallback",    "field",       "first_attempt", "idempotency_key", "key_id",
    "kind",     "language",    "last_change", "link_hmac",     "message_id",      "person_key",
    "prev",     "reason",      "response",    "seq",           "sha256",          "snapshot",
    "state",    "template",    "uncertain",   "code",          "provider_id",     "text"};

enum vtype { T_NAME, T_STR, T_HEX, T_TS, T_INT, T_BOOL, T_OBJ };

/* Per field: its type, and where it may (D, X) or must (RD, RX) appear. */
#define D 1
#define X 2
#define RD 4
#define RX 8
static const struct {
    uint8_t type, where;
} fspec[HD_PF_COUNT] = {
    [HD_PF_ACCEPTED] = {T_TS, D},
    [HD_PF_ADDRESS_KEY] = {T_HEX, D},
    [HD_PF_ATTEMPTS] = {T_INT, D | RD},
    [HD_PF_CAMPAIGN] = {T_NAME, D | X | RD | RX},
    [HD_PF_CHANNEL] = {T_NAME, D | RD},
    [HD_PF_COUNTRY] = {T_NAME, D | X | RD},
    [HD_PF_EVENT] = {T_NAME, D | X | RD | RX},
    [HD_PF_FALLBACK] = {T_BOOL, D | RD},
    [HD_PF_FIELD] = {T_NAME, X},
    [HD_PF_FIRST_ATTEMPT] = {T_TS, D},
    [HD_PF_IDEMPOTENCY_KEY] = {T_STR, D},
    [HD_PF_KEY_ID] = {T_NAME, D | X | RD | RX},
    [HD_PF_KIND] = {T_NAME, D | X | RD | RX},
    [HD_PF_LANGUAGE] = {T_NAME, D | RD},
    [HD_PF_LAST_CHANGE] = {T_TS, D | X | RD | RX},
    [HD_PF_LINK_HMAC] = {T_HEX, D | RD},
    [HD_PF_MESSAGE_ID] = {T_STR, D},
    [HD_PF_PERSON_KEY] = {T_HEX, D | X | RD},
    [HD_PF_PREV] = {T_HEX, D | X},
    [HD_PF_REASON] = {T_NAME, X | RX},
    [HD_PF_RESPONSE] = {T_OBJ, D | RD},
    [HD_PF_SEQ] = {T_INT, D | X | RD | RX},
    [HD_PF_SHA256] = {T_HEX, D},
    [HD_PF_SNAPSHOT] = {T_HEX, D | X | RD | RX},
    [HD_PF_STATE] = {T_NAME, D | X | RD | RX},
    [HD_PF_TEMPLATE] = {T_NAME, D | RD},
    [HD_PF_UNCERTAIN] = {T_BOOL, D | RD},
    [HD_PF_RESPONSE_CODE] = {T_INT, D | RD},
    [HD_PF_RESPONSE_PROVIDER_ID] = {T_STR, D},
    [HD_PF_RESPONSE_TEXT] = {T_STR, D},
};

/* strlen of each name of hd_proof_field_names */
static const uint8_t field_len[HD_PF_COUNT] = {8, 11, 8,  8, 7, 7, 5, 8, 5, 13, 15, 6, 4, 8,  11,
                                               9, 10, 10, 4, 6, 8, 3, 6, 8, 5,  8,  9, 4, 11, 4};

struct parser {
    const char *p, *end;
    char *why;
    size_t cap;
    struct hd_proof_rec *r;
};

static int bad(struct parser *ps, const char *fmt, const char *arg)
{
    snprintf(ps->why, ps->cap, fmt, arg);
    return -1;
}

/* A string after its opening quote; only the canonical escapes pass. */
static int parse_str(struct parser *ps, struct hd_proof_slice *out)
{
    const char *start = ps->p;
    /* The common case: no escape before the closing quote. */
    const char *q = memchr(ps->p, '"', (size_t)(ps->end - ps->p));
    if (q && plain_run(ps->p, (size_t)(q - ps->p))) {
        out->p = start;
        out->n = (size_t)(q - start);
        ps->p = q + 1;
        return 0;
    }
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        /* the plain run: printable ASCII but '"' and '\\' */
        if ((unsigned char)(c - 0x20) < 0x5F && c != '"' && c != '\\') {
            ps->p++;
            continue;
        }
        if (c == '"') {
            out->p = start;
            out->n = (size_t)(ps->p - start);
            ps->p++;
            return 0;
        }
        if (c < 0x20 || c >= 0x7F)
            return bad(ps, "not canonical JSON: a raw control or non-ASCII byte in a string%s", "");
        if (c != '\\') {
            ps->p++;
            continue;
        }
        if (ps->end - ps->p < 2)
            break;
        char e = ps->p[1];
        if (strchr("\"\\bfnrt", e)) {
            ps->p += 2;
            continue;
        }
        if (e != 'u' || ps->end - ps->p < 6)
            return bad(ps, "not canonical JSON: escape \\%.1s", ps->p + 1);
        uint32_t u = 0;
        for (int i = 2; i < 6; i++) {
            int v = hexval(ps->p[i]);
            if (v < 0)
                return bad(ps, "not canonical JSON: \\u needs 4 lowercase hex digits%s", "");
            u = u << 4 | (uint32_t)v;
        }
        ps->p += 6;
        if ((u >= 0x20 && u < 0x7F) || u == '\b' || u == '\f' || u == '\n' || u == '\r' ||
            u == '\t')
            return bad(ps, "not canonical JSON: a \\u escape of a character written plainly%s", "");
        if (u >= 0xDC00 && u <= 0xDFFF)
            return bad(ps, "not canonical JSON: a lone low surrogate%s", "");
        if (u >= 0xD800 && u <= 0xDBFF) {
            uint32_t lo = 0;
            if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
                return bad(ps, "not canonical JSON: a lone high surrogate%s", "");
            for (int i = 2; i < 6; i++) {
                int v = hexval(ps->p[i]);
                if (v < 0)
                    return bad(ps, "not canonical JSON: \\u needs 4 lowercase hex digits%s", "");
                lo = lo << 4 | (uint32_t)v;
            }
            if (lo < 0xDC00 || lo > 0xDFFF)
                return bad(ps, "not canonical JSON: a lone high surrogate%s", "");
            ps->p += 6;
        }
    }
    return bad(ps, "not canonical JSON: unterminated string%s", "");
}

static int field_of(const char *k, size_t n, bool nested)
{
    int lo = nested ? HD_PF_RESPONSE_CODE : 0, hi = nested ? HD_PF_COUNT - 1 : HD_PF_UNCERTAIN;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const char *name = hd_proof_field_names[mid];
        int c = strncmp(name, k, n);
        if (c == 0 && name[n] != '\0')
            c = 1;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static bool name_ok(struct hd_proof_slice s)
{
    if (s.n == 0 || s.n > 64)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

static bool ts_ok(struct hd_proof_slice s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (s.n != 24)
        return false;
    for (size_t i = 0; i < 24; i++) {
        if (shape[i] == 'd' ? (s.p[i] < '0' || s.p[i] > '9') : s.p[i] != shape[i])
            return false;
    }
    int mo = (s.p[5] - '0') * 10 + s.p[6] - '0', d = (s.p[8] - '0') * 10 + s.p[9] - '0';
    int h = (s.p[11] - '0') * 10 + s.p[12] - '0', mi = (s.p[14] - '0') * 10 + s.p[15] - '0';
    int se = (s.p[17] - '0') * 10 + s.p[18] - '0';
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 61;
}

static bool slice_eq(struct hd_proof_slice s, const char *c)
{
    return s.p && strlen(c) == s.n && memcmp(s.p, c, s.n) == 0;
}

static int parse_obj(struct parser *ps, bool nested)
{
    struct hd_proof_rec *r = ps->r;
    int last = nested ? HD_PF_RESPONSE_CODE - 1 : -1,
        stop = nested ? HD_PF_COUNT : HD_PF_RESPONSE_CODE;
    if (ps->p >= ps->end || *ps->p != '{')
        return bad(ps, "not a JSON object%s", "");
    ps->p++;
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        struct hd_proof_slice key, val = {NULL, 0};
        if (ps->p >= ps->end || *ps->p != '"')
            return bad(ps, "not canonical JSON: expected a key%s", "");
        ps->p++;
        if (parse_str(ps, &key) != 0)
            return -1;
        /* The fields are numbered in byte order of their names, so the
         * next key of a canonical record is a field after the last one:
         * search forward from there (a step or two), which also proves the
         * order. */
        int f = -1;
        for (int i = last + 1; i < stop && f < 0; i++)
            if (field_len[i] == key.n && memcmp(hd_proof_field_names[i], key.p, key.n) == 0)
                f = i;
        if (f < 0) {
            char k[64];
            snprintf(k, sizeof k, "%.*s", (int)(key.n < 60 ? key.n : 60), key.p);
            return bad(ps,
                       field_of(key.p, key.n, nested) >= 0
                           ? "not canonical JSON: keys not in sorted order (at \"%s\")"
                           : "unknown field \"%s\"",
                       k);
        }
        last = f;
        if (ps->p >= ps->end || *ps->p != ':')
            return bad(ps, "not canonical JSON: expected ':' after \"%s\"",
                       hd_proof_field_names[f]);
        ps->p++;
        if (ps->p >= ps->end)
            return bad(ps, "not canonical JSON: truncated%s", "");
        const char *vstart = ps->p;
        uint8_t type = fspec[f].type;
        char c = *ps->p;
        size_t fixed = type == T_HEX ? 64 : type == T_TS ? 24 : 0;
        if (c == '"' && fixed && (size_t)(ps->end - ps->p) > fixed + 1 && ps->p[fixed + 1] == '"' &&
            (type == T_HEX ? hex_ok(ps->p + 1, 64)
                           : ts_ok((struct hd_proof_slice){ps->p + 1, 24}))) {
            /* the fixed-size values: their bytes never need an escape */
            val.p = ps->p + 1;
            val.n = fixed;
            ps->p += fixed + 2;
        } else if (c == '"') {
            ps->p++;
            if (parse_str(ps, &val) != 0)
                return -1;
            if (type == T_INT || type == T_BOOL || type == T_OBJ)
                return bad(ps, "field \"%s\" must not be a string", hd_proof_field_names[f]);
            if (type == T_NAME && !name_ok(val))
                return bad(ps, "field \"%s\" must be 1-64 of A-Z a-z 0-9 . _ - /",
                           hd_proof_field_names[f]);
            if (type == T_HEX && (val.n != 64 || !hex_ok(val.p, 64)))
                return bad(ps, "field \"%s\" must be 64 lowercase hex digits",
                           hd_proof_field_names[f]);
            if (type == T_TS && !ts_ok(val))
                return bad(ps, "field \"%s\" must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ",
                           hd_proof_field_names[f]);
        } else if (c >= '0' && c <= '9') {
            uint64_t v = 0;
            if (type != T_INT)
                return bad(ps, "field \"%s\" must not be a number", hd_proof_field_names[f]);
            if (c == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
                return bad(ps, "not canonical JSON: a leading zero in \"%s\"",
                           hd_proof_field_names[f]);
            while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
                if (v > (UINT64_MAX - 9) / 10)
                    return bad(ps, "field \"%s\" is too large", hd_proof_field_names[f]);
                v = v * 10 + (uint64_t)(*ps->p - '0');
                ps->p++;
            }
            if (f == HD_PF_SEQ)
                r->seq = v;
            else if (f == HD_PF_ATTEMPTS)
                r->attempts = v;
            else
                r->code = v;
            val.p = vstart;
            val.n = (size_t)(ps->p - vstart);
        } else if (c == 't' || c == 'f') {
            size_t n = c == 't' ? 4 : 5;
            if (type != T_BOOL)
                return bad(ps, "field \"%s\" must not be true or false", hd_proof_field_names[f]);
            if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, c == 't' ? "true" : "false", n))
                return bad(ps, "not canonical JSON: bad literal in \"%s\"",
                           hd_proof_field_names[f]);
            ps->p += n;
            if (f == HD_PF_FALLBACK)
                r->fallback = c == 't';
            else
                r->uncertain = c == 't';
            val.p = vstart;
            val.n = n;
        } else if (c == '{') {
            if (type != T_OBJ || nested)
                return bad(ps, "field \"%s\" must not be an object", hd_proof_field_names[f]);
            if (parse_obj(ps, true) != 0)
                return -1;
            val.p = vstart;
            val.n = (size_t)(ps->p - vstart);
        } else {
            return bad(ps, "field \"%s\": not canonical JSON (or null, which records never hold)",
                       hd_proof_field_names[f]);
        }
        r->f[f] = val;
        if (ps->p >= ps->end)
            return bad(ps, "not canonical JSON: truncated%s", "");
        if (*ps->p == '}') {
            ps->p++;
            return 0;
        }
        if (*ps->p != ',')
            return bad(ps, "not canonical JSON: expected ',' or '}' after \"%s\"",
                       hd_proof_field_names[f]);
        ps->p++;
    }
}

int hd_proof_parse(const char *line, size_t len, struct hd_proof_rec *r, char *why, size_t cap)
{
    struct parser ps = {line, line + len, why, cap, r};
    memset(r, 0, sizeof *r);
    if (parse_obj(&ps, false) != 0)
        return -1;
    if (ps.p != ps.end)
        return bad(&ps, "not canonical JSON: bytes after the object%s", "");
    bool excl;
    if (slice_eq(r->f[HD_PF_KIND], "exclusion"))
        excl = true;
    else if (slice_eq(r->f[HD_PF_KIND], "delivery"))
        excl = false;
    else
        return bad(&ps, "field \"kind\" must be \"delivery\" or \"exclusion\"%s", "");
    r->exclusion = excl;
    for (int f = 0; f < HD_PF_COUNT; f++) {
        bool have = r->f[f].p != NULL;
        unsigned where = fspec[f].where;
        if (have && !(where & (excl ? X : D)))
            return bad(&ps,
                       excl ? "field \"%s\" does not belong in an exclusion"
                            : "field \"%s\" does not belong in a delivery",
                       hd_proof_field_names[f]);
        if (!have && (where & (excl ? RX : RD)))
            return bad(&ps, "field \"%s\" is missing", hd_proof_field_names[f]);
    }
    if ((r->seq > 0) != (r->f[HD_PF_PREV].p != NULL))
        return bad(&ps, r->seq ? "field \"prev\" is missing" : "record 0 has a \"prev\"%s", "");
    if (r->f[HD_PF_COUNTRY].p && (r->f[HD_PF_COUNTRY].n != 2 || r->f[HD_PF_COUNTRY].p[0] < 'A' ||
                                  r->f[HD_PF_COUNTRY].p[0] > 'Z' ||
                                  r->f[HD_PF_COUNTRY].p[1] < 'A' || r->f[HD_PF_COUNTRY].p[1] > 'Z'))
        return bad(&ps, "field \"country\" must be two capital letters%s", "");
    struct hd_proof_slice st = r->f[HD_PF_STATE], ev = r->f[HD_PF_EVENT];
    if (excl) {
        struct hd_proof_slice rs = r->f[HD_PF_REASON];
        bool known = false;
        for (int i = 0; i < HD_R_COUNT; i++)
            known = known || slice_eq(rs, hd_reason_names[i]);
        if (!known)
            return bad(&ps, "field \"reason\" is not a known exclusion reason%s", "");
        if (!slice_eq(st, "excluded"))
            return bad(&ps, "field \"state\" of an exclusion must be \"excluded\"%s", "");
        if (ev.n != 9 + rs.n || memcmp(ev.p, "excluded.", 9) || memcmp(ev.p + 9, rs.p, rs.n))
            return bad(&ps, "field \"event\" must be \"excluded.\" + reason%s", "");
        if ((r->f[HD_PF_FIELD].p != NULL) != slice_eq(rs, "invalid_row"))
            return bad(&ps, "field \"field\" belongs to exactly the invalid_row exclusions%s", "");
        return 0;
    }
    bool sent = slice_eq(st, "sent");
    if (!sent && !slice_eq(st, "failed"))
        return bad(&ps, "field \"state\" of a delivery must be \"sent\" or \"failed\"%s", "");
    if (sent != (r->f[HD_PF_ACCEPTED].p != NULL))
        return bad(
            &ps, sent ? "field \"accepted\" is missing" : "field \"accepted\" on a failure%s", "");
    if (sent && memcmp(r->f[HD_PF_ACCEPTED].p, r->f[HD_PF_LAST_CHANGE].p, 24) != 0)
        return bad(&ps, "field \"accepted\" differs from \"last_change\"%s", "");
    if ((r->f[HD_PF_MESSAGE_ID].p != NULL) == (r->f[HD_PF_IDEMPOTENCY_KEY].p != NULL))
        return bad(&ps, "a delivery has exactly one of \"message_id\" and \"idempotency_key\"%s",
                   "");
    struct hd_proof_slice lang = r->f[HD_PF_LANGUAGE], tp = r->f[HD_PF_TEMPLATE];
    if (!(tp.n == lang.n && memcmp(tp.p, lang.p, lang.n) == 0) &&
        !(tp.n == lang.n + 8 && memcmp(tp.p, lang.p, lang.n) == 0 &&
          memcmp(tp.p + lang.n, "/variant", 8) == 0))
        return bad(&ps, "field \"template\" must be the language or language/variant%s", "");
    return 0;
}

int hd_proof_unescape(struct hd_proof_slice s, struct hd_buf *out)
{
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (c != '\\') {
            size_t run = i;
            while (run < s.n && s.p[run] != '\\')
                run++;
            if (hd_buf_append(out, s.p + i, run - i) != 0)
                return -1;
            i = run - 1;
            continue;
        }
        char e = s.p[++i];
        if (e != 'u') {
            char v = e == 'b'   ? '\b'
                     : e == 'f' ? '\f'
                     : e == 'n' ? '\n'
                     : e == 'r' ? '\r'
                     : e == 't' ? '\t'
                                : e;
            if (hd_buf_putc(out, v) != 0)
                return -1;
            continue;
        }
        uint32_t u = 0;
        for (int k = 1; k <= 4; k++)
            u = u << 4 | (uint32_t)hexval(s.p[i + (size_t)k]);
        i += 4;
        if (u >= 0xD800 && u <= 0xDBFF && i + 6 < s.n) {
            uint32_t lo = 0;
            for (int k = 3; k <= 6; k++)
                lo = lo << 4 | (uint32_t)hexval(s.p[i + (size_t)k]);
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        char enc[4];
        size_t n;
        if (u < 0x80) {
            enc[0] = (char)u;
            n = 1;
        } else if (u < 0x800) {
            enc[0] = (char)(0xC0 | u >> 6);
            enc[1] = (char)(0x80 | (u & 0x3F));
            n = 2;
        } else if (u < 0x10000) {
            enc[0] = (char)(0xE0 | u >> 12);
            enc[1] = (char)(0x80 | (u >> 6 & 0x3F));
            enc[2] = (char)(0x80 | (u & 0x3F));
            n = 3;
        } else {
            enc[0] = (char)(0xF0 | u >> 18);
            enc[1] = (char)(0x80 | (u >> 12 & 0x3F));
            enc[2] = (char)(0x80 | (u >> 6 & 0x3F));
            enc[3] = (char)(0x80 | (u & 0x3F));
            n = 4;
        }
        if (hd_buf_append(out, enc, n) != 0)
            return -1;
    }
    return 0;
}

/* ---- CSV ------------------------------------------------------------------------------------- */

static const int csv_cols[] = {HD_PF_SEQ,
                               HD_PF_KIND,
                               HD_PF_CAMPAIGN,
                               HD_PF_SNAPSHOT,
                               HD_PF_KEY_ID,
                               HD_PF_PERSON_KEY,
                               HD_PF_ADDRESS_KEY,
                               HD_PF_CHANNEL,
                               HD_PF_COUNTRY,
                               HD_PF_LANGUAGE,
                               HD_PF_TEMPLATE,
                               HD_PF_FALLBACK,
                               HD_PF_EVENT,
                               HD_PF_REASON,
                               HD_PF_FIELD,
                               HD_PF_STATE,
                               HD_PF_FIRST_ATTEMPT,
                               HD_PF_LAST_CHANGE,
                               HD_PF_ACCEPTED,
                               HD_PF_ATTEMPTS,
                               HD_PF_SHA256,
                               HD_PF_MESSAGE_ID,
                               HD_PF_IDEMPOTENCY_KEY,
                               HD_PF_LINK_HMAC,
                               HD_PF_RESPONSE_CODE,
                               HD_PF_RESPONSE_PROVIDER_ID,
                               HD_PF_RESPONSE_TEXT,
                               HD_PF_UNCERTAIN,
                               HD_PF_PREV};

const char hd_proof_csv_header[] =
    "seq,kind,campaign,snapshot,key_id,person_key,address_key,channel,country,language,template,"
    "fallback,event,reason,field,state,first_attempt,last_change,accepted,attempts,sha256,"
    "message_id,idempotency_key,link_hmac,response_code,response_provider_id,response_text,"
    "uncertain,prev\r\n";

int hd_proof_csv_line(const struct hd_proof_rec *r, struct hd_buf *out)
{
    struct hd_buf t = HD_BUF_INIT; /* only for the rare value that needs decoding or quotes */
    int rc = 0;
    for (size_t i = 0; i < sizeof csv_cols / sizeof csv_cols[0] && rc == 0; i++) {
        struct hd_proof_slice s = r->f[csv_cols[i]];
        if (i && hd_buf_putc(out, ',') != 0)
            return -1;
        if (s.p == NULL)
            continue;
        uint8_t type = fspec[csv_cols[i]].type;
        if (type != T_STR) {
            rc = hd_buf_append(out, s.p, s.n);
            continue;
        }
        if (s.n && memchr(s.p, '\\', s.n) == NULL && memchr(s.p, ',', s.n) == NULL) {
            rc = hd_buf_append(out, s.p, s.n); /* no escapes, no quotes, nothing to quote */
            continue;
        }
        hd_buf_reset(&t);
        if (hd_proof_unescape(s, &t) != 0) {
            rc = -1;
            break;
        }
        if (t.len && strpbrk(t.data, ",\"\r\n") == NULL && memchr(t.data, '\0', t.len) == NULL) {
            rc = hd_buf_append(out, t.data, t.len);
            continue;
        }
        rc = hd_buf_putc(out, '"');
        for (size_t k = 0; k < t.len && rc == 0; k++)
            rc = t.data[k] == '"' ? hd_buf_append(out, "\"\"", 2) : hd_buf_putc(out, t.data[k]);
        rc = rc || hd_buf_putc(out, '"');
    }
    hd_buf_release(&t);
    return rc || hd_buf_append(out, "\r\n", 2) ? -1 : 0;
}

/* ---- recording ------------------------------------------------------------------------------- */

struct hd_proofs {
    const struct hd_campaign *c;
    const struct hd_link_secret *link;
    struct hd_pseudonym_key key;
    struct hd_hmac hm; /* the pseudonym key; only read after open (hd_proofs_prepare) */
    uint32_t tag;      /* in every struct hd_proof_pre this recorder makes */
    char snapshot[65];
    char domain[HD_MAX_CHANNELS][256]; /* email channels: the From domain (ASCII) */
    /* The recorder's own parts of a delivery record in canonical JSON,
     * ",\"key\":value" runs ending at frag_end: campaign; key_id and kind;
     * snapshot (hd_proofs_delivery_pre puts them in place). */
    struct hd_buf frag;
    size_t frag_end[3];
    /* The last record appended (its bytes stay in line): when it is still
     * the last one in the store, its leaf hash is the next record's prev. */
    bool tip_ok;
    uint64_t tip_seq;
    uint8_t tip_leaf[HD_SHA256_LEN];
    struct hd_buf line, url, id;
    struct hd_linker *linker; /* the objection URL, as hd_link_build makes it */
};

_Static_assert(sizeof(struct hd_proof_pre) == 1024, "struct hd_proof_pre is 1024 bytes");

/* ---- fragments: record fields in canonical JSON, each ",\"key\":value" ---------------------- */

/* A bounded writer into a fixed buffer; ok turns false when something does
 * not fit (and nothing more is written). */
struct fw {
    char *p, *end;
    bool ok;
};

static void fw_raw(struct fw *w, const char *s, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = false;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

#define FW_LIT(w, lit) fw_raw(w, lit, sizeof lit - 1)

/* A string with escapes (rare): escaped aside, then copied if it fits. */
static void fw_escaped(struct fw *w, const char *s, size_t n)
{
    char tmp[6 * HD_PROOF_PRE_TEXT + 2];
    if (n > HD_PROOF_PRE_TEXT) {
        w->ok = false;
        return;
    }
    char *e = json_str(tmp, s, n);
    fw_raw(w, tmp, (size_t)(e - tmp));
}

/* key: ",\"name\":" */
static void fw_str(struct fw *w, const char *key, const char *s, size_t n)
{
    fw_raw(w, key, strlen(key));
    if (!w->ok)
        return;
    if (!json_plain(s, n)) {
        fw_escaped(w, s, n);
    } else if ((size_t)(w->end - w->p) >= n + 2) {
        *w->p++ = '"';
        memcpy(w->p, s, n);
        w->p += n;
        *w->p++ = '"';
    } else {
        w->ok = false;
    }
}

/* key: ",\"name\":\"" */
static void fw_hex(struct fw *w, const char *key, const char hex[65])
{
    fw_raw(w, key, strlen(key));
    fw_raw(w, hex, 64);
    FW_LIT(w, "\"");
}

/* The fragments of a delivery record that come from the recorder alone. */
static int proofs_frags(struct hd_proofs *p)
{
    const char *key_id = p->key.id;
    size_t n = strlen(p->c->id) + strlen(key_id) + 64;
    char *o;
    if (hd_buf_reserve(&p->frag, 6 * n + 128) != 0)
        return -1;
    o = p->frag.data;
    memcpy(o, ",\"campaign\":", 12);
    o = json_str(o + 12, p->c->id, strlen(p->c->id));
    p->frag_end[0] = (size_t)(o - p->frag.data);
    memcpy(o, ",\"key_id\":", 10);
    o = json_str(o + 10, key_id, strlen(key_id));
    memcpy(o, ",\"kind\":\"delivery\"", 18);
    o += 18;
    p->frag_end[1] = (size_t)(o - p->frag.data);
    memcpy(o, ",\"snapshot\":", 12);
    o = json_str(o + 12, p->snapshot, 64);
    p->frag_end[2] = (size_t)(o - p->frag.data);
    p->frag.len = p->frag_end[2];
    p->frag.data[p->frag.len] = '\0';
    return 0;
}

int hd_proofs_open(struct hd_proofs **out, const struct hd_campaign *c,
                   const struct hd_link_secret *link, struct hd_err *err)
{
    struct hd_proofs *p;
    *out = NULL;
    if (!c->proofs)
        return 0;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    p->c = c;
    p->link = link;
    if (hd_pseudonym_key_load(&p->key, c->pseudonym_key_env, c->pseudonym_key_file, c->proof_key_id,
                              err) != 0) {
        hd_err_prefix(err, "campaign \"%s\" keeps delivery proofs (proofs:)", c->id);
        free(p);
        return -1;
    }
    hd_hmac_init(&p->hm, p->key.bytes, p->key.len);
    hd_proof_hex(c->snapshot_sha256, 32, p->snapshot);
    if (proofs_frags(p) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        hd_proofs_close(p);
        return -1;
    }
    /* A struct hd_proof_pre is bound to the key and the campaign. */
    uint8_t mac[HD_SHA256_LEN];
    hmac_raw(&p->hm, "herald-proof-pre-v1", c->id, strlen(c->id), NULL, 0, mac);
    p->tag = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
    if (p->tag == 0)
        p->tag = 1;
    /* Without a secret or with a template the linker refuses, every
     * delivery record fails (hd_link_build refuses it too), as before. */
    if (link != NULL)
        p->linker = hd_linker_new(link, c->link_url, c->id, NULL);
    for (size_t ch = 0; ch < c->nchannels; ch++) {
        char from[320];
        struct hd_err e = {0};
        if (c->channels[ch].type != HD_CHANNEL_EMAIL || c->channels[ch].from_addr == NULL)
            continue;
        /* as the renderer makes it; a From it refuses fails every render */
        if (hd_mime_ascii_address(c->channels[ch].from_addr, from, sizeof from, &e) == 0)
            snprintf(p->domain[ch], sizeof p->domain[ch], "%s", strrchr(from, '@') + 1);
    }
    *out = p;
    return 0;
}

void hd_proofs_close(struct hd_proofs *p)
{
    if (p == NULL)
        return;
    hd_hmac_wipe(&p->hm);
    hd_linker_free(p->linker);
    hd_buf_release(&p->frag);
    hd_buf_release(&p->line);
    hd_buf_release(&p->url);
    hd_buf_release(&p->id);
    OPENSSL_cleanse(&p->key, sizeof p->key);
    free(p);
}

/* RFC 9162 leaf hash: SHA-256(0x00 || line). */
static void leaf_hash(const void *line, size_t len, uint8_t out[HD_SHA256_LEN])
{
    static const uint8_t zero = 0;
    struct hd_sha256 h;
    hd_sha256_init(&h);
    hd_sha256_update(&h, &zero, 1);
    hd_sha256_update(&h, line, len);
    hd_sha256_final(&h, out);
}

/* The next record's seq and prev (*has_prev false for seq 0), from the last
 * record of the proofs, on an open cursor *cur. Its leaf hash is the one
 * kept from the last append when the record is byte for byte that one (any
 * abort, or another writer, shows as different bytes or another seq). */
static int chain_next(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s, MDB_cursor **cur,
                      uint64_t *seq, uint8_t prev[HD_SHA256_LEN], bool *has_prev,
                      struct hd_err *err)
{
    MDB_val k, v;
    bool tip = p->tip_ok;
    int rc = mdb_cursor_open(txn, s->proofs, cur);
    p->tip_ok = false; /* line is about to change */
    if (rc != 0)
        return hd_store_fail(err, rc, "opening the proofs");
    rc = mdb_cursor_get(*cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8) {
        *seq = hd_get_u64(k.mv_data) + 1;
        if (tip && p->tip_seq + 1 == *seq && v.mv_size == p->line.len &&
            memcmp(v.mv_data, p->line.data, v.mv_size) == 0)
            memcpy(prev, p->tip_leaf, HD_SHA256_LEN);
        else
            leaf_hash(v.mv_data, v.mv_size, prev);
        *has_prev = true;
        return 0;
    }
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        *has_prev = false;
        return 0;
    }
    mdb_cursor_close(*cur);
    *cur = NULL;
    if (rc == 0)
        hd_err_set(err, HD_EX_SOFTWARE, "damaged proofs database (a key of %zu bytes)", k.mv_size);
    return rc ? hd_store_fail(err, rc, "reading the proofs") : -1;
}

/* Appends line as record seq on cur (from chain_next), closes cur, and keeps
 * the record's leaf hash for the next one. */
static int chain_put(struct hd_proofs *p, MDB_cursor *cur, uint64_t seq, struct hd_err *err)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v = {p->line.len, p->line.data};
    hd_key_u64(key, seq);
    int rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND);
    mdb_cursor_close(cur);
    if (rc != 0)
        return hd_store_fail(err, rc, "writing a proof record");
    leaf_hash(p->line.data, p->line.len, p->tip_leaf);
    p->tip_seq = seq;
    p->tip_ok = true;
    return 0;
}

/* Appends f as the next record: seq and prev come from the last record. */
static int append(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                  struct hd_proof_fields *f, struct hd_err *err)
{
    MDB_cursor *cur;
    uint8_t prev[HD_SHA256_LEN];
    bool has_prev;
    if (chain_next(p, txn, s, &cur, &f->seq, prev, &has_prev, err) != 0)
        return -1;
    f->prev = has_prev ? prev : NULL;
    hd_buf_reset(&p->line);
    if (hd_proof_format(f, &p->line) != 0) {
        mdb_cursor_close(cur);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    return chain_put(p, cur, f->seq, err);
}

/* Events come from modules: keep them to the record's name alphabet.
 * Returns the length (1 to 64). */
static size_t clean_event(const char *ev, size_t n, char out[65])
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < 64; i++) {
        char c = ev[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/';
        out[o++] = ok ? c : '_';
    }
    if (o == 0)
        memcpy(out, "unknown", (o = 7));
    out[o] = '\0';
    return o;
}

/* The fragments of struct hd_proof_pre, in record (key) order; the writer
 * puts the outcome's fields, seq and prev, and the recorder's fragments
 * between them (hd_proofs_delivery_pre):
 *   0 address_key      (absent without an address)
 *   1 channel, country (country absent when unknown)
 *   2 fallback
 *   3 idempotency_key  (push only)
 *   4 language
 *   5 link_hmac, message_id (email only), person_key
 *   6 template
 * Every fragment is a run of ",\"key\":value" (or empty). */
enum {
    PRE_ADDRESS,
    PRE_CHANNEL,
    PRE_FALLBACK,
    PRE_IDEMPOTENCY,
    PRE_LANGUAGE,
    PRE_LINK,
    PRE_TEMPLATE
};

int hd_proofs_prepare(const struct hd_proofs *p, const struct hd_person_rec *person, uint8_t ch,
                      const char *url, size_t url_len, const char *message_id,
                      struct hd_proof_pre *out, struct hd_err *err)
{
    const struct hd_campaign *c = p->c;
    struct fw w = {out->text, out->text + HD_PROOF_PRE_TEXT, true};
    char hex[65], country[3], tmpl[32];

    out->tag = 0;
    if (ch >= c->nchannels) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: proof of an unknown channel %u", ch);
        return -1;
    }
    if (message_id == NULL || (url == NULL && url_len > 0)) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: a proof without a %s",
                   message_id == NULL ? "message id" : "link");
        return -1;
    }
    const struct hd_channel_conf *cc = &c->channels[ch];
    bool push = cc->type == HD_CHANNEL_PUSH;
    const char *addr = push ? person->push_token : person->email;
    size_t addr_len = push ? person->push_token_len : person->email_len;
    size_t lang_len = strnlen(person->language, sizeof person->language);

    if (addr_len) {
        hmac_hex(&p->hm, address_label, push ? "push" : "email", push ? 4 : 5, addr, addr_len, hex);
        fw_hex(&w, ",\"address_key\":\"", hex);
    }
    out->end[PRE_ADDRESS] = (uint16_t)(w.p - out->text);
    fw_str(&w, ",\"channel\":", cc->name, strlen(cc->name));
    memcpy(country, person->country, 2);
    country[2] = '\0';
    if (country[0])
        fw_str(&w, ",\"country\":", country, strlen(country));
    out->end[PRE_CHANNEL] = (uint16_t)(w.p - out->text);
    if (person->lang_source != HD_LANG_EXACT)
        FW_LIT(&w, ",\"fallback\":true");
    else
        FW_LIT(&w, ",\"fallback\":false");
    out->end[PRE_FALLBACK] = (uint16_t)(w.p - out->text);
    if (push)
        fw_str(&w, ",\"idempotency_key\":", message_id, strlen(message_id));
    out->end[PRE_IDEMPOTENCY] = (uint16_t)(w.p - out->text);
    fw_str(&w, ",\"language\":", person->language, lang_len);
    out->end[PRE_LANGUAGE] = (uint16_t)(w.p - out->text);
    hmac_hex(&p->hm, link_label, url, url_len, NULL, 0, hex);
    fw_hex(&w, ",\"link_hmac\":\"", hex);
    if (!push)
        fw_str(&w, ",\"message_id\":", message_id, strlen(message_id));
    hmac_hex(&p->hm, person_label, person->id, person->id_len, NULL, 0, hex);
    fw_hex(&w, ",\"person_key\":\"", hex);
    out->end[PRE_LINK] = (uint16_t)(w.p - out->text);
    snprintf(tmpl, sizeof tmpl, "%.*s%s", (int)lang_len, person->language,
             person->variant ? "/variant" : "");
    fw_str(&w, ",\"template\":", tmpl, strlen(tmpl));
    out->end[PRE_TEMPLATE] = (uint16_t)(w.p - out->text);
    if (!w.ok) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "internal error: the message id of a proof record is too long (%zu bytes)",
                   strlen(message_id));
        return -1;
    }
    out->ch = ch;
    out->reserved = 0;
    out->tag = p->tag;
    return 0;
}

static char *put_mem(char *o, const void *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

#define PUT_LIT(o, lit) put_mem(o, lit, sizeof lit - 1)

static char *put_hex32(char *o, const uint8_t b[32])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        o[2 * i] = hex[b[i] >> 4];
        o[2 * i + 1] = hex[b[i] & 15];
    }
    return o + 64;
}

int hd_proofs_delivery_pre(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                           const uint8_t key[11], const struct hd_delivery_rec *r,
                           const struct hd_proof_pre *pre, struct hd_err *err)
{
    MDB_cursor *cur;
    uint64_t seq;
    uint8_t prev[HD_SHA256_LEN];
    bool has_prev, sent = r->state == HD_DS_SENT;
    char event[65], ts[24];
    size_t pid_len = r->provider_id ? r->provider_id_len : 0;
    size_t resp_len = r->response ? r->response_len : 0;
    size_t pre_len = pre->end[PRE_TEMPLATE], at = 0;

    if (pre->tag != p->tag || pre->ch != key[10] || key[10] >= p->c->nchannels) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "internal error: the proof data of channel %u is not of this recorder and "
                   "channel %u",
                   pre->ch, key[10]);
        return -1;
    }
    for (size_t i = 0; i <= PRE_TEMPLATE; i++) {
        if (pre->end[i] < at || pre->end[i] > HD_PROOF_PRE_TEXT) {
            hd_err_set(err, HD_EX_SOFTWARE, "internal error: damaged proof data");
            return -1;
        }
        at = pre->end[i];
    }
    size_t event_len = clean_event(r->event ? r->event : "", r->event ? r->event_len : 0, event);
    if (chain_next(p, txn, s, &cur, &seq, prev, &has_prev, err) != 0)
        return -1;
    /* the fixed keys and values take far less than 1 KiB; strings grow up to
     * 6 times when escaped */
    hd_buf_reset(&p->line);
    if (hd_buf_reserve(&p->line, 1024 + pre_len + p->frag.len + 6 * (pid_len + resp_len)) != 0) {
        mdb_cursor_close(cur);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }

    /* Keys in sorted order, as hd_proof_format writes a delivery; each part
     * starts with its comma, the first one becomes the '{'. */
    const char *pt = pre->text, *ft = p->frag.data;
    const uint16_t *pe = pre->end;
    char *o = p->line.data;
    put_ts(ts, r->last_change_ms);
    if (sent) {
        o = PUT_LIT(o, ",\"accepted\":\"");
        o = put_mem(o, ts, 24);
        *o++ = '"';
    }
    o = put_mem(o, pt, pe[PRE_ADDRESS]);
    o = PUT_LIT(o, ",\"attempts\":");
    o = put_uint(o, r->attempts);
    o = put_mem(o, ft, p->frag_end[0]);
    o = put_mem(o, pt + pe[PRE_ADDRESS], pe[PRE_CHANNEL] - pe[PRE_ADDRESS]);
    o = PUT_LIT(o, ",\"event\":\"");
    o = put_mem(o, event, event_len);
    *o++ = '"';
    o = put_mem(o, pt + pe[PRE_CHANNEL], pe[PRE_FALLBACK] - pe[PRE_CHANNEL]);
    if (r->first_attempt_ms > 0) {
        o = PUT_LIT(o, ",\"first_attempt\":\"");
        o = put_ts(o, r->first_attempt_ms);
        *o++ = '"';
    }
    o = put_mem(o, pt + pe[PRE_FALLBACK], pe[PRE_IDEMPOTENCY] - pe[PRE_FALLBACK]);
    o = put_mem(o, ft + p->frag_end[0], p->frag_end[1] - p->frag_end[0]);
    o = put_mem(o, pt + pe[PRE_IDEMPOTENCY], pe[PRE_LANGUAGE] - pe[PRE_IDEMPOTENCY]);
    o = PUT_LIT(o, ",\"last_change\":\"");
    o = put_mem(o, ts, 24);
    *o++ = '"';
    o = put_mem(o, pt + pe[PRE_LANGUAGE], pe[PRE_LINK] - pe[PRE_LANGUAGE]);
    if (has_prev) {
        o = PUT_LIT(o, ",\"prev\":\"");
        o = put_hex32(o, prev);
        *o++ = '"';
    }
    o = PUT_LIT(o, ",\"response\":{\"code\":");
    o = put_uint(o, r->code);
    if (pid_len) {
        o = PUT_LIT(o, ",\"provider_id\":");
        o = json_str(o, r->provider_id, pid_len);
    }
    if (resp_len) {
        o = PUT_LIT(o, ",\"text\":");
        o = json_str(o, r->response, resp_len);
    }
    *o++ = '}';
    o = PUT_LIT(o, ",\"seq\":");
    o = put_uint(o, seq);
    if (!all_zero(r->sha256, 32)) {
        o = PUT_LIT(o, ",\"sha256\":\"");
        o = put_hex32(o, r->sha256);
        *o++ = '"';
    }
    o = put_mem(o, ft + p->frag_end[1], p->frag_end[2] - p->frag_end[1]);
    o = sent ? PUT_LIT(o, ",\"state\":\"sent\"") : PUT_LIT(o, ",\"state\":\"failed\"");
    o = put_mem(o, pt + pe[PRE_LINK], pe[PRE_TEMPLATE] - pe[PRE_LINK]);
    o = (r->flags & HD_DF_UNCERTAIN) ? PUT_LIT(o, ",\"uncertain\":true")
                                     : PUT_LIT(o, ",\"uncertain\":false");
    *o++ = '}';
    p->line.data[0] = '{';
    p->line.len = (size_t)(o - p->line.data);
    p->line.data[p->line.len] = '\0';
    return chain_put(p, cur, seq, err);
}

int hd_proofs_delivery(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                       const uint8_t key[11], const struct hd_delivery_rec *r, struct hd_err *err)
{
    const struct hd_campaign *c = p->c;
    uint8_t ch = key[10];
    MDB_val k = {10, (void *)key}, v;
    struct hd_person_rec person;
    struct hd_proof_pre pre;
    char msgkey[33], msgid[HD_MSGID_MAX];
    int rc;

    if (ch >= c->nchannels || p->link == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: proof of an unknown channel %u", ch);
        return -1;
    }
    if ((rc = mdb_get(txn, s->persons, &k, &v)) != 0)
        return hd_store_fail(err, rc, "reading a person for a proof");
    if (hd_person_rec_decode(v.mv_data, v.mv_size, &person) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "damaged person record in the state store");
        return -1;
    }
    const struct hd_channel_conf *cc = &c->channels[ch];
    const char *id = person.id ? person.id : "";
    hd_buf_reset(&p->url);
    if (p->linker != NULL) {
        rc = hd_linker_build(p->linker, id, person.id_len, &p->url);
    } else {
        /* hd_link_build takes a C string */
        hd_buf_reset(&p->id);
        rc = hd_buf_append(&p->id, id, person.id_len) != 0
                 ? -1
                 : hd_link_build(p->link, c->link_url, c->id, p->id.data, &p->url);
    }
    if (rc != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_render_message_key(c->id, person.id, person.id_len, cc->name, msgkey);
    if (cc->type == HD_CHANNEL_PUSH)
        snprintf(msgid, sizeof msgid, "%s", msgkey);
    else
        snprintf(msgid, sizeof msgid, "%s@%s", msgkey, p->domain[ch]);
    /* person points into the store: everything is copied out of it before
     * the record is written */
    if (hd_proofs_prepare(p, &person, ch, p->url.data, p->url.len, msgid, &pre, err) != 0)
        return -1;
    return hd_proofs_delivery_pre(p, txn, s, key, r, &pre, err);
}

int hd_proofs_exclusions(struct hd_proofs *p, const struct hd_store *s, MDB_txn **txn,
                         int (*renew)(void *ctx), void *ctx, struct hd_err *err)
{
    uint8_t start[8];
    int64_t now = now_ms();
    uint64_t n = 0;
    struct hd_buf rec = HD_BUF_INIT;
    int result = -1;

    hd_key_u64(start, 0);
    for (;;) {
        MDB_cursor *cur;
        MDB_val k = {8, start}, v;
        bool more = false;
        int rc = mdb_cursor_open(*txn, s->exclusions, &cur);
        if (rc != 0) {
            hd_store_fail(err, rc, "reading exclusions");
            goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            struct hd_exclusion_rec x;
            struct hd_proof_fields f;
            char person_key[65], country[3], event[80];
            /* a copy: the record is decoded from it while proofs are written */
            hd_buf_reset(&rec);
            if (k.mv_size != 8 || hd_buf_append(&rec, v.mv_data, v.mv_size) != 0 ||
                hd_exclusion_rec_decode(rec.data, rec.len, &x) != 0) {
                mdb_cursor_close(cur);
                hd_err_set(err, HD_EX_SOFTWARE, "damaged exclusion record in the state store");
                goto out;
            }
            memset(&f, 0, sizeof f);
            f.exclusion = true;
            f.campaign = p->c->id;
            f.snapshot = p->snapshot;
            f.key_id = p->key.id;
            if (x.id_len) {
                hmac_hex(&p->hm, person_label, x.id, x.id_len, NULL, 0, person_key);
                f.person_key = person_key;
            }
            if (x.country[0] >= 'A' && x.country[0] <= 'Z' && x.country[1] >= 'A' &&
                x.country[1] <= 'Z') {
                memcpy(country, x.country, 2);
                country[2] = '\0';
                f.country = country;
            }
            f.reason = hd_reason_names[x.reason];
            snprintf(event, sizeof event, "excluded.%s", f.reason);
            f.event = event;
            if (x.reason == HD_R_INVALID_ROW)
                f.field = x.field < HD_F_COUNT ? hd_field_names[x.field] : "row";
            f.last_change_ms = now;
            if (append(p, *txn, s, &f, err) != 0) {
                mdb_cursor_close(cur);
                goto out;
            }
            if (++n % 100000 == 0) {
                hd_key_u64(start, x.row + 1);
                more = true;
                break;
            }
        }
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            hd_store_fail(err, rc, "reading exclusions");
            goto out;
        }
        if (!more)
            break;
        if (renew(ctx) != 0)
            goto out;
    }
    result = 0;
out:
    hd_buf_release(&rec);
    return result;
}

/* ---- signing keys ---------------------------------------------------------------------------- */

static bool key_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 100)
        return false;
    for (; *n; n++)
        if (*n <= ' ' || *n > '~' || *n == '+')
            return false;
    return true;
}

void hd_proof_key_hash(const char *name, const uint8_t raw[32], uint8_t out[4])
{
    uint8_t h[HD_SHA256_LEN];
    struct hd_sha256 ctx;
    hd_sha256_init(&ctx);
    hd_sha256_update(&ctx, name, strlen(name));
    hd_sha256_update(&ctx, "\n\x01", 2);
    hd_sha256_update(&ctx, raw, 32);
    hd_sha256_final(&ctx, h);
    memcpy(out, h, 4);
}

static int write_new(const char *path, const void *data, size_t len, mode_t mode, bool force,
                     struct hd_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
    if (fd < 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s%s", path, strerror(errno),
                   errno == EEXIST ? " (pass --force to replace it)" : "");
        return -1;
    }
    if (fchmod(fd, mode) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return close(fd) == 0 ? 0 : -1;
}

static void vkey_line(const char *name, const uint8_t raw[32], char *out, size_t cap)
{
    uint8_t kh[4], typed[33];
    char hex[9], b64[64];
    hd_proof_key_hash(name, raw, kh);
    hd_proof_hex(kh, 4, hex);
    typed[0] = 1;
    memcpy(typed + 1, raw, 32);
    hd_proof_base64(typed, 33, b64);
    snprintf(out, cap, "%s+%s+%s\n", name, hex, b64);
}

static int pem_of(EVP_PKEY *pk, bool private_key, struct hd_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;
    int ok = bio && (private_key ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
                                 : PEM_write_bio_PUBKEY(bio, pk));
    if (ok && (n = BIO_get_mem_data(bio, &p)) > 0)
        ok = hd_buf_append(out, p, (size_t)n) == 0;
    else
        ok = 0;
    BIO_free(bio);
    return ok ? 0 : -1;
}

int hd_proof_keygen(const char *prefix, const char *name, bool force, struct hd_err *err)
{
    EVP_PKEY *pk = NULL;
    struct hd_buf priv = HD_BUF_INIT, pub = HD_BUF_INIT;
    uint8_t raw[32];
    size_t rawlen = sizeof raw;
    char path[4200], vkey[512];
    int rc = -1;

    if (!key_name_ok(name)) {
        hd_err_set(err, HD_EX_USAGE,
                   "bad key name \"%s\": 1-100 printable ASCII characters, no space and no '+'",
                   name);
        return -1;
    }
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pk == NULL || !EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) || rawlen != 32 ||
        pem_of(pk, true, &priv) != 0 || pem_of(pk, false, &pub) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot make an Ed25519 key (OpenSSL)");
        goto out;
    }
    vkey_line(name, raw, vkey, sizeof vkey);
    snprintf(path, sizeof path, "%s.key", prefix);
    if (write_new(path, priv.data, priv.len, 0600, force, err) != 0)
        goto out;
    snprintf(path, sizeof path, "%s.pub", prefix);
    if (write_new(path, pub.data, pub.len, 0644, force, err) != 0)
        goto out;
    snprintf(path, sizeof path, "%s.vkey", prefix);
    if (write_new(path, vkey, strlen(vkey), 0644, force, err) != 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(priv.data, priv.len);
    hd_buf_release(&priv);
    hd_buf_release(&pub);
    EVP_PKEY_free(pk);
    return rc;
}

static EVP_PKEY *load_signing_key(const char *path, struct hd_err *err)
{
    struct stat st;
    EVP_PKEY *pk;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        hd_err_set(err, errno == ENOENT ? HD_EX_NOINPUT : HD_EX_CONFIG,
                   "cannot open signing key %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))) {
        hd_err_set(err, HD_EX_CONFIG,
                   "signing key %s is accessible by group or others (mode %04o); run: chmod 600 %s",
                   path, (unsigned)(st.st_mode & 07777), path);
        fclose(f);
        return NULL;
    }
    pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        hd_err_set(err, HD_EX_CONFIG,
                   "%s is not an Ed25519 private key in PEM (make one with `herald keys generate`)",
                   path);
        return NULL;
    }
    return pk;
}

static int parse_vkey(const char *s, size_t n, struct hd_proof_pubkey *k)
{
    const char *p1 = memchr(s, '+', n), *p2;
    uint8_t kh[4], want[4], typed[40];
    size_t tl;
    if (p1 == NULL || (size_t)(p1 - s) >= sizeof k->name ||
        (p2 = memchr(p1 + 1, '+', n - (size_t)(p1 + 1 - s))) == NULL || p2 - p1 != 9)
        return -1;
    memcpy(k->name, s, (size_t)(p1 - s));
    k->name[p1 - s] = '\0';
    if (!key_name_ok(k->name) || hd_proof_unhex(p1 + 1, 8, kh) != 0 ||
        hd_proof_unbase64(p2 + 1, n - (size_t)(p2 + 1 - s), typed, sizeof typed, &tl) != 0 ||
        tl != 33 || typed[0] != 1)
        return -1;
    memcpy(k->raw, typed + 1, 32);
    hd_proof_key_hash(k->name, k->raw, want);
    return memcmp(kh, want, 4) == 0 ? 0 : -1;
}

int hd_proof_pubkey_load(const char *path, struct hd_proof_pubkey *k, struct hd_err *err)
{
    struct hd_buf b = HD_BUF_INIT;
    int rc = -1;
    memset(k, 0, sizeof *k);
    if (hd_proof_read_file(path, &b, err) != 0) {
        hd_err_prefix(err, "public key");
        return -1;
    }
    if (b.len > 10 && memcmp(b.data, "-----BEGIN", 10) == 0) {
        BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
        EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        size_t len = 32;
        if (pk && EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519 &&
            EVP_PKEY_get_raw_public_key(pk, k->raw, &len) && len == 32)
            rc = 0;
        EVP_PKEY_free(pk);
        BIO_free(bio);
    } else {
        size_t n = b.len;
        while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' '))
            n--;
        rc = parse_vkey(b.data, n, k);
    }
    if (rc != 0)
        hd_err_set(err, HD_EX_DATAERR,
                   "%s is neither an Ed25519 public key in PEM nor a C2SP verifier key "
                   "(name+hash+base64)",
                   path);
    hd_buf_release(&b);
    return rc;
}

/* ---- checkpoints (C2SP tlog-checkpoint in a C2SP signed note) -------------------------------- */

static const char em_dash[] = "\xe2\x80\x94 ";
static const char manifest_ext[] = "herald-manifest sha256:";

static int sign_note(EVP_PKEY *pk, const char *name, const char *text, size_t len,
                     struct hd_buf *out, struct hd_err *err)
{
    uint8_t sig[4 + 64], raw[32];
    size_t siglen = 64, rawlen = 32;
    char b64[128];
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(m, sig + 4, &siglen, (const unsigned char *)text, len) == 1 &&
             siglen == 64 && EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) && rawlen == 32;
    EVP_MD_CTX_free(m);
    if (!ok) {
        hd_err_set(err, HD_EX_SOFTWARE, "Ed25519 signing failed (OpenSSL)");
        return -1;
    }
    hd_proof_key_hash(name, raw, sig);
    hd_proof_base64(sig, sizeof sig, b64);
    if (hd_buf_append(out, text, len) || hd_buf_putc(out, '\n') || hd_buf_puts(out, em_dash) ||
        hd_buf_printf(out, "%s %s\n", name, b64)) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    return 0;
}

static bool ed25519_ok(const uint8_t raw[32], const uint8_t sig[64], const char *msg, size_t len)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    bool ok = pk && m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(m, sig, 64, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pk);
    return ok;
}

int hd_note_verify(const char *text, size_t len, const struct hd_proof_pubkey *key,
                   size_t *text_len, char signer[128], struct hd_err *err)
{
    const char *end = text + len, *body_end = NULL, *p, *nl;
    for (p = text; p + 1 < end; p++)
        if (p[0] == '\n' && p[1] == '\n') {
            body_end = p + 1;
            break;
        }
    if (body_end == NULL || len == 0 || end[-1] != '\n' || memchr(text, '\0', len) ||
        memchr(text, '\r', len)) {
        hd_err_set(err, HD_EX_FAIL, "not a signed note (text, a blank line, signature lines)");
        return -1;
    }
    /* The signatures: "— <name> <base64(key hash || signature)>" per line. */
    bool matched = false;
    char names[256] = "";
    for (p = body_end + 1; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(nl - p), dl = strlen(em_dash);
        const char *sp;
        char name[128];
        uint8_t sig[80], kh[4];
        size_t siglen;
        if (n < dl || memcmp(p, em_dash, dl) != 0 || (sp = memchr(p + dl, ' ', n - dl)) == NULL ||
            (size_t)(sp - p - (ptrdiff_t)dl) >= sizeof name) {
            hd_err_set(err, HD_EX_FAIL, "a malformed signature line");
            return -1;
        }
        memcpy(name, p + dl, (size_t)(sp - p) - dl);
        name[(size_t)(sp - p) - dl] = '\0';
        if (strlen(names) + strlen(name) + 3 < sizeof names)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] ? ", " : "", name);
        if (hd_proof_unbase64(sp + 1, (size_t)(nl - sp - 1), sig, sizeof sig, &siglen) != 0 ||
            siglen < 5) {
            hd_err_set(err, HD_EX_FAIL, "a signature line with bad base64");
            return -1;
        }
        if (key->name[0] && strcmp(key->name, name) != 0)
            continue;
        hd_proof_key_hash(name, key->raw, kh);
        if (siglen != 68 || memcmp(kh, sig, 4) != 0)
            continue;
        matched = true;
        if (ed25519_ok(key->raw, sig + 4, text, (size_t)(body_end - text))) {
            snprintf(signer, 128, "%s", name);
            *text_len = (size_t)(body_end - text);
            return 0;
        }
    }
    if (matched)
        hd_err_set(err, HD_EX_FAIL,
                   "the signature does not verify with the given key: the text or its signature "
                   "was changed");
    else
        hd_err_set(err, HD_EX_FAIL, "no signature by the given key (signed by: %s)",
                   names[0] ? names : "nobody");
    return -1;
}

int hd_note_sign_seed(const uint8_t seed[32], const char *name, const char *text, size_t len,
                      struct hd_buf *out, struct hd_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    int rc;
    if (pk == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot make an Ed25519 key (OpenSSL)");
        return -1;
    }
    rc = sign_note(pk, name, text, len, out, err);
    EVP_PKEY_free(pk);
    return rc;
}

int hd_checkpoint_verify(const char *text, size_t len, const struct hd_proof_pubkey *key,
                         struct hd_checkpoint *cp, struct hd_err *err)
{
    const char *p, *nl, *body_end;
    size_t body;
    int line = 0;
    memset(cp, 0, sizeof *cp);
    if (hd_note_verify(text, len, key, &body, cp->signer, err) != 0) {
        hd_err_prefix(err, "checkpoint");
        return -1;
    }
    body_end = text + body;
    for (p = text; p < body_end; p = nl + 1, line++) {
        nl = memchr(p, '\n', (size_t)(body_end - p));
        size_t n = (size_t)(nl - p);
        if (line == 0) {
            if (n == 0 || n >= sizeof cp->origin)
                goto bad_line;
            memcpy(cp->origin, p, n);
        } else if (line == 1) {
            uint64_t v = 0;
            if (n == 0 || n > 19 || (p[0] == '0' && n > 1))
                goto bad_line;
            for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                    goto bad_line;
                v = v * 10 + (uint64_t)(p[i] - '0');
            }
            cp->size = v;
        } else if (line == 2) {
            size_t got;
            if (hd_proof_unbase64(p, n, cp->root, 32, &got) != 0 || got != 32)
                goto bad_line;
        } else if (n == 0) {
            goto bad_line;
        } else if (n == strlen(manifest_ext) + 64 &&
                   memcmp(p, manifest_ext, strlen(manifest_ext)) == 0) {
            if (hd_proof_unhex(p + strlen(manifest_ext), 64, cp->manifest_sha256) != 0)
                goto bad_line;
            cp->has_manifest = true;
        }
    }
    if (line < 3) {
        hd_err_set(err, HD_EX_FAIL, "checkpoint: needs an origin, a tree size and a root hash");
        return -1;
    }
    return 0;
bad_line:
    hd_err_set(err, HD_EX_FAIL, "checkpoint: line %d is malformed", line + 1);
    return -1;
}

/* ---- reading records.jsonl ------------------------------------------------------------------- */

/* Reading records runs as two threads: a producer reads them (from a file
 * or the store) into batches and hashes every line (the leaf hashes: half
 * the work), the caller's thread consumes the batches in order (parsing,
 * checking, counting, writing). Three batches of about 4 MiB circulate, so
 * memory stays constant whatever the number of records. */

#define BATCH_BYTES (4u << 20)
#define NBATCH 3
#define LINE_MAX_BYTES (16u << 20)

struct lbatch {
    char *buf; /* the lines, each followed by '\n' */
    size_t len, cap;
    size_t *off; /* n + 1 offsets: line k is buf[off[k] .. off[k+1] - 1) */
    uint8_t (*leaf)[32];
    size_t n, cap_lines;
    size_t hashed;  /* lines 0 .. hashed-1 were hashed by the producer */
    uint64_t first; /* index of line 0 */
    bool last;
};

struct pipeline {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lbatch b[NBATCH];
    bool full[NBATCH];
    bool stop;         /* the consumer gave up */
    bool failed;       /* the producer failed: err says why */
    struct hd_err err; /* the producer's */
    int (*fill)(struct pipeline *p, struct lbatch *b);
    int (*after)(struct pipeline *p, struct lbatch *b); /* optional, on the producer's thread */
    void *src;
    struct hd_merkle_hasher h;
    uint64_t next;              /* index of the next line */
    bool tree;                  /* also build the Merkle tree */
    unsigned early_pct;         /* share of each batch's lines the producer hashes; the
                                   consumer hashes the rest (and then builds the tree) */
    struct hd_merkle_hasher ch; /* the consumer's */
    struct hd_merkle_stream ms;
    uint8_t root[32]; /* when tree, after a successful run */
};

static int batch_reserve(struct lbatch *b, size_t bytes, size_t lines)
{
    if (bytes > b->cap) {
        size_t cap = b->cap ? b->cap : BATCH_BYTES + 65536;
        while (cap < bytes)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    if (lines + 1 > b->cap_lines) {
        size_t cap = b->cap_lines ? b->cap_lines * 2 : 8192;
        while (cap < lines + 1)
            cap *= 2;
        size_t *off = realloc(b->off, cap * sizeof *off);
        if (off)
            b->off = off;
        uint8_t(*leaf)[32] = realloc(b->leaf, cap * sizeof *leaf);
        if (leaf)
            b->leaf = leaf;
        if (off == NULL || leaf == NULL)
            return -1;
        b->cap_lines = cap;
    }
    return 0;
}

/* Leaf hashes of lines from .. to-1; the tree when tree_too. */
static void hash_lines(struct pipeline *p, struct hd_merkle_hasher *h, struct lbatch *b,
                       size_t from, size_t to, bool tree_too)
{
    for (size_t k = from; k < to; k++)
        hd_merkle_leaf_hash(h, b->buf + b->off[k], b->off[k + 1] - b->off[k] - 1, b->leaf[k]);
    for (size_t k = 0; tree_too && p->tree && k < b->n; k++)
        hd_merkle_stream_add(&p->ms, b->leaf[k]);
}

static void *producer(void *arg)
{
    struct pipeline *p = arg;
    for (size_t i = 0;; i = (i + 1) % NBATCH) {
        pthread_mutex_lock(&p->mu);
        while (p->full[i] && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        struct lbatch *b = &p->b[i];
        b->len = b->n = 0;
        b->last = false;
        b->first = p->next;
        int rc = p->fill(p, b);
        b->hashed = rc == 0 ? b->n * p->early_pct / 100 : 0;
        if (rc == 0)
            hash_lines(p, &p->h, b, 0, b->hashed, p->early_pct == 100);
        if (rc == 0 && p->after)
            rc = p->after(p, b);
        p->next += b->n;
        pthread_mutex_lock(&p->mu);
        if (rc != 0) {
            p->failed = true;
            b->n = 0;
            b->last = true;
        }
        p->full[i] = true;
        bool last = b->last;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (last)
            break;
    }
    return NULL;
}

/* Runs the producer p->fill and calls each(ctx, batch) for every batch in
 * order. Returns 0, each's non-zero, or -1 with err set. */
static int pipeline_run(struct pipeline *p, int (*each)(void *ctx, struct lbatch *b), void *ctx,
                        struct hd_err *err)
{
    pthread_t t;
    int rc = 0;
    if (hd_merkle_hasher_init(&p->h) != 0 || hd_merkle_hasher_init(&p->ch) != 0) {
        hd_merkle_hasher_free(&p->h);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_merkle_stream_init(&p->ms, p->early_pct == 100 ? &p->h : &p->ch);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&t, NULL, producer, p) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot start a thread");
        rc = -1;
        goto out;
    }
    for (size_t i = 0;; i = (i + 1) % NBATCH) {
        pthread_mutex_lock(&p->mu);
        while (!p->full[i])
            pthread_cond_wait(&p->cv, &p->mu);
        bool failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        struct lbatch *b = &p->b[i];
        bool last = b->last;
        if (b->n && p->early_pct < 100)
            hash_lines(p, &p->ch, b, b->hashed, b->n, true);
        if (b->n)
            rc = each(ctx, b);
        pthread_mutex_lock(&p->mu);
        p->full[i] = false;
        if (rc != 0)
            p->stop = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc == 0 && last && failed) {
            *err = p->err;
            rc = -1;
        }
        if (rc != 0 || last)
            break;
    }
    pthread_join(t, NULL);
    if (rc == 0 && p->tree)
        hd_merkle_stream_root(&p->ms, p->root);
out:
    for (int i = 0; i < NBATCH; i++) {
        free(p->b[i].buf);
        free(p->b[i].off);
        free(p->b[i].leaf);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    hd_merkle_hasher_free(&p->h);
    hd_merkle_hasher_free(&p->ch);
    return rc;
}

/* -- the file source: records.jsonl -- */

struct file_src {
    int fd;
    const char *path;
    char *carry; /* the start of a line the last batch could not end */
    size_t carry_len, carry_cap;
    bool eof;
};

static int file_fill(struct pipeline *p, struct lbatch *b)
{
    struct file_src *f = p->src;
    size_t start = 0;
    if (batch_reserve(b, BATCH_BYTES + f->carry_len, 0) != 0)
        goto oom;
    if (f->carry_len)
        memcpy(b->buf, f->carry, f->carry_len);
    b->len = f->carry_len;
    f->carry_len = 0;
    for (size_t target = BATCH_BYTES;; target = b->cap) {
        while (!f->eof && b->len < target) {
            ssize_t n = read(f->fd, b->buf + b->len, b->cap - b->len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                hd_err_set(&p->err, HD_EX_IOERR, "%s: %s", f->path, strerror(errno));
                return -1;
            }
            f->eof = n == 0;
            b->len += (size_t)n;
        }
        if (f->eof || memchr(b->buf, '\n', b->len))
            break;
        /* one line longer than a batch: grow, within reason */
        if (b->len >= LINE_MAX_BYTES) {
            hd_err_set(&p->err, HD_EX_FAIL,
                       "records.jsonl line %" PRIu64 " is longer than %u bytes", p->next + 1,
                       LINE_MAX_BYTES);
            return -1;
        }
        if (batch_reserve(b, b->cap * 2, 0) != 0)
            goto oom;
    }
    for (;;) {
        char *nl = memchr(b->buf + start, '\n', b->len - start);
        if (nl == NULL)
            break;
        if (batch_reserve(b, 0, b->n + 1) != 0)
            goto oom;
        b->off[b->n++] = start;
        start = (size_t)(nl - b->buf) + 1;
    }
    b->off[b->n] = start;
    size_t tail = b->len - start;
    if (tail && f->eof) {
        hd_err_set(&p->err, HD_EX_FAIL, "records.jsonl line %" PRIu64 " has no newline at its end",
                   p->next + b->n + 1);
        return -1;
    }
    if (tail > f->carry_cap) {
        char *c = realloc(f->carry, tail);
        if (c == NULL)
            goto oom;
        f->carry = c;
        f->carry_cap = tail;
    }
    if (tail)
        memcpy(f->carry, b->buf + start, tail);
    f->carry_len = tail;
    b->len = start;
    b->last = f->eof && tail == 0;
    return 0;
oom:
    hd_err_set(&p->err, HD_EX_SOFTWARE, "out of memory");
    return -1;
}

struct each_ctx {
    int (*fn)(void *ctx, uint64_t index, const char *line, size_t len, const uint8_t leaf[32]);
    void *ctx;
};

static int each_line(void *ctx, struct lbatch *b)
{
    struct each_ctx *e = ctx;
    for (size_t k = 0; k < b->n; k++) {
        int rc = e->fn(e->ctx, b->first + k, b->buf + b->off[k], b->off[k + 1] - b->off[k] - 1,
                       b->leaf[k]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Every line to fn; root (when not NULL) gets the Merkle root and *count
 * the number of lines. */
static int each_record(const char *path,
                       int (*fn)(void *ctx, uint64_t index, const char *line, size_t len,
                                 const uint8_t leaf[32]),
                       void *ctx, uint8_t *root, uint64_t *count, struct hd_err *err)
{
    struct file_src f = {open(path, O_RDONLY | O_CLOEXEC), path, NULL, 0, 0, false};
    struct pipeline p;
    struct each_ctx e = {fn, ctx};
    int rc;
    if (f.fd < 0) {
        hd_err_set(err, errno == ENOENT ? HD_EX_FAIL : HD_EX_IOERR, "%s: %s", path,
                   strerror(errno));
        return -1;
    }
    memset(&p, 0, sizeof p);
    p.fill = file_fill;
    p.src = &f;
    p.tree = root != NULL;
    p.early_pct = 100;
    rc = pipeline_run(&p, each_line, &e, err);
    if (rc == 0 && root)
        memcpy(root, p.root, 32);
    if (count)
        *count = p.next;
    close(f.fd);
    free(f.carry);
    return rc;
}

int hd_proofs_each_record(const char *path,
                          int (*fn)(void *ctx, uint64_t index, const char *line, size_t len,
                                    const uint8_t leaf[32]),
                          void *ctx, struct hd_err *err)
{
    return each_record(path, fn, ctx, NULL, NULL, err);
}

/* ---- counting: the summary ------------------------------------------------------------------- */

/* Counts per key (a tuple of fields joined by 0x01, which sorts below every
 * character a field may hold, so byte order is tuple order). */
struct agg {
    char **keys;
    uint64_t *count, *extra;
    size_t n, cap;
    uint32_t *slots; /* index + 1; 0 empty */
    size_t nslots;
};

static void agg_free(struct agg *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->keys[i]);
    free(a->keys);
    free(a->count);
    free(a->extra);
    free(a->slots);
    memset(a, 0, sizeof *a);
}

static int agg_add(struct agg *a, const char *key, size_t len, uint64_t extra)
{
    uint64_t h = hd_person_hash(key, len);
    if (a->n * 2 >= a->nslots) {
        size_t ns = a->nslots ? a->nslots * 2 : 256;
        uint32_t *slots = calloc(ns, sizeof *slots);
        if (slots == NULL || a->n >= 1u << 24) {
            free(slots);
            return -1;
        }
        for (size_t i = 0; i < a->n; i++) {
            size_t j = hd_person_hash(a->keys[i], strlen(a->keys[i])) & (ns - 1);
            while (slots[j])
                j = (j + 1) & (ns - 1);
            slots[j] = (uint32_t)(i + 1);
        }
        free(a->slots);
        a->slots = slots;
        a->nslots = ns;
    }
    size_t j = h & (a->nslots - 1);
    for (; a->slots[j]; j = (j + 1) & (a->nslots - 1)) {
        size_t i = a->slots[j] - 1;
        if (strncmp(a->keys[i], key, len) == 0 && a->keys[i][len] == '\0') {
            a->count[i]++;
            a->extra[i] += extra;
            return 0;
        }
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        char **k = realloc(a->keys, cap * sizeof *k);
        if (k)
            a->keys = k;
        uint64_t *c = realloc(a->count, cap * sizeof *c);
        if (c)
            a->count = c;
        uint64_t *e = realloc(a->extra, cap * sizeof *e);
        if (e)
            a->extra = e;
        if (!k || !c || !e)
            return -1;
        a->cap = cap;
    }
    if ((a->keys[a->n] = strndup(key, len)) == NULL)
        return -1;
    a->count[a->n] = 1;
    a->extra[a->n] = extra;
    a->slots[j] = (uint32_t)(++a->n);
    return 0;
}

static const struct agg *sort_agg;
static int cmp_idx(const void *x, const void *y)
{
    return strcmp(sort_agg->keys[*(const size_t *)x], sort_agg->keys[*(const size_t *)y]);
}

/* Indices of a's entries in key order (caller frees). */
static size_t *agg_order(const struct agg *a)
{
    size_t *idx = malloc((a->n ? a->n : 1) * sizeof *idx);
    if (idx == NULL)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        idx[i] = i;
    sort_agg = a;
    qsort(idx, a->n, sizeof *idx, cmp_idx);
    return idx;
}

struct summary {
    struct agg deliv, excl, state, reason, key_ids;
    uint64_t records, deliveries, exclusions;
};

static int join(char *out, size_t cap, const struct hd_proof_slice *parts, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + parts[i].n + 1 >= cap)
            return -1;
        if (i)
            out[o++] = '\x01';
        if (parts[i].p)
            memcpy(out + o, parts[i].p, parts[i].n);
        o += parts[i].p ? parts[i].n : 0;
    }
    out[o] = '\0';
    return (int)o;
}

static int summary_add(struct summary *s, const struct hd_proof_rec *r)
{
    char key[512];
    int n;
    s->records++;
    if (agg_add(&s->state, r->f[HD_PF_STATE].p, r->f[HD_PF_STATE].n, 0) != 0 ||
        agg_add(&s->key_ids, r->f[HD_PF_KEY_ID].p, r->f[HD_PF_KEY_ID].n, 0) != 0)
        return -1;
    if (r->exclusion) {
        struct hd_proof_slice parts[2] = {r->f[HD_PF_REASON], r->f[HD_PF_COUNTRY]};
        s->exclusions++;
        if ((n = join(key, sizeof key, parts, 2)) < 0 || agg_add(&s->excl, key, (size_t)n, 0) ||
            agg_add(&s->reason, r->f[HD_PF_REASON].p, r->f[HD_PF_REASON].n, 0))
            return -1;
        return 0;
    }
    struct hd_proof_slice parts[5] = {r->f[HD_PF_COUNTRY], r->f[HD_PF_LANGUAGE],
                                      r->f[HD_PF_CHANNEL], r->f[HD_PF_STATE], r->f[HD_PF_EVENT]};
    s->deliveries++;
    if ((n = join(key, sizeof key, parts, 5)) < 0 ||
        agg_add(&s->deliv, key, (size_t)n, r->fallback ? 1 : 0))
        return -1;
    return 0;
}

static void summary_free(struct summary *s)
{
    agg_free(&s->deliv);
    agg_free(&s->excl);
    agg_free(&s->state);
    agg_free(&s->reason);
    agg_free(&s->key_ids);
}

static json_t *counts_obj(const struct agg *a)
{
    json_t *o = json_object();
    for (size_t i = 0; i < a->n; i++)
        json_object_set_new(o, a->keys[i], json_integer((json_int_t)a->count[i]));
    return o;
}

/* summary.json: pretty, keys sorted, one trailing newline. */
static char *summary_text(const struct summary *s, const char *campaign)
{
    static const char *const dnames[5] = {"country", "language", "channel", "state", "event"};
    json_t *deliv = json_array(), *excl = json_array();
    size_t *di = agg_order(&s->deliv), *xi = agg_order(&s->excl);
    char *text = NULL;
    if (di == NULL || xi == NULL)
        goto out;
    for (size_t k = 0; k < s->deliv.n; k++) {
        size_t i = di[k];
        json_t *o = json_object();
        const char *p = s->deliv.keys[i];
        for (int f = 0; f < 5; f++) {
            size_t n = strcspn(p, "\x01");
            json_object_set_new(o, dnames[f], json_stringn(p, n));
            p += n + (p[n] ? 1 : 0);
        }
        json_object_set_new(o, "records", json_integer((json_int_t)s->deliv.count[i]));
        json_object_set_new(o, "fallback", json_integer((json_int_t)s->deliv.extra[i]));
        json_array_append_new(deliv, o);
    }
    for (size_t k = 0; k < s->excl.n; k++) {
        size_t i = xi[k];
        const char *p = s->excl.keys[i];
        size_t n = strcspn(p, "\x01");
        json_array_append_new(excl, json_pack("{s:s%, s:s, s:I}", "reason", p, n, "country",
                                              p[n] ? p + n + 1 : "", "records",
                                              (json_int_t)s->excl.count[i]));
    }
    json_t *root = json_pack("{s:s, s:O, s:O, s:{s:I, s:I, s:I, s:o, s:o}}", "campaign", campaign,
                             "deliveries", deliv, "exclusions", excl, "totals", "records",
                             (json_int_t)s->records, "delivery_records", (json_int_t)s->deliveries,
                             "exclusion_records", (json_int_t)s->exclusions, "by_state",
                             counts_obj(&s->state), "by_reason", counts_obj(&s->reason));
    char *dump = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (dump) {
        size_t n = strlen(dump);
        text = realloc(dump, n + 2);
        if (text) {
            text[n] = '\n';
            text[n + 1] = '\0';
        } else {
            free(dump);
        }
    }
out:
    json_decref(deliv);
    json_decref(excl);
    free(di);
    free(xi);
    return text;
}

#define WRITEBACK_CHUNK (32u << 20)

/* Gigabytes of records would fill the page cache with dirty pages and push
 * out the store's pages that are still to be read: start the writeback of
 * each 32 MiB written, wait for the chunk before, and drop that from the
 * cache (a bundle is read again only to be verified, usually elsewhere). */
static void writeback(int fd, uint64_t written, uint64_t *flushed)
{
    while (written - *flushed >= WRITEBACK_CHUNK) {
        off_t at = (off_t)*flushed;
        sync_file_range(fd, at, WRITEBACK_CHUNK, SYNC_FILE_RANGE_WRITE);
        if (at >= (off_t)WRITEBACK_CHUNK) {
            sync_file_range(fd, at - WRITEBACK_CHUNK, WRITEBACK_CHUNK,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
            posix_fadvise(fd, at - WRITEBACK_CHUNK, WRITEBACK_CHUNK, POSIX_FADV_DONTNEED);
        }
        *flushed += WRITEBACK_CHUNK;
    }
}

/* ---- checking records one by one (export and verify share it) -------------------------------- */

struct rcheck {
    uint64_t count; /* lines checked */
    uint8_t prev_leaf[32];
    char campaign[128], snapshot[65];
    struct summary sum;
    bool csv;
    struct hd_buf csv_line;
    /* verify: the records.csv being compared; export: where it goes */
    FILE *csv_in, *csv_out;
    uint64_t csv_written, csv_flushed;
    EVP_MD_CTX *csv_md;
    bool broken;          /* the last line's prev did not link to the line before */
    uint64_t broken_line; /* that line (1-based) */
    const char *file;     /* "records.jsonl" or "state store proof" */
    struct hd_err *err;
};

static int rcheck_init(struct rcheck *c, const char *file, struct hd_err *err)
{
    memset(c, 0, sizeof *c);
    c->file = file;
    c->err = err;
    return 0;
}

static void rcheck_free(struct rcheck *c)
{
    summary_free(&c->sum);
    hd_buf_release(&c->csv_line);
    EVP_MD_CTX_free(c->csv_md);
}

static int rcheck_line(void *ctx, uint64_t index, const char *line, size_t len,
                       const uint8_t leaf[32])
{
    struct rcheck *c = ctx;
    struct hd_proof_rec r;
    char why[256];
    uint64_t ln = index + 1;
    if (hd_proof_parse(line, len, &r, why, sizeof why) != 0) {
        hd_err_set(c->err, HD_EX_FAIL, "%s line %" PRIu64 ": %s", c->file, ln, why);
        return -1;
    }
    if (r.seq != index) {
        hd_err_set(c->err, HD_EX_FAIL,
                   "%s line %" PRIu64 ": holds seq %" PRIu64 ", expected %" PRIu64
                   ": a record was deleted, inserted or moved here",
                   c->file, ln, r.seq, index);
        return -1;
    }
    if (index > 0) {
        char hex[65];
        hd_proof_hex(c->prev_leaf, 32, hex);
        bool linked = memcmp(hex, r.f[HD_PF_PREV].p, 64) == 0;
        /* A broken link between lines L-1 and L: if line L+1 links to line
         * L, line L is intact and line L-1 changed; else line L changed. */
        if (c->broken) {
            hd_err_set(c->err, HD_EX_FAIL,
                       linked ? "%s line %" PRIu64 ": this record was changed (the next line's "
                                "\"prev\" is another hash)"
                              : "%s line %" PRIu64 ": this record was changed (its \"prev\" and "
                                "the next line's \"prev\" do not link)",
                       c->file, linked ? ln - 2 : ln - 1);
            return -1;
        }
        if (!linked) {
            c->broken = true;
            c->broken_line = ln;
        }
    }
    struct hd_proof_slice camp = r.f[HD_PF_CAMPAIGN], snap = r.f[HD_PF_SNAPSHOT];
    if (index == 0) {
        snprintf(c->campaign, sizeof c->campaign, "%.*s", (int)camp.n, camp.p);
        memcpy(c->snapshot, snap.p, 64);
        c->snapshot[64] = '\0';
    } else if (!slice_eq(camp, c->campaign) || memcmp(snap.p, c->snapshot, 64) != 0) {
        hd_err_set(c->err, HD_EX_FAIL,
                   "%s line %" PRIu64 ": campaign or snapshot differs from line 1", c->file, ln);
        return -1;
    }
    if (summary_add(&c->sum, &r) != 0) {
        hd_err_set(c->err, HD_EX_SOFTWARE, "out of memory counting records");
        return -1;
    }
    if (c->csv) {
        hd_buf_reset(&c->csv_line);
        if (hd_proof_csv_line(&r, &c->csv_line) != 0) {
            hd_err_set(c->err, HD_EX_SOFTWARE, "out of memory");
            return -1;
        }
        if (c->csv_out &&
            (fwrite(c->csv_line.data, 1, c->csv_line.len, c->csv_out) != c->csv_line.len ||
             !EVP_DigestUpdate(c->csv_md, c->csv_line.data, c->csv_line.len))) {
            hd_err_set(c->err, HD_EX_IOERR, "cannot write records.csv: %s", strerror(errno));
            return -1;
        }
        if (c->csv_out && (c->csv_written += c->csv_line.len) - c->csv_flushed >= WRITEBACK_CHUNK &&
            fflush(c->csv_out) == 0)
            writeback(fileno(c->csv_out), c->csv_written, &c->csv_flushed);
        if (c->csv_in) {
            char buf[8192];
            bool same = true;
            for (size_t off = 0; off < c->csv_line.len && same;) {
                size_t want =
                    c->csv_line.len - off < sizeof buf ? c->csv_line.len - off : sizeof buf;
                same = fread(buf, 1, want, c->csv_in) == want &&
                       memcmp(buf, c->csv_line.data + off, want) == 0;
                off += want;
            }
            if (!same) {
                hd_err_set(c->err, HD_EX_FAIL,
                           "%s line %" PRIu64 ": this record was changed (it differs from "
                           "row %" PRIu64 " of records.csv, which the signed manifest vouches for)",
                           c->file, ln, ln);
                return -1;
            }
        }
    }
    c->count = index + 1;
    memcpy(c->prev_leaf, leaf, 32);
    return 0;
}

/* After the last line: a broken link there cannot be placed any closer. */
static int rcheck_finish(struct rcheck *c)
{
    if (!c->broken)
        return 0;
    hd_err_set(c->err, HD_EX_FAIL,
               "%s line %" PRIu64 ": this record or the one before it was changed (the last "
               "line's \"prev\" is another hash)",
               c->file, c->broken_line - 1);
    return -1;
}

/* ---- export ---------------------------------------------------------------------------------- */

static const char verify_md[] =
    "# How to check this proof bundle\n"
    "\n"
    "This directory is a delivery-proof bundle of the campaign `%s`, exported by\n"
    "Herald (format `" HD_PROOF_FORMAT "`). Everything here can be checked without\n"
    "Herald, with a few lines of any language that has SHA-256 and Ed25519.\n"
    "\n"
    "| file | what it is |\n"
    "|---|---|\n"
    "| `records.jsonl` | the proof records, one canonical JSON object per line, in `seq` order |\n"
    "| `records.csv` | (when present) the same records as CSV, for spreadsheets |\n"
    "| `summary.json` | counts per country, language, channel, state and event; exclusions by "
    "reason |\n"
    "| `manifest.json` | record count, campaign snapshot hash, export time, tool, Merkle root, "
    "SHA-256 of the other files |\n"
    "| `checkpoint` | the signed root: a C2SP signed note (tlog-checkpoint) |\n"
    "| `signer.vkey` | the signing key as a C2SP verifier key (check it against the key you "
    "were given) |\n"
    "\n"
    "## 1. The signature\n"
    "\n"
    "`checkpoint` is a C2SP signed note: the note text (every line up to the blank\n"
    "line, each with its newline), a blank line, and signature lines\n"
    "`— <key name> <base64>`. The base64 decodes to 68 bytes: a 4-byte key hash,\n"
    "SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[0:4], then the\n"
    "64-byte Ed25519 signature of the note text. The note text is:\n"
    "\n"
    "    %s                 (origin)\n"
    "    <number of records>  (tree size)\n"
    "    <base64 Merkle root>\n"
    "    herald-manifest sha256:<hex SHA-256 of manifest.json>\n"
    "\n"
    "Check the signature with the public key compliance published (not only the\n"
    "`signer.vkey` in this directory, which anyone could replace). With Herald:\n"
    "`herald proofs verify <this directory> --pubkey <their key>`.\n"
    "\n"
    "## 2. The manifest and the other files\n"
    "\n"
    "SHA-256 of `manifest.json` must equal the hex on the `herald-manifest` line.\n"
    "`manifest.json` lists the SHA-256 of `summary.json`, `VERIFY.md`, `signer.vkey`\n"
    "and `records.csv` (when present): `sha256sum` each and compare.\n"
    "\n"
    "## 3. The Merkle root over the records\n"
    "\n"
    "RFC 9162 (Certificate Transparency 2.0), section 2.1.1, with SHA-256. The\n"
    "leaves are the lines of `records.jsonl`, as bytes, without their newline:\n"
    "\n"
    "    leaf hash  = SHA-256(0x00 || line bytes)\n"
    "    node hash  = SHA-256(0x01 || left || right)\n"
    "    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of 2 < n\n"
    "    MTH({})    = SHA-256(\"\")\n"
    "\n"
    "In Python:\n"
    "\n"
    "```python\n"
    "import base64, hashlib\n"
    "def mth(h):\n"
    "    if len(h) == 1: return h[0]\n"
    "    k = 1\n"
    "    while k * 2 < len(h): k *= 2\n"
    "    return hashlib.sha256(b'\\x01' + mth(h[:k]) + mth(h[k:])).digest()\n"
    "lines = open('records.jsonl', 'rb').read().split(b'\\n')[:-1]\n"
    "leaves = [hashlib.sha256(b'\\x00' + l).digest() for l in lines]\n"
    "root = mth(leaves) if leaves else hashlib.sha256(b'').digest()\n"
    "print(len(lines), base64.b64encode(root).decode())  # = lines 2 and 3 of checkpoint\n"
    "```\n"
    "\n"
    "## 4. Each record\n"
    "\n"
    "Every line is canonical JSON: `json.dumps(obj, sort_keys=True,\n"
    "separators=(',', ':'))` in Python gives back the same bytes. `seq` counts\n"
    "from 0 in line order; `prev` is the leaf hash (hex) of the line before, so a\n"
    "changed line is found by the next line's `prev`. `summary.json` is what the\n"
    "records count up to. Herald's docs/proofs.md describes every field and what\n"
    "it proves, and what it does not: `smtp.accepted` means the mail relay took\n"
    "the message, not that it reached a mailbox.\n"
    "\n"
    "## 5. One person\n"
    "\n"
    "People and addresses appear only as HMAC-SHA256 under a pseudonym key that\n"
    "this bundle does not contain (`person_key`, `address_key`, `key_id`). The\n"
    "company can run `herald proofs prove` for one person: it outputs that\n"
    "person's records with RFC 9162 inclusion proofs against this checkpoint.\n";

static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
                        struct hd_err *err)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (write_new(tmp, data, len, 0644, true, err) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t h[HD_SHA256_LEN];
    hd_sha256(data, len, h);
    hd_proof_hex(h, HD_SHA256_LEN, out);
}

static int mkdirs(const char *dir, struct hd_err *err)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        hd_err_set(err, HD_EX_USAGE, "bad output directory");
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            hd_err_set(err, HD_EX_CANTCREAT, "cannot create directory %s: %s", path,
                       strerror(errno));
            return -1;
        }
        path[i] = saved;
    }
    return 0;
}

static uint64_t not_final(MDB_txn *txn, const struct hd_store *s)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t n = 0;
    if (mdb_cursor_open(txn, s->counters, &cur) != 0)
        return 0;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        const uint8_t *kb = k.mv_data;
        uint64_t c;
        if (k.mv_size != 4 || v.mv_size != 8 || kb[2] >= HD_MAX_CHANNELS)
            continue;
        if (kb[3] == HD_DS_PENDING || kb[3] == HD_DS_INFLIGHT || kb[3] == HD_DS_RETRY ||
            kb[3] == HD_DS_HELD) {
            memcpy(&c, v.mv_data, 8);
            n += c;
        }
    }
    mdb_cursor_close(cur);
    return n;
}

/* -- the store source: the proofs database in key order, in the caller's
 * read transaction (MDB_NOTLS lets the producer thread use it) -- */

struct lmdb_src {
    MDB_cursor *cur;
    bool started;
    int fd; /* records.jsonl: written on the producer's thread */
    const char *path;
    uint64_t written, flushed; /* bytes written; bytes handed to writeback */
};

static int lmdb_write(struct pipeline *p, struct lbatch *b)
{
    struct lmdb_src *l = p->src;
    for (size_t off = 0; off < b->len;) {
        ssize_t n = write(l->fd, b->buf + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            hd_err_set(&p->err, HD_EX_IOERR, "cannot write %s: %s", l->path, strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    l->written += b->len;
    writeback(l->fd, l->written, &l->flushed);
    return 0;
}

static int lmdb_fill(struct pipeline *p, struct lbatch *b)
{
    struct lmdb_src *l = p->src;
    MDB_val k, v;
    while (b->len < BATCH_BYTES) {
        int rc = mdb_cursor_get(l->cur, &k, &v, l->started ? MDB_NEXT : MDB_FIRST);
        l->started = true;
        if (rc == MDB_NOTFOUND) {
            b->last = true;
            break;
        }
        if (rc != 0)
            return hd_store_fail(&p->err, rc, "reading the proofs");
        uint64_t seq = b->first + b->n;
        if (k.mv_size != 8 || hd_get_u64(k.mv_data) != seq) {
            hd_err_set(&p->err, HD_EX_SOFTWARE,
                       "the state store's proofs have a gap before seq %" PRIu64, seq);
            return -1;
        }
        if (batch_reserve(b, b->len + v.mv_size + 1, b->n + 1) != 0) {
            hd_err_set(&p->err, HD_EX_SOFTWARE, "out of memory");
            return -1;
        }
        b->off[b->n++] = b->len;
        memcpy(b->buf + b->len, v.mv_data, v.mv_size);
        b->len += v.mv_size;
        b->buf[b->len++] = '\n';
    }
    if (batch_reserve(b, 0, b->n) != 0) {
        hd_err_set(&p->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    b->off[b->n] = b->len;
    return 0;
}

static int export_batch(void *ctx, struct lbatch *b)
{
    struct rcheck *c = ctx;
    for (size_t k = 0; k < b->n; k++)
        if (rcheck_line(c, b->first + k, b->buf + b->off[k], b->off[k + 1] - b->off[k] - 1,
                        b->leaf[k]) != 0)
            return -1;
    return 0;
}

static void key_name_for(const struct hd_proof_export_opts *o, char *out, size_t cap)
{
    size_t n = strlen(o->key_path);
    snprintf(out, cap, "%s", o->key_name ? o->key_name : HD_PROOF_KEY_NAME_DEFAULT);
    if (o->key_name || n < 4 || strcmp(o->key_path + n - 4, ".key") != 0)
        return;
    char path[4200];
    struct hd_buf b = HD_BUF_INIT;
    struct hd_err e = {0};
    snprintf(path, sizeof path, "%.*s.vkey", (int)(n - 4), o->key_path);
    if (access(path, R_OK) == 0 && hd_proof_read_file(path, &b, &e) == 0) {
        size_t k = strcspn(b.data, "+\n");
        if (b.data[k] == '+' && k < cap) {
            memcpy(out, b.data, k);
            out[k] = '\0';
        }
    }
    hd_buf_release(&b);
}

static json_t *hashing_notes(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s}", "leaf",
        "SHA-256(0x00 || record line bytes, without the newline)", "node",
        "SHA-256(0x01 || left || right)", "tree",
        "RFC 9162 section 2.1.1 Merkle Tree Hash over the lines of records.jsonl", "checkpoint",
        "C2SP tlog-checkpoint in a C2SP signed note, Ed25519; extension line "
        "'herald-manifest sha256:<hex of manifest.json>'",
        "pseudonyms", "HMAC-SHA256 under the pseudonym key named by key_id (not in this bundle)");
}

int hd_proofs_export(struct hd_store *s, const struct hd_proof_export_opts *o,
                     struct hd_proof_export_result *res, struct hd_err *err)
{
    EVP_PKEY *pk = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    FILE *out = NULL;
    struct rcheck c;
    struct hd_buf b = HD_BUF_INIT, meta = HD_BUF_INIT, note = HD_BUF_INIT;
    char name[128], path[4200], tmp_records[4200], tmp_csv[4200];
    char *summary = NULL, *manifest = NULL, verify_text[sizeof verify_md + 512];
    char campaign[HD_ID_MAX + 1] = "", snapshot[65] = "", root_hex[65], root_b64[64];
    char vkey[512], ts[25];
    uint8_t raw[32];
    size_t rawlen = 32;
    bool found;
    int rc = -1;

    memset(res, 0, sizeof *res);
    if (rcheck_init(&c, "state store proof", err) != 0)
        return -1;
    if ((pk = load_signing_key(o->key_path, err)) == NULL)
        goto out;
    key_name_for(o, name, sizeof name);
    if (!key_name_ok(name)) {
        hd_err_set(err, HD_EX_USAGE, "bad key name \"%s\"", name);
        goto out;
    }
    if (!EVP_PKEY_get_raw_public_key(pk, raw, &rawlen)) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot read the public half of the signing key");
        goto out;
    }
    vkey_line(name, raw, vkey, sizeof vkey);
    if (mkdirs(o->out_dir, err) != 0)
        goto out;
    snprintf(tmp_records, sizeof tmp_records, "%s/.records.jsonl.tmp", o->out_dir);
    snprintf(tmp_csv, sizeof tmp_csv, "%s/.records.csv.tmp", o->out_dir);
    if ((out = fopen(tmp_records, "wb")) == NULL) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", tmp_records, strerror(errno));
        goto out;
    }
    setvbuf(out, NULL, _IOFBF, 1 << 20);
    if (o->csv) {
        c.csv = true;
        c.csv_md = EVP_MD_CTX_new();
        if ((c.csv_out = fopen(tmp_csv, "wb")) == NULL || c.csv_md == NULL ||
            !EVP_DigestInit_ex(c.csv_md, EVP_sha256(), NULL)) {
            hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", tmp_csv, strerror(errno));
            goto out;
        }
        setvbuf(c.csv_out, NULL, _IOFBF, 1 << 20);
        fputs(hd_proof_csv_header, c.csv_out);
        EVP_DigestUpdate(c.csv_md, hd_proof_csv_header, strlen(hd_proof_csv_header));
    }

    /* One read transaction: the records, the campaign and the counters all
     * from the same instant, while a run may go on writing. */
    if (hd_store_begin(s, false, &txn, err) != 0)
        goto out;
    if (hd_store_meta_get(txn, s, "campaign_id", &meta, &found, err) != 0)
        goto out;
    if (!found || meta.len > HD_ID_MAX) {
        hd_err_set(err, HD_EX_DATAERR, "%s holds no plan: run `herald plan` first", s->dir);
        goto out;
    }
    snprintf(campaign, sizeof campaign, "%s", meta.data);
    if (hd_store_meta_get(txn, s, "snapshot_sha256", &meta, &found, err) != 0)
        goto out;
    if (found && meta.len == 64)
        memcpy(snapshot, meta.data, 65);
    uint64_t pending = not_final(txn, s);
    int mrc = mdb_cursor_open(txn, s->proofs, &cur);
    if (mrc != 0) {
        hd_store_fail(err, mrc, "reading the proofs");
        goto out;
    }
    struct lmdb_src ls = {cur, false, fileno(out), tmp_records, 0, 0};
    struct pipeline pl;
    memset(&pl, 0, sizeof pl);
    pl.fill = lmdb_fill;
    pl.after = lmdb_write;
    pl.src = &ls;
    pl.tree = true;
    pl.early_pct = 50; /* the producer also writes: it hashes half the lines */
    if (pipeline_run(&pl, export_batch, &c, err) != 0) {
        if (err->code == HD_EX_FAIL)
            err->code = HD_EX_SOFTWARE; /* a bad record in the store is not a bad bundle */
        goto out;
    }
    uint64_t index = c.count;
    if (rcheck_finish(&c) != 0) {
        err->code = HD_EX_SOFTWARE;
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    mdb_txn_abort(txn);
    txn = NULL;
    if (index > 0 && (strcmp(c.campaign, campaign) != 0 || strcmp(c.snapshot, snapshot) != 0)) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "the proofs are of campaign %s snapshot %.12s, the store of %s snapshot %.12s",
                   c.campaign, c.snapshot, campaign, snapshot);
        goto out;
    }
    /* No fsync of the big files: the store is the durable copy, and a
     * bundle cut short by a crash fails verification (export it again). */
    if (fflush(out) != 0 || fclose(out) != 0) {
        out = NULL;
        hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", tmp_records, strerror(errno));
        goto out;
    }
    out = NULL;

    uint8_t root[32];
    memcpy(root, pl.root, 32);
    hd_proof_hex(root, 32, root_hex);
    hd_proof_base64(root, 32, root_b64);
    snprintf(res->origin, sizeof res->origin, "herald.%s", campaign);

    /* The small files, then the manifest over them, then the checkpoint
     * over the manifest and the root. */
    summary = summary_text(&c.sum, campaign);
    snprintf(verify_text, sizeof verify_text, verify_md, campaign, res->origin);
    char h_sum[65], h_ver[65], h_vkey[65], h_csv[65], h_man[65];
    if (summary == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    sha256_hex(summary, strlen(summary), h_sum);
    sha256_hex(verify_text, strlen(verify_text), h_ver);
    sha256_hex(vkey, strlen(vkey), h_vkey);
    json_t *files = json_pack("{s:s, s:s, s:s}", "summary.json", h_sum, "VERIFY.md", h_ver,
                              "signer.vkey", h_vkey);
    if (o->csv) {
        uint8_t ch[32];
        if (fflush(c.csv_out) != 0 || fclose(c.csv_out) != 0) {
            c.csv_out = NULL;
            json_decref(files);
            hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", tmp_csv, strerror(errno));
            goto out;
        }
        c.csv_out = NULL;
        EVP_DigestFinal_ex(c.csv_md, ch, NULL);
        hd_proof_hex(ch, 32, h_csv);
        json_object_set_new(files, "records.csv", json_string(h_csv));
    }
    json_t *key_ids = json_array();
    size_t *ki = agg_order(&c.sum.key_ids);
    for (size_t i = 0; ki && i < c.sum.key_ids.n; i++)
        json_array_append_new(key_ids, json_string(c.sum.key_ids.keys[ki[i]]));
    free(ki);
    fmt_ts(now_ms(), ts);
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:{s:b, s:I}}",
        "format", HD_PROOF_FORMAT, "campaign", campaign, "snapshot_sha256", snapshot, "exported_at",
        ts, "tool", o->tool ? o->tool : "herald", "checkpoint_origin", res->origin, "records",
        (json_int_t)index, "tree_size", (json_int_t)index, "root_sha256", root_hex, "root_base64",
        root_b64, "signer", name, "pseudonym_key_ids", key_ids, "files", files, "hashing",
        hashing_notes(), "dispatch", "complete", pending == 0, "deliveries_not_final",
        (json_int_t)pending);
    manifest = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(m);
    if (manifest == NULL || hd_buf_printf(&b, "%s\n", manifest) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    sha256_hex(b.data, b.len, h_man);
    char text[1024];
    int tl = snprintf(text, sizeof text, "%s\n%" PRIu64 "\n%s\n%s%s\n", res->origin, index,
                      root_b64, manifest_ext, h_man);
    if (sign_note(pk, name, text, (size_t)tl, &note, err) != 0)
        goto out;

    snprintf(path, sizeof path, "%s/records.jsonl", o->out_dir);
    if (rename(tmp_records, path) != 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof path, "%s/records.csv", o->out_dir);
    if (o->csv ? rename(tmp_csv, path) != 0 : (unlink(path) != 0 && errno != ENOENT)) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if (write_atomic(o->out_dir, "summary.json", summary, strlen(summary), err) != 0 ||
        write_atomic(o->out_dir, "VERIFY.md", verify_text, strlen(verify_text), err) != 0 ||
        write_atomic(o->out_dir, "signer.vkey", vkey, strlen(vkey), err) != 0 ||
        write_atomic(o->out_dir, "manifest.json", b.data, b.len, err) != 0 ||
        write_atomic(o->out_dir, "checkpoint", note.data, note.len, err) != 0)
        goto out;
    res->records = index;
    memcpy(res->root, root, 32);
    rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (out)
        fclose(out);
    if (c.csv_out)
        fclose(c.csv_out);
    if (rc != 0) {
        unlink(tmp_records);
        if (o->csv)
            unlink(tmp_csv);
    }
    rcheck_free(&c);
    EVP_PKEY_free(pk);
    free(summary);
    free(manifest);
    hd_buf_release(&b);
    hd_buf_release(&meta);
    hd_buf_release(&note);
    return rc;
}

/* ---- verify ---------------------------------------------------------------------------------- */

static const char *const bundle_files[] = {"summary.json", "VERIFY.md", "signer.vkey",
                                           "records.csv", NULL};

/* SHA-256 of a file, read in pieces (records.csv is as big as the records). */
static int sha256_file(const char *path, char hex[65], struct hd_err *err)
{
    uint8_t h[32];
    char buf[1 << 16];
    size_t n;
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;
    if (f == NULL) {
        hd_err_set(err, HD_EX_FAIL, "%s: %s", strrchr(path, '/') + 1, strerror(errno));
        goto out;
    }
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    if (ferror(f)) {
        hd_err_set(err, HD_EX_IOERR, "%s: %s", path, strerror(errno));
        goto out;
    }
    EVP_DigestFinal_ex(md, h, NULL);
    hd_proof_hex(h, 32, hex);
    rc = 0;
out:
    if (f)
        fclose(f);
    EVP_MD_CTX_free(md);
    return rc;
}

static int fail(struct hd_err *err, const char *fmt, const char *a, const char *b)
{
    hd_err_set(err, HD_EX_FAIL, fmt, a, b);
    return -1;
}

/* The line number of the first difference between a and b. */
static unsigned first_diff_line(const char *a, size_t na, const char *b, size_t nb)
{
    unsigned line = 1;
    for (size_t i = 0; i < na && i < nb && a[i] == b[i]; i++)
        line += a[i] == '\n';
    return line;
}

int hd_proofs_verify(const char *bundle, const char *pubkey, struct hd_proof_verify_result *res,
                     struct hd_err *err)
{
    struct hd_proof_pubkey key;
    struct hd_checkpoint cp;
    struct hd_buf b = HD_BUF_INIT, man = HD_BUF_INIT;
    struct rcheck c;
    json_t *m = NULL;
    char path[4200], hex[65];
    char *summary = NULL;
    uint8_t h[32];
    int rc = -1;

    memset(res, 0, sizeof *res);
    if (rcheck_init(&c, "records.jsonl", err) != 0)
        return -1;
    /* 1. the signature */
    if (pubkey) {
        if (hd_proof_pubkey_load(pubkey, &key, err) != 0)
            goto out;
    } else {
        snprintf(path, sizeof path, "%s/signer.vkey", bundle);
        if (hd_proof_pubkey_load(path, &key, err) != 0) {
            err->code = HD_EX_FAIL;
            hd_err_prefix(err, "signer.vkey");
            goto out;
        }
        res->own_key = true;
    }
    snprintf(path, sizeof path, "%s/checkpoint", bundle);
    if (hd_proof_read_file(path, &b, err) != 0) {
        if (err->code == HD_EX_NOINPUT)
            err->code = HD_EX_FAIL;
        goto out;
    }
    if (hd_checkpoint_verify(b.data, b.len, &key, &cp, err) != 0)
        goto out;
    snprintf(res->signer, sizeof res->signer, "%s", cp.signer);
    if (!cp.has_manifest) {
        fail(err, "checkpoint: no \"herald-manifest\" line: not a herald proof bundle%s%s", "", "");
        goto out;
    }
    /* 2. the manifest, bound by the signature */
    snprintf(path, sizeof path, "%s/manifest.json", bundle);
    if (hd_proof_read_file(path, &man, err) != 0) {
        err->code = HD_EX_FAIL;
        goto out;
    }
    hd_sha256(man.data, man.len, h);
    if (memcmp(h, cp.manifest_sha256, 32) != 0) {
        fail(err,
             "manifest.json: changed after signing (its SHA-256 is not the one the "
             "checkpoint signs)%s%s",
             "", "");
        goto out;
    }
    m = json_loadb(man.data, man.len, 0, NULL);
    json_t *files = json_object_get(m, "files");
    const char *fmt = json_string_value(json_object_get(m, "format"));
    hd_proof_hex(cp.root, 32, hex);
    if (m == NULL || fmt == NULL || strcmp(fmt, HD_PROOF_FORMAT) != 0 || !json_is_object(files)) {
        fail(err, "manifest.json: not a %s manifest%s", HD_PROOF_FORMAT, "");
        goto out;
    }
    if ((uint64_t)json_integer_value(json_object_get(m, "tree_size")) != cp.size ||
        (uint64_t)json_integer_value(json_object_get(m, "records")) != cp.size ||
        !json_is_string(json_object_get(m, "root_sha256")) ||
        strcmp(json_string_value(json_object_get(m, "root_sha256")), hex) != 0 ||
        !json_is_string(json_object_get(m, "checkpoint_origin")) ||
        strcmp(json_string_value(json_object_get(m, "checkpoint_origin")), cp.origin) != 0) {
        fail(err, "manifest.json: its tree size, root or origin differs from the checkpoint%s%s",
             "", "");
        goto out;
    }
    /* 3. the files it lists */
    const char *fname;
    json_t *fh;
    json_object_foreach(files, fname, fh)
    {
        bool known = false;
        for (int i = 0; bundle_files[i]; i++)
            known = known || strcmp(fname, bundle_files[i]) == 0;
        if (!known || !json_is_string(fh)) {
            fail(err, "manifest.json: lists an unknown file \"%s\"%s", fname, "");
            goto out;
        }
        snprintf(path, sizeof path, "%s/%s", bundle, fname);
        if (sha256_file(path, hex, err) != 0)
            goto out;
        if (strcmp(hex, json_string_value(fh)) != 0) {
            fail(err,
                 "%s: changed after export (its SHA-256 is not the one in the signed "
                 "manifest)%s",
                 fname, "");
            goto out;
        }
    }
    snprintf(path, sizeof path, "%s/records.csv", bundle);
    if (json_object_get(files, "records.csv") == NULL && access(path, F_OK) == 0) {
        fail(err, "records.csv: not part of this export (the signed manifest does not list it)%s%s",
             "", "");
        goto out;
    }
    /* 4. every record, the chain, the root */
    if (json_object_get(files, "records.csv")) {
        char head[sizeof hd_proof_csv_header];
        size_t hl = strlen(hd_proof_csv_header);
        c.csv = true;
        c.csv_in = fopen(path, "rb");
        if (c.csv_in)
            setvbuf(c.csv_in, NULL, _IOFBF, 1 << 20);
        if (c.csv_in == NULL || fread(head, 1, hl, c.csv_in) != hl ||
            memcmp(head, hd_proof_csv_header, hl) != 0) {
            fail(err, "records.csv: not the header this format writes%s%s", "", "");
            goto out;
        }
    }
    snprintf(path, sizeof path, "%s/records.jsonl", bundle);
    uint8_t root[32];
    uint64_t lines = 0;
    if (each_record(path, rcheck_line, &c, root, &lines, err) != 0) {
        if (err->code == 0)
            hd_err_set(err, HD_EX_FAIL, "records.jsonl: cannot be read");
        if (err->msg[0] == '/' || strncmp(err->msg, bundle, strlen(bundle)) == 0) {
            /* name the file as the bundle does */
            char msg[HD_ERR_MSG_MAX];
            const char *rest = strstr(err->msg, "records.jsonl");
            snprintf(msg, sizeof msg, "%s", rest ? rest : err->msg);
            hd_err_set(err, err->code, "%s", msg);
        }
        goto out;
    }
    if (rcheck_finish(&c) != 0)
        goto out;
    if (c.count != cp.size) {
        hd_err_set(err, HD_EX_FAIL,
                   "records.jsonl: holds %" PRIu64 " records, the checkpoint signs %" PRIu64
                   ": records were %s at the end",
                   c.count, cp.size, c.count < cp.size ? "removed" : "added");
        goto out;
    }
    memcpy(h, root, 32);
    if (memcmp(h, cp.root, 32) != 0) {
        /* Each record's hash is in the next record's prev, and those all
         * held: only the last record is left to have changed. */
        hd_err_set(err, HD_EX_FAIL,
                   "records.jsonl line %" PRIu64 ": this record was changed (the Merkle root of "
                   "the records is not the signed one)",
                   c.count);
        goto out;
    }
    if (c.csv_in && fgetc(c.csv_in) != EOF) {
        fail(err, "records.csv: has rows after the last record%s%s", "", "");
        goto out;
    }
    const char *mc = json_string_value(json_object_get(m, "campaign"));
    const char *ms = json_string_value(json_object_get(m, "snapshot_sha256"));
    if (mc == NULL || ms == NULL ||
        (c.count > 0 && (strcmp(mc, c.campaign) != 0 || strcmp(ms, c.snapshot) != 0))) {
        fail(err, "manifest.json: campaign or snapshot differs from the records%s%s", "", "");
        goto out;
    }
    /* 5. the summary says what the records say */
    summary = summary_text(&c.sum, c.count ? c.campaign : mc);
    snprintf(path, sizeof path, "%s/summary.json", bundle);
    if (summary == NULL || hd_proof_read_file(path, &b, err) != 0) {
        if (err->code == 0 || err->code == HD_EX_NOINPUT)
            hd_err_set(err, HD_EX_FAIL, "summary.json: cannot be read");
        goto out;
    }
    if (b.len != strlen(summary) || memcmp(b.data, summary, b.len) != 0) {
        hd_err_set(err, HD_EX_FAIL,
                   "summary.json: does not match the records (first difference on line %u)",
                   first_diff_line(b.data, b.len, summary, strlen(summary)));
        goto out;
    }
    res->records = c.count;
    memcpy(res->root, cp.root, 32);
    rc = 0;
out:
    if (c.csv_in)
        fclose(c.csv_in);
    rcheck_free(&c);
    json_decref(m);
    free(summary);
    hd_buf_release(&b);
    hd_buf_release(&man);
    return rc;
}
