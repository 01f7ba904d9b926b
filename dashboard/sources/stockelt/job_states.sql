-- How many jobs are in each state, every state listed.
SELECT s.state, count(j.id) AS jobs
  FROM unnest(ARRAY['queued', 'running', 'retry', 'done', 'failed']) WITH ORDINALITY s(state, n)
  LEFT JOIN stockelt.jobs j USING (state)
 GROUP BY s.state, s.n
 ORDER BY s.n
