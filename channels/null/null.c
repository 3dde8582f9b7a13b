/* channels/null/null.c - the built-in `null` channel module: accepts every
 * message at once (event "null.accepted") and stores nothing. For measuring
 * the dispatcher itself. Settings: none, except the test aids fail_every and
 * permanent_every (see docs/channel-modules.md). Synchronous, like `file`.
 */
#include <stdlib.h>

#include "builtin.h"

struct null_chan {
    struct hd_channel_out out;
    struct hd_faults faults;
};

/* The settings, for create() and check(). */
static int null_settings(const struct hd_channel_view *view, struct hd_faults *faults,
                         struct hd_err *err)
{
    static const char *const keys[] = {"fail_every", "permanent_every", NULL};
    if (hd_settings_check_keys(view, keys, err) != 0 || hd_faults_load(faults, view, err) != 0)
        return -1;
    return 0;
}

static int null_check(const struct hd_channel_view *view, struct hd_err *err)
{
    struct hd_faults faults;
    return null_settings(view, &faults, err);
}

static int null_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                       void **instance, struct hd_err *err)
{
    struct null_chan *ch;
    struct hd_faults faults;

    *instance = NULL;
    if (null_settings(view, &faults, err) != 0)
        return -1;
    ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_channel_out_init(&ch->out, host, view->name);
    ch->faults = faults;
    *instance = ch;
    return 0;
}

static int null_send(void *instance, const struct hd_message *messages, size_t n,
                     struct hd_err *err)
{
    struct null_chan *ch = instance;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        struct hd_outcome o = {0};
        const char *why = NULL;
        o.handle = messages[i].handle;
        if (hd_faults_next(&ch->faults, &o.kind, &why)) {
            o.event = "injected_failure";
            o.reason = why;
        } else {
            o.kind = HD_OUTCOME_ACCEPTED;
            o.event = "null.accepted";
        }
        hd_channel_report(&ch->out, &o);
    }
    return 0;
}

static int null_flush(void *instance, struct hd_err *err)
{
    (void)instance;
    (void)err;
    return 0;
}

static void null_close(void *instance)
{
    free(instance);
}

const struct hd_channel_ops hd_channel_null_ops = {
    .abi = HD_CHANNEL_ABI,
    .size = sizeof(struct hd_channel_ops),
    .name = "null",
    .create = null_create,
    .send = null_send,
    .flush = null_flush,
    .close = null_close,
    .check = null_check,
};
