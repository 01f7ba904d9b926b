/*
 * ratelimit.c
 *		The shared limiter of API calls.
 *
 * Calls are spaced evenly: two calls start at least max(1 s / per second,
 * 60 s / per minute) apart, and 1 % more, so no second or minute window of
 * the provider ever sees more than its limit, and the day's count stops at the daily
 * budget.  A caller reserves the next free start time and waits for it; the
 * reservation is counted at once, before the call is made, and given back if
 * the caller is cancelled while it waits.
 *
 * The day's count is written to a file in the data directory on every
 * reservation, so a restart or a crash of any process never resets it.  A
 * throttle answer doubles the spacing for a minute; a daily-quota answer
 * pauses every caller until the next day (in stockelt.day_time_zone).
 *
 * Shared memory holds plain values and a lock only.
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "pgtime.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "clock.h"
#include "errcodes.h"
#include "ratelimit.h"
#include "settings.h"

#define USAGE_FILE "stockelt_usage"
#define USAGE_TEMP_FILE "stockelt_usage.tmp"
#define SLOWDOWN_SECONDS 60
#define MAX_SLOW_FACTOR 16

typedef struct RateShared
{
	LWLock	   *lock;
	bool		loaded;			/* the usage file has been read */
	DateADT		day;			/* the day "used" counts */
	int32		used;
	int32		throttled;
	TimestampTz next_start;		/* the earliest start of the next call */
	TimestampTz paused_until;
	TimestampTz slow_until;		/* the spacing is multiplied until then */
	int32		slow_factor;
} RateShared;

static RateShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

ratelimit_resumed_hook_type ratelimit_resumed_hook = NULL;

static void
request_shmem(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RateShared)));
	RequestNamedLWLockTranche("stockelt", 1);
}

void
ratelimit_shmem_request(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shmem;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ratelimit_shmem_startup;
}

void
ratelimit_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("stockelt", sizeof(RateShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(*shared));
		shared->lock = &(GetNamedLWLockTranche("stockelt"))->lock;
		shared->slow_factor = 1;
	}
	LWLockRelease(AddinShmemInitLock);
}

static RateShared *
get_shared(void)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stockelt's shared memory is not set up"),
				 errhint("Add stockelt to shared_preload_libraries and restart the server.")));
	return shared;
}

static pg_tz *
day_zone(void)
{
	pg_tz	   *tz = pg_tzset(stockelt_day_time_zone);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" of stockelt.day_time_zone is not recognized",
						stockelt_day_time_zone)));
	return tz;
}

/* The calendar day of a moment in stockelt.day_time_zone. */
static DateADT
day_of(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;

	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, day_zone()) != 0)
		elog(ERROR, "timestamp out of range");
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

/* Midnight that starts the day after `day`, in stockelt.day_time_zone. */
static TimestampTz
start_of_next_day(DateADT day)
{
	struct pg_tm tm = {0};
	Timestamp	result;
	int			tzoff;

	j2date(day + 1 + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tzoff = DetermineTimeZoneOffset(&tm, day_zone());
	if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
		elog(ERROR, "timestamp out of range");
	return result;
}

static void
read_usage_file(RateShared *s, DateADT today)
{
	char		buf[64];
	int			fd = OpenTransientFile(USAGE_FILE, O_RDONLY | PG_BINARY);
	int			day;
	int			used;
	int			throttled;
	ssize_t		n;

	s->day = today;
	s->used = s->throttled = 0;
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	CloseTransientFile(fd);
	buf[Max(n, 0)] = '\0';
	if (sscanf(buf, "%d %d %d", &day, &used, &throttled) == 3 && day == today)
	{
		s->used = used;
		s->throttled = throttled;
	}
}

/*
 * Written before the call is made, under the lock; no fsync: a crash of
 * PostgreSQL keeps it, only a crash of the operating system could lose the
 * last calls.  Written aside and renamed into place, so that a process
 * killed half-way through never leaves an empty or partial count.
 */
static void
write_usage_file(const RateShared *s)
{
	char		buf[64];
	int			len = snprintf(buf, sizeof(buf), "%d %d %d\n", (int) s->day, s->used, s->throttled);
	int			fd = OpenTransientFile(USAGE_TEMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", USAGE_TEMP_FILE)));
	if (write(fd, buf, len) != len)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno ? save_errno : ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", USAGE_TEMP_FILE)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", USAGE_TEMP_FILE)));
	if (rename(USAGE_TEMP_FILE, USAGE_FILE) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m",
						USAGE_TEMP_FILE, USAGE_FILE)));
}

/* Brings the day's count to today; the caller holds the lock. */
static void
roll_day(RateShared *s, TimestampTz now)
{
	DateADT		today = day_of(now);

	if (!s->loaded)
	{
		read_usage_file(s, today);
		s->loaded = true;
	}
	if (s->day != today)
	{
		s->day = today;
		s->used = s->throttled = 0;
		write_usage_file(s);
	}
}

static double
spacing_ms(const RateShared *s, TimestampTz now)
{
	double		ms = 0;

	if (stockelt_requests_per_second > 0)
		ms = Max(ms, 1000.0 / stockelt_requests_per_second);
	if (stockelt_requests_per_minute > 0)
		ms = Max(ms, 60000.0 / stockelt_requests_per_minute);
	if (now < s->slow_until)
		ms *= s->slow_factor;
	/* 1 % apart more: a call that leaves a few ms late still lands in the right window. */
	return ms * 1.01;
}

/* A slot given to a caller: enough to give it back if the call is never made. */
typedef struct Reservation
{
	TimestampTz start_at;
	TimestampTz end;			/* next_start as the reservation left it */
	DateADT		day;			/* the day it was counted in */
} Reservation;

static RateDecision
reserve(Reservation *r, TimestampTz *retry_at)
{
	RateShared *s = get_shared();
	TimestampTz now = stockelt_now();
	RateDecision decision;

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	PG_TRY();
	{
		roll_day(s, now);
		if (s->paused_until > now)
		{
			decision = RATE_PAUSED;
			*retry_at = s->paused_until;
		}
		else if (stockelt_requests_per_day > 0 && s->used >= stockelt_requests_per_day)
		{
			decision = RATE_DAY_SPENT;
			*retry_at = start_of_next_day(s->day);
		}
		else
		{
			decision = RATE_GO;
			r->start_at = Max(now, s->next_start);
			r->end = s->next_start = r->start_at + (TimestampTz) (spacing_ms(s, now) * 1000.0);
			r->day = s->day;
			s->used++;
			write_usage_file(s);
		}
	}
	PG_FINALLY();
	{
		LWLockRelease(s->lock);
	}
	PG_END_TRY();
	return decision;
}

/*
 * Gives back a slot whose call will not be made: it leaves the day's count,
 * and the next caller may have its start time, unless someone reserved a
 * later slot meanwhile.
 */
static void
release(const Reservation *r)
{
	RateShared *s = get_shared();

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	PG_TRY();
	{
		if (s->next_start == r->end)
			s->next_start = r->start_at;
		if (s->day == r->day && s->used > 0)
		{
			s->used--;
			write_usage_file(s);
		}
	}
	PG_FINALLY();
	{
		LWLockRelease(s->lock);
	}
	PG_END_TRY();
}

RateDecision
ratelimit_reserve(TimestampTz *start_at, TimestampTz *retry_at)
{
	Reservation r;
	RateDecision decision = reserve(&r, retry_at);

	if (decision == RATE_GO)
		*start_at = r.start_at;
	return decision;
}

static void
wait_until(TimestampTz t)
{
	for (;;)
	{
		long		ms = (long) ((t - stockelt_now() + 999) / 1000);

		if (ms <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

void
ratelimit_acquire(void)
{
	Reservation r;
	TimestampTz retry_at = 0;

	switch (reserve(&r, &retry_at))
	{
		case RATE_DAY_SPENT:
			ereport(ERROR,
					(errcode(ERRCODE_STOCKELT_BUDGET_SPENT),
					 errmsg("the day's API budget of %d requests is spent",
							stockelt_requests_per_day),
					 errdetail("The budget starts again at %s.", timestamptz_to_str(retry_at)),
					 errhint("Raise stockelt.requests_per_day if your key allows more.")));
			break;
		case RATE_PAUSED:
			ereport(ERROR,
					(errcode(ERRCODE_STOCKELT_DAILY_QUOTA),
					 errmsg("API calls are paused: the provider said the daily quota is used up"),
					 errdetail("Calls resume at %s.", timestamptz_to_str(retry_at))));
			break;
		case RATE_GO:
			break;
	}
	/* A caller cancelled while it waits never makes its call. */
	PG_TRY();
	{
		wait_until(r.start_at);
	}
	PG_CATCH();
	{
		release(&r);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static void
note_throttle(void)
{
	RateShared *s = get_shared();
	TimestampTz now = stockelt_now();

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	s->throttled++;
	s->slow_factor = now < s->slow_until ? Min(s->slow_factor * 2, MAX_SLOW_FACTOR) : 2;
	s->slow_until = TimestampTzPlusMilliseconds(now, SLOWDOWN_SECONDS * 1000);
	s->next_start = Max(s->next_start,
						now + (TimestampTz) (spacing_ms(s, now) * 1000.0));
	LWLockRelease(s->lock);
}

static void
note_daily_quota(void)
{
	RateShared *s = get_shared();
	TimestampTz now = stockelt_now();

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	PG_TRY();
	{
		roll_day(s, now);
		s->throttled++;
		s->paused_until = start_of_next_day(s->day);
	}
	PG_FINALLY();
	{
		LWLockRelease(s->lock);
	}
	PG_END_TRY();
}

void
ratelimit_note_answer(RateAnswer answer)
{
	switch (answer)
	{
		case RATE_ANSWER_NEUTRAL:
			break;
		case RATE_ANSWER_THROTTLED:
			note_throttle();
			break;
		case RATE_ANSWER_DAILY_QUOTA:
			note_daily_quota();
			break;
	}
}

void
ratelimit_usage(RateUsage *usage)
{
	RateShared *s = get_shared();
	TimestampTz now = stockelt_now();

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	PG_TRY();
	{
		roll_day(s, now);
		usage->day = s->day;
		usage->used = s->used;
		usage->throttled = s->throttled;
		usage->daily_limit = stockelt_requests_per_day;
		usage->paused_until = s->paused_until > now ? s->paused_until : 0;
		usage->spacing_ms = spacing_ms(s, now);
	}
	PG_FINALLY();
	{
		LWLockRelease(s->lock);
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(stockelt_resume);

/*
 * Lifts a pause and a slowdown the provider's answers caused (after a key
 * upgrade, say); true if there was one.
 */
Datum
stockelt_resume(PG_FUNCTION_ARGS)
{
	RateShared *s = get_shared();
	TimestampTz now = stockelt_now();
	bool		lifted;

	LWLockAcquire(s->lock, LW_EXCLUSIVE);
	lifted = s->paused_until > now || s->slow_until > now;
	s->paused_until = 0;
	s->slow_until = 0;
	s->slow_factor = 1;
	LWLockRelease(s->lock);
	/* The worker holds back the jobs that were to wait for the pause's end. */
	if (lifted && ratelimit_resumed_hook)
		ratelimit_resumed_hook();
	PG_RETURN_BOOL(lifted);
}

PG_FUNCTION_INFO_V1(stockelt_usage);

/* The limiter as stockelt_usage() shows it: the day's count, the pause, the spacing. */
Datum
stockelt_usage(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	RateUsage	usage;
	Datum		values[7];
	bool		nulls[7] = {false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	ratelimit_usage(&usage);
	values[0] = DateADTGetDatum(usage.day);
	values[1] = Int32GetDatum(usage.used);
	values[2] = Int32GetDatum(usage.daily_limit);
	nulls[2] = usage.daily_limit == 0;
	values[3] = Int32GetDatum(Max(usage.daily_limit - usage.used, 0));
	nulls[3] = usage.daily_limit == 0;
	values[4] = Int32GetDatum(usage.throttled);
	values[5] = TimestampTzGetDatum(usage.paused_until);
	nulls[5] = usage.paused_until == 0;
	values[6] = Float8GetDatum(usage.spacing_ms);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
