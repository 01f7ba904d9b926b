/*
 * ingest.c
 *		Bronze objects into silver: stockelt_ingest(key), stockelt_ingest_s3(key)
 *		and stockelt_replay(prefix).
 *
 * One object is ingested in the caller's transaction, so an error anywhere
 * leaves nothing of it behind.  An object already applied to silver is not
 * parsed again unless forced: SQL changes to silver forget what was applied.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "stockelt.h"
#include "bronze.h"
#include "parse.h"
#include "s3.h"
#include "silver.h"
#include "ingest.h"

PG_FUNCTION_INFO_V1(stockelt_ingest);
PG_FUNCTION_INFO_V1(stockelt_ingest_s3);
PG_FUNCTION_INFO_V1(stockelt_replay);

/* What the catalog, or failing that the key itself, says about an object. */
typedef struct ObjectInfo
{
	char	   *key;
	char	   *api_function;
	char	   *argument;		/* symbol, or search keywords */
	TimestampTz fetched_at;
} ObjectInfo;

/* The value of "name=" in a Hive-style key, up to the next '/'. */
static char *
key_partition(const char *key, const char *name)
{
	char	   *pattern = psprintf("/%s=", name);
	const char *start = strstr(key, pattern);
	const char *end;

	if (start == NULL)
		return NULL;
	start += strlen(pattern);
	end = strchr(start, '/');
	return pnstrdup(start, end ? (size_t) (end - start) : strlen(start));
}

/* "alphavantage/<function>/…" names the API function, in lower case. */
static char *
key_function(const char *key)
{
	const char *start = strstr(key, "alphavantage/");
	const char *end;
	char	   *name;

	if (start == NULL)
		return NULL;
	start += strlen("alphavantage/");
	if ((end = strchr(start, '/')) == NULL)
		return NULL;
	name = pnstrdup(start, end - start);
	for (char *p = name; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	return name;
}

static bool
key_fetched_at(const char *key, TimestampTz *fetched_at)
{
	char	   *stamp = key_partition(key, "fetched");
	int			y, mo, d, h, mi, s, us;
	char	   *text;

	if (stamp == NULL ||
		sscanf(stamp, "%4d%2d%2dT%2d%2d%2d.%6dZ", &y, &mo, &d, &h, &mi, &s, &us) != 7)
		return false;
	text = psprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d+00", y, mo, d, h, mi, s, us);
	*fetched_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
														  ObjectIdGetDatum(InvalidOid),
														  Int32GetDatum(-1)));
	return true;
}

static void
describe_object(const char *key, ObjectInfo *info)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};
	MemoryContext caller = CurrentMemoryContext;
	bool		found = false;

	memset(info, 0, sizeof(*info));
	info->key = pstrdup(key);
	SPI_connect();
	if (SPI_execute_with_args("SELECT api_function, coalesce(symbol, keywords), fetched_at "
							  "FROM stockelt.bronze_objects WHERE key = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up bronze object \"%s\"", key);
	if (SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		info->api_function = MemoryContextStrdup(caller, SPI_getvalue(row, desc, 1));
		info->argument = MemoryContextStrdup(caller, SPI_getvalue(row, desc, 2));
		info->fetched_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull));
		found = true;
	}
	SPI_finish();
	if (found)
		return;

	/* Not cataloged (written by another client): the key says it all. */
	info->api_function = key_function(key);
	info->argument = key_partition(key, "symbol");
	if (info->argument == NULL)
		info->argument = key_partition(key, "keywords");
	if (info->api_function == NULL || info->argument == NULL ||
		!key_fetched_at(key, &info->fetched_at))
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_INVALID_PAYLOAD),
				 errmsg("cannot tell what bronze object \"%s\" holds", key),
				 errdetail("It is not in stockelt.bronze_objects and its key does not follow "
						   "alphavantage/<function>/symbol=<SYMBOL>/fetched=<YYYYMMDDTHHMMSS.ffffffZ>.json.")));
}

/* Rows the object held when it was applied, or -1 if it has not been. */
static int64
applied_rows(const char *key)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};
	int64		rows = -1;

	SPI_connect();
	if (SPI_execute_with_args("SELECT rows_in_object FROM stockelt.silver_objects WHERE key = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
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
record_applied(const ObjectInfo *info, int64 rows, const IngestCounts *counts)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID};
	Datum		values[7] = {CStringGetTextDatum(info->key), CStringGetTextDatum(info->api_function),
		CStringGetTextDatum(info->argument), TimestampTzGetDatum(info->fetched_at),
	Int64GetDatum(rows), Int64GetDatum(counts->inserted), Int64GetDatum(counts->updated)};

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO stockelt.silver_objects AS o "
							  "(key, api_function, argument, fetched_at, rows_in_object, inserted, updated) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7) "
							  "ON CONFLICT (key) DO UPDATE SET rows_in_object = EXCLUDED.rows_in_object, "
							  "inserted = EXCLUDED.inserted, updated = EXCLUDED.updated, applied_at = now()",
							  7, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record applied object \"%s\"", info->key);
	SPI_finish();
}

static void
raise_invalid(const ObjectInfo *info, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_STOCKELT_INVALID_PAYLOAD),
			 errmsg("could not ingest bronze object \"%s\"", info->key),
			 errdetail("%s", reason)));
}

static int64
ingest_weekly(const ObjectInfo *info, const StringInfoData *body, IngestCounts *counts)
{
	WeeklySeries series;
	char		reason[PARSE_REASON_LEN];
	int64		rows;

	if (parse_weekly_adjusted(body->data, body->len, info->argument, &series, reason) != 0)
		raise_invalid(info, reason);
	PG_TRY();
	{
		silver_ingest_weekly(info->key, info->argument, info->fetched_at, &series, counts);
		rows = series.nrows;
	}
	PG_FINALLY();
	{
		weekly_series_free(&series);
	}
	PG_END_TRY();
	return rows;
}

static int64
ingest_listing(const ObjectInfo *info, const StringInfoData *body, IngestCounts *counts)
{
	SymbolList	list;
	char		reason[PARSE_REASON_LEN];
	bool		overview = strcmp(info->api_function, "OVERVIEW") == 0;
	int64		rows;

	if ((overview ? parse_overview(body->data, body->len, info->argument, &list, reason) :
		 parse_symbol_search(body->data, body->len, &list, reason)) != 0)
		raise_invalid(info, reason);
	PG_TRY();
	{
		silver_ingest_symbols(info->key, info->api_function, info->fetched_at, &list, counts);
		rows = list.count;
	}
	PG_FINALLY();
	{
		symbol_list_free(&list);
	}
	PG_END_TRY();
	return rows;
}

/* Ingests one object; the counts say what it did to silver. */
void
ingest_object(const char *key, bool force, bool from_s3, IngestCounts *counts)
{
	ObjectInfo	info;
	StringInfoData body;
	int64		rows;

	memset(counts, 0, sizeof(*counts));
	describe_object(key, &info);
	if (!force && (rows = applied_rows(key)) >= 0)
	{
		counts->unchanged = rows;
		return;
	}
	if (from_s3)
		s3_get(key, &body);
	else
		bronze_read(key, &body);

	if (strcmp(info.api_function, "TIME_SERIES_WEEKLY_ADJUSTED") == 0)
		rows = ingest_weekly(&info, &body, counts);
	else if (strcmp(info.api_function, "OVERVIEW") == 0 ||
			 strcmp(info.api_function, "SYMBOL_SEARCH") == 0)
		rows = ingest_listing(&info, &body, counts);
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bronze objects of API function %s cannot be ingested", info.api_function)));
	record_applied(&info, rows, counts);
	pfree(body.data);
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

	s3_require_configuration();
	ingest_object(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1), true, &counts);
	PG_RETURN_DATUM(counts_datum(fcinfo, &counts));
}

Datum
stockelt_replay(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	IngestCounts total = {0};
	int64		objects = 0;
	ListCell   *lc;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	foreach(lc, bronze_list(prefix, true))
	{
		char	   *key = ((BronzeEntry *) lfirst(lc))->key;
		IngestCounts counts;
		char	   *function = key_function(key);

		/* Only what silver is made of; other objects in the lake are left alone. */
		if (function == NULL || (strcmp(function, "TIME_SERIES_WEEKLY_ADJUSTED") != 0 &&
								 strcmp(function, "OVERVIEW") != 0 &&
								 strcmp(function, "SYMBOL_SEARCH") != 0))
			continue;
		ingest_object(key, true, false, &counts);
		total.inserted += counts.inserted;
		total.updated += counts.updated;
		total.unchanged += counts.unchanged;
		objects++;
		CHECK_FOR_INTERRUPTS();
	}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(objects);
	values[1] = Int64GetDatum(total.inserted);
	values[2] = Int64GetDatum(total.updated);
	values[3] = Int64GetDatum(total.unchanged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
