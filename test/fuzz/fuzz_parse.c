/* libFuzzer harness for src/parse.c: feeds each input to every parser and to the
 * classification of answers, and aborts when a result breaks the contract of parse.h
 * or when an ingest would accept what a fetch refuses (test/fuzz/run.sh builds and
 * runs it). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

/* Byte the reason buffer is filled with before each call, to see if it was set. */
#define REASON_FILL 0x7f

static void
fail(const char *parser, const char *what)
{
	fprintf(stderr, "fuzz_parse: %s: %s\n", parser, what);
	abort();
}

/* On failure the reason must be a non-empty string inside the buffer. */
static void
check_reason(const char *parser, const char *reason)
{
	const char *nul = memchr(reason, '\0', PARSE_REASON_LEN);

	if (nul == NULL)
		fail(parser, "reason is not NUL-terminated within PARSE_REASON_LEN");
	if (nul == reason)
		fail(parser, "reason is empty on failure");
}

static int
is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static void
check_date(const char *parser, const ParseDate *d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			last;

	if (d->month < 1 || d->month > 12)
		fail(parser, "week_ending has a month outside 1..12");
	last = mdays[d->month - 1] + (d->month == 2 && is_leap(d->year));
	if (d->day < 1 || d->day > last)
		fail(parser, "week_ending has a day outside its month");
}

static int
date_cmp(const ParseDate *a, const ParseDate *b)
{
	if (a->year != b->year)
		return a->year < b->year ? -1 : 1;
	if (a->month != b->month)
		return a->month < b->month ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return 0;
}

static void
check_decimal(const char *parser, const char *value, const char *field)
{
	char		msg[128];

	if (value == NULL)
	{
		snprintf(msg, sizeof(msg), "%s is NULL on success", field);
		fail(parser, msg);
	}
	if (!parse_is_decimal(value))
	{
		snprintf(msg, sizeof(msg), "%s \"%.40s\" fails parse_is_decimal", field, value);
		fail(parser, msg);
	}
}

/* On success a price is a bounded, non-negative decimal, and not zero unless zero_ok. */
static void
check_price(const char *parser, const char *value, const char *field, int zero_ok)
{
	const char *point;
	size_t		integer_digits;
	char		msg[160];

	check_decimal(parser, value, field);
	point = strchr(value, '.');
	integer_digits = point ? (size_t) (point - value) : strlen(value);
	if (value[0] == '-' || integer_digits > PARSE_MAX_INTEGER_DIGITS ||
		(point && strlen(point + 1) > PARSE_MAX_FRACTION_DIGITS) ||
		(!zero_ok && strspn(value, "0.") == strlen(value)))
	{
		snprintf(msg, sizeof(msg), "%s \"%.40s\" accepted outside the bounds of parse.h", field, value);
		fail(parser, msg);
	}
}

/*
 * parse_classify as a fetch calls it: a verdict of the enum, a terminated
 * text, a key for the verdicts that rest on one, a reason for every verdict
 * but data.
 */
static ParseVerdict
check_classify(const char *parser, const uint8_t *data, size_t size,
			   const ParseFormat *format, const char *expected)
{
	ParseAnswer answer;
	char		reason[PARSE_REASON_LEN];

	memset(&answer, REASON_FILL, sizeof(answer));
	parse_classify((const char *) data, size, format, expected, &answer);
	if ((unsigned) answer.verdict >= PARSE_VERDICTS)
		fail(parser, "parse_classify gave a verdict outside the enum");
	if (memchr(answer.text, '\0', sizeof(answer.text)) == NULL)
		fail(parser, "the answer's text is not NUL-terminated");
	if (!answer.has_text && answer.text[0] != '\0')
		fail(parser, "the answer has a text but says it has none");
	if (answer.verdict >= PARSE_INVALID_API_KEY && answer.verdict <= PARSE_NOTICE &&
		(answer.key == NULL || !answer.has_text))
		fail(parser, "a provider's notice without its key or text");
	if (answer.verdict == PARSE_WRONG_SYMBOL && expected == NULL)
		fail(parser, "another symbol, when none was expected");
	if (answer.verdict != PARSE_DATA)
	{
		memset(reason, REASON_FILL, sizeof(reason));
		parse_explain(&answer, format, expected, reason);
		check_reason(parser, reason);
	}
	return answer.verdict;
}

/* What an ingest accepts, a fetch must have taken for data: the two classify alike. */
static void
check_agrees(const char *parser, int rc, ParseVerdict verdict)
{
	if (rc == 0 && verdict != PARSE_DATA)
		fail(parser, "accepted a body that parse_classify does not call data");
}

static void
check_weekly(const uint8_t *data, size_t size, const char *expected)
{
	const char *parser = expected ? "parse_weekly_adjusted(IBM)" :
		"parse_weekly_adjusted(NULL)";
	WeeklySeries series;
	char		reason[PARSE_REASON_LEN];
	int			rc;
	size_t		i;

	memset(&series, 0, sizeof(series));
	memset(reason, REASON_FILL, sizeof(reason));
	rc = parse_weekly_adjusted((const char *) data, size, expected, &series, reason);
	if (rc == 0)
	{
		if (series.nrows > 0 && series.rows == NULL)
			fail(parser, "nrows > 0 but rows is NULL");
		if (expected != NULL && series.symbol != NULL &&
			strcasecmp(series.symbol, expected) != 0)
			fail(parser, "succeeded with a symbol other than the expected one");
		for (i = 0; i < series.nrows; i++)
		{
			const WeeklyRow *row = &series.rows[i];

			check_date(parser, &row->week_ending);
			if (i > 0 && date_cmp(&series.rows[i - 1].week_ending,
								  &row->week_ending) >= 0)
				fail(parser, "rows are not in strictly increasing date order");
			if (row->week_ending.year < PARSE_FIRST_YEAR)
				fail(parser, "a week before PARSE_FIRST_YEAR accepted");
			if (series.as_of < 0)
				fail(parser, "the data's date is before its newest week (1970 or later)");
			check_price(parser, row->open, "open", 0);
			check_price(parser, row->high, "high", 0);
			check_price(parser, row->low, "low", 0);
			check_price(parser, row->close, "close", 0);
			check_price(parser, row->adjusted_close, "adjusted_close", 1);
			check_price(parser, row->dividend_amount, "dividend_amount", 1);
			if (row->volume < 0)
				fail(parser, "negative volume");
		}
	}
	else if (rc == -1)
		check_reason(parser, reason);
	else
		fail(parser, "returned neither 0 nor -1");
	check_agrees(parser, rc, check_classify(parser, data, size, &parse_weekly_format, expected));
	weekly_series_free(&series);
}

static void
check_symbols(const char *parser, int rc, const SymbolList *list,
			  const char *reason)
{
	if (rc == 0)
	{
		if (list->count > 0 && list->items == NULL)
			fail(parser, "count > 0 but items is NULL");
	}
	else if (rc == -1)
		check_reason(parser, reason);
	else
		fail(parser, "returned neither 0 nor -1");
}

/* Reference for parse_is_decimal: -?[0-9]+(\.[0-9]+)? over the whole string. */
static int
ref_is_decimal(const char *s)
{
	if (*s == '-')
		s++;
	if (*s < '0' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s == '.')
	{
		s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static void
check_is_decimal(const uint8_t *data, size_t size)
{
	char	   *text;

	/* Only short inputs: the interesting cases are all small. */
	if (size > 64)
		return;
	text = malloc(size + 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if ((parse_is_decimal(text) != 0) != ref_is_decimal(text))
		fail("parse_is_decimal", "disagrees with -?[0-9]+(\\.[0-9]+)?");
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SymbolList	list;
	char		reason[PARSE_REASON_LEN];
	int			rc;

	/* data is not NUL-terminated: ASan catches any read past size. */
	check_weekly(data, size, NULL);
	check_weekly(data, size, "IBM");

	memset(&list, 0, sizeof(list));
	memset(reason, REASON_FILL, sizeof(reason));
	rc = parse_overview((const char *) data, size, NULL, &list, reason);
	check_symbols("parse_overview(NULL)", rc, &list, reason);
	check_agrees("parse_overview(NULL)", rc,
				 check_classify("parse_overview(NULL)", data, size, &parse_overview_format, NULL));
	if (rc == 0 && list.count != 1)
		fail("parse_overview(NULL)", "success without exactly one listing");
	symbol_list_free(&list);

	memset(&list, 0, sizeof(list));
	memset(reason, REASON_FILL, sizeof(reason));
	rc = parse_overview((const char *) data, size, "IBM", &list, reason);
	check_symbols("parse_overview(IBM)", rc, &list, reason);
	check_agrees("parse_overview(IBM)", rc,
				 check_classify("parse_overview(IBM)", data, size, &parse_overview_format, "IBM"));
	if (rc == 0 && list.count != 1)
		fail("parse_overview(IBM)", "success without exactly one listing");
	if (rc == 0 && list.items[0].symbol != NULL &&
		strcasecmp(list.items[0].symbol, "IBM") != 0)
		fail("parse_overview(IBM)", "succeeded with a symbol other than IBM");
	symbol_list_free(&list);

	memset(&list, 0, sizeof(list));
	memset(reason, REASON_FILL, sizeof(reason));
	rc = parse_symbol_search((const char *) data, size, &list, reason);
	check_symbols("parse_symbol_search", rc, &list, reason);
	check_agrees("parse_symbol_search", rc,
				 check_classify("parse_symbol_search", data, size, &parse_search_format, NULL));
	symbol_list_free(&list);

	check_is_decimal(data, size);
	return 0;
}
