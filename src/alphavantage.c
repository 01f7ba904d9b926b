/*
 * alphavantage.c
 *		URLs for Alpha Vantage API functions, and the classification of their
 *		answers.
 *
 * The API answers errors, throttling and entitlement problems with HTTP 200
 * and a one-key JSON body, sometimes under the "wrong" key, so a body counts
 * as data only when it has the function's data key and names the requested
 * symbol; everything else gets a SQLSTATE of its own.
 */
#include "postgres.h"

#include <jansson.h>

#include "errcodes.h"
#include "settings.h"
#include "alphavantage.h"

#define MAX_SYMBOL_LEN 32
/* The provider's own sentences run to about 350 characters. */
#define PROVIDER_TEXT_LEN 400

const AvFunction av_weekly_adjusted = {
	"TIME_SERIES_WEEKLY_ADJUSTED", "symbol", "&outputsize=full",
	"Weekly Adjusted Time Series", "Meta Data", "2. Symbol", "weekly prices"
};

const AvFunction av_overview = {
	"OVERVIEW", "symbol", "", "Symbol", NULL, "Symbol", "the company overview"
};

const AvFunction av_symbol_search = {
	"SYMBOL_SEARCH", "keywords", "", "bestMatches", NULL, NULL, "symbol matches"
};

/* What an answer turned out to be. */
typedef struct Verdict
{
	int			sqlstate;		/* 0 for data */
	const char *summary;		/* what the provider said, in our words */
	char	   *detail;			/* the provider's own text, or facts */
	const char *hint;
} Verdict;

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

static bool
contains_ci(const char *text, const char *needle)
{
	size_t		n = strlen(needle);

	for (const char *p = text; *p; p++)
		if (pg_strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

/* "Note" and "Information" carry throttles, quotas and entitlement errors alike. */
static void
classify_notice(const char *text, Verdict *v)
{
	v->detail = psprintf("Alpha Vantage answered: %s", provider_text(text));
	if (contains_ci(text, "demo"))
	{
		v->sqlstate = ERRCODE_STOCKELT_DEMO_KEY;
		v->summary = "the demo API key is not accepted for this call";
		v->hint = "Put a key of your own in the file named by stockelt.api_key_file.";
	}
	else if (contains_ci(text, "spreading out") || contains_ci(text, "per second") ||
			 contains_ci(text, "call frequency") || contains_ci(text, "per minute"))
	{
		v->sqlstate = ERRCODE_STOCKELT_THROTTLED;
		v->summary = "the API throttled the request";
		v->hint = "Retry later; a free key allows about one request a second.";
	}
	else if (contains_ci(text, "per day") || contains_ci(text, "daily"))
	{
		v->sqlstate = ERRCODE_STOCKELT_DAILY_QUOTA;
		v->summary = "the API key's daily request quota is spent";
		v->hint = "Retry tomorrow, or use a premium key.";
	}
	else if (contains_ci(text, "premium"))
	{
		v->sqlstate = ERRCODE_STOCKELT_PREMIUM_ONLY;
		v->summary = "the API function needs a premium key";
		v->hint = NULL;
	}
	else
	{
		v->sqlstate = ERRCODE_STOCKELT_UNEXPECTED;
		v->summary = "the API answered with a notice instead of data";
		v->hint = NULL;
	}
}

static void
classify_error_message(const char *text, Verdict *v)
{
	v->detail = psprintf("Alpha Vantage answered: %s", provider_text(text));
	if (contains_ci(text, "apikey"))
	{
		v->sqlstate = ERRCODE_STOCKELT_INVALID_API_KEY;
		v->summary = "the API key is missing or invalid";
		v->hint = "Check the key in the file named by stockelt.api_key_file, or ALPHAVANTAGE_API_KEY in the server's environment.";
	}
	else
	{
		v->sqlstate = ERRCODE_STOCKELT_INVALID_CALL;
		v->summary = "the API rejected the call as invalid";
		v->hint = "Check that the symbol exists.";
	}
}

static void
classify_data(const AvFunction *fn, const char *argument, json_t *root, Verdict *v)
{
	json_t	   *holder = fn->symbol_object ? json_object_get(root, fn->symbol_object) : root;
	const char *named;

	if (fn->symbol_field == NULL)
		return;
	named = json_string_value(json_object_get(holder, fn->symbol_field));
	if (named == NULL || pg_strcasecmp(named, argument) != 0)
	{
		v->sqlstate = ERRCODE_STOCKELT_WRONG_SYMBOL;
		v->summary = "the response is for another symbol";
		v->detail = psprintf("%s names \"%s\", not \"%s\".",
							 fn->symbol_object ? fn->symbol_object : "The response",
							 named ? provider_text(named) : "(nothing)", argument);
		v->hint = NULL;
	}
}

/* The key of another time series the body holds instead of the one asked for, or NULL. */
static const char *
other_series(const AvFunction *fn, json_t *root)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(root, key, value)
	{
		if (strcmp(key, fn->data_key) != 0 && json_is_object(value) &&
			strstr(key, "Time Series") != NULL)
			return key;
	}
	return NULL;
}

static void
classify_object(const AvFunction *fn, const char *argument, json_t *root, Verdict *v)
{
	const char *text;

	if (json_object_get(root, fn->data_key) != NULL &&
		json_object_get(root, "message") == NULL)
	{
		classify_data(fn, argument, root, v);
		return;
	}
	if (json_object_get(root, "message") != NULL)
	{
		v->sqlstate = ERRCODE_STOCKELT_SAMPLE_DATA;
		v->summary = "the API answered with premium sample data";
		text = json_string_value(json_object_get(root, "message"));
		v->detail = psprintf("Alpha Vantage answered: %s", text ? provider_text(text) : "(no text)");
		v->hint = "Sample data is artificial and is never stored.";
	}
	else if (json_object_size(root) == 0)
	{
		v->sqlstate = ERRCODE_STOCKELT_EMPTY_RESPONSE;
		v->summary = "the API answered with an empty object";
		v->detail = pstrdup("The body was {}.");
		v->hint = "Check that the symbol exists.";
	}
	else if ((text = json_string_value(json_object_get(root, "Error Message"))) != NULL)
		classify_error_message(text, v);
	else if ((text = json_string_value(json_object_get(root, "Note"))) != NULL ||
			 (text = json_string_value(json_object_get(root, "Information"))) != NULL)
		classify_notice(text, v);
	else if ((text = other_series(fn, root)) != NULL)
	{
		v->sqlstate = ERRCODE_STOCKELT_UNEXPECTED;
		v->summary = "the response holds another function's data";
		v->detail = psprintf("The body holds \"%s\", not \"%s\".", provider_text(text), fn->data_key);
		v->hint = "Check stockelt.api_base_url: the server there answered another function than the one asked for.";
	}
	else
	{
		v->sqlstate = ERRCODE_STOCKELT_UNEXPECTED;
		v->summary = "the response has no data";
		v->detail = psprintf("The JSON object has no \"%s\" key.", fn->data_key);
		v->hint = NULL;
	}
}

static void
classify_body(const AvFunction *fn, const char *argument, const HttpResponse *resp,
			  Verdict *v)
{
	const char *data = resp->body.data;
	size_t		len = resp->body.len;
	json_error_t jerr;
	json_t	   *root;

	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		data += 3, len -= 3;

	root = json_loadb(data, len, 0, &jerr);
	if (root == NULL)
	{
		bool		at_end = strstr(jerr.text, "end of file") != NULL ||
			strstr(jerr.text, "premature end") != NULL;
		bool		looks_json = len > 0 && (data[0] == '{' || data[0] == '[');

		v->sqlstate = (at_end && looks_json) ? ERRCODE_STOCKELT_TRUNCATED : ERRCODE_STOCKELT_NOT_JSON;
		v->summary = (at_end && looks_json) ? "the response is truncated JSON" : "the response is not JSON";
		v->detail = psprintf("%s (Content-Type \"%s\", %d bytes): %s",
							 provider_text(jerr.text), provider_text(resp->content_type),
							 resp->body.len, snippet(&resp->body));
		v->hint = NULL;
		return;
	}
	PG_TRY();
	{
		if (json_is_object(root))
			classify_object(fn, argument, root, v);
		else
		{
			v->sqlstate = ERRCODE_STOCKELT_UNEXPECTED;
			v->summary = "the response is not a JSON object";
			v->detail = snippet(&resp->body);
			v->hint = NULL;
		}
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
}

void
av_check_response(const AvFunction *fn, const char *argument,
				  const HttpResponse *resp, const char *secret)
{
	Verdict		v = {0};

	if (!resp->ok)
	{
		v.sqlstate = resp->error_code;
		v.summary = resp->error_summary;
		v.detail = resp->error_detail;
		v.hint = resp->error_hint;
	}
	else if (resp->status != 200)
	{
		v.sqlstate = ERRCODE_STOCKELT_HTTP_STATUS;
		v.summary = "the API answered with an HTTP error";
		v.detail = psprintf("HTTP status %ld (Content-Type \"%s\"): %s",
							resp->status, provider_text(resp->content_type), snippet(&resp->body));
	}
	else
		classify_body(fn, argument, resp, &v);

	if (v.sqlstate == 0)
		return;
	ereport(ERROR,
			(errcode(v.sqlstate),
			 errmsg("could not fetch %s for \"%s\": %s", fn->describe, argument, v.summary),
			 errdetail_internal("%s", http_redact(v.detail, secret)),
			 v.hint ? errhint("%s", v.hint) : 0));
}
