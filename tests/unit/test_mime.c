/* Unit tests for the MIME builder (core/render/mime.c). The checks parse the
 * message back independently: with the test MIME reader (tests/support/
 * mime_read.h: header unfolding, RFC 2047 decoding with OpenSSL's
 * EVP_DecodeBlock, a small quoted-printable decoder), and once with
 * Python's email package. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "hd_test.h"
#include "mime_read.h"
#include "herald/audience.h"
#include "herald/mime.h"

#define MSGID "0123456789abcdef0123456789abcdef@lumen.example"
#define DATE_2025 1750924800 /* 2025-06-26T08:00:00Z */

static const char de_subject[] =
    "So nutzt Lumen Ihre Informationen f\xc3\xbcr KI \xe2\x80\x93 und wie Sie der Nutzung "
    "jederzeit widersprechen k\xc3\xb6nnen, ganz ohne Angabe von Gr\xc3\xbcnden";
static const char el_subject[] =
    "\xce\xa0\xcf\x8e\xcf\x82 \xce\xb7 Lumen \xce\xb8\xce\xb1 \xcf\x87\xcf\x81\xce\xb7\xcf\x83"
    "\xce\xb9\xce\xbc\xce\xbf\xcf\x80\xce\xbf\xce\xb9\xce\xb5\xce\xaf \xcf\x84\xce\xb9\xcf\x82 "
    "\xcf\x80\xce\xbb\xce\xb7\xcf\x81\xce\xbf\xcf\x86\xce\xbf\xcf\x81\xce\xaf\xce\xb5\xcf\x82 "
    "\xcf\x83\xce\xb1\xcf\x82 \xce\xb3\xce\xb9\xce\xb1 \xcf\x84\xce\xb7\xce\xbd \xce\xa4\xce\x9d "
    "\xce\xba\xce\xb1\xce\xb9 \xcf\x80\xcf\x8e\xcf\x82 \xce\xbc\xcf\x80\xce\xbf\xcf\x81\xce\xb5"
    "\xce\xaf\xcf\x84\xce\xb5 \xce\xbd\xce\xb1 \xce\xb5\xce\xbd\xce\xb1\xce\xbd\xcf\x84\xce\xb9"
    "\xcf\x89\xce\xb8\xce\xb5\xce\xaf\xcf\x84\xce\xb5";

static const char de_text[] =
    "Guten Tag,\n\nwir m\xc3\xb6"
    "chten Sie dar\xc3\xbc"
    "ber informieren, wie Lumen "
    "Informationen, die Menschen in unseren Produkten \xc3\xb6"
    "ffentlich teilen, nutzen "
    "wird, um KI bei Lumen zu entwickeln und zu verbessern \xe2\x80\x93 also unsere "
    "KI-Funktionen und die Modelle dahinter.\n\nIhr Widerspruchsrecht\n"
    "https://privacy.lumen.example/ai/object?p=p-000001&t=abcdefghijklmnopqrstuv\n\n"
    "Ihr Lumen-Team\n";
static const char de_html[] =
    "<p>Guten Tag,</p>\n<p>wir m\xc3\xb6"
    "chten Sie dar\xc3\xbc"
    "ber informieren, wie Lumen "
    "Informationen nutzen wird.</p>\n<p><a "
    "href=\"https://privacy.lumen.example/ai/object?p=p-000001&amp;t=abc\">Formular</a></p>\n";
static const char el_text[] =
    "\xce\x93\xce\xb5\xce\xb9\xce\xb1 \xcf\x83\xce\xb1\xcf\x82,\n\n\xce\x98\xce\xb1 \xce\xb8"
    "\xce\xad\xce\xbb\xce\xb1\xce\xbc\xce\xb5 \xce\xbd\xce\xb1 \xcf\x83\xce\xb1\xcf\x82 \xce\xb5"
    "\xce\xbd\xce\xb7\xce\xbc\xce\xb5\xcf\x81\xcf\x8e\xcf\x83\xce\xbf\xcf\x85\xce\xbc\xce\xb5 "
    "\xce\xb3\xce\xb9\xce\xb1 \xcf\x84\xce\xbf \xcf\x80\xcf\x8e\xcf\x82 \xce\xb7 Lumen \xce\xb8"
    "\xce\xb1 \xcf\x87\xcf\x81\xce\xb7\xcf\x83\xce\xb9\xce\xbc\xce\xbf\xcf\x80\xce\xbf\xce\xb9"
    "\xce\xb5\xce\xaf \xcf\x84\xce\xb9\xcf\x82 \xcf\x80\xce\xbb\xce\xb7\xcf\x81\xce\xbf\xcf\x86"
    "\xce\xbf\xcf\x81\xce\xaf\xce\xb5\xcf\x82.\r\n\r\n\xce\x97 \xce\xbf\xce\xbc\xce\xac\xce\xb4"
    "\xce\xb1 \xcf\x84\xce\xb7\xcf\x82 Lumen\n";
static const char el_html[] =
    "<p>\xce\x93\xce\xb5\xce\xb9\xce\xb1 \xcf\x83\xce\xb1\xcf\x82,</p>\n<p>\xce\x98\xce\xb1 "
    "\xce\xb8\xce\xad\xce\xbb\xce\xb1\xce\xbc\xce\xb5 \xce\xbd\xce\xb1 \xcf\x83\xce\xb1\xcf\x82 "
    "\xce\xb5\xce\xbd\xce\xb7\xce\xbc\xce\xb5\xcf\x81\xcf\x8e\xcf\x83\xce\xbf\xcf\x85\xce\xbc"
    "\xce\xb5 \xce\xb3\xce\xb9\xce\xb1 \xcf\x84\xce\xbf \xcf\x80\xcf\x8e\xcf\x82 \xcf\x87\xcf"
    "\x81\xce\xb7\xcf\x83\xce\xb9\xce\xbc\xce\xbf\xcf\x80\xce\xbf\xce\xb9\xce\xb5\xce\xaf.</p>\n";
static const char bg_text[] =
    "\xd0\x97\xd0\xb4\xd1\x80\xd0\xb0\xd0\xb2\xd0\xb5\xd0\xb9\xd1\x82\xd0\xb5,\n\n\xd0\x98\xd1"
    "\x81\xd0\xba\xd0\xb0\xd0\xbc\xd0\xb5 \xd0\xb4\xd0\xb0 \xd0\x92\xd0\xb8 \xd0\xb8\xd0\xbd\xd1"
    "\x84\xd0\xbe\xd1\x80\xd0\xbc\xd0\xb8\xd1\x80\xd0\xb0\xd0\xbc\xd0\xb5 \xd0\xba\xd0\xb0\xd0"
    "\xba Lumen \xd1\x89\xd0\xb5 \xd0\xb8\xd0\xb7\xd0\xbf\xd0\xbe\xd0\xbb\xd0\xb7\xd0\xb2\xd0\xb0 "
    "\xd0\xb8\xd0\xbd\xd1\x84\xd0\xbe\xd1\x80\xd0\xbc\xd0\xb0\xd1\x86\xd0\xb8\xd1\x8f\xd1\x82"
    "\xd0\xb0.\n";
static const char bg_html[] =
    "<p>\xd0\x97\xd0\xb4\xd1\x80\xd0\xb0\xd0\xb2\xd0\xb5\xd0\xb9\xd1\x82\xd0\xb5,</p>\n<p>\xd0"
    "\x98\xd1\x81\xd0\xba\xd0\xb0\xd0\xbc\xd0\xb5 \xd0\xb4\xd0\xb0 \xd0\x92\xd0\xb8 \xd0\xb8\xd0"
    "\xbd\xd1\x84\xd0\xbe\xd1\x80\xd0\xbc\xd0\xb8\xd1\x80\xd0\xb0\xd0\xbc\xd0\xb5.</p>\n";

/* ---- independent parsing helpers ------------------------------------------ */

static struct hd_mime_email email_de(void)
{
    struct hd_mime_email m;
    memset(&m, 0, sizeof m);
    m.from_name = "Lumen Privacy";
    m.from_addr = "privacy@lumen.example";
    m.to_name = "Anna Schmidt";
    m.to_addr = "anna.schmidt@example.de";
    m.subject = de_subject;
    m.text = de_text;
    m.text_len = strlen(de_text);
    m.html = de_html;
    m.html_len = strlen(de_html);
    m.message_id = MSGID;
    m.date = DATE_2025;
    m.language = "de";
    m.campaign_id = "ai-training-notice-2025";
    return m;
}

static struct hd_buf build_ok(const struct hd_mime_email *m)
{
    struct hd_buf out = HD_BUF_INIT;
    struct hd_err err = {0, ""};
    int rc = hd_mime_build(m, &out, &err);
    if (rc != 0)
        fail_msg("hd_mime_build: %s", err.msg);
    return out;
}

/* Number of physical lines of a header. */
static int header_lines(const char *m, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = m;
    while (*p && !(p[0] == '\r' && p[1] == '\n')) {
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            int n = 1;
            const char *q = strstr(p, "\r\n") + 2;
            while (*q == ' ' || *q == '\t') {
                n++;
                q = strstr(q, "\r\n") + 2;
            }
            return n;
        }
        p = strstr(p, "\r\n") + 2;
    }
    return 0;
}

static void normalise(const char *s, size_t n, struct hd_buf *out)
{
    hd_buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            assert_int_equal(hd_buf_append(out, "\r\n", 2), 0);
        } else {
            assert_int_equal(hd_buf_putc(out, s[i]), 0);
        }
    }
}

/* Every line ends in CRLF, none passes 998; header lines stay within 78
 * and every line after the header section within 76. */
static void check_lines(const struct hd_buf *b)
{
    size_t start = 0;
    bool in_header = true;
    assert_true(b->len >= 2 && memcmp(b->data + b->len - 2, "\r\n", 2) == 0);
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];
        if (c == '\r') {
            assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
            size_t len = i - start;
            assert_true(len <= 998);
            if (in_header)
                assert_true(len <= 78);
            else
                assert_true(len <= 76);
            if (len == 0)
                in_header = false;
            start = i + 2;
            i++;
        } else {
            assert_true(c != '\n');
            assert_true(c != '\0');
        }
    }
}

static void assert_roundtrip(const struct hd_mime_email *m)
{
    struct hd_buf out = build_ok(m), norm = HD_BUF_INIT;
    struct hd_test_mime_part parts[2];
    char v[2048], dec[2048];
    check_lines(&out);
    assert_true(hd_test_mime_header_get(out.data, "Subject", v, sizeof v));
    hd_test_mime_decode_words(v, dec, sizeof dec);
    assert_string_equal(dec, m->subject);
    hd_test_mime_get_parts(out.data, parts);
    assert_string_equal(parts[0].type, "text/plain; charset=utf-8");
    assert_string_equal(parts[1].type, "text/html; charset=utf-8");
    normalise(m->text, m->text_len, &norm);
    assert_int_equal(parts[0].body.len, norm.len);
    assert_memory_equal(parts[0].body.data, norm.data, norm.len);
    normalise(m->html, m->html_len, &norm);
    assert_int_equal(parts[1].body.len, norm.len);
    assert_memory_equal(parts[1].body.data, norm.data, norm.len);
    hd_test_mime_release_parts(parts);
    hd_buf_release(&norm);
    hd_buf_release(&out);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_mime_header_order_and_fixed_fields(void **state)
{
    static const char *const order[] = {"Date:",
                                        "From:",
                                        "To:",
                                        "Subject:",
                                        "Message-ID:",
                                        "MIME-Version: 1.0",
                                        "Content-Language: de",
                                        "X-Herald-Campaign: ai-training-notice-2025",
                                        "Auto-Submitted: auto-generated",
                                        "Content-Type: multipart/alternative;"};
    struct hd_mime_email m = email_de();
    struct hd_buf out = build_ok(&m);
    const char *p = out.data;
    char v[256];
    (void)state;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        assert_memory_equal(p, order[i], strlen(order[i]));
        p = strstr(p, "\r\n") + 2;
        while (*p == ' ')
            p = strstr(p, "\r\n") + 2;
    }
    assert_memory_equal(p, "\r\n", 2);
    assert_true(hd_test_mime_header_get(out.data, "Message-ID", v, sizeof v));
    assert_string_equal(v, "<" MSGID ">");
    assert_true(hd_test_mime_header_get(out.data, "From", v, sizeof v));
    assert_string_equal(v, "Lumen Privacy <privacy@lumen.example>");
    assert_true(hd_test_mime_header_get(out.data, "To", v, sizeof v));
    assert_string_equal(v, "Anna Schmidt <anna.schmidt@example.de>");
    assert_true(hd_test_mime_header_get(out.data, "Content-Type", v, sizeof v));
    assert_non_null(strstr(v, "boundary=\"=_herald_"));
    assert_null(strstr(out.data, "List-Unsubscribe"));
    hd_buf_release(&out);
}

static void test_mime_lines_end_crlf_within_limits(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_buf out;
    (void)state;
    out = build_ok(&m);
    check_lines(&out);
    hd_buf_release(&out);
    m.subject = el_subject;
    m.text = el_text;
    m.text_len = strlen(el_text);
    m.html = el_html;
    m.html_len = strlen(el_html);
    out = build_ok(&m);
    check_lines(&out);
    hd_buf_release(&out);
}

static void test_mime_folds_long_german_subject(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_buf out = build_ok(&m);
    char v[1024], dec[1024];
    (void)state;
    check_lines(&out);
    assert_true(header_lines(out.data, "Subject") >= 3);
    assert_true(hd_test_mime_header_get(out.data, "Subject", v, sizeof v));
    assert_memory_equal(v, "=?UTF-8?B?", 10);
    hd_test_mime_decode_words(v, dec, sizeof dec);
    assert_string_equal(dec, de_subject);
    hd_buf_release(&out);
}

static void test_mime_folds_long_greek_subject(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_buf out;
    char v[2048], dec[2048];
    (void)state;
    m.subject = el_subject;
    out = build_ok(&m);
    check_lines(&out);
    assert_true(header_lines(out.data, "Subject") >= 4);
    assert_true(hd_test_mime_header_get(out.data, "Subject", v, sizeof v));
    hd_test_mime_decode_words(v, dec, sizeof dec);
    assert_string_equal(dec, el_subject);
    hd_buf_release(&out);
}

static void test_mime_folds_long_ascii_subject_at_spaces(void **state)
{
    static const char subject[] =
        "How Lumen will use your information for AI, and how you can object to that use at any "
        "time, without giving a reason, using your personal form";
    struct hd_mime_email m = email_de();
    struct hd_buf out;
    char v[1024];
    (void)state;
    m.subject = subject;
    out = build_ok(&m);
    check_lines(&out);
    assert_true(header_lines(out.data, "Subject") >= 2);
    assert_true(hd_test_mime_header_get(out.data, "Subject", v, sizeof v));
    assert_string_equal(v, subject); /* unfolding restores it exactly */
    hd_buf_release(&out);
}

static void test_mime_encoded_words_never_split_characters(void **state)
{
    /* Mixed widths: 1, 2, 3 and 4-byte characters at every alignment. */
    static const char *const subjects[] = {
        "\xf0\x9f\x94\x92 \xe2\x82\xac\xc3\xa9\xf0\x9f\x94\x92\xe2\x82\xac\xc3\xa9"
        "a\xf0\x9f\x94"
        "\x92\xe2\x82\xac\xc3\xa9\xf0\x9f\x94\x92\xe2\x82\xac\xc3\xa9\xf0\x9f\x94\x92\xe2\x82\xac"
        "\xc3\xa9\xf0\x9f\x94\x92\xe2\x82\xac\xc3\xa9\xf0\x9f\x94\x92\xe2\x82\xac\xc3\xa9\xf0\x9f"
        "\x94\x92\xe2\x82\xac\xc3\xa9\xf0\x9f\x94\x92\xe2\x82\xac\xc3\xa9\xf0\x9f\x94\x92",
        "  leading and trailing spaces  ",
        "looks like =?UTF-8?B?YQ==?= an encoded word",
        "a_very_long_ascii_word_that_cannot_be_folded_anywhere_because_it_has_no_spaces_at_all",
        "\xc3\xa9",
    };
    char buf[64];
    (void)state;
    for (size_t s = 0; s < sizeof subjects / sizeof subjects[0]; s++) {
        struct hd_mime_email m = email_de();
        m.subject = subjects[s];
        assert_roundtrip(&m);
        /* And at every prefix length of the first, to move boundaries. */
    }
    for (size_t n = 1; n < strlen(subjects[0]); n++) {
        struct hd_mime_email m = email_de();
        size_t k = n;
        while (k > 0 && ((unsigned char)subjects[0][k] & 0xC0) == 0x80)
            k--;
        if (k == 0 || k >= sizeof buf)
            continue;
        memcpy(buf, subjects[0], k);
        buf[k] = '\0';
        m.subject = buf;
        assert_roundtrip(&m);
    }
}

static void test_mime_display_names(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_buf out;
    char v[512], dec[512];
    (void)state;
    m.to_name = "Schmidt, Anna \"Annie\" \\ Dr.";
    m.from_name = "J\xc3\xbcrgen M\xc3\xbcller";
    out = build_ok(&m);
    check_lines(&out);
    assert_true(hd_test_mime_header_get(out.data, "To", v, sizeof v));
    assert_string_equal(v, "\"Schmidt, Anna \\\"Annie\\\" \\\\ Dr.\" <anna.schmidt@example.de>");
    assert_true(hd_test_mime_header_get(out.data, "From", v, sizeof v));
    assert_memory_equal(v, "=?UTF-8?B?", 10);
    hd_test_mime_decode_words(v, dec, sizeof dec);
    assert_string_equal(dec, "J\xc3\xbcrgen M\xc3\xbcller <privacy@lumen.example>");
    hd_buf_release(&out);

    m = email_de();
    m.to_name = NULL;
    m.from_name = "";
    out = build_ok(&m);
    assert_true(hd_test_mime_header_get(out.data, "To", v, sizeof v));
    assert_string_equal(v, "anna.schmidt@example.de");
    assert_true(hd_test_mime_header_get(out.data, "From", v, sizeof v));
    assert_string_equal(v, "privacy@lumen.example");
    hd_buf_release(&out);
}

static void test_mime_qp_roundtrip(void **state)
{
    struct hd_buf body = HD_BUF_INIT;
    (void)state;
    /* Long lines, '=' signs, trailing spaces and tabs, lines of exactly 75,
     * 76 and 77 characters, mixed line ends, a lone CR, umlauts at the
     * wrapping column, no final newline. */
    hd_buf_puts(&body, "a=b==c trailing space \ntrailing tab\t\r\n\n");
    for (int len = 70; len <= 80; len++) {
        for (int i = 0; i < len; i++)
            hd_buf_putc(&body, (char)('a' + i % 26));
        hd_buf_puts(&body, "\n");
        for (int i = 0; i < len; i++)
            hd_buf_puts(&body, i % 7 == 6 ? "\xc3\xbc" : "x");
        hd_buf_puts(&body, len % 2 ? " \n" : "\r\n"); /* trailing space on odd */
    }
    hd_buf_puts(&body, "lone\rCR and a very long line: ");
    for (int i = 0; i < 300; i++)
        hd_buf_puts(&body, i % 5 == 0 ? "= " : "w");
    hd_buf_puts(&body, "   ");
    struct hd_mime_email m = email_de();
    m.text = body.data;
    m.text_len = body.len;
    assert_roundtrip(&m);
    /* Every prefix, so the end of the body meets every case. */
    for (size_t n = 0; n < 200; n++) {
        m.text_len = n;
        assert_roundtrip(&m);
    }
    hd_buf_release(&body);
}

static void test_mime_base64_roundtrip(void **state)
{
    struct hd_buf body = HD_BUF_INIT;
    struct hd_mime_email m = email_de();
    (void)state;
    /* Line breaks at every offset around the 57-byte line boundary. */
    for (int i = 0; i < 200; i++) {
        hd_buf_puts(&body, "\xce\xb1\xce\xb2");
        if (i % 3 == 0)
            hd_buf_puts(&body, i % 2 ? "\n" : "\r\n");
        if (i % 17 == 0)
            hd_buf_puts(&body, "\r");
    }
    m.text = body.data;
    m.text_len = body.len;
    m.html = el_html;
    m.html_len = strlen(el_html);
    for (size_t n = body.len; n > body.len - 130; n--) {
        m.text_len = n;
        while (m.text_len > 0 && ((unsigned char)body.data[m.text_len] & 0xC0) == 0x80)
            m.text_len--;
        assert_roundtrip(&m);
    }
    /* A line break whose CR ends one 57-byte base64 line and whose LF
     * starts the next, and every offset around it. */
    for (size_t pre = 50; pre < 64; pre++) {
        hd_buf_reset(&body);
        for (size_t i = 0; i < pre; i++)
            hd_buf_putc(&body, (char)0xCE);
        hd_buf_puts(&body, pre % 2 ? "\n" : "\r\n");
        for (size_t i = 0; i < 120; i++)
            hd_buf_putc(&body, (char)(0xB0 + i % 16));
        hd_buf_puts(&body, "\r");
        m.text = body.data;
        m.text_len = body.len;
        assert_roundtrip(&m);
    }
    hd_buf_release(&body);
}

static void test_mime_chooses_base64_for_greek_and_bulgarian(void **state)
{
    struct {
        const char *text, *html, *cte;
    } cases[] = {
        {el_text, el_html, "base64"},
        {bg_text, bg_html, "base64"},
        {de_text, de_html, "quoted-printable"},
        {"plain ASCII\n", "<p>plain</p>", "quoted-printable"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hd_mime_email m = email_de();
        struct hd_buf out;
        struct hd_test_mime_part parts[2];
        m.text = cases[i].text;
        m.text_len = strlen(cases[i].text);
        m.html = cases[i].html;
        m.html_len = strlen(cases[i].html);
        out = build_ok(&m);
        hd_test_mime_get_parts(out.data, parts);
        assert_string_equal(parts[0].cte, cases[i].cte);
        assert_string_equal(parts[1].cte, cases[i].cte);
        hd_test_mime_release_parts(parts);
        hd_buf_release(&out);
        assert_roundtrip(&m);
    }
}

/* The expected Date computed from gmtime_r (fields only) and fixed names. */
static void expected_date(time_t t, char out[64])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void test_mime_date_english_whatever_locale(void **state)
{
    static const struct {
        int64_t t;
        const char *want;
    } known[] = {
        {DATE_2025, "Thu, 26 Jun 2025 08:00:00 +0000"},
        {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
        {-1, "Wed, 31 Dec 1969 23:59:59 +0000"},
        {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},
        {1709208000, "Thu, 29 Feb 2024 12:00:00 +0000"},
        {-2208988800LL, "Mon, 01 Jan 1900 00:00:00 +0000"},
        {253402300799LL, "Fri, 31 Dec 9999 23:59:59 +0000"},
    };
    struct hd_err err = {0, ""};
    struct hd_buf out = HD_BUF_INIT;
    char v[128], want[64];
    (void)state;
    (void)setlocale(LC_ALL, "de_DE.UTF-8"); /* may be missing; must not matter */
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        struct hd_mime_email m = email_de();
        m.date = known[i].t;
        out = build_ok(&m);
        assert_true(hd_test_mime_header_get(out.data, "Date", v, sizeof v));
        assert_string_equal(v, known[i].want);
        hd_buf_release(&out);
    }
    /* A spread of times against gmtime_r's fields. */
    for (int64_t t = -2208988800LL; t < 253402300799LL; t += 7777777777LL / 3) {
        struct hd_mime_email m = email_de();
        m.date = t;
        out = build_ok(&m);
        assert_true(hd_test_mime_header_get(out.data, "Date", v, sizeof v));
        expected_date((time_t)t, want);
        assert_string_equal(v, want);
        hd_buf_release(&out);
    }
    /* Years outside 1900-9999 are refused. */
    struct hd_mime_email m = email_de();
    m.date = 253402300800LL;
    assert_int_equal(hd_mime_build(&m, &out, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    hd_buf_release(&out);
    (void)setlocale(LC_ALL, "C");
}

static void expect_refused(const struct hd_mime_email *m)
{
    struct hd_buf out = HD_BUF_INIT;
    struct hd_err err = {0, ""};
    hd_buf_puts(&out, "keep");
    assert_int_equal(hd_mime_build(m, &out, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(out.data, "keep"); /* nothing appended */
    hd_buf_release(&out);
}

static void test_mime_refuses_header_injection(void **state)
{
    static const char *const bad[] = {
        "Hello\r\nBcc: victim@example.com",
        "Hello\nBcc: x@example.com",
        "Hello\rWorld",
        "tab\there",
        "nul-free but DEL \x7f",
        "C1 \xc2\x85 next line",
        "bad UTF-8 \xc3",
        "overlong \xc0\xaf",
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hd_mime_email m = email_de();
        m.subject = bad[i];
        expect_refused(&m);
        m = email_de();
        m.to_name = bad[i];
        expect_refused(&m);
        m = email_de();
        m.from_name = bad[i];
        expect_refused(&m);
        m = email_de();
        m.message_id = bad[i];
        expect_refused(&m);
        m = email_de();
        m.language = bad[i];
        expect_refused(&m);
        m = email_de();
        m.campaign_id = bad[i];
        expect_refused(&m);
    }
    static const char *const bad_addr[] = {
        "anna@example.de\r\nBcc: x@example.com", "anna@example.de\n",      "an\rna@example.de",
        "anna@example.de>, <x@example.com",      "Anna <anna@example.de>", "no-at-sign",
    };
    for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++) {
        struct hd_mime_email m = email_de();
        m.to_addr = bad_addr[i];
        expect_refused(&m);
        m = email_de();
        m.from_addr = bad_addr[i];
        expect_refused(&m);
    }
    struct hd_mime_email m = email_de();
    m.message_id = "<abc@example.com>";
    expect_refused(&m);
    m.message_id = "no-at-sign";
    expect_refused(&m);
}

static void test_mime_idn_recipient_domain_converted(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_err err = {0, ""};
    struct hd_buf out;
    char v[256], a[320];
    (void)state;
    assert_int_equal(hd_mime_ascii_address("anna@M\xc3\xbcnchen.de", a, sizeof a, &err), 0);
    assert_string_equal(a, "anna@xn--mnchen-3ya.de");
    assert_int_equal(hd_mime_ascii_address("ivan@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80"
                                           ".\xd0\xb1\xd0\xb3",
                                           a, sizeof a, &err),
                     0);
    assert_string_equal(a, "ivan@xn--e1afmkfd.xn--90ae");
    assert_int_equal(hd_mime_ascii_address("plain@example.com", a, sizeof a, &err), 0);
    assert_string_equal(a, "plain@example.com");
    m.to_addr = "anna@m\xc3\xbcnchen.de";
    out = build_ok(&m);
    assert_true(hd_test_mime_header_get(out.data, "To", v, sizeof v));
    assert_string_equal(v, "Anna Schmidt <anna@xn--mnchen-3ya.de>");
    hd_buf_release(&out);
    /* A too small output buffer is refused, not truncated. */
    assert_int_equal(hd_mime_ascii_address("anna@m\xc3\xbcnchen.de", a, 10, &err), -1);
}

static void test_mime_non_ascii_local_part_refused(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_err err = {0, ""};
    char a[320];
    (void)state;
    assert_int_equal(hd_mime_ascii_address("j\xc3\xbcrgen@example.de", a, sizeof a, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_non_null(strstr(err.msg, "non-ASCII local part"));
    m.to_addr = "j\xc3\xbcrgen@example.de";
    expect_refused(&m);
}

static void test_mime_deterministic(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_buf a = build_ok(&m), b = build_ok(&m), c;
    char ca[256], cc[256];
    (void)state;
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    /* Appends: building into a non-empty buffer adds the same bytes. */
    hd_buf_reset(&b);
    hd_buf_puts(&b, "prefix");
    struct hd_err err = {0, ""};
    assert_int_equal(hd_mime_build(&m, &b, &err), 0);
    assert_int_equal(b.len, a.len + 6);
    assert_memory_equal(b.data + 6, a.data, a.len);
    /* Another Message-ID, another boundary. */
    m.message_id = "fedcba9876543210fedcba9876543210@lumen.example";
    c = build_ok(&m);
    assert_true(hd_test_mime_header_get(a.data, "Content-Type", ca, sizeof ca));
    assert_true(hd_test_mime_header_get(c.data, "Content-Type", cc, sizeof cc));
    assert_string_not_equal(ca, cc);
    hd_buf_release(&a);
    hd_buf_release(&b);
    hd_buf_release(&c);
}

static const char py_check[] =
    "import email, sys\n"
    "from email import policy\n"
    "path = sys.argv[1]\n"
    "def exp(n):\n"
    "    with open(path + '.' + n, encoding='utf-8', newline='') as f:\n"
    "        return f.read()\n"
    "with open(path, 'rb') as f:\n"
    "    m = email.message_from_binary_file(f, policy=policy.default)\n"
    "assert not m.defects, m.defects\n"
    "assert str(m['subject']) == exp('subject'), repr(str(m['subject']))\n"
    "assert m['from'].addresses[0].display_name == exp('fromname')\n"
    "assert m['to'].addresses[0].display_name == exp('toname')\n"
    "assert m['to'].addresses[0].addr_spec == exp('to'), m['to']\n"
    "assert m['message-id'] == '<' + exp('msgid') + '>'\n"
    "assert m['content-language'] == exp('lang')\n"
    "assert m['auto-submitted'] == 'auto-generated'\n"
    "assert m['date'].datetime.utcoffset().total_seconds() == 0\n"
    "assert m.get_content_type() == 'multipart/alternative'\n"
    "parts = list(m.iter_parts())\n"
    "assert [p.get_content_type() for p in parts] == ['text/plain', 'text/html']\n"
    "for p, n in zip(parts, ('text', 'html')):\n"
    "    assert not p.defects, p.defects\n"
    "    assert p.get_content_charset() == 'utf-8'\n"
    "    got = p.get_content().replace('\\r\\n', '\\n')\n"
    "    want = exp(n).replace('\\r\\n', '\\n')\n"
    "    assert got == want, (n, got[:300], want[:300])\n";

static void write_expect(const char *dir, const char *msg, const char *ext, const char *s)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", msg, ext);
    free(hd_test_write(dir, name, s, (size_t)-1));
}

static void test_mime_python_email_parses_it(void **state)
{
    const char *dir;
    char *script, cmd[1024];
    (void)state;
    if (system("python3 -c 'import email.policy' >/dev/null 2>&1") != 0)
        skip();
    dir = hd_test_tmpdir();
    script = hd_test_write(dir, "check.py", py_check, (size_t)-1);
    for (int i = 0; i < 3; i++) {
        struct hd_mime_email m = email_de();
        char msg[16], *path;
        const char *to_ascii = "anna.schmidt@example.de";
        if (i == 1) {
            m.subject = el_subject;
            m.text = el_text;
            m.text_len = strlen(el_text);
            m.html = el_html;
            m.html_len = strlen(el_html);
            m.to_name = "\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7 \xce\xa0\xce\xb1\xcf\x80\xce"
                        "\xb1\xce\xb4\xce\xbf\xcf\x80\xce\xbf\xcf\x8d\xce\xbb\xce\xbf\xcf\x85";
            m.language = "el";
        } else if (i == 2) {
            m.subject = "Plain ASCII: with \"quotes\" and a colon";
            m.text = bg_text;
            m.text_len = strlen(bg_text);
            m.html = bg_html;
            m.html_len = strlen(bg_html);
            m.to_name = "Petrov, Ivan";
            m.to_addr = "ivan@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd0\xb1\xd0\xb3";
            to_ascii = "ivan@xn--e1afmkfd.xn--90ae";
            m.language = "bg";
        }
        struct hd_buf out = build_ok(&m);
        snprintf(msg, sizeof msg, "msg%d.eml", i);
        path = hd_test_write(dir, msg, out.data, out.len);
        write_expect(dir, msg, "subject", m.subject);
        write_expect(dir, msg, "fromname", m.from_name);
        write_expect(dir, msg, "toname", m.to_name);
        write_expect(dir, msg, "to", to_ascii);
        write_expect(dir, msg, "msgid", m.message_id);
        write_expect(dir, msg, "lang", m.language);
        write_expect(dir, msg, "text", m.text);
        write_expect(dir, msg, "html", m.html);
        snprintf(cmd, sizeof cmd, "python3 '%s' '%s'", script, path);
        assert_int_equal(system(cmd), 0);
        free(path);
        hd_buf_release(&out);
    }
    free(script);
    hd_test_rmtree(dir);
}

/* The exact bytes of three sample messages, pinned: proofs record each
 * message's SHA-256 and re-render it to compare, so the builder must never
 * change a byte for the same inputs. (The hashes the builder made before
 * its encoders and checks were reworked for speed.) */
static void test_mime_bytes_unchanged(void **state)
{
    static const struct {
        size_t len;
        const char *sha256;
    } pinned[] = {
        {1534, "caad8a88cb5e98a5d3e4366e1b429b67dbf72c7e3a7b97f1c29f1a24203a4edf"},
        {1420, "5097d8996d1d98a7f02e774519346e8dd4267f2049a8543e42cd5de605991cbb"},
        {1014, "9208bb75669a5578cfc73032bbb0920f1911aa4a2d095c9228b4dcf9992821d6"},
    };
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        struct hd_mime_email m = email_de();
        unsigned char md[32];
        unsigned mdlen = 0;
        char hex[65];
        if (i == 1) {
            m.subject = el_subject;
            m.text = el_text;
            m.text_len = strlen(el_text);
            m.html = el_html;
            m.html_len = strlen(el_html);
            m.to_name = "\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7";
            m.language = "el";
        } else if (i == 2) {
            m.subject = "Plain ASCII: with \"quotes\" and a colon";
            m.text = bg_text;
            m.text_len = strlen(bg_text);
            m.html = bg_html;
            m.html_len = strlen(bg_html);
            m.to_name = "Petrov, Ivan";
            m.to_addr = "ivan@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd0\xb1\xd0\xb3";
            m.language = "bg";
        }
        struct hd_buf out = build_ok(&m);
        assert_true(EVP_Digest(out.data, out.len, md, &mdlen, EVP_sha256(), NULL));
        for (size_t k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        assert_int_equal(out.len, pinned[i].len);
        assert_string_equal(hex, pinned[i].sha256);
        hd_buf_release(&out);
    }
}

/* The boundary is "=_herald_" and the first 12 bytes of SHA-256 of the
 * Message-ID in lower-case hex. */
static void test_mime_boundary_from_message_id(void **state)
{
    static const char *const ids[] = {MSGID, "fedcba9876543210fedcba9876543210@lumen.example",
                                      "x@y"};
    (void)state;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct hd_mime_email m = email_de();
        unsigned char md[32];
        unsigned mdlen = 0;
        char want[96], v[256];
        m.message_id = ids[i];
        struct hd_buf out = build_ok(&m);
        assert_true(EVP_Digest(ids[i], strlen(ids[i]), md, &mdlen, EVP_sha256(), NULL));
        memcpy(want, "multipart/alternative; boundary=\"=_herald_", 42);
        for (size_t k = 0; k < 12; k++)
            snprintf(want + 42 + 2 * k, 3, "%02x", md[k]);
        memcpy(want + 66, "\"", 2);
        assert_true(hd_test_mime_header_get(out.data, "Content-Type", v, sizeof v));
        assert_string_equal(v, want);
        hd_buf_release(&out);
    }
}

/* The encoded body of part i (0 text, 1 html) as it stands in message m. */
static void raw_body(const char *m, int i, struct hd_buf *out)
{
    char delim[128];
    const char *p = m + hd_test_mime_header_end(m), *body = NULL, *end = NULL;
    hd_test_mime_delimiter(m, delim, sizeof delim);
    for (int k = 0; k <= i; k++) {
        body = strstr(p, "\r\n\r\n") + 4;
        end = strstr(body - 2, delim);
        assert_non_null(end);
        if (end < body)
            end = body; /* empty body */
        p = end + 2;
    }
    hd_buf_reset(out);
    assert_int_equal(hd_buf_append(out, body, (size_t)(end - body)), 0);
}

/* Quoted-printable as RFC 2045 6.7 and mime.c's comment describe it, one
 * byte at a time: the reference the encoder must match byte for byte. */
static void qp_reference(const unsigned char *s, size_t n, struct hd_buf *out)
{
    size_t col = 0;
    hd_buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            hd_buf_append(out, "\r\n", 2);
            col = 0;
            continue;
        }
        bool last = i + 1 == n || s[i + 1] == '\r' || s[i + 1] == '\n';
        bool lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
        size_t t = lit ? 1 : 3;
        if (col + t > 75 && !(last && col + t <= 76)) {
            hd_buf_append(out, "=\r\n", 3);
            col = 0;
        }
        if (lit)
            hd_buf_putc(out, (char)c);
        else
            hd_buf_printf(out, "=%02X", c);
        col += t;
    }
}

static void expect_qp_reference(const char *text, size_t n)
{
    struct hd_mime_email m = email_de();
    struct hd_buf got = HD_BUF_INIT, want = HD_BUF_INIT;
    size_t high = 0;
    for (size_t i = 0; i < n; i++)
        high += (unsigned char)text[i] >> 7;
    if (high * 10 > n * 3)
        return; /* goes out in base64 */
    m.text = text;
    m.text_len = n;
    struct hd_buf out = build_ok(&m);
    raw_body(out.data, 0, &got);
    qp_reference((const unsigned char *)text, n, &want);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data ? got.data : "", want.data ? want.data : "", want.len);
    hd_buf_release(&out);
    hd_buf_release(&got);
    hd_buf_release(&want);
}

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 33) % n;
}

static void test_mime_qp_matches_reference(void **state)
{
    static const char *const pieces[] = {
        " ",
        "  ",
        "\t",
        "=",
        "\n",
        "\r\n",
        "\r",
        "\n\r",
        " \n",
        "\t\r\n",
        "= \n",
        ".",
        "~",
        "!",
        "\x01",
        "\x7f",
        "\x00",
        "\xff",
        "\xc3\xbc",
        "\xe2\x80\x93",
        "\xf0\x9f\x98\x80",
        "https://privacy.lumen.example/ai/object?p=p-1&amp;t=abc",
    };
    char text[4096];
    (void)state;
    /* A space, tab, '=' or umlaut at every column around the soft break
     * and before a line end or the end, after runs long enough for the
     * 16-byte copy. */
    static const char *const specials[] = {" ", "\t", "=", "\xc3\xbc", "x"};
    for (size_t sp = 0; sp < sizeof specials / sizeof specials[0]; sp++) {
        for (size_t len = 56; len <= 96; len++) {
            for (size_t at = 40; at <= len; at += 3) {
                size_t n = 0;
                for (size_t k = 0; k < len; k++) {
                    if (k == at) {
                        memcpy(text + n, specials[sp], strlen(specials[sp]));
                        n += strlen(specials[sp]);
                    } else {
                        text[n++] = (char)('a' + k % 26);
                    }
                }
                expect_qp_reference(text, n);
                memcpy(text + n, " \n", 2);
                expect_qp_reference(text, n + 1); /* trailing space at the end */
                expect_qp_reference(text, n + 2); /* and before a line break */
            }
        }
    }
    /* Random text: words, runs of every length, and every kind of byte. */
    for (int it = 0; it < 3000; it++) {
        size_t n = 0, want = rnd(it % 8 == 0 ? 4000 : 400);
        while (n < want) {
            if (rnd(2) == 0) {
                size_t run = rnd(30);
                for (size_t k = 0; k < run && n + 1 < sizeof text; k++)
                    text[n++] = (char)(rnd(6) == 0 ? ' ' : 'a' + rnd(26));
            } else {
                const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
                size_t len = p[0] == '\0' ? 1 : strlen(p);
                if (n + len >= sizeof text)
                    break;
                memcpy(text + n, p, len);
                n += len;
            }
        }
        expect_qp_reference(text, n);
    }
}

/* Base64 exactly when more than 30% of the bytes are non-ASCII, counted
 * right for bodies of any length (long ones too). */
static void test_mime_base64_threshold(void **state)
{
    static const size_t ks[] = {0, 1, 2, 3, 10, 33, 300, 3000};
    struct hd_buf body = HD_BUF_INIT;
    (void)state;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        size_t k = ks[i], edge = 14 * k / 3; /* 2k high of 2k + a: base64 iff 14k > 3a */
        for (size_t a = edge > 2 ? edge - 2 : 0; a <= edge + 2; a++) {
            struct hd_mime_email m = email_de();
            struct hd_test_mime_part parts[2];
            hd_buf_reset(&body);
            /* Interleaved, so the counted bytes land in every lane. */
            for (size_t j = 0, x = 0; j < k || x < a;) {
                if (j < k && (x >= a || (j * a) <= (x * k))) {
                    hd_buf_puts(&body, "\xc3\xa9");
                    j++;
                } else {
                    hd_buf_putc(&body, (char)('a' + x % 26));
                    x++;
                }
            }
            m.text = body.data ? body.data : "";
            m.text_len = body.len;
            struct hd_buf out = build_ok(&m);
            hd_test_mime_get_parts(out.data, parts);
            assert_string_equal(parts[0].cte, 14 * k > 3 * a ? "base64" : "quoted-printable");
            assert_int_equal(parts[0].body.len, body.len);
            hd_test_mime_release_parts(parts);
            hd_buf_release(&out);
        }
    }
    hd_buf_release(&body);
}

/* With ascii_addrs the addresses are taken as they are (the caller
 * converted them): the same bytes as converting them here; and anything
 * that is not one header-safe token with an '@' is still checked in full
 * and refused. */
static void test_mime_ascii_addrs(void **state)
{
    struct hd_mime_email m = email_de();
    struct hd_err err = {0, ""};
    char from[320], to[320];
    (void)state;
    m.from_addr = "privacy@l\xc3\xbcmen.example";
    m.to_addr = "anna@M\xc3\xbcnchen.de";
    struct hd_buf a = build_ok(&m);
    assert_int_equal(hd_mime_ascii_address(m.from_addr, from, sizeof from, &err), 0);
    assert_int_equal(hd_mime_ascii_address(m.to_addr, to, sizeof to, &err), 0);
    m.from_addr = from;
    m.to_addr = to;
    m.ascii_addrs = true;
    struct hd_buf b = build_ok(&m);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    hd_buf_release(&a);
    hd_buf_release(&b);

    static const char *const bad_addr[] = {
        "anna@example.de\r\nBcc: x@example.com",
        "anna@example.de\n",
        "an\rna@example.de",
        "anna@example.de>, <x@example.com",
        "Anna <anna@example.de>",
        "no-at-sign",
        "anna@example.de bcc@example.com",
        "",
    };
    for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++) {
        m = email_de();
        m.ascii_addrs = true;
        m.to_addr = bad_addr[i];
        expect_refused(&m);
        m = email_de();
        m.ascii_addrs = true;
        m.from_addr = bad_addr[i];
        expect_refused(&m);
    }
}

/* Header tokens up to 320 bytes are taken, longer ones refused. */
static void test_mime_token_length_limit(void **state)
{
    char id[400];
    (void)state;
    for (size_t n = 318; n <= 322; n++) {
        struct hd_mime_email m = email_de();
        struct hd_buf out = HD_BUF_INIT;
        struct hd_err err = {0, ""};
        memset(id, 'a', n);
        memcpy(id + n - 14, "@lumen.example", 15); /* n bytes in all */
        m.message_id = id;
        assert_int_equal(hd_mime_build(&m, &out, &err), n <= 320 ? 0 : -1);
        if (n > 320) {
            assert_int_equal(err.code, HD_EX_DATAERR);
            assert_non_null(strstr(err.msg, "longer than 320"));
        }
        hd_buf_release(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mime_header_order_and_fixed_fields),
        cmocka_unit_test(test_mime_lines_end_crlf_within_limits),
        cmocka_unit_test(test_mime_folds_long_german_subject),
        cmocka_unit_test(test_mime_folds_long_greek_subject),
        cmocka_unit_test(test_mime_folds_long_ascii_subject_at_spaces),
        cmocka_unit_test(test_mime_encoded_words_never_split_characters),
        cmocka_unit_test(test_mime_display_names),
        cmocka_unit_test(test_mime_qp_roundtrip),
        cmocka_unit_test(test_mime_base64_roundtrip),
        cmocka_unit_test(test_mime_chooses_base64_for_greek_and_bulgarian),
        cmocka_unit_test(test_mime_date_english_whatever_locale),
        cmocka_unit_test(test_mime_refuses_header_injection),
        cmocka_unit_test(test_mime_idn_recipient_domain_converted),
        cmocka_unit_test(test_mime_non_ascii_local_part_refused),
        cmocka_unit_test(test_mime_deterministic),
        cmocka_unit_test(test_mime_python_email_parses_it),
        cmocka_unit_test(test_mime_bytes_unchanged),
        cmocka_unit_test(test_mime_boundary_from_message_id),
        cmocka_unit_test(test_mime_qp_matches_reference),
        cmocka_unit_test(test_mime_base64_threshold),
        cmocka_unit_test(test_mime_ascii_addrs),
        cmocka_unit_test(test_mime_token_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
