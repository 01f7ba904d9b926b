/*
 * alphavantage.h
 *		Alpha Vantage requests and the classification of what comes back.
 */
#ifndef STOCKELT_ALPHAVANTAGE_H
#define STOCKELT_ALPHAVANTAGE_H

#include "http.h"

/* One API function stockelt calls, and what marks its answer as data. */
typedef struct AvFunction
{
	const char *name;			/* e.g. "TIME_SERIES_WEEKLY_ADJUSTED" */
	const char *argument;		/* query parameter: "symbol" or "keywords" */
	const char *extra_query;	/* further fixed query parameters */
	const char *data_key;		/* top-level key present only in data */
	const char *symbol_object;	/* object naming the symbol, NULL for the top level */
	const char *symbol_field;	/* field naming the symbol, NULL if none */
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
 * argument; the caller names what it was doing in the primary message.
 */
extern void av_check_response(const AvFunction *fn, const char *argument,
							  const HttpResponse *resp, const char *secret);

#endif							/* STOCKELT_ALPHAVANTAGE_H */
