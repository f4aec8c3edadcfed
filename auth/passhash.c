/* Password hashing for the users file: scrypt (through OpenSSL) in the PHC-like
 * string "$scrypt$ln=L,r=R,p=P$SALT$KEY", with parameters capped so that a
 * tampered users file cannot make a verification slow or huge. */
#include "passhash.h"
#include "users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SALT_LEN     16 /* bytes of salt in new hashes */
#define KEY_LEN	     32 /* bytes of derived key in new hashes */
#define MIN_SALT_LEN 8
#define MAX_SALT_LEN 64
#define MIN_KEY_LEN  16
#define MAX_KEY_LEN  64

struct scrypt_hash {
	unsigned ln, r, p;
	uint8_t salt[MAX_SALT_LEN];
	size_t salt_len;
	uint8_t key[MAX_KEY_LEN];
	size_t key_len;
};

/* ---- base64 (RFC 4648 alphabet, no padding), as in PHC strings ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8 | in[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64_alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64_alphabet[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return o;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;
	return p ? (int)(p - b64_alphabet) : -1;
}

/* Strict: no padding, no stray bits, so a hash has one spelling. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	if (len % 4 == 1 || len * 3 / 4 > size)
		return -EINVAL;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(in[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6 | (uint32_t)v) & 0xffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -EINVAL;
	return (int)o;
}

/* ---- scrypt ---- */

static bool params_ok(unsigned ln, unsigned r, unsigned p)
{
	if (ln < PG_USERS_SCRYPT_MIN_LN || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16)
		return false;
	uint64_t n = (uint64_t)1 << ln;
	return 128 * r * n <= PG_USERS_SCRYPT_MAX_MEM && n * r * p <= PG_USERS_SCRYPT_MAX_WORK;
}

static int scrypt(const char *password, size_t len, const uint8_t *salt, size_t salt_len,
		  unsigned ln, unsigned r, unsigned p, uint8_t *out, size_t out_len)
{
	uint64_t n = (uint64_t)1 << ln;
	/* OpenSSL needs 128 * r * (N + 2) bytes for V plus 128 * r * p for B. */
	uint64_t maxmem = 128 * (uint64_t)r * (n + 2 + p) + 4096;
	if (!EVP_PBE_scrypt(password, len, salt, salt_len, n, r, p, maxmem, out, out_len))
		return -EIO;
	return 0;
}

static int read_uint(const char **s, const char *prefix, unsigned *v)
{
	size_t pl = strlen(prefix);
	if (strncmp(*s, prefix, pl) != 0)
		return -EINVAL;
	const char *p = *s + pl;
	unsigned x = 0;
	int digits = 0;
	/* No leading zeros, at most three digits: one spelling per value. */
	while (*p >= '0' && *p <= '9') {
		if (++digits > 3 || (digits == 2 && x == 0))
			return -EINVAL;
		x = x * 10 + (unsigned)(*p++ - '0');
	}
	if (digits == 0)
		return -EINVAL;
	*v = x;
	*s = p;
	return 0;
}

static int parse_hash(const char *s, struct scrypt_hash *h)
{
	if (strlen(s) > PG_USERS_MAX_HASH)
		return -EINVAL;
	if (read_uint(&s, "$scrypt$ln=", &h->ln) < 0 || read_uint(&s, ",r=", &h->r) < 0 ||
	    read_uint(&s, ",p=", &h->p) < 0 || *s++ != '$')
		return -EINVAL;
	const char *dollar = strchr(s, '$');
	if (!dollar)
		return -EINVAL;
	int n = b64_decode(s, (size_t)(dollar - s), h->salt, sizeof(h->salt));
	if (n < MIN_SALT_LEN)
		return -EINVAL;
	h->salt_len = (size_t)n;
	s = dollar + 1;
	n = b64_decode(s, strlen(s), h->key, sizeof(h->key));
	if (n < MIN_KEY_LEN)
		return -EINVAL;
	h->key_len = (size_t)n;
	if (!params_ok(h->ln, h->r, h->p))
		return -ERANGE;
	return 0;
}

int pg_users_check_hash(const char *hash)
{
	struct scrypt_hash h;
	if (!hash)
		return -EINVAL;
	int rc = parse_hash(hash, &h);
	OPENSSL_cleanse(&h, sizeof(h));
	return rc;
}

int pg_users_hash_password(const char *password, size_t len, unsigned ln, unsigned r, unsigned p,
			   char *out, size_t size)
{
	uint8_t salt[SALT_LEN], key[KEY_LEN];
	char salt64[SALT_LEN * 2], key64[KEY_LEN * 2];
	int rc;

	if (!password || !out || len > PG_USERS_MAX_PASSWORD || memchr(password, '\0', len) ||
	    !params_ok(ln, r, p))
		return -EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -EIO;
	rc = scrypt(password, len, salt, sizeof(salt), ln, r, p, key, sizeof(key));
	if (rc < 0)
		goto out;
	b64_encode(salt, sizeof(salt), salt64);
	b64_encode(key, sizeof(key), key64);
	int n = snprintf(out, size, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", ln, r, p, salt64, key64);
	rc = (n < 0 || (size_t)n >= size) ? -E2BIG : 0;
	if (rc < 0 && size > 0)
		OPENSSL_cleanse(out, size);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(key64, sizeof(key64));
	return rc;
}

/* 0 when password matches hash, -EACCES when not, -EINVAL/-ERANGE/-EIO otherwise. */
int pg_passhash_verify(const char *hash, const char *password, size_t len)
{
	struct scrypt_hash h;
	uint8_t key[MAX_KEY_LEN];
	int rc = parse_hash(hash, &h);
	if (rc == 0)
		rc = scrypt(password, len, h.salt, h.salt_len, h.ln, h.r, h.p, key, h.key_len);
	if (rc == 0)
		rc = CRYPTO_memcmp(key, h.key, h.key_len) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&h, sizeof(h));
	return rc;
}

/* The work of a verification with the default parameters, for users who do not
 * exist and inputs that are refused, so the answer comes no sooner. */
void pg_passhash_dummy(const char *password, size_t len)
{
	static const uint8_t salt[SALT_LEN] = "pixelgate-dummy";
	uint8_t key[KEY_LEN];
	if (len > PG_USERS_MAX_PASSWORD)
		len = PG_USERS_MAX_PASSWORD;
	scrypt(password ? password : "", password ? len : 0, salt, sizeof(salt), PG_USERS_SCRYPT_LN,
	       PG_USERS_SCRYPT_R, PG_USERS_SCRYPT_P, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
}
