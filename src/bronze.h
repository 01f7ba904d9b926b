/*
 * bronze.h
 *		The bronze store: raw response bodies, byte for byte, in S3 or in a
 *		table, with a catalog row per object.
 */
#ifndef STOCKELT_BRONZE_H
#define STOCKELT_BRONZE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"

/* Raises an error unless S3 is configured, for a caller that reads from S3 alone. */
extern void bronze_require_s3(void);

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

/*
 * One object of bronze: what its catalog row says (or, for an object another
 * client wrote to S3, its key), and its body.
 */
typedef struct BronzeObject
{
	char	   *key;
	char	   *api_function;	/* e.g. "TIME_SERIES_WEEKLY_ADJUSTED" */
	char	   *argument;		/* the symbol, or the search keywords */
	TimestampTz fetched_at;
	char	   *store;			/* "table" or "s3", NULL if no store holds it */
	char	   *sha256;			/* the catalog's checksum in hex, NULL if not cataloged */
	int64		size;			/* bytes of the body, -1 if not known */
	StringInfoData body;		/* data is NULL if the body was not read */
	struct varlena *compressed; /* BRONZE_RAW: the body as stored, to decompress into body.data */
} BronzeObject;

/* Read from S3, whatever the catalog says. */
#define BRONZE_FROM_S3	0x01
/*
 * Leave a table body that PostgreSQL keeps lz4-compressed as it is stored,
 * and the checksum unchecked: the caller (a parser thread) does both.
 */
#define BRONZE_RAW		0x02

/*
 * Reads an object's catalog row and its body from whichever store holds it,
 * checked against the catalog's checksum unless BRONZE_RAW.  A key that is
 * not cataloged must be of the layout under the configured prefix (22023).
 * False, with the size set and no body, if the body is larger than max_size
 * (when max_size is not negative); raises SE203 if no store has it.
 */
extern bool bronze_open(const char *key, int flags, int64 max_size, BronzeObject *obj);

/*
 * What the catalog, or else each key itself, says of a list of keys: a list
 * of BronzeObject in the same order, without bodies.  Raises as bronze_open
 * does for a key that is neither cataloged nor stockelt's.
 */
extern List *bronze_describe(List *keys);

/* Raises an error unless a body has the catalog's SHA-256. */
extern void bronze_verify(const char *key, const StringInfoData *body, const char *sha256);

/* The plan of sql, prepared once and kept for the backend's life (inside SPI_connect). */
extern SPIPlanPtr kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types);

#endif							/* STOCKELT_BRONZE_H */
