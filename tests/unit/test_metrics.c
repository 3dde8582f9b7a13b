/* Unit tests for the metrics registry and its endpoint (core/metrics):
 * the exact exposition text, what promtool says of it, limits, threads,
 * and the HTTP endpoint fetched with libcurl (authentication, paths,
 * methods, addresses). */
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "herald/metrics.h"
#include "hd_test.h"

static const double latency_buckets[] = {0.001, 0.01, 0.1, 1};

struct fx {
    struct hd_metrics *m;
    int deliveries, in_flight, latency;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct hd_err err = {0};
    if (f == NULL || hd_metrics_create(&f->m, &err) != 0)
        return -1;
    const struct hd_metric_def deliveries = {"herald_deliveries_total",
                                             "Deliveries that reached a state",
                                             HD_METRIC_COUNTER,
                                             {"channel", "country", "state", NULL},
                                             NULL,
                                             0};
    const struct hd_metric_def in_flight = {"herald_in_flight",
                                            "Messages handed to a channel",
                                            HD_METRIC_GAUGE,
                                            {"channel", NULL},
                                            NULL,
                                            0};
    const struct hd_metric_def latency = {"herald_commit_seconds", "Store commit latency",
                                          HD_METRIC_HISTOGRAM,     {NULL},
                                          latency_buckets,         4};
    f->deliveries = hd_metrics_define(f->m, &deliveries, &err);
    f->in_flight = hd_metrics_define(f->m, &in_flight, &err);
    f->latency = hd_metrics_define(f->m, &latency, &err);
    if (f->deliveries < 0 || f->in_flight < 0 || f->latency < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hd_metrics_destroy(f->m);
    free(f);
    return 0;
}

static char *render(struct hd_metrics *m)
{
    struct hd_buf b = {0};
    assert_int_equal(hd_metrics_render(m, &b), 0);
    assert_int_equal(hd_buf_putc(&b, '\0'), 0);
    return b.data;
}

static void test_metrics_exposition_text(void **state)
{
    struct fx *f = *state;
    const char *de_sent[] = {"email", "DE", "sent"};
    hd_metrics_add(f->m, f->deliveries, de_sent, 3);
    hd_metrics_add(f->m, f->deliveries, (const char *[]){"email", "FR", "failed"}, 1);
    hd_metrics_add(f->m, f->deliveries, de_sent, 2);
    hd_metrics_set(f->m, f->in_flight, (const char *[]){"push"}, 12.5);
    hd_metrics_observe(f->m, f->latency, NULL, 0.004);
    hd_metrics_observe(f->m, f->latency, NULL, 0.05);
    hd_metrics_observe(f->m, f->latency, NULL, 3);
    char *text = render(f->m);
    assert_string_equal(
        text, "# HELP herald_metrics_series_dropped_total Metric updates dropped because a family "
              "reached its series limit\n"
              "# TYPE herald_metrics_series_dropped_total counter\n"
              "herald_metrics_series_dropped_total 0\n"
              "# HELP herald_deliveries_total Deliveries that reached a state\n"
              "# TYPE herald_deliveries_total counter\n"
              "herald_deliveries_total{channel=\"email\",country=\"DE\",state=\"sent\"} 5\n"
              "herald_deliveries_total{channel=\"email\",country=\"FR\",state=\"failed\"} 1\n"
              "# HELP herald_in_flight Messages handed to a channel\n"
              "# TYPE herald_in_flight gauge\n"
              "herald_in_flight{channel=\"push\"} 12.5\n"
              "# HELP herald_commit_seconds Store commit latency\n"
              "# TYPE herald_commit_seconds histogram\n"
              "herald_commit_seconds_bucket{le=\"0.001\"} 0\n"
              "herald_commit_seconds_bucket{le=\"0.01\"} 1\n"
              "herald_commit_seconds_bucket{le=\"0.1\"} 2\n"
              "herald_commit_seconds_bucket{le=\"1\"} 2\n"
              "herald_commit_seconds_bucket{le=\"+Inf\"} 3\n"
              "herald_commit_seconds_sum 3.054\n"
              "herald_commit_seconds_count 3\n");
    free(text);
}

/* Label values and help are escaped as the format says. */
static void test_metrics_escaping(void **state)
{
    struct fx *f = *state;
    hd_metrics_add(f->m, f->deliveries, (const char *[]){"a\"b", "c\\d", "e\nf"}, 1);
    char *text = render(f->m);
    assert_non_null(strstr(
        text,
        "herald_deliveries_total{channel=\"a\\\"b\",country=\"c\\\\d\",state=\"e\\nf\"} 1\n"));
    free(text);
}

/* promtool, Prometheus's own checker, accepts what the registry renders. */
static void test_metrics_promtool_accepts(void **state)
{
    struct fx *f = *state;
    hd_metrics_add(f->m, f->deliveries, (const char *[]){"email", "DE", "sent"}, 7);
    hd_metrics_set(f->m, f->in_flight, (const char *[]){"email"}, 3);
    hd_metrics_observe(f->m, f->latency, NULL, 0.02);
    char *text = render(f->m);
    char path[300], cmd[400], out[4096] = "";
    snprintf(path, sizeof path, "%s/metrics.txt", hd_test_tmpdir());
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1; echo \"exit $?\"", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    if (strstr(out, "exit 0") == NULL || strstr(out, "exit 0") != out)
        fail_msg("promtool check metrics (run scripts/install-deps.sh if it is missing):\n%s", out);
    free(text);
}

static void test_metrics_define_refuses(void **state)
{
    struct fx *f = *state;
    struct hd_err err = {0};
    const struct hd_metric_def no_total = {"herald_sent", "x", HD_METRIC_COUNTER, {NULL}, NULL, 0};
    assert_int_equal(hd_metrics_define(f->m, &no_total, &err), -1);
    assert_string_equal(err.msg, "counter \"herald_sent\" must end in _total");
    const struct hd_metric_def twice = {"herald_in_flight", "x", HD_METRIC_GAUGE, {NULL}, NULL, 0};
    assert_int_equal(hd_metrics_define(f->m, &twice, &err), -1);
    const struct hd_metric_def bad_label = {"herald_x",   "x",  HD_METRIC_GAUGE,
                                            {"le", NULL}, NULL, 0};
    assert_int_equal(hd_metrics_define(f->m, &bad_label, &err), -1);
    const struct hd_metric_def bad_name = {"herald-x", "x", HD_METRIC_GAUGE, {NULL}, NULL, 0};
    assert_int_equal(hd_metrics_define(f->m, &bad_name, &err), -1);
    const double down[] = {1, 0.5};
    const struct hd_metric_def bad_buckets = {"herald_h", "x",  HD_METRIC_HISTOGRAM,
                                              {NULL},     down, 2};
    assert_int_equal(hd_metrics_define(f->m, &bad_buckets, &err), -1);
}

/* A family stops at HD_METRICS_MAX_SERIES; further series are counted as
 * dropped, never stored. */
static void test_metrics_series_limit(void **state)
{
    struct fx *f = *state;
    char v[16];
    for (int i = 0; i < HD_METRICS_MAX_SERIES + 10; i++) {
        snprintf(v, sizeof v, "c%d", i);
        hd_metrics_set(f->m, f->in_flight, (const char *[]){v}, 1);
    }
    char *text = render(f->m);
    assert_non_null(strstr(text, "herald_metrics_series_dropped_total 10\n"));
    assert_non_null(strstr(text, "herald_in_flight{channel=\"c4095\"} 1\n"));
    assert_null(strstr(text, "herald_in_flight{channel=\"c4096\"}"));
    free(text);
}

struct adder {
    struct fx *f;
    const char *channel;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    for (int i = 0; i < 50000; i++)
        hd_metrics_add(a->f->m, a->f->deliveries, (const char *[]){a->channel, "DE", "sent"}, 1);
    return NULL;
}

/* Updates from several threads are all counted. */
static void test_metrics_threads(void **state)
{
    struct fx *f = *state;
    pthread_t t[4];
    struct adder a[4] = {{f, "email"}, {f, "push"}, {f, "email"}, {f, "push"}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, add_many, &a[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = render(f->m);
    assert_non_null(strstr(
        text, "herald_deliveries_total{channel=\"email\",country=\"DE\",state=\"sent\"} 100000\n"));
    assert_non_null(strstr(
        text, "herald_deliveries_total{channel=\"push\",country=\"DE\",state=\"sent\"} 100000\n"));
    free(text);
}

/* ---- the endpoint ---- */

struct reply {
    long status;
    char type[128];
    struct hd_buf body;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    return hd_buf_append(&r->body, p, size * n) == 0 ? size * n : 0;
}

static void fetch(uint16_t port, const char *path, const char *method, const char *token,
                  struct reply *r)
{
    char url[128], auth[256];
    struct curl_slist *headers = NULL;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *type = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r->type, sizeof r->type, "%s", type ? type : "");
    hd_buf_putc(&r->body, '\0');
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
}

static void test_metrics_endpoint(void **state)
{
    struct fx *f = *state;
    struct hd_metrics_server *s = NULL;
    struct hd_err err = {0};
    struct reply r;
    hd_metrics_add(f->m, f->deliveries, (const char *[]){"email", "DE", "sent"}, 4);
    assert_int_equal(hd_metrics_server_create(&s, f->m, "127.0.0.1:0", NULL, &err), 0);
    uint16_t port = hd_metrics_server_port(s);
    assert_true(port > 0);

    fetch(port, "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
    char *text = render(f->m);
    assert_string_equal(r.body.data, text);
    free(text);
    hd_buf_release(&r.body);

    fetch(port, "/", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    hd_buf_release(&r.body);
    fetch(port, "/metrics", "POST", NULL, &r);
    assert_int_equal(r.status, 405);
    hd_buf_release(&r.body);
    hd_metrics_server_destroy(s);
}

static void test_metrics_endpoint_token(void **state)
{
    struct fx *f = *state;
    struct hd_metrics_server *s = NULL;
    struct hd_err err = {0};
    struct reply r;
    assert_int_equal(hd_metrics_server_create(&s, f->m, "localhost:0", "s3cret-token", &err), 0);
    uint16_t port = hd_metrics_server_port(s);
    fetch(port, "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    hd_buf_release(&r.body);
    fetch(port, "/metrics", NULL, "s3cret-tokem", &r);
    assert_int_equal(r.status, 401);
    hd_buf_release(&r.body);
    fetch(port, "/metrics", NULL, "s3cret-token", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "# TYPE herald_deliveries_total counter"));
    hd_buf_release(&r.body);
    hd_metrics_server_destroy(s);
    hd_metrics_server_destroy(NULL);
}

/* Without a token only a loopback address is served; bad addresses are
 * usage errors naming the form. */
static void test_metrics_endpoint_addresses(void **state)
{
    struct fx *f = *state;
    struct hd_metrics_server *s = NULL;
    struct hd_err err = {0};
    assert_int_equal(hd_metrics_server_create(&s, f->m, "0.0.0.0:0", NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "not a loopback address: set a bearer token"));
    assert_int_equal(hd_metrics_server_create(&s, f->m, "127.0.0.1", NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_USAGE);
    assert_int_equal(hd_metrics_server_create(&s, f->m, "example.org:9464", NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_USAGE);
    assert_int_equal(hd_metrics_server_create(&s, f->m, "127.0.0.1:70000", NULL, &err), -1);
    assert_int_equal(hd_metrics_server_create(&s, f->m, "[::1]:0", NULL, &err), 0);
    assert_true(hd_metrics_server_port(s) > 0);
    hd_metrics_server_destroy(s);
    hd_metrics_destroy(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        T(test_metrics_exposition_text),    T(test_metrics_escaping),
        T(test_metrics_promtool_accepts),   T(test_metrics_define_refuses),
        T(test_metrics_series_limit),       T(test_metrics_threads),
        T(test_metrics_endpoint),           T(test_metrics_endpoint_token),
        T(test_metrics_endpoint_addresses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
