/*
 * silver.h
 *		Parsed payloads into the silver tables, writing only what changed.
 */
#ifndef STOCKELT_SILVER_H
#define STOCKELT_SILVER_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "parse.h"

typedef struct IngestCounts
{
	int64		inserted;
	int64		updated;
	int64		unchanged;
} IngestCounts;

/*
 * Upserts one object's weekly series for a symbol.  A row changes only when
 * its values differ and the object is at least as new as every row of the
 * symbol (by the data's own date, then the fetch time); an older object only
 * adds calendar weeks that are missing.  In a calendar week the object gives,
 * silver ends with exactly its keys: the partial newest week is re-keyed, a
 * key the object no longer gives is removed.  Rows it does not give are
 * rebased onto its adjustment basis (basis_factor).  Records the oldest
 * changed week in stockelt.gold_pending for the next gold refresh.
 */
extern void silver_ingest_weekly(const char *key, const char *symbol,
								 TimestampTz fetched_at, const WeeklySeries *series,
								 IngestCounts *counts);

/*
 * Takes the locks that ingests of weekly objects of these symbols, and of
 * listings, need, in the one order every ingest takes them; call before
 * writing anything.
 */
extern void silver_lock_objects(List *weekly_symbols, bool listings);

/* Upserts listings from OVERVIEW or SYMBOL_SEARCH into silver.symbols. */
extern void silver_ingest_symbols(const char *key, const char *source,
								  TimestampTz fetched_at, const SymbolList *list,
								  IngestCounts *counts);

#endif							/* STOCKELT_SILVER_H */
