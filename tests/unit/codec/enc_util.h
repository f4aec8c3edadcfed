/* Helpers for the codec unit tests: guard-page placement for parsers, test images,
 * and a loopback RFB server that feeds pixelgate's encoders to libvncclient. */
#ifndef PG_TEST_ENC_UTIL_H
#define PG_TEST_ENC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/encoder.h"
#include "codec/fb.h"
#include "codec/pixfmt.h"

/* Memory whose last byte sits just before a PROT_NONE page, so reading past the
 * end of a message crashes the test instead of passing silently. */
struct pgt_guard {
	uint8_t *map;
	size_t maplen;
};

/* Copy len bytes so that they end at the guard page; returns their address. */
const uint8_t *pgt_guard_place(struct pgt_guard *g, const void *data, size_t len);
void pgt_guard_free(struct pgt_guard *g);

enum pgt_image {
	PGT_IMG_GRADIENT,
	PGT_IMG_TEXT,	/* sharp edges in few colours, like rendered text */
	PGT_IMG_NOISE,	/* every pixel random: worst case for every encoder */
	PGT_IMG_PHOTO,	/* smooth shapes with mild noise: what JPEG is for */
	PGT_IMG_BLOCKS, /* large areas of a handful of colours */
	PGT_IMG_MIXED,	/* quadrants of the above, so tiles and sub-rects differ */
};

/* A w x h canonical image of the given kind; deterministic for a seed. */
void pgt_image(struct pg_fb *fb, enum pgt_image kind, uint32_t seed);

/* Field by field: the struct has padding, so memcmp would compare garbage. */
int pgt_pixfmt_eq(const struct pg_pixfmt *a, const struct pg_pixfmt *b);

/* What the canonical pixel px looks like after a trip through pf and back. */
uint32_t pgt_quantize(const struct pg_pixfmt *pf, uint32_t px);

/* Mean squared error over the RGB channels of two equally sized images. PSNR in dB
 * is 10 log10(255^2 / MSE); the tests compare MSE so they need no libm. */
double pgt_mse(const struct pg_fb *a, const struct pg_fb *b);
/* The MSE at which PSNR is 35 dB: 255^2 / 10^3.5. */
#define PGT_MSE_AT_35DB 20.5626

/* Some common viewer formats. */
extern const struct pg_pixfmt pgt_rgb888_be; /* 32 bpp, big-endian */
extern const struct pg_pixfmt pgt_bgr888;    /* 32 bpp, red at 0, blue at 16 */
extern const struct pg_pixfmt pgt_rgb565;    /* 16 bpp, little-endian */
extern const struct pg_pixfmt pgt_rgb565_be; /* 16 bpp, big-endian */
extern const struct pg_pixfmt pgt_bgr233;    /* 8 bpp */

struct pgt_vnc_opts {
	struct pg_pixfmt pf;   /* format libvncclient asks for */
	const char *encodings; /* libvncclient's encodingsString */
	int quality;	       /* libvncclient qualityLevel, -1 for JPEG off */
	int compress;	       /* libvncclient compressLevel */
	int32_t encoding;      /* the pixelgate encoder to use */
	struct pg_enc_opts enc;
	int strips;  /* encode as this many horizontal strips (1 or more) */
	int updates; /* send the image this many times, one update each */
};

/* Run a loopback RFB 3.8 server that sends img through pixelgate's encoder to a
 * libvncclient in this thread; out (allocated here, canonical) receives what
 * libvncclient decoded. Returns 0, or -1 with *err saying what failed.
 * *wire_bytes (when not NULL) is the size of the last FramebufferUpdate. */
int pgt_vnc_roundtrip(const struct pg_fb *img, const struct pgt_vnc_opts *o, struct pg_fb *out,
		      size_t *wire_bytes, const char **err);

/* Send a w x h image of kind through o and compare libvncclient's pixels with the
 * image quantised to o->pf. Returns 0 when every pixel matches (lossless) or, when
 * max_mse >= 0, when the mean squared error is at most max_mse; otherwise -1 with
 * msg saying where it went wrong. */
int pgt_check(enum pgt_image kind, int w, int h, const struct pgt_vnc_opts *o, double max_mse,
	      char *msg, size_t msglen);

#endif
