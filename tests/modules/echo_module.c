/* tests/modules/echo_module.c - an external channel module for the tests,
 * built as echo.so: accepts every message at once with event
 * "echo.accepted" and the message id as provider id. It is also the
 * smallest complete example of a module (docs/channel-modules.md).
 *
 * Like any external module it uses only herald/channel.h: its types and
 * its inline helpers (herald exports no functions to modules), so settings
 * are read from the view (hd_channel_setting, or by walking the YAML nodes),
 * errors are written into struct hd_err directly, and outcomes go out
 * through a struct hd_channel_out. Its one optional setting, `refuse: true`, makes create() fail,
 * to test how a module's located error comes through; check() accepts it
 * (valid settings), and shares its parser with create(), as a module should.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/channel.h"

struct echo {
    struct hd_channel_out out;
};

/* The settings, for create() and check(): refuse and nothing more. *refuse
 * is its node when it is true, else NULL. */
static int echo_settings(const struct hd_channel_view *view, const struct hd_ynode **refuse,
                         struct hd_err *err)
{
    const struct hd_ynode *s = view->settings;
    *refuse = NULL;
    for (size_t i = 0; s && i < s->count; i++) {
        const struct hd_ynode *k = s->keys[i], *v = s->items[i];
        if (strcmp(k->str, "refuse") != 0) {
            err->code = HD_EX_DATAERR;
            snprintf(err->msg, sizeof err->msg, "%s:%lu:%lu: unknown setting \"%s\" for echo",
                     k->file, k->line, k->col, k->str);
            return -1;
        }
        if (v->kind == HD_YSCALAR && strcmp(v->str, "true") == 0)
            *refuse = v;
    }
    return 0;
}

/* refuse: true is valid settings: only create() refuses. */
static int echo_check(const struct hd_channel_view *view, struct hd_err *err)
{
    const struct hd_ynode *refuse;
    return echo_settings(view, &refuse, err);
}

static int echo_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                       void **instance, struct hd_err *err)
{
    const struct hd_ynode *v;
    struct echo *e;
    *instance = NULL;
    if (host->abi != HD_CHANNEL_ABI || host->size < sizeof *host) {
        err->code = HD_EX_SOFTWARE;
        snprintf(err->msg, sizeof err->msg, "echo: host ABI %u is not %d", host->abi,
                 HD_CHANNEL_ABI);
        return -1;
    }
    if (view->abi != HD_CHANNEL_ABI || view->size < sizeof *view) {
        err->code = HD_EX_SOFTWARE;
        snprintf(err->msg, sizeof err->msg, "echo: view ABI %u is not %d", view->abi,
                 HD_CHANNEL_ABI);
        return -1;
    }
    if (echo_settings(view, &v, err) != 0)
        return -1;
    if (v) {
        err->code = HD_EX_DATAERR;
        snprintf(err->msg, sizeof err->msg, "%s:%lu:%lu: echo refuses, as asked", v->file, v->line,
                 v->col);
        return -1;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL) {
        err->code = HD_EX_SOFTWARE;
        snprintf(err->msg, sizeof err->msg, "echo: out of memory");
        return -1;
    }
    hd_channel_out_init(&e->out, host, view->name);
    hd_channel_log(&e->out, 2, "echo: accepting everything");
    *instance = e;
    return 0;
}

static int echo_send(void *instance, const struct hd_message *messages, size_t n,
                     struct hd_err *err)
{
    struct echo *e = instance;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        struct hd_outcome o = {0};
        o.handle = messages[i].handle;
        o.kind = HD_OUTCOME_ACCEPTED;
        o.event = "echo.accepted";
        o.provider_id = messages[i].message_id;
        hd_channel_report(&e->out, &o);
    }
    return 0;
}

static int echo_flush(void *instance, struct hd_err *err)
{
    (void)instance;
    (void)err;
    return 0;
}

static void echo_close(void *instance)
{
    free(instance);
}

static const struct hd_channel_ops echo_ops = {
    .abi = HD_CHANNEL_ABI,
    .size = sizeof(struct hd_channel_ops),
    .name = "echo",
    .create = echo_create,
    .send = echo_send,
    .flush = echo_flush,
    .close = echo_close,
    .check = echo_check,
};

const struct hd_channel_ops *herald_channel_module_v1(void);

const struct hd_channel_ops *herald_channel_module_v1(void)
{
    return &echo_ops;
}
