/* cmd/cmd_preview.c - `herald preview`: a notice rendered exactly as it would
 * be sent (the renderer of `herald run`), for the comms team to read before
 * a wave goes out. Without --person it renders for a sample person of the
 * language asked; the bytes differ from a real send only in what belongs to
 * the person (name, address, id, link) and the date (--date fixes it). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "herald/campaign.h"
#include "herald/err.h"
#include "herald/files.h"
#include "herald/hash.h"
#include "herald/link.h"
#include "herald/region.h"
#include "herald/render.h"

struct preview_opts {
    const char *campaign, *lang, *country, *channel, *out, *name, *person_id, *email, *token;
    bool variant, raw;
    int64_t date_s;
};

/* A country in the campaign's regions where lang is an official language;
 * else the campaign's first country in scope. */
static const struct hd_country *country_for(const struct hd_campaign *c, const char *lang)
{
    const struct hd_country *first = NULL, *k;
    char primary[16];
    size_t n = strcspn(lang, "-");
    snprintf(primary, sizeof primary, "%.*s", (int)n, lang);
    for (size_t i = 0; (k = hd_country_in_groups(HD_GROUP_EU | HD_GROUP_EEA | HD_GROUP_UK, i));
         i++) {
        if (!hd_campaign_in_region(c, k))
            continue;
        if (first == NULL)
            first = k;
        for (const char *l = k->languages; l && *l;) {
            size_t m = strcspn(l, " ");
            if (m == strlen(primary) && strncmp(l, primary, m) == 0)
                return k;
            l += m + (l[m] == ' ');
        }
    }
    return first;
}

static void set_field(const char *s, const char **field, uint16_t *len)
{
    *field = s;
    *len = (uint16_t)(s ? strlen(s) : 0);
}

/* Writes bytes to DIR/name (a new file, or one of ours replaced). */
static int write_out(const char *dir, const char *name, const void *bytes, size_t len)
{
    char path[4096];
    struct hd_err err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (hd_out_write(path, bytes, len, 0644, true, &err) != 0)
        return hd_cli_fail(err.code, "preview: %s", err.msg);
    return 0;
}

/* One channel's message: for email its texts as a reader sees them (the
 * exact bytes with --raw), for push its JSON; the exact bytes, and an
 * email's HTML part, also in --out. */
static int preview_one(const struct hd_campaign *c, struct hd_renderer *r,
                       const struct hd_person_rec *p, size_t ch, const struct preview_opts *o)
{
    const struct hd_channel_conf *cc = &c->channels[ch];
    struct hd_rendered out;
    struct hd_err err = {0};
    char hex[65], name[300];
    memset(&out, 0, sizeof out);
    if (hd_render(r, p, ch, o->date_s, &out, &err) != 0) {
        hd_buf_release(&out.bytes);
        return hd_cli_fail(err.code ? err.code : HD_EX_DATAERR, "preview: channel %s: %s", cc->name,
                           err.msg);
    }
    bool email = cc->type == HD_CHANNEL_EMAIL;
    hd_hex(out.sha256, 32, hex);
    printf("==> channel %s (%s), locale %s%s, %zu bytes, sha256 %s\n", cc->name,
           email ? "email" : "push", out.locale->tag,
           p->variant ? " (variant: already objected)" : "", out.bytes.len, hex);
    if (o->raw || !email) {
        fwrite(out.bytes.data, 1, out.bytes.len, stdout);
        if (out.bytes.len && out.bytes.data[out.bytes.len - 1] != '\n')
            fputc('\n', stdout);
    } else {
        const char *subject, *text, *html;
        hd_render_email_texts(r, &subject, &text, &html);
        printf("To: %s\nSubject: %s\n\n%s", out.recipient, subject, text);
        if (*text && text[strlen(text) - 1] != '\n')
            fputc('\n', stdout);
        if (o->out)
            printf("(HTML part: %s/%s.html; the whole message: %s/%s.eml)\n", o->out, cc->name,
                   o->out, cc->name);
    }
    int code = 0;
    if (o->out) {
        snprintf(name, sizeof name, "%s.%s", cc->name, email ? "eml" : "json");
        code = write_out(o->out, name, out.bytes.data, out.bytes.len);
        if (code == 0 && email) {
            const char *subject, *text, *html;
            hd_render_email_texts(r, &subject, &text, &html);
            snprintf(name, sizeof name, "%s.html", cc->name);
            code = write_out(o->out, name, html, strlen(html));
        }
    }
    hd_buf_release(&out.bytes);
    return code;
}

static int parse(int argc, char **argv, struct preview_opts *o)
{
    const char *date = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (hd_cli_opt(argc, argv, &i, "--lang", &v) && v)
            o->lang = v;
        else if (hd_cli_opt(argc, argv, &i, "--country", &v) && v)
            o->country = v;
        else if (hd_cli_opt(argc, argv, &i, "--channel", &v) && v)
            o->channel = v;
        else if (hd_cli_opt(argc, argv, &i, "--out", &v) && v)
            o->out = v;
        else if (hd_cli_opt(argc, argv, &i, "--name", &v) && v)
            o->name = v;
        else if (hd_cli_opt(argc, argv, &i, "--date", &v) && v)
            date = v;
        else if (strcmp(argv[i], "--variant") == 0)
            o->variant = true;
        else if (strcmp(argv[i], "--raw") == 0)
            o->raw = true;
        else if (argv[i][0] != '-' && o->campaign == NULL)
            o->campaign = argv[i];
        else {
            fprintf(stderr, "herald: preview: bad argument \"%s\"\n", argv[i]);
            hd_cli_usage(stderr, "preview");
            return HD_EX_USAGE;
        }
    }
    if (o->campaign == NULL || o->lang == NULL) {
        fprintf(stderr, "herald: preview: name the campaign and --lang\n");
        hd_cli_usage(stderr, "preview");
        return HD_EX_USAGE;
    }
    o->date_s = (int64_t)time(NULL);
    if (date) {
        char *end = NULL;
        errno = 0;
        long long d = strtoll(date, &end, 10);
        if (errno || end == date || *end || d < 0)
            return hd_cli_fail(HD_EX_USAGE, "preview: --date takes seconds since 1970 (UTC)");
        o->date_s = d;
    }
    return 0;
}

int hd_cmd_preview(int argc, char **argv)
{
    struct preview_opts o = {0};
    struct hd_campaign *c = NULL;
    struct hd_renderer *r = NULL;
    struct hd_link_secret secret = {0};
    struct hd_err err = {0};
    char lang[16];
    int code = parse(argc, argv, &o);
    if (code != 0)
        return code;
    if (hd_lang_normalise(o.lang, strlen(o.lang), lang, sizeof lang, NULL) == 0)
        return hd_cli_fail(HD_EX_USAGE, "preview: --lang \"%s\" is not a BCP 47 language tag",
                           o.lang);
    if ((c = hd_cli_validate_campaign(o.campaign, &code)) == NULL)
        return code;

    const struct hd_country *country =
        o.country ? hd_country_find(o.country, strlen(o.country)) : country_for(c, lang);
    if (country == NULL) {
        code = hd_cli_fail(HD_EX_USAGE, "preview: --country \"%s\" is not an ISO country code",
                           o.country ? o.country : "");
        goto done;
    }
    /* The person a real send would render for, with the sample's data. */
    struct hd_person_rec p;
    memset(&p, 0, sizeof p);
    set_field("preview-person", &p.id, &p.id_len);
    set_field(o.name ? o.name : "Alex Example", &p.name, &p.name_len);
    set_field("preview@example.invalid", &p.email, &p.email_len);
    set_field("preview-device-token", &p.push_token, &p.push_token_len);
    set_field(lang, &p.language_asked, &p.language_asked_len);
    memcpy(p.country, country->code, 3);
    p.age = -1;
    p.variant = o.variant;
    p.nchannels = (uint8_t)c->nchannels;
    /* The language as the plan reads an audience's: normalised, and a
     * macrolanguage mapped to the campaign's locale ("nb" reaches "no"). */
    char *tags = hd_campaign_locale_tags(c);
    char mapped[16];
    unsigned how = 0;
    if (tags == NULL) {
        code = hd_cli_fail(HD_EX_SOFTWARE, "preview: out of memory");
        goto done;
    }
    if (hd_lang_normalise(o.lang, strlen(o.lang), lang, sizeof lang, &how) > 0 &&
        !(how & HD_LANG_NORM_UNKNOWN) && hd_lang_macro_map(lang, tags, mapped, sizeof mapped) > 0)
        snprintf(p.language, sizeof p.language, "%s", mapped);
    else
        snprintf(p.language, sizeof p.language, "%s", lang);
    free(tags);
    enum hd_lang_source src;
    const struct hd_locale *loc = hd_campaign_locale_for(c, p.language, country, &src);
    if (loc == NULL) {
        code = hd_cli_fail(HD_EX_DATAERR, "preview: the campaign has no locale for %s in %s", lang,
                           country->code);
        goto done;
    }
    snprintf(p.language, sizeof p.language, "%s", loc->tag);
    if (strcmp(loc->tag, lang) != 0)
        fprintf(stderr, "herald: preview: no %s locale: a person asking for %s in %s gets %s\n",
                lang, lang, country->code, loc->tag);

    if (hd_link_secret_load(&secret, c->link_secret_env, c->link_secret_file, &err) != 0) {
        code = hd_cli_fail(err.code, "preview: %s", err.msg);
        goto done;
    }
    if ((r = hd_renderer_new(c, &secret)) == NULL) {
        code = hd_cli_fail(HD_EX_SOFTWARE, "preview: out of memory");
        goto done;
    }
    if (o.out && hd_mkdirs(o.out, 0755, "--out", &err) != 0) {
        code = hd_cli_fail(err.code, "preview: %s", err.msg);
        goto done;
    }
    size_t shown = 0;
    for (size_t ch = 0; ch < c->nchannels && code == 0; ch++) {
        if (o.channel && strcmp(o.channel, c->channels[ch].name) != 0)
            continue;
        code = preview_one(c, r, &p, ch, &o);
        shown++;
    }
    if (code == 0 && shown == 0)
        code = hd_cli_fail(HD_EX_USAGE, "preview: the campaign has no channel \"%s\"",
                           o.channel ? o.channel : "");
done:
    hd_renderer_free(r);
    OPENSSL_cleanse(&secret, sizeof secret);
    hd_campaign_free(c);
    return code;
}
