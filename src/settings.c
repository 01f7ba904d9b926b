/*
 * settings.c
 *		Every setting of stockelt, and the secrets the settings point to.
 *
 * One file tells an administrator what can be configured.  The two secrets
 * (the API key, the S3 secret) are never a setting's value: they are read
 * from the file a setting names, or from the server's environment.
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "settings.h"

char	   *stockelt_api_base_url = NULL;
char	   *stockelt_api_key_file = NULL;
int			stockelt_connect_timeout_ms = 10000;
int			stockelt_request_timeout_ms = 60000;
int			stockelt_max_response_kb = 65536;
char	   *stockelt_ca_file = NULL;
char	   *stockelt_ca_path = NULL;
char	   *stockelt_https_proxy = NULL;
char	   *stockelt_no_proxy = NULL;
char	   *stockelt_s3_endpoint = NULL;
char	   *stockelt_s3_region = NULL;
char	   *stockelt_s3_bucket = NULL;
char	   *stockelt_s3_prefix = NULL;
bool		stockelt_s3_path_style = true;
char	   *stockelt_s3_access_key_id = NULL;
char	   *stockelt_s3_secret_access_key_file = NULL;
int			stockelt_requests_per_second = 1;
int			stockelt_requests_per_minute = 0;
int			stockelt_requests_per_day = 25;
char	   *stockelt_day_time_zone = NULL;
char	   *stockelt_database = NULL;
int			stockelt_max_concurrent_requests = 4;
int			stockelt_max_attempts = 5;
int			stockelt_retry_delay_ms = 5000;
int			stockelt_job_retention_s = 7 * 24 * 3600;
int			stockelt_bronze_retention_s = 0;
int			stockelt_test_clock_offset_s = 0;

/* A secret file holds one line: an API key or an S3 secret, never kilobytes. */
#define SECRET_FILE_MAX 4096

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
	DefineCustomStringVariable("stockelt.api_key_file",
							   "File holding the Alpha Vantage API key; empty means the server's ALPHAVANTAGE_API_KEY environment variable.",
							   "A relative path is relative to the data directory.",
							   &stockelt_api_key_file,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
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

/*
 * Whom stockelt trusts and through what it connects: they redirect or vouch
 * for every request, so only a superuser sets or sees them.  An empty proxy
 * leaves libcurl's own reading of the server's environment (https_proxy,
 * all_proxy, no_proxy) in force; a proxy set here wins over it.
 */
static void
define_trust_settings(void)
{
	DefineCustomStringVariable("stockelt.ca_file",
							   "File of certificate authorities (PEM) trusted for https; empty means the system's bundle.",
							   "It replaces the system's bundle: to add a private authority, name a file holding both.",
							   &stockelt_ca_file,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.ca_path",
							   "Directory of certificate authorities (hashed names, as c_rehash makes) trusted for https.",
							   NULL,
							   &stockelt_ca_path,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("stockelt.https_proxy",
							   "Proxy for https requests to the API and S3 (http://host:port); empty means the server's environment decides.",
							   NULL,
							   &stockelt_https_proxy,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_http_url, NULL, NULL);
	DefineCustomStringVariable("stockelt.no_proxy",
							   "Hosts reached without the proxy (comma-separated, as no_proxy); empty means the server's no_proxy.",
							   NULL,
							   &stockelt_no_proxy,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
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
	DefineCustomStringVariable("stockelt.s3_secret_access_key_file",
							   "File holding the S3 secret access key; empty means the server's AWS_SECRET_ACCESS_KEY environment variable.",
							   "A relative path is relative to the data directory.",
							   &stockelt_s3_secret_access_key_file,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
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
	DefineCustomIntVariable("stockelt.bronze_retention",
							"How long bronze objects that neither silver nor a replay needs are kept (0: forever).",
							"Only weekly series in the embedded store are pruned; see the README.",
							&stockelt_bronze_retention_s, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

/*
 * For tests only: moves stockelt's clock (src/clock.c) forward, so that a test
 * sees the day's budget start again or a retry come due without sleeping
 * through the wait.  Set in the server's configuration, so that every process
 * reads the same moved time; hidden, and absent from the sample file.
 */
static void
define_test_settings(void)
{
	DefineCustomIntVariable("stockelt.test_clock_offset",
							"For tests only: moves stockelt's clock forward by this much.",
							"The limiter's day and the worker's schedule read the moved clock; leave it at 0.",
							&stockelt_test_clock_offset_s, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S | GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
}

/* Every setting of stockelt, once, from _PG_init. */
void
settings_define(void)
{
	define_api_settings();
	define_trust_settings();
	define_s3_settings();
	define_limit_settings();
	define_worker_settings();
	define_test_settings();
	MarkGUCPrefixReserved("stockelt");
}

/*
 * A secret file must be readable by the server alone, the rule PostgreSQL
 * applies to ssl_key_file: owned by the server's user with no group or world
 * access, or owned by root and readable by the group at most.
 */
static void
check_secret_file_mode(const char *what, const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" is not a regular file", what, path)));
	if (st->st_uid != geteuid() && st->st_uid != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" must be owned by the database user or root", what, path)));
	if ((st->st_uid == geteuid() && (st->st_mode & (S_IRWXG | S_IRWXO))) ||
		(st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" has group or world access", what, path),
				 errdetail("File must have permissions u=rw (0600) or less if owned by the database user, "
						   "or permissions u=rw,g=r (0640) or less if owned by root."),
				 errhint("Run chmod 600 on the file.")));
}

/*
 * The secret held in a file, without trailing white space.  Read at every use,
 * so a new secret takes effect without a reload; the value is never part of a
 * setting, so PostgreSQL never logs it.
 */
static char *
read_secret_file(const char *what, const char *path)
{
	char		buf[SECRET_FILE_MAX + 1];
	struct stat st;
	ssize_t		len;
	int			fd;
	int			saved_errno;

	/* O_NONBLOCK: a FIFO in the file's place must not hang the call. */
	fd = open(path, O_RDONLY | O_NONBLOCK | PG_BINARY, 0);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open %s file \"%s\": %m", what, path)));
	if (fstat(fd, &st) < 0)
	{
		saved_errno = errno;
		close(fd);
		errno = saved_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat %s file \"%s\": %m", what, path)));
	}
	len = S_ISREG(st.st_mode) ? read(fd, buf, sizeof(buf)) : 0;
	saved_errno = errno;
	close(fd);
	check_secret_file_mode(what, path, &st);
	if (len < 0)
	{
		errno = saved_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read %s file \"%s\": %m", what, path)));
	}
	if (len > SECRET_FILE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" is too large", what, path),
				 errdetail("The file holds the secret alone, at most %d bytes.", SECRET_FILE_MAX)));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
					   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s file \"%s\" is empty", what, path)));
	for (ssize_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) buf[i];

		if (c < 0x20 || c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("%s file \"%s\" holds more than one line or a control character", what, path),
					 errdetail("The file holds the secret alone, on one line.")));
	}
	return pnstrdup(buf, len);
}

static const char *
secret_from(const char *what, const char *file_setting, const char *env_name)
{
	const char *env;

	if (file_setting && file_setting[0] != '\0')
		return read_secret_file(what, file_setting);
	env = getenv(env_name);
	return env ? env : "";
}

const char *
stockelt_effective_api_key(void)
{
	return secret_from("API key", stockelt_api_key_file, "ALPHAVANTAGE_API_KEY");
}

/* The API key, or an error saying that none is configured. */
const char *
stockelt_require_api_key(void)
{
	const char *key = stockelt_effective_api_key();

	if (key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no Alpha Vantage API key is configured"),
				 errhint("Set stockelt.api_key_file to a file holding the key, or ALPHAVANTAGE_API_KEY in the server's environment.")));
	return key;
}

const char *
stockelt_effective_s3_secret(void)
{
	return secret_from("S3 secret", stockelt_s3_secret_access_key_file, "AWS_SECRET_ACCESS_KEY");
}
