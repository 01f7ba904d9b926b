/*
 * parse.c
 *		Alpha Vantage payloads to C structs with jansson.
 *
 * No PostgreSQL calls here: the fuzzer in test/fuzz drives this file alone.
 * Every rejection says precisely why, because that text becomes the errdetail
 * a user reads when an ingest is refused.
 */
#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

const ParseFormat parse_weekly_format = {
	"Weekly Adjusted Time Series", "Meta Data", "2. Symbol", "series for"
};

const ParseFormat parse_overview_format = {
	"Symbol", NULL, "Symbol", "overview of"
};

const ParseFormat parse_search_format = {
	"bestMatches", NULL, NULL, NULL
};

#define WEEKLY_SERIES_KEY (parse_weekly_format.data_key)

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char *const weekly_fields[] = {
	"1. open", "2. high", "3. low", "4. close", "5. adjusted close",
	"6. volume", "7. dividend amount"
};

/*
 * jansson allocates every value, key and hashtable separately; for a series of
 * a thousand weeks that is most of the parse time.  While one body is parsed,
 * jansson allocates from a bump arena instead.  The parsed series keeps the
 * arena (its strings point into it) and releases it all at once; a few
 * blocks are kept for the next parse so that large bodies do not map and
 * unmap memory each time.
 */
typedef struct ParsedTree
{
	json_t	   *root;
	void	   *blocks;			/* arena blocks holding the tree, if any */
} ParsedTree;

#ifndef PARSE_PLAIN_ALLOC
#define ARENA_BLOCK_SIZE (4 * 1024 * 1024)
#define ARENA_SPARE_BLOCKS 8

typedef struct ArenaBlock
{
	struct ArenaBlock *next;
	size_t		size;
	size_t		used;
	char		data[];
} ArenaBlock;

/*
 * Parses may run on helper threads (parse_weekly_start) at the same time, and
 * while their caller releases earlier trees: the arena being filled is per
 * thread, and the spare blocks they share are behind a mutex.
 */
static __thread ArenaBlock *arena_blocks = NULL;
static __thread int arena_active = 0;	/* this thread is parsing into an arena */
static pthread_once_t arena_funcs_once = PTHREAD_ONCE_INIT;
static ArenaBlock *arena_spares = NULL;
static int	arena_nspares = 0;
static pthread_mutex_t arena_spares_lock = PTHREAD_MUTEX_INITIALIZER;

/* A spare block, or NULL. */
static ArenaBlock *
take_spare(void)
{
	ArenaBlock *block;

	pthread_mutex_lock(&arena_spares_lock);
	block = arena_spares;
	if (block != NULL)
	{
		arena_spares = block->next;
		arena_nspares--;
	}
	pthread_mutex_unlock(&arena_spares_lock);
	return block;
}

/* Keeps a block for later parses if there is room; true if kept. */
static int
keep_spare(ArenaBlock *block)
{
	int			kept = 0;

	pthread_mutex_lock(&arena_spares_lock);
	if (arena_nspares < ARENA_SPARE_BLOCKS && block->size == ARENA_BLOCK_SIZE)
	{
		block->next = arena_spares;
		arena_spares = block;
		arena_nspares++;
		kept = 1;
	}
	pthread_mutex_unlock(&arena_spares_lock);
	return kept;
}

static void *
arena_alloc(size_t n)
{
	ArenaBlock *block = arena_blocks;
	void	   *p;

	if (!arena_active)
		return malloc(n);
	n = (n + 15) & ~(size_t) 15;
	if (block == NULL || block->used + n > block->size)
	{
		size_t		size = n > ARENA_BLOCK_SIZE ? n : ARENA_BLOCK_SIZE;

		if (size == ARENA_BLOCK_SIZE && (block = take_spare()) != NULL)
			;
		else if ((block = malloc(sizeof(ArenaBlock) + size)) == NULL)
			return NULL;
		else
			block->size = size;
		block->used = 0;
		block->next = arena_blocks;
		arena_blocks = block;
	}
	p = block->data + block->used;
	block->used += n;
	return p;
}

static void
arena_free(void *p)
{
	/* In an arena, everything is released at once by release_tree. */
	if (!arena_active)
		free(p);
}

/*
 * jansson's allocation functions are global: set once, they serve every
 * thread, and each thread's arena_active says whether it is parsing into an
 * arena (the tree is then never freed piecemeal) or not.
 */
static void
install_arena_funcs(void)
{
	json_set_alloc_funcs(arena_alloc, arena_free);
}

/* Parses with jansson allocating from a fresh arena that the tree then owns. */
static void
load_tree(const char *body, size_t len, size_t flags, json_error_t *err, ParsedTree *tree)
{
	pthread_once(&arena_funcs_once, install_arena_funcs);
	arena_blocks = NULL;
	arena_active = 1;
	tree->root = json_loadb(body, len, flags, err);
	arena_active = 0;
	tree->blocks = arena_blocks;
	arena_blocks = NULL;
}

static void
release_tree(ParsedTree *tree)
{
	ArenaBlock *block = (ArenaBlock *) tree->blocks;

	/* No decref: jansson's free is a no-op in the arena. */
	while (block != NULL)
	{
		ArenaBlock *next = block->next;

		if (!keep_spare(block))
			free(block);
		block = next;
	}
	tree->root = NULL;
	tree->blocks = NULL;
}
#else
/* Sanitizer builds: jansson's own allocations, so that AddressSanitizer sees every one. */
static void
load_tree(const char *body, size_t len, size_t flags, json_error_t *err, ParsedTree *tree)
{
	tree->root = json_loadb(body, len, flags, err);
	tree->blocks = NULL;
}

static void
release_tree(ParsedTree *tree)
{
	json_decref(tree->root);
	tree->root = NULL;
}
#endif

static void set_reason(char *reason, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
set_reason(char *reason, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(reason, PARSE_REASON_LEN, fmt, ap);
	va_end(ap);
}

int
parse_is_decimal(const char *text)
{
	const char *p = text;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return 0;
	while (isdigit((unsigned char) *p))
		p++;
	if (*p == '.')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			return 0;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return *p == '\0';
}

/*
 * An upper bound of the keys and values a JSON text holds: one more than its
 * separators and openings outside strings.  A linear scan, much quicker than
 * the parse it may spare.
 */
static size_t
count_json_items(const char *body, size_t len)
{
	size_t		items = 1;
	int			in_string = 0;

	for (size_t i = 0; i < len; i++)
	{
		char		c = body[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		}
		else if (c == '"')
			in_string = 1;
		else if (c == ',' || c == ':' || c == '[' || c == '{')
			items++;
	}
	return items;
}

/* Keeps a text of the provider (NULL: none) in the answer, cut to fit. */
static void
set_text(ParseAnswer *answer, const char *text)
{
	answer->has_text = text != NULL;
	snprintf(answer->text, sizeof(answer->text), "%s", text ? text : "");
}

/* Whether text holds needle, ignoring ASCII case. */
static int
contains_ci(const char *text, const char *needle)
{
	size_t		n = strlen(needle);

	for (const char *p = text; *p; p++)
	{
		size_t		i = 0;

		while (i < n && p[i] != '\0' &&
			   (p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]) == needle[i])
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

/*
 * Parses a body into a JSON object; a leading UTF-8 byte-order mark is
 * accepted.  On failure the answer says why (not JSON, truncated JSON, not
 * an object).
 */
static int
load_object(const char *body, size_t len, size_t flags, ParsedTree *tree, ParseAnswer *answer)
{
	json_error_t err;

	memset(answer, 0, sizeof(*answer));
	if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
		body += 3, len -= 3;
	load_tree(body, len, flags, &err, tree);
	if (tree->root == NULL)
	{
		int			at_end = strstr(err.text, "end of file") != NULL ||
			strstr(err.text, "premature end") != NULL;

		release_tree(tree);
		answer->verdict = (at_end && len > 0 && (body[0] == '{' || body[0] == '[')) ?
			PARSE_TRUNCATED : PARSE_NOT_JSON;
		set_text(answer, err.text);
		answer->position = err.position;
		return -1;
	}
	if (!json_is_object(tree->root))
	{
		answer->verdict = PARSE_NOT_OBJECT;
		release_tree(tree);
		return -1;
	}
	return 0;
}

/*
 * Parses a body as an ingest reads it: bounded in size and number of values,
 * and a key given twice is refused.
 */
static int
load_stored_object(const char *body, size_t len, ParsedTree *tree, char *reason)
{
	ParseAnswer answer;

	tree->root = NULL;
	tree->blocks = NULL;
	if (len > PARSE_MAX_BODY_BYTES)
	{
		/* The parsed tree takes many times the body's size: refuse before parsing. */
		set_reason(reason, "body of %zu bytes is larger than the %d MB an object may have",
				   len, PARSE_MAX_BODY_BYTES / (1024 * 1024));
		return -1;
	}
	if (count_json_items(body, len) > PARSE_MAX_JSON_ITEMS)
	{
		set_reason(reason, "body has more than %d JSON keys and values, more than any object of the API",
				   PARSE_MAX_JSON_ITEMS);
		return -1;
	}
	if (load_object(body, len, JSON_REJECT_DUPLICATES, tree, &answer) == 0)
		return 0;
	if (strstr(answer.text, "duplicate object key") != NULL)
		set_reason(reason, "duplicate key: %s", answer.text);
	else
		parse_explain(&answer, NULL, NULL, reason);
	return -1;
}

/* The key of another series the body holds instead of data_key (a "... Time Series ..." object), or NULL. */
static const char *
other_series(json_t *root, const char *data_key)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(root, key, value)
	{
		if (strcmp(key, data_key) != 0 && json_is_object(value) &&
			strstr(key, "Time Series") != NULL)
			return key;
	}
	return NULL;
}

/* "Note" and "Information" carry throttles, quotas and entitlement errors alike. */
static void
classify_notice(const char *text, ParseAnswer *answer)
{
	if (contains_ci(text, "demo"))
		answer->verdict = PARSE_DEMO_KEY;
	else if (contains_ci(text, "spreading out") || contains_ci(text, "per second") ||
			 contains_ci(text, "call frequency") || contains_ci(text, "per minute"))
		answer->verdict = PARSE_THROTTLED;
	else if (contains_ci(text, "per day") || contains_ci(text, "daily"))
		answer->verdict = PARSE_DAILY_QUOTA;
	else if (contains_ci(text, "premium"))
		answer->verdict = PARSE_PREMIUM_ONLY;
	else
		answer->verdict = PARSE_NOTICE;
	set_text(answer, text);
}

/* Data, unless it names another symbol than the one expected (NULL: any). */
static void
classify_data(json_t *root, const ParseFormat *format, const char *expected, ParseAnswer *answer)
{
	json_t	   *holder = format->symbol_object ? json_object_get(root, format->symbol_object) : root;
	const char *named;

	answer->verdict = PARSE_DATA;
	if (format->symbol_field == NULL || expected == NULL)
		return;
	named = json_string_value(json_object_get(holder, format->symbol_field));
	if (named == NULL || strcasecmp(named, expected) != 0)
	{
		answer->verdict = PARSE_WRONG_SYMBOL;
		answer->key = format->symbol_field;
		set_text(answer, named);
	}
}

/* What a JSON object is: data, or which of the provider's other answers. */
static void
classify_object(json_t *root, const ParseFormat *format, const char *expected, ParseAnswer *answer)
{
	const char *text;

	memset(answer, 0, sizeof(*answer));
	if (json_object_get(root, format->data_key) != NULL &&
		json_object_get(root, "message") == NULL)
		classify_data(root, format, expected, answer);
	else if (json_object_get(root, "message") != NULL)
	{
		answer->verdict = PARSE_SAMPLE_DATA;
		answer->key = "message";
		set_text(answer, json_string_value(json_object_get(root, "message")));
	}
	else if (json_object_size(root) == 0)
		answer->verdict = PARSE_EMPTY;
	else if ((text = json_string_value(json_object_get(root, "Error Message"))) != NULL)
	{
		answer->verdict = contains_ci(text, "apikey") ? PARSE_INVALID_API_KEY : PARSE_INVALID_CALL;
		answer->key = "Error Message";
		set_text(answer, text);
	}
	else if ((text = json_string_value(json_object_get(root, "Note"))) != NULL ||
			 (text = json_string_value(json_object_get(root, "Information"))) != NULL)
	{
		answer->key = json_object_get(root, "Note") == NULL ? "Information" : "Note";
		classify_notice(text, answer);
	}
	else if ((text = other_series(root, format->data_key)) != NULL)
	{
		/* Another function's data: daily, monthly or non-adjusted weekly prices. */
		answer->verdict = PARSE_OTHER_SERIES;
		set_text(answer, text);
	}
	else
		answer->verdict = PARSE_NO_DATA;
}

void
parse_classify(const char *body, size_t len, const ParseFormat *format,
			   const char *expected_symbol, ParseAnswer *answer)
{
	ParsedTree	tree;

	if (load_object(body, len, 0, &tree, answer) != 0)
		return;
	classify_object(tree.root, format, expected_symbol, answer);
	release_tree(&tree);
}

void
parse_explain(const ParseAnswer *answer, const ParseFormat *format,
			  const char *expected_symbol, char *reason)
{
	switch (answer->verdict)
	{
		case PARSE_DATA:
			set_reason(reason, "data");
			break;
		case PARSE_NOT_JSON:
			set_reason(reason, "not JSON: %s at byte %d", answer->text, answer->position);
			break;
		case PARSE_TRUNCATED:
			set_reason(reason, "truncated JSON: %s", answer->text);
			break;
		case PARSE_NOT_OBJECT:
			set_reason(reason, "not a JSON object");
			break;
		case PARSE_SAMPLE_DATA:
			set_reason(reason, "premium sample data, not data: %.180s",
					   answer->has_text ? answer->text : "(no text)");
			break;
		case PARSE_EMPTY:
			set_reason(reason, "empty object {}");
			break;
		case PARSE_INVALID_API_KEY:
		case PARSE_INVALID_CALL:
		case PARSE_DEMO_KEY:
		case PARSE_THROTTLED:
		case PARSE_DAILY_QUOTA:
		case PARSE_PREMIUM_ONLY:
		case PARSE_NOTICE:
			set_reason(reason, "the provider answered \"%s\": %.180s", answer->key, answer->text);
			break;
		case PARSE_OTHER_SERIES:
			set_reason(reason, "the body holds \"%.80s\", not \"%s\"", answer->text, format->data_key);
			break;
		case PARSE_NO_DATA:
			set_reason(reason, "no \"%s\" in the body", format->data_key);
			break;
		case PARSE_WRONG_SYMBOL:
			if (answer->has_text)
				set_reason(reason, "%s \"%.40s\", expected \"%.40s\"", format->named_as,
						   answer->text, expected_symbol);
			else
				set_reason(reason, "%s \"(no symbol in %s)\", expected \"%.40s\"", format->named_as,
						   format->symbol_object ? format->symbol_object : "the body",
						   expected_symbol);
			break;
	}
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

/* Strict YYYY-MM-DD. */
static int
parse_date(const char *text, ParseDate *date)
{
	if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char) text[i]))
			return -1;
	date->year = atoi(text);
	date->month = atoi(text + 5);
	date->day = atoi(text + 8);
	if (date->year < 1 || date->month < 1 || date->month > 12 ||
		date->day < 1 || date->day > days_in_month(date->year, date->month))
		return -1;
	return 0;
}

/* Days since 1970-01-01 of a valid date (proleptic Gregorian). */
static long
day_number(const ParseDate *d)
{
	int			y = d->year - (d->month <= 2);
	long		era = y / 400;
	int			yoe = y - era * 400;
	int			doy = (153 * (d->month + (d->month > 2 ? -3 : 9)) + 2) / 5 + d->day - 1;
	int			doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static int
compare_rows(const void *a, const void *b)
{
	long		da = day_number(&((const WeeklyRow *) a)->week_ending);
	long		db = day_number(&((const WeeklyRow *) b)->week_ending);

	return (da > db) - (da < db);
}

static int
parse_volume(const char *text, int64_t *volume)
{
	int64_t		v = 0;
	const char *p = text;

	if (*p == '\0')
		return -1;
	for (; *p; p++)
	{
		int			digit = *p - '0';

		if (!isdigit((unsigned char) *p) || v > (INT64_MAX - digit) / 10)
			return -1;
		v = v * 10 + digit;
	}
	*volume = v;
	return 0;
}

/* A decimal string (already checked) as digits and scale if it fits 18 digits; scale -1 if not. */
static void
split_decimal(const char *text, int64_t *digits, signed char *scale)
{
	const char *p = text;
	int64_t		value = 0;
	int			ndigits = 0;
	int			decimals = -1;
	int			negative = (*p == '-');

	if (negative)
		p++;
	for (; *p; p++)
	{
		if (*p == '.')
			decimals = 0;
		else if (ndigits == 18)
		{
			*scale = -1;
			return;
		}
		else
		{
			value = value * 10 + (*p - '0');
			ndigits++;
			if (decimals >= 0)
				decimals++;
		}
	}
	*digits = negative ? -value : value;
	*scale = (signed char) (decimals < 0 ? 0 : decimals);
}

/*
 * Why a decimal number (already checked to be one) cannot be a price, or
 * NULL: a price is not negative, has a bounded number of digits, and is
 * not zero unless zero_allowed.
 */
static const char *
price_problem(const char *text, int zero_allowed)
{
	const char *p = text;
	size_t		integer_digits = 0;
	size_t		fraction_digits = 0;
	int			nonzero = 0;

	if (*p == '-')
		return "is negative";
	for (; *p && *p != '.'; p++, integer_digits++)
		nonzero |= (*p != '0');
	if (*p == '.')
		for (p++; *p; p++, fraction_digits++)
			nonzero |= (*p != '0');
	if (integer_digits > PARSE_MAX_INTEGER_DIGITS)
		return "has more than " STRINGIFY(PARSE_MAX_INTEGER_DIGITS) " digits before the decimal point";
	if (fraction_digits > PARSE_MAX_FRACTION_DIGITS)
		return "has more than " STRINGIFY(PARSE_MAX_FRACTION_DIGITS) " digits after the decimal point";
	if (!nonzero && !zero_allowed)
		return "is zero";
	return NULL;
}

static int
parse_week(const char *key, json_t *bar, WeeklyRow *row, char *reason)
{
	const char *values[7];

	if (parse_date(key, &row->week_ending) != 0)
	{
		set_reason(reason, "bad date key \"%.40s\"", key);
		return -1;
	}
	if (row->week_ending.year < PARSE_FIRST_YEAR)
	{
		set_reason(reason, "week %s is before %d-01-01, the first week stockelt accepts",
				   key, PARSE_FIRST_YEAR);
		return -1;
	}
	if (!json_is_object(bar))
	{
		set_reason(reason, "week %s is not an object", key);
		return -1;
	}
	for (int i = 0; i < 7; i++)
	{
		json_t	   *value = json_object_get(bar, weekly_fields[i]);

		values[i] = json_string_value(value);
		if (values[i] == NULL)
		{
			set_reason(reason, "week %s has no string \"%s\"", key, weekly_fields[i]);
			return -1;
		}
		if (strlen(values[i]) != json_string_length(value))
		{
			set_reason(reason, "week %s: \"%s\" contains a NUL character", key, weekly_fields[i]);
			return -1;
		}
		if (!parse_is_decimal(values[i]))
		{
			set_reason(reason, "week %s: \"%s\" is not a decimal number: \"%.40s\"",
					   key, weekly_fields[i], values[i]);
			return -1;
		}
	}
	for (int i = 0; i < 7; i++)
	{
		/* Raw prices are never zero; a restated adjusted close may round to it. */
		const char *problem = i == 5 ? NULL : price_problem(values[i], i >= 4);

		if (problem != NULL)
		{
			set_reason(reason, "week %s: \"%s\" %s: \"%.40s%s\"", key, weekly_fields[i], problem,
					   values[i], strlen(values[i]) > 40 ? "..." : "");
			return -1;
		}
	}
	if (values[5][0] == '-')
	{
		set_reason(reason, "week %s: negative volume %.40s", key, values[5]);
		return -1;
	}
	if (parse_volume(values[5], &row->volume) != 0)
	{
		set_reason(reason, "week %s: volume is not a whole number in range: \"%.40s\"", key, values[5]);
		return -1;
	}
	/* The strings stay in the parsed tree, which the series owns. */
	row->open = values[0];
	row->high = values[1];
	row->low = values[2];
	row->close = values[3];
	row->adjusted_close = values[4];
	row->dividend_amount = values[6];
	for (int i = 0; i < WEEKLY_PRICES; i++)
		split_decimal(values[i < 5 ? i : 6], &row->price_digits[i], &row->price_scale[i]);
	return 0;
}

/* The symbol and date Meta Data names (classify_object has compared the symbol). */
static int
copy_meta_data(json_t *root, WeeklySeries *out, char *reason)
{
	json_t	   *meta = json_object_get(root, "Meta Data");
	const char *named = json_string_value(json_object_get(meta, "2. Symbol"));
	const char *refreshed = json_string_value(json_object_get(meta, "3. Last Refreshed"));

	out->symbol = strdup(named ? named : "");
	out->last_refreshed = strdup(refreshed ? refreshed : "");
	if (out->symbol == NULL || out->last_refreshed == NULL)
	{
		set_reason(reason, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Rows sorted oldest first.  Every key is kept, two in one calendar week too
 * (a Toronto listing has the Monday before Christmas and the Friday): the
 * grain is the provider's key.  The same key twice is refused by the JSON
 * parser already; this check keeps the rows strictly increasing regardless.
 */
static int
order_weeks(WeeklySeries *out, char *reason)
{
	qsort(out->rows, out->nrows, sizeof(WeeklyRow), compare_rows);
	for (size_t i = 1; i < out->nrows; i++)
	{
		const ParseDate *a = &out->rows[i - 1].week_ending;
		const ParseDate *b = &out->rows[i].week_ending;

		if (day_number(a) == day_number(b))
		{
			set_reason(reason, "duplicate key: %04d-%02d-%02d", a->year, a->month, a->day);
			return -1;
		}
	}
	return 0;
}

/* "HH:MM:SS" or "HH:MM" as seconds into the day, or -1. */
static long
parse_time_of_day(const char *text)
{
	int			h, m, s = 0;
	size_t		len = strlen(text);

	if ((len != 5 && len != 8) || !isdigit((unsigned char) text[0]) ||
		!isdigit((unsigned char) text[1]) || text[2] != ':' ||
		!isdigit((unsigned char) text[3]) || !isdigit((unsigned char) text[4]))
		return -1;
	if (len == 8 && (text[5] != ':' || !isdigit((unsigned char) text[6]) ||
					 !isdigit((unsigned char) text[7])))
		return -1;
	h = (text[0] - '0') * 10 + text[1] - '0';
	m = (text[3] - '0') * 10 + text[4] - '0';
	if (len == 8)
		s = (text[6] - '0') * 10 + text[7] - '0';
	if (h > 23 || m > 59 || s > 59)
		return -1;
	return h * 3600L + m * 60L + s;
}

/*
 * The data's own date: "3. Last Refreshed" (a date, or a date and a time),
 * and never before the newest week; the newest week alone when Meta Data has
 * no date stockelt reads.
 */
static void
set_as_of(WeeklySeries *out)
{
	const char *text = out->last_refreshed;
	const ParseDate *newest = &out->rows[out->nrows - 1].week_ending;
	long long	newest_seconds = day_number(newest) * 86400LL;
	char		date_part[11];
	ParseDate	date;
	long		seconds = 0;

	out->as_of = newest_seconds;
	if (text == NULL || strlen(text) < 10)
		return;
	memcpy(date_part, text, 10);
	date_part[10] = '\0';
	if (parse_date(date_part, &date) != 0)
		return;
	if (text[10] != '\0' && (text[10] != ' ' || (seconds = parse_time_of_day(text + 11)) < 0))
		return;
	if (day_number(&date) * 86400LL + seconds > newest_seconds)
		out->as_of = day_number(&date) * 86400LL + seconds;
}

static int
fill_weekly(json_t *root, const char *expected, WeeklySeries *out, char *reason)
{
	json_t	   *series = json_object_get(root, WEEKLY_SERIES_KEY);
	const char *key;
	json_t	   *bar;
	ParseAnswer answer;

	classify_object(root, &parse_weekly_format, expected, &answer);
	if (answer.verdict != PARSE_DATA)
	{
		parse_explain(&answer, &parse_weekly_format, expected, reason);
		return -1;
	}
	if (copy_meta_data(root, out, reason) != 0)
		return -1;
	if (!json_is_object(series) || json_object_size(series) == 0)
	{
		set_reason(reason, "\"%s\" is empty", WEEKLY_SERIES_KEY);
		return -1;
	}
	out->rows = calloc(json_object_size(series), sizeof(WeeklyRow));
	if (out->rows == NULL)
	{
		set_reason(reason, "out of memory");
		return -1;
	}
	json_object_foreach(series, key, bar)
	{
		if (parse_week(key, bar, &out->rows[out->nrows], reason) != 0)
			return -1;
		out->nrows++;
	}
	if (order_weeks(out, reason) != 0)
		return -1;
	set_as_of(out);
	return 0;
}

int
parse_weekly_adjusted(const char *body, size_t len, const char *expected_symbol,
					  WeeklySeries *out, char *reason)
{
	ParsedTree *tree;

	memset(out, 0, sizeof(*out));
	reason[0] = '\0';
	if ((tree = calloc(1, sizeof(ParsedTree))) == NULL)
	{
		set_reason(reason, "out of memory");
		return -1;
	}
	if (load_stored_object(body, len, tree, reason) != 0)
	{
		free(tree);
		return -1;
	}
	out->tree = tree;
	if (fill_weekly(tree->root, expected_symbol, out, reason) != 0)
	{
		weekly_series_free(out);
		return -1;
	}
	return 0;
}

void
weekly_series_free(WeeklySeries *series)
{
	if (series->tree != NULL)
	{
		release_tree((ParsedTree *) series->tree);
		free(series->tree);
	}
	free(series->symbol);
	free(series->last_refreshed);
	free(series->rows);
	memset(series, 0, sizeof(*series));
}

/* "None", "null", "-" and "" mean the provider does not know: NULL. */
static int
copy_known(json_t *obj, const char *field, char **dst)
{
	const char *text = json_string_value(json_object_get(obj, field));

	*dst = NULL;
	if (text == NULL || text[0] == '\0' || strcmp(text, "None") == 0 ||
		strcmp(text, "null") == 0 || strcmp(text, "-") == 0)
		return 0;
	*dst = strdup(text);
	return *dst ? 0 : -1;
}

static void
symbol_info_free(SymbolInfo *info)
{
	char	  **fields[] = {&info->symbol, &info->name, &info->asset_type, &info->exchange,
		&info->region, &info->country, &info->currency, &info->timezone,
		&info->market_open, &info->market_close, &info->sector, &info->industry,
	&info->match_score};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
	{
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

void
symbol_list_free(SymbolList *list)
{
	for (size_t i = 0; i < list->count; i++)
		symbol_info_free(&list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static int
fill_overview(json_t *root, const char *expected, SymbolInfo *info, char *reason)
{
	ParseAnswer answer;

	classify_object(root, &parse_overview_format, expected, &answer);
	if (answer.verdict != PARSE_DATA)
	{
		parse_explain(&answer, &parse_overview_format, expected, reason);
		return -1;
	}
	if (copy_known(root, "Symbol", &info->symbol) || copy_known(root, "Name", &info->name) ||
		copy_known(root, "AssetType", &info->asset_type) ||
		copy_known(root, "Exchange", &info->exchange) ||
		copy_known(root, "Country", &info->country) ||
		copy_known(root, "Currency", &info->currency) ||
		copy_known(root, "Sector", &info->sector) ||
		copy_known(root, "Industry", &info->industry))
	{
		set_reason(reason, "out of memory");
		return -1;
	}
	if (info->symbol == NULL)
	{
		set_reason(reason, "\"Symbol\" is empty");
		return -1;
	}
	return 0;
}

int
parse_overview(const char *body, size_t len, const char *expected_symbol,
			   SymbolList *out, char *reason)
{
	ParsedTree	tree;
	json_t	   *root;
	int			rc = -1;

	memset(out, 0, sizeof(*out));
	reason[0] = '\0';
	if (load_stored_object(body, len, &tree, reason) != 0)
		return -1;
	root = tree.root;
	out->items = calloc(1, sizeof(SymbolInfo));
	if (out->items == NULL)
		set_reason(reason, "out of memory");
	else
	{
		out->count = 1;
		rc = fill_overview(root, expected_symbol, &out->items[0], reason);
	}
	release_tree(&tree);
	if (rc != 0)
		symbol_list_free(out);
	return rc;
}

static int
fill_match(json_t *match, SymbolInfo *info, size_t index, char *reason)
{
	if (!json_is_object(match))
	{
		set_reason(reason, "match %zu is not an object", index);
		return -1;
	}
	if (copy_known(match, "1. symbol", &info->symbol) || copy_known(match, "2. name", &info->name) ||
		copy_known(match, "3. type", &info->asset_type) ||
		copy_known(match, "4. region", &info->region) ||
		copy_known(match, "5. marketOpen", &info->market_open) ||
		copy_known(match, "6. marketClose", &info->market_close) ||
		copy_known(match, "7. timezone", &info->timezone) ||
		copy_known(match, "8. currency", &info->currency) ||
		copy_known(match, "9. matchScore", &info->match_score))
	{
		set_reason(reason, "out of memory");
		return -1;
	}
	if (info->symbol == NULL)
	{
		set_reason(reason, "match %zu has no \"1. symbol\"", index);
		return -1;
	}
	if (info->match_score != NULL && !parse_is_decimal(info->match_score))
	{
		set_reason(reason, "match %zu: \"9. matchScore\" is not a decimal number: \"%.40s\"",
				   index, info->match_score);
		return -1;
	}
	return 0;
}

int
parse_symbol_search(const char *body, size_t len, SymbolList *out, char *reason)
{
	ParsedTree	tree;
	json_t	   *root;
	json_t	   *matches;
	int			rc = 0;
	ParseAnswer answer;

	memset(out, 0, sizeof(*out));
	reason[0] = '\0';
	if (load_stored_object(body, len, &tree, reason) != 0)
		return -1;
	root = tree.root;
	matches = json_object_get(root, parse_search_format.data_key);
	classify_object(root, &parse_search_format, NULL, &answer);
	if (answer.verdict != PARSE_DATA)
	{
		parse_explain(&answer, &parse_search_format, NULL, reason);
		rc = -1;
	}
	else if (!json_is_array(matches))
	{
		set_reason(reason, "\"%s\" is not an array", parse_search_format.data_key);
		rc = -1;
	}
	else if (json_array_size(matches) > 0 &&
			 (out->items = calloc(json_array_size(matches), sizeof(SymbolInfo))) == NULL)
	{
		set_reason(reason, "out of memory");
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(matches); i++)
	{
		out->count = i + 1;
		rc = fill_match(json_array_get(matches, i), &out->items[i], i + 1, reason);
	}
	release_tree(&tree);
	if (rc != 0)
		symbol_list_free(out);
	return rc;
}

