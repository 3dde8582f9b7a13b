/* channels/settings.c - reading the built-in modules' settings (builtin.h):
 * the settings table, the scalar conversions and their errors, fault
 * injection for tests. Pure functions: safe from any thread. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "herald/suggest.h"

void hd_settings_join(char *out, size_t size, const char *const *known)
{
    out[0] = '\0';
    for (size_t i = 0; known[i]; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "", known[i]);
}

const struct hd_ynode *hd_settings_unknown(const struct hd_ynode *map, const char *const *known,
                                           const char **suggestion)
{
    for (size_t i = 0; map && i < map->count; i++) {
        const struct hd_ynode *k = map->keys[i];
        bool ok = false;
        for (size_t j = 0; known[j] && !ok; j++)
            ok = strcmp(k->str, known[j]) == 0;
        if (!ok) {
            *suggestion = hd_suggest(k->str, known);
            return k;
        }
    }
    *suggestion = NULL;
    return NULL;
}

int hd_settings_check_keys(const struct hd_channel_view *view, const char *const *known,
                           struct hd_err *err)
{
    const char *sug;
    const struct hd_ynode *k = hd_settings_unknown(view->settings, known, &sug);
    char list[256];
    if (k == NULL)
        return 0;
    hd_settings_join(list, sizeof list, known);
    if (sug)
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "unknown setting \"%s\" for channel \"%s\" (module %s; did you mean "
                  "\"%s\"?)",
                  k->str, view->name, view->module, sug);
    else
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "unknown setting \"%s\" for channel \"%s\" (module %s knows: %s)", k->str,
                  view->name, view->module, list[0] ? list : "no settings");
    return -1;
}

const struct hd_ynode *hd_settings_get(const struct hd_channel_view *view, const char *key,
                                       bool required, const char *example, struct hd_err *err)
{
    const struct hd_ynode *n = hd_channel_setting(view, key), *map = view->settings;
    if (n || !required)
        return n;
    if (map == NULL)
        hd_err_at(err, HD_EX_DATAERR, view->campaign_file, view->line, view->col,
                  "channel \"%s\" (module %s) needs settings: with \"%s\" (e.g. settings: { %s })",
                  view->name, view->module, key, example);
    else
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col,
                  "missing required setting \"%s\" for channel \"%s\" (module %s; e.g. %s)", key,
                  view->name, view->module, example);
    return NULL;
}

char *hd_settings_path(const struct hd_channel_view *view, const char *path)
{
    const char *dir = path[0] == '/' ? NULL : view->campaign_dir;
    size_t n = strlen(path) + (dir ? strlen(dir) + 1 : 0) + 1;
    char *out = malloc(n);
    if (out == NULL)
        abort();
    if (dir)
        snprintf(out, n, "%s/%s", dir, path);
    else
        memcpy(out, path, n);
    return out;
}

int hd_settings_str(const struct hd_ynode *n, const char *key, const char **out, struct hd_err *err)
{
    if (n->kind != HD_YSCALAR || hd_ynode_is_null(n) || n->len == 0) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be a non-empty string, not %s", key,
                  n->kind == HD_YSCALAR ? "empty" : hd_ynode_kind_name(n));
        return -1;
    }
    if (strlen(n->str) != n->len) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must not contain NUL characters", key);
        return -1;
    }
    *out = n->str;
    return 0;
}

int hd_settings_uint(const struct hd_ynode *n, const char *key, unsigned long max,
                     unsigned long *out, struct hd_err *err)
{
    unsigned long v = 0;
    const char *p = n->kind == HD_YSCALAR ? n->str : "";
    bool ok = *p != '\0';
    for (; ok && *p; p++) {
        if (*p < '0' || *p > '9' || v > (max - (unsigned long)(*p - '0')) / 10)
            ok = false;
        else
            v = v * 10 + (unsigned long)(*p - '0');
    }
    if (!ok) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be a whole number from 0 to %lu, not %s%s%s", key, max,
                  n->kind == HD_YSCALAR ? "\"" : "",
                  n->kind == HD_YSCALAR ? n->str : hd_ynode_kind_name(n),
                  n->kind == HD_YSCALAR ? "\"" : "");
        return -1;
    }
    *out = v;
    return 0;
}

int hd_settings_bool(const struct hd_ynode *n, const char *key, bool *out, struct hd_err *err)
{
    if (n->kind == HD_YSCALAR && strcmp(n->str, "true") == 0)
        *out = true;
    else if (n->kind == HD_YSCALAR && strcmp(n->str, "false") == 0)
        *out = false;
    else {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be true or false, not %s%s%s", key,
                  n->kind == HD_YSCALAR ? "\"" : "",
                  n->kind == HD_YSCALAR ? n->str : hd_ynode_kind_name(n),
                  n->kind == HD_YSCALAR ? "\"" : "");
        return -1;
    }
    return 0;
}

void hd_settings_warn(struct hd_err *warning, const struct hd_ynode *at, const char *fmt, ...)
{
    char msg[HD_ERR_MSG_MAX];
    va_list ap;
    if (warning == NULL || warning->msg[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hd_err_at(warning, 0, at->file, at->line, at->col, "warning: %s", msg);
}

int hd_settings_env_check(const struct hd_ynode *n, const char *key, struct hd_err *warning,
                          struct hd_err *err)
{
    const char *name, *v;
    if (hd_settings_str(n, key, &name, err) != 0)
        return -1;
    v = getenv(name);
    if (v == NULL || v[0] == '\0')
        hd_settings_warn(warning, n,
                         "environment variable %s (setting \"%s\") is not set here; herald run "
                         "needs it",
                         name, key);
    return 0;
}

int hd_settings_checked(int rc, const struct hd_err *warning, struct hd_err *err)
{
    if (rc != 0)
        return -1;
    if (warning->msg[0] != '\0') {
        *err = *warning;
        err->code = 0;
        return 1;
    }
    return 0;
}

int hd_faults_load(struct hd_faults *f, const struct hd_channel_view *view, struct hd_err *err)
{
    const struct hd_ynode *n;
    memset(f, 0, sizeof *f);
    if ((n = hd_settings_get(view, "fail_every", false, NULL, err)) &&
        hd_settings_uint(n, "fail_every", 1000000000ul, &f->fail_every, err) != 0)
        return -1;
    if ((n = hd_settings_get(view, "permanent_every", false, NULL, err)) &&
        hd_settings_uint(n, "permanent_every", 1000000000ul, &f->permanent_every, err) != 0)
        return -1;
    return 0;
}

bool hd_faults_next(struct hd_faults *f, enum hd_outcome_kind *kind, const char **reason)
{
    f->seen++;
    if (f->permanent_every && f->seen % f->permanent_every == 0) {
        *kind = HD_OUTCOME_PERMANENT;
        *reason = "injected permanent failure (permanent_every)";
        return true;
    }
    if (f->fail_every && f->seen % f->fail_every == 0) {
        *kind = HD_OUTCOME_TRANSIENT;
        *reason = "injected failure (fail_every)";
        return true;
    }
    return false;
}

/* ---- the settings table ---------------------------------------------------- */

#define TABLE_MAX 32

int hd_setting_from_1(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                      const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    const unsigned char *field = (const unsigned char *)ctx->conf + s->offset;
    unsigned long v = 0;
    if (s->size == sizeof(unsigned))
        v = *(const unsigned *)(const void *)field;
    else
        v = *(const unsigned long *)(const void *)field;
    if (v != 0)
        return 0;
    hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col, "setting \"%s\" must be from 1 to %lu",
              label, s->max);
    return -1;
}

int hd_setting_at_least_1(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                          const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    const unsigned char *field = (const unsigned char *)ctx->conf + s->offset;
    unsigned long v = 0;
    if (s->size == sizeof(unsigned))
        v = *(const unsigned *)(const void *)field;
    else
        v = *(const unsigned long *)(const void *)field;
    if (v != 0)
        return 0;
    hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col, "setting \"%s\" must be at least 1",
              label);
    return -1;
}

static void store_uint(void *field, size_t size, unsigned long v)
{
    if (size == sizeof(unsigned))
        *(unsigned *)field = (unsigned)v;
    else
        *(unsigned long *)field = v;
}

static char *dup_str(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

/* Stores n's value into the entry's field. */
static int store(const struct hd_setting *s, void *field, const struct hd_ynode *n,
                 const char *label, struct hd_err *err)
{
    unsigned long v;
    const char *str;
    switch (s->type) {
    case HD_SETTING_STR:
        if (hd_settings_str(n, label, &str, err) != 0)
            return -1;
        free(*(char **)field);
        *(char **)field = dup_str(str);
        return 0;
    case HD_SETTING_UINT:
        if (hd_settings_uint(n, label, s->max, &v, err) != 0)
            return -1;
        store_uint(field, s->size, v);
        return 0;
    case HD_SETTING_BOOL:
        return hd_settings_bool(n, label, (bool *)field, err);
    case HD_SETTING_NODE:
        return 0;
    }
    return 0;
}

/* The error for a key missing from map (NULL: the channel has no settings). */
static void missing(const struct hd_setting *s, const struct hd_ynode *map,
                    const struct hd_settings_ctx *ctx, struct hd_err *err)
{
    if (ctx->what)
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col, "%s needs %s", ctx->what,
                  s->required);
    else
        hd_settings_get(ctx->view, s->key, true, s->required, err);
}

static int unknown_key(const struct hd_ynode *map, const char *const *known,
                       const struct hd_settings_ctx *ctx, struct hd_err *err)
{
    const char *sug;
    const struct hd_ynode *k;
    char list[256];
    if (ctx->what == NULL)
        return hd_settings_check_keys(ctx->view, known, err);
    if ((k = hd_settings_unknown(map, known, &sug)) == NULL)
        return 0;
    hd_settings_join(list, sizeof list, known);
    if (sug)
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "unknown setting \"%s\" in %s (did you mean \"%s\"?)", k->str, ctx->what, sug);
    else
        hd_err_at(err, HD_EX_DATAERR, k->file, k->line, k->col,
                  "unknown setting \"%s\" in %s (known: %s)", k->str, ctx->what, list);
    return -1;
}

int hd_settings_load(const struct hd_setting *table, const struct hd_ynode *map,
                     const struct hd_settings_ctx *ctx, struct hd_err *err)
{
    const char *known[TABLE_MAX + 1];
    size_t n = 0;
    unsigned char *conf = ctx->conf;

    for (const struct hd_setting *s = table; s->key; s++) {
        void *field = conf + s->offset;
        if (n == TABLE_MAX)
            abort(); /* a module's table longer than TABLE_MAX: a bug */
        known[n++] = s->key;
        if (s->type == HD_SETTING_UINT)
            store_uint(field, s->size, s->dflt);
        else if (s->type == HD_SETTING_BOOL)
            *(bool *)field = s->dflt != 0;
        else if (s->type == HD_SETTING_STR && s->dflt_str) {
            free(*(char **)field);
            *(char **)field = dup_str(s->dflt_str);
        }
    }
    known[n] = NULL;
    if (unknown_key(map, known, ctx, err) != 0)
        return -1;
    for (const struct hd_setting *s = table; s->key; s++) {
        const struct hd_ynode *v = map && map->kind == HD_YMAP ? hd_ymap_get(map, s->key) : NULL;
        char label[96];
        if (ctx->what)
            snprintf(label, sizeof label, "%s.%s", ctx->what, s->key);
        else
            snprintf(label, sizeof label, "%s", s->key);
        if (v == NULL) {
            if (s->required) {
                missing(s, map, ctx, err);
                return -1;
            }
            if ((s->flags & HD_SETTING_ABSENT) && s->check &&
                s->check(ctx, s, NULL, label, err) != 0)
                return -1;
            continue;
        }
        if (store(s, conf + s->offset, v, label, err) != 0 ||
            (s->check && s->check(ctx, s, v, label, err) != 0))
            return -1;
    }
    return 0;
}
