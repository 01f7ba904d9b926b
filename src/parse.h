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
 * The shape of one API function's data.  The provider answers errors,
 * throttling and entitlement problems with HTTP 200 and a one-key JSON body,
 * sometimes under the "wrong" key, so a body is data only when it has the
 * function's data key and names the symbol asked for.
 */
typedef struct ParseFormat
{
	const char *data_key;		/* top-level key present only in data */
	const char *symbol_object;	/* object naming the symbol, NULL for the top level */
	const char *symbol_field;	/* field naming the symbol, NULL if none */
	const char *named_as;		/* for reasons: "series for" */
} ParseFormat;

extern const ParseFormat parse_weekly_format;
extern const ParseFormat parse_overview_format;
extern const ParseFormat parse_search_format;

/* What an answer of the provider is. */
typedef enum ParseVerdict
{
	PARSE_DATA = 0,
	PARSE_NOT_JSON,
	PARSE_TRUNCATED,			/* JSON that ends too early */
	PARSE_NOT_OBJECT,			/* JSON, but not an object */
	PARSE_SAMPLE_DATA,			/* "message": premium sample data */
	PARSE_EMPTY,				/* {} */
	PARSE_INVALID_API_KEY,		/* an "Error Message" about the API key */
	PARSE_INVALID_CALL,			/* any other "Error Message" */
	PARSE_DEMO_KEY,				/* a "Note" or "Information" about the demo key */
	PARSE_THROTTLED,			/* ... about the pace of calls */
	PARSE_DAILY_QUOTA,			/* ... about the day's quota */
	PARSE_PREMIUM_ONLY,			/* ... about a premium function */
	PARSE_NOTICE,				/* any other "Note" or "Information" */
	PARSE_OTHER_SERIES,			/* another function's time series */
	PARSE_NO_DATA,				/* an object without the data key */
	PARSE_WRONG_SYMBOL			/* data naming another symbol, or none */
} ParseVerdict;

#define PARSE_VERDICTS (PARSE_WRONG_SYMBOL + 1)

/* The provider's texts are kept this long; messages show less of them. */
#define PARSE_ANSWER_TEXT_LEN 512

typedef struct ParseAnswer
{
	ParseVerdict verdict;
	const char *key;			/* the key the verdict rests on ("Note", ...), or NULL */
	int			has_text;		/* text holds something */
	char		text[PARSE_ANSWER_TEXT_LEN];	/* the provider's words, the symbol
												 * named, the other series' key, or
												 * the JSON error */
	int			position;		/* PARSE_NOT_JSON: the byte the error is at */
} ParseAnswer;

/*
 * Classifies an answer as a fetch receives it (any size, a key given twice
 * counts once, with its last value).  expected_symbol may be NULL to accept
 * whatever symbol the data names.  The parse_* functions below classify their
 * body the same way, so that what a fetch keeps, an ingest accepts.
 */
extern void parse_classify(const char *body, size_t len, const ParseFormat *format,
						   const char *expected_symbol, ParseAnswer *answer);

/* Why an answer is not data, in one line (PARSE_REASON_LEN) as an ingest says it. */
extern void parse_explain(const ParseAnswer *answer, const ParseFormat *format,
						  const char *expected_symbol, char *reason);

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
