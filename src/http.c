/*
 * http.c
 *		The libcurl client: one reused handle per process, timeouts, query
 *		cancel, http/https only, same-host redirects only, a response-size cap,
 *		and redaction of secrets from every message it produces.
 *
 * Transfers run through libcurl's multi interface so that the backend can
 * look at its interrupts every 100 ms instead of waiting for libcurl's
 * roughly once-a-second progress callback.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "stockelt.h"
#include "http.h"

#define MAX_REDIRECTS 3
#define POLL_INTERVAL_MS 100

/*
 * What a transfer received.  The body grows with malloc inside libcurl's
 * callback, where a palloc failure would longjmp through libcurl.
 */
typedef struct Received
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		too_large;
	bool		out_of_memory;
	char		content_type[128];
	char		etag[128];
	char		location[2048];
} Received;

static CURL *easy_handle = NULL;
static CURLM *multi_handle = NULL;

void
http_init(void)
{
	CURLcode	rc = curl_global_init(CURL_GLOBAL_ALL);

	if (rc != CURLE_OK)
		elog(ERROR, "could not initialize libcurl: %s", curl_easy_strerror(rc));
}

static void
ensure_handles(void)
{
	if (multi_handle == NULL)
		multi_handle = curl_multi_init();
	if (easy_handle == NULL)
		easy_handle = curl_easy_init();
	if (multi_handle == NULL || easy_handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Received   *r = (Received *) userdata;
	size_t		n = size * nmemb;

	if (r->len + n > r->limit)
	{
		r->too_large = true;
		return 0;
	}
	if (r->len + n + 1 > r->cap)
	{
		size_t		newcap = Max(Max(r->cap * 2, r->len + n + 1), 16384);
		char	   *grown = realloc(r->data, newcap);

		if (grown == NULL)
		{
			r->out_of_memory = true;
			return 0;
		}
		r->data = grown;
		r->cap = newcap;
	}
	memcpy(r->data + r->len, ptr, n);
	r->len += n;
	return n;
}

static void
copy_header_value(const char *line, size_t len, const char *name,
				  char *dst, size_t dstlen)
{
	size_t		nlen = strlen(name);

	if (len <= nlen || pg_strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	line += nlen + 1;
	len -= nlen + 1;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
					   line[len - 1] == ' '))
		len--;
	len = Min(len, dstlen - 1);
	memcpy(dst, line, len);
	dst[len] = '\0';
}

static size_t
on_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
	Received   *r = (Received *) userdata;
	size_t		n = size * nitems;

	/* A status line starts a new block of headers (after 100 Continue). */
	if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
		r->content_type[0] = r->etag[0] = r->location[0] = '\0';
	copy_header_value(buffer, n, "Content-Type", r->content_type, sizeof(r->content_type));
	copy_header_value(buffer, n, "ETag", r->etag, sizeof(r->etag));
	copy_header_value(buffer, n, "Location", r->location, sizeof(r->location));
	return n;
}

static void
configure(CURL *h, const HttpRequest *req, const char *url, Received *r,
		  char *errbuf)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) stockelt_connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) stockelt_request_timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) r->limit);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "stockelt/1.0");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (req->headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, req->headers);
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "PUT") == 0)
	{
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	if (req->aws_sigv4)
	{
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, req->aws_sigv4);
		curl_easy_setopt(h, CURLOPT_USERNAME, req->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, req->password);
	}
}

/* Runs the transfer, checking for query cancel and termination as it goes. */
static CURLcode
perform_cancellable(CURL *h)
{
	volatile bool added = false;
	volatile CURLcode result = CURLE_OK;

	PG_TRY();
	{
		int			running = 1;
		int			pending;
		CURLMsg    *msg;

		if (curl_multi_add_handle(multi_handle, h) != CURLM_OK)
			elog(ERROR, "could not start a libcurl transfer");
		added = true;
		for (;;)
		{
			if (curl_multi_perform(multi_handle, &running) != CURLM_OK)
				elog(ERROR, "libcurl transfer failed");
			if (running == 0)
				break;
			CHECK_FOR_INTERRUPTS();
			if (curl_multi_poll(multi_handle, NULL, 0, POLL_INTERVAL_MS, NULL) != CURLM_OK)
				elog(ERROR, "libcurl transfer failed");
		}
		while ((msg = curl_multi_info_read(multi_handle, &pending)) != NULL)
		{
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
				result = msg->data.result;
		}
	}
	PG_FINALLY();
	{
		if (added)
			curl_multi_remove_handle(multi_handle, h);
	}
	PG_END_TRY();
	return result;
}

static void
describe_failure(CURLcode rc, const Received *r, const char *errbuf,
				 const HttpRequest *req, HttpResponse *resp)
{
	const char *text = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	switch (rc)
	{
		case CURLE_OPERATION_TIMEDOUT:
			resp->error_code = ERRCODE_STOCKELT_TIMEOUT;
			resp->error_summary = "the request timed out";
			break;
		case CURLE_COULDNT_CONNECT:
			resp->error_code = ERRCODE_STOCKELT_CONNECTION_REFUSED;
			resp->error_summary = "could not connect to the server";
			break;
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
			resp->error_code = ERRCODE_STOCKELT_CONNECTION_RESET;
			resp->error_summary = "the connection was reset";
			break;
		case CURLE_PARTIAL_FILE:
			resp->error_code = ERRCODE_STOCKELT_TRUNCATED;
			resp->error_summary = "the response is truncated";
			break;
		case CURLE_FILESIZE_EXCEEDED:
		case CURLE_WRITE_ERROR:
			if (r->out_of_memory)
			{
				resp->error_code = ERRCODE_OUT_OF_MEMORY;
				resp->error_summary = "out of memory";
				text = "out of memory while receiving the response";
			}
			else
			{
				resp->error_code = ERRCODE_STOCKELT_TOO_LARGE;
				resp->error_summary = "the response is too large";
				text = psprintf("The response is larger than stockelt.max_response_size (%d kB).",
								stockelt_max_response_kb);
			}
			break;
		default:
			resp->error_code = ERRCODE_STOCKELT_TRANSPORT;
			resp->error_summary = "the request failed";
			break;
	}
	resp->error_detail = http_redact(text, req->secret);
}

/* One transfer without redirects; the Location header lands in r->location. */
static void
perform_once(const HttpRequest *req, const char *url, HttpResponse *resp,
			 Received *r)
{
	char		errbuf[CURL_ERROR_SIZE];
	CURLcode	rc;

	errbuf[0] = '\0';
	memset(r, 0, sizeof(*r));
	r->limit = (size_t) stockelt_max_response_kb * 1024;

	PG_TRY();
	{
		configure(easy_handle, req, url, r, errbuf);
		rc = perform_cancellable(easy_handle);
		memset(resp, 0, sizeof(*resp));
		if (rc == CURLE_OK)
		{
			resp->ok = true;
			curl_easy_getinfo(easy_handle, CURLINFO_RESPONSE_CODE, &resp->status);
			initStringInfo(&resp->body);
			appendBinaryStringInfo(&resp->body, r->data ? r->data : "", (int) r->len);
			strlcpy(resp->content_type, r->content_type, sizeof(resp->content_type));
			strlcpy(resp->etag, r->etag, sizeof(resp->etag));
		}
		else
			describe_failure(rc, r, errbuf, req, resp);
	}
	PG_FINALLY();
	{
		free(r->data);
		r->data = NULL;
	}
	PG_END_TRY();
}

/*
 * Resolves a redirect target against the URL that answered it; NULL when it
 * leaves the scheme, host or port of that URL.
 */
static char *
same_origin_target(const char *from, const char *location)
{
	CURLU	   *u = curl_url();
	char	   *parts[2][3] = {{NULL}};
	const CURLUPart which[3] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
	char	   *target = NULL;
	char	   *result = NULL;
	bool		same = true;

	if (u == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, from, 0) == CURLUE_OK)
	{
		for (int i = 0; i < 3; i++)
			curl_url_get(u, which[i], &parts[0][i], CURLU_DEFAULT_PORT);
		if (curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK)
		{
			for (int i = 0; i < 3; i++)
			{
				curl_url_get(u, which[i], &parts[1][i], CURLU_DEFAULT_PORT);
				if (parts[0][i] == NULL || parts[1][i] == NULL ||
					pg_strcasecmp(parts[0][i], parts[1][i]) != 0)
					same = false;
			}
			if (same)
				curl_url_get(u, CURLUPART_URL, &target, 0);
		}
	}
	for (int i = 0; i < 3; i++)
	{
		curl_free(parts[0][i]);
		curl_free(parts[1][i]);
	}
	curl_url_cleanup(u);
	if (target)
	{
		result = pstrdup(target);
		curl_free(target);
	}
	return result;
}

void
http_perform(const HttpRequest *req, HttpResponse *resp)
{
	const char *url = req->url;
	Received	r;

	ensure_handles();
	for (int hops = 0;; hops++)
	{
		char	   *next;

		perform_once(req, url, resp, &r);
		if (!resp->ok || resp->status < 300 || resp->status >= 400 ||
			r.location[0] == '\0' || strcmp(req->method, "GET") != 0)
			return;

		next = same_origin_target(url, r.location);
		if (next == NULL || hops >= MAX_REDIRECTS)
		{
			resp->ok = false;
			resp->error_code = ERRCODE_STOCKELT_REDIRECT;
			resp->error_summary = "the server redirected elsewhere";
			resp->error_detail = next == NULL ?
				http_redact(psprintf("The server redirected to another host: %s", r.location),
							req->secret) :
				psprintf("The server redirected more than %d times.", MAX_REDIRECTS);
			return;
		}
		url = next;
	}
}

char *
http_escape(const char *text, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	StringInfoData out;

	initStringInfo(&out);
	for (const unsigned char *p = (const unsigned char *) text; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
			*p == '.' || *p == '~' || (keep_slash && *p == '/'))
			appendStringInfoChar(&out, (char) *p);
		else
		{
			appendStringInfoChar(&out, '%');
			appendStringInfoChar(&out, hex[*p >> 4]);
			appendStringInfoChar(&out, hex[*p & 0x0F]);
		}
	}
	return out.data;
}

static char *
replace_all(const char *text, const char *secret)
{
	StringInfoData out;
	size_t		slen = strlen(secret);
	const char *hit;

	initStringInfo(&out);
	while ((hit = strstr(text, secret)) != NULL)
	{
		appendBinaryStringInfo(&out, text, (int) (hit - text));
		appendStringInfoString(&out, "[redacted]");
		text = hit + slen;
	}
	appendStringInfoString(&out, text);
	return out.data;
}

/* Removes every occurrence of a secret, raw or percent-encoded. */
char *
http_redact(const char *text, const char *secret)
{
	char	   *out;

	if (text == NULL)
		return NULL;
	if (secret == NULL || secret[0] == '\0')
		return pstrdup(text);
	out = replace_all(text, secret);
	return replace_all(out, http_escape(secret, false));
}

/* ---------------------------------------------------------------- the worker's pool */

typedef struct PoolSlot
{
	CURL	   *easy;
	bool		busy;
	Received	r;
	char		errbuf[CURL_ERROR_SIZE];
	HttpRequest req;			/* strings owned by the pool's context */
} PoolSlot;

struct HttpPool
{
	CURLM	   *multi;
	int			size;
	MemoryContext context;
	PoolSlot   *slots;
};

HttpPool *
http_pool_create(int size)
{
	MemoryContext context = AllocSetContextCreate(TopMemoryContext, "stockelt http pool",
												  ALLOCSET_SMALL_SIZES);
	HttpPool   *pool = MemoryContextAllocZero(context, sizeof(HttpPool));

	pool->context = context;
	pool->size = size;
	pool->slots = MemoryContextAllocZero(context, size * sizeof(PoolSlot));
	pool->multi = curl_multi_init();
	for (int i = 0; i < size; i++)
		pool->slots[i].easy = curl_easy_init();
	if (pool->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	for (int i = 0; i < size; i++)
		if (pool->slots[i].easy == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl handle")));
	return pool;
}

bool
http_pool_busy(HttpPool *pool, int slot)
{
	return pool->slots[slot].busy;
}

int
http_pool_running(HttpPool *pool)
{
	int			n = 0;

	for (int i = 0; i < pool->size; i++)
		n += pool->slots[i].busy;
	return n;
}

void
http_pool_start(HttpPool *pool, int slot, const HttpRequest *req)
{
	PoolSlot   *s = &pool->slots[slot];
	MemoryContext old = MemoryContextSwitchTo(pool->context);

	Assert(!s->busy);
	s->req = *req;
	s->req.url = pstrdup(req->url);
	s->req.secret = req->secret ? pstrdup(req->secret) : NULL;
	MemoryContextSwitchTo(old);
	memset(&s->r, 0, sizeof(s->r));
	s->r.limit = (size_t) stockelt_max_response_kb * 1024;
	s->errbuf[0] = '\0';
	configure(s->easy, &s->req, s->req.url, &s->r, s->errbuf);
	if (curl_multi_add_handle(pool->multi, s->easy) != CURLM_OK)
		elog(ERROR, "could not start a libcurl transfer");
	s->busy = true;
}

/* The response of a finished transfer, as http_perform would give it. */
static void
pool_finish(HttpPool *pool, PoolSlot *s, CURLcode rc, HttpResponse *resp)
{
	curl_multi_remove_handle(pool->multi, s->easy);
	s->busy = false;
	memset(resp, 0, sizeof(*resp));
	if (rc == CURLE_OK)
	{
		resp->ok = true;
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &resp->status);
		initStringInfo(&resp->body);
		appendBinaryStringInfo(&resp->body, s->r.data ? s->r.data : "", (int) s->r.len);
		strlcpy(resp->content_type, s->r.content_type, sizeof(resp->content_type));
		strlcpy(resp->etag, s->r.etag, sizeof(resp->etag));
		if (resp->status >= 300 && resp->status < 400 && s->r.location[0] != '\0')
		{
			resp->ok = false;
			resp->error_code = ERRCODE_STOCKELT_REDIRECT;
			resp->error_summary = "the server redirected";
			resp->error_detail = http_redact(psprintf("The server redirected to %s.", s->r.location),
											 s->req.secret);
		}
	}
	else
		describe_failure(rc, &s->r, s->errbuf, &s->req, resp);
	free(s->r.data);
	s->r.data = NULL;
	pfree((char *) s->req.url);
	if (s->req.secret)
		pfree((char *) s->req.secret);
}

int
http_pool_run(HttpPool *pool, int timeout_ms, HttpResponse *resp)
{
	int			running;

	for (int round = 0; round < 2; round++)
	{
		CURLMsg    *msg;
		int			pending;

		if (curl_multi_perform(pool->multi, &running) != CURLM_OK)
			elog(ERROR, "libcurl transfer failed");
		while ((msg = curl_multi_info_read(pool->multi, &pending)) != NULL)
		{
			if (msg->msg != CURLMSG_DONE)
				continue;
			for (int i = 0; i < pool->size; i++)
			{
				if (pool->slots[i].busy && pool->slots[i].easy == msg->easy_handle)
				{
					pool_finish(pool, &pool->slots[i], msg->data.result, resp);
					return i;
				}
			}
		}
		if (round == 0 && curl_multi_poll(pool->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
			elog(ERROR, "libcurl transfer failed");
	}
	return -1;
}
