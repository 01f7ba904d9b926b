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
