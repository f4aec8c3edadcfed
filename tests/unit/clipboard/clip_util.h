/* Helpers for the clipboard codec tests: zlib streams built by hand (as other peers
 * would send them); inputs against a PROT_NONE guard page come from guard_util.h. */
#ifndef PG_TEST_CLIP_UTIL_H
#define PG_TEST_CLIP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/buf.h"
#include "guard_util.h"

/* Append to b one zlib stream (deflateInit, level) of the n parts; flush is
 * Z_FINISH for a complete stream or Z_SYNC_FLUSH as TigerVNC ends its streams. */
struct pgx_part {
	const void *p;
	size_t n;
};
void pgx_zlib(struct pg_buf *b, int level, int flush, const struct pgx_part *parts, size_t n);
/* u32 size, then data: one format's entry in a provide stream. */
void pgx_put_entry(struct pg_buf *raw, const void *data, uint32_t size);

/* An Extended Clipboard provide payload: flags, then the zlib stream of raw. */
void pgx_provide_payload(struct pg_buf *out, uint32_t flags, const struct pg_buf *raw, int flush);

#endif
