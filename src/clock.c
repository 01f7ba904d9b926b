/*
 * clock.c
 *		stockelt's clock: the server's, moved forward by a test setting.
 *
 * Waits of hours (a retry's backoff) and of a day (the daily budget) cannot
 * be slept through in a test.  stockelt.test_clock_offset moves this clock
 * for every process at once (it is read from the server's configuration), so
 * a test sees them come due; in service it stays 0 and this is
 * GetCurrentTimestamp().
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "clock.h"
#include "settings.h"

TimestampTz
stockelt_now(void)
{
	return GetCurrentTimestamp() + (TimestampTz) stockelt_test_clock_offset_s * USECS_PER_SEC;
}
