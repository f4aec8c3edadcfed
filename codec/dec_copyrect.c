#include "decoder_impl.h"

#include "buf.h"
#include "err.h"
#include "rfb.h"

static ssize_t copyrect_decode(void *state, struct pg_dec_err *err, const struct pg_rect *r,
			       struct pg_fb *fb, const uint8_t *buf, size_t len)
{
	if (len < 4)
		return 0;
	struct pg_rect src = {pg_rd16(buf), pg_rd16(buf + 2), r->w, r->h};
	if (!pg_rect_inside(&src, fb->w, fb->h))
		return pg_dec_fail(err, PG_EPROTO, "CopyRect source outside the framebuffer",
				   "CopyRect source %dx%d at %d,%d outside the %dx%d framebuffer",
				   src.w, src.h, src.x, src.y, fb->w, fb->h);
	pg_fb_move(fb, &src, r->x, r->y);
	return 4;
}

const struct pg_decoder_impl pg_dec_copyrect_impl = {
    .encoding = PG_ENC_COPYRECT,
    .decode = copyrect_decode,
};
