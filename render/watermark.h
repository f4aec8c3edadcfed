/* The visible per-viewer watermark: a text naming the viewer (user, address, session,
 * time), rendered once per viewer and blended into every picture that viewer
 * receives, so a screenshot or a photograph of the screen says whose it was.
 *
 * The text comes from a template security staff write per group (pg_wm_expand); it is
 * rendered with a thin halo of the contrasting colour so it reads over white and black
 * pages alike, rotated, at a given opacity, and either repeated over the whole picture
 * in a staggered (brick) pattern or placed once in a corner or the centre.
 *
 * A watermark is made on the thread that owns the font (pg_watermark_render), then
 * copied to or shared read-only with the encoder threads, which draw it with
 * pg_watermark_draw. Nothing here logs. */
#ifndef PG_RENDER_WATERMARK_H
#define PG_RENDER_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "codec/fb.h"
#include "render/text.h"

enum pg_wm_layout {
	PG_WM_TILE,
	PG_WM_TOP_LEFT,
	PG_WM_TOP_RIGHT,
	PG_WM_BOTTOM_LEFT,
	PG_WM_BOTTOM_RIGHT,
	PG_WM_CENTER,
};

/* "tile", "top-left", "top-right", "bottom-left", "bottom-right", "center": the layout,
 * or -1 for anything else. */
int pg_wm_layout_parse(const char *s);
/* The name pg_wm_layout_parse reads, or NULL for a bad layout. */
const char *pg_wm_layout_name(int layout);

/* Style ranges and the suggested defaults (docs/watermark.md). */
#define PG_WM_MIN_PX	      8
#define PG_WM_MAX_PX	      128
#define PG_WM_MIN_OPACITY     1
#define PG_WM_MAX_OPACITY     100
#define PG_WM_MIN_ANGLE	      -90
#define PG_WM_MAX_ANGLE	      90
#define PG_WM_DEFAULT_PX      20
#define PG_WM_DEFAULT_OPACITY 20
#define PG_WM_DEFAULT_ANGLE   25
#define PG_WM_DEFAULT_LAYOUT  PG_WM_TILE
/* Dark grey; the halo is then white. Text colours lighter than mid grey get a black
 * halo instead. */
#define PG_WM_DEFAULT_RGB 0x404040

struct pg_wm_style {
	int size_px;	 /* glyph size, PG_WM_MIN_PX..PG_WM_MAX_PX */
	int opacity_pct; /* of the whole mark, text and halo: 1..100 */
	int angle_deg;	 /* -90..90, counter-clockwise */
	int layout;	 /* enum pg_wm_layout */
	uint32_t rgb;	 /* text colour 0x00RRGGBB */
};

/* One run of visible pixels of a row of the mark. */
struct pg_wm_span {
	uint16_t x, len;
	uint32_t off; /* of its first pixel in px */
};

/* A rendered watermark. For PG_WM_TILE, w x h is one period of the pattern, which
 * repeats from the picture's top-left corner; otherwise it is the one copy, placed at
 * draw time by pg_watermark_bounds. Only the visible pixels are kept: row y's runs are
 * span[row[y] .. row[y + 1]), sorted by x, their premultiplied 0xAARRGGBB pixels (as
 * in pg_overlay) in px. Owns row, span and px; read-only once made, so any number of
 * threads may draw one watermark at once. */
struct pg_watermark {
	int layout;
	int w, h;
	int margin; /* positioned layouts: pixels from the picture's edges */
	uint32_t *row;
	struct pg_wm_span *span;
	uint32_t *px;
	size_t bytes; /* heap memory held by the three arrays */
};

/* Render utf8_text (lines separated by '\n', as pg_wm_expand writes it) in style st
 * into *out, which the caller frees with pg_watermark_free (untouched on failure).
 * Returns 0, -EINVAL (bad style or argument, empty text, a control character),
 * -EILSEQ (invalid UTF-8), -E2BIG (over PG_OVERLAY_MAX_CHARS or _LINES, or a mark
 * over PG_FB_MAX_SIDE a side), -ENOMEM or -EIO (FreeType), with err saying why.
 * Same thread rules as the font's. */
int pg_watermark_render(struct pg_font *f, const char *utf8_text, const struct pg_wm_style *st,
			struct pg_watermark *out, char *err, size_t err_size);
/* NULL-safe; leaves wm empty. */
void pg_watermark_free(struct pg_watermark *wm);
/* Deep copy (an empty src gives an empty dst). 0 or -ENOMEM (dst then empty). dst must
 * not hold a watermark. */
int pg_watermark_copy(struct pg_watermark *dst, const struct pg_watermark *src);

/* Blend wm over fb inside clip (fb coordinates; NULL: all of fb). Pure and
 * thread-safe: the result at a pixel depends only on (x, y, fb->w, fb->h), the pixel's
 * old value and wm, so drawing rect by rect gives exactly the pixels of drawing all at
 * once. An empty wm draws nothing. */
void pg_watermark_draw(struct pg_fb *fb, const struct pg_watermark *wm, const struct pg_rect *clip);
/* The part of a fb_w x fb_h picture pg_watermark_draw may change: all of it when tiled,
 * the copy's rectangle (clipped to the picture, maybe empty) otherwise. */
struct pg_rect pg_watermark_bounds(const struct pg_watermark *wm, int fb_w, int fb_h);

/* Templates. Placeholders: {user} {addr} {session} {host} (the relay's host name)
 * {date} (YYYY-MM-DD) {time} (HH:MM); "{{" and "}}" stand for literal braces, the two
 * characters backslash and n for a line break; any other backslash is itself. The
 * literal text counts against PG_OVERLAY_MAX_CHARS and PG_OVERLAY_MAX_LINES. */
#define PG_WM_TEMPLATE_MAX_BYTES 2048
/* Characters one placeholder contributes at most; longer values are cut. */
#define PG_WM_VALUE_MAX_CHARS 64
/* Bytes pg_wm_expand may need in out, NUL included. */
#define PG_WM_TEXT_MAX (4 * PG_OVERLAY_MAX_CHARS + 1)

struct pg_wm_vars {
	const char *user, *addr, *session, *host; /* NULL: "-" */
	time_t now;				  /* shown in local time (localtime_r) */
};

/* 0, or -EINVAL with err naming the problem and its byte offset: an unknown
 * placeholder, an unclosed '{', a lone '}', invalid UTF-8, a control character, an
 * empty template, or text over the limits above. For config validation. */
int pg_wm_template_check(const char *tmpl, char *err, size_t err_size);
/* Expand tmpl (which must pass pg_wm_template_check: the same errors otherwise) into
 * out, NUL-terminated. Values are sanitized: control characters (a newline, ESC, ...)
 * become '?', invalid UTF-8 U+FFFD, and each is cut to PG_WM_VALUE_MAX_CHARS and to
 * what the literal text leaves of PG_OVERLAY_MAX_CHARS, so a value never adds a line
 * or pushes the text over the limits. 0, -EINVAL, or -ENOSPC when out is smaller than
 * the text (use PG_WM_TEXT_MAX). */
int pg_wm_expand(const char *tmpl, const struct pg_wm_vars *v, char *out, size_t out_size,
		 char *err, size_t err_size);
/* True when tmpl uses {time} or {date}: the text then changes with the clock and the
 * relay renders it again once a minute. False for a bad template. */
bool pg_wm_template_uses_clock(const char *tmpl);

#endif
