-- The background worker: a queue of pipeline jobs, a watchlist, the shared limiter's usage.
-- The worker itself is C (src/worker.c); these are its tables and SQL face.

CREATE TABLE stockelt.jobs (
	id					bigserial PRIMARY KEY,
	batch				bigint NOT NULL,	-- jobs enqueued by one call
	symbol				text NOT NULL,
	state				text NOT NULL DEFAULT 'queued'
						CHECK (state IN ('queued', 'running', 'retry', 'done', 'failed')),
	attempts			integer NOT NULL DEFAULT 0,	-- API calls made for the job
	enqueued_at			timestamptz NOT NULL DEFAULT now(),
	next_attempt_at		timestamptz NOT NULL DEFAULT now(),
	started_at			timestamptz,		-- of the latest attempt
	finished_at			timestamptz,
	fetch_ms			double precision,	-- the API call
	ingest_ms			double precision,	-- bronze and silver
	bronze_key			text,
	last_error			text,
	last_sqlstate		text,
	last_http_status	integer,
	waiting_for			text		-- what holds it back until next_attempt_at, if not a backoff
);
CREATE SEQUENCE stockelt.job_batches;
CREATE INDEX jobs_due_idx ON stockelt.jobs (next_attempt_at, id) WHERE state IN ('queued', 'retry');
-- One open job per symbol: enqueueing a symbol already waiting adds nothing.
CREATE UNIQUE INDEX jobs_open_symbol_idx ON stockelt.jobs (symbol)
	WHERE state IN ('queued', 'running', 'retry');
COMMENT ON COLUMN stockelt.jobs.waiting_for IS
	'What the worker holds a waiting job for until next_attempt_at: the next day''s budget, the end of a quota pause, an API key, the bronze store; NULL when nothing does.';
COMMENT ON TABLE stockelt.jobs IS
	'Pipeline jobs (fetch, bronze, silver) for the background worker; finished ones are pruned after stockelt.job_retention.';
-- Queued work and run history survive pg_dump, with the counters of their ids.
SELECT pg_catalog.pg_extension_config_dump('stockelt.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.job_batches', '');

CREATE TABLE stockelt.watchlist (
	symbol				text PRIMARY KEY,
	refresh_interval	interval NOT NULL DEFAULT '1 day' CHECK (refresh_interval > '0'),
	added_at			timestamptz NOT NULL DEFAULT now(),
	last_enqueued_at	timestamptz
);
COMMENT ON TABLE stockelt.watchlist IS
	'Symbols the worker fetches again when their newest fetch is older than refresh_interval.';
SELECT pg_catalog.pg_extension_config_dump('stockelt.watchlist', '');

CREATE FUNCTION stockelt._wake_worker() RETURNS void
AS 'MODULE_PATHNAME', 'stockelt_wake_worker' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION stockelt._wake_worker() FROM PUBLIC;

-- Raises unless the worker serves this database (stockelt.database): work queued anywhere
-- else would never be done.  The extension itself may live in any database (a restored
-- copy, the regression suites' own), where fetch, ingest and the gold refresh work.
CREATE FUNCTION stockelt._require_worker_database() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	served text := current_setting('stockelt.database', true);
BEGIN
	IF served IS NULL THEN
		RAISE EXCEPTION 'no stockelt worker runs on this server'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'stockelt is not in shared_preload_libraries, so nothing would run the jobs.',
				  HINT = 'Add stockelt to shared_preload_libraries and restart the server.';
	ELSIF served <> current_database() THEN
		RAISE EXCEPTION 'the stockelt worker does not serve database "%"', current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('stockelt.database is "%s": the worker runs the queue and the watchlist of that database alone, so work queued here would never be done.', served),
				  HINT = format('Queue the work in database "%s", or set stockelt.database to "%s" and restart the server.', served, current_database());
	END IF;
END
$$;
REVOKE ALL ON FUNCTION stockelt._require_worker_database() FROM PUBLIC;

-- Queues the symbols, one open job per symbol: stockelt_enqueue once it knows the worker
-- serves this database.
CREATE FUNCTION stockelt._enqueue(symbols text[])
RETURNS SETOF bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	bad text;
	this_batch bigint := nextval('stockelt.job_batches');
BEGIN
	IF array_position(symbols, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'a symbol is NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT s INTO bad FROM unnest(symbols) s WHERE s !~ '^[A-Za-z0-9.^=:_-]{1,32}$' LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'invalid symbol "%"', bad
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A symbol has 1 to 32 letters, digits and . - ^ = : _';
	END IF;
	INSERT INTO stockelt.jobs (batch, symbol)
	SELECT DISTINCT this_batch, upper(s) FROM unnest(symbols) s
	ON CONFLICT (symbol) WHERE state IN ('queued', 'running', 'retry') DO NOTHING;
	PERFORM stockelt._wake_worker();
	RETURN QUERY
	SELECT j.id FROM stockelt.jobs j
	 WHERE j.symbol IN (SELECT upper(s) FROM unnest(symbols) s)
	   AND (j.state IN ('queued', 'running', 'retry') OR j.batch = this_batch)
	 ORDER BY j.id;
END
$$;
REVOKE ALL ON FUNCTION stockelt._enqueue(text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.stockelt_enqueue(symbols text[])
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM stockelt._require_worker_database();
	RETURN QUERY SELECT stockelt._enqueue(symbols);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_enqueue(text[]) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_enqueue(text[]) IS
	'Queues fetch → bronze → silver jobs for the background worker, which refreshes gold after the batch; returns the job ids.';

CREATE FUNCTION @extschema@.stockelt_watch(symbol text, refresh_interval interval DEFAULT '1 day')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF symbol IS NULL OR symbol !~ '^[A-Za-z0-9.^=:_-]{1,32}$' THEN
		RAISE EXCEPTION 'invalid symbol "%"', symbol USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM stockelt._require_worker_database();
	INSERT INTO stockelt.watchlist AS w (symbol, refresh_interval)
	VALUES (upper(stockelt_watch.symbol), stockelt_watch.refresh_interval)
	ON CONFLICT ON CONSTRAINT watchlist_pkey
	DO UPDATE SET refresh_interval = excluded.refresh_interval;
	PERFORM stockelt._wake_worker();
END
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_watch(text, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.stockelt_unwatch(symbol text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH gone AS (DELETE FROM stockelt.watchlist w WHERE w.symbol = upper(stockelt_unwatch.symbol)
				  RETURNING 1)
	SELECT count(*) > 0 FROM gone
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_unwatch(text) FROM PUBLIC;

-- Enqueues the watchlist symbols that are due, stalest first, at most budget of them
-- (-1: no limit), leaving room for jobs already queued.  Called by the worker.
CREATE FUNCTION stockelt._enqueue_due(budget integer) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	room integer;
	n integer;
	this_batch bigint;
BEGIN
	SELECT CASE WHEN budget < 0 THEN NULL
				ELSE greatest(budget - count(*), 0) END
	  INTO room FROM stockelt.jobs WHERE state IN ('queued', 'running', 'retry');
	IF room = 0 THEN
		RETURN 0;
	END IF;
	this_batch := nextval('stockelt.job_batches');
	WITH due AS (
		SELECT w.symbol, last.fetched_at
		  FROM stockelt.watchlist w
		  LEFT JOIN LATERAL (SELECT max(o.fetched_at) AS fetched_at FROM stockelt.bronze_objects o
							  WHERE o.api_function = 'TIME_SERIES_WEEKLY_ADJUSTED'
								AND o.symbol = w.symbol) last ON true
		 WHERE (last.fetched_at IS NULL OR last.fetched_at < now() - w.refresh_interval)
		   AND NOT EXISTS (SELECT FROM stockelt.jobs j WHERE j.symbol = w.symbol
							 AND j.state IN ('queued', 'running', 'retry'))
		 ORDER BY last.fetched_at NULLS FIRST, w.symbol
		 LIMIT room
	), queued AS (
		INSERT INTO stockelt.jobs (batch, symbol) SELECT this_batch, symbol FROM due
		ON CONFLICT (symbol) WHERE state IN ('queued', 'running', 'retry') DO NOTHING
		RETURNING symbol
	)
	UPDATE stockelt.watchlist w SET last_enqueued_at = now()
	  FROM queued q WHERE q.symbol = w.symbol;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION stockelt._enqueue_due(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.stockelt_usage(OUT day date, OUT used integer, OUT daily_limit integer,
	OUT remaining integer, OUT throttled integer, OUT paused_until timestamptz,
	OUT spacing_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_usage'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.stockelt_usage() IS
	'Today''s API calls counted by the shared limiter (kept across restarts), the budget left, any pause.';

CREATE FUNCTION @extschema@.stockelt_resume() RETURNS boolean
AS 'MODULE_PATHNAME', 'stockelt_resume'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION @extschema@.stockelt_resume() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_resume() IS
	'Lifts the pause a daily-quota answer caused, and the slowdown of a throttle answer; true if there was one.';

-- One row per step of the worker besides the jobs (the gold refresh, the watchlist pass,
-- pruning…): how it went the last time it ran, and its latest failure.  Not dumped: it
-- describes the worker of this database, which writes it again as the steps run.
CREATE TABLE stockelt.worker_steps (
	step				text PRIMARY KEY,
	state				text NOT NULL CHECK (state IN ('ok', 'failing', 'held back')),
	since				timestamptz NOT NULL,	-- when it came to this state
	failures			integer NOT NULL DEFAULT 0,	-- in a row, up to the latest run
	last_failed_at		timestamptz,
	last_sqlstate		text,
	last_error			text
);
COMMENT ON TABLE stockelt.worker_steps IS
	'The background worker''s steps besides the jobs (gold refresh, watchlist pass, pruning): state, and the latest failure with its SQLSTATE.';

-- The serving worker's process id and start, from shared memory: every role that may read
-- stockelt.worker sees the worker (pg_stat_activity shows another role's session, the
-- worker's, only to members of pg_read_all_stats; its state and wait event stay theirs).
CREATE FUNCTION @extschema@.stockelt_worker_process(OUT pid integer, OUT started_at timestamptz)
RETURNS SETOF record LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'stockelt_worker_process';
COMMENT ON FUNCTION @extschema@.stockelt_worker_process() IS
	'The background worker serving this server''s stockelt.database: process id and start; no row when none runs.';

CREATE VIEW stockelt.worker AS
SELECT w.pid, a.datname AS database, w.started_at, a.state, a.wait_event,
	   (SELECT count(*) FROM stockelt.jobs WHERE state IN ('queued', 'retry')) AS queued,
	   (SELECT count(*) FROM stockelt.jobs WHERE state = 'running') AS running,
	   (SELECT count(*) FROM stockelt.jobs WHERE state = 'failed') AS failed,
	   (SELECT j.waiting_for FROM stockelt.jobs j WHERE j.state IN ('queued', 'retry')
		 ORDER BY j.next_attempt_at, j.id LIMIT 1) AS waiting_for,
	   (SELECT min(j.next_attempt_at) FROM stockelt.jobs j
		 WHERE j.state IN ('queued', 'retry')) AS next_attempt_at,
	   (SELECT array_agg(s.step ORDER BY s.step) FROM stockelt.worker_steps s
		 WHERE s.state <> 'ok') AS failing_steps
  FROM @extschema@.stockelt_worker_process() w
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid;
COMMENT ON VIEW stockelt.worker IS
	'The background worker, if it runs: the size of its queue, what the next job waits for and when it is due, the steps that fail.';

-- In a database the worker does not serve, the extension installs (a restore, a copy to
-- look at) but takes no work: say so now rather than at the first enqueue.
DO $$
BEGIN
	PERFORM stockelt._require_worker_database();
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	DECLARE
		message text;
		detail text;
		hint text;
	BEGIN
		GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
								hint = PG_EXCEPTION_HINT;
		RAISE WARNING '%', message
			USING DETAIL = detail || '  stockelt_enqueue and stockelt_watch refuse work in this database; fetch, ingest and the gold refresh work.',
				  HINT = hint;
	END;
END
$$;
