/* channels/builtin.h - private to libherald_channels: the built-in modules'
 * ops tables and what they share: the settings table (settings.c), fault
 * injection for tests, and the redaction of their secrets (secrets.c).
 * Module authors' interface is herald/channel.h, herald's own is
 * herald/channel_registry.h; nothing outside channels/ includes this file
 * (but the unit test of the built-ins).
 *
 * The settings helpers report the first problem with the node's
 * file:line:col (HD_EX_DATAERR) and return -1; they are pure (no global
 * state), so safe from any thread.
 */
#ifndef HERALD_CHANNELS_BUILTIN_H
#define HERALD_CHANNELS_BUILTIN_H

#include <stdbool.h>

#include "herald/channel.h"

extern const struct hd_channel_ops hd_channel_file_ops;
extern const struct hd_channel_ops hd_channel_null_ops;
extern const struct hd_channel_ops hd_channel_smtp_ops;
extern const struct hd_channel_ops hd_channel_http_push_ops;

/* ---- the settings table ----------------------------------------------------
 *
 * A module declares its settings once, as a table of struct hd_setting (in
 * the spirit of nginx's directive tables): key, type, where the value goes
 * in the module's settings struct, and a check. hd_settings_load reads a
 * mapping through it: unknown keys (with a did-you-mean, the table's keys
 * being the known ones), a missing required key, each value converted by
 * its type and stored, then the entry's check. Entries run in table order
 * and the first problem is the error. Defaults are the table's too. */

enum hd_setting_type {
    HD_SETTING_STR,  /* char *: a non-empty string without NUL, copied (the module frees it) */
    HD_SETTING_UINT, /* unsigned or unsigned long (by size): a whole number 0..max */
    HD_SETTING_BOOL, /* bool: true or false */
    HD_SETTING_NODE, /* nothing stored: check reads the node itself */
};

struct hd_setting;

/* One hd_settings_load: where values go and what the module's checks need. */
struct hd_settings_ctx {
    const struct hd_channel_view *view;
    void *conf; /* the module's settings struct: the table's offsets are into it */
    /* NULL when loading for create() (read secrets, a missing one is an
     * error); non-NULL for check() (read no secret; what only run time can
     * settle becomes a warning, the first one kept). */
    struct hd_err *warning;
    const char *what; /* NULL: the channel's settings; "batch": a nested mapping */
};

/* A check: n is the key's value, already stored for a typed entry (not for
 * HD_SETTING_NODE); label is the key as errors name it ("batch.url" in a
 * nested mapping). NULL n: the key is absent (only for HD_SETTING_ABSENT).
 * 0, or -1 with err set. */
typedef int (*hd_setting_check_fn)(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                                   const struct hd_ynode *n, const char *label, struct hd_err *err);

#define HD_SETTING_ABSENT 1u /* call check with n NULL when the key is absent */

struct hd_setting {
    const char *key; /* NULL ends the table */
    enum hd_setting_type type;
    size_t offset, size;       /* the field in the settings struct (HD_SETTING_FIELD); NODE: none */
    unsigned long max;         /* UINT: the largest value */
    unsigned long dflt;        /* UINT, BOOL: the value when the key is absent; NODE: its check's */
    const char *dflt_str;      /* STR: copied when the key is absent (NULL: stays NULL) */
    hd_setting_check_fn check; /* or NULL */
    /* The key must be there: an example for the error ("url: https://..."). */
    const char *required;
    unsigned flags;
};

#define HD_SETTING_FIELD(type, field)                                                              \
    .offset = offsetof(type, field), .size = sizeof(((type *)0)->field)

/* Reads map (NULL: no settings) through table into ctx->conf: first every
 * default, then the keys; 0, or -1 with err set at the first problem. For
 * the channel's own settings (ctx->what NULL) unknown keys and missing ones
 * are worded for the channel; in a nested mapping ("in batch", "batch needs
 * ..."). On -1 the caller still frees what was stored. */
int hd_settings_load(const struct hd_setting *table, const struct hd_ynode *map,
                     const struct hd_settings_ctx *ctx, struct hd_err *err);

/* Check for a UINT entry that must not be 0: "setting \"K\" must be from 1 to MAX". */
int hd_setting_from_1(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                      const struct hd_ynode *n, const char *label, struct hd_err *err);
/* Check for a UINT entry that must not be 0: "setting \"K\" must be at least 1". */
int hd_setting_at_least_1(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                          const struct hd_ynode *n, const char *label, struct hd_err *err);

/* ---- settings helpers ------------------------------------------------------ */

/* The first key of mapping map that is not in known (NULL-terminated), or
 * NULL when all are; *suggestion is then the closest known name (a
 * did-you-mean) or NULL. For nested mappings; the callers word the error. */
const struct hd_ynode *hd_settings_unknown(const struct hd_ynode *map, const char *const *known,
                                           const char **suggestion);
/* known joined with ", " into out (truncated to size). */
void hd_settings_join(char *out, size_t size, const char *const *known);

/* Checks that every key of the channel's settings mapping is in known
 * (NULL-terminated), with a did-you-mean. A channel without settings passes;
 * use hd_settings_get for required keys. */
int hd_settings_check_keys(const struct hd_channel_view *view, const char *const *known,
                           struct hd_err *err);

/* The settings node for key, or NULL (and, when required, an error located
 * at the settings mapping, or at the channel when it has no settings). */
const struct hd_ynode *hd_settings_get(const struct hd_channel_view *view, const char *key,
                                       bool required, const char *example, struct hd_err *err);

/* A path from the settings resolved against the campaign's folder (absolute
 * ones as they are), malloc'd. */
char *hd_settings_path(const struct hd_channel_view *view, const char *path);

/* Scalar conversions of one setting; n is that setting's node. */
int hd_settings_str(const struct hd_ynode *n, const char *key, const char **out,
                    struct hd_err *err);
int hd_settings_uint(const struct hd_ynode *n, const char *key, unsigned long max,
                     unsigned long *out, struct hd_err *err);
int hd_settings_bool(const struct hd_ynode *n, const char *key, bool *out, struct hd_err *err);

/* Records a warning located at `at` ("file:line:col: warning: ...") unless
 * warning is NULL or already holds one. */
void hd_settings_warn(struct hd_err *warning, const struct hd_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For check(): n names a secret's environment variable (a non-empty
 * string, else an error); when the variable is not set here, a warning. Its
 * value is never copied or shown. */
int hd_settings_env_check(const struct hd_ynode *n, const char *key, struct hd_err *warning,
                          struct hd_err *err);

/* check()'s result from its parser's rc: -1 (err already set), 1 with the
 * warning copied into err, or 0. */
int hd_settings_checked(int rc, const struct hd_err *warning, struct hd_err *err);

/* Fault injection for tests: every fail_every-th message of an instance
 * fails TRANSIENT, every permanent_every-th PERMANENT (which wins when both
 * apply). 0 turns either off. */
struct hd_faults {
    unsigned long fail_every, permanent_every;
    unsigned long long seen;
};

/* Reads the optional fail_every and permanent_every settings. */
int hd_faults_load(struct hd_faults *f, const struct hd_channel_view *view, struct hd_err *err);

/* Counts one message; true when it is to fail, with *kind and *reason set
 * (reason is static text). */
bool hd_faults_next(struct hd_faults *f, enum hd_outcome_kind *kind, const char **reason);

/* Secrets a module knows (a bearer token, a password, an AUTH exchange's
 * base64), registered at create(), so that no text the module reports or
 * logs carries one: a service that echoes the request's credentials in its
 * reply (many do, in error bodies) would otherwise put them into the store,
 * the signed proof bundle and the run's log. Every built-in module reports
 * and logs through its struct hd_channel_out, hd_secrets_guard'ed.
 * Not thread-safe while secrets are added (create()); afterwards read-only,
 * so safe from any thread. */
#define HD_SECRETS_MAX 8
#define HD_REDACTED "[redacted]"
struct hd_secrets {
    char *s[HD_SECRETS_MAX];
    size_t len[HD_SECRETS_MAX];
    size_t n;
};

/* Registers a copy of secret (len bytes; empty ones are ignored). 0, or -1
 * when HD_SECRETS_MAX are registered already (a module bug). */
int hd_secrets_add(struct hd_secrets *sec, const char *secret, size_t len);
/* Also registers secret's standard base64 (how AUTH PLAIN/LOGIN and Basic
 * auth carry it). */
int hd_secrets_add_b64(struct hd_secrets *sec, const unsigned char *secret, size_t len);
/* Wipes and frees the copies; NULL is a no-op. */
void hd_secrets_free(struct hd_secrets *sec);

/* Rewrites text (NUL-terminated, in a buffer of cap bytes) with every
 * occurrence of a registered secret replaced by HD_REDACTED, and a tail
 * that is the first 6 or more bytes of a secret (a reply cut short) too;
 * truncated to cap - 1 bytes when the replacements make it longer. Returns
 * the number of replacements. */
size_t hd_secrets_redact(const struct hd_secrets *sec, char *text, size_t cap);

/* Makes out redact sec's secrets from what it reports and logs (nothing
 * changes while sec holds none). sec must outlive out's use. */
void hd_secrets_guard(struct hd_channel_out *out, const struct hd_secrets *sec);

#endif
