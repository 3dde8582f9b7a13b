/* Unit tests for delivery proofs (core/proofs/proof_*.c): pseudonyms, the canonical
 * record form and its parser, CSV, base64, keys and signed notes, and
 * recording (hd_proofs_delivery, hd_proofs_prepare + hd_proofs_delivery_pre). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hd_test.h"
#include "herald/hash.h"
#include "herald/mime.h"
#include "herald/proof.h"
#include "herald/render.h"

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
    /* "\r\n" and a lone final "\r" are not part of it either (the link
     * secret keeps a lone "\r": test_link.c); "\r\r\n" keeps one "\r". */
    const char *const ends[] = {"\r\n", "\r", "\r\r\n"};
    for (size_t i = 0; i < 3; i++) {
        char data[64];
        snprintf(data, sizeof data, "%s%s", KEY, ends[i]);
        path = hd_test_write(dir, "p.key", data, (size_t)-1);
        chmod(path, 0600);
        assert_int_equal(hd_pseudonym_key_load(&k, NULL, path, NULL, &err), 0);
        assert_int_equal(k.len, strlen(KEY) + (i == 2));
        assert_memory_equal(k.bytes, KEY, strlen(KEY));
        free(path);
    }
    /* an empty file, and a missing one: named, with what to do */
    path = hd_test_write(dir, "empty.key", "\n", (size_t)-1);
    chmod(path, 0600);
    assert_int_equal(hd_pseudonym_key_load(&k, NULL, path, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, path));
    free(path);
    path = hd_test_write(dir, "short.key", "0123456789\n", (size_t)-1);
    chmod(path, 0600);
    assert_int_equal(hd_pseudonym_key_load(&k, NULL, path, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    char want[512];
    snprintf(want, sizeof want, "pseudonym key file %s must hold 16 to 256 bytes", path);
    assert_string_equal(err.msg, want);
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
        /* issue 10, finding 7: what Python's json.loads refuses, or what
         * json.dumps would write otherwise, is refused here too */
        {"\"message_id\":\"0123",
         "\"message_id\":\"\\@NUL"
         "0123",
         "escape"},
        {"\"message_id\":\"0123",
         "\"message_id\":\"\\u00x"
         "0123",
         "\\u needs"},
        {"\"message_id\":\"0123",
         "\"message_id\":\"\\ud800"
         "0123",
         "lone high surrogate"},
        {"\"message_id\":\"0123",
         "\"message_id\":\"\\udc00"
         "0123",
         "lone low surrogate"},
        {"\"message_id\":\"0123",
         "\"message_id\":\"\\u00E9"
         "0123",
         "\\u needs"},
        {"\"message_id\":\"0123",
         "\"message_id\":\"\xc0\xb0"
         "0123",
         "non-ASCII"},
        {"\"attempts\":2,", "\"attempts\":9007199254740992,", "too large"},
        {"\"attempts\":2,", "\"attempts\":18446744073709551615,", "too large"},
        {"\"attempts\":2,", "\"attempts\":2,\"attempts\":2,", "sorted"},
        {"\"attempts\":2,", "\"attempts\":2e0,", "expected ','"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = strstr(b.data, cases[i].from), line[4096];
        assert_non_null(p);
        int n = snprintf(line, sizeof line, "%.*s%s%s", (int)(p - b.data), b.data, cases[i].to,
                         p + strlen(cases[i].from));
        /* "@NUL" stands for a NUL byte (a C string cannot hold one) */
        char *z = strstr(line, "@NUL");
        if (z != NULL) {
            z[0] = '\0';
            memmove(z + 1, z + 4, strlen(z + 4) + 1);
            n -= 3;
        }
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

/* Malformed public-key files are refused with HD_EX_DATAERR, whatever their
 * shape: empty (nothing to search, so no memchr on a NULL buffer), only
 * separators, a name without the rest, bad base64. Runs under UBSan in the
 * test command. */
static void test_proof_pubkey_malformed(void **state)
{
    const char *dir = hd_test_tmpdir();
    static const char *const bad[] = {"",           "\n",           "+",
                                      "++",         "a+",           "a+0000000+",
                                      "a+00000000", "a+00000000+",  "a+00000000+AQ==",
                                      "-----BEGIN", "-----BEGIN x", " \r\n"};
    struct hd_proof_pubkey k;
    struct hd_err err = {0};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = hd_test_write(dir, "k.vkey", bad[i], (size_t)-1);
        memset(&err, 0, sizeof err);
        assert_int_equal(hd_proof_pubkey_load(path, &k, &err), -1);
        assert_int_equal(err.code, HD_EX_DATAERR);
        free(path);
    }
    /* an empty checkpoint file reads as no buffer at all */
    struct hd_checkpoint cp;
    memset(&k, 0, sizeof k);
    memset(&err, 0, sizeof err);
    assert_int_equal(hd_checkpoint_verify(NULL, 0, &k, &cp, &err), -1);
    assert_int_equal(err.code, HD_EX_FAIL);
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

/* ---- JSON escapes around the 8-byte steps of the plain-string check -------------------------- */

/* Python's json.dumps escape of one byte string that is ASCII, or has lone
 * bytes >= 0x80 (each not UTF-8: U+FFFD). */
static void ref_escape(const char *s, size_t n, struct hd_buf *out)
{
    hd_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            hd_buf_printf(out, "\\%c", c);
        else if (c == '\b')
            hd_buf_puts(out, "\\b");
        else if (c == '\f')
            hd_buf_puts(out, "\\f");
        else if (c == '\n')
            hd_buf_puts(out, "\\n");
        else if (c == '\r')
            hd_buf_puts(out, "\\r");
        else if (c == '\t')
            hd_buf_puts(out, "\\t");
        else if (c < 0x20 || c == 0x7f)
            hd_buf_printf(out, "\\u%04x", c);
        else if (c >= 0x80)
            hd_buf_puts(out, "\\ufffd");
        else
            hd_buf_putc(out, (char)c);
    }
    hd_buf_putc(out, '"');
}

static void test_proof_escape_every_position(void **state)
{
    static const unsigned char odd[] = {0x00, 0x01, '\n', 0x1f, '"',  '\\', 0x7f,
                                        0x80, 0xff, ' ',  '!',  '#',  '[',  ']',
                                        '~',  '/',  0x1e, 0x21, 0x5b, 0x5d, 0xc3};
    struct hd_proof_fields f = delivery();
    struct hd_buf b = HD_BUF_INIT, want = HD_BUF_INIT;
    char s[40];
    (void)state;
    for (size_t len = 1; len <= 33; len++)
        for (size_t at = 0; at < len; at++)
            for (size_t k = 0; k < sizeof odd; k++) {
                for (size_t i = 0; i < len; i++)
                    s[i] = (char)('a' + (i * 7 + len) % 26);
                s[at] = (char)odd[k];
                f.response = s;
                f.response_len = len;
                hd_buf_reset(&b);
                hd_buf_reset(&want);
                assert_int_equal(hd_proof_format(&f, &b), 0);
                hd_buf_puts(&want, "\"text\":");
                ref_escape(s, len, &want);
                hd_buf_puts(&want, "},\"seq\"");
                if (strstr(b.data, want.data) == NULL) {
                    print_error("len %zu, byte 0x%02x at %zu: %s\\nwant %s\\n", len, odd[k], at,
                                b.data, want.data);
                    fail();
                }
            }
    hd_buf_release(&b);
    hd_buf_release(&want);
}

/* ---- recording: hd_proofs_delivery and hd_proofs_prepare + hd_proofs_delivery_pre --------- */

#define REC_PERSONS 96
#define REC_ROUNDS 3

struct rec_fixture {
    struct hd_campaign *c;
    struct hd_link_secret secret;
    struct hd_pseudonym_key key;
    uint8_t ch_email, ch_push;
    char domain[256];
    struct hd_person_rec persons[REC_PERSONS];
    char ids[REC_PERSONS][260], emails[REC_PERSONS][64], tokens[REC_PERSONS][128];
    char *urls[REC_PERSONS];
};

static const char *const langs[] = {"de", "fr", "en", "pt-BR", "nb", "sr-Latn", "zh-Hant-TW"};

static void rec_fixture_init(struct rec_fixture *fx)
{
    struct hd_campaign_opts opts = {NULL, NULL, NULL};
    struct hd_diags d;
    struct hd_err err = {0};
    char from[320];
    memset(fx, 0, sizeof *fx);
    setenv("HERALD_PSEUDONYM_KEY", KEY, 1);
    hd_diags_init(&d);
    fx->c = hd_campaign_load(hd_test_source_path("campaigns/ai-training-notice.yaml"), &opts, &d);
    for (size_t i = 0; i < d.count; i++)
        print_error("%s\n", d.items[i]);
    hd_diags_release(&d);
    assert_non_null(fx->c);
    assert_true(fx->c->proofs);
    assert_int_equal(hd_pseudonym_key_load(&fx->key, "HERALD_PSEUDONYM_KEY", NULL, NULL, &err), 0);
    fx->secret.len = 32;
    for (size_t i = 0; i < fx->secret.len; i++)
        fx->secret.bytes[i] = (uint8_t)(i * 7 + 3);
    fx->ch_email = (uint8_t)(hd_campaign_channel(fx->c, "email") - fx->c->channels);
    fx->ch_push = (uint8_t)(hd_campaign_channel(fx->c, "inapp") - fx->c->channels);
    assert_int_equal(fx->c->channels[fx->ch_push].type, HD_CHANNEL_PUSH);
    assert_int_equal(
        hd_mime_ascii_address(fx->c->channels[fx->ch_email].from_addr, from, sizeof from, &err), 0);
    snprintf(fx->domain, sizeof fx->domain, "%s", strrchr(from, '@') + 1);

    /* people of every shape: odd ids, no email, no push token, fallback
     * languages, the variant text */
    static const char *const odd_ids[] = {"m\xc3\xbcller \"q\" \\ x", "a b+c%d~e.f_g-h=?#", "",
                                          "\xf0\x9f\x98\x80/\x01\x7f", "x"};
    for (size_t i = 0; i < REC_PERSONS; i++) {
        struct hd_person_rec *p = &fx->persons[i];
        char *id = fx->ids[i];
        if (i < sizeof odd_ids / sizeof odd_ids[0])
            snprintf(id, sizeof fx->ids[i], "%s", odd_ids[i]);
        else if (i == 6)
            memset(id, 'L', 250); /* long: a URL of several SHA-256 blocks */
        else
            snprintf(id, sizeof fx->ids[i], "p-%06zu", i * 7919);
        snprintf(fx->emails[i], sizeof fx->emails[i], "%s%zu@%s", i % 9 == 4 ? "J\xc3\xb6rg" : "a",
                 i, i % 4 == 0 ? "example.org" : "m\xc3\xbcller.example");
        snprintf(fx->tokens[i], sizeof fx->tokens[i], "tok-%zu-%.*s", i, (int)(i % 90),
                 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
                 "abcdef0123456789");
        memset(p, 0, sizeof *p);
        p->row = i;
        p->id = id;
        p->id_len = (uint16_t)strlen(id);
        if (i % 5 != 1) {
            p->email = fx->emails[i];
            p->email_len = (uint16_t)strlen(p->email);
        }
        if (i % 3 != 2) {
            p->push_token = fx->tokens[i];
            p->push_token_len = (uint16_t)strlen(p->push_token);
        }
        memcpy(p->country, i % 7 == 0 ? "PT" : i % 2 ? "DE" : "FR", 3);
        snprintf(p->language, sizeof p->language, "%s", langs[i % 7]);
        p->lang_source = (uint8_t)(i % 4); /* HD_LANG_EXACT and the fallbacks */
        p->variant = (uint8_t)(i % 3 == 0);
        p->nchannels = (uint8_t)fx->c->nchannels;
        struct hd_buf url = HD_BUF_INIT;
        assert_int_equal(hd_link_build(&fx->secret, fx->c->link_url, fx->c->id, id, &url), 0);
        fx->urls[i] = url.data;
    }
}

static void rec_fixture_free(struct rec_fixture *fx)
{
    for (size_t i = 0; i < REC_PERSONS; i++)
        free(fx->urls[i]);
    hd_campaign_free(fx->c);
}

/* The message id of person i on channel ch, exactly as the renderer makes it. */
static void rec_msgid(const struct rec_fixture *fx, size_t i, uint8_t ch, char out[HD_MSGID_MAX])
{
    char key[33];
    const struct hd_person_rec *p = &fx->persons[i];
    hd_render_message_key(fx->c->id, p->id, p->id_len, fx->c->channels[ch].name, key);
    if (ch == fx->ch_push)
        snprintf(out, HD_MSGID_MAX, "%s", key);
    else
        snprintf(out, HD_MSGID_MAX, "%s@%s", key, fx->domain);
}

/* The final state of delivery number j: sent or failed, uncertain or not,
 * with or without bytes, first attempt, provider id, reply, event. */
static struct hd_delivery_rec rec_outcome(size_t j, uint8_t dig[32])
{
    static const char *const events[] = {"smtp.accepted", "push.rejected", "bad event!\n\xc3\xa9",
                                         NULL, "render.failed"};
    static const char *const replies[] = {"250 2.0.0 Ok: queued as 4Xyz7Qk9Lm",
                                          "550 5.1.1 <a@b>: \"unknown\"\r\n\\ \xc3\xa9 \x01",
                                          "{\"error\":\"Unregistered\"}", NULL};
    struct hd_delivery_rec r;
    memset(&r, 0, sizeof r);
    r.state = j % 3 == 1 ? HD_DS_FAILED : HD_DS_SENT;
    r.attempts = (uint8_t)(1 + j % 5);
    r.flags = j % 4 == 3 ? HD_DF_UNCERTAIN : 0;
    r.code = (uint16_t)(j % 6 == 5 ? 0 : r.state == HD_DS_SENT ? 250 : 550);
    r.first_attempt_ms = j % 6 == 0 ? 0 : 1750924800000 + (int64_t)j * 997;
    r.last_change_ms = j == 1 ? 0 : 1750924800123 + (int64_t)j * 1009;
    for (int k = 0; k < 32; k++)
        dig[k] = j % 5 == 0 ? 0 : (uint8_t)(j * 31 + (size_t)k);
    memcpy(r.sha256, dig, 32);
    r.event = events[j % 5];
    r.event_len = (uint16_t)(r.event ? strlen(r.event) : 0);
    if (j % 7 != 3) {
        r.provider_id = j % 2 ? "Q1" : "id with \"quotes\"";
        r.provider_id_len = (uint16_t)strlen(r.provider_id);
    }
    r.response = replies[j % 4];
    r.response_len = (uint16_t)(r.response ? strlen(r.response) : 0);
    return r;
}

static struct hd_store *rec_store(const char *dir, const char *name, const struct rec_fixture *fx)
{
    char path[600];
    struct hd_store *s;
    struct hd_err err = {0};
    MDB_txn *txn;
    struct hd_buf b = HD_BUF_INIT;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
    /* the two databases recording uses, in a small map (valgrind cannot
     * reserve hd_store_open's 1 TiB of address space); hd_store_close
     * closes it */
    s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(mdb_env_create(&s->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(s->env, 4), 0);
    assert_int_equal(mdb_env_set_mapsize(s->env, (size_t)64 << 20), 0);
    assert_int_equal(mdb_env_open(s->env, path, MDB_NOSYNC, 0600), 0);
    assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
    assert_int_equal(mdb_dbi_open(txn, "persons", MDB_CREATE, &s->persons), 0);
    assert_int_equal(mdb_dbi_open(txn, "proofs", MDB_CREATE, &s->proofs), 0);
    for (size_t i = 0; i < REC_PERSONS; i++) {
        uint8_t k[10];
        hd_buf_reset(&b);
        assert_int_equal(hd_person_rec_encode(&fx->persons[i], &b), 0);
        hd_key_person(k, (uint16_t)(i % 3), i);
        MDB_val kv = {10, k}, vv = {b.len, b.data};
        assert_int_equal(mdb_put(txn, s->persons, &kv, &vv, 0), 0);
    }
    assert_int_equal(hd_store_commit(txn, &err), 0);
    hd_buf_release(&b);
    return s;
}

/* Every record of s, in seq order, as one NUL-separated text; checks the
 * chain on the way (keys 0..n-1, prev = the leaf hash of the record before,
 * each record passes the strict parser). */
static size_t rec_all(struct hd_store *s, struct hd_buf *out)
{
    struct hd_err err = {0};
    struct hd_merkle_hasher h;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t leaf[32] = {0}, prev[32];
    size_t n = 0;
    hd_buf_reset(out);
    assert_int_equal(hd_merkle_hasher_init(&h), 0);
    assert_int_equal(hd_store_begin(s, false, &txn, &err), 0);
    assert_int_equal(mdb_cursor_open(txn, s->proofs, &cur), 0);
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct hd_proof_rec r;
        char why[256];
        assert_int_equal(k.mv_size, 8);
        assert_int_equal(hd_get_u64(k.mv_data), n);
        if (hd_proof_parse(v.mv_data, v.mv_size, &r, why, sizeof why) != 0) {
            print_error("record %zu: %s: %.*s\n", n, why, (int)v.mv_size, (char *)v.mv_data);
            fail();
        }
        assert_int_equal(r.seq, n);
        if (n == 0) {
            assert_null(r.f[HD_PF_PREV].p);
        } else {
            assert_int_equal(r.f[HD_PF_PREV].n, 64);
            assert_int_equal(hd_proof_unhex(r.f[HD_PF_PREV].p, 64, prev), 0);
            assert_memory_equal(prev, leaf, 32);
        }
        hd_merkle_leaf_hash(&h, v.mv_data, v.mv_size, leaf);
        hd_buf_append(out, v.mv_data, v.mv_size);
        hd_buf_putc(out, '\0');
        n++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    hd_merkle_hasher_free(&h);
    return n;
}

/* rec_outcome's replies as records keep them: the address scrubbed, and
 * for a render failure every quoted excerpt too. */
static const char *rec_scrubbed(const char *reply, bool render_failed)
{
    if (reply == NULL)
        return NULL;
    if (strncmp(reply, "550 ", 4) == 0)
        return render_failed ? "550 5.1.1 <[address]>: \"[value]\"\r\n\\ \xc3\xa9 \x01"
                             : "550 5.1.1 <[address]>: \"unknown\"\r\n\\ \xc3\xa9 \x01";
    if (reply[0] == '{' && render_failed)
        return "{\"[value]\":\"[value]\"}";
    return reply;
}

/* The record hd_proof_format makes of the same inputs, from the public
 * pseudonym functions: what both recording paths must write. */
static void rec_expected(const struct rec_fixture *fx, size_t i, uint8_t ch,
                         const struct hd_delivery_rec *r, uint64_t seq, const uint8_t *prev,
                         struct hd_buf *out)
{
    const struct hd_person_rec *p = &fx->persons[i];
    bool push = ch == fx->ch_push;
    char person_key[65], address_key[65], link_hmac[65], msgid[HD_MSGID_MAX], snapshot[65];
    char event[65], country[3], tmpl[32];
    struct hd_proof_fields f;
    size_t n = 0;
    hd_proof_person_key(&fx->key, p->id, p->id_len, person_key);
    if (push ? p->push_token_len : p->email_len)
        hd_proof_address_key(&fx->key, push ? "push" : "email", push ? p->push_token : p->email,
                             push ? p->push_token_len : p->email_len, address_key);
    hd_proof_link_hmac(&fx->key, fx->urls[i], strlen(fx->urls[i]), link_hmac);
    rec_msgid(fx, i, ch, msgid);
    hd_hex(fx->c->snapshot_sha256, 32, snapshot);
    for (size_t k = 0; r->event && k < r->event_len && n < 64; k++) {
        char c = r->event[k];
        event[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                             strchr("._-/", c) != NULL
                         ? c
                         : '_';
    }
    if (n == 0)
        n = (size_t)snprintf(event, sizeof event, "unknown");
    event[n] = '\0';
    memcpy(country, p->country, 2);
    country[2] = '\0';
    snprintf(tmpl, sizeof tmpl, "%s%s", p->language, p->variant ? "/variant" : "");
    memset(&f, 0, sizeof f);
    f.seq = seq;
    f.prev = prev;
    f.campaign = fx->c->id;
    f.snapshot = snapshot;
    f.key_id = fx->c->proof_key_id;
    f.person_key = person_key;
    f.country = country;
    f.event = event;
    f.last_change_ms = r->last_change_ms;
    f.address_key = (push ? p->push_token_len : p->email_len) ? address_key : NULL;
    f.channel = fx->c->channels[ch].name;
    f.language = p->language;
    f.template_ = tmpl;
    f.link_hmac = link_hmac;
    f.fallback = p->lang_source != HD_LANG_EXACT;
    f.uncertain = (r->flags & HD_DF_UNCERTAIN) != 0;
    f.sent = r->state == HD_DS_SENT;
    f.first_attempt_ms = r->first_attempt_ms;
    f.attempts = r->attempts;
    f.sha256 = r->sha256;
    f.push = push;
    f.message_id = msgid;
    f.code = r->code;
    f.provider_id = r->provider_id;
    f.provider_id_len = r->provider_id_len;
    f.response = rec_scrubbed(r->response, r->event && strcmp(r->event, "render.failed") == 0);
    f.response_len = f.response ? strlen(f.response) : 0;
    hd_buf_reset(out);
    assert_int_equal(hd_proof_format(&f, out), 0);
}

static void rec_key(const struct rec_fixture *fx, size_t i, uint8_t ch, uint8_t key[11])
{
    (void)fx;
    hd_key_delivery(key, (uint16_t)(i % 3), i, ch);
}

/* For every shape of person and outcome, on both channels: the record
 * hd_proofs_prepare + hd_proofs_delivery_pre writes is byte for byte the
 * one hd_proofs_delivery writes, and the one hd_proof_format makes of the
 * same inputs; the chains agree. */
static void test_proof_prepare_same_records(void **state)
{
    struct rec_fixture *fx = malloc(sizeof *fx);
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    struct hd_proofs *pa, *pb;
    struct hd_buf all_a = HD_BUF_INIT, all_b = HD_BUF_INIT, want = HD_BUF_INIT;
    struct hd_merkle_hasher h;
    uint8_t prev[32];
    size_t j = 0;
    (void)state;
    rec_fixture_init(fx);
    struct hd_store *sa = rec_store(dir, "a", fx), *sb = rec_store(dir, "b", fx);
    assert_int_equal(hd_proofs_open(&pa, fx->c, &fx->secret, &err), 0);
    assert_int_equal(hd_proofs_open(&pb, fx->c, &fx->secret, &err), 0);
    assert_int_equal(hd_merkle_hasher_init(&h), 0);
    for (int round = 0; round < REC_ROUNDS; round++) {
        MDB_txn *ta, *tb;
        /* a few transactions per round: the chain goes on across commits */
        for (size_t i0 = 0; i0 < REC_PERSONS; i0 += 32) {
            assert_int_equal(hd_store_begin(sa, true, &ta, &err), 0);
            assert_int_equal(hd_store_begin(sb, true, &tb, &err), 0);
            for (size_t i = i0; i < i0 + 32 && i < REC_PERSONS; i++)
                for (int e = 0; e < 2; e++, j++) {
                    uint8_t ch = e ? fx->ch_push : fx->ch_email, key[11], dig[32];
                    char msgid[HD_MSGID_MAX];
                    struct hd_proof_pre pre, copy;
                    struct hd_delivery_rec r = rec_outcome(j, dig);
                    rec_key(fx, i, ch, key);
                    rec_msgid(fx, i, ch, msgid);
                    assert_int_equal(hd_proofs_delivery(pa, ta, sa, key, &r, &err), 0);
                    assert_int_equal(hd_proofs_prepare(pb, &fx->persons[i], ch, fx->urls[i],
                                                       strlen(fx->urls[i]), msgid, &pre, &err),
                                     0);
                    /* only the used head of a pre is read: a copy of it will do */
                    size_t used = offsetof(struct hd_proof_pre, text) + pre.end[6];
                    assert_true(used <= sizeof pre);
                    memset(&copy, 0xA5, sizeof copy);
                    memcpy(&copy, &pre, used);
                    assert_int_equal(hd_proofs_delivery_pre(pb, tb, sb, key, &r, &copy, &err), 0);
                }
            assert_int_equal(hd_store_commit(ta, &err), 0);
            assert_int_equal(hd_store_commit(tb, &err), 0);
        }
    }
    size_t n = rec_all(sa, &all_a);
    assert_int_equal(n, (size_t)REC_ROUNDS * REC_PERSONS * 2);
    assert_int_equal(rec_all(sb, &all_b), n);
    assert_int_equal(all_a.len, all_b.len);
    assert_memory_equal(all_a.data, all_b.data, all_a.len);

    /* and each is what hd_proof_format makes of the same inputs */
    const char *line = all_b.data;
    j = 0;
    for (int round = 0; round < REC_ROUNDS; round++)
        for (size_t i = 0; i < REC_PERSONS; i++)
            for (int e = 0; e < 2; e++, j++) {
                uint8_t ch = e ? fx->ch_push : fx->ch_email, dig[32];
                struct hd_delivery_rec r = rec_outcome(j, dig);
                rec_expected(fx, i, ch, &r, j, j ? prev : NULL, &want);
                if (strcmp(line, want.data) != 0) {
                    print_error("record %zu (person %zu, channel %u):\n got %s\nwant %s\n", j, i,
                                ch, line, want.data);
                    fail();
                }
                hd_merkle_leaf_hash(&h, line, strlen(line), prev);
                line += strlen(line) + 1;
            }
    hd_merkle_hasher_free(&h);
    hd_buf_release(&all_a);
    hd_buf_release(&all_b);
    hd_buf_release(&want);
    hd_proofs_close(pa);
    hd_proofs_close(pb);
    hd_store_close(sa);
    hd_store_close(sb);
    rec_fixture_free(fx);
    free(fx);
    hd_test_rmtree(dir);
}

/* True when one of the NUL-separated records in all holds needle. */
static bool rec_any(const struct hd_buf *all, const char *needle)
{
    for (const char *rec = all->data; rec < all->data + all->len; rec += strlen(rec) + 1)
        if (strstr(rec, needle) != NULL)
            return true;
    return false;
}

/* Free text never carries the person's identifiers (issue 10, finding 4):
 * a render failure's reason that names the person and quotes the address,
 * a push service's reply that echoes the token (in capitals), a relay's
 * reply that names the local part, a provider id and an event that hold
 * the id. Both paths: hd_proofs_delivery (render failures: reads the
 * person) and hd_proofs_prepare + hd_proofs_delivery_pre. */
static void test_proof_scrub_free_text(void **state)
{
    struct rec_fixture *fx = malloc(sizeof *fx);
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    struct hd_proofs *p;
    struct hd_buf all = HD_BUF_INIT, reason = HD_BUF_INIT, reply = HD_BUF_INIT;
    uint8_t key[11], dig[32] = {0};
    char msgid[HD_MSGID_MAX], local[64];
    MDB_txn *txn;
    (void)state;
    rec_fixture_init(fx);
    struct hd_store *s = rec_store(dir, "s", fx);
    assert_int_equal(hd_proofs_open(&p, fx->c, &fx->secret, &err), 0);
    const size_t who[] = {7, 9, 12}; /* ids p-..., with an email and a push token */
    assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
    for (size_t w = 0; w < sizeof who / sizeof who[0]; w++) {
        const struct hd_person_rec *ps = &fx->persons[who[w]];
        assert_true(ps->email_len > 0 && ps->push_token_len > 0);
        snprintf(local, sizeof local, "%.*s", (int)(strchr(ps->email, '@') - ps->email), ps->email);
        hd_buf_reset(&reason);
        hd_buf_printf(&reason, "person \"%s\": bad email address \"%s\": invalid", ps->id,
                      ps->email);
        hd_buf_reset(&reply);
        hd_buf_printf(&reply, "{\"error\":\"Unregistered\",\"token\":\"%s\"} user %s (%s)",
                      ps->push_token, local, ps->id);
        for (char *c = strstr(reply.data, "tok-"); c && *c != '"'; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        for (uint8_t ch = 0; ch < 2; ch++) {
            uint8_t c = ch ? fx->ch_push : fx->ch_email;
            struct hd_delivery_rec r = rec_outcome(1, dig);
            char ev[80];
            rec_key(fx, who[w], c, key);
            if (ch == 0) { /* a render failure, recorded as dispatch does */
                r.event = "render.failed";
                r.response = reason.data;
                r.response_len = (uint16_t)reason.len;
                r.provider_id_len = 0;
                assert_int_equal(hd_proofs_delivery(p, txn, s, key, &r, &err), 0);
                continue;
            }
            snprintf(ev, sizeof ev, "rejected-%s", ps->id);
            r.event = ev;
            r.event_len = (uint16_t)strlen(ev);
            r.provider_id = ps->push_token;
            r.provider_id_len = ps->push_token_len;
            r.response = reply.data;
            r.response_len = (uint16_t)reply.len;
            struct hd_proof_pre pre;
            rec_msgid(fx, who[w], c, msgid);
            assert_int_equal(hd_proofs_prepare(p, ps, c, fx->urls[who[w]], strlen(fx->urls[who[w]]),
                                               msgid, &pre, &err),
                             0);
            assert_int_equal(hd_proofs_delivery_pre(p, txn, s, key, &r, &pre, &err), 0);
        }
    }
    assert_int_equal(hd_store_commit(txn, &err), 0);
    size_t n = rec_all(s, &all);
    assert_int_equal(n, 6);
    /* folded copy of every record, searched for every identifier folded */
    for (size_t i = 0; i < all.len; i++)
        all.data[i] =
            (char)(all.data[i] >= 'A' && all.data[i] <= 'Z' ? all.data[i] + 32 : all.data[i]);
    for (size_t w = 0; w < sizeof who / sizeof who[0]; w++) {
        const struct hd_person_rec *ps = &fx->persons[who[w]];
        char needles[4][128];
        snprintf(needles[0], sizeof needles[0], "%s", ps->id);
        snprintf(needles[1], sizeof needles[1], "%s", ps->email);
        snprintf(needles[2], sizeof needles[2], "%.*s", (int)(strchr(ps->email, '@') - ps->email),
                 ps->email);
        snprintf(needles[3], sizeof needles[3], "%s", ps->push_token);
        for (int k = 0; k < 4; k++) {
            for (char *c = needles[k]; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            for (const char *rec = all.data; rec < all.data + all.len; rec += strlen(rec) + 1) {
                /* the free text: event, response (hex pseudonyms may hold
                 * a short local part by chance) */
                char text[2048];
                const char *ev = strstr(rec, "\"event\":"), *re = strstr(rec, "\"response\":");
                assert_true(ev && re);
                snprintf(text, sizeof text, "%.*s %.*s", (int)strcspn(ev + 9, ","), ev + 9,
                         (int)(strstr(re, "},\"seq\"") - re), re);
                if (strstr(text, needles[k]) != NULL) {
                    print_error("\"%s\" in clear: %s\n", needles[k], rec);
                    fail();
                }
            }
        }
    }
    /* what is left says what happened */
    assert_true(rec_any(&all, "\"event\":\"render.failed\""));
    assert_true(rec_any(&all, "person \\\"[value]\\\": bad email address"));
    assert_true(rec_any(&all, "\"event\":\"rejected-_id_\""));
    assert_true(rec_any(&all, "\"provider_id\":\"[token]\""));
    assert_true(
        rec_any(&all, "\\\"unregistered\\\",\\\"token\\\":\\\"[token]\\\"} user [address] ([id])"));
    hd_buf_release(&all);
    hd_buf_release(&reason);
    hd_buf_release(&reply);
    hd_proofs_close(p);
    hd_store_close(s);
    rec_fixture_free(fx);
    free(fx);
    hd_test_rmtree(dir);
}

/* The writer keeps the last record's leaf hash for the next prev: an
 * aborted transaction, or another recorder writing in between, must not
 * break the chain. A pre of another recorder, another channel, or none is
 * refused. */
static void test_proof_delivery_pre_chain_and_refusals(void **state)
{
    struct rec_fixture *fx = malloc(sizeof *fx);
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    struct hd_proofs *pa, *pb, *other;
    struct hd_buf all = HD_BUF_INIT;
    struct hd_proof_pre pre, zero;
    uint8_t key[11], dig[32];
    char msgid[HD_MSGID_MAX];
    MDB_txn *txn;
    (void)state;
    rec_fixture_init(fx);
    struct hd_store *s = rec_store(dir, "s", fx);
    assert_int_equal(hd_proofs_open(&pa, fx->c, &fx->secret, &err), 0);
    assert_int_equal(hd_proofs_open(&pb, fx->c, &fx->secret, &err), 0);
    setenv("HERALD_PSEUDONYM_KEY", "another-pseudonym-key-9876543210", 1);
    assert_int_equal(hd_proofs_open(&other, fx->c, &fx->secret, &err), 0);
    setenv("HERALD_PSEUDONYM_KEY", KEY, 1);

    for (size_t j = 0; j < 40; j++) {
        size_t i = j % REC_PERSONS;
        uint8_t ch = j % 2 ? fx->ch_push : fx->ch_email;
        struct hd_delivery_rec r = rec_outcome(j, dig);
        rec_key(fx, i, ch, key);
        rec_msgid(fx, i, ch, msgid);
        assert_int_equal(hd_proofs_prepare(pa, &fx->persons[i], ch, fx->urls[i],
                                           strlen(fx->urls[i]), msgid, &pre, &err),
                         0);
        assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
        /* the two recorders take turns: each one's kept hash is stale */
        struct hd_proofs *p = j % 3 == 0 ? pb : pa;
        assert_int_equal(hd_proofs_delivery_pre(p, txn, s, key, &r, &pre, &err), 0);
        if (j % 4 == 1) {
            /* a record written and aborted, then another outcome in its place */
            assert_int_equal(hd_proofs_delivery_pre(p, txn, s, key, &r, &pre, &err), 0);
            mdb_txn_abort(txn);
            assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
            r.state = HD_DS_FAILED;
            r.last_change_ms += 5;
            assert_int_equal(hd_proofs_delivery_pre(p, txn, s, key, &r, &pre, &err), 0);
        }
        assert_int_equal(hd_store_commit(txn, &err), 0);
    }
    assert_int_equal(rec_all(s, &all), 40); /* one per turn: the aborted ones are gone */

    /* refusals: nothing is written */
    struct hd_delivery_rec r = rec_outcome(1, dig);
    rec_key(fx, 8, fx->ch_email, key);
    rec_msgid(fx, 8, fx->ch_email, msgid);
    assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
    memset(&zero, 0, sizeof zero);
    zero.ch = fx->ch_email;
    assert_int_equal(hd_proofs_delivery_pre(pa, txn, s, key, &r, &zero, &err), -1);
    assert_int_equal(err.code, HD_EX_SOFTWARE);
    assert_int_equal(hd_proofs_prepare(other, &fx->persons[8], fx->ch_email, fx->urls[8],
                                       strlen(fx->urls[8]), msgid, &pre, &err),
                     0);
    assert_int_equal(hd_proofs_delivery_pre(pa, txn, s, key, &r, &pre, &err), -1);
    assert_int_equal(err.code, HD_EX_SOFTWARE);
    assert_int_equal(hd_proofs_prepare(pa, &fx->persons[8], fx->ch_push, fx->urls[8],
                                       strlen(fx->urls[8]), msgid, &pre, &err),
                     0);
    assert_int_equal(hd_proofs_delivery_pre(pa, txn, s, key, &r, &pre, &err), -1); /* channel */
    assert_int_equal(err.code, HD_EX_SOFTWARE);
    pre.end[2] = 3000; /* damaged */
    key[10] = fx->ch_push;
    assert_int_equal(hd_proofs_delivery_pre(pa, txn, s, key, &r, &pre, &err), -1);
    assert_int_equal(hd_proofs_prepare(pa, &fx->persons[8], 9, fx->urls[8], strlen(fx->urls[8]),
                                       msgid, &pre, &err),
                     -1);
    assert_non_null(strstr(err.msg, "unknown channel"));
    assert_int_equal(pre.tag, 0);
    assert_int_equal(hd_proofs_prepare(pa, &fx->persons[8], fx->ch_email, fx->urls[8],
                                       strlen(fx->urls[8]), NULL, &pre, &err),
                     -1);
    /* a message id too long for any record */
    char *big = malloc(4000);
    memset(big, 'm', 3999);
    big[3999] = '\0';
    assert_int_equal(hd_proofs_prepare(pa, &fx->persons[8], fx->ch_email, fx->urls[8],
                                       strlen(fx->urls[8]), big, &pre, &err),
                     -1);
    assert_int_equal(err.code, HD_EX_SOFTWARE);
    free(big);
    assert_int_equal(hd_store_commit(txn, &err), 0);
    assert_int_equal(rec_all(s, &all), 40);

    hd_buf_release(&all);
    hd_proofs_close(pa);
    hd_proofs_close(pb);
    hd_proofs_close(other);
    hd_store_close(s);
    rec_fixture_free(fx);
    free(fx);
    hd_test_rmtree(dir);
}

struct prep_thread {
    const struct rec_fixture *fx;
    const struct hd_proofs *p;
    struct hd_proof_pre *out; /* REC_PERSONS * 2 */
    int failures;
};

static void prep_all(const struct rec_fixture *fx, const struct hd_proofs *p,
                     struct hd_proof_pre *out, int *failures)
{
    for (size_t i = 0; i < REC_PERSONS; i++)
        for (int e = 0; e < 2; e++) {
            uint8_t ch = e ? fx->ch_push : fx->ch_email;
            char msgid[HD_MSGID_MAX];
            struct hd_err err = {0};
            rec_msgid(fx, i, ch, msgid);
            *failures += hd_proofs_prepare(p, &fx->persons[i], ch, fx->urls[i], strlen(fx->urls[i]),
                                           msgid, &out[2 * i + (size_t)e], &err) != 0;
        }
}

static void *prep_thread_main(void *arg)
{
    struct prep_thread *t = arg;
    for (int rep = 0; rep < 20; rep++)
        prep_all(t->fx, t->p, t->out, &t->failures);
    return NULL;
}

/* hd_proofs_prepare on one recorder from two threads at once, while the
 * writer records with it: the same results as one thread alone. */
static void test_proof_prepare_threads(void **state)
{
    struct rec_fixture *fx = malloc(sizeof *fx);
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    struct hd_proofs *p;
    size_t n = REC_PERSONS * 2;
    struct hd_proof_pre *ref = calloc(n, sizeof *ref);
    struct prep_thread t[2];
    pthread_t tid[2];
    int failures = 0;
    (void)state;
    rec_fixture_init(fx);
    struct hd_store *s = rec_store(dir, "s", fx);
    assert_int_equal(hd_proofs_open(&p, fx->c, &fx->secret, &err), 0);
    prep_all(fx, p, ref, &failures);
    assert_int_equal(failures, 0);
    for (int k = 0; k < 2; k++) {
        t[k] = (struct prep_thread){fx, p, calloc(n, sizeof *ref), 0};
        assert_int_equal(pthread_create(&tid[k], NULL, prep_thread_main, &t[k]), 0);
    }
    /* the writer, meanwhile */
    for (size_t j = 0; j < 3 * n; j++) {
        MDB_txn *txn;
        uint8_t key[11], dig[32];
        size_t i = (j / 2) % REC_PERSONS;
        uint8_t ch = j % 2 ? fx->ch_push : fx->ch_email;
        struct hd_delivery_rec r = rec_outcome(j, dig);
        rec_key(fx, i, ch, key);
        assert_int_equal(hd_store_begin(s, true, &txn, &err), 0);
        assert_int_equal(hd_proofs_delivery_pre(p, txn, s, key, &r, &ref[j % n], &err), 0);
        assert_int_equal(hd_store_commit(txn, &err), 0);
    }
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pthread_join(tid[k], NULL), 0);
        assert_int_equal(t[k].failures, 0);
        for (size_t i = 0; i < n; i++)
            assert_memory_equal(&t[k].out[i], &ref[i], sizeof ref[i]);
        free(t[k].out);
    }
    struct hd_buf all = HD_BUF_INIT;
    assert_int_equal(rec_all(s, &all), 3 * n);
    hd_buf_release(&all);
    free(ref);
    hd_proofs_close(p);
    hd_store_close(s);
    rec_fixture_free(fx);
    free(fx);
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
        cmocka_unit_test(test_proof_pubkey_malformed),
        cmocka_unit_test(test_proof_each_record_batches),
        cmocka_unit_test(test_proof_timestamps),
        cmocka_unit_test(test_proof_escape_every_position),
        cmocka_unit_test(test_proof_prepare_same_records),
        cmocka_unit_test(test_proof_delivery_pre_chain_and_refusals),
        cmocka_unit_test(test_proof_scrub_free_text),
        cmocka_unit_test(test_proof_prepare_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
