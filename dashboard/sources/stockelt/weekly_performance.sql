-- Question 1, closed weeks only: a partial newest week (README, Gold: "Partial newest week")
-- has no returns and is never plotted as a closed week.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, week_ending, adjusted_close, weekly_return, cumulative_return,
	       return_4w, return_13w, return_52w, moving_average_13w, moving_average_52w
	  FROM gold.weekly_performance
	 WHERE NOT is_partial
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol, week_ending
