/*
 * alphavantage.c
 *		URLs for Alpha Vantage API functions, and the error each kind of
 *		answer raises.
 *
 * parse.c says what an answer is (parse_classify); this file maps each
 * verdict to a SQLSTATE, a message and a hint in one table, and tells the
 * rate limiter what a throttle or quota answer means for every caller.
 */
#include "postgres.h"

#include "errcodes.h"
#include "settings.h"
#include "alphavantage.h"
#include "ratelimit.h"

#define MAX_SYMBOL_LEN 32
/* The provider's own sentences run to about 350 characters. */
#define PROVIDER_TEXT_LEN 400

const AvFunction av_weekly_adjusted = {
	"TIME_SERIES_WEEKLY_ADJUSTED", "symbol", "&outputsize=full",
	&parse_weekly_format, "weekly prices"
};

const AvFunction av_overview = {
	"OVERVIEW", "symbol", "", &parse_overview_format, "the company overview"
};

const AvFunction av_symbol_search = {
	"SYMBOL_SEARCH", "keywords", "", &parse_search_format, "symbol matches"
};

/* The error each verdict of parse.c raises, and what it tells the rate limiter. */
typedef struct VerdictError
{
	int			sqlstate;		/* 0 for data */
	const char *summary;		/* what the provider said, in our words */
	const char *hint;
	RateAnswer	pace;
} VerdictError;

static const VerdictError verdict_errors[PARSE_VERDICTS] = {
	[PARSE_DATA] = {0, NULL, NULL, RATE_ANSWER_NEUTRAL},
	[PARSE_NOT_JSON] = {ERRCODE_STOCKELT_NOT_JSON, "the response is not JSON", NULL,
	RATE_ANSWER_NEUTRAL},
	[PARSE_TRUNCATED] = {ERRCODE_STOCKELT_TRUNCATED, "the response is truncated JSON", NULL,
	RATE_ANSWER_NEUTRAL},
	[PARSE_NOT_OBJECT] = {ERRCODE_STOCKELT_UNEXPECTED, "the response is not a JSON object", NULL,
	RATE_ANSWER_NEUTRAL},
	[PARSE_SAMPLE_DATA] = {ERRCODE_STOCKELT_SAMPLE_DATA, "the API answered with premium sample data",
		"Sample data is artificial and is never stored.", RATE_ANSWER_NEUTRAL},
	[PARSE_EMPTY] = {ERRCODE_STOCKELT_EMPTY_RESPONSE, "the API answered with an empty object",
	"Check that the symbol exists.", RATE_ANSWER_NEUTRAL},
	[PARSE_INVALID_API_KEY] = {ERRCODE_STOCKELT_INVALID_API_KEY, "the API key is missing or invalid",
		"Check the key in the file named by stockelt.api_key_file, or ALPHAVANTAGE_API_KEY in the server's environment.",
	RATE_ANSWER_NEUTRAL},
	[PARSE_INVALID_CALL] = {ERRCODE_STOCKELT_INVALID_CALL, "the API rejected the call as invalid",
	"Check that the symbol exists.", RATE_ANSWER_NEUTRAL},
	[PARSE_DEMO_KEY] = {ERRCODE_STOCKELT_DEMO_KEY, "the demo API key is not accepted for this call",
	"Put a key of your own in the file named by stockelt.api_key_file.", RATE_ANSWER_NEUTRAL},
	[PARSE_THROTTLED] = {ERRCODE_STOCKELT_THROTTLED, "the API throttled the request",
	"Retry later; a free key allows about one request a second.", RATE_ANSWER_THROTTLED},
	[PARSE_DAILY_QUOTA] = {ERRCODE_STOCKELT_DAILY_QUOTA, "the API key's daily request quota is spent",
	"Retry tomorrow, or use a premium key.", RATE_ANSWER_DAILY_QUOTA},
	[PARSE_PREMIUM_ONLY] = {ERRCODE_STOCKELT_PREMIUM_ONLY, "the API function needs a premium key", NULL,
	RATE_ANSWER_NEUTRAL},
	[PARSE_NOTICE] = {ERRCODE_STOCKELT_UNEXPECTED, "the API answered with a notice instead of data", NULL,
	RATE_ANSWER_NEUTRAL},
	[PARSE_OTHER_SERIES] = {ERRCODE_STOCKELT_UNEXPECTED, "the response holds another function's data",
		"Check stockelt.api_base_url: the server there answered another function than the one asked for.",
	RATE_ANSWER_NEUTRAL},
	[PARSE_NO_DATA] = {ERRCODE_STOCKELT_UNEXPECTED, "the response has no data", NULL,
	RATE_ANSWER_NEUTRAL},
	[PARSE_WRONG_SYMBOL] = {ERRCODE_STOCKELT_WRONG_SYMBOL, "the response is for another symbol", NULL,
	RATE_ANSWER_NEUTRAL},
};

void
av_validate_symbol(const char *symbol)
{
	size_t		len = strlen(symbol);

	if (len == 0 || len > MAX_SYMBOL_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid symbol \"%s\"", symbol),
				 errdetail("A symbol has 1 to %d characters.", MAX_SYMBOL_LEN)));
	for (const char *p = symbol; *p; p++)
	{
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || strchr(".-^=:_", *p) != NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid symbol \"%s\"", symbol),
					 errdetail("A symbol has only letters, digits and the characters . - ^ = : _")));
	}
}

void
av_validate_keywords(const char *keywords)
{
	size_t		len = strlen(keywords);

	if (len == 0 || len > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid search keywords \"%s\"", keywords),
				 errdetail("Keywords have 1 to 64 characters.")));
	for (const unsigned char *p = (const unsigned char *) keywords; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid search keywords"),
					 errdetail("Keywords cannot contain control characters.")));
	}
}

char *
av_query_url(const AvFunction *fn, const char *argument, const char *apikey)
{
	const char *base = stockelt_api_base_url;

	return psprintf("%s%sfunction=%s&%s=%s%s&datatype=json&apikey=%s",
					base, strchr(base, '?') ? "&" : "?",
					fn->name, fn->argument, http_escape(argument, false),
					fn->extra_query, http_escape(apikey, false));
}

/* The first bytes of a body, printable, for an errdetail. */
static char *
snippet(const StringInfoData *body)
{
	return http_excerpt(body->data, body->len, HTTP_EXCERPT_LEN);
}

/* A text the provider sent (a message, a header, a symbol), bounded and printable. */
static char *
provider_text(const char *text)
{
	return http_excerpt(text, strlen(text), PROVIDER_TEXT_LEN);
}

/* The facts of a verdict for an errdetail: mostly the provider's own words. */
static char *
verdict_detail(const AvFunction *fn, const char *argument, const HttpResponse *resp,
			   const ParseAnswer *answer)
{
	switch (answer->verdict)
	{
		case PARSE_NOT_JSON:
		case PARSE_TRUNCATED:
			return psprintf("%s (Content-Type \"%s\", %d bytes): %s",
							provider_text(answer->text), provider_text(resp->content_type),
							resp->body.len, snippet(&resp->body));
		case PARSE_NOT_OBJECT:
			return snippet(&resp->body);
		case PARSE_EMPTY:
			return pstrdup("The body was {}.");
		case PARSE_OTHER_SERIES:
			return psprintf("The body holds \"%s\", not \"%s\".", provider_text(answer->text),
							fn->format->data_key);
		case PARSE_NO_DATA:
			return psprintf("The JSON object has no \"%s\" key.", fn->format->data_key);
		case PARSE_WRONG_SYMBOL:
			return psprintf("%s names \"%s\", not \"%s\".",
							fn->format->symbol_object ? fn->format->symbol_object : "The response",
							answer->has_text ? provider_text(answer->text) : "(nothing)", argument);
		default:
			return psprintf("Alpha Vantage answered: %s",
							answer->has_text ? provider_text(answer->text) : "(no text)");
	}
}

void
av_check_response(const AvFunction *fn, const char *argument,
				  const HttpResponse *resp, const char *secret)
{
	ParseAnswer answer;
	const VerdictError *verdict;
	char	   *detail;

	if (!resp->ok)
		ereport(ERROR,
				(errcode(resp->error_code),
				 errmsg("could not fetch %s for \"%s\": %s", fn->describe, argument,
						resp->error_summary),
				 errdetail_internal("%s", http_redact(resp->error_detail, secret)),
				 resp->error_hint ? errhint("%s", resp->error_hint) : 0));
	if (resp->status != 200)
	{
		detail = psprintf("HTTP status %ld (Content-Type \"%s\"): %s",
						  resp->status, provider_text(resp->content_type), snippet(&resp->body));
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_HTTP_STATUS),
				 errmsg("could not fetch %s for \"%s\": the API answered with an HTTP error",
						fn->describe, argument),
				 errdetail_internal("%s", http_redact(detail, secret))));
	}

	parse_classify(resp->body.data, resp->body.len, fn->format, argument, &answer);
	verdict = &verdict_errors[answer.verdict];
	ratelimit_note_answer(verdict->pace);
	if (verdict->sqlstate == 0)
		return;
	detail = verdict_detail(fn, argument, resp, &answer);
	ereport(ERROR,
			(errcode(verdict->sqlstate),
			 errmsg("could not fetch %s for \"%s\": %s", fn->describe, argument, verdict->summary),
			 errdetail_internal("%s", http_redact(detail, secret)),
			 verdict->hint ? errhint("%s", verdict->hint) : 0));
}
