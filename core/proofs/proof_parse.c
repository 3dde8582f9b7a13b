/* proof_parse.c - reading a record: the table of record fields (their
 * names, types and which kind of record may or must hold each), the strict
 * parser hd_proof_parse, which takes a line only in the canonical form
 * proof_format.c and proof_record.c write, hd_proof_unescape, and a parsed
 * record as a CSV row. Export checks every record of the store with it
 * before signing, verify every record of a bundle.
 */
#include <stdio.h>
#include <string.h>

#include "proof_internal.h"

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

/* True when s[0..n) is all lowercase hex digits (no early exit). */
static bool hex_ok(const char *s, size_t n)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bad |= (unsigned char)(c - '0') >= 10 && (unsigned char)(c - 'a') >= 6;
    }
    return bad == 0;
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
        /* memchr, not strchr: strchr finds a NUL byte (the terminator) */
        if (memchr("\"\\bfnrt", e, 7) != NULL) {
            ps->p += 2;
            continue;
        }
        if (e != 'u' || ps->end - ps->p < 6)
            return bad(ps, "not canonical JSON: escape \\%.1s", ps->p + 1);
        uint32_t u = 0;
        for (int i = 2; i < 6; i++) {
            int v = hdp_hexval(ps->p[i]);
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
                int v = hdp_hexval(ps->p[i]);
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

bool hdp_slice_eq(struct hd_proof_slice s, const char *c)
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
                v = v * 10 + (uint64_t)(*ps->p - '0');
                /* I-JSON (RFC 7493): integers any JSON reader holds exactly */
                if (v > HD_PROOF_INT_MAX)
                    return bad(ps, "field \"%s\" is too large (at most 2^53-1)",
                               hd_proof_field_names[f]);
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
    if (hdp_slice_eq(r->f[HD_PF_KIND], "exclusion"))
        excl = true;
    else if (hdp_slice_eq(r->f[HD_PF_KIND], "delivery"))
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
            known = known || hdp_slice_eq(rs, hd_reason_names[i]);
        if (!known)
            return bad(&ps, "field \"reason\" is not a known exclusion reason%s", "");
        if (!hdp_slice_eq(st, "excluded"))
            return bad(&ps, "field \"state\" of an exclusion must be \"excluded\"%s", "");
        if (ev.n != 9 + rs.n || memcmp(ev.p, "excluded.", 9) || memcmp(ev.p + 9, rs.p, rs.n))
            return bad(&ps, "field \"event\" must be \"excluded.\" + reason%s", "");
        if ((r->f[HD_PF_FIELD].p != NULL) != hdp_slice_eq(rs, "invalid_row"))
            return bad(&ps, "field \"field\" belongs to exactly the invalid_row exclusions%s", "");
        return 0;
    }
    bool sent = hdp_slice_eq(st, "sent");
    if (!sent && !hdp_slice_eq(st, "failed"))
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
            u = u << 4 | (uint32_t)hdp_hexval(s.p[i + (size_t)k]);
        i += 4;
        if (u >= 0xD800 && u <= 0xDBFF && i + 6 < s.n) {
            uint32_t lo = 0;
            for (int k = 3; k <= 6; k++)
                lo = lo << 4 | (uint32_t)hdp_hexval(s.p[i + (size_t)k]);
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
