/* Raw encoding: rows in the viewer's pixel format. */
#include <stdlib.h>

#include "encoder_impl.h"
#include "err.h"
#include "rfb.h"

struct raw_state {
	struct pg_pixconv pc;
};

static void *raw_create(const struct pg_pixfmt *pf, const struct pg_enc_opts *opts)
{
	struct raw_state *st = malloc(sizeof(*st));

	if (st)
		pg_pixconv_init(&st->pc, pf);
	return st;
}

static void raw_destroy(void *state)
{
	free(state);
}

static int raw_encode(void *state, const struct pg_fb *fb, const struct pg_rect *r,
		      struct pg_buf *out)
{
	struct raw_state *st = state;
	size_t row, body;
	int rc;

	if (!pg_mul_size((size_t)r->w, st->pc.bytes, &row) ||
	    !pg_mul_size(row, (size_t)r->h, &body) || body > SIZE_MAX - 12)
		return PG_ELIMIT;
	rc = pg_buf_reserve(out, 12 + body);
	if (rc < 0)
		return rc;
	rc = pg_enc_rect_header(out, r, PG_ENC_RAW);
	if (rc < 0)
		return rc;
	for (int y = 0; y < r->h; y++) {
		const uint32_t *src = fb->px + (size_t)(r->y + y) * fb->stride + r->x;
		pg_pixconv_row(&st->pc, src, (size_t)r->w, out->data + out->len);
		out->len += row;
	}
	return 1;
}

const struct pg_encoder_impl pg_enc_raw_impl = {
    .encoding = PG_ENC_RAW,
    .create = raw_create,
    .destroy = raw_destroy,
    .encode = raw_encode,
    .stateless = true,
};
