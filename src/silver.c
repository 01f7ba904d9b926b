/*
 * silver.c
 *		Bulk upsert of parsed rows into silver, writing only rows that changed.
 *
 * The weekly writer works below SQL, as COPY does: it reads a symbol's rows
 * through the primary key, merges them with the parsed series week by week,
 * and inserts in batches with table_multi_insert, updates with
 * simple_table_tuple_update, and maintains the indexes itself.  Unchanged
 * rows are not touched, so re-ingesting an object writes no WAL for them.
 * When silver is a Citus table distributed by symbol (cluster.c), which
 * Citus never sees written below SQL, the same merge reads the symbol's rows
 * and writes them through SQL instead, one statement each for the deletes,
 * the updates and the inserts, all routed to the symbol's shard.
 *
 * Objects are ordered by the data's own date (Meta Data's "3. Last
 * Refreshed", kept in each row as last_refreshed), the fetch time breaking
 * ties.  The grain is the provider's key: a calendar week may have two.
 * basis_factor puts every row on the adjustment basis of the newest object:
 * rows it gives have 1; rows it does not give are rebased at the seam, the
 * oldest key both have.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/datum.h"
#include "utils/array.h"
#include "utils/fmgrprotos.h"
#include "common/hashfn.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "cluster.h"
#include "compat.h"
#include "goldlog.h"
#include "silver.h"

#define INSERT_BATCH 256
#define ADVISORY_LOCK_CLASS 0x53544b45	/* "STKE": ingests of one symbol take turns */
#define LISTINGS_LOCK_CLASS 0x53544b4c	/* "STKL": ingests into silver.symbols take turns */

/* Columns of silver.weekly_adjusted_prices, in table order. */
enum
{
	COL_SYMBOL,
	COL_WEEK_ENDING,
	COL_OPEN,
	COL_HIGH,
	COL_LOW,
	COL_CLOSE,
	COL_ADJUSTED_CLOSE,
	COL_VOLUME,
	COL_DIVIDEND,
	COL_BASIS_FACTOR,
	COL_BRONZE_KEY,
	COL_FETCHED_AT,
	COL_LAST_REFRESHED,
	COL_INGESTED_AT,
	WEEKLY_NCOLS
};

/* Their names, for the SQL of a distributed silver. */
static const char *const weekly_columns[WEEKLY_NCOLS] = {
	"symbol", "week_ending", "open", "high", "low", "close", "adjusted_close", "volume",
	"dividend_amount", "basis_factor", "bronze_key", "fetched_at", "last_refreshed",
"ingested_at"};

/* The numeric columns, in the order of WeeklyRow's strings. */
static const int price_cols[] = {COL_OPEN, COL_HIGH, COL_LOW, COL_CLOSE,
COL_ADJUSTED_CLOSE, COL_DIVIDEND};

#define NPRICES lengthof(price_cols)
#define PRICE_ADJUSTED_CLOSE 4	/* index of the adjusted close in prices[] */

/* Decimal places a basis factor is rounded to, at every step. */
#define BASIS_SCALE 20

/* A row already in silver: its values point into a copy of its tuple. */
typedef struct ExistingRow
{
	DateADT		week_ending;
	int32		week;
	ItemPointerData tid;
	Datum		values[WEEKLY_NCOLS];
	bool		nulls[WEEKLY_NCOLS];
	Datum		prices[NPRICES];
	int64		volume;
} ExistingRow;

/* The factor rows get: a value, or NULL where the seam cannot be rebased. */
typedef struct BasisFactor
{
	Datum		value;
	bool		isnull;
} BasisFactor;

/* Everything one weekly ingest needs to write rows. */
typedef struct WeeklyWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	Snapshot	snapshot;
	TupleTableSlot *slots[INSERT_BATCH];
	int			nbuffered;
	TupleTableSlot *update_slot;
	MemoryContext batch_context;
	Datum		symbol;
	Datum		bronze_key;
	Datum		fetched_at;
	Datum		last_refreshed;
	Datum		ingested_at;
	Datum		one;			/* the basis factor of rows the newest object gives */
	DateADT		first_changed;	/* the oldest week inserted, updated or removed */
	/* A distributed silver: rows to write through SQL when the writer closes. */
	bool		distributed;
	MemoryContext sql_context;
	List	   *sql_inserts;	/* of HeapTuple */
	List	   *sql_updates;	/* of HeapTuple, and the keys they replace: */
	List	   *sql_updated_weeks;	/* of DateADT, as int */
	List	   *sql_deleted_weeks;	/* of DateADT, as int */
} WeeklyWriter;

/* Monday-based week number; DateADT 0 is Saturday 2000-01-01. */
static int32
week_of(DateADT d)
{
	int32		shifted = d + 5;

	return shifted >= 0 ? shifted / 7 : -((-shifted + 6) / 7);
}

static uint32
symbol_lock_id(const char *symbol)
{
	return hash_bytes((const unsigned char *) symbol, strlen(symbol));
}

static void
advisory_xact_lock(uint32 lock_class, uint32 id)
{
	DirectFunctionCall2(pg_advisory_xact_lock_int4,
						Int32GetDatum((int32) lock_class), Int32GetDatum((int32) id));
}

static int
compare_lock_ids(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/*
 * Locks are taken up front and in one order (symbols by lock id, then the
 * listings), never one by one as objects come: a batch that held one
 * symbol's lock and had written gold_pending while it waited for another
 * symbol would close a cycle with a batch in the opposite order, or with a
 * gold refresh waiting to lock gold_pending.  Taking a lock again later in
 * the transaction does not wait.
 */
void
silver_lock_objects(List *weekly_symbols, bool listings)
{
	int			n = list_length(weekly_symbols);
	uint32	   *ids = palloc(sizeof(uint32) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, weekly_symbols)
		ids[i++] = symbol_lock_id((const char *) lfirst(lc));
	qsort(ids, n, sizeof(uint32), compare_lock_ids);
	for (i = 0; i < n; i++)
	{
		if (i == 0 || ids[i] != ids[i - 1])
			advisory_xact_lock(ADVISORY_LOCK_CLASS, ids[i]);
	}
	if (listings)
		advisory_xact_lock(LISTINGS_LOCK_CLASS, 0);
	pfree(ids);
}

static Relation
open_silver_table(const char *name, int expected_columns)
{
	Relation	rel = table_openrv(makeRangeVar("silver", (char *) name, -1), RowExclusiveLock);

	if (RelationGetDescr(rel)->natts != expected_columns)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table silver.%s does not have the columns stockelt created", name)));
	return rel;
}

static void
writer_open(WeeklyWriter *w, const char *key, const char *symbol, TimestampTz fetched_at,
			Timestamp last_refreshed)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	memset(w, 0, sizeof(*w));
	w->rel = open_silver_table("weekly_adjusted_prices", WEEKLY_NCOLS);
	w->estate = CreateExecutorState();
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(w->rel);
	rte->relkind = w->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	compat_init_range_table(w->estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->cid = GetCurrentCommandId(true);
	w->estate->es_output_cid = w->cid;
	w->bistate = GetBulkInsertState();
	w->snapshot = RegisterSnapshot(GetLatestSnapshot());
	w->estate->es_snapshot = w->snapshot;
	w->update_slot = table_slot_create(w->rel, NULL);
	w->batch_context = AllocSetContextCreate(CurrentMemoryContext, "stockelt ingest batch",
											 ALLOCSET_DEFAULT_SIZES);
	w->symbol = CStringGetTextDatum(symbol);
	w->bronze_key = CStringGetTextDatum(key);
	w->fetched_at = TimestampTzGetDatum(fetched_at);
	w->last_refreshed = TimestampGetDatum(last_refreshed);
	w->ingested_at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	w->one = DirectFunctionCall3(numeric_in, CStringGetDatum("1"),
								 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	DATE_NOEND(w->first_changed);
	w->distributed = cluster_silver_distributed();
	if (w->distributed)
		w->sql_context = AllocSetContextCreate(CurrentMemoryContext, "stockelt distributed ingest",
											   ALLOCSET_DEFAULT_SIZES);
}

static void
writer_close(WeeklyWriter *w)
{
	for (int i = 0; i < INSERT_BATCH && w->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	ExecDropSingleTupleTableSlot(w->update_slot);
	FreeBulkInsertState(w->bistate);
	ExecCloseIndices(w->rri);
	ExecCloseRangeTableRelations(w->estate);
	FreeExecutorState(w->estate);
	UnregisterSnapshot(w->snapshot);
	MemoryContextDelete(w->batch_context);
	if (w->distributed)
		MemoryContextDelete(w->sql_context);
	table_close(w->rel, NoLock);
	/* Later statements and ingests in this transaction see these rows. */
	CommandCounterIncrement();
}

/* A row of silver as the merge reads it; its values point into the tuple. */
static void
deform_existing(ExistingRow *row, HeapTuple tuple, TupleDesc desc)
{
	heap_deform_tuple(tuple, desc, row->values, row->nulls);
	row->week_ending = DatumGetDateADT(row->values[COL_WEEK_ENDING]);
	row->week = week_of(row->week_ending);
	row->tid = tuple->t_self;
	for (int i = 0; i < (int) NPRICES; i++)
		row->prices[i] = row->values[price_cols[i]];
	row->volume = DatumGetInt64(row->values[COL_VOLUME]);
}

/* The symbol's rows of a distributed silver, oldest first, read from its shard. */
static ExistingRow *
read_existing_sql(WeeklyWriter *w, int *count)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {w->symbol};
	ExistingRow *rows;

	SPI_connect();
	if (SPI_execute_with_args("SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = $1 "
							  "ORDER BY week_ending", 1, types, values, NULL, true, 0) != SPI_OK_SELECT ||
		SPI_tuptable->tupdesc->natts != WEEKLY_NCOLS)
		elog(ERROR, "could not read the rows of \"%s\" in silver", TextDatumGetCString(w->symbol));
	*count = (int) SPI_processed;
	/* Allocated in the caller's context, as SPI_copytuple's copies are. */
	rows = SPI_palloc(Max(*count, 1) * sizeof(ExistingRow));
	for (int i = 0; i < *count; i++)
		deform_existing(&rows[i], SPI_copytuple(SPI_tuptable->vals[i]), RelationGetDescr(w->rel));
	SPI_finish();
	return rows;
}

/* The symbol's rows, oldest first, read through the primary key. */
static ExistingRow *
read_existing(WeeklyWriter *w, int *count)
{
	Oid			pk = compat_primary_key_index(w->rel);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	TupleDesc	desc = RelationGetDescr(w->rel);
	int			cap = 1024;
	ExistingRow *rows;

	if (w->distributed)
		return read_existing_sql(w, count);
	rows = palloc(cap * sizeof(ExistingRow));
	*count = 0;
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ, w->symbol);
	scan = systable_beginscan(w->rel, pk, true, w->snapshot, 1, &skey);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		ExistingRow *row;

		if (*count == cap)
		{
			cap *= 2;
			rows = repalloc(rows, cap * sizeof(ExistingRow));
		}
		row = &rows[(*count)++];
		/* One copy of the tuple; the prices point into it. */
		deform_existing(row, heap_copytuple(tuple), desc);
	}
	systable_endscan(scan);
	return rows;
}

/*
 * A parsed price as numeric.  The parser split provider values such as
 * "185.5700" into digits and scale, which build the numeric without reading
 * the string (cold in this thread's cache) or running numeric_in's general
 * parser; longer values take numeric_in.  Both give the same value and scale.
 */
static Datum
numeric_from(const WeeklyRow *row, int i, const char *text)
{
	if (row->price_scale[i] < 0)
		return DirectFunctionCall3(numeric_in, CStringGetDatum(text),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	return NumericGetDatum(int64_div_fast_to_numeric(row->price_digits[i], row->price_scale[i]));
}

/* Fills a slot with a parsed row, its basis factor and the object's lineage. */
static void
fill_slot(WeeklyWriter *w, TupleTableSlot *slot, const WeeklyRow *row,
		  DateADT week_ending, const Datum *prices, const BasisFactor *factor)
{
	ExecClearTuple(slot);
	memset(slot->tts_isnull, false, WEEKLY_NCOLS * sizeof(bool));
	slot->tts_values[COL_SYMBOL] = w->symbol;
	slot->tts_values[COL_WEEK_ENDING] = DateADTGetDatum(week_ending);
	for (int i = 0; i < (int) NPRICES; i++)
		slot->tts_values[price_cols[i]] = prices[i];
	slot->tts_values[COL_VOLUME] = Int64GetDatum(row->volume);
	slot->tts_values[COL_BASIS_FACTOR] = factor->value;
	slot->tts_isnull[COL_BASIS_FACTOR] = factor->isnull;
	slot->tts_values[COL_BRONZE_KEY] = w->bronze_key;
	slot->tts_values[COL_FETCHED_AT] = w->fetched_at;
	slot->tts_values[COL_LAST_REFRESHED] = w->last_refreshed;
	slot->tts_values[COL_INGESTED_AT] = w->ingested_at;
	ExecStoreVirtualTuple(slot);
	if (w->rel->rd_att->constr)
		ExecConstraints(w->rri, slot, w->estate);
}

static void
flush_inserts(WeeklyWriter *w)
{
	if (w->nbuffered == 0)
		return;
	if (w->distributed)
	{
		MemoryContext caller = MemoryContextSwitchTo(w->sql_context);

		for (int i = 0; i < w->nbuffered; i++)
			w->sql_inserts = lappend(w->sql_inserts, ExecCopySlotHeapTuple(w->slots[i]));
		MemoryContextSwitchTo(caller);
	}
	else
	{
		table_multi_insert(w->rel, w->slots, w->nbuffered, w->cid, 0, w->bistate);
		for (int i = 0; i < w->nbuffered; i++)
			compat_insert_index_tuples(w->rri, w->slots[i], w->estate, false, false);
	}
	for (int i = 0; i < w->nbuffered; i++)
		ExecClearTuple(w->slots[i]);
	w->nbuffered = 0;
	MemoryContextReset(w->batch_context);
}

static void
insert_row(WeeklyWriter *w, const WeeklyRow *row, DateADT week_ending, const Datum *prices,
		   const BasisFactor *factor)
{
	/* Slots are made as the batch first needs them: most objects insert nothing. */
	if (w->slots[w->nbuffered] == NULL)
		w->slots[w->nbuffered] = table_slot_create(w->rel, NULL);
	fill_slot(w, w->slots[w->nbuffered++], row, week_ending, prices, factor);
	if (w->nbuffered == INSERT_BATCH)
		flush_inserts(w);
}

/* Replaces a row by the slot's tuple, index entries too when the key changed. */
static void
replace_row(WeeklyWriter *w, const ExistingRow *old)
{
	CompatUpdateIndexes update_indexes;
	ItemPointerData tid = old->tid;

	if (w->distributed)
	{
		MemoryContext caller = MemoryContextSwitchTo(w->sql_context);

		w->sql_updates = lappend(w->sql_updates, ExecCopySlotHeapTuple(w->update_slot));
		w->sql_updated_weeks = lappend_int(w->sql_updated_weeks, old->week_ending);
		MemoryContextSwitchTo(caller);
		return;
	}
	simple_table_tuple_update(w->rel, &tid, w->update_slot, w->snapshot, &update_indexes);
	if (update_indexes != COMPAT_UPDATE_INDEXES_NONE)
		compat_insert_index_tuples(w->rri, w->update_slot, w->estate, true,
								   COMPAT_ONLY_SUMMARIZING(update_indexes));
}

static void
update_row(WeeklyWriter *w, const ExistingRow *old, const WeeklyRow *row,
		   DateADT week_ending, const Datum *prices, const BasisFactor *factor)
{
	fill_slot(w, w->update_slot, row, week_ending, prices, factor);
	replace_row(w, old);
}

/* A key the newest object no longer gives in a week it gives (a stale partial week). */
static void
delete_row(WeeklyWriter *w, const ExistingRow *old)
{
	ItemPointerData tid = old->tid;

	if (w->distributed)
	{
		MemoryContext caller = MemoryContextSwitchTo(w->sql_context);

		w->sql_deleted_weeks = lappend_int(w->sql_deleted_weeks, old->week_ending);
		MemoryContextSwitchTo(caller);
	}
	else
		simple_table_tuple_delete(w->rel, &tid, w->snapshot);
	w->first_changed = Min(w->first_changed, old->week_ending);
}

/* One column of a list of rows, as an array. */
static Datum
column_array(WeeklyWriter *w, List *tuples, int col)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	Form_pg_attribute att = TupleDescAttr(desc, col);
	int			n = list_length(tuples);
	Datum	   *values = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i = 0;
	ListCell   *lc;

	foreach(lc, tuples)
	{
		values[i] = heap_getattr((HeapTuple) lfirst(lc), col + 1, desc, &nulls[i]);
		i++;
	}
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, att->atttypid,
											  att->attlen, att->attbyval, att->attalign));
}

static Datum
week_array(List *weeks)
{
	int			n = list_length(weeks);
	Datum	   *values = palloc(sizeof(Datum) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, weeks)
		values[i++] = DateADTGetDatum((DateADT) lfirst_int(lc));
	return PointerGetDatum(construct_array(values, n, DATEOID, sizeof(DateADT), true,
										   TYPALIGN_INT));
}

/*
 * Runs one statement of a distributed silver's write: $1 is the symbol, then
 * the columns after it as arrays (for the updates and inserts), then the
 * weeks of the rows replaced or deleted.  A statement that writes another
 * number of rows than the merge decided is an error, never a quiet loss.
 */
static void
run_sql_write(WeeklyWriter *w, const char *sql, List *tuples, List *weeks, int expected_spi,
			  const char *what)
{
	Oid			types[WEEKLY_NCOLS + 1];
	Datum		values[WEEKLY_NCOLS + 1];
	int			nargs = 0;
	int64		expected = weeks != NIL ? list_length(weeks) : list_length(tuples);

	types[nargs] = TEXTOID;
	values[nargs++] = w->symbol;
	if (tuples != NIL)
		for (int col = COL_WEEK_ENDING; col < WEEKLY_NCOLS; col++)
		{
			types[nargs] = get_array_type(TupleDescAttr(RelationGetDescr(w->rel), col)->atttypid);
			values[nargs++] = column_array(w, tuples, col);
		}
	if (weeks != NIL)
	{
		types[nargs] = DATEARRAYOID;
		values[nargs++] = week_array(weeks);
	}
	SPI_connect();
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0) != expected_spi)
		elog(ERROR, "could not %s rows of \"%s\" in silver", what, TextDatumGetCString(w->symbol));
	if ((int64) SPI_processed != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not %s rows of \"%s\" in silver", what, TextDatumGetCString(w->symbol)),
				 errdetail("The statement wrote " UINT64_FORMAT " rows of " INT64_FORMAT ".",
						   SPI_processed, expected)));
	SPI_finish();
}

/* The columns after the symbol, as a list: "p." before each, or "name = u.name". */
static char *
column_list(const char *prefix, bool assignments)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int col = COL_WEEK_ENDING; col < WEEKLY_NCOLS; col++)
	{
		if (col > COL_WEEK_ENDING)
			appendStringInfoString(&buf, ", ");
		if (assignments)
			appendStringInfo(&buf, "%s = u.%s", weekly_columns[col], weekly_columns[col]);
		else
			appendStringInfo(&buf, "%s%s", prefix, weekly_columns[col]);
	}
	return buf.data;
}

/*
 * ROWS FROM (pg_catalog.unnest($first), …) over the columns after the symbol,
 * and more parameters after them: the arrays side by side as rows.
 */
static char *
unnest_params(int first, int extra)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "ROWS FROM (");
	for (int i = 0; i < WEEKLY_NCOLS - 1 + extra; i++)
		appendStringInfo(&buf, "%spg_catalog.unnest($%d)", i > 0 ? ", " : "", first + i);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * A distributed silver's writes, each in one statement that Citus routes to
 * the symbol's shard: deletes, then updates (a re-keyed row takes a key no
 * other row of the symbol has), then inserts.
 */
static void
write_sql(WeeklyWriter *w)
{
	MemoryContext caller = MemoryContextSwitchTo(w->sql_context);

	if (w->sql_deleted_weeks != NIL)
		run_sql_write(w, "DELETE FROM silver.weekly_adjusted_prices "
					  "WHERE symbol = $1 AND week_ending = ANY ($2)",
					  NIL, w->sql_deleted_weeks, SPI_OK_DELETE, "delete");
	if (w->sql_updates != NIL)
		run_sql_write(w, psprintf("UPDATE silver.weekly_adjusted_prices p SET %s "
								  "FROM %s AS u(%s, old_week) "
								  "WHERE p.symbol = $1 AND p.week_ending = u.old_week",
								  column_list(NULL, true), unnest_params(2, 1),
								  column_list("", false)),
					  w->sql_updates, w->sql_updated_weeks, SPI_OK_UPDATE, "update");
	if (w->sql_inserts != NIL)
		run_sql_write(w, psprintf("INSERT INTO silver.weekly_adjusted_prices (symbol, %s) "
								  "SELECT $1, %s FROM %s AS u(%s)",
								  column_list("", false), column_list("u.", false),
								  unnest_params(2, 0), column_list("", false)),
					  w->sql_inserts, NIL, SPI_OK_INSERT, "insert");
	MemoryContextSwitchTo(caller);
}

static Datum
basis_round(Datum value)
{
	return DirectFunctionCall2(numeric_round, value, Int32GetDatum(BASIS_SCALE));
}

/* a / b rounded to BASIS_SCALE decimals (b is not zero). */
static Datum
basis_div(Datum a, Datum b)
{
	Datum		zero = DirectFunctionCall3(numeric_in, CStringGetDatum("0.00000000000000000000"),
										   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

	StaticAssertStmt(BASIS_SCALE == 20, "the zero above has BASIS_SCALE decimals");
	/* A dividend of BASIS_SCALE decimals makes numeric_div keep at least as many. */
	return basis_round(DirectFunctionCall2(numeric_div,
										   DirectFunctionCall2(numeric_add, a, zero), b));
}

/* A row's adjusted close on the basis its factor names; false if the factor is NULL. */
static bool
on_basis(const ExistingRow *old, Datum *value)
{
	if (old->nulls[COL_BASIS_FACTOR])
		return false;
	*value = DirectFunctionCall2(numeric_mul, old->prices[PRICE_ADJUSTED_CLOSE],
								 old->values[COL_BASIS_FACTOR]);
	return true;
}

/*
 * A row the newest object does not give: its factor times the seam's ratio,
 * NULL when either is.  Values and lineage stay those of the object that
 * gave them.  Returns true if the row changed.
 */
static bool
rebase_row(WeeklyWriter *w, const ExistingRow *old, const BasisFactor *ratio)
{
	TupleTableSlot *slot = w->update_slot;
	bool		isnull = old->nulls[COL_BASIS_FACTOR] || ratio->isnull;
	Datum		factor = (Datum) 0;

	if (!isnull)
		factor = basis_round(DirectFunctionCall2(numeric_mul, old->values[COL_BASIS_FACTOR],
												 ratio->value));
	if (isnull ? old->nulls[COL_BASIS_FACTOR] :
		(!old->nulls[COL_BASIS_FACTOR] &&
		 DatumGetInt32(DirectFunctionCall2(numeric_cmp, factor, old->values[COL_BASIS_FACTOR])) == 0))
		return false;
	ExecClearTuple(slot);
	memcpy(slot->tts_values, old->values, sizeof(old->values));
	memcpy(slot->tts_isnull, old->nulls, sizeof(old->nulls));
	slot->tts_values[COL_BASIS_FACTOR] = factor;
	slot->tts_isnull[COL_BASIS_FACTOR] = isnull;
	ExecStoreVirtualTuple(slot);
	replace_row(w, old);
	w->first_changed = Min(w->first_changed, old->week_ending);
	return true;
}

/*
 * Numerics built the same way from the same value are the same bytes, which
 * is quicker to see than numeric_cmp; different bytes may still be equal
 * values (another display scale), which numeric_cmp then decides.
 */
static bool
numeric_same(Datum a, Datum b)
{
	struct varlena *x = (struct varlena *) DatumGetPointer(a);
	struct varlena *y = (struct varlena *) DatumGetPointer(b);

	if (!VARATT_IS_EXTENDED(x) || VARATT_IS_SHORT(x))
	{
		if ((!VARATT_IS_EXTENDED(y) || VARATT_IS_SHORT(y)) &&
			VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
			memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0)
			return true;
	}
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b)) == 0;
}

static bool
same_values(const ExistingRow *old, DateADT week_ending, const WeeklyRow *row,
			const Datum *prices, const BasisFactor *factor)
{
	if (old->week_ending != week_ending || old->volume != row->volume)
		return false;
	if (old->nulls[COL_BASIS_FACTOR] != factor->isnull ||
		(!factor->isnull && !numeric_same(old->values[COL_BASIS_FACTOR], factor->value)))
		return false;
	for (int i = 0; i < (int) NPRICES; i++)
		if (!numeric_same(old->prices[i], prices[i]))
			return false;
	return true;
}

static DateADT
date_of(const WeeklyRow *row)
{
	return date2j(row->week_ending.year, row->week_ending.month,
				  row->week_ending.day) - POSTGRES_EPOCH_JDATE;
}

/* A parsed row's prices as numerics, in the batch's memory. */
static void
row_prices(WeeklyWriter *w, const WeeklyRow *row, Datum *prices)
{
	MemoryContext caller = MemoryContextSwitchTo(w->batch_context);
	const char *const texts[NPRICES] = {row->open, row->high, row->low, row->close,
	row->adjusted_close, row->dividend_amount};

	StaticAssertStmt(NPRICES == WEEKLY_PRICES, "silver and the parser list the same prices");
	for (int i = 0; i < (int) NPRICES; i++)
		prices[i] = numeric_from(row, i, texts[i]);
	MemoryContextSwitchTo(caller);
}

/*
 * Writes one parsed row: inserted when old is NULL, else written over old
 * (the same key, or another key of the same week re-keyed) unless nothing
 * differs.
 */
static void
merge_row(WeeklyWriter *w, const ExistingRow *old, const WeeklyRow *row, DateADT week_ending,
		  const BasisFactor *factor, IngestCounts *counts)
{
	Datum		prices[NPRICES];

	row_prices(w, row, prices);
	if (old == NULL)
	{
		insert_row(w, row, week_ending, prices, factor);
		counts->inserted++;
		w->first_changed = Min(w->first_changed, week_ending);
	}
	else if (same_values(old, week_ending, row, prices, factor))
		counts->unchanged++;
	else
	{
		update_row(w, old, row, week_ending, prices, factor);
		counts->updated++;
		w->first_changed = Min(w->first_changed, Min(old->week_ending, week_ending));
	}
	if (w->nbuffered == 0)
		MemoryContextReset(w->batch_context);
}

/*
 * One calendar week that both the newest object and silver have: silver ends
 * with exactly the object's keys.  A key both have is merged; a key of the
 * object that silver lacks takes over a row of silver's other keys in that
 * week (the partial newest week becomes the closed week); keys of silver
 * left over are removed, so a stale partial key goes, while a mid-week key
 * that the object still gives stays.
 */
static void
merge_week(WeeklyWriter *w, ExistingRow *old, int nold, const WeeklyRow *rows,
		   const DateADT *dates, int nrows, IngestCounts *counts)
{
	int			target[8];
	bool		used[8] = {false};
	int			next = 0;
	BasisFactor one = {w->one, false};

	/* A week has at most seven keys; the parser keeps them distinct. */
	Assert(nold <= 7 && nrows <= 7);
	for (int r = 0; r < nrows; r++)
	{
		target[r] = -1;
		for (int k = 0; k < nold; k++)
			if (!used[k] && old[k].week_ending == dates[r])
			{
				target[r] = k;
				used[k] = true;
				break;
			}
	}
	for (int r = 0; r < nrows; r++)
	{
		if (target[r] >= 0)
			continue;
		while (next < nold && used[next])
			next++;
		if (next < nold)
		{
			target[r] = next;
			used[next] = true;
		}
	}
	for (int r = 0; r < nrows; r++)
		merge_row(w, target[r] >= 0 ? &old[target[r]] : NULL, &rows[r], dates[r], &one, counts);
	for (int k = 0; k < nold; k++)
		if (!used[k])
		{
			delete_row(w, &old[k]);
			counts->updated++;
		}
}

/*
 * The ratio that rebases at the seam, the oldest key that silver and the
 * object both have with an adjusted close above zero on both sides and a
 * factor in silver: for a newer object, its adjusted close over silver's on
 * silver's basis there (for the rows it does not give); for an older one, the
 * inverse (for the weeks it adds).  NULL when there is no such key.
 */
static BasisFactor
seam_ratio(const ExistingRow *existing, int nexisting, const WeeklySeries *series,
		   const DateADT *dates, bool older)
{
	BasisFactor ratio = {(Datum) 0, true};
	Datum		zero = DirectFunctionCall3(numeric_in, CStringGetDatum("0"),
										   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	int			e = 0;

	for (size_t i = 0; i < series->nrows; i++)
	{
		const WeeklyRow *row = &series->rows[i];
		Datum		adjusted;
		Datum		old_basis;

		while (e < nexisting && existing[e].week_ending < dates[i])
			e++;
		if (e == nexisting)
			break;
		if (existing[e].week_ending != dates[i])
			continue;
		adjusted = numeric_from(row, PRICE_ADJUSTED_CLOSE, row->adjusted_close);
		if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, adjusted, zero)) <= 0 ||
			DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											  existing[e].prices[PRICE_ADJUSTED_CLOSE], zero)) <= 0)
			continue;
		if (!on_basis(&existing[e], &old_basis))
			continue;
		ratio.value = older ? basis_div(old_basis, adjusted) : basis_div(adjusted, old_basis);
		ratio.isnull = false;
		break;
	}
	return ratio;
}

/* The order of objects: the data's own date, then the fetch time. */
static bool
newer_than(Timestamp a_refreshed, TimestampTz a_fetched, Timestamp b_refreshed,
		   TimestampTz b_fetched)
{
	return a_refreshed > b_refreshed || (a_refreshed == b_refreshed && a_fetched > b_fetched);
}

void
silver_ingest_weekly(const char *key, const char *symbol, TimestampTz fetched_at,
					 const WeeklySeries *series, IngestCounts *counts)
{
	WeeklyWriter w;
	ExistingRow *existing;
	int			nexisting;
	int			e = 0;
	size_t		i = 0;
	bool		older = false;
	Timestamp	refreshed = (Timestamp) (series->as_of - SECS_PER_DAY * (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)) * USECS_PER_SEC;
	DateADT    *dates = palloc(sizeof(DateADT) * Max(series->nrows, 1));
	BasisFactor ratio;
	BasisFactor one;

	advisory_xact_lock(ADVISORY_LOCK_CLASS, symbol_lock_id(symbol));
	writer_open(&w, key, symbol, fetched_at, refreshed);
	one.value = w.one;
	one.isnull = false;
	existing = read_existing(&w, &nexisting);
	for (size_t r = 0; r < series->nrows; r++)
		dates[r] = date_of(&series->rows[r]);

	/*
	 * An object older than the newest one that changed these rows only fills
	 * calendar weeks that are missing: a week a newer fetch left unchanged
	 * still has an older lineage, yet the newer fetch confirmed its values.
	 * A row written by SQL without a date counts as older than any object.
	 */
	for (int r = 0; r < nexisting && !older; r++)
	{
		Timestamp	row_refreshed = existing[r].nulls[COL_LAST_REFRESHED] ? DT_NOBEGIN :
			DatumGetTimestamp(existing[r].values[COL_LAST_REFRESHED]);

		older = newer_than(row_refreshed, DatumGetTimestampTz(existing[r].values[COL_FETCHED_AT]),
						   refreshed, fetched_at);
	}
	ratio = seam_ratio(existing, nexisting, series, dates, older);

	/* Both lists are oldest first: walk them together, calendar week by week. */
	while (i < series->nrows || e < nexisting)
	{
		int32		week = Min(i < series->nrows ? week_of(dates[i]) : PG_INT32_MAX,
							   e < nexisting ? existing[e].week : PG_INT32_MAX);
		size_t		i_end = i;
		int			e_end = e;

		while (i_end < series->nrows && week_of(dates[i_end]) == week)
			i_end++;
		while (e_end < nexisting && existing[e_end].week == week)
			e_end++;
		if (i_end == i)
		{
			/* A week only silver has: on the newest object's basis from now on. */
			for (int k = e; k < e_end && !older; k++)
				if (rebase_row(&w, &existing[k], &ratio))
					counts->updated++;
		}
		else if (e_end == e)
		{
			/* A week only the object has: an older object's rows take the seam's ratio. */
			for (size_t r = i; r < i_end; r++)
				merge_row(&w, NULL, &series->rows[r], dates[r], older ? &ratio : &one, counts);
		}
		else if (older)
			counts->unchanged += i_end - i; /* a newer object has the say */
		else
			merge_week(&w, &existing[e], e_end - e, &series->rows[i], &dates[i],
					   (int) (i_end - i), counts);
		i = i_end;
		e = e_end;
		CHECK_FOR_INTERRUPTS();
	}
	flush_inserts(&w);
	if (w.distributed)
		write_sql(&w);
	writer_close(&w);
	if (!DATE_NOT_FINITE(w.first_changed))
		goldlog_note_change(symbol, w.first_changed);
}

/* Listings are few: plain SQL keeps this path simple. */
void
silver_ingest_symbols(const char *key, const char *source, TimestampTz fetched_at,
					  const SymbolList *list, IngestCounts *counts)
{
	Oid			types[15];
	Datum		values[15];
	char		nulls[15];

	for (int i = 0; i < 15; i++)
		types[i] = TEXTOID;
	types[13] = TIMESTAMPTZOID;

	/* Plain SQL writes any layout stockelt supports; the others are refused. */
	(void) cluster_silver_distributed();
	/* Row locks of silver.symbols are taken in the listing's order: one writer at a time. */
	advisory_xact_lock(LISTINGS_LOCK_CLASS, 0);

	SPI_connect();
	for (size_t i = 0; i < list->count; i++)
	{
		const SymbolInfo *s = &list->items[i];
		const char *fields[13] = {s->symbol, s->name, s->asset_type, s->exchange, s->region,
			s->country, s->currency, s->timezone, s->market_open, s->market_close,
		s->sector, s->industry, key};

		for (int f = 0; f < 13; f++)
		{
			values[f] = fields[f] ? CStringGetTextDatum(fields[f]) : (Datum) 0;
			nulls[f] = fields[f] ? ' ' : 'n';
		}
		values[13] = TimestampTzGetDatum(fetched_at);
		nulls[13] = ' ';
		values[14] = CStringGetTextDatum(source);
		nulls[14] = ' ';
		if (SPI_execute_with_args("SELECT stockelt._upsert_symbol($1, $2, $3, $4, $5, $6, $7, $8, "
								  "$9, $10, $11, $12, $13, $14, $15)",
								  15, types, values, nulls, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not upsert symbol \"%s\"", s->symbol);
		if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "inserted") == 0)
			counts->inserted++;
		else if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "updated") == 0)
			counts->updated++;
		else
			counts->unchanged++;
	}
	SPI_finish();
}
