/* herald/synth.h - a synthetic audience for demos and benchmarks.
 *
 * Writes an audience file (CSV or JSON Lines, the columns the audience reader
 * expects) with a realistic mix of people: countries of the EU/EEA/UK
 * weighted by population, their languages and time zones, minors, people
 * outside the region, people who already objected, duplicate ids and a few
 * malformed rows. docs/synthetic-audience.md describes the mix and why each
 * share exists.
 *
 * Determinism: the output is a pure function of the options. Every row is
 * drawn from its own PRNG stream seeded by (seed, row index), so the same
 * options give byte-identical files on every platform, and a run of N rows
 * is a prefix of a run of M > N rows with the same seed and format.
 *
 * Resources: one allocation per call (generator tables and output buffers),
 * none per row; output goes through large buffers. The function keeps no
 * global state and is safe to call from several threads at once (with
 * distinct streams).
 */
#ifndef HERALD_SYNTH_H
#define HERALD_SYNTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "herald/audience.h"
#include "herald/err.h"

/* The defects a malformed row carries, one per malformed row. */
enum hd_synth_defect {
    HD_SYNTH_BAD_EMAIL,   /* address without '@' or with ".." */
    HD_SYNTH_BAD_COUNTRY, /* country "XX", a code ISO does not assign */
    HD_SYNTH_BAD_DATE,    /* impossible birth date, e.g. "2001-02-30" */
    HD_SYNTH_BAD_CONTROL, /* TAB or CR in the name */
    HD_SYNTH_BAD_UTF8,    /* invalid UTF-8 in the name (the JSONL line is then not JSON) */
    HD_SYNTH_BAD_SHAPE,   /* CSV: a field missing; JSONL: a value that is an object */
    HD_SYNTH_BAD_COUNT
};

struct hd_synth_opts {
    uint64_t rows; /* data rows, the CSV header excluded */
    uint64_t seed;
    enum hd_audience_format format;
    int ref_year, ref_month, ref_day; /* reference date for ages */
    /* Names used in error messages only; NULL means "output"/"objections". */
    const char *out_name;
    const char *objections_name;
};

/* What was written. The exclusion categories (malformed, outside_region,
 * duplicates, objected, minors) are disjoint: a row belongs to at most one,
 * so a planner's exclusion counts add up whatever order it checks them in.
 * The other counts describe properties that do not exclude a person. */
struct hd_synth_stats {
    uint64_t rows;
    uint64_t minors;         /* well-formed, in the region, under 18 at the reference date */
    uint64_t objected;       /* ids written to the objections list */
    uint64_t malformed;      /* rows with one defect, see malformed_by */
    uint64_t outside_region; /* well-formed rows from a country outside EU/EEA/UK */
    uint64_t duplicates;     /* rows repeating the id of an earlier clean row */
    uint64_t malformed_by[HD_SYNTH_BAD_COUNT];
    uint64_t no_email, no_push_token, no_contact; /* no_contact: neither */
    uint64_t idn_email;                           /* address with a non-ASCII domain */
    uint64_t non_ascii_email;                     /* address with a non-ASCII local part */
    uint64_t no_language, foreign_language, no_time_zone, no_name;
};

/* Defaults: 0 rows, seed 1, CSV, reference date 2025-06-26. */
void hd_synth_opts_init(struct hd_synth_opts *opts);

/* Parses a strict "YYYY-MM-DD" that names a real calendar date between years
 * 1900 and 9999. Returns false (outputs untouched) otherwise. */
bool hd_synth_parse_date(const char *s, int *year, int *month, int *day);

/* Writes the header (CSV) and opts->rows rows to out and, when objections is
 * not NULL, the objected ids one per line to it; flushes both but closes
 * neither. stats, when not NULL, is filled in (also on error, with what was
 * generated so far). Returns 0, or -1 with err set: HD_EX_USAGE for bad
 * options (reference date), HD_EX_IOERR when a write fails (the message names
 * opts->out_name or opts->objections_name), HD_EX_SOFTWARE when out of memory
 * or the region tables are unusable. */
int hd_synth_write(const struct hd_synth_opts *opts, FILE *out, FILE *objections,
                   struct hd_synth_stats *stats, struct hd_err *err);

#endif
