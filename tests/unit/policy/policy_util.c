#include "policy_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char pol_path[64];

int pol_load(struct pg_config *c, struct pg_config_errors *e, const char *text)
{
	strcpy(pol_path, "/tmp/pg-policy-XXXXXX");
	int fd = mkstemp(pol_path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	pg_config_init(c);
	int rc = pg_config_load(c, pol_path, e);
	unlink(pol_path);
	return rc;
}

bool pol_has_error(const struct pg_config_errors *e, const char *needle)
{
	for (int i = 0; i < e->count; i++)
		if (strstr(e->msg[i], needle))
			return true;
	return false;
}

void pol_resolve(struct pg_config *c, const char *text, const char *groups_csv, struct pg_policy *p)
{
	struct pg_config_errors e = {0};
	cr_assert_eq(pol_load(c, &e, text), 0, "%s", e.msg[0]);
	cr_assert_eq(pg_policy_check(&c->policy, &e), 0, "%s", e.msg[0]);
	cr_assert_eq(pg_policy_effective(&c->policy, groups_csv, p), 0);
}

int pol_check(const struct pg_policy *p, enum pg_clip_dir dir, const char *text,
	      struct pg_clip_verdict *v)
{
	size_t len = strlen(text), out_len;
	uint8_t *out = malloc(len + 1);
	cr_assert(out);
	int rc = pg_clip_check(p, dir, (const uint8_t *)text, len, out, len, &out_len, v);
	free(out);
	return rc;
}
