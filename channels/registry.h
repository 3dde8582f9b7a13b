/* channels/registry.h - private to libherald_channels: the built-in modules'
 * ops tables and the settings and fault-injection helpers they share. The
 * public interface is herald/channel.h; nothing outside channels/ includes
 * this file.
 *
 * The settings helpers report the first problem with the node's
 * file:line:col (HD_EX_DATAERR) and return -1; they are pure (no global
 * state), so safe from any thread.
 */
#ifndef HERALD_CHANNELS_REGISTRY_H
#define HERALD_CHANNELS_REGISTRY_H

#include <stdbool.h>

#include "herald/channel.h"

extern const struct hd_channel_ops hd_channel_file_ops;
extern const struct hd_channel_ops hd_channel_null_ops;
extern const struct hd_channel_ops hd_channel_smtp_ops;
extern const struct hd_channel_ops hd_channel_http_push_ops;

/* The first key of mapping map that is not in known (NULL-terminated), or
 * NULL when all are; *suggestion is then the closest known name (a
 * did-you-mean) or NULL. For nested mappings; the callers word the error. */
const struct hd_ynode *hd_settings_unknown(const struct hd_ynode *map, const char *const *known,
                                           const char **suggestion);
/* known joined with ", " into out (truncated to size). */
void hd_settings_join(char *out, size_t size, const char *const *known);

/* Checks that every key of the channel's settings mapping is in known
 * (NULL-terminated), with a did-you-mean. A channel without settings passes;
 * use hd_settings_need for required keys. */
int hd_settings_check_keys(const struct hd_campaign *c, const struct hd_channel_conf *conf,
                           const char *const *known, struct hd_err *err);

/* The settings node for key, or NULL (and, when required, an error located
 * at the settings mapping, or at the channel when it has no settings). */
const struct hd_ynode *hd_settings_get(const struct hd_campaign *c,
                                       const struct hd_channel_conf *conf, const char *key,
                                       bool required, const char *example, struct hd_err *err);

/* Scalar conversions of one setting; n is that setting's node. */
int hd_settings_str(const struct hd_ynode *n, const char *key, const char **out,
                    struct hd_err *err);
int hd_settings_uint(const struct hd_ynode *n, const char *key, unsigned long max,
                     unsigned long *out, struct hd_err *err);
int hd_settings_bool(const struct hd_ynode *n, const char *key, bool *out, struct hd_err *err);

/* Parsers shared by create() and check(): a parser takes a struct hd_err
 * *warning, NULL when it runs for create() (read secrets, a missing one is
 * an error), non-NULL for check() (read no secret; what only run time can
 * settle becomes a warning there, the first one kept). */

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
int hd_faults_load(struct hd_faults *f, const struct hd_campaign *c,
                   const struct hd_channel_conf *conf, struct hd_err *err);

/* Counts one message; true when it is to fail, with *kind and *reason set
 * (reason is static text). */
bool hd_faults_next(struct hd_faults *f, enum hd_outcome_kind *kind, const char **reason);

/* Secrets a module knows (a bearer token, a password, an AUTH exchange's
 * base64), registered at create(), so that no text the module reports or
 * logs carries one: a service that echoes the request's credentials in its
 * reply (many do, in error bodies) would otherwise put them into the store,
 * the signed proof bundle and the run's log. Every built-in module reports
 * through hd_secrets_report and logs through hd_secrets_redact.
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
 * when HD_SECRETS_MAX are registered already (a module bug) or memory ran
 * out: either way the module must not start, so a secret is never echoed. */
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

/* host->report(o) with o's provider_id, response and reason redacted
 * (copied only when one of them holds a secret). */
void hd_secrets_report(const struct hd_secrets *sec, const struct hd_channel_host *host,
                       const struct hd_outcome *o);

#endif
