/* Fuzz target: audience CSV rows through the public reader
 * (herald/audience.h: hd_audience_open/next, hd_person_check).
 *
 * Input: the first byte picks the field mapping (bit 0: the campaign's own
 * column names; else "person" for id and "mail" for both email and name,
 * so two fields share a column) and the separator (bits 1-3: 0-3 detect it
 * from the header line, 4-7 audience.delimiter ',' ';' TAB '|'), the rest
 * is the file. A reference detection written here from the documented rule
 * (audience-format.md, "CSV") must choose what the reader chose. Every row passes the
 * checks of fz_audience_read. Then, when the file is strict RFC 4180 (no
 * quote inside an unquoted field, every quoted field closed and followed by
 * a comma or a line end), a reference reader written here from RFC 4180
 * decides the outcome and the reader must agree exactly: opening fails
 * exactly when there is no header or it lacks the id or country column;
 * the same number of rows; each row starting on the same physical line;
 * malformed exactly when its field count differs from the header's; and
 * each mapped value equal to the cell of the first column of that name
 * (NULL when empty). This is what keeps one person's cell from becoming
 * another person's row (issue 10, finding 1), for inputs up to -max_len. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "fz_audience.h"
#include "herald/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cell {
    size_t off, len; /* into the reference's text buffer */
};

struct rec {
    uint64_t line;
    size_t first, n; /* cells [first, first + n) */
};

struct ref {
    struct hd_buf text;
    struct cell *cells;
    size_t ncells, capcells;
    struct rec *recs;
    size_t nrecs, caprecs;
};

static void add_cell(struct ref *r, size_t off, size_t len)
{
    if (r->ncells == r->capcells) {
        r->capcells = r->capcells ? 2 * r->capcells : 64;
        r->cells = realloc(r->cells, r->capcells * sizeof *r->cells);
        FZ_CHECK(r->cells != NULL, "oom");
    }
    r->cells[r->ncells++] = (struct cell){off, len};
}

/* Parses s as RFC 4180 with CR, LF or CRLF line ends and blank lines
 * skipped; false when it is not strict. */
static bool reference(const char *s, size_t n, char sep, struct ref *r)
{
    size_t i = 0;
    uint64_t line = 1;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n) {
        if (s[i] == '\r' || s[i] == '\n') { /* a blank line is not a record */
            line += s[i] == '\n';
            i++;
            continue;
        }
        if (r->nrecs == r->caprecs) {
            r->caprecs = r->caprecs ? 2 * r->caprecs : 16;
            r->recs = realloc(r->recs, r->caprecs * sizeof *r->recs);
            FZ_CHECK(r->recs != NULL, "oom");
        }
        struct rec *rec = &r->recs[r->nrecs++];
        rec->line = line;
        rec->first = r->ncells;
        for (;;) { /* one field */
            size_t off = r->text.len;
            if (i < n && s[i] == '"') {
                i++;
                for (;;) {
                    if (i >= n)
                        return false; /* unterminated */
                    if (s[i] == '"') {
                        if (i + 1 < n && s[i + 1] == '"') {
                            hd_buf_putc(&r->text, '"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    line += s[i] == '\n';
                    hd_buf_putc(&r->text, s[i++]);
                }
                if (i < n && s[i] != sep && s[i] != '\r' && s[i] != '\n')
                    return false; /* text after the closing quote */
            } else {
                while (i < n && s[i] != sep && s[i] != '\r' && s[i] != '\n') {
                    if (s[i] == '"')
                        return false; /* a quote inside an unquoted field */
                    hd_buf_putc(&r->text, s[i++]);
                }
            }
            add_cell(r, off, r->text.len - off);
            if (i < n && s[i] == sep) {
                i++;
                continue;
            }
            break; /* line end or end of input */
        }
        rec->n = r->ncells - rec->first;
        /* CR, LF or CRLF ends the record; lines are counted by LF. */
        if (i < n && s[i] == '\r')
            i++;
        else if (i < n && s[i] == '\n') {
            line++;
            i++;
        }
    }
    return true;
}

/* The documented rule: on the header line (after a BOM, up to the first
 * line end outside quotes), ';' or TAB when there are more of it than
 * commas (';' before TAB on a tie between them), else ','. */
static char reference_separator(const char *s, size_t n)
{
    size_t count[3] = {0, 0, 0}; /* ',' ';' TAB */
    bool quoted = false;
    size_t i = n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    for (; i < n; i++) {
        if (s[i] == '"')
            quoted = !quoted;
        if (quoted || s[i] == '"')
            continue;
        if (s[i] == '\r' || s[i] == '\n')
            break;
        count[0] += s[i] == ',';
        count[1] += s[i] == ';';
        count[2] += s[i] == '\t';
    }
    if (count[1] > count[0] && count[1] >= count[2])
        return ';';
    if (count[2] > count[0] && count[2] > count[1])
        return '\t';
    return ',';
}

static const char *cell_text(const struct ref *r, size_t c)
{
    return r->text.data ? r->text.data + r->cells[c].off : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const own[HD_F_COUNT] = {NULL};
    static const char *const mapped[HD_F_COUNT] = {
        [HD_F_ID] = "person", [HD_F_EMAIL] = "mail", [HD_F_NAME] = "mail"};
    if (size < 1)
        return 0;
    static const char seps[4] = {',', ';', '\t', '|'};
    const char *const *columns = data[0] & 1 ? own : mapped;
    char option = data[0] & 8 ? seps[(data[0] >> 1) & 3] : 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    const char *path = fz_write("audience.csv", s, n);
    struct fz_rows got;
    struct ref r = {.text = HD_BUF_INIT};

    char sep = option ? option : reference_separator(s, n);
    fz_audience_read(path, HD_AUDIENCE_CSV, columns, option, n, &got);
    if (got.opened)
        FZ_CHECK(got.delim == sep && got.detected == (option == 0 && sep != ','),
                 "separator 0x%02x (detected %d), reference 0x%02x", (unsigned)got.delim,
                 got.detected, (unsigned)sep);
    if (!reference(s, n, sep, &r))
        goto done;

    /* The header: the first record; the columns the fields map to. */
    long col[HD_F_COUNT];
    bool header_ok = r.nrecs > 0;
    for (int f = 0; f < HD_F_COUNT; f++) {
        const char *key = columns[f] ? columns[f] : hd_field_names[f];
        col[f] = -1;
        for (size_t c = 0; header_ok && c < r.recs[0].n; c++) {
            size_t k = r.recs[0].first + c;
            if (r.cells[k].len == strlen(key) && memcmp(cell_text(&r, k), key, strlen(key)) == 0) {
                col[f] = (long)c;
                break;
            }
        }
        if ((f == HD_F_ID || f == HD_F_COUNTRY) && col[f] < 0)
            header_ok = false;
    }
    FZ_CHECK(got.opened == header_ok, "open %s, reference %s (code %d)",
             got.opened ? "succeeded" : "failed", header_ok ? "succeeds" : "fails", got.open_code);
    if (!header_ok)
        goto done;
    FZ_CHECK(got.end == 0, "fatal error on a well-formed file");
    FZ_CHECK(got.count == r.nrecs - 1, "%zu rows, reference %zu", got.count, r.nrecs - 1);
    for (size_t i = 0; i < got.count; i++) {
        const struct rec *rec = &r.recs[i + 1];
        const struct fz_row *row = &got.row[i];
        FZ_CHECK(row->line == rec->line, "row %zu on line %llu, reference %llu", i + 1,
                 (unsigned long long)row->line, (unsigned long long)rec->line);
        FZ_CHECK(row->malformed == (rec->n != r.recs[0].n),
                 "row %zu malformed %d, %zu fields of %zu", i + 1, row->malformed, rec->n,
                 r.recs[0].n);
        if (row->malformed)
            continue;
        for (int f = 0; f < HD_F_COUNT; f++) {
            size_t k = rec->first + (size_t)col[f];
            bool empty = col[f] < 0 || r.cells[k].len == 0;
            FZ_CHECK(empty ? row->value[f] == NULL
                           : row->value[f] != NULL && row->len[f] == r.cells[k].len &&
                                 memcmp(row->value[f], cell_text(&r, k), row->len[f]) == 0,
                     "row %zu field %s differs from the reference", i + 1, hd_field_names[f]);
        }
    }
done:
    fz_rows_release(&got);
    hd_buf_release(&r.text);
    free(r.cells);
    free(r.recs);
    return 0;
}
