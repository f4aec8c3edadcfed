/* ZRLE encoding (RFC 6143 7.7.6): 64x64 tiles, each solid, packed palette, plain
 * RLE, palette RLE or raw, whichever is smallest, through one zlib stream that
 * lives as long as the viewer's connection. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "encoder_impl.h"
#include "err.h"
#include "rfb.h"

#define TILE	    64
#define MAX_PALETTE 127
/* Rectangles are cut into bands of whole tile rows holding at most this many
 * pixels, so one rectangle's zlib data stays far below any decoder's cap
 * (PG_RFB_MAX_ZLIB_IN for ours). */
#define BAND_PIXELS (1u << 20)
#define HASH_SIZE   256

struct zrle_state {
	struct pg_pixconv pc;
	z_stream zs;
	unsigned cpx;  /* CPIXEL bytes */
	unsigned skip; /* for 3-byte CPIXELs, which of the four wire bytes is dropped */
	bool broken;   /* a failed encode left the zlib stream ahead of the viewer's */
	uint32_t value[TILE * TILE];	      /* the tile in the viewer's pixel values */
	uint8_t tile[TILE * TILE * 4 + 1024]; /* uncompressed tile, worst case raw */
	/* palette: a small open-addressing hash from value to index */
	uint32_t pal[MAX_PALETTE + 1];
	unsigned npal;
	int16_t slot[HASH_SIZE];
};

/* RFC 6143: a CPIXEL is 3 bytes when bpp is 32, depth at most 24 and every colour
 * bit fits in the least or the most significant three bytes; it is then the wire
 * pixel without its always-zero byte. When both fit we drop the last wire byte,
 * as libvncclient and TigerVNC read it. */
static void choose_cpixel(struct zrle_state *st, const struct pg_pixfmt *pf)
{
	uint32_t maxc = (uint32_t)pf->red_max << pf->red_shift |
			(uint32_t)pf->green_max << pf->green_shift |
			(uint32_t)pf->blue_max << pf->blue_shift;
	bool ls3 = maxc < (1u << 24);
	bool ms3 = (maxc & 0xff) == 0;

	st->cpx = pf->bpp / 8u;
	st->skip = 4;
	if (pf->bpp != 32 || pf->depth > 24 || (!ls3 && !ms3))
		return;
	st->cpx = 3;
	if (pf->big_endian)
		st->skip = ms3 ? 3 : 0; /* wire order is MSB first */
	else
		st->skip = ls3 ? 3 : 0;
}

static void *zrle_create(const struct pg_pixfmt *pf, const struct pg_enc_opts *opts)
{
	struct zrle_state *st = calloc(1, sizeof(*st));
	int level = opts->compress >= 0 && opts->compress <= 9 ? opts->compress : 1;

	if (!st)
		return NULL;
	if (opts->lane != 0) {
		/* One zlib stream per connection: a second lane would corrupt it. */
		free(st);
		return NULL;
	}
	pg_pixconv_init(&st->pc, pf);
	choose_cpixel(st, pf);
	if (deflateInit(&st->zs, level) != Z_OK) {
		free(st);
		return NULL;
	}
	return st;
}

static int zrle_configure(void *state, const struct pg_pixfmt *pf, const struct pg_enc_opts *opts)
{
	struct zrle_state *st = state;

	if (opts && opts->lane != 0)
		return PG_EUNSUP;
	/* The zlib stream and its level stay: only how pixels are written changes. */
	pg_pixconv_init(&st->pc, pf);
	choose_cpixel(st, pf);
	return 0;
}

static void zrle_destroy(void *state)
{
	struct zrle_state *st = state;

	if (!st)
		return;
	deflateEnd(&st->zs);
	free(st);
}

static uint8_t *put_cpixel(const struct zrle_state *st, uint32_t v, uint8_t *o)
{
	uint8_t w[4];
	unsigned n = pg_pixconv_store(&st->pc, v, w);

	if (st->skip == 4) {
		memcpy(o, w, n);
		return o + n;
	}
	for (unsigned i = 0, j = 0; i < 4; i++)
		if (i != st->skip)
			o[j++] = w[i];
	return o + 3;
}

static uint8_t *put_run(uint8_t *o, size_t len)
{
	len -= 1;
	while (len >= 255) {
		*o++ = 255;
		len -= 255;
	}
	*o++ = (uint8_t)len;
	return o;
}

static size_t run_bytes(size_t len)
{
	return (len - 1) / 255 + 1;
}

/* Index of v in the palette, adding it; -1 once the palette is full. */
static int pal_index(struct zrle_state *st, uint32_t v)
{
	unsigned h = (v * 2654435761u) >> 24;

	for (;;) {
		int s = st->slot[h];
		if (s < 0)
			break;
		if (st->pal[s] == v)
			return s;
		h = (h + 1) & (HASH_SIZE - 1);
	}
	if (st->npal >= MAX_PALETTE)
		return -1;
	st->pal[st->npal] = v;
	st->slot[h] = (int16_t)st->npal;
	return (int)st->npal++;
}

static size_t encode_tile(struct zrle_state *st, int w, int h)
{
	const uint32_t *v = st->value;
	size_t n = (size_t)w * h, runs = 0, rle_size = 0, prle_size = 0, i, j;
	unsigned cpx = st->cpx;
	bool palette_ok = true;
	uint8_t *o = st->tile;

	st->npal = 0;
	memset(st->slot, 0xff, sizeof(st->slot));
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j] == v[i]; j++)
			;
		runs++;
		rle_size += cpx + run_bytes(j - i);
		prle_size += j - i == 1 ? 1 : 1 + run_bytes(j - i);
		if (palette_ok && pal_index(st, v[i]) < 0)
			palette_ok = false;
	}
	if (palette_ok && st->npal == 1) {
		*o++ = 1;
		o = put_cpixel(st, v[0], o);
		return (size_t)(o - st->tile);
	}

	size_t raw_size = n * cpx;
	size_t best = raw_size;
	int kind = 0; /* 0 raw, 1 packed palette, 2 plain RLE, 3 palette RLE */
	unsigned bits = 0;
	if (palette_ok && st->npal <= 16) {
		bits = st->npal <= 2 ? 1 : st->npal <= 4 ? 2 : 4;
		size_t packed = st->npal * cpx + (size_t)h * (((size_t)w * bits + 7) / 8);
		if (packed < best) {
			best = packed;
			kind = 1;
		}
	}
	if (rle_size < best) {
		best = rle_size;
		kind = 2;
	}
	if (palette_ok && st->npal * cpx + prle_size < best)
		kind = 3;

	switch (kind) {
	case 0:
		*o++ = 0;
		for (i = 0; i < n; i++)
			o = put_cpixel(st, v[i], o);
		break;
	case 1:
		*o++ = (uint8_t)st->npal;
		for (i = 0; i < st->npal; i++)
			o = put_cpixel(st, st->pal[i], o);
		for (int y = 0; y < h; y++) {
			unsigned acc = 0, nbits = 0;
			for (int x = 0; x < w; x++) {
				acc = acc << bits | (unsigned)pal_index(st, v[(size_t)y * w + x]);
				nbits += bits;
				if (nbits == 8) {
					*o++ = (uint8_t)acc;
					acc = 0;
					nbits = 0;
				}
			}
			if (nbits)
				*o++ = (uint8_t)(acc << (8 - nbits));
		}
		break;
	case 2:
		*o++ = 128;
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && v[j] == v[i]; j++)
				;
			o = put_cpixel(st, v[i], o);
			o = put_run(o, j - i);
		}
		break;
	default:
		*o++ = (uint8_t)(128 + st->npal);
		for (i = 0; i < st->npal; i++)
			o = put_cpixel(st, st->pal[i], o);
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && v[j] == v[i]; j++)
				;
			uint8_t idx = (uint8_t)pal_index(st, v[i]);
			if (j - i == 1) {
				*o++ = idx;
			} else {
				*o++ = idx | 128;
				o = put_run(o, j - i);
			}
		}
		break;
	}
	return (size_t)(o - st->tile);
}

/* Deflate in into out, growing out as needed. */
static int deflate_into(z_stream *zs, const uint8_t *in, size_t len, int flush, struct pg_buf *out)
{
	int rc;

	zs->next_in = (Bytef *)in;
	zs->avail_in = (uInt)len;
	do {
		size_t room = deflateBound(zs, zs->avail_in) + 64;
		rc = pg_buf_reserve(out, room);
		if (rc < 0)
			return rc;
		zs->next_out = out->data + out->len;
		zs->avail_out = (uInt)room;
		if (deflate(zs, flush) == Z_STREAM_ERROR)
			return PG_ENOMEM;
		out->len += room - zs->avail_out;
	} while (zs->avail_in > 0 || zs->avail_out == 0);
	return 0;
}

static int encode_band(struct zrle_state *st, const struct pg_fb *fb, const struct pg_rect *r,
		       struct pg_buf *out)
{
	size_t start;
	int rc;

	rc = pg_enc_rect_header(out, r, PG_ENC_ZRLE);
	if (rc < 0)
		return rc;
	rc = pg_buf_put_u32(out, 0); /* length, patched below */
	if (rc < 0)
		return rc;
	start = out->len;
	for (int ty = 0; ty < r->h; ty += TILE) {
		int th = r->h - ty < TILE ? r->h - ty : TILE;
		for (int tx = 0; tx < r->w; tx += TILE) {
			int tw = r->w - tx < TILE ? r->w - tx : TILE;
			for (int y = 0; y < th; y++) {
				const uint32_t *src =
				    fb->px + (size_t)(r->y + ty + y) * fb->stride + r->x + tx;
				for (int x = 0; x < tw; x++)
					st->value[y * tw + x] = pg_pixconv_value(&st->pc, src[x]);
			}
			size_t n = encode_tile(st, tw, th);
			bool last = ty + th >= r->h && tx + tw >= r->w;
			rc = deflate_into(&st->zs, st->tile, n, last ? Z_SYNC_FLUSH : Z_NO_FLUSH,
					  out);
			if (rc < 0)
				return rc;
		}
	}
	size_t zlen = out->len - start;
	if (zlen > UINT32_MAX)
		return PG_ELIMIT;
	pg_wr32(out->data + start - 4, (uint32_t)zlen);
	return 0;
}

static int zrle_encode(void *state, const struct pg_fb *fb, const struct pg_rect *r,
		       struct pg_buf *out)
{
	struct zrle_state *st = state;
	size_t orig = out->len;
	int band = (int)(BAND_PIXELS / (unsigned)r->w) / TILE * TILE;
	int count = 0;

	if (st->broken)
		return PG_EPROTO;
	if (band < TILE)
		band = TILE;
	for (int y = 0; y < r->h; y += band) {
		struct pg_rect b = {r->x, r->y + y, r->w, r->h - y < band ? r->h - y : band};
		int rc = encode_band(st, fb, &b, out);
		if (rc < 0) {
			/* The zlib stream has moved on without the viewer; the caller
			 * must drop this encoder along with the partial output. */
			out->len = orig;
			st->broken = true;
			return rc;
		}
		count++;
	}
	return count;
}

const struct pg_encoder_impl pg_enc_zrle_impl = {
    .encoding = PG_ENC_ZRLE,
    .create = zrle_create,
    .destroy = zrle_destroy,
    .encode = zrle_encode,
    .configure = zrle_configure,
};
