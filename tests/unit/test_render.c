/* Unit tests for rendering (core/render/render.c), on the real sample campaign
 * campaigns/ai-training-notice.yaml and its 26 locales. Emails are decoded
 * back independently with the test MIME reader (tests/support/mime_read.h:
 * header unfolding, RFC 2047 with EVP_DecodeBlock, a small quoted-printable
 * decoder) and push notices parsed with jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "hd_test.h"
#include "mime_read.h"
#include "herald/audience.h"
#include "herald/campaign.h"
#include "herald/region.h"
#include "herald/render.h"

#define DATE_2025 1750924800 /* 2025-06-26T08:00:00Z */
#define LINK_PREFIX "https://privacy.lumen.example/ai/object?p="

static struct hd_campaign *campaign;
static struct hd_link_secret secret;
static size_t ch_email, ch_push;

/* ---- fixtures ------------------------------------------------------------- */

static int setup(void **state)
{
    struct hd_campaign_opts opts = {NULL, NULL, NULL};
    struct hd_diags d;
    const struct hd_channel_conf *cc;
    (void)state;
    hd_diags_init(&d);
    campaign =
        hd_campaign_load(hd_test_source_path("campaigns/ai-training-notice.yaml"), &opts, &d);
    for (size_t i = 0; i < d.count; i++)
        fprintf(stderr, "%s\n", d.items[i]);
    hd_diags_release(&d);
    if (campaign == NULL)
        return -1;
    secret.len = 32;
    for (size_t i = 0; i < secret.len; i++)
        secret.bytes[i] = (uint8_t)(i * 7 + 3);
    cc = hd_campaign_channel(campaign, "email");
    if (cc == NULL || cc->type != HD_CHANNEL_EMAIL)
        return -1;
    ch_email = (size_t)(cc - campaign->channels);
    cc = hd_campaign_channel(campaign, "inapp");
    if (cc == NULL || cc->type != HD_CHANNEL_PUSH)
        return -1;
    ch_push = (size_t)(cc - campaign->channels);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hd_campaign_free(campaign);
    return 0;
}

struct who {
    const char *id, *email, *token, *name, *country, *language;
};

static const struct who de_person = {
    "p-de-000001", "anna.schmidt@example.de", "tok-de-000001", "Anna Schmidt", "DE", "de"};
static const struct who el_person = {
    "p-gr-000002",
    "eleni@\xcf\x80\xce\xb1\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9\xce\xb3\xce\xbc"
    "\xce\xb1.gr",
    "tok-gr-000002",
    "\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7 \xce\xa0\xce\xb1\xcf\x80\xce\xb1\xce\xb4\xce\xbf"
    "\xcf\x80\xce\xbf\xcf\x8d\xce\xbb\xce\xbf\xcf\x85",
    "GR",
    "el"};
static const struct who bg_person = {
    "p-bg-000003",
    "ivan@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd0\xb1\xd0\xb3",
    "tok-bg-000003",
    "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd \xd0\x9f\xd0\xb5\xd1\x82\xd1\x80\xd0\xbe\xd0"
    "\xb2",
    "BG",
    "bg"};

/* A person record as the store hands it out: strings not NUL-terminated
 * (each copied into a slot followed by a '#'). */
struct rec {
    struct hd_person_rec p;
    char buf[1024];
};

static const char *place(struct rec *r, size_t *used, const char *s, uint16_t *len)
{
    char *at = r->buf + *used;
    size_t n = s ? strlen(s) : 0;
    *len = (uint16_t)n;
    if (s == NULL)
        return NULL;
    assert_true(*used + n + 1 < sizeof r->buf);
    memcpy(at, s, n);
    at[n] = '#';
    *used += n + 1;
    return at;
}

static void make_rec(struct rec *r, const struct who *w, uint8_t variant)
{
    size_t used = 0;
    memset(r, 0, sizeof *r);
    r->p.row = 1;
    r->p.line = 2;
    r->p.id = place(r, &used, w->id, &r->p.id_len);
    r->p.email = place(r, &used, w->email, &r->p.email_len);
    r->p.push_token = place(r, &used, w->token, &r->p.push_token_len);
    r->p.language_asked = place(r, &used, w->language, &r->p.language_asked_len);
    r->p.name = place(r, &used, w->name, &r->p.name_len);
    snprintf(r->p.country, sizeof r->p.country, "%s", w->country);
    snprintf(r->p.language, sizeof r->p.language, "%s", w->language);
    r->p.variant = variant;
    r->p.age = 30;
    r->p.nchannels = (uint8_t)campaign->nchannels;
}

static void render_ok(struct hd_renderer *r, const struct hd_person_rec *p, size_t ch,
                      struct hd_rendered *out)
{
    struct hd_err err = {0, ""};
    if (hd_render(r, p, ch, DATE_2025, out, &err) != 0)
        fail_msg("hd_render: %s", err.msg);
    unsigned char md[32];
    SHA256((const unsigned char *)out->bytes.data, out->bytes.len, md);
    assert_memory_equal(md, out->sha256, 32);
}

static const struct hd_locale *locale_tagged(const char *tag)
{
    for (size_t i = 0; i < campaign->nlocales; i++)
        if (strcmp(campaign->locales[i].tag, tag) == 0)
            return &campaign->locales[i];
    fail_msg("no locale %s", tag);
    return NULL;
}

/* The template rendered independently of the renderer's own vars array. */
static void expect_text(const struct hd_tmpl *t, const struct who *w, const char *tag,
                        struct hd_buf *out)
{
    const char *const *names = hd_campaign_var_names(campaign);
    const char *values[64];
    struct hd_buf link = HD_BUF_INIT;
    struct hd_tmpl_vars vars = {names, values};
    size_t n = 0;
    assert_int_equal(hd_link_build(&secret, campaign->link_url, campaign->id, w->id, &link), 0);
    for (; names[n]; n++) {
        const char *v = NULL;
        if (strcmp(names[n], "name") == 0)
            v = w->name ? w->name : "";
        else if (strcmp(names[n], "objection_url") == 0)
            v = link.data;
        else if (strcmp(names[n], "person_id") == 0)
            v = w->id;
        else if (strcmp(names[n], "campaign_id") == 0)
            v = campaign->id;
        else if (strcmp(names[n], "country") == 0)
            v = w->country;
        else if (strcmp(names[n], "country_name") == 0)
            v = hd_country_find(w->country, 2)->name;
        else if (strcmp(names[n], "language") == 0)
            v = tag;
        for (size_t k = 0; k < campaign->nvars; k++)
            if (strcmp(names[n], campaign->var_names[k]) == 0)
                v = campaign->var_values[k];
        assert_true(n < 63);
        values[n] = v;
    }
    values[n] = NULL;
    hd_buf_reset(out);
    assert_int_equal(hd_tmpl_render(t, &vars, out), 0);
    hd_buf_release(&link);
}

/* ---- independent email decoding (tests/support/mime_read.h) ---------------- */

/* The objection URL in a decoded text body (up to the line end). */
static void find_link(const char *text, char *url, size_t cap)
{
    const char *p = strstr(text, LINK_PREFIX);
    size_t n;
    assert_non_null(p);
    n = strcspn(p, "\r\n \"<");
    assert_true(n < cap);
    memcpy(url, p, n);
    url[n] = '\0';
}

/* Checks one rendered email against the person and locale texts. */
static void check_email(const struct hd_rendered *out, const struct who *w, const char *tag,
                        bool variant)
{
    const struct hd_locale *loc = locale_tagged(tag);
    struct hd_tmpl *const *t = variant ? loc->variant : loc->text;
    struct hd_buf want = HD_BUF_INIT, part = HD_BUF_INIT;
    char v[2048], dec[2048], url[512], person[300];
    char key[33];

    assert_ptr_equal(out->locale, loc);
    /* Subject */
    expect_text(t[HD_TEXT_EMAIL_SUBJECT], w, tag, &want);
    assert_true(hd_test_mime_header_get(out->bytes.data, "Subject", v, sizeof v));
    hd_test_mime_decode_words(v, dec, sizeof dec);
    assert_string_equal(dec, want.data);
    /* Message-ID and recipient */
    hd_render_message_key(campaign->id, w->id, strlen(w->id), "email", key);
    assert_memory_equal(out->message_id, key, 32);
    assert_string_equal(out->message_id + 32, "@lumen.example");
    snprintf(dec, sizeof dec, "<%s>", out->message_id);
    assert_true(hd_test_mime_header_get(out->bytes.data, "Message-ID", v, sizeof v));
    assert_string_equal(v, dec);
    assert_non_null(strchr(out->recipient, '@'));
    for (const char *c = out->recipient; *c; c++)
        assert_true((unsigned char)*c < 0x80);
    assert_true(hd_test_mime_header_get(out->bytes.data, "To", v, sizeof v));
    snprintf(dec, sizeof dec, "<%.320s>", out->recipient);
    assert_non_null(strstr(v, dec));
    assert_true(hd_test_mime_header_get(out->bytes.data, "Content-Language", v, sizeof v));
    assert_string_equal(v, tag);
    assert_true(hd_test_mime_header_get(out->bytes.data, "X-Herald-Campaign", v, sizeof v));
    assert_string_equal(v, campaign->id);
    /* Text part: the template's rendering, with the verifiable link. */
    hd_test_mime_get_part(out->bytes.data, 0, &part);
    expect_text(t[HD_TEXT_EMAIL_TEXT], w, tag, &want);
    assert_non_null(strstr(want.data, LINK_PREFIX));
    {
        struct hd_buf norm = HD_BUF_INIT;
        for (size_t i = 0; i < want.len; i++) {
            if (want.data[i] == '\n')
                hd_buf_putc(&norm, '\r');
            hd_buf_putc(&norm, want.data[i]);
        }
        assert_int_equal(part.len, norm.len);
        assert_memory_equal(part.data, norm.data, norm.len);
        hd_buf_release(&norm);
    }
    find_link(part.data, url, sizeof url);
    assert_true(
        hd_link_verify(&secret, campaign->link_url, campaign->id, url, person, sizeof person));
    assert_string_equal(person, w->id);
    /* HTML part: the same link, HTML-escaped. */
    hd_test_mime_get_part(out->bytes.data, 1, &part);
    assert_non_null(strstr(part.data, "&amp;t="));
    assert_non_null(strstr(part.data, LINK_PREFIX));
    hd_buf_release(&want);
    hd_buf_release(&part);
}

static void check_push(const struct hd_rendered *out, const struct who *w, const char *tag,
                       bool variant)
{
    static const char *const keys[] = {"body",      "campaign_id", "language", "objection_url",
                                       "person_id", "title",       "token"};
    const struct hd_locale *loc = locale_tagged(tag);
    struct hd_tmpl *const *t = variant ? loc->variant : loc->text;
    struct hd_buf want = HD_BUF_INIT;
    json_error_t jerr;
    json_t *o = json_loadb(out->bytes.data, out->bytes.len, 0, &jerr);
    char person[300], key[33];
    char *canon;

    assert_non_null(o);
    assert_true(json_is_object(o));
    assert_int_equal(json_object_size(o), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_true(json_is_string(json_object_get(o, keys[i])));
    /* Canonical: compact, sorted keys, UTF-8 kept. */
    canon = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(canon, out->bytes.data);
    free(canon);
    assert_memory_equal(out->bytes.data, "{\"body\":", 8);
    assert_string_equal(json_string_value(json_object_get(o, "token")), w->token);
    assert_string_equal(out->recipient, w->token);
    assert_string_equal(json_string_value(json_object_get(o, "person_id")), w->id);
    assert_string_equal(json_string_value(json_object_get(o, "campaign_id")), campaign->id);
    assert_string_equal(json_string_value(json_object_get(o, "language")), tag);
    expect_text(t[HD_TEXT_PUSH_TITLE], w, tag, &want);
    assert_string_equal(json_string_value(json_object_get(o, "title")), want.data);
    expect_text(t[HD_TEXT_PUSH_BODY], w, tag, &want);
    assert_string_equal(json_string_value(json_object_get(o, "body")), want.data);
    assert_true(hd_link_verify(&secret, campaign->link_url, campaign->id,
                               json_string_value(json_object_get(o, "objection_url")), person,
                               sizeof person));
    assert_string_equal(person, w->id);
    if (hd_tmpl_uses(t[HD_TEXT_PUSH_BODY], "objection_url"))
        assert_non_null(strstr(json_string_value(json_object_get(o, "body")),
                               json_string_value(json_object_get(o, "objection_url"))));
    hd_render_message_key(campaign->id, w->id, strlen(w->id), "inapp", key);
    assert_string_equal(out->message_id, key);
    assert_ptr_equal(out->locale, loc);
    json_decref(o);
    hd_buf_release(&want);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_render_email_and_push_de_el_bg(void **state)
{
    const struct who *people[] = {&de_person, &el_person, &bg_person};
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_rendered out;
    (void)state;
    memset(&out, 0, sizeof out);
    assert_non_null(r);
    for (size_t i = 0; i < 3; i++) {
        struct rec rec;
        struct hd_buf part = HD_BUF_INIT;
        make_rec(&rec, people[i], 0);
        render_ok(r, &rec.p, ch_email, &out);
        check_email(&out, people[i], people[i]->language, false);
        /* Greek and Bulgarian bodies go out in base64, German in QP. */
        assert_string_equal(hd_test_mime_get_part(out.bytes.data, 0, &part),
                            i == 0 ? "quoted-printable" : "base64");
        assert_string_equal(hd_test_mime_get_part(out.bytes.data, 1, &part),
                            i == 0 ? "quoted-printable" : "base64");
        hd_buf_release(&part);
        render_ok(r, &rec.p, ch_push, &out);
        check_push(&out, people[i], people[i]->language, false);
    }
    /* IDN domains reach the recipient in A-label form. */
    {
        struct rec rec;
        make_rec(&rec, &bg_person, 0);
        render_ok(r, &rec.p, ch_email, &out);
        assert_string_equal(out.recipient, "ivan@xn--e1afmkfd.xn--90ae");
    }
    hd_buf_release(&out.bytes);
    hd_renderer_free(r);
}

static void test_render_variant_texts_for_objectors(void **state)
{
    const struct who *people[] = {&de_person, &el_person, &bg_person};
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_rendered out;
    char v[1024], dec[1024];
    (void)state;
    memset(&out, 0, sizeof out);
    for (size_t i = 0; i < 3; i++) {
        struct rec rec;
        make_rec(&rec, people[i], 1);
        render_ok(r, &rec.p, ch_email, &out);
        check_email(&out, people[i], people[i]->language, true);
        render_ok(r, &rec.p, ch_push, &out);
        check_push(&out, people[i], people[i]->language, true);
    }
    struct rec rec;
    make_rec(&rec, &de_person, 1);
    render_ok(r, &rec.p, ch_email, &out);
    assert_true(hd_test_mime_header_get(out.bytes.data, "Subject", v, sizeof v));
    hd_test_mime_decode_words(v, dec, sizeof dec);
    assert_string_equal(dec, "Wir haben Ihren Widerspruch erhalten");
    hd_buf_release(&out.bytes);
    hd_renderer_free(r);
}

static void test_render_message_key_deterministic_and_distinct(void **state)
{
    char a[33], b[33], c[33], d[33];
    unsigned char md[32];
    static const char input[] = "herald-msgid-v1\0ai-training-notice-2025\0p-de-000001\0email";
    (void)state;
    hd_render_message_key(campaign->id, "p-de-000001", 11, "email", a);
    hd_render_message_key(campaign->id, "p-de-000001xyz", 11, "email", b); /* length counts */
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 32);
    /* Independently: the first 16 bytes of SHA-256 of the documented input. */
    SHA256((const unsigned char *)input, sizeof input - 1, md);
    for (int i = 0; i < 16; i++) {
        char hx[3];
        snprintf(hx, sizeof hx, "%02x", md[i]);
        assert_memory_equal(a + 2 * i, hx, 2);
    }
    hd_render_message_key(campaign->id, "p-de-000002", 11, "email", c);
    hd_render_message_key(campaign->id, "p-de-000001", 11, "inapp", d);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_string_not_equal(c, d);
    hd_render_message_key("other-campaign", "p-de-000001", 11, "email", c);
    assert_string_not_equal(a, c);
}

static void test_render_rerender_identical(void **state)
{
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_renderer *r2 = hd_renderer_new(campaign, &secret);
    struct hd_rendered a, b, other;
    struct rec de, el;
    (void)state;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&other, 0, sizeof other);
    make_rec(&de, &de_person, 0);
    make_rec(&el, &el_person, 0);
    for (size_t ch = 0; ch < campaign->nchannels; ch++) {
        render_ok(r, &de.p, ch, &a);
        render_ok(r, &el.p, ch, &other); /* scratch reused in between */
        render_ok(r, &de.p, ch, &b);
        assert_int_equal(a.bytes.len, b.bytes.len);
        assert_memory_equal(a.bytes.data, b.bytes.data, a.bytes.len);
        assert_memory_equal(a.sha256, b.sha256, 32);
        assert_string_equal(a.message_id, b.message_id);
        render_ok(r2, &de.p, ch, &b); /* a fresh renderer agrees */
        assert_memory_equal(a.sha256, b.sha256, 32);
        assert_memory_not_equal(a.sha256, other.sha256, 32);
        assert_string_not_equal(a.message_id, other.message_id);
    }
    render_ok(r, &de.p, ch_email, &a);
    render_ok(r, &de.p, ch_push, &b);
    assert_string_not_equal(a.message_id, b.message_id);
    hd_buf_release(&a.bytes);
    hd_buf_release(&b.bytes);
    hd_buf_release(&other.bytes);
    hd_renderer_free(r);
    hd_renderer_free(r2);
}

static void expect_refused(struct hd_renderer *r, const struct hd_person_rec *p, size_t ch)
{
    struct hd_rendered out;
    struct hd_err err = {0, ""};
    memset(&out, 0, sizeof out);
    assert_int_equal(hd_render(r, p, ch, DATE_2025, &out, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_int_equal(out.bytes.len, 0);
    hd_buf_release(&out.bytes);
}

static void test_render_refuses_missing_address_and_bad_data(void **state)
{
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct who w = de_person;
    struct rec rec;
    (void)state;
    w.email = NULL;
    make_rec(&rec, &w, 0);
    expect_refused(r, &rec.p, ch_email);
    w = de_person;
    w.token = NULL;
    make_rec(&rec, &w, 0);
    expect_refused(r, &rec.p, ch_push);
    w = de_person;
    w.name = "Anna\r\nBcc: victim@example.com";
    make_rec(&rec, &w, 0);
    expect_refused(r, &rec.p, ch_email);
    w = de_person;
    w.email = "j\xc3\xbcrgen@example.de"; /* non-ASCII local part */
    make_rec(&rec, &w, 0);
    expect_refused(r, &rec.p, ch_email);
    hd_renderer_free(r);
}

static void test_render_language_fallback_and_empty_name(void **state)
{
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_rendered out;
    struct who w = de_person;
    struct rec rec;
    char v[512];
    (void)state;
    memset(&out, 0, sizeof out);
    /* No stored language: the asked tag's parent (de-AT -> de) is used. */
    w.language = "de-AT";
    w.name = NULL;
    make_rec(&rec, &w, 0);
    rec.p.language[0] = '\0';
    render_ok(r, &rec.p, ch_email, &out);
    assert_string_equal(out.locale->tag, "de");
    assert_true(hd_test_mime_header_get(out.bytes.data, "To", v, sizeof v));
    assert_string_equal(v, "anna.schmidt@example.de");
    hd_buf_release(&out.bytes);
    hd_renderer_free(r);
}

static void test_render_every_locale_email_and_push(void **state)
{
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_rendered out;
    (void)state;
    memset(&out, 0, sizeof out);
    assert_int_equal(campaign->nlocales, 26);
    for (size_t i = 0; i < campaign->nlocales; i++) {
        const char *tag = campaign->locales[i].tag;
        char id[64];
        struct who w = {id, "person@example.eu", "tok-0123456789", "Alex Doe", "IE", tag};
        struct rec rec;
        snprintf(id, sizeof id, "p-%s-%03zu", tag, i);
        for (uint8_t variant = 0; variant <= 1; variant++) {
            make_rec(&rec, &w, variant);
            render_ok(r, &rec.p, ch_email, &out);
            check_email(&out, &w, tag, variant);
            render_ok(r, &rec.p, ch_push, &out);
            check_push(&out, &w, tag, variant);
        }
    }
    hd_buf_release(&out.bytes);
    hd_renderer_free(r);
}

/* The exact bytes of the sample messages, pinned: proofs record each
 * message's SHA-256 and re-render it to compare, so rendering must never
 * change a byte for the same inputs. (These are the hashes the renderer
 * made before the canonical JSON writer, hd_sha256 and the prepared link
 * builder replaced jansson, EVP and hd_link_build. If the sample campaign's
 * texts are changed on purpose, they change too.) */
static void test_render_bytes_unchanged(void **state)
{
    static const struct {
        const struct who *w;
        const char *channel;
        uint8_t variant;
        size_t len;
        const char *sha256;
    } pinned[] = {
        {&de_person, "email", 0, 3649,
         "f05a1f6179558a24243cea304da66e75ced5874771c63d9293a6727bcc9384f3"},
        {&de_person, "inapp", 0, 481,
         "c8fcb34d2ff2794ad45b6176a360ad7529dec4ebf79f9d76e02de7c49bd64560"},
        {&de_person, "email", 1, 2310,
         "15bf931542952e978dc6337e50f0f277d5550abdcc66763da3f922129dd70c4c"},
        {&de_person, "inapp", 1, 496,
         "65f1a6e2581e8fce2b8aedb426dcca2b629339b5d2227d44880400bd39f55a67"},
        {&el_person, "email", 0, 7167,
         "c08c04514f559ba071846b3ef58592beb98d9ebbd48d6277edaaa72dae26961d"},
        {&el_person, "inapp", 0, 620,
         "3e871ca896dbf44b1255b363b584d6db16f95c172ed84738f3e18cd90363a76b"},
        {&el_person, "email", 1, 3734,
         "302cba758eb743fd86cd4f397ca7606e79c3a577692d4f140c00fd54e7b7c4a2"},
        {&el_person, "inapp", 1, 649,
         "abf7bab78d5fc9e10e89937e263bdd100b185f2b0b1a13924437557852199107"},
        {&bg_person, "email", 0, 6610,
         "aadaaa99632c851c218aba7cdce263016ccb5c60f068573818e92132d86f5d63"},
        {&bg_person, "inapp", 0, 575,
         "26b0d47030c89b03858b1d12cff746aa11d40816d9ad89745447513ff4cfced7"},
        {&bg_person, "email", 1, 3523,
         "a669ed019d1cb8ac9e0de6cc0b770b88043389b41fba9f9b3e6fc80debfc2320"},
        {&bg_person, "inapp", 1, 614,
         "47d194eef6fa3c677602f0a98e0f74c64dd05ee028c152ddfe96e0b4a7d4bfb2"},
    };
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_rendered out;
    (void)state;
    memset(&out, 0, sizeof out);
    assert_non_null(r);
    /* Twice over, so the second round runs on warm scratch buffers and the
     * From address the renderer keeps. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
            struct rec rec;
            char hex[65];
            make_rec(&rec, pinned[i].w, pinned[i].variant);
            render_ok(r, &rec.p, strcmp(pinned[i].channel, "email") == 0 ? ch_email : ch_push,
                      &out);
            for (size_t k = 0; k < 32; k++)
                snprintf(hex + 2 * k, 3, "%02x", out.sha256[k]);
            assert_int_equal(out.bytes.len, pinned[i].len);
            assert_string_equal(hex, pinned[i].sha256);
        }
    }
    hd_buf_release(&out.bytes);
    hd_renderer_free(r);
}

/* ---- the canonical JSON writer against jansson ------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 33) % n;
}

/* What jansson makes of s, or NULL when it refuses s. */
static char *jansson_dump(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char *d;
    if (j == NULL)
        return NULL;
    d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    assert_non_null(d);
    return d;
}

/* Our writer's output matches jansson's, after a prefix already in the
 * buffer; or both refuse, and the buffer keeps just the prefix. */
static void expect_same_as_jansson(const char *s, size_t n)
{
    struct hd_buf b = HD_BUF_INIT;
    char *want = jansson_dump(s, n);
    int rc;
    hd_buf_puts(&b, "pre");
    rc = hd_render_json_string(&b, s, n);
    if (want == NULL) {
        assert_int_equal(rc, HD_JSON_BAD_UTF8);
        assert_int_equal(b.len, 3);
        assert_string_equal(b.data, "pre");
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(b.len, 3 + strlen(want));
        assert_string_equal(b.data + 3, want);
        free(want);
    }
    hd_buf_release(&b);
}

static void test_render_json_string_matches_jansson(void **state)
{
    /* Characters of every kind, at the edges of each UTF-8 length. */
    static const char *const pieces[] = {
        "a",
        "Z",
        "0",
        " ",
        "/",
        "'",
        "<",
        "&",
        "~",
        "\x7f",
        "\"",
        "\\",
        "\b",
        "\f",
        "\n",
        "\r",
        "\t",
        "\x01",
        "\x1f",
        "\x1b",
        "\x0b",
        "\xc2\x80",         /* U+0080 */
        "\xc3\xa9",         /* e acute */
        "\xdf\xbf",         /* U+07FF */
        "\xe0\xa0\x80",     /* U+0800 */
        "\xe2\x80\x93",     /* en dash */
        "\xe2\x80\xa8",     /* U+2028, kept as is */
        "\xed\x9f\xbf",     /* U+D7FF */
        "\xee\x80\x80",     /* U+E000 */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000 */
        "\xf0\x9f\x98\x80", /* emoji */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
        "https://privacy.lumen.example/ai/object?p=p-000001&t=abc",
        "Informationen f\xc3\xbcr KI",
    };
    char s[1024];
    (void)state;
    /* Every byte value alone: controls, ASCII, and the bytes that can never
     * stand alone in UTF-8. */
    for (unsigned c = 0; c < 256; c++) {
        s[0] = (char)c;
        expect_same_as_jansson(s, 1);
    }
    expect_same_as_jansson("", 0);
    expect_same_as_jansson("a\0b", 3); /* NUL inside */
    /* Random strings, long ASCII runs included so runs of 16 meet every
     * kind of character at every offset. */
    for (int it = 0; it < 20000; it++) {
        size_t n = 0, want = rnd(it % 10 == 0 ? 900 : 80);
        while (n < want) {
            if (rnd(3) == 0) {
                size_t run = rnd(40);
                for (size_t k = 0; k < run && n + 1 < sizeof s; k++)
                    s[n++] = (char)('a' + rnd(26));
            } else {
                const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
                size_t len = strlen(p);
                if (n + len >= sizeof s)
                    break;
                memcpy(s + n, p, len);
                n += len;
            }
        }
        expect_same_as_jansson(s, n);
    }
}

static void test_render_json_string_refuses_bad_utf8(void **state)
{
    static const char *const bad[] = {
        "\x80",
        "\xbf",
        "\xc0\x80",
        "\xc1\xbf", /* continuation alone; overlong 2 */
        "\xe0\x80\x80",
        "\xe0\x9f\xbf", /* overlong 3 */
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf", /* overlong 4 */
        "\xed\xa0\x80",
        "\xed\xbf\xbf",             /* surrogates U+D800, U+DFFF */
        "\xed\xa0\xbd\xed\xb8\x80", /* a surrogate pair (CESU-8) */
        "\xf4\x90\x80\x80",
        "\xf7\xbf\xbf\xbf", /* past U+10FFFF */
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "\xfc\x84\x80\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xc3",
        "\xe2\x82",
        "\xf0\x9f\x98", /* truncated */
        "\xc3\x28",
        "\xe2\x28\xa1",
        "\xe2\x82\x28", /* bad continuation */
        "\xf0\x28\x8c\xbc",
        "\xf0\x90\x28\xbc",
        "\xf0\x90\x8c\x28",
        "\xc3\xa9\xa9",
    };
    char s[256];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        /* Alone, after a long ASCII run (so the 16-byte copy comes first),
         * and before more text. */
        for (size_t pre = 0; pre < 40; pre += 13) {
            for (size_t post = 0; post < 30; post += 29) {
                size_t n = 0;
                for (size_t k = 0; k < pre; k++)
                    s[n++] = 'x';
                memcpy(s + n, bad[i], len);
                n += len;
                for (size_t k = 0; k < post; k++)
                    s[n++] = 'y';
                assert_null(jansson_dump(s, n)); /* jansson refuses it too */
                expect_same_as_jansson(s, n);
            }
        }
    }
    /* Every two-byte string, and three- and four-byte strings around every
     * lead byte's limits: same verdict as jansson, same bytes when valid. */
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            s[0] = (char)a;
            s[1] = (char)b;
            expect_same_as_jansson(s, 2);
        }
    static const unsigned char tails[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned a = 0xc0; a < 256; a++)
        for (unsigned b = 0x70; b < 0xd0; b++)
            for (size_t t = 0; t < sizeof tails; t++) {
                s[0] = (char)a;
                s[1] = (char)b;
                s[2] = (char)tails[t];
                expect_same_as_jansson(s, 3);
                s[3] = (char)0x80;
                expect_same_as_jansson(s, 4);
                s[3] = (char)0xbf;
                expect_same_as_jansson(s, 4);
                s[3] = 'z';
                expect_same_as_jansson(s, 4);
            }
}

/* Through hd_render: a campaign var with every kind of character reaches
 * the push notice escaped as jansson would (check_push compares with
 * jansson's canonical dump); one that is not UTF-8 is refused with a data
 * error, as jansson refused it. */
static void test_render_push_escapes_and_refuses_bad_utf8(void **state)
{
    static const char tricky[] = "Lu\"men\\ / \x01\x1f\x7f \b\f\n\r\t \xc3\xa9\xe2\x80\x93"
                                 "\xf0\x9f\x98\x80 end";
    struct hd_rendered out;
    struct hd_err err = {0, ""};
    size_t v = 0;
    char *saved;
    struct rec rec;
    (void)state;
    memset(&out, 0, sizeof out);
    while (v < campaign->nvars && strcmp(campaign->var_names[v], "company") != 0)
        v++;
    assert_true(v < campaign->nvars);
    saved = campaign->var_values[v];
    make_rec(&rec, &de_person, 0);

    campaign->var_values[v] = (char *)tricky;
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    assert_non_null(r);
    render_ok(r, &rec.p, ch_push, &out);
    assert_non_null(strstr(out.bytes.data, "Lu\\\"men\\\\ / \\u0001\\u001F\x7f \\b\\f\\n\\r\\t "));
    check_push(&out, &de_person, "de", false);
    hd_renderer_free(r);

    campaign->var_values[v] = (char *)"Lumen \xed\xa0\x80"; /* a surrogate */
    r = hd_renderer_new(campaign, &secret);
    assert_non_null(r);
    assert_int_equal(hd_render(r, &rec.p, ch_push, DATE_2025, &out, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    /* Render errors reach logs and proof records: they never name the person. */
    assert_string_equal(err.msg, "push notice is not valid UTF-8");
    assert_int_equal(out.bytes.len, 0);
    hd_renderer_free(r);

    campaign->var_values[v] = saved;
    hd_buf_release(&out.bytes);
}

/* A locale's own value of a campaign var (its vars:) is what that
 * language renders; a locale without one renders the campaign's value. */
static void test_render_locale_var_overrides_campaign_var(void **state)
{
    struct hd_rendered out;
    struct rec rec;
    size_t v = 0, l = 0;
    (void)state;
    memset(&out, 0, sizeof out);
    while (v < campaign->nvars && strcmp(campaign->var_names[v], "company") != 0)
        v++;
    assert_true(v < campaign->nvars);
    while (l < campaign->nlocales && strcmp(campaign->locales[l].tag, "de") != 0)
        l++;
    assert_true(l < campaign->nlocales);
    struct hd_locale *de = &campaign->locales[l];
    char **saved = de->vars;
    char *own[64] = {0};
    own[v] = (char *)"Lumen Deutschland";
    make_rec(&rec, &de_person, 0);

    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    assert_non_null(r);
    render_ok(r, &rec.p, ch_push, &out);
    assert_null(strstr(out.bytes.data, "Lumen Deutschland"));
    de->vars = own;
    render_ok(r, &rec.p, ch_push, &out);
    assert_non_null(strstr(out.bytes.data, "Lumen Deutschland"));
    render_ok(r, &rec.p, ch_email, &out);
    assert_non_null(strstr(out.bytes.data, "Lumen Deutschland"));
    de->vars = saved;
    render_ok(r, &rec.p, ch_push, &out);
    assert_null(strstr(out.bytes.data, "Lumen Deutschland"));
    hd_renderer_free(r);
    hd_buf_release(&out.bytes);
}

/* The From address is converted once per renderer and channel: an IDN
 * domain reaches the From header and the Message-ID in A-label form on
 * every message; a From the converter refuses fails every render, each
 * with the channel named. */
static void test_render_from_address_converted_once(void **state)
{
    struct hd_channel_conf *cc = &campaign->channels[ch_email];
    char *saved = cc->from_addr;
    struct hd_rendered out;
    struct hd_err err = {0, ""};
    struct rec rec;
    char v[512];
    (void)state;
    memset(&out, 0, sizeof out);
    make_rec(&rec, &de_person, 0);

    cc->from_addr = (char *)"privacy@l\xc3\xbcmen.example";
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    assert_non_null(r);
    for (int i = 0; i < 3; i++) {
        render_ok(r, &rec.p, ch_email, &out);
        assert_string_equal(out.message_id + 32, "@xn--lmen-0ra.example");
        assert_true(hd_test_mime_header_get(out.bytes.data, "From", v, sizeof v));
        assert_non_null(strstr(v, "<privacy@xn--lmen-0ra.example>"));
    }
    hd_renderer_free(r);

    cc->from_addr = (char *)"privacy at lumen.example";
    r = hd_renderer_new(campaign, &secret);
    assert_non_null(r);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(hd_render(r, &rec.p, ch_email, DATE_2025, &out, &err), -1);
        assert_int_equal(err.code, HD_EX_DATAERR);
        assert_non_null(strstr(err.msg, "channel \"email\" from"));
        assert_int_equal(out.bytes.len, 0);
    }
    render_ok(r, &rec.p, ch_push, &out); /* push does not need it */
    hd_renderer_free(r);

    cc->from_addr = saved;
    hd_buf_release(&out.bytes);
}

/* out->link is the objection URL the texts carry, as hd_link_build makes
 * it; NULL after a failed render. */
static void test_render_reports_link(void **state)
{
    struct hd_renderer *r = hd_renderer_new(campaign, &secret);
    struct hd_buf want = HD_BUF_INIT;
    struct hd_rendered out;
    struct hd_err err = {0, ""};
    struct who w = de_person;
    struct rec rec;
    (void)state;
    memset(&out, 0, sizeof out);
    assert_int_equal(hd_link_build(&secret, campaign->link_url, campaign->id, w.id, &want), 0);
    make_rec(&rec, &w, 0);
    for (size_t ch = 0; ch < campaign->nchannels; ch++) {
        render_ok(r, &rec.p, ch, &out);
        assert_non_null(out.link);
        assert_int_equal(out.link_len, want.len);
        assert_string_equal(out.link, want.data);
        assert_non_null(
            strstr(out.bytes.data, ch == ch_push ? want.data : "object?p=3Dp-de-000001"));
    }
    w.token = NULL;
    make_rec(&rec, &w, 0);
    assert_int_equal(hd_render(r, &rec.p, ch_push, DATE_2025, &out, &err), -1);
    assert_null(out.link);
    assert_int_equal(out.link_len, 0);
    hd_buf_release(&want);
    hd_buf_release(&out.bytes);
    hd_renderer_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_email_and_push_de_el_bg),
        cmocka_unit_test(test_render_variant_texts_for_objectors),
        cmocka_unit_test(test_render_message_key_deterministic_and_distinct),
        cmocka_unit_test(test_render_rerender_identical),
        cmocka_unit_test(test_render_refuses_missing_address_and_bad_data),
        cmocka_unit_test(test_render_language_fallback_and_empty_name),
        cmocka_unit_test(test_render_every_locale_email_and_push),
        cmocka_unit_test(test_render_bytes_unchanged),
        cmocka_unit_test(test_render_json_string_matches_jansson),
        cmocka_unit_test(test_render_json_string_refuses_bad_utf8),
        cmocka_unit_test(test_render_push_escapes_and_refuses_bad_utf8),
        cmocka_unit_test(test_render_locale_var_overrides_campaign_var),
        cmocka_unit_test(test_render_from_address_converted_once),
        cmocka_unit_test(test_render_reports_link),
    };
    setenv("HERALD_SOURCE_DIR", HERALD_SOURCE_DIR, 0);
    return cmocka_run_group_tests(tests, setup, teardown);
}
