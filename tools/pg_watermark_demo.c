/* pg-watermark-demo: draws the visible watermark over a sample web page and writes
 * it as a PNG (the picture in docs/watermark.md), and measures what a watermark
 * costs: its memory, the time to render it, and the time to draw it over a full
 * 1920 x 1080 frame.
 *
 *   pg-watermark-demo [-t TEMPLATE] [-s SIZE] [-o OPACITY] [-a ANGLE] [-l LAYOUT]
 *                     [-c RRGGBB] [-w W -h H] [-p OUT.png] [-b ROUNDS]
 */
#include <errno.h>
#include <getopt.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "render/text.h"
#include "render/watermark.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void fill(struct pg_fb *fb, int x, int y, int w, int h, uint32_t px)
{
	struct pg_rect r =
	    pg_rect_intersect((struct pg_rect){x, y, w, h}, (struct pg_rect){0, 0, fb->w, fb->h});

	if (!pg_rect_empty(&r))
		pg_fb_fill(fb, &r, px);
}

static void text(struct pg_fb *fb, struct pg_font *font, const char *s, int px, uint32_t fg, int x,
		 int y)
{
	struct pg_overlay ov = {0};
	char err[256];

	if (pg_overlay_banner(font, s, px, fg, 0, 0, fb->w, &ov, err, sizeof(err)) == 0)
		pg_overlay_draw(fb, &ov, x, y, NULL);
	pg_overlay_free(&ov);
}

/* A municipal web page: a header, an article on white, a dark panel and a photo. */
static void sample_page(struct pg_fb *fb, struct pg_font *font)
{
	static const char *const para[] = {
	    "住民税の申告について、令和8年度の受付期間は2月16日から3月16日までです。",
	    "申告書は市役所本庁舎2階の税務課窓口、または各支所でお受け取りください。",
	    "マイナンバーカードをお持ちの方は、電子申告もご利用いただけます。",
	    "ご不明な点は税務課（内線2145）までお問い合わせください。",
	    "",
	    "国民健康保険料の納付は口座振替が便利です。金融機関の窓口でお申し込みください。",
	    "納期限を過ぎますと延滞金がかかる場合がありますのでご注意ください。",
	};
	int w = fb->w, h = fb->h, side = w * 3 / 10;

	fill(fb, 0, 0, w, h, 0xffffff);
	fill(fb, 0, 0, w, 56, 0x1d4e89);
	text(fb, font, "○○市 電子申請ポータル", 22, 0xffffff, 16, 12);
	fill(fb, 0, 56, w, 36, 0xe8eef6);
	text(fb, font, "ホーム ＞ くらし・手続き ＞ 税金", 14, 0x1d4e89, 16, 64);
	text(fb, font, "住民税・国民健康保険のお知らせ", 24, 0x202020, 24, 108);
	for (size_t i = 0; i < sizeof(para) / sizeof(para[0]); i++)
		if (para[i][0])
			text(fb, font, para[i], 15, 0x333333, 24, 160 + (int)i * 28);
	/* A dark side panel: the mark must read here as well as on white. */
	fill(fb, w - side, 92, side, h - 92, 0x1e1e1e);
	text(fb, font, "お知らせ", 18, 0xffffff, w - side + 16, 108);
	text(fb, font, "・窓口の混雑状況\n・休日開庁日のご案内\n・システム停止のお知らせ", 14,
	     0xdddddd, w - side + 16, 150);
	/* A photo-like gradient under the article. */
	for (int y = 380; y < h - 16; y++)
		for (int x = 24; x < w - side - 24; x++) {
			int r = 60 + x * 120 / w, g = 110 + (y - 380) * 100 / (h - 380),
			    b = 160 + ((x + y) % 64);

			fb->px[(size_t)y * fb->stride + x] = (uint32_t)(r << 16 | g << 8 | b);
		}
}

static int write_png(const struct pg_fb *fb, const char *path)
{
	FILE *f = fopen(path, "wb");
	png_structp png = NULL;
	png_infop info = NULL;
	png_bytep row = NULL;
	int rc = -EIO;

	if (!f)
		return -errno;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	row = malloc((size_t)fb->w * 3);
	if (!png || !info || !row)
		goto out;
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)fb->w, (png_uint_32)fb->h, 8, PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, 9);
	png_write_info(png, info);
	for (int y = 0; y < fb->h; y++) {
		for (int x = 0; x < fb->w; x++) {
			uint32_t p = fb->px[(size_t)y * fb->stride + x];

			row[3 * x] = (png_byte)(p >> 16);
			row[3 * x + 1] = (png_byte)(p >> 8);
			row[3 * x + 2] = (png_byte)p;
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	rc = 0;
out:
	png_destroy_write_struct(&png, &info);
	free(row);
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int main(int argc, char **argv)
{
	const char *tmpl = "{user}  {addr}\\n{date} {time}  {host}", *png_path = NULL;
	struct pg_wm_style st = {PG_WM_DEFAULT_PX, PG_WM_DEFAULT_OPACITY, PG_WM_DEFAULT_ANGLE,
				 PG_WM_DEFAULT_LAYOUT, PG_WM_DEFAULT_RGB};
	/* A fixed moment so the picture is the same every run (local time). */
	struct tm when = {.tm_year = 126,
			  .tm_mon = 10,
			  .tm_mday = 26,
			  .tm_hour = 14,
			  .tm_min = 5,
			  .tm_isdst = -1};
	struct pg_wm_vars vars = {"山田 太郎 (t-yamada)", "10.20.30.41", "7f3a9c", "relay01",
				  mktime(&when)};
	int w = 960, h = 600, rounds = 0, opt, rc = 1;
	char err[256], textbuf[PG_WM_TEXT_MAX];
	struct pg_font *font = NULL;
	struct pg_watermark wm = {0};
	struct pg_fb fb = {0}, big = {0};

	while ((opt = getopt(argc, argv, "t:s:o:a:l:c:w:h:p:b:")) != -1) {
		switch (opt) {
		case 't':
			tmpl = optarg;
			break;
		case 's':
			st.size_px = atoi(optarg);
			break;
		case 'o':
			st.opacity_pct = atoi(optarg);
			break;
		case 'a':
			st.angle_deg = atoi(optarg);
			break;
		case 'l':
			st.layout = pg_wm_layout_parse(optarg);
			break;
		case 'c':
			st.rgb = (uint32_t)strtoul(optarg, NULL, 16);
			break;
		case 'w':
			w = atoi(optarg);
			break;
		case 'h':
			h = atoi(optarg);
			break;
		case 'p':
			png_path = optarg;
			break;
		case 'b':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-t TEMPLATE] [-s SIZE] [-o OPACITY] [-a ANGLE] "
				"[-l LAYOUT] [-c RRGGBB] [-w W -h H] [-p OUT.png] [-b ROUNDS]\n",
				argv[0]);
			return 2;
		}
	}
	font = pg_font_open(PG_FONT_NOTO_CJK, PG_FONT_NOTO_CJK_JP, err, sizeof(err));
	if (!font) {
		fprintf(stderr, "pg-watermark-demo: %s\n", err);
		return 1;
	}
	if (pg_wm_expand(tmpl, &vars, textbuf, sizeof(textbuf), err, sizeof(err)) != 0) {
		fprintf(stderr, "pg-watermark-demo: template: %s\n", err);
		goto out;
	}
	double t0 = now_ms();
	if (pg_watermark_render(font, textbuf, &st, &wm, err, sizeof(err)) != 0) {
		fprintf(stderr, "pg-watermark-demo: %s\n", err);
		goto out;
	}
	printf("render: %.2f ms; pattern %d x %d px, %u runs, %zu bytes\n", now_ms() - t0, wm.w,
	       wm.h, wm.row[wm.h], wm.bytes);
	if (png_path) {
		if (pg_fb_alloc(&fb, w, h) != 0)
			goto out;
		sample_page(&fb, font);
		pg_watermark_draw(&fb, &wm, NULL);
		if (write_png(&fb, png_path) != 0) {
			fprintf(stderr, "pg-watermark-demo: %s: cannot write\n", png_path);
			goto out;
		}
	}
	if (rounds > 0) {
		double *ms = calloc((size_t)rounds, sizeof(*ms));

		if (!ms || pg_fb_alloc(&big, 1920, 1080) != 0) {
			free(ms);
			goto out;
		}
		sample_page(&big, font);
		for (int i = 0; i < rounds; i++) {
			double t = now_ms();

			pg_watermark_draw(&big, &wm, NULL);
			ms[i] = now_ms() - t;
		}
		qsort(ms, (size_t)rounds, sizeof(*ms), cmp_double);
		printf("draw 1920x1080: median %.3f ms, min %.3f ms, max %.3f ms (%d rounds)\n",
		       ms[rounds / 2], ms[0], ms[rounds - 1], rounds);
		free(ms);
	}
	rc = 0;
out:
	pg_watermark_free(&wm);
	pg_fb_free(&fb);
	pg_fb_free(&big);
	pg_font_del(font);
	return rc;
}
