-- The business answers: views and functions over the star schema, for the questions
-- the README's Gold section answers.

-- The two weekly answers: the facts with their stock's symbol.  On one server they join the
-- stock on stock_key alone: a query of one symbol finds its stock_key in gold.dim_stock and
-- reads the stock's facts through the facts' key, and a query of every stock hashes the join.
-- On Citus stockelt_distribute() makes them again, joined on (stock_key, symbol): the symbol
-- is then the facts' own column, and a query of one symbol reads one shard.  One server keeps
-- the first form, since there PostgreSQL takes the two conditions for independent, expects a
-- few rows from the join and loops (1.2 to 1.5 times slower over every stock).
CREATE FUNCTION stockelt._create_weekly_answers(routed boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	symbol_column text := CASE WHEN routed THEN 'symbol' ELSE 's.symbol' END;
	join_columns text := CASE WHEN routed THEN 'stock_key, symbol' ELSE 'stock_key' END;
BEGIN
	EXECUTE pg_catalog.format($view$
		CREATE OR REPLACE VIEW gold.weekly_performance AS
		SELECT %1$s, f.week_ending, f.adjusted_close,
			   f.adjusted_return AS weekly_return, f.cumulative_return,
			   f.return_4w, f.return_13w, f.return_52w,
			   f.moving_average_13w, f.moving_average_52w, f.is_partial
		  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (%2$s)$view$,
		symbol_column, join_columns);
	EXECUTE pg_catalog.format($view$
		CREATE OR REPLACE VIEW gold.volume_volatility_52w AS
		SELECT %1$s, f.week_ending, f.split_adjusted_volume, abs(f.adjusted_log_return) AS volatility,
			   f.volume_volatility_correlation_52w AS correlation,
			   f.annualised_volatility_52w AS annualised_volatility,
			   f.mean_volume_52w AS mean_volume, f.is_partial
		  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (%2$s)$view$,
		symbol_column, join_columns);
END
$$;
REVOKE ALL ON FUNCTION stockelt._create_weekly_answers(boolean) FROM PUBLIC;
SELECT stockelt._create_weekly_answers(false);
COMMENT ON VIEW gold.weekly_performance IS
	'Weekly adjusted performance: weekly, cumulative and trailing 4/13/52-week returns, 13/52-week moving averages.';
COMMENT ON VIEW gold.volume_volatility_52w IS
	'Pearson correlation of split-adjusted volume and |weekly adjusted log return| over the trailing 52 weeks.';

-- A calendar year counts when the stock has weeks from the year's first session to its
-- last closed one; only such years have growth and streaks.  Regular cash dividends make
-- the totals; special ones have their own column; other distributions are not dividends.
-- A year is a base for the next one's growth only when it had at least as many regular
-- payments (a first year of three payments against four is not a base).  The facts and the
-- corporate actions are read by symbol, each grouped on its own before the dimensions join
-- them: so Citus computes those parts on the shards (README "Scaling out on Citus").  Each
-- step is read once and every window is by symbol, so a query of one symbol reaches every
-- table as a condition on its symbol: Citus reads one shard.
CREATE VIEW gold.dividend_growth AS
WITH last_closed AS (
	SELECT f.symbol, max(f.week_ending) FILTER (WHERE NOT f.is_partial) AS last_closed_week
	  FROM gold.fact_weekly_prices f GROUP BY f.symbol
), payments AS (
	SELECT a.symbol, extract(year FROM a.week_ending)::int AS year,
		   coalesce(sum(a.split_adjusted_amount) FILTER (WHERE a.action = 'dividend'), 0) AS dividends_per_share,
		   count(*) FILTER (WHERE a.action = 'dividend')::int AS payments,
		   coalesce(sum(a.split_adjusted_amount) FILTER (WHERE a.action = 'special dividend'), 0)
			   AS special_dividends_per_share
	  FROM gold.corporate_actions a WHERE a.action IN ('dividend', 'special dividend')
	 GROUP BY a.symbol, extract(year FROM a.week_ending)
), first_paid AS (
	SELECT a.symbol, min(extract(year FROM a.week_ending))::int AS first_year
	  FROM gold.corporate_actions a WHERE a.action IN ('dividend', 'special dividend')
	 GROUP BY a.symbol
), stocks AS (
	SELECT g.stock_key, g.symbol, g.calendar, g.first_week, l.last_closed_week, fp.first_year
	  FROM gold.dim_stock g LEFT JOIN last_closed l USING (symbol) LEFT JOIN first_paid fp USING (symbol)
), calendar_years AS (
	SELECT calendar, extract(year FROM date)::int AS year,
		   min(week_last_trading_day) FILTER (WHERE is_trading_day) AS first_week_end,
		   max(date) FILTER (WHERE is_trading_day) AS last_session
	  FROM gold.dim_trading_day GROUP BY 1, 2
	UNION ALL	-- a listing without a known calendar: weeks of Monday to Friday
	SELECT NULL, year, min(date) FILTER (WHERE day_of_week = 5), max(date) FILTER (WHERE day_of_week < 6)
	  FROM gold.dim_date GROUP BY year
), years AS (
	SELECT s.stock_key, s.symbol, y AS year,
		   coalesce(s.first_week <= c.first_week_end AND s.last_closed_week >= c.last_session,
					false) AS complete_year
	  FROM stocks s
	 CROSS JOIN generate_series(s.first_year, extract(year FROM s.last_closed_week)::int) y
	  LEFT JOIN calendar_years c ON c.calendar IS NOT DISTINCT FROM s.calendar AND c.year = y
	 WHERE s.first_year IS NOT NULL
), paid AS (
	SELECT y.stock_key, y.symbol, y.year, y.complete_year,
		   coalesce(p.dividends_per_share, 0) AS dividends_per_share, coalesce(p.payments, 0) AS payments,
		   coalesce(p.special_dividends_per_share, 0) AS special_dividends_per_share
	  FROM years y LEFT JOIN payments p ON p.symbol = y.symbol AND p.year = y.year
), compared AS (
	SELECT p.*,
		   CASE WHEN p.complete_year AND lag(p.complete_year) OVER w AND lag(p.year) OVER w = p.year - 1
				 AND lag(p.dividends_per_share) OVER w > 0 AND lag(p.payments) OVER w >= p.payments
				THEN (p.dividends_per_share / lag(p.dividends_per_share) OVER w)::float8 - 1 END AS growth
	  FROM paid p
	WINDOW w AS (PARTITION BY p.symbol ORDER BY p.year)
)
SELECT symbol, year, complete_year, payments, dividends_per_share, growth,
	   CASE WHEN complete_year
			THEN (count(*) OVER island - 1)::int END AS growth_streak,
	   special_dividends_per_share
  FROM (SELECT c.*, sum(CASE WHEN c.growth > 0 THEN 0 ELSE 1 END)
						OVER (PARTITION BY c.symbol ORDER BY c.year) AS island
		  FROM compared c) i
WINDOW island AS (PARTITION BY symbol, island ORDER BY year);
COMMENT ON VIEW gold.dividend_growth IS
	'Split-adjusted regular cash dividends per share by calendar year, growth over the year before, the streak of growth years, and special dividends apart.';

-- PL/pgSQL, so that min_years reaches the planner as a value (Citus cannot plan the query of a
-- SQL function, whose parameters it sees unbound).
CREATE FUNCTION gold.dividend_growers(min_years integer DEFAULT 5)
RETURNS TABLE (symbol text, name text, growth_streak integer, through_year integer,
			   dividends_per_share numeric, growth double precision)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN QUERY
	SELECT l.symbol, l.name, l.growth_streak, l.year, l.dividends_per_share, l.growth
	  FROM (SELECT DISTINCT ON (d.symbol) d.symbol, s.name, d.growth_streak, d.year,
				   d.dividends_per_share, d.growth
			  FROM gold.dividend_growth d JOIN gold.dim_stock s USING (symbol)
			 WHERE d.complete_year
			 ORDER BY d.symbol, d.year DESC) l
	 WHERE l.growth_streak >= min_years
	 ORDER BY l.growth_streak DESC, l.symbol;
END
$$;
COMMENT ON FUNCTION gold.dividend_growers(integer) IS
	'Stocks whose split-adjusted dividend per share grew in each of at least min_years consecutive complete years, up to their latest.';
