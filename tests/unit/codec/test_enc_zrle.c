/* ZRLE: every tile subencoding and the 3-byte CPIXEL cases decode exactly in
 * libvncclient, and the zlib stream carries over between rectangles and updates. */
#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>

#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "enc_util.h"

static void libvnc(const struct pg_pixfmt *pf, enum pgt_image kind, int w, int h, int strips,
		   int updates)
{
	struct pgt_vnc_opts o = {
	    .pf = *pf,
	    .encodings = "zrle",
	    .quality = -1,
	    .compress = 6,
	    .encoding = PG_ENC_ZRLE,
	    .enc = {-1, -1, -1, 1},
	    .strips = strips,
	    .updates = updates,
	};
	char msg[256];
	cr_assert_eq(pgt_check(kind, w, h, &o, -1, msg, sizeof(msg)), 0, "%s", msg);
}

static void all_images(const struct pg_pixfmt *pf)
{
	libvnc(pf, PGT_IMG_MIXED, 200, 150, 3, 2);
	libvnc(pf, PGT_IMG_TEXT, 65, 67, 1, 1);
	libvnc(pf, PGT_IMG_NOISE, 70, 64, 1, 1);
	libvnc(pf, PGT_IMG_BLOCKS, 130, 66, 2, 1);
	libvnc(pf, PGT_IMG_GRADIENT, 2049, 3, 1, 1);
	libvnc(pf, PGT_IMG_PHOTO, 1, 1, 1, 1);
}

Test(enc_zrle, libvncclient_32bpp_cpixel_low_bytes)
{
	all_images(&pg_pixfmt_canonical);
}

Test(enc_zrle, libvncclient_32bpp_bgr)
{
	all_images(&pgt_bgr888);
}

/* Big-endian with the colour in the low three bytes: the RFC's CPIXEL is the last
 * three wire bytes. libvncclient 0.9.14 cannot decode it (HandleZRLE24Down loads
 * four bytes in host order and shifts, reading the next CPIXEL's first byte), so
 * this case is checked byte by byte. */
static void solid_cpixel(const struct pg_pixfmt *pf, const uint8_t want[3])
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_ZRLE, pf, NULL);
	uint8_t tile[8];
	z_stream zs;

	cr_assert_eq(pg_fb_alloc(&fb, 16, 16), 0);
	pg_fb_fill(&fb, &(struct pg_rect){0, 0, 16, 16}, 0x123456);
	pg_buf_init(&b, 1 << 20);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 16, 16}, &b), 1);
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(inflateInit(&zs), Z_OK);
	zs.next_in = b.data + 16;
	zs.avail_in = pg_rd32(b.data + 12);
	zs.next_out = tile;
	zs.avail_out = sizeof(tile);
	inflate(&zs, Z_SYNC_FLUSH);
	cr_assert_eq(sizeof(tile) - zs.avail_out, 4, "solid tile is subencoding + 3 bytes");
	inflateEnd(&zs);
	cr_assert_eq(tile[0], 1);
	cr_assert(memcmp(tile + 1, want, 3) == 0, "got %02x %02x %02x", tile[1], tile[2], tile[3]);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_zrle, cpixel_bytes)
{
	static const struct pg_pixfmt hi = {32, 24, 0, 1, 255, 255, 255, 24, 16, 8};
	static const struct pg_pixfmt hi_be = {32, 24, 1, 1, 255, 255, 255, 24, 16, 8};
	/* wire 56 34 12 00: drop the last byte */
	solid_cpixel(&pg_pixfmt_canonical, (const uint8_t[]){0x56, 0x34, 0x12});
	/* wire 00 12 34 56: drop the first byte */
	solid_cpixel(&pgt_rgb888_be, (const uint8_t[]){0x12, 0x34, 0x56});
	/* wire 00 56 34 12: drop the first byte */
	solid_cpixel(&hi, (const uint8_t[]){0x56, 0x34, 0x12});
	/* wire 12 34 56 00: drop the last byte */
	solid_cpixel(&hi_be, (const uint8_t[]){0x12, 0x34, 0x56});
}

Test(enc_zrle, libvncclient_32bpp_cpixel_high_bytes)
{
	/* colour in the top three bytes: the CPIXEL drops the low byte */
	static const struct pg_pixfmt hi = {32, 24, 0, 1, 255, 255, 255, 24, 16, 8};
	static const struct pg_pixfmt hi_be = {32, 24, 1, 1, 255, 255, 255, 24, 16, 8};
	all_images(&hi);
	all_images(&hi_be);
}

Test(enc_zrle, libvncclient_32bpp_depth_over_24_uses_4_bytes)
{
	/* 10 bits per channel: no CPIXEL shortcut */
	static const struct pg_pixfmt deep = {32, 30, 0, 1, 1023, 1023, 1023, 20, 10, 0};
	struct pgt_vnc_opts o = {.pf = deep,
				 .encodings = "zrle",
				 .quality = -1,
				 .compress = 1,
				 .encoding = PG_ENC_ZRLE,
				 .enc = {-1, -1, -1, 1},
				 .strips = 1,
				 .updates = 1};
	char msg[256];
	cr_assert_eq(pgt_check(PGT_IMG_MIXED, 100, 70, &o, -1, msg, sizeof(msg)), 0, "%s", msg);
}

Test(enc_zrle, libvncclient_16bpp)
{
	all_images(&pgt_rgb565);
	all_images(&pgt_rgb565_be);
}

Test(enc_zrle, libvncclient_8bpp)
{
	all_images(&pgt_bgr233);
}

/* The subencoding byte of the first tile of the first rectangle in out. */
static uint8_t first_subencoding(const struct pg_buf *b)
{
	uint8_t tile[64];
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(inflateInit(&zs), Z_OK);
	zs.next_in = b->data + 16;
	zs.avail_in = pg_rd32(b->data + 12);
	zs.next_out = tile;
	zs.avail_out = sizeof(tile);
	inflate(&zs, Z_SYNC_FLUSH);
	inflateEnd(&zs);
	return tile[0];
}

Test(enc_zrle, chooses_subencodings)
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e;

	cr_assert_eq(pg_fb_alloc(&fb, 64, 64), 0);
	pg_buf_init(&b, 1 << 20);
	struct {
		enum pgt_image kind;
		int lo, hi;
	} cases[] = {
	    {PGT_IMG_NOISE, 0, 0},	  /* raw */
	    {PGT_IMG_TEXT, 2, 16},	  /* packed palette: three colours */
	    {PGT_IMG_BLOCKS, 130, 255},	  /* long runs of few colours */
	    {PGT_IMG_GRADIENT, 128, 128}, /* runs, too many colours for a palette */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, NULL);
		pgt_image(&fb, cases[i].kind, 1);
		if (cases[i].kind == PGT_IMG_GRADIENT)
			for (int y = 0; y < 64; y++)
				for (int x = 0; x < 64; x++)
					fb.px[y * 64 + x] = (uint32_t)(y * 64 + x / 8) * 0x10305u;
		pg_buf_reset(&b);
		cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 64, 64}, &b), 1);
		uint8_t sub = first_subencoding(&b);
		cr_assert(sub >= cases[i].lo && sub <= cases[i].hi, "case %zu: subencoding %u", i,
			  sub);
		pg_encoder_del(e);
	}
	/* solid: one CPIXEL of three bytes */
	e = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, NULL);
	pg_fb_fill(&fb, &(struct pg_rect){0, 0, 64, 64}, 0x123456);
	pg_buf_reset(&b);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 64, 64}, &b), 1);
	cr_assert_eq(first_subencoding(&b), 1);
	pg_encoder_del(e);
	pg_buf_free(&b);
	pg_fb_free(&fb);
}

Test(enc_zrle, tall_rects_split_in_bands)
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, NULL);

	cr_assert_eq(pg_fb_alloc(&fb, 8192, 300), 0);
	pg_buf_init(&b, 64 << 20);
	/* 8192 wide: 128 rows (2^20 pixels) per band */
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 8192, 300}, &b), 3);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}

Test(enc_zrle, failure_leaves_output_and_poisons_the_stream)
{
	struct pg_fb fb;
	struct pg_buf b;
	struct pg_encoder *e = pg_encoder_new(PG_ENC_ZRLE, &pg_pixfmt_canonical, NULL);

	cr_assert_eq(pg_fb_alloc(&fb, 128, 128), 0);
	pgt_image(&fb, PGT_IMG_NOISE, 2);
	pg_buf_init(&b, 4096);
	cr_assert_eq(pg_buf_append(&b, "abc", 3), 0);
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 128, 128}, &b), PG_ELIMIT);
	cr_assert_eq(b.len, 3);
	/* the viewer's inflate state no longer matches ours: refuse to go on */
	cr_assert_eq(pg_encoder_encode(e, &fb, &(struct pg_rect){0, 0, 1, 1}, &b), PG_EPROTO);
	cr_assert_eq(b.len, 3);
	pg_buf_free(&b);
	pg_fb_free(&fb);
	pg_encoder_del(e);
}
