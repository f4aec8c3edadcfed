#include "encoder.h"

#include <stdlib.h>

#include "encoder_impl.h"
#include "err.h"
#include "rfb.h"

struct pg_encoder {
	const struct pg_encoder_impl *impl;
	void *state;
};

struct pg_encoder *pg_encoder_new(int32_t encoding, const struct pg_pixfmt *pf,
				  const struct pg_enc_opts *opts)
{
	static const struct pg_enc_opts defaults = {
	    .quality = -1, .fine_quality = -1, .subsampling = -1, .compress = -1};
	const struct pg_encoder_impl *impl;
	struct pg_encoder *enc;

	switch (encoding) {
	case PG_ENC_RAW:
		impl = &pg_enc_raw_impl;
		break;
	case PG_ENC_ZRLE:
		impl = &pg_enc_zrle_impl;
		break;
	case PG_ENC_TIGHT:
		impl = &pg_enc_tight_impl;
		break;
	default:
		return NULL;
	}
	if (pg_pixfmt_validate(pf, NULL) < 0)
		return NULL;
	if (opts && (opts->lane < 0 || opts->lane >= PG_ENC_LANES))
		return NULL;
	enc = calloc(1, sizeof(*enc));
	if (!enc)
		return NULL;
	enc->impl = impl;
	enc->state = impl->create(pf, opts ? opts : &defaults);
	if (!enc->state) {
		free(enc);
		return NULL;
	}
	return enc;
}

void pg_encoder_del(struct pg_encoder *enc)
{
	if (!enc)
		return;
	enc->impl->destroy(enc->state);
	free(enc);
}

int32_t pg_encoder_encoding(const struct pg_encoder *enc)
{
	return enc->impl->encoding;
}

int pg_encoder_configure(struct pg_encoder *enc, const struct pg_pixfmt *pf,
			 const struct pg_enc_opts *opts)
{
	if (!enc->impl->configure)
		return PG_EUNSUP;
	if (pg_pixfmt_validate(pf, NULL) < 0)
		return PG_EUNSUP;
	return enc->impl->configure(enc->state, pf, opts);
}

int pg_encoder_restart(struct pg_encoder *enc)
{
	if (enc->impl->stateless)
		return 0;
	if (!enc->impl->restart)
		return PG_EUNSUP;
	enc->impl->restart(enc->state);
	return 0;
}

int pg_encoder_set_jpeg(struct pg_encoder *enc, int quality, int subsampling)
{
	if (!enc->impl->set_jpeg)
		return PG_EUNSUP;
	if (quality < -1 || quality > 100 || subsampling < -1 || subsampling > 3)
		return PG_EPROTO;
	return enc->impl->set_jpeg(enc->state, quality, subsampling);
}

int pg_encoder_jpeg_quality(const struct pg_encoder *enc)
{
	return enc->impl->jpeg_quality ? enc->impl->jpeg_quality(enc->state) : -1;
}

int pg_encoder_encode(struct pg_encoder *enc, const struct pg_fb *fb, const struct pg_rect *r,
		      struct pg_buf *out)
{
	if (!pg_rect_inside(r, fb->w, fb->h) || r->x + r->w > 65535 || r->y + r->h > 65535)
		return PG_EPROTO;
	return enc->impl->encode(enc->state, fb, r, out);
}

int pg_enc_update_header(struct pg_buf *out, uint16_t nrects)
{
	uint8_t h[4] = {PG_RFB_FB_UPDATE, 0};

	pg_wr16(h + 2, nrects);
	return pg_buf_append(out, h, sizeof(h));
}

static int in_u16(int v)
{
	return v >= 0 && v <= 65535;
}

int pg_enc_rect_header(struct pg_buf *out, const struct pg_rect *r, int32_t encoding)
{
	uint8_t h[12];

	if (!in_u16(r->x) || !in_u16(r->y) || !in_u16(r->w) || !in_u16(r->h))
		return PG_EPROTO;
	pg_wr16(h, (uint16_t)r->x);
	pg_wr16(h + 2, (uint16_t)r->y);
	pg_wr16(h + 4, (uint16_t)r->w);
	pg_wr16(h + 6, (uint16_t)r->h);
	pg_wr32(h + 8, (uint32_t)encoding);
	return pg_buf_append(out, h, sizeof(h));
}

int pg_enc_copyrect(struct pg_buf *out, const struct pg_rect *r, int src_x, int src_y)
{
	int rc;

	if (!in_u16(src_x) || !in_u16(src_y))
		return PG_EPROTO;
	rc = pg_buf_reserve(out, 16);
	if (rc < 0)
		return rc;
	rc = pg_enc_rect_header(out, r, PG_ENC_COPYRECT);
	if (rc < 0)
		return rc;
	pg_buf_put_u16(out, (uint16_t)src_x);
	return pg_buf_put_u16(out, (uint16_t)src_y);
}

int pg_enc_cursor(struct pg_buf *out, const struct pg_pixfmt *pf, int hot_x, int hot_y, int w,
		  int h, const uint32_t *px, const uint8_t *mask)
{
	struct pg_pixconv pc;
	size_t npx, pxbytes, maskbytes, total;
	int rc;

	if (w < 0 || h < 0 || w > PG_RFB_MAX_CURSOR_SIDE || h > PG_RFB_MAX_CURSOR_SIDE)
		return PG_ELIMIT;
	if (pg_pixfmt_validate(pf, NULL) < 0)
		return PG_EUNSUP;
	/* The hotspot travels in x and y; RFB does not require it inside the cursor,
	 * but a hotspot outside it is not something a host should send us. */
	if (hot_x < 0 || hot_y < 0 || (w && hot_x >= w) || (h && hot_y >= h))
		return PG_EPROTO;
	npx = (size_t)w * (size_t)h;
	pxbytes = npx * (pf->bpp / 8u);
	maskbytes = (size_t)(w + 7) / 8 * (size_t)h;
	total = 12 + pxbytes + maskbytes;
	rc = pg_buf_reserve(out, total);
	if (rc < 0)
		return rc;
	rc = pg_enc_rect_header(out, &(struct pg_rect){hot_x, hot_y, w, h}, PG_ENC_CURSOR);
	if (rc < 0)
		return rc;
	pg_pixconv_init(&pc, pf);
	pg_pixconv_row(&pc, px, npx, out->data + out->len);
	out->len += pxbytes;
	return pg_buf_append(out, mask, maskbytes);
}

int pg_enc_desktop_size(struct pg_buf *out, int w, int h)
{
	if (w <= 0 || h <= 0)
		return PG_EPROTO;
	return pg_enc_rect_header(out, &(struct pg_rect){0, 0, w, h}, PG_ENC_DESKTOP_SIZE);
}

int pg_enc_ext_desktop_size(struct pg_buf *out, int w, int h, int reason, int status)
{
	uint8_t body[20] = {1, 0, 0, 0}; /* one screen, padding */
	int rc;

	if (w <= 0 || h <= 0 || !in_u16(w) || !in_u16(h))
		return PG_EPROTO;
	rc = pg_buf_reserve(out, 12 + sizeof(body));
	if (rc < 0)
		return rc;
	rc = pg_enc_rect_header(out, &(struct pg_rect){reason, status, w, h},
				PG_ENC_EXT_DESKTOP_SIZE);
	if (rc < 0)
		return rc;
	/* SCREEN: id 1, at 0,0, covering the desktop, flags 0. Any id is valid, but
	 * libvncclient ignores a layout whose screen id is 0 and then never resizes. */
	pg_wr32(body + 4, 1);
	pg_wr16(body + 12, (uint16_t)w);
	pg_wr16(body + 14, (uint16_t)h);
	return pg_buf_append(out, body, sizeof(body));
}

int pg_enc_qemu_key_ack(struct pg_buf *out)
{
	return pg_enc_rect_header(out, &(struct pg_rect){0, 0, 0, 0}, PG_ENC_QEMU_EXT_KEY);
}

int pg_enc_desktop_name(struct pg_buf *out, const char *name, size_t len)
{
	int rc;

	if (len > PG_RFB_NAME_OUT)
		return PG_ELIMIT;
	rc = pg_buf_reserve(out, 16 + len);
	if (rc < 0)
		return rc;
	rc = pg_enc_rect_header(out, &(struct pg_rect){0, 0, 0, 0}, PG_ENC_DESKTOP_NAME);
	if (rc < 0)
		return rc;
	pg_buf_put_u32(out, (uint32_t)len);
	return pg_buf_append(out, name, len);
}
