/*
 * parse.h
 *		Alpha Vantage payloads to C structs, with jansson and without
 *		PostgreSQL, so that a fuzzer and plain unit tests can drive it.
 *
 * Decimal values stay the strings the provider sent (checked to be decimal
 * numbers), so nothing is lost to floating point.  Every result owns its
 * memory; free it with the matching *_free function on every path.
 */
#ifndef STOCKELT_PARSE_H
#define STOCKELT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define PARSE_REASON_LEN 256

/*
 * What can be an object and a weekly price.  Alpha Vantage sends four
 * decimals and at most six digits before the point (BRK-A); a body of a full
 * history since 1999 is about 0.4 MB, and weeks from PARSE_FIRST_YEAR to now
 * would make about 1 MB.  The parsed tree takes up to 25 times the body in
 * memory when the body is all small values: their number is bounded too.
 */
#define PARSE_MAX_BODY_BYTES (8 * 1024 * 1024)
#define PARSE_MAX_JSON_ITEMS 200000	/* 17 a week: 60 years of weeks is 54,000 */
#define PARSE_MAX_INTEGER_DIGITS 12
#define PARSE_MAX_FRACTION_DIGITS 8
#define PARSE_FIRST_YEAR 1970

typedef struct ParseDate
{
	int			year;
	int			month;
	int			day;
} ParseDate;

#define WEEKLY_PRICES 6			/* open, high, low, close, adjusted close, dividend */

typedef struct WeeklyRow
{
	ParseDate	week_ending;
	const char *open;
	const char *high;
	const char *low;
	const char *close;
	const char *adjusted_close;
	const char *dividend_amount;
	int64_t		volume;

	/*
	 * The prices again, each as digits and a decimal scale (value = digits /
	 * 10^scale), side by side so that a writer on another thread need not
	 * read the strings; scale is -1 when a value does not fit 18 digits.
	 */
	int64_t		price_digits[WEEKLY_PRICES];
	signed char price_scale[WEEKLY_PRICES];
} WeeklyRow;

typedef struct WeeklySeries
{
	char	   *symbol;			/* as Meta Data names it */
	char	   *last_refreshed;
	long long	as_of;			/* the data's own date ("3. Last Refreshed", at
								 * least the newest week): seconds since
								 * 1970-01-01 in the provider's time zone */
	WeeklyRow  *rows;			/* oldest week first */
	size_t		nrows;
	void	   *tree;			/* the parsed body the rows' strings point into */
} WeeklySeries;

/* One listing: from OVERVIEW (one) or SYMBOL_SEARCH (many). NULL = not given. */
typedef struct SymbolInfo
{
	char	   *symbol;
	char	   *name;
	char	   *asset_type;
	char	   *exchange;
	char	   *region;
	char	   *country;
	char	   *currency;
	char	   *timezone;
	char	   *market_open;
	char	   *market_close;
	char	   *sector;
	char	   *industry;
	char	   *match_score;
} SymbolInfo;

typedef struct SymbolList
{
	SymbolInfo *items;
	size_t		count;
} SymbolList;

/*
 * Each returns 0 on success, or -1 with a one-line reason (why the body is
 * not the data asked for) in reason.  expected_symbol may be NULL to accept
 * whatever symbol the payload names.
 */
extern int	parse_weekly_adjusted(const char *body, size_t len,
								  const char *expected_symbol,
								  WeeklySeries *out, char *reason);
extern int	parse_overview(const char *body, size_t len,
						   const char *expected_symbol,
						   SymbolList *out, char *reason);
extern int	parse_symbol_search(const char *body, size_t len,
								SymbolList *out, char *reason);

extern void weekly_series_free(WeeklySeries *series);

extern void symbol_list_free(SymbolList *list);

/* True if text is an optionally signed decimal number: -?[0-9]+(\.[0-9]+)? */
extern int	parse_is_decimal(const char *text);

#endif							/* STOCKELT_PARSE_H */
