/* tests/modules/badabi_module.c - built as badabi.so: a module that claims
 * channel ABI 999, which herald must refuse at load. */
#include <stdlib.h>

#include "herald/channel.h"

static int bad_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                      void **instance, struct hd_err *err)
{
    (void)host;
    (void)view;
    (void)err;
    *instance = NULL;
    return 0;
}

static int bad_send(void *instance, const struct hd_message *messages, size_t n, struct hd_err *err)
{
    (void)instance;
    (void)messages;
    (void)n;
    (void)err;
    return 0;
}

static int bad_flush(void *instance, struct hd_err *err)
{
    (void)instance;
    (void)err;
    return 0;
}

static void bad_close(void *instance)
{
    (void)instance;
}

static const struct hd_channel_ops bad_ops = {
    .abi = 999,
    .size = sizeof(struct hd_channel_ops),
    .name = "badabi",
    .create = bad_create,
    .send = bad_send,
    .flush = bad_flush,
    .close = bad_close,
};

const struct hd_channel_ops *herald_channel_module_v1(void);

const struct hd_channel_ops *herald_channel_module_v1(void)
{
    return &bad_ops;
}
