/*
 * s3.h
 *		S3 over libcurl with Signature V4: put, get, head and list.
 */
#ifndef STOCKELT_S3_H
#define STOCKELT_S3_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

typedef struct S3Object
{
	char	   *key;
	int64		size;
	char	   *etag;
	char	   *last_modified;
} S3Object;

extern bool s3_configured(void);
extern void s3_require_configuration(void);
extern char *s3_put(const char *key, const char *data, size_t len,
					const char *content_type);
extern void s3_get(const char *key, StringInfo out);
extern bool s3_head(const char *key);
extern void s3_check_bucket(void);
extern List *s3_list(const char *prefix);

#endif							/* STOCKELT_S3_H */
