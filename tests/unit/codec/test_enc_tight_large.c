/* Tight's large JPEG rectangles, exact fills and palettes around them, lanes (two
 * encoders of one viewer filling one update) and pg_encoder_set_jpeg, each checked
 * by libvncclient and by pixelgate's own Tight decoder. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/decoder.h"
#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "enc_util.h"
#include "replay_util.h"

static const struct pg_pixfmt be32 = {32, 32, 1, 1, 255, 255, 255, 16, 8, 0};
/* Not checked here: red in the top byte (shifts 24, 16, 8), which 0.9.14 claims to
 * decode JPEG into directly but garbles (whatever the JPEG's size), and big-endian
 * depth 24, whose fills it garbles (see test_enc_tight.c). */

/* 1280x704: text on the left (3 colours), a photo top right, flat blocks below it;
 * the areas are on 64-pixel lines. seed varies the photo's grain. */
static void picture(struct pg_fb *fb, uint32_t seed)
{
	struct pg_fb part;

	pgt_image(fb, PGT_IMG_TEXT, seed);
	cr_assert_eq(pg_fb_alloc(&part, fb->w, fb->h), 0);
	pgt_image(&part, PGT_IMG_PHOTO, seed);
	pg_fb_copy_rect(fb, &part, &(struct pg_rect){640, 0, fb->w - 640, 320});
	pgt_image(&part, PGT_IMG_BLOCKS, seed);
	pg_fb_copy_rect(fb, &part, &(struct pg_rect){640, 320, fb->w - 640, fb->h - 320});
	pg_fb_free(&part);
}

static bool in_photo(int x, int y)
{
	return x >= 640 && y < 320;
}

/* Decode one FramebufferUpdate with pixelgate's decoder into fb; the number of JPEG
 * rectangles and the largest one's pixels go to *njpeg and *maxjpeg. */
static void own_decode(struct pg_decoder *dec, struct pg_fb *fb, const struct pg_buf *b, int *njpeg,
		       long *maxjpeg)
{
	size_t off = 4;
	int n = pg_rd16(b->data + 2);

	*njpeg = 0;
	*maxjpeg = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *h = b->data + off;
		struct pg_rect r = {pg_rd16(h), pg_rd16(h + 2), pg_rd16(h + 4), pg_rd16(h + 6)};
		const char *why = NULL;
		cr_assert_eq((int32_t)pg_rd32(h + 8), PG_ENC_TIGHT);
		if ((h[12] & 0xf0) == 0x90) {
			(*njpeg)++;
			if ((long)r.w * r.h > *maxjpeg)
				*maxjpeg = (long)r.w * r.h;
		}
		ssize_t used =
		    pg_decode_rect(dec, PG_ENC_TIGHT, &r, fb, h + 12, b->len - off - 12, &why);
		cr_assert_gt(used, 0, "rect %d: %s", i, why ? why : "short");
		off += 12 + (size_t)used;
	}
	cr_assert_eq(off, b->len);
}

/* Lossless outside the photo, MSE under max_mse inside it. */
static void compare(const struct pg_fb *want, const struct pg_fb *got, const struct pg_pixfmt *pf,
		    double max_mse, bool jpeg)
{
	double se = 0;
	long n = 0;

	for (int y = 0; y < want->h; y++) {
		for (int x = 0; x < want->w; x++) {
			uint32_t p = want->px[(size_t)y * want->stride + x];
			uint32_t q = got->px[(size_t)y * got->stride + x];
			if (!jpeg || !in_photo(x, y)) {
				cr_assert_eq(pgt_quantize(pf, p), q, "(%d,%d) is %06x, want %06x",
					     x, y, q, pgt_quantize(pf, p));
				continue;
			}
			for (int sh = 0; sh < 24; sh += 8) {
				double d = (double)((p >> sh) & 0xff) - (double)((q >> sh) & 0xff);
				se += d * d;
				n++;
			}
		}
	}
	if (n)
		cr_assert_leq(se / n, max_mse, "photo MSE %.2f over %.2f", se / n, max_mse);
}

static size_t compact(const uint8_t *c, size_t *len)
{
	*len = c[0] & 0x7f;
	if (!(c[0] & 0x80))
		return 1;
	*len |= (size_t)(c[1] & 0x7f) << 7;
	if (!(c[1] & 0x80))
		return 2;
	*len |= (size_t)c[2] << 14;
	return 3;
}

/* Bytes of one Tight rectangle's body at p (as pixelgate writes them). */
static size_t tight_len(const struct pg_pixfmt *pf, int w, int h, const uint8_t *p)
{
	unsigned tpx = pf->bpp == 32 && pf->depth == 24 && pf->red_max == 255 &&
			       pf->green_max == 255 && pf->blue_max == 255
			   ? 3
			   : pf->bpp / 8u;
	uint8_t ctl = p[0] & 0xf0;
	size_t k = 1, raw, len;

	if (ctl == 0x80)
		return 1 + tpx;
	if (ctl == 0x90) {
		k += compact(p + 1, &len);
		return k + len;
	}
	if (ctl & 0x40) { /* palette */
		unsigned npal = p[2] + 1u;
		k = 3 + npal * tpx;
		raw = npal == 2 ? (size_t)(w + 7) / 8 * h : (size_t)w * h;
	} else {
		raw = (size_t)w * h * tpx;
	}
	if (raw < 12)
		return k + raw;
	k += compact(p + k, &len);
	return k + len;
}

struct one_enc {
	const struct pg_fb *img;
	struct pg_enc_opts opts;
	long maxjpeg;
};

static int make_one(void *arg, int u, const struct pg_pixfmt *pf, struct pg_buf *out)
{
	struct one_enc *o = arg;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, pf, &o->opts);
	int n;

	if (!e)
		return -1;
	pg_enc_update_header(out, 0);
	n = pg_encoder_encode(e, o->img, &(struct pg_rect){0, 0, o->img->w, o->img->h}, out);
	pg_encoder_del(e);
	if (n <= 0)
		return -1;
	pg_wr16(out->data + 2, (uint16_t)n);
	/* the largest JPEG this viewer format got */
	size_t off = 4;
	for (int i = 0; i < n; i++) {
		const uint8_t *h = out->data + off;
		int w = pg_rd16(h + 4), ht = pg_rd16(h + 6);
		if ((h[12] & 0xf0) == 0x90 && (long)w * ht > o->maxjpeg)
			o->maxjpeg = (long)w * ht;
		off += 12 + tight_len(pf, w, ht, h + 12);
	}
	return 0;
}

static void large_jpeg(const struct pg_pixfmt *pf, double max_mse, long want_max)
{
	struct pg_fb img, got;
	struct one_enc o = {.img = &img, .opts = {8, -1, -1, -1, 0}};
	struct pgt_replay r = {.w = 1280,
			       .h = 704,
			       .pf = *pf,
			       .encodings = "tight",
			       .quality = 8,
			       .updates = 1,
			       .make = make_one,
			       .arg = &o};
	const char *err = NULL;

	cr_assert_eq(pg_fb_alloc(&img, 1280, 704), 0);
	picture(&img, 7);
	cr_assert_eq(pgt_vnc_replay(&r, &got, &err), 0, "%s", err);
	compare(&img, &got, pf, max_mse, true);
	if (want_max)
		cr_assert_geq(o.maxjpeg, want_max, "largest JPEG %ld px", o.maxjpeg);
	else
		cr_assert(o.maxjpeg > 0 && o.maxjpeg <= 65536, "largest JPEG %ld px", o.maxjpeg);
	pg_fb_free(&got);
	pg_fb_free(&img);
}

Test(enc_tight_large, one_jpeg_for_the_photo_by_libvncclient)
{
	/* formats libvncclient decodes JPEG into directly: the photo in one rect */
	large_jpeg(&pg_pixfmt_canonical, PGT_MSE_AT_35DB, 640L * 320);
	large_jpeg(&pgt_bgr888, PGT_MSE_AT_35DB, 640L * 320);
}

Test(enc_tight_large, converted_formats_keep_jpeg_within_libvncclient_buffer)
{
	/* libvncclient converts these through a 640x480x3 buffer: JPEGs stay small */
	large_jpeg(&be32, PGT_MSE_AT_35DB, 0);
	large_jpeg(&pgt_rgb565, PGT_MSE_AT_35DB + 12, 0);
}

Test(enc_tight_large, own_decoder_large_jpeg_and_exact_rest)
{
	struct pg_fb img, got;
	struct pg_buf b;
	struct pg_decoder *dec = pg_decoder_new();
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &q8);
	int njpeg;
	long maxjpeg;

	cr_assert_eq(pg_fb_alloc(&img, 1280, 704), 0);
	cr_assert_eq(pg_fb_alloc(&got, 1280, 704), 0);
	picture(&img, 3);
	pg_buf_init(&b, 64 << 20);
	pg_enc_update_header(&b, 0);
	int n = pg_encoder_encode(e, &img, &(struct pg_rect){0, 0, 1280, 704}, &b);
	cr_assert_gt(n, 0);
	pg_wr16(b.data + 2, (uint16_t)n);
	own_decode(dec, &got, &b, &njpeg, &maxjpeg);
	cr_assert_eq(njpeg, 1, "the photo is one JPEG, got %d", njpeg);
	cr_assert_eq(maxjpeg, 640L * 320);
	compare(&img, &got, &pg_pixfmt_canonical, PGT_MSE_AT_35DB, true);
	/* far fewer rectangles than 64x64 tiles */
	cr_assert_lt(n, 1280 / 64 * 704 / 64 / 2, "%d rectangles", n);
	pg_buf_free(&b);
	pg_fb_free(&got);
	pg_fb_free(&img);
	pg_encoder_del(e);
	pg_decoder_del(dec);
}

/* ---- lanes ---- */

struct lanes {
	struct pg_encoder *e[2];
	const struct pg_pixfmt *pf; /* format the encoders were made for */
	struct pg_enc_opts opts;
	struct pg_fb img[3];
	struct pg_buf sent[3]; /* a copy of each update, for our own decoder */
};

static int make_lanes(void *arg, int u, const struct pg_pixfmt *pf, struct pg_buf *out)
{
	struct lanes *l = arg;
	const struct pg_fb *img = &l->img[u];
	int half = img->h / 2 + 5; /* not on a tile line */
	struct pg_rect top = {0, 0, img->w, half}, bottom = {0, half, img->w, img->h - half};
	struct pg_buf part[2];
	int n[2];

	for (int i = 0; i < 2; i++) {
		if (!l->e[i]) {
			struct pg_enc_opts o = l->opts;
			o.lane = i;
			l->e[i] = pg_encoder_new(PG_ENC_TIGHT, pf, &o);
			if (!l->e[i])
				return -1;
		}
		pg_buf_init(&part[i], 64 << 20);
	}
	/* as if on two threads: each lane encodes its half on its own */
	n[0] = pg_encoder_encode(l->e[0], img, &top, &part[0]);
	n[1] = pg_encoder_encode(l->e[1], img, &bottom, &part[1]);
	if (n[0] <= 0 || n[1] <= 0)
		return -1;
	pg_enc_update_header(out, (uint16_t)(n[0] + n[1]));
	/* odd updates put lane 1 first: the order does not matter */
	int first = u & 1;
	pg_buf_append(out, part[first].data, part[first].len);
	pg_buf_append(out, part[!first].data, part[!first].len);
	pg_buf_init(&l->sent[u], 64 << 20);
	pg_buf_append(&l->sent[u], out->data, out->len);
	pg_buf_free(&part[0]);
	pg_buf_free(&part[1]);
	return 0;
}

static void lanes_check(const struct pg_pixfmt *pf, struct pg_enc_opts opts, double max_mse)
{
	struct lanes l = {.opts = opts, .pf = pf};
	struct pgt_replay r = {.w = 640,
			       .h = 448,
			       .pf = *pf,
			       .encodings = "tight",
			       .quality = opts.quality,
			       .updates = 3,
			       .make = make_lanes,
			       .arg = &l};
	const char *err = NULL;
	struct pg_fb got, own;
	bool jpeg = opts.quality >= 0;

	for (int u = 0; u < 3; u++) {
		cr_assert_eq(pg_fb_alloc(&l.img[u], 640, 448), 0);
		pgt_image(&l.img[u], PGT_IMG_MIXED, (uint32_t)u + 1);
		/* move a block so each update differs beyond the photo's grain */
		pg_fb_fill(&l.img[u], &(struct pg_rect){20 + 50 * u, 30, 40, 40}, 0x00c0ff);
	}
	cr_assert_eq(pgt_vnc_replay(&r, &got, &err), 0, "%s", err);
	/* MIXED has its photo in the bottom-left quadrant */
	double mse = pgt_mse(&l.img[2], &got);
	if (!jpeg) {
		for (int y = 0; y < 448; y++)
			for (int x = 0; x < 640; x++)
				cr_assert_eq(got.px[(size_t)y * got.stride + x],
					     pgt_quantize(pf, l.img[2].px[(size_t)y * 640 + x]),
					     "(%d,%d)", x, y);
	} else {
		cr_assert_leq(mse, max_mse, "libvncclient MSE %.2f", mse);
	}
	pg_fb_free(&got);

	/* pixelgate's own decoder, update by update (canonical format only) */
	if (pf == &pg_pixfmt_canonical) {
		struct pg_decoder *dec = pg_decoder_new();
		int njpeg;
		long maxjpeg;
		cr_assert_eq(pg_fb_alloc(&own, 640, 448), 0);
		for (int u = 0; u < 3; u++) {
			own_decode(dec, &own, &l.sent[u], &njpeg, &maxjpeg);
			double m = pgt_mse(&l.img[u], &own);
			cr_assert_leq(m, jpeg ? max_mse : 0, "update %d: MSE %.2f", u, m);
		}
		pg_fb_free(&own);
		pg_decoder_del(dec);
	}
	for (int u = 0; u < 3; u++) {
		pg_fb_free(&l.img[u]);
		pg_buf_free(&l.sent[u]);
	}
	pg_encoder_del(l.e[0]);
	pg_encoder_del(l.e[1]);
}

Test(enc_tight_large, lanes_lossless)
{
	struct pg_enc_opts lossless = {-1, -1, -1, -1, 0};
	lanes_check(&pg_pixfmt_canonical, lossless, 0);
	lanes_check(&pgt_rgb565, lossless, 0);
	lanes_check(&pgt_bgr233, lossless, 0);
}

Test(enc_tight_large, lanes_jpeg)
{
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	lanes_check(&pg_pixfmt_canonical, q8, PGT_MSE_AT_35DB);
}

Test(enc_tight_large, lane_streams_and_reset_bits)
{
	struct pg_enc_opts o = {-1, -1, -1, -1, 1};
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &o);
	struct pg_fb fb;
	struct pg_buf b;

	cr_assert_eq(pg_fb_alloc(&fb, 64, 64), 0);
	pgt_image(&fb, PGT_IMG_NOISE, 1);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 64, 64}, &b), 1);
	/* full colour through stream 2, resetting streams 2 and 3 only */
	cr_assert_eq(b.data[12], 0x20 | 0x0c);
	pg_buf_reset(&b);
	pgt_image(&fb, PGT_IMG_TEXT, 1);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 64, 64}, &b), 1);
	cr_assert_eq(b.data[12], 0x40 | 0x30, "palette through stream 3, no reset");
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_tight_large, lanes_per_encoding)
{
	struct pg_enc_opts l1 = {-1, -1, -1, -1, 1}, l2 = {-1, -1, -1, -1, 2};
	struct pg_encoder *e;

	cr_assert_null(pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, &l1));
	cr_assert_null(pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &l2));
	e = pg_encoder_new(PG_ENC_RAW, &pg_pixfmt_canonical, &l1);
	cr_assert_not_null(e);
	pg_encoder_del(e);
	e = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, NULL);
	cr_assert_eq(pg_encoder_configure(e, &pg_pixfmt_canonical, &l1), PG_EUNSUP);
	pg_encoder_del(e);
	/* a zero-initialised struct is lane 0 */
	struct pg_enc_opts zero = {0};
	e = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, &zero);
	cr_assert_not_null(e);
	pg_encoder_del(e);
}

/* ---- set_jpeg ---- */

struct switching {
	struct pg_encoder *e;
	struct pg_fb img[4];
	struct pg_buf sent[4];
	int q[4], samp[4];
};

static int make_switching(void *arg, int u, const struct pg_pixfmt *pf, struct pg_buf *out)
{
	struct switching *s = arg;
	struct pg_enc_opts lossless = {-1, -1, -1, -1, 0};

	if (!s->e && !(s->e = pg_encoder_new(PG_ENC_TIGHT, pf, &lossless)))
		return -1;
	if (pg_encoder_set_jpeg(s->e, s->q[u], s->samp[u]) != 0 ||
	    pg_encoder_jpeg_quality(s->e) != s->q[u])
		return -1;
	pg_enc_update_header(out, 0);
	int n = pg_encoder_encode(s->e, &s->img[u], &(struct pg_rect){0, 0, 640, 448}, out);
	if (n <= 0)
		return -1;
	pg_wr16(out->data + 2, (uint16_t)n);
	pg_buf_init(&s->sent[u], 64 << 20);
	pg_buf_append(&s->sent[u], out->data, out->len);
	return 0;
}

Test(enc_tight_large, set_jpeg_switches_quality_and_back_to_lossless)
{
	struct switching s = {.q = {80, -1, 40, -1}, .samp = {-1, -1, 2, 0}};
	struct pgt_replay r = {.w = 640,
			       .h = 448,
			       .pf = pg_pixfmt_canonical,
			       .encodings = "tight",
			       .quality = 8,
			       .updates = 4,
			       .make = make_switching,
			       .arg = &s};
	struct pg_decoder *dec = pg_decoder_new();
	const char *err = NULL;
	struct pg_fb got, own;
	int njpeg;
	long maxjpeg;

	for (int u = 0; u < 4; u++) {
		cr_assert_eq(pg_fb_alloc(&s.img[u], 640, 448), 0);
		pgt_image(&s.img[u], PGT_IMG_MIXED, (uint32_t)u + 9);
	}
	cr_assert_eq(pgt_vnc_replay(&r, &got, &err), 0, "%s", err);
	/* the last update was lossless */
	cr_assert_eq(pgt_mse(&s.img[3], &got), 0);
	cr_assert_eq(pg_fb_alloc(&own, 640, 448), 0);
	for (int u = 0; u < 4; u++) {
		own_decode(dec, &own, &s.sent[u], &njpeg, &maxjpeg);
		double m = pgt_mse(&s.img[u], &own);
		if (s.q[u] < 0) {
			cr_assert_eq(njpeg, 0, "update %d", u);
			cr_assert_eq(m, 0, "update %d: MSE %.2f", u, m);
		} else {
			cr_assert_gt(njpeg, 0, "update %d", u);
			cr_assert_leq(m, s.q[u] >= 80 ? PGT_MSE_AT_35DB : 200, "update %d: %.2f", u,
				      m);
		}
		pg_fb_free(&s.img[u]);
		pg_buf_free(&s.sent[u]);
	}
	pg_fb_free(&own);
	pg_fb_free(&got);
	pg_decoder_del(dec);
	pg_encoder_del(s.e);
}

Test(enc_tight_large, set_jpeg_arguments)
{
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	struct pg_encoder *t = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &q8);
	struct pg_encoder *t8 = pg_encoder_new(PG_ENC_TIGHT, &pgt_bgr233, &q8);
	struct pg_encoder *z = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, NULL);
	struct pg_encoder *raw = pg_encoder_new(PG_ENC_RAW, &pg_pixfmt_canonical, NULL);

	cr_assert_eq(pg_encoder_jpeg_quality(t), 92);
	cr_assert_eq(pg_encoder_set_jpeg(t, 101, -1), PG_EPROTO);
	cr_assert_eq(pg_encoder_set_jpeg(t, 50, 4), PG_EPROTO);
	cr_assert_eq(pg_encoder_set_jpeg(t, -2, -1), PG_EPROTO);
	cr_assert_eq(pg_encoder_jpeg_quality(t), 92, "a refused call changes nothing");
	cr_assert_eq(pg_encoder_set_jpeg(t, 0, 3), 0);
	cr_assert_eq(pg_encoder_jpeg_quality(t), 0);
	cr_assert_eq(pg_encoder_set_jpeg(t, -1, -1), 0);
	cr_assert_eq(pg_encoder_jpeg_quality(t), -1);
	cr_assert_eq(pg_encoder_jpeg_quality(t8), -1, "no JPEG at 8 bpp");
	cr_assert_eq(pg_encoder_set_jpeg(t8, 90, -1), 0);
	cr_assert_eq(pg_encoder_jpeg_quality(t8), -1);
	cr_assert_eq(pg_encoder_set_jpeg(z, 90, -1), PG_EUNSUP);
	cr_assert_eq(pg_encoder_set_jpeg(raw, 90, -1), PG_EUNSUP);
	cr_assert_eq(pg_encoder_jpeg_quality(z), -1);
	cr_assert_eq(pg_encoder_jpeg_quality(raw), -1);
	pg_encoder_del(t);
	pg_encoder_del(t8);
	pg_encoder_del(z);
	pg_encoder_del(raw);
}
