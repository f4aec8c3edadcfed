/* The audit log's verifier (pg_audit_verify, what `pixelgate-audit verify` runs) on
 * arbitrary files, and the chain recovery of pg_audit_open on the last of them.
 *
 * Input: one flags byte, then the files' contents separated by "\x1e\x1e" (at most
 * 4 files), each written to a memfd and verified through /proc/self/fd/N in order.
 *   flags & 1: also open the last file with pg_audit_open (which continues or marks
 *              its chain), append one record, and verify again.
 *   (flags & 10) == 10: the first file starts with a line of PG_AUDIT_MAX_LINE - 8 +
 *              (flags >> 4) bytes ('a'), with a newline when flags & 4: lines at the
 *              limit (a quarter of the inputs: they are slow).
 * Checks: the result agrees with the problems reported (at most one per file), every
 * message is a string; after an append to a chain that verified, it still verifies
 * with one record more, and one that did not still does not. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILES 4
#define SEP	  "\x1e\x1e"

struct seen {
	unsigned problems, notes;
};

static void report(void *ctx, bool is_problem, const char *msg)
{
	struct seen *s = ctx;
	size_t n = strlen(msg);
	if (n >= 1024)
		abort();
	if (is_problem)
		s->problems++;
	else
		s->notes++;
}

static void write_all(int fd, const void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, (const char *)p + off, n - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
}

static int verify(char *const *paths, size_t n, struct pg_audit_verify_result *res)
{
	struct seen s = {0};
	int rc = pg_audit_verify((const char *const *)paths, n, report, &s, res);
	if (rc < 0)
		abort(); /* memfds always read */
	if (s.problems != res->problems || (rc == 0) != (res->problems == 0))
		abort();
	if (res->problems > n || strlen(res->last_hash) != 64)
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *long_line;
	if (size < 1 || size > 256 * 1024)
		return 0;
	if (!long_line) {
		long_line = malloc(PG_AUDIT_MAX_LINE + 8);
		if (!long_line)
			abort();
		memset(long_line, 'a', PG_AUDIT_MAX_LINE + 8);
	}
	uint8_t flags = data[0];
	data++;
	size--;

	int fds[MAX_FILES];
	char names[MAX_FILES][32];
	char *paths[MAX_FILES];
	size_t n = 0, lines = 0;
	bool last_empty = false;
	const uint8_t *p = data, *end = data + size;
	while (n < MAX_FILES) {
		const uint8_t *sep = n + 1 < MAX_FILES ? memmem(p, end - p, SEP, 2) : NULL;
		const uint8_t *e = sep ? sep : end;
		fds[n] = memfd_create("pg-fuzz-audit", MFD_CLOEXEC);
		if (fds[n] < 0)
			abort();
		if (n == 0 && (flags & 10) == 10) {
			write_all(fds[n], long_line, PG_AUDIT_MAX_LINE - 8 + (flags >> 4));
			if (flags & 4)
				write_all(fds[n], "\n", 1);
			lines++;
		}
		write_all(fds[n], p, e - p);
		last_empty = e == p && !(n == 0 && (flags & 10) == 10);
		for (const uint8_t *q = p; q < e; q++)
			lines += *q == '\n';
		lines++;
		snprintf(names[n], sizeof(names[n]), "/proc/self/fd/%d", fds[n]);
		paths[n] = names[n];
		n++;
		if (!sep)
			break;
		p = sep + 2;
	}

	struct pg_audit_verify_result res;
	int rc = verify(paths, n, &res);
	if (res.records > lines)
		abort();

	if (flags & 1) {
		char err[256];
		struct pg_audit *a = pg_audit_open(paths[n - 1], NULL, err, sizeof(err));
		if (!a) {
			if (!err[0])
				abort();
		} else {
			pg_audit_set_sync(a, PG_AUDIT_SYNC_NONE);
			uint64_t next = pg_audit_next_seq(a);
			if (next < 1)
				abort();
			const struct pg_audit_field f[] = {PG_AUDIT_S("user", "fuzz"),
							   PG_AUDIT_I("n", -1)};
			if (pg_audit_event(a, "fuzz-note", f, 2))
				abort();
			if (pg_audit_next_seq(a) != next + 1)
				abort();
			pg_audit_close(a);
			struct pg_audit_verify_result res2;
			int rc2 = verify(paths, n, &res2);
			/* A sound chain stays sound with one record more; a broken one stays
			 * broken (the writer's chain-broken-at-start says so if need be),
			 * unless the one file was empty and now starts a chain. */
			if (rc == 0 && (rc2 != 0 || res2.records != res.records + 1))
				abort();
			if (rc != 0 && rc2 == 0 && !(n == 1 && last_empty))
				abort();
		}
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}
