/* Helpers for the evil-viewer tests; see evilviewer_util.h. */
#include "evilviewer_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "policy_util.h"

void ev_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void ev_put32(uint8_t *p, uint32_t v)
{
	ev_put16(p, v >> 16);
	ev_put16(p + 2, v & 0xffff);
}

/* Moves a 48x32 square around the picture: damage every 10 ms, so the healthy viewer
 * always has an update to ask for and its rate is the relay's to give. */
static void *churn_main(void *arg)
{
	struct ev_arena *a = arg;
	unsigned seed = 100;
	int x = 0, y = 0;

	while (!a->churn_stop) {
		host_change_region(a->host, x, y, 48, 32, seed++);
		x = (x + 37) % (a->w - 48);
		y = (y + 23) % (a->h - 32);
		it_sleep_ms(10);
	}
	return NULL;
}

const char *ev_arena_start(struct ev_arena *a, const struct ev_arena_opts *o)
{
	static const struct it_viewer_opts vo = {.bpp = 32, .encodings = "raw", .compress = -1};
	struct rlimit saved, low;
	bool lowered = false;
	const char *err;

	memset(a, 0, sizeof(*a));
	a->w = o->w;
	a->h = o->h;
	if (!au_env_init(&a->env, false))
		return "cannot make the scratch folder";
	a->host = host_start(a->w, a->h, NULL);
	if (!a->host)
		return "host did not start";
	if (!pu_write_config(&a->env, host_port(a->host), o->relay_extra, o->sections))
		return "cannot write the config";
	if (o->soft_nofile > 0 && getrlimit(RLIMIT_NOFILE, &saved) == 0) {
		low = saved;
		low.rlim_cur = (rlim_t)o->soft_nofile;
		lowered = setrlimit(RLIMIT_NOFILE, &low) == 0;
	}
	a->relay = pu_relay_start(&a->env, host_port(a->host));
	if (lowered)
		setrlimit(RLIMIT_NOFILE, &saved);
	if (!a->relay)
		return "relay did not start";
	a->viewer = viewer_start(relay_port(a->relay), &vo);
	if (!a->viewer) {
		relay_dump_log(a->relay, 4000);
		return "healthy viewer did not connect";
	}
	err = viewer_wait_match(a->viewer, a->host, 15000, 0);
	if (err) {
		relay_dump_log(a->relay, 4000);
		return err;
	}
	a->rss0 = it_rss_kib(relay_pid(a->relay));
	a->churn_stop = false;
	if (pthread_create(&a->churn, NULL, churn_main, a) != 0)
		return "cannot start the churn thread";
	a->churning = true;
	return NULL;
}

void ev_arena_stop(struct ev_arena *a)
{
	if (a->churning) {
		a->churn_stop = true;
		pthread_join(a->churn, NULL);
		a->churning = false;
	}
	viewer_stop(a->viewer);
	a->viewer = NULL;
	relay_stop(a->relay);
	a->relay = NULL;
	host_free(a->host);
	a->host = NULL;
	au_env_free(&a->env);
}

struct ev_mark ev_mark(struct ev_arena *a)
{
	return (struct ev_mark){viewer_updates(a->viewer), it_now_ms()};
}

double ev_rate_since(struct ev_arena *a, struct ev_mark m)
{
	struct ev_mark now = ev_mark(a);
	int64_t ms = now.ms - m.ms;

	return ms > 0 ? (now.updates - m.updates) * 1000.0 / (double)ms : 0;
}

double ev_baseline(struct ev_arena *a, int ms)
{
	struct ev_mark m = ev_mark(a);

	it_sleep_ms(ms);
	return ev_rate_since(a, m);
}

long ev_rss_growth(struct ev_arena *a)
{
	long now = it_rss_kib(relay_pid(a->relay));

	return now < 0 || a->rss0 <= 0 ? LONG_MIN : now - a->rss0;
}

bool ev_relay_nofile(struct ev_arena *a, long long *soft, long long *hard)
{
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)relay_pid(a->relay));
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Max open files", 14) == 0) {
			found = sscanf(line + 14, "%lld %lld", soft, hard) == 2;
			break;
		}
	}
	fclose(f);
	return found;
}

int ev_connect_from(const char *src, int port, bool nonblock)
{
	struct sockaddr_in sa = {.sin_family = AF_INET}, me = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src) {
		inet_pton(AF_INET, src, &me.sin_addr);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
			close(fd);
			return -1;
		}
	}
	if (!nonblock) {
		struct timeval tv = {5, 0};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    !(nonblock && errno == EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

bool ev_peer_closed(int fd)
{
	char b[4096];

	for (;;) {
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == 0)
			return true;
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		       errno != ENOTCONN && errno != EINPROGRESS;
	}
}

ssize_t ev_send_some(int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return n;
}

int ev_raw_viewer(struct ev_arena *a, int rcvbuf, int *port)
{
	int w, h, fd = raw_client_connect(relay_port(a->relay), 8, rcvbuf, &w, &h);

	if (fd >= 0)
		*port = raw_client_local_port(fd);
	return fd;
}

/* The sum of "count" over preauth-summary records for event. */
static long summarised(const char *path, const char *event)
{
	char needle[96], line[4096];
	long long n;
	long sum = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	snprintf(needle, sizeof(needle), "\"suppressed_event\":\"%s\"", event);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\"event\":\"preauth-summary\"") && strstr(line, needle) &&
		    pu_field_int(line, "count", &n))
			sum += (long)n;
	}
	fclose(f);
	return sum;
}

long ev_audit_total(struct ev_arena *a, const char *event, const char *needle)
{
	char ev[96];

	snprintf(ev, sizeof(ev), "\"event\":\"%s\"", event);
	return au_audit_count(a->env.audit, ev, needle ? needle : ev, NULL) +
	       summarised(a->env.audit, event);
}

long ev_audit_wait_total(struct ev_arena *a, const char *event, const char *needle, long n,
			 int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	long got;

	while ((got = ev_audit_total(a, event, needle)) < n && it_now_ms() < deadline)
		it_sleep_ms(50);
	return got;
}

bool ev_log_closed(struct ev_arena *a, int port, const char *reason, int timeout_ms)
{
	char needle[320];

	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed: %s", port, reason);
	return relay_log_wait(a->relay, needle, timeout_ms);
}
