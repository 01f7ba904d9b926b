-- Secrets and network targets are for superusers only.
CREATE ROLE analyst LOGIN;
GRANT USAGE ON SCHEMA stockelt TO analyst;
GRANT SELECT ON stockelt.bronze_objects TO analyst;

SET ROLE analyst;
-- PostgreSQL 16 reworded its refusal; the SQLSTATE and the setting it names stay.
SELECT statement, split_part(error, ':', 1) AS sqlstate, error LIKE '%"' || setting || '"' AS names_it
  FROM (VALUES ('SHOW stockelt.api_key_file', 'stockelt.api_key_file'),
			   ('SHOW stockelt.api_base_url', 'stockelt.api_base_url'),
			   ('SHOW stockelt.s3_endpoint', 'stockelt.s3_endpoint'),
			   ('SHOW stockelt.s3_access_key_id', 'stockelt.s3_access_key_id'),
			   ('SHOW stockelt.s3_secret_access_key_file', 'stockelt.s3_secret_access_key_file'),
			   ($$SELECT current_setting('stockelt.api_key_file')$$, 'stockelt.api_key_file')) s(statement, setting),
	   LATERAL expect_error(statement) error;
SELECT name FROM pg_settings WHERE name LIKE 'stockelt.%' ORDER BY 1;
SELECT count(*) AS show_all_secret_rows FROM (SELECT * FROM pg_show_all_settings()) s
 WHERE name IN ('stockelt.api_key_file', 'stockelt.api_base_url', 'stockelt.s3_endpoint',
				'stockelt.s3_access_key_id', 'stockelt.s3_secret_access_key_file');
SELECT expect_error($$SET stockelt.api_base_url = 'http://127.0.0.1:9/query'$$);
SELECT expect_error($$SET stockelt.api_key_file = '/tmp/mine'$$);
-- Network functions are not executable by PUBLIC.
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
SELECT expect_error($$SELECT stockelt_bronze_read('x')$$);
SELECT expect_error($$SELECT * FROM stockelt_bronze_list('')$$);
-- The trading calendar is for everyone who may use the schema.
SELECT count(*) AS holidays_2024, bool_or(name = 'Juneteenth') AS has_juneteenth
  FROM stockelt.market_holidays(2024);
RESET ROLE;

SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stockelt'
 ORDER BY 1;

-- The README's GRANT lets a role fetch.
GRANT EXECUTE ON FUNCTION stockelt_fetch(text) TO analyst;
SET ROLE analyst;
SELECT stockelt_fetch('IBM') LIKE 'alphavantage/%' AS analyst_fetched;
RESET ROLE;

-- The key is in no catalog row, no key, no error.
SELECT count(*) AS catalog_rows_with_key FROM stockelt.bronze_objects o
 WHERE strpos(row_to_json(o)::text, btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n')) > 0;
\! "$PG_ABS_SRCDIR/standinctl" next 'message=invalid_apikey&count=2'
SELECT strpos(expect_error($$SELECT stockelt_fetch('IBM')$$) || error_detail($$SELECT stockelt_fetch('IBM')$$),
			  btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n')) AS key_in_error;
SET stockelt.api_base_url = 'http://127.0.0.1:1/query';
SELECT strpos(error_detail($$SELECT stockelt_fetch('IBM')$$), btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n')) AS key_in_transport_error;
RESET stockelt.api_base_url;

-- With no key at all, the error says how to configure one, before any call.
\! "$PG_ABS_SRCDIR/standinctl" reset
SET stockelt.api_key_file = '';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.api_key_file;
\set calls `"$PG_ABS_SRCDIR/standinctl" count`
SELECT :calls AS api_calls_without_key;

REVOKE ALL ON FUNCTION stockelt_fetch(text) FROM analyst;
REVOKE ALL ON stockelt.bronze_objects FROM analyst;
REVOKE ALL ON SCHEMA stockelt FROM analyst;
DROP ROLE analyst;

-- ==========================================================================================
-- A role with exactly the README's grants (both recipes of "Granting access") and the TEMP
-- privilege every role has attacks every function it may call.  The SECURITY DEFINER functions
-- run as the extension's owner: they must run nothing this role can create.  It also gets a
-- schema of its own, more than the grants give, so the attack is only stronger.  Everything
-- runs in one transaction, checked before it is rolled back, so later suites see nothing of it.
-- ==========================================================================================
-- Sequences do not roll back: their values are given back afterwards.
CREATE TEMP TABLE sequences_before AS
SELECT c.oid::regclass AS seq, pg_sequence_last_value(c.oid) AS last_value
  FROM pg_class c WHERE c.relkind = 'S'
   AND c.relnamespace IN ('stockelt'::regnamespace, 'silver'::regnamespace, 'gold'::regnamespace);
BEGIN;
SELECT current_setting('stockelt.api_base_url') AS base_url_before \gset
CREATE ROLE stockelt_etl;
-- The README's recipe, as written, for this role.
\! "$PG_ABS_SRCDIR/readme_grants.sh" stockelt_etl > "$STOCKELT_TEST_WORK/grants_stockelt_etl.sql"
\set grants_file `echo "$STOCKELT_TEST_WORK/grants_stockelt_etl.sql"`
\i :grants_file
CREATE SCHEMA attack AUTHORIZATION stockelt_etl;

SET ROLE stockelt_etl;
-- The payload: run as anyone but this role, it records that, reads the API key, points the
-- API at its own listener and makes this role a superuser.
CREATE TABLE attack.ran (object text, run_as text, read_key boolean);
CREATE FUNCTION attack.payload(object text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF current_user <> 'stockelt_etl' THEN
		IF NOT EXISTS (SELECT FROM attack.ran r WHERE r.object = payload.object) THEN
			RAISE WARNING 'attack through % ran as the extension''s owner', object;
		END IF;
		INSERT INTO attack.ran VALUES (object, current_user,
									   length(pg_read_file(current_setting('stockelt.api_key_file'))) > 0);
		PERFORM set_config('stockelt.api_base_url', 'http://127.0.0.1:9/stolen', false);
		EXECUTE 'ALTER ROLE stockelt_etl SUPERUSER';
	END IF;
	RETURN true;
END
$$;
CREATE FUNCTION attack.payload_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	PERFORM attack.payload(format('%s trigger on %s.%s', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME));
	RETURN NULL;
END
$$;
-- A table whose every write (and TRUNCATE) runs the payload.
CREATE FUNCTION attack.arm(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	EXECUTE format('CREATE TRIGGER armed AFTER INSERT OR UPDATE OR DELETE ON %s '
				   'FOR EACH STATEMENT EXECUTE FUNCTION attack.payload_trigger()', tbl);
	EXECUTE format('CREATE TRIGGER armed_truncate AFTER TRUNCATE ON %s '
				   'FOR EACH STATEMENT EXECUTE FUNCTION attack.payload_trigger()', tbl);
END
$$;

-- 1. The refresh's old scratch tables, created first, shaped as it made them, with triggers on
--    every write and defaults that run the payload.
CREATE TEMP TABLE _gold_dirty (
	symbol text PRIMARY KEY, from_week date, stock_key integer, pass integer,
	ctx_from date DEFAULT CASE WHEN attack.payload('_gold_dirty default') THEN NULL::date END,
	first_week date, first_adjusted numeric, last_week date, last_partial boolean);
CREATE TEMP TABLE _gold_new (LIKE gold.fact_weekly_prices);
ALTER TABLE _gold_new ADD COLUMN split_numerator numeric, ADD COLUMN split_denominator numeric,
	ADD COLUMN jump double precision,
	ADD CHECK (attack.payload('_gold_new check'));
SELECT attack.arm('pg_temp._gold_dirty'), attack.arm('pg_temp._gold_new');
INSERT INTO _gold_dirty (symbol) VALUES ('PLANTED');

-- 2. Every relation name the function bodies use, as a temporary view that runs the payload when
--    read (and cannot be written), and the same names in the role's own schema, placed first on
--    its search_path.
DO $$
DECLARE
	name text;
BEGIN
	FOREACH name IN ARRAY ARRAY['bronze_objects', 'bronze_bodies', 'silver_objects', 'symbols',
		'weekly_adjusted_prices', 'gold_pending', 'market_closures', 'dim_date', 'dim_stock',
		'fact_weekly_prices', 'corporate_actions', 'gold_refreshes', 'jobs', 'job_batches',
		'watchlist', 'changed_new', 'changed_old', '_gold_dirty', '_gold_new']
	LOOP
		IF to_regclass('pg_temp.' || name) IS NULL THEN
			EXECUTE format('CREATE TEMP VIEW %I AS SELECT 1 AS planted WHERE attack.payload(%L)',
						   name, 'pg_temp.' || name);
		END IF;
		EXECUTE format('CREATE VIEW attack.%I AS SELECT 1 AS planted WHERE attack.payload(%L)',
					   name, 'attack.' || name);
	END LOOP;
END
$$;

-- 3. Functions and operators the bodies call, in the role's schema and in pg_temp: each runs
--    the payload and then does what the real one does.
CREATE FUNCTION attack.now() RETURNS timestamptz LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.now() WHERE attack.payload('attack.now()') $$;
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.now() WHERE attack.payload('pg_temp.now()') $$;
CREATE FUNCTION attack.upper(text) RETURNS text LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.upper($1) WHERE attack.payload('attack.upper(text)') $$;
CREATE FUNCTION pg_temp.upper(text) RETURNS text LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.upper($1) WHERE attack.payload('pg_temp.upper(text)') $$;
CREATE FUNCTION attack.nextval(regclass) RETURNS bigint LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.nextval($1) WHERE attack.payload('attack.nextval(regclass)') $$;
CREATE FUNCTION attack.starts_with(text, text) RETURNS boolean LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.starts_with($1, $2) WHERE attack.payload('attack.starts_with(text, text)') $$;
CREATE FUNCTION attack.to_char(date, text) RETURNS text LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.to_char($1, $2) WHERE attack.payload('attack.to_char(date, text)') $$;
CREATE FUNCTION attack.text_eq(text, text) RETURNS boolean LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.texteq($1, $2) AND attack.payload('= (text, text)') $$;
CREATE FUNCTION attack.text_nomatch(text, text) RETURNS boolean LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.textregexne($1, $2) AND attack.payload('!~ (text, text)') $$;
CREATE FUNCTION attack.date_lt(date, date) RETURNS boolean LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.date_lt($1, $2) AND attack.payload('< (date, date)') $$;
CREATE OPERATOR attack.= (LEFTARG = text, RIGHTARG = text, FUNCTION = attack.text_eq);
CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = attack.text_eq);
CREATE OPERATOR attack.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = attack.text_nomatch);
CREATE OPERATOR pg_temp.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = attack.text_nomatch);
CREATE OPERATOR attack.< (LEFTARG = date, RIGHTARG = date, FUNCTION = attack.date_lt);
CREATE OPERATOR pg_temp.< (LEFTARG = date, RIGHTARG = date, FUNCTION = attack.date_lt);

-- The extension's schemas take no objects from this role, and its scratch tables no trigger.
SELECT expect_error('CREATE TABLE stockelt.planted (symbol text)');
SELECT expect_error($$CREATE TRIGGER armed AFTER INSERT ON stockelt._gold_dirty
					  FOR EACH STATEMENT EXECUTE FUNCTION attack.payload_trigger()$$);
SELECT expect_error($$INSERT INTO stockelt._gold_new (stock_key) VALUES (1)$$);
SELECT expect_error('CREATE FUNCTION silver.now() RETURNS timestamptz LANGUAGE sql AS $f$ SELECT pg_catalog.now() $f$');
SELECT expect_error('CREATE VIEW gold.jobs AS SELECT 1');

-- Now every function the grants allow, with the role's schema first on the search_path.
SET search_path = attack, pg_catalog, pg_temp, public;
SELECT stockelt_fetch('IBM') AS ibm_key \gset
SELECT stockelt_fetch_overview('IBM') AS overview_key \gset
SELECT count(*) > 0 AS search_matched FROM stockelt_search('international business');
SELECT octet_length(stockelt_bronze_read(:'ibm_key')) > 0 AS read_back;
SELECT count(*) > 0 AS listed FROM stockelt_bronze_list('alphavantage/');
SELECT inserted + updated + unchanged > 0 AS ingested FROM stockelt_ingest(:'ibm_key');
SELECT count(*) AS ingested_objects FROM stockelt_ingest(ARRAY[:'ibm_key', :'overview_key'], true);
SELECT expect_error(format('SELECT stockelt_ingest_s3(%L)', :'ibm_key')) <> 'no error' AS not_on_s3;
SELECT objects > 0 AS replayed FROM stockelt_replay('alphavantage/time_series_weekly_adjusted/symbol=IBM/');
SELECT stocks > 0 AS refreshed, weeks_written > 0 AS wrote_weeks FROM stockelt_refresh_gold();
SELECT stocks > 0 AS rebuilt, weeks_written > 0 AS wrote_weeks FROM stockelt_refresh_gold(true);
SELECT count(*) >= 0 AS checked FROM stockelt_check();
-- The queue's two are granted, and refuse the work only because the worker serves another
-- database (55000, not 42501): the worker suite and test/t/008_worker_security.pl use them where it runs.
SELECT expect_error($$SELECT stockelt_enqueue(ARRAY['IBM', 'MSFT'])$$) AS enqueue_here;
SELECT expect_error($$SELECT stockelt_watch('IBM', '1 hour')$$) AS watch_here;
SELECT stockelt_unwatch('IBM') AS unwatched;
-- and what PUBLIC may call, which runs as the caller
SELECT used >= 0 AS usage_read FROM stockelt_usage();
SELECT count(*) >= 0 AS growers_read FROM gold.dividend_growers();
RESET search_path;
RESET ROLE;

-- Nothing the role created ran as the owner: it is no superuser, no setting was read or
-- changed, its scratch tables were not used, and gold was built from silver.
SELECT rolsuper AS etl_is_superuser FROM pg_roles WHERE rolname = 'stockelt_etl';
SELECT count(*) AS payloads_run_as_owner, bool_or(read_key) AS read_the_key FROM attack.ran;
SELECT current_setting('stockelt.api_base_url') = :'base_url_before' AS api_base_url_unchanged;
SELECT (SELECT array_agg(symbol) FROM pg_temp._gold_dirty) AS planted_rows_left,
	   (SELECT count(*) FROM pg_temp._gold_new) AS planted_new_rows;
SELECT count(*) = (SELECT count(*) FROM silver.weekly_adjusted_prices s
					 WHERE s.symbol IN (SELECT symbol FROM gold.dim_stock)) AS gold_from_silver
  FROM gold.fact_weekly_prices;
SELECT (SELECT count(*) FROM stockelt._gold_dirty) + (SELECT count(*) FROM stockelt._gold_new)
	   AS scratch_rows_left;
ROLLBACK;
SELECT count(*) AS etl_role_left FROM pg_roles WHERE rolname = 'stockelt_etl';
SELECT count(*) AS sequences_given_back
  FROM (SELECT setval(seq, coalesce(last_value, 1), last_value IS NOT NULL) FROM sequences_before) s;
DROP TABLE sequences_before;

-- The SECURITY DEFINER functions are the ones the README grants, and each sets its own
-- search_path, pg_temp last; so does every SQL function of the extension they may call.
SELECT p.oid::regprocedure AS security_definer_function, p.proconfig
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stockelt'
 WHERE p.prosecdef
 ORDER BY p.oid::regprocedure::text;
SELECT p.oid::regprocedure AS function_without_fixed_search_path
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stockelt'
  JOIN pg_language l ON l.oid = p.prolang
 WHERE l.lanname IN ('sql', 'plpgsql')
   AND NOT coalesce(p.proconfig @> '{"search_path=pg_catalog, pg_temp"}', false);
