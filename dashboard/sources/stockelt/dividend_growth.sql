-- Question 3: split-adjusted regular dividends per share by calendar year. Incomplete
-- years (the current one, the first) are kept but flagged: growth and streaks count
-- complete years only.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, year, year::text AS year_label, make_date(year, 1, 1) AS year_start, complete_year, payments,
	       dividends_per_share, special_dividends_per_share, growth, growth_streak
	  FROM gold.dividend_growth
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol, year
