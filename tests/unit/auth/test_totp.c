/* TOTP against RFC 6238's and RFC 4226's vectors, base32 against RFC 4648's, the
 * verification window, replay refusal, the enrolment URI and the password/code split. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/totp.h"

static const uint8_t rfc_key[] = "12345678901234567890";
#define RFC_KEY_LEN 20

Test(totp, rfc6238_sha1_vectors)
{
	static const struct {
		uint64_t t;
		uint32_t code;
	} v[] = {
	    {59, 94287082},	    {1111111109, 7081804},  {1111111111, 14050471},
	    {1234567890, 89005924}, {2000000000, 69279037}, {20000000000ull, 65353130},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t code;
		cr_assert_eq(pg_totp_hotp(rfc_key, RFC_KEY_LEN, pg_totp_step(v[i].t), 8, &code), 0);
		cr_assert_eq(code, v[i].code, "t=%llu: %08u, want %08u", (unsigned long long)v[i].t,
			     code, v[i].code);
	}
}

Test(totp, rfc4226_hotp_vectors)
{
	static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
					254676, 287922, 162583, 399871, 520489};
	for (uint64_t c = 0; c < 10; c++) {
		uint32_t code;
		cr_assert_eq(pg_totp_hotp(rfc_key, RFC_KEY_LEN, c, 6, &code), 0);
		cr_assert_eq(code, want[c], "counter %llu", (unsigned long long)c);
	}
}

Test(totp, hotp_bad_arguments)
{
	uint32_t code;
	cr_assert_eq(pg_totp_hotp(rfc_key, 0, 0, 6, &code), -EINVAL);
	cr_assert_eq(pg_totp_hotp(rfc_key, RFC_KEY_LEN, 0, 0, &code), -EINVAL);
	cr_assert_eq(pg_totp_hotp(rfc_key, RFC_KEY_LEN, 0, 10, &code), -EINVAL);
	cr_assert_eq(pg_totp_hotp(NULL, RFC_KEY_LEN, 0, 6, &code), -EINVAL);
}

static void code_at(uint64_t t, char out[7])
{
	uint32_t c;
	cr_assert_eq(pg_totp_hotp(rfc_key, RFC_KEY_LEN, pg_totp_step(t), 6, &c), 0);
	snprintf(out, 7, "%06u", c);
}

Test(totp, window_of_one_step_each_side)
{
	const uint64_t now = 1700000000; /* step 56666666, 20 s into it */
	char code[7];
	for (int d = -3; d <= 3; d++) {
		uint64_t last = 0;
		code_at(now + (uint64_t)(int64_t)(d * 30), code);
		int rc = pg_totp_verify(rfc_key, RFC_KEY_LEN, code, 6, now, &last);
		if (d >= -1 && d <= 1) {
			cr_assert_eq(rc, 0, "step %+d refused", d);
			cr_assert_eq(last, pg_totp_step(now) + (uint64_t)(int64_t)d);
		} else {
			cr_assert_eq(rc, -EACCES, "step %+d accepted", d);
			cr_assert_eq(last, 0);
		}
	}
}

Test(totp, replay_refused)
{
	const uint64_t now = 1700000000;
	char code[7], prev[7], next[7];
	uint64_t last = 0;
	code_at(now, code);
	code_at(now - 30, prev);
	code_at(now + 30, next);
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, code, 6, now, &last), 0);
	/* The same code again, even a few seconds later, and an older one. */
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, code, 6, now + 5, &last), -EALREADY);
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, prev, 6, now, &last), -EALREADY);
	/* The next step's code is new. */
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, next, 6, now + 30, &last), 0);
	cr_assert_eq(last, pg_totp_step(now) + 1);
}

Test(totp, malformed_codes)
{
	uint64_t last = 0;
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, "12345", 5, 59, &last), -EINVAL);
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, "1234567", 7, 59, &last), -EINVAL);
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, "12a456", 6, 59, &last), -EINVAL);
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, " 12345", 6, 59, &last), -EINVAL);
	/* Near the epoch the window does not wrap below step 0. */
	char code[7];
	code_at(0, code);
	cr_assert_eq(pg_totp_verify(rfc_key, RFC_KEY_LEN, code, 6, 0, &last), -EALREADY,
		     "step 0 equals the 'none yet' marker and is never accepted");
}

Test(base32, rfc4648_vectors)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const padded[] = {
	    "", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
	for (size_t i = 0; i < 7; i++) {
		char enc[32], want[32];
		uint8_t dec[16];
		size_t n = strlen(plain[i]);
		snprintf(want, sizeof(want), "%s", padded[i]);
		*strchrnul(want, '=') = '\0';
		cr_assert_eq(pg_totp_base32_encode((const uint8_t *)plain[i], n, enc, sizeof(enc)),
			     (int)strlen(want));
		cr_assert_str_eq(enc, want);
		/* Decodes with and without padding, and in lower case. */
		cr_assert_eq(pg_totp_base32_decode(padded[i], strlen(padded[i]), dec, sizeof(dec)),
			     (int)n, "%s", padded[i]);
		cr_assert_arr_eq(dec, plain[i], n);
		cr_assert_eq(pg_totp_base32_decode(want, strlen(want), dec, sizeof(dec)), (int)n);
		cr_assert_arr_eq(dec, plain[i], n);
		for (char *p = want; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		cr_assert_eq(pg_totp_base32_decode(want, strlen(want), dec, sizeof(dec)), (int)n);
		cr_assert_arr_eq(dec, plain[i], n);
	}
}

Test(base32, bad_input)
{
	uint8_t out[16];
	static const char *const bad[] = {
	    "M",	/* a length no encoder produces */
	    "MZX",	/* likewise */
	    "MZXW6Y",	/* likewise */
	    "MY1",	/* '1' is not base32 */
	    "MZ======", /* non-zero trailing bits */
	    "MY=",	/* incomplete padding */
	    "MY=======", "MZXW6===x", "MZ XW6",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(pg_totp_base32_decode(bad[i], strlen(bad[i]), out, sizeof(out)),
			     -EINVAL, "%s", bad[i]);
	cr_assert_eq(pg_totp_base32_decode("MZXW6YTBOI", 10, out, 5), -E2BIG);
	char small[4];
	cr_assert_eq(pg_totp_base32_encode((const uint8_t *)"foo", 3, small, sizeof(small)),
		     -E2BIG);
}

Test(totp, uri)
{
	char uri[256];
	int n = pg_totp_uri("alice", "JBSWY3DPEHPK3PXP", uri, sizeof(uri));
	cr_assert_str_eq(uri, "otpauth://totp/pixelgate:alice?secret=JBSWY3DPEHPK3PXP"
			      "&issuer=pixelgate&algorithm=SHA1&digits=6&period=30");
	cr_assert_eq(n, (int)strlen(uri));
	pg_totp_uri("a.b@example.jp", "JBSWY3DPEHPK3PXP", uri, sizeof(uri));
	cr_assert(strstr(uri, "pixelgate:a.b%40example.jp?secret="), "%s", uri);
	cr_assert_eq(pg_totp_uri("alice", "JBSWY3DPEHPK3PXP", uri, 40), -E2BIG);
}

Test(totp, split_password_code)
{
	size_t pw_len;
	const char *code;
	const char *in = "correct horse123456";
	cr_assert_eq(pg_auth_split_password_code(in, strlen(in), &pw_len, &code), 0);
	cr_assert_eq(pw_len, strlen("correct horse"));
	cr_assert_eq(strncmp(in, "correct horse", pw_len), 0);
	cr_assert_str_eq(code, "123456");
	/* A password ending in digits keeps them: only the last six are the code. */
	in = "pass2024654321";
	cr_assert_eq(pg_auth_split_password_code(in, strlen(in), &pw_len, &code), 0);
	cr_assert_eq(pw_len, 8);
	cr_assert_str_eq(code, "654321");
	/* Just a code: an empty password. */
	cr_assert_eq(pg_auth_split_password_code("000000", 6, &pw_len, &code), 0);
	cr_assert_eq(pw_len, 0);
	/* Forgot the code, or too short. */
	cr_assert_eq(pg_auth_split_password_code("password", 8, &pw_len, &code), -EINVAL);
	cr_assert_eq(pg_auth_split_password_code("pass12345x", 10, &pw_len, &code), -EINVAL);
	cr_assert_eq(pg_auth_split_password_code("12345", 5, &pw_len, &code), -EINVAL);
	/* Not NUL-terminated: only input_len bytes are looked at. */
	char buf[] = {'p', 'w', '1', '2', '3', '4', '5', '6', 'X'};
	cr_assert_eq(pg_auth_split_password_code(buf, 8, &pw_len, &code), 0);
	cr_assert_eq(pw_len, 2);
	cr_assert_eq(code, buf + 2);
}
