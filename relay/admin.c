/* The admin listener (admin.h). Requests go through http/'s parser like the web
 * listener's; what differs is that nothing here is for viewers: the answers are
 * numbers and lists for IT staff, and ending a session, behind a bearer token. A
 * client that sends slowly or never reads is closed at its deadline, and at most
 * PG_ADMIN_MAX_CONNS are open, so the port cannot hold the relay's resources. */
#include "relay/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "auth/audit.h"
#include "codec/buf.h"
#include "codec/err.h"
#include "http/request.h"
#include "http/response.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"

#define MAX_TOKEN 255

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	struct pg_admin *a;
	struct conn *next, *prev;
	int handles; /* open: freed at 0 */
	bool closing, answered;
	char addr[48]; /* address only, for audit */
	struct pg_buf out;
	size_t len;
	uint8_t in[PG_HTTP_MAX_REQUEST];
	struct pg_http_req req;
};

struct pg_admin {
	struct pg_relay *relay;
	uv_tcp_t listener;
	bool stopping, listener_open;
	int nconns;
	struct conn *conns;
	char token[MAX_TOKEN + 1];
	size_t token_len;
};

static void maybe_free_admin(struct pg_admin *a)
{
	if (!a->stopping || a->listener_open || a->conns)
		return;
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles)
		return;
	struct pg_admin *a = c->a;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->nconns--;
	pg_buf_free(&c->out);
	free(c);
	maybe_free_admin(a);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;
	pg_debug("admin %s: request not finished in %d ms; closed", c->addr, PG_ADMIN_DEADLINE_MS);
	conn_close(c);
}

static void on_written(uv_write_t *w, int status)
{
	conn_close(w->data);
}

/* The answer is whole in c->out: send it, then close (one request a connection). */
static void send_out(struct conn *c)
{
	c->answered = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	pg_metrics_add(c->a->relay->metrics, PG_M_ADMIN_REQUESTS, 1);
	uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
	c->wreq.data = c;
	if (!c->out.len || uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
		conn_close(c);
}

static void answer(struct conn *c, int status, const char *type, const void *body, size_t len,
		   const char *extra)
{
	bool head = c->req.method == PG_HTTP_HEAD;
	if (pg_http_response_live(&c->out, status, type, body, len, extra, head) < 0) {
		pg_buf_reset(&c->out);
		pg_http_error(&c->out, 500, "answer too large");
	}
	send_out(c);
}

static void answer_text(struct conn *c, int status, const char *text, const char *extra)
{
	answer(c, status, "text/plain; charset=utf-8", text, strlen(text), extra);
}

static bool authorized(const struct pg_admin *a, const struct pg_http_req *r)
{
	const char *h = r->authorization;
	if (strncasecmp(h, "Bearer ", 7))
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	/* The length may show; the bytes must not. */
	return a->token_len && n == a->token_len && CRYPTO_memcmp(h, a->token, n) == 0;
}

static void refuse_auth(struct conn *c)
{
	struct pg_relay *relay = c->a->relay;
	const char *why = c->req.authorization[0] ? "wrong token" : "no bearer token";
	pg_metrics_auth_failure(relay->metrics, PG_AUTHF_ADMIN_TOKEN);
	/* Anyone who reaches the port can cause these: logged and audited under the
	 * pre-login rate limit, without a sync each. */
	if (!pg_preauth_admit(relay, "admin-auth-failure", c->addr))
		goto answer;
	pg_warn("admin %s: %s %s refused: %s", c->addr,
		c->req.method == PG_HTTP_POST ? "POST" : "GET", c->req.path, why);
	if (relay->audit) {
		enum pg_audit_sync sync = pg_audit_get_sync(relay->audit);
		pg_audit_set_sync(relay->audit, PG_AUDIT_SYNC_NONE);
		pg_relay_audit_result(PG_AUDIT_EVENT(relay->audit, "admin-auth-failure",
						     PG_AUDIT_S("source", c->addr),
						     PG_AUDIT_S("path", c->req.path),
						     PG_AUDIT_S("reason", why)),
				      "admin-auth-failure");
		pg_audit_set_sync(relay->audit, sync);
	}
answer:
	answer_text(c, 401, "wrong or missing token\n",
		    "WWW-Authenticate: Bearer realm=\"pixelgate\"\r\n");
}

static void get_metrics(struct conn *c)
{
	struct pg_buf b;
	pg_buf_init(&b, PG_ADMIN_MAX_BODY);
	if (pg_metrics_render(c->a->relay->metrics, c->a->relay, &b) < 0)
		answer_text(c, 500, "metrics too large\n", NULL);
	else
		answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
	pg_buf_free(&b);
}

static json_t *session_json(const struct pg_session *s)
{
	struct pg_session_info si;
	struct pg_viewer **list;
	pg_session_info(s, &si);
	int n = pg_session_viewers(s, &list);
	json_t *users = json_array(), *viewers = json_array();
	for (int i = 0; i < n; i++) {
		struct pg_viewer_info vi;
		pg_viewer_info(list[i], &vi);
		bool seen = false;
		for (size_t k = 0; k < json_array_size(users); k++)
			seen |= !strcmp(json_string_value(json_array_get(users, k)), vi.user);
		if (!seen && *vi.user)
			json_array_append_new(users, json_string(vi.user));
		json_array_append_new(
		    viewers,
		    json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I}", "id", (json_int_t)vi.id,
			      "source", vi.peer, "user", vi.user, "connected_since",
			      (json_int_t)vi.since_unix, "bytes_sent", (json_int_t)vi.bytes_sent,
			      "bytes_received", (json_int_t)vi.bytes_received, "frames",
			      (json_int_t)vi.frames));
	}
	return json_pack("{s:s, s:s, s:o, s:b, s:I, s:I, s:f, s:o}", "id", si.id, "browser_host",
			 si.browser_host, "users", users, "connected", si.connected, "started",
			 (json_int_t)si.started_unix, "frames", (json_int_t)si.frames, "fps",
			 si.fps, "viewers", viewers);
}

static void get_sessions(struct conn *c)
{
	struct pg_relay *relay = c->a->relay;
	json_t *list = json_array();
	for (int i = 0; i < relay->nsessions; i++)
		json_array_append_new(list, session_json(relay->sessions[i]));
	json_t *root = json_pack("{s:b, s:o}", "draining", relay->draining, "sessions", list);
	char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (!text || strlen(text) > PG_ADMIN_MAX_BODY) {
		answer_text(c, 500, "out of memory\n", NULL);
	} else {
		size_t n = strlen(text);
		text[n] = '\n'; /* jansson's own NUL: the body ends with a line end */
		answer(c, 200, "application/json", text, n + 1, NULL);
	}
	free(text);
}

static void end_session(struct conn *c, const char *id)
{
	struct pg_relay *relay = c->a->relay;
	struct pg_session *s = pg_session_find(relay, id);
	if (!s) {
		answer_text(c, 404, "no such session\n", NULL);
		return;
	}
	struct pg_session_info si;
	pg_session_info(s, &si);
	char label[300], sid[17];
	snprintf(label, sizeof(label), "%s", si.browser_host);
	snprintf(sid, sizeof(sid), "%s", si.id);
	int viewers = si.nviewers;
	pg_info("admin %s: ending session %s (%s, %d viewers)", c->addr, sid, label, viewers);
	pg_audit(relay, "admin-session-end", PG_AUDIT_S("source", c->addr),
		 PG_AUDIT_S("session", sid), PG_AUDIT_S("browser_host", label),
		 PG_AUDIT_I("viewers", viewers));
	pg_session_end(s, "session ended by an administrator");
	char body[128];
	snprintf(body, sizeof(body), "ended session %s (%d viewers)\n", sid, viewers);
	answer_text(c, 200, body, NULL);
}

static void handle(struct conn *c)
{
	const struct pg_http_req *r = &c->req;
	struct pg_admin *a = c->a;
	bool get = r->method == PG_HTTP_GET || r->method == PG_HTTP_HEAD;
	if (!strcmp(r->path, "/healthz")) {
		if (!get)
			answer_text(c, 405, "GET only\n", "Allow: GET, HEAD\r\n");
		else if (a->relay->draining || a->relay->stopping)
			answer_text(c, 503, "draining\n", NULL);
		else
			answer_text(c, 200, "ok\n", NULL);
		return;
	}
	if (!authorized(a, r)) {
		refuse_auth(c);
		return;
	}
	const char *end = "/end";
	size_t pl = strlen(r->path), el = strlen(end);
	if (!strcmp(r->path, "/metrics") || !strcmp(r->path, "/sessions")) {
		if (!get)
			answer_text(c, 405, "GET only\n", "Allow: GET, HEAD\r\n");
		else if (r->path[1] == 'm')
			get_metrics(c);
		else
			get_sessions(c);
	} else if (!strncmp(r->path, "/sessions/", 10) && pl > 10 + el &&
		   !strcmp(r->path + pl - el, end)) {
		char id[64];
		size_t idl = pl - 10 - el;
		if (idl >= sizeof(id) || memchr(r->path + 10, '/', idl)) {
			answer_text(c, 404, "no such session\n", NULL);
			return;
		}
		memcpy(id, r->path + 10, idl);
		id[idl] = '\0';
		if (r->method != PG_HTTP_POST)
			answer_text(c, 405, "POST only\n", "Allow: POST\r\n");
		else
			end_session(c, id);
	} else {
		answer_text(c, 404, "not found (/healthz, /metrics, /sessions, /sessions/ID/end)\n",
			    NULL);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	*buf = uv_buf_init((char *)c->in + c->len, (unsigned)(sizeof(c->in) - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (c->closing || c->answered)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	int rc = pg_http_parse(&c->req, c->in, c->len);
	if (rc == 0)
		return;
	if (rc < 0) {
		pg_debug("admin %s: bad request: %s", c->addr, c->req.why);
		if (pg_http_error(&c->out, c->req.status, c->req.why) < 0)
			conn_close(c);
		else
			send_out(c);
		return;
	}
	handle(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct pg_admin *a = server->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		/* Accept and drop it, or libuv keeps telling us. */
		uv_tcp_t t;
		uv_tcp_init(a->relay->loop, &t);
		if (uv_accept(server, (uv_stream_t *)&t) == 0)
			uv_close((uv_handle_t *)&t, NULL);
		return;
	}
	c->a = a;
	c->handles = 2;
	pg_buf_init(&c->out, PG_ADMIN_MAX_BODY + 4096);
	pg_http_req_init(&c->req);
	c->req.allow_post = true;
	uv_tcp_init(a->relay->loop, &c->tcp);
	uv_timer_init(a->relay->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->next = a->conns;
	if (c->next)
		c->next->prev = c;
	a->conns = c;
	a->nconns++;
	snprintf(c->addr, sizeof(c->addr), "?");
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, c->addr, sizeof(c->addr));
		else if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->addr, sizeof(c->addr));
	}
	if (a->stopping) {
		conn_close(c);
		return;
	}
	if (a->nconns > PG_ADMIN_MAX_CONNS) {
		/* Full: the oldest connection still silent goes, not the new one, so
		 * idle connections cannot keep a load balancer's health check out. */
		struct conn *old = NULL;
		for (struct conn *o = c->next; o; o = o->next)
			if (!o->closing && !o->answered)
				old = o;
		pg_debug("admin %s: over %d connections; closing %s", c->addr, PG_ADMIN_MAX_CONNS,
			 old ? old->addr : "this one");
		if (!old) {
			conn_close(c);
			return;
		}
		conn_close(old);
	}
	uv_timer_start(&c->timer, on_deadline, PG_ADMIN_DEADLINE_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int pg_admin_read_token(const char *path, char *out, size_t size, const char **why)
{
	char line[MAX_TOKEN + 3];
	FILE *f = fopen(path, "r");
	*why = NULL;
	if (!f) {
		*why = "cannot open it";
		return -1;
	}
	if (!fgets(line, sizeof(line), f))
		*why = "it is empty";
	fclose(f);
	if (*why)
		return -1;
	size_t n = strcspn(line, "\r\n");
	if (!line[n] && n > MAX_TOKEN)
		*why = "its first line is over 255 characters";
	line[n] = '\0';
	for (size_t i = 0; !*why && i < n; i++)
		if ((unsigned char)line[i] <= 0x20 || (unsigned char)line[i] >= 0x7f)
			*why = "the token holds a space or a character that is not printable ASCII";
	if (!*why && n < 32)
		*why = "the token is shorter than 32 characters (hint: openssl rand -hex 32)";
	if (!*why && n >= size)
		*why = "the token is too long";
	if (!*why)
		memcpy(out, line, n + 1);
	OPENSSL_cleanse(line, sizeof(line));
	return *why ? -1 : 0;
}

void pg_admin_set_token(struct pg_admin *a, const char *token)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->token, sizeof(a->token));
	snprintf(a->token, sizeof(a->token), "%s", token ? token : "");
	a->token_len = strlen(a->token);
}

struct pg_admin *pg_admin_start(struct pg_relay *relay, const char *host, int port,
				const char *token, char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	if (rc < 0)
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	if (rc < 0 && !strcmp(host, "localhost"))
		rc = uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&ss);
	if (rc < 0) {
		snprintf(err, err_size, "'%s' is not an IP address", host);
		return NULL;
	}
	struct pg_admin *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	a->relay = relay;
	pg_admin_set_token(a, token);
	uv_tcp_init(relay->loop, &a->listener);
	a->listener.data = a;
	a->listener_open = true;
	rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&a->listener, 64, on_connection);
	if (rc < 0) {
		snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
		pg_admin_stop(a);
		return NULL;
	}
	return a;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct pg_admin *a = h->data;
	a->listener_open = false;
	maybe_free_admin(a);
}

void pg_admin_stop(struct pg_admin *a)
{
	if (!a || a->stopping)
		return;
	a->stopping = true;
	for (struct conn *c = a->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&a->listener, on_listener_closed);
}
