/* The session broker (broker.h) and its pool mode: every relay computes the
 * same order of hosts for a user from the user's name and the hosts' addresses
 * alone, so relays behind a load balancer agree without talking to each other;
 * health checks on a libuv timer take hosts out and bring them back. The spawn
 * mode is relay/spawn.c's. */
#include "relay/broker.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/audit.h"
#include "relay/log.h"
#include "relay/relay.h"
#include "relay/spawn.h"
#include "relay/viewer_impl.h"

#define NO_HOST "no browser host available"

struct pool_host {
	struct pg_broker *b;
	char address[300];
	char host[256];
	int port;
	bool up;
	int fails, oks; /* consecutive results */
	char why[128];	/* the last failure */
	/* The check in flight. */
	bool checking;
	bool tcp_open;
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_timer_t timeout;
	uv_getaddrinfo_t gai;
	bool gai_busy;
	uint8_t banner[12];
	size_t got;
};

struct assignment {
	char user[65];
	char address[300];
};

struct pg_broker {
	struct pg_relay *relay;
	bool spawn; /* else pool */
	/* pool */
	struct pool_host *hosts;
	int nhosts;
	int max_per_host;
	int check_interval_ms, check_timeout_ms, fail_after, recover_after;
	uv_timer_t check_timer;
	bool timer_open;
	struct assignment *assigned;
	int nassigned, cap;
	struct pg_spawner *spawner; /* mode spawn */
	bool stopped;
};

uint64_t pg_broker_score(const char *user, const char *address)
{
	uint8_t md[32];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t v = 0;
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, user, strlen(user) + 1) == 1 && /* with its NUL */
	    EVP_DigestUpdate(ctx, address, strlen(address)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &n) == 1) {
		for (int i = 0; i < 8; i++)
			v = v << 8 | md[i];
	}
	EVP_MD_CTX_free(ctx);
	return v;
}

/* ---- pool: health checks ---- */

static void check_start(struct pool_host *h);

static void on_check_closed(uv_handle_t *hd)
{
	struct pool_host *h = hd->data;
	h->tcp_open = false;
}

static void check_done(struct pool_host *h, bool ok, const char *why)
{
	struct pg_broker *b = h->b;
	if (!h->checking)
		return;
	h->checking = false;
	uv_timer_stop(&h->timeout);
	if (h->tcp_open && !uv_is_closing((uv_handle_t *)&h->tcp))
		uv_close((uv_handle_t *)&h->tcp, on_check_closed);
	if (ok) {
		h->fails = 0;
		if (!h->up && ++h->oks >= b->recover_after) {
			h->up = true;
			h->oks = 0;
			pg_warn("broker: browser host %s answers again; back in the pool",
				h->address);
			pg_audit(b->relay, "host-up", PG_AUDIT_S("browser_host", h->address));
		}
		return;
	}
	h->oks = 0;
	snprintf(h->why, sizeof(h->why), "%s", why);
	if (h->up && ++h->fails >= b->fail_after) {
		h->up = false;
		h->fails = 0;
		pg_warn("broker: browser host %s is down (%s); out of the pool until it answers "
			"again",
			h->address, why);
		pg_audit(b->relay, "host-down", PG_AUDIT_S("browser_host", h->address),
			 PG_AUDIT_S("reason", why), PG_AUDIT_I("failures", b->fail_after));
	}
}

static void on_check_timeout(uv_timer_t *t)
{
	struct pool_host *h = t->data;
	if (h->gai_busy)
		uv_cancel((uv_req_t *)&h->gai);
	check_done(h, false, "no RFB ProtocolVersion within check_timeout");
}

static void on_banner_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct pool_host *h = hd->data;
	(void)suggested;
	*buf = uv_buf_init((char *)h->banner + h->got, (unsigned)(sizeof(h->banner) - h->got));
}

static void on_banner(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct pool_host *h = s->data;
	(void)buf;
	if (n < 0) {
		check_done(h, false, "closed before its RFB ProtocolVersion");
		return;
	}
	h->got += (size_t)n;
	if (h->got < sizeof(h->banner))
		return;
	/* Compared against a fixed pattern, never parsed further nor passed on. */
	const uint8_t *p = h->banner;
	bool ok = !memcmp(p, "RFB 003.", 8) && isdigit(p[8]) && isdigit(p[9]) && isdigit(p[10]) &&
		  p[11] == '\n';
	check_done(h, ok, ok ? NULL : "answered, but not with an RFB 3.x ProtocolVersion");
}

static void on_check_connect(uv_connect_t *c, int status)
{
	struct pool_host *h = c->data;
	if (!h->checking)
		return;
	if (status < 0) {
		char why[128];
		snprintf(why, sizeof(why), "connect: %s", uv_strerror(status));
		check_done(h, false, why);
		return;
	}
	uv_read_start((uv_stream_t *)&h->tcp, on_banner_alloc, on_banner);
}

static void check_connect(struct pool_host *h, const struct sockaddr *sa)
{
	h->conn.data = h;
	if (uv_tcp_init(h->b->relay->loop, &h->tcp) < 0) {
		check_done(h, false, "cannot make a socket");
		return;
	}
	h->tcp.data = h;
	h->tcp_open = true;
	int rc = uv_tcp_connect(&h->conn, &h->tcp, sa, on_check_connect);
	if (rc < 0) {
		char why[128];
		snprintf(why, sizeof(why), "connect: %s", uv_strerror(rc));
		check_done(h, false, why);
	}
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct pool_host *h = req->data;
	h->gai_busy = false;
	if (status < 0 || !res) {
		char why[128];
		snprintf(why, sizeof(why), "name lookup: %s", uv_strerror(status));
		check_done(h, false, why);
	} else if (h->checking) {
		check_connect(h, res->ai_addr);
	}
	uv_freeaddrinfo(res);
}

static void check_start(struct pool_host *h)
{
	struct sockaddr_storage ss;
	if (h->checking || h->tcp_open || h->gai_busy || h->b->stopped)
		return;
	h->checking = true;
	h->got = 0;
	uv_timer_start(&h->timeout, on_check_timeout, (uint64_t)h->b->check_timeout_ms, 0);
	if (uv_ip4_addr(h->host, h->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(h->host, h->port, (struct sockaddr_in6 *)&ss) == 0) {
		check_connect(h, (struct sockaddr *)&ss);
		return;
	}
	char port[8];
	snprintf(port, sizeof(port), "%d", h->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	h->gai.data = h;
	if (uv_getaddrinfo(h->b->relay->loop, &h->gai, on_resolved, h->host, port, &hints) == 0)
		h->gai_busy = true;
	else
		check_done(h, false, "cannot look up its name");
}

static void on_check_tick(uv_timer_t *t)
{
	struct pg_broker *b = t->data;
	for (int i = 0; i < b->nhosts; i++)
		check_start(&b->hosts[i]);
}

/* ---- pool: choosing ---- */

static int load_of(const struct pg_broker *b, const char *address)
{
	int n = 0;
	for (int i = 0; i < b->nassigned; i++)
		n += !strcmp(b->assigned[i].address, address);
	return n;
}

struct cand {
	struct pool_host *h;
	uint64_t score;
	int load;
};

static int cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *c = y;
	if (a->score != c->score)
		return a->score > c->score ? -1 : 1;
	if (a->load != c->load)
		return a->load < c->load ? -1 : 1;
	return strcmp(a->h->address, c->h->address);
}

static void forget_user(struct pg_broker *b, const char *user)
{
	for (int i = 0; i < b->nassigned; i++) {
		if (!strcmp(b->assigned[i].user, user)) {
			b->assigned[i--] = b->assigned[--b->nassigned];
		}
	}
}

static int pool_route(struct pg_broker *b, struct pg_viewer *v, char *out, size_t size,
		      const char **told)
{
	struct pg_relay *relay = b->relay;
	const char *moved_from = NULL;
	for (int i = 0; i < b->nassigned; i++) {
		struct assignment *a = &b->assigned[i];
		if (strcmp(a->user, v->user))
			continue;
		for (int k = 0; k < b->nhosts; k++) {
			if (strcmp(b->hosts[k].address, a->address))
				continue;
			if (b->hosts[k].up) {
				snprintf(out, size, "%s", a->address);
				pg_audit(relay, "host-assign", PG_AUDIT_S("user", v->user),
					 PG_AUDIT_S("source", v->addr),
					 PG_AUDIT_S("browser_host", a->address),
					 PG_AUDIT_S("mode", "pool"),
					 PG_AUDIT_S("reason", "the user's session on this relay"));
				return 1;
			}
			moved_from = b->hosts[k].address;
		}
	}
	forget_user(b, v->user);
	struct cand *c = calloc((size_t)b->nhosts, sizeof(*c));
	if (!c) {
		*told = NO_HOST;
		return -1;
	}
	for (int i = 0; i < b->nhosts; i++) {
		c[i].h = &b->hosts[i];
		c[i].score = pg_broker_score(v->user, b->hosts[i].address);
		c[i].load = load_of(b, b->hosts[i].address);
	}
	qsort(c, (size_t)b->nhosts, sizeof(*c), cand_cmp);
	char skipped[256] = "";
	size_t o = 0;
	int pick = -1;
	for (int i = 0; i < b->nhosts; i++) {
		bool full = c[i].load >= b->max_per_host;
		if (c[i].h->up && !full) {
			pick = i;
			break;
		}
		if (o < sizeof(skipped))
			o += (size_t)snprintf(skipped + o, sizeof(skipped) - o, "%s%s %s",
					      o ? ", " : "", c[i].h->address,
					      c[i].h->up ? "full" : "down");
	}
	if (pick < 0) {
		free(c);
		pg_warn("viewer %llu %s: no pool host for '%s': %s", (unsigned long long)v->id,
			v->peer, v->user, skipped);
		pg_audit(relay, "session-refused", PG_AUDIT_S("user", v->user),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("reason", "every pool host is down or full"),
			 PG_AUDIT_S("skipped", skipped));
		*told = NO_HOST;
		return -1;
	}
	const char *address = c[pick].h->address;
	if (b->nassigned == b->cap) {
		int cap = b->cap ? b->cap * 2 : 16;
		struct assignment *a = realloc(b->assigned, sizeof(*a) * (size_t)cap);
		if (!a) {
			free(c);
			*told = NO_HOST;
			return -1;
		}
		b->assigned = a;
		b->cap = cap;
	}
	struct assignment *a = &b->assigned[b->nassigned++];
	snprintf(a->user, sizeof(a->user), "%s", v->user);
	snprintf(a->address, sizeof(a->address), "%s", address);
	snprintf(out, size, "%s", address);
	if (pick || moved_from)
		pg_info("viewer %llu %s: '%s' gets pool host %s (choice %d; skipped: %s)",
			(unsigned long long)v->id, v->peer, v->user, address, pick + 1,
			*skipped ? skipped : "none");
	pg_audit(relay, "host-assign", PG_AUDIT_S("user", v->user), PG_AUDIT_S("source", v->addr),
		 PG_AUDIT_S("browser_host", address), PG_AUDIT_S("mode", "pool"),
		 PG_AUDIT_I("choice", pick + 1), PG_AUDIT_S("skipped", *skipped ? skipped : NULL),
		 PG_AUDIT_S("moved_from", moved_from));
	free(c);
	return 1;
}
/* ---- the API ---- */

int pg_broker_route(struct pg_broker *b, struct pg_viewer *v, char *out, size_t size,
		    const char **told)
{
	if (b->stopped) {
		*told = NO_HOST;
		return -1;
	}
	return b->spawn ? pg_spawner_route(b->spawner, v, out, size, told)
			: pool_route(b, v, out, size, told);
}

void pg_broker_session_end(struct pg_broker *b, const char *address)
{
	if (!b)
		return;
	if (b->spawn) {
		pg_spawner_session_end(b->spawner, address);
		return;
	}
	for (int i = 0; i < b->nassigned; i++)
		if (!strcmp(b->assigned[i].address, address))
			b->assigned[i--] = b->assigned[--b->nassigned];
}

uint64_t pg_broker_wait_ms(const struct pg_broker *b)
{
	return b->spawn ? pg_spawner_wait_ms(b->spawner) : 0;
}

const struct pg_upstream_login *pg_broker_login(const struct pg_broker *b, const char *address)
{
	return b && b->spawn ? pg_spawner_login(b->spawner, address) : NULL;
}

struct pg_broker *pg_broker_new(struct pg_relay *relay, const struct pg_config *cfg, char *err,
				size_t size)
{
	if (!strcmp(cfg->broker_mode, "static"))
		return NULL;
	struct pg_broker *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, size, "out of memory");
		return NULL;
	}
	b->relay = relay;
	b->spawn = !strcmp(cfg->broker_mode, "spawn");
	if (b->spawn) {
		b->spawner = pg_spawner_new(relay, cfg);
		if (!b->spawner) {
			free(b);
			snprintf(err, size, "out of memory");
			return NULL;
		}
		pg_info("broker: mode spawn, hook %s", cfg->broker_spawn_command);
		return b;
	}
	b->max_per_host = cfg->broker_max_sessions_per_host;
	b->check_interval_ms = cfg->broker_check_interval * 1000;
	b->check_timeout_ms = cfg->broker_check_timeout;
	b->fail_after = cfg->broker_fail_after;
	b->recover_after = cfg->broker_recover_after;
	b->hosts = calloc(PG_CONFIG_MAX_HOSTS, sizeof(*b->hosts));
	if (!b->hosts) {
		free(b);
		snprintf(err, size, "out of memory");
		return NULL;
	}
	for (const char *p = cfg->broker_hosts; *p && b->nhosts < PG_CONFIG_MAX_HOSTS;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (!len)
			break;
		struct pool_host *h = &b->hosts[b->nhosts];
		const char *why;
		snprintf(h->address, sizeof(h->address), "%.*s", (int)len, p);
		p += len;
		if (pg_config_parse_hostport(h->address, h->host, sizeof(h->host), &h->port, &why) <
		    0) {
			snprintf(err, size, "[broker] hosts: '%s': %s", h->address, why);
			pg_broker_del(b);
			return NULL;
		}
		bool dup = false;
		for (int i = 0; i < b->nhosts; i++)
			dup |= !strcmp(b->hosts[i].address, h->address);
		if (dup)
			continue;
		h->b = b;
		h->up = true; /* until checks say otherwise */
		b->nhosts++;
	}
	for (int i = 0; i < b->nhosts; i++) {
		uv_timer_init(relay->loop, &b->hosts[i].timeout);
		b->hosts[i].timeout.data = &b->hosts[i];
	}
	uv_timer_init(relay->loop, &b->check_timer);
	b->check_timer.data = b;
	b->timer_open = true;
	uv_timer_start(&b->check_timer, on_check_tick, 0, (uint64_t)b->check_interval_ms);
	pg_info("broker: mode pool, %d hosts, at most %d users each, checked every %d s", b->nhosts,
		b->max_per_host, b->check_interval_ms / 1000);
	return b;
}

void pg_broker_stop(struct pg_broker *b)
{
	if (!b || b->stopped)
		return;
	b->stopped = true;
	if (b->timer_open)
		uv_close((uv_handle_t *)&b->check_timer, NULL);
	for (int i = 0; i < b->nhosts; i++) {
		struct pool_host *h = &b->hosts[i];
		if (h->gai_busy)
			uv_cancel((uv_req_t *)&h->gai);
		h->checking = false;
		if (h->tcp_open && !uv_is_closing((uv_handle_t *)&h->tcp))
			uv_close((uv_handle_t *)&h->tcp, on_check_closed);
		uv_close((uv_handle_t *)&h->timeout, NULL);
	}
}

void pg_broker_del(struct pg_broker *b)
{
	if (!b)
		return;
	pg_spawner_del(b->spawner);
	free(b->hosts);
	free(b->assigned);
	free(b);
}
