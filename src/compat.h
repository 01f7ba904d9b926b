/*
 * compat.h
 *		What differs between the PostgreSQL versions stockelt builds against
 *		(15, 17 and 18), each difference named once so callers read the same.
 *
 * The executor and relcache calls silver's writer makes below SQL and the
 * worker's own process number changed; the rest of the API is the same.
 */
#ifndef STOCKELT_COMPAT_H
#define STOCKELT_COMPAT_H

#include "access/tableam.h"
#include "executor/executor.h"
#include "nodes/bitmapset.h"
#include "parser/parse_relation.h"
#include "storage/proc.h"
#include "utils/relcache.h"
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#endif

/* 17 replaced PGPROC's pgprocno by MyProcNumber, an index into the same array. */
#if PG_VERSION_NUM >= 170000
#define COMPAT_MY_PROC_NUMBER MyProcNumber
#else
#define COMPAT_MY_PROC_NUMBER (MyProc->pgprocno)
#endif

/*
 * 16 made simple_table_tuple_update say which indexes need new entries: none,
 * all, or only the summarizing ones (BRIN) when no other indexed column changed.
 */
#if PG_VERSION_NUM >= 160000
typedef TU_UpdateIndexes CompatUpdateIndexes;
#define COMPAT_UPDATE_INDEXES_NONE TU_None
#define COMPAT_ONLY_SUMMARIZING(u) ((u) == TU_Summarizing)
#else
typedef bool CompatUpdateIndexes;
#define COMPAT_UPDATE_INDEXES_NONE false
#define COMPAT_ONLY_SUMMARIZING(u) false
#endif

/* 16 added ExecInsertIndexTuples' onlySummarizing. */
static inline List *
compat_insert_index_tuples(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate,
						   bool update, bool only_summarizing)
{
#if PG_VERSION_NUM >= 160000
	return ExecInsertIndexTuples(rri, slot, estate, update, false, NULL, NIL, only_summarizing);
#else
	Assert(!only_summarizing);
	return ExecInsertIndexTuples(rri, slot, estate, update, false, NULL, NIL);
#endif
}

/* 18 asks whether a deferrable primary key will do; silver's keys are immediate. */
#if PG_VERSION_NUM >= 180000
#define compat_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define compat_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * 16 moved what the executor knows of a relation's permissions out of its
 * range table entry into a list of its own, which it also reads for the
 * updated columns an index insert asks about (none are named, as in 15);
 * 18 adds the entries left after partition pruning: all of them.
 */
static inline void
compat_init_range_table(EState *estate, List *range_table)
{
#if PG_VERSION_NUM >= 160000
	List	   *perminfos = NIL;
	ListCell   *lc;

	foreach(lc, range_table)
		addRTEPermissionInfo(&perminfos, lfirst_node(RangeTblEntry, lc));
#endif
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, range_table, perminfos,
					   bms_add_range(NULL, 1, list_length(range_table)));
#elif PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, range_table, perminfos);
#else
	ExecInitRangeTable(estate, range_table);
#endif
}

#endif							/* STOCKELT_COMPAT_H */
