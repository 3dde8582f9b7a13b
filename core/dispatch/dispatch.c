/* The dispatcher: one scheduling thread that is also the only writer.
 *
 * Each turn of the loop:
 *   1. apply the outcomes modules reported since the last turn;
 *   2. mark in flight the batch of messages the render threads finished
 *      (it was picked in the previous turn);
 *   3. pick the next batch per channel, as room (concurrency) and tokens
 *      (rate) allow: recovered in-flight ones first, then due retries and
 *      deferrals, then pending ones of the active waves, shard by shard;
 *      and let the render threads start on it;
 *   4. commit 1-3 in ONE transaction (the group commit);
 *   5. only then hand the batch of step 2 to the channel modules, and help
 *      render the batch of step 3.
 * Nothing reaches a channel before its in-flight mark is durable, and every
 * outcome becomes durable in the next turn's commit. Rendering, most of the
 * CPU a message costs, overlaps the commit's wait for the disk. A picked
 * batch changes nothing in the store until step 2 of the next turn (a due
 * retry leaves the due queue there, too), so a crash in between loses
 * nothing: the next run picks the same messages again. Only a deferral for
 * the send window is written while picking (record, due entry and the
 * HD_CK_DEFERRED counter, in this turn's transaction), and the deferred
 * message does not join the batch. */
#include "herald/dispatch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "herald/channel_registry.h" /* hd_channel_view_init */
#include "herald/clock.h"
#include "herald/files.h"
#include "herald/link.h"
#include "herald/plan.h"
#include "herald/proof.h"
#include "herald/region.h"
#include "herald/render.h"
#include "herald/statedir.h"
#include "herald/store.h"
#include "herald/tz.h"

#define BATCH_MAX 1024 /* messages per channel per turn */
#define CONTROL_EVERY_MS 200
#define PROGRESS_EVERY_MS 1000
#define NO_WAVE 0xFFFF

/* ---- outcomes, reported from any thread -------------------------------------- */

struct outcome {
    uint64_t handle;
    enum hd_outcome_kind kind;
    int code;
    unsigned retry_after_s;
    size_t text; /* event, provider id, response: NUL-terminated, in a row */
};

/* Reported outcomes and the text they carry. The writer swaps the whole of
 * it for its own, emptied, copy each turn, so once both have grown to a
 * turn's worth, reporting an outcome allocates nothing. */
struct outcomes {
    struct outcome *items;
    size_t count, cap;
    struct hd_buf text;
};

struct outbox {
    pthread_mutex_t lock;
    struct outcomes q;
    bool oom;
    /* for host_log: the run's log settings, read-only while modules run */
    enum hd_log_format log_format;
    bool live_progress;
    const char *campaign_id;
};

/* One log line on stderr, as text or a JSON object; raw is escaped here
 * (messages carry campaign, audience and server text). Called by the writer
 * and, through host_log, by module threads: one fprintf per line. */
static void log_line(enum hd_log_format format, bool live_progress, const char *campaign_id,
                     const char *level, const char *raw)
{
    char msg[1024];
    hd_err_escape(msg, sizeof msg, raw, strlen(raw));
    if (live_progress)
        fputs("\r\033[K", stderr);
    if (format == HD_LOG_JSON) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "time_ms", (json_int_t)hd_now_ms(), "level",
                              level, "campaign", campaign_id, "message", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            fprintf(stderr, "%s\n", s);
        free(s);
        json_decref(o);
    } else {
        fprintf(stderr, "herald: %s: %s\n", level, msg);
    }
}

static int put_text(struct hd_buf *b, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return hd_buf_append(b, s ? s : "", n < max ? n : max) || hd_buf_putc(b, '\0');
}

static void host_report(void *ctx, const struct hd_outcome *o)
{
    struct outbox *box = ctx;
    struct outcomes *q = &box->q;
    /* A failure's text is its reason unless the service said something. */
    const char *text = o->response ? o->response : o->reason;
    const char *event = o->event                          ? o->event
                        : o->kind == HD_OUTCOME_ACCEPTED  ? "accepted"
                        : o->kind == HD_OUTCOME_TRANSIENT ? "transient_failure"
                        : o->kind == HD_OUTCOME_UNCERTAIN ? "uncertain"
                                                          : "permanent_failure";
    pthread_mutex_lock(&box->lock);
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        struct outcome *items = realloc(q->items, cap * sizeof *items);
        if (items == NULL) {
            box->oom = true;
            pthread_mutex_unlock(&box->lock);
            return;
        }
        q->items = items;
        q->cap = cap;
    }
    size_t at = q->text.len;
    if (put_text(&q->text, event, SIZE_MAX) || put_text(&q->text, o->provider_id, SIZE_MAX) ||
        put_text(&q->text, text, HD_RESPONSE_MAX)) {
        box->oom = true;
    } else {
        q->items[q->count++] = (struct outcome){.handle = o->handle,
                                                .kind = o->kind,
                                                .code = o->code,
                                                .retry_after_s = o->retry_after_s,
                                                .text = at};
    }
    pthread_mutex_unlock(&box->lock);
}

static void host_log(void *ctx, int level, const char *message)
{
    const struct outbox *box = ctx;
    log_line(box->log_format, box->live_progress, box->campaign_id,
             level == 0   ? "error"
             : level == 1 ? "warning"
                          : "info",
             message ? message : "");
}

/* ---- the dispatcher's state ---------------------------------------------------- */

struct slot {
    uint8_t key[11];
    uint16_t wave;
    uint8_t attempts;
    uint16_t flags;
    int64_t first_ms;
    uint8_t sha256[32];
    bool used;
};

struct shard_info {
    uint16_t id;
    char country[3];
    char language[16];
    uint16_t wave;
    bool walked[HD_MAX_CHANNELS];     /* the pending walk reached its end */
    uint8_t pos[HD_MAX_CHANNELS][11]; /* last key the walk looked at (0 = none yet) */
    bool started[HD_MAX_CHANNELS];
};

struct chan {
    const struct hd_channel_conf *conf;
    const struct hd_channel_ops *ops;
    void *inst;
    unsigned inflight;
    double tokens;
    int64_t last_refill_ms;
    struct hd_message *msgs; /* the batch marked in flight this turn */
    char (*person_ids)[260];
    size_t nmsgs;
    uint64_t sent, failed, total;
    uint64_t window_done[8]; /* sent+failed counts sampled each second, for rates */
    int64_t window_ms[8];
    size_t window_i;
};

struct control {
    bool all;
    char (*countries)[3];
    size_t ncountries;
    char **waves; /* paused wave names */
    size_t nwaves;
    char **halted; /* canary-halted wave names */
    size_t nhalted;
    int64_t gen;
};

struct canary {
    uint8_t *ring; /* 1 = failure */
    size_t len, next, fails;
    bool halted;
};

/* A message picked this turn, waiting to be rendered. */
struct job {
    uint8_t key[11];
    struct shard_info *si;
    struct hd_delivery_rec r; /* as read; only its numbers are used */
    bool recovered;
    bool deferred;          /* pending and deferred by the send window when picked */
    int64_t due_ms;         /* its due-queue entry (a retry or deferral), or 0 */
    int64_t first;          /* the first attempt's time: it dates the message */
    struct hd_buf person;   /* a copy of the person record */
    struct hd_person_rec p; /* decoded from person */
    size_t ridx;            /* the channel's rendered slot */
    uint64_t handle;        /* its in-flight slot, taken when picked */
    int rc;
    struct hd_err err;
};

/* The messages picked in one turn. Two batches alternate: while the
 * scheduler marks one in flight, commits and sends it, the render threads
 * work on the other. */
struct batch {
    struct job *jobs; /* BATCH_MAX per campaign channel */
    size_t njobs;
    struct hd_rendered *rendered[HD_MAX_CHANNELS]; /* BATCH_MAX per channel */
    size_t nrendered[HD_MAX_CHANNELS];
    atomic_size_t next; /* the next job a render thread takes */
};

struct disp;

/* Render workers. The scheduler thread renders too, once its own work for
 * the turn is done; jobs are taken one at a time, so whoever is free
 * renders. */
struct pool {
    struct disp *d;
    pthread_t *threads;
    struct worker *workers;
    size_t nworkers;
    struct hd_renderer **renderers; /* one per thread; [0] is the scheduler's */
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    uint64_t gen;
    struct batch *batch; /* the batch being rendered */
    size_t busy;         /* workers still taking jobs from it */
    bool quit;
};

struct worker {
    struct pool *pool;
    size_t index; /* 1.. ; 0 is the scheduler */
};

struct disp {
    const struct hd_campaign *c;
    const struct hd_dispatch_opts *opts;
    struct hd_err *err;
    struct hd_store *store;
    MDB_txn *txn;
    MDB_cursor *put_cur; /* deliveries, in txn (see put_delivery) */
    struct pool pool;
    struct batch batch[2];
    unsigned fill; /* the batch being picked into; the other is being rendered */
    struct hd_link_secret secret;
    struct hd_proofs *proofs; /* NULL: the campaign keeps no proofs */
    struct hd_tzset *tz;
    struct outbox box;
    struct outcomes drained; /* the writer's side of box.q */
    struct hd_channel_host host;
    struct chan ch[HD_MAX_CHANNELS];
    struct shard_info *shards;
    size_t nshards;
    struct slot *slots;
    size_t nslots, free_hint;
    /* with proofs: per slot, what its proof record takes from the person,
     * made by the render threads (hd_proofs_prepare) */
    struct hd_proof_pre *pre;
    struct control ctl;
    struct canary *canary; /* per wave */
    size_t nwaves;         /* campaign waves, or 1 implicit wave when it has none */
    /* counter deltas of the open transaction: shard x channel x NCOUNTERS */
    int64_t *delta;
    bool delta_dirty;
    /* recovered in-flight deliveries to re-send first */
    uint8_t (*recovered)[11];
    size_t nrecovered, recovered_next;
    struct hd_dispatch_result *res;
    struct hd_buf rec;
    int64_t due_next_ms; /* earliest future due time seen, 0 if none */
    uint64_t due_paused; /* due entries skipped for a pause in the last walk */
    bool stopping;
    int lock_fd;
    int64_t last_log_ms;      /* plain progress lines go out every 10 s */
    uint64_t render_failures; /* this run's, for the log (the store counts them all) */
};

/* Render failures logged one by one in a run; after that only counted
 * (herald status shows them with the failed deliveries). */
#define RENDER_FAILURES_LOGGED 20

/* The counters a turn changes per shard and channel: the delivery states,
 * then DEFERRED (HD_CK_DEFERRED: pending and deferred by the send window). */
#define DEFERRED HD_DS_COUNT
#define NCOUNTERS (HD_DS_COUNT + 1)

static int64_t *delta_at(struct disp *d, uint16_t shard, uint8_t ch, uint8_t counter)
{
    return &d->delta[((size_t)shard * HD_MAX_CHANNELS + ch) * NCOUNTERS + counter];
}

static void count(struct disp *d, uint16_t shard, uint8_t ch, uint8_t from, uint8_t to)
{
    if (from < HD_DS_COUNT)
        (*delta_at(d, shard, ch, from))--;
    (*delta_at(d, shard, ch, to))++;
    d->delta_dirty = true;
}

/* A pending delivery starts (+1) or stops (-1) being deferred by the send
 * window: it is pending with a next-attempt time and a due entry. Counted
 * when the store changes, in the same transaction. */
static void count_deferred(struct disp *d, uint16_t shard, uint8_t ch, int64_t delta)
{
    *delta_at(d, shard, ch, DEFERRED) += delta;
    d->delta_dirty = true;
}

static int flush_deltas(struct disp *d)
{
    if (!d->delta_dirty)
        return 0;
    for (size_t s = 0; s < d->nshards; s++)
        for (uint8_t ch = 0; ch < HD_MAX_CHANNELS; ch++)
            for (uint8_t n = 0; n < NCOUNTERS; n++) {
                int64_t *v = delta_at(d, (uint16_t)s, ch, n);
                if (*v == 0)
                    continue;
                struct hd_counter_key key =
                    hd_counter_key(d->shards[s].id, ch, n == DEFERRED ? HD_CK_DEFERRED : n);
                /* Stores made before DEFERRED existed may hold deferrals it
                 * never counted: releasing those stops at 0. */
                if ((n == DEFERRED ? hd_store_counter_add_floor
                                   : hd_store_counter_add)(d->txn, d->store, key, *v, d->err) != 0)
                    return -1;
                *v = 0;
            }
    d->delta_dirty = false;
    return 0;
}

static int txn_open(struct disp *d)
{
    return d->txn ? 0 : hd_store_begin(d->store, true, &d->txn, d->err);
}

static int txn_commit(struct disp *d)
{
    if (d->txn == NULL)
        return 0;
    if (flush_deltas(d) != 0)
        return -1;
    int rc = hd_store_commit(d->txn, d->err);
    d->txn = NULL;
    d->put_cur = NULL; /* LMDB freed it with its transaction */
    return rc;
}

static struct shard_info *shard_by_id(struct disp *d, uint16_t id)
{
    /* Shard ids are dense from 0, in table order. */
    return id < d->nshards && d->shards[id].id == id ? &d->shards[id] : NULL;
}

static void logf_(struct disp *d, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(struct disp *d, const char *level, const char *fmt, ...)
{
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    log_line(d->opts->log_format, d->opts->live_progress, d->c->id, level, raw);
}

/* ---- control: pauses and halts from other processes ------------------------------- */

static void control_release(struct control *c)
{
    free(c->countries);
    for (size_t i = 0; i < c->nwaves; i++)
        free(c->waves[i]);
    free(c->waves);
    for (size_t i = 0; i < c->nhalted; i++)
        free(c->halted[i]);
    free(c->halted);
    memset(c, 0, sizeof *c);
}

static char **strings_of(json_t *arr, size_t *n)
{
    size_t i;
    json_t *v;
    char **out = calloc(json_array_size(arr) + 1, sizeof *out);
    *n = 0;
    if (out == NULL)
        return NULL;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && (out[*n] = strdup(json_string_value(v))) != NULL)
            (*n)++;
    }
    return out;
}

/* Reads meta "control" ({"all":bool,"countries":[..],"waves":[..],
 * "halted":{wave: reason}}) when its generation changed. */
static int poll_control(struct disp *d)
{
    MDB_txn *txn;
    struct hd_buf b = HD_BUF_INIT;
    bool found;
    json_t *j = NULL;
    int rc = -1;

    if (hd_store_begin(d->store, false, &txn, d->err) != 0)
        return -1;
    if (hd_store_meta_get(txn, d->store, "control", &b, &found, d->err) != 0)
        goto out;
    rc = 0;
    if (!found)
        goto out;
    j = json_loadb(b.data, b.len, 0, NULL);
    if (j == NULL)
        goto out;
    int64_t gen = json_integer_value(json_object_get(j, "gen"));
    if (gen == d->ctl.gen)
        goto out;
    control_release(&d->ctl);
    d->ctl.gen = gen;
    d->ctl.all = json_is_true(json_object_get(j, "all"));
    size_t n;
    char **cs = strings_of(json_object_get(j, "countries"), &n);
    d->ctl.countries = calloc(n + 1, sizeof *d->ctl.countries);
    for (size_t i = 0; cs && d->ctl.countries && i < n; i++) {
        snprintf(d->ctl.countries[i], 3, "%s", cs[i]);
        d->ctl.ncountries++;
    }
    for (size_t i = 0; cs && i < n; i++)
        free(cs[i]);
    free(cs);
    d->ctl.waves = strings_of(json_object_get(j, "waves"), &d->ctl.nwaves);
    json_t *halted = json_object_get(j, "halted"), *v;
    const char *k;
    d->ctl.halted = calloc(json_object_size(halted) + 1, sizeof *d->ctl.halted);
    json_object_foreach(halted, k, v)
    {
        if (d->ctl.halted && (d->ctl.halted[d->ctl.nhalted] = strdup(k)) != NULL)
            d->ctl.nhalted++;
    }
    /* An unpaused wave gets its canary window back clean. */
    for (size_t w = 0; w < d->c->nwaves; w++) {
        bool h = false;
        for (size_t i = 0; i < d->ctl.nhalted; i++)
            h = h || strcmp(d->ctl.halted[i], d->c->waves[w].name) == 0;
        if (!h && d->canary[w].halted) {
            d->canary[w].halted = false;
            d->canary[w].fails = 0;
            d->canary[w].next = 0;
            memset(d->canary[w].ring, 0, d->canary[w].len);
        }
        d->canary[w].halted = h;
    }
    logf_(d, "info", "control changed: %s%zu countries, %zu waves paused, %zu waves halted",
          d->ctl.all ? "ALL PAUSED, " : "", d->ctl.ncountries, d->ctl.nwaves, d->ctl.nhalted);
out:
    json_decref(j);
    hd_buf_release(&b);
    mdb_txn_abort(txn);
    return rc;
}

static bool wave_blocked(const struct disp *d, uint16_t wave)
{
    if (d->ctl.all)
        return true;
    if (wave >= d->c->nwaves)
        return false;
    const char *name = d->c->waves[wave].name;
    for (size_t i = 0; i < d->ctl.nwaves; i++)
        if (strcmp(d->ctl.waves[i], name) == 0)
            return true;
    return d->canary[wave].halted;
}

static bool shard_blocked(const struct disp *d, const struct shard_info *s)
{
    for (size_t i = 0; i < d->ctl.ncountries; i++)
        if (memcmp(d->ctl.countries[i], s->country, 2) == 0)
            return true;
    return wave_blocked(d, s->wave);
}

/* The canary: halts a wave whose failure rate over its last N attempts
 * passes the campaign's threshold, durably, so status shows it and a re-run
 * keeps it halted until an operator unpauses the wave. */
static int canary_note(struct disp *d, uint16_t wave, bool failed)
{
    if (d->c->canary_failure_rate <= 0 || wave >= d->c->nwaves)
        return 0;
    struct canary *k = &d->canary[wave];
    k->fails -= k->ring[k->next];
    k->ring[k->next] = failed;
    k->fails += failed;
    k->next = (k->next + 1) % k->len;
    if (k->halted || (double)k->fails / (double)k->len <= d->c->canary_failure_rate)
        return 0;
    k->halted = true;
    char reason[256];
    snprintf(reason, sizeof reason,
             "canary: %zu of the last %zu attempts failed (threshold %.0f%%)", k->fails, k->len,
             d->c->canary_failure_rate * 100);
    logf_(d, "error", "wave \"%s\" halted: %s; `herald unpause --wave %s` resumes it",
          d->c->waves[wave].name, reason, d->c->waves[wave].name);
    /* Merge into the control record in this transaction. */
    struct hd_buf b = HD_BUF_INIT;
    bool found;
    json_t *j = NULL;
    int rc = -1;
    if (hd_store_meta_get(d->txn, d->store, "control", &b, &found, d->err) != 0)
        goto out;
    j = found ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    if (j == NULL)
        j = json_object();
    json_t *halted = json_object_get(j, "halted");
    if (!json_is_object(halted)) {
        halted = json_object();
        json_object_set_new(j, "halted", halted);
    }
    json_object_set_new(halted, d->c->waves[wave].name, json_string(reason));
    d->ctl.gen = json_integer_value(json_object_get(j, "gen")) + 1;
    json_object_set_new(j, "gen", json_integer(d->ctl.gen));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    rc = text ? hd_store_meta_put(d->txn, d->store, "control", text, strlen(text), d->err) : -1;
    free(text);
    if (rc == 0) {
        char audit[512];
        snprintf(audit, sizeof audit,
                 "{\"time_ms\":%" PRId64 ",\"action\":\"halt\",\"wave\":\"%s\",\"by\":\"canary\"}",
                 hd_now_ms(), d->c->waves[wave].name);
        rc = hd_store_audit(d->txn, d->store, audit, d->err);
    }
out:
    json_decref(j);
    hd_buf_release(&b);
    return rc;
}

/* ---- records ----------------------------------------------------------------------- */

static int put_delivery(struct disp *d, const uint8_t key[11], const struct hd_delivery_rec *r)
{
    MDB_val k = {11, (void *)key}, v;
    int rc;
    hd_buf_reset(&d->rec);
    if (hd_delivery_rec_encode(r, &d->rec) != 0) {
        hd_err_set(d->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    v.mv_size = d->rec.len;
    v.mv_data = d->rec.data;
    /* Writes come in key order, batch after batch: through one cursor,
     * LMDB finds most keys on the leaf page it is already on instead of
     * descending from the root. The cursor lives as long as the
     * transaction (txn_commit forgets it). */
    if (d->put_cur == NULL && (rc = mdb_cursor_open(d->txn, d->store->deliveries, &d->put_cur)))
        return hd_store_fail(d->err, rc, "writing a delivery");
    rc = mdb_cursor_put(d->put_cur, &k, &v, 0);
    return rc ? hd_store_fail(d->err, rc, "writing a delivery") : 0;
}

static int put_due(struct disp *d, int64_t due_ms, const uint8_t key[11])
{
    uint8_t dk[19];
    MDB_val k = {19, dk}, v = {0, ""};
    int rc;
    hd_key_due(dk, due_ms, key);
    rc = mdb_put(d->txn, d->store->due, &k, &v, 0);
    if (d->due_next_ms == 0 || due_ms < d->due_next_ms)
        d->due_next_ms = due_ms;
    return rc ? hd_store_fail(d->err, rc, "queueing a retry") : 0;
}

static int del_due(struct disp *d, int64_t due_ms, const uint8_t key[11])
{
    uint8_t dk[19];
    MDB_val k = {19, dk};
    hd_key_due(dk, due_ms, key);
    int rc = mdb_del(d->txn, d->store->due, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? hd_store_fail(d->err, rc, "taking from the due queue") : 0;
}

static int get_delivery(struct disp *d, const uint8_t key[11], struct hd_delivery_rec *r,
                        bool *found)
{
    MDB_val k = {11, (void *)key}, v;
    int rc = mdb_get(d->txn, d->store->deliveries, &k, &v);
    *found = false;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return hd_store_fail(d->err, rc, "reading a delivery");
    if (hd_delivery_rec_decode(v.mv_data, v.mv_size, r) != 0) {
        hd_err_set(d->err, HD_EX_SOFTWARE, "damaged delivery record in the state store");
        return -1;
    }
    *found = true;
    return 0;
}

/* ---- applying outcomes ---------------------------------------------------------------- */

static unsigned backoff_s(const struct hd_campaign *c, unsigned attempts, unsigned retry_after)
{
    double b = c->retry_initial_s;
    for (unsigned i = 1; i < attempts && b < c->retry_max_s; i++)
        b *= 2;
    if (b > c->retry_max_s)
        b = c->retry_max_s;
    /* Full jitter over the upper half spreads a burst of retries without
     * ever retrying much sooner than the policy says. */
    b = b / 2 + (b / 2) * ((double)(rand() % 1000) / 1000.0);
    if (retry_after > b)
        b = retry_after;
    return b < 1 ? 1 : (unsigned)b;
}

static void free_slot(struct disp *d, uint64_t handle)
{
    d->slots[handle].used = false;
    if (handle < d->free_hint)
        d->free_hint = handle;
}

static int apply_outcome(struct disp *d, const struct outcome *o, const char *text)
{
    if (o->handle >= d->nslots || !d->slots[o->handle].used) {
        logf_(d, "warning", "a module reported an unknown message (handle %" PRIu64 ")", o->handle);
        return 0;
    }
    struct slot *s = &d->slots[o->handle];
    uint16_t shard = hd_get_u16(s->key);
    uint8_t ch = s->key[10];
    struct shard_info *si = shard_by_id(d, shard);
    struct hd_delivery_rec r;
    int64_t now = hd_now_ms();
    memset(&r, 0, sizeof r);
    r.attempts = s->attempts;
    r.flags = s->flags;
    r.code = (uint16_t)(o->code > 0 && o->code < 65536 ? o->code : 0);
    r.first_attempt_ms = s->first_ms;
    r.last_change_ms = now;
    memcpy(r.sha256, s->sha256, 32);
    r.event = text;
    r.event_len = (uint16_t)strlen(r.event);
    r.provider_id = r.event + r.event_len + 1;
    r.provider_id_len = (uint16_t)strlen(r.provider_id);
    r.response = r.provider_id + r.provider_id_len + 1;
    r.response_len = (uint16_t)strlen(r.response);
    bool failed_attempt = o->kind != HD_OUTCOME_ACCEPTED;
    bool uncertain = o->kind == HD_OUTCOME_UNCERTAIN;
    /* The service may have an uncertain one: flagged, never counted failed;
     * sent again with the same id while attempts are left, else held. */
    if (uncertain)
        r.flags |= HD_DF_UNCERTAIN;
    if (o->kind == HD_OUTCOME_ACCEPTED) {
        r.state = HD_DS_SENT;
        d->res->sent++;
        d->ch[ch].sent++;
    } else if ((uncertain || o->kind == HD_OUTCOME_TRANSIENT) &&
               s->attempts < d->c->retry_max_attempts) {
        r.state = HD_DS_RETRY;
        r.next_attempt_ms = now + 1000LL * backoff_s(d->c, s->attempts, o->retry_after_s);
        if (put_due(d, r.next_attempt_ms, s->key) != 0)
            return -1;
        d->res->retried++;
    } else if (uncertain) {
        r.state = HD_DS_HELD;
        d->res->held++;
    } else {
        r.state = HD_DS_FAILED;
        d->res->failed++;
        d->ch[ch].failed++;
    }
    if (put_delivery(d, s->key, &r) != 0)
        return -1;
    /* the proof of a final state, in the same transaction */
    if (d->proofs && (r.state == HD_DS_SENT || r.state == HD_DS_FAILED) &&
        hd_proofs_delivery_pre(d->proofs, d->txn, d->store, s->key, &r, &d->pre[o->handle],
                               d->err) != 0)
        return -1;
    count(d, si ? (uint16_t)(si - d->shards) : 0, ch, HD_DS_INFLIGHT, r.state);
    d->ch[ch].inflight--;
    free_slot(d, o->handle);
    return canary_note(d, s->wave, failed_attempt);
}

static int drain_outcomes(struct disp *d)
{
    struct outcomes *q = &d->drained;
    int rc = 0;
    q->count = 0;
    hd_buf_reset(&q->text);
    pthread_mutex_lock(&d->box.lock);
    struct outcomes t = d->box.q;
    d->box.q = *q;
    *q = t;
    bool oom = d->box.oom;
    pthread_mutex_unlock(&d->box.lock);
    if (oom) {
        hd_err_set(d->err, HD_EX_SOFTWARE, "out of memory recording outcomes");
        return -1;
    }
    if (q->count && txn_open(d) != 0)
        return -1;
    for (size_t i = 0; i < q->count && rc == 0; i++)
        rc = apply_outcome(d, &q->items[i], q->text.data + q->items[i].text);
    return rc;
}

/* ---- picking work ------------------------------------------------------------------------ */

static int take_slot(struct disp *d, uint64_t *handle)
{
    for (size_t i = d->free_hint; i < d->nslots; i++) {
        if (!d->slots[i].used) {
            d->free_hint = i + 1;
            d->slots[i].used = true;
            *handle = i;
            return 0;
        }
    }
    hd_err_set(d->err, HD_EX_SOFTWARE, "internal error: no free in-flight slot");
    return -1;
}

static int load_person(struct disp *d, const uint8_t key[11], struct hd_buf *buf,
                       struct hd_person_rec *p)
{
    MDB_val k = {10, (void *)key}, v;
    int rc = mdb_get(d->txn, d->store->persons, &k, &v);
    if (rc != 0)
        return hd_store_fail(d->err, rc, "reading a person");
    /* The record's bytes must outlive the transaction: copy them. */
    hd_buf_reset(buf);
    if (hd_buf_append(buf, v.mv_data, v.mv_size) != 0 ||
        hd_person_rec_decode(buf->data, buf->len, p) != 0) {
        hd_err_set(d->err, HD_EX_SOFTWARE, "damaged person record in the state store");
        return -1;
    }
    return 0;
}

/* Takes one delivery for channel ch into the batch being picked. Rendering
 * is the expensive part of a message, so taking happens in steps: take()
 * reads what the message needs and queues a job (or defers it for the send
 * window right away); the render threads render the batch while this thread
 * commits and sends the previous one; finish_batch() then marks each job in
 * flight, or failed when it could not be rendered. */
static int take(struct disp *d, struct shard_info *si, const uint8_t key[11],
                struct hd_delivery_rec *r, bool recovered, int64_t due_ms, bool *taken)
{
    uint8_t ch = key[10];
    struct chan *c = &d->ch[ch];
    struct batch *b = &d->batch[d->fill];
    struct job *j = &b->jobs[b->njobs];
    int64_t now = hd_now_ms();
    *taken = false;
    if (load_person(d, key, &j->person, &j->p) != 0)
        return -1;
    /* The send window, in the person's local time. Recovered in-flight
     * messages were inside it when they left; they go now. */
    if (!recovered && !d->opts->ignore_window && d->c->window_start != d->c->window_end) {
        char tz[64];
        snprintf(tz, sizeof tz, "%.*s", (int)j->p.time_zone_len,
                 j->p.time_zone ? j->p.time_zone : "UTC");
        time_t open = hd_window_next_open(d->tz, tz, strlen(tz), (time_t)(now / 1000),
                                          d->c->window_start, d->c->window_end);
        if (open > now / 1000) {
            /* A pending delivery deferred for the first time (not one
             * deferred again from the due queue, nor a retry) is counted. */
            if (r->state == HD_DS_PENDING && r->next_attempt_ms == 0)
                count_deferred(d, (uint16_t)(si - d->shards), ch, 1);
            r->next_attempt_ms = (int64_t)open * 1000;
            d->res->deferred++;
            return (due_ms && del_due(d, due_ms, key)) || put_delivery(d, key, r) ||
                   put_due(d, r->next_attempt_ms, key);
        }
    }
    if (take_slot(d, &j->handle) != 0)
        return -1;
    memcpy(j->key, key, 11);
    j->si = si;
    j->r = *r;
    j->r.next_attempt_ms = 0;
    j->recovered = recovered;
    j->deferred = r->state == HD_DS_PENDING && r->next_attempt_ms != 0;
    j->due_ms = due_ms;
    j->first = r->first_attempt_ms ? r->first_attempt_ms : now;
    j->ridx = b->nrendered[ch]++;
    j->rc = 0;
    b->njobs++;
    /* Count it against the channel's room now; finish_batch gives the place
     * back if it is not sent. */
    c->inflight++;
    c->tokens -= 1;
    *taken = true;
    return 0;
}

/* Renders jobs of b until none is left to take; with proofs, also makes
 * what each one's proof record takes from the person (the writer thread
 * then only adds the outcome). */
static void render_some(struct disp *d, struct batch *b, struct hd_renderer *r)
{
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->njobs)
            return;
        struct job *j = &b->jobs[i];
        uint8_t ch = j->key[10];
        struct hd_rendered *out = &b->rendered[ch][j->ridx];
        memset(&j->err, 0, sizeof j->err);
        j->rc = hd_render(r, &j->p, ch, j->first / 1000, out, &j->err);
        if (j->rc == 0 && d->proofs)
            j->rc = hd_proofs_prepare(d->proofs, &j->p, ch, out->link, out->link_len,
                                      out->message_id, &d->pre[j->handle], &j->err);
    }
}

static void *render_worker(void *arg)
{
    struct worker *w = arg;
    struct pool *pool = w->pool;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (pool->gen == seen && !pool->quit)
            pthread_cond_wait(&pool->start, &pool->lock);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        seen = pool->gen;
        struct batch *b = pool->batch;
        pthread_mutex_unlock(&pool->lock);
        render_some(pool->d, b, pool->renderers[w->index]);
        pthread_mutex_lock(&pool->lock);
        if (--pool->busy == 0)
            pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Starts rendering b: on the workers, or here and now when it is too small
 * to be worth waking them. */
static void render_start(struct disp *d, struct batch *b)
{
    struct pool *pool = &d->pool;
    atomic_store(&b->next, 0);
    if (b->njobs == 0)
        return;
    if (pool->nworkers == 0 || b->njobs < 32) {
        render_some(d, b, pool->renderers[0]);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->batch = b;
    pool->gen++;
    pool->busy = pool->nworkers;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
}

/* Helps render b and returns when all of it is rendered and no worker
 * touches it any more. */
static void render_wait(struct disp *d, struct batch *b)
{
    struct pool *pool = &d->pool;
    render_some(d, b, pool->renderers[0]);
    pthread_mutex_lock(&pool->lock);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

/* A job that is not sent after all (the run is stopping, or its country or
 * wave was paused after it was picked): nothing about it was written, so
 * it is picked again later; only its place is given back. */
static void drop_job(struct disp *d, struct job *j)
{
    uint8_t ch = j->key[10];
    struct shard_info *si = j->si;
    d->ch[ch].inflight--;
    d->ch[ch].tokens += 1;
    free_slot(d, j->handle);
    if (!j->recovered && j->due_ms == 0) {
        /* The pending walk went past it: walk this shard again. */
        si->started[ch] = false;
        si->walked[ch] = false;
    }
}

static int finish_job(struct disp *d, struct batch *b, struct job *j)
{
    uint8_t ch = j->key[10];
    struct chan *c = &d->ch[ch];
    struct shard_info *si = j->si;
    struct hd_delivery_rec *r = &j->r;
    struct hd_rendered *out = &b->rendered[ch][j->ridx];
    uint8_t from = r->state;
    int64_t now = hd_now_ms();
    if (d->stopping || (!j->recovered && shard_blocked(d, si))) {
        drop_job(d, j);
        return 0;
    }
    if (j->due_ms && del_due(d, j->due_ms, j->key) != 0)
        return -1;
    /* A deferred delivery leaves pending here (in flight, or failed). */
    if (j->deferred)
        count_deferred(d, (uint16_t)(si - d->shards), ch, -1);
    if (j->rc != 0) {
        /* Data that cannot be rendered never will be: a permanent failure,
         * recorded with its reason. */
        c->inflight--;
        free_slot(d, j->handle);
        r->state = HD_DS_FAILED;
        r->attempts++;
        r->last_change_ms = now;
        r->event = "render.failed";
        r->event_len = (uint16_t)strlen(r->event);
        r->response = j->err.msg;
        r->response_len = (uint16_t)strlen(j->err.msg);
        r->provider_id_len = 0;
        d->res->failed++;
        c->failed++;
        /* Validation refuses what rendering refuses, so this is rare; say
         * so where the operator looks, not only in the store. */
        if (++d->render_failures <= RENDER_FAILURES_LOGGED)
            logf_(d, "error", "render.failed on channel %s: %s; the delivery failed for good%s",
                  c->conf->name, j->err.msg,
                  d->render_failures == RENDER_FAILURES_LOGGED
                      ? " (further render failures are counted, not logged: herald status)"
                      : "");
        count(d, (uint16_t)(si - d->shards), ch, from, HD_DS_FAILED);
        if (put_delivery(d, j->key, r) != 0)
            return -1;
        return d->proofs ? hd_proofs_delivery(d->proofs, d->txn, d->store, j->key, r, d->err) : 0;
    }
    uint64_t handle = j->handle;
    struct slot *s = &d->slots[handle];
    memcpy(s->key, j->key, 11);
    s->wave = si->wave;
    s->attempts = (uint8_t)(r->attempts < 255 ? r->attempts + 1 : 255);
    s->flags = (uint16_t)(r->flags | (j->p.variant ? HD_DF_VARIANT : 0));
    s->first_ms = j->first;
    memcpy(s->sha256, out->sha256, 32);

    struct hd_delivery_rec m = *r;
    m.state = HD_DS_INFLIGHT;
    m.attempts = s->attempts;
    m.flags = s->flags;
    m.first_attempt_ms = j->first;
    m.last_change_ms = now;
    m.next_attempt_ms = 0;
    memcpy(m.sha256, out->sha256, 32);
    m.event_len = m.provider_id_len = m.response_len = 0;
    if (put_delivery(d, j->key, &m) != 0)
        return -1;
    if (!j->recovered)
        count(d, (uint16_t)(si - d->shards), ch, from, HD_DS_INFLIGHT);

    size_t idx = c->nmsgs++;
    struct hd_message *msg = &c->msgs[idx];
    msg->handle = handle;
    msg->type = c->conf->type;
    msg->recipient = out->recipient;
    msg->message_id = out->message_id;
    size_t id_len =
        j->p.id_len < sizeof c->person_ids[0] ? j->p.id_len : sizeof c->person_ids[0] - 1;
    memcpy(c->person_ids[idx], j->p.id, id_len);
    c->person_ids[idx][id_len] = '\0';
    msg->person_id = c->person_ids[idx];
    msg->language = out->locale ? out->locale->tag : j->p.language;
    msg->country = si->country;
    msg->body = (const uint8_t *)out->bytes.data;
    msg->body_len = out->bytes.len;
    msg->attempt = s->attempts;
    return 0;
}

/* Marks the rendered batch b in flight (in the open transaction) and lines
 * its messages up for send_batches; b is empty after. */
static int finish_batch(struct disp *d, struct batch *b)
{
    int rc = 0;
    render_wait(d, b);
    if (b->njobs && txn_open(d) != 0)
        rc = -1;
    for (size_t i = 0; i < b->njobs && rc == 0; i++)
        rc = finish_job(d, b, &b->jobs[i]);
    b->njobs = 0;
    memset(b->nrendered, 0, sizeof b->nrendered);
    return rc;
}

static bool has_room(struct disp *d, uint8_t ch)
{
    struct chan *c = &d->ch[ch];
    return d->batch[d->fill].nrendered[ch] < BATCH_MAX && c->inflight < c->conf->concurrency &&
           (c->conf->rate <= 0 || c->tokens >= 1);
}

static bool any_room(struct disp *d)
{
    for (uint8_t ch = 0; ch < d->c->nchannels; ch++)
        if (has_room(d, ch))
            return true;
    return false;
}

static int pick_recovered(struct disp *d)
{
    while (d->recovered_next < d->nrecovered) {
        const uint8_t *key = d->recovered[d->recovered_next];
        if (!has_room(d, key[10]))
            return 0;
        struct hd_delivery_rec r;
        bool found, taken;
        struct shard_info *si = shard_by_id(d, hd_get_u16(key));
        d->recovered_next++;
        if (get_delivery(d, key, &r, &found) != 0)
            return -1;
        if (!found || si == NULL || r.state != HD_DS_INFLIGHT)
            continue;
        if (take(d, si, key, &r, true, 0, &taken) != 0)
            return -1;
    }
    return 0;
}

static bool wave_started(const struct disp *d, uint16_t wave, int64_t now)
{
    if (wave >= d->c->nwaves)
        return d->c->nwaves == 0;
    return (int64_t)d->c->waves[wave].not_before * 1000 <= now;
}

static int pick_due(struct disp *d, int64_t now)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(d->txn, d->store->due, &cur);
    size_t looked = 0;
    if (rc != 0)
        return hd_store_fail(d->err, rc, "reading the due queue");
    d->due_next_ms = 0;
    d->due_paused = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && looked++ < 4 * BATCH_MAX * HD_MAX_CHANNELS) {
        uint8_t dk[19], key[11];
        memcpy(dk, k.mv_data, k.mv_size == 19 ? 19 : 0);
        if (k.mv_size != 19) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        int64_t due = (int64_t)hd_get_u64(dk);
        if (due > now) {
            d->due_next_ms = due;
            break;
        }
        memcpy(key, dk + 8, 11);
        struct shard_info *si = shard_by_id(d, hd_get_u16(key));
        if (si && (shard_blocked(d, si) || !wave_started(d, si->wave, now))) {
            d->due_paused++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        if (key[10] >= d->c->nchannels || !has_room(d, key[10])) {
            /* Due already, but its channel is full or out of tokens: still
             * work to wait for, never a reason to call the run complete. */
            if (d->due_next_ms == 0 || due < d->due_next_ms)
                d->due_next_ms = due;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        struct hd_delivery_rec r;
        bool found, taken;
        if (get_delivery(d, key, &r, &found) != 0) {
            mdb_cursor_close(cur);
            return -1;
        }
        if (found && si && r.next_attempt_ms == due &&
            (r.state == HD_DS_PENDING || r.state == HD_DS_RETRY)) {
            /* The entry leaves the queue when the message is marked in
             * flight (finish_job), in the same transaction. take() may
             * write (a deferral): re-seek after it. */
            if (take(d, si, key, &r, false, due, &taken) != 0) {
                mdb_cursor_close(cur);
                return -1;
            }
            k.mv_size = 19;
            k.mv_data = dk;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc == 0 && k.mv_size == 19 && memcmp(k.mv_data, dk, 19) == 0)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        /* A stale entry: the delivery moved on without it. */
        if ((rc = mdb_cursor_del(cur, 0)) != 0) {
            mdb_cursor_close(cur);
            return hd_store_fail(d->err, rc, "cleaning the due queue");
        }
        /* the cursor sits on the next entry after a delete */
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    /* Stopped at the scan limit with entries left: more may be due now. */
    if (rc == 0 && d->due_next_ms == 0)
        d->due_next_ms = now;
    mdb_cursor_close(cur);
    return 0;
}

/* The first pass over pending deliveries, wave by wave: a wave starts when
 * its time has come and every earlier wave has been walked (its retries may
 * still be running). A paused country's shards are stepped over, never waited
 * for: a regulator stopping one country must not hold back the next wave; a
 * paused or canary-halted wave does hold the waves after it.
 * Returns through *wave_wait_ms the start of the next wave when the walk
 * waits for one, and through *paused_left whether blocked shards still have
 * pending work. */
static int pick_pending(struct disp *d, int64_t now, int64_t *wave_wait_ms, bool *walk_done,
                        bool *paused_left)
{
    *walk_done = true;
    *paused_left = false;
    *wave_wait_ms = 0;
    for (size_t w = 0; w < d->nwaves; w++) {
        bool wave_walked = true, unblocked_left = false;
        if (!wave_started(d, (uint16_t)w, now)) {
            *wave_wait_ms = (int64_t)d->c->waves[w].not_before * 1000;
            *walk_done = false;
            return 0;
        }
        for (size_t i = 0; i < d->nshards; i++) {
            struct shard_info *si = &d->shards[i];
            if (si->wave != w)
                continue;
            for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
                if (si->walked[ch])
                    continue;
                if (shard_blocked(d, si)) {
                    *paused_left = true;
                    /* A halted or paused wave holds the waves after it (a
                     * canary exists to stop the rollout); a paused country
                     * is stepped over. */
                    if (wave_blocked(d, si->wave))
                        wave_walked = false;
                    break;
                }
                wave_walked = false;
                unblocked_left = true;
                if (!has_room(d, ch))
                    continue;
                MDB_cursor *cur;
                MDB_val k, v;
                uint8_t start[11];
                int rc = mdb_cursor_open(d->txn, d->store->deliveries, &cur);
                if (rc != 0)
                    return hd_store_fail(d->err, rc, "walking deliveries");
                if (si->started[ch]) {
                    memcpy(start, si->pos[ch], 11);
                } else {
                    hd_key_delivery(start, si->id, 0, 0);
                }
                k.mv_size = 11;
                k.mv_data = start;
                rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
                if (rc == 0 && si->started[ch] && memcmp(k.mv_data, start, 11) == 0)
                    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                while (rc == 0 && has_room(d, ch)) {
                    const uint8_t *kb = k.mv_data;
                    if (k.mv_size != 11 || hd_get_u16(kb) != si->id)
                        break;
                    uint8_t key[11];
                    memcpy(key, kb, 11);
                    memcpy(si->pos[ch], key, 11);
                    si->started[ch] = true;
                    if (key[10] == ch) {
                        struct hd_delivery_rec r;
                        if (hd_delivery_rec_decode(v.mv_data, v.mv_size, &r) != 0) {
                            mdb_cursor_close(cur);
                            hd_err_set(d->err, HD_EX_SOFTWARE, "damaged delivery record");
                            return -1;
                        }
                        if (r.state == HD_DS_PENDING && r.next_attempt_ms == 0) {
                            bool taken;
                            /* take() writes through the txn: re-seek after. */
                            mdb_cursor_close(cur);
                            cur = NULL;
                            if (take(d, si, key, &r, false, 0, &taken) != 0)
                                return -1;
                            rc = mdb_cursor_open(d->txn, d->store->deliveries, &cur);
                            if (rc != 0)
                                return hd_store_fail(d->err, rc, "walking deliveries");
                            k.mv_size = 11;
                            k.mv_data = key;
                            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
                            if (rc == 0 && memcmp(k.mv_data, key, 11) == 0)
                                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                            continue;
                        }
                    }
                    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                }
                if (rc == MDB_NOTFOUND ||
                    (rc == 0 && (k.mv_size != 11 || hd_get_u16(k.mv_data) != si->id)))
                    si->walked[ch] = true;
                else if (rc != 0 && rc != MDB_NOTFOUND) {
                    mdb_cursor_close(cur);
                    return hd_store_fail(d->err, rc, "walking deliveries");
                }
                mdb_cursor_close(cur);
            }
        }
        if (!wave_walked) {
            /* Later waves wait for this one's first pass. When only its
             * blocked part is left, there is nothing to walk until an
             * operator unpauses it. */
            *walk_done = !unblocked_left;
            return 0;
        }
    }
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

static int send_batches(struct disp *d)
{
    for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
        struct chan *c = &d->ch[ch];
        struct hd_err serr = {0};
        if (c->nmsgs == 0)
            continue;
        if (c->ops->send(c->inst, c->msgs, c->nmsgs, &serr) != 0) {
            /* The module refused the whole batch: every message is a
             * transient failure, retried later under the policy. */
            for (size_t i = 0; i < c->nmsgs; i++) {
                struct hd_outcome o;
                memset(&o, 0, sizeof o);
                o.handle = c->msgs[i].handle;
                o.kind = HD_OUTCOME_TRANSIENT;
                o.event = "module.refused";
                o.reason = serr.msg;
                host_report(&d->box, &o);
            }
        }
        c->nmsgs = 0;
    }
    return 0;
}

/* ---- recovery and set-up ------------------------------------------------------------------- */

static int recover_inflight(struct disp *d)
{
    uint64_t inflight = 0;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;
    for (size_t s = 0; s < d->nshards; s++)
        for (uint8_t ch = 0; ch < d->c->nchannels; ch++)
            inflight += hd_store_counter_get(d->txn, d->store,
                                             hd_counter_key(d->shards[s].id, ch, HD_DS_INFLIGHT));
    if (inflight == 0)
        return 0;
    d->recovered = calloc(inflight, sizeof *d->recovered);
    if (d->recovered == NULL) {
        hd_err_set(d->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    /* The counters say how many; one scan finds them (a scan runs at tens of
     * millions of records a second, and this happens only after a crash). */
    if ((rc = mdb_cursor_open(d->txn, d->store->deliveries, &cur)) != 0)
        return hd_store_fail(d->err, rc, "scanning for in-flight deliveries");
    while (d->nrecovered < inflight && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct hd_delivery_rec r;
        if (k.mv_size != 11 || hd_delivery_rec_decode(v.mv_data, v.mv_size, &r) != 0 ||
            r.state != HD_DS_INFLIGHT)
            continue;
        memcpy(d->recovered[d->nrecovered++], k.mv_data, 11);
    }
    mdb_cursor_close(cur);
    for (size_t i = 0; i < d->nrecovered; i++) {
        struct hd_delivery_rec r;
        bool found;
        const uint8_t *key = d->recovered[i];
        struct shard_info *si = shard_by_id(d, hd_get_u16(key));
        if (get_delivery(d, key, &r, &found) != 0)
            return -1;
        if (!found || si == NULL)
            continue;
        if (d->opts->hold_inflight) {
            r.state = HD_DS_HELD;
            r.flags |= HD_DF_UNCERTAIN;
            r.last_change_ms = hd_now_ms();
            if (put_delivery(d, key, &r) != 0)
                return -1;
            count(d, (uint16_t)(si - d->shards), key[10], HD_DS_INFLIGHT, HD_DS_HELD);
            d->res->held++;
        } else {
            /* It may or may not have reached the service: send it again with
             * the same id, and say so. */
            r.flags |= HD_DF_UNCERTAIN;
            if (put_delivery(d, key, &r) != 0)
                return -1;
            d->res->resent_uncertain++;
        }
    }
    if (d->opts->hold_inflight)
        d->nrecovered = 0;
    logf_(d, "warning", "%zu deliveries were in flight when the last run stopped: %s",
          (size_t)inflight,
          d->opts->hold_inflight
              ? "held for review (herald status --uncertain; herald retry --held)"
              : "re-sending them with the same ids (herald status --uncertain)");
    return 0;
}

static int load_shards(struct disp *d)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(d->txn, d->store->shards, &cur);
    if (rc != 0)
        return hd_store_fail(d->err, rc, "reading shards");
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct hd_shard_rec rec;
        if (k.mv_size != 2 || v.mv_size != sizeof rec)
            continue;
        memcpy(&rec, v.mv_data, sizeof rec);
        struct shard_info *s = realloc(d->shards, (d->nshards + 1) * sizeof *s);
        if (s == NULL) {
            mdb_cursor_close(cur);
            hd_err_set(d->err, HD_EX_SOFTWARE, "out of memory");
            return -1;
        }
        d->shards = s;
        s = &d->shards[d->nshards++];
        memset(s, 0, sizeof *s);
        s->id = hd_get_u16(k.mv_data);
        memcpy(s->country, rec.country, 3);
        memcpy(s->language, rec.language, sizeof s->language);
        s->wave = d->c->nwaves == 0 ? 0 : rec.wave;
        for (size_t ch = d->c->nchannels; ch < HD_MAX_CHANNELS; ch++)
            s->walked[ch] = true;
        if (s->wave == NO_WAVE) /* no wave reaches it: nothing to walk */
            memset(s->walked, 1, sizeof s->walked);
    }
    mdb_cursor_close(cur);
    for (size_t i = 0; i < d->nshards; i++) {
        if (d->shards[i].id != i) {
            hd_err_set(d->err, HD_EX_SOFTWARE, "shard table has gaps");
            return -1;
        }
    }
    return 0;
}

static int build_tz(struct disp *d)
{
    struct hd_buf b = HD_BUF_INIT;
    bool found;
    json_t *arr = NULL, *v;
    const char **names = NULL;
    size_t i, n = 0;
    int rc = -1;
    if (hd_store_meta_get(d->txn, d->store, "time_zones", &b, &found, d->err) != 0)
        goto out;
    arr = found ? json_loadb(b.data, b.len, 0, NULL) : json_array();
    names = calloc(json_array_size(arr) + 1, sizeof *names);
    if (names == NULL)
        goto oom;
    json_array_foreach(arr, i, v) names[n++] = json_string_value(v);
    time_t t = time(NULL);
    /* A year either side covers any campaign's life. */
    d->tz = hd_tzset_build(names, n, t - 86400, t + 400 * 86400);
    if (d->tz == NULL)
        goto oom;
    rc = 0;
    goto out;
oom:
    hd_err_set(d->err, HD_EX_SOFTWARE, "out of memory");
out:
    free(names);
    json_decref(arr);
    hd_buf_release(&b);
    return rc;
}

static int check_plan(struct disp *d)
{
    struct hd_buf b = HD_BUF_INIT;
    bool found;
    char snap[65];
    int rc = -1;
    if (hd_store_meta_get(d->txn, d->store, "plan_state", &b, &found, d->err) != 0)
        goto out;
    if (!found || b.len != 8 || memcmp(b.data, "complete", 8) != 0) {
        hd_err_set(d->err, HD_EX_DATAERR, "the plan in %s is not complete: run `herald plan` first",
                   d->store->dir);
        goto out;
    }
    if (hd_store_meta_get(d->txn, d->store, "campaign_id", &b, &found, d->err) != 0)
        goto out;
    if (!found || b.len != strlen(d->c->id) || memcmp(b.data, d->c->id, b.len) != 0) {
        hd_err_set(d->err, HD_EX_DATAERR,
                   "the state store %s belongs to campaign \"%.*s\", not \"%s\": pass the "
                   "campaign's own --state-dir",
                   d->store->dir, found ? (int)(b.len > 64 ? 64 : b.len) : 0,
                   found ? (const char *)b.data : "", d->c->id);
        goto out;
    }
    if (hd_store_meta_get(d->txn, d->store, "snapshot_sha256", &b, &found, d->err) != 0)
        goto out;
    for (int i = 0; i < 32; i++)
        snprintf(snap + 2 * i, 3, "%02x", d->c->snapshot_sha256[i]);
    if (!found || b.len != 64 || memcmp(b.data, snap, 64) != 0) {
        hd_err_set(d->err, HD_EX_DATAERR,
                   "the campaign or its locale files changed since the plan in %s was made: run "
                   "`herald plan` (with --replan) first",
                   d->store->dir);
        goto out;
    }
    rc = 0;
out:
    hd_buf_release(&b);
    return rc;
}

static int write_progress(struct disp *d, const char *state)
{
    json_t *chans = json_object();
    int64_t now = hd_now_ms();
    for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
        struct chan *c = &d->ch[ch];
        size_t oldest = (c->window_i + 1) % 8;
        double rate = 0;
        if (c->window_ms[oldest] && now > c->window_ms[oldest])
            rate = (double)(c->sent + c->failed - c->window_done[oldest]) * 1000.0 /
                   (double)(now - c->window_ms[oldest]);
        json_object_set_new(chans, c->conf->name,
                            json_pack("{s:I, s:I, s:f, s:i}", "sent_this_run", (json_int_t)c->sent,
                                      "failed_this_run", (json_int_t)c->failed, "rate", rate,
                                      "inflight", c->inflight));
    }
    json_t *o = json_pack("{s:s, s:I, s:i, s:o}", "state", state, "updated_ms", (json_int_t)now,
                          "pid", (int)getpid(), "channels", chans);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc = text && txn_open(d) == 0
                 ? hd_store_meta_put(d->txn, d->store, "progress", text, strlen(text), d->err)
                 : -1;
    free(text);
    json_decref(o);
    return rc;
}

static void sample_rates(struct disp *d, int64_t now)
{
    for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
        struct chan *c = &d->ch[ch];
        c->window_i = (c->window_i + 1) % 8;
        c->window_done[c->window_i] = c->sent + c->failed;
        c->window_ms[c->window_i] = now;
    }
}

static void show_progress(struct disp *d)
{
    char line[512] = "";
    size_t len = 0;
    for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
        struct chan *c = &d->ch[ch];
        size_t oldest = (c->window_i + 1) % 8;
        double rate = 0;
        int64_t now = hd_now_ms();
        if (c->window_ms[oldest] && now > c->window_ms[oldest])
            rate = (double)(c->sent + c->failed - c->window_done[oldest]) * 1000.0 /
                   (double)(now - c->window_ms[oldest]);
        uint64_t done = c->sent + c->failed, left = c->total > done ? c->total - done : 0;
        char eta[32] = "-";
        if (rate > 0.5)
            snprintf(eta, sizeof eta, "%.0fs", (double)left / rate);
        len += (size_t)snprintf(line + len, sizeof line - len,
                                "%s%s %" PRIu64 "/%" PRIu64 " %.0f/s eta %s", ch ? " | " : "",
                                c->conf->name, done, c->total, rate, eta);
        if (len >= sizeof line)
            break;
    }
    if (d->opts->live_progress)
        fprintf(stderr, "\r\033[K%s", line);
    else
        logf_(d, "info", "progress: %s", line);
}

static void refill(struct disp *d, int64_t now)
{
    for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
        struct chan *c = &d->ch[ch];
        double rate = c->conf->rate;
        if (rate <= 0)
            continue;
        /* A bucket of a tenth of a second's worth (at least one message)
         * keeps bursts small, so the rate holds over any few seconds. */
        double burst = rate / 10 < 1 ? 1 : rate / 10;
        if (c->last_refill_ms == 0)
            c->tokens = 1;
        else
            c->tokens += rate * (double)(now - c->last_refill_ms) / 1000.0;
        if (c->tokens > burst)
            c->tokens = burst;
        c->last_refill_ms = now;
    }
}

static uint64_t total_work(struct disp *d, uint8_t ch)
{
    uint64_t n = 0;
    for (size_t s = 0; s < d->nshards; s++)
        for (uint8_t st = 0; st < HD_DS_COUNT; st++)
            if (st != HD_DS_HELD)
                n +=
                    hd_store_counter_get(d->txn, d->store, hd_counter_key(d->shards[s].id, ch, st));
    return n;
}

static uint64_t done_work(struct disp *d, uint8_t ch)
{
    uint64_t n = 0;
    for (size_t s = 0; s < d->nshards; s++)
        n += hd_store_counter_get(d->txn, d->store,
                                  hd_counter_key(d->shards[s].id, ch, HD_DS_SENT)) +
             hd_store_counter_get(d->txn, d->store,
                                  hd_counter_key(d->shards[s].id, ch, HD_DS_FAILED));
    return n;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static int run_loop(struct disp *d)
{
    int64_t last_control = 0, last_progress = 0;
    uint64_t turns = 0;
    bool announced_wait = false;
    for (;;) {
        int64_t now = hd_now_ms(), wave_wait = 0;
        bool walk_done = true, paused_left = false;
        if (d->opts->stop && *d->opts->stop && !d->stopping) {
            d->stopping = true;
            unsigned n = 0;
            for (uint8_t ch = 0; ch < d->c->nchannels; ch++)
                n += d->ch[ch].inflight;
            logf_(d, "info", "stopping: waiting for %u messages in flight", n);
        }
        if (now - last_control >= CONTROL_EVERY_MS) {
            if (poll_control(d) != 0)
                return -1;
            last_control = now;
        }
        if (drain_outcomes(d) != 0)
            return -1;
        refill(d, now);
        /* The batch picked last turn: rendered by now (or nearly), marked
         * in flight in this turn's transaction, sent after its commit. */
        if (finish_batch(d, &d->batch[d->fill ^ 1u]) != 0)
            return -1;
        if (!d->stopping) {
            if (txn_open(d) != 0 || pick_recovered(d) != 0)
                return -1;
            if (any_room(d) && pick_due(d, now) != 0)
                return -1;
            if (pick_pending(d, now, &wave_wait, &walk_done, &paused_left) != 0)
                return -1;
            render_start(d, &d->batch[d->fill]);
            d->fill ^= 1u;
        }
        if (now - last_progress >= PROGRESS_EVERY_MS) {
            sample_rates(d, now);
            if (write_progress(d, d->stopping ? "stopping" : "running") != 0)
                return -1;
            if (last_progress && (d->opts->live_progress || now - d->last_log_ms >= 10000)) {
                show_progress(d);
                d->last_log_ms = now;
            }
            last_progress = now;
        }
        if (txn_commit(d) != 0)
            return -1;
        /* A long run reads every page of the store once; keep them out of
         * the resident set (they stay in the page cache). */
        if (++turns % 32 == 0)
            hd_store_drop_mapped(d->store);
        bool sending = false;
        for (uint8_t ch = 0; ch < d->c->nchannels; ch++)
            sending = sending || d->ch[ch].nmsgs > 0;
        if (sending)
            send_batches(d);
        if (sending || d->batch[d->fill ^ 1u].njobs > 0)
            continue;
        unsigned inflight = 0;
        for (uint8_t ch = 0; ch < d->c->nchannels; ch++)
            inflight += d->ch[ch].inflight;
        if (d->stopping && inflight == 0)
            return 0;
        bool outcomes_waiting;
        pthread_mutex_lock(&d->box.lock);
        outcomes_waiting = d->box.q.count > 0;
        pthread_mutex_unlock(&d->box.lock);
        if (outcomes_waiting)
            continue;
        bool more_recovered = d->recovered_next < d->nrecovered;
        if (inflight == 0 && !more_recovered && walk_done && d->due_next_ms == 0) {
            if (d->due_paused == 0 && !paused_left) {
                d->res->complete = true;
                return 0;
            }
            if (!d->opts->wait_paused) {
                logf_(d, "info",
                      "only paused or halted work remains; run again after `herald unpause` "
                      "(or run with --wait-paused)");
                return 0;
            }
        }
        /* Waiting: for outcomes, tokens, a due retry, a wave's start, a window. */
        int64_t wake = now + 50;
        if (inflight > 0 || any_room(d) == false)
            wake = now + 2;
        if (wave_wait && inflight == 0 && !announced_wait) {
            char when[32];
            time_t t = (time_t)(wave_wait / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            logf_(d, "info", "waiting for the next wave, not before %s", when);
            announced_wait = true;
        }
        struct timespec ts = {0, (long)(wake - now) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* One renderer per core: rendering is pure CPU and independent per message. */
static int pool_start(struct disp *d)
{
    struct pool *pool = &d->pool;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = ncpu > 1 ? (size_t)(ncpu > 8 ? 8 : ncpu) - 1 : 0;
    pool->d = d;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->renderers = calloc(n + 1, sizeof *pool->renderers);
    pool->threads = calloc(n ? n : 1, sizeof *pool->threads);
    pool->workers = calloc(n ? n : 1, sizeof *pool->workers);
    if (pool->renderers == NULL || pool->threads == NULL || pool->workers == NULL)
        return -1;
    for (size_t i = 0; i <= n; i++)
        if ((pool->renderers[i] = hd_renderer_new(d->c, &d->secret)) == NULL)
            return -1;
    /* jansson seeds its hash function on first use; do it before threads. */
    json_object_seed(0);
    for (size_t i = 0; i < n; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].index = i + 1;
        if (pthread_create(&pool->threads[i], NULL, render_worker, &pool->workers[i]) != 0)
            break;
        pool->nworkers++;
    }
    return 0;
}

static void pool_stop(struct pool *pool)
{
    if (pool->d == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = true;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->nworkers; i++)
        pthread_join(pool->threads[i], NULL);
    for (size_t i = 0; pool->renderers && i <= pool->nworkers; i++)
        hd_renderer_free(pool->renderers[i]);
    free(pool->renderers);
    free(pool->threads);
    free(pool->workers);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    pool->d = NULL;
}

static void release(struct disp *d)
{
    /* First the render threads: they may still be rendering a batch. */
    pool_stop(&d->pool);
    if (d->txn)
        mdb_txn_abort(d->txn);
    for (uint8_t ch = 0; ch < HD_MAX_CHANNELS; ch++) {
        struct chan *c = &d->ch[ch];
        if (c->ops && c->inst)
            c->ops->close(c->inst);
        free(c->person_ids);
        free(c->msgs);
    }
    for (size_t n = 0; n < 2; n++) {
        struct batch *b = &d->batch[n];
        for (uint8_t ch = 0; ch < HD_MAX_CHANNELS; ch++) {
            for (size_t i = 0; b->rendered[ch] && i < BATCH_MAX; i++)
                hd_buf_release(&b->rendered[ch][i].bytes);
            free(b->rendered[ch]);
        }
        for (size_t i = 0; b->jobs && i < (size_t)BATCH_MAX * d->c->nchannels; i++)
            hd_buf_release(&b->jobs[i].person);
        free(b->jobs);
    }
    free(d->box.q.items);
    hd_buf_release(&d->box.q.text);
    free(d->drained.items);
    hd_buf_release(&d->drained.text);
    pthread_mutex_destroy(&d->box.lock);
    for (size_t w = 0; d->canary && w < d->nwaves; w++)
        free(d->canary[w].ring);
    free(d->canary);
    control_release(&d->ctl);
    free(d->recovered);
    free(d->slots);
    free(d->pre);
    free(d->shards);
    free(d->delta);
    hd_buf_release(&d->rec);
    hd_proofs_close(d->proofs);
    hd_tzset_free(d->tz);
    OPENSSL_cleanse(&d->secret, sizeof d->secret);
    hd_store_close(d->store);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
}

int hd_dispatch_alive(struct hd_store *s, const char *dir, bool *alive, struct hd_err *err)
{
    struct hd_err oerr = {0};
    *alive = false;
    int fd = hd_private_file_open(s->dirfd, "run.lock", dir, O_RDONLY, S_IWGRP | S_IWOTH,
                                  "run lock file", &oerr);
    if (fd < 0) {
        if (oerr.code == HD_EX_NOINPUT) /* no run ever started here */
            return 0;
        *err = oerr;
        return -1;
    }
    int rc = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        flock(fd, LOCK_UN);
    else if (errno == EWOULDBLOCK)
        *alive = true;
    else {
        hd_err_set(err, HD_EX_IOERR, "%s/run.lock: cannot probe the lock: %s", dir,
                   strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

const char *hd_run_outcome_name(enum hd_run_outcome o)
{
    switch (o) {
    case HD_RUN_COMPLETE:
        return "complete";
    case HD_RUN_STOPPED:
        return "stopped";
    case HD_RUN_CANARY_HALT:
        return "canary_halt";
    case HD_RUN_PAUSED:
        return "paused";
    case HD_RUN_FAILURES:
        return "failures";
    }
    return "unknown";
}

/* After a run that ended without an error: how it ended, for the caller's
 * exit code. Failed and held deliveries are counted over the whole store, so
 * a re-run that sends nothing still tells that the campaign has failures. */
static int finish_outcome(struct disp *d)
{
    struct hd_dispatch_result *r = d->res;
    if (txn_open(d) != 0)
        return -1;
    r->failed_total = r->held_total = 0;
    for (size_t s = 0; s < d->nshards; s++)
        for (uint8_t ch = 0; ch < d->c->nchannels; ch++) {
            r->failed_total += hd_store_counter_get(
                d->txn, d->store, hd_counter_key(d->shards[s].id, ch, HD_DS_FAILED));
            r->held_total += hd_store_counter_get(d->txn, d->store,
                                                  hd_counter_key(d->shards[s].id, ch, HD_DS_HELD));
        }
    if (txn_commit(d) != 0)
        return -1;
    bool halted = false;
    for (size_t w = 0; w < d->nwaves; w++)
        halted = halted || d->canary[w].halted;
    r->outcome = d->stopping                         ? HD_RUN_STOPPED
                 : !r->complete && halted            ? HD_RUN_CANARY_HALT
                 : !r->complete || r->held_total > 0 ? HD_RUN_PAUSED
                 : r->failed_total > 0               ? HD_RUN_FAILURES
                                                     : HD_RUN_COMPLETE;
    return 0;
}

int hd_dispatch_run(const struct hd_campaign *c, const struct hd_dispatch_opts *opts,
                    struct hd_dispatch_result *result, struct hd_err *err)
{
    struct disp d;
    char dir_buf[4096];
    const char *dir = opts->state_dir;
    int rc = -1;

    memset(&d, 0, sizeof d);
    memset(result, 0, sizeof *result);
    d.c = c;
    d.opts = opts;
    d.err = err;
    d.res = result;
    d.lock_fd = -1;
    pthread_mutex_init(&d.box.lock, NULL);
    d.host.abi = HD_CHANNEL_ABI;
    d.host.size = sizeof d.host;
    d.host.report = host_report;
    d.host.log = host_log;
    d.host.ctx = &d.box;
    d.box.log_format = opts->log_format;
    d.box.live_progress = opts->live_progress;
    d.box.campaign_id = c->id;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());

    if (dir == NULL) { /* not a copy of opts->state_dir: one cut short is another path */
        if (hd_state_dir_resolve(c, dir_buf, sizeof dir_buf, err) != 0)
            goto out;
        dir = dir_buf;
    }
    if (hd_store_open(&d.store, dir, 0, err) != 0)
        goto out;
    /* One dispatcher per store: a second would double-send. The lock file
     * is opened through the checked directory, never through a link. */
    d.lock_fd = hd_private_file_open(d.store->dirfd, "run.lock", dir, O_RDWR | O_CREAT,
                                     S_IWGRP | S_IWOTH, "run lock file", err);
    if (d.lock_fd < 0)
        goto out;
    /* `herald status` probes the lock with a shared lock held for an
     * instant (hd_dispatch_alive): retry for up to 100 ms before deciding
     * another dispatcher holds it. */
    for (int tries = 0; flock(d.lock_fd, LOCK_EX | LOCK_NB) != 0; tries++) {
        if (errno != EWOULDBLOCK || tries == 50) {
            hd_err_set(err, HD_EX_TEMPFAIL, "another `herald run` is using %s", dir);
            goto out;
        }
        nanosleep(&(struct timespec){0, 2000000L}, NULL);
    }
    if (hd_link_secret_load(&d.secret, c->link_secret_env, c->link_secret_file, err) != 0)
        goto out;
    if (hd_proofs_open(&d.proofs, c, &d.secret, err) != 0)
        goto out;
    if (txn_open(&d) != 0 || check_plan(&d) != 0 || load_shards(&d) != 0 || build_tz(&d) != 0)
        goto out;
    d.nwaves = c->nwaves ? c->nwaves : 1;
    d.canary = calloc(d.nwaves, sizeof *d.canary);
    d.delta = calloc((d.nshards ? d.nshards : 1) * HD_MAX_CHANNELS * NCOUNTERS, sizeof *d.delta);
    for (size_t n = 0; n < 2; n++) {
        d.batch[n].jobs = calloc((size_t)BATCH_MAX * c->nchannels, sizeof *d.batch[n].jobs);
        if (d.batch[n].jobs == NULL)
            goto oom;
        for (uint8_t ch = 0; ch < c->nchannels; ch++)
            if ((d.batch[n].rendered[ch] = calloc(BATCH_MAX, sizeof **d.batch[n].rendered)) == NULL)
                goto oom;
    }
    if (d.canary == NULL || d.delta == NULL || pool_start(&d) != 0)
        goto oom;
    for (size_t w = 0; w < d.nwaves; w++) {
        d.canary[w].len = c->canary_window ? c->canary_window : 1;
        if ((d.canary[w].ring = calloc(d.canary[w].len, 1)) == NULL)
            goto oom;
    }
    for (uint8_t ch = 0; ch < c->nchannels; ch++) {
        struct chan *cc = &d.ch[ch];
        cc->conf = &c->channels[ch];
        d.nslots += cc->conf->concurrency + BATCH_MAX;
        cc->msgs = calloc(BATCH_MAX, sizeof *cc->msgs);
        cc->person_ids = calloc(BATCH_MAX, sizeof *cc->person_ids);
        if (cc->msgs == NULL || cc->person_ids == NULL)
            goto oom;
        cc->ops = opts->find_module(cc->conf->module, opts->modules_dir, err);
        if (cc->ops == NULL)
            goto out;
        struct hd_channel_view view;
        hd_channel_view_init(&view, c, cc->conf);
        if (cc->ops->create(&d.host, &view, &cc->inst, err) != 0) {
            hd_err_prefix(err, "channel \"%s\"", cc->conf->name);
            goto out;
        }
        cc->total = total_work(&d, ch);
        cc->sent = 0;
    }
    d.slots = calloc(d.nslots, sizeof *d.slots);
    if (d.slots == NULL || (d.proofs && (d.pre = calloc(d.nslots, sizeof *d.pre)) == NULL))
        goto oom;
    if (poll_control(&d) != 0 || recover_inflight(&d) != 0 || txn_commit(&d) != 0)
        goto out;
    {
        uint64_t done[HD_MAX_CHANNELS] = {0};
        if (txn_open(&d) != 0)
            goto out;
        for (uint8_t ch = 0; ch < c->nchannels; ch++)
            done[ch] = done_work(&d, ch);
        if (txn_commit(&d) != 0)
            goto out;
        logf_(&d, "info", "dispatching campaign \"%s\" from %s", c->id, dir);
        if (opts->ignore_window && c->window_start != c->window_end)
            logf_(&d, "warning", "ignoring the campaign's send window (--ignore-send-window)");
        for (uint8_t ch = 0; ch < c->nchannels; ch++)
            logf_(&d, "info", "channel %s (%s): %" PRIu64 " of %" PRIu64 " done before this run",
                  c->channels[ch].name, c->channels[ch].module, done[ch], d.ch[ch].total);
        for (uint8_t ch = 0; ch < c->nchannels; ch++)
            d.ch[ch].total = d.ch[ch].total > done[ch] ? d.ch[ch].total - done[ch] : 0;
    }
    if (run_loop(&d) != 0)
        goto settle;
    rc = 0;
settle:
    /* Whatever happened, let the modules finish what they hold and record
     * it: every outcome that can be recorded is. */
    for (uint8_t ch = 0; ch < c->nchannels; ch++) {
        struct hd_err ferr = {0};
        if (d.ch[ch].inst)
            d.ch[ch].ops->flush(d.ch[ch].inst, &ferr);
    }
    {
        struct hd_err lerr = {0};
        struct hd_err *saved = d.err;
        d.err = &lerr;
        if (drain_outcomes(&d) == 0 && write_progress(&d, result->complete ? "complete"
                                                          : rc == 0        ? "stopped"
                                                                           : "failed") == 0)
            txn_commit(&d);
        d.err = saved;
    }
    if (d.opts->live_progress)
        fputs("\r\033[K", stderr);
    if (rc == 0 && finish_outcome(&d) != 0)
        rc = -1;
    goto out;
oom:
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
out:
    release(&d);
    return rc;
}
