/* channels/http_push/push_body.c - the pure parts of the http-push module:
 * body templates, batch items and keys, the Standard Webhooks signature,
 * Retry-After, and how an HTTP answer becomes an outcome. No global state;
 * safe from any thread.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "herald/hash.h"
#include "herald/str.h"
#include "push.h"

static const char *const var_names[] = {
    "title", "body", "objection_url", "language", "campaign_id", "person_id", "token", "message_id",
};

static int var_lookup(const char *name, size_t n)
{
    for (int i = 0; i < PV_COUNT; i++)
        if (strlen(var_names[i]) == n && memcmp(var_names[i], name, n) == 0)
            return i;
    if (n == strlen("idempotency_key") && memcmp(name, "idempotency_key", n) == 0)
        return PV_MESSAGE_ID;
    return -1;
}

/* Where offset off of the node's text is in the file (best effort: escapes
 * in quoted scalars shift it). */
static void text_pos(const struct hd_ynode *node, size_t off, unsigned long *line,
                     unsigned long *col)
{
    unsigned long l = node->text_line ? node->text_line : node->line;
    unsigned long c = node->text_col ? node->text_col : node->col;
    size_t last_nl = 0;
    bool nl = false;
    for (size_t i = 0; i < off && i < node->len; i++)
        if (node->str[i] == '\n') {
            l++;
            last_nl = i + 1;
            nl = true;
        }
    *line = l;
    *col = c + (nl ? off - last_nl : off);
}

void push_tmpl_free(struct push_tmpl *t)
{
    if (t == NULL)
        return;
    free(t->text);
    free(t->parts);
    memset(t, 0, sizeof *t);
}

int push_tmpl_compile(struct push_tmpl *t, const struct hd_ynode *node, struct hd_err *err)
{
    const char *s, *p;
    size_t cap = 8;
    unsigned long line, col;

    memset(t, 0, sizeof *t);
    t->text = hd_strdup(node->str, err);
    t->parts = calloc(cap, sizeof *t->parts);
    if (t->text == NULL || t->parts == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto fail;
    }
    s = p = t->text;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (t->nparts == cap) {
            struct push_tmpl_part *more = realloc(t->parts, 2 * cap * sizeof *t->parts);
            if (more == NULL) {
                hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
                goto fail;
            }
            t->parts = more;
            cap *= 2;
        }
        struct push_tmpl_part *part = &t->parts[t->nparts++];
        part->lit = s;
        part->var = -1;
        if (open == NULL) {
            part->lit_len = strlen(s);
            break;
        }
        part->lit_len = (size_t)(open - s);
        const char *close = strstr(open + 2, "}}");
        if (close == NULL) {
            text_pos(node, (size_t)(open - t->text), &line, &col);
            hd_err_at(err, HD_EX_DATAERR, node->file, line, col,
                      "body_template: \"{{\" without a closing \"}}\"");
            goto fail;
        }
        const char *a = open + 2, *b = close;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        part->var = var_lookup(a, (size_t)(b - a));
        if (part->var < 0) {
            text_pos(node, (size_t)(open - t->text), &line, &col);
            hd_err_at(err, HD_EX_DATAERR, node->file, line, col,
                      "body_template: unknown variable \"%.*s\" (known: title, body, "
                      "objection_url, language, campaign_id, person_id, token, message_id)",
                      (int)(b - a > 64 ? 64 : b - a), a);
            goto fail;
        }
        s = p = close + 2;
    }

    /* Fill it with sample values that need escaping: a variable outside a
     * JSON string then makes the result invalid. */
    {
        struct hd_buf out = HD_BUF_INIT;
        const char *why = NULL;
        json_error_t jerr;
        json_t *v;
        static const char sample[] =
            "{\"body\":\"b\\\"\\\\\\n\",\"campaign_id\":\"c\",\"language\":\"en\","
            "\"objection_url\":\"https://x.example/?p=1&t=2\",\"person_id\":\"p\","
            "\"title\":\"t\\\"\",\"token\":\"k\"}";
        if (push_tmpl_apply(t, sample, sizeof sample - 1, "0123456789abcdef0123456789abcdef", &out,
                            &why) != 0) {
            hd_err_at(err, HD_EX_SOFTWARE, node->file, node->line, node->col, "body_template: %s",
                      why);
            hd_buf_release(&out);
            goto fail;
        }
        v = json_loadb(out.data ? out.data : "", out.len, JSON_REJECT_DUPLICATES, &jerr);
        if (v == NULL) {
            hd_err_at(err, HD_EX_DATAERR, node->file, node->line, node->col,
                      "body_template is not valid JSON once filled in (variables go inside JSON "
                      "strings, e.g. \"title\": \"{{title}}\"): %s",
                      jerr.text);
            hd_buf_release(&out);
            goto fail;
        }
        t->object = json_is_object(v);
        json_decref(v);
        hd_buf_release(&out);
    }
    return 0;
fail:
    push_tmpl_free(t);
    return -1;
}

int push_tmpl_apply(const struct push_tmpl *t, const char *body, size_t len, const char *key,
                    struct hd_buf *out, const char **why)
{
    json_t *doc = NULL;
    json_error_t jerr;
    const char *val[PV_COUNT] = {0};
    size_t vlen[PV_COUNT] = {0};
    int rc = -1;

    hd_buf_reset(out);
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].var >= 0 && t->parts[i].var != PV_MESSAGE_ID) {
            doc = json_loadb(body, len, 0, &jerr);
            if (!json_is_object(doc)) {
                *why = "the rendered push notice is not a JSON object";
                goto out;
            }
            break;
        }
    for (int v = 0; v < PV_COUNT; v++) {
        if (v == PV_MESSAGE_ID) {
            val[v] = key;
            vlen[v] = strlen(key);
            continue;
        }
        if (doc == NULL)
            continue;
        json_t *s = json_object_get(doc, var_names[v]);
        if (json_is_string(s)) {
            val[v] = json_string_value(s);
            vlen[v] = json_string_length(s);
        } else if (s != NULL && !json_is_null(s)) {
            *why = "a field of the rendered push notice is not a string";
            goto out;
        }
    }
    for (size_t i = 0; i < t->nparts; i++) {
        const struct push_tmpl_part *p = &t->parts[i];
        if (hd_buf_append(out, p->lit, p->lit_len) != 0)
            goto oom;
        if (p->var >= 0 && val[p->var] && hd_buf_json(out, val[p->var], vlen[p->var], 0) != 0)
            goto oom;
    }
    if (out->data == NULL && hd_buf_reserve(out, 1) != 0)
        goto oom;
    rc = 0;
    goto out;
oom:
    *why = "out of memory filling the body template";
out:
    json_decref(doc);
    return rc;
}

int push_batch_item(const char *obj, size_t len, const char *key_field, const char *key,
                    struct hd_buf *out, const char **why)
{
    size_t i = 0, j;
    hd_buf_reset(out);
    while (i < len && isspace((unsigned char)obj[i]))
        i++;
    if (i == len || obj[i] != '{') {
        *why = "the push body is not a JSON object, so it cannot be a batch item";
        return -1;
    }
    j = i + 1;
    while (j < len && isspace((unsigned char)obj[j]))
        j++;
    if (hd_buf_puts(out, "{\"") != 0 || hd_buf_json(out, key_field, strlen(key_field), 0) != 0 ||
        hd_buf_puts(out, "\":\"") != 0 || hd_buf_json(out, key, strlen(key), 0) != 0 ||
        hd_buf_putc(out, '"') != 0 || (j < len && obj[j] != '}' && hd_buf_putc(out, ',') != 0) ||
        hd_buf_append(out, obj + i + 1, len - i - 1) != 0) {
        *why = "out of memory building a batch item";
        return -1;
    }
    return 0;
}

void push_batch_key(const char *const *keys, size_t n, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[HD_SHA256_LEN];
    struct hd_sha256 h; /* herald/hash.h: no allocation, so nothing to fail */
    hd_sha256_init(&h);
    hd_sha256_update(&h, "herald-batch-v1", 15);
    for (size_t i = 0; i < n; i++) {
        hd_sha256_update(&h, "", 1);
        hd_sha256_update(&h, keys[i], strlen(keys[i]));
    }
    hd_sha256_final(&h, md);
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

void push_webhook_signature(const unsigned char *key, size_t key_len, const char *id, long long ts,
                            const char *body, size_t body_len, char *out, size_t out_size)
{
    uint8_t md[HD_SHA256_LEN];
    char b64[HD_BASE64_LEN(HD_SHA256_LEN) + 1], tsbuf[24];
    struct hd_hmac k;
    struct hd_sha256 w;
    int tl = snprintf(tsbuf, sizeof tsbuf, "%lld", ts);
    /* HMAC-SHA256 over "id.ts.body", streamed (herald/hash.h): no copy of
     * the body, no allocation */
    hd_hmac_init(&k, key, key_len);
    hd_hmac_begin(&k, &w);
    hd_sha256_update(&w, id, strlen(id));
    hd_sha256_update(&w, ".", 1);
    hd_sha256_update(&w, tsbuf, (size_t)tl);
    hd_sha256_update(&w, ".", 1);
    hd_sha256_update(&w, body, body_len);
    hd_hmac_end(&k, &w, md);
    hd_hmac_wipe(&k);
    hd_base64_encode(md, sizeof md, b64);
    snprintf(out, out_size, "v1,%s", b64);
}

unsigned char *push_base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    out = malloc(n / 4 * 3 + 3);
    if (out == NULL || hd_base64_decode(s, n, out, n / 4 * 3 + 3, len, HD_BASE64_LAX) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

long push_retry_after_parse(const char *value, time_t now)
{
    const char *p = value;
    char buf[128];
    size_t n;
    while (*p == ' ' || *p == '\t')
        p++;
    n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (strspn(buf, "0123456789") == n) {
        if (n > 9)
            return 999999999L;
        return strtol(buf, NULL, 10);
    }
    time_t t = curl_getdate(buf, NULL);
    if (t == (time_t)-1)
        return -1;
    return t > now ? (long)(t - now) : 0;
}

static bool contains_ci(const char *text, size_t len, const char *pat)
{
    size_t pl = strlen(pat);
    if (pl == 0 || pl > len)
        return false;
    for (size_t i = 0; i + pl <= len; i++)
        if (strncasecmp(text + i, pat, pl) == 0)
            return true;
    return false;
}

bool push_says_token_unknown(const struct push_conf *pc, const char *text, size_t len)
{
    if (text == NULL)
        return false;
    for (size_t i = 0; i < pc->npatterns; i++)
        if (contains_ci(text, len, pc->patterns[i]))
            return true;
    return false;
}

void push_classify(const struct push_conf *pc, long status, const char *resp, size_t resp_len,
                   struct push_class *out)
{
    memset(out, 0, sizeof *out);
    if (status >= 200 && status <= 299) {
        out->kind = HD_OUTCOME_ACCEPTED;
        out->event = "push.accepted";
        return;
    }
    out->keep_response = true;
    if (status == 404 || status == 410) {
        out->kind = HD_OUTCOME_PERMANENT;
        out->event = "token_invalid";
    } else if (status == 409) {
        out->kind = HD_OUTCOME_TRANSIENT;
        out->event = "push.in_progress";
    } else if (status == 422) {
        out->kind = HD_OUTCOME_PERMANENT;
        out->event = "push.key_reused";
        out->loud = true;
    } else if (status == 429 || status == 503) {
        out->kind = HD_OUTCOME_TRANSIENT;
        out->event = "push.throttled";
        out->backpressure = true;
    } else if (status == 408) {
        out->kind = HD_OUTCOME_TRANSIENT;
        out->event = "push.timeout";
    } else if (status >= 500 && status <= 599) {
        out->kind = HD_OUTCOME_TRANSIENT;
        out->event = "push.server_error";
    } else if (status >= 400 && status <= 499) {
        out->kind = HD_OUTCOME_PERMANENT;
        out->event =
            push_says_token_unknown(pc, resp, resp_len) ? "token_invalid" : "push.rejected";
    } else {
        /* 1xx (final), 3xx (redirects are not followed) and anything else */
        out->kind = HD_OUTCOME_PERMANENT;
        out->event = "push.unexpected_status";
    }
}

void push_printable(const char *text, size_t len, char *out, size_t size)
{
    size_t o = 0, i = 0;
    if (size == 0)
        return;
    while (i < len && o + 1 < size) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)text[i + k] & 0xC0) == 0x80;
        if (!ok) {
            out[o++] = '?';
            i++;
            continue;
        }
        if (n == 1) {
            out[o++] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
            i++;
            continue;
        }
        if (o + n + 1 > size)
            break;
        memcpy(out + o, text + i, n);
        o += n;
        i += n;
    }
    if (i < len && size >= 4) {
        if (o > size - 4)
            o = size - 4;
        /* do not cut inside a UTF-8 sequence */
        while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}
