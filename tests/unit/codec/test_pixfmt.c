/* Pixel formats: the wire layout, what validation refuses and why, and that the
 * converters produce the bytes each format defines in both byte orders. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/pixfmt.h"
#include "enc_util.h"

Test(pixfmt, canonical_wire_bytes)
{
	static const uint8_t want[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	uint8_t wire[16];
	struct pg_pixfmt back;

	pg_pixfmt_write(&pg_pixfmt_canonical, wire);
	cr_assert(memcmp(wire, want, 16) == 0);
	pg_pixfmt_read(&back, wire);
	cr_assert(pgt_pixfmt_eq(&back, &pg_pixfmt_canonical));
	cr_assert_eq(pg_pixfmt_validate(&pg_pixfmt_canonical, NULL), 0);
}

Test(pixfmt, read_ignores_padding_and_normalises_flags)
{
	uint8_t wire[16] = {16, 16, 7, 9, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0xaa, 0xbb, 0xcc};
	struct pg_pixfmt pf;
	uint8_t out[16];

	pg_pixfmt_read(&pf, wire);
	cr_assert_eq(pf.red_max, 31);
	cr_assert_eq(pf.green_shift, 5);
	pg_pixfmt_write(&pf, out);
	cr_assert_eq(out[2], 1);
	cr_assert_eq(out[3], 1);
	cr_assert_eq(out[13] | out[14] | out[15], 0);
}

Test(pixfmt, accepts_common_formats)
{
	const struct pg_pixfmt *ok[] = {&pg_pixfmt_canonical, &pgt_rgb888_be, &pgt_bgr888,
					&pgt_rgb565,	      &pgt_rgb565_be, &pgt_bgr233};
	struct pg_pixfmt depth32 = pg_pixfmt_canonical;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_eq(pg_pixfmt_validate(ok[i], NULL), 0, "format %zu", i);
	depth32.depth = 32;
	cr_assert_eq(pg_pixfmt_validate(&depth32, NULL), 0);
}

static void refused(struct pg_pixfmt pf, int code, const char *word)
{
	const char *why = NULL;
	cr_assert_eq(pg_pixfmt_validate(&pf, &why), code);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, word), "why \"%s\" should mention \"%s\"", why, word);
}

Test(pixfmt, refuses_with_a_reason)
{
	struct pg_pixfmt pf = pg_pixfmt_canonical;

	pf.true_colour = 0;
	refused(pf, PG_EUNSUP, "colour-map");
	pf = pg_pixfmt_canonical;
	pf.bpp = 24;
	refused(pf, PG_EUNSUP, "bits per pixel");
	pf = pg_pixfmt_canonical;
	pf.depth = 0;
	refused(pf, PG_EPROTO, "depth");
	pf = pgt_rgb565;
	pf.depth = 17;
	refused(pf, PG_EPROTO, "depth");
	pf = pg_pixfmt_canonical;
	pf.red_max = 254;
	refused(pf, PG_EPROTO, "red");
	pf = pg_pixfmt_canonical;
	pf.green_max = 0;
	refused(pf, PG_EPROTO, "green");
	pf = pgt_rgb565;
	pf.red_shift = 12; /* 31 << 12 needs 17 bits */
	refused(pf, PG_EPROTO, "red");
	pf = pg_pixfmt_canonical;
	pf.blue_shift = 40;
	refused(pf, PG_EPROTO, "blue");
	pf = pg_pixfmt_canonical;
	pf.blue_shift = 4; /* overlaps green */
	refused(pf, PG_EPROTO, "overlap");
}

Test(pixfmt, tables_scale_with_rounding)
{
	struct pg_pixconv pc;

	pg_pixconv_init(&pc, &pgt_rgb565);
	cr_assert_eq(pc.bytes, 2);
	cr_assert_eq(pc.r[0], 0);
	cr_assert_eq(pc.r[255], 31u << 11);
	cr_assert_eq(pc.g[255], 63u << 5);
	cr_assert_eq(pc.b[128], (128u * 31 + 127) / 255);
	cr_assert_eq(pg_pixconv_value(&pc, 0xffffff), 0xffff);
	pg_pixconv_init(&pc, &pgt_bgr233);
	cr_assert_eq(pg_pixconv_value(&pc, 0xff0000), 7);
	cr_assert_eq(pg_pixconv_value(&pc, 0x0000ff), 3u << 6);
}

/* The wire bytes of one pixel computed the slow, obvious way. */
static void reference(const struct pg_pixfmt *pf, uint32_t px, uint8_t *out)
{
	uint32_t r = px >> 16 & 255, g = px >> 8 & 255, b = px & 255;
	uint32_t v = (r * pf->red_max + 127) / 255 << pf->red_shift |
		     (g * pf->green_max + 127) / 255 << pf->green_shift |
		     (b * pf->blue_max + 127) / 255 << pf->blue_shift;
	unsigned n = pf->bpp / 8;
	for (unsigned i = 0; i < n; i++) {
		unsigned sh = pf->big_endian ? 8 * (n - 1 - i) : 8 * i;
		out[i] = (uint8_t)(v >> sh);
	}
}

Test(pixfmt, rows_match_reference_in_every_format)
{
	const struct pg_pixfmt *fmts[] = {&pg_pixfmt_canonical, &pgt_rgb888_be, &pgt_bgr888,
					  &pgt_rgb565,		&pgt_rgb565_be, &pgt_bgr233};
	enum { N = 1000 };
	uint32_t in[N], s = 12345;
	uint8_t got[N * 4], want[N * 4], one[4];

	for (int i = 0; i < N; i++) {
		s = s * 1103515245u + 12345u;
		in[i] = i < 256 ? (uint32_t)i * 0x010101u : s >> 8;
	}
	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		struct pg_pixconv pc;
		unsigned n = fmts[f]->bpp / 8;
		pg_pixconv_init(&pc, fmts[f]);
		pg_pixconv_row(&pc, in, N, got);
		for (int i = 0; i < N; i++) {
			reference(fmts[f], in[i], want + i * n);
			cr_assert_eq(pg_pixconv_store(&pc, pg_pixconv_value(&pc, in[i]), one), n);
			cr_assert(memcmp(one, want + i * n, n) == 0);
		}
		cr_assert(memcmp(got, want, (size_t)N * n) == 0, "format %zu", f);
		/* 24-bit formats come back exactly; the others to their own quantisation,
		 * which is itself stable. */
		for (int i = 0; i < N; i++) {
			uint32_t back = pg_pixfmt_to_rgb(fmts[f], got + i * n);
			if (fmts[f]->bpp == 32)
				cr_assert_eq(back, in[i]);
			cr_assert_eq(pgt_quantize(fmts[f], back), back);
		}
	}
}

Test(pixfmt, to_rgb_reads_byte_order)
{
	uint8_t le[2] = {0x00, 0xf8}, be[2] = {0xf8, 0x00};
	uint8_t px32[4] = {0x11, 0x22, 0x33, 0x00};

	cr_assert_eq(pg_pixfmt_to_rgb(&pgt_rgb565, le), 0xff0000);
	cr_assert_eq(pg_pixfmt_to_rgb(&pgt_rgb565_be, be), 0xff0000);
	cr_assert_eq(pg_pixfmt_to_rgb(&pg_pixfmt_canonical, px32), 0x332211);
	cr_assert_eq(pg_pixfmt_to_rgb(&pgt_bgr888, px32), 0x112233);
}
