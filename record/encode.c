/* FRAME payloads: FramebufferUpdate messages in the canonical pixel format. */
#include "recfile.h"

#include "codec/err.h"
#include "codec/rfb.h"

int pg_rec_encode_update(struct pg_encoder *enc, const struct pg_fb *fb, const struct pg_rect *r,
			 int n, bool key, struct pg_buf *out)
{
	size_t start = out->len;
	long count = 0;
	int rc;

	if (n < 0 || (n && !r))
		return PG_EPROTO;
	if (key) {
		/* ZRLE cannot restart; a key frame must decode from nothing. */
		rc = pg_encoder_restart(enc);
		if (rc < 0)
			return rc;
	}
	rc = pg_enc_update_header(out, 0);
	if (rc < 0)
		return rc;
	if (key) {
		/* The size first, so a reader that starts here knows the picture's size. */
		rc = pg_enc_desktop_size(out, fb->w, fb->h);
		if (rc < 0)
			goto fail;
		count++;
	}
	for (int i = 0; i < n; i++) {
		if (pg_rect_empty(&r[i]))
			continue;
		if (!pg_rect_inside(&r[i], fb->w, fb->h)) {
			rc = PG_EPROTO;
			goto fail;
		}
		rc = pg_encoder_encode(enc, fb, &r[i], out);
		if (rc < 0)
			goto fail;
		count += rc;
		if (count > PG_RFB_MAX_RECTS) {
			rc = PG_ELIMIT;
			goto fail;
		}
	}
	pg_wr16(out->data + start + 2, (uint16_t)count);
	return 0;
fail:
	out->len = start;
	return rc;
}
