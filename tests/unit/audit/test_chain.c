/* The hash chain: a log written by pg_audit verifies, and each kind of tampering is
 * reported at the right line; rotation and reopening keep the chain. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "audit_util.h"

static char out[8192];

static void fini(void)
{
	au_cleanup();
}

TestSuite(audit_chain, .fini = fini);

static int verify1(const char *path, struct pg_audit_verify_result *res)
{
	const char *paths[] = {path};
	return au_verify(paths, 1, out, sizeof(out), res);
}

/* Replace line no (1-based) of path with text. */
static void set_line(const char *path, size_t no, const char *text)
{
	size_t n;
	char **lines = au_read_lines(path, &n);
	cr_assert(no >= 1 && no <= n);
	free(lines[no - 1]);
	lines[no - 1] = strdup(text);
	au_write_lines(path, lines, n, 1);
	au_free_lines(lines, n);
}

static char *get_line(const char *path, size_t no)
{
	size_t n;
	char **lines = au_read_lines(path, &n);
	cr_assert(no >= 1 && no <= n, "line %zu of %zu", no, n);
	char *s = strdup(lines[no - 1]);
	au_free_lines(lines, n);
	return s;
}

Test(audit_chain, written_log_verifies)
{
	const char *p = au_path("audit.log");
	struct pg_audit_verify_result res;
	char err[256], hex[65];
	au_write_events(p, 20);
	cr_assert_eq(verify1(p, &res), 0, "%s", out);
	cr_assert_eq(res.records, 21); /* chain-start and 20 events */
	cr_assert_eq(res.last_seq, 21);
	cr_assert_eq(res.problems, 0);
	cr_assert_str_empty(out);
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	pg_audit_last_hash(a, hex);
	cr_assert_str_eq(hex, res.last_hash);
	cr_assert_eq(pg_audit_next_seq(a), 22);
	pg_audit_close(a);
}

Test(audit_chain, record_format)
{
	const char *p = au_path("audit.log");
	au_write_events(p, 1);
	char *first = get_line(p, 1), *second = get_line(p, 2);
	cr_assert(!strncmp(first, "{\"ts\":\"", 7), "%s", first);
	cr_assert(strstr(first,
			 "\",\"seq\":1,\"event\":\"chain-start\",\"prev\":\""
			 "0000000000000000000000000000000000000000000000000000000000000000\"}"),
		  "%s", first);
	/* RFC 3339 UTC with milliseconds: 2024-05-01T12:34:56.789Z */
	int y, mo, d, h, mi, s, ms;
	char z;
	cr_assert_eq(
	    sscanf(first + 7, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z),
	    8);
	cr_assert_eq(z, 'Z');
	cr_assert_eq(first[31], '"', "%s", first);
	/* Fixed key order: ts, seq, event, the fields in the caller's order, prev. */
	const char *seq = strstr(second, "\"seq\":2,\"event\":\"test\",\"user\":\"user0\",\"n\":0,"
					 "\"prev\":\"");
	cr_assert_not_null(seq, "%s", second);
	/* prev is the SHA-256 of the first line's bytes. */
	const char *paths[] = {p};
	struct pg_audit_verify_result res;
	cr_assert_eq(au_verify(paths, 1, out, sizeof(out), &res), 0);
	free(first);
	free(second);
}

Test(audit_chain, altered_byte_is_reported_at_its_record)
{
	const char *p = au_path("audit.log");
	au_write_events(p, 20);
	char *l = get_line(p, 10);
	char *u = strstr(l, "user8");
	cr_assert_not_null(u);
	u[4] = '9'; /* one byte: user8 becomes user9 */
	set_line(p, 10, l);
	free(l);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:11: record seq 11: prev hash does not match the previous "
			      "record (line 10, seq 10): that record was altered"),
		  "%s", out);
}

Test(audit_chain, altered_prev_is_reported)
{
	const char *p = au_path("audit.log");
	au_write_events(p, 5);
	char *l = get_line(p, 4);
	char *h = strstr(l, "\"prev\":\"") + 8;
	h[0] = h[0] == 'a' ? 'b' : 'a';
	set_line(p, 4, l);
	free(l);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:4: record seq 4: prev hash does not match"), "%s", out);
}

Test(audit_chain, deleted_record_is_reported)
{
	const char *p = au_path("audit.log");
	size_t n;
	au_write_events(p, 20);
	char **lines = au_read_lines(p, &n);
	free(lines[9]);
	memmove(&lines[9], &lines[10], (n - 10) * sizeof(*lines));
	au_write_lines(p, lines, n - 1, 1);
	au_free_lines(lines, n - 1);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:10: seq jumps from 9 to 11 (records missing"), "%s", out);
}

Test(audit_chain, deleted_and_renumbered_record_is_reported)
{
	/* Deleting a record and renumbering the next one still breaks the hashes. */
	const char *p = au_path("audit.log");
	size_t n;
	au_write_events(p, 5);
	char **lines = au_read_lines(p, &n);
	cr_assert_eq(n, 6);
	strstr(lines[5], "\"seq\":6")[6] = '5';
	free(lines[4]);
	lines[4] = lines[5];
	au_write_lines(p, lines, 5, 1);
	au_free_lines(lines, 5);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:5: record seq 5: prev hash does not match the previous "
			      "record (line 4, seq 4)"),
		  "%s", out);
}

Test(audit_chain, swapped_records_are_reported)
{
	const char *p = au_path("audit.log");
	size_t n;
	au_write_events(p, 20);
	char **lines = au_read_lines(p, &n);
	char *t = lines[9];
	lines[9] = lines[10];
	lines[10] = t;
	au_write_lines(p, lines, n, 1);
	au_free_lines(lines, n);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:10: seq jumps from 9 to 11 (records missing or "
			      "reordered)"),
		  "%s", out);
	/* One problem per file: the rest of it is not reported again. */
	cr_assert_null(strstr(out, "audit.log:11:"), "%s", out);
}

Test(audit_chain, cut_last_line_is_reported)
{
	const char *p = au_path("audit.log");
	size_t n;
	au_write_events(p, 5);
	char **lines = au_read_lines(p, &n);
	lines[n - 1][strlen(lines[n - 1]) / 2] = '\0';
	au_write_lines(p, lines, n, 0);
	au_free_lines(lines, n);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:6: last line is cut off (no newline at its end)"), "%s",
		  out);
}

Test(audit_chain, garbage_line_is_reported)
{
	const char *p = au_path("audit.log");
	au_write_events(p, 5);
	set_line(p, 3, "{\"ts\":\"x\",\"seq\":3,");
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:3: not valid JSON"), "%s", out);
	set_line(p, 3, "{\"seq\":3}");
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:3: not an audit record"), "%s", out);
}

Test(audit_chain, missing_beginning_is_reported)
{
	const char *p = au_path("audit.log");
	size_t n;
	au_write_events(p, 5);
	char **lines = au_read_lines(p, &n);
	au_write_lines(p, lines + 2, n - 2, 1);
	au_free_lines(lines, n);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:1: record seq 3 (test) does not start a chain"), "%s",
		  out);
}

Test(audit_chain, empty_and_unreadable_files_fail)
{
	const char *p = au_path("empty.log");
	FILE *f = fopen(p, "w");
	fclose(f);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "empty.log: empty"), "%s", out);
	cr_assert_eq(verify1(au_path("none.log"), NULL), -ENOENT);
	cr_assert(strstr(out, "none.log: cannot open"), "%s", out);
}

/* logrotate's create mode: rename, then SIGHUP makes the relay reopen the path. */
Test(audit_chain, rotation_keeps_the_chain)
{
	const char *p = au_path("audit.log");
	char err[256], hex[65], name[64];
	struct pg_audit_verify_result res;
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	for (int r = 3; r >= 1; r--) {
		for (int i = 0; i < 4; i++)
			cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", i)), 0);
		snprintf(name, sizeof(name), "audit.log.%d", r);
		cr_assert_eq(rename(p, au_path(name)), 0);
		pg_audit_last_hash(a, hex);
		cr_assert_eq(pg_audit_reopen(a, err, sizeof(err)), 0, "%s", err);
	}
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 99)), 0);
	pg_audit_close(a);

	/* The new file starts with chain-continued naming the old file's end. */
	char *first = get_line(p, 1);
	json_t *o = json_loads(first, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "chain-continued");
	cr_assert_eq(json_integer_value(json_object_get(o, "seq")), 16);
	cr_assert_eq(json_integer_value(json_object_get(o, "prev_seq")), 15);
	cr_assert_str_eq(json_string_value(json_object_get(o, "prev_hash")), hex);
	cr_assert_str_eq(json_string_value(json_object_get(o, "prev")), hex);
	json_decref(o);
	free(first);

	const char *all[] = {au_path("audit.log.3"), au_path("audit.log.2"), au_path("audit.log.1"),
			     p};
	cr_assert_eq(au_verify(all, 4, out, sizeof(out), &res), 0, "%s", out);
	cr_assert_eq(res.records, 17);
	cr_assert_eq(res.last_seq, 17);

	/* A later file alone verifies, with a note that its past was not checked. */
	const char *tail[] = {au_path("audit.log.1"), p};
	cr_assert_eq(au_verify(tail, 2, out, sizeof(out), &res), 0, "%s", out);
	cr_assert(strstr(out, "note: ") && strstr(out, "starts mid-chain at seq 11"), "%s", out);

	/* A missing middle file, or files in the wrong order, break the chain. */
	const char *gap[] = {au_path("audit.log.3"), au_path("audit.log.1"), p};
	cr_assert_eq(au_verify(gap, 3, out, sizeof(out), &res), 1);
	cr_assert(strstr(out, "audit.log.1:1: first record of ") &&
		      strstr(out, "does not continue the chain of the previous file"),
		  "%s", out);
	const char *order[] = {au_path("audit.log.2"), au_path("audit.log.3")};
	cr_assert_eq(au_verify(order, 2, out, sizeof(out), &res), 1);
	cr_assert(strstr(out, "does not continue the chain"), "%s", out);
}

Test(audit_chain, tamper_in_an_old_file_still_checks_the_next_link)
{
	const char *p = au_path("audit.log");
	char err[256];
	struct pg_audit_verify_result res;
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", i)), 0);
	cr_assert_eq(rename(p, au_path("audit.log.1")), 0);
	cr_assert_eq(pg_audit_reopen(a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 5)), 0);
	pg_audit_close(a);
	set_line(au_path("audit.log.1"), 3, "{\"not\":\"a record\"}");
	const char *all[] = {au_path("audit.log.1"), p};
	cr_assert_eq(au_verify(all, 2, out, sizeof(out), &res), 1);
	cr_assert(strstr(out, "audit.log.1:3: not an audit record"), "%s", out);
	cr_assert_null(strstr(out, "audit.log:1:"), "%s", out);
	cr_assert_eq(res.problems, 1);
}

Test(audit_chain, reopen_of_the_same_file_continues)
{
	const char *p = au_path("audit.log");
	char err[256];
	size_t n;
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 1)), 0);
	cr_assert_eq(pg_audit_reopen(a, err, sizeof(err)), 0, "%s", err); /* SIGHUP, no rotation */
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 2)), 0);
	pg_audit_close(a);
	char **all_lines = au_read_lines(p, &n);
	au_free_lines(all_lines, n);
	cr_assert_eq(n, 3); /* nothing extra was written */
	cr_assert_eq(verify1(p, NULL), 0, "%s", out);
}

Test(audit_chain, open_of_an_existing_file_continues)
{
	const char *p = au_path("audit.log");
	struct pg_audit_verify_result res;
	size_t n;
	au_write_events(p, 3);
	au_write_events(p, 3);
	au_write_events(p, 3);
	char **all_lines = au_read_lines(p, &n);
	au_free_lines(all_lines, n);
	cr_assert_eq(n, 10);
	cr_assert_eq(verify1(p, &res), 0, "%s", out);
	cr_assert_eq(res.last_seq, 10);
}

Test(audit_chain, damaged_end_is_flagged_on_open)
{
	const char *p = au_path("audit.log");
	char err[256];
	size_t n;
	au_write_events(p, 4);
	char **lines = au_read_lines(p, &n);
	lines[n - 1][20] = '\0'; /* a crash mid-record */
	au_write_lines(p, lines, n, 0);
	au_free_lines(lines, n);
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 9)), 0);
	pg_audit_close(a);

	char *l = get_line(p, 6);
	json_t *o = json_loads(l, 0, NULL);
	cr_assert_not_null(o, "%s", l);
	cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "chain-broken-at-start");
	cr_assert_eq(json_integer_value(json_object_get(o, "seq")), 5);
	cr_assert_eq(json_integer_value(json_object_get(o, "last_good_seq")), 4);
	cr_assert(strstr(json_string_value(json_object_get(o, "reason")), "no newline"));
	json_decref(o);
	free(l);
	/* The damaged line stays on its own line, and the verifier points at it. */
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:5: not valid JSON"), "%s", out);
}

Test(audit_chain, foreign_file_on_reopen_is_flagged)
{
	const char *p = au_path("audit.log");
	const char *q = au_path("other.log");
	char err[256];
	au_write_events(q, 2);
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", i)), 0);
	cr_assert_eq(rename(p, au_path("audit.log.1")), 0);
	cr_assert_eq(rename(q, p), 0); /* someone put another log in its place */
	cr_assert_eq(pg_audit_reopen(a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pg_audit_next_seq(a), 8);
	pg_audit_close(a);
	char *l = get_line(p, 4);
	cr_assert(strstr(l, "\"event\":\"chain-broken-at-start\"") && strstr(l, "\"seq\":7,"), "%s",
		  l);
	free(l);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:4: record seq 7: chain-broken-at-start"), "%s", out);
}

Test(audit_chain, second_writer_is_refused)
{
	const char *p = au_path("audit.log");
	char err[256] = "";
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	cr_assert_null(pg_audit_open(p, NULL, err, sizeof(err)));
	cr_assert(strstr(err, "in use by another process"), "%s", err);
	pg_audit_close(a);
}

Test(audit_chain, write_errors_are_returned)
{
	char err[256] = "";
	cr_assert_null(pg_audit_open("/dev/full", NULL, err, sizeof(err)));
	cr_assert(strstr(err, "cannot write to audit log /dev/full"), "%s", err);
	cr_assert_null(pg_audit_open(au_path("no/such/dir"), NULL, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open audit log"), "%s", err);
}

Test(audit_chain, unsynced_mode_writes_the_same_chain)
{
	const char *p = au_path("audit.log");
	char err[256];
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	cr_assert_eq(pg_audit_set_sync(a, PG_AUDIT_SYNC_NONE), 0);
	cr_assert_eq(pg_audit_set_sync(a, (enum pg_audit_sync)7), -EINVAL);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", i)), 0);
	pg_audit_close(a);
	cr_assert_eq(verify1(p, NULL), 0, "%s", out);
}

/* A write cut short (here by a file size limit, in life by a full disk) leaves half
 * a record; the next record repairs the chain and says so. */
Test(audit_chain, failed_write_is_repaired_by_the_next_record)
{
	const char *p = au_path("audit.log");
	char err[256];
	struct stat st;
	struct rlimit old, lim;
	signal(SIGXFSZ, SIG_IGN);
	struct pg_audit *a = pg_audit_open(p, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 1)), 0);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 40;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 2)), -EFBIG);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 3)), 0);
	pg_audit_close(a);
	char *l = get_line(p, 4);
	cr_assert(strstr(l, "\"seq\":3,\"event\":\"chain-broken-at-start\",\"reason\":\"the last "
			    "line has no newline (cut off)\",\"last_good_seq\":2,"),
		  "%s", l);
	free(l);
	l = get_line(p, 5);
	cr_assert(strstr(l, "\"seq\":4,\"event\":\"test\",\"n\":3,"), "%s", l);
	free(l);
	cr_assert_eq(verify1(p, NULL), 1);
	cr_assert(strstr(out, "audit.log:3: not valid JSON"), "%s", out);
}

Test(audit_chain, syslog_copy_does_not_change_the_file)
{
	const char *p = au_path("audit.log");
	char err[256];
	struct pg_audit *a = pg_audit_open(p, "pixelgate-test", err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_S("user", "syslog")), 0);
	pg_audit_close(a);
	cr_assert_eq(verify1(p, NULL), 0, "%s", out);
}
