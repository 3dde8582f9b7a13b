/* herald/campaign.h - the campaign model, loaded from YAML and validated.
 *
 * hd_campaign_load parses a campaign file and its locale files and reports
 * every problem it finds into a struct hd_diags as "file:line:col: message"
 * (unknown keys with a did-you-mean, wrong types, missing fields, bad dates,
 * durations, countries, languages, unknown modules, locale gaps). It returns
 * a campaign only when there was no error. docs/campaign-format.md is the
 * reference for the format.
 *
 * What rendering would refuse for every person is refused here, with the
 * same check (hd_text_problem, which hd_mime_build applies through
 * hd_text_clean): an email subject, a vars value a subject uses or an
 * objection link a subject carries that holds a line break, a control
 * character or bad UTF-8, at the offending character. A NUL ("\0") in any
 * string read is refused where it is; template errors point at the exact
 * character whatever the scalar's style (hd_ynode_locate).
 *
 * Relative paths in the file resolve against the campaign file's directory;
 * the campaign stores them resolved.
 *
 * Ownership: the campaign owns everything it points to, including the YAML
 * documents (channel settings stay as YAML nodes so a module can report its
 * own errors with file:line). hd_campaign_free(NULL) is a no-op. A loaded
 * campaign is immutable: safe to read from several threads.
 */
#ifndef HERALD_CAMPAIGN_H
#define HERALD_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "herald/audience.h"
#include "herald/channel_type.h"
#include "herald/err.h"
#include "herald/tmpl.h"
#include "herald/yaml.h"

#define HD_MAX_CHANNELS 8
#define HD_ID_MAX 64

struct hd_channel_conf {
    char *name; /* key under channels:, [a-z0-9_-], at most 32 bytes */
    enum hd_channel_type type;
    char *module;                    /* module name, e.g. "file", "smtp", "http-push" */
    const struct hd_ynode *settings; /* the channel's mapping, for the module */
    char *from_name, *from_addr; /* email channels: the From header ("from:"), name may be NULL */
    double rate;                 /* messages/s, 0 = unlimited */
    unsigned concurrency;        /* messages in flight, >= 1 */
    unsigned long line, col;
};

struct hd_wave {
    char *name;
    char (*countries)[3]; /* ISO codes; empty means any */
    size_t ncountries;
    char **languages; /* canonical tags; empty means any */
    size_t nlanguages;
    time_t not_before; /* 0 = immediately */
    unsigned long line, col;
};

enum hd_objection_action { HD_OBJECTION_SKIP, HD_OBJECTION_VARIANT };

/* The texts of one language, compiled. Email templates are NULL when no
 * email channel exists, push templates when no push channel exists, variant
 * templates unless objections.action is variant. */
enum hd_text {
    HD_TEXT_EMAIL_SUBJECT,
    HD_TEXT_EMAIL_TEXT,
    HD_TEXT_EMAIL_HTML,
    HD_TEXT_PUSH_TITLE,
    HD_TEXT_PUSH_BODY,
    HD_TEXT_COUNT
};

struct hd_locale {
    char tag[16]; /* canonical BCP 47 */
    char *file;   /* path of the locale file */
    struct hd_tmpl *text[HD_TEXT_COUNT];
    struct hd_tmpl *variant[HD_TEXT_COUNT]; /* for people who already objected */
    /* This language's values of the campaign's vars (the locale file's
     * vars:), indexed like hd_campaign.var_names; NULL where the campaign's
     * value applies. A locale may only set vars the campaign declares, so
     * every language has a value for each. */
    char **vars;
};

/* How the language used for a person was chosen. */
enum hd_lang_source {
    HD_LANG_EXACT,   /* the person's own tag */
    HD_LANG_PARENT,  /* a less specific form of it (pt-BR -> pt) */
    HD_LANG_COUNTRY, /* the country's main or an official language */
    HD_LANG_DEFAULT, /* the campaign's default language */
};

/* Where the pseudonym key comes from when proofs: names no source. */
#define HD_PSEUDONYM_KEY_ENV_DEFAULT "HERALD_PSEUDONYM_KEY"
#define HD_PSEUDONYM_KEY_FILE_DEFAULT "pseudonym.key" /* beside the campaign file */

struct hd_campaign {
    char *path, *dir;
    char *id; /* [A-Za-z0-9._-], at most HD_ID_MAX */
    char *description;
    int ref_year, ref_month, ref_day; /* reference date for ages */

    /* audience */
    char *audience_path;
    enum hd_audience_format audience_format;
    char *columns[HD_F_COUNT];   /* NULL = the field's own name */
    char audience_delimiter;     /* CSV separator from audience.delimiter; 0 = detect */
    unsigned region_groups;      /* enum hd_region_group bits */
    char (*region_countries)[3]; /* extra ISO codes in scope */
    size_t nregion_countries;
    int minimum_age;       /* 0 = no age rule */
    char *objections_path; /* NULL when none: one person id per line */
    enum hd_objection_action objection_action;

    /* objection link */
    char *link_url;         /* template with {{token}} and {{person}} */
    char *link_secret_env;  /* environment variable name, or NULL */
    char *link_secret_file; /* key file path, or NULL */

    /* delivery proofs (proofs:, docs/proofs.md): on unless proofs.enabled is
     * false (with a reason); without a key source, the defaults below */
    bool proofs;
    char *pseudonym_key_env;  /* environment variable name, or NULL */
    char *pseudonym_key_file; /* key file path, or NULL */
    char *proof_key_id;       /* the pseudonym key's id in each record; NULL: derived */

    /* state.dir resolved against the campaign's folder, or NULL (herald/statedir.h) */
    char *state_dir;

    /* locales */
    char *locales_dir;
    char default_lang[16];
    char (*strict_countries)[3]; /* countries that forbid fallback */
    size_t nstrict_countries;
    struct hd_locale *locales;
    size_t nlocales;
    /* template variables from vars:, name -> value (besides the built-ins) */
    char **var_names, **var_values;
    size_t nvars;

    struct hd_channel_conf channels[HD_MAX_CHANNELS];
    size_t nchannels;

    struct hd_wave *waves;
    size_t nwaves;

    /* send window in the recipient's local time, minutes after midnight;
     * start == end means always */
    int window_start, window_end;

    /* retry policy */
    unsigned retry_max_attempts;
    unsigned retry_initial_s, retry_max_s;
    double canary_failure_rate; /* 0 = off */
    unsigned canary_window;     /* deliveries in the sliding window */

    /* Content hash of the snapshot: campaign file + every locale file. */
    unsigned char snapshot_sha256[32];

    /* private */
    const char **all_vars; /* hd_builtin_vars then var_names, NULL-terminated */
    struct hd_ydoc *doc;
    struct hd_ydoc **locale_docs;
    size_t nlocale_docs;
};

/* Template variables every locale may use. Rendering fills them per person. */
extern const char *const hd_builtin_vars[]; /* NULL-terminated: "name",
    "objection_url", "person_id", "campaign_id", "country", "country_name",
    "language" */

struct hd_campaign_opts {
    /* Returns true when a channel module of that name exists. NULL accepts any. */
    bool (*module_known)(const char *name, void *ctx);
    void *module_ctx;
    const char *const *module_names; /* for did-you-mean; may be NULL */
};

/* Loads path. Every problem goes to diags; returns NULL when any was an
 * error. Does not read the audience or the link secret. */
struct hd_campaign *hd_campaign_load(const char *path, const struct hd_campaign_opts *opts,
                                     struct hd_diags *diags);
void hd_campaign_free(struct hd_campaign *c);

const struct hd_channel_conf *hd_campaign_channel(const struct hd_campaign *c, const char *name);

/* True when the country is in the campaign's regions. */
bool hd_campaign_in_region(const struct hd_campaign *c, const struct hd_country *country);
bool hd_campaign_strict_country(const struct hd_campaign *c, const char code[2]);

/* Picks the locale for a person: their tag, its parents, the country's
 * languages, then the default (never past the country's languages for a
 * strict country). Returns NULL only when nothing fits (impossible once
 * validation passed, unless the country is strict). */
const struct hd_locale *hd_campaign_locale_for(const struct hd_campaign *c, const char *lang,
                                               const struct hd_country *country,
                                               enum hd_lang_source *source);

/* The campaign's locale tags, space-separated ("de en no"), as
 * hd_lang_macro_map and hd_check_opts.locales take them: a new string (free
 * it), NULL without memory. */
char *hd_campaign_locale_tags(const struct hd_campaign *c);

/* The built-in and campaign variables in compile order, NULL-terminated. */
const char *const *hd_campaign_var_names(const struct hd_campaign *c);

#endif
