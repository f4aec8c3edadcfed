/* A viewer that came in on the web listener (see docs/web-viewer.md): TLS from the
 * first byte, one HTTP request, then either a static file of the viewer page or a
 * WebSocket upgrade on /websockify after which the connection carries RFB in binary
 * messages, through the same handshake, login, policy and audit as the RFB listener.
 * HTTP parsing, WebSocket framing and the files are http/'s; this file moves bytes
 * between them and the viewer. */
#include <stdlib.h>
#include <string.h>

#include "auth/audit.h"
#include "auth/tls.h"
#include "codec/buf.h"
#include "codec/err.h"
#include "http/request.h"
#include "http/response.h"
#include "http/static.h"
#include "http/ws.h"
#include "relay/log.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"

#define WEB_PATH    "/websockify"
#define MAX_ORIGINS 16

/* Frames are taken from the WebSocket only while this little is queued for the
 * socket: a client that sends and never reads (a ping flood) stops being read. */
#define WEB_MAX_QUEUED (1u << 20)

static void on_deadline(uv_timer_t *t)
{
	struct pg_viewer *v = t->data;
	pg_audit_preauth(v, "web-refused", PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("request", v->state == V_WEB_TLS ? "TLS handshake" : "request"),
			 PG_AUDIT_I("status", 408), PG_AUDIT_S("reason", "not finished in time"));
	pg_viewer_close(v, "web: request not finished in time");
}

void pg_web_start(struct pg_viewer *v)
{
	v->web = true;
	v->tls = pg_tls_new(v->relay->tls, NULL);
	v->http = calloc(1, sizeof(*v->http));
	if (!v->tls || !v->http) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	pg_http_req_init(v->http);
	v->state = V_WEB_TLS;
	uv_timer_start(&v->timer, on_deadline, (uint64_t)v->relay->auth_timeout_ms, 0);
}

/* Send what pg_http_* built, in clear of WebSocket framing (through TLS). */
static void send_http(struct pg_viewer *v, struct pg_buf *b)
{
	if (b->len)
		pg_viewer_send(v, b->data, b->len);
	pg_buf_free(b);
}

static void web_refuse(struct pg_viewer *v, const char *what, const char *why, int status)
{
	char reason[300];
	snprintf(reason, sizeof(reason), "web: %s: %s (HTTP %d)", what, why, status);
	pg_audit_preauth(v, "web-refused", PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("request", what), PG_AUDIT_I("status", status),
			 PG_AUDIT_S("reason", why));
	pg_viewer_close_after_send(v, reason);
}

/* The origins a browser may open the WebSocket from: the configured ones, else the
 * page's own (https:// and the Host it asked for). */
static int origins(struct pg_viewer *v, const char **list, char *own, size_t own_size)
{
	const char *cfg = v->relay->web_origins;
	int n = 0;
	if (!cfg || !*cfg) {
		snprintf(own, own_size, "https://%s", v->http->host);
		list[n++] = own;
		return n;
	}
	/* A copy cut at commas; own holds it. */
	snprintf(own, own_size, "%s", cfg);
	for (char *p = own; *p && n < MAX_ORIGINS;) {
		char *end = strchr(p, ',');
		if (end)
			*end = '\0';
		while (*p == ' ')
			p++;
		size_t l = strlen(p);
		while (l && p[l - 1] == ' ')
			p[--l] = '\0';
		if (*p)
			list[n++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	return n;
}

static void upgrade(struct pg_viewer *v, size_t request_len)
{
	const char *list[MAX_ORIGINS], *why = NULL;
	char own[1024];
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	int n = origins(v, list, own, sizeof(own));
	int rc = pg_http_ws_accept(v->http, list, (size_t)n, &b, &why);
	send_http(v, &b);
	if (rc < 0) {
		web_refuse(v, "WebSocket upgrade", why ? why : "refused",
			   rc == PG_EAUTH    ? 403
			   : rc == PG_EUNSUP ? 426
					     : 400);
		return;
	}
	v->ws = pg_ws_new();
	if (!v->ws) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	pg_info("viewer %llu %s: web: WebSocket from %s (%s)", (unsigned long long)v->id, v->peer,
		v->http->origin, v->http->user_agent);
	/* Frames the browser sent right behind its request are RFB's. */
	pg_buf_consume(&v->plain, request_len);
	uv_timer_stop(&v->timer);
	v->state = V_VERSION;
	v->relay->web_upgrades++;
	pg_handshake_start(v);
}

static void serve(struct pg_viewer *v)
{
	struct pg_buf b;
	pg_buf_init(&b, (size_t)PG_STATIC_MAX_BYTES + 8192);
	int status = v->relay->web_static ? pg_static_respond(v->relay->web_static, v->http, &b)
					  : pg_http_error(&b, 404, "no viewer page installed");
	if (!v->relay->web_static)
		status = 404;
	send_http(v, &b);
	char reason[PG_HTTP_MAX_URL + 64];
	snprintf(reason, sizeof(reason), "web: served %s (%d)", v->http->path, status);
	if (status == 404)
		pg_info("viewer %llu %s: web: %s not found", (unsigned long long)v->id, v->peer,
			v->http->path);
	v->quiet_close = status == 200 || status == 304;
	pg_viewer_close_after_send(v, reason);
}

static void http_input(struct pg_viewer *v)
{
	int n = pg_http_parse(v->http, v->plain.data, v->plain.len);
	if (n == 0)
		return;
	if (n < 0) {
		struct pg_buf b;
		pg_buf_init(&b, 4096);
		pg_http_error(&b, v->http->status, v->http->why);
		send_http(v, &b);
		web_refuse(v, "request", v->http->why ? v->http->why : "malformed",
			   v->http->status);
		return;
	}
	if (!strcmp(v->http->path, WEB_PATH))
		upgrade(v, (size_t)n);
	else
		serve(v);
}

/* RFB inside WebSocket frames: unwrap into the viewer's input buffer. */
static void ws_input(struct pg_viewer *v)
{
	while (!v->closing && v->plain.len) {
		ssize_t n = pg_ws_feed(v->ws, v->plain.data, v->plain.len, &v->in);
		if (n < 0) {
			char reason[200];
			snprintf(reason, sizeof(reason), "web: WebSocket: %s", pg_ws_error(v->ws));
			/* Before the login anyone can send these: rate-limited then. */
			if (v->state == V_NORMAL)
				pg_audit(v->relay, "message-blocked",
					 PG_AUDIT_S("user", *v->user ? v->user : "-"),
					 PG_AUDIT_S("source", v->addr),
					 PG_AUDIT_S("message", "WebSocket"),
					 PG_AUDIT_S("reason", pg_ws_error(v->ws)));
			else
				pg_audit_preauth(v, "message-blocked", PG_AUDIT_S("user", "-"),
						 PG_AUDIT_S("source", v->addr),
						 PG_AUDIT_S("message", "WebSocket"),
						 PG_AUDIT_S("reason", pg_ws_error(v->ws)));
			pg_web_flush(v);
			pg_viewer_close_after_send(v, reason);
			return;
		}
		pg_buf_consume(&v->plain, (size_t)n);
		pg_viewer_process_input(v);
		pg_web_flush(v); /* pongs, a close */
		if (pg_ws_closed(v->ws)) {
			pg_viewer_close_after_send(v, "viewer disconnected (WebSocket closed)");
			return;
		}
		if (n == 0)
			break; /* the viewer's input buffer is full: it drains as messages go */
	}
}

void pg_web_input(struct pg_viewer *v)
{
	if (v->closing || v->close_pending)
		return;
	if (v->state == V_HTTP)
		http_input(v);
	if (v->ws && v->state != V_HTTP)
		ws_input(v);
}

void pg_web_tls_progress(struct pg_viewer *v)
{
	int rc = pg_tls_feed(v->tls, v->raw.data, v->raw.len);
	if (rc == 0)
		pg_buf_reset(&v->raw);
	struct pg_buf ct;
	pg_buf_init(&ct, (size_t)1 << 20);
	ssize_t out = rc >= 0 || rc == PG_ELIMIT ? pg_tls_take_output(v->tls, &ct) : 0;
	if (ct.len)
		pg_viewer_send(v, ct.data, ct.len); /* handshake records: sent as they are */
	pg_buf_free(&ct);
	if ((rc < 0 && rc != PG_ELIMIT) || out < 0) {
		char reason[300];
		snprintf(reason, sizeof(reason), "web: TLS handshake failed: %s",
			 pg_tls_error(v->tls));
		pg_audit_preauth(v, "tls-failure", PG_AUDIT_S("source", v->addr),
				 PG_AUDIT_S("listener", "web"),
				 PG_AUDIT_S("reason", pg_tls_error(v->tls)));
		pg_viewer_close(v, reason);
		return;
	}
	if (!pg_tls_handshake_done(v->tls))
		return;
	v->state = V_HTTP;
	rc = pg_tls_read(v->tls, &v->plain);
	if (rc < 0 && rc != PG_ELIMIT) {
		pg_viewer_close(v, pg_tls_error(v->tls));
		return;
	}
	pg_web_input(v);
}

int pg_web_send(struct pg_viewer *v, const uint8_t *data, size_t len)
{
	/* In pieces: the WebSocket queue is bounded, and each piece leaves at once. */
	for (size_t off = 0; off < len;) {
		size_t n = len - off < (1u << 20) ? len - off : (1u << 20);
		if (pg_ws_send(v->ws, data + off, n) < 0)
			return -1;
		if (pg_web_flush(v) < 0)
			return -1;
		off += n;
	}
	return 0;
}

int pg_web_flush(struct pg_viewer *v)
{
	struct pg_buf wire;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) > WEB_MAX_QUEUED)
		return 0; /* on_write calls again when the socket drains */
	pg_buf_init(&wire, (size_t)PG_WS_MAX_SEND_QUEUE + (64u << 10));
	if (pg_ws_take_output(v->ws, &wire) < 0) {
		pg_buf_free(&wire);
		return -1;
	}
	if (wire.len)
		pg_viewer_send_tls(v, wire.data, wire.len); /* takes the bytes */
	else
		pg_buf_free(&wire);
	return 0;
}

/* The relay ends the session: a close frame with the reason, which the page shows
 * (1000 once logged in, 1008 "policy violation" before). Best effort: written now
 * if the socket takes it. */
void pg_web_goodbye(struct pg_viewer *v, const char *reason)
{
	char r[121];
	size_t n = strlen(reason) < sizeof(r) - 1 ? strlen(reason) : sizeof(r) - 1;
	while (n && n < strlen(reason) && ((uint8_t)reason[n] & 0xc0) == 0x80)
		n--; /* cut at a character boundary */
	memcpy(r, reason, n);
	r[n] = '\0';
	if (pg_ws_closed(v->ws) || pg_ws_close(v->ws, v->state == V_NORMAL ? 1000 : 1008, r) < 0)
		return;
	pg_web_flush(v);
}

void pg_web_free(struct pg_viewer *v)
{
	pg_ws_del(v->ws);
	v->ws = NULL;
	free(v->http);
	v->http = NULL;
	pg_buf_free(&v->plain);
}
