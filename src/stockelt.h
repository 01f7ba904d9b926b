/*
 * stockelt.h
 *		Settings shared by the modules, and the SQLSTATEs stockelt raises.
 *
 * Every failure of the pipeline has a SQLSTATE of its own in class "SE", so
 * callers (and the background worker) can tell a throttle from a bad symbol
 * without reading message text.
 */
#ifndef STOCKELT_H
#define STOCKELT_H

#include "postgres.h"

/* Provider answers */
#define ERRCODE_STOCKELT_THROTTLED			MAKE_SQLSTATE('S','E','0','0','1')
#define ERRCODE_STOCKELT_DAILY_QUOTA		MAKE_SQLSTATE('S','E','0','0','2')
#define ERRCODE_STOCKELT_PREMIUM_ONLY		MAKE_SQLSTATE('S','E','0','0','3')
#define ERRCODE_STOCKELT_DEMO_KEY			MAKE_SQLSTATE('S','E','0','0','4')
#define ERRCODE_STOCKELT_INVALID_CALL		MAKE_SQLSTATE('S','E','0','0','5')
#define ERRCODE_STOCKELT_EMPTY_RESPONSE		MAKE_SQLSTATE('S','E','0','0','6')
#define ERRCODE_STOCKELT_SAMPLE_DATA		MAKE_SQLSTATE('S','E','0','0','7')
#define ERRCODE_STOCKELT_NOT_JSON			MAKE_SQLSTATE('S','E','0','0','8')
#define ERRCODE_STOCKELT_TRUNCATED			MAKE_SQLSTATE('S','E','0','0','9')
#define ERRCODE_STOCKELT_INVALID_API_KEY	MAKE_SQLSTATE('S','E','0','1','0')
#define ERRCODE_STOCKELT_UNEXPECTED			MAKE_SQLSTATE('S','E','0','1','1')
#define ERRCODE_STOCKELT_WRONG_SYMBOL		MAKE_SQLSTATE('S','E','0','1','2')
#define ERRCODE_STOCKELT_INVALID_PAYLOAD	MAKE_SQLSTATE('S','E','0','1','3')
#define ERRCODE_STOCKELT_BUDGET_SPENT		MAKE_SQLSTATE('S','E','0','1','4')

/* Transport */
#define ERRCODE_STOCKELT_HTTP_STATUS		MAKE_SQLSTATE('S','E','1','0','0')
#define ERRCODE_STOCKELT_TIMEOUT			MAKE_SQLSTATE('S','E','1','0','1')
#define ERRCODE_STOCKELT_CONNECTION_REFUSED	MAKE_SQLSTATE('S','E','1','0','2')
#define ERRCODE_STOCKELT_CONNECTION_RESET	MAKE_SQLSTATE('S','E','1','0','3')
#define ERRCODE_STOCKELT_TOO_LARGE			MAKE_SQLSTATE('S','E','1','0','4')
#define ERRCODE_STOCKELT_REDIRECT			MAKE_SQLSTATE('S','E','1','0','5')
#define ERRCODE_STOCKELT_TRANSPORT			MAKE_SQLSTATE('S','E','1','0','6')

/* Bronze store */
#define ERRCODE_STOCKELT_S3_ERROR			MAKE_SQLSTATE('S','E','2','0','0')
#define ERRCODE_STOCKELT_S3_ACCESS_DENIED	MAKE_SQLSTATE('S','E','2','0','1')
#define ERRCODE_STOCKELT_S3_NO_SUCH_BUCKET	MAKE_SQLSTATE('S','E','2','0','2')
#define ERRCODE_STOCKELT_NO_SUCH_OBJECT		MAKE_SQLSTATE('S','E','2','0','3')
#define ERRCODE_STOCKELT_OBJECT_EXISTS		MAKE_SQLSTATE('S','E','2','0','4')

/* Settings (src/stockelt.c) */
extern char *stockelt_api_base_url;
extern char *stockelt_api_key_file;
extern int	stockelt_connect_timeout_ms;
extern int	stockelt_request_timeout_ms;
extern int	stockelt_max_response_kb;
extern char *stockelt_s3_endpoint;
extern char *stockelt_s3_region;
extern char *stockelt_s3_bucket;
extern char *stockelt_s3_prefix;
extern bool stockelt_s3_path_style;
extern char *stockelt_s3_access_key_id;
extern char *stockelt_s3_secret_access_key_file;
extern int	stockelt_requests_per_second;
extern int	stockelt_requests_per_minute;
extern int	stockelt_requests_per_day;
extern char *stockelt_day_time_zone;
extern char *stockelt_database;
extern int	stockelt_max_concurrent_requests;
extern int	stockelt_max_attempts;
extern int	stockelt_retry_delay_ms;
extern int	stockelt_job_retention_s;

/*
 * The secrets: from the file a setting names (readable by the server alone),
 * else from the server's environment; "" if neither.  A bad file raises an
 * error.
 */
extern const char *stockelt_effective_api_key(void);
extern const char *stockelt_require_api_key(void);
extern const char *stockelt_effective_s3_secret(void);

#endif							/* STOCKELT_H */
