/* audience.c - streaming the audience file, CSV or JSON Lines.
 *
 * Both formats read through one fixed-size buffer; the only other memory is
 * per-row storage that is reused from row to row, so a file of any size is
 * read in constant memory (bounded by the 1 MiB row cap).
 *
 * Where a CSV row ends is decided by the CSV grammar, never by a line
 * break: a small scanner (csv_scan) follows the same states as libcsv and
 * finds the byte that ends the row, quotes taken into account. libcsv is fed
 * exactly the bytes of one row at a time (in pieces when the row spans
 * buffer refills), so it ends one row per call, at the piece's last byte; a
 * disagreement between the two is an internal error, never a silently
 * shifted row. A row over 1 MiB stops going to libcsv (whose field buffer
 * would otherwise grow with it) and the scanner alone follows it to its end:
 * it becomes ONE invalid row, however many lines its quoted cells hold.
 * (Cutting it at the next line break instead turned a line hidden in a long
 * quoted cell into a row of its own: issue 10, finding 1.)
 */
#include "herald/audience.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "herald/buf.h"
#include "herald/files.h"

#define READ_BUF_SIZE ((size_t)256 * 1024)
#define ROW_MAX ((size_t)1024 * 1024)
/* libcsv grows its field buffer by this much at a time; the default (128
 * bytes) would take thousands of reallocs to reach a long field. */
#define CSV_BLOCK ((size_t)64 * 1024)
#define NO_SLOT 0xFF

static const char row_too_long[] = "row longer than 1 MiB";
static const char row_too_long_eof[] =
    "row longer than 1 MiB: a quoted field is still open at the end of the file";
static const char line_too_long[] = "line longer than 1 MiB";
static const char unterminated[] = "unterminated quoted field at end of file";

struct hd_audience {
    enum hd_audience_format format;
    char *path;
    int fd;
    char *buf; /* READ_BUF_SIZE bytes; unread data is [pos, end) */
    size_t pos, end;
    bool eof;
    uint64_t consumed;   /* bytes handed to a parser or skipped */
    uint64_t line;       /* physical line of buf[pos] */
    uint64_t index;      /* data rows returned so far */
    struct hd_err fatal; /* kept so calls after a fatal error repeat it */

    /* Field mapping. A slot is one source column or key holding a value;
     * two fields mapped to the same column share a slot. */
    char *keys[HD_F_COUNT];
    int field_slot[HD_F_COUNT]; /* -1: the column is not in the file */
    size_t nslots;

    /* The current row: values are NUL-terminated copies in store. */
    struct hd_buf store;
    size_t slot_off[HD_F_COUNT], slot_len[HD_F_COUNT];
    bool slot_set[HD_F_COUNT];
    uint64_t row_start;
    const char *why; /* malformed reason, NULL when the row is fine */
    unsigned long why_col;
    char why_buf[256];

    /* CSV */
    char delim;          /* the field separator */
    bool delim_detected; /* chosen from the header line, not by the options */
    struct csv_parser csv;
    bool csv_inited;
    bool header_done;
    size_t ncols;             /* header columns */
    unsigned char *col_slot;  /* per header column: slot or NO_SLOT */
    struct hd_buf head_names; /* header names, each NUL-terminated */
    struct hd_buf head_offs;  /* size_t offsets into head_names */
    size_t nfields;           /* fields seen in the current row */
    uint64_t row_bytes;
    int at;            /* enum csv_at: where the scanner is in the grammar */
    bool row_open;     /* the current row has started */
    bool skipping;     /* the current row passed ROW_MAX: scanned, not parsed */
    size_t rows_ended; /* rows libcsv ended during the last feed */
    bool oom;

    /* JSONL: a line longer than the read buffer is assembled here. */
    struct hd_buf big;
};

/* XSI strerror_r into a caller buffer: strerror itself may use a shared
 * buffer, and there is one reader per thread. */
static const char *errno_text(int errnum, char *out, size_t cap)
{
    if (strerror_r(errnum, out, cap) != 0)
        snprintf(out, cap, "error %d", errnum);
    return out;
}

static void fail_errno(struct hd_audience *a, struct hd_err *err, int code, const char *what,
                       int errnum)
{
    char text[128];
    hd_err_set(err, code, "cannot %s %s: %s", what, a->path, errno_text(errnum, text, sizeof text));
}

/* Moves unread data to the front of the buffer and reads more after it. */
static int fill(struct hd_audience *a, struct hd_err *err)
{
    ssize_t n;
    if (a->pos > 0) {
        memmove(a->buf, a->buf + a->pos, a->end - a->pos);
        a->end -= a->pos;
        a->pos = 0;
    }
    do
        n = read(a->fd, a->buf + a->end, READ_BUF_SIZE - a->end);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        fail_errno(a, err, HD_EX_IOERR, "read", errno);
        return -1;
    }
    if (n == 0)
        a->eof = true;
    a->end += (size_t)n;
    return 0;
}

static void row_reset(struct hd_audience *a)
{
    hd_buf_reset(&a->store);
    memset(a->slot_set, 0, sizeof a->slot_set);
    a->nfields = 0;
    a->why = NULL;
    a->why_col = 0;
}

/* Copies a value into the row store with its NUL. */
static int store_value(struct hd_audience *a, size_t slot, const char *s, size_t len)
{
    if (hd_buf_reserve(&a->store, len + 1) != 0)
        return -1;
    a->slot_off[slot] = a->store.len;
    a->slot_len[slot] = len;
    a->slot_set[slot] = true;
    if (len)
        memcpy(a->store.data + a->store.len, s, len);
    a->store.len += len + 1;
    a->store.data[a->store.len - 1] = '\0';
    a->store.data[a->store.len] = '\0';
    return 0;
}

/* ---- CSV ------------------------------------------------------------------ */

/* RFC 4180: spaces are part of a field. libcsv trims spaces and tabs around
 * unquoted fields unless told that nothing is a space. */
static int csv_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static void csv_on_field(void *data, size_t len, void *ctx)
{
    struct hd_audience *a = ctx;
    size_t col = a->nfields++;
    if (a->oom)
        return;
    if (!a->header_done) {
        size_t off = a->head_names.len;
        if (hd_buf_append(&a->head_offs, &off, sizeof off) != 0 ||
            hd_buf_append(&a->head_names, data, len) != 0 || hd_buf_putc(&a->head_names, '\0') != 0)
            a->oom = true;
        return;
    }
    if (col < a->ncols && a->col_slot[col] != NO_SLOT)
        if (store_value(a, a->col_slot[col], data, len) != 0)
            a->oom = true;
}

static void csv_on_row(int c, void *ctx)
{
    struct hd_audience *a = ctx;
    (void)c;
    a->rows_ended++;
}

/* The CSV grammar as libcsv 3.0.3 reads it with our options (the
 * separator, ',' unless audience.delimiter or detection says otherwise, and '"',
 * CR or LF ends a row, nothing counts as a space, not strict): the state
 * before the next byte. AT_ROW: between rows (CR and LF are skipped);
 * AT_FIELD: a field starts (a '"' opens a quoted one); AT_PLAIN: inside an
 * unquoted field (a '"' is an ordinary byte); AT_QUOTED: inside a quoted
 * field (only a '"' matters); AT_QUOTE_SEEN: a '"' inside a quoted field,
 * which closes it if a ',' or line end follows; any other byte, a second
 * '"' included, continues the quoted field. tests/unit/test_audience.c
 * checks the scanner against libcsv on random inputs. */
enum csv_at { AT_ROW, AT_FIELD, AT_PLAIN, AT_QUOTED, AT_QUOTE_SEEN };

/* Follows s[0..n) from state *at; returns the bytes up to and including the
 * one that ends the row (*ended true, *at back to AT_ROW), or n. */
static size_t csv_scan(int *at, const char *s, size_t n, bool *ended, char delim)
{
    size_t i = 0;
    *ended = false;
    while (i < n) {
        if (*at == AT_QUOTED) {
            const char *q = memchr(s + i, '"', n - i);
            if (q == NULL)
                return n;
            i = (size_t)(q - s) + 1;
            *at = AT_QUOTE_SEEN;
            continue;
        }
        char c = s[i++];
        bool term = c == '\r' || c == '\n';
        switch (*at) {
        case AT_ROW:
            if (!term)
                *at = c == '"' ? AT_QUOTED : c == delim ? AT_FIELD : AT_PLAIN;
            break;
        case AT_FIELD:
            *at = c == '"' ? AT_QUOTED : c == delim ? AT_FIELD : AT_PLAIN;
            break;
        case AT_PLAIN:
            *at = c == delim ? AT_FIELD : AT_PLAIN;
            break;
        default: /* AT_QUOTE_SEEN */
            *at = c == delim ? AT_FIELD : AT_QUOTED;
            break;
        }
        if (term && *at != AT_ROW) {
            *at = AT_ROW;
            *ended = true;
            return i;
        }
    }
    return n;
}

/* Decides what a completed row is: the wrong width, or fine. */
static void csv_row_complete(struct hd_audience *a)
{
    if (a->header_done && a->nfields != a->ncols) {
        snprintf(a->why_buf, sizeof a->why_buf, "expected %zu fields, found %zu", a->ncols,
                 a->nfields);
        a->why = a->why_buf;
    }
}

/* End of input: a pending row is either an unterminated quoted field (the
 * strict-fini check tells) or a last line without a line end. */
static int csv_finish(struct hd_audience *a, struct hd_err *err)
{
    int rc;
    bool open_quote = a->at == AT_QUOTED;
    if (!a->row_open)
        return 0;
    a->row_open = false;
    a->at = AT_ROW;
    if (a->skipping) {
        a->skipping = false;
        a->why = open_quote ? row_too_long_eof : row_too_long;
        return 1;
    }
    a->rows_ended = 0;
    csv_set_opts(&a->csv, CSV_STRICT | CSV_STRICT_FINI);
    rc = csv_fini(&a->csv, csv_on_field, csv_on_row, a);
    csv_set_opts(&a->csv, 0);
    if (rc != 0) {
        /* The failed fini left the parser as it was: reset it quietly. */
        csv_fini(&a->csv, NULL, NULL, NULL);
        a->why = unterminated;
        return 1;
    }
    if (a->oom) {
        hd_err_set(err, HD_EX_IOERR, "cannot read %s: out of memory", a->path);
        return -1;
    }
    csv_row_complete(a);
    return 1;
}

static uint64_t count_lf(const char *s, size_t n)
{
    uint64_t k = 0;
    const char *e = s + n;
    while (s < e && (s = memchr(s, '\n', (size_t)(e - s))) != NULL) {
        k++;
        s++;
    }
    return k;
}

/* Reads until a row (header or data) completes. Returns 1 with the row in
 * the store (a->why set when it is malformed), 0 at end of input, -1 on a
 * fatal error. */
static int csv_read_row(struct hd_audience *a, struct hd_err *err)
{
    for (;;) {
        const char *s = a->buf + a->pos;
        size_t avail = a->end - a->pos, n;
        bool ended;

        if (avail == 0) {
            if (a->eof)
                return csv_finish(a, err);
            if (fill(a, err) != 0)
                return -1;
            continue;
        }
        if (a->at == AT_ROW) {
            /* Line ends between rows are no rows (libcsv skips them too). */
            size_t k = 0;
            while (k < avail && (s[k] == '\r' || s[k] == '\n'))
                a->line += s[k++] == '\n';
            a->pos += k;
            a->consumed += k;
            if (k == avail)
                continue;
            s += k;
            avail -= k;
            a->row_start = a->line;
            a->row_bytes = 0;
            a->row_open = true;
            a->skipping = false;
        }
        n = csv_scan(&a->at, s, avail, &ended, a->delim);
        a->pos += n;
        a->consumed += n;
        a->line += count_lf(s, n);
        if (!a->skipping && a->row_bytes + n > ROW_MAX) {
            /* Over the cap: drop what libcsv holds of the row (and reset
             * it); the scanner alone finds where the row ends. */
            csv_fini(&a->csv, NULL, NULL, NULL);
            a->skipping = true;
        }
        a->row_bytes += n;
        if (!a->skipping) {
            a->rows_ended = 0;
            if (csv_parse(&a->csv, s, n, csv_on_field, csv_on_row, a) != n || a->oom) {
                hd_err_set(err, HD_EX_IOERR, "cannot read %s: out of memory", a->path);
                return -1;
            }
            if (a->rows_ended != (ended ? 1u : 0u)) {
                hd_err_at(err, HD_EX_SOFTWARE, a->path, a->row_start, 0,
                          "internal error: the CSV reader lost track of where a row ends");
                return -1;
            }
        }
        if (!ended)
            continue;
        a->row_open = false;
        if (a->skipping) {
            a->skipping = false;
            a->why = row_too_long;
        } else {
            csv_row_complete(a);
        }
        return 1;
    }
}

/* Builds "a, b, c" for the missing-column message, truncated to fit. The
 * header is file content (it could be /proc/self/environ's secrets, or
 * terminal escapes): each name is a short escaped excerpt, and at most 16
 * are listed. */
#define HEADER_LIST_MAX 16
static void header_list(const struct hd_audience *a, char *out, size_t cap)
{
    const size_t *offs = (const size_t *)(const void *)a->head_offs.data;
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->ncols; i++) {
        char name[4 * HD_ERR_EXCERPT_MAX + 8];
        size_t nlen = (i + 1 < a->ncols ? offs[i + 1] : a->head_names.len) - offs[i] - 1;
        int n;
        if (i == HEADER_LIST_MAX) {
            snprintf(out + used, cap - used, ", ... (%zu columns)", a->ncols);
            return;
        }
        hd_err_excerpt(name, sizeof name, a->head_names.data + offs[i], nlen, HD_ERR_EXCERPT_MAX);
        n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", name);
        if (n < 0 || (size_t)n >= cap - used) {
            if (cap > 4)
                memcpy(out + cap - 4, "...", 4);
            return;
        }
        used += (size_t)n;
    }
}

/* How a separator is named in messages: a TAB is invisible. */
static const char *delim_name(char d)
{
    switch (d) {
    case '\t':
        return "tab";
    case ';':
        return "\";\"";
    case '|':
        return "\"|\"";
    case ':':
        return "\":\"";
    default:
        return "\",\"";
    }
}

/* A separator other than the one in use that a header name holds: the
 * likely reason a mapped column was not found ("id;country" read with ','
 * is one column). 0 when none. */
static char other_separator(const struct hd_audience *a)
{
    static const char seps[] = ";\t|,:";
    for (const char *c = seps; *c; c++)
        if (*c != a->delim && memchr(a->head_names.data, *c, a->head_names.len) != NULL)
            return *c;
    return 0;
}

static int csv_take_header(struct hd_audience *a, struct hd_err *err)
{
    const size_t *offs;
    char list[HD_ERR_MSG_MAX];
    a->ncols = a->nfields;
    a->col_slot = malloc(a->ncols ? a->ncols : 1);
    if (a->col_slot == NULL) {
        hd_err_set(err, HD_EX_IOERR, "cannot read %s: out of memory", a->path);
        return -1;
    }
    memset(a->col_slot, NO_SLOT, a->ncols);
    a->nslots = 0;
    offs = (const size_t *)(const void *)a->head_offs.data;
    for (int f = 0; f < HD_F_COUNT; f++) {
        size_t klen = strlen(a->keys[f]);
        a->field_slot[f] = -1;
        for (size_t i = 0; i < a->ncols; i++) {
            const char *name = a->head_names.data + offs[i];
            size_t nlen = (i + 1 < a->ncols ? offs[i + 1] : a->head_names.len) - offs[i] - 1;
            if (nlen != klen || memcmp(name, a->keys[f], klen) != 0)
                continue;
            if (a->col_slot[i] == NO_SLOT)
                a->col_slot[i] = (unsigned char)a->nslots++;
            a->field_slot[f] = a->col_slot[i];
            break;
        }
        if (a->field_slot[f] < 0 && (f == HD_F_ID || f == HD_F_COUNTRY)) {
            char seen = other_separator(a), hint[192];
            header_list(a, list, sizeof list);
            if (seen != 0)
                snprintf(hint, sizeof hint,
                         "; the header was split at %s%s but holds %s: if the file is separated "
                         "by %s, set audience.delimiter",
                         delim_name(a->delim), a->delim_detected ? " (detected)" : "",
                         delim_name(seen), delim_name(seen));
            else
                snprintf(hint, sizeof hint, " (separator %s%s; audience.delimiter sets another)",
                         delim_name(a->delim), a->delim_detected ? ", detected" : "");
            hd_err_at(err, HD_EX_DATAERR, a->path, a->row_start, 0,
                      "header has no column \"%s\" (audience.fields.%s); columns are: %s%s",
                      a->keys[f], hd_field_names[f], list, hint);
            return -1;
        }
    }
    a->header_done = true;
    hd_buf_release(&a->head_names);
    hd_buf_release(&a->head_offs);
    return 0;
}

/* Picks the separator from the header line (the first line, outside
 * quotes, within the first buffer): ';' or TAB when it has more of that
 * than commas, else ','. Spreadsheets in many locales write ';'. */
static char csv_detect(const char *s, size_t n)
{
    size_t comma = 0, semi = 0, tab = 0;
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"')
            quoted = !quoted;
        else if (quoted)
            continue;
        else if (c == '\n' || c == '\r')
            break;
        else if (c == ',')
            comma++;
        else if (c == ';')
            semi++;
        else if (c == '\t')
            tab++;
    }
    if (semi > comma && semi >= tab)
        return ';';
    if (tab > comma && tab > semi)
        return '\t';
    return ',';
}

static int csv_open(struct hd_audience *a, char delimiter, struct hd_err *err)
{
    int rc;
    if (delimiter != 0) {
        a->delim = delimiter;
    } else {
        a->delim = csv_detect(a->buf + a->pos, a->end - a->pos);
        a->delim_detected = a->delim != ',';
    }
    if (csv_init(&a->csv, 0) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot set up the CSV parser");
        return -1;
    }
    a->csv_inited = true;
    csv_set_delim(&a->csv, (unsigned char)a->delim);
    csv_set_space_func(&a->csv, csv_no_space);
    csv_set_blk_size(&a->csv, CSV_BLOCK);
    rc = csv_read_row(a, err);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        hd_err_at(err, HD_EX_DATAERR, a->path, 0, 0, "no header row (the file is empty)");
        return -1;
    }
    if (a->why == row_too_long || a->why == row_too_long_eof || a->why == unterminated) {
        hd_err_at(err, HD_EX_DATAERR, a->path, a->row_start, 0, "bad header row: %s", a->why);
        return -1;
    }
    return csv_take_header(a, err);
}

/* ---- JSON Lines ----------------------------------------------------------- */

/* Returns the next line without its LF: in place when it fits the read
 * buffer, else assembled in a->big; a line over ROW_MAX comes back empty with
 * *too_long set. 1 with a line, 0 at end of input, -1 on error. */
static int jsonl_line(struct hd_audience *a, const char **out, size_t *len, bool *too_long,
                      struct hd_err *err)
{
    bool over = false;
    hd_buf_reset(&a->big);
    for (;;) {
        const char *s = a->buf + a->pos;
        size_t avail = a->end - a->pos;
        const char *nl = avail ? memchr(s, '\n', avail) : NULL;
        size_t n = nl ? (size_t)(nl - s) : avail;
        if (nl == NULL && !a->eof && (a->pos > 0 || a->end < READ_BUF_SIZE)) {
            if (fill(a, err) != 0)
                return -1;
            continue;
        }
        if (nl == NULL && avail == 0 && a->big.len == 0 && !over)
            return 0; /* eof */
        a->pos += n + (nl != NULL);
        a->consumed += n + (nl != NULL);
        if (nl != NULL)
            a->line++;
        if (a->big.len == 0 && !over && (nl != NULL || a->eof)) {
            *out = s;
            *len = n;
            *too_long = false;
            return 1;
        }
        if (!over && a->big.len + n > ROW_MAX) {
            over = true;
            hd_buf_reset(&a->big);
        } else if (!over && hd_buf_append(&a->big, s, n) != 0) {
            hd_err_set(err, HD_EX_IOERR, "cannot read %s: out of memory", a->path);
            return -1;
        }
        if (nl != NULL || a->eof) {
            *out = over ? "" : a->big.data;
            *len = over ? 0 : a->big.len;
            *too_long = over;
            return 1;
        }
    }
}

static void jsonl_parse(struct hd_audience *a, const char *s, size_t n, size_t lead)
{
    json_error_t jerr;
    /* DECODE_ANY so that a scalar line is reported as "not a JSON object"
     * rather than as a syntax error. */
    json_t *root = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /* jansson ends lexer errors with " near '<token>'": row content,
         * which the reason must never echo (it could be a secret, and it
         * would make every bad row a cause of its own). */
        char *near = strstr(jerr.text, " near '");
        if (near != NULL)
            *near = '\0';
        snprintf(a->why_buf, sizeof a->why_buf, "invalid JSON: %s", jerr.text);
        a->why = a->why_buf;
        a->why_col = jerr.position > 0 ? (unsigned long)jerr.position : 1;
        return;
    }
    if (!json_is_object(root)) {
        a->why = "not a JSON object";
        a->why_col = (unsigned long)lead + 1;
        goto done;
    }
    for (int f = 0; f < HD_F_COUNT; f++) {
        json_t *v = json_object_get(root, a->keys[f]);
        char num[32];
        const char *text;
        size_t len;
        if (v == NULL || json_is_null(v))
            continue;
        if (json_is_string(v)) {
            text = json_string_value(v);
            len = json_string_length(v);
        } else if (json_is_integer(v)) {
            int k = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            text = num;
            len = k > 0 ? (size_t)k : 0;
        } else {
            snprintf(a->why_buf, sizeof a->why_buf, "field \"%.200s\" is not a string or integer",
                     a->keys[f]);
            a->why = a->why_buf;
            goto done;
        }
        /* Keys are per field, so no two fields share a slot here. */
        if (store_value(a, (size_t)f, text, len) != 0) {
            a->oom = true;
            goto done;
        }
    }
done:
    json_decref(root);
}

static int jsonl_read_row(struct hd_audience *a, struct hd_err *err)
{
    for (;;) {
        uint64_t start = a->line;
        const char *s;
        size_t n, lead = 0;
        bool too_long;
        int rc = jsonl_line(a, &s, &n, &too_long, err);
        if (rc <= 0)
            return rc;
        a->row_start = start;
        if (too_long) {
            a->why = line_too_long;
            return 1;
        }
        while (lead < n && (s[lead] == ' ' || s[lead] == '\t' || s[lead] == '\r'))
            lead++;
        if (lead == n)
            continue; /* blank line: not a row */
        jsonl_parse(a, s, n, lead);
        if (a->oom) {
            hd_err_set(err, HD_EX_IOERR, "cannot read %s: out of memory", a->path);
            return -1;
        }
        return 1;
    }
}

/* ---- public --------------------------------------------------------------- */

int hd_audience_open(struct hd_audience **out, const struct hd_audience_opts *opts,
                     struct hd_err *err)
{
    struct hd_audience *a = NULL;
    int rc = -1;

    *out = NULL;
    if (opts == NULL || opts->path == NULL ||
        (opts->format != HD_AUDIENCE_CSV && opts->format != HD_AUDIENCE_JSONL)) {
        hd_err_set(err, HD_EX_SOFTWARE, "hd_audience_open: bad options");
        return -1;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL)
        goto oom;
    a->fd = -1;
    a->format = opts->format;
    a->line = 1;
    a->path = strdup(opts->path);
    a->buf = malloc(READ_BUF_SIZE);
    if (a->path == NULL || a->buf == NULL)
        goto oom;
    for (int f = 0; f < HD_F_COUNT; f++) {
        /* JSONL looks keys up on every row: keep our own copies. */
        a->keys[f] = strdup(opts->columns[f] ? opts->columns[f] : hd_field_names[f]);
        if (a->keys[f] == NULL)
            goto oom;
        a->field_slot[f] = f;
    }
    a->nslots = HD_F_COUNT;

    /* Never blocks, a regular file only, not procfs (herald/files.h). */
    a->fd = hd_input_open(a->path, HD_IN_AUDIENCE, "audience file", NULL, err);
    if (a->fd < 0)
        goto done;
    (void)posix_fadvise(a->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    /* The BOM check needs three bytes; short reads only happen on pipes. */
    while (!a->eof && a->end < 3)
        if (fill(a, err) != 0)
            goto done;
    if (a->end >= 3 && memcmp(a->buf, "\xEF\xBB\xBF", 3) == 0) {
        a->pos = 3;
        a->consumed = 3;
    }
    if (opts->delimiter != 0 && opts->delimiter != ',' && opts->delimiter != ';' &&
        opts->delimiter != '\t' && opts->delimiter != '|') {
        hd_err_set(err, HD_EX_SOFTWARE, "hd_audience_open: bad delimiter");
        goto done;
    }
    a->delim = ',';
    if (a->format == HD_AUDIENCE_CSV && csv_open(a, opts->delimiter, err) != 0)
        goto done;
    *out = a;
    a = NULL;
    rc = 0;
    goto done;
oom:
    hd_err_set(err, HD_EX_IOERR, "cannot open %s: out of memory", opts->path);
done:
    hd_audience_free(a);
    return rc;
}

int hd_audience_next(struct hd_audience *a, struct hd_row *row, struct hd_err *err)
{
    int rc;
    if (a->fatal.code != 0) {
        if (err != NULL)
            *err = a->fatal;
        return -1;
    }
    row_reset(a);
    rc = a->format == HD_AUDIENCE_CSV ? csv_read_row(a, &a->fatal) : jsonl_read_row(a, &a->fatal);
    if (rc < 0) {
        if (a->fatal.code == 0)
            hd_err_set(&a->fatal, HD_EX_SOFTWARE, "cannot read %s", a->path);
        if (err != NULL)
            *err = a->fatal;
        return -1;
    }
    if (rc == 0)
        return 0;
    memset(row, 0, sizeof *row);
    row->index = ++a->index;
    row->line = a->row_start;
    if (a->why != NULL) {
        /* Values of a malformed row are not trustworthy: none are given. */
        row->malformed = a->why;
        row->malformed_col = a->why_col;
        return 1;
    }
    for (int f = 0; f < HD_F_COUNT; f++) {
        int slot = a->field_slot[f];
        if (slot < 0 || !a->slot_set[slot] || a->slot_len[slot] == 0)
            continue;
        row->value[f] = a->store.data + a->slot_off[slot];
        row->len[f] = a->slot_len[slot];
    }
    return 1;
}

char hd_audience_delimiter(const struct hd_audience *a, bool *detected)
{
    if (detected != NULL)
        *detected = a->delim_detected;
    return a->delim;
}

uint64_t hd_audience_offset(const struct hd_audience *a)
{
    return a->consumed;
}

void hd_audience_free(struct hd_audience *a)
{
    if (a == NULL)
        return;
    if (a->fd >= 0)
        close(a->fd);
    if (a->csv_inited)
        csv_free(&a->csv);
    for (int f = 0; f < HD_F_COUNT; f++)
        free(a->keys[f]);
    free(a->col_slot);
    hd_buf_release(&a->head_names);
    hd_buf_release(&a->head_offs);
    hd_buf_release(&a->store);
    hd_buf_release(&a->big);
    free(a->buf);
    free(a->path);
    free(a);
}
