/* herald/metrics.h - Prometheus metrics of a running dispatcher, and the
 * HTTP endpoint that serves them.
 *
 * A registry holds metric families (counter, gauge, histogram), each with a
 * fixed list of label names, and their series, one per combination of label
 * values. Labels are bounded by design: wave, channel, country, outcome or
 * state, never a person, address or token (docs/metrics.md). A family holds
 * at most HD_METRICS_MAX_SERIES series; past that an update is dropped and
 * counted in herald_metrics_series_dropped_total, so a bug cannot make the
 * registry grow without bound.
 *
 * The text it renders is the Prometheus exposition format 0.0.4: per family
 * "# HELP" and "# TYPE", then one line per series in the order the series
 * first appeared, label values escaped (\\ \" \n), numbers as integers when
 * they are whole. Histograms have cumulative _bucket{le=...} lines, +Inf
 * included, then _sum and _count.
 *
 * Lifetimes: hd_metrics_create/destroy; hd_metrics_server_create/destroy
 * (the server borrows the registry: destroy the server first).
 * Thread-safety: every function may be called from any thread; updates and
 * rendering take the registry's mutex (an update is a hash lookup and an
 * add). Defining families is for start-up, before the server is created.
 * Errors: 0 or -1 with err (HD_EX_SOFTWARE for memory and misuse,
 * HD_EX_USAGE for a bad listen address, HD_EX_UNAVAILABLE for one that
 * cannot be bound). Updates cannot fail: a dropped update is counted.
 */
#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

#define HD_METRICS_MAX_LABELS 4
#define HD_METRICS_MAX_SERIES 4096
#define HD_METRICS_MAX_BUCKETS 16

enum hd_metric_kind { HD_METRIC_COUNTER, HD_METRIC_GAUGE, HD_METRIC_HISTOGRAM };

struct hd_metric_def {
    const char *name; /* herald_..., counters ending in _total, base units */
    const char *help; /* one line */
    enum hd_metric_kind kind;
    const char *labels[HD_METRICS_MAX_LABELS + 1]; /* NULL-terminated label names */
    const double *buckets; /* histogram: upper bounds, ascending, without +Inf */
    size_t nbuckets;
};

struct hd_metrics;

int hd_metrics_create(struct hd_metrics **out, struct hd_err *err);
/* NULL is a no-op. */
void hd_metrics_destroy(struct hd_metrics *m);

/* Adds a family; returns its id (>= 0), or -1 with err for a name that is
 * not a valid metric name or is taken, a bad label name, more than
 * HD_METRICS_MAX_LABELS labels, or bad buckets. */
int hd_metrics_define(struct hd_metrics *m, const struct hd_metric_def *def, struct hd_err *err);

/* values: one per label of the family, in its order (NULL for a family
 * without labels). A NULL value is written as "". */
void hd_metrics_add(struct hd_metrics *m, int id, const char *const *values, double delta);
void hd_metrics_set(struct hd_metrics *m, int id, const char *const *values, double v);
void hd_metrics_observe(struct hd_metrics *m, int id, const char *const *values, double v);

/* Appends the exposition text to out. Returns 0, or -1 (no memory). */
int hd_metrics_render(struct hd_metrics *m, struct hd_buf *out);

/* ---- the endpoint ---- */

struct hd_metrics_server;

/* Serves GET /metrics on listen ("HOST:PORT", HOST an IPv4 or IPv6 literal
 * or "localhost"; port 0 picks a free one, see hd_metrics_server_port) from
 * a thread of its own (libmicrohttpd). With a token (copied), a request
 * must carry "Authorization: Bearer TOKEN" (else 401); without one the
 * listen address must be a loopback one, so figures are never open to a
 * network by accident. Other paths answer 404, other methods 405. */
int hd_metrics_server_create(struct hd_metrics_server **out, struct hd_metrics *m,
                             const char *listen, const char *token, struct hd_err *err);
/* Stops serving and frees; NULL is a no-op. */
void hd_metrics_server_destroy(struct hd_metrics_server *s);
/* The port it listens on. */
uint16_t hd_metrics_server_port(const struct hd_metrics_server *s);

#endif
