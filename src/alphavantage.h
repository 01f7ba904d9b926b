/*
 * alphavantage.h
 *		Alpha Vantage requests, and the error each kind of answer raises.
 */
#ifndef STOCKELT_ALPHAVANTAGE_H
#define STOCKELT_ALPHAVANTAGE_H

#include "http.h"
#include "parse.h"

/* One API function stockelt calls, and the shape of its data (parse.c). */
typedef struct AvFunction
{
	const char *name;			/* e.g. "TIME_SERIES_WEEKLY_ADJUSTED" */
	const char *argument;		/* query parameter: "symbol" or "keywords" */
	const char *extra_query;	/* further fixed query parameters */
	const ParseFormat *format;	/* what marks an answer as data */
	const char *describe;		/* for messages: "weekly prices" */
} AvFunction;

extern const AvFunction av_weekly_adjusted;
extern const AvFunction av_overview;
extern const AvFunction av_symbol_search;

extern void av_validate_keywords(const char *keywords);

extern void av_validate_symbol(const char *symbol);
extern char *av_query_url(const AvFunction *fn, const char *argument,
						  const char *apikey);

/*
 * Raises the error that fits a response unless it is data for the requested
 * argument.  A throttle or quota answer tells the rate limiter first, so that
 * every caller of the API slows down or pauses.
 */
extern void av_check_response(const AvFunction *fn, const char *argument,
							  const HttpResponse *resp, const char *secret);

#endif							/* STOCKELT_ALPHAVANTAGE_H */
