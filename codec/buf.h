/* A growable byte buffer with a hard cap (curl's dynbuf idea): appending past
 * max fails with PG_ELIMIT instead of growing without bound. Not thread-safe. */
#ifndef PG_CODEC_BUF_H
#define PG_CODEC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct pg_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

void pg_buf_init(struct pg_buf *b, size_t max);
void pg_buf_free(struct pg_buf *b);
/* Make room for extra more bytes; 0, PG_ELIMIT or PG_ENOMEM. */
int pg_buf_reserve(struct pg_buf *b, size_t extra);
int pg_buf_append(struct pg_buf *b, const void *p, size_t n);
int pg_buf_put_u8(struct pg_buf *b, uint8_t v);
int pg_buf_put_u16(struct pg_buf *b, uint16_t v); /* big-endian, as RFB */
int pg_buf_put_u32(struct pg_buf *b, uint32_t v); /* big-endian, as RFB */
/* Drop the first n bytes (n <= len). */
void pg_buf_consume(struct pg_buf *b, size_t n);
void pg_buf_reset(struct pg_buf *b);

static inline uint16_t pg_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pg_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void pg_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void pg_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
