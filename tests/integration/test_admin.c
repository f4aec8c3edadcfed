/* The admin listener ([admin]): /healthz, /metrics whose numbers match what the
 * test did, the bearer token and its audit, /sessions and ending a session,
 * pixelgatectl, and the SIGTERM drain (503, a banner, viewers gone, exit 0). */
#include <criterion/criterion.h>

#include "harness_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN	 "0123456789abcdef0123456789abcdef-admin"
#define BODY_MAX (256 << 10)

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static char dir[64], token_path[128], audit_path[128], conf_path[128];
static int admin_port;
static char *body;

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
	free(body);
	if (*dir) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
}

TestSuite(admin, .fini = teardown, .timeout = 120);

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* A config with [admin] on a free loopback port; extra goes under [relay]. */
static void write_config(const char *relay_extra)
{
	char text[1024];
	snprintf(dir, sizeof(dir), "/tmp/pg-it-admin-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(token_path, sizeof(token_path), "%s/token", dir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", dir);
	snprintf(conf_path, sizeof(conf_path), "%s/pixelgate.ini", dir);
	write_file(token_path, TOKEN "\n");
	admin_port = it_free_port();
	cr_assert(admin_port > 0);
	snprintf(text, sizeof(text),
		 "[relay]\naudit_file = %s\n%s\n[admin]\nlisten = 127.0.0.1:%d\ntoken_file = %s\n",
		 audit_path, relay_extra ? relay_extra : "", admin_port, token_path);
	write_file(conf_path, text);
}

static void start(const char *relay_extra)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "tight", .compress = -1, .record = true};
	write_config(relay_extra);
	host = host_start(320, 240, NULL);
	cr_assert_not_null(host, "host did not start");
	const char *args[] = {"-c", conf_path, NULL};
	int port = it_front_port_for(host_port(host), &relay, args);
	cr_assert(port > 0, "relay did not start");
	cr_assert(relay_log_wait(relay, "listening for admin requests", 5000));
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	const char *err = viewer_wait_match(viewer, host, 15000, 0);
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "first picture: %s", err);
}

/* One request on its own connection. Returns the status, with the body in the
 * global body (NUL-terminated), or -1. auth: the Authorization header's value. */
static int http(const char *method, const char *path, const char *auth)
{
	char req[1024];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)admin_port)};
	struct timeval tv = {.tv_sec = 5};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s\r\n",
			 method, path, auth ? "Authorization: " : "", auth ? auth : "",
			 auth ? "\r\n" : "", strcmp(method, "POST") ? "" : "Content-Length: 0\r\n");
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	if (!body)
		body = malloc(BODY_MAX + 1);
	size_t len = 0;
	ssize_t r;
	while (len < BODY_MAX && (r = read(fd, body + len, BODY_MAX - len)) > 0)
		len += (size_t)r;
	close(fd);
	body[len] = '\0';
	int status = -1;
	if (sscanf(body, "HTTP/1.1 %d", &status) != 1)
		return -1;
	char *b = strstr(body, "\r\n\r\n");
	if (b)
		memmove(body, b + 4, strlen(b + 4) + 1);
	return status;
}

static int get(const char *path)
{
	return http("GET", path, "Bearer " TOKEN);
}

/* The value of one sample line ("name{labels} value") in body, or -1. */
static double metric(const char *sample)
{
	size_t n = strlen(sample);
	for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, sample, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static bool audit_has(const char *needle)
{
	FILE *f = fopen(audit_path, "r");
	char line[4096];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

static bool audit_wait(const char *needle, int ms)
{
	int64_t end = it_now_ms() + ms;
	while (!audit_has(needle) && it_now_ms() < end)
		it_sleep_ms(50);
	return audit_has(needle);
}

/* The session id in /sessions, and the first viewer's source, into the arguments. */
static void first_session(char *id, size_t id_size, char *source, size_t source_size)
{
	cr_assert_eq(get("/sessions"), 200, "%s", body);
	json_error_t je;
	json_t *root = json_loads(body, 0, &je);
	cr_assert_not_null(root, "/sessions is not JSON: %s: %s", je.text, body);
	json_t *s = json_array_get(json_object_get(root, "sessions"), 0);
	cr_assert_not_null(s, "no session listed: %s", body);
	snprintf(id, id_size, "%s", json_string_value(json_object_get(s, "id")));
	json_t *v = json_array_get(json_object_get(s, "viewers"), 0);
	cr_assert_not_null(v, "no viewer listed: %s", body);
	snprintf(source, source_size, "%s", json_string_value(json_object_get(v, "source")));
	json_decref(root);
}

Test(admin, healthz_and_metrics_match_what_happened)
{
	start(NULL);
	cr_assert_eq(http("GET", "/healthz", NULL), 200);
	cr_assert_str_eq(body, "ok\n");
	host_change_region(host, 10, 10, 100, 80, 2);
	cr_assert_null(viewer_wait_match(viewer, host, 10000, 0));

	cr_assert_eq(get("/metrics"), 200, "%s", body);
	cr_assert(strstr(body, "# TYPE pixelgate_encode_seconds histogram"), "%s", body);
	cr_assert_eq(metric("pixelgate_sessions"), 1, "%s", body);
	cr_assert_eq(metric("pixelgate_viewers{state=\"connected\"}"), 1, "%s", body);
	cr_assert_eq(metric("pixelgate_viewers{state=\"logging_in\"}"), 0, "%s", body);
	cr_assert_eq(metric("pixelgate_viewer_connections_total"), 1, "%s", body);
	double frames = metric("pixelgate_viewer_frames_total");
	cr_assert(frames >= viewer_updates(viewer) && frames > 0, "%s", body);
	cr_assert(metric("pixelgate_host_frames_total") > 0, "%s", body);
	cr_assert(metric("pixelgate_viewer_sent_bytes_total") >=
		      (double)viewer_received_bytes(viewer),
		  "sent %f < read %zu", metric("pixelgate_viewer_sent_bytes_total"),
		  viewer_received_bytes(viewer));
	cr_assert(metric("pixelgate_viewer_received_bytes_total") > 0, "%s", body);
	cr_assert(metric("pixelgate_encode_seconds_count") > 0, "%s", body);
	cr_assert_eq(metric("pixelgate_encode_seconds_bucket{le=\"+Inf\"}"),
		     metric("pixelgate_encode_seconds_count"));
	cr_assert_eq(metric("pixelgate_worker_starts_total"), 1, "%s", body);
	/* The worker reports its socket's bytes with each once-a-second pong. */
	int64_t until = it_now_ms() + 4000;
	while (metric("pixelgate_upstream_received_bytes_total") <= 0 && it_now_ms() < until) {
		it_sleep_ms(200);
		cr_assert_eq(get("/metrics"), 200);
	}
	cr_assert(metric("pixelgate_upstream_received_bytes_total") > 0, "%s", body);
	cr_assert(metric("pixelgate_upstream_sent_bytes_total") > 0, "%s", body);
	cr_assert_eq(metric("pixelgate_upstream_reconnects_total"), 0, "%s", body);
	char id[64], source[64], sample[128];
	first_session(id, sizeof(id), source, sizeof(source));
	cr_assert_eq(get("/metrics"), 200);
	snprintf(sample, sizeof(sample), "pixelgate_session_viewers{session=\"%s\"}", id);
	cr_assert_eq(metric(sample), 1, "%s", body);

	/* Once the viewer has gone, the relay's own count of its updates (in the log
	 * line that closes it) is exactly the counter's. */
	viewer_stop(viewer);
	viewer = NULL;
	cr_assert(relay_log_wait(relay, "closed: ", 5000));
	cr_assert_eq(get("/metrics"), 200);
	frames = metric("pixelgate_viewer_frames_total");
	cr_assert_eq(metric("pixelgate_viewers{state=\"connected\"}"), 0, "%s", body);
	char needle[64];
	snprintf(needle, sizeof(needle), "(%.0f updates,", frames);
	cr_assert(relay_log_contains(relay, needle), "log has no '%s'", needle);
}

Test(admin, token_required_and_failures_audited)
{
	start(NULL);
	cr_assert_eq(http("GET", "/metrics", NULL), 401);
	cr_assert_eq(http("GET", "/sessions", "Bearer wrong-token-wrong-token-wrong-token"), 401);
	cr_assert_eq(http("POST", "/sessions/0000000000000000/end", "Basic eDp5"), 401);
	cr_assert(audit_wait("\"admin-auth-failure\"", 5000), "no admin-auth-failure record");
	cr_assert(audit_has("\"no bearer token\""));
	cr_assert(audit_has("\"wrong token\""));
	cr_assert_eq(get("/metrics"), 200);
	cr_assert_eq(metric("pixelgate_auth_failures_total{reason=\"admin_token\"}"), 3, "%s",
		     body);
	/* /healthz needs none, and an unknown path gets 404 only with the token. */
	cr_assert_eq(http("GET", "/healthz", NULL), 200);
	cr_assert_eq(http("GET", "/nothing", NULL), 401);
	cr_assert_eq(get("/nothing"), 404);
}

Test(admin, token_failures_are_rate_limited)
{
	start(NULL);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(http("GET", "/metrics", NULL), 401);
	cr_assert(audit_wait("\"preauth-summary\"", 5000), "no summary of the flood");
	FILE *f = fopen(audit_path, "r");
	char line[4096];
	int records = 0;
	while (f && fgets(line, sizeof(line), f))
		records += strstr(line, "\"admin-auth-failure\"") && !strstr(line, "suppressed");
	fclose(f);
	cr_assert(records > 0 && records <= 20, "%d admin-auth-failure records for 40 tries",
		  records);
}

Test(admin, sessions_list_and_end)
{
	start(NULL);
	char id[64], source[64], path[128];
	first_session(id, sizeof(id), source, sizeof(source));
	cr_assert_eq(strlen(id), 16, "id '%s'", id);
	cr_assert(!strncmp(source, "127.0.0.1:", 10), "source '%s'", source);
	cr_assert_eq(http("POST", "/sessions/ffffffffffffffff/end", "Bearer " TOKEN), 404);
	snprintf(path, sizeof(path), "/sessions/%s/end", id);
	cr_assert_eq(get(path), 405);
	cr_assert_eq(http("POST", "/sessions", "Bearer " TOKEN), 405);
	cr_assert_eq(http("POST", path, "Bearer " TOKEN), 200, "%s", body);
	cr_assert(viewer_wait_disconnect(viewer, 5000), "viewer still connected");
	cr_assert(relay_log_wait(relay, "session ended by an administrator", 5000));
	char rec[128];
	snprintf(rec, sizeof(rec), "\"session\":\"%s\"", id);
	cr_assert(audit_wait("\"admin-session-end\"", 5000));
	cr_assert(audit_has(rec));
	cr_assert_eq(get("/sessions"), 200);
	cr_assert(!strstr(body, id), "session still listed: %s", body);
}

/* Runs pixelgatectl with args; its stdout in body, its exit status returned. */
static int ctl(const char *args)
{
	char bin[512], cmd[1400];
	it_bin_path("pixelgatectl", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s --url http://127.0.0.1:%d %s 2>&1", bin, admin_port, args);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	if (!body)
		body = malloc(BODY_MAX + 1);
	size_t len = fread(body, 1, BODY_MAX, p);
	body[len] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(admin, pixelgatectl)
{
	start(NULL);
	char args[256], id[64], source[64];
	cr_assert_eq(ctl("health"), 0, "%s", body);
	cr_assert_str_eq(body, "ok\n");
	snprintf(args, sizeof(args), "--token-file %s status", token_path);
	cr_assert_eq(ctl(args), 0, "%s", body);
	cr_assert(strstr(body, "sessions: 1\nviewers: 1\n"), "%s", body);
	snprintf(args, sizeof(args), "--token-file %s metrics", token_path);
	cr_assert_eq(ctl(args), 0, "%s", body);
	cr_assert_eq(metric("pixelgate_sessions"), 1, "%s", body);
	first_session(id, sizeof(id), source, sizeof(source));
	snprintf(args, sizeof(args), "--token-file %s sessions", token_path);
	cr_assert_eq(ctl(args), 0, "%s", body);
	cr_assert(strstr(body, id) && strstr(body, source), "%s", body);
	cr_assert_eq(ctl("metrics"), 2, "%s", body); /* no token file */
	snprintf(args, sizeof(args), "--token-file %s/wrong metrics", dir);
	char wrong[160];
	snprintf(wrong, sizeof(wrong), "%s/wrong", dir);
	write_file(wrong, "not-the-token-not-the-token-not-the-token\n");
	cr_assert_eq(ctl(args), 4, "%s", body);
	cr_assert(strstr(body, "wrong or missing token"), "%s", body);
	snprintf(args, sizeof(args), "--token-file %s end abcdef0123456789", token_path);
	cr_assert_eq(ctl(args), 1, "%s", body);
	snprintf(args, sizeof(args), "--token-file %s end %s", token_path, id);
	cr_assert_eq(ctl(args), 0, "%s", body);
	cr_assert(viewer_wait_disconnect(viewer, 5000));
	/* Nothing listens on the relay's RFB port for HTTP... use a closed port. */
	char bin[512], cmd[1024];
	it_bin_path("pixelgatectl", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s --url http://127.0.0.1:%d health >/dev/null 2>&1", bin,
		 it_free_port());
	int st = system(cmd);
	cr_assert_eq(WEXITSTATUS(st), 3);
}

static int differing_pixels(void)
{
	int w, h, hw, hh, n = 0;
	uint32_t *v = viewer_snapshot(viewer, &w, &h);
	uint32_t *p = host_snapshot(host, &hw, &hh);
	for (int i = 0; v && p && w == hw && h == hh && i < w * h; i++)
		n += (v[i] & 0xffffff) != (p[i] & 0xffffff);
	free(v);
	free(p);
	return n;
}

Test(admin, sigterm_drains)
{
	start("drain_timeout = 4");
	cr_assert_eq(differing_pixels(), 0);
	int64_t t0 = it_now_ms();
	cr_assert_eq(kill(relay_pid(relay), SIGTERM), 0);
	int status = 0;
	while (it_now_ms() - t0 < 2000 && (status = http("GET", "/healthz", NULL)) != 503)
		it_sleep_ms(20);
	cr_assert_eq(status, 503, "/healthz during the drain");
	cr_assert_str_eq(body, "draining\n");
	/* The banner lands in the viewer's picture. */
	while (it_now_ms() - t0 < 3000 && differing_pixels() < 500)
		it_sleep_ms(50);
	cr_assert(differing_pixels() >= 500, "no banner: %d pixels differ", differing_pixels());
	cr_assert(viewer_connected(viewer), "viewer closed before drain_timeout");
	cr_assert(viewer_wait_disconnect(viewer, 6000), "viewer still connected after the drain");
	int64_t took = it_now_ms() - t0;
	cr_assert(took >= 3500, "drain ended after %lld ms, before drain_timeout", (long long)took);
	cr_assert_eq(relay_exit_status(relay, 5000), 0, "relay exit status");
	cr_assert(audit_has("\"relay-drain\""));
	cr_assert(audit_has("\"relay-stop\""));
}

Test(admin, sigterm_ends_when_viewers_leave)
{
	start("drain_timeout = 30");
	cr_assert_eq(kill(relay_pid(relay), SIGTERM), 0);
	cr_assert(relay_log_wait(relay, "draining", 3000));
	int64_t t0 = it_now_ms();
	viewer_stop(viewer);
	viewer = NULL;
	cr_assert_eq(relay_exit_status(relay, 5000), 0);
	cr_assert(it_now_ms() - t0 < 5000);
}

Test(admin, second_sigterm_stops_at_once)
{
	start("drain_timeout = 60");
	cr_assert_eq(kill(relay_pid(relay), SIGTERM), 0);
	cr_assert(relay_log_wait(relay, "draining", 3000));
	cr_assert_eq(kill(relay_pid(relay), SIGTERM), 0);
	cr_assert_eq(relay_exit_status(relay, 5000), 0);
	cr_assert(viewer_wait_disconnect(viewer, 5000));
}

/* -n: a non-loopback address without allow_remote, no token file, a short token. */
Test(admin, config_errors)
{
	char bin[512], cmd[1024], text[512], out[4096];
	snprintf(dir, sizeof(dir), "/tmp/pg-it-admin-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/c.ini", dir);
	snprintf(token_path, sizeof(token_path), "%s/token", dir);
	it_bin_path("pixelgate", bin, sizeof(bin));
	struct {
		const char *admin, *token, *want;
	} cases[] = {
	    {"listen = 192.0.2.1:9180\ntoken_file = %s\n", TOKEN, "is not a loopback address"},
	    {"listen = 127.0.0.1:9180\n", TOKEN, "[admin] listen needs token_file"},
	    {"listen = 127.0.0.1:9180\ntoken_file = %s\n", "short", "shorter than 32"},
	    {"listen = 127.0.0.1:9180\nallow_remote = maybe\ntoken_file = %s\n", TOKEN,
	     "allow_remote = 'maybe'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char admin[256];
		write_file(token_path, cases[i].token);
		snprintf(admin, sizeof(admin), cases[i].admin, token_path);
		snprintf(text, sizeof(text),
			 "[relay]\nlisten = 127.0.0.1:5999\nsecurity = none\n[upstream]\naddress = "
			 "127.0.0.1:5901\n[admin]\n%s",
			 admin);
		write_file(conf_path, text);
		snprintf(cmd, sizeof(cmd), "%s -n -c %s 2>&1", bin, conf_path);
		FILE *p = popen(cmd, "r");
		size_t n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		int st = pclose(p);
		cr_assert_neq(WEXITSTATUS(st), 0, "case %zu passed: %s", i, out);
		cr_assert(strstr(out, cases[i].want), "case %zu: no '%s' in: %s", i, cases[i].want,
			  out);
	}
	/* allow_remote = yes takes a management address. */
	write_file(token_path, TOKEN);
	snprintf(text, sizeof(text),
		 "[relay]\nlisten = 127.0.0.1:5999\nsecurity = none\n[upstream]\naddress = "
		 "127.0.0.1:5901\n[admin]\nlisten = 192.0.2.1:9180\nallow_remote = yes\n"
		 "token_file = %s\n",
		 token_path);
	write_file(conf_path, text);
	snprintf(cmd, sizeof(cmd), "%s -n -c %s 2>&1 | grep -c admin", bin, conf_path);
	FILE *p = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	cr_assert_str_eq(out, "0\n", "errors about [admin]: %s", out);
}

Test(admin, reload_changes_the_token)
{
	start(NULL);
	cr_assert_eq(get("/metrics"), 200);
	write_file(token_path, "fedcba9876543210fedcba9876543210-new\n");
	cr_assert_eq(kill(relay_pid(relay), SIGHUP), 0);
	cr_assert(relay_log_wait(relay, "reload (SIGHUP): configuration", 5000));
	cr_assert_eq(get("/metrics"), 401);
	cr_assert_eq(http("GET", "/metrics", "Bearer fedcba9876543210fedcba9876543210-new"), 200);
	/* A token too short is a rejected reload: the new one stays. */
	write_file(token_path, "short\n");
	cr_assert_eq(kill(relay_pid(relay), SIGHUP), 0);
	cr_assert(relay_log_wait(relay, "shorter than 32", 5000));
	cr_assert_eq(http("GET", "/metrics", "Bearer fedcba9876543210fedcba9876543210-new"), 200);
}

Test(admin, clipboard_decisions_counted)
{
	start(NULL);
	cr_assert(viewer_send_cut_text(viewer, "hello", 5));
	cr_assert(audit_wait("\"clipboard\"", 5000), "no clipboard record");
	cr_assert_eq(get("/metrics"), 200);
	/* The default policy denies both directions. */
	cr_assert_eq(metric("pixelgate_clipboard_decisions_total{direction=\"to-browser\",decision="
			    "\"denied\"}"),
		     1, "%s", body);
	cr_assert_eq(metric("pixelgate_clipboard_decisions_total{direction=\"to-browser\",decision="
			    "\"allowed\"}"),
		     0, "%s", body);
	cr_assert_eq(
	    metric(
		"pixelgate_clipboard_decisions_total{direction=\"to-viewer\",decision=\"denied\"}"),
	    0, "%s", body);
}

/* Idle connections (a slowloris) neither keep /healthz out nor stay past the
 * deadline. */
Test(admin, idle_connections_do_not_hold_the_port)
{
	start(NULL);
	int fds[48];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)admin_port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	for (int i = 0; i < 48; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		cr_assert_eq(write(fds[i], "GET /healthz HTTP/1.1\r\n", 23), 23);
	}
	int64_t t0 = it_now_ms();
	cr_assert_eq(http("GET", "/healthz", NULL), 200);
	cr_assert(it_now_ms() - t0 < 2000);
	/* Every idle one is closed by the deadline (5 s), the oldest ones at once. */
	for (int i = 0; i < 48; i++) {
		struct timeval tv = {.tv_sec = 8};
		char b[64];
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t r = read(fds[i], b, sizeof(b));
		cr_assert(r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK),
			  "idle connection %d: read %zd (%s)", i, r, strerror(errno));
		close(fds[i]);
	}
	cr_assert(it_now_ms() - t0 < 9000);
	cr_assert(relay_alive(relay));
}
