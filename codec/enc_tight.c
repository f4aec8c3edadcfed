/* Tight encoding (community rfbproto spec, as TigerVNC and libvncserver encode it):
 * each sub-rectangle is a solid fill, a palette (zlib stream 2), a JPEG when the
 * viewer asked for one, or full colour through zlib stream 0. */
#include <stdbool.h>
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
#define STREAM_FULL    0
#define STREAM_PALETTE 2

#define PAL_MAX		256
#define PAL_JPEG_MAX	24 /* with JPEG allowed, more colours than this look like a photo */
#define JPEG_MIN_PIXELS 64 /* smaller rectangles are cheaper lossless */
#define HASH_SIZE	1024

struct tight_state {
	struct pg_pixconv pc;
	unsigned tpx; /* TPIXEL bytes */
	int level;
	z_stream zs[4];
	bool zinit[4];
	bool reset; /* tell the viewer to reset its streams in the next rectangle */
	tjhandle tj;
	int jpeg_quality; /* -1: no JPEG */
	int jpeg_samp;
	unsigned char *jbuf;
	unsigned long jsize;
	uint32_t val[MAX_PIXELS];
	uint8_t data[MAX_PIXELS * 4];
	uint32_t pal[PAL_MAX];
	unsigned npal;
	int16_t slot[HASH_SIZE];
};

/* Quality level 0..9 as TigerVNC maps it: JPEG quality and chroma subsampling. */
static const struct {
	int q, samp;
} jpeg_levels[10] = {
    {15, TJSAMP_420}, {29, TJSAMP_420}, {41, TJSAMP_420}, {42, TJSAMP_422}, {62, TJSAMP_422},
    {77, TJSAMP_422}, {79, TJSAMP_444}, {86, TJSAMP_444}, {92, TJSAMP_444}, {100, TJSAMP_444},
};

static void choose_jpeg(struct tight_state *st, const struct pg_enc_opts *o)
{
	static const int samp_of_opt[4] = {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_GRAY};

	st->jpeg_quality = -1;
	/* libvncclient and TigerVNC refuse JPEG at 8 bpp. */
	if (st->pc.bytes < 2)
		return;
	if (o->fine_quality >= 0 && o->fine_quality <= 100) {
		st->jpeg_quality = o->fine_quality;
		st->jpeg_samp = o->fine_quality >= 79	? TJSAMP_444
				: o->fine_quality >= 42 ? TJSAMP_422
							: TJSAMP_420;
	} else if (o->quality >= 0 && o->quality <= 9) {
		st->jpeg_quality = jpeg_levels[o->quality].q;
		st->jpeg_samp = jpeg_levels[o->quality].samp;
	} else {
		return;
	}
	if (o->subsampling >= 0 && o->subsampling <= 3)
		st->jpeg_samp = samp_of_opt[o->subsampling];
}

static void tight_destroy(void *state)
{
	struct tight_state *st = state;

	if (!st)
		return;
	for (int i = 0; i < 4; i++)
		if (st->zinit[i])
			deflateEnd(&st->zs[i]);
	if (st->tj)
		tjDestroy(st->tj);
	tjFree(st->jbuf);
	free(st);
}

static void *tight_create(const struct pg_pixfmt *pf, const struct pg_enc_opts *opts)
{
	struct tight_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	pg_pixconv_init(&st->pc, pf);
	st->tpx = pf->bpp == 32 && pf->depth == 24 && pf->red_max == 255 && pf->green_max == 255 &&
			  pf->blue_max == 255
		      ? 3
		      : st->pc.bytes;
	st->level = opts->compress >= 0 && opts->compress <= 9 ? opts->compress : 1;
	st->reset = true;
	choose_jpeg(st, opts);
	if (st->jpeg_quality >= 0) {
		st->tj = tjInitCompress();
		if (!st->tj) {
			tight_destroy(st);
			return NULL;
		}
	}
	return st;
}

static uint8_t *put_tpixel(const struct tight_state *st, uint32_t v, uint8_t *o)
{
	const struct pg_pixfmt *pf = &st->pc.pf;

	if (st->tpx == 3) {
		o[0] = (uint8_t)(v >> pf->red_shift);
		o[1] = (uint8_t)(v >> pf->green_shift);
		o[2] = (uint8_t)(v >> pf->blue_shift);
		return o + 3;
	}
	return o + pg_pixconv_store(&st->pc, v, o);
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

/* Counts colours into the palette; false once there are more than max. */
static bool build_palette(struct tight_state *st, size_t n, unsigned max)
{
	uint32_t last = 0;

	st->npal = 0;
	memset(st->slot, 0xff, sizeof(st->slot));
	for (size_t i = 0; i < n; i++) {
		uint32_t v = st->val[i];
		if (i && v == last)
			continue;
		last = v;
		unsigned h = (v * 2654435761u) >> 22;
		for (;;) {
			int s = st->slot[h];
			if (s < 0 || st->pal[s] == v)
				break;
			h = (h + 1) & (HASH_SIZE - 1);
		}
		if (st->slot[h] >= 0)
			continue;
		if (st->npal >= max)
			return false;
		st->pal[st->npal] = v;
		st->slot[h] = (int16_t)st->npal++;
	}
	return true;
}

static unsigned pal_lookup(const struct tight_state *st, uint32_t v)
{
	unsigned h = (v * 2654435761u) >> 22;

	while (st->pal[st->slot[h]] != v)
		h = (h + 1) & (HASH_SIZE - 1);
	return (unsigned)st->slot[h];
}

/* The first byte of a rectangle: the reset bits go out once, then never again. */
static uint8_t ctl_byte(struct tight_state *st, uint8_t ctl)
{
	if (!st->reset)
		return ctl;
	st->reset = false;
	for (int i = 0; i < 4; i++)
		if (st->zinit[i])
			deflateReset(&st->zs[i]);
	return ctl | 0x0f;
}

/* Append len bytes of data: as is when short, else compact length and zlib. */
static int put_data(struct tight_state *st, int stream, size_t len, struct pg_buf *out)
{
	z_stream *zs = &st->zs[stream];
	size_t room, start;
	int rc;

	if (len < MIN_TO_COMPRESS)
		return pg_buf_append(out, st->data, len);
	if (!st->zinit[stream]) {
		if (deflateInit(zs, st->level) != Z_OK)
			return PG_ENOMEM;
		st->zinit[stream] = true;
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

static int encode_fill(struct tight_state *st, struct pg_buf *out)
{
	uint8_t b[5];
	uint8_t *o = b;

	*o++ = ctl_byte(st, CTL_FILL);
	o = put_tpixel(st, st->val[0], o);
	return pg_buf_append(out, b, (size_t)(o - b));
}

static int encode_palette(struct tight_state *st, int w, int h, struct pg_buf *out)
{
	uint8_t head[3 + PAL_MAX * 4];
	uint8_t *o = head;
	size_t len = 0;
	int rc;

	*o++ = ctl_byte(st, (uint8_t)(CTL_FILTER | STREAM_PALETTE << 4));
	*o++ = FILTER_PALETTE;
	*o++ = (uint8_t)(st->npal - 1);
	for (unsigned i = 0; i < st->npal; i++)
		o = put_tpixel(st, st->pal[i], o);
	rc = pg_buf_append(out, head, (size_t)(o - head));
	if (rc < 0)
		return rc;
	if (st->npal == 2) {
		for (int y = 0; y < h; y++) {
			const uint32_t *row = st->val + (size_t)y * w;
			unsigned acc = 0, nbits = 0;
			for (int x = 0; x < w; x++) {
				acc = acc << 1 | (row[x] == st->pal[1]);
				if (++nbits == 8) {
					st->data[len++] = (uint8_t)acc;
					acc = 0;
					nbits = 0;
				}
			}
			if (nbits)
				st->data[len++] = (uint8_t)(acc << (8 - nbits));
		}
	} else {
		size_t n = (size_t)w * h;
		for (size_t i = 0; i < n; i++)
			st->data[len++] = (uint8_t)pal_lookup(st, st->val[i]);
	}
	return put_data(st, STREAM_PALETTE, len, out);
}

static int encode_full(struct tight_state *st, int w, int h, struct pg_buf *out)
{
	size_t n = (size_t)w * h;
	uint8_t *o = st->data;
	int rc;

	rc = pg_buf_put_u8(out, ctl_byte(st, STREAM_FULL << 4));
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		o = put_tpixel(st, st->val[i], o);
	return put_data(st, STREAM_FULL, (size_t)(o - st->data), out);
}

static int encode_jpeg(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *r,
		       struct pg_buf *out)
{
	const uint32_t *src = fb->px + (size_t)r->y * fb->stride + r->x;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const int tjpf = TJPF_BGRX; /* 0x00RRGGBB in memory: B, G, R, 0 */
#else
	const int tjpf = TJPF_XRGB;
#endif
	int rc;

	if (tjCompress2(st->tj, (const unsigned char *)src, r->w, fb->stride * 4, r->h, tjpf,
			&st->jbuf, &st->jsize, st->jpeg_samp, st->jpeg_quality,
			TJFLAG_FASTDCT) != 0)
		return PG_ENOMEM; /* tjGetErrorStr2(st->tj) says why; codec code does not log */
	rc = pg_buf_put_u8(out, ctl_byte(st, CTL_JPEG));
	if (rc < 0)
		return rc;
	rc = put_compact_len(out, st->jsize);
	if (rc < 0)
		return rc;
	return pg_buf_append(out, st->jbuf, st->jsize);
}

static int encode_sub(struct tight_state *st, const struct pg_fb *fb, const struct pg_rect *r,
		      struct pg_buf *out)
{
	size_t n = (size_t)r->w * r->h;
	bool jpeg = st->jpeg_quality >= 0 && n >= JPEG_MIN_PIXELS;
	unsigned maxpal = jpeg ? PAL_JPEG_MAX : st->tpx == 1 ? 2 : PAL_MAX;
	int rc;

	for (int y = 0; y < r->h; y++) {
		const uint32_t *row = fb->px + (size_t)(r->y + y) * fb->stride + r->x;
		for (int x = 0; x < r->w; x++)
			st->val[(size_t)y * r->w + x] = pg_pixconv_value(&st->pc, row[x]);
	}
	rc = pg_enc_rect_header(out, r, PG_ENC_TIGHT);
	if (rc < 0)
		return rc;
	bool few = build_palette(st, n, maxpal);
	if (few && st->npal == 1)
		return encode_fill(st, out);
	if (few)
		return encode_palette(st, r->w, r->h, out);
	if (jpeg)
		return encode_jpeg(st, fb, r, out);
	return encode_full(st, r->w, r->h, out);
}

static int tight_encode(void *state, const struct pg_fb *fb, const struct pg_rect *r,
			struct pg_buf *out)
{
	struct tight_state *st = state;
	size_t orig = out->len;
	int count = 0;

	for (int x = 0; x < r->w; x += MAX_WIDTH) {
		int w = r->w - x < MAX_WIDTH ? r->w - x : MAX_WIDTH;
		int band = MAX_PIXELS / w;
		for (int y = 0; y < r->h; y += band) {
			struct pg_rect s = {r->x + x, r->y + y, w,
					    r->h - y < band ? r->h - y : band};
			int rc = encode_sub(st, fb, &s, out);
			if (rc < 0) {
				/* Our streams may be ahead of the viewer's: start them
				 * all afresh in the next rectangle. */
				out->len = orig;
				st->reset = true;
				return rc;
			}
			count++;
		}
	}
	return count;
}

const struct pg_encoder_impl pg_enc_tight_impl = {
    .encoding = PG_ENC_TIGHT,
    .create = tight_create,
    .destroy = tight_destroy,
    .encode = tight_encode,
};
