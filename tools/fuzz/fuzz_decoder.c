/* Each upstream decoder alone (codec/decoder.h: Raw, CopyRect, ZRLE, Tight with its
 * filters, zlib streams and JPEG), without the RFB handshake in front, so the fuzzer
 * spends its time in the rectangle bodies. Rectangles follow one another on one
 * pg_decoder, as on one connection, so zlib streams carry over.
 *
 * Input: one byte for the framebuffer (width 16 * (1 + (b & 15)), height
 * 16 * (1 + (b >> 4))), then rectangles:
 *   u8 enc: & 3 picks Raw, CopyRect, ZRLE, Tight; & 4: feed a prefix first, of
 *           (enc >> 3) / 32 of the body;
 *   u8 x, y, w, h: taken modulo and clamped to the framebuffer (w or h may be 0);
 *   u16 length (big endian) and the body.
 * Every rectangle is decoded twice, on two decoders with two framebuffers: once
 * whole, once after a prefix when the flag says so. A decoder must say "need more"
 * (0) for a prefix without changing anything, or give the same answer as for the
 * whole body; consumed bytes never exceed what it was given, failures have a reason,
 * and both framebuffers stay identical. Decoding stops at the first failure, as the
 * upstream client does. */
#include <stdlib.h>
#include <string.h>

#include "codec/decoder.h"
#include "codec/fb.h"
#include "codec/rfb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int32_t encs[4] = {PG_ENC_RAW, PG_ENC_COPYRECT, PG_ENC_ZRLE, PG_ENC_TIGHT};

static ssize_t decode(struct pg_decoder *d, int32_t enc, const struct pg_rect *r, struct pg_fb *fb,
		      const uint8_t *p, size_t n)
{
	const char *why = NULL;
	ssize_t rc = pg_decode_rect(d, enc, r, fb, p, n, &why);
	if (rc > (ssize_t)n)
		abort();
	if (rc < 0 && (!why || !*pg_decoder_error(d)))
		abort();
	if (rc > 0 && *pg_decoder_error(d))
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int fw = 16 * (1 + (data[0] & 15)), fh = 16 * (1 + (data[0] >> 4));
	struct pg_fb fa, fb;
	struct pg_decoder *da = pg_decoder_new(), *db = pg_decoder_new();
	if (!da || !db || pg_fb_alloc(&fa, fw, fh) || pg_fb_alloc(&fb, fw, fh))
		abort();
	size_t off = 1;
	while (size - off >= 7) {
		const uint8_t *h = data + off;
		int32_t enc = encs[h[0] & 3];
		struct pg_rect r = {h[1] % fw, h[2] % fh, h[3], h[4]};
		if (r.w > fw - r.x)
			r.w = fw - r.x;
		if (r.h > fh - r.y)
			r.h = fh - r.y;
		size_t len = (size_t)h[5] << 8 | h[6];
		off += 7;
		if (len > size - off)
			len = size - off;
		const uint8_t *body = data + off;
		off += len;

		ssize_t whole = decode(db, enc, &r, &fb, body, len);
		ssize_t got;
		if (h[0] & 4) {
			size_t part = len * (h[0] >> 3) / 32;
			got = decode(da, enc, &r, &fa, body, part);
			if (got == 0)
				got = decode(da, enc, &r, &fa, body, len);
		} else {
			got = decode(da, enc, &r, &fa, body, len);
		}
		if (got != whole)
			abort();
		for (int y = 0; y < fh; y++)
			if (memcmp(fa.px + (size_t)y * fa.stride, fb.px + (size_t)y * fb.stride,
				   (size_t)fw * 4))
				abort();
		if (whole <= 0)
			break;
	}
	pg_decoder_del(da);
	pg_decoder_del(db);
	pg_fb_free(&fa);
	pg_fb_free(&fb);
	return 0;
}
