/* channels/registry.c - finding channel modules (herald/channel_registry.h):
 * the built-ins by name, then external shared objects <dir>/<name>.so,
 * loaded once and kept until exit; checking a campaign's channels. */
#include "herald/channel_registry.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"

/* Keep the two lists in the same order. */
static const struct hd_channel_ops *const builtins[] = {
    &hd_channel_file_ops, &hd_channel_null_ops, &hd_channel_http_push_ops, &hd_channel_smtp_ops};
const char *const hd_channel_builtin_names[] = {"file", "null", "http-push", "smtp", NULL};

#define NBUILTINS (sizeof builtins / sizeof builtins[0])
#define MODULE_NAME_MAX 32

/* The part of struct hd_channel_ops every module has: up to close. Fields
 * after it (check) are optional, read only when ops->size covers them. */
#define OPS_USED_SIZE                                                                              \
    (offsetof(struct hd_channel_ops, close) + sizeof(((struct hd_channel_ops *)0)->close))

/* External modules loaded so far, by path. Guarded by loaded_lock. */
struct loaded {
    struct loaded *next;
    const struct hd_channel_ops *ops;
    char path[];
};
static struct loaded *loaded_list;
static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;

static bool valid_module_name(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        if (n == MODULE_NAME_MAX)
            return false;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    }
    return n > 0;
}

static const char *modules_dir_for(const char *modules_dir)
{
    if (modules_dir == NULL || modules_dir[0] == '\0')
        modules_dir = getenv("HERALD_MODULES_DIR");
    return modules_dir && modules_dir[0] ? modules_dir : NULL;
}

static void builtin_list(char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; hd_channel_builtin_names[i]; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "",
                 hd_channel_builtin_names[i]);
}

/* Checks what a module's entry point returned. */
static int check_ops(const struct hd_channel_ops *ops, const char *name, const char *path,
                     struct hd_err *err)
{
    if (ops == NULL) {
        hd_err_set(err, HD_EX_UNAVAILABLE, "channel module \"%s\" (%s): %s() returned NULL", name,
                   path, HD_CHANNEL_ENTRY);
        return -1;
    }
    if (ops->abi != HD_CHANNEL_ABI) {
        hd_err_set(err, HD_EX_UNAVAILABLE,
                   "channel module \"%s\" (%s) was built for channel ABI %u, but this herald "
                   "speaks ABI %d: rebuild it against this herald's herald/channel.h",
                   name, path, ops->abi, HD_CHANNEL_ABI);
        return -1;
    }
    if (ops->size < OPS_USED_SIZE) {
        hd_err_set(err, HD_EX_UNAVAILABLE,
                   "channel module \"%s\" (%s) has an ops table of %zu bytes, ABI %d needs at "
                   "least %zu (set size = sizeof(struct hd_channel_ops))",
                   name, path, ops->size, HD_CHANNEL_ABI, (size_t)OPS_USED_SIZE);
        return -1;
    }
    if (ops->name == NULL || strcmp(ops->name, name) != 0) {
        hd_err_set(err, HD_EX_UNAVAILABLE,
                   "channel module file %s calls itself \"%s\", not \"%s\": the file must be "
                   "named after the module (<name>.so)",
                   path, ops->name ? ops->name : "(null)", name);
        return -1;
    }
    if (!ops->create || !ops->send || !ops->flush || !ops->close) {
        hd_err_set(err, HD_EX_UNAVAILABLE,
                   "channel module \"%s\" (%s) leaves %s unset: every function in "
                   "struct hd_channel_ops is required",
                   name, path,
                   !ops->create  ? "create"
                   : !ops->send  ? "send"
                   : !ops->flush ? "flush"
                                 : "close");
        return -1;
    }
    return 0;
}

/* Loads path (which exists); caller holds loaded_lock. */
static const struct hd_channel_ops *load_module(const char *name, const char *path,
                                                struct hd_err *err)
{
    void *handle, *sym;
    hd_channel_entry_fn entry;
    const struct hd_channel_ops *ops;
    const char *why;

    dlerror();
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        why = dlerror();
        hd_err_set(err, HD_EX_UNAVAILABLE, "cannot load channel module \"%s\": %s", name,
                   why ? why : path);
        return NULL;
    }
    dlerror();
    sym = dlsym(handle, HD_CHANNEL_ENTRY);
    if (sym == NULL) {
        why = dlerror();
        hd_err_set(err, HD_EX_UNAVAILABLE,
                   "channel module \"%s\" (%s) does not export %s, so it is not a herald channel "
                   "module: %s",
                   name, path, HD_CHANNEL_ENTRY, why ? why : "symbol is NULL");
        dlclose(handle);
        return NULL;
    }
    memcpy(&entry, &sym, sizeof entry);
    ops = entry();
    if (check_ops(ops, name, path, err) != 0) {
        dlclose(handle);
        return NULL;
    }
    /* the handle is never closed: loaded objects stay until exit */
    return ops;
}

const struct hd_channel_ops *hd_channel_find(const char *name, const char *modules_dir,
                                             struct hd_err *err)
{
    char path[PATH_MAX], names[128];
    const char *dir;
    const struct hd_channel_ops *ops = NULL;
    struct loaded *l;

    if (name == NULL || !valid_module_name(name)) {
        hd_err_set(err, HD_EX_CONFIG,
                   "bad channel module name \"%s\" (use a-z, 0-9, - and _, at most %d; modules "
                   "load only from the modules directory, never from a path)",
                   name ? name : "(null)", MODULE_NAME_MAX);
        return NULL;
    }
    dir = modules_dir_for(modules_dir);
    if (dir && (size_t)snprintf(path, sizeof path, "%s/%s.so", dir, name) >= sizeof path) {
        hd_err_set(err, HD_EX_CONFIG, "channel modules directory path is too long: \"%.200s...\"",
                   dir);
        return NULL;
    }
    for (size_t i = 0; i < NBUILTINS; i++) {
        if (strcmp(name, hd_channel_builtin_names[i]) != 0)
            continue;
        if (dir && access(path, F_OK) == 0) {
            hd_err_set(err, HD_EX_CONFIG,
                       "external channel module %s has the name of the built-in module \"%s\": "
                       "rename it (and its ops->name) so it is clear which one runs",
                       path, name);
            return NULL;
        }
        return builtins[i];
    }
    builtin_list(names, sizeof names);
    if (dir == NULL) {
        hd_err_set(err, HD_EX_CONFIG,
                   "unknown channel module \"%s\": not built in (%s) and no modules directory is "
                   "set (HERALD_MODULES_DIR)",
                   name, names);
        return NULL;
    }

    pthread_mutex_lock(&loaded_lock);
    for (l = loaded_list; l; l = l->next)
        if (strcmp(l->path, path) == 0) {
            ops = l->ops;
            goto out;
        }
    if (access(path, F_OK) != 0) {
        if (errno == ENOENT)
            hd_err_set(err, HD_EX_CONFIG,
                       "unknown channel module \"%s\": not built in (%s) and no %s", name, names,
                       path);
        else
            hd_err_set(err, HD_EX_UNAVAILABLE, "cannot load channel module \"%s\": %s: %s", name,
                       path, strerror(errno));
        goto out;
    }
    ops = load_module(name, path, err);
    if (ops) {
        size_t n = strlen(path) + 1;
        l = malloc(sizeof *l + n);
        if (l == NULL) { /* herald/str.h: reported, never abort() */
            hd_err_set(err, HD_EX_SOFTWARE, "out of memory loading channel module \"%s\"", name);
            ops = NULL;
            goto out;
        }
        l->ops = ops;
        memcpy(l->path, path, n);
        l->next = loaded_list;
        loaded_list = l;
    }
out:
    pthread_mutex_unlock(&loaded_lock);
    return ops;
}

bool hd_channel_known(const char *name, void *ctx)
{
    struct hd_err err = {0};
    return hd_channel_find(name, ctx, &err) != NULL;
}

int hd_channel_check(const struct hd_channel_ops *ops, const struct hd_campaign *campaign,
                     const struct hd_channel_conf *conf, struct hd_err *err)
{
    struct hd_err e = {0};
    struct hd_channel_view view;
    int rc;
    if (!HD_CHANNEL_OPS_HAS(ops, check) || ops->check == NULL)
        return 0;
    hd_channel_view_init(&view, campaign, conf);
    rc = ops->check(&view, &e);
    if (rc < 0) {
        if (e.msg[0] == '\0')
            hd_err_at(&e, e.code, campaign->path, conf->line, conf->col,
                      "channel \"%s\": module %s refuses its settings without saying why",
                      conf->name, conf->module);
        if (e.code == 0)
            e.code = HD_EX_DATAERR;
        *err = e;
        return -1;
    }
    if (rc > 0 && e.msg[0] != '\0') {
        e.code = 0;
        *err = e;
        return 1;
    }
    return 0;
}

size_t hd_channel_check_campaign(const struct hd_campaign *campaign, const char *modules_dir,
                                 struct hd_diags *diags)
{
    size_t bad = 0;
    for (size_t i = 0; i < campaign->nchannels; i++) {
        const struct hd_channel_conf *conf = &campaign->channels[i];
        struct hd_err err = {0};
        const struct hd_channel_ops *ops = hd_channel_find(conf->module, modules_dir, &err);
        int rc = ops ? hd_channel_check(ops, campaign, conf, &err) : -1;
        if (rc < 0) {
            /* a module that cannot be found (the campaign loader reports
             * unknown ones) is named at the channel */
            if (ops == NULL)
                hd_diags_add(diags, err.code ? err.code : HD_EX_UNAVAILABLE, campaign->path,
                             conf->line, conf->col, "channel \"%s\": %s", conf->name, err.msg);
            else
                hd_diags_add(diags, err.code, NULL, 0, 0, "%s", err.msg);
            bad++;
        } else if (rc > 0) {
            int code = diags->code;
            hd_diags_add(diags, 0, NULL, 0, 0, "%s", err.msg);
            diags->code = code; /* warnings never decide the exit status */
        }
    }
    return bad;
}
