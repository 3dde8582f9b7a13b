/* render.c - one planned delivery to the exact bytes a channel sends (see
 * herald/render.h; docs/email-format.md describes the email layout).
 *
 * A renderer keeps its scratch buffers, its prepared objection link builder
 * and each email channel's From address (converted to its ASCII form once)
 * between renders, so after the first few messages rendering allocates
 * nothing. The push notice is written by a small canonical JSON writer
 * (hd_render_json_string) that produces exactly what jansson's
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) did, without building a tree.
 */
#include "herald/render.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "herald/audience.h"
#include "herald/hash.h"
#include "herald/mime.h"
#include "herald/region.h"

/* Domain separation label of the message key. */
static const char msgid_label[] = "herald-msgid-v1";

/* The built-in variables filled per person; hd_renderer_new maps each to
 * its index in hd_campaign_var_names (and NVARS when a campaign lacks it). */
enum {
    V_NAME,
    V_OBJECTION_URL,
    V_PERSON_ID,
    V_CAMPAIGN_ID,
    V_COUNTRY,
    V_COUNTRY_NAME,
    V_LANGUAGE,
    V_BUILTIN
};
static const char *const builtin_names[V_BUILTIN] = {
    "name", "objection_url", "person_id", "campaign_id", "country", "country_name", "language"};

struct hd_renderer {
    const struct hd_campaign *c;
    const char *const *names;
    const char **values; /* one per name, plus a spare slot */
    size_t nvalues;
    size_t slot[V_BUILTIN]; /* index into values of each built-in */
    size_t *var_slot;       /* index into values of each campaign var */
    struct hd_buf id, name, link, t1, t2, t3;
    char country[3];
    struct hd_linker *linker;
    /* Email channels' From address in ASCII form, converted on the
     * channel's first render; from_domain indexes the domain in it. */
    bool from_ok[HD_MAX_CHANNELS];
    size_t from_domain[HD_MAX_CHANNELS];
    char from[HD_MAX_CHANNELS][HD_MSGID_MAX];
};

struct hd_renderer *hd_renderer_new(const struct hd_campaign *c,
                                    const struct hd_link_secret *secret)
{
    struct hd_renderer *r = calloc(1, sizeof *r);
    size_t n = 0;
    if (r == NULL)
        return NULL;
    r->c = c;
    r->names = hd_campaign_var_names(c);
    while (r->names[n] != NULL)
        n++;
    /* values[n] is a spare slot for a built-in the name list lacks. */
    r->nvalues = n;
    r->values = calloc(n + 1, sizeof *r->values);
    r->var_slot = calloc(c->nvars + 1, sizeof *r->var_slot);
    /* The campaign's link template passed hd_link_template_check when the
     * campaign loaded, so only memory can fail here. */
    r->linker = hd_linker_new(secret, c->link_url, c->id, NULL);
    if (r->values == NULL || r->var_slot == NULL || r->linker == NULL) {
        hd_renderer_free(r);
        return NULL;
    }
    for (size_t b = 0; b < V_BUILTIN; b++) {
        r->slot[b] = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(r->names[i], builtin_names[b]) == 0)
                r->slot[b] = i;
    }
    /* The campaign's vars: their defaults now, a locale's own values per
     * render (hd_render). */
    for (size_t v = 0; v < c->nvars; v++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(r->names[i], c->var_names[v]) == 0) {
                r->var_slot[v] = i;
                r->values[i] = c->var_values[v];
            }
    r->values[r->slot[V_CAMPAIGN_ID]] = c->id;
    r->values[n] = NULL;
    return r;
}

void hd_renderer_free(struct hd_renderer *r)
{
    if (r == NULL)
        return;
    free(r->values);
    free(r->var_slot);
    hd_buf_release(&r->id);
    hd_buf_release(&r->name);
    hd_buf_release(&r->link);
    hd_buf_release(&r->t1);
    hd_buf_release(&r->t2);
    hd_buf_release(&r->t3);
    hd_linker_free(r->linker);
    free(r);
}

void hd_render_message_key(const char *campaign_id, const char *person_id, size_t person_len,
                           const char *channel, char out[33])
{
    static const unsigned char zero = 0;
    uint8_t h[HD_SHA256_LEN];
    struct hd_sha256 ctx;
    hd_sha256_init(&ctx);
    hd_sha256_update(&ctx, msgid_label, sizeof msgid_label);
    hd_sha256_update(&ctx, campaign_id, strlen(campaign_id));
    hd_sha256_update(&ctx, &zero, 1);
    hd_sha256_update(&ctx, person_id, person_len);
    hd_sha256_update(&ctx, &zero, 1);
    hd_sha256_update(&ctx, channel, strlen(channel));
    hd_sha256_final(&ctx, h);
    hd_hex(h, 16, out);
}

/* Copies a record string (not NUL-terminated) into b as a C string. */
static int put_str(struct hd_buf *b, const char *s, size_t len)
{
    hd_buf_reset(b);
    return hd_buf_append(b, s ? s : "", s ? len : 0);
}

static const struct hd_locale *locale_of(const struct hd_campaign *c, const struct hd_person_rec *p,
                                         const struct hd_country *country)
{
    char asked[64];
    enum hd_lang_source src;
    size_t n;
    for (size_t i = 0; i < c->nlocales; i++)
        if (c->locales[i].tag[0] == p->language[0] &&
            strncmp(c->locales[i].tag, p->language, sizeof p->language) == 0)
            return &c->locales[i];
    n = p->language_asked ? p->language_asked_len : 0;
    if (n >= sizeof asked)
        n = 0;
    if (n)
        memcpy(asked, p->language_asked, n);
    asked[n] = '\0';
    return hd_campaign_locale_for(c, asked, country, &src);
}

static int render_text(struct hd_renderer *r, const struct hd_tmpl *t, struct hd_buf *out,
                       struct hd_err *err)
{
    struct hd_tmpl_vars vars = {r->names, r->values};
    hd_buf_reset(out);
    if (t == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "locale has no template for this channel");
        return -1;
    }
    if (hd_tmpl_render(t, &vars, out) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory rendering a notice");
        return -1;
    }
    return 0;
}

/* The channel's From address in ASCII form, converted on the channel's
 * first render and kept; NULL with err set when it cannot be. */
static const char *channel_from(struct hd_renderer *r, size_t ch, const struct hd_channel_conf *cc,
                                size_t *domain, struct hd_err *err)
{
    if (!r->from_ok[ch]) {
        if (cc->from_addr == NULL) {
            hd_err_set(err, HD_EX_DATAERR, "channel \"%s\" has no from address", cc->name);
            return NULL;
        }
        if (hd_mime_ascii_address(cc->from_addr, r->from[ch], sizeof r->from[ch], err) != 0) {
            hd_err_prefix(err, "channel \"%s\" from", cc->name);
            return NULL;
        }
        r->from_domain[ch] = (size_t)(strrchr(r->from[ch], '@') + 1 - r->from[ch]);
        r->from_ok[ch] = true;
    }
    *domain = r->from_domain[ch];
    return r->from[ch];
}

static int render_email(struct hd_renderer *r, const struct hd_person_rec *p, size_t ch,
                        const struct hd_channel_conf *cc, struct hd_tmpl *const *texts,
                        const char *tag, int64_t date_s, struct hd_rendered *out,
                        struct hd_err *err)
{
    char email[320], key[33];
    const char *from, *domain;
    size_t at, dlen;
    if (p->email == NULL || p->email_len == 0) {
        hd_err_set(err, HD_EX_DATAERR, "person has no email address for channel \"%s\"", cc->name);
        return -1;
    }
    if (p->email_len >= sizeof email) {
        hd_err_set(err, HD_EX_DATAERR, "email address too long");
        return -1;
    }
    memcpy(email, p->email, p->email_len);
    email[p->email_len] = '\0';
    if (hd_mime_ascii_address(email, out->recipient, sizeof out->recipient, err) != 0)
        return -1;
    if ((from = channel_from(r, ch, cc, &at, err)) == NULL)
        return -1;
    domain = from + at;
    dlen = strlen(domain);
    hd_render_message_key(r->c->id, p->id, p->id_len, cc->name, key);
    if (32 + 1 + dlen >= sizeof out->message_id) {
        hd_err_set(err, HD_EX_DATAERR, "from domain too long for a Message-ID");
        return -1;
    }
    memcpy(out->message_id, key, 32);
    out->message_id[32] = '@';
    memcpy(out->message_id + 33, domain, dlen + 1);

    if (render_text(r, texts[HD_TEXT_EMAIL_SUBJECT], &r->t1, err) != 0 ||
        render_text(r, texts[HD_TEXT_EMAIL_TEXT], &r->t2, err) != 0 ||
        render_text(r, texts[HD_TEXT_EMAIL_HTML], &r->t3, err) != 0)
        return -1;

    struct hd_mime_email m = {
        .from_name = cc->from_name,
        .from_addr = from,
        .to_name = r->name.len ? r->name.data : NULL,
        .to_addr = out->recipient,
        .subject = r->t1.data,
        .text = r->t2.data,
        .text_len = r->t2.len,
        .html = r->t3.data,
        .html_len = r->t3.len,
        .message_id = out->message_id,
        .date = date_s,
        .language = tag,
        .campaign_id = r->c->id,
        .ascii_addrs = true, /* both are hd_mime_ascii_address's output */
    };
    if (hd_mime_build(&m, &out->bytes, err) != 0)
        return -1;
    return 0;
}

void hd_render_email_texts(const struct hd_renderer *r, const char **subject, const char **text,
                           const char **html)
{
    *subject = r->t1.data ? r->t1.data : "";
    *text = r->t2.data ? r->t2.data : "";
    *html = r->t3.data ? r->t3.data : "";
}

/* ---- canonical JSON ------------------------------------------------------- */

/* Byte classes of the JSON string writer: 0 copied as is, 1 escaped (C0
 * controls, '"' and '\\'), 2-4 the lead byte of a UTF-8 sequence of that
 * length, 5 never a lead byte (continuation bytes 0x80-0xBF, 0xC0 and 0xC1
 * which could only start overlong forms, 0xF5-0xFF). */
static const unsigned char json_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
};

/* Worst case of one string: every byte a \u00XX escape, plus the quotes. */
#define JSON_STR_MAX(n) (6 * (n) + 2)

/* True when none of the 8 bytes in v needs a look: no byte >= 0x80, none
 * below 0x20, no '"' and no '\\'. (The word tricks "has a zero byte" and
 * "has a byte below n", exact for the any-test once the high bits are known
 * clear.) */
static bool json_plain8(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t t = v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b);
    return (t & highs) == 0;
}

/* Writes s as a JSON string at o, which has room for JSON_STR_MAX(n) bytes,
 * escaped as jansson escapes by default: '"' '\\' \b \f \n \r \t by name,
 * other C0 controls as \u00XX (upper-case hex, as jansson's "%04X"), '/',
 * DEL and all of UTF-8 as they are. Returns the end, or NULL when s is not
 * UTF-8 as jansson's utf8_check_string defines it (no overlong forms, no
 * surrogates, nothing past U+10FFFF, no truncated sequence). */
static char *json_str(char *o, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    *o++ = '"';
    while (i < n) {
        uint64_t v;
        if (n - i >= 8) {
            memcpy(&v, s + i, 8);
            if (json_plain8(v)) {
                memcpy(o, &v, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        unsigned k = json_class[c];
        if (k == 0) {
            *o++ = (char)c;
            i++;
        } else if (k == 1) {
            *o++ = '\\';
            switch (c) {
            case '"':
            case '\\':
                *o++ = (char)c;
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            default:
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 15];
                o += 5;
            }
            i++;
        } else {
            unsigned char lo = 0x80, hi = 0xBF;
            if (k == 5 || n - i < k)
                return NULL;
            /* The second byte's range rules out overlong forms, surrogates
             * and code points past U+10FFFF (RFC 3629 section 4). */
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
            else if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
            if (s[i + 1] < lo || s[i + 1] > hi)
                return NULL;
            for (unsigned j = 2; j < k; j++)
                if ((s[i + j] & 0xC0) != 0x80)
                    return NULL;
            memcpy(o, s + i, k);
            o += k;
            i += k;
        }
    }
    *o++ = '"';
    return o;
}

int hd_render_json_string(struct hd_buf *out, const char *s, size_t len)
{
    char *end;
    if (len > (HD_BUF_MAX - 2) / 6 || hd_buf_reserve(out, JSON_STR_MAX(len)) != 0)
        return HD_JSON_NOMEM;
    end = json_str(out->data + out->len, s, len);
    if (end == NULL) {
        out->data[out->len] = '\0';
        return HD_JSON_BAD_UTF8;
    }
    *end = '\0';
    out->len = (size_t)(end - out->data);
    return 0;
}

/* One member of the push notice: its key (with the quotes, colon and
 * separator before it) and value. */
struct member {
    const char *key; /* e.g. ",\"title\":" */
    size_t key_len;
    const char *s;
    size_t len;
};

static int render_push(struct hd_renderer *r, const struct hd_person_rec *p,
                       const struct hd_channel_conf *cc, struct hd_tmpl *const *texts,
                       const char *tag, struct hd_rendered *out, struct hd_err *err)
{
#define KEY(k) k, sizeof k - 1
    size_t need = 2;
    char *o;
    if (p->push_token == NULL || p->push_token_len == 0) {
        hd_err_set(err, HD_EX_DATAERR, "person has no push token for channel \"%s\"", cc->name);
        return -1;
    }
    if (!hd_text_clean(p->push_token, p->push_token_len)) {
        hd_err_set(err, HD_EX_DATAERR, "push token has a control character or bad UTF-8");
        return -1;
    }
    if (p->push_token_len >= sizeof out->recipient) {
        hd_err_set(err, HD_EX_DATAERR, "push token longer than %zu bytes",
                   sizeof out->recipient - 1);
        return -1;
    }
    memcpy(out->recipient, p->push_token, p->push_token_len);
    out->recipient[p->push_token_len] = '\0';
    hd_render_message_key(r->c->id, p->id, p->id_len, cc->name, out->message_id);

    if (render_text(r, texts[HD_TEXT_PUSH_TITLE], &r->t1, err) != 0 ||
        render_text(r, texts[HD_TEXT_PUSH_BODY], &r->t2, err) != 0)
        return -1;
    /* Canonical JSON as json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes it:
     * the keys in strcmp order, no spaces. */
    const struct member m[] = {
        {KEY("{\"body\":"), r->t2.data, r->t2.len},
        {KEY(",\"campaign_id\":"), r->c->id, strlen(r->c->id)},
        {KEY(",\"language\":"), tag, strlen(tag)},
        {KEY(",\"objection_url\":"), r->link.data, r->link.len},
        {KEY(",\"person_id\":"), r->id.data, r->id.len},
        {KEY(",\"title\":"), r->t1.data, r->t1.len},
        {KEY(",\"token\":"), out->recipient, p->push_token_len},
    };
#undef KEY
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (m[i].len > HD_BUF_MAX / 8)
            goto nomem;
        need += m[i].key_len + JSON_STR_MAX(m[i].len);
        if (need > HD_BUF_MAX)
            goto nomem;
    }
    if (hd_buf_reserve(&out->bytes, need) != 0)
        goto nomem;
    o = out->bytes.data + out->bytes.len;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        memcpy(o, m[i].key, m[i].key_len);
        o = json_str(o + m[i].key_len, m[i].s, m[i].len);
        if (o == NULL) {
            out->bytes.data[out->bytes.len] = '\0';
            hd_err_set(err, HD_EX_DATAERR, "push notice is not valid UTF-8");
            return -1;
        }
    }
    *o++ = '}';
    *o = '\0';
    out->bytes.len = (size_t)(o - out->bytes.data);
    return 0;
nomem:
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory rendering a push notice");
    return -1;
}

int hd_render(struct hd_renderer *r, const struct hd_person_rec *p, size_t ch, int64_t date_s,
              struct hd_rendered *out, struct hd_err *err)
{
    const struct hd_campaign *c = r->c;
    const struct hd_channel_conf *cc;
    const struct hd_locale *loc;
    const struct hd_country *country;
    struct hd_tmpl *const *texts;
    int rc;

    hd_buf_reset(&out->bytes);
    out->message_id[0] = '\0';
    out->recipient[0] = '\0';
    out->locale = NULL;
    out->link = NULL;
    out->link_len = 0;
    if (ch >= c->nchannels) {
        hd_err_set(err, HD_EX_SOFTWARE, "no channel %zu in campaign \"%s\"", ch, c->id);
        return -1;
    }
    cc = &c->channels[ch];
    if (p->id == NULL || p->id_len == 0 || !hd_text_clean(p->id, p->id_len)) {
        hd_err_set(err, HD_EX_DATAERR, "person id empty, or a control character or bad UTF-8");
        return -1;
    }
    if (put_str(&r->id, p->id, p->id_len) != 0 || put_str(&r->name, p->name, p->name_len) != 0)
        goto nomem;
    if (r->name.len && !hd_text_clean(r->name.data, r->name.len)) {
        hd_err_set(err, HD_EX_DATAERR, "the person's name has a control character or bad UTF-8");
        return -1;
    }
    country = hd_country_find(p->country, strnlen(p->country, sizeof p->country));
    loc = locale_of(c, p, country);
    if (loc == NULL) {
        hd_err_set(err, HD_EX_DATAERR, "no locale for language \"%.*s\"",
                   (int)strnlen(p->language, sizeof p->language), p->language);
        return -1;
    }
    texts = p->variant ? loc->variant : loc->text;
    if (p->variant &&
        loc->variant[cc->type == HD_CHANNEL_EMAIL ? HD_TEXT_EMAIL_SUBJECT : HD_TEXT_PUSH_TITLE] ==
            NULL) {
        hd_err_set(err, HD_EX_DATAERR, "the variant text is needed, which locale \"%s\" lacks",
                   loc->tag);
        return -1;
    }

    hd_buf_reset(&r->link);
    if (hd_linker_build(r->linker, r->id.data, r->id.len, &r->link) != 0)
        goto nomem;
    r->values[r->slot[V_NAME]] = r->name.data;
    r->values[r->slot[V_OBJECTION_URL]] = r->link.data;
    r->values[r->slot[V_PERSON_ID]] = r->id.data;
    memcpy(r->country, p->country, 2);
    r->country[2] = '\0';
    r->values[r->slot[V_COUNTRY]] = r->country;
    r->values[r->slot[V_COUNTRY_NAME]] = country ? country->name : "";
    r->values[r->slot[V_LANGUAGE]] = loc->tag;
    for (size_t v = 0; v < c->nvars; v++)
        r->values[r->var_slot[v]] = loc->vars && loc->vars[v] ? loc->vars[v] : c->var_values[v];
    r->values[r->nvalues] = NULL;

    if (cc->type == HD_CHANNEL_EMAIL)
        rc = render_email(r, p, ch, cc, texts, loc->tag, date_s, out, err);
    else
        rc = render_push(r, p, cc, texts, loc->tag, out, err);
    if (rc != 0) {
        hd_buf_reset(&out->bytes);
        return -1;
    }

    hd_sha256(out->bytes.data, out->bytes.len, out->sha256);
    out->locale = loc;
    out->link = r->link.data;
    out->link_len = r->link.len;
    return 0;

nomem:
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory rendering a notice");
    return -1;
}
