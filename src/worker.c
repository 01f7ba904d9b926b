/*
 * worker.c
 *		The background worker: runs queued pipeline jobs (fetch → bronze →
 *		silver), enqueues due watchlist symbols, refreshes gold once a batch
 *		is done, prunes finished jobs.
 *
 * A job is claimed in one short transaction, its API call runs with no
 * transaction open, and its result (bronze object, silver rows, job state)
 * is written in one more.  A crash between the two leaves the job "running";
 * the next worker puts it back in the queue, so it is done exactly once in
 * effect, at the cost of at most one repeated API call.  Up to
 * stockelt.max_concurrent_requests calls are in flight at once, every one
 * inside the shared limiter.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "alphavantage.h"
#include "bronze.h"
#include "clock.h"
#include "cluster.h"
#include "errcodes.h"
#include "goldlog.h"
#include "http.h"
#include "ingest.h"
#include "ratelimit.h"
#include "settings.h"
#include "silver.h"
#include "worker.h"

#define MAX_POOL 64
#define HOUSEKEEPING_MS 10000
#define MAX_BACKOFF_MS (3600 * 1000)
#define LOCK_WAIT_MS 100		/* longest wait for a lock another session holds */
#define LOCKED_RETRY_MS 1000	/* a step that found its lock taken runs again then */
#define PREREQUISITE_RETRY_MS 1000	/* first wait after a prerequisite of calls failed */
#define MAX_PREREQUISITE_RETRY_MS (30 * 1000)
#define DATABASE_POLL_MS 1000	/* how often a missing stockelt.database is looked for */

PGDLLEXPORT void stockelt_worker_main(Datum arg);

/*
 * A slot of the pool and the job it holds.  Its state moves only through
 * slot_move, along the arrows of src/README.md:
 *
 *	FREE ──claim──▶ CLAIMED ──reserve──▶ RESERVED ──send──▶ IN_FLIGHT ──finish──▶ FREE
 *	                   │                                     │     ▲
 *	                   └──unclaim, hold──▶ FREE          park▼     │store (finish)
 *	                                                        PARKED ─┘
 */
typedef enum SlotState
{
	SLOT_FREE,					/* no job */
	SLOT_CLAIMED,				/* running in stockelt.jobs, no slot of the limiter yet */
	SLOT_RESERVED,				/* the limiter gave it a start (start_at); not sent */
	SLOT_IN_FLIGHT,				/* its call is in the HTTP pool */
	SLOT_PARKED,				/* its answer waits for another session's lock */
	SLOT_STATES
} SlotState;

static const char *const slot_state_names[SLOT_STATES] = {
	"free", "claimed", "reserved", "in flight", "parked"
};

/* The states each state may move to. */
#define TO(state) (1 << (state))
static const int slot_moves[SLOT_STATES] = {
	[SLOT_FREE] = TO(SLOT_CLAIMED),
	[SLOT_CLAIMED] = TO(SLOT_RESERVED) | TO(SLOT_FREE),
	[SLOT_RESERVED] = TO(SLOT_IN_FLIGHT),
	[SLOT_IN_FLIGHT] = TO(SLOT_FREE) | TO(SLOT_PARKED),
	[SLOT_PARKED] = TO(SLOT_FREE),
};
#undef TO

typedef struct Job
{
	SlotState	state;
	int64		id;
	char		symbol[64];
	int			attempts;
	TimestampTz start_at;		/* from RESERVED on */
	int64		spacing_us;		/* the limiter's spacing when it was reserved */
	TimestampTz sent_at;
	char	   *apikey;			/* the key it was sent with (TopMemoryContext) */
	/* PARKED: an answer kept while another session holds a lock its ingest needs */
	HttpResponse answer;		/* body in TopMemoryContext */
	TimestampTz received;
	TimestampTz store_at;		/* try to store it again then */
} Job;

static Job	jobs[MAX_POOL];

/*
 * The one place a slot changes state.  A move the diagram does not draw is a
 * bug of the worker: it stops (and is restarted, its jobs put back), rather
 * than send a call twice or lose an answer.
 */
static void
slot_move(Job *job, SlotState to)
{
	if ((slot_moves[job->state] & (1 << to)) == 0)
		elog(ERROR, "stockelt worker: a job slot cannot go from %s to %s",
			 slot_state_names[job->state], slot_state_names[to]);
	job->state = to;
}
static HttpPool *pool;
static bool ingested_since_refresh = false;
static TimestampTz blocked_until = 0;	/* the limiter said: nothing before then */
static const char *blocked_for = NULL;	/* why, as stockelt.jobs.waiting_for says it */
static TimestampTz held_until = 0;	/* jobs were told to wait until then */
static TimestampTz next_slot_at = 0;	/* the limiter has no free slot before then */
static TimestampTz next_housekeeping = 0;
static TimestampTz next_refresh = 0;	/* a refresh that failed runs again then */

/*
 * What a call needs before it is spent: an API key the worker can read, and
 * a bronze store that answers (as the synchronous path checks both before
 * calling).  While one fails, jobs wait without any call and show why, and
 * the check is repeated with a growing delay, at once after a reload.
 */
typedef struct Prerequisite
{
	const char *what;			/* as "waiting for <what>: <error>" says it */
	void		(*check) (void);	/* raises the error that stops calls */
	int			holds_ms;		/* a check that passed holds this long */
	TimestampTz checked_until;
	TimestampTz down_until;
	int			retry_ms;		/* 0 while it holds */
} Prerequisite;

static char *current_apikey = NULL;	/* read by the last check (TopMemoryContext) */

static void
check_api_key(void)
{
	const char *key = stockelt_require_api_key();

	if (current_apikey == NULL || strcmp(current_apikey, key) != 0)
	{
		if (current_apikey)
			pfree(current_apikey);
		current_apikey = MemoryContextStrdup(TopMemoryContext, key);
	}
}

static Prerequisite api_key_prerequisite = {"an API key", check_api_key, 0};
static Prerequisite store_prerequisite = {"the bronze store", bronze_check_store, 1000};
static Prerequisite *const prerequisites[] = {&api_key_prerequisite, &store_prerequisite};
/* What stockelt.jobs.waiting_for says of a job the limiter holds back. */
#define WAITING_FOR_BUDGET "the next day's budget"
#define WAITING_FOR_PAUSE "the end of a quota pause"
static bool storing = false;	/* bronze_store is running for a job */
static bool locking = false;	/* taking the locks an answer's ingest needs */

/* ---------------------------------------------------------------- shared memory */

/* What other processes know of the worker: plain values under a spinlock. */
typedef struct WorkerShared
{
	slock_t		mutex;
	int			pgprocno;		/* whose latch wakes the worker; -1 when none runs */
	int			pid;			/* the serving worker's process id, 0 when none runs */
	TimestampTz started_at;		/* when it started serving */
	bool		connecting;		/* a worker set out to connect to its database */
} WorkerShared;

static WorkerShared *worker_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared = ShmemInitStruct("stockelt worker", sizeof(WorkerShared), &found);
	if (!found)
	{
		SpinLockInit(&worker_shared->mutex);
		worker_shared->pgprocno = -1;
		worker_shared->pid = 0;
		worker_shared->connecting = false;
	}
	LWLockRelease(AddinShmemInitLock);
}

static WorkerShared *
get_worker_shared(void)
{
	if (worker_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stockelt's shared memory is not set up"),
				 errhint("Add stockelt to shared_preload_libraries and restart the server.")));
	return worker_shared;
}

/* Who serves the database now (pgprocno -1: nobody), for its latch and stockelt.worker. */
static void
set_worker_latch(int pgprocno)
{
	WorkerShared *w = get_worker_shared();

	SpinLockAcquire(&w->mutex);
	w->pgprocno = pgprocno;
	w->pid = pgprocno >= 0 ? MyProcPid : 0;
	w->started_at = GetCurrentTimestamp();
	SpinLockRelease(&w->mutex);
}

/*
 * stockelt._worker_process(): the serving worker's process id and start, or no
 * row.  From shared memory, so every role that may read stockelt.worker sees
 * the worker, where pg_stat_activity shows another role's session only to
 * members of pg_read_all_stats.
 */
PG_FUNCTION_INFO_V1(stockelt_worker_process);

Datum
stockelt_worker_process(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WorkerShared *w = get_worker_shared();
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			pid;
	TimestampTz started_at;

	InitMaterializedSRF(fcinfo, 0);
	SpinLockAcquire(&w->mutex);
	pid = w->pid;
	started_at = w->started_at;
	SpinLockRelease(&w->mutex);
	if (pid != 0)
	{
		values[0] = Int32GetDatum(pid);
		values[1] = TimestampTzGetDatum(started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

void
worker_wake(void)
{
	/* Called at commit: a plain read of an int, no lock. */
	int			pgprocno = get_worker_shared()->pgprocno;

	if (pgprocno >= 0)
		SetLatch(&ProcGlobal->allProcs[pgprocno].procLatch);
}

/*
 * A worker that dies while connecting to stockelt.database (it does not
 * exist) leaves this set, so that the next one waits for the database
 * instead of failing again.
 */
static void
set_connecting(bool connecting)
{
	WorkerShared *w = get_worker_shared();

	SpinLockAcquire(&w->mutex);
	w->connecting = connecting;
	SpinLockRelease(&w->mutex);
}

static bool
was_connecting(void)
{
	WorkerShared *w = get_worker_shared();
	bool		connecting;

	SpinLockAcquire(&w->mutex);
	connecting = w->connecting;
	SpinLockRelease(&w->mutex);
	return connecting;
}

void
worker_register(void)
{
	BackgroundWorker w = {0};

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	/* stockelt_resume() lifting a pause releases the jobs the worker holds for it. */
	ratelimit_resumed_hook = worker_wake;
	if (IsBinaryUpgrade)
		return;
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 1;
	strlcpy(w.bgw_library_name, "stockelt", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "stockelt_worker_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "stockelt worker", BGW_MAXLEN);
	strlcpy(w.bgw_type, "stockelt worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}

/* ---------------------------------------------------------------- transactions */

/* Where the loop allocates: ending a transaction leaves TopMemoryContext current. */
static MemoryContext outside = NULL;

static void
begin(const char *what)
{
	outside = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

static void
commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(outside);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* After an error: the error's copy, the transaction gone. */
static ErrorData *
abandon(MemoryContext keep)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(keep);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(keep);
	pgstat_report_activity(STATE_IDLE, NULL);
	return edata;
}

static void
run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "stockelt worker: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/* A statement for run_step. */
typedef struct Statement
{
	const char *sql;
	int			expected;
} Statement;

static void
run_statement(const void *arg)
{
	const Statement *statement = arg;

	run(statement->sql, 0, NULL, NULL, NULL, statement->expected);
}

/*
 * The steps whose row in stockelt.worker_steps says "ok": a success is written
 * only when it changes that, so an idle worker writes nothing.
 */
#define MAX_STEPS 16
static const char *steps_ok[MAX_STEPS];

static int
step_index(const char *what)
{
	for (int i = 0; i < MAX_STEPS; i++)
		if (steps_ok[i] && strcmp(steps_ok[i], what) == 0)
			return i;
	return -1;
}

/*
 * Writes how a step went into stockelt.worker_steps, where a psql user sees
 * it: its state, and for a failure its SQLSTATE and message.  In a
 * transaction of its own, after the step's; a failure to write is logged.
 * A database still on 1.0's objects has no such table: nothing is written.
 */
static void
record_step(const char *what, const char *state, const ErrorData *failure)
{
	MemoryContext keep = CurrentMemoryContext;
	int			i = step_index(what);

	if (failure == NULL && i >= 0)
		return;
	if (failure != NULL && i >= 0)
		steps_ok[i] = NULL;
	PG_TRY();
	{
		Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[4] = {CStringGetTextDatum(what), CStringGetTextDatum(state)};
		char		nulls[4] = {' ', ' ', 'n', 'n'};

		if (failure)
		{
			values[2] = CStringGetTextDatum(unpack_sql_state(failure->sqlerrcode));
			values[3] = CStringGetTextDatum(failure->detail ?
											psprintf("%s: %s", failure->message, failure->detail) :
											failure->message);
			nulls[2] = nulls[3] = ' ';
		}
		begin("recording how a step went");
		run("INSERT INTO stockelt.worker_steps AS s "
			"       (step, state, since, failures, last_failed_at, last_sqlstate, last_error) "
			"VALUES ($1, $2, pg_catalog.clock_timestamp(), "
			"        CASE WHEN $3 IS NULL THEN 0 ELSE 1 END, "
			"        CASE WHEN $3 IS NOT NULL THEN pg_catalog.clock_timestamp() END, $3, $4) "
			"ON CONFLICT (step) DO UPDATE SET state = excluded.state, "
			"       since = CASE WHEN s.state = excluded.state THEN s.since ELSE excluded.since END, "
			"       failures = CASE WHEN $3 IS NULL THEN 0 ELSE s.failures + 1 END, "
			"       last_failed_at = coalesce(excluded.last_failed_at, s.last_failed_at), "
			"       last_sqlstate = coalesce(excluded.last_sqlstate, s.last_sqlstate), "
			"       last_error = coalesce(excluded.last_error, s.last_error)",
			4, types, values, nulls, SPI_OK_INSERT);
		commit();
		if (failure == NULL)
			for (i = 0; i < MAX_STEPS; i++)
				if (steps_ok[i] == NULL)
				{
					steps_ok[i] = what;
					break;
				}
	}
	PG_CATCH();
	{
		ErrorData  *edata = abandon(keep);

		if (edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE)
			ereport(WARNING,
					(errmsg("stockelt worker could not record how step \"%s\" went: %s", what,
							edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * A whole step in its own transaction; an error is logged, never fatal, and
 * recorded in stockelt.worker_steps.
 * With held_back, a lock another session holds is waited for LOCK_WAIT_MS at
 * most: a granted role's idle transaction must not stall the worker.  Such a
 * step is said once to be held back, at LOG level, and *held_back stays set
 * until it runs.  Returns the error's SQLSTATE, 0 if none.
 */
static int
run_step(const char *what, void (*body) (const void *arg), const void *arg, bool *held_back)
{
	MemoryContext keep = CurrentMemoryContext;
	volatile int sqlstate = 0;

	PG_TRY();
	{
		begin(what);
		if (held_back)
			(void) set_config_option("lock_timeout", CppAsString2(LOCK_WAIT_MS), PGC_SUSET,
									 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
		body(arg);
		commit();
		if (held_back && *held_back)
			ereport(LOG, (errmsg("stockelt worker could %s again", what)));
		if (held_back)
			*held_back = false;
	}
	PG_CATCH();
	{
		ErrorData  *edata = abandon(keep);

		sqlstate = edata->sqlerrcode;
		if (held_back == NULL || sqlstate != ERRCODE_LOCK_NOT_AVAILABLE)
		{
			ereport(WARNING,
					(errmsg("stockelt worker could not %s: %s", what, edata->message)));
			record_step(what, "failing", edata);
		}
		else
		{
			if (!*held_back)
			{
				ereport(LOG,
						(errmsg("stockelt worker could not %s yet: another session holds a lock it needs",
								what),
						 errdetail("It tries again every %d ms, and fetches meanwhile.",
								   LOCKED_RETRY_MS)));
				edata->detail = psprintf("another session holds a lock it needs; it tries again every %d ms",
										 LOCKED_RETRY_MS);
				record_step(what, "held back", edata);
			}
			*held_back = true;
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	if (sqlstate == 0)
		record_step(what, "ok", NULL);
	return sqlstate;
}

/*
 * The worker runs as the bootstrap superuser, and the owner of its database
 * may give it settings with ALTER DATABASE: a search_path with functions of
 * their own first would run their code as superuser; others would stop every
 * write or turn each failed job into an exit.  These are pinned above any
 * database, role or file setting.
 */
static const struct
{
	const char *name;
	const char *value;
}			pinned_settings[] =
{
	{"role", "none"},
	{"search_path", "pg_catalog, pg_temp"},
	{"default_transaction_read_only", "off"},
	{"default_transaction_isolation", "read committed"},
	{"default_transaction_deferrable", "off"},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},
	{"idle_in_transaction_session_timeout", "0"},
	{"exit_on_error", "off"},
	{"session_replication_role", "origin"},
	{"standard_conforming_strings", "on"},
	{"transform_null_equals", "off"},
	{"plpgsql.extra_errors", "none"},
};

static void
pin_settings(void)
{
	for (int i = 0; i < (int) lengthof(pinned_settings); i++)
		SetConfigOption(pinned_settings[i].name, pinned_settings[i].value, PGC_SUSET,
						PGC_S_OVERRIDE);
}

/*
 * Like every process of the server, the worker goes at once when the
 * postmaster dies, abandoning calls in flight: it holds shared memory, and a
 * restart cannot begin while it does.  WaitLatch does this while the worker
 * sleeps; this is for the loop that drives calls.
 */
static void
exit_if_postmaster_died(void)
{
	if (!PostmasterIsAlive())
		proc_exit(1);
}

/*
 * Copies into version the version of stockelt installed in the database, or
 * an empty string when it is not installed.
 */
static void
installed_version(char *version, size_t size)
{
	begin("checking for the stockelt extension");
	run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'stockelt'", 0, NULL,
		NULL, NULL, SPI_OK_SELECT);
	version[0] = '\0';
	if (SPI_processed > 0)
		strlcpy(version, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), size);
	commit();
}

/* ---------------------------------------------------------------- jobs */

static bool
claim(Job *job)
{
	bool		found;
	bool		isnull;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(stockelt_now())};

	begin("claiming a job");
	run("UPDATE stockelt.jobs SET state = 'running', attempts = attempts + 1, "
		"       started_at = clock_timestamp(), waiting_for = NULL "
		" WHERE id = (SELECT id FROM stockelt.jobs "
		"              WHERE state IN ('queued', 'retry') AND next_attempt_at <= $1 "
		"              ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
		"RETURNING id, symbol, attempts", 1, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	found = SPI_processed > 0;
	if (found)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		job->id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		strlcpy(job->symbol, SPI_getvalue(t, d, 2), sizeof(job->symbol));
		job->attempts = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
		slot_move(job, SLOT_CLAIMED);
	}
	commit();
	return found;
}

/* Back in the queue without having called the API (the limiter said no). */
static void
unclaim(Job *job, TimestampTz retry_at)
{
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2] = {Int64GetDatum(job->id), TimestampTzGetDatum(retry_at)};

	begin("putting a job back");
	run("UPDATE stockelt.jobs SET state = 'queued', attempts = attempts - 1, next_attempt_at = $2 "
		" WHERE id = $1", 2, types, values, NULL, SPI_OK_UPDATE);
	commit();
	slot_move(job, SLOT_FREE);
}

static double
ms_between(TimestampTz from, TimestampTz to)
{
	return (double) (to - from) / 1000.0;
}

static void
record_done(Job *job, const char *key, long status, double fetch_ms, double ingest_ms)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT4OID, FLOAT8OID, FLOAT8OID};
	Datum		values[5] = {Int64GetDatum(job->id), CStringGetTextDatum(key),
		Int32GetDatum((int32) status), Float8GetDatum(fetch_ms), Float8GetDatum(ingest_ms)};

	run("UPDATE stockelt.jobs SET state = 'done', finished_at = clock_timestamp(), "
		"       bronze_key = $2, last_http_status = $3, fetch_ms = $4, ingest_ms = $5, "
		"       last_error = NULL, last_sqlstate = NULL "
		" WHERE id = $1", 5, types, values, NULL, SPI_OK_UPDATE);
}

typedef enum Outcome
{
	RETRY,						/* transient: back off and try again */
	FAIL,						/* retrying cannot help */
	WAIT_FOR_QUOTA				/* the day's quota is spent at the provider */
} Outcome;

static Outcome
outcome_of(int sqlstate, long http_status)
{
	if (sqlstate == ERRCODE_STOCKELT_DAILY_QUOTA)
		return WAIT_FOR_QUOTA;
	return stockelt_errcode_is_transient(sqlstate, http_status) ? RETRY : FAIL;
}

/* Exponential backoff with jitter: base · 2^(attempts−1) · [0.5, 1.5), at most an hour. */
static TimestampTz
backoff(int attempts)
{
	double		ms = (double) stockelt_retry_delay_ms * pow(2.0, Max(attempts - 1, 0));

	ms = Min(ms, (double) MAX_BACKOFF_MS) * (0.5 + pg_prng_double(&pg_global_prng_state));
	return TimestampTzPlusMilliseconds(stockelt_now(), (int64) ms);
}

/*
 * An answer that could not be stored was good: the job is tried again, never
 * failed, and the store is probed before the next call.
 */
static void
record_failure(Job *job, const ErrorData *edata, long http_status, bool store_failed)
{
	Outcome		outcome = store_failed ? RETRY : outcome_of(edata->sqlerrcode, http_status);
	const char *state;
	TimestampTz next = stockelt_now();
	Oid			types[7] = {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', http_status > 0 ? ' ' : 'n', 'n'};
	char	   *message = edata->detail ?
		psprintf("%s: %s", edata->message, edata->detail) : pstrdup(edata->message);

	/* av_check_response has told the limiter of a throttle or quota answer. */
	if (outcome == WAIT_FOR_QUOTA)
	{
		RateUsage	usage;

		ratelimit_usage(&usage);
		state = "retry";
		next = usage.paused_until ? usage.paused_until : next;
		held_until = Max(held_until, next);
		/* The jobs behind it wait for the pause too, and show it (fill_slots). */
		blocked_until = Max(blocked_until, next);
		blocked_for = WAITING_FOR_PAUSE;
		values[6] = CStringGetTextDatum(WAITING_FOR_PAUSE);
		nulls[6] = ' ';
	}
	else if (outcome == RETRY && (store_failed || job->attempts < stockelt_max_attempts))
	{
		state = "retry";
		next = backoff(job->attempts);
	}
	else
		state = "failed";

	values[0] = Int64GetDatum(job->id);
	values[1] = CStringGetTextDatum(state);
	values[2] = TimestampTzGetDatum(next);
	values[3] = CStringGetTextDatum(message);
	values[4] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	values[5] = Int32GetDatum((int32) http_status);

	begin("recording a failed job");
	run("UPDATE stockelt.jobs SET state = $2, next_attempt_at = $3, last_error = $4, "
		"       last_sqlstate = $5, last_http_status = $6, waiting_for = $7, "
		"       finished_at = CASE WHEN $2 = 'failed' THEN clock_timestamp() END "
		" WHERE id = $1", 7, types, values, nulls, SPI_OK_UPDATE);
	commit();
}

/*
 * Takes, before anything is stored, the locks the answer's ingest will take:
 * the symbol's and the change log's.  A granted role's transaction left open
 * after an ingest of the same symbol, or after a gold refresh, holds one of
 * them; they are waited for LOCK_WAIT_MS at most, so that such a session
 * never stalls the worker, and nothing is stored that a later attempt would
 * have to store again.
 */
static void
lock_for_ingest(const char *symbol)
{
	(void) set_config_option("lock_timeout", CppAsString2(LOCK_WAIT_MS), PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	silver_lock_objects(list_make1(pstrdup(symbol)), false);
	goldlog_lock();
	(void) set_config_option("lock_timeout", "0", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
}

/*
 * Keeps a good answer whose ingest must wait for another session's lock; it
 * is stored LOCKED_RETRY_MS later, again until the lock is free.  The call is
 * never repeated for it (a crash meanwhile costs one call, as for a call in
 * flight).
 */
static void
park(Job *job, const HttpResponse *resp, TimestampTz received, const ErrorData *edata)
{
	if (job->state != SLOT_PARKED)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		job->answer = *resp;
		initStringInfo(&job->answer.body);
		appendBinaryStringInfo(&job->answer.body, resp->body.data, resp->body.len);
		job->answer.error_summary = NULL;
		job->answer.error_detail = NULL;
		MemoryContextSwitchTo(old);
		slot_move(job, SLOT_PARKED);
		job->received = received;
		ereport(LOG,
				(errmsg("stockelt worker keeps the answer for \"%s\" until another session releases a lock its ingest needs",
						job->symbol),
				 errdetail_internal("%s", edata->message),
				 errhint("It tries again every %d ms, and fetches meanwhile.", LOCKED_RETRY_MS)));
	}
	job->store_at = TimestampTzPlusMilliseconds(stockelt_now(), LOCKED_RETRY_MS);
}

/*
 * Records a job's failure; when that fails too, says so in the server log.
 * A function of its own so that its PG_TRY does not nest inside the caller's.
 */
static void
record_failure_or_warn(Job *job, const ErrorData *edata, long http_status, bool store_failed)
{
	MemoryContext keep = CurrentMemoryContext;

	PG_TRY();
	{
		record_failure(job, edata, http_status, store_failed);
	}
	PG_CATCH();
	{
		ErrorData  *again = abandon(keep);

		ereport(WARNING,
				(errmsg("stockelt worker could not record the failure of job %lld: %s",
						(long long) job->id, again->message)));
	}
	PG_END_TRY();
}

/* The API's answer for a job: into bronze and silver, or its error recorded. */
static void
finish_job(Job *job, HttpResponse *resp)
{
	MemoryContext keep = CurrentMemoryContext;
	TimestampTz received = job->state == SLOT_PARKED ? job->received : stockelt_now();
	const char *apikey = job->apikey;

	PG_TRY();
	{
		char	   *key;
		IngestCounts counts;

		begin("storing and ingesting a fetch");
		av_check_response(&av_weekly_adjusted, job->symbol, resp, apikey);
		locking = true;
		lock_for_ingest(job->symbol);
		locking = false;
		storing = true;
		key = bronze_store(av_weekly_adjusted.name, av_weekly_adjusted.argument, job->symbol,
						   received, resp->body.data, resp->body.len);
		storing = false;
		ingest_object(key, false, false, &counts);
		record_done(job, key, resp->status, ms_between(job->sent_at, received),
					ms_between(received, stockelt_now()));
		commit();
		ingested_since_refresh = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata = abandon(keep);
		bool		store_failed = storing;
		bool		lock_taken = locking && edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;

		storing = false;
		locking = false;
		if (lock_taken)
		{
			park(job, resp, received, edata);
			FreeErrorData(edata);
			return;
		}
		if (store_failed)
			store_prerequisite.checked_until = 0;
		record_failure_or_warn(job, edata, resp->ok ? resp->status : 0, store_failed);
	}
	PG_END_TRY();
	if (job->state == SLOT_PARKED)
		pfree(job->answer.body.data);
	pfree(job->apikey);
	job->apikey = NULL;
	slot_move(job, SLOT_FREE);
}

/* Answers kept for another session's lock are stored when their time comes. */
static void
store_parked(void)
{
	TimestampTz now = stockelt_now();

	for (int i = 0; i < MAX_POOL; i++)
		if (jobs[i].state == SLOT_PARKED && now >= jobs[i].store_at)
			finish_job(&jobs[i], &jobs[i].answer);
}

/* ---------------------------------------------------------------- the loop */

static int
pool_size(void)
{
	return Min(Max(stockelt_max_concurrent_requests, 1), MAX_POOL);
}

/*
 * The claimed job that waits to be sent, or -1; there is at most one.  All
 * slots are looked at: one may have been claimed before a reload lowered
 * stockelt.max_concurrent_requests.
 */
static int
waiting_job(void)
{
	for (int i = 0; i < MAX_POOL; i++)
		if (jobs[i].state == SLOT_CLAIMED || jobs[i].state == SLOT_RESERVED)
			return i;
	return -1;
}

static int
free_slot(void)
{
	for (int i = 0; i < pool_size(); i++)
		if (jobs[i].state == SLOT_FREE)
			return i;
	return -1;
}

static void
send_job(int i)
{
	HttpRequest req = {0};

	jobs[i].apikey = MemoryContextStrdup(TopMemoryContext, current_apikey);
	req.method = "GET";
	req.url = av_query_url(&av_weekly_adjusted, jobs[i].symbol, jobs[i].apikey);
	req.secret = jobs[i].apikey;
	jobs[i].sent_at = stockelt_now();
	http_pool_start(pool, i, &req);
	slot_move(&jobs[i], SLOT_IN_FLIGHT);
	/* From when it left, not from its slot: a late call moves the next one too. */
	next_slot_at = jobs[i].sent_at + jobs[i].spacing_us;
}

/*
 * While the limiter gives no slot (the day's budget is spent, a quota answer
 * paused calls), every job due before it does again shows what it waits for
 * and is due when it will run: those waiting when the block began, and those
 * queued since.
 */
static void
hold_for_limiter(void)
{
	Oid			types[2] = {TIMESTAMPTZOID, TEXTOID};
	Datum		values[2] = {TimestampTzGetDatum(blocked_until), CStringGetTextDatum(blocked_for)};

	begin("holding jobs until the limiter gives slots again");
	run("UPDATE stockelt.jobs SET next_attempt_at = $1, waiting_for = $2 "
		" WHERE state IN ('queued', 'retry') AND next_attempt_at <= $1 "
		"   AND (next_attempt_at < $1 OR waiting_for IS DISTINCT FROM $2)", 2, types, values, NULL,
		SPI_OK_UPDATE);
	commit();
}

/*
 * Reserves the waiting job's slot once the limiter has one free, and sends
 * the job when its slot comes.  The slot is reserved only then, right before
 * the call, and the next one is due a spacing after the call left: slots
 * reserved ahead and sent late (the loop was ingesting an answer) would
 * bring calls closer than the spacing, and the provider counts calls in
 * windows.  False when the limiter refused.
 */
static bool
reserve_and_send(int i)
{
	if (jobs[i].state == SLOT_CLAIMED)
	{
		TimestampTz start_at;
		TimestampTz retry_at;
		RateUsage	usage;
		RateDecision decision;

		if (stockelt_now() < next_slot_at)
			return true;
		decision = ratelimit_reserve(&start_at, &retry_at);
		switch (decision)
		{
			case RATE_GO:
				break;
			case RATE_DAY_SPENT:
			case RATE_PAUSED:
				unclaim(&jobs[i], retry_at);
				blocked_until = retry_at;
				blocked_for = decision == RATE_PAUSED ? WAITING_FOR_PAUSE : WAITING_FOR_BUDGET;
				held_until = Max(held_until, retry_at);
				hold_for_limiter();
				return false;
		}
		ratelimit_usage(&usage);
		slot_move(&jobs[i], SLOT_RESERVED);
		jobs[i].start_at = start_at;
		jobs[i].spacing_us = (int64) (usage.spacing_ms * 1000.0);
	}
	if (jobs[i].start_at <= stockelt_now())
		send_job(i);
	return true;
}

/*
 * A prerequisite failed: the claimed job goes back as it was, and every job
 * due before the next check shows why it waits.
 */
static void
hold_jobs(Job *job, const Prerequisite *p, const ErrorData *edata)
{
	Oid			types[5] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char	   *message = edata->detail ?
		psprintf("%s: %s", edata->message, edata->detail) : pstrdup(edata->message);

	values[4] = CStringGetTextDatum(p->what);
	values[0] = Int64GetDatum(job->id);
	values[1] = TimestampTzGetDatum(p->down_until);
	values[2] = CStringGetTextDatum(psprintf("waiting for %s: %s", p->what, message));
	values[3] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	begin("holding jobs that cannot be sent");
	run("UPDATE stockelt.jobs SET state = CASE WHEN attempts > 1 THEN 'retry' ELSE 'queued' END, "
		"       attempts = attempts - 1 "
		" WHERE id = $1", 5, types, values, NULL, SPI_OK_UPDATE);
	run("UPDATE stockelt.jobs SET next_attempt_at = $2, last_error = $3, last_sqlstate = $4, "
		"       waiting_for = $5 "
		" WHERE state IN ('queued', 'retry') AND next_attempt_at < $2", 5, types, values, NULL,
		SPI_OK_UPDATE);
	commit();
	slot_move(job, SLOT_FREE);
}

/*
 * A prerequisite's check, with no transaction open (none is held while a
 * request is in flight), under a resource owner of its own for what it
 * allocates (signing a store probe needs one); its error, or NULL.
 */
static ErrorData *
run_check(const Prerequisite *p)
{
	MemoryContext keep = CurrentMemoryContext;
	ResourceOwner saved = CurrentResourceOwner;
	ResourceOwner owner = ResourceOwnerCreate(NULL, "stockelt worker check");
	ErrorData  *volatile edata = NULL;

	CurrentResourceOwner = owner;
	PG_TRY();
	{
		p->check();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(keep);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	CurrentResourceOwner = saved;
	ResourceOwnerRelease(owner, RESOURCE_RELEASE_BEFORE_LOCKS, edata == NULL, false);
	ResourceOwnerRelease(owner, RESOURCE_RELEASE_LOCKS, edata == NULL, false);
	ResourceOwnerRelease(owner, RESOURCE_RELEASE_AFTER_LOCKS, edata == NULL, false);
	ResourceOwnerDelete(owner);
	return edata;
}

/*
 * Checks a prerequisite before a call is spent for the claimed job.  While
 * it fails, the job is held without any call, one WARNING says why, and the
 * check is repeated after a growing delay.
 */
static bool
prerequisite_ready(Prerequisite *p, Job *job)
{
	TimestampTz now = stockelt_now();
	ErrorData  *edata;

	if (now < p->checked_until)
		return true;
	edata = run_check(p);

	if (edata == NULL)
	{
		if (p->retry_ms > 0)
			ereport(LOG, (errmsg("stockelt worker has %s again and sends its jobs", p->what)));
		p->retry_ms = 0;
		p->checked_until = TimestampTzPlusMilliseconds(now, p->holds_ms);
		return true;
	}
	if (p->retry_ms == 0)
		ereport(WARNING,
				(errmsg("stockelt worker holds its jobs, waiting for %s: %s", p->what,
						edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 edata->hint ? errhint("%s  No API call is made meanwhile.", edata->hint) :
				 errhint("No API call is made meanwhile.")));
	p->retry_ms = Min(Max(p->retry_ms * 2, PREREQUISITE_RETRY_MS), MAX_PREREQUISITE_RETRY_MS);
	p->down_until = TimestampTzPlusMilliseconds(now, p->retry_ms);
	hold_jobs(job, p, edata);
	FreeErrorData(edata);
	return false;
}

/* True while a prerequisite that failed is not to be checked again yet. */
static bool
prerequisite_down(TimestampTz now)
{
	for (int k = 0; k < (int) lengthof(prerequisites); k++)
		if (now < prerequisites[k]->down_until)
			return true;
	return false;
}

/* After a reload the key file or the store settings may be right: check again at once. */
static void
recheck_prerequisites(void)
{
	for (int k = 0; k < (int) lengthof(prerequisites); k++)
	{
		prerequisites[k]->checked_until = 0;
		prerequisites[k]->down_until = 0;
	}
}

/*
 * Claims due jobs into free slots and sends each as the limiter allows.  One
 * claimed job at most waits for its slot, so a batch never looks finished
 * while the limiter holds it back.
 */
static void
fill_slots(void)
{
	for (;;)
	{
		int			i = waiting_job();
		TimestampTz now = stockelt_now();

		exit_if_postmaster_died();
		if (now < blocked_until)
		{
			hold_for_limiter();
			return;
		}
		if (prerequisite_down(now))
			return;
		if (i < 0)
		{
			i = free_slot();
			if (i < 0 || !claim(&jobs[i]))
				return;
			if (!prerequisite_ready(&api_key_prerequisite, &jobs[i]) ||
				!prerequisite_ready(&store_prerequisite, &jobs[i]))
				return;
		}
		if (!reserve_and_send(i) || jobs[i].state != SLOT_IN_FLIGHT)
			return;
	}
}

/* Milliseconds until the waiting job may be reserved or sent, at most `cap`. */
static int
until_next_start(int cap)
{
	int			i = waiting_job();
	TimestampTz at;

	if (i < 0)
		return cap;
	at = jobs[i].state == SLOT_RESERVED ? jobs[i].start_at : next_slot_at;
	return (int) Min(Max((at - stockelt_now() + 999) / 1000, 0), cap);
}

static bool
any_claimed(void)
{
	for (int i = 0; i < MAX_POOL; i++)
		if (jobs[i].state != SLOT_FREE)
			return true;
	return false;
}

/* Puts back jobs a previous worker left running when it died. */
static void
recover_jobs(void)
{
	static const Statement recover = {
		"UPDATE stockelt.jobs SET state = 'retry', next_attempt_at = pg_catalog.now() "
		" WHERE state = 'running'", SPI_OK_UPDATE
	};

	/* Once, before any fetch: worth waiting for. */
	(void) run_step("put back the jobs of a previous worker", run_statement, &recover, NULL);
}

/*
 * When the limiter gives slots again before the block's end (a reload raised
 * the daily budget, stockelt_resume() lifted a quota pause), the jobs that
 * were to wait for the block's end are due at once; when the block ends, they
 * no longer say they wait for it.
 */
static void
unblock(void)
{
	MemoryContext keep = CurrentMemoryContext;
	RateUsage	usage;

	if (held_until == 0)
		return;
	ratelimit_usage(&usage);
	if (held_until > stockelt_now() &&
		(usage.paused_until != 0 || (usage.daily_limit > 0 && usage.used >= usage.daily_limit)))
		return;
	PG_TRY();
	{
		Oid			types[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
		Datum		values[4] = {TimestampTzGetDatum(held_until),
			TimestampTzGetDatum(stockelt_now()), CStringGetTextDatum(WAITING_FOR_BUDGET),
		CStringGetTextDatum(WAITING_FOR_PAUSE)};

		begin("releasing jobs the limiter held back");
		run("UPDATE stockelt.jobs SET next_attempt_at = LEAST(next_attempt_at, $2), "
			"       waiting_for = NULL "
			" WHERE state IN ('queued', 'retry') "
			"   AND (next_attempt_at = $1 OR waiting_for IN ($3, $4))", 4, types, values,
			NULL, SPI_OK_UPDATE);
		commit();
		blocked_until = held_until = 0;
		blocked_for = NULL;
	}
	PG_CATCH();
	{
		ErrorData  *edata = abandon(keep);

		ereport(WARNING,
				(errmsg("stockelt worker could not release the jobs the limiter held back: %s",
						edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * With stockelt.bronze_retention set, deletes the bronze objects that neither
 * silver's lineage nor a replay needs (stockelt._prune_bronze says which), at
 * most once an hour, or once a retention when that is shorter.  Returns the
 * step's SQLSTATE, 0 if none or not due.
 */
static int
prune_bronze(void)
{
	static bool held_back = false;
	static TimestampTz next_at = 0;
	Statement	prune = {NULL, SPI_OK_SELECT};
	int			sqlstate;

	if (stockelt_bronze_retention_s <= 0 || (stockelt_now() < next_at && !held_back))
		return 0;
	prune.sql = psprintf("SELECT stockelt._prune_bronze(pg_catalog.make_interval(secs => %d))",
						 stockelt_bronze_retention_s);
	sqlstate = run_step("prune bronze", run_statement, &prune, &held_back);
	next_at = TimestampTzPlusMilliseconds(stockelt_now(),
										  (int64) Min(stockelt_bronze_retention_s, 3600) * 1000);
	return sqlstate;
}

/*
 * Every HOUSEKEEPING_MS: enqueues the watchlist symbols that are due and
 * prunes finished jobs.  A step held back by another session's lock (an
 * uncommitted enqueue of a watched symbol) runs again LOCKED_RETRY_MS later.
 */
static void
housekeeping(void)
{
	static bool enqueue_held_back = false;
	static bool prune_held_back = false;
	RateUsage	usage;
	Statement	enqueue = {NULL, SPI_OK_SELECT};
	Statement	prune = {NULL, SPI_OK_DELETE};
	int			enqueued;
	int			pruned;

	if (stockelt_now() < next_housekeeping)
		return;
	ratelimit_usage(&usage);
	enqueue.sql = psprintf("SELECT stockelt._enqueue_due(%d)",
						   usage.daily_limit > 0 ? Max(usage.daily_limit - usage.used, 0) : -1);
	enqueued = run_step("enqueue due watchlist symbols", run_statement, &enqueue,
						&enqueue_held_back);
	prune.sql = psprintf("DELETE FROM stockelt.jobs WHERE state IN ('done', 'failed') "
						 " AND finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => %d)",
						 stockelt_job_retention_s);
	pruned = run_step("prune finished jobs", run_statement, &prune, &prune_held_back);
	if (prune_bronze() == ERRCODE_LOCK_NOT_AVAILABLE)
		pruned = ERRCODE_LOCK_NOT_AVAILABLE;
	next_housekeeping = TimestampTzPlusMilliseconds(stockelt_now(),
													(enqueued == ERRCODE_LOCK_NOT_AVAILABLE ||
													 pruned == ERRCODE_LOCK_NOT_AVAILABLE) ?
													LOCKED_RETRY_MS : HOUSEKEEPING_MS);
}

/* Milliseconds until the earliest queued job is due, at most `cap`. */
static int
until_next_due(int cap)
{
	MemoryContext keep = CurrentMemoryContext;
	volatile int ms = cap;

	PG_TRY();
	{
		bool		isnull;
		Datum		d;
		Oid			types[1] = {TIMESTAMPTZOID};
		Datum		values[1] = {TimestampTzGetDatum(stockelt_now())};

		begin("looking for due jobs");
		run("SELECT (extract(epoch FROM pg_catalog.min(next_attempt_at) - $1) * 1000)::int "
			"  FROM stockelt.jobs WHERE state IN ('queued', 'retry')", 1, types, values, NULL,
			SPI_OK_SELECT);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			ms = Min(Max(DatumGetInt32(d), 0), cap);
		commit();
	}
	PG_CATCH();
	{
		FreeErrorData(abandon(keep));
	}
	PG_END_TRY();
	if (blocked_until > stockelt_now())
		ms = Max(ms, (int) Min((blocked_until - stockelt_now()) / 1000, cap));
	for (int k = 0; k < (int) lengthof(prerequisites); k++)
		if (prerequisites[k]->down_until > stockelt_now())
			ms = Max(ms, (int) Min((prerequisites[k]->down_until - stockelt_now()) / 1000,
								   cap));
	return ms;
}

/* Milliseconds until `at`, between 0 and `cap`. */
static int
ms_until(TimestampTz at, int cap)
{
	return (int) Min(Max((at - stockelt_now() + 999) / 1000, 0), cap);
}

/*
 * Calls stockelt_refresh_gold(false) of the extension's own schema, by its
 * OID: a name would be resolved, and the owner of that schema (public, say)
 * could plant a function of the same name or an overload that makes it
 * ambiguous.
 */
static void
call_refresh_gold(const void *arg)
{
	bool		isnull;
	Oid			fn;
	FmgrInfo	flinfo;

	LOCAL_FCINFO(fcinfo, 1);

	run("SELECT p.oid FROM pg_catalog.pg_extension e "
		"  JOIN pg_catalog.pg_depend d ON d.refobjid = e.oid "
		"   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass "
		"   AND d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.deptype = 'e' "
		"  JOIN pg_catalog.pg_proc p ON p.oid = d.objid "
		" WHERE e.extname = 'stockelt' AND p.proname = 'stockelt_refresh_gold' "
		"   AND p.pronamespace = e.extnamespace AND p.pronargs = 1 "
		"   AND p.proargtypes[0] = 'pg_catalog.bool'::pg_catalog.regtype",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function stockelt_refresh_gold(boolean) of extension stockelt does not exist")));
	fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = BoolGetDatum(false);
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
}

/*
 * After a batch.  An ingest another session left uncommitted holds a lock the
 * refresh needs: the refresh is then tried again a moment later, and the
 * worker goes on fetching meanwhile.
 */
static void
refresh_gold(void)
{
	static bool held_back = false;
	int			sqlstate;

	if (stockelt_now() < next_refresh)
		return;
	sqlstate = run_step("refresh gold", call_refresh_gold, NULL, &held_back);
	if (sqlstate == 0)
		ingested_since_refresh = false;
	next_refresh = TimestampTzPlusMilliseconds(stockelt_now(),
											   sqlstate == ERRCODE_LOCK_NOT_AVAILABLE ?
											   LOCKED_RETRY_MS : sqlstate != 0 ? HOUSEKEEPING_MS : 0);
}

static void
forget_worker(int code, Datum arg)
{
	set_worker_latch(-1);
}

/* Whether stockelt.database exists and takes connections, from the shared catalog. */
static bool
database_ready(void)
{
	Oid			oid;
	bool		ready = false;

	StartTransactionCommand();
	oid = get_database_oid(stockelt_database, true);
	if (OidIsValid(oid))
	{
		HeapTuple	tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(oid));

		if (HeapTupleIsValid(tuple))
		{
			ready = ((Form_pg_database) GETSTRUCT(tuple))->datallowconn;
			ReleaseSysCache(tuple);
		}
	}
	CommitTransactionCommand();
	return ready;
}

/*
 * The last worker died connecting to stockelt.database: rather than fail
 * again every second, this one connects to no database, says once that it
 * waits, and looks for the database in the shared catalog.  When it appears
 * the worker exits to be restarted, since a process connects only once.
 */
static void
wait_for_database(void)
{
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("stockelt worker");
	ereport(LOG,
			(errmsg("stockelt worker waits for database \"%s\" to be created",
					stockelt_database),
			 errdetail("The database named by stockelt.database does not exist or does not accept connections."),
			 errhint("Create the database, or set stockelt.database and restart the server.")));
	while (!database_ready())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 DATABASE_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(LOG,
			(errmsg("stockelt worker found database \"%s\" and restarts to connect to it",
					stockelt_database)));
	set_connecting(false);
	proc_exit(1);
}

/* Milliseconds to sleep when there is nothing to send. */
static int
idle_wait_ms(void)
{
	int			ms = until_next_due(HOUSEKEEPING_MS);

	ms = Min(ms, ms_until(next_housekeeping, HOUSEKEEPING_MS));
	if (ingested_since_refresh)
		ms = Min(ms, ms_until(next_refresh, HOUSEKEEPING_MS));
	return Max(ms, 1);
}

void
stockelt_worker_main(Datum arg)
{
	MemoryContext loop_context;
	char		version[NAMEDATALEN];
	char		reported[NAMEDATALEN] = "not yet checked";

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	if (was_connecting())
		wait_for_database();
	set_connecting(true);
	BackgroundWorkerInitializeConnection(stockelt_database, NULL, 0);
	set_connecting(false);
	pin_settings();
	pgstat_report_appname("stockelt worker");

	set_worker_latch(COMPAT_MY_PROC_NUMBER);
	on_shmem_exit(forget_worker, 0);
	pool = http_pool_create(MAX_POOL);
	loop_context = AllocSetContextCreate(TopMemoryContext, "stockelt worker loop",
										 ALLOCSET_DEFAULT_SIZES);

	/*
	 * Wait for the extension of this library's version: the database may be
	 * created before it, and after a new library is installed its tables stay
	 * the old version's until ALTER EXTENSION stockelt UPDATE.  Each state is
	 * logged once.
	 */
	for (;;)
	{
		installed_version(version, sizeof(version));
		if (strcmp(version, STOCKELT_EXTVERSION) == 0)
			break;
		if (strcmp(version, reported) != 0)
		{
			if (version[0] == '\0')
				ereport(LOG,
						(errmsg("stockelt worker waits for CREATE EXTENSION stockelt in database \"%s\"",
								stockelt_database)));
			else
				ereport(LOG,
						(errmsg("stockelt worker waits for ALTER EXTENSION stockelt UPDATE in database \"%s\"",
								stockelt_database),
						 errdetail("The database has version %s of the extension; the library loaded is version %s.",
								   version, STOCKELT_EXTVERSION),
						 errhint("Run ALTER EXTENSION stockelt UPDATE in that database; queued jobs wait until then.")));
			strlcpy(reported, version, sizeof(reported));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 HOUSEKEEPING_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(LOG, (errmsg("stockelt worker started for database \"%s\"", stockelt_database)));
	recover_jobs();

	for (;;)
	{
		HttpResponse resp;
		int			done;

		MemoryContextSwitchTo(loop_context);
		MemoryContextReset(loop_context);
		CHECK_FOR_INTERRUPTS();
		exit_if_postmaster_died();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			recheck_prerequisites();
		}
		ResetLatch(MyLatch);

		unblock();

		housekeeping();
		store_parked();
		fill_slots();

		if (http_pool_running(pool) > 0)
		{
			done = http_pool_run(pool, until_next_start(100), &resp);
			exit_if_postmaster_died();
			if (done >= 0)
				finish_job(&jobs[done], &resp);
			continue;
		}
		if (any_claimed())
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(until_next_start(1000), 1), PG_WAIT_EXTENSION);
			continue;
		}

		/* Nothing in flight and nothing claimed: the batch is done. */
		if (ingested_since_refresh)
			refresh_gold();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 idle_wait_ms(), PG_WAIT_EXTENSION);
	}
}

/* ---------------------------------------------------------------- SQL-callable */

static bool wake_at_commit = false;

static void
wake_on_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		worker_wake();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = false;
}

PG_FUNCTION_INFO_V1(stockelt_wake_worker);

/*
 * Wakes the worker when the calling transaction commits, so it sees the new
 * work.  The enqueue and the watchlist call it in the transaction that writes
 * the work: on a worker node of a Citus cluster that work is refused here
 * (SE301), before a job could spend a call through that node's own limiter.
 */
Datum
stockelt_wake_worker(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	cluster_require_coordinator();
	if (!registered)
		RegisterXactCallback(wake_on_commit, NULL);
	registered = true;
	wake_at_commit = true;
	PG_RETURN_VOID();
}
