/* Raw: exact bytes for a small rectangle, and libvncclient decodes what we send
 * into the same pixels in every format it can ask for. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "enc_util.h"

Test(enc_raw, bytes_of_a_small_rect)
{
	static const uint8_t want[] = {0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0x00, 0x1f, 0xf8, 0x00};
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_RAW, &pgt_rgb565_be, NULL);

	cr_assert_not_null(e);
	cr_assert_eq(pg_fb_alloc(&fb, 4, 2), 0);
	fb.px[1] = 0x0000ff;
	fb.px[2] = 0xff0000;
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){1, 0, 2, 1}, &b), 1);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert(memcmp(b.data, want, sizeof(want)) == 0);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_raw, cap_is_an_error)
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_RAW, &pg_pixfmt_canonical, NULL);

	cr_assert_eq(pg_fb_alloc(&fb, 64, 64), 0);
	pg_buf_init(&b, 1000);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 64, 64}, &b), PG_ELIMIT);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

static void libvnc(const struct pg_pixfmt *pf, enum pgt_image kind, int w, int h)
{
	struct pgt_vnc_opts o = {
	    .pf = *pf,
	    .encodings = "raw",
	    .quality = -1,
	    .compress = 1,
	    .encoding = PG_ENC_RAW,
	    .enc = {-1, -1, -1, -1},
	    .strips = 2,
	    .updates = 1,
	};
	char msg[256];
	cr_assert_eq(pgt_check(kind, w, h, &o, -1, msg, sizeof(msg)), 0, "%s", msg);
}

Test(enc_raw, libvncclient_32bpp)
{
	libvnc(&pg_pixfmt_canonical, PGT_IMG_MIXED, 97, 61);
	libvnc(&pg_pixfmt_canonical, PGT_IMG_NOISE, 1, 1);
	libvnc(&pgt_bgr888, PGT_IMG_GRADIENT, 65, 67);
}

Test(enc_raw, libvncclient_32bpp_big_endian)
{
	libvnc(&pgt_rgb888_be, PGT_IMG_MIXED, 97, 61);
}

Test(enc_raw, libvncclient_16bpp)
{
	libvnc(&pgt_rgb565, PGT_IMG_MIXED, 97, 61);
	libvnc(&pgt_rgb565_be, PGT_IMG_GRADIENT, 2049, 3);
}

Test(enc_raw, libvncclient_8bpp)
{
	libvnc(&pgt_bgr233, PGT_IMG_MIXED, 97, 61);
}
