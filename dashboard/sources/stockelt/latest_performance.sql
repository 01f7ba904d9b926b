-- Question 1: each stock's newest closed week, with the partial week after it, if any.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT p.symbol, s.name, p.week_ending, p.adjusted_close, p.weekly_return,
	       p.return_4w, p.return_13w, p.return_52w, p.cumulative_return,
	       p.moving_average_13w, p.moving_average_52w,
	       (SELECT max(w.week_ending) FROM gold.weekly_performance w
	         WHERE w.symbol = p.symbol AND w.is_partial) AS partial_week
	  FROM (SELECT DISTINCT ON (symbol) * FROM gold.weekly_performance
	         WHERE NOT is_partial ORDER BY symbol, week_ending DESC) p
	  JOIN gold.dim_stock s USING (symbol)
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol
