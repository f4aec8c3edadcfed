/* The relay's counters for /metrics (Prometheus text format 0.0.4): plain numbers
 * bumped by small hooks on the loop thread, one histogram with fixed buckets, and
 * gauges read from the relay when rendered. Loop thread only. */
#ifndef PG_RELAY_METRICS_H
#define PG_RELAY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct pg_buf;
struct pg_relay;
struct pg_metrics;

enum pg_metric {
	PG_M_VIEWER_CONNECTIONS,      /* connections accepted on the viewer listeners */
	PG_M_VIEWER_SENT_BYTES,	      /* written to viewers' sockets (TLS included) */
	PG_M_VIEWER_RECEIVED_BYTES,   /* read from them */
	PG_M_VIEWER_FRAMES,	      /* framebuffer updates sent to viewers */
	PG_M_HOST_FRAMES,	      /* updates received from browser hosts */
	PG_M_WORKER_STARTS,	      /* upstream workers started */
	PG_M_WORKER_EXITS,	      /* upstream workers that ended on their own */
	PG_M_UPSTREAM_RECONNECTS,     /* workers started again for a session */
	PG_M_ADMIN_REQUESTS,	      /* requests answered on the admin listener */
	PG_M_UPSTREAM_RECEIVED_BYTES, /* from browser hosts, as workers report them */
	PG_M_UPSTREAM_SENT_BYTES,     /* to browser hosts, likewise */
	PG_M_COUNT
};

/* The auth failure reasons, a fixed set so the label stays small. */
enum pg_auth_fail {
	PG_AUTHF_CREDENTIALS, /* wrong user name, password or TOTP code */
	PG_AUTHF_LOCKED_OUT,  /* refused by the lockout before any check */
	PG_AUTHF_PROTOCOL,    /* malformed credentials message */
	PG_AUTHF_ADMIN_TOKEN, /* admin listener: missing or wrong bearer token */
	PG_AUTHF_COUNT
};

struct pg_metrics *pg_metrics_new(void);
void pg_metrics_del(struct pg_metrics *m);

/* Each is a no-op when m is NULL. */
void pg_metrics_add(struct pg_metrics *m, enum pg_metric c, uint64_t n);
void pg_metrics_auth_failure(struct pg_metrics *m, enum pg_auth_fail why);
/* to_viewer: the browser host's text toward the viewer; else the other way. */
void pg_metrics_clipboard(struct pg_metrics *m, bool to_viewer, bool allowed);
/* Encoding one update took this long (its parts' time added up). */
void pg_metrics_encode(struct pg_metrics *m, double seconds);
uint64_t pg_metrics_get(const struct pg_metrics *m, enum pg_metric c);

/* Append the whole exposition, counters and the relay's gauges (sessions,
 * viewers, per-session frame rate and queue) to out. 0 or a negative PG_E*. */
int pg_metrics_render(const struct pg_metrics *m, const struct pg_relay *relay, struct pg_buf *out);

#endif
