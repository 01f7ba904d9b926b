/*
 * clock.h
 *		The one clock the limiter and the background worker read.
 */
#ifndef STOCKELT_CLOCK_H
#define STOCKELT_CLOCK_H

#include "datatype/timestamp.h"

/*
 * The current time, moved forward by stockelt.test_clock_offset (0 but in
 * tests).  Every moment the limiter counts by (its day, its spacing, a pause)
 * and every moment the worker reads (a job due, a backoff, a retry of a held
 * step, the fetch time of an object it stores) comes from here, so that a
 * test moves them all at once and the worker never sees two times.
 */
extern TimestampTz stockelt_now(void);

#endif							/* STOCKELT_CLOCK_H */
