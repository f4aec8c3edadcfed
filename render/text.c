#include "text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ft2build.h>
#include FT_FREETYPE_H

/* Each font has its own FT_Library: FreeType lets distinct libraries live on distinct
 * threads, so two fonts never share hidden state. */
struct pg_font {
	FT_Library lib;
	FT_Face face;
	char name[128];
};

/* The text of one banner, decoded: glyph indices and where each line starts. */
struct layout {
	FT_UInt glyph[PG_OVERLAY_MAX_CHARS];
	int start[PG_OVERLAY_MAX_LINES + 1]; /* line i is glyph[start[i] .. start[i + 1]) */
	int nlines;
	/* Filled by measure() for one pixel size. */
	int ink_left[PG_OVERLAY_MAX_LINES]; /* <= 0: how far ink reaches left of the pen */
	int width;			    /* widest line, ink included */
	int line_h, ascent;
};

void pg_render_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static const char *ft_strerror(FT_Error error_code)
{
	/* FT_Error_String is empty unless FreeType was built with error strings (Debian's
	 * is not); the table below is the documented way to get them anyway. */
#undef FTERRORS_H_
#define FT_ERROR_START_LIST switch (FT_ERROR_BASE(error_code)) {
#define FT_ERRORDEF(e, v, s)                                                                       \
	case v:                                                                                    \
		return s;
#define FT_ERROR_END_LIST }
#include FT_ERRORS_H
	return "unknown FreeType error";
}

struct pg_font *pg_font_open(const char *path, int face_index, char *err, size_t err_size)
{
	struct pg_font *f = NULL;
	FT_Error e;

	if (!path || face_index < 0) {
		pg_render_err(err, err_size, "%s: bad font path or face index",
			      path ? path : "(null)");
		return NULL;
	}
	/* FreeType reports a missing file as "cannot open resource"; errno says why. */
	if (access(path, R_OK) != 0) {
		pg_render_err(err, err_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pg_render_err(err, err_size, "%s: out of memory", path);
		return NULL;
	}
	e = FT_Init_FreeType(&f->lib);
	if (e) {
		pg_render_err(err, err_size, "%s: FreeType: %s", path, ft_strerror(e));
		goto fail;
	}
	e = FT_New_Face(f->lib, path, face_index, &f->face);
	if (e) {
		pg_render_err(err, err_size, "%s: face %d: %s", path, face_index, ft_strerror(e));
		goto fail;
	}
	if (!FT_IS_SCALABLE(f->face)) {
		pg_render_err(err, err_size, "%s: face %d is a bitmap font, not an outline font",
			      path, face_index);
		goto fail;
	}
	e = FT_Select_Charmap(f->face, FT_ENCODING_UNICODE);
	if (e) {
		pg_render_err(err, err_size, "%s: face %d has no Unicode character map", path,
			      face_index);
		goto fail;
	}
	snprintf(f->name, sizeof(f->name), "%s %s",
		 f->face->family_name ? f->face->family_name : "?",
		 f->face->style_name ? f->face->style_name : "?");
	return f;
fail:
	pg_font_del(f);
	return NULL;
}

void pg_font_del(struct pg_font *f)
{
	if (!f)
		return;
	if (f->lib)
		FT_Done_FreeType(f->lib); /* also frees the face */
	free(f);
}

const char *pg_font_name(const struct pg_font *f)
{
	return f->name;
}

/* Decode one strict UTF-8 sequence (RFC 3629) from s[0 .. len): its length, or 0 when
 * it is truncated, overlong, a surrogate or above U+10FFFF. */
size_t pg_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static int decode_text(struct pg_font *f, const char *text, const char *what, struct layout *lo,
		       char *err, size_t err_size)
{
	/* Longest text that can still be within PG_OVERLAY_MAX_CHARS; stops the scan of
	 * an unterminated or huge string early. */
	const size_t max_bytes = PG_OVERLAY_MAX_CHARS * 4;
	const unsigned char *s = (const unsigned char *)text;
	size_t len = strnlen(text, max_bytes + 1);
	int nchars = 0, n = 0;

	if (len == 0) {
		pg_render_err(err, err_size, "empty %s", what);
		return -EINVAL;
	}
	if (len > max_bytes) {
		pg_render_err(err, err_size, "%s longer than %d characters", what,
			      PG_OVERLAY_MAX_CHARS);
		return -E2BIG;
	}
	lo->nlines = 1;
	lo->start[0] = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t step = pg_utf8_decode(s + i, len - i, &cp);

		if (!step) {
			pg_render_err(err, err_size, "%s: invalid UTF-8 at byte %zu", what, i);
			return -EILSEQ;
		}
		if (++nchars > PG_OVERLAY_MAX_CHARS) {
			pg_render_err(err, err_size, "%s longer than %d characters", what,
				      PG_OVERLAY_MAX_CHARS);
			return -E2BIG;
		}
		if (cp == '\n') {
			if (lo->nlines == PG_OVERLAY_MAX_LINES) {
				pg_render_err(err, err_size, "%s has more than %d lines", what,
					      PG_OVERLAY_MAX_LINES);
				return -E2BIG;
			}
			lo->start[lo->nlines++] = n;
		} else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			pg_render_err(err, err_size, "%s: control character U+%04X at byte %zu",
				      what, (unsigned)cp, i);
			return -EINVAL;
		} else {
			lo->glyph[n++] = FT_Get_Char_Index(f->face, cp);
		}
		i += step;
	}
	lo->start[lo->nlines] = n;
	return 0;
}

/* Glyphs are hinted lightly (vertically only), as Chromium does by default on Linux,
 * and never taken from embedded bitmaps so every glyph is antialiased the same way. */
#define LOAD_FLAGS (FT_LOAD_TARGET_LIGHT | FT_LOAD_NO_BITMAP)

static FT_Pos kerning(FT_Face face, FT_UInt prev, FT_UInt cur)
{
	FT_Vector d;

	if (!prev || !FT_HAS_KERNING(face) ||
	    FT_Get_Kerning(face, prev, cur, FT_KERNING_DEFAULT, &d))
		return 0;
	return d.x;
}

/* Set the face to px and measure every line, in whole pixels. */
static int measure(FT_Face face, int px, struct layout *lo, char *err, size_t err_size)
{
	FT_Error e = FT_Set_Pixel_Sizes(face, 0, (FT_UInt)px);

	if (e) {
		pg_render_err(err, err_size, "cannot set font size %d: %s", px, ft_strerror(e));
		return -EIO;
	}
	lo->width = 0;
	for (int l = 0; l < lo->nlines; l++) {
		FT_Pos pen = 0, left = 0, right = 0; /* 26.6 */
		FT_UInt prev = 0;

		for (int i = lo->start[l]; i < lo->start[l + 1]; i++) {
			FT_Glyph_Metrics *m = &face->glyph->metrics;

			pen += kerning(face, prev, lo->glyph[i]);
			e = FT_Load_Glyph(face, lo->glyph[i], LOAD_FLAGS);
			if (e) {
				pg_render_err(err, err_size, "cannot load glyph %u: %s",
					      lo->glyph[i], ft_strerror(e));
				return -EIO;
			}
			if (m->width > 0) {
				if (pen + m->horiBearingX < left)
					left = pen + m->horiBearingX;
				if (pen + m->horiBearingX + m->width > right)
					right = pen + m->horiBearingX + m->width;
			}
			pen += face->glyph->advance.x;
			prev = lo->glyph[i];
		}
		if (pen > right)
			right = pen;
		lo->ink_left[l] = (int)(left >> 6); /* floor */
		int w = (int)((right + 63) >> 6) - lo->ink_left[l];
		if (w > lo->width)
			lo->width = w;
	}
	/* Scaled metrics are already rounded to whole pixels for a scalable face. */
	lo->ascent = (int)((face->size->metrics.ascender + 63) >> 6);
	lo->line_h = (int)((face->size->metrics.height + 63) >> 6);
	return 0;
}

static inline uint32_t div255(uint32_t x)
{
	/* Exact round(x / 255) for x <= 255 * 255. */
	return (x + 128 + ((x + 128) >> 8)) >> 8;
}

/* Blit the current glyph's bitmap into the coverage mask at (x0, y0) (its top-left),
 * keeping the larger coverage where glyphs overlap. */
static void blit_glyph(uint8_t *cov, int w, int h, const FT_Bitmap *bm, int x0, int y0)
{
	const unsigned char *top = bm->buffer;

	if (!top)
		return;
	if (bm->pixel_mode != FT_PIXEL_MODE_GRAY && bm->pixel_mode != FT_PIXEL_MODE_MONO)
		return;
	/* A negative pitch means rows are stored bottom-up from buffer. */
	if (bm->pitch < 0)
		top -= (ptrdiff_t)bm->pitch * ((ptrdiff_t)bm->rows - 1);
	for (int r = 0; r < (int)bm->rows; r++) {
		const unsigned char *row = top + (ptrdiff_t)r * bm->pitch;
		int y = y0 + r;

		if (y < 0 || y >= h)
			continue;
		for (int c = 0; c < (int)bm->width; c++) {
			int x = x0 + c;
			unsigned v;

			if (x < 0 || x >= w)
				continue;
			if (bm->pixel_mode == FT_PIXEL_MODE_MONO)
				v = (row[c >> 3] >> (7 - (c & 7)) & 1) ? 255 : 0;
			else if (bm->num_grays == 256)
				v = row[c];
			else
				v = bm->num_grays > 1 ? row[c] * 255u / (bm->num_grays - 1u) : 0;
			if (v > cov[(size_t)y * w + x])
				cov[(size_t)y * w + x] = (uint8_t)v;
		}
	}
}

static int draw_text(FT_Face face, const struct layout *lo, int pad, uint8_t *cov, int w, int h,
		     char *err, size_t err_size)
{
	for (int l = 0; l < lo->nlines; l++) {
		FT_Pos pen = (FT_Pos)(pad - lo->ink_left[l]) * 64;
		int baseline = pad + l * lo->line_h + lo->ascent;
		FT_UInt prev = 0;

		for (int i = lo->start[l]; i < lo->start[l + 1]; i++) {
			FT_GlyphSlot g = face->glyph;
			FT_Error e;

			pen += kerning(face, prev, lo->glyph[i]);
			/* Past the right edge (text cut at max_w): nothing more to draw. */
			if ((pen >> 6) >= w)
				break;
			e = FT_Load_Glyph(face, lo->glyph[i], LOAD_FLAGS | FT_LOAD_RENDER);
			if (e) {
				pg_render_err(err, err_size, "cannot render glyph %u: %s",
					      lo->glyph[i], ft_strerror(e));
				return -EIO;
			}
			blit_glyph(cov, w, h, &g->bitmap, (int)((pen + 32) >> 6) + g->bitmap_left,
				   baseline - g->bitmap_top);
			pen += g->advance.x;
			prev = lo->glyph[i];
		}
	}
	return 0;
}

/* Coverage (0..255) of pixel (x, y) by a w x h rectangle with corners of radius r. */
static unsigned rounded_cover(int x, int y, int w, int h, int r)
{
	float cx, cy, dx, dy, d, c;

	if (r <= 0)
		return 255;
	if (x >= r && x < w - r)
		return 255;
	if (y >= r && y < h - r)
		return 255;
	/* In a corner square: distance from the pixel centre to the arc's centre. */
	cx = x < r ? (float)r : (float)(w - r);
	cy = y < r ? (float)r : (float)(h - r);
	dx = (float)x + 0.5f - cx;
	dy = (float)y + 0.5f - cy;
	d = sqrtf(dx * dx + dy * dy);
	c = (float)r - d + 0.5f;
	if (c <= 0.0f)
		return 0;
	if (c >= 1.0f)
		return 255;
	return (unsigned)(c * 255.0f + 0.5f);
}

static void compose(struct pg_overlay *ov, const uint8_t *cov, int radius, uint32_t fg, uint32_t bg,
		    uint8_t bg_alpha)
{
	for (int y = 0; y < ov->h; y++) {
		for (int x = 0; x < ov->w; x++) {
			uint32_t c = cov[(size_t)y * ov->w + x];
			uint32_t ba = div255(bg_alpha * rounded_cover(x, y, ov->w, ov->h, radius));
			uint32_t px = div255(255 * c + ba * (255 - c)) << 24;

			for (int sh = 0; sh <= 16; sh += 8) {
				uint32_t f = fg >> sh & 0xff;
				uint32_t b = div255((bg >> sh & 0xff) * ba);

				px |= div255(f * c + b * (255 - c)) << sh;
			}
			ov->px[(size_t)y * ov->w + x] = px;
		}
	}
}

int pg_overlay_banner(struct pg_font *f, const char *utf8_lines, int px_size, uint32_t fg_rgb,
		      uint32_t bg_rgb, uint8_t bg_alpha, int max_w, struct pg_overlay *out,
		      char *err, size_t err_size)
{
	struct layout *lo = NULL;
	struct pg_overlay ov = {0};
	uint8_t *cov = NULL;
	size_t n, bytes;
	int px = px_size, pad, w, h, rc;

	if (!f || !utf8_lines || !out) {
		pg_render_err(err, err_size, "banner: missing font, text or output");
		return -EINVAL;
	}
	if (px_size < PG_OVERLAY_MIN_PX || px_size > PG_OVERLAY_MAX_PX) {
		pg_render_err(err, err_size, "banner: size %d px outside %d..%d", px_size,
			      PG_OVERLAY_MIN_PX, PG_OVERLAY_MAX_PX);
		return -EINVAL;
	}
	if (max_w < 1 || max_w > PG_FB_MAX_SIDE) {
		pg_render_err(err, err_size, "banner: width limit %d outside 1..%d", max_w,
			      PG_FB_MAX_SIDE);
		return -EINVAL;
	}
	lo = calloc(1, sizeof(*lo));
	if (!lo) {
		rc = -ENOMEM;
		goto nomem;
	}
	rc = decode_text(f, utf8_lines, "banner text", lo, err, err_size);
	if (rc)
		goto fail;

	/* Shrink until the text fits: each step scales by the overshoot, so it takes a
	 * handful of measurements, and px strictly decreases so it ends. */
	for (;;) {
		rc = measure(f->face, px, lo, err, err_size);
		if (rc)
			goto fail;
		pad = px / 2;
		int avail = max_w - 2 * pad;
		if (lo->width <= avail || px == PG_OVERLAY_MIN_PX)
			break;
		int next = avail > 0 ? (int)((long long)px * avail / lo->width) : 0;
		if (next >= px)
			next = px - 1;
		px = next < PG_OVERLAY_MIN_PX ? PG_OVERLAY_MIN_PX : next;
	}
	w = lo->width + 2 * pad;
	if (w > max_w)
		w = max_w;
	/* At most 8 lines of PG_OVERLAY_MAX_PX glyphs: no overflow, but a font with an
	 * absurd line height could still ask for too much. */
	if ((long long)lo->nlines * lo->line_h + 2 * pad > PG_FB_MAX_SIDE || lo->line_h <= 0) {
		pg_render_err(err, err_size, "banner: font line height %d px is unusable",
			      lo->line_h);
		rc = -E2BIG;
		goto fail;
	}
	h = lo->nlines * lo->line_h + 2 * pad;
	if (!pg_mul_size((size_t)w, (size_t)h, &n) || !pg_mul_size(n, sizeof(uint32_t), &bytes)) {
		pg_render_err(err, err_size, "banner: %d x %d too big", w, h);
		rc = -E2BIG;
		goto fail;
	}
	cov = calloc(n, 1);
	ov.px = malloc(bytes);
	if (!cov || !ov.px) {
		rc = -ENOMEM;
		goto nomem;
	}
	ov.w = w;
	ov.h = h;
	rc = draw_text(f->face, lo, pad, cov, w, h, err, err_size);
	if (rc)
		goto fail;
	compose(&ov, cov, pad / 2, fg_rgb & 0xffffff, bg_rgb & 0xffffff, bg_alpha);
	free(cov);
	free(lo);
	*out = ov;
	return 0;
nomem:
	pg_render_err(err, err_size, "banner: out of memory");
fail:
	free(cov);
	free(lo);
	pg_overlay_free(&ov);
	return rc;
}

int pg_text_mask(struct pg_font *f, const char *utf8_lines, int px_size, int pad,
		 struct pg_text_mask *out, char *err, size_t err_size)
{
	struct layout *lo = NULL;
	uint8_t *cov = NULL;
	long long w, h;
	int rc;

	if (!f || !utf8_lines || !out || pad < 0 || pad > PG_OVERLAY_MAX_PX) {
		pg_render_err(err, err_size, "text mask: bad argument");
		return -EINVAL;
	}
	if (px_size < PG_OVERLAY_MIN_PX || px_size > PG_OVERLAY_MAX_PX) {
		pg_render_err(err, err_size, "text mask: size %d px outside %d..%d", px_size,
			      PG_OVERLAY_MIN_PX, PG_OVERLAY_MAX_PX);
		return -EINVAL;
	}
	lo = calloc(1, sizeof(*lo));
	if (!lo) {
		pg_render_err(err, err_size, "text mask: out of memory");
		return -ENOMEM;
	}
	rc = decode_text(f, utf8_lines, "watermark text", lo, err, err_size);
	if (rc)
		goto fail;
	rc = measure(f->face, px_size, lo, err, err_size);
	if (rc)
		goto fail;
	w = (long long)lo->width + 2 * pad;
	h = (long long)lo->nlines * lo->line_h + 2 * pad;
	if (lo->line_h <= 0 || w > PG_FB_MAX_SIDE || h > PG_FB_MAX_SIDE) {
		pg_render_err(err, err_size, "watermark text: %lld x %lld px, over %d px a side", w,
			      h, PG_FB_MAX_SIDE);
		rc = -E2BIG;
		goto fail;
	}
	/* Both sides are at most PG_FB_MAX_SIDE: the product fits. */
	cov = calloc((size_t)w * (size_t)h, 1);
	if (!cov) {
		pg_render_err(err, err_size, "text mask: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = draw_text(f->face, lo, pad, cov, (int)w, (int)h, err, err_size);
	if (rc)
		goto fail;
	free(lo);
	out->w = (int)w;
	out->h = (int)h;
	out->cov = cov;
	return 0;
fail:
	free(cov);
	free(lo);
	return rc;
}

void pg_text_mask_free(struct pg_text_mask *m)
{
	if (!m)
		return;
	free(m->cov);
	memset(m, 0, sizeof(*m));
}

void pg_overlay_free(struct pg_overlay *ov)
{
	if (!ov)
		return;
	free(ov->px);
	memset(ov, 0, sizeof(*ov));
}

int pg_overlay_copy(struct pg_overlay *dst, const struct pg_overlay *src)
{
	size_t bytes;

	memset(dst, 0, sizeof(*dst));
	if (!src->px || src->w <= 0 || src->h <= 0)
		return 0;
	if (!pg_mul_size((size_t)src->w, (size_t)src->h, &bytes) ||
	    !pg_mul_size(bytes, sizeof(uint32_t), &bytes))
		return -ENOMEM;
	dst->px = malloc(bytes);
	if (!dst->px)
		return -ENOMEM;
	memcpy(dst->px, src->px, bytes);
	dst->w = src->w;
	dst->h = src->h;
	return 0;
}

static inline long long max_ll(long long a, long long b)
{
	return a > b ? a : b;
}

static inline long long min_ll(long long a, long long b)
{
	return a < b ? a : b;
}

void pg_overlay_draw(struct pg_fb *fb, const struct pg_overlay *ov, int x, int y,
		     const struct pg_rect *clip)
{
	/* In long long: x + ov->w and clip->x + clip->w may not fit in an int. */
	long long x0 = max_ll(0, x), y0 = max_ll(0, y);
	long long x1 = min_ll(fb->w, (long long)x + ov->w);
	long long y1 = min_ll(fb->h, (long long)y + ov->h);

	if (!ov->px || !fb->px)
		return;
	if (clip) {
		if (clip->w <= 0 || clip->h <= 0)
			return;
		x0 = max_ll(x0, clip->x);
		y0 = max_ll(y0, clip->y);
		x1 = min_ll(x1, (long long)clip->x + clip->w);
		y1 = min_ll(y1, (long long)clip->y + clip->h);
	}
	for (long long fy = y0; fy < y1; fy++) {
		uint32_t *d = fb->px + fy * fb->stride;
		const uint32_t *s = ov->px + (fy - y) * ov->w;

		for (long long fx = x0; fx < x1; fx++) {
			uint32_t sp = s[fx - x], a = sp >> 24, dp, out;

			if (a == 0)
				continue;
			if (a == 255) {
				d[fx] = sp & 0xffffff;
				continue;
			}
			dp = d[fx];
			out = 0;
			for (int sh = 0; sh <= 16; sh += 8)
				out |= ((sp >> sh & 0xff) + div255((dp >> sh & 0xff) * (255 - a)))
				       << sh;
			d[fx] = out;
		}
	}
}
