/* The planner: audience -> decisions -> state store.
 *
 * Write pattern (what keeps it fast): persons and deliveries are keyed
 * shard . row, so with rows arriving in file order every shard is an append
 * point and a commit touches a handful of leaf pages per shard; exclusions
 * are keyed by row alone and go in with MDB_APPEND; counters are summed in
 * memory and written once per commit. The only random-order data, person id
 * hashes, never touch LMDB until they are sorted: they go to run files that
 * are merged at the end, which finds duplicates and lets the id index be
 * written in key order with MDB_APPEND too. */
#include "herald/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "herald/audience.h"
#include "herald/files.h"
#include "herald/hash.h"
#include "herald/proof.h"
#include "herald/region.h"
#include "herald/statedir.h"

#define COMMIT_ROWS 20000
#define RUN_ENTRIES (1u << 19) /* 12 MiB of id hashes per sorted run */
#define NO_WAVE 0xFFFF

/* ---- small utilities ----------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the objections set --------------------------------------------------- */

struct idset {
    uint64_t *hashes; /* 0 = empty slot; a real 0 hash is stored as 1 */
    uint32_t *offsets;
    size_t cap, count;
    char *ids; /* NUL-separated */
    size_t ids_len, ids_cap;
};

static void idset_free(struct idset *s)
{
    free(s->hashes);
    free(s->offsets);
    free(s->ids);
    memset(s, 0, sizeof *s);
}

static int idset_grow(struct idset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *h = calloc(cap, sizeof *h);
    uint32_t *o = calloc(cap, sizeof *o);
    if (h == NULL || o == NULL) {
        free(h);
        free(o);
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->hashes[i] == 0)
            continue;
        size_t j = s->hashes[i] & (cap - 1);
        while (h[j])
            j = (j + 1) & (cap - 1);
        h[j] = s->hashes[i];
        o[j] = s->offsets[i];
    }
    free(s->hashes);
    free(s->offsets);
    s->hashes = h;
    s->offsets = o;
    s->cap = cap;
    return 0;
}

static bool idset_has(const struct idset *s, const char *id, size_t len)
{
    uint64_t h = hd_person_hash(id, len);
    if (s->cap == 0)
        return false;
    h = h ? h : 1;
    for (size_t j = h & (s->cap - 1); s->hashes[j]; j = (j + 1) & (s->cap - 1)) {
        const char *k = s->ids + s->offsets[j];
        if (s->hashes[j] == h && strncmp(k, id, len) == 0 && k[len] == '\0')
            return true;
    }
    return false;
}

static int idset_add(struct idset *s, const char *id, size_t len)
{
    uint64_t h;
    if (idset_has(s, id, len))
        return 0;
    if ((s->count + 1) * 2 > s->cap && idset_grow(s) != 0)
        return -1;
    if (s->ids_len + len + 1 > s->ids_cap) {
        size_t cap = s->ids_cap ? s->ids_cap * 2 : 65536;
        while (cap < s->ids_len + len + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return -1;
        char *p = realloc(s->ids, cap);
        if (p == NULL)
            return -1;
        s->ids = p;
        s->ids_cap = cap;
    }
    h = hd_person_hash(id, len);
    h = h ? h : 1;
    size_t j = h & (s->cap - 1);
    while (s->hashes[j])
        j = (j + 1) & (s->cap - 1);
    s->hashes[j] = h;
    s->offsets[j] = (uint32_t)s->ids_len;
    memcpy(s->ids + s->ids_len, id, len);
    s->ids[s->ids_len + len] = '\0';
    s->ids_len += len + 1;
    s->count++;
    return 0;
}

/* One person id per line; blank lines and lines starting with '#' are
 * skipped; surrounding spaces and a CR are trimmed. */
static int idset_load(struct idset *s, const char *path, struct hd_err *err)
{
    /* The one input opener: never blocks, regular file, size limit. */
    int fd = hd_input_open(path, HD_IN_OBJECTIONS, "objections file", NULL, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    char *line = NULL;
    size_t cap = 0;
    unsigned long long total = 0;
    ssize_t n;
    int rc = -1;
    if (f == NULL) {
        if (fd >= 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "cannot read the objections file %s: %s", path,
                       strerror(errno));
            close(fd);
        }
        return -1;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        /* A file that grows while read stops at the limit too. */
        total += (unsigned long long)n;
        if (total > hd_input_limit(HD_IN_OBJECTIONS)) {
            hd_err_set(err, HD_EX_DATAERR, "objections file %s is too large (more than %llu bytes)",
                       path, hd_input_limit(HD_IN_OBJECTIONS));
            goto out;
        }
        char *p = line, *e = line + n;
        while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (p == e || *p == '#')
            continue;
        if (idset_add(s, p, (size_t)(e - p)) != 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "out of memory loading %s", path);
            goto out;
        }
    }
    if (ferror(f)) {
        hd_err_set(err, HD_EX_IOERR, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

/* ---- shards ---------------------------------------------------------------- */

#define KIND_SLOTS (HD_MAX_CHANNELS * 32) /* channel kinds x states (incl. skips) */

struct shard {
    char country[3];
    char language[16];
    uint16_t wave;
    int64_t delta_channel[HD_MAX_CHANNELS][HD_CK_SKIP_BASE + 3];
    int64_t delta_persons[2];
    bool dirty, stored;
};

/* (country, language asked) -> locale decision, cached: resolving a locale
 * walks tag parents and country languages, and the pairs repeat endlessly. */
struct route {
    char key[20]; /* "DE" + asked tag; "" when empty slot */
    uint16_t shard;
    uint8_t source;
};

#define ROUTE_SLOTS 4096

struct planner {
    const struct hd_campaign *c;
    struct hd_store *store;
    struct hd_err *err;
    MDB_txn *txn;
    struct shard *shards;
    size_t nshards, cap_shards;
    struct route routes[ROUTE_SLOTS];
    size_t nroutes;
    struct idset objected;
    int64_t delta_excluded[HD_R_COUNT];
    uint64_t rows, eligible, excluded;
    /* invalid-row causes for the report: field + reason */
    struct {
        uint8_t field;
        char why[64];
        uint64_t count;
    } causes[64];
    size_t ncauses;
    uint64_t causes_other;
    /* normalised input (issue 15): rows per kind, and per kind and field */
    uint64_t norm_rows[HD_N_COUNT];
    uint64_t norm_fields[HD_N_COUNT][HD_F_COUNT];
    /* id runs */
    struct id_entry *run;
    size_t run_len;
    char **run_paths;
    size_t nruns;
    struct hd_buf rec;
    struct hd_buf pending;    /* the encoded record of a new delivery (same for all) */
    struct hd_proofs *proofs; /* NULL: the campaign keeps no proofs */
    json_t *zones;            /* distinct time zones of eligible people, for the scheduler */
    uint64_t zone_set[4096];
};

struct id_entry {
    uint64_t hash, row;
    uint16_t shard; /* HD_SHARD_NONE: the row is in exclusions */
    uint8_t pad[6]; /* zero: runs are written to disk whole, padding included */
};

static uint16_t wave_for(const struct hd_campaign *c, const char *country, const char *lang)
{
    for (size_t i = 0; i < c->nwaves; i++) {
        const struct hd_wave *w = &c->waves[i];
        bool country_ok = w->ncountries == 0, lang_ok = w->nlanguages == 0;
        for (size_t j = 0; j < w->ncountries && !country_ok; j++)
            country_ok = memcmp(w->countries[j], country, 2) == 0;
        for (size_t j = 0; j < w->nlanguages && !lang_ok; j++) {
            size_t n = strlen(w->languages[j]);
            lang_ok = strncmp(lang, w->languages[j], n) == 0 && (lang[n] == '\0' || lang[n] == '-');
        }
        if (country_ok && lang_ok)
            return (uint16_t)i;
    }
    return c->nwaves == 0 ? 0 : NO_WAVE;
}

static int shard_find_or_add(struct planner *pl, const char *country, const char *lang,
                             uint16_t *out)
{
    for (size_t i = 0; i < pl->nshards; i++) {
        if (memcmp(pl->shards[i].country, country, 2) == 0 &&
            strcmp(pl->shards[i].language, lang) == 0) {
            *out = (uint16_t)i;
            return 0;
        }
    }
    if (pl->nshards == HD_MAX_SHARDS) {
        hd_err_set(pl->err, HD_EX_DATAERR, "more than %d shards", HD_MAX_SHARDS);
        return -1;
    }
    if (pl->nshards == pl->cap_shards) {
        size_t cap = pl->cap_shards ? pl->cap_shards * 2 : 64;
        struct shard *s = realloc(pl->shards, cap * sizeof *s);
        if (s == NULL) {
            hd_err_set(pl->err, HD_EX_SOFTWARE, "out of memory");
            return -1;
        }
        pl->shards = s;
        pl->cap_shards = cap;
    }
    struct shard *s = &pl->shards[pl->nshards];
    memset(s, 0, sizeof *s);
    memcpy(s->country, country, 2);
    snprintf(s->language, sizeof s->language, "%s", lang);
    s->wave = wave_for(pl->c, country, lang);
    *out = (uint16_t)pl->nshards++;
    return 0;
}

/* Picks the shard for a person; -1 with err set when no locale fits (only
 * possible for a strict country whose languages are all missing, which
 * validation refuses). */
static int route(struct planner *pl, const struct hd_person *p, uint16_t *shard, uint8_t *source)
{
    char key[20];
    uint64_t h;
    enum hd_lang_source src;
    const struct hd_locale *loc;

    memcpy(key, p->country->code, 2);
    snprintf(key + 2, sizeof key - 2, "%s", p->language);
    h = hd_person_hash(key, strlen(key));
    size_t j = h & (ROUTE_SLOTS - 1);
    for (size_t probes = 0; probes < 8 && pl->routes[j].key[0]; probes++) {
        if (strcmp(pl->routes[j].key, key) == 0) {
            *shard = pl->routes[j].shard;
            *source = pl->routes[j].source;
            return 0;
        }
        j = (j + 1) & (ROUTE_SLOTS - 1);
    }
    loc = hd_campaign_locale_for(pl->c, p->language, p->country, &src);
    if (loc == NULL) {
        hd_err_set(pl->err, HD_EX_DATAERR, "no locale for a person in %s (language \"%s\")",
                   p->country->code, p->language);
        return -1;
    }
    if (shard_find_or_add(pl, p->country->code, loc->tag, shard) != 0)
        return -1;
    *source = (uint8_t)src;
    if (!pl->routes[j].key[0] && pl->nroutes < ROUTE_SLOTS / 2) {
        memcpy(pl->routes[j].key, key, sizeof key);
        pl->routes[j].shard = *shard;
        pl->routes[j].source = *source;
        pl->nroutes++;
    }
    return 0;
}

/* ---- batched writes -------------------------------------------------------- */

static int put(struct planner *pl, MDB_dbi dbi, const void *key, size_t klen, const void *val,
               size_t vlen, unsigned flags, const char *what)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(pl->txn, dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_APPEND))
        rc = mdb_put(pl->txn, dbi, &k, &v, flags & ~(unsigned)MDB_APPEND);
    return rc ? hd_store_fail(pl->err, rc, what) : 0;
}

static int flush_counters(struct planner *pl)
{
    struct hd_store *s = pl->store;
    for (size_t i = 0; i < pl->nshards; i++) {
        struct shard *sh = &pl->shards[i];
        if (!sh->stored) {
            uint8_t k[2] = {(uint8_t)(i >> 8), (uint8_t)i};
            struct hd_shard_rec rec;
            memset(&rec, 0, sizeof rec);
            memcpy(rec.country, sh->country, 3);
            memcpy(rec.language, sh->language, sizeof rec.language);
            rec.wave = sh->wave;
            if (put(pl, s->shards, k, 2, &rec, sizeof rec, 0, "writing a shard") != 0)
                return -1;
            sh->stored = true;
        }
        if (!sh->dirty)
            continue;
        for (uint8_t ch = 0; ch < HD_MAX_CHANNELS; ch++)
            for (uint8_t st = 0; st < HD_CK_SKIP_BASE + 3; st++)
                if (sh->delta_channel[ch][st] &&
                    hd_store_counter_add(pl->txn, s, hd_counter_key((uint16_t)i, ch, st),
                                         sh->delta_channel[ch][st], pl->err) != 0)
                    return -1;
        for (uint8_t k = 0; k < 2; k++)
            if (sh->delta_persons[k] &&
                hd_store_counter_add(pl->txn, s, hd_counter_key((uint16_t)i, HD_CK_PERSONS, k),
                                     sh->delta_persons[k], pl->err) != 0)
                return -1;
        memset(sh->delta_channel, 0, sizeof sh->delta_channel);
        memset(sh->delta_persons, 0, sizeof sh->delta_persons);
        sh->dirty = false;
    }
    for (uint8_t r = 0; r < HD_R_COUNT; r++) {
        if (pl->delta_excluded[r] &&
            hd_store_counter_add(pl->txn, s, hd_counter_key(HD_SHARD_NONE, HD_CK_EXCLUDED, r),
                                 pl->delta_excluded[r], pl->err) != 0)
            return -1;
        pl->delta_excluded[r] = 0;
    }
    return 0;
}

static int commit_and_renew(struct planner *pl, bool renew)
{
    if (flush_counters(pl) != 0)
        return -1;
    int rc = hd_store_commit(pl->txn, pl->err);
    pl->txn = NULL;
    if (rc != 0)
        return -1;
    return renew ? hd_store_begin(pl->store, true, &pl->txn, pl->err) : 0;
}

static void note_cause(struct planner *pl, uint8_t field, const char *why)
{
    for (size_t i = 0; i < pl->ncauses; i++) {
        if (pl->causes[i].field == field && strcmp(pl->causes[i].why, why) == 0) {
            pl->causes[i].count++;
            return;
        }
    }
    if (pl->ncauses == sizeof pl->causes / sizeof pl->causes[0]) {
        pl->causes_other++;
        return;
    }
    pl->causes[pl->ncauses].field = field;
    snprintf(pl->causes[pl->ncauses].why, sizeof pl->causes[0].why, "%s", why);
    pl->causes[pl->ncauses].count = 1;
    pl->ncauses++;
}

/* Zones are few (validated IANA names): a small hash set of their 64-bit
 * hashes keeps this per-row check to one hash and one probe. The scheduler
 * precomputes each zone's UTC offsets from the resulting list. */
#define ZONE_SLOTS 4096
static void note_zone(struct planner *pl, const char *tz, size_t len)
{
    uint64_t h;
    size_t j;
    if (tz == NULL)
        return;
    h = hd_person_hash(tz, len) | 1;
    for (j = h & (ZONE_SLOTS - 1); pl->zone_set[j]; j = (j + 1) & (ZONE_SLOTS - 1))
        if (pl->zone_set[j] == h)
            return;
    if (json_array_size(pl->zones) >= ZONE_SLOTS / 2)
        return;
    pl->zone_set[j] = h;
    json_array_append_new(pl->zones, json_stringn(tz, len));
}

static int exclude(struct planner *pl, const struct hd_row *row, const struct hd_person *p,
                   enum hd_reason reason, uint8_t field, const char *why)
{
    struct hd_exclusion_rec x;
    uint8_t key[8];
    memset(&x, 0, sizeof x);
    x.row = row->index;
    x.line = row->line;
    x.reason = (uint8_t)reason;
    x.field = field;
    if (p && p->country)
        memcpy(x.country, p->country->code, 3);
    /* The trimmed id once the check got that far: the dedup compares the ids
     * it hashed (trimmed) with the ids the records hold. */
    x.id = p && p->id ? p->id : row->value[HD_F_ID];
    size_t id_len = p && p->id ? p->id_len : row->len[HD_F_ID];
    x.id_len = (uint16_t)(id_len > 1024 ? 1024 : id_len);
    x.why = why;
    x.why_len = (uint16_t)(why ? strlen(why) : 0);
    hd_buf_reset(&pl->rec);
    hd_key_u64(key, row->index);
    if (hd_exclusion_rec_encode(&x, &pl->rec) != 0) {
        hd_err_set(pl->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    if (reason == HD_R_INVALID_ROW)
        note_cause(pl, field, why ? why : "invalid");
    pl->delta_excluded[reason]++;
    pl->excluded++;
    return put(pl, pl->store->exclusions, key, 8, pl->rec.data, pl->rec.len, MDB_APPEND,
               "writing an exclusion");
}

/* ---- id runs ------------------------------------------------------------------ */

static int cmp_entry(const void *a, const void *b)
{
    const struct id_entry *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Sort runs live in the state directory, which hd_store_open checked is
 * ours and closed to others; they are still made with O_EXCL | O_NOFOLLOW
 * through the directory's fd (a stale one from a crashed plan is removed
 * first), so a link in their place is never followed. */
static int flush_run(struct planner *pl, const char *dir)
{
    char path[4200], name[64];
    FILE *f = NULL;
    int fd;
    if (pl->run_len == 0)
        return 0;
    qsort(pl->run, pl->run_len, sizeof *pl->run, cmp_entry);
    snprintf(name, sizeof name, "plan-run-%zu.tmp", pl->nruns);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlinkat(pl->store->dirfd, name, 0);
    fd = openat(pl->store->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && (f = fdopen(fd, "wb")) == NULL)
        close(fd);
    if (f == NULL || fwrite(pl->run, sizeof *pl->run, pl->run_len, f) != pl->run_len ||
        fclose(f) != 0) {
        hd_err_set(pl->err, HD_EX_IOERR, "%s: cannot write a sort run: %s", path, strerror(errno));
        return -1;
    }
    char **paths = realloc(pl->run_paths, (pl->nruns + 1) * sizeof *paths);
    if (paths == NULL || (paths[pl->nruns] = strdup(path)) == NULL) {
        if (paths)
            pl->run_paths = paths;
        hd_err_set(pl->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    pl->run_paths = paths;
    pl->nruns++;
    pl->run_len = 0;
    return 0;
}

static int add_id(struct planner *pl, const char *dir, const char *id, size_t len, uint64_t row,
                  uint16_t shard)
{
    if (pl->run_len == RUN_ENTRIES && flush_run(pl, dir) != 0)
        return -1;
    pl->run[pl->run_len++] =
        (struct id_entry){.hash = hd_person_hash(id, len), .row = row, .shard = shard};
    return 0;
}

/* Appends the id of a valid row (from persons or exclusions) to out and
 * gives its line. */
static int id_of(struct planner *pl, const struct id_entry *e, struct hd_buf *out, uint64_t *line)
{
    MDB_val k, v;
    uint8_t key[10];
    int rc;
    if (e->shard == HD_SHARD_NONE) {
        struct hd_exclusion_rec x;
        hd_key_u64(key, e->row);
        k.mv_size = 8;
        k.mv_data = key;
        if ((rc = mdb_get(pl->txn, pl->store->exclusions, &k, &v)) != 0)
            return hd_store_fail(pl->err, rc, "reading an exclusion");
        if (hd_exclusion_rec_decode(v.mv_data, v.mv_size, &x) != 0)
            goto bad;
        *line = x.line;
        return hd_buf_append(out, x.id, x.id_len);
    }
    struct hd_person_rec p;
    hd_key_person(key, e->shard, e->row);
    k.mv_size = 10;
    k.mv_data = key;
    if ((rc = mdb_get(pl->txn, pl->store->persons, &k, &v)) != 0)
        return hd_store_fail(pl->err, rc, "reading a person");
    if (hd_person_rec_decode(v.mv_data, v.mv_size, &p) != 0)
        goto bad;
    *line = p.line;
    return hd_buf_append(out, p.id, p.id_len);
bad:
    hd_err_set(pl->err, HD_EX_SOFTWARE, "damaged record in the state store (row %" PRIu64 ")",
               e->row);
    return -1;
}

/* Turns a row whose id is on another valid row too into a duplicate_id
 * exclusion, undoing what it counted before; other_line is the line of
 * another row with that id, for the cause. */
static int mark_duplicate(struct planner *pl, const struct id_entry *e, uint64_t other_line)
{
    MDB_val k, v;
    uint8_t key[11];
    int rc;
    struct hd_exclusion_rec x;
    char why[64];
    memset(&x, 0, sizeof x);
    x.row = e->row;
    x.reason = HD_R_DUPLICATE_ID;
    x.field = HD_F_ID;
    snprintf(why, sizeof why, "id also on line %" PRIu64, other_line);
    x.why = why;
    x.why_len = (uint16_t)strlen(x.why);
    hd_buf_reset(&pl->rec);
    if (e->shard == HD_SHARD_NONE) {
        struct hd_exclusion_rec old;
        hd_key_u64(key, e->row);
        k.mv_size = 8;
        k.mv_data = key;
        if ((rc = mdb_get(pl->txn, pl->store->exclusions, &k, &v)) != 0)
            return hd_store_fail(pl->err, rc, "reading an exclusion");
        if (hd_exclusion_rec_decode(v.mv_data, v.mv_size, &old) != 0)
            return -1;
        pl->delta_excluded[old.reason]--;
        x.line = old.line;
        memcpy(x.country, old.country, 3);
        if (hd_buf_append(&pl->rec, old.id, old.id_len) != 0)
            return -1;
    } else {
        struct hd_person_rec p;
        struct shard *sh = &pl->shards[e->shard];
        hd_key_person(key, e->shard, e->row);
        k.mv_size = 10;
        k.mv_data = key;
        if ((rc = mdb_get(pl->txn, pl->store->persons, &k, &v)) != 0)
            return hd_store_fail(pl->err, rc, "reading a person");
        if (hd_person_rec_decode(v.mv_data, v.mv_size, &p) != 0)
            return -1;
        x.line = p.line;
        memcpy(x.country, p.country, 3);
        if (hd_buf_append(&pl->rec, p.id, p.id_len) != 0)
            return -1;
        sh->delta_persons[p.variant ? HD_CK_VARIANT : HD_CK_ELIGIBLE]--;
        for (uint8_t ch = 0; ch < p.nchannels; ch++) {
            if (p.chskip[ch] != HD_CHSKIP_NONE) {
                sh->delta_channel[ch][HD_CK_SKIP_BASE + p.chskip[ch]]--;
                continue;
            }
            sh->delta_channel[ch][HD_DS_PENDING]--;
            hd_key_delivery(key, e->shard, e->row, ch);
            k.mv_size = 11;
            if ((rc = mdb_del(pl->txn, pl->store->deliveries, &k, NULL)) != 0)
                return hd_store_fail(pl->err, rc, "removing a delivery");
        }
        sh->dirty = true;
        k.mv_size = 10;
        if ((rc = mdb_del(pl->txn, pl->store->persons, &k, NULL)) != 0)
            return hd_store_fail(pl->err, rc, "removing a person");
        pl->eligible--;
        pl->excluded++;
    }
    /* The id now sits in rec; the exclusion record is written after it. */
    size_t id_len = pl->rec.len;
    x.id_len = (uint16_t)id_len;
    if (hd_buf_reserve(&pl->rec, id_len) != 0)
        return -1;
    x.id = pl->rec.data;
    struct hd_buf enc = HD_BUF_INIT;
    if (hd_exclusion_rec_encode(&x, &enc) != 0) {
        hd_buf_release(&enc);
        return -1;
    }
    hd_key_u64(key, e->row);
    pl->delta_excluded[HD_R_DUPLICATE_ID]++;
    rc = put(pl, pl->store->exclusions, key, 8, enc.data, enc.len, 0, "writing an exclusion");
    hd_buf_release(&enc);
    return rc;
}

struct run_reader {
    FILE *f;
    struct id_entry cur;
    bool done;
};

static void run_next(struct run_reader *r)
{
    if (fread(&r->cur, sizeof r->cur, 1, r->f) != 1)
        r->done = true;
}

/* Min-heap of run readers ordered by their current entry. */
static void heap_down(struct run_reader **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp_entry(&h[l]->cur, &h[m]->cur) < 0)
            m = l;
        if (r < n && cmp_entry(&h[r]->cur, &h[m]->cur) < 0)
            m = r;
        if (m == i)
            return;
        struct run_reader *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Merges the runs: writes the id index in key order and resolves groups of
 * equal hashes into first-seen and duplicates. */
static int merge_runs(struct planner *pl)
{
    struct run_reader *readers = calloc(pl->nruns ? pl->nruns : 1, sizeof *readers);
    struct run_reader **heap = calloc(pl->nruns ? pl->nruns : 1, sizeof *heap);
    struct id_entry *group = NULL;
    struct member {
        size_t off, len;
        uint64_t line;
    } *meta = NULL;
    size_t ngroup = 0, cap_group = 0, nheap = 0, since_commit = 0;
    struct hd_buf ids = HD_BUF_INIT;
    int rc = -1;
    /* Each reader gets a small buffer so thousands of runs still fit. */
    size_t bufsize = pl->nruns > 256 ? 16384 : 262144;

    if (readers == NULL || heap == NULL)
        goto oom;
    for (size_t i = 0; i < pl->nruns; i++) {
        const char *slash = strrchr(pl->run_paths[i], '/');
        int fd = openat(pl->store->dirfd, slash ? slash + 1 : pl->run_paths[i],
                        O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && (readers[i].f = fdopen(fd, "rb")) == NULL)
            close(fd);
        if (readers[i].f == NULL) {
            hd_err_set(pl->err, HD_EX_IOERR, "%s: cannot read a sort run: %s", pl->run_paths[i],
                       strerror(errno));
            goto out;
        }
        setvbuf(readers[i].f, NULL, _IOFBF, bufsize);
        run_next(&readers[i]);
        if (!readers[i].done)
            heap[nheap++] = &readers[i];
    }
    for (size_t i = nheap / 2; i-- > 0;)
        heap_down(heap, nheap, i);
    for (;;) {
        struct id_entry e;
        bool end = nheap == 0;
        if (!end) {
            e = heap[0]->cur;
            run_next(heap[0]);
            if (heap[0]->done)
                heap[0] = heap[--nheap];
            heap_down(heap, nheap, 0);
        }
        if (ngroup > 0 && (end || e.hash != group[0].hash)) {
            /* Resolve the group: EVERY row whose id is on another valid
             * row too becomes duplicate_id, the first one included. Which
             * row is the person's is unknown, so none is told: a row can
             * never take the notice (and objection link) of the person a
             * later or earlier row names (issue 10, finding 1). Hash
             * collisions between different ids keep both. */
            hd_buf_reset(&ids);
            for (size_t i = 0; ngroup > 1 && i < ngroup; i++) {
                meta[i].off = ids.len;
                if (id_of(pl, &group[i], &ids, &meta[i].line) != 0)
                    goto out;
                meta[i].len = ids.len - meta[i].off;
            }
            for (size_t i = 0; ngroup > 1 && i < ngroup; i++) {
                size_t j = 0;
                for (; j < ngroup; j++)
                    if (j != i && meta[j].len == meta[i].len &&
                        memcmp(ids.data + meta[j].off, ids.data + meta[i].off, meta[i].len) == 0)
                        break;
                if (j == ngroup)
                    continue;
                if (mark_duplicate(pl, &group[i], meta[j].line) != 0)
                    goto out;
                group[i].shard = HD_SHARD_NONE; /* now an exclusion */
            }
            for (size_t i = 0; i < ngroup; i++) {
                uint8_t key[16], val[2] = {(uint8_t)(group[i].shard >> 8), (uint8_t)group[i].shard};
                hd_key_u64(key, group[i].hash);
                hd_key_u64(key + 8, group[i].row);
                if (put(pl, pl->store->ids, key, 16, val, 2, MDB_APPEND, "writing the id index") !=
                    0)
                    goto out;
            }
            since_commit += ngroup;
            ngroup = 0;
            if (since_commit >= 50000) {
                if (commit_and_renew(pl, true) != 0)
                    goto out;
                hd_store_drop_mapped(pl->store);
                since_commit = 0;
            }
        }
        if (end)
            break;
        if (ngroup == cap_group) {
            size_t cap = cap_group ? cap_group * 2 : 16;
            struct id_entry *g = realloc(group, cap * sizeof *g);
            if (g == NULL)
                goto oom;
            group = g;
            struct member *m = realloc(meta, cap * sizeof *m);
            if (m == NULL)
                goto oom;
            meta = m;
            cap_group = cap;
        }
        group[ngroup++] = e;
    }
    rc = 0;
    goto out;
oom:
    hd_err_set(pl->err, HD_EX_SOFTWARE, "out of memory");
out:
    for (size_t i = 0; readers && i < pl->nruns; i++)
        if (readers[i].f)
            fclose(readers[i].f);
    free(readers);
    free(heap);
    free(group);
    free(meta);
    hd_buf_release(&ids);
    return rc;
}

static int renew_txn(void *ctx)
{
    return commit_and_renew(ctx, true);
}

/* ---- the stream ---------------------------------------------------------------- */

/* Counts what hd_person_check normalised in a valid row: once per kind,
 * and once per kind and field. */
static void note_norms(struct planner *pl, const struct hd_person *p)
{
    for (int n = 0; n < HD_N_COUNT; n++) {
        bool any = false;
        for (int f = 0; f < HD_F_COUNT; f++) {
            if (p->norm[f] & (1u << n)) {
                pl->norm_fields[n][f]++;
                any = true;
            }
        }
        pl->norm_rows[n] += any;
    }
}

static int plan_row(struct planner *pl, const struct hd_row *row, const struct hd_check_opts *co,
                    const char *dir)
{
    const struct hd_campaign *c = pl->c;
    struct hd_person p;
    struct hd_person_rec rec;
    uint16_t shard;
    uint8_t source, key[11];
    bool any = false, variant = false;

    pl->rows++;
    if (!hd_person_check(row, co, &p))
        return exclude(pl, row, &p, HD_R_INVALID_ROW, (uint8_t)p.bad_field, p.bad_why);
    note_norms(pl, &p);
    if (!hd_campaign_in_region(c, p.country))
        return exclude(pl, row, &p, HD_R_OUT_OF_REGION, HD_F_COUNTRY, NULL) ||
               add_id(pl, dir, p.id, p.id_len, row->index, HD_SHARD_NONE);
    if (c->minimum_age > 0 && p.age < c->minimum_age)
        return exclude(pl, row, &p, HD_R_MINOR, HD_F_COUNT, NULL) ||
               add_id(pl, dir, p.id, p.id_len, row->index, HD_SHARD_NONE);
    if (pl->objected.count && idset_has(&pl->objected, p.id, p.id_len)) {
        if (c->objection_action == HD_OBJECTION_SKIP)
            return exclude(pl, row, &p, HD_R_ALREADY_OBJECTED, HD_F_ID, NULL) ||
                   add_id(pl, dir, p.id, p.id_len, row->index, HD_SHARD_NONE);
        variant = true;
    }
    memset(&rec, 0, sizeof rec);
    rec.nchannels = (uint8_t)c->nchannels;
    for (size_t i = 0; i < c->nchannels; i++) {
        if (c->channels[i].type == HD_CHANNEL_EMAIL)
            rec.chskip[i] = p.email_status == HD_EMAIL_OK                ? HD_CHSKIP_NONE
                            : p.email_status == HD_EMAIL_NON_ASCII_LOCAL ? HD_CHSKIP_UNSUPPORTED
                                                                         : HD_CHSKIP_NO_ADDRESS;
        else
            rec.chskip[i] = p.push_token ? HD_CHSKIP_NONE : HD_CHSKIP_NO_ADDRESS;
        any = any || rec.chskip[i] == HD_CHSKIP_NONE;
    }
    if (!any)
        return exclude(pl, row, &p, HD_R_NO_CHANNEL, HD_F_COUNT, NULL) ||
               add_id(pl, dir, p.id, p.id_len, row->index, HD_SHARD_NONE);
    if (route(pl, &p, &shard, &source) != 0)
        return -1;

    struct shard *sh = &pl->shards[shard];
    rec.row = row->index;
    rec.line = row->line;
    memcpy(rec.country, p.country->code, 3);
    memcpy(rec.language, sh->language, sizeof rec.language);
    rec.lang_source = source;
    rec.variant = variant;
    rec.age = (int16_t)p.age;
    rec.id = p.id;
    rec.id_len = (uint16_t)p.id_len;
    rec.email = p.email;
    rec.email_len = (uint16_t)p.email_len;
    rec.push_token = p.push_token;
    rec.push_token_len = (uint16_t)p.push_token_len;
    rec.language_asked = p.language_given;
    rec.language_asked_len = (uint16_t)strlen(p.language_given);
    rec.time_zone = p.time_zone;
    rec.time_zone_len = (uint16_t)p.time_zone_len;
    rec.name = p.name;
    rec.name_len = (uint16_t)(p.name_len > 512 ? 512 : p.name_len);
    /* A cut name ends on a character boundary, never inside a UTF-8
     * sequence (names go into headers and templates as valid UTF-8). */
    while (rec.name_len < p.name_len && rec.name_len > 0 &&
           ((unsigned char)p.name[rec.name_len] & 0xC0) == 0x80)
        rec.name_len--;
    hd_buf_reset(&pl->rec);
    if (hd_person_rec_encode(&rec, &pl->rec) != 0) {
        hd_err_set(pl->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_key_person(key, shard, row->index);
    if (put(pl, pl->store->persons, key, 10, pl->rec.data, pl->rec.len, 0, "writing a person") != 0)
        return -1;
    for (uint8_t ch = 0; ch < rec.nchannels; ch++) {
        if (rec.chskip[ch] != HD_CHSKIP_NONE) {
            sh->delta_channel[ch][HD_CK_SKIP_BASE + rec.chskip[ch]]++;
            continue;
        }
        hd_key_delivery(key, shard, row->index, ch);
        if (put(pl, pl->store->deliveries, key, 11, pl->pending.data, pl->pending.len, 0,
                "writing a delivery") != 0)
            return -1;
        sh->delta_channel[ch][HD_DS_PENDING]++;
    }
    sh->delta_persons[variant ? HD_CK_VARIANT : HD_CK_ELIGIBLE]++;
    note_zone(pl, p.time_zone, p.time_zone_len);
    sh->dirty = true;
    pl->eligible++;
    return add_id(pl, dir, p.id, p.id_len, row->index, shard);
}

/* ---- fingerprint and state ------------------------------------------------------ */

struct fingerprint {
    char snapshot[65], audience[65], objections[65];
};

/* The SHA-256 of an input file, opened as every input is (herald/files.h):
 * /dev/zero or a FIFO as the audience is refused here, never hashed forever. */
static int input_sha256(const char *path, enum hd_input_kind kind, const char *what, char hex[65],
                        uint64_t *size, struct hd_err *err)
{
    int rc, fd = hd_input_open(path, kind, what, NULL, err);
    if (fd < 0)
        return -1;
    rc = hd_sha256_fd(fd, path, hex, size, err);
    close(fd);
    return rc;
}

static void campaign_fingerprint(const struct hd_campaign *c, struct fingerprint *fp)
{
    hd_hex(c->snapshot_sha256, 32, fp->snapshot);
}

static int store_snapshot(struct planner *pl)
{
    const struct hd_campaign *c = pl->c;
    char key[64];
    if (put(pl, pl->store->snapshot, "campaign", 8, c->doc->bytes, c->doc->size, 0,
            "writing the snapshot") != 0)
        return -1;
    for (size_t i = 0; i < c->nlocale_docs; i++) {
        const struct hd_ydoc *d = c->locale_docs[i];
        const char *base = strrchr(d->file, '/');
        snprintf(key, sizeof key, "locale/%s", base ? base + 1 : d->file);
        if (put(pl, pl->store->snapshot, key, strlen(key), d->bytes, d->size, 0,
                "writing the snapshot") != 0)
            return -1;
    }
    return 0;
}

void hd_plan_default_dir(const struct hd_campaign *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/herald-state/%s", c->dir, c->id);
}

static int meta_str(MDB_txn *txn, struct hd_store *s, const char *key, char *out, size_t cap,
                    struct hd_err *err)
{
    struct hd_buf b = HD_BUF_INIT;
    bool found;
    int rc = hd_store_meta_get(txn, s, key, &b, &found, err);
    out[0] = '\0';
    if (rc == 0 && found)
        snprintf(out, cap, "%.*s", (int)b.len, b.data);
    hd_buf_release(&b);
    return rc;
}

/* Decides what to do with an existing store: 1 = up to date, 0 = (re)build,
 * -1 = refuse (err set). */
static int check_existing(struct hd_store *s, const struct hd_campaign *c,
                          const struct fingerprint *fp, bool replan, struct hd_err *err)
{
    MDB_txn *txn;
    char state[32], id[HD_ID_MAX + 1], snap[65], aud[65], obj[65];
    int rc = -1;

    if (hd_store_begin(s, false, &txn, err) != 0)
        return -1;
    if (meta_str(txn, s, "plan_state", state, sizeof state, err) != 0 ||
        meta_str(txn, s, "campaign_id", id, sizeof id, err) != 0 ||
        meta_str(txn, s, "snapshot_sha256", snap, sizeof snap, err) != 0 ||
        meta_str(txn, s, "audience_sha256", aud, sizeof aud, err) != 0 ||
        meta_str(txn, s, "objections_sha256", obj, sizeof obj, err) != 0)
        goto out;
    if (state[0] == '\0' || strcmp(state, "building") == 0) {
        rc = 0; /* new, or an interrupted plan: nothing was dispatched from it */
        goto out;
    }
    if (strcmp(id, c->id) != 0) {
        hd_err_set(err, HD_EX_DATAERR, "the state store %s belongs to campaign \"%s\", not \"%s\"",
                   s->dir, id, c->id);
        goto out;
    }
    bool same_snap = strcmp(snap, fp->snapshot) == 0, same_aud = strcmp(aud, fp->audience) == 0,
         same_obj = strcmp(obj, fp->objections) == 0;
    if (same_snap && same_aud && same_obj) {
        rc = 1;
        goto out;
    }
    /* Something changed: a replan is safe only before any dispatch. */
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t started = 0;
    if (mdb_cursor_open(txn, s->counters, &cur) == 0) {
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
            const uint8_t *kb = k.mv_data;
            uint64_t n;
            if (k.mv_size != 4 || v.mv_size != 8 || kb[2] >= HD_MAX_CHANNELS ||
                kb[3] == HD_DS_PENDING || kb[3] >= HD_DS_COUNT)
                continue;
            memcpy(&n, v.mv_data, 8);
            started += n;
        }
        mdb_cursor_close(cur);
    }
    char what[256];
    snprintf(what, sizeof what, "%s%s%s", same_snap ? "" : " the campaign or its locale files,",
             same_aud ? "" : " the audience file,", same_obj ? "" : " the objections file,");
    what[strlen(what) - 1] = '\0';
    if (!replan) {
        hd_err_set(err, HD_EX_DATAERR,
                   "the plan in %s was made from other inputs: changed since:%s; run with "
                   "--replan to rebuild it",
                   s->dir, what);
        goto out;
    }
    if (started) {
        hd_err_set(err, HD_EX_DATAERR,
                   "cannot replan %s: %" PRIu64 " deliveries have already been dispatched "
                   "(changed:%s); start a new campaign id instead",
                   s->dir, started, what);
        goto out;
    }
    rc = 0;
out:
    mdb_txn_abort(txn);
    return rc;
}

/* Normalised input: every kind with its row count, and the non-zero
 * (kind, field) pairs (docs/plan-output.md). */
static json_t *norms_json(const struct planner *pl, json_t **fields)
{
    json_t *kinds = json_object();
    *fields = json_array();
    for (int n = 0; n < HD_N_COUNT; n++) {
        json_object_set_new(kinds, hd_norm_names[n], json_integer((json_int_t)pl->norm_rows[n]));
        for (int f = 0; f < HD_F_COUNT; f++)
            if (pl->norm_fields[n][f])
                json_array_append_new(*fields,
                                      json_pack("{s:s, s:s, s:I}", "kind", hd_norm_names[n],
                                                "field", hd_field_names[f], "count",
                                                (json_int_t)pl->norm_fields[n][f]));
    }
    return kinds;
}

static json_t *causes_json(const struct planner *pl)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < pl->ncauses; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:I}", "field",
                           pl->causes[i].field < HD_F_COUNT ? hd_field_names[pl->causes[i].field]
                                                            : "row",
                           "reason", pl->causes[i].why, "count", (json_int_t)pl->causes[i].count));
    if (pl->causes_other)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "field", "row", "reason", "other",
                                             "count", (json_int_t)pl->causes_other));
    return arr;
}

int hd_plan_run(const struct hd_campaign *c, const struct hd_plan_opts *opts,
                struct hd_plan_result *result, struct hd_err *err)
{
    struct planner *pl = calloc(1, sizeof *pl);
    struct hd_audience *aud = NULL;
    struct fingerprint fp;
    char dir_buf[4096];
    const char *dir = opts->state_dir;
    uint64_t aud_size = 0, obj_size = 0;
    char *locales = NULL;
    double t0 = now_s(), last_progress = t0;
    int rc = -1;

    memset(result, 0, sizeof *result);
    if (pl == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    pl->c = c;
    pl->err = err;
    pl->zones = json_array();
    /* The caller's path as it is: a copy cut to a buffer's size would name
     * another directory (hd_store_open refuses one too long to open). */
    if (dir == NULL) {
        if (hd_state_dir_resolve(c, dir_buf, sizeof dir_buf, err) != 0)
            goto out;
        dir = dir_buf;
    }

    campaign_fingerprint(c, &fp);
    if (input_sha256(c->audience_path, HD_IN_AUDIENCE, "audience file", fp.audience, &aud_size,
                     err) != 0)
        goto out;
    strcpy(fp.objections, "none");
    if (c->objections_path && input_sha256(c->objections_path, HD_IN_OBJECTIONS, "objections file",
                                           fp.objections, &obj_size, err) != 0)
        goto out;

    if (hd_proofs_open(&pl->proofs, c, NULL, err) != 0)
        goto out;
    /* Never a second store for a campaign whose store can be found: a fresh
     * plan has every notice pending, ready to be sent again. */
    if (hd_state_dir_guard(c, dir, err) != 0)
        goto out;
    if (hd_store_open(&pl->store, dir, HD_STORE_CREATE | HD_STORE_BULK, err) != 0 ||
        hd_state_dir_record(c, dir, err) != 0)
        goto out;
    int state = check_existing(pl->store, c, &fp, opts->replan, err);
    if (state < 0)
        goto out;
    if (state == 1) {
        result->unchanged = true;
        rc = 0;
        goto out;
    }
    if (c->objections_path && idset_load(&pl->objected, c->objections_path, err) != 0)
        goto out;

    struct hd_audience_opts ao;
    memset(&ao, 0, sizeof ao);
    ao.path = c->audience_path;
    ao.format = c->audience_format;
    for (int f = 0; f < HD_F_COUNT; f++)
        ao.columns[f] = c->columns[f];
    ao.delimiter = c->audience_delimiter;
    if (hd_audience_open(&aud, &ao, err) != 0)
        goto out;
    bool delim_detected;
    char delim = hd_audience_delimiter(aud, &delim_detected);
    if (delim_detected)
        pl->norm_rows[HD_N_DELIMITER] = 1;

    /* Start from empty and mark the plan as building, durably, so an
     * interrupted plan is rebuilt rather than trusted. */
    if (hd_store_begin(pl->store, true, &pl->txn, err) != 0 ||
        hd_store_clear_plan(pl->txn, pl->store, err) != 0 ||
        hd_store_meta_put(pl->txn, pl->store, "format", HD_STORE_FORMAT, strlen(HD_STORE_FORMAT),
                          err) != 0 ||
        hd_store_meta_put(pl->txn, pl->store, "campaign_id", c->id, strlen(c->id), err) != 0 ||
        hd_store_meta_put(pl->txn, pl->store, "plan_state", "building", 8, err) != 0 ||
        store_snapshot(pl) != 0 || commit_and_renew(pl, true) != 0 ||
        hd_store_sync(pl->store, err) != 0)
        goto out;

    struct hd_delivery_rec fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.state = HD_DS_PENDING;
    pl->run = malloc(RUN_ENTRIES * sizeof *pl->run);
    if (pl->run == NULL || hd_delivery_rec_encode(&fresh, &pl->pending) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    struct hd_check_opts co = {c->ref_year, c->ref_month, c->ref_day, c->minimum_age > 0, NULL};
    /* The locale tags, for macrolanguage mapping ("nb" reaches a "no" locale). */
    if ((locales = hd_campaign_locale_tags(c)) == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    co.locales = locales;
    struct hd_row row;
    uint64_t in_batch = 0;
    int got;
    while ((got = hd_audience_next(aud, &row, err)) == 1) {
        if (plan_row(pl, &row, &co, dir) != 0)
            goto out;
        if (++in_batch == COMMIT_ROWS) {
            in_batch = 0;
            if (commit_and_renew(pl, true) != 0)
                goto out;
            hd_store_drop_mapped(pl->store);
            if (opts->progress) {
                double t = now_s();
                if (t - last_progress >= 1.0) {
                    last_progress = t;
                    opts->progress(opts->progress_ctx, pl->rows, hd_audience_offset(aud), aud_size);
                }
            }
        }
    }
    if (got < 0)
        goto out;
    if (flush_run(pl, dir) != 0 || commit_and_renew(pl, true) != 0)
        goto out;
    free(pl->run);
    pl->run = NULL;
    if (merge_runs(pl) != 0)
        goto out;
    /* One proof record per exclusion, in row order, in the plan's transactions. */
    if (pl->proofs &&
        hd_proofs_exclusions(pl->proofs, pl->store, &pl->txn, renew_txn, pl, err) != 0)
        goto out;

    /* The final word: counts, fingerprint, then "complete", synced. */
    json_t *norm_fields, *norm_kinds = norms_json(pl, &norm_fields);
    if (delim_detected)
        json_array_append_new(norm_fields,
                              json_pack("{s:s, s:s, s:I}", "kind", hd_norm_names[HD_N_DELIMITER],
                                        "field", "file", "count", (json_int_t)1));
    char delim_text[2] = {delim, '\0'};
    json_t *report = json_pack(
        "{s:I, s:I, s:I, s:o, s:f, s:o, s:o, s:s}", "rows", (json_int_t)pl->rows, "eligible",
        (json_int_t)pl->eligible, "excluded", (json_int_t)pl->excluded, "invalid_rows",
        causes_json(pl), "seconds", now_s() - t0, "normalised", norm_kinds, "normalised_fields",
        norm_fields, "delimiter", c->audience_format == HD_AUDIENCE_CSV ? delim_text : "");
    char *report_text = report ? json_dumps(report, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(report);
    if (report_text == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    int mrc = hd_store_meta_put(pl->txn, pl->store, "plan_report", report_text, strlen(report_text),
                                err) ||
              hd_store_meta_put(pl->txn, pl->store, "snapshot_sha256", fp.snapshot, 64, err) ||
              hd_store_meta_put(pl->txn, pl->store, "audience_sha256", fp.audience, 64, err) ||
              hd_store_meta_put(pl->txn, pl->store, "objections_sha256", fp.objections,
                                strlen(fp.objections), err);
    free(report_text);
    char *zones = json_dumps(pl->zones, JSON_COMPACT);
    mrc = mrc || zones == NULL ||
          hd_store_meta_put(pl->txn, pl->store, "time_zones", zones, strlen(zones), err);
    free(zones);
    if (mrc != 0 || commit_and_renew(pl, true) != 0 || hd_store_sync(pl->store, err) != 0 ||
        hd_store_meta_put(pl->txn, pl->store, "plan_state", "complete", 8, err) != 0 ||
        commit_and_renew(pl, false) != 0 || hd_store_sync(pl->store, err) != 0)
        goto out;
    if (pl->rows != pl->eligible + pl->excluded) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "internal error: %" PRIu64 " rows but %" PRIu64 " eligible + %" PRIu64
                   " excluded",
                   pl->rows, pl->eligible, pl->excluded);
        goto out;
    }
    result->rows = pl->rows;
    result->eligible = pl->eligible;
    result->excluded = pl->excluded;
    rc = 0;
out:
    result->seconds = now_s() - t0;
    if (pl->txn)
        mdb_txn_abort(pl->txn);
    for (size_t i = 0; i < pl->nruns; i++) {
        const char *slash = strrchr(pl->run_paths[i], '/');
        unlinkat(pl->store->dirfd, slash ? slash + 1 : pl->run_paths[i], 0);
        free(pl->run_paths[i]);
    }
    free(pl->run_paths);
    free(pl->run);
    free(pl->shards);
    idset_free(&pl->objected);
    hd_buf_release(&pl->rec);
    hd_buf_release(&pl->pending);
    json_decref(pl->zones);
    hd_audience_free(aud);
    free(locales);
    hd_proofs_close(pl->proofs);
    hd_store_close(pl->store);
    free(pl);
    return rc;
}

/* ---- summary ---------------------------------------------------------------------- */

json_t *hd_plan_summary(struct hd_store *s, const struct hd_campaign *c, struct hd_err *err)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    json_t *out = NULL, *shards = json_array(), *excl = json_object(), *report = NULL;
    struct hd_buf b = HD_BUF_INIT;
    bool found;

    if (hd_store_begin(s, false, &txn, err) != 0)
        goto fail;
    if (hd_store_meta_get(txn, s, "plan_report", &b, &found, err) != 0)
        goto fail;
    if (found)
        report = json_loadb(b.data, b.len, 0, NULL);
    if (mdb_cursor_open(txn, s->shards, &cur) != 0)
        goto fail;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct hd_shard_rec rec;
        if (k.mv_size != 2 || v.mv_size != sizeof rec)
            continue;
        memcpy(&rec, v.mv_data, sizeof rec);
        uint16_t id = hd_get_u16(k.mv_data);
        json_t *chans = json_object();
        for (uint8_t ch = 0; ch < HD_MAX_CHANNELS; ch++) {
            json_t *states = json_object();
            bool any = false;
            for (uint8_t st = 0; st < HD_DS_COUNT; st++) {
                uint64_t n = hd_store_counter_get(txn, s, hd_counter_key(id, ch, st));
                if (n) {
                    json_object_set_new(states, hd_dstate_names[st], json_integer((json_int_t)n));
                    any = true;
                }
            }
            for (uint8_t sk = 1; sk < 3; sk++) {
                uint64_t n = hd_store_counter_get(
                    txn, s, hd_counter_key(id, ch, (uint8_t)(HD_CK_SKIP_BASE + sk)));
                if (n) {
                    json_object_set_new(states, hd_chskip_names[sk], json_integer((json_int_t)n));
                    any = true;
                }
            }
            if (any && ch < c->nchannels) {
                json_object_set_new(chans, c->channels[ch].name, states);
            } else {
                json_decref(states);
            }
        }
        json_array_append_new(
            shards,
            json_pack("{s:i, s:s, s:s, s:o, s:I, s:I, s:o}", "shard", id, "country", rec.country,
                      "language", rec.language, "wave",
                      rec.wave < c->nwaves ? json_string(c->waves[rec.wave].name) : json_null(),
                      "eligible",
                      (json_int_t)hd_store_counter_get(
                          txn, s, hd_counter_key(id, HD_CK_PERSONS, HD_CK_ELIGIBLE)),
                      "variant",
                      (json_int_t)hd_store_counter_get(
                          txn, s, hd_counter_key(id, HD_CK_PERSONS, HD_CK_VARIANT)),
                      "channels", chans));
    }
    for (uint8_t r = 0; r < HD_R_COUNT; r++)
        json_object_set_new(excl, hd_reason_names[r],
                            json_integer((json_int_t)hd_store_counter_get(
                                txn, s, hd_counter_key(HD_SHARD_NONE, HD_CK_EXCLUDED, r))));
    out = json_pack("{s:o, s:o, s:o}", "shards", shards, "exclusions", excl, "report",
                    report ? report : json_object());
    shards = excl = NULL;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    hd_buf_release(&b);
    return out;
fail:
    if (err->code == 0)
        hd_err_set(err, HD_EX_IOERR, "cannot read the plan summary");
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    json_decref(shards);
    json_decref(excl);
    hd_buf_release(&b);
    return NULL;
}
