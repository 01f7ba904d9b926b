-- Data-quality checks over gold: stockelt_check() lists every failed check and the row it
-- failed on.

CREATE FUNCTION @extschema@.stockelt_check()
RETURNS TABLE (severity text, check_name text, symbol text, week_ending date, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH facts AS (
		SELECT f.*, g.stock_key IS NOT NULL AS has_stock
		  FROM gold.fact_weekly_prices f LEFT JOIN gold.dim_stock g USING (stock_key)
	), split_weeks AS (
		SELECT stock_key, date_key FROM gold.corporate_actions WHERE action = 'split'
	)
	SELECT 'error', 'fact grain is not unique', symbol, week_ending,
		   format('%s rows for stock_key %s, date_key %s', n, stock_key, date_key)
	  FROM (SELECT symbol, week_ending, stock_key, date_key, count(*) AS n
			  FROM facts GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d
	UNION ALL
	SELECT 'error', 'fact key is null', symbol, week_ending,
		   format('stock_key %s, date_key %s', coalesce(stock_key::text, 'NULL'),
				  coalesce(date_key::text, 'NULL'))
	  FROM facts WHERE stock_key IS NULL OR date_key IS NULL OR week_ending IS NULL
	UNION ALL
	SELECT 'error', 'stock key has no dimension row', NULL, week_ending,
		   format('stock_key %s', stock_key)
	  FROM facts WHERE stock_key IS NOT NULL AND NOT has_stock
	UNION ALL
	SELECT 'error', 'date key has no dimension row', symbol, week_ending,
		   format('date_key %s', date_key)
	  FROM facts f
	 WHERE date_key IS NOT NULL
	   AND NOT EXISTS (SELECT FROM gold.dim_date d WHERE d.date_key = f.date_key)
	UNION ALL
	SELECT 'error', 'high below low', symbol, week_ending, format('high %s, low %s', high, low)
	  FROM facts WHERE high < low
	UNION ALL
	SELECT 'error', 'open or close outside low to high', symbol, week_ending,
		   format('open %s, high %s, low %s, close %s', open, high, low, close)
	  FROM facts f
	 WHERE high >= low AND (open NOT BETWEEN low AND high OR close NOT BETWEEN low AND high)
	   AND NOT EXISTS (SELECT FROM split_weeks s
						WHERE s.stock_key = f.stock_key AND s.date_key = f.date_key)
	UNION ALL
	SELECT 'error', 'negative volume or price', symbol, week_ending,
		   format('open %s, high %s, low %s, close %s, adjusted close %s, volume %s, dividend %s',
				  open, high, low, close, adjusted_close, volume, dividend_amount)
	  FROM facts
	 WHERE volume < 0 OR dividend_amount < 0
		OR least(open, high, low, close, adjusted_close) <= 0
	UNION ALL
	SELECT 'error', 'date in the future', symbol, week_ending,
		   format('today is %s', current_date)
	  FROM facts WHERE week_ending > current_date
	UNION ALL
	SELECT 'warning', 'week key is not the last session of its week', f.symbol, f.week_ending,
		   format('the week''s last session is %s (%s calendar)',
				  coalesce(d.week_last_trading_day::text, 'none'), g.calendar)
	  FROM facts f JOIN gold.dim_stock g USING (stock_key)
	  JOIN gold.dim_trading_day d ON d.calendar = g.calendar AND d.date_key = f.date_key
	 WHERE NOT f.is_partial
	   AND f.week_ending IS DISTINCT FROM d.week_last_trading_day
	UNION ALL
	SELECT 'warning', 'seam that could not be rebased', symbol, week_ending,
		   format('the adjusted closes up to this week are not on the basis of the newest object (from %s); returns and windows start again on %s',
				  seam_from, next_week)
	  FROM (SELECT symbol, week_ending, adjusted_close,
				   lead(week_ending) OVER w AS next_week, lead(adjusted_close) OVER w AS next_adjusted,
				   min(week_ending) FILTER (WHERE adjusted_close IS NULL)
					   OVER (PARTITION BY stock_key, run) AS seam_from
			  FROM (SELECT f.*, count(adjusted_close) OVER (PARTITION BY stock_key ORDER BY date_key) AS run
					  FROM facts f) r
			WINDOW w AS (PARTITION BY stock_key ORDER BY date_key)) s
	 WHERE adjusted_close IS NULL AND next_adjusted IS NOT NULL
	UNION ALL
	SELECT 'warning', 'gap longer than a week', symbol, week_ending,
		   format('no week between %s and %s', previous, week_ending)
	  FROM (SELECT f.symbol, f.week_ending, g.calendar,
				   lag(f.week_ending) OVER (PARTITION BY f.stock_key ORDER BY f.date_key) AS previous
			  FROM facts f JOIN gold.dim_stock g USING (stock_key)) g
	 WHERE date_trunc('week', week_ending) - date_trunc('week', previous) > interval '7 days'
	   AND EXISTS (SELECT FROM gold.dim_trading_day d
					WHERE d.calendar = g.calendar
					  AND d.date > previous AND d.date < week_ending AND d.is_trading_day
					  AND date_trunc('week', d.date) <> date_trunc('week', previous)
					  AND date_trunc('week', d.date) <> date_trunc('week', week_ending))
	UNION ALL
	SELECT 'warning', 'listing has no known calendar', g.symbol, NULL,
		   format('exchange %s, region %s: weeks are taken as Monday to Friday; sessions, holidays and gaps are not checked',
				  coalesce(g.exchange, 'unknown'), coalesce(g.region, 'unknown'))
	  FROM gold.dim_stock g WHERE g.calendar IS NULL
	UNION ALL
	SELECT 'warning', 'mid-week key', k.symbol, k.week_ending,
		   format('another key, %s, is in the same week: gold combined the week''s keys into one bar keyed %s (open of the first, high and low over all, close and adjusted close of the last, volume and dividend summed)',
				  k.last_key, k.last_key)
	  FROM (SELECT s.symbol, s.week_ending,
				   max(s.week_ending) OVER (PARTITION BY s.symbol, date_trunc('week', s.week_ending)) AS last_key
			  FROM silver.weekly_adjusted_prices s) k
	 WHERE k.week_ending < k.last_key
	ORDER BY 1, 2, 3, 4
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_check() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_check() IS
	'Data-quality checks over gold: one row per failed check and offending row (errors, then warnings).';
