/* The invisible watermark: drawing is bounded, exact per channel and independent of how
 * the frame is cut into rectangles; reading finds the code on five kinds of page at any
 * crop offset and through JPEG, and never names a code that was not drawn. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <turbojpeg.h>
#include <zlib.h>

#include "render/mark.h"
#include "render/text.h"

#define CODE 0x1234abcdu

static uint64_t rng = 1;

static uint32_t rnd(void)
{
	rng = rng * 6364136223846793005u + 1442695040888963407u;
	return (uint32_t)(rng >> 33);
}

static struct pg_fb new_fb(int w, int h)
{
	struct pg_fb fb;

	cr_assert_eq(pg_fb_alloc(&fb, w, h), 0);
	return fb;
}

static void fill(struct pg_fb *fb, uint32_t px)
{
	pg_fb_fill(fb, &(struct pg_rect){0, 0, fb->w, fb->h}, px);
}

/* Dense Japanese and Latin text, black on white, with no margins: harder than a real page. */
static void page_text(struct pg_fb *fb)
{
	char err[256] = "";
	struct pg_font *f = pg_font_open(PG_FONT_NOTO_CJK, PG_FONT_NOTO_CJK_JP, err, sizeof(err));
	struct pg_overlay ov = {0};

	cr_assert(f, "%s (is fonts-noto-cjk installed? tools/install-deps.sh)", err);
	fill(fb, 0xffffff);
	cr_assert_eq(
	    pg_overlay_banner(f,
			      "住民記録システムの操作手順について、次の項目を確認してく"
			      "ださい。\n申請書の受付番号 2024-000123 は担当課で管理されて"
			      "います。\nThe quick brown fox jumps over the lazy dog 0123456789",
			      16, 0x000000, 0xffffff, 0, 4000, &ov, err, sizeof(err)),
	    0, "%s", err);
	for (int y = 0; y < fb->h; y += ov.h)
		for (int x = 0; x < fb->w; x += ov.w)
			pg_overlay_draw(fb, &ov, x, y, NULL);
	pg_overlay_free(&ov);
	pg_font_del(f);
}

/* Gradients, large soft blocks and +/-16 levels of noise on every channel. */
static void page_photo(struct pg_fb *fb, uint64_t seed)
{
	rng = seed;
	for (int y = 0; y < fb->h; y++)
		for (int x = 0; x < fb->w; x++) {
			int c[3] = {40 + x * 150 / fb->w,
				    60 + y * 120 / fb->h + (((x / 97) ^ (y / 61)) & 1) * 30,
				    120 + 60 * ((x * y) % 1000) / 1000};
			uint32_t p = 0;

			for (int i = 0; i < 3; i++) {
				int v = c[i] + (int)(rnd() % 33) - 16;

				p = p << 8 | (uint32_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
			fb->px[(size_t)y * fb->stride + x] = p;
		}
}

enum page { WHITE, BLACK, GREY, TEXT, PHOTO, NPAGES };
static const char *const page_name[NPAGES] = {"white", "black", "mid-grey", "text", "photo"};

static struct pg_fb make_page(enum page p, int w, int h)
{
	struct pg_fb fb = new_fb(w, h);

	switch (p) {
	case WHITE:
		fill(&fb, 0xffffff);
		break;
	case BLACK:
		fill(&fb, 0);
		break;
	case GREY:
		fill(&fb, 0x808080);
		break;
	case TEXT:
		page_text(&fb);
		break;
	default:
		page_photo(&fb, 42);
		break;
	}
	return fb;
}

/* A screenshot that starts (ox, oy) into the screen: a view, nothing copied. */
static struct pg_fb crop(const struct pg_fb *fb, int ox, int oy)
{
	return (struct pg_fb){fb->px + (size_t)oy * fb->stride + ox, fb->w - ox, fb->h - oy,
			      fb->stride};
}

static unsigned char *to_rgb(const struct pg_fb *fb)
{
	unsigned char *rgb = malloc((size_t)fb->w * fb->h * 3), *o = rgb;

	cr_assert_not_null(rgb);
	for (int y = 0; y < fb->h; y++)
		for (int x = 0; x < fb->w; x++, o += 3) {
			uint32_t p = fb->px[(size_t)y * fb->stride + x];

			o[0] = (unsigned char)(p >> 16);
			o[1] = (unsigned char)(p >> 8);
			o[2] = (unsigned char)p;
		}
	return rgb;
}

/* src through TurboJPEG at quality q with 4:2:0 chroma, as most tools save screenshots;
 * the JPEG itself goes to *jpeg when asked for. */
static struct pg_fb through_jpeg(const struct pg_fb *src, int q, unsigned char **jpeg,
				 unsigned long *jpeg_len)
{
	tjhandle c = tjInitCompress(), d = tjInitDecompress();
	unsigned char *rgb = to_rgb(src), *j = NULL;
	unsigned long jl = 0;
	struct pg_fb out = new_fb(src->w, src->h);

	cr_assert(c && d);
	cr_assert_eq(tjCompress2(c, rgb, src->w, 0, src->h, TJPF_RGB, &j, &jl, TJSAMP_420, q, 0), 0,
		     "%s", tjGetErrorStr2(c));
	cr_assert_eq(tjDecompress2(d, j, jl, rgb, src->w, 0, src->h, TJPF_RGB, 0), 0, "%s",
		     tjGetErrorStr2(d));
	for (size_t i = 0; i < (size_t)src->w * src->h; i++)
		out.px[i] =
		    (uint32_t)rgb[3 * i] << 16 | (uint32_t)rgb[3 * i + 1] << 8 | rgb[3 * i + 2];
	if (jpeg) {
		*jpeg = j;
		*jpeg_len = jl;
	} else {
		tjFree(j);
	}
	free(rgb);
	tjDestroy(c);
	tjDestroy(d);
	return out;
}

static int read_code(const struct pg_fb *img, uint32_t *code, double *conf)
{
	*code = 0;
	*conf = 0;
	return pg_mark_read(img, code, conf);
}

/* ---- drawing ---- */

Test(mark_draw, matches_per_channel_reference)
{
	/* Every channel value, every top byte pattern, against plain clamped arithmetic. */
	struct pg_fb fb = new_fb(256, 256), grey = new_fb(256, 256);

	for (int y = 0; y < 256; y++)
		for (int x = 0; x < 256; x++)
			fb.px[y * 256 + x] =
			    (uint32_t)(x << 16 | y << 8 | (x ^ y)) | (x & 1 ? 0xab000000u : 0);
	struct pg_fb orig = new_fb(256, 256);
	memcpy(orig.px, fb.px, 256 * 256 * 4);
	fill(&grey, 0x808080);
	pg_mark_draw(&grey, CODE, NULL);
	pg_mark_draw(&fb, CODE, NULL);
	for (int i = 0; i < 256 * 256; i++) {
		int d = (int)(grey.px[i] & 0xff) - 128;
		uint32_t want = orig.px[i] & 0xff000000u;

		cr_assert(d == PG_MARK_AMPLITUDE || d == -PG_MARK_AMPLITUDE);
		cr_assert_eq(grey.px[i], 0x808080u + (uint32_t)(d * 0x010101));
		for (int sh = 0; sh <= 16; sh += 8) {
			int v = (int)(orig.px[i] >> sh & 0xff) + d;

			want |= (uint32_t)(v < 0 ? 0 : v > 255 ? 255 : v) << sh;
		}
		cr_assert_eq(fb.px[i], want, "pixel %d: %08x -> %08x, want %08x (delta %d)", i,
			     orig.px[i], fb.px[i], want, d);
	}
	pg_fb_free(&fb);
	pg_fb_free(&grey);
	pg_fb_free(&orig);
}

Test(mark_draw, rect_by_rect_equals_whole)
{
	struct pg_fb whole = make_page(PHOTO, 701, 499), parts = make_page(PHOTO, 701, 499);
	int xs[16], ys[16], nx = 0, ny = 0;

	pg_mark_draw(&whole, CODE, NULL);
	/* Cut the frame at random columns and rows, as damage rectangles fall. */
	rng = 7;
	xs[nx++] = 0;
	while (xs[nx - 1] < whole.w && nx < 15)
		xs[nx] = xs[nx - 1] + 1 + (int)(rnd() % 90), nx++;
	xs[nx - 1] = whole.w;
	ys[ny++] = 0;
	while (ys[ny - 1] < whole.h && ny < 15)
		ys[ny] = ys[ny - 1] + 1 + (int)(rnd() % 70), ny++;
	ys[ny - 1] = whole.h;
	for (int j = 0; j + 1 < ny; j++)
		for (int i = 0; i + 1 < nx; i++)
			pg_mark_draw(
			    &parts, CODE,
			    &(struct pg_rect){xs[i], ys[j], xs[i + 1] - xs[i], ys[j + 1] - ys[j]});
	cr_assert_eq(memcmp(whole.px, parts.px, (size_t)whole.w * whole.h * 4), 0);
	pg_fb_free(&whole);
	pg_fb_free(&parts);
}

Test(mark_draw, independent_of_frame_size)
{
	/* The same pixels in a smaller frame (another stride) get the same change. */
	struct pg_fb big = make_page(PHOTO, 600, 400);
	struct pg_fb small = new_fb(333, 222);

	pg_fb_copy_rect(&small, &(struct pg_fb){big.px, 333, 222, big.stride},
			&(struct pg_rect){0, 0, 333, 222});
	pg_mark_draw(&big, CODE, NULL);
	pg_mark_draw(&small, CODE, NULL);
	for (int y = 0; y < 222; y++)
		cr_assert_eq(memcmp(small.px + y * small.stride, big.px + y * big.stride, 333 * 4),
			     0, "row %d", y);
	pg_fb_free(&big);
	pg_fb_free(&small);
}

Test(mark_draw, clip_and_bad_arguments)
{
	struct pg_fb fb = new_fb(100, 50), orig = new_fb(100, 50);
	const struct pg_rect clips[] = {
	    {-5, -5, 10, 10},
	    {90, 40, INT_MAX, INT_MAX},
	    {INT_MIN, INT_MIN, INT_MAX, INT_MAX},
	    {INT_MAX, 0, INT_MAX, 5},
	    {100, 0, 5, 5},
	    {0, 0, 0, 10},
	    {10, 10, -3, 5},
	    {50, 20, 7, 3},
	};

	fill(&fb, 0x808080);
	memcpy(orig.px, fb.px, 100 * 50 * 4);
	for (size_t i = 0; i < sizeof(clips) / sizeof(clips[0]); i++) {
		/* In long long: the clips' own sums overflow an int. */
		const struct pg_rect *c = &clips[i];
		long long x0 = c->x > 0 ? c->x : 0, y0 = c->y > 0 ? c->y : 0;
		long long x1 = (long long)c->x + c->w, y1 = (long long)c->y + c->h;
		bool empty = c->w <= 0 || c->h <= 0;

		memcpy(fb.px, orig.px, 100 * 50 * 4);
		pg_mark_draw(&fb, CODE, &clips[i]);
		for (int y = 0; y < 50; y++)
			for (int x = 0; x < 100; x++) {
				bool inside = !empty && x >= x0 && x < x1 && y >= y0 && y < y1;

				cr_assert_eq(fb.px[y * 100 + x] != 0x808080, inside,
					     "clip %zu at %d,%d", i, x, y);
			}
	}
	pg_mark_draw(NULL, CODE, NULL);
	pg_mark_draw(&(struct pg_fb){NULL, 10, 10, 10}, CODE, NULL);
	pg_mark_draw(&(struct pg_fb){fb.px, 0, 10, 10}, CODE, NULL);
	pg_fb_free(&fb);
	pg_fb_free(&orig);
}

static double psnr(const struct pg_fb *a, const struct pg_fb *b, int *max_change)
{
	double se = 0;

	*max_change = 0;
	for (size_t i = 0; i < (size_t)a->w * a->h; i++)
		for (int sh = 0; sh <= 16; sh += 8) {
			int d = (int)(a->px[i] >> sh & 0xff) - (int)(b->px[i] >> sh & 0xff);

			se += d * d;
			if (abs(d) > *max_change)
				*max_change = abs(d);
		}
	se /= 3.0 * a->w * a->h;
	return se ? 10 * log10(255.0 * 255.0 / se) : INFINITY;
}

Test(mark_draw, invisible)
{
	for (int p = 0; p < NPAGES; p++) {
		struct pg_fb fb = make_page(p, 512, 512), orig = make_page(p, 512, 512);
		int max_change;
		double db;

		pg_mark_draw(&fb, CODE, NULL);
		db = psnr(&fb, &orig, &max_change);
		cr_log_info("visibility %-8s max change %d level(s) per channel, PSNR %.1f dB",
			    page_name[p], max_change, db);
		cr_assert_leq(max_change, PG_MARK_AMPLITUDE);
		cr_assert_geq(db, 42.0);
		pg_fb_free(&fb);
		pg_fb_free(&orig);
	}
}

/* ---- reading ---- */

/* Under AddressSanitizer (the suite's second pass, which looks for memory errors, not
 * robustness figures) every read is ten times slower: the ladders and offset lists
 * are thinned to a few steps there, each kept step as strict. */
#ifdef __SANITIZE_ADDRESS__
#define SAN_STEP 3
#else
#define SAN_STEP 1
#endif

/* Offsets across a cell (0-7), across the 256-pixel tile, and a title bar's. */
static void every_offset(enum page p)
{
	static const int off[][2] = {{0, 0}, {1, 0},   {0, 1},	   {7, 7},   {3, 5},
				     {8, 8}, {37, 29}, {131, 250}, {255, 1}, {250, 255}};
	struct pg_fb fb = make_page(p, 600, 560);

	pg_mark_draw(&fb, CODE, NULL);
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i += SAN_STEP) {
		struct pg_fb shot = crop(&fb, off[i][0], off[i][1]);
		uint32_t code;
		double conf;
		int rc = read_code(&shot, &code, &conf);

		cr_assert_eq(rc, 0, "%s at +%d+%d: %d", page_name[p], off[i][0], off[i][1], rc);
		cr_assert_eq(code, CODE, "%s: %08x", page_name[p], code);
		cr_assert_geq(conf, 2.0);
	}
	pg_fb_free(&fb);
}

Test(mark_offset, white)
{
	every_offset(WHITE);
}

Test(mark_offset, black)
{
	every_offset(BLACK);
}

Test(mark_offset, grey)
{
	every_offset(GREY);
}

Test(mark_offset, text)
{
	every_offset(TEXT);
}

Test(mark_offset, photo)
{
	every_offset(PHOTO);
}

/* Through JPEG at falling quality; the table goes to the log (docs/watermark-invisible.md
 * shows it). A wrong code is a failure at any quality; a missed one only at 50 and up. */
static void jpeg_ladder(enum page p)
{
	static const int qs[] = {95, 90, 80, 70, 60, 50, 40, 30};
	struct pg_fb fb = make_page(p, 800, 620);
	char line[256];
	int n = snprintf(line, sizeof(line), "jpeg %-8s", page_name[p]);
	struct pg_fb shot = crop(&fb, 37, 29);

	pg_mark_draw(&fb, CODE, NULL);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i += SAN_STEP) {
		struct pg_fb back = through_jpeg(&shot, qs[i], NULL, NULL);
		uint32_t code;
		double conf;
		int rc = read_code(&back, &code, &conf);

		cr_assert(rc == 0 || rc == -ENOENT);
		cr_assert(rc || code == CODE, "%s q%d: wrong code %08x", page_name[p], qs[i], code);
		if (qs[i] >= 50)
			cr_assert_eq(rc, 0, "%s q%d: not found", page_name[p], qs[i]);
		n += snprintf(line + n, sizeof(line) - (size_t)n, " q%d:%s", qs[i],
			      rc ? "--" : "ok");
		if (!rc)
			n += snprintf(line + n, sizeof(line) - (size_t)n, "(%.1f)", conf);
		pg_fb_free(&back);
	}
	cr_log_info("%s", line);
	pg_fb_free(&fb);
}

Test(mark_jpeg, white)
{
	jpeg_ladder(WHITE);
}

Test(mark_jpeg, black)
{
	jpeg_ladder(BLACK);
}

Test(mark_jpeg, grey)
{
	jpeg_ladder(GREY);
}

Test(mark_jpeg, text)
{
	jpeg_ladder(TEXT);
}

Test(mark_jpeg, photo)
{
	jpeg_ladder(PHOTO);
}

Test(mark_read, distinct_codes)
{
	uint32_t codes[12] = {0, 0xffffffffu, 1, 0x80000000u, CODE, 0x00010000u};

	rng = 99;
	for (int i = 6; i < 12; i++)
		codes[i] = rnd() ^ rnd() << 16;
	for (int i = 0; i < 12; i++) {
		struct pg_fb fb = make_page(i % 2 ? WHITE : PHOTO, 400, 300);
		uint32_t code;
		double conf;

		pg_mark_draw(&fb, codes[i], NULL);
		struct pg_fb shot = crop(&fb, i * 13 % 256, i * 29 % 40);
		cr_assert_eq(read_code(&shot, &code, &conf), 0, "code %08x", codes[i]);
		cr_assert_eq(code, codes[i], "drew %08x, read %08x", codes[i], code);
		pg_fb_free(&fb);
	}
}

Test(mark_read, unmarked_pages_have_no_mark)
{
	int n = 0;

	/* The five pages, plain and through JPEG. */
	for (int p = 0; p < NPAGES; p++) {
		struct pg_fb fb = make_page(p, 640, 480);
		struct pg_fb j = through_jpeg(&fb, 75, NULL, NULL);
		uint32_t code;
		double conf;

		cr_assert_eq(read_code(&fb, &code, &conf), -ENOENT, "%s", page_name[p]);
		cr_assert_eq(read_code(&j, &code, &conf), -ENOENT, "%s jpeg", page_name[p]);
		pg_fb_free(&fb);
		pg_fb_free(&j);
		n += 2;
	}
	cr_log_info("unmarked: %d pages, no code read", n);
}

/* 40 pictures by default; PG_MARK_NULL_PICTURES=5000 in the environment for the
 * false-positive run docs/watermark-invisible.md quotes. */
Test(mark_read, random_pictures_have_no_mark)
{
	const char *env = getenv("PG_MARK_NULL_PICTURES");
	int n = 0, count = env ? atoi(env) : 40 / SAN_STEP;

	/* Random pictures of random sizes: noise, stripes and checks of every period, noisy
	 * near-white pages, photos. */
	for (int i = 0; i < count; i++) {
		uint64_t seed = 1000 + (uint64_t)i;
		int w, h;

		rng = seed;
		w = 24 + (int)(rnd() % 400);
		h = 24 + (int)(rnd() % 300);
		struct pg_fb fb = new_fb(w, h);
		int a = 1 + (int)(rnd() % 19), b = 1 + (int)(rnd() % 19);
		uint32_t code;
		double conf;

		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				uint32_t *px = &fb.px[y * w + x];

				switch (i % 4) {
				case 0:
					*px = rnd() & 0xffffff;
					break;
				case 1:
					*px = ((x / a) ^ (y / b)) & 1 ? 0xffffff : 0x202020;
					break;
				case 2:
					*px = 0xf0f0f0 + rnd() % 4 * 0x010101;
					break;
				default:
					break;
				}
			}
		if (i % 4 == 3)
			page_photo(&fb, seed);
		cr_assert_eq(read_code(&fb, &code, &conf), -ENOENT, "picture %d (%dx%d): %08x", i,
			     w, h, code);
		pg_fb_free(&fb);
		n++;
	}
	cr_log_info("unmarked: %d random pictures, no code read", n);
}

Test(mark_read, scaled_screenshot_gives_no_wrong_code)
{
	/* Scaling moves the cells off the 8-pixel grid: the mark is lost, never misread. */
	static const double scales[] = {0.5, 0.8, 0.9, 0.99, 1.01, 1.1, 1.25, 1.5, 2.0};
	struct pg_fb fb = make_page(WHITE, 700, 500);

	pg_mark_draw(&fb, CODE, NULL);
	for (size_t i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
		int w = (int)(700 * scales[i]), h = (int)(500 * scales[i]);
		struct pg_fb s = new_fb(w, h);
		uint32_t code;
		double conf;
		int rc;

		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				s.px[y * w + x] =
				    fb.px[(int)(y / scales[i]) * 700 + (int)(x / scales[i])];
		rc = read_code(&s, &code, &conf);
		cr_assert(rc == -ENOENT || code == CODE, "scale %.2f: %08x", scales[i], code);
		cr_log_info("scaled x%.2f: %s", scales[i], rc ? "no mark found" : "read");
		pg_fb_free(&s);
	}
	pg_fb_free(&fb);
}

Test(mark_read, smallest_crop)
{
	/* The smallest square screenshot (from a title bar's offset) that still reads. */
	for (int p = 0; p < NPAGES; p++) {
		struct pg_fb fb = make_page(p, 600, 600);
		int side = 0;

		pg_mark_draw(&fb, CODE, NULL);
		for (int s = 32; s <= 560; s += 16) {
			struct pg_fb shot = crop(&fb, 37, 29);
			uint32_t code;
			double conf;

			shot.w = shot.h = s;
			if (read_code(&shot, &code, &conf) == 0) {
				cr_assert_eq(code, CODE);
				side = s;
				break;
			}
		}
		cr_log_info("smallest crop %-8s %d x %d", page_name[p], side, side);
		cr_assert(side > 0 && side <= 400, "%s: %d", page_name[p], side);
		pg_fb_free(&fb);
	}
}

Test(mark_read, tiny_and_odd_sizes)
{
	static const int sides[] = {1, 2, 7, 8, 9, 22, 23, 24, 31, 33, 64, 257};
	uint32_t code;
	double conf;

	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++)
		for (size_t j = 0; j < sizeof(sides) / sizeof(sides[0]); j++) {
			int w = sides[i], h = sides[j];
			/* A stride wider than the picture, with a guard column. */
			struct pg_fb big = new_fb(w + 3, h);
			struct pg_fb fb = {big.px, w, h, big.stride};
			int rc;

			fill(&big, 0x606060);
			pg_mark_draw(&fb, CODE, NULL);
			for (int y = 0; y < h; y++)
				for (int x = w; x < w + 3; x++)
					cr_assert_eq(big.px[y * big.stride + x], 0x606060);
			rc = read_code(&fb, &code, &conf);
			cr_assert(rc == -ENOENT || (rc == 0 && code == CODE), "%dx%d: %d %08x", w,
				  h, rc, code);
			pg_fb_free(&big);
		}
	cr_assert_eq(pg_mark_read(NULL, &code, &conf), -EINVAL);
	cr_assert_eq(pg_mark_read(&(struct pg_fb){NULL, 10, 10, 10}, &code, &conf), -EINVAL);
	struct pg_fb fb = make_page(GREY, 300, 300);
	pg_mark_draw(&fb, CODE, NULL);
	cr_assert_eq(pg_mark_read(&fb, NULL, &conf), -EINVAL);
	cr_assert_eq(pg_mark_read(&fb, &code, NULL), 0, "confidence may be NULL");
	cr_assert_eq(code, CODE);
	pg_fb_free(&fb);
}

/* ---- pixelgate-mark ---- */

static char tmpdir[64];

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pg-mark-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* Run pixelgate-mark with args (file names relative to tmpdir); its exit status, and
 * its first line of standard output in out. */
static int run_tool(const char *args, char *out, size_t out_size)
{
	char cmd[512];
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s/pixelgate-mark' %s 2>stderr.txt", tmpdir,
		 PG_BIN_DIR, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	out[0] = '\0';
	if (!fgets(out, (int)out_size, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	st = pclose(p);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void read_stderr(char *buf, size_t size)
{
	char path[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

Test(mark_tool, embed_then_read_png_and_jpeg, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	struct pg_fb fb = make_page(TEXT, 640, 400);
	unsigned char *jpeg;
	unsigned long len;
	char out[256], err[1024];

	/* An unmarked JPEG in, a marked PNG out, read back. */
	struct pg_fb back = through_jpeg(&fb, 95, &jpeg, &len);

	pg_fb_free(&back);
	write_file("page.jpg", jpeg, len);
	tjFree(jpeg);
	cr_assert_eq(run_tool("read page.jpg", out, sizeof(out)), 1);
	cr_assert_str_eq(out, "no mark found");
	cr_assert_eq(run_tool("embed page.jpg marked.png 0xdeadbeef", out, sizeof(out)), 0);
	cr_assert_eq(run_tool("read marked.png", out, sizeof(out)), 0);
	cr_assert(strncmp(out, "code 0xdeadbeef confidence ", 27) == 0, "%s", out);

	/* The marked picture cropped and saved as JPEG at quality 80. */
	pg_mark_draw(&fb, 0xdeadbeef, NULL);
	struct pg_fb shot = crop(&fb, 5, 30);
	back = through_jpeg(&shot, 80, &jpeg, &len);
	pg_fb_free(&back);
	write_file("shot.jpg", jpeg, len);
	cr_assert_eq(run_tool("read shot.jpg", out, sizeof(out)), 0);
	cr_assert(strncmp(out, "code 0xdeadbeef confidence ", 27) == 0, "%s", out);

	/* Cut short: the mark is still in what is left, and the tool says it was cut. */
	write_file("short.jpg", jpeg, len * 2 / 3);
	cr_assert_eq(run_tool("read short.jpg", out, sizeof(out)), 0, "%s", out);
	read_stderr(err, sizeof(err));
	cr_assert(strstr(err, "warning"), "%s", err);
	tjFree(jpeg);
	pg_fb_free(&fb);
}

Test(mark_tool, bad_input, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	/* A PNG header claiming 65536 x 65536 pixels, which libpng itself would accept, and
	 * an empty IDAT so that libpng reads the header to its end. */
	unsigned char png[45] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', /* signature */
				 0,    0,   0,	 13,  'I',  'H',  'D',	'R',  0,    1,	  0,
				 0,    0,   1,	 0,   0,    8,	  2,	0,    0,    0, /* IHDR */
				 0,    0,   0,	 0,				       /* its CRC */
				 0,    0,   0,	 0,   'I',  'D',  'A',	'T',  0x35, 0xaf, 0x06,
				 0x1e}; /* IDAT */
	static const unsigned char jpeg_head[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I'};
	char out[256], err[1024];
	uLong crc = crc32(0, png + 12, 17);

	for (int i = 0; i < 4; i++)
		png[29 + i] = (unsigned char)(crc >> (24 - 8 * i));

	write_file("text.png", "hello", 5);
	cr_assert_eq(run_tool("read text.png", out, sizeof(out)), 2);
	read_stderr(err, sizeof(err));
	cr_assert(strstr(err, "text.png: neither PNG nor JPEG"), "%s", err);

	write_file("big.png", png, sizeof(png));
	cr_assert_eq(run_tool("read big.png", out, sizeof(out)), 2);
	read_stderr(err, sizeof(err));
	cr_assert(strstr(err, "big.png: 65536 x 65536 pixels"), "%s", err);

	write_file("bad.jpg", jpeg_head, sizeof(jpeg_head));
	cr_assert_eq(run_tool("read bad.jpg", out, sizeof(out)), 2);
	read_stderr(err, sizeof(err));
	cr_assert(strstr(err, "bad.jpg: not a readable JPEG"), "%s", err);

	cr_assert_eq(run_tool("read missing.png", out, sizeof(out)), 2);
	read_stderr(err, sizeof(err));
	cr_assert(strstr(err, "cannot open missing.png"), "%s", err);

	cr_assert_eq(run_tool("embed text.png out.png 0x123456789", out, sizeof(out)), 2);
	read_stderr(err, sizeof(err));
	cr_assert(strstr(err, "bad code"), "%s", err);
	cr_assert_eq(run_tool("embed text.png out.png xyz", out, sizeof(out)), 2);
	cr_assert_eq(run_tool("frobnicate", out, sizeof(out)), 2);
	cr_assert_eq(run_tool("read", out, sizeof(out)), 2);
}
