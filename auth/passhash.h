/* scrypt password hashes as the users file stores them (see users.h for the format
 * and pg_users_hash_password / pg_users_check_hash). Thread-safe, no I/O. */
#ifndef PG_AUTH_PASSHASH_H
#define PG_AUTH_PASSHASH_H

#include <stddef.h>

/* 0 when password (len bytes) matches hash, -EACCES when not, -EINVAL or -ERANGE for
 * a malformed hash or one over the parameter caps, -EIO when OpenSSL fails. Constant
 * time in the comparison. */
int pg_passhash_verify(const char *hash, const char *password, size_t len);

/* The work of one verification with the default parameters, for users who do not
 * exist and inputs that are refused, so the answer comes no sooner. */
void pg_passhash_dummy(const char *password, size_t len);

#endif
