/* Fuzz target: the personal objection link (core/campaign/link.c).
 *
 * Input: PERSON NUL REST (no NUL: PERSON is empty and REST is everything).
 * Properties:
 * - roundtrip: for a non-empty PERSON, the link built with the campaign's
 *   template (with and without {{campaign}}) verifies and gives back
 *   exactly PERSON; the prepared builder (hd_linker_build) makes the same
 *   bytes as hd_link_build; the link does not verify under another secret,
 *   another campaign, or with any one token character changed; a short
 *   person_out buffer gets a truncated, NUL-terminated copy;
 * - REST as a URL: whatever it is, when it verifies the person it names is
 *   non-empty, has no NUL, and REST holds that person's token;
 * - REST as a URL template: hd_linker_new accepts it exactly when
 *   hd_link_template_check does, and then any person's link built with it
 *   verifies to that person under it (no template makes links that do not
 *   verify, or that verify as someone else). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "herald/buf.h"
#include "herald/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tmpl_plain =
    "https://privacy.lumen.example/ai/object?p={{person}}&t={{token}}";
static const char *const tmpl_campaign =
    "https://lumen.example/{{campaign}}/o/{{person}}/{{token}}?v=1";
static const char *const campaign = "ai-training-notice-2025";
static const char *const other_campaign = "ai-training-notice-2026";

static void make_secret(struct hd_link_secret *s, uint8_t fill)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < 32; i++)
        s->bytes[i] = (uint8_t)(fill + i * 7);
    s->len = 32;
}

static void roundtrip(const struct hd_link_secret *sec, const struct hd_link_secret *other,
                      const char *tmpl, const char *person, size_t plen)
{
    struct hd_buf url = HD_BUF_INIT, url2 = HD_BUF_INIT;
    struct hd_err err = {0};
    char *got = malloc(plen + 2), small[4], token[HD_LINK_TOKEN_LEN + 1];
    FZ_CHECK(got != NULL, "oom");
    FZ_CHECK(hd_link_build(sec, tmpl, campaign, person, &url) == 0, "build failed");
    struct hd_linker *l = hd_linker_new(sec, tmpl, campaign, &err);
    FZ_CHECK(l != NULL, "linker_new refused a template that link_build took: %s", err.msg);
    FZ_CHECK(hd_linker_build(l, person, plen, &url2) == 0, "linker_build failed");
    FZ_CHECK(url.len == url2.len && memcmp(url.data, url2.data, url.len) == 0,
             "linker_build \"%s\" != link_build \"%s\"", url2.data, url.data);
    hd_linker_free(l);

    FZ_CHECK(hd_link_verify(sec, tmpl, campaign, url.data, got, plen + 2), "own link refused: %s",
             url.data);
    FZ_CHECK(strcmp(got, person) == 0, "verified as \"%s\", built for \"%s\"", got, person);
    FZ_CHECK(hd_link_verify(sec, tmpl, campaign, url.data, small, sizeof small), "small cap");
    FZ_CHECK(strlen(small) == (plen < 3 ? plen : 3) && memcmp(small, person, strlen(small)) == 0,
             "truncated copy \"%s\"", small);
    FZ_CHECK(!hd_link_verify(other, tmpl, campaign, url.data, NULL, 0),
             "verifies under another secret");
    FZ_CHECK(!hd_link_verify(sec, tmpl, other_campaign, url.data, NULL, 0),
             "verifies for another campaign");

    /* Change each token character in turn (the token's place is found from
     * the rebuilt link, which need not be unique: change every occurrence
     * of it only at one place at a time). */
    hd_link_token(sec, campaign, person, token);
    for (char *at = strstr(url.data, token); at != NULL; at = strstr(at + 1, token)) {
        for (size_t k = 0; k < HD_LINK_TOKEN_LEN; k++) {
            char saved = at[k];
            at[k] = saved == 'A' ? 'B' : 'A';
            FZ_CHECK(!hd_link_verify(sec, tmpl, campaign, url.data, NULL, 0),
                     "verifies with token byte %zu changed: %s", k, url.data);
            at[k] = saved;
        }
    }
    hd_buf_release(&url);
    hd_buf_release(&url2);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hd_link_secret sec, other;
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : 0;
    const char *restp = nul ? (const char *)nul + 1 : (const char *)data;
    size_t rlen = size - (size_t)(restp - (const char *)data);
    char *person = malloc(plen + 1), *rest = malloc(rlen + 1), got[512];
    struct hd_err err = {0};

    FZ_CHECK(person && rest, "oom");
    memcpy(person, data, plen);
    person[plen] = '\0';
    memcpy(rest, restp, rlen);
    rest[rlen] = '\0';
    make_secret(&sec, 1);
    make_secret(&other, 2);

    if (plen > 0) {
        roundtrip(&sec, &other, tmpl_plain, person, plen);
        roundtrip(&sec, &other, tmpl_campaign, person, plen);
    }

    /* REST (up to its first NUL) as a URL to verify. */
    got[0] = '\0';
    if (hd_link_verify(&sec, tmpl_plain, campaign, rest, got, sizeof got)) {
        char token[HD_LINK_TOKEN_LEN + 1];
        FZ_CHECK(got[0] != '\0', "verified an empty person");
        hd_link_token(&sec, campaign, got, token);
        FZ_CHECK(strstr(rest, token) != NULL, "verified as \"%s\" without that person's token",
                 got);
    }

    /* REST as a template. */
    bool ok = hd_link_template_check(rest, &err) == 0;
    struct hd_linker *l = hd_linker_new(&sec, rest, campaign, &err);
    FZ_CHECK(ok == (l != NULL), "template check %d but linker_new %d", ok, l != NULL);
    if (ok) {
        static const char *const people[] = {"p-1", "alice@example.org", "ü/?&=#%{{token}}", "0",
                                             NULL};
        for (size_t i = 0; people[i] || (plen > 0 && i == 4); i++) {
            const char *p = people[i] ? people[i] : person;
            struct hd_buf url = HD_BUF_INIT, url2 = HD_BUF_INIT;
            FZ_CHECK(hd_link_build(&sec, rest, campaign, p, &url) == 0, "build");
            FZ_CHECK(hd_linker_build(l, p, strlen(p), &url2) == 0, "linker_build");
            FZ_CHECK(url.len == url2.len && memcmp(url.data, url2.data, url.len) == 0,
                     "linker_build differs from link_build");
            got[0] = '\0';
            FZ_CHECK(hd_link_verify(&sec, rest, campaign, url.data, got, sizeof got),
                     "link built with template \"%s\" does not verify: %s", rest, url.data);
            FZ_CHECK(strlen(p) >= sizeof got || strcmp(got, p) == 0,
                     "template \"%s\": link for \"%s\" verifies as \"%s\"", rest, p, got);
            hd_buf_release(&url);
            hd_buf_release(&url2);
            if (people[i] == NULL)
                break;
        }
    }
    hd_linker_free(l);
    free(person);
    free(rest);
    return 0;
}
