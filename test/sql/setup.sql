-- Installing stockelt: its schemas are its own, never merged into existing ones.
CREATE SCHEMA gold;
-- PostgreSQL 18 adds the script's statement and line to the context: the message and hint are what count.
\set SHOW_CONTEXT never
CREATE EXTENSION stockelt;
\set SHOW_CONTEXT errors
DROP SCHEMA gold;
CREATE EXTENSION stockelt;
SELECT nspname FROM pg_namespace WHERE nspname IN ('stockelt', 'silver', 'gold') ORDER BY 1;

CREATE EXTENSION dblink;

-- Test helpers: run a statement and show the SQLSTATE and message it raised.
CREATE FUNCTION expect_error(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
	RETURN state || ': ' || message;
END
$$;

CREATE FUNCTION error_detail(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN detail;
END
$$;

-- Points the session at the throwaway S3 server the test runner started: its coordinates
-- (test/s3server.sh wrote them in the run's work directory) kept as settings of this database.
\set s3_endpoint `. "$STOCKELT_TEST_WORK/s3/env" && echo "$S3_ENDPOINT"`
\set s3_region `. "$STOCKELT_TEST_WORK/s3/env" && echo "$S3_REGION"`
\set s3_bucket `. "$STOCKELT_TEST_WORK/s3/env" && echo "$S3_BUCKET"`
\set s3_access_key_id `. "$STOCKELT_TEST_WORK/s3/env" && echo "$S3_ACCESS_KEY"`
\set s3_secret_file `echo "$STOCKELT_TEST_WORK/secrets/s3_secret"`
ALTER DATABASE :"DBNAME" SET stockelt_test.s3_endpoint = :'s3_endpoint';
ALTER DATABASE :"DBNAME" SET stockelt_test.s3_region = :'s3_region';
ALTER DATABASE :"DBNAME" SET stockelt_test.s3_bucket = :'s3_bucket';
ALTER DATABASE :"DBNAME" SET stockelt_test.s3_access_key_id = :'s3_access_key_id';
ALTER DATABASE :"DBNAME" SET stockelt_test.s3_secret_access_key_file = :'s3_secret_file';
CREATE FUNCTION use_s3() RETURNS void
LANGUAGE sql AS $$
	SELECT set_config('stockelt.s3_endpoint', current_setting('stockelt_test.s3_endpoint'), false),
		   set_config('stockelt.s3_region', current_setting('stockelt_test.s3_region'), false),
		   set_config('stockelt.s3_bucket', current_setting('stockelt_test.s3_bucket'), false),
		   set_config('stockelt.s3_access_key_id', current_setting('stockelt_test.s3_access_key_id'), false),
		   set_config('stockelt.s3_secret_access_key_file', current_setting('stockelt_test.s3_secret_access_key_file'), false);
$$;
