-- The worker's queue and its history (finished jobs are pruned after stockelt.job_retention).
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT id, batch, symbol, state, attempts, enqueued_at, started_at, finished_at,
	       round(fetch_ms::numeric) AS fetch_ms, round(ingest_ms::numeric) AS ingest_ms,
	       last_sqlstate, last_http_status, last_error, waiting_for
	  FROM stockelt.jobs
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, id DESC
