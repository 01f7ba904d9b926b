/*
 * s3.c
 *		S3 requests signed with AWS Signature V4.
 *
 * stockelt signs each request itself rather than through libcurl's
 * CURLOPT_AWS_SIGV4, which canonicalises the query string again on its own
 * terms: libcurl 8.14 (Debian trixie's) signs "%2B" in a value as "%20", a
 * space, while S3 signs the "+" that was sent, so every listing of a prefix
 * with a "+" in it was refused (SignatureDoesNotMatch).  Here the URL is
 * built in canonical form (keys sorted, values encoded with upper-case hex,
 * "/" encoded in values), and exactly its path and query are what is signed,
 * with the Host, X-Amz-Date, x-amz-content-sha256 and Content-Type headers.
 */
#include "postgres.h"

#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "miscadmin.h"

#include "errcodes.h"
#include "settings.h"
#include "http.h"
#include "s3.h"
#include "sha256.h"

typedef struct S3Call
{
	const char *method;
	const char *key;			/* object key, or NULL for the bucket */
	const char *query;			/* canonical query string, or NULL */
	const char *body;
	size_t		body_len;
	const char *content_type;
} S3Call;

bool
s3_configured(void)
{
	return stockelt_s3_endpoint != NULL && stockelt_s3_endpoint[0] != '\0';
}

/* The access key id from its setting, else the environment; the secret comes from settings.c. */
static const char *
access_key_id(void)
{
	const char *env;

	if (stockelt_s3_access_key_id && stockelt_s3_access_key_id[0] != '\0')
		return stockelt_s3_access_key_id;
	env = getenv("AWS_ACCESS_KEY_ID");
	return env ? env : "";
}

void
s3_require_configuration(void)
{
	if (!s3_configured() || stockelt_s3_bucket[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("S3 bronze store is not configured"),
				 errhint("Set stockelt.s3_endpoint and stockelt.s3_bucket.")));
	if (access_key_id()[0] == '\0' ||
		stockelt_effective_s3_secret()[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("S3 credentials are not configured"),
				 errhint("Set stockelt.s3_access_key_id and stockelt.s3_secret_access_key_file, "
						 "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the server's environment.")));
}

/* endpoint/bucket/key in path style, bucket.endpoint/key otherwise. */
static char *
object_url(const char *key, const char *query)
{
	const char *endpoint = stockelt_s3_endpoint;
	int			elen = strlen(endpoint);
	const char *path = key ? http_escape(key, true) : "";
	const char *q = query ? "?" : "";

	while (elen > 0 && endpoint[elen - 1] == '/')
		elen--;
	if (stockelt_s3_path_style)
		return psprintf("%.*s/%s/%s%s%s", elen, endpoint, stockelt_s3_bucket,
						path, q, query ? query : "");
	else
	{
		const char *host = strstr(endpoint, "://") + 3;

		return psprintf("%.*s%s.%.*s/%s%s%s", (int) (host - endpoint), endpoint,
						stockelt_s3_bucket, (int) (elen - (host - endpoint)), host,
						path, q, query ? query : "");
	}
}

/* HMAC-SHA256 of data under key into out (32 bytes). */
static void
hmac_sha256(const unsigned char *key, size_t key_len, const char *data, unsigned char *out)
{
	unsigned int out_len = 0;

	if (HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) data, strlen(data),
			 out, &out_len) == NULL || out_len != 32)
		elog(ERROR, "could not compute HMAC-SHA256");
}

/*
 * The Host, X-Amz-Date and Authorization headers of a request to url (as
 * object_url builds it: already canonical) with the given payload hash,
 * signed with AWS Signature V4 for stockelt.s3_region's "s3" service.
 */
static List *
sigv4_headers(const char *method, const char *url, const char *content_type,
			  const char *payload_hash, const char *access_key, const char *secret)
{
	const char *authority = strstr(url, "://") + 3;
	const char *path = authority + strcspn(authority, "/");
	const char *query = strchr(path, '?');
	int			path_len = query ? (int) (query - path) : (int) strlen(path);
	char		amz_date[17];
	char		date[9];
	time_t		now = time(NULL);
	struct tm	tm;
	char	   *host = pnstrdup(authority, path - authority);
	/* Ceph 20 refuses (AccessDenied) a Content-Type left out of the signature. */
	const char *signed_names = content_type ? "content-type;host;x-amz-content-sha256;x-amz-date"
		: "host;x-amz-content-sha256;x-amz-date";
	char	   *canonical;
	char	   *scope;
	char	   *to_sign;
	char		canonical_hash[SHA256_HEX_LEN];
	char	   *key0 = psprintf("AWS4%s", secret);
	unsigned char key[32];
	unsigned char signature[32];
	char		signature_hex[65];

	if (gmtime_r(&now, &tm) == NULL ||
		strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
		elog(ERROR, "could not format the request time");
	memcpy(date, amz_date, 8);
	date[8] = '\0';

	canonical = psprintf("%s\n%.*s\n%s\n%shost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n\n"
						 "%s\n%s",
						 method, path_len, path, query ? query + 1 : "",
						 content_type ? psprintf("content-type:%s\n", content_type) : "",
						 host, payload_hash, amz_date, signed_names, payload_hash);
	if (!sha256_hex(canonical, strlen(canonical), canonical_hash))
		elog(ERROR, "could not compute SHA-256");
	scope = psprintf("%s/%s/s3/aws4_request", date, stockelt_s3_region);
	to_sign = psprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canonical_hash);

	hmac_sha256((unsigned char *) key0, strlen(key0), date, key);
	explicit_bzero(key0, strlen(key0));
	hmac_sha256(key, sizeof(key), stockelt_s3_region, key);
	hmac_sha256(key, sizeof(key), "s3", key);
	hmac_sha256(key, sizeof(key), "aws4_request", key);
	hmac_sha256(key, sizeof(key), to_sign, signature);
	explicit_bzero(key, sizeof(key));
	for (int i = 0; i < 32; i++)
		sprintf(signature_hex + 2 * i, "%02x", signature[i]);

	return list_make3(psprintf("Host: %s", host),
					  psprintf("X-Amz-Date: %s", amz_date),
					  psprintf("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, "
							   "SignedHeaders=%s, Signature=%s",
							   access_key, scope, signed_names, signature_hex));
}

/* The text of the first <tag>…</tag> after start, entities decoded; NULL if absent. */
static char *
xml_text(const char *start, const char *end, const char *tag, const char **after)
{
	char	   *open = psprintf("<%s>", tag);
	char	   *close = psprintf("</%s>", tag);
	const char *b = strstr(start, open);
	const char *e;
	StringInfoData out;

	if (b == NULL || (end && b >= end))
		return NULL;
	b += strlen(open);
	e = strstr(b, close);
	if (e == NULL || (end && e > end))
		return NULL;
	if (after)
		*after = e + strlen(close);
	initStringInfo(&out);
	for (const char *p = b; p < e; p++)
	{
		static const char *const names[][2] = {
			{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}
		};
		bool		done = false;

		if (*p == '&' && p[1] == '#')
		{
			char	   *stop;
			long		cp = (p[2] == 'x') ? strtol(p + 3, &stop, 16) : strtol(p + 2, &stop, 10);

			if (*stop == ';' && cp > 0 && cp < 0x80)
			{
				appendStringInfoChar(&out, (char) cp);
				p = stop;
				continue;
			}
		}
		for (size_t i = 0; i < lengthof(names) && *p == '&' && !done; i++)
		{
			size_t		n = strlen(names[i][0]);

			if (strncmp(p, names[i][0], n) == 0)
			{
				appendStringInfoString(&out, names[i][1]);
				p += n - 1;
				done = true;
			}
		}
		if (!done)
			appendStringInfoChar(&out, *p);
	}
	return out.data;
}

/*
 * What the S3 server wrote, as a message may show it: a bounded, printable
 * excerpt with every piece of the secret redacted (a server may echo it).
 */
static char *
upstream_text(const char *text)
{
	if (text == NULL)
		return NULL;
	return http_redact(http_excerpt(text, strlen(text), HTTP_EXCERPT_LEN),
					   stockelt_effective_s3_secret());
}

static void
raise_s3_error(const S3Call *call, const HttpResponse *resp)
{
	const char *what = call->key ? call->key : stockelt_s3_bucket;
	char	   *code;
	char	   *message;
	int			sqlstate = ERRCODE_STOCKELT_S3_ERROR;

	if (!resp->ok)
		ereport(ERROR,
				(errcode(resp->error_code),
				 errmsg("could not reach S3 endpoint for %s of \"%s\": %s",
						call->method, what, resp->error_summary),
				 errdetail_internal("%s", resp->error_detail),
				 resp->error_hint ? errhint("%s", resp->error_hint) : 0));

	code = upstream_text(xml_text(resp->body.data, NULL, "Code", NULL));
	message = upstream_text(xml_text(resp->body.data, NULL, "Message", NULL));
	if (code == NULL)
		code = (resp->status == 404) ? (call->key ? "NoSuchKey" : "NoSuchBucket") :
			(resp->status == 403) ? "AccessDenied" : "(no code)";
	if (strcmp(code, "NoSuchBucket") == 0)
		sqlstate = ERRCODE_STOCKELT_S3_NO_SUCH_BUCKET;
	else if (strcmp(code, "NoSuchKey") == 0)
		sqlstate = ERRCODE_STOCKELT_NO_SUCH_OBJECT;
	else if (resp->status == 403)
		sqlstate = ERRCODE_STOCKELT_S3_ACCESS_DENIED;

	ereport(ERROR,
			(errcode(sqlstate),
			 call->key ?
			 errmsg("S3 %s of \"%s\" in bucket \"%s\" failed: %s",
					call->method, call->key, stockelt_s3_bucket, code) :
			 errmsg("S3 %s of bucket \"%s\" failed: %s",
					call->method, stockelt_s3_bucket, code),
			 errdetail("HTTP status %ld%s%s", resp->status,
					   message ? ": " : "", message ? message : ""),
			 sqlstate == ERRCODE_STOCKELT_S3_ACCESS_DENIED ?
			 errhint("Check stockelt.s3_access_key_id, stockelt.s3_secret_access_key_file and stockelt.s3_region.") : 0));
}

/* Sends one signed request; the caller looks at the status. */
static void
s3_request(const S3Call *call, HttpResponse *resp)
{
	HttpRequest req = {0};
	char		body_hash[SHA256_HEX_LEN];
	struct curl_slist *volatile headers = NULL;
	const char *secret = stockelt_effective_s3_secret();
	List	   *signed_headers;

	s3_require_configuration();
	if (!sha256_hex(call->body ? call->body : "", call->body_len, body_hash))
		elog(ERROR, "could not compute SHA-256");

	req.url = object_url(call->key, call->query);
	signed_headers = sigv4_headers(call->method, req.url, call->content_type, body_hash,
								   access_key_id(), secret);

	PG_TRY();
	{
		ListCell   *lc;

		foreach(lc, signed_headers)
			headers = curl_slist_append(headers, lfirst(lc));
		headers = curl_slist_append(headers, psprintf("x-amz-content-sha256: %s", body_hash));
		if (call->content_type)
			headers = curl_slist_append(headers, psprintf("Content-Type: %s", call->content_type));
		if (headers == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

		req.method = call->method;
		req.body = call->body;
		req.body_len = call->body_len;
		req.headers = headers;
		req.secret = secret;
		http_perform(&req, resp);
	}
	PG_FINALLY();
	{
		curl_slist_free_all(headers);
	}
	PG_END_TRY();
}

char *
s3_put(const char *key, const char *data, size_t len, const char *content_type)
{
	S3Call		call = {"PUT", key, NULL, data, len, content_type};
	HttpResponse resp;

	s3_request(&call, &resp);
	if (!resp.ok || resp.status != 200)
		raise_s3_error(&call, &resp);
	return pstrdup(resp.etag);
}

void
s3_get(const char *key, StringInfo out)
{
	S3Call		call = {"GET", key};
	HttpResponse resp;

	s3_request(&call, &resp);
	if (!resp.ok || resp.status != 200)
		raise_s3_error(&call, &resp);
	*out = resp.body;
}

bool
s3_head(const char *key)
{
	S3Call		call = {"HEAD", key};
	HttpResponse resp;

	s3_request(&call, &resp);
	if (resp.ok && resp.status == 404)
		return false;
	if (!resp.ok || resp.status != 200)
		raise_s3_error(&call, &resp);
	return true;
}

/* Proves that the bucket exists and the credentials work, before an API call is spent. */
void
s3_check_bucket(void)
{
	S3Call		call = {"HEAD", NULL};
	HttpResponse resp;

	s3_request(&call, &resp);
	if (!resp.ok || resp.status != 200)
		raise_s3_error(&call, &resp);
}

static char *
list_query(const char *prefix, const char *token)
{
	/* keys in sorted order, as the canonical request needs them */
	if (token)
		return psprintf("continuation-token=%s&list-type=2&prefix=%s",
						http_escape(token, false), http_escape(prefix, false));
	return psprintf("list-type=2&prefix=%s", http_escape(prefix, false));
}

/* Appends the objects of one ListObjectsV2 page; returns the next token or NULL. */
static char *
parse_list_page(const char *xml, List **objects)
{
	const char *p = xml;
	const char *block;
	char	   *truncated;

	while ((block = strstr(p, "<Contents>")) != NULL)
	{
		const char *end = strstr(block, "</Contents>");
		S3Object   *obj = palloc0(sizeof(S3Object));
		char	   *size;

		if (end == NULL)
			break;
		obj->key = xml_text(block, end, "Key", NULL);
		size = xml_text(block, end, "Size", NULL);
		obj->size = size ? strtoll(size, NULL, 10) : -1;
		obj->etag = xml_text(block, end, "ETag", NULL);
		obj->last_modified = xml_text(block, end, "LastModified", NULL);
		if (obj->key)
			*objects = lappend(*objects, obj);
		p = end;
	}
	truncated = xml_text(xml, NULL, "IsTruncated", NULL);
	if (truncated && strcmp(truncated, "true") == 0)
		return xml_text(xml, NULL, "NextContinuationToken", NULL);
	return NULL;
}

List *
s3_list(const char *prefix)
{
	List	   *objects = NIL;
	char	   *token = NULL;

	do
	{
		S3Call		call = {"GET", NULL, list_query(prefix, token)};
		HttpResponse resp;

		s3_request(&call, &resp);
		if (!resp.ok || resp.status != 200)
			raise_s3_error(&call, &resp);
		token = parse_list_page(resp.body.data, &objects);
		CHECK_FOR_INTERRUPTS();
	} while (token != NULL);
	return objects;
}
