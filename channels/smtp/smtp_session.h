/* channels/smtp/smtp_session.h - private to the smtp channel module: one
 * libesmtp session (smtp_session.c), run by the workers of smtp.c. */
#ifndef HERALD_CHANNELS_SMTP_SESSION_H
#define HERALD_CHANNELS_SMTP_SESSION_H

#include <stddef.h>

#include "smtp_chan.h"

/* Sends jobs[0..n) in one libesmtp session (with failover across relays)
 * and reports every job's outcome exactly once, each accepted one as soon
 * as the relay accepts it. While the session is open and jobs has room
 * (ch->per_session), it takes more queued jobs into jobs[] with
 * smtp_take_more, so the connection stays open across the dispatcher's
 * hand-overs. Returns the number of jobs in jobs[] at the end (all
 * reported; the caller frees them). Runs on a worker thread. */
size_t smtp_session_run(struct smtp_chan *ch, struct smtp_job **jobs, size_t n);

#endif
