#include "decoder_impl.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "buf.h"
#include "err.h"
#include "rfb.h"

/* Below this many bytes a basic-compression body is sent uncompressed. */
#define TIGHT_MIN_TO_COMPRESS 12

/* JPEG output laid out as canonical uint32 pixels in memory. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TJ_CANONICAL TJPF_XRGB
#else
#define TJ_CANONICAL TJPF_BGRX
#endif

enum { CTL_FILL = 8, CTL_JPEG = 9, CTL_NO_ZLIB = 0xa };
enum { FILTER_COPY = 0, FILTER_PALETTE = 1, FILTER_GRADIENT = 2 };

struct tight {
	z_stream zs[4];
	int zs_ok;
	tjhandle tj;
	uint8_t win[PG_ZIN_WIN];
};

/* A parsed header: everything about the body known before any state changes. */
struct hdr {
	int type; /* CTL_FILL, CTL_JPEG, or the stream number of basic compression */
	int filter;
	int colours;
	size_t pal_off; /* palette TPIXELs */
	size_t data_off, data_len;
	size_t raw_len; /* decompressed bytes (basic) */
	size_t row_bytes;
	size_t total;
	bool no_zlib;
};

static void tight_destroy(void *state)
{
	struct tight *s = state;
	for (int i = 0; i < s->zs_ok; i++)
		inflateEnd(&s->zs[i]);
	if (s->tj)
		tjDestroy(s->tj);
	free(s);
}

static void *tight_create(void)
{
	struct tight *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	for (; s->zs_ok < 4; s->zs_ok++)
		if (pg_zin_stream_init(&s->zs[s->zs_ok]) < 0)
			goto fail;
	s->tj = tjInitDecompress();
	if (!s->tj)
		goto fail;
	return s;
fail:
	tight_destroy(s);
	return NULL;
}

static uint32_t tpixel(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Compact length: 1 to 3 bytes, 7 bits each but 8 in the third. 0 when more bytes
 * are needed, else the bytes it took. */
static size_t compact_len(const uint8_t *p, size_t avail, size_t *out)
{
	size_t v = 0;
	for (size_t i = 0; i < 3; i++) {
		if (i >= avail)
			return 0;
		if (i == 2) {
			*out = v | (size_t)p[2] << 14;
			return 3;
		}
		v |= (size_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}

/* 1 when the header is complete and sane, 0 when more bytes are needed, or a
 * negative PG_E code. */
static int parse(struct pg_dec_err *err, const struct pg_rect *r, const uint8_t *buf, size_t len,
		 struct hdr *h)
{
	size_t pos = 1, n, k;
	uint8_t ctl = buf[0];

	memset(h, 0, sizeof(*h));
	if (ctl >> 4 == CTL_FILL) {
		h->type = CTL_FILL;
		h->data_off = 1;
		h->total = 4;
		return len >= 4;
	}
	int nib = ctl >> 4;
	/* TurboVNC's "no zlib" flag (also sent by libvncserver at compression level
	 * 0): basic compression whose data is stored, not deflated. */
	if ((nib & CTL_NO_ZLIB) == CTL_NO_ZLIB) {
		h->no_zlib = true;
		nib &= ~CTL_NO_ZLIB;
	}
	if (nib == CTL_JPEG && !h->no_zlib) {
		h->type = CTL_JPEG;
	} else if (nib & 0x8) {
		return (int)pg_dec_fail(err, PG_EPROTO, "unknown Tight compression",
					"Tight compression control %#x unknown", ctl);
	} else {
		h->type = nib & 3;
		h->filter = FILTER_COPY;
		if (nib & 0x4) {
			if (len < 2)
				return 0;
			h->filter = buf[pos++];
		}
		if (h->filter == FILTER_PALETTE) {
			if (len < pos + 1)
				return 0;
			h->colours = buf[pos++] + 1;
			if (h->colours < 2)
				return (int)pg_dec_fail(err, PG_EPROTO,
							"Tight palette of one colour",
							"Tight palette of %d colour", h->colours);
			h->pal_off = pos;
			pos += (size_t)h->colours * 3;
			h->row_bytes = h->colours == 2 ? ((size_t)r->w + 7) / 8 : (size_t)r->w;
		} else if (h->filter == FILTER_COPY || h->filter == FILTER_GRADIENT) {
			h->row_bytes = (size_t)r->w * 3;
		} else {
			return (int)pg_dec_fail(err, PG_EPROTO, "unknown Tight filter",
						"Tight filter %d unknown", h->filter);
		}
		if (!pg_mul_size(h->row_bytes, (size_t)r->h, &h->raw_len))
			return (int)pg_dec_fail(err, PG_ELIMIT, "Tight rectangle too large",
						"Tight rectangle %dx%d too large", r->w, r->h);
		if (h->raw_len < TIGHT_MIN_TO_COMPRESS) {
			h->data_off = pos;
			h->data_len = h->raw_len;
			h->total = pos + h->raw_len;
			return len >= h->total;
		}
	}
	if (len <= pos)
		return 0;
	k = compact_len(buf + pos, len - pos, &n);
	if (!k)
		return 0;
	if (n > PG_RFB_MAX_ZLIB_IN)
		return (int)pg_dec_fail(err, PG_ELIMIT, "Tight length over limit",
					"Tight length %zu over limit %u", n, PG_RFB_MAX_ZLIB_IN);
	if (h->no_zlib && n != h->raw_len)
		return (int)pg_dec_fail(
		    err, PG_EPROTO, "Tight stored length differs from its rectangle",
		    "Tight stored length %zu, rectangle needs %zu", n, h->raw_len);
	h->data_off = pos + k;
	h->data_len = n;
	h->total = pos + k + n;
	return len >= h->total;
}

/* Most scans a sequential JPEG has: one per component when not interleaved. */
#define JPEG_MAX_SCANS 4

/* Every Tight encoder (libjpeg-turbo in TigerVNC, TurboVNC, libvncserver) writes
 * sequential Huffman JPEG: one pass over the picture. A progressive image may ask
 * for hundreds of passes over a full-screen coefficient buffer from a few bytes
 * each, and arithmetic, lossless and hierarchical ones for code no host needs; so
 * before TurboJPEG sees it, walk the markers (linear in the body) and accept
 * baseline and extended sequential Huffman frames (SOF0, SOF1) with a few scans.
 * NULL when fine, else why not. */
static const char *jpeg_check(const uint8_t *p, size_t n)
{
	size_t i = 2, scans = 0;
	bool frame = false;
	if (n < 4 || p[0] != 0xff || p[1] != 0xd8)
		return "no JPEG start of image";
	while (i < n) {
		if (p[i] != 0xff)
			return "JPEG marker expected";
		while (i < n && p[i] == 0xff) /* fill bytes */
			i++;
		if (i >= n)
			break;
		uint8_t m = p[i++];
		if (m == 0xd9) /* EOI */
			return frame && scans ? NULL : "JPEG ends before its picture";
		if (m >= 0xd0 && m <= 0xd7)
			continue; /* a restart marker between scan data */
		if (n - i < 2 || pg_rd16(p + i) < 2 || pg_rd16(p + i) > n - i)
			return "JPEG segment longer than the data";
		size_t seg = pg_rd16(p + i);
		if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
			if (m != 0xc0 && m != 0xc1)
				return "JPEG not sequential Huffman (progressive, arithmetic or "
				       "lossless)";
			if (frame)
				return "JPEG with more than one frame";
			frame = true;
		} else if (m == 0xde || m == 0xdf) {
			return "hierarchical JPEG";
		}
		i += seg;
		if (m != 0xda) /* SOS: entropy-coded data follows */
			continue;
		if (!frame || ++scans > JPEG_MAX_SCANS)
			return frame ? "JPEG with too many scans" : "JPEG scan before its frame";
		/* To the next marker: 0xff 0x00 is a stuffed byte, 0xff 0xd0..d7 a restart. */
		while (i + 1 < n &&
		       !(p[i] == 0xff && p[i + 1] != 0 && !(p[i + 1] >= 0xd0 && p[i + 1] <= 0xd7)))
			i++;
		if (i + 1 >= n)
			break;
	}
	return "JPEG without end of image";
}

static ssize_t do_jpeg(struct tight *s, struct pg_dec_err *err, const struct pg_rect *r,
		       struct pg_fb *fb, const uint8_t *jpeg, size_t n)
{
	int w, h, sub, cs;
	const char *bad = jpeg_check(jpeg, n);
	if (bad)
		return pg_dec_fail(err, PG_EPROTO, "bad Tight JPEG", "Tight JPEG: %s", bad);
	if (tjDecompressHeader3(s->tj, jpeg, (unsigned long)n, &w, &h, &sub, &cs) < 0)
		return pg_dec_fail(err, PG_EPROTO, "bad Tight JPEG", "Tight JPEG header: %s",
				   tjGetErrorStr2(s->tj));
	if (w != r->w || h != r->h)
		return pg_dec_fail(err, PG_EPROTO, "Tight JPEG size differs from its rectangle",
				   "Tight JPEG is %dx%d in a %dx%d rectangle", w, h, r->w, r->h);
	uint32_t *dst = fb->px + (size_t)r->y * fb->stride + r->x;
	if (tjDecompress2(s->tj, jpeg, (unsigned long)n, (unsigned char *)dst, w, fb->stride * 4, h,
			  TJ_CANONICAL, TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING) < 0)
		return pg_dec_fail(err, PG_EPROTO, "bad Tight JPEG", "Tight JPEG: %s",
				   tjGetErrorStr2(s->tj));
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			dst[(size_t)y * fb->stride + x] &= 0xffffff;
	return 0;
}

static int clamp255(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

static void row_gradient(struct pg_fb *fb, const struct pg_rect *r, int y, const uint8_t *p)
{
	uint32_t *row = fb->px + (size_t)(r->y + y) * fb->stride + r->x;
	const uint32_t *up = y ? row - fb->stride : NULL;
	for (int x = 0; x < r->w; x++) {
		uint32_t px = 0;
		for (int c = 0; c < 3; c++) {
			int sh = 16 - 8 * c;
			int left = x ? (int)(row[x - 1] >> sh & 0xff) : 0;
			int above = up ? (int)(up[x] >> sh & 0xff) : 0;
			int corner = x && up ? (int)(up[x - 1] >> sh & 0xff) : 0;
			int v = (clamp255(left + above - corner) + p[3 * x + c]) & 0xff;
			px |= (uint32_t)v << sh;
		}
		row[x] = px;
	}
}

static int do_basic(struct tight *s, const struct hdr *h, const struct pg_rect *r, struct pg_fb *fb,
		    const uint8_t *buf, const char **why)
{
	uint32_t pal[256];
	struct pg_zin z;

	for (int i = 0; i < h->colours; i++)
		pal[i] = tpixel(buf + h->pal_off + 3 * (size_t)i);
	pg_zin_start(&z, h->raw_len < TIGHT_MIN_TO_COMPRESS || h->no_zlib ? NULL : &s->zs[h->type],
		     s->win, buf + h->data_off, h->data_len);
	for (int y = 0; y < r->h; y++) {
		uint32_t *row = fb->px + (size_t)(r->y + y) * fb->stride + r->x;
		const uint8_t *p = pg_zin_get(&z, h->row_bytes);
		if (!p)
			goto fail;
		if (h->filter == FILTER_GRADIENT) {
			row_gradient(fb, r, y, p);
		} else if (h->filter == FILTER_COPY) {
			for (int x = 0; x < r->w; x++)
				row[x] = tpixel(p + 3 * x);
		} else {
			for (int x = 0; x < r->w; x++) {
				int idx = h->colours == 2 ? p[x / 8] >> (7 - x % 8) & 1 : p[x];
				if (idx >= h->colours) {
					z.why = "Tight palette index out of range";
					goto fail;
				}
				row[x] = pal[idx];
			}
		}
	}
	if (pg_zin_finish(&z) < 0)
		goto fail;
	return 0;
fail:
	*why = z.why;
	return -1;
}

static ssize_t tight_decode(void *state, struct pg_dec_err *err, const struct pg_rect *r,
			    struct pg_fb *fb, const uint8_t *buf, size_t len)
{
	struct tight *s = state;
	struct hdr h;
	const char *why;

	if (len < 1)
		return 0;
	int rc = parse(err, r, buf, len, &h);
	if (rc <= 0)
		return rc;
	/* Only now, with the whole body here, may stream state change. */
	for (int i = 0; i < 4; i++)
		if (buf[0] & 1 << i && inflateReset(&s->zs[i]) != Z_OK)
			return pg_dec_fail(err, PG_EPROTO, "zlib reset failed",
					   "zlib reset failed");
	if (h.type == CTL_FILL) {
		pg_fb_fill(fb, r, tpixel(buf + 1));
	} else if (h.type == CTL_JPEG) {
		ssize_t jrc = do_jpeg(s, err, r, fb, buf + h.data_off, h.data_len);
		if (jrc < 0)
			return jrc;
	} else if (do_basic(s, &h, r, fb, buf, &why) < 0) {
		return pg_dec_fail(err, PG_EPROTO, why, "Tight stream %d: %s", h.type, why);
	}
	return (ssize_t)h.total;
}

const struct pg_decoder_impl pg_dec_tight_impl = {
    .encoding = PG_ENC_TIGHT,
    .create = tight_create,
    .destroy = tight_destroy,
    .decode = tight_decode,
};
