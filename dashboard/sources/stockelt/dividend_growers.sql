-- Question 3's list: stocks with at least three consecutive complete years of growth.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, name, growth_streak, through_year, through_year::text AS through_label,
	       dividends_per_share, growth
	  FROM gold.dividend_growers(3)
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
