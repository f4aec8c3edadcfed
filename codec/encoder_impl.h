/* The vtable each encoding file provides; only encoder.c sees the list. */
#ifndef PG_CODEC_ENCODER_IMPL_H
#define PG_CODEC_ENCODER_IMPL_H

#include <stdbool.h>

#include "encoder.h"

struct pg_encoder_impl {
	int32_t encoding;
	void *(*create)(const struct pg_pixfmt *pf, const struct pg_enc_opts *opts);
	void (*destroy)(void *state);
	int (*encode)(void *state, const struct pg_fb *fb, const struct pg_rect *r,
		      struct pg_buf *out);
	/* Change pixel format and options keeping the stream state; NULL when the
	 * encoding can start its streams afresh (Tight resets, Raw has none). */
	int (*configure)(void *state, const struct pg_pixfmt *pf, const struct pg_enc_opts *opts);
	/* JPEG quality and subsampling, already checked; NULL for encodings without JPEG. */
	int (*set_jpeg)(void *state, int quality, int subsampling);
	int (*jpeg_quality)(const void *state);
	/* Restart the streams in the next rectangle written; NULL for encodings that
	 * cannot (ZRLE) or have none (Raw, which sets stateless). */
	void (*restart)(void *state);
	bool stateless;
};

extern const struct pg_encoder_impl pg_enc_raw_impl;
extern const struct pg_encoder_impl pg_enc_zrle_impl;
extern const struct pg_encoder_impl pg_enc_tight_impl;

#endif
