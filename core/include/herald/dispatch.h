/* herald/dispatch.h - dispatching a plan: waves, shards, rate limits, send
 * windows, retries, crash-safe state.
 *
 * One thread (the caller's) schedules and is the only writer: each loop it
 * applies the outcomes channel modules reported, picks the next messages
 * (recovered in-flight ones, then due retries and deferrals, then pending
 * ones wave by wave, shard by shard), renders them, marks them in flight,
 * and commits all of that in one transaction (group commit) BEFORE any
 * channel sees them. A run killed at any moment therefore leaves every
 * delivery pending, in flight (sent or not: re-sent on the next run with the
 * same Message-ID / idempotency key and flagged uncertain, or held with
 * hold_inflight), or final. Extra copies are bounded by the in-flight window
 * (the channels' concurrency).
 *
 * Pauses, halts and retries from other processes (herald pause/unpause/
 * retry) are read from the store every 200 ms.
 */
#ifndef HERALD_DISPATCH_H
#define HERALD_DISPATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "herald/campaign.h"
#include "herald/channel.h"
#include "herald/err.h"

enum hd_log_format { HD_LOG_TEXT, HD_LOG_JSON };

struct hd_dispatch_opts {
    const char *state_dir;   /* NULL: hd_state_dir_resolve (herald/statedir.h) */
    const char *modules_dir; /* for external channel modules, or NULL */
    bool hold_inflight;      /* --inflight=hold: park recovered in-flight deliveries as held */
    bool wait_paused;        /* keep running while only paused work remains */
    bool ignore_window;      /* send outside the send window (dry runs, demos); logged */
    enum hd_log_format log_format;
    bool live_progress;          /* a live line per channel (stderr is a terminal) */
    volatile sig_atomic_t *stop; /* set asynchronously to stop after in-flight work settles */
    /* The module registry (hd_channel_find from the channels library; the
     * core does not link modules itself). */
    const struct hd_channel_ops *(*find_module)(const char *name, const char *modules_dir,
                                                struct hd_err *err);
};

struct hd_dispatch_result {
    bool complete; /* nothing left to send */
    uint64_t sent, failed, retried, deferred, resent_uncertain, held;
};

int hd_dispatch_run(const struct hd_campaign *c, const struct hd_dispatch_opts *opts,
                    struct hd_dispatch_result *result, struct hd_err *err);

#endif
