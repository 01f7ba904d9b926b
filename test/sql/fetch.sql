-- stockelt_fetch into the embedded bronze store (a table).
-- Symbols are validated before any network call.
\! "$PG_ABS_SRCDIR/standinctl" reset
SELECT expect_error($$SELECT stockelt_fetch('IBM; DROP TABLE x')$$);
SELECT expect_error($$SELECT stockelt_fetch('')$$);
SELECT expect_error($$SELECT stockelt_fetch(repeat('A', 33))$$);
SELECT expect_error($$SELECT stockelt_fetch('IBM/../x')$$);
SELECT expect_error($$SELECT stockelt_fetch('I B M')$$);
SELECT expect_error($$SELECT stockelt_fetch(E'IBM\n')$$);
\set calls `"$PG_ABS_SRCDIR/standinctl" count`
SELECT :calls AS api_calls_after_invalid_symbols;

-- Valid symbols of every shape are fetched; keys are Hive-style.
SELECT symbol,
	   stockelt_fetch(symbol) ~ ('^alphavantage/time_series_weekly_adjusted/symbol='
			|| regexp_replace(upper(symbol), '([.^$])', '\\\1', 'g')
			|| '/fetched=\d{8}T\d{6}\.\d{6}Z\.json$') AS key_ok
  FROM unnest(ARRAY['IBM', 'TSCO.LON', 'BRK-B', '^GSPC', 'T.TO', 'EURUSD=X', 'XETRA:SAP', 'ibm']) AS symbol;
\set calls `"$PG_ABS_SRCDIR/standinctl" count`
SELECT :calls AS api_calls;

-- The catalog describes every object; the bytes are the stand-in's bytes.
SELECT symbol, api_function, store, s3_bucket IS NULL AS no_bucket, s3_etag IS NULL AS no_etag,
	   size_bytes > 1000 AS has_body, fetched_at > now() - interval '5 minutes' AS recent
  FROM stockelt.bronze_objects ORDER BY fetched_at;
SELECT count(*) AS objects_with_sha256_of_body
  FROM stockelt.bronze_objects o JOIN stockelt.bronze_bodies b USING (key)
 WHERE o.sha256 = encode(sha256(b.body), 'hex') AND o.size_bytes = length(b.body);

\set expected_sha `"$PG_ABS_SRCDIR/standinctl" query 'function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=IBM&outputsize=full&datatype=json' | sha256sum | cut -c1-64`
SELECT sha256 = :'expected_sha' AS same_bytes_as_standin
  FROM stockelt.bronze_objects WHERE symbol = 'IBM' ORDER BY fetched_at LIMIT 1;

-- Reading back by key gives the same bytes; listing finds keys under a prefix.
SELECT count(*) AS read_back_equal
  FROM stockelt.bronze_objects o
 WHERE encode(sha256(stockelt_bronze_read(o.key)), 'hex') = o.sha256;
SELECT count(*) AS listed FROM stockelt_bronze_list('alphavantage/time_series_weekly_adjusted/symbol=IBM/');
SELECT count(*) AS listed_all, bool_and(store = 'table') AS all_in_table FROM stockelt_bronze_list();
SELECT count(*) AS listed_none FROM stockelt_bronze_list('nothing/');
SELECT expect_error($$SELECT stockelt_bronze_read('alphavantage/overview/symbol=NOSUCH/fetched=20240412T210000.000000Z.json')$$);
-- A key outside the layout is refused as such, not looked for.
SELECT expect_error($$SELECT stockelt_bronze_read('alphavantage/no/such.json')$$);
SELECT error_detail($$SELECT stockelt_bronze_read('alphavantage/no/such.json')$$);

-- A body changed behind the catalog's back is refused on read.
BEGIN;
UPDATE stockelt.bronze_bodies SET body = body || '\x20'::bytea
 WHERE key = (SELECT key FROM stockelt.bronze_objects WHERE symbol = 'BRK-B');
SELECT regexp_replace(expect_error(format('SELECT stockelt_bronze_read(%L)', key)), 'fetched=[^"]*', 'fetched=...')
  FROM stockelt.bronze_objects WHERE symbol = 'BRK-B';
ROLLBACK;
