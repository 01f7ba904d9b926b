-- Silver: the provider's answers parsed into normalised tables, each row with its lineage,
-- and the functions that ingest bronze into them.

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
	basis_factor	numeric DEFAULT 1,
	bronze_key		text NOT NULL,
	fetched_at		timestamptz NOT NULL,
	last_refreshed	timestamp,
	ingested_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (symbol, week_ending)
) WITH (fillfactor = 50);		-- every fetch restates history: room to update rows in place (HOT)
COMMENT ON TABLE silver.weekly_adjusted_prices IS
	'One row per symbol and provider key (week) from TIME_SERIES_WEEKLY_ADJUSTED; raw prices, adjusted close, lineage.';
COMMENT ON COLUMN silver.weekly_adjusted_prices.basis_factor IS
	'adjusted_close * basis_factor is the adjusted close on the basis of the newest object ingested for the symbol: 1 for rows it gave, the seam''s ratio for older rows, NULL where no common week allowed a rebase.';
COMMENT ON COLUMN silver.weekly_adjusted_prices.last_refreshed IS
	'The data''s own date of the object that wrote the row (Meta Data "3. Last Refreshed", at least its newest week); orders objects, the fetch time breaking ties.';
-- Gold looks up the last seam before a week: weeks off the newest basis are few.
CREATE INDEX weekly_adjusted_prices_unbased ON silver.weekly_adjusted_prices (symbol, week_ending)
	WHERE basis_factor IS NULL;
SELECT pg_catalog.pg_extension_config_dump('silver.weekly_adjusted_prices', '');

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
SELECT pg_catalog.pg_extension_config_dump('silver.symbols', '');

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

-- Ingest runs as the extension's owner, as the fetches do (10_bronze.sql): a role granted
-- EXECUTE needs no rights on bronze or silver.
CREATE FUNCTION @extschema@.stockelt_ingest(key text, force boolean DEFAULT false,
	OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_ingest'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_ingest(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_ingest(text, boolean) IS
	'Parses one bronze object (table or S3) into silver; returns rows inserted, updated, unchanged.';

CREATE FUNCTION @extschema@.stockelt_ingest(keys text[], force boolean DEFAULT false,
	OUT key text, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stockelt_ingest_many'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 100
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_ingest(text[], boolean) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_ingest(text[], boolean) IS
	'Ingests many bronze objects in order, one row each; parses the next object while writing the current one.';

CREATE FUNCTION @extschema@.stockelt_ingest_s3(key text, force boolean DEFAULT false,
	OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_ingest_s3'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_ingest_s3(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_ingest_s3(text, boolean) IS
	'Reads one bronze object from S3 and parses it into silver; returns rows inserted, updated, unchanged.';

CREATE FUNCTION @extschema@.stockelt_replay(prefix text DEFAULT '',
	OUT objects bigint, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'stockelt_replay'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION @extschema@.stockelt_replay(text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.stockelt_replay(text) IS
	'Re-ingests every bronze object under a key prefix, oldest fetch first: silver rebuilt from the lake.';

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
