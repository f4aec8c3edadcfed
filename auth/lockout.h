/* Brute-force bookkeeping: failure counters per user name and per source address,
 * with exponential backoff. Pure: no clock (the caller passes unix time in seconds),
 * no I/O, no logging. Memory is fixed at creation: each of the two tables holds at
 * most capacity entries and evicts the least recently failed one when full, so a
 * flood of spoofed sources or made-up user names costs a bounded amount. One thread.
 *
 * Policy: the first free_failures failures of a key cost nothing; the failure that
 * reaches free_failures blocks the key for base_delay seconds, and each further one
 * doubles it, up to max_delay. A key with no failure for forget_after seconds starts
 * again from zero. A success clears the user's counter (not the address's, so a
 * source that knows one account cannot wash out its guesses at others). */
#ifndef PG_AUTH_LOCKOUT_H
#define PG_AUTH_LOCKOUT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a key kept; longer user names or addresses are cut, so all over-long
 * names share counters with their prefix. Callers pass IPv6 sources as their /64 so
 * one host cannot rotate through addresses. */
#define PG_LOCKOUT_MAX_KEY 63

struct pg_lockout_config {
	unsigned free_failures; /* failures before the first delay (default 5) */
	unsigned base_delay;	/* seconds of the first delay (default 1) */
	unsigned max_delay;	/* cap on the delay, seconds (default 900, 15 min) */
	unsigned forget_after;	/* seconds without failure that reset a key (default 3600) */
	unsigned capacity;	/* entries per table, 16..1048576 (default 4096) */
};

struct pg_lockout;

/* Fill c with the defaults above. */
void pg_lockout_config_default(struct pg_lockout_config *c);

/* A new tracker; cfg NULL means the defaults. NULL when out of memory or cfg is
 * invalid (a zero delay or free_failures, base_delay > max_delay, forget_after <
 * max_delay, capacity out of range). */
struct pg_lockout *pg_lockout_new(const struct pg_lockout_config *cfg);
void pg_lockout_del(struct pg_lockout *lk);

/* May user, from addr, try now? Either may be NULL (not checked). Returns 0 when
 * allowed, or -EAGAIN with *wait set to the seconds until it may (the longer of the
 * user's and the address's). A refused attempt should not be verified, nor counted. */
int pg_lockout_check(const struct pg_lockout *lk, const char *user, const char *addr, uint64_t now,
		     uint64_t *wait);

/* Count a failed attempt of user from addr (either may be NULL). Returns the delay in
 * seconds this failure imposes (the longer of the two), 0 when none: a caller audits
 * a lockout when it is non-zero. */
uint64_t pg_lockout_record_failure(struct pg_lockout *lk, const char *user, const char *addr,
				   uint64_t now);

/* A successful login of user: forget the user's failures. */
void pg_lockout_record_success(struct pg_lockout *lk, const char *user);

/* Entries in use in the user and address tables (each at most capacity). */
size_t pg_lockout_users(const struct pg_lockout *lk);
size_t pg_lockout_addrs(const struct pg_lockout *lk);

#endif
