-- The newest weeks that are still partial: shown as a note, never plotted.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, week_ending, adjusted_close
	  FROM gold.weekly_performance
	 WHERE is_partial
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol
