/* herald/plan.h - turning a campaign and its audience into a plan.
 *
 * hd_plan_run streams the audience once, decides every row (eligible with
 * its channels, or excluded with a reason), and writes persons, deliveries,
 * exclusions, shards and counters into the state store in batched
 * transactions. Rows in = eligible + excluded, always.
 *
 * Exclusion order, first match wins: invalid_row, out_of_region, minor,
 * already_objected (when objections.action is skip), no_channel; then,
 * after the stream, duplicate_id for every later valid row whose id was seen
 * before (the first valid row of an id wins).
 *
 * Memory is bounded whatever the audience size: ids are deduplicated by an
 * external sort (fixed-size runs in the state directory, merged at the end)
 * instead of an in-memory set. The objections list is held in memory (it is
 * bounded by the objections file, not the audience).
 *
 * Re-running on identical inputs (campaign snapshot, audience and
 * objections file contents) changes nothing. Changed inputs are refused
 * with what changed, unless opts->replan; a replan is refused once any
 * delivery has left the pending state. A new store is refused while another
 * store of the campaign can be found (hd_state_dir_guard), and the store's
 * place is recorded in the campaign's location marker (herald/statedir.h).
 */
#ifndef HERALD_PLAN_H
#define HERALD_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "herald/campaign.h"
#include "herald/err.h"
#include "herald/store.h"

struct hd_plan_opts {
    const char *state_dir; /* NULL: hd_state_dir_resolve (herald/statedir.h) */
    bool replan;
    /* Called about once a second while streaming; may be NULL. */
    void (*progress)(void *ctx, uint64_t rows, uint64_t bytes_done, uint64_t bytes_total);
    void *progress_ctx;
};

struct hd_plan_result {
    bool unchanged; /* the store already held this exact plan */
    uint64_t rows, eligible, excluded;
    double seconds;
};

int hd_plan_run(const struct hd_campaign *c, const struct hd_plan_opts *opts,
                struct hd_plan_result *result, struct hd_err *err);

/* The default state directory for a campaign, <campaign folder>/herald-state/<id>,
 * written into out (hd_state_dir_resolve is what commands use). */
void hd_plan_default_dir(const struct hd_campaign *c, char *out, size_t cap);

/* The plan's summary from the store: shards with eligible counts per
 * channel, channel skips, exclusions by reason, invalid-row causes, totals.
 * Channels and waves are named from c (the campaign the plan was made from).
 * docs/plan-output.md documents the fields. Returns a new reference or NULL
 * with err set. */
json_t *hd_plan_summary(struct hd_store *s, const struct hd_campaign *c, struct hd_err *err);

#endif
