#include "guard_util.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

uint8_t *pgx_guard_alloc(struct pgx_guard *g, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (len + page - 1) / page * page;
	if (body == 0)
		body = page;
	g->map_len = body + page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(g->map != MAP_FAILED);
	cr_assert_eq(mprotect(g->map + body, page, PROT_NONE), 0);
	uint8_t *p = g->map + body - len;
	memset(g->map, 0xAA, body);
	return p;
}

uint8_t *pgx_guard_place(struct pgx_guard *g, const void *data, size_t len)
{
	uint8_t *p = pgx_guard_alloc(g, len);
	if (len)
		memcpy(p, data, len);
	return p;
}

void pgx_guard_free(struct pgx_guard *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	g->map = NULL;
}
