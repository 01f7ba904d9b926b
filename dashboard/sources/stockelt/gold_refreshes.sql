-- The newest gold refreshes.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT id, started_at, finished_at, full_rebuild, stocks, weeks_written,
	       extract(epoch FROM finished_at - started_at) * 1000 AS duration_ms
	  FROM stockelt.gold_refreshes
	 ORDER BY id DESC
	 LIMIT 20
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
