#define OPENSSL_SUPPRESS_DEPRECATED
#include "vncauth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/des.h>

#define FILE_MAX 4095

/* vncpasswd's fixed obfuscation key, before the bit reversal VNC applies to keys. */
static const uint8_t obfuscation_key[8] = {23, 82, 107, 6, 35, 78, 88, 7};

/* VNC's d3des takes key bits least significant first; standard DES (OpenSSL) takes
 * them most significant first, so every key byte is mirrored. */
static uint8_t reverse_bits(uint8_t b)
{
	b = (uint8_t)((b & 0xf0) >> 4 | (b & 0x0f) << 4);
	b = (uint8_t)((b & 0xcc) >> 2 | (b & 0x33) << 2);
	return (uint8_t)((b & 0xaa) >> 1 | (b & 0x55) << 1);
}

static void des_blocks(const uint8_t raw_key[8], const uint8_t *in, uint8_t *out, size_t blocks,
		       int enc)
{
	DES_cblock key;
	DES_key_schedule ks;
	for (int i = 0; i < 8; i++)
		key[i] = reverse_bits(raw_key[i]);
	/* The parity bits of a VNC key are password bits, so the checked setter would
	 * refuse ordinary passwords. */
	DES_set_key_unchecked(&key, &ks);
	for (size_t i = 0; i < blocks; i++)
		DES_ecb_encrypt((const_DES_cblock *)(in + 8 * i), (DES_cblock *)(out + 8 * i), &ks,
				enc);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&ks, sizeof(ks));
}

int pg_vncauth_response(const char *password, const uint8_t challenge[16], uint8_t response[16])
{
	uint8_t key[8] = {0};
	if (!password || !challenge || !response)
		return -EINVAL;
	size_t n = strnlen(password, PG_VNCAUTH_MAX_PASSWORD);
	memcpy(key, password, n);
	des_blocks(key, challenge, response, 2, DES_ENCRYPT);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

static int read_all(const char *path, uint8_t *data, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	int rc = 0;
	/* One byte more than cap tells "exactly cap" from "too big". */
	while (got <= cap) {
		ssize_t r = read(fd, data + got, cap + 1 - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (rc == 0 && got > cap)
		rc = -EFBIG;
	*len = got;
	return rc;
}

static int is_plain_text(const uint8_t *d, size_t len)
{
	if (len != 8 && len != 16)
		return 1;
	if (d[len - 1] != '\n')
		return 0;
	for (size_t i = 0; i + 1 < len; i++)
		if ((d[i] < 0x20 || d[i] > 0x7e) && d[i] != '\r')
			return 0;
	return 1;
}

int pg_vncauth_read_password_file(const char *path, char *buf, size_t size)
{
	uint8_t data[FILE_MAX + 1];
	size_t len = 0, n;
	int rc;

	if (!path || !buf || size == 0)
		return -EINVAL;
	rc = read_all(path, data, FILE_MAX, &len);
	if (rc < 0)
		goto out;
	if (!is_plain_text(data, len)) {
		uint8_t plain[8];
		des_blocks(obfuscation_key, data, plain, 1, DES_DECRYPT);
		n = strnlen((const char *)plain, sizeof(plain));
		if (n + 1 > size) {
			rc = -E2BIG;
		} else {
			memcpy(buf, plain, n);
			buf[n] = '\0';
		}
		OPENSSL_cleanse(plain, sizeof(plain));
	} else {
		n = 0;
		while (n < len && data[n] != '\n' && data[n] != '\0')
			n++;
		if (n > 0 && data[n - 1] == '\r')
			n--;
		if (n + 1 > size) {
			rc = -E2BIG;
		} else {
			memcpy(buf, data, n);
			buf[n] = '\0';
		}
	}
	if (rc == 0 && buf[0] == '\0')
		rc = -EINVAL;
out:
	OPENSSL_cleanse(data, sizeof(data));
	if (rc < 0)
		OPENSSL_cleanse(buf, size);
	return rc;
}
