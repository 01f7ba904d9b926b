/* stockelt--1.0.sql */

\echo Use "CREATE EXTENSION stockelt" to load this file. \quit

-- The extension owns its schemas; never merge into ones that already exist.
DO $check$
DECLARE
	taken text;
BEGIN
	SELECT string_agg(nspname, ', ' ORDER BY nspname) INTO taken
	  FROM pg_catalog.pg_namespace
	 WHERE nspname IN ('stockelt', 'silver', 'gold');
	IF taken IS NOT NULL THEN
		RAISE EXCEPTION 'cannot create extension stockelt: schema % already exists', taken
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'stockelt keeps its tables in the schemas stockelt, silver and gold; rename or drop the existing schema first.';
	END IF;
END
$check$;

CREATE SCHEMA stockelt;
CREATE SCHEMA silver;
CREATE SCHEMA gold;

-- Bronze: one catalog row per raw object, whichever store holds its bytes.
CREATE TABLE stockelt.bronze_objects (
	key				text PRIMARY KEY,
	symbol			text,
	keywords		text,			-- for SYMBOL_SEARCH, which names no symbol
	api_function	text NOT NULL,
	fetched_at		timestamptz NOT NULL,
	size_bytes		bigint NOT NULL CHECK (size_bytes >= 0),
	sha256			text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	store			text NOT NULL CHECK (store IN ('table', 's3')),
	s3_bucket		text,
	s3_etag			text,
	CHECK ((store = 's3') = (s3_bucket IS NOT NULL)),
	CHECK ((symbol IS NULL) <> (keywords IS NULL))
);
CREATE INDEX bronze_objects_symbol_idx
	ON stockelt.bronze_objects (api_function, symbol, fetched_at);
COMMENT ON TABLE stockelt.bronze_objects IS
	'Catalog of raw API responses kept in bronze, one row per fetch.';

-- The embedded bronze store, used when stockelt.s3_endpoint is empty.
CREATE TABLE stockelt.bronze_bodies (
	key		text PRIMARY KEY REFERENCES stockelt.bronze_objects (key) ON DELETE CASCADE,
	body	bytea NOT NULL
);
-- JSON compresses about fivefold with lz4: a smaller lake, and an ingest reads a fifth of the
-- TOAST chunks, leaving the decompression to its parser threads.
ALTER TABLE stockelt.bronze_bodies ALTER COLUMN body SET COMPRESSION lz4;
COMMENT ON TABLE stockelt.bronze_bodies IS
	'Raw response bodies, byte for byte, when bronze lives in the database.';

SELECT pg_catalog.pg_extension_config_dump('stockelt.bronze_objects', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.bronze_bodies', '');

-- Silver: normalised tables with lineage to the bronze object that last changed each row.
CREATE TABLE silver.weekly_adjusted_prices (
	symbol			text NOT NULL,
	week_ending		date NOT NULL,
	open			numeric NOT NULL,
	high			numeric NOT NULL,
	low				numeric NOT NULL,
	close			numeric NOT NULL,
	adjusted_close	numeric NOT NULL,
	volume			bigint NOT NULL CHECK (volume >= 0),
	dividend_amount	numeric NOT NULL,
	bronze_key		text NOT NULL,
	fetched_at		timestamptz NOT NULL,
	ingested_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (symbol, week_ending)
) WITH (fillfactor = 50);		-- every fetch restates history: room to update rows in place (HOT)
COMMENT ON TABLE silver.weekly_adjusted_prices IS
	'One row per symbol and week from TIME_SERIES_WEEKLY_ADJUSTED; raw prices, adjusted close, lineage.';

CREATE TABLE silver.symbols (
	symbol			text PRIMARY KEY,
	name			text,
	asset_type		text,
	exchange		text,
	region			text,
	country			text,
	currency		text,
	timezone		text,
	market_open		text,
	market_close	text,
	sector			text,
	industry		text,
	bronze_key		text NOT NULL,
	fetched_at		timestamptz NOT NULL,
	source			text NOT NULL CHECK (source IN ('OVERVIEW', 'SYMBOL_SEARCH')),
	ingested_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE silver.symbols IS
	'Listings from OVERVIEW and SYMBOL_SEARCH; NULL where the provider said "None" or nothing.';

-- What each bronze object did to silver when it was last applied.
CREATE TABLE stockelt.silver_objects (
	key				text PRIMARY KEY,
	api_function	text NOT NULL,
	argument		text NOT NULL,
	fetched_at		timestamptz NOT NULL,
	rows_in_object	bigint NOT NULL,
	inserted		bigint NOT NULL,
	updated			bigint NOT NULL,
	applied_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE stockelt.silver_objects IS
	'Bronze objects applied to silver; forgotten whenever silver is changed by SQL.';

SELECT pg_catalog.pg_extension_config_dump('silver.weekly_adjusted_prices', '');
SELECT pg_catalog.pg_extension_config_dump('silver.symbols', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.silver_objects', '');

-- stockelt writes silver below SQL, so these fire only for changes made by SQL:
-- after one, an object is no longer known to be applied and is read again.
CREATE FUNCTION stockelt._forget_applied_objects() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM stockelt.silver_objects WHERE api_function = TG_ARGV[0];
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION stockelt._forget_applied_objects() FROM PUBLIC;
CREATE TRIGGER forget_applied_objects
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON silver.weekly_adjusted_prices
	FOR EACH STATEMENT EXECUTE FUNCTION stockelt._forget_applied_objects('TIME_SERIES_WEEKLY_ADJUSTED');

-- Merges one listing: a newer fetch wins a column it gives; an older one only fills gaps.
CREATE FUNCTION stockelt._upsert_symbol(
	p_symbol text, p_name text, p_asset_type text, p_exchange text, p_region text,
	p_country text, p_currency text, p_timezone text, p_market_open text, p_market_close text,
	p_sector text, p_industry text, p_bronze_key text, p_fetched_at timestamptz, p_source text)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	old silver.symbols;
	merged silver.symbols;
	newer boolean;
BEGIN
	SELECT * INTO old FROM silver.symbols WHERE symbol = p_symbol FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO silver.symbols (symbol, name, asset_type, exchange, region, country, currency,
			timezone, market_open, market_close, sector, industry, bronze_key, fetched_at, source)
		VALUES (p_symbol, p_name, p_asset_type, p_exchange, p_region, p_country, p_currency,
			p_timezone, p_market_open, p_market_close, p_sector, p_industry, p_bronze_key,
			p_fetched_at, p_source);
		RETURN 'inserted';
	END IF;
	newer := p_fetched_at >= old.fetched_at;
	merged := old;
	merged.name := CASE WHEN p_name IS NOT NULL AND (newer OR old.name IS NULL) THEN p_name ELSE old.name END;
	merged.asset_type := CASE WHEN p_asset_type IS NOT NULL AND (newer OR old.asset_type IS NULL) THEN p_asset_type ELSE old.asset_type END;
	merged.exchange := CASE WHEN p_exchange IS NOT NULL AND (newer OR old.exchange IS NULL) THEN p_exchange ELSE old.exchange END;
	merged.region := CASE WHEN p_region IS NOT NULL AND (newer OR old.region IS NULL) THEN p_region ELSE old.region END;
	merged.country := CASE WHEN p_country IS NOT NULL AND (newer OR old.country IS NULL) THEN p_country ELSE old.country END;
	merged.currency := CASE WHEN p_currency IS NOT NULL AND (newer OR old.currency IS NULL) THEN p_currency ELSE old.currency END;
	merged.timezone := CASE WHEN p_timezone IS NOT NULL AND (newer OR old.timezone IS NULL) THEN p_timezone ELSE old.timezone END;
	merged.market_open := CASE WHEN p_market_open IS NOT NULL AND (newer OR old.market_open IS NULL) THEN p_market_open ELSE old.market_open END;
	merged.market_close := CASE WHEN p_market_close IS NOT NULL AND (newer OR old.market_close IS NULL) THEN p_market_close ELSE old.market_close END;
	merged.sector := CASE WHEN p_sector IS NOT NULL AND (newer OR old.sector IS NULL) THEN p_sector ELSE old.sector END;
	merged.industry := CASE WHEN p_industry IS NOT NULL AND (newer OR old.industry IS NULL) THEN p_industry ELSE old.industry END;
	IF merged IS NOT DISTINCT FROM old THEN
		RETURN 'unchanged';
	END IF;
	IF newer THEN
		merged.bronze_key := p_bronze_key;
		merged.fetched_at := p_fetched_at;
		merged.source := p_source;
	END IF;
	merged.ingested_at := now();
	UPDATE silver.symbols SET
		name = merged.name, asset_type = merged.asset_type, exchange = merged.exchange,
		region = merged.region, country = merged.country, currency = merged.currency,
		timezone = merged.timezone, market_open = merged.market_open,
		market_close = merged.market_close, sector = merged.sector, industry = merged.industry,
		bronze_key = merged.bronze_key, fetched_at = merged.fetched_at, source = merged.source,
		ingested_at = merged.ingested_at
	WHERE symbol = p_symbol;
	RETURN 'updated';
END
$$;
REVOKE ALL ON FUNCTION stockelt._upsert_symbol(text, text, text, text, text, text, text, text,
	text, text, text, text, text, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.stockelt_fetch(symbol text)
RETURNS text
AS 'MODULE_PATHNAME', 'stockelt_fetch'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_fetch(text) IS
	'Fetches TIME_SERIES_WEEKLY_ADJUSTED for a symbol into bronze; returns the object key.';

CREATE FUNCTION @extschema@.stockelt_bronze_read(key text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'stockelt_bronze_read'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_bronze_read(text) IS
	'Reads a bronze object back, byte for byte, from whichever store holds it.';

CREATE FUNCTION @extschema@.stockelt_bronze_list(prefix text DEFAULT '',
	OUT key text, OUT size_bytes bigint, OUT store text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stockelt_bronze_list'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 1000
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_bronze_list(text) IS
	'Lists bronze object keys under a prefix in the configured store.';

CREATE FUNCTION @extschema@.stockelt_fetch_overview(symbol text)
RETURNS text
AS 'MODULE_PATHNAME', 'stockelt_fetch_overview'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_fetch_overview(text) IS
	'Fetches OVERVIEW (company name, exchange, sector …) for a symbol into bronze; returns the object key.';

CREATE FUNCTION @extschema@.stockelt_search(keywords text,
	OUT symbol text, OUT name text, OUT type text, OUT region text, OUT market_open text,
	OUT market_close text, OUT timezone text, OUT currency text, OUT match_score numeric,
	OUT bronze_key text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stockelt_search'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_search(text) IS
	'Calls SYMBOL_SEARCH, keeps the body in bronze, adds the matches to silver.symbols and returns them.';

CREATE FUNCTION @extschema@.stockelt_ingest(key text, force boolean DEFAULT false,
	OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_ingest'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_ingest(text, boolean) IS
	'Parses one bronze object (table or S3) into silver; returns rows inserted, updated, unchanged.';

CREATE FUNCTION @extschema@.stockelt_ingest(keys text[], force boolean DEFAULT false,
	OUT key text, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stockelt_ingest_many'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 100
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_ingest(text[], boolean) IS
	'Ingests many bronze objects in order, one row each; parses the next object while writing the current one.';

CREATE FUNCTION @extschema@.stockelt_ingest_s3(key text, force boolean DEFAULT false,
	OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_ingest_s3'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_ingest_s3(text, boolean) IS
	'Reads one bronze object from S3 and parses it into silver; returns rows inserted, updated, unchanged.';

CREATE FUNCTION @extschema@.stockelt_replay(prefix text DEFAULT '',
	OUT objects bigint, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_replay'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stockelt_replay(text) IS
	'Re-ingests every bronze object under a key prefix, oldest fetch first: silver rebuilt from the lake.';

-- Functions that reach the network run as the extension's owner, so that a role
-- granted EXECUTE needs no rights on the bronze tables; they are granted
-- explicitly, never to PUBLIC.
REVOKE ALL ON FUNCTION @extschema@.stockelt_fetch(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_bronze_read(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_bronze_list(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_fetch_overview(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_search(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_ingest(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_ingest(text[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_ingest_s3(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_replay(text) FROM PUBLIC;

-- ==========================================================================================
-- Gold: a star schema over silver, refreshed incrementally by stockelt_refresh_gold().
-- ==========================================================================================

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

-- ---------------------------------------------------------------- the trading calendar

-- Unscheduled full-day closures of the New York Stock Exchange.  Rows a user adds
-- (builtin = false) survive pg_dump.
CREATE TABLE stockelt.market_closures (
	day			date PRIMARY KEY,
	reason		text NOT NULL,
	builtin		boolean NOT NULL DEFAULT false
);
INSERT INTO stockelt.market_closures (day, reason, builtin) VALUES
	('1994-04-27', 'national day of mourning', true),
	('2001-09-11', 'September 11 attacks', true),
	('2001-09-12', 'September 11 attacks', true),
	('2001-09-13', 'September 11 attacks', true),
	('2001-09-14', 'September 11 attacks', true),
	('2004-06-11', 'national day of mourning', true),
	('2007-01-02', 'national day of mourning', true),
	('2012-10-29', 'Hurricane Sandy', true),
	('2012-10-30', 'Hurricane Sandy', true),
	('2018-12-05', 'national day of mourning', true),
	('2025-01-09', 'national day of mourning', true);
SELECT pg_catalog.pg_extension_config_dump('stockelt.market_closures', 'WHERE NOT builtin');
COMMENT ON TABLE stockelt.market_closures IS
	'Unscheduled NYSE closures; add a row for a new one.  Scheduled holidays follow stockelt.market_holidays().';

-- The n-th ISO weekday (1 = Monday) of a month; n = -1 is the last one.
CREATE FUNCTION stockelt._nth_weekday(year int, month int, isodow int, n int) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN n > 0 THEN
			first + (isodow - extract(isodow FROM first)::int + 7) % 7 + 7 * (n - 1)
		ELSE
			last - (extract(isodow FROM last)::int - isodow + 7) % 7
		END
	  FROM (SELECT make_date(year, month, 1) AS first,
				   (make_date(year, month, 1) + interval '1 month')::date - 1 AS last) m
$$;

-- Saturday holidays are observed on Friday, Sunday ones on Monday.
CREATE FUNCTION stockelt._observed(day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE extract(isodow FROM day) WHEN 6 THEN day - 1 WHEN 7 THEN day + 1 ELSE day END
$$;

-- Gregorian Easter Sunday (the anonymous Gregorian algorithm).
CREATE FUNCTION stockelt._easter(year int) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT make_date(year, (h + l - 7 * m + 114) / 31, (h + l - 7 * m + 114) % 31 + 1)
	  FROM (SELECT h, l, (a + 11 * h + 22 * l) / 451 AS m
			  FROM (SELECT a, h, (32 + 2 * e + 2 * i - h - k) % 7 AS l
					  FROM (SELECT a, e, i, k, (19 * a + b - d - g + 15) % 30 AS h
							  FROM (SELECT year % 19 AS a, year / 100 AS b, year / 100 / 4 AS d,
										   year / 100 % 4 AS e, (8 * (year / 100) + 13) / 25 AS g,
										   year % 100 / 4 AS i, year % 100 % 4 AS k) s1) s2) s3) s4
$$;

-- Days the New York Stock Exchange is closed on a weekday, for one year.
CREATE FUNCTION stockelt.market_holidays(year int)
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
	 WHERE h.day IS NOT NULL
	UNION ALL
	SELECT c.day, c.reason FROM stockelt.market_closures c
	 WHERE c.day >= make_date(year, 1, 1) AND c.day < make_date(year + 1, 1, 1)
	   AND extract(isodow FROM c.day) < 6
$$;
COMMENT ON FUNCTION stockelt.market_holidays(int) IS
	'Weekdays of a year on which the New York Stock Exchange is closed.';

-- ---------------------------------------------------------------- the star schema

CREATE TABLE gold.dim_date (
	date_key				integer PRIMARY KEY,	-- YYYYMMDD
	date					date NOT NULL UNIQUE,
	year					integer NOT NULL,
	quarter					integer NOT NULL,
	month					integer NOT NULL,
	day_of_month			integer NOT NULL,
	day_of_week				integer NOT NULL,		-- ISO: 1 = Monday … 7 = Sunday
	iso_year				integer NOT NULL,
	iso_week				integer NOT NULL,
	is_trading_day			boolean NOT NULL,
	holiday					text,
	week_last_trading_day	date,					-- NULL for a week without trading
	week_closed_early		boolean NOT NULL		-- its week's last session was before Friday
);
COMMENT ON TABLE gold.dim_date IS
	'Calendar days from January 1 of the first year with prices to December 31 of the last, NYSE sessions marked.';

CREATE TABLE gold.dim_stock (
	stock_key		integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	symbol			text NOT NULL UNIQUE,
	name			text,
	asset_type		text,
	exchange		text,
	region			text,
	currency		text,
	timezone		text,
	sector			text,
	industry		text,
	first_week		date,
	last_week		date
);
COMMENT ON TABLE gold.dim_stock IS
	'One row per symbol with prices in silver; descriptive columns from silver.symbols where known.';

-- Keys reference the dimensions by construction.  They are not declared as foreign
-- keys (a check per row would double the cost of a rebuild); stockelt_check() verifies them.
CREATE TABLE gold.fact_weekly_prices (
	stock_key				integer NOT NULL,
	date_key				integer NOT NULL,
	week_ending				date NOT NULL,
	open					numeric NOT NULL,
	high					numeric NOT NULL,
	low						numeric NOT NULL,
	close					numeric NOT NULL,
	adjusted_close			numeric NOT NULL,
	volume					bigint NOT NULL,
	dividend_amount			numeric NOT NULL,
	adjustment_factor		numeric,			-- adjusted_close / close
	split_factor			numeric NOT NULL,	-- shares today for one share of this week
	split_adjusted_close	numeric,
	split_adjusted_volume	numeric NOT NULL,
	split_adjusted_dividend	numeric NOT NULL,
	adjusted_return			double precision,	-- simple, on adjusted closes
	adjusted_log_return		double precision,
	is_partial				boolean NOT NULL,	-- the newest week, not yet closed
	cumulative_return		double precision,
	return_4w				double precision,
	return_13w				double precision,
	return_52w				double precision,
	moving_average_13w		numeric,
	moving_average_52w		numeric,
	volume_volatility_correlation_52w double precision,
	annualised_volatility_52w double precision,
	mean_volume_52w			numeric,
	PRIMARY KEY (stock_key, date_key)
);
COMMENT ON TABLE gold.fact_weekly_prices IS
	'One row per stock and week: raw and adjusted prices, split-adjusted figures, returns and trailing measures.';

CREATE TABLE gold.corporate_actions (
	stock_key			integer NOT NULL,
	date_key			integer NOT NULL,
	week_ending			date NOT NULL,
	action				text NOT NULL CHECK (action IN ('dividend', 'split', 'other adjustment')),
	amount				numeric,		-- dividend per share, as paid
	split_adjusted_amount numeric,		-- dividend per share on today's share basis
	ratio_numerator		integer,		-- split: new shares …
	ratio_denominator	integer,		-- … for old shares
	observed_factor		double precision, -- the jump of adjusted_close/close a dividend cannot explain
	PRIMARY KEY (stock_key, date_key, action)
);
COMMENT ON TABLE gold.corporate_actions IS
	'Dividends as reported, and splits inferred from jumps of the adjustment factor.';

-- Gold is derived data, rebuilt from silver: not dumped.

-- ---------------------------------------------------------------- helpers of the refresh

CREATE AGGREGATE stockelt._product(numeric) (sfunc = numeric_mul, stype = numeric, initcond = '1');

-- The split that explains a jump x of the adjustment factor: the simplest ratio p:q
-- within 1 % of x, with one side at most 4 (2:1, 3:2, 4:1, 7:1, 20:1, 1:10 …).
-- NULL when x is within 5 % of 1 or no such ratio fits.
CREATE FUNCTION stockelt._split_ratio(x double precision) RETURNS int[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT ARRAY[p, q]
	  FROM (SELECT q, round(x * q)::int AS p FROM generate_series(1, 50) q) c
	 WHERE abs(x - 1) > 0.05 AND p BETWEEN 1 AND 50 AND least(p, q) <= 4
	   AND gcd(p, q) = 1 AND abs(p / (x * q) - 1) < 0.01
	 ORDER BY q, p
	 LIMIT 1
$$;

-- Fills gold.dim_date for the years of the stocks' weeks, and nothing else.
CREATE FUNCTION stockelt._refresh_dim_date() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	first_day date;
	last_day date;
BEGIN
	SELECT make_date(extract(year FROM min(first_week))::int, 1, 1),
		   make_date(extract(year FROM max(last_week))::int, 12, 31)
	  INTO first_day, last_day
	  FROM gold.dim_stock;
	DELETE FROM gold.dim_date
	 WHERE first_day IS NULL OR date < first_day OR date > last_day;
	IF first_day IS NULL OR (SELECT count(*) FROM gold.dim_date) = last_day - first_day + 1 THEN
		RETURN;
	END IF;
	INSERT INTO gold.dim_date
	SELECT to_char(d, 'YYYYMMDD')::int, d,
		   extract(year FROM d), extract(quarter FROM d), extract(month FROM d), extract(day FROM d),
		   extract(isodow FROM d), extract(isoyear FROM d), extract(week FROM d),
		   trading, holiday,
		   max(d) FILTER (WHERE trading) OVER week,
		   coalesce(extract(isodow FROM max(d) FILTER (WHERE trading) OVER week) < 5, false)
	  FROM (SELECT d::date AS d, h.name AS holiday,
				   extract(isodow FROM d) < 6 AND h.day IS NULL AS trading
			  FROM generate_series(first_day, last_day, interval '1 day') d
			  LEFT JOIN (SELECT y.day, string_agg(y.name, ', ') AS name
						   FROM generate_series(extract(year FROM first_day)::int,
												extract(year FROM last_day)::int) yr,
								stockelt.market_holidays(yr) y
						  GROUP BY y.day) h ON h.day = d::date) days
	WINDOW week AS (PARTITION BY date_trunc('week', d))
	ON CONFLICT (date_key) DO NOTHING;
END
$$;

-- Recomputes gold rows from each dirty stock's from_week on, reading 52 weeks before it
-- for the trailing windows.  Fills pg_temp._gold_new for the stocks of one pass.
CREATE FUNCTION stockelt._gold_compute(pass integer) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE pg_temp._gold_dirty d
	   SET ctx_from = coalesce((SELECT s.week_ending FROM silver.weekly_adjusted_prices s
								 WHERE s.symbol = d.symbol AND s.week_ending < d.from_week
								 ORDER BY s.week_ending DESC OFFSET 51 LIMIT 1), '-infinity')
	 WHERE d.pass = _gold_compute.pass;

	INSERT INTO pg_temp._gold_new
	SELECT stock_key, date_key, week_ending, open, high, low, close, adjusted_close, volume,
		   dividend_amount, adjustment_factor, split_factor, split_adjusted_close,
		   split_adjusted_volume, split_adjusted_dividend, adjusted_return, adjusted_log_return,
		   is_partial, cumulative_return, return_4w, return_13w, return_52w, moving_average_13w,
		   moving_average_52w, volume_volatility_correlation_52w, annualised_volatility_52w,
		   mean_volume_52w, split_numerator, split_denominator, jump
	  FROM (
	-- Trailing windows as differences of running sums (exact numeric, one step a row):
	-- the sum over the 52 weeks up to t is S(t) - S(t - 52).
	SELECT stock_key, date_key, week_ending, from_week, open, high, low, close, adjusted_close,
		   volume, dividend_amount, adjustment_factor, split_factor, split_adjusted_close,
		   split_adjusted_volume, split_adjusted_dividend, adjusted_return, adjusted_log_return,
		   is_partial, cumulative_return, return_4w, return_13w, return_52w,
		   CASE WHEN NOT is_partial AND n13 = 13 THEN round(adj13 / 13, 6) END AS moving_average_13w,
		   CASE WHEN NOT is_partial AND n52 = 52 THEN round(adj52 / 52, 6) END AS moving_average_52w,
		   CASE WHEN NOT is_partial AND r52 = 52
				THEN ((52 * sum_vm - sum_v * sum_m)::float8
					  / nullif(sqrt((52 * sum_vv - sum_v * sum_v)::float8
								   * (52 * sum_mm - sum_m * sum_m)::float8), 0)) END
				AS volume_volatility_correlation_52w,
		   CASE WHEN NOT is_partial AND r52 = 52
				THEN sqrt(greatest((52 * sum_rr - sum_r * sum_r)::float8, 0) / (52 * 51)) * sqrt(52) END
				AS annualised_volatility_52w,
		   CASE WHEN NOT is_partial AND r52 = 52 THEN round(sum_v / 52, 2) END AS mean_volume_52w,
		   split_numerator, split_denominator, jump
	  FROM (
	SELECT w.*, to_char(week_ending, 'YYYYMMDD')::int AS date_key,
		   CASE WHEN NOT is_partial AND first_adjusted > 0
				THEN adjusted_close::float8 / first_adjusted::float8 - 1 END AS cumulative_return,
		   CASE WHEN NOT is_partial THEN adjusted_close::float8 / nullif(lag(adjusted_close, 4) OVER run, 0)::float8 - 1 END AS return_4w,
		   CASE WHEN NOT is_partial THEN adjusted_close::float8 / nullif(lag(adjusted_close, 13) OVER run, 0)::float8 - 1 END AS return_13w,
		   CASE WHEN NOT is_partial THEN adjusted_close::float8 / nullif(lag(adjusted_close, 52) OVER run, 0)::float8 - 1 END AS return_52w,
		   s_rows - coalesce(lag(s_rows, 13) OVER run, 0) AS n13,
		   s_adj - coalesce(lag(s_adj, 13) OVER run, 0) AS adj13,
		   s_rows - coalesce(lag(s_rows, 52) OVER run, 0) AS n52,
		   s_adj - coalesce(lag(s_adj, 52) OVER run, 0) AS adj52,
		   s_n - coalesce(lag(s_n, 52) OVER run, 0) AS r52,
		   s_x - coalesce(lag(s_x, 52) OVER run, 0) AS sum_v,
		   s_y - coalesce(lag(s_y, 52) OVER run, 0) AS sum_m,
		   s_xy - coalesce(lag(s_xy, 52) OVER run, 0) AS sum_vm,
		   s_xx - coalesce(lag(s_xx, 52) OVER run, 0) AS sum_vv,
		   s_yy - coalesce(lag(s_yy, 52) OVER run, 0) AS sum_mm,
		   s_r - coalesce(lag(s_r, 52) OVER run, 0) AS sum_r,
		   s_rr - coalesce(lag(s_rr, 52) OVER run, 0) AS sum_rr
	  FROM (
		SELECT v.*,
			   count(*) OVER run AS s_rows, sum(adjusted_close) OVER run AS s_adj,
			   count(ret) OVER run AS s_n,
			   coalesce(sum(vol) OVER run, 0) AS s_x, coalesce(sum(move) OVER run, 0) AS s_y,
			   coalesce(sum(vol * move) OVER run, 0) AS s_xy,
			   coalesce(sum(vol * vol) OVER run, 0) AS s_xx,
			   coalesce(sum(move * move) OVER run, 0) AS s_yy,
			   coalesce(sum(ret) OVER run, 0) AS s_r, coalesce(sum(ret * ret) OVER run, 0) AS s_rr
		  FROM (
			-- volume and volatility (|log return|) pair up where a return exists
			SELECT f.*, adjusted_log_return::numeric AS ret,
				   abs(adjusted_log_return)::numeric AS move,
				   CASE WHEN adjusted_log_return IS NOT NULL THEN split_adjusted_volume END AS vol
			  FROM (
		SELECT e.*,
			   round(shares_after / parts_after, 10) AS split_factor,
			   round(close * parts_after / shares_after, 6) AS split_adjusted_close,
			   round(volume * shares_after / parts_after, 2) AS split_adjusted_volume,
			   round(dividend_amount * parts_after / shares_after, 12) AS split_adjusted_dividend
		  FROM (
			SELECT j.*,
				   stockelt._product(split_numerator) OVER whole
					   / stockelt._product(split_numerator) OVER run AS shares_after,
				   stockelt._product(split_denominator) OVER whole
					   / stockelt._product(split_denominator) OVER run AS parts_after
			  FROM (
				SELECT b.*, r[1]::numeric AS split_numerator, r[2]::numeric AS split_denominator,
					   CASE WHEN r IS NULL THEN b.x END AS jump
				  FROM (
					SELECT b.*, CASE WHEN abs(b.x - 1) > 0.05 THEN stockelt._split_ratio(b.x) END AS r
					  FROM (
						SELECT d.stock_key, d.from_week, d.first_adjusted, s.week_ending,
							   s.open, s.high, s.low, s.close, s.adjusted_close, s.volume,
							   s.dividend_amount,
							   round(s.adjusted_close / nullif(s.close, 0), 10) AS adjustment_factor,
							   s.week_ending = d.last_week AND d.last_partial AS is_partial,
							   CASE WHEN NOT (s.week_ending = d.last_week AND d.last_partial)
										 AND s.adjusted_close > 0 AND lag(s.adjusted_close) OVER run > 0
									THEN s.adjusted_close::float8 / (lag(s.adjusted_close) OVER run)::float8 - 1
							   END AS adjusted_return,
							   CASE WHEN NOT (s.week_ending = d.last_week AND d.last_partial)
										 AND s.adjusted_close > 0 AND lag(s.adjusted_close) OVER run > 0
									THEN ln(s.adjusted_close::float8 / (lag(s.adjusted_close) OVER run)::float8)
							   END AS adjusted_log_return,
							   -- The jump of adjusted_close/close that this week's events made,
							   -- over what its dividend explains: a split's ratio, or 1.
							   (1 - s.dividend_amount::float8 / nullif(lag(s.close) OVER run, 0)::float8)
								 * (s.adjusted_close::float8 / nullif(s.close, 0)::float8)
								 / nullif((lag(s.adjusted_close) OVER run)::float8
										  / nullif(lag(s.close) OVER run, 0)::float8, 0) AS x
						  FROM pg_temp._gold_dirty d
						  JOIN silver.weekly_adjusted_prices s
							ON s.symbol = d.symbol AND s.week_ending >= d.ctx_from
						 WHERE d.pass = _gold_compute.pass
						WINDOW run AS (PARTITION BY d.stock_key ORDER BY s.week_ending)) b) b) j
			WINDOW run AS (PARTITION BY j.stock_key ORDER BY j.week_ending),
				   whole AS (PARTITION BY j.stock_key)) e) f) v
		WINDOW run AS (PARTITION BY stock_key ORDER BY week_ending)) w
	WINDOW run AS (PARTITION BY stock_key ORDER BY week_ending)) measured) kept
	 -- the weeks before from_week were read for the windows only
	 WHERE week_ending >= from_week;
END
$$;
REVOKE ALL ON FUNCTION stockelt._gold_compute(integer) FROM PUBLIC;

-- JIT is off: the planner sizes the refresh by the whole of silver, and compiling its
-- queries cost more than an incremental refresh itself (measured 2–3 s of 5).
CREATE FUNCTION @extschema@.stockelt_refresh_gold(full_rebuild boolean DEFAULT false,
	OUT stocks integer, OUT weeks_written bigint, OUT rebuilt_history integer)
RETURNS record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
	this_pass integer := 1;
	dirty record;
BEGIN
	-- Ingests that already changed silver finish first and later ones wait, so no
	-- change is consumed before it is visible; one refresh runs at a time.  Readers
	-- are never blocked and see gold as it was until this transaction commits.
	LOCK TABLE stockelt.gold_pending IN SHARE ROW EXCLUSIVE MODE;
	LOCK TABLE gold.dim_stock, gold.dim_date, gold.fact_weekly_prices, gold.corporate_actions
		IN EXCLUSIVE MODE;

	-- Scratch tables of this session, emptied at commit.
	IF to_regclass('pg_temp._gold_new') IS NULL THEN
		CREATE TEMP TABLE _gold_dirty (
			symbol text PRIMARY KEY, from_week date, stock_key integer, pass integer,
			ctx_from date, first_week date, first_adjusted numeric, last_week date,
			last_partial boolean
		) ON COMMIT DELETE ROWS;
		CREATE TEMP TABLE _gold_new (LIKE gold.fact_weekly_prices) ON COMMIT DELETE ROWS;
		ALTER TABLE _gold_new ADD COLUMN split_numerator numeric,
			ADD COLUMN split_denominator numeric, ADD COLUMN jump double precision;
	END IF;
	TRUNCATE _gold_dirty, _gold_new;

	IF full_rebuild THEN
		DELETE FROM stockelt.gold_pending;
		INSERT INTO _gold_dirty (symbol, from_week, pass)
		SELECT symbol, '-infinity', 1 FROM gold.dim_stock
		UNION
		SELECT DISTINCT symbol, '-infinity'::date, 1 FROM silver.weekly_adjusted_prices;
	ELSE
		WITH taken AS (DELETE FROM stockelt.gold_pending RETURNING symbol, from_week)
		INSERT INTO _gold_dirty (symbol, from_week, pass) SELECT symbol, from_week, 1 FROM taken;
	END IF;
	ANALYZE _gold_dirty;

	-- Stocks no longer in silver leave gold, each looked up in silver once.
	WITH gone AS (
		DELETE FROM _gold_dirty d
		 WHERE NOT EXISTS (SELECT FROM silver.weekly_adjusted_prices s WHERE s.symbol = d.symbol)
		RETURNING d.symbol
	), stocks_gone AS (
		DELETE FROM gold.dim_stock g USING gone WHERE g.symbol = gone.symbol RETURNING g.stock_key
	), facts_gone AS (
		DELETE FROM gold.fact_weekly_prices f USING stocks_gone x WHERE f.stock_key = x.stock_key
	)
	DELETE FROM gold.corporate_actions a USING stocks_gone x WHERE a.stock_key = x.stock_key;

	-- Dimensions first: the stocks' week ranges, then the calendar they span.
	INSERT INTO gold.dim_stock AS g (symbol, first_week, last_week)
	SELECT d.symbol,
		   (SELECT min(week_ending) FROM silver.weekly_adjusted_prices s WHERE s.symbol = d.symbol),
		   (SELECT max(week_ending) FROM silver.weekly_adjusted_prices s WHERE s.symbol = d.symbol)
	  FROM _gold_dirty d
	ON CONFLICT (symbol) DO UPDATE SET first_week = excluded.first_week, last_week = excluded.last_week
	 WHERE (g.first_week, g.last_week) IS DISTINCT FROM (excluded.first_week, excluded.last_week);
	UPDATE gold.dim_stock g
	   SET name = s.name, asset_type = s.asset_type, exchange = s.exchange, region = s.region,
		   currency = s.currency, timezone = s.timezone, sector = s.sector, industry = s.industry
	  FROM silver.symbols s
	 WHERE s.symbol = g.symbol
	   AND (g.name, g.asset_type, g.exchange, g.region, g.currency, g.timezone, g.sector, g.industry)
		   IS DISTINCT FROM
		   (s.name, s.asset_type, s.exchange, s.region, s.currency, s.timezone, s.sector, s.industry);
	PERFORM stockelt._refresh_dim_date();

	-- The newest week is partial when its key is not its week's last session, or when it
	-- was fetched before that session closed (16:00 in New York).
	UPDATE _gold_dirty d
	   SET stock_key = g.stock_key, first_week = g.first_week, last_week = g.last_week,
		   first_adjusted = (SELECT s.adjusted_close FROM silver.weekly_adjusted_prices s
							  WHERE s.symbol = d.symbol AND s.week_ending = g.first_week),
		   last_partial = coalesce(g.last_week < dd.week_last_trading_day
								   OR s.fetched_at < (dd.week_last_trading_day + time '16:00')
													 AT TIME ZONE 'America/New_York', true)
	  FROM gold.dim_stock g
	  JOIN silver.weekly_adjusted_prices s ON s.symbol = g.symbol AND s.week_ending = g.last_week
	  LEFT JOIN gold.dim_date dd ON dd.date = g.last_week
	 WHERE g.symbol = d.symbol;

	IF full_rebuild THEN
		DELETE FROM gold.fact_weekly_prices;
		DELETE FROM gold.corporate_actions;
	END IF;

	-- A split inferred anew, or no longer, changes the share basis of every earlier week:
	-- such a stock is recomputed from its first week.  Found with one join of the new
	-- splits and the stored ones, not a scan per stock.
	LOOP
		PERFORM stockelt._gold_compute(this_pass);
		UPDATE _gold_dirty d SET from_week = '-infinity', pass = pass + 1
		  FROM (SELECT DISTINCT coalesce(n.stock_key, a.stock_key) AS stock_key
				  FROM (SELECT n.stock_key, n.date_key, n.split_numerator, n.split_denominator
						  FROM _gold_new n
						  JOIN _gold_dirty dd ON dd.stock_key = n.stock_key
						 WHERE dd.pass = this_pass AND dd.from_week > dd.first_week
						   AND n.split_numerator IS NOT NULL) n
				  FULL JOIN
					   (SELECT a.stock_key, a.date_key, a.ratio_numerator, a.ratio_denominator
						  FROM gold.corporate_actions a
						  JOIN _gold_dirty dd ON dd.stock_key = a.stock_key
						 WHERE dd.pass = this_pass AND dd.from_week > dd.first_week
						   AND a.action = 'split' AND a.week_ending >= dd.from_week) a
					ON a.stock_key = n.stock_key AND a.date_key = n.date_key
				 WHERE n.stock_key IS NULL OR a.stock_key IS NULL
					OR n.split_numerator <> a.ratio_numerator
					OR n.split_denominator <> a.ratio_denominator) changed
		 WHERE d.stock_key = changed.stock_key AND d.pass = this_pass;
		EXIT WHEN NOT FOUND;
		DELETE FROM _gold_new n USING _gold_dirty d
		 WHERE n.stock_key = d.stock_key AND d.pass = this_pass + 1;
		this_pass := this_pass + 1;
	END LOOP;

	IF NOT full_rebuild THEN
		-- A key range of the primary keys per stock: a join would scan the whole fact table
		-- to delete one week of each stock.
		FOR dirty IN SELECT stock_key,
							CASE WHEN from_week = '-infinity' THEN 0
								 ELSE to_char(from_week, 'YYYYMMDD')::int END AS from_key
					   FROM _gold_dirty
		LOOP
			DELETE FROM gold.fact_weekly_prices
			 WHERE stock_key = dirty.stock_key AND date_key >= dirty.from_key;
			DELETE FROM gold.corporate_actions
			 WHERE stock_key = dirty.stock_key AND date_key >= dirty.from_key;
		END LOOP;
	END IF;
	INSERT INTO gold.fact_weekly_prices
	SELECT stock_key, date_key, week_ending, open, high, low, close, adjusted_close, volume,
		   dividend_amount, adjustment_factor, split_factor, split_adjusted_close,
		   split_adjusted_volume, split_adjusted_dividend, adjusted_return, adjusted_log_return,
		   is_partial, cumulative_return, return_4w, return_13w, return_52w, moving_average_13w,
		   moving_average_52w, volume_volatility_correlation_52w, annualised_volatility_52w,
		   mean_volume_52w
	  FROM _gold_new;
	GET DIAGNOSTICS weeks_written = ROW_COUNT;
	INSERT INTO gold.corporate_actions
	SELECT stock_key, date_key, week_ending, 'dividend', dividend_amount, split_adjusted_dividend,
		   NULL::integer, NULL::integer, NULL::double precision
	  FROM _gold_new WHERE dividend_amount > 0
	UNION ALL
	SELECT stock_key, date_key, week_ending, 'split', NULL, NULL,
		   split_numerator, split_denominator, NULL
	  FROM _gold_new WHERE split_numerator IS NOT NULL
	UNION ALL
	SELECT stock_key, date_key, week_ending, 'other adjustment', NULL, NULL, NULL, NULL, jump
	  FROM _gold_new WHERE jump IS NOT NULL AND abs(jump - 1) > 0.05;

	SELECT count(*), count(*) FILTER (WHERE d.from_week <= g.first_week)
	  INTO stocks, rebuilt_history
	  FROM _gold_dirty d JOIN gold.dim_stock g USING (stock_key);
	IF stocks > 0 OR full_rebuild THEN
		INSERT INTO stockelt.gold_refreshes (started_at, finished_at, full_rebuild, stocks, weeks_written)
		VALUES (now(), clock_timestamp(), full_rebuild, stocks, weeks_written);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_refresh_gold(boolean) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_refresh_gold(boolean) IS
	'Brings gold up to date with silver: only stocks changed since the last refresh, or everything with full_rebuild.';

-- ---------------------------------------------------------------- the business answers

CREATE VIEW gold.weekly_performance AS
SELECT s.symbol, f.week_ending, f.adjusted_close,
	   f.adjusted_return AS weekly_return, f.cumulative_return,
	   f.return_4w, f.return_13w, f.return_52w,
	   f.moving_average_13w, f.moving_average_52w, f.is_partial
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key);
COMMENT ON VIEW gold.weekly_performance IS
	'Weekly adjusted performance: weekly, cumulative and trailing 4/13/52-week returns, 13/52-week moving averages.';

CREATE VIEW gold.volume_volatility_52w AS
SELECT s.symbol, f.week_ending, f.split_adjusted_volume, abs(f.adjusted_log_return) AS volatility,
	   f.volume_volatility_correlation_52w AS correlation,
	   f.annualised_volatility_52w AS annualised_volatility,
	   f.mean_volume_52w AS mean_volume, f.is_partial
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key);
COMMENT ON VIEW gold.volume_volatility_52w IS
	'Pearson correlation of split-adjusted volume and |weekly adjusted log return| over the trailing 52 weeks.';

-- A calendar year counts when the stock has weeks from the year's first session to its
-- last closed one; only such years have growth and streaks.
CREATE VIEW gold.dividend_growth AS
WITH stocks AS (
	SELECT g.stock_key, g.symbol, g.first_week,
		   (SELECT f.week_ending FROM gold.fact_weekly_prices f
			 WHERE f.stock_key = g.stock_key AND NOT f.is_partial
			 ORDER BY f.date_key DESC LIMIT 1) AS last_closed_week,
		   (SELECT min(extract(year FROM a.week_ending))::int FROM gold.corporate_actions a
			 WHERE a.stock_key = g.stock_key AND a.action = 'dividend') AS first_year
	  FROM gold.dim_stock g
), calendar_years AS (
	SELECT year, min(week_last_trading_day) FILTER (WHERE is_trading_day) AS first_week_end,
		   max(date) FILTER (WHERE is_trading_day) AS last_session
	  FROM gold.dim_date GROUP BY year
), years AS (
	SELECT s.stock_key, s.symbol, y AS year,
		   coalesce(s.first_week <= c.first_week_end AND s.last_closed_week >= c.last_session,
					false) AS complete_year
	  FROM stocks s
	 CROSS JOIN generate_series(s.first_year, extract(year FROM s.last_closed_week)::int) y
	  LEFT JOIN calendar_years c ON c.year = y
	 WHERE s.first_year IS NOT NULL
), paid AS (
	SELECT y.stock_key, y.symbol, y.year, y.complete_year,
		   coalesce(sum(a.split_adjusted_amount), 0) AS dividends_per_share,
		   count(a.stock_key)::int AS payments
	  FROM years y
	  LEFT JOIN gold.corporate_actions a
		ON a.stock_key = y.stock_key AND a.action = 'dividend'
	   AND a.week_ending >= make_date(y.year, 1, 1) AND a.week_ending < make_date(y.year + 1, 1, 1)
	 GROUP BY y.stock_key, y.symbol, y.year, y.complete_year
), compared AS (
	SELECT p.*,
		   CASE WHEN p.complete_year AND lag(p.complete_year) OVER w AND lag(p.year) OVER w = p.year - 1
				 AND lag(p.dividends_per_share) OVER w > 0
				THEN (p.dividends_per_share / lag(p.dividends_per_share) OVER w)::float8 - 1 END AS growth
	  FROM paid p
	WINDOW w AS (PARTITION BY p.stock_key ORDER BY p.year)
)
SELECT symbol, year, complete_year, payments, dividends_per_share, growth,
	   CASE WHEN complete_year
			THEN (count(*) OVER island - 1)::int END AS growth_streak
  FROM (SELECT c.*, sum(CASE WHEN c.growth > 0 THEN 0 ELSE 1 END)
						OVER (PARTITION BY c.stock_key ORDER BY c.year) AS island
		  FROM compared c) i
WINDOW island AS (PARTITION BY stock_key, island ORDER BY year);
COMMENT ON VIEW gold.dividend_growth IS
	'Split-adjusted dividends per share by calendar year, growth over the year before, and the streak of growth years.';

CREATE FUNCTION gold.dividend_growers(min_years integer DEFAULT 5)
RETURNS TABLE (symbol text, name text, growth_streak integer, through_year integer,
			   dividends_per_share numeric, growth double precision)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT symbol, name, growth_streak, year, dividends_per_share, growth
	  FROM (SELECT DISTINCT ON (d.symbol) d.symbol, s.name, d.growth_streak, d.year,
				   d.dividends_per_share, d.growth
			  FROM gold.dividend_growth d JOIN gold.dim_stock s USING (symbol)
			 WHERE d.complete_year
			 ORDER BY d.symbol, d.year DESC) latest
	 WHERE growth_streak >= min_years
	 ORDER BY growth_streak DESC, symbol
$$;
COMMENT ON FUNCTION gold.dividend_growers(integer) IS
	'Stocks whose split-adjusted dividend per share grew in each of at least min_years consecutive complete years, up to their latest.';

-- ---------------------------------------------------------------- data-quality checks

CREATE FUNCTION @extschema@.stockelt_check()
RETURNS TABLE (severity text, check_name text, symbol text, week_ending date, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH facts AS (
		SELECT f.*, g.symbol
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
	  FROM facts WHERE stock_key IS NOT NULL AND symbol IS NULL
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
	SELECT 'warning', 'week key is not the last session of its week', symbol, week_ending,
		   format('the week''s last session is %s', coalesce(d.week_last_trading_day::text, 'none'))
	  FROM facts f JOIN gold.dim_date d ON d.date = f.week_ending
	 WHERE NOT f.is_partial
	   AND f.week_ending IS DISTINCT FROM d.week_last_trading_day
	UNION ALL
	SELECT 'warning', 'gap longer than a week', symbol, week_ending,
		   format('no week between %s and %s', previous, week_ending)
	  FROM (SELECT symbol, week_ending,
				   lag(week_ending) OVER (PARTITION BY stock_key ORDER BY date_key) AS previous
			  FROM facts) g
	 WHERE date_trunc('week', week_ending) - date_trunc('week', previous) > interval '7 days'
	   AND EXISTS (SELECT FROM gold.dim_date d
					WHERE d.date > previous AND d.date < week_ending AND d.is_trading_day
					  AND date_trunc('week', d.date) <> date_trunc('week', previous)
					  AND date_trunc('week', d.date) <> date_trunc('week', week_ending))
	ORDER BY 1, 2, 3, 4
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_check() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_check() IS
	'Data-quality checks over gold: one row per failed check and offending row (errors, then warnings).';

-- Helpers of the refresh and the calendar are the extension's own.
REVOKE ALL ON FUNCTION stockelt._nth_weekday(int, int, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION stockelt._observed(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION stockelt._easter(int) FROM PUBLIC;
REVOKE ALL ON ROUTINE stockelt._product(numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION stockelt._split_ratio(double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION stockelt._refresh_dim_date() FROM PUBLIC;

-- ==========================================================================================
-- The background worker: a queue of pipeline jobs, a watchlist, the shared limiter's usage.
-- ==========================================================================================

CREATE TABLE stockelt.jobs (
	id					bigserial PRIMARY KEY,
	batch				bigint NOT NULL,	-- jobs enqueued by one call
	symbol				text NOT NULL,
	state				text NOT NULL DEFAULT 'queued'
						CHECK (state IN ('queued', 'running', 'retry', 'done', 'failed')),
	attempts			integer NOT NULL DEFAULT 0,	-- API calls made for the job
	enqueued_at			timestamptz NOT NULL DEFAULT now(),
	next_attempt_at		timestamptz NOT NULL DEFAULT now(),
	started_at			timestamptz,		-- of the latest attempt
	finished_at			timestamptz,
	fetch_ms			double precision,	-- the API call
	ingest_ms			double precision,	-- bronze and silver
	bronze_key			text,
	last_error			text,
	last_sqlstate		text,
	last_http_status	integer
);
CREATE SEQUENCE stockelt.job_batches;
CREATE INDEX jobs_due_idx ON stockelt.jobs (next_attempt_at, id) WHERE state IN ('queued', 'retry');
-- One open job per symbol: enqueueing a symbol already waiting adds nothing.
CREATE UNIQUE INDEX jobs_open_symbol_idx ON stockelt.jobs (symbol)
	WHERE state IN ('queued', 'running', 'retry');
COMMENT ON TABLE stockelt.jobs IS
	'Pipeline jobs (fetch, bronze, silver) for the background worker; finished ones are pruned after stockelt.job_retention.';

CREATE TABLE stockelt.watchlist (
	symbol				text PRIMARY KEY,
	refresh_interval	interval NOT NULL DEFAULT '1 day' CHECK (refresh_interval > '0'),
	added_at			timestamptz NOT NULL DEFAULT now(),
	last_enqueued_at	timestamptz
);
COMMENT ON TABLE stockelt.watchlist IS
	'Symbols the worker fetches again when their newest fetch is older than refresh_interval.';
SELECT pg_catalog.pg_extension_config_dump('stockelt.watchlist', '');

CREATE TABLE stockelt.gold_refreshes (
	id				bigserial PRIMARY KEY,
	started_at		timestamptz NOT NULL,
	finished_at		timestamptz NOT NULL,
	full_rebuild	boolean NOT NULL,
	stocks			integer NOT NULL,
	weeks_written	bigint NOT NULL
);
COMMENT ON TABLE stockelt.gold_refreshes IS 'Every gold refresh that changed something, newest last.';

CREATE FUNCTION stockelt._wake_worker() RETURNS void
AS 'MODULE_PATHNAME', 'stockelt_wake_worker' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION stockelt._wake_worker() FROM PUBLIC;

CREATE FUNCTION @extschema@.stockelt_enqueue(symbols text[])
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
REVOKE ALL ON FUNCTION @extschema@.stockelt_enqueue(text[]) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_enqueue(text[]) IS
	'Queues fetch → bronze → silver jobs for the background worker, which refreshes gold after the batch; returns the job ids.';

CREATE FUNCTION @extschema@.stockelt_watch(symbol text, refresh_interval interval DEFAULT '1 day')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF symbol IS NULL OR symbol !~ '^[A-Za-z0-9.^=:_-]{1,32}$' THEN
		RAISE EXCEPTION 'invalid symbol "%"', symbol USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO stockelt.watchlist AS w (symbol, refresh_interval)
	VALUES (upper(stockelt_watch.symbol), stockelt_watch.refresh_interval)
	ON CONFLICT ON CONSTRAINT watchlist_pkey
	DO UPDATE SET refresh_interval = excluded.refresh_interval;
	PERFORM stockelt._wake_worker();
END
$$;
CREATE FUNCTION @extschema@.stockelt_unwatch(symbol text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH gone AS (DELETE FROM stockelt.watchlist w WHERE w.symbol = upper(stockelt_unwatch.symbol)
				  RETURNING 1)
	SELECT count(*) > 0 FROM gone
$$;
REVOKE ALL ON FUNCTION @extschema@.stockelt_watch(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_unwatch(text) FROM PUBLIC;

-- Enqueues the watchlist symbols that are due, stalest first, at most budget of them
-- (-1: no limit), leaving room for jobs already queued.  Called by the worker.
CREATE FUNCTION stockelt._enqueue_due(budget integer) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	room integer;
	n integer;
	this_batch bigint;
BEGIN
	SELECT CASE WHEN budget < 0 THEN NULL
				ELSE greatest(budget - count(*), 0) END
	  INTO room FROM stockelt.jobs WHERE state IN ('queued', 'running', 'retry');
	IF room = 0 THEN
		RETURN 0;
	END IF;
	this_batch := nextval('stockelt.job_batches');
	WITH due AS (
		SELECT w.symbol, last.fetched_at
		  FROM stockelt.watchlist w
		  LEFT JOIN LATERAL (SELECT max(o.fetched_at) AS fetched_at FROM stockelt.bronze_objects o
							  WHERE o.api_function = 'TIME_SERIES_WEEKLY_ADJUSTED'
								AND o.symbol = w.symbol) last ON true
		 WHERE (last.fetched_at IS NULL OR last.fetched_at < now() - w.refresh_interval)
		   AND NOT EXISTS (SELECT FROM stockelt.jobs j WHERE j.symbol = w.symbol
							 AND j.state IN ('queued', 'running', 'retry'))
		 ORDER BY last.fetched_at NULLS FIRST, w.symbol
		 LIMIT room
	), queued AS (
		INSERT INTO stockelt.jobs (batch, symbol) SELECT this_batch, symbol FROM due
		ON CONFLICT (symbol) WHERE state IN ('queued', 'running', 'retry') DO NOTHING
		RETURNING symbol
	)
	UPDATE stockelt.watchlist w SET last_enqueued_at = now()
	  FROM queued q WHERE q.symbol = w.symbol;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION stockelt._enqueue_due(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.stockelt_usage(OUT day date, OUT used integer, OUT daily_limit integer,
	OUT remaining integer, OUT throttled integer, OUT paused_until timestamptz,
	OUT spacing_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_usage'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.stockelt_usage() IS
	'Today''s API calls counted by the shared limiter (kept across restarts), the budget left, any pause.';

CREATE FUNCTION @extschema@.stockelt_resume() RETURNS boolean
AS 'MODULE_PATHNAME', 'stockelt_resume'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION @extschema@.stockelt_resume() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_resume() IS
	'Lifts the pause a daily-quota answer caused, and the slowdown of a throttle answer; true if there was one.';

CREATE VIEW stockelt.worker AS
SELECT a.pid, a.datname AS database, a.backend_start AS started_at, a.state, a.wait_event,
	   (SELECT count(*) FROM stockelt.jobs WHERE state IN ('queued', 'retry')) AS queued,
	   (SELECT count(*) FROM stockelt.jobs WHERE state = 'running') AS running,
	   (SELECT count(*) FROM stockelt.jobs WHERE state = 'failed') AS failed
  FROM pg_catalog.pg_stat_activity a
 WHERE a.backend_type = 'stockelt worker';
COMMENT ON VIEW stockelt.worker IS 'The background worker, if it runs, and the size of its queue.';
