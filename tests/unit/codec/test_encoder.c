/* The FramebufferUpdate writers and the encoder factory: exact bytes for every
 * pseudo-rectangle, and limits refused rather than truncated. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "enc_util.h"

static struct pg_buf b;

static void setup(void)
{
	pg_buf_init(&b, 1 << 20);
}

static void teardown(void)
{
	pg_buf_free(&b);
}

TestSuite(encoder, .init = setup, .fini = teardown);

static void expect(const uint8_t *want, size_t len)
{
	cr_assert_eq(b.len, len);
	cr_assert(memcmp(b.data, want, len) == 0);
}

Test(encoder, update_and_rect_headers)
{
	static const uint8_t want[] = {0, 0, 0x01, 0x02, 0, 1, 0, 2, 0, 3, 0, 4, 0, 0, 0, 16};
	cr_assert_eq(pg_enc_update_header(&b, 0x102), 0);
	cr_assert_eq(pg_enc_rect_header(&b, &(struct pg_rect){1, 2, 3, 4}, PG_ENC_ZRLE), 0);
	expect(want, sizeof(want));
	cr_assert_eq(pg_enc_rect_header(&b, &(struct pg_rect){-1, 2, 3, 4}, 0), PG_EPROTO);
	cr_assert_eq(pg_enc_rect_header(&b, &(struct pg_rect){0, 0, 65536, 4}, 0), PG_EPROTO);
}

Test(encoder, copyrect)
{
	static const uint8_t want[] = {0, 10, 0, 20, 0, 30, 0, 40, 0, 0, 0, 1, 0, 5, 1, 0};
	cr_assert_eq(pg_enc_copyrect(&b, &(struct pg_rect){10, 20, 30, 40}, 5, 256), 0);
	expect(want, sizeof(want));
}

Test(encoder, cursor_in_viewer_format)
{
	/* 3x2 cursor, RGB565 big-endian: pixels then a one-byte-per-row mask */
	static const uint32_t px[6] = {0xff0000, 0x00ff00, 0x0000ff, 0xffffff, 0, 0xff0000};
	static const uint8_t mask[2] = {0xa0, 0x40};
	static const uint8_t want[] = {0,    1,	   0,	 1,    0,    3,	   0,	 2,    0xff,
				       0xff, 0xff, 0x11, 0xf8, 0x00, 0x07, 0xe0, 0x00, 0x1f,
				       0xff, 0xff, 0x00, 0x00, 0xf8, 0x00, 0xa0, 0x40};
	cr_assert_eq(pg_enc_cursor(&b, &pgt_rgb565_be, 1, 1, 3, 2, px, mask), 0);
	expect(want, sizeof(want));
	cr_assert_eq(
	    pg_enc_cursor(&b, &pgt_rgb565_be, 0, 0, PG_RFB_MAX_CURSOR_SIDE + 1, 1, px, mask),
	    PG_ELIMIT);
	cr_assert_eq(pg_enc_cursor(&b, &pgt_rgb565_be, 3, 0, 3, 2, px, mask), PG_EPROTO);
}

Test(encoder, empty_cursor)
{
	static const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x11};
	cr_assert_eq(pg_enc_cursor(&b, &pg_pixfmt_canonical, 0, 0, 0, 0, NULL, NULL), 0);
	expect(want, sizeof(want));
}

Test(encoder, desktop_size)
{
	static const uint8_t want[] = {0, 0, 0, 0, 0x07, 0x80, 0x04, 0x38, 0xff, 0xff, 0xff, 0x21};
	cr_assert_eq(pg_enc_desktop_size(&b, 1920, 1080), 0);
	expect(want, sizeof(want));
}

Test(encoder, ext_desktop_size_one_screen)
{
	static const uint8_t want[] = {
	    0, 1, 0, 3, 0x07, 0x80, 0x04, 0x38, 0xff, 0xff, 0xfe, 0xcc, 1, 0, 0, 0,
	    0, 0, 0, 1, 0,    0,    0,	  0,	0x07, 0x80, 0x04, 0x38, 0, 0, 0, 0};
	cr_assert_eq(pg_enc_ext_desktop_size(&b, 1920, 1080, 1, 3), 0);
	expect(want, sizeof(want));
}

Test(encoder, desktop_name)
{
	static const uint8_t want[] = {0,    0,	   0, 0, 0, 0, 0,   0,	 0xff, 0xff,
				       0xfe, 0xcd, 0, 0, 0, 3, 'a', 'b', 'c'};
	char big[PG_RFB_NAME_OUT + 1];
	cr_assert_eq(pg_enc_desktop_name(&b, "abc", 3), 0);
	expect(want, sizeof(want));
	memset(big, 'x', sizeof(big));
	cr_assert_eq(pg_enc_desktop_name(&b, big, sizeof(big)), PG_ELIMIT);
	cr_assert_eq(pg_enc_desktop_name(&b, big, PG_RFB_NAME_OUT), 0);
}

Test(encoder, qemu_key_ack)
{
	/* x, y, w, h 0, encoding -258, no body */
	static const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xfe, 0xfe};
	struct pg_buf small;

	cr_assert_eq(pg_enc_qemu_key_ack(&b), 0);
	expect(want, sizeof(want));
	pg_buf_init(&small, 11);
	cr_assert_eq(pg_enc_qemu_key_ack(&small), PG_ELIMIT);
	cr_assert_eq(small.len, 0);
	pg_buf_free(&small);
}

Test(encoder, buffer_cap_is_an_error)
{
	struct pg_buf small;
	pg_buf_init(&small, 10);
	cr_assert_eq(pg_enc_desktop_size(&small, 10, 10), PG_ELIMIT);
	pg_buf_free(&small);
}

Test(encoder, factory)
{
	static const int32_t encs[] = {PG_ENC_RAW, PG_ENC_ZRLE, PG_ENC_TIGHT};
	struct pg_pixfmt bad = pg_pixfmt_canonical;
	struct pg_fb fb;
	bad.true_colour = 0;
	cr_assert_eq(pg_fb_alloc(&fb, 8, 8), 0);
	for (size_t i = 0; i < 3; i++) {
		struct pg_encoder *e = pg_encoder_new(encs[i], &pg_pixfmt_canonical, NULL);
		pg_buf_reset(&b);
		cr_assert_not_null(e);
		cr_assert_eq(pg_encoder_encoding(e), encs[i]);
		/* a rectangle outside the framebuffer is refused, nothing written */
		cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){4, 4, 5, 1}, &b),
			     PG_EPROTO);
		cr_assert_eq(b.len, 0);
		cr_assert_gt(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 8, 8}, &b), 0);
		pg_encoder_del(e);
		cr_assert_null(pg_encoder_new(encs[i], &bad, NULL));
	}
	cr_assert_null(pg_encoder_new(PG_ENC_HEXTILE, &pg_pixfmt_canonical, NULL));
	pg_encoder_del(NULL);
	pg_fb_free(&fb);
}
