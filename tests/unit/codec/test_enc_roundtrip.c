/* pixelgate's encoders against pixelgate's own decoders (canonical format only):
 * what one side writes, the other reads back exactly (or close, for JPEG), with
 * the streams' state carried across rectangles and updates. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/decoder.h"
#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "enc_util.h"

/* Encode r of img with e and decode every rectangle written into dst. */
static void through(struct pg_encoder *e, struct pg_decoder *d, const struct pg_fb *img,
		    const struct pg_rect *r, struct pg_fb *dst)
{
	struct pg_buf b;
	size_t off = 0;
	int n;

	pg_buf_init(&b, 256u << 20);
	n = pg_encoder_encode(e, img, r, &b);
	cr_assert_gt(n, 0);
	for (int i = 0; i < n; i++) {
		cr_assert_leq(off + 12, b.len);
		struct pg_rect sub = {pg_rd16(b.data + off), pg_rd16(b.data + off + 2),
				      pg_rd16(b.data + off + 4), pg_rd16(b.data + off + 6)};
		int32_t enc = (int32_t)pg_rd32(b.data + off + 8);
		const char *why = NULL;
		off += 12;
		ssize_t k = pg_decode_rect(d, enc, &sub, dst, b.data + off, b.len - off, &why);
		cr_assert_gt(k, 0, "rect %d of %d: %zd (%s)", i, n, k, why ? why : "");
		off += (size_t)k;
	}
	cr_assert_eq(off, b.len, "decoder left %zu bytes", b.len - off);
	pg_buf_free(&b);
}

static void roundtrip(int32_t encoding, const struct pg_pixfmt *pf, struct pg_enc_opts opts,
		      enum pgt_image kind, int w, int h, double max_mse)
{
	struct pg_fb img, got;
	struct pg_encoder *e = pg_encoder_new(encoding, pf, &opts);
	struct pg_decoder *d = pg_decoder_new();

	cr_assert_not_null(e);
	cr_assert_not_null(d);
	cr_assert_eq(pg_fb_alloc(&img, w, h), 0);
	cr_assert_eq(pg_fb_alloc(&got, w, h), 0);
	pgt_image(&img, kind, 7);
	/* three strips, then the whole picture again: state crosses rectangles */
	for (int i = 0; i < 3; i++) {
		struct pg_rect r = {0, h * i / 3, w, h * (i + 1) / 3 - h * i / 3};
		if (r.h > 0)
			through(e, d, &img, &r, &got);
	}
	through(e, d, &img, &(struct pg_rect){0, 0, w, h}, &got);
	if (max_mse >= 0) {
		double mse = pgt_mse(&img, &got);
		cr_assert_leq(mse, max_mse, "%dx%d image %d: MSE %.2f", w, h, (int)kind, mse);
	} else {
		for (int i = 0; i < w * h; i++)
			cr_assert_eq(got.px[i], img.px[i], "%dx%d image %d pixel %d: %06x != %06x",
				     w, h, (int)kind, i, got.px[i], img.px[i]);
	}
	pg_fb_free(&img);
	pg_fb_free(&got);
	pg_decoder_del(d);
	pg_encoder_del(e);
}

static const struct pg_enc_opts lossless = {-1, -1, -1, -1, 0};

static void all_images(int32_t encoding, struct pg_enc_opts opts)
{
	static const enum pgt_image kinds[] = {PGT_IMG_GRADIENT, PGT_IMG_TEXT,	 PGT_IMG_NOISE,
					       PGT_IMG_PHOTO,	 PGT_IMG_BLOCKS, PGT_IMG_MIXED};
	static const int sizes[][2] = {{1, 1}, {65, 67}, {2049, 3}, {300, 200}};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			roundtrip(encoding, &pg_pixfmt_canonical, opts, kinds[k], sizes[s][0],
				  sizes[s][1], -1);
}

Test(enc_roundtrip, raw)
{
	all_images(PG_ENC_RAW, lossless);
}

Test(enc_roundtrip, zrle)
{
	all_images(PG_ENC_ZRLE, lossless);
}

Test(enc_roundtrip, tight_lossless)
{
	all_images(PG_ENC_TIGHT, lossless);
}

Test(enc_roundtrip, tight_jpeg_quality_8)
{
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	roundtrip(PG_ENC_TIGHT, &pg_pixfmt_canonical, q8, PGT_IMG_PHOTO, 320, 240, PGT_MSE_AT_35DB);
	roundtrip(PG_ENC_TIGHT, &pg_pixfmt_canonical, q8, PGT_IMG_MIXED, 2049, 70, PGT_MSE_AT_35DB);
}
