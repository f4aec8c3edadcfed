/* Text drawn into the picture: the warning banner a viewer sees before its session
 * ends, later a per-viewer watermark. A banner is rendered once into a pg_overlay (a
 * small premultiplied ARGB image) on the thread that owns the font, and blended into
 * each outgoing frame by the encoder threads with pg_overlay_draw.
 *
 * Glyphs come from FreeType: well kept, packaged by Debian (libfreetype-dev), fuzzed by
 * OSS-Fuzz, and the rasteriser Chromium itself uses on Linux, so the Noto CJK font from
 * fonts-noto-cjk renders here as it does in the browser host. Layout is deliberately
 * simple (left to right, advance plus kerning where the font has a 'kern' table, no
 * HarfBuzz): enough for Japanese, Chinese, Korean and Latin warnings, not for Arabic.
 *
 * Nothing here logs. Functions return 0 or a negative errno and write a message to
 * err (when not NULL). */
#ifndef PG_RENDER_TEXT_H
#define PG_RENDER_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/fb.h"

/* The font Debian's fonts-noto-cjk installs; face 0 of the collection is
 * "Noto Sans CJK JP" (1 KR, 2 SC, 3 TC, 4 HK, 5-9 the Mono variants). */
#define PG_FONT_NOTO_CJK    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
#define PG_FONT_NOTO_CJK_JP 0

#define PG_OVERLAY_MAX_LINES 8	 /* lines of a banner */
#define PG_OVERLAY_MAX_CHARS 256 /* code points of a banner, newlines included */
#define PG_OVERLAY_MIN_PX    8	 /* smallest glyph size a banner shrinks to */
#define PG_OVERLAY_MAX_PX    256 /* largest px_size accepted */

struct pg_font;

/* Open face face_index of the font file at path (a .ttf/.otf, or one face of a .ttc).
 * NULL on failure with err saying "PATH: reason". A font and every banner made from it
 * belong to one thread: FreeType faces are not thread-safe. Distinct fonts may be used
 * on distinct threads. */
struct pg_font *pg_font_open(const char *path, int face_index, char *err, size_t err_size);
/* NULL-safe. */
void pg_font_del(struct pg_font *f);
/* "Family Style" of the open face, e.g. "Noto Sans CJK JP Regular"; owned by f. */
const char *pg_font_name(const struct pg_font *f);

/* A premultiplied-alpha image: px[y * w + x] = 0xAARRGGBB, channels at the same
 * positions as pg_fb's canonical 0x00RRGGBB, each of R, G, B at most A. Owns px. */
struct pg_overlay {
	int w, h;
	uint32_t *px;
};

/* Render utf8_lines (lines separated by '\n') in opaque fg_rgb (0x00RRGGBB) on a
 * rounded rectangle of bg_rgb with opacity bg_alpha (0 for none), with padding of half
 * the glyph size around the text, into *out (which the caller frees with
 * pg_overlay_free; untouched on failure). px_size is the glyph size in pixels,
 * PG_OVERLAY_MIN_PX to PG_OVERLAY_MAX_PX.
 *
 * The banner is at most max_w pixels wide (1 to PG_FB_MAX_SIDE): when the text does
 * not fit, the whole banner is rendered smaller, down to PG_OVERLAY_MIN_PX; text still
 * too wide at that size is cut off at the right edge.
 *
 * Returns 0, -EINVAL (bad argument, empty text, a control character other than '\n'),
 * -EILSEQ (invalid UTF-8: truncated, overlong, surrogate, above U+10FFFF), -E2BIG
 * (over PG_OVERLAY_MAX_LINES or PG_OVERLAY_MAX_CHARS), -ENOMEM, or -EIO (FreeType
 * failed). Glyphs the font lacks are drawn as its .notdef box. */
int pg_overlay_banner(struct pg_font *f, const char *utf8_lines, int px_size, uint32_t fg_rgb,
		      uint32_t bg_rgb, uint8_t bg_alpha, int max_w, struct pg_overlay *out,
		      char *err, size_t err_size);

/* Write a message to err (when err and err_size are not 0): the render files' errors. */
void pg_render_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* NULL-safe; leaves ov empty ({0, 0, NULL}). */
void pg_overlay_free(struct pg_overlay *ov);

/* Deep copy of src into dst (an empty src gives an empty dst), for handing a banner to
 * an encoder thread. 0 or -ENOMEM (dst then empty). dst must not hold pixels. */
int pg_overlay_copy(struct pg_overlay *dst, const struct pg_overlay *src);

/* Blend ov over fb with its top-left corner at (x, y), which may lie outside fb. Only
 * pixels inside clip (fb coordinates; NULL for all of fb), fb and the overlay change.
 * fb's top byte is left 0. Pure and thread-safe: touches nothing but fb's pixels. */
void pg_overlay_draw(struct pg_fb *fb, const struct pg_overlay *ov, int x, int y,
		     const struct pg_rect *clip);

/* Shared with render/watermark.c. */

/* Decode one strict UTF-8 sequence (RFC 3629) from s[0 .. len), len >= 1: its length,
 * or 0 when it is truncated, overlong, a surrogate or above U+10FFFF. */
size_t pg_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Coverage of text by its glyphs: cov[y * w + x], 0 (none) to 255 (full). Owns cov. */
struct pg_text_mask {
	int w, h;
	uint8_t *cov;
};

/* Render utf8_lines as pg_overlay_banner would, but as a bare coverage mask with pad
 * empty pixels on every side and no shrinking: at exactly px_size. Same errors as
 * pg_overlay_banner, and -E2BIG when a side would exceed PG_FB_MAX_SIDE. */
int pg_text_mask(struct pg_font *f, const char *utf8_lines, int px_size, int pad,
		 struct pg_text_mask *out, char *err, size_t err_size);
/* NULL-safe; leaves m empty. */
void pg_text_mask_free(struct pg_text_mask *m);

#endif
