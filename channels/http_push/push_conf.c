/* channels/http_push/push_conf.c - the settings of the http-push module.
 *
 * Every problem is reported with the offending node's file:line:col:
 * HD_EX_DATAERR for a bad setting, HD_EX_CONFIG for a secret missing from
 * the environment (its value is never printed). docs/push-channel.md lists
 * the settings.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "herald/str.h"
#include "push.h"

#define MAX_IN_FLIGHT_MAX 4096ul
#define BATCH_ITEMS_MAX 10000ul

static const char *const default_patterns[] = {
    "unregistered",
    "notregistered",
    "not registered",
    "invalid token",
    "invalid_token",
    "invalid-token",
    "token_invalid",
    "unknown token",
    "unknown_token",
    "baddevicetoken",
    "token expired",
    "expired token",
    NULL,
};

/* Headers herald sets itself, or that would break the request. */
static const char *const reserved_headers[] = {
    "idempotency-key",
    "content-length",
    "transfer-encoding",
    "expect",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "authorization",
    "connection",
    "te",
    "upgrade",
    "proxy-authorization",
    NULL,
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static int need_map(const struct hd_ynode *n, const char *key, struct hd_err *err)
{
    if (n->kind != HD_YMAP) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be a mapping, not %s", key, hd_ynode_kind_name(n));
        return -1;
    }
    return 0;
}

/* "500ms", "5s", "2m", or a plain number of seconds; into milliseconds. */
static int get_duration(const struct hd_ynode *n, const char *key, unsigned long max_ms,
                        unsigned long *out, struct hd_err *err)
{
    const char *p = n->kind == HD_YSCALAR ? n->str : "";
    unsigned long v = 0, mult = 1000;
    bool ok = *p >= '0' && *p <= '9';
    for (; ok && *p >= '0' && *p <= '9'; p++) {
        if (v > 100000000ul)
            ok = false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (ok && strcmp(p, "ms") == 0)
        mult = 1;
    else if (ok && (strcmp(p, "s") == 0 || *p == '\0'))
        mult = 1000;
    else if (ok && strcmp(p, "m") == 0)
        mult = 60000;
    else
        ok = false;
    if (!ok || v * mult > max_ms || v == 0) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be a duration from 1ms to %lus such as 500ms, 10s or 1m, "
                  "not %s%s%s",
                  key, max_ms / 1000, n->kind == HD_YSCALAR ? "\"" : "",
                  n->kind == HD_YSCALAR ? n->str : hd_ynode_kind_name(n),
                  n->kind == HD_YSCALAR ? "\"" : "");
        return -1;
    }
    *out = v * mult;
    return 0;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return true;
    return false;
}

static int check_url(const struct hd_ynode *n, const char *key, const char *url, struct hd_err *err)
{
    const char *host = NULL;
    if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    if (host == NULL || *host == '\0' || *host == '/' || strchr(url, ' ') || has_ctl(url)) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be an http:// or https:// URL with a host and no spaces",
                  key);
        return -1;
    }
    return 0;
}

/* The value of the environment variable named by node n, or NULL with
 * HD_EX_CONFIG (the value itself is never printed). */
static const char *env_secret(const struct hd_ynode *n, const char *key, struct hd_err *err)
{
    const char *name, *v;
    if (hd_settings_str(n, key, &name, err) != 0)
        return NULL;
    v = getenv(name);
    if (v == NULL || *v == '\0') {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "%s: environment variable %s is not set (secrets come from the environment, "
                  "never from the campaign)",
                  key, name);
        return NULL;
    }
    if (has_ctl(v)) {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "%s: environment variable %s holds control characters (a newline?)", key, name);
        return NULL;
    }
    return v;
}

/* The secret named by node n: for create() (warning NULL) its value, from
 * env_secret; for check() an empty placeholder, the variable not read (a
 * warning when it is not set here). */
static const char *secret(const struct hd_ynode *n, const char *key, struct hd_err *warning,
                          struct hd_err *err)
{
    if (warning == NULL)
        return env_secret(n, key, err);
    return hd_settings_env_check(n, key, warning, err) == 0 ? "" : NULL;
}

static bool header_name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static int add_header(struct push_conf *pc, const struct hd_ynode *at, const char *name,
                      const char *value, struct hd_err *err)
{
    size_t n = strlen(name) + strlen(value) + 3;
    if (pc->nheaders == PUSH_MAX_HEADERS) {
        hd_err_at(err, HD_EX_DATAERR, at->file, at->line, at->col, "too many headers (at most %d)",
                  PUSH_MAX_HEADERS);
        return -1;
    }
    char *h = malloc(n);
    if (h == NULL)
        abort();
    snprintf(h, n, "%s: %s", name, value);
    pc->headers[pc->nheaders++] = h;
    return 0;
}

static int load_headers(struct push_conf *pc, const struct hd_ynode *map, struct hd_err *err)
{
    if (need_map(map, "headers", err) != 0)
        return -1;
    for (size_t i = 0; i < map->count; i++) {
        const struct hd_ynode *k = map->keys[i], *v = map->items[i];
        if (!header_name_ok(k->str)) {
            hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                      "\"%s\" is not a valid HTTP header name", k->str);
            return -1;
        }
        for (size_t j = 0; reserved_headers[j]; j++)
            if (strcasecmp(k->str, reserved_headers[j]) == 0) {
                hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                          "header \"%s\" is set by herald%s", k->str,
                          strcasecmp(k->str, "authorization") == 0
                              ? " from the environment: use auth: { bearer_env: NAME } (no "
                                "secrets in the campaign)"
                              : "");
                return -1;
            }
        if (v->kind != HD_YSCALAR || strlen(v->str) != v->len || has_ctl(v->str)) {
            hd_err_at(err, HD_EX_DATAERR, v->file, v->line, v->col,
                      "header \"%s\" needs a one-line string value", k->str);
            return -1;
        }
        if (strcasecmp(k->str, "content-type") == 0)
            pc->has_content_type = true;
        if (add_header(pc, k, k->str, v->str, err) != 0)
            return -1;
    }
    return 0;
}

#define CONF(field) HD_SETTING_FIELD(struct push_conf, field)
#define BATCH(field) HD_SETTING_FIELD(struct push_batch_conf, field)

/* auth: one of two forms, checked together in load_auth. */
static const struct hd_setting auth_table[] = {
    {.key = "bearer_env", .type = HD_SETTING_NODE},
    {.key = "header", .type = HD_SETTING_NODE},
    {.key = "value_env", .type = HD_SETTING_NODE},
    {.key = "allow_insecure", .type = HD_SETTING_BOOL, CONF(allow_insecure)},
    {0},
};

static int load_auth(const struct hd_settings_ctx *top, const struct hd_setting *s,
                     const struct hd_ynode *map, const char *label, struct hd_err *err)
{
    struct push_conf *pc = top->conf;
    struct hd_err *warning = top->warning;
    struct hd_settings_ctx ctx = {
        .view = top->view, .conf = pc, .warning = warning, .what = "auth"};
    const struct hd_ynode *bearer, *header, *value_env;
    const char *v, *name;
    (void)s;
    if (need_map(map, label, err) != 0 || hd_settings_load(auth_table, map, &ctx, err) != 0)
        return -1;
    pc->auth_node = map;
    bearer = hd_ymap_get(map, "bearer_env");
    header = hd_ymap_get(map, "header");
    value_env = hd_ymap_get(map, "value_env");
    if (bearer && (header || value_env)) {
        const struct hd_ynode *k = header ? header : value_env;
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "auth takes either bearer_env, or header with value_env, not both");
        return -1;
    }
    if (bearer) {
        if ((v = secret(bearer, "auth.bearer_env", warning, err)) == NULL ||
            hd_secrets_add(&pc->secrets, v, strlen(v)) != 0)
            return -1;
        size_t n = strlen(v) + 8;
        char *b = malloc(n);
        if (b == NULL)
            abort();
        snprintf(b, n, "Bearer %s", v);
        int rc = add_header(pc, bearer, "Authorization", b, err);
        memset(b, 0, n);
        free(b);
        return rc;
    }
    if (header == NULL || value_env == NULL) {
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col,
                  "auth needs bearer_env: NAME, or header: NAME with value_env: NAME");
        return -1;
    }
    if (hd_settings_str(header, "auth.header", &name, err) != 0)
        return -1;
    if (!header_name_ok(name)) {
        hd_err_at(err, HD_EX_DATAERR, header->file, header->line, header->col,
                  "\"%s\" is not a valid HTTP header name", name);
        return -1;
    }
    for (size_t j = 0; reserved_headers[j]; j++)
        if (strcasecmp(name, reserved_headers[j]) == 0 && strcasecmp(name, "authorization") != 0) {
            hd_err_at(err, HD_EX_DATAERR, header->file, header->line, header->col,
                      "header \"%s\" is set by herald", name);
            return -1;
        }
    if ((v = secret(value_env, "auth.value_env", warning, err)) == NULL ||
        hd_secrets_add(&pc->secrets, v, strlen(v)) != 0)
        return -1;
    /* "Scheme credentials" (Basic, Token, ...): the credentials alone too */
    const char *sp = strchr(v, ' ');
    if (sp && hd_secrets_add(&pc->secrets, sp + 1, strlen(sp + 1)) != 0)
        return -1;
    return add_header(pc, header, name, v, err);
}

static int load_webhook(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                        const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct push_conf *pc = ctx->conf;
    struct hd_err *warning = ctx->warning;
    const char *v = secret(n, label, warning, err);
    (void)s;
    if (v == NULL)
        return -1;
    if (warning)
        return 0; /* check(): the secret's format is for run time */
    if (hd_secrets_add(&pc->secrets, v, strlen(v)) != 0)
        return -1;
    if (strncmp(v, "whsec_", 6) == 0) {
        pc->webhook_key = push_base64_decode(v + 6, &pc->webhook_key_len);
        if (pc->webhook_key == NULL) {
            hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                      "webhook_secret_env: the secret starts with whsec_ but the rest is not "
                      "base64");
            return -1;
        }
    } else {
        pc->webhook_key_len = strlen(v);
        pc->webhook_key = (unsigned char *)xstrdup(v);
    }
    if (pc->webhook_key_len < 16) {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "webhook_secret_env: the secret is %zu bytes, at least 16 are needed",
                  pc->webhook_key_len);
        return -1;
    }
    return 0;
}

static int load_patterns(const struct hd_settings_ctx *ctx, const struct hd_setting *entry,
                         const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct push_conf *pc = ctx->conf;
    (void)entry;
    (void)label;
    if (n == NULL) {
        for (size_t i = 0; default_patterns[i]; i++)
            pc->patterns[pc->npatterns++] = xstrdup(default_patterns[i]);
        return 0;
    }
    if (n->kind != HD_YSEQ) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"token_invalid_match\" must be a list of strings, not %s",
                  hd_ynode_kind_name(n));
        return -1;
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *s;
        if (hd_settings_str(n->items[i], "token_invalid_match", &s, err) != 0)
            return -1;
        if (pc->npatterns == PUSH_MAX_PATTERNS) {
            hd_err_at(err, HD_EX_DATAERR, n->items[i]->file, n->items[i]->line, n->items[i]->col,
                      "token_invalid_match: at most %d patterns", PUSH_MAX_PATTERNS);
            return -1;
        }
        pc->patterns[pc->npatterns++] = xstrdup(s);
    }
    return 0;
}

static int batch_url(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                     const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    const struct push_batch_conf *b = ctx->conf;
    (void)s;
    return check_url(n, label, b->url, err);
}

/* batch: (batch mode) what a request and its answer look like. */
static const struct hd_setting batch_table[] = {
    {.key = "max_items",
     .type = HD_SETTING_UINT,
     BATCH(max_items),
     .max = BATCH_ITEMS_MAX,
     .check = hd_setting_at_least_1,
     .required = "max_items: N (notices per request)"},
    {.key = "url", .type = HD_SETTING_STR, BATCH(url), .check = batch_url},
    {.key = "items_field", .type = HD_SETTING_STR, BATCH(items_field), .dflt_str = "items"},
    {.key = "key_field", .type = HD_SETTING_STR, BATCH(key_field), .dflt_str = "idempotency_key"},
    {.key = "results_field", .type = HD_SETTING_STR, BATCH(results_field)},
    {.key = "status_field", .type = HD_SETTING_STR, BATCH(status_field), .dflt_str = "status"},
    {.key = "id_field", .type = HD_SETTING_STR, BATCH(id_field), .dflt_str = "id"},
    {.key = "error_field", .type = HD_SETTING_STR, BATCH(error_field), .dflt_str = "error"},
    {0},
};

static int load_batch(const struct hd_settings_ctx *top, const struct hd_setting *s,
                      const struct hd_ynode *map, const char *label, struct hd_err *err)
{
    struct push_conf *pc = top->conf;
    struct hd_settings_ctx ctx = {
        .view = top->view, .conf = &pc->batch, .warning = top->warning, .what = "batch"};
    (void)s;
    if (need_map(map, label, err) != 0 || hd_settings_load(batch_table, map, &ctx, err) != 0)
        return -1;
    if (pc->has_tmpl && !pc->tmpl.object) {
        const struct hd_ynode *t = hd_channel_setting(top->view, "body_template");
        hd_err_at(err, HD_EX_DATAERR, t->file, t->line, t->col,
                  "with batch:, body_template must make a JSON object (each batch item is "
                  "one, with its idempotency key added)");
        return -1;
    }
    return 0;
}

/* ---- the channel's settings ------------------------------------------------------ */

static int set_url(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                   const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    const struct push_conf *pc = ctx->conf;
    (void)s;
    return check_url(n, label, pc->url, err);
}

static int set_method(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                      const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    const struct push_conf *pc = ctx->conf;
    (void)s;
    (void)label;
    if (strcmp(pc->method, "POST") && strcmp(pc->method, "PUT") && strcmp(pc->method, "PATCH")) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"method\" must be POST, PUT or PATCH (a notice has a body), not "
                  "\"%s\"",
                  pc->method);
        return -1;
    }
    return 0;
}

static int set_headers(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                       const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    (void)s;
    (void)label;
    return load_headers(ctx->conf, n, err);
}

static int set_body_template(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                             const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct push_conf *pc = ctx->conf;
    (void)s;
    (void)label;
    if (n->kind != HD_YSCALAR || n->len == 0 || strlen(n->str) != n->len) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"body_template\" must be a string holding a JSON template");
        return -1;
    }
    if (push_tmpl_compile(&pc->tmpl, n, err) != 0)
        return -1;
    pc->has_tmpl = true;
    return 0;
}

/* http_version: 1.1 (the default) or 2, which this libcurl must support. */
static int set_http_version(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                            const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct push_conf *pc = ctx->conf;
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    bool https = strncasecmp(pc->url, "https://", 8) == 0;
    (void)s;
    (void)label;
    pc->http_version = 11;
    if (n == NULL)
        return 0;
    if (n->kind == HD_YSCALAR && (strcmp(n->str, "1.1") == 0 || strcmp(n->str, "1") == 0))
        pc->http_version = 11;
    else if (n->kind == HD_YSCALAR && (strcmp(n->str, "2") == 0 || strcmp(n->str, "2.0") == 0))
        pc->http_version = 2;
    else {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"http_version\" must be 1.1 or 2, not %s%s%s",
                  n->kind == HD_YSCALAR ? "\"" : "",
                  n->kind == HD_YSCALAR ? n->str : hd_ynode_kind_name(n),
                  n->kind == HD_YSCALAR ? "\"" : "");
        return -1;
    }
    if (pc->http_version == 2 && !(cv->features & CURL_VERSION_HTTP2)) {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "http_version 2: this libcurl (%s) has no HTTP/2 support", cv->version);
        return -1;
    }
    if (pc->http_version == 2 && !https && cv->version_num < 0x080000) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "http_version 2 over cleartext http:// needs libcurl 8.0 or later (libcurl "
                  "%s breaks HTTP/2 prior knowledge on a reused connection, curl issue "
                  "#10634): use an https:// url, or http_version 1.1",
                  cv->version);
        return -1;
    }
    return 0;
}

/* connections: absent, one for HTTP/2 (streams share it), else one per
 * request in flight. */
static int set_connections(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                           const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct push_conf *pc = ctx->conf;
    if (n)
        return hd_setting_at_least_1(ctx, s, n, label, err);
    pc->connections = pc->http_version == 2 ? 1 : pc->max_in_flight;
    return 0;
}

/* A duration (unsigned long milliseconds at the entry's offset, up to
 * s->max); the default when absent. */
static int set_duration(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                        const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    unsigned long *ms = (unsigned long *)(void *)((char *)ctx->conf + s->offset);
    if (n == NULL) {
        *ms = s->dflt;
        return 0;
    }
    return get_duration(n, label, s->max, ms, err);
}

static int set_ca_file(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                       const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct push_conf *pc = ctx->conf;
    const char *v;
    (void)s;
    if (hd_settings_str(n, label, &v, err) != 0)
        return -1;
    pc->ca_file = hd_settings_path(ctx->view, v);
    if (access(pc->ca_file, R_OK) != 0) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col, "cannot read ca_file \"%s\"",
                  pc->ca_file);
        return -1;
    }
    return 0;
}

#define DURATION(name, field, dflt_ms, max_ms)                                                     \
    {                                                                                              \
        .key = name, .type = HD_SETTING_NODE, CONF(field), .dflt = dflt_ms, .max = max_ms,         \
        .check = set_duration, .flags = HD_SETTING_ABSENT                                          \
    }

/* Every setting of the module, in the order docs/push-channel.md lists them. */
static const struct hd_setting push_table[] = {
    {.key = "url",
     .type = HD_SETTING_STR,
     CONF(url),
     .check = set_url,
     .required = "url: https://notify.example/v1/notices"},
    {.key = "method",
     .type = HD_SETTING_STR,
     CONF(method),
     .dflt_str = "POST",
     .check = set_method},
    {.key = "headers", .type = HD_SETTING_NODE, .check = set_headers},
    {.key = "body_template", .type = HD_SETTING_NODE, .check = set_body_template},
    {.key = "auth", .type = HD_SETTING_NODE, .check = load_auth},
    {.key = "webhook_secret_env", .type = HD_SETTING_NODE, .check = load_webhook},
    {.key = "http_version",
     .type = HD_SETTING_NODE,
     .check = set_http_version,
     .flags = HD_SETTING_ABSENT},
    {.key = "max_in_flight",
     .type = HD_SETTING_UINT,
     CONF(max_in_flight),
     .max = MAX_IN_FLIGHT_MAX,
     .dflt = 64,
     .check = hd_setting_at_least_1},
    {.key = "connections",
     .type = HD_SETTING_UINT,
     CONF(connections),
     .max = MAX_IN_FLIGHT_MAX,
     .check = set_connections,
     .flags = HD_SETTING_ABSENT},
    DURATION("connect_timeout", connect_timeout_ms, 10000, 600000),
    DURATION("timeout", timeout_ms, 30000, 3600000),
    {.key = "ca_file", .type = HD_SETTING_NODE, .check = set_ca_file},
    {.key = "verify", .type = HD_SETTING_BOOL, CONF(verify), .dflt = true},
    DURATION("max_pause", max_pause_ms, 60000, 3600000),
    {.key = "token_invalid_match",
     .type = HD_SETTING_NODE,
     .check = load_patterns,
     .flags = HD_SETTING_ABSENT},
    {.key = "batch", .type = HD_SETTING_NODE, .check = load_batch},
    {0},
};

void push_conf_free(struct push_conf *pc)
{
    if (pc == NULL)
        return;
    free(pc->url);
    free(pc->method);
    for (size_t i = 0; i < pc->nheaders; i++) {
        memset(pc->headers[i], 0, strlen(pc->headers[i]));
        free(pc->headers[i]);
    }
    push_tmpl_free(&pc->tmpl);
    if (pc->webhook_key) {
        memset(pc->webhook_key, 0, pc->webhook_key_len);
        free(pc->webhook_key);
    }
    free(pc->ca_file);
    for (size_t i = 0; i < pc->npatterns; i++)
        free(pc->patterns[i]);
    free(pc->batch.url);
    free(pc->batch.items_field);
    free(pc->batch.key_field);
    free(pc->batch.results_field);
    free(pc->batch.status_field);
    free(pc->batch.id_field);
    free(pc->batch.error_field);
    hd_secrets_free(&pc->secrets);
    memset(pc, 0, sizeof *pc);
}

int push_conf_load(struct push_conf *pc, const struct hd_channel_view *view, struct hd_err *warning,
                   struct hd_err *err)
{
    struct hd_settings_ctx ctx = {.view = view, .conf = pc, .warning = warning};
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    bool https;

    memset(pc, 0, sizeof *pc);
    if (view->type != HD_CHANNEL_PUSH) {
        hd_err_at(err, HD_EX_DATAERR, view->campaign_file, view->line, view->col,
                  "channel \"%s\": module http-push delivers push notices (type: push), not email",
                  view->name);
        return -1;
    }
    if (hd_settings_load(push_table, view->settings, &ctx, err) != 0)
        goto fail;
    https = strncasecmp(pc->url, "https://", 8) == 0;
    if (https && !(cv->features & CURL_VERSION_SSL)) {
        const struct hd_ynode *u = hd_channel_setting(view, "url");
        hd_err_at(err, HD_EX_CONFIG, u->file, u->line, u->col,
                  "this libcurl (%s) has no TLS support for an https:// url", cv->version);
        goto fail;
    }
    if (pc->auth_node && !pc->allow_insecure) {
        const char *plain = !https ? "url" : NULL;
        if (pc->batch.max_items && pc->batch.url && strncasecmp(pc->batch.url, "http://", 7) == 0)
            plain = "batch.url";
        if (plain) {
            const struct hd_ynode *a = pc->auth_node;
            hd_err_at(err, HD_EX_DATAERR, a->file, a->line, a->col,
                      "auth: credentials would be sent in clear text to an http:// %s; use an "
                      "https:// url, or set auth.allow_insecure: true (only for a service on a "
                      "trusted network or this machine)",
                      plain);
            goto fail;
        }
    }
    return 0;
fail:
    push_conf_free(pc);
    return -1;
}
