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

/* How a run ended, from the campaign's point of view; the first that applies,
 * in this order. The caller maps it to an exit code (herald run: docs/exit-codes.md). */
enum hd_run_outcome {
    HD_RUN_COMPLETE,    /* every planned delivery is final (sent or excluded), none failed */
    HD_RUN_STOPPED,     /* opts->stop was set before the end (SIGTERM/SIGINT) */
    HD_RUN_CANARY_HALT, /* a canary-halted wave holds back work */
    HD_RUN_PAUSED,      /* only paused or held work is left (--inflight=hold, herald pause) */
    HD_RUN_FAILURES,    /* every planned delivery is final, some failed (in any run) */
};

struct hd_dispatch_result {
    bool complete;               /* nothing left to send */
    enum hd_run_outcome outcome; /* meaningful when hd_dispatch_run returned 0 */
    /* this run's counts */
    uint64_t sent, failed, retried, deferred, resent_uncertain, held;
    /* the campaign's, in the store when the run ended */
    uint64_t failed_total, held_total;
};

/* hd_run_outcome's name for logs and JSON ("complete", "stopped", "canary_halt",
 * "paused", "failures"); a static string. */
const char *hd_run_outcome_name(enum hd_run_outcome o);

/* Runs until everything is final, only paused/halted/held work is left
 * (unless wait_paused), or *opts->stop is set. Returns 0 with result filled
 * (outcome says which of these); -1 with err on an error (the store, a module,
 * memory). Never exits the process. Log lines go to stderr in
 * opts->log_format, including those channel modules write through their
 * host's log(). */
int hd_dispatch_run(const struct hd_campaign *c, const struct hd_dispatch_opts *opts,
                    struct hd_dispatch_result *result, struct hd_err *err);

/* Whether a dispatcher holds the store's run lock (run.lock in the state
 * directory dir, opened through s, checked like the store's own files). A
 * dispatcher that died (kill -9, power loss) holds none: the deliveries it
 * left in flight are uncertain until the next run re-sends or holds them.
 * Probes with a shared lock held for an instant (a dispatcher starting then
 * retries its exclusive lock for a moment); reads and creates nothing else.
 * Returns 0 with *alive set (false when run.lock does not exist: never run);
 * -1 with err (HD_EX_CONFIG for an untrusted lock file, HD_EX_IOERR). */
struct hd_store;
int hd_dispatch_alive(struct hd_store *s, const char *dir, bool *alive, struct hd_err *err);

#endif
