/* Fuzz target: audience JSON Lines rows through the public reader
 * (herald/audience.h: hd_audience_open/next, hd_person_check).
 *
 * Input: the first byte picks the field mapping (bit 0: the campaign's own
 * key names; else "person" for id and "mail" for both email and name), the
 * rest is the file. Every row passes the checks of fz_audience_read. Then a
 * reference written here splits the file into lines itself and reads each
 * line on its own with jansson, and the reader must agree: a row for every
 * line that is not blank (spaces, tabs, CR), on that line; malformed
 * exactly when the line is not a JSON object (duplicate keys refused) or a
 * mapped key holds something other than a string, integer or null; and
 * each mapped value equal to the string, or the integer in decimal (NULL
 * when null, absent or empty). So no line can be split, merged, skipped or
 * credited to another line. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "fz_audience.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const own[HD_F_COUNT] = {NULL};
    static const char *const mapped[HD_F_COUNT] = {
        [HD_F_ID] = "person", [HD_F_EMAIL] = "mail", [HD_F_NAME] = "mail"};
    if (size < 1)
        return 0;
    const char *const *columns = data[0] & 1 ? own : mapped;
    const char *s = (const char *)data + 1;
    size_t n = size - 1, start = 0, row = 0;
    uint64_t line = 1;
    const char *path = fz_write("audience.jsonl", s, n);
    struct fz_rows got;

    fz_audience_read(path, HD_AUDIENCE_JSONL, columns, 0, n, &got);
    FZ_CHECK(got.opened, "open failed (code %d)", got.open_code);
    FZ_CHECK(got.end == 0, "fatal error reading a small file");
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    while (start < n) {
        const char *nl = memchr(s + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - s) : n, k = start;
        while (k < end && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
            k++;
        if (k < end) {
            FZ_CHECK(row < got.count, "only %zu rows, line %llu is not blank", got.count,
                     (unsigned long long)line);
            const struct fz_row *r = &got.row[row++];
            FZ_CHECK(r->line == line, "row %zu on line %llu, reference %llu", row,
                     (unsigned long long)r->line, (unsigned long long)line);
            json_error_t jerr;
            json_t *root =
                json_loadb(s + start, end - start, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
            bool bad = root == NULL || !json_is_object(root);
            for (int f = 0; !bad && f < HD_F_COUNT; f++) {
                json_t *v = json_object_get(root, columns[f] ? columns[f] : hd_field_names[f]);
                bad = v != NULL && !json_is_null(v) && !json_is_string(v) && !json_is_integer(v);
            }
            FZ_CHECK(r->malformed == bad, "line %llu malformed %d, reference %d",
                     (unsigned long long)line, r->malformed, bad);
            for (int f = 0; !bad && f < HD_F_COUNT; f++) {
                json_t *v = json_object_get(root, columns[f] ? columns[f] : hd_field_names[f]);
                char num[32];
                const char *want = NULL;
                size_t wlen = 0;
                if (json_is_string(v)) {
                    want = json_string_value(v);
                    wlen = json_string_length(v);
                } else if (json_is_integer(v)) {
                    wlen = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                            json_integer_value(v));
                    want = num;
                }
                if (wlen == 0)
                    FZ_CHECK(r->value[f] == NULL, "line %llu: %s should be absent",
                             (unsigned long long)line, hd_field_names[f]);
                else
                    FZ_CHECK(r->value[f] != NULL && r->len[f] == wlen &&
                                 memcmp(r->value[f], want, wlen) == 0,
                             "line %llu: %s differs", (unsigned long long)line, hd_field_names[f]);
            }
            json_decref(root);
        }
        line++;
        start = end + 1;
    }
    FZ_CHECK(row == got.count, "%zu rows, reference %zu", got.count, row);
    fz_rows_release(&got);
    return 0;
}
