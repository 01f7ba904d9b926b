/*
 * http.c
 *		The libcurl client: one reused handle per process, timeouts, query
 *		cancel, http/https only, same-host redirects only, a response-size cap,
 *		and redaction of secrets from every message it produces.
 *
 * Transfers run through libcurl's multi interface so that the backend can
 * look at its interrupts every 100 ms instead of waiting for libcurl's
 * roughly once-a-second progress callback.
 *
 * A kept-alive connection is used again only if nothing arrived on it while
 * it was idle: bytes there answer no request of ours (a server that sent a
 * second response after a body), and reading them as the next request's
 * answer would shift every later answer on that connection by one.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "errcodes.h"
#include "settings.h"
#include "http.h"

/* The shortest piece of a secret that is redacted */
#define REDACT_MIN_RUN 8
#define MAX_REDIRECTS 3
#define POLL_INTERVAL_MS 100
#define MAX_TRACKED_SOCKETS 1024

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
	uint64		serial;			/* this transfer, to tell its own sockets */
	bool		stale_connection;	/* a reused connection had unread bytes */
	bool		via_proxy;		/* stockelt.https_proxy carries this transfer */
	long		proxy_status;	/* the proxy's answer to CONNECT, 0 if none */
} Received;

/*
 * The sockets libcurl has open in this process, and the transfer that opened
 * each, so that a connection about to be reused can be looked at.
 */
typedef struct TrackedSocket
{
	curl_socket_t fd;
	uint64		opened_by;
} TrackedSocket;

static CURL *easy_handle = NULL;
static CURLM *multi_handle = NULL;
static TrackedSocket tracked[MAX_TRACKED_SOCKETS];
static int	n_tracked = 0;
static uint64 last_serial = 0;

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

static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	Received   *r = (Received *) clientp;
	curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC,
							  address->protocol);

	/* Untracked sockets (the table is full) are simply never looked at. */
	if (fd != CURL_SOCKET_BAD && n_tracked < MAX_TRACKED_SOCKETS)
	{
		tracked[n_tracked].fd = fd;
		tracked[n_tracked].opened_by = r->serial;
		n_tracked++;
	}
	return fd;
}

static int
on_close_socket(void *clientp, curl_socket_t fd)
{
	for (int i = 0; i < n_tracked; i++)
	{
		if (tracked[i].fd == fd)
		{
			tracked[i] = tracked[--n_tracked];
			break;
		}
	}
	return close(fd);
}

/* Does a socket's address (local or peer) have this IP and port? */
static bool
address_is(curl_socket_t fd, bool peer, const char *ip, int port)
{
	struct sockaddr_storage addr;
	socklen_t	len = sizeof(addr);
	char		text[INET6_ADDRSTRLEN];
	const void *in;
	int			p;

	if ((peer ? getpeername(fd, (struct sockaddr *) &addr, &len) :
		 getsockname(fd, (struct sockaddr *) &addr, &len)) != 0)
		return false;
	if (addr.ss_family == AF_INET)
	{
		in = &((struct sockaddr_in *) &addr)->sin_addr;
		p = ntohs(((struct sockaddr_in *) &addr)->sin_port);
	}
	else if (addr.ss_family == AF_INET6)
	{
		in = &((struct sockaddr_in6 *) &addr)->sin6_addr;
		p = ntohs(((struct sockaddr_in6 *) &addr)->sin6_port);
	}
	else
		return false;
	return p == port && inet_ntop(addr.ss_family, in, text, sizeof(text)) != NULL &&
		strcmp(text, ip) == 0;
}

/*
 * Called once the connection is chosen, before the request is sent: a reused
 * connection with bytes waiting is dropped (aborting the transfer closes it)
 * and the caller sends the request again on a new one.  A new connection is
 * not looked at: a TLS server sends session tickets after the handshake.
 */
static int
on_prereq(void *clientp, char *primary_ip, char *local_ip,
		  int primary_port, int local_port)
{
	Received   *r = (Received *) clientp;

	for (int i = 0; i < n_tracked; i++)
	{
		char		c;

		if (!address_is(tracked[i].fd, false, local_ip, local_port) ||
			!address_is(tracked[i].fd, true, primary_ip, primary_port))
			continue;
		if (tracked[i].opened_by != r->serial &&
			recv(tracked[i].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		{
			r->stale_connection = true;
			return CURL_PREREQFUNC_ABORT;
		}
		break;
	}
	return CURL_PREREQFUNC_OK;
}

/* Was the transfer given up because its reused connection held stray bytes? */
static bool
aborted_for_stale_connection(CURLcode rc, const Received *r)
{
	return rc == CURLE_ABORTED_BY_CALLBACK && r->stale_connection;
}

/*
 * Whom the transfer trusts and through what it goes.  The proxy setting
 * covers https only, as libcurl's https_proxy does; when it is empty libcurl
 * reads the server's environment.  The authorities named also vouch for an
 * https proxy.
 */
static void
configure_trust(CURL *h, const char *url, Received *r)
{
	if (stockelt_ca_file[0] != '\0')
	{
		curl_easy_setopt(h, CURLOPT_CAINFO, stockelt_ca_file);
		curl_easy_setopt(h, CURLOPT_PROXY_CAINFO, stockelt_ca_file);
	}
	if (stockelt_ca_path[0] != '\0')
	{
		curl_easy_setopt(h, CURLOPT_CAPATH, stockelt_ca_path);
		curl_easy_setopt(h, CURLOPT_PROXY_CAPATH, stockelt_ca_path);
	}
	if (stockelt_no_proxy[0] != '\0')
		curl_easy_setopt(h, CURLOPT_NOPROXY, stockelt_no_proxy);
	if (stockelt_https_proxy[0] != '\0' && pg_strncasecmp(url, "https://", 8) == 0)
	{
		curl_easy_setopt(h, CURLOPT_PROXY, stockelt_https_proxy);
		r->via_proxy = true;
	}
}

/*
 * Sets up a transfer.  fresh: on a new connection, after a reused one was
 * found holding stray bytes.
 */
static void
configure(CURL *h, const HttpRequest *req, const char *url, Received *r,
		  char *errbuf, bool fresh)
{
	r->serial = ++last_serial;
	r->stale_connection = false;
	r->via_proxy = false;
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
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, NULL);
	curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(h, CURLOPT_PREREQDATA, r);
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
	configure_trust(h, url, r);
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

/* A header or libcurl's own text, bounded and printable, for a message. */
static char *
excerpt_of(const char *text)
{
	return http_excerpt(text, strlen(text), HTTP_EXCERPT_LEN);
}

static void
describe_proxy_failure(HttpResponse *resp)
{
	resp->error_code = ERRCODE_STOCKELT_PROXY;
	resp->error_summary = "the proxy refused or failed the connection";
	resp->error_hint = "Check the proxy named by stockelt.https_proxy, or empty it to connect directly.";
}

static void
describe_failure(CURLcode rc, const Received *r, const char *errbuf,
				 const HttpRequest *req, HttpResponse *resp)
{
	const char *text = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	/* A proxy that answered CONNECT with anything but 200 failed, whatever libcurl calls it. */
	if (r->via_proxy && r->proxy_status != 0 && r->proxy_status != 200)
		rc = CURLE_COULDNT_CONNECT;
	switch (rc)
	{
		case CURLE_OPERATION_TIMEDOUT:
			resp->error_code = ERRCODE_STOCKELT_TIMEOUT;
			resp->error_summary = "the request timed out";
			break;
		case CURLE_COULDNT_CONNECT:
			if (r->via_proxy)
				describe_proxy_failure(resp);
			else
			{
				resp->error_code = ERRCODE_STOCKELT_CONNECTION_REFUSED;
				resp->error_summary = "could not connect to the server";
			}
			break;
		case CURLE_COULDNT_RESOLVE_PROXY:
#if LIBCURL_VERSION_NUM >= 0x074900
		case CURLE_PROXY:
#endif
			describe_proxy_failure(resp);
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
			resp->error_code = ERRCODE_STOCKELT_TLS_UNTRUSTED;
			resp->error_summary = "the server's certificate is not trusted";
			resp->error_hint = "Name the authority that signed it with stockelt.ca_file (or stockelt.ca_path).";
			break;
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CRL_BADFILE:
			resp->error_code = ERRCODE_STOCKELT_TLS_CA_FILE;
			resp->error_summary = "the certificate authorities could not be read";
			resp->error_hint = "stockelt.ca_file must name a readable PEM file of certificates, stockelt.ca_path a directory of them.";
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
	resp->error_detail = http_redact(excerpt_of(text), req->secret);
}

/* One transfer without redirects; the Location header lands in r->location. */
static void
perform_once(const HttpRequest *req, const char *url, HttpResponse *resp,
			 Received *r)
{
	char		errbuf[CURL_ERROR_SIZE];
	CURLcode	rc;

	memset(r, 0, sizeof(*r));
	PG_TRY();
	{
		for (int attempt = 0;; attempt++)
		{
			errbuf[0] = '\0';
			free(r->data);
			memset(r, 0, sizeof(*r));
			r->limit = (size_t) stockelt_max_response_kb * 1024;
			configure(easy_handle, req, url, r, errbuf, attempt > 0);
			rc = perform_cancellable(easy_handle);
			curl_easy_getinfo(easy_handle, CURLINFO_HTTP_CONNECTCODE, &r->proxy_status);
			/* The request was never sent: sending it on a new connection costs no call. */
			if (attempt > 0 || !aborted_for_stale_connection(rc, r))
				break;
		}
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
				http_redact(psprintf("The server redirected to another host: %s",
									 excerpt_of(r.location)), req->secret) :
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

/*
 * Length of the longest run of text, from its start, that equals some part of
 * the secret, ignoring case.  Texts are messages (upstream words arrive
 * through http_excerpt), so the quadratic search stays small.
 */
static size_t
longest_secret_run(const char *text, const char *secret, size_t slen)
{
	size_t		best = 0;

	for (size_t j = 0; j < slen; j++)
	{
		size_t		k = 0;

		while (text[k] != '\0' && j + k < slen &&
			   pg_ascii_tolower((unsigned char) text[k]) ==
			   pg_ascii_tolower((unsigned char) secret[j + k]))
			k++;
		best = Max(best, k);
	}
	return best;
}

/* Replaces every run that is part of the secret and at least min_run long. */
static char *
redact_runs(const char *text, const char *secret)
{
	size_t		slen = strlen(secret);
	size_t		min_run = Min(slen, REDACT_MIN_RUN);
	StringInfoData out;

	initStringInfo(&out);
	while (*text)
	{
		size_t		run = longest_secret_run(text, secret, slen);

		if (run >= min_run)
		{
			appendStringInfoString(&out, "[redacted]");
			text += run;
		}
		else
			appendStringInfoChar(&out, *text++);
	}
	return out.data;
}

/*
 * Removes the secret from a text: every piece of it of eight characters or
 * more (the whole of a shorter secret), in any case, raw or percent-encoded.
 * A server that echoes a cut-off or lower-cased key leaks nothing either.
 */
char *
http_redact(const char *text, const char *secret)
{
	char	   *escaped;
	char	   *out;

	if (text == NULL)
		return NULL;
	if (secret == NULL || secret[0] == '\0')
		return pstrdup(text);
	out = redact_runs(text, secret);
	escaped = http_escape(secret, false);
	if (strcmp(escaped, secret) != 0)
		out = redact_runs(out, escaped);
	return out;
}

/*
 * What an upstream server sent, fit for a message: at most max_len bytes,
 * printable ASCII only (anything else becomes a space), "..." where it was
 * cut.  Secrets are redacted afterwards, from the short text.
 */
char *
http_excerpt(const char *data, size_t len, size_t max_len)
{
	size_t		n = Min(len, max_len);
	char	   *out = palloc(n + 4);

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) data[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char) c : ' ';
	}
	strcpy(out + n, len > n ? "..." : "");
	return out;
}

/* ---------------------------------------------------------------- the worker's pool */

typedef struct PoolSlot
{
	CURL	   *easy;
	bool		busy;
	Received	r;
	bool		resent;			/* sent again on a new connection */
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

static void
pool_add(HttpPool *pool, PoolSlot *s, bool fresh)
{
	free(s->r.data);
	memset(&s->r, 0, sizeof(s->r));
	s->r.limit = (size_t) stockelt_max_response_kb * 1024;
	s->errbuf[0] = '\0';
	s->resent = fresh;
	configure(s->easy, &s->req, s->req.url, &s->r, s->errbuf, fresh);
	if (curl_multi_add_handle(pool->multi, s->easy) != CURLM_OK)
		elog(ERROR, "could not start a libcurl transfer");
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
	pool_add(pool, s, false);
	s->busy = true;
}

/*
 * Sends a slot's request again on a new connection: the reused one held
 * stray bytes, and the request never left.  False if it was already resent.
 */
static bool
pool_resend(HttpPool *pool, PoolSlot *s, CURLcode rc)
{
	if (!aborted_for_stale_connection(rc, &s->r) || s->resent)
		return false;
	curl_multi_remove_handle(pool->multi, s->easy);
	pool_add(pool, s, true);
	return true;
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
			resp->error_detail = http_redact(psprintf("The server redirected to %s.",
													  excerpt_of(s->r.location)),
											 s->req.secret);
		}
	}
	else
	{
		curl_easy_getinfo(s->easy, CURLINFO_HTTP_CONNECTCODE, &s->r.proxy_status);
		describe_failure(rc, &s->r, s->errbuf, &s->req, resp);
	}
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
					if (pool_resend(pool, &pool->slots[i], msg->data.result))
						break;
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
