/* A viewer's way in: ProtocolVersion, security type, VeNCrypt and TLS, the Plain
 * credentials, the login, the wait for the browser host, ClientInit and
 * ServerInit. Viewers see one generic failure; the precise reason goes to the
 * log and the audit trail. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/audit.h"
#include "auth/tls.h"
#include "auth/vencrypt.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"
#include "relay/broker.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"

#define SESSION_WAIT_MS	     20000
#define GENERIC_AUTH_FAILURE "authentication failed"

/* SecurityResult failed, with the reason when the viewer speaks 3.8, then close. */
static void refuse(struct pg_viewer *v, const char *told, const char *logged)
{
	bool result_expected = v->minor >= 8 || v->sec_type != PG_RFB_SEC_NONE;
	if (result_expected && !v->closing) {
		uint8_t b[8 + 128];
		size_t len = strlen(told) < 128 ? strlen(told) : 128, n = 4;
		pg_wr32(b, 1);
		if (v->minor >= 8) {
			pg_wr32(b + 4, (uint32_t)len);
			memcpy(b + 8, told, len);
			n = 8 + len;
		}
		pg_viewer_send(v, b, n);
	}
	pg_viewer_close(v, logged);
}

static const char *state_name(enum pg_viewer_state s)
{
	static const char *const names[] = {[V_WEB_TLS] = "TLS",
					    [V_HTTP] = "HTTP request",
					    [V_VERSION] = "ProtocolVersion",
					    [V_SECURITY] = "security type",
					    [V_VENCRYPT] = "VeNCrypt",
					    [V_TLS] = "TLS",
					    [V_CREDENTIALS] = "credentials",
					    [V_VNCAUTH] = "VNC authentication",
					    [V_LOGIN] = "login",
					    [V_WAIT_SESSION] = "browser host",
					    [V_CLIENT_INIT] = "ClientInit",
					    [V_NORMAL] = "done"};
	return names[s];
}

static void on_deadline(uv_timer_t *t)
{
	struct pg_viewer *v = t->data;
	if (v->state == V_WAIT_SESSION) {
		pg_viewer_session_failed(v, "the browser host is not available right now");
		return;
	}
	/* Silent, half-open and one-byte-a-minute connections all end here. */
	pg_audit_preauth(v, "handshake-timeout", PG_AUDIT_S("user", *v->user ? v->user : "-"),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("waiting_for", state_name(v->state)),
			 PG_AUDIT_U("bytes_from_viewer", v->bytes_in),
			 PG_AUDIT_I("auth_timeout", v->relay->auth_timeout_ms / 1000));
	pg_viewer_close(v, "handshake not finished in time");
}

void pg_handshake_start(struct pg_viewer *v)
{
	static const char version[] = "RFB 003.008\n";
	v->state = V_VERSION;
	pg_viewer_send(v, version, 12);
	uv_timer_start(&v->timer, on_deadline, (uint64_t)v->relay->auth_timeout_ms, 0);
}

void pg_viewer_session_ready(struct pg_viewer *v)
{
	if (v->state != V_WAIT_SESSION || v->closing)
		return;
	/* ClientInit has its own deadline: a viewer that stops here would otherwise
	 * hold a handshake slot for good. */
	uv_timer_start(&v->timer, on_deadline, (uint64_t)v->relay->auth_timeout_ms, 0);
	if (v->minor >= 8 || v->sec_type != PG_RFB_SEC_NONE) {
		uint8_t ok[4] = {0, 0, 0, 0};
		pg_viewer_send(v, ok, 4);
	}
	v->state = V_CLIENT_INIT;
	pg_viewer_process_input(v);
}

void pg_viewer_session_failed(struct pg_viewer *v, const char *reason)
{
	if (v->state == V_WAIT_SESSION)
		refuse(v, reason, reason);
	else
		pg_viewer_close(v, reason);
}

/* Security and login are done; the rest of the handshake needs the browser host's
 * size, so wait for it (bounded), telling the viewer why if it does not come. */
static void join_session(struct pg_viewer *v, const char *address)
{
	const char *told;
	char logged[256];
	if (pg_guard_admit(v, &told, logged, sizeof(logged)) < 0) {
		refuse(v, told, logged);
		return;
	}
	struct pg_session *s = pg_session_get(v->relay, address);
	if (!s) {
		refuse(v, "the browser host is not available right now",
		       "cannot start a session (out of memory or bad address)");
		return;
	}
	struct pg_session_info info;
	char why[256], msg[400];
	pg_session_info(s, &info);
	if (pg_vmark_refresh(v, info.id, why, sizeof(why)) < 0) {
		/* A watermark the policy asks for is part of the picture: none, no picture. */
		snprintf(msg, sizeof(msg), "cannot draw the watermark its policy requires: %s",
			 why);
		refuse(v, "the relay cannot draw the watermark this user's policy requires", msg);
		pg_session_linger_if_unused(s);
		return;
	}
	if (*v->user && v->relay->takeover) {
		struct pg_viewer **list;
		int n = pg_session_viewers(s, &list);
		for (int i = n - 1; i >= 0; i--) {
			if (list[i] != v && !strcmp(pg_viewer_user(list[i]), v->user))
				pg_viewer_close(list[i],
						"taken over by a newer login of the same user");
		}
	}
	v->session = s;
	v->state = V_WAIT_SESSION;
	uv_timer_start(&v->timer, on_deadline, SESSION_WAIT_MS, 0);
	pg_session_attach(s, v);
	if (*v->user && !v->closing) {
		char mark[16] = "";
		if (v->mark_code_set)
			snprintf(mark, sizeof(mark), "0x%08x", v->mark_code);
		pg_audit(v->relay, "viewer-join", PG_AUDIT_S("user", v->user),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", address),
			 PG_AUDIT_S("session", info.id), PG_AUDIT_S("recording", pg_record_file(s)),
			 PG_AUDIT_S("mark", mark));
	}
}

bool pg_list_has(const char *list, const char *name, size_t name_len)
{
	if (!strcmp(list, "*"))
		return true;
	for (const char *g = list; *g;) {
		const char *end = strchr(g, ',');
		size_t len = end ? (size_t)(end - g) : strlen(g);
		if (len == name_len && !memcmp(g, name, name_len))
			return true;
		g += len + (end ? 1 : 0);
	}
	return false;
}

/* Which browser host a user reaches: their own route, then their groups' in the
 * order of the config, then the default. NULL when none. */
static const char *route_for(const struct pg_relay *relay, const char *user, const char *groups)
{
	for (int i = 0; i < relay->nroutes; i++)
		if (!relay->routes[i].group && !strcmp(relay->routes[i].name, user))
			return relay->routes[i].address;
	for (int i = 0; i < relay->nroutes; i++)
		if (relay->routes[i].group &&
		    pg_list_has(groups, relay->routes[i].name, strlen(relay->routes[i].name)))
			return relay->routes[i].address;
	return *relay->upstream_address ? relay->upstream_address : NULL;
}

void pg_handshake_login_refused(struct pg_viewer *v, const char *told)
{
	if (!v->closing)
		refuse(v, told, told);
}

void pg_handshake_login_done(struct pg_viewer *v, bool ok)
{
	if (v->closing)
		return;
	if (!ok) {
		refuse(v, GENERIC_AUTH_FAILURE, GENERIC_AUTH_FAILURE);
		return;
	}
	if (v->relay->broker) {
		char chosen[300];
		const char *told = NULL;
		int rc = pg_broker_route(v->relay->broker, v, chosen, sizeof(chosen), &told);
		if (rc > 0) {
			join_session(v, chosen);
		} else if (rc < 0) {
			refuse(v, told, told);
		} else if (!v->closing) {
			/* A host is being started: the broker's own timeout ends this wait,
			 * the handshake deadline is only a backstop behind it. */
			uv_timer_start(&v->timer, on_deadline,
				       (uint64_t)v->relay->auth_timeout_ms +
					   pg_broker_wait_ms(v->relay->broker),
				       0);
		}
		return;
	}
	const char *address = route_for(v->relay, v->user, v->groups);
	if (!address) {
		pg_audit(v->relay, "session-refused", PG_AUDIT_S("user", v->user),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("reason", "no browser host is configured for this user"));
		refuse(v, "no browser host is configured for this user",
		       "no [routes] entry and no [upstream] address for this user");
		return;
	}
	join_session(v, address);
}

void pg_handshake_route_done(struct pg_viewer *v, const char *address, const char *told)
{
	if (v->closing || v->state != V_LOGIN)
		return;
	if (address)
		join_session(v, address);
	else
		refuse(v, told, told);
}

static void send_challenge(struct pg_viewer *v)
{
	if (RAND_bytes(v->challenge, sizeof(v->challenge)) != 1) {
		pg_viewer_close(v, "no randomness for a VNC challenge");
		return;
	}
	v->sec_type = PG_RFB_SEC_VNC;
	pg_viewer_send(v, v->challenge, sizeof(v->challenge));
	v->state = V_VNCAUTH;
}

static void send_security_types(struct pg_viewer *v)
{
	uint8_t type = v->relay->security_none ? PG_RFB_SEC_NONE : PG_RFB_SEC_VENCRYPT;
	/* Legacy VNC authentication never on the web listener: browsers have VeNCrypt
	 * Plain inside the page's own TLS. */
	bool vnc = !v->relay->security_none && *v->relay->vnc_auth_user && !v->web;
	if (v->minor == 3) {
		/* RFB 3.3 lets the server pick, and VeNCrypt needs 3.7's negotiation. */
		if (vnc) {
			uint8_t t[4] = {0, 0, 0, PG_RFB_SEC_VNC};
			pg_viewer_send(v, t, 4);
			send_challenge(v);
			return;
		}
		if (type != PG_RFB_SEC_NONE) {
			static const char why[] = "pixelgate needs RFB 3.7 or later";
			uint8_t b[8 + sizeof(why) - 1];
			pg_wr32(b, 0);
			pg_wr32(b + 4, sizeof(why) - 1);
			memcpy(b + 8, why, sizeof(why) - 1);
			pg_viewer_send(v, b, sizeof(b));
			pg_viewer_close(v, "viewer speaks RFB 3.3, which cannot carry VeNCrypt");
			return;
		}
		uint8_t t[4] = {0, 0, 0, PG_RFB_SEC_NONE};
		pg_viewer_send(v, t, 4);
		v->sec_type = PG_RFB_SEC_NONE;
		join_session(v, v->relay->upstream_address);
		return;
	}
	uint8_t t[3] = {vnc ? 2 : 1, type, PG_RFB_SEC_VNC};
	pg_viewer_send(v, t, vnc ? 3 : 2);
	v->state = V_SECURITY;
}

static void start_vencrypt(struct pg_viewer *v)
{
	uint32_t offer[2];
	size_t n = 0;
	if (v->relay->tls)
		offer[n++] = PG_VENCRYPT_X509PLAIN;
	if (v->relay->anon)
		offer[n++] = PG_VENCRYPT_TLSPLAIN;
	struct pg_buf out;
	pg_buf_init(&out, 64);
	/* A web viewer is inside the web listener's TLS already: Plain, as noVNC speaks. */
	int rc = v->web ? pg_vencrypt_server_start_in_tls(&v->venc, &out)
			: pg_vencrypt_server_start(&v->venc, offer, n, &out);
	if (rc < 0) {
		pg_buf_free(&out);
		pg_viewer_close(v, "cannot start VeNCrypt");
		return;
	}
	pg_viewer_send(v, out.data, out.len);
	pg_buf_free(&out);
	v->state = V_VENCRYPT;
}

static ssize_t vencrypt_input(struct pg_viewer *v, const uint8_t *p, size_t len, const char **why)
{
	struct pg_buf out;
	pg_buf_init(&out, 64);
	ssize_t n = pg_vencrypt_server_parse(&v->venc, p, len, &out);
	if (out.len)
		pg_viewer_send(v, out.data, out.len);
	pg_buf_free(&out);
	if (n < 0) {
		*why = "VeNCrypt: the viewer asked for a version or subtype that was not offered";
		return n;
	}
	if (v->venc.phase == PG_VENCRYPT_TLS && v->venc.chosen == PG_VENCRYPT_PLAIN) {
		/* Offered only to web viewers, whose whole connection is TLS already. */
		if (!v->web) {
			*why = "VeNCrypt Plain without TLS";
			return PG_EPROTO;
		}
		v->state = V_CREDENTIALS;
	} else if (v->venc.phase == PG_VENCRYPT_TLS) {
		struct pg_tls_ctx *ctx =
		    pg_vencrypt_is_x509(v->venc.chosen) ? v->relay->tls : v->relay->anon;
		v->tls = pg_tls_new(ctx, NULL);
		if (!v->tls) {
			*why = "out of memory for TLS";
			return PG_ENOMEM;
		}
		v->state = V_TLS;
		pg_debug("viewer %llu %s: VeNCrypt %s, starting TLS", (unsigned long long)v->id,
			 v->peer, pg_vencrypt_name(v->venc.chosen));
	}
	return n;
}

void pg_handshake_tls_progress(struct pg_viewer *v)
{
	if (v->closing || v->state != V_TLS)
		return;
	int rc = pg_tls_feed(v->tls, v->raw.data, v->raw.len);
	if (rc == 0)
		pg_buf_reset(&v->raw);
	ssize_t out = 0;
	struct pg_buf ct;
	pg_buf_init(&ct, (size_t)1 << 20);
	if (rc >= 0 || rc == PG_ELIMIT)
		out = pg_tls_take_output(v->tls, &ct);
	/* Raw bytes: the TLS records are not encrypted again. */
	if (ct.len)
		pg_viewer_send(v, ct.data, ct.len);
	pg_buf_free(&ct);
	if ((rc < 0 && rc != PG_ELIMIT) || out < 0) {
		char reason[300];
		snprintf(reason, sizeof(reason), "TLS handshake failed: %s", pg_tls_error(v->tls));
		pg_audit_preauth(v, "tls-failure", PG_AUDIT_S("source", v->addr),
				 PG_AUDIT_S("reason", pg_tls_error(v->tls)));
		pg_viewer_close(v, reason);
		return;
	}
	if (!pg_tls_handshake_done(v->tls))
		return;
	pg_debug("viewer %llu %s: %s, %s", (unsigned long long)v->id, v->peer,
		 pg_tls_version(v->tls), pg_tls_cipher(v->tls));
	v->state = V_CREDENTIALS;
	if (pg_tls_read(v->tls, &v->in) < 0) {
		pg_viewer_close(v, pg_tls_error(v->tls));
		return;
	}
	pg_viewer_process_input(v);
}

static ssize_t credentials_input(struct pg_viewer *v, const uint8_t *p, size_t len,
				 const char **why)
{
	struct pg_vencrypt_plain c;
	ssize_t n = pg_vencrypt_parse_plain(p, len, &c);
	if (n == 0)
		return 0;
	if (n < 0) {
		*why = n == PG_ELIMIT ? "VeNCrypt Plain: user name or password over its limit"
				      : "VeNCrypt Plain: empty user name or a NUL byte";
		pg_metrics_auth_failure(v->relay->metrics, PG_AUTHF_PROTOCOL);
		pg_audit(v->relay, "auth-failure", PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("reason", *why));
		return n;
	}
	v->state = V_LOGIN;
	pg_login_start(v, c.user, c.password, c.password_len);
	pg_vencrypt_plain_wipe(&c);
	/* The caller consumes these bytes; the password in them goes now. */
	OPENSSL_cleanse((void *)p, (size_t)n);
	return n;
}

void pg_handshake_server_init(struct pg_viewer *v)
{
	if (v->relay->viewers >= v->relay->max_viewers) {
		pg_viewer_close(v, "too many viewers (relay.max_viewers)");
		return;
	}
	const struct pg_fb *fb = pg_session_fb(v->session);
	const char *name = pg_session_name(v->session);
	struct pg_buf b;
	pg_buf_init(&b, 64 + PG_RFB_NAME_OUT);
	v->vw = fb->w;
	v->vh = fb->h;
	v->pf = pg_pixfmt_canonical;
	if (pg_rfb_write_server_init(&b, fb->w, fb->h, name, strlen(name)) < 0) {
		pg_buf_free(&b);
		pg_viewer_close(v, "cannot build ServerInit");
		return;
	}
	pg_viewer_send(v, b.data, b.len);
	pg_buf_free(&b);
	uv_timer_stop(&v->timer); /* the ClientInit deadline; from now on it paces frames */
	v->relay->handshakes--;
	v->relay->viewers++;
	v->state = V_NORMAL;
	pg_info("viewer %llu %s%s%s: connected (RFB 3.%d, %dx%d, %s)", (unsigned long long)v->id,
		v->peer, *v->user ? " " : "", v->user, v->minor, fb->w, fb->h,
		v->tls ? pg_tls_version(v->tls) : "no TLS");
}

ssize_t pg_handshake_input(struct pg_viewer *v, const uint8_t *p, size_t len, const char **why)
{
	ssize_t n;
	switch (v->state) {
	case V_VERSION:
		n = pg_rfb_parse_version(p, len, &v->minor);
		if (n > 0)
			send_security_types(v);
		return n;
	case V_SECURITY:
		v->sec_type = p[0];
		if (v->relay->security_none && p[0] == PG_RFB_SEC_NONE)
			join_session(v, v->relay->upstream_address);
		else if (!v->relay->security_none && p[0] == PG_RFB_SEC_VENCRYPT)
			start_vencrypt(v);
		else if (!v->relay->security_none && p[0] == PG_RFB_SEC_VNC &&
			 *v->relay->vnc_auth_user)
			send_challenge(v);
		else {
			pg_audit_preauth(v, "message-blocked", PG_AUDIT_S("user", "-"),
					 PG_AUDIT_S("source", v->addr),
					 PG_AUDIT_S("reason", "security type not offered"),
					 PG_AUDIT_U("security_type", p[0]));
			pg_viewer_close(v, "viewer chose a security type that was not offered");
		}
		return 1;
	case V_VENCRYPT:
		return vencrypt_input(v, p, len, why);
	case V_CREDENTIALS:
		return credentials_input(v, p, len, why);
	case V_VNCAUTH:
		if (len < 16)
			return 0;
		v->state = V_LOGIN;
		pg_login_vncauth(v, v->challenge, p);
		return 16;
	case V_CLIENT_INIT:
		pg_handshake_server_init(v);
		return 1;
	case V_WEB_TLS:
	case V_HTTP:
	case V_TLS:
	case V_LOGIN:
	case V_WAIT_SESSION:
	case V_NORMAL:
		break;
	}
	return 0; /* keep the input until the state moves on */
}
