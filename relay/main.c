/* pixelgate: the main process. Reads the config, listens for viewers, runs the
 * one libuv loop. See docs/architecture.md. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/audit.h"
#include "auth/ldap.h"
#include "auth/lockout.h"
#include "auth/tls.h"
#include "auth/users.h"
#include "auth/vncauth.h"
#include "config/config.h"
#include "relay/channel.h"
#include "relay/log.h"
#include "relay/relay.h"

#define PG_VERSION "0.1.0"

struct main_state {
	struct pg_relay relay;
	uv_tcp_t listener;
	uv_signal_t sigint, sigterm, sighup;
	bool stopping;
};

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
	    "  -V, --version                   print the version and exit\n"
	    "  -h, --help                      this text\n"
	    "Command-line options override the file. See docs/configuration.md.\n");
}

static int find_worker(char *out, size_t size)
{
	const char *env = getenv("PIXELGATE_WORKER");
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, X_OK);
	}
	/* The worker is installed next to the relay binary. */
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -1;
	self[n] = '\0';
	snprintf(out, size, "%s/pixelgate-worker", dirname(self));
	return access(out, X_OK);
}

static void on_listener_closed(uv_handle_t *h)
{
}

static void shutdown_relay(struct main_state *st, const char *why)
{
	if (st->stopping)
		return;
	st->stopping = true;
	pg_info("shutting down (%s)", why);
	uv_close((uv_handle_t *)&st->listener, on_listener_closed);
	uv_close((uv_handle_t *)&st->sigint, NULL);
	uv_close((uv_handle_t *)&st->sigterm, NULL);
	uv_close((uv_handle_t *)&st->sighup, NULL);
	uv_close((uv_handle_t *)&st->relay.flood_timer, NULL);
	st->relay.stopping = true;
	pg_viewer_close_all(&st->relay, "relay shutting down");
	while (st->relay.nsessions)
		pg_session_del(st->relay.sessions[0]);
	pg_audit(&st->relay, "relay-stop", PG_AUDIT_S("reason", why));
}

static void on_sighup(uv_signal_t *h, int signum)
{
	struct main_state *st = h->data;
	char err[256];
	/* logrotate renamed the audit file: continue the chain in a new one. */
	if (st->relay.audit && pg_audit_reopen(st->relay.audit, err, sizeof(err)) < 0)
		pg_err("audit: cannot reopen: %s", err);
	else
		pg_info("SIGHUP: audit file reopened");
}

void pg_relay_audit_result(int rc, const char *event)
{
	if (rc < 0)
		pg_err("audit: cannot write a %s record: %s", event, strerror(-rc));
}

static void on_signal(uv_signal_t *h, int signum)
{
	shutdown_relay(h->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_connection(uv_stream_t *server, int status)
{
	struct main_state *st = server->data;
	if (status < 0) {
		pg_warn("accept: %s", uv_strerror(status));
		return;
	}
	pg_viewer_accept(&st->relay, server);
}

static int start_listener(struct main_state *st, const char *host, int port, bool none)
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
	uv_tcp_init(st->relay.loop, &st->listener);
	st->listener.data = st;
	rc = uv_tcp_bind(&st->listener, (struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&st->listener, SOMAXCONN, on_connection);
	if (rc < 0) {
		pg_err("cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
		return -1;
	}
	pg_info("listening for viewers on %s:%d (%s)", host, port,
		none ? "security type None: no login, loopback only"
		     : "VeNCrypt with TLS and login");
	return 0;
}

static int load_password(char out[128], const char *path, const char *where)
{
	if (!*path)
		return 0;
	int rc = pg_vncauth_read_password_file(path, out, 128);
	if (rc < 0) {
		pg_err("%s password_file '%s': cannot read a password: %s", where, path,
		       strerror(-rc));
		return -1;
	}
	return 0;
}

/* [upstream] for every browser host, then each [host] section over it. */
static int setup_upstream(struct pg_relay *relay, const struct pg_config *cfg)
{
	struct pg_upstream_login *u = &relay->upstream;
	u->tls = strcmp(cfg->upstream_tls, "x509") ? PG_CHAN_TLS_NONE : PG_CHAN_TLS_X509;
	snprintf(u->ca_file, sizeof(u->ca_file), "%s", cfg->upstream_ca_file);
	snprintf(u->pin, sizeof(u->pin), "%s", cfg->upstream_pin_sha256);
	if (load_password(u->password, cfg->upstream_password_file, "[upstream]") < 0)
		return -1;
	relay->hosts = calloc((size_t)cfg->nhosts + 1, sizeof(*relay->hosts));
	if (!relay->hosts)
		return -1;
	for (int i = 0; i < cfg->nhosts; i++) {
		const struct pg_host_cfg *h = &cfg->hosts[i];
		struct pg_upstream_login *l = &relay->hosts[relay->nhosts++];
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
		if (*h->password_file && load_password(l->password, h->password_file, where) < 0)
			return -1;
	}
	return 0;
}

/* LDAP settings live as long as the relay: strings point into the config. */
static struct pg_ldap_config ldap_cfg;
static char ldap_bind_password[256];

static int setup_ldap(struct pg_relay *relay, const struct pg_config *cfg)
{
	char err[512];
	struct pg_ldap_config *l = &ldap_cfg;
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
		if (!f || !fgets(ldap_bind_password, sizeof(ldap_bind_password), f)) {
			pg_err("[ldap] bind_password_file '%s': cannot read a password",
			       cfg->ldap_bind_password_file);
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
		ldap_bind_password[strcspn(ldap_bind_password, "\r\n")] = '\0';
		l->bind_password = ldap_bind_password;
	}
	if (pg_ldap_check_config(l, err, sizeof(err)) < 0) {
		pg_err("[ldap] %s", err);
		return -1;
	}
	relay->ldap = l;
	return 0;
}

static int setup_security(struct pg_relay *relay, const struct pg_config *cfg, bool open_audit)
{
	char err[512];
	relay->security_none = !strcmp(cfg->relay_security, "none");
	if (open_audit && *cfg->relay_audit_file) {
		relay->audit = pg_audit_open(
		    cfg->relay_audit_file,
		    *cfg->relay_audit_syslog ? cfg->relay_audit_syslog : NULL, err, sizeof(err));
		if (!relay->audit) {
			pg_err("[relay] audit_file: %s", err);
			return -1;
		}
	}
	relay->lockout = pg_lockout_new(NULL);
	if (!relay->lockout)
		return -1;
	if (relay->security_none)
		return 0;
	if (*cfg->relay_tls_cert) {
		relay->tls = pg_tls_ctx_new_server(cfg->relay_tls_cert, cfg->relay_tls_key, err,
						   sizeof(err));
		if (!relay->tls) {
			pg_err("[relay] tls_cert/tls_key: %s", err);
			return -1;
		}
	}
	if (cfg->relay_tls_anon) {
		relay->anon = pg_tls_ctx_new_anon_server(err, sizeof(err));
		if (!relay->anon) {
			pg_err("[relay] tls_anon: %s", err);
			return -1;
		}
		pg_warn("[relay] tls_anon = 1: viewers may log in over anonymous TLS (TLSPlain), "
			"which an attacker in the path can intercept; prefer X509Plain");
	}
	if (*cfg->relay_users_file &&
	    pg_users_load(cfg->relay_users_file, &relay->users, err, sizeof(err)) < 0) {
		pg_err("[relay] users_file: %s", err);
		return -1;
	}
	if (*cfg->ldap_uri && setup_ldap(relay, cfg) < 0)
		return -1;
	if (*cfg->relay_vnc_auth_user) {
		int rc = pg_vncauth_read_password_file(cfg->relay_vnc_auth_password_file,
						       relay->vnc_auth_password,
						       sizeof(relay->vnc_auth_password));
		if (rc < 0) {
			pg_err("[relay] vnc_auth_password_file '%s': cannot read a password: %s",
			       cfg->relay_vnc_auth_password_file, strerror(-rc));
			return -1;
		}
		snprintf(relay->vnc_auth_user, sizeof(relay->vnc_auth_user), "%s",
			 cfg->relay_vnc_auth_user);
		if (open_audit)
			pg_warn(
			    "[relay] vnc_auth_user = %s: legacy VNC authentication is on. Its "
			    "DES challenge is weak, passwords count only 8 characters and the "
			    "session is not encrypted; use it only where VeNCrypt is impossible",
			    relay->vnc_auth_user);
	}
	if (open_audit && relay->users)
		pg_info("%zu users loaded from %s", pg_users_count(relay->users),
			cfg->relay_users_file);
	return 0;
}

int main(int argc, char **argv)
{
	static struct main_state st;
	struct pg_config cfg;
	struct pg_config_errors errs = {.count = 0};
	bool check_only = false, print = false;
	const char *config_path = NULL;
	int failed = 0;

	enum {
		O_LISTEN = 256,
		O_UPSTREAM,
		O_PASSFILE,
		O_FPS,
		O_SECURITY,
		O_USERS,
		O_LOGLEVEL,
		O_PRINT
	};
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
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	pg_config_init(&cfg);
	/* The file first, then the flags over it, whatever their order on the line. */
	int c;
	while ((c = getopt_long(argc, argv, "c:nVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			if (pg_config_load(&cfg, optarg, &errs) < 0)
				failed = 1;
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
		case O_LISTEN:
		case O_UPSTREAM:
		case O_PASSFILE:
		case O_FPS:
		case O_SECURITY:
		case O_USERS:
		case O_LOGLEVEL:
		case O_PRINT:
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
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:nVh", opts, NULL)) != -1) {
		static const char *const keys[][2] = {
		    [O_LISTEN - O_LISTEN] = {"relay", "listen"},
		    [O_UPSTREAM - O_LISTEN] = {"upstream", "address"},
		    [O_PASSFILE - O_LISTEN] = {"upstream", "password_file"},
		    [O_FPS - O_LISTEN] = {"relay", "max_fps"},
		    [O_SECURITY - O_LISTEN] = {"relay", "security"},
		    [O_USERS - O_LISTEN] = {"relay", "users_file"},
		    [O_LOGLEVEL - O_LISTEN] = {"relay", "log_level"},
		};
		if (c == O_PRINT) {
			print = true;
		} else if (c >= O_LISTEN && c <= O_LOGLEVEL) {
			if (pg_config_set(&cfg, keys[c - O_LISTEN][0], keys[c - O_LISTEN][1],
					  optarg, "command line", &errs) < 0)
				failed = 1;
		}
	}
	if (!failed && pg_config_check(&cfg, &errs) < 0)
		failed = 1;
	if (!failed && (cfg.policy.base.set || cfg.policy.npatterns || cfg.policy.ngroups ||
			cfg.policy.merge_set)) {
		/* The policy engine reads and checks [policy], but this relay does not
		 * enforce it yet; starting would let staff believe a rule holds. What the
		 * relay does now is the strictest default: no clipboard either way. */
		fprintf(stderr, "pixelgate: [policy] sections are checked but not yet enforced by "
				"this version; remove them (the relay already denies the clipboard "
				"in both directions)\n");
		failed = 1;
	}
	for (int i = 0; i < errs.count; i++)
		fprintf(stderr, "pixelgate: %s\n", errs.msg[i]);
	if (failed) {
		fprintf(stderr, "pixelgate: configuration is not valid\n");
		pg_config_free(&cfg);
		return 1;
	}
	if (print)
		pg_config_print(&cfg, stdout);
	if (check_only || print) {
		int rc = 0;
		if (check_only) {
			/* Load what the relay would load (certificate, key, users), so a
			 * config that -n passes also starts. */
			struct pg_relay probe = {0};
			rc = setup_security(&probe, &cfg, false) < 0 ? 1 : 0;
			pg_tls_ctx_del(probe.tls);
			pg_tls_ctx_del(probe.anon);
			pg_users_del(probe.users);
			pg_lockout_del(probe.lockout);
			printf("pixelgate: configuration is %s\n", rc ? "not valid" : "valid");
		}
		pg_config_free(&cfg);
		return rc;
	}

	pg_log_set_level(cfg.relay_log_level);
	signal(SIGPIPE, SIG_IGN);
	struct pg_relay *relay = &st.relay;
	relay->loop = uv_default_loop();
	relay->max_fps = cfg.relay_max_fps;
	relay->max_viewers = cfg.relay_max_viewers;
	relay->max_handshakes = cfg.relay_max_handshakes;
	relay->max_handshakes_per_source = cfg.relay_max_handshakes_per_source;
	relay->reconnect_max_ms = cfg.upstream_reconnect_max * 1000;
	char host[256];
	int port;
	const char *why;
	snprintf(relay->upstream_address, sizeof(relay->upstream_address), "%s",
		 cfg.upstream_address);
	relay->auth_timeout_ms = cfg.relay_auth_timeout * 1000;
	relay->takeover = !strcmp(cfg.relay_session_share, "takeover");
	snprintf(relay->totp_groups, sizeof(relay->totp_groups), "%s", cfg.relay_totp_groups);
	relay->routes = cfg.routes;
	relay->nroutes = cfg.nroutes;
	if (find_worker(relay->worker_path, sizeof(relay->worker_path)) < 0) {
		pg_err("cannot find the upstream worker program (%s): %s", relay->worker_path,
		       strerror(errno));
		return 1;
	}
	if (setup_upstream(relay, &cfg) < 0 || setup_security(relay, &cfg, true) < 0)
		return 1;
	pg_config_parse_hostport(cfg.relay_listen, host, sizeof(host), &port, &why);
	if (start_listener(&st, host, port, relay->security_none) < 0)
		return 1;
	uv_timer_init(relay->loop, &relay->flood_timer);
	relay->flood_timer.data = relay;
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
		 PG_AUDIT_S("listen", cfg.relay_listen), PG_AUDIT_S("security", cfg.relay_security),
		 PG_AUDIT_S("config", config_path));
	uv_run(relay->loop, UV_RUN_DEFAULT);
	explicit_bzero(&relay->upstream, sizeof(relay->upstream));
	for (int i = 0; i < relay->nhosts; i++)
		explicit_bzero(&relay->hosts[i], sizeof(relay->hosts[i]));
	free(relay->hosts);
	free(relay->sessions);
	pg_tls_ctx_del(relay->tls);
	pg_tls_ctx_del(relay->anon);
	pg_users_del(relay->users);
	pg_lockout_del(relay->lockout);
	pg_audit_close(relay->audit);
	pg_config_free(&cfg);
	explicit_bzero(ldap_bind_password, sizeof(ldap_bind_password));
	explicit_bzero(relay->vnc_auth_password, sizeof(relay->vnc_auth_password));
	uv_loop_close(relay->loop);
	return 0;
}
