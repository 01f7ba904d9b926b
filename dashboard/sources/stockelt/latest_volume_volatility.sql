-- Question 2: each stock's newest closed week with a correlation, and its average over time.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT v.symbol, v.week_ending, v.correlation, v.annualised_volatility, v.mean_volume,
	       (SELECT avg(a.correlation) FROM gold.volume_volatility_52w a
	         WHERE a.symbol = v.symbol AND NOT a.is_partial) AS average_correlation
	  FROM (SELECT DISTINCT ON (symbol) * FROM gold.volume_volatility_52w
	         WHERE NOT is_partial AND correlation IS NOT NULL ORDER BY symbol, week_ending DESC) v
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol
