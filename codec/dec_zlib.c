#include "decoder_impl.h"

#include <string.h>

#include "err.h"

int pg_zin_stream_init(z_stream *zs)
{
	memset(zs, 0, sizeof(*zs));
	return inflateInit(zs) == Z_OK ? 0 : PG_ENOMEM;
}

void pg_zin_start(struct pg_zin *z, z_stream *zs, uint8_t *win, const uint8_t *in, size_t len)
{
	z->zs = zs;
	z->in = in;
	z->in_len = len;
	z->in_pos = 0;
	z->win = win;
	z->pos = 0;
	z->end = 0;
	z->why = NULL;
	if (zs) {
		zs->next_in = (Bytef *)in;
		zs->avail_in = (uInt)len;
	}
}

static const uint8_t *get_raw(struct pg_zin *z, size_t n)
{
	if (z->in_len - z->in_pos < n) {
		z->why = "data shorter than the rectangle";
		return NULL;
	}
	const uint8_t *p = z->in + z->in_pos;
	z->in_pos += n;
	return p;
}

const uint8_t *pg_zin_get(struct pg_zin *z, size_t n)
{
	if (n > PG_ZIN_MAX_GET) {
		z->why = "internal read too large";
		return NULL;
	}
	if (!z->zs)
		return get_raw(z, n);
	if (z->end - z->pos < n) {
		memmove(z->win, z->win + z->pos, z->end - z->pos);
		z->end -= z->pos;
		z->pos = 0;
	}
	while (z->end - z->pos < n) {
		z_stream *zs = z->zs;
		if (zs->avail_in == 0) {
			z->why = "decompressed data shorter than the rectangle";
			return NULL;
		}
		zs->next_out = z->win + z->end;
		zs->avail_out = (uInt)(PG_ZIN_WIN - z->end);
		int rc = inflate(zs, Z_SYNC_FLUSH);
		size_t got = PG_ZIN_WIN - z->end - zs->avail_out;
		z->end += got;
		/* An RFB zlib stream normally lasts as long as the connection. A sender
		 * that compresses each rectangle on its own ends the stream with the
		 * rectangle (and must reset it before its next use, which inflate then
		 * enforces): that is accepted, but no byte may be missing. */
		if (rc == Z_STREAM_END) {
			if (z->end - z->pos < n) {
				z->why = "zlib stream ended before the rectangle's data";
				return NULL;
			}
			break;
		}
		if (rc != Z_OK && !(rc == Z_BUF_ERROR && got > 0)) {
			z->why = rc == Z_BUF_ERROR ? "decompressed data shorter than the rectangle"
						   : "corrupt zlib data";
			return NULL;
		}
	}
	const uint8_t *p = z->win + z->pos;
	z->pos += n;
	return p;
}

int pg_zin_finish(struct pg_zin *z)
{
	if (!z->zs) {
		if (z->in_pos != z->in_len) {
			z->why = "data longer than the rectangle";
			return -1;
		}
		return 0;
	}
	if (z->pos != z->end) {
		z->why = "decompressed data longer than the rectangle";
		return -1;
	}
	z_stream *zs = z->zs;
	/* What is left should be the empty block of the sender's Z_SYNC_FLUSH: it must
	 * inflate to nothing. One byte of room is enough to see any surplus, also when
	 * every input byte is used: inflate may still hold output of a long match that
	 * did not fit the window, which would otherwise open the next rectangle. */
	uint8_t spare;
	zs->next_out = &spare;
	zs->avail_out = 1;
	int rc = inflate(zs, Z_SYNC_FLUSH);
	if (zs->avail_out == 0) {
		z->why = "decompressed data longer than the rectangle";
		return -1;
	}
	if (rc == Z_STREAM_END && zs->avail_in != 0) {
		z->why = "data after the end of the zlib stream";
		return -1;
	}
	if (rc == Z_STREAM_END)
		return 0;
	if ((rc != Z_OK && rc != Z_BUF_ERROR) || zs->avail_in != 0) {
		z->why = "corrupt zlib data";
		return -1;
	}
	return 0;
}
