-- The real Alpha Vantage responses, served byte for byte by the stand-in server
-- (this test runs only when ../shared/fixtures/alphavantage exists).
\! "$PG_ABS_SRCDIR/standinctl" reset
\getenv work STOCKELT_TEST_WORK

-- Every recorded weekly series is data and lands in bronze unchanged.
CREATE TEMP TABLE fetched (symbol text, fetched text, file_sha256 text, key text);
\! "$PG_ABS_SRCDIR/fixture_script.sh" weekly > "$STOCKELT_TEST_WORK/fixture_weekly.sql"
\i :work/fixture_weekly.sql
SELECT f.symbol, f.fetched, o.sha256 = f.file_sha256 AS same_bytes, o.size_bytes
  FROM fetched f JOIN stockelt.bronze_objects o USING (key)
 ORDER BY 1, 2;

-- Every recorded non-data answer gets its SQLSTATE, and nothing is stored.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;
\! "$PG_ABS_SRCDIR/fixture_script.sh" messages > "$STOCKELT_TEST_WORK/fixture_messages.sql"
\i :work/fixture_messages.sql
SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;

-- Every recorded series ingests into silver, oldest fetch first: one row per week,
-- values equal to the file's strings as exact decimals.  Silver starts empty for them.
DELETE FROM silver.weekly_adjusted_prices WHERE symbol IN (SELECT symbol FROM fetched);
CREATE TEMP TABLE ingested AS
SELECT f.symbol, f.fetched, f.key, i.*
  FROM (SELECT * FROM fetched ORDER BY fetched, symbol) f, stockelt_ingest(f.key) i;
CREATE TEMP TABLE file_weeks AS
SELECT f.symbol, f.fetched, w.key::date AS week_ending, w.value AS bar
  FROM fetched f,
	   jsonb_each(convert_from(stockelt_bronze_read(f.key), 'UTF8')::jsonb -> 'Weekly Adjusted Time Series') w;
SELECT i.symbol, i.fetched, i.inserted, i.updated, i.unchanged,
	   (SELECT count(*) FROM file_weeks w WHERE w.symbol = i.symbol AND w.fetched = i.fetched) AS weeks_in_file
  FROM ingested i ORDER BY 1, 2;
SELECT w.symbol, count(*) AS weeks,
	   count(*) FILTER (WHERE s.open::text = w.bar->>'1. open' AND s.high::text = w.bar->>'2. high'
			AND s.low::text = w.bar->>'3. low' AND s.close::text = w.bar->>'4. close'
			AND s.adjusted_close::text = w.bar->>'5. adjusted close'
			AND s.volume::text = w.bar->>'6. volume'
			AND s.dividend_amount::text = w.bar->>'7. dividend amount') AS exactly_equal,
	   (SELECT count(*) FROM silver.weekly_adjusted_prices x WHERE x.symbol = w.symbol) AS silver_rows
  FROM file_weeks w LEFT JOIN silver.weekly_adjusted_prices s USING (symbol, week_ending)
 WHERE (w.symbol, w.fetched) IN (SELECT symbol, max(fetched) FROM fetched GROUP BY symbol)
 GROUP BY w.symbol ORDER BY 1;

-- Stored exactly as PostgreSQL's own numeric input would store them.
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE numeric_send(open) = numeric_send(open::text::numeric)
			AND numeric_send(high) = numeric_send(high::text::numeric)
			AND numeric_send(low) = numeric_send(low::text::numeric)
			AND numeric_send(close) = numeric_send(close::text::numeric)
			AND numeric_send(adjusted_close) = numeric_send(adjusted_close::text::numeric)
			AND numeric_send(dividend_amount) = numeric_send(dividend_amount::text::numeric)) AS same_representation
  FROM silver.weekly_adjusted_prices WHERE symbol IN (SELECT symbol FROM fetched);

-- IBM fetched in 2022, then in 2024: the 2024 fetch restates old adjusted closes.
-- Counted independently from the two files, week by week:
CREATE TEMP TABLE ibm_expected AS
SELECT count(*) FILTER (WHERE old.bar IS NULL) AS new_weeks,
	   count(*) FILTER (WHERE old.bar IS NOT NULL AND old.bar <> new.bar) AS restated_weeks,
	   count(*) FILTER (WHERE old.bar = new.bar) AS same_weeks,
	   count(*) FILTER (WHERE old.bar IS NOT NULL AND old.bar->>'5. adjusted close' <> new.bar->>'5. adjusted close'
						AND old.bar - '5. adjusted close' = new.bar - '5. adjusted close') AS only_adjusted_close_differs
  FROM (SELECT * FROM file_weeks WHERE symbol = 'IBM' AND fetched = '2024-04-15') new
  LEFT JOIN (SELECT * FROM file_weeks WHERE symbol = 'IBM' AND fetched = '2022-02-11') old USING (week_ending);
SELECT * FROM ibm_expected;
-- … and the 2024 ingest did exactly that.
SELECT i.inserted = e.new_weeks AS inserted_the_new_weeks,
	   i.updated = e.restated_weeks AS updated_the_restated_weeks,
	   i.unchanged = e.same_weeks AS left_the_rest
  FROM ingested i, ibm_expected e WHERE i.symbol = 'IBM' AND i.fetched = '2024-04-15';
SELECT old.bar->>'5. adjusted close' AS adjusted_close_2022, new.bar->>'5. adjusted close' AS adjusted_close_2024,
	   s.adjusted_close AS in_silver
  FROM file_weeks new
  JOIN file_weeks old ON old.symbol = 'IBM' AND old.fetched = '2022-02-11' AND old.week_ending = new.week_ending
  JOIN silver.weekly_adjusted_prices s ON s.symbol = 'IBM' AND s.week_ending = new.week_ending
 WHERE new.symbol = 'IBM' AND new.fetched = '2024-04-15' AND new.week_ending = '1999-11-12';
-- The older 2022 object ingested again after the 2024 one changes nothing.
SELECT i.* FROM fetched f, stockelt_ingest(f.key, force => true) i
 WHERE f.symbol = 'IBM' AND f.fetched = '2022-02-11';

-- OVERVIEW and SYMBOL_SEARCH as recorded: "None" becomes NULL.
\! "$PG_ABS_SRCDIR/standinctl" reset
SELECT i.* FROM stockelt_fetch_overview('IBM') k, stockelt_ingest(k) i;
SELECT i.* FROM stockelt_fetch_overview('TSLA') k, stockelt_ingest(k) i;
SELECT symbol, name, asset_type, exchange, currency, country, sector, industry
  FROM silver.symbols WHERE symbol IN ('IBM', 'TSLA') ORDER BY 1;
SELECT symbol, name, type, region, market_open, market_close, timezone, currency, match_score
  FROM stockelt_search('tesco') ORDER BY match_score DESC, symbol;

-- Gold over the real series.  Every split these files imply, as the companies announced
-- them (the week of the split's first post-split session), is inferred with its ratio.
SELECT stocks > 0 AS refreshed FROM stockelt_refresh_gold();
CREATE TEMP TABLE announced (symbol text, session date, numerator int, denominator int);
INSERT INTO announced VALUES
	('AAPL', '2000-06-21', 2, 1), ('AAPL', '2005-02-28', 2, 1), ('AAPL', '2014-06-09', 7, 1),
	('AAPL', '2020-08-31', 4, 1), ('AMD', '2000-08-22', 2, 1), ('AMZN', '2022-06-06', 20, 1),
	('GOOGL', '2022-07-18', 20, 1), ('HPQ', '2000-11-01', 2, 1), ('INTC', '2000-07-31', 2, 1),
	('MSFT', '2003-02-18', 2, 1), ('NVDA', '2000-06-27', 2, 1), ('NVDA', '2001-09-17', 2, 1),
	('NVDA', '2006-04-07', 2, 1), ('NVDA', '2007-09-11', 3, 2), ('NVDA', '2021-07-20', 4, 1),
	('ORCL', '2000-01-19', 2, 1), ('ORCL', '2000-10-13', 2, 1), ('TSLA', '2020-08-31', 5, 1),
	('TSLA', '2022-08-25', 3, 1);
SELECT coalesce(a.symbol, g.symbol) AS symbol, a.session AS announced_session, g.week_ending,
	   a.numerator || ':' || a.denominator AS announced, g.ratio AS inferred
  FROM announced a
  FULL JOIN (SELECT s.symbol, c.week_ending, c.ratio_numerator || ':' || c.ratio_denominator AS ratio
			   FROM gold.corporate_actions c JOIN gold.dim_stock s USING (stock_key)
			  WHERE c.action = 'split' AND s.symbol IN (SELECT symbol FROM fetched)) g
	ON g.symbol = a.symbol AND date_trunc('week', g.week_ending) = date_trunc('week', a.session)
 ORDER BY 1, 3;
-- Jumps of the adjustment factor that no dividend or split ratio explains, above the
-- rounding noise of four-decimal prices: the spin-offs of VMware from Dell (November 2021)
-- and of Kyndryl from IBM (November 2021, x1.046); HPQ's of Hewlett Packard Enterprise
-- came with a dividend field and is a distribution (below).
SELECT s.symbol, c.week_ending, round(c.observed_factor::numeric, 4) AS factor
  FROM gold.corporate_actions c JOIN gold.dim_stock s USING (stock_key)
 WHERE c.action = 'other adjustment' AND s.symbol IN (SELECT symbol FROM fetched)
 ORDER BY 1, 2;

-- Every week that paid something, told apart by its factor jump: a spin-off paid as a
-- "dividend" (HPQ, November 2015) and the class C distribution (GOOGL, April 2014) are
-- distributions, not cash; Microsoft's $3.00 on top of its regular $0.08 (November 2004),
-- HPQ's $0.10 on top of its $0.08 (December 2000) and Oracle's prepaid dividend, nine
-- weeks after its last one (December 2012), are special; every other payment is regular.
SELECT s.symbol, c.week_ending, c.action, round(c.amount, 4) AS amount, round(c.observed_factor::numeric, 4) AS factor
  FROM gold.corporate_actions c JOIN gold.dim_stock s USING (stock_key)
 WHERE c.action IN ('special dividend', 'distribution') AND s.symbol IN (SELECT symbol FROM fetched)
 ORDER BY 1, 2;
SELECT c.action, count(*) AS weeks
  FROM gold.corporate_actions c JOIN gold.dim_stock s USING (stock_key)
 WHERE s.symbol IN (SELECT symbol FROM fetched) GROUP BY 1 ORDER BY 1;
-- Every dividend field of these listings is on the raw basis of its week.
SELECT symbol, dividends_on_current_basis FROM gold.dim_stock
 WHERE symbol IN (SELECT symbol FROM fetched) AND dividends_on_current_basis IS DISTINCT FROM false;
-- Growth and streaks count regular cash dividends only: no +1,217 % and −89.9 % for
-- MSFT, no +2,356 % and −96.7 % for HPQ, no rows at all for GOOGL (which paid no cash);
-- a year of a first payment or a skipped one (DELL 2022, AAPL 2012, ORCL 2013) is no base.
SELECT symbol, year, complete_year, payments, round(dividends_per_share, 4) AS dividends_per_share,
	   round(special_dividends_per_share, 4) AS special, round(growth::numeric, 4) AS growth, growth_streak
  FROM gold.dividend_growth
 WHERE (symbol = 'MSFT' AND year BETWEEN 2003 AND 2006) OR (symbol = 'ORCL' AND year BETWEEN 2011 AND 2015)
	OR (symbol = 'HPQ' AND year BETWEEN 2014 AND 2017) OR (symbol = 'DELL') OR (symbol = 'GOOGL')
 ORDER BY 1, 2;

-- Dividend streaks agree with the split-adjusted dividend series, year by year: a year of
-- growth over a base year (complete, with at least as many regular payments) extends the
-- streak, any other complete year ends it.
SELECT count(*) AS stock_years,
	   count(*) FILTER (WHERE complete_year) AS complete_years,
	   count(*) FILTER (WHERE growth_streak IS DISTINCT FROM CASE
			WHEN NOT complete_year THEN NULL
			WHEN previous_complete AND previous_payments >= payments AND dividends_per_share > previous_dps
			THEN previous_streak + 1
			ELSE 0 END) AS inconsistent
  FROM (SELECT d.*, lag(complete_year) OVER w AS previous_complete, lag(payments) OVER w AS previous_payments,
			   lag(dividends_per_share) OVER w AS previous_dps, lag(growth_streak) OVER w AS previous_streak
		  FROM gold.dividend_growth d WHERE symbol IN (SELECT symbol FROM fetched)
		WINDOW w AS (PARTITION BY symbol ORDER BY year)) y;
-- The yearly totals are the dividends as paid, each divided by the splits after it.
SELECT count(*) AS dividends,
	   count(*) FILTER (WHERE c.split_adjusted_amount <> round(c.amount / f.split_factor, 12)
						AND abs(c.split_adjusted_amount - c.amount / f.split_factor) > 1e-9) AS not_split_adjusted
  FROM gold.corporate_actions c JOIN gold.fact_weekly_prices f USING (stock_key, date_key)
  JOIN gold.dim_stock s USING (stock_key)
 WHERE c.action IN ('dividend', 'special dividend', 'distribution') AND s.symbol IN (SELECT symbol FROM fetched);
-- Apple's 7:1 split in 2014 and 4:1 split in 2020 are years of growth, not cuts.
SELECT year, complete_year, payments, round(dividends_per_share, 4) AS dividends_per_share,
	   round(growth::numeric, 4) AS growth, growth_streak
  FROM gold.dividend_growth WHERE symbol = 'AAPL' AND year >= 2012 ORDER BY year;
SELECT * FROM gold.dividend_growers(10) WHERE symbol IN (SELECT symbol FROM fetched);
SELECT severity, check_name, count(*) FROM stockelt_check()
 WHERE symbol IN (SELECT symbol FROM fetched) GROUP BY 1, 2 ORDER BY 1, 2;

-- Listings and their calendars.  OVERVIEW gives an exchange, a currency and a country, but
-- no region or time zone (silver.symbols keeps them NULL): gold.dim_stock takes those of
-- the exchange's calendar.  Every fixture series is a New York listing.
SELECT symbol, exchange, region, timezone, currency, calendar
  FROM gold.dim_stock WHERE symbol IN ('IBM', 'TSLA') ORDER BY 1;
SELECT calendar, count(*) AS listings FROM gold.dim_stock
 WHERE symbol IN (SELECT symbol FROM fetched) GROUP BY 1 ORDER BY 1;
-- SYMBOL_SEARCH gives a region, an offset of one season as time zone, and a currency; the
-- provider's region and currency win, the time zone stays the exchange's.
SELECT count(*) AS matches FROM stockelt_search('tesla');
SELECT stocks FROM stockelt_refresh_gold();
SELECT symbol, region, timezone, currency FROM silver.symbols WHERE symbol = 'TSLA';
SELECT symbol, exchange, region, timezone, currency, calendar FROM gold.dim_stock WHERE symbol = 'TSLA';
-- The calendar each listing of the two recorded searches would get, from its suffix or its
-- region.
SELECT symbol, region, stockelt.listing_calendar(symbol, exchange, region) AS calendar
  FROM silver.symbols
 WHERE symbol IN ('TSCO.LON', 'TSCDF', 'TSCDY', 'TCO2.FRK', 'TCO0.FRK', 'TL0.DEX', 'TL0.FRK',
				  'TSLA34.SAO', 'TSLA', 'TXLZF')
 ORDER BY 1;
SELECT severity, check_name, count(*) FROM stockelt_check()
 WHERE symbol IN (SELECT symbol FROM fetched) GROUP BY 1, 2 ORDER BY 1, 2;
