/*
 * goldlog.c
 *		Gold's change log: silver's ingests write it, stockelt_refresh_gold
 *		(SQL) consumes it.
 *
 * An ingest and a refresh take turns on the table's lock, so a refresh never
 * consumes a change it cannot see yet.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"

#include "goldlog.h"

void
goldlog_note_change(const char *symbol, DateADT from_week)
{
	Datum		values[2] = {CStringGetTextDatum(symbol), DateADTGetDatum(from_week)};
	Oid			types[2] = {TEXTOID, DATEOID};

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO stockelt.gold_pending AS p (symbol, from_week) "
							  "VALUES ($1, $2) ON CONFLICT (symbol) "
							  "DO UPDATE SET from_week = least(p.from_week, excluded.from_week)",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the change of \"%s\" for gold", symbol);
	SPI_finish();
}

void
goldlog_lock(void)
{
	(void) RangeVarGetRelid(makeRangeVar("stockelt", "gold_pending", -1), RowExclusiveLock,
							false);
}
