-- One row per stock in gold, for the symbol pickers and the stock page's header.
-- Evidence 39 cannot load an empty result: then one row of NULLs, placeholder, stands for none.
WITH q AS (
	SELECT symbol, coalesce(name, symbol) AS name, exchange, currency, calendar,
	       first_week, last_week, symbol || ' · ' || coalesce(name, symbol) AS label
	  FROM gold.dim_stock
)
SELECT false AS placeholder, q.* FROM q
UNION ALL
SELECT true, q.* FROM (VALUES (1)) one (x) LEFT JOIN q ON false WHERE NOT EXISTS (SELECT FROM q)
ORDER BY placeholder, symbol
