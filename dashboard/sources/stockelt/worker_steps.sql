-- The worker's steps besides the jobs: state, since when, failures in a row, the latest one.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT step, state, since, failures, last_failed_at, last_sqlstate, last_error
	  FROM stockelt.worker_steps
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, step
