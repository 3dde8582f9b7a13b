/* Tests for the planner (core/plan/plan.c): every exclusion reason, channel skips,
 * language choice, shards and waves, counters against a scan of the data,
 * idempotency, change detection, --replan, interrupted plans, dedup at size,
 * and CSV/JSONL parity. Each test builds a tiny campaign in a tmpdir, runs
 * hd_plan_run, and reads the state store back (read-only, summary JSON and
 * direct LMDB reads). docs/state-store.md and docs/plan-output.md are the
 * references. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fixtures.h"
#include "hd_test.h"
#include "herald/audience.h"
#include "herald/campaign.h"
#include "herald/plan.h"
#include "herald/statedir.h"
#include "herald/store.h"

#define NO_WAVE 0xFFFF

/* ---- the campaign --------------------------------------------------------------- */

static void write_locale(const char *tag, const char *subject)
{
    char text[1024], name[64];
    snprintf(text, sizeof text,
             "language: %s\n"
             "email:\n"
             "  subject: \"%s\"\n"
             "  text: \"Hello {{name}}, object here: {{objection_url}}\"\n"
             "  html: \"<p>Object here: {{objection_url}}</p>\"\n"
             "push:\n"
             "  title: \"Notice\"\n"
             "  body: \"Object: {{objection_url}}\"\n"
             "variant:\n"
             "  email:\n"
             "    subject: \"Again: %s\"\n"
             "    text: \"You already objected. {{objection_url}}\"\n"
             "    html: \"<p>You already objected. {{objection_url}}</p>\"\n"
             "  push:\n"
             "    title: \"Notice\"\n"
             "    body: \"Already objected: {{objection_url}}\"\n",
             tag, subject, subject);
    snprintf(name, sizeof name, "locales/%s.yaml", tag);
    hd_fx_write(name, text, (size_t)-1);
}

static void write_locales(void)
{
    mkdir(hd_fx_path("locales"), 0755);
    write_locale("en", "Notice");
    write_locale("de", "Hinweis");
    write_locale("fr", "Avis");
    write_locale("pt", "Aviso");
}

/* c.yaml reading audience (csv or jsonl) with objections.action. */
static void write_campaign(const char *name, const char *audience, const char *format,
                           const char *action)
{
    char text[2048];
    snprintf(text, sizeof text,
             "id: t-plan\n"
             "reference_date: 2025-06-26\n"
             "audience:\n"
             "  source: %s\n"
             "  format: %s\n"
             "  fields:\n"
             "    age: years\n"
             "  regions: [EU]\n"
             "  minimum_age: 18\n"
             "  objections:\n"
             "    file: objections.txt\n"
             "    action: %s\n"
             "objection_link:\n"
             "  url: \"https://privacy.example/o?p={{person}}&t={{token}}\"\n"
             "  secret_env: HERALD_LINK_SECRET\n"
             "locales:\n"
             "  dir: locales\n"
             "  default: en\n"
             "channels:\n"
             "  email:\n"
             "    type: email\n"
             "    module: file\n"
             "    from: \"Herald Test <notices@example.org>\"\n"
             "  push:\n"
             "    type: push\n"
             "    module: file\n"
             "waves:\n"
             "  - name: dach\n"
             "    countries: [DE, AT]\n"
             "  - name: french\n"
             "    languages: [fr]\n"
             "  - name: late\n"
             "    countries: [DE, FR]\n",
             audience, format, action);
    hd_fx_write(name, text, (size_t)-1);
}

static struct hd_campaign *load_named(const char *name)
{
    struct hd_campaign *c = hd_fx_campaign_load(hd_fx_path(name), NULL);
    assert_non_null(c);
    return c;
}

static struct hd_campaign *load(void)
{
    return load_named("c.yaml");
}

/* The main audience: every outcome, with what each row must become. */
#define CSV_HEADER "id,email,push_token,country,language,birth_date,years,name\n"
static const char *const main_rows[] = {
    /* 1 */ "p1,p1@example.de,tok1,DE,de,1980-01-01,,Anna",
    /* 2 */ "p2,p2@example.com,,US,en,1980-01-01,,",
    /* 3 */ "p3,p3@example.de,,DE,de,2010-01-01,,",
    /* 4 */ "p4,p4@example.de,,DE,de,,15,",
    /* 5 */ "o1,o1@example.de,,DE,de,1980-01-01,,",
    /* 6 */ "p5,,,DE,de,1980-01-01,,",
    /* 7 */ "p6,bad-email,,DE,de,1980-01-01,,",
    /* 8 */ "p7,p7@example.de,,XX,de,1980-01-01,,",
    /* 9 */ "p8,p8@example.de,,DE,de,2001-02-30,,",
    /* 10 */ "p9,p9@example.de,,DE,de,1980-01-01,,\"Bad\nName\"", /* two lines */
                                                                  /* 11 */
    "p10,p10@example.de,,DE,de,1980-01-01,,Bad\xff"
    "Name",
    /* 12 */ "p11,p11@example.de,,DE,de,1980-01-01,,a,b",
    /* 13 */ "pd,p1b@example.de,,DE,de,1980-01-01,,",
    /* 14 */ "p3,p3x@example.at,,AT,de,1980-01-01,,",
    /* 15 */ "p2b,,,US,en,1970-01-01,,",
    /* 16 */ "p12,p12@example.de,,DE,de,1980-01-01,,",
    /* 17 */ "p13,j\xc3\xbcrgen@example.de,tok13,DE,de,1980-01-01,,",
    /* 18 */ "p14,p14@example.at,,AT,,1980-01-01,,",
    /* 19 */ "p15,p15@example.pt,,PT,pt-BR,1980-01-01,,",
    /* 20 */ "p16,p16@example.pl,,PL,,1980-01-01,,",
    /* 21 */ "p17,p17@example.fr,,FR,fr,1980-01-01,,",
    /* 22 */ "p18,p18@example.de,,DE,ja,1980-01-01,,",
    /* 23 */ "p19,p19@example.be,,BE,fr,1980-01-01,,",
    /* 24 */ "pd,,,DE,de,2015-01-01,,",
    /* 25 */ "p14,x@example.de,,DE,de,1999-13-01,,",
    /* 26 */ "o2,o2@example.de,,DE,de,1980-01-01,,",
};
#define NMAIN (sizeof main_rows / sizeof main_rows[0])

/* Writes name with the header and rows (each followed by LF). */
static void write_csv(const char *name, const char *const *rows, size_t n, const char *extra)
{
    struct hd_buf b = HD_BUF_INIT;
    assert_int_equal(hd_buf_puts(&b, CSV_HEADER), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hd_buf_printf(&b, "%s\n", rows[i]), 0);
    if (extra)
        assert_int_equal(hd_buf_puts(&b, extra), 0);
    hd_fx_write(name, b.data, b.len);
    hd_buf_release(&b);
}

/* The physical line main_rows[i] starts on (row 10 spans two lines). */
static uint64_t main_line(size_t i)
{
    uint64_t line = 2;
    for (size_t j = 0; j < i; j++)
        for (const char *p = main_rows[j]; *p; p++)
            line += *p == '\n';
    return line + i;
}

/* The standard fixture: locales, objections, c.yaml reading audience.csv. */
static void main_fixture(const char *action)
{
    write_locales();
    hd_fx_write("objections.txt", "o1\n# a comment, not an id\n  o2  \r\n\n", (size_t)-1);
    write_csv("audience.csv", main_rows, NMAIN, NULL);
    write_campaign("c.yaml", "audience.csv", "csv", action);
}

/* ---- running ------------------------------------------------------------------------ */

static const char *state_dir(void)
{
    return hd_fx_path("state");
}

static int run(const struct hd_campaign *c, const char *sdir, bool replan,
               struct hd_plan_result *res, struct hd_err *err)
{
    struct hd_plan_opts o;
    memset(&o, 0, sizeof o);
    o.state_dir = sdir;
    o.replan = replan;
    memset(err, 0, sizeof *err);
    return hd_plan_run(c, &o, res, err);
}

static struct hd_plan_result run_ok_in(const struct hd_campaign *c, const char *sdir, bool replan)
{
    struct hd_plan_result res;
    struct hd_err err;
    int rc = run(c, sdir, replan, &res, &err);
    if (rc != 0)
        print_message("plan: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(res.rows == res.eligible + res.excluded);
    return res;
}

static struct hd_plan_result run_ok(const struct hd_campaign *c, bool replan)
{
    return run_ok_in(c, state_dir(), replan);
}

/* Forgets where c's store was planned (herald/statedir.h), so that a test may
 * make a second store of the same campaign on purpose. */
static void forget_store(const struct hd_campaign *c)
{
    char marker[1024];
    struct hd_err err = {0};
    assert_int_equal(hd_state_dir_marker(c, marker, sizeof marker, &err), 0);
    assert_int_equal(unlink(marker), 0);
}

/* The plan must be refused with HD_EX_DATAERR and a message containing want. */
static void run_refused(const struct hd_campaign *c, bool replan, const char *want)
{
    struct hd_plan_result res;
    struct hd_err err;
    assert_int_equal(run(c, state_dir(), replan, &res, &err), -1);
    if (strstr(err.msg, want) == NULL)
        print_message("message: %s\n", err.msg);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, want));
}

/* ---- reading the store back ---------------------------------------------------------- */

struct view {
    struct hd_store *s;
    MDB_txn *txn;
};

static struct view view_open_in(const char *sdir)
{
    struct view v = {NULL, NULL};
    struct hd_err err = {0};
    int rc = hd_store_open(&v.s, sdir, HD_STORE_RDONLY, &err);
    if (rc != 0)
        print_message("open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(hd_store_begin(v.s, false, &v.txn, &err), 0);
    return v;
}

static struct view view_open(void)
{
    return view_open_in(state_dir());
}

static void view_close(struct view *v)
{
    mdb_txn_abort(v->txn);
    hd_store_close(v->s);
}

static size_t entries(const struct view *v, MDB_dbi dbi)
{
    MDB_stat st;
    assert_int_equal(mdb_stat(v->txn, dbi, &st), 0);
    return st.ms_entries;
}

static uint64_t counter(const struct view *v, uint16_t shard, uint8_t kind, uint8_t st)
{
    return hd_store_counter_get(v->txn, v->s, hd_counter_key(shard, kind, st));
}

static uint64_t excluded_by(const struct view *v, enum hd_reason r)
{
    return counter(v, HD_SHARD_NONE, HD_CK_EXCLUDED, (uint8_t)r);
}

/* True when the len bytes at id are exactly want (an empty field is NULL). */
static bool id_is(const char *id, uint16_t len, const char *want)
{
    if (len == 0)
        return want[0] == '\0';
    return id != NULL && len == strlen(want) && memcmp(id, want, len) == 0;
}

/* True when want occurs in the len bytes at data. */
static bool contains(const void *data, size_t len, const char *want)
{
    size_t n = strlen(want);
    for (size_t i = 0; data != NULL && i + n <= len; i++)
        if (memcmp((const char *)data + i, want, n) == 0)
            return true;
    return false;
}

/* Finds the person with this id; false when there is none. */
static bool find_person(const struct view *v, const char *id, struct hd_person_rec *p,
                        uint16_t *shard)
{
    MDB_cursor *cur;
    MDB_val k, val;
    bool found = false;
    assert_int_equal(mdb_cursor_open(v->txn, v->s->persons, &cur), 0);
    while (!found && mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        assert_int_equal(hd_person_rec_decode(val.mv_data, val.mv_size, p), 0);
        if (id_is(p->id, p->id_len, id)) {
            found = true;
            *shard = hd_get_u16(k.mv_data);
        }
    }
    mdb_cursor_close(cur);
    return found;
}

static bool get_exclusion(const struct view *v, uint64_t row, struct hd_exclusion_rec *x)
{
    uint8_t key[8];
    MDB_val k = {8, key}, val;
    hd_key_u64(key, row);
    int rc = mdb_get(v->txn, v->s->exclusions, &k, &val);
    if (rc == MDB_NOTFOUND)
        return false;
    assert_int_equal(rc, 0);
    assert_int_equal(hd_exclusion_rec_decode(val.mv_data, val.mv_size, x), 0);
    return true;
}

static bool has_person_row(const struct view *v, uint16_t shard, uint64_t row)
{
    uint8_t key[10];
    MDB_val k = {10, key}, val;
    hd_key_person(key, shard, row);
    return mdb_get(v->txn, v->s->persons, &k, &val) == 0;
}

static bool has_delivery(const struct view *v, uint16_t shard, uint64_t row, uint8_t ch)
{
    uint8_t key[11];
    MDB_val k = {11, key}, val;
    hd_key_delivery(key, shard, row, ch);
    return mdb_get(v->txn, v->s->deliveries, &k, &val) == 0;
}

static struct hd_shard_rec get_shard(const struct view *v, uint16_t shard)
{
    struct hd_shard_rec rec;
    uint8_t key[2] = {(uint8_t)(shard >> 8), (uint8_t)shard};
    MDB_val k = {2, key}, val;
    assert_int_equal(mdb_get(v->txn, v->s->shards, &k, &val), 0);
    assert_int_equal(val.mv_size, sizeof rec);
    memcpy(&rec, val.mv_data, sizeof rec);
    return rec;
}

static void meta(const struct view *v, const char *key, char *out, size_t cap)
{
    struct hd_buf b = HD_BUF_INIT;
    struct hd_err err = {0};
    bool found = false;
    assert_int_equal(hd_store_meta_get(v->txn, v->s, key, &b, &found, &err), 0);
    out[0] = '\0';
    if (found)
        snprintf(out, cap, "%.*s", (int)b.len, b.data);
    hd_buf_release(&b);
}

#define MAXSH 64
#define SLOTS (HD_CK_SKIP_BASE + 3)

struct totals {
    uint64_t eligible, variant, excluded, deliveries, ids;
    uint64_t reasons[HD_R_COUNT];
    size_t nshards;
};

/* Scans persons, deliveries, exclusions, shards and ids, checks every
 * cross-reference, and checks that the counters equal what the scan
 * counted (and that no other counter is set). */
static struct totals check_store(const struct view *v, const struct hd_campaign *c)
{
    static uint64_t persons[MAXSH][2], chan[MAXSH][HD_MAX_CHANNELS][SLOTS];
    struct hd_shard_rec shards[MAXSH];
    struct totals t;
    MDB_cursor *cur;
    MDB_val k, val;
    uint64_t want_deliveries = 0;

    memset(&t, 0, sizeof t);
    memset(persons, 0, sizeof persons);
    memset(chan, 0, sizeof chan);

    /* shards: dense ids from 0 */
    assert_int_equal(mdb_cursor_open(v->txn, v->s->shards, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        assert_int_equal(k.mv_size, 2);
        assert_int_equal(hd_get_u16(k.mv_data), t.nshards);
        assert_true(t.nshards < MAXSH);
        assert_int_equal(val.mv_size, sizeof shards[0]);
        memcpy(&shards[t.nshards], val.mv_data, sizeof shards[0]);
        t.nshards++;
    }
    mdb_cursor_close(cur);

    /* persons */
    assert_int_equal(mdb_cursor_open(v->txn, v->s->persons, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        struct hd_person_rec p;
        assert_int_equal(k.mv_size, 10);
        uint16_t sh = hd_get_u16(k.mv_data);
        assert_true(sh < t.nshards);
        assert_int_equal(hd_person_rec_decode(val.mv_data, val.mv_size, &p), 0);
        assert_true(p.row == hd_get_u64((const uint8_t *)k.mv_data + 2));
        assert_true(p.line >= p.row);
        assert_string_equal(p.country, shards[sh].country);
        assert_string_equal(p.language, shards[sh].language);
        assert_int_equal(p.nchannels, c->nchannels);
        assert_true(p.variant <= 1);
        persons[sh][p.variant]++;
        *(p.variant ? &t.variant : &t.eligible) += 1;
        bool any = false;
        for (uint8_t ch = 0; ch < p.nchannels; ch++) {
            assert_true(p.chskip[ch] < 3);
            if (p.chskip[ch] != HD_CHSKIP_NONE) {
                chan[sh][ch][HD_CK_SKIP_BASE + p.chskip[ch]]++;
                assert_false(has_delivery(v, sh, p.row, ch));
            } else {
                any = true;
                want_deliveries++;
                assert_true(has_delivery(v, sh, p.row, ch));
            }
        }
        assert_true(any); /* else it would be a no_channel exclusion */
        /* an eligible row is never also an exclusion */
        struct hd_exclusion_rec x;
        assert_false(get_exclusion(v, p.row, &x));
    }
    mdb_cursor_close(cur);

    /* deliveries */
    assert_int_equal(mdb_cursor_open(v->txn, v->s->deliveries, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        struct hd_delivery_rec d;
        assert_int_equal(k.mv_size, 11);
        const uint8_t *kb = k.mv_data;
        uint16_t sh = hd_get_u16(kb);
        assert_true(sh < t.nshards);
        assert_true(kb[10] < c->nchannels);
        assert_true(has_person_row(v, sh, hd_get_u64(kb + 2)));
        assert_int_equal(hd_delivery_rec_decode(val.mv_data, val.mv_size, &d), 0);
        chan[sh][kb[10]][d.state]++;
        t.deliveries++;
    }
    mdb_cursor_close(cur);
    assert_true(t.deliveries == want_deliveries);

    /* exclusions */
    assert_int_equal(mdb_cursor_open(v->txn, v->s->exclusions, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        struct hd_exclusion_rec x;
        assert_int_equal(k.mv_size, 8);
        assert_int_equal(hd_exclusion_rec_decode(val.mv_data, val.mv_size, &x), 0);
        assert_true(x.row == hd_get_u64(k.mv_data));
        assert_true(x.line >= x.row);
        t.reasons[x.reason]++;
        t.excluded++;
        for (uint16_t sh = 0; sh < t.nshards; sh++)
            assert_false(has_person_row(v, sh, x.row));
    }
    mdb_cursor_close(cur);

    /* counters: each one equals the scan, and nothing else is counted */
    for (uint16_t sh = 0; sh < t.nshards; sh++) {
        for (uint8_t k2 = 0; k2 < 2; k2++)
            assert_true(counter(v, sh, HD_CK_PERSONS, k2) == persons[sh][k2]);
        for (uint8_t ch = 0; ch < HD_MAX_CHANNELS; ch++)
            for (uint8_t st = 0; st < SLOTS; st++)
                assert_true(counter(v, sh, ch, st) == chan[sh][ch][st]);
    }
    for (uint8_t r = 0; r < HD_R_COUNT; r++)
        assert_true(excluded_by(v, (enum hd_reason)r) == t.reasons[r]);
    assert_int_equal(mdb_cursor_open(v->txn, v->s->counters, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        const uint8_t *kb = k.mv_data;
        uint64_t n;
        assert_int_equal(k.mv_size, 4);
        assert_int_equal(val.mv_size, 8);
        memcpy(&n, val.mv_data, 8);
        uint16_t sh = hd_get_u16(kb);
        if (sh == HD_SHARD_NONE) {
            assert_int_equal(kb[2], HD_CK_EXCLUDED);
            assert_true(kb[3] < HD_R_COUNT);
        } else {
            assert_true(sh < t.nshards);
            assert_true(
                kb[2] == HD_CK_PERSONS
                    ? kb[3] < 2
                    : kb[2] < c->nchannels &&
                          (kb[3] < HD_DS_COUNT || (kb[3] >= HD_CK_SKIP_BASE + 1 && kb[3] < SLOTS)));
        }
    }
    mdb_cursor_close(cur);

    /* ids: hash of the row's id, the row's shard (or none), key order */
    assert_int_equal(mdb_cursor_open(v->txn, v->s->ids, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        const uint8_t *kb = k.mv_data;
        assert_int_equal(k.mv_size, 16);
        assert_int_equal(val.mv_size, 2);
        uint64_t row = hd_get_u64(kb + 8);
        uint16_t sh = hd_get_u16(val.mv_data);
        const char *id;
        uint16_t id_len;
        if (sh == HD_SHARD_NONE) {
            struct hd_exclusion_rec x;
            assert_true(get_exclusion(v, row, &x));
            assert_int_not_equal(x.reason, HD_R_INVALID_ROW); /* invalid rows have no id */
            id = x.id;
            id_len = x.id_len;
        } else {
            uint8_t pk[10];
            MDB_val key = {10, pk}, pv;
            struct hd_person_rec p;
            hd_key_person(pk, sh, row);
            assert_int_equal(mdb_get(v->txn, v->s->persons, &key, &pv), 0);
            assert_int_equal(hd_person_rec_decode(pv.mv_data, pv.mv_size, &p), 0);
            id = p.id;
            id_len = p.id_len;
        }
        assert_true(hd_get_u64(kb) == hd_person_hash(id, id_len));
        t.ids++;
    }
    mdb_cursor_close(cur);
    /* every valid row, and only those, is in the index */
    assert_true(t.ids == t.eligible + t.variant + t.excluded - t.reasons[HD_R_INVALID_ROW]);
    return t;
}

/* Every key and value of every database, length-prefixed, in order;
 * without meta's plan_report (which holds the plan's timing) unless
 * with_report. */
static void dump_all(const char *sdir, struct hd_buf *out, bool with_report)
{
    struct view v = view_open_in(sdir);
    const MDB_dbi dbs[] = {v.s->meta,       v.s->snapshot,   v.s->shards, v.s->persons,
                           v.s->deliveries, v.s->exclusions, v.s->ids,    v.s->counters,
                           v.s->due,        v.s->audit};
    hd_buf_reset(out);
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        MDB_cursor *cur;
        MDB_val k, val;
        assert_int_equal(hd_buf_printf(out, "db %zu\n", i), 0);
        assert_int_equal(mdb_cursor_open(v.txn, dbs[i], &cur), 0);
        while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
            if (i == 0 && !with_report && k.mv_size == 11 &&
                memcmp(k.mv_data, "plan_report", 11) == 0)
                continue;
            assert_int_equal(hd_buf_printf(out, "%zu:", k.mv_size), 0);
            assert_int_equal(hd_buf_append(out, k.mv_data, k.mv_size), 0);
            assert_int_equal(hd_buf_printf(out, "%zu:", val.mv_size), 0);
            assert_int_equal(hd_buf_append(out, val.mv_data, val.mv_size), 0);
        }
        mdb_cursor_close(cur);
    }
    view_close(&v);
}

static json_t *summary_in(const char *sdir, const struct hd_campaign *c)
{
    struct view v = view_open_in(sdir);
    struct hd_err err = {0};
    json_t *sum = hd_plan_summary(v.s, c, &err);
    if (sum == NULL)
        print_message("summary: %s\n", err.msg);
    assert_non_null(sum);
    view_close(&v);
    return sum;
}

static json_int_t jint(json_t *obj, const char *path)
{
    /* path: "a.b.c" through objects */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = obj;
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return cur ? json_integer_value(cur) : -1;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- every outcome ----------------------------------------------------------------------- */

/* Rows by outcome in main_rows (1-based). */
static const struct {
    uint64_t row;
    enum hd_reason reason;
    int field; /* enum hd_field, HD_F_COUNT for the row */
    const char *why;
    const char *id;
    const char *country;
} main_excl[] = {
    {2, HD_R_OUT_OF_REGION, HD_F_COUNTRY, NULL, "p2", "US"},
    {3, HD_R_DUPLICATE_ID, HD_F_ID, "id also on line 16", "p3", "DE"},
    {4, HD_R_MINOR, HD_F_COUNT, NULL, "p4", "DE"},
    {5, HD_R_ALREADY_OBJECTED, HD_F_ID, NULL, "o1", "DE"},
    {6, HD_R_NO_CHANNEL, HD_F_COUNT, NULL, "p5", "DE"},
    {7, HD_R_INVALID_ROW, HD_F_EMAIL, "bad email address", "p6", "DE"},
    {8, HD_R_INVALID_ROW, HD_F_COUNTRY, "unknown country", "p7", ""},
    {9, HD_R_INVALID_ROW, HD_F_BIRTH_DATE, "bad date", "p8", "DE"},
    {10, HD_R_INVALID_ROW, HD_F_NAME, "control character", "p9", ""},
    {11, HD_R_INVALID_ROW, HD_F_NAME, "bad UTF-8", "p10", ""},
    {12, HD_R_INVALID_ROW, HD_F_COUNT, "expected 8 fields, found 9", NULL, ""},
    {13, HD_R_DUPLICATE_ID, HD_F_ID, "id also on line 26", "pd", "DE"},
    {14, HD_R_DUPLICATE_ID, HD_F_ID, "id also on line 4", "p3", "AT"},
    {15, HD_R_OUT_OF_REGION, HD_F_COUNTRY, NULL, "p2b", "US"},
    {24, HD_R_DUPLICATE_ID, HD_F_ID, "id also on line 15", "pd", "DE"},
    {25, HD_R_INVALID_ROW, HD_F_BIRTH_DATE, "bad date", "p14", "DE"},
    {26, HD_R_ALREADY_OBJECTED, HD_F_ID, NULL, "o2", "DE"},
};

static void check_main_exclusions(const struct view *v)
{
    for (size_t i = 0; i < sizeof main_excl / sizeof main_excl[0]; i++) {
        struct hd_exclusion_rec x;
        uint64_t row = main_excl[i].row;
        if (!get_exclusion(v, row, &x))
            fail_msg("row %" PRIu64 " is not an exclusion", row);
        assert_int_equal(x.reason, main_excl[i].reason);
        assert_int_equal(x.field, main_excl[i].field);
        assert_true(x.line == main_line(row - 1));
        assert_string_equal(x.country, main_excl[i].country);
        if (main_excl[i].why) {
            assert_non_null(x.why);
            assert_true(id_is(x.why, x.why_len, main_excl[i].why));
        } else {
            assert_int_equal(x.why_len, 0);
        }
        if (main_excl[i].id)
            assert_true(id_is(x.id, x.id_len, main_excl[i].id));
        else
            assert_int_equal(x.id_len, 0); /* a malformed row's values are not kept */
    }
}

static void test_plan_every_outcome(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    struct hd_plan_result res = run_ok(c, false);
    assert_false(res.unchanged);
    assert_int_equal(res.rows, NMAIN);
    assert_int_equal(res.eligible, 9);
    assert_int_equal(res.excluded, 17);

    struct view v = view_open();
    struct totals t = check_store(&v, c);
    assert_int_equal(t.eligible, 9);
    assert_int_equal(t.variant, 0);
    assert_int_equal(t.excluded, 17);
    assert_int_equal(t.ids, NMAIN - 7);
    assert_int_equal(excluded_by(&v, HD_R_OUT_OF_REGION), 2);
    assert_int_equal(excluded_by(&v, HD_R_MINOR), 1);
    assert_int_equal(excluded_by(&v, HD_R_ALREADY_OBJECTED), 2);
    assert_int_equal(excluded_by(&v, HD_R_NO_CHANNEL), 1);
    assert_int_equal(excluded_by(&v, HD_R_DUPLICATE_ID), 4);
    assert_int_equal(excluded_by(&v, HD_R_INVALID_ROW), 7);
    check_main_exclusions(&v);

    /* Every row of an id that is on two valid rows is duplicate_id, the
     * first one too: which is the person is unknown, so neither is told.
     * pd's first row (eligible) left nothing behind ... */
    assert_false(has_person_row(&v, 0, 13));
    for (uint8_t ch = 0; ch < 2; ch++)
        assert_false(has_delivery(&v, 0, 13, ch));
    /* ... and rows with a unique id are intact */
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "p1", &p, &sh));
    assert_int_equal(sh, 0);
    assert_int_equal(p.row, 1);
    assert_int_equal(p.line, 2);
    assert_string_equal(p.country, "DE");
    assert_string_equal(p.language, "de");
    assert_int_equal(p.lang_source, HD_LANG_EXACT);
    assert_int_equal(p.variant, 0);
    assert_int_equal(p.age, 45);
    assert_int_equal(p.nchannels, 2);
    assert_int_equal(p.chskip[0], HD_CHSKIP_NONE);
    assert_int_equal(p.chskip[1], HD_CHSKIP_NONE);
    assert_true(id_is(p.email, p.email_len, "p1@example.de"));
    assert_true(id_is(p.push_token, p.push_token_len, "tok1"));
    assert_true(id_is(p.name, p.name_len, "Anna"));
    assert_true(id_is(p.language_asked, p.language_asked_len, "de"));
    assert_true(id_is(p.time_zone, p.time_zone_len, "Europe/Berlin"));
    assert_true(has_delivery(&v, 0, 1, 0));
    assert_true(has_delivery(&v, 0, 1, 1));
    assert_true(find_person(&v, "p12", &p, &sh));
    assert_int_equal(p.row, 16);
    /* p3's first row is a minor, its later row eligible: neither is a person */
    assert_false(find_person(&v, "p3", &p, &sh));
    assert_false(find_person(&v, "pd", &p, &sh));
    /* an invalid row never takes part in dedup: p14 stays eligible */
    assert_true(find_person(&v, "p14", &p, &sh));
    assert_int_equal(p.row, 18);

    /* plan meta */
    char buf[256];
    meta(&v, "plan_state", buf, sizeof buf);
    assert_string_equal(buf, "complete");
    meta(&v, "format", buf, sizeof buf);
    assert_string_equal(buf, HD_STORE_FORMAT);
    meta(&v, "campaign_id", buf, sizeof buf);
    assert_string_equal(buf, "t-plan");
    meta(&v, "audience_sha256", buf, sizeof buf);
    assert_int_equal(strlen(buf), 64);
    meta(&v, "objections_sha256", buf, sizeof buf);
    assert_int_equal(strlen(buf), 64);
    meta(&v, "snapshot_sha256", buf, sizeof buf);
    assert_int_equal(strlen(buf), 64);
    /* the distinct zones of eligible people, first seen first (from the
     * country when the row has none) */
    meta(&v, "time_zones", buf, sizeof buf);
    assert_string_equal(buf, "[\"Europe/Berlin\",\"Europe/Vienna\",\"Europe/Lisbon\","
                             "\"Europe/Warsaw\",\"Europe/Paris\",\"Europe/Brussels\"]");
    /* the snapshot holds the campaign and every locale file, byte for byte */
    assert_int_equal(entries(&v, v.s->snapshot), 5);
    MDB_val k = {strlen("locale/de.yaml"), (void *)"locale/de.yaml"}, val;
    assert_int_equal(mdb_get(v.txn, v.s->snapshot, &k, &val), 0);
    assert_true(contains(val.mv_data, val.mv_size, "Hinweis"));
    view_close(&v);

    /* no sort runs are left behind; the directory is private */
    DIR *d = opendir(state_dir());
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        assert_null(strstr(de->d_name, "plan-run"));
    closedir(d);
    struct stat st;
    assert_int_equal(stat(state_dir(), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    hd_campaign_free(c);
}

static void test_plan_summary_json(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    json_t *sum = summary_in(state_dir(), c);

    /* exclusions: every reason, zero or not */
    json_t *ex = json_object_get(sum, "exclusions");
    assert_int_equal(json_object_size(ex), HD_R_COUNT);
    assert_int_equal(jint(ex, "out_of_region"), 2);
    assert_int_equal(jint(ex, "minor"), 1);
    assert_int_equal(jint(ex, "already_objected"), 2);
    assert_int_equal(jint(ex, "no_channel"), 1);
    assert_int_equal(jint(ex, "duplicate_id"), 4);
    assert_int_equal(jint(ex, "invalid_row"), 7);

    /* report: rows = eligible + excluded, invalid rows by cause */
    json_t *rep = json_object_get(sum, "report");
    assert_int_equal(jint(rep, "rows"), NMAIN);
    assert_int_equal(jint(rep, "eligible"), 9);
    assert_int_equal(jint(rep, "excluded"), 17);
    assert_true(json_is_real(json_object_get(rep, "seconds")));
    json_t *causes = json_object_get(rep, "invalid_rows");
    static const struct {
        const char *field, *reason;
        int count;
    } want_causes[] = {
        {"email", "bad email address", 1}, {"country", "unknown country", 1},
        {"birth_date", "bad date", 2},     {"name", "control character", 1},
        {"name", "bad UTF-8", 1},          {"row", "expected 8 fields, found 9", 1},
    };
    assert_int_equal(json_array_size(causes), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *cause = json_array_get(causes, i); /* in order of first appearance */
        assert_string_equal(jstr(cause, "field"), want_causes[i].field);
        assert_string_equal(jstr(cause, "reason"), want_causes[i].reason);
        assert_int_equal(jint(cause, "count"), want_causes[i].count);
    }

    /* shards: one per (country, language used), in order of first appearance */
    static const struct {
        const char *country, *language, *wave;
        int eligible, email_pending, email_unsupported, push_pending, push_no_address;
    } want[] = {
        {"DE", "de", "dach", 4, 3, 1, 2, 2},   {"AT", "de", "dach", 1, 1, 0, 0, 1},
        {"PT", "pt", NULL, 1, 1, 0, 0, 1},     {"PL", "en", NULL, 1, 1, 0, 0, 1},
        {"FR", "fr", "french", 1, 1, 0, 0, 1}, {"BE", "fr", "french", 1, 1, 0, 0, 1},
    };
    json_t *shards = json_object_get(sum, "shards");
    assert_int_equal(json_array_size(shards), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *s = json_array_get(shards, i);
        assert_int_equal(jint(s, "shard"), i);
        assert_string_equal(jstr(s, "country"), want[i].country);
        assert_string_equal(jstr(s, "language"), want[i].language);
        if (want[i].wave)
            assert_string_equal(jstr(s, "wave"), want[i].wave);
        else
            assert_true(json_is_null(json_object_get(s, "wave")));
        assert_int_equal(jint(s, "eligible"), want[i].eligible);
        assert_int_equal(jint(s, "variant"), 0);
        json_t *ch = json_object_get(s, "channels");
        assert_int_equal(jint(ch, "email.pending"), want[i].email_pending);
        assert_int_equal(jint(ch, "email.unsupported_address"),
                         want[i].email_unsupported ? want[i].email_unsupported : -1);
        assert_int_equal(jint(ch, "email.no_address"), -1); /* zero counts are left out */
        assert_int_equal(jint(ch, "push.pending"),
                         want[i].push_pending ? want[i].push_pending : -1);
        assert_int_equal(jint(ch, "push.no_address"), want[i].push_no_address);
    }

    /* the shard records behind it: wave indexes, NO_WAVE when none matches */
    struct view v = view_open();
    static const uint16_t waves[] = {0, 0, NO_WAVE, NO_WAVE, 1, 1};
    for (uint16_t i = 0; i < 6; i++) {
        struct hd_shard_rec rec = get_shard(&v, i);
        assert_string_equal(rec.country, want[i].country);
        assert_string_equal(rec.language, want[i].language);
        assert_int_equal(rec.wave, waves[i]); /* FR/fr: "french" comes before "late" */
    }
    view_close(&v);
    json_decref(sum);
    hd_campaign_free(c);
}

static void test_plan_language_choice(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    struct view v = view_open();
    static const struct {
        const char *id, *asked, *used, *country, *tz;
        uint8_t source;
        uint16_t shard;
    } want[] = {
        {"p1", "de", "de", "DE", "Europe/Berlin", HD_LANG_EXACT, 0},
        {"p18", "ja", "de", "DE", "Europe/Berlin", HD_LANG_COUNTRY, 0},
        {"p14", "", "de", "AT", "Europe/Vienna", HD_LANG_COUNTRY, 1},
        {"p15", "pt-BR", "pt", "PT", "Europe/Lisbon", HD_LANG_PARENT, 2},
        {"p16", "", "en", "PL", "Europe/Warsaw", HD_LANG_DEFAULT, 3},
        {"p17", "fr", "fr", "FR", "Europe/Paris", HD_LANG_EXACT, 4},
        {"p19", "fr", "fr", "BE", "Europe/Brussels", HD_LANG_EXACT, 5},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct hd_person_rec p;
        uint16_t sh;
        if (!find_person(&v, want[i].id, &p, &sh))
            fail_msg("no person %s", want[i].id);
        assert_int_equal(sh, want[i].shard);
        assert_string_equal(p.language, want[i].used);
        assert_string_equal(p.country, want[i].country);
        assert_int_equal(p.lang_source, want[i].source);
        assert_true(id_is(p.language_asked, p.language_asked_len, want[i].asked));
        assert_true(id_is(p.time_zone, p.time_zone_len, want[i].tz));
    }
    view_close(&v);
    hd_campaign_free(c);
}

static void test_plan_channel_skips(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    struct view v = view_open();
    struct hd_person_rec p;
    uint16_t sh;
    /* email only: push has no address */
    assert_true(find_person(&v, "p12", &p, &sh));
    assert_int_equal(p.chskip[0], HD_CHSKIP_NONE);
    assert_int_equal(p.chskip[1], HD_CHSKIP_NO_ADDRESS);
    assert_null(p.push_token);
    assert_true(has_delivery(&v, sh, p.row, 0));
    assert_false(has_delivery(&v, sh, p.row, 1));
    /* a non-ASCII local part: email cannot carry it, push can */
    assert_true(find_person(&v, "p13", &p, &sh));
    assert_int_equal(p.chskip[0], HD_CHSKIP_UNSUPPORTED);
    assert_int_equal(p.chskip[1], HD_CHSKIP_NONE);
    assert_true(id_is(p.email, p.email_len, "j\xc3\xbcrgen@example.de"));
    assert_false(has_delivery(&v, sh, p.row, 0));
    assert_true(has_delivery(&v, sh, p.row, 1));
    /* counted per shard and channel */
    assert_int_equal(counter(&v, 0, 0, HD_CK_SKIP_BASE + HD_CHSKIP_UNSUPPORTED), 1);
    assert_int_equal(counter(&v, 0, 0, HD_CK_SKIP_BASE + HD_CHSKIP_NO_ADDRESS), 0);
    assert_int_equal(counter(&v, 0, 1, HD_CK_SKIP_BASE + HD_CHSKIP_NO_ADDRESS), 2);
    assert_int_equal(counter(&v, 0, 0, HD_DS_PENDING), 3);
    assert_int_equal(counter(&v, 0, 1, HD_DS_PENDING), 2);
    /* deliveries start pending, never attempted */
    uint8_t key[11];
    MDB_val k = {11, key}, val;
    struct hd_delivery_rec d;
    hd_key_delivery(key, sh, p.row, 1);
    assert_int_equal(mdb_get(v.txn, v.s->deliveries, &k, &val), 0);
    assert_int_equal(hd_delivery_rec_decode(val.mv_data, val.mv_size, &d), 0);
    assert_int_equal(d.state, HD_DS_PENDING);
    assert_int_equal(d.attempts, 0);
    assert_int_equal(d.flags, 0);
    assert_int_equal(d.code, 0);
    assert_true(d.next_attempt_ms == 0 && d.first_attempt_ms == 0 && d.last_change_ms == 0);
    assert_int_equal(d.event_len + d.provider_id_len + d.response_len, 0);
    view_close(&v);
    hd_campaign_free(c);
}

static void test_plan_variant_action(void **state)
{
    (void)state;
    main_fixture("variant");
    struct hd_campaign *c = load();
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.eligible, 11);
    assert_int_equal(res.excluded, 15);
    struct view v = view_open();
    struct totals t = check_store(&v, c);
    assert_int_equal(t.variant, 2);
    assert_int_equal(t.eligible, 9);
    assert_int_equal(excluded_by(&v, HD_R_ALREADY_OBJECTED), 0);
    assert_int_equal(counter(&v, 0, HD_CK_PERSONS, HD_CK_VARIANT), 2);
    assert_int_equal(counter(&v, 0, HD_CK_PERSONS, HD_CK_ELIGIBLE), 4);
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "o1", &p, &sh));
    assert_int_equal(p.variant, 1);
    assert_int_equal(sh, 0);
    assert_true(has_delivery(&v, sh, p.row, 0));
    assert_true(find_person(&v, "o2", &p, &sh)); /* the objections file trims spaces and CR */
    assert_int_equal(p.variant, 1);
    assert_true(find_person(&v, "p1", &p, &sh));
    assert_int_equal(p.variant, 0);
    view_close(&v);
    json_t *sum = summary_in(state_dir(), c);
    json_t *s0 = json_array_get(json_object_get(sum, "shards"), 0);
    assert_int_equal(jint(s0, "variant"), 2);
    assert_int_equal(jint(s0, "eligible"), 4);
    assert_int_equal(jint(s0, "channels.email.pending"), 5);
    json_decref(sum);
    hd_campaign_free(c);
}

/* ---- idempotency and change detection ---------------------------------------------------- */

static void test_plan_rerun_is_unchanged_and_byte_identical(void **state)
{
    struct hd_buf a = HD_BUF_INIT, b = HD_BUF_INIT;
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    dump_all(state_dir(), &a, true);
    struct hd_plan_result res = run_ok(c, false);
    assert_true(res.unchanged);
    dump_all(state_dir(), &b, true);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);

    /* a campaign loaded afresh from the same files is the same plan */
    hd_campaign_free(c);
    c = load();
    res = run_ok(c, false);
    assert_true(res.unchanged);
    /* --replan on unchanged inputs has nothing to rebuild either */
    res = run_ok(c, true);
    assert_true(res.unchanged);
    dump_all(state_dir(), &b, true);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);

    /* a fresh plan of the same inputs elsewhere holds the same data (but
     * for the timing in plan_report) */
    forget_store(c);
    res = run_ok_in(c, hd_fx_path("state2"), false);
    assert_false(res.unchanged);
    dump_all(state_dir(), &a, false);
    dump_all(hd_fx_path("state2"), &b, false);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    hd_buf_release(&a);
    hd_buf_release(&b);
    hd_campaign_free(c);
}

static void test_plan_changed_audience_refused_then_replanned(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    write_csv("audience.csv", main_rows, NMAIN, "p20,p20@example.de,,DE,de,1980-01-01,,\n");
    run_refused(c, false, "the audience file");
    run_refused(c, false, "--replan");
    struct hd_err err;
    struct hd_plan_result res;
    run(c, state_dir(), false, &res, &err);
    assert_null(strstr(err.msg, "objections"));
    assert_null(strstr(err.msg, "locale"));
    /* the refused run changed nothing */
    struct view v = view_open();
    assert_int_equal(entries(&v, v.s->persons), 9);
    view_close(&v);

    res = run_ok(c, true);
    assert_false(res.unchanged);
    assert_int_equal(res.rows, NMAIN + 1);
    assert_int_equal(res.eligible, 10);
    v = view_open();
    struct totals t = check_store(&v, c);
    assert_int_equal(t.eligible, 10);
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "p20", &p, &sh));
    assert_int_equal(p.row, NMAIN + 1);
    view_close(&v);
    /* and the new plan is now the up-to-date one */
    res = run_ok(c, false);
    assert_true(res.unchanged);
    hd_campaign_free(c);
}

static void test_plan_changed_objections_refused_then_replanned(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    hd_fx_write("objections.txt", "o1\no2\np1\n", (size_t)-1);
    run_refused(c, false, "the objections file");
    struct hd_err err;
    struct hd_plan_result res;
    run(c, state_dir(), false, &res, &err);
    assert_null(strstr(err.msg, "audience"));
    res = run_ok(c, true);
    assert_int_equal(res.eligible, 8);
    struct view v = view_open();
    check_store(&v, c);
    struct hd_exclusion_rec x;
    /* p1's first row is now the objection; the later p1 still a duplicate */
    assert_true(get_exclusion(&v, 1, &x));
    assert_int_equal(x.reason, HD_R_ALREADY_OBJECTED);
    assert_true(get_exclusion(&v, 13, &x));
    assert_int_equal(x.reason, HD_R_DUPLICATE_ID);
    assert_int_equal(excluded_by(&v, HD_R_ALREADY_OBJECTED), 3);
    view_close(&v);
    hd_campaign_free(c);
}

static void test_plan_changed_locale_refused_then_replanned(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    hd_campaign_free(c);

    write_locale("de", "Wichtiger Hinweis");
    c = load();
    run_refused(c, false, "the campaign or its locale files");
    struct hd_err err;
    struct hd_plan_result res;
    run(c, state_dir(), false, &res, &err);
    assert_null(strstr(err.msg, "audience"));
    assert_null(strstr(err.msg, "objections"));
    run_ok(c, true);
    struct view v = view_open();
    MDB_val k = {strlen("locale/de.yaml"), (void *)"locale/de.yaml"}, val;
    assert_int_equal(mdb_get(v.txn, v.s->snapshot, &k, &val), 0);
    assert_true(contains(val.mv_data, val.mv_size, "Wichtiger Hinweis"));
    view_close(&v);
    hd_campaign_free(c);

    /* a locale file removed: the replanned snapshot no longer has it, and
     * the people it served fall back (pt-BR in PT -> the default, en) */
    assert_int_equal(unlink(hd_fx_path("locales/pt.yaml")), 0);
    c = load();
    run_refused(c, false, "the campaign or its locale files");
    run_ok(c, true);
    v = view_open();
    assert_int_equal(entries(&v, v.s->snapshot), 4);
    k.mv_size = strlen("locale/pt.yaml");
    k.mv_data = (void *)"locale/pt.yaml";
    assert_int_equal(mdb_get(v.txn, v.s->snapshot, &k, &val), MDB_NOTFOUND);
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "p15", &p, &sh));
    assert_string_equal(p.language, "en");
    assert_int_equal(p.lang_source, HD_LANG_DEFAULT);
    check_store(&v, c);
    view_close(&v);
    hd_campaign_free(c);
}

static void test_plan_replan_refused_after_dispatch(void **state)
{
    struct hd_err err = {0};
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);

    /* as the dispatcher would: one email of shard 0 sent */
    struct hd_store *s = NULL;
    MDB_txn *txn = NULL;
    assert_int_equal(hd_store_open(&s, state_dir(), 0, &err), 0);
    assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
    assert_int_equal(hd_store_counter_add(txn, s, hd_counter_key(0, 0, HD_DS_PENDING), -1, &err),
                     0);
    assert_int_equal(hd_store_counter_add(txn, s, hd_counter_key(0, 0, HD_DS_SENT), 1, &err), 0);
    assert_int_equal(hd_store_commit(txn, &err), 0);
    hd_store_close(s);

    /* unchanged inputs: still fine, nothing to do */
    struct hd_plan_result res = run_ok(c, false);
    assert_true(res.unchanged);

    write_csv("audience.csv", main_rows, NMAIN, "p20,p20@example.de,,DE,de,1980-01-01,,\n");
    run_refused(c, false, "--replan");
    run_refused(c, true, "1 deliveries have already been dispatched");
    run_refused(c, true, "the audience file");
    struct view v = view_open();
    assert_int_equal(counter(&v, 0, 0, HD_DS_SENT), 1);
    assert_int_equal(entries(&v, v.s->persons), 9);
    view_close(&v);
    hd_campaign_free(c);
}

static void test_plan_pending_or_skip_counters_allow_replan(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    /* the plan itself has pending, no_address and unsupported counts: none
     * of them is a dispatch */
    write_csv("audience.csv", main_rows, NMAIN - 1, NULL);
    struct hd_plan_result res = run_ok(c, true);
    assert_int_equal(res.rows, NMAIN - 1);
    hd_campaign_free(c);
}

static void test_plan_interrupted_plan_is_rebuilt(void **state)
{
    struct hd_err err = {0};
    struct hd_buf a = HD_BUF_INIT, b = HD_BUF_INIT;
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    forget_store(c);
    run_ok_in(c, hd_fx_path("state-fresh"), false);

    /* as if killed mid-plan: "building", with half-written junk */
    struct hd_store *s = NULL;
    MDB_txn *txn = NULL;
    assert_int_equal(hd_store_open(&s, state_dir(), 0, &err), 0);
    assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
    assert_int_equal(hd_store_meta_put(txn, s, "plan_state", "building", 8, &err), 0);
    uint8_t key[10];
    hd_key_person(key, 0, 999);
    MDB_val k = {10, key}, val = {4, (void *)"junk"};
    assert_int_equal(mdb_put(txn, s->persons, &k, &val, 0), 0);
    assert_int_equal(hd_store_counter_add(txn, s, hd_counter_key(0, 0, HD_DS_SENT), 5, &err), 0);
    assert_int_equal(hd_store_commit(txn, &err), 0);
    hd_store_close(s);

    /* same inputs, but the plan is not trusted: rebuilt */
    struct hd_plan_result res = run_ok(c, false);
    assert_false(res.unchanged);
    assert_int_equal(res.rows, NMAIN);
    struct view v = view_open();
    char buf[32];
    meta(&v, "plan_state", buf, sizeof buf);
    assert_string_equal(buf, "complete");
    assert_false(has_person_row(&v, 0, 999));
    assert_int_equal(counter(&v, 0, 0, HD_DS_SENT), 0);
    check_store(&v, c);
    view_close(&v);

    /* identical to a fresh plan but for plan_report's timing */
    dump_all(state_dir(), &a, false);
    dump_all(hd_fx_path("state-fresh"), &b, false);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    hd_buf_release(&a);
    hd_buf_release(&b);
    hd_campaign_free(c);
}

static void test_plan_other_campaign_store_refused(void **state)
{
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    run_ok(c, false);
    hd_campaign_free(c);
    char text[4096];
    FILE *f = fopen(hd_fx_path("c.yaml"), "rb");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_int_equal(memcmp(text, "id: t-plan\n", 11), 0);
    struct hd_buf b = HD_BUF_INIT;
    assert_int_equal(hd_buf_printf(&b, "id: other%s", text + 10), 0);
    hd_fx_write("c2.yaml", b.data, b.len);
    hd_buf_release(&b);
    c = load_named("c2.yaml");
    run_refused(c, true, "belongs to campaign \"t-plan\"");
    hd_campaign_free(c);
}

static void test_plan_missing_inputs(void **state)
{
    struct hd_plan_result res;
    struct hd_err err;
    (void)state;
    main_fixture("skip");
    struct hd_campaign *c = load();
    assert_int_equal(unlink(hd_fx_path("audience.csv")), 0);
    assert_int_equal(run(c, state_dir(), false, &res, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    write_csv("audience.csv", main_rows, NMAIN, NULL);
    assert_int_equal(unlink(hd_fx_path("objections.txt")), 0);
    assert_int_equal(run(c, state_dir(), false, &res, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_non_null(strstr(err.msg, "objections.txt"));

    char out[256];
    hd_plan_default_dir(c, out, sizeof out);
    assert_string_equal(out, hd_fx_path("herald-state/t-plan"));
    hd_campaign_free(c);
}

static void test_plan_exclusion_precedence(void **state)
{
    (void)state;
    write_locales();
    hd_fx_write("objections.txt", "q1\nq2\nq3\nq4\n", (size_t)-1);
    static const char *const rows[] = {
        /* 1 */ "q1,,,US,en,2015-01-01,,",              /* out_of_region before all */
        /* 2 */ "q2,,,DE,de,2015-01-01,,",              /* minor before objected */
        /* 3 */ "q3,,,DE,de,1980-01-01,,",              /* objected before no_channel */
        /* 4 */ "q5,,,DE,de,1980-01-01,,",              /* no_channel */
        /* 5 */ "q4,q4@example.de,,US,en,2025-13-01,,", /* invalid before region */
        /* 6 */ "q6,q6@example.de,,DE,de,2007-06-26,,", /* 18 on the reference day */
        /* 7 */ "q7,q7@example.de,,DE,de,2007-06-27,,", /* 18 tomorrow: a minor */
        /* 8 */ "q8,q8@example.de,,DE,de,,18,",         /* the age column */
        /* 9 */ "q9,q9@example.de,,DE,de,,17,",
        /* 10 */ "q10,q10@example.de,,DE,de,2000-01-01,17,", /* a birth date wins */
        /* 11 */ "q11,q11@example.de,,DE,de,,,",             /* no age at all: invalid */
    };
    write_csv("audience.csv", rows, sizeof rows / sizeof rows[0], NULL);
    write_campaign("c.yaml", "audience.csv", "csv", "skip");
    struct hd_campaign *c = load();
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.rows, 11);
    assert_int_equal(res.eligible, 3);
    struct view v = view_open();
    check_store(&v, c);
    static const struct {
        uint64_t row;
        int reason;
        int field;
    } want[] = {
        {1, HD_R_OUT_OF_REGION, HD_F_COUNTRY},
        {2, HD_R_MINOR, HD_F_COUNT},
        {3, HD_R_ALREADY_OBJECTED, HD_F_ID},
        {4, HD_R_NO_CHANNEL, HD_F_COUNT},
        {5, HD_R_INVALID_ROW, HD_F_BIRTH_DATE},
        {6, -1, 0},
        {7, HD_R_MINOR, HD_F_COUNT},
        {8, -1, 0},
        {9, HD_R_MINOR, HD_F_COUNT},
        {10, -1, 0},
        {11, HD_R_INVALID_ROW, HD_F_BIRTH_DATE},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct hd_exclusion_rec x;
        bool ex = get_exclusion(&v, want[i].row, &x);
        assert_int_equal(ex, want[i].reason >= 0);
        if (!ex)
            continue;
        assert_int_equal(x.reason, want[i].reason);
        assert_int_equal(x.field, want[i].field);
    }
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "q6", &p, &sh));
    assert_int_equal(p.age, 18);
    assert_true(find_person(&v, "q10", &p, &sh));
    assert_int_equal(p.age, 25);
    view_close(&v);
    hd_campaign_free(c);
}

static void test_plan_no_waves_means_wave_zero(void **state)
{
    (void)state;
    main_fixture("skip");
    /* the same campaign without its waves: section */
    char text[4096];
    FILE *f = fopen(hd_fx_path("c.yaml"), "rb");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *w = strstr(text, "waves:\n");
    assert_non_null(w);
    *w = '\0';
    hd_fx_write("c.yaml", text, (size_t)-1);
    struct hd_campaign *c = load();
    assert_int_equal(c->nwaves, 0);
    run_ok(c, false);
    struct view v = view_open();
    struct totals t = check_store(&v, c);
    for (uint16_t i = 0; i < t.nshards; i++)
        assert_int_equal(get_shard(&v, i).wave, 0); /* everyone, at once */
    view_close(&v);
    json_t *sum = summary_in(state_dir(), c);
    json_t *s0 = json_array_get(json_object_get(sum, "shards"), 0);
    assert_true(json_is_null(json_object_get(s0, "wave")));
    json_decref(sum);
    hd_campaign_free(c);
}

/* ---- forgiving input (issue 15) ------------------------------------------------- */

/* f.yaml: the EEA, locales en de no sv (or what locales_dir holds), no
 * waves, objections o1; extra goes under audience: (e.g. a delimiter). */
static void write_forgiving_campaign(const char *source, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "id: t-forgiving\n"
             "reference_date: 2025-06-26\n"
             "audience:\n"
             "  source: %s\n"
             "  fields:\n"
             "    age: years\n"
             "  regions: [EEA]\n"
             "  minimum_age: 18\n"
             "  objections:\n"
             "    file: objections.txt\n"
             "%s"
             "objection_link:\n"
             "  url: \"https://privacy.example/o?p={{person}}&t={{token}}\"\n"
             "  secret_env: HERALD_LINK_SECRET\n"
             "locales:\n"
             "  dir: locales\n"
             "  default: en\n"
             "channels:\n"
             "  email:\n"
             "    type: email\n"
             "    module: file\n"
             "    from: \"Herald Test <notices@example.org>\"\n",
             source, extra ? extra : "");
    hd_fx_write("f.yaml", text, (size_t)-1);
}

/* Every case of issue 15's list, in a ';'-separated file from a spreadsheet:
 * each person ends eligible with the right language, zone and address, and
 * the plan report counts every normalisation by kind and field. */
#define FORGIVING_HEADER "id;email;country;language;birth_date;years;time_zone;name\n"
static const char forgiving_csv[] = FORGIVING_HEADER
    /* 1 */ " f1 ; jan@Example.DE ; DE;de; 1990-01-01;;;Jan\n"
            /* 2 */ "f2;f2@example.de;DE;xx;1980-01-01;;;\n"
            /* 3 */ "f3;f3@example.se;SE;nb;1980-01-01;;;\n"
            /* 4 */ "f4;f4@example.no;NO;nn-NO;1980-01-01;;;\n"
            /* 5 */ "f5;f5@example.de;DE;de;1980-01-01;;europe/berlin;\n"
            /* 6 */ "f6;f6@example.de;DE;de;1980-01-01;;Mars/Olympus_Mons;\n"
            /* 7 */ "f7;F7@example.de;de;DE;1980-01-01;;;\n"
            /* 8 */ "f8;a@example.de;DE;de;1980-01-01;;;\n"
            /* 9 */ " f8;b@example.de;DE;de;1980-01-01;;;\n"
            /* 10 */ "o1 ;o1@example.de;DE;de;1980-01-01;;;\n";

static void test_plan_forgiving_input(void **state)
{
    (void)state;
    mkdir(hd_fx_path("locales"), 0755);
    write_locale("en", "Notice");
    write_locale("de", "Hinweis");
    write_locale("no", "Varsel");
    write_locale("sv", "Meddelande");
    hd_fx_write("objections.txt", "o1\n", (size_t)-1);
    hd_fx_write("forgiving.csv", forgiving_csv, (size_t)-1);
    write_forgiving_campaign("forgiving.csv", NULL);
    struct hd_campaign *c = load_named("f.yaml");
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.rows, 10);
    assert_int_equal(res.eligible, 7);

    struct view v = view_open();
    static const struct {
        const char *id, *email, *asked, *used, *country, *tz;
        uint8_t source;
    } want[] = {
        {"f1", "jan@example.de", "de", "de", "DE", "Europe/Berlin", HD_LANG_EXACT},
        {"f2", "f2@example.de", "xx", "de", "DE", "Europe/Berlin", HD_LANG_COUNTRY},
        /* an nb speaker in Sweden reads Norwegian, not Swedish */
        {"f3", "f3@example.se", "nb", "no", "SE", "Europe/Stockholm", HD_LANG_EXACT},
        {"f4", "f4@example.no", "nn-NO", "no", "NO", "Europe/Oslo", HD_LANG_PARENT},
        {"f5", "f5@example.de", "de", "de", "DE", "Europe/Berlin", HD_LANG_EXACT},
        {"f6", "f6@example.de", "de", "de", "DE", "Europe/Berlin", HD_LANG_EXACT},
        {"f7", "F7@example.de", "de", "de", "DE", "Europe/Berlin", HD_LANG_EXACT},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct hd_person_rec p;
        uint16_t sh;
        if (!find_person(&v, want[i].id, &p, &sh))
            fail_msg("no person %s", want[i].id);
        assert_true(id_is(p.email, p.email_len, want[i].email));
        assert_string_equal(p.language, want[i].used);
        assert_true(id_is(p.language_asked, p.language_asked_len, want[i].asked));
        assert_string_equal(p.country, want[i].country);
        assert_true(id_is(p.time_zone, p.time_zone_len, want[i].tz));
        assert_int_equal(p.lang_source, want[i].source);
    }
    /* " f8" and "f8" are one id once trimmed: both rows are duplicate_id,
     * neither is told; "o1 " is the o1 of the objections file. */
    struct hd_exclusion_rec x;
    assert_true(get_exclusion(&v, 8, &x));
    assert_int_equal(x.reason, HD_R_DUPLICATE_ID);
    assert_true(id_is(x.id, x.id_len, "f8"));
    assert_true(get_exclusion(&v, 9, &x));
    assert_int_equal(x.reason, HD_R_DUPLICATE_ID);
    assert_true(id_is(x.id, x.id_len, "f8"));
    assert_true(get_exclusion(&v, 10, &x));
    assert_int_equal(x.reason, HD_R_ALREADY_OBJECTED);
    assert_true(id_is(x.id, x.id_len, "o1"));
    view_close(&v);

    json_t *sum = summary_in(state_dir(), c);
    json_t *rep = json_object_get(sum, "report");
    json_t *norm = json_object_get(rep, "normalised");
    assert_int_equal(json_object_size(norm), HD_N_COUNT);
    assert_int_equal(jint(norm, "trimmed"), 3); /* f1, " f8", "o1 " */
    assert_int_equal(jint(norm, "case_folded"), 2);
    assert_int_equal(jint(norm, "language_canonicalised"), 1);
    assert_int_equal(jint(norm, "macrolanguage_mapped"), 2);
    assert_int_equal(jint(norm, "unknown_language_fell_back"), 1);
    assert_int_equal(jint(norm, "time_zone_case_matched"), 1);
    assert_int_equal(jint(norm, "optional_field_fell_back"), 1);
    assert_int_equal(jint(norm, "delimiter_detected"), 1);
    assert_string_equal(jstr(rep, "delimiter"), ";");
    static const struct {
        const char *kind, *field;
        json_int_t count;
    } fields[] = {
        {"trimmed", "id", 3},
        {"trimmed", "email", 1},
        {"trimmed", "country", 1},
        {"trimmed", "birth_date", 1},
        {"case_folded", "email", 1},
        {"case_folded", "country", 1},
        {"language_canonicalised", "language", 1},
        {"macrolanguage_mapped", "language", 2},
        {"unknown_language_fell_back", "language", 1},
        {"time_zone_case_matched", "time_zone", 1},
        {"optional_field_fell_back", "time_zone", 1},
        {"delimiter_detected", "file", 1},
    };
    json_t *nf = json_object_get(rep, "normalised_fields");
    assert_int_equal(json_array_size(nf), sizeof fields / sizeof fields[0]);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *e = json_array_get(nf, i);
        assert_string_equal(jstr(e, "kind"), fields[i].kind);
        assert_string_equal(jstr(e, "field"), fields[i].field);
        assert_int_equal(jint(e, "count"), fields[i].count);
    }
    json_decref(sum);
    hd_campaign_free(c);
}

/* The reverse mapping (no -> nb when the campaign has nb and no no), and
 * audience.delimiter: a tab file read as the campaign says, nothing detected. */
static void test_plan_forgiving_reverse_macrolanguage_and_delimiter(void **state)
{
    (void)state;
    mkdir(hd_fx_path("locales"), 0755);
    write_locale("en", "Notice");
    write_locale("nb", "Varsel");
    hd_fx_write("objections.txt", "", 0);
    hd_fx_write("tab.csv",
               "id\temail\tcountry\tlanguage\tyears\n"
               "n1\tn1@example.no\tNO\tno\t40\n"
               "n2\tn2@example.se\tSE\tNO\t40\n",
               (size_t)-1);
    write_forgiving_campaign("tab.csv", "  delimiter: tab\n");
    struct hd_campaign *c = load_named("f.yaml");
    assert_int_equal(c->audience_delimiter, '\t');
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.eligible, 2);
    struct view v = view_open();
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "n1", &p, &sh));
    assert_string_equal(p.language, "nb");
    assert_int_equal(p.lang_source, HD_LANG_EXACT);
    assert_true(find_person(&v, "n2", &p, &sh));
    assert_string_equal(p.language, "nb");
    assert_int_equal(p.lang_source, HD_LANG_EXACT);
    view_close(&v);
    json_t *sum = summary_in(state_dir(), c);
    json_t *rep = json_object_get(sum, "report");
    assert_int_equal(jint(rep, "normalised.macrolanguage_mapped"), 2);
    assert_int_equal(jint(rep, "normalised.language_canonicalised"), 1);
    assert_int_equal(jint(rep, "normalised.delimiter_detected"), 0);
    assert_string_equal(jstr(rep, "delimiter"), "\t");
    json_decref(sum);
    hd_campaign_free(c);
}

/* audience.delimiter is validated. */
static void test_plan_delimiter_validated(void **state)
{
    static const struct {
        const char *extra, *want;
    } bad[] = {
        {"  delimiter: \"::\"\n",
         "audience.delimiter must be \",\", \";\", \"|\" or tab, not \"::\""},
        {"  delimiter: x\n", "audience.delimiter must be"},
        {"  format: jsonl\n  delimiter: \";\"\n", "audience.delimiter applies to CSV only"},
    };
    (void)state;
    mkdir(hd_fx_path("locales"), 0755);
    write_locale("en", "Notice");
    hd_fx_write("objections.txt", "", 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hd_diags d;
        bool found = false;
        write_forgiving_campaign("a.csv", bad[i].extra);
        hd_diags_init(&d);
        struct hd_campaign *c = hd_campaign_load(hd_fx_path("f.yaml"), NULL, &d);
        assert_null(c);
        for (size_t j = 0; j < d.count; j++)
            found = found || strstr(d.items[j], bad[i].want) != NULL;
        if (!found)
            for (size_t j = 0; j < d.count; j++)
                print_message("%s\n", d.items[j]);
        assert_true(found);
        hd_diags_release(&d);
    }
}

static void test_plan_long_name_cut_on_a_character_boundary(void **state)
{
    char row[1200], name[700];
    (void)state;
    write_locales();
    hd_fx_write("objections.txt", "", 0);
    memset(name, 'a', 511);
    memcpy(name + 511, "\xc3\xbc", 2); /* U+00FC across the 512-byte cut */
    memset(name + 513, 'b', 20);
    name[533] = '\0';
    snprintf(row, sizeof row, "n1,n1@example.de,,DE,de,1980-01-01,,%s", name);
    char row2[1200];
    memset(name, 'c', 510);
    memcpy(name + 510, "\xc3\xbc", 2); /* exactly 512 bytes, kept whole */
    name[512] = '\0';
    snprintf(row2, sizeof row2, "n2,n2@example.de,,DE,de,1980-01-01,,%s", name);
    const char *rows[] = {row, row2};
    write_csv("audience.csv", rows, 2, NULL);
    write_campaign("c.yaml", "audience.csv", "csv", "skip");
    struct hd_campaign *c = load();
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.eligible, 2);
    struct view v = view_open();
    struct hd_person_rec p;
    uint16_t sh;
    assert_true(find_person(&v, "n1", &p, &sh));
    assert_true(p.name_len <= 512);
    assert_true(hd_text_clean(p.name, p.name_len)); /* never half a character */
    assert_int_equal(p.name_len, 511);
    assert_true(find_person(&v, "n2", &p, &sh));
    assert_int_equal(p.name_len, 512);
    assert_true(hd_text_clean(p.name, p.name_len));
    view_close(&v);
    hd_campaign_free(c);
}

/* ---- CSV and JSONL --------------------------------------------------------------------------- */

/* id, email, push_token, country, language, birth_date, years, name; NULL = absent */
static const char *const table[][8] = {
    {"a1", "a1@example.de", "t1", "DE", "de", "1980-01-01", NULL, "A One"},
    {"a2", "a2@example.com", NULL, "US", "en", "1980-01-01", NULL, NULL},
    {"a3", "a3@example.de", NULL, "DE", "de", NULL, "12", NULL},
    {"o1", "o1@example.de", NULL, "DE", "de", NULL, "40", NULL},
    {"a4", NULL, NULL, "DE", "de", NULL, "40", NULL},
    {"a5", "no-at-sign", NULL, "DE", "de", NULL, "40", NULL},
    {"a6", "a6@example.de", NULL, "ZZ", NULL, NULL, "40", NULL},
    {"a1", "a1b@example.de", NULL, "DE", "de", NULL, "40", NULL},
    {"a7", "j\xc3\xbcrgen@example.de", "t7", "FR", "fr", NULL, "40", "J\xc3\xbcrgen"},
    {"a8", "a8@example.pt", NULL, "PT", "pt-BR", NULL, "40", NULL},
    {"a9", NULL, "t9", "PL", NULL, NULL, "40", NULL},
    {"a3", "a3b@example.de", NULL, "DE", "de", NULL, "40", NULL},
    {"a10", "a10@example.at", NULL, "AT", "de-AT", NULL, "40", NULL},
};
#define NTABLE (sizeof table / sizeof table[0])

static void write_table(const char *csv, const char *jsonl)
{
    static const char *const keys[8] = {"id",       "email",      "push_token", "country",
                                        "language", "birth_date", "years",      "name"};
    struct hd_buf b = HD_BUF_INIT;
    assert_int_equal(hd_buf_puts(&b, CSV_HEADER), 0);
    for (size_t i = 0; i < NTABLE; i++)
        for (int f = 0; f < 8; f++)
            assert_int_equal(
                hd_buf_printf(&b, "%s%s", table[i][f] ? table[i][f] : "", f == 7 ? "\n" : ","), 0);
    hd_fx_write(csv, b.data, b.len);
    hd_buf_reset(&b);
    for (size_t i = 0; i < NTABLE; i++) {
        json_t *o = json_object();
        for (int f = 0; f < 8; f++) {
            if (table[i][f] == NULL)
                continue;
            /* ages as JSON numbers, everything else as strings */
            json_object_set_new(
                o, keys[f], f == 6 ? json_integer(atoi(table[i][f])) : json_string(table[i][f]));
        }
        char *line = json_dumps(o, JSON_COMPACT);
        assert_int_equal(hd_buf_printf(&b, "%s\n", line), 0);
        free(line);
        json_decref(o);
    }
    hd_fx_write(jsonl, b.data, b.len);
    hd_buf_release(&b);
}

static void test_plan_jsonl_same_as_csv(void **state)
{
    (void)state;
    write_locales();
    hd_fx_write("objections.txt", "o1\n", (size_t)-1);
    write_table("t.csv", "t.jsonl");
    write_campaign("c.yaml", "t.csv", "csv", "skip");
    write_campaign("cj.yaml", "t.jsonl", "jsonl", "skip");
    struct hd_campaign *cc = load(), *cj = load_named("cj.yaml");
    assert_int_equal(cj->audience_format, HD_AUDIENCE_JSONL);
    struct hd_plan_result rc = run_ok_in(cc, hd_fx_path("state-csv"), false);
    forget_store(cc);
    struct hd_plan_result rj = run_ok_in(cj, hd_fx_path("state-jsonl"), false);
    assert_int_equal(rc.rows, NTABLE);
    assert_int_equal(rj.rows, rc.rows);
    assert_int_equal(rj.eligible, rc.eligible);
    assert_int_equal(rj.excluded, rc.excluded);
    assert_int_equal(rc.eligible, 4); /* a7 a8 a9 a10; both a1 rows are duplicates */

    json_t *sc = summary_in(hd_fx_path("state-csv"), cc),
           *sj = summary_in(hd_fx_path("state-jsonl"), cj);
    assert_true(json_equal(json_object_get(sc, "shards"), json_object_get(sj, "shards")));
    assert_true(json_equal(json_object_get(sc, "exclusions"), json_object_get(sj, "exclusions")));
    assert_true(json_equal(json_object_get(json_object_get(sc, "report"), "invalid_rows"),
                           json_object_get(json_object_get(sj, "report"), "invalid_rows")));
    assert_int_equal(jint(sc, "exclusions.duplicate_id"), 4);
    assert_int_equal(jint(sc, "exclusions.invalid_row"), 2);
    json_decref(sc);
    json_decref(sj);

    /* the same person records, but for the line (JSONL has no header) */
    struct view vc = view_open_in(hd_fx_path("state-csv")),
                vj = view_open_in(hd_fx_path("state-jsonl"));
    check_store(&vc, cc);
    check_store(&vj, cj);
    assert_int_equal(entries(&vc, vc.s->persons), entries(&vj, vj.s->persons));
    assert_int_equal(entries(&vc, vc.s->exclusions), entries(&vj, vj.s->exclusions));
    for (size_t i = 0; i < NTABLE; i++) {
        struct hd_person_rec pc, pj;
        uint16_t sc_, sj_;
        bool in_c = find_person(&vc, table[i][0], &pc, &sc_);
        assert_int_equal(find_person(&vj, table[i][0], &pj, &sj_), in_c);
        if (!in_c)
            continue;
        assert_int_equal(sc_, sj_);
        assert_true(pc.row == pj.row);
        assert_true(pc.line == pj.line + 1);
        assert_true(pj.line == pj.row);
        assert_string_equal(pc.language, pj.language);
        assert_int_equal(pc.lang_source, pj.lang_source);
        assert_int_equal(pc.age, pj.age);
        assert_memory_equal(pc.chskip, pj.chskip, 2);
        assert_true(pc.email_len == pj.email_len && pc.name_len == pj.name_len &&
                    pc.push_token_len == pj.push_token_len);
    }
    for (uint64_t row = 1; row <= NTABLE; row++) {
        struct hd_exclusion_rec xc, xj;
        bool in_c = get_exclusion(&vc, row, &xc);
        assert_int_equal(get_exclusion(&vj, row, &xj), in_c);
        if (!in_c)
            continue;
        assert_int_equal(xc.reason, xj.reason);
        assert_int_equal(xc.field, xj.field);
        assert_string_equal(xc.country, xj.country);
        assert_true(xc.line == xj.line + 1);
    }
    view_close(&vc);
    view_close(&vj);
    hd_campaign_free(cc);
    hd_campaign_free(cj);
}

static void test_plan_jsonl_malformed_lines(void **state)
{
    (void)state;
    write_locales();
    hd_fx_write("objections.txt", "", 0);
    hd_fx_write(
        "a.jsonl",
        "{\"id\":\"j1\",\"email\":\"j1@example.de\",\"country\":\"DE\",\"years\":30}\n"
        "[1,2]\n"
        "{\"id\":\"j2\",\"email\":\"j2@example.de\",\"country\":\"DE\",\"years\":[30]}\n"
        "{\"id\":\"j3\",\"email\":\"j3@example.de\",\"country\":\"DE\",\"name\":\"x\\u0007\","
        "\"years\":30}\n"
        "{\"id\":\"j4\",\"email\":\"j4@example.de\",\"country\":\"DE\",\"years\":30}\n",
        (size_t)-1);
    write_campaign("c.yaml", "a.jsonl", "jsonl", "skip");
    struct hd_campaign *c = load();
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.rows, 5);
    assert_int_equal(res.eligible, 2);
    struct view v = view_open();
    check_store(&v, c);
    struct hd_exclusion_rec x;
    assert_true(get_exclusion(&v, 2, &x));
    assert_int_equal(x.reason, HD_R_INVALID_ROW);
    assert_int_equal(x.field, HD_F_COUNT);
    assert_true(id_is(x.why, x.why_len, "not a JSON object"));
    assert_int_equal(x.line, 2);
    assert_true(get_exclusion(&v, 3, &x));
    assert_int_equal(x.field, HD_F_COUNT);
    assert_true(contains(x.why, x.why_len, "years"));
    assert_true(get_exclusion(&v, 4, &x));
    assert_int_equal(x.field, HD_F_NAME);
    assert_true(id_is(x.why, x.why_len, "control character"));
    assert_true(id_is(x.id, x.id_len, "j3"));
    view_close(&v);
    hd_campaign_free(c);
}

/* ---- a larger audience --------------------------------------------------------------------- */

#define BIG 50000
#define BIG_HALF 25000

/* Row i (0-based): its id index (the id of an earlier row for ~1%). */
static int big_id(int i)
{
    if (i >= BIG_HALF && i % 100 == 0)
        return i - BIG_HALF + 37; /* a duplicate ~25,000 rows after the first */
    return i;
}

static void test_plan_dedup_at_size(void **state)
{
    static const char *const countries[] = {"DE", "FR", "PL", "AT", "US", "PT", "BE"};
    uint64_t want_reason[HD_R_COUNT] = {0}, want_eligible = 0;
    static uint8_t outcome[BIG]; /* HD_R_COUNT = eligible */
    static bool shared[BIG];     /* the row's id is on a later row too */
    (void)state;
    for (int i = 0; i < BIG; i++)
        if (big_id(i) != i)
            shared[big_id(i)] = true;
    write_locales();
    hd_fx_write("objections.txt", "u77\nu12345\n", (size_t)-1);

    struct hd_buf b = HD_BUF_INIT;
    assert_int_equal(hd_buf_puts(&b, CSV_HEADER), 0);
    for (int i = 0; i < BIG; i++) {
        int id = big_id(i);
        const char *country = countries[i % 7];
        bool minor = i % 13 == 0, email = i % 11 != 0, push = i % 3 == 0;
        assert_int_equal(hd_buf_printf(&b, "u%d,", id), 0);
        if (email)
            assert_int_equal(hd_buf_printf(&b, "u%d@example.org", id), 0);
        assert_int_equal(hd_buf_printf(&b, ",%s,%s,,%s,,\n", push ? "tok" : "", country,
                                       minor ? "2012-05-05" : "1970-03-04"),
                         0);
        uint8_t r = HD_R_COUNT;
        if (id != i || shared[i])
            r = HD_R_DUPLICATE_ID; /* every row of a shared id */
        else if (strcmp(country, "US") == 0)
            r = HD_R_OUT_OF_REGION;
        else if (minor)
            r = HD_R_MINOR;
        else if (id == 77 || id == 12345)
            r = HD_R_ALREADY_OBJECTED;
        else if (!email && !push)
            r = HD_R_NO_CHANNEL;
        outcome[i] = r;
        if (r == HD_R_COUNT)
            want_eligible++;
        else
            want_reason[r]++;
    }
    hd_fx_write("big.csv", b.data, b.len);
    hd_buf_release(&b);
    write_campaign("c.yaml", "big.csv", "csv", "skip");
    struct hd_campaign *c = load();
    struct hd_plan_result res = run_ok(c, false);
    assert_int_equal(res.rows, BIG);
    assert_int_equal(res.eligible, want_eligible);
    assert_int_equal(want_reason[HD_R_DUPLICATE_ID], 500);

    struct view v = view_open();
    struct totals t = check_store(&v, c);
    assert_int_equal(t.eligible, want_eligible);
    assert_int_equal(t.ids, BIG);
    for (int r = 0; r < HD_R_COUNT; r++)
        assert_int_equal(excluded_by(&v, (enum hd_reason)r), want_reason[r]);
    /* every row where the scan says it should be */
    MDB_cursor *cur;
    MDB_val k, val;
    uint64_t seen = 0;
    assert_int_equal(mdb_cursor_open(v.txn, v.s->persons, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        uint64_t row = hd_get_u64((const uint8_t *)k.mv_data + 2);
        assert_int_equal(outcome[row - 1], HD_R_COUNT);
        seen++;
    }
    mdb_cursor_close(cur);
    assert_int_equal(mdb_cursor_open(v.txn, v.s->exclusions, &cur), 0);
    while (mdb_cursor_get(cur, &k, &val, MDB_NEXT) == 0) {
        struct hd_exclusion_rec x;
        uint64_t row = hd_get_u64(k.mv_data);
        assert_int_equal(hd_exclusion_rec_decode(val.mv_data, val.mv_size, &x), 0);
        assert_int_equal(x.reason, outcome[row - 1]);
        char id[16];
        snprintf(id, sizeof id, "u%d", big_id((int)row - 1));
        assert_true(id_is(x.id, x.id_len, id));
        seen++;
    }
    mdb_cursor_close(cur);
    assert_int_equal(seen, BIG);
    view_close(&v);
    hd_campaign_free(c);
}

int main(void)
{
    /* Proofs are on by default (issue 12): the plan records exclusions under
     * this pseudonym key. */
    setenv("HERALD_PSEUDONYM_KEY", "unit-pseudonym-key-0123456789abcdef", 1);
#define T(name) cmocka_unit_test_setup_teardown(name, hd_fx_setup, hd_fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_plan_every_outcome),
        T(test_plan_summary_json),
        T(test_plan_language_choice),
        T(test_plan_channel_skips),
        T(test_plan_variant_action),
        T(test_plan_rerun_is_unchanged_and_byte_identical),
        T(test_plan_changed_audience_refused_then_replanned),
        T(test_plan_changed_objections_refused_then_replanned),
        T(test_plan_changed_locale_refused_then_replanned),
        T(test_plan_replan_refused_after_dispatch),
        T(test_plan_pending_or_skip_counters_allow_replan),
        T(test_plan_interrupted_plan_is_rebuilt),
        T(test_plan_other_campaign_store_refused),
        T(test_plan_missing_inputs),
        T(test_plan_exclusion_precedence),
        T(test_plan_no_waves_means_wave_zero),
        T(test_plan_forgiving_input),
        T(test_plan_forgiving_reverse_macrolanguage_and_delimiter),
        T(test_plan_delimiter_validated),
        T(test_plan_long_name_cut_on_a_character_boundary),
        T(test_plan_jsonl_same_as_csv),
        T(test_plan_jsonl_malformed_lines),
        T(test_plan_dedup_at_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
