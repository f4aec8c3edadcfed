/* Helpers for the audit tests: a scratch folder, files as arrays of lines, and the
 * verifier's messages collected in one string. */
#ifndef PG_TEST_AUDIT_UTIL_H
#define PG_TEST_AUDIT_UTIL_H

#include <stddef.h>

#include "auth/audit.h"

/* A fresh folder under /tmp, removed (with its files) by au_cleanup. */
const char *au_dir(void);
void au_cleanup(void);
/* dir/name in a static buffer (one of sixteen, reused in turn). */
const char *au_path(const char *name);

/* Open path, write n "test" events with a user and a counter, close. */
void au_write_events(const char *path, int n);

/* The file's lines (without '\n'); *count gets how many.
 * Free with au_free_lines. */
char **au_read_lines(const char *path, size_t *count);
void au_free_lines(char **lines, size_t count);
/* Replace the file with lines, each followed by '\n' (the last one only when
 * last_newline). */
void au_write_lines(const char *path, char **lines, size_t count, int last_newline);

/* Run the verifier; messages (problems and notes) go to out, one per line. */
int au_verify(const char *const *paths, size_t n, char *out, size_t outlen,
	      struct pg_audit_verify_result *res);

#endif
