#include "totp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int pg_totp_hotp(const uint8_t *key, size_t key_len, uint64_t counter, int digits, uint32_t *code)
{
	static const uint32_t pow10[] = {1,	 10,	  100,	    1000,      10000,
					 100000, 1000000, 10000000, 100000000, 1000000000};
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!key || !code || key_len == 0 || key_len > PG_TOTP_MAX_KEY || digits < 1 || digits > 9)
		return -EINVAL;
	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)counter;
		counter >>= 8;
	}
	if (!HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof(msg), mac, &mac_len) || mac_len < 20) {
		OPENSSL_cleanse(mac, sizeof(mac));
		return -EINVAL;
	}
	/* RFC 4226 5.3 dynamic truncation. */
	unsigned off = mac[mac_len - 1] & 0x0f;
	uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
		       (uint32_t)mac[off + 2] << 8 | mac[off + 3];
	*code = bin % pow10[digits];
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

uint64_t pg_totp_step(uint64_t now)
{
	return now / PG_TOTP_STEP;
}

int pg_totp_verify(const uint8_t *key, size_t key_len, const char *code, size_t code_len,
		   uint64_t now, uint64_t *last_step)
{
	char want[PG_TOTP_DIGITS + 1];
	uint64_t step = pg_totp_step(now), matched = 0;
	bool found = false;

	if (!key || !code || !last_step || code_len != PG_TOTP_DIGITS)
		return -EINVAL;
	for (size_t i = 0; i < code_len; i++)
		if (code[i] < '0' || code[i] > '9')
			return -EINVAL;
	/* Every step of the window is computed and compared, whichever matches, so the
	 * time taken says nothing about which step (if any) was right. */
	for (int d = -PG_TOTP_WINDOW; d <= PG_TOTP_WINDOW; d++) {
		uint32_t v;
		if (d < 0 && step < (uint64_t)-d)
			continue;
		uint64_t s = step + (uint64_t)(int64_t)d;
		if (pg_totp_hotp(key, key_len, s, PG_TOTP_DIGITS, &v) < 0)
			return -EINVAL;
		snprintf(want, sizeof(want), "%0*u", PG_TOTP_DIGITS, (unsigned)v);
		if (CRYPTO_memcmp(want, code, PG_TOTP_DIGITS) == 0 && !found) {
			found = true;
			matched = s;
		}
	}
	OPENSSL_cleanse(want, sizeof(want));
	if (!found)
		return -EACCES;
	if (matched <= *last_step)
		return -EALREADY;
	*last_step = matched;
	return 0;
}

int pg_totp_base32_encode(const uint8_t *data, size_t len, char *out, size_t size)
{
	size_t need = (len * 8 + 4) / 5;
	if (!out || (len && !data) || size < need + 1 || need > (size_t)__INT_MAX__)
		return -E2BIG;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = acc << 8 | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = base32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = base32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return (int)o;
}

static int base32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int pg_totp_base32_decode(const char *text, size_t len, uint8_t *out, size_t size)
{
	if (!text || (size && !out))
		return -EINVAL;
	size_t chars = len;
	while (chars > 0 && text[chars - 1] == '=')
		chars--;
	/* Padding, when present, completes the last 8-character group exactly. */
	if (chars != len && (len % 8 != 0 || len - chars >= 7))
		return -EINVAL;
	/* A final group of 1, 3 or 6 characters is never produced by an encoder. */
	size_t rem = chars % 8;
	if (rem == 1 || rem == 3 || rem == 6)
		return -EINVAL;
	if (chars != len) {
		static const unsigned pad_for_rem[8] = {0, 0, 6, 0, 4, 3, 0, 1};
		if (len - chars != pad_for_rem[rem])
			return -EINVAL;
	}
	size_t n = chars * 5 / 8;
	if (n > size)
		return -E2BIG;
	if (n > (size_t)__INT_MAX__)
		return -E2BIG;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < chars; i++) {
		int v = base32_value(text[i]);
		if (v < 0)
			goto fail;
		acc = (acc << 5 | (uint32_t)v) & 0xfff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero, so each byte string has one spelling. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		goto fail;
	return (int)o;
fail:
	OPENSSL_cleanse(out, o);
	return -EINVAL;
}

static int percent_encode(const char *s, char *out, size_t size, size_t *pos)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		size_t need = plain ? 1 : 3;
		if (*pos + need >= size)
			return -E2BIG;
		if (plain) {
			out[(*pos)++] = (char)c;
		} else {
			out[(*pos)++] = '%';
			out[(*pos)++] = hex[c >> 4];
			out[(*pos)++] = hex[c & 15];
		}
	}
	out[*pos] = '\0';
	return 0;
}

int pg_totp_uri(const char *user, const char *secret_base32, char *out, size_t size)
{
	size_t pos = 0;
	if (!user || !secret_base32 || !out)
		return -EINVAL;
	int n = snprintf(out, size, "otpauth://totp/pixelgate:");
	if (n < 0 || (size_t)n >= size)
		return -E2BIG;
	pos = (size_t)n;
	if (percent_encode(user, out, size, &pos) < 0)
		return -E2BIG;
	n = snprintf(out + pos, size - pos,
		     "?secret=%s&issuer=pixelgate&algorithm=SHA1&digits=%d&period=%d",
		     secret_base32, PG_TOTP_DIGITS, PG_TOTP_STEP);
	if (n < 0 || (size_t)n >= size - pos) {
		OPENSSL_cleanse(out, size);
		return -E2BIG;
	}
	pos += (size_t)n;
	return pos > (size_t)__INT_MAX__ ? -E2BIG : (int)pos;
}

int pg_auth_split_password_code(const char *input, size_t input_len, size_t *password_len,
				const char **code)
{
	if (!input || !password_len || !code || input_len < PG_TOTP_DIGITS)
		return -EINVAL;
	const char *c = input + input_len - PG_TOTP_DIGITS;
	for (size_t i = 0; i < PG_TOTP_DIGITS; i++)
		if (c[i] < '0' || c[i] > '9')
			return -EINVAL;
	*password_len = input_len - PG_TOTP_DIGITS;
	*code = c;
	return 0;
}
