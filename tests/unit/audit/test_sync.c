/* When records reach the disk. This executable defines fdatasync itself, so the
 * audit code (linked in statically) calls it here: it counts calls, can hold a sync
 * until the test lets it go, and can fail one. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "audit_util.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int calls, in_sync, fail_next;
static bool hold;
static pthread_t writer; /* never held: a writer that syncs shows as a count */

int fdatasync(int fd)
{
	(void)fd;
	pthread_mutex_lock(&mu);
	calls++;
	in_sync++;
	pthread_cond_broadcast(&cv);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10; /* a test that forgets to let go still ends */
	while (hold && !pthread_equal(pthread_self(), writer) &&
	       pthread_cond_timedwait(&cv, &mu, &until) == 0)
		;
	in_sync--;
	int e = fail_next;
	fail_next = 0;
	pthread_mutex_unlock(&mu);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

static int get(int *v)
{
	pthread_mutex_lock(&mu);
	int r = *v;
	pthread_mutex_unlock(&mu);
	return r;
}

static void set_hold(bool h)
{
	pthread_mutex_lock(&mu);
	hold = h;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Wait (5 s at most) until fdatasync has been called n times and none runs. */
static bool wait_calls(int n)
{
	bool ok;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&mu);
	while (!(ok = calls >= n && !in_sync) && pthread_cond_timedwait(&cv, &mu, &until) == 0)
		;
	pthread_mutex_unlock(&mu);
	return ok || (get(&calls) >= n && !get(&in_sync));
}

static struct pg_audit *open_log(void)
{
	char err[256];
	struct pg_audit *a = pg_audit_open(au_path("audit.log"), NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	return a;
}

static void fini(void)
{
	set_hold(false);
	au_cleanup();
}

TestSuite(audit_sync, .fini = fini);

Test(audit_sync, every_syncs_each_record_in_the_call)
{
	struct pg_audit *a = open_log();
	int before = get(&calls);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", i)), 0);
	cr_assert_eq(get(&calls) - before, 5);
	pthread_mutex_lock(&mu);
	fail_next = EIO;
	pthread_mutex_unlock(&mu);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 5)), -EIO);
	pg_audit_close(a);
}

/* The writer (the relay's loop) goes on while a sync hangs on a slow disk; the
 * records written meanwhile share the next sync, and close waits for it. */
Test(audit_sync, behind_never_holds_the_writer)
{
	struct pg_audit *a = open_log();
	cr_assert_eq(pg_audit_set_sync(a, PG_AUDIT_SYNC_BEHIND), 0);
	cr_assert_eq(pg_audit_get_sync(a), PG_AUDIT_SYNC_BEHIND);
	int before = get(&calls);
	writer = pthread_self();
	set_hold(true);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 0)), 0);
	/* The thread is now inside a sync that does not return. */
	for (int i = 0; i < 200 && !get(&in_sync); i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	cr_assert_eq(get(&in_sync), 1, "the syncing thread never synced");
	for (int i = 1; i < 50; i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", i)), 0);
	cr_assert_eq(get(&calls) - before, 1, "the writer waited for a sync");
	size_t n;
	char **lines = au_read_lines(au_path("audit.log"), &n);
	au_free_lines(lines, n);
	cr_assert_eq(n, 51, "%zu lines: every record is written at once", n); /* + chain-start */
	set_hold(false);
	cr_assert(wait_calls(before + 2));
	pg_audit_close(a);
	cr_assert_eq(get(&calls) - before, 2, "%d syncs for 50 records", get(&calls) - before);
}

Test(audit_sync, behind_reports_a_failed_sync_with_the_next_record)
{
	struct pg_audit *a = open_log();
	cr_assert_eq(pg_audit_set_sync(a, PG_AUDIT_SYNC_BEHIND), 0);
	int before = get(&calls);
	pthread_mutex_lock(&mu);
	fail_next = EIO;
	pthread_mutex_unlock(&mu);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 1)), 0);
	cr_assert(wait_calls(before + 1));
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 2)), -EIO);
	cr_assert(wait_calls(before + 2));
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 3)), 0);
	pg_audit_close(a);
	/* Both failed and later records are in the file: the chain went on. */
	size_t n;
	char **lines = au_read_lines(au_path("audit.log"), &n);
	au_free_lines(lines, n);
	cr_assert_eq(n, 4);
}

/* The preauth path switches to NONE and back: the mode comes back as it was. */
Test(audit_sync, modes_are_checked)
{
	struct pg_audit *a = open_log();
	cr_assert_eq(pg_audit_get_sync(a), PG_AUDIT_SYNC_EVERY);
	cr_assert_eq(pg_audit_set_sync(a, (enum pg_audit_sync)42), -EINVAL);
	cr_assert_eq(pg_audit_set_sync(a, PG_AUDIT_SYNC_NONE), 0);
	int before = get(&calls);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 1)), 0);
	cr_assert_eq(get(&calls), before);
	pg_audit_close(a);
}

/* logrotate renames the file and SIGHUP reopens it right after a slow sync of the
 * old one: both files are whole, and each was synced. */
Test(audit_sync, behind_reopen_keeps_both_files_whole)
{
	struct pg_audit *a = open_log();
	char err[256];
	cr_assert_eq(pg_audit_set_sync(a, PG_AUDIT_SYNC_BEHIND), 0);
	int before = get(&calls);
	writer = pthread_self();
	set_hold(true);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 1)), 0);
	for (int i = 0; i < 200 && !get(&in_sync); i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	cr_assert_eq(get(&in_sync), 1);
	cr_assert_eq(rename(au_path("audit.log"), au_path("audit.log.1")), 0);
	set_hold(false); /* else the reopen waits for it (syncer_set_fd), 10 s here */
	cr_assert_eq(pg_audit_reopen(a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_I("n", 2)), 0);
	pg_audit_close(a);
	cr_assert_geq(get(&calls) - before, 3, "the old file, its reopen and the new one");
	size_t n;
	char **lines = au_read_lines(au_path("audit.log.1"), &n);
	au_free_lines(lines, n);
	cr_assert_eq(n, 2);
	lines = au_read_lines(au_path("audit.log"), &n);
	au_free_lines(lines, n);
	cr_assert_eq(n, 2, "chain-continued and the record");
}
