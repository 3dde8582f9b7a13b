/* core/metrics/metrics.c - the metrics registry and its text exposition
 * (herald/metrics.h). */
#include "herald/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/hash.h"

struct series {
    char *values[HD_METRICS_MAX_LABELS];
    uint64_t hash;
    double value; /* counter, gauge; a histogram's sum */
    uint64_t count;
    uint64_t *buckets; /* histogram: per bucket, not cumulative */
};

struct family {
    char *name, *help;
    enum hd_metric_kind kind;
    char *labels[HD_METRICS_MAX_LABELS];
    size_t nlabels;
    double buckets[HD_METRICS_MAX_BUCKETS];
    size_t nbuckets;
    struct series *series;
    size_t nseries, cap;
    size_t *table; /* open addressing: index + 1 into series, 0 empty */
    size_t table_cap;
};

struct hd_metrics {
    pthread_mutex_t mu;
    struct family *families;
    size_t nfamilies;
    int dropped; /* the family counting dropped updates */
};

static bool name_ok(const char *s, bool metric)
{
    if (s == NULL || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                     (metric && *p == ':');
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return false;
    }
    return !(s[0] == '_' && s[1] == '_'); /* reserved for Prometheus */
}

static void family_finish(struct family *f)
{
    free(f->name);
    free(f->help);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    for (size_t i = 0; i < f->nseries; i++) {
        for (size_t l = 0; l < f->nlabels; l++)
            free(f->series[i].values[l]);
        free(f->series[i].buckets);
    }
    free(f->series);
    free(f->table);
}

int hd_metrics_create(struct hd_metrics **out, struct hd_err *err)
{
    struct hd_metrics *m = calloc(1, sizeof *m);
    *out = NULL;
    if (m == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the metrics");
        return -1;
    }
    static const struct hd_metric_def dropped = {
        "herald_metrics_series_dropped_total",
        "Metric updates dropped because a family reached its series limit",
        HD_METRIC_COUNTER,
        {NULL},
        NULL,
        0};
    if ((m->dropped = hd_metrics_define(m, &dropped, err)) < 0) {
        hd_metrics_destroy(m);
        return -1;
    }
    hd_metrics_add(m, m->dropped, NULL, 0);
    *out = m;
    return 0;
}

void hd_metrics_destroy(struct hd_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nfamilies; i++)
        family_finish(&m->families[i]);
    free(m->families);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int hd_metrics_define(struct hd_metrics *m, const struct hd_metric_def *def, struct hd_err *err)
{
    struct family f = {0};
    int id = -1;
    if (!name_ok(def->name, true) || def->help == NULL || strchr(def->help, '\n')) {
        hd_err_set(err, HD_EX_SOFTWARE, "metric \"%s\": bad name or help",
                   def->name ? def->name : "");
        return -1;
    }
    if (def->kind == HD_METRIC_COUNTER && strlen(def->name) > 6 &&
        strcmp(def->name + strlen(def->name) - 6, "_total") != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "counter \"%s\" must end in _total", def->name);
        return -1;
    }
    if (def->kind == HD_METRIC_HISTOGRAM &&
        (def->nbuckets == 0 || def->nbuckets > HD_METRICS_MAX_BUCKETS || def->buckets == NULL)) {
        hd_err_set(err, HD_EX_SOFTWARE, "histogram \"%s\": 1 to %d buckets", def->name,
                   HD_METRICS_MAX_BUCKETS);
        return -1;
    }
    for (size_t i = 1; def->kind == HD_METRIC_HISTOGRAM && i < def->nbuckets; i++)
        if (!(def->buckets[i] > def->buckets[i - 1])) {
            hd_err_set(err, HD_EX_SOFTWARE, "histogram \"%s\": buckets not ascending", def->name);
            return -1;
        }
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nfamilies; i++)
        if (strcmp(m->families[i].name, def->name) == 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "metric \"%s\" defined twice", def->name);
            goto done;
        }
    for (; f.nlabels < HD_METRICS_MAX_LABELS && def->labels[f.nlabels]; f.nlabels++) {
        const char *l = def->labels[f.nlabels];
        if (!name_ok(l, false) || strcmp(l, "le") == 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "metric \"%s\": bad label name \"%s\"", def->name, l);
            goto done;
        }
    }
    if (f.nlabels == HD_METRICS_MAX_LABELS && def->labels[f.nlabels] != NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "metric \"%s\": more than %d labels", def->name,
                   HD_METRICS_MAX_LABELS);
        goto done;
    }
    struct family *fams = realloc(m->families, (m->nfamilies + 1) * sizeof *fams);
    if (fams == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the metrics");
        goto done;
    }
    m->families = fams;
    f.name = strdup(def->name);
    f.help = strdup(def->help);
    f.kind = def->kind;
    bool ok = f.name && f.help;
    for (size_t i = 0; i < f.nlabels; i++)
        ok = (f.labels[i] = strdup(def->labels[i])) != NULL && ok;
    if (def->kind == HD_METRIC_HISTOGRAM) {
        memcpy(f.buckets, def->buckets, def->nbuckets * sizeof *def->buckets);
        f.nbuckets = def->nbuckets;
    }
    if (!ok) {
        family_finish(&f);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the metrics");
        goto done;
    }
    m->families[m->nfamilies] = f;
    id = (int)m->nfamilies++;
done:
    pthread_mutex_unlock(&m->mu);
    return id;
}

static uint64_t values_hash(const struct family *f, const char *const *values)
{
    uint64_t h = 0;
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        h = h * 31 + hd_fnv1a64(v, strlen(v) + 1);
    }
    return h;
}

static bool values_equal(const struct family *f, const struct series *s, const char *const *values)
{
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(s->values[i], values && values[i] ? values[i] : "") != 0)
            return false;
    return true;
}

static bool table_grow(struct family *f)
{
    size_t cap = f->table_cap ? f->table_cap * 2 : 64;
    size_t *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return false;
    for (size_t i = 0; i < f->nseries; i++) {
        size_t at = (size_t)f->series[i].hash & (cap - 1);
        while (t[at])
            at = (at + 1) & (cap - 1);
        t[at] = i + 1;
    }
    free(f->table);
    f->table = t;
    f->table_cap = cap;
    return true;
}

/* The series of values in f, made when new; NULL when f is full or memory
 * ran out. Called with the mutex held. */
static struct series *series_of(struct family *f, const char *const *values)
{
    uint64_t h = values_hash(f, values);
    size_t at = 0;
    if (f->table_cap) {
        for (at = (size_t)h & (f->table_cap - 1); f->table[at];
             at = (at + 1) & (f->table_cap - 1)) {
            struct series *s = &f->series[f->table[at] - 1];
            if (s->hash == h && values_equal(f, s, values))
                return s;
        }
    }
    if (f->nseries >= HD_METRICS_MAX_SERIES)
        return NULL;
    if ((f->nseries + 1) * 2 > f->table_cap) {
        if (!table_grow(f))
            return NULL;
        for (at = (size_t)h & (f->table_cap - 1); f->table[at]; at = (at + 1) & (f->table_cap - 1))
            ;
    }
    if (f->nseries == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct series *s = realloc(f->series, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        f->series = s;
        f->cap = cap;
    }
    struct series *s = &f->series[f->nseries];
    memset(s, 0, sizeof *s);
    s->hash = h;
    bool ok = true;
    for (size_t i = 0; i < f->nlabels; i++)
        ok = (s->values[i] = strdup(values && values[i] ? values[i] : "")) != NULL && ok;
    if (f->kind == HD_METRIC_HISTOGRAM)
        ok = (s->buckets = calloc(f->nbuckets, sizeof *s->buckets)) != NULL && ok;
    if (!ok) {
        for (size_t i = 0; i < f->nlabels; i++)
            free(s->values[i]);
        free(s->buckets);
        return NULL;
    }
    f->table[at] = ++f->nseries;
    return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct hd_metrics *m, int id, const char *const *values, double v, enum op op)
{
    if (m == NULL || id < 0)
        return;
    pthread_mutex_lock(&m->mu);
    struct family *f = (size_t)id < m->nfamilies ? &m->families[id] : NULL;
    struct series *s = f ? series_of(f, values) : NULL;
    if (s == NULL) {
        struct series *d = series_of(&m->families[m->dropped], NULL);
        if (d)
            d->value += 1;
    } else if (op == OP_ADD) {
        s->value += v;
    } else if (op == OP_SET) {
        s->value = v;
    } else {
        size_t b = 0;
        while (b < f->nbuckets && v > f->buckets[b])
            b++;
        if (b < f->nbuckets)
            s->buckets[b]++;
        s->value += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->mu);
}

void hd_metrics_add(struct hd_metrics *m, int id, const char *const *values, double delta)
{
    update(m, id, values, delta, OP_ADD);
}

void hd_metrics_set(struct hd_metrics *m, int id, const char *const *values, double v)
{
    update(m, id, values, v, OP_SET);
}

void hd_metrics_observe(struct hd_metrics *m, int id, const char *const *values, double v)
{
    update(m, id, values, v, OP_OBSERVE);
}

/* ---- exposition ---- */

static int put_number(struct hd_buf *out, double v)
{
    if (isnan(v))
        return hd_buf_puts(out, "NaN");
    if (isinf(v))
        return hd_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return hd_buf_printf(out, "%.0f", v);
    /* the shortest of 15 and 17 digits that reads back as v */
    char s[32];
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof s, "%.17g", v);
    return hd_buf_puts(out, s);
}

static int put_escaped(struct hd_buf *out, const char *s, bool help)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == '\\')
            rc = hd_buf_puts(out, "\\\\");
        else if (*s == '\n')
            rc = hd_buf_puts(out, "\\n");
        else if (*s == '"' && !help)
            rc = hd_buf_puts(out, "\\\"");
        else
            rc = hd_buf_putc(out, *s);
    }
    return rc;
}

/* name{labels[,le="bound"]} value */
static int put_line(struct hd_buf *out, const struct family *f, const struct series *s,
                    const char *suffix, const char *le, double v)
{
    int rc = hd_buf_puts(out, f->name) | hd_buf_puts(out, suffix);
    if (f->nlabels || le) {
        rc |= hd_buf_putc(out, '{');
        for (size_t i = 0; i < f->nlabels; i++) {
            rc |= hd_buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
            rc |= put_escaped(out, s->values[i], false);
            rc |= hd_buf_putc(out, '"');
        }
        if (le)
            rc |= hd_buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
        rc |= hd_buf_putc(out, '}');
    }
    rc |= hd_buf_putc(out, ' ');
    rc |= put_number(out, v);
    rc |= hd_buf_putc(out, '\n');
    return rc ? -1 : 0;
}

static int render_family(struct hd_buf *out, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rc = hd_buf_printf(out, "# HELP %s ", f->name);
    rc |= put_escaped(out, f->help, true);
    rc |= hd_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    for (size_t i = 0; i < f->nseries && rc == 0; i++) {
        const struct series *s = &f->series[i];
        if (f->kind != HD_METRIC_HISTOGRAM) {
            rc |= put_line(out, f, s, "", NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[32];
        for (size_t b = 0; b < f->nbuckets; b++) {
            struct hd_buf num = {0};
            cum += s->buckets[b];
            rc |= put_number(&num, f->buckets[b]);
            snprintf(le, sizeof le, "%s", num.data ? num.data : "0");
            hd_buf_release(&num);
            rc |= put_line(out, f, s, "_bucket", le, (double)cum);
        }
        rc |= put_line(out, f, s, "_bucket", "+Inf", (double)s->count);
        rc |= put_line(out, f, s, "_sum", NULL, s->value);
        rc |= put_line(out, f, s, "_count", NULL, (double)s->count);
    }
    return rc ? -1 : 0;
}

int hd_metrics_render(struct hd_metrics *m, struct hd_buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nfamilies && rc == 0; i++)
        rc = render_family(out, &m->families[i]);
    pthread_mutex_unlock(&m->mu);
    return rc;
}
