/* herald/statedir.h - where a campaign's state store lives.
 *
 * The store belongs to the campaign, never to the current directory: a
 * store looked for in the wrong place looks like no plan at all, and a new
 * plan there would send every notice a second time. docs/state-store.md
 * describes the rules; in order, the first that applies wins:
 *   1. --state-dir DIR (the caller passes it; not this module's business);
 *   2. the campaign's state.dir setting (relative to the campaign file);
 *   3. $HERALD_STATE_DIR/<campaign id>;
 *   4. the store recorded in the campaign's location marker (below);
 *   5. <campaign file's folder>/herald-state/<campaign id>.
 *
 * The location marker, <campaign folder>/herald-state/<id>.location, holds
 * the absolute path of the store `herald plan` made for that campaign id.
 * hd_state_dir_guard refuses a plan that would start a store while another
 * store of the campaign can be found (the marker's, the default, the
 * setting's, $HERALD_STATE_DIR's, or the old ./herald-state/<id>), or while
 * the marker names a store that is gone.
 *
 * No function here prints or exits; errors come back through err. Not
 * thread-safe (reads the environment).
 */
#ifndef HERALD_STATEDIR_H
#define HERALD_STATEDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/campaign.h"
#include "herald/err.h"

/* Writes the store's path for c (rules 2 to 5) into out. Returns 0, or -1
 * with err set: HD_EX_USAGE when the path would not fit in cap ("state
 * directory path is too long"), HD_EX_CONFIG when the marker cannot be
 * read or holds no absolute path. */
int hd_state_dir_resolve(const struct hd_campaign *c, char *out, size_t cap, struct hd_err *err);

/* The marker's path for c into out (truncation: -1, HD_EX_USAGE). */
int hd_state_dir_marker(const struct hd_campaign *c, char *out, size_t cap, struct hd_err *err);

/* Called by `herald plan` before it opens dir, the store it is about to
 * use. When dir already holds a store (data.mdb), returns 0: the plan's own
 * checks judge it. Otherwise returns -1 with err set (HD_EX_DATAERR) when
 * another store of c's id can be found, naming it and what to do, or when
 * the marker names a store that no longer exists. */
int hd_state_dir_guard(const struct hd_campaign *c, const char *dir, struct hd_err *err);

/* Records dir (made absolute) in c's marker unless a marker exists already.
 * When the campaign folder cannot be written (a read-only mount such as a
 * Kubernetes ConfigMap) and dir is where state.dir or $HERALD_STATE_DIR puts
 * the store, no marker is needed and none is written. Returns 0 or -1 with
 * err set (HD_EX_CANTCREAT: among others, a read-only folder and a store
 * only --state-dir names, which no later command could find). */
int hd_state_dir_record(const struct hd_campaign *c, const char *dir, struct hd_err *err);

#endif
