-- Silver's ordering and adjustment basis on the real Alpha Vantage responses
-- (this test runs only when ../shared/fixtures/alphavantage exists).
\! "$PG_ABS_SRCDIR/standinctl" reset
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM';
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=IBM&file=weekly_adjusted/IBM_2024-04-15.json'
SELECT stockelt_fetch('IBM') AS ibm_2024 \gset
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=IBM&file=weekly_adjusted/IBM_2022-02-11.json'
SELECT stockelt_fetch('IBM') AS ibm_2022 \gset
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=IBM&clear=1'
CREATE TEMP TABLE ibm_weeks AS
SELECT CASE o.key WHEN :'ibm_2024' THEN 2024 ELSE 2022 END AS fetch, w.key::date AS week_ending,
	   (w.value->>'4. close')::numeric AS close, (w.value->>'5. adjusted close')::numeric AS adjusted_close,
	   (w.value->>'7. dividend amount')::numeric AS dividend
  FROM stockelt.bronze_objects o,
	   jsonb_each(convert_from(stockelt_bronze_read(o.key), 'UTF8')::jsonb -> 'Weekly Adjusted Time Series') w
 WHERE o.key IN (:'ibm_2024', :'ibm_2022');

-- The 2022 object fetched after the 2024 one is stale by its own date: it changes nothing and
-- adds no week (every week it has, the 2024 object has too).
SELECT * FROM stockelt_ingest(:'ibm_2024');
CREATE TEMP TABLE ibm_before AS SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM';
SELECT (SELECT fetched_at FROM stockelt.bronze_objects WHERE key = :'ibm_2022')
	   > (SELECT fetched_at FROM stockelt.bronze_objects WHERE key = :'ibm_2024') AS fetched_later;
SELECT * FROM stockelt_ingest(:'ibm_2022');
SELECT count(*) AS rows_changed_by_stale_object FROM (
	(SELECT * FROM ibm_before EXCEPT SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM')
	UNION ALL
	(SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM' EXCEPT SELECT * FROM ibm_before)) d;
SELECT adjusted_close, basis_factor, last_refreshed FROM silver.weekly_adjusted_prices
 WHERE symbol = 'IBM' AND week_ending = '1999-11-12';

-- An older fetch with a longer history: the 2022 object, then the 2024 one as if it started in
-- 2005 (built here from the file).  The weeks before 2005 only the 2022 object gives are
-- rebased at the seam, the first week of 2005, and land on the 2024 file's own adjusted closes.
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM';
CREATE TEMP TABLE cut AS
SELECT 'alphavantage/time_series_weekly_adjusted/symbol=IBM/from-2005.json' AS key,
	   convert_to(jsonb_build_object('Meta Data', b -> 'Meta Data', 'Weekly Adjusted Time Series',
			(SELECT jsonb_object_agg(k, v) FROM jsonb_each(b -> 'Weekly Adjusted Time Series') e (k, v)
			  WHERE k >= '2005-01-01'))::text, 'UTF8') AS body
  FROM (SELECT convert_from(stockelt_bronze_read(:'ibm_2024'), 'UTF8')::jsonb AS b) x;
INSERT INTO stockelt.bronze_objects (key, symbol, api_function, fetched_at, size_bytes, sha256, store)
SELECT key, 'IBM', 'TIME_SERIES_WEEKLY_ADJUSTED', now(), length(body), encode(sha256(body), 'hex'), 'table' FROM cut;
INSERT INTO stockelt.bronze_bodies SELECT key, body FROM cut;
SELECT * FROM stockelt_ingest(:'ibm_2022', force => true);
SELECT * FROM stockelt_ingest('alphavantage/time_series_weekly_adjusted/symbol=IBM/from-2005.json');
SELECT min(week_ending) AS seam, basis_factor FROM silver.weekly_adjusted_prices
 WHERE symbol = 'IBM' AND week_ending >= '2005-01-01' GROUP BY basis_factor;
SELECT count(*) AS old_only_weeks, min(s.week_ending), max(s.week_ending),
	   min(s.basis_factor) = max(s.basis_factor) AS one_factor,
	   count(*) FILTER (WHERE s.adjusted_close = o.adjusted_close) AS provider_strings_kept,
	   -- four-decimal rounding of each file's value and of the two values at the seam
	   count(*) FILTER (WHERE abs(s.adjusted_close * s.basis_factor - n.adjusted_close)
			<= 0.00005 * s.basis_factor + 0.00005
			   + s.adjusted_close * s.basis_factor * (0.00005 / so.adjusted_close + 0.00005 / sn.adjusted_close)) AS on_2024_basis,
	   count(*) FILTER (WHERE abs(s.adjusted_close - n.adjusted_close) <= 0.0001) AS equal_without_factor,
	   round(max(abs(s.adjusted_close * s.basis_factor / n.adjusted_close - 1)), 7) AS max_relative_gap,
	   round(max(abs(s.adjusted_close / n.adjusted_close - 1)), 4) AS max_relative_gap_without_factor
  FROM silver.weekly_adjusted_prices s
  JOIN ibm_weeks o ON o.fetch = 2022 AND o.week_ending = s.week_ending
  JOIN ibm_weeks n ON n.fetch = 2024 AND n.week_ending = s.week_ending
  JOIN ibm_weeks so ON so.fetch = 2022 AND so.week_ending = '2005-01-07'
  JOIN ibm_weeks sn ON sn.fetch = 2024 AND sn.week_ending = '2005-01-07'
 WHERE s.symbol = 'IBM' AND s.week_ending < '2005-01-01';
SELECT s.basis_factor = round(sn.adjusted_close::numeric(40, 20) / so.adjusted_close, 20) AS factor_is_seam_ratio
  FROM silver.weekly_adjusted_prices s
  JOIN ibm_weeks so ON so.fetch = 2022 AND so.week_ending = '2005-01-07'
  JOIN ibm_weeks sn ON sn.fetch = 2024 AND sn.week_ending = '2005-01-07'
 WHERE s.symbol = 'IBM' AND s.week_ending = '1999-11-12';
-- Returns stay continuous at the seam: the week into it, on the one basis, is what the raw
-- closes and the dividend give ((close + dividend) / previous close - 1, no split that week).
WITH seam AS (
	SELECT s.week_ending, s.adjusted_close * s.basis_factor AS adjusted, r.close, r.dividend,
		   lag(s.adjusted_close * s.basis_factor) OVER w AS previous_adjusted, lag(r.close) OVER w AS previous_close
	  FROM silver.weekly_adjusted_prices s JOIN ibm_weeks r ON r.fetch = 2024 AND r.week_ending = s.week_ending
	 WHERE s.symbol = 'IBM' AND s.week_ending BETWEEN '2004-12-01' AND '2005-01-31'
	WINDOW w AS (ORDER BY s.week_ending))
SELECT week_ending, round(adjusted / previous_adjusted - 1, 6) AS adjusted_return,
	   round((close + dividend) / previous_close - 1, 6) AS raw_return,
	   abs((adjusted / previous_adjusted) - (close + dividend) / previous_close) < 0.00002 AS continuous
  FROM seam WHERE previous_close IS NOT NULL ORDER BY week_ending;

-- Silver as the real_fixtures suite left it: both real objects, in the order of their own dates.
DELETE FROM stockelt.bronze_bodies WHERE key IN (SELECT key FROM cut);
DELETE FROM stockelt.bronze_objects WHERE key IN (SELECT key FROM cut);
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM';
SELECT * FROM stockelt_ingest(:'ibm_2022', force => true);
SELECT * FROM stockelt_ingest(:'ibm_2024', force => true);
