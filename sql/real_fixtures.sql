-- The real Alpha Vantage responses, served byte for byte by the stand-in server
-- (this test runs only when ../shared/fixtures/alphavantage exists).
\! $STANDINCTL reset
\getenv work WORK

-- Every recorded weekly series is data and lands in bronze unchanged.
CREATE TEMP TABLE fetched (symbol text, fetched text, file_sha256 text, key text);
\! "$(dirname "$STANDINCTL")/fixture_script.sh" weekly > "$WORK/fixture_weekly.sql"
\i :work/fixture_weekly.sql
SELECT f.symbol, f.fetched, o.sha256 = f.file_sha256 AS same_bytes, o.size_bytes
  FROM fetched f JOIN stockelt.bronze_objects o USING (key)
 ORDER BY 1, 2;

-- Every recorded non-data answer gets its SQLSTATE, and nothing is stored.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;
\! "$(dirname "$STANDINCTL")/fixture_script.sh" messages > "$WORK/fixture_messages.sql"
\i :work/fixture_messages.sql
SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;
