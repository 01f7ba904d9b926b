/*
 * bronze.h
 *		The bronze store: raw response bodies, byte for byte, in S3 or in a
 *		table, with a catalog row per object.
 */
#ifndef STOCKELT_BRONZE_H
#define STOCKELT_BRONZE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

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

/*
 * Parses a key of the layout [prefix/]alphavantage/<function>/<partition>=<value>/
 * fetched=<YYYYMMDDTHHMMSS.ffffffZ>.json; false with the reason if it is not
 * one.  Any usable prefix is accepted: compare it with bronze_prefix().
 */
extern bool bronze_parse_key(const char *key, BronzeKey *parsed, char **reason);

/*
 * Raises an error (22023) unless a key is of the layout and under the
 * configured prefix: the only keys stockelt reads that are not in its catalog.
 */
extern void bronze_require_own_key(const char *key, BronzeKey *parsed);

/* The configured S3 prefix without trailing slashes ("" on the table store); raises if unusable. */
extern const char *bronze_prefix(void);

/* Fails before any API call when the configured store cannot be used. */
extern void bronze_check_store(void);

/*
 * Stores one body and its catalog row; returns the object key.  partition is
 * "symbol" or "keywords", the Hive partition that value goes under.
 */
extern char *bronze_store(const char *api_function, const char *partition,
						  const char *value, TimestampTz fetched_at,
						  const char *data, size_t len);

typedef struct BronzeEntry
{
	char	   *key;
	int64		size;			/* -1 if unknown */
	char	   *api_function;	/* as the catalog or the key says */
} BronzeEntry;

/* Objects under a prefix in the configured store, by key or oldest fetch first. */
extern List *bronze_list(const char *prefix, bool oldest_fetch_first);

/* Reads an object back from whichever store holds it, checked against the catalog. */
extern void bronze_read(const char *key, StringInfo out);

/* Raises an error unless a body has the catalog's SHA-256. */
extern void bronze_verify(const char *key, const StringInfoData *body, const char *sha256);

#endif							/* STOCKELT_BRONZE_H */
