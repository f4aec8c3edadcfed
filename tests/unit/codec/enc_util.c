#include "enc_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const struct pg_pixfmt pgt_rgb888_be = {32, 24, 1, 1, 255, 255, 255, 16, 8, 0};
const struct pg_pixfmt pgt_bgr888 = {32, 24, 0, 1, 255, 255, 255, 0, 8, 16};
const struct pg_pixfmt pgt_rgb565 = {16, 16, 0, 1, 31, 63, 31, 11, 5, 0};
const struct pg_pixfmt pgt_rgb565_be = {16, 16, 1, 1, 31, 63, 31, 11, 5, 0};
const struct pg_pixfmt pgt_bgr233 = {8, 8, 0, 1, 7, 7, 3, 0, 3, 6};

const uint8_t *pgt_guard_place(struct pgt_guard *g, const void *data, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (len + page - 1) / page * page;

	if (body == 0)
		body = page;
	g->maplen = body + page;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED)
		abort();
	if (mprotect(g->map + body, page, PROT_NONE) != 0)
		abort();
	uint8_t *p = g->map + body - len;
	if (len)
		memcpy(p, data, len);
	return p;
}

void pgt_guard_free(struct pgt_guard *g)
{
	if (g->map)
		munmap(g->map, g->maplen);
	g->map = NULL;
}

static uint32_t rnd(uint32_t *s)
{
	/* xorshift32: deterministic and good enough for test pictures */
	uint32_t x = *s ? *s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static uint32_t clamp8(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint32_t)v;
}

/* A triangle wave of period 2 * p, between 0 and p. */
static int tri(int t, int p)
{
	int m = t % (2 * p);
	return m < p ? m : 2 * p - m;
}

static uint32_t pixel(enum pgt_image kind, int x, int y, int w, int h, uint32_t *s)
{
	static const uint32_t few[] = {0xffffff, 0x000000, 0x2060c0, 0xe03020, 0x30a040};

	switch (kind) {
	case PGT_IMG_GRADIENT:
		return (uint32_t)(x * 255 / (w > 1 ? w - 1 : 1)) << 16 |
		       (uint32_t)(y * 255 / (h > 1 ? h - 1 : 1)) << 8 |
		       (uint32_t)((x + y) * 255 / (w + h));
	case PGT_IMG_TEXT: {
		/* 6x9 "glyphs": strokes in black or blue on white */
		int gx = x % 6, gy = y % 9, g = (x / 6 * 7 + y / 9 * 13) % 11;
		int on = gy < 7 && gx < 5 &&
			 ((g & 1 && gx == 0) || (g & 2 && gy == 3) || (g & 4 && gx == 4) ||
			  (g & 8 && gy == 0) || (g == 5 && gx == gy));
		return on ? ((x / 60 + y / 45) % 3 == 0 ? 0x1030a0 : 0x000000) : 0xffffff;
	}
	case PGT_IMG_NOISE:
		return rnd(s) & 0xffffff;
	case PGT_IMG_PHOTO: {
		/* piecewise-linear waves: smooth enough for JPEG, no libm needed */
		int n = (int)(rnd(s) % 7) - 3;
		int r = 40 + tri(x * 3 + y * 2, 350) / 2 + n;
		int gg = 30 + tri(y * 4 + (x * x) / 64, 410) / 2 + n;
		int b = 60 + tri(x + y * 5, 290) / 2 + n;
		return clamp8(r) << 16 | clamp8(gg) << 8 | clamp8(b);
	}
	case PGT_IMG_BLOCKS:
		return few[(x / 24 + (y / 16) * 3) % 5];
	case PGT_IMG_MIXED:
	default: {
		enum pgt_image q = (x < w / 2) ? (y < h / 2 ? PGT_IMG_TEXT : PGT_IMG_PHOTO)
					       : (y < h / 2 ? PGT_IMG_BLOCKS : PGT_IMG_GRADIENT);
		return pixel(q, x, y, w, h, s);
	}
	}
}

void pgt_image(struct pg_fb *fb, enum pgt_image kind, uint32_t seed)
{
	uint32_t s = seed * 2654435761u + 1;

	for (int y = 0; y < fb->h; y++)
		for (int x = 0; x < fb->w; x++)
			fb->px[(size_t)y * fb->stride + x] = pixel(kind, x, y, fb->w, fb->h, &s);
}

int pgt_pixfmt_eq(const struct pg_pixfmt *a, const struct pg_pixfmt *b)
{
	return a->bpp == b->bpp && a->depth == b->depth && a->big_endian == b->big_endian &&
	       a->true_colour == b->true_colour && a->red_max == b->red_max &&
	       a->green_max == b->green_max && a->blue_max == b->blue_max &&
	       a->red_shift == b->red_shift && a->green_shift == b->green_shift &&
	       a->blue_shift == b->blue_shift;
}

uint32_t pgt_quantize(const struct pg_pixfmt *pf, uint32_t px)
{
	struct pg_pixconv pc;
	uint8_t b[4];

	pg_pixconv_init(&pc, pf);
	pg_pixconv_row(&pc, &px, 1, b);
	return pg_pixfmt_to_rgb(pf, b);
}

double pgt_mse(const struct pg_fb *a, const struct pg_fb *b)
{
	double se = 0;
	size_t n = 0;

	for (int y = 0; y < a->h; y++) {
		for (int x = 0; x < a->w; x++) {
			uint32_t p = a->px[(size_t)y * a->stride + x];
			uint32_t q = b->px[(size_t)y * b->stride + x];
			for (int sh = 0; sh < 24; sh += 8) {
				double d = (double)((p >> sh) & 0xff) - (double)((q >> sh) & 0xff);
				se += d * d;
				n++;
			}
		}
	}
	return n ? se / (double)n : 0;
}
