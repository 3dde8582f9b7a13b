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
 * close() releases everything (after flush).
 *
 * ABI rules: struct hd_channel_ops and struct hd_channel_host start with
 * abi and size and only ever grow at the end. A module built for another ABI
 * major version is refused at load. External modules are shared objects in
 * the modules directory named <module>.so that export one symbol,
 * HD_CHANNEL_ENTRY ("herald_channel_module_v1"), of type hd_channel_entry_fn.
 * docs/channel-modules.md is the guide for module authors.
 */
#ifndef HERALD_CHANNEL_H
#define HERALD_CHANNEL_H

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
};

typedef const struct hd_channel_ops *(*hd_channel_entry_fn)(void);

/* The registry: built-in modules by name, then <dir>/<name>.so (dir from
 * modules_dir, else $HERALD_MODULES_DIR). Returns NULL with err set (unknown
 * module, dlopen failure, missing entry point, ABI mismatch, name clash with
 * a built-in). Thread-safe. Loaded objects stay loaded until exit. */
const struct hd_channel_ops *hd_channel_find(const char *name, const char *modules_dir,
                                             struct hd_err *err);

/* NULL-terminated names of the built-in modules. */
extern const char *const hd_channel_builtin_names[];

/* True when hd_channel_find would find name (fits hd_campaign_opts.module_known;
 * ctx is the modules directory or NULL). */
bool hd_channel_known(const char *name, void *ctx);

#endif
