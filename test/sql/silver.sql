-- Silver: bronze objects parsed into normalised tables, exact and idempotent.
\! "$PG_ABS_SRCDIR/standinctl" reset
CREATE TEMP TABLE wal (label text, lsn pg_lsn);

-- Numbers of every shape a price may have: tiny, large (12 digits before the point), 8 decimals,
-- trailing zeros, and zero where a price may be zero (adjusted close, dividend).
CREATE FUNCTION put_numbers(p_key text) RETURNS text LANGUAGE sql AS $$
	INSERT INTO stockelt.bronze_objects (key, symbol, api_function, fetched_at, size_bytes, sha256, store)
	SELECT p_key, 'NUM', 'TIME_SERIES_WEEKLY_ADJUSTED', now(), octet_length(b), encode(sha256(convert_to(b, 'UTF8')), 'hex'), 'table'
	  FROM (SELECT format('{"Meta Data": {"2. Symbol": "NUM"}, "Weekly Adjusted Time Series": {%s}}',
			string_agg(format('"%s": {"1. open": "%s", "2. high": "%s", "3. low": "%s", "4. close": "%s", '
							  '"5. adjusted close": "%s", "6. volume": "1", "7. dividend amount": "%s"}',
							  d, v[1], v[2], v[3], v[4], v[5], v[6]), ', ')) AS b
			  FROM (VALUES ('2024-01-05', ARRAY['0.0001', '0.00000001', '1', '10000', '0', '0.0000']),
						   ('2024-01-12', ARRAY['9999.9999', '10000.0000', '12345678901.5', '123456789012', '0.00000001', '1.10']),
						   ('2024-01-19', ARRAY['123456789012.12345678', '999999999999.9999', '5.000000', '99999999999.9999', '7', '100'])) AS t(d, v)) x;
	INSERT INTO stockelt.bronze_bodies
	SELECT p_key, convert_to(format('{"Meta Data": {"2. Symbol": "NUM"}, "Weekly Adjusted Time Series": {%s}}',
			string_agg(format('"%s": {"1. open": "%s", "2. high": "%s", "3. low": "%s", "4. close": "%s", '
							  '"5. adjusted close": "%s", "6. volume": "1", "7. dividend amount": "%s"}',
							  d, v[1], v[2], v[3], v[4], v[5], v[6]), ', ')), 'UTF8')
	  FROM (VALUES ('2024-01-05', ARRAY['0.0001', '0.00000001', '1', '10000', '0', '0.0000']),
				   ('2024-01-12', ARRAY['9999.9999', '10000.0000', '12345678901.5', '123456789012', '0.00000001', '1.10']),
				   ('2024-01-19', ARRAY['123456789012.12345678', '999999999999.9999', '5.000000', '99999999999.9999', '7', '100'])) AS t(d, v);
	SELECT p_key;
$$;

-- Fetch and ingest into empty silver: one row per week, values equal to the body's strings.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=ACME&weeks=120&end=2024-04-15'
SELECT stockelt_fetch('ACME') AS key1 \gset
SELECT * FROM stockelt_ingest(:'key1');
SELECT count(*) AS rows, min(week_ending), max(week_ending),
	   bool_and(bronze_key = :'key1') AS lineage_key,
	   bool_and(fetched_at = (SELECT fetched_at FROM stockelt.bronze_objects WHERE key = :'key1')) AS lineage_fetched_at
  FROM silver.weekly_adjusted_prices WHERE symbol = 'ACME';
CREATE TEMP VIEW body_weeks AS
SELECT o.key, w.key::date AS week_ending, w.value AS bar
  FROM stockelt.bronze_objects o,
	   jsonb_each(convert_from(stockelt_bronze_read(o.key), 'UTF8')::jsonb -> 'Weekly Adjusted Time Series') w;
SELECT count(*) AS weeks_in_body,
	   count(*) FILTER (WHERE s.open::text = b.bar->>'1. open' AND s.high::text = b.bar->>'2. high'
			AND s.low::text = b.bar->>'3. low' AND s.close::text = b.bar->>'4. close'
			AND s.adjusted_close::text = b.bar->>'5. adjusted close'
			AND s.volume::text = b.bar->>'6. volume'
			AND s.dividend_amount::text = b.bar->>'7. dividend amount') AS exactly_equal
  FROM body_weeks b LEFT JOIN silver.weekly_adjusted_prices s
	ON s.symbol = 'ACME' AND s.week_ending = b.week_ending
 WHERE b.key = :'key1';

SELECT count(*) FILTER (WHERE numeric_send(open) = numeric_send(open::text::numeric)
			AND numeric_send(adjusted_close) = numeric_send(adjusted_close::text::numeric)
			AND numeric_send(dividend_amount) = numeric_send(dividend_amount::text::numeric)) AS stored_as_numeric_in_would
  FROM silver.weekly_adjusted_prices WHERE symbol = 'ACME';
SELECT * FROM stockelt_ingest(put_numbers('alphavantage/time_series_weekly_adjusted/symbol=NUM/n.json'));
SELECT week_ending, open, high, low, close, adjusted_close, dividend_amount,
	   numeric_send(open) = numeric_send(open::text::numeric)
	   AND numeric_send(high) = numeric_send(high::text::numeric)
	   AND numeric_send(low) = numeric_send(low::text::numeric)
	   AND numeric_send(close) = numeric_send(close::text::numeric)
	   AND numeric_send(adjusted_close) = numeric_send(adjusted_close::text::numeric)
	   AND numeric_send(dividend_amount) = numeric_send(dividend_amount::text::numeric) AS stored_as_numeric_in_would
  FROM silver.weekly_adjusted_prices WHERE symbol = 'NUM' ORDER BY 1;

-- Re-ingesting the same object changes nothing and writes almost no WAL, forced or not.
INSERT INTO wal VALUES ('before', pg_current_wal_lsn());
SELECT * FROM stockelt_ingest(:'key1');
SELECT * FROM stockelt_ingest(:'key1', force => true);
INSERT INTO wal VALUES ('after', pg_current_wal_lsn());
SELECT pg_wal_lsn_diff((SELECT lsn FROM wal WHERE label = 'after'),
					   (SELECT lsn FROM wal WHERE label = 'before')) < 8192 AS almost_no_wal;
SELECT count(*) AS rows_still_from_first_object FROM silver.weekly_adjusted_prices
 WHERE symbol = 'ACME' AND bronze_key = :'key1';

-- A newer fetch that restates adjusted closes updates exactly the restated rows.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=ACME&weeks=120&end=2024-04-15&restate=0.97'
SELECT stockelt_fetch('ACME') AS key2 \gset
SELECT count(*) AS restated_in_body
  FROM body_weeks a JOIN body_weeks b USING (week_ending)
 WHERE a.key = :'key1' AND b.key = :'key2' AND a.bar <> b.bar;
SELECT * FROM stockelt_ingest(:'key2');
SELECT count(*) FILTER (WHERE bronze_key = :'key2') AS rows_from_second_object,
	   count(*) FILTER (WHERE bronze_key = :'key1') AS rows_left_from_first
  FROM silver.weekly_adjusted_prices WHERE symbol = 'ACME';

-- The partial newest week (keyed 2024-04-15, a Monday) is replaced when the week closes.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=ACME&weeks=120&end=2024-04-19&restate=0.97'
SELECT stockelt_fetch('ACME') AS key3 \gset
SELECT * FROM stockelt_ingest(:'key3');
SELECT week_ending, bronze_key = :'key3' AS from_newest
  FROM silver.weekly_adjusted_prices WHERE symbol = 'ACME' AND week_ending >= '2024-04-08' ORDER BY 1;

-- An older object ingested after a newer one never overwrites newer values.
CREATE TEMP TABLE acme_before AS SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'ACME';
SELECT * FROM stockelt_ingest(:'key1', force => true);
SELECT * FROM stockelt_ingest(:'key2', force => true);
SELECT count(*) AS rows_changed_by_older_objects
  FROM (SELECT * FROM acme_before EXCEPT SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'ACME') d;
SELECT count(*) AS stale_partial_week FROM silver.weekly_adjusted_prices
 WHERE symbol = 'ACME' AND week_ending = '2024-04-15';

-- Bad bronze objects: a precise reason in errdetail, and nothing written.
CREATE FUNCTION put_bronze(p_key text, p_body text) RETURNS text LANGUAGE sql AS $$
	INSERT INTO stockelt.bronze_objects (key, symbol, api_function, fetched_at, size_bytes, sha256, store)
	VALUES (p_key, 'BAD', 'TIME_SERIES_WEEKLY_ADJUSTED', now(), octet_length(p_body),
			encode(sha256(convert_to(p_body, 'UTF8')), 'hex'), 'table');
	INSERT INTO stockelt.bronze_bodies VALUES (p_key, convert_to(p_body, 'UTF8'));
	SELECT p_key;
$$;
CREATE FUNCTION weekly_body(symbol text, weeks text) RETURNS text LANGUAGE sql AS $$
	SELECT format('{"Meta Data": {"2. Symbol": "%s"}, "Weekly Adjusted Time Series": {%s}}', symbol, weeks);
$$;
CREATE FUNCTION bar(day text, open text DEFAULT '1.0000', volume text DEFAULT '100',
					adjusted text DEFAULT '1.5000', dividend text DEFAULT '0.0000') RETURNS text LANGUAGE sql AS $$
	SELECT format('"%s": {"1. open": "%s", "2. high": "2.0000", "3. low": "0.5000", "4. close": "1.5000", '
				  '"5. adjusted close": "%s", "6. volume": "%s", "7. dividend amount": "%s"}',
				  day, open, adjusted, volume, dividend);
$$;
CREATE TEMP TABLE bad (name text, body text);
INSERT INTO bad VALUES
	('not JSON', '<html>Service Unavailable</html>'),
	('truncated', left(weekly_body('BAD', bar('2024-04-12')), 60)),
	('throttle', '{"Information": "Thank you for using Alpha Vantage! Please consider spreading out your free API requests more sparingly (1 request per second)."}'),
	('premium sample', '{"endpoint": "Realtime Bulk Quotes", "message": "This is a premium endpoint.", "data": []}'),
	('other symbol', weekly_body('GOOD', bar('2024-04-12'))),
	('missing series', '{"Meta Data": {"2. Symbol": "BAD"}}'),
	('empty series', weekly_body('BAD', '')),
	('bad date key', weekly_body('BAD', bar('2024-02-30'))),
	('monthly series', replace(weekly_body('BAD', bar('2024-03-29')), 'Weekly Adjusted', 'Monthly Adjusted')),
	('weekly series, not adjusted', replace(weekly_body('BAD', bar('2024-04-12')), 'Weekly Adjusted', 'Weekly')),
	('daily series', replace(weekly_body('BAD', bar('2024-04-12')), 'Weekly Adjusted Time Series', 'Time Series (Daily)')),
	('duplicate key', weekly_body('BAD', bar('2024-04-12') || ', ' || bar('2024-04-12'))),
	('not a decimal', weekly_body('BAD', bar('2024-04-05') || ', ' || bar('2024-04-12', open => '1.2e3'))),
	('negative volume', weekly_body('BAD', bar('2024-04-05') || ', ' || bar('2024-04-12', volume => '-5'))),
	('zero price', weekly_body('BAD', bar('2024-04-05') || ', ' || bar('2024-04-12', open => '0.0000'))),
	('negative price', weekly_body('BAD', bar('2024-04-05', open => '-1.0000'))),
	('negative adjusted close', weekly_body('BAD', bar('2024-04-05', adjusted => '-1.5000'))),
	('negative dividend', weekly_body('BAD', bar('2024-04-05', dividend => '-0.2500'))),
	('100,000-digit price', weekly_body('BAD', bar('2024-04-05', open => repeat('9', 100000)))),
	('13 digits before the point', weekly_body('BAD', bar('2024-04-05', open => '1234567890123.5'))),
	('9 decimals', weekly_body('BAD', bar('2024-04-05', open => '1.123456789'))),
	('week in 1900', weekly_body('BAD', bar('1900-01-05') || ', ' || bar('2024-04-12'))),
	('week in 1969', weekly_body('BAD', bar('1969-12-26') || ', ' || bar('1970-01-02'))),
	('too many values', '{"Meta Data": {"2. Symbol": "BAD"}, "x": [' || repeat('0,', 200000) || '0]}');
SELECT name, error_detail(format('SELECT * FROM stockelt_ingest(%L)',
								 put_bronze('alphavantage/time_series_weekly_adjusted/symbol=BAD/' || name || '.json', body))) AS reason
  FROM bad ORDER BY name;
SELECT DISTINCT regexp_replace(expect_error($$SELECT * FROM stockelt_ingest('alphavantage/time_series_weekly_adjusted/symbol=BAD/bad date key.json')$$), '"[^"]*"', '"…"') AS error;
SELECT count(*) AS bad_rows_written FROM silver.weekly_adjusted_prices WHERE symbol IN ('BAD', 'GOOD');

-- What an analyst accepts: zero volume, adjusted close and dividend, the first week of 1970,
-- and a week up to seven days after the fetch (the partial week is keyed by its last trading
-- day); a week later than that, or one in 2999, is refused.
CREATE FUNCTION put_fetched(p_key text, p_body text, p_fetched_at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT put_bronze(p_key, p_body);
	UPDATE stockelt.bronze_objects SET fetched_at = p_fetched_at WHERE key = p_key;
	SELECT p_key;
$$;
BEGIN;
SELECT * FROM stockelt_ingest(put_fetched('alphavantage/time_series_weekly_adjusted/symbol=BAD/edges.json',
	weekly_body('BAD', bar('1970-01-02') || ', ' || bar('2024-04-12', volume => '0', adjusted => '0.0000') || ', ' ||
					   bar('2024-04-22')), '2024-04-15 21:00:00+00'));
SELECT week_ending, open, adjusted_close, volume, dividend_amount FROM silver.weekly_adjusted_prices
 WHERE symbol = 'BAD' ORDER BY 1;
ROLLBACK;
SELECT name, error_detail(format('SELECT * FROM stockelt_ingest(%L)',
	put_fetched('alphavantage/time_series_weekly_adjusted/symbol=BAD/' || name || '.json', body, '2024-04-15 21:00:00+00'))) AS reason
  FROM (VALUES ('week after the fetch', weekly_body('BAD', bar('2024-04-12') || ', ' || bar('2024-04-26'))),
			   ('week in 2999', weekly_body('BAD', bar('2024-04-12') || ', ' || bar('2999-01-04'))),
			   ('refreshed in 2999', replace(weekly_body('BAD', bar('2024-04-12')), '"2. Symbol"', '"3. Last Refreshed": "2999-01-01", "2. Symbol"')),
			   ('refreshed two days after the fetch', replace(weekly_body('BAD', bar('2024-04-12')), '"2. Symbol"', '"3. Last Refreshed": "2024-04-17 16:00:00", "2. Symbol"'))) AS b (name, body)
 ORDER BY name;
SELECT count(*) AS bad_rows_written FROM silver.weekly_adjusted_prices WHERE symbol = 'BAD';

-- A byte-order mark before the JSON is accepted.
SELECT * FROM stockelt_ingest(put_bronze('alphavantage/time_series_weekly_adjusted/symbol=BAD/bom.json',
										  E'\uFEFF' || weekly_body('BAD', bar('2024-04-12'))));

-- One object is one transaction: a failure half-way leaves none of it.
ALTER TABLE silver.weekly_adjusted_prices ADD CONSTRAINT test_open_below_10 CHECK (symbol <> 'BAD' OR open < 10);
SELECT expect_error(format('SELECT * FROM stockelt_ingest(%L)',
	put_bronze('alphavantage/time_series_weekly_adjusted/symbol=BAD/half.json',
			   weekly_body('BAD', bar('2024-03-29') || ', ' || bar('2024-04-05') || ', ' || bar('2024-04-19', open => '12.0000')))));
ALTER TABLE silver.weekly_adjusted_prices DROP CONSTRAINT test_open_below_10;
SELECT week_ending FROM silver.weekly_adjusted_prices WHERE symbol = 'BAD' ORDER BY 1;

-- A batch stops at the first bad object, and the statement leaves nothing of the batch.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=BATCHA&weeks=1300'
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=BATCHB&weeks=1300'
SELECT stockelt_fetch('BATCHA') AS batch_a \gset
SELECT stockelt_fetch('BATCHB') AS batch_b \gset
SELECT regexp_replace(expect_error(format('SELECT * FROM stockelt_ingest(ARRAY[%L, %L, %L])', :'batch_a',
	'alphavantage/time_series_weekly_adjusted/symbol=BAD/negative volume.json', :'batch_b')), '"[^"]*"', '"…"') AS batch_error;
SELECT count(*) AS rows_from_failed_batch FROM silver.weekly_adjusted_prices WHERE symbol IN ('BATCHA', 'BATCHB');
-- A batch cancelled while parser threads run leaves nothing either, and the session goes on.
-- Where the cancel lands decides whether a CONTEXT line follows: it is not shown.
\set SHOW_CONTEXT never
SET statement_timeout = '100ms';
SELECT count(*) FROM stockelt_ingest(ARRAY(SELECT key FROM stockelt.bronze_objects, generate_series(1, 100)
										   WHERE symbol IN ('BATCHA', 'BATCHB')), force => true);
RESET statement_timeout;
\set SHOW_CONTEXT errors
SELECT count(*) AS rows_from_cancelled_batch FROM silver.weekly_adjusted_prices WHERE symbol IN ('BATCHA', 'BATCHB');
SELECT key = :'batch_a' AS first, inserted, updated, unchanged
  FROM stockelt_ingest(ARRAY[:'batch_a', :'batch_b', :'batch_a']);

-- A body changed behind the catalog's back is refused by the parser threads too.
BEGIN;
UPDATE stockelt.bronze_bodies SET body = body || '\x20'::bytea WHERE key = :'batch_b';
SELECT regexp_replace(expect_error(format('SELECT * FROM stockelt_ingest(ARRAY[%L, %L], force => true)',
	:'batch_a', :'batch_b')), '"[^"]*"', '"…"') AS tampered_body;
ROLLBACK;

-- OVERVIEW and SYMBOL_SEARCH become silver.symbols; "None" and "null" become NULL.
\! "$PG_ABS_SRCDIR/standinctl" reset
SELECT stockelt_fetch_overview('ACME') AS overview_key \gset
SELECT * FROM stockelt_ingest(:'overview_key');
SELECT symbol, name, asset_type, exchange, currency, country, sector IS NOT NULL AS has_sector, source
  FROM silver.symbols WHERE symbol = 'ACME';
SELECT symbol, name, type, region, market_open, market_close, timezone, currency, match_score,
	   bronze_key LIKE 'alphavantage/symbol_search/keywords=acme/fetched=%' AS kept_in_bronze
  FROM stockelt_search('acme') ORDER BY match_score DESC, symbol;
SELECT symbol, name, asset_type, exchange, region, timezone, market_open, currency, source
  FROM silver.symbols ORDER BY symbol;
SELECT put_bronze('alphavantage/overview/symbol=NONE/x.json',
	'{"Symbol": "NONE", "Name": "Nothing Known", "AssetType": "None", "Exchange": "null", "Sector": "None", "Industry": "-"}') AS none_key \gset
UPDATE stockelt.bronze_objects SET symbol = 'NONE', api_function = 'OVERVIEW' WHERE key = :'none_key';
SELECT * FROM stockelt_ingest(:'none_key');
SELECT symbol, name, asset_type IS NULL AS asset_type_null, exchange IS NULL AS exchange_null,
	   sector IS NULL AS sector_null, industry IS NULL AS industry_null
  FROM silver.symbols WHERE symbol = 'NONE';

-- Two keys in one calendar week are kept (a Toronto listing has the Monday before Christmas and
-- the Friday).  In a week the newest object gives, silver ends with exactly its keys: the partial
-- key 2018-12-26 is taken over by the closed week's 2018-12-28, while the Monday stays.
CREATE TEMP VIEW object_keys AS
SELECT o.key, count(*) AS keys, min(w.key::date) AS oldest, max(w.key::date) AS newest
  FROM stockelt.bronze_objects o,
	   jsonb_object_keys(convert_from(stockelt_bronze_read(o.key), 'UTF8')::jsonb -> 'Weekly Adjusted Time Series') w (key)
 GROUP BY o.key;
CREATE FUNCTION equal_to_body(p_symbol text, p_key text) RETURNS TABLE (weeks_in_body bigint, exactly_equal bigint)
LANGUAGE sql AS $$
	SELECT count(*), count(*) FILTER (WHERE s.open::text = b.bar->>'1. open' AND s.close::text = b.bar->>'4. close'
			AND s.adjusted_close::text = b.bar->>'5. adjusted close' AND s.volume::text = b.bar->>'6. volume'
			AND s.dividend_amount::text = b.bar->>'7. dividend amount' AND s.basis_factor = 1)
	  FROM body_weeks b LEFT JOIN silver.weekly_adjusted_prices s ON s.symbol = p_symbol AND s.week_ending = b.week_ending
	 WHERE b.key = p_key;
$$;
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=TSXC&weeks=60&end=2018-12-26&christmas_monday=1'
SELECT stockelt_fetch('TSXC') AS tsx_partial \gset
SELECT * FROM stockelt_ingest(:'tsx_partial');
SELECT week_ending, to_char(week_ending, 'Dy') AS day FROM silver.weekly_adjusted_prices
 WHERE symbol = 'TSXC' AND week_ending >= '2018-12-17' ORDER BY 1;
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=TSXC&weeks=60&end=2018-12-28&christmas_monday=1'
SELECT stockelt_fetch('TSXC') AS tsx_closed \gset
SELECT * FROM stockelt_ingest(:'tsx_closed');
SELECT week_ending, to_char(week_ending, 'Dy') AS day FROM silver.weekly_adjusted_prices
 WHERE symbol = 'TSXC' AND week_ending >= '2018-12-17' ORDER BY 1;
SELECT * FROM equal_to_body('TSXC', :'tsx_closed');
SELECT count(*) = (SELECT keys FROM object_keys WHERE key = :'tsx_closed') AS one_row_per_key
  FROM silver.weekly_adjusted_prices WHERE symbol = 'TSXC';
-- Both keys of a Christmas week of earlier years too.
SELECT count(*) AS christmas_weeks_with_two_keys FROM (
	SELECT date_trunc('week', week_ending) FROM silver.weekly_adjusted_prices WHERE symbol = 'TSXC'
	 GROUP BY 1 HAVING count(*) = 2) w;
-- The older partial object again, forced: the stale partial key does not come back.
SELECT * FROM stockelt_ingest(:'tsx_partial', force => true);
SELECT count(*) AS stale_partial_key FROM silver.weekly_adjusted_prices WHERE symbol = 'TSXC' AND week_ending = '2018-12-26';
-- A newer object that no longer gives the Monday removes it: its week has one key now.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=TSXC&weeks=60&end=2019-01-04'
SELECT stockelt_fetch('TSXC') AS tsx_single \gset
SELECT * FROM stockelt_ingest(:'tsx_single');
SELECT week_ending, to_char(week_ending, 'Dy') AS day FROM silver.weekly_adjusted_prices
 WHERE symbol = 'TSXC' AND week_ending BETWEEN '2018-12-17' AND '2019-01-04' ORDER BY 1;
SELECT * FROM equal_to_body('TSXC', :'tsx_single');

-- One adjustment basis: an older fetch with a longer history, then a newer one whose adjusted
-- closes are restated by the dividends since.  Rows the newer object gives have factor 1; the
-- older weeks only the first object has are rebased at the seam, the oldest week both have.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=LONGH&weeks=300&end=2022-02-11'
SELECT stockelt_fetch('LONGH') AS long_old \gset
SELECT * FROM stockelt_ingest(:'long_old');
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=LONGH&weeks=150&end=2024-04-15'
SELECT stockelt_fetch('LONGH') AS long_new \gset
SELECT * FROM stockelt_ingest(:'long_new');
SELECT * FROM equal_to_body('LONGH', :'long_new');
CREATE TEMP TABLE seam AS
SELECT n.week_ending, (o.bar->>'5. adjusted close')::numeric AS old_adjusted,
	   (n.bar->>'5. adjusted close')::numeric AS new_adjusted,
	   round((n.bar->>'5. adjusted close')::numeric(40, 20) / (o.bar->>'5. adjusted close')::numeric, 20) AS ratio
  FROM body_weeks n JOIN body_weeks o USING (week_ending)
 WHERE n.key = :'long_new' AND o.key = :'long_old'
 ORDER BY n.week_ending LIMIT 1;
SELECT week_ending = (SELECT oldest FROM object_keys WHERE key = :'long_new') AS seam_is_oldest_new_week,
	   old_adjusted <> new_adjusted AS restated_at_seam FROM seam;
SELECT count(*) AS old_only_rows,
	   count(*) = (SELECT count(*) FROM body_weeks WHERE key = :'long_old' AND week_ending < (SELECT week_ending FROM seam)) AS all_old_weeks_kept,
	   bool_and(s.basis_factor = seam.ratio) AS factor_is_seam_ratio,
	   bool_and(s.adjusted_close::text = b.bar->>'5. adjusted close') AS provider_strings_kept
  FROM silver.weekly_adjusted_prices s CROSS JOIN seam
  JOIN body_weeks b ON b.key = :'long_old' AND b.week_ending = s.week_ending
 WHERE s.symbol = 'LONGH' AND s.week_ending < seam.week_ending;
-- Against the truth: a fetch of the whole history on the newer basis (read, not ingested).
-- adjusted_close * basis_factor is within what four-decimal values allow of its adjusted close.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=LONGH&weeks=400&end=2024-04-15'
SELECT stockelt_fetch('LONGH') AS long_full \gset
SELECT count(*) AS old_weeks_checked,
	   count(*) FILTER (WHERE abs(s.adjusted_close * s.basis_factor - (t.bar->>'5. adjusted close')::numeric)
			<= 0.00005 * s.basis_factor + s.adjusted_close * s.basis_factor * (0.00005 / seam.old_adjusted + 0.00005 / seam.new_adjusted)
			   + 0.00005) AS on_newer_basis,
	   count(*) FILTER (WHERE abs(s.adjusted_close - (t.bar->>'5. adjusted close')::numeric) <= 0.0001) AS equal_without_factor
  FROM silver.weekly_adjusted_prices s CROSS JOIN seam
  JOIN body_weeks t ON t.key = :'long_full' AND t.week_ending = s.week_ending
 WHERE s.symbol = 'LONGH' AND s.week_ending < seam.week_ending;
-- The weekly return across the seam is the older object's own.
SELECT (SELECT adjusted_close * basis_factor FROM silver.weekly_adjusted_prices WHERE symbol = 'LONGH' AND week_ending = seam.week_ending)
	   / (SELECT adjusted_close * basis_factor FROM silver.weekly_adjusted_prices WHERE symbol = 'LONGH' AND week_ending < seam.week_ending ORDER BY week_ending DESC LIMIT 1)
	   - seam.old_adjusted / (SELECT (bar->>'5. adjusted close')::numeric FROM body_weeks WHERE key = :'long_old' AND week_ending < seam.week_ending ORDER BY week_ending DESC LIMIT 1)
	   BETWEEN -1e-15 AND 1e-15 AS seam_return_kept
  FROM seam;
DELETE FROM stockelt.bronze_bodies WHERE key = :'long_full';
DELETE FROM stockelt.bronze_objects WHERE key = :'long_full';
-- Re-ingesting the newer object changes no factor.
SELECT * FROM stockelt_ingest(:'long_new', force => true);
-- With no week in common, the older rows cannot be rebased: their factor is NULL.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=NOSEAM&weeks=50&end=2020-01-03'
SELECT * FROM stockelt_ingest(stockelt_fetch('NOSEAM'));
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=NOSEAM&weeks=50&end=2024-04-15'
SELECT * FROM stockelt_ingest(stockelt_fetch('NOSEAM'));
SELECT week_ending < '2021-01-01' AS older_object, count(*), count(basis_factor) AS with_factor,
	   bool_and(basis_factor = 1) AS factor_one
  FROM silver.weekly_adjusted_prices WHERE symbol = 'NOSEAM' GROUP BY 1 ORDER BY 1;
-- A newer object that gives those weeks again puts them back on one basis.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=NOSEAM&weeks=300&end=2024-04-19'
SELECT * FROM stockelt_ingest(stockelt_fetch('NOSEAM'));
SELECT count(*), count(basis_factor) AS with_factor, bool_and(basis_factor = 1) AS factor_one
  FROM silver.weekly_adjusted_prices WHERE symbol = 'NOSEAM';

-- Objects are ordered by the data's own date, not by when they were fetched: a stale object
-- fetched after a newer one changes nothing and adds only the weeks that are missing, on the
-- newer object's basis.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=STALE&weeks=100&end=2024-04-15'
SELECT stockelt_fetch('STALE') AS stale_newest \gset
SELECT * FROM stockelt_ingest(:'stale_newest');
CREATE TEMP TABLE stale_before AS SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'STALE';
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=STALE&weeks=150&end=2023-06-02'
SELECT stockelt_fetch('STALE') AS stale_old \gset
SELECT (SELECT fetched_at FROM stockelt.bronze_objects WHERE key = :'stale_old')
	   > (SELECT fetched_at FROM stockelt.bronze_objects WHERE key = :'stale_newest') AS fetched_later;
SELECT * FROM stockelt_ingest(:'stale_old');
SELECT count(*) AS rows_of_newer_object_changed
  FROM (SELECT * FROM stale_before EXCEPT SELECT * FROM silver.weekly_adjusted_prices WHERE symbol = 'STALE') d;
SELECT count(*) AS added,
	   count(*) = (SELECT count(*) FROM body_weeks WHERE key = :'stale_old'
				   AND week_ending < (SELECT min(week_ending) FROM stale_before)) AS exactly_the_missing_weeks,
	   bool_and(s.basis_factor = round((n.bar->>'5. adjusted close')::numeric(40, 20) / (o.bar->>'5. adjusted close')::numeric, 20))
		   AS factor_is_seam_ratio,
	   bool_and(s.last_refreshed = '2023-06-02') AS data_date_kept
  FROM silver.weekly_adjusted_prices s
  JOIN body_weeks n ON n.key = :'stale_newest' AND n.week_ending = (SELECT min(week_ending) FROM stale_before)
  JOIN body_weeks o ON o.key = :'stale_old' AND o.week_ending = n.week_ending
 WHERE s.symbol = 'STALE' AND s.bronze_key = :'stale_old';
-- Forced again, and in a batch in fetch order, the stale object still changes nothing.
SELECT key = :'stale_old' AS stale, inserted, updated, unchanged
  FROM stockelt_ingest(ARRAY[:'stale_newest', :'stale_old'], force => true);
-- "3. Last Refreshed" with a time orders objects of the same day; the fetch time breaks ties.
SELECT * FROM stockelt_ingest(put_fetched('alphavantage/time_series_weekly_adjusted/symbol=BAD/late-in-day.json',
	replace(weekly_body('BAD', bar('2024-04-12', adjusted => '1.4000')), '"2. Symbol"', '"3. Last Refreshed": "2024-04-12 16:00:01", "2. Symbol"'),
	'2024-04-12 21:00:00+00'));
SELECT * FROM stockelt_ingest(put_fetched('alphavantage/time_series_weekly_adjusted/symbol=BAD/early-in-day.json',
	replace(weekly_body('BAD', bar('2024-04-12', adjusted => '1.3000')), '"2. Symbol"', '"3. Last Refreshed": "2024-04-12 10:30:00", "2. Symbol"'),
	'2024-04-12 22:00:00+00'));
SELECT * FROM stockelt_ingest(put_fetched('alphavantage/time_series_weekly_adjusted/symbol=BAD/same-time-later.json',
	replace(weekly_body('BAD', bar('2024-04-12', adjusted => '1.2000')), '"2. Symbol"', '"3. Last Refreshed": "2024-04-12 16:00:01", "2. Symbol"'),
	'2024-04-12 23:00:00+00'));
SELECT week_ending, adjusted_close, last_refreshed, bronze_key ~ 'same-time-later' AS from_tie_winner
  FROM silver.weekly_adjusted_prices WHERE symbol = 'BAD' AND week_ending = '2024-04-12';
DELETE FROM silver.weekly_adjusted_prices WHERE symbol = 'BAD' AND week_ending = '2024-04-12';

-- Replay: silver truncated and rebuilt from bronze alone equals what was there, row for row
-- (replay goes oldest fetch first: the stale STALE object comes last and still changes nothing).
-- First bring silver up to date with everything fetched so far, in fetch order.
DELETE FROM stockelt.bronze_bodies WHERE key LIKE '%symbol=BAD/%' AND key NOT LIKE '%/bom.json';
DELETE FROM stockelt.bronze_objects WHERE key LIKE '%symbol=BAD/%' AND key NOT LIKE '%/bom.json';
DELETE FROM stockelt.bronze_bodies WHERE key = :'none_key';
DELETE FROM stockelt.bronze_objects WHERE key = :'none_key';
DELETE FROM silver.symbols WHERE symbol = 'NONE';
SELECT sum(i.inserted) > 0 AS caught_up
  FROM (SELECT key FROM stockelt.bronze_objects ORDER BY fetched_at, key) o, stockelt_ingest(o.key) i;
CREATE TEMP TABLE prices_before AS
	SELECT symbol, week_ending, open, high, low, close, adjusted_close, volume, dividend_amount, basis_factor,
		   bronze_key, fetched_at, last_refreshed
	  FROM silver.weekly_adjusted_prices;
CREATE TEMP TABLE symbols_before AS
	SELECT symbol, name, asset_type, exchange, region, country, currency, timezone, market_open,
		   market_close, sector, industry, bronze_key, fetched_at, source FROM silver.symbols;
TRUNCATE silver.weekly_adjusted_prices, silver.symbols;
SELECT count(*) AS applied_objects_remembered FROM stockelt.silver_objects WHERE api_function = 'TIME_SERIES_WEEKLY_ADJUSTED';
SELECT objects = (SELECT count(*) FROM stockelt.bronze_objects WHERE key LIKE 'alphavantage/%') AS replayed_all,
	   inserted >= (SELECT count(*) FROM prices_before) AS rebuilt_all
  FROM stockelt_replay('alphavantage/');
SELECT count(*) AS missing_or_different FROM (
	(SELECT * FROM prices_before
	 EXCEPT SELECT symbol, week_ending, open, high, low, close, adjusted_close, volume, dividend_amount, basis_factor,
		   bronze_key, fetched_at, last_refreshed
	 FROM silver.weekly_adjusted_prices)
	UNION ALL
	(SELECT symbol, week_ending, open, high, low, close, adjusted_close, volume, dividend_amount, basis_factor,
		   bronze_key, fetched_at, last_refreshed
	 FROM silver.weekly_adjusted_prices EXCEPT SELECT * FROM prices_before)) d;
SELECT count(*) AS symbols_missing_or_different FROM (
	(SELECT * FROM symbols_before
	 EXCEPT SELECT symbol, name, asset_type, exchange, region, country, currency, timezone, market_open,
		   market_close, sector, industry, bronze_key, fetched_at, source FROM silver.symbols)
	UNION ALL
	(SELECT symbol, name, asset_type, exchange, region, country, currency, timezone, market_open,
		   market_close, sector, industry, bronze_key, fetched_at, source FROM silver.symbols
	 EXCEPT SELECT * FROM symbols_before)) d;

-- Keys that do not name a function, symbol and time, and are not cataloged, are refused.
SELECT expect_error($$SELECT * FROM stockelt_ingest('somewhere/else.json')$$);

-- Memory per body is bounded: a 63 MB body of small values (under the default size cap of a
-- fetch) is refused before it is read, and one just under 8 MB before it is parsed.  The bodies
-- are written by another session, so this backend's peak memory shows only the ingest.
SELECT put_bronze('alphavantage/time_series_weekly_adjusted/symbol=BAD/dense63.json',
	'{"Meta Data": {"2. Symbol": "BAD"}, "x": [' || repeat('0,', 33000000) || '0], "Weekly Adjusted Time Series": {'
	|| bar('2024-04-12') || '}}') IS NOT NULL AS put_63_mb;
SELECT put_bronze('alphavantage/time_series_weekly_adjusted/symbol=BAD/dense8.json',
	'{"Meta Data": {"2. Symbol": "BAD"}, "x": [' || repeat('0,', 4100000) || '0], "Weekly Adjusted Time Series": {'
	|| bar('2024-04-12') || '}}') IS NOT NULL AS put_8_mb;
\c -
CREATE FUNCTION pg_temp.peak_kb() RETURNS bigint LANGUAGE sql AS $$
	SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmHWM:\s+(\d+)')::bigint;
$$;
SELECT pg_temp.peak_kb() AS peak_before \gset
SELECT key, size_bytes, regexp_replace(error_detail(format('SELECT * FROM stockelt_ingest(%L)', key)), '\d{7,} bytes', 'N bytes') AS reason
  FROM stockelt.bronze_objects WHERE key ~ 'symbol=BAD/dense' ORDER BY size_bytes DESC;
SELECT (pg_temp.peak_kb() - :peak_before) / 1024 < 64 AS peak_grew_less_than_64_mb;
DELETE FROM stockelt.bronze_bodies WHERE key ~ 'symbol=BAD/dense';
DELETE FROM stockelt.bronze_objects WHERE key ~ 'symbol=BAD/dense';
