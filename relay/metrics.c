/* The numbers behind /metrics. Counters are only ever added to, on the loop
 * thread, so a scrape reads exactly what happened; gauges are read from the relay
 * at scrape time rather than kept in step by hooks that could drift. */
#include "relay/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/buf.h"
#include "codec/err.h"
#include "relay/relay.h"

/* Encode time of one update: from a small dirty rectangle (well under a
 * millisecond) to a full 4K Tight frame on a busy machine. */
static const double encode_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
					0.025,	0.05,  0.1,    0.25,  0.5};
#define NBUCKETS (sizeof(encode_buckets) / sizeof(encode_buckets[0]))

struct pg_metrics {
	uint64_t c[PG_M_COUNT];
	uint64_t auth_fail[PG_AUTHF_COUNT];
	uint64_t clip[2][2];	       /* [to_viewer][allowed] */
	uint64_t enc_bucket[NBUCKETS]; /* not cumulative; summed when rendered */
	uint64_t enc_count;
	double enc_sum;
};

static const char *const auth_reason[PG_AUTHF_COUNT] = {
    [PG_AUTHF_CREDENTIALS] = "credentials",
    [PG_AUTHF_LOCKED_OUT] = "locked_out",
    [PG_AUTHF_PROTOCOL] = "protocol",
    [PG_AUTHF_ADMIN_TOKEN] = "admin_token",
};

struct pg_metrics *pg_metrics_new(void)
{
	return calloc(1, sizeof(struct pg_metrics));
}

void pg_metrics_del(struct pg_metrics *m)
{
	free(m);
}

void pg_metrics_add(struct pg_metrics *m, enum pg_metric c, uint64_t n)
{
	if (m && c < PG_M_COUNT)
		m->c[c] += n;
}

uint64_t pg_metrics_get(const struct pg_metrics *m, enum pg_metric c)
{
	return m && c < PG_M_COUNT ? m->c[c] : 0;
}

void pg_metrics_auth_failure(struct pg_metrics *m, enum pg_auth_fail why)
{
	if (m && why < PG_AUTHF_COUNT)
		m->auth_fail[why]++;
}

void pg_metrics_clipboard(struct pg_metrics *m, bool to_viewer, bool allowed)
{
	if (m)
		m->clip[to_viewer][allowed]++;
}

void pg_metrics_encode(struct pg_metrics *m, double seconds)
{
	if (!m)
		return;
	size_t i = 0;
	while (i < NBUCKETS && seconds > encode_buckets[i])
		i++;
	if (i < NBUCKETS)
		m->enc_bucket[i]++;
	m->enc_count++;
	m->enc_sum += seconds;
}

__attribute__((format(printf, 2, 3))) static int put(struct pg_buf *out, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return PG_ELIMIT;
	return pg_buf_append(out, line, (size_t)n);
}

static int head(struct pg_buf *out, const char *name, const char *type, const char *help)
{
	return put(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int counter(struct pg_buf *out, const char *name, const char *help, uint64_t v)
{
	int rc = head(out, name, "counter", help);
	return rc ? rc : put(out, "%s %llu\n", name, (unsigned long long)v);
}

/* A session id is 16 hex digits (session.c): no label escaping is needed. */
int pg_metrics_render(const struct pg_metrics *m, const struct pg_relay *relay, struct pg_buf *out)
{
	static const struct {
		enum pg_metric c;
		const char *name, *help;
	} counters[] = {
	    {PG_M_VIEWER_CONNECTIONS, "pixelgate_viewer_connections_total",
	     "Connections accepted on the viewer listeners (RFB and web)."},
	    {PG_M_VIEWER_SENT_BYTES, "pixelgate_viewer_sent_bytes_total",
	     "Bytes written to viewers' connections, TLS and WebSocket framing included."},
	    {PG_M_VIEWER_RECEIVED_BYTES, "pixelgate_viewer_received_bytes_total",
	     "Bytes read from viewers' connections."},
	    {PG_M_VIEWER_FRAMES, "pixelgate_viewer_frames_total",
	     "Framebuffer updates sent to viewers."},
	    {PG_M_HOST_FRAMES, "pixelgate_host_frames_total",
	     "Framebuffer updates received from browser hosts."},
	    {PG_M_WORKER_STARTS, "pixelgate_worker_starts_total", "Upstream workers started."},
	    {PG_M_WORKER_EXITS, "pixelgate_worker_exits_total",
	     "Upstream workers that ended while their session went on (crash, host gone)."},
	    {PG_M_UPSTREAM_RECONNECTS, "pixelgate_upstream_reconnects_total",
	     "Upstream workers started again for a session that had one before."},
	    {PG_M_ADMIN_REQUESTS, "pixelgate_admin_requests_total",
	     "Requests answered on the admin listener."},
	    {PG_M_UPSTREAM_RECEIVED_BYTES, "pixelgate_upstream_received_bytes_total",
	     "Bytes upstream workers read from browser hosts (TLS included), reported each "
	     "second."},
	    {PG_M_UPSTREAM_SENT_BYTES, "pixelgate_upstream_sent_bytes_total",
	     "Bytes upstream workers wrote to browser hosts, reported each second."},
	};
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof(counters) / sizeof(counters[0]); i++)
		rc = counter(out, counters[i].name, counters[i].help, m->c[counters[i].c]);

	if (!rc)
		rc = head(out, "pixelgate_auth_failures_total", "counter",
			  "Failed authentications, by reason.");
	for (int i = 0; !rc && i < PG_AUTHF_COUNT; i++)
		rc = put(out, "pixelgate_auth_failures_total{reason=\"%s\"} %llu\n", auth_reason[i],
			 (unsigned long long)m->auth_fail[i]);

	if (!rc)
		rc = head(out, "pixelgate_clipboard_decisions_total", "counter",
			  "Clipboard transfers checked by the policy, by direction and decision.");
	for (int d = 0; !rc && d < 2; d++)
		for (int a = 1; !rc && a >= 0; a--)
			rc = put(out,
				 "pixelgate_clipboard_decisions_total{direction=\"%s\",decision="
				 "\"%s\"} %llu\n",
				 d ? "to-viewer" : "to-browser", a ? "allowed" : "denied",
				 (unsigned long long)m->clip[d][a]);

	if (!rc)
		rc = head(out, "pixelgate_encode_seconds", "histogram",
			  "Time spent encoding one update for a viewer (its parts added up).");
	uint64_t cum = 0;
	for (size_t i = 0; !rc && i < NBUCKETS; i++) {
		cum += m->enc_bucket[i];
		rc = put(out, "pixelgate_encode_seconds_bucket{le=\"%g\"} %llu\n",
			 encode_buckets[i], (unsigned long long)cum);
	}
	if (!rc)
		rc = put(out,
			 "pixelgate_encode_seconds_bucket{le=\"+Inf\"} %llu\n"
			 "pixelgate_encode_seconds_sum %.9f\n"
			 "pixelgate_encode_seconds_count %llu\n",
			 (unsigned long long)m->enc_count, m->enc_sum,
			 (unsigned long long)m->enc_count);

	if (!rc)
		rc = head(out, "pixelgate_sessions", "gauge",
			  "Sessions (one per browser host in use).");
	if (!rc)
		rc = put(out, "pixelgate_sessions %d\n", relay->nsessions);
	if (!rc)
		rc = head(out, "pixelgate_viewers", "gauge",
			  "Viewer connections, logging in or connected to a session.");
	if (!rc)
		rc = put(out,
			 "pixelgate_viewers{state=\"logging_in\"} %d\n"
			 "pixelgate_viewers{state=\"connected\"} %d\n",
			 relay->handshakes, relay->viewers);
	if (!rc)
		rc = head(out, "pixelgate_draining", "gauge",
			  "1 while the relay drains after SIGTERM, else 0.");
	if (!rc)
		rc = put(out, "pixelgate_draining %d\n", relay->draining ? 1 : 0);

	static const char *const per_session[][3] = {
	    {"pixelgate_session_frames_per_second", "gauge",
	     "Updates from the session's browser host over the last second."},
	    {"pixelgate_session_queued_bytes", "gauge",
	     "Bytes waiting to be written to the session's viewers."},
	    {"pixelgate_session_viewers", "gauge", "Viewers connected to the session."},
	};
	for (size_t k = 0; !rc && k < 3; k++) {
		rc = head(out, per_session[k][0], per_session[k][1], per_session[k][2]);
		for (int i = 0; !rc && i < relay->nsessions; i++) {
			struct pg_session_info si;
			pg_session_info(relay->sessions[i], &si);
			if (k == 0)
				rc = put(out, "%s{session=\"%s\"} %g\n", per_session[k][0], si.id,
					 si.fps);
			else
				rc = put(out, "%s{session=\"%s\"} %llu\n", per_session[k][0], si.id,
					 (unsigned long long)(k == 1 ? si.queued_bytes
								     : (uint64_t)si.nviewers));
		}
	}
	return rc;
}
