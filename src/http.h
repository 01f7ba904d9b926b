/*
 * http.h
 *		The libcurl client every network call of stockelt goes through.
 */
#ifndef STOCKELT_HTTP_H
#define STOCKELT_HTTP_H

#include <curl/curl.h>

#include "lib/stringinfo.h"

typedef struct HttpRequest
{
	const char *method;			/* "GET", "PUT" or "HEAD" */
	const char *url;
	const char *body;			/* request body for PUT, else NULL */
	size_t		body_len;
	struct curl_slist *headers; /* extra request headers, or NULL */
	const char *secret;			/* text to redact from every message */
} HttpRequest;

typedef struct HttpResponse
{
	bool		ok;				/* the transfer completed and a status came back */
	long		status;			/* HTTP status when ok */
	StringInfoData body;		/* response body when ok */
	char		content_type[128];
	char		etag[128];
	/* when !ok: what failed, as a SQLSTATE and a redacted description */
	int			error_code;
	const char *error_summary;
	char	   *error_detail;
	const char *error_hint;		/* what to do, or NULL */
} HttpResponse;

/*
 * Several transfers at once for the background worker, through one libcurl
 * multi handle.  Redirects are not followed here: they come back as SE105.
 */
typedef struct HttpPool HttpPool;

extern HttpPool *http_pool_create(int size);
extern bool http_pool_busy(HttpPool *pool, int slot);
extern int	http_pool_running(HttpPool *pool);
extern void http_pool_start(HttpPool *pool, int slot, const HttpRequest *req);

/*
 * Drives the transfers for at most timeout_ms; returns the slot of one that
 * finished, with *resp filled, or -1 if none did.
 */
extern int	http_pool_run(HttpPool *pool, int timeout_ms, HttpResponse *resp);

extern void http_init(void);
extern void http_perform(const HttpRequest *req, HttpResponse *resp);
extern char *http_redact(const char *text, const char *secret);

/* The most an upstream text (a body, a provider's message, a header) adds to a message. */
#define HTTP_EXCERPT_LEN 200
extern char *http_excerpt(const char *data, size_t len, size_t max_len);
extern char *http_escape(const char *text, bool keep_slash);

#endif							/* STOCKELT_HTTP_H */
