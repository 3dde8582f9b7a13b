/* Unit tests for the channel registry (channels/registry.c), the built-in
 * file and null modules, every built-in module's check op (settings checked
 * without creating anything), and loading external modules (tests/modules/,
 * as .so files built into HERALD_MODULES_DIR). docs/channel-modules.md is the contract
 * these tests hold the code to. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixtures.h"
#include "hd_test.h"
#include "herald/campaign.h"
#include "herald/channel_registry.h"
#include "../../channels/builtin.h" /* hd_secrets: private to the built-in modules */

#ifndef HERALD_MODULES_DIR
#error "HERALD_MODULES_DIR must name the directory with echo.so, badabi.so and legacy.so"
#endif

static int setup(void **state)
{
    (void)state;
    unsetenv("HERALD_MODULES_DIR");
    return hd_fx_setup(state);
}

/* ---- a host that records outcomes ----------------------------------------- */

#define REC_MAX 64

struct rec_outcome {
    uint64_t handle;
    enum hd_outcome_kind kind;
    char event[64], provider_id[256], reason[256];
};

struct rec {
    size_t n;
    struct rec_outcome o[REC_MAX];
};

static void copy_str(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s ? s : "");
}

static void rec_report(void *ctx, const struct hd_outcome *o)
{
    struct rec *r = ctx;
    assert_true(r->n < REC_MAX);
    struct rec_outcome *x = &r->o[r->n++];
    x->handle = o->handle;
    x->kind = o->kind;
    copy_str(x->event, sizeof x->event, o->event);
    copy_str(x->provider_id, sizeof x->provider_id, o->provider_id);
    copy_str(x->reason, sizeof x->reason, o->reason);
}

static void rec_log(void *ctx, int level, const char *message)
{
    (void)ctx;
    (void)level;
    (void)message;
}

static struct hd_channel_host host_for(struct rec *r)
{
    struct hd_channel_host h = {HD_CHANNEL_ABI, sizeof(struct hd_channel_host), rec_report, rec_log,
                                r};
    return h;
}

/* Message i of a small batch; strings live in static storage per index. */
static struct hd_message message(enum hd_channel_type type, unsigned i, const char *body)
{
    static char ids[REC_MAX][80], recipients[REC_MAX][80], persons[REC_MAX][32];
    struct hd_message m = {0};
    assert_true(i < REC_MAX);
    snprintf(ids[i], sizeof ids[i], "%032x%s", 0xabc000u + i,
             type == HD_CHANNEL_EMAIL ? "@lumen.example" : "");
    snprintf(recipients[i], sizeof recipients[i],
             type == HD_CHANNEL_EMAIL ? "user%u@example.org" : "tok-%u", i);
    snprintf(persons[i], sizeof persons[i], "p-%u", i);
    m.handle = 1000 + i;
    m.type = type;
    m.recipient = recipients[i];
    m.message_id = ids[i];
    m.person_id = persons[i];
    m.language = "en";
    m.country = "IE";
    m.body = (const uint8_t *)body;
    m.body_len = strlen(body);
    m.attempt = 1;
    return m;
}

/* ---- campaigns with channel settings --------------------------------------- */

static char *campaign_text;

/* Writes dir/campaign.yaml with the given channels: block (indented two
 * spaces per level below channels:) and loads it; NULL with the diagnostics
 * printed when it does not load. */
static struct hd_campaign *load_campaign(const char *channels)
{
    char head[2048];
    struct hd_campaign *c;
    char *path;
    snprintf(head, sizeof head,
             "id: chan-test\n"
             "reference_date: 2025-06-26\n"
             "vars:\n"
             "  company: Lumen\n"
             "audience:\n"
             "  source: audience.csv\n"
             "  regions: [IE]\n"
             "objection_link:\n"
             "  url: \"https://privacy.example/o?p={{person}}&t={{token}}\"\n"
             "  secret_env: HERALD_LINK_SECRET\n"
             "locales:\n"
             "  dir: %s\n"
             "  default: en\n"
             "channels:\n",
             hd_test_source_path("locales/ai-training-notice"));
    free(campaign_text);
    campaign_text = malloc(strlen(head) + strlen(channels) + 1);
    assert_non_null(campaign_text);
    strcpy(campaign_text, head);
    strcat(campaign_text, channels);
    path = hd_test_write(hd_fx_dir, "campaign.yaml", campaign_text, (size_t)-1);
    c = hd_fx_campaign_load(path, NULL);
    free(path);
    return c;
}

/* "dir/campaign.yaml:LINE:COL: " of the first occurrence of needle in the
 * campaign text. */
static const char *mark_of(const char *needle)
{
    static char out[1200];
    const char *at = strstr(campaign_text, needle);
    unsigned long line = 1, col = 1;
    assert_non_null(at);
    for (const char *p = campaign_text; p < at; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, sizeof out, "%s:%lu:%lu: ", hd_fx_path("campaign.yaml"), line, col);
    return out;
}

/* ops->create for channel conf of campaign c, through the view herald builds. */
static int create_via(const struct hd_channel_ops *ops, const struct hd_channel_host *host,
                      const struct hd_campaign *c, const struct hd_channel_conf *conf, void **inst,
                      struct hd_err *err)
{
    struct hd_channel_view view;
    hd_channel_view_init(&view, c, conf);
    return ops->create(host, &view, inst, err);
}

static const struct hd_channel_conf *channel(const struct hd_campaign *c, const char *name)
{
    const struct hd_channel_conf *conf = hd_campaign_channel(c, name);
    assert_non_null(conf);
    return conf;
}

/* Creates an instance of the channel's module; returns its ops. */
static const struct hd_channel_ops *create(const struct hd_campaign *c, const char *name,
                                           const struct hd_channel_host *host, void **inst)
{
    struct hd_err err = {0};
    const struct hd_channel_conf *conf = channel(c, name);
    const struct hd_channel_ops *ops = hd_channel_find(conf->module, HERALD_MODULES_DIR, &err);
    if (ops == NULL)
        print_message("find: %s\n", err.msg);
    assert_non_null(ops);
    if (create_via(ops, host, c, conf, inst, &err) != 0)
        print_message("create: %s\n", err.msg);
    assert_int_equal(err.code, 0);
    assert_non_null(*inst);
    return ops;
}

/* The error create() gives for the channel. */
static struct hd_err create_error(const struct hd_campaign *c, const char *name)
{
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_err err = {0};
    const struct hd_channel_conf *conf = channel(c, name);
    const struct hd_channel_ops *ops = hd_channel_find(conf->module, NULL, &err);
    void *inst = (void *)&r;
    assert_non_null(ops);
    assert_int_equal(create_via(ops, &host, c, conf, &inst, &err), -1);
    assert_null(inst);
    return err;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static size_t count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    size_t n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" not in \"%s\"", needle, haystack);
}

/* The channel's module check: its result, the error or warning in *err. */
static int check_of(const struct hd_campaign *c, const char *name, struct hd_err *err)
{
    const struct hd_channel_conf *conf = channel(c, name);
    const struct hd_channel_ops *ops = hd_channel_find(conf->module, HERALD_MODULES_DIR, err);
    if (ops == NULL)
        print_message("find: %s\n", err->msg);
    assert_non_null(ops);
    return hd_channel_check(ops, c, conf, err);
}

/* The error check() gives for the channel, which must be the very error
 * create() gives (one parser for both). */
static struct hd_err check_error(const struct hd_campaign *c, const char *name)
{
    struct hd_err err = {0}, cerr;
    if (check_of(c, name, &err) != -1)
        fail_msg("check of channel %s passed (%s)", name, err.msg);
    assert_true(err.code != 0);
    cerr = create_error(c, name);
    assert_int_equal(err.code, cerr.code);
    assert_string_equal(err.msg, cerr.msg);
    return err;
}

/* The warning check() gives for the channel (valid settings). */
static struct hd_err check_warning(const struct hd_campaign *c, const char *name)
{
    struct hd_err err = {0};
    if (check_of(c, name, &err) != 1)
        fail_msg("check of channel %s gave no warning (%s)", name, err.msg);
    assert_int_equal(err.code, 0);
    return err;
}

static void assert_check_passes(const struct hd_campaign *c, const char *name)
{
    struct hd_err err = {0};
    if (check_of(c, name, &err) != 0)
        fail_msg("check of channel %s: %s", name, err.msg);
    assert_int_equal(err.code, 0);
}

static size_t thread_count(void)
{
    return count_entries("/proc/self/task");
}

/* ---- the registry ---------------------------------------------------------- */

static void test_channels_finds_builtins(void **state)
{
    struct hd_err err = {0};
    size_t n = 0;
    (void)state;
    for (; hd_channel_builtin_names[n]; n++) {
        const struct hd_channel_ops *ops = hd_channel_find(hd_channel_builtin_names[n], NULL, &err);
        assert_non_null(ops);
        assert_string_equal(ops->name, hd_channel_builtin_names[n]);
        assert_int_equal(ops->abi, HD_CHANNEL_ABI);
        assert_true(ops->size >= sizeof(struct hd_channel_ops));
        assert_true(hd_channel_known(hd_channel_builtin_names[n], NULL));
    }
    assert_int_equal(n, 4);
    assert_non_null(hd_channel_find("file", NULL, &err));
    assert_non_null(hd_channel_find("null", HERALD_MODULES_DIR, &err));
    assert_non_null(hd_channel_find("smtp", NULL, &err));
    assert_non_null(hd_channel_find("http-push", NULL, &err));
    assert_int_equal(err.code, 0);
    assert_false(hd_channel_known("carrier-pigeon", NULL));
}

static void test_channels_loads_external_module(void **state)
{
    struct hd_err err = {0};
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_channel_conf conf = {0};
    struct hd_campaign campaign = {0};
    struct hd_message m[3];
    const struct hd_channel_ops *ops;
    void *inst = NULL;
    (void)state;

    ops = hd_channel_find("echo", HERALD_MODULES_DIR, &err);
    if (ops == NULL)
        print_message("%s\n", err.msg);
    assert_non_null(ops);
    assert_string_equal(ops->name, "echo");
    /* loaded once: the same table again, also through the environment */
    assert_ptr_equal(hd_channel_find("echo", HERALD_MODULES_DIR, &err), ops);
    assert_false(hd_channel_known("echo", NULL));
    setenv("HERALD_MODULES_DIR", HERALD_MODULES_DIR, 1);
    assert_ptr_equal(hd_channel_find("echo", NULL, &err), ops);
    assert_true(hd_channel_known("echo", NULL));
    unsetenv("HERALD_MODULES_DIR");
    assert_true(hd_channel_known("echo", (void *)HERALD_MODULES_DIR));

    conf.name = "app";
    conf.type = HD_CHANNEL_PUSH;
    conf.module = "echo";
    assert_int_equal(create_via(ops, &host, &campaign, &conf, &inst, &err), 0);
    for (unsigned i = 0; i < 3; i++)
        m[i] = message(HD_CHANNEL_PUSH, i, "{}");
    assert_int_equal(ops->send(inst, m, 3, &err), 0);
    assert_int_equal(ops->flush(inst, &err), 0);
    ops->close(inst);
    ops->close(NULL);
    assert_int_equal(r.n, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(r.o[i].handle, m[i].handle);
        assert_int_equal(r.o[i].kind, HD_OUTCOME_ACCEPTED);
        assert_string_equal(r.o[i].event, "echo.accepted");
        assert_string_equal(r.o[i].provider_id, m[i].message_id);
    }
    assert_int_equal(err.code, 0);
}

static void test_channels_external_module_reports_located_errors(void **state)
{
    struct hd_campaign *c;
    struct hd_err err = {0};
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    void *inst = NULL;
    const struct hd_channel_ops *ops;
    (void)state;
    c = load_campaign("  app:\n"
                      "    type: push\n"
                      "    module: echo\n"
                      "    settings:\n"
                      "      refuse: true\n");
    assert_non_null(c);
    ops = hd_channel_find("echo", HERALD_MODULES_DIR, &err);
    assert_non_null(ops);
    assert_int_equal(create_via(ops, &host, c, channel(c, "app"), &inst, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("true"));
    hd_campaign_free(c);
}

static void test_channels_refuses_wrong_abi(void **state)
{
    struct hd_err err = {0};
    char speaks[32];
    (void)state;
    assert_null(hd_channel_find("badabi", HERALD_MODULES_DIR, &err));
    assert_int_equal(err.code, HD_EX_UNAVAILABLE);
    assert_contains(err.msg, "ABI 999");
    snprintf(speaks, sizeof speaks, "speaks ABI %d", HD_CHANNEL_ABI);
    assert_contains(err.msg, speaks);
    assert_contains(err.msg, "badabi.so");
    assert_false(hd_channel_known("badabi", (void *)HERALD_MODULES_DIR));
}

static void test_channels_unknown_module(void **state)
{
    struct hd_err err = {0};
    (void)state;
    assert_null(hd_channel_find("sms", HERALD_MODULES_DIR, &err));
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_contains(err.msg, "unknown channel module \"sms\"");
    assert_contains(err.msg, "file, null, http-push, smtp");
    assert_contains(err.msg, HERALD_MODULES_DIR "/sms.so");
    memset(&err, 0, sizeof err);
    assert_null(hd_channel_find("sms", NULL, &err));
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_contains(err.msg, "HERALD_MODULES_DIR");
}

static void test_channels_refuses_path_names(void **state)
{
    static const char *const bad[] = {
        "../modules/echo",
        "/tmp/echo",
        "echo.so",
        "sub/echo",
        "Echo",
        "",
        "ech o",
        "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hd_err err = {0};
        assert_null(hd_channel_find(bad[i], HERALD_MODULES_DIR, &err));
        assert_int_equal(err.code, HD_EX_CONFIG);
        assert_contains(err.msg, "bad channel module name");
    }
    struct hd_err err = {0};
    assert_null(hd_channel_find(NULL, NULL, &err));
    assert_int_equal(err.code, HD_EX_CONFIG);
    /* 32 characters is a fine name, just not a module that exists */
    assert_null(hd_channel_find("abcdefghijklmnopqrstuvwxyz012345", HERALD_MODULES_DIR, &err));
    assert_contains(err.msg, "unknown channel module");
}

/* Copies echo.so to dir/<name>.so. */
static void copy_echo_as(const char *name)
{
    size_t len;
    char file[64];
    char *bytes = slurp(HERALD_MODULES_DIR "/echo.so", &len);
    snprintf(file, sizeof file, "%s.so", name);
    free(hd_test_write(hd_fx_dir, file, bytes, len));
    free(bytes);
}

static void test_channels_refuses_clashing_or_misnamed_modules(void **state)
{
    struct hd_err err = {0};
    (void)state;
    copy_echo_as("file");
    assert_null(hd_channel_find("file", hd_fx_dir, &err));
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_contains(err.msg, "built-in module \"file\"");
    assert_contains(err.msg, hd_fx_path("file.so"));
    /* without the modules directory the built-in is found as always */
    assert_non_null(hd_channel_find("file", NULL, &err));

    memset(&err, 0, sizeof err);
    copy_echo_as("other");
    assert_null(hd_channel_find("other", hd_fx_dir, &err));
    assert_int_equal(err.code, HD_EX_UNAVAILABLE);
    assert_contains(err.msg, "calls itself \"echo\", not \"other\"");

    /* a file that is not a shared object: dlopen's reason is passed on */
    memset(&err, 0, sizeof err);
    free(hd_test_write(hd_fx_dir, "junk.so", "not an ELF file\n", (size_t)-1));
    assert_null(hd_channel_find("junk", hd_fx_dir, &err));
    assert_int_equal(err.code, HD_EX_UNAVAILABLE);
    assert_contains(err.msg, "cannot load channel module \"junk\": ");
    assert_contains(err.msg, "junk.so");
}

/* ---- the file module -------------------------------------------------------- */

static void test_channels_file_maildir_stores_exact_bytes(void **state)
{
    static const char *const bodies[] = {
        "From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n",
        "From: a@example.org\r\nSubject: two\r\n\r\n\xc3\xa9t\xc3\xa9\r\nbare\nlf\r\n",
        "",
    };
    struct hd_campaign *c;
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_err err = {0};
    struct hd_message m[3];
    struct stat st;
    void *inst = NULL;
    const struct hd_channel_ops *ops;
    char path[2048];
    (void)state;

    c = load_campaign("  mail:\n"
                      "    type: email\n"
                      "    module: file\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n"
                      "    settings:\n"
                      "      maildir: out/maildir\n"
                      "      fsync: true\n");
    assert_non_null(c);
    ops = create(c, "mail", &host, &inst);
    for (unsigned i = 0; i < 3; i++)
        m[i] = message(HD_CHANNEL_EMAIL, i, bodies[i]);
    assert_int_equal(ops->send(inst, m, 3, &err), 0);
    assert_int_equal(ops->flush(inst, &err), 0);
    assert_int_equal(r.n, 3);

    /* relative to the campaign file; tmp, new and cur are 0700 */
    for (size_t i = 0; i < 3; i++) {
        static const char *const sub[] = {"out/maildir/tmp", "out/maildir/new", "out/maildir/cur"};
        assert_int_equal(stat(hd_fx_path(sub[i]), &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    assert_int_equal(count_entries(hd_fx_path("out/maildir/new")), 3);
    assert_int_equal(count_entries(hd_fx_path("out/maildir/tmp")), 0);
    for (unsigned i = 0; i < 3; i++) {
        size_t len;
        char want[64];
        assert_int_equal(r.o[i].handle, m[i].handle);
        assert_int_equal(r.o[i].kind, HD_OUTCOME_ACCEPTED);
        assert_string_equal(r.o[i].event, "inbox.stored");
        /* <time>.<message key>_<attempt>.<host> */
        snprintf(want, sizeof want, ".%032x_1.", 0xabc000u + i);
        assert_contains(r.o[i].provider_id, want);
        assert_null(strchr(r.o[i].provider_id, '/'));
        assert_null(strchr(r.o[i].provider_id, ':'));
        snprintf(path, sizeof path, "%s/out/maildir/new/%s", hd_fx_dir, r.o[i].provider_id);
        char *got = slurp(path, &len);
        assert_int_equal(len, strlen(bodies[i]));
        assert_memory_equal(got, bodies[i], len);
        free(got);
    }

    /* a re-send never overwrites: it is an extra copy */
    r.n = 0;
    assert_int_equal(ops->send(inst, m, 1, &err), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.o[0].kind, HD_OUTCOME_ACCEPTED);
    assert_int_equal(count_entries(hd_fx_path("out/maildir/new")), 4);
    ops->close(inst);
    hd_campaign_free(c);
}

static void test_channels_file_outbox_appends_json_lines(void **state)
{
    static const char *const bodies[] = {
        "{\"title\":\"Hi\",\"body\":\"line1\\nline2\"}",
        "not json \xc3\xa9",
        "{\"x\":1}",
    };
    struct hd_campaign *c;
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_err err = {0};
    struct hd_message m[3];
    void *inst = NULL;
    const struct hd_channel_ops *ops;
    size_t len;
    char *text, *line, *save = NULL;
    (void)state;

    c = load_campaign("  app:\n"
                      "    type: push\n"
                      "    module: file\n"
                      "    settings:\n"
                      "      outbox: out/app.jsonl\n");
    assert_non_null(c);
    ops = create(c, "app", &host, &inst);
    for (unsigned i = 0; i < 3; i++)
        m[i] = message(HD_CHANNEL_PUSH, i, bodies[i]);
    assert_int_equal(ops->send(inst, m, 2, &err), 0);
    assert_int_equal(ops->send(inst, m + 2, 1, &err), 0);
    ops->close(inst);
    /* a new instance (a restart) continues the numbering */
    ops = create(c, "app", &host, &inst);
    assert_int_equal(ops->send(inst, m, 1, &err), 0);
    assert_int_equal(ops->flush(inst, &err), 0);
    ops->close(inst);

    assert_int_equal(r.n, 4);
    for (unsigned i = 0; i < 4; i++) {
        char want[8];
        snprintf(want, sizeof want, "%u", i + 1);
        assert_int_equal(r.o[i].kind, HD_OUTCOME_ACCEPTED);
        assert_string_equal(r.o[i].event, "outbox.appended");
        assert_string_equal(r.o[i].provider_id, want);
        assert_int_equal(r.o[i].handle, m[i % 3].handle);
    }

    text = slurp(hd_fx_path("out/app.jsonl"), &len);
    assert_true(len > 0 && text[len - 1] == '\n');
    unsigned i = 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr), *p;
        const struct hd_message *mm = &m[i % 3];
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "idempotency_key")),
                            mm->message_id);
        assert_string_equal(json_string_value(json_object_get(j, "token")), mm->recipient);
        assert_string_equal(json_string_value(json_object_get(j, "person_id")), mm->person_id);
        assert_string_equal(json_string_value(json_object_get(j, "language")), "en");
        p = json_object_get(j, "payload");
        if (i % 3 == 1) {
            assert_true(json_is_string(p));
            assert_string_equal(json_string_value(p), bodies[1]);
        } else {
            assert_true(json_is_object(p));
        }
        if (i % 3 == 0)
            assert_string_equal(json_string_value(json_object_get(p, "body")), "line1\nline2");
        json_decref(j);
    }
    assert_int_equal(i, 4);
    free(text);
    hd_campaign_free(c);
}

static void test_channels_file_bad_settings_are_located(void **state)
{
    struct hd_campaign *c;
    struct hd_err err;
    (void)state;

    c = load_campaign("  mail:\n"
                      "    type: email\n"
                      "    module: file\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n"
                      "    settings:\n"
                      "      maildri: out/maildir\n");
    assert_non_null(c);
    err = create_error(c, "mail");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("maildri:"));
    assert_contains(err.msg, "unknown setting \"maildri\"");
    assert_contains(err.msg, "did you mean \"maildir\"?");
    hd_campaign_free(c);

    /* no settings at all: located at the channel */
    c = load_campaign("  mail:\n"
                      "    type: email\n"
                      "    module: file\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n");
    assert_non_null(c);
    err = create_error(c, "mail");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("mail:"));
    assert_contains(err.msg, "maildir");
    hd_campaign_free(c);

    /* an outbox on an email channel, a required one missing */
    c = load_campaign("  app:\n"
                      "    type: push\n"
                      "    module: file\n"
                      "    settings:\n"
                      "      fsync: false\n");
    assert_non_null(c);
    err = create_error(c, "app");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("fsync:"));
    assert_contains(err.msg, "missing required setting \"outbox\"");
    hd_campaign_free(c);

    c = load_campaign("  app:\n"
                      "    type: push\n"
                      "    module: file\n"
                      "    settings:\n"
                      "      outbox: out/a.jsonl\n"
                      "      fsync: sometimes\n"
                      "  mail:\n"
                      "    type: email\n"
                      "    module: file\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n"
                      "    settings:\n"
                      "      outbox: out/b.jsonl\n"
                      "  bench:\n"
                      "    type: push\n"
                      "    module: \"null\"\n"
                      "    settings:\n"
                      "      fail_every: -1\n"
                      "  quiet:\n"
                      "    type: push\n"
                      "    module: \"null\"\n"
                      "    settings:\n"
                      "      outbox: out/c.jsonl\n");
    assert_non_null(c);
    err = create_error(c, "app");
    assert_contains(err.msg, mark_of("sometimes"));
    assert_contains(err.msg, "must be true or false");
    err = create_error(c, "mail");
    assert_contains(err.msg, mark_of("outbox: out/b"));
    assert_contains(err.msg, "unknown setting \"outbox\" for channel \"mail\"");
    err = create_error(c, "bench");
    assert_contains(err.msg, mark_of("-1"));
    assert_contains(err.msg, "whole number");
    err = create_error(c, "quiet");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("outbox: out/c"));
    hd_campaign_free(c);

    /* a maildir that cannot be created */
    free(hd_test_write(hd_fx_dir, "plainfile", "x", (size_t)-1));
    c = load_campaign("  mail:\n"
                      "    type: email\n"
                      "    module: file\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n"
                      "    settings:\n"
                      "      maildir: plainfile/maildir\n");
    assert_non_null(c);
    err = create_error(c, "mail");
    assert_int_equal(err.code, HD_EX_CANTCREAT);
    assert_contains(err.msg, mark_of("plainfile/maildir"));
    hd_campaign_free(c);
}

static void test_channels_fault_injection(void **state)
{
    struct hd_campaign *c;
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_err err = {0};
    struct hd_message m[7];
    void *inst = NULL;
    const struct hd_channel_ops *ops;
    (void)state;

    c = load_campaign("  mail:\n"
                      "    type: email\n"
                      "    module: file\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n"
                      "    settings:\n"
                      "      maildir: md\n"
                      "      fail_every: 3\n"
                      "      delay_ms: 1\n"
                      "  bench:\n"
                      "    type: push\n"
                      "    module: \"null\"\n"
                      "    settings:\n"
                      "      fail_every: 2\n"
                      "      permanent_every: 3\n");
    assert_non_null(c);
    ops = create(c, "mail", &host, &inst);
    for (unsigned i = 0; i < 7; i++)
        m[i] = message(HD_CHANNEL_EMAIL, i, "Subject: x\r\n\r\nx\r\n");
    /* counted per instance, across batches */
    assert_int_equal(ops->send(inst, m, 4, &err), 0);
    assert_int_equal(ops->send(inst, m + 4, 3, &err), 0);
    ops->close(inst);
    assert_int_equal(r.n, 7);
    for (unsigned i = 0; i < 7; i++) {
        assert_int_equal(r.o[i].handle, m[i].handle);
        if ((i + 1) % 3 == 0) {
            assert_int_equal(r.o[i].kind, HD_OUTCOME_TRANSIENT);
            assert_contains(r.o[i].reason, "injected failure");
        } else {
            assert_int_equal(r.o[i].kind, HD_OUTCOME_ACCEPTED);
        }
    }
    assert_int_equal(count_entries(hd_fx_path("md/new")), 5);

    r.n = 0;
    ops = create(c, "bench", &host, &inst);
    for (unsigned i = 0; i < 7; i++)
        m[i] = message(HD_CHANNEL_PUSH, i, "{}");
    assert_int_equal(ops->send(inst, m, 7, &err), 0);
    assert_int_equal(ops->flush(inst, &err), 0);
    ops->close(inst);
    assert_int_equal(r.n, 7);
    for (unsigned i = 0; i < 7; i++) {
        unsigned k = i + 1;
        enum hd_outcome_kind want = k % 3 == 0   ? HD_OUTCOME_PERMANENT
                                    : k % 2 == 0 ? HD_OUTCOME_TRANSIENT
                                                 : HD_OUTCOME_ACCEPTED;
        assert_int_equal(r.o[i].kind, want);
        assert_string_equal(r.o[i].event,
                            want == HD_OUTCOME_ACCEPTED ? "null.accepted" : "injected_failure");
    }
    hd_campaign_free(c);
}

static void test_channels_null_accepts_everything(void **state)
{
    struct hd_campaign *c;
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_err err = {0};
    struct hd_message m[5];
    void *inst = NULL;
    const struct hd_channel_ops *ops;
    (void)state;

    c = load_campaign("  bench:\n"
                      "    type: email\n"
                      "    module: \"null\"\n"
                      "    from: \"Lumen <privacy@lumen.example>\"\n");
    assert_non_null(c);
    ops = create(c, "bench", &host, &inst);
    for (unsigned i = 0; i < 5; i++)
        m[i] = message(HD_CHANNEL_EMAIL, i, "x");
    assert_int_equal(ops->send(inst, m, 5, &err), 0);
    assert_int_equal(ops->send(inst, m, 0, &err), 0);
    assert_int_equal(ops->flush(inst, &err), 0);
    ops->close(inst);
    assert_int_equal(r.n, 5);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(r.o[i].handle, m[i].handle);
        assert_int_equal(r.o[i].kind, HD_OUTCOME_ACCEPTED);
        assert_string_equal(r.o[i].event, "null.accepted");
    }
    hd_campaign_free(c);
}

/* ---- check: settings checked without creating anything ---------------------- */

/* Appends a channel to buf: name, type, module, a from: for email, and the
 * settings lines (each indented six spaces) when not NULL. */
static void add_channel(char *buf, size_t size, const char *name, const char *type,
                        const char *module, const char *settings)
{
    size_t n = strlen(buf);
    int w = snprintf(
        buf + n, size - n, "  %s:\n    type: %s\n    module: %s\n%s%s%s", name, type, module,
        strcmp(type, "email") == 0 ? "    from: \"Lumen <privacy@lumen.example>\"\n" : "",
        settings ? "    settings:\n" : "", settings ? settings : "");
    assert_true(w > 0 && (size_t)w < size - n);
}

static void test_channels_check_is_in_every_builtin(void **state)
{
    struct hd_err err = {0};
    (void)state;
    for (size_t i = 0; hd_channel_builtin_names[i]; i++) {
        const struct hd_channel_ops *ops = hd_channel_find(hd_channel_builtin_names[i], NULL, &err);
        assert_non_null(ops);
        assert_true(HD_CHANNEL_OPS_HAS(ops, check));
        assert_non_null(ops->check);
    }
}

static void test_channels_check_passes_good_settings_and_creates_nothing(void **state)
{
    char y[4096] = "";
    struct hd_campaign *c;
    struct hd_diags d;
    struct hd_err err;
    struct stat st;
    size_t threads = thread_count();
    (void)state;

    add_channel(y, sizeof y, "mail", "email", "file",
                "      maildir: out/maildir\n"
                "      fsync: true\n");
    add_channel(y, sizeof y, "app", "push", "file", "      outbox: out2/app.jsonl\n");
    add_channel(y, sizeof y, "bench", "push", "\"null\"", "      fail_every: 3\n");
    add_channel(y, sizeof y, "relay", "email", "smtp",
                "      relays: [smtp1.example.com:587, 127.0.0.1:2525]\n"
                "      starttls: opportunistic\n"
                "      ca_file: no/such/ca.pem\n"
                "      pool_size: 4\n"
                "      connect_timeout: 5s\n"
                "      helo: herald.example\n"
                "      dkim:\n"
                "        domain: lumen.example\n"
                "        selector: herald\n"
                "        ed25519_key_file: keys/not-here.pem\n");
    add_channel(y, sizeof y, "notify", "push", "http-push",
                "      url: https://notify.example/v1/notices\n"
                "      max_in_flight: 8\n"
                "      batch:\n"
                "        max_items: 50\n");
    add_channel(y, sizeof y, "ext", "push", "echo", NULL);
    c = load_campaign(y);
    assert_non_null(c);
    for (size_t i = 0; i < c->nchannels; i++)
        assert_check_passes(c, c->channels[i].name);
    hd_diags_init(&d);
    assert_int_equal(hd_channel_check_campaign(c, HERALD_MODULES_DIR, &d), 0);
    assert_int_equal(d.count, 0);
    assert_int_equal(d.code, 0);
    hd_diags_release(&d);

    /* nothing created, no thread started, no key read */
    assert_int_equal(stat(hd_fx_path("out"), &st), -1);
    assert_int_equal(stat(hd_fx_path("out2"), &st), -1);
    assert_int_equal(count_entries(hd_fx_dir), 1); /* campaign.yaml */
    assert_int_equal(thread_count(), threads);
    err = create_error(c, "relay");
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_contains(err.msg, mark_of("keys/not-here.pem"));
    hd_campaign_free(c);
}

static void test_channels_check_file_and_null(void **state)
{
    char y[4096] = "";
    struct hd_campaign *c;
    struct hd_err err;
    (void)state;

    add_channel(y, sizeof y, "mail", "email", "file", "      maildri: out/maildir\n");
    add_channel(y, sizeof y, "bare", "email", "file", NULL);
    add_channel(y, sizeof y, "app", "push", "file",
                "      outbox: out/a.jsonl\n"
                "      fsync: sometimes\n");
    add_channel(y, sizeof y, "app2", "push", "file", "      delay_ms: 5\n");
    add_channel(y, sizeof y, "mail2", "email", "file", "      outbox: out/b.jsonl\n");
    add_channel(y, sizeof y, "mail3", "email", "file",
                "      maildir: plainfile/maildir\n"
                "      delay_ms: 100000\n");
    add_channel(y, sizeof y, "bench", "push", "\"null\"", "      fail_every: -1\n");
    add_channel(y, sizeof y, "quiet", "push", "\"null\"", "      outbox: out/c.jsonl\n");
    c = load_campaign(y);
    assert_non_null(c);
    err = check_error(c, "mail");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("maildri:"));
    assert_contains(err.msg, "unknown setting \"maildri\" for channel \"mail\" (module file; did "
                             "you mean \"maildir\"?)");
    err = check_error(c, "bare");
    assert_contains(err.msg, mark_of("bare:"));
    assert_contains(err.msg, "needs settings: with \"maildir\"");
    err = check_error(c, "app");
    assert_contains(err.msg, mark_of("sometimes"));
    assert_contains(err.msg, "setting \"fsync\" must be true or false, not \"sometimes\"");
    err = check_error(c, "app2");
    assert_contains(err.msg, mark_of("delay_ms: 5"));
    assert_contains(err.msg, "missing required setting \"outbox\"");
    err = check_error(c, "mail2");
    assert_contains(err.msg, mark_of("outbox: out/b"));
    err = check_error(c, "mail3");
    assert_contains(err.msg, mark_of("100000"));
    assert_contains(err.msg, "from 0 to 60000");
    err = check_error(c, "bench");
    assert_contains(err.msg, mark_of("-1"));
    assert_contains(err.msg, "whole number");
    err = check_error(c, "quiet");
    assert_contains(err.msg, mark_of("outbox: out/c"));
    assert_contains(err.msg, "(module null knows: fail_every, permanent_every)");
    hd_campaign_free(c);

    /* a maildir that cannot be created is for create() to find: check
     * creates nothing, so it does not try */
    free(hd_test_write(hd_fx_dir, "plainfile", "x", (size_t)-1));
    y[0] = '\0';
    add_channel(y, sizeof y, "mail", "email", "file", "      maildir: plainfile/maildir\n");
    c = load_campaign(y);
    assert_non_null(c);
    assert_check_passes(c, "mail");
    err = create_error(c, "mail");
    assert_int_equal(err.code, HD_EX_CANTCREAT);
    hd_campaign_free(c);
}

static void test_channels_check_smtp(void **state)
{
    char y[8192] = "";
    struct hd_campaign *c;
    struct hd_err err;
    size_t threads = thread_count();
    (void)state;

    add_channel(y, sizeof y, "port", "email", "smtp",
                "      relays: [smtp1.example.com:587, smtp.example.com:70000]\n");
    add_channel(y, sizeof y, "tls", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      starttls: sometimes\n");
    add_channel(y, sizeof y, "typo", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      pool_sise: 4\n");
    add_channel(y, sizeof y, "pool", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      pool_size: 0\n");
    add_channel(y, sizeof y, "timeout", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      data_timeout: 2d\n");
    add_channel(y, sizeof y, "onlyuser", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      auth_user_env: SMTP_USER_ONLY\n");
    add_channel(y, sizeof y, "notmail", "push", "smtp", "      relays: [a.example:25]\n");
    add_channel(y, sizeof y, "norelay", "email", "smtp", "      pool_size: 2\n");
    c = load_campaign(y);
    assert_non_null(c);
    err = check_error(c, "port");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("smtp.example.com:70000"));
    assert_contains(err.msg, "a relay must be \"host:port\" (a host name or IPv4 address, port "
                             "1-65535), not \"smtp.example.com:70000\"");
    err = check_error(c, "tls");
    assert_contains(err.msg, mark_of("sometimes"));
    assert_contains(err.msg, "setting \"starttls\" must be required, opportunistic or off");
    err = check_error(c, "typo");
    assert_contains(err.msg, mark_of("pool_sise"));
    assert_contains(err.msg, "did you mean \"pool_size\"?");
    err = check_error(c, "pool");
    assert_contains(err.msg, mark_of("0\n"));
    assert_contains(err.msg, "setting \"pool_size\" must be from 1 to 256");
    err = check_error(c, "timeout");
    assert_contains(err.msg, mark_of("2d"));
    assert_contains(err.msg, "setting \"data_timeout\" must be a duration");
    err = check_error(c, "onlyuser");
    assert_contains(err.msg, mark_of("SMTP_USER_ONLY"));
    assert_contains(err.msg, "needs both auth_user_env and auth_password_env");
    err = check_error(c, "notmail");
    assert_contains(err.msg, mark_of("notmail:"));
    assert_contains(err.msg, "this channel is not of type email");
    err = check_error(c, "norelay");
    assert_contains(err.msg, mark_of("pool_size: 2"));
    assert_contains(err.msg, "missing required setting \"relays\"");
    hd_campaign_free(c);

    y[0] = '\0';
    add_channel(y, sizeof y, "clear", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      starttls: off\n"
                "      auth_user_env: SMTP_U\n"
                "      auth_password_env: SMTP_P\n");
    add_channel(y, sizeof y, "from", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      mail_from: not an address\n");
    add_channel(y, sizeof y, "helo", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      helo: bad/host\n");
    add_channel(y, sizeof y, "dkimkey", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      dkim:\n"
                "        domain: lumen.example\n"
                "        selectr: x\n");
    add_channel(y, sizeof y, "dkimsel", "email", "smtp",
                "      relays: [a.example:26]\n"
                "      dkim:\n"
                "        domain: lumen.example\n"
                "        rsa_key_file: k.pem\n");
    add_channel(y, sizeof y, "dkimmap", "email", "smtp",
                "      relays: [a.example:27]\n"
                "      dkim: yes\n");
    c = load_campaign(y);
    assert_non_null(c);
    err = check_error(c, "clear");
    assert_contains(err.msg, mark_of("SMTP_U\n"));
    assert_contains(err.msg, "SMTP AUTH needs starttls: required");
    err = check_error(c, "from");
    assert_contains(err.msg, mark_of("not an address"));
    assert_contains(err.msg, "setting \"mail_from\"");
    err = check_error(c, "helo");
    assert_contains(err.msg, mark_of("bad/host"));
    assert_contains(err.msg, "setting \"helo\" must be this host's domain name");
    err = check_error(c, "dkimkey");
    assert_contains(err.msg, mark_of("selectr"));
    assert_contains(err.msg, "unknown dkim setting \"selectr\" (did you mean \"selector\"?)");
    err = check_error(c, "dkimsel");
    assert_contains(err.msg, mark_of("domain: lumen.example\n        rsa_key_file"));
    assert_contains(err.msg, "dkim needs a selector");
    err = check_error(c, "dkimmap");
    assert_contains(err.msg, mark_of("yes"));
    assert_contains(err.msg, "setting \"dkim\" must be a mapping");
    hd_campaign_free(c);
    assert_int_equal(thread_count(), threads);
}

static void test_channels_check_smtp_warns_about_what_run_needs(void **state)
{
    char y[4096] = "";
    struct hd_campaign *c;
    struct hd_err err;
    (void)state;

    unsetenv("HERALD_TEST_SMTP_USER");
    unsetenv("HERALD_TEST_SMTP_PASS");
    add_channel(y, sizeof y, "auth", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      auth_user_env: HERALD_TEST_SMTP_USER\n"
                "      auth_password_env: HERALD_TEST_SMTP_PASS\n");
    add_channel(y, sizeof y, "dmarc", "email", "smtp",
                "      relays: [a.example:25]\n"
                "      dkim:\n"
                "        domain: other.example\n"
                "        selector: s1\n"
                "        ed25519_key_file: k.pem\n");
    c = load_campaign(y);
    assert_non_null(c);
    /* a secret missing here is no settings error: a warning, its location */
    err = check_warning(c, "auth");
    assert_contains(err.msg, mark_of("HERALD_TEST_SMTP_USER"));
    assert_contains(err.msg, ": warning: environment variable HERALD_TEST_SMTP_USER (setting "
                             "\"auth_user_env\") is not set here; herald run needs it");
    err = create_error(c, "auth");
    assert_int_equal(err.code, HD_EX_CONFIG);
    setenv("HERALD_TEST_SMTP_USER", "u", 1);
    err = check_warning(c, "auth");
    assert_contains(err.msg, mark_of("HERALD_TEST_SMTP_PASS"));
    setenv("HERALD_TEST_SMTP_PASS", "p", 1);
    assert_check_passes(c, "auth");
    unsetenv("HERALD_TEST_SMTP_USER");
    unsetenv("HERALD_TEST_SMTP_PASS");

    err = check_warning(c, "dmarc");
    assert_contains(err.msg, mark_of("domain: other"));
    assert_contains(err.msg, "warning: DKIM domain other.example is not the From domain "
                             "lumen.example");
    hd_campaign_free(c);
}

static void test_channels_check_http_push(void **state)
{
    char y[8192] = "";
    struct hd_campaign *c;
    struct hd_err err;
    size_t threads = thread_count();
    (void)state;

    add_channel(y, sizeof y, "ftp", "push", "http-push", "      url: ftp://notify.example/x\n");
    add_channel(y, sizeof y, "typo", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      max_in_fligth: 8\n");
    add_channel(y, sizeof y, "get", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      method: GET\n");
    add_channel(y, sizeof y, "authz", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      headers:\n"
                "        Authorization: Bearer abc\n");
    add_channel(y, sizeof y, "batch", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      batch:\n"
                "        url: https://notify.example/batch\n");
    add_channel(y, sizeof y, "tmpl", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      body_template: '{\"t\": \"{{titel}}\"}'\n");
    add_channel(y, sizeof y, "mail", "email", "http-push", "      url: https://notify.example/x\n");
    add_channel(y, sizeof y, "nourl", "push", "http-push", "      timeout: 5s\n");
    c = load_campaign(y);
    assert_non_null(c);
    err = check_error(c, "ftp");
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("ftp://"));
    assert_contains(err.msg, "setting \"url\" must be an http:// or https:// URL");
    err = check_error(c, "typo");
    assert_contains(err.msg, mark_of("max_in_fligth"));
    assert_contains(err.msg, "did you mean \"max_in_flight\"?");
    err = check_error(c, "get");
    assert_contains(err.msg, mark_of("GET"));
    assert_contains(err.msg, "must be POST, PUT or PATCH");
    err = check_error(c, "authz");
    assert_contains(err.msg, mark_of("Authorization:"));
    assert_contains(err.msg, "header \"Authorization\" is set by herald");
    err = check_error(c, "batch");
    assert_contains(err.msg, mark_of("url: https://notify.example/batch"));
    assert_contains(err.msg, "batch needs max_items");
    err = check_error(c, "tmpl");
    assert_contains(err.msg, "unknown variable \"titel\"");
    err = check_error(c, "mail");
    assert_contains(err.msg, mark_of("mail:"));
    assert_contains(err.msg, "module http-push delivers push notices");
    err = check_error(c, "nourl");
    assert_contains(err.msg, mark_of("timeout: 5s"));
    assert_contains(err.msg, "missing required setting \"url\"");
    hd_campaign_free(c);

    /* secrets: named, not read; unset here is a warning, a bad value is
     * for create() to find */
    unsetenv("HERALD_TEST_PUSH_TOKEN");
    setenv("HERALD_TEST_PUSH_HOOK", "too-short", 1);
    y[0] = '\0';
    add_channel(y, sizeof y, "bearer", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      auth:\n"
                "        bearer_env: HERALD_TEST_PUSH_TOKEN\n");
    add_channel(y, sizeof y, "hook", "push", "http-push",
                "      url: https://notify.example/y\n"
                "      webhook_secret_env: HERALD_TEST_PUSH_HOOK\n");
    add_channel(y, sizeof y, "both", "push", "http-push",
                "      url: https://notify.example/z\n"
                "      auth:\n"
                "        bearer_env: HERALD_TEST_PUSH_TOKEN\n"
                "        value_env: X\n");
    c = load_campaign(y);
    assert_non_null(c);
    err = check_warning(c, "bearer");
    assert_contains(err.msg, mark_of("HERALD_TEST_PUSH_TOKEN"));
    assert_contains(err.msg, "warning: environment variable HERALD_TEST_PUSH_TOKEN (setting "
                             "\"auth.bearer_env\") is not set here");
    err = create_error(c, "bearer");
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_check_passes(c, "hook");
    err = create_error(c, "hook");
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_contains(err.msg, "at least 16");
    err = check_error(c, "both");
    assert_contains(err.msg, "auth takes either bearer_env, or header with value_env");
    unsetenv("HERALD_TEST_PUSH_HOOK");
    hd_campaign_free(c);
    assert_int_equal(thread_count(), threads);
}

static void test_channels_check_campaign_reports_every_channel(void **state)
{
    char y[4096] = "";
    struct hd_campaign *c;
    struct hd_diags d;
    (void)state;

    unsetenv("HERALD_TEST_PUSH_TOKEN");
    add_channel(y, sizeof y, "mail", "email", "smtp", "      relays: [smtp.example.com:0]\n");
    add_channel(y, sizeof y, "good", "email", "file", "      maildir: out/md\n");
    add_channel(y, sizeof y, "app", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      auth:\n"
                "        bearer_env: HERALD_TEST_PUSH_TOKEN\n");
    add_channel(y, sizeof y, "outbox", "push", "file", "      outbx: out/a.jsonl\n");
    add_channel(y, sizeof y, "ext", "push", "echo", "      refuse: true\n");
    add_channel(y, sizeof y, "ext2", "push", "echo", "      refuze: true\n");
    c = load_campaign(y);
    assert_non_null(c);
    hd_diags_init(&d);
    assert_int_equal(hd_channel_check_campaign(c, HERALD_MODULES_DIR, &d), 3);
    assert_int_equal(d.code, HD_EX_DATAERR);
    assert_int_equal(d.count, 4);
    /* in channel order, each located, the warning among them */
    assert_contains(d.items[0], mark_of("smtp.example.com:0"));
    assert_contains(d.items[0], "a relay must be");
    assert_contains(d.items[1], mark_of("HERALD_TEST_PUSH_TOKEN"));
    assert_contains(d.items[1], ": warning: ");
    assert_contains(d.items[2], mark_of("outbx"));
    assert_contains(d.items[2], "did you mean \"outbox\"?");
    assert_contains(d.items[3], mark_of("refuze"));
    assert_contains(d.items[3], "unknown setting \"refuze\" for echo");
    hd_diags_release(&d);
    /* nothing was created */
    assert_int_equal(count_entries(hd_fx_dir), 1);
    hd_campaign_free(c);

    /* warnings alone never fail */
    y[0] = '\0';
    add_channel(y, sizeof y, "app", "push", "http-push",
                "      url: https://notify.example/x\n"
                "      auth:\n"
                "        bearer_env: HERALD_TEST_PUSH_TOKEN\n");
    c = load_campaign(y);
    assert_non_null(c);
    hd_diags_init(&d);
    assert_int_equal(hd_channel_check_campaign(c, NULL, &d), 0);
    assert_int_equal(d.count, 1);
    assert_int_equal(d.code, 0);
    hd_diags_release(&d);
    hd_campaign_free(c);
}

/* ---- check and the ABI ------------------------------------------------------ */

static int silent_check(const struct hd_channel_view *view, struct hd_err *err)
{
    (void)view;
    (void)err;
    return -1; /* breaks the contract: no code, no message */
}

static void test_channels_check_is_optional(void **state)
{
    struct hd_err err = {0};
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_message m[2];
    struct hd_campaign *c;
    struct hd_diags d;
    const struct hd_channel_ops *ops, *file;
    struct hd_channel_ops table;
    void *inst = NULL;
    char y[1024] = "";
    (void)state;

    /* a module built before check existed: its table ends at close */
    ops = hd_channel_find("legacy", HERALD_MODULES_DIR, &err);
    if (ops == NULL)
        print_message("%s\n", err.msg);
    assert_non_null(ops);
    assert_int_equal(ops->size, offsetof(struct hd_channel_ops, check));
    assert_false(HD_CHANNEL_OPS_HAS(ops, check));
    assert_true(HD_CHANNEL_OPS_HAS(ops, close));
    add_channel(y, sizeof y, "old", "push", "legacy", "      anything: goes\n");
    c = load_campaign(y);
    assert_non_null(c);
    assert_int_equal(hd_channel_check(ops, c, channel(c, "old"), &err), 0);
    assert_int_equal(err.code, 0);
    hd_diags_init(&d);
    assert_int_equal(hd_channel_check_campaign(c, HERALD_MODULES_DIR, &d), 0);
    assert_int_equal(d.count, 0);
    hd_diags_release(&d);
    /* and it works as it always did */
    assert_int_equal(create_via(ops, &host, c, channel(c, "old"), &inst, &err), 0);
    for (unsigned i = 0; i < 2; i++)
        m[i] = message(HD_CHANNEL_PUSH, i, "{}");
    assert_int_equal(ops->send(inst, m, 2, &err), 0);
    assert_int_equal(ops->flush(inst, &err), 0);
    ops->close(inst);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.o[1].event, "legacy.accepted");

    /* a current table with check NULL: nothing to check */
    file = hd_channel_find("file", NULL, &err);
    assert_non_null(file);
    memcpy(&table, file, sizeof table);
    table.check = NULL;
    assert_int_equal(hd_channel_check(&table, c, channel(c, "old"), &err), 0);
    /* a check that fails without saying why still gives a located error */
    table.check = silent_check;
    assert_int_equal(hd_channel_check(&table, c, channel(c, "old"), &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_contains(err.msg, mark_of("old:"));
    assert_contains(err.msg, "module legacy refuses its settings without saying why");
    hd_campaign_free(c);

    /* an external module's check: refuse: true is valid settings, only
     * create() refuses */
    y[0] = '\0';
    add_channel(y, sizeof y, "app", "push", "echo", "      refuse: true\n");
    c = load_campaign(y);
    assert_non_null(c);
    assert_check_passes(c, "app");
    memset(&err, 0, sizeof err);
    ops = hd_channel_find("echo", HERALD_MODULES_DIR, &err);
    assert_non_null(ops);
    assert_true(HD_CHANNEL_OPS_HAS(ops, check));
    inst = NULL;
    assert_int_equal(create_via(ops, &host, c, channel(c, "app"), &inst, &err), -1);
    assert_contains(err.msg, "echo refuses, as asked");
    hd_campaign_free(c);
}

/* Issue 10, finding 6: every registered secret, and its base64, is cut out
 * of a reply wherever it occurs, also at the cut end of a truncated reply;
 * replacements never overflow the buffer. */
/* ---- what modules get: the view, the out helper, the settings table -------- */

static char last_log[1100];
static int last_level = -1;

static void capture_log(void *ctx, int level, const char *message)
{
    (void)ctx;
    last_level = level;
    snprintf(last_log, sizeof last_log, "%s", message);
}

static void test_channels_view_is_what_modules_see(void **state)
{
    struct hd_campaign *c;
    struct hd_channel_view v, old;
    const struct hd_channel_conf *conf;
    char y[1024] = "";
    (void)state;
    add_channel(y, sizeof y, "mail", "email", "null", "      fail_every: 3\n");
    c = load_campaign(y);
    assert_non_null(c);
    conf = channel(c, "mail");
    hd_channel_view_init(&v, c, conf);
    assert_int_equal(v.abi, HD_CHANNEL_ABI);
    assert_int_equal(v.size, sizeof v);
    assert_string_equal(v.name, "mail");
    assert_string_equal(v.module, "null");
    assert_int_equal(v.type, HD_CHANNEL_EMAIL);
    assert_string_equal(v.campaign_file, c->path);
    assert_string_equal(v.campaign_dir, c->dir);
    assert_int_equal(v.line, conf->line);
    assert_int_equal(v.col, conf->col);
    assert_string_equal(v.from_addr, "privacy@lumen.example");
    assert_ptr_equal(v.settings, conf->settings);
    assert_string_equal(hd_channel_setting(&v, "fail_every")->str, "3");
    assert_null(hd_channel_setting(&v, "permanent_every"));
    /* a view from an older herald ends earlier: a later field is absent */
    assert_true(HD_CHANNEL_VIEW_HAS(&v, from_addr));
    old = v;
    old.size = offsetof(struct hd_channel_view, from_addr);
    assert_false(HD_CHANNEL_VIEW_HAS(&old, from_addr));
    assert_true(HD_CHANNEL_VIEW_HAS(&old, settings));
    v.settings = NULL;
    assert_null(hd_channel_setting(&v, "fail_every"));
    hd_campaign_free(c);
}

static void test_channels_out_redacts_reports_and_logs(void **state)
{
    struct rec r = {0};
    struct hd_channel_host host = host_for(&r);
    struct hd_channel_out out;
    struct hd_secrets sec = {0};
    (void)state;
    host.log = capture_log;

    /* no secrets: outcomes go out as they are, log lines get the prefix */
    hd_channel_out_init(&out, &host, "mail");
    hd_secrets_guard(&out, &sec);
    assert_null(out.redact);
    hd_channel_report(&out, &(struct hd_outcome){.handle = 7,
                                                 .kind = HD_OUTCOME_TRANSIENT,
                                                 .event = "smtp.deferred",
                                                 .reason = "451 try later"});
    assert_int_equal(r.n, 1);
    assert_int_equal(r.o[0].handle, 7);
    assert_int_equal(r.o[0].kind, HD_OUTCOME_TRANSIENT);
    assert_string_equal(r.o[0].event, "smtp.deferred");
    assert_string_equal(r.o[0].reason, "451 try later");
    hd_channel_log(&out, 1, "relay %s is down", "mx1:25");
    assert_int_equal(last_level, 1);
    assert_string_equal(last_log, "channel mail: relay mx1:25 is down");

    /* with a secret: it leaves neither in an outcome nor in a log line */
    assert_int_equal(hd_secrets_add(&sec, "s3cret-pw", 9), 0);
    hd_secrets_guard(&out, &sec);
    assert_non_null(out.redact);
    hd_channel_report(&out, &(struct hd_outcome){.handle = 8,
                                                 .kind = HD_OUTCOME_PERMANENT,
                                                 .event = "smtp.rejected",
                                                 .provider_id = "q-1",
                                                 .reason = "535 bad password s3cret-pw"});
    assert_int_equal(r.n, 2);
    assert_string_equal(r.o[1].provider_id, "q-1");
    assert_string_equal(r.o[1].reason, "535 bad password [redacted]");
    hd_channel_log(&out, 0, "relay said %s", "s3cret-pw");
    assert_string_equal(last_log, "channel mail: relay said [redacted]");

    /* no prefix, no log callback: nothing logged, nothing crashes */
    hd_channel_out_init(&out, &host, NULL);
    hd_channel_log(&out, 2, "plain");
    assert_string_equal(last_log, "plain");
    host.log = NULL;
    hd_channel_out_init(&out, &host, "mail");
    hd_channel_log(&out, 2, "dropped");
    assert_string_equal(last_log, "plain");
    hd_secrets_free(&sec);
}

struct table_conf {
    char *url, *mode;
    unsigned long items;
    unsigned small;
    bool on;
    int seen_absent;
};

static int note_absent(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                       const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct table_conf *t = ctx->conf;
    (void)s;
    (void)label;
    (void)err;
    t->seen_absent += n == NULL;
    return 0;
}

static const struct hd_setting test_table[] = {
    {.key = "url",
     .type = HD_SETTING_STR,
     HD_SETTING_FIELD(struct table_conf, url),
     .required = "url: https://x.example/"},
    {.key = "mode",
     .type = HD_SETTING_STR,
     HD_SETTING_FIELD(struct table_conf, mode),
     .dflt_str = "fast"},
    {.key = "items",
     .type = HD_SETTING_UINT,
     HD_SETTING_FIELD(struct table_conf, items),
     .max = 100,
     .dflt = 10,
     .check = hd_setting_at_least_1},
    {.key = "small",
     .type = HD_SETTING_UINT,
     HD_SETTING_FIELD(struct table_conf, small),
     .max = 9,
     .dflt = 3,
     .check = hd_setting_from_1},
    {.key = "on", .type = HD_SETTING_BOOL, HD_SETTING_FIELD(struct table_conf, on), .dflt = true},
    {.key = "extra", .type = HD_SETTING_NODE, .check = note_absent, .flags = HD_SETTING_ABSENT},
    {0},
};

/* Loads settings text (a mapping) through test_table, nested as "batch"
 * when nested; the error message in err. */
static int load_table(const char *text, bool nested, struct table_conf *t, struct hd_err *err)
{
    struct hd_channel_view view = {.abi = HD_CHANNEL_ABI,
                                   .size = sizeof view,
                                   .name = "t",
                                   .module = "test",
                                   .campaign_file = "c.yaml",
                                   .line = 4,
                                   .col = 3};
    struct hd_err perr = {0};
    struct hd_ydoc *doc;
    int rc;
    memset(t, 0, sizeof *t);
    doc = hd_yaml_parse("s.yaml", text, strlen(text), &perr);
    if (doc == NULL)
        fail_msg("%s", perr.msg);
    view.settings = doc->root;
    struct hd_settings_ctx ctx = {.view = &view, .conf = t, .what = nested ? "batch" : NULL};
    rc = hd_settings_load(test_table, doc->root, &ctx, err);
    hd_yaml_free(doc);
    return rc;
}

static void free_table(struct table_conf *t)
{
    free(t->url);
    free(t->mode);
}

static void test_channels_settings_table(void **state)
{
    struct table_conf t;
    struct hd_err err = {0};
    (void)state;
    /* defaults, then the values, each key written once */
    assert_int_equal(load_table("url: https://a.example/\n", false, &t, &err), 0);
    assert_string_equal(t.url, "https://a.example/");
    assert_string_equal(t.mode, "fast");
    assert_int_equal(t.items, 10);
    assert_int_equal(t.small, 3);
    assert_true(t.on);
    assert_int_equal(t.seen_absent, 1);
    free_table(&t);
    assert_int_equal(load_table("url: u\nmode: slow\nitems: 100\nsmall: 9\non: false\nextra: [1]\n",
                                false, &t, &err),
                     0);
    assert_string_equal(t.mode, "slow");
    assert_int_equal(t.items, 100);
    assert_int_equal(t.small, 9);
    assert_false(t.on);
    assert_int_equal(t.seen_absent, 0);
    free_table(&t);
    /* the errors, worded and located as the modules' were */
    assert_int_equal(load_table("url: u\nitemz: 3\n", false, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:2:1: unknown setting \"itemz\" for channel \"t\" (module "
                                 "test; did you mean \"items\"?)");
    free_table(&t);
    assert_int_equal(load_table("url: u\nqqqqqqqq: 3\n", true, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:2:1: unknown setting \"qqqqqqqq\" in batch (known: url, "
                                 "mode, items, small, on, extra)");
    free_table(&t);
    assert_int_equal(load_table("mode: m\n", false, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:1:1: missing required setting \"url\" for channel \"t\" "
                                 "(module test; e.g. url: https://x.example/)");
    free_table(&t);
    assert_int_equal(load_table("mode: m\n", true, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:1:1: batch needs url: https://x.example/");
    free_table(&t);
    assert_int_equal(load_table("url: u\nitems: 0\n", true, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:2:8: setting \"batch.items\" must be at least 1");
    free_table(&t);
    assert_int_equal(load_table("url: u\nsmall: 0\n", false, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:2:8: setting \"small\" must be from 1 to 9");
    free_table(&t);
    assert_int_equal(load_table("url: u\nitems: 101\n", false, &t, &err), -1);
    assert_string_equal(err.msg,
                        "s.yaml:2:8: setting \"items\" must be a whole number from 0 to 100, not "
                        "\"101\"");
    free_table(&t);
    assert_int_equal(load_table("url: \"\"\n", false, &t, &err), -1);
    assert_string_equal(err.msg,
                        "s.yaml:1:6: setting \"url\" must be a non-empty string, not empty");
    free_table(&t);
    assert_int_equal(load_table("url: u\non: maybe\n", false, &t, &err), -1);
    assert_string_equal(err.msg, "s.yaml:2:5: setting \"on\" must be true or false, not \"maybe\"");
    free_table(&t);
}

static void test_channels_secrets_redact(void **state)
{
    (void)state;
    struct hd_secrets sec = {0};
    char t[128];
    assert_int_equal(hd_secrets_add(&sec, "s3cret-pw", 9), 0);
    assert_int_equal(hd_secrets_add_b64(&sec, (const unsigned char *)"\0herald\0s3cret-pw", 17), 0);
    assert_int_equal(hd_secrets_add(&sec, "", 0), 0); /* ignored */
    assert_int_equal(sec.n, 2);
    snprintf(t, sizeof t, "535 bad: s3cret-pw and s3cret-pw again");
    assert_int_equal(hd_secrets_redact(&sec, t, sizeof t), 2);
    assert_string_equal(t, "535 bad: [redacted] and [redacted] again");
    snprintf(t, sizeof t, "echo AGhlcmFsZABzM2NyZXQtcHc= end");
    assert_int_equal(hd_secrets_redact(&sec, t, sizeof t), 1);
    assert_string_equal(t, "echo [redacted] end");
    snprintf(t, sizeof t, "cut short: s3cret-");
    assert_int_equal(hd_secrets_redact(&sec, t, sizeof t), 1);
    assert_string_equal(t, "cut short: [redacted]");
    snprintf(t, sizeof t, "short s3c"); /* under 6 bytes of a secret: too common to tell */
    assert_int_equal(hd_secrets_redact(&sec, t, sizeof t), 0);
    char small[16];
    snprintf(small, sizeof small, "x s3cret-pw yy");
    hd_secrets_redact(&sec, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_null(strstr(small, "s3cret"));
    snprintf(small, sizeof small, "abcdefgs3cret-p"); /* the secret cut by the buffer */
    hd_secrets_redact(&sec, small, sizeof small);
    assert_null(strstr(small, "s3cret"));
    for (int i = 0; i < HD_SECRETS_MAX - 2; i++) {
        char s[8];
        snprintf(s, sizeof s, "k%d-xyz", i);
        assert_int_equal(hd_secrets_add(&sec, s, strlen(s)), 0);
    }
    assert_int_equal(hd_secrets_add(&sec, "one-too-many", 12), -1);
    hd_secrets_free(&sec);
    hd_secrets_free(&sec);
    snprintf(t, sizeof t, "s3cret-pw");
    assert_int_equal(hd_secrets_redact(&sec, t, sizeof t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_channels_finds_builtins, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_loads_external_module, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_external_module_reports_located_errors, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_refuses_wrong_abi, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_unknown_module, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_refuses_path_names, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_refuses_clashing_or_misnamed_modules, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_file_maildir_stores_exact_bytes, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_file_outbox_appends_json_lines, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_file_bad_settings_are_located, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_fault_injection, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_null_accepts_everything, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_is_in_every_builtin, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_channels_check_passes_good_settings_and_creates_nothing, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_file_and_null, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_smtp, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_smtp_warns_about_what_run_needs, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_http_push, setup, hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_campaign_reports_every_channel, setup,
                                        hd_fx_teardown),
        cmocka_unit_test_setup_teardown(test_channels_check_is_optional, setup, hd_fx_teardown),
        cmocka_unit_test(test_channels_secrets_redact),
        cmocka_unit_test_setup_teardown(test_channels_view_is_what_modules_see, setup,
                                        hd_fx_teardown),
        cmocka_unit_test(test_channels_out_redacts_reports_and_logs),
        cmocka_unit_test(test_channels_settings_table),
    };
    int rc;
#ifdef HERALD_SOURCE_DIR
    setenv("HERALD_SOURCE_DIR", HERALD_SOURCE_DIR, 0); /* for runs outside ctest */
#endif
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(campaign_text);
    return rc;
}
