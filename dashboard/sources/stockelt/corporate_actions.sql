-- Splits, distributions and other adjustments gold inferred, and the dividends, per week.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT s.symbol, a.week_ending, a.action, a.amount, a.split_adjusted_amount,
	       a.ratio_numerator, a.ratio_denominator, a.observed_factor,
	       CASE a.action
	            WHEN 'split' THEN 'split ' || a.ratio_numerator || ':' || a.ratio_denominator
	            WHEN 'other adjustment' THEN 'adjustment ×' || round(a.observed_factor::numeric, 3)
	            WHEN 'distribution' THEN 'distribution ×' || round(a.observed_factor::numeric, 3)
	            ELSE a.action END AS label
	  FROM gold.corporate_actions a JOIN gold.dim_stock s USING (stock_key)
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol, week_ending, action
