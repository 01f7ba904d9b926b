/*
 * settings.h
 *		The settings every module reads (src/settings.c defines them all), and
 *		the secrets they point to.
 */
#ifndef STOCKELT_SETTINGS_H
#define STOCKELT_SETTINGS_H

/* The API */
extern char *stockelt_api_base_url;
extern char *stockelt_api_key_file;
extern int	stockelt_connect_timeout_ms;
extern int	stockelt_request_timeout_ms;
extern int	stockelt_max_response_kb;

/* TLS trust and the proxy, for the API and S3 alike */
extern char *stockelt_ca_file;
extern char *stockelt_ca_path;
extern char *stockelt_https_proxy;
extern char *stockelt_no_proxy;

/* The bronze store in S3 */
extern char *stockelt_s3_endpoint;
extern char *stockelt_s3_region;
extern char *stockelt_s3_bucket;
extern char *stockelt_s3_prefix;
extern bool stockelt_s3_path_style;
extern char *stockelt_s3_access_key_id;
extern char *stockelt_s3_secret_access_key_file;

/* The limiter */
extern int	stockelt_requests_per_second;
extern int	stockelt_requests_per_minute;
extern int	stockelt_requests_per_day;
extern char *stockelt_day_time_zone;

/* The background worker */
extern char *stockelt_database;
extern int	stockelt_max_concurrent_requests;
extern int	stockelt_max_attempts;
extern int	stockelt_retry_delay_ms;
extern int	stockelt_job_retention_s;
extern int	stockelt_bronze_retention_s;

/* For tests only: how far src/clock.c moves stockelt's clock forward */
extern int	stockelt_test_clock_offset_s;

/* From _PG_init, before anything reads a setting. */
extern void settings_define(void);

/*
 * The secrets: from the file a setting names (readable by the server alone),
 * else from the server's environment; "" if neither.  A bad file raises an
 * error.
 */
extern const char *stockelt_effective_api_key(void);
extern const char *stockelt_require_api_key(void);
extern const char *stockelt_effective_s3_secret(void);

#endif							/* STOCKELT_SETTINGS_H */
