-- The real Alpha Vantage responses, served byte for byte by the stand-in server
-- (this test runs only when ../shared/fixtures/alphavantage exists).
\! $STANDINCTL reset
\getenv work WORK

-- Every recorded weekly series is data and lands in bronze unchanged.
CREATE TEMP TABLE fetched (symbol text, fetched text, file_sha256 text, key text);
\! "$(dirname "$STANDINCTL")/fixture_script.sh" weekly > "$WORK/fixture_weekly.sql"
\i :work/fixture_weekly.sql
SELECT f.symbol, f.fetched, o.sha256 = f.file_sha256 AS same_bytes, o.size_bytes
  FROM fetched f JOIN stockelt.bronze_objects o USING (key)
 ORDER BY 1, 2;

-- Every recorded non-data answer gets its SQLSTATE, and nothing is stored.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;
\! "$(dirname "$STANDINCTL")/fixture_script.sh" messages > "$WORK/fixture_messages.sql"
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
\! $STANDINCTL reset
SELECT i.* FROM stockelt_fetch_overview('IBM') k, stockelt_ingest(k) i;
SELECT i.* FROM stockelt_fetch_overview('TSLA') k, stockelt_ingest(k) i;
SELECT symbol, name, asset_type, exchange, currency, country, sector, industry
  FROM silver.symbols WHERE symbol IN ('IBM', 'TSLA') ORDER BY 1;
SELECT symbol, name, type, region, market_open, market_close, timezone, currency, match_score
  FROM stockelt_search('tesco') ORDER BY match_score DESC, symbol;
