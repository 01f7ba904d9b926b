/*
 * ingest.h
 *		Bronze objects into silver.
 */
#ifndef STOCKELT_INGEST_H
#define STOCKELT_INGEST_H

#include "nodes/pg_list.h"
#include "silver.h"

/*
 * Ingests one bronze object into silver.  Unless forced, an object already
 * applied (and silver not changed by SQL since) is not read again.
 */
extern void ingest_object(const char *key, bool force, bool from_s3,
						  IngestCounts *counts);

/* Called after each object of a batch with what it did. */
typedef void (*IngestCallback) (const char *key, const IngestCounts *counts, void *arg);

/* Ingests a list of object keys in order, overlapping parsing with writing. */
extern void ingest_objects(List *keys, bool force, bool from_s3,
						   IngestCallback callback, void *arg);

#endif							/* STOCKELT_INGEST_H */
