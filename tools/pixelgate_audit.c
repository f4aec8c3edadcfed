/* pixelgate-audit: verify the hash chain of pixelgate's audit log, show records,
 * and append records by hand (for operators' notes and for tests).
 *
 *   pixelgate-audit verify FILE [FILE...]       files in rotation order, oldest first
 *   pixelgate-audit show FILE                   one readable line per record
 *   pixelgate-audit append FILE EVENT [key=value | key:=number|true|false]...
 *   pixelgate-audit rotate FILE OLDNAME        rename FILE and continue its chain in a
 *                                              new FILE (only while no relay writes it)
 *
 * Exit status: 0 when all is well, 1 when the chain is broken or a record cannot be
 * written, 2 for a usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/audit.h"

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: pixelgate-audit verify FILE [FILE...]   (oldest first)\n"
	    "       pixelgate-audit show FILE\n"
	    "       pixelgate-audit append FILE EVENT [key=value | key:=number|true|false]...\n");
	return 2;
}

static void print_report(void *ctx, bool is_problem, const char *msg)
{
	printf("%s%s\n", is_problem ? "" : "note: ", msg);
}

static int cmd_verify(int argc, char **argv)
{
	struct pg_audit_verify_result res;
	if (argc < 1)
		return usage();
	int rc = pg_audit_verify((const char *const *)argv, (size_t)argc, print_report, NULL, &res);
	if (rc == 0) {
		printf("verified %llu records in %d file%s, chain intact, last seq %llu, last hash "
		       "%s\n",
		       (unsigned long long)res.records, argc, argc == 1 ? "" : "s",
		       (unsigned long long)res.last_seq, res.last_hash);
		return 0;
	}
	printf("chain broken: %u problem%s found (%llu records verified)\n", res.problems,
	       res.problems == 1 ? "" : "s", (unsigned long long)res.records);
	return 1;
}

static int cmd_show(int argc, char **argv)
{
	if (argc != 1)
		return usage();
	FILE *f = fopen(argv[0], "re");
	if (!f) {
		fprintf(stderr, "pixelgate-audit: cannot open %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long ln = 0;
	int rc = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		ln++;
		json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
		if (!json_is_object(o)) {
			printf("%s:%lu: (not a record: %s)\n", argv[0], ln,
			       o ? "not an object" : jerr.text);
			json_decref(o);
			rc = 1;
			continue;
		}
		const char *ts = json_string_value(json_object_get(o, "ts"));
		const char *event = json_string_value(json_object_get(o, "event"));
		printf("%6lld %s %-20s", json_integer_value(json_object_get(o, "seq")),
		       ts ? ts : "?", event ? event : "?");
		const char *key;
		json_t *val;
		json_object_foreach(o, key, val)
		{
			if (!strcmp(key, "ts") || !strcmp(key, "seq") || !strcmp(key, "event") ||
			    !strcmp(key, "prev"))
				continue;
			/* Values go out JSON-encoded, so a hostile one cannot move the cursor. */
			char *v = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
			printf(" %s=%s", key, v ? v : "?");
			free(v);
		}
		printf("\n");
		json_decref(o);
	}
	free(line);
	fclose(f);
	return rc;
}

static int parse_field(char *arg, struct pg_audit_field *f)
{
	char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return -1;
	if (eq[-1] == ':') {
		eq[-1] = '\0';
		f->key = arg;
		const char *v = eq + 1;
		if (!strcmp(v, "true") || !strcmp(v, "false")) {
			f->type = PG_AUDIT_BOOL;
			f->v.b = v[0] == 't';
			return 0;
		}
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || end == v || *end)
			return -1;
		f->type = PG_AUDIT_INT;
		f->v.i = n;
		return 0;
	}
	*eq = '\0';
	f->key = arg;
	f->type = PG_AUDIT_STR;
	f->v.s = eq + 1;
	return 0;
}

static int cmd_append(int argc, char **argv)
{
	struct pg_audit_field fields[PG_AUDIT_MAX_FIELDS];
	char err[256];
	if (argc < 2)
		return usage();
	size_t n = (size_t)argc - 2;
	if (n > PG_AUDIT_MAX_FIELDS) {
		fprintf(stderr, "pixelgate-audit: at most %d fields\n", PG_AUDIT_MAX_FIELDS);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_field(argv[2 + i], &fields[i])) {
			fprintf(
			    stderr,
			    "pixelgate-audit: '%s' is not key=value or key:=number|true|false\n",
			    argv[2 + i]);
			return 2;
		}
	}
	struct pg_audit *a = pg_audit_open(argv[0], NULL, err, sizeof(err));
	if (!a) {
		fprintf(stderr, "pixelgate-audit: %s\n", err);
		return 1;
	}
	int rc = pg_audit_event(a, argv[1], fields, n);
	pg_audit_close(a);
	if (rc == -EINVAL) {
		fprintf(stderr,
			"pixelgate-audit: refused: event names are [a-z0-9-] (not chain-*), keys "
			"are [a-z0-9_] and may not be reserved (ts, seq, event, prev), repeated, "
			"or name a secret (password, secret, token, code, ...)\n");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "pixelgate-audit: cannot write to %s: %s\n", argv[0],
			strerror(-rc));
		return 1;
	}
	return 0;
}

static int cmd_rotate(int argc, char **argv)
{
	char err[256];
	if (argc != 2)
		return usage();
	/* The lock taken here also keeps a running relay's file from being rotated
	 * under it: the relay rotates on SIGHUP instead. */
	struct pg_audit *a = pg_audit_open(argv[0], NULL, err, sizeof(err));
	if (!a) {
		fprintf(stderr, "pixelgate-audit: %s\n", err);
		return 1;
	}
	if (rename(argv[0], argv[1])) {
		fprintf(stderr, "pixelgate-audit: cannot rename %s to %s: %s\n", argv[0], argv[1],
			strerror(errno));
		pg_audit_close(a);
		return 1;
	}
	int rc = pg_audit_reopen(a, err, sizeof(err));
	pg_audit_close(a);
	if (rc) {
		fprintf(stderr, "pixelgate-audit: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 2, argv + 2);
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	if (!strcmp(argv[1], "append"))
		return cmd_append(argc - 2, argv + 2);
	if (!strcmp(argv[1], "rotate"))
		return cmd_rotate(argc - 2, argv + 2);
	return usage();
}
