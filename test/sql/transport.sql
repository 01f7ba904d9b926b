-- Transport failures: each its own SQLSTATE, nothing stored.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;

-- HTTP status other than 200.
\! "$PG_ABS_SRCDIR/standinctl" next 'status=503&count=2'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
SELECT error_detail($$SELECT stockelt_fetch('IBM')$$) ~ '^HTTP status 503 \(Content-Type "text/html"\): <' AS status_in_detail;

-- A server slower than the request timeout.
SET stockelt.request_timeout = '500ms';
\! "$PG_ABS_SRCDIR/standinctl" next 'delay_ms=3000'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.request_timeout;

-- Connection reset before an answer.
\! "$PG_ABS_SRCDIR/standinctl" next 'reset=1'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);

-- Truncated bodies: short of the announced length, and cut with no length.
\! "$PG_ABS_SRCDIR/standinctl" next 'truncate=5000&length=full'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'truncate=5000'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);

-- A response larger than the cap.
SET stockelt.max_response_size = '16kB';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.max_response_size;

-- Nothing listening: connection refused.
SET stockelt.api_base_url = 'http://127.0.0.1:1/query';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.api_base_url;

-- Only http and https.
SELECT expect_error($$SET stockelt.api_base_url = 'ftp://127.0.0.1/query'$$);
SELECT expect_error($$SET stockelt.api_base_url = 'file:///etc/passwd'$$);
SELECT expect_error($$SET stockelt.s3_endpoint = 'gopher://127.0.0.1'$$);

-- Redirects: to the same host they are followed, to another host refused.
\! "$PG_ABS_SRCDIR/standinctl" next 'redirect=same'
SELECT stockelt_fetch('IBM') LIKE 'alphavantage/%' AS followed_same_host;
\! "$PG_ABS_SRCDIR/standinctl" next 'redirect=other&count=2'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
SELECT error_detail($$SELECT stockelt_fetch('IBM')$$) ~ '^The server redirected to another host: http://elsewhere.invalid/query\?' AS target_in_detail;

-- Only the followed same-host redirect stored an object.
SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;

-- A second complete response sent after a body answers no later request: the connection it
-- arrived on is not used again, so MSFT gets its own answer, not the stray one (a series
-- named MSFT from another seed), and AAPL after it gets AAPL's.
\set msft_sha `"$PG_ABS_SRCDIR/standinctl" query 'function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=MSFT&outputsize=full&datatype=json' | sha256sum | cut -c1-64`
\set aapl_sha `"$PG_ABS_SRCDIR/standinctl" query 'function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=AAPL&outputsize=full&datatype=json' | sha256sum | cut -c1-64`
\! "$PG_ABS_SRCDIR/standinctl" reset
\! "$PG_ABS_SRCDIR/standinctl" next 'extra=MSFT'
SELECT stockelt_fetch('IBM') LIKE 'alphavantage/%' AS fetched_ibm;
-- The stray response leaves 50 ms after the body.
SELECT pg_sleep(0.3);
CREATE TEMP TABLE after_stray AS
SELECT s.symbol, stockelt_fetch(s.symbol) AS key FROM (VALUES (1, 'MSFT'), (2, 'AAPL')) s(n, symbol) ORDER BY n;
SELECT a.symbol, o.sha256 = CASE a.symbol WHEN 'MSFT' THEN :'msft_sha' ELSE :'aapl_sha' END AS its_own_answer
  FROM after_stray a JOIN stockelt.bronze_objects o USING (key) ORDER BY a.symbol;
-- Each request went out once.
\! "$PG_ABS_SRCDIR/standinctl" count

-- A fetch against a server that hangs stops within a second of a cancel.
SELECT dblink_connect('hang', format('dbname=%s user=%s host=%s port=%s', current_database(),
	   current_user, current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_exec('hang', 'SET stockelt.request_timeout = ''60s''');
\! "$PG_ABS_SRCDIR/standinctl" next 'hang=1'
SELECT dblink_send_query('hang', $$SELECT stockelt_fetch('IBM')$$);
SELECT pg_sleep(0.5);
SELECT count(*) AS fetches_in_flight
  FROM pg_stat_activity
 WHERE query LIKE '%stockelt_fetch(''IBM'')%' AND state = 'active' AND pid <> pg_backend_pid();
-- While it is in flight, no session shows the API key.
SELECT count(*) AS activity_rows_with_key
  FROM pg_stat_activity WHERE strpos(query, btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n')) > 0
   AND pid <> pg_backend_pid();
CREATE TEMP TABLE cancel_timing AS
SELECT clock_timestamp() AS cancelled_at,
	   pg_cancel_backend(pid) AS signalled
  FROM pg_stat_activity WHERE query LIKE '%stockelt_fetch(''IBM'')%' AND state = 'active' AND pid <> pg_backend_pid();
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN dblink_is_busy('hang') = 0;
		PERFORM pg_sleep(0.02);
	END LOOP;
END
$$;
SELECT signalled, dblink_is_busy('hang') = 0 AS finished,
	   clock_timestamp() - cancelled_at < interval '1 second' AS within_a_second
  FROM cancel_timing;
SELECT dblink_error_message('hang') LIKE '%canceling statement due to user request%' AS cancelled;
SELECT dblink_disconnect('hang');
