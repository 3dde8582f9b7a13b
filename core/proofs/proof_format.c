/* proof_format.c - writing canonical JSON: the escapes, numbers and UTC
 * times of a record's line, and hd_proof_format, which writes a whole
 * record from its fields. The recorder (proof_record.c) writes its
 * delivery records from the same primitives, piece by piece; the parser
 * (proof_parse.c) accepts exactly what these write.
 */
#include <string.h>

#include "herald/utf8.h"
#include "proof_internal.h"

/* The canonical form is what Python's json.dumps(obj, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=True) writes: short escapes for
 * " \ \b \f \n \r \t, \u00XX for the other controls and DEL, \uXXXX
 * (lowercase, surrogate pairs above U+FFFF) for everything past ASCII.
 * Bytes that are not UTF-8 become U+FFFD. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    size_t len;
    long v = hd_utf8_decode(s, n, &len);
    if (v < 0) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = (uint32_t)v;
    return len;
}

/* True when s[0..n) is all printable ASCII without '"' and '\\' (nothing to
 * escape), 8 bytes at a time: any byte below 0x20, from 0x7F up, '"' or '\\'
 * sets a high bit of bad (the exact "has a byte less than" / "has a zero
 * byte" tests of Bit Twiddling Hacks). */
bool hdp_json_plain(const char *s, size_t n)
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
char *hdp_json_str(char *p, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    *p++ = '"';
    if (hdp_json_plain(str, n)) { /* nearly always */
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

char *hdp_put_uint(char *p, uint64_t v)
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
char *hdp_put_ts(char *p, int64_t ms)
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
    w->p = hdp_json_str(w->p, s, n);
}

static void jw_cstr(struct jw *w, const char *key, const char *s)
{
    jw_str(w, key, s, strlen(s));
}

static void jw_uint(struct jw *w, const char *key, uint64_t v)
{
    jw_key(w, key);
    w->p = hdp_put_uint(w->p, v);
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
    hd_hex(bytes, 32, w->p);
    w->p += 64;
    *w->p++ = '"';
}

static void jw_ts(struct jw *w, const char *key, int64_t ms)
{
    jw_key(w, key);
    *w->p++ = '"';
    w->p = hdp_put_ts(w->p, ms);
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

/* ---- a record's line ------------------------------------------------------------------------- */

bool hdp_all_zero(const uint8_t *b, size_t n)
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
    if (!f->exclusion && f->sha256 && !hdp_all_zero(f->sha256, 32))
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
