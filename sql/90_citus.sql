-- Scaling out on Citus: the one layout stockelt supports on a cluster (README "Scaling out on
-- Citus").  Nothing here needs Citus until stockelt_distribute() is called; src/cluster.c
-- reads the layout at each ingest and refuses any other one.

-- Silver distributed by symbol and co-located (each symbol's rows in one shard, written through
-- SQL that Citus routes there), gold's facts, corporate actions and the refresh's scratch
-- tables with it, the dimensions of gold reference tables, and stockelt's own
-- tables (bronze, the catalog, the change log, the queue, the calendars) left local to the
-- coordinator, where the one rate limiter runs.  stockelt's triggers on silver are dropped:
-- on a distributed table they would fire on the workers and record changes there; stockelt's
-- ingest records its changes on the coordinator itself.  Called again, it changes nothing.
-- It runs with the caller's rights: the owner of the tables (the extension's owner) calls it.
CREATE FUNCTION @extschema@.stockelt_distribute() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	node_group integer;
	t record;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RAISE EXCEPTION 'citus is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Load citus first in shared_preload_libraries, CREATE EXTENSION citus, '
						 'add the workers with citus_add_node(), then call stockelt_distribute().';
	END IF;
	EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO node_group;
	IF node_group <> 0 THEN
		RAISE EXCEPTION 'stockelt does not write on a worker node of a Citus cluster'
			USING ERRCODE = 'SE301',
				  DETAIL = pg_catalog.format('This database is in the node group %s; stockelt''s '
						   'catalog, change log, job queue and rate limiter are those of the '
						   'coordinator (group 0).', node_group),
				  HINT = 'Call stockelt''s functions on the coordinator.';
	END IF;
	FOR t IN EXECUTE 'SELECT c.relname FROM pg_catalog.pg_dist_partition p '
		'JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid '
		'WHERE c.relnamespace = ''stockelt''::regnamespace AND c.relname !~ ''^_'' ORDER BY 1'
	LOOP
		RAISE EXCEPTION 'stockelt.% is a Citus table', t.relname
			USING ERRCODE = 'SE300',
				  DETAIL = 'stockelt''s catalog, change log, job queue and rate limiter stay '
						   'local to the coordinator.',
				  HINT = 'Lay stockelt''s tables out with stockelt_distribute() alone; Citus cannot '
						 'make a table of an extension local again, so restore a copy of the '
						 'database from before the change.';
	END LOOP;
	FOR t IN EXECUTE 'SELECT c.relname, p.partmethod::text AS method, '
		'CASE WHEN p.partkey IS NOT NULL '
		'THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END AS column_name '
		'FROM pg_catalog.pg_dist_partition p '
		'JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid '
		'WHERE c.relnamespace = ''silver''::regnamespace ORDER BY 1'
	LOOP
		IF t.method <> 'h' OR t.column_name IS DISTINCT FROM 'symbol' THEN
			RAISE EXCEPTION 'silver.% is not distributed by symbol', t.relname
				USING ERRCODE = 'SE300',
					  DETAIL = 'stockelt writes a symbol''s rows in one shard.',
					  HINT = 'Lay silver out with stockelt_distribute() alone; Citus cannot make a '
							 'table of an extension local again, so restore a copy of the database '
							 'from before the change.';
		END IF;
	END LOOP;

	FOR t IN SELECT tg.tgname, tg.tgrelid::regclass AS rel
			   FROM pg_catalog.pg_trigger tg
			   JOIN pg_catalog.pg_proc f ON f.oid = tg.tgfoid
			   JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
			  WHERE c.relnamespace = 'silver'::regnamespace AND NOT tg.tgisinternal
				AND f.pronamespace = 'stockelt'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
	END LOOP;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
				   WHERE logicalrelid = 'silver.weekly_adjusted_prices'::regclass) THEN
		PERFORM pg_catalog.create_distributed_table('silver.weekly_adjusted_prices', 'symbol');
		PERFORM pg_catalog.truncate_local_data_after_distributing_table('silver.weekly_adjusted_prices');
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
				   WHERE logicalrelid = 'silver.symbols'::regclass) THEN
		PERFORM pg_catalog.create_distributed_table('silver.symbols', 'symbol',
			colocate_with => 'silver.weekly_adjusted_prices');
		PERFORM pg_catalog.truncate_local_data_after_distributing_table('silver.symbols');
	END IF;
	-- Gold's facts and corporate actions, and the refresh's scratch tables, by symbol with
	-- silver: each stock's gold rows are computed and kept in the shard of its silver rows.
	FOR t IN SELECT r::regclass AS rel
			   FROM pg_catalog.unnest(ARRAY['gold.fact_weekly_prices', 'gold.corporate_actions',
											'stockelt._gold_dirty', 'stockelt._gold_new']) AS r
			  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
								WHERE logicalrelid = r::regclass)
	LOOP
		PERFORM pg_catalog.create_distributed_table(t.rel, 'symbol',
			colocate_with => 'silver.weekly_adjusted_prices');
		PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.rel);
	END LOOP;
	FOR t IN SELECT r::regclass AS rel
			   FROM pg_catalog.unnest(ARRAY['gold.dim_date', 'gold.dim_trading_day',
											'gold.dim_stock']) AS r
			  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
								WHERE logicalrelid = r::regclass)
	LOOP
		PERFORM pg_catalog.create_reference_table(t.rel);
		PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.rel);
	END LOOP;
	-- the weekly answers joined on (stock_key, symbol): a query of one symbol reads one shard
	PERFORM stockelt._create_weekly_answers(true);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_distribute() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_distribute() IS
	'On a Citus coordinator: distributes silver and gold''s facts by symbol (co-located), makes gold''s dimensions reference tables, keeps stockelt''s own tables local.';
