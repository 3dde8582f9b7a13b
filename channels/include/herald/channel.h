/* herald/channel.h - the channel module interface.
 *
 * A channel module delivers rendered messages (an email's RFC 5322 bytes, a
 * push notice's JSON) to one kind of service. The dispatcher owns ordering,
 * rate limits, retries and state; a module only sends and reports.
 *
 * Lifecycle: create() once per campaign channel from its YAML settings;
 * send() batches of messages, any number of times, from the dispatcher's
 * thread; each message's outcome is reported exactly once through
 * host->report(), from any thread, possibly before send() returns;
 * flush() blocks until every message handed to send() has been reported;
 * close() releases everything (after flush). The optional check() validates
 * a channel's settings without creating anything (`herald validate`, `herald
 * plan`); it may be called without create() ever following.
 *
 * ABI rules: struct hd_channel_ops and struct hd_channel_host start with
 * abi and size and only ever grow at the end; a field added later is
 * optional, and present only when size covers it (HD_CHANNEL_OPS_HAS), so a
 * module built against an older header still loads. A module built for
 * another ABI major version is refused at load. External modules are shared
 * objects in the modules directory named <module>.so that export one symbol,
 * HD_CHANNEL_ENTRY ("herald_channel_module_v1"), of type hd_channel_entry_fn.
 * docs/channel-modules.md is the guide for module authors.
 */
#ifndef HERALD_CHANNEL_H
#define HERALD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/campaign.h"
#include "herald/err.h"

#define HD_CHANNEL_ABI 1
#define HD_CHANNEL_ENTRY "herald_channel_module_v1"

/* One message to deliver. Every pointer is valid only during send(): a
 * module that works asynchronously copies what it keeps. */
struct hd_message {
    uint64_t handle; /* the dispatcher's handle, echoed in the outcome */
    enum hd_channel_type type;
    const char *recipient;  /* email: address with an ASCII (A-label) domain; push: token */
    const char *message_id; /* RFC 5322 Message-ID without <>; for push the idempotency key */
    const char *person_id;
    const char *language; /* BCP 47 tag of the texts */
    const char *country;  /* ISO 3166-1 alpha-2 */
    const uint8_t *body;  /* email: the whole message, CRLF line ends; push: JSON */
    size_t body_len;
    unsigned attempt; /* 1 for the first attempt */
};

enum hd_outcome_kind {
    HD_OUTCOME_ACCEPTED,  /* the service took it (not: the person read it) */
    HD_OUTCOME_TRANSIENT, /* try again later */
    HD_OUTCOME_PERMANENT, /* will never work: bad address, invalid token, ... */
    /* Added in ABI 1 later (older modules never report it): the whole
     * message went out but no answer came (the connection broke after an
     * SMTP body's final dot, before the reply), so the service may or may
     * not have it. Never a failure: the dispatcher flags the delivery
     * uncertain (`herald status --uncertain`, `uncertain` in its proof) and
     * sends it again with the same id while attempts are left, else holds
     * it for review (`herald retry --held`). */
    HD_OUTCOME_UNCERTAIN,
};

struct hd_outcome {
    uint64_t handle;
    enum hd_outcome_kind kind;
    int code;                /* the service's status (SMTP or HTTP code), 0 if none */
    const char *event;       /* proof event name: "smtp.accepted", "inbox.stored", "push.accepted",
                                "token_invalid", ... */
    const char *provider_id; /* the service's id for it (queue id, notice id), or NULL */
    const char *response;    /* the service's reply text, or NULL */
    const char *reason;      /* local description of a failure, or NULL */
    unsigned retry_after_s;  /* transient: the service asked to wait this long (0: no ask) */
};

/* What the dispatcher hands to a module. */
struct hd_channel_host {
    unsigned abi;
    size_t size;
    /* Reports one outcome; thread-safe; strings are copied before it returns. */
    void (*report)(void *ctx, const struct hd_outcome *outcome);
    /* Logs a line (level 0 error, 1 warning, 2 info); thread-safe; never pass secrets. */
    void (*log)(void *ctx, int level, const char *message);
    void *ctx;
};

struct hd_channel_ops {
    unsigned abi;
    size_t size;
    const char *name;
    /* Builds an instance from the channel's campaign entry (conf->settings
     * holds the module's own YAML mapping; report problems with the node's
     * file:line:col via hd_err_at, code HD_EX_DATAERR, or HD_EX_CONFIG for a
     * missing secret, HD_EX_UNAVAILABLE for a service that cannot be
     * reached). */
    int (*create)(const struct hd_channel_host *host, const struct hd_campaign *campaign,
                  const struct hd_channel_conf *conf, void **instance, struct hd_err *err);
    /* Hands over n messages. Returns 0, or -1 with err set when the module
     * cannot take them at all (then none of them is reported). */
    int (*send)(void *instance, const struct hd_message *messages, size_t n, struct hd_err *err);
    /* Blocks until every message handed over has been reported. */
    int (*flush)(void *instance, struct hd_err *err);
    /* Frees the instance; NULL is a no-op. */
    void (*close)(void *instance);

    /* ---- added in ABI 1 after the fields above: optional; read it only
     * through HD_CHANNEL_OPS_HAS (a module built before has a shorter
     * table) or hd_channel_check. ---- */

    /* Checks conf->settings as create() would, without acquiring anything:
     * no threads, sockets, files or directories created, no secrets read
     * (a missing secret is for run time). Returns 0 when they are valid;
     * -1 with err set exactly as create() would set it for the first
     * problem (hd_err_at with the node's file:line:col, HD_EX_DATAERR); or
     * 1 for valid settings with one warning (err->code left 0, err->msg
     * "file:line:col: warning: ...", e.g. a secret's environment variable
     * that is not set here). NULL: nothing to check. Thread-safe. */
    int (*check)(const struct hd_campaign *campaign, const struct hd_channel_conf *conf,
                 struct hd_err *err);
};

/* True when the ops table has the field, i.e. ops->size covers it: tables
 * of modules built against an older herald/channel.h are shorter. */
#define HD_CHANNEL_OPS_HAS(ops, field)                                                             \
    ((ops)->size >= offsetof(struct hd_channel_ops, field) + sizeof((ops)->field))

typedef const struct hd_channel_ops *(*hd_channel_entry_fn)(void);

/* The registry: built-in modules by name, then <dir>/<name>.so (dir from
 * modules_dir, else $HERALD_MODULES_DIR). Returns NULL with err set (unknown
 * module, dlopen failure, missing entry point, ABI mismatch, name clash with
 * a built-in). Thread-safe. Loaded objects stay loaded until exit. */
const struct hd_channel_ops *hd_channel_find(const char *name, const char *modules_dir,
                                             struct hd_err *err);

/* Calls the module's check op for one channel: its result (0, -1 with err
 * set, 1 with a warning in err->msg), or 0 when the module has none (NULL,
 * or a table that predates it). A -1 always comes with a code and a
 * message. */
int hd_channel_check(const struct hd_channel_ops *ops, const struct hd_campaign *campaign,
                     const struct hd_channel_conf *conf, struct hd_err *err);

/* Checks the settings of every channel of a loaded campaign with its
 * module's check (modules found as hd_channel_find(module, modules_dir)):
 * every error and every warning goes to diags, one line each, as
 * "file:line:col: message" (warnings "file:line:col: warning: ...", code 0).
 * Returns the number of channels with errors. What `herald validate` and
 * `herald plan` run after the campaign itself loaded. */
size_t hd_channel_check_campaign(const struct hd_campaign *campaign, const char *modules_dir,
                                 struct hd_diags *diags);

/* NULL-terminated names of the built-in modules. */
extern const char *const hd_channel_builtin_names[];

/* True when hd_channel_find would find name (fits hd_campaign_opts.module_known;
 * ctx is the modules directory or NULL). */
bool hd_channel_known(const char *name, void *ctx);

#endif
