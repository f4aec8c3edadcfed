/* codec/diff: changed tiles merged into few rectangles that never lose a pixel, vertical
 * scrolls found exactly (fixed header and footer, blank lines) and never made up (noise,
 * still pictures), CopyRect-style moves with overlap, and the property the worker relies
 * on: the detected copy and then the changed tiles turn the old picture into the new. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/diff.h"

static uint32_t rng = 12345;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int rnd_in(int lo, int hi) /* inclusive */
{
	return lo + (int)(rnd() % (uint32_t)(hi - lo + 1));
}

static uint32_t hash3(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t h = a * 0x9e3779b1u ^ b * 0x85ebca77u ^ c * 0xc2b2ae3du;
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	h *= 0x297a2d39u;
	h ^= h >> 15;
	return h;
}

#define BG 0xffffffu

/* A web page: lines of 20 rows, text in rows 4..15 (distinct per row), blank rows
 * between them, and every gap-th line left blank (a paragraph break). */
static uint32_t page_px(int x, int py, unsigned seed, int gap)
{
	int line = py / 20, r = py % 20;
	if (r < 4 || r > 15 || (gap && line % gap == gap - 1))
		return BG;
	uint32_t word = hash3(seed, (uint32_t)line, (uint32_t)x / 40);
	if (word % 4 == 0)
		return BG; /* a space between words */
	uint32_t h = hash3((uint32_t)line * 16 + (uint32_t)r, (uint32_t)x, seed);
	return h % 3 ? BG : 0x101010u + (h >> 24) % 64;
}

struct screen {
	int w, h;
	int header, footer; /* fixed rows at the top and the bottom */
	int gap;
	unsigned seed;
};

/* The page at scroll offset off, between a header and a footer that never move. */
static void draw(const struct screen *sc, struct pg_fb *fb, int off)
{
	for (int y = 0; y < sc->h; y++) {
		uint32_t *row = fb->px + (size_t)y * fb->stride;
		for (int x = 0; x < sc->w; x++) {
			if (y < sc->header)
				row[x] = 0x336699u + (uint32_t)(x % 50 == 0);
			else if (y >= sc->h - sc->footer)
				row[x] = 0x202020u + (uint32_t)(y == sc->h - sc->footer);
			else
				row[x] = page_px(x, off + y - sc->header, sc->seed, sc->gap);
		}
	}
}

static struct pg_fb fb_new(int w, int h)
{
	struct pg_fb fb;
	cr_assert_eq(pg_fb_alloc(&fb, w, h), 0);
	return fb;
}

static bool fb_equal(const struct pg_fb *a, const struct pg_fb *b)
{
	for (int y = 0; y < a->h; y++)
		if (memcmp(a->px + (size_t)y * a->stride, b->px + (size_t)y * b->stride,
			   (size_t)a->w * 4))
			return false;
	return true;
}

static bool rows_moved(const struct pg_fb *old, const struct pg_fb *new, const struct pg_rect *dst,
		       int src_y)
{
	for (int i = 0; i < dst->h; i++)
		if (memcmp(new->px + (size_t)(dst->y + i) * new->stride + dst->x,
			   old->px + (size_t)(src_y + i) * old->stride + dst->x,
			   (size_t)dst->w * 4))
			return false;
	return true;
}

static bool covered(const struct pg_rect *out, int n, int x, int y)
{
	for (int i = 0; i < n; i++)
		if (x >= out[i].x && x < out[i].x + out[i].w && y >= out[i].y &&
		    y < out[i].y + out[i].h)
			return true;
	return false;
}

/* ---- tiles ---- */

Test(diff_tiles, nothing_changed)
{
	struct screen sc = {400, 300, 30, 20, 0, 1};
	struct pg_fb a = fb_new(400, 300), b = fb_new(400, 300);
	struct pg_diff *d = pg_diff_new(400, 300, 0);
	struct pg_rect out[8], all = {0, 0, 400, 300};
	draw(&sc, &a, 0);
	draw(&sc, &b, 0);
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &all, out, 8), 0);
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

Test(diff_tiles, single_pixel_found)
{
	struct screen sc = {1920, 1080, 60, 40, 0, 2};
	struct pg_fb a = fb_new(1920, 1080), b = fb_new(1920, 1080);
	struct pg_diff *d = pg_diff_new(1920, 1080, 0);
	struct pg_rect out[8], all = {0, 0, 1920, 1080};
	draw(&sc, &a, 0);
	draw(&sc, &b, 0);
	b.px[(size_t)517 * 1920 + 1001] ^= 1;
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &all, out, 8), 1);
	cr_assert_eq(out[0].x, 1001 / PG_DIFF_TILE * PG_DIFF_TILE);
	cr_assert_eq(out[0].y, 517 / PG_DIFF_TILE * PG_DIFF_TILE);
	cr_assert_eq(out[0].w, PG_DIFF_TILE);
	cr_assert_eq(out[0].h, PG_DIFF_TILE);
	/* The last pixel, in a partial tile at the corner: clipped to the frame. */
	b.px[(size_t)517 * 1920 + 1001] ^= 1;
	b.px[(size_t)1079 * 1920 + 1919] ^= 1;
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &all, out, 8), 1);
	cr_assert_eq(out[0].x, 1919 / PG_DIFF_TILE * PG_DIFF_TILE);
	cr_assert_eq(out[0].y, 1079 / PG_DIFF_TILE * PG_DIFF_TILE);
	cr_assert_eq(out[0].y + out[0].h, 1080);
	cr_assert_eq(out[0].x + out[0].w, 1920);
	cr_assert(covered(out, 1, 1919, 1079));
	/* Outside the compared rect it is not seen, and output stays inside the rect. */
	struct pg_rect part = {0, 0, 1900, 1000};
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &part, out, 8), 0);
	struct pg_rect odd = {1901, 1071, 19, 9};
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &odd, out, 8), 1);
	cr_assert_eq(out[0].x, 1901);
	cr_assert_eq(out[0].y, 1071);
	cr_assert_eq(out[0].w, 19);
	cr_assert_eq(out[0].h, 9);
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

Test(diff_tiles, band_merges_into_one)
{
	struct pg_fb a = fb_new(1920, 1080), b = fb_new(1920, 1080);
	struct pg_diff *d = pg_diff_new(1920, 1080, 0);
	struct pg_rect out[32], all = {0, 0, 1920, 1080};
	for (int y = 100; y < 400; y++)
		for (int x = 0; x < 1920; x++)
			b.px[(size_t)y * 1920 + x] = 7;
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &all, out, 32), 1);
	cr_assert_eq(out[0].x, 0);
	cr_assert_eq(out[0].w, 1920);
	cr_assert_eq(out[0].y, 100 / PG_DIFF_TILE * PG_DIFF_TILE);
	cr_assert_eq(out[0].y + out[0].h, (400 + PG_DIFF_TILE - 1) / PG_DIFF_TILE * PG_DIFF_TILE);
	/* A band over some columns, and a second one apart: two rectangles. */
	memset(b.px, 0, (size_t)1920 * 1080 * 4);
	for (int y = 300; y < 700; y++)
		for (int x = 300; x < 900; x++)
			b.px[(size_t)y * 1920 + x] = 7;
	for (int y = 900; y < 1000; y++)
		for (int x = 1500; x < 1510; x++)
			b.px[(size_t)y * 1920 + x] = 7;
	cr_assert_eq(pg_diff_tiles(d, &a, &b, &all, out, 32), 2);
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

/* Scattered changes and too few rectangles: every changed pixel stays covered. */
Test(diff_tiles, overflow_loses_nothing)
{
	struct pg_fb a = fb_new(1000, 700), b = fb_new(1000, 700);
	struct pg_diff *d = pg_diff_new(1000, 700, 32);
	struct pg_rect out[16], all = {0, 0, 1000, 700};
	int xs[300], ys[300];
	for (int round = 0; round < 20; round++) {
		int max = 1 + round % 8;
		memcpy(b.px, a.px, (size_t)1000 * 700 * 4);
		int k = rnd_in(1, 300);
		for (int i = 0; i < k; i++) {
			xs[i] = rnd_in(0, 999);
			ys[i] = rnd_in(0, 699);
			b.px[(size_t)ys[i] * 1000 + xs[i]] = 1 + rnd() % 100;
		}
		int n = pg_diff_tiles(d, &a, &b, &all, out, max);
		cr_assert(n >= 1 && n <= max, "%d rectangles for at most %d", n, max);
		for (int i = 0; i < k; i++)
			cr_assert(covered(out, n, xs[i], ys[i]), "round %d: (%d,%d) lost", round,
				  xs[i], ys[i]);
		for (int i = 0; i < n; i++)
			cr_assert(pg_rect_inside(&out[i], 1000, 700));
	}
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

/* Several rects marked into one map: overlaps count once. */
Test(diff_tiles, marks_accumulate)
{
	struct pg_fb a = fb_new(256, 256), b = fb_new(256, 256);
	struct pg_diff *d = pg_diff_new(256, 256, 64);
	struct pg_rect out[4], all = {0, 0, 256, 256};
	b.px[10 * 256 + 10] = 1;
	b.px[200 * 256 + 200] = 1;
	pg_diff_clear(d);
	cr_assert_eq(pg_diff_mark(d, &a, &b, &(struct pg_rect){0, 0, 100, 100}), 1);
	cr_assert_eq(pg_diff_mark(d, &a, &b, &(struct pg_rect){0, 0, 100, 100}), 0);
	cr_assert_eq(pg_diff_mark(d, &a, &b, &(struct pg_rect){150, 150, 106, 106}), 1);
	cr_assert_eq(pg_diff_rects(d, &all, out, 4), 2);
	cr_assert_eq(pg_diff_rects(d, &all, out, 1), 1);
	cr_assert_eq(out[0].w, 256);
	cr_assert_eq(out[0].h, 256);
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

/* ---- scroll ---- */

static void expect_scroll(int w, int h, int header, int footer, int s, int gap)
{
	struct screen sc = {w, h, header, footer, gap, (unsigned)(s + 1000)};
	struct pg_fb a = fb_new(w, h), b = fb_new(w, h);
	struct pg_diff *d = pg_diff_new(w, h, 0);
	struct pg_rect all = {0, 0, w, h}, dst;
	int src_y = -1, content = h - header - footer, m = abs(s);
	draw(&sc, &a, 500);
	draw(&sc, &b, 500 + s);
	cr_assert(pg_diff_scroll(d, &a, &b, &all, &dst, &src_y), "scroll by %d not found", s);
	/* Down the page (s > 0) the content moves up: new rows come from below. */
	cr_assert_eq(dst.x, 0);
	cr_assert_eq(dst.w, w);
	cr_assert_eq(dst.h, content - m, "scroll by %d: band of %d rows, not %d", s, dst.h,
		     content - m);
	cr_assert_eq(dst.y, s > 0 ? header : header + m, "scroll by %d: band at %d", s, dst.y);
	cr_assert_eq(src_y, s > 0 ? header + m : header, "scroll by %d: from %d", s, src_y);
	cr_assert(rows_moved(&a, &b, &dst, src_y));
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

Test(diff_scroll, by_1)
{
	expect_scroll(1280, 720, 80, 30, 1, 0);
	expect_scroll(1280, 720, 80, 30, -1, 0);
}

Test(diff_scroll, by_37)
{
	expect_scroll(1280, 720, 80, 30, 37, 0);
	expect_scroll(1280, 720, 80, 30, -37, 0);
}

Test(diff_scroll, by_300)
{
	expect_scroll(1920, 1080, 120, 48, 300, 0);
	expect_scroll(1920, 1080, 120, 48, -300, 0);
}

Test(diff_scroll, no_header_or_footer)
{
	expect_scroll(800, 600, 0, 0, 20, 0);
	expect_scroll(800, 600, 0, 0, -20, 0);
}

/* Blank lines and long blank paragraphs occur many times in each picture: they never
 * vote, the text rows do, and the band still runs through the blanks. */
Test(diff_scroll, repeated_blank_rows)
{
	expect_scroll(1280, 720, 80, 30, 37, 3);
	expect_scroll(1280, 720, 80, 30, -20, 2);
	expect_scroll(1280, 720, 80, 30, 100, 3);
}

Test(diff_scroll, none_in_noise_or_still_pictures)
{
	struct pg_fb a = fb_new(640, 480), b = fb_new(640, 480);
	struct pg_diff *d = pg_diff_new(640, 480, 0);
	struct pg_rect all = {0, 0, 640, 480}, dst;
	int sy;
	for (size_t i = 0; i < (size_t)640 * 480; i++) {
		a.px[i] = rnd() & 0xffffff;
		b.px[i] = rnd() & 0xffffff;
	}
	cr_assert_not(pg_diff_scroll(d, &a, &b, &all, &dst, &sy), "noise");
	cr_assert_not(pg_diff_scroll(d, &a, &a, &all, &dst, &sy), "still noise");
	struct screen sc = {640, 480, 40, 20, 3, 9};
	draw(&sc, &a, 0);
	draw(&sc, &b, 0);
	cr_assert_not(pg_diff_scroll(d, &a, &b, &all, &dst, &sy), "still page");
	/* A page replaced by another page is no scroll either. */
	sc.seed = 10;
	draw(&sc, &b, 0);
	cr_assert_not(pg_diff_scroll(d, &a, &b, &all, &dst, &sy), "another page");
	/* Flat colours and stripes: every row repeats, nothing is distinctive. */
	for (int y = 0; y < 480; y++)
		for (int x = 0; x < 640; x++) {
			a.px[y * 640 + x] = (y / 4) % 2 ? 0xff : 0xff00;
			b.px[y * 640 + x] = ((y + 2) / 4) % 2 ? 0xff : 0xff00;
		}
	if (pg_diff_scroll(d, &a, &b, &all, &dst, &sy))
		cr_assert(rows_moved(&a, &b, &dst, sy), "stripes: a band that did not move");
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

/* Content moved further than the rect is tall: nothing of it is left to move. */
Test(diff_scroll, distance_beyond_the_rect)
{
	struct screen sc = {640, 480, 0, 0, 0, 4};
	struct pg_fb a = fb_new(640, 480), b = fb_new(640, 480);
	struct pg_diff *d = pg_diff_new(640, 480, 0);
	struct pg_rect dst, part = {0, 100, 640, 200};
	int sy;
	draw(&sc, &a, 0);
	draw(&sc, &b, 300);
	cr_assert_not(pg_diff_scroll(d, &a, &b, &part, &dst, &sy));
	/* The same distance inside the whole picture is found. */
	struct pg_rect all = {0, 0, 640, 480};
	cr_assert(pg_diff_scroll(d, &a, &b, &all, &dst, &sy));
	cr_assert_eq(dst.y, 0);
	cr_assert_eq(sy, 300);
	cr_assert_eq(dst.h, 180);
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

/* A band within a sub-rect: the columns outside it may do anything. */
Test(diff_scroll, inside_a_column_range)
{
	struct screen sc = {800, 600, 50, 0, 0, 5};
	struct pg_fb a = fb_new(800, 600), b = fb_new(800, 600);
	struct pg_diff *d = pg_diff_new(800, 600, 0);
	struct pg_rect dst, part = {100, 50, 600, 550};
	int sy;
	draw(&sc, &a, 0);
	draw(&sc, &b, 45);
	for (int y = 0; y < 600; y++) /* a sidebar that changes everywhere */
		for (int x = 0; x < 100; x++)
			b.px[y * 800 + x] = rnd() & 0xffffff;
	cr_assert(pg_diff_scroll(d, &a, &b, &part, &dst, &sy));
	cr_assert_eq(dst.x, 100);
	cr_assert_eq(dst.w, 600);
	cr_assert_eq(dst.y, 50);
	cr_assert_eq(dst.h, 550 - 45);
	cr_assert_eq(sy, 95);
	pg_diff_del(d);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

/* ---- copy ---- */

static void check_copy(int dx, int dy)
{
	struct pg_fb fb = fb_new(64, 48), ref = fb_new(64, 48);
	for (int i = 0; i < 64 * 48; i++)
		fb.px[i] = ref.px[i] = (uint32_t)i;
	struct pg_rect dst = {10 + dx, 10 + dy, 30, 20};
	uint32_t tmp[30 * 20];
	for (int y = 0; y < 20; y++)
		memcpy(tmp + y * 30, ref.px + (10 + y) * 64 + 10, 30 * 4);
	for (int y = 0; y < 20; y++)
		memcpy(ref.px + (dst.y + y) * 64 + dst.x, tmp + y * 30, 30 * 4);
	cr_assert(pg_diff_copy(&fb, &dst, 10, 10));
	cr_assert(fb_equal(&fb, &ref), "copy by (%d,%d)", dx, dy);
	pg_fb_free(&fb);
	pg_fb_free(&ref);
}

Test(diff_copy, overlap_every_direction)
{
	check_copy(0, 5);
	check_copy(0, -5);
	check_copy(3, 0);
	check_copy(-3, 0);
	check_copy(4, 7);
	check_copy(-4, -7);
	check_copy(4, -7);
	check_copy(0, 0);
	check_copy(0, 18);
	check_copy(0, -10);
}

Test(diff_copy, refuses_outside)
{
	struct pg_fb fb = fb_new(64, 48);
	struct pg_rect in = {0, 0, 64, 48}, out = {40, 0, 30, 10};
	cr_assert(pg_diff_copy(&fb, &in, 0, 0));
	cr_assert_not(pg_diff_copy(&fb, &out, 0, 0));
	cr_assert_not(pg_diff_copy(&fb, &(struct pg_rect){0, 0, 10, 10}, 60, 0));
	cr_assert_not(pg_diff_copy(&fb, &(struct pg_rect){0, 0, 10, 10}, 0, -1));
	cr_assert_not(pg_diff_copy(&fb, &(struct pg_rect){0, 0, 0, 10}, 0, 0));
	pg_fb_free(&fb);
}

/* ---- the worker's use: copy, then changed tiles, reproduce new ---- */

Test(diff_property, copy_then_tiles_reproduce_new)
{
	const int w = 480, h = 360;
	struct pg_fb old = fb_new(w, h), new = fb_new(w, h), shm = fb_new(w, h);
	struct pg_diff *d = pg_diff_new(w, h, 0);
	struct pg_rect out[32], all = {0, 0, w, h};
	int tries = 0, found = 0, exact = 0;
	for (int iter = 0; iter < 300; iter++) {
		struct screen sc = {w, h, rnd_in(0, 60), rnd_in(0, 40), rnd_in(0, 4), rnd()};
		if (sc.gap == 1)
			sc.gap = 0; /* not a page of blank lines only */
		int content = h - sc.header - sc.footer;
		int s = rnd_in(-content / 2, content / 2), edits = rnd_in(0, 3);
		if (iter % 10 == 0)
			s = rnd_in(-h, h); /* also further than the content */
		draw(&sc, &old, 1000);
		draw(&sc, &new, 1000 + s);
		for (int e = 0; e < edits; e++) {
			struct pg_rect r = {rnd_in(0, w - 1), rnd_in(0, h - 1), rnd_in(1, 60),
					    rnd_in(1, 60)};
			r = pg_rect_intersect(r, all);
			if (iter % 3)
				pg_fb_fill(&new, &r, rnd() & 0xffffff);
			else
				for (int y = r.y; y < r.y + r.h; y++)
					for (int x = r.x; x < r.x + r.w; x++)
						new.px[y * w + x] = rnd() & 0xffffff;
		}
		memcpy(shm.px, old.px, (size_t)w * h * 4);
		struct pg_rect dst;
		int sy;
		bool hit = false;
		pg_diff_clear(d);
		if (pg_diff_scroll(d, &old, &new, &all, &dst, &sy)) {
			cr_assert(pg_rect_inside(&dst, w, h));
			cr_assert(pg_diff_copy(&shm, &dst, dst.x, sy));
			pg_diff_mark(d, &shm, &new, &dst);
			found++;
			hit = dst.y - sy == -s;
		}
		/* Without edits, a scroll that leaves enough rows on screen must be found. */
		if (s && abs(s) < content - 16 && !edits) {
			tries++;
			exact += hit;
			if (!hit)
				cr_log_info("missed: header %d, footer %d, gap %d, scroll %d",
					    sc.header, sc.footer, sc.gap, s);
		}
		pg_diff_mark(d, &shm, &new, &all);
		int n = pg_diff_rects(d, &all, out, 1 + iter % 32);
		for (int i = 0; i < n; i++)
			pg_fb_copy_rect(&shm, &new, &out[i]);
		cr_assert(fb_equal(&shm, &new), "iteration %d: scroll %d, %d edits", iter, s,
			  edits);
	}
	cr_log_info("scrolls found in %d of 300 pairs; %d of %d edit-free scrolls found exactly",
		    found, exact, tries);
	cr_assert_geq(exact, tries * 9 / 10);
	pg_diff_del(d);
	pg_fb_free(&old);
	pg_fb_free(&new);
	pg_fb_free(&shm);
}

/* ---- cost ---- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* What the worker does for a scrolled 1920x1080 page: find the scroll, move, compare
 * tiles. Printed for the record; bounded loosely (sanitizer builds are slow). */
static double bench(int tile, int s, double *scroll_ms)
{
	struct screen sc = {1920, 1080, 100, 40, 4, 77};
	struct pg_fb old = fb_new(1920, 1080), new = fb_new(1920, 1080), shm = fb_new(1920, 1080);
	struct pg_diff *d = pg_diff_new(1920, 1080, tile);
	struct pg_rect out[32], all = {0, 0, 1920, 1080}, dst;
	double total[15], scan[15];
	draw(&sc, &old, 0);
	draw(&sc, &new, s);
	for (int i = 0; i < 15; i++) {
		int sy;
		memcpy(shm.px, old.px, (size_t)1920 * 1080 * 4);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		bool found = pg_diff_scroll(d, &shm, &new, &all, &dst, &sy);
		scan[i] = ms_since(&t0);
		pg_diff_clear(d);
		if (found) {
			pg_diff_copy(&shm, &dst, dst.x, sy);
			pg_diff_mark(d, &shm, &new, &dst);
		}
		pg_diff_mark(d, &shm, &new, &all);
		int n = pg_diff_rects(d, &all, out, 32);
		total[i] = ms_since(&t0);
		for (int k = 0; k < n; k++)
			pg_fb_copy_rect(&shm, &new, &out[k]);
		cr_assert(fb_equal(&shm, &new));
	}
	qsort(total, 15, sizeof(double), cmp_double);
	qsort(scan, 15, sizeof(double), cmp_double);
	pg_diff_del(d);
	pg_fb_free(&old);
	pg_fb_free(&new);
	pg_fb_free(&shm);
	*scroll_ms = scan[7];
	return total[7];
}

Test(diff_cost, full_hd_scroll)
{
	double scan, t64 = bench(64, 37, &scan), scan32, t32 = bench(32, 37, &scan32);
	double scan0, still = bench(64, 0, &scan0);
	cr_log_info("1920x1080, scrolled 37 rows: scroll detection %.2f ms, with move and "
		    "tiles %.2f ms (64x64 tiles), %.2f ms (32x32); still picture %.2f ms",
		    scan, t64, t32, still);
	cr_assert_lt(t64, 60.0, "%.2f ms for a full HD frame", t64);
}

Test(diff_trim, shrinks_to_the_changed_pixels)
{
	struct pg_fb old = fb_new(256, 128), new = fb_new(256, 128);
	for (int i = 0; i < 256 * 128; i++)
		old.px[i] = new.px[i] = rnd();
	struct pg_rect r = {32, 32, 96, 64};
	cr_assert_not(pg_diff_trim(&old, &new, &r), "nothing differs");
	cr_assert_eq(r.x, 32);
	cr_assert_eq(r.w, 96);
	/* A 4-row strip, and one pixel further right. */
	for (int y = 40; y < 44; y++)
		for (int x = 50; x < 70; x++)
			new.px[y * 256 + x] ^= 0x10101;
	new.px[60 * 256 + 100] ^= 1;
	cr_assert(pg_diff_trim(&old, &new, &r));
	cr_assert_eq(r.x, 50, "x %d", r.x);
	cr_assert_eq(r.y, 40, "y %d", r.y);
	cr_assert_eq(r.w, 51, "w %d", r.w);
	cr_assert_eq(r.h, 21, "h %d", r.h);
	/* A change outside r is not r's. */
	struct pg_rect s = {0, 0, 32, 32};
	new.px[5 * 256 + 5] ^= 1;
	cr_assert(pg_diff_trim(&old, &new, &s));
	cr_assert(s.x == 5 && s.y == 5 && s.w == 1 && s.h == 1);
	pg_fb_free(&old);
	pg_fb_free(&new);
}
