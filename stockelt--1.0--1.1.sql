/* stockelt--1.0--1.1.sql */

\echo Use "ALTER EXTENSION stockelt UPDATE TO '1.1'" to load this file. \quit

-- Version 1.0 is the install script as it stood at commit 4cfe9b4; this script brings a
-- database that has it to exactly the objects of a fresh 1.1 install (test/t/016_upgrade.pl
-- compares the two catalogs).  Every table keeps its rows, its OID and the privileges users
-- granted on it.  Gold is derived data: it is rebuilt from silver at the end.
--
-- PostgreSQL adds a column only at the end of a table, and silver's writer fills tuples by
-- position.  Where 1.1 has a column in the middle, the column at that place becomes the new
-- one and every later column takes the place of the one after it: ALTER COLUMN ... TYPE ...
-- USING reads the old row, so the whole move is one rewrite of the table.

-- ---------------------------------------------------------------- silver: the data's own date and basis

-- What the new columns of silver.weekly_adjusted_prices get, worked out before the rewrite
-- from the bronze objects that wrote the rows.  These helpers are dropped after it.

-- The data's own date of a weekly object, as 1.1's parser reads it: Meta Data's
-- "3. Last Refreshed" (a date, or a date and a time), never before the newest key; the
-- newest key alone when Last Refreshed is no such date.  NULL for a body that is no JSON.
CREATE FUNCTION stockelt._upgrade_as_of(series jsonb) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	refreshed text := series -> 'Meta Data' ->> '3. Last Refreshed';
	newest timestamp := (SELECT max(k)::date FROM jsonb_object_keys(series -> 'Weekly Adjusted Time Series') k);
	stated timestamp;
BEGIN
	IF refreshed ~ '^\d{4}-\d{2}-\d{2}( ([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?)?$' THEN
		BEGIN
			stated := refreshed::timestamp;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			stated := NULL;		-- not a day of the calendar: the newest key decides
		END;
	END IF;
	RETURN greatest(newest, stated);
END
$$;

-- A body of the embedded store as JSON (a byte order mark dropped); NULL if it is none.
CREATE FUNCTION stockelt._upgrade_json(body bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF substring(body FROM 1 FOR 3) = '\xefbbbf'::bytea THEN
		body := substring(body FROM 4);
	END IF;
	RETURN convert_from(body, 'UTF8')::jsonb;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

-- Every object that wrote silver rows: its weekly series when its body is in the embedded
-- store (NULL when it lives in S3, which an extension script does not call), and its date.
-- An object in S3 is dated by the newest week it wrote, the least its own date can be.
CREATE TABLE stockelt._upgrade_objects AS
SELECT o.key, o.symbol, o.fetched_at, s.series -> 'Weekly Adjusted Time Series' AS weeks,
	   coalesce(stockelt._upgrade_as_of(s.series), o.newest_week::timestamp) AS as_of
  FROM (SELECT p.bronze_key AS key, p.symbol, min(p.fetched_at) AS fetched_at,
			   max(p.week_ending) AS newest_week
		  FROM silver.weekly_adjusted_prices p GROUP BY p.bronze_key, p.symbol) o
  LEFT JOIN LATERAL (SELECT stockelt._upgrade_json(b.body) AS series
					   FROM stockelt.bronze_bodies b WHERE b.key = o.key) s ON true;
ALTER TABLE stockelt._upgrade_objects ADD PRIMARY KEY (key, symbol);

-- The basis factor of the rows the newest object of their symbol (by the data's own date,
-- then the fetch) does not give, as 1.1 writes it when that object arrives over the rows of
-- an older one: the newest object's adjusted close over the older one's at the oldest key
-- both give with adjusted closes above zero, to 20 decimals; NULL where the two have no such
-- key or the older object's body is not in the database.  The rows of the calendar weeks
-- the newest object gives have 1, and so has every row of a symbol whose newest object's
-- body is in S3: the factor cannot be known without it, and 1 reads the rows as 1.0 did.
CREATE TABLE stockelt._upgrade_factors AS
WITH newest AS (
	SELECT DISTINCT ON (symbol) symbol, key, weeks
	  FROM stockelt._upgrade_objects ORDER BY symbol, as_of DESC, fetched_at DESC
), older AS (
	SELECT p.symbol, p.week_ending, p.bronze_key, n.weeks AS newest_weeks
	  FROM silver.weekly_adjusted_prices p JOIN newest n USING (symbol)
	 WHERE n.weeks IS NOT NULL
	   AND NOT EXISTS (SELECT FROM jsonb_object_keys(n.weeks) k
					    WHERE date_trunc('week', k::date) = date_trunc('week', p.week_ending))
)
SELECT o.symbol, o.week_ending,
	   (SELECT round(((o.newest_weeks -> k ->> '5. adjusted close')::numeric
					  + 0.00000000000000000000)
					 / (b.weeks -> k ->> '5. adjusted close')::numeric, 20)
		  FROM jsonb_object_keys(b.weeks) k
		 WHERE o.newest_weeks ? k
		   AND (o.newest_weeks -> k ->> '5. adjusted close')::numeric > 0
		   AND (b.weeks -> k ->> '5. adjusted close')::numeric > 0
		 ORDER BY k LIMIT 1) AS basis_factor
  FROM older o
  JOIN stockelt._upgrade_objects b ON b.key = o.bronze_key AND b.symbol = o.symbol;
ALTER TABLE stockelt._upgrade_factors ADD PRIMARY KEY (symbol, week_ending);

-- Looked up row by row by the rewrite below (a USING expression takes no subquery).
CREATE FUNCTION stockelt._upgrade_factor(p_symbol text, p_week date) RETURNS numeric
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT (coalesce((SELECT ARRAY[f.basis_factor] FROM stockelt._upgrade_factors f
					   WHERE f.symbol = p_symbol AND f.week_ending = p_week), ARRAY[1::numeric]))[1]
$$;
CREATE FUNCTION stockelt._upgrade_refreshed(p_key text, p_symbol text) RETURNS timestamp
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT o.as_of FROM stockelt._upgrade_objects o WHERE o.key = p_key AND o.symbol = p_symbol
$$;

-- 1.0's columns 10 to 12 (bronze_key, fetched_at, ingested_at) become basis_factor,
-- bronze_key and fetched_at; last_refreshed and ingested_at are the two added at the end.
ALTER TABLE silver.weekly_adjusted_prices ADD COLUMN new_13 timestamp, ADD COLUMN new_14 timestamptz;
ALTER TABLE silver.weekly_adjusted_prices RENAME COLUMN bronze_key TO basis_factor;
ALTER TABLE silver.weekly_adjusted_prices RENAME COLUMN fetched_at TO bronze_key;
ALTER TABLE silver.weekly_adjusted_prices RENAME COLUMN ingested_at TO fetched_at;
ALTER TABLE silver.weekly_adjusted_prices RENAME COLUMN new_13 TO last_refreshed;
ALTER TABLE silver.weekly_adjusted_prices RENAME COLUMN new_14 TO ingested_at;
-- In a USING expression a name is the column's before this statement: basis_factor holds
-- 1.0's bronze_key, bronze_key its fetched_at, fetched_at its ingested_at.
ALTER TABLE silver.weekly_adjusted_prices
	ALTER COLUMN basis_factor DROP NOT NULL,
	ALTER COLUMN basis_factor TYPE numeric USING stockelt._upgrade_factor(symbol, week_ending),
	ALTER COLUMN basis_factor SET DEFAULT 1,
	ALTER COLUMN bronze_key TYPE text USING basis_factor,
	ALTER COLUMN fetched_at DROP DEFAULT,
	ALTER COLUMN fetched_at TYPE timestamptz USING bronze_key,
	ALTER COLUMN last_refreshed TYPE timestamp USING stockelt._upgrade_refreshed(basis_factor, symbol),
	ALTER COLUMN ingested_at TYPE timestamptz USING fetched_at,
	ALTER COLUMN ingested_at SET DEFAULT now(),
	ALTER COLUMN ingested_at SET NOT NULL;
COMMENT ON TABLE silver.weekly_adjusted_prices IS
	'One row per symbol and provider key (week) from TIME_SERIES_WEEKLY_ADJUSTED; raw prices, adjusted close, lineage.';
COMMENT ON COLUMN silver.weekly_adjusted_prices.basis_factor IS
	'adjusted_close * basis_factor is the adjusted close on the basis of the newest object ingested for the symbol: 1 for rows it gave, the seam''s ratio for older rows, NULL where no common week allowed a rebase.';
COMMENT ON COLUMN silver.weekly_adjusted_prices.last_refreshed IS
	'The data''s own date of the object that wrote the row (Meta Data "3. Last Refreshed", at least its newest week); orders objects, the fetch time breaking ties.';
-- Gold looks up the last seam before a week: weeks off the newest basis are few.
CREATE INDEX weekly_adjusted_prices_unbased ON silver.weekly_adjusted_prices (symbol, week_ending)
	WHERE basis_factor IS NULL;

DROP FUNCTION stockelt._upgrade_factor(text, date);
DROP FUNCTION stockelt._upgrade_refreshed(text, text);
DROP FUNCTION stockelt._upgrade_as_of(jsonb);
DROP FUNCTION stockelt._upgrade_json(bytea);
DROP TABLE stockelt._upgrade_factors, stockelt._upgrade_objects;

-- ---------------------------------------------------------------- bronze retention

-- Bronze retention (stockelt.bronze_retention, applied by the worker): deletes the objects that
-- neither silver's lineage nor a replay needs, and returns how many.  An object may go only if
-- it is a weekly series in the embedded store, fetched longer ago than `retention`, applied to
-- silver (so a replay of the rest meets silver as its ingest left it), and older than every
-- object the symbol's silver rows name (so it names none, and a replay of the rest in fetch
-- order writes the same rows: each row it gave was overwritten by a newer object) and than the
-- symbol's newest object.  A row naming a key not in bronze keeps the whole symbol.  Listings
-- (OVERVIEW, SYMBOL_SEARCH) stay: an older listing fills columns a newer one leaves empty,
-- without its key in the row.  The catalog is locked against ingests first, since an ingest
-- reads the catalog before it writes the lineage.
CREATE FUNCTION stockelt._prune_bronze(retention interval) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pruned bigint;
	candidates text[];
	symbols text[];
BEGIN
	IF pg_catalog.current_setting('stockelt.s3_endpoint') <> '' THEN
		RAISE EXCEPTION 'stockelt.bronze_retention does not prune a bronze store in S3'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'stockelt.s3_endpoint is set; stockelt does not delete S3 objects.',
				  HINT = 'Set stockelt.bronze_retention to 0 while bronze is in S3.';
	END IF;
	LOCK TABLE stockelt.bronze_objects IN ACCESS EXCLUSIVE MODE;
	-- The objects old enough, applied and superseded, and their symbols: only those symbols'
	-- silver rows are read.
	SELECT pg_catalog.array_agg(o.key), pg_catalog.array_agg(DISTINCT o.symbol) INTO candidates, symbols
	  FROM stockelt.bronze_objects o
	 WHERE o.api_function = 'TIME_SERIES_WEEKLY_ADJUSTED'
	   AND o.store = 'table'
	   AND o.fetched_at < pg_catalog.now() - retention
	   AND EXISTS (SELECT FROM stockelt.silver_objects a WHERE a.key = o.key)
	   AND EXISTS (SELECT FROM stockelt.bronze_objects n
				   WHERE n.api_function = o.api_function AND n.symbol = o.symbol
					 AND (n.fetched_at, n.key) > (o.fetched_at, o.key));
	IF candidates IS NULL THEN
		RETURN 0;
	END IF;
	-- Silver's lineage is read first (MATERIALIZED), then compared with the catalog: on Citus
	-- silver is distributed and bronze local to the coordinator, and Citus reads distributed
	-- tables beside local ones only so.
	WITH lineage AS MATERIALIZED (
		SELECT DISTINCT p.symbol, p.bronze_key FROM silver.weekly_adjusted_prices p
		 WHERE p.symbol = ANY (symbols)
	), listed AS MATERIALIZED (
		SELECT s.bronze_key FROM silver.symbols s
	), gone AS (
	DELETE FROM stockelt.bronze_objects o
	 WHERE o.key = ANY (candidates)
	   AND NOT EXISTS (SELECT FROM lineage p
					   LEFT JOIN stockelt.bronze_objects b ON b.key = p.bronze_key
					   WHERE p.symbol = o.symbol
						 AND (b.key IS NULL OR (b.fetched_at, b.key) <= (o.fetched_at, o.key)))
	   AND NOT EXISTS (SELECT FROM listed s WHERE s.bronze_key = o.key)
	RETURNING o.key
	), forgotten AS (
		DELETE FROM stockelt.silver_objects a USING gone WHERE a.key = gone.key
	)
	SELECT pg_catalog.count(*) INTO pruned FROM gone;
	RETURN pruned;
END
$$;
REVOKE ALL ON FUNCTION stockelt._prune_bronze(interval) FROM PUBLIC;
COMMENT ON FUNCTION stockelt._prune_bronze(interval) IS
	'Deletes weekly bronze objects older than the retention that neither silver''s lineage nor a replay needs; returns how many.';

-- ---------------------------------------------------------------- the trading calendars

-- The exchanges whose sessions stockelt knows.  Their holiday rules are in
-- stockelt.market_holidays(calendar, year); a listing gets one by stockelt.listing_calendar().
CREATE TABLE stockelt.calendars (
	calendar		text PRIMARY KEY,
	exchange_name	text NOT NULL,
	region			text NOT NULL,
	timezone		text NOT NULL,		-- an IANA zone: the session close is local time there
	currency		text NOT NULL,		-- what the exchange's listings are quoted in
	session_close	time NOT NULL
);
INSERT INTO stockelt.calendars VALUES
	('NYSE', 'New York Stock Exchange and Nasdaq', 'United States', 'America/New_York', 'USD', '16:00'),
	('TSX', 'Toronto Stock Exchange', 'Toronto', 'America/Toronto', 'CAD', '16:00'),
	('LSE', 'London Stock Exchange', 'United Kingdom', 'Europe/London', 'GBX', '16:30');
COMMENT ON TABLE stockelt.calendars IS
	'Exchanges with a known trading calendar: region, time zone, currency and session close of their listings.';

-- 1.0's closures are all New York's: calendar takes the place of day, day of reason, reason
-- of builtin, and builtin is the column added at the end.
ALTER TABLE stockelt.market_closures DROP CONSTRAINT market_closures_pkey, ADD COLUMN new_4 boolean;
ALTER TABLE stockelt.market_closures RENAME COLUMN day TO calendar;
ALTER TABLE stockelt.market_closures RENAME COLUMN reason TO day;
ALTER TABLE stockelt.market_closures RENAME COLUMN builtin TO reason;
ALTER TABLE stockelt.market_closures RENAME COLUMN new_4 TO builtin;
ALTER TABLE stockelt.market_closures
	ALTER COLUMN calendar TYPE text USING 'NYSE',
	ALTER COLUMN calendar SET DEFAULT 'NYSE',
	ALTER COLUMN day TYPE date USING calendar,
	ALTER COLUMN reason DROP DEFAULT,
	ALTER COLUMN reason TYPE text USING day,
	ALTER COLUMN builtin TYPE boolean USING reason,
	ALTER COLUMN builtin SET DEFAULT false,
	ALTER COLUMN builtin SET NOT NULL,
	ADD FOREIGN KEY (calendar) REFERENCES stockelt.calendars,
	ADD PRIMARY KEY (calendar, day);
-- The closures 1.1 knows besides New York's (1.0 had those already).
INSERT INTO stockelt.market_closures (calendar, day, reason, builtin) VALUES
	('LSE', '1977-06-07', 'Silver Jubilee', true),
	('LSE', '1981-07-29', 'royal wedding', true),
	('LSE', '1999-12-31', 'millennium', true),
	('LSE', '2002-06-03', 'Golden Jubilee', true),
	('LSE', '2011-04-29', 'royal wedding', true),
	('LSE', '2012-06-05', 'Diamond Jubilee', true),
	('LSE', '2022-06-03', 'Platinum Jubilee', true),
	('LSE', '2022-09-19', 'state funeral of Queen Elizabeth II', true),
	('LSE', '2023-05-08', 'coronation of King Charles III', true);
COMMENT ON TABLE stockelt.market_closures IS
	'Unscheduled closures and one-off holidays per calendar; add a row for a new one.  Scheduled holidays follow stockelt.market_holidays().';
-- The calendars are public knowledge: any role that may use the schema may read them, and
-- call stockelt.market_holidays(), stockelt.listing_calendar() and the pure date helpers.
GRANT SELECT ON stockelt.calendars, stockelt.market_closures TO PUBLIC;

-- Weekend holidays are observed on the next Monday (Toronto, London).
CREATE FUNCTION stockelt._next_monday(day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE extract(isodow FROM day) WHEN 6 THEN day + 2 WHEN 7 THEN day + 1 ELSE day END
$$;

-- Christmas and Boxing Day where both are kept on weekdays (Toronto, London): a Saturday or
-- Sunday one moves to the first weekday after December 26 that is not already a holiday.
CREATE FUNCTION stockelt._christmas(year int) RETURNS TABLE (day date, name text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT x.day, x.name
	  FROM (SELECT extract(isodow FROM make_date(year, 12, 25))::int AS dow) d,
		   LATERAL (VALUES
			(make_date(year, 12, CASE WHEN d.dow >= 6 THEN 27 ELSE 25 END), 'Christmas Day'),
			(make_date(year, 12, CASE WHEN d.dow IN (5, 6) THEN 28 ELSE 26 END), 'Boxing Day')) x (day, name)
$$;

-- Days an exchange is closed on a weekday, for one year: its scheduled holidays and the
-- rows of stockelt.market_closures.  No rows for a calendar stockelt does not know.
CREATE FUNCTION stockelt.market_holidays(calendar text, year int)
RETURNS TABLE (day date, name text)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT h.day, h.name FROM (VALUES
		(CASE WHEN extract(isodow FROM make_date(year, 1, 1)) <> 6
			  THEN stockelt._observed(make_date(year, 1, 1)) END, 'New Year''s Day'),
		(CASE WHEN year >= 1998 THEN stockelt._nth_weekday(year, 1, 1, 3) END, 'Martin Luther King Jr. Day'),
		(stockelt._nth_weekday(year, 2, 1, 3), 'Presidents Day'),
		(stockelt._easter(year) - 2, 'Good Friday'),
		(stockelt._nth_weekday(year, 5, 1, -1), 'Memorial Day'),
		(CASE WHEN year >= 2022 THEN stockelt._observed(make_date(year, 6, 19)) END, 'Juneteenth'),
		(stockelt._observed(make_date(year, 7, 4)), 'Independence Day'),
		(stockelt._nth_weekday(year, 9, 1, 1), 'Labor Day'),
		(stockelt._nth_weekday(year, 11, 4, 4), 'Thanksgiving Day'),
		(stockelt._observed(make_date(year, 12, 25)), 'Christmas Day')) h (day, name)
	 WHERE market_holidays.calendar = 'NYSE' AND h.day IS NOT NULL
	UNION ALL
	SELECT h.day, h.name FROM (VALUES
		(stockelt._next_monday(make_date(year, 1, 1)), 'New Year''s Day'),
		(CASE WHEN year >= 2008 THEN stockelt._nth_weekday(year, 2, 1, 3) END, 'Family Day'),
		(stockelt._easter(year) - 2, 'Good Friday'),
		-- the Monday before May 25
		(make_date(year, 5, 24) - (extract(isodow FROM make_date(year, 5, 24))::int - 1), 'Victoria Day'),
		(stockelt._next_monday(make_date(year, 7, 1)), 'Canada Day'),
		(stockelt._nth_weekday(year, 8, 1, 1), 'Civic Holiday'),
		(stockelt._nth_weekday(year, 9, 1, 1), 'Labour Day'),
		(stockelt._nth_weekday(year, 10, 1, 2), 'Thanksgiving Day')) h (day, name)
	 WHERE market_holidays.calendar = 'TSX' AND h.day IS NOT NULL
	UNION ALL
	SELECT h.day, h.name FROM (VALUES
		(stockelt._next_monday(make_date(year, 1, 1)), 'New Year''s Day'),
		(stockelt._easter(year) - 2, 'Good Friday'),
		(stockelt._easter(year) + 1, 'Easter Monday'),
		-- moved for the anniversaries of VE Day in 1995 and 2020
		(CASE WHEN year IN (1995, 2020) THEN make_date(year, 5, 8)
			  WHEN year >= 1978 THEN stockelt._nth_weekday(year, 5, 1, 1) END, 'Early May bank holiday'),
		-- moved for the Golden, Diamond and Platinum Jubilees
		(CASE year WHEN 2002 THEN make_date(2002, 6, 4) WHEN 2012 THEN make_date(2012, 6, 4)
				   WHEN 2022 THEN make_date(2022, 6, 2)
				   ELSE stockelt._nth_weekday(year, 5, 1, -1) END, 'Spring bank holiday'),
		(stockelt._nth_weekday(year, 8, 1, -1), 'Summer bank holiday')) h (day, name)
	 WHERE market_holidays.calendar = 'LSE' AND h.day IS NOT NULL
	UNION ALL
	SELECT x.day, x.name FROM stockelt._christmas(year) x
	 WHERE market_holidays.calendar IN ('TSX', 'LSE')
	UNION ALL
	SELECT c.day, c.reason FROM stockelt.market_closures c
	 WHERE c.calendar = market_holidays.calendar
	   AND c.day >= make_date(year, 1, 1) AND c.day < make_date(year + 1, 1, 1)
	   AND extract(isodow FROM c.day) < 6
$$;
COMMENT ON FUNCTION stockelt.market_holidays(text, int) IS
	'Weekdays of a year on which an exchange (a calendar of stockelt.calendars) is closed.';

CREATE OR REPLACE FUNCTION stockelt.market_holidays(year int)
RETURNS TABLE (day date, name text)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT day, name FROM stockelt.market_holidays('NYSE', year)
$$;
COMMENT ON FUNCTION stockelt.market_holidays(int) IS
	'Weekdays of a year on which the New York Stock Exchange is closed.';

-- The calendar of a listing, from what silver.symbols knows of it: the symbol's exchange
-- suffix first (it names the listing), then the exchange OVERVIEW gives, then the region
-- SYMBOL_SEARCH gives.  A bare symbol that nothing else places is a US listing (the
-- provider writes US symbols without a suffix).  NULL: an exchange stockelt has no
-- calendar for.  The time zone SYMBOL_SEARCH gives ("UTC-04") is an offset of one season,
-- which names no exchange: it is not used.
CREATE FUNCTION stockelt.listing_calendar(symbol text, exchange text, region text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
		WHEN upper(symbol) ~ '\.(TO|TRT)$' THEN 'TSX'
		WHEN upper(symbol) ~ '\.(LON|L)$' THEN 'LSE'
		WHEN upper(symbol) ~ '\.' THEN NULL
		WHEN upper(exchange) IN ('NYSE', 'NASDAQ', 'NYSE ARCA', 'NYSEARCA', 'NYSE MKT', 'NYSE AMERICAN',
								 'AMEX', 'BATS') THEN 'NYSE'
		WHEN upper(exchange) IN ('TSX', 'TORONTO') THEN 'TSX'
		WHEN upper(exchange) IN ('LSE', 'LON', 'LONDON') THEN 'LSE'
		WHEN exchange IS NOT NULL THEN NULL
		WHEN region = 'United States' THEN 'NYSE'
		WHEN region IN ('Toronto', 'Canada') THEN 'TSX'
		WHEN region IN ('United Kingdom', 'London') THEN 'LSE'
		WHEN region IS NOT NULL THEN NULL
		ELSE 'NYSE'
	END
$$;
COMMENT ON FUNCTION stockelt.listing_calendar(text, text, text) IS
	'The trading calendar of a listing from its symbol suffix, exchange and region; NULL when stockelt knows none.';
-- 1.0 revoked these from PUBLIC; 1.1 leaves the pure date helpers to anyone.
GRANT EXECUTE ON FUNCTION stockelt._nth_weekday(int, int, int, int), stockelt._observed(date),
	stockelt._easter(int) TO PUBLIC;

-- ---------------------------------------------------------------- the star schema

COMMENT ON TABLE gold.dim_date IS
	'Calendar days from January 1 of the first year with prices to December 31 of the last.';

-- The sessions of each calendar some stock of gold.dim_stock has, over the days of dim_date.
CREATE TABLE gold.dim_trading_day (
	calendar				text NOT NULL,
	date_key				integer NOT NULL,		-- gold.dim_date's
	date					date NOT NULL,
	is_trading_day			boolean NOT NULL,
	holiday					text,
	week_last_trading_day	date,					-- NULL for a week without trading
	week_closed_early		boolean NOT NULL,		-- its week's last session was before Friday
	PRIMARY KEY (calendar, date_key)
);
COMMENT ON TABLE gold.dim_trading_day IS
	'One row per calendar of the stocks and day of gold.dim_date: sessions, holidays, each week''s last session.';
-- gold.dividend_growth reads the columns that move: until its 1.1 query can be written
-- below, it stands as a query of the same columns over nothing (replacing a view keeps its
-- privileges; dropping it would lose what users granted on it).
CREATE OR REPLACE VIEW gold.dividend_growth AS
SELECT NULL::text AS symbol, NULL::integer AS year, NULL::boolean AS complete_year,
	   NULL::integer AS payments, NULL::numeric AS dividends_per_share,
	   NULL::double precision AS growth, NULL::integer AS growth_streak
 WHERE false;

-- A stock's calendar takes the place of first_week, first_week of last_week, and last_week
-- and dividends_on_current_basis are the columns added at the end.  The refresh at the end
-- of this script fills the new ones.
ALTER TABLE gold.dim_stock ADD COLUMN new_13 date, ADD COLUMN new_14 boolean;
ALTER TABLE gold.dim_stock RENAME COLUMN first_week TO calendar;
ALTER TABLE gold.dim_stock RENAME COLUMN last_week TO first_week;
ALTER TABLE gold.dim_stock RENAME COLUMN new_13 TO last_week;
ALTER TABLE gold.dim_stock RENAME COLUMN new_14 TO dividends_on_current_basis;
ALTER TABLE gold.dim_stock
	ALTER COLUMN calendar TYPE text USING NULL,
	ALTER COLUMN first_week TYPE date USING calendar,
	ALTER COLUMN last_week TYPE date USING first_week;

-- A week at a seam has no adjusted close on the newest basis.
ALTER TABLE gold.fact_weekly_prices ALTER COLUMN adjusted_close DROP NOT NULL;

-- The facts and the corporate actions carry their stock's symbol, in their keys (on Citus they
-- are distributed by it).  Gold is rebuilt at the end of this script: emptied here, the rows
-- need no value for the new column.
TRUNCATE gold.fact_weekly_prices, gold.corporate_actions;
ALTER TABLE gold.fact_weekly_prices
	ADD COLUMN symbol text NOT NULL,
	DROP CONSTRAINT fact_weekly_prices_pkey,
	ADD PRIMARY KEY (stock_key, date_key, symbol);

ALTER TABLE gold.corporate_actions
	ADD COLUMN symbol text NOT NULL,
	DROP CONSTRAINT corporate_actions_pkey,
	ADD PRIMARY KEY (stock_key, date_key, action, symbol),
	DROP CONSTRAINT corporate_actions_action_check,
	ADD CONSTRAINT corporate_actions_action_check
		CHECK (action IN ('dividend', 'special dividend', 'distribution', 'split', 'other adjustment'));
COMMENT ON TABLE gold.corporate_actions IS
	'Cash dividends (regular and special) and other distributions, told apart by the jumps of the adjustment factor, and the splits and other adjustments those jumps imply.';

-- ---------------------------------------------------------------- helpers of the refresh

-- The split that explains a jump x of the adjustment factor: the simplest ratio p:q
-- within 1 % of x, with one side at most 4 (2:1, 3:2, 4:1, 7:1, 20:1, 1:10 …).
-- NULL when x is within 5 % of 1 or no such ratio fits.  x is clamped to [0, 100] first
-- (no ratio fits outside [1/50, 50]), so that a jump of any size cannot overflow p.
CREATE OR REPLACE FUNCTION stockelt._split_ratio(x double precision) RETURNS int[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT ARRAY[p, q]
	  FROM (SELECT q, round(least(greatest(x, 0), 100) * q)::int AS p FROM generate_series(1, 50) q) c
	 WHERE abs(x - 1) > 0.05 AND p BETWEEN 1 AND 50 AND least(p, q) <= 4
	   AND gcd(p, q) = 1 AND abs(p / (x * q) - 1) < 0.01
	 ORDER BY q, p
	 LIMIT 1
$$;

-- Fills gold.dim_date for the years of the stocks' weeks, and gold.dim_trading_day for
-- those days and the calendars of the stocks, and nothing else.
CREATE OR REPLACE FUNCTION stockelt._refresh_dim_date() RETURNS void
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

-- Recomputes gold rows from each dirty stock's from_week on, reading 53 weeks before it
-- for the trailing windows and the dividends' classes.  Fills stockelt._gold_new for the
-- stocks of one pass.
DROP FUNCTION stockelt._gold_compute(integer);
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
CREATE OR REPLACE FUNCTION @extschema@.stockelt_refresh_gold(full_rebuild boolean DEFAULT false,
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

-- ---------------------------------------------------------------- the business answers

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

-- A calendar year counts when the stock has weeks from the year's first session to its
-- last closed one; only such years have growth and streaks.  Regular cash dividends make
-- the totals; special ones have their own column; other distributions are not dividends.
-- A year is a base for the next one's growth only when it had at least as many regular
-- payments (a first year of three payments against four is not a base).
CREATE OR REPLACE VIEW gold.dividend_growth AS
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
CREATE OR REPLACE FUNCTION gold.dividend_growers(min_years integer DEFAULT 5)
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


-- The sessions moved to gold.dim_trading_day; nothing reads these any more.
ALTER TABLE gold.dim_date
	DROP COLUMN is_trading_day, DROP COLUMN holiday, DROP COLUMN week_last_trading_day,
	DROP COLUMN week_closed_early;

-- ---------------------------------------------------------------- data-quality checks

CREATE OR REPLACE FUNCTION @extschema@.stockelt_check()
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


-- ---------------------------------------------------------------- the background worker

-- Queued work and run history survive pg_dump, with the counters of their ids.
SELECT pg_catalog.pg_extension_config_dump('stockelt.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.job_batches', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.gold_refreshes', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.gold_refreshes_id_seq', '');

-- What holds a waiting job back: the worker writes it beside next_attempt_at.
ALTER TABLE stockelt.jobs ADD COLUMN waiting_for text;
COMMENT ON COLUMN stockelt.jobs.waiting_for IS
	'What the worker holds a waiting job for until next_attempt_at: the next day''s budget, the end of a quota pause, an API key, the bronze store; NULL when nothing does.';

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

-- Its owner, grants and comment stay; the body checks the database first.
CREATE OR REPLACE FUNCTION @extschema@.stockelt_enqueue(symbols text[])
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM stockelt._require_worker_database();
	RETURN QUERY SELECT stockelt._enqueue(symbols);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.stockelt_watch(symbol text, refresh_interval interval DEFAULT '1 day')
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

-- Three columns more, at the end.
CREATE OR REPLACE VIEW stockelt.worker AS
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

-- ---------------------------------------------------------------- scaling out on Citus

-- Silver distributed by symbol and co-located (each symbol's rows in one shard, written through
-- SQL that Citus routes there), gold's facts, corporate actions and the refresh's scratch
-- tables with it, the dimensions of gold reference tables, and stockelt's own
-- tables (bronze, the catalog, the change log, the queue, the calendars) left local to the
-- coordinator, where the one rate limiter runs.  stockelt's triggers on silver are dropped:
-- on a distributed table they would fire on the workers and record changes there; stockelt's
-- ingest records its changes on the coordinator itself.  Called again, it changes nothing.
-- It runs with the caller's rights: the owner of the tables (the extension's owner) calls it.
CREATE FUNCTION @extschema@.stockelt_distribute() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	node_group integer;
	t record;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RAISE EXCEPTION 'citus is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Load citus first in shared_preload_libraries, CREATE EXTENSION citus, '
						 'add the workers with citus_add_node(), then call stockelt_distribute().';
	END IF;
	EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO node_group;
	IF node_group <> 0 THEN
		RAISE EXCEPTION 'stockelt does not write on a worker node of a Citus cluster'
			USING ERRCODE = 'SE301',
				  DETAIL = pg_catalog.format('This database is in the node group %s; stockelt''s '
						   'catalog, change log, job queue and rate limiter are those of the '
						   'coordinator (group 0).', node_group),
				  HINT = 'Call stockelt''s functions on the coordinator.';
	END IF;
	FOR t IN EXECUTE 'SELECT c.relname FROM pg_catalog.pg_dist_partition p '
		'JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid '
		'WHERE c.relnamespace = ''stockelt''::regnamespace AND c.relname !~ ''^_'' ORDER BY 1'
	LOOP
		RAISE EXCEPTION 'stockelt.% is a Citus table', t.relname
			USING ERRCODE = 'SE300',
				  DETAIL = 'stockelt''s catalog, change log, job queue and rate limiter stay '
						   'local to the coordinator.',
				  HINT = 'Lay stockelt''s tables out with stockelt_distribute() alone; Citus cannot '
						 'make a table of an extension local again, so restore a copy of the '
						 'database from before the change.';
	END LOOP;
	FOR t IN EXECUTE 'SELECT c.relname, p.partmethod::text AS method, '
		'CASE WHEN p.partkey IS NOT NULL '
		'THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END AS column_name '
		'FROM pg_catalog.pg_dist_partition p '
		'JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid '
		'WHERE c.relnamespace = ''silver''::regnamespace ORDER BY 1'
	LOOP
		IF t.method <> 'h' OR t.column_name IS DISTINCT FROM 'symbol' THEN
			RAISE EXCEPTION 'silver.% is not distributed by symbol', t.relname
				USING ERRCODE = 'SE300',
					  DETAIL = 'stockelt writes a symbol''s rows in one shard.',
					  HINT = 'Lay silver out with stockelt_distribute() alone; Citus cannot make a '
							 'table of an extension local again, so restore a copy of the database '
							 'from before the change.';
		END IF;
	END LOOP;

	FOR t IN SELECT tg.tgname, tg.tgrelid::regclass AS rel
			   FROM pg_catalog.pg_trigger tg
			   JOIN pg_catalog.pg_proc f ON f.oid = tg.tgfoid
			   JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
			  WHERE c.relnamespace = 'silver'::regnamespace AND NOT tg.tgisinternal
				AND f.pronamespace = 'stockelt'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
	END LOOP;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
				   WHERE logicalrelid = 'silver.weekly_adjusted_prices'::regclass) THEN
		PERFORM pg_catalog.create_distributed_table('silver.weekly_adjusted_prices', 'symbol');
		PERFORM pg_catalog.truncate_local_data_after_distributing_table('silver.weekly_adjusted_prices');
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
				   WHERE logicalrelid = 'silver.symbols'::regclass) THEN
		PERFORM pg_catalog.create_distributed_table('silver.symbols', 'symbol',
			colocate_with => 'silver.weekly_adjusted_prices');
		PERFORM pg_catalog.truncate_local_data_after_distributing_table('silver.symbols');
	END IF;
	-- Gold's facts and corporate actions, and the refresh's scratch tables, by symbol with
	-- silver: each stock's gold rows are computed and kept in the shard of its silver rows.
	FOR t IN SELECT r::regclass AS rel
			   FROM pg_catalog.unnest(ARRAY['gold.fact_weekly_prices', 'gold.corporate_actions',
											'stockelt._gold_dirty', 'stockelt._gold_new']) AS r
			  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
								WHERE logicalrelid = r::regclass)
	LOOP
		PERFORM pg_catalog.create_distributed_table(t.rel, 'symbol',
			colocate_with => 'silver.weekly_adjusted_prices');
		PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.rel);
	END LOOP;
	FOR t IN SELECT r::regclass AS rel
			   FROM pg_catalog.unnest(ARRAY['gold.dim_date', 'gold.dim_trading_day',
											'gold.dim_stock']) AS r
			  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition
								WHERE logicalrelid = r::regclass)
	LOOP
		PERFORM pg_catalog.create_reference_table(t.rel);
		PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.rel);
	END LOOP;
	-- the weekly answers joined on (stock_key, symbol): a query of one symbol reads one shard
	PERFORM stockelt._create_weekly_answers(true);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_distribute() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_distribute() IS
	'On a Citus coordinator: distributes silver and gold''s facts by symbol (co-located), makes gold''s dimensions reference tables, keeps stockelt''s own tables local.';

-- ---------------------------------------------------------------- gold, rebuilt

-- 1.1 computes gold by other rules (calendars, seams, dividend classes): every stock is
-- computed again from silver, as stockelt_refresh_gold(true) does.
SELECT @extschema@.stockelt_refresh_gold(true);

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
