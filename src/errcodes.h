/*
 * errcodes.h
 *		The SQLSTATEs stockelt raises, and which of them are worth retrying.
 *
 * Every failure of the pipeline has a SQLSTATE of its own in class "SE", so
 * callers (and the background worker) can tell a throttle from a bad symbol
 * without reading message text.  Include after postgres.h.
 */
#ifndef STOCKELT_ERRCODES_H
#define STOCKELT_ERRCODES_H

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
#define ERRCODE_STOCKELT_TLS_UNTRUSTED		MAKE_SQLSTATE('S','E','1','0','7')
#define ERRCODE_STOCKELT_TLS_CA_FILE		MAKE_SQLSTATE('S','E','1','0','8')
#define ERRCODE_STOCKELT_PROXY				MAKE_SQLSTATE('S','E','1','0','9')

/* Bronze store */
#define ERRCODE_STOCKELT_S3_ERROR			MAKE_SQLSTATE('S','E','2','0','0')
#define ERRCODE_STOCKELT_S3_ACCESS_DENIED	MAKE_SQLSTATE('S','E','2','0','1')
#define ERRCODE_STOCKELT_S3_NO_SUCH_BUCKET	MAKE_SQLSTATE('S','E','2','0','2')
#define ERRCODE_STOCKELT_NO_SUCH_OBJECT		MAKE_SQLSTATE('S','E','2','0','3')
#define ERRCODE_STOCKELT_OBJECT_EXISTS		MAKE_SQLSTATE('S','E','2','0','4')

/* Citus cluster */
#define ERRCODE_STOCKELT_CITUS_LAYOUT		MAKE_SQLSTATE('S','E','3','0','0')
#define ERRCODE_STOCKELT_CITUS_WORKER		MAKE_SQLSTATE('S','E','3','0','1')

/*
 * Whether the same call, made again later, may succeed: the provider or the
 * network had a bad moment, a store or the server's own resources failed, a
 * transaction lost to another.  An HTTP status (SE100) is transient when it
 * is a server error, 429 or 408.  A spent daily quota (SE002) is transient
 * too, but only from the next day on: the worker waits for it apart.  Every
 * other failure (a bad symbol, a premium function, an invalid key, a bad
 * payload, a refused redirect, an untrusted certificate or unreadable
 * authorities) comes back the same however often it is tried; a proxy that
 * refused may be back later.
 */
static inline bool
stockelt_errcode_is_transient(int sqlstate, long http_status)
{
	switch (sqlstate)
	{
		case ERRCODE_STOCKELT_HTTP_STATUS:
			return http_status >= 500 || http_status == 429 || http_status == 408;
		case ERRCODE_STOCKELT_THROTTLED:
		case ERRCODE_STOCKELT_DAILY_QUOTA:
		case ERRCODE_STOCKELT_TIMEOUT:
		case ERRCODE_STOCKELT_CONNECTION_REFUSED:
		case ERRCODE_STOCKELT_CONNECTION_RESET:
		case ERRCODE_STOCKELT_TRANSPORT:
		case ERRCODE_STOCKELT_PROXY:
		case ERRCODE_STOCKELT_TRUNCATED:
		case ERRCODE_STOCKELT_NOT_JSON:
		case ERRCODE_STOCKELT_EMPTY_RESPONSE:
		case ERRCODE_STOCKELT_UNEXPECTED:
		case ERRCODE_STOCKELT_S3_ERROR:
		case ERRCODE_OUT_OF_MEMORY:
		case ERRCODE_T_R_DEADLOCK_DETECTED:
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
			return true;
		default:
			return false;
	}
}

#endif							/* STOCKELT_ERRCODES_H */
