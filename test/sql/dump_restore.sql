-- Bronze data lives in extension tables: pg_dump and restore keep it.  So do the queue and
-- the run history: jobs in every state, the gold refreshes, and the counters of their ids.
-- (The worker serves another database: the queue's own function puts the jobs in, as
-- stockelt_enqueue does where the worker runs.)
SELECT count(*) AS queued FROM stockelt._enqueue(ARRAY['DUMPA', 'DUMPB', 'DUMPC']);
SELECT count(*) AS queued FROM stockelt._enqueue(ARRAY['DUMPD', 'DUMPE']);
UPDATE stockelt.jobs SET state = 'done', attempts = 1, started_at = now() - interval '2 s',
	   finished_at = now(), fetch_ms = 12.5, ingest_ms = 3.25, last_http_status = 200,
	   bronze_key = 'alphavantage/time_series_weekly_adjusted/symbol=DUMPA/fetched=20240415T210000.000000Z.json'
 WHERE symbol = 'DUMPA';
UPDATE stockelt.jobs SET state = 'failed', attempts = 5, started_at = now(), finished_at = now(),
	   last_error = 'invalid API call', last_sqlstate = 'SE005', last_http_status = 200
 WHERE symbol = 'DUMPB';
UPDATE stockelt.jobs SET state = 'retry', attempts = 2, next_attempt_at = now() + interval '1 hour',
	   last_error = 'timeout', last_sqlstate = 'SE101'
 WHERE symbol = 'DUMPC';
INSERT INTO stockelt.gold_refreshes (started_at, finished_at, full_rebuild, stocks, weeks_written)
VALUES (now() - interval '1 day', now() - interval '1 day' + interval '2 s', true, 10, 11000),
	   (now() - interval '1 hour', now() - interval '1 hour' + interval '1 s', false, 2, 4);
SELECT state, count(*) FROM stockelt.jobs GROUP BY 1 ORDER BY 1;

\! "$STOCKELT_TEST_WORK/pg_bindir/createdb" stockelt_restored
\! "$STOCKELT_TEST_WORK/pg_bindir/pg_dump" stockelt_regress | "$STOCKELT_TEST_WORK/pg_bindir/psql" -X -q -o /dev/null -d stockelt_restored 2>&1 | grep -v '^$' || true
SELECT o.n > 0 AS objects_dumped, o.n = r.n AS objects_restored,
	   o.digest = r.digest AS same_catalog_and_bodies
  FROM (SELECT count(*) AS n, md5(string_agg(key || sha256 || coalesce(b.s, ''), ',' ORDER BY key)) AS digest
		  FROM stockelt.bronze_objects
		  LEFT JOIN (SELECT key, encode(sha256(body), 'hex') AS s FROM stockelt.bronze_bodies) b USING (key)) o,
	   dblink(format('dbname=stockelt_restored user=%s host=%s port=%s',
					 current_user, current_setting('unix_socket_directories'), current_setting('port')),
			  $$SELECT count(*), md5(string_agg(key || sha256 || coalesce(b.s, ''), ',' ORDER BY key))
				  FROM stockelt.bronze_objects
				  LEFT JOIN (SELECT key, encode(sha256(body), 'hex') AS s FROM stockelt.bronze_bodies) b USING (key)$$)
		AS r(n bigint, digest text);

-- Every job and refresh comes back as it was, column for column, and so do the counters.
SELECT dblink_connect('restored', format('dbname=stockelt_restored user=%s host=%s port=%s',
	   current_user, current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_exec('restored', $$SET TimeZone = 'UTC'$$);
SELECT dblink_exec('restored', format('SET DateStyle = %L', current_setting('DateStyle')));
SET TimeZone = 'UTC';
CREATE TEMP VIEW history_digest AS
SELECT (SELECT count(*) FROM stockelt.jobs) AS jobs,
	   (SELECT md5(string_agg(j::text, ',' ORDER BY id)) FROM stockelt.jobs j) AS jobs_digest,
	   (SELECT count(*) FROM stockelt.gold_refreshes) AS refreshes,
	   (SELECT md5(string_agg(g::text, ',' ORDER BY id)) FROM stockelt.gold_refreshes g) AS refreshes_digest,
	   (SELECT last_value FROM stockelt.jobs_id_seq) AS job_id,
	   (SELECT last_value FROM stockelt.job_batches) AS batch,
	   (SELECT last_value FROM stockelt.gold_refreshes_id_seq) AS refresh_id;
SELECT o.jobs AS original_jobs, r.jobs AS restored_jobs, o.jobs_digest = r.jobs_digest AS same_jobs,
	   o.refreshes >= 2 AS refreshes_dumped, r.refreshes = o.refreshes AS refreshes_restored,
	   o.refreshes_digest = r.refreshes_digest AS same_refreshes,
	   (o.job_id, o.batch, o.refresh_id) = (r.job_id, r.batch, r.refresh_id) AS same_counters
  FROM history_digest o,
	   dblink('restored', $$SELECT (SELECT count(*) FROM stockelt.jobs),
								   (SELECT md5(string_agg(j::text, ',' ORDER BY id)) FROM stockelt.jobs j),
								   (SELECT count(*) FROM stockelt.gold_refreshes),
								   (SELECT md5(string_agg(g::text, ',' ORDER BY id)) FROM stockelt.gold_refreshes g),
								   (SELECT last_value FROM stockelt.jobs_id_seq),
								   (SELECT last_value FROM stockelt.job_batches),
								   (SELECT last_value FROM stockelt.gold_refreshes_id_seq)$$)
		AS r(jobs bigint, jobs_digest text, refreshes bigint, refreshes_digest text, job_id bigint,
			 batch bigint, refresh_id bigint);
SELECT * FROM dblink('restored', $$SELECT symbol, state, attempts, last_sqlstate FROM stockelt.jobs ORDER BY id$$)
	AS r(symbol text, state text, attempts integer, last_sqlstate text);

-- After the restore, new work takes new ids: a new symbol gets an id and a batch above every
-- restored one; a symbol whose job is still open gets that job back, not a second one.
SELECT max(id) AS max_job_id, max(batch) AS max_batch, (SELECT max(id) FROM stockelt.gold_refreshes) AS max_refresh_id
  FROM stockelt.jobs \gset
CREATE TEMP TABLE enqueued_after_restore AS
SELECT * FROM dblink('restored', $$SELECT e FROM stockelt._enqueue(ARRAY['DUMPF', 'DUMPD', 'DUMPA']) e$$)
	AS r(id bigint);
SELECT r.symbol, r.id > :max_job_id AS new_id, r.batch > :max_batch AS new_batch,
	   r.id = (SELECT id FROM stockelt.jobs WHERE symbol = r.symbol) AS restored_id
  FROM dblink('restored', $$SELECT id, symbol, batch FROM stockelt.jobs$$) AS r(id bigint, symbol text, batch bigint)
  JOIN enqueued_after_restore USING (id)
 ORDER BY r.symbol;
SELECT * FROM dblink('restored', $$SELECT symbol, count(*) FROM stockelt.jobs GROUP BY 1 ORDER BY 1$$)
	AS r(symbol text, jobs bigint);
-- The restored copy is not the worker's database: it takes no new work.
SELECT * FROM dblink('restored', $$SELECT expect_error('SELECT stockelt_enqueue(ARRAY[''DUMPG''])')$$)
	AS r(enqueue_in_the_copy text);
SELECT r.id > :max_refresh_id AS new_refresh_id
  FROM dblink('restored', $$INSERT INTO stockelt.gold_refreshes (started_at, finished_at, full_rebuild, stocks, weeks_written)
							VALUES (now(), now(), false, 0, 0) RETURNING id$$) AS r(id bigint);
-- Gold is not dumped: the restored silver marks every stock for the next refresh.
SELECT r.pending = (SELECT count(DISTINCT symbol) FROM silver.weekly_adjusted_prices) AS every_stock_pending
  FROM dblink('restored', $$SELECT count(*) FROM stockelt.gold_pending$$) AS r(pending bigint);
SELECT dblink_disconnect('restored');
RESET TimeZone;
DROP VIEW history_digest;
DROP TABLE enqueued_after_restore;
\! "$STOCKELT_TEST_WORK/pg_bindir/dropdb" stockelt_restored

-- Later suites start from an empty queue and history.
TRUNCATE stockelt.jobs, stockelt.gold_refreshes;
