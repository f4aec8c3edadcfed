/* Hostile hosts: every bad input is an error with a reason, never a crash, an
 * over-read (inputs end at a PROT_NONE page) or an over-write. */
#include <criterion/criterion.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "codec/buf.h"
#include "codec/decoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "upstream_util.h"

/* Feed n bytes placed against a guard page; returns what feed returned. */
static ssize_t feed_guarded(struct pg_rfb_client *c, const uint8_t *d, size_t n)
{
	uint8_t *g = ut_guard_alloc(n);
	memcpy(g, d, n);
	ssize_t rc = pg_rfb_client_feed(c, g, n);
	ut_guard_free(g, n);
	return rc;
}

/* A client past a 3.8 handshake with security None and a 64x48 framebuffer. */
static void ready(struct ut_peer *p)
{
	static const uint8_t hs[] = "RFB 003.008\n\x01\x01\0\0\0\0"
				    "\0\x40\0\x30"
				    "\x20\x18\0\x01\0\xff\0\xff\0\xff\x10\x08\0\0\0\0"
				    "\0\0\0\x01x";
	ut_peer_init(p);
	cr_assert_eq(feed_guarded(p->c, hs, sizeof(hs) - 1), (ssize_t)sizeof(hs) - 1, "%s",
		     pg_rfb_client_error(p->c));
	cr_assert(pg_rfb_client_ready(p->c));
	cr_assert_eq(p->fb.w, 64);
}

static void expect(struct ut_peer *p, const uint8_t *d, size_t n, int code, const char *text)
{
	ssize_t rc = feed_guarded(p->c, d, n);
	cr_assert_eq(rc, code, "rc %zd: %s", rc, pg_rfb_client_error(p->c));
	cr_assert(strstr(pg_rfb_client_error(p->c), text), "\"%s\" lacks \"%s\"",
		  pg_rfb_client_error(p->c), text);
	/* Dead stays dead. */
	cr_assert_eq(pg_rfb_client_feed(p->c, d, n), code);
	ut_peer_close(p);
}

static size_t rect(uint8_t *b, int x, int y, int w, int h, int32_t enc)
{
	pg_wr16(b, (uint16_t)x);
	pg_wr16(b + 2, (uint16_t)y);
	pg_wr16(b + 4, (uint16_t)w);
	pg_wr16(b + 6, (uint16_t)h);
	pg_wr32(b + 8, (uint32_t)enc);
	return 12;
}

static size_t update(uint8_t *b, int x, int y, int w, int h, int32_t enc)
{
	b[0] = 0;
	b[1] = 0;
	pg_wr16(b + 2, 1);
	return 4 + rect(b + 4, x, y, w, h, enc);
}

Test(hostile, zrle_length_over_limit)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	size_t n = update(b, 0, 0, 8, 8, PG_ENC_ZRLE);
	pg_wr32(b + n, 99999999);
	expect(&p, b, n + 4, PG_ELIMIT,
	       "rect 1 of update: ZRLE length 99999999 over limit 16777216");
}

Test(hostile, rect_outside)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	expect(&p, b, update(b, 60, 40, 10, 10, PG_ENC_RAW), PG_EPROTO, "outside the 64x48");
}

Test(hostile, rect_wraps)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	expect(&p, b, update(b, 65535, 0, 2, 2, PG_ENC_ZRLE), PG_EPROTO, "outside");
}

Test(hostile, unrequested_encoding)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	expect(&p, b, update(b, 0, 0, 4, 4, PG_ENC_HEXTILE), PG_EUNSUP,
	       "encoding 5 (Hextile) never requested");
}

Test(hostile, colour_map)
{
	struct ut_peer p = {0};
	static const uint8_t b[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	ready(&p);
	expect(&p, b, sizeof(b), PG_EUNSUP, "SetColourMapEntries");
}

Test(hostile, unknown_message)
{
	struct ut_peer p = {0};
	static const uint8_t b[] = {200};
	ready(&p);
	expect(&p, b, 1, PG_EUNSUP, "type 200 unknown");
}

Test(hostile, cursor_too_large)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	expect(&p, b, update(b, 0, 0, 300, 300, PG_ENC_CURSOR), PG_ELIMIT,
	       "cursor 300x300 over limit 256");
}

Test(hostile, cut_text_lengths)
{
	static const uint32_t lens[] = {0xffffffffu, 0x80000000u, PG_RFB_MAX_CUT_TEXT + 1,
					0u - (PG_RFB_MAX_CUT_TEXT + 1)};
	static const int codes[] = {PG_EPROTO, PG_ELIMIT, PG_ELIMIT, PG_ELIMIT};
	for (int i = 0; i < 4; i++) {
		struct ut_peer p = {0};
		uint8_t b[8] = {3};
		ready(&p);
		pg_wr32(b + 4, lens[i]);
		expect(&p, b, 8, codes[i], "ServerCutText");
	}
}

Test(hostile, ext_desktop_screens)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	size_t n = update(b, 0, 0, 64, 48, PG_ENC_EXT_DESKTOP_SIZE);
	b[n] = 17;
	expect(&p, b, n + 4, PG_ELIMIT, "17 screens over limit 16");
}

Test(hostile, desktop_size_too_big)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	expect(&p, b, update(b, 0, 0, 9000, 10, PG_ENC_DESKTOP_SIZE), PG_ELIMIT, "9000x10");
}

Test(hostile, copyrect_source_outside)
{
	struct ut_peer p = {0};
	uint8_t b[64];
	ready(&p);
	size_t n = update(b, 0, 0, 10, 10, PG_ENC_COPYRECT);
	pg_wr16(b + n, 60);
	pg_wr16(b + n + 2, 40);
	expect(&p, b, n + 4, PG_EPROTO, "CopyRect source");
}

static size_t deflate_sync(z_stream *zs, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	zs->next_in = (Bytef *)in;
	zs->avail_in = (uInt)n;
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	cr_assert_eq(deflate(zs, Z_SYNC_FLUSH), Z_OK);
	cr_assert_eq(zs->avail_in, 0);
	return cap - zs->avail_out;
}

static void zrle_body(struct ut_peer *p, size_t raw_len, int code, const char *text)
{
	static uint8_t raw[1 << 20], b[1 << 16];
	z_stream zs = {0};
	cr_assert_eq(deflateInit(&zs, 9), Z_OK);
	memset(raw, 0, sizeof(raw));
	raw[0] = 0; /* raw tile of 8x8: 192 bytes of CPIXEL, then whatever is left */
	size_t n = update(b, 0, 0, 8, 8, PG_ENC_ZRLE);
	size_t z = deflate_sync(&zs, raw, raw_len, b + n + 4, sizeof(b) - n - 4);
	deflateEnd(&zs);
	pg_wr32(b + n, (uint32_t)z);
	expect(p, b, n + 4 + z, code, text);
}

Test(hostile, zrle_bomb)
{
	struct ut_peer p = {0};
	ready(&p);
	zrle_body(&p, 1 << 20, PG_EPROTO, "longer than the rectangle");
}

Test(hostile, zrle_short)
{
	struct ut_peer p = {0};
	ready(&p);
	zrle_body(&p, 100, PG_EPROTO, "shorter than the rectangle");
}

Test(hostile, zrle_bad_subencoding)
{
	struct ut_peer p = {0};
	static uint8_t b[256];
	z_stream zs = {0};
	uint8_t t = 17;
	ready(&p);
	cr_assert_eq(deflateInit(&zs, 1), Z_OK);
	size_t n = update(b, 0, 0, 8, 8, PG_ENC_ZRLE);
	size_t z = deflate_sync(&zs, &t, 1, b + n + 4, sizeof(b) - n - 4);
	deflateEnd(&zs);
	pg_wr32(b + n, (uint32_t)z);
	expect(&p, b, n + 4 + z, PG_EPROTO, "unknown ZRLE subencoding");
}

static void tight(const uint8_t *body, size_t len, int w, int h, int code, const char *text)
{
	struct ut_peer p = {0};
	static uint8_t b[1 << 16];
	ready(&p);
	size_t n = update(b, 0, 0, w, h, PG_ENC_TIGHT);
	memcpy(b + n, body, len);
	expect(&p, b, n + len, code, text);
}

Test(hostile, tight_bad_control)
{
	static const uint8_t body[] = {0xc0, 0, 0, 0};
	tight(body, sizeof(body), 4, 4, PG_EPROTO, "control 0xc0 unknown");
}

Test(hostile, tight_bad_filter)
{
	static const uint8_t body[] = {0x40, 7, 0, 0};
	tight(body, sizeof(body), 4, 4, PG_EPROTO, "filter 7 unknown");
}

Test(hostile, tight_palette_index)
{
	/* 2x2 with 3 colours: 4 index bytes, under 12 so sent raw; index 3 is bad. */
	static const uint8_t body[] = {0x40, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3};
	tight(body, sizeof(body), 2, 2, PG_EPROTO, "palette index out of range");
}

Test(hostile, tight_palette_of_one)
{
	static const uint8_t body[] = {0x40, 1, 0, 1, 2, 3};
	tight(body, sizeof(body), 2, 2, PG_EPROTO, "palette of 1");
}

Test(hostile, tight_bad_jpeg)
{
	static const uint8_t body[] = {0x90, 10, 0xff, 0xd8, 1, 2, 3, 4, 5, 6, 7, 8};
	tight(body, sizeof(body), 16, 16, PG_EPROTO, "JPEG");
}

Test(hostile, tight_jpeg_wrong_size)
{
	uint8_t px[8 * 8 * 3] = {0}, *jpeg = NULL, body[4096];
	unsigned long len = 0;
	tjhandle tj = tjInitCompress();
	cr_assert_eq(tjCompress2(tj, px, 8, 0, 8, TJPF_RGB, &jpeg, &len, TJSAMP_444, 80, 0), 0);
	cr_assert_lt(len, 4000);
	body[0] = 0x90;
	body[1] = (uint8_t)(len & 0x7f) | 0x80;
	body[2] = (uint8_t)(len >> 7);
	memcpy(body + 3, jpeg, len);
	tjFree(jpeg);
	tjDestroy(tj);
	tight(body, len + 3, 16, 16, PG_EPROTO, "JPEG is 8x8 in a 16x16 rectangle");
}

Test(hostile, tight_no_zlib_wrong_length)
{
	static const uint8_t body[] = {0xa0, 5, 1, 2, 3, 4, 5};
	tight(body, sizeof(body), 4, 4, PG_EPROTO, "stored length 5");
}

static void handshake(const uint8_t *d, size_t n, int code, const char *text)
{
	struct ut_peer p = {0};
	ut_peer_init(&p);
	expect(&p, d, n, code, text);
}

Test(hostile, handshakes)
{
	handshake((const uint8_t *)"RFB 004.001\n", 12, PG_EUNSUP, "\"RFB 004.001\"");
	handshake((const uint8_t *)"RFB 003.008\n\x02\x13\x10", 15, PG_EUNSUP,
		  "host offered 19, 16");
	handshake((const uint8_t *)"RFB 003.008\n\0\0\0\0\x07go away", 24, PG_EPROTO,
		  "refused the connection: \"go away\"");
	handshake((const uint8_t *)"RFB 003.008\n\0\0\0\x13\x88", 17, PG_ELIMIT,
		  "reason length 5000 over limit 1024");
	handshake((const uint8_t *)"RFB 003.003\n\0\0\0\x05", 16, PG_EUNSUP, "chose type 5");
	handshake((const uint8_t *)"RFB 003.008\n\x01\x01\0\0\0\0"
				   "\x23\x28\0\x10"
				   "0123456789abcdef\0\0\0\0",
		  42, PG_ELIMIT, "9000x16");
	handshake((const uint8_t *)"RFB 003.008\n\x01\x01\0\0\0\0"
				   "\0\x10\0\x10"
				   "0123456789abcdef\0\0\x13\x88",
		  42, PG_ELIMIT, "name length 5000 over limit 4096");
}

Test(hostile, output_cap)
{
	struct ut_peer p = {0};
	int rc = 0;
	ready(&p);
	for (int i = 0; i < 200000 && rc == 0; i++)
		rc = pg_rfb_client_key(p.c, 1, 0x61);
	cr_assert_eq(rc, PG_ELIMIT);
	ut_peer_close(&p);
}

/* Decoder level: every prefix of a body is need-more, against a guard page. */
Test(hostile, decoder_prefixes)
{
	struct pg_fb fb;
	static uint8_t body[4096];
	const char *why;
	z_stream zs = {0};
	static uint8_t raw[8 * 8 * 3 + 1];
	cr_assert_eq(pg_fb_alloc(&fb, 16, 16), 0);
	cr_assert_eq(deflateInit(&zs, 6), Z_OK);
	for (size_t i = 1; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7);
	size_t z = deflate_sync(&zs, raw, sizeof(raw), body + 4, sizeof(body) - 4);
	deflateEnd(&zs);
	pg_wr32(body, (uint32_t)z);
	size_t n = z + 4;
	struct pg_rect r = {4, 4, 8, 8};
	struct pg_decoder *dec = pg_decoder_new();
	for (size_t k = 0; k < n; k++) {
		uint8_t *g = ut_guard_alloc(k);
		memcpy(g, body, k);
		cr_assert_eq(pg_decode_rect(dec, PG_ENC_ZRLE, &r, &fb, g, k, &why), 0, "prefix %zu",
			     k);
		ut_guard_free(g, k);
	}
	uint8_t *g = ut_guard_alloc(n);
	memcpy(g, body, n);
	cr_assert_eq(pg_decode_rect(dec, PG_ENC_ZRLE, &r, &fb, g, n, &why), (ssize_t)n, "%s",
		     pg_decoder_error(dec));
	ut_guard_free(g, n);
	cr_assert_eq(fb.px[4 * 16 + 4], (uint32_t)(1 * 7 | 2 * 7 << 8 | 3 * 7 << 16));
	/* Nothing outside the rectangle was written. */
	cr_assert_eq(fb.px[3 * 16 + 4], 0);
	cr_assert_eq(fb.px[12 * 16 + 4], 0);
	cr_assert_eq(fb.px[4 * 16 + 12], 0);
	cr_assert_eq(pg_decode_rect(dec, PG_ENC_HEXTILE, &r, &fb, body, n, &why), PG_EUNSUP);
	pg_decoder_del(dec);
	pg_fb_free(&fb);
}
