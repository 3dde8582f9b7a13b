/* herald/audience.h - streaming the audience file and checking each row.
 *
 * The reader streams CSV (RFC 4180 via libcsv: quoted fields, embedded
 * newlines, CRLF or LF, a UTF-8 BOM) or JSON Lines (jansson, one object per
 * line) in constant memory whatever the file size. CSV needs a header row;
 * the campaign's field mapping names the column (CSV) or key (JSONL) for
 * each field.
 *
 * A row that is structurally bad (a JSONL line that is not an object, a CSV
 * row with too many or too few fields, a value that is not a string/number)
 * is still returned, with row->malformed set: a bad row never stops a plan.
 * Only I/O errors and a CSV header that lacks a mapped column are fatal.
 *
 * Ownership: row values point into the reader's buffers and stay valid until
 * the next hd_audience_next or hd_audience_free. One reader per thread.
 */
#ifndef HERALD_AUDIENCE_H
#define HERALD_AUDIENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/err.h"
#include "herald/region.h"

enum hd_audience_format { HD_AUDIENCE_CSV, HD_AUDIENCE_JSONL };

enum hd_field {
    HD_F_ID,
    HD_F_EMAIL,
    HD_F_PUSH_TOKEN,
    HD_F_COUNTRY,
    HD_F_LANGUAGE,
    HD_F_BIRTH_DATE, /* YYYY-MM-DD */
    HD_F_AGE,        /* whole years, used when there is no birth date */
    HD_F_TIME_ZONE,  /* IANA zone */
    HD_F_NAME,       /* display name, optional */
    HD_F_COUNT
};

/* The campaign-side field names: "id", "email", "push_token", "country",
 * "language", "birth_date", "age", "time_zone", "name". */
extern const char *const hd_field_names[HD_F_COUNT];

struct hd_audience_opts {
    const char *path;
    enum hd_audience_format format;
    /* Source column (CSV) or key (JSONL) per field; NULL means the field's
     * own name. A CSV header lacking a mapped column of a required field
     * (id, country) is fatal; optional columns may be absent. */
    const char *columns[HD_F_COUNT];
    /* CSV field separator: ',', ';', '|' or '\t' (audience.delimiter); 0
     * detects it from the header line: ';' or TAB when the line has more of
     * it than commas (outside quotes), else ','. */
    char delimiter;
};

struct hd_row {
    uint64_t index;                /* 1-based data row number (header excluded) */
    uint64_t line;                 /* 1-based physical line where the row starts */
    const char *value[HD_F_COUNT]; /* NUL-terminated; NULL when absent or empty */
    size_t len[HD_F_COUNT];
    const char *malformed;       /* NULL, or why the row could not be read */
    unsigned long malformed_col; /* 1-based column (byte offset in line) or 0 */
};

struct hd_audience;

int hd_audience_open(struct hd_audience **out, const struct hd_audience_opts *opts,
                     struct hd_err *err);
/* Returns 1 with a row, 0 at end of input, -1 with err set on a fatal error
 * (HD_EX_IOERR for I/O, HD_EX_DATAERR for a header problem). */
int hd_audience_next(struct hd_audience *a, struct hd_row *row, struct hd_err *err);
/* The CSV separator in use, and whether it was detected (the options gave
 * none and the header line chose ';' or TAB over the default ','). ','
 * for JSON Lines. */
char hd_audience_delimiter(const struct hd_audience *a, bool *detected);
/* Bytes consumed so far, for progress. */
uint64_t hd_audience_offset(const struct hd_audience *a);
void hd_audience_free(struct hd_audience *a);

/* ---- checking one row ---------------------------------------------------- */

/* Why an email address can or cannot be used. */
enum hd_email_status {
    HD_EMAIL_NONE,            /* no address */
    HD_EMAIL_OK,              /* ASCII local part, valid (possibly IDN) domain */
    HD_EMAIL_NON_ASCII_LOCAL, /* valid, but the local part is not ASCII: needs
                                 SMTPUTF8, which libesmtp lacks */
    HD_EMAIL_INVALID,
};

/* Checks an address (UTF-8). The domain goes through libidn2 (IDNA 2008,
 * non-transitional); when ascii_domain is not NULL it receives the A-label
 * form (e.g. "xn--mnchen-3ya.de"). why receives a short reason on
 * HD_EMAIL_INVALID. Thread-safe. */
enum hd_email_status hd_email_check(const char *addr, size_t len, char *ascii_domain, size_t cap,
                                    const char **why);

/* True when s is valid UTF-8 with no C0/C1 control characters and no DEL
 * (so no CR or LF can ever reach a header). */
bool hd_text_clean(const char *s, size_t len);
/* The same check, saying why and where: NULL when clean, else "control
 * character" or "bad UTF-8" with *at the offset of the first offending
 * byte (len when clean). Validation uses it to refuse campaign text that
 * rendering would refuse, at the same bytes. */
const char *hd_text_problem(const char *s, size_t len, size_t *at);

struct hd_check_opts {
    int ref_year, ref_month, ref_day; /* reference date for ages */
    bool need_age;                    /* the campaign has a minimum age */
    /* The campaign's locale tags, canonical, space-separated ("de no"), for
     * macrolanguage mapping (hd_lang_macro_map); NULL maps nothing. */
    const char *locales;
};

/* Normalisations hd_person_check may apply to a value, as bit numbers in
 * hd_person.norm[field]. Input is read forgivingly, output is strict: the
 * value the plan uses is the normalised one, and the planner counts each
 * kind (docs/plan-output.md). */
enum hd_norm {
    HD_N_TRIMMED,           /* white space around the value removed (every field) */
    HD_N_CASE_FOLDED,       /* email domain lower-cased, country code upper-cased */
    HD_N_LANG_CANONICAL,    /* language tag respelt: "PT_br" -> "pt-BR", "iw" -> "he" */
    HD_N_MACROLANGUAGE,     /* "nb"/"nn" -> "no", or "no" -> "nb", to reach a locale */
    HD_N_LANG_FALLBACK,     /* well-formed but unknown language ("xx"): the country's */
    HD_N_TZ_CASE,           /* time zone matched in another case: "europe/berlin" */
    HD_N_OPTIONAL_FALLBACK, /* unknown time zone: the country's main zone */
    HD_N_DELIMITER,         /* the CSV separator was detected (set by the planner) */
    HD_N_COUNT
};

/* "trimmed", "case_folded", "language_canonicalised", "macrolanguage_mapped",
 * "unknown_language_fell_back", "time_zone_case_matched",
 * "optional_field_fell_back", "delimiter_detected". */
extern const char *const hd_norm_names[HD_N_COUNT];

/* A row checked and parsed. Strings point into the row, into the struct's
 * own buffers or into static tables; trimmed values are not NUL-terminated
 * at their length, so use the lengths. */
struct hd_person {
    const char *id; /* trimmed (docs/audience-format.md, "Forgiving input") */
    size_t id_len;
    const struct hd_country *country;
    char language[16];       /* the tag to look a locale up with: canonical, after
                                macrolanguage mapping; "" when the row had none */
    char language_given[16]; /* the row's tag, canonical, before mapping */
    const char *time_zone;   /* from the row (IANA spelling), else the country's main zone */
    size_t time_zone_len;
    int age;           /* whole years at the reference date, -1 if unknown */
    const char *email; /* NULL when absent */
    size_t email_len;
    enum hd_email_status email_status;
    const char *email_why;  /* reason when not HD_EMAIL_OK */
    const char *push_token; /* NULL when absent */
    size_t push_token_len;
    const char *name; /* NULL when absent */
    size_t name_len;
    /* What was normalised, per field: bits (1u << enum hd_norm). */
    unsigned char norm[HD_F_COUNT];
    /* Storage the pointers above may point into (so a struct hd_person must
     * not be copied while they are in use). */
    char email_buf[256];
    char time_zone_buf[65];
    /* When the row is invalid: */
    enum hd_field bad_field; /* HD_F_COUNT for the whole row */
    const char *bad_why;     /* static text: "bad UTF-8", "unknown country", ... */
};

/* Parses and checks a row. Returns true when the row is valid (the person
 * may still be excluded later for region, age, ...). On false, bad_field and
 * bad_why say why (an invalid_row exclusion). A bad email address makes the
 * row invalid; a valid address that a channel cannot carry does not.
 * Forgiving input: every value is first trimmed of surrounding white space
 * (ASCII white space and U+00A0; a value left empty is absent), the email
 * domain is lower-cased (never the local part), the country code upper-cased,
 * the language tag canonicalised and macrolanguage-mapped against
 * opts->locales, the time zone matched case-insensitively; a well-formed
 * but unknown language or time zone falls back to the country's. p->norm
 * says what was done.
 * Rules: id required, at most 256 bytes; country required and assigned;
 * every value clean text (hd_text_clean); language a well-formed BCP 47
 * tag; birth_date a real calendar date not after the reference date; age
 * 0-150; with need_age, one of birth_date or age is required; time_zone
 * shaped like an IANA name; push_token printable ASCII up to 4096 bytes. */
bool hd_person_check(const struct hd_row *row, const struct hd_check_opts *opts,
                     struct hd_person *p);

#endif
