/* The local user database: a text file of users with their groups, scrypt password
 * hash, optional TOTP secret and flags, and the password hashing itself.
 *
 * File format (docs/users-file.md): one user per line, five fields separated by ':'
 *
 *     NAME:GROUPS:HASH:TOTP:FLAGS
 *     alice:staff,it:$scrypt$ln=14,r=8,p=1$<salt>$<hash>:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP:
 *     bob:staff:$scrypt$ln=14,r=8,p=1$<salt>$<hash>::locked
 *
 *  - NAME: 1..PG_USERS_MAX_NAME of [A-Za-z0-9._@-], starting with a letter or digit;
 *  - GROUPS: comma-separated group names (same characters, no '@'), may be empty;
 *  - HASH: $scrypt$ln=L,r=R,p=P$SALT$KEY, SALT and KEY base64 (RFC 4648 alphabet,
 *    no padding), N = 2^L; parameters above the caps below are refused;
 *  - TOTP: RFC 4648 base32 secret (upper case, no padding), or empty for none;
 *  - FLAGS: comma-separated, may be empty; the only flag is "locked".
 * Lines starting with '#' and blank lines are comments and survive a save. Lines are
 * at most PG_USERS_MAX_LINE bytes, the file at most PG_USERS_MAX_USERS users.
 *
 * A database belongs to one thread; nothing here logs. Functions return 0 or a
 * negative errno. Hashing a password (add, change, verify) takes about 75 ms with the
 * default parameters on a 2020s x86 core: a caller with an event loop runs it on a
 * worker thread (verification only reads the database, so concurrent verifications
 * are safe while nothing modifies it). */
#ifndef PG_AUTH_USERS_H
#define PG_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_USERS_MAX_NAME     64	/* bytes of a user or group name */
#define PG_USERS_MAX_GROUPS   32	/* groups per user */
#define PG_USERS_MAX_LINE     1024	/* bytes per line, newline excluded */
#define PG_USERS_MAX_USERS    10000	/* users per file */
#define PG_USERS_MAX_FILE     (8 << 20) /* bytes per file */
#define PG_USERS_MAX_PASSWORD 1024	/* bytes of a password pg_users_* will hash */
#define PG_USERS_MAX_HASH     256	/* bytes of a hash string, NUL excluded */

/* scrypt parameters written for new passwords: N = 2^14, r = 8, p = 1, 16 MiB and
 * about 75 ms per hash on a 2020s x86 core. */
#define PG_USERS_SCRYPT_LN 14
#define PG_USERS_SCRYPT_R  8
#define PG_USERS_SCRYPT_P  1
/* Caps on stored parameters, so a hostile or mistyped users file cannot make one
 * verification take seconds or gigabytes: ln in [PG_USERS_SCRYPT_MIN_LN, 20],
 * r in [1, 32], p in [1, 16], memory 128 * r * N at most 64 MiB, and N * r * p
 * (the work) at most 2^20, four times the default, about 0.6 s. */
#define PG_USERS_SCRYPT_MIN_LN	 10
#define PG_USERS_SCRYPT_MAX_MEM	 (64u << 20)
#define PG_USERS_SCRYPT_MAX_WORK (1u << 20)

struct pg_users;
struct pg_user;

/* An empty database. NULL when out of memory. */
struct pg_users *pg_users_new(void);

/* Read and parse the users file at path into *out. On failure *out is NULL and err
 * (when not NULL) holds "PATH:LINE: reason" or "PATH: reason". The file must not be
 * readable or writable by others (it holds TOTP secrets): -EPERM otherwise.
 * Returns 0, -EINVAL (parse error), -EFBIG, -E2BIG (too many users), -ENOMEM,
 * -EPERM, or the negative errno of open/read. */
int pg_users_load(const char *path, struct pg_users **out, char *err, size_t err_size);

/* Parse text (len bytes) as a users file; origin names it in error messages. */
int pg_users_parse(const char *text, size_t len, const char *origin, struct pg_users **out,
		   char *err, size_t err_size);

/* Write db to path atomically: a temporary file in the same folder, created mode
 * 0600 (an existing file's group and group-read bit are kept), written, fsync'ed, then
 * renamed over path and the folder fsync'ed. Returns 0 or a negative errno; on
 * failure path is untouched. */
int pg_users_save(const struct pg_users *db, const char *path);

/* Wipe and free. NULL is fine. */
void pg_users_del(struct pg_users *db);

/* The user called name, or NULL. Valid until db is modified or freed. */
const struct pg_user *pg_users_lookup(const struct pg_users *db, const char *name);
size_t pg_users_count(const struct pg_users *db);
/* The i-th user in file order, or NULL past the end. */
const struct pg_user *pg_users_at(const struct pg_users *db, size_t i);

const char *pg_users_name(const struct pg_user *u);
/* The groups as written in the file ("a,b", "" for none). */
const char *pg_users_groups(const struct pg_user *u);
bool pg_users_in_group(const struct pg_user *u, const char *group);
bool pg_users_is_locked(const struct pg_user *u);
bool pg_users_has_totp(const struct pg_user *u);
/* Step of the last TOTP code accepted for this user (0 for none). It lives in memory
 * only: a caller that reloads the file copies it to the new database with
 * pg_users_set_totp_last_step so a code cannot be replayed across a reload. */
uint64_t pg_users_totp_last_step(const struct pg_user *u);
int pg_users_set_totp_last_step(struct pg_users *db, const char *name, uint64_t step);

/* Hash password (len bytes) with scrypt, parameters ln, r, p (within the caps), and a
 * fresh random 16-byte salt, into out as "$scrypt$...". Returns 0, -EINVAL for
 * parameters out of range, a password over PG_USERS_MAX_PASSWORD or one with a NUL
 * byte (HMAC would not tell "pw" from "pw\0"), -E2BIG when size
 * is too small (PG_USERS_MAX_HASH + 1 is always enough), -EIO when OpenSSL fails. */
int pg_users_hash_password(const char *password, size_t len, unsigned ln, unsigned r, unsigned p,
			   char *out, size_t size);

/* Check the syntax and parameter caps of a hash string: 0, -EINVAL (malformed) or
 * -ERANGE (parameters over the caps). */
int pg_users_check_hash(const char *hash);

/* Verify name's password (len bytes). Always runs one scrypt: for an unknown user
 * with the default parameters against a dummy hash, so the time taken does not tell
 * who exists. Returns 0 when it matches, -ENOENT for an unknown user, -EACCES for a
 * wrong password (any password with a NUL byte is wrong), -EPERM for a locked user
 * whatever the password, -EINVAL for a password over PG_USERS_MAX_PASSWORD (still
 * after one scrypt). */
int pg_users_verify_password(const struct pg_users *db, const char *name, const char *password,
			     size_t len);

/* Why an authentication failed, for the audit log; the viewer is told none of it. */
enum pg_users_result {
	PG_USERS_OK = 0,
	PG_USERS_UNKNOWN_USER,
	PG_USERS_BAD_PASSWORD,
	PG_USERS_LOCKED,
	PG_USERS_TOTP_MISSING,	    /* TOTP user, input does not end in a code */
	PG_USERS_TOTP_NOT_ENROLLED, /* TOTP required but the user has no secret */
	PG_USERS_TOTP_BAD,
	PG_USERS_TOTP_REPLAYED,
	PG_USERS_BAD_INPUT, /* over PG_USERS_MAX_PASSWORD */
};
/* A short English reason ("wrong password", ...), never NULL. */
const char *pg_users_result_str(enum pg_users_result r);

/* The whole check for one login: input (len bytes) is the password, followed by the
 * TOTP code when the user has a secret (see pg_auth_split_password_code). TOTP is
 * checked only after the password matched, and its replay state is updated. With
 * require_totp, a user without a secret is refused. now is unix time. Returns 0 or
 * -EACCES with *why set. Runs one scrypt, like pg_users_verify_password, and modifies
 * db (the replay state): call it from db's thread, or split the work as it does. */
int pg_users_authenticate(struct pg_users *db, const char *name, const char *input, size_t len,
			  bool require_totp, uint64_t now, enum pg_users_result *why);

/* Validation of single fields, for tools that take them from a command line. */
bool pg_users_valid_name(const char *name);
/* groups: comma-separated, may be empty; duplicates are refused. */
bool pg_users_valid_groups(const char *groups);

/* Changes. name must exist (-ENOENT) except for add (-EEXIST when it does);
 * -EINVAL for a malformed field, -E2BIG when the database is full. */
int pg_users_add(struct pg_users *db, const char *name, const char *groups, const char *hash);
int pg_users_remove(struct pg_users *db, const char *name);
int pg_users_set_hash(struct pg_users *db, const char *name, const char *hash);
int pg_users_set_groups(struct pg_users *db, const char *name, const char *groups);
int pg_users_set_locked(struct pg_users *db, const char *name, bool locked);
/* secret_base32: the base32 secret, or NULL to turn TOTP off. Either way the replay
 * state is reset. */
int pg_users_set_totp(struct pg_users *db, const char *name, const char *secret_base32);

/* The user's TOTP key, decoded into key (at least PG_TOTP_MAX_KEY bytes). Returns the
 * key length, -ENOENT, or -ENODATA when the user has no secret. Wipe it after use. */
int pg_users_totp_key(const struct pg_users *db, const char *name, uint8_t *key, size_t size);

#endif
