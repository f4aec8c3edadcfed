#include "decoder_impl.h"

#include <stdio.h>
#include <stdlib.h>

#include "err.h"

static const struct pg_decoder_impl *const impls[] = {
    &pg_dec_raw_impl,
    &pg_dec_copyrect_impl,
    &pg_dec_zrle_impl,
    &pg_dec_tight_impl,
};

#define N_IMPLS (sizeof(impls) / sizeof(impls[0]))

struct pg_decoder {
	void *state[N_IMPLS];
	struct pg_dec_err err;
};

ssize_t pg_dec_fail(struct pg_dec_err *err, int code, const char *why, const char *fmt, ...)
{
	va_list ap;
	err->why = why;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

struct pg_decoder *pg_decoder_new(void)
{
	struct pg_decoder *dec = calloc(1, sizeof(*dec));
	if (!dec)
		return NULL;
	for (size_t i = 0; i < N_IMPLS; i++) {
		if (!impls[i]->create)
			continue;
		dec->state[i] = impls[i]->create();
		if (!dec->state[i])
			goto fail;
	}
	return dec;
fail:
	pg_decoder_del(dec);
	return NULL;
}

void pg_decoder_del(struct pg_decoder *dec)
{
	if (!dec)
		return;
	for (size_t i = 0; i < N_IMPLS; i++)
		if (dec->state[i])
			impls[i]->destroy(dec->state[i]);
	free(dec);
}

ssize_t pg_decode_rect(struct pg_decoder *dec, int32_t enc, const struct pg_rect *r,
		       struct pg_fb *fb, const uint8_t *buf, size_t len, const char **why)
{
	static const char *const unsup = "encoding not requested";
	dec->err.why = NULL;
	dec->err.msg[0] = '\0';
	for (size_t i = 0; i < N_IMPLS; i++) {
		if (impls[i]->encoding != enc)
			continue;
		ssize_t rc = impls[i]->decode(dec->state[i], &dec->err, r, fb, buf, len);
		if (rc < 0 && why)
			*why = dec->err.why;
		return rc;
	}
	pg_dec_fail(&dec->err, PG_EUNSUP, unsup, "encoding %d was not requested", (int)enc);
	if (why)
		*why = unsup;
	return PG_EUNSUP;
}

const char *pg_decoder_error(const struct pg_decoder *dec)
{
	return dec->err.msg;
}
