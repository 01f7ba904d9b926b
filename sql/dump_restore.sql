-- Bronze data lives in extension tables: pg_dump and restore keep it.
\! "$PGBIN/createdb" stockelt_restored
\! "$PGBIN/pg_dump" stockelt_regress | "$PGBIN/psql" -X -q -o /dev/null -d stockelt_restored 2>&1 | grep -v '^$' || true
SELECT o.n AS original_objects, r.n AS restored_objects,
	   o.digest = r.digest AS same_catalog_and_bodies
  FROM (SELECT count(*) AS n, md5(string_agg(key || sha256 || coalesce(b.s, ''), ',' ORDER BY key)) AS digest
		  FROM stockelt.bronze_objects
		  LEFT JOIN (SELECT key, encode(sha256(body), 'hex') AS s FROM stockelt.bronze_bodies) b USING (key)) o,
	   dblink('dbname=stockelt_restored',
			  $$SELECT count(*), md5(string_agg(key || sha256 || coalesce(b.s, ''), ',' ORDER BY key))
				  FROM stockelt.bronze_objects
				  LEFT JOIN (SELECT key, encode(sha256(body), 'hex') AS s FROM stockelt.bronze_bodies) b USING (key)$$)
		AS r(n bigint, digest text);
\! "$PGBIN/dropdb" stockelt_restored
