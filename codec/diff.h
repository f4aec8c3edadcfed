/* Change detection between two pictures of the same size (the last one published
 * and the next): which tiles differ, merged into few rectangles, and whether part of
 * the picture moved vertically (a scrolled page). Pure: pixels only, no I/O, and no
 * allocation after pg_diff_new. A struct pg_diff is scratch for one thread. */
#ifndef PG_CODEC_DIFF_H
#define PG_CODEC_DIFF_H

#include <stdbool.h>

#include "codec/fb.h"

/* Side of the comparison tiles, aligned to the framebuffer's grid (0, 32, 64...): 32
 * sends about half the pixels of 64 for a scrolled page at the same cost. */
#define PG_DIFF_TILE 32
/* Rows a scrolled band must bring into place (rows that differ from the old picture
 * at the same place and equal it dy rows away) before pg_diff_scroll reports it. */
#define PG_DIFF_SCROLL_MIN_ROWS 8

struct pg_diff;

/* Scratch for pictures of at most w x h pixels, compared in tile x tile tiles (0:
 * PG_DIFF_TILE; at least 8). NULL on bad sizes or out of memory. */
struct pg_diff *pg_diff_new(int w, int h, int tile);
void pg_diff_del(struct pg_diff *d);

/* The tile map: pg_diff_clear empties it, pg_diff_mark compares old and new inside r
 * (clipped to both pictures and to the scratch's size) and marks each tile in which
 * any pixel of r differs; it returns the number of tiles newly marked. Rectangles may
 * overlap; marked tiles are not compared again. */
void pg_diff_clear(struct pg_diff *d);
int pg_diff_mark(struct pg_diff *d, const struct pg_fb *old, const struct pg_fb *new,
		 const struct pg_rect *r);
/* The marked tiles as at most max (>= 1) rectangles, clipped to clip: runs along tile
 * rows, merged downwards where their x-spans are equal; when more would be needed, the
 * pair whose union adds the least area is merged, so every marked tile stays covered.
 * Rectangles cover whole tiles (but for clip), so they may hold pixels outside the
 * marked rects: the caller knows those equal. Returns the count (0: nothing marked). */
int pg_diff_rects(struct pg_diff *d, const struct pg_rect *clip, struct pg_rect *out, int max);
/* pg_diff_clear, pg_diff_mark of r, and pg_diff_rects clipped to r. */
int pg_diff_tiles(struct pg_diff *d, const struct pg_fb *old, const struct pg_fb *new,
		  const struct pg_rect *r, struct pg_rect *out, int max);

/* Whether a band of r's rows moved vertically from old to new: on true, *dst (inside
 * r, r's columns) holds new rows equal to old's rows at *src_y.. (same columns), and
 * dst->y - *src_y is the distance moved (never 0). A heuristic: rows are matched by
 * hash, rows repeated in either picture (blank lines) never vote, and the band is
 * verified pixel for pixel; false on static or unrelated pictures, or when the band
 * would bring fewer than PG_DIFF_SCROLL_MIN_ROWS rows into place. */
bool pg_diff_scroll(struct pg_diff *d, const struct pg_fb *old, const struct pg_fb *new,
		    const struct pg_rect *r, struct pg_rect *dst, int *src_y);

/* Shrink *r to the bounding box of the pixels that differ between old and new inside
 * it (both pictures hold r): a changed tile holding a 4-row strip then sends 4 rows, not
 * the tile. False, with *r untouched, when nothing in it differs. */
bool pg_diff_trim(const struct pg_fb *old, const struct pg_fb *new, struct pg_rect *r);

/* Move fb's pixels at (src_x, src_y) to dst, as a CopyRect does (source and
 * destination may overlap). False, and nothing moved, when either is not inside fb. */
bool pg_diff_copy(struct pg_fb *fb, const struct pg_rect *dst, int src_x, int src_y);

#endif
