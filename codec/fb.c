#include "fb.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int pg_fb_alloc(struct pg_fb *fb, int w, int h)
{
	size_t n, bytes;
	memset(fb, 0, sizeof(*fb));
	if (w <= 0 || h <= 0 || w > PG_FB_MAX_SIDE || h > PG_FB_MAX_SIDE)
		return PG_ELIMIT;
	if (!pg_mul_size((size_t)w, (size_t)h, &n) || !pg_mul_size(n, 4, &bytes))
		return PG_ELIMIT;
	fb->px = calloc(n, 4);
	if (!fb->px)
		return PG_ENOMEM;
	fb->w = w;
	fb->h = h;
	fb->stride = w;
	return 0;
}

void pg_fb_free(struct pg_fb *fb)
{
	free(fb->px);
	memset(fb, 0, sizeof(*fb));
}

struct pg_rect pg_rect_intersect(struct pg_rect a, struct pg_rect b)
{
	int x0 = a.x > b.x ? a.x : b.x;
	int y0 = a.y > b.y ? a.y : b.y;
	int x1 = a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w;
	int y1 = a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h;
	if (x1 <= x0 || y1 <= y0)
		return (struct pg_rect){0, 0, 0, 0};
	return (struct pg_rect){x0, y0, x1 - x0, y1 - y0};
}

struct pg_rect pg_rect_union(struct pg_rect a, struct pg_rect b)
{
	if (pg_rect_empty(&a))
		return b;
	if (pg_rect_empty(&b))
		return a;
	int x0 = a.x < b.x ? a.x : b.x;
	int y0 = a.y < b.y ? a.y : b.y;
	int x1 = a.x + a.w > b.x + b.w ? a.x + a.w : b.x + b.w;
	int y1 = a.y + a.h > b.y + b.h ? a.y + a.h : b.y + b.h;
	return (struct pg_rect){x0, y0, x1 - x0, y1 - y0};
}

void pg_fb_copy_rect(struct pg_fb *dst, const struct pg_fb *src, const struct pg_rect *r)
{
	for (int y = r->y; y < r->y + r->h; y++)
		memcpy(dst->px + (size_t)y * dst->stride + r->x,
		       src->px + (size_t)y * src->stride + r->x, (size_t)r->w * 4);
}

void pg_fb_fill(struct pg_fb *fb, const struct pg_rect *r, uint32_t px)
{
	for (int y = r->y; y < r->y + r->h; y++) {
		uint32_t *row = fb->px + (size_t)y * fb->stride + r->x;
		for (int x = 0; x < r->w; x++)
			row[x] = px;
	}
}

void pg_fb_move(struct pg_fb *fb, const struct pg_rect *r, int dx, int dy)
{
	/* Walk rows away from the overlap so no source row is overwritten before it is read. */
	if (dy > r->y) {
		for (int i = r->h - 1; i >= 0; i--)
			memmove(fb->px + (size_t)(dy + i) * fb->stride + dx,
				fb->px + (size_t)(r->y + i) * fb->stride + r->x, (size_t)r->w * 4);
	} else {
		for (int i = 0; i < r->h; i++)
			memmove(fb->px + (size_t)(dy + i) * fb->stride + dx,
				fb->px + (size_t)(r->y + i) * fb->stride + r->x, (size_t)r->w * 4);
	}
}
