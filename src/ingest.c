/*
 * ingest.c
 *		Bronze objects into silver: stockelt_ingest(key), stockelt_ingest_s3(key)
 *		and stockelt_replay(prefix).
 *
 * bronze.c reads each object (catalog row and body); this file decides what
 * is applied already and writes the rest through silver.c.  One object is
 * ingested in the caller's transaction, so an error anywhere leaves nothing
 * of it behind.  An object already applied to silver is not parsed again
 * unless forced: SQL changes to silver forget what was applied.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "bronze.h"
#include "cluster.h"
#include "parse.h"
#include "parsejob.h"
#include "silver.h"
#include "ingest.h"

/* How many objects a batch reads and parses ahead of the one it writes. */
#define PARSE_AHEAD 2

PG_FUNCTION_INFO_V1(stockelt_ingest);
PG_FUNCTION_INFO_V1(stockelt_ingest_s3);
PG_FUNCTION_INFO_V1(stockelt_ingest_many);
PG_FUNCTION_INFO_V1(stockelt_replay);

/*
 * A body larger than any object of the API is refused before it is read: its
 * parsed tree would take many times its size.
 */
static void
require_body_size(const char *key, int64 size)
{
	if (size > PARSE_MAX_BODY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_INVALID_PAYLOAD),
				 errmsg("could not ingest bronze object \"%s\"", key),
				 errdetail("body of " INT64_FORMAT " bytes is larger than the %d MB an object may have",
						   size, PARSE_MAX_BODY_BYTES / (1024 * 1024))));
}

/* Rows the object held when it was applied, or -1 if it has not been. */
static int64
applied_rows(const char *key)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};
	int64		rows = -1;

	SPI_connect();
	kept_plan(&plan, "SELECT rows_in_object FROM stockelt.silver_objects WHERE key = $1", 1, types);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up applied object \"%s\"", key);
	if (SPI_processed == 1)
	{
		bool		isnull;

		rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return rows;
}

static void
record_applied(const BronzeObject *info, int64 rows, const IngestCounts *counts)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID};
	Datum		values[7] = {CStringGetTextDatum(info->key), CStringGetTextDatum(info->api_function),
		CStringGetTextDatum(info->argument), TimestampTzGetDatum(info->fetched_at),
	Int64GetDatum(rows), Int64GetDatum(counts->inserted), Int64GetDatum(counts->updated)};

	static SPIPlanPtr plan = NULL;

	SPI_connect();
	kept_plan(&plan,
			  "INSERT INTO stockelt.silver_objects AS o "
			  "(key, api_function, argument, fetched_at, rows_in_object, inserted, updated) "
			  "VALUES ($1, $2, $3, $4, $5, $6, $7) "
			  "ON CONFLICT (key) DO UPDATE SET rows_in_object = EXCLUDED.rows_in_object, "
			  "inserted = EXCLUDED.inserted, updated = EXCLUDED.updated, applied_at = now()",
			  7, types);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record applied object \"%s\"", info->key);
	SPI_finish();
}

static void
raise_invalid(const BronzeObject *info, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_STOCKELT_INVALID_PAYLOAD),
			 errmsg("could not ingest bronze object \"%s\"", info->key),
			 errdetail("%s", reason)));
}

/*
 * One object on its way into silver.  Everything it allocates lives in its
 * own memory context, gone once the object is applied.
 */
typedef struct PendingObject
{
	MemoryContext context;
	BronzeObject info;			/* catalog row and body; only the key if applied */
	int64		applied_rows;	/* >= 0: already applied, nothing to read */
	bool		weekly;
	bool		parsing;		/* a parse job runs on the helper thread */
	bool		parsed;			/* job.series holds the result */
	ParseJob	job;
} PendingObject;

/* The API functions whose objects silver is made of; other objects in the lake are left alone. */
static bool
ingestible(const char *api_function)
{
	return strcmp(api_function, "TIME_SERIES_WEEKLY_ADJUSTED") == 0 ||
		strcmp(api_function, "OVERVIEW") == 0 ||
		strcmp(api_function, "SYMBOL_SEARCH") == 0;
}

/*
 * Reads one object of a batch, described already by bronze_describe, unless
 * it is applied; a weekly body is left for a parser thread to decompress and
 * check, a listing is checked here.
 */
static PendingObject *
prepare_object(const BronzeObject *described, bool force, bool from_s3)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "stockelt ingest",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(context);
	PendingObject *p = palloc0(sizeof(PendingObject));
	int			flags = from_s3 ? BRONZE_FROM_S3 : 0;

	p->context = context;
	p->info.key = pstrdup(described->key);
	p->applied_rows = force ? -1 : applied_rows(described->key);
	if (p->applied_rows < 0)
	{
		if (!ingestible(described->api_function))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("bronze objects of API function %s cannot be ingested",
							described->api_function)));
		p->weekly = strcmp(described->api_function, "TIME_SERIES_WEEKLY_ADJUSTED") == 0;
		if (!bronze_open(described->key, flags | (p->weekly ? BRONZE_RAW : 0),
						 PARSE_MAX_BODY_BYTES, &p->info))
			require_body_size(described->key, p->info.size);
	}
	MemoryContextSwitchTo(caller);
	return p;
}

/*
 * Parser threads still running when the backend exits (a FATAL error or a
 * termination skips PG_CATCH) are waited for before the exit aborts the
 * transaction and frees the bodies they read: before_shmem_exit callbacks
 * run last-registered first, so this one runs ahead of the abort.
 */
static PendingObject *running_parses[PARSE_AHEAD + 1];

static void
join_running_parses(int code, Datum arg)
{
	for (size_t i = 0; i < lengthof(running_parses); i++)
	{
		if (running_parses[i] != NULL && running_parses[i]->parsing)
			parse_weekly_finish(&running_parses[i]->job);
		running_parses[i] = NULL;
	}
}

static void
track_parse(PendingObject *p, bool running)
{
	static bool registered = false;

	if (!registered)
	{
		before_shmem_exit(join_running_parses, (Datum) 0);
		registered = true;
	}
	for (size_t i = 0; i < lengthof(running_parses); i++)
	{
		if (running && running_parses[i] == NULL)
		{
			running_parses[i] = p;
			return;
		}
		if (!running && running_parses[i] == p)
		{
			running_parses[i] = NULL;
			return;
		}
	}
}

/* Starts parsing a weekly object on the helper thread, if there is one to parse. */
static void
start_parse(PendingObject *p)
{
	if (p == NULL || !p->weekly || p->applied_rows >= 0 || p->parsing || p->parsed)
		return;
	if (p->info.compressed != NULL)
		parse_weekly_start_lz4(&p->job, VARDATA(p->info.compressed) + (VARHDRSZ_COMPRESSED - VARHDRSZ),
							   VARSIZE(p->info.compressed) - VARHDRSZ_COMPRESSED,
							   p->info.body.data, p->info.body.len, p->info.argument,
							   p->info.sha256);
	else
		parse_weekly_start(&p->job, p->info.body.data, p->info.body.len, p->info.argument,
						   p->info.sha256);
	p->parsing = true;
	track_parse(p, true);
}

static double waited_ms = 0;	/* time the backend waited for parser threads */

/* Waits for the helper thread; the series is then ours to free. */
static void
finish_parse(PendingObject *p)
{
	instr_time	start;
	instr_time	end;

	if (p == NULL || !p->parsing)
		return;
	INSTR_TIME_SET_CURRENT(start);
	parse_weekly_finish(&p->job);
	track_parse(p, false);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	waited_ms += INSTR_TIME_GET_MILLISEC(end);
	p->parsing = false;
	p->parsed = true;
}

static void
discard_object(PendingObject *p)
{
	if (p == NULL)
		return;
	finish_parse(p);
	if (p->parsed && p->job.rc == 0)
		weekly_series_free(&p->job.series);
	p->parsed = false;
	MemoryContextDelete(p->context);
}

/*
 * A series ends at most a week after the object was fetched (the partial
 * newest week is keyed by its last trading day so far) and a week after
 * today: the fetch time of an object another client wrote comes from its key.
 */
static void
require_past_weeks(const PendingObject *p)
{
	const WeeklySeries *series = &p->job.series;
	TimestampTz until = Min(p->info.fetched_at, GetCurrentTransactionStartTimestamp());
	DateADT		limit = DatumGetDateADT(DirectFunctionCall1(timestamp_date,
															TimestampGetDatum(until))) + 7;
	const ParseDate *newest;
	Timestamp	newest_start;
	int			y, m, d;

	if (series->nrows == 0)
		return;
	newest = &series->rows[series->nrows - 1].week_ending;
	if (date2j(newest->year, newest->month, newest->day) - POSTGRES_EPOCH_JDATE > limit)
	{
		j2date(limit + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		raise_invalid(&p->info,
					  psprintf("week %04d-%02d-%02d is after %04d-%02d-%02d, a week after the object was fetched (or after today, if earlier)",
							   newest->year, newest->month, newest->day, y, m, d));
	}

	/*
	 * The data's own date orders objects: one in the future would keep every
	 * later fetch of the symbol from changing anything.  The provider's wall
	 * time is behind UTC; a day allows for any time zone.  The newest week
	 * (the date when Meta Data gives none) is bounded above.
	 */
	newest_start = (Timestamp) (date2j(newest->year, newest->month, newest->day) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	if ((series->as_of - SECS_PER_DAY * (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)) * USECS_PER_SEC >
		Max(until, newest_start) + USECS_PER_DAY)
		raise_invalid(&p->info,
					  psprintf("\"3. Last Refreshed\" \"%.40s\" is more than a day after the object was fetched (or after today, if earlier)",
							   series->last_refreshed));
}

static int64
apply_weekly(PendingObject *p, IngestCounts *counts)
{
	if (!p->parsed)
	{
		start_parse(p);
		finish_parse(p);
	}
	if (!p->job.decompressed_ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("bronze object \"%s\" does not decompress", p->info.key)));
	if (!p->job.checksum_ok)
		bronze_verify(p->info.key, &p->info.body, p->info.sha256); /* raises the mismatch */
	if (p->job.rc != 0)
		raise_invalid(&p->info, p->job.reason);
	require_past_weeks(p);
	silver_ingest_weekly(p->info.key, p->info.argument, p->info.fetched_at,
						 &p->job.series, counts);
	return p->job.series.nrows;
}

static int64
apply_listing(PendingObject *p, IngestCounts *counts)
{
	SymbolList	list;
	char		reason[PARSE_REASON_LEN];
	bool		overview = strcmp(p->info.api_function, "OVERVIEW") == 0;
	int64		rows;

	if ((overview ? parse_overview(p->info.body.data, p->info.body.len, p->info.argument, &list, reason) :
		 parse_symbol_search(p->info.body.data, p->info.body.len, &list, reason)) != 0)
		raise_invalid(&p->info, reason);
	PG_TRY();
	{
		silver_ingest_symbols(p->info.key, p->info.api_function, p->info.fetched_at, &list, counts);
		rows = list.count;
	}
	PG_FINALLY();
	{
		symbol_list_free(&list);
	}
	PG_END_TRY();
	return rows;
}

/* Writes one prepared object into silver; its parse must be finished. */
static void
apply_object(PendingObject *p, IngestCounts *counts)
{
	MemoryContext caller = MemoryContextSwitchTo(p->context);
	int64		rows;

	memset(counts, 0, sizeof(*counts));
	if (p->applied_rows >= 0)
		counts->unchanged = p->applied_rows;
	else
	{
		rows = p->weekly ? apply_weekly(p, counts) : apply_listing(p, counts);
		record_applied(&p->info, rows, counts);
	}
	MemoryContextSwitchTo(caller);
}

/*
 * Before anything of a batch is read or written: every key is either in the
 * catalog or of the layout under the configured prefix (so a bad key is
 * refused before any request to S3), and the locks of all its objects are
 * taken at once, in the one order every ingest takes them.  Returns what
 * bronze says of each key, in order.
 */
static List *
lock_objects(List *keys)
{
	List	   *described = bronze_describe(keys);
	List	   *symbols = NIL;
	bool		listings = false;
	ListCell   *lc;

	foreach(lc, described)
	{
		BronzeObject *obj = (BronzeObject *) lfirst(lc);

		if (strcmp(obj->api_function, "TIME_SERIES_WEEKLY_ADJUSTED") == 0)
			symbols = lappend(symbols, obj->argument);
		else
			listings = true;
	}
	silver_lock_objects(symbols, listings);
	return described;
}

/*
 * Ingests objects in order.  While one object is written, the next ones are
 * parsed on helper threads: parsing and writing each take about half the
 * time, and the machine has two cores.  The main thread reads the bodies
 * (PostgreSQL's API is for it alone) and writes; helpers only run parse.c.
 */
void
ingest_objects(List *keys, bool force, bool from_s3, IngestCallback callback, void *arg)
{
	PendingObject *volatile window[PARSE_AHEAD + 1] = {NULL};
	volatile int nwindow = 0;
	List	   *described;
	ListCell   *volatile lc;
	instr_time	started;
	instr_time	ended;

	waited_ms = 0;
	INSTR_TIME_SET_CURRENT(started);
	/* Before anything is read: a layout stockelt cannot write is refused whole. */
	(void) cluster_silver_distributed();
	described = lock_objects(keys);
	lc = list_head(described);
	PG_TRY();
	{
		for (;;)
		{
			IngestCounts counts;
			PendingObject *current;

			/* Keep the next objects read and parsing while this one is written. */
			while (nwindow < PARSE_AHEAD + 1 && lc != NULL)
			{
				PendingObject *p = prepare_object((BronzeObject *) lfirst(lc), force, from_s3);

				window[nwindow++] = p;
				start_parse(p);
				lc = lnext(described, lc);
			}
			if (nwindow == 0)
				break;
			current = window[0];
			finish_parse(current);
			apply_object(current, &counts);
			if (callback)
				callback(current->info.key, &counts, arg);
			discard_object(current);
			for (int i = 1; i < nwindow; i++)
				window[i - 1] = window[i];
			window[--nwindow] = NULL;
			CHECK_FOR_INTERRUPTS();
		}
		INSTR_TIME_SET_CURRENT(ended);
		INSTR_TIME_SUBTRACT(ended, started);
		elog(DEBUG1, "stockelt: ingested %d objects in %.0f ms, %.0f ms of it waiting for parser threads",
			 list_length(keys), INSTR_TIME_GET_MILLISEC(ended), waited_ms);
	}
	PG_CATCH();
	{
		/* Helper threads read memory that the abort is about to free. */
		for (int i = 0; i < nwindow; i++)
		{
			PendingObject *p = window[i];

			finish_parse(p);
			if (p->parsed && p->job.rc == 0)
				weekly_series_free(&p->job.series);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static void
sum_counts(const char *key, const IngestCounts *counts, void *arg)
{
	IngestCounts *total = (IngestCounts *) arg;

	total->inserted += counts->inserted;
	total->updated += counts->updated;
	total->unchanged += counts->unchanged;
}

void
ingest_object(const char *key, bool force, bool from_s3, IngestCounts *counts)
{
	memset(counts, 0, sizeof(*counts));
	ingest_objects(list_make1(pstrdup(key)), force, from_s3, sum_counts, counts);
}

static Datum
counts_datum(FunctionCallInfo fcinfo, const IngestCounts *counts)
{
	TupleDesc	desc;
	Datum		values[3] = {Int64GetDatum(counts->inserted), Int64GetDatum(counts->updated),
	Int64GetDatum(counts->unchanged)};
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

Datum
stockelt_ingest(PG_FUNCTION_ARGS)
{
	IngestCounts counts;

	ingest_object(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1), false, &counts);
	PG_RETURN_DATUM(counts_datum(fcinfo, &counts));
}

Datum
stockelt_ingest_s3(PG_FUNCTION_ARGS)
{
	IngestCounts counts;

	bronze_require_s3();
	ingest_object(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1), true, &counts);
	PG_RETURN_DATUM(counts_datum(fcinfo, &counts));
}

/* One output row per object of a batch. */
static void
emit_counts(const char *key, const IngestCounts *counts, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[4] = {CStringGetTextDatum(key), Int64GetDatum(counts->inserted),
	Int64GetDatum(counts->updated), Int64GetDatum(counts->unchanged)};
	bool		nulls[4] = {false, false, false, false};

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static List *
text_array_to_list(ArrayType *array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *keys = NIL;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("bronze keys cannot be null")));
		keys = lappend(keys, TextDatumGetCString(elems[i]));
	}
	return keys;
}

Datum
stockelt_ingest_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *keys = text_array_to_list(PG_GETARG_ARRAYTYPE_P(0));

	InitMaterializedSRF(fcinfo, 0);
	ingest_objects(keys, PG_GETARG_BOOL(1), false, emit_counts, rsinfo);
	return (Datum) 0;
}

/* The objects silver is made of, under a prefix, oldest fetch first. */
static List *
replay_keys(const char *prefix)
{
	List	   *keys = NIL;
	ListCell   *lc;

	foreach(lc, bronze_list(prefix, true))
	{
		BronzeEntry *entry = (BronzeEntry *) lfirst(lc);

		if (entry->api_function != NULL && ingestible(entry->api_function))
			keys = lappend(keys, entry->key);
	}
	return keys;
}

Datum
stockelt_replay(PG_FUNCTION_ARGS)
{
	List	   *keys = replay_keys(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	IngestCounts total = {0};
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	ingest_objects(keys, true, false, sum_counts, &total);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(list_length(keys));
	values[1] = Int64GetDatum(total.inserted);
	values[2] = Int64GetDatum(total.updated);
	values[3] = Int64GetDatum(total.unchanged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
