/*
 * The pictures of pg-synth-host: pure functions of (mode, size, frame, typed
 * text), integer arithmetic only, so the same options give the same pixels at
 * the same frame number on any machine. No RFB in here.
 */
#ifndef PG_SYNTH_DRAW_H
#define PG_SYNTH_DRAW_H

#include <stdbool.h>
#include <stdint.h>

#define PG_SYNTH_STRIP_H   24  /* the typed-text strip at the bottom */
#define PG_SYNTH_TYPED_MAX 256 /* typed characters kept */

enum pg_synth_mode {
	PG_SYNTH_PATTERN,
	PG_SYNTH_SCROLL,
	PG_SYNTH_ANIM,
	PG_SYNTH_STATIC,
	PG_SYNTH_PAGE,	/* a different web-page-like full screen each frame */
	PG_SYNTH_STAMP, /* a still page; only the time stamp changes */
};

/*
 * The time stamp of page and stamp modes: stamp_us as 64 bits, bit i a
 * PG_SYNTH_STAMP_BLOCK square (white 1, black 0) at column i % 16, row i / 16,
 * from (PG_SYNTH_STAMP_X, PG_SYNTH_STAMP_Y). Big blocks survive JPEG.
 */
#define PG_SYNTH_STAMP_X     0
#define PG_SYNTH_STAMP_Y     0
#define PG_SYNTH_STAMP_BLOCK 16
#define PG_SYNTH_STAMP_COLS  16
#define PG_SYNTH_STAMP_ROWS  4

struct pg_synth_rect {
	int x, y, w, h;
};

/* What one step changed: rows moved by copy (first), then rects redrawn. */
struct pg_synth_damage {
	bool copy;
	struct pg_synth_rect copy_dst; /* destination of the move */
	int copy_dy;		       /* source = destination - dy */
	struct pg_synth_rect rects[4];
	int nrects;
};

/*
 * The framebuffer and what is drawn on it. The caller owns fb (w * h pixels
 * of 32 bits with the channel shifts given) and sets mode and typed text;
 * the rest belongs to synth_draw.c. One thread.
 */
struct pg_synth_canvas {
	uint32_t *fb;
	int w, h;
	uint8_t rshift, gshift, bshift;
	enum pg_synth_mode mode;
	long frame;
	char typed[PG_SYNTH_TYPED_MAX + 1];
	int ntyped;
	uint64_t stamp_us; /* drawn by page and stamp modes */
	/* Private. */
	uint32_t *page;
	int page_h;
	int scroll_off;
	int box_x, box_y, box_s;
	uint32_t *photo;
	int photo_w, photo_h;
};

/* Returns the mode called name, or -1. */
int pg_synth_mode_parse(const char *name);

/* Draws frame number frame from scratch. 0, or -ENOMEM. */
int pg_synth_render_full(struct pg_synth_canvas *c, long frame);

/* Moves an animated picture on to frame, drawing only what changed. */
void pg_synth_render_step(struct pg_synth_canvas *c, long frame, struct pg_synth_damage *d);

/* Draws c->stamp_us; returns its rect. */
struct pg_synth_rect pg_synth_draw_stamp(struct pg_synth_canvas *c);

/* Reads a stamp drawn by pg_synth_draw_stamp from pixels px (stride pixels a
 * row, channel shifts as given), thresholding each block's centre. */
uint64_t pg_synth_read_stamp(const uint32_t *px, int stride, int rshift, int gshift, int bshift);

/* Redraws the typed-text strip; returns its rect. */
struct pg_synth_rect pg_synth_draw_strip(struct pg_synth_canvas *c);

/* Writes the picture as a binary PPM. 0, or -errno. */
int pg_synth_write_ppm(const struct pg_synth_canvas *c, const char *path);

/* Frees what the canvas allocated (not fb). */
void pg_synth_canvas_release(struct pg_synth_canvas *c);

#endif
