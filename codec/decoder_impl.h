/* The vtable each decoding file provides, the error record they fill, and the
 * bounded zlib reader ZRLE and Tight share. Only decoder.c sees the list. */
#ifndef PG_CODEC_DECODER_IMPL_H
#define PG_CODEC_DECODER_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <zlib.h>

#include "decoder.h"

struct pg_dec_err {
	const char *why; /* static */
	char msg[200];	 /* why, with the numbers */
};

struct pg_decoder_impl {
	int32_t encoding;
	/* NULL when the encoding keeps no state between rectangles. */
	void *(*create)(void);
	void (*destroy)(void *state);
	/* As pg_decode_rect; fails through pg_dec_fail. */
	ssize_t (*decode)(void *state, struct pg_dec_err *err, const struct pg_rect *r,
			  struct pg_fb *fb, const uint8_t *buf, size_t len);
};

extern const struct pg_decoder_impl pg_dec_raw_impl;
extern const struct pg_decoder_impl pg_dec_copyrect_impl;
extern const struct pg_decoder_impl pg_dec_zrle_impl;
extern const struct pg_decoder_impl pg_dec_tight_impl;

/* Record a failure and return code. */
__attribute__((format(printf, 4, 5))) ssize_t pg_dec_fail(struct pg_dec_err *err, int code,
							  const char *why, const char *fmt, ...);

/* Largest single read from a pg_zin; the window holds twice that. */
#define PG_ZIN_MAX_GET (PG_FB_MAX_SIDE * 3)
#define PG_ZIN_WIN     (2 * PG_ZIN_MAX_GET)

/* Reads a rectangle's decompressed bytes on demand, so output is never produced
 * much beyond what the rectangle's own parse asks for: a decompression bomb fails
 * at the first surplus byte instead of filling memory. */
struct pg_zin {
	z_stream *zs; /* NULL: in is read as is */
	const uint8_t *in;
	size_t in_len, in_pos;
	uint8_t *win; /* PG_ZIN_WIN bytes */
	size_t pos, end;
	const char *why;
};

void pg_zin_start(struct pg_zin *z, z_stream *zs, uint8_t *win, const uint8_t *in, size_t len);
/* n (<= PG_ZIN_MAX_GET) bytes, or NULL with z->why set. */
const uint8_t *pg_zin_get(struct pg_zin *z, size_t n);
/* 0 when every input byte was used and every output byte was read, else -1. */
int pg_zin_finish(struct pg_zin *z);
/* inflateInit a stream; 0 or PG_ENOMEM. */
int pg_zin_stream_init(z_stream *zs);

#endif
