#include "lockout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define NONE	     (-1)
#define MIN_CAPACITY 16
#define MAX_CAPACITY (1u << 20)

struct entry {
	char key[PG_LOCKOUT_MAX_KEY + 1];
	uint32_t failures;
	uint64_t last_failure;
	int32_t hnext;	    /* next in its hash bucket, or in the free list */
	int32_t prev, next; /* LRU list: head is the most recent failure */
};

struct table {
	struct entry *e;
	int32_t *buckets;
	uint32_t mask;
	uint32_t capacity;
	int32_t head, tail, free;
	size_t used;
};

struct pg_lockout {
	struct pg_lockout_config cfg;
	uint64_t seed;
	struct table users, addrs;
};

void pg_lockout_config_default(struct pg_lockout_config *c)
{
	c->free_failures = 5;
	c->base_delay = 1;
	c->max_delay = 900;
	c->forget_after = 3600;
	c->capacity = 4096;
}

/* FNV-1a with a per-tracker random seed: a flood of names chosen to collide would
 * have to guess it. Chains are bounded by capacity anyway. */
static uint32_t hash(uint64_t seed, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ seed;
	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ull;
	}
	return (uint32_t)(h ^ h >> 32);
}

static int table_init(struct table *t, uint32_t capacity)
{
	uint32_t nb = 1;
	while (nb < capacity * 2)
		nb <<= 1;
	t->e = calloc(capacity, sizeof(*t->e));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->e || !t->buckets)
		return -ENOMEM;
	for (uint32_t i = 0; i < nb; i++)
		t->buckets[i] = NONE;
	for (uint32_t i = 0; i < capacity; i++)
		t->e[i].hnext = i + 1 < capacity ? (int32_t)(i + 1) : NONE;
	t->mask = nb - 1;
	t->capacity = capacity;
	t->head = t->tail = NONE;
	t->free = 0;
	t->used = 0;
	return 0;
}

static void copy_key(char out[PG_LOCKOUT_MAX_KEY + 1], const char *key)
{
	size_t n = strnlen(key, PG_LOCKOUT_MAX_KEY);
	memcpy(out, key, n);
	out[n] = '\0';
}

static int32_t lookup(const struct pg_lockout *lk, const struct table *t, const char *key)
{
	for (int32_t i = t->buckets[hash(lk->seed, key) & t->mask]; i != NONE; i = t->e[i].hnext)
		if (strcmp(t->e[i].key, key) == 0)
			return i;
	return NONE;
}

static void lru_unlink(struct table *t, int32_t i)
{
	struct entry *e = &t->e[i];
	if (e->prev != NONE)
		t->e[e->prev].next = e->next;
	else
		t->head = e->next;
	if (e->next != NONE)
		t->e[e->next].prev = e->prev;
	else
		t->tail = e->prev;
}

static void lru_push_head(struct table *t, int32_t i)
{
	t->e[i].prev = NONE;
	t->e[i].next = t->head;
	if (t->head != NONE)
		t->e[t->head].prev = i;
	t->head = i;
	if (t->tail == NONE)
		t->tail = i;
}

static void remove_entry(const struct pg_lockout *lk, struct table *t, int32_t i)
{
	int32_t *p = &t->buckets[hash(lk->seed, t->e[i].key) & t->mask];
	while (*p != i)
		p = &t->e[*p].hnext;
	*p = t->e[i].hnext;
	lru_unlink(t, i);
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->e[i].hnext = t->free;
	t->free = i;
	t->used--;
}

/* The entry for key, created (evicting the least recently failed entry when the
 * table is full) and moved to the head of the LRU list. */
static int32_t touch(const struct pg_lockout *lk, struct table *t, const char *key)
{
	int32_t i = lookup(lk, t, key);
	if (i != NONE) {
		lru_unlink(t, i);
		lru_push_head(t, i);
		return i;
	}
	if (t->free == NONE)
		remove_entry(lk, t, t->tail);
	i = t->free;
	t->free = t->e[i].hnext;
	struct entry *e = &t->e[i];
	memset(e, 0, sizeof(*e));
	strcpy(e->key, key);
	uint32_t b = hash(lk->seed, key) & t->mask;
	e->hnext = t->buckets[b];
	t->buckets[b] = i;
	lru_push_head(t, i);
	t->used++;
	return i;
}

static bool forgotten(const struct pg_lockout *lk, const struct entry *e, uint64_t now)
{
	return now >= e->last_failure && now - e->last_failure >= lk->cfg.forget_after;
}

static uint64_t delay_for(const struct pg_lockout *lk, uint32_t failures)
{
	if (failures < lk->cfg.free_failures)
		return 0;
	uint32_t doublings = failures - lk->cfg.free_failures;
	uint64_t d = lk->cfg.base_delay;
	while (doublings-- > 0 && d < lk->cfg.max_delay)
		d *= 2;
	return d < lk->cfg.max_delay ? d : lk->cfg.max_delay;
}

/* Seconds key must still wait at now. */
static uint64_t wait_for(const struct pg_lockout *lk, const struct table *t, const char *key,
			 uint64_t now)
{
	char k[PG_LOCKOUT_MAX_KEY + 1];
	if (!key)
		return 0;
	copy_key(k, key);
	int32_t i = lookup(lk, t, k);
	if (i == NONE || forgotten(lk, &t->e[i], now))
		return 0;
	uint64_t until = t->e[i].last_failure + delay_for(lk, t->e[i].failures);
	return until > now ? until - now : 0;
}

static uint64_t fail_one(struct pg_lockout *lk, struct table *t, const char *key, uint64_t now)
{
	char k[PG_LOCKOUT_MAX_KEY + 1];
	if (!key)
		return 0;
	copy_key(k, key);
	struct entry *e = &t->e[touch(lk, t, k)];
	if (forgotten(lk, e, now))
		e->failures = 0;
	if (e->failures < UINT32_MAX)
		e->failures++;
	/* A clock that steps back must not shorten a delay already imposed. */
	if (now > e->last_failure)
		e->last_failure = now;
	return delay_for(lk, e->failures);
}

struct pg_lockout *pg_lockout_new(const struct pg_lockout_config *cfg)
{
	struct pg_lockout_config def;
	if (!cfg) {
		pg_lockout_config_default(&def);
		cfg = &def;
	}
	if (cfg->free_failures == 0 || cfg->base_delay == 0 || cfg->base_delay > cfg->max_delay ||
	    cfg->forget_after < cfg->max_delay || cfg->capacity < MIN_CAPACITY ||
	    cfg->capacity > MAX_CAPACITY)
		return NULL;
	struct pg_lockout *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return NULL;
	lk->cfg = *cfg;
	if (RAND_bytes((unsigned char *)&lk->seed, sizeof(lk->seed)) != 1)
		lk->seed = (uint64_t)(uintptr_t)lk;
	if (table_init(&lk->users, cfg->capacity) < 0 ||
	    table_init(&lk->addrs, cfg->capacity) < 0) {
		pg_lockout_del(lk);
		return NULL;
	}
	return lk;
}

void pg_lockout_del(struct pg_lockout *lk)
{
	if (!lk)
		return;
	free(lk->users.e);
	free(lk->users.buckets);
	free(lk->addrs.e);
	free(lk->addrs.buckets);
	free(lk);
}

int pg_lockout_check(const struct pg_lockout *lk, const char *user, const char *addr, uint64_t now,
		     uint64_t *wait)
{
	uint64_t wu = wait_for(lk, &lk->users, user, now);
	uint64_t wa = wait_for(lk, &lk->addrs, addr, now);
	uint64_t w = wu > wa ? wu : wa;
	if (wait)
		*wait = w;
	return w ? -EAGAIN : 0;
}

uint64_t pg_lockout_record_failure(struct pg_lockout *lk, const char *user, const char *addr,
				   uint64_t now)
{
	uint64_t du = fail_one(lk, &lk->users, user, now);
	uint64_t da = fail_one(lk, &lk->addrs, addr, now);
	return du > da ? du : da;
}

void pg_lockout_record_success(struct pg_lockout *lk, const char *user)
{
	char k[PG_LOCKOUT_MAX_KEY + 1];
	if (!lk || !user)
		return;
	copy_key(k, user);
	int32_t i = lookup(lk, &lk->users, k);
	if (i != NONE)
		remove_entry(lk, &lk->users, i);
}

size_t pg_lockout_users(const struct pg_lockout *lk)
{
	return lk->users.used;
}

size_t pg_lockout_addrs(const struct pg_lockout *lk)
{
	return lk->addrs.used;
}
