/* pg-bench-codec: what encoding and decoding one full screen costs, against the
 * pure cost of TurboJPEG and zlib on the same pixels, measured side by side in one
 * run. Prints medians of --rounds rounds (the machine is noisy; medians hold).
 *   pg-bench-codec [--size 1920x1080] [--rounds 15] [--json FILE]
 *
 * Screens, drawn here (nothing is downloaded):
 *   page   a web page: Japanese text rendered with FreeType and Noto Sans CJK JP
 *          (anti-aliased; headings, links in colour, a grey navigation column),
 *          or synthetic strokes when the font is missing (the output says so)
 *   photo  smooth gradients and shapes with grain, like a photograph
 *   flat   a UI of flat panels, bars, buttons and borders
 *   mixed  the page with a photo and flat panels in it
 *
 * For each screen, each pixelgate encoder (Tight JPEG at quality levels 6 and 8 and
 * fine quality 90, Tight lossless, ZRLE, Raw) encodes the whole screen and
 * pixelgate's decoder decodes the result; the references are TurboJPEG alone
 * (tjCompress2 / tjDecompress2 of the whole frame at the same quality and
 * subsampling) for JPEG and zlib alone (compress2 level 1 / uncompress of the
 * 4-byte pixels) for the rest. "relay" is what one update costs the relay when the
 * browser host sends Tight JPEG and the viewer takes it: pixelgate's Tight decode
 * plus encode, against tjDecompress2 plus tjCompress2. "tiles64" is TurboJPEG alone
 * on 64x64 tiles against the same quality on the whole frame.
 *
 * --json FILE writes every figure:
 *   {"section":"codec","size":"1920x1080","rounds":15,"font":true,
 *    "screens":[{"name":"mixed","results":[
 *      {"what":"tight-jpeg-q8 encode","ms":..,"mpx_s":..,"bytes":..,
 *       "ratio_vs_ref":..,"ref":"tjCompress2"}, ...]}]}
 * ms is the median time; ratio_vs_ref is the median over rounds of this time over
 * the reference's time in the same round (each round runs the two back to back, so
 * the ratio holds on a busy machine; below 1 is faster); bytes is the encoded size
 * (0 for decoders); a reference row has ref "" and ratio 1. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "codec/buf.h"
#include "codec/decoder.h"
#include "codec/encoder.h"
#include "codec/rfb.h"
#include "render/text.h"

#define MAX_ROUNDS  101
#define MAX_RESULTS 32

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

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* ---- screens ---- */

static uint32_t rng = 12345;

static unsigned rnd(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 16;
}

static void fill(struct pg_fb *fb, int x, int y, int w, int h, uint32_t px)
{
	struct pg_rect r =
	    pg_rect_intersect((struct pg_rect){x, y, w, h}, (struct pg_rect){0, 0, fb->w, fb->h});
	if (!pg_rect_empty(&r))
		pg_fb_fill(fb, &r, px);
}

static int clamp8(double v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (int)v;
}

/* Smooth colour fields and soft shapes with grain in x, y, w, h of fb. */
static void draw_photo(struct pg_fb *fb, int x0, int y0, int w, int h)
{
	for (int y = y0; y < y0 + h && y < fb->h; y++) {
		for (int x = x0; x < x0 + w && x < fb->w; x++) {
			double u = (double)(x - x0) / w, v = (double)(y - y0) / h;
			double sky = 1 - v;
			double hill = 0.5 + 0.12 * sin(u * 9.0) + 0.05 * sin(u * 23.0 + 1);
			double r, g, b;
			if (v < hill) {
				r = 90 + 120 * sky;
				g = 140 + 90 * sky;
				b = 200 + 50 * sky;
				double cx = u - 0.72, cy = v - 0.22, d = cx * cx + cy * cy;
				if (d < 0.01) { /* a soft sun */
					r += (0.01 - d) * 9000;
					g += (0.01 - d) * 8000;
					b -= (0.01 - d) * 3000;
				}
			} else {
				double t = (v - hill) / (1 - hill + 1e-9);
				r = 60 + 50 * sin(u * 40 + t * 7) * 0.3 + 40 * t;
				g = 110 + 40 * sin(u * 17 - t * 5) - 30 * t;
				b = 50 + 20 * t;
			}
			int n = (int)(rnd() % 13) - 6; /* film grain */
			fb->px[(size_t)y * fb->stride + x] = (uint32_t)clamp8(r + n) << 16 |
							     (uint32_t)clamp8(g + n) << 8 |
							     (uint32_t)clamp8(b + n);
		}
	}
}

static const char *const paragraphs[] = {
    "住民票の写しの交付申請は、窓口のほか電子申請でも受け付けています。\n"
    "マイナンバーカードをお持ちの方は、コンビニエンスストアでも取得できます。",
    "令和八年度の予算案について、各部局からの要求額を取りまとめました。\n"
    "詳細は下記の資料をご覧ください。問い合わせは財政課までお願いします。",
    "システムの定期保守のため、次の日時にサービスを停止します。\n"
    "停止中は申請の受付及び照会ができません。ご迷惑をおかけします。",
    "個人情報の取扱いについては、プライバシーポリシーをご確認ください。\n"
    "This page is rendered with Noto Sans CJK JP, 16 px, anti-aliased.",
};

static const char *const links[] = {
    "▶ 申請書のダウンロード（PDF形式）",
    "▶ よくある質問と回答",
    "▶ 窓口の混雑状況",
    "▶ 関連リンク：電子申請システム",
};

static void draw_text(struct pg_fb *fb, struct pg_font *font, const char *text, int px, uint32_t fg,
		      int x, int y, int max_w)
{
	struct pg_overlay ov = {0};
	char err[128];

	if (pg_overlay_banner(font, text, px, fg, 0xffffff, 0, max_w, &ov, err, sizeof(err)) == 0)
		pg_overlay_draw(fb, &ov, x, y, NULL);
	pg_overlay_free(&ov);
}

/* Text lines in x..x+w from y to y_end: a heading, paragraphs and links. */
static void draw_article(struct pg_fb *fb, struct pg_font *font, int x, int y, int w, int y_end)
{
	int i = 0;

	while (y < y_end - 40) {
		if (font) {
			if (i % 4 == 0) {
				draw_text(fb, font, "行政手続きのご案内", 30, 0x202124, x, y, w);
				fill(fb, x + 15, y + 64, w - 30, 2, 0xdadce0);
				y += 74;
			}
			draw_text(fb, font, paragraphs[i % 4], 16, 0x202124, x, y, w);
			y += 64;
			draw_text(fb, font, links[i % 4], 16, i % 3 ? 0x1a0dab : 0x681da8, x, y, w);
			y += 36;
		} else {
			/* glyph-like strokes: on/off runs that vary per line */
			for (int yy = y; yy < y + 60 && yy < fb->h; yy++)
				for (int xx = x + 8; xx < x + w - 8 && xx < fb->w; xx++) {
					int k = (xx / 3 + yy / 24 * 7) % 11;
					if ((yy % 24) > 6 && (yy % 24) < 20 && k < 4 &&
					    ((xx + yy) % 5) < 3)
						fb->px[(size_t)yy * fb->stride + xx] = 0x202020;
				}
			y += 72;
		}
		i++;
	}
}

static void draw_ui(struct pg_fb *fb, int x0, int y0, int w, int h)
{
	fill(fb, x0, y0, w, h, 0xeceff1);
	fill(fb, x0, y0, w, 40, 0x37474f);
	for (int i = 0; i < 6; i++)
		fill(fb, x0 + 12 + i * 110, y0 + 8, 96, 24, i == 1 ? 0x1e88e5 : 0x546e7a);
	for (int r = 0; r * 90 + 60 < h; r++) {
		for (int c = 0; c * 240 + 20 < w - 200; c++) {
			int x = x0 + 20 + c * 240, y = y0 + 60 + r * 90;
			fill(fb, x - 1, y - 1, 222, 72, 0xb0bec5);
			fill(fb, x, y, 220, 70, 0xffffff);
			fill(fb, x + 10, y + 10, 48, 48, (uint32_t)(0x43a047 + c * 0x101010));
			fill(fb, x + 70, y + 16, 120, 8, 0x90a4ae);
			fill(fb, x + 70, y + 34, 80, 8, 0xcfd8dc);
		}
	}
	fill(fb, x0 + w - 180, y0 + 40, 180, h - 40, 0xfafafa);
	fill(fb, x0 + w - 181, y0 + 40, 1, h - 40, 0xcfd8dc);
}

static void draw_page_frame(struct pg_fb *fb, struct pg_font *font)
{
	fill(fb, 0, 0, fb->w, fb->h, 0xffffff);
	fill(fb, 0, 0, fb->w, 64, 0x2b5797);
	if (font)
		draw_text(fb, font, "〇〇市 電子申請ポータル", 24, 0xffffff, 16, 6, fb->w / 2);
	fill(fb, 0, 64, 280, fb->h - 64, 0xf3f3f3);
	for (int i = 0; i < 12 && 90 + i * 40 < fb->h; i++) {
		if (font)
			draw_text(fb, font, links[i % 4] + 4, 15, 0x1a0dab, 12, 84 + i * 40, 260);
		else
			fill(fb, 24, 96 + i * 40, 160, 10, 0x1a0dab);
	}
}

enum screen { SCREEN_PAGE, SCREEN_PHOTO, SCREEN_FLAT, SCREEN_MIXED, NSCREENS };
static const char *const screen_names[NSCREENS] = {"page", "photo", "flat", "mixed"};

static void make_screen(struct pg_fb *fb, enum screen s, struct pg_font *font)
{
	rng = 12345;
	switch (s) {
	case SCREEN_PAGE:
		draw_page_frame(fb, font);
		draw_article(fb, font, 300, 80, fb->w - 340, fb->h);
		break;
	case SCREEN_PHOTO:
		draw_photo(fb, 0, 0, fb->w, fb->h);
		break;
	case SCREEN_FLAT:
		draw_ui(fb, 0, 0, fb->w, fb->h);
		break;
	case SCREEN_MIXED:
	default:
		draw_page_frame(fb, font);
		draw_article(fb, font, 300, 80, fb->w / 2 - 320, fb->h);
		draw_photo(fb, fb->w / 2, 100, fb->w / 2 - 60, fb->h / 2);
		draw_ui(fb, fb->w / 2, fb->h / 2 + 130, fb->w / 2 - 60, fb->h / 2 - 150);
		break;
	}
}

/* ---- measurements ---- */

struct result {
	char what[48];
	double ms;
	size_t bytes;
	const char *ref; /* "" for a reference itself */
	double ratio;	 /* median over rounds of this time / the reference's */
};

struct screen_results {
	const char *name;
	int n;
	struct result r[MAX_RESULTS];
};

static void add(struct screen_results *sr, const char *what, double *ms, double *ref_ms, int rounds,
		size_t bytes, const char *ref)
{
	double ratio[MAX_ROUNDS];

	if (sr->n >= MAX_RESULTS)
		return;
	struct result *r = &sr->r[sr->n++];
	for (int i = 0; i < rounds; i++)
		ratio[i] = ms[i] / ref_ms[i];
	snprintf(r->what, sizeof(r->what), "%s", what);
	r->ratio = median(ratio, rounds);
	r->ms = median(ms, rounds); /* sorts ms: ratios first */
	r->bytes = bytes;
	r->ref = ref;
}

static void add_ref(struct screen_results *sr, const char *what, double *ms, int rounds,
		    size_t bytes)
{
	add(sr, what, ms, ms, rounds, bytes, "");
}

/* TurboJPEG alone on the whole frame. */
struct tj_bench {
	tjhandle c, d;
	uint32_t *back;
	int q, samp;
	unsigned long bytes;
};

static int tj_round(struct tj_bench *t, const struct pg_fb *fb, double *enc_ms, double *dec_ms)
{
	unsigned char *jbuf = NULL;
	unsigned long jlen = 0;
	double t0 = now_ms();

	if (tjCompress2(t->c, (const unsigned char *)fb->px, fb->w, fb->stride * 4, fb->h,
			TJPF_BGRX, &jbuf, &jlen, t->samp, t->q, TJFLAG_FASTDCT) != 0)
		return -1;
	double t1 = now_ms();
	if (tjDecompress2(t->d, jbuf, jlen, (unsigned char *)t->back, fb->w, fb->w * 4, fb->h,
			  TJPF_BGRX, TJFLAG_FASTDCT) != 0)
		return -1;
	*dec_ms = now_ms() - t1;
	*enc_ms = t1 - t0;
	t->bytes = jlen;
	tjFree(jbuf);
	return 0;
}

/* TurboJPEG alone on 64x64 tiles of the frame. */
static int tiles_round(struct tj_bench *t, const struct pg_fb *fb, unsigned char *jbuf, double *ms,
		       unsigned long *bytes)
{
	unsigned long total = 0;
	double t0 = now_ms();

	for (int y = 0; y < fb->h; y += 64) {
		for (int x = 0; x < fb->w; x += 64) {
			int w = fb->w - x < 64 ? fb->w - x : 64;
			int h = fb->h - y < 64 ? fb->h - y : 64;
			unsigned long jlen = tjBufSize(64, 64, t->samp);
			const uint32_t *src = fb->px + (size_t)y * fb->stride + x;
			if (tjCompress2(t->c, (const unsigned char *)src, w, fb->stride * 4, h,
					TJPF_BGRX, &jbuf, &jlen, t->samp, t->q,
					TJFLAG_FASTDCT | TJFLAG_NOREALLOC) != 0)
				return -1;
			total += jlen;
		}
	}
	*ms = now_ms() - t0;
	*bytes = total;
	return 0;
}

/* zlib alone on the 4-byte pixels: compress2 level 1 and uncompress. */
static int zlib_round(const struct pg_fb *fb, uint8_t *z, uLongf cap, uint8_t *back, double *enc_ms,
		      double *dec_ms, size_t *bytes)
{
	size_t raw = (size_t)fb->w * fb->h * 4;
	uLongf zl = cap, bl = (uLongf)raw;
	double t0 = now_ms();

	if (compress2(z, &zl, (const Bytef *)fb->px, (uLong)raw, 1) != Z_OK)
		return -1;
	double t1 = now_ms();
	if (uncompress(back, &bl, z, zl) != Z_OK)
		return -1;
	*dec_ms = now_ms() - t1;
	*enc_ms = t1 - t0;
	*bytes = zl;
	return 0;
}

/* One pixelgate encoder on the whole frame, then pixelgate's decoder on its output,
 * rectangle by rectangle as the worker decodes. */
struct pg_bench {
	const char *name;
	struct pg_encoder *enc;
	struct pg_decoder *dec;
	struct pg_fb back;
	struct pg_buf b;
};

static int pg_bench_init(struct pg_bench *p, const char *name, int32_t id,
			 const struct pg_enc_opts *o, const struct pg_fb *fb)
{
	p->name = name;
	p->enc = pg_encoder_new(id, &pg_pixfmt_canonical, o);
	p->dec = pg_decoder_new();
	pg_buf_init(&p->b, (size_t)1 << 30);
	if (!p->enc || !p->dec || pg_fb_alloc(&p->back, fb->w, fb->h) < 0)
		return -1;
	return 0;
}

static void pg_bench_free(struct pg_bench *p)
{
	pg_buf_free(&p->b);
	pg_fb_free(&p->back);
	pg_encoder_del(p->enc);
	pg_decoder_del(p->dec);
}

static int pg_round(struct pg_bench *p, const struct pg_fb *fb, double *enc_ms, double *dec_ms)
{
	struct pg_rect all = {0, 0, fb->w, fb->h};

	pg_buf_reset(&p->b);
	double t0 = now_ms();
	int n = pg_encoder_encode(p->enc, fb, &all, &p->b);
	double t1 = now_ms();
	if (n < 0)
		return -1;
	size_t off = 0;
	double t2 = now_ms();
	for (int k = 0; k < n; k++) {
		const uint8_t *h = p->b.data + off;
		struct pg_rect r = {pg_rd16(h), pg_rd16(h + 2), pg_rd16(h + 4), pg_rd16(h + 6)};
		const char *why;
		ssize_t used = pg_decode_rect(p->dec, (int32_t)pg_rd32(h + 8), &r, &p->back, h + 12,
					      p->b.len - off - 12, &why);
		if (used <= 0) {
			fprintf(stderr, "%s: decode failed: %s\n", p->name, why ? why : "short");
			return -1;
		}
		off += 12 + (size_t)used;
	}
	*dec_ms = now_ms() - t2;
	*enc_ms = t1 - t0;
	return 0;
}

/* Each round runs the reference and pixelgate's codec back to back, so a busy
 * moment of the machine hits both; ratios are medians of per-round ratios. */
static int bench_screen(const struct pg_fb *fb, int rounds, struct screen_results *sr)
{
	/* quality level 6 (79, 4:4:4), 8 (92, 4:4:4), fine quality 90 (4:4:4) */
	static const struct {
		const char *name;
		int level, fine, q, samp;
	} jpegs[] = {
	    {"tight-jpeg-q6", 6, -1, 79, TJSAMP_444},
	    {"tight-jpeg-q8", 8, -1, 92, TJSAMP_444},
	    {"tight-jpeg-fine90", -1, 90, 90, TJSAMP_444},
	};
	static const struct {
		const char *name;
		int32_t id;
	} lossless[] = {
	    {"tight-lossless", PG_ENC_TIGHT},
	    {"zrle", PG_ENC_ZRLE},
	    {"raw", PG_ENC_RAW},
	};
	static double te[MAX_ROUNDS], td[MAX_ROUNDS], re[MAX_ROUNDS], rd[MAX_ROUNDS],
	    both[MAX_ROUNDS], rboth[MAX_ROUNDS], tt[MAX_ROUNDS];
	char what[48];

	for (size_t i = 0; i < sizeof(jpegs) / sizeof(jpegs[0]); i++) {
		struct tj_bench t = {.c = tjInitCompress(),
				     .d = tjInitDecompress(),
				     .back = malloc((size_t)fb->w * fb->h * 4),
				     .q = jpegs[i].q,
				     .samp = jpegs[i].samp};
		struct pg_enc_opts o = {jpegs[i].level, jpegs[i].fine, -1, 1, 0};
		struct pg_bench p = {0};
		bool tiles = jpegs[i].level == 8;
		unsigned char *tbuf = tjAlloc((int)tjBufSize(64, 64, t.samp));
		unsigned long tbytes = 0;
		if (!t.c || !t.d || !t.back || !tbuf ||
		    pg_bench_init(&p, jpegs[i].name, PG_ENC_TIGHT, &o, fb) < 0)
			return -1;
		for (int k = 0; k < rounds; k++) {
			if (tj_round(&t, fb, &re[k], &rd[k]) < 0 ||
			    pg_round(&p, fb, &te[k], &td[k]) < 0 ||
			    (tiles && tiles_round(&t, fb, tbuf, &tt[k], &tbytes) < 0))
				return -1;
			both[k] = te[k] + td[k];
			rboth[k] = re[k] + rd[k];
		}
		snprintf(what, sizeof(what), "%s encode", jpegs[i].name);
		add(sr, what, te, re, rounds, p.b.len, "tjCompress2");
		snprintf(what, sizeof(what), "%s decode", jpegs[i].name);
		add(sr, what, td, rd, rounds, 0, "tjDecompress2");
		if (tiles) {
			add(sr, "relay q8 decode+encode", both, rboth, rounds, p.b.len,
			    "tjDecompress2+tjCompress2");
			snprintf(what, sizeof(what), "tiles64 tjCompress2 q%d", t.q);
			add(sr, what, tt, re, rounds, tbytes, "tjCompress2");
		}
		snprintf(what, sizeof(what), "tjCompress2 q%d", t.q);
		add_ref(sr, what, re, rounds, t.bytes);
		snprintf(what, sizeof(what), "tjDecompress2 q%d", t.q);
		add_ref(sr, what, rd, rounds, 0);
		pg_bench_free(&p);
		tjFree(tbuf);
		free(t.back);
		tjDestroy(t.c);
		tjDestroy(t.d);
	}

	size_t raw = (size_t)fb->w * fb->h * 4, zbytes = 0;
	uLongf cap = compressBound((uLong)raw);
	uint8_t *z = malloc(cap), *back = malloc(raw);
	if (!z || !back)
		return -1;
	for (size_t i = 0; i < sizeof(lossless) / sizeof(lossless[0]); i++) {
		struct pg_enc_opts o = {-1, -1, -1, 1, 0};
		struct pg_bench p = {0};
		if (pg_bench_init(&p, lossless[i].name, lossless[i].id, &o, fb) < 0)
			return -1;
		for (int k = 0; k < rounds; k++)
			if (zlib_round(fb, z, cap, back, &re[k], &rd[k], &zbytes) < 0 ||
			    pg_round(&p, fb, &te[k], &td[k]) < 0)
				return -1;
		snprintf(what, sizeof(what), "%s encode", lossless[i].name);
		add(sr, what, te, re, rounds, p.b.len, "compress2");
		snprintf(what, sizeof(what), "%s decode", lossless[i].name);
		add(sr, what, td, rd, rounds, 0, "uncompress");
		if (i == 0) {
			add_ref(sr, "compress2 level 1", re, rounds, zbytes);
			add_ref(sr, "uncompress", rd, rounds, 0);
		}
		pg_bench_free(&p);
	}
	free(z);
	free(back);
	return 0;
}

static int write_json(const char *path, int w, int h, int rounds, bool font,
		      const struct screen_results *sr, int nscreens)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f,
		"{\"section\":\"codec\",\"size\":\"%dx%d\",\"rounds\":%d,\"font\":%s,\"screens\":[",
		w, h, rounds, font ? "true" : "false");
	for (int s = 0; s < nscreens; s++) {
		fprintf(f, "%s{\"name\":\"%s\",\"results\":[", s ? "," : "", sr[s].name);
		for (int i = 0; i < sr[s].n; i++) {
			const struct result *r = &sr[s].r[i];
			fprintf(f,
				"%s{\"what\":\"%s\",\"ms\":%.3f,\"mpx_s\":%.2f,\"bytes\":%zu,"
				"\"ratio_vs_ref\":%.3f,\"ref\":\"%s\"}",
				i ? "," : "", r->what, r->ms, (double)w * h / r->ms / 1e3, r->bytes,
				r->ratio, r->ref);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]}\n");
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int w = 1920, h = 1080, rounds = 15;
	const char *json = NULL;
	char err[256];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc &&
		    sscanf(argv[i + 1], "%dx%d", &w, &h) == 2) {
			i++;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: pg-bench-codec [--size WxH] [--rounds N] "
					"[--json FILE]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "pg-bench-codec: --rounds must be 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	struct pg_fb fb;
	if (pg_fb_alloc(&fb, w, h) < 0) {
		fprintf(stderr, "pg-bench-codec: bad size %dx%d\n", w, h);
		return 2;
	}
	struct pg_font *font =
	    pg_font_open(PG_FONT_NOTO_CJK, PG_FONT_NOTO_CJK_JP, err, sizeof(err));
	if (!font)
		fprintf(stderr,
			"pg-bench-codec: note: %s; text is synthetic strokes instead of glyphs\n",
			err);

	static struct screen_results sr[NSCREENS];
	printf("pg-bench-codec: %dx%d, median of %d rounds, text %s\n", w, h, rounds,
	       font ? "Noto Sans CJK JP (FreeType)" : "synthetic strokes (font missing)");
	for (int s = 0; s < NSCREENS; s++) {
		make_screen(&fb, (enum screen)s, font);
		sr[s].name = screen_names[s];
		if (bench_screen(&fb, rounds, &sr[s]) < 0) {
			fprintf(stderr, "pg-bench-codec: %s: a codec failed\n", screen_names[s]);
			return 1;
		}
		printf("\n[%s]\n%-28s %9s %9s %11s %7s  %s\n", screen_names[s], "", "ms", "Mpx/s",
		       "bytes", "ratio", "vs");
		for (int i = 0; i < sr[s].n; i++) {
			const struct result *r = &sr[s].r[i];
			printf("%-28s %9.2f %9.1f %11zu %7.2f  %s\n", r->what, r->ms,
			       (double)w * h / r->ms / 1e3, r->bytes, r->ratio,
			       r->ref[0] ? r->ref : "(reference)");
		}
	}
	if (json && write_json(json, w, h, rounds, font != NULL, sr, NSCREENS) < 0) {
		fprintf(stderr, "pg-bench-codec: cannot write %s\n", json);
		return 1;
	}
	pg_font_del(font);
	pg_fb_free(&fb);
	return 0;
}
