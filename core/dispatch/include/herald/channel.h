/* herald/channel.h - the channel module interface: the one header a module
 * author needs (docs/channel-modules.md is the guide).
 *
 * A channel module delivers rendered messages (an email's RFC 5322 bytes, a
 * push notice's JSON) to one kind of service. The dispatcher owns ordering,
 * rate limits, retries and state; a module only sends and reports.
 *
 * Lifecycle: create() once per campaign channel from its view (struct
 * hd_channel_view: the channel's settings and what it needs of the
 * campaign); send() batches of messages, any number of times, from the
 * dispatcher's thread; each message's outcome is reported exactly once
 * through host->report() (hd_channel_report), from any thread, possibly
 * before send() returns; flush() blocks until every message handed to send()
 * has been reported; close() releases everything (after flush). The optional
 * check() validates a channel's settings without creating anything (`herald
 * validate`, `herald plan`); it may be called without create() ever
 * following.
 *
 * ABI rules: struct hd_channel_ops, struct hd_channel_host and struct
 * hd_channel_view start with abi and size and only ever grow at the end; a
 * field added later is optional, and present only when size covers it
 * (HD_CHANNEL_OPS_HAS, HD_CHANNEL_VIEW_HAS), so a module built against an
 * older header of the same ABI major still loads. Changing a signature or a
 * field bumps HD_CHANNEL_ABI, and a module built for another ABI major is
 * refused at load. The types this header includes are part of the ABI too:
 * struct hd_err (herald/err.h), struct hd_ynode (herald/yaml.h, the
 * settings) and enum hd_channel_type (herald/channel_type.h). Modules never
 * see struct hd_campaign. External modules are shared objects in the modules
 * directory named <module>.so that export one symbol, HD_CHANNEL_ENTRY
 * ("herald_channel_module_v1", the entry point's own version, unchanged
 * across ABI majors so that an old module is refused with a clear message),
 * of type hd_channel_entry_fn. Herald exports no functions to modules:
 * everything a module may call is here, inline.
 *
 * The registry that finds modules (hd_channel_find, ...) is for herald
 * itself: herald/channel_registry.h.
 */
#ifndef HERALD_CHANNEL_H
#define HERALD_CHANNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "herald/channel_type.h"
#include "herald/err.h"
#include "herald/yaml.h"

/* 2: create() and check() take a struct hd_channel_view instead of the
 * campaign and its channel entry (1). */
#define HD_CHANNEL_ABI 2
#define HD_CHANNEL_ENTRY "herald_channel_module_v1"

/* What a module sees of its channel and of the campaign: exactly what the
 * modules need, so that the campaign's own layout is no part of the ABI.
 * Filled by herald; every pointer stays valid, unchanged, until the
 * instance is closed (check(): until it returns). Read-only. */
struct hd_channel_view {
    unsigned abi;       /* HD_CHANNEL_ABI */
    size_t size;        /* sizeof the view herald filled: HD_CHANNEL_VIEW_HAS */
    const char *name;   /* the channel's key under channels:, [a-z0-9_-], at most 32 bytes */
    const char *module; /* the module's name, as the campaign gives it */
    enum hd_channel_type type;
    /* Where the channel is written: the campaign file and the channel's
     * line and column in it, for errors about the channel as a whole (a
     * missing setting when it has no settings: at all). */
    const char *campaign_file;
    unsigned long line, col;
    /* The folder relative paths in settings resolve against (the campaign
     * file's), or NULL for the current directory. */
    const char *campaign_dir;
    /* The channel's settings: mapping (each node carries file, line and col
     * for errors), or NULL when the channel has none. Read it with
     * hd_channel_setting or by walking the nodes. */
    const struct hd_ynode *settings;
    /* Email channels: the From address of the messages ("from:"), or NULL. */
    const char *from_addr;
};

/* True when the view has the field, i.e. view->size covers it. */
#define HD_CHANNEL_VIEW_HAS(view, field)                                                           \
    ((view)->size >= offsetof(struct hd_channel_view, field) + sizeof((view)->field))

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
    /* The whole message went out but no answer came (the connection broke
     * after an SMTP body's final dot, before the reply), so the service may
     * or may not have it. Never a failure: the dispatcher flags the
     * delivery uncertain (`herald status --uncertain`, `uncertain` in its
     * proof) and sends it again with the same id while attempts are left,
     * else holds it for review (`herald retry --held`). */
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
    /* Logs a line (level 0 error, 1 warning, 2 info); thread-safe; never pass
     * secrets. NULL: no log. */
    void (*log)(void *ctx, int level, const char *message);
    void *ctx;
};

struct hd_channel_ops {
    unsigned abi;
    size_t size;
    const char *name;
    /* Builds an instance for the channel of view (view->settings holds the
     * module's own YAML mapping; report problems with the node's
     * file:line:col, code HD_EX_DATAERR, or HD_EX_CONFIG for a missing
     * secret, HD_EX_UNAVAILABLE for a service that cannot be reached). */
    int (*create)(const struct hd_channel_host *host, const struct hd_channel_view *view,
                  void **instance, struct hd_err *err);
    /* Hands over n messages. Returns 0, or -1 with err set when the module
     * cannot take them at all (then none of them is reported). */
    int (*send)(void *instance, const struct hd_message *messages, size_t n, struct hd_err *err);
    /* Blocks until every message handed over has been reported. */
    int (*flush)(void *instance, struct hd_err *err);
    /* Frees the instance; NULL is a no-op. */
    void (*close)(void *instance);
    /* Optional (NULL, or a table whose size ends before it: nothing to
     * check). Checks view->settings as create() would, without acquiring
     * anything: no threads, sockets, files or directories created, no
     * secrets read (a missing secret is for run time). Returns 0 when they
     * are valid; -1 with err set exactly as create() would set it for the
     * first problem (file:line:col, HD_EX_DATAERR); or 1 for valid settings
     * with one warning (err->code left 0, err->msg "file:line:col: warning:
     * ...", e.g. a secret's environment variable that is not set here).
     * Thread-safe. */
    int (*check)(const struct hd_channel_view *view, struct hd_err *err);
};

/* True when the ops table has the field, i.e. ops->size covers it: tables
 * of modules built against an older herald/channel.h are shorter. */
#define HD_CHANNEL_OPS_HAS(ops, field)                                                             \
    ((ops)->size >= offsetof(struct hd_channel_ops, field) + sizeof((ops)->field))

typedef const struct hd_channel_ops *(*hd_channel_entry_fn)(void);

/* ---- helpers for modules (inline: herald exports no functions) ---------- */

/* The node of settings key, or NULL when the channel has no settings or not
 * that key. Mapping keys are scalars; the settings mapping is read-only. */
static inline const struct hd_ynode *hd_channel_setting(const struct hd_channel_view *view,
                                                        const char *key)
{
    const struct hd_ynode *map = view->settings;
    for (size_t i = 0; map && map->kind == HD_YMAP && i < map->count; i++)
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->items[i];
    return NULL;
}

/* Where a module's outcomes and log lines go: the host, with a prefix on
 * every log line and, optionally, a redaction of the module's secrets from
 * every text it reports or logs (a service that echoes credentials in its
 * replies must not put them into the store, the proofs or the log). Set it
 * up once in create() with hd_channel_out_init; then read-only, so usable
 * from any thread. The one way modules report and log. */
#define HD_CHANNEL_TEXT_MAX 4096 /* longer provider_id, response, reason: truncated when redacted  \
                                  */
struct hd_channel_out {
    struct hd_channel_host host; /* a copy of what create() received */
    char prefix[48];             /* before every log line, e.g. "channel email: " */
    /* Rewrites text (NUL-terminated, in a buffer of cap bytes) with every
     * secret replaced; returns the number of replacements. NULL: nothing
     * to hide. */
    size_t (*redact)(const void *ctx, char *text, size_t cap);
    const void *redact_ctx;
};

/* Copies host; log lines get "channel <name>: " in front (name NULL: no
 * prefix); no redaction until redact is set. */
static inline void hd_channel_out_init(struct hd_channel_out *out,
                                       const struct hd_channel_host *host, const char *name)
{
    memset(out, 0, sizeof *out);
    out->host = *host;
    if (name)
        snprintf(out->prefix, sizeof out->prefix, "channel %s: ", name);
}

/* Wipes a buffer that held a secret (volatile: not optimised away). */
static inline void hd_channel_wipe_(char *buf, size_t n)
{
    volatile char *p = buf;
    while (n--)
        *p++ = 0;
}

/* Redacts src into buf when it holds a secret: buf, or src itself when it
 * holds none (or is NULL). *hit counts the replacements. */
static inline const char *hd_channel_redacted_(const struct hd_channel_out *out, const char *src,
                                               char *buf, size_t *hit)
{
    size_t n;
    if (src == NULL)
        return NULL;
    snprintf(buf, HD_CHANNEL_TEXT_MAX, "%s", src);
    n = out->redact(out->redact_ctx, buf, HD_CHANNEL_TEXT_MAX);
    *hit += n;
    return n ? buf : src;
}

/* Reports one outcome through the host, with provider_id, response and
 * reason redacted when they hold a secret. Thread-safe. */
static inline void hd_channel_report(const struct hd_channel_out *out, const struct hd_outcome *o)
{
    char id[HD_CHANNEL_TEXT_MAX], resp[HD_CHANNEL_TEXT_MAX], reason[HD_CHANNEL_TEXT_MAX];
    struct hd_outcome r;
    size_t hit = 0;
    if (out->redact == NULL) {
        out->host.report(out->host.ctx, o);
        return;
    }
    r = *o;
    r.provider_id = hd_channel_redacted_(out, o->provider_id, id, &hit);
    r.response = hd_channel_redacted_(out, o->response, resp, &hit);
    r.reason = hd_channel_redacted_(out, o->reason, reason, &hit);
    out->host.report(out->host.ctx, hit ? &r : o);
    if (hit) {
        hd_channel_wipe_(id, sizeof id);
        hd_channel_wipe_(resp, sizeof resp);
        hd_channel_wipe_(reason, sizeof reason);
    }
}

/* Logs one line (level 0 error, 1 warning, 2 info) through the host, after
 * the prefix, redacted; at most 1023 bytes. Thread-safe. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void
hd_channel_log(const struct hd_channel_out *out, int level, const char *fmt, ...)
{
    char line[1024];
    size_t n;
    va_list ap;
    if (out->host.log == NULL)
        return;
    n = (size_t)snprintf(line, sizeof line, "%s", out->prefix);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (out->redact)
        out->redact(out->redact_ctx, line, sizeof line);
    out->host.log(out->host.ctx, level, line);
}

#endif
