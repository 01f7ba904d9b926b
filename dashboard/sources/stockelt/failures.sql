-- What went wrong, newest first: jobs that failed or are waiting after an error, and worker
-- steps with a failure on record, each with its SQLSTATE.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT 'job ' || id || ' (' || symbol || ')' AS what, state, last_sqlstate AS sqlstate,
	       last_http_status AS http_status, last_error AS error, coalesce(finished_at, started_at) AS at
	  FROM stockelt.jobs
	 WHERE last_sqlstate IS NOT NULL OR state = 'failed'
	UNION ALL
	SELECT 'step: ' || step, state, last_sqlstate, NULL, last_error, last_failed_at
	  FROM stockelt.worker_steps
	 WHERE last_failed_at IS NOT NULL
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, at DESC NULLS LAST
