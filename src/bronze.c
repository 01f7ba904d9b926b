/*
 * bronze.c
 *		The bronze store (a table of the database, or S3), its catalog and the
 *		layout of object keys: the only code that reads or writes bronze.
 *
 * Keys are Hive-style so that lake engines can read them:
 *   [prefix/]alphavantage/<function>/symbol=<SYMBOL>/fetched=<UTC timestamp>.json
 * (keywords=<percent-encoded keywords> for SYMBOL_SEARCH).  Objects are
 * immutable: one per fetch, never overwritten.  This file builds keys and is
 * the one parser of them: a key that is not in the catalog reaches S3 only if
 * it parses as the layout under the configured prefix, so a caller cannot name
 * another application's objects, another bucket (through "../") or a query.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/toast_compression.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "settings.h"
#include "alphavantage.h"
#include "bronze.h"
#include "cluster.h"
#include "http.h"
#include "s3.h"
#include "sha256.h"

PG_FUNCTION_INFO_V1(stockelt_bronze_read);
PG_FUNCTION_INFO_V1(stockelt_bronze_list);

#define LAYOUT_ROOT "alphavantage"
#define LAYOUT_HINT "Bronze keys are [stockelt.s3_prefix/]alphavantage/<function>/symbol=<SYMBOL>/" \
	"fetched=<YYYYMMDDTHHMMSS.ffffffZ>.json (keywords=<keywords> for symbol_search)."

/* S3 refuses longer keys. */
#define BRONZE_MAX_KEY_LEN 1024

/* What a key of stockelt's layout says about its object. */
typedef struct BronzeKey
{
	char	   *prefix;			/* before "alphavantage/", without the slash; "" if none */
	char	   *api_function;	/* e.g. "TIME_SERIES_WEEKLY_ADJUSTED" */
	char	   *argument;		/* the symbol, or the search keywords unescaped */
	TimestampTz fetched_at;
} BronzeKey;

/* The API functions whose objects the layout holds, each under its partition. */
static const AvFunction *const layout_functions[] = {
	&av_weekly_adjusted, &av_overview, &av_symbol_search
};

/* A key as messages show it: printable ASCII only, and not too long to read. */
static char *
key_for_message(const char *key)
{
	StringInfoData out;
	size_t		len = strlen(key);

	initStringInfo(&out);
	for (size_t i = 0; i < len && i < 120; i++)
		appendStringInfoChar(&out, (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?');
	if (len > 120)
		appendStringInfoString(&out, "...");
	return out.data;
}

/*
 * Why a path segment of a prefix cannot be used, or NULL.  Segments are
 * never empty, "." or "..", and have no character that a server or client
 * could read as a separator, a query, a fragment or an escape.
 */
static char *
bad_prefix_segment(const char *segment, size_t len)
{
	if (len == 0)
		return "it has an empty segment (a leading, doubled or lone \"/\")";
	if ((len == 1 && segment[0] == '.') || (len == 2 && segment[0] == '.' && segment[1] == '.'))
		return psprintf("it has a \"%.*s\" segment", (int) len, segment);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) segment[i];

		if (c < 0x20 || c == 0x7f)
			return "it has a control character";
		if (c == '\\' || c == '?' || c == '#' || c == '%')
			return psprintf("it has the character \"%c\"", c);
	}
	return NULL;
}

/* Why a prefix (without trailing slashes) cannot be used, or NULL. */
static char *
bad_prefix(const char *prefix, size_t len)
{
	size_t		start = 0;

	if (len == 0)
		return NULL;
	for (size_t i = 0; i <= len; i++)
	{
		if (i == len || prefix[i] == '/')
		{
			char	   *why = bad_prefix_segment(prefix + start, i - start);

			if (why)
				return why;
			start = i + 1;
		}
	}
	return NULL;
}

/* The configured S3 prefix without trailing slashes ("" on the table store); raises if unusable. */
static const char *
bronze_prefix(void)
{
	const char *prefix = s3_configured() ? stockelt_s3_prefix : "";
	size_t		len = prefix ? strlen(prefix) : 0;
	char	   *why;

	while (len > 0 && prefix[len - 1] == '/')
		len--;
	if ((why = bad_prefix(prefix, len)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stockelt.s3_prefix \"%s\" cannot be used as a key prefix",
						key_for_message(prefix)),
				 errdetail("The prefix is not usable because %s.", why),
				 errhint("Use names separated by single slashes, without \".\" or \"..\" names, "
						 "control characters, \"\\\", \"?\", \"#\" or \"%%\".")));
	return pnstrdup(prefix, len);
}

static bool
is_symbol_char(char c)
{
	/* What av_validate_symbol accepts, upper-cased as every caller stores it. */
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(".-^=:_", c) != NULL;
}

static bool
is_unreserved(char c)
{
	/* What http_escape leaves as it is; everything else it writes as %XX. */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;				/* http_escape writes upper-case hex only */
}

/* The symbol of "symbol=<SYMBOL>", or NULL with the reason. */
static char *
parse_symbol_value(const char *value, size_t len, char **reason)
{
	if (len == 0 || len > 32)
	{
		*reason = "the symbol does not have 1 to 32 characters";
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
	{
		if (!is_symbol_char(value[i]))
		{
			*reason = "the symbol has a character other than upper-case letters, digits and . - ^ = : _";
			return NULL;
		}
	}
	return pnstrdup(value, len);
}

/*
 * The keywords of "keywords=<escaped>", or NULL with the reason.  Only the
 * form http_escape writes is accepted (each byte either unreserved or %XX with
 * upper-case hex, never an unreserved one escaped), so one set of keywords has
 * exactly one key.
 */
static char *
parse_keywords_value(const char *value, size_t len, char **reason)
{
	StringInfoData out;

	initStringInfo(&out);
	for (size_t i = 0; i < len; i++)
	{
		if (is_unreserved(value[i]))
			appendStringInfoChar(&out, value[i]);
		else if (value[i] == '%' && i + 2 < len &&
				 hex_value(value[i + 1]) >= 0 && hex_value(value[i + 2]) >= 0)
		{
			char		c = (char) (hex_value(value[i + 1]) * 16 + hex_value(value[i + 2]));

			if (is_unreserved(c) || (unsigned char) c < 0x20 || c == 0x7f)
			{
				*reason = "the keywords are not escaped as stockelt escapes them";
				return NULL;
			}
			appendStringInfoChar(&out, c);
			i += 2;
		}
		else
		{
			*reason = "the keywords are not escaped as stockelt escapes them";
			return NULL;
		}
	}
	if (out.len == 0 || out.len > 64)
	{
		*reason = "the keywords do not have 1 to 64 characters";
		return NULL;
	}
	return out.data;
}

/* "fetched=YYYYMMDDTHHMMSS.ffffffZ.json" as a time, or false with the reason. */
/* The last name of a key: 9 stands for a digit. */
static const char fetched_shape[] = "fetched=99999999T999999.999999Z.json";

static bool
parse_fetched(const char *segment, size_t len, TimestampTz *fetched_at, char **reason)
{
	const char *shape = fetched_shape;
	struct pg_tm tm = {0};
	int			usec;
	const char *p = segment + strlen("fetched=");

	if (len != strlen(fetched_shape))
	{
		*reason = "the last name is not fetched=<YYYYMMDDTHHMMSS.ffffffZ>.json";
		return false;
	}
	for (size_t i = 0; i < len; i++)
	{
		if (shape[i] == '9' ? !(segment[i] >= '0' && segment[i] <= '9') : segment[i] != shape[i])
		{
			*reason = "the last name is not fetched=<YYYYMMDDTHHMMSS.ffffffZ>.json";
			return false;
		}
	}
	sscanf(p, "%4d%2d%2dT%2d%2d%2d.%6d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &usec);
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59 ||
		tm2timestamp(&tm, usec, NULL, fetched_at) != 0)
	{
		*reason = "the fetch time is not a valid UTC time since 1970";
		return false;
	}
	return true;
}

/*
 * Parses a key of the layout [prefix/]alphavantage/<function>/<partition>=<value>/
 * fetched=<YYYYMMDDTHHMMSS.ffffffZ>.json; false with the reason if it is not
 * one.  Any usable prefix is accepted: compare it with bronze_prefix().
 */
static bool
bronze_parse_key(const char *key, BronzeKey *parsed, char **reason)
{
	size_t		len = strlen(key);
	const char *seg[4];			/* the layout's four names, after the prefix */
	size_t		seglen[4];
	const char *end = key + len;
	const AvFunction *fn = NULL;
	size_t		plen;
	char	   *why;

	memset(parsed, 0, sizeof(*parsed));
	if (len > BRONZE_MAX_KEY_LEN)
	{
		*reason = psprintf("the key is longer than %d bytes", BRONZE_MAX_KEY_LEN);
		return false;
	}
	/* The layout is the last four names; what comes before them is the prefix. */
	for (int i = 3; i >= 0; i--)
	{
		const char *start = end;

		while (start > key && start[-1] != '/')
			start--;
		if (i > 0 && start == key)
		{
			*reason = "the key does not have the layout's four names";
			return false;
		}
		seg[i] = start;
		seglen[i] = end - start;
		end = start - 1;
	}
	plen = seg[0] > key ? (size_t) (seg[0] - key - 1) : 0;
	if (seg[0] > key && (why = bad_prefix(key, plen)) != NULL)
	{
		*reason = psprintf("the prefix before \"%s/\" is not usable: %s", LAYOUT_ROOT, why);
		return false;
	}
	if (seglen[0] != strlen(LAYOUT_ROOT) || strncmp(seg[0], LAYOUT_ROOT, seglen[0]) != 0)
	{
		*reason = "the key is not under \"" LAYOUT_ROOT "/\"";
		return false;
	}
	for (size_t i = 0; i < lengthof(layout_functions); i++)
	{
		const char *name = layout_functions[i]->name;

		/* lower case, as object_key writes it */
		if (seglen[1] == strlen(name) &&
			strncmp(seg[1], asc_tolower(name, strlen(name)), seglen[1]) == 0)
			fn = layout_functions[i];
	}
	if (fn == NULL)
	{
		*reason = "the second name is not time_series_weekly_adjusted, overview or symbol_search";
		return false;
	}
	{
		size_t		nlen = strlen(fn->argument);

		if (seglen[2] <= nlen || strncmp(seg[2], fn->argument, nlen) != 0 || seg[2][nlen] != '=')
		{
			*reason = psprintf("the third name is not %s=<%s>", fn->argument, fn->argument);
			return false;
		}
		parsed->argument = strcmp(fn->argument, "symbol") == 0 ?
			parse_symbol_value(seg[2] + nlen + 1, seglen[2] - nlen - 1, reason) :
			parse_keywords_value(seg[2] + nlen + 1, seglen[2] - nlen - 1, reason);
		if (parsed->argument == NULL)
			return false;
	}
	if (!parse_fetched(seg[3], seglen[3], &parsed->fetched_at, reason))
		return false;
	parsed->prefix = pnstrdup(key, plen);
	parsed->api_function = pstrdup(fn->name);
	return true;
}

/*
 * Raises an error (22023) unless a key is of the layout and under the
 * configured prefix: the only keys stockelt reads that are not in its catalog.
 */
static void
bronze_require_own_key(const char *key, BronzeKey *parsed)
{
	char	   *reason;
	const char *prefix;

	if (!bronze_parse_key(key, parsed, &reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a bronze key of stockelt", key_for_message(key)),
				 errdetail("It is not in stockelt.bronze_objects, and %s.", reason),
				 errhint(LAYOUT_HINT)));
	prefix = bronze_prefix();
	if (strcmp(parsed->prefix, prefix) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a bronze key of stockelt", key_for_message(key)),
				 prefix[0] ?
				 errdetail("It is not in stockelt.bronze_objects, and it is not under "
						   "the configured prefix \"%s/\".", prefix) :
				 errdetail("It is not in stockelt.bronze_objects, and it has the prefix \"%s/\" "
						   "while stockelt.s3_prefix is empty.", key_for_message(parsed->prefix)),
				 errhint(LAYOUT_HINT)));
}

static char *
object_key(const char *api_function, const char *partition, const char *value,
		   TimestampTz fetched_at)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char	   *function = asc_tolower(api_function, strlen(api_function));
	const char *prefix = bronze_prefix();
	char	   *key;
	BronzeKey	parsed;
	char	   *reason;

	if (timestamp2tm(fetched_at, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	key = psprintf("%s%s" LAYOUT_ROOT "/%s/%s=%s/fetched=%04d%02d%02dT%02d%02d%02d.%06dZ.json",
				   prefix, prefix[0] ? "/" : "", function, partition, value,
				   tm.tm_year, tm.tm_mon, tm.tm_mday,
				   tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	/* What stockelt writes, it can read back as its own. */
	if (!bronze_parse_key(key, &parsed, &reason))
		elog(ERROR, "bronze key \"%s\" does not follow the layout: %s", key, reason);
	return key;
}

void
bronze_require_s3(void)
{
	s3_require_configuration();
}

void
bronze_check_store(void)
{
	if (s3_configured())
	{
		(void) bronze_prefix();
		s3_check_bucket();
	}
}

static void
insert_catalog_row(const char *key, const char *partition, const char *value,
				   const char *api_function, TimestampTz fetched_at, size_t len,
				   const char *sha256, const char *etag)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		on_s3 = s3_configured();
	bool		is_symbol = strcmp(partition, "symbol") == 0;

	values[0] = CStringGetTextDatum(key);
	values[1] = CStringGetTextDatum(value);
	values[8] = CStringGetTextDatum(value);
	nulls[is_symbol ? 8 : 1] = 'n';
	values[2] = CStringGetTextDatum(api_function);
	values[3] = TimestampTzGetDatum(fetched_at);
	values[4] = Int64GetDatum((int64) len);
	values[5] = CStringGetTextDatum(sha256);
	values[6] = on_s3 ? CStringGetTextDatum(stockelt_s3_bucket) : (Datum) 0;
	values[7] = (on_s3 && etag) ? CStringGetTextDatum(etag) : (Datum) 0;
	if (!on_s3)
		nulls[6] = 'n';
	if (!on_s3 || etag == NULL)
		nulls[7] = 'n';

	if (SPI_execute_with_args("INSERT INTO stockelt.bronze_objects "
							  "(key, symbol, keywords, api_function, fetched_at, size_bytes, sha256, store, s3_bucket, s3_etag) "
							  "VALUES ($1, $2, $9, $3, $4, $5, $6, "
							  "CASE WHEN $7 IS NULL THEN 'table' ELSE 's3' END, $7, $8)",
							  9, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record bronze object \"%s\"", key);
}

static void
insert_body(const char *key, const char *data, size_t len)
{
	Oid			types[2] = {TEXTOID, BYTEAOID};
	Datum		values[2];
	bytea	   *body = palloc(VARHDRSZ + len);

	SET_VARSIZE(body, VARHDRSZ + len);
	memcpy(VARDATA(body), data, len);
	values[0] = CStringGetTextDatum(key);
	values[1] = PointerGetDatum(body);
	if (SPI_execute_with_args("INSERT INTO stockelt.bronze_bodies (key, body) VALUES ($1, $2)",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store bronze object \"%s\"", key);
}

char *
bronze_store(const char *api_function, const char *partition, const char *value,
			 TimestampTz fetched_at, const char *data, size_t len)
{
	char	   *key = object_key(api_function, partition,
								 strcmp(partition, "symbol") == 0 ? value : http_escape(value, false),
								 fetched_at);
	char		sha256[SHA256_HEX_LEN];
	char	   *etag = NULL;

	cluster_require_coordinator();
	if (!sha256_hex(data, len, sha256))
		elog(ERROR, "could not compute SHA-256");
	if (s3_configured())
	{
		/* Objects are immutable: never replace one that is already there. */
		if (s3_head(key))
			ereport(ERROR,
					(errcode(ERRCODE_STOCKELT_OBJECT_EXISTS),
					 errmsg("bronze object \"%s\" already exists in S3", key)));
		etag = s3_put(key, data, len, "application/json");
	}

	SPI_connect();
	insert_catalog_row(key, partition, value, api_function, fetched_at, len, sha256, etag);
	if (!s3_configured())
		insert_body(key, data, len);
	SPI_finish();
	return key;
}

void
bronze_verify(const char *key, const StringInfoData *body, const char *sha256)
{
	char		actual[SHA256_HEX_LEN];

	if (!sha256_hex(body->data, body->len, actual))
		elog(ERROR, "could not compute SHA-256");
	if (strcmp(actual, sha256) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("bronze object \"%s\" does not match its catalog checksum", key),
				 errdetail("Catalog SHA-256 %s, object SHA-256 %s.", sha256, actual)));
}

/*
 * A body the table store holds, into obj->body in the current memory
 * context.  With BRONZE_RAW, a body that PostgreSQL keeps lz4-compressed out
 * of line is fetched as it is stored, a fifth of the bytes, and left in
 * obj->compressed for the caller to decompress into obj->body.data, which is
 * allocated here; anything else is detoasted whole, with no second copy.
 */
static void
take_table_body(struct varlena *stored, int flags, BronzeObject *obj)
{
	struct varlena *fetched = VARATT_IS_EXTERNAL(stored) ? detoast_external_attr(stored) : NULL;
	StringInfo	body = &obj->body;

	if ((flags & BRONZE_RAW) && fetched != NULL && VARATT_IS_COMPRESSED(fetched) &&
		VARDATA_COMPRESSED_GET_COMPRESS_METHOD(fetched) == TOAST_LZ4_COMPRESSION_ID)
	{
		obj->compressed = fetched;
		body->len = body->maxlen = VARDATA_COMPRESSED_GET_EXTSIZE(fetched);
		body->data = palloc(body->len + 1);
		body->cursor = 0;
		return;
	}
	{
		bytea	   *copy = (bytea *) pg_detoast_datum_copy(fetched ? fetched : stored);

		body->data = VARDATA(copy);
		body->len = body->maxlen = VARSIZE(copy) - VARHDRSZ;
		body->cursor = 0;
	}
}

/*
 * The plan of sql, prepared at the first call and kept for the life of the
 * backend in *plan (the plan cache replans it when tables change).  Inside
 * SPI_connect.  Bronze's look-ups and ingest's applied check use it.
 */
SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, types);

		if (prepared == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	return *plan;
}

/*
 * The catalog row of obj->key and, from the table store, its body, in one
 * look-up through a plan kept for the life of the backend.  A table body
 * larger than max_size (when not negative) is not read: its size is set, and
 * *too_large.  False if the key is not cataloged.
 */
static bool
read_catalog(int flags, int64 max_size, BronzeObject *obj, bool *too_large)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {CStringGetTextDatum(obj->key), BoolGetDatum((flags & BRONZE_FROM_S3) != 0)};
	MemoryContext caller = CurrentMemoryContext;
	bool		found = false;

	SPI_connect();
	kept_plan(&plan,
			  "SELECT o.api_function, coalesce(o.symbol, o.keywords), o.fetched_at, "
			  "       o.store, o.sha256, o.size_bytes, CASE WHEN NOT $2 THEN b.body END "
			  "  FROM stockelt.bronze_objects o "
			  "  LEFT JOIN stockelt.bronze_bodies b ON b.key = o.key "
			  " WHERE o.key = $1", 2, types);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up bronze object \"%s\"", obj->key);
	if (SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		found = true;
		obj->api_function = pstrdup(SPI_getvalue(row, desc, 1));
		obj->argument = pstrdup(SPI_getvalue(row, desc, 2));
		obj->fetched_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull));
		obj->store = pstrdup(SPI_getvalue(row, desc, 4));
		obj->sha256 = pstrdup(SPI_getvalue(row, desc, 5));
		obj->size = DatumGetInt64(SPI_getbinval(row, desc, 6, &isnull));
		d = SPI_getbinval(row, desc, 7, &isnull);
		if (!isnull)
		{
			int64		stored_size = (int64) toast_raw_datum_size(d) - VARHDRSZ;

			*too_large = max_size >= 0 && stored_size > max_size;
			if (*too_large)
				obj->size = stored_size;
			else
				take_table_body((struct varlena *) DatumGetPointer(d), flags, obj);
		}
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return found;
}

/* Not cataloged (written to S3 by another client): the key says what it holds. */
static void
describe_by_key(BronzeObject *obj)
{
	BronzeKey	parsed;

	/* Only stockelt's layout, under its prefix, in its bucket. */
	bronze_require_own_key(obj->key, &parsed);
	obj->api_function = parsed.api_function;
	obj->argument = parsed.argument;
	obj->fetched_at = parsed.fetched_at;
	obj->store = s3_configured() ? "s3" : NULL;
}

bool
bronze_open(const char *key, int flags, int64 max_size, BronzeObject *obj)
{
	bool		too_large = false;

	memset(obj, 0, sizeof(*obj));
	obj->key = pstrdup(key);
	obj->size = -1;
	if (!read_catalog(flags, max_size, obj, &too_large))
		describe_by_key(obj);

	if ((flags & BRONZE_FROM_S3) || (obj->store != NULL && strcmp(obj->store, "s3") == 0))
	{
		if (max_size >= 0 && obj->size > max_size)
			return false;
		s3_get(key, &obj->body);
		if (max_size >= 0 && obj->body.len > max_size)
		{
			obj->size = obj->body.len;
			return false;
		}
	}
	else if (too_large)
		return false;
	else if (obj->body.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_STOCKELT_NO_SUCH_OBJECT),
				 errmsg("bronze object \"%s\" does not exist", key)));
	if (obj->sha256 != NULL && !(flags & BRONZE_RAW))
		bronze_verify(key, &obj->body, obj->sha256);
	return true;
}

List *
bronze_describe(List *keys)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTARRAYOID};
	Datum	   *elems = palloc(sizeof(Datum) * list_length(keys));
	Datum		values[1];
	MemoryContext caller = CurrentMemoryContext;
	List	   *described = NIL;
	int			n = 0;
	ListCell   *lc;

	foreach(lc, keys)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));

	SPI_connect();
	kept_plan(&plan,
			  "SELECT k.key, o.api_function, coalesce(o.symbol, o.keywords), o.fetched_at "
			  "  FROM unnest($1) WITH ORDINALITY AS k (key, n) "
			  "  LEFT JOIN stockelt.bronze_objects o ON o.key = k.key "
			  " ORDER BY k.n", 1, types);
	/* Not read-only: objects cataloged earlier in this statement are seen. */
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up bronze objects");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		BronzeObject *obj = palloc0(sizeof(BronzeObject));

		obj->key = pstrdup(SPI_getvalue(row, desc, 1));
		obj->size = -1;
		if (SPI_getvalue(row, desc, 2) == NULL)
			describe_by_key(obj);
		else
		{
			obj->api_function = pstrdup(SPI_getvalue(row, desc, 2));
			obj->argument = pstrdup(SPI_getvalue(row, desc, 3));
			obj->fetched_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 4, &isnull));
		}
		described = lappend(described, obj);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return described;
}

Datum
stockelt_bronze_read(PG_FUNCTION_ARGS)
{
	char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	BronzeObject obj;
	bytea	   *result;

	(void) bronze_open(key, 0, -1, &obj);
	result = palloc(VARHDRSZ + obj.body.len);
	SET_VARSIZE(result, VARHDRSZ + obj.body.len);
	memcpy(VARDATA(result), obj.body.data, obj.body.len);
	PG_RETURN_BYTEA_P(result);
}

static int
compare_by_fetch(const ListCell *a, const ListCell *b)
{
	const BronzeEntry *x = (const BronzeEntry *) lfirst(a);
	const BronzeEntry *y = (const BronzeEntry *) lfirst(b);
	const char *fx = strstr(x->key, "/fetched=");
	const char *fy = strstr(y->key, "/fetched=");
	int			c = strcmp(fx ? fx : "", fy ? fy : "");

	return c != 0 ? c : strcmp(x->key, y->key);
}

static List *
list_table_store(const char *prefix)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(prefix)};
	MemoryContext caller = CurrentMemoryContext;
	List	   *entries = NIL;

	SPI_connect();
	if (SPI_execute_with_args("SELECT key, size_bytes, api_function FROM stockelt.bronze_objects "
							  "WHERE store = 'table' AND starts_with(key, $1) ORDER BY key",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list bronze objects");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		BronzeEntry *entry = palloc(sizeof(BronzeEntry));

		entry->key = pstrdup(SPI_getvalue(row, SPI_tuptable->tupdesc, 1));
		entry->size = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
		entry->api_function = pstrdup(SPI_getvalue(row, SPI_tuptable->tupdesc, 3));
		entries = lappend(entries, entry);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return entries;
}

/* Whether a value could begin the value of a partition: a listing prefix may stop anywhere. */
static bool
could_begin_value(const AvFunction *fn, const char *value, size_t len)
{
	bool		symbol = strcmp(fn->argument, "symbol") == 0;

	if (len > (symbol ? 32 : 3 * 64))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (symbol ? !is_symbol_char(value[i]) : !(is_unreserved(value[i]) || value[i] == '%'))
			return false;
	}
	return true;
}

/*
 * Whether text (what a listing prefix has after the layout's root) could
 * begin a key of the layout: "<function>/<partition>=<value>/fetched=…",
 * cut anywhere.
 */
static bool
could_begin_layout(const char *text)
{
	const char *shape = fetched_shape;
	const char *slash1 = strchr(text, '/');
	const char *slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;
	size_t		flen = slash1 ? (size_t) (slash1 - text) : strlen(text);
	const AvFunction *fn = NULL;

	for (size_t i = 0; i < lengthof(layout_functions); i++)
	{
		const char *name = asc_tolower(layout_functions[i]->name, strlen(layout_functions[i]->name));

		if (slash1 ? (strlen(name) == flen && strncmp(text, name, flen) == 0) :
			strncmp(name, text, flen) == 0)
			fn = layout_functions[i];
	}
	if (fn == NULL)
		return false;
	if (slash1 != NULL)
	{
		const char *part = slash1 + 1;
		size_t		plen = slash2 ? (size_t) (slash2 - part) : strlen(part);
		size_t		nlen = strlen(fn->argument);

		if (plen <= nlen)
		{
			if (slash2 || strncmp(fn->argument, part, plen) != 0)
				return false;
		}
		else if (strncmp(part, fn->argument, nlen) != 0 || part[nlen] != '=' ||
				 !could_begin_value(fn, part + nlen + 1, plen - nlen - 1))
			return false;
		else if (slash2 != NULL)
		{
			/* A whole value is what a key would have. */
			char	   *reason;

			if ((strcmp(fn->argument, "symbol") == 0 ?
				 parse_symbol_value(part + nlen + 1, plen - nlen - 1, &reason) :
				 parse_keywords_value(part + nlen + 1, plen - nlen - 1, &reason)) == NULL)
				return false;
		}
	}
	if (slash2 != NULL)
	{
		const char *last = slash2 + 1;
		size_t		llen = strlen(last);

		TimestampTz fetched_at;
		char	   *reason;

		if (llen > strlen(fetched_shape))
			return false;
		for (size_t i = 0; i < llen; i++)
		{
			if (shape[i] == '9' ? !(last[i] >= '0' && last[i] <= '9') : last[i] != shape[i])
				return false;
		}
		if (llen == strlen(fetched_shape) && !parse_fetched(last, llen, &fetched_at, &reason))
			return false;
	}
	return true;
}

/*
 * What S3 is asked to list for a caller's prefix: the layout's root under the
 * configured prefix, or a narrower prefix that could begin a key of the
 * layout; anything else is refused before any request.
 */
static char *
s3_listing_prefix(const char *asked)
{
	const char *prefix = bronze_prefix();
	char	   *root = psprintf("%s%s" LAYOUT_ROOT "/", prefix, prefix[0] ? "/" : "");
	size_t		alen = strlen(asked);
	size_t		rlen = strlen(root);

	if (alen <= rlen && strncmp(root, asked, alen) == 0)
		return root;
	if (alen > BRONZE_MAX_KEY_LEN || strncmp(asked, root, rlen) != 0 ||
		!could_begin_layout(asked + rlen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prefix \"%s\" is outside stockelt's bronze keys", key_for_message(asked)),
				 errdetail("A prefix listed in S3 begins \"%s\" and could begin a key of the layout.",
						   root),
				 errhint(LAYOUT_HINT)));
	return pstrdup(asked);
}

List *
bronze_list(const char *prefix, bool oldest_fetch_first)
{
	List	   *entries = NIL;

	if (!s3_configured())
		entries = list_table_store(prefix);
	else
	{
		const char *own_prefix = bronze_prefix();
		ListCell   *lc;

		foreach(lc, s3_list(s3_listing_prefix(prefix)))
		{
			S3Object   *obj = (S3Object *) lfirst(lc);
			BronzeEntry *entry;
			BronzeKey	parsed;
			char	   *reason;

			/* Other objects under the prefix are not stockelt's to show. */
			if (!bronze_parse_key(obj->key, &parsed, &reason) ||
				strcmp(parsed.prefix, own_prefix) != 0)
				continue;
			entry = palloc(sizeof(BronzeEntry));
			entry->key = obj->key;
			entry->size = obj->size;
			entry->api_function = parsed.api_function;
			entries = lappend(entries, entry);
		}
	}
	if (oldest_fetch_first)
		list_sort(entries, compare_by_fetch);
	return entries;
}

Datum
stockelt_bronze_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *store = s3_configured() ? "s3" : "table";
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, bronze_list(prefix, false))
	{
		BronzeEntry *entry = (BronzeEntry *) lfirst(lc);
		Datum		row[3] = {CStringGetTextDatum(entry->key), Int64GetDatum(entry->size),
		CStringGetTextDatum(store)};
		bool		nulls[3] = {false, entry->size < 0, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	return (Datum) 0;
}
