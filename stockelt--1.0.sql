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
	symbol			text NOT NULL,
	api_function	text NOT NULL,
	fetched_at		timestamptz NOT NULL,
	size_bytes		bigint NOT NULL CHECK (size_bytes >= 0),
	sha256			text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	store			text NOT NULL CHECK (store IN ('table', 's3')),
	s3_bucket		text,
	s3_etag			text,
	CHECK ((store = 's3') = (s3_bucket IS NOT NULL))
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
ALTER TABLE stockelt.bronze_bodies ALTER COLUMN body SET STORAGE EXTERNAL;
COMMENT ON TABLE stockelt.bronze_bodies IS
	'Raw response bodies, byte for byte, when bronze lives in the database.';

SELECT pg_catalog.pg_extension_config_dump('stockelt.bronze_objects', '');
SELECT pg_catalog.pg_extension_config_dump('stockelt.bronze_bodies', '');

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

-- Functions that reach the network run as the extension's owner, so that a role
-- granted EXECUTE needs no rights on the bronze tables; they are granted
-- explicitly, never to PUBLIC.
REVOKE ALL ON FUNCTION @extschema@.stockelt_fetch(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_bronze_read(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.stockelt_bronze_list(text) FROM PUBLIC;
