/* herald status: counts per wave, shard and channel, rates and ETA, pauses
 * and halts, and (--uncertain) the deliveries that may exist twice. Reads
 * counters only (never scans deliveries), except for --uncertain. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd.h"
#include "herald/clock.h"
#include "herald/dispatch.h"
#include "herald/plan.h"
#include "herald/statedir.h"
#include "herald/store.h"

static const char usage[] =
    "usage: herald status CAMPAIGN.yaml [--state-dir DIR] [--json] [--uncertain] [--shards]\n"
    "Shows the campaign's progress: per wave and channel the deliveries pending,\n"
    "in flight, sent, retrying, failed and held; rates and ETA of a running\n"
    "dispatcher; pauses and canary halts. Pending includes the deliveries\n"
    "deferred by the send window (shown in parentheses; \"deferred\" in --json).\n"
    "  --shards     also one line per shard (country, language)\n"
    "  --uncertain  list deliveries that may exist twice (re-sent after a crash, or sent\n"
    "               without an answer)\n";

/* Counts per channel: the delivery states, then (at index DEFERRED) the
 * pending ones deferred by the send window, which pending also counts. */
#define DEFERRED HD_DS_COUNT
#define NCOUNTS (HD_DS_COUNT + 1)
_Static_assert(HD_DS_PENDING == 0, "text rows print pending first, then states 1..");

static json_t *states_obj(uint64_t *v)
{
    json_t *o = json_object();
    for (int st = 0; st < HD_DS_COUNT; st++)
        json_object_set_new(o, hd_dstate_names[st], json_integer((json_int_t)v[st]));
    json_object_set_new(o, "deferred", json_integer((json_int_t)v[DEFERRED]));
    return o;
}

/* The pending cell of a text row: "1200", or "1200 (800 deferred)". */
static int pending_cell(char *buf, size_t size, json_t *st)
{
    long long p = json_integer_value(json_object_get(st, "pending")),
              w = json_integer_value(json_object_get(st, "deferred"));
    return w ? snprintf(buf, size, "%lld (%lld deferred)", p, w) : snprintf(buf, size, "%lld", p);
}

/* Widens w to fit the pending cell of st. */
static void fit_pending(int *w, json_t *st)
{
    char cell[64];
    int n = pending_cell(cell, sizeof cell, st);
    if (n > *w)
        *w = n;
}

static json_t *meta_json(MDB_txn *txn, struct hd_store *s, const char *key)
{
    struct hd_buf b = HD_BUF_INIT;
    bool found;
    struct hd_err err = {0};
    json_t *j = NULL;
    if (hd_store_meta_get(txn, s, key, &b, &found, &err) == 0 && found)
        j = json_loadb(b.data, b.len, 0, NULL);
    hd_buf_release(&b);
    return j;
}

/* dead_run: no dispatcher holds the run lock, so what is in flight was left
 * by a run that died: it may have reached the service, uncertain at once. */
static int list_uncertain(MDB_txn *txn, struct hd_store *s, const struct hd_campaign *c, bool json,
                          bool dead_run)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t n = 0;
    if (mdb_cursor_open(txn, s->deliveries, &cur) != 0)
        return HD_EX_IOERR;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct hd_delivery_rec r;
        struct hd_person_rec p;
        MDB_val pk = {10, k.mv_data}, pv;
        if (k.mv_size != 11 || hd_delivery_rec_decode(v.mv_data, v.mv_size, &r) != 0 ||
            !((r.flags & HD_DF_UNCERTAIN) || (dead_run && r.state == HD_DS_INFLIGHT)))
            continue;
        if (mdb_get(txn, s->persons, &pk, &pv) != 0 ||
            hd_person_rec_decode(pv.mv_data, pv.mv_size, &p) != 0)
            continue;
        uint8_t ch = ((const uint8_t *)k.mv_data)[10];
        const char *chn = ch < c->nchannels ? c->channels[ch].name : "?";
        if (json)
            printf("{\"person_id\":\"%.*s\",\"channel\":\"%s\",\"state\":\"%s\",\"attempts\":%u}\n",
                   (int)p.id_len, p.id, chn, hd_dstate_names[r.state], r.attempts);
        else
            printf("%.*s\t%s\t%s\tattempts=%u\n", (int)p.id_len, p.id, chn,
                   hd_dstate_names[r.state], r.attempts);
        n++;
    }
    mdb_cursor_close(cur);
    fprintf(stderr,
            "herald: %" PRIu64 " uncertain deliveries (in flight when a run died, or sent without "
            "an answer; the service may have received them twice)\n",
            n);
    return HD_EX_OK;
}

int hd_cmd_status(int argc, char **argv)
{
    const char *path = NULL, *state_dir = NULL;
    bool json = false, uncertain = false, per_shard = false;
    struct hd_campaign *c = NULL;
    struct hd_store *s = NULL;
    struct hd_err err = {0};
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char dir[4096];
    int code;

    for (int i = 1; i < argc; i++) {
        const char *val;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--uncertain") == 0) {
            uncertain = true;
        } else if (strcmp(argv[i], "--shards") == 0) {
            per_shard = true;
        } else if (hd_cli_opt(argc, argv, &i, "--state-dir", &val) && val) {
            state_dir = val;
        } else if (argv[i][0] == '-' || path) {
            return hd_cli_fail(HD_EX_USAGE, "status: bad argument \"%s\"\n%s", argv[i], usage);
        } else {
            path = argv[i];
        }
    }
    if (path == NULL)
        return hd_cli_fail(HD_EX_USAGE, "status: which campaign?\n%s", usage);
    if ((c = hd_cli_load_campaign(path, &code)) == NULL)
        return code;
    if (state_dir == NULL) {
        if (hd_state_dir_resolve(c, dir, sizeof dir, &err) != 0) {
            code = hd_cli_fail(err.code, "status: %s", err.msg);
            goto out;
        }
        state_dir = dir;
    }
    if (hd_store_open(&s, state_dir, HD_STORE_RDONLY, &err) != 0 ||
        hd_store_begin(s, false, &txn, &err) != 0) {
        code = hd_cli_fail(err.code, "status: %s", err.msg);
        goto out;
    }
    bool alive = false;
    if (hd_dispatch_alive(s, state_dir, &alive, &err) != 0) {
        code = hd_cli_fail(err.code, "status: %s", err.msg);
        goto out;
    }
    if (uncertain) {
        code = list_uncertain(txn, s, c, json, !alive);
        goto out;
    }
    size_t nw = c->nwaves ? c->nwaves : 1;
    uint64_t(*wave)[HD_MAX_CHANNELS][NCOUNTS] = calloc(nw + 1, sizeof *wave);
    uint64_t chan[HD_MAX_CHANNELS][NCOUNTS];
    memset(chan, 0, sizeof chan);
    json_t *shards = json_array();
    if (wave == NULL || mdb_cursor_open(txn, s->shards, &cur) != 0) {
        free(wave);
        code = hd_cli_fail(HD_EX_IOERR, "status: cannot read the shards");
        goto out;
    }
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct hd_shard_rec rec;
        if (k.mv_size != 2 || v.mv_size != sizeof rec)
            continue;
        memcpy(&rec, v.mv_data, sizeof rec);
        uint16_t id = hd_get_u16(k.mv_data);
        size_t w = c->nwaves == 0 ? 0 : rec.wave < c->nwaves ? rec.wave : nw;
        json_t *sc = json_object();
        for (uint8_t ch = 0; ch < c->nchannels; ch++) {
            uint64_t st[NCOUNTS];
            for (uint8_t x = 0; x < NCOUNTS; x++) {
                /* a store made before the deferred counter has none: 0 */
                st[x] = hd_store_counter_get(
                    txn, s, hd_counter_key(id, ch, (uint8_t)(x == DEFERRED ? HD_CK_DEFERRED : x)));
                wave[w][ch][x] += st[x];
                chan[ch][x] += st[x];
            }
            json_object_set_new(sc, c->channels[ch].name, states_obj(st));
        }
        json_array_append_new(shards,
                              json_pack("{s:i, s:s, s:s, s:o, s:o}", "shard", id, "country",
                                        rec.country, "language", rec.language, "wave",
                                        w < c->nwaves ? json_string(c->waves[w].name) : json_null(),
                                        "channels", sc));
    }
    mdb_cursor_close(cur);
    cur = NULL;

    json_t *progress = meta_json(txn, s, "progress"), *control = meta_json(txn, s, "control");
    json_t *waves = json_array(), *channels = json_object();
    for (size_t w = 0; w <= nw; w++) {
        json_t *wc = json_object();
        uint64_t any = 0;
        for (uint8_t ch = 0; ch < c->nchannels; ch++) {
            json_object_set_new(wc, c->channels[ch].name, states_obj(wave[w][ch]));
            for (int x = 0; x < HD_DS_COUNT; x++)
                any += wave[w][ch][x];
        }
        if (w == nw && any == 0) {
            json_decref(wc);
            continue;
        }
        const char *name = w < c->nwaves ? c->waves[w].name : w == nw ? "(no wave)" : "all";
        json_array_append_new(waves, json_pack("{s:s, s:o}", "wave", name, "channels", wc));
    }
    bool running = false;
    if (progress) {
        int64_t updated = json_integer_value(json_object_get(progress, "updated_ms"));
        const char *st = json_string_value(json_object_get(progress, "state"));
        int pid = (int)json_integer_value(json_object_get(progress, "pid"));
        running = st && strcmp(st, "running") == 0 && hd_now_ms() - updated < 5000 && pid > 0 &&
                  kill(pid, 0) == 0;
    }
    for (uint8_t ch = 0; ch < c->nchannels; ch++) {
        uint64_t total = 0, done = chan[ch][HD_DS_SENT] + chan[ch][HD_DS_FAILED];
        for (int x = 0; x < HD_DS_COUNT; x++)
            total += chan[ch][x];
        double rate =
            running
                ? json_real_value(json_object_get(
                      json_object_get(json_object_get(progress, "channels"), c->channels[ch].name),
                      "rate"))
                : 0;
        json_t *o = states_obj(chan[ch]);
        json_object_set_new(o, "total", json_integer((json_int_t)total));
        json_object_set_new(o, "rate", json_real(rate));
        json_object_set_new(o, "eta_s",
                            rate > 0.5 && total > done
                                ? json_integer((json_int_t)((double)(total - done) / rate))
                                : json_null());
        json_object_set_new(channels, c->channels[ch].name, o);
    }
    /* In flight with no dispatcher alive: left by a run that died. */
    uint64_t uncertain_inflight = 0;
    for (uint8_t ch = 0; !alive && ch < c->nchannels; ch++)
        uncertain_inflight += chan[ch][HD_DS_INFLIGHT];
    free(wave);
    json_t *out = json_pack(
        "{s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:I}", "campaign", c->id, "state_dir", state_dir,
        "running", running, "channels", channels, "waves", waves, "shards", shards, "control",
        control ? control : json_object(), "uncertain_inflight", (json_int_t)uncertain_inflight);
    json_decref(progress);
    if (json) {
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
    } else {
        printf("campaign %s (%s): %s\n", c->id, state_dir,
               running ? "a dispatcher is running" : "no dispatcher running");
        json_t *ctl = json_object_get(out, "control"), *x;
        size_t i;
        const char *key;
        if (json_is_true(json_object_get(ctl, "all")))
            printf("PAUSED: everything\n");
        json_array_foreach(json_object_get(ctl, "countries"), i, x)
            printf("PAUSED: country %s\n", json_string_value(x));
        json_array_foreach(json_object_get(ctl, "waves"), i, x)
            printf("PAUSED: wave %s\n", json_string_value(x));
        json_object_foreach(json_object_get(ctl, "halted"), key, x)
            printf("HALTED: wave %s: %s\n", key, json_string_value(x));
        if (uncertain_inflight)
            printf("UNCERTAIN: %" PRIu64 " deliveries were in flight when the last run ended "
                   "(`herald status --uncertain` lists them; the next run re-sends them, or holds "
                   "them with --inflight=hold)\n",
                   uncertain_inflight);
        /* The pending column widens to fit "N (D deferred)" cells. */
        int pw = 9, spw = 9;
        bool any_deferred = false;
        char cell[64];
        json_t *wv;
        json_array_foreach(waves, i, wv)
        {
            for (uint8_t ch = 0; ch < c->nchannels; ch++)
                fit_pending(&pw,
                            json_object_get(json_object_get(wv, "channels"), c->channels[ch].name));
        }
        for (uint8_t ch = 0; ch < c->nchannels; ch++) {
            json_t *st = json_object_get(channels, c->channels[ch].name);
            fit_pending(&pw, st);
            any_deferred = any_deferred || json_integer_value(json_object_get(st, "deferred"));
        }
        json_array_foreach(shards, i, wv)
        {
            for (uint8_t ch = 0; ch < c->nchannels; ch++)
                fit_pending(&spw,
                            json_object_get(json_object_get(wv, "channels"), c->channels[ch].name));
        }
        printf("\n%-14s %-8s %*s %9s %9s %9s %9s %9s %9s %8s %8s\n", "wave", "channel", pw,
               "pending", "inflight", "sent", "retry", "failed", "held", "total", "rate/s", "eta");
        json_array_foreach(waves, i, wv)
        {
            json_t *chs = json_object_get(wv, "channels");
            for (uint8_t ch = 0; ch < c->nchannels; ch++) {
                json_t *st = json_object_get(chs, c->channels[ch].name);
                long long t = 0;
                for (int z = 0; z < HD_DS_COUNT; z++)
                    t += json_integer_value(json_object_get(st, hd_dstate_names[z]));
                pending_cell(cell, sizeof cell, st);
                printf("%-14s %-8s %*s", json_string_value(json_object_get(wv, "wave")),
                       c->channels[ch].name, pw, cell);
                for (int z = 1; z < HD_DS_COUNT; z++)
                    printf(" %9lld", json_integer_value(json_object_get(st, hd_dstate_names[z])));
                printf(" %9lld\n", t);
            }
        }
        for (uint8_t ch = 0; ch < c->nchannels; ch++) {
            json_t *st = json_object_get(channels, c->channels[ch].name);
            json_t *eta = json_object_get(st, "eta_s");
            pending_cell(cell, sizeof cell, st);
            printf("%-14s %-8s %*s", "ALL", c->channels[ch].name, pw, cell);
            for (int z = 1; z < HD_DS_COUNT; z++)
                printf(" %9lld", json_integer_value(json_object_get(st, hd_dstate_names[z])));
            printf(" %9lld %8.0f %7llds\n", json_integer_value(json_object_get(st, "total")),
                   json_real_value(json_object_get(st, "rate")),
                   json_is_integer(eta) ? json_integer_value(eta) : 0LL);
        }
        if (any_deferred)
            printf("(N deferred): of the pending, N wait for the send window to open in the "
                   "person's local time\n");
        if (per_shard) {
            json_t *sh;
            printf("\n%-5s %-7s %-8s %-14s %-8s %*s %9s %9s %9s %9s %9s\n", "shard", "country",
                   "language", "wave", "channel", spw, "pending", "inflight", "sent", "retry",
                   "failed", "held");
            json_array_foreach(shards, i, sh)
            {
                json_t *w = json_object_get(sh, "wave");
                for (uint8_t ch = 0; ch < c->nchannels; ch++) {
                    json_t *st =
                        json_object_get(json_object_get(sh, "channels"), c->channels[ch].name);
                    printf("%5lld %-7s %-8s %-14s %-8s",
                           json_integer_value(json_object_get(sh, "shard")),
                           json_string_value(json_object_get(sh, "country")),
                           json_string_value(json_object_get(sh, "language")),
                           json_is_string(w) ? json_string_value(w) : "-", c->channels[ch].name);
                    pending_cell(cell, sizeof cell, st);
                    printf(" %*s", spw, cell);
                    for (int z = 1; z < HD_DS_COUNT; z++)
                        printf(" %9lld",
                               json_integer_value(json_object_get(st, hd_dstate_names[z])));
                    printf("\n");
                }
            }
        }
    }
    json_decref(out);
    code = HD_EX_OK;
out:
    if (txn)
        mdb_txn_abort(txn);
    hd_store_close(s);
    hd_campaign_free(c);
    return code;
}
