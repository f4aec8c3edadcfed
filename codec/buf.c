#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void pg_buf_init(struct pg_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void pg_buf_free(struct pg_buf *b)
{
	free(b->data);
	pg_buf_init(b, b->max);
}

int pg_buf_reserve(struct pg_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return PG_ELIMIT;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max)
		cap = b->max;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return PG_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int pg_buf_append(struct pg_buf *b, const void *p, size_t n)
{
	int rc = pg_buf_reserve(b, n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int pg_buf_put_u8(struct pg_buf *b, uint8_t v)
{
	return pg_buf_append(b, &v, 1);
}

int pg_buf_put_u16(struct pg_buf *b, uint16_t v)
{
	uint8_t t[2];
	pg_wr16(t, v);
	return pg_buf_append(b, t, 2);
}

int pg_buf_put_u32(struct pg_buf *b, uint32_t v)
{
	uint8_t t[4];
	pg_wr32(t, v);
	return pg_buf_append(b, t, 4);
}

void pg_buf_consume(struct pg_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void pg_buf_reset(struct pg_buf *b)
{
	b->len = 0;
}
