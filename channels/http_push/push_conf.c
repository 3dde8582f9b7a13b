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

/* Checks the keys of a nested mapping (auth:, batch:) with a did-you-mean. */
static int check_map_keys(const struct hd_ynode *map, const char *what, const char *const *known,
                          struct hd_err *err)
{
    const char *sug;
    const struct hd_ynode *k = hd_settings_unknown(map, known, &sug);
    char list[256];
    if (k == NULL)
        return 0;
    hd_settings_join(list, sizeof list, known);
    if (sug)
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "unknown setting \"%s\" in %s (did you mean \"%s\"?)", k->str, what, sug);
    else
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "unknown setting \"%s\" in %s (known: %s)", k->str, what, list);
    return -1;
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

static int load_auth(struct push_conf *pc, const struct hd_ynode *map, struct hd_err *warning,
                     struct hd_err *err)
{
    static const char *const keys[] = {"bearer_env", "header", "value_env", "allow_insecure", NULL};
    const struct hd_ynode *bearer, *header, *value_env, *insecure;
    const char *v, *name;
    if (need_map(map, "auth", err) != 0 || check_map_keys(map, "auth", keys, err) != 0)
        return -1;
    pc->auth_node = map;
    if ((insecure = hd_ymap_get(map, "allow_insecure")) &&
        hd_settings_bool(insecure, "auth.allow_insecure", &pc->allow_insecure, err) != 0)
        return -1;
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

static int load_webhook(struct push_conf *pc, const struct hd_ynode *n, struct hd_err *warning,
                        struct hd_err *err)
{
    const char *v = secret(n, "webhook_secret_env", warning, err);
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

static int load_patterns(struct push_conf *pc, const struct hd_ynode *n, struct hd_err *err)
{
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

static int field_name(const struct hd_ynode *map, const char *key, const char *dflt, char **out,
                      struct hd_err *err)
{
    const struct hd_ynode *n = hd_ymap_get(map, key);
    const char *s = dflt;
    char what[64];
    snprintf(what, sizeof what, "batch.%s", key);
    if (n && hd_settings_str(n, what, &s, err) != 0)
        return -1;
    *out = s ? xstrdup(s) : NULL;
    return 0;
}

static int load_batch(struct push_conf *pc, const struct hd_ynode *map, struct hd_err *err)
{
    static const char *const keys[] = {"max_items", "url",           "items_field",
                                       "key_field", "results_field", "status_field",
                                       "id_field",  "error_field",   NULL};
    struct push_batch_conf *b = &pc->batch;
    const struct hd_ynode *n;
    const char *url;
    if (need_map(map, "batch", err) != 0 || check_map_keys(map, "batch", keys, err) != 0)
        return -1;
    if ((n = hd_ymap_get(map, "max_items")) == NULL) {
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col,
                  "batch needs max_items: N (notices per request)");
        return -1;
    }
    if (hd_settings_uint(n, "batch.max_items", BATCH_ITEMS_MAX, &b->max_items, err) != 0)
        return -1;
    if (b->max_items == 0) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"batch.max_items\" must be at least 1");
        return -1;
    }
    if ((n = hd_ymap_get(map, "url"))) {
        if (hd_settings_str(n, "batch.url", &url, err) != 0 ||
            check_url(n, "batch.url", url, err) != 0)
            return -1;
        b->url = xstrdup(url);
    }
    if (field_name(map, "items_field", "items", &b->items_field, err) != 0 ||
        field_name(map, "key_field", "idempotency_key", &b->key_field, err) != 0 ||
        field_name(map, "results_field", NULL, &b->results_field, err) != 0 ||
        field_name(map, "status_field", "status", &b->status_field, err) != 0 ||
        field_name(map, "id_field", "id", &b->id_field, err) != 0 ||
        field_name(map, "error_field", "error", &b->error_field, err) != 0)
        return -1;
    return 0;
}

void push_conf_free(struct push_conf *pc)
{
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
    static const char *const keys[] = {"url",
                                       "method",
                                       "headers",
                                       "body_template",
                                       "auth",
                                       "webhook_secret_env",
                                       "http_version",
                                       "max_in_flight",
                                       "connections",
                                       "connect_timeout",
                                       "timeout",
                                       "ca_file",
                                       "verify",
                                       "max_pause",
                                       "token_invalid_match",
                                       "batch",
                                       NULL};
    const struct hd_ynode *n, *url_node;
    const char *s;
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    bool https;

    memset(pc, 0, sizeof *pc);
    pc->http_version = 11;
    pc->max_in_flight = 64;
    pc->connect_timeout_ms = 10000;
    pc->timeout_ms = 30000;
    pc->max_pause_ms = 60000;
    pc->verify = true;

    if (view->type != HD_CHANNEL_PUSH) {
        hd_err_at(err, HD_EX_DATAERR, view->campaign_file, view->line, view->col,
                  "channel \"%s\": module http-push delivers push notices (type: push), not email",
                  view->name);
        return -1;
    }
    if (hd_settings_check_keys(view, keys, err) != 0)
        goto fail;
    url_node = hd_settings_get(view, "url", true, "url: https://notify.example/v1/notices", err);
    if (url_node == NULL || hd_settings_str(url_node, "url", &s, err) != 0 ||
        check_url(url_node, "url", s, err) != 0)
        goto fail;
    pc->url = xstrdup(s);
    https = strncasecmp(s, "https://", 8) == 0;

    if ((n = hd_settings_get(view, "method", false, NULL, err))) {
        if (hd_settings_str(n, "method", &s, err) != 0)
            goto fail;
        if (strcmp(s, "POST") && strcmp(s, "PUT") && strcmp(s, "PATCH")) {
            hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                      "setting \"method\" must be POST, PUT or PATCH (a notice has a body), not "
                      "\"%s\"",
                      s);
            goto fail;
        }
        pc->method = xstrdup(s);
    } else {
        pc->method = xstrdup("POST");
    }
    if ((n = hd_settings_get(view, "headers", false, NULL, err)) && load_headers(pc, n, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "auth", false, NULL, err)) &&
        load_auth(pc, n, warning, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "webhook_secret_env", false, NULL, err)) &&
        load_webhook(pc, n, warning, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "body_template", false, NULL, err))) {
        if (n->kind != HD_YSCALAR || n->len == 0 || strlen(n->str) != n->len) {
            hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                      "setting \"body_template\" must be a string holding a JSON template");
            goto fail;
        }
        if (push_tmpl_compile(&pc->tmpl, n, err) != 0)
            goto fail;
        pc->has_tmpl = true;
    }
    if ((n = hd_settings_get(view, "http_version", false, NULL, err))) {
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
            goto fail;
        }
        if (pc->http_version == 2 && !(cv->features & CURL_VERSION_HTTP2)) {
            hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                      "http_version 2: this libcurl (%s) has no HTTP/2 support", cv->version);
            goto fail;
        }
        if (pc->http_version == 2 && !https && cv->version_num < 0x080000) {
            hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                      "http_version 2 over cleartext http:// needs libcurl 8.0 or later (libcurl "
                      "%s breaks HTTP/2 prior knowledge on a reused connection, curl issue "
                      "#10634): use an https:// url, or http_version 1.1",
                      cv->version);
            goto fail;
        }
    }
    if ((n = hd_settings_get(view, "max_in_flight", false, NULL, err))) {
        if (hd_settings_uint(n, "max_in_flight", MAX_IN_FLIGHT_MAX, &pc->max_in_flight, err) != 0)
            goto fail;
        if (pc->max_in_flight == 0) {
            hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                      "setting \"max_in_flight\" must be at least 1");
            goto fail;
        }
    }
    pc->connections = pc->http_version == 2 ? 1 : pc->max_in_flight;
    if ((n = hd_settings_get(view, "connections", false, NULL, err))) {
        if (hd_settings_uint(n, "connections", MAX_IN_FLIGHT_MAX, &pc->connections, err) != 0)
            goto fail;
        if (pc->connections == 0) {
            hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                      "setting \"connections\" must be at least 1");
            goto fail;
        }
    }
    if ((n = hd_settings_get(view, "connect_timeout", false, NULL, err)) &&
        get_duration(n, "connect_timeout", 600000, &pc->connect_timeout_ms, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "timeout", false, NULL, err)) &&
        get_duration(n, "timeout", 3600000, &pc->timeout_ms, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "max_pause", false, NULL, err)) &&
        get_duration(n, "max_pause", 3600000, &pc->max_pause_ms, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "verify", false, NULL, err)) &&
        hd_settings_bool(n, "verify", &pc->verify, err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "ca_file", false, NULL, err))) {
        if (hd_settings_str(n, "ca_file", &s, err) != 0)
            goto fail;
        pc->ca_file = hd_settings_path(view, s);
        if (access(pc->ca_file, R_OK) != 0) {
            hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col, "cannot read ca_file \"%s\"",
                      pc->ca_file);
            goto fail;
        }
    }
    if (https && !(cv->features & CURL_VERSION_SSL)) {
        hd_err_at(err, HD_EX_CONFIG, url_node->file, url_node->line, url_node->col,
                  "this libcurl (%s) has no TLS support for an https:// url", cv->version);
        goto fail;
    }
    if (load_patterns(pc, hd_settings_get(view, "token_invalid_match", false, NULL, err), err) != 0)
        goto fail;
    if ((n = hd_settings_get(view, "batch", false, NULL, err))) {
        if (load_batch(pc, n, err) != 0)
            goto fail;
        if (pc->has_tmpl && !pc->tmpl.object) {
            const struct hd_ynode *t = hd_settings_get(view, "body_template", false, NULL, err);
            hd_err_at(err, HD_EX_DATAERR, t->file, t->line, t->col,
                      "with batch:, body_template must make a JSON object (each batch item is "
                      "one, with its idempotency key added)");
            goto fail;
        }
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
