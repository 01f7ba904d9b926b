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
} BronzeEntry;

/* Objects under a prefix in the configured store, by key or oldest fetch first. */
extern List *bronze_list(const char *prefix, bool oldest_fetch_first);

/* Reads an object back from whichever store holds it, checked against the catalog. */
extern void bronze_read(const char *key, StringInfo out);

/* Raises an error unless a body has the catalog's SHA-256. */
extern void bronze_verify(const char *key, const StringInfoData *body, const char *sha256);

#endif							/* STOCKELT_BRONZE_H */
