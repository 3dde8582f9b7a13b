/* Unit tests for delivery proofs (core/proof.c): pseudonyms, the canonical
 * record form and its parser, CSV, base64, keys and signed notes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hd_test.h"
#include "herald/proof.h"

#define KEY "test-pseudonym-key-0123456789"

static struct hd_pseudonym_key test_key(void)
{
    struct hd_pseudonym_key k;
    struct hd_err err = {0};
    setenv("HD_TEST_PSEUDONYM_KEY", KEY, 1);
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", NULL, "pk-1", &err), 0);
    return k;
}

/* Expected values computed independently with Python's hmac module:
 *   hmac.new(KEY, b"herald-person-v1\0p-000123", hashlib.sha256).hexdigest() */
static void test_proof_pseudonyms_known_vectors(void **state)
{
    struct hd_pseudonym_key k = test_key();
    char out[65];
    (void)state;
    hd_proof_person_key(&k, "p-000123", 8, out);
    assert_string_equal(out, "df14514b4eda4f36feaf171add392c0eacfdd6c8b71101cabbbe13525e45eaf5");
    hd_proof_person_key(&k, "m\xc3\xbcller", 7, out);
    assert_string_equal(out, "ce7a4c86ae715f9f133ac975914c3919f10e96d72776f1c4d747cb4c9cfdf73f");
    hd_proof_address_key(&k, "email", "anna@example.org", 16, out);
    assert_string_equal(out, "2a62b98464f29f6e8a10226052479951f4f9914663865c2e78516aff72d31407");
    hd_proof_address_key(&k, "push", "tok-1", 5, out);
    assert_string_equal(out, "536c94a3caa8e699b07cd13f25ce68b53a104698cdf72522849183ee9daaec08");
    hd_proof_link_hmac(&k, "https://x.example/o?p=1&t=abc", 29, out);
    assert_string_equal(out, "02e5c0e25ecbfe65059b2391b9eed941c3c77e778f25fcca0e74c467dde3b93a");
    assert_string_equal(k.id, "pk-1");

    /* a key longer than the SHA-256 block is hashed first (RFC 2104) */
    char big[101];
    memset(big, 'k', 100);
    big[100] = '\0';
    setenv("HD_TEST_PSEUDONYM_KEY", big, 1);
    struct hd_err err = {0};
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", NULL, NULL, &err), 0);
    hd_proof_person_key(&k, "p-000123", 8, out);
    assert_string_equal(out, "8515f542dbec11230b8383355652667b744460ee6df144115966178a937b92ce");
}

static void test_proof_key_load(void **state)
{
    struct hd_pseudonym_key k;
    struct hd_err err = {0};
    const char *dir = hd_test_tmpdir();
    (void)state;
    /* derived id: "k-" + 12 hex of SHA-256("herald-key-id-v1" 0 key) */
    setenv("HD_TEST_PSEUDONYM_KEY", KEY, 1);
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", NULL, NULL, &err), 0);
    assert_string_equal(k.id, "k-13aebafa272f");
    /* too short, from the environment */
    setenv("HD_TEST_PSEUDONYM_KEY", "short", 1);
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", NULL, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "HD_TEST_PSEUDONYM_KEY"));
    assert_null(strstr(err.msg, "short"));
    /* unset variable, no file */
    unsetenv("HD_TEST_PSEUDONYM_KEY");
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", NULL, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    /* a file: the trailing newline is not part of the key; mode 0600 only */
    char *path = hd_test_write(dir, "p.key", KEY "\n", (size_t)-1);
    chmod(path, 0644);
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", path, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "chmod 600"));
    chmod(path, 0600);
    assert_int_equal(hd_pseudonym_key_load(&k, "HD_TEST_PSEUDONYM_KEY", path, NULL, &err), 0);
    assert_int_equal(k.len, strlen(KEY));
    assert_string_equal(k.id, "k-13aebafa272f");
    free(path);
    hd_test_rmtree(dir);
}

static const uint8_t sha[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
#define HEX64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX64B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct hd_proof_fields delivery(void)
{
    struct hd_proof_fields f;
    memset(&f, 0, sizeof f);
    f.seq = 7;
    f.prev = sha;
    f.campaign = "c-1";
    f.snapshot = HEX64A;
    f.key_id = "pk-1";
    f.person_key = HEX64B;
    f.country = "DE";
    f.event = "smtp.accepted";
    f.last_change_ms = 1750924800123; /* 2025-06-26T08:00:00.123Z */
    f.address_key = HEX64A;
    f.channel = "email";
    f.language = "de";
    f.template_ = "de/variant";
    f.link_hmac = HEX64B;
    f.fallback = true;
    f.sent = true;
    f.first_attempt_ms = 1750924799000;
    f.attempts = 2;
    f.sha256 = sha;
    f.message_id = "0123@lumen.example";
    f.code = 250;
    f.provider_id = "Q1";
    f.provider_id_len = 2;
    return f;
}

/* The exact canonical bytes, keys sorted, and the escapes of Python's
 * json.dumps(..., sort_keys=True, separators=(",", ":")):
 *   json.dumps('250 2.0.0 Ok: "queued" as\tABC\n\\ é 😀 \x01 \x7f')
 * and invalid UTF-8 as U+FFFD. */
static void test_proof_canonical_form(void **state)
{
    struct hd_buf b = HD_BUF_INIT;
    struct hd_proof_fields f = delivery();
    struct hd_proof_rec r;
    char why[256];
    const char *text = "250 2.0.0 Ok: \"queued\" as\tABC\n\\ \xc3\xa9 \xf0\x9f\x98\x80 \x01 \x7f";
    (void)state;
    f.response = text;
    f.response_len = strlen(text);
    assert_int_equal(hd_proof_format(&f, &b), 0);
    assert_string_equal(
        b.data,
        "{\"accepted\":\"2025-06-26T08:00:00.123Z\",\"address_key\":\"" HEX64A "\","
        "\"attempts\":2,\"campaign\":\"c-1\",\"channel\":\"email\",\"country\":\"DE\","
        "\"event\":\"smtp.accepted\",\"fallback\":true,\"first_attempt\":\"2025-06-26T07:59:59."
        "000Z\",\"key_id\":\"pk-1\",\"kind\":\"delivery\",\"language\":\"de\","
        "\"last_change\":\"2025-06-26T08:00:00.123Z\",\"link_hmac\":\"" HEX64B "\","
        "\"message_id\":\"0123@lumen.example\",\"person_key\":\"" HEX64B "\","
        "\"prev\":\"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\","
        "\"response\":{\"code\":250,\"provider_id\":\"Q1\",\"text\":\"250 2.0.0 Ok: \\\"queued\\\" "
        "as\\tABC\\n\\\\ \\u00e9 \\ud83d\\ude00 \\u0001 \\u007f\"},\"seq\":7,"
        "\"sha256\":\"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\","
        "\"snapshot\":\"" HEX64A "\",\"state\":\"sent\",\"template\":\"de/variant\","
        "\"uncertain\":false}");
    assert_int_equal(hd_proof_parse(b.data, b.len, &r, why, sizeof why), 0);
    assert_false(r.exclusion);
    assert_int_equal(r.seq, 7);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.code, 250);
    assert_true(r.fallback);
    /* the decoded text is the original */
    struct hd_buf t = HD_BUF_INIT;
    assert_int_equal(hd_proof_unescape(r.f[HD_PF_RESPONSE_TEXT], &t), 0);
    assert_string_equal(t.data, text);

    /* bytes that are not UTF-8 become U+FFFD */
    hd_buf_reset(&b);
    f.response = "x\xffy\xc3";
    f.response_len = 4;
    f.sent = false;
    f.event = "smtp.rejected";
    assert_int_equal(hd_proof_format(&f, &b), 0);
    assert_non_null(strstr(b.data, "\"text\":\"x\\ufffdy\\ufffd\""));
    assert_null(strstr(b.data, "accepted"));
    assert_non_null(strstr(b.data, "\"state\":\"failed\""));
    assert_int_equal(hd_proof_parse(b.data, b.len, &r, why, sizeof why), 0);

    /* a push delivery: idempotency_key; render.failed: no sha256, no first attempt */
    hd_buf_reset(&b);
    f = delivery();
    f.push = true;
    f.message_id = "0123";
    f.sent = false;
    f.event = "render.failed";
    f.sha256 = NULL;
    f.first_attempt_ms = 0;
    assert_int_equal(hd_proof_format(&f, &b), 0);
    assert_non_null(strstr(b.data, "\"idempotency_key\":\"0123\""));
    assert_null(strstr(b.data, "message_id"));
    assert_null(strstr(b.data, "sha256"));
    assert_null(strstr(b.data, "first_attempt"));
    assert_int_equal(hd_proof_parse(b.data, b.len, &r, why, sizeof why), 0);

    /* an exclusion, record 0: no prev */
    struct hd_proof_fields x;
    memset(&x, 0, sizeof x);
    x.exclusion = true;
    x.campaign = "c-1";
    x.snapshot = HEX64A;
    x.key_id = "pk-1";
    x.person_key = HEX64B;
    x.country = "FR";
    x.reason = "invalid_row";
    x.field = "birth_date";
    x.event = "excluded.invalid_row";
    x.last_change_ms = 1750924800000;
    hd_buf_reset(&b);
    assert_int_equal(hd_proof_format(&x, &b), 0);
    assert_string_equal(b.data, "{\"campaign\":\"c-1\",\"country\":\"FR\","
                                "\"event\":\"excluded.invalid_row\",\"field\":\"birth_date\","
                                "\"key_id\":\"pk-1\",\"kind\":\"exclusion\","
                                "\"last_change\":\"2025-06-26T08:00:00.000Z\","
                                "\"person_key\":\"" HEX64B "\",\"reason\":\"invalid_row\","
                                "\"seq\":0,\"snapshot\":\"" HEX64A "\",\"state\":\"excluded\"}");
    assert_int_equal(hd_proof_parse(b.data, b.len, &r, why, sizeof why), 0);
    assert_true(r.exclusion);
    hd_buf_release(&b);
    hd_buf_release(&t);
}

/* Each variation of a valid record must be refused, with a reason that
 * names the problem. */
static void test_proof_parse_refuses(void **state)
{
    struct hd_buf b = HD_BUF_INIT;
    struct hd_proof_fields f = delivery();
    struct hd_proof_rec r;
    char why[256];
    (void)state;
    assert_int_equal(hd_proof_format(&f, &b), 0);
    const struct {
        const char *from, *to, *why;
    } cases[] = {
        {"{\"accepted\"", "{ \"accepted\"", "expected a key"},
        {"\"attempts\":2,", "\"attempts\":02,", "leading zero"},
        {"\"attempts\":2,", "\"attempts\":-2,", "not canonical"},
        {"\"attempts\":2,", "\"attempts\":2.0,", "expected ','"},
        {"\"attempts\":2,", "\"attempts\":\"2\",", "must not be a string"},
        {"\"fallback\":true", "\"fallback\":1", "must not be a number"},
        {"\"campaign\":\"c-1\",\"channel\"", "\"channel\":\"email\",\"campaign\"", "sorted"},
        {"\"kind\":\"delivery\"", "\"kind\":\"other\"", "\"kind\""},
        {"\"kind\":\"delivery\"", "\"kind\":\"exclusion\"", "does not belong"},
        {"\"country\":\"DE\",", "", "\"country\" is missing"},
        {"\"country\":\"DE\"", "\"country\":\"de\"", "two capital letters"},
        {"\"country\":\"DE\"", "\"country\":\"D E\"", "1-64 of"},
        {"\"uncertain\":false}", "\"uncertain\":false,\"zz\":1}", "unknown field \"zz\""},
        {"\"template\":\"de/variant\"", "\"template\":\"fr\"", "\"template\""},
        {"\"accepted\":\"2025-06-26T08:00:00.123Z\"", "\"accepted\":\"2025-06-26T08:00:00.124Z\"",
         "differs from \"last_change\""},
        {"\"accepted\":\"2025-06-26T08:00:00.123Z\",", "", "\"accepted\" is missing"},
        {"\"first_attempt\":\"2025-06-26T07:59:59.000Z\"",
         "\"first_attempt\":\"2025-06-26 07:59:59.000Z\"", "UTC time"},
        {"\"prev\":\"01", "\"prev\":\"0A", "lowercase hex"},
        {"\"prev\":\"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\",", "",
         "\"prev\" is missing"},
        {"\"message_id\":\"0123@lumen.example\"", "\"message_id\":\"\\u0030123@lumen.example\"",
         "written plainly"},
        {"\"message_id\":\"0123@lumen.example\"", "\"message_id\":\"0123\\/lumen.example\"",
         "escape"},
        {"\"message_id\":\"0123@lumen.example\"", "\"message_id\":\"0123@l\xc3\xa9.example\"",
         "non-ASCII"},
        {"\"message_id\":\"0123@lumen.example\",", "", "exactly one of"},
        {"\"code\":250", "\"code\":250,\"text\":null", "null"},
        {"\"uncertain\":false}", "\"uncertain\":false} ", "after the object"},
        {"\"response\":{", "\"response\":[{", "not canonical JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = strstr(b.data, cases[i].from), line[4096];
        assert_non_null(p);
        int n = snprintf(line, sizeof line, "%.*s%s%s", (int)(p - b.data), b.data, cases[i].to,
                         p + strlen(cases[i].from));
        why[0] = '\0';
        if (hd_proof_parse(line, (size_t)n, &r, why, sizeof why) != -1 ||
            strstr(why, cases[i].why) == NULL) {
            print_error("case %zu (%s): why = \"%s\"\n", i, cases[i].to, why);
            fail();
        }
    }
    /* an exclusion whose event does not match its reason */
    const char *x = "{\"campaign\":\"c\",\"event\":\"excluded.minor\",\"key_id\":\"k\","
                    "\"kind\":\"exclusion\",\"last_change\":\"2025-06-26T08:00:00.000Z\","
                    "\"reason\":\"out_of_region\",\"seq\":0,\"snapshot\":\"" HEX64A "\","
                    "\"state\":\"excluded\"}";
    assert_int_equal(hd_proof_parse(x, strlen(x), &r, why, sizeof why), -1);
    assert_non_null(strstr(why, "\"excluded.\" + reason"));
    hd_buf_release(&b);
}

static void test_proof_csv(void **state)
{
    struct hd_buf b = HD_BUF_INIT, c = HD_BUF_INIT;
    struct hd_proof_fields f = delivery();
    struct hd_proof_rec r;
    char why[256];
    (void)state;
    f.response = "a, \"b\"\nc";
    f.response_len = strlen(f.response);
    assert_int_equal(hd_proof_format(&f, &b), 0);
    assert_int_equal(hd_proof_parse(b.data, b.len, &r, why, sizeof why), 0);
    assert_int_equal(hd_proof_csv_line(&r, &c), 0);
    assert_non_null(strstr(c.data, ",250,Q1,\"a, \"\"b\"\"\nc\",false,0102"));
    assert_true(c.len > 2 && memcmp(c.data + c.len - 2, "\r\n", 2) == 0);
    assert_int_equal(strncmp(c.data, "7,delivery,c-1,", 15), 0);
    /* as many columns as the header */
    size_t cols = 1, hcols = 1;
    for (const char *p = hd_proof_csv_header; *p; p++)
        hcols += *p == ',';
    bool q = false;
    for (size_t i = 0; i < c.len; i++) {
        if (c.data[i] == '"')
            q = !q;
        cols += !q && c.data[i] == ',';
    }
    assert_int_equal(cols, hcols);
    hd_buf_release(&b);
    hd_buf_release(&c);
}

static void test_proof_base64(void **state)
{
    uint8_t out[64];
    size_t n;
    char enc[64];
    (void)state;
    assert_int_equal(hd_proof_base64((const uint8_t *)"foob", 4, enc), 8);
    assert_string_equal(enc, "Zm9vYg==");
    assert_int_equal(hd_proof_unbase64("Zm9vYg==", 8, out, sizeof out, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(hd_proof_unbase64("Zm9vYh==", 8, out, sizeof out, &n), -1); /* bits */
    assert_int_equal(hd_proof_unbase64("Zm9vYg=", 7, out, sizeof out, &n), -1);
    assert_int_equal(hd_proof_unbase64("Zm9v Yg=", 8, out, sizeof out, &n), -1);
    assert_int_equal(hd_proof_unbase64("Zg==Zg==", 8, out, sizeof out, &n), -1);
}

/* The example of Go's golang.org/x/mod/sumdb/note package (ExampleSign,
 * ExampleOpen): the same key, text and signature, byte for byte. This pins
 * the key hash, the note layout and Ed25519 to the C2SP signed-note spec. */
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define GO_SIG                                                                                     \
    "\xe2\x80\x94 PeterNeumann "                                                                   \
    "x08go/ZJkuBS9UG/"                                                                             \
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static void test_proof_signed_note_go_vector(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *vk = hd_test_write(dir, "go.vkey", GO_VKEY "\n", (size_t)-1);
    struct hd_proof_pubkey key;
    struct hd_err err = {0};
    struct hd_buf note = HD_BUF_INIT;
    size_t tl;
    char signer[128];
    uint8_t seed[33];
    size_t n;
    (void)state;
    assert_int_equal(hd_proof_pubkey_load(vk, &key, &err), 0);
    assert_string_equal(key.name, "PeterNeumann");
    const char *msg = GO_TEXT "\n" GO_SIG;
    assert_int_equal(hd_note_verify(msg, strlen(msg), &key, &tl, signer, &err), 0);
    assert_int_equal(tl, strlen(GO_TEXT));
    assert_string_equal(signer, "PeterNeumann");
    /* one changed byte of text or signature */
    char bad[512];
    snprintf(bad, sizeof bad, "%s", msg);
    bad[3] ^= 1;
    assert_int_equal(hd_note_verify(bad, strlen(bad), &key, &tl, signer, &err), -1);
    assert_non_null(strstr(err.msg, "does not verify"));
    snprintf(bad, sizeof bad, "%s", msg);
    bad[strlen(bad) - 5] ^= 1;
    assert_int_equal(hd_note_verify(bad, strlen(bad), &key, &tl, signer, &err), -1);
    /* signing with the example's private key gives the example's note */
    assert_int_equal(hd_proof_unbase64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", 44, seed,
                                       sizeof seed, &n),
                     0);
    assert_int_equal(n, 33);
    assert_int_equal(
        hd_note_sign_seed(seed + 1, "PeterNeumann", GO_TEXT, strlen(GO_TEXT), &note, &err), 0);
    assert_string_equal(note.data, msg);
    /* a vkey whose hash does not match its name and key is refused */
    char *bad_vk = hd_test_write(
        dir, "bad.vkey", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        (size_t)-1);
    assert_int_equal(hd_proof_pubkey_load(bad_vk, &key, &err), -1);
    free(vk);
    free(bad_vk);
    hd_buf_release(&note);
    hd_test_rmtree(dir);
}

static void test_proof_keygen_and_checkpoint(void **state)
{
    const char *dir = hd_test_tmpdir();
    char prefix[512], path[600];
    struct hd_err err = {0};
    struct hd_proof_pubkey pem, vkey;
    struct stat st;
    (void)state;
    snprintf(prefix, sizeof prefix, "%s/sign", dir);
    assert_int_equal(hd_proof_keygen(prefix, "my-log", false, &err), 0);
    snprintf(path, sizeof path, "%s.key", prefix);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(hd_proof_keygen(prefix, "my-log", false, &err), -1); /* no overwrite */
    assert_int_equal(err.code, HD_EX_CANTCREAT);
    assert_int_equal(hd_proof_keygen(prefix, "bad name", true, &err), -1);
    snprintf(path, sizeof path, "%s.pub", prefix);
    assert_int_equal(hd_proof_pubkey_load(path, &pem, &err), 0);
    snprintf(path, sizeof path, "%s.vkey", prefix);
    assert_int_equal(hd_proof_pubkey_load(path, &vkey, &err), 0);
    assert_memory_equal(pem.raw, vkey.raw, 32);
    assert_string_equal(vkey.name, "my-log");
    assert_string_equal(pem.name, "");
    hd_test_rmtree(dir);
}

/* The record's own date formatting agrees with gmtime over 1970..2199. */
static void test_proof_timestamps(void **state)
{
    struct hd_proof_fields x;
    struct hd_buf b = HD_BUF_INIT;
    uint64_t seed = 1;
    (void)state;
    memset(&x, 0, sizeof x);
    x.exclusion = true;
    x.campaign = "c";
    x.snapshot = HEX64A;
    x.key_id = "k";
    x.reason = "minor";
    x.event = "excluded.minor";
    for (int i = 0; i < 20000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t ms = (int64_t)((seed >> 11) % 7258118400000ULL); /* to 2200-01-01 */
        if (i < 4)
            ms = (int64_t[]){0, 951782400000, 951868799999, 4107542399999}[i]; /* leap days */
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char want[64], *p;
        gmtime_r(&t, &tm);
        snprintf(want, sizeof want, "\"last_change\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms % 1000));
        x.last_change_ms = ms;
        hd_buf_reset(&b);
        assert_int_equal(hd_proof_format(&x, &b), 0);
        p = strstr(b.data, "\"last_change\"");
        assert_non_null(p);
        if (strncmp(p, want, strlen(want)) != 0) {
            print_error("ms %lld: got %.40s, want %s\n", (long long)ms, p, want);
            fail();
        }
    }
    hd_buf_release(&b);
}

struct lines_seen {
    uint64_t n, bytes;
    int bad;
    struct hd_merkle_hasher h;
};

static int count_line(void *ctx, uint64_t index, const char *line, size_t len,
                      const uint8_t leaf[32])
{
    struct lines_seen *l = ctx;
    uint8_t want[32];
    char head[32];
    snprintf(head, sizeof head, "%llu:", (unsigned long long)index);
    l->bad += index != l->n || len < strlen(head) || memcmp(line, head, strlen(head)) != 0;
    hd_merkle_leaf_hash(&l->h, line, len, want);
    l->bad += memcmp(want, leaf, 32) != 0;
    l->n++;
    l->bytes += len;
    return index == 123456789 ? 7 : 0;
}

/* The two-thread reader: lines across its 4 MiB batches, a 9 MiB line,
 * empty lines, a last line without its newline. */
static void test_proof_each_record_batches(void **state)
{
    const char *dir = hd_test_tmpdir();
    char path[512];
    struct lines_seen l;
    struct hd_err err = {0};
    uint64_t want_bytes = 0;
    (void)state;
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (unsigned i = 0; i < 40000; i++) {
        char line[600];
        int n = snprintf(
            line, sizeof line, "%u:%.*s", i, (int)(i * 7919 % 500),
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        fwrite(line, 1, (size_t)n, f);
        fputc('\n', f);
        want_bytes += (size_t)n;
        if (i == 20000) { /* one line of 9 MiB */
            fprintf(f, "%u:", ++i);
            want_bytes += strlen("20001:") + (9u << 20);
            for (unsigned k = 0; k < (9u << 20); k++)
                fputc('y', f);
            fputc('\n', f);
        }
    }
    fclose(f);
    memset(&l, 0, sizeof l);
    assert_int_equal(hd_merkle_hasher_init(&l.h), 0);
    assert_int_equal(hd_proofs_each_record(path, count_line, &l, &err), 0);
    assert_int_equal(l.n, 40000);
    assert_int_equal(l.bad, 0);
    assert_int_equal(l.bytes, want_bytes);
    /* no newline after the last line */
    f = fopen(path, "ab");
    fputs("40000:tail", f);
    fclose(f);
    memset(&l.n, 0, sizeof l.n);
    l.bytes = 0;
    assert_int_equal(hd_proofs_each_record(path, count_line, &l, &err), -1);
    assert_int_equal(err.code, HD_EX_FAIL);
    assert_non_null(strstr(err.msg, "line 40001 has no newline"));
    hd_merkle_hasher_free(&l.h);
    hd_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proof_pseudonyms_known_vectors),
        cmocka_unit_test(test_proof_key_load),
        cmocka_unit_test(test_proof_canonical_form),
        cmocka_unit_test(test_proof_parse_refuses),
        cmocka_unit_test(test_proof_csv),
        cmocka_unit_test(test_proof_base64),
        cmocka_unit_test(test_proof_signed_note_go_vector),
        cmocka_unit_test(test_proof_keygen_and_checkpoint),
        cmocka_unit_test(test_proof_each_record_batches),
        cmocka_unit_test(test_proof_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
