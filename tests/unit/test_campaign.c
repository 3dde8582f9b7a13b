/* Unit tests for campaign loading and validation (core/campaign/campaign.c).
 *
 * Each test writes a campaign and its locale files into a fresh directory
 * and asserts the exact diagnostics, "file:line:col: message". Expected
 * strings use "@" for that directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hd_test.h"
#include "herald/campaign.h"
#include "herald/region.h"

/* A valid campaign. Line numbers matter: the tests below edit it in place.
 *  1 id            5 audience      11 locales       14 channels
 * 24 waves        30 send_window   33 retry         37 canary */
static const char base_campaign[] =
    "id: test-1\n"                                              /* 1 */
    "reference_date: 2025-06-26\n"                              /* 2 */
    "vars:\n"                                                   /* 3 */
    "  company: Lumen\n"                                        /* 4 */
    "audience:\n"                                               /* 5 */
    "  source: people.csv\n"                                    /* 6 */
    "  regions: [DE, FR, BE]\n"                                 /* 7 */
    "objection_link:\n"                                         /* 8 */
    "  url: \"https://x.example/o?p={{person}}&t={{token}}\"\n" /* 9 */
    "  secret_env: HERALD_LINK_SECRET\n"                        /* 10 */
    "locales:\n"                                                /* 11 */
    "  dir: loc\n"                                              /* 12 */
    "  default: en\n"                                           /* 13 */
    "channels:\n"                                               /* 14 */
    "  mail:\n"                                                 /* 15 */
    "    type: email\n"                                         /* 16 */
    "    module: file\n"                                        /* 17 */
    "    from: \"Lumen Privacy <privacy@lumen.example>\"\n"     /* 18 */
    "    rate: 20000/min\n"                                     /* 19 */
    "    concurrency: 8\n"                                      /* 20 */
    "  app:\n"                                                  /* 21 */
    "    type: push\n"                                          /* 22 */
    "    module: smtp\n"                                        /* 23 */
    "waves:\n"                                                  /* 24 */
    "  - name: first\n"                                         /* 25 */
    "    countries: [DE]\n"                                     /* 26 */
    "    not_before: 2025-06-26T08:00:00+02:00\n"               /* 27 */
    "  - name: rest\n"                                          /* 28 */
    "    languages: [fr, nl_be]\n"                              /* 29 */
    "send_window:\n"                                            /* 30 */
    "  start: \"08:00\"\n"                                      /* 31 */
    "  end: \"20:30\"\n"                                        /* 32 */
    "retry:\n"                                                  /* 33 */
    "  max_attempts: 3\n"                                       /* 34 */
    "  initial_backoff: 30s\n"                                  /* 35 */
    "  max_backoff: 1h30m\n"                                    /* 36 */
    "canary:\n"                                                 /* 37 */
    "  failure_rate: 0.1\n";                                    /* 38 */

/* A valid locale file; %s is the language. */
static const char base_locale[] =
    "language: %s\n"                                                    /* 1 */
    "email:\n"                                                          /* 2 */
    "  subject: \"Notice from {{company}}\"\n"                          /* 3 */
    "  text: |\n"                                                       /* 4 */
    "    Hello {{name}},\n"                                             /* 5 */
    "    object at {{objection_url}}\n"                                 /* 6 */
    "  html: \"<p><a href=\\\"{{objection_url}}\\\">Object</a></p>\"\n" /* 7 */
    "push:\n"                                                           /* 8 */
    "  title: \"{{company}}\"\n"                                        /* 9 */
    "  body: \"Object: {{objection_url}}\"\n";                          /* 10 */

struct fx {
    char dir[256];
    struct hd_diags d;
    struct hd_campaign *c;
};

static bool module_known(const char *name, void *ctx)
{
    (void)ctx;
    return strcmp(name, "file") == 0 || strcmp(name, "smtp") == 0;
}

static const char *const module_names[] = {"file", "smtp", NULL};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char loc[300];
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s", hd_test_tmpdir());
    snprintf(loc, sizeof loc, "%s/loc", f->dir);
    if (mkdir(loc, 0700) != 0)
        return -1;
    hd_diags_init(&f->d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hd_campaign_free(f->c);
    hd_diags_release(&f->d);
    hd_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Returns text with the first occurrence of old replaced by new (malloc'd). */
static char *edit(const char *text, const char *old, const char *new)
{
    const char *at = strstr(text, old);
    if (at == NULL)
        fail_msg("edit: \"%s\" not found", old);
    size_t head = (size_t)(at - text), n = strlen(text) - strlen(old) + strlen(new) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)head, text, new, at + strlen(old));
    return out;
}

/* Applies edits (pairs old, new, ..., NULL) to the base campaign. */
static char *campaign_with(const char *old, ...)
{
    va_list ap;
    char *text = strdup(base_campaign);
    assert_non_null(text);
    va_start(ap, old);
    for (const char *o = old; o != NULL; o = va_arg(ap, const char *)) {
        const char *n = va_arg(ap, const char *);
        char *next = edit(text, o, n);
        free(text);
        text = next;
    }
    va_end(ap);
    return text;
}

static void write_file(struct fx *f, const char *name, const char *text)
{
    free(hd_test_write(f->dir, name, text, (size_t)-1));
}

static void write_campaign(struct fx *f, char *text) /* takes text */
{
    write_file(f, "campaign.yaml", text);
    free(text);
}

static char *locale_text(const char *lang)
{
    size_t n = sizeof base_locale + strlen(lang);
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, base_locale, lang);
    return s;
}

/* The base locale for lang with old replaced by new (malloc'd). */
static char *locale_edit(const char *lang, const char *old, const char *new)
{
    char *text = locale_text(lang), *out = edit(text, old, new);
    free(text);
    return out;
}

/* Writes loc/<name>.yaml; text NULL means the valid base locale for name. */
static void write_locale(struct fx *f, const char *name, char *text) /* takes text */
{
    char file[64];
    snprintf(file, sizeof file, "loc/%s.yaml", name);
    if (text == NULL)
        text = locale_text(name);
    write_file(f, file, text);
    free(text);
}

/* The valid locales for the base campaign's countries and default. */
static void write_base_locales(struct fx *f, const char *except)
{
    static const char *const tags[] = {"de", "en", "fr", "nl", NULL};
    for (size_t i = 0; tags[i]; i++)
        if (except == NULL || strcmp(tags[i], except) != 0)
            write_locale(f, tags[i], NULL);
}

static struct hd_campaign *load(struct fx *f)
{
    struct hd_campaign_opts opts = {module_known, NULL, module_names};
    char path[300];
    snprintf(path, sizeof path, "%s/campaign.yaml", f->dir);
    f->c = hd_campaign_load(path, &opts, &f->d);
    return f->c;
}

/* expected with every "@" replaced by the test directory. */
static char *expand(const struct fx *f, const char *expected)
{
    size_t n = strlen(expected) + 1, dl = strlen(f->dir);
    for (const char *p = expected; *p; p++)
        n += *p == '@' ? dl : 0;
    char *out = malloc(n), *o = out;
    assert_non_null(out);
    for (const char *p = expected; *p; p++) {
        if (*p == '@') {
            memcpy(o, f->dir, dl);
            o += dl;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* Asserts the diagnostics are exactly expected (NULL-terminated), in order. */
static void assert_diags(const struct fx *f, const char *const *expected)
{
    size_t n = 0;
    bool ok = true;
    while (expected[n])
        n++;
    ok = n == f->d.count;
    for (size_t i = 0; ok && i < n; i++) {
        char *want = expand(f, expected[i]);
        ok = strcmp(want, f->d.items[i]) == 0;
        free(want);
    }
    if (!ok) {
        print_message("got %zu diagnostics:\n", f->d.count);
        for (size_t i = 0; i < f->d.count; i++)
            print_message("  %s\n", f->d.items[i]);
        print_message("expected %zu:\n", n);
        for (size_t i = 0; i < n; i++)
            print_message("  %s\n", expected[i]);
        fail();
    }
}

/* Loads, expects failure with exactly the diagnostics given. */
#define ASSERT_LOAD_FAILS(f, ...)                                                                  \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                           \
        assert_null(load(f));                                                                      \
        assert_diags(f, want_);                                                                    \
        assert_int_equal((f)->d.code, HD_EX_DATAERR);                                              \
    } while (0)

/* One edit of the base campaign (with the base locales) and its only error. */
static void expect_one(void **state, const char *old, const char *new, const char *error)
{
    struct fx *f = *state;
    write_base_locales(f, NULL);
    write_campaign(f, campaign_with(old, new, NULL));
    ASSERT_LOAD_FAILS(f, error);
}

/* ---- a valid campaign ---------------------------------------------------- */

static void test_campaign_valid_loads(void **state)
{
    struct fx *f = *state;
    struct hd_campaign *c;
    char want[400];

    write_base_locales(f, NULL);
    write_campaign(f, campaign_with(NULL));
    c = load(f);
    if (c == NULL) {
        for (size_t i = 0; i < f->d.count; i++)
            print_message("%s\n", f->d.items[i]);
        fail();
    }
    assert_int_equal(f->d.count, 0);
    assert_int_equal(f->d.code, 0);

    assert_string_equal(c->id, "test-1");
    assert_int_equal(c->ref_year, 2025);
    assert_int_equal(c->ref_month, 6);
    assert_int_equal(c->ref_day, 26);
    assert_null(c->description);

    /* vars come after the built-ins */
    assert_int_equal(c->nvars, 1);
    assert_string_equal(c->var_names[0], "company");
    assert_string_equal(c->var_values[0], "Lumen");
    const char *const *vars = hd_campaign_var_names(c);
    assert_string_equal(vars[0], "name");
    assert_string_equal(vars[1], "objection_url");
    assert_string_equal(vars[7], "company");
    assert_null(vars[8]);

    /* paths resolve against the campaign's directory */
    snprintf(want, sizeof want, "%s/people.csv", f->dir);
    assert_string_equal(c->audience_path, want);
    assert_int_equal(c->audience_format, HD_AUDIENCE_CSV);
    assert_int_equal(c->region_groups, 0);
    assert_int_equal(c->nregion_countries, 3);
    assert_string_equal(c->region_countries[2], "BE");
    assert_true(hd_campaign_in_region(c, hd_country_find("FR", 2)));
    assert_false(hd_campaign_in_region(c, hd_country_find("IT", 2)));
    assert_int_equal(c->minimum_age, 0);
    assert_null(c->objections_path);

    assert_string_equal(c->link_url, "https://x.example/o?p={{person}}&t={{token}}");
    assert_string_equal(c->link_secret_env, "HERALD_LINK_SECRET");
    assert_null(c->link_secret_file);

    snprintf(want, sizeof want, "%s/loc", f->dir);
    assert_string_equal(c->locales_dir, want);
    assert_string_equal(c->default_lang, "en");
    assert_int_equal(c->nstrict_countries, 0);
    assert_int_equal(c->nlocales, 4);
    assert_string_equal(c->locales[0].tag, "de"); /* sorted */
    assert_string_equal(c->locales[3].tag, "nl");
    for (int t = 0; t < HD_TEXT_COUNT; t++) {
        assert_non_null(c->locales[1].text[t]);
        assert_null(c->locales[1].variant[t]);
    }

    assert_int_equal(c->nchannels, 2);
    assert_string_equal(c->channels[0].name, "mail");
    assert_int_equal(c->channels[0].type, HD_CHANNEL_EMAIL);
    assert_string_equal(c->channels[0].module, "file");
    assert_true(c->channels[0].rate > 333.33 && c->channels[0].rate < 333.34);
    assert_int_equal(c->channels[0].concurrency, 8);
    assert_int_equal(c->channels[0].line, 15);
    assert_int_equal(c->channels[0].col, 3);
    assert_null(c->channels[0].settings);
    const struct hd_channel_conf *app = hd_campaign_channel(c, "app");
    assert_ptr_equal(app, &c->channels[1]);
    assert_int_equal(app->type, HD_CHANNEL_PUSH);
    assert_string_equal(app->module, "smtp");
    assert_true(app->rate == 0);
    assert_int_equal(app->concurrency, 1);
    assert_null(hd_campaign_channel(c, "sms"));

    assert_int_equal(c->nwaves, 2);
    assert_string_equal(c->waves[0].name, "first");
    assert_int_equal(c->waves[0].ncountries, 1);
    assert_string_equal(c->waves[0].countries[0], "DE");
    assert_int_equal(c->waves[0].nlanguages, 0);
    assert_int_equal(c->waves[0].not_before, 1750917600); /* 2025-06-26T06:00:00Z */
    assert_int_equal(c->waves[0].line, 25);
    assert_string_equal(c->waves[1].name, "rest");
    assert_int_equal(c->waves[1].ncountries, 0);
    assert_int_equal(c->waves[1].nlanguages, 2);
    assert_string_equal(c->waves[1].languages[1], "nl-BE"); /* canonical */
    assert_int_equal(c->waves[1].not_before, 0);

    assert_int_equal(c->window_start, 8 * 60);
    assert_int_equal(c->window_end, 20 * 60 + 30);
    assert_int_equal(c->retry_max_attempts, 3);
    assert_int_equal(c->retry_initial_s, 30);
    assert_int_equal(c->retry_max_s, 5400);
    assert_true(c->canary_failure_rate == 0.1);
    assert_int_equal(c->canary_window, 200);
}

static void test_campaign_defaults(void **state)
{
    struct fx *f = *state;
    struct hd_campaign *c;

    write_base_locales(f, NULL);
    /* no send_window, retry, canary or waves: their defaults apply */
    write_campaign(f,
                   campaign_with("waves:\n", "", "  - name: first\n", "", "    countries: [DE]\n",
                                 "", "    not_before: 2025-06-26T08:00:00+02:00\n", "",
                                 "  - name: rest\n", "", "    languages: [fr, nl_be]\n", "",
                                 "send_window:\n  start: \"08:00\"\n  end: \"20:30\"\n", "",
                                 "retry:\n  max_attempts: 3\n  initial_backoff: 30s\n"
                                 "  max_backoff: 1h30m\n",
                                 "", "canary:\n  failure_rate: 0.1\n", "", NULL));
    c = load(f);
    assert_non_null(c);
    assert_int_equal(f->d.count, 0);
    assert_int_equal(c->nwaves, 0);
    assert_int_equal(c->window_start, c->window_end); /* always */
    assert_int_equal(c->retry_max_attempts, 5);
    assert_int_equal(c->retry_initial_s, 60);
    assert_int_equal(c->retry_max_s, 3600);
    assert_true(c->canary_failure_rate == 0);
}

/* ---- the campaign file's errors ------------------------------------------ */

static void test_campaign_unknown_key_top_level(void **state)
{
    expect_one(state, "canary:\n", "decription: Notice\ncanary:\n",
               "@/campaign.yaml:37:1: unknown key \"decription\" in the campaign (did you mean "
               "\"description\"?)");
}

static void test_campaign_unknown_key_nested(void **state)
{
    expect_one(state, "    concurrency: 8", "    concurency: 8",
               "@/campaign.yaml:20:5: unknown key \"concurency\" in a channel (did you mean "
               "\"concurrency\"?)");
}

static void test_campaign_unknown_key_without_suggestion(void **state)
{
    expect_one(state, "  max_attempts: 3", "  jitter: 3",
               "@/campaign.yaml:34:3: unknown key \"jitter\" in retry");
}

static void test_campaign_unknown_audience_field(void **state)
{
    expect_one(state, "  regions:", "  fields: {emial: mail}\n  regions:",
               "@/campaign.yaml:7:12: unknown key \"emial\" in audience.fields (did you mean "
               "\"email\"?)");
}

static void test_campaign_list_where_string_expected(void **state)
{
    expect_one(state, "  source: people.csv", "  source: [people.csv]",
               "@/campaign.yaml:6:11: audience.source must be a string, not a list");
}

static void test_campaign_mapping_expected(void **state)
{
    expect_one(state, "send_window:\n  start: \"08:00\"\n  end: \"20:30\"\n",
               "send_window: \"08:00-20:30\"\n",
               "@/campaign.yaml:30:14: send_window must be a mapping, not a string");
}

static void test_campaign_missing_required_field(void **state)
{
    expect_one(state, "reference_date: 2025-06-26\n", "",
               "@/campaign.yaml:1:1: missing required field \"reference_date\" in the campaign");
}

static void test_campaign_missing_nested_field(void **state)
{
    expect_one(state, "    module: smtp\n", "",
               "@/campaign.yaml:22:5: missing required field \"module\" in a channel");
}

static void test_campaign_bad_date(void **state)
{
    expect_one(state, "2025-06-26\n", "2025-02-30\n",
               "@/campaign.yaml:2:17: bad date \"2025-02-30\" (write a real date as YYYY-MM-DD, "
               "e.g. 2025-06-26)");
}

static void test_campaign_bad_duration(void **state)
{
    expect_one(state, "initial_backoff: 30s", "initial_backoff: 30 sec",
               "@/campaign.yaml:35:20: retry.initial_backoff: bad duration \"30 sec\" (write "
               "e.g. 30s, 5m, 1h30m, 2d)");
}

static void test_campaign_duration_over_a_year(void **state)
{
    expect_one(state, "max_backoff: 1h30m", "max_backoff: 365d1s",
               "@/campaign.yaml:36:16: retry.max_backoff: bad duration \"365d1s\" (write e.g. "
               "30s, 5m, 1h30m, 2d)");
}

static void test_campaign_backoff_order(void **state)
{
    expect_one(state, "max_backoff: 1h30m", "max_backoff: 10s",
               "@/campaign.yaml:34:3: retry.max_backoff is shorter than retry.initial_backoff");
}

static void test_campaign_bad_timestamp(void **state)
{
    expect_one(state, "2025-06-26T08:00:00+02:00", "2025-06-26 08:00",
               "@/campaign.yaml:27:17: bad time \"2025-06-26 08:00\" (write RFC 3339, e.g. "
               "2025-06-26T08:00:00Z or 2025-06-26T10:00:00+02:00)");
}

static void test_campaign_bad_time_of_day(void **state)
{
    expect_one(state, "\"20:30\"", "\"8pm\"",
               "@/campaign.yaml:32:8: bad time of day \"8pm\" (write HH:MM, e.g. 20:00)");
}

static void test_campaign_bad_country_in_regions(void **state)
{
    expect_one(state, "[DE, FR, BE]", "[DE, FR, BE, XX]",
               "@/campaign.yaml:7:25: unknown country \"XX\" in audience.regions (use ISO "
               "3166-1 alpha-2 codes such as DE, or EU, EEA, UK)");
}

static void test_campaign_bad_country_in_wave(void **state)
{
    expect_one(state, "countries: [DE]", "countries: [DE, DX]",
               "@/campaign.yaml:26:21: unknown country \"DX\" in wave countries (use ISO "
               "3166-1 alpha-2 codes such as DE)");
}

static void test_campaign_wave_country_outside_regions(void **state)
{
    expect_one(state, "countries: [DE]", "countries: [DE, it]",
               "@/campaign.yaml:26:21: wave \"first\" names IT, which is outside "
               "audience.regions");
}

static void test_campaign_bad_default_language(void **state)
{
    expect_one(state, "  default: en", "  default: english",
               "@/campaign.yaml:13:12: bad language tag \"english\" in locales.default (use BCP "
               "47, e.g. en or pt-BR)");
}

static void test_campaign_bad_wave_language(void **state)
{
    expect_one(state, "[fr, nl_be]", "[fr, nl_be, x1]",
               "@/campaign.yaml:29:28: bad language tag \"x1\" (use BCP 47, e.g. de)");
}

static void test_campaign_unknown_module(void **state)
{
    expect_one(state, "    module: smtp", "    module: smpt",
               "@/campaign.yaml:23:13: unknown channel module \"smpt\" (did you mean "
               "\"smtp\"?)");
}

static void test_campaign_unknown_module_without_suggestion(void **state)
{
    expect_one(state, "    module: smtp", "    module: carrier-pigeon",
               "@/campaign.yaml:23:13: unknown channel module \"carrier-pigeon\"");
}

static void test_campaign_bad_rate(void **state)
{
    expect_one(state, "rate: 20000/min", "rate: 20000/day",
               "@/campaign.yaml:19:11: bad rate \"20000/day\" (write e.g. 500/s, 20000/min or "
               "100000/h)");
}

static void test_campaign_missing_secret_source(void **state)
{
    expect_one(state, "  secret_env: HERALD_LINK_SECRET\n", "",
               "@/campaign.yaml:9:3: objection_link needs secret_env or secret_file: where the "
               "link secret comes from (never the secret itself)");
}

static void test_campaign_secret_env_must_be_a_name(void **state)
{
    expect_one(state, "secret_env: HERALD_LINK_SECRET", "secret_env: s3cr3t-value",
               "@/campaign.yaml:10:15: objection_link.secret_env must name an environment "
               "variable (A-Z, 0-9, _), not \"s3cr3t-value\"; the secret itself never goes in "
               "the campaign");
}

static void test_campaign_link_lacks_token(void **state)
{
    expect_one(state, "&t={{token}}", "",
               "@/campaign.yaml:9:8: objection link template lacks {{token}}");
}

static void test_campaign_bad_var(void **state)
{
    expect_one(state, "  company: Lumen", "  company: [Lumen]",
               "@/campaign.yaml:4:12: vars.company must be a string, not a list");
}

static void test_campaign_builtin_var_refused(void **state)
{
    expect_one(state, "  company: Lumen", "  company: Lumen\n  country: Narnia",
               "@/campaign.yaml:5:3: variable \"country\" is built in and set per person");
}

static void test_campaign_not_a_mapping(void **state)
{
    struct fx *f = *state;
    write_file(f, "campaign.yaml", "- id: x\n");
    ASSERT_LOAD_FAILS(f, "@/campaign.yaml:1:1: a campaign file must be a mapping (id, audience, "
                         "channels, ...)");
}

static void test_campaign_yaml_error(void **state)
{
    struct fx *f = *state;
    write_campaign(f, campaign_with("id: test-1\n", "id: test-1\nid: again\n", NULL));
    ASSERT_LOAD_FAILS(f, "@/campaign.yaml:2:1: duplicate key \"id\"");
}

static void test_campaign_missing_file(void **state)
{
    struct fx *f = *state;
    assert_null(load(f));
    assert_int_equal(f->d.code, HD_EX_NOINPUT);
    static const char *const want[] = {
        "cannot open YAML file @/campaign.yaml: No such file or directory", NULL};
    assert_diags(f, want);
}

/* Every problem in the file comes out of one run, in file order per section. */
static void test_campaign_reports_every_error(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, NULL);
    write_campaign(f,
                   campaign_with("2025-06-26\n", "2025-13-01\n", "[DE, FR, BE]", "[DE, FR, BE, XX]",
                                 "    rate: 20000/min\n", "    rate: lots\n", "    concurrency: 8",
                                 "    concurency: 8", "    module: smtp", "    module: smpt",
                                 "initial_backoff: 30s", "initial_backoff: soon", NULL));
    ASSERT_LOAD_FAILS(
        f,
        "@/campaign.yaml:2:17: bad date \"2025-13-01\" (write a real date as YYYY-MM-DD, e.g. "
        "2025-06-26)",
        "@/campaign.yaml:7:25: unknown country \"XX\" in audience.regions (use ISO 3166-1 "
        "alpha-2 codes such as DE, or EU, EEA, UK)",
        "@/campaign.yaml:20:5: unknown key \"concurency\" in a channel (did you mean "
        "\"concurrency\"?)",
        "@/campaign.yaml:19:11: bad rate \"lots\" (write e.g. 500/s, 20000/min or 100000/h)",
        "@/campaign.yaml:23:13: unknown channel module \"smpt\" (did you mean \"smtp\"?)",
        "@/campaign.yaml:35:20: retry.initial_backoff: bad duration \"soon\" (write e.g. 30s, "
        "5m, 1h30m, 2d)");
}

/* ---- warnings ------------------------------------------------------------ */

static void test_campaign_warnings_do_not_fail(void **state)
{
    struct fx *f = *state;
    struct hd_campaign *c;
    write_base_locales(f, "nl");
    /* FR and BE are in no wave; BE's main language (nl) has no locale */
    write_campaign(f, campaign_with("  - name: rest\n    languages: [fr, nl_be]\n", "", NULL));
    c = load(f);
    assert_non_null(c);
    static const char *const want[] = {
        "@/campaign.yaml:25:3: warning: no wave covers 2 countries in scope, so nobody there "
        "will be notified: FR BE",
        "@/campaign.yaml:12:3: warning: no locale for the main language of 1 country in scope; "
        "people there get another official language or \"en\": BE",
        NULL};
    assert_diags(f, want);
    assert_int_equal(f->d.code, 0);
    assert_int_equal(c->nwaves, 1);
}

/* Groups and single countries both count as in scope for the wave check;
 * a country listed by code and also in a listed group counts once. */
static void test_campaign_warns_about_groups_and_codes(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, NULL);
    write_campaign(f, campaign_with("[DE, FR, BE]", "[EEA, CH, DE]",
                                    "  - name: rest\n    languages: [fr, nl_be]\n",
                                    "  - name: alps\n    countries: [LI, AT]\n", NULL));
    assert_non_null(load(f));
    assert_int_equal(f->d.code, 0);
    assert_int_equal(f->d.count, 2);
    /* the EEA's 30 and CH, less DE, LI and AT */
    assert_non_null(strstr(f->d.items[0], "warning: no wave covers 28 countries in scope"));
    assert_non_null(strstr(f->d.items[0], " CH")); /* listed by code, in no group */
    assert_null(strstr(f->d.items[0], " DE"));
    assert_null(strstr(f->d.items[0], " LI"));
}

/* An earlier error in the same diags must not let a bad campaign through,
 * nor be forgotten. */
static void test_campaign_diags_with_earlier_error(void **state)
{
    struct fx *f = *state;
    hd_diags_add(&f->d, HD_EX_NOINPUT, "other.yaml", 1, 1, "earlier problem");
    write_base_locales(f, NULL);
    write_campaign(f, campaign_with("rate: 20000/min", "rate: fast", NULL));
    assert_null(load(f));
    assert_int_equal(f->d.code, HD_EX_NOINPUT);
    assert_int_equal(f->d.count, 2);

    /* and a valid campaign still loads, keeping the earlier code */
    write_campaign(f, campaign_with(NULL));
    assert_non_null(load(f));
    assert_int_equal(f->d.code, HD_EX_NOINPUT);
    assert_int_equal(f->d.count, 2);
}

/* ---- locale files -------------------------------------------------------- */

static void test_campaign_locale_unknown_var_quoted(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "en");
    write_locale(f, "en", locale_edit("en", "{{company}}\"", "{{compnay}}\""));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/en.yaml:3:27: unknown template variable \"compnay\" (did you "
                         "mean \"company\"?)");
}

static void test_campaign_locale_unknown_var_block_second_line(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "en");
    write_locale(f, "en", locale_edit("en", "{{objection_url}}\n", "{{objection_url}}, {{nme}}\n"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/en.yaml:6:36: unknown template variable \"nme\" (did you mean "
                         "\"name\"?)");
}

/* A blank first line in a block scalar is part of the text: positions after
 * it still land on the right line. */
static void test_campaign_locale_unknown_var_after_blank_line(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "en");
    write_locale(
        f, "en",
        locale_edit("en", "  text: |\n    Hello {{name}},", "  text: |\n\n    Hello {{nmae}},"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/en.yaml:6:13: unknown template variable \"nmae\" (did you mean "
                         "\"name\"?)");
}

static void test_campaign_locale_lacks_objection_url(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "de");
    write_locale(f, "de", locale_edit("de", "<a href=\\\"{{objection_url}}\\\">", "<a>"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/de.yaml:7:9: email.html lacks {{objection_url}}: every notice "
                         "must carry the person's objection link");
}

static void test_campaign_locale_missing_push(void **state)
{
    struct fx *f = *state;
    char *text = locale_text("fr");
    write_base_locales(f, "fr");
    *strstr(text, "push:") = '\0';
    write_locale(f, "fr", text);
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/fr.yaml:1:1: missing required field \"push\" in a locale");
}

/* Without a push channel the push section is not needed. */
static void test_campaign_locale_push_optional_without_push_channel(void **state)
{
    struct fx *f = *state;
    char *text = locale_text("fr");
    write_base_locales(f, "fr");
    *strstr(text, "push:") = '\0';
    write_locale(f, "fr", text);
    write_campaign(f, campaign_with("  app:\n    type: push\n    module: smtp\n", "", NULL));
    assert_non_null(load(f));
    assert_int_equal(f->d.count, 0);
    assert_null(f->c->locales[2].text[HD_TEXT_PUSH_BODY]);
    assert_non_null(f->c->locales[2].text[HD_TEXT_EMAIL_TEXT]);
}

static void test_campaign_locale_wrong_type(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "nl");
    write_locale(f, "nl", locale_edit("nl", "  title: \"{{company}}\"", "  title: [x]"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/nl.yaml:9:10: push.title must be a string, not a list");
}

static void test_campaign_locale_unknown_key(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "nl");
    write_locale(f, "nl", locale_edit("nl", "  title:", "  titel:"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f,
                      "@/loc/nl.yaml:9:3: unknown key \"titel\" in push (did you mean \"title\"?)",
                      "@/loc/nl.yaml:9:3: missing required field \"title\" in push");
}

static void test_campaign_locale_language_mismatch(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "de");
    write_locale(f, "de", locale_text("fr"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f,
                      "@/loc/de.yaml:1:11: language \"fr\" does not match the file name (de.yaml)");
}

static void test_campaign_locale_bad_file_name(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, NULL);
    write_locale(f, "pt_BR", locale_text("pt-BR"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/pt_BR.yaml: locale file name must be a canonical BCP 47 tag such "
                         "as de.yaml or pt-BR.yaml");
}

static void test_campaign_locale_variant_required(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "en");
    write_locale(f, "en",
                 locale_edit("en", "push:",
                             "variant:\n  push: {title: x, body: \"{{objection_url}}\"}\npush:"));
    write_campaign(f, campaign_with("  regions: [DE, FR, BE]\n",
                                    "  regions: [DE, FR, BE]\n  objections:\n"
                                    "    file: objected.txt\n    action: variant\n",
                                    NULL));
    ASSERT_LOAD_FAILS(f,
                      "@/loc/de.yaml:1:1: missing required field \"variant\" in a locale "
                      "(audience.objections.action is variant)",
                      "@/loc/en.yaml:9:3: missing required field \"email\" in variant",
                      "@/loc/fr.yaml:1:1: missing required field \"variant\" in a locale "
                      "(audience.objections.action is variant)",
                      "@/loc/nl.yaml:1:1: missing required field \"variant\" in a locale "
                      "(audience.objections.action is variant)");
}

static void test_campaign_locale_yaml_error(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "nl");
    write_locale(f, "nl", locale_edit("nl", "push:", "push: *nope\npush2:"));
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/loc/nl.yaml:8:7: unknown alias \"*nope\"",
                      "@/campaign.yaml:12:3: warning: no locale for the main language of 1 "
                      "country in scope; people there get another official language or \"en\": BE");
}

static void test_campaign_strict_country_lacks_languages(void **state)
{
    struct fx *f = *state;
    write_locale(f, "en", NULL);
    write_locale(f, "fr", NULL);
    write_campaign(
        f, campaign_with("  default: en\n", "  default: en\n  require_own_language: [BE]\n", NULL));
    /* BE's nl and de are errors; DE's missing de is a warning (and BE,
     * strict, is not listed there: it never falls back) */
    ASSERT_LOAD_FAILS(f,
                      "@/campaign.yaml:14:25: BE requires its own language, but there is no locale "
                      "for \"nl\" (add @/loc/nl.yaml)",
                      "@/campaign.yaml:14:25: BE requires its own language, but there is no locale "
                      "for \"de\" (add @/loc/de.yaml)",
                      "@/campaign.yaml:12:3: warning: no locale for the main language of 1 "
                      "country in scope; people there get another official language or \"en\": DE");
}

static void test_campaign_missing_default_locale(void **state)
{
    struct fx *f = *state;
    write_base_locales(f, "en");
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/campaign.yaml:13:12: no locale file for the default language \"en\" "
                         "(expected @/loc/en.yaml)");
}

static void test_campaign_no_locales(void **state)
{
    struct fx *f = *state;
    write_campaign(f, campaign_with(NULL));
    ASSERT_LOAD_FAILS(f, "@/campaign.yaml:12:8: no locale files (<tag>.yaml) in \"@/loc\"");
}

static void test_campaign_locales_dir_missing(void **state)
{
    struct fx *f = *state;
    write_campaign(f, campaign_with("  dir: loc", "  dir: nowhere", NULL));
    ASSERT_LOAD_FAILS(f, "@/campaign.yaml:12:8: cannot open locales directory \"@/nowhere\": No "
                         "such file or directory");
}

/* ---- language fallback --------------------------------------------------- */

static void test_campaign_locale_for_fallback(void **state)
{
    struct fx *f = *state;
    const struct hd_campaign *c;
    const struct hd_locale *loc;
    enum hd_lang_source src;
    const struct hd_country *pt = hd_country_find("PT", 2), *fr = hd_country_find("FR", 2),
                            *br = hd_country_find("BR", 2), *jp = hd_country_find("JP", 2);

    write_locale(f, "en", NULL);
    write_locale(f, "fr", NULL);
    write_locale(f, "pt", NULL);
    write_campaign(f, campaign_with("[DE, FR, BE]", "[FR, PT]", "countries: [DE]",
                                    "countries: [PT]", "  default: en\n",
                                    "  default: en\n  require_own_language: [FR]\n", NULL));
    c = load(f);
    if (c == NULL) {
        for (size_t i = 0; i < f->d.count; i++)
            print_message("%s\n", f->d.items[i]);
        fail();
    }

    loc = hd_campaign_locale_for(c, "pt", pt, &src);
    assert_string_equal(loc->tag, "pt");
    assert_int_equal(src, HD_LANG_EXACT);

    /* a regional tag falls back to its parent */
    loc = hd_campaign_locale_for(c, "pt-BR", pt, &src);
    assert_string_equal(loc->tag, "pt");
    assert_int_equal(src, HD_LANG_PARENT);
    loc = hd_campaign_locale_for(c, "pt-BR", br, &src);
    assert_string_equal(loc->tag, "pt");
    assert_int_equal(src, HD_LANG_PARENT);

    /* a language with no locale: the country's language */
    loc = hd_campaign_locale_for(c, "de", pt, &src);
    assert_string_equal(loc->tag, "pt");
    assert_int_equal(src, HD_LANG_COUNTRY);
    loc = hd_campaign_locale_for(c, NULL, pt, &src);
    assert_string_equal(loc->tag, "pt");
    assert_int_equal(src, HD_LANG_COUNTRY);

    /* nothing fits: the default */
    loc = hd_campaign_locale_for(c, "ja", jp, &src);
    assert_string_equal(loc->tag, "en");
    assert_int_equal(src, HD_LANG_DEFAULT);
    loc = hd_campaign_locale_for(c, "", NULL, &src);
    assert_string_equal(loc->tag, "en");
    assert_int_equal(src, HD_LANG_DEFAULT);

    /* strict FR: English exists but is not a language of France */
    assert_true(hd_campaign_strict_country(c, "FR"));
    assert_false(hd_campaign_strict_country(c, "PT"));
    loc = hd_campaign_locale_for(c, "en", fr, &src);
    assert_string_equal(loc->tag, "fr");
    assert_int_equal(src, HD_LANG_COUNTRY);
    loc = hd_campaign_locale_for(c, "fr-CA", fr, &src);
    assert_string_equal(loc->tag, "fr");
    assert_int_equal(src, HD_LANG_PARENT);
}

/* A strict country never falls back to the default: with none of its
 * languages present (which validation refuses) there is no locale. */
static void test_campaign_locale_for_strict_never_default(void **state)
{
    struct hd_locale locs[5];
    char strict[2][3] = {"BE", "FR"};
    struct hd_campaign c;
    enum hd_lang_source src = HD_LANG_EXACT;
    const struct hd_locale *loc;
    const struct hd_country *be = hd_country_find("BE", 2), *fr = hd_country_find("FR", 2);
    (void)state;

    memset(&c, 0, sizeof c);
    memset(locs, 0, sizeof locs);
    /* sorted, as the loader leaves them */
    snprintf(locs[0].tag, sizeof locs[0].tag, "de");
    snprintf(locs[1].tag, sizeof locs[1].tag, "en");
    snprintf(locs[2].tag, sizeof locs[2].tag, "fr-BE");
    snprintf(locs[3].tag, sizeof locs[3].tag, "nl");
    c.locales = locs;
    c.nlocales = 4;
    c.strict_countries = strict;
    c.nstrict_countries = 2;
    snprintf(c.default_lang, sizeof c.default_lang, "en");

    assert_null(hd_campaign_locale_for(&c, "en", fr, &src));
    assert_null(hd_campaign_locale_for(&c, "fr", fr, &src));

    /* a regional form of the country's language is the country's language */
    loc = hd_campaign_locale_for(&c, "fr-BE", be, &src);
    assert_string_equal(loc->tag, "fr-BE");
    assert_int_equal(src, HD_LANG_EXACT);
    loc = hd_campaign_locale_for(&c, "en", be, &src);
    assert_string_equal(loc->tag, "nl");
    assert_int_equal(src, HD_LANG_COUNTRY);
}

/* ---- a locale's own vars ------------------------------------------------- */

/* A locale sets its own value of a campaign var; the others keep the
 * campaign's. */
static void test_campaign_locale_vars(void **state)
{
    struct fx *f = *state;
    write_campaign(f, strdup(base_campaign));
    write_base_locales(f, "fr");
    write_locale(f, "fr",
                 locale_edit("fr", "email:\n", "vars:\n  company: Lumen France\nemail:\n"));
    assert_non_null(load(f));
    assert_int_equal(f->d.count, 0);
    assert_int_equal(f->c->nvars, 1);
    for (size_t i = 0; i < f->c->nlocales; i++) {
        const struct hd_locale *l = &f->c->locales[i];
        if (strcmp(l->tag, "fr") == 0)
            assert_string_equal(l->vars[0], "Lumen France");
        else
            assert_true(l->vars == NULL || l->vars[0] == NULL);
    }
}

/* A var the campaign does not declare is refused, with a suggestion: a typo
 * would leave the campaign's value in place unnoticed. */
static void test_campaign_locale_var_undeclared(void **state)
{
    struct fx *f = *state;
    write_campaign(f, strdup(base_campaign));
    write_base_locales(f, "fr");
    write_locale(f, "fr",
                 locale_edit("fr", "email:\n", "vars:\n  compnay: Lumen France\nemail:\n"));
    ASSERT_LOAD_FAILS(f, "@/loc/fr.yaml:3:3: vars.compnay is not a variable of the campaign "
                         "(did you mean \"company\"?): a locale sets its own value of a variable "
                         "the campaign's vars: declare (the default for every language)");
}

/* A locale's value used in a subject is checked as the campaign's is. */
static void test_campaign_locale_var_in_header(void **state)
{
    struct fx *f = *state;
    write_campaign(f, strdup(base_campaign));
    write_base_locales(f, "fr");
    write_locale(f, "fr",
                 locale_edit("fr", "email:\n", "vars:\n  company: \"Lumen\\tFrance\"\nemail:\n"));
    ASSERT_LOAD_FAILS(
        f, "@/loc/fr.yaml:3:18: vars.company has a control character here, but it is used in "
           "email.subject (@/loc/fr.yaml:5:12), a mail header, which cannot hold it");
}

/* ---- the sample campaign ------------------------------------------------- */

static void test_campaign_sample_loads(void **state)
{
    struct fx *f = *state;
    struct hd_campaign_opts opts = {module_known, NULL, module_names};
    f->c = hd_campaign_load(hd_test_source_path("campaigns/ai-training-notice.yaml"), &opts, &f->d);
    for (size_t i = 0; i < f->d.count; i++)
        if (strstr(f->d.items[i], ": warning: ") == NULL)
            fail_msg("%s", f->d.items[i]);
    assert_non_null(f->c);
    assert_int_equal(f->d.code, 0);
    assert_int_equal(f->c->nlocales, 26);
    assert_string_equal(f->c->id, "ai-training-notice-2025");
    assert_int_equal(f->c->objection_action, HD_OBJECTION_VARIANT);
    for (size_t i = 0; i < f->c->nlocales; i++)
        assert_non_null(f->c->locales[i].variant[HD_TEXT_PUSH_BODY]);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_campaign_valid_loads),
        T(test_campaign_defaults),
        T(test_campaign_unknown_key_top_level),
        T(test_campaign_unknown_key_nested),
        T(test_campaign_unknown_key_without_suggestion),
        T(test_campaign_unknown_audience_field),
        T(test_campaign_list_where_string_expected),
        T(test_campaign_mapping_expected),
        T(test_campaign_missing_required_field),
        T(test_campaign_missing_nested_field),
        T(test_campaign_bad_date),
        T(test_campaign_bad_duration),
        T(test_campaign_duration_over_a_year),
        T(test_campaign_backoff_order),
        T(test_campaign_bad_timestamp),
        T(test_campaign_bad_time_of_day),
        T(test_campaign_bad_country_in_regions),
        T(test_campaign_bad_country_in_wave),
        T(test_campaign_wave_country_outside_regions),
        T(test_campaign_bad_default_language),
        T(test_campaign_bad_wave_language),
        T(test_campaign_unknown_module),
        T(test_campaign_unknown_module_without_suggestion),
        T(test_campaign_bad_rate),
        T(test_campaign_missing_secret_source),
        T(test_campaign_secret_env_must_be_a_name),
        T(test_campaign_link_lacks_token),
        T(test_campaign_bad_var),
        T(test_campaign_builtin_var_refused),
        T(test_campaign_not_a_mapping),
        T(test_campaign_yaml_error),
        T(test_campaign_missing_file),
        T(test_campaign_reports_every_error),
        T(test_campaign_warnings_do_not_fail),
        T(test_campaign_warns_about_groups_and_codes),
        T(test_campaign_diags_with_earlier_error),
        T(test_campaign_locale_unknown_var_quoted),
        T(test_campaign_locale_unknown_var_block_second_line),
        T(test_campaign_locale_unknown_var_after_blank_line),
        T(test_campaign_locale_lacks_objection_url),
        T(test_campaign_locale_missing_push),
        T(test_campaign_locale_push_optional_without_push_channel),
        T(test_campaign_locale_wrong_type),
        T(test_campaign_locale_unknown_key),
        T(test_campaign_locale_language_mismatch),
        T(test_campaign_locale_bad_file_name),
        T(test_campaign_locale_variant_required),
        T(test_campaign_locale_yaml_error),
        T(test_campaign_strict_country_lacks_languages),
        T(test_campaign_missing_default_locale),
        T(test_campaign_no_locales),
        T(test_campaign_locales_dir_missing),
        T(test_campaign_locale_for_fallback),
        T(test_campaign_locale_for_strict_never_default),
        T(test_campaign_locale_vars),
        T(test_campaign_locale_var_undeclared),
        T(test_campaign_locale_var_in_header),
        T(test_campaign_sample_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
