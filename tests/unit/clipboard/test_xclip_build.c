/* The builders, byte for byte against messages computed by hand from the community
 * rfbproto spec ("Extended Clipboard Pseudo-Encoding"), and the provide's zlib
 * stream against zlib's own one-shot compress2 of the same data. */
#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>

#include "codec/clipboard.h"
#include "codec/err.h"
#include "codec/rfb.h"

static struct pg_buf b;

static void setup(void)
{
	pg_buf_init(&b, 4u << 20);
}

static void teardown(void)
{
	pg_buf_free(&b);
}

TestSuite(xclip_build, .init = setup, .fini = teardown);

static void expect(const uint8_t *want, size_t n)
{
	cr_assert_eq(b.len, n, "length %zu, want %zu", b.len, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(b.data[i], want[i], "byte %zu: %02x, want %02x", i, b.data[i],
			     want[i]);
	pg_buf_reset(&b);
}

Test(xclip_build, pseudo_encoding_number)
{
	cr_assert_eq((uint32_t)PG_ENC_EXT_CLIPBOARD, 0xC0A1E5CEu);
}

Test(xclip_build, caps)
{
	/* ServerCutText, length -8: flags caps|request|peek|notify|provide|text, then
	 * one size (text's) */
	static const uint8_t to_viewer[] = {3,	  0, 0, 0, 0xff, 0xff, 0xff, 0xf8,
					    0x1f, 0, 0, 1, 0,	 0,    0,    0};
	cr_assert_eq(pg_xclip_build_caps(&b, true, PG_XCLIP_ACTIONS, 0), 0);
	expect(to_viewer, sizeof(to_viewer));

	/* ClientCutText toward the host, request and provide only, 4096 bytes; bits
	 * that are not actions pixelgate supports are dropped */
	static const uint8_t to_host[] = {6,	0, 0, 0, 0xff, 0xff, 0xff, 0xf8,
					  0x13, 0, 0, 1, 0,    0,    0x10, 0};
	cr_assert_eq(
	    pg_xclip_build_caps(
		&b, false, PG_XCLIP_REQUEST | PG_XCLIP_PROVIDE | PG_XCLIP_RTF | (1u << 29), 4096),
	    0);
	expect(to_host, sizeof(to_host));

	cr_assert_eq(pg_xclip_build_caps(&b, true, PG_XCLIP_ACTIONS, PG_XCLIP_MAX_TEXT + 1),
		     PG_ELIMIT);
	cr_assert_eq(b.len, 0);
}

Test(xclip_build, request_peek_notify)
{
	static const uint8_t request[] = {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x02, 0, 0, 1};
	static const uint8_t peek[] = {3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x04, 0, 0, 0};
	static const uint8_t notify_yes[] = {3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x08, 0, 0, 1};
	static const uint8_t notify_no[] = {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x08, 0, 0, 0};

	cr_assert_eq(pg_xclip_build_request(&b, false), 0);
	expect(request, sizeof(request));
	cr_assert_eq(pg_xclip_build_peek(&b, true), 0);
	expect(peek, sizeof(peek));
	cr_assert_eq(pg_xclip_build_notify(&b, true, true), 0);
	expect(notify_yes, sizeof(notify_yes));
	cr_assert_eq(pg_xclip_build_notify(&b, false, false), 0);
	expect(notify_no, sizeof(notify_no));
}

/* The provide's stream is exactly zlib's compression of size, text, NUL in a fresh
 * stream ended with a sync flush, as TigerVNC and noVNC send it. */
static void check_provide(bool to_viewer, const char *text)
{
	size_t len = strlen(text);
	uint8_t raw[256];
	cr_assert_lt(len + 5, sizeof(raw));
	pg_wr32(raw, (uint32_t)len + 1);
	memcpy(raw + 4, text, len + 1);
	uint8_t z[512];
	z_stream zs = {0};
	cr_assert_eq(deflateInit(&zs, Z_DEFAULT_COMPRESSION), Z_OK);
	zs.next_in = raw;
	zs.avail_in = (uInt)(len + 5);
	zs.next_out = z;
	zs.avail_out = sizeof(z);
	cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	size_t zlen = zs.total_out;
	deflateEnd(&zs);

	cr_assert_eq(pg_xclip_build_provide(&b, to_viewer, (const uint8_t *)text, len), 0);
	uint8_t want[600];
	want[0] = to_viewer ? 3 : 6;
	want[1] = want[2] = want[3] = 0;
	pg_wr32(want + 4, 0u - (uint32_t)(4 + zlen));
	pg_wr32(want + 8, 0x10000001u);
	memcpy(want + 12, z, zlen);
	expect(want, 12 + zlen);
}

Test(xclip_build, provide)
{
	check_provide(true, "hello");
	check_provide(false, "\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81"
			     "\x97"); /* 住民票の写し */
	check_provide(true, "line 1\r\nline 2");
	check_provide(false, "");

	/* twice in a row: the second stream is as fresh as the first */
	cr_assert_eq(pg_xclip_build_provide(&b, true, (const uint8_t *)"abc", 3), 0);
	size_t one = b.len;
	cr_assert_eq(pg_xclip_build_provide(&b, true, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(b.len, 2 * one);
	cr_assert_eq(memcmp(b.data, b.data + one, one), 0);
}

Test(xclip_build, provide_limits)
{
	cr_assert_eq(pg_xclip_build_provide(&b, true, (const uint8_t *)"a\0b", 3), PG_EPROTO);
	cr_assert_eq(b.len, 0);

	/* the largest text compresses well enough to fit a message */
	static uint8_t big[PG_XCLIP_MAX_TEXT + 1];
	memset(big, 'x', sizeof(big));
	cr_assert_eq(pg_xclip_build_provide(&b, true, big, PG_XCLIP_MAX_TEXT), 0);
	cr_assert_lt(b.len, 8 + PG_RFB_MAX_CUT_TEXT);
	pg_buf_reset(&b);
	cr_assert_eq(pg_xclip_build_provide(&b, true, big, PG_XCLIP_MAX_TEXT + 1), PG_ELIMIT);
	cr_assert_eq(b.len, 0);

	/* ... but text that does not compress is over the message limit: refused
	 * whole, out untouched */
	uint32_t x = 12345;
	for (size_t i = 0; i < PG_XCLIP_MAX_TEXT; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (uint8_t)(x >> 24) ? (uint8_t)(x >> 24) : 1;
	}
	cr_assert_eq(pg_buf_append(&b, "keep", 4), 0);
	cr_assert_eq(pg_xclip_build_provide(&b, false, big, PG_XCLIP_MAX_TEXT), PG_ELIMIT);
	cr_assert_eq(b.len, 4);
	cr_assert_eq(memcmp(b.data, "keep", 4), 0);

	/* a capped output buffer fails cleanly */
	struct pg_buf small;
	pg_buf_init(&small, 16);
	cr_assert_eq(pg_xclip_build_provide(&small, true, (const uint8_t *)"hello", 5), PG_ELIMIT);
	cr_assert_eq(small.len, 0);
	cr_assert_eq(pg_xclip_build_notify(&small, true, true), 0);
	cr_assert_eq(pg_xclip_build_notify(&small, true, true), PG_ELIMIT);
	cr_assert_eq(small.len, 12);
	pg_buf_free(&small);
}

Test(xclip_build, legacy)
{
	static const uint8_t server[] = {3, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
	static const uint8_t client[] = {6, 0, 0, 0, 0, 0, 0, 2, 0xe9, 0x0a};
	static const uint8_t empty[] = {3, 0, 0, 0, 0, 0, 0, 0};

	cr_assert_eq(pg_xclip_build_legacy(&b, true, (const uint8_t *)"hello", 5), 0);
	expect(server, sizeof(server));
	cr_assert_eq(pg_xclip_build_legacy(&b, false, (const uint8_t *)"\xe9\n", 2), 0);
	expect(client, sizeof(client));
	cr_assert_eq(pg_xclip_build_legacy(&b, true, NULL, 0), 0);
	expect(empty, sizeof(empty));

	static uint8_t big[PG_RFB_MAX_CUT_TEXT + 1];
	cr_assert_eq(pg_xclip_build_legacy(&b, true, big, sizeof(big)), PG_ELIMIT);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(pg_xclip_build_legacy(&b, true, big, sizeof(big) - 1), 0);
	cr_assert_eq(b.len, 8 + PG_RFB_MAX_CUT_TEXT);
}
