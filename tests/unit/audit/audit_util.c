#include "audit_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

static char dir[64];

const char *au_dir(void)
{
	if (!dir[0]) {
		strcpy(dir, "/tmp/pg-audit-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	return dir;
}

void au_cleanup(void)
{
	if (!dir[0])
		return;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[512];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	dir[0] = '\0';
}

const char *au_path(const char *name)
{
	static char bufs[16][512];
	static int next;
	char *b = bufs[next++ % 16];
	snprintf(b, sizeof(bufs[0]), "%s/%s", au_dir(), name);
	return b;
}

void au_write_events(const char *path, int n)
{
	char err[256] = "";
	struct pg_audit *a = pg_audit_open(path, NULL, err, sizeof(err));
	cr_assert_not_null(a, "open %s: %s", path, err);
	for (int i = 0; i < n; i++) {
		char user[32];
		snprintf(user, sizeof(user), "user%d", i);
		cr_assert_eq(
		    PG_AUDIT_EVENT(a, "test", PG_AUDIT_S("user", user), PG_AUDIT_I("n", i)), 0);
	}
	pg_audit_close(a);
}

char **au_read_lines(const char *path, size_t *count)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char **lines = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		lines = realloc(lines, (n + 1) * sizeof(*lines));
		lines[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	*count = n;
	return lines;
}

void au_free_lines(char **lines, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(lines[i]);
	free(lines);
}

void au_write_lines(const char *path, char **lines, size_t count, int last_newline)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (size_t i = 0; i < count; i++)
		fprintf(f, "%s%s", lines[i], i + 1 < count || last_newline ? "\n" : "");
	fclose(f);
}

struct sink {
	char *out;
	size_t len, used;
};

static void collect(void *ctx, bool is_problem, const char *msg)
{
	struct sink *s = ctx;
	int n =
	    snprintf(s->out + s->used, s->len - s->used, "%s%s\n", is_problem ? "" : "note: ", msg);
	if (n > 0)
		s->used += (size_t)n < s->len - s->used ? (size_t)n : s->len - s->used - 1;
}

int au_verify(const char *const *paths, size_t n, char *out, size_t outlen,
	      struct pg_audit_verify_result *res)
{
	struct sink s = {.out = out, .len = outlen};
	out[0] = '\0';
	return pg_audit_verify(paths, n, collect, &s, res);
}
