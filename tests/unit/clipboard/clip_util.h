/* Helpers for the clipboard codec tests: inputs placed against a PROT_NONE guard
 * page, and zlib streams built by hand (as other peers would send them). */
#ifndef PG_TEST_CLIP_UTIL_H
#define PG_TEST_CLIP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/buf.h"

/* len bytes copied so that the last one sits right before an inaccessible page. */
struct pgx_guard {
	uint8_t *map;
	size_t map_len;
};

uint8_t *pgx_guard_place(struct pgx_guard *g, const void *data, size_t len);
/* An uninitialised (0xAA-filled) buffer of len bytes against a guard page. */
uint8_t *pgx_guard_alloc(struct pgx_guard *g, size_t len);
void pgx_guard_free(struct pgx_guard *g);

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
