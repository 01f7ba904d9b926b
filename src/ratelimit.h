/*
 * ratelimit.h
 *		One limiter of API calls for every backend and the background worker,
 *		in shared memory, with the day's usage kept across restarts.
 */
#ifndef STOCKELT_RATELIMIT_H
#define STOCKELT_RATELIMIT_H

#include "datatype/timestamp.h"
#include "utils/date.h"

typedef enum RateDecision
{
	RATE_GO,					/* a slot is reserved from *start_at on */
	RATE_DAY_SPENT,				/* the daily budget is used up until *retry_at */
	RATE_PAUSED					/* the provider asked us to stop until *retry_at */
} RateDecision;

typedef struct RateUsage
{
	DateADT		day;
	int32		used;
	int32		daily_limit;	/* 0: no cap */
	int32		throttled;
	TimestampTz paused_until;	/* 0 when not paused */
	double		spacing_ms;		/* current time between two calls */
} RateUsage;

extern void ratelimit_shmem_request(void);
extern void ratelimit_shmem_startup(void);

/* Reserves the next slot without waiting; counts it in the day's usage. */
extern RateDecision ratelimit_reserve(TimestampTz *start_at, TimestampTz *retry_at);

/* For a synchronous call: waits (cancellably) for a slot, or fails at once. */
extern void ratelimit_acquire(void);

/* What an answer of the provider says about the pace of calls. */
typedef enum RateAnswer
{
	RATE_ANSWER_NEUTRAL,		/* data, or an error that says nothing of the pace */
	RATE_ANSWER_THROTTLED,		/* too fast: every caller slows down for a while */
	RATE_ANSWER_DAILY_QUOTA		/* the provider's day is spent: every caller pauses */
} RateAnswer;

/* Tells the limiter what an answer meant, for every backend and the worker. */
extern void ratelimit_note_answer(RateAnswer answer);

extern void ratelimit_usage(RateUsage *usage);

/*
 * Called in the backend whose stockelt_resume() lifted a pause: the worker
 * module sets it to wake the worker, which holds back the jobs that were to
 * wait for the pause's end (the limiter knows nothing of the worker).
 */
typedef void (*ratelimit_resumed_hook_type) (void);
extern ratelimit_resumed_hook_type ratelimit_resumed_hook;

#endif							/* STOCKELT_RATELIMIT_H */
