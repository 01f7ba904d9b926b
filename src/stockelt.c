/*
 * stockelt.c
 *		Module entry point: settings, and the rule that stockelt is preloaded.
 *
 * Kept thin on purpose; every setting the other modules read is defined here
 * so that one file tells an administrator what can be configured.
 */
#include "postgres.h"

#include <jansson.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "stockelt.h"
#include "http.h"
#include "ratelimit.h"
#include "worker.h"

PG_MODULE_MAGIC;

char	   *stockelt_api_base_url = NULL;
char	   *stockelt_api_key = NULL;
int			stockelt_connect_timeout_ms = 10000;
int			stockelt_request_timeout_ms = 60000;
int			stockelt_max_response_kb = 65536;
char	   *stockelt_s3_endpoint = NULL;
char	   *stockelt_s3_region = NULL;
char	   *stockelt_s3_bucket = NULL;
char	   *stockelt_s3_prefix = NULL;
bool		stockelt_s3_path_style = true;
char	   *stockelt_s3_access_key_id = NULL;
char	   *stockelt_s3_secret_access_key = NULL;
int			stockelt_requests_per_second = 1;
int			stockelt_requests_per_minute = 0;
int			stockelt_requests_per_day = 25;
char	   *stockelt_day_time_zone = NULL;
char	   *stockelt_database = NULL;
int			stockelt_max_concurrent_requests = 4;
int			stockelt_max_attempts = 5;
int			stockelt_retry_delay_ms = 5000;
int			stockelt_job_retention_s = 7 * 24 * 3600;

void		_PG_init(void);

/* Network targets must be http or https; anything else is refused when set. */
static bool
check_http_url(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;

	if (url == NULL || url[0] == '\0')
		return true;
	if (pg_strncasecmp(url, "http://", 7) == 0 ||
		pg_strncasecmp(url, "https://", 8) == 0)
		return true;
	GUC_check_errdetail("Only http:// and https:// URLs are accepted.");
	return false;
}

static void
define_api_settings(void)
{
	DefineCustomStringVariable("stockelt.api_base_url",
							   "Alpha Vantage query endpoint.",
							   NULL,
							   &stockelt_api_base_url,
							   "https://www.alphavantage.co/query",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_http_url, NULL, NULL);
	DefineCustomStringVariable("stockelt.api_key",
							   "Alpha Vantage API key; empty means the server's ALPHAVANTAGE_API_KEY environment variable.",
							   NULL,
							   &stockelt_api_key,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.connect_timeout",
							"Time allowed to connect to the API or S3 server.",
							NULL,
							&stockelt_connect_timeout_ms,
							10000, 1, 600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.request_timeout",
							"Time allowed for a whole HTTP request, connection included.",
							NULL,
							&stockelt_request_timeout_ms,
							60000, 1, 3600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.max_response_size",
							"Largest HTTP response body accepted.",
							NULL,
							&stockelt_max_response_kb,
							65536, 1, 1048576,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

static void
define_s3_settings(void)
{
	DefineCustomStringVariable("stockelt.s3_endpoint",
							   "S3 endpoint URL for bronze; empty keeps bronze in a table of the database.",
							   NULL,
							   &stockelt_s3_endpoint,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_http_url, NULL, NULL);
	DefineCustomStringVariable("stockelt.s3_region",
							   "Region used in S3 request signatures.",
							   NULL,
							   &stockelt_s3_region,
							   "us-east-1",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.s3_bucket",
							   "Bucket that holds bronze objects.",
							   NULL,
							   &stockelt_s3_bucket,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.s3_prefix",
							   "Key prefix put before every bronze object key in S3.",
							   NULL,
							   &stockelt_s3_prefix,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("stockelt.s3_path_style",
							 "Address buckets as endpoint/bucket/key rather than bucket.endpoint/key.",
							 NULL,
							 &stockelt_s3_path_style,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.s3_access_key_id",
							   "S3 access key id; empty means the server's AWS_ACCESS_KEY_ID environment variable.",
							   NULL,
							   &stockelt_s3_access_key_id,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.s3_secret_access_key",
							   "S3 secret access key; empty means the server's AWS_SECRET_ACCESS_KEY environment variable.",
							   NULL,
							   &stockelt_s3_secret_access_key,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

/* The limits of the provider, shared by every caller: the same everywhere, so SIGHUP. */
static void
define_limit_settings(void)
{
	DefineCustomIntVariable("stockelt.requests_per_second",
							"API calls allowed per second (0: no limit).",
							NULL, &stockelt_requests_per_second, 1, 0, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.requests_per_minute",
							"API calls allowed per minute (0: no limit).",
							NULL, &stockelt_requests_per_minute, 0, 0, 600000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.requests_per_day",
							"API calls allowed per day (0: no limit).",
							NULL, &stockelt_requests_per_day, 25, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.day_time_zone",
							   "Time zone whose midnight starts a new day of the API budget.",
							   NULL, &stockelt_day_time_zone, "UTC",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
}

static void
define_worker_settings(void)
{
	DefineCustomStringVariable("stockelt.database",
							   "The one database the background worker serves.",
							   NULL, &stockelt_database, "postgres",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.max_concurrent_requests",
							"API calls the background worker keeps in flight at once.",
							NULL, &stockelt_max_concurrent_requests, 4, 1, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.max_attempts",
							"API calls made for one job before it fails.",
							NULL, &stockelt_max_attempts, 5, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.retry_delay",
							"Delay before the first retry of a job; it doubles with each attempt.",
							NULL, &stockelt_retry_delay_ms, 5000, 1, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("stockelt.job_retention",
							"How long finished jobs are kept in stockelt.jobs.",
							NULL, &stockelt_job_retention_s, 7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

const char *
stockelt_effective_api_key(void)
{
	const char *env;

	if (stockelt_api_key && stockelt_api_key[0] != '\0')
		return stockelt_api_key;
	env = getenv("ALPHAVANTAGE_API_KEY");
	return env ? env : "";
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stockelt must be loaded via shared_preload_libraries"),
				 errhint("Add stockelt to shared_preload_libraries in postgresql.conf and restart the server.")));

	define_api_settings();
	define_s3_settings();
	define_limit_settings();
	define_worker_settings();
	MarkGUCPrefixReserved("stockelt");

	ratelimit_shmem_request();
	worker_register();

	http_init();
	/* Seeded once, before any parse can run on a helper thread. */
	json_object_seed(0);
}
