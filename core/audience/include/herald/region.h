/* herald/region.h - countries, region groups, languages and BCP 47 tags.
 *
 * Static, read-only tables: every function is thread-safe and allocates
 * nothing. Country codes are ISO 3166-1 alpha-2, upper case ("DE"); every
 * officially assigned code is known, so "unknown country" means a code that
 * ISO does not assign. Language tags are BCP 47 in their canonical case
 * ("pt-BR", "sr-Latn", "nb").
 */
#ifndef HERALD_REGION_H
#define HERALD_REGION_H

#include <stdbool.h>
#include <stddef.h>

enum hd_region_group {
    HD_GROUP_EU = 1u << 0,  /* the 27 member states */
    HD_GROUP_EEA = 1u << 1, /* EU + Iceland, Liechtenstein, Norway */
    HD_GROUP_UK = 1u << 2,  /* the United Kingdom (ISO code GB) */
};

struct hd_country {
    char code[3];     /* "DE" */
    const char *name; /* English short name, "Germany" */
    unsigned groups;  /* enum hd_region_group bits; 0 outside EU/EEA/UK */
    /* The fields below are set for EU/EEA/UK countries, NULL/0 elsewhere. */
    const char *languages;  /* official languages, space-separated, main first: "de" */
    const char *time_zones; /* IANA zones, space-separated, main first: "Europe/Berlin" */
    unsigned population_k;  /* population in thousands, for synthetic audiences */
};

/* Looks up an ISO 3166-1 alpha-2 code; case-insensitive ("de" finds DE).
 * "UK" is accepted as an alias of GB. NULL if unassigned. */
const struct hd_country *hd_country_find(const char *code, size_t len);

/* Main language of a country ("DE" -> "de"), NULL if none known. */
const char *hd_country_main_language(const struct hd_country *c);

/* Iterates over countries that belong to any of the groups (bits).
 * Returns the i-th such country, NULL past the end. */
const struct hd_country *hd_country_in_groups(unsigned groups, size_t i);

/* Parses a group name: "EU", "EEA", "UK" (case-insensitive); 0 if not a group. */
unsigned hd_region_group_parse(const char *name);

/* BCP 47: true when tag is a well-formed language tag made of a 2-3 letter
 * primary language subtag, optional 4-letter script and optional 2-letter or
 * 3-digit region (e.g. "de", "pt-BR", "sr-Latn-RS"); '_' is accepted as '-'.
 * The primary language must be a known ISO 639-1 code or a 3-letter code. */
bool hd_lang_valid(const char *tag, size_t len);

/* Writes the canonical form of a valid tag into out (language lower case,
 * script title case, region upper case, '-' separators). Returns the length,
 * or 0 when the tag is invalid or out is too small. */
size_t hd_lang_canonical(const char *tag, size_t len, char *out, size_t cap);

/* The tag with its last subtag removed ("pt-BR" -> "pt", "sr-Latn-RS" ->
 * "sr-Latn"); 0 when tag has no parent. Same return convention. */
size_t hd_lang_parent(const char *tag, char *out, size_t cap);

/* English name of a primary language subtag ("de" -> "German"), NULL if unknown. */
const char *hd_lang_name(const char *primary);

/* True when tz names a zone in the system's IANA database (/usr/share/zoneinfo). */
bool hd_tz_valid(const char *tz, size_t len);

/* ---- forgiving input (issue 15) -------------------------------------------
 * Audience values are read forgivingly and normalised to one spelling; the
 * planner counts every normalisation (docs/plan-output.md). */

/* What hd_lang_normalise did, as bits. */
enum {
    HD_LANG_NORM_CHANGED = 1u << 0, /* the spelling changed: case, '_', a deprecated code */
    HD_LANG_NORM_UNKNOWN = 1u << 1, /* well-formed, but the two-letter language is not ISO 639-1 */
};

/* Like hd_lang_canonical, but also accepts a well-formed tag whose
 * two-letter primary language is unknown ("xx", "xx-DE": *how gets
 * HD_LANG_NORM_UNKNOWN, and no locale can match it, so the person falls back
 * to the country's language) and replaces the deprecated ISO 639 codes by
 * their current ones (iw -> he, in -> id, ji -> yi, jw -> jv, mo -> ro).
 * Returns the length written to out, or 0 when the tag is not well-formed
 * ("english", "de--DE") or out is too small. how may be NULL. */
size_t hd_lang_normalise(const char *tag, size_t len, char *out, size_t cap, unsigned *how);

/* BCP 47 macrolanguages: Norwegian "no" covers Bokmål "nb" and Nynorsk "nn".
 * When the canonical tag (nor any parent of it) names none of the campaign's
 * locales but its macrolanguage form does, writes that form to out: "nb" and
 * "nn" -> "no" (keeping any script and region: "nb-NO" -> "no-NO"), and
 * "no" -> "nb" when the campaign has an nb locale but no no locale.
 * locales: the campaign's locale tags, canonical, space-separated ("de no").
 * Returns the length written, or 0 when no mapping applies. */
size_t hd_lang_macro_map(const char *tag, const char *locales, char *out, size_t cap);

/* True when tz is shaped like an IANA zone name ("Area/Location": letters,
 * digits, '_', '+', '-' and single '/'), whether or not the zone exists. */
bool hd_tz_well_formed(const char *tz, size_t len);

/* The IANA name of a zone given in any letter case ("europe/berlin" ->
 * "Europe/Berlin"), looked up in /usr/share/zoneinfo one path component at
 * a time. An exact name is returned as it is. Returns the length written to
 * out, or 0 when no zone matches (or several differ only in case, or out is
 * too small). Answers are memoised per thread, like hd_tz_valid. */
size_t hd_tz_canonical(const char *tz, size_t len, char *out, size_t cap);

#endif
