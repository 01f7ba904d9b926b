-- The queue, the watchlist and the limiter's view, as SQL sees them.  The worker of this
-- cluster serves another database (stockelt.database), so jobs stay where SQL puts them;
-- the worker itself is tested by test/t/*.pl.
SHOW stockelt.database;
SELECT database, queued, running FROM stockelt.worker;

-- Work nobody would do is refused: in a database the worker does not serve, enqueueing and
-- watching fail with the reason and what to do, and leave nothing behind.
\set SHOW_CONTEXT never
SELECT stockelt_enqueue(ARRAY['IBM']);
SELECT stockelt_watch('IBM');
\set SHOW_CONTEXT errors
SELECT expect_error($$SELECT stockelt_enqueue(ARRAY['IBM'])$$) AS enqueue,
	   expect_error($$SELECT stockelt_watch('IBM', '1 hour')$$) AS watch;
SELECT (SELECT count(*) FROM stockelt.jobs) AS jobs, (SELECT count(*) FROM stockelt.watchlist) AS watched;

-- The queue itself, as stockelt_enqueue runs it where the worker serves the database.
-- Enqueueing: one job per symbol, upper-cased; a symbol already waiting is not queued twice.
SELECT count(*) AS jobs FROM stockelt._enqueue(ARRAY['ibm', 'AAPL', 'IBM', 'TSCO.LON']);
SELECT symbol, state, attempts, next_attempt_at <= now() AS due, batch = (SELECT min(batch) FROM stockelt.jobs) AS one_batch
  FROM stockelt.jobs ORDER BY symbol;
SELECT count(*) AS jobs_returned FROM stockelt._enqueue(ARRAY['IBM', 'MSFT']);
SELECT symbol, count(*) FROM stockelt.jobs GROUP BY 1 ORDER BY 1;
SELECT expect_error($$SELECT stockelt._enqueue(ARRAY['IBM', 'not a symbol'])$$);
SELECT expect_error($$SELECT stockelt._enqueue(ARRAY[NULL])$$);
SELECT count(*) AS nothing_added FROM stockelt.jobs;
-- A finished job does not stop the same symbol from being queued again.
UPDATE stockelt.jobs SET state = 'done', finished_at = now() WHERE symbol = 'MSFT';
SELECT count(*) AS jobs_returned FROM stockelt._enqueue(ARRAY['MSFT']);
SELECT symbol, state FROM stockelt.jobs WHERE symbol = 'MSFT' ORDER BY id;

-- The watchlist: due symbols are enqueued stalest first, within the day's budget, never
-- twice while a job for them is open.
TRUNCATE stockelt.jobs;
INSERT INTO stockelt.watchlist (symbol, refresh_interval)
VALUES ('W1', '1 hour'), ('W2', '1 day'), ('W3', DEFAULT), ('W4', '2 days');
SELECT expect_error($$INSERT INTO stockelt.watchlist VALUES ('W5', '-1 day')$$);
SELECT expect_error($$SELECT stockelt_watch('bad symbol')$$);
-- W1 was fetched 2 hours ago (due), W2 an hour ago (not due), W4 a day ago (not due),
-- W3 never (due, and the stalest).
INSERT INTO stockelt.bronze_objects (key, symbol, api_function, fetched_at, size_bytes, sha256, store)
VALUES ('test/w1', 'W1', 'TIME_SERIES_WEEKLY_ADJUSTED', now() - interval '2 hours', 0, repeat('0', 64), 'table'),
	   ('test/w2', 'W2', 'TIME_SERIES_WEEKLY_ADJUSTED', now() - interval '1 hour', 0, repeat('0', 64), 'table'),
	   ('test/w4', 'W4', 'TIME_SERIES_WEEKLY_ADJUSTED', now() - interval '1 day', 0, repeat('0', 64), 'table');
SELECT stockelt._enqueue_due(1) AS enqueued;
SELECT symbol FROM stockelt.jobs ORDER BY id;
SELECT stockelt._enqueue_due(1) AS enqueued_with_budget_taken;
SELECT stockelt._enqueue_due(5) AS enqueued;
SELECT symbol FROM stockelt.jobs ORDER BY id;
SELECT stockelt._enqueue_due(-1) AS nothing_more_due;
SELECT symbol, last_enqueued_at IS NOT NULL AS enqueued FROM stockelt.watchlist ORDER BY 1;
SELECT stockelt_unwatch('w1') AS removed, stockelt_unwatch('W1') AS again;
DELETE FROM stockelt.bronze_objects WHERE key LIKE 'test/w%';
TRUNCATE stockelt.jobs;

-- The limiter's view of today: the day in stockelt.day_time_zone (the session's time zone
-- may be in another day).
SELECT day = (now() AT TIME ZONE current_setting('stockelt.day_time_zone'))::date AS today,
	   used >= 0 AS counted, spacing_ms, paused_until FROM stockelt_usage();
SHOW stockelt.requests_per_second;
SHOW stockelt.requests_per_day;

-- Network and queue functions are not for PUBLIC.
CREATE ROLE worker_nobody;
SET ROLE worker_nobody;
SELECT expect_error($$SELECT stockelt_enqueue(ARRAY['IBM'])$$);
SELECT expect_error($$SELECT stockelt_watch('IBM')$$);
SELECT expect_error($$SELECT stockelt._enqueue_due(1)$$);
SELECT expect_error($$SELECT stockelt._enqueue(ARRAY['IBM'])$$);
RESET ROLE;
DROP ROLE worker_nobody;
