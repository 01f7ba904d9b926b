/*
 * fetch.c
 *		API calls into bronze: stockelt_fetch(symbol) for weekly prices,
 *		stockelt_fetch_overview(symbol), and stockelt_search(keywords), which
 *		also returns the matches as rows.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "settings.h"
#include "alphavantage.h"
#include "bronze.h"
#include "cluster.h"
#include "http.h"
#include "ingest.h"
#include "parse.h"
#include "ratelimit.h"

PG_FUNCTION_INFO_V1(stockelt_fetch);
PG_FUNCTION_INFO_V1(stockelt_fetch_overview);
PG_FUNCTION_INFO_V1(stockelt_search);

/*
 * Calls the API for one argument and keeps the answer in bronze if it is
 * data; returns the object key, and the body when asked for.
 */
static char *
fetch_to_bronze(const AvFunction *fn, const char *argument, StringInfo body)
{
	const char *apikey;
	HttpRequest req = {0};
	HttpResponse resp;
	char	   *key;

	/* No call is spent where bronze is not the coordinator's. */
	cluster_require_coordinator();
	apikey = stockelt_require_api_key();
	bronze_check_store();

	req.method = "GET";
	req.url = av_query_url(fn, argument, apikey);
	req.secret = apikey;
	ratelimit_acquire();
	http_perform(&req, &resp);
	/* A throttle or quota answer also tells the limiter, as the worker's do. */
	av_check_response(fn, argument, &resp, apikey);

	key = bronze_store(fn->name, fn->argument, argument, GetCurrentTimestamp(),
					   resp.body.data, resp.body.len);
	if (body)
		*body = resp.body;
	return key;
}

static char *
valid_symbol(FunctionCallInfo fcinfo)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));

	av_validate_symbol(given);
	return asc_toupper(given, strlen(given));
}

Datum
stockelt_fetch(PG_FUNCTION_ARGS)
{
	char	   *symbol = valid_symbol(fcinfo);

	PG_RETURN_TEXT_P(cstring_to_text(fetch_to_bronze(&av_weekly_adjusted, symbol, NULL)));
}

Datum
stockelt_fetch_overview(PG_FUNCTION_ARGS)
{
	char	   *symbol = valid_symbol(fcinfo);

	PG_RETURN_TEXT_P(cstring_to_text(fetch_to_bronze(&av_overview, symbol, NULL)));
}

static void
emit_match(ReturnSetInfo *rsinfo, const SymbolInfo *m, const char *key)
{
	const char *fields[8] = {m->symbol, m->name, m->asset_type, m->region,
	m->market_open, m->market_close, m->timezone, m->currency};
	Datum		values[10];
	bool		nulls[10];

	for (int i = 0; i < 8; i++)
	{
		nulls[i] = fields[i] == NULL;
		values[i] = fields[i] ? CStringGetTextDatum(fields[i]) : (Datum) 0;
	}
	nulls[8] = m->match_score == NULL;
	values[8] = m->match_score ?
		DirectFunctionCall3(numeric_in, CStringGetDatum(m->match_score),
							ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) : (Datum) 0;
	nulls[9] = false;
	values[9] = CStringGetTextDatum(key);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
stockelt_search(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *keywords = text_to_cstring(PG_GETARG_TEXT_PP(0));
	StringInfoData body;
	SymbolList	list;
	char		reason[PARSE_REASON_LEN];
	char	   *key;
	IngestCounts counts;

	av_validate_keywords(keywords);
	InitMaterializedSRF(fcinfo, 0);
	key = fetch_to_bronze(&av_symbol_search, keywords, &body);
	/* The matches also become silver listings, as any ingest of the object would make them. */
	ingest_object(key, true, false, &counts);

	if (parse_symbol_search(body.data, body.len, &list, reason) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_INVALID_PAYLOAD),
				 errmsg("could not read symbol matches for \"%s\"", keywords),
				 errdetail("%s", reason)));
	PG_TRY();
	{
		for (size_t i = 0; i < list.count; i++)
			emit_match(rsinfo, &list.items[i], key);
	}
	PG_FINALLY();
	{
		symbol_list_free(&list);
	}
	PG_END_TRY();
	return (Datum) 0;
}
