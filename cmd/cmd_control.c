/* herald pause / unpause / retry: operator actions on a campaign's state
 * store. They take effect on a running dispatcher within its control poll
 * (200 ms) and persist; each is recorded in the audit log with who asked and
 * why. */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "herald/clock.h"
#include "herald/plan.h"
#include "herald/region.h"
#include "herald/statedir.h"
#include "herald/store.h"

static const char pause_usage[] =
    "usage: herald pause CAMPAIGN.yaml (--country XX | --wave W | --all) [--reason TEXT]\n"
    "       herald unpause CAMPAIGN.yaml (--country XX | --wave W | --all) [--reason TEXT]\n"
    "Stops (or resumes) sending to a country, a wave or everything. A running\n"
    "dispatcher obeys within a second; the setting persists across runs.\n"
    "unpause --wave also lifts a canary halt of that wave; unpause --all lifts\n"
    "every pause and halt.\n"
    "  --state-dir DIR  the state store (default: docs/state-store.md, beside the campaign)\n";

static const char retry_usage[] =
    "usage: herald retry CAMPAIGN.yaml (--failed | --held) --reason TEXT\n"
    "                    [--channel C] [--country XX] [--state-dir DIR]\n"
    "Requeues failed (or held) deliveries, optionally only one channel's or one\n"
    "country's, for a new round of attempts; records who asked and why.\n";

static const char *who(void)
{
    const char *u = getenv("HERALD_OPERATOR");
    struct passwd *pw;
    if (u && *u)
        return u;
    if ((u = getenv("USER")) && *u)
        return u;
    pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

static int audit(MDB_txn *txn, struct hd_store *s, json_t *entry, struct hd_err *err)
{
    json_object_set_new(entry, "time_ms", json_integer(hd_now_ms()));
    json_object_set_new(entry, "by", json_string(who()));
    char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = text ? hd_store_audit(txn, s, text, err) : -1;
    free(text);
    json_decref(entry);
    return rc;
}

static void set_remove(json_t *arr, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0) {
            json_array_remove(arr, i);
            return;
        }
    }
}

static void set_add(json_t *arr, const char *value)
{
    set_remove(arr, value);
    json_array_append_new(arr, json_string(value));
}

static json_t *get_array(json_t *obj, const char *key)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(obj, key, a);
    }
    return a;
}

struct target {
    const char *path, *state_dir, *country, *wave, *channel, *reason;
    bool all, failed, held;
};

static int parse(int argc, char **argv, struct target *t, const char *usage)
{
    memset(t, 0, sizeof *t);
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK + 1000;
        } else if (strcmp(argv[i], "--all") == 0) {
            t->all = true;
        } else if (strcmp(argv[i], "--failed") == 0) {
            t->failed = true;
        } else if (strcmp(argv[i], "--held") == 0) {
            t->held = true;
        } else if (hd_cli_opt(argc, argv, &i, "--country", &v) && v) {
            t->country = v;
        } else if (hd_cli_opt(argc, argv, &i, "--wave", &v) && v) {
            t->wave = v;
        } else if (hd_cli_opt(argc, argv, &i, "--channel", &v) && v) {
            t->channel = v;
        } else if (hd_cli_opt(argc, argv, &i, "--reason", &v) && v) {
            t->reason = v;
        } else if (hd_cli_opt(argc, argv, &i, "--state-dir", &v) && v) {
            t->state_dir = v;
        } else if (argv[i][0] == '-' || t->path) {
            return hd_cli_fail(HD_EX_USAGE, "bad argument \"%s\"\n%s", argv[i], usage);
        } else {
            t->path = argv[i];
        }
    }
    if (t->path == NULL)
        return hd_cli_fail(HD_EX_USAGE, "which campaign?\n%s", usage);
    return 0;
}

static int open_store(const struct hd_campaign *c, const struct target *t, struct hd_store **s,
                      struct hd_err *err)
{
    char dir[4096];
    if (t->state_dir) /* as given: a copy cut to dir's size would be another path */
        return hd_store_open(s, t->state_dir, 0, err);
    if (hd_state_dir_resolve(c, dir, sizeof dir, err) != 0)
        return -1;
    return hd_store_open(s, dir, 0, err);
}

static int pause_or_unpause(int argc, char **argv, bool pause)
{
    struct target t;
    struct hd_campaign *c = NULL;
    struct hd_store *s = NULL;
    struct hd_err err = {0};
    MDB_txn *txn = NULL;
    struct hd_buf b = HD_BUF_INIT;
    json_t *ctl = NULL;
    bool found;
    int code = parse(argc, argv, &t, pause_usage);
    const char *verb = pause ? "pause" : "unpause";

    if (code)
        return code == 1000 ? 0 : code;
    if ((t.country != NULL) + (t.wave != NULL) + t.all != 1)
        return hd_cli_fail(HD_EX_USAGE, "%s: name exactly one of --country, --wave, --all\n%s",
                           verb, pause_usage);
    if ((c = hd_cli_load_campaign(t.path, &code)) == NULL)
        return code;
    char country[3] = "";
    if (t.country) {
        const struct hd_country *co = hd_country_find(t.country, strlen(t.country));
        if (co == NULL) {
            code = hd_cli_fail(HD_EX_USAGE, "%s: unknown country \"%s\"", verb, t.country);
            goto out;
        }
        memcpy(country, co->code, 3);
    }
    if (t.wave) {
        bool known = false;
        for (size_t w = 0; w < c->nwaves; w++)
            known = known || strcmp(c->waves[w].name, t.wave) == 0;
        if (!known) {
            code = hd_cli_fail(HD_EX_USAGE, "%s: the campaign has no wave \"%s\"", verb, t.wave);
            goto out;
        }
    }
    if (open_store(c, &t, &s, &err) != 0 || hd_store_begin(s, true, &txn, &err) != 0 ||
        hd_store_meta_get(txn, s, "control", &b, &found, &err) != 0) {
        code = hd_cli_fail(err.code, "%s: %s", verb, err.msg);
        goto out;
    }
    ctl = found ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    if (ctl == NULL)
        ctl = json_object();
    json_t *halted = json_object_get(ctl, "halted");
    if (t.all) {
        json_object_set_new(ctl, "all", json_boolean(pause));
        if (!pause) {
            json_array_clear(get_array(ctl, "countries"));
            json_array_clear(get_array(ctl, "waves"));
            json_object_del(ctl, "halted");
        }
    } else if (t.country) {
        (pause ? set_add : set_remove)(get_array(ctl, "countries"), country);
    } else {
        (pause ? set_add : set_remove)(get_array(ctl, "waves"), t.wave);
        if (!pause && json_is_object(halted))
            json_object_del(halted, t.wave);
    }
    json_object_set_new(ctl, "gen",
                        json_integer(json_integer_value(json_object_get(ctl, "gen")) + 1));
    char *text = json_dumps(ctl, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *entry =
        json_pack("{s:s, s:s?, s:s?, s:b, s:s?}", "action", verb, "country",
                  t.country ? country : NULL, "wave", t.wave, "all", t.all, "reason", t.reason);
    if (text == NULL || hd_store_meta_put(txn, s, "control", text, strlen(text), &err) != 0 ||
        audit(txn, s, entry, &err) != 0 || hd_store_commit(txn, &err) != 0) {
        txn = NULL;
        free(text);
        code = hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "%s: %s", verb, err.msg);
        goto out;
    }
    txn = NULL;
    free(text);
    printf("%s: %s %s\n", c->id, pause ? "paused" : "unpaused",
           t.all       ? "everything"
           : t.country ? country
                       : t.wave);
    code = HD_EX_OK;
out:
    if (txn)
        mdb_txn_abort(txn);
    json_decref(ctl);
    hd_buf_release(&b);
    hd_store_close(s);
    hd_campaign_free(c);
    return code;
}

int hd_cmd_pause(int argc, char **argv)
{
    return pause_or_unpause(argc, argv, true);
}

int hd_cmd_unpause(int argc, char **argv)
{
    return pause_or_unpause(argc, argv, false);
}

int hd_cmd_retry(int argc, char **argv)
{
    struct target t;
    struct hd_campaign *c = NULL;
    struct hd_store *s = NULL;
    struct hd_err err = {0};
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct hd_buf rec = HD_BUF_INIT;
    uint64_t requeued = 0;
    int code = parse(argc, argv, &t, retry_usage);
    int ch_filter = -1;

    if (code)
        return code == 1000 ? 0 : code;
    if (t.failed == t.held)
        return hd_cli_fail(HD_EX_USAGE, "retry: name one of --failed or --held\n%s", retry_usage);
    if (t.reason == NULL || *t.reason == '\0')
        return hd_cli_fail(HD_EX_USAGE, "retry: say why with --reason (it goes in the audit log)");
    if ((c = hd_cli_load_campaign(t.path, &code)) == NULL)
        return code;
    if (t.channel) {
        for (size_t i = 0; i < c->nchannels; i++)
            if (strcmp(c->channels[i].name, t.channel) == 0)
                ch_filter = (int)i;
        if (ch_filter < 0) {
            code = hd_cli_fail(HD_EX_USAGE, "retry: the campaign has no channel \"%s\"", t.channel);
            goto out;
        }
    }
    const struct hd_country *co = t.country ? hd_country_find(t.country, strlen(t.country)) : NULL;
    if (t.country && co == NULL) {
        code = hd_cli_fail(HD_EX_USAGE, "retry: unknown country \"%s\"", t.country);
        goto out;
    }
    if (open_store(c, &t, &s, &err) != 0 || hd_store_begin(s, true, &txn, &err) != 0)
        goto fail;
    /* Shards of the country, if one was named. */
    bool shard_ok[HD_MAX_SHARDS + 1];
    memset(shard_ok, co == NULL, sizeof shard_ok);
    if (co) {
        if (mdb_cursor_open(txn, s->shards, &cur) != 0)
            goto fail;
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
            struct hd_shard_rec sr;
            if (k.mv_size == 2 && v.mv_size == sizeof sr) {
                memcpy(&sr, v.mv_data, sizeof sr);
                shard_ok[hd_get_u16(k.mv_data)] = memcmp(sr.country, co->code, 2) == 0;
            }
        }
        mdb_cursor_close(cur);
        cur = NULL;
    }
    uint8_t want = t.failed ? HD_DS_FAILED : HD_DS_HELD;
    int64_t now = hd_now_ms();
    int rc = mdb_cursor_open(txn, s->deliveries, &cur);
    if (rc != 0) {
        hd_store_fail(&err, rc, "reading deliveries");
        goto fail;
    }
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        struct hd_delivery_rec r;
        uint8_t key[11];
        if (k.mv_size != 11)
            continue;
        memcpy(key, k.mv_data, 11);
        uint16_t shard = hd_get_u16(key);
        if (!shard_ok[shard] || (ch_filter >= 0 && key[10] != ch_filter))
            continue;
        if (hd_delivery_rec_decode(v.mv_data, v.mv_size, &r) != 0 || r.state != want)
            continue;
        /* A fresh round of attempts, due now: the dispatcher's due queue
         * picks it up even mid-run. Earlier replies stay in the audit of
         * proofs through the record's event until the new outcome. */
        r.state = HD_DS_RETRY;
        r.attempts = 0;
        r.next_attempt_ms = now;
        r.last_change_ms = now;
        hd_buf_reset(&rec);
        uint8_t dk[19];
        MDB_val dkv = {19, dk}, empty = {0, ""}, val;
        hd_key_due(dk, now, key);
        if (hd_delivery_rec_encode(&r, &rec) != 0)
            goto fail;
        val.mv_size = rec.len;
        val.mv_data = rec.data;
        if ((rc = mdb_cursor_put(cur, &k, &val, MDB_CURRENT)) != 0 ||
            (rc = mdb_put(txn, s->due, &dkv, &empty, 0)) != 0) {
            hd_store_fail(&err, rc, "requeueing");
            goto fail;
        }
        if (hd_store_counter_add(txn, s, hd_counter_key(shard, key[10], want), -1, &err) != 0 ||
            hd_store_counter_add(txn, s, hd_counter_key(shard, key[10], HD_DS_RETRY), 1, &err) != 0)
            goto fail;
        requeued++;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    json_t *entry =
        json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:I}", "action", "retry", "what",
                  t.failed ? "failed" : "held", "channel", t.channel, "country",
                  co ? co->code : NULL, "reason", t.reason, "requeued", (json_int_t)requeued);
    if (audit(txn, s, entry, &err) != 0 || hd_store_commit(txn, &err) != 0) {
        txn = NULL;
        goto fail;
    }
    txn = NULL;
    printf("%s: requeued %" PRIu64 " %s deliveries\n", c->id, requeued,
           t.failed ? "failed" : "held");
    code = HD_EX_OK;
    goto out;
fail:
    code = hd_cli_fail(err.code ? err.code : HD_EX_IOERR, "retry: %s",
                       err.msg[0] ? err.msg : "state store error");
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    hd_buf_release(&rec);
    hd_store_close(s);
    hd_campaign_free(c);
    return code;
}
