/* The RFB client's limits (pg_rfb_client_set_limits): framebuffer size, rectangles
 * per update, cursor side; and the decoders' bounds on what a few bytes may cost:
 * zlib output per rectangle, JPEG passes. Every refusal is PG_ELIMIT or PG_EPROTO
 * with a message that names the limit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "codec/buf.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"

/* A client without callbacks (it keeps its own framebuffer), limits set when l. */
static struct pg_rfb_client *client(const struct pg_rfb_client_limits *l)
{
	struct pg_rfb_client *c = pg_rfb_client_new(NULL);
	cr_assert_not_null(c);
	if (l)
		pg_rfb_client_set_limits(c, l);
	return c;
}

/* RFB 3.8, security None, then ServerInit of w x h; returns what feed returned. */
static ssize_t handshake(struct pg_rfb_client *c, int w, int h)
{
	uint8_t b[12 + 2 + 4 + 24] = "RFB 003.008\n\x01\x01";
	uint8_t *si = b + 18;
	static const uint8_t fmt[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	pg_wr16(si, (uint16_t)w);
	pg_wr16(si + 2, (uint16_t)h);
	memcpy(si + 4, fmt, 16);
	return pg_rfb_client_feed(c, b, sizeof(b));
}

static struct pg_rfb_client *ready(const struct pg_rfb_client_limits *l, int w, int h)
{
	struct pg_rfb_client *c = client(l);
	cr_assert_eq(handshake(c, w, h), 42, "%s", pg_rfb_client_error(c));
	cr_assert(pg_rfb_client_ready(c));
	return c;
}

static void expect_error(struct pg_rfb_client *c, ssize_t rc, int code, const char *text)
{
	cr_assert_eq(rc, code, "rc %zd, \"%s\"", rc, pg_rfb_client_error(c));
	cr_assert(strstr(pg_rfb_client_error(c), text), "\"%s\" lacks \"%s\"",
		  pg_rfb_client_error(c), text);
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

static size_t update_hdr(uint8_t *b, unsigned n)
{
	b[0] = PG_RFB_FB_UPDATE;
	b[1] = 0;
	pg_wr16(b + 2, (uint16_t)n);
	return 4;
}

Test(client_limits, framebuffer_default_is_3840x2160)
{
	struct pg_rfb_client *c = ready(NULL, 3840, 2160);
	cr_assert_eq(pg_rfb_client_fb(c)->w, 3840);
	pg_rfb_client_del(c);

	c = client(NULL);
	expect_error(c, handshake(c, 65535, 65535), PG_ELIMIT,
		     "ServerInit: framebuffer 65535x65535 exceeds the limit 3840x2160 ([upstream] "
		     "max_width, max_height)");
	cr_assert_null(pg_rfb_client_fb(c)->px, "no framebuffer was allocated");
	pg_rfb_client_del(c);

	c = client(NULL);
	expect_error(c, handshake(c, 3841, 100), PG_ELIMIT, "3841x100 exceeds the limit 3840x2160");
	pg_rfb_client_del(c);
	c = client(NULL);
	expect_error(c, handshake(c, 100, 2161), PG_ELIMIT, "100x2161 exceeds the limit 3840x2160");
	pg_rfb_client_del(c);
	c = client(NULL);
	expect_error(c, handshake(c, 0, 100), PG_EPROTO, "ServerInit: framebuffer 0x100 is empty");
	pg_rfb_client_del(c);
}

Test(client_limits, framebuffer_set)
{
	struct pg_rfb_client_limits l = {.max_width = 800, .max_height = 600};
	struct pg_rfb_client *c = ready(&l, 800, 600);
	pg_rfb_client_del(c);
	c = client(&l);
	expect_error(c, handshake(c, 801, 600), PG_ELIMIT, "801x600 exceeds the limit 800x600");
	pg_rfb_client_del(c);
	c = client(&l);
	expect_error(c, handshake(c, 800, 601), PG_ELIMIT, "800x601 exceeds the limit 800x600");
	pg_rfb_client_del(c);

	/* Zero keeps the default; over the hard maximum is the hard maximum. */
	l = (struct pg_rfb_client_limits){.max_width = 1024};
	c = client(&l);
	expect_error(c, handshake(c, 1025, 10), PG_ELIMIT, "exceeds the limit 1024x2160");
	pg_rfb_client_del(c);
	l = (struct pg_rfb_client_limits){.max_width = 100000, .max_height = -5};
	c = client(&l);
	expect_error(c, handshake(c, 8193, 10), PG_ELIMIT, "8193x10 exceeds the limit 8192x2160");
	pg_rfb_client_del(c);
	c = client(NULL);
	pg_rfb_client_set_limits(c, NULL);
	expect_error(c, handshake(c, 3841, 10), PG_ELIMIT, "exceeds the limit 3840x2160");
	pg_rfb_client_del(c);
}

Test(client_limits, resize_over_the_limit)
{
	struct pg_rfb_client_limits l = {.max_width = 320, .max_height = 240};
	uint8_t b[64];

	struct pg_rfb_client *c = ready(&l, 64, 48);
	size_t n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, 320, 240, PG_ENC_DESKTOP_SIZE);
	cr_assert_eq(pg_rfb_client_feed(c, b, n), (ssize_t)n, "%s", pg_rfb_client_error(c));
	cr_assert_eq(pg_rfb_client_fb(c)->w, 320);
	n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, 321, 240, PG_ENC_DESKTOP_SIZE);
	expect_error(c, pg_rfb_client_feed(c, b, n), PG_ELIMIT,
		     "DesktopSize: framebuffer 321x240 exceeds the limit 320x240");
	pg_rfb_client_del(c);

	c = ready(&l, 64, 48);
	n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, 4000, 10, PG_ENC_EXT_DESKTOP_SIZE);
	memset(b + n, 0, 4); /* no screens */
	n += 4;
	expect_error(c, pg_rfb_client_feed(c, b, n), PG_ELIMIT,
		     "ExtendedDesktopSize: framebuffer 4000x10 exceeds the limit 320x240");
	pg_rfb_client_del(c);
}

/* An update of n empty Raw rectangles (no body), announced as count. */
static uint8_t *empty_rects(unsigned count, unsigned n, bool last_rect, size_t *len)
{
	uint8_t *b = malloc(4 + 12 * ((size_t)n + 1));
	cr_assert_not_null(b);
	size_t off = update_hdr(b, count);
	for (unsigned i = 0; i < n; i++)
		off += rect(b + off, 0, 0, 0, 0, PG_ENC_RAW);
	if (last_rect)
		off += rect(b + off, 0, 0, 0, 0, PG_ENC_LAST_RECT);
	*len = off;
	return b;
}

Test(client_limits, rects_default_10000)
{
	size_t len;
	struct pg_rfb_client *c = ready(NULL, 16, 16);
	uint8_t *b = empty_rects(10000, 10000, false, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	b = empty_rects(10001, 0, false, &len);
	expect_error(c, pg_rfb_client_feed(c, b, len), PG_ELIMIT,
		     "FramebufferUpdate: 10001 rectangles exceed the limit 10000");
	free(b);
	pg_rfb_client_del(c);

	/* Announced as 65535 (ended by LastRect): counted as they come. */
	c = ready(NULL, 16, 16);
	b = empty_rects(65535, 10000, true, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	b = empty_rects(65535, 10001, true, &len);
	expect_error(c, pg_rfb_client_feed(c, b, len), PG_ELIMIT,
		     "FramebufferUpdate: rect 10001 before LastRect exceeds the limit of 10000 "
		     "rectangles in one update");
	free(b);
	pg_rfb_client_del(c);
}

Test(client_limits, rects_set)
{
	struct pg_rfb_client_limits l = {.max_rects = 3};
	size_t len;
	struct pg_rfb_client *c = ready(&l, 16, 16);
	uint8_t *b = empty_rects(3, 3, false, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	b = empty_rects(65535, 3, true, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	b = empty_rects(4, 0, false, &len);
	expect_error(c, pg_rfb_client_feed(c, b, len), PG_ELIMIT,
		     "4 rectangles exceed the limit 3");
	free(b);
	pg_rfb_client_del(c);

	c = ready(&l, 16, 16);
	b = empty_rects(65535, 4, true, &len);
	expect_error(c, pg_rfb_client_feed(c, b, len), PG_ELIMIT, "rect 4 before LastRect");
	free(b);
	pg_rfb_client_del(c);

	/* Over the protocol's own maximum: the maximum. */
	l.max_rects = 1u << 30;
	c = ready(&l, 16, 16);
	b = empty_rects(65535, 65534, true, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	pg_rfb_client_del(c);
}

/* A cursor pseudo-rectangle of w x h with its body (pixels, then the mask). */
static uint8_t *cursor_update(int w, int h, size_t *len)
{
	size_t body = (size_t)w * h * 4 + (size_t)(w + 7) / 8 * h;
	uint8_t *b = calloc(1, 16 + body);
	cr_assert_not_null(b);
	size_t off = update_hdr(b, 1);
	off += rect(b + off, 0, 0, w, h, PG_ENC_CURSOR);
	*len = off + body;
	return b;
}

Test(client_limits, cursor_side)
{
	size_t len;
	struct pg_rfb_client *c = ready(NULL, 16, 16);
	uint8_t *b = cursor_update(256, 256, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	b = cursor_update(257, 1, &len);
	expect_error(c, pg_rfb_client_feed(c, b, 16), PG_ELIMIT,
		     "rect 1 of update: cursor 257x1 over limit 256");
	free(b);
	pg_rfb_client_del(c);

	struct pg_rfb_client_limits l = {.max_cursor_side = 32};
	c = ready(&l, 16, 16);
	b = cursor_update(32, 32, &len);
	cr_assert_eq(pg_rfb_client_feed(c, b, len), (ssize_t)len, "%s", pg_rfb_client_error(c));
	free(b);
	b = cursor_update(1, 33, &len);
	expect_error(c, pg_rfb_client_feed(c, b, 16), PG_ELIMIT, "cursor 1x33 over limit 32");
	free(b);
	pg_rfb_client_del(c);

	/* The body is buffered whole: no setting lifts the side over 256. */
	l.max_cursor_side = 65535;
	c = ready(&l, 16, 16);
	b = cursor_update(65535, 65535, &len);
	expect_error(c, pg_rfb_client_feed(c, b, 16), PG_ELIMIT,
		     "cursor 65535x65535 over limit 256");
	free(b);
	pg_rfb_client_del(c);
}

/* ---- decoders: what a few bytes may cost ---- */

static size_t deflate_all(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int flush)
{
	z_stream zs = {0};
	cr_assert_eq(deflateInit(&zs, 9), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	int rc = deflate(&zs, flush);
	cr_assert(rc == Z_OK || rc == Z_STREAM_END);
	cr_assert_eq(zs.avail_in, 0);
	size_t len = cap - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

static size_t compact_len(uint8_t *b, size_t n)
{
	b[0] = (uint8_t)(n & 0x7f);
	if (n < 0x80)
		return 1;
	b[0] |= 0x80;
	b[1] = (uint8_t)(n >> 7 & 0x7f);
	if (n < 0x4000)
		return 2;
	b[1] |= 0x80;
	b[2] = (uint8_t)(n >> 14);
	return 3;
}

/* A few KiB of zlib that inflate to 64 MiB, in a 16x16 ZRLE and a Tight rectangle:
 * an error at the first surplus byte, in far less time than inflating it all. */
Test(client_limits, zlib_bomb_is_an_error)
{
	size_t big = 64u << 20, cap = 1u << 20;
	uint8_t *zeros = calloc(1, big), *z = malloc(cap + 64), *b = malloc(cap + 64);
	cr_assert(zeros && z && b);
	size_t zlen = deflate_all(zeros, big, z, cap, Z_SYNC_FLUSH);
	cr_assert_lt(zlen, 128u << 10);

	struct pg_rfb_client *c = ready(NULL, 64, 64);
	size_t n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, 16, 16, PG_ENC_ZRLE);
	pg_wr32(b + n, (uint32_t)zlen);
	memcpy(b + n + 4, z, zlen);
	expect_error(c, pg_rfb_client_feed(c, b, n + 4 + zlen), PG_EPROTO,
		     "decompressed data longer than the rectangle");
	pg_rfb_client_del(c);

	c = ready(NULL, 64, 64);
	n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, 16, 16, PG_ENC_TIGHT);
	b[n++] = 0x00; /* basic, stream 0, copy filter */
	n += compact_len(b + n, zlen);
	memcpy(b + n, z, zlen);
	expect_error(c, pg_rfb_client_feed(c, b, n + zlen), PG_EPROTO,
		     "decompressed data longer than the rectangle");
	pg_rfb_client_del(c);
	free(zeros);
	free(z);
	free(b);
}

/* Deflate bits, least significant first; Huffman codes go most significant first. */
struct bits {
	uint8_t *p;
	size_t n; /* bits written */
};

static void put_bits(struct bits *b, unsigned v, int n)
{
	for (int i = 0; i < n; i++, b->n++)
		if (v >> i & 1)
			b->p[b->n / 8] |= (uint8_t)(1u << b->n % 8);
}

static void put_code(struct bits *b, unsigned code, int n)
{
	for (int i = n - 1; i >= 0; i--)
		put_bits(b, code >> i & 1, 1);
}

/* A Tight rectangle of 64x256 copy-filtered pixels needs 49152 bytes, exactly what
 * the decoder inflates at once. Its zlib stream: a zero byte and 191 matches of 258
 * (49279 bytes), cut right after the last match code, so when the window is full
 * every input byte is used and 127 bytes wait inside zlib. That surplus is an
 * error too, not the start of the next rectangle. */
Test(client_limits, surplus_inside_zlib_is_found)
{
	uint8_t z[512] = {0x78, 0x01}; /* zlib header, no dictionary */
	struct bits bw = {z + 2, 0};
	put_bits(&bw, 0, 1);	/* not the last block */
	put_bits(&bw, 1, 2);	/* fixed Huffman codes */
	put_code(&bw, 0x30, 8); /* literal 0 */
	for (int i = 0; i < 191; i++) {
		put_code(&bw, 0xc5, 8); /* length 258 (symbol 285) */
		put_code(&bw, 0, 5);	/* distance 1 */
	}
	size_t zlen = 2 + (bw.n + 7) / 8;

	uint8_t b[600];
	struct pg_rfb_client *c = ready(NULL, 64, 256);
	size_t n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, 64, 256, PG_ENC_TIGHT);
	b[n++] = 0x00; /* basic, stream 0, copy filter */
	n += compact_len(b + n, zlen);
	memcpy(b + n, z, zlen);
	expect_error(c, pg_rfb_client_feed(c, b, n + zlen), PG_EPROTO,
		     "decompressed data longer than the rectangle");
	pg_rfb_client_del(c);
}

/* A Tight JPEG rectangle of w x h made with TurboJPEG's flags, fed whole. */
static ssize_t feed_jpeg(struct pg_rfb_client *c, int w, int h, int flags)
{
	tjhandle tj = tjInitCompress();
	uint8_t *rgb = malloc((size_t)w * h * 3), *jpeg = NULL;
	unsigned long jlen = 0;
	cr_assert(tj && rgb);
	for (int i = 0; i < w * h * 3; i++)
		rgb[i] = (uint8_t)(i * 31 % 251);
	cr_assert_eq(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpeg, &jlen, TJSAMP_420, 80, flags),
		     0, "%s", tjGetErrorStr2(tj));
	uint8_t *b = malloc(jlen + 32);
	size_t n = update_hdr(b, 1);
	n += rect(b + n, 0, 0, w, h, PG_ENC_TIGHT);
	b[n++] = 0x90; /* JPEG */
	n += compact_len(b + n, jlen);
	memcpy(b + n, jpeg, jlen);
	ssize_t rc = pg_rfb_client_feed(c, b, n + jlen);
	cr_assert(rc < 0 || rc == (ssize_t)(n + jlen), "rc %zd of %zu", rc, n + jlen);
	tjFree(jpeg);
	tjDestroy(tj);
	free(rgb);
	free(b);
	return rc;
}

Test(client_limits, jpeg_sequential_only)
{
	struct pg_rfb_client *c = ready(NULL, 64, 64);
	cr_assert_gt(feed_jpeg(c, 64, 64, 0), 0, "%s", pg_rfb_client_error(c));
	/* Many passes over the picture: refused before TurboJPEG reads it. */
	expect_error(c, feed_jpeg(c, 64, 64, TJFLAG_PROGRESSIVE), PG_EPROTO,
		     "Tight JPEG: JPEG not sequential Huffman");
	pg_rfb_client_del(c);
}

Test(client_limits, jpeg_truncated_or_corrupt)
{
	static const uint8_t cases[][16] = {
	    {0xff, 0xd8, 0xff, 0xd9},			/* no frame, no scan */
	    {0xff, 0xd8, 0xff, 0xc0, 0xff, 0xff},	/* segment longer than the data */
	    {0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9}, /* scan before its frame */
	    {0x12, 0x34, 0x56, 0x78},			/* not a JPEG */
	};
	static const char *const why[] = {"ends before its picture", "longer than the data",
					  "scan before its frame", "no JPEG start of image"};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct pg_rfb_client *c = ready(NULL, 8, 8);
		uint8_t b[64];
		size_t n = update_hdr(b, 1);
		n += rect(b + n, 0, 0, 8, 8, PG_ENC_TIGHT);
		b[n++] = 0x90;
		b[n++] = 16;
		memcpy(b + n, cases[k], 16);
		expect_error(c, pg_rfb_client_feed(c, b, n + 16), PG_EPROTO, why[k]);
		pg_rfb_client_del(c);
	}
}
