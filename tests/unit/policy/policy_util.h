/* Helpers for the policy tests: load a config from text, find errors, resolve. */
#ifndef PG_TEST_POLICY_UTIL_H
#define PG_TEST_POLICY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/clipcheck.h"
#include "config/config.h"

/* The path of the last file pol_load wrote (it is removed again). */
extern char pol_path[64];

/* Write text to a temporary file and load it into a fresh config. Returns what
 * pg_config_load returned. */
int pol_load(struct pg_config *c, struct pg_config_errors *e, const char *text);
/* True when an error message contains needle. */
bool pol_has_error(const struct pg_config_errors *e, const char *needle);
/* Load text (which must be valid) and resolve the policy of groups_csv into p. The
 * config is kept in c; free it with pg_config_free. */
void pol_resolve(struct pg_config *c, const char *text, const char *groups_csv,
		 struct pg_policy *p);
/* pg_clip_check on a C string; returns the verdict's return code. */
int pol_check(const struct pg_policy *p, enum pg_clip_dir dir, const char *text,
	      struct pg_clip_verdict *v);

#endif
