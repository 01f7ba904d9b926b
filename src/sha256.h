/*
 * sha256.h
 *		SHA-256 in hex, without PostgreSQL, so that parser threads can check a
 *		body as the backend does.
 */
#ifndef STOCKELT_SHA256_H
#define STOCKELT_SHA256_H

#include <stdbool.h>
#include <stddef.h>

/* 64 hex digits and the terminator. */
#define SHA256_HEX_LEN 65

/* Writes the lower-case hex SHA-256 of a buffer into hex; false if OpenSSL failed. */
extern bool sha256_hex(const char *data, size_t len, char *hex);

#endif							/* STOCKELT_SHA256_H */
