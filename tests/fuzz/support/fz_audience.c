/* Fuzz target support: reading an audience (see fz_audience.h). */
#include "fz_audience.h"

#include <stdlib.h>
#include <string.h>

#include "fz.h"

void fz_audience_read(const char *path, enum hd_audience_format format,
                      const char *const columns[HD_F_COUNT], char delimiter, size_t size,
                      struct fz_rows *out)
{
    struct hd_audience_opts opts = {.path = path, .format = format, .delimiter = delimiter};
    struct hd_audience *a = NULL;
    struct hd_err err = {0};
    struct hd_row row;
    uint64_t last_line = 0, last_off = 0;
    int rc;

    memset(out, 0, sizeof *out);
    for (int f = 0; f < HD_F_COUNT; f++)
        opts.columns[f] = columns[f];
    if (hd_audience_open(&a, &opts, &err) != 0) {
        FZ_CHECK(a == NULL && err.code != 0, "failed open without an error");
        out->open_code = err.code;
        return;
    }
    out->opened = true;
    out->delim = hd_audience_delimiter(a, &out->detected);
    while ((rc = hd_audience_next(a, &row, &err)) == 1) {
        struct fz_row *r;
        uint64_t off = hd_audience_offset(a);
        FZ_CHECK(row.index == out->count + 1, "row index %llu after %zu rows",
                 (unsigned long long)row.index, out->count);
        FZ_CHECK(row.line >= 1 && row.line >= last_line, "line %llu after %llu",
                 (unsigned long long)row.line, (unsigned long long)last_line);
        FZ_CHECK(off >= last_off && off <= size, "offset %llu (before %llu, size %zu)",
                 (unsigned long long)off, (unsigned long long)last_off, size);
        last_line = row.line;
        last_off = off;
        r = realloc(out->row, (out->count + 1) * sizeof *r);
        FZ_CHECK(r != NULL, "oom");
        out->row = r;
        r = &out->row[out->count++];
        memset(r, 0, sizeof *r);
        r->index = row.index;
        r->line = row.line;
        r->malformed = row.malformed != NULL;
        for (int f = 0; f < HD_F_COUNT; f++) {
            if (row.malformed != NULL) {
                FZ_CHECK(row.value[f] == NULL, "a malformed row has values");
                continue;
            }
            if (row.value[f] == NULL)
                continue;
            FZ_CHECK(row.len[f] > 0 && row.value[f][row.len[f]] == '\0',
                     "value %d not NUL-terminated at its length", f);
            r->value[f] = malloc(row.len[f] + 1);
            FZ_CHECK(r->value[f] != NULL, "oom");
            memcpy(r->value[f], row.value[f], row.len[f] + 1);
            r->len[f] = row.len[f];
        }

        /* Locales with both Norwegian forms on odd rows, only no on even
         * ones: macrolanguage mapping runs both ways. */
        struct hd_check_opts co = {2025, 6, 26, (row.index & 1) != 0,
                                   (row.index & 1) ? "de en nb" : "de en no"};
        struct hd_person p;
        bool ok = hd_person_check(&row, &co, &p);
        if (row.malformed != NULL)
            FZ_CHECK(!ok, "hd_person_check accepted a malformed row");
        if (ok) {
            /* Values are trimmed, so not NUL-terminated at their length:
             * no NUL inside is what counts. */
            FZ_CHECK(p.id != NULL && p.id_len > 0 && p.id_len <= 256 &&
                         memchr(p.id, '\0', p.id_len) == NULL && hd_text_clean(p.id, p.id_len),
                     "accepted a bad id");
            FZ_CHECK(p.id[0] != ' ' && p.id[p.id_len - 1] != ' ', "an id was not trimmed");
            if (p.email != NULL && p.email_status == HD_EMAIL_OK) {
                const char *at = memchr(p.email, '@', p.email_len);
                for (const char *c = at; c != NULL && c < p.email + p.email_len; c++)
                    FZ_CHECK(*c < 'A' || *c > 'Z', "an email domain was not case-folded");
            }
            FZ_CHECK(p.language[0] == '\0' || strlen(p.language) == strlen(p.language_given),
                     "a language mapping changed the tag's length");
            FZ_CHECK(!(p.norm[HD_F_TIME_ZONE] & (1u << HD_N_TZ_CASE)) ||
                         hd_tz_valid(p.time_zone, p.time_zone_len),
                     "a time zone matched in another case that the system does not know");
            FZ_CHECK(p.country != NULL, "accepted without a country");
            FZ_CHECK(p.email == NULL ||
                         (hd_text_clean(p.email, p.email_len) &&
                          memchr(p.email, '@', p.email_len) != NULL) ||
                         p.email_status != HD_EMAIL_OK,
                     "accepted a bad email");
            FZ_CHECK(p.name == NULL || hd_text_clean(p.name, p.name_len), "accepted a bad name");
        }
    }
    out->end = rc;
    if (rc < 0) {
        struct hd_err again = {0};
        FZ_CHECK(err.code != 0, "fatal without an error");
        FZ_CHECK(hd_audience_next(a, &row, &again) == -1 && again.code == err.code,
                 "a fatal error does not repeat");
    } else {
        FZ_CHECK(hd_audience_next(a, &row, &err) == 0, "rows after the end");
    }
    hd_audience_free(a);
}

void fz_rows_release(struct fz_rows *r)
{
    for (size_t i = 0; i < r->count; i++)
        for (int f = 0; f < HD_F_COUNT; f++)
            free(r->row[i].value[f]);
    free(r->row);
    memset(r, 0, sizeof *r);
}
