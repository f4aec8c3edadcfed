/* Helpers for the evil-viewer tests: an arena (a libvncserver host whose picture keeps
 * changing, the relay with an audit trail, and one healthy libvncclient viewer whose
 * update rate is the yardstick), raw sockets from any 127.0.0.x address, and readers
 * of the relay's audit trail, log, memory and limits. Every wait is bounded; nothing
 * here asserts, so the helpers may run on any thread. */
#ifndef PG_HOSTILE_EVILVIEWER_UTIL_H
#define PG_HOSTILE_EVILVIEWER_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_util.h"
#include "harness_util.h"

struct ev_arena {
	struct au_env env;
	struct it_host *host;
	struct it_relay *relay;
	struct it_viewer *viewer; /* the healthy one */
	int w, h;
	pthread_t churn;
	bool churning;
	volatile bool churn_stop;
	long rss0; /* the relay's VmRSS (KiB) once the healthy viewer is served */
};

struct ev_arena_opts {
	int w, h;
	const char *relay_extra; /* more [relay] keys, may be NULL */
	const char *sections;	 /* more sections, may be NULL */
	/* Start the relay with a soft open-files limit of this (0: inherited), so that the
	 * relay's own raise to the hard limit can be seen. */
	long soft_nofile;
};

/* Host, config (security = none, audit file), relay, healthy viewer (first picture
 * checked), then a thread that changes a part of the host's picture every 10 ms.
 * NULL on success, else what failed (the relay's log is dumped). */
const char *ev_arena_start(struct ev_arena *a, const struct ev_arena_opts *o);
void ev_arena_stop(struct ev_arena *a);

/* The healthy viewer's updates, and a rate between two readings. */
struct ev_mark {
	int updates;
	int64_t ms;
};
struct ev_mark ev_mark(struct ev_arena *a);
double ev_rate_since(struct ev_arena *a, struct ev_mark m);
/* Its update rate over ms of nothing but the churn. */
double ev_baseline(struct ev_arena *a, int ms);

/* The relay's VmRSS growth in KiB since the arena started (may be negative);
 * LONG_MIN when unreadable. */
long ev_rss_growth(struct ev_arena *a);
/* The relay's soft and hard open-files limits, from /proc; false when unreadable. */
bool ev_relay_nofile(struct ev_arena *a, long long *soft, long long *hard);

/* ---- sockets ---- */

/* A TCP connection from src (an address on lo, e.g. "127.0.0.7"; NULL: 127.0.0.1) to
 * 127.0.0.1:port, non-blocking when nonblock (connect may still be in progress), else
 * blocking with 5 s send and receive timeouts. -1 on failure. */
int ev_connect_from(const char *src, int port, bool nonblock);
/* True when the peer has closed (EOF or error pending); data pending is discarded. */
bool ev_peer_closed(int fd);
/* Send what the socket takes now (MSG_DONTWAIT); bytes sent, 0 when full, -1 on error. */
ssize_t ev_send_some(int fd, const void *buf, size_t len);

/* A raw RFB 3.8 viewer past the handshake (security None), from 127.0.0.1, its local
 * port in *port. rcvbuf > 0 shrinks its receive buffer first. -1 on failure. */
int ev_raw_viewer(struct ev_arena *a, int rcvbuf, int *port);

/* ---- the audit trail and the log ---- */

/* Records of event (with needle too, when not NULL) written one by one, plus those the
 * relay summarised in preauth-summary records (the sum of their counts). */
long ev_audit_total(struct ev_arena *a, const char *event, const char *needle);
/* Wait until ev_audit_total reaches n; its last value. */
long ev_audit_wait_total(struct ev_arena *a, const char *event, const char *needle, long n,
			 int timeout_ms);
/* "127.0.0.1:PORT: closed: reason" in the relay's log within timeout_ms. */
bool ev_log_closed(struct ev_arena *a, int port, const char *reason, int timeout_ms);

/* Big-endian writers for building messages. */
void ev_put16(uint8_t *p, unsigned v);
void ev_put32(uint8_t *p, uint32_t v);

#endif
