/*
 * bronze.c
 *		The bronze store interface (a table of the database, or S3) and the
 *		layout of object keys.
 *
 * Keys are Hive-style so that lake engines can read them:
 *   [prefix/]alphavantage/<function>/symbol=<SYMBOL>/fetched=<UTC timestamp>.json
 * Objects are immutable: one per fetch, never overwritten.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"

#include "stockelt.h"
#include "bronze.h"
#include "http.h"
#include "s3.h"

PG_FUNCTION_INFO_V1(stockelt_bronze_read);
PG_FUNCTION_INFO_V1(stockelt_bronze_list);

static char *
object_key(const char *api_function, const char *partition, const char *value,
		   TimestampTz fetched_at)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char	   *function = asc_tolower(api_function, strlen(api_function));
	const char *prefix = s3_configured() ? stockelt_s3_prefix : "";
	int			plen = strlen(prefix);

	if (timestamp2tm(fetched_at, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	return psprintf("%.*s%salphavantage/%s/%s=%s/fetched=%04d%02d%02dT%02d%02d%02d.%06dZ.json",
					plen, prefix, plen > 0 ? "/" : "", function, partition, value,
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

void
bronze_check_store(void)
{
	if (s3_configured())
		s3_check_bucket();
}

static void
insert_catalog_row(const char *key, const char *partition, const char *value,
				   const char *api_function, TimestampTz fetched_at, size_t len,
				   const char *sha256, const char *etag)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9] = "         ";
	bool		on_s3 = s3_configured();
	bool		is_symbol = strcmp(partition, "symbol") == 0;

	values[0] = CStringGetTextDatum(key);
	values[1] = CStringGetTextDatum(value);
	values[8] = CStringGetTextDatum(value);
	nulls[is_symbol ? 8 : 1] = 'n';
	values[2] = CStringGetTextDatum(api_function);
	values[3] = TimestampTzGetDatum(fetched_at);
	values[4] = Int64GetDatum((int64) len);
	values[5] = CStringGetTextDatum(sha256);
	values[6] = on_s3 ? CStringGetTextDatum(stockelt_s3_bucket) : (Datum) 0;
	values[7] = (on_s3 && etag) ? CStringGetTextDatum(etag) : (Datum) 0;
	if (!on_s3)
		nulls[6] = 'n';
	if (!on_s3 || etag == NULL)
		nulls[7] = 'n';

	if (SPI_execute_with_args("INSERT INTO stockelt.bronze_objects "
							  "(key, symbol, keywords, api_function, fetched_at, size_bytes, sha256, store, s3_bucket, s3_etag) "
							  "VALUES ($1, $2, $9, $3, $4, $5, $6, "
							  "CASE WHEN $7 IS NULL THEN 'table' ELSE 's3' END, $7, $8)",
							  9, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record bronze object \"%s\"", key);
}

static void
insert_body(const char *key, const char *data, size_t len)
{
	Oid			types[2] = {TEXTOID, BYTEAOID};
	Datum		values[2];
	bytea	   *body = palloc(VARHDRSZ + len);

	SET_VARSIZE(body, VARHDRSZ + len);
	memcpy(VARDATA(body), data, len);
	values[0] = CStringGetTextDatum(key);
	values[1] = PointerGetDatum(body);
	if (SPI_execute_with_args("INSERT INTO stockelt.bronze_bodies (key, body) VALUES ($1, $2)",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store bronze object \"%s\"", key);
}

char *
bronze_store(const char *api_function, const char *partition, const char *value,
			 TimestampTz fetched_at, const char *data, size_t len)
{
	char	   *key = object_key(api_function, partition,
								 strcmp(partition, "symbol") == 0 ? value : http_escape(value, false),
								 fetched_at);
	char		sha256[65];
	char	   *etag = NULL;

	sha256_hex(data, len, sha256);
	if (s3_configured())
	{
		/* Objects are immutable: never replace one that is already there. */
		if (s3_head(key))
			ereport(ERROR,
					(errcode(ERRCODE_STOCKELT_OBJECT_EXISTS),
					 errmsg("bronze object \"%s\" already exists in S3", key)));
		etag = s3_put(key, data, len, "application/json");
	}

	SPI_connect();
	insert_catalog_row(key, partition, value, api_function, fetched_at, len, sha256, etag);
	if (!s3_configured())
		insert_body(key, data, len);
	SPI_finish();
	return key;
}

/* Where the catalog says an object lives: "table", "s3", or NULL if unknown. */
static char *
catalog_lookup(const char *key, char **sha256)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *store = NULL;

	*sha256 = NULL;
	SPI_connect();
	if (SPI_execute_with_args("SELECT store, sha256 FROM stockelt.bronze_objects WHERE key = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up bronze object \"%s\"", key);
	if (SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		store = MemoryContextStrdup(caller, SPI_getvalue(row, desc, 1));
		*sha256 = MemoryContextStrdup(caller, SPI_getvalue(row, desc, 2));
	}
	SPI_finish();
	return store;
}

static bool
read_table_body(const char *key, StringInfo out)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};
	bool		found = false;
	MemoryContext caller = CurrentMemoryContext;

	SPI_connect();
	if (SPI_execute_with_args("SELECT body FROM stockelt.bronze_bodies WHERE key = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read bronze object \"%s\"", key);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext spi = MemoryContextSwitchTo(caller);
		bytea	   *body = DatumGetByteaPCopy(d);

		/* The detoasted copy is the caller's: no second copy of a large body. */
		out->data = VARDATA(body);
		out->len = out->maxlen = VARSIZE(body) - VARHDRSZ;
		out->cursor = 0;
		MemoryContextSwitchTo(spi);
		found = true;
	}
	SPI_finish();
	return found;
}

void
bronze_verify(const char *key, const StringInfoData *body, const char *sha256)
{
	char		actual[65];

	sha256_hex(body->data, body->len, actual);
	if (strcmp(actual, sha256) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("bronze object \"%s\" does not match its catalog checksum", key),
				 errdetail("Catalog SHA-256 %s, object SHA-256 %s.", sha256, actual)));
}

void
bronze_read(const char *key, StringInfo out)
{
	char	   *sha256;
	char	   *store = catalog_lookup(key, &sha256);
	bool		found;

	if (store ? strcmp(store, "s3") == 0 : s3_configured())
	{
		s3_get(key, out);
		found = true;
	}
	else
		found = read_table_body(key, out);

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_NO_SUCH_OBJECT),
				 errmsg("bronze object \"%s\" does not exist", key)));
	if (sha256)
		bronze_verify(key, out, sha256);
}

Datum
stockelt_bronze_read(PG_FUNCTION_ARGS)
{
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	StringInfoData body;
	bytea	   *result;

	bronze_read(key, &body);
	result = palloc(VARHDRSZ + body.len);
	SET_VARSIZE(result, VARHDRSZ + body.len);
	memcpy(VARDATA(result), body.data, body.len);
	PG_RETURN_BYTEA_P(result);
}

static int
compare_by_fetch(const ListCell *a, const ListCell *b)
{
	const BronzeEntry *x = (const BronzeEntry *) lfirst(a);
	const BronzeEntry *y = (const BronzeEntry *) lfirst(b);
	const char *fx = strstr(x->key, "/fetched=");
	const char *fy = strstr(y->key, "/fetched=");
	int			c = strcmp(fx ? fx : "", fy ? fy : "");

	return c != 0 ? c : strcmp(x->key, y->key);
}

static List *
list_table_store(const char *prefix)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(prefix)};
	MemoryContext caller = CurrentMemoryContext;
	List	   *entries = NIL;

	SPI_connect();
	if (SPI_execute_with_args("SELECT key, size_bytes FROM stockelt.bronze_objects "
							  "WHERE store = 'table' AND starts_with(key, $1) ORDER BY key",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list bronze objects");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		BronzeEntry *entry = palloc(sizeof(BronzeEntry));

		entry->key = pstrdup(SPI_getvalue(row, SPI_tuptable->tupdesc, 1));
		entry->size = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
		entries = lappend(entries, entry);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return entries;
}

List *
bronze_list(const char *prefix, bool oldest_fetch_first)
{
	List	   *entries = NIL;

	if (!s3_configured())
		entries = list_table_store(prefix);
	else
	{
		ListCell   *lc;

		foreach(lc, s3_list(prefix))
		{
			S3Object   *obj = (S3Object *) lfirst(lc);
			BronzeEntry *entry = palloc(sizeof(BronzeEntry));

			entry->key = obj->key;
			entry->size = obj->size;
			entries = lappend(entries, entry);
		}
	}
	if (oldest_fetch_first)
		list_sort(entries, compare_by_fetch);
	return entries;
}

Datum
stockelt_bronze_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *store = s3_configured() ? "s3" : "table";
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, bronze_list(prefix, false))
	{
		BronzeEntry *entry = (BronzeEntry *) lfirst(lc);
		Datum		row[3] = {CStringGetTextDatum(entry->key), Int64GetDatum(entry->size),
		CStringGetTextDatum(store)};
		bool		nulls[3] = {false, entry->size < 0, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	return (Datum) 0;
}
