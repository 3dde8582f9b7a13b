/* Fuzz target: the locale loader (the locale half of hd_campaign_load) and
 * the templates in it, with a fixed campaign that has an email and a push
 * channel, objections.action variant and a vars: entry, so every text of a
 * locale file is read and compiled.
 *
 * Input: the bytes of the campaign's only locale file, en.yaml. Checks:
 * those of fz_campaign_load (outcome agrees with the diagnostics,
 * invariants, the same result twice), and for a
 * loaded campaign that every text renders, that subject and title render
 * to one line, and the texts that must carry the objection link render it.
 * A subject or title that validates renders to clean text (issue 10, finding 5: validate must
 * refuse what render will refuse). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "fz_campaign.h"
#include "herald/audience.h"
#include "herald/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char campaign[] =
    "id: fuzz-locale\n"
    "reference_date: 2025-06-26\n"
    "vars:\n"
    "  company: Lumen\n"
    "audience:\n"
    "  source: audience.csv\n"
    "  regions: [EU]\n"
    "  objections:\n"
    "    file: objections.txt\n"
    "    action: variant\n"
    "objection_link:\n"
    "  url: \"https://privacy.lumen.example/o?p={{person}}&t={{token}}\"\n"
    "  secret_env: HERALD_LINK_SECRET\n"
    "locales:\n"
    "  dir: loc\n"
    "  default: en\n"
    "channels:\n"
    "  email:\n"
    "    type: email\n"
    "    module: file\n"
    "    from: \"Lumen <privacy@lumen.example>\"\n"
    "    settings: {maildir: out}\n"
    "  inapp:\n"
    "    type: push\n"
    "    module: file\n"
    "    settings: {outbox: out.jsonl}\n";

static char *files[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    files[0] = strdup(fz_write("campaign.yaml", campaign, sizeof campaign - 1));
    fz_mkdir("loc");
    files[1] = strdup(fz_path("loc/en.yaml"));
    return 0;
}

static void check_render(const struct hd_campaign *c, struct hd_tmpl *const *texts)
{
    const char *const *names = hd_campaign_var_names(c);
    const char *values[64];
    size_t n = 0;
    for (; names[n] != NULL && n < 63; n++)
        values[n] = strcmp(names[n], "objection_url") == 0 ? "https://o.example/?p=1&t=T"
                    : strcmp(names[n], "name") == 0        ? "Zoë O'Neil <z>"
                                                           : "v";
    values[n] = NULL;
    struct hd_tmpl_vars vars = {names, values};
    for (int t = 0; t < HD_TEXT_COUNT; t++) {
        struct hd_buf out = HD_BUF_INIT;
        FZ_CHECK(hd_tmpl_render(texts[t], &vars, &out) == 0, "render %d", t);
        const char *s = out.data ? out.data : "";
        if (t == HD_TEXT_EMAIL_SUBJECT || t == HD_TEXT_PUSH_TITLE) {
            FZ_CHECK(strchr(s, '\n') == NULL, "text %d renders to several lines", t);
            FZ_CHECK(hd_text_clean(s, out.len),
                     "text %d validated but renders to text a header refuses: \"%s\"", t, s);
        }
        if (t == HD_TEXT_EMAIL_TEXT || t == HD_TEXT_PUSH_BODY)
            FZ_CHECK(strstr(s, "https://o.example/?p=1&t=T") != NULL, "text %d without link", t);
        if (t == HD_TEXT_EMAIL_HTML)
            FZ_CHECK(strstr(s, "https://o.example/?p=1&amp;t=T") != NULL, "html without link");
        hd_buf_release(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write("loc/en.yaml", data, size);
    struct hd_campaign *c = fz_campaign_load(files[0], (const char *const *)files);
    if (c != NULL) {
        FZ_CHECK(c->nlocales == 1 && strcmp(c->locales[0].tag, "en") == 0, "locales");
        check_render(c, c->locales[0].text);
        check_render(c, c->locales[0].variant);
    }
    hd_campaign_free(c);
    return 0;
}
