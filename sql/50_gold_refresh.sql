-- The gold refresh: what changed in silver since the last one, its helpers and scratch
-- tables, the computation of the gold rows, stockelt_refresh_gold() and its history.

-- Which stocks changed in silver since the last gold refresh, and from which week on.
-- stockelt's own ingest writes it below SQL; triggers write it for changes made by SQL.
CREATE TABLE stockelt.gold_pending (
	symbol		text PRIMARY KEY,
	from_week	date NOT NULL		-- '-infinity': the whole history
);
COMMENT ON TABLE stockelt.gold_pending IS
	'Stocks whose silver rows changed since the last gold refresh, with the oldest changed week.';
-- Not dumped: restoring silver marks every symbol here again through the triggers below.

CREATE FUNCTION stockelt._silver_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	changed record;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		INSERT INTO stockelt.gold_pending (symbol, from_week)
		SELECT symbol, '-infinity' FROM gold.dim_stock
		ON CONFLICT (symbol) DO UPDATE SET from_week = '-infinity';
		RETURN NULL;
	END IF;
	-- A transition table belongs to one event (so each event has its trigger): read only
	-- the ones this event has.
	FOR changed IN EXECUTE 'SELECT symbol, min(week_ending) AS week FROM ('
		|| CASE TG_OP WHEN 'INSERT' THEN 'TABLE changed_new'
					  WHEN 'DELETE' THEN 'TABLE changed_old'
					  ELSE 'TABLE changed_new UNION ALL TABLE changed_old' END
		|| ') c GROUP BY symbol'
	LOOP
		INSERT INTO stockelt.gold_pending AS p (symbol, from_week)
		VALUES (changed.symbol, changed.week)
		ON CONFLICT (symbol) DO UPDATE SET from_week = least(p.from_week, excluded.from_week);
	END LOOP;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION stockelt._silver_changed() FROM PUBLIC;
CREATE TRIGGER gold_pending_insert
	AFTER INSERT ON silver.weekly_adjusted_prices REFERENCING NEW TABLE AS changed_new
	FOR EACH STATEMENT EXECUTE FUNCTION stockelt._silver_changed();
CREATE TRIGGER gold_pending_update
	AFTER UPDATE ON silver.weekly_adjusted_prices
	REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
	FOR EACH STATEMENT EXECUTE FUNCTION stockelt._silver_changed();
CREATE TRIGGER gold_pending_delete
	AFTER DELETE ON silver.weekly_adjusted_prices REFERENCING OLD TABLE AS changed_old
	FOR EACH STATEMENT EXECUTE FUNCTION stockelt._silver_changed();
CREATE TRIGGER gold_pending_truncate
	AFTER TRUNCATE ON silver.weekly_adjusted_prices
	FOR EACH STATEMENT EXECUTE FUNCTION stockelt._silver_changed();

-- The history of the refresh, kept across pg_dump with the counter of its ids.
CREATE TABLE stockelt.gold_refreshes (
	id				bigserial PRIMARY KEY,
	started_at		timestamptz NOT NULL,
	finished_at		timestamptz NOT NULL,
	full_rebuild	boolean NOT NULL,
	stocks			integer NOT NULL,
	weeks_written	bigint NOT NULL
);
COMMENT ON TABLE stockelt.gold_refreshes IS 'Every gold refresh that changed something, newest last.';
SELECT pg_catalog.pg_extension_config_dump('stockelt.gold_refreshes', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.gold_refreshes_id_seq', '');

CREATE AGGREGATE stockelt._product(numeric) (sfunc = pg_catalog.numeric_mul, stype = numeric, initcond = '1');
REVOKE ALL ON ROUTINE stockelt._product(numeric) FROM PUBLIC;

-- The split that explains a jump x of the adjustment factor: the simplest ratio p:q
-- within 1 % of x, with one side at most 4 (2:1, 3:2, 4:1, 7:1, 20:1, 1:10 …).
-- NULL when x is within 5 % of 1 or no such ratio fits.  x is clamped to [0, 100] first
-- (no ratio fits outside [1/50, 50]), so that a jump of any size cannot overflow p.
CREATE FUNCTION stockelt._split_ratio(x double precision) RETURNS int[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT ARRAY[p, q]
	  FROM (SELECT q, round(least(greatest(x, 0), 100) * q)::int AS p FROM generate_series(1, 50) q) c
	 WHERE abs(x - 1) > 0.05 AND p BETWEEN 1 AND 50 AND least(p, q) <= 4
	   AND gcd(p, q) = 1 AND abs(p / (x * q) - 1) < 0.01
	 ORDER BY q, p
	 LIMIT 1
$$;
REVOKE ALL ON FUNCTION stockelt._split_ratio(double precision) FROM PUBLIC;

-- Fills gold.dim_date for the years of the stocks' weeks, and gold.dim_trading_day for
-- those days and the calendars of the stocks, and nothing else.
CREATE FUNCTION stockelt._refresh_dim_date() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	first_day date;
	last_day date;
	calendars text[];
BEGIN
	SELECT make_date(extract(year FROM min(first_week))::int, 1, 1),
		   make_date(extract(year FROM max(last_week))::int, 12, 31),
		   coalesce(array_agg(DISTINCT calendar) FILTER (WHERE calendar IS NOT NULL), '{}')
	  INTO first_day, last_day, calendars
	  FROM gold.dim_stock;
	DELETE FROM gold.dim_date
	 WHERE first_day IS NULL OR date < first_day OR date > last_day;
	DELETE FROM gold.dim_trading_day
	 WHERE first_day IS NULL OR date < first_day OR date > last_day OR calendar <> ALL (calendars);
	IF first_day IS NULL THEN
		RETURN;
	END IF;
	IF (SELECT count(*) FROM gold.dim_date) < last_day - first_day + 1 THEN
		INSERT INTO gold.dim_date
		SELECT to_char(d, 'YYYYMMDD')::int, d,
			   extract(year FROM d), extract(quarter FROM d), extract(month FROM d), extract(day FROM d),
			   extract(isodow FROM d), extract(isoyear FROM d), extract(week FROM d)
		  FROM generate_series(first_day, last_day, interval '1 day') d
		ON CONFLICT (date_key) DO NOTHING;
	END IF;
	IF (SELECT count(*) FROM gold.dim_trading_day)
	   = (last_day - first_day + 1) * cardinality(calendars) THEN
		RETURN;
	END IF;
	INSERT INTO gold.dim_trading_day
	SELECT calendar, to_char(d, 'YYYYMMDD')::int, d, trading, holiday,
		   max(d) FILTER (WHERE trading) OVER week,
		   coalesce(extract(isodow FROM max(d) FILTER (WHERE trading) OVER week) < 5, false)
	  FROM (SELECT c.calendar, d::date AS d, h.name AS holiday,
				   extract(isodow FROM d) < 6 AND h.day IS NULL AS trading
			  FROM unnest(calendars) c (calendar)
			 CROSS JOIN generate_series(first_day, last_day, interval '1 day') d
			  LEFT JOIN (SELECT c.calendar, y.day, string_agg(y.name, ', ' ORDER BY y.name) AS name
						   FROM unnest(calendars) c (calendar),
								generate_series(extract(year FROM first_day)::int,
												extract(year FROM last_day)::int) yr,
								stockelt.market_holidays(c.calendar, yr) y
						  GROUP BY c.calendar, y.day) h ON h.calendar = c.calendar AND h.day = d::date) days
	WINDOW week AS (PARTITION BY calendar, date_trunc('week', d))
	ON CONFLICT (calendar, date_key) DO NOTHING;
END
$$;
REVOKE ALL ON FUNCTION stockelt._refresh_dim_date() FROM PUBLIC;

-- The trailing-window statistics of the gold rows (src/trailing.c): at each row wanted, what
-- corr(y, x) and stddev_samp(x) give over the frame ROWS width - 1 PRECEDING, bit for bit,
-- from the partition's last width rows, which they keep (PostgreSQL re-sums such a frame
-- of float8 aggregates for every row); NULL at a row not wanted, which they only keep.
-- Window functions: they ignore a frame clause.
CREATE FUNCTION stockelt._trailing_corr(y double precision, x double precision, width integer,
	wanted boolean)
RETURNS double precision
AS 'MODULE_PATHNAME', 'stockelt_trailing_corr'
LANGUAGE C WINDOW IMMUTABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION stockelt._trailing_corr(double precision, double precision, integer, boolean)
	FROM PUBLIC;
CREATE FUNCTION stockelt._trailing_stddev(x double precision, width integer, wanted boolean)
RETURNS double precision
AS 'MODULE_PATHNAME', 'stockelt_trailing_stddev'
LANGUAGE C WINDOW IMMUTABLE PARALLEL SAFE;
REVOKE ALL ON FUNCTION stockelt._trailing_stddev(double precision, integer, boolean) FROM PUBLIC;

-- Scratch tables of the refresh.  They belong to the extension and live in its schema, so
-- that the refresh, which runs as the extension's owner, never touches a table its caller
-- could have made (a temporary table created first, with a trigger, would run as the owner).
-- Refreshes take turns on the lock of stockelt.gold_pending, so one refresh at a time uses
-- them; each empties them when it starts and when it ends.  Unlogged and never vacuumed:
-- their rows never outlive a refresh, and a TRUNCATE gives their space back (below).
CREATE UNLOGGED TABLE stockelt._gold_dirty (
	symbol			text PRIMARY KEY,
	from_week		date,
	stock_key		integer,
	pass			integer,
	ctx_from		date,
	first_week		date,
	first_adjusted	numeric,
	last_week		date,
	last_partial	boolean,
	dividends_current boolean
) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
COMMENT ON TABLE stockelt._gold_dirty IS
	'Scratch of stockelt_refresh_gold: the stocks it recomputes; empty outside a refresh.';
CREATE UNLOGGED TABLE stockelt._gold_new (
	LIKE gold.fact_weekly_prices,
	split_numerator		numeric,
	split_denominator	numeric,
	distribution		text,
	paid_amount			numeric,
	observed_factor		double precision,
	other_factor		double precision,
	dividends_current	boolean,
	special_paid		numeric,
	special_adjusted	numeric,
	misfit_raw			double precision,
	misfit_current		double precision
) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
COMMENT ON TABLE stockelt._gold_new IS
	'Scratch of stockelt_refresh_gold: the gold rows it computed; empty outside a refresh.';
-- Neither scratch table is dumped: both are empty outside a refresh.

-- Empties the scratch tables.  Their rows are deleted; once the rows deleted so take more than
-- 4 MB (a few one-week refreshes, or one larger), they are truncated instead, which gives the
-- space back.  A TRUNCATE of an unlogged table writes each of its new files' empty init fork to
-- disk with an fsync, which a one-week refresh would wait for twice.  On Citus each shard is
-- truncated: its size is not known here.
CREATE FUNCTION stockelt._empty_scratch(distributed boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF distributed OR pg_relation_size('stockelt._gold_dirty') + pg_relation_size('stockelt._gold_new')
					  > 4 * 1024 * 1024 THEN
		TRUNCATE stockelt._gold_dirty, stockelt._gold_new;
	ELSE
		DELETE FROM stockelt._gold_dirty;
		DELETE FROM stockelt._gold_new;
	END IF;
END
$$;
REVOKE ALL ON FUNCTION stockelt._empty_scratch(boolean) FROM PUBLIC;

-- Recomputes gold rows from each dirty stock's from_week on, reading 53 weeks before it
-- for the trailing windows and the dividends' classes.  Fills stockelt._gold_new for the
-- stocks of one pass.  The rows are computed by one WITH chain, read top to bottom: each
-- step adds its columns to the rows of the step before.  Each step is read once, so
-- PostgreSQL folds the chain into one query (never MATERIALIZED: that would keep every
-- step's rows).
CREATE FUNCTION stockelt._gold_compute(pass integer, distributed boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- 53 weeks of context: 52 for the trailing windows, and the year before a dividend
	-- that tells a special one from a regular one (each of those weeks needs the week
	-- before it for its own factor jump).  The base of the cumulative return is the first
	-- week after the last seam before that context (the stock's first week if none).
	IF NOT distributed THEN
		-- Per stock, from silver's index: the context's start, the Monday of the 53rd calendar
		-- week with keys before from_week ('-infinity' when the 106 keys before it have fewer
		-- such weeks: then the whole history is read); the last seam before it; and the bar
		-- (the week's last key) of the first week after that seam, or of the stock's first week.
		WITH starts AS MATERIALIZED (
			SELECT x.symbol, x.first_week,
				   (SELECT CASE WHEN count(*) < 53 THEN '-infinity' ELSE min(w.week) END
					  FROM (SELECT DISTINCT date_trunc('week', k.week_ending)::date AS week
							  FROM (SELECT s.week_ending FROM silver.weekly_adjusted_prices s
									 WHERE s.symbol = x.symbol AND s.week_ending < x.from_week
									 ORDER BY s.week_ending DESC LIMIT 106) k
							 ORDER BY week DESC LIMIT 53) w) AS ctx_from
			  FROM stockelt._gold_dirty x
			 WHERE x.pass = _gold_compute.pass
		), seams AS MATERIALIZED (
			SELECT c.symbol, c.ctx_from, c.first_week,
				   (SELECT max(u.week_ending) FROM silver.weekly_adjusted_prices u
					 WHERE u.symbol = c.symbol AND u.week_ending < c.ctx_from AND u.basis_factor IS NULL) AS seam
			  FROM starts c
		)
		UPDATE stockelt._gold_dirty d
		   SET ctx_from = m.ctx_from,
			   first_adjusted =
				(SELECT s.adjusted_close * s.basis_factor FROM silver.weekly_adjusted_prices s
				  WHERE s.symbol = m.symbol AND s.week_ending > coalesce(m.seam, '-infinity')
					AND s.week_ending < date_trunc('week',
							CASE WHEN m.seam IS NULL THEN m.first_week
								 ELSE (SELECT min(f.week_ending) FROM silver.weekly_adjusted_prices f
										WHERE f.symbol = m.symbol AND f.week_ending > m.seam) END)
						+ interval '7 days'
				  ORDER BY s.week_ending DESC LIMIT 1)
		  FROM seams m
		 WHERE m.symbol = d.symbol AND d.pass = _gold_compute.pass;
	ELSE
		-- On Citus the same, as joins on symbol that each shard computes for its stocks, not
		-- as subqueries per stock.
		UPDATE stockelt._gold_dirty d SET ctx_from = '-infinity', first_adjusted = NULL
		 WHERE d.pass = _gold_compute.pass;
		UPDATE stockelt._gold_dirty d SET ctx_from = c.start
		  FROM (SELECT k.symbol,
					   CASE WHEN max(k.r) >= 53 THEN min(k.week) FILTER (WHERE k.r <= 53) END AS start
				  FROM (SELECT k.symbol, k.week, dense_rank() OVER (PARTITION BY k.symbol ORDER BY k.week DESC) AS r
						  FROM (SELECT s.symbol, date_trunc('week', s.week_ending)::date AS week,
									   row_number() OVER (PARTITION BY s.symbol ORDER BY s.week_ending DESC) AS n
								  FROM stockelt._gold_dirty x
								  JOIN silver.weekly_adjusted_prices s
									ON s.symbol = x.symbol AND s.week_ending < x.from_week
								 WHERE x.pass = _gold_compute.pass) k
						 WHERE k.n <= 106) k
				 GROUP BY k.symbol) c
		 WHERE c.symbol = d.symbol AND c.start IS NOT NULL AND d.pass = _gold_compute.pass;
		UPDATE stockelt._gold_dirty d SET first_adjusted = b.first_adjusted
		  FROM (SELECT f.symbol,
					   (array_agg(s.adjusted_close * s.basis_factor ORDER BY s.week_ending DESC))[1]
						   AS first_adjusted
				  FROM (SELECT x.symbol, x.seam, min(s.week_ending) AS first_key
						  FROM (SELECT w.symbol,
									   coalesce(max(u.week_ending) FILTER (WHERE u.week_ending < w.ctx_from
																		  AND u.basis_factor IS NULL),
												'-infinity') AS seam
								  FROM stockelt._gold_dirty w
								  JOIN silver.weekly_adjusted_prices u ON u.symbol = w.symbol
								 WHERE w.pass = _gold_compute.pass
								 GROUP BY w.symbol) x
						  JOIN silver.weekly_adjusted_prices s ON s.symbol = x.symbol AND s.week_ending > x.seam
						 GROUP BY x.symbol, x.seam) f
				  JOIN silver.weekly_adjusted_prices s
					ON s.symbol = f.symbol AND s.week_ending > f.seam
				   AND s.week_ending < date_trunc('week', f.first_key) + interval '7 days'
				 GROUP BY f.symbol) b
		 WHERE b.symbol = d.symbol AND d.pass = _gold_compute.pass;
	END IF;

	-- The stocks' week bars from their context on, with the adjusted close on one basis and
	-- the prices that the returns and jumps divide as float8, each converted once.
	-- One statement on both layouts: on one server each stock's keys are read from silver's
	-- index, a window over them finds each calendar week's last key, and the windows are by
	-- stock_key; on Citus (distributed) the bars are an aggregate of silver's keys by calendar
	-- week, joined on symbol, and every window is by symbol, so that each shard computes its
	-- stocks' rows where their silver rows are.  Either way one bar per week: open of the
	-- first key, high the highest, low the lowest, volume and dividend summed, the rest of
	-- the last.  The WITH is the SELECT's, not the INSERT's: Citus pushes such an INSERT down
	-- to each shard whole (the rows go into the _gold_new shard beside the silver shard they
	-- came from), where it would plan a WITH of the INSERT's own apart and repartition its rows.
	EXECUTE pg_catalog.format($chain$
		INSERT INTO stockelt._gold_new
		WITH %2$s,
		-- the bars numbered, and what the week before tells of each: the previous close, the
		-- returns, the factor jump q and its rounding noise
		bars AS (
			SELECT k.stock_key, k.symbol, k.from_week, k.first_week, k.first_adjusted, k.dividends_current,
				   k.week_ending, k.open, k.high, k.low, k.close, k.adjusted_close, k.adjusted_f,
				   k.volume, k.dividend_amount, k.basis_factor IS NULL AS seam,
				   -- the week after a seam that silver rebased: its jump is the
				   -- rebasing's rounding, not an event
				   k.basis_factor IS DISTINCT FROM lag(k.basis_factor) OVER run AS rebased,
				   row_number() OVER run AS rn, k.is_partial, lag(k.close) OVER run AS previous_close,
				   CASE WHEN NOT k.is_partial AND k.adjusted_close > 0 AND lag(k.adjusted_close) OVER run > 0
						THEN k.adjusted_f / lag(k.adjusted_f) OVER run - 1 END AS adjusted_return,
				   CASE WHEN NOT k.is_partial AND k.adjusted_close > 0 AND lag(k.adjusted_close) OVER run > 0
						THEN ln(k.adjusted_f / lag(k.adjusted_f) OVER run) END AS adjusted_log_return,
				   -- q: the jump of adjusted_close/close that this week's events
				   -- made to every earlier week; unseen (NULL) when one of the four
				   -- prices behind it is at most 0.00005, which four-decimal rounding
				   -- cannot tell from zero
				   CASE WHEN k.provider_adjusted > 0.00005 AND k.close > 0.00005
							 AND lag(k.provider_adjusted) OVER run > 0.00005 AND lag(k.close) OVER run > 0.00005
						THEN (nullif(k.adjusted_f, 0) / k.close_f)
							 / (nullif(lag(k.adjusted_f) OVER run, 0) / lag(k.close_f) OVER run) END AS q,
				   -- how far four-decimal rounding of the four prices behind q can
				   -- move it, as a log: each value v is within 0.00005 of the truth
				   CASE WHEN k.provider_adjusted > 0.00005 AND k.close > 0.00005
							 AND lag(k.provider_adjusted) OVER run > 0.00005 AND lag(k.close) OVER run > 0.00005
						THEN -ln(1 - 0.00005 / k.provider_adjusted_f)
							 - ln(1 - 0.00005 / k.close_f)
							 - ln(1 - 0.00005 / lag(k.provider_adjusted_f) OVER run)
							 - ln(1 - 0.00005 / lag(k.close_f) OVER run) END AS noise
			  FROM week_bars k
			WINDOW run AS (PARTITION BY k.%1$s ORDER BY k.week_ending)
		),
		-- x: the jump over what a dividend below the previous close explains, a split's ratio or 1
		jumps AS (
			SELECT b.*,
				   CASE WHEN dividend_amount > 0 AND dividend_amount < previous_close
						THEN q * (1 - dividend_amount::float8 / previous_close::float8)
						ELSE q END AS x
			  FROM bars b
		),
		-- the split ratio that explains x, if one does
		split_ratios AS (
			SELECT b.*,
				   CASE WHEN abs(x - 1) > 0.05 THEN stockelt._split_ratio(x) END AS r
			  FROM jumps b
		),
		-- the split as numerator and denominator
		splits AS (
			SELECT b.*, r[1]::numeric AS split_numerator, r[2]::numeric AS split_denominator
			  FROM split_ratios b
		),
		-- the splits after each week: shares_after shares today for parts_after of the week's
		share_basis AS (
			SELECT j.*,
				   stockelt._product(split_numerator) OVER whole
					   / stockelt._product(split_numerator) OVER run AS shares_after,
				   stockelt._product(split_denominator) OVER whole
					   / stockelt._product(split_denominator) OVER run AS parts_after
			  FROM splits j
			WINDOW run AS (PARTITION BY j.%1$s ORDER BY j.week_ending),
				   whole AS (PARTITION BY j.%1$s)
		),
		-- volume on today's share basis, and how far the jump is from what the
		-- dividend explains on either basis of the dividend field (what the basis vote counts)
		split_adjusted AS (
			SELECT e.*,
				   round(shares_after / parts_after, 10) AS split_factor,
				   round(volume * shares_after / parts_after, 2) AS split_adjusted_volume,
				   CASE WHEN split_numerator IS NULL THEN 1 ELSE (split_numerator / split_denominator)::float8 END
					   AS split_ratio,
				   CASE WHEN dividend_amount > 0 AND shares_after <> parts_after AND q IS NOT NULL
							 AND dividend_amount < previous_close
						THEN abs(ln(q / coalesce(split_numerator / split_denominator, 1)::float8)
								 + ln(((previous_close - dividend_amount) / previous_close)::float8)) END AS misfit_raw,
				   CASE WHEN dividend_amount > 0 AND shares_after <> parts_after AND q IS NOT NULL
							 AND dividend_amount * shares_after / parts_after < previous_close
						THEN abs(ln(q / coalesce(split_numerator / split_denominator, 1)::float8)
								 + ln(((previous_close - dividend_amount * shares_after / parts_after)
										  / previous_close)::float8)) END AS misfit_current
			  FROM share_basis e
		),
		-- what the week paid per share then, on the raw basis
		paid AS (
			SELECT f.*, dividend_amount * CASE WHEN dividends_current THEN split_factor ELSE 1 END AS paid_amount
			  FROM split_adjusted f
		),
		-- how far the factor jump is from what the payment explains
		misfits AS (
			SELECT f.*,
				   CASE WHEN paid_amount > 0 AND paid_amount < previous_close AND q IS NOT NULL
						THEN abs(ln(q / split_ratio) + ln(((previous_close - paid_amount) / previous_close)::float8))
				   END AS misfit
			  FROM paid f
		),
		-- Which payments are cash dividends, and the jumps no payment or split explains.  A cash
		-- dividend is one below the close before it whose factor jump 1 / (1 - paid / previous
		-- close) is the observed one within 0.5 %% and the rounding noise (the provider divides by
		-- the close of the session before the ex-date, which a weekly bar does not show).  A week
		-- whose jump cannot be seen (the first, or one after a seam) is taken as paid in cash.
		cash_dividends AS (
			SELECT f.*,
				   paid_amount > 0 AND (previous_close IS NULL OR paid_amount < previous_close)
					 AND (q IS NULL OR misfit <= 0.005 + noise) AS cash,
				   CASE WHEN paid_amount > 0 AND previous_close IS NOT NULL
							 AND (paid_amount >= previous_close OR misfit > 0.005 + noise)
						THEN q / split_ratio END AS observed_factor,
				   CASE WHEN dividend_amount = 0 AND NOT rebased AND abs(ln(q / split_ratio)) > noise
						THEN q / split_ratio END AS other_factor
			  FROM misfits f
		),
		-- the row (rn) of the last cash dividend before this week (a running maximum), and a
		-- cash dividend's amount on today's share basis
		last_payment AS (
			SELECT f.*, CASE WHEN cash THEN round(paid_amount * parts_after / shares_after, 12) END AS cash_adjusted,
				   max(CASE WHEN cash THEN rn END) OVER before AS paid_1
			  FROM cash_dividends f
			WINDOW before AS (PARTITION BY f.%1$s ORDER BY f.week_ending
							  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
		),
		-- the rows (rn) of the cash dividends before a cash dividend: the one before the last (the
		-- last at its row) and the last one's amount (only a cash dividend's class needs them: an
		-- offset of NULL costs lag() no read); and the last seam
		payments_before AS (
			SELECT f.*, lag(paid_1, CASE WHEN cash THEN (rn - paid_1)::int END) OVER run AS paid_2,
				   lag(cash_adjusted, CASE WHEN cash THEN (rn - paid_1)::int END) OVER run AS amount_1,
				   max(CASE WHEN seam THEN rn END) OVER run AS last_seam
			  FROM last_payment f
			WINDOW run AS (PARTITION BY f.%1$s ORDER BY f.week_ending)
		),
		-- volume and volatility (|log return|) pair up where a return exists; only what the
		-- windows and the rows need goes on (narrow rows are cheaper to window), what the frames
		-- read first (a frame reads its rows again for each row, and each row up to the last
		-- column it reads), the float8 inputs of the statistics converted once.  The weeks
		-- before from_week are read for the windows only: what no later week reads is computed
		-- for the weeks kept alone, after the windows (the lags below read nothing for the others).
		window_inputs AS (
			SELECT CASE WHEN adjusted_log_return IS NOT NULL THEN split_adjusted_volume::float8 END AS vol_f,
				   abs(adjusted_log_return) AS move, adjusted_log_return, adjusted_close, adjusted_f,
				   CASE WHEN adjusted_log_return IS NOT NULL THEN split_adjusted_volume END AS vol,
				   stock_key, symbol, week_ending, from_week, first_adjusted, open, high, low, close,
				   volume, dividend_amount, split_factor, split_adjusted_volume,
				   adjusted_return, is_partial, seam, rn, last_seam, week_ending >= from_week AS kept,
				   paid_amount, cash, paid_1, paid_2, amount_1, shares_after, parts_after,
				   split_numerator, split_denominator, observed_factor, other_factor,
				   dividends_current, misfit_raw, misfit_current,
				   CASE WHEN paid_amount > 0 THEN
						CASE WHEN cash THEN 'dividend' ELSE 'distribution' END END AS distribution
			  FROM payments_before f
		),
		-- The trailing windows, each of the rows up to this one: the sums of adjusted closes
		-- and volumes in exact numeric over frames (PostgreSQL moves such a frame by a row,
		-- adding one and taking one off), the correlation and the standard deviation as
		-- float8 sums over the 52 rows in order, each kept row's afresh (as corr() and
		-- stddev_samp() over the frame give them, from a ring of the last 52 rows), so a
		-- week's measures depend on its 52 weeks alone, whichever week the refresh starts
		-- from.  A window with a seam (a week without an adjusted close) in it is incomplete.
		-- The base of the cumulative return, and the third cash dividend before a cash
		-- dividend with the amounts of the second and third (the first's at their rows).
		trailing_windows AS (
			SELECT w.*, rn - coalesce(last_seam, 0) AS unbroken,
				   -- the first week after the last seam up to this one, else the context's base
				   CASE WHEN seam THEN NULL WHEN last_seam IS NULL THEN first_adjusted
						ELSE lag(adjusted_close, CASE WHEN kept THEN (rn - last_seam - 1)::int END) OVER run
				   END AS base_adjusted,
				   lag(adjusted_f, CASE WHEN kept THEN 4 END) OVER run AS adjusted_4w,
				   lag(adjusted_f, CASE WHEN kept THEN 13 END) OVER run AS adjusted_13w,
				   lag(adjusted_f, CASE WHEN kept THEN 52 END) OVER run AS adjusted_52w,
				   lag(paid_2, CASE WHEN kept AND paid_2 IS NOT NULL THEN (rn - paid_1)::int END) OVER run AS paid_3,
				   lag(amount_1, CASE WHEN kept AND paid_2 IS NOT NULL THEN (rn - paid_1)::int END) OVER run AS amount_2,
				   lag(amount_1, CASE WHEN kept AND paid_2 IS NOT NULL THEN (rn - paid_2)::int END) OVER run AS amount_3,
				   sum(adjusted_close) OVER w13 AS adj13,
				   sum(adjusted_close) OVER w52 AS adj52,
				   count(adjusted_log_return) OVER w52 AS r52,
				   sum(vol) OVER w52 AS sum_v,
				   stockelt._trailing_corr(vol_f, move, 52, kept) OVER run AS correlation,
				   stockelt._trailing_stddev(adjusted_log_return, 52, kept) OVER run AS deviation
			  FROM window_inputs w
			WINDOW run AS (PARTITION BY %1$s ORDER BY week_ending),
				   w13 AS (run ROWS 12 PRECEDING),
				   w52 AS (run ROWS 51 PRECEDING)
		),
		-- the week's payment on today's share basis
		adjusted_dividends AS (
			SELECT t.*, round(paid_amount * parts_after / shares_after, 12) AS split_adjusted_dividend
			  FROM trailing_windows t
		),
		-- A cash dividend is special, all of it, when it comes sooner than 3/4 of the shorter of
		-- the two intervals between the three cash dividends before it (all three within the 52
		-- weeks before it); on schedule, what it pays above twice the largest of those three
		-- (within the 52 weeks) is special beyond a regular payment of that largest amount.
		special_dividends AS (
			SELECT t.*,
				   CASE WHEN NOT cash THEN NULL
						WHEN paid_3 >= rn - 52
							 AND rn - paid_1 < 0.75 * least(paid_1 - paid_2, paid_2 - paid_3)
						THEN paid_amount
						WHEN split_adjusted_dividend > 2 * greatest(CASE WHEN paid_1 >= rn - 52 THEN amount_1 END,
																	CASE WHEN paid_2 >= rn - 52 THEN amount_2 END,
																	CASE WHEN paid_3 >= rn - 52 THEN amount_3 END)
						THEN round(paid_amount - greatest(CASE WHEN paid_1 >= rn - 52 THEN amount_1 END,
														  CASE WHEN paid_2 >= rn - 52 THEN amount_2 END,
														  CASE WHEN paid_3 >= rn - 52 THEN amount_3 END)
												 * shares_after / parts_after, 12) END AS special_paid
			  FROM adjusted_dividends t
		),
		-- the measures of the trailing windows (a return over N weeks needs the N + 1 weeks up to
		-- this one without a seam, an average over N weeks N), the special dividend and the close
		-- on today's share basis, the adjustment factor and the date's key
		measures AS (
			SELECT stock_key, to_char(week_ending, 'YYYYMMDD')::int AS date_key, week_ending, from_week,
				   open, high, low, close, adjusted_close, volume, dividend_amount,
				   round(adjusted_close / nullif(close, 0), 10) AS adjustment_factor, split_factor,
				   round(close * parts_after / shares_after, 6) AS split_adjusted_close, split_adjusted_volume,
				   split_adjusted_dividend, adjusted_return, adjusted_log_return, is_partial,
				   CASE WHEN NOT is_partial AND base_adjusted > 0
						THEN adjusted_f / base_adjusted::float8 - 1 END AS cumulative_return,
				   CASE WHEN NOT is_partial AND unbroken > 4
						THEN adjusted_f / nullif(adjusted_4w, 0) - 1 END AS return_4w,
				   CASE WHEN NOT is_partial AND unbroken > 13
						THEN adjusted_f / nullif(adjusted_13w, 0) - 1 END AS return_13w,
				   CASE WHEN NOT is_partial AND unbroken > 52
						THEN adjusted_f / nullif(adjusted_52w, 0) - 1 END AS return_52w,
				   CASE WHEN NOT is_partial AND unbroken >= 13 THEN round(adj13 / 13, 6) END AS moving_average_13w,
				   CASE WHEN NOT is_partial AND unbroken >= 52 THEN round(adj52 / 52, 6) END AS moving_average_52w,
				   CASE WHEN NOT is_partial AND r52 = 52 THEN correlation END
						AS volume_volatility_correlation_52w,
				   CASE WHEN NOT is_partial AND r52 = 52 THEN deviation * sqrt(52) END
						AS annualised_volatility_52w,
				   CASE WHEN NOT is_partial AND r52 = 52 THEN round(sum_v / 52, 2) END AS mean_volume_52w,
				   symbol, split_numerator, split_denominator, distribution, paid_amount, observed_factor,
				   other_factor, dividends_current, special_paid,
				   round(special_paid * parts_after / shares_after, 12) AS special_adjusted,
				   misfit_raw, misfit_current
			  FROM special_dividends
		)
		SELECT stock_key, date_key, week_ending, open, high, low, close, adjusted_close, volume,
			   dividend_amount, adjustment_factor, split_factor, split_adjusted_close,
			   split_adjusted_volume, split_adjusted_dividend, adjusted_return, adjusted_log_return,
			   is_partial, cumulative_return, return_4w, return_13w, return_52w, moving_average_13w,
			   moving_average_52w, volume_volatility_correlation_52w, annualised_volatility_52w,
			   mean_volume_52w, symbol, split_numerator, split_denominator, distribution, paid_amount,
			   observed_factor, other_factor, dividends_current, special_paid, special_adjusted,
			   misfit_raw, misfit_current
		  FROM measures
		 -- the weeks before from_week were read for the windows only
		 WHERE week_ending >= from_week
	$chain$,
		CASE WHEN distributed THEN 'symbol' ELSE 'stock_key' END,
		CASE WHEN distributed THEN pg_catalog.format($bars$
		week_bars AS (
			SELECT d.stock_key, d.symbol, d.from_week, d.first_week, d.first_adjusted,
				   coalesce(d.dividends_current, false) AS dividends_current, s.week_ending,
				   s.week_ending = d.last_week AND d.last_partial AS is_partial, s.open, s.high, s.low,
				   s.close, s.provider_adjusted, s.adjusted_close, s.basis_factor, s.volume,
				   s.dividend_amount, s.close_f, s.provider_adjusted_f, s.adjusted_f
			  FROM stockelt._gold_dirty d
			  -- (an aggregate written twice is computed once)
			  JOIN (SELECT s.symbol, max(s.week_ending) AS week_ending,
						   (array_agg(s.open ORDER BY s.week_ending))[1] AS open,
						   max(s.high) AS high, min(s.low) AS low,
						   (array_agg(s.close ORDER BY s.week_ending DESC))[1] AS close,
						   (array_agg(s.adjusted_close ORDER BY s.week_ending DESC))[1] AS provider_adjusted,
						   (array_agg(s.adjusted_close * s.basis_factor ORDER BY s.week_ending DESC))[1]
							   AS adjusted_close,
						   (array_agg(s.basis_factor ORDER BY s.week_ending DESC))[1] AS basis_factor,
						   sum(s.volume)::bigint AS volume, sum(s.dividend_amount) AS dividend_amount,
						   (array_agg(s.close ORDER BY s.week_ending DESC))[1]::float8 AS close_f,
						   (array_agg(s.adjusted_close ORDER BY s.week_ending DESC))[1]::float8
							   AS provider_adjusted_f,
						   (array_agg(s.adjusted_close * s.basis_factor ORDER BY s.week_ending DESC))[1]::float8
							   AS adjusted_f
					  FROM stockelt._gold_dirty w
					  JOIN silver.weekly_adjusted_prices s ON s.symbol = w.symbol AND s.week_ending >= w.ctx_from
					 WHERE w.pass = %1$s
					 GROUP BY s.symbol, date_trunc('week', s.week_ending)) s ON s.symbol = d.symbol
			 WHERE d.pass = %1$s
		)$bars$, pass)
		ELSE pg_catalog.format($bars$
		-- silver's keys of the stocks from their context on, with the calendar weeks of the
		-- keys before and after each, in the order of the windows below (one sort for all);
		-- the adjusted close on one basis, and the prices that the returns and jumps divide as
		-- float8, each converted once (a step with a window function is computed once, not
		-- folded into each use of its columns)
		week_keys AS (
			SELECT d.stock_key, d.symbol, d.from_week, d.first_week, d.first_adjusted,
				   coalesce(d.dividends_current, false) AS dividends_current, s.week_ending,
				   s.week_ending = d.last_week AND d.last_partial AS is_partial, s.open, s.high, s.low,
				   s.close, s.adjusted_close AS provider_adjusted,
				   s.adjusted_close * s.basis_factor AS adjusted_close, s.basis_factor, s.volume,
				   s.dividend_amount, s.close::float8 AS close_f,
				   s.adjusted_close::float8 AS provider_adjusted_f,
				   (s.adjusted_close * s.basis_factor)::float8 AS adjusted_f,
				   date_trunc('week', s.week_ending) AS week,
				   date_trunc('week', lag(s.week_ending) OVER run) AS week_before,
				   date_trunc('week', lead(s.week_ending) OVER run) AS week_after
			  FROM stockelt._gold_dirty d
			 -- each stock's keys read from the index (OFFSET 0 keeps it so: the planner cannot
			 -- estimate how many keys ctx_from leaves, and would hash all of silver instead)
			 CROSS JOIN LATERAL (SELECT s.week_ending, s.open, s.high, s.low, s.close, s.adjusted_close,
										s.basis_factor, s.volume, s.dividend_amount
								   FROM silver.weekly_adjusted_prices s
								  WHERE s.symbol = d.symbol AND s.week_ending >= d.ctx_from
								 OFFSET 0) s
			 WHERE d.pass = %1$s
			WINDOW run AS (PARTITION BY d.stock_key ORDER BY s.week_ending)
		),
		-- each week's last key; a week of more keys (rare) has its open, high, low, volume and
		-- dividend from all of them, read again from silver for that week alone
		week_merged AS (
			SELECT k.*,
				   CASE WHEN k.week = k.week_before THEN
						(SELECT ARRAY[(array_agg(m.open ORDER BY m.week_ending))[1], max(m.high), min(m.low),
									  sum(m.volume), sum(m.dividend_amount)]
						   FROM silver.weekly_adjusted_prices m
						  WHERE m.symbol = k.symbol AND m.week_ending > k.week_ending - 7
							AND m.week_ending <= k.week_ending AND date_trunc('week', m.week_ending) = k.week)
				   END AS merged
			  FROM week_keys k
			 WHERE k.week IS DISTINCT FROM k.week_after
		),
		week_bars AS (
			SELECT stock_key, symbol, from_week, first_week, first_adjusted, dividends_current, week_ending,
				   is_partial, coalesce(merged[1], open) AS open, coalesce(merged[2], high) AS high,
				   coalesce(merged[3], low) AS low, close, provider_adjusted, adjusted_close, basis_factor,
				   coalesce(merged[4]::bigint, volume) AS volume,
				   coalesce(merged[5], dividend_amount) AS dividend_amount, close_f, provider_adjusted_f,
				   adjusted_f
			  FROM week_merged
		)$bars$, pass) END);
END
$$;
REVOKE ALL ON FUNCTION stockelt._gold_compute(integer, boolean) FROM PUBLIC;

-- Whether gold is laid out on Citus: true when stockelt_distribute() distributed silver, the
-- facts, the corporate actions and the refresh's scratch tables by symbol, all co-located;
-- false on one server.  Any other layout of those six tables is an error (SE300): the
-- refresh would fail halfway, or compute each stock's rows away from its silver rows.
CREATE FUNCTION stockelt._gold_distributed() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	layout record;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN false;
	END IF;
	EXECUTE $q$
		SELECT count(p.logicalrelid) AS tables,
			   count(*) FILTER (WHERE p.partmethod = 'h'
								AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) = 'symbol'
								AND p.colocationid = (SELECT colocationid FROM pg_catalog.pg_dist_partition
													   WHERE logicalrelid = 'silver.weekly_adjusted_prices'::regclass))
				   AS by_symbol,
			   string_agg(t.name, ', ' ORDER BY t.name) FILTER (WHERE p.logicalrelid IS NULL) AS local_tables
		  FROM pg_catalog.unnest(ARRAY['silver.weekly_adjusted_prices', 'gold.fact_weekly_prices',
									   'gold.corporate_actions', 'stockelt._gold_dirty',
									   'stockelt._gold_new']) AS t (name)
		  LEFT JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = t.name::regclass$q$
	INTO layout;
	IF layout.tables = 0 THEN
		RETURN false;
	ELSIF layout.by_symbol = 5 THEN
		RETURN true;
	END IF;
	RAISE EXCEPTION 'gold is not laid out with silver on Citus'
		USING ERRCODE = 'SE300',
			  DETAIL = CASE WHEN layout.local_tables IS NOT NULL
							THEN pg_catalog.format('Not distributed: %s.', layout.local_tables)
							ELSE 'Some of silver, the facts, the corporate actions and the refresh''s '
								 'scratch tables are not distributed by symbol with silver.' END,
			  HINT = 'Call stockelt_distribute(): it distributes what is still local.';
END
$$;
REVOKE ALL ON FUNCTION stockelt._gold_distributed() FROM PUBLIC;

-- JIT is off: the planner sizes the refresh by the whole of silver, and compiling its
-- queries cost more than an incremental refresh itself (measured 2–3 s of 5).
CREATE FUNCTION @extschema@.stockelt_refresh_gold(full_rebuild boolean DEFAULT false,
	OUT stocks integer, OUT weeks_written bigint, OUT rebuilt_history integer)
RETURNS record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
	this_pass integer := 1;
	revoted bigint;
	dirty record;
	distributed boolean := stockelt._gold_distributed();
	judged_again text[];
	judged_again_from date[];
BEGIN
	-- Ingests that already changed silver finish first and later ones wait, so no
	-- change is consumed before it is visible; one refresh runs at a time.  Readers of
	-- an incremental refresh are never blocked and see gold as it was until this
	-- transaction commits; a full rebuild blocks readers of the fact table and the
	-- corporate actions while it writes them (its TRUNCATE below).
	LOCK TABLE stockelt.gold_pending IN SHARE ROW EXCLUSIVE MODE;
	LOCK TABLE gold.dim_stock, gold.dim_date, gold.fact_weekly_prices, gold.corporate_actions
		IN EXCLUSIVE MODE;

	-- The extension's own scratch tables, this refresh's alone while it holds the lock above.
	PERFORM stockelt._empty_scratch(distributed);

	IF full_rebuild THEN
		DELETE FROM stockelt.gold_pending;
		INSERT INTO stockelt._gold_dirty (symbol, from_week, pass)
		SELECT symbol, '-infinity', 1 FROM gold.dim_stock
		UNION
		SELECT DISTINCT symbol, '-infinity'::date, 1 FROM silver.weekly_adjusted_prices;
	ELSE
		-- from the Monday of the oldest changed week: gold's grain is the calendar week
		WITH taken AS (DELETE FROM stockelt.gold_pending RETURNING symbol, from_week)
		INSERT INTO stockelt._gold_dirty (symbol, from_week, pass)
		SELECT symbol, date_trunc('week', from_week)::date, 1 FROM taken;
	END IF;
	ANALYZE stockelt._gold_dirty;

	-- Stocks no longer in silver leave gold, each looked up in silver once.
	WITH gone AS (
		DELETE FROM stockelt._gold_dirty d
		 WHERE NOT EXISTS (SELECT FROM silver.weekly_adjusted_prices s WHERE s.symbol = d.symbol)
		RETURNING d.symbol
	), stocks_gone AS (
		DELETE FROM gold.dim_stock g USING gone WHERE g.symbol = gone.symbol RETURNING g.stock_key
	), facts_gone AS (
		DELETE FROM gold.fact_weekly_prices f USING stocks_gone x WHERE f.stock_key = x.stock_key
	)
	DELETE FROM gold.corporate_actions a USING stocks_gone x WHERE a.stock_key = x.stock_key;

	-- Dimensions first: the stocks' week ranges, then the calendar they span.  New stocks are
	-- numbered in the order of their symbols, the same on one server and on Citus.
	INSERT INTO gold.dim_stock AS g (symbol, first_week, last_week)
	SELECT d.symbol,
		   (SELECT min(week_ending) FROM silver.weekly_adjusted_prices s WHERE s.symbol = d.symbol),
		   (SELECT max(week_ending) FROM silver.weekly_adjusted_prices s WHERE s.symbol = d.symbol)
	  FROM stockelt._gold_dirty d
	 ORDER BY d.symbol
	ON CONFLICT (symbol) DO UPDATE SET first_week = excluded.first_week, last_week = excluded.last_week
	 WHERE (g.first_week, g.last_week) IS DISTINCT FROM (excluded.first_week, excluded.last_week);
	-- Descriptive columns from silver.symbols, the calendar from what it says of the listing;
	-- region, currency where the provider gave none, and the time zone are the calendar's.
	-- A stock whose calendar changed has its newest week judged again.
	-- The listings and the calendars are read first and the stocks to judge again kept,
	-- since on Citus a statement that changes a reference table reads no distributed or
	-- local one.
	WITH listings AS MATERIALIZED (
		SELECT symbol, name, asset_type, exchange, region, currency, timezone, sector, industry
		  FROM silver.symbols
	), calendars AS MATERIALIZED (
		SELECT calendar, region, currency, timezone FROM stockelt.calendars
	), described AS (
	UPDATE gold.dim_stock g
	   SET name = x.name, asset_type = x.asset_type, exchange = x.exchange, region = x.region,
		   currency = x.currency, timezone = x.timezone, sector = x.sector, industry = x.industry,
		   calendar = x.calendar
	  FROM (SELECT g.stock_key, g.calendar AS old_calendar, s.name, s.asset_type, s.exchange,
				   coalesce(s.region, c.region) AS region, coalesce(s.currency, c.currency) AS currency,
				   coalesce(c.timezone, s.timezone) AS timezone, s.sector, s.industry, c.calendar
			  FROM gold.dim_stock g
			  LEFT JOIN listings s ON s.symbol = g.symbol
			  LEFT JOIN calendars c
				ON c.calendar = stockelt.listing_calendar(g.symbol, s.exchange, s.region)) x
	 WHERE x.stock_key = g.stock_key
	   AND (g.name, g.asset_type, g.exchange, g.region, g.currency, g.timezone, g.sector, g.industry,
			g.calendar)
		   IS DISTINCT FROM
		   (x.name, x.asset_type, x.exchange, x.region, x.currency, x.timezone, x.sector, x.industry,
			x.calendar)
	RETURNING g.symbol, g.last_week, x.old_calendar IS DISTINCT FROM x.calendar AS recalendared
	)
	SELECT array_agg(symbol), array_agg(date_trunc('week', last_week)::date)
	  INTO judged_again, judged_again_from
	  FROM described WHERE recalendared;
	INSERT INTO stockelt._gold_dirty AS d (symbol, from_week, pass)
	SELECT symbol, from_week, 1 FROM unnest(judged_again, judged_again_from) r (symbol, from_week)
	ON CONFLICT (symbol) DO UPDATE SET from_week = least(d.from_week, excluded.from_week);
	PERFORM stockelt._refresh_dim_date();

	-- The newest week is partial when its key is not its week's last session, or when it
	-- was fetched before that session closed (the exchange's close, in its time zone).  A
	-- listing without a known calendar: before the week's Friday, or fetched before
	-- Saturday 12:00 UTC (when Friday has ended everywhere).  The cumulative return starts
	-- from the first week's bar: the adjusted close of its last key.
	IF NOT distributed THEN
		UPDATE stockelt._gold_dirty d
		   SET stock_key = g.stock_key, first_week = g.first_week, last_week = g.last_week,
			   dividends_current = g.dividends_on_current_basis,
			   last_partial = CASE WHEN c.calendar IS NULL THEN
									coalesce(extract(isodow FROM g.last_week) < 5
											 OR s.fetched_at < (date_trunc('week', g.last_week)::date + 5
																+ time '12:00') AT TIME ZONE 'UTC', true)
								ELSE
									coalesce(g.last_week < dd.week_last_trading_day
											 OR s.fetched_at < (dd.week_last_trading_day + c.session_close)
															   AT TIME ZONE c.timezone, true)
								END
		  FROM gold.dim_stock g
		  JOIN silver.weekly_adjusted_prices s ON s.symbol = g.symbol AND s.week_ending = g.last_week
		  LEFT JOIN stockelt.calendars c ON c.calendar = g.calendar
		  LEFT JOIN gold.dim_trading_day dd
			ON dd.calendar = g.calendar AND dd.date_key = to_char(g.last_week, 'YYYYMMDD')::int
		 WHERE g.symbol = d.symbol;
	ELSE
		-- On Citus the same, with each stock's closing time worked out first from the
		-- dimensions and the calendars (a change of a distributed table joins no local table,
		-- and computes no time zone).
		WITH closes AS MATERIALIZED (
			SELECT g.symbol, g.stock_key, g.first_week, g.last_week, g.dividends_on_current_basis,
				   CASE WHEN c.calendar IS NULL THEN extract(isodow FROM g.last_week) < 5
						ELSE g.last_week < dd.week_last_trading_day END AS early,
				   CASE WHEN c.calendar IS NULL
						THEN (date_trunc('week', g.last_week)::date + 5 + time '12:00') AT TIME ZONE 'UTC'
						ELSE (dd.week_last_trading_day + c.session_close) AT TIME ZONE c.timezone
						END AS closes_at
			  FROM gold.dim_stock g
			  LEFT JOIN stockelt.calendars c ON c.calendar = g.calendar
			  LEFT JOIN gold.dim_trading_day dd
				ON dd.calendar = g.calendar AND dd.date_key = to_char(g.last_week, 'YYYYMMDD')::int
		)
		UPDATE stockelt._gold_dirty d
		   SET stock_key = g.stock_key, first_week = g.first_week, last_week = g.last_week,
			   dividends_current = g.dividends_on_current_basis,
			   last_partial = coalesce(g.early OR s.fetched_at < g.closes_at, true)
		  FROM closes g
		  JOIN silver.weekly_adjusted_prices s ON s.symbol = g.symbol AND s.week_ending = g.last_week
		 WHERE s.symbol = d.symbol;
	END IF;

	-- The basis of the dividend field is voted over the weeks before a split: a change
	-- at or before the stock's last split recomputes its whole history.
	UPDATE stockelt._gold_dirty d SET from_week = '-infinity'
	 WHERE d.from_week > d.first_week
	   AND EXISTS (SELECT FROM gold.corporate_actions a
				    WHERE a.stock_key = d.stock_key AND a.symbol = d.symbol AND a.action = 'split'
					  AND a.date_key >= to_char(d.from_week, 'YYYYMMDD')::int);

	-- A split inferred anew, or no longer, changes the share basis of every earlier week:
	-- such a stock is recomputed from its first week.  Found with one join of the new
	-- splits and the stored ones, not a scan per stock.
	LOOP
		PERFORM stockelt._gold_compute(this_pass, distributed);
		-- The basis of the dividend field, voted by the weeks before a split that paid:
		-- today's basis when more of them fit their factor jump as the amount times the
		-- split factor than as the amount itself.  A stock computed from its first week on
		-- another basis than its vote is computed again on the voted one.
		UPDATE stockelt._gold_dirty d SET dividends_current = v.vote, pass = pass + 1
		  FROM (SELECT dd.symbol, coalesce(c.vote, false) AS vote
				  FROM stockelt._gold_dirty dd
				  LEFT JOIN (SELECT n.symbol,
									count(*) FILTER (WHERE coalesce(n.misfit_current < n.misfit_raw, n.misfit_current IS NOT NULL))
									  > count(*) FILTER (WHERE coalesce(n.misfit_raw < n.misfit_current, n.misfit_raw IS NOT NULL))
									  AS vote
							   FROM stockelt._gold_new n
							  WHERE n.misfit_raw IS NOT NULL OR n.misfit_current IS NOT NULL
							  GROUP BY n.symbol) c USING (symbol)
				 WHERE dd.pass = this_pass AND dd.from_week <= dd.first_week) v
		 WHERE d.symbol = v.symbol AND d.pass = this_pass
		   AND v.vote IS DISTINCT FROM coalesce(d.dividends_current, false);
		GET DIAGNOSTICS revoted = ROW_COUNT;
		UPDATE stockelt._gold_dirty d SET from_week = '-infinity', pass = pass + 1
		  FROM (SELECT DISTINCT coalesce(n.symbol, a.symbol) AS symbol
				  FROM (SELECT n.symbol, n.date_key, n.split_numerator, n.split_denominator
						  FROM stockelt._gold_new n
						  JOIN stockelt._gold_dirty dd ON dd.symbol = n.symbol
						 WHERE dd.pass = this_pass AND dd.from_week > dd.first_week
						   AND n.split_numerator IS NOT NULL) n
				  FULL JOIN
					   (SELECT a.symbol, a.date_key, a.ratio_numerator, a.ratio_denominator
						  FROM gold.corporate_actions a
						  JOIN stockelt._gold_dirty dd ON dd.symbol = a.symbol AND dd.stock_key = a.stock_key
						 WHERE dd.pass = this_pass AND dd.from_week > dd.first_week
						   AND a.action = 'split' AND a.week_ending >= dd.from_week) a
					ON a.symbol = n.symbol AND a.date_key = n.date_key
				 WHERE n.symbol IS NULL OR a.symbol IS NULL
					OR n.split_numerator <> a.ratio_numerator
					OR n.split_denominator <> a.ratio_denominator) changed
		 WHERE d.symbol = changed.symbol AND d.pass = this_pass;
		EXIT WHEN NOT FOUND AND revoted = 0;
		DELETE FROM stockelt._gold_new n USING stockelt._gold_dirty d
		 WHERE n.symbol = d.symbol AND d.pass = this_pass + 1;
		this_pass := this_pass + 1;
	END LOOP;

	IF full_rebuild THEN
		-- Emptied at once, not row by row: a DELETE would write every page of both tables to
		-- the WAL once more.  TRUNCATE locks them against readers from here to the commit,
		-- while the rows computed above are written.  The fact table's key is built again
		-- once its rows are in, from one sort: kept up row by row, it would write a WAL
		-- record per row instead of its pages once.
		TRUNCATE gold.fact_weekly_prices, gold.corporate_actions;
		ALTER TABLE gold.fact_weekly_prices DROP CONSTRAINT fact_weekly_prices_pkey;
	ELSE
		-- A key range of the primary keys per stock: a join would scan the whole fact table
		-- to delete one week of each stock.
		FOR dirty IN SELECT stock_key, symbol,
							CASE WHEN from_week = '-infinity' THEN 0
								 ELSE to_char(from_week, 'YYYYMMDD')::int END AS from_key
					   FROM stockelt._gold_dirty
		LOOP
			DELETE FROM gold.fact_weekly_prices
			 WHERE stock_key = dirty.stock_key AND symbol = dirty.symbol AND date_key >= dirty.from_key;
			DELETE FROM gold.corporate_actions
			 WHERE stock_key = dirty.stock_key AND symbol = dirty.symbol AND date_key >= dirty.from_key;
		END LOOP;
	END IF;
	INSERT INTO gold.fact_weekly_prices
	SELECT stock_key, date_key, week_ending, open, high, low, close, adjusted_close, volume,
		   dividend_amount, adjustment_factor, split_factor, split_adjusted_close,
		   split_adjusted_volume, split_adjusted_dividend, adjusted_return, adjusted_log_return,
		   is_partial, cumulative_return, return_4w, return_13w, return_52w, moving_average_13w,
		   moving_average_52w, volume_volatility_correlation_52w, annualised_volatility_52w,
		   mean_volume_52w, symbol
	  FROM stockelt._gold_new;
	GET DIAGNOSTICS weeks_written = ROW_COUNT;
	IF full_rebuild THEN
		ALTER TABLE gold.fact_weekly_prices
			ADD CONSTRAINT fact_weekly_prices_pkey PRIMARY KEY (stock_key, date_key, symbol);
	END IF;
	-- Each week's actions, from one scan of the computed rows.
	INSERT INTO gold.corporate_actions (stock_key, date_key, week_ending, action, amount,
		split_adjusted_amount, ratio_numerator, ratio_denominator, observed_factor, symbol)
	SELECT n.stock_key, n.date_key, n.week_ending, a.action, a.amount, a.split_adjusted_amount,
		   a.ratio_numerator, a.ratio_denominator, a.observed_factor, n.symbol
	  FROM stockelt._gold_new n
	 CROSS JOIN LATERAL (VALUES
			(n.distribution, n.paid_amount - coalesce(n.special_paid, 0),
			 n.split_adjusted_dividend - coalesce(n.special_adjusted, 0), NULL::numeric, NULL::numeric,
			 n.observed_factor, n.distribution IS NOT NULL AND n.paid_amount > coalesce(n.special_paid, 0)),
			('special dividend', n.special_paid, n.special_adjusted, NULL, NULL, NULL, n.special_paid > 0),
			('split', NULL, NULL, n.split_numerator, n.split_denominator, NULL, n.split_numerator IS NOT NULL),
			('other adjustment', NULL, NULL, NULL, NULL, n.other_factor, n.other_factor IS NOT NULL))
		   a (action, amount, split_adjusted_amount, ratio_numerator, ratio_denominator, observed_factor, present)
	 WHERE (n.distribution IS NOT NULL OR n.special_paid > 0 OR n.split_numerator IS NOT NULL
			OR n.other_factor IS NOT NULL)
	   AND a.present;
	-- what the stocks recomputed from their first week voted for their dividend field (read
	-- first: on Citus a change of a reference table reads no distributed one)
	WITH voted AS MATERIALIZED (
		SELECT n.symbol, n.dividends_current
		  FROM stockelt._gold_new n JOIN stockelt._gold_dirty d USING (symbol)
		 WHERE n.week_ending = d.first_week
	)
	UPDATE gold.dim_stock g SET dividends_on_current_basis = v.dividends_current
	  FROM voted v
	 WHERE g.symbol = v.symbol AND g.dividends_on_current_basis IS DISTINCT FROM v.dividends_current;

	SELECT count(*), count(*) FILTER (WHERE d.from_week <= d.first_week)
	  INTO stocks, rebuilt_history
	  FROM stockelt._gold_dirty d WHERE d.stock_key IS NOT NULL;
	IF stocks > 0 OR full_rebuild THEN
		INSERT INTO stockelt.gold_refreshes (started_at, finished_at, full_rebuild, stocks, weeks_written)
		VALUES (now(), clock_timestamp(), full_rebuild, stocks, weeks_written);
	END IF;
	PERFORM stockelt._empty_scratch(distributed);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_refresh_gold(boolean) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_refresh_gold(boolean) IS
	'Brings gold up to date with silver: only stocks changed since the last refresh, or everything with full_rebuild.';
