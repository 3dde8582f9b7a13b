/* mime.c - the RFC 5322 / MIME message builder (see herald/mime.h and
 * docs/email-format.md, which must stay in step with this file).
 *
 * Layout: the fixed header list, then a multipart/alternative body with a
 * text/plain and a text/html part. Everything is appended straight into the
 * caller's buffer after one reserve sized from the inputs, so a buffer that
 * is reused across messages allocates nothing; the encoders write through a
 * raw pointer.
 *
 * Determinism: nothing here reads the clock, the locale, the environment or
 * a random source. The Date comes from the caller's unix time with our own
 * English day and month names; the boundary is derived from the Message-ID.
 */
#include "herald/mime.h"

#include <stdbool.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "herald/audience.h"
#include "herald/hash.h"

/* RFC 5322 2.1.1: lines SHOULD stay within 78 characters (CRLF excluded). */
#define LINE_SOFT 78
/* RFC 2047 2: an encoded-word is at most 75 characters. */
#define EW_MAX 75
#define EW_PREFIX "=?UTF-8?B?"
#define EW_OVERHEAD 12 /* "=?UTF-8?B?" + "?=" */
/* RFC 2045 6.7 (5): encoded lines at most 76 characters. */
#define QP_LINE 76
#define B64_LINE 76
#define B64_GROUPS (B64_LINE / 4) /* 19 groups of 3 input bytes per line */
/* Room qp_encode needs past the end of what it writes. */
#define QP_SLACK 16
/* Longest plain word kept as is in a header; longer ones are encoded. */
#define WORD_MAX 69
/* Longest quoted display name kept as a quoted-string. */
#define QUOTED_MAX 72
/* Inputs that cannot be folded (addresses, ids) stay far below 998. */
#define TOKEN_MAX 320

static const char hex_upper[] = "0123456789ABCDEF";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- validation ---------------------------------------------------------- */

/* Header inputs: valid UTF-8 without C0, DEL or C1 controls, so no CR or LF
 * can ever reach a header (defence in depth against header injection). */
static int check_text(const char *what, const char *s, struct hd_err *err)
{
    if (s == NULL)
        return 0;
    if (!hd_text_clean(s, strlen(s))) {
        hd_err_set(err, HD_EX_DATAERR,
                   "%s has a line break, a control character or bad UTF-8; refusing to put it in "
                   "a mail header",
                   what);
        return -1;
    }
    return 0;
}

/* Characters of a token that goes into a header unencoded and unfolded:
 * Message-ID and X-Herald-Campaign take printable ASCII except the RFC 5322
 * specials that would end or restructure them (TOKEN_ID: no space, no
 * control, nothing non-ASCII, none of < > ( ) [ ] \\ , ; : "); Content-Language
 * takes a BCP 47 tag's letters, digits and hyphens (TOKEN_LANG). The table
 * holds one bit per kind. */
enum token_kind { TOKEN_ID = 1, TOKEN_LANG = 2 };

static const unsigned char token_chars[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 3, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 1, 0, 1,
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 1, 1,
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static bool token_char(unsigned char c, enum token_kind kind)
{
    return (token_chars[c] & kind) != 0;
}

/* True when s is non-empty, at most max bytes and all token characters
 * (so also clean text): the common case, checked in one pass. */
static bool token_ok(const char *s, enum token_kind kind, size_t max)
{
    size_t i = 0;
    if (s == NULL)
        return false;
    for (; s[i] != '\0'; i++)
        if (i >= max || !token_char((unsigned char)s[i], kind))
            return false;
    return i > 0;
}

static int check_token(const char *what, const char *s, enum token_kind kind, struct hd_err *err)
{
    size_t n;
    if (token_ok(s, kind, TOKEN_MAX))
        return 0;
    /* Refused: the full checks, in their order, for the right message. */
    if (s == NULL || *s == '\0') {
        hd_err_set(err, HD_EX_DATAERR, "missing %s for the mail header", what);
        return -1;
    }
    if (check_text(what, s, err) != 0)
        return -1;
    n = strlen(s);
    if (n > TOKEN_MAX) {
        hd_err_set(err, HD_EX_DATAERR, "%s longer than %d bytes", what, TOKEN_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!token_char((unsigned char)s[i], kind)) {
            hd_err_set(err, HD_EX_DATAERR, "bad character in %s \"%s\"", what, s);
            return -1;
        }
    }
    return 0;
}

int hd_mime_ascii_address(const char *addr, char *out, size_t cap, struct hd_err *err)
{
    char domain[256];
    const char *why = NULL, *at;
    size_t len, local;
    enum hd_email_status st;

    if (addr == NULL || *addr == '\0') {
        hd_err_set(err, HD_EX_DATAERR, "missing email address");
        return -1;
    }
    len = strlen(addr);
    /* hd_email_check converts a Unicode domain with idn2_to_ascii_8z
     * (IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) and checks the whole address,
     * text that is not clean included (HD_EMAIL_INVALID); which is why clean
     * text is only checked again, for the message, when it refuses. */
    st = hd_email_check(addr, len, domain, sizeof domain, &why);
    if (st == HD_EMAIL_INVALID && !hd_text_clean(addr, len)) {
        hd_err_set(err, HD_EX_DATAERR,
                   "email address has a line break, a control character or bad UTF-8");
        return -1;
    }
    if (st == HD_EMAIL_NON_ASCII_LOCAL) {
        hd_err_set(err, HD_EX_DATAERR,
                   "email address \"%s\" has a non-ASCII local part (needs SMTPUTF8, not "
                   "supported)",
                   addr);
        return -1;
    }
    if (st != HD_EMAIL_OK) {
        hd_err_set(err, HD_EX_DATAERR, "bad email address \"%s\": %s", addr, why ? why : "invalid");
        return -1;
    }
    at = strrchr(addr, '@'); /* present: the address passed the check */
    local = (size_t)(at - addr);
    if (local + 1 + strlen(domain) >= cap) {
        hd_err_set(err, HD_EX_DATAERR, "email address \"%s\" too long", addr);
        return -1;
    }
    memcpy(out, addr, local);
    out[local] = '@';
    memcpy(out + local + 1, domain, strlen(domain) + 1);
    return 0;
}

/* An address for the From or To header in ASCII form: addr itself when the
 * caller says it already is one (ascii) and it is one header-safe token with
 * an '@', else converted into buf (TOKEN_MAX bytes). NULL with err set when
 * refused. */
static const char *header_address(const char *what, const char *addr, bool ascii, char *buf,
                                  struct hd_err *err)
{
    if (ascii && token_ok(addr, TOKEN_ID, TOKEN_MAX - 1) && strchr(addr, '@') != NULL)
        return addr;
    if (hd_mime_ascii_address(addr, buf, TOKEN_MAX, err) != 0) {
        hd_err_prefix(err, "%s", what);
        return NULL;
    }
    return buf;
}

/* ---- header writer ------------------------------------------------------- */

/* Appends to b while tracking the column; the first failed append sticks. */
struct hw {
    struct hd_buf *b;
    size_t col;
    int rc;
};

static void hw_put(struct hw *w, const char *s, size_t n)
{
    struct hd_buf *b = w->b;
    if (b->data != NULL && b->len + n < b->cap) { /* reserved up front */
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else if (w->rc == 0 && hd_buf_append(b, s, n) != 0) {
        w->rc = -1;
    }
    w->col += n;
}

static void hw_puts(struct hw *w, const char *s)
{
    hw_put(w, s, strlen(s));
}

static void hw_eol(struct hw *w)
{
    hw_put(w, "\r\n", 2);
    w->col = 0;
}

/* Folds: CRLF, and the continuation line starts with the caller's space. */
static void hw_fold(struct hw *w)
{
    hw_eol(w);
}

/* Starts a header line "Name:". */
static void hw_begin(struct hw *w, const char *name)
{
    hw_puts(w, name);
    hw_put(w, ":", 1);
}

/* Appends " token", folding first (CRLF before the space) when the token
 * would pass LINE_SOFT and the line already holds more than the header
 * name. A token too long for any line stays whole. */
static void hw_token(struct hw *w, const char *s, size_t n, bool first)
{
    if (!first && w->col + 1 + n > LINE_SOFT)
        hw_fold(w);
    hw_put(w, " ", 1);
    hw_put(w, s, n);
}

static void b64_group(char *o, const unsigned char *s, size_t n)
{
    unsigned v = (unsigned)s[0] << 16 | (n > 1 ? (unsigned)s[1] << 8 : 0) | (n > 2 ? s[2] : 0);
    o[0] = b64_alphabet[v >> 18];
    o[1] = b64_alphabet[(v >> 12) & 63];
    o[2] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
    o[3] = n > 2 ? b64_alphabet[v & 63] : '=';
}

/* Writes s as RFC 2047 B encoded-words ("=?UTF-8?B?...?="), each at most
 * EW_MAX characters and each holding whole UTF-8 characters, one per line:
 * the first after the header name, the rest on continuation lines. */
static void hw_encoded_words(struct hw *w, const char *s, size_t n)
{
    size_t i = 0;
    bool first = true;
    do {
        /* Room for the word on this line after the separating space; at
         * least 8 base64 characters, so any character fits. */
        size_t room = LINE_SOFT - 1, chars, take;
        char word[EW_MAX + 1];
        if (first && w->col + 1 + EW_OVERHEAD + 8 <= LINE_SOFT)
            room = LINE_SOFT - w->col - 1;
        else
            first = false;
        if (room > EW_MAX)
            room = EW_MAX;
        chars = (room - EW_OVERHEAD) / 4 * 4;
        take = chars / 4 * 3;
        if (take >= n - i) {
            take = n - i;
        } else {
            /* Never split a character: back off to a lead byte. */
            while (take > 0 && ((unsigned char)s[i + take] & 0xC0) == 0x80)
                take--;
        }
        memcpy(word, EW_PREFIX, 10);
        chars = 10;
        for (size_t k = 0; k < take; k += 3) {
            b64_group(word + chars, (const unsigned char *)s + i + k, take - k < 3 ? take - k : 3);
            chars += 4;
        }
        word[chars++] = '?';
        word[chars++] = '=';
        if (!first)
            hw_fold(w);
        hw_put(w, " ", 1);
        hw_put(w, word, chars);
        i += take;
        first = false;
    } while (i < n);
}

static bool all_printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return false;
    return true;
}

/* True when s is words of printable ASCII separated by single spaces, each
 * at most WORD_MAX long, and nothing a reader could take for an
 * encoded-word: then it can be written as is and folded at its spaces. */
static bool plain_words(const char *s, size_t n)
{
    size_t word = 0;
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || !all_printable_ascii(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            if (word == 0)
                return false; /* two spaces in a row */
            word = 0;
        } else if (++word > WORD_MAX) {
            return false;
        }
    }
    return strstr(s, "=?") == NULL;
}

/* Writes words separated by single spaces (plain_words holds). */
static void hw_words(struct hw *w, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ' ') {
            hw_token(w, s + start, i - start, start == 0);
            start = i + 1;
        }
    }
}

/* Unstructured text (Subject): as is when plain ASCII words, else
 * encoded-words. */
static void hw_unstructured(struct hw *w, const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return;
    if (plain_words(s, n))
        hw_words(w, s, n);
    else
        hw_encoded_words(w, s, n);
}

/* RFC 5322 atext, for display names written as plain atoms. */
static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A mailbox: "name <addr>" or just "addr". The name is plain atoms when it
 * can be, a quoted-string when it is ASCII with specials and short enough,
 * else encoded-words. */
static void hw_mailbox(struct hw *w, const char *name, const char *addr)
{
    size_t n = name ? strlen(name) : 0, alen = strlen(addr);
    char angle[TOKEN_MAX + 3];
    if (n == 0) {
        hw_token(w, addr, alen, true);
        return;
    }
    bool atoms = plain_words(name, n);
    for (size_t i = 0; atoms && i < n; i++)
        atoms = name[i] == ' ' || is_atext((unsigned char)name[i]);
    if (atoms) {
        hw_words(w, name, n);
    } else if (all_printable_ascii(name, n) && strstr(name, "=?") == NULL && name[0] != ' ' &&
               name[n - 1] != ' ' && n + 2 <= QUOTED_MAX) {
        char q[2 * QUOTED_MAX + 2];
        size_t k = 0;
        q[k++] = '"';
        for (size_t i = 0; i < n; i++) {
            if (name[i] == '"' || name[i] == '\\')
                q[k++] = '\\';
            q[k++] = name[i];
        }
        q[k++] = '"';
        if (k <= QUOTED_MAX)
            hw_token(w, q, k, true);
        else
            hw_encoded_words(w, name, n);
    } else {
        hw_encoded_words(w, name, n);
    }
    angle[0] = '<';
    memcpy(angle + 1, addr, alen);
    angle[alen + 1] = '>';
    hw_token(w, angle, alen + 2, false);
}

/* ---- Date ----------------------------------------------------------------- */

static char *put2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* "Thu, 26 Jun 2025 08:00:00 +0000" (31 characters) from unix seconds, UTC,
 * with the civil-from-days algorithm (proleptic Gregorian). */
static int format_date(int64_t t, char out[32], struct hd_err *err)
{
    /* 1900-01-01T00:00:00Z .. 9999-12-31T23:59:59Z: four-digit years. */
    if (t < -2208988800LL || t > 253402300799LL) {
        hd_err_set(err, HD_EX_DATAERR, "message date %lld out of range (years 1900-9999)",
                   (long long)t);
        return -1;
    }
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sod = t - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    int64_t wd = ((days % 7) + 11) % 7; /* 1970-01-01 was a Thursday (4) */
    char *o = out;

    memcpy(o, day_names[wd], 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    o = put2(o, (unsigned)d);
    *o++ = ' ';
    memcpy(o, month_names[m - 1], 3);
    o += 3;
    *o++ = ' ';
    o = put2(o, (unsigned)(y / 100));
    o = put2(o, (unsigned)(y % 100));
    *o++ = ' ';
    o = put2(o, (unsigned)(sod / 3600));
    *o++ = ':';
    o = put2(o, (unsigned)(sod / 60 % 60));
    *o++ = ':';
    o = put2(o, (unsigned)(sod % 60));
    memcpy(o, " +0000", 7);
    return 0;
}

/* ---- bodies --------------------------------------------------------------- */

/* Byte classes for quoted-printable: a line break (CR, LF), literal
 * (printable ASCII but '='), a space or tab (literal unless it ends a line)
 * or escaped. */
enum { QP_EOL, QP_LIT, QP_WSP, QP_ESC };
#define QE QP_EOL
#define QL QP_LIT
#define QW QP_WSP
#define QX QP_ESC
static const unsigned char qp_kind[256] = {
    QX, QX, QX, QX, QX, QX, QX, QX, QX, QW, QE, QX, QX, QE, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
    QX, QX, QX, QX, QX, QX, QX, QX, QW, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL,
    QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QX, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL,
    QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL,
    QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL, QL,
    QL, QL, QL, QL, QL, QL, QL, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
    QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
    QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
    QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
    QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
    QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX, QX,
};
#undef QE
#undef QL
#undef QW
#undef QX

/* More than 30% non-ASCII bytes: base64 is shorter and no less readable.
 * Counts high bits 16 bytes at a time with SSE2 (a byte-wise counter per
 * lane, summed before it can wrap), else 8 at a time in a word. */
static bool wants_base64(const char *s, size_t n)
{
    size_t high = 0, i = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    while (n - i >= 16) {
        __m128i acc = zero;
        size_t end = i + 16 * 255 < n ? i + 16 * 255 : n;
        for (; end - i >= 16; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            acc = _mm_sub_epi8(acc, _mm_cmplt_epi8(v, zero)); /* -1 per high byte */
        }
        acc = _mm_sad_epu8(acc, zero);
        high += (size_t)_mm_cvtsi128_si32(acc) + (size_t)_mm_extract_epi16(acc, 4);
    }
#endif
    for (; n - i >= 8; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        v = (v >> 7) & 0x0101010101010101ULL;
        high += (size_t)((v * 0x0101010101010101ULL) >> 56);
    }
    for (; i < n; i++)
        high += (unsigned char)s[i] >> 7;
    return high * 10 > n * 3;
}

/* Upper bounds of the encoded sizes, for the one reserve. Line breaks may
 * double (LF -> CRLF); every other byte at most triples, plus a soft break
 * ("=" CRLF) per 25 escapes, plus the room qp_encode's copies need. */
static size_t qp_bound(size_t n)
{
    return 3 * n + 3 * (n / 25 + 1) + 8 + QP_SLACK;
}

static size_t b64_bound(size_t n)
{
    size_t norm = 2 * n;
    size_t chars = (norm + 2) / 3 * 4;
    return chars + 2 * (chars / B64_LINE + 1) + 8;
}

/* The next CR or LF at or after i, n when none (memchr runs, so copying the
 * text between line breaks goes at memcpy speed). */
struct eol_scan {
    const unsigned char *s;
    size_t n, cr, lf;
};

static size_t next_eol(struct eol_scan *e, size_t i)
{
    if (e->cr < i) {
        const unsigned char *p = memchr(e->s + i, '\r', e->n - i);
        e->cr = p ? (size_t)(p - e->s) : e->n;
    }
    if (e->lf < i) {
        const unsigned char *p = memchr(e->s + i, '\n', e->n - i);
        e->lf = p ? (size_t)(p - e->s) : e->n;
    }
    return e->cr < e->lf ? e->cr : e->lf;
}

static void eol_scan_init(struct eol_scan *e)
{
    const unsigned char *p = memchr(e->s, '\r', e->n);
    e->cr = p ? (size_t)(p - e->s) : e->n;
    p = memchr(e->s, '\n', e->n);
    e->lf = p ? (size_t)(p - e->s) : e->n;
}

/* A bit per byte of s[0..15] (bit k for s[k]) that is not printable ASCII
 * or a space, or is '=': the bytes quoted-printable may not copy blindly.
 * SSE2 where the compiler has it (every x86-64), else a table walk. */
static unsigned qp_special16(const unsigned char *s)
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
    /* Signed compares: bytes >= 0x80 are negative, so "> 0x1F" also
     * rules them out. */
    __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x1F)),
                               _mm_cmplt_epi8(v, _mm_set1_epi8(0x7F)));
    ok = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')), ok);
    return ~(unsigned)_mm_movemask_epi8(ok) & 0xFFFFu;
#else
    unsigned mask = 0;
    for (unsigned k = 0; k < 16; k++)
        if (qp_kind[s[k]] != QP_LIT && s[k] != ' ')
            mask |= 1u << k;
    return mask;
#endif
}

/* Index of the lowest set bit of a non-zero mask. */
static unsigned lowest_bit(unsigned mask)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctz(mask);
#else
    unsigned k = 0;
    while (!(mask & 1u)) {
        mask >>= 1;
        k++;
    }
    return k;
#endif
}

/* Quoted-printable (RFC 2045 6.7) of s with line breaks (CRLF, LF or a lone
 * CR) written as CRLF. Encoded lines are at most 76 characters: a soft
 * break "=" CRLF is inserted before a character that would pass 75, unless
 * it is the line's last one and fits in 76; escapes are never split. '=',
 * controls, non-ASCII bytes and a space or tab ending a line are escaped.
 *
 * Fast path: the run of printable ASCII and spaces ahead, up to 16 bytes
 * and as far as the line has room without a soft break, is copied whole
 * (its last space stays behind when a line break or the end follows it);
 * then one byte goes by the full rules. o must have QP_SLACK bytes of room
 * past the encoded end: the copy stores 16 bytes at a time. */
static char *qp_encode(char *o, const unsigned char *s, size_t n)
{
    size_t col = 0, i = 0;
    while (i < n) {
        if (n - i >= 16) {
            unsigned mask = qp_special16(s + i);
            size_t k = mask ? lowest_bit(mask) : 16;
            size_t room = col < QP_LINE - 1 ? QP_LINE - 1 - col : 0;
            if (k > room)
                k = room;
            if (k > 0 && s[i + k - 1] == ' ' && (i + k == n || qp_kind[s[i + k]] == QP_EOL))
                k--;
            memcpy(o, s + i, 16);
            o += k;
            col += k;
            i += k;
            if (i == n)
                break;
        }
        unsigned char c = s[i];
        unsigned kind = qp_kind[c];
        if (kind == QP_EOL) {
            *o++ = '\r';
            *o++ = '\n';
            col = 0;
            i += (c == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
            continue;
        }
        bool last = i + 1 == n || qp_kind[s[i + 1]] == QP_EOL;
        bool lit = kind == QP_LIT || (kind == QP_WSP && !last);
        size_t t = lit ? 1 : 3;
        if (col + t > QP_LINE - 1 && !(last && col + t <= QP_LINE)) {
            *o++ = '=';
            *o++ = '\r';
            *o++ = '\n';
            col = 0;
        }
        if (lit) {
            *o++ = (char)c;
        } else {
            *o++ = '=';
            *o++ = hex_upper[c >> 4];
            *o++ = hex_upper[c & 15];
        }
        col += t;
        i++;
    }
    return o;
}

/* Base64 characters by pairs: b64_pairs[v] encodes the 12 bits v, so a
 * 3-byte group takes two lookups. Built by the preprocessor from the
 * alphabet's ranges (A-Z, a-z, 0-9, '+', '/'). */
#define B64_CHAR(x)                                                                                \
    (char)((x) < 26    ? 'A' + (x)                                                                 \
           : (x) < 52  ? 'a' + (x)-26                                                              \
           : (x) < 62  ? '0' + (x)-52                                                              \
           : (x) == 62 ? '+'                                                                       \
                       : '/')
#define B64_PAIR(v)                                                                                \
    {                                                                                              \
        B64_CHAR((v) >> 6), B64_CHAR((v)&63)                                                       \
    }
#define B64_P4(v) B64_PAIR(v), B64_PAIR((v) + 1), B64_PAIR((v) + 2), B64_PAIR((v) + 3)
#define B64_P16(v) B64_P4(v), B64_P4((v) + 4), B64_P4((v) + 8), B64_P4((v) + 12)
#define B64_P64(v) B64_P16(v), B64_P16((v) + 16), B64_P16((v) + 32), B64_P16((v) + 48)
#define B64_P256(v) B64_P64(v), B64_P64((v) + 64), B64_P64((v) + 128), B64_P64((v) + 192)
#define B64_P1024(v) B64_P256(v), B64_P256((v) + 256), B64_P256((v) + 512), B64_P256((v) + 768)
static const char b64_pairs[4096][2] = {B64_P1024(0), B64_P1024(1024), B64_P1024(2048),
                                        B64_P1024(3072)};
#undef B64_P1024
#undef B64_P256
#undef B64_P64
#undef B64_P16
#undef B64_P4
#undef B64_PAIR
#undef B64_CHAR

/* Base64 of whole 3-byte groups. */
static char *b64_full(char *o, const unsigned char *s, size_t groups)
{
    for (size_t g = 0; g < groups; g++, s += 3, o += 4) {
        unsigned v = (unsigned)s[0] << 16 | (unsigned)s[1] << 8 | s[2];
        memcpy(o, b64_pairs[v >> 12], 2);
        memcpy(o + 2, b64_pairs[v & 0xFFF], 2);
    }
    return o;
}

/* Base64 (RFC 2045 6.8) of s with line breaks normalised to CRLF first, in
 * lines of 76 characters separated by CRLF; no CRLF after the last line.
 * Normalised bytes are gathered one line's worth (57 bytes) at a time. */
static char *b64_encode(char *o, const unsigned char *s, size_t n)
{
    unsigned char chunk[B64_GROUPS * 3];
    struct eol_scan scan = {s, n, 0, 0};
    size_t i = 0;
    bool pending_lf = false, first = true;
    if (n == 0)
        return o;
    eol_scan_init(&scan);
    for (;;) {
        size_t k = 0;
        if (pending_lf) {
            chunk[k++] = '\n';
            pending_lf = false;
        }
        while (k < sizeof chunk && i < n) {
            size_t eol = next_eol(&scan, i);
            size_t run = eol - i;
            if (run > sizeof chunk - k)
                run = sizeof chunk - k;
            memcpy(chunk + k, s + i, run);
            k += run;
            i += run;
            if (i == eol && i < n && k < sizeof chunk) {
                if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                    i++;
                i++;
                chunk[k++] = '\r';
                if (k < sizeof chunk)
                    chunk[k++] = '\n';
                else
                    pending_lf = true; /* starts the next line's chunk */
            }
        }
        if (k == 0)
            break;
        if (!first) {
            *o++ = '\r';
            *o++ = '\n';
        }
        o = b64_full(o, chunk, k / 3);
        if (k % 3) {
            b64_group(o, chunk + k / 3 * 3, k % 3);
            o += 4;
        }
        first = false;
        if (k < sizeof chunk)
            break;
    }
    return o;
}

/* Appends one body part: its headers, a blank line and the encoded body. */
static void put_part(struct hw *w, const char *boundary, const char *type, const char *body,
                     size_t len, bool b64)
{
    hw_put(w, "--", 2);
    hw_puts(w, boundary);
    hw_eol(w);
    hw_puts(w, "Content-Type: ");
    hw_puts(w, type);
    hw_puts(w, "; charset=utf-8");
    hw_eol(w);
    hw_puts(w, b64 ? "Content-Transfer-Encoding: base64"
                   : "Content-Transfer-Encoding: "
                     "quoted-printable");
    hw_eol(w);
    hw_eol(w);
    if (w->rc != 0)
        return;
    /* Room was reserved for the bound by the caller; check anyway. */
    size_t bound = b64 ? b64_bound(len) : qp_bound(len);
    if (hd_buf_reserve(w->b, bound) != 0) {
        w->rc = -1;
        return;
    }
    char *start = w->b->data + w->b->len, *end;
    end = b64 ? b64_encode(start, (const unsigned char *)body, len)
              : qp_encode(start, (const unsigned char *)body, len);
    w->b->len += (size_t)(end - start);
    w->b->data[w->b->len] = '\0';
    hw_eol(w); /* this CRLF belongs to the next delimiter */
}

/* ---- the message ---------------------------------------------------------- */

int hd_mime_build(const struct hd_mime_email *m, struct hd_buf *out, struct hd_err *err)
{
    char from[TOKEN_MAX], to[TOKEN_MAX], date[32], boundary[9 + 24 + 1];
    const char *from_addr, *to_addr;
    uint8_t md[HD_SHA256_LEN];
    const char *subject = m->subject ? m->subject : "";
    const char *text = m->text ? m->text : "", *html = m->html ? m->html : "";
    size_t text_len = m->text ? m->text_len : 0, html_len = m->html ? m->html_len : 0;
    size_t start = out->len, est;
    bool text_b64, html_b64;
    struct hw w = {out, 0, 0};

    /* Everything that reaches a header is checked before anything is
     * written, so a refused message leaves out as it was. */
    if (check_text("sender name", m->from_name, err) != 0 ||
        check_text("recipient name", m->to_name, err) != 0 ||
        check_text("subject", subject, err) != 0 ||
        check_token("Message-ID", m->message_id, TOKEN_ID, err) != 0 ||
        check_token("language", m->language, TOKEN_LANG, err) != 0 ||
        check_token("campaign id", m->campaign_id, TOKEN_ID, err) != 0)
        return -1;
    if (strchr(m->message_id, '@') == NULL) {
        hd_err_set(err, HD_EX_DATAERR, "Message-ID \"%s\" has no @", m->message_id);
        return -1;
    }
    if ((from_addr = header_address("From", m->from_addr, m->ascii_addrs, from, err)) == NULL ||
        (to_addr = header_address("To", m->to_addr, m->ascii_addrs, to, err)) == NULL)
        return -1;
    if (format_date(m->date, date, err) != 0)
        return -1;

    /* Boundary: "=_" cannot occur in quoted-printable ("=" is followed by
     * hex digits or CRLF) nor in base64 ("=" only pads the end). */
    hd_sha256(m->message_id, strlen(m->message_id), md);
    memcpy(boundary, "=_herald_", 9);
    hd_hex(md, 12, boundary + 9);

    /* One reserve for the whole message: encoded-words grow text by 4/3
     * plus 13 characters per 45 bytes. */
    est = 1024 +
          3 * (strlen(subject) + (m->from_name ? strlen(m->from_name) : 0) +
               (m->to_name ? strlen(m->to_name) : 0)) +
          strlen(m->message_id) + strlen(from_addr) + strlen(to_addr) + strlen(m->language) +
          strlen(m->campaign_id);
    text_b64 = wants_base64(text, text_len);
    html_b64 = wants_base64(html, html_len);
    est += (text_b64 ? b64_bound(text_len) : qp_bound(text_len)) +
           (html_b64 ? b64_bound(html_len) : qp_bound(html_len));
    if (hd_buf_reserve(out, est) != 0)
        goto nomem;

    hw_begin(&w, "Date");
    hw_token(&w, date, 31, true);
    hw_eol(&w);
    hw_begin(&w, "From");
    hw_mailbox(&w, m->from_name, from_addr);
    hw_eol(&w);
    hw_begin(&w, "To");
    hw_mailbox(&w, m->to_name, to_addr);
    hw_eol(&w);
    hw_begin(&w, "Subject");
    hw_unstructured(&w, subject);
    hw_eol(&w);
    hw_begin(&w, "Message-ID");
    hw_put(&w, " <", 2);
    hw_puts(&w, m->message_id);
    hw_put(&w, ">", 1);
    hw_eol(&w);
    hw_puts(&w, "MIME-Version: 1.0");
    hw_eol(&w);
    hw_begin(&w, "Content-Language");
    hw_token(&w, m->language, strlen(m->language), true);
    hw_eol(&w);
    hw_begin(&w, "X-Herald-Campaign");
    hw_token(&w, m->campaign_id, strlen(m->campaign_id), true);
    hw_eol(&w);
    hw_puts(&w, "Auto-Submitted: auto-generated");
    hw_eol(&w);
    hw_puts(&w, "Content-Type: multipart/alternative;");
    hw_eol(&w);
    hw_puts(&w, " boundary=\"");
    hw_puts(&w, boundary);
    hw_put(&w, "\"", 1);
    hw_eol(&w);
    hw_eol(&w);

    put_part(&w, boundary, "text/plain", text, text_len, text_b64);
    put_part(&w, boundary, "text/html", html, html_len, html_b64);
    hw_put(&w, "--", 2);
    hw_puts(&w, boundary);
    hw_put(&w, "--", 2);
    hw_eol(&w);
    if (w.rc != 0)
        goto nomem;
    return 0;

nomem:
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory building a mail message");
    return -1;
}
