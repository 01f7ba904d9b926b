/*
 * cluster.c
 *		Citus: whether silver is distributed, and refusals of the layouts and
 *		nodes stockelt cannot write to without losing rows or changes.
 *
 * Citus keeps its metadata in catalog tables of its own (pg_dist_partition,
 * pg_dist_local_group), which exist only in a database where the extension
 * is created; stockelt reads them by name through SPI and needs nothing of
 * Citus to build or load.  A database without them is a single node, told at
 * the cost of one catalog cache look-up, so silver's writer keeps its path
 * below SQL there.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "errcodes.h"
#include "cluster.h"

/* What a transaction learnt; forgotten at its end and at any relcache invalidation. */
typedef enum KnownState
{
	STATE_UNKNOWN,
	STATE_NO,
	STATE_YES
} KnownState;

static KnownState silver_distributed = STATE_UNKNOWN;
static KnownState is_coordinator = STATE_UNKNOWN;

static void
forget_state(void)
{
	silver_distributed = STATE_UNKNOWN;
	is_coordinator = STATE_UNKNOWN;
}

static void
forget_at_xact_end(XactEvent event, void *arg)
{
	forget_state();
}

static void
forget_at_invalidation(Datum arg, Oid relid)
{
	forget_state();
}

static void
register_callbacks(void)
{
	static bool registered = false;

	if (registered)
		return;
	RegisterXactCallback(forget_at_xact_end, NULL);
	CacheRegisterRelcacheCallback(forget_at_invalidation, (Datum) 0);
	registered = true;
}

/* Whether Citus's metadata is in this database: a catalog cache look-up, no SQL. */
static bool
citus_present(void)
{
	return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)) &&
		OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE));
}

/* Runs a query of the catalog inside the caller's SPI connection. */
static void
catalog_query(const char *sql)
{
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata: %s", sql);
}

static void
check_coordinator(void)
{
	bool		isnull;
	int32		group;

	catalog_query("SELECT groupid FROM pg_catalog.pg_dist_local_group");
	if (SPI_processed != 1)
		return;
	group = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (!isnull && group != 0)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_CITUS_WORKER),
				 errmsg("stockelt does not write on a worker node of a Citus cluster"),
				 errdetail("This database is in the node group %d; stockelt's catalog, change log, "
						   "job queue and rate limiter are those of the coordinator (group 0).",
						   group),
				 errhint("Call stockelt's functions on the coordinator.")));
}

/* How a Citus table is laid out, for an error's detail. */
static char *
describe_layout(char method, char model, const char *column)
{
	if (method == 'h' && column != NULL)
		return psprintf("distributed by column \"%s\"", column);
	if (method == 'n' && model == 't')
		return pstrdup("a reference table");
	if (method == 'n')
		return pstrdup("a local table in Citus's metadata");
	return psprintf("distributed with method '%c'", method);
}

/* One row of the layout query: schema, table, method, model, column, co-location group. */
typedef struct CitusTable
{
	char	   *schema;
	char	   *table;
	char		method;
	char		model;
	char	   *column;
	int32		colocation;
} CitusTable;

static void
read_row(int i, CitusTable *t)
{
	HeapTuple	row = SPI_tuptable->vals[i];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	char	   *method = SPI_getvalue(row, desc, 3);
	char	   *model = SPI_getvalue(row, desc, 4);
	char	   *colocation = SPI_getvalue(row, desc, 6);

	t->schema = SPI_getvalue(row, desc, 1);
	t->table = SPI_getvalue(row, desc, 2);
	t->method = method ? method[0] : '?';
	t->model = model ? model[0] : '?';
	t->column = SPI_getvalue(row, desc, 5);
	t->colocation = colocation ? atoi(colocation) : -1;
}

/* A silver table must be distributed by symbol, or not be a Citus table at all. */
static void
require_by_symbol(const CitusTable *t)
{
	if (t->method == 'h' && t->column != NULL && strcmp(t->column, "symbol") == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_STOCKELT_CITUS_LAYOUT),
			 errmsg("silver.%s is not distributed by symbol", t->table),
			 errdetail("It is %s; stockelt writes a symbol's rows in one shard.",
					   describe_layout(t->method, t->model, t->column)),
			 errhint("Lay silver out with stockelt_distribute() alone; Citus cannot make a table of "
					 "an extension local again, so restore a copy of the database from before the change.")));
}

/*
 * Triggers of stockelt's on a distributed table fire on the workers, which
 * would record changes in their own catalogs, never the coordinator's.
 */
static void
require_no_triggers(void)
{
	catalog_query("SELECT t.tgname FROM pg_catalog.pg_trigger t "
				  "JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid "
				  "JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace "
				  "JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
				  "JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace "
				  "WHERE cn.nspname = 'silver' AND NOT t.tgisinternal AND n.nspname = 'stockelt' "
				  "ORDER BY 1 LIMIT 1");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_CITUS_LAYOUT),
				 errmsg("silver is distributed with stockelt's trigger \"%s\" still on it",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("On a distributed table it would fire on the workers and record "
						   "changes there, not on the coordinator."),
				 errhint("Call stockelt_distribute(), which drops stockelt's triggers on silver.")));
}

/*
 * Reads the layout: stockelt's own tables stay local (those whose names begin
 * with an underscore are a refresh's scratch tables, which may be
 * distributed), and silver is either local or distributed by symbol, its
 * tables co-located.
 */
static bool
read_silver_layout(void)
{
	CitusTable	prices = {0};
	CitusTable	symbols = {0};

	catalog_query("SELECT n.nspname, c.relname, p.partmethod, p.repmodel, "
				  "CASE WHEN p.partkey IS NOT NULL "
				  "THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END, "
				  "p.colocationid "
				  "FROM pg_catalog.pg_dist_partition p "
				  "JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid "
				  "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
				  "WHERE n.nspname IN ('stockelt', 'silver') ORDER BY 1, 2");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		CitusTable	t;

		read_row((int) i, &t);
		if (strcmp(t.schema, "stockelt") == 0 && t.table[0] != '_')
			ereport(ERROR,
					(errcode(ERRCODE_STOCKELT_CITUS_LAYOUT),
					 errmsg("stockelt.%s is a Citus table", t.table),
					 errdetail("It is %s; stockelt's catalog, change log, job queue and rate "
							   "limiter stay local to the coordinator.",
							   describe_layout(t.method, t.model, t.column)),
					 errhint("Lay stockelt's tables out with stockelt_distribute() alone; Citus cannot make "
							 "a table of an extension local again, so restore a copy of the database "
							 "from before the change.")));
		if (strcmp(t.schema, "silver") == 0 && strcmp(t.table, "weekly_adjusted_prices") == 0)
			prices = t;
		else if (strcmp(t.schema, "silver") == 0 && strcmp(t.table, "symbols") == 0)
			symbols = t;
	}
	if (prices.table != NULL)
		require_by_symbol(&prices);
	if (symbols.table != NULL)
		require_by_symbol(&symbols);
	if (prices.table != NULL && symbols.table != NULL && prices.colocation != symbols.colocation)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_CITUS_LAYOUT),
				 errmsg("silver.symbols is not co-located with silver.weekly_adjusted_prices"),
				 errhint("Lay silver out with stockelt_distribute() alone, which co-locates its tables.")));
	if (prices.table == NULL && symbols.table != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_CITUS_LAYOUT),
				 errmsg("silver.symbols is distributed but silver.weekly_adjusted_prices is not"),
				 errhint("Call stockelt_distribute(), which distributes both by symbol.")));
	if (prices.table != NULL)
		require_no_triggers();
	return prices.table != NULL;
}

bool
cluster_silver_distributed(void)
{
	if (silver_distributed != STATE_UNKNOWN)
		return silver_distributed == STATE_YES;
	if (!citus_present())
		return false;
	register_callbacks();
	SPI_connect();
	check_coordinator();
	is_coordinator = STATE_YES;
	silver_distributed = read_silver_layout() ? STATE_YES : STATE_NO;
	SPI_finish();
	return silver_distributed == STATE_YES;
}

void
cluster_require_coordinator(void)
{
	if (is_coordinator == STATE_YES || !citus_present())
		return;
	register_callbacks();
	SPI_connect();
	check_coordinator();
	SPI_finish();
	is_coordinator = STATE_YES;
}
