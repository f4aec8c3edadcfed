/* TOTP second factor (RFC 6238: HMAC-SHA1, 30 s step, 6 digits), base32 (RFC 4648)
 * and the otpauth:// URI authenticator apps scan. Pure: no clock, no I/O; the caller
 * passes the time. Thread-safe. Key material is wiped before returning. */
#ifndef PG_AUTH_TOTP_H
#define PG_AUTH_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define PG_TOTP_STEP	 30 /* seconds per time step */
#define PG_TOTP_DIGITS	 6  /* digits of the code a user types */
#define PG_TOTP_WINDOW	 1  /* steps accepted either side of now (clock skew) */
#define PG_TOTP_MIN_KEY	 10 /* bytes; RFC 4226 asks for 16, apps accept 10 */
#define PG_TOTP_MAX_KEY	 64 /* bytes */
#define PG_TOTP_KEY_SIZE 20 /* bytes pixelgate generates (160 bits, RFC 4226's advice) */
/* Base32 length of a PG_TOTP_MAX_KEY key, without padding. */
#define PG_TOTP_MAX_BASE32 ((PG_TOTP_MAX_KEY * 8 + 4) / 5)

/* HOTP (RFC 4226) of counter with key, truncated to digits (1..9) decimal digits.
 * Returns 0 and sets *code, or -EINVAL for a bad argument or key size. */
int pg_totp_hotp(const uint8_t *key, size_t key_len, uint64_t counter, int digits, uint32_t *code);

/* The time step of unix time now: now / PG_TOTP_STEP. */
uint64_t pg_totp_step(uint64_t now);

/* Check a code (code_len bytes, which must be exactly PG_TOTP_DIGITS ASCII digits)
 * against steps now-1, now, now+1. *last_step is the step of the last
 * code this user had accepted (0 for none): the caller keeps it per user, and a code
 * of that step or an older one is refused, so a code overheard once cannot be
 * replayed. Returns 0 and advances *last_step, -EACCES for a wrong code, -EALREADY
 * for a replayed one, -EINVAL for a malformed code or key. */
int pg_totp_verify(const uint8_t *key, size_t key_len, const char *code, size_t code_len,
		   uint64_t now, uint64_t *last_step);

/* RFC 4648 base32 of len bytes into out (NUL-terminated, no '=' padding). Returns the
 * length written, or -E2BIG when size is too small (at least (len * 8 + 4) / 5 + 1). */
int pg_totp_base32_encode(const uint8_t *data, size_t len, char *out, size_t size);

/* Decode RFC 4648 base32 (either case; '=' padding optional but, when present, must
 * be complete; no spaces) into out. Returns the byte count, -EINVAL for a bad
 * character, a length no encoder produces, padding in the wrong place or non-zero
 * trailing bits, -E2BIG when size is too small. */
int pg_totp_base32_decode(const char *text, size_t len, uint8_t *out, size_t size);

/* The enrolment URI: otpauth://totp/pixelgate:USER?secret=BASE32&issuer=pixelgate
 * &algorithm=SHA1&digits=6&period=30, with the user percent-encoded. Returns the
 * length written, -E2BIG when size is too small, -EINVAL for a NULL argument. The
 * URI holds the secret: show it to the user enrolling and nowhere else. */
int pg_totp_uri(const char *user, const char *secret_base32, char *out, size_t size);

/* Viewers show one password box, so a TOTP user types the password immediately
 * followed by the current code, with no separator: "correct horse" and code 123456
 * are typed "correct horse123456". This takes the last PG_TOTP_DIGITS bytes of
 * input (input_len bytes, need not be NUL-terminated) as the code: *password_len is
 * set to input_len - PG_TOTP_DIGITS (the password is the first *password_len bytes
 * of input, and may itself end in digits), *code points at the code within input.
 * Returns 0, or -EINVAL when input is shorter than the code or its last
 * PG_TOTP_DIGITS bytes are not all digits (the user forgot the code). */
int pg_auth_split_password_code(const char *input, size_t input_len, size_t *password_len,
				const char **code);

#endif
