-- The background worker, if one runs: its queue and what holds the next job.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT pid, database, started_at, queued, running, failed, waiting_for, next_attempt_at,
	       array_to_string(failing_steps, ', ') AS failing_steps
	  FROM stockelt.worker
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
