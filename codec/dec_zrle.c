#include "decoder_impl.h"

#include <stdlib.h>

#include "buf.h"
#include "err.h"
#include "rfb.h"

#define TILE 64

struct zrle {
	z_stream zs;
	uint8_t win[PG_ZIN_WIN];
};

struct tile {
	struct pg_fb *fb;
	int x, y, w, h;
};

static void *zrle_create(void)
{
	struct zrle *s = malloc(sizeof(*s));
	if (s && pg_zin_stream_init(&s->zs) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void zrle_destroy(void *state)
{
	struct zrle *s = state;
	inflateEnd(&s->zs);
	free(s);
}

/* CPIXEL of the canonical format: the three low bytes of the little-endian pixel. */
static uint32_t cpixel(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static void put(const struct tile *t, int i, uint32_t px)
{
	t->fb->px[(size_t)(t->y + i / t->w) * t->fb->stride + t->x + i % t->w] = px;
}

static int read_palette(struct pg_zin *z, uint32_t *pal, int n)
{
	const uint8_t *p = pg_zin_get(z, (size_t)n * 3);
	if (!p)
		return -1;
	for (int i = 0; i < n; i++)
		pal[i] = cpixel(p + 3 * i);
	return 0;
}

/* Run length: bytes summed while they are 255, plus one; never past the tile. */
static int read_run(struct pg_zin *z, int left, int *run)
{
	int n = 1;
	const uint8_t *b;
	do {
		b = pg_zin_get(z, 1);
		if (!b)
			return -1;
		n += *b;
		if (n > left) {
			z->why = "ZRLE run longer than its tile";
			return -1;
		}
	} while (*b == 255);
	*run = n;
	return 0;
}

static int tile_packed(struct pg_zin *z, const struct tile *t, int n)
{
	uint32_t pal[16];
	if (read_palette(z, pal, n) < 0)
		return -1;
	int bits = n == 2 ? 1 : n <= 4 ? 2 : 4;
	size_t row_bytes = ((size_t)t->w * bits + 7) / 8;
	for (int y = 0; y < t->h; y++) {
		const uint8_t *p = pg_zin_get(z, row_bytes);
		if (!p)
			return -1;
		for (int x = 0; x < t->w; x++) {
			int bit = x * bits;
			int idx = p[bit / 8] >> (8 - bits - bit % 8) & ((1 << bits) - 1);
			if (idx >= n) {
				z->why = "ZRLE palette index out of range";
				return -1;
			}
			put(t, y * t->w + x, pal[idx]);
		}
	}
	return 0;
}

static int tile_rle(struct pg_zin *z, const struct tile *t, int n)
{
	uint32_t pal[128];
	int total = t->w * t->h;
	if (n && read_palette(z, pal, n) < 0)
		return -1;
	for (int i = 0; i < total;) {
		uint32_t px;
		int run = 1;
		const uint8_t *p = pg_zin_get(z, n ? 1 : 3);
		if (!p)
			return -1;
		if (!n) {
			px = cpixel(p);
		} else {
			if ((*p & 0x7f) >= n) {
				z->why = "ZRLE palette index out of range";
				return -1;
			}
			px = pal[*p & 0x7f];
		}
		if ((!n || *p & 0x80) && read_run(z, total - i, &run) < 0)
			return -1;
		for (int k = 0; k < run; k++)
			put(t, i + k, px);
		i += run;
	}
	return 0;
}

static int tile_decode(struct pg_zin *z, const struct tile *t)
{
	const uint8_t *p = pg_zin_get(z, 1);
	if (!p)
		return -1;
	int sub = *p;
	if (sub == 0) {
		for (int y = 0; y < t->h; y++) {
			const uint8_t *row = pg_zin_get(z, (size_t)t->w * 3);
			if (!row)
				return -1;
			for (int x = 0; x < t->w; x++)
				put(t, y * t->w + x, cpixel(row + 3 * x));
		}
		return 0;
	}
	if (sub == 1) {
		const uint8_t *c = pg_zin_get(z, 3);
		if (!c)
			return -1;
		pg_fb_fill(t->fb, &(struct pg_rect){t->x, t->y, t->w, t->h}, cpixel(c));
		return 0;
	}
	if (sub <= 16)
		return tile_packed(z, t, sub);
	if (sub == 128)
		return tile_rle(z, t, 0);
	if (sub >= 130)
		return tile_rle(z, t, sub - 128);
	z->why = "unknown ZRLE subencoding";
	return -1;
}

static ssize_t zrle_decode(void *state, struct pg_dec_err *err, const struct pg_rect *r,
			   struct pg_fb *fb, const uint8_t *buf, size_t len)
{
	struct zrle *s = state;
	struct pg_zin z;
	if (len < 4)
		return 0;
	uint32_t n = pg_rd32(buf);
	if (n > PG_RFB_MAX_ZLIB_IN)
		return pg_dec_fail(err, PG_ELIMIT, "ZRLE length over limit",
				   "ZRLE length %u over limit %u", n, PG_RFB_MAX_ZLIB_IN);
	if (len - 4 < n)
		return 0;
	pg_zin_start(&z, &s->zs, s->win, buf + 4, n);
	for (int ty = 0; ty < r->h; ty += TILE) {
		for (int tx = 0; tx < r->w; tx += TILE) {
			struct tile t = {fb, r->x + tx, r->y + ty,
					 r->w - tx < TILE ? r->w - tx : TILE,
					 r->h - ty < TILE ? r->h - ty : TILE};
			if (tile_decode(&z, &t) < 0)
				return pg_dec_fail(err, PG_EPROTO, z.why, "ZRLE tile at %d,%d: %s",
						   t.x, t.y, z.why);
		}
	}
	if (pg_zin_finish(&z) < 0)
		return pg_dec_fail(err, PG_EPROTO, z.why, "ZRLE: %s", z.why);
	return (ssize_t)n + 4;
}

const struct pg_decoder_impl pg_dec_zrle_impl = {
    .encoding = PG_ENC_ZRLE,
    .create = zrle_create,
    .destroy = zrle_destroy,
    .decode = zrle_decode,
};
