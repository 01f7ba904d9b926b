-- The trading calendars: the exchanges stockelt knows, their holiday rules and closures,
-- and which calendar a listing follows.  Gold's sessions and week keys are built from them.
-- The calendars are public knowledge: any role that may use the schema may read them, and
-- call stockelt.market_holidays(), stockelt.listing_calendar() and the pure date helpers.

-- The exchanges whose sessions stockelt knows.  Their holiday rules are in
-- stockelt.market_holidays(calendar, year); a listing gets one by stockelt.listing_calendar().
CREATE TABLE stockelt.calendars (
	calendar		text PRIMARY KEY,
	exchange_name	text NOT NULL,
	region			text NOT NULL,
	timezone		text NOT NULL,		-- an IANA zone: the session close is local time there
	currency		text NOT NULL,		-- what the exchange's listings are quoted in
	session_close	time NOT NULL
);
INSERT INTO stockelt.calendars VALUES
	('NYSE', 'New York Stock Exchange and Nasdaq', 'United States', 'America/New_York', 'USD', '16:00'),
	('TSX', 'Toronto Stock Exchange', 'Toronto', 'America/Toronto', 'CAD', '16:00'),
	('LSE', 'London Stock Exchange', 'United Kingdom', 'Europe/London', 'GBX', '16:30');
COMMENT ON TABLE stockelt.calendars IS
	'Exchanges with a known trading calendar: region, time zone, currency and session close of their listings.';
GRANT SELECT ON stockelt.calendars TO PUBLIC;
-- Not dumped: CREATE EXTENSION writes every row of it.

-- Unscheduled full-day closures of an exchange, and one-off extra holidays.  Rows a user
-- adds (builtin = false) survive pg_dump.
CREATE TABLE stockelt.market_closures (
	calendar	text NOT NULL DEFAULT 'NYSE' REFERENCES stockelt.calendars,
	day			date NOT NULL,
	reason		text NOT NULL,
	builtin		boolean NOT NULL DEFAULT false,
	PRIMARY KEY (calendar, day)
);
INSERT INTO stockelt.market_closures (calendar, day, reason, builtin) VALUES
	('NYSE', '1994-04-27', 'national day of mourning', true),
	('NYSE', '2001-09-11', 'September 11 attacks', true),
	('NYSE', '2001-09-12', 'September 11 attacks', true),
	('NYSE', '2001-09-13', 'September 11 attacks', true),
	('NYSE', '2001-09-14', 'September 11 attacks', true),
	('NYSE', '2004-06-11', 'national day of mourning', true),
	('NYSE', '2007-01-02', 'national day of mourning', true),
	('NYSE', '2012-10-29', 'Hurricane Sandy', true),
	('NYSE', '2012-10-30', 'Hurricane Sandy', true),
	('NYSE', '2018-12-05', 'national day of mourning', true),
	('NYSE', '2025-01-09', 'national day of mourning', true),
	('LSE', '1977-06-07', 'Silver Jubilee', true),
	('LSE', '1981-07-29', 'royal wedding', true),
	('LSE', '1999-12-31', 'millennium', true),
	('LSE', '2002-06-03', 'Golden Jubilee', true),
	('LSE', '2011-04-29', 'royal wedding', true),
	('LSE', '2012-06-05', 'Diamond Jubilee', true),
	('LSE', '2022-06-03', 'Platinum Jubilee', true),
	('LSE', '2022-09-19', 'state funeral of Queen Elizabeth II', true),
	('LSE', '2023-05-08', 'coronation of King Charles III', true);
COMMENT ON TABLE stockelt.market_closures IS
	'Unscheduled closures and one-off holidays per calendar; add a row for a new one.  Scheduled holidays follow stockelt.market_holidays().';
SELECT pg_catalog.pg_extension_config_dump('stockelt.market_closures', 'WHERE NOT builtin');
GRANT SELECT ON stockelt.market_closures TO PUBLIC;

-- The n-th ISO weekday (1 = Monday) of a month; n = -1 is the last one.
CREATE FUNCTION stockelt._nth_weekday(year int, month int, isodow int, n int) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN n > 0 THEN
			first + (isodow - extract(isodow FROM first)::int + 7) % 7 + 7 * (n - 1)
		ELSE
			last - (extract(isodow FROM last)::int - isodow + 7) % 7
		END
	  FROM (SELECT make_date(year, month, 1) AS first,
				   (make_date(year, month, 1) + interval '1 month')::date - 1 AS last) m
$$;

-- Saturday holidays are observed on Friday, Sunday ones on Monday (New York).
CREATE FUNCTION stockelt._observed(day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE extract(isodow FROM day) WHEN 6 THEN day - 1 WHEN 7 THEN day + 1 ELSE day END
$$;

-- Weekend holidays are observed on the next Monday (Toronto, London).
CREATE FUNCTION stockelt._next_monday(day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE extract(isodow FROM day) WHEN 6 THEN day + 2 WHEN 7 THEN day + 1 ELSE day END
$$;

-- Gregorian Easter Sunday (the anonymous Gregorian algorithm).
CREATE FUNCTION stockelt._easter(year int) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT make_date(year, (h + l - 7 * m + 114) / 31, (h + l - 7 * m + 114) % 31 + 1)
	  FROM (SELECT h, l, (a + 11 * h + 22 * l) / 451 AS m
			  FROM (SELECT a, h, (32 + 2 * e + 2 * i - h - k) % 7 AS l
					  FROM (SELECT a, e, i, k, (19 * a + b - d - g + 15) % 30 AS h
							  FROM (SELECT year % 19 AS a, year / 100 AS b, year / 100 / 4 AS d,
										   year / 100 % 4 AS e, (8 * (year / 100) + 13) / 25 AS g,
										   year % 100 / 4 AS i, year % 100 % 4 AS k) s1) s2) s3) s4
$$;

-- Christmas and Boxing Day where both are kept on weekdays (Toronto, London): a Saturday or
-- Sunday one moves to the first weekday after December 26 that is not already a holiday.
CREATE FUNCTION stockelt._christmas(year int) RETURNS TABLE (day date, name text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT x.day, x.name
	  FROM (SELECT extract(isodow FROM make_date(year, 12, 25))::int AS dow) d,
		   LATERAL (VALUES
			(make_date(year, 12, CASE WHEN d.dow >= 6 THEN 27 ELSE 25 END), 'Christmas Day'),
			(make_date(year, 12, CASE WHEN d.dow IN (5, 6) THEN 28 ELSE 26 END), 'Boxing Day')) x (day, name)
$$;

-- Days an exchange is closed on a weekday, for one year: its scheduled holidays and the
-- rows of stockelt.market_closures.  No rows for a calendar stockelt does not know.
CREATE FUNCTION stockelt.market_holidays(calendar text, year int)
RETURNS TABLE (day date, name text)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT h.day, h.name FROM (VALUES
		(CASE WHEN extract(isodow FROM make_date(year, 1, 1)) <> 6
			  THEN stockelt._observed(make_date(year, 1, 1)) END, 'New Year''s Day'),
		(CASE WHEN year >= 1998 THEN stockelt._nth_weekday(year, 1, 1, 3) END, 'Martin Luther King Jr. Day'),
		(stockelt._nth_weekday(year, 2, 1, 3), 'Presidents Day'),
		(stockelt._easter(year) - 2, 'Good Friday'),
		(stockelt._nth_weekday(year, 5, 1, -1), 'Memorial Day'),
		(CASE WHEN year >= 2022 THEN stockelt._observed(make_date(year, 6, 19)) END, 'Juneteenth'),
		(stockelt._observed(make_date(year, 7, 4)), 'Independence Day'),
		(stockelt._nth_weekday(year, 9, 1, 1), 'Labor Day'),
		(stockelt._nth_weekday(year, 11, 4, 4), 'Thanksgiving Day'),
		(stockelt._observed(make_date(year, 12, 25)), 'Christmas Day')) h (day, name)
	 WHERE market_holidays.calendar = 'NYSE' AND h.day IS NOT NULL
	UNION ALL
	SELECT h.day, h.name FROM (VALUES
		(stockelt._next_monday(make_date(year, 1, 1)), 'New Year''s Day'),
		(CASE WHEN year >= 2008 THEN stockelt._nth_weekday(year, 2, 1, 3) END, 'Family Day'),
		(stockelt._easter(year) - 2, 'Good Friday'),
		-- the Monday before May 25
		(make_date(year, 5, 24) - (extract(isodow FROM make_date(year, 5, 24))::int - 1), 'Victoria Day'),
		(stockelt._next_monday(make_date(year, 7, 1)), 'Canada Day'),
		(stockelt._nth_weekday(year, 8, 1, 1), 'Civic Holiday'),
		(stockelt._nth_weekday(year, 9, 1, 1), 'Labour Day'),
		(stockelt._nth_weekday(year, 10, 1, 2), 'Thanksgiving Day')) h (day, name)
	 WHERE market_holidays.calendar = 'TSX' AND h.day IS NOT NULL
	UNION ALL
	SELECT h.day, h.name FROM (VALUES
		(stockelt._next_monday(make_date(year, 1, 1)), 'New Year''s Day'),
		(stockelt._easter(year) - 2, 'Good Friday'),
		(stockelt._easter(year) + 1, 'Easter Monday'),
		-- moved for the anniversaries of VE Day in 1995 and 2020
		(CASE WHEN year IN (1995, 2020) THEN make_date(year, 5, 8)
			  WHEN year >= 1978 THEN stockelt._nth_weekday(year, 5, 1, 1) END, 'Early May bank holiday'),
		-- moved for the Golden, Diamond and Platinum Jubilees
		(CASE year WHEN 2002 THEN make_date(2002, 6, 4) WHEN 2012 THEN make_date(2012, 6, 4)
				   WHEN 2022 THEN make_date(2022, 6, 2)
				   ELSE stockelt._nth_weekday(year, 5, 1, -1) END, 'Spring bank holiday'),
		(stockelt._nth_weekday(year, 8, 1, -1), 'Summer bank holiday')) h (day, name)
	 WHERE market_holidays.calendar = 'LSE' AND h.day IS NOT NULL
	UNION ALL
	SELECT x.day, x.name FROM stockelt._christmas(year) x
	 WHERE market_holidays.calendar IN ('TSX', 'LSE')
	UNION ALL
	SELECT c.day, c.reason FROM stockelt.market_closures c
	 WHERE c.calendar = market_holidays.calendar
	   AND c.day >= make_date(year, 1, 1) AND c.day < make_date(year + 1, 1, 1)
	   AND extract(isodow FROM c.day) < 6
$$;
COMMENT ON FUNCTION stockelt.market_holidays(text, int) IS
	'Weekdays of a year on which an exchange (a calendar of stockelt.calendars) is closed.';

CREATE FUNCTION stockelt.market_holidays(year int)
RETURNS TABLE (day date, name text)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT day, name FROM stockelt.market_holidays('NYSE', year)
$$;
COMMENT ON FUNCTION stockelt.market_holidays(int) IS
	'Weekdays of a year on which the New York Stock Exchange is closed.';

-- The calendar of a listing, from what silver.symbols knows of it: the symbol's exchange
-- suffix first (it names the listing), then the exchange OVERVIEW gives, then the region
-- SYMBOL_SEARCH gives.  A bare symbol that nothing else places is a US listing (the
-- provider writes US symbols without a suffix).  NULL: an exchange stockelt has no
-- calendar for.  The time zone SYMBOL_SEARCH gives ("UTC-04") is an offset of one season,
-- which names no exchange: it is not used.
CREATE FUNCTION stockelt.listing_calendar(symbol text, exchange text, region text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
		WHEN upper(symbol) ~ '\.(TO|TRT)$' THEN 'TSX'
		WHEN upper(symbol) ~ '\.(LON|L)$' THEN 'LSE'
		WHEN upper(symbol) ~ '\.' THEN NULL
		WHEN upper(exchange) IN ('NYSE', 'NASDAQ', 'NYSE ARCA', 'NYSEARCA', 'NYSE MKT', 'NYSE AMERICAN',
								 'AMEX', 'BATS') THEN 'NYSE'
		WHEN upper(exchange) IN ('TSX', 'TORONTO') THEN 'TSX'
		WHEN upper(exchange) IN ('LSE', 'LON', 'LONDON') THEN 'LSE'
		WHEN exchange IS NOT NULL THEN NULL
		WHEN region = 'United States' THEN 'NYSE'
		WHEN region IN ('Toronto', 'Canada') THEN 'TSX'
		WHEN region IN ('United Kingdom', 'London') THEN 'LSE'
		WHEN region IS NOT NULL THEN NULL
		ELSE 'NYSE'
	END
$$;
COMMENT ON FUNCTION stockelt.listing_calendar(text, text, text) IS
	'The trading calendar of a listing from its symbol suffix, exchange and region; NULL when stockelt knows none.';
