/* pixelgate: the main process. Reads the config, listens for viewers, runs the
 * one libuv loop. See docs/architecture.md. */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/rfb.h"
#include "auth/audit.h"
#include "auth/ldap.h"
#include "auth/lockout.h"
#include "auth/tls.h"
#include "auth/users.h"
#include "auth/vncauth.h"
#include "config/config.h"
#include "relay/broker.h"
#include "relay/admin.h"
#include "relay/channel.h"
#include "relay/control.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/sandbox.h"
#include "http/static.h"
#include "render/text.h"

#define PG_VERSION "0.1.0"

enum {
	O_LISTEN = 256,
	O_UPSTREAM,
	O_PASSFILE,
	O_FPS,
	O_SECURITY,
	O_USERS,
	O_LOGLEVEL,
	O_PRINT,
	O_RELOAD,
};

/* One loaded configuration and what was read because of it: a reload makes a new
 * one, checks it whole, then swaps it in. The old one waits until no login on the
 * thread pool can still read its users or LDAP settings. */
struct pg_gen {
	/* secrets first: wiped up to cfg when freed */
	char ldap_password[256];
	char vnc_auth_password[16];
	char admin_token[256];
	struct pg_upstream_login upstream;
	struct pg_upstream_login *hosts;
	int nhosts;
	struct pg_users *users;
	struct pg_ldap_config ldap;
	bool has_ldap;
	uid_t sandbox_uid; /* [sandbox] user, resolved */
	gid_t sandbox_gid;
	struct pg_gen *next; /* in the retired list */
	struct pg_config cfg;
};

struct override {
	int opt;
	const char *value;
};

struct main_state {
	struct pg_relay relay;
	uv_tcp_t listener;
	uv_tcp_t web_listener;
	bool web_on;
	uv_signal_t sigint, sigterm, sighup;
	bool stopping;
	const char *config_path;
	struct override overrides[16];
	int noverrides;
	struct pg_gen *gen;
	struct pg_gen *retired;
	struct pg_control *control;
	struct pg_admin *admin;
	bool listeners_closed;
	uv_timer_t drain_timer; /* while draining: are the viewers gone, is time up */
	bool drain_timer_open;
	uint64_t drain_deadline_ms;
};

#define DRAIN_POLL_MS 100
#define DRAIN_TEXT                                                                                 \
	"このリレーは再起動します。接続し直してください。\n"               \
	"This relay is restarting; reconnect to continue."

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pixelgate [options]\n"
	    "  -c, --config FILE               read settings from an INI file\n"
	    "  -n, --check                     check the configuration and exit (0 when valid)\n"
	    "      --listen ADDR:PORT          where viewers connect (relay.listen)\n"
	    "      --upstream HOST:PORT        the browser host's VNC server (upstream.address)\n"
	    "      --upstream-password-file F  the browser host's VNC password "
	    "(upstream.password_file)\n"
	    "      --max-fps N                 frame-rate cap per viewer (relay.max_fps)\n"
	    "      --log-level LEVEL           error, warn, info or debug (relay.log_level)\n"
	    "      --print-config              print the effective configuration and exit\n"
	    "      --reload                    tell the running relay (relay.control_socket) to\n"
	    "                                  re-read its configuration, and print its answer\n"
	    "  -V, --version                   print the version and exit\n"
	    "  -h, --help                      this text\n"
	    "Command-line options override the file. See docs/configuration.md.\n");
}

/* name in the folder of the relay's own binary. */
static int find_next_to_self(const char *name, char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -1;
	self[n] = '\0';
	snprintf(out, size, "%s/%s", dirname(self), name);
	return 0;
}

/* Where `cmake --install` (and so the Debian package) puts the helpers and the
 * viewer page, relative to the folder of the relay's binary: ../lib/pixelgate and
 * ../share/pixelgate/web for /usr/bin/pixelgate. Relative, so an install under any
 * prefix finds its own files. */
#ifndef PG_BIN_TO_HELPERS
#define PG_BIN_TO_HELPERS "../lib/pixelgate"
#endif
#ifndef PG_BIN_TO_WEB
#define PG_BIN_TO_WEB "../share/pixelgate/web"
#endif

static int find_worker(char *out, size_t size)
{
	const char *env = getenv("PIXELGATE_WORKER");
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, X_OK);
	}
	/* Next to the relay binary (the build folder), else where the install put it. */
	if (find_next_to_self("pixelgate-worker", out, size) < 0)
		return -1;
	if (access(out, X_OK) == 0)
		return 0;
	if (find_next_to_self(PG_BIN_TO_HELPERS "/pixelgate-worker", out, size) < 0)
		return -1;
	return access(out, X_OK);
}

/* The viewer page when [web] root is not set: web/ next to the binary (the build
 * folder), else the installed one. */
static void find_web_root(char *out, size_t size)
{
	if (find_next_to_self("web", out, size) == 0 && access(out, F_OK) == 0)
		return;
	if (find_next_to_self(PG_BIN_TO_WEB, out, size) == 0 && access(out, F_OK) == 0)
		return;
	snprintf(out, size, "web");
}

static void on_listener_closed(uv_handle_t *h)
{
}

static void close_listeners(struct main_state *st)
{
	if (st->listeners_closed)
		return;
	st->listeners_closed = true;
	uv_close((uv_handle_t *)&st->listener, on_listener_closed);
	if (st->web_on)
		uv_close((uv_handle_t *)&st->web_listener, on_listener_closed);
}

static void shutdown_relay(struct main_state *st, const char *why)
{
	if (st->stopping)
		return;
	st->stopping = true;
	pg_info("shutting down (%s)", why);
	close_listeners(st);
	if (st->drain_timer_open) {
		uv_close((uv_handle_t *)&st->drain_timer, NULL);
		st->drain_timer_open = false;
	}
	pg_admin_stop(st->admin);
	st->admin = NULL;
	uv_close((uv_handle_t *)&st->sigint, NULL);
	uv_close((uv_handle_t *)&st->sigterm, NULL);
	uv_close((uv_handle_t *)&st->sighup, NULL);
	uv_close((uv_handle_t *)&st->relay.flood_timer, NULL);
	uv_close((uv_handle_t *)&st->relay.guard_timer, NULL);
	uv_close((uv_handle_t *)&st->relay.rec_sweep, NULL);
	uv_close((uv_handle_t *)&st->relay.mark_timer, NULL);
	pg_control_stop(st->control);
	st->control = NULL;
	st->relay.stopping = true;
	pg_broker_stop(st->relay.broker);
	pg_viewer_close_all(&st->relay, "relay shutting down");
	while (st->relay.nsessions)
		pg_session_del(st->relay.sessions[0]);
	pg_audit(&st->relay, "relay-stop", PG_AUDIT_S("reason", why));
}

static int pg_relay_reload(struct main_state *st, const char *why, char *out, size_t size);

static void on_sighup(uv_signal_t *h, int signum)
{
	struct main_state *st = h->data;
	char err[256];
	static char out[16384];
	/* logrotate renamed the audit file: continue the chain in a new one. */
	if (st->relay.audit && pg_audit_reopen(st->relay.audit, err, sizeof(err)) < 0)
		pg_err("audit: cannot reopen: %s", err);
	else if (st->relay.audit)
		pg_info("SIGHUP: audit file reopened");
	pg_relay_reload(st, "SIGHUP", out, sizeof(out));
}

static int on_control(void *ud, const char *cmd, char *out, size_t size)
{
	struct main_state *st = ud;
	if (!strcmp(cmd, "reload"))
		return pg_relay_reload(st, "control socket", out, size);
	if (!strcmp(cmd, "status")) {
		snprintf(out, size,
			 "ok: %d viewers logged in, %d logging in, %d sessions, %llu reloads%s\n",
			 st->relay.viewers, st->relay.handshakes, st->relay.nsessions,
			 (unsigned long long)st->relay.reloads,
			 st->relay.draining ? ", draining" : "");
		return 0;
	}
	snprintf(out, size, "error: unknown command '%s' (reload, status)\n", cmd);
	return -1;
}

void pg_relay_audit_result(int rc, const char *event)
{
	if (rc < 0)
		pg_err("audit: cannot write a %s record: %s", event, strerror(-rc));
}

static void on_drain_tick(uv_timer_t *t)
{
	struct main_state *st = t->data;
	if (!st->relay.viewers && !st->relay.handshakes)
		shutdown_relay(st, "SIGTERM: every viewer has left");
	else if (pg_now_ms() >= st->drain_deadline_ms)
		shutdown_relay(st, "SIGTERM: drain_timeout reached");
}

/* SIGTERM: take no one new, say so on /healthz (the load balancer stops sending
 * viewers here) and in every viewer's picture, and let viewers leave on their own
 * until drain_timeout. */
static void start_drain(struct main_state *st, int seconds)
{
	struct pg_relay *relay = &st->relay;
	relay->draining = true;
	close_listeners(st);
	pg_info("SIGTERM: draining: listeners closed; %d viewers have %d s to leave (a second "
		"SIGTERM or SIGINT stops at once)",
		relay->viewers, seconds);
	pg_audit(relay, "relay-drain", PG_AUDIT_I("viewers", relay->viewers),
		 PG_AUDIT_I("drain_timeout", seconds));
	pg_guard_drain(relay, DRAIN_TEXT);
	st->drain_deadline_ms = pg_now_ms() + (uint64_t)seconds * 1000;
	uv_timer_init(relay->loop, &st->drain_timer);
	st->drain_timer.data = st;
	st->drain_timer_open = true;
	uv_timer_start(&st->drain_timer, on_drain_tick, DRAIN_POLL_MS, DRAIN_POLL_MS);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct main_state *st = h->data;
	int drain = st->gen ? st->gen->cfg.relay_drain_timeout : 0;
	if (signum == SIGTERM && !st->relay.draining && drain > 0) {
		start_drain(st, drain);
		return;
	}
	shutdown_relay(st, signum == SIGINT	? "SIGINT"
			   : st->relay.draining ? "second SIGTERM while draining"
						: "SIGTERM");
}

static void on_connection(uv_stream_t *server, int status)
{
	struct main_state *st = server->data;
	if (status < 0) {
		pg_viewer_accept_failed(&st->relay, status);
		return;
	}
	if (server == (uv_stream_t *)&st->web_listener) {
		pg_viewer_accept(&st->relay, server, true);
		return;
	}
	pg_viewer_accept(&st->relay, server, false);
}

static int start_listener(struct main_state *st, uv_tcp_t *l, const char *host, int port,
			  const char *what)
{
	struct sockaddr_storage ss;
	int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	if (rc < 0)
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	if (rc < 0 && !strcmp(host, "localhost"))
		rc = uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&ss);
	if (rc < 0) {
		pg_err("[relay] listen: '%s' is not an IP address", host);
		return -1;
	}
	uv_tcp_init(st->relay.loop, l);
	l->data = st;
	rc = uv_tcp_bind(l, (struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)l, SOMAXCONN, on_connection);
	if (rc < 0) {
		pg_err("cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
		return -1;
	}
	pg_info("listening for %s on %s:%d", what, host, port);
	return 0;
}

static int load_password(char out[128], const char *path, const char *where,
			 struct pg_config_errors *errs)
{
	if (!*path)
		return 0;
	int rc = pg_vncauth_read_password_file(path, out, 128);
	if (rc < 0) {
		pg_config_error(errs, "%s password_file '%s': cannot read a password: %s", where,
				path, strerror(-rc));
		return -1;
	}
	return 0;
}

/* [upstream] for every browser host, then each [host] section over it. */
static int setup_upstream(struct pg_gen *g, struct pg_config_errors *errs)
{
	const struct pg_config *cfg = &g->cfg;
	struct pg_upstream_login *u = &g->upstream;
	u->tls = strcmp(cfg->upstream_tls, "x509") ? PG_CHAN_TLS_NONE : PG_CHAN_TLS_X509;
	snprintf(u->ca_file, sizeof(u->ca_file), "%s", cfg->upstream_ca_file);
	snprintf(u->pin, sizeof(u->pin), "%s", cfg->upstream_pin_sha256);
	if (load_password(u->password, cfg->upstream_password_file, "[upstream]", errs) < 0)
		return -1;
	/* Resolved now, so a typo is a config error rather than a worker that cannot
	 * start; it matters only when the relay runs as root. */
	struct passwd *pw = getpwnam(cfg->sandbox_user);
	if (!pw || pw->pw_uid == 0 || pw->pw_gid == 0) {
		pg_config_error(errs,
				"[sandbox] user '%s': %s (expected an unprivileged user, such as "
				"nobody, for the upstream workers)",
				cfg->sandbox_user,
				pw ? "is root or in group root" : "no such user");
		return -1;
	}
	g->sandbox_uid = pw->pw_uid;
	g->sandbox_gid = pw->pw_gid;
	g->hosts = calloc((size_t)cfg->nhosts + 1, sizeof(*g->hosts));
	if (!g->hosts)
		return -1;
	for (int i = 0; i < cfg->nhosts; i++) {
		const struct pg_host_cfg *h = &cfg->hosts[i];
		struct pg_upstream_login *l = &g->hosts[g->nhosts++];
		char where[320];
		*l = *u;
		snprintf(l->address, sizeof(l->address), "%s", h->address);
		snprintf(where, sizeof(where), "[host %s]", h->address);
		if (*h->tls)
			l->tls = strcmp(h->tls, "x509") ? PG_CHAN_TLS_NONE : PG_CHAN_TLS_X509;
		if (*h->ca_file)
			snprintf(l->ca_file, sizeof(l->ca_file), "%s", h->ca_file);
		if (*h->pin_sha256)
			snprintf(l->pin, sizeof(l->pin), "%s", h->pin_sha256);
		if (*h->password_file &&
		    load_password(l->password, h->password_file, where, errs) < 0)
			return -1;
	}
	return 0;
}

/* LDAP settings: strings point into the generation's config. */
static int setup_ldap(struct pg_gen *g, struct pg_config_errors *errs)
{
	char err[512];
	const struct pg_config *cfg = &g->cfg;
	struct pg_ldap_config *l = &g->ldap;
#define OPT(s) (*(s) ? (s) : NULL)
	l->uri = cfg->ldap_uri;
	l->starttls = cfg->ldap_starttls;
	l->allow_plain = cfg->ldap_allow_plain;
	l->ca_file = OPT(cfg->ldap_ca_file);
	l->bind_dn = OPT(cfg->ldap_bind_dn);
	l->user_dn_template = OPT(cfg->ldap_user_dn_template);
	l->base_dn = OPT(cfg->ldap_base_dn);
	l->user_filter = OPT(cfg->ldap_user_filter);
	l->group_attr = OPT(cfg->ldap_group_attr);
	l->group_base_dn = OPT(cfg->ldap_group_base_dn);
	l->group_filter = OPT(cfg->ldap_group_filter);
#undef OPT
	l->group_map = (const char *const *)cfg->ldap_group_map;
	l->group_map_count = (size_t)cfg->nldap_group_map;
	l->timeout_ms = (unsigned)cfg->ldap_timeout;
	if (*cfg->ldap_bind_password_file) {
		/* The first line, as for every secret file; not the VNC password reader, which
		 * would take an 8-byte file for an obfuscated vncpasswd file. */
		FILE *f = fopen(cfg->ldap_bind_password_file, "r");
		if (!f || !fgets(g->ldap_password, sizeof(g->ldap_password), f)) {
			pg_config_error(errs,
					"[ldap] bind_password_file '%s': cannot read a password",
					cfg->ldap_bind_password_file);
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
		g->ldap_password[strcspn(g->ldap_password, "\r\n")] = '\0';
		l->bind_password = g->ldap_password;
	}
	if (pg_ldap_check_config(l, err, sizeof(err)) < 0) {
		pg_config_error(errs, "[ldap] %s", err);
		return -1;
	}
	g->has_ldap = true;
	return 0;
}

/* What a reload replaces: users, LDAP, browser host logins, legacy VNC login. */
static int load_gen(struct pg_gen *g, struct pg_config_errors *errs)
{
	char err[512];
	const struct pg_config *cfg = &g->cfg;
	if (setup_upstream(g, errs) < 0)
		return -1;
	if (*cfg->admin_token_file) {
		const char *why;
		if (pg_admin_read_token(cfg->admin_token_file, g->admin_token,
					sizeof(g->admin_token), &why) < 0) {
			pg_config_error(errs, "[admin] token_file '%s': %s", cfg->admin_token_file,
					why);
			return -1;
		}
	}
	if (!strcmp(cfg->relay_security, "none"))
		return 0;
	if (*cfg->relay_users_file &&
	    pg_users_load(cfg->relay_users_file, &g->users, err, sizeof(err)) < 0) {
		pg_config_error(errs, "[relay] users_file: %s", err);
		return -1;
	}
	if (*cfg->ldap_uri && setup_ldap(g, errs) < 0)
		return -1;
	if (*cfg->relay_vnc_auth_user) {
		int rc = pg_vncauth_read_password_file(cfg->relay_vnc_auth_password_file,
						       g->vnc_auth_password,
						       sizeof(g->vnc_auth_password));
		if (rc < 0) {
			pg_config_error(errs,
					"[relay] vnc_auth_password_file '%s': cannot read a "
					"password: %s",
					cfg->relay_vnc_auth_password_file, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static void free_gen(struct pg_gen *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nhosts; i++)
		explicit_bzero(&g->hosts[i], sizeof(g->hosts[i]));
	free(g->hosts);
	pg_users_del(g->users);
	explicit_bzero(g, offsetof(struct pg_gen, cfg)); /* passwords */
	pg_config_free(&g->cfg);
	free(g);
}

/* Point the relay at a generation's settings. */
static void apply_gen(struct pg_relay *relay, struct pg_gen *g)
{
	const struct pg_config *cfg = &g->cfg;
	relay->upstream = g->upstream;
	relay->hosts = g->hosts;
	relay->nhosts = g->nhosts;
	relay->users = g->users;
	relay->ldap = g->has_ldap ? &g->ldap : NULL;
	relay->routes = cfg->routes;
	relay->nroutes = cfg->nroutes;
	relay->policy = &cfg->policy;
	relay->audit_clipboard_text = cfg->relay_audit_clipboard_text;
	relay->web_origins = cfg->web_origins;
	relay->max_fps = cfg->relay_max_fps;
	relay->max_bandwidth = cfg->relay_max_bandwidth;
	relay->adaptive_quality = cfg->relay_adaptive_quality;
	relay->refine_delay_ms = cfg->relay_refine_delay;
	relay->max_viewers = cfg->relay_max_viewers;
	relay->max_handshakes = cfg->relay_max_handshakes;
	relay->max_handshakes_per_source = cfg->relay_max_handshakes_per_source;
	relay->reconnect_max_ms = cfg->upstream_reconnect_max * 1000;
	relay->worker = (struct pg_worker_limits){
	    .max_width = cfg->upstream_max_width,
	    .max_height = cfg->upstream_max_height,
	    .update_timeout_ms = cfg->upstream_update_timeout * 1000,
	    .stall_timeout_ms = cfg->upstream_stall_timeout * 1000,
	    .uid = g->sandbox_uid,
	    .gid = g->sandbox_gid,
	    .memory_mib = cfg->sandbox_memory_limit,
	    .cpu_seconds = cfg->sandbox_cpu_limit,
	    .encoding = !strcmp(cfg->upstream_encoding, "raw")	  ? PG_ENC_RAW
			: !strcmp(cfg->upstream_encoding, "zrle") ? PG_ENC_ZRLE
								  : PG_ENC_TIGHT,
	};
	relay->resize_follow = !strcmp(cfg->upstream_resize, "follow");
	relay->auth_timeout_ms = cfg->relay_auth_timeout * 1000;
	relay->linger_ms = cfg->broker_linger * 1000;
	relay->rec_max_bytes = (uint64_t)cfg->recording_max_file_size << 20;
	relay->rec_max_queue = (size_t)cfg->recording_max_queue << 20;
	relay->rec_fps = cfg->recording_fps;
	relay->rec_key_ms = cfg->recording_keyframe_interval * 1000;
	relay->rec_max_age_days = cfg->recording_max_age;
	relay->send_timeout_ms = cfg->relay_send_timeout * 1000;
	relay->takeover = !strcmp(cfg->relay_session_share, "takeover");
	snprintf(relay->upstream_address, sizeof(relay->upstream_address), "%s",
		 cfg->upstream_address);
	snprintf(relay->totp_groups, sizeof(relay->totp_groups), "%s", cfg->relay_totp_groups);
	snprintf(relay->vnc_auth_user, sizeof(relay->vnc_auth_user), "%s",
		 cfg->relay_vnc_auth_user);
	memcpy(relay->vnc_auth_password, g->vnc_auth_password, sizeof(relay->vnc_auth_password));
	pg_log_set_level(cfg->relay_log_level);
	pg_log_set_format(cfg->relay_log_format);
}

/* [relay] proxy_protocol_from: comma-separated CIDRs, or empty. */
static int parse_proxy_nets(struct pg_relay *relay, const char *value,
			    struct pg_config_errors *errs)
{
	char buf[4096], *save = NULL;
	relay->nproxy_nets = 0;
	if (strlen(value) >= sizeof(buf)) {
		pg_config_error(errs, "[relay] proxy_protocol_from is too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (relay->nproxy_nets == PG_POLICY_MAX_NETS) {
			pg_config_error(errs, "[relay] proxy_protocol_from: more than %d networks",
					PG_POLICY_MAX_NETS);
			return -1;
		}
		int rc = pg_policy_parse_cidr(tok, &relay->proxy_nets[relay->nproxy_nets]);
		if (rc < 0) {
			pg_config_error(
			    errs,
			    "[relay] proxy_protocol_from: '%s' %s (expected comma-separated "
			    "addresses or CIDRs of the load balancers, such as 10.0.0.5/32)",
			    tok,
			    rc == -2 ? "has host bits set beyond its prefix"
				     : "is not an address or CIDR");
			return -1;
		}
		relay->nproxy_nets++;
	}
	return 0;
}

/* What does not change without a restart: the listener, viewer TLS, the audit trail. */
static int setup_fixed(struct pg_relay *relay, const struct pg_config *cfg, bool open_audit,
		       struct pg_config_errors *errs)
{
	char err[512];
	relay->security_none = !strcmp(cfg->relay_security, "none");
	if (open_audit && *cfg->relay_audit_file) {
		relay->audit = pg_audit_open(
		    cfg->relay_audit_file,
		    *cfg->relay_audit_syslog ? cfg->relay_audit_syslog : NULL, err, sizeof(err));
		if (!relay->audit) {
			pg_config_error(errs, "[relay] audit_file: %s", err);
			return -1;
		}
		/* Synced on a thread of its own: a disk busy with other writes must
		 * not stall the event loop, and so every viewer, for each record. */
		int rc = pg_audit_set_sync(relay->audit, PG_AUDIT_SYNC_BEHIND);
		if (rc) {
			pg_config_error(errs,
					"[relay] audit_file: cannot start its syncing thread: %s",
					strerror(-rc));
			return -1;
		}
	}
	if (parse_proxy_nets(relay, cfg->relay_proxy_protocol_from, errs) < 0)
		return -1;
	relay->lockout = pg_lockout_new(NULL);
	if (!relay->lockout)
		return -1;
	/* With security = none the certificate serves only the web listener. */
	if (*cfg->relay_tls_cert && (!relay->security_none || *cfg->web_listen)) {
		relay->tls = pg_tls_ctx_new_server(cfg->relay_tls_cert, cfg->relay_tls_key, err,
						   sizeof(err));
		if (!relay->tls) {
			pg_config_error(errs, "[relay] tls_cert/tls_key: %s", err);
			return -1;
		}
	}
	if (relay->security_none)
		return 0;
	if (cfg->relay_tls_anon) {
		relay->anon = pg_tls_ctx_new_anon_server(err, sizeof(err));
		if (!relay->anon) {
			pg_config_error(errs, "[relay] tls_anon: %s", err);
			return -1;
		}
		if (open_audit)
			pg_warn("[relay] tls_anon = 1: viewers may log in over anonymous TLS "
				"(TLSPlain), which an attacker in the path can intercept; prefer "
				"X509Plain");
	}
	if (open_audit && *cfg->relay_vnc_auth_user)
		pg_warn("[relay] vnc_auth_user = %s: legacy VNC authentication is on. Its DES "
			"challenge is weak, passwords count only 8 characters and the session is "
			"not encrypted; use it only where VeNCrypt is impossible",
			cfg->relay_vnc_auth_user);
	return 0;
}

/* The config file, then the command line over it, whatever their order. */
static int read_config(struct main_state *st, struct pg_config *cfg, struct pg_config_errors *errs)
{
	static const char *const keys[][2] = {
	    [O_LISTEN - O_LISTEN] = {"relay", "listen"},
	    [O_UPSTREAM - O_LISTEN] = {"upstream", "address"},
	    [O_PASSFILE - O_LISTEN] = {"upstream", "password_file"},
	    [O_FPS - O_LISTEN] = {"relay", "max_fps"},
	    [O_SECURITY - O_LISTEN] = {"relay", "security"},
	    [O_USERS - O_LISTEN] = {"relay", "users_file"},
	    [O_LOGLEVEL - O_LISTEN] = {"relay", "log_level"},
	};
	int failed = 0;
	if (st->config_path && pg_config_load(cfg, st->config_path, errs) < 0)
		failed = 1;
	for (int i = 0; i < st->noverrides; i++) {
		const struct override *o = &st->overrides[i];
		if (pg_config_set(cfg, keys[o->opt - O_LISTEN][0], keys[o->opt - O_LISTEN][1],
				  o->value, "command line", errs) < 0)
			failed = 1;
	}
	if (!failed && pg_config_check(cfg, errs) < 0)
		failed = 1;
	return failed ? -1 : 0;
}

static void report(struct pg_config_errors *errs, char *out, size_t size)
{
	size_t o = out ? strlen(out) : 0;
	for (int i = 0; i < errs->count; i++) {
		pg_err("%s", errs->msg[i]);
		if (out && o < size)
			o += (size_t)snprintf(out + o, size - o, "error: %s\n", errs->msg[i]);
	}
}

/* Free retired generations once no login on the thread pool can still use them. */
static void free_retired(struct main_state *st)
{
	if (st->relay.login_jobs)
		return;
	while (st->retired) {
		struct pg_gen *g = st->retired;
		st->retired = g->next;
		free_gen(g);
	}
}

static void on_mark_timer(uv_timer_t *t)
{
	pg_vmark_fix_moved(t->data);
}

static void on_rec_sweep(uv_timer_t *t)
{
	pg_record_sweep(t->data);
}

static void on_guard_tick(uv_timer_t *t)
{
	struct main_state *st = t->data;
	pg_guard_tick(&st->relay);
	for (int i = 0; i < st->relay.nsessions; i++)
		pg_session_tick(st->relay.sessions[i]);
	free_retired(st);
}

/* -n: the upstream workers' caps, and their lockdown tried for real in a child
 * (this host's kernel or container may refuse namespaces). 0, or 1 when a worker
 * could not lock itself down here and so could not run. */
static int check_sandbox(const struct pg_gen *g)
{
	const struct pg_config *cfg = &g->cfg;
	printf("upstream workers: framebuffer up to %dx%d, update_timeout %d s, stall_timeout "
	       "%d s; as root they run as %s (uid %u), address space %d MiB, CPU %d s\n",
	       cfg->upstream_max_width, cfg->upstream_max_height, cfg->upstream_update_timeout,
	       cfg->upstream_stall_timeout, cfg->sandbox_user, (unsigned)g->sandbox_uid,
	       cfg->sandbox_memory_limit, cfg->sandbox_cpu_limit);
	fflush(stdout);
	struct {
		int rc;
		struct pg_sandbox_report rep;
		char err[256];
	} res = {.rc = -1};
	int p[2];
	if (pipe(p) < 0)
		return 0;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct pg_sandbox_opts o = {
		    .uid = g->sandbox_uid,
		    .gid = g->sandbox_gid,
		    .address_space = (uint64_t)cfg->sandbox_memory_limit << 20,
		    .cpu_seconds = (uint64_t)cfg->sandbox_cpu_limit,
		    .keep_fds = &p[1],
		    .nkeep = 1,
		};
		res.rc = pg_sandbox_enter(&o, &res.rep, res.err, sizeof(res.err));
		(void)!write(p[1], &res, sizeof(res));
		_exit(0);
	}
	close(p[1]);
	bool got = pid > 0 && read(p[0], &res, sizeof(res)) == (ssize_t)sizeof(res);
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (!got || res.rc < 0) {
		fprintf(stderr,
			"pixelgate: [sandbox]: an upstream worker cannot lock itself down "
			"here: %s\n",
			got ? res.err : "the check did not finish");
		return 1;
	}
	printf("upstream workers: sandbox tried here: namespaces %s, %s, seccomp filter %s%s%s\n",
	       res.rep.namespaces ? "yes" : "no",
	       !res.rep.user	? "same user as the relay"
	       : geteuid() == 0 ? "unprivileged user"
				: "user namespace",
	       res.rep.seccomp ? "yes" : "no", *res.rep.note ? "; " : "", res.rep.note);
	return 0;
}

/* Keys that need a restart: a reload keeps their old values and says so. */
static void note_fixed(const struct pg_config *a, const struct pg_config *b, char *out, size_t size)
{
	const struct {
		const char *name, *x, *y;
	} keys[] = {
	    {"relay.listen", a->relay_listen, b->relay_listen},
	    {"relay.security", a->relay_security, b->relay_security},
	    {"relay.tls_cert", a->relay_tls_cert, b->relay_tls_cert},
	    {"relay.tls_key", a->relay_tls_key, b->relay_tls_key},
	    {"relay.audit_file", a->relay_audit_file, b->relay_audit_file},
	    {"relay.audit_syslog", a->relay_audit_syslog, b->relay_audit_syslog},
	    {"relay.control_socket", a->relay_control_socket, b->relay_control_socket},
	    {"relay.font", a->relay_font, b->relay_font},
	    {"relay.proxy_protocol_from", a->relay_proxy_protocol_from,
	     b->relay_proxy_protocol_from},
	    {"web.listen", a->web_listen, b->web_listen},
	    {"web.root", a->web_root, b->web_root},
	    {"broker.mode", a->broker_mode, b->broker_mode},
	    {"broker.hosts", a->broker_hosts, b->broker_hosts},
	    {"broker.spawn_command", a->broker_spawn_command, b->broker_spawn_command},
	    {"broker.spawn_networks", a->broker_spawn_networks, b->broker_spawn_networks},
	    {"admin.listen", a->admin_listen, b->admin_listen},
	    {"admin.allow_remote", a->admin_allow_remote, b->admin_allow_remote},
	    {"recording.directory", a->recording_directory, b->recording_directory},
	};
	size_t o = strlen(out);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!strcmp(keys[i].x, keys[i].y))
			continue;
		pg_warn("reload: %s changed; it takes effect after a restart", keys[i].name);
		if (o < size)
			o += (size_t)snprintf(out + o, size - o,
					      "note: %s changed; it takes effect after a restart\n",
					      keys[i].name);
	}
	const struct {
		const char *name;
		int x, y;
	} ints[] = {
	    {"relay.tls_anon", a->relay_tls_anon, b->relay_tls_anon},
	    {"broker.max_sessions_per_host", a->broker_max_sessions_per_host,
	     b->broker_max_sessions_per_host},
	    {"broker.check_interval", a->broker_check_interval, b->broker_check_interval},
	    {"broker.check_timeout", a->broker_check_timeout, b->broker_check_timeout},
	    {"broker.fail_after", a->broker_fail_after, b->broker_fail_after},
	    {"broker.recover_after", a->broker_recover_after, b->broker_recover_after},
	    {"broker.spawn_timeout", a->broker_spawn_timeout, b->broker_spawn_timeout},
	    {"broker.stop_timeout", a->broker_stop_timeout, b->broker_stop_timeout},
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		if (ints[i].x == ints[i].y)
			continue;
		pg_warn("reload: %s changed; it takes effect after a restart", ints[i].name);
		if (o < size)
			o += (size_t)snprintf(out + o, size - o,
					      "note: %s changed; it takes effect after a restart\n",
					      ints[i].name);
	}
}

static int pg_relay_reload(struct main_state *st, const char *why, char *out, size_t size)
{
	struct pg_config_errors errs = {.count = 0};
	struct pg_gen *g = calloc(1, sizeof(*g));
	out[0] = '\0';
	if (!g) {
		snprintf(out, size, "error: out of memory\n");
		return -1;
	}
	pg_config_init(&g->cfg);
	if (read_config(st, &g->cfg, &errs) < 0 || load_gen(g, &errs) < 0) {
		pg_err("reload (%s): the new configuration is not valid; the old one stays", why);
		report(&errs, out, size);
		pg_audit(&st->relay, "config-reload", PG_AUDIT_S("result", "rejected"),
			 PG_AUDIT_S("trigger", why), PG_AUDIT_S("config", st->config_path),
			 PG_AUDIT_S("error", errs.count ? errs.msg[0] : "out of memory"));
		free_gen(g);
		size_t o = strlen(out);
		snprintf(out + o, size - o,
			 "rejected: the relay keeps its running configuration\n");
		return -1;
	}
	note_fixed(&st->gen->cfg, &g->cfg, out, size);
	/* The last accepted TOTP step lives in memory only: carried over, a code used
	 * just before the reload cannot be used again after it. */
	for (size_t i = 0; g->users && st->gen->users && i < pg_users_count(st->gen->users); i++) {
		const struct pg_user *u = pg_users_at(st->gen->users, i);
		if (pg_users_totp_last_step(u))
			pg_users_set_totp_last_step(g->users, pg_users_name(u),
						    pg_users_totp_last_step(u));
	}
	struct pg_gen *old = st->gen;
	apply_gen(&st->relay, g);
	pg_admin_set_token(st->admin, g->admin_token);
	st->gen = g;
	old->next = st->retired;
	st->retired = old;
	st->relay.reloads++;
	pg_guard_refresh_users(&st->relay);
	pg_guard_reload(&st->relay);
	free_retired(st);
	pg_info("reload (%s): configuration %s applied (%d viewers)", why,
		st->config_path ? st->config_path : "(command line)", st->relay.viewers);
	pg_audit(&st->relay, "config-reload", PG_AUDIT_S("result", "applied"),
		 PG_AUDIT_S("trigger", why), PG_AUDIT_S("config", st->config_path),
		 PG_AUDIT_I("viewers", st->relay.viewers));
	size_t o = strlen(out);
	snprintf(out + o, size - o, "ok: configuration applied to %d viewers\n", st->relay.viewers);
	return 0;
}

int main(int argc, char **argv)
{
	static struct main_state st;
	struct pg_config_errors errs = {.count = 0};
	bool check_only = false, print = false, reload = false;

	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'n'},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"upstream", required_argument, NULL, O_UPSTREAM},
	    {"upstream-password-file", required_argument, NULL, O_PASSFILE},
	    {"max-fps", required_argument, NULL, O_FPS},
	    {"security", required_argument, NULL, O_SECURITY},
	    {"users-file", required_argument, NULL, O_USERS},
	    {"log-level", required_argument, NULL, O_LOGLEVEL},
	    {"print-config", no_argument, NULL, O_PRINT},
	    {"reload", no_argument, NULL, O_RELOAD},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	int c;
	while ((c = getopt_long(argc, argv, "c:nVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			st.config_path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'V':
			printf("pixelgate %s\n", PG_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case O_PRINT:
			print = true;
			break;
		case O_RELOAD:
			reload = true;
			break;
		case O_LISTEN:
		case O_UPSTREAM:
		case O_PASSFILE:
		case O_FPS:
		case O_SECURITY:
		case O_USERS:
		case O_LOGLEVEL:
			if (st.noverrides ==
			    (int)(sizeof(st.overrides) / sizeof(st.overrides[0]))) {
				fprintf(stderr, "pixelgate: too many options\n");
				return 2;
			}
			st.overrides[st.noverrides++] = (struct override){c, optarg};
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pixelgate: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	struct pg_gen *g = calloc(1, sizeof(*g));
	if (!g)
		return 1;
	pg_config_init(&g->cfg);
	struct pg_config *cfg = &g->cfg;
	int bad = read_config(&st, cfg, &errs);
	if (reload && *cfg->relay_control_socket) {
		/* The relay checks the file itself and answers with every error, so a
		 * rejected reload is in its log and audit trail too. */
		int rc = pg_control_request(cfg->relay_control_socket, "reload", stdout, stderr);
		free_gen(g);
		return rc < 0 ? 1 : 0;
	}
	if (bad < 0) {
		for (int i = 0; i < errs.count; i++)
			fprintf(stderr, "pixelgate: %s\n", errs.msg[i]);
		fprintf(stderr, "pixelgate: configuration is not valid\n");
		free_gen(g);
		return 1;
	}
	if (reload) {
		fprintf(stderr, "pixelgate: --reload needs [relay] control_socket in the "
				"configuration (or send SIGHUP to the relay)\n");
		free_gen(g);
		return 1;
	}
	if (print)
		pg_config_print(cfg, stdout);
	if (check_only || print) {
		int rc = 0;
		if (check_only) {
			/* Load what the relay would load (certificate, key, users), so a
			 * config that -n passes also starts. */
			struct pg_relay probe = {0};
			char err[512];
			rc = setup_fixed(&probe, cfg, false, &errs) < 0 || load_gen(g, &errs) < 0;
			for (int i = 0; i < errs.count; i++)
				fprintf(stderr, "pixelgate: %s\n", errs.msg[i]);
			struct pg_font *font = pg_font_open(cfg->relay_font, 0, err, sizeof(err));
			if (!font)
				fprintf(stderr,
					"pixelgate: warning: [relay] font: %s; warnings before a "
					"session ends will be a bell, not text in the picture\n",
					err);
			pg_font_del(font);
			pg_tls_ctx_del(probe.tls);
			pg_tls_ctx_del(probe.anon);
			pg_lockout_del(probe.lockout);
			if (!rc)
				pg_policy_print(&cfg->policy, stdout);
			if (!rc)
				rc = check_sandbox(g);
			printf("pixelgate: configuration is %s\n", rc ? "not valid" : "valid");
		}
		free_gen(g);
		return rc;
	}

	pg_log_set_level(cfg->relay_log_level);
	pg_log_set_format(cfg->relay_log_format);
	signal(SIGPIPE, SIG_IGN);
	/* A file over RLIMIT_FSIZE (a recording, the audit) fails with EFBIG, not death. */
	signal(SIGXFSZ, SIG_IGN);
	struct pg_relay *relay = &st.relay;
	relay->loop = uv_default_loop();
	char host[256], err[512];
	int port;
	const char *why;
	if (find_worker(relay->worker_path, sizeof(relay->worker_path)) < 0) {
		pg_err("cannot find the upstream worker program (%s): %s", relay->worker_path,
		       strerror(errno));
		return 1;
	}
	if (setup_fixed(relay, cfg, true, &errs) < 0 || load_gen(g, &errs) < 0) {
		report(&errs, NULL, 0);
		return 1;
	}
	st.gen = g;
	apply_gen(relay, g);
	pg_viewer_raise_fd_limit(relay);
	if (relay->users)
		pg_info("%zu users loaded from %s", pg_users_count(relay->users),
			cfg->relay_users_file);
	relay->font = pg_font_open(cfg->relay_font, 0, err, sizeof(err));
	if (!relay->font && pg_policy_watermarks(&cfg->policy)) {
		pg_err("[relay] font: %s; a [policy] section asks for a watermark, which needs "
		       "it",
		       err);
		return 1;
	}
	if (!relay->font)
		pg_warn("[relay] font: %s; warnings before a session ends will be a bell, not "
			"text in the picture",
			err);
	pg_config_parse_hostport(cfg->relay_listen, host, sizeof(host), &port, &why);
	if (start_listener(&st, &st.listener, host, port,
			   relay->security_none ? "viewers (security type None: no login, loopback "
						  "only)"
						: "viewers (VeNCrypt with TLS and login)") < 0)
		return 1;
	if (*cfg->web_listen) {
		char root[PATH_MAX];
		if (*cfg->web_root)
			snprintf(root, sizeof(root), "%s", cfg->web_root);
		else
			find_web_root(root, sizeof(root));
		if (pg_static_load(root, &relay->web_static, err, sizeof(err)) < 0) {
			pg_err("[web] root: %s", err);
			return 1;
		}
		if (!pg_static_lookup(relay->web_static, "/index.html"))
			pg_warn("[web] root %s has no index.html: the viewer page is not built "
				"(browsers will get 404)",
				root);
		pg_info("web: %zu files of the viewer page from %s",
			pg_static_count(relay->web_static), root);
		pg_config_parse_hostport(cfg->web_listen, host, sizeof(host), &port, &why);
		if (start_listener(&st, &st.web_listener, host, port,
				   "browsers (HTTPS, the viewer page and its WebSocket)") < 0)
			return 1;
		st.web_on = true;
	}
	if (*cfg->relay_control_socket) {
		st.control = pg_control_start(relay->loop, cfg->relay_control_socket, on_control,
					      &st, err, sizeof(err));
		if (!st.control) {
			pg_err("[relay] control_socket: %s", err);
			return 1;
		}
		pg_info("admin commands on %s", cfg->relay_control_socket);
	}
	if (strcmp(cfg->broker_mode, "static")) {
		relay->broker = pg_broker_new(relay, cfg, err, sizeof(err));
		if (!relay->broker) {
			pg_err("[broker]: %s", err);
			return 1;
		}
	}
	relay->metrics = pg_metrics_new();
	if (!relay->metrics) {
		pg_err("out of memory");
		return 1;
	}
	if (*cfg->admin_listen) {
		pg_config_parse_hostport(cfg->admin_listen, host, sizeof(host), &port, &why);
		st.admin = pg_admin_start(relay, host, port, g->admin_token, err, sizeof(err));
		if (!st.admin) {
			pg_err("[admin] listen: %s", err);
			return 1;
		}
		pg_info("listening for admin requests (HTTP: /healthz, /metrics, /sessions) on "
			"%s:%d",
			host, port);
	}
	uv_timer_init(relay->loop, &relay->flood_timer);
	relay->flood_timer.data = relay;
	if (gethostname(relay->hostname, sizeof(relay->hostname) - 1) < 0)
		snprintf(relay->hostname, sizeof(relay->hostname), "pixelgate");
	snprintf(relay->rec_dir, sizeof(relay->rec_dir), "%s", cfg->recording_directory);
	if (pg_record_prepare(relay, err, sizeof(err)) < 0) {
		pg_err("%s", err);
		return 1;
	}
	uv_timer_init(relay->loop, &relay->mark_timer);
	relay->mark_timer.data = relay;
	uv_timer_start(&relay->mark_timer, on_mark_timer, 100, 100);
	uv_timer_init(relay->loop, &relay->rec_sweep);
	relay->rec_sweep.data = relay;
	uv_timer_start(&relay->rec_sweep, on_rec_sweep, 0, 3600 * 1000);
	uv_timer_init(relay->loop, &relay->guard_timer);
	relay->guard_timer.data = &st;
	uv_timer_start(&relay->guard_timer, on_guard_tick, 1000, 1000);
	uv_signal_init(relay->loop, &st.sigint);
	uv_signal_init(relay->loop, &st.sigterm);
	uv_signal_init(relay->loop, &st.sighup);
	st.sigint.data = st.sigterm.data = st.sighup.data = &st;
	uv_signal_start(&st.sigint, on_signal, SIGINT);
	uv_signal_start(&st.sigterm, on_signal, SIGTERM);
	uv_signal_start(&st.sighup, on_sighup, SIGHUP);
	pg_info("pixelgate %s started%s%s", PG_VERSION,
		*relay->upstream_address ? "; default browser host " : "", relay->upstream_address);
	pg_audit(relay, "relay-start", PG_AUDIT_S("version", PG_VERSION),
		 PG_AUDIT_S("listen", cfg->relay_listen),
		 PG_AUDIT_S("security", cfg->relay_security), PG_AUDIT_S("config", st.config_path));
	uv_run(relay->loop, UV_RUN_DEFAULT);
	pg_broker_del(relay->broker);
	free(relay->sessions);
	pg_tls_ctx_del(relay->tls);
	pg_tls_ctx_del(relay->anon);
	pg_lockout_del(relay->lockout);
	pg_audit_close(relay->audit);
	pg_font_del(relay->font);
	pg_static_free(relay->web_static);
	pg_metrics_del(relay->metrics);
	free_retired(&st);
	free_gen(st.gen);
	explicit_bzero(relay->vnc_auth_password, sizeof(relay->vnc_auth_password));
	explicit_bzero(&relay->upstream, sizeof(relay->upstream));
	uv_loop_close(relay->loop);
	return 0;
}
