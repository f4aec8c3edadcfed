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
#include <unistd.h>

#include "auth/vncauth.h"
#include "config/config.h"
#include "relay/log.h"
#include "relay/relay.h"

#define PG_VERSION "0.1.0"

struct main_state {
	struct pg_relay relay;
	uv_tcp_t listener;
	uv_signal_t sigint, sigterm;
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
	pg_session_del(st->relay.session);
	st->relay.session = NULL;
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

static int start_listener(struct main_state *st, const char *host, int port)
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
		rc = uv_listen((uv_stream_t *)&st->listener, 128, on_connection);
	if (rc < 0) {
		pg_err("cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
		return -1;
	}
	pg_info("listening for viewers on %s:%d (security type None, loopback only)", host, port);
	return 0;
}

static int load_password(struct pg_relay *relay, const char *path)
{
	if (!*path)
		return 0;
	int rc = pg_vncauth_read_password_file(path, relay->upstream_password,
					       sizeof(relay->upstream_password));
	if (rc < 0) {
		pg_err("[upstream] password_file '%s': cannot read a password: %s", path,
		       strerror(-rc));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct main_state st;
	struct pg_config cfg;
	struct pg_config_errors errs = {.count = 0};
	bool check_only = false, print = false;
	int failed = 0;

	enum { O_LISTEN = 256, O_UPSTREAM, O_PASSFILE, O_FPS, O_LOGLEVEL, O_PRINT };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'n'},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"upstream", required_argument, NULL, O_UPSTREAM},
	    {"upstream-password-file", required_argument, NULL, O_PASSFILE},
	    {"max-fps", required_argument, NULL, O_FPS},
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
		if (check_only)
			printf("pixelgate: configuration is valid\n");
		pg_config_free(&cfg);
		return 0;
	}

	pg_log_set_level(cfg.relay_log_level);
	signal(SIGPIPE, SIG_IGN);
	struct pg_relay *relay = &st.relay;
	relay->loop = uv_default_loop();
	relay->max_fps = cfg.relay_max_fps;
	relay->max_viewers = cfg.relay_max_viewers;
	relay->reconnect_max_ms = cfg.upstream_reconnect_max * 1000;
	char host[256];
	int port;
	const char *why;
	pg_config_parse_hostport(cfg.upstream_address, relay->upstream_host,
				 sizeof(relay->upstream_host), &relay->upstream_port, &why);
	if (find_worker(relay->worker_path, sizeof(relay->worker_path)) < 0) {
		pg_err("cannot find the upstream worker program (%s): %s", relay->worker_path,
		       strerror(errno));
		return 1;
	}
	if (load_password(relay, cfg.upstream_password_file) < 0)
		return 1;
	relay->session = pg_session_new(relay);
	pg_config_parse_hostport(cfg.relay_listen, host, sizeof(host), &port, &why);
	if (!relay->session || start_listener(&st, host, port) < 0)
		return 1;
	uv_signal_init(relay->loop, &st.sigint);
	uv_signal_init(relay->loop, &st.sigterm);
	st.sigint.data = st.sigterm.data = &st;
	uv_signal_start(&st.sigint, on_signal, SIGINT);
	uv_signal_start(&st.sigterm, on_signal, SIGTERM);
	pg_info("pixelgate %s relaying to browser host %s:%d", PG_VERSION, relay->upstream_host,
		relay->upstream_port);
	pg_config_free(&cfg);
	uv_run(relay->loop, UV_RUN_DEFAULT);
	explicit_bzero(relay->upstream_password, sizeof(relay->upstream_password));
	uv_loop_close(relay->loop);
	return 0;
}
