#include "clip_util.h"

#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>

void pgx_zlib(struct pg_buf *b, int level, int flush, const struct pgx_part *parts, size_t n)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit(&zs, level), Z_OK);
	uint8_t chunk[16384];
	for (size_t i = 0; i < n; i++) {
		zs.next_in = (Bytef *)parts[i].p;
		zs.avail_in = (uInt)parts[i].n;
		int f = i + 1 == n ? flush : Z_NO_FLUSH;
		int rc;
		do {
			zs.next_out = chunk;
			zs.avail_out = sizeof(chunk);
			rc = deflate(&zs, f);
			cr_assert(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
			cr_assert_eq(pg_buf_append(b, chunk, sizeof(chunk) - zs.avail_out), 0);
		} while (zs.avail_out == 0 || (f == Z_FINISH && rc != Z_STREAM_END));
	}
	deflateEnd(&zs);
}

void pgx_put_entry(struct pg_buf *raw, const void *data, uint32_t size)
{
	cr_assert_eq(pg_buf_put_u32(raw, size), 0);
	cr_assert_eq(pg_buf_append(raw, data, size), 0);
}

void pgx_provide_payload(struct pg_buf *out, uint32_t flags, const struct pg_buf *raw, int flush)
{
	cr_assert_eq(pg_buf_put_u32(out, flags), 0);
	struct pgx_part part = {raw->data, raw->len};
	pgx_zlib(out, Z_DEFAULT_COMPRESSION, flush, &part, 1);
}
