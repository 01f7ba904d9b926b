-- Bronze: the raw answers of the provider, byte for byte, in a table or in S3, and the
-- functions that call the provider and read the lake back.

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
SELECT pg_catalog.pg_extension_config_dump('stockelt.bronze_objects', '');

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
SELECT pg_catalog.pg_extension_config_dump('stockelt.bronze_bodies', '');

-- Functions that reach the network run as the extension's owner, so that a role
-- granted EXECUTE needs no rights on the bronze tables; they are granted
-- explicitly, never to PUBLIC.
CREATE FUNCTION @extschema@.stockelt_fetch(symbol text)
RETURNS text
AS 'MODULE_PATHNAME', 'stockelt_fetch'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_fetch(text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_fetch(text) IS
	'Fetches TIME_SERIES_WEEKLY_ADJUSTED for a symbol into bronze; returns the object key.';

CREATE FUNCTION @extschema@.stockelt_bronze_read(key text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'stockelt_bronze_read'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_bronze_read(text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_bronze_read(text) IS
	'Reads a bronze object back, byte for byte, from whichever store holds it.';

CREATE FUNCTION @extschema@.stockelt_bronze_list(prefix text DEFAULT '',
	OUT key text, OUT size_bytes bigint, OUT store text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stockelt_bronze_list'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 1000
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_bronze_list(text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_bronze_list(text) IS
	'Lists bronze object keys under a prefix in the configured store.';

CREATE FUNCTION @extschema@.stockelt_fetch_overview(symbol text)
RETURNS text
AS 'MODULE_PATHNAME', 'stockelt_fetch_overview'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_fetch_overview(text) FROM PUBLIC;
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
REVOKE ALL ON FUNCTION @extschema@.stockelt_search(text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_search(text) IS
	'Calls SYMBOL_SEARCH, keeps the body in bronze, adds the matches to silver.symbols and returns them.';
