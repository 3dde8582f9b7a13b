/* herald/report.h - the campaign report a regulator or a manager reads:
 * one self-contained HTML file (no network, no script: inline CSS and SVG
 * drawn here), and the same figures as CSV and JSON (docs/report.md).
 *
 * The writers take the report's model, a JSON document whose shape
 * docs/report.md specifies ("format": "herald-report/1"): the campaign,
 * per country and language the people in scope, excluded by reason,
 * objected, reached and not reached, per channel the deliveries by state
 * with the first and last acceptance; the events (waves, pauses with who
 * and why, halts, revisions); sends over time; the notice texts per
 * language; the proof bundle's root. The JSON output is the model itself.
 *
 * Output is deterministic: the same model gives the same bytes (sorted
 * keys, fixed number formats, times in UTC from the data, never the
 * clock), so the report's SHA-256 can go into a proof manifest.
 *
 * Thread-safety: pure functions. Errors: 0 or -1 with err (HD_EX_DATAERR
 * for a model that lacks what the format requires, naming it;
 * HD_EX_SOFTWARE for memory). */
#ifndef HERALD_REPORT_H
#define HERALD_REPORT_H

#include <jansson.h>

#include "herald/buf.h"
#include "herald/err.h"

#define HD_REPORT_FORMAT "herald-report/1"

/* Appends the HTML report of model to out. */
int hd_report_html(const json_t *model, struct hd_buf *out, struct hd_err *err);
/* Appends one CSV line per country, language and channel (RFC 4180, CRLF,
 * a header line first; columns in docs/report.md). */
int hd_report_csv(const json_t *model, struct hd_buf *out, struct hd_err *err);
/* Appends the model as JSON (sorted keys, two-space indent, a final newline). */
int hd_report_json(const json_t *model, struct hd_buf *out, struct hd_err *err);

#endif
