#include "pixfmt.h"

#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "err.h"

const struct pg_pixfmt pg_pixfmt_canonical = {
    .bpp = 32,
    .depth = 24,
    .big_endian = 0,
    .true_colour = 1,
    .red_max = 255,
    .green_max = 255,
    .blue_max = 255,
    .red_shift = 16,
    .green_shift = 8,
    .blue_shift = 0,
};

void pg_pixfmt_read(struct pg_pixfmt *pf, const uint8_t wire[16])
{
	pf->bpp = wire[0];
	pf->depth = wire[1];
	pf->big_endian = wire[2];
	pf->true_colour = wire[3];
	pf->red_max = pg_rd16(wire + 4);
	pf->green_max = pg_rd16(wire + 6);
	pf->blue_max = pg_rd16(wire + 8);
	pf->red_shift = wire[10];
	pf->green_shift = wire[11];
	pf->blue_shift = wire[12];
}

void pg_pixfmt_write(const struct pg_pixfmt *pf, uint8_t wire[16])
{
	memset(wire, 0, 16);
	wire[0] = pf->bpp;
	wire[1] = pf->depth;
	wire[2] = pf->big_endian ? 1 : 0;
	wire[3] = pf->true_colour ? 1 : 0;
	pg_wr16(wire + 4, pf->red_max);
	pg_wr16(wire + 6, pf->green_max);
	pg_wr16(wire + 8, pf->blue_max);
	wire[10] = pf->red_shift;
	wire[11] = pf->green_shift;
	wire[12] = pf->blue_shift;
}

/* The bits a channel occupies in a pixel value, or false when max is not 2^n-1 or
 * the channel does not fit in bpp bits. */
static bool channel_mask(unsigned max, unsigned shift, unsigned bpp, uint32_t *mask)
{
	if (max == 0 || (max & (max + 1)) != 0)
		return false;
	if (shift >= bpp || (uint64_t)max << shift > (((uint64_t)1 << bpp) - 1))
		return false;
	*mask = (uint32_t)max << shift;
	return true;
}

int pg_pixfmt_validate(const struct pg_pixfmt *pf, const char **why)
{
	uint32_t rm, gm, bm;
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!pf->true_colour) {
		/* A colour map would need SetColourMapEntries and a palette per viewer;
		 * every viewer we serve can do true colour instead. */
		*why = "colour-map pixel formats are not supported; ask for true colour";
		return PG_EUNSUP;
	}
	if (pf->bpp != 8 && pf->bpp != 16 && pf->bpp != 32) {
		*why = "bits per pixel must be 8, 16 or 32";
		return PG_EUNSUP;
	}
	if (pf->depth == 0 || pf->depth > pf->bpp) {
		*why = "depth must be between 1 and bits per pixel";
		return PG_EPROTO;
	}
	if (!channel_mask(pf->red_max, pf->red_shift, pf->bpp, &rm)) {
		*why = "red max is not 2^n-1 or red does not fit in the pixel";
		return PG_EPROTO;
	}
	if (!channel_mask(pf->green_max, pf->green_shift, pf->bpp, &gm)) {
		*why = "green max is not 2^n-1 or green does not fit in the pixel";
		return PG_EPROTO;
	}
	if (!channel_mask(pf->blue_max, pf->blue_shift, pf->bpp, &bm)) {
		*why = "blue max is not 2^n-1 or blue does not fit in the pixel";
		return PG_EPROTO;
	}
	if ((rm & gm) || (rm & bm) || (gm & bm)) {
		*why = "colour channels overlap";
		return PG_EPROTO;
	}
	return 0;
}

void pg_pixconv_init(struct pg_pixconv *pc, const struct pg_pixfmt *pf)
{
	pc->pf = *pf;
	pc->bytes = pf->bpp / 8u;
	/* Rounded scaling, so 255 maps to max and 0 to 0 and the round trip through
	 * pg_pixfmt_to_rgb is stable. */
	for (unsigned c = 0; c < 256; c++) {
		pc->r[c] = ((c * pf->red_max + 127) / 255) << pf->red_shift;
		pc->g[c] = ((c * pf->green_max + 127) / 255) << pf->green_shift;
		pc->b[c] = ((c * pf->blue_max + 127) / 255) << pf->blue_shift;
	}
}

unsigned pg_pixconv_store(const struct pg_pixconv *pc, uint32_t v, uint8_t *out)
{
	switch (pc->bytes) {
	case 1:
		out[0] = (uint8_t)v;
		return 1;
	case 2:
		if (pc->pf.big_endian) {
			out[0] = (uint8_t)(v >> 8);
			out[1] = (uint8_t)v;
		} else {
			out[0] = (uint8_t)v;
			out[1] = (uint8_t)(v >> 8);
		}
		return 2;
	default:
		if (pc->pf.big_endian) {
			pg_wr32(out, v);
		} else {
			out[0] = (uint8_t)v;
			out[1] = (uint8_t)(v >> 8);
			out[2] = (uint8_t)(v >> 16);
			out[3] = (uint8_t)(v >> 24);
		}
		return 4;
	}
}

void pg_pixconv_row(const struct pg_pixconv *pc, const uint32_t *in, size_t n, uint8_t *out)
{
	size_t i;

	/* One loop per size and byte order keeps the inner loop free of branches. */
	switch (pc->bytes) {
	case 1:
		for (i = 0; i < n; i++)
			out[i] = (uint8_t)pg_pixconv_value(pc, in[i]);
		break;
	case 2:
		if (pc->pf.big_endian) {
			for (i = 0; i < n; i++)
				pg_wr16(out + 2 * i, (uint16_t)pg_pixconv_value(pc, in[i]));
		} else {
			for (i = 0; i < n; i++) {
				uint32_t v = pg_pixconv_value(pc, in[i]);
				out[2 * i] = (uint8_t)v;
				out[2 * i + 1] = (uint8_t)(v >> 8);
			}
		}
		break;
	default:
		if (pc->pf.big_endian) {
			for (i = 0; i < n; i++)
				pg_wr32(out + 4 * i, pg_pixconv_value(pc, in[i]));
		} else {
			for (i = 0; i < n; i++) {
				uint32_t v = pg_pixconv_value(pc, in[i]);
				uint8_t *o = out + 4 * i;
				o[0] = (uint8_t)v;
				o[1] = (uint8_t)(v >> 8);
				o[2] = (uint8_t)(v >> 16);
				o[3] = (uint8_t)(v >> 24);
			}
		}
		break;
	}
}

static uint32_t scale_to_8(uint32_t v, unsigned max)
{
	if (max == 0)
		return 0;
	return (v * 255 + max / 2) / max;
}

/* Shifts come from the wire; a shift of 32 or more would be undefined behaviour. */
static uint32_t channel(uint32_t v, unsigned shift, unsigned max)
{
	return shift < 32 ? (v >> shift) & max : 0;
}

uint32_t pg_pixfmt_to_rgb(const struct pg_pixfmt *pf, const uint8_t *in)
{
	uint32_t v;

	switch (pf->bpp) {
	case 8:
		v = in[0];
		break;
	case 16:
		v = pf->big_endian ? pg_rd16(in) : (uint32_t)(in[0] | in[1] << 8);
		break;
	default:
		v = pf->big_endian ? pg_rd32(in)
				   : (uint32_t)in[0] | (uint32_t)in[1] << 8 |
					 (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
		break;
	}
	uint32_t r = scale_to_8(channel(v, pf->red_shift, pf->red_max), pf->red_max);
	uint32_t g = scale_to_8(channel(v, pf->green_shift, pf->green_max), pf->green_max);
	uint32_t b = scale_to_8(channel(v, pf->blue_shift, pf->blue_max), pf->blue_max);
	return r << 16 | g << 8 | b;
}
