/* Tight encoding (community rfbproto spec, as TigerVNC and libvncserver encode it):
 * each sub-rectangle is a solid fill, a palette, a JPEG when the viewer asked for
 * one, or full colour through zlib.
 *
 * An area is cut in two passes over its canonical pixels, with nothing converted
 * beforehand: each TILE x TILE tile is classed as solid, few colours (or, without
 * JPEG, simply "not solid"), or many colours; then neighbouring tiles of a class
 * (and, for fills, of one colour) merge into rectangles, row of tiles by row of
 * tiles. Fills may be any size. Many-colour rectangles become one JPEG each, as
 * large as the decoders allow, because TurboJPEG's cost and the JPEG headers are
 * per rectangle: a whole frame in one JPEG is about half the time and a third of
 * the bytes of the same frame in 64x64 JPEGs. What goes through zlib keeps the
 * limits every decoder was written for. */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "encoder_impl.h"
#include "err.h"
#include "rfb.h"

/* Decoders size their buffers by these (libvncclient: 2048-wide gradient rows,
 * a 640x480x3 scratch buffer for JPEG conversion), and they keep one rectangle's
 * zlib data far below the 4 MiB compact-length limit. */
#define MAX_WIDTH	2048
#define MAX_PIXELS	65536
#define MIN_TO_COMPRESS 12 /* fixed by the spec: less is sent as is */
#define MAX_COMPACT_LEN ((1u << 22) - 1)

#define CTL_FILL       0x80
#define CTL_JPEG       0x90
#define CTL_FILTER     0x40
#define FILTER_PALETTE 1

#define PAL_MAX		256
#define PAL_JPEG_MAX	24 /* with JPEG allowed, a tile of more colours looks like a photo */
#define JPEG_MIN_PIXELS 64 /* smaller rectangles are cheaper lossless */
#define HASH_SIZE	1024
#define CSET_SIZE	64 /* open addressing for up to PAL_JPEG_MAX colours */

#define TILE	      64
#define MAX_ROW_TILES ((65535 + TILE - 1) / TILE)

enum kind { KIND_FILL, KIND_ZLIB, KIND_JPEG };

/* A rectangle in the making, relative to the area being encoded. */
struct span {
	int x, y, w, h;
	enum kind kind;
	uint32_t colour; /* canonical, for fills */
};

struct tight_state {
	struct pg_pixconv pc;
	unsigned tpx; /* TPIXEL bytes */
	/* libvncclient decodes JPEG straight into its framebuffer only for these
	 * formats; for others it converts through its 640x480x3-byte buffer. */
	bool jpeg_direct;
	int level;
	int lane;
	z_stream zs[2]; /* full colour, palette: streams 2 * lane and 2 * lane + 1 */
	bool zinit[2];
	bool reset; /* tell the viewer to reset this lane's streams in the next rectangle */
	tjhandle tj;
	int jpeg_quality; /* -1: no JPEG */
	int jpeg_samp;
	unsigned char *jbuf;
	unsigned long jcap;
	uint32_t pal[PAL_MAX];
	unsigned npal;
	int16_t slot[HASH_SIZE];
	unsigned nopen;
	struct span open[MAX_ROW_TILES], next[MAX_ROW_TILES];
	uint8_t data[MAX_PIXELS * 4];
};

/* Quality level 0..9 as TigerVNC maps it: JPEG quality and chroma subsampling. */
static const struct {
	int q, samp;
} jpeg_levels[10] = {
    {15, TJSAMP_420}, {29, TJSAMP_420}, {41, TJSAMP_420}, {42, TJSAMP_422}, {62, TJSAMP_422},
    {77, TJSAMP_422}, {79, TJSAMP_444}, {86, TJSAMP_444}, {92, TJSAMP_444}, {100, TJSAMP_444},
};

static const int samp_of_opt[4] = {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_GRAY};

static int default_samp(int quality)
{
	return quality >= 79 ? TJSAMP_444 : quality >= 42 ? TJSAMP_422 : TJSAMP_420;
}

static void choose_jpeg(struct tight_state *st, const struct pg_enc_opts *o)
{
	st->jpeg_quality = -1;
	/* libvncclient and TigerVNC refuse JPEG at 8 bpp. */
	if (st->pc.bytes < 2)
		return;
	if (o->fine_quality >= 0 && o->fine_quality <= 100) {
		st->jpeg_quality = o->fine_quality;
		st->jpeg_samp = default_samp(o->fine_quality);
	} else if (o->quality >= 0 && o->quality <= 9) {
		st->jpeg_quality = jpeg_levels[o->quality].q;
		st->jpeg_samp = jpeg_levels[o->quality].samp;
	} else {
		return;
	}
	if (o->subsampling >= 0 && o->subsampling <= 3)
		st->jpeg_samp = samp_of_opt[o->subsampling];
}

static bool is_jpeg_direct(const struct pg_pixfmt *pf)
{
	int r = pf->red_shift, g = pf->green_shift, b = pf->blue_shift;

	/* libvncclient lists two more layouts (red at 24, and at 8 with blue at 24)
	 * and big-endian ones; these two are what TigerVNC's viewer and noVNC ask
	 * for, and the ones tested with it. */
	if (pf->bpp != 32 || pf->depth != 24 || pf->big_endian || pf->red_max != 255 ||
	    pf->green_max != 255 || pf->blue_max != 255)
		return false;
	return (r == 16 && g == 8 && b == 0) || (r == 0 && g == 8 && b == 16);
}

static void tight_destroy(void *state)
{
	struct tight_state *st = state;

	if (!st)
		return;
	for (int i = 0; i < 2; i++)
		if (st->zinit[i])
			deflateEnd(&st->zs[i]);
	if (st->tj)
		tjDestroy(st->tj);
	tjFree(st->jbuf);
	free(st);
}

static void *tight_create(const struct pg_pixfmt *pf, const struct pg_enc_opts *opts)
{
	struct tight_state *st = malloc(sizeof(*st));

	if (!st)
		return NULL;
	/* Only the head needs zeroing; the scratch arrays are written before use. */
	memset(st, 0, offsetof(struct tight_state, open));
	pg_pixconv_init(&st->pc, pf);
	st->tpx = pf->bpp == 32 && pf->depth == 24 && pf->red_max == 255 && pf->green_max == 255 &&
			  pf->blue_max == 255
		      ? 3
		      : st->pc.bytes;
	st->jpeg_direct = is_jpeg_direct(pf);
	st->level = opts->compress >= 0 && opts->compress <= 9 ? opts->compress : 1;
	st->lane = opts->lane;
	st->reset = true;
	choose_jpeg(st, opts);
	return st;
}

static int tight_set_jpeg(void *state, int quality, int subsampling)
{
	struct tight_state *st = state;

	if (quality < 0 || st->pc.bytes < 2) {
		st->jpeg_quality = -1;
		return 0;
	}
	st->jpeg_quality = quality;
	st->jpeg_samp = subsampling >= 0 ? samp_of_opt[subsampling] : default_samp(quality);
	return 0;
}

static int tight_jpeg_quality(const void *state)
{
	const struct tight_state *st = state;

	return st->jpeg_quality;
}

static uint8_t *put_tpixel(const struct tight_state *st, uint32_t rgb, uint8_t *o)
{
	if (st->tpx == 3) {
		/* 8 bits a channel: the TPIXEL is the canonical R, G, B */
		o[0] = (uint8_t)(rgb >> 16);
		o[1] = (uint8_t)(rgb >> 8);
		o[2] = (uint8_t)rgb;
		return o + 3;
	}
	return o + pg_pixconv_store(&st->pc, pg_pixconv_value(&st->pc, rgb), o);
}

static int put_compact_len(struct pg_buf *out, size_t len)
{
	uint8_t b[3];
	size_t n = 0;

	if (len > MAX_COMPACT_LEN)
		return PG_ELIMIT;
	b[n++] = (uint8_t)(len & 0x7f);
	if (len > 0x7f) {
		b[0] |= 0x80;
		b[n++] = (uint8_t)(len >> 7 & 0x7f);
		if (len > 0x3fff) {
			b[1] |= 0x80;
			b[n++] = (uint8_t)(len >> 14);
		}
	}
	return pg_buf_append(out, b, n);
}

static unsigned hash(uint32_t v)
{
	return (v * 2654435761u) >> 22; /* 10 bits: HASH_SIZE */
}

/* Counts the canonical colours of w x h pixels at src into the palette; false once
 * there are more than max. */
static bool build_palette(struct tight_state *st, const uint32_t *src, int stride, int w, int h,
			  unsigned max)
{
	uint32_t last = src[0] + 1;

	st->npal = 0;
	memset(st->slot, 0xff, sizeof(st->slot));
	for (int y = 0; y < h; y++) {
		const uint32_t *row = src + (size_t)y * stride;
		for (int x = 0; x < w; x++) {
			uint32_t v = row[x];
			if (v == last)
				continue;
			last = v;
			unsigned k = hash(v);
			for (;;) {
				int s = st->slot[k];
				if (s < 0 || st->pal[s] == v)
					break;
				k = (k + 1) & (HASH_SIZE - 1);
			}
			if (st->slot[k] >= 0)
				continue;
			if (st->npal >= max)
				return false;
			st->pal[st->npal] = v;
			st->slot[k] = (int16_t)st->npal++;
		}
	}
	return true;
}

static unsigned pal_lookup(const struct tight_state *st, uint32_t v)
{
	unsigned k = hash(v);

	while (st->pal[st->slot[k]] != v)
		k = (k + 1) & (HASH_SIZE - 1);
	return (unsigned)st->slot[k];
}

/* The first byte of a rectangle: the reset bits of this lane's streams go out once,
 * then never again. */
static uint8_t ctl_byte(struct tight_state *st, uint8_t ctl)
{
	if (!st->reset)
		return ctl;
	st->reset = false;
	for (int i = 0; i < 2; i++)
		if (st->zinit[i])
			deflateReset(&st->zs[i]);
	return ctl | (uint8_t)(3u << (2 * st->lane));
}

/* Append len bytes of data: as is when short, else compact length and zlib through
 * this lane's stream which (0 full colour, 1 palette). */
static int put_data(struct tight_state *st, int which, size_t len, struct pg_buf *out)
{
	z_stream *zs = &st->zs[which];
	size_t room, start;
	int rc;

	if (len < MIN_TO_COMPRESS)
		return pg_buf_append(out, st->data, len);
	if (!st->zinit[which]) {
		if (deflateInit(zs, st->level) != Z_OK)
			return PG_ENOMEM;
		st->zinit[which] = true;
	}
	room = deflateBound(zs, len) + 64;
	rc = pg_buf_reserve(out, 3 + room);
	if (rc < 0)
		return rc;
	/* Compress after the widest length field, then close the gap. */
	start = out->len + 3;
	zs->next_in = st->data;
	zs->avail_in = (uInt)len;
	zs->next_out = out->data + start;
	zs->avail_out = (uInt)room;
	if (deflate(zs, Z_SYNC_FLUSH) != Z_OK || zs->avail_in != 0 || zs->avail_out == 0)
		return PG_ENOMEM;
	size_t zlen = room - zs->avail_out;
	rc = put_compact_len(out, zlen);
	if (rc < 0)
		return rc;
	memmove(out->data + out->len, out->data + start, zlen);
	out->len += zlen;
	return 0;
}

static int encode_fill(struct tight_state *st, const struct pg_rect *r, uint32_t rgb,
		       struct pg_buf *out)
{
	uint8_t b[5];
	uint8_t *o = b;
	int rc = pg_enc_rect_header(out, r, PG_ENC_TIGHT);

	if (rc < 0)
		return rc;
	*o++ = ctl_byte(st, CTL_FILL);
	o = put_tpixel(st, rgb, o);
	return pg_buf_append(out, b, (size_t)(o - b));
}

static int encode_palette(struct tight_state *st, const uint32_t *src, int stride, int w, int h,
			  struct pg_buf *out)
{
	uint8_t head[3 + PAL_MAX * 4];
	uint8_t *o = head;
	size_t len = 0;
	int rc;

	*o++ = ctl_byte(st, (uint8_t)(CTL_FILTER | (2 * st->lane + 1) << 4));
	*o++ = FILTER_PALETTE;
	*o++ = (uint8_t)(st->npal - 1);
	for (unsigned i = 0; i < st->npal; i++)
		o = put_tpixel(st, st->pal[i], o);
	rc = pg_buf_append(out, head, (size_t)(o - head));
	if (rc < 0)
		return rc;
	if (st->npal == 2) {
		const uint32_t one = st->pal[1];
		for (int y = 0; y < h; y++) {
			const uint32_t *row = src + (size_t)y * stride;
			int x = 0;
			for (; x + 8 <= w; x += 8) {
				unsigned acc = 0;
				for (int k = 0; k < 8; k++)
					acc = acc << 1 | (row[x + k] == one);
				st->data[len++] = (uint8_t)acc;
			}
			if (x < w) {
				unsigned acc = 0;
				for (int k = x; k < w; k++)
					acc = acc << 1 | (row[k] == one);
				st->data[len++] = (uint8_t)(acc << (8 - (w - x)));
			}
		}
	} else {
		uint32_t last = st->pal[0];
		uint8_t idx = 0;
		for (int y = 0; y < h; y++) {
			const uint32_t *row = src + (size_t)y * stride;
			for (int x = 0; x < w; x++) {
				if (row[x] != last) {
					last = row[x];
					idx = (uint8_t)pal_lookup(st, last);
				}
				st->data[len++] = idx;
			}
		}
	}
	return put_data(st, 1, len, out);
}

static int encode_full(struct tight_state *st, const uint32_t *src, int stride, int w, int h,
		       struct pg_buf *out)
{
	uint8_t *o = st->data;
	int rc;

	rc = pg_buf_put_u8(out, ctl_byte(st, (uint8_t)((2 * st->lane) << 4)));
	if (rc < 0)
		return rc;
	for (int y = 0; y < h; y++) {
		const uint32_t *row = src + (size_t)y * stride;
		if (st->tpx == 3) {
			for (int x = 0; x < w; x++) {
				uint32_t p = row[x];
				o[0] = (uint8_t)(p >> 16);
				o[1] = (uint8_t)(p >> 8);
				o[2] = (uint8_t)p;
				o += 3;
			}
		} else {
			pg_pixconv_row(&st->pc, row, (size_t)w, o);
			o += (size_t)w * st->pc.bytes;
		}
	}
	return put_data(st, 0, (size_t)(o - st->data), out);
}

/* Fill, palette or full colour through zlib; r within MAX_WIDTH and MAX_PIXELS. */
static int encode_lossless(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *r,
			   struct pg_buf *out)
{
	const uint32_t *src = fb->px + (size_t)r->y * fb->stride + r->x;
	/* at 8 bpp an index costs what a pixel does: only 2 colours pay */
	unsigned maxpal = st->tpx == 1 ? 2 : PAL_MAX;
	bool few = build_palette(st, src, fb->stride, r->w, r->h, maxpal);
	int rc;

	if (few && st->npal == 1)
		return encode_fill(st, r, st->pal[0], out);
	rc = pg_enc_rect_header(out, r, PG_ENC_TIGHT);
	if (rc < 0)
		return rc;
	if (few)
		return encode_palette(st, src, fb->stride, r->w, r->h, out);
	return encode_full(st, src, fb->stride, r->w, r->h, out);
}

/* One JPEG of r, read from the framebuffer in place; returns rectangles written.
 * A JPEG over the compact-length limit is sent as two halves. */
static int encode_jpeg(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *r,
		       struct pg_buf *out)
{
	const uint32_t *src = fb->px + (size_t)r->y * fb->stride + r->x;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const int tjpf = TJPF_BGRX; /* 0x00RRGGBB in memory: B, G, R, 0 */
#else
	const int tjpf = TJPF_XRGB;
#endif
	unsigned long need, jsize;
	int rc;

	if (!st->tj) {
		st->tj = tjInitCompress();
		if (!st->tj)
			return PG_ENOMEM;
	}
	/* A buffer for the worst case, kept between rectangles, so TurboJPEG never
	 * allocates. */
	need = tjBufSize(r->w, r->h, st->jpeg_samp);
	if (need == (unsigned long)-1 || need > INT_MAX)
		return PG_ELIMIT;
	if (need > st->jcap) {
		tjFree(st->jbuf);
		st->jcap = 0;
		st->jbuf = tjAlloc((int)need);
		if (!st->jbuf)
			return PG_ENOMEM;
		st->jcap = need;
	}
	jsize = st->jcap;
	if (tjCompress2(st->tj, (const unsigned char *)src, r->w, fb->stride * 4, r->h, tjpf,
			&st->jbuf, &jsize, st->jpeg_samp, st->jpeg_quality,
			TJFLAG_FASTDCT | TJFLAG_NOREALLOC) != 0)
		return PG_ENOMEM; /* tjGetErrorStr2(st->tj) says why; codec code does not log */
	if (jsize > MAX_COMPACT_LEN) {
		struct pg_rect a = *r, b = *r;
		if (r->h < 2)
			return PG_ELIMIT;
		a.h = r->h / 2;
		b.y += a.h;
		b.h -= a.h;
		int n = encode_jpeg(st, fb, &a, out);
		if (n < 0)
			return n;
		int m = encode_jpeg(st, fb, &b, out);
		return m < 0 ? m : n + m;
	}
	rc = pg_buf_reserve(out, 12 + 4 + jsize);
	if (rc < 0)
		return rc;
	rc = pg_enc_rect_header(out, r, PG_ENC_TIGHT);
	if (rc < 0)
		return rc;
	pg_buf_put_u8(out, ctl_byte(st, CTL_JPEG));
	put_compact_len(out, jsize);
	rc = pg_buf_append(out, st->jbuf, jsize);
	return rc < 0 ? rc : 1;
}

/* Whether a rectangle of kind may be w x h. */
static bool fits(const struct tight_state *st, enum kind kind, int w, int h)
{
	if (kind == KIND_FILL || (kind == KIND_JPEG && st->jpeg_direct))
		return true;
	return w <= MAX_WIDTH && (long)w * h <= MAX_PIXELS;
}

static bool same_class(const struct span *a, const struct span *b)
{
	return a->kind == b->kind && (a->kind != KIND_FILL || a->colour == b->colour);
}

/* The class of the w x h tile at p: a fill (with *colour), JPEG when JPEG is on and
 * it has more than PAL_JPEG_MAX colours, else zlib. Solid tiles, the commonest,
 * cost one compare a pixel; photo-like ones stop after a few dozen pixels. */
static enum kind classify(const struct tight_state *st, const uint32_t *p, int stride, int w, int h,
			  uint32_t *colour)
{
	const uint32_t first = p[0];
	uint32_t set[CSET_SIZE], last = first;
	uint8_t used[CSET_SIZE];
	unsigned n = 1, k;
	int x = 0, y;

	for (y = 0; y < h; y++) {
		const uint32_t *row = p + (size_t)y * stride;
		for (x = 0; x < w; x++)
			if (row[x] != first)
				goto mixed;
	}
	*colour = first;
	return KIND_FILL;
mixed:
	if (st->jpeg_quality < 0)
		return KIND_ZLIB;
	memset(used, 0, sizeof(used));
	k = hash(first) & (CSET_SIZE - 1);
	used[k] = 1;
	set[k] = first;
	for (; y < h; y++, x = 0) {
		const uint32_t *row = p + (size_t)y * stride;
		for (; x < w; x++) {
			uint32_t v = row[x];
			if (v == last)
				continue;
			last = v;
			k = hash(v) & (CSET_SIZE - 1);
			while (used[k] && set[k] != v)
				k = (k + 1) & (CSET_SIZE - 1);
			if (used[k])
				continue;
			if (n == PAL_JPEG_MAX)
				return KIND_JPEG;
			used[k] = 1;
			set[k] = v;
			n++;
		}
	}
	return KIND_ZLIB;
}

static int emit(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *area,
		const struct span *s, struct pg_buf *out)
{
	struct pg_rect r = {area->x + s->x, area->y + s->y, s->w, s->h};
	int rc;

	if (s->kind == KIND_FILL)
		rc = encode_fill(st, &r, s->colour, out);
	else if (s->kind == KIND_JPEG && (long)s->w * s->h >= JPEG_MIN_PIXELS)
		return encode_jpeg(st, fb, &r, out);
	else
		rc = encode_lossless(st, fb, &r, out);
	return rc < 0 ? rc : 1;
}

/* Class one row of tiles and cut it into runs of one class within the limits. */
static unsigned row_runs(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *r,
			 int ty, int th)
{
	const uint32_t *base = fb->px + (size_t)(r->y + ty) * fb->stride + r->x;
	unsigned n = 0;

	for (int tx = 0; tx < r->w; tx += TILE) {
		int tw = r->w - tx < TILE ? r->w - tx : TILE;
		struct span t = {tx, ty, tw, th, KIND_FILL, 0};
		t.kind = classify(st, base + tx, fb->stride, tw, th, &t.colour);
		struct span *run = n ? &st->next[n - 1] : NULL;
		if (run && same_class(run, &t) && fits(st, t.kind, run->w + tw, th))
			run->w += tw;
		else
			st->next[n++] = t;
	}
	return n;
}

static int encode_area(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *r,
		       struct pg_buf *out)
{
	int count = 0, rc;

	st->nopen = 0;
	for (int ty = 0; ty < r->h; ty += TILE) {
		int th = r->h - ty < TILE ? r->h - ty : TILE;
		unsigned nnext = row_runs(st, fb, r, ty, th), a = 0;

		/* A run continues the rectangle above it when it has the same columns
		 * and class and the union still fits; every other open rectangle is
		 * finished. Both lists run left to right. */
		for (unsigned i = 0; i < nnext; i++) {
			struct span *s = &st->next[i];
			for (; a < st->nopen && st->open[a].x < s->x; a++) {
				if ((rc = emit(st, fb, r, &st->open[a], out)) < 0)
					return rc;
				count += rc;
			}
			if (a < st->nopen && st->open[a].x == s->x && st->open[a].w == s->w &&
			    same_class(&st->open[a], s) &&
			    fits(st, s->kind, s->w, st->open[a].h + th)) {
				s->y = st->open[a].y;
				s->h += st->open[a].h;
				a++;
			}
		}
		for (; a < st->nopen; a++) {
			if ((rc = emit(st, fb, r, &st->open[a], out)) < 0)
				return rc;
			count += rc;
		}
		memcpy(st->open, st->next, nnext * sizeof(st->next[0]));
		st->nopen = nnext;
	}
	for (unsigned a = 0; a < st->nopen; a++) {
		if ((rc = emit(st, fb, r, &st->open[a], out)) < 0)
			return rc;
		count += rc;
	}
	return count;
}

static int tight_encode(void *state, const struct pg_fb *fb, const struct pg_rect *r,
			struct pg_buf *out)
{
	struct tight_state *st = state;
	size_t orig = out->len;
	int count = encode_area(st, fb, r, out);

	if (count < 0) {
		/* Our streams may be ahead of the viewer's: start them afresh in the
		 * next rectangle. */
		out->len = orig;
		st->reset = true;
	}
	return count;
}

static void tight_restart(void *state)
{
	struct tight_state *st = state;

	st->reset = true;
}

const struct pg_encoder_impl pg_enc_tight_impl = {
    .encoding = PG_ENC_TIGHT,
    .create = tight_create,
    .destroy = tight_destroy,
    .encode = tight_encode,
    .set_jpeg = tight_set_jpeg,
    .jpeg_quality = tight_jpeg_quality,
    .restart = tight_restart,
};
