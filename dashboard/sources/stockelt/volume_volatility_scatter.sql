-- Question 2, the newest 52 closed weeks of each stock: split-adjusted volume against
-- that week's volatility, |ln(adj(t) / adj(t-1))|.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, week_ending, split_adjusted_volume, volatility
	  FROM (SELECT v.*, row_number() OVER (PARTITION BY symbol ORDER BY week_ending DESC) AS n
	          FROM gold.volume_volatility_52w v
	         WHERE NOT is_partial AND volatility IS NOT NULL) v
	 WHERE n <= 52
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol, week_ending
