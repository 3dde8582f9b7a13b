/* Unit tests for the LMDB state store (core/ledger/store.c): opening, the record
 * codecs, keys, counters, meta and the person hash. docs/state-store.md is
 * the reference these tests hold the code to. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hd_test.h"
#include "herald/campaign.h"
#include "herald/store.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = strdup(hd_test_tmpdir());
    return dir == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    hd_test_rmtree(dir);
    free(dir);
    return 0;
}

/* dir/name in a static buffer. */
static const char *path_in(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static struct hd_store *open_store(const char *name, unsigned flags)
{
    struct hd_store *s = NULL;
    struct hd_err err = {0};
    int rc = hd_store_open(&s, path_in(name), flags, &err);
    if (rc != 0)
        print_message("open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

static MDB_txn *begin(struct hd_store *s, bool write)
{
    MDB_txn *txn = NULL;
    struct hd_err err = {0};
    assert_int_equal(hd_store_begin(s, write, &txn, &err), 0);
    return txn;
}

static void commit(MDB_txn *txn)
{
    struct hd_err err = {0};
    assert_int_equal(hd_store_commit(txn, &err), 0);
}

static size_t db_entries(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    return st.ms_entries;
}

static void put_raw(MDB_txn *txn, MDB_dbi dbi, const char *key, const char *val)
{
    MDB_val k = {strlen(key), (void *)key}, v = {strlen(val), (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

/* ---- opening ---------------------------------------------------------------- */

static void test_store_create_makes_private_dir(void **state)
{
    struct stat st;
    (void)state;
    struct hd_store *s = open_store("a/b/store", HD_STORE_CREATE);
    assert_string_equal(s->dir, path_in("a/b/store"));
    hd_store_close(s);

    assert_int_equal(stat(path_in("a/b/store"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    /* parents are ordinary directories; only the store itself is private */
    assert_int_equal(stat(path_in("a"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(stat(path_in("a/b/store/data.mdb"), &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);

    /* creating again over an existing store is fine */
    s = open_store("a/b/store", HD_STORE_CREATE);
    hd_store_close(s);
}

static void test_store_reopen_read_only(void **state)
{
    struct hd_err err = {0};
    struct hd_buf b = HD_BUF_INIT;
    bool found = false;
    MDB_txn *txn = NULL;
    (void)state;

    struct hd_store *s = open_store("st", HD_STORE_CREATE);
    txn = begin(s, true);
    assert_int_equal(
        hd_store_meta_put(txn, s, "format", HD_STORE_FORMAT, strlen(HD_STORE_FORMAT), &err), 0);
    commit(txn);
    hd_store_close(s);

    s = open_store("st", HD_STORE_RDONLY);
    txn = begin(s, false);
    assert_int_equal(hd_store_meta_get(txn, s, "format", &b, &found, &err), 0);
    assert_true(found);
    assert_int_equal(b.len, strlen(HD_STORE_FORMAT));
    assert_memory_equal(b.data, HD_STORE_FORMAT, b.len);
    /* every database is there */
    assert_int_equal(db_entries(txn, s->persons), 0);
    assert_int_equal(db_entries(txn, s->counters), 0);
    mdb_txn_abort(txn);
    /* a read-only store refuses a write transaction */
    txn = NULL;
    assert_int_equal(hd_store_begin(s, true, &txn, &err), -1);
    assert_int_equal(err.code, HD_EX_IOERR);
    hd_store_close(s);
    hd_buf_release(&b);
}

static void test_store_open_missing_dir_is_noinput(void **state)
{
    struct hd_store *s = (struct hd_store *)1;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_store_open(&s, path_in("nope"), 0, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_non_null(strstr(err.msg, "herald plan"));

    err.code = 0;
    s = (struct hd_store *)1;
    assert_int_equal(hd_store_open(&s, path_in("nope"), HD_STORE_RDONLY, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, HD_EX_NOINPUT);

    /* a plain file is not a store directory either */
    free(hd_test_write(dir, "file", "x", 1));
    err.code = 0;
    assert_int_equal(hd_store_open(&s, path_in("file"), 0, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
}

static void test_store_open_non_store_dir_is_noinput(void **state)
{
    struct hd_store *s = NULL;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(mkdir(path_in("empty"), 0700), 0);
    /* an existing directory without herald's databases */
    assert_int_equal(hd_store_open(&s, path_in("empty"), 0, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_non_null(strstr(err.msg, "not a herald state store"));

    /* read-only (status, report) on such a directory: the same answer */
    err.code = 0;
    assert_int_equal(mkdir(path_in("empty2"), 0700), 0);
    assert_int_equal(hd_store_open(&s, path_in("empty2"), HD_STORE_RDONLY, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
}

static void test_store_close_null_is_noop(void **state)
{
    (void)state;
    hd_store_close(NULL);
}

/* ---- records -------------------------------------------------------------- */

static struct hd_person_rec sample_person(void)
{
    struct hd_person_rec p;
    memset(&p, 0, sizeof p);
    p.row = 0x0102030405060708ULL;
    p.line = 123456789012ULL;
    p.id = "p-000123";
    p.id_len = 8;
    p.email = "j\xc3\xbcrgen@example.de";
    p.email_len = (uint16_t)strlen(p.email);
    p.push_token = "tok-abc";
    p.push_token_len = 7;
    p.language_asked = "pt-BR";
    p.language_asked_len = 5;
    p.time_zone = "Europe/Lisbon";
    p.time_zone_len = 13;
    p.name = "Jo\xc3\xa3o";
    p.name_len = (uint16_t)strlen(p.name);
    memcpy(p.country, "PT", 3);
    memcpy(p.language, "pt", 3);
    p.lang_source = HD_LANG_PARENT;
    p.variant = 1;
    p.age = 42;
    p.nchannels = 3;
    p.chskip[0] = HD_CHSKIP_UNSUPPORTED;
    p.chskip[1] = HD_CHSKIP_NONE;
    p.chskip[2] = HD_CHSKIP_NO_ADDRESS;
    return p;
}

static void assert_str_field(const char *got, uint16_t got_len, const char *want, uint16_t want_len)
{
    assert_int_equal(got_len, want_len);
    if (want_len == 0) {
        assert_null(got);
        return;
    }
    assert_memory_equal(got, want, want_len);
}

static void test_store_person_record_roundtrip(void **state)
{
    struct hd_person_rec p = sample_person(), q;
    struct hd_buf b = HD_BUF_INIT;
    (void)state;
    assert_int_equal(hd_person_rec_encode(&p, &b), 0);
    /* version byte, then row little-endian */
    assert_int_equal((uint8_t)b.data[0], 1);
    assert_int_equal((uint8_t)b.data[1], 0x08);
    assert_int_equal((uint8_t)b.data[8], 0x01);
    assert_int_equal(b.len, 24 + 3 + 7 * 2 + 2 + 8 + p.email_len + 7 + 5 + 13 + p.name_len);
    assert_int_equal(hd_person_rec_decode(b.data, b.len, &q), 0);
    assert_int_equal(q.row, p.row);
    assert_int_equal(q.line, p.line);
    assert_string_equal(q.country, "PT");
    assert_string_equal(q.language, "pt");
    assert_int_equal(q.lang_source, HD_LANG_PARENT);
    assert_int_equal(q.variant, 1);
    assert_int_equal(q.age, 42);
    assert_int_equal(q.nchannels, 3);
    assert_memory_equal(q.chskip, p.chskip, 3);
    assert_str_field(q.id, q.id_len, p.id, p.id_len);
    assert_str_field(q.email, q.email_len, p.email, p.email_len);
    assert_str_field(q.push_token, q.push_token_len, p.push_token, p.push_token_len);
    assert_str_field(q.language_asked, q.language_asked_len, p.language_asked,
                     p.language_asked_len);
    assert_str_field(q.time_zone, q.time_zone_len, p.time_zone, p.time_zone_len);
    assert_str_field(q.name, q.name_len, p.name, p.name_len);
    /* strings point into the encoded bytes */
    assert_true(q.id > b.data && q.id < b.data + b.len);
    hd_buf_release(&b);
}

static void test_store_person_record_empty_fields_and_unknown_age(void **state)
{
    struct hd_person_rec p, q;
    struct hd_buf b = HD_BUF_INIT;
    (void)state;
    memset(&p, 0, sizeof p);
    p.row = 1;
    p.line = 2;
    p.id = "x";
    p.id_len = 1;
    memcpy(p.country, "DE", 3);
    memcpy(p.language, "de", 3);
    p.lang_source = HD_LANG_COUNTRY;
    p.age = -1;
    p.nchannels = 8;
    for (int i = 0; i < 8; i++)
        p.chskip[i] = (uint8_t)(i % 3);
    assert_int_equal(hd_person_rec_encode(&p, &b), 0);
    assert_int_equal(hd_person_rec_decode(b.data, b.len, &q), 0);
    assert_int_equal(q.age, -1);
    assert_int_equal(q.nchannels, 8);
    assert_memory_equal(q.chskip, p.chskip, 8);
    assert_str_field(q.id, q.id_len, "x", 1);
    assert_null(q.email);
    assert_int_equal(q.email_len, 0);
    assert_null(q.push_token);
    assert_null(q.name);
    assert_null(q.language_asked);
    assert_string_equal(q.language, "de");
    hd_buf_release(&b);
}

static void test_store_person_record_refuses_damage(void **state)
{
    struct hd_person_rec p = sample_person(), q;
    struct hd_buf b = HD_BUF_INIT;
    (void)state;
    assert_int_equal(hd_person_rec_encode(&p, &b), 0);
    /* every truncation, including the empty record */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(hd_person_rec_decode(b.data, n, &q), -1);
    /* an unknown version */
    b.data[0] = 2;
    assert_int_equal(hd_person_rec_decode(b.data, b.len, &q), -1);
    b.data[0] = 0;
    assert_int_equal(hd_person_rec_decode(b.data, b.len, &q), -1);
    b.data[0] = 1;
    assert_int_equal(hd_person_rec_decode(b.data, b.len, &q), 0);
    /* more channels than a person can have */
    b.data[1 + 8 + 8 + 2 + 1 + 1 + 2] = 9;
    assert_int_equal(hd_person_rec_decode(b.data, b.len, &q), -1);
    hd_buf_release(&b);

    /* a language string longer than the record's language field */
    struct hd_buf c = HD_BUF_INIT;
    p.nchannels = 0;
    assert_int_equal(hd_person_rec_encode(&p, &c), 0);
    size_t at = 1 + 8 + 8 + 2 + 1 + 1 + 2 + 1; /* the language's u16 length */
    assert_int_equal((uint8_t)c.data[at], 2);
    c.data[at] = 16;
    assert_int_equal(hd_person_rec_decode(c.data, c.len, &q), -1);
    hd_buf_release(&c);
}

static void test_store_exclusion_record_roundtrip(void **state)
{
    struct hd_exclusion_rec x, y;
    struct hd_buf b = HD_BUF_INIT;
    (void)state;
    memset(&x, 0, sizeof x);
    x.row = 77;
    x.line = 0x1122334455667788ULL;
    x.reason = HD_R_INVALID_ROW;
    x.field = 5; /* birth_date */
    memcpy(x.country, "DE", 3);
    x.id = "abc";
    x.id_len = 3;
    x.why = "bad date";
    x.why_len = 8;
    assert_int_equal(hd_exclusion_rec_encode(&x, &b), 0);
    assert_int_equal(b.len, 1 + 8 + 8 + 1 + 1 + 2 + 2 + 3 + 2 + 8);
    assert_int_equal((uint8_t)b.data[0], 1);
    assert_int_equal(hd_exclusion_rec_decode(b.data, b.len, &y), 0);
    assert_int_equal(y.row, 77);
    assert_int_equal(y.line, x.line);
    assert_int_equal(y.reason, HD_R_INVALID_ROW);
    assert_int_equal(y.field, 5);
    assert_string_equal(y.country, "DE");
    assert_str_field(y.id, y.id_len, "abc", 3);
    assert_str_field(y.why, y.why_len, "bad date", 8);

    /* every truncation and bad versions are refused */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(hd_exclusion_rec_decode(b.data, n, &y), -1);
    b.data[0] = 2;
    assert_int_equal(hd_exclusion_rec_decode(b.data, b.len, &y), -1);
    b.data[0] = 1;
    /* a reason past the known ones is not a record */
    b.data[17] = HD_R_COUNT;
    assert_int_equal(hd_exclusion_rec_decode(b.data, b.len, &y), -1);
    hd_buf_release(&b);

    /* unknown country and no id or reason text */
    memset(&x, 0, sizeof x);
    x.row = 1;
    x.reason = HD_R_INVALID_ROW;
    x.field = HD_F_COUNT;
    assert_int_equal(hd_exclusion_rec_encode(&x, &b), 0);
    assert_int_equal(b.len, 1 + 8 + 8 + 1 + 1 + 2 + 2 + 2);
    assert_int_equal(hd_exclusion_rec_decode(b.data, b.len, &y), 0);
    assert_string_equal(y.country, "");
    assert_null(y.id);
    assert_int_equal(y.id_len, 0);
    assert_null(y.why);
    assert_int_equal(y.field, HD_F_COUNT);
    hd_buf_release(&b);
}

static void test_store_delivery_record_roundtrip(void **state)
{
    struct hd_delivery_rec d, e;
    struct hd_buf b = HD_BUF_INIT;
    (void)state;
    memset(&d, 0, sizeof d);
    d.state = HD_DS_RETRY;
    d.attempts = 3;
    d.flags = HD_DF_UNCERTAIN | HD_DF_VARIANT;
    d.code = 451;
    d.next_attempt_ms = 1750924800123LL;
    d.first_attempt_ms = -5; /* signed fields keep their sign */
    d.last_change_ms = INT64_MAX;
    for (int i = 0; i < 32; i++)
        d.sha256[i] = (uint8_t)(0xA0 + i);
    d.event = "deferred";
    d.event_len = 8;
    d.provider_id = "<id@mx>";
    d.provider_id_len = 7;
    d.response = "451 4.7.1 try later";
    d.response_len = (uint16_t)strlen(d.response);
    assert_int_equal(hd_delivery_rec_encode(&d, &b), 0);
    /* fixed part: version, state, attempts, flags LE, code LE, reserved,
     * three i64 LE times, sha256; then three u16-prefixed strings */
    const uint8_t *u = (const uint8_t *)b.data;
    assert_int_equal(b.len, 70 + 8 + 7 + d.response_len);
    assert_int_equal(u[0], 1);
    assert_int_equal(u[1], HD_DS_RETRY);
    assert_int_equal(u[2], 3);
    assert_int_equal(u[3] | u[4] << 8, HD_DF_UNCERTAIN | HD_DF_VARIANT);
    assert_int_equal(u[5] | u[6] << 8, 451);
    assert_int_equal(u[7], 0);
    assert_int_equal(u[8], 0x7B); /* 1750924800123 = 0x197_AB40_307B */
    assert_int_equal(u[9], 0x30);
    assert_int_equal(u[16], 0xFB); /* -5 */
    assert_int_equal(u[23], 0xFF);
    assert_int_equal(u[32], 0xA0); /* sha256 at offset 32 */
    assert_int_equal(u[64] | u[65] << 8, 8);
    assert_int_equal(hd_delivery_rec_decode(b.data, b.len, &e), 0);
    assert_int_equal(e.state, HD_DS_RETRY);
    assert_int_equal(e.attempts, 3);
    assert_int_equal(e.flags, HD_DF_UNCERTAIN | HD_DF_VARIANT);
    assert_int_equal(e.code, 451);
    assert_true(e.next_attempt_ms == d.next_attempt_ms);
    assert_true(e.first_attempt_ms == -5);
    assert_true(e.last_change_ms == INT64_MAX);
    assert_memory_equal(e.sha256, d.sha256, 32);
    assert_str_field(e.event, e.event_len, d.event, d.event_len);
    assert_str_field(e.provider_id, e.provider_id_len, d.provider_id, d.provider_id_len);
    assert_str_field(e.response, e.response_len, d.response, d.response_len);

    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(hd_delivery_rec_decode(b.data, n, &e), -1);
    b.data[0] = 2;
    assert_int_equal(hd_delivery_rec_decode(b.data, b.len, &e), -1);
    b.data[0] = 1;
    b.data[1] = HD_DS_COUNT;
    assert_int_equal(hd_delivery_rec_decode(b.data, b.len, &e), -1);

    /* an untouched (pending) delivery is two bytes: the planner writes
     * millions of them */
    memset(&d, 0, sizeof d);
    hd_buf_reset(&b);
    assert_int_equal(hd_delivery_rec_encode(&d, &b), 0);
    assert_int_equal(b.len, 2);
    assert_int_equal(hd_delivery_rec_decode(b.data, b.len, &e), 0);
    assert_int_equal(e.state, HD_DS_PENDING);
    assert_null(e.event);
    assert_null(e.response);
    assert_int_equal(hd_delivery_rec_decode(b.data, 1, &e), -1);
    b.data[1] = HD_DS_COUNT;
    assert_int_equal(hd_delivery_rec_decode(b.data, 2, &e), -1);
    /* any attempt makes it a full record */
    d.attempts = 1;
    hd_buf_reset(&b);
    assert_int_equal(hd_delivery_rec_encode(&d, &b), 0);
    assert_int_equal(b.len, 70);
    d.attempts = 0;

    /* a service's reply is cut at HD_RESPONSE_MAX */
    char big[HD_RESPONSE_MAX + 100];
    memset(big, 'x', sizeof big);
    d.response = big;
    d.response_len = (uint16_t)sizeof big;
    hd_buf_reset(&b);
    assert_int_equal(hd_delivery_rec_encode(&d, &b), 0);
    assert_int_equal(hd_delivery_rec_decode(b.data, b.len, &e), 0);
    assert_int_equal(e.response_len, HD_RESPONSE_MAX);
    hd_buf_release(&b);
}

/* ---- keys ------------------------------------------------------------------- */

static void test_store_keys_are_big_endian(void **state)
{
    uint8_t k[11], a[10], b[10];
    (void)state;
    hd_key_person(k, 0x0102, 0x030405060708090AULL);
    static const uint8_t want_p[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_memory_equal(k, want_p, 10);
    hd_key_delivery(k, 0x0102, 0x030405060708090AULL, 7);
    assert_memory_equal(k, want_p, 10);
    assert_int_equal(k[10], 7);
    hd_key_u64(k, 0x1122334455667788ULL);
    static const uint8_t want_u[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_memory_equal(k, want_u, 8);
    assert_true(hd_get_u64(k) == 0x1122334455667788ULL);
    assert_int_equal(hd_get_u16(k), 0x1122);

    struct hd_counter_key ck = hd_counter_key(0xABCD, HD_CK_PERSONS, HD_CK_VARIANT);
    static const uint8_t want_c[4] = {0xAB, 0xCD, 0xFE, 0x01};
    assert_memory_equal(ck.b, want_c, 4);

    /* byte order is numeric order: shard first, then row */
    srand(12345);
    for (int i = 0; i < 20000; i++) {
        uint16_t s1 = (uint16_t)(rand() & (i & 1 ? 0xFFFF : 3));
        uint16_t s2 = (uint16_t)(rand() & (i & 1 ? 0xFFFF : 3));
        uint64_t r1 = (uint64_t)rand() << (rand() % 40), r2 = (uint64_t)rand() << (rand() % 40);
        hd_key_person(a, s1, r1);
        hd_key_person(b, s2, r2);
        int want = s1 != s2 ? (s1 < s2 ? -1 : 1) : r1 != r2 ? (r1 < r2 ? -1 : 1) : 0;
        int got = memcmp(a, b, 10);
        got = got < 0 ? -1 : got > 0;
        assert_int_equal(got, want);
        uint8_t u1[8], u2[8];
        hd_key_u64(u1, r1);
        hd_key_u64(u2, r2);
        got = memcmp(u1, u2, 8);
        got = got < 0 ? -1 : got > 0;
        assert_int_equal(got, r1 != r2 ? (r1 < r2 ? -1 : 1) : 0);
        assert_true(hd_get_u64(u1) == r1);
    }
}

static void test_store_due_key_orders_by_time(void **state)
{
    uint8_t dk[11], a[19], b[19];
    (void)state;
    hd_key_delivery(dk, 0x0102, 0x0304, 5);
    hd_key_due(a, 0x1122334455667788LL, dk);
    static const uint8_t want[19] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x01, 0x02,
                                     0,    0,    0,    0,    0,    0,    0x03, 0x04, 5};
    assert_memory_equal(a, want, 19);
    /* earlier due time sorts first, whatever the delivery */
    hd_key_delivery(dk, 0, 1, 0);
    hd_key_due(a, 1750924800000LL, dk);
    hd_key_delivery(dk, 0xFFFF, 0xFFFFFFFF, 7);
    hd_key_due(b, 1750924800001LL, dk);
    assert_true(memcmp(a, b, 19) < 0);
}

static void test_store_audit_appends_in_sequence(void **state)
{
    struct hd_err err = {0};
    (void)state;
    struct hd_store *s = open_store("st", HD_STORE_CREATE);
    MDB_txn *txn = begin(s, true);
    assert_int_equal(hd_store_audit(txn, s, "{\"n\":1}", &err), 0);
    assert_int_equal(hd_store_audit(txn, s, "{\"n\":2}", &err), 0);
    commit(txn);
    txn = begin(s, true);
    assert_int_equal(hd_store_audit(txn, s, "{\"n\":3}", &err), 0);
    commit(txn);

    txn = begin(s, false);
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t seq = 0;
    assert_int_equal(mdb_cursor_open(txn, s->audit, &cur), 0);
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        char want[16];
        seq++;
        assert_int_equal(k.mv_size, 8);
        assert_true(hd_get_u64(k.mv_data) == seq); /* u64 big-endian from 1 */
        snprintf(want, sizeof want, "{\"n\":%d}", (int)seq);
        assert_int_equal(v.mv_size, strlen(want));
        assert_memory_equal(v.mv_data, want, v.mv_size);
    }
    mdb_cursor_close(cur);
    assert_int_equal(seq, 3);
    mdb_txn_abort(txn);
    hd_store_close(s);
}

/* ---- counters and meta -------------------------------------------------------- */

static void test_store_counters_add_and_get(void **state)
{
    struct hd_err err = {0};
    (void)state;
    struct hd_store *s = open_store("st", HD_STORE_CREATE);
    struct hd_counter_key k1 = hd_counter_key(3, 1, HD_DS_SENT);
    struct hd_counter_key k2 = hd_counter_key(HD_SHARD_NONE, HD_CK_EXCLUDED, HD_R_MINOR);
    MDB_txn *txn = begin(s, true);
    assert_int_equal(hd_store_counter_get(txn, s, k1), 0);
    assert_int_equal(hd_store_counter_add(txn, s, k1, 5, &err), 0);
    assert_int_equal(hd_store_counter_add(txn, s, k1, 10, &err), 0);
    assert_int_equal(hd_store_counter_add(txn, s, k1, -3, &err), 0);
    assert_int_equal(hd_store_counter_add(txn, s, k2, 1000000000000LL, &err), 0);
    assert_int_equal(hd_store_counter_get(txn, s, k1), 12);
    commit(txn);

    txn = begin(s, true);
    assert_int_equal(hd_store_counter_add(txn, s, k1, -12, &err), 0);
    assert_int_equal(hd_store_counter_add(txn, s, k2, -1, &err), 0);
    commit(txn);

    txn = begin(s, false);
    assert_int_equal(hd_store_counter_get(txn, s, k1), 0);
    assert_true(hd_store_counter_get(txn, s, k2) == 999999999999ULL);
    assert_int_equal(hd_store_counter_get(txn, s, hd_counter_key(3, 1, HD_DS_PENDING)), 0);
    /* the value is a native-order u64 under the 4-byte key */
    MDB_val k = {4, k2.b}, v;
    assert_int_equal(mdb_get(txn, s->counters, &k, &v), 0);
    assert_int_equal(v.mv_size, 8);
    uint64_t n;
    memcpy(&n, v.mv_data, 8);
    assert_true(n == 999999999999ULL);
    mdb_txn_abort(txn);
    hd_store_close(s);
}

/* The deferred counter: a key outside every state and skip value, and an
 * add that stops at 0 (a store made before the counter lacks it). */
static void test_store_counter_add_floor_stops_at_zero(void **state)
{
    struct hd_err err = {0};
    (void)state;
    assert_true(HD_CK_DEFERRED >= HD_DS_COUNT);
    assert_true(HD_CK_DEFERRED > HD_CK_SKIP_BASE + HD_CHSKIP_UNSUPPORTED);
    struct hd_store *s = open_store("st", HD_STORE_CREATE);
    struct hd_counter_key k = hd_counter_key(2, 1, HD_CK_DEFERRED);
    struct hd_counter_key pending = hd_counter_key(2, 1, HD_DS_PENDING);
    MDB_txn *txn = begin(s, true);
    /* a missing counter reads 0, and taking from it leaves 0 */
    assert_int_equal(hd_store_counter_get(txn, s, k), 0);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, -3, &err), 0);
    assert_int_equal(hd_store_counter_get(txn, s, k), 0);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, 5, &err), 0);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, -2, &err), 0);
    assert_int_equal(hd_store_counter_get(txn, s, k), 3);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, -4, &err), 0);
    assert_int_equal(hd_store_counter_get(txn, s, k), 0);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, 7, &err), 0);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, INT64_MIN, &err), 0);
    assert_int_equal(hd_store_counter_get(txn, s, k), 0);
    assert_int_equal(hd_store_counter_add_floor(txn, s, k, 4, &err), 0);
    commit(txn);

    txn = begin(s, false);
    assert_int_equal(hd_store_counter_get(txn, s, k), 4);
    /* its own key: the pending state counter is untouched */
    assert_int_equal(hd_store_counter_get(txn, s, pending), 0);
    MDB_val kv = {4, k.b}, v;
    assert_int_equal(mdb_get(txn, s->counters, &kv, &v), 0);
    assert_int_equal(((const uint8_t *)kv.mv_data)[3], 0x20);
    assert_int_equal(v.mv_size, 8);
    mdb_txn_abort(txn);
    hd_store_close(s);
}

static void test_store_meta_get_and_put(void **state)
{
    struct hd_err err = {0};
    struct hd_buf b = HD_BUF_INIT;
    bool found = true;
    (void)state;
    struct hd_store *s = open_store("st", HD_STORE_CREATE);
    MDB_txn *txn = begin(s, true);
    assert_int_equal(hd_store_meta_get(txn, s, "plan_state", &b, &found, &err), 0);
    assert_false(found);
    assert_int_equal(hd_store_meta_put(txn, s, "plan_state", "building", 8, &err), 0);
    assert_int_equal(hd_store_meta_put(txn, s, "bin", "a\0b", 3, &err), 0);
    assert_int_equal(hd_store_meta_put(txn, s, "empty", "", 0, &err), 0);
    commit(txn);

    txn = begin(s, true);
    assert_int_equal(hd_store_meta_put(txn, s, "plan_state", "complete", 8, &err), 0);
    commit(txn);

    txn = begin(s, false);
    assert_int_equal(hd_store_meta_get(txn, s, "plan_state", &b, &found, &err), 0);
    assert_true(found);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "complete"); /* copied and NUL-terminated */
    assert_int_equal(hd_store_meta_get(txn, s, "bin", &b, &found, &err), 0);
    assert_true(found);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 3);
    assert_int_equal(hd_store_meta_get(txn, s, "empty", &b, &found, &err), 0);
    assert_true(found);
    assert_int_equal(b.len, 0);
    mdb_txn_abort(txn);
    assert_int_equal(err.code, 0);
    hd_store_close(s);
    hd_buf_release(&b);
}

/* ---- clearing a plan -------------------------------------------------------------- */

static void test_store_clear_plan_empties_plan_databases(void **state)
{
    struct hd_err err = {0};
    (void)state;
    struct hd_store *s = open_store("st", HD_STORE_CREATE | HD_STORE_BULK);
    MDB_txn *txn = begin(s, true);
    const MDB_dbi plan_dbs[] = {s->shards, s->persons,  s->deliveries, s->exclusions,
                                s->ids,    s->counters, s->snapshot,   s->due};
    for (size_t i = 0; i < sizeof plan_dbs / sizeof plan_dbs[0]; i++) {
        put_raw(txn, plan_dbs[i], "k1", "v1");
        put_raw(txn, plan_dbs[i], "k2", "v2");
    }
    assert_int_equal(hd_store_meta_put(txn, s, "campaign_id", "c1", 2, &err), 0);
    assert_int_equal(hd_store_audit(txn, s, "{\"action\":\"replan\"}", &err), 0);
    commit(txn);

    txn = begin(s, true);
    assert_int_equal(hd_store_clear_plan(txn, s, &err), 0);
    commit(txn);
    assert_int_equal(hd_store_sync(s, &err), 0);

    txn = begin(s, false);
    for (size_t i = 0; i < sizeof plan_dbs / sizeof plan_dbs[0]; i++)
        assert_int_equal(db_entries(txn, plan_dbs[i]), 0);
    /* meta survives (plan_state and the fingerprints live there), and so
     * does the audit log: it records what happened, whatever the plan */
    assert_int_equal(db_entries(txn, s->meta), 1);
    assert_int_equal(db_entries(txn, s->audit), 1);
    mdb_txn_abort(txn);
    hd_store_close(s);

    /* the databases still exist after the drop: a plain reopen works */
    s = open_store("st", 0);
    hd_store_close(s);
}

/* ---- the person hash ------------------------------------------------------------- */

/* Reference implementation, as specified in docs/state-store.md. */
static uint64_t ref_hash(const char *s, size_t n)
{
    uint64_t x = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    for (size_t i = 0; i < n; i++) {
        x ^= (unsigned char)s[i];
        x *= 0x100000001b3ULL; /* FNV 64 prime */
    }
    x ^= x >> 30; /* SplitMix64 finaliser */
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void test_store_person_hash_is_stable(void **state)
{
    (void)state;
    /* Fixed values, computed independently with Python:
     *   M=2**64-1; x=0xcbf29ce484222325
     *   for b in data: x=((x^b)*0x100000001b3)&M
     *   x^=x>>30; x=(x*0xbf58476d1ce4e5b9)&M; x^=x>>27
     *   x=(x*0x94d049bb133111eb)&M; x^=x>>31 */
    assert_true(hd_person_hash("", 0) == 0xf52a15e9a9b5e89bULL);
    assert_true(hd_person_hash("a", 1) == 0x02c0bdbf481420f8ULL);
    assert_true(hd_person_hash("p-1", 3) == 0x675f7f2fd6412ea5ULL);
    assert_true(hd_person_hash("user-42", 7) == 0x7a1596f0e94b5793ULL);
    assert_true(hd_person_hash("m\xc3\xbcller", 7) == 0x29c893a6d78d1dc1ULL);
    /* only len bytes count */
    assert_true(hd_person_hash("p-1xyz", 3) == 0x675f7f2fd6412ea5ULL);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(id, sizeof id, "person-%d", i * 7919);
        assert_true(hd_person_hash(id, (size_t)n) == ref_hash(id, (size_t)n));
    }
    /* bytes >= 0x80 are taken unsigned */
    assert_true(hd_person_hash("\xff\x80", 2) == ref_hash("\xff\x80", 2));
}

/* ---- names ------------------------------------------------------------------------- */

static void test_store_names_match_enums(void **state)
{
    (void)state;
    assert_string_equal(hd_reason_names[HD_R_OUT_OF_REGION], "out_of_region");
    assert_string_equal(hd_reason_names[HD_R_MINOR], "minor");
    assert_string_equal(hd_reason_names[HD_R_ALREADY_OBJECTED], "already_objected");
    assert_string_equal(hd_reason_names[HD_R_NO_CHANNEL], "no_channel");
    assert_string_equal(hd_reason_names[HD_R_DUPLICATE_ID], "duplicate_id");
    assert_string_equal(hd_reason_names[HD_R_INVALID_ROW], "invalid_row");
    assert_string_equal(hd_dstate_names[HD_DS_PENDING], "pending");
    assert_string_equal(hd_dstate_names[HD_DS_SENT], "sent");
    assert_string_equal(hd_dstate_names[HD_DS_HELD], "held");
    assert_string_equal(hd_chskip_names[HD_CHSKIP_NO_ADDRESS], "no_address");
    assert_string_equal(hd_chskip_names[HD_CHSKIP_UNSUPPORTED], "unsupported_address");
}

static void test_store_fail_maps_lmdb_errors(void **state)
{
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_store_fail(&err, MDB_MAP_FULL, "planning"), -1);
    assert_int_equal(err.code, HD_EX_IOERR);
    assert_non_null(strstr(err.msg, "full"));
    assert_int_equal(hd_store_fail(&err, ENOSPC, "planning"), -1);
    assert_int_equal(err.code, HD_EX_IOERR);
    assert_non_null(strstr(err.msg, "disk full"));
    assert_int_equal(hd_store_fail(&err, MDB_READERS_FULL, "reading"), -1);
    assert_int_equal(err.code, HD_EX_TEMPFAIL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_create_makes_private_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_missing_dir_is_noinput, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_non_store_dir_is_noinput, setup, teardown),
        cmocka_unit_test(test_store_close_null_is_noop),
        cmocka_unit_test(test_store_person_record_roundtrip),
        cmocka_unit_test(test_store_person_record_empty_fields_and_unknown_age),
        cmocka_unit_test(test_store_person_record_refuses_damage),
        cmocka_unit_test(test_store_exclusion_record_roundtrip),
        cmocka_unit_test(test_store_delivery_record_roundtrip),
        cmocka_unit_test(test_store_keys_are_big_endian),
        cmocka_unit_test(test_store_due_key_orders_by_time),
        cmocka_unit_test_setup_teardown(test_store_audit_appends_in_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_counters_add_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_counter_add_floor_stops_at_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_meta_get_and_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_clear_plan_empties_plan_databases, setup,
                                        teardown),
        cmocka_unit_test(test_store_person_hash_is_stable),
        cmocka_unit_test(test_store_names_match_enums),
        cmocka_unit_test(test_store_fail_maps_lmdb_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
