-- Secrets and network targets are for superusers only.
CREATE ROLE analyst LOGIN;
GRANT USAGE ON SCHEMA stockelt TO analyst;
GRANT SELECT ON stockelt.bronze_objects TO analyst;

SET ROLE analyst;
SELECT expect_error('SHOW stockelt.api_key_file');
SELECT expect_error('SHOW stockelt.api_base_url');
SELECT expect_error('SHOW stockelt.s3_endpoint');
SELECT expect_error('SHOW stockelt.s3_access_key_id');
SELECT expect_error('SHOW stockelt.s3_secret_access_key_file');
SELECT expect_error($$SELECT current_setting('stockelt.api_key_file')$$);
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
\! $STANDINCTL next 'message=invalid_apikey&count=2'
SELECT strpos(expect_error($$SELECT stockelt_fetch('IBM')$$) || error_detail($$SELECT stockelt_fetch('IBM')$$),
			  btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n')) AS key_in_error;
SET stockelt.api_base_url = 'http://127.0.0.1:1/query';
SELECT strpos(error_detail($$SELECT stockelt_fetch('IBM')$$), btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n')) AS key_in_transport_error;
RESET stockelt.api_base_url;

-- With no key at all, the error says how to configure one, before any call.
\! $STANDINCTL reset
SET stockelt.api_key_file = '';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.api_key_file;
\set calls `$STANDINCTL count`
SELECT :calls AS api_calls_without_key;

REVOKE ALL ON FUNCTION stockelt_fetch(text) FROM analyst;
REVOKE ALL ON stockelt.bronze_objects FROM analyst;
REVOKE ALL ON SCHEMA stockelt FROM analyst;
DROP ROLE analyst;
