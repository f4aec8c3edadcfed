/* Brute-force bookkeeping: the backoff sequence and its cap, forgetting, what a
 * success clears, and that 100,000 sources cannot grow the tables past their size. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/lockout.h"

static const uint64_t t0 = 1700000000;

static uint64_t wait_of(struct pg_lockout *lk, const char *user, const char *addr, uint64_t now)
{
	uint64_t w = 12345;
	int rc = pg_lockout_check(lk, user, addr, now, &w);
	cr_assert_eq(rc, w ? -EAGAIN : 0, "rc %d with wait %llu", rc, (unsigned long long)w);
	return w;
}

Test(lockout, backoff_doubles_to_the_cap)
{
	struct pg_lockout *lk = pg_lockout_new(NULL);
	cr_assert_not_null(lk);
	uint64_t now = t0;
	/* Four failures are free. */
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(pg_lockout_record_failure(lk, "alice", "10.0.0.1", now), 0);
		cr_assert_eq(wait_of(lk, "alice", "10.0.0.1", now), 0);
	}
	/* The fifth blocks for 1 s, then 2, 4, ... up to 900. */
	uint64_t want = 1;
	for (int i = 0; i < 15; i++) {
		uint64_t d = pg_lockout_record_failure(lk, "alice", "10.0.0.1", now);
		cr_assert_eq(d, want, "failure %d: delay %llu, want %llu", 5 + i,
			     (unsigned long long)d, (unsigned long long)want);
		cr_assert_eq(wait_of(lk, "alice", "10.0.0.1", now), want);
		cr_assert_eq(wait_of(lk, "alice", NULL, now), want, "the user alone is blocked");
		cr_assert_eq(wait_of(lk, NULL, "10.0.0.1", now), want, "the source alone too");
		cr_assert_eq(wait_of(lk, "alice", "10.0.0.1", now + want - 1), 1);
		cr_assert_eq(wait_of(lk, "bob", "10.0.0.2", now), 0, "others are not");
		now += want;
		cr_assert_eq(wait_of(lk, "alice", "10.0.0.1", now), 0);
		want = want * 2 > 900 ? 900 : want * 2;
	}
	pg_lockout_del(lk);
}

Test(lockout, forgotten_after_quiet_period)
{
	struct pg_lockout *lk = pg_lockout_new(NULL);
	for (int i = 0; i < 8; i++)
		pg_lockout_record_failure(lk, "alice", "10.0.0.1", t0);
	cr_assert_eq(wait_of(lk, "alice", NULL, t0), 8);
	cr_assert_eq(wait_of(lk, "alice", NULL, t0 + 3599), 0);
	/* Still remembered just before forget_after: the next failure blocks at once. */
	cr_assert_eq(pg_lockout_record_failure(lk, "alice", NULL, t0 + 3599), 16);
	/* An hour of quiet: counting starts again. */
	cr_assert_eq(pg_lockout_record_failure(lk, "alice", NULL, t0 + 3599 + 3600), 0);
	/* A clock that steps back does not shorten a delay. */
	for (int i = 0; i < 6; i++)
		pg_lockout_record_failure(lk, NULL, "10.0.0.9", t0);
	cr_assert_eq(pg_lockout_record_failure(lk, NULL, "10.0.0.9", t0 - 100), 4);
	cr_assert_eq(wait_of(lk, NULL, "10.0.0.9", t0), 4);
	pg_lockout_del(lk);
}

Test(lockout, success_clears_the_user_only)
{
	struct pg_lockout *lk = pg_lockout_new(NULL);
	for (int i = 0; i < 6; i++)
		pg_lockout_record_failure(lk, "alice", "10.0.0.1", t0);
	cr_assert_eq(wait_of(lk, "alice", NULL, t0), 2);
	pg_lockout_record_success(lk, "alice");
	cr_assert_eq(wait_of(lk, "alice", NULL, t0), 0);
	cr_assert_eq(pg_lockout_users(lk), 0);
	/* The source that guessed keeps its record. */
	cr_assert_eq(wait_of(lk, "alice", "10.0.0.1", t0), 2);
	cr_assert_eq(pg_lockout_addrs(lk), 1);
	/* A user spread over many sources is still held back by the user counter. */
	for (int i = 0; i < 7; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "192.0.2.%d", i);
		pg_lockout_record_failure(lk, "bob", addr, t0);
	}
	cr_assert_eq(wait_of(lk, "bob", "192.0.2.200", t0), 4);
	pg_lockout_record_success(lk, "nobody");
	pg_lockout_record_success(lk, NULL);
	pg_lockout_del(lk);
}

Test(lockout, bounded_by_lru_with_100k_sources)
{
	struct pg_lockout_config cfg;
	pg_lockout_config_default(&cfg);
	struct pg_lockout *lk = pg_lockout_new(&cfg);
	/* A real attacker blocked long ago... */
	for (int i = 0; i < 10; i++)
		pg_lockout_record_failure(lk, NULL, "198.51.100.7", t0);
	cr_assert_eq(wait_of(lk, NULL, "198.51.100.7", t0), 32);
	/* ...then 100,000 spoofed sources and made-up names, one failure each. */
	for (int i = 0; i < 100000; i++) {
		char addr[48], user[32];
		snprintf(addr, sizeof(addr), "2001:db8:%x:%x::", i >> 16, i & 0xffff);
		snprintf(user, sizeof(user), "guess%d", i);
		pg_lockout_record_failure(lk, user, addr, t0 + 1);
		cr_assert_leq(pg_lockout_addrs(lk), cfg.capacity);
		cr_assert_leq(pg_lockout_users(lk), cfg.capacity);
	}
	cr_assert_eq(pg_lockout_addrs(lk), cfg.capacity);
	cr_assert_eq(pg_lockout_users(lk), cfg.capacity);
	/* The least recently failed were evicted; the newest are still tracked. */
	cr_assert_eq(wait_of(lk, NULL, "198.51.100.7", t0), 0);
	for (int f = 0; f < 4; f++)
		pg_lockout_record_failure(lk, "guess99999", NULL, t0 + 1);
	cr_assert_eq(wait_of(lk, "guess99999", NULL, t0 + 1), 1, "its 5th failure blocks");
	cr_assert_eq(wait_of(lk, "guess0", NULL, t0 + 1), 0);
	pg_lockout_del(lk);
}

Test(lockout, lru_keeps_recent_failures)
{
	struct pg_lockout_config cfg;
	pg_lockout_config_default(&cfg);
	cfg.capacity = 16;
	struct pg_lockout *lk = pg_lockout_new(&cfg);
	for (int i = 0; i < 5; i++)
		pg_lockout_record_failure(lk, NULL, "old", t0);
	for (int i = 0; i < 5; i++)
		pg_lockout_record_failure(lk, NULL, "busy", t0);
	/* 14 other sources fill the table; "old" stays as long as it is not the least
	 * recent, and "busy" keeps failing so it keeps its place. */
	for (int i = 0; i < 14; i++) {
		char a[16];
		snprintf(a, sizeof(a), "s%d", i);
		pg_lockout_record_failure(lk, NULL, a, t0);
		if (i == 0)
			pg_lockout_record_failure(lk, NULL, "busy", t0);
	}
	cr_assert_eq(pg_lockout_addrs(lk), 16);
	cr_assert_eq(wait_of(lk, NULL, "old", t0), 1);
	pg_lockout_record_failure(lk, NULL, "new", t0);
	cr_assert_eq(wait_of(lk, NULL, "old", t0), 0, "the least recent is evicted");
	cr_assert_eq(wait_of(lk, NULL, "busy", t0), 2);
	cr_assert_eq(pg_lockout_addrs(lk), 16);
	pg_lockout_del(lk);
}

Test(lockout, long_keys_and_config)
{
	struct pg_lockout *lk = pg_lockout_new(NULL);
	char a[200], b[200];
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[150] = 'y'; /* beyond the kept prefix: the same counter */
	for (int i = 0; i < 5; i++)
		pg_lockout_record_failure(lk, a, NULL, t0);
	cr_assert_eq(wait_of(lk, b, NULL, t0), 1);
	pg_lockout_del(lk);

	struct pg_lockout_config c;
	pg_lockout_config_default(&c);
	c.capacity = 8;
	cr_assert_null(pg_lockout_new(&c));
	pg_lockout_config_default(&c);
	c.free_failures = 0;
	cr_assert_null(pg_lockout_new(&c));
	pg_lockout_config_default(&c);
	c.forget_after = 60;
	cr_assert_null(pg_lockout_new(&c));
	pg_lockout_config_default(&c);
	c.base_delay = 1000;
	cr_assert_null(pg_lockout_new(&c));
	pg_lockout_del(NULL);
}
