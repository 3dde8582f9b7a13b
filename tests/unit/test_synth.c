#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hd_test.h"
#include "herald/region.h"
#include "herald/synth.h"

/* ---- helpers ------------------------------------------------------------- */

/* One generated file in memory. */
struct output {
    char *data, *obj;
    size_t size, obj_size;
    struct hd_synth_stats stats;
};

static void generate(struct output *o, uint64_t rows, uint64_t seed, enum hd_audience_format format)
{
    struct hd_synth_opts opts;
    struct hd_err err = {0, ""};
    FILE *out, *obj;
    hd_synth_opts_init(&opts);
    opts.rows = rows;
    opts.seed = seed;
    opts.format = format;
    memset(o, 0, sizeof *o);
    out = open_memstream(&o->data, &o->size);
    obj = open_memstream(&o->obj, &o->obj_size);
    assert_non_null(out);
    assert_non_null(obj);
    assert_int_equal(hd_synth_write(&opts, out, obj, &o->stats, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(fclose(obj), 0);
    assert_int_equal(o->stats.rows, rows);
}

static void release(struct output *o)
{
    free(o->data);
    free(o->obj);
}

#define MAX_FIELDS 16

/* A CSV record, unquoted: field i is text + off[i], len[i] bytes. */
struct record {
    char text[4096];
    size_t off[MAX_FIELDS], len[MAX_FIELDS];
    int n;
};

/* A strict RFC 4180 reader for what the generator writes (LF line ends):
 * fails the test on a stray quote or an unterminated quoted field. Returns
 * false at the end of the data. */
static bool csv_next(const char *d, size_t size, size_t *pos, struct record *r)
{
    size_t p = *pos, t = 0;
    if (p >= size)
        return false;
    r->n = 0;
    for (;;) {
        assert_true(r->n < MAX_FIELDS);
        r->off[r->n] = t;
        if (p < size && d[p] == '"') {
            for (p++;; p++) {
                assert_true(p < size); /* unterminated quoted field */
                if (d[p] == '"') {
                    if (p + 1 < size && d[p + 1] == '"') {
                        r->text[t++] = '"';
                        p++;
                        continue;
                    }
                    p++;
                    break;
                }
                r->text[t++] = d[p];
            }
        } else {
            while (p < size && d[p] != ',' && d[p] != '\n') {
                assert_true(d[p] != '"' && d[p] != '\r'); /* must have been quoted */
                r->text[t++] = d[p++];
            }
        }
        r->len[r->n] = t - r->off[r->n];
        r->text[t++] = '\0';
        r->n++;
        if (p < size && d[p] == ',') {
            p++;
            continue;
        }
        assert_true(p < size && d[p] == '\n'); /* every record ends with LF */
        *pos = p + 1;
        return true;
    }
}

static const char *field(const struct record *r, int i)
{
    return r->text + r->off[i];
}

static int age_at(const char *date, int ry, int rm, int rd)
{
    int y, m, d;
    if (!hd_synth_parse_date(date, &y, &m, &d))
        return -1;
    return ry - y - (rm < m || (rm == m && rd < d));
}

static size_t count_lines(const char *s, size_t n)
{
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines;
}

/* ---- tests --------------------------------------------------------------- */

static void test_synth_same_seed_same_bytes(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        enum hd_audience_format format = f ? HD_AUDIENCE_JSONL : HD_AUDIENCE_CSV;
        struct output a, b, c;
        generate(&a, 5000, 42, format);
        generate(&b, 5000, 42, format);
        generate(&c, 5000, 43, format);
        assert_int_equal(a.size, b.size);
        assert_memory_equal(a.data, b.data, a.size);
        assert_int_equal(a.obj_size, b.obj_size);
        assert_memory_equal(a.obj, b.obj, a.obj_size);
        assert_true(a.size != c.size || memcmp(a.data, c.data, a.size) != 0);
        release(&a);
        release(&b);
        release(&c);
    }
}

/* Same options through a real file: the bytes do not depend on the stream. */
static void test_synth_file_matches_memory(void **state)
{
    (void)state;
    const char *dir = hd_test_tmpdir();
    char path[512];
    struct output mem;
    struct hd_synth_opts opts;
    struct hd_err err = {0, ""};
    FILE *f;
    char *back;
    long size;

    generate(&mem, 3000, 9, HD_AUDIENCE_CSV);
    snprintf(path, sizeof path, "%s/audience.csv", dir);
    hd_synth_opts_init(&opts);
    opts.rows = 3000;
    opts.seed = 9;
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(hd_synth_write(&opts, f, NULL, NULL, &err), 0);
    assert_int_equal(fclose(f), 0);

    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    rewind(f);
    assert_int_equal((size_t)size, mem.size);
    back = malloc(mem.size);
    assert_non_null(back);
    assert_int_equal(fread(back, 1, mem.size, f), mem.size);
    fclose(f);
    assert_memory_equal(back, mem.data, mem.size);
    free(back);
    release(&mem);
    hd_test_rmtree(dir);
}

/* A shorter run is a prefix of a longer one: rows do not depend on the count. */
static void test_synth_shorter_run_is_prefix(void **state)
{
    (void)state;
    struct output shorter, longer;
    generate(&shorter, 1000, 5, HD_AUDIENCE_JSONL);
    generate(&longer, 2500, 5, HD_AUDIENCE_JSONL);
    assert_true(shorter.size < longer.size);
    assert_memory_equal(shorter.data, longer.data, shorter.size);
    release(&shorter);
    release(&longer);
}

static void test_synth_row_count(void **state)
{
    (void)state;
    static const uint64_t counts[] = {0, 1, 7, 12345};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        struct output csv, jsonl;
        struct record r;
        size_t pos = 0, records = 0;
        generate(&csv, counts[k], 3, HD_AUDIENCE_CSV);
        while (csv_next(csv.data, csv.size, &pos, &r))
            records++;
        assert_int_equal(records, counts[k] + 1); /* + header */
        generate(&jsonl, counts[k], 3, HD_AUDIENCE_JSONL);
        assert_int_equal(count_lines(jsonl.data, jsonl.size), counts[k]);
        release(&csv);
        release(&jsonl);
    }
}

static void test_synth_proportions(void **state)
{
    (void)state;
    const double n = 100000;
    struct output o;
    const struct hd_synth_stats *s = &o.stats;
    uint64_t defects = 0;
    generate(&o, 100000, 2025, HD_AUDIENCE_CSV);

    assert_in_range(s->minors, (uint64_t)(0.05 * n), (uint64_t)(0.07 * n));
    assert_in_range(s->objected, (uint64_t)(0.007 * n), (uint64_t)(0.013 * n));
    assert_in_range(s->malformed, (uint64_t)(0.003 * n), (uint64_t)(0.007 * n));
    assert_in_range(s->outside_region, (uint64_t)(0.015 * n), (uint64_t)(0.025 * n));
    assert_in_range(s->duplicates, (uint64_t)(0.0005 * n), (uint64_t)(0.0015 * n));
    assert_in_range(s->no_email, (uint64_t)(0.09 * n), (uint64_t)(0.11 * n));
    assert_in_range(s->no_push_token, (uint64_t)(0.14 * n), (uint64_t)(0.16 * n));
    assert_in_range(s->no_time_zone, (uint64_t)(0.19 * n), (uint64_t)(0.21 * n));
    assert_in_range(s->no_language, (uint64_t)(0.015 * n), (uint64_t)(0.025 * n));
    assert_in_range(s->foreign_language, (uint64_t)(0.025 * n), (uint64_t)(0.035 * n));
    assert_in_range(s->idn_email, (uint64_t)(0.006 * n), (uint64_t)(0.012 * n));
    assert_in_range(s->non_ascii_email, 1, (uint64_t)(0.004 * n));
    /* Every kind of defect shows up, and they add up. */
    for (int k = 0; k < HD_SYNTH_BAD_COUNT; k++) {
        assert_true(s->malformed_by[k] > 0);
        defects += s->malformed_by[k];
    }
    assert_int_equal(defects, s->malformed);
    assert_int_equal(count_lines(o.obj, o.obj_size), s->objected);
    release(&o);
}

/* The data says what the stats say: outside rows, minors, duplicates and
 * objections counted from the file itself. */
static void test_synth_csv_matches_stats(void **state)
{
    (void)state;
    static const char header[] = "id,email,push_token,country,language,birth_date,time_zone,name";
    struct output o;
    struct record r;
    size_t pos = 0;
    uint64_t short_rows = 0, outside = 0, minors = 0, bad_country = 0, dups = 0, rows = 0;
    uint64_t bad_dates = 0;
    char *seen;
    generate(&o, 50000, 77, HD_AUDIENCE_CSV);
    seen = calloc(50001, 1);
    assert_non_null(seen);

    assert_true(csv_next(o.data, o.size, &pos, &r));
    assert_int_equal(r.n, 8);
    assert_memory_equal(o.data, header, sizeof header - 1);
    while (csv_next(o.data, o.size, &pos, &r)) {
        const struct hd_country *c;
        unsigned long id;
        rows++;
        if (r.n != 8) {
            assert_int_equal(r.n, 7); /* the missing-field defect */
            short_rows++;
        }
        assert_true(field(&r, 0)[0] == 'u');
        id = strtoul(field(&r, 0) + 1, NULL, 10);
        assert_in_range(id, 1, 50000);
        assert_true(id <= rows); /* a duplicate repeats an earlier id */
        dups += seen[id];
        seen[id] = 1;
        bad_dates += age_at(field(&r, 5), 2025, 6, 26) < 0;
        c = hd_country_find(field(&r, 3), r.len[3]);
        if (c == NULL) {
            assert_string_equal(field(&r, 3), "XX");
            bad_country++;
        } else if (c->groups == 0) {
            outside++;
        } else {
            int age = age_at(field(&r, 5), 2025, 6, 26);
            minors += age >= 0 && age < 18;
        }
    }
    assert_int_equal(rows, 50000);
    assert_int_equal(short_rows, o.stats.malformed_by[HD_SYNTH_BAD_SHAPE]);
    assert_int_equal(bad_country, o.stats.malformed_by[HD_SYNTH_BAD_COUNTRY]);
    assert_int_equal(bad_dates, o.stats.malformed_by[HD_SYNTH_BAD_DATE]); /* no others */
    assert_int_equal(outside, o.stats.outside_region);
    assert_int_equal(dups, o.stats.duplicates);
    /* Malformed rows always carry adults: every minor here is a minors row. */
    assert_int_equal(minors, o.stats.minors);
    free(seen);
    release(&o);
}

/* Well-formed rows look right field by field. */
static void test_synth_csv_values(void **state)
{
    (void)state;
    struct output o;
    struct record r;
    size_t pos = 0;
    uint64_t quoted_names = 0, non_ascii_names = 0, subtags = 0;
    generate(&o, 20000, 11, HD_AUDIENCE_CSV);
    assert_true(csv_next(o.data, o.size, &pos, &r)); /* header */
    while (csv_next(o.data, o.size, &pos, &r)) {
        const char *email = field(&r, 1), *token = field(&r, 2), *lang = field(&r, 4);
        int age;
        if (r.n != 8 || hd_country_find(field(&r, 3), 2) == NULL)
            continue;
        if (r.len[2] != 0) {
            assert_int_equal(r.len[2], 64);
            for (size_t i = 0; i < 64; i++)
                assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_",
                                       token[i]));
        }
        if (r.len[4] != 0) {
            assert_true(hd_lang_valid(lang, r.len[4]));
            subtags += strchr(lang, '-') != NULL || strchr(lang, '_') != NULL;
        }
        if (r.len[6] != 0)
            assert_true(hd_tz_valid(field(&r, 6), r.len[6]));
        age = age_at(field(&r, 5), 2025, 6, 26);
        if (age >= 0) /* the impossible-date defect gives -1 */
            assert_in_range(age, 13, 90);
        if (r.len[1] != 0 && strchr(email, '@') != NULL && strstr(email, "..") == NULL) {
            const char *at = strchr(email, '@');
            assert_true(at > email);
            assert_null(strchr(at + 1, '@'));
            assert_non_null(strchr(at + 1, '.'));
        }
        for (size_t i = 0; i < r.len[7]; i++)
            if ((unsigned char)field(&r, 7)[i] >= 0x80) {
                non_ascii_names++;
                break;
            }
        quoted_names += strchr(field(&r, 7), ',') != NULL || strchr(field(&r, 7), '"') != NULL;
    }
    assert_true(quoted_names > 0);            /* the CSV quoting path is exercised */
    assert_true(non_ascii_names > 20000 / 4); /* names are not ASCII-only */
    assert_true(subtags > 20000 / 10);        /* "de-AT" style tags occur */
    release(&o);
}

static void test_synth_jsonl_lines_parse(void **state)
{
    (void)state;
    static const char *const keys[] = {"id",       "email",      "push_token", "country",
                                       "language", "birth_date", "time_zone",  "name"};
    struct output o;
    const char *line;
    uint64_t unparsable = 0, objects_in_country = 0, lines = 0;
    generate(&o, 30000, 8, HD_AUDIENCE_JSONL);
    for (line = o.data; line < o.data + o.size;) {
        const char *end = memchr(line, '\n', (size_t)(o.data + o.size - line));
        json_error_t jerr;
        json_t *obj, *v;
        const char *key;
        assert_non_null(end);
        lines++;
        obj = json_loadb(line, (size_t)(end - line), 0, &jerr);
        if (obj == NULL) {
            unparsable++; /* only the invalid-UTF-8 defect may do this */
        } else {
            assert_true(json_is_object(obj));
            assert_true(json_is_string(json_object_get(obj, "id")));
            assert_non_null(json_object_get(obj, "country"));
            json_object_foreach(obj, key, v)
            {
                bool known = false;
                for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                    known = known || strcmp(key, keys[k]) == 0;
                assert_true(known);
                if (json_is_object(v)) {
                    assert_string_equal(key, "country");
                    objects_in_country++;
                } else {
                    assert_true(json_is_string(v));
                    assert_true(json_string_length(v) > 0); /* absent, not empty */
                }
            }
            json_decref(obj);
        }
        line = end + 1;
    }
    assert_int_equal(lines, 30000);
    assert_int_equal(unparsable, o.stats.malformed_by[HD_SYNTH_BAD_UTF8]);
    assert_int_equal(objects_in_country, o.stats.malformed_by[HD_SYNTH_BAD_SHAPE]);
    release(&o);
}

/* Both sides of the 18th birthday are there: minors who turn 18 the day
 * after the reference date and adults who turned 18 on it. */
static void test_synth_age_edges_present(void **state)
{
    (void)state;
    struct output o;
    struct record r;
    size_t pos = 0;
    uint64_t turn_18_tomorrow = 0, turned_18_today = 0;
    generate(&o, 50000, 4, HD_AUDIENCE_CSV);
    assert_true(csv_next(o.data, o.size, &pos, &r));
    while (csv_next(o.data, o.size, &pos, &r)) {
        turn_18_tomorrow += strcmp(field(&r, 5), "2007-06-27") == 0;
        turned_18_today += strcmp(field(&r, 5), "2007-06-26") == 0;
    }
    assert_int_equal(age_at("2007-06-27", 2025, 6, 26), 17);
    assert_int_equal(age_at("2007-06-26", 2025, 6, 26), 18);
    assert_true(turn_18_tomorrow > 50);
    assert_true(turned_18_today > 10);
    release(&o);
}

/* Ages follow --ref-date: everybody is 13-90 at that date, minors under 18. */
static void test_synth_ref_date_moves_ages(void **state)
{
    (void)state;
    struct hd_synth_opts opts;
    struct hd_synth_stats st;
    struct hd_err err = {0, ""};
    struct record r;
    char *data = NULL;
    size_t size = 0, pos = 0;
    uint64_t minors = 0;
    FILE *out = open_memstream(&data, &size);
    assert_non_null(out);
    hd_synth_opts_init(&opts);
    opts.rows = 20000;
    assert_true(hd_synth_parse_date("2032-02-29", &opts.ref_year, &opts.ref_month, &opts.ref_day));
    assert_int_equal(hd_synth_write(&opts, out, NULL, &st, &err), 0);
    fclose(out);
    assert_true(csv_next(data, size, &pos, &r));
    while (csv_next(data, size, &pos, &r)) {
        const struct hd_country *c = hd_country_find(field(&r, 3), 2);
        int age = age_at(field(&r, 5), 2032, 2, 29);
        if (age < 0)
            continue;
        assert_in_range(age, 13, 90);
        if (r.n == 8 && c != NULL && c->groups != 0)
            minors += age < 18;
    }
    assert_int_equal(minors, st.minors);
    free(data);
}

static void test_synth_parse_date(void **state)
{
    (void)state;
    int y = 0, m = 0, d = 0;
    assert_true(hd_synth_parse_date("2025-06-26", &y, &m, &d));
    assert_int_equal(y, 2025);
    assert_int_equal(m, 6);
    assert_int_equal(d, 26);
    assert_true(hd_synth_parse_date("2024-02-29", &y, &m, &d));
    assert_false(hd_synth_parse_date("2025-02-29", &y, &m, &d));
    assert_false(hd_synth_parse_date("2001-02-30", &y, &m, &d));
    assert_false(hd_synth_parse_date("2025-13-01", &y, &m, &d));
    assert_false(hd_synth_parse_date("2025-6-26", &y, &m, &d));
    assert_false(hd_synth_parse_date("2025-06-26x", &y, &m, &d));
    assert_false(hd_synth_parse_date("", &y, &m, &d));
    assert_false(hd_synth_parse_date("1899-12-31", &y, &m, &d));
    assert_int_equal(y, 2024); /* untouched on failure */
}

static void test_synth_bad_ref_date_is_usage_error(void **state)
{
    (void)state;
    struct hd_synth_opts opts;
    struct hd_err err = {0, ""};
    FILE *out = fopen("/dev/null", "wb");
    assert_non_null(out);
    hd_synth_opts_init(&opts);
    opts.rows = 10;
    opts.ref_month = 2;
    opts.ref_day = 30;
    assert_int_equal(hd_synth_write(&opts, out, NULL, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_USAGE);
    fclose(out);
}

/* A full disk is an I/O error that names the file. */
static void test_synth_write_error_names_file(void **state)
{
    (void)state;
    struct hd_synth_opts opts;
    struct hd_err err = {0, ""};
    struct stat st;
    FILE *out;
    /* Only the real device: opening a missing /dev/full for writing would
     * create a plain file there. */
    if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode))
        skip();
    out = fopen("/dev/full", "r+b");
    if (out == NULL)
        skip();
    hd_synth_opts_init(&opts);
    opts.rows = 50000; /* more than the output buffer holds */
    opts.out_name = "people.csv";
    assert_int_equal(hd_synth_write(&opts, out, NULL, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_IOERR);
    assert_non_null(strstr(err.msg, "people.csv"));
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_same_seed_same_bytes),
        cmocka_unit_test(test_synth_file_matches_memory),
        cmocka_unit_test(test_synth_shorter_run_is_prefix),
        cmocka_unit_test(test_synth_row_count),
        cmocka_unit_test(test_synth_proportions),
        cmocka_unit_test(test_synth_csv_matches_stats),
        cmocka_unit_test(test_synth_csv_values),
        cmocka_unit_test(test_synth_jsonl_lines_parse),
        cmocka_unit_test(test_synth_age_edges_present),
        cmocka_unit_test(test_synth_ref_date_moves_ages),
        cmocka_unit_test(test_synth_parse_date),
        cmocka_unit_test(test_synth_bad_ref_date_is_usage_error),
        cmocka_unit_test(test_synth_write_error_names_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
