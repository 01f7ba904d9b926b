-- Question 2 over time: the trailing 52-week correlation of split-adjusted volume and
-- weekly volatility, closed weeks from the 53rd of each stock on.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, week_ending, correlation, annualised_volatility, mean_volume
	  FROM gold.volume_volatility_52w
	 WHERE NOT is_partial AND correlation IS NOT NULL
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol, week_ending
