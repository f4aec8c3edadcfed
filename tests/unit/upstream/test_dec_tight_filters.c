/* Tight basic compression, rectangles built by hand: the gradient filter (expected pixels
 * from the spec's prediction, computed here independently), the two-colour palette with
 * 1-bit rows padded to a byte, a five-colour palette with 8-bit indices; each with data
 * under 12 bytes (sent as is) and over (compact length and zlib); the four zlib streams
 * chosen explicitly, kept apart, and reset by the control byte's low bits. Exact pixels,
 * and nothing outside the rectangle changes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "codec/decoder.h"
#include "codec/err.h"
#include "codec/fb.h"
#include "codec/rfb.h"

#define FB_W	   24
#define FB_H	   16
#define BACKGROUND 0x00123456u
#define MAX_PX	   512

enum { FILTER_COPY = 0, FILTER_PALETTE = 1, FILTER_GRADIENT = 2 };

static struct pg_decoder *dec;
static struct pg_fb fb;
/* What fb must show: the background and every rectangle decoded so far. */
static uint32_t model[FB_W * FB_H];
/* The sender's four zlib streams, as a Tight server keeps them. */
static z_stream zs[4];

static void setup(void)
{
	dec = pg_decoder_new();
	cr_assert_not_null(dec);
	cr_assert_eq(pg_fb_alloc(&fb, FB_W, FB_H), 0);
	pg_fb_fill(&fb, &(struct pg_rect){0, 0, FB_W, FB_H}, BACKGROUND);
	for (int i = 0; i < FB_W * FB_H; i++)
		model[i] = BACKGROUND;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(deflateInit(&zs[i], 6), Z_OK);
}

static void teardown(void)
{
	for (int i = 0; i < 4; i++)
		deflateEnd(&zs[i]);
	pg_fb_free(&fb);
	pg_decoder_del(dec);
}

TestSuite(dec_tight_filters, .init = setup, .fini = teardown);

/* A rectangle's body under construction. */
struct body {
	uint8_t b[8192];
	size_t n;
};

static void put(struct body *o, const void *p, size_t n)
{
	cr_assert(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put8(struct body *o, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(o, &b, 1);
}

/* Compact length: 7 bits a byte, high bit "more", the third byte all 8 bits. */
static void put_compact(struct body *o, size_t len)
{
	put8(o, (len & 0x7f) | (len > 0x7f ? 0x80 : 0));
	if (len > 0x7f) {
		put8(o, (len >> 7 & 0x7f) | (len > 0x3fff ? 0x80 : 0));
		if (len > 0x3fff)
			put8(o, len >> 14);
	}
}

/* The data part: as is under 12 bytes, else compact length and the bytes deflated on
 * stream id with a sync flush (the stream stays open, as a Tight server's does). */
static void put_data(struct body *o, int id, const uint8_t *data, size_t len)
{
	uint8_t z[8192];

	if (len < 12) {
		put(o, data, len);
		return;
	}
	zs[id].next_in = (Bytef *)data;
	zs[id].avail_in = (uInt)len;
	zs[id].next_out = z;
	zs[id].avail_out = sizeof(z);
	cr_assert_eq(deflate(&zs[id], Z_SYNC_FLUSH), Z_OK);
	cr_assert_eq(zs[id].avail_in, 0);
	put_compact(o, sizeof(z) - zs[id].avail_out);
	put(o, z, sizeof(z) - zs[id].avail_out);
}

/* The control byte: stream id in bits 4-5, explicit filter in bit 6, and the streams
 * to reset in bits 0-3 (the sender resets its side of them too). */
static void put_ctl(struct body *o, int id, unsigned resets, bool filter)
{
	for (int i = 0; i < 4; i++)
		if (resets & 1u << i)
			cr_assert_eq(deflateReset(&zs[i]), Z_OK);
	put8(o, (unsigned)id << 4 | (filter ? 0x40 : 0) | resets);
}

static void put_tpixel(struct body *o, uint32_t px)
{
	put8(o, px >> 16 & 0xff);
	put8(o, px >> 8 & 0xff);
	put8(o, px & 0xff);
}

/* Decode o into r and check: every byte consumed, r shows want, the rest untouched
 * (as earlier rectangles left it). */
static void decode_check(const struct body *o, struct pg_rect r, const uint32_t *want,
			 const char *what)
{
	const char *why = NULL;
	ssize_t rc = pg_decode_rect(dec, PG_ENC_TIGHT, &r, &fb, o->b, o->n, &why);

	cr_assert_eq(rc, (ssize_t)o->n, "%s: rc %zd of %zu bytes: %s", what, rc, o->n,
		     pg_decoder_error(dec));
	cr_assert_str_empty(pg_decoder_error(dec), "%s", what);
	/* One byte short: "need more", never a partial decode. */
	cr_assert_eq(pg_decode_rect(dec, PG_ENC_TIGHT, &r, &fb, o->b, o->n - 1, &why), 0,
		     "%s: a truncated body was not \"need more\"", what);
	for (int y = 0; y < r.h; y++)
		for (int x = 0; x < r.w; x++)
			model[(r.y + y) * FB_W + r.x + x] = want[y * r.w + x];
	for (int y = 0; y < FB_H; y++) {
		for (int x = 0; x < FB_W; x++) {
			uint32_t got = fb.px[(size_t)y * fb.stride + x];
			uint32_t exp = model[y * FB_W + x];

			cr_assert_eq(got, exp, "%s: pixel %d,%d is %#08x, expected %#08x", what, x,
				     y, got, exp);
		}
	}
}

/* ---- gradient ---- */

static int clamp255(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* Channel c (0 red, 1 green, 2 blue) of pixel x,y of a w-wide picture; 0 outside it. */
static int chan(const uint32_t *px, int w, int x, int y, int c)
{
	if (x < 0 || y < 0)
		return 0;
	return (int)(px[y * w + x] >> (16 - 8 * c) & 0xff);
}

/* The spec's gradient filter, sender side: for each channel, predicted = clamp(left +
 * above - above-left) with neighbours outside the rectangle taken as 0, and the data
 * byte is (pixel - predicted) mod 256. */
static size_t gradient_data(const uint32_t *px, int w, int h, uint8_t *out)
{
	size_t n = 0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				int pred =
				    clamp255(chan(px, w, x - 1, y, c) + chan(px, w, x, y - 1, c) -
					     chan(px, w, x - 1, y - 1, c));

				out[n++] = (uint8_t)(chan(px, w, x, y, c) - pred);
			}
	return n;
}

static uint32_t rgb(int r, int g, int b)
{
	return (uint32_t)(r & 255) << 16 | (uint32_t)(g & 255) << 8 | (uint32_t)(b & 255);
}

/* Smooth ramps with steps that drive the prediction past 255 and under 0. */
static void gradient_picture(uint32_t *px, int w, int h)
{
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			px[y * w + x] = rgb(20 * x + 7 * y, 250 - 30 * y + x, (x * y * 37) % 256);
	if (w > 2 && h > 2) {
		px[0 * w + 1] = rgb(250, 250, 250);
		px[1 * w + 0] = rgb(250, 250, 250);
		px[0 * w + 0] = rgb(0, 0, 0); /* 250 + 250 - 0: clamped to 255 */
		px[1 * w + 1] = rgb(3, 128, 255);
		px[1 * w + 2] = rgb(1, 1, 1);
		px[0 * w + 2] = rgb(2, 2, 2);
		/* at 2,1: left 3,128,255 + above 2,2,2 - corner 250,250,250: under 0 */
	}
}

static void gradient_case(struct pg_rect r, int id, unsigned resets, const char *what)
{
	uint32_t px[MAX_PX];
	uint8_t data[3 * MAX_PX];
	struct body o = {.n = 0};
	size_t len;

	cr_assert(r.w * r.h <= MAX_PX);
	gradient_picture(px, r.w, r.h);
	len = gradient_data(px, r.w, r.h, data);
	put_ctl(&o, id, resets, true);
	put8(&o, FILTER_GRADIENT);
	put_data(&o, id, data, len);
	decode_check(&o, r, px, what);
}

Test(dec_tight_filters, gradient_raw)
{
	/* 9 bytes of data each: sent as is. One row uses only "left", one column only
	 * "above"; the rectangle is away from the corner, and the background around it
	 * must not be taken for neighbours. */
	gradient_case((struct pg_rect){5, 3, 3, 1}, 0, 0, "gradient 3x1");
	gradient_case((struct pg_rect){9, 6, 1, 3}, 0, 0, "gradient 1x3");
}

Test(dec_tight_filters, gradient_zlib)
{
	gradient_case((struct pg_rect){2, 2, 2, 2}, 0, 0, "gradient 2x2 (12 bytes)");
	gradient_case((struct pg_rect){4, 3, 13, 9}, 1, 0, "gradient 13x9");
	gradient_case((struct pg_rect){0, 0, FB_W, FB_H}, 2, 0, "gradient full");
}

/* ---- palettes ---- */

static const uint32_t colours[5] = {0x00ff0000, 0x0000ff00, 0x000000ff, 0x00fefdfc, 0x00010203};

/* idx[i] is pixel i's palette index; 1-bit rows are padded to a byte with ones, which
 * a decoder must ignore. */
static void palette_case(struct pg_rect r, int ncolours, const uint8_t *idx, int id,
			 unsigned resets, const char *what)
{
	uint32_t want[MAX_PX];
	uint8_t data[MAX_PX];
	struct body o = {.n = 0};
	size_t len = 0;

	cr_assert(r.w * r.h <= MAX_PX);
	if (ncolours == 2) {
		size_t row = ((size_t)r.w + 7) / 8;

		for (int y = 0; y < r.h; y++) {
			memset(data + len, 0, row);
			for (int x = 0; x < r.w; x++)
				data[len + (size_t)x / 8] |=
				    (uint8_t)(idx[y * r.w + x] << (7 - x % 8));
			for (int x = r.w; x < (int)row * 8; x++)
				data[len + (size_t)x / 8] |= (uint8_t)(1 << (7 - x % 8));
			len += row;
		}
	} else {
		for (int i = 0; i < r.w * r.h; i++)
			data[len++] = idx[i];
	}
	for (int i = 0; i < r.w * r.h; i++)
		want[i] = colours[idx[i]];
	put_ctl(&o, id, resets, true);
	put8(&o, FILTER_PALETTE);
	put8(&o, (unsigned)ncolours - 1);
	for (int i = 0; i < ncolours; i++)
		put_tpixel(&o, colours[i]);
	put_data(&o, id, data, len);
	decode_check(&o, r, want, what);
}

static void indices(uint8_t *idx, int n, int ncolours, unsigned seed)
{
	for (int i = 0; i < n; i++)
		idx[i] = (uint8_t)((i * 7 + i / 3 + seed) % (unsigned)ncolours);
}

Test(dec_tight_filters, two_colours_raw)
{
	uint8_t idx[MAX_PX];

	/* 10 wide: two bytes a row, six of them padding; 5 rows are 10 bytes, sent as is. */
	indices(idx, 10 * 5, 2, 1);
	palette_case((struct pg_rect){3, 2, 10, 5}, 2, idx, 0, 0, "2 colours 10x5");
	/* 8 wide: no padding at all; 1 row. */
	indices(idx, 8, 2, 0);
	palette_case((struct pg_rect){0, 15, 8, 1}, 2, idx, 0, 0, "2 colours 8x1");
}

Test(dec_tight_filters, two_colours_zlib)
{
	uint8_t idx[MAX_PX];

	/* 10x6: 12 bytes, the first size that is compressed. */
	indices(idx, 10 * 6, 2, 2);
	palette_case((struct pg_rect){1, 1, 10, 6}, 2, idx, 3, 0, "2 colours 10x6");
	indices(idx, 13 * 9, 2, 3);
	palette_case((struct pg_rect){9, 5, 13, 9}, 2, idx, 3, 0, "2 colours 13x9");
}

Test(dec_tight_filters, five_colours_raw)
{
	uint8_t idx[MAX_PX];

	indices(idx, 5 * 2, 5, 0);
	palette_case((struct pg_rect){6, 4, 5, 2}, 5, idx, 0, 0, "5 colours 5x2");
	indices(idx, 11, 5, 4);
	palette_case((struct pg_rect){0, 0, 11, 1}, 5, idx, 0, 0, "5 colours 11x1");
}

Test(dec_tight_filters, five_colours_zlib)
{
	uint8_t idx[MAX_PX];

	indices(idx, 12, 5, 1);
	palette_case((struct pg_rect){12, 0, 12, 1}, 5, idx, 2, 0, "5 colours 12x1");
	indices(idx, 9 * 7, 5, 2);
	palette_case((struct pg_rect){2, 8, 9, 7}, 5, idx, 2, 0, "5 colours 9x7");
}

Test(dec_tight_filters, palette_index_out_of_range)
{
	uint8_t idx[MAX_PX];
	struct body o = {.n = 0};
	struct pg_rect r = {0, 0, 5, 2};
	const char *why = NULL;

	/* Index 5 in a palette of five. */
	indices(idx, 10, 5, 0);
	idx[7] = 5;
	put_ctl(&o, 0, 0, true);
	put8(&o, FILTER_PALETTE);
	put8(&o, 4);
	for (int i = 0; i < 5; i++)
		put_tpixel(&o, colours[i]);
	put(&o, idx, 10);
	cr_assert_lt(pg_decode_rect(dec, PG_ENC_TIGHT, &r, &fb, o.b, o.n, &why), 0);
	cr_assert(strstr(pg_decoder_error(dec), "palette index out of range"), "%s",
		  pg_decoder_error(dec));
}

/* ---- streams and resets ---- */

Test(dec_tight_filters, four_streams_kept_apart)
{
	uint8_t idx[MAX_PX];

	/* Interleaved on streams 0..3, twice: the second round continues each stream
	 * where the first left it, which only decodes if the decoder kept them apart. */
	for (int round = 0; round < 2; round++) {
		for (int id = 0; id < 4; id++) {
			char what[64];
			struct pg_rect r = {id * 6, round * 8, 6, 8};

			snprintf(what, sizeof(what), "stream %d, round %d", id, round);
			if (id % 2) {
				gradient_case(r, id, 0, what);
			} else {
				indices(idx, 48, id ? 2 : 5, (unsigned)round);
				palette_case(r, id ? 2 : 5, idx, id, 0, what);
			}
		}
	}
}

Test(dec_tight_filters, reset_bits)
{
	uint8_t idx[MAX_PX];

	for (int id = 0; id < 4; id++)
		gradient_case((struct pg_rect){id * 6, 0, 6, 4}, id, 0, "before the reset");
	/* A rectangle on stream 0 resets streams 1 and 3 (and the sender restarts them):
	 * their next data starts a fresh zlib stream, with its header, which only
	 * decodes if the decoder reset them too. Stream 2 is not reset and continues. */
	indices(idx, 24, 5, 9);
	palette_case((struct pg_rect){0, 4, 6, 4}, 5, idx, 0, 0xa, "rect that resets 1 and 3");
	gradient_case((struct pg_rect){6, 8, 6, 4}, 1, 0, "stream 1 after its reset");
	gradient_case((struct pg_rect){12, 8, 6, 4}, 2, 0, "stream 2 not reset");
	gradient_case((struct pg_rect){18, 8, 6, 4}, 3, 0, "stream 3 after its reset");
	/* A rectangle that resets its own stream, and all four at once. */
	gradient_case((struct pg_rect){0, 12, 6, 4}, 2, 0x4, "stream 2 resetting itself");
	indices(idx, 24, 2, 4);
	palette_case((struct pg_rect){6, 12, 6, 4}, 2, idx, 1, 0xf, "all four reset");
	gradient_case((struct pg_rect){12, 12, 6, 4}, 0, 0, "stream 0 after all reset");
	gradient_case((struct pg_rect){18, 12, 6, 4}, 3, 0, "stream 3 after all reset");
}

Test(dec_tight_filters, missing_reset_is_an_error)
{
	struct body o = {.n = 0};
	struct pg_rect r = {0, 0, 6, 4};
	uint32_t px[24];
	uint8_t data[72];
	size_t len;
	const char *why = NULL;

	gradient_case(r, 1, 0, "first rectangle on stream 1");
	/* The sender restarts stream 1 but does not say so: its new zlib header is
	 * garbage in the middle of the decoder's stream. */
	cr_assert_eq(deflateReset(&zs[1]), Z_OK);
	gradient_picture(px, 6, 4);
	len = gradient_data(px, 6, 4, data);
	put_ctl(&o, 1, 0, true);
	put8(&o, FILTER_GRADIENT);
	put_data(&o, 1, data, len);
	cr_assert_lt(pg_decode_rect(dec, PG_ENC_TIGHT, &r, &fb, o.b, o.n, &why), 0,
		     "a restarted stream decoded without a reset");
	cr_assert(strstr(pg_decoder_error(dec), "Tight stream 1"), "%s", pg_decoder_error(dec));
}

/* zlib's compress() makes a complete stream, final block and checksum included; a sender
 * that compresses each rectangle on its own sets the reset bit every time. The decoder
 * accepts a stream that ends exactly with its rectangle. */
Test(dec_tight_filters, compress_output_after_reset)
{
	uint32_t px[MAX_PX];
	uint8_t data[3 * MAX_PX], z[4096];
	struct pg_rect r = {3, 3, 9, 7};

	gradient_picture(px, r.w, r.h);
	for (int i = 0; i < 2; i++) {
		struct body o = {.n = 0};
		uLongf zlen = sizeof(z);
		size_t len = gradient_data(px, r.w, r.h, data);

		cr_assert_eq(compress(z, &zlen, data, len), Z_OK);
		put8(&o, 0x40 | 2 << 4 | 1 << 2); /* stream 2, filter, reset stream 2 */
		put8(&o, FILTER_GRADIENT);
		put_compact(&o, zlen);
		put(&o, z, zlen);
		decode_check(&o, r, px,
			     i ? "second compress() rectangle" : "first compress() rectangle");
	}
}
