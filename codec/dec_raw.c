#include "decoder_impl.h"

#include "err.h"
#include "rfb.h"

static ssize_t raw_decode(void *state, struct pg_dec_err *err, const struct pg_rect *r,
			  struct pg_fb *fb, const uint8_t *buf, size_t len)
{
	size_t n, need;
	if (!pg_mul_size((size_t)r->w, (size_t)r->h, &n) || !pg_mul_size(n, 4, &need))
		return pg_dec_fail(err, PG_ELIMIT, "Raw rectangle too large",
				   "Raw rectangle %dx%d too large", r->w, r->h);
	if (len < need || need == 0)
		return need == 0 ? pg_dec_fail(err, PG_EPROTO, "empty Raw rectangle",
					       "empty Raw rectangle")
				 : 0;
	const uint8_t *p = buf;
	for (int y = 0; y < r->h; y++) {
		uint32_t *row = fb->px + (size_t)(r->y + y) * fb->stride + r->x;
		for (int x = 0; x < r->w; x++, p += 4)
			row[x] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	}
	return (ssize_t)need;
}

const struct pg_decoder_impl pg_dec_raw_impl = {
    .encoding = PG_ENC_RAW,
    .decode = raw_decode,
};
