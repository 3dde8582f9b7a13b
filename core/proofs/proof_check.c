/* proof_check.c - what a record line must be in its place, and what the
 * records add up to. Export checks every record of the state store before
 * it signs them, verify every line of a bundle, with the same code: each
 * line is parsed (proof_parse.c), must hold the seq of its place, the
 * prev that links it to the line before, and the campaign and snapshot of
 * line 1; a change is placed on the line it changed. Each record is
 * counted for summary.json and, when the bundle has one, turned into its
 * records.csv row, which export writes and verify compares.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proof_internal.h"

/* ---- counting: the summary ------------------------------------------------------------------- */

static void agg_free(struct hdp_agg *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->keys[i]);
    free(a->keys);
    free(a->count);
    free(a->extra);
    free(a->slots);
    memset(a, 0, sizeof *a);
}

static int agg_add(struct hdp_agg *a, const char *key, size_t len, uint64_t extra)
{
    uint64_t h = hd_person_hash(key, len);
    if (a->n * 2 >= a->nslots) {
        size_t ns = a->nslots ? a->nslots * 2 : 256;
        uint32_t *slots = calloc(ns, sizeof *slots);
        if (slots == NULL || a->n >= 1u << 24) {
            free(slots);
            return -1;
        }
        for (size_t i = 0; i < a->n; i++) {
            size_t j = hd_person_hash(a->keys[i], strlen(a->keys[i])) & (ns - 1);
            while (slots[j])
                j = (j + 1) & (ns - 1);
            slots[j] = (uint32_t)(i + 1);
        }
        free(a->slots);
        a->slots = slots;
        a->nslots = ns;
    }
    size_t j = h & (a->nslots - 1);
    for (; a->slots[j]; j = (j + 1) & (a->nslots - 1)) {
        size_t i = a->slots[j] - 1;
        if (strncmp(a->keys[i], key, len) == 0 && a->keys[i][len] == '\0') {
            a->count[i]++;
            a->extra[i] += extra;
            return 0;
        }
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        char **k = realloc(a->keys, cap * sizeof *k);
        if (k)
            a->keys = k;
        uint64_t *c = realloc(a->count, cap * sizeof *c);
        if (c)
            a->count = c;
        uint64_t *e = realloc(a->extra, cap * sizeof *e);
        if (e)
            a->extra = e;
        if (!k || !c || !e)
            return -1;
        a->cap = cap;
    }
    if ((a->keys[a->n] = strndup(key, len)) == NULL)
        return -1;
    a->count[a->n] = 1;
    a->extra[a->n] = extra;
    a->slots[j] = (uint32_t)(++a->n);
    return 0;
}

static const struct hdp_agg *sort_agg;
static int cmp_idx(const void *x, const void *y)
{
    return strcmp(sort_agg->keys[*(const size_t *)x], sort_agg->keys[*(const size_t *)y]);
}

/* Indices of a's entries in key order (caller frees). */
static size_t *agg_order(const struct hdp_agg *a)
{
    size_t *idx = malloc((a->n ? a->n : 1) * sizeof *idx);
    if (idx == NULL)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        idx[i] = i;
    sort_agg = a;
    qsort(idx, a->n, sizeof *idx, cmp_idx);
    return idx;
}

static int join(char *out, size_t cap, const struct hd_proof_slice *parts, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + parts[i].n + 1 >= cap)
            return -1;
        if (i)
            out[o++] = '\x01';
        if (parts[i].p)
            memcpy(out + o, parts[i].p, parts[i].n);
        o += parts[i].p ? parts[i].n : 0;
    }
    out[o] = '\0';
    return (int)o;
}

static int summary_add(struct hdp_summary *s, const struct hd_proof_rec *r)
{
    char key[512];
    int n;
    s->records++;
    if (agg_add(&s->state, r->f[HD_PF_STATE].p, r->f[HD_PF_STATE].n, 0) != 0 ||
        agg_add(&s->key_ids, r->f[HD_PF_KEY_ID].p, r->f[HD_PF_KEY_ID].n, 0) != 0)
        return -1;
    if (r->exclusion) {
        struct hd_proof_slice parts[2] = {r->f[HD_PF_REASON], r->f[HD_PF_COUNTRY]};
        s->exclusions++;
        if ((n = join(key, sizeof key, parts, 2)) < 0 || agg_add(&s->excl, key, (size_t)n, 0) ||
            agg_add(&s->reason, r->f[HD_PF_REASON].p, r->f[HD_PF_REASON].n, 0))
            return -1;
        return 0;
    }
    struct hd_proof_slice parts[5] = {r->f[HD_PF_COUNTRY], r->f[HD_PF_LANGUAGE],
                                      r->f[HD_PF_CHANNEL], r->f[HD_PF_STATE], r->f[HD_PF_EVENT]};
    s->deliveries++;
    if ((n = join(key, sizeof key, parts, 5)) < 0 ||
        agg_add(&s->deliv, key, (size_t)n, r->fallback ? 1 : 0))
        return -1;
    return 0;
}

static void summary_free(struct hdp_summary *s)
{
    agg_free(&s->deliv);
    agg_free(&s->excl);
    agg_free(&s->state);
    agg_free(&s->reason);
    agg_free(&s->key_ids);
}

static json_t *counts_obj(const struct hdp_agg *a)
{
    json_t *o = json_object();
    for (size_t i = 0; i < a->n; i++)
        json_object_set_new(o, a->keys[i], json_integer((json_int_t)a->count[i]));
    return o;
}

/* summary.json: pretty, keys sorted, one trailing newline. */
char *hdp_summary_text(const struct hdp_summary *s, const char *campaign)
{
    static const char *const dnames[5] = {"country", "language", "channel", "state", "event"};
    json_t *deliv = json_array(), *excl = json_array();
    size_t *di = agg_order(&s->deliv), *xi = agg_order(&s->excl);
    char *text = NULL;
    if (di == NULL || xi == NULL)
        goto out;
    for (size_t k = 0; k < s->deliv.n; k++) {
        size_t i = di[k];
        json_t *o = json_object();
        const char *p = s->deliv.keys[i];
        for (int f = 0; f < 5; f++) {
            size_t n = strcspn(p, "\x01");
            json_object_set_new(o, dnames[f], json_stringn(p, n));
            p += n + (p[n] ? 1 : 0);
        }
        json_object_set_new(o, "records", json_integer((json_int_t)s->deliv.count[i]));
        json_object_set_new(o, "fallback", json_integer((json_int_t)s->deliv.extra[i]));
        json_array_append_new(deliv, o);
    }
    for (size_t k = 0; k < s->excl.n; k++) {
        size_t i = xi[k];
        const char *p = s->excl.keys[i];
        size_t n = strcspn(p, "\x01");
        json_array_append_new(excl, json_pack("{s:s%, s:s, s:I}", "reason", p, n, "country",
                                              p[n] ? p + n + 1 : "", "records",
                                              (json_int_t)s->excl.count[i]));
    }
    json_t *root = json_pack("{s:s, s:O, s:O, s:{s:I, s:I, s:I, s:o, s:o}}", "campaign", campaign,
                             "deliveries", deliv, "exclusions", excl, "totals", "records",
                             (json_int_t)s->records, "delivery_records", (json_int_t)s->deliveries,
                             "exclusion_records", (json_int_t)s->exclusions, "by_state",
                             counts_obj(&s->state), "by_reason", counts_obj(&s->reason));
    char *dump = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (dump) {
        size_t n = strlen(dump);
        text = realloc(dump, n + 2);
        if (text) {
            text[n] = '\n';
            text[n + 1] = '\0';
        } else {
            free(dump);
        }
    }
out:
    json_decref(deliv);
    json_decref(excl);
    free(di);
    free(xi);
    return text;
}

json_t *hdp_summary_key_ids(const struct hdp_summary *s)
{
    json_t *key_ids = json_array();
    size_t *ki = agg_order(&s->key_ids);
    for (size_t i = 0; ki && i < s->key_ids.n; i++)
        json_array_append_new(key_ids, json_string(s->key_ids.keys[ki[i]]));
    free(ki);
    return key_ids;
}

/* ---- checking records one by one (export and verify share it) -------------------------------- */

void hdp_rcheck_init(struct hdp_rcheck *c, const char *file, struct hd_err *err)
{
    memset(c, 0, sizeof *c);
    c->file = file;
    c->err = err;
}

void hdp_rcheck_free(struct hdp_rcheck *c)
{
    summary_free(&c->sum);
    hd_buf_release(&c->csv_line);
    EVP_MD_CTX_free(c->csv_md);
}

int hdp_rcheck_line(void *ctx, uint64_t index, const char *line, size_t len, const uint8_t leaf[32])
{
    struct hdp_rcheck *c = ctx;
    struct hd_proof_rec r;
    char why[256];
    uint64_t ln = index + 1;
    if (hd_proof_parse(line, len, &r, why, sizeof why) != 0) {
        hd_err_set(c->err, HD_EX_FAIL, "%s line %" PRIu64 ": %s", c->file, ln, why);
        return -1;
    }
    if (r.seq != index) {
        hd_err_set(c->err, HD_EX_FAIL,
                   "%s line %" PRIu64 ": holds seq %" PRIu64 ", expected %" PRIu64
                   ": a record was deleted, inserted or moved here",
                   c->file, ln, r.seq, index);
        return -1;
    }
    if (index > 0) {
        char hex[65];
        hd_hex(c->prev_leaf, 32, hex);
        bool linked = memcmp(hex, r.f[HD_PF_PREV].p, 64) == 0;
        /* A broken link between lines L-1 and L: if line L+1 links to line
         * L, line L is intact and line L-1 changed; else line L changed. */
        if (c->broken) {
            hd_err_set(c->err, HD_EX_FAIL,
                       linked ? "%s line %" PRIu64 ": this record was changed (the next line's "
                                "\"prev\" is another hash)"
                              : "%s line %" PRIu64 ": this record was changed (its \"prev\" and "
                                "the next line's \"prev\" do not link)",
                       c->file, linked ? ln - 2 : ln - 1);
            return -1;
        }
        if (!linked) {
            c->broken = true;
            c->broken_line = ln;
        }
    }
    struct hd_proof_slice camp = r.f[HD_PF_CAMPAIGN], snap = r.f[HD_PF_SNAPSHOT];
    if (index == 0) {
        snprintf(c->campaign, sizeof c->campaign, "%.*s", (int)camp.n, camp.p);
        memcpy(c->snapshot, snap.p, 64);
        c->snapshot[64] = '\0';
    } else if (!hdp_slice_eq(camp, c->campaign) || memcmp(snap.p, c->snapshot, 64) != 0) {
        hd_err_set(c->err, HD_EX_FAIL,
                   "%s line %" PRIu64 ": campaign or snapshot differs from line 1", c->file, ln);
        return -1;
    }
    if (summary_add(&c->sum, &r) != 0) {
        hd_err_set(c->err, HD_EX_SOFTWARE, "out of memory counting records");
        return -1;
    }
    if (c->csv) {
        hd_buf_reset(&c->csv_line);
        if (hd_proof_csv_line(&r, &c->csv_line) != 0) {
            hd_err_set(c->err, HD_EX_SOFTWARE, "out of memory");
            return -1;
        }
        if (c->csv_out &&
            (fwrite(c->csv_line.data, 1, c->csv_line.len, c->csv_out) != c->csv_line.len ||
             !EVP_DigestUpdate(c->csv_md, c->csv_line.data, c->csv_line.len))) {
            hd_err_set(c->err, HD_EX_IOERR, "cannot write records.csv: %s", strerror(errno));
            return -1;
        }
        if (c->csv_out &&
            (c->csv_written += c->csv_line.len) - c->csv_flushed >= HDP_WRITEBACK_CHUNK &&
            fflush(c->csv_out) == 0)
            hdp_writeback(fileno(c->csv_out), c->csv_written, &c->csv_flushed);
        if (c->csv_in) {
            char buf[8192];
            bool same = true;
            for (size_t off = 0; off < c->csv_line.len && same;) {
                size_t want =
                    c->csv_line.len - off < sizeof buf ? c->csv_line.len - off : sizeof buf;
                same = fread(buf, 1, want, c->csv_in) == want &&
                       memcmp(buf, c->csv_line.data + off, want) == 0;
                off += want;
            }
            if (!same) {
                hd_err_set(c->err, HD_EX_FAIL,
                           "%s line %" PRIu64 ": this record was changed (it differs from "
                           "row %" PRIu64 " of records.csv, which the signed manifest vouches for)",
                           c->file, ln, ln);
                return -1;
            }
        }
    }
    c->count = index + 1;
    memcpy(c->prev_leaf, leaf, 32);
    return 0;
}

/* After the last line: a broken link there cannot be placed any closer. */
int hdp_rcheck_finish(struct hdp_rcheck *c)
{
    if (!c->broken)
        return 0;
    hd_err_set(c->err, HD_EX_FAIL,
               "%s line %" PRIu64 ": this record or the one before it was changed (the last "
               "line's \"prev\" is another hash)",
               c->file, c->broken_line - 1);
    return -1;
}
