/* herald/clock.h - the wall clock, as the state store and the proofs record
 * times: milliseconds since the Unix epoch (UTC). Thread-safe; cannot fail.
 * (Intervals and timeouts want CLOCK_MONOTONIC instead, as the SMTP module
 * uses.) */
#ifndef HERALD_CLOCK_H
#define HERALD_CLOCK_H

#include <stdint.h>

int64_t hd_now_ms(void);

#endif
