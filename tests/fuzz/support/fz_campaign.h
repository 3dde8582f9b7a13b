/* Fuzz target support: loading a campaign from the fuzz directory and the
 * checks every load must pass, shared by fuzz_campaign.c and
 * fuzz_locale.c. */
#ifndef HERALD_FUZZ_FZ_CAMPAIGN_H
#define HERALD_FUZZ_FZ_CAMPAIGN_H

#include <stdbool.h>

#include "herald/campaign.h"

/* Loads path (twice: the outcome, the messages and the snapshot hash must
 * be the same both times) and checks:
 * - a campaign comes back exactly when no diagnostic was an error, and a
 *   refusal has at least one message;
 * - every message that names one of files[] (NULL-terminated) at line:col
 *   points inside that file (line at most its line count + 1, column at
 *   most that line's length + 1);
 * - no message carries a raw control character (issue 10, finding 11);
 * - a loaded campaign holds its invariants: an id of [A-Za-z0-9._-] within
 *   HD_ID_MAX, 1 to HD_MAX_CHANNELS channels, locales sorted and unique
 *   with the default among them, every text of every locale compiled for
 *   each channel type present (and the variant texts when objections.action
 *   is variant), the texts that carry the link using {{objection_url}}, a
 *   window within the day, a locale for every in-scope, non-strict country.
 * Returns the first load's campaign (NULL when refused); the caller frees
 * it. */
struct hd_campaign *fz_campaign_load(const char *path, const char *const *files);

#endif
