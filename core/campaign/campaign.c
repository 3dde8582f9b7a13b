/* Loading and validating a campaign file and its locale files.
 *
 * Validation never stops at the first problem: every check reports into the
 * diagnostics and loading goes on with a safe default, so a comms team sees
 * every mistake in one run. Only a file that cannot be parsed at all cuts
 * its own checks short. */
#include "herald/campaign.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "herald/link.h"
#include "herald/region.h"
#include "herald/str.h"
#include "herald/suggest.h"

const char *const hd_builtin_vars[] = {"name",    "objection_url", "person_id", "campaign_id",
                                       "country", "country_name",  "language",  NULL};

#define MAX_VARS 64

struct ctx {
    struct hd_campaign *c;
    struct hd_diags *d;
    const struct hd_campaign_opts *opts;
    /* Where each campaign var's value is written (var_names order), and
     * whether its unfitness for a mail header was reported already. */
    const struct hd_ynode *var_nodes[MAX_VARS];
    bool var_reported[MAX_VARS];
    /* the same for the locale file being loaded: its vars: values */
    const struct hd_ynode *loc_var_nodes[MAX_VARS];
    bool loc_var_reported[MAX_VARS];
    const struct hd_ynode *link_node; /* objection_link.url */
    bool link_reported;
    bool oom; /* an allocation failed: reported once, the load stops */
};

/* ---- small helpers ------------------------------------------------------- */

static void err_at(struct ctx *x, const struct hd_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_at(struct ctx *x, const struct hd_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hd_diags_vadd(x->d, HD_EX_DATAERR, n ? n->file : x->c->path, n ? n->line : 0, n ? n->col : 0,
                  fmt, ap);
    va_end(ap);
}

/* An error at byte `at` of scalar n's string (hd_ynode_locate). */
static void err_in(struct ctx *x, const struct hd_ynode *n, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_in(struct ctx *x, const struct hd_ynode *n, size_t at, const char *fmt, ...)
{
    unsigned long line, col;
    va_list ap;
    hd_ynode_locate(n, at, &line, &col);
    va_start(ap, fmt);
    hd_diags_vadd(x->d, HD_EX_DATAERR, n->file, line, col, fmt, ap);
    va_end(ap);
}

static void warn_at(struct ctx *x, const struct hd_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(struct ctx *x, const struct hd_ynode *n, const char *fmt, ...)
{
    char msg[HD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int code = x->d->code;
    hd_diags_add(x->d, 0, n ? n->file : x->c->path, n ? n->line : 0, n ? n->col : 0, "warning: %s",
                 msg);
    x->d->code = code; /* warnings never decide the exit status */
}

/* Out of memory (herald/str.h's policy): one HD_EX_SOFTWARE diagnostic, and
 * hd_campaign_load stops after the current section. */
static void nomem(struct ctx *x)
{
    if (!x->oom)
        hd_diags_add(x->d, HD_EX_SOFTWARE, x->c->path, 0, 0, "out of memory loading the campaign");
    x->oom = true;
}

static char *dup_str(struct ctx *x, const char *s)
{
    char *p = hd_strdup(s, NULL);
    if (p == NULL)
        nomem(x);
    return p;
}

/* Reports keys of map that are not in known, with a suggestion. */
static void check_keys(struct ctx *x, const struct hd_ynode *map, const char *const *known,
                       const char *section)
{
    if (map == NULL || map->kind != HD_YMAP)
        return;
    for (size_t i = 0; i < map->count; i++) {
        const char *k = map->keys[i]->str;
        bool ok = false;
        for (size_t j = 0; known[j] && !ok; j++)
            ok = strcmp(k, known[j]) == 0;
        if (ok)
            continue;
        const char *s = hd_suggest(k, known);
        if (s)
            err_at(x, map->keys[i], "unknown key \"%s\" in %s (did you mean \"%s\"?)", k, section,
                   s);
        else
            err_at(x, map->keys[i], "unknown key \"%s\" in %s", k, section);
    }
}

static const struct hd_ynode *need(struct ctx *x, const struct hd_ynode *map, const char *key,
                                   const char *section, bool required)
{
    const struct hd_ynode *n = hd_ymap_get(map, key);
    if (n == NULL && required && map != NULL && map->kind == HD_YMAP)
        err_at(x, map, "missing required field \"%s\" in %s", key, section);
    return n;
}

static const struct hd_ynode *want_map(struct ctx *x, const struct hd_ynode *n, const char *what)
{
    if (n == NULL)
        return NULL;
    if (n->kind != HD_YMAP) {
        err_at(x, n, "%s must be a mapping, not %s", what, hd_ynode_kind_name(n));
        return NULL;
    }
    return n;
}

/* A scalar string value; NULL (and an error) for lists, maps and nulls. */
static const char *want_str(struct ctx *x, const struct hd_ynode *n, const char *what)
{
    if (n == NULL)
        return NULL;
    if (n->kind != HD_YSCALAR || hd_ynode_is_null(n)) {
        err_at(x, n, "%s must be a string, not %s", what, hd_ynode_kind_name(n));
        return NULL;
    }
    /* A "\0" escape: the string would silently end there. */
    size_t nul = strlen(n->str);
    if (nul != n->len) {
        err_in(x, n, nul, "%s must not hold a NUL character (\\0)", what);
        return NULL;
    }
    return n->str;
}

static bool want_int(struct ctx *x, const struct hd_ynode *n, const char *what, long lo, long hi,
                     long *out)
{
    const char *s = want_str(x, n, what);
    char *end;
    long v;
    if (s == NULL)
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (n->quoted || *s == '\0' || *end != '\0' || errno != 0) {
        err_at(x, n, "%s must be a whole number, not \"%s\"", what, s);
        return false;
    }
    if (v < lo || v > hi) {
        err_at(x, n, "%s must be between %ld and %ld, not %ld", what, lo, hi, v);
        return false;
    }
    *out = v;
    return true;
}

static bool want_number(struct ctx *x, const struct hd_ynode *n, const char *what, double lo,
                        double hi, double *out)
{
    const char *s = want_str(x, n, what);
    char *end;
    double v;
    if (s == NULL)
        return false;
    v = strtod(s, &end);
    if (n->quoted || *s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
        err_at(x, n, "%s must be a number from %g to %g, not \"%s\"", what, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static bool parse_date(const char *s, int *y, int *m, int *d)
{
    int n = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", y, m, d, &n) != 3 || n != 10)
        return false;
    if (!isdigit((unsigned char)s[5]) || !isdigit((unsigned char)s[8]))
        return false;
    return *y >= 1900 && *y <= 2999 && *m >= 1 && *m <= 12 && *d >= 1 &&
           *d <= days_in_month(*y, *m);
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 timestamp with a Z or +hh:mm offset: "2025-06-26T08:00:00Z". */
static bool parse_timestamp(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    char date[11];
    if (strlen(s) < 20 || s[10] != 'T')
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!parse_date(date, &y, &mo, &d))
        return false;
    if (sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8 || h > 23 || mi > 59 ||
        sec > 60)
        return false;
    const char *z = s + 19;
    long offset = 0;
    if (strcmp(z, "Z") != 0) {
        int oh, om, k = 0;
        if ((z[0] != '+' && z[0] != '-') || sscanf(z + 1, "%2d:%2d%n", &oh, &om, &k) != 2 ||
            k != 5 || z[6] != '\0' || oh > 23 || om > 59)
            return false;
        offset = (z[0] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
    }
    *out = (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec - offset);
    return true;
}

/* "90s", "5m", "1h30m", "2d"; a bare number means seconds. */
static bool parse_duration(const char *s, unsigned long *out)
{
    unsigned long total = 0;
    if (*s == '\0')
        return false;
    while (*s) {
        char *end;
        unsigned long v, unit = 1;
        if (!isdigit((unsigned char)*s))
            return false;
        v = strtoul(s, &end, 10);
        switch (*end) {
        case 's':
            unit = 1;
            end++;
            break;
        case 'm':
            unit = 60;
            end++;
            break;
        case 'h':
            unit = 3600;
            end++;
            break;
        case 'd':
            unit = 86400;
            end++;
            break;
        case '\0':
            if (end == s || total != 0)
                return false;
            break;
        default:
            return false;
        }
        if (v > 365UL * 86400 / unit)
            return false;
        total += v * unit;
        if (total > 365UL * 86400)
            return false;
        s = end;
    }
    *out = total;
    return true;
}

static bool want_duration(struct ctx *x, const struct hd_ynode *n, const char *what,
                          unsigned long *out)
{
    const char *s = want_str(x, n, what);
    if (s == NULL)
        return false;
    if (!parse_duration(s, out)) {
        err_at(x, n, "%s: bad duration \"%s\" (write e.g. 30s, 5m, 1h30m, 2d)", what, s);
        return false;
    }
    return true;
}

/* "09:00" -> minutes after midnight; "24:00" allowed as an end. */
static bool parse_hhmm(const char *s, int *out)
{
    int h, m, n = 0;
    if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || s[5] != '\0' || m > 59 || h > 24 ||
        (h == 24 && m != 0) || s[2] != ':')
        return false;
    *out = h * 60 + m;
    return true;
}

/* "500/s", "30000/min", "1000/h" or a plain number of messages per second. */
static bool parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || v > 1e7)
        return false;
    if (*end == '\0' || strcmp(end, "/s") == 0)
        *out = v;
    else if (strcmp(end, "/min") == 0 || strcmp(end, "/m") == 0)
        *out = v / 60;
    else if (strcmp(end, "/h") == 0)
        *out = v / 3600;
    else
        return false;
    return true;
}

static bool valid_name(const char *s, size_t max, bool allow_upper_dot)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!(islower(ch) || isdigit(ch) || ch == '-' || ch == '_' ||
              (allow_upper_dot && (isupper(ch) || ch == '.'))))
            return false;
    }
    return true;
}

static char *resolve_path(struct ctx *x, const char *p)
{
    char *out = hd_path_resolve(x->c->dir, p, NULL);
    if (out == NULL)
        nomem(x);
    return out;
}

/* A list of ISO codes or region groups; group bits go to *groups when
 * allowed (groups != NULL). Returns the codes in a malloc'd array. */
static char (*want_countries(struct ctx *x, const struct hd_ynode *n, const char *what,
                             unsigned *groups, size_t *count))[3]
{
    char(*codes)[3] = NULL;
    *count = 0;
    if (n == NULL)
        return NULL;
    if (n->kind != HD_YSEQ) {
        err_at(x, n, "%s must be a list of country codes%s, not %s", what,
               groups ? " or groups (EU, EEA, UK)" : "", hd_ynode_kind_name(n));
        return NULL;
    }
    codes = calloc(n->count ? n->count : 1, sizeof *codes);
    if (codes == NULL) {
        nomem(x);
        return NULL;
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *s = want_str(x, n->items[i], what);
        unsigned g;
        const struct hd_country *co;
        if (s == NULL)
            continue;
        if (groups && (g = hd_region_group_parse(s)) != 0) {
            *groups |= g;
            continue;
        }
        co = hd_country_find(s, strlen(s));
        if (co == NULL) {
            err_at(x, n->items[i],
                   "unknown country \"%s\" in %s (use ISO 3166-1 alpha-2 codes "
                   "such as DE%s)",
                   s, what, groups ? ", or EU, EEA, UK" : "");
            continue;
        }
        memcpy(codes[*count], co->code, 3);
        (*count)++;
    }
    return codes;
}

/* The i-th country in the campaign's scope: the groups' countries, then the
 * ones audience.regions lists by code that no listed group covers (once
 * each). NULL past the end. */
static const struct hd_country *scope_country(const struct hd_campaign *c, size_t i)
{
    const struct hd_country *co;
    size_t k = 0;
    while ((co = hd_country_in_groups(c->region_groups, k)) != NULL) {
        if (k++ == i)
            return co;
    }
    i -= k;
    for (size_t j = 0; j < c->nregion_countries; j++) {
        bool seen = false;
        for (size_t m = 0; m < j && !seen; m++)
            seen = memcmp(c->region_countries[m], c->region_countries[j], 2) == 0;
        co = hd_country_find(c->region_countries[j], 2);
        if (seen || co == NULL || (co->groups & c->region_groups) != 0)
            continue;
        if (i-- == 0)
            return co;
    }
    return NULL;
}

/* ---- sections ------------------------------------------------------------ */

static void load_audience(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {"source",      "format",     "fields",    "regions",
                                       "minimum_age", "objections", "delimiter", NULL};
    static const char *const obj_keys[] = {"file", "action", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *a =
        want_map(x, need(x, root, "audience", "the campaign", true), "audience");
    const struct hd_ynode *n;
    const char *s;
    long v;

    if (a == NULL)
        return;
    check_keys(x, a, keys, "audience");
    if ((s = want_str(x, need(x, a, "source", "audience", true), "audience.source")) != NULL)
        c->audience_path = resolve_path(x, s);
    c->audience_format = HD_AUDIENCE_CSV;
    if ((n = hd_ymap_get(a, "format")) != NULL) {
        if ((s = want_str(x, n, "audience.format")) != NULL) {
            if (strcmp(s, "csv") == 0)
                c->audience_format = HD_AUDIENCE_CSV;
            else if (strcmp(s, "jsonl") == 0)
                c->audience_format = HD_AUDIENCE_JSONL;
            else
                err_at(x, n, "audience.format must be csv or jsonl, not \"%s\"", s);
        }
    } else if (s != NULL && strlen(s) > 6 && strcmp(s + strlen(s) - 6, ".jsonl") == 0) {
        c->audience_format = HD_AUDIENCE_JSONL;
    }
    if ((n = hd_ymap_get(a, "delimiter")) != NULL && (s = want_str(x, n, "audience.delimiter"))) {
        /* The separators spreadsheets and exports write; "tab" because a
         * TAB is invisible in YAML ("\t" in double quotes works too). */
        if (strcmp(s, ",") == 0 || strcmp(s, ";") == 0 || strcmp(s, "|") == 0 ||
            strcmp(s, "\t") == 0)
            c->audience_delimiter = s[0];
        else if (strcmp(s, "tab") == 0)
            c->audience_delimiter = '\t';
        else
            err_at(x, n, "audience.delimiter must be \",\", \";\", \"|\" or tab, not \"%s\"", s);
        if (c->audience_format != HD_AUDIENCE_CSV)
            err_at(x, n, "audience.delimiter applies to CSV only; remove it for a jsonl audience");
    }
    if ((n = want_map(x, hd_ymap_get(a, "fields"), "audience.fields")) != NULL) {
        /* hd_field_names has HD_F_COUNT entries and no NULL at the end */
        const char *field_keys[HD_F_COUNT + 1] = {NULL};
        memcpy(field_keys, hd_field_names, sizeof hd_field_names);
        check_keys(x, n, field_keys, "audience.fields");
        for (int f = 0; f < HD_F_COUNT; f++) {
            const struct hd_ynode *col = hd_ymap_get(n, hd_field_names[f]);
            if (col && (s = want_str(x, col, "a field mapping")) != NULL)
                c->columns[f] = dup_str(x, s);
        }
    }
    n = need(x, a, "regions", "audience", true);
    free(c->region_countries);
    c->region_countries =
        want_countries(x, n, "audience.regions", &c->region_groups, &c->nregion_countries);
    if (n && n->kind == HD_YSEQ && n->count == 0)
        err_at(x, n, "audience.regions is empty: name the countries or groups in scope");
    if ((n = hd_ymap_get(a, "minimum_age")) != NULL &&
        want_int(x, n, "audience.minimum_age", 0, 120, &v))
        c->minimum_age = (int)v;
    if ((n = want_map(x, hd_ymap_get(a, "objections"), "audience.objections")) != NULL) {
        check_keys(x, n, obj_keys, "audience.objections");
        if ((s = want_str(x, need(x, n, "file", "audience.objections", true),
                          "audience.objections.file")) != NULL)
            c->objections_path = resolve_path(x, s);
        const struct hd_ynode *act = hd_ymap_get(n, "action");
        c->objection_action = HD_OBJECTION_SKIP;
        if (act && (s = want_str(x, act, "audience.objections.action")) != NULL) {
            if (strcmp(s, "variant") == 0)
                c->objection_action = HD_OBJECTION_VARIANT;
            else if (strcmp(s, "skip") != 0)
                err_at(x, act, "audience.objections.action must be skip or variant, not \"%s\"", s);
        }
    }
}

static void load_link(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {"url", "secret_env", "secret_file", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *l =
        want_map(x, need(x, root, "objection_link", "the campaign", true), "objection_link");
    const struct hd_ynode *n;
    const char *s;
    struct hd_err e = {0};

    if (l == NULL)
        return;
    check_keys(x, l, keys, "objection_link");
    n = need(x, l, "url", "objection_link", true);
    if ((s = want_str(x, n, "objection_link.url")) != NULL) {
        if (hd_link_template_check(s, &e) != 0)
            err_at(x, n, "%s", e.msg);
        c->link_url = dup_str(x, s);
        x->link_node = n;
    }
    if ((n = hd_ymap_get(l, "secret_env")) && (s = want_str(x, n, "objection_link.secret_env"))) {
        bool ok = *s != '\0';
        for (const char *p = s; *p; p++)
            ok = ok && (isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
        if (!ok)
            err_at(x, n,
                   "objection_link.secret_env must name an environment variable "
                   "(A-Z, 0-9, _), not \"%s\"; the secret itself never goes in the campaign",
                   s);
        c->link_secret_env = dup_str(x, s);
    }
    if ((n = hd_ymap_get(l, "secret_file")) && (s = want_str(x, n, "objection_link.secret_file")))
        c->link_secret_file = resolve_path(x, s);
    if (!c->link_secret_env && !c->link_secret_file)
        err_at(x, l,
               "objection_link needs secret_env or secret_file: where the link secret "
               "comes from (never the secret itself)");
}

/* proofs: on unless the campaign turns them off with a reason (issue 12: a
 * campaign written from the docs kept no evidence). The section says where
 * the pseudonym key comes from (never the key itself); without it, or
 * without a key source, $HERALD_PSEUDONYM_KEY or pseudonym.key beside the
 * campaign file. */
static void load_proofs(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {
        "enabled", "reason", "pseudonym_key_env", "pseudonym_key_file", "key_id", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *sec = hd_ymap_get(root, "proofs"), *l, *n;
    const char *s;

    c->proofs = true;
    if (sec && sec->kind == HD_YSCALAR && !hd_ynode_is_null(sec)) {
        err_at(x, sec,
               "proofs cannot be turned off without a reason: write proofs: {enabled: false, "
               "reason: \"why no evidence of who was told is kept\"} (docs/campaign-format.md)");
        return;
    }
    l = sec ? want_map(x, sec, "proofs") : NULL;
    if (l) {
        check_keys(x, l, keys, "proofs");
        if ((n = hd_ymap_get(l, "enabled")) && (s = want_str(x, n, "proofs.enabled"))) {
            if (strcmp(s, "false") == 0) {
                const struct hd_ynode *r = hd_ymap_get(l, "reason");
                const char *why = r ? want_str(x, r, "proofs.reason") : NULL;
                size_t k = 0;
                while (why && isspace((unsigned char)why[k]))
                    k++;
                if (why == NULL || why[k] == '\0') {
                    if (r == NULL || why != NULL)
                        err_at(x, r ? r : n,
                               "proofs.enabled: false needs a reason (proofs.reason: \"...\"): "
                               "without proofs there is no evidence of who was told");
                    return;
                }
                c->proofs = false;
                warn_at(x, n,
                        "proofs are off (reason: %.200s): this campaign keeps no proof records, "
                        "no evidence of who was told",
                        why);
                return;
            }
            if (strcmp(s, "true") != 0)
                err_at(x, n, "proofs.enabled must be true or false");
        }
        if (hd_ymap_get(l, "reason") && !hd_ymap_get(l, "enabled"))
            err_at(x, hd_ymap_get(l, "reason"),
                   "proofs.reason is the reason proofs are off: add enabled: false, or remove it");
        if ((n = hd_ymap_get(l, "pseudonym_key_env")) &&
            (s = want_str(x, n, "proofs.pseudonym_key_env"))) {
            bool ok = *s != '\0';
            for (const char *p = s; *p; p++)
                ok = ok && (isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
            if (!ok)
                err_at(x, n,
                       "proofs.pseudonym_key_env must name an environment variable (A-Z, 0-9, "
                       "_), not \"%s\"; the key itself never goes in the campaign",
                       s);
            c->pseudonym_key_env = dup_str(x, s);
        }
        if ((n = hd_ymap_get(l, "pseudonym_key_file")) &&
            (s = want_str(x, n, "proofs.pseudonym_key_file")))
            c->pseudonym_key_file = resolve_path(x, s);
        if ((n = hd_ymap_get(l, "key_id")) && (s = want_str(x, n, "proofs.key_id"))) {
            if (!valid_name(s, 32, true))
                err_at(x, n, "bad proofs.key_id \"%s\" (use A-Z, a-z, 0-9, ., - and _, at most 32)",
                       s);
            c->proof_key_id = dup_str(x, s);
        }
    }
    if (!c->pseudonym_key_env && !c->pseudonym_key_file) {
        c->pseudonym_key_env = dup_str(x, HD_PSEUDONYM_KEY_ENV_DEFAULT);
        c->pseudonym_key_file = resolve_path(x, HD_PSEUDONYM_KEY_FILE_DEFAULT);
    }
}

/* state: where the store lives (herald/statedir.h); only dir for now. */
static void load_state(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {"dir", NULL};
    const struct hd_ynode *l = want_map(x, hd_ymap_get(root, "state"), "state");
    const struct hd_ynode *n;
    const char *s;

    if (l == NULL)
        return;
    check_keys(x, l, keys, "state");
    if ((n = hd_ymap_get(l, "dir")) && (s = want_str(x, n, "state.dir"))) {
        if (*s == '\0')
            err_at(x, n,
                   "state.dir is empty: name the state store's directory, or leave state: "
                   "out for <campaign folder>/herald-state/<id>");
        else
            x->c->state_dir = resolve_path(x, s);
    }
}

static void load_vars(struct ctx *x, const struct hd_ynode *root)
{
    struct hd_campaign *c = x->c;
    const struct hd_ynode *v = want_map(x, hd_ymap_get(root, "vars"), "vars");
    size_t nbuiltin = 0, count = v ? v->count : 0;

    while (hd_builtin_vars[nbuiltin])
        nbuiltin++;
    c->var_names = calloc(count + 1, sizeof *c->var_names);
    c->var_values = calloc(count + 1, sizeof *c->var_values);
    c->all_vars = calloc(nbuiltin + count + 1, sizeof *c->all_vars);
    if (!c->var_names || !c->var_values || !c->all_vars) {
        nomem(x);
        return;
    }
    memcpy(c->all_vars, hd_builtin_vars, nbuiltin * sizeof *c->all_vars);
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->count; i++) {
        char what[64];
        snprintf(what, sizeof what, "vars.%s", v->keys[i]->str);
        const char *k = v->keys[i]->str, *s = want_str(x, v->items[i], what);
        bool builtin = false;
        for (size_t j = 0; hd_builtin_vars[j]; j++)
            builtin = builtin || strcmp(k, hd_builtin_vars[j]) == 0;
        if (!valid_name(k, 32, false) || strchr(k, '-')) {
            err_at(x, v->keys[i], "bad variable name \"%s\" (use a-z, 0-9 and _)", k);
            continue;
        }
        if (builtin) {
            err_at(x, v->keys[i], "variable \"%s\" is built in and set per person", k);
            continue;
        }
        if (c->nvars + 1 >= MAX_VARS) {
            err_at(x, v->keys[i], "too many variables (at most %d)", MAX_VARS - 1);
            break;
        }
        /* A bad value is reported above; keep the name so the locales that
         * use it do not each report it as unknown. */
        x->var_nodes[c->nvars] = s ? v->items[i] : NULL;
        c->var_names[c->nvars] = dup_str(x, k);
        c->var_values[c->nvars] = dup_str(x, s ? s : "");
        c->all_vars[nbuiltin + c->nvars] = c->var_names[c->nvars];
        c->nvars++;
    }
}

static void load_locales_section(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {"dir", "default", "require_own_language", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *l =
        want_map(x, need(x, root, "locales", "the campaign", true), "locales");
    const struct hd_ynode *n;
    const char *s;
    if (l == NULL)
        return;
    check_keys(x, l, keys, "locales");
    if ((s = want_str(x, need(x, l, "dir", "locales", true), "locales.dir")) != NULL)
        c->locales_dir = resolve_path(x, s);
    n = need(x, l, "default", "locales", true);
    if ((s = want_str(x, n, "locales.default")) != NULL &&
        hd_lang_canonical(s, strlen(s), c->default_lang, sizeof c->default_lang) == 0)
        err_at(x, n, "bad language tag \"%s\" in locales.default (use BCP 47, e.g. en or pt-BR)",
               s);
    c->strict_countries =
        want_countries(x, hd_ymap_get(l, "require_own_language"), "locales.require_own_language",
                       NULL, &c->nstrict_countries);
}

/* "Name <addr@domain>" or "addr@domain". The address must be one any relay
 * can carry (ASCII local part); the name becomes an RFC 2047 word later. */
static void parse_from(struct ctx *x, const struct hd_ynode *n, const char *s,
                       struct hd_channel_conf *cc)
{
    const char *lt = strrchr(s, '<'), *why = NULL;
    char addr[320];
    size_t len;
    if (!hd_text_clean(s, strlen(s))) {
        err_at(x, n, "channel from has a control character or bad UTF-8");
        return;
    }
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (gt == NULL || gt[1] != '\0') {
            err_at(x, n, "bad from \"%s\" (write Name <address@domain>)", s);
            return;
        }
        len = (size_t)(gt - lt - 1);
        const char *ne = lt;
        while (ne > s && ne[-1] == ' ')
            ne--;
        const char *ns = s;
        if (*ns == '"' && ne > ns + 1 && ne[-1] == '"') {
            ns++;
            ne--;
        }
        if (ne > ns)
            if ((cc->from_name = hd_strndup(ns, (size_t)(ne - ns), NULL)) == NULL)
                nomem(x);
        s = lt + 1;
    } else {
        len = strlen(s);
    }
    if (len >= sizeof addr) {
        err_at(x, n, "from address too long");
        return;
    }
    memcpy(addr, s, len);
    addr[len] = '\0';
    if (hd_email_check(addr, len, NULL, 0, &why) != HD_EMAIL_OK)
        err_at(x, n, "bad from address \"%s\"%s%s", addr, why ? ": " : "", why ? why : "");
    cc->from_addr = dup_str(x, addr);
}

static void load_channels(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {"type",        "module",   "from", "rate",
                                       "concurrency", "settings", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *ch =
        want_map(x, need(x, root, "channels", "the campaign", true), "channels");
    if (ch == NULL)
        return;
    if (ch->count == 0)
        err_at(x, ch, "channels is empty: name at least one channel");
    for (size_t i = 0; i < ch->count; i++) {
        const struct hd_ynode *name = ch->keys[i], *m = want_map(x, ch->items[i], "a channel");
        const struct hd_ynode *n;
        const char *s;
        if (c->nchannels == HD_MAX_CHANNELS) {
            err_at(x, name, "too many channels (at most %d)", HD_MAX_CHANNELS);
            break;
        }
        if (!valid_name(name->str, 32, false)) {
            err_at(x, name, "bad channel name \"%s\" (use a-z, 0-9, - and _, at most 32)",
                   name->str);
            continue;
        }
        if (m == NULL)
            continue;
        struct hd_channel_conf *cc = &c->channels[c->nchannels++];
        cc->name = dup_str(x, name->str);
        cc->line = name->line;
        cc->col = name->col;
        cc->concurrency = 1;
        check_keys(x, m, keys, "a channel");
        n = need(x, m, "type", "a channel", true);
        if ((s = want_str(x, n, "channel type")) != NULL) {
            if (strcmp(s, "email") == 0)
                cc->type = HD_CHANNEL_EMAIL;
            else if (strcmp(s, "push") == 0)
                cc->type = HD_CHANNEL_PUSH;
            else
                err_at(x, n, "channel type must be email or push, not \"%s\"", s);
        }
        n = need(x, m, "module", "a channel", true);
        /* A module named "null" must not read as YAML's null. */
        s = n && n->kind == HD_YSCALAR && strcmp(n->str, "null") == 0
                ? n->str
                : want_str(x, n, "channel module");
        if (s != NULL) {
            cc->module = dup_str(x, s);
            if (x->opts && x->opts->module_known &&
                !x->opts->module_known(s, x->opts->module_ctx)) {
                const char *sug = hd_suggest(s, x->opts->module_names);
                if (sug)
                    err_at(x, n, "unknown channel module \"%s\" (did you mean \"%s\"?)", s, sug);
                else
                    err_at(x, n, "unknown channel module \"%s\"", s);
            }
        }
        if ((n = hd_ymap_get(m, "rate")) != NULL && (s = want_str(x, n, "channel rate")) &&
            !parse_rate(s, &cc->rate))
            err_at(x, n, "bad rate \"%s\" (write e.g. 500/s, 20000/min or 100000/h)", s);
        long v;
        if ((n = hd_ymap_get(m, "concurrency")) != NULL &&
            want_int(x, n, "channel concurrency", 1, 4096, &v))
            cc->concurrency = (unsigned)v;
        cc->settings = want_map(x, hd_ymap_get(m, "settings"), "channel settings");
        n = hd_ymap_get(m, "from");
        if (cc->type == HD_CHANNEL_EMAIL && n == NULL)
            err_at(x, m,
                   "missing required field \"from\" in an email channel (e.g. from: "
                   "\"Lumen Privacy <privacy@lumen.example>\")");
        if (n && (s = want_str(x, n, "channel from")) != NULL)
            parse_from(x, n, s, cc);
    }
}

struct wave_name {
    const char *name;
    const struct hd_ynode *node;
    size_t index; /* in the file, so each later copy is the one reported */
};

static int cmp_wave_name(const void *a, const void *b)
{
    const struct wave_name *p = a, *q = b;
    int r = strcmp(p->name, q->name);
    return r != 0 ? r : (p->index > q->index) - (p->index < q->index);
}

static void load_waves(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const keys[] = {"name", "countries", "languages", "not_before", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *w = hd_ymap_get(root, "waves");
    if (w == NULL)
        return;
    if (w->kind != HD_YSEQ) {
        err_at(x, w, "waves must be a list, not %s", hd_ynode_kind_name(w));
        return;
    }
    c->waves = calloc(w->count ? w->count : 1, sizeof *c->waves);
    /* Names with their nodes, sorted afterwards to find duplicates in
     * n log n: a file may hold tens of thousands of waves. */
    struct wave_name *names = calloc(w->count ? w->count : 1, sizeof *names);
    size_t nnames = 0;
    if (c->waves == NULL || names == NULL) {
        free(names);
        nomem(x);
        return;
    }
    for (size_t i = 0; i < w->count; i++) {
        const struct hd_ynode *m = want_map(x, w->items[i], "a wave"), *n;
        const char *s;
        if (m == NULL)
            continue;
        struct hd_wave *wv = &c->waves[c->nwaves++];
        wv->line = m->line;
        wv->col = m->col;
        check_keys(x, m, keys, "a wave");
        n = need(x, m, "name", "a wave", true);
        if ((s = want_str(x, n, "wave name")) != NULL) {
            if (!valid_name(s, 32, false))
                err_at(x, n, "bad wave name \"%s\" (use a-z, 0-9, - and _)", s);
            if ((wv->name = dup_str(x, s)) == NULL)
                break;
            names[nnames].name = wv->name;
            names[nnames].node = n;
            names[nnames].index = nnames;
            nnames++;
        }
        n = hd_ymap_get(m, "countries");
        wv->countries = want_countries(x, n, "wave countries", NULL, &wv->ncountries);
        for (size_t j = 0; wv->countries && j < n->count; j++) {
            const struct hd_ynode *it = n->items[j];
            const struct hd_country *co =
                it->kind == HD_YSCALAR ? hd_country_find(it->str, it->len) : NULL;
            if (co && !hd_campaign_in_region(c, co))
                err_at(x, it, "wave \"%s\" names %s, which is outside audience.regions",
                       wv->name ? wv->name : "?", co->code);
        }
        if ((n = hd_ymap_get(m, "languages")) != NULL) {
            if (n->kind != HD_YSEQ) {
                err_at(x, n, "wave languages must be a list of language tags");
            } else {
                wv->languages = calloc(n->count + 1, sizeof *wv->languages);
                if (wv->languages == NULL) {
                    nomem(x);
                    break;
                }
                for (size_t j = 0; j < n->count; j++) {
                    char tag[16];
                    if ((s = want_str(x, n->items[j], "a language")) == NULL)
                        continue;
                    if (hd_lang_canonical(s, strlen(s), tag, sizeof tag) == 0) {
                        err_at(x, n->items[j], "bad language tag \"%s\" (use BCP 47, e.g. de)", s);
                        continue;
                    }
                    if ((wv->languages[wv->nlanguages] = dup_str(x, tag)) != NULL)
                        wv->nlanguages++;
                }
            }
        }
        if ((n = hd_ymap_get(m, "not_before")) != NULL &&
            (s = want_str(x, n, "wave not_before")) != NULL && !parse_timestamp(s, &wv->not_before))
            err_at(x, n,
                   "bad time \"%s\" (write RFC 3339, e.g. 2025-06-26T08:00:00Z or "
                   "2025-06-26T10:00:00+02:00)",
                   s);
    }
    if (nnames > 1)
        qsort(names, nnames, sizeof *names, cmp_wave_name);
    for (size_t i = 1; i < nnames; i++)
        if (strcmp(names[i].name, names[i - 1].name) == 0)
            err_at(x, names[i].node, "duplicate wave name \"%s\"", names[i].name);
    free(names);
    /* A person lands in the first wave that matches; say which in-scope
     * countries no wave can reach, since nobody there would be notified. */
    if (c->nwaves > 0) {
        char missing[512] = "";
        size_t nmissing = 0;
        const struct hd_country *co;
        for (size_t i = 0; (co = scope_country(c, i)) != NULL; i++) {
            bool covered = false;
            for (size_t k = 0; k < c->nwaves && !covered; k++) {
                const struct hd_wave *wv = &c->waves[k];
                if (wv->ncountries == 0)
                    covered = true;
                for (size_t j = 0; j < wv->ncountries && !covered; j++)
                    covered = memcmp(wv->countries[j], co->code, 2) == 0;
            }
            if (!covered && nmissing++ < 40) {
                strncat(missing, " ", sizeof missing - strlen(missing) - 1);
                strncat(missing, co->code, sizeof missing - strlen(missing) - 1);
            }
        }
        if (nmissing)
            warn_at(x, w, "no wave covers %zu %s in scope, so nobody there will be notified:%s",
                    nmissing, nmissing == 1 ? "country" : "countries", missing);
    }
}

static void load_policy(struct ctx *x, const struct hd_ynode *root)
{
    static const char *const win_keys[] = {"start", "end", NULL};
    static const char *const retry_keys[] = {"max_attempts", "initial_backoff", "max_backoff",
                                             NULL};
    static const char *const canary_keys[] = {"failure_rate", "window", NULL};
    struct hd_campaign *c = x->c;
    const struct hd_ynode *m, *n;
    const char *s;
    unsigned long dur;
    long v;

    c->retry_max_attempts = 5;
    c->retry_initial_s = 60;
    c->retry_max_s = 3600;
    if ((m = want_map(x, hd_ymap_get(root, "send_window"), "send_window")) != NULL) {
        check_keys(x, m, win_keys, "send_window");
        n = need(x, m, "start", "send_window", true);
        if ((s = want_str(x, n, "send_window.start")) && !parse_hhmm(s, &c->window_start))
            err_at(x, n, "bad time of day \"%s\" (write HH:MM, e.g. 09:00)", s);
        n = need(x, m, "end", "send_window", true);
        if ((s = want_str(x, n, "send_window.end")) && !parse_hhmm(s, &c->window_end))
            err_at(x, n, "bad time of day \"%s\" (write HH:MM, e.g. 20:00)", s);
    }
    if ((m = want_map(x, hd_ymap_get(root, "retry"), "retry")) != NULL) {
        check_keys(x, m, retry_keys, "retry");
        if ((n = hd_ymap_get(m, "max_attempts")) &&
            want_int(x, n, "retry.max_attempts", 1, 100, &v))
            c->retry_max_attempts = (unsigned)v;
        if ((n = hd_ymap_get(m, "initial_backoff")) &&
            want_duration(x, n, "retry.initial_backoff", &dur))
            c->retry_initial_s = (unsigned)dur;
        if ((n = hd_ymap_get(m, "max_backoff")) && want_duration(x, n, "retry.max_backoff", &dur))
            c->retry_max_s = (unsigned)dur;
        if (c->retry_max_s < c->retry_initial_s)
            err_at(x, m, "retry.max_backoff is shorter than retry.initial_backoff");
    }
    if ((m = want_map(x, hd_ymap_get(root, "canary"), "canary")) != NULL) {
        check_keys(x, m, canary_keys, "canary");
        double r;
        if ((n = need(x, m, "failure_rate", "canary", true)) &&
            want_number(x, n, "canary.failure_rate", 0.0001, 1, &r))
            c->canary_failure_rate = r;
        c->canary_window = 200;
        if ((n = hd_ymap_get(m, "window")) && want_int(x, n, "canary.window", 10, 1000000, &v))
            c->canary_window = (unsigned)v;
    }
}

/* ---- locales ------------------------------------------------------------- */

static const char *const text_keys[HD_TEXT_COUNT] = {"subject", "text", "html", "title", "body"};

static bool text_needs_link(enum hd_text t)
{
    return t == HD_TEXT_EMAIL_TEXT || t == HD_TEXT_EMAIL_HTML || t == HD_TEXT_PUSH_BODY;
}

static bool campaign_has_type(const struct hd_campaign *c, enum hd_channel_type type)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (c->channels[i].type == type)
            return true;
    return false;
}

static void locate_in_node(const void *node, size_t at, unsigned long *line, unsigned long *col)
{
    hd_ynode_locate(node, at, line, col);
}

/* The subject goes into a mail header, where hd_mime_build refuses line
 * breaks, control characters and bad UTF-8 (hd_text_clean): refuse here,
 * with the same check, what every render would refuse later. The subject's
 * own text, then each campaign var it uses (reported once, at its value),
 * then the objection link it may carry. */
static void check_header_text(struct ctx *x, const struct hd_ynode *n, const struct hd_tmpl *t,
                              const char *what)
{
    struct hd_campaign *c = x->c;
    size_t at;
    const char *why = hd_text_problem(n->str, n->len, &at);
    if (why != NULL) {
        err_in(x, n, at,
               "%s has a %s here, which a mail header cannot hold (write it on one line, "
               "without tabs or control characters)",
               what, n->str[at] == '\n' || n->str[at] == '\r' ? "line break" : why);
        return;
    }
    for (size_t v = 0; v < c->nvars; v++) {
        /* the value this language renders: its own, else the campaign's */
        bool own = x->loc_var_nodes[v] != NULL;
        const struct hd_ynode *vn = own ? x->loc_var_nodes[v] : x->var_nodes[v];
        bool *reported = own ? &x->loc_var_reported[v] : &x->var_reported[v];
        if (vn == NULL || *reported || !hd_tmpl_uses(t, c->var_names[v]))
            continue;
        if ((why = hd_text_problem(vn->str, vn->len, &at)) == NULL)
            continue;
        *reported = true;
        err_in(x, vn, at,
               "vars.%s has a %s here, but it is used in %s (%s:%lu:%lu), a mail header, which "
               "cannot hold it",
               c->var_names[v], vn->str[at] == '\n' || vn->str[at] == '\r' ? "line break" : why,
               what, n->file, n->line, n->col);
    }
    const struct hd_ynode *ln = x->link_node;
    if (ln != NULL && !x->link_reported && hd_tmpl_uses(t, "objection_url") &&
        (why = hd_text_problem(ln->str, ln->len, &at)) != NULL) {
        x->link_reported = true;
        err_in(x, ln, at,
               "objection_link.url has a %s here, but the link is used in %s, a mail "
               "header, which cannot hold it",
               why, what);
    }
}

static void compile_group(struct ctx *x, struct hd_locale *loc, const struct hd_ynode *parent,
                          const char *group, enum hd_text first, enum hd_text last,
                          struct hd_tmpl **out, const char *where)
{
    static const char *const email_keys[] = {"subject", "text", "html", NULL};
    static const char *const push_keys[] = {"title", "body", NULL};
    const char *const *vars = hd_campaign_var_names(x->c);
    char section[64];
    snprintf(section, sizeof section, "%s%s", where, group);
    const struct hd_ynode *m =
        want_map(x, need(x, parent, group, where[0] ? "variant" : "a locale", true), section);
    if (m == NULL)
        return;
    check_keys(x, m, first == HD_TEXT_EMAIL_SUBJECT ? email_keys : push_keys, section);
    for (int t = (int)first; t <= (int)last; t++) {
        const struct hd_ynode *n = need(x, m, text_keys[t], section, true);
        char what[80];
        snprintf(what, sizeof what, "%s.%s", section, text_keys[t]);
        const char *s = want_str(x, n, what);
        struct hd_err e = {0};
        if (s == NULL)
            continue;
        out[t] = hd_tmpl_compile_located(s, n->len,
                                         t == HD_TEXT_EMAIL_HTML ? HD_TMPL_HTML : HD_TMPL_TEXT,
                                         vars, n->file, locate_in_node, n, &e);
        if (out[t] == NULL) {
            hd_diags_add(x->d, HD_EX_DATAERR, NULL, 0, 0, "%s", e.msg);
            continue;
        }
        if (t == HD_TEXT_EMAIL_SUBJECT)
            check_header_text(x, n, out[t], what);
        if (text_needs_link((enum hd_text)t) && !hd_tmpl_uses(out[t], "objection_url"))
            err_at(x, n,
                   "%s.%s lacks {{objection_url}}: every notice must carry the person's "
                   "objection link",
                   section, text_keys[t]);
        if (t == HD_TEXT_PUSH_TITLE && strchr(s, '\n'))
            err_at(x, n, "%s.%s must be a single line", section, text_keys[t]);
    }
    (void)loc;
}

/* A locale's vars: this language's values of vars the campaign declares
 * (dates and names written in the language); the campaign's vars: are the
 * default. A name the campaign does not declare is refused with a
 * suggestion: a typo would otherwise leave the default in place unnoticed. */
static void load_locale_vars(struct ctx *x, struct hd_locale *loc, const struct hd_ynode *node)
{
    const struct hd_campaign *c = x->c;
    const struct hd_ynode *v = want_map(x, node, "vars");
    memset(x->loc_var_nodes, 0, sizeof x->loc_var_nodes);
    memset(x->loc_var_reported, 0, sizeof x->loc_var_reported);
    if (v == NULL)
        return;
    loc->vars = calloc(c->nvars + 1, sizeof *loc->vars);
    if (loc->vars == NULL) {
        nomem(x);
        return;
    }
    for (size_t i = 0; i < v->count; i++) {
        const char *k = v->keys[i]->str;
        char what[64];
        size_t at = 0;
        while (at < c->nvars && strcmp(c->var_names[at], k) != 0)
            at++;
        if (at == c->nvars) {
            const char *near = hd_suggest(k, (const char *const *)c->var_names);
            err_at(x, v->keys[i],
                   "vars.%s is not a variable of the campaign%s%s%s: a locale sets its own "
                   "value of a variable the campaign's vars: declare (the default for every "
                   "language)",
                   k, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
            continue;
        }
        snprintf(what, sizeof what, "vars.%s", k);
        const char *s = want_str(x, v->items[i], what);
        if (s == NULL)
            continue;
        loc->vars[at] = dup_str(x, s);
        x->loc_var_nodes[at] = v->items[i];
    }
}

static void load_locale_file(struct ctx *x, const char *path, const char *stem)
{
    static const char *const keys[] = {"language", "vars", "email", "push", "variant", NULL};
    static const char *const variant_keys[] = {"email", "push", NULL};
    struct hd_campaign *c = x->c;
    struct hd_err e = {0};
    struct hd_ydoc *doc = hd_yaml_load(path, &e);
    const struct hd_ynode *root, *n;
    char tag[16];
    const char *s;

    if (doc == NULL) {
        hd_diags_add(x->d, e.code, NULL, 0, 0, "%s", e.msg);
        return;
    }
    struct hd_ydoc **docs = realloc(c->locale_docs, (c->nlocale_docs + 1) * sizeof *docs);
    if (docs == NULL) {
        hd_yaml_free(doc);
        nomem(x);
        return;
    }
    c->locale_docs = docs;
    docs[c->nlocale_docs++] = doc;
    root = doc->root;
    if (root == NULL || root->kind != HD_YMAP) {
        hd_diags_add(x->d, HD_EX_DATAERR, path, root ? root->line : 1, root ? root->col : 1,
                     "a locale file must be a mapping with language, email, push");
        return;
    }
    if (hd_lang_canonical(stem, strlen(stem), tag, sizeof tag) == 0 || strcmp(tag, stem) != 0) {
        hd_diags_add(x->d, HD_EX_DATAERR, path, 0, 0,
                     "locale file name must be a canonical BCP 47 tag such as de.yaml or "
                     "pt-BR.yaml");
        return;
    }
    check_keys(x, root, keys, "a locale");
    n = need(x, root, "language", "a locale", true);
    if ((s = want_str(x, n, "language")) != NULL && strcmp(s, tag) != 0)
        err_at(x, n, "language \"%s\" does not match the file name (%s.yaml)", s, tag);

    struct hd_locale *locs = realloc(c->locales, (c->nlocales + 1) * sizeof *locs);
    if (locs == NULL) {
        nomem(x);
        return;
    }
    c->locales = locs;
    struct hd_locale *loc = &locs[c->nlocales++];
    memset(loc, 0, sizeof *loc);
    memcpy(loc->tag, tag, sizeof tag);
    if ((loc->file = dup_str(x, path)) == NULL)
        return;
    load_locale_vars(x, loc, hd_ymap_get(root, "vars"));

    bool email = campaign_has_type(c, HD_CHANNEL_EMAIL),
         push = campaign_has_type(c, HD_CHANNEL_PUSH);
    if (email)
        compile_group(x, loc, root, "email", HD_TEXT_EMAIL_SUBJECT, HD_TEXT_EMAIL_HTML, loc->text,
                      "");
    if (push)
        compile_group(x, loc, root, "push", HD_TEXT_PUSH_TITLE, HD_TEXT_PUSH_BODY, loc->text, "");
    if (c->objection_action == HD_OBJECTION_VARIANT) {
        const struct hd_ynode *v = want_map(
            x, need(x, root, "variant", "a locale (audience.objections.action is variant)", true),
            "variant");
        if (v != NULL) {
            check_keys(x, v, variant_keys, "variant");
            if (email)
                compile_group(x, loc, v, "email", HD_TEXT_EMAIL_SUBJECT, HD_TEXT_EMAIL_HTML,
                              loc->variant, "variant.");
            if (push)
                compile_group(x, loc, v, "push", HD_TEXT_PUSH_TITLE, HD_TEXT_PUSH_BODY,
                              loc->variant, "variant.");
        }
    }
}

static int cmp_locale(const void *a, const void *b)
{
    return strcmp(((const struct hd_locale *)a)->tag, ((const struct hd_locale *)b)->tag);
}

static const struct hd_locale *find_locale(const struct hd_campaign *c, const char *tag)
{
    size_t lo = 0, hi = c->nlocales;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(tag, c->locales[mid].tag);
        if (r == 0)
            return &c->locales[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void load_locales(struct ctx *x, const struct hd_ynode *root)
{
    struct hd_campaign *c = x->c;
    const struct hd_ynode *sec = hd_ymap_get(root, "locales");
    DIR *dir;
    struct dirent *de;
    char **names = NULL;
    size_t count = 0;

    if (c->locales_dir == NULL)
        return;
    dir = opendir(c->locales_dir);
    if (dir == NULL) {
        err_at(x, hd_ymap_get(sec, "dir"), "cannot open locales directory \"%s\": %s",
               c->locales_dir, strerror(errno));
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0 || de->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (count + 1) * sizeof *nn);
        if (nn == NULL) {
            nomem(x);
            break;
        }
        names = nn;
        if ((names[count] = dup_str(x, de->d_name)) == NULL)
            break;
        count++;
    }
    closedir(dir);
    /* Sorted so the snapshot hash and every report are the same on every machine. */
    if (count > 1) /* names is NULL when the directory has none */
        qsort(names, count, sizeof *names, cmp_str);
    for (size_t i = 0; i < count; i++) {
        char *path = x->oom ? NULL : hd_path_resolve(c->locales_dir, names[i], NULL);
        if (path == NULL) {
            nomem(x);
        } else {
            names[i][strlen(names[i]) - 5] = '\0';
            load_locale_file(x, path, names[i]);
            free(path);
        }
        free(names[i]);
    }
    free(names);
    if (x->oom)
        return;
    if (c->nlocales == 0) {
        err_at(x, hd_ymap_get(sec, "dir"), "no locale files (<tag>.yaml) in \"%s\"",
               c->locales_dir);
        return;
    }
    qsort(c->locales, c->nlocales, sizeof *c->locales, cmp_locale);
    if (c->default_lang[0] && find_locale(c, c->default_lang) == NULL)
        err_at(x, hd_ymap_get(sec, "default"),
               "no locale file for the default language \"%s\" "
               "(expected %s/%s.yaml)",
               c->default_lang, c->locales_dir, c->default_lang);
    /* Where the law demands the country's own language, every official
     * language of it must be there: no silent fallback to another. */
    const struct hd_ynode *strict = hd_ymap_get(sec, "require_own_language");
    for (size_t i = 0; i < c->nstrict_countries; i++) {
        const struct hd_country *co = hd_country_find(c->strict_countries[i], 2);
        const char *p = co ? co->languages : NULL;
        if (p == NULL) {
            err_at(x, strict, "no official languages are known for %s", c->strict_countries[i]);
            continue;
        }
        while (*p) {
            char tag[16];
            size_t n = strcspn(p, " ");
            if (n < sizeof tag) {
                memcpy(tag, p, n);
                tag[n] = '\0';
                if (find_locale(c, tag) == NULL)
                    err_at(x, strict,
                           "%s requires its own language, but there is no locale for \"%s\" "
                           "(add %s/%s.yaml)",
                           co->code, tag, c->locales_dir, tag);
            }
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    /* Languages a country speaks that fall back: worth knowing, not an error.
     * Strict countries never fall back (a gap there is an error above). */
    const struct hd_country *co;
    char fallbacks[256] = "";
    size_t nfallback = 0;
    for (size_t i = 0; (co = scope_country(c, i)) != NULL; i++) {
        const char *lang = hd_country_main_language(co);
        if (lang && find_locale(c, lang) == NULL && !hd_campaign_strict_country(c, co->code) &&
            nfallback++ < 20) {
            strncat(fallbacks, " ", sizeof fallbacks - strlen(fallbacks) - 1);
            strncat(fallbacks, co->code, sizeof fallbacks - strlen(fallbacks) - 1);
        }
    }
    if (nfallback)
        warn_at(x, sec,
                "no locale for the main language of %zu %s in scope; people there get "
                "another official language or \"%s\":%s",
                nfallback, nfallback == 1 ? "country" : "countries", c->default_lang, fallbacks);
}

/* ---- snapshot ------------------------------------------------------------ */

static void hash_file(EVP_MD_CTX *md, const char *label, const struct hd_ydoc *doc)
{
    char head[64];
    int n = snprintf(head, sizeof head, "%s\n%zu\n", label, doc->size);
    EVP_DigestUpdate(md, head, (size_t)n);
    EVP_DigestUpdate(md, doc->bytes, doc->size);
}

static void snapshot_hash(struct ctx *x)
{
    struct hd_campaign *c = x->c;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        nomem(x);
        return;
    }
    EVP_DigestUpdate(md, "herald-snapshot-v1\n", 19);
    hash_file(md, "campaign", c->doc);
    for (size_t i = 0; i < c->nlocales; i++) {
        /* locale docs were loaded in tag order; find each locale's doc */
        for (size_t j = 0; j < c->nlocale_docs; j++)
            if (strcmp(c->locale_docs[j]->file, c->locales[i].file) == 0)
                hash_file(md, c->locales[i].tag, c->locale_docs[j]);
    }
    EVP_DigestFinal_ex(md, c->snapshot_sha256, NULL);
    EVP_MD_CTX_free(md);
}

/* ---- public -------------------------------------------------------------- */

struct hd_campaign *hd_campaign_load(const char *path, const struct hd_campaign_opts *opts,
                                     struct hd_diags *diags)
{
    static const char *const keys[] = {"id",          "description", "reference_date",
                                       "vars",        "audience",    "objection_link",
                                       "locales",     "channels",    "waves",
                                       "send_window", "retry",       "canary",
                                       "proofs",      "state",       NULL};
    struct hd_campaign *c = calloc(1, sizeof *c);
    struct ctx x = {.c = c, .d = diags, .opts = opts};
    struct hd_err e = {0};
    const struct hd_ynode *root, *n;
    const char *s;
    int code_before = diags->code;

    if (c == NULL) {
        hd_diags_add(diags, HD_EX_SOFTWARE, path, 0, 0, "out of memory loading the campaign");
        return NULL;
    }
    /* diags may already hold errors from earlier work: judge only ours */
    diags->code = 0;
    const char *slash = strrchr(path, '/');
    c->path = hd_strdup(path, NULL);
    c->dir = slash ? hd_strndup(path, (size_t)(slash - path == 0 ? 1 : slash - path), NULL)
                   : hd_strdup(".", NULL);
    if (c->path == NULL || c->dir == NULL) {
        nomem(&x);
        goto fail;
    }
    c->doc = hd_yaml_load(path, &e);
    if (c->doc == NULL) {
        hd_diags_add(diags, e.code, NULL, 0, 0, "%s", e.msg);
        goto fail;
    }
    root = c->doc->root;
    if (root == NULL || root->kind != HD_YMAP) {
        hd_diags_add(diags, HD_EX_DATAERR, path, root ? root->line : 1, root ? root->col : 1,
                     "a campaign file must be a mapping (id, audience, channels, ...)");
        goto fail;
    }
    check_keys(&x, root, keys, "the campaign");
    n = need(&x, root, "id", "the campaign", true);
    if ((s = want_str(&x, n, "id")) != NULL) {
        if (!valid_name(s, HD_ID_MAX, true))
            err_at(&x, n, "bad campaign id \"%s\" (use A-Z, a-z, 0-9, ., - and _, at most %d)", s,
                   HD_ID_MAX);
        c->id = dup_str(&x, s);
    }
    if ((n = hd_ymap_get(root, "description")) && (s = want_str(&x, n, "description")))
        c->description = dup_str(&x, s);
    n = need(&x, root, "reference_date", "the campaign", true);
    if ((s = want_str(&x, n, "reference_date")) &&
        !parse_date(s, &c->ref_year, &c->ref_month, &c->ref_day))
        err_at(&x, n, "bad date \"%s\" (write a real date as YYYY-MM-DD, e.g. 2025-06-26)", s);
    /* In order (later sections read what earlier ones set); out of memory
     * stops the load at the end of the section it happened in. */
    void (*const sections[])(struct ctx *, const struct hd_ynode *) = {
        load_vars,  load_audience, load_link,   load_locales_section, load_channels,
        load_waves, load_policy,   load_proofs, load_state,           load_locales,
    };
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && !x.oom; i++)
        sections[i](&x, root);
    if (!x.oom)
        snapshot_hash(&x);
    if (diags->code != 0)
        goto fail;
    diags->code = code_before;
    return c;
fail:
    if (code_before != 0)
        diags->code = code_before;
    hd_campaign_free(c);
    return NULL;
}

void hd_campaign_free(struct hd_campaign *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->dir);
    free(c->id);
    free(c->description);
    free(c->audience_path);
    for (int f = 0; f < HD_F_COUNT; f++)
        free(c->columns[f]);
    free(c->region_countries);
    free(c->objections_path);
    free(c->link_url);
    free(c->link_secret_env);
    free(c->link_secret_file);
    free(c->pseudonym_key_env);
    free(c->state_dir);
    free(c->pseudonym_key_file);
    free(c->proof_key_id);
    free(c->locales_dir);
    free(c->strict_countries);
    for (size_t i = 0; i < c->nlocales; i++) {
        for (int t = 0; t < HD_TEXT_COUNT; t++) {
            hd_tmpl_free(c->locales[i].text[t]);
            hd_tmpl_free(c->locales[i].variant[t]);
        }
        free(c->locales[i].file);
        for (size_t v = 0; c->locales[i].vars && v < c->nvars; v++)
            free(c->locales[i].vars[v]);
        free(c->locales[i].vars);
    }
    free(c->locales);
    for (size_t i = 0; i < c->nvars; i++) {
        free(c->var_names[i]);
        free(c->var_values[i]);
    }
    free(c->var_names);
    free(c->var_values);
    free((void *)c->all_vars);
    for (size_t i = 0; i < c->nchannels; i++) {
        free(c->channels[i].name);
        free(c->channels[i].module);
        free(c->channels[i].from_name);
        free(c->channels[i].from_addr);
    }
    for (size_t i = 0; i < c->nwaves; i++) {
        free(c->waves[i].name);
        free(c->waves[i].countries);
        for (size_t j = 0; j < c->waves[i].nlanguages; j++)
            free(c->waves[i].languages[j]);
        free(c->waves[i].languages);
    }
    free(c->waves);
    for (size_t i = 0; i < c->nlocale_docs; i++)
        hd_yaml_free(c->locale_docs[i]);
    free(c->locale_docs);
    hd_yaml_free(c->doc);
    free(c);
}

const struct hd_channel_conf *hd_campaign_channel(const struct hd_campaign *c, const char *name)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (strcmp(c->channels[i].name, name) == 0)
            return &c->channels[i];
    return NULL;
}

bool hd_campaign_in_region(const struct hd_campaign *c, const struct hd_country *country)
{
    if (country == NULL)
        return false;
    if (country->groups & c->region_groups)
        return true;
    for (size_t i = 0; i < c->nregion_countries; i++)
        if (memcmp(c->region_countries[i], country->code, 2) == 0)
            return true;
    return false;
}

bool hd_campaign_strict_country(const struct hd_campaign *c, const char code[2])
{
    for (size_t i = 0; i < c->nstrict_countries; i++)
        if (memcmp(c->strict_countries[i], code, 2) == 0)
            return true;
    return false;
}

/* True when tag's primary language ("fr" of "fr-BE") is one of the country's. */
static bool country_speaks(const struct hd_country *co, const char *tag)
{
    const char *p = co ? co->languages : NULL;
    size_t n = strcspn(tag, "-");
    while (p && *p) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, tag, n) == 0)
            return true;
        p += k;
        while (*p == ' ')
            p++;
    }
    return false;
}

const struct hd_locale *hd_campaign_locale_for(const struct hd_campaign *c, const char *lang,
                                               const struct hd_country *country,
                                               enum hd_lang_source *source)
{
    bool strict = country && hd_campaign_strict_country(c, country->code);
    const struct hd_locale *loc;
    char tag[16];
    enum hd_lang_source src = HD_LANG_EXACT;

    /* The person's own tag and its parents; for a strict country only when
     * that language is one of the country's own. */
    if (lang && *lang) {
        snprintf(tag, sizeof tag, "%s", lang);
        for (;;) {
            if ((!strict || country_speaks(country, tag)) && (loc = find_locale(c, tag))) {
                *source = src;
                return loc;
            }
            char parent[16];
            if (hd_lang_parent(tag, parent, sizeof parent) == 0)
                break;
            memcpy(tag, parent, sizeof tag);
            src = HD_LANG_PARENT;
        }
    }
    /* The country's official languages, main first. */
    const char *p = country ? country->languages : NULL;
    while (p && *p) {
        size_t k = strcspn(p, " ");
        if (k < sizeof tag) {
            memcpy(tag, p, k);
            tag[k] = '\0';
            if ((loc = find_locale(c, tag)) != NULL) {
                *source = HD_LANG_COUNTRY;
                return loc;
            }
        }
        p += k;
        while (*p == ' ')
            p++;
    }
    if (strict)
        return NULL;
    *source = HD_LANG_DEFAULT;
    return find_locale(c, c->default_lang);
}

const char *const *hd_campaign_var_names(const struct hd_campaign *c)
{
    return (const char *const *)c->all_vars;
}

char *hd_campaign_locale_tags(const struct hd_campaign *c)
{
    size_t cap = c->nlocales * (sizeof c->locales[0].tag + 1) + 1, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < c->nlocales; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", c->locales[i].tag);
    return out;
}
