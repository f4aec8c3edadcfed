/* RFB pixel formats and conversion between them and the canonical 0x00RRGGBB
 * pixel. Only true-colour formats of 8, 16 or 32 bits per pixel are accepted. */
#ifndef PG_CODEC_PIXFMT_H
#define PG_CODEC_PIXFMT_H

#include <stddef.h>
#include <stdint.h>

struct pg_pixfmt {
	uint8_t bpp;
	uint8_t depth;
	uint8_t big_endian;
	uint8_t true_colour;
	uint16_t red_max, green_max, blue_max;
	uint8_t red_shift, green_shift, blue_shift;
};

/* 32 bpp, depth 24, little-endian, red at 16, green at 8, blue at 0: the format
 * pixelgate asks of browser hosts and offers viewers in ServerInit. */
extern const struct pg_pixfmt pg_pixfmt_canonical;

/* Parse the 16-byte wire PIXEL_FORMAT; does not validate. */
void pg_pixfmt_read(struct pg_pixfmt *pf, const uint8_t wire[16]);
void pg_pixfmt_write(const struct pg_pixfmt *pf, uint8_t wire[16]);
/* 0 when usable; otherwise PG_EUNSUP or PG_EPROTO with *why a static string saying why
 * (colour-map format, bpp not 8/16/32, a max that is not 2^n-1, a channel beyond bpp). */
int pg_pixfmt_validate(const struct pg_pixfmt *pf, const char **why);

/* Converter from canonical pixels to one validated format, with per-channel tables
 * so converting a pixel is three lookups. */
struct pg_pixconv {
	struct pg_pixfmt pf;
	unsigned bytes; /* bpp / 8 */
	uint32_t r[256], g[256], b[256];
};

void pg_pixconv_init(struct pg_pixconv *pc, const struct pg_pixfmt *pf);
/* Write n canonical pixels to out in the format's wire bytes (n * bytes). */
void pg_pixconv_row(const struct pg_pixconv *pc, const uint32_t *in, size_t n, uint8_t *out);
/* The value one canonical pixel has in the format (before byte order). */
static inline uint32_t pg_pixconv_value(const struct pg_pixconv *pc, uint32_t rgb)
{
	return pc->r[(rgb >> 16) & 0xff] | pc->g[(rgb >> 8) & 0xff] | pc->b[rgb & 0xff];
}
/* Store a format value in the format's byte order; returns bytes written. */
unsigned pg_pixconv_store(const struct pg_pixconv *pc, uint32_t value, uint8_t *out);
/* Convert one pixel in the format's wire bytes back to canonical (for tests and decoders). */
uint32_t pg_pixfmt_to_rgb(const struct pg_pixfmt *pf, const uint8_t *in);

#endif
