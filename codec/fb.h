/* Framebuffers and rectangles in pixelgate's canonical pixel: a uint32_t holding
 * 0x00RRGGBB in host byte order. Every decoder writes it, every encoder reads it,
 * and pg_pixfmt converts it to and from a peer's wire format. */
#ifndef PG_CODEC_FB_H
#define PG_CODEC_FB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest framebuffer side pixelgate accepts from anyone (RFB allows 65535). */
#define PG_FB_MAX_SIDE 8192

struct pg_rect {
	int x, y, w, h;
};

/* A view of pixels: px[y * stride + x]. Does not own px unless made by pg_fb_alloc. */
struct pg_fb {
	uint32_t *px;
	int w, h;
	int stride; /* in pixels */
};

/* Allocate a zeroed w x h framebuffer; 0, PG_ELIMIT (side over PG_FB_MAX_SIDE or
 * not positive) or PG_ENOMEM. Free with pg_fb_free. */
int pg_fb_alloc(struct pg_fb *fb, int w, int h);
void pg_fb_free(struct pg_fb *fb);

/* Checked multiply for sizes: false on overflow. */
static inline bool pg_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* True when r is non-empty and lies wholly inside a w x h area. */
static inline bool pg_rect_inside(const struct pg_rect *r, int w, int h)
{
	return r->w > 0 && r->h > 0 && r->x >= 0 && r->y >= 0 && r->x <= w - r->w &&
	       r->y <= h - r->h;
}

static inline bool pg_rect_empty(const struct pg_rect *r)
{
	return r->w <= 0 || r->h <= 0;
}

/* Intersection of a and b (may be empty). */
struct pg_rect pg_rect_intersect(struct pg_rect a, struct pg_rect b);
/* Smallest rectangle holding both (an empty one is ignored). */
struct pg_rect pg_rect_union(struct pg_rect a, struct pg_rect b);

/* Copy the pixels of r from src to the same place in dst (both must contain r). */
void pg_fb_copy_rect(struct pg_fb *dst, const struct pg_fb *src, const struct pg_rect *r);
/* Fill r with one pixel value. */
void pg_fb_fill(struct pg_fb *fb, const struct pg_rect *r, uint32_t px);
/* Move r's pixels so that its top-left lands at (dx, dy), overlapping allowed. */
void pg_fb_move(struct pg_fb *fb, const struct pg_rect *r, int dx, int dy);

#endif
