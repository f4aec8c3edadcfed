/* Inputs placed against a PROT_NONE guard page, so that a parser reading one byte
 * past the end crashes the test instead of passing silently (for every folder). */
#ifndef PG_TEST_GUARD_UTIL_H
#define PG_TEST_GUARD_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* len bytes whose last one sits right before an inaccessible page. */
struct pgx_guard {
	uint8_t *map;
	size_t map_len;
};

/* An uninitialised (0xAA-filled) buffer of len bytes against a guard page. */
uint8_t *pgx_guard_alloc(struct pgx_guard *g, size_t len);
/* The same holding a copy of data. */
uint8_t *pgx_guard_place(struct pgx_guard *g, const void *data, size_t len);
void pgx_guard_free(struct pgx_guard *g);

#endif
