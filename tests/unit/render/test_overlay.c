/* Text overlays: opening fonts, rendering banners (Japanese included), refusing bad
 * text, and blending that matches a plain per-pixel reference at every edge. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "render/text.h"

#define BANNER_JA "このセッションはまもなく終了します — 残り 60 秒\nSession ends in 60 s"

static struct pg_font *open_jp(void)
{
	char err[256] = "";
	struct pg_font *f = pg_font_open(PG_FONT_NOTO_CJK, PG_FONT_NOTO_CJK_JP, err, sizeof(err));

	cr_assert(f, "%s (is fonts-noto-cjk installed? tools/install-deps.sh)", err);
	return f;
}

Test(font, missing_font_names_path)
{
	char err[256] = "";
	struct pg_font *f = pg_font_open("/nonexistent/pg-font.ttc", 0, err, sizeof(err));

	cr_assert_null(f);
	cr_assert(strstr(err, "/nonexistent/pg-font.ttc"), "%s", err);
	cr_assert(strstr(err, "No such file"), "%s", err);
}

Test(font, not_a_font)
{
	char err[256] = "";
	struct pg_font *f = pg_font_open(PG_SRC_DIR "/render/text.h", 0, err, sizeof(err));

	cr_assert_null(f);
	cr_assert(strstr(err, "render/text.h"), "%s", err);
}

Test(font, face_index_out_of_range)
{
	char err[256] = "";

	cr_assert_null(pg_font_open(PG_FONT_NOTO_CJK, 999, err, sizeof(err)));
	cr_assert(strstr(err, "face 999"), "%s", err);
	cr_assert_null(pg_font_open(PG_FONT_NOTO_CJK, -1, err, sizeof(err)));
}

Test(font, jp_face_is_japanese)
{
	struct pg_font *f = open_jp();

	cr_assert_str_eq(pg_font_name(f), "Noto Sans CJK JP Regular");
	pg_font_del(f);
	pg_font_del(NULL);
}

static size_t coverage(const struct pg_overlay *ov, uint32_t fg)
{
	size_t n = 0;

	for (size_t i = 0; i < (size_t)ov->w * ov->h; i++) {
		uint32_t p = ov->px[i], a = p >> 24;

		/* Premultiplied: no channel above alpha. */
		cr_assert_leq(p >> 16 & 0xff, a);
		cr_assert_leq(p >> 8 & 0xff, a);
		cr_assert_leq(p & 0xff, a);
		if ((p & 0xffffff) == fg && a == 255)
			n++;
	}
	return n;
}

Test(banner, japanese_renders)
{
	struct pg_font *f = open_jp();
	struct pg_overlay ov = {0};
	char err[256] = "";
	int rc = pg_overlay_banner(f, BANNER_JA, 24, 0xffffff, 0x000000, 255, 1920, &ov, err,
				   sizeof(err));

	cr_assert_eq(rc, 0, "%s", err);
	/* 2 lines of 24 px glyphs, about 26 full-width characters on the longest. */
	cr_assert(ov.w > 400 && ov.w < 1000, "w %d", ov.w);
	cr_assert(ov.h > 2 * 24 && ov.h < 4 * 24, "h %d", ov.h);
	/* White strokes on black: a good share of pixels is fully white. */
	size_t white = coverage(&ov, 0xffffff);
	cr_assert(white > 1000, "%zu white pixels", white);
	cr_assert(white < (size_t)ov.w * ov.h / 2, "%zu white pixels", white);
	/* Rounded corners: the very corner is transparent, the middle of an edge opaque. */
	cr_assert_eq(ov.px[0] >> 24, 0);
	cr_assert_eq(ov.px[ov.w / 2] >> 24, 255);
	pg_overlay_free(&ov);
	cr_assert_null(ov.px);
	pg_font_del(f);
}

Test(banner, transparent_background_only_text)
{
	struct pg_font *f = open_jp();
	struct pg_overlay ov = {0};
	char err[256] = "";
	size_t clear = 0;

	cr_assert_eq(
	    pg_overlay_banner(f, "残り 60 秒", 20, 0xff0000, 0, 0, 800, &ov, err, sizeof(err)), 0,
	    "%s", err);
	for (size_t i = 0; i < (size_t)ov.w * ov.h; i++) {
		uint32_t p = ov.px[i];

		/* Red text only: green and blue stay zero. */
		cr_assert_eq(p & 0xffff, 0);
		clear += p == 0;
	}
	cr_assert(clear > (size_t)ov.w * ov.h / 2);
	cr_assert(coverage(&ov, 0xff0000) > 50);
	pg_overlay_free(&ov);
	pg_font_del(f);
}

Test(banner, shrinks_to_max_width)
{
	struct pg_font *f = open_jp();
	struct pg_overlay wide = {0}, narrow = {0}, tiny = {0};
	char err[256] = "";

	cr_assert_eq(
	    pg_overlay_banner(f, BANNER_JA, 32, 0xffffff, 0, 200, 4000, &wide, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(pg_overlay_banner(f, BANNER_JA, 32, 0xffffff, 0, 200, wide.w / 2, &narrow, err,
				       sizeof(err)),
		     0, "%s", err);
	cr_assert_leq(narrow.w, wide.w / 2);
	cr_assert(narrow.w > wide.w / 3, "%d vs %d", narrow.w, wide.w);
	cr_assert_lt(narrow.h, wide.h);
	/* Too narrow even at the smallest size: cut at max_w. */
	cr_assert_eq(
	    pg_overlay_banner(f, BANNER_JA, 32, 0xffffff, 0, 200, 40, &tiny, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(tiny.w, 40);
	pg_overlay_free(&wide);
	pg_overlay_free(&narrow);
	pg_overlay_free(&tiny);
	pg_font_del(f);
}

Test(banner, refuses_bad_text)
{
	static const struct {
		const char *text;
		int rc;
	} bad[] = {
	    {"", -EINVAL},
	    {"tab\there", -EINVAL},
	    {"cr\r\n", -EINVAL},
	    {"\xc2\x85 NEL", -EINVAL},
	    {"\xff", -EILSEQ},
	    {"trunc \xe3\x81", -EILSEQ},
	    {"cont \x80", -EILSEQ},
	    {"overlong \xc0\xaf", -EILSEQ},
	    {"overlong \xe0\x80\xaf", -EILSEQ},
	    {"surrogate \xed\xa0\x80", -EILSEQ},
	    {"too high \xf4\x90\x80\x80", -EILSEQ},
	    {"\xf8\x88\x80\x80\x80", -EILSEQ},
	    {"1\n2\n3\n4\n5\n6\n7\n8\n9", -E2BIG},
	};
	struct pg_font *f = open_jp();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pg_overlay ov = {0};
		char err[256] = "";
		int rc = pg_overlay_banner(f, bad[i].text, 20, 0xffffff, 0, 255, 800, &ov, err,
					   sizeof(err));

		cr_assert_eq(rc, bad[i].rc, "case %zu: %d (%s)", i, rc, err);
		cr_assert(err[0], "case %zu", i);
		cr_assert_null(ov.px);
	}
	pg_font_del(f);
}

Test(banner, limits)
{
	struct pg_font *f = open_jp();
	struct pg_overlay ov = {0};
	char err[256], text[4 * PG_OVERLAY_MAX_CHARS + 8];

	/* Exactly PG_OVERLAY_MAX_CHARS code points is fine, one more is not. */
	text[0] = 0;
	for (int i = 0; i < PG_OVERLAY_MAX_CHARS; i++)
		strcat(text, "あ");
	cr_assert_eq(pg_overlay_banner(f, text, 8, 0, 0, 255, 8192, &ov, err, sizeof(err)), 0, "%s",
		     err);
	pg_overlay_free(&ov);
	strcat(text, "a");
	cr_assert_eq(pg_overlay_banner(f, text, 8, 0, 0, 255, 8192, &ov, err, sizeof(err)), -E2BIG);
	/* Exactly PG_OVERLAY_MAX_LINES lines is fine. */
	cr_assert_eq(pg_overlay_banner(f, "1\n2\n3\n4\n5\n6\n7\n8", 256, 0, 0, 255, 8192, &ov, err,
				       sizeof(err)),
		     0, "%s", err);
	cr_assert_leq(ov.h, PG_FB_MAX_SIDE);
	pg_overlay_free(&ov);
	/* Sizes and widths out of range. */
	cr_assert_eq(pg_overlay_banner(f, "x", 7, 0, 0, 255, 800, &ov, err, sizeof(err)), -EINVAL);
	cr_assert_eq(pg_overlay_banner(f, "x", 257, 0, 0, 255, 800, &ov, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(pg_overlay_banner(f, "x", 20, 0, 0, 255, 0, &ov, err, sizeof(err)), -EINVAL);
	cr_assert_eq(pg_overlay_banner(f, "x", 20, 0, 0, 255, 8193, &ov, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(pg_overlay_banner(f, NULL, 20, 0, 0, 255, 800, &ov, err, sizeof(err)),
		     -EINVAL);
	cr_assert_null(ov.px);
	pg_font_del(f);
}

Test(banner, copy_is_deep)
{
	struct pg_font *f = open_jp();
	struct pg_overlay a = {0}, b = {0}, e = {0}, e2 = {0};
	char err[256];

	cr_assert_eq(
	    pg_overlay_banner(f, "コピー", 16, 0xffffff, 0x202020, 180, 800, &a, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(pg_overlay_copy(&b, &a), 0);
	cr_assert_eq(b.w, a.w);
	cr_assert_eq(b.h, a.h);
	cr_assert_neq(b.px, a.px);
	cr_assert(memcmp(a.px, b.px, (size_t)a.w * a.h * 4) == 0);
	pg_overlay_free(&a);
	b.px[0] ^= 1; /* still ours to write */
	pg_overlay_free(&b);
	cr_assert_eq(pg_overlay_copy(&e2, &e), 0);
	cr_assert_null(e2.px);
	pg_font_del(f);
}

/* Drawing. A hand-made overlay with every kind of pixel, and a reference blend written
 * the obvious way, one pixel at a time, in floating point. */

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static struct pg_overlay make_overlay(int w, int h, uint32_t seed)
{
	struct pg_overlay ov = {w, h, calloc((size_t)w * h, 4)};

	cr_assert(ov.px);
	for (int i = 0; i < w * h; i++) {
		uint32_t r = rnd(&seed), a;

		switch (r % 4) {
		case 0:
			a = 0;
			break;
		case 1:
			a = 255;
			break;
		default:
			a = r >> 8 & 0xff;
		}
		uint32_t p = a << 24;
		for (int sh = 0; sh <= 16; sh += 8)
			p |= (a ? rnd(&seed) % (a + 1) : 0) << sh;
		ov.px[i] = p;
	}
	return ov;
}

static void fill_random(struct pg_fb *fb, uint32_t seed)
{
	for (int i = 0; i < fb->w * fb->h; i++)
		fb->px[i] = rnd(&seed) & 0xffffff;
}

static void reference_draw(struct pg_fb *fb, const struct pg_overlay *ov, int x, int y,
			   const struct pg_rect *clip)
{
	for (int fy = 0; fy < fb->h; fy++) {
		for (int fx = 0; fx < fb->w; fx++) {
			long long ox = (long long)fx - x, oy = (long long)fy - y;

			if (ox < 0 || oy < 0 || ox >= ov->w || oy >= ov->h)
				continue;
			if (clip && (fx < clip->x || fy < clip->y ||
				     (long long)fx >= (long long)clip->x + clip->w ||
				     (long long)fy >= (long long)clip->y + clip->h))
				continue;
			uint32_t s = ov->px[oy * ov->w + ox], d = fb->px[fy * fb->stride + fx];
			double a = (s >> 24) / 255.0;
			uint32_t out = 0;

			for (int sh = 0; sh <= 16; sh += 8) {
				double v = (s >> sh & 0xff) + (d >> sh & 0xff) * (1.0 - a);
				out |= (uint32_t)(long)(v + 0.5) << sh;
			}
			fb->px[fy * fb->stride + fx] = out;
		}
	}
}

static void check_draw(const struct pg_overlay *ov, int fw, int fh, int x, int y,
		       const struct pg_rect *clip)
{
	struct pg_fb got, want;

	cr_assert_eq(pg_fb_alloc(&got, fw, fh), 0);
	cr_assert_eq(pg_fb_alloc(&want, fw, fh), 0);
	fill_random(&got, 99);
	fill_random(&want, 99);
	pg_overlay_draw(&got, ov, x, y, clip);
	reference_draw(&want, ov, x, y, clip);
	for (int i = 0; i < fw * fh; i++)
		cr_assert_eq(got.px[i], want.px[i],
			     "fb %dx%d at (%d,%d) clip %s{%d,%d,%d,%d}: pixel (%d,%d) %06x != %06x",
			     fw, fh, x, y, clip ? "" : "NULL", clip ? clip->x : 0,
			     clip ? clip->y : 0, clip ? clip->w : 0, clip ? clip->h : 0, i % fw,
			     i / fw, got.px[i], want.px[i]);
	pg_fb_free(&got);
	pg_fb_free(&want);
}

Test(draw, matches_reference_at_every_edge)
{
	struct pg_overlay small = make_overlay(7, 5, 1), big = make_overlay(30, 25, 2);
	const int pos[] = {-40, -31, -30, -29, -7, -6, -1, 0, 1, 5, 13, 14, 19, 20, 21, 40};
	const struct pg_rect clips[] = {
	    {0, 0, 20, 14},	  {-5, -5, 100, 100},
	    {3, 2, 5, 4},	  {-3, -3, 6, 6},
	    {15, 10, 20, 20},	  {19, 13, 1, 1},
	    {0, 0, 1, 14},	  {5, 0, 3, 14},
	    {20, 0, 5, 5},	  {INT_MIN, INT_MIN, INT_MAX, INT_MAX},
	    {-10, 4, INT_MAX, 2},
	};

	for (size_t a = 0; a < sizeof(pos) / sizeof(pos[0]); a++) {
		for (size_t b = 0; b < sizeof(pos) / sizeof(pos[0]); b++) {
			check_draw(&small, 20, 14, pos[a], pos[b], NULL);
			check_draw(&big, 20, 14, pos[a], pos[b], NULL);
			for (size_t c = 0; c < sizeof(clips) / sizeof(clips[0]); c++) {
				check_draw(&small, 20, 14, pos[a], pos[b], &clips[c]);
				check_draw(&big, 20, 14, pos[a], pos[b], &clips[c]);
			}
		}
	}
	/* Extreme positions must not overflow. */
	check_draw(&small, 20, 14, INT_MAX, INT_MAX, NULL);
	check_draw(&small, 20, 14, INT_MIN, INT_MIN, NULL);
	check_draw(&big, 20, 14, INT_MAX - 10, -5, &clips[9]);
	pg_overlay_free(&small);
	pg_overlay_free(&big);
}

Test(draw, honours_stride)
{
	struct pg_overlay ov = make_overlay(9, 9, 3);
	uint32_t mem[16 * 12], before[16 * 12];
	struct pg_fb view = {mem + 16 + 2, 10, 8, 16}; /* a 10x8 window into a 16x12 buffer */
	struct pg_fb full = {mem, 16, 12, 16};
	struct pg_rect win = {2, 1, 10, 8};

	fill_random(&full, 5);
	memcpy(before, mem, sizeof(mem));
	pg_overlay_draw(&view, &ov, 4, -2, NULL);
	/* Nothing outside the window changed. */
	for (int y = 0; y < 12; y++)
		for (int x = 0; x < 16; x++)
			if (x < win.x || y < win.y || x >= win.x + win.w || y >= win.y + win.h)
				cr_assert_eq(mem[y * 16 + x], before[y * 16 + x], "(%d,%d)", x, y);
	/* Inside, the same as drawing at the shifted place in the whole buffer. */
	uint32_t ref[16 * 12];
	struct pg_fb rfb = {ref, 16, 12, 16};

	memcpy(ref, before, sizeof(ref));
	reference_draw(&rfb, &ov, 4 + win.x, -2 + win.y, &win);
	cr_assert(memcmp(ref, mem, sizeof(mem)) == 0);
	pg_overlay_free(&ov);
}

Test(draw, empty_clip_changes_nothing)
{
	struct pg_overlay ov = make_overlay(10, 10, 4);
	const struct pg_rect empty[] = {{0, 0, 0, 0}, {2, 2, 0, 5}, {2, 2, 5, -1}, {50, 50, 5, 5}};
	struct pg_fb fb, orig;

	pg_fb_alloc(&fb, 12, 12);
	pg_fb_alloc(&orig, 12, 12);
	fill_random(&fb, 7);
	memcpy(orig.px, fb.px, 12 * 12 * 4);
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		pg_overlay_draw(&fb, &ov, 0, 0, &empty[i]);
		cr_assert(memcmp(fb.px, orig.px, 12 * 12 * 4) == 0, "clip %zu", i);
	}
	/* An empty overlay too. */
	struct pg_overlay none = {0};
	pg_overlay_draw(&fb, &none, 0, 0, NULL);
	cr_assert(memcmp(fb.px, orig.px, 12 * 12 * 4) == 0);
	pg_fb_free(&fb);
	pg_fb_free(&orig);
	pg_overlay_free(&ov);
}

Test(draw, transparent_keeps_opaque_replaces)
{
	uint32_t clear[4] = {0, 0, 0, 0};
	uint32_t solid[4] = {0xff123456, 0xffffffff, 0xff000000, 0xffabcdef};
	struct pg_overlay c = {2, 2, clear}, s = {2, 2, solid};
	uint32_t px[4] = {0x808080, 0x010203, 0xffffff, 0x000000};
	struct pg_fb fb = {px, 2, 2, 2};

	pg_overlay_draw(&fb, &c, 0, 0, NULL);
	cr_assert_eq(px[0], 0x808080);
	cr_assert_eq(px[1], 0x010203);
	cr_assert_eq(px[2], 0xffffff);
	cr_assert_eq(px[3], 0x000000);
	pg_overlay_draw(&fb, &s, 0, 0, NULL);
	cr_assert_eq(px[0], 0x123456);
	cr_assert_eq(px[1], 0xffffff);
	cr_assert_eq(px[2], 0x000000);
	cr_assert_eq(px[3], 0xabcdef);
}

Test(draw, banner_background_replaces_and_corners_keep)
{
	struct pg_font *f = open_jp();
	struct pg_overlay ov = {0};
	struct pg_fb fb;
	char err[256];

	cr_assert_eq(
	    pg_overlay_banner(f, "テスト", 20, 0xffffff, 0x0000ff, 255, 800, &ov, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(pg_fb_alloc(&fb, ov.w + 10, ov.h + 10), 0);
	pg_fb_fill(&fb, &(struct pg_rect){0, 0, fb.w, fb.h}, 0x808080);
	pg_overlay_draw(&fb, &ov, 5, 5, NULL);
	/* Corner of the rounded rectangle: transparent, grey stays. */
	cr_assert_eq(fb.px[5 * fb.stride + 5], 0x808080);
	/* Left edge, half-way down: padding on opaque blue. */
	cr_assert_eq(fb.px[(5 + ov.h / 2) * fb.stride + 6], 0x0000ff);
	/* Outside the overlay: untouched. */
	cr_assert_eq(fb.px[0], 0x808080);
	cr_assert_eq(fb.px[(fb.h - 1) * fb.stride + fb.w - 1], 0x808080);
	pg_fb_free(&fb);
	pg_overlay_free(&ov);
	pg_font_del(f);
}
