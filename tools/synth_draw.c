/*
 * pg-synth-host's pictures. Everything is integer arithmetic on a fixed
 * layout, so a frame's pixels depend only on (mode, size, frame, typed text).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_draw.h"

#define GLYPH_W	      5
#define GLYPH_H	      8 /* 7 rows plus one for descenders */
#define SCROLL_STEP   4 /* pixels per frame */
#define SCROLL_LINE_H 20
#define COUNTER_X     16
#define COUNTER_Y     16
#define COUNTER_SCALE 4
static const char *const mode_names[] = {
    [PG_SYNTH_PATTERN] = "pattern", [PG_SYNTH_SCROLL] = "scroll", [PG_SYNTH_ANIM] = "anim",
    [PG_SYNTH_STATIC] = "static",   [PG_SYNTH_PAGE] = "page",	  [PG_SYNTH_STAMP] = "stamp",
};

/*
 * The classic 5x7 font, ASCII 0x20..0x7e, one byte per column, bit 0 at the
 * top; bit 7 is the descender row of g, j, p, q, y.
 */
static const uint8_t font5x8[95][GLYPH_W] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5f, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7f, 0x14, 0x7f, 0x14}, {0x24, 0x2a, 0x7f, 0x2a, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x56, 0x20, 0x50}, {0x00, 0x08, 0x07, 0x03, 0x00}, {0x00, 0x1c, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1c, 0x00}, {0x2a, 0x1c, 0x7f, 0x1c, 0x2a}, {0x08, 0x08, 0x3e, 0x08, 0x08},
    {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x00, 0x60, 0x60, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3e, 0x51, 0x49, 0x45, 0x3e}, {0x00, 0x42, 0x7f, 0x40, 0x00},
    {0x72, 0x49, 0x49, 0x49, 0x46}, {0x21, 0x41, 0x49, 0x4d, 0x33}, {0x18, 0x14, 0x12, 0x7f, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3c, 0x4a, 0x49, 0x49, 0x31}, {0x41, 0x21, 0x11, 0x09, 0x07},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x46, 0x49, 0x49, 0x29, 0x1e}, {0x00, 0x00, 0x14, 0x00, 0x00},
    {0x00, 0x40, 0x34, 0x00, 0x00}, {0x00, 0x08, 0x14, 0x22, 0x41}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x59, 0x09, 0x06}, {0x3e, 0x41, 0x5d, 0x59, 0x4e},
    {0x7c, 0x12, 0x11, 0x12, 0x7c}, {0x7f, 0x49, 0x49, 0x49, 0x36}, {0x3e, 0x41, 0x41, 0x41, 0x22},
    {0x7f, 0x41, 0x41, 0x41, 0x3e}, {0x7f, 0x49, 0x49, 0x49, 0x41}, {0x7f, 0x09, 0x09, 0x09, 0x01},
    {0x3e, 0x41, 0x41, 0x51, 0x73}, {0x7f, 0x08, 0x08, 0x08, 0x7f}, {0x00, 0x41, 0x7f, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3f, 0x01}, {0x7f, 0x08, 0x14, 0x22, 0x41}, {0x7f, 0x40, 0x40, 0x40, 0x40},
    {0x7f, 0x02, 0x1c, 0x02, 0x7f}, {0x7f, 0x04, 0x08, 0x10, 0x7f}, {0x3e, 0x41, 0x41, 0x41, 0x3e},
    {0x7f, 0x09, 0x09, 0x09, 0x06}, {0x3e, 0x41, 0x51, 0x21, 0x5e}, {0x7f, 0x09, 0x19, 0x29, 0x46},
    {0x26, 0x49, 0x49, 0x49, 0x32}, {0x03, 0x01, 0x7f, 0x01, 0x03}, {0x3f, 0x40, 0x40, 0x40, 0x3f},
    {0x1f, 0x20, 0x40, 0x20, 0x1f}, {0x3f, 0x40, 0x38, 0x40, 0x3f}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x59, 0x49, 0x4d, 0x43}, {0x00, 0x7f, 0x41, 0x41, 0x41},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x41, 0x7f}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x03, 0x07, 0x08, 0x00}, {0x20, 0x54, 0x54, 0x78, 0x40},
    {0x7f, 0x28, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x28}, {0x38, 0x44, 0x44, 0x28, 0x7f},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x00, 0x08, 0x7e, 0x09, 0x02}, {0x18, 0xa4, 0xa4, 0x9c, 0x78},
    {0x7f, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7d, 0x40, 0x00}, {0x20, 0x40, 0x40, 0x3d, 0x00},
    {0x7f, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7f, 0x40, 0x00}, {0x7c, 0x04, 0x78, 0x04, 0x78},
    {0x7c, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xfc, 0x18, 0x24, 0x24, 0x18},
    {0x18, 0x24, 0x24, 0x18, 0xfc}, {0x7c, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},
    {0x04, 0x04, 0x3f, 0x44, 0x24}, {0x3c, 0x40, 0x40, 0x20, 0x7c}, {0x1c, 0x20, 0x40, 0x20, 0x1c},
    {0x3c, 0x40, 0x30, 0x40, 0x3c}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x4c, 0x90, 0x90, 0x90, 0x7c},
    {0x44, 0x64, 0x54, 0x4c, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x77, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02},
};

static const uint8_t palette[8][3] = {
    {0xd8, 0x1b, 0x1b}, {0x1b, 0xa8, 0x1b}, {0x1b, 0x3b, 0xd8}, {0xe0, 0xa0, 0x10},
    {0x90, 0x20, 0xb0}, {0x10, 0xa0, 0xa0}, {0x60, 0x60, 0x60}, {0xc0, 0x40, 0x80},
};

static uint32_t hash32(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t h = x * 0x9e3779b1u ^ y * 0x85ebca77u ^ seed * 0xc2b2ae3du;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	h *= 0x297a2d39u;
	h ^= h >> 15;
	return h;
}

/* Drawing ---------------------------------------------------------------- */

static uint32_t rgb(const struct pg_synth_canvas *s, unsigned int r, unsigned int g, unsigned int b)
{
	return (r & 0xff) << s->rshift | (g & 0xff) << s->gshift | (b & 0xff) << s->bshift;
}

static void fill(struct pg_synth_canvas *s, int x, int y, int w, int h, uint32_t c)
{
	int x1 = x + w, y1 = y + h;

	if (x < 0)
		x = 0;
	if (y < 0)
		y = 0;
	if (x1 > s->w)
		x1 = s->w;
	if (y1 > s->h)
		y1 = s->h;
	for (int j = y; j < y1; j++)
		for (int i = x; i < x1; i++)
			s->fb[(size_t)j * s->w + i] = c;
}

/* Draws one glyph into buf (bw x bh pixels) clipped to it. */
static void glyph(uint32_t *buf, int bw, int bh, int x, int y, char ch, int scale, uint32_t c)
{
	unsigned char u = (unsigned char)ch;

	if (u < 0x20 || u > 0x7e)
		u = '?';
	for (int col = 0; col < GLYPH_W; col++) {
		uint8_t bits = font5x8[u - 0x20][col];

		for (int row = 0; row < GLYPH_H; row++) {
			if (!(bits & (1u << row)))
				continue;
			for (int dy = 0; dy < scale; dy++) {
				int py = y + row * scale + dy;

				if (py < 0 || py >= bh)
					continue;
				for (int dx = 0; dx < scale; dx++) {
					int px = x + col * scale + dx;

					if (px >= 0 && px < bw)
						buf[(size_t)py * bw + px] = c;
				}
			}
		}
	}
}

/* Returns the x after the text. Advance is 6 columns per character. */
static int text(struct pg_synth_canvas *s, int x, int y, const char *str, int scale, uint32_t c)
{
	for (; *str; str++, x += (GLYPH_W + 1) * scale)
		glyph(s->fb, s->w, s->h, x, y, *str, scale, c);
	return x;
}

static int content_h(const struct pg_synth_canvas *s)
{
	return s->h - PG_SYNTH_STRIP_H;
}

struct pg_synth_rect pg_synth_draw_strip(struct pg_synth_canvas *s)
{
	int y = content_h(s);
	int cap = (s->w - 8) / ((GLYPH_W + 1) * 2);
	int from = s->ntyped > cap ? s->ntyped - cap : 0;

	fill(s, 0, y, s->w, PG_SYNTH_STRIP_H, rgb(s, 0x20, 0x20, 0x28));
	fill(s, 0, y, s->w, 1, rgb(s, 0x80, 0x80, 0x90));
	text(s, 4, y + 5, s->typed + from, 2, rgb(s, 0xf0, 0xf0, 0x60));
	if (s->mode == PG_SYNTH_SCROLL || s->mode == PG_SYNTH_ANIM) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "F%06ld", s->frame % 1000000);
		int x = s->w - 4 - n * (GLYPH_W + 1) * 2;

		fill(s, x - 4, y + 1, s->w - x + 4, PG_SYNTH_STRIP_H - 1, rgb(s, 0x10, 0x10, 0x10));
		text(s, x, y + 5, buf, 2, rgb(s, 0x90, 0xd0, 0xff));
	}
	return (struct pg_synth_rect){0, y, s->w, PG_SYNTH_STRIP_H};
}

/* Pattern mode ------------------------------------------------------------ */

/* Smooth value noise on a lattice of cell px, integer only: 0..255. */
static unsigned int value_noise(int x, int y, int cell, uint32_t seed)
{
	int ix = x / cell, iy = y / cell, fx = x % cell, fy = y % cell;
	unsigned int v00 = hash32(ix, iy, seed) & 0xff;
	unsigned int v10 = hash32(ix + 1, iy, seed) & 0xff;
	unsigned int v01 = hash32(ix, iy + 1, seed) & 0xff;
	unsigned int v11 = hash32(ix + 1, iy + 1, seed) & 0xff;
	unsigned int a = v00 * (cell - fx) + v10 * fx;
	unsigned int b = v01 * (cell - fx) + v11 * fx;

	return (a * (cell - fy) + b * fy) / (unsigned int)(cell * cell);
}

static void draw_noise_block(struct pg_synth_canvas *s, int x0, int y0, int w, int h)
{
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			unsigned int c[3];

			for (int k = 0; k < 3; k++) {
				int v = (int)value_noise(x, y, 48, 11 + k) * 2 / 3 +
					(int)value_noise(x, y, 12, 23 + k) / 3 +
					(int)(hash32(x, y, 37 + k) & 0x1f) - 16;

				c[k] = v < 0 ? 0 : v > 255 ? 255 : v;
			}
			s->fb[(size_t)(y0 + y) * s->w + x0 + x] = rgb(s, c[0], c[1], c[2]);
		}
	}
}

static void draw_line_tests(struct pg_synth_canvas *s, int y0, int h)
{
	int cw = s->w / 4;
	uint32_t black = rgb(s, 0, 0, 0), white = rgb(s, 0xff, 0xff, 0xff);

	for (int y = y0; y < y0 + h; y++) {
		for (int x = 0; x < s->w; x++) {
			int col = x / cw, lx = x - col * cw, ly = y - y0;
			uint32_t c;

			switch (col) {
			case 0: /* 1-px vertical lines */
				c = (lx & 1) ? white : black;
				break;
			case 1: /* 1-px horizontal lines */
				c = (ly & 1) ? white : black;
				break;
			case 2: /* 1-px checkerboard */
				c = ((lx ^ ly) & 1) ? white : black;
				break;
			default: /* diagonals on grey */
				c = ((lx + ly) % 8 == 0)	   ? rgb(s, 0xff, 0, 0)
				    : ((lx - ly + 4096) % 16 == 0) ? rgb(s, 0, 0, 0xff)
								   : rgb(s, 0xc0, 0xc0, 0xc0);
				break;
			}
			s->fb[(size_t)y * s->w + x] = c;
		}
	}
}

static void draw_pattern(struct pg_synth_canvas *s)
{
	int hc = content_h(s), band = hc / 4, gw = s->w * 2 / 3;
	int bars_w = s->w - gw, ramp_h = band / 4;
	static const uint8_t bars[8][3] = {
	    {255, 255, 255}, {255, 255, 0}, {0, 255, 255}, {0, 255, 0},
	    {255, 0, 255},   {255, 0, 0},   {0, 0, 255},   {0, 0, 0},
	};
	char label[64];

	/* Band 1: R, G, B, grey ramps and colour bars. */
	for (int y = 0; y < band; y++) {
		int ramp = y / (ramp_h ? ramp_h : 1);

		for (int x = 0; x < gw; x++) {
			unsigned int v = (unsigned int)x * 255 / (gw - 1);
			uint32_t c = ramp == 0	 ? rgb(s, v, 0, 0)
				     : ramp == 1 ? rgb(s, 0, v, 0)
				     : ramp == 2 ? rgb(s, 0, 0, v)
						 : rgb(s, v, v, v);

			s->fb[(size_t)y * s->w + x] = c;
		}
		for (int x = gw; x < s->w; x++) {
			const uint8_t *b = bars[(x - gw) * 8 / bars_w];

			s->fb[(size_t)y * s->w + x] = rgb(s, b[0], b[1], b[2]);
		}
	}
	/* Band 2: sharp 1-px lines. */
	draw_line_tests(s, band, band);
	/* Bands 3-4: text on the left, a photo-like block on the right. */
	fill(s, 0, 2 * band, s->w / 2, hc - 2 * band, rgb(s, 0xff, 0xff, 0xff));
	snprintf(label, sizeof(label), "PG-SYNTH-HOST PATTERN %dX%d", s->w, s->h);
	text(s, 8, 2 * band + 6, label, 2, rgb(s, 0x10, 0x20, 0x80));
	for (int row = 0, y = 2 * band + 28; y + 10 < hc; row++, y += 11) {
		char line[128];
		int n = 0, cols = (s->w / 2 - 16) / 6;

		for (int i = 0; i < cols && i < (int)sizeof(line) - 1; i++)
			line[n++] = (char)(0x21 + (row * 7 + i) % 94);
		line[n] = 0;
		text(s, 8, y, line, 1, row % 3 == 2 ? rgb(s, 0xb0, 0, 0) : rgb(s, 0, 0, 0));
	}
	draw_noise_block(s, s->w / 2, 2 * band, s->w - s->w / 2, hc - 2 * band);
	/* A 1-px frame around the picture catches edge errors. */
	fill(s, 0, 0, s->w, 1, rgb(s, 0xff, 0, 0xff));
	fill(s, 0, hc - 1, s->w, 1, rgb(s, 0xff, 0, 0xff));
	fill(s, 0, 0, 1, hc, rgb(s, 0xff, 0, 0xff));
	fill(s, s->w - 1, 0, 1, hc, rgb(s, 0xff, 0, 0xff));
}

static void draw_static(struct pg_synth_canvas *s)
{
	char label[64];

	fill(s, 0, 0, s->w, content_h(s), rgb(s, 0x30, 0x60, 0x90));
	snprintf(label, sizeof(label), "STATIC %dX%d", s->w, s->h);
	text(s, 16, 16, label, 3, rgb(s, 0xff, 0xff, 0xff));
}

/* Scroll mode ------------------------------------------------------------- */

static int build_page(struct pg_synth_canvas *s)
{
	int lines = (3 * content_h(s)) / SCROLL_LINE_H + 1;
	uint32_t *p;

	if (lines < 60)
		lines = 60;
	s->page_h = lines * SCROLL_LINE_H;
	p = calloc((size_t)s->w * s->page_h, sizeof(*p));
	if (!p)
		return -ENOMEM;
	free(s->page);
	s->page = p;
	for (int line = 0; line < lines; line++) {
		int y0 = line * SCROLL_LINE_H, sec = line / 12;
		const uint8_t *pc = palette[sec % 8];
		bool heading = line % 12 == 0;
		uint32_t bg = heading	   ? rgb(s, pc[0], pc[1], pc[2])
			      : (line & 1) ? rgb(s, 0xf4, 0xf4, 0xf4)
					   : rgb(s, 0xff, 0xff, 0xff);
		char buf[32];
		int x;

		for (int y = y0; y < y0 + SCROLL_LINE_H; y++)
			for (int i = 0; i < s->w; i++)
				p[(size_t)y * s->w + i] = i < 6 ? rgb(s, pc[0], pc[1], pc[2]) : bg;
		snprintf(buf, sizeof(buf), "%04d", line);
		x = 12;
		for (const char *c = buf; *c; c++, x += 6)
			glyph(p, s->w, s->page_h, x, y0 + 6, *c, 1, rgb(s, 0x90, 0x90, 0x90));
		x = 48;
		if (heading) {
			snprintf(buf, sizeof(buf), "SECTION %d", sec + 1);
			for (const char *c = buf; *c; c++, x += 12)
				glyph(p, s->w, s->page_h, x, y0 + 2, *c, 2,
				      rgb(s, 0xff, 0xff, 0xff));
			continue;
		}
		for (int word = 0; x < s->w - 24; word++) {
			uint32_t h = hash32(line, word, 5);
			int len = 2 + h % 8;
			const uint8_t *wc = palette[(h >> 8) % 8];
			uint32_t c = (h >> 12) % 4
					 ? rgb(s, 0x18, 0x18, 0x18)
					 : rgb(s, wc[0] * 3 / 4, wc[1] * 3 / 4, wc[2] * 3 / 4);

			for (int k = 0; k < len && x < s->w - 12; k++, x += 12)
				glyph(p, s->w, s->page_h, x, y0 + 2,
				      (char)('a' + hash32(line, word * 16 + k, 7) % 26), 2, c);
			x += 12;
		}
	}
	return 0;
}

static void copy_page_rows(struct pg_synth_canvas *s, int dst_y, int page_y, int n)
{
	for (int i = 0; i < n; i++)
		memcpy(s->fb + (size_t)(dst_y + i) * s->w,
		       s->page + (size_t)((page_y + i) % s->page_h) * s->w,
		       (size_t)s->w * sizeof(*s->fb));
}

static int scroll_offset(const struct pg_synth_canvas *s, long frame)
{
	return (int)((frame * SCROLL_STEP) % s->page_h);
}

static void add_rect(struct pg_synth_damage *d, int x, int y, int w, int h)
{
	if (d->nrects < (int)(sizeof(d->rects) / sizeof(d->rects[0])))
		d->rects[d->nrects++] = (struct pg_synth_rect){x, y, w, h};
}

/*
 * Moves what stays visible up (so the server can send a CopyRect) and draws
 * only the rows that scrolled in; the result equals a full render.
 */
static void step_scroll(struct pg_synth_canvas *s, long frame, struct pg_synth_damage *dmg)
{
	int hc = content_h(s), off = scroll_offset(s, frame);
	int d = (off - s->scroll_off + s->page_h) % s->page_h;

	if (d == 0)
		return;
	if (d < hc) {
		memmove(s->fb, s->fb + (size_t)d * s->w, (size_t)(hc - d) * s->w * sizeof(*s->fb));
		dmg->copy = true;
		dmg->copy_dst = (struct pg_synth_rect){0, 0, s->w, hc - d};
		dmg->copy_dy = -d;
		copy_page_rows(s, hc - d, off + hc - d, d);
		add_rect(dmg, 0, hc - d, s->w, d);
	} else {
		copy_page_rows(s, 0, off, hc);
		add_rect(dmg, 0, 0, s->w, hc);
	}
	s->scroll_off = off;
}

/* Anim mode --------------------------------------------------------------- */

static uint32_t anim_bg(const struct pg_synth_canvas *s, int x, int y)
{
	if (x % 64 == 0 || y % 64 == 0)
		return rgb(s, 0x50, 0x50, 0x58);
	return rgb(s, 16 + x * 32 / s->w, 24 + y * 48 / s->h, 64 + (x + y) * 64 / (s->w + s->h));
}

static void anim_bg_rect(struct pg_synth_canvas *s, int x0, int y0, int w, int h)
{
	for (int y = y0; y < y0 + h && y < content_h(s); y++)
		for (int x = x0; x < x0 + w && x < s->w; x++)
			s->fb[(size_t)y * s->w + x] = anim_bg(s, x, y);
}

static int triangle(long t, int range)
{
	long p;

	if (range <= 0)
		return 0;
	p = t % (2L * range);
	return (int)(p <= range ? p : 2L * range - p);
}

static void anim_draw_fg(struct pg_synth_canvas *s, long frame)
{
	const uint8_t *pc = palette[(frame / 30) % 8];
	int b = s->box_s;
	char buf[32];
	int n;

	s->box_x = triangle(frame * 7, s->w - b);
	s->box_y = triangle(frame * 5, content_h(s) - b);
	fill(s, s->box_x, s->box_y, b, b, rgb(s, 0xff, 0xff, 0xff));
	fill(s, s->box_x + 4, s->box_y + 4, b - 8, b - 8, rgb(s, pc[0], pc[1], pc[2]));
	n = snprintf(buf, sizeof(buf), "FRAME %06ld", frame % 1000000);
	fill(s, COUNTER_X - 4, COUNTER_Y - 4, n * (GLYPH_W + 1) * COUNTER_SCALE + 4,
	     GLYPH_H * COUNTER_SCALE + 4, rgb(s, 0, 0, 0));
	text(s, COUNTER_X, COUNTER_Y, buf, COUNTER_SCALE, rgb(s, 0xff, 0xff, 0xff));
}

static void step_anim(struct pg_synth_canvas *s, long frame, struct pg_synth_damage *d)
{
	int ox = s->box_x, oy = s->box_y, b = s->box_s;

	anim_bg_rect(s, ox, oy, b, b);
	anim_draw_fg(s, frame);
	add_rect(d, ox, oy, b, b);
	add_rect(d, s->box_x, s->box_y, b, b);
	add_rect(d, 0, 0, COUNTER_X + 12 * (GLYPH_W + 1) * COUNTER_SCALE,
		 COUNTER_Y + GLYPH_H * COUNTER_SCALE);
}

/* Page and stamp modes ------------------------------------------------------ */

#define PAGE_HEADER_H 64
#define PAGE_NAV_W    280
#define PAGE_GAP      24
#define PAGE_PHOTO_W  640
#define PAGE_PHOTO_H  420

struct pg_synth_rect pg_synth_draw_stamp(struct pg_synth_canvas *s)
{
	uint32_t black = rgb(s, 0, 0, 0), white = rgb(s, 0xff, 0xff, 0xff);

	for (int i = 0; i < PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_ROWS; i++)
		fill(s, PG_SYNTH_STAMP_X + i % PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_BLOCK,
		     PG_SYNTH_STAMP_Y + i / PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_BLOCK,
		     PG_SYNTH_STAMP_BLOCK, PG_SYNTH_STAMP_BLOCK,
		     (s->stamp_us >> i) & 1 ? white : black);
	return (struct pg_synth_rect){PG_SYNTH_STAMP_X, PG_SYNTH_STAMP_Y,
				      PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_BLOCK,
				      PG_SYNTH_STAMP_ROWS * PG_SYNTH_STAMP_BLOCK};
}

uint64_t pg_synth_read_stamp(const uint32_t *px, int stride, int rshift, int gshift, int bshift)
{
	uint64_t v = 0;

	for (int i = 0; i < PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_ROWS; i++) {
		int x = PG_SYNTH_STAMP_X + i % PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_BLOCK +
			PG_SYNTH_STAMP_BLOCK / 2;
		int y = PG_SYNTH_STAMP_Y + i / PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_BLOCK +
			PG_SYNTH_STAMP_BLOCK / 2;
		uint32_t p = px[(size_t)y * stride + x];
		unsigned int l =
		    ((p >> rshift) & 0xff) + ((p >> gshift) & 0xff) * 2 + ((p >> bshift) & 0xff);

		if (l >= 512)
			v |= (uint64_t)1 << i;
	}
	return v;
}

/* A photo-like texture, twice the block it feeds, so each frame shows a
 * different part of it. */
static int build_photo(struct pg_synth_canvas *s)
{
	int w = 2 * PAGE_PHOTO_W, h = 2 * PAGE_PHOTO_H;
	uint32_t *p = malloc((size_t)w * h * sizeof(*p));

	if (!p)
		return -ENOMEM;
	free(s->photo);
	s->photo = p;
	s->photo_w = w;
	s->photo_h = h;
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			unsigned int c[3];

			for (int k = 0; k < 3; k++) {
				int v = (int)value_noise(x, y, 64, 11 + k) * 2 / 3 +
					(int)value_noise(x, y, 9, 23 + k) / 3 +
					(int)(hash32(x, y, 37 + k) & 0x1f) - 16;

				c[k] = v < 0 ? 0 : v > 255 ? 255 : v;
			}
			p[(size_t)y * w + x] = rgb(s, c[0], c[1], c[2]);
		}
	}
	return 0;
}

/* Copies a w x h block of src (stride sw, sh rows, wrapping) at (sx, sy) to (x, y). */
static void blit_wrap(struct pg_synth_canvas *s, int x, int y, int w, int h, const uint32_t *src,
		      int sw, int sh, int sx, int sy)
{
	if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > s->w || y + h > content_h(s) || w > sw)
		return;
	sx %= sw - w + 1;
	for (int j = 0; j < h; j++)
		memcpy(s->fb + (size_t)(y + j) * s->w + x, src + (size_t)((sy + j) % sh) * sw + sx,
		       (size_t)w * sizeof(*s->fb));
}

/*
 * One page: a coloured header, a navigation column, three blocks of text
 * taken from different places of the long text page, a photo-like block and a
 * coloured panel, all chosen by the frame number, so every frame differs
 * everywhere without being a scroll of the one before.
 */
static void draw_page(struct pg_synth_canvas *s, long frame)
{
	int hc = content_h(s), main_x = PAGE_NAV_W + PAGE_GAP;
	int photo_x = s->w - PAGE_PHOTO_W - PAGE_GAP, main_w = photo_x - PAGE_GAP - main_x;
	const uint8_t *pc = palette[frame % 8], *qc = palette[(frame / 8 + 3) % 8];
	char buf[64];
	int body = hc - PAGE_HEADER_H - PAGE_GAP, block = body / 3;

	fill(s, 0, 0, s->w, PAGE_HEADER_H, rgb(s, pc[0], pc[1], pc[2]));
	snprintf(buf, sizeof(buf), "PIXELGATE BENCH PAGE %ld", frame);
	text(s, 300, 16, buf, 4, rgb(s, 0xff, 0xff, 0xff));
	fill(s, 0, PAGE_HEADER_H, s->w, hc - PAGE_HEADER_H, rgb(s, 0xff, 0xff, 0xff));
	fill(s, 0, PAGE_HEADER_H, PAGE_NAV_W, hc - PAGE_HEADER_H, rgb(s, 0xee, 0xf0, 0xf4));
	for (int i = 0, y = PAGE_HEADER_H + 16; y + 24 < hc; i++, y += 28) {
		uint32_t h = hash32((uint32_t)frame, i, 3);
		const uint8_t *lc = palette[h % 8];

		snprintf(buf, sizeof(buf), "%c%c%c%c link %u", 'A' + h % 26, 'a' + (h >> 5) % 26,
			 'a' + (h >> 10) % 26, 'a' + (h >> 15) % 26, (h >> 20) % 1000);
		text(s, 16, y, buf, 2, rgb(s, lc[0] / 2, lc[1] / 2, lc[2] / 2));
	}
	if (main_w > s->w)
		main_w = 0;
	for (int b = 0; b < 3 && main_w > 0; b++) {
		uint32_t h = hash32((uint32_t)frame, b, 9);
		int y = PAGE_HEADER_H + PAGE_GAP / 2 + b * block;

		blit_wrap(s, main_x, y, main_w, block - 8, s->page, s->w, s->page_h,
			  (int)(h % 97) * 2, (int)((h >> 8) % (uint32_t)s->page_h));
	}
	if (photo_x > main_x && PAGE_HEADER_H + PAGE_GAP + PAGE_PHOTO_H < hc) {
		uint32_t h = hash32((uint32_t)frame, 0, 17);

		blit_wrap(s, photo_x, PAGE_HEADER_H + PAGE_GAP, PAGE_PHOTO_W, PAGE_PHOTO_H,
			  s->photo, s->photo_w, s->photo_h, (int)(h % PAGE_PHOTO_W),
			  (int)((h >> 12) % PAGE_PHOTO_H));
		for (int y = PAGE_HEADER_H + 2 * PAGE_GAP + PAGE_PHOTO_H; y < hc - PAGE_GAP; y++)
			for (int x = photo_x; x < photo_x + PAGE_PHOTO_W; x++)
				s->fb[(size_t)y * s->w + x] =
				    rgb(s, qc[0] * (x - photo_x) / PAGE_PHOTO_W,
					qc[1] * (y % 256) / 256, qc[2] / 2 + (x + y) % 64);
	}
	pg_synth_draw_stamp(s);
}

static void draw_stamp_page(struct pg_synth_canvas *s)
{
	draw_static(s);
	text(s, 16, 96, "STAMP: 64-BIT MICROSECOND CLOCK IN THE TOP LEFT CORNER", 2,
	     rgb(s, 0xff, 0xff, 0xff));
	pg_synth_draw_stamp(s);
}

/* Whole frames ------------------------------------------------------------ */

int pg_synth_mode_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(*mode_names); i++)
		if (!strcmp(name, mode_names[i]))
			return (int)i;
	return -1;
}

int pg_synth_render_full(struct pg_synth_canvas *s, long frame)
{
	s->frame = frame;
	switch (s->mode) {
	case PG_SYNTH_PATTERN:
		draw_pattern(s);
		break;
	case PG_SYNTH_STATIC:
		draw_static(s);
		break;
	case PG_SYNTH_SCROLL:
		if (build_page(s))
			return -ENOMEM;
		s->scroll_off = scroll_offset(s, frame);
		copy_page_rows(s, 0, s->scroll_off, content_h(s));
		break;
	case PG_SYNTH_ANIM:
		s->box_s = s->w / 10 < 96 ? s->w / 10 : 96;
		anim_bg_rect(s, 0, 0, s->w, content_h(s));
		anim_draw_fg(s, frame);
		break;
	case PG_SYNTH_PAGE:
		if (build_page(s) || build_photo(s))
			return -ENOMEM;
		draw_page(s, frame);
		break;
	case PG_SYNTH_STAMP:
		draw_stamp_page(s);
		break;
	}
	pg_synth_draw_strip(s);
	return 0;
}

void pg_synth_render_step(struct pg_synth_canvas *s, long frame, struct pg_synth_damage *d)
{
	struct pg_synth_rect strip;

	*d = (struct pg_synth_damage){0};
	s->frame = frame;
	if (s->mode == PG_SYNTH_STAMP) {
		/* Only the stamp: the steady small change latency is measured on. */
		strip = pg_synth_draw_stamp(s);
		add_rect(d, strip.x, strip.y, strip.w, strip.h);
		return;
	}
	if (s->mode == PG_SYNTH_PAGE) {
		draw_page(s, frame);
		add_rect(d, 0, 0, s->w, content_h(s));
	} else if (s->mode == PG_SYNTH_SCROLL)
		step_scroll(s, frame, d);
	else if (s->mode == PG_SYNTH_ANIM)
		step_anim(s, frame, d);
	strip = pg_synth_draw_strip(s);
	add_rect(d, strip.x, strip.y, strip.w, strip.h);
}

int pg_synth_write_ppm(const struct pg_synth_canvas *s, const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	fprintf(f, "P6\n%d %d\n255\n", s->w, s->h);
	for (size_t i = 0; i < (size_t)s->w * s->h; i++) {
		uint32_t p = s->fb[i];

		fputc((p >> s->rshift) & 0xff, f);
		fputc((p >> s->gshift) & 0xff, f);
		fputc((p >> s->bshift) & 0xff, f);
	}
	return fclose(f) ? -errno : 0;
}

void pg_synth_canvas_release(struct pg_synth_canvas *s)
{
	free(s->page);
	s->page = NULL;
	free(s->photo);
	s->photo = NULL;
}
