/* Tests for the streaming audience reader (core/audience/audience.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "fixtures.h"
#include "hd_test.h"
#include "herald/audience.h"

#define MIB ((size_t)1024 * 1024)

/* Opens data written to a file; columns may be NULL (field names as is). */
static struct hd_audience *open_with(const char *data, size_t len, enum hd_audience_format format,
                                     const char *const *columns)
{
    char *path =
        hd_test_write(hd_fx_dir, format == HD_AUDIENCE_CSV ? "a.csv" : "a.jsonl", data, len);
    struct hd_audience_opts opts = {.path = path, .format = format};
    struct hd_audience *a = NULL;
    struct hd_err err = {0};
    int rc;
    if (columns != NULL)
        memcpy(opts.columns, columns, sizeof opts.columns);
    rc = hd_audience_open(&a, &opts, &err);
    if (rc != 0)
        print_message("open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(a);
    free(path);
    return a;
}

static struct hd_audience *open_csv(const char *data)
{
    return open_with(data, (size_t)-1, HD_AUDIENCE_CSV, NULL);
}

static struct hd_audience *open_jsonl(const char *data)
{
    return open_with(data, (size_t)-1, HD_AUDIENCE_JSONL, NULL);
}

/* Opening must fail; returns the error. */
static struct hd_err open_fails(const char *data, const char *const *columns)
{
    char *path = hd_test_write(hd_fx_dir, "bad.csv", data, (size_t)-1);
    struct hd_audience_opts opts = {.path = path, .format = HD_AUDIENCE_CSV};
    struct hd_audience *a = NULL;
    struct hd_err err = {0};
    if (columns != NULL)
        memcpy(opts.columns, columns, sizeof opts.columns);
    assert_int_equal(hd_audience_open(&a, &opts, &err), -1);
    assert_null(a);
    free(path);
    return err;
}

static void next_row(struct hd_audience *a, struct hd_row *row)
{
    struct hd_err err = {0};
    int rc = hd_audience_next(a, row, &err);
    if (rc < 0)
        print_message("next: %s\n", err.msg);
    assert_int_equal(rc, 1);
}

static void assert_end(struct hd_audience *a)
{
    struct hd_row row;
    struct hd_err err = {0};
    assert_int_equal(hd_audience_next(a, &row, &err), 0);
    assert_int_equal(hd_audience_next(a, &row, &err), 0);
}

static void assert_value(const struct hd_row *row, enum hd_field f, const char *want)
{
    if (want == NULL) {
        assert_null(row->value[f]);
        assert_int_equal(row->len[f], 0);
        return;
    }
    assert_non_null(row->value[f]);
    assert_string_equal(row->value[f], want);
    assert_int_equal(row->len[f], strlen(want));
}

/* A good row, then checks line and index. */
static void expect_row(struct hd_audience *a, uint64_t line, const char *id, const char *country)
{
    struct hd_row row;
    next_row(a, &row);
    if (row.malformed != NULL)
        print_message("line %lu: %s\n", (unsigned long)row.line, row.malformed);
    assert_null(row.malformed);
    assert_int_equal(row.line, line);
    assert_value(&row, HD_F_ID, id);
    assert_value(&row, HD_F_COUNTRY, country);
}

static void expect_malformed(struct hd_audience *a, uint64_t line, const char *why)
{
    struct hd_row row;
    next_row(a, &row);
    assert_non_null(row.malformed);
    assert_string_equal(row.malformed, why);
    assert_int_equal(row.line, line);
    for (int f = 0; f < HD_F_COUNT; f++)
        assert_null(row.value[f]);
}

/* ---- CSV ------------------------------------------------------------------ */

static void test_audience_csv_reads_values(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_csv("id,email,country,age,name\n"
                 "1,ann@example.com,DE,42,Ann\n"
                 "2,,FR,,\n");
    next_row(a, &row);
    assert_int_equal(row.index, 1);
    assert_int_equal(row.line, 2);
    assert_null(row.malformed);
    assert_value(&row, HD_F_ID, "1");
    assert_value(&row, HD_F_EMAIL, "ann@example.com");
    assert_value(&row, HD_F_COUNTRY, "DE");
    assert_value(&row, HD_F_AGE, "42");
    assert_value(&row, HD_F_NAME, "Ann");
    assert_value(&row, HD_F_PUSH_TOKEN, NULL); /* no such column */
    assert_value(&row, HD_F_TIME_ZONE, NULL);
    next_row(a, &row);
    assert_int_equal(row.index, 2);
    assert_int_equal(row.line, 3);
    assert_value(&row, HD_F_EMAIL, NULL); /* empty is absent */
    assert_value(&row, HD_F_AGE, NULL);
    assert_value(&row, HD_F_NAME, NULL);
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_quotes(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_csv("\"id\",name,country\n"
                 "1,\"Doe, Jane\",DE\n"
                 "2,\"She said \"\"hi\"\"\",\"FR\"\n"
                 "3,\"\",IT\n"
                 "4, spaced ,ES\n");
    next_row(a, &row);
    assert_value(&row, HD_F_ID, "1");
    assert_value(&row, HD_F_NAME, "Doe, Jane");
    next_row(a, &row);
    assert_value(&row, HD_F_NAME, "She said \"hi\"");
    assert_value(&row, HD_F_COUNTRY, "FR");
    next_row(a, &row);
    assert_value(&row, HD_F_NAME, NULL); /* "" is empty, so absent */
    next_row(a, &row);
    assert_value(&row, HD_F_NAME, " spaced "); /* RFC 4180: spaces are data */
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_embedded_newline_keeps_line_numbers(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_csv("id,name,country\r\n"
                 "1,\"two\r\nlines\",DE\r\n"
                 "2,\"three\nmore\nlines\",FR\r\n"
                 "3,x,IT\r\n");
    next_row(a, &row);
    assert_int_equal(row.line, 2);
    assert_value(&row, HD_F_NAME, "two\r\nlines");
    assert_value(&row, HD_F_COUNTRY, "DE");
    next_row(a, &row);
    assert_int_equal(row.line, 4);
    assert_value(&row, HD_F_NAME, "three\nmore\nlines");
    expect_row(a, 7, "3", "IT");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_crlf_file(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_csv("id,country,name\r\n1,DE,Ann\r\n\r\n2,FR,\"Bo\"\r\n");
    next_row(a, &row);
    assert_int_equal(row.line, 2);
    assert_value(&row, HD_F_NAME, "Ann"); /* no stray CR */
    next_row(a, &row);
    assert_int_equal(row.line, 4);
    assert_value(&row, HD_F_NAME, "Bo");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_lone_cr_ends_a_row(void **state)
{
    struct hd_audience *a;
    (void)state;
    /* Old Mac line ends: a bare CR ends a row but not a physical line. */
    a = open_csv("id,country\n1,DE\r2,FR\n3,IT\n");
    expect_row(a, 2, "1", "DE");
    expect_row(a, 2, "2", "FR");
    expect_row(a, 3, "3", "IT");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_bom_is_skipped(void **state)
{
    struct hd_audience *a;
    (void)state;
    a = open_csv("\xEF\xBB\xBFid,country\n1,DE\n");
    expect_row(a, 2, "1", "DE");
    assert_end(a);
    assert_int_equal(hd_audience_offset(a), 3 + 11 + 5);
    hd_audience_free(a);
}

static void test_audience_csv_blank_lines_and_no_final_newline(void **state)
{
    struct hd_audience *a;
    (void)state;
    a = open_csv("\nid,country\n\n1,DE\n\n\n2,FR");
    expect_row(a, 4, "1", "DE");
    expect_row(a, 7, "2", "FR");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_renamed_columns(void **state)
{
    const char *columns[HD_F_COUNT] = {
        [HD_F_ID] = "user_id",
        [HD_F_COUNTRY] = "cc",
        [HD_F_EMAIL] = "mail",
        [HD_F_LANGUAGE] = "lang", /* not in the file: optional */
    };
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_with("extra,mail,cc,user_id,id\nx,a@example.com,DE,u1,ignored\n", (size_t)-1,
                  HD_AUDIENCE_CSV, columns);
    next_row(a, &row);
    assert_null(row.malformed);
    assert_value(&row, HD_F_ID, "u1");
    assert_value(&row, HD_F_COUNTRY, "DE");
    assert_value(&row, HD_F_EMAIL, "a@example.com");
    assert_value(&row, HD_F_LANGUAGE, NULL);
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_two_fields_one_column(void **state)
{
    const char *columns[HD_F_COUNT] = {[HD_F_ID] = "email"};
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_with("email,country\nb@example.com,SE\n", (size_t)-1, HD_AUDIENCE_CSV, columns);
    next_row(a, &row);
    assert_value(&row, HD_F_ID, "b@example.com");
    assert_value(&row, HD_F_EMAIL, "b@example.com");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_missing_id_column_is_fatal(void **state)
{
    const char *columns[HD_F_COUNT] = {[HD_F_ID] = "user_id", [HD_F_COUNTRY] = "a"};
    struct hd_err err;
    (void)state;
    err = open_fails("a,b,c\n1,2,3\n", columns);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "bad.csv:1: header has no column \"user_id\" "
                                    "(audience.fields.id); columns are: a, b, c"));
}

static void test_audience_csv_missing_country_column_is_fatal(void **state)
{
    struct hd_err err;
    (void)state;
    err = open_fails("\n\"id\",email\n1,x\n", NULL);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "bad.csv:2: header has no column \"country\" "
                                    "(audience.fields.country); columns are: id, email"));
}

static void test_audience_csv_empty_file_is_fatal(void **state)
{
    struct hd_err err;
    (void)state;
    err = open_fails("", NULL);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "no header row"));
}

static void test_audience_csv_wrong_field_count(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_csv("id,country,name\n1,DE,a,extra\n2,FR\n3,IT,c\n");
    next_row(a, &row);
    assert_string_equal(row.malformed, "expected 3 fields, found 4");
    assert_int_equal(row.line, 2);
    assert_int_equal(row.index, 1);
    assert_null(row.value[HD_F_ID]);
    expect_malformed(a, 3, "expected 3 fields, found 2");
    expect_row(a, 4, "3", "IT");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_unterminated_quote_at_eof(void **state)
{
    struct hd_audience *a;
    (void)state;
    a = open_csv("id,country\n1,DE\n2,\"FR\n3,IT\n");
    expect_row(a, 2, "1", "DE");
    expect_malformed(a, 3, "unterminated quoted field at end of file");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_long_row_is_capped(void **state)
{
    size_t big = 2 * MIB + 12345;
    char *data = malloc(big + 64);
    size_t n;
    struct hd_audience *a;
    (void)state;
    assert_non_null(data);
    n = (size_t)sprintf(data, "id,country\n1,");
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\n3,IT\n");
    a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
    expect_malformed(a, 2, "row longer than 1 MiB");
    expect_row(a, 3, "3", "IT");
    assert_end(a);
    hd_audience_free(a);
    free(data);
}

static void test_audience_csv_row_just_under_cap(void **state)
{
    /* A long but legal quoted value spanning lines is read whole. */
    size_t big = MIB - 1000;
    char *data = malloc(big + 64);
    size_t n;
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    assert_non_null(data);
    n = (size_t)sprintf(data, "id,country,name\n1,DE,\"");
    for (size_t i = 0; i < big; i++)
        data[n + i] = i % 1000 == 999 ? '\n' : 'y';
    n += big;
    n += (size_t)sprintf(data + n, "\"\n3,IT,z\n");
    a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
    next_row(a, &row);
    assert_null(row.malformed);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.len[HD_F_NAME], big);
    expect_row(a, 3 + big / 1000, "3", "IT");
    assert_end(a);
    hd_audience_free(a);
    free(data);
}

static void test_audience_csv_many_rows_cross_buffers(void **state)
{
    /* Enough rows to refill the read buffer many times, CRLF and quoted
     * newlines included, so rows straddle buffer boundaries. */
    size_t rows = 60000;
    char *data = malloc(rows * 64 + 64);
    size_t n;
    struct hd_audience *a;
    struct hd_row row;
    uint64_t line = 2;
    char want[32];
    (void)state;
    assert_non_null(data);
    n = (size_t)sprintf(data, "id,name,country\r\n");
    for (size_t i = 0; i < rows; i++) {
        if (i % 7 == 0)
            n += (size_t)sprintf(data + n, "%zu,\"multi\r\nline %zu\",DE\r\n", i, i);
        else
            n += (size_t)sprintf(data + n, "%zu,name %zu,FR\r\n", i, i);
    }
    a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
    for (size_t i = 0; i < rows; i++) {
        next_row(a, &row);
        assert_null(row.malformed);
        assert_int_equal(row.index, i + 1);
        assert_int_equal(row.line, line);
        snprintf(want, sizeof want, "%zu", i);
        assert_value(&row, HD_F_ID, want);
        line += i % 7 == 0 ? 2 : 1;
    }
    assert_end(a);
    assert_int_equal(hd_audience_offset(a), n);
    hd_audience_free(a);
    free(data);
}

/* Issue 10 finding 1: a quoted cell over 1 MiB holding line breaks must stay
 * one (invalid) row. The reader used to drop the over-long row up to the
 * next line break, even inside the quotes, so a line hidden in one person's
 * free-text cell became a row of its own that claimed another person's id
 * with the attacker's address: a 2-row file read as 4 rows. */
static void test_audience_csv_long_quoted_cell_stays_one_row(void **state)
{
    size_t big = MIB + MIB / 10;
    char *data = malloc(big + 512);
    size_t n;
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    assert_non_null(data);
    n = (size_t)sprintf(data, "id,email,country,name\n1,alice@example.org,DE,\"");
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\n2,attacker@evil.example,DE,\"\"hi\"\"\n"
                                   "more\"\n2,bob@example.org,DE,Bob\n");
    a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
    expect_malformed(a, 2, "row longer than 1 MiB");
    next_row(a, &row);
    assert_null(row.malformed);
    assert_int_equal(row.index, 2);
    assert_int_equal(row.line, 5);
    assert_value(&row, HD_F_ID, "2");
    assert_value(&row, HD_F_EMAIL, "bob@example.org");
    assert_end(a);
    assert_int_equal(hd_audience_offset(a), n);
    hd_audience_free(a);
    free(data);
}

/* The same with the cell's line breaks at every 1000 bytes, CRLF line ends
 * and an escaped quote right at the cut: the grammar, not the lines, ends
 * the row wherever the 1 MiB mark falls. */
static void test_audience_csv_long_multiline_cell_crlf(void **state)
{
    size_t big = 2 * MIB;
    char *data = malloc(big + 512);
    size_t n;
    struct hd_audience *a;
    (void)state;
    assert_non_null(data);
    n = (size_t)sprintf(data, "id,country,name\r\n1,DE,\"");
    for (size_t i = 0; i < big; i++)
        data[n + i] = i % 1000 == 998 ? '\r' : i % 1000 == 999 ? '\n' : i % 7 == 3 ? '"' : 'q';
    /* every '"' in the cell must be doubled: make the quotes pairs */
    for (size_t i = 0; i + 1 < big; i++)
        if (data[n + i] == '"')
            data[n + i + 1] = '"', i++;
    n += big;
    n += (size_t)sprintf(data + n, "\"\r\n2,FR,ok\r\n");
    a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
    expect_malformed(a, 2, "row longer than 1 MiB");
    expect_row(a, 3 + big / 1000, "2", "FR");
    assert_end(a);
    hd_audience_free(a);
    free(data);
}

/* A quote that never closes makes the rest of the file one invalid row,
 * whatever its size: nothing after it can be read as a row of its own. */
static void test_audience_csv_unclosed_quote_swallows_rest(void **state)
{
    const char filler[] = "f,NL\n";
    size_t nfill = MIB / (sizeof filler - 1) + 1000;
    char *data;
    size_t n;
    struct hd_audience *a;
    struct hd_row row;
    struct hd_err err = {0};
    (void)state;
    data = malloc(64 + nfill * (sizeof filler - 1));
    assert_non_null(data);
    n = (size_t)sprintf(data, "id,country\n1,DE\n2,\"FR\n");
    for (size_t i = 0; i < nfill; i++) {
        memcpy(data + n, filler, sizeof filler - 1);
        n += sizeof filler - 1;
    }
    n += (size_t)sprintf(data + n, "9,SE\n");
    a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
    expect_row(a, 2, "1", "DE");
    next_row(a, &row);
    assert_non_null(row.malformed);
    assert_non_null(strstr(row.malformed, "row longer than 1 MiB"));
    assert_int_equal(row.line, 3);
    assert_int_equal(hd_audience_next(a, &row, &err), 0);
    assert_int_equal(hd_audience_offset(a), n);
    hd_audience_free(a);
    free(data);
}

/* JSON Lines cannot have the same problem: a JSON string cannot hold a raw
 * line break, so a line is a record. An over-long line whose text looks like
 * further records stays one invalid row. */
static void test_audience_jsonl_long_line_stays_one_row(void **state)
{
    size_t big = MIB + 100;
    char *data = malloc(big + 512);
    size_t n;
    struct hd_audience *a;
    (void)state;
    assert_non_null(data);
    n = (size_t)sprintf(data, "{\"id\":\"1\",\"country\":\"DE\",\"name\":\"");
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\\n{\\\"id\\\":\\\"2\\\",\\\"country\\\":\\\"DE\\\"}\"}\n"
                                   "{\"id\":\"2\",\"country\":\"FR\"}\n");
    a = open_with(data, n, HD_AUDIENCE_JSONL, NULL);
    expect_malformed(a, 1, "line longer than 1 MiB");
    expect_row(a, 2, "2", "FR");
    assert_end(a);
    hd_audience_free(a);
    free(data);
}

/* libcsv alone on the same bytes, with the reader's options: rows ended. */
static void count_row(int c, void *ctx)
{
    (void)c;
    ++*(size_t *)ctx;
}

static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static size_t libcsv_rows(const char *data, size_t n)
{
    struct csv_parser p;
    size_t rows = 0;
    assert_int_equal(csv_init(&p, 0), 0);
    csv_set_space_func(&p, no_space);
    assert_int_equal(csv_parse(&p, data, n, NULL, count_row, &rows), n);
    csv_fini(&p, NULL, count_row, &rows);
    csv_free(&p);
    return rows;
}

/* The reader ends rows where its grammar scanner says; it must agree with
 * libcsv on every input (else rows could shift): random bytes from the
 * grammar's alphabet, read through the reader and through libcsv alone.
 * A disagreement shows as a fatal error or a different row count. */
static void test_audience_csv_scanner_agrees_with_libcsv(void **state)
{
    static const char alphabet[] = "a,\"\"\r\n";
    char data[600];
    uint32_t seed = 12345;
    (void)state;
    for (int round = 0; round < 1000; round++) {
        size_t n = (size_t)sprintf(data, "id,country\n");
        size_t len = 1 + (size_t)(round % 500);
        struct hd_audience *a;
        struct hd_row row;
        struct hd_err err = {0};
        size_t rows = 0;
        int rc;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            data[n++] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        a = open_with(data, n, HD_AUDIENCE_CSV, NULL);
        while ((rc = hd_audience_next(a, &row, &err)) == 1)
            rows++;
        if (rc != 0)
            print_message("round %d: %s\n", round, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(rows + 1, libcsv_rows(data, n));
        assert_int_equal(hd_audience_offset(a), n);
        hd_audience_free(a);
    }
}

/* Issue 10, finding 8: an error never quotes file content beyond a short
 * escaped excerpt. The missing-column message lists header names: a header
 * holding a secret (as /proc/self/environ's first "line" does) or terminal
 * escapes is cut and escaped; a bad JSON line's reason names the cause, not
 * the text near it. */
#define SECRET "LINKSECRET-0123456789abcdefghijklmnopqrstuvwxyz-TAIL"
static void test_audience_errors_never_echo_contents(void **state)
{
    struct hd_err err;
    struct hd_audience *a;
    struct hd_row row;
    char data[512];
    (void)state;
    snprintf(data, sizeof data, "name,HERALD_LINK_SECRET=" SECRET ",\x1b]0;owned\x07,country\n");
    err = open_fails(data, NULL);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "header has no column \"id\""));
    assert_null(strstr(err.msg, "TAIL"));
    assert_null(strchr(err.msg, '\x1b'));
    assert_null(strchr(err.msg, '\x07'));
    assert_non_null(strstr(err.msg, "\\x1b]0;owned\\x07"));
    /* many columns: at most 16 listed */
    err = open_fails("c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11,c12,c13,c14,c15,c16,c17,c18,country\n",
                     NULL);
    assert_non_null(strstr(err.msg, "c16, ... (19 columns)"));
    /* a JSON line whose bad token is a secret */
    a = open_jsonl("{\"id\": " SECRET "}\n{\"id\": \"x\", \"name\": 'a" SECRET "'}\n");
    for (int i = 0; i < 2; i++) {
        next_row(a, &row);
        assert_non_null(row.malformed);
        assert_non_null(strstr(row.malformed, "invalid JSON"));
        assert_null(strstr(row.malformed, "LINKSECRET"));
    }
    assert_end(a);
    hd_audience_free(a);
}

/* ---- separators (issue 15: forgiving input) ------------------------------- */

/* Opens CSV data with audience.delimiter set (0: detect). */
static struct hd_audience *open_delim(const char *data, char delimiter, struct hd_err *err)
{
    char *path = hd_test_write(hd_fx_dir, "d.csv", data, (size_t)-1);
    struct hd_audience_opts opts = {.path = path, .format = HD_AUDIENCE_CSV};
    struct hd_audience *a = NULL;
    opts.delimiter = delimiter;
    memset(err, 0, sizeof *err);
    if (hd_audience_open(&a, &opts, err) != 0)
        a = NULL;
    free(path);
    return a;
}

/* A spreadsheet's export in many locales: ';' between fields, found from
 * the header line; a quoted ';' stays inside its field. */
static void test_audience_csv_semicolon_detected(void **state)
{
    struct hd_err err;
    struct hd_row row;
    bool detected = false;
    struct hd_audience *a =
        open_delim("id;country;email\n1;DE;\"a;b\"\n2;AT;x@example.com\n", 0, &err);
    (void)state;
    if (a == NULL)
        print_message("open: %s\n", err.msg);
    assert_non_null(a);
    assert_int_equal(hd_audience_delimiter(a, &detected), ';');
    assert_true(detected);
    next_row(a, &row);
    assert_null(row.malformed);
    assert_value(&row, HD_F_ID, "1");
    assert_value(&row, HD_F_COUNTRY, "DE");
    assert_value(&row, HD_F_EMAIL, "a;b");
    expect_row(a, 3, "2", "AT");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_csv_tab_detected(void **state)
{
    struct hd_err err;
    struct hd_row row;
    bool detected = false;
    struct hd_audience *a = open_delim("id\tcountry\tname\n1\tDE\tAnn, B\n", 0, &err);
    (void)state;
    assert_non_null(a);
    assert_int_equal(hd_audience_delimiter(a, &detected), '\t');
    assert_true(detected);
    next_row(a, &row);
    assert_null(row.malformed);
    assert_value(&row, HD_F_COUNTRY, "DE");
    assert_value(&row, HD_F_NAME, "Ann, B");
    assert_end(a);
    hd_audience_free(a);
}

/* More commas than anything else, or a tie: the default stays. */
static void test_audience_csv_comma_stays_default(void **state)
{
    struct hd_err err;
    bool detected = true;
    struct hd_audience *a = open_delim("id,country,\"a;b;c\",d;e\n1,DE,x,y\n", 0, &err);
    (void)state;
    assert_non_null(a);
    assert_int_equal(hd_audience_delimiter(a, &detected), ',');
    assert_false(detected);
    expect_row(a, 2, "1", "DE");
    hd_audience_free(a);
}

/* audience.delimiter wins over detection, whatever the header holds. */
static void test_audience_csv_delimiter_option(void **state)
{
    struct hd_err err;
    bool detected = true;
    struct hd_audience *a = open_delim("id|country|name\n1|DE|a;b;c\n", '|', &err);
    (void)state;
    assert_non_null(a);
    assert_int_equal(hd_audience_delimiter(a, &detected), '|');
    assert_false(detected);
    expect_row(a, 2, "1", "DE");
    hd_audience_free(a);
    /* a semicolon file read with ',' as the campaign says: the header is one
     * column, and the error names the ';' it saw */
    a = open_delim("id;country\n1;DE\n", ',', &err);
    assert_null(a);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "header has no column \"id\""));
    assert_non_null(strstr(err.msg, "split at \",\" but holds \";\""));
    assert_non_null(strstr(err.msg, "set audience.delimiter"));
    /* a bad separator is a caller error */
    assert_null(open_delim("id;country\n", 'x', &err));
    assert_int_equal(err.code, HD_EX_SOFTWARE);
}

/* A separator detection does not choose: the error says which one it saw
 * and what to set. */
static void test_audience_csv_header_error_names_separator(void **state)
{
    struct hd_err err;
    (void)state;
    err = open_fails("id|country|email\n1|DE|x\n", NULL);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "header has no column \"id\""));
    assert_non_null(strstr(err.msg, "holds \"|\": if the file is separated by \"|\", set "
                                    "audience.delimiter"));
    /* detected ';' that was wrong: the message says it was detected */
    err = open_fails("id;x|country|email\n", NULL);
    assert_non_null(strstr(err.msg, "split at \";\" (detected) but holds \"|\""));
    /* no other separator in sight: still names the one in use */
    err = open_fails("user,country\n", NULL);
    assert_non_null(strstr(err.msg, "(separator \",\"; audience.delimiter sets another)"));
}

/* ---- files ---------------------------------------------------------------- */

static void test_audience_missing_file(void **state)
{
    struct hd_audience_opts opts = {.path = "/nonexistent/herald/audience.csv"};
    struct hd_audience *a = NULL;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_audience_open(&a, &opts, &err), -1);
    assert_null(a);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_non_null(strstr(err.msg, "/nonexistent/herald/audience.csv"));
    assert_non_null(strstr(err.msg, "No such file"));
}

static void test_audience_directory_is_not_input(void **state)
{
    struct hd_audience_opts opts = {.path = hd_fx_dir, .format = HD_AUDIENCE_JSONL};
    struct hd_audience *a = NULL;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_audience_open(&a, &opts, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_non_null(strstr(err.msg, hd_fx_dir));
}

static void test_audience_free_null(void **state)
{
    (void)state;
    hd_audience_free(NULL);
}

/* ---- JSON Lines ----------------------------------------------------------- */

static void test_audience_jsonl_reads_values(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_jsonl(
        "{\"id\":\"1\",\"country\":\"DE\",\"age\":42,\"email\":null,\"name\":\"\","
        "\"other\":[1,2],\"time_zone\":\"Europe/Berlin\"}\n"
        "{\"id\":\"2\",\"country\":\"FR\",\"age\":-3,\"name\":\"Z\\u00fc \\\"q\\\"\"}\n");
    next_row(a, &row);
    assert_null(row.malformed);
    assert_int_equal(row.index, 1);
    assert_int_equal(row.line, 1);
    assert_value(&row, HD_F_ID, "1");
    assert_value(&row, HD_F_COUNTRY, "DE");
    assert_value(&row, HD_F_AGE, "42");
    assert_value(&row, HD_F_EMAIL, NULL); /* null is absent */
    assert_value(&row, HD_F_NAME, NULL);  /* so is "" */
    assert_value(&row, HD_F_TIME_ZONE, "Europe/Berlin");
    next_row(a, &row);
    assert_int_equal(row.line, 2);
    assert_value(&row, HD_F_AGE, "-3");
    assert_value(&row, HD_F_NAME, "Z\xC3\xBC \"q\"");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_jsonl_renamed_keys(void **state)
{
    const char *columns[HD_F_COUNT] = {[HD_F_ID] = "uid", [HD_F_COUNTRY] = "cc"};
    struct hd_audience *a;
    (void)state;
    a = open_with("{\"uid\":7,\"cc\":\"AT\",\"id\":\"no\"}\n", (size_t)-1, HD_AUDIENCE_JSONL,
                  columns);
    expect_row(a, 1, "7", "AT");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_jsonl_blank_lines_skipped(void **state)
{
    struct hd_audience *a;
    (void)state;
    a = open_jsonl("\n  \n{\"id\":\"1\",\"country\":\"DE\"}\r\n\t\r\n\n"
                   "{\"id\":\"2\",\"country\":\"FR\"}");
    expect_row(a, 3, "1", "DE");
    expect_row(a, 6, "2", "FR");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_jsonl_invalid_json_has_column(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_jsonl("{\"id\":\"1\",\"country\":}\n{\"id\":\"2\",\"country\":\"FR\"}\n");
    next_row(a, &row);
    assert_int_equal(row.line, 1);
    assert_non_null(row.malformed);
    assert_non_null(strstr(row.malformed, "invalid JSON"));
    assert_int_equal(row.malformed_col, 21); /* the '}' */
    expect_row(a, 2, "2", "FR");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_jsonl_not_an_object(void **state)
{
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    a = open_jsonl("[1,2]\n  \"x\"\n{\"id\":\"1\",\"id\":\"2\",\"country\":\"DE\"}\n");
    next_row(a, &row);
    assert_string_equal(row.malformed, "not a JSON object");
    assert_int_equal(row.malformed_col, 1);
    next_row(a, &row);
    assert_string_equal(row.malformed, "not a JSON object");
    assert_int_equal(row.malformed_col, 3);
    /* A duplicated key is ambiguous. */
    next_row(a, &row);
    assert_non_null(row.malformed);
    assert_non_null(strstr(row.malformed, "duplicate"));
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_jsonl_wrong_types(void **state)
{
    struct hd_audience *a;
    (void)state;
    a = open_jsonl("{\"id\":\"1\",\"country\":\"DE\",\"age\":4.5}\n"
                   "{\"id\":\"1\",\"country\":\"DE\",\"age\":true}\n"
                   "{\"id\":\"1\",\"country\":[\"DE\"]}\n"
                   "{\"id\":{},\"country\":\"DE\"}\n");
    expect_malformed(a, 1, "field \"age\" is not a string or integer");
    expect_malformed(a, 2, "field \"age\" is not a string or integer");
    expect_malformed(a, 3, "field \"country\" is not a string or integer");
    expect_malformed(a, 4, "field \"id\" is not a string or integer");
    assert_end(a);
    hd_audience_free(a);
}

static void test_audience_jsonl_long_lines(void **state)
{
    /* 600 KiB: longer than the read buffer, under the cap; then 1.5 MiB. */
    size_t mid = 600 * 1024, big = 3 * MIB / 2;
    char *data = malloc(mid + big + 256);
    size_t n = 0;
    struct hd_audience *a;
    struct hd_row row;
    (void)state;
    assert_non_null(data);
    n += (size_t)sprintf(data + n, "{\"id\":\"1\",\"country\":\"DE\",\"name\":\"");
    memset(data + n, 'm', mid);
    n += mid;
    n += (size_t)sprintf(data + n, "\"}\n{\"id\":\"2\",\"name\":\"");
    memset(data + n, 'b', big);
    n += big;
    n += (size_t)sprintf(data + n, "\"}\n{\"id\":\"3\",\"country\":\"IT\"}\n");
    a = open_with(data, n, HD_AUDIENCE_JSONL, NULL);
    next_row(a, &row);
    assert_null(row.malformed);
    assert_int_equal(row.len[HD_F_NAME], mid);
    expect_malformed(a, 2, "line longer than 1 MiB");
    expect_row(a, 3, "3", "IT");
    assert_end(a);
    assert_int_equal(hd_audience_offset(a), n);
    hd_audience_free(a);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audience_csv_reads_values),
        cmocka_unit_test(test_audience_csv_quotes),
        cmocka_unit_test(test_audience_csv_embedded_newline_keeps_line_numbers),
        cmocka_unit_test(test_audience_csv_crlf_file),
        cmocka_unit_test(test_audience_csv_lone_cr_ends_a_row),
        cmocka_unit_test(test_audience_csv_bom_is_skipped),
        cmocka_unit_test(test_audience_csv_blank_lines_and_no_final_newline),
        cmocka_unit_test(test_audience_csv_renamed_columns),
        cmocka_unit_test(test_audience_csv_two_fields_one_column),
        cmocka_unit_test(test_audience_csv_missing_id_column_is_fatal),
        cmocka_unit_test(test_audience_csv_missing_country_column_is_fatal),
        cmocka_unit_test(test_audience_csv_empty_file_is_fatal),
        cmocka_unit_test(test_audience_csv_wrong_field_count),
        cmocka_unit_test(test_audience_csv_unterminated_quote_at_eof),
        cmocka_unit_test(test_audience_csv_long_row_is_capped),
        cmocka_unit_test(test_audience_csv_row_just_under_cap),
        cmocka_unit_test(test_audience_csv_many_rows_cross_buffers),
        cmocka_unit_test(test_audience_csv_long_quoted_cell_stays_one_row),
        cmocka_unit_test(test_audience_csv_long_multiline_cell_crlf),
        cmocka_unit_test(test_audience_csv_unclosed_quote_swallows_rest),
        cmocka_unit_test(test_audience_jsonl_long_line_stays_one_row),
        cmocka_unit_test(test_audience_csv_scanner_agrees_with_libcsv),
        cmocka_unit_test(test_audience_csv_semicolon_detected),
        cmocka_unit_test(test_audience_csv_tab_detected),
        cmocka_unit_test(test_audience_csv_comma_stays_default),
        cmocka_unit_test(test_audience_csv_delimiter_option),
        cmocka_unit_test(test_audience_csv_header_error_names_separator),
        cmocka_unit_test(test_audience_errors_never_echo_contents),
        cmocka_unit_test(test_audience_missing_file),
        cmocka_unit_test(test_audience_directory_is_not_input),
        cmocka_unit_test(test_audience_free_null),
        cmocka_unit_test(test_audience_jsonl_reads_values),
        cmocka_unit_test(test_audience_jsonl_renamed_keys),
        cmocka_unit_test(test_audience_jsonl_blank_lines_skipped),
        cmocka_unit_test(test_audience_jsonl_invalid_json_has_column),
        cmocka_unit_test(test_audience_jsonl_not_an_object),
        cmocka_unit_test(test_audience_jsonl_wrong_types),
        cmocka_unit_test(test_audience_jsonl_long_lines),
    };
    return cmocka_run_group_tests(tests, hd_fx_setup, hd_fx_teardown);
}
