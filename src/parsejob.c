/*
 * parsejob.c
 *		Parsing on helper threads, so that a batch ingest writes one object's
 *		rows while the next ones are parsed and checksummed.
 *
 * A helper thread runs nothing of PostgreSQL: only parse.c, jansson and
 * sha256.c.  It blocks every signal, so that signals keep going to
 * the backend's own thread.
 */
#include <lz4.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "parsejob.h"
#include "sha256.h"

static bool
checksum_matches(const char *body, size_t len, const char *expected_hex)
{
	char		hex[SHA256_HEX_LEN];

	return sha256_hex(body, len, hex) && strcmp(hex, expected_hex) == 0;
}

static void *
parse_job_main(void *arg)
{
	ParseJob   *job = (ParseJob *) arg;

	/*
	 * The backend's own thread writes the rows and is the one that paces a
	 * batch; helpers yield to it and take whatever CPU is left.
	 */
	(void) setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid), 10);
	job->decompressed_ok = true;
	if (job->compressed != NULL &&
		LZ4_decompress_safe(job->compressed, (char *) job->body, (int) job->compressed_len,
							(int) job->len) != (int) job->len)
	{
		job->decompressed_ok = false;
		job->checksum_ok = false;
		job->rc = -1;
		snprintf(job->reason, sizeof(job->reason), "the stored body does not decompress");
		return NULL;
	}
	job->checksum_ok = job->expected_sha256 == NULL ||
		checksum_matches(job->body, job->len, job->expected_sha256);
	job->rc = parse_weekly_adjusted(job->body, job->len, job->expected_symbol,
									&job->series, job->reason);
	return NULL;
}

void
parse_weekly_start(ParseJob *job, const char *body, size_t len,
				   const char *expected_symbol, const char *expected_sha256)
{
	parse_weekly_start_lz4(job, NULL, 0, (char *) body, len, expected_symbol, expected_sha256);
}

void
parse_weekly_start_lz4(ParseJob *job, const char *compressed, size_t compressed_len,
					   char *body, size_t len, const char *expected_symbol,
					   const char *expected_sha256)
{
	sigset_t	all;
	sigset_t	old;

	job->compressed = compressed;
	job->compressed_len = compressed_len;
	job->body = body;
	job->len = len;
	job->expected_symbol = expected_symbol;
	job->expected_sha256 = expected_sha256;
	job->running = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&job->thread, NULL, parse_job_main, job) == 0)
		job->running = 1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!job->running)
		parse_job_main(job);	/* no thread to be had: parse here */
}

int
parse_weekly_finish(ParseJob *job)
{
	if (job->running)
	{
		pthread_join(job->thread, NULL);
		job->running = 0;
	}
	return job->rc;
}
