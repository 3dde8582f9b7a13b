/* Fuzz target support: loading a campaign (see fz_campaign.h). */
#include "fz_campaign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "herald/link.h"
#include "herald/region.h"

/* Lines and the length of line want (1-based) of the file at path, with
 * line breaks as YAML has them (and libyaml's marks count them): LF, CRLF
 * and a lone CR. */
static size_t file_lines(const char *path, unsigned long want, size_t *want_len)
{
    FILE *f = fopen(path, "rb");
    size_t lines = 1, len = 0;
    int c;
    *want_len = 0;
    if (f == NULL)
        return 0;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\r') {
            int next = fgetc(f);
            if (next != '\n' && next != EOF)
                ungetc(next, f);
            c = '\n';
        }
        if (c == '\n') {
            if (lines == want)
                *want_len = len;
            lines++;
            len = 0;
        } else {
            len++;
        }
    }
    if (lines == want)
        *want_len = len;
    fclose(f);
    return lines;
}

static void check_message(const char *msg, const char *const *files)
{
    /* Issue 10, finding 11: no raw control byte reaches a terminal, and
     * every position is one the user can find in the file. */
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        FZ_CHECK(*p >= 0x20 && *p != 0x7f, "raw control byte 0x%02x in \"%s\"", *p, msg);
    for (size_t i = 0; files[i] != NULL; i++) {
        size_t n = strlen(files[i]), line_len;
        unsigned long line, col;
        char *end;
        if (strncmp(msg, files[i], n) != 0 || msg[n] != ':')
            continue;
        line = strtoul(msg + n + 1, &end, 10);
        if (end == msg + n + 1 || *end != ':')
            continue; /* no position */
        col = strtoul(end + 1, &end, 10);
        if (*end != ':')
            col = 0; /* "file:line: message" */
        size_t lines = file_lines(files[i], line, &line_len);
        FZ_CHECK(line >= 1 && line <= lines, "line %lu of a %zu-line file: %s", line, lines, msg);
        FZ_CHECK(col <= line_len + 1, "column %lu of a %zu-byte line: %s", col, line_len, msg);
    }
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HD_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static void check_campaign(const struct hd_campaign *c)
{
    bool email = false, push = false;
    FZ_CHECK(c->id != NULL && valid_id(c->id), "bad id");
    FZ_CHECK(c->nchannels >= 1 && c->nchannels <= HD_MAX_CHANNELS, "%zu channels", c->nchannels);
    for (size_t i = 0; i < c->nchannels; i++) {
        email |= c->channels[i].type == HD_CHANNEL_EMAIL;
        push |= c->channels[i].type == HD_CHANNEL_PUSH;
        FZ_CHECK(c->channels[i].concurrency >= 1, "concurrency 0");
        FZ_CHECK(c->channels[i].rate >= 0, "negative rate");
    }
    FZ_CHECK(c->nlocales >= 1, "no locale");
    for (size_t i = 0; i < c->nlocales; i++) {
        const struct hd_locale *l = &c->locales[i];
        if (i > 0)
            FZ_CHECK(strcmp(c->locales[i - 1].tag, l->tag) < 0, "locales not sorted or unique");
        for (int t = 0; t < HD_TEXT_COUNT; t++) {
            bool want = t <= HD_TEXT_EMAIL_HTML ? email : push;
            bool link =
                t == HD_TEXT_EMAIL_TEXT || t == HD_TEXT_EMAIL_HTML || t == HD_TEXT_PUSH_BODY;
            FZ_CHECK((l->text[t] != NULL) == want, "%s text %d compiled %d", l->tag, t,
                     l->text[t] != NULL);
            FZ_CHECK(!want || !link || hd_tmpl_uses(l->text[t], "objection_url"),
                     "%s text %d without the objection link", l->tag, t);
            if (c->objection_action == HD_OBJECTION_VARIANT) {
                FZ_CHECK((l->variant[t] != NULL) == want, "%s variant %d", l->tag, t);
                FZ_CHECK(!want || !link || hd_tmpl_uses(l->variant[t], "objection_url"),
                         "%s variant %d without the objection link", l->tag, t);
            }
        }
    }
    FZ_CHECK(c->window_start >= 0 && c->window_start < 1440 && c->window_end >= 0 &&
                 c->window_end < 1440,
             "window %d-%d", c->window_start, c->window_end);
    FZ_CHECK(c->link_url != NULL && hd_link_template_check(c->link_url, NULL) == 0,
             "bad link template");
    /* Every country in scope gets a locale unless it is strict. */
    static const char *const codes[] = {"DE", "FR", "BE", "IE", "GB", "SE", "NO", "IS",
                                        "ES", "PT", "PL", "MT", "LU", "CH", "US", NULL};
    for (size_t i = 0; codes[i]; i++) {
        const struct hd_country *co = hd_country_find(codes[i], 2);
        enum hd_lang_source src;
        if (co == NULL || !hd_campaign_in_region(c, co) || hd_campaign_strict_country(c, co->code))
            continue;
        FZ_CHECK(hd_campaign_locale_for(c, "", co, &src) != NULL, "no locale for %s", codes[i]);
        FZ_CHECK(hd_campaign_locale_for(c, "xx-YY", co, &src) != NULL, "no locale for %s",
                 codes[i]);
    }
}

struct hd_campaign *fz_campaign_load(const char *path, const char *const *files)
{
    struct hd_diags d1, d2;
    struct hd_campaign *c1, *c2;

    hd_diags_init(&d1);
    hd_diags_init(&d2);
    c1 = hd_campaign_load(path, NULL, &d1);
    FZ_CHECK((c1 != NULL) == (d1.code == 0), "campaign %p with diagnostics code %d", (void *)c1,
             d1.code);
    FZ_CHECK(c1 != NULL || d1.count > 0, "refused without a message");
    for (size_t i = 0; i < d1.count; i++) {
        if (getenv("FZ_VERBOSE") != NULL) /* to see what a seed does */
            fprintf(stderr, "%s\n", d1.items[i]);
        check_message(d1.items[i], files);
    }
    if (getenv("FZ_VERBOSE") != NULL)
        fprintf(stderr, "loaded: %s\n", c1 ? "yes" : "no");
    if (c1 != NULL)
        check_campaign(c1);

    c2 = hd_campaign_load(path, NULL, &d2);
    FZ_CHECK((c1 == NULL) == (c2 == NULL) && d1.count == d2.count, "a second load differs");
    for (size_t i = 0; i < d1.count; i++)
        FZ_CHECK(strcmp(d1.items[i], d2.items[i]) == 0, "message %zu differs", i);
    if (c1 != NULL)
        FZ_CHECK(memcmp(c1->snapshot_sha256, c2->snapshot_sha256, 32) == 0,
                 "snapshot hash differs");
    hd_campaign_free(c2);
    hd_diags_release(&d1);
    hd_diags_release(&d2);
    return c1;
}
