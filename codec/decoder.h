/* Decoders for rectangles from a browser host. One file per encoding (dec_raw.c,
 * dec_copyrect.c, dec_zrle.c, dec_tight.c) behind a const vtable; pg_decoder holds
 * the state of one upstream connection (ZRLE's zlib stream, Tight's four streams,
 * a TurboJPEG decompressor).
 *
 * Input pixels are always in pg_pixfmt_canonical: pixelgate asks the browser host
 * for that format, so decoders never convert between formats. A host that ignores
 * the request only garbles its own pixels. */
#ifndef PG_CODEC_DECODER_H
#define PG_CODEC_DECODER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fb.h"

struct pg_decoder;

struct pg_decoder *pg_decoder_new(void);
void pg_decoder_del(struct pg_decoder *dec);

/* Decode the body of one rectangle r (already checked to lie inside fb) of encoding
 * enc from buf into fb. Returns the bytes consumed (> 0); 0 when buf does not yet
 * hold the whole body, with no state changed, so the caller calls again with more;
 * or a negative PG_E code with *why a static string. PG_EUNSUP for an encoding
 * pixelgate did not request. */
ssize_t pg_decode_rect(struct pg_decoder *dec, int32_t enc, const struct pg_rect *r,
		       struct pg_fb *fb, const uint8_t *buf, size_t len, const char **why);
/* The last failure of pg_decode_rect with its numbers, e.g. "ZRLE length 99999999
 * over limit 16777216"; "" after a success. Valid until the next call. */
const char *pg_decoder_error(const struct pg_decoder *dec);

#endif
