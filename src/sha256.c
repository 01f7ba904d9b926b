/*
 * sha256.c
 *		The one SHA-256 of stockelt: bronze checksums, S3 payload hashes, and
 *		the checks parser threads make.
 *
 * OpenSSL's one-shot digest allocates nothing of PostgreSQL and keeps no
 * state, so any thread may call it.
 */
#include <openssl/sha.h>

#include "sha256.h"

bool
sha256_hex(const char *data, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[SHA256_DIGEST_LENGTH];

	if (SHA256((const unsigned char *) data, len, digest) == NULL)
	{
		hex[0] = '\0';
		return false;
	}
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
	{
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 0x0F];
	}
	hex[2 * SHA256_DIGEST_LENGTH] = '\0';
	return true;
}
