/* An invisible watermark: a 32-bit code (which the relay writes in the audit log's
 * viewer-join record) hidden as +/- PG_MARK_AMPLITUDE luminance steps on 8x8-pixel cells,
 * so that a screenshot of a viewer's screen names the session it came from.
 *
 * The code and 16 check bits (CRC-16) are spread over a 32x32-cell tile (256x256 pixels)
 * by a fixed pseudo-random chip sequence; the tile repeats over the whole screen, anchored
 * at the framebuffer's (0, 0). The reader needs no original: it compares each pixel with
 * the pixels one cell away, leaving out differences too large to be the mark (the page's
 * own edges), weights cells by how consistent they are, folds the screenshot onto one tile
 * and searches the offsets a crop can have (pixel phase coarse to fine, then all 1024
 * cell offsets).
 * docs/watermark-invisible.md says what survives (JPEG down to quality 40 even on dense
 * text, any crop offset) and what does not (scaling, photographs of a screen).
 *
 * The scheme is public: it identifies, it does not authenticate. Anyone who reads this can
 * forge or erase a mark. */
#ifndef PG_RENDER_MARK_H
#define PG_RENDER_MARK_H

#include <stdint.h>

#include "codec/fb.h"

#define PG_MARK_CELL	  8    /* cell side in pixels */
#define PG_MARK_TILE	  32   /* tile side in cells: the pattern repeats every 256 pixels */
#define PG_MARK_AMPLITUDE 2    /* luminance step per channel, before clamping at 0 and 255 */
#define PG_MARK_READ_MAX  2048 /* the reader looks at most at this many pixels per side */

/* Add the pattern for code to fb's pixels inside clip (fb coordinates, NULL for all of
 * fb; parts outside fb are ignored). Each of R, G and B moves by the same step, clamped,
 * and the top byte is kept. The change at a pixel depends only on (x, y), code and the
 * pixel, never on fb's size, so marking damaged rectangles one by one equals marking the
 * whole frame. Pure and thread-safe. */
void pg_mark_draw(struct pg_fb *fb, uint32_t code, const struct pg_rect *clip);

/* Look for a mark in img (a screenshot: any crop offset, perhaps through JPEG, not
 * scaled). 0 with *code and *confidence (the per-bit signal-to-noise ratio, at least 2)
 * when the 16 check bits match; -ENOENT when there is no mark (or too little of one);
 * -EINVAL for a NULL argument; -ENOMEM. An unmarked picture passes the check with
 * probability below 2^-16 even when the signal gate is fooled. Pure and thread-safe; reads
 * at most the top-left PG_MARK_READ_MAX x PG_MARK_READ_MAX pixels. */
int pg_mark_read(const struct pg_fb *img, uint32_t *code, double *confidence);

#endif
