/* VNC authentication against libvncserver's own DES code and password files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rfb/rfb.h>

#include "auth/vncauth.h"

Test(vncauth, response_matches_libvncserver)
{
	static const char *const pw[] = {"a", "s3cret", "8charsok", "longer than eight"};
	for (size_t i = 0; i < sizeof(pw) / sizeof(pw[0]); i++) {
		for (int round = 0; round < 8; round++) {
			uint8_t ch[16], want[16], got[16];
			for (int k = 0; k < 16; k++)
				ch[k] = (uint8_t)(k * 37 + round * 101 + i * 7);
			memcpy(want, ch, 16);
			rfbEncryptBytes(want, (char *)pw[i]);
			cr_assert_eq(pg_vncauth_response(pw[i], ch, got), 0);
			cr_assert_arr_eq(got, want, 16, "password \"%s\"", pw[i]);
		}
	}
	uint8_t ch[16] = {0}, r[16];
	cr_assert_eq(pg_vncauth_response(NULL, ch, r), -EINVAL);
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	fclose(f);
}

Test(vncauth, password_files)
{
	char path[] = "/tmp/pg-vncauth-XXXXXX", buf[64];
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);

	cr_assert_eq(rfbEncryptAndStorePasswd((char *)"pa55wd", path), 0);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "pa55wd");

	/* TigerVNC's 16-byte form: the view-only half is ignored. */
	uint8_t two[16];
	FILE *f = fopen(path, "rb");
	cr_assert_eq(fread(two, 1, 8, f), 8);
	fclose(f);
	memcpy(two + 8, two, 8);
	write_file(path, two, 16);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "pa55wd");

	write_file(path, "plain text\r\nsecond line\n", 24);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "plain text");

	/* Eight bytes, but a printable line: plain text, not obfuscated. */
	write_file(path, "seven77\n", 8);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "seven77");

	write_file(path, "", 0);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), -EINVAL);
	write_file(path, "\n", 1);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), -EINVAL);
	write_file(path, "abcdefghij\n", 11);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, 4), -E2BIG);
	static char big[5000];
	memset(big, 'x', sizeof(big));
	write_file(path, big, sizeof(big));
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), -EFBIG);
	unlink(path);
	cr_assert_eq(pg_vncauth_read_password_file(path, buf, sizeof(buf)), -ENOENT);
}
