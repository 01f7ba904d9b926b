-- Gold: a star schema over silver, refreshed incrementally by stockelt_refresh_gold()
-- (50_gold_refresh.sql).  Gold is derived data, rebuilt from silver: not dumped.

CREATE TABLE gold.dim_date (
	date_key				integer PRIMARY KEY,	-- YYYYMMDD
	date					date NOT NULL UNIQUE,
	year					integer NOT NULL,
	quarter					integer NOT NULL,
	month					integer NOT NULL,
	day_of_month			integer NOT NULL,
	day_of_week				integer NOT NULL,		-- ISO: 1 = Monday … 7 = Sunday
	iso_year				integer NOT NULL,
	iso_week				integer NOT NULL
);
COMMENT ON TABLE gold.dim_date IS
	'Calendar days from January 1 of the first year with prices to December 31 of the last.';

-- The sessions of each calendar some stock of gold.dim_stock has, over the days of dim_date.
CREATE TABLE gold.dim_trading_day (
	calendar				text NOT NULL,
	date_key				integer NOT NULL,		-- gold.dim_date's
	date					date NOT NULL,
	is_trading_day			boolean NOT NULL,
	holiday					text,
	week_last_trading_day	date,					-- NULL for a week without trading
	week_closed_early		boolean NOT NULL,		-- its week's last session was before Friday
	PRIMARY KEY (calendar, date_key)
);
COMMENT ON TABLE gold.dim_trading_day IS
	'One row per calendar of the stocks and day of gold.dim_date: sessions, holidays, each week''s last session.';

CREATE TABLE gold.dim_stock (
	stock_key		integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	symbol			text NOT NULL UNIQUE,
	name			text,
	asset_type		text,
	exchange		text,
	region			text,
	currency		text,
	timezone		text,
	sector			text,
	industry		text,
	calendar		text,			-- stockelt.calendars; NULL when the listing's is unknown
	first_week		date,
	last_week		date,
	dividends_on_current_basis boolean	-- the provider's dividend field is on today's share basis
);
COMMENT ON TABLE gold.dim_stock IS
	'One row per symbol with prices in silver; descriptive columns from silver.symbols where known.';

-- Keys reference the dimensions by construction.  They are not declared as foreign
-- keys (a check per row would double the cost of a rebuild); stockelt_check() verifies them.
-- The facts and the corporate actions also carry the stock's symbol, in their keys: on Citus
-- they are distributed by it, each stock's rows in the shard of its silver rows (README
-- "Scaling out on Citus"); one server reads them by stock_key first.
CREATE TABLE gold.fact_weekly_prices (
	stock_key				integer NOT NULL,
	date_key				integer NOT NULL,
	week_ending				date NOT NULL,
	open					numeric NOT NULL,
	high					numeric NOT NULL,
	low						numeric NOT NULL,
	close					numeric NOT NULL,
	adjusted_close			numeric,			-- on the newest object's basis; NULL at a seam
	volume					bigint NOT NULL,
	dividend_amount			numeric NOT NULL,
	adjustment_factor		numeric,			-- adjusted_close / close
	split_factor			numeric NOT NULL,	-- shares today for one share of this week
	split_adjusted_close	numeric,
	split_adjusted_volume	numeric NOT NULL,
	split_adjusted_dividend	numeric NOT NULL,
	adjusted_return			double precision,	-- simple, on adjusted closes
	adjusted_log_return		double precision,
	is_partial				boolean NOT NULL,	-- the newest week, not yet closed
	cumulative_return		double precision,
	return_4w				double precision,
	return_13w				double precision,
	return_52w				double precision,
	moving_average_13w		numeric,
	moving_average_52w		numeric,
	volume_volatility_correlation_52w double precision,
	annualised_volatility_52w double precision,
	mean_volume_52w			numeric,
	symbol					text NOT NULL,		-- gold.dim_stock's: what Citus distributes the rows by
	PRIMARY KEY (stock_key, date_key, symbol)
);
COMMENT ON TABLE gold.fact_weekly_prices IS
	'One row per stock and week: raw and adjusted prices, split-adjusted figures, returns and trailing measures.';

CREATE TABLE gold.corporate_actions (
	stock_key			integer NOT NULL,
	date_key			integer NOT NULL,
	week_ending			date NOT NULL,
	action				text NOT NULL CHECK (action IN ('dividend', 'special dividend', 'distribution',
													'split', 'other adjustment')),
	amount				numeric,		-- per share, as paid (on that week's share basis)
	split_adjusted_amount numeric,		-- per share on today's share basis
	ratio_numerator		integer,		-- split: new shares …
	ratio_denominator	integer,		-- … for old shares
	observed_factor		double precision, -- the jump of adjusted_close/close no cash dividend or split explains
	symbol				text NOT NULL,	-- gold.dim_stock's: what Citus distributes the rows by
	PRIMARY KEY (stock_key, date_key, action, symbol)
);
COMMENT ON TABLE gold.corporate_actions IS
	'Cash dividends (regular and special) and other distributions, told apart by the jumps of the adjustment factor, and the splits and other adjustments those jumps imply.';
