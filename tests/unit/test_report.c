/* Unit tests for the report writers (core/report): the figures where a
 * reader and a test find them, escaping of everything the model holds,
 * no script and a strict Content-Security-Policy, deterministic bytes,
 * CSV lines, and models that lack what the format needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "herald/report.h"

static const char model_text[] =
    "{\"format\": \"herald-report/1\","
    " \"campaign\": {\"id\": \"ai-2025\", \"description\": \"<script>alert(1)</script> & co\"},"
    " \"as_of_ms\": 1750000000000,"
    " \"channels\": [\"email\", \"inapp\"],"
    " \"totals\": {\"rows\": 2000, \"in_scope\": 1794, \"reached\": 1700, \"not_reached\": 94,"
    "             \"objected\": 12, \"excluded\": {\"minor\": 120, \"out_of_region\": 86}},"
    " \"countries\": ["
    "  {\"country\": \"DE\", \"name\": \"Germany\", \"language\": \"de\", \"in_scope\": 1000,"
    "   \"excluded\": {\"minor\": 70}, \"objected\": 5, \"reached\": 990, \"not_reached\": 10,"
    "   \"channels\": {\"email\": {\"planned\": 950, \"sent\": 940, \"failed\": 10,"
    "                              \"first_sent_ms\": 1749990000000, \"last_sent_ms\": "
    "1750000000000},"
    "                  \"inapp\": {\"planned\": 900, \"sent\": 900}}},"
    "  {\"country\": \"FR\", \"name\": \"France\", \"language\": \"fr\", \"in_scope\": 794,"
    "   \"excluded\": {\"minor\": 50, \"out_of_region\": 0}, \"objected\": 7, \"reached\": 710,"
    "   \"not_reached\": 84, \"channels\": {\"email\": {\"planned\": 700, \"sent\": 690,"
    "   \"pending\": 3, \"retry\": 2, \"held\": 1}}}],"
    " \"events\": [{\"time_ms\": 1749990000000, \"kind\": \"wave started\", \"scope\": \"first\"},"
    "   {\"time_ms\": 1749995000000, \"kind\": \"pause\", \"scope\": \"country FR\","
    "    \"by\": \"ops\", \"reason\": \"regulator <asked>\"}],"
    " \"rate\": {\"bucket_s\": 3600, \"points\": [[1749990000000, 1000], [1749993600000, 1530]]},"
    " \"texts\": [{\"language\": \"de\", \"subject\": \"Wie Lumen KI nutzt\","
    "   \"text\": \"Hallo {{name}} & Co\", \"push_title\": \"KI\", \"push_body\": \"<b>x</b>\"}],"
    " \"proofs\": {\"tree_size\": 3600, \"root\": \"q3vN0aQx2Wm8Pz4Lr7Ts=\","
    "   \"checkpoint\": \"herald/ai-2025\\n3600\\nq3vN0aQx2Wm8Pz4Lr7Ts=\\n\"}}";

static json_t *model(void)
{
    json_error_t e;
    json_t *m = json_loads(model_text, 0, &e);
    if (m == NULL)
        fail_msg("model: %s at %d", e.text, e.position);
    return m;
}

static char *html_of(const json_t *m)
{
    struct hd_buf b = {0};
    struct hd_err err = {0};
    assert_int_equal(hd_report_html(m, &b, &err), 0);
    assert_int_equal(hd_buf_putc(&b, '\0'), 0);
    return b.data;
}

static void test_report_html_figures_and_safety(void **state)
{
    (void)state;
    json_t *m = model();
    char *h = html_of(m);
    assert_non_null(strstr(h, "<meta http-equiv=\"Content-Security-Policy\" "
                              "content=\"default-src 'none'; style-src 'unsafe-inline'\">"));
    assert_null(strstr(h, "<script"));
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert_non_null(strstr(h, "regulator &lt;asked&gt;"));
    assert_non_null(strstr(h, "&lt;b&gt;x&lt;/b&gt;"));
    assert_non_null(strstr(h, "<b data-figure=\"total.in_scope\">1,794</b>"));
    assert_non_null(strstr(h, "<b data-figure=\"total.excluded\">206</b>"));
    assert_non_null(strstr(h, "<td data-figure=\"DE-de.in_scope\">1,000</td>"));
    assert_non_null(strstr(h, "<td class=\"bad\" data-figure=\"FR-fr.not_reached\">84</td>"));
    assert_non_null(strstr(h, "<td data-figure=\"DE-de.email.sent\">940 / 10 / 0</td>"));
    assert_non_null(strstr(h, "<td data-figure=\"FR-fr.email.sent\">690 / 0 / 6</td>"));
    assert_non_null(strstr(h, "2025-06-15 12:20 UTC / 2025-06-15 15:06 UTC"));
    assert_non_null(strstr(h, "<pre data-figure=\"proofs.root\">q3vN0aQx2Wm8Pz4Lr7Ts=</pre>"));
    assert_non_null(strstr(h, "<polyline"));
    assert_non_null(strstr(h, "<li>2025-06-15 13:43 UTC: <b>pause</b> country FR, by ops: "));
    /* the same model, the same bytes */
    char *again = html_of(m);
    assert_string_equal(h, again);
    free(again);
    free(h);
    json_decref(m);
}

static void test_report_without_proofs_or_data(void **state)
{
    (void)state;
    json_t *m = model();
    json_object_del(m, "proofs");
    json_object_del(m, "events");
    json_object_del(m, "rate");
    char *h = html_of(m);
    assert_non_null(strstr(h, "This campaign keeps no proof records."));
    assert_null(strstr(h, "<polyline"));
    free(h);
    json_decref(m);
}

static void test_report_csv_and_json(void **state)
{
    (void)state;
    json_t *m = model();
    struct hd_buf b = {0};
    struct hd_err err = {0};
    assert_int_equal(hd_report_csv(m, &b, &err), 0);
    hd_buf_putc(&b, '\0');
    assert_string_equal(
        b.data,
        "country,language,channel,in_scope,excluded,objected,reached,not_reached,planned,sent,"
        "failed,pending,retry,held,first_sent_ms,last_sent_ms\r\n"
        "DE,de,email,1000,70,5,990,10,950,940,10,0,0,0,1749990000000,1750000000000\r\n"
        "DE,de,inapp,1000,70,5,990,10,900,900,0,0,0,0,0,0\r\n"
        "FR,fr,email,794,50,7,710,84,700,690,0,3,2,1,0,0\r\n"
        "FR,fr,inapp,794,50,7,710,84,0,0,0,0,0,0,0,0\r\n");
    hd_buf_release(&b);
    assert_int_equal(hd_report_json(m, &b, &err), 0);
    hd_buf_putc(&b, '\0');
    json_t *back = json_loads(b.data, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, m));
    json_decref(back);
    hd_buf_release(&b);
    json_decref(m);
}

static void test_report_bad_model(void **state)
{
    (void)state;
    struct hd_buf b = {0};
    struct hd_err err = {0};
    json_t *m = model();
    json_object_set_new(m, "format", json_string("herald-report/0"));
    assert_int_equal(hd_report_html(m, &b, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg,
                        "report model: format is not \"herald-report/1\" (docs/report.md)");
    json_object_set_new(m, "format", json_string("herald-report/1"));
    json_object_del(m, "countries");
    assert_int_equal(hd_report_csv(m, &b, &err), -1);
    assert_string_equal(err.msg, "report model: countries is not a list (docs/report.md)");
    assert_int_equal(b.len, 0);
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_html_figures_and_safety),
        cmocka_unit_test(test_report_without_proofs_or_data),
        cmocka_unit_test(test_report_csv_and_json),
        cmocka_unit_test(test_report_bad_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
