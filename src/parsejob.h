/*
 * parsejob.h
 *		A weekly payload parsed, and its checksum verified, on a helper thread.
 */
#ifndef STOCKELT_PARSEJOB_H
#define STOCKELT_PARSEJOB_H

#include <pthread.h>
#include <stdbool.h>

#include "parse.h"

/*
 * body, compressed, expected_symbol and expected_sha256 must stay valid until
 * parse_weekly_finish, which waits for the thread and returns what
 * parse_weekly_adjusted would; the series or the reason is then in the job.
 * Call finish exactly once for each start.
 */
typedef struct ParseJob
{
	pthread_t	thread;
	int			running;
	const char *body;
	size_t		len;
	const char *compressed;		/* lz4 data to decompress into body first, or NULL */
	size_t		compressed_len;
	bool		decompressed_ok;
	const char *expected_symbol;
	const char *expected_sha256;	/* hex, or NULL not to check */
	bool		checksum_ok;
	int			rc;
	WeeklySeries series;
	char		reason[PARSE_REASON_LEN];
} ParseJob;

extern void parse_weekly_start(ParseJob *job, const char *body, size_t len,
							   const char *expected_symbol, const char *expected_sha256);

/*
 * The same for a body still lz4-compressed as PostgreSQL stored it: the
 * thread decompresses compressed into body (len bytes, allocated by the
 * caller) before checking and parsing it.
 */
extern void parse_weekly_start_lz4(ParseJob *job, const char *compressed, size_t compressed_len,
								   char *body, size_t len, const char *expected_symbol,
								   const char *expected_sha256);
extern int	parse_weekly_finish(ParseJob *job);

#endif							/* STOCKELT_PARSEJOB_H */
