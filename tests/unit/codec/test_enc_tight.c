/* Tight: exact bytes for fill and short palette data, stream-reset bits only in
 * the first rectangle, whole fills and zlib rectangles within the limits, lossless decoding by
 * libvncclient in every format, and JPEG at quality 8 above 35 dB PSNR. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "enc_util.h"

static const struct pg_enc_opts lossless = {-1, -1, -1, -1, 0};

Test(enc_tight, fill_bytes_and_reset_once)
{
	/* lane 0 resets its streams 0 and 1: bits 0x03 */
	static const uint8_t want[] = {0, 0, 0, 0, 0, 8, 0, 8, 0, 0, 0, 7, 0x83, 0x12, 0x34, 0x56,
				       0, 0, 0, 0, 0, 8, 0, 8, 0, 0, 0, 7, 0x80, 0x12, 0x34, 0x56};
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &lossless);
	struct pg_rect r = {0, 0, 8, 8};

	cr_assert_eq(pg_fb_alloc(&fb, 8, 8), 0);
	pg_fb_fill(&fb, &r, 0x123456);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &b), 1);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &b), 1);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert(memcmp(b.data, want, sizeof(want)) == 0);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_tight, short_palette_data_is_not_compressed)
{
	/* 2x2, four colours, RGB565 little-endian: palette filter (stream 1) with
	 * 2-byte TPIXELs, then 4 index bytes sent as is (under 12 bytes) */
	static const uint8_t want[] = {0,    0,	   0,	 0,    0,    2, 0,    2,    0,
				       0,    0,	   7,	 0x53, 1,    3, 0x00, 0xf8, 0xe0,
				       0x07, 0x1f, 0x00, 0xff, 0xff, 0, 1,    2,    3};
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pgt_rgb565, &lossless);

	cr_assert_eq(pg_fb_alloc(&fb, 2, 2), 0);
	fb.px[0] = 0xff0000;
	fb.px[1] = 0x00ff00;
	fb.px[2] = 0x0000ff;
	fb.px[3] = 0xffffff;
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 2, 2}, &b), 1);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert(memcmp(b.data, want, sizeof(want)) == 0);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_tight, fills_are_whole_and_zlib_rects_within_limits)
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &lossless);

	cr_assert_eq(pg_fb_alloc(&fb, 4100, 40), 0);
	pg_buf_init(&b, 64 << 20);
	/* solid black: one fill, whatever its size */
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 4100, 40}, &b), 1);
	cr_assert_eq(b.len, 12 + 1 + 3);
	cr_assert_eq(pg_rd16(b.data + 4), 4100);
	cr_assert_eq(b.data[12], 0x83);
	/* noise: every zlib rectangle within 2048 wide and 65536 pixels, covering all */
	pgt_image(&fb, PGT_IMG_NOISE, 5);
	pg_buf_reset(&b);
	int n = pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 4100, 40}, &b);
	cr_assert_gt(n, 2);
	size_t off = 0;
	long area = 0;
	for (int i = 0; i < n; i++) {
		int w = pg_rd16(b.data + off + 4), h = pg_rd16(b.data + off + 6);
		cr_assert(w <= 2048 && (long)w * h <= 65536, "rect %d is %dx%d", i, w, h);
		cr_assert_eq(b.data[off + 12] & 0xf0, 0x00, "full colour, stream 0");
		area += (long)w * h;
		const uint8_t *c = b.data + off + 13;
		size_t len = c[0] & 0x7f, k = 1;
		if (c[0] & 0x80) {
			len |= (size_t)(c[1] & 0x7f) << 7;
			k = 2;
			if (c[1] & 0x80) {
				len |= (size_t)c[2] << 14;
				k = 3;
			}
		}
		off += 12 + 1 + k + len;
	}
	cr_assert_eq(off, b.len);
	cr_assert_eq(area, 4100L * 40);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

static void libvnc(const struct pg_pixfmt *pf, enum pgt_image kind, int w, int h, int strips)
{
	struct pgt_vnc_opts o = {
	    .pf = *pf,
	    .encodings = "tight",
	    .quality = -1,
	    .compress = 1,
	    .encoding = PG_ENC_TIGHT,
	    .enc = lossless,
	    .strips = strips,
	    .updates = 2,
	};
	char msg[256];
	cr_assert_eq(pgt_check(kind, w, h, &o, -1, msg, sizeof(msg)), 0, "%s", msg);
}

static void all_images(const struct pg_pixfmt *pf)
{
	libvnc(pf, PGT_IMG_MIXED, 300, 260, 3);
	libvnc(pf, PGT_IMG_TEXT, 65, 67, 1);
	libvnc(pf, PGT_IMG_NOISE, 70, 64, 2);
	libvnc(pf, PGT_IMG_BLOCKS, 130, 66, 1);
	libvnc(pf, PGT_IMG_GRADIENT, 2049, 3, 1);
	libvnc(pf, PGT_IMG_PHOTO, 1, 1, 1);
}

Test(enc_tight, libvncclient_lossless_32bpp)
{
	all_images(&pg_pixfmt_canonical);
	all_images(&pgt_bgr888);
}

/* libvncclient 0.9.14 stores 3-byte TPIXELs in host byte order whatever the
 * format's byte order (fixed in later releases), so big-endian depth 24 is checked
 * byte by byte; depth 32 sends whole pixels and goes through libvncclient. */
Test(enc_tight, libvncclient_lossless_32bpp_big_endian)
{
	static const struct pg_pixfmt be32 = {32, 32, 1, 1, 255, 255, 255, 16, 8, 0};
	all_images(&be32);
}

Test(enc_tight, tpixel_is_rgb_in_big_endian_too)
{
	static const uint8_t want[] = {0x83, 0x12, 0x34, 0x56};
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pgt_rgb888_be, &lossless);

	cr_assert_eq(pg_fb_alloc(&fb, 8, 8), 0);
	pg_fb_fill(&fb, &(struct pg_rect){0, 0, 8, 8}, 0x123456);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 8, 8}, &b), 1);
	cr_assert_eq(b.len, 12 + sizeof(want));
	cr_assert(memcmp(b.data + 12, want, sizeof(want)) == 0);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_tight, libvncclient_lossless_16bpp)
{
	all_images(&pgt_rgb565);
	all_images(&pgt_rgb565_be);
}

Test(enc_tight, libvncclient_lossless_8bpp)
{
	all_images(&pgt_bgr233);
}

static void jpeg(const struct pg_pixfmt *pf, struct pg_enc_opts enc, int quality,
		 enum pgt_image kind, int w, int h, double max_mse)
{
	struct pgt_vnc_opts o = {
	    .pf = *pf,
	    .encodings = "tight",
	    .quality = quality,
	    .compress = 1,
	    .encoding = PG_ENC_TIGHT,
	    .enc = enc,
	    .strips = 2,
	    .updates = 1,
	};
	char msg[256];
	cr_assert_eq(pgt_check(kind, w, h, &o, max_mse, msg, sizeof(msg)), 0, "%s", msg);
}

Test(enc_tight, libvncclient_jpeg_quality_8_over_35db)
{
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	jpeg(&pg_pixfmt_canonical, q8, 8, PGT_IMG_PHOTO, 320, 240, PGT_MSE_AT_35DB);
	jpeg(&pg_pixfmt_canonical, q8, 8, PGT_IMG_MIXED, 300, 200, PGT_MSE_AT_35DB);
	jpeg(&pgt_rgb888_be, q8, 8, PGT_IMG_PHOTO, 320, 240, PGT_MSE_AT_35DB);
	jpeg(&pgt_bgr888, q8, 8, PGT_IMG_PHOTO, 2049, 40, PGT_MSE_AT_35DB);
}

Test(enc_tight, libvncclient_jpeg_16bpp)
{
	/* RGB565 itself loses up to 3 bits a channel; allow its error too */
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	jpeg(&pgt_rgb565, q8, 8, PGT_IMG_PHOTO, 320, 240, PGT_MSE_AT_35DB + 12);
}

Test(enc_tight, libvncclient_fine_quality_and_subsampling)
{
	struct pg_enc_opts fine = {-1, 95, 0, -1, 0};
	struct pg_enc_opts grey = {8, -1, 3, -1, 0};
	struct pg_enc_opts low = {0, -1, -1, -1, 0};
	jpeg(&pg_pixfmt_canonical, fine, 9, PGT_IMG_PHOTO, 200, 120, PGT_MSE_AT_35DB);
	/* grey JPEG keeps only luma: it decodes, colour is not expected back */
	jpeg(&pg_pixfmt_canonical, grey, 8, PGT_IMG_PHOTO, 200, 120, 5000);
	jpeg(&pg_pixfmt_canonical, low, 0, PGT_IMG_PHOTO, 200, 120, 500);
}

Test(enc_tight, jpeg_never_at_8bpp)
{
	struct pg_enc_opts q8 = {8, -1, -1, -1, 0};
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pgt_bgr233, &q8);

	cr_assert_eq(pg_fb_alloc(&fb, 100, 100), 0);
	pgt_image(&fb, PGT_IMG_PHOTO, 3);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 100, 100}, &b), 1);
	cr_assert_neq(b.data[12] & 0xf0, 0x90);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_tight, failure_resets_streams_in_next_rect)
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &lossless);
	struct pg_rect r = {0, 0, 128, 128};

	cr_assert_eq(pg_fb_alloc(&fb, 128, 128), 0);
	pgt_image(&fb, PGT_IMG_NOISE, 2);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &b), 1);
	cr_assert_eq(b.data[12] & 0x0f, 0x03);
	pg_buf_free(&b);
	pg_buf_init(&b, 4096);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &b), PG_ELIMIT);
	cr_assert_eq(b.len, 0);
	pg_buf_free(&b);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &b), 1);
	cr_assert_eq(b.data[12] & 0x0f, 0x03, "streams reset after the failure");
	pg_buf_reset(&b);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &b), 1);
	cr_assert_eq(b.data[12] & 0x0f, 0);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

/* Restarting (for bytes shared between viewers) sets this lane's reset bits in the next
 * rectangle only, and the output after it is what a fresh encoder writes. */
Test(enc_tight, restart_resets_streams_like_a_fresh_encoder)
{
	struct pg_fb fb;
	struct pg_buf a, b;
	struct pg_enc_opts lane1 = lossless;
	struct pg_rect r = {0, 0, 128, 64};

	lane1.lane = 1;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &lane1);
	struct pg_encoder *fresh = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &lane1);
	cr_assert_eq(pg_fb_alloc(&fb, 128, 64), 0);
	pgt_image(&fb, PGT_IMG_TEXT, 5);
	pg_buf_init(&a, 1 << 20);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &a), 1);
	pg_buf_reset(&a);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &a), 1);
	cr_assert_eq(a.data[12] & 0x0f, 0, "no reset without a restart");
	cr_assert_eq(pg_encoder_restart(e), 0);
	pg_buf_reset(&a);
	cr_assert_eq(pg_encoder_encode(e, &fb, &r, &a), 1);
	cr_assert_eq(a.data[12] & 0x0f, 0x0c, "lane 1 resets streams 2 and 3");
	cr_assert_eq(pg_encoder_encode(fresh, &fb, &r, &b), 1);
	cr_assert_eq(a.len, b.len);
	cr_assert(memcmp(a.data, b.data, a.len) == 0, "restarted output differs from a fresh one");
	pg_buf_free(&a);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
	pg_encoder_del(fresh);
}

Test(enc_tight, restart_of_zrle_is_refused_and_raw_needs_none)
{
	struct pg_encoder *z = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, &lossless);
	struct pg_encoder *raw = pg_encoder_new(PG_ENC_RAW, &pg_pixfmt_canonical, &lossless);

	cr_assert_eq(pg_encoder_restart(z), PG_EUNSUP);
	cr_assert_eq(pg_encoder_restart(raw), 0);
	pg_encoder_del(z);
	pg_encoder_del(raw);
}
