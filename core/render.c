/* render.c - one planned delivery to the exact bytes a channel sends (see
 * herald/render.h; docs/email-format.md describes the email layout).
 *
 * A renderer keeps its scratch buffers between renders, so after the first
 * few messages rendering allocates nothing but jansson's nodes for push.
 */
#include "herald/render.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "herald/audience.h"
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
    const struct hd_link_secret *secret;
    const char *const *names;
    const char **values; /* one per name, plus a spare slot */
    size_t nvalues;
    size_t slot[V_BUILTIN]; /* index into values of each built-in */
    struct hd_buf id, name, link, t1, t2, t3;
    char country[3];
    EVP_MD *sha256;
    EVP_MD_CTX *md;
};

struct hd_renderer *hd_renderer_new(const struct hd_campaign *c,
                                    const struct hd_link_secret *secret)
{
    struct hd_renderer *r = calloc(1, sizeof *r);
    size_t n = 0;
    if (r == NULL)
        return NULL;
    r->c = c;
    r->secret = secret;
    r->names = hd_campaign_var_names(c);
    while (r->names[n] != NULL)
        n++;
    /* values[n] is a spare slot for a built-in the name list lacks. */
    r->nvalues = n;
    r->values = calloc(n + 1, sizeof *r->values);
    r->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    r->md = EVP_MD_CTX_new();
    if (r->values == NULL || r->sha256 == NULL || r->md == NULL) {
        hd_renderer_free(r);
        return NULL;
    }
    for (size_t b = 0; b < V_BUILTIN; b++) {
        r->slot[b] = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(r->names[i], builtin_names[b]) == 0)
                r->slot[b] = i;
    }
    /* The campaign's own vars never change between renders. */
    for (size_t v = 0; v < c->nvars; v++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(r->names[i], c->var_names[v]) == 0)
                r->values[i] = c->var_values[v];
    r->values[r->slot[V_CAMPAIGN_ID]] = c->id;
    r->values[n] = NULL;
    return r;
}

void hd_renderer_free(struct hd_renderer *r)
{
    if (r == NULL)
        return;
    free(r->values);
    hd_buf_release(&r->id);
    hd_buf_release(&r->name);
    hd_buf_release(&r->link);
    hd_buf_release(&r->t1);
    hd_buf_release(&r->t2);
    hd_buf_release(&r->t3);
    EVP_MD_CTX_free(r->md);
    EVP_MD_free(r->sha256);
    free(r);
}

static void to_hex(const unsigned char *md, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Returns 0, or -1 when OpenSSL fails (out is then ""). */
static int message_key(EVP_MD_CTX *ctx, const EVP_MD *md, const char *campaign_id,
                       const char *person_id, size_t person_len, const char *channel, char out[33])
{
    static const unsigned char zero = 0;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hlen = 0;
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, md, NULL) ||
        !EVP_DigestUpdate(ctx, msgid_label, sizeof msgid_label) ||
        !EVP_DigestUpdate(ctx, campaign_id, strlen(campaign_id)) ||
        !EVP_DigestUpdate(ctx, &zero, 1) || !EVP_DigestUpdate(ctx, person_id, person_len) ||
        !EVP_DigestUpdate(ctx, &zero, 1) || !EVP_DigestUpdate(ctx, channel, strlen(channel)) ||
        !EVP_DigestFinal_ex(ctx, h, &hlen) || hlen < 16) {
        out[0] = '\0';
        return -1;
    }
    to_hex(h, 16, out);
    return 0;
}

/* On an OpenSSL failure (no memory) out is "", never a key another
 * message could share. */
void hd_render_message_key(const char *campaign_id, const char *person_id, size_t person_len,
                           const char *channel, char out[33])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    (void)message_key(ctx, EVP_sha256(), campaign_id, person_id, person_len, channel, out);
    EVP_MD_CTX_free(ctx);
}

/* Copies a record string (not NUL-terminated) into b as a C string. */
static int put_str(struct hd_buf *b, const char *s, size_t len)
{
    hd_buf_reset(b);
    return hd_buf_append(b, s ? s : "", s ? len : 0);
}

static const struct hd_locale *locale_of(const struct hd_campaign *c, const struct hd_person_rec *p)
{
    char asked[64];
    enum hd_lang_source src;
    size_t n;
    for (size_t i = 0; i < c->nlocales; i++)
        if (strncmp(c->locales[i].tag, p->language, sizeof p->language) == 0)
            return &c->locales[i];
    n = p->language_asked ? p->language_asked_len : 0;
    if (n >= sizeof asked)
        n = 0;
    if (n)
        memcpy(asked, p->language_asked, n);
    asked[n] = '\0';
    return hd_campaign_locale_for(
        c, asked, hd_country_find(p->country, strnlen(p->country, sizeof p->country)), &src);
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

static int render_email(struct hd_renderer *r, const struct hd_person_rec *p,
                        const struct hd_channel_conf *cc, struct hd_tmpl *const *texts,
                        const char *tag, int64_t date_s, struct hd_rendered *out,
                        struct hd_err *err)
{
    char email[320], from[320], key[33];
    const char *domain;
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
    if (cc->from_addr == NULL) {
        hd_err_set(err, HD_EX_DATAERR, "channel \"%s\" has no from address", cc->name);
        return -1;
    }
    if (hd_mime_ascii_address(cc->from_addr, from, sizeof from, err) != 0) {
        hd_err_prefix(err, "channel \"%s\" from", cc->name);
        return -1;
    }
    domain = strrchr(from, '@') + 1;
    if (message_key(r->md, r->sha256, r->c->id, p->id, p->id_len, cc->name, key) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "SHA-256 failed");
        return -1;
    }
    if (32 + 1 + strlen(domain) >= sizeof out->message_id) {
        hd_err_set(err, HD_EX_DATAERR, "from domain too long for a Message-ID");
        return -1;
    }
    memcpy(out->message_id, key, 32);
    out->message_id[32] = '@';
    memcpy(out->message_id + 33, domain, strlen(domain) + 1);

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
    };
    if (hd_mime_build(&m, &out->bytes, err) != 0) {
        hd_err_prefix(err, "person \"%s\"", r->id.data);
        return -1;
    }
    return 0;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return hd_buf_append(data, buffer, size);
}

static int set_str(json_t *o, const char *key, const char *s, size_t len)
{
    json_t *v = json_stringn(s, len); /* NULL for bad UTF-8 */
    return v == NULL ? -1 : json_object_set_new(o, key, v);
}

static int render_push(struct hd_renderer *r, const struct hd_person_rec *p,
                       const struct hd_channel_conf *cc, struct hd_tmpl *const *texts,
                       const char *tag, struct hd_rendered *out, struct hd_err *err)
{
    json_t *o;
    int rc;
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
    if (message_key(r->md, r->sha256, r->c->id, p->id, p->id_len, cc->name, out->message_id) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "SHA-256 failed");
        return -1;
    }

    if (render_text(r, texts[HD_TEXT_PUSH_TITLE], &r->t1, err) != 0 ||
        render_text(r, texts[HD_TEXT_PUSH_BODY], &r->t2, err) != 0)
        return -1;
    o = json_object();
    if (o == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory rendering a push notice");
        return -1;
    }
    rc = set_str(o, "body", r->t2.data, r->t2.len) |
         set_str(o, "campaign_id", r->c->id, strlen(r->c->id)) |
         set_str(o, "language", tag, strlen(tag)) |
         set_str(o, "objection_url", r->link.data, r->link.len) |
         set_str(o, "person_id", r->id.data, r->id.len) |
         set_str(o, "title", r->t1.data, r->t1.len) |
         set_str(o, "token", out->recipient, p->push_token_len);
    if (rc != 0) {
        json_decref(o);
        hd_err_set(err, HD_EX_DATAERR, "push notice for person \"%s\" is not valid UTF-8",
                   r->id.data);
        return -1;
    }
    rc = json_dump_callback(o, dump_cb, &out->bytes, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (rc != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory rendering a push notice");
        return -1;
    }
    return 0;
}

int hd_render(struct hd_renderer *r, const struct hd_person_rec *p, size_t ch, int64_t date_s,
              struct hd_rendered *out, struct hd_err *err)
{
    const struct hd_campaign *c = r->c;
    const struct hd_channel_conf *cc;
    const struct hd_locale *loc;
    const struct hd_country *country;
    struct hd_tmpl *const *texts;
    unsigned len;
    int rc;

    hd_buf_reset(&out->bytes);
    out->message_id[0] = '\0';
    out->recipient[0] = '\0';
    out->locale = NULL;
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
        hd_err_set(err, HD_EX_DATAERR, "name of person \"%s\" has a control character or bad UTF-8",
                   r->id.data);
        return -1;
    }
    loc = locale_of(c, p);
    if (loc == NULL) {
        hd_err_set(err, HD_EX_DATAERR, "no locale for person \"%s\" (language \"%.*s\")",
                   r->id.data, (int)sizeof p->language, p->language);
        return -1;
    }
    texts = p->variant ? loc->variant : loc->text;
    if (p->variant &&
        loc->variant[cc->type == HD_CHANNEL_EMAIL ? HD_TEXT_EMAIL_SUBJECT : HD_TEXT_PUSH_TITLE] ==
            NULL) {
        hd_err_set(err, HD_EX_DATAERR,
                   "person \"%s\" needs the variant text, which locale \"%s\" lacks", r->id.data,
                   loc->tag);
        return -1;
    }

    hd_buf_reset(&r->link);
    if (hd_link_build(r->secret, c->link_url, c->id, r->id.data, &r->link) != 0)
        goto nomem;
    country = hd_country_find(p->country, strnlen(p->country, sizeof p->country));
    r->values[r->slot[V_NAME]] = r->name.data;
    r->values[r->slot[V_OBJECTION_URL]] = r->link.data;
    r->values[r->slot[V_PERSON_ID]] = r->id.data;
    memcpy(r->country, p->country, 2);
    r->country[2] = '\0';
    r->values[r->slot[V_COUNTRY]] = r->country;
    r->values[r->slot[V_COUNTRY_NAME]] = country ? country->name : "";
    r->values[r->slot[V_LANGUAGE]] = loc->tag;
    r->values[r->nvalues] = NULL;

    if (cc->type == HD_CHANNEL_EMAIL)
        rc = render_email(r, p, cc, texts, loc->tag, date_s, out, err);
    else
        rc = render_push(r, p, cc, texts, loc->tag, out, err);
    if (rc != 0) {
        hd_buf_reset(&out->bytes);
        return -1;
    }

    if (!EVP_DigestInit_ex(r->md, r->sha256, NULL) ||
        !EVP_DigestUpdate(r->md, out->bytes.data, out->bytes.len) ||
        !EVP_DigestFinal_ex(r->md, out->sha256, &len)) {
        hd_err_set(err, HD_EX_SOFTWARE, "SHA-256 failed");
        return -1;
    }
    out->locale = loc;
    return 0;

nomem:
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory rendering a notice");
    return -1;
}
