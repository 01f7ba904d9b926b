/*
 * ingest.h
 *		Bronze objects into silver.
 */
#ifndef STOCKELT_INGEST_H
#define STOCKELT_INGEST_H

#include "silver.h"

/*
 * Ingests one bronze object into silver.  Unless forced, an object already
 * applied (and silver not changed by SQL since) is not read again.
 */
extern void ingest_object(const char *key, bool force, bool from_s3,
						  IngestCounts *counts);

#endif							/* STOCKELT_INGEST_H */
