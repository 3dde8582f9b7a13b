/* herald/channel_registry.h - finding channel modules and checking a
 * campaign's channels: for herald itself (the dispatcher, cmd/, tests),
 * never for modules (they include herald/channel.h only).
 *
 * hd_channel_view_init is the dispatcher's (it builds what a module sees);
 * the rest is implemented by libherald_channels, which holds the built-in
 * modules. All of it is thread-safe.
 */
#ifndef HERALD_CHANNEL_REGISTRY_H
#define HERALD_CHANNEL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/campaign.h"
#include "herald/channel.h"
#include "herald/err.h"

/* Fills view with what a module sees of channel conf of campaign c; the
 * view points into both, so it is valid while the campaign is. */
void hd_channel_view_init(struct hd_channel_view *view, const struct hd_campaign *c,
                          const struct hd_channel_conf *conf);

/* The built-in modules by name, then <dir>/<name>.so (dir from modules_dir,
 * else $HERALD_MODULES_DIR). Returns NULL with err set (unknown module,
 * dlopen failure, missing entry point, ABI mismatch, name clash with a
 * built-in). Loaded objects stay loaded until exit. */
const struct hd_channel_ops *hd_channel_find(const char *name, const char *modules_dir,
                                             struct hd_err *err);

/* Calls the module's check op for one channel of campaign: its result (0,
 * -1 with err set, 1 with a warning in err->msg), or 0 when the module has
 * none (NULL, or a table that predates it). A -1 always comes with a code
 * and a message. */
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
