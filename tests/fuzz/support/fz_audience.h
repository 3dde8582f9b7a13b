/* Fuzz target support: reading a whole audience file through the public
 * API (herald/audience.h) and the checks every row must pass, shared by
 * fuzz_audience_csv.c and fuzz_audience_jsonl.c. */
#ifndef HERALD_FUZZ_FZ_AUDIENCE_H
#define HERALD_FUZZ_FZ_AUDIENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/audience.h"

/* One row as returned, copied. */
struct fz_row {
    uint64_t index, line;
    bool malformed;
    char *value[HD_F_COUNT]; /* NULL when absent or empty */
    size_t len[HD_F_COUNT];
};

struct fz_rows {
    bool opened;   /* hd_audience_open succeeded */
    int open_code; /* its error code otherwise */
    int end;       /* last hd_audience_next result: 0 or -1 */
    char delim;    /* the CSV separator the reader used, when opened */
    bool detected; /* and whether it detected it */
    struct fz_row *row;
    size_t count;
};

/* Reads the file at path to its end, checking on every row: the index
 * counts 1, 2, 3...; lines never go back; every value is NUL-terminated,
 * non-empty and has its stated length; a malformed row has a reason and no
 * values; the offset grows and stays within size bytes; hd_person_check
 * refuses a malformed row, and a row it accepts has a clean id of at most
 * 256 bytes without NUL and a country. A fatal error must repeat on the
 * next call. delimiter: audience.delimiter, 0 to detect. */
void fz_audience_read(const char *path, enum hd_audience_format format,
                      const char *const columns[HD_F_COUNT], char delimiter, size_t size,
                      struct fz_rows *out);
void fz_rows_release(struct fz_rows *r);

#endif
