-- The guard of the install script: psql refuses to run it, and CREATE EXTENSION refuses to
-- merge into schemas it does not own.  Every later file creates its objects in the
-- schemas made here.

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
