-- Gold: the star schema, the three business answers, incremental refresh, checks.
\! "$PG_ABS_SRCDIR/standinctl" reset
\getenv work STOCKELT_TEST_WORK
\set weeksfile :work/gold_weeks.csv
\set yearsfile :work/gold_years.csv
\set actionsfile :work/gold_actions.csv

-- Gold is built from silver alone: start from an empty one.
TRUNCATE silver.weekly_adjusted_prices;
SELECT * FROM stockelt_refresh_gold(true);
SELECT count(*) AS facts FROM gold.fact_weekly_prices;

-- Ten generated stocks, 1,100 weeks to a partial Monday: forward splits 2:1 to 20:1,
-- 3:2, a reverse 1:10, growing, flat and cut dividends, holiday weeks.
CREATE TEMP TABLE gen (symbol text PRIMARY KEY);
INSERT INTO gen VALUES ('G02'), ('G03'), ('G05'), ('G07'), ('G08'), ('G13'), ('G20'), ('G34'),
	('G44'), ('G54');
\! for s in G02 G03 G05 G07 G08 G13 G20 G34 G44 G54; do "$PG_ABS_SRCDIR/standinctl" symbol "symbol=$s&weeks=1100&end=2024-04-15"; done
SELECT count(*) AS objects FROM stockelt_ingest(ARRAY(SELECT stockelt_fetch(symbol) FROM gen ORDER BY 1));
TABLE stockelt.gold_pending ORDER BY 1;
SELECT * FROM stockelt_refresh_gold();
SELECT count(*) AS pending_after FROM stockelt.gold_pending;
SELECT symbol, first_week, last_week FROM gold.dim_stock ORDER BY 1;

-- What the generator knows, computed from its own events and unrounded prices.
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" weeks G02 G03 G05 G07 G08 G13 G20 G34 G44 G54 --weeks 1100 --end 2024-04-15 > "$STOCKELT_TEST_WORK/gold_weeks.csv"
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" years G02 G03 G05 G07 G08 G13 G20 G34 G44 G54 --weeks 1100 --end 2024-04-15 > "$STOCKELT_TEST_WORK/gold_years.csv"
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" actions G02 G03 G05 G07 G08 G13 G20 G34 G44 G54 --weeks 1100 --end 2024-04-15 > "$STOCKELT_TEST_WORK/gold_actions.csv"
CREATE TEMP TABLE truth_weeks (symbol text, week_ending date, is_partial boolean,
	weekly_return float8, log_return float8, cumulative_return float8, return_4w float8,
	return_13w float8, return_52w float8, ma_13w float8, ma_52w float8, split_factor float8,
	split_adjusted_volume float8, correlation float8, annualised_volatility float8,
	mean_volume float8);
COPY truth_weeks FROM :'weeksfile' (FORMAT csv);
CREATE TEMP TABLE truth_years (symbol text, year int, complete_year boolean, payments int,
	dividends_per_share float8, growth float8, growth_streak int);
COPY truth_years FROM :'yearsfile' (FORMAT csv);
CREATE TEMP TABLE truth_actions (symbol text, week_ending date, action text, amount float8,
	split_adjusted_amount float8, numerator int, denominator int, observed_factor float8);
COPY truth_actions FROM :'actionsfile' (FORMAT csv);

-- Within: both NULL, or apart by at most tol, relative to the size of the value.
CREATE FUNCTION within(a float8, b float8, tol float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT (a IS NULL AND b IS NULL) OR abs(a - b) <= tol * greatest(1, abs(b))
$$;
-- A return from two adjusted closes sent with four decimals can be off the true one by
-- (1 + r) * 0.00005 * (1/now + 1/then), and no more.
CREATE FUNCTION return_within(gold float8, truth float8, adj_now numeric, adj_then numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT (gold IS NULL AND truth IS NULL)
		OR abs(gold - truth) <= (1 + abs(truth)) * 0.00005 * (1 / adj_now + 1 / adj_then)::float8 + 1e-12
$$;

-- Every column of the three views against the generator.
CREATE TEMP TABLE joined AS
SELECT t.*, p.weekly_return AS p_weekly, p.cumulative_return AS p_cumulative,
	   p.return_4w AS p_4w, p.return_13w AS p_13w, p.return_52w AS p_52w,
	   p.moving_average_13w AS p_ma13, p.moving_average_52w AS p_ma52, p.is_partial AS p_partial,
	   v.split_adjusted_volume AS v_volume, v.volatility AS v_volatility,
	   v.correlation AS v_correlation, v.annualised_volatility AS v_annualised,
	   v.mean_volume AS v_mean_volume, v.is_partial AS v_partial,
	   p.adjusted_close AS adj, first_value(p.adjusted_close) OVER w AS adj_first,
	   lag(p.adjusted_close) OVER w AS adj_1, lag(p.adjusted_close, 4) OVER w AS adj_4,
	   lag(p.adjusted_close, 13) OVER w AS adj_13, lag(p.adjusted_close, 52) OVER w AS adj_52
  FROM truth_weeks t
  FULL JOIN gold.weekly_performance p USING (symbol, week_ending)
  FULL JOIN gold.volume_volatility_52w v USING (symbol, week_ending)
 WHERE coalesce(t.symbol, p.symbol, v.symbol) IN (SELECT symbol FROM gen)
WINDOW w AS (PARTITION BY symbol ORDER BY week_ending);
SELECT count(*) AS weeks,
	   count(*) FILTER (WHERE t_missing) AS missing_in_gold,
	   count(*) FILTER (WHERE p_partial IS DISTINCT FROM is_partial OR v_partial IS DISTINCT FROM is_partial) AS partial_wrong,
	   count(*) FILTER (WHERE is_partial) AS partial_weeks
  FROM (SELECT j.*, j.p_partial IS NULL AS t_missing FROM joined j) x;
-- Returns within what four decimals allow; the rest within a fixed tolerance.
SELECT c.name, count(*) FILTER (WHERE c.truth IS NOT NULL) AS known,
	   count(*) FILTER (WHERE NOT c.ok) AS wrong
  FROM joined j,
	   LATERAL (VALUES
		('weekly_return', weekly_return, return_within(p_weekly, weekly_return, adj, adj_1)),
		('cumulative_return', cumulative_return, return_within(p_cumulative, cumulative_return, adj, adj_first)),
		('return_4w', return_4w, return_within(p_4w, return_4w, adj, adj_4)),
		('return_13w', return_13w, return_within(p_13w, return_13w, adj, adj_13)),
		('return_52w', return_52w, return_within(p_52w, return_52w, adj, adj_52)),
		('volatility', abs(log_return), return_within(v_volatility, abs(log_return), adj, adj_1)),
		('moving_average_13w', ma_13w, within(p_ma13::float8, ma_13w, 1e-4)),
		('moving_average_52w', ma_52w, within(p_ma52::float8, ma_52w, 1e-4)),
		('split_adjusted_volume', split_adjusted_volume, within(v_volume::float8, split_adjusted_volume, 1e-9)),
		('correlation', correlation, within(v_correlation, correlation, 2e-3)),
		('annualised_volatility', annualised_volatility, within(v_annualised, annualised_volatility, 1e-3)),
		('mean_volume', mean_volume, within(v_mean_volume::float8, mean_volume, 1e-7))) AS c (name, truth, ok)
 GROUP BY c.name ORDER BY 1;
-- The windows start where the history allows: the first return in week 2, the 52-week
-- measures in week 53, nothing in the partial newest week.
SELECT symbol, count(*) FILTER (WHERE weekly_return IS NOT NULL) AS returns,
	   count(*) FILTER (WHERE return_52w IS NOT NULL) AS returns_52w,
	   count(*) FILTER (WHERE moving_average_52w IS NOT NULL) AS averages_52w,
	   count(*) FILTER (WHERE is_partial) AS partial
  FROM gold.weekly_performance WHERE symbol IN ('G02', 'G54') GROUP BY 1 ORDER BY 1;
SELECT symbol, count(correlation) AS correlations, min(week_ending) FILTER (WHERE correlation IS NOT NULL) AS first
  FROM gold.volume_volatility_52w WHERE symbol IN ('G02', 'G54') GROUP BY 1 ORDER BY 1;

-- Splits inferred from the adjustment factor, with their ratios; dividends as paid and on
-- today's share basis.
SELECT coalesce(t.symbol, g.symbol) AS symbol, coalesce(t.week_ending, g.week_ending) AS week_ending,
	   t.numerator || ':' || t.denominator AS generated, g.ratio_numerator || ':' || g.ratio_denominator AS inferred
  FROM (SELECT * FROM truth_actions WHERE action = 'split') t
  FULL JOIN (SELECT a.* FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
			  WHERE a.action = 'split') g USING (symbol, week_ending)
 ORDER BY 1, 2;
SELECT count(*) AS dividends,
	   count(*) FILTER (WHERE g.amount::float8 IS DISTINCT FROM t.amount) AS amount_wrong,
	   count(*) FILTER (WHERE NOT within(g.split_adjusted_amount::float8, t.split_adjusted_amount, 1e-7)) AS adjusted_wrong
  FROM (SELECT * FROM truth_actions WHERE action = 'dividend') t
  FULL JOIN (SELECT a.* FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
			  WHERE a.action = 'dividend') g USING (symbol, week_ending);
SELECT count(*) AS other_adjustments FROM gold.corporate_actions WHERE action = 'other adjustment';

-- Dividend growth by calendar year: complete years, payments, split-adjusted totals,
-- growth and streaks all as the generator made them.
SELECT count(*) AS years,
	   count(*) FILTER (WHERE g.year IS NULL OR t.year IS NULL) AS missing,
	   count(*) FILTER (WHERE g.complete_year IS DISTINCT FROM t.complete_year) AS complete_wrong,
	   count(*) FILTER (WHERE g.payments IS DISTINCT FROM t.payments) AS payments_wrong,
	   count(*) FILTER (WHERE NOT within(g.dividends_per_share::float8, t.dividends_per_share, 1e-7)) AS dps_wrong,
	   count(*) FILTER (WHERE NOT within(g.growth, t.growth, 1e-6)) AS growth_wrong,
	   count(*) FILTER (WHERE g.growth_streak IS DISTINCT FROM t.growth_streak) AS streak_wrong,
	   count(*) FILTER (WHERE t.growth < 0) AS cuts
  FROM truth_years t FULL JOIN gold.dividend_growth g USING (symbol, year);
-- A split never looks like a cut: the split years of G13 (3:1, 3:1, 2:1, 2:1) and G44
-- (20:1) are years of growth; G03's real cuts show as cuts.
SELECT d.symbol, d.year, a.ratio_numerator || ':' || a.ratio_denominator AS split,
	   round(d.dividends_per_share, 6) AS dividends_per_share, round(d.growth::numeric, 4) AS growth,
	   d.growth_streak
  FROM gold.dividend_growth d
  LEFT JOIN (SELECT extract(year FROM a.week_ending)::int AS year, a.*
			   FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
			  WHERE a.action = 'split') a USING (symbol, year)
 WHERE (d.symbol IN ('G13', 'G44') AND d.year BETWEEN 2015 AND 2023)
	OR (d.symbol = 'G03' AND d.year BETWEEN 2019 AND 2023)
 ORDER BY 1, 2;
SELECT * FROM gold.dividend_growers();
SELECT symbol, growth_streak, through_year FROM gold.dividend_growers(3);
-- The same list from the generator's own years.
SELECT symbol, growth_streak, year AS through_year
  FROM (SELECT DISTINCT ON (symbol) * FROM truth_years WHERE complete_year ORDER BY symbol, year DESC) t
 WHERE growth_streak >= 3 ORDER BY growth_streak DESC, symbol;

-- The calendar: every date of the years with prices, one row each, sessions marked.
SELECT min(date), max(date), count(*), count(*) = max(date) - min(date) + 1 AS one_row_a_day
  FROM gold.dim_date;
SELECT date, date_key, iso_year, iso_week, quarter, day_of_week, calendar, is_trading_day, holiday,
	   week_last_trading_day, week_closed_early
  FROM gold.dim_date JOIN gold.dim_trading_day USING (date_key, date)
 WHERE date IN ('2001-09-10', '2001-09-14', '2004-12-31', '2009-12-31', '2012-10-29', '2015-04-03',
				'2020-07-02', '2021-01-01', '2022-06-20', '2024-03-29')
 ORDER BY date;
-- Every closed week of the generated stocks is keyed by its week's last session.
SELECT count(*) AS closed_weeks,
	   count(*) FILTER (WHERE f.week_ending <> d.week_last_trading_day) AS not_last_session,
	   count(*) FILTER (WHERE d.week_closed_early) AS closed_early
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key, symbol)
  JOIN gold.dim_trading_day d USING (calendar, date_key)
 WHERE NOT f.is_partial;

-- A clean generated load passes every check.
SELECT * FROM stockelt_check();

-- Incremental refresh: a sequence of ingests, restatements, late arrivals and SQL
-- changes, each followed by a refresh of only what changed ...
-- (an older fetch of G08 with a longer history, to be ingested late)
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=G08&weeks=1150&end=2023-06-30'
SELECT stockelt_fetch('G08') AS late_key \gset
-- one week later for every stock: the partial week closes and a new one starts;
\! for s in G02 G03 G05 G07 G08 G13 G20 G34 G44 G54; do "$PG_ABS_SRCDIR/standinctl" symbol "symbol=$s&weeks=1101&end=2024-04-22"; done
SELECT count(*) AS objects FROM stockelt_ingest(ARRAY(SELECT stockelt_fetch(symbol) FROM gen ORDER BY 1));
SELECT symbol, from_week FROM stockelt.gold_pending ORDER BY 1;
SELECT * FROM stockelt_refresh_gold();
SELECT symbol, week_ending, is_partial FROM gold.weekly_performance
 WHERE symbol = 'G02' AND week_ending >= '2024-04-01' ORDER BY 2;
-- every adjusted close of G02 restated;
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=G02&weeks=1101&end=2024-04-22&restate=0.97'
SELECT * FROM stockelt_ingest(stockelt_fetch('G02'));
SELECT symbol, from_week FROM stockelt.gold_pending ORDER BY 1;
SELECT * FROM stockelt_refresh_gold();
-- a late arrival: the older fetch of G08 adds its early weeks and changes no newer one;
SELECT * FROM stockelt_ingest(:'late_key');
-- (silver's basis_factor puts its early weeks on the newest object's basis: the ratio of
-- the two objects' adjusted closes in their newest common week)
UPDATE silver.weekly_adjusted_prices s SET basis_factor = r.factor
  FROM (SELECT n.adjusted_close / (o.value->>'5. adjusted close')::numeric AS factor
		  FROM silver.weekly_adjusted_prices n,
			   jsonb_each(convert_from(stockelt_bronze_read(:'late_key'), 'UTF8')::jsonb
						  -> 'Weekly Adjusted Time Series') o
		 WHERE n.symbol = 'G08' AND n.week_ending = o.key::date AND n.bronze_key <> :'late_key'
		 ORDER BY n.week_ending DESC LIMIT 1) r
 WHERE s.symbol = 'G08' AND s.bronze_key = :'late_key';
SELECT symbol, from_week FROM stockelt.gold_pending ORDER BY 1;
SELECT * FROM stockelt_refresh_gold();
-- no factor jump is invented where the early weeks meet the newest object's
SELECT a.action, a.week_ending FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
 WHERE s.symbol = 'G08' AND a.action NOT IN ('dividend', 'split') ORDER BY 2;
-- a stock's newest week changed by SQL, and a week deleted by SQL;
UPDATE silver.weekly_adjusted_prices SET volume = volume + 1
 WHERE symbol = 'G05' AND week_ending = '2024-04-19';
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'G07' AND week_ending = '2020-06-05';
SELECT symbol, from_week FROM stockelt.gold_pending ORDER BY 1;
SELECT * FROM stockelt_refresh_gold();
-- the deleted week ingested again;
SELECT * FROM stockelt_ingest((SELECT key FROM stockelt.bronze_objects WHERE symbol = 'G07'
								ORDER BY fetched_at DESC LIMIT 1), force => true);
SELECT * FROM stockelt_refresh_gold();
-- a new stock, and one that leaves silver entirely.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=G100&weeks=700&end=2024-04-19'
SELECT * FROM stockelt_ingest(stockelt_fetch('G100'));
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'G20';
SELECT * FROM stockelt_refresh_gold();
SELECT * FROM stockelt_refresh_gold();
-- G13 fetched from a listing whose dividend field is on today's share basis (each amount
-- divided by the splits after it) while its raw prices are not: the factor jumps show it,
-- and every dividend is divided by its splits once, not twice.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=G13&weeks=1101&end=2024-04-22&dividends=current'
SELECT inserted, updated > 0 AS restated FROM stockelt_ingest(stockelt_fetch('G13'));
SELECT stocks, rebuilt_history FROM stockelt_refresh_gold();
SELECT symbol, dividends_on_current_basis FROM gold.dim_stock WHERE symbol IN ('G13', 'G44') ORDER BY 1;
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" years G13 --weeks 1101 --end 2024-04-22 > "$STOCKELT_TEST_WORK/gold_years.csv"
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" actions G13 --weeks 1101 --end 2024-04-22 > "$STOCKELT_TEST_WORK/gold_actions.csv"
TRUNCATE truth_years, truth_actions;
COPY truth_years FROM :'yearsfile' (FORMAT csv);
COPY truth_actions FROM :'actionsfile' (FORMAT csv);
-- (the field has four decimals on today's basis: each amount is within 0.00005 of the truth)
SELECT count(*) AS dividends,
	   count(*) FILTER (WHERE g.action IS DISTINCT FROM 'dividend') AS not_regular,
	   count(*) FILTER (WHERE abs(g.split_adjusted_amount::float8 - t.split_adjusted_amount) > 0.00005 + 1e-9) AS adjusted_wrong
  FROM (SELECT * FROM truth_actions WHERE action = 'dividend') t
  FULL JOIN (SELECT a.* FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
			  WHERE a.action IN ('dividend', 'special dividend', 'distribution') AND s.symbol = 'G13') g
	USING (symbol, week_ending);
SELECT count(*) AS years,
	   count(*) FILTER (WHERE g.year IS NULL OR t.year IS NULL) AS missing,
	   count(*) FILTER (WHERE g.payments IS DISTINCT FROM t.payments) AS payments_wrong,
	   count(*) FILTER (WHERE abs(g.dividends_per_share::float8 - t.dividends_per_share) > 0.00005 * t.payments + 1e-9) AS dps_wrong,
	   count(*) FILTER (WHERE g.growth_streak IS DISTINCT FROM t.growth_streak) AS streak_wrong
  FROM truth_years t FULL JOIN gold.dividend_growth g USING (symbol, year)
 WHERE coalesce(t.symbol, g.symbol) = 'G13';
-- A new stock with what real listings show besides regular dividends and splits: a special
-- dividend five weeks after a regular one (20 times its size), a spin-off that leaves
-- only a factor jump of x1.03, and a distribution in kind stated as a dividend of 30.00
-- whose factor jump (x1.35) is not the x1.331 a cash dividend of 30.00 would make.
\! "$PG_ABS_SRCDIR/standinctl" symbol "symbol=G202&weeks=600&end=2024-04-19&events=special:2019-01-18:5.00,spinoff:2019-08-02:1.03,distribution:2020-07-24:30.00:1.35"
SELECT inserted FROM stockelt_ingest(stockelt_fetch('G202'));
SELECT stocks, rebuilt_history FROM stockelt_refresh_gold();
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" years G202 --weeks 600 --end 2024-04-19 --events special:2019-01-18:5.00,spinoff:2019-08-02:1.03,distribution:2020-07-24:30.00:1.35 > "$STOCKELT_TEST_WORK/gold_years.csv"
\! python3 "$PG_ABS_SRCDIR/goldtruth.py" actions G202 --weeks 600 --end 2024-04-19 --events special:2019-01-18:5.00,spinoff:2019-08-02:1.03,distribution:2020-07-24:30.00:1.35 > "$STOCKELT_TEST_WORK/gold_actions.csv"
TRUNCATE truth_years, truth_actions;
COPY truth_years FROM :'yearsfile' (FORMAT csv);
COPY truth_actions FROM :'actionsfile' (FORMAT csv);
-- every action as the generator made it (a factor within what four decimals allow)
SELECT coalesce(t.action, g.action) AS action, count(*) AS weeks,
	   count(*) FILTER (WHERE t.action IS NULL) AS only_gold, count(*) FILTER (WHERE g.action IS NULL) AS only_truth,
	   count(*) FILTER (WHERE g.amount::float8 IS DISTINCT FROM t.amount
						OR NOT within(g.split_adjusted_amount::float8, t.split_adjusted_amount, 1e-7)
						OR g.ratio_numerator IS DISTINCT FROM t.numerator
						OR NOT within(g.observed_factor, t.observed_factor, 1e-4)) AS wrong
  FROM (SELECT * FROM truth_actions WHERE symbol = 'G202') t
  FULL JOIN (SELECT a.* FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
			  WHERE s.symbol = 'G202') g USING (symbol, week_ending, action)
 GROUP BY 1 ORDER BY 1;
SELECT week_ending, action, amount, round(observed_factor::numeric, 4) AS factor
  FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
 WHERE s.symbol = 'G202' AND action NOT IN ('dividend', 'split') ORDER BY 1;
-- growth and streaks from the regular dividends alone, the special one in its own column
SELECT count(*) AS years,
	   count(*) FILTER (WHERE g.year IS NULL OR t.year IS NULL) AS missing,
	   count(*) FILTER (WHERE g.payments IS DISTINCT FROM t.payments) AS payments_wrong,
	   count(*) FILTER (WHERE NOT within(g.dividends_per_share::float8, t.dividends_per_share, 1e-7)) AS dps_wrong,
	   count(*) FILTER (WHERE NOT within(g.growth, t.growth, 1e-6)) AS growth_wrong,
	   count(*) FILTER (WHERE g.growth_streak IS DISTINCT FROM t.growth_streak) AS streak_wrong,
	   sum(g.special_dividends_per_share) AS special
  FROM truth_years t FULL JOIN gold.dividend_growth g USING (symbol, year)
 WHERE coalesce(t.symbol, g.symbol) = 'G202';
-- A seam that silver could not rebase (basis_factor NULL): G05's weeks before 2010 are
-- off the newest basis.  They get no adjusted close; no return, window or cumulative
-- return crosses the seam, and the series starts again after it; the check warns.
UPDATE silver.weekly_adjusted_prices SET basis_factor = NULL
 WHERE symbol = 'G05' AND week_ending < '2010-01-01';
SELECT stocks, rebuilt_history FROM stockelt_refresh_gold();
SELECT week_ending, adjusted_close IS NULL AS off_basis, weekly_return IS NULL AS no_return,
	   return_4w IS NULL AS no_4w, moving_average_13w IS NULL AS no_ma13w,
	   round(cumulative_return::numeric, 10) AS cumulative_return
  FROM gold.weekly_performance
 WHERE symbol = 'G05' AND week_ending BETWEEN '2009-12-18' AND '2010-01-15' ORDER BY 1;
SELECT count(*) AS weeks_after_seam,
	   count(*) FILTER (WHERE p.cumulative_return IS DISTINCT FROM
			CASE WHEN NOT p.is_partial THEN s.adjusted_close::float8 / b.adjusted_close::float8 - 1 END) AS cumulative_wrong,
	   count(*) FILTER (WHERE p.return_52w IS NOT NULL AND p.week_ending < '2010-12-31') AS window_across_seam
  FROM gold.weekly_performance p
  JOIN silver.weekly_adjusted_prices s USING (symbol, week_ending)
  CROSS JOIN (SELECT adjusted_close FROM silver.weekly_adjusted_prices
			   WHERE symbol = 'G05' AND week_ending >= '2010-01-01' ORDER BY week_ending LIMIT 1) b
 WHERE p.symbol = 'G05' AND p.week_ending >= '2010-01-01';
SELECT severity, check_name, symbol, week_ending, detail FROM stockelt_check()
 WHERE check_name = 'seam that could not be rebased';
-- a later week of G05 changed by SQL: the refresh starts after the seam, from the base it kept
UPDATE silver.weekly_adjusted_prices SET volume = volume + 1
 WHERE symbol = 'G05' AND week_ending = '2015-06-05';
SELECT stocks, rebuilt_history FROM stockelt_refresh_gold();

-- ... gives the same gold tables as a full rebuild, row for row.
CREATE TEMP TABLE inc_facts AS SELECT * FROM gold.fact_weekly_prices;
CREATE TEMP TABLE inc_actions AS SELECT * FROM gold.corporate_actions;
CREATE TEMP TABLE inc_stocks AS SELECT * FROM gold.dim_stock;
CREATE TEMP TABLE inc_dates AS SELECT * FROM gold.dim_date;
SELECT * FROM stockelt_refresh_gold(true);
SELECT 'fact_weekly_prices' AS "table", (SELECT count(*) FROM gold.fact_weekly_prices) AS rows,
	   (SELECT count(*) FROM (TABLE inc_facts EXCEPT ALL TABLE gold.fact_weekly_prices) d) AS only_incremental,
	   (SELECT count(*) FROM (TABLE gold.fact_weekly_prices EXCEPT ALL TABLE inc_facts) d) AS only_rebuild
UNION ALL
SELECT 'corporate_actions', (SELECT count(*) FROM gold.corporate_actions),
	   (SELECT count(*) FROM (TABLE inc_actions EXCEPT ALL TABLE gold.corporate_actions) d),
	   (SELECT count(*) FROM (TABLE gold.corporate_actions EXCEPT ALL TABLE inc_actions) d)
UNION ALL
SELECT 'dim_stock', (SELECT count(*) FROM gold.dim_stock),
	   (SELECT count(*) FROM (TABLE inc_stocks EXCEPT ALL TABLE gold.dim_stock) d),
	   (SELECT count(*) FROM (TABLE gold.dim_stock EXCEPT ALL TABLE inc_stocks) d)
UNION ALL
SELECT 'dim_date', (SELECT count(*) FROM gold.dim_date),
	   (SELECT count(*) FROM (TABLE inc_dates EXCEPT ALL TABLE gold.dim_date) d),
	   (SELECT count(*) FROM (TABLE gold.dim_date EXCEPT ALL TABLE inc_dates) d);
-- The rebuild built the fact table's key again after its rows, as the table declares it.
SELECT c.conname, pg_get_constraintdef(c.oid) AS definition, i.indisvalid, i.indisprimary
  FROM pg_constraint c JOIN pg_index i ON i.indexrelid = c.conindid
 WHERE c.conrelid = 'gold.fact_weekly_prices'::regclass;
-- A refresh with nothing to do changes nothing.
SELECT * FROM stockelt_refresh_gold();
SELECT count(*) AS changed FROM (TABLE inc_facts EXCEPT ALL TABLE gold.fact_weekly_prices) d;

-- (G05 back on one basis for the checks below)
UPDATE silver.weekly_adjusted_prices SET basis_factor = 1 WHERE symbol = 'G05' AND basis_factor IS NULL;
SELECT stocks, rebuilt_history FROM stockelt_refresh_gold();

-- Descriptive columns come from silver.symbols.
SELECT * FROM stockelt_ingest(stockelt_fetch_overview('G02'));
SELECT * FROM stockelt_refresh_gold();
SELECT symbol, name IS NOT NULL AS named, asset_type, currency, sector IS NOT NULL AS has_sector
  FROM gold.dim_stock WHERE symbol = 'G02';

-- Readers are never blocked by a refresh and never see it half done: another session
-- sees gold as it was until the refresh commits.
SELECT dblink_connect('reader', format('dbname=%s user=%s host=%s port=%s', current_database(),
	   current_user, current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_exec('reader', 'SET statement_timeout = ''5s''');
BEGIN;
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'G54' AND week_ending >= '2020-01-01';
SELECT stocks, weeks_written FROM stockelt_refresh_gold();
SELECT count(*) AS g54_weeks_here FROM gold.fact_weekly_prices f JOIN gold.dim_stock USING (stock_key, symbol) WHERE symbol = 'G54';
SELECT * FROM dblink('reader', $$SELECT count(*) FROM gold.fact_weekly_prices f
	JOIN gold.dim_stock USING (stock_key, symbol) WHERE symbol = 'G54'$$) AS r(g54_weeks_seen_by_reader bigint);
COMMIT;
SELECT * FROM dblink('reader', $$SELECT count(*) FROM gold.fact_weekly_prices f
	JOIN gold.dim_stock USING (stock_key, symbol) WHERE symbol = 'G54'$$) AS r(g54_weeks_seen_by_reader bigint);
SELECT dblink_disconnect('reader');

-- Data-quality checks: each planted fault is reported with its offending row, then undone.
SELECT * FROM stockelt_check();
BEGIN;
ALTER TABLE gold.fact_weekly_prices DROP CONSTRAINT fact_weekly_prices_pkey;
INSERT INTO gold.fact_weekly_prices
SELECT * FROM gold.fact_weekly_prices f
 WHERE stock_key = (SELECT stock_key FROM gold.dim_stock WHERE symbol = 'G02') AND week_ending = '2023-03-03';
SELECT severity, check_name, symbol, week_ending FROM stockelt_check();
ROLLBACK;
BEGIN;
ALTER TABLE gold.fact_weekly_prices DROP CONSTRAINT fact_weekly_prices_pkey,
	ALTER COLUMN date_key DROP NOT NULL;
UPDATE gold.fact_weekly_prices SET date_key = NULL
 WHERE stock_key = (SELECT stock_key FROM gold.dim_stock WHERE symbol = 'G02') AND week_ending = '2023-03-03';
SELECT severity, check_name, symbol, week_ending, detail FROM stockelt_check();
ROLLBACK;
BEGIN;
UPDATE gold.fact_weekly_prices SET stock_key = 99999
 WHERE stock_key = (SELECT stock_key FROM gold.dim_stock WHERE symbol = 'G02') AND week_ending = '2023-03-03';
UPDATE gold.fact_weekly_prices SET date_key = 19000105
 WHERE stock_key = (SELECT stock_key FROM gold.dim_stock WHERE symbol = 'G03') AND week_ending = '2023-03-03';
SELECT severity, check_name, symbol, week_ending, detail FROM stockelt_check();
ROLLBACK;
BEGIN;
UPDATE gold.fact_weekly_prices f SET high = low - 1
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G02' AND f.week_ending = '2023-03-03';
UPDATE gold.fact_weekly_prices f SET open = high + 1
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G03' AND f.week_ending = '2023-03-03';
UPDATE gold.fact_weekly_prices f SET close = low / 2
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G05' AND f.week_ending = '2023-03-03';
-- a split week mixes pre- and post-split prices: not a fault
UPDATE gold.fact_weekly_prices f SET open = high * 2
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G44' AND f.week_ending = '2017-02-24';
SELECT severity, check_name, symbol, week_ending FROM stockelt_check();
ROLLBACK;
BEGIN;
UPDATE gold.fact_weekly_prices f SET volume = -5
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G02' AND f.week_ending = '2023-03-03';
UPDATE gold.fact_weekly_prices f SET low = -0.01, adjusted_close = 0
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G03' AND f.week_ending = '2023-03-03';
SELECT severity, check_name, symbol, week_ending FROM stockelt_check();
ROLLBACK;
BEGIN;
UPDATE gold.fact_weekly_prices f SET week_ending = current_date + 8,
	   date_key = to_char(current_date + 8, 'YYYYMMDD')::int
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G02' AND f.week_ending = '2024-04-12';
SELECT severity, check_name, symbol, week_ending = current_date + 8 AS next_week_or_later
  FROM stockelt_check() WHERE check_name = 'date in the future';
ROLLBACK;
BEGIN;
-- a Friday week keyed by its Thursday, and a week missing
UPDATE gold.fact_weekly_prices f SET week_ending = '2023-03-02', date_key = 20230302
  FROM gold.dim_stock s WHERE s.stock_key = f.stock_key AND s.symbol = 'G02' AND f.week_ending = '2023-03-03';
DELETE FROM gold.fact_weekly_prices f USING gold.dim_stock s
 WHERE s.stock_key = f.stock_key AND s.symbol = 'G03' AND f.week_ending IN ('2023-03-03', '2023-03-10');
SELECT severity, check_name, symbol, week_ending, detail FROM stockelt_check();
ROLLBACK;
SELECT count(*) AS failed_checks_after FROM stockelt_check();

-- Listings on other exchanges, each on its own calendar: a Toronto listing (XTO.TO, to a
-- Thursday before a Canada Day Friday) with two keys in seven Christmas weeks, as the
-- provider sends them, and a London one (XLN.LON, to a Friday).  Silver holds them as the
-- generator rendered them for COPY.
\! python3 "$PG_ABS_SRCDIR/genpayload.py" XTO --exchange TSX --weeks 1300 --end 2022-07-01 --format csv > "$STOCKELT_TEST_WORK/gold_tsx.csv"
\! python3 "$PG_ABS_SRCDIR/genpayload.py" XLN --exchange LSE --weeks 1300 --end 2024-04-12 --format csv > "$STOCKELT_TEST_WORK/gold_lse.csv"
\set tsxfile :work/gold_tsx.csv
\set lsefile :work/gold_lse.csv
CREATE TEMP TABLE listed (symbol text, week_ending date, open numeric, high numeric, low numeric,
	close numeric, adjusted_close numeric, volume bigint, dividend_amount numeric);
COPY listed FROM :'tsxfile' (FORMAT csv, HEADER);
COPY listed FROM :'lsefile' (FORMAT csv, HEADER);
SELECT symbol, count(*) AS keys, min(week_ending), max(week_ending),
	   count(*) - count(DISTINCT date_trunc('week', week_ending)) AS second_keys_in_a_week
  FROM listed GROUP BY 1 ORDER BY 1;
CREATE FUNCTION load_listed(where_clause text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE 'INSERT INTO silver.weekly_adjusted_prices (symbol, week_ending, open, high, low, close,
				adjusted_close, volume, dividend_amount, bronze_key, fetched_at)
			 SELECT l.*, ''generated/'' || symbol, week_ending + time ''23:00''
			   FROM listed l WHERE ' || where_clause;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- Their calendars, as the exchanges published them for 2022, and the years the rules change.
SELECT c.calendar, h.day, h.name FROM (VALUES ('TSX'), ('LSE')) c (calendar),
	   stockelt.market_holidays(c.calendar, 2022) h ORDER BY 1, 2;
SELECT c.calendar, y, string_agg(to_char(h.day, 'MM-DD') || ' ' || h.name, ', ' ORDER BY h.day) AS moved_or_new
  FROM (VALUES ('TSX', 2007), ('TSX', 2008), ('TSX', 2021), ('LSE', 1995), ('LSE', 1999),
			   ('LSE', 2002), ('LSE', 2020), ('LSE', 2021)) c (calendar, y),
	   stockelt.market_holidays(c.calendar, c.y) h
 WHERE h.name ~ 'Family|Early May|Spring|millennium|Jubilee|Christmas|Boxing|New Year'
 GROUP BY 1, 2 ORDER BY 1, 2;
-- Every weekday of 1990 to 2030 is a session or not on both the generator's and stockelt's
-- calendar (the generator implements the same published rules on its own).
\! python3 -c "import sys, datetime; sys.path.insert(0, '$PG_ABS_SRCDIR'); import genpayload as g; [print(e, d) for e in ('TSX', 'LSE') for y in range(1990, 2031) for d in sorted(g.HOLIDAYS[e](y)) if d.weekday() < 5]" > "$STOCKELT_TEST_WORK/gold_holidays.txt"
\set holidaysfile :work/gold_holidays.txt
CREATE TEMP TABLE generator_holidays (calendar text, day date);
COPY generator_holidays FROM :'holidaysfile' (FORMAT text, DELIMITER ' ');
SELECT calendar, count(*) AS holidays,
	   count(*) FILTER (WHERE g.day IS NULL) AS only_stockelt,
	   count(*) FILTER (WHERE s.day IS NULL) AS only_generator
  FROM (SELECT c.calendar, h.day FROM (VALUES ('TSX'), ('LSE')) c (calendar),
			   generate_series(1990, 2030) y, stockelt.market_holidays(c.calendar, y) h) s
  FULL JOIN generator_holidays g USING (calendar, day)
 GROUP BY 1 ORDER BY 1;

-- Toronto up to its Christmas Monday of 2018, the newest key; London whole.
SELECT load_listed($$symbol = 'XTO.TO' AND week_ending <= '2018-12-24' OR symbol = 'XLN.LON'$$) AS loaded;
SELECT * FROM stockelt_refresh_gold();
SELECT symbol, exchange, region, timezone, currency, calendar FROM gold.dim_stock
 WHERE symbol IN ('XTO.TO', 'XLN.LON') ORDER BY 1;
-- A mid-week newest key is partial: its week's last session is the Friday.
SELECT symbol, week_ending, is_partial FROM gold.weekly_performance
 WHERE symbol = 'XTO.TO' AND week_ending >= '2018-12-14' ORDER BY 2;
-- The rest of Toronto but its key before Christmas 2019, which comes late, after its Friday.
SELECT load_listed($$symbol = 'XTO.TO' AND week_ending > '2018-12-24' AND week_ending <> '2019-12-24'$$) AS loaded;
SELECT * FROM stockelt_refresh_gold();
SELECT load_listed($$symbol = 'XTO.TO' AND week_ending = '2019-12-24'$$) AS loaded;
SELECT symbol, from_week FROM stockelt.gold_pending ORDER BY 1;
SELECT * FROM stockelt_refresh_gold();

-- One bar a calendar week: the keys of a week combined (open of the first, high and low
-- over all, close and adjusted close of the last, volume and dividend summed), keyed by
-- the last; weekly returns run from bar to bar.
CREATE TEMP TABLE listed_weeks AS
SELECT symbol, max(week_ending) AS week_ending, count(*) AS keys,
	   (array_agg(open ORDER BY week_ending))[1] AS open, max(high) AS high, min(low) AS low,
	   (array_agg(close ORDER BY week_ending DESC))[1] AS close,
	   (array_agg(adjusted_close ORDER BY week_ending DESC))[1] AS adjusted_close,
	   sum(volume) AS volume, sum(dividend_amount) AS dividend_amount
  FROM listed GROUP BY symbol, date_trunc('week', week_ending);
SELECT w.symbol, count(*) AS weeks, count(*) FILTER (WHERE w.keys > 1) AS combined,
	   count(*) FILTER (WHERE f.stock_key IS NULL) AS missing,
	   count(*) FILTER (WHERE (f.open, f.high, f.low, f.close, f.adjusted_close, f.volume, f.dividend_amount)
							  IS DISTINCT FROM
							  (w.open, w.high, w.low, w.close, w.adjusted_close, w.volume, w.dividend_amount)) AS bar_wrong,
	   count(*) FILTER (WHERE f.adjusted_return IS DISTINCT FROM
							  CASE WHEN NOT f.is_partial THEN w.adjusted_close::float8 / w.previous::float8 - 1 END) AS return_wrong,
	   (SELECT count(*) FROM gold.fact_weekly_prices x JOIN gold.dim_stock s USING (stock_key, symbol)
		 WHERE s.symbol = w.symbol) AS gold_weeks
  FROM (SELECT w.*, lag(adjusted_close) OVER (PARTITION BY symbol ORDER BY week_ending) AS previous
		  FROM listed_weeks w) w
  LEFT JOIN gold.dim_stock s USING (symbol)
  LEFT JOIN gold.fact_weekly_prices f ON f.stock_key = s.stock_key AND f.week_ending = w.week_ending
 GROUP BY 1 ORDER BY 1;
SELECT week_ending, open, high, low, close, volume, round(weekly_return::numeric, 6) AS weekly_return
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key, symbol)
  JOIN gold.weekly_performance p USING (symbol, week_ending)
 WHERE symbol = 'XTO.TO' AND week_ending BETWEEN '2018-12-21' AND '2019-01-04' ORDER BY 1;

-- Each on its own calendar: no false warnings; one for each mid-week key, saying how gold
-- used it.
SELECT severity, check_name, symbol, week_ending, detail FROM stockelt_check();
SELECT count(*) AS closed_weeks,
	   count(*) FILTER (WHERE f.week_ending <> d.week_last_trading_day) AS not_last_session
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key, symbol)
  JOIN gold.dim_trading_day d USING (calendar, date_key)
 WHERE NOT f.is_partial AND s.symbol IN ('XTO.TO', 'XLN.LON');

-- The newest week is closed once the exchange's session has closed, in its time zone:
-- Toronto's Thursday before Canada Day at 16:00 America/Toronto (New York trades that
-- Friday), London's Friday at 16:30 Europe/London.
CREATE TEMP TABLE fetch_times (symbol text, fetched_at timestamptz);
INSERT INTO fetch_times VALUES
	('XTO.TO', '2022-06-30 15:59 America/Toronto'), ('XTO.TO', '2022-06-30 16:01 America/Toronto'),
	('XLN.LON', '2024-04-12 16:29 Europe/London'), ('XLN.LON', '2024-04-12 16:31 Europe/London');
CREATE TEMP TABLE partial_seen (symbol text, fetched_at timestamptz, week_ending date, is_partial boolean);
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT * FROM fetch_times ORDER BY 1, 2 LOOP
		UPDATE silver.weekly_adjusted_prices SET fetched_at = t.fetched_at
		 WHERE symbol = t.symbol AND week_ending = (SELECT max(week_ending) FROM listed WHERE symbol = t.symbol);
		PERFORM stockelt_refresh_gold();
		INSERT INTO partial_seen
		SELECT symbol, t.fetched_at, week_ending, is_partial FROM gold.weekly_performance
		 WHERE symbol = t.symbol ORDER BY week_ending DESC LIMIT 1;
	END LOOP;
END
$$;
SELECT symbol, to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS fetched_utc, week_ending, is_partial
  FROM partial_seen ORDER BY 1, 2;

-- A listing on an exchange stockelt has no calendar for: one warning, no session checks.
INSERT INTO silver.weekly_adjusted_prices (symbol, week_ending, open, high, low, close,
	adjusted_close, volume, dividend_amount, bronze_key, fetched_at)
SELECT 'XDE.DEX', week_ending, open, high, low, close, adjusted_close, volume, dividend_amount,
	   'generated/XDE.DEX', '2024-04-13 12:00+00'
  FROM listed WHERE symbol = 'XLN.LON' AND week_ending >= '2022-01-01';
SELECT * FROM stockelt_refresh_gold();
SELECT symbol, calendar, region, timezone, currency FROM gold.dim_stock WHERE symbol = 'XDE.DEX';
SELECT severity, check_name, symbol, week_ending, detail FROM stockelt_check() WHERE symbol <> 'XTO.TO';
SELECT count(*) AS weeks, count(*) FILTER (WHERE is_partial) AS partial,
	   count(*) FILTER (WHERE weekly_return IS NULL) AS without_return
  FROM gold.weekly_performance WHERE symbol = 'XDE.DEX';

-- After all of it, the incremental refresh equals a full rebuild, row for row.
CREATE TEMP TABLE listed_facts AS SELECT * FROM gold.fact_weekly_prices;
CREATE TEMP TABLE listed_actions AS SELECT * FROM gold.corporate_actions;
CREATE TEMP TABLE listed_stocks AS SELECT * FROM gold.dim_stock;
CREATE TEMP TABLE listed_days AS SELECT * FROM gold.dim_trading_day;
SELECT stocks FROM stockelt_refresh_gold(true);
SELECT 'fact_weekly_prices' AS "table", (SELECT count(*) FROM gold.fact_weekly_prices) AS rows,
	   (SELECT count(*) FROM (TABLE listed_facts EXCEPT ALL TABLE gold.fact_weekly_prices) d) AS only_incremental,
	   (SELECT count(*) FROM (TABLE gold.fact_weekly_prices EXCEPT ALL TABLE listed_facts) d) AS only_rebuild
UNION ALL
SELECT 'corporate_actions', (SELECT count(*) FROM gold.corporate_actions),
	   (SELECT count(*) FROM (TABLE listed_actions EXCEPT ALL TABLE gold.corporate_actions) d),
	   (SELECT count(*) FROM (TABLE gold.corporate_actions EXCEPT ALL TABLE listed_actions) d)
UNION ALL
SELECT 'dim_stock', (SELECT count(*) FROM gold.dim_stock),
	   (SELECT count(*) FROM (TABLE listed_stocks EXCEPT ALL TABLE gold.dim_stock) d),
	   (SELECT count(*) FROM (TABLE gold.dim_stock EXCEPT ALL TABLE listed_stocks) d)
UNION ALL
SELECT 'dim_trading_day', (SELECT count(*) FROM gold.dim_trading_day),
	   (SELECT count(*) FROM (TABLE listed_days EXCEPT ALL TABLE gold.dim_trading_day) d),
	   (SELECT count(*) FROM (TABLE gold.dim_trading_day EXCEPT ALL TABLE listed_days) d);
SELECT calendar, count(*) AS days FROM gold.dim_trading_day GROUP BY 1 ORDER BY 1;
-- The listings leave silver and gold again.
DELETE FROM silver.weekly_adjusted_prices WHERE symbol IN ('XTO.TO', 'XLN.LON', 'XDE.DEX');
SELECT stocks, weeks_written FROM stockelt_refresh_gold();
SELECT calendar, count(*) AS stocks FROM gold.dim_stock GROUP BY 1 ORDER BY 1;

-- End to end: a Toronto payload with two keys in some Christmas weeks, fetched through the
-- stand-in, ingested whole, and combined into one bar a week in gold with a warning a key.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=XEE.TO&exchange=TSX&weeks=300&end=2022-07-01'
SELECT inserted > 0 AS ingested FROM stockelt_ingest(stockelt_fetch('XEE.TO'));
SELECT stocks FROM stockelt_refresh_gold();
WITH s AS (SELECT count(*) AS keys, count(DISTINCT date_trunc('week', week_ending)) AS weeks
			 FROM silver.weekly_adjusted_prices WHERE symbol = 'XEE.TO'),
	 c AS (SELECT count(*) FILTER (WHERE check_name = 'mid-week key') AS mid_week,
				  count(*) FILTER (WHERE check_name <> 'mid-week key') AS other
			 FROM stockelt_check() WHERE symbol = 'XEE.TO')
SELECT s.keys > s.weeks AS two_keys_in_some_weeks,
	   (SELECT count(*) FROM gold.weekly_performance WHERE symbol = 'XEE.TO') = s.weeks AS one_bar_a_week,
	   c.mid_week = s.keys - s.weeks AS a_warning_a_mid_week_key, c.other AS other_findings,
	   (SELECT calendar FROM gold.dim_stock WHERE symbol = 'XEE.TO') AS calendar
  FROM s, c;
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'XEE.TO';
SELECT stocks FROM stockelt_refresh_gold();

-- Prices silver accepts that four-decimal rounding cannot tell from zero (an adjusted close
-- of 0.00000001, closes of 0.00001 and 0.00005), and a dividend equal to the close before it
-- to the 20th digit: the refresh succeeds, no jump next to those prices is classified (the
-- dividend after them is taken as cash), and the dividend that the close before it cannot
-- pay is a distribution.
CREATE FUNCTION put_tiny(p_key text) RETURNS text LANGUAGE sql AS $$
	WITH body AS (
		SELECT convert_to(format('{"Meta Data": {"2. Symbol": "TINY"}, "Weekly Adjusted Time Series": {%s}}',
			string_agg(format('"%s": {"1. open": "%s", "2. high": "%s", "3. low": "%s", "4. close": "%s", '
							  '"5. adjusted close": "%s", "6. volume": "100", "7. dividend amount": "%s"}',
							  d, v[1], v[1], v[1], v[1], v[2], v[3]), ', ')), 'UTF8') AS b
		  FROM (VALUES ('2024-01-05', ARRAY['10.0000', '10.0000', '0.0000']),
					   ('2024-01-12', ARRAY['10.0000', '0.00000001', '0.0000']),
					   ('2024-01-19', ARRAY['9.0000', '7.0000', '0.5000']),
					   ('2024-01-26', ARRAY['0.00001', '0.00001', '0.0000']),
					   ('2024-02-02', ARRAY['0.00005', '0.00005', '0.0000']),
					   ('2024-02-09', ARRAY['10.0000', '10.0000', '0.0000']),
					   ('2024-02-16', ARRAY['123456789012.12345679', '123456789012.12345679', '0.0000']),
					   ('2024-02-23', ARRAY['100.0000', '100.0000', '123456789012.12345678']),
					   ('2024-03-01', ARRAY['101.0000', '101.0000', '0.0000'])) AS t (d, v)
	), catalog AS (
		INSERT INTO stockelt.bronze_objects (key, symbol, api_function, fetched_at, size_bytes, sha256, store)
		SELECT p_key, 'TINY', 'TIME_SERIES_WEEKLY_ADJUSTED', '2024-03-04 12:00:00+00', length(b),
			   encode(sha256(b), 'hex'), 'table'
		  FROM body
	)
	INSERT INTO stockelt.bronze_bodies SELECT p_key, b FROM body;
	SELECT p_key;
$$;
SELECT inserted FROM stockelt_ingest(put_tiny('alphavantage/time_series_weekly_adjusted/symbol=TINY/tiny.json'));
SELECT stocks FROM stockelt_refresh_gold();
SELECT f.week_ending, f.close, f.adjusted_close, f.split_factor, f.is_partial,
	   round(f.adjusted_return::numeric, 6) AS weekly_return
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key, symbol)
 WHERE s.symbol = 'TINY' ORDER BY 1;
SELECT a.week_ending, a.action, a.amount, a.observed_factor
  FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key, symbol)
 WHERE s.symbol = 'TINY' ORDER BY 1, 2;
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'TINY';
DELETE FROM stockelt.bronze_objects WHERE symbol = 'TINY';
SELECT stocks FROM stockelt_refresh_gold();

-- The trailing statistics give what corr() and stddev_samp() give over the frame of the
-- same rows, bit for bit: on random series with NULLs (skipped) and values of every size,
-- partitions shorter and longer than the window, and on infinities and NaNs.
SELECT setseed(0.25);
CREATE TEMP TABLE trailing_inputs AS
SELECT g % 37 AS part, g AS pos,
	   CASE WHEN random() < 0.1 THEN NULL ELSE (random() - 0.5) * 10 ^ (random() * 12 - 6) END AS y,
	   CASE WHEN random() < 0.1 THEN NULL WHEN random() < 0.3 THEN round(random() * 3)
			ELSE random() * 1e7 END AS x
  FROM generate_series(1, 20000) g
UNION ALL
SELECT 100 + g % 5, g,
	   (ARRAY[1, 2, 'Infinity', '-Infinity', 'NaN', 3, NULL, 0, 0, 5]::float8[])[1 + (random() * 9)::int],
	   (ARRAY[1, 'Infinity', 4, 'NaN', 2, 2, NULL, 7]::float8[])[1 + (random() * 7)::int]
  FROM generate_series(1, 2000) g
UNION ALL
SELECT 200, g, g, 1 FROM generate_series(1, 30) g;
SELECT width, count(*) AS rows,
	   count(*) FILTER (WHERE corr_frame IS DISTINCT FROM corr_ring) AS corr_differ,
	   count(*) FILTER (WHERE stddev_frame IS DISTINCT FROM stddev_ring) AS stddev_differ,
	   count(*) FILTER (WHERE corr_ring IS NOT NULL) AS correlations,
	   count(*) FILTER (WHERE corr_ring = 'NaN') > 0 AS some_nan,
	   count(*) FILTER (WHERE stddev_ring IS NOT NULL) AS deviations
  FROM (SELECT 52 AS width, corr(y, x) OVER w52 AS corr_frame,
			   stockelt._trailing_corr(y, x, 52, true) OVER w AS corr_ring,
			   stddev_samp(y) OVER w52 AS stddev_frame,
			   stockelt._trailing_stddev(y, 52, true) OVER w AS stddev_ring
		  FROM trailing_inputs
		WINDOW w AS (PARTITION BY part ORDER BY pos), w52 AS (w ROWS 51 PRECEDING)
		UNION ALL
		SELECT 3, corr(y, x) OVER w3, stockelt._trailing_corr(y, x, 3, true) OVER w,
			   stddev_samp(y) OVER w3, stockelt._trailing_stddev(y, 3, true) OVER w
		  FROM trailing_inputs
		WINDOW w AS (PARTITION BY part ORDER BY pos), w3 AS (w ROWS 2 PRECEDING)) c
 GROUP BY width ORDER BY width;
-- At a row not wanted (false or NULL) the ring only keeps the row: the rows wanted get what
-- they get when every row is wanted, and the others NULL.
SELECT count(*) FILTER (WHERE wanted) AS wanted,
	   count(*) FILTER (WHERE wanted AND corr_all IS NOT NULL) AS wanted_correlations,
	   count(*) FILTER (WHERE wanted AND (corr_some IS DISTINCT FROM corr_all
										  OR stddev_some IS DISTINCT FROM stddev_all)) AS wanted_differ,
	   count(*) FILTER (WHERE wanted IS NULL) AS unknown,
	   count(*) FILTER (WHERE wanted IS NOT TRUE AND (corr_some IS NOT NULL OR stddev_some IS NOT NULL))
		   AS others_not_null
  FROM (SELECT wanted,
			   stockelt._trailing_corr(y, x, 52, true) OVER w AS corr_all,
			   stockelt._trailing_corr(y, x, 52, wanted) OVER w AS corr_some,
			   stockelt._trailing_stddev(y, 52, true) OVER w AS stddev_all,
			   stockelt._trailing_stddev(y, 52, wanted) OVER w AS stddev_some
		  FROM (SELECT *, CASE WHEN pos % 13 <> 0 THEN pos % 7 = 0 OR pos > 19000 END AS wanted
				  FROM trailing_inputs) t
		WINDOW w AS (PARTITION BY part ORDER BY pos)) c;
-- Finite values whose sums overflow: the same error as the aggregate's.
SELECT corr(y, x) OVER (ORDER BY pos ROWS 1 PRECEDING)
  FROM (VALUES (1, 1e300::float8, 1e300::float8), (2, -1e300, 2e300)) v (pos, y, x);
SELECT stockelt._trailing_corr(y, x, 2, true) OVER (ORDER BY pos)
  FROM (VALUES (1, 1e300::float8, 1e300::float8), (2, -1e300, 2e300)) v (pos, y, x);
SELECT stockelt._trailing_stddev(y, 2, true) OVER (ORDER BY pos)
  FROM (VALUES (1, 1.7e308::float8), (2, -1.7e308)) v (pos, y);
-- The width: between 1 and 1000, the same for every row.
SELECT stockelt._trailing_stddev(pos, 0, true) OVER (ORDER BY pos) FROM generate_series(1, 2) pos;
SELECT stockelt._trailing_stddev(pos, 1001, true) OVER (ORDER BY pos) FROM generate_series(1, 2) pos;
SELECT stockelt._trailing_stddev(pos, NULL, true) OVER (ORDER BY pos) FROM generate_series(1, 2) pos;
SELECT stockelt._trailing_stddev(pos, pos::int + 1, true) OVER (ORDER BY pos) FROM generate_series(1, 2) pos;

-- The refreshes left their scratch tables empty.  A refresh empties them by DELETE while the
-- rows deleted so far take little room, and by TRUNCATE, which gives the room back, once they
-- take more than 4 MB.
SELECT (SELECT count(*) FROM stockelt._gold_dirty) AS dirty_rows,
	   (SELECT count(*) FROM stockelt._gold_new) AS new_rows;
BEGIN;
TRUNCATE stockelt._gold_new;
INSERT INTO stockelt._gold_new (stock_key, date_key, week_ending, open, high, low, close, volume,
	dividend_amount, split_factor, split_adjusted_volume, split_adjusted_dividend, is_partial, symbol)
SELECT g, 20240105, '2024-01-05', 1, 1, 1, 1, 1, 0, 1, 1, 0, false, 'SCRATCH'
  FROM generate_series(1, 100) g;
SELECT stockelt._empty_scratch(false);
SELECT count(*) AS rows_left, pg_relation_size('stockelt._gold_new') > 0 AS room_kept
  FROM stockelt._gold_new;
INSERT INTO stockelt._gold_new (stock_key, date_key, week_ending, open, high, low, close, volume,
	dividend_amount, split_factor, split_adjusted_volume, split_adjusted_dividend, is_partial, symbol)
SELECT g, 20240105, '2024-01-05', 1, 1, 1, 1, 1, 0, 1, 1, 0, false, 'SCRATCH'
  FROM generate_series(1, 60000) g;
SELECT pg_relation_size('stockelt._gold_new') > 4 * 1024 * 1024 AS over_4_mb;
SELECT stockelt._empty_scratch(false);
SELECT count(*) AS rows_left, pg_relation_size('stockelt._gold_new') AS room_kept
  FROM stockelt._gold_new;
ROLLBACK;
