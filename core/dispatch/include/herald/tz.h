/* herald/tz.h - UTC offsets of IANA time zones, precomputed for lookups
 * from any thread, and the send-window arithmetic built on them.
 *
 * libc converts time zones only through the process-wide TZ variable, which
 * no multi-threaded program may switch. So the set is built once, before any
 * other thread starts: for each zone it records every offset transition in
 * a time range (DST-correct, from the system's tzdata); lookups afterwards
 * only read that table. Outside the range the nearest known offset is used.
 *
 * hd_tzset_build is NOT thread-safe (it sets TZ and restores it); every other
 * function is. hd_tzset_free(NULL) is a no-op.
 */
#ifndef HERALD_TZ_H
#define HERALD_TZ_H

#include <stddef.h>
#include <time.h>

#include "herald/err.h"

struct hd_tzset;

/* Builds offsets for the named zones over [from, to). Unknown zone names are
 * kept as UTC (the planner validated them; a system missing tzdata would be
 * caught by hd_tz_valid at plan time). Returns NULL only on no memory. */
struct hd_tzset *hd_tzset_build(const char *const *names, size_t n, time_t from, time_t to);
void hd_tzset_free(struct hd_tzset *s);

/* Offset from UTC in seconds of zone name at instant t (0 for an unknown zone). */
int hd_tzset_offset(const struct hd_tzset *s, const char *name, size_t len, time_t t);

/* Send window [start_min, end_min) in local minutes after midnight (start ==
 * end: always open; start > end: open across midnight). Returns t itself
 * when t is inside the window, else the next instant (UTC) at which the
 * window opens in that zone. */
time_t hd_window_next_open(const struct hd_tzset *s, const char *name, size_t len, time_t t,
                           int start_min, int end_min);

#endif
