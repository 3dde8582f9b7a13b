/* tests/modules/legacy_module.c - built as legacy.so: a module as built
 * against herald/channel.h before the optional check op was added (ABI 1,
 * ops->size ending at close). It must still load and work, and herald must
 * treat check as absent: the table's size says it has none.
 *
 * To catch a herald that reads past ops->size, the bytes where check now
 * lives hold a function that fails loudly instead of the garbage an old
 * module's table would be followed by. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "herald/channel.h"

struct legacy {
    struct hd_channel_host host;
};

static int legacy_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                         void **instance, struct hd_err *err)
{
    struct legacy *l;
    (void)view;
    *instance = NULL;
    if ((l = calloc(1, sizeof *l)) == NULL) {
        err->code = HD_EX_SOFTWARE;
        snprintf(err->msg, sizeof err->msg, "legacy: out of memory");
        return -1;
    }
    l->host = *host;
    *instance = l;
    return 0;
}

static int legacy_send(void *instance, const struct hd_message *messages, size_t n,
                       struct hd_err *err)
{
    struct legacy *l = instance;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        struct hd_outcome o = {0};
        o.handle = messages[i].handle;
        o.kind = HD_OUTCOME_ACCEPTED;
        o.event = "legacy.accepted";
        l->host.report(l->host.ctx, &o);
    }
    return 0;
}

static int legacy_flush(void *instance, struct hd_err *err)
{
    (void)instance;
    (void)err;
    return 0;
}

static void legacy_close(void *instance)
{
    free(instance);
}

static int beyond_size(const struct hd_channel_view *view, struct hd_err *err)
{
    (void)view;
    err->code = HD_EX_SOFTWARE;
    snprintf(err->msg, sizeof err->msg,
             "legacy: herald called check, which lies beyond this module's ops->size");
    return -1;
}

static const struct hd_channel_ops legacy_ops = {
    .abi = HD_CHANNEL_ABI,
    .size = offsetof(struct hd_channel_ops, check), /* the table before check existed */
    .name = "legacy",
    .create = legacy_create,
    .send = legacy_send,
    .flush = legacy_flush,
    .close = legacy_close,
    .check = beyond_size,
};

const struct hd_channel_ops *herald_channel_module_v1(void);

const struct hd_channel_ops *herald_channel_module_v1(void)
{
    return &legacy_ops;
}
