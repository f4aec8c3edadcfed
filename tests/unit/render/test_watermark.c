/* The visible watermark: templates (every placeholder, errors with their offsets,
 * hostile values), rendering (ink, opacity, angles, layouts) and drawing (rect by
 * rect equals all at once, corners, tiny pictures, clips outside). */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "render/text.h"
#include "render/watermark.h"

#define TEMPLATE_JA "機密 {user} {addr}\\n{date} {time} {host} #{session}"

static struct pg_font *open_jp(void)
{
	char err[256] = "";
	struct pg_font *f = pg_font_open(PG_FONT_NOTO_CJK, PG_FONT_NOTO_CJK_JP, err, sizeof(err));

	cr_assert(f, "%s (is fonts-noto-cjk installed? tools/install-deps.sh)", err);
	return f;
}

/* 2026-11-26 14:05:30 UTC, shown in UTC. */
static time_t fixed_now(void)
{
	struct tm tm = {
	    .tm_year = 126, .tm_mon = 10, .tm_mday = 26, .tm_hour = 14, .tm_min = 5, .tm_sec = 30};

	setenv("TZ", "UTC", 1);
	tzset();
	return timegm(&tm);
}

static struct pg_wm_style style(int layout, int angle)
{
	return (struct pg_wm_style){20, 30, angle, layout, PG_WM_DEFAULT_RGB};
}

static struct pg_watermark render(struct pg_font *f, const char *text, struct pg_wm_style st)
{
	struct pg_watermark wm = {0};
	char err[256] = "";
	int rc = pg_watermark_render(f, text, &st, &wm, err, sizeof(err));

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_not_null(wm.row);
	return wm;
}

/* A picture with every kind of pixel: white, black and noise. */
static void fill_page(struct pg_fb *fb, unsigned seed)
{
	for (int y = 0; y < fb->h; y++)
		for (int x = 0; x < fb->w; x++) {
			uint32_t p;

			seed = seed * 1103515245 + 12345;
			p = x < fb->w / 3	? 0xffffff
			    : x < 2 * fb->w / 3 ? 0
						: (seed >> 8) & 0xffffff;
			fb->px[(size_t)y * fb->stride + x] = p;
		}
}

static size_t changed(const struct pg_fb *a, const struct pg_fb *b)
{
	size_t n = 0;

	for (int y = 0; y < a->h; y++)
		for (int x = 0; x < a->w; x++)
			n += a->px[(size_t)y * a->stride + x] != b->px[(size_t)y * b->stride + x];
	return n;
}

static void make_pair(struct pg_fb *a, struct pg_fb *b, int w, int h)
{
	cr_assert_eq(pg_fb_alloc(a, w, h), 0);
	cr_assert_eq(pg_fb_alloc(b, w, h), 0);
	fill_page(a, 7);
	fill_page(b, 7);
}

Test(layout, names_round_trip)
{
	for (int l = PG_WM_TILE; l <= PG_WM_CENTER; l++)
		cr_assert_eq(pg_wm_layout_parse(pg_wm_layout_name(l)), l);
	cr_assert_str_eq(pg_wm_layout_name(PG_WM_BOTTOM_RIGHT), "bottom-right");
	cr_assert_eq(pg_wm_layout_parse("center"), PG_WM_CENTER);
	cr_assert_eq(pg_wm_layout_parse("Tile"), -1);
	cr_assert_eq(pg_wm_layout_parse(""), -1);
	cr_assert_eq(pg_wm_layout_parse(NULL), -1);
	cr_assert_null(pg_wm_layout_name(-1));
	cr_assert_null(pg_wm_layout_name(PG_WM_CENTER + 1));
}

Test(template, every_placeholder)
{
	struct pg_wm_vars v = {"山田 太郎", "10.1.2.3", "s-42", "relay01", fixed_now()};
	char out[PG_WM_TEXT_MAX], err[256] = "";

	cr_assert_eq(pg_wm_expand(TEMPLATE_JA, &v, out, sizeof(out), err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_str_eq(out, "機密 山田 太郎 10.1.2.3\n2026-11-26 14:05 relay01 #s-42");
	cr_assert_eq(pg_wm_template_check(TEMPLATE_JA, err, sizeof(err)), 0, "%s", err);
}

Test(template, braces_backslashes_and_missing_values)
{
	struct pg_wm_vars v = {NULL, "", "x", NULL, fixed_now()};
	char out[PG_WM_TEXT_MAX], err[256] = "";

	cr_assert_eq(pg_wm_expand("{{user}} {user}/{addr}/{host} a\\b \\\\n}}", &v, out,
				  sizeof(out), err, sizeof(err)),
		     0, "%s", err);
	/* Missing values show as "-"; "\\n" is a backslash then a line break. */
	cr_assert_str_eq(out, "{user} -/-/- a\\b \\\n}");
}

Test(template, errors_name_offset)
{
	static const struct {
		const char *tmpl, *want;
	} bad[] = {
	    {"", "empty template"},
	    {"ab {foo} cd", "unknown placeholder \"{foo}\" at byte 3"},
	    {"ユーザー {User}", "unknown placeholder \"{User}\" at byte 13"},
	    {"x {user", "unclosed '{' at byte 2"},
	    {"x {us{er}", "unclosed '{' at byte 2"},
	    {"{user} }", "lone '}' at byte 7"},
	    {"abc \xff", "invalid UTF-8 at byte 4"},
	    {"あ\xe3\x81", "invalid UTF-8 at byte 3"},
	    {"line\nbreak", "control character U+000A at byte 4 (write \\n for a line break)"},
	    {"esc \x1b[31m", "control character U+001B at byte 4"},
	    {"nel \xc2\x85", "control character U+0085 at byte 4"},
	    {"1\\n2\\n3\\n4\\n5\\n6\\n7\\n8\\n9", "more than 8 lines at byte 22"},
	    {"{\x01}", "unknown placeholder at byte 0"},
	    {"a {placeholder_with_a_very_long_name_indeed}", "unknown placeholder at byte 2"},
	    {"{ユーザー}", "unknown placeholder at byte 0"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pg_wm_vars v = {"u", "a", "s", "h", 0};
		char err[256] = "", out[PG_WM_TEXT_MAX] = "x";

		cr_assert_eq(pg_wm_template_check(bad[i].tmpl, err, sizeof(err)), -EINVAL,
			     "case %zu", i);
		cr_assert(strstr(err, bad[i].want), "case %zu: %s", i, err);
		cr_assert_eq(pg_wm_expand(bad[i].tmpl, &v, out, sizeof(out), err, sizeof(err)),
			     -EINVAL, "case %zu", i);
		cr_assert_str_empty(out, "case %zu", i);
	}
}

Test(template, length_limits)
{
	char tmpl[PG_WM_TEMPLATE_MAX_BYTES + 8], err[256] = "";

	/* PG_OVERLAY_MAX_CHARS characters of literal text pass, one more does not. */
	memset(tmpl, 'a', PG_OVERLAY_MAX_CHARS);
	tmpl[PG_OVERLAY_MAX_CHARS] = 0;
	cr_assert_eq(pg_wm_template_check(tmpl, err, sizeof(err)), 0, "%s", err);
	strcat(tmpl, "b");
	cr_assert_eq(pg_wm_template_check(tmpl, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "more than 256 characters at byte 256"), "%s", err);
	/* Placeholders do not count as literal text, but bytes do. */
	tmpl[0] = 0;
	for (int i = 0; i < 300; i++)
		strcat(tmpl, "{user}");
	cr_assert_eq(pg_wm_template_check(tmpl, err, sizeof(err)), 0, "%s", err);
	memset(tmpl, 'a', sizeof(tmpl) - 1);
	tmpl[sizeof(tmpl) - 1] = 0;
	cr_assert_eq(pg_wm_template_check(tmpl, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "longer than 2048 bytes"), "%s", err);
	cr_assert_eq(pg_wm_template_check(NULL, err, sizeof(err)), -EINVAL);
}

Test(template, hostile_values_are_sanitized)
{
	struct pg_wm_vars v = {"evil\nline2\x1b[31m\xff\xe3\x81 \xe2\x80\xa8\xc2\x9b", "1.2.3.4\r",
			       "{user}", "h\x7f", fixed_now()};
	char out[PG_WM_TEXT_MAX], err[256] = "";

	cr_assert_eq(
	    pg_wm_expand("{user}|{addr}|{session}|{host}", &v, out, sizeof(out), err, sizeof(err)),
	    0, "%s", err);
	/* Control characters (newline, ESC, CR, DEL, CSI, U+2028) become '?', each
	 * invalid byte U+FFFD; a value is never read as a template. */
	cr_assert_str_eq(out, "evil?line2?[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ??"
			      "|1.2.3.4?|{user}|h?");
	cr_assert_null(strchr(out, '\n'));
	cr_assert_null(strchr(out, '\x1b'));
}

Test(template, values_are_cut_to_fit)
{
	char user[1000], tmpl[PG_OVERLAY_MAX_CHARS + 16], out[PG_WM_TEXT_MAX], err[256];
	struct pg_wm_vars v = {user, NULL, NULL, NULL, 0};
	struct pg_font *f = open_jp();
	struct pg_watermark wm = {0};
	struct pg_wm_style st = style(PG_WM_TILE, 0);

	user[0] = 0;
	for (int i = 0; i < 300; i++)
		strcat(user, "あ");
	/* One value: at most PG_WM_VALUE_MAX_CHARS characters. */
	cr_assert_eq(pg_wm_expand("{user}", &v, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(out), 3 * PG_WM_VALUE_MAX_CHARS);
	/* Values share what the literal text leaves of PG_OVERLAY_MAX_CHARS: the result
	 * always renders. */
	memset(tmpl, 'x', PG_OVERLAY_MAX_CHARS - 10);
	strcpy(tmpl + PG_OVERLAY_MAX_CHARS - 10, "{user}{user}");
	cr_assert_eq(pg_wm_expand(tmpl, &v, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(out), PG_OVERLAY_MAX_CHARS - 10 + 3 * 10);
	st.size_px = 8;
	cr_assert_eq(pg_watermark_render(f, out, &st, &wm, err, sizeof(err)), 0, "%s", err);
	pg_watermark_free(&wm);
	/* Too small an output buffer is an error, not a cut text. */
	cr_assert_eq(pg_wm_expand("{user}", &v, out, 10, err, sizeof(err)), -ENOSPC);
	cr_assert_str_empty(out);
	pg_font_del(f);
}

Test(template, clock_detection)
{
	cr_assert(pg_wm_template_uses_clock("{user} {time}"));
	cr_assert(pg_wm_template_uses_clock("{date}"));
	cr_assert(pg_wm_template_uses_clock(TEMPLATE_JA));
	cr_assert_not(pg_wm_template_uses_clock("{user} {addr} {session} {host}"));
	cr_assert_not(pg_wm_template_uses_clock("{{time}} {{date}}"));
	cr_assert_not(pg_wm_template_uses_clock("time date"));
	cr_assert_not(pg_wm_template_uses_clock("{time"));
	cr_assert_not(pg_wm_template_uses_clock(NULL));
}

static size_t ink(const struct pg_watermark *wm)
{
	size_t n = 0, npx = 0;

	for (int y = 0; y < wm->h; y++) {
		int last_end = -1;

		for (uint32_t i = wm->row[y]; i < wm->row[y + 1]; i++) {
			const struct pg_wm_span *s = &wm->span[i];

			/* Runs are sorted, apart, inside the mark and packed in order. */
			cr_assert_gt((int)s->x, last_end);
			cr_assert_leq(s->x + s->len, wm->w);
			cr_assert_eq(s->off, npx);
			last_end = s->x + s->len;
			npx += s->len;
			for (int k = 0; k < s->len; k++) {
				uint32_t p = wm->px[s->off + k], a = p >> 24;

				/* Premultiplied: no channel above alpha. */
				cr_assert_leq(p >> 16 & 0xff, a);
				cr_assert_leq(p >> 8 & 0xff, a);
				cr_assert_leq(p & 0xff, a);
				n += a > 0;
			}
		}
	}
	return n;
}

Test(render, has_ink_and_is_small)
{
	struct pg_font *f = open_jp();
	struct pg_watermark wm =
	    render(f, "山田 太郎 10.1.2.3\n2026-11-26 14:05 relay01", style(PG_WM_TILE, 25));

	cr_assert_gt(ink(&wm), 1000);
	/* One period, kept sparse: far below a full HD frame (8 MB). */
	cr_assert_lt(wm.bytes, 512 * 1024, "%zu bytes", wm.bytes);
	cr_assert_lt((long)wm.w * wm.h, 1920L * 1080 / 2, "%d x %d", wm.w, wm.h);
	pg_watermark_free(&wm);
	cr_assert_null(wm.row);
	pg_watermark_free(&wm);
	pg_watermark_free(NULL);
	pg_font_del(f);
}

Test(render, refuses_bad_style_and_text)
{
	static const struct pg_wm_style bad[] = {
	    {7, 30, 0, PG_WM_TILE, 0},	  {129, 30, 0, PG_WM_TILE, 0},
	    {20, 0, 0, PG_WM_TILE, 0},	  {20, 101, 0, PG_WM_TILE, 0},
	    {20, 30, -91, PG_WM_TILE, 0}, {20, 30, 91, PG_WM_TILE, 0},
	    {20, 30, 0, -1, 0},		  {20, 30, 0, PG_WM_CENTER + 1, 0},
	};
	struct pg_font *f = open_jp();
	struct pg_wm_style ok = style(PG_WM_TILE, 0);
	struct pg_watermark wm = {0};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		cr_assert_eq(pg_watermark_render(f, "x", &bad[i], &wm, err, sizeof(err)), -EINVAL,
			     "case %zu", i);
		cr_assert(err[0], "case %zu", i);
		cr_assert_null(wm.row);
	}
	cr_assert_eq(pg_watermark_render(f, "", &ok, &wm, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "empty watermark text"), "%s", err);
	cr_assert_eq(pg_watermark_render(f, "a\x1b", &ok, &wm, err, sizeof(err)), -EINVAL);
	cr_assert_eq(pg_watermark_render(f, "a\xff", &ok, &wm, err, sizeof(err)), -EILSEQ);
	cr_assert(strstr(err, "watermark text: invalid UTF-8 at byte 1"), "%s", err);
	cr_assert_eq(pg_watermark_render(NULL, "a", &ok, &wm, err, sizeof(err)), -EINVAL);
	/* Too big: 40 full-width characters at 128 px are 5120 px wide. */
	char big[40 * 3 + 1] = "";
	for (int i = 0; i < 40; i++)
		strcat(big, "漢");
	ok.size_px = 128;
	cr_assert_eq(pg_watermark_render(f, big, &ok, &wm, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "over 4096"), "%s", err);
	cr_assert_null(wm.row);
	pg_font_del(f);
}

Test(render, angle_extremes)
{
	struct pg_font *f = open_jp();
	struct pg_watermark up, down, flat;

	up = render(f, "縦書き test", style(PG_WM_TOP_LEFT, 90));
	down = render(f, "縦書き test", style(PG_WM_TOP_LEFT, -90));
	flat = render(f, "縦書き test", style(PG_WM_TOP_LEFT, 0));
	/* Quarter turns swap width and height (to a pixel of rounding). */
	cr_assert_gt(flat.w, 2 * flat.h);
	cr_assert_gt(up.h, 2 * up.w);
	cr_assert_leq(abs(up.w - flat.h), 2, "%d vs %d", up.w, flat.h);
	cr_assert_leq(abs(up.h - flat.w), 2, "%d vs %d", up.h, flat.w);
	cr_assert_leq(abs(down.h - flat.w), 2);
	cr_assert_gt(ink(&up), ink(&flat) * 8 / 10);
	cr_assert_gt(ink(&down), ink(&flat) * 8 / 10);
	pg_watermark_free(&up);
	pg_watermark_free(&down);
	pg_watermark_free(&flat);
	for (int a = -90; a <= 90; a += 15) {
		struct pg_watermark t = render(f, "x\nyy", style(PG_WM_TILE, a));

		cr_assert_gt(ink(&t), 20, "angle %d", a);
		pg_watermark_free(&t);
	}
	pg_font_del(f);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Draw wm over a and rect by rect over b, with random cuts into a grid of rects. */
static void check_rect_by_rect(const struct pg_watermark *wm, int w, int h, unsigned seed)
{
	struct pg_fb a, b;
	int xs[8], ys[8], nx = 0, ny = 0;

	make_pair(&a, &b, w, h);
	pg_watermark_draw(&a, wm, NULL);
	srand(seed);
	xs[nx++] = 0;
	ys[ny++] = 0;
	while (nx < 7)
		xs[nx++] = rand() % w;
	while (ny < 7)
		ys[ny++] = rand() % h;
	qsort(xs, 7, sizeof(int), cmp_int);
	qsort(ys, 7, sizeof(int), cmp_int);
	xs[nx] = w;
	ys[ny] = h;
	for (int j = 0; j < ny; j++)
		for (int i = 0; i < nx; i++) {
			struct pg_rect r = {xs[i], ys[j], xs[i + 1] - xs[i], ys[j + 1] - ys[j]};

			pg_watermark_draw(&b, wm, &r);
		}
	cr_assert_eq(changed(&a, &b), 0, "layout %d seed %u", wm->layout, seed);
	pg_fb_free(&a);
	pg_fb_free(&b);
}

Test(draw, rect_by_rect_equals_whole)
{
	struct pg_font *f = open_jp();

	for (int l = PG_WM_TILE; l <= PG_WM_CENTER; l++) {
		for (int a = -30; a <= 90; a += 60) {
			struct pg_watermark wm = render(f, "山田 太郎\n10.1.2.3", style(l, a));

			for (unsigned seed = 1; seed <= 4; seed++)
				check_rect_by_rect(&wm, 640 + (int)seed * 37, 400 + (int)seed * 11,
						   seed * 7 + (unsigned)l);
			pg_watermark_free(&wm);
		}
	}
	pg_font_del(f);
}

Test(draw, change_bounded_by_opacity)
{
	struct pg_font *f = open_jp();

	for (int op = 1; op <= 100; op += 33) {
		struct pg_wm_style st = style(PG_WM_TILE, 20);
		struct pg_watermark wm;
		struct pg_fb a, b;
		int bound = (255 * op + 99) / 100 + 1, most = 0;

		st.opacity_pct = op;
		wm = render(f, "山田 太郎 10.1.2.3", st);
		make_pair(&a, &b, 500, 300);
		pg_watermark_draw(&b, &wm, NULL);
		for (size_t i = 0; i < 500 * 300; i++)
			for (int sh = 0; sh <= 16; sh += 8) {
				int d =
				    abs((int)(a.px[i] >> sh & 0xff) - (int)(b.px[i] >> sh & 0xff));

				cr_assert_leq(d, bound, "opacity %d: change %d", op, d);
				most = d > most ? d : most;
			}
		/* ... and it reaches that bound somewhere: the mark is really there. */
		cr_assert_geq(most, bound * 9 / 10 - 1, "opacity %d: at most %d", op, most);
		for (size_t i = 0; i < 500 * 300; i++)
			cr_assert_eq(b.px[i] >> 24, 0);
		pg_fb_free(&a);
		pg_fb_free(&b);
		pg_watermark_free(&wm);
	}
	pg_font_del(f);
}

/* The smallest rectangle holding every pixel draw changed. */
static struct pg_rect changed_box(const struct pg_fb *a, const struct pg_fb *b)
{
	int x0 = a->w, y0 = a->h, x1 = -1, y1 = -1;

	for (int y = 0; y < a->h; y++)
		for (int x = 0; x < a->w; x++)
			if (a->px[(size_t)y * a->stride + x] != b->px[(size_t)y * b->stride + x]) {
				x0 = x < x0 ? x : x0;
				y0 = y < y0 ? y : y0;
				x1 = x > x1 ? x : x1;
				y1 = y > y1 ? y : y1;
			}
	return (struct pg_rect){x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

Test(draw, positioned_layouts_land_in_place)
{
	struct pg_font *f = open_jp();
	const int W = 800, H = 500;

	for (int l = PG_WM_TOP_LEFT; l <= PG_WM_CENTER; l++) {
		struct pg_watermark wm = render(f, "山田 太郎 10.1.2.3", style(l, 0));
		struct pg_rect bd = pg_watermark_bounds(&wm, W, H), box;
		struct pg_fb a, b;
		int m = wm.margin;

		make_pair(&a, &b, W, H);
		/* Mid grey: text and halo both change it, up to the mark's edge. */
		for (size_t i = 0; i < (size_t)W * H; i++)
			a.px[i] = b.px[i] = 0x808080;
		pg_watermark_draw(&b, &wm, NULL);
		box = changed_box(&a, &b);
		/* Only inside the bounds, and nearly all of them (a few edge pixels may
		 * blend to their old value). */
		cr_assert(box.x >= bd.x && box.y >= bd.y && box.x + box.w <= bd.x + bd.w &&
			      box.y + box.h <= bd.y + bd.h,
			  "layout %d", l);
		cr_assert_geq(box.w, bd.w - 2);
		cr_assert_geq(box.h, bd.h - 2);
		cr_assert_geq(m, 8);
		switch (l) {
		case PG_WM_TOP_LEFT:
			cr_assert(bd.x == m && bd.y == m);
			break;
		case PG_WM_TOP_RIGHT:
			cr_assert(bd.x + bd.w == W - m && bd.y == m);
			break;
		case PG_WM_BOTTOM_LEFT:
			cr_assert(bd.x == m && bd.y + bd.h == H - m);
			break;
		case PG_WM_BOTTOM_RIGHT:
			cr_assert(bd.x + bd.w == W - m && bd.y + bd.h == H - m);
			break;
		default:
			cr_assert_leq(abs(2 * bd.x + bd.w - W), 1);
			cr_assert_leq(abs(2 * bd.y + bd.h - H), 1);
		}
		pg_fb_free(&a);
		pg_fb_free(&b);
		pg_watermark_free(&wm);
	}
	pg_font_del(f);
}

Test(draw, tile_covers_and_repeats)
{
	struct pg_font *f = open_jp();
	struct pg_watermark wm =
	    render(f, "山田 太郎 10.1.2.3\n2026-11-26 14:05", style(PG_WM_TILE, 25));
	struct pg_fb a, b;
	struct pg_rect all = pg_watermark_bounds(&wm, 1280, 720);

	cr_assert(all.x == 0 && all.y == 0 && all.w == 1280 && all.h == 720);
	make_pair(&a, &b, 1280, 720);
	for (size_t i = 0; i < 1280 * 720; i++)
		a.px[i] = b.px[i] = 0xffffff;
	pg_watermark_draw(&b, &wm, NULL);
	/* Every 300 x 200 area has a good share of the mark. */
	for (int y = 0; y + 200 <= 720; y += 40)
		for (int x = 0; x + 300 <= 1280; x += 40) {
			size_t n = 0;

			for (int yy = y; yy < y + 200; yy++)
				for (int xx = x; xx < x + 300; xx++)
					n += b.px[yy * 1280 + xx] != 0xffffff;
			cr_assert_gt(n, 1000, "area at %d,%d: %zu pixels", x, y, n);
		}
	/* One period on, the same pixels. */
	for (int y = 0; y + wm.h < 720; y += 3)
		for (int x = 0; x + wm.w < 1280; x += 3)
			cr_assert_eq(b.px[y * 1280 + x], b.px[(y + wm.h) * 1280 + x + wm.w]);
	pg_fb_free(&a);
	pg_fb_free(&b);
	pg_watermark_free(&wm);
	pg_font_del(f);
}

Test(draw, different_texts_differ)
{
	struct pg_font *f = open_jp();
	struct pg_watermark w1 = render(f, "user-a 10.0.0.1", style(PG_WM_TILE, 30));
	struct pg_watermark w2 = render(f, "user-b 10.0.0.1", style(PG_WM_TILE, 30));
	struct pg_fb a, b;

	make_pair(&a, &b, 640, 480);
	pg_watermark_draw(&a, &w1, NULL);
	pg_watermark_draw(&b, &w2, NULL);
	cr_assert_gt(changed(&a, &b), 100);
	pg_fb_free(&a);
	pg_fb_free(&b);
	pg_watermark_free(&w1);
	pg_watermark_free(&w2);
	pg_font_del(f);
}

Test(draw, copy_draws_the_same)
{
	struct pg_font *f = open_jp();
	struct pg_watermark wm = render(f, "山田 太郎", style(PG_WM_BOTTOM_LEFT, 10)), cp,
			    empty = {0};
	struct pg_fb a, b;

	cr_assert_eq(pg_watermark_copy(&cp, &wm), 0);
	cr_assert_neq(cp.px, wm.px);
	cr_assert_eq(cp.bytes, wm.bytes);
	pg_watermark_free(&wm); /* the copy stands alone */
	make_pair(&a, &b, 400, 300);
	wm = render(f, "山田 太郎", style(PG_WM_BOTTOM_LEFT, 10));
	pg_watermark_draw(&a, &wm, NULL);
	pg_watermark_draw(&b, &cp, NULL);
	cr_assert_eq(changed(&a, &b), 0);
	pg_watermark_free(&cp);
	cr_assert_eq(pg_watermark_copy(&cp, &empty), 0);
	cr_assert_null(cp.row);
	pg_watermark_draw(&a, &cp, NULL); /* an empty mark draws nothing */
	pg_fb_free(&a);
	pg_fb_free(&b);
	pg_watermark_free(&wm);
	pg_font_del(f);
}

Test(draw, tiny_pictures_and_outside_clips)
{
	struct pg_font *f = open_jp();
	static const struct pg_rect clips[] = {
	    {-100, -100, 50, 50},
	    {5000, 0, 10, 10},
	    {0, 5000, 10, 10},
	    {INT_MAX, INT_MAX, INT_MAX, INT_MAX},
	    {INT_MIN, INT_MIN, 10, 10},
	    {0, 0, 0, 10},
	    {0, 0, 10, -5},
	    {-10, 0, 5, 1000},
	};

	for (int l = PG_WM_TILE; l <= PG_WM_CENTER; l++) {
		struct pg_watermark wm = render(f, "山田 太郎 10.1.2.3", style(l, 45));
		struct pg_fb a, b;

		for (int side = 1; side <= 3; side++) {
			make_pair(&a, &b, side, side);
			pg_watermark_draw(&b, &wm, NULL); /* must not crash */
			struct pg_rect bd = pg_watermark_bounds(&wm, side, side);
			cr_assert(bd.w == 0 || (bd.x >= 0 && bd.y >= 0 && bd.x + bd.w <= side &&
						bd.y + bd.h <= side));
			pg_fb_free(&a);
			pg_fb_free(&b);
		}
		make_pair(&a, &b, 300, 200);
		for (size_t i = 0; i < sizeof(clips) / sizeof(clips[0]); i++)
			pg_watermark_draw(&b, &wm, &clips[i]);
		cr_assert_eq(changed(&a, &b), 0, "layout %d", l);
		/* A clip half outside changes only the half inside. */
		pg_watermark_draw(&b, &wm, &(struct pg_rect){-150, -100, 300, 200});
		struct pg_rect box = changed_box(&a, &b);
		cr_assert(box.w <= 0 || (box.x + box.w <= 150 && box.y + box.h <= 100), "layout %d",
			  l);
		cr_assert_eq(pg_watermark_bounds(&wm, 0, 0).w, 0);
		cr_assert_eq(pg_watermark_bounds(&wm, -5, 10).w, 0);
		pg_fb_free(&a);
		pg_fb_free(&b);
		pg_watermark_free(&wm);
	}
	pg_font_del(f);
}

Test(draw, respects_stride)
{
	struct pg_font *f = open_jp();

	for (int l = PG_WM_TILE; l <= PG_WM_CENTER; l += PG_WM_CENTER) {
		struct pg_watermark wm = render(f, "山田 太郎 10.1.2.3", style(l, 30));
		struct pg_fb big, alone, view;

		make_pair(&big, &alone, 700, 300);
		/* A 500 x 300 view into the 700-wide picture, as an encoder gets it. */
		view = (struct pg_fb){big.px + 100, 500, 300, big.stride};
		alone.w = 500;
		for (int y = 0; y < 300; y++)
			memcpy(alone.px + y * alone.stride, view.px + y * view.stride, 500 * 4);
		struct pg_fb before;
		cr_assert_eq(pg_fb_alloc(&before, 700, 300), 0);
		memcpy(before.px, big.px, 700 * 300 * 4);
		pg_watermark_draw(&view, &wm, NULL);
		pg_watermark_draw(&alone, &wm, NULL);
		for (int y = 0; y < 300; y++) {
			cr_assert_eq(
			    memcmp(alone.px + y * alone.stride, view.px + y * view.stride, 500 * 4),
			    0, "layout %d row %d", l, y);
			/* Outside the view nothing changed. */
			cr_assert_eq(memcmp(big.px + y * 700, before.px + y * 700, 100 * 4), 0);
			cr_assert_eq(
			    memcmp(big.px + y * 700 + 600, before.px + y * 700 + 600, 100 * 4), 0);
		}
		pg_fb_free(&before);
		pg_fb_free(&big);
		pg_fb_free(&alone);
		pg_watermark_free(&wm);
	}
	pg_font_del(f);
}
