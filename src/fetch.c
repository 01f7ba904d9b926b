/*
 * fetch.c
 *		stockelt_fetch(symbol): one API call into one bronze object.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"

#include "stockelt.h"
#include "alphavantage.h"
#include "bronze.h"
#include "http.h"

PG_FUNCTION_INFO_V1(stockelt_fetch);

/* Calls the API for one argument and keeps the answer in bronze if it is data. */
static char *
fetch_to_bronze(const AvFunction *fn, const char *argument)
{
	const char *apikey = stockelt_effective_api_key();
	HttpRequest req = {0};
	HttpResponse resp;

	if (apikey[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no Alpha Vantage API key is configured"),
				 errhint("Set stockelt.api_key, or ALPHAVANTAGE_API_KEY in the server's environment.")));
	bronze_check_store();

	req.method = "GET";
	req.url = av_query_url(fn, argument, apikey);
	req.secret = apikey;
	http_perform(&req, &resp);
	av_check_response(fn, argument, &resp, apikey);

	return bronze_store(fn->name, argument, GetCurrentTimestamp(),
						resp.body.data, resp.body.len);
}

Datum
stockelt_fetch(PG_FUNCTION_ARGS)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *symbol;

	av_validate_symbol(given);
	symbol = asc_toupper(given, strlen(given));
	PG_RETURN_TEXT_P(cstring_to_text(fetch_to_bronze(&av_weekly_adjusted, symbol)));
}
