/* Hostile HTTP and WebSocket input against the real relay's web listener ([web] listen):
 * every request is refused with a log line naming why (and, for refusals, an audit
 * record), nothing outside the page's folder is ever served, and nothing a hostile
 * WebSocket peer sends reaches the browser host (a libvncserver host). A good path, with
 * frames split byte by byte across TLS records, proves the refusals are for the reasons
 * they name and not for a broken client. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_util.h"
#include "harness_util.h"
#include "policy_util.h"
#include "web_util.h"

#define W 64
#define H 48

/* A key that must never reach the host, and one that proves the path works. */
#define MARKER_KEY 0x0100263aU /* U+263A */
#define GOOD_KEY   0x61U

#define INDEX_HTML "<!doctype html><title>pixelgate test page</title><p>pg-test-index</p>\n"
#define APP_CSS	   "body { color: #123456 }\n"

static struct it_host *host;
static struct it_relay *relay;
static struct au_env env;
static int web_port;
static char root[160];

static void teardown(void)
{
	relay_stop(relay);
	host_free(host);
	au_env_free(&env);
}

/* The test's own web root: a page, a sub-folder, a hidden file and symlinks out of it. */
static void fill_root(void)
{
	char path[256];

	snprintf(root, sizeof(root), "%s/www", env.dir);
	cr_assert(mkdir(root, 0755) == 0, "mkdir %s", root);
	snprintf(path, sizeof(path), "%s/index.html", root);
	cr_assert(au_write_file(path, 0644, INDEX_HTML));
	snprintf(path, sizeof(path), "%s/static", root);
	cr_assert(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/static/app.css", root);
	cr_assert(au_write_file(path, 0644, APP_CSS));
	snprintf(path, sizeof(path), "%s/.htaccess", root);
	cr_assert(au_write_file(path, 0644, "pg-hidden-file\n"));
	snprintf(path, sizeof(path), "%s/passwd", root);
	cr_assert(symlink("/etc/passwd", path) == 0);
	snprintf(path, sizeof(path), "%s/etc", root);
	cr_assert(symlink("/etc", path) == 0);
	snprintf(path, sizeof(path), "%s/static/hosts.html", root);
	cr_assert(symlink("/etc/hosts", path) == 0);
}

static void start(void)
{
	char extra[512], sections[512];

	if (it_direct_mode())
		cr_skip_test("relay-only: the web listener is the relay's");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	cr_assert(au_env_init(&env, true), "cannot make the scratch folder and certificate");
	fill_root();
	web_port = it_free_port();
	cr_assert(web_port > 0);
	snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\nauth_timeout = 2\n", env.cert,
		 env.key);
	snprintf(sections, sizeof(sections), "[web]\nlisten = 127.0.0.1:%d\nroot = %s\n", web_port,
		 root);
	cr_assert(pu_write_config(&env, host_port(host), extra, sections));
	relay = pu_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start");
	if (!relay_log_wait(relay, "listening for browsers", 5000)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("the web listener did not start");
	}
}

TestSuite(web_hostile, .init = start, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

static void expect_log(const char *fmt, int port, const char *what)
{
	char needle[512];

	snprintf(needle, sizeof(needle), fmt, port, what);
	if (!relay_log_wait(relay, needle, 5000)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("no log line '%s'", needle);
	}
}

/* The log line of a connection: "127.0.0.1:<port>: closed: web: <what>". */
static void expect_closed(int port, const char *what)
{
	expect_log("127.0.0.1:%d: closed: web: %s", port, what);
}

/* A web-refused audit record for status; its request field in request. */
static void expect_refused_audit(int status, const char *request, const char *reason)
{
	char line[2048], st[32];

	snprintf(st, sizeof(st), "\"status\":%d", status);
	if (!au_audit_wait(env.audit, line, sizeof(line), 5000, "\"event\":\"web-refused\"", st,
			   "\"source\":\"127.0.0.1\"", request, reason, NULL))
		cr_assert_fail("no web-refused audit record with %s, %s, %s", st, request, reason);
}

/* Nothing in a response that only the files outside the page hold. */
static void assert_nothing_outside(const char *resp, const char *what)
{
	cr_assert(!strstr(resp, "root:") && !strstr(resp, ":0:0:"),
		  "%s: the response holds /etc/passwd:\n%s", what, resp);
	cr_assert(!strstr(resp, "localhost"), "%s: the response holds /etc/hosts:\n%s", what, resp);
	cr_assert(!strstr(resp, "pg-hidden-file"), "%s: a hidden file was served", what);
}

static int get(const char *req, char *resp, size_t size, int *lport)
{
	return wu_http(web_port, req, strlen(req), resp, size, lport);
}

/* The same request line with the test's Host. */
static int get_path(const char *method, const char *path, char *resp, size_t size, int *lport)
{
	char req[4096];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", method, path,
		 web_port);
	return get(req, resp, size, lport);
}

static void assert_security_headers(const char *resp, const char *what)
{
	char v[1024];

	cr_assert(wu_header(resp, "Content-Security-Policy", v, sizeof(v)), "%s: no CSP:\n%s", what,
		  resp);
	cr_assert(strstr(v, "frame-ancestors 'none'"), "%s: CSP without frame-ancestors: %s", what,
		  v);
	cr_assert(strstr(v, "default-src 'self'"), "%s: CSP without default-src: %s", what, v);
	cr_assert(wu_header(resp, "Strict-Transport-Security", v, sizeof(v)) &&
		      strstr(v, "max-age="),
		  "%s: no HSTS:\n%s", what, resp);
	cr_assert(wu_header(resp, "X-Content-Type-Options", v, sizeof(v)) && !strcmp(v, "nosniff"),
		  "%s: no nosniff:\n%s", what, resp);
}

/* A good web viewer through the RFB handshake, each client frame sent in pieces of
 * piece bytes (0: whole); the relay's log is shown when that fails. */
static struct wu_conn *rfb_open(size_t piece, int *w, int *h, const char *what)
{
	struct wu_conn *c = wu_rfb_open(web_port, piece, w, h);

	if (!c)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(c, "%s", what);
	return c;
}

/* Until the host has n key events, 5 s at most. */
static void wait_host_keys(int n)
{
	int64_t deadline = it_now_ms() + 5000;

	while (host_key_count(host) < n && it_now_ms() < deadline)
		it_sleep_ms(20);
}

/* No key event and no clipboard text reached the host; then a good web viewer's key
 * does, after everything the hostile one sent: the relay and the host's session still
 * work, and the marker is not merely late. */
static void assert_host_got_nothing(void)
{
	struct wu_conn *c;
	uint8_t ke[8];
	uint32_t key = 0;
	bool down;

	cr_assert(relay_alive(relay), "the relay died");
	c = rfb_open(0, NULL, NULL, "a good web viewer cannot connect after the hostile one");
	wu_key_event(ke, GOOD_KEY, true);
	cr_assert(wu_rfb_send(c, ke, sizeof(ke)) == 0);
	wait_host_keys(1);
	it_sleep_ms(200); /* room for anything else in flight */
	wu_close(c);
	for (int i = 0; i < host_key_count(host); i++) {
		cr_assert(host_key_at(host, i, &key, &down));
		cr_assert(key != MARKER_KEY, "the marker key reached the host (event %d)", i);
	}
	cr_assert_eq(host_key_count(host), 1, "the host got %d key events, expected the good one",
		     host_key_count(host));
	cr_assert(host_key_at(host, 0, &key, &down) && key == GOOD_KEY && down);
	cr_assert_eq(host_cut_text_count(host), 0, "clipboard text reached the host");
}

/* ---- static files ---- */

Test(web_hostile, get_root_has_the_page_and_security_headers)
{
	char resp[8192], v[256];
	int lport;

	cr_assert_eq(get_path("GET", "/", resp, sizeof(resp), &lport), 200, "%s", resp);
	assert_security_headers(resp, "GET /");
	cr_assert(wu_header(resp, "Content-Type", v, sizeof(v)) && !strncmp(v, "text/html", 9),
		  "Content-Type %s", v);
	cr_assert(wu_header(resp, "X-Frame-Options", v, sizeof(v)) && !strcmp(v, "DENY"));
	cr_assert_str_eq(wu_body(resp), INDEX_HTML);
	cr_assert_eq(get_path("GET", "/static/app.css", resp, sizeof(resp), NULL), 200, "%s", resp);
	cr_assert(wu_header(resp, "Content-Type", v, sizeof(v)) && !strncmp(v, "text/css", 8),
		  "Content-Type %s", v);
	cr_assert_str_eq(wu_body(resp), APP_CSS);
	/* The request byte by byte, each byte its own TLS record. */
	{
		char req[256];
		struct wu_conn *c = wu_connect(web_port, env.cert);

		cr_assert_not_null(c);
		snprintf(req, sizeof(req), "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
			 web_port);
		cr_assert(wu_send_split(c, req, strlen(req), 1) == 0);
		cr_assert(wu_read_until_close(c, 5000, resp, sizeof(resp), NULL));
		wu_close(c);
		cr_assert_eq(wu_status(resp), 200, "%s", resp);
		cr_assert_str_eq(wu_body(resp), INDEX_HTML);
	}
	/* A page served is not worth a log line; the relay keeps going. */
	cr_assert(relay_alive(relay));
}

Test(web_hostile, traversal_is_refused_and_serves_nothing_outside)
{
	static const char *const paths[] = {
	    "/../../etc/passwd",
	    "/%2e%2e/%2e%2e/etc/passwd",
	    "/%2E%2E/%2E%2E/etc/passwd",
	    "/..%2fetc%2fpasswd",
	    "/%2e%2e%5c",
	    "/..\\..\\etc\\passwd",
	    "//etc/passwd",
	    "/index.html%00.js",
	    "/static/../../../etc/passwd",
	    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
	    "/static/.%2e/index.html",
	    "/%252e%252e/etc/passwd",
	    "/etc/passwd",
	    "/passwd",
	    "/%2fetc%2fpasswd",
	    "/index.html%2f..%2f..%2fetc%2fpasswd",
	    "http://127.0.0.1/etc/passwd",
	    "*",
	};
	char resp[8192];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int lport, status = get_path("GET", paths[i], resp, sizeof(resp), &lport);

		cr_assert(status == 400 || status == 404, "GET %s: status %d:\n%s", paths[i],
			  status, resp);
		assert_nothing_outside(resp, paths[i]);
		assert_security_headers(resp, paths[i]);
		/* Every refusal has its line, naming the connection. */
		expect_closed(lport, status == 400 ? "request: " : "served ");
		if (status == 400)
			expect_refused_audit(400, "\"request\":\"request\"", "\"reason\":");
	}
}

Test(web_hostile, symlinks_and_hidden_files_are_not_served)
{
	static const char *const paths[] = {
	    "/passwd", "/etc/passwd", "/etc/hosts", "/static/hosts.html", "/.htaccess", "/static/"};
	char resp[8192];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int lport;

		cr_assert_eq(get_path("GET", paths[i], resp, sizeof(resp), &lport), 404,
			     "GET %s:\n%s", paths[i], resp);
		assert_nothing_outside(resp, paths[i]);
		expect_closed(lport, "served ");
		expect_log("127.0.0.1:%d: web: %s not found", lport, paths[i]);
	}
}

/* One request per connection: a second one behind the first is never answered. */
Test(web_hostile, pipelined_request_is_not_served)
{
	char req[512], resp[8192];
	int lport;

	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
		 "GET /passwd HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
		 "GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
		 web_port, web_port, web_port);
	cr_assert_eq(get(req, resp, sizeof(resp), &lport), 200, "%s", resp);
	cr_assert_str_eq(wu_body(resp), INDEX_HTML, "more than one response");
	assert_nothing_outside(resp, "pipelined");
}

Test(web_hostile, head_answers_without_a_body)
{
	char resp[8192], v[64], want[64];
	int lport;

	cr_assert_eq(get_path("HEAD", "/", resp, sizeof(resp), &lport), 200, "%s", resp);
	assert_security_headers(resp, "HEAD /");
	snprintf(want, sizeof(want), "%zu", strlen(INDEX_HTML));
	cr_assert(wu_header(resp, "Content-Length", v, sizeof(v)) && !strcmp(v, want),
		  "Content-Length '%s', expected %s", v, want);
	cr_assert(wu_body(resp) && !*wu_body(resp), "HEAD sent a body:\n%s", resp);
	cr_assert_eq(get_path("HEAD", "/passwd", resp, sizeof(resp), NULL), 404);
}

Test(web_hostile, post_is_405)
{
	char req[512], resp[8192], v[64];
	int lport;

	snprintf(req, sizeof(req),
		 "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 5\r\n\r\nhello",
		 web_port);
	cr_assert_eq(get(req, resp, sizeof(resp), &lport), 405, "%s", resp);
	cr_assert(wu_header(resp, "Allow", v, sizeof(v)) && strstr(v, "GET"), "Allow: %s", v);
	cr_assert(!strstr(resp, "pg-test-index"), "POST served the page");
	expect_closed(lport, "request: method not allowed");
	expect_refused_audit(405, "\"request\":\"request\"", "method not allowed");
	/* Other methods alike. */
	cr_assert_eq(get_path("PUT", "/index.html", resp, sizeof(resp), NULL), 405);
	cr_assert_eq(get_path("OPTIONS", "*", resp, sizeof(resp), NULL), 405);
}

/* GET / with rest (the body's header, the blank line and the body) must be refused
 * with 413 or 400, never served, and logged; its status. */
static int refused_body(const char *rest, const char *what)
{
	char req[512], resp[8192];
	int lport, status;

	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s", web_port, rest);
	status = get(req, resp, sizeof(resp), &lport);
	cr_assert(status == 413 || status == 400, "%s: status %d:\n%s", what, status, resp);
	cr_assert(!strstr(resp, "pg-test-index"), "%s got the page", what);
	expect_closed(lport, "request: ");
	return status;
}

Test(web_hostile, request_with_a_body_is_refused)
{
	int status = refused_body("Content-Length: 5\r\n\r\nhello", "a request with a body");

	expect_refused_audit(status, "\"request\":\"request\"", "\"reason\":");
	refused_body("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		     "a chunked request");
}

/* ---- sizes and deadlines ---- */

Test(web_hostile, long_url_is_414)
{
	char req[4096], path[3001], resp[8192];
	int lport;

	path[0] = '/';
	memset(path + 1, 'a', sizeof(path) - 2);
	path[sizeof(path) - 1] = 0;
	cr_assert_eq(strlen(path), 3000);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, web_port);
	cr_assert_eq(get(req, resp, sizeof(resp), &lport), 414, "%s", resp);
	expect_closed(lport, "request: ");
	expect_refused_audit(414, "\"request\":\"request\"", "\"reason\":");
}

Test(web_hostile, large_header_block_is_431)
{
	char *req = malloc(16384), resp[8192];
	size_t n;
	int lport;

	cr_assert_not_null(req);
	n = (size_t)snprintf(req, 16384, "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", web_port);
	/* 9 headers of a little over 1 KiB: 9 KiB, well under 64 lines. */
	for (int i = 0; i < 9; i++) {
		n += (size_t)snprintf(req + n, 16384 - n, "X-Pad-%d: ", i);
		memset(req + n, 'b', 1024);
		n += 1024;
		n += (size_t)snprintf(req + n, 16384 - n, "\r\n");
	}
	n += (size_t)snprintf(req + n, 16384 - n, "\r\n");
	cr_assert_eq(wu_http(web_port, req, n, resp, sizeof(resp), &lport), 431, "%s", resp);
	free(req);
	expect_closed(lport, "request: ");
	expect_refused_audit(431, "\"request\":\"request\"", "\"reason\":");
}

static size_t headers_request(char *req, size_t size, int extra)
{
	size_t n =
	    (size_t)snprintf(req, size, "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", web_port);

	for (int i = 0; i < extra; i++)
		n += (size_t)snprintf(req + n, size - n, "X-H%d: v\r\n", i);
	n += (size_t)snprintf(req + n, size - n, "\r\n");
	return n;
}

Test(web_hostile, sixty_five_headers_are_431)
{
	char req[4096], resp[8192];
	int lport;

	/* 64 lines (Host and 63 more) are fine: the cap is exactly where it says. */
	size_t n = headers_request(req, sizeof(req), 63);
	cr_assert_eq(wu_http(web_port, req, n, resp, sizeof(resp), NULL), 200, "64 headers:\n%s",
		     resp);
	n = headers_request(req, sizeof(req), 64);
	cr_assert_eq(wu_http(web_port, req, n, resp, sizeof(resp), &lport), 431, "%s", resp);
	cr_assert(!strstr(resp, "pg-test-index"));
	expect_closed(lport, "request: more than 64 headers");
	expect_refused_audit(431, "\"request\":\"request\"", "more than 64 headers");
}

Test(web_hostile, slowloris_is_cut_by_the_deadline)
{
	char head[128], resp[256];
	/* The deadline runs from the relay's accept, before the TLS handshake (which
	 * takes a while under a sanitizer): start the clock before connecting. */
	int64_t t0 = it_now_ms(), took;
	struct wu_conn *c = wu_connect(web_port, env.cert);
	bool closed = false;
	int lport;

	cr_assert_not_null(c);
	lport = wu_local_port(c);
	snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Slow: ", web_port);
	cr_assert(wu_send(c, head, strlen(head)) == 0);
	/* One byte every 200 ms: the deadline is for the whole request, not per byte. */
	while (!closed && it_now_ms() - t0 < 8000) {
		if (wu_send(c, "z", 1) < 0)
			break;
		closed = wu_read_until_close(c, 200, resp, sizeof(resp), NULL);
	}
	if (!closed)
		closed = wu_read_until_close(c, 1000, resp, sizeof(resp), NULL);
	took = it_now_ms() - t0;
	wu_close(c);
	cr_assert(closed, "the relay still held the trickled request after %lld ms",
		  (long long)took);
	/* auth_timeout = 2 */
	cr_assert(took >= 1500 && took <= 5000, "closed after %lld ms", (long long)took);
	cr_assert(!strstr(resp, "pg-test-index"), "the trickled request got the page");
	expect_closed(lport, "request not finished in time");
}

Test(web_hostile, silent_clients_are_cut_by_the_deadline)
{
	struct wu_conn *c = wu_connect(web_port, env.cert);
	int fd = wu_tcp_connect(web_port); /* not even a ClientHello */
	int64_t t0 = it_now_ms();
	bool closed, fd_closed;
	int lport, fd_port;

	cr_assert_not_null(c);
	cr_assert(fd >= 0);
	lport = wu_local_port(c);
	fd_port = wu_fd_local_port(fd);
	closed = wu_read_until_close(c, 5000, NULL, 0, NULL);
	fd_closed = wu_fd_read_until_close(fd, 5000 - (int)(it_now_ms() - t0), NULL, 0, NULL);
	int64_t took = it_now_ms() - t0;
	wu_close(c);
	close(fd);
	cr_assert(closed, "a client silent after TLS is still connected");
	cr_assert(fd_closed, "a client silent before TLS is still connected");
	cr_assert(took >= 1500 && took <= 5000, "closed after %lld ms", (long long)took);
	expect_closed(lport, "request not finished in time");
	expect_closed(fd_port, "request not finished in time");
}

Test(web_hostile, plain_http_is_a_tls_failure)
{
	char req[256], resp[4096], line[2048], v[256];
	int fd = wu_tcp_connect(web_port), lport;
	size_t got = 0;

	cr_assert(fd >= 0);
	lport = wu_fd_local_port(fd);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", web_port);
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	cr_assert(wu_fd_read_until_close(fd, 5000, resp, sizeof(resp), &got),
		  "plain HTTP: the relay did not close");
	close(fd);
	/* Perhaps a TLS alert; never HTTP, never the page. */
	cr_assert(!strstr(resp, "HTTP/") && !strstr(resp, "pg-test-index"),
		  "plain HTTP got an HTTP answer: %s", resp);
	cr_assert(got < 64, "plain HTTP got %zu bytes back", got);
	if (!au_audit_wait(env.audit, line, sizeof(line), 5000, "\"event\":\"tls-failure\"",
			   "\"listener\":\"web\"", "\"source\":\"127.0.0.1\"", NULL))
		cr_assert_fail("no tls-failure audit record for the web listener");
	cr_assert(pu_field_str(line, "reason", v, sizeof(v)) && *v, "%s", line);
	cr_assert(relay_alive(relay));
	/* The RFB listener logs its TLS failures; so must this one. */
	expect_closed(lport, "TLS handshake failed");
}

/* ---- WebSocket upgrade ---- */

static void refused_upgrade(const char *origin, const char *version, bool with_key, int want,
			    const char *why)
{
	char resp[8192];
	struct wu_conn *c = wu_connect(web_port, env.cert);
	int lport, status;

	cr_assert_not_null(c);
	lport = wu_local_port(c);
	status = wu_ws_upgrade(c, web_port, origin, version, with_key, resp, sizeof(resp));
	wu_close(c);
	cr_assert_eq(status, want, "Origin %s, version %s, key %d: got %d:\n%s",
		     origin ? origin : "(none)", version ? version : "(none)", with_key, status,
		     resp);
	cr_assert(!strstr(resp, "RFB 0"), "RFB bytes after a refused upgrade");
	assert_security_headers(resp, "refused upgrade");
	expect_closed(lport, "WebSocket upgrade: ");
	expect_refused_audit(want, "\"request\":\"WebSocket upgrade\"", why);
}

Test(web_hostile, foreign_origin_is_403)
{
	char o[128];

	refused_upgrade("https://evil.example", "13", true, 403, "\"reason\":");
	/* Lookalikes of the page's own origin. */
	snprintf(o, sizeof(o), "http://127.0.0.1:%d", web_port);
	refused_upgrade(o, "13", true, 403, "\"reason\":");
	snprintf(o, sizeof(o), "https://127.0.0.1:%d.evil.example", web_port);
	refused_upgrade(o, "13", true, 403, "\"reason\":");
	snprintf(o, sizeof(o), "https://127.0.0.1:%d", web_port + 1);
	refused_upgrade(o, "13", true, 403, "\"reason\":");
	refused_upgrade("null", "13", true, 403, "\"reason\":");
	assert_host_got_nothing();
}

Test(web_hostile, missing_origin_is_403)
{
	refused_upgrade(NULL, "13", true, 403, "\"reason\":");
}

Test(web_hostile, wrong_version_is_426)
{
	char o[128], resp[8192], v[64];
	struct wu_conn *c;

	snprintf(o, sizeof(o), "https://127.0.0.1:%d", web_port);
	refused_upgrade(o, "8", true, 426, "\"reason\":");
	c = wu_connect(web_port, env.cert);
	cr_assert_not_null(c);
	cr_assert_eq(wu_ws_upgrade(c, web_port, o, "12", true, resp, sizeof(resp)), 426);
	wu_close(c);
	cr_assert(wu_header(resp, "Sec-WebSocket-Version", v, sizeof(v)) && !strcmp(v, "13"),
		  "a 426 without Sec-WebSocket-Version: 13:\n%s", resp);
}

Test(web_hostile, missing_key_is_400)
{
	char o[128], resp[8192], req[512];
	int lport;

	snprintf(o, sizeof(o), "https://127.0.0.1:%d", web_port);
	refused_upgrade(o, "13", false, 400, "\"reason\":");
	/* No upgrade at all on /websockify. */
	snprintf(req, sizeof(req),
		 "GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: %s\r\n\r\n", web_port,
		 o);
	cr_assert_eq(get(req, resp, sizeof(resp), &lport), 400, "%s", resp);
	expect_closed(lport, "WebSocket upgrade: ");
}

/* ---- WebSocket frames after a good upgrade ---- */

/* A good viewer's RFB handshake, then wire (what the hostile peer sends, all of it or
 * until the relay stops taking it): the relay must close with want_code naming why in
 * its close frame, its log and a message-blocked audit record, and nothing may reach
 * the host. */
static void hostile(const uint8_t *wire, size_t len, unsigned want_code, const char *why)
{
	struct wu_conn *c =
	    rfb_open(0, NULL, NULL, "the good handshake before the hostile frames failed");
	char line[2048], reason_field[256];
	const char *reason;
	unsigned code;
	bool eof;
	int lport;

	lport = wu_local_port(c);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 65536 ? len - off : 65536;

		if (wu_send(c, wire + off, n) < 0)
			break; /* the relay hung up: what it read was enough */
		off += n;
	}
	code = wu_ws_wait_close(c, 5000, &eof);
	wu_ws_close_code(c, &reason);
	cr_assert_eq(code, want_code, "close code %u (%s), expected %u for %s", code, reason,
		     want_code, why);
	cr_assert_str_eq(reason, why, "close reason");
	cr_assert(eof, "the relay did not close the connection after its close frame");
	wu_close(c);
	expect_log("127.0.0.1:%d: closed: web: WebSocket: %s", lport, why);
	snprintf(reason_field, sizeof(reason_field), "\"reason\":\"%s\"", why);
	if (!au_audit_wait(env.audit, line, sizeof(line), 5000, "\"event\":\"message-blocked\"",
			   "\"message\":\"WebSocket\"", reason_field, NULL))
		cr_assert_fail("no message-blocked audit record with %s", reason_field);
	assert_host_got_nothing();
}

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

Test(web_hostile, unmasked_frame_closes_1002)
{
	uint8_t ke[8], f[64];

	wu_key_event(ke, MARKER_KEY, true);
	hostile(f, wu_ws_frame(f, true, 0x2, false, NULL, ke, sizeof(ke)), 1002,
		"unmasked client frame");
}

/* A binary frame declaring len in the 64-bit form, the marker key event behind its
 * header: hostile() with want_code and why. */
static void hostile_length(uint64_t len, unsigned want_code, const char *why)
{
	uint8_t f[64], ke[8];
	size_t n = wu_ws_header(f, true, 0x2, true, 127, len, KEY);

	wu_key_event(ke, MARKER_KEY, true);
	wu_ws_mask(ke, sizeof(ke), KEY, 0);
	memcpy(f + n, ke, sizeof(ke));
	hostile(f, n + sizeof(ke), want_code, why);
}

Test(web_hostile, two_to_the_63_length_closes_1002)
{
	hostile_length((uint64_t)1 << 63, 1002, "64-bit length with the top bit set");
}

Test(web_hostile, two_to_the_62_length_closes_1009)
{
	hostile_length((uint64_t)1 << 62, 1009, "message over 4 MiB");
}

Test(web_hostile, fragmented_ping_closes_1002)
{
	uint8_t f[128], ke[8];
	size_t n = wu_ws_frame(f, false, 0x9, true, KEY, "pg", 2);

	/* The key event right behind it, in the same TLS record: nothing after the
	 * violation may be taken. */
	wu_key_event(ke, MARKER_KEY, true);
	n += wu_ws_frame(f + n, true, 0x2, true, KEY, ke, sizeof(ke));
	hostile(f, n, 1002, "fragmented control frame");
}

Test(web_hostile, text_frame_closes_1003)
{
	uint8_t f[64], ke[8];

	wu_key_event(ke, MARKER_KEY, true);
	hostile(f, wu_ws_frame(f, true, 0x1, true, KEY, ke, sizeof(ke)), 1003,
		"text message (binary only)");
}

#define FIVE_MIB (5u << 20)

Test(web_hostile, five_mib_frame_closes_1009)
{
	uint8_t *f = malloc(FIVE_MIB + 14);
	size_t n;

	cr_assert_not_null(f);
	n = wu_ws_header(f, true, 0x2, true, 127, FIVE_MIB, KEY);
	for (size_t i = 0; i < FIVE_MIB; i += 8)
		wu_key_event(f + n + i, MARKER_KEY, true);
	wu_ws_mask(f + n, FIVE_MIB, KEY, 0);
	hostile(f, n + FIVE_MIB, 1009, "message over 4 MiB");
	free(f);
}

/* 5 MiB as one message in five fragments: the first four (4 MiB less a little) are
 * harmless FramebufferUpdateRequests, the fifth crosses the cap and carries the marker. */
Test(web_hostile, five_mib_fragmented_message_closes_1009)
{
	const size_t frag = 104857 * 10; /* whole FramebufferUpdateRequests */
	const size_t total = 4 * (frag + 14) + (1u << 20) + 14;
	uint8_t *f = malloc(total), *p, fbur[10] = {3, 1, 0, 0, 0, 0, 0, W, 0, H};
	uint8_t *payload = malloc(1u << 20);
	size_t n = 0;

	cr_assert(f && payload);
	for (size_t i = 0; i < frag; i += 10)
		memcpy(payload + i, fbur, 10);
	for (int k = 0; k < 4; k++)
		n += wu_ws_frame(f + n, false, k == 0 ? 0x2 : 0x0, true, KEY, payload, frag);
	for (size_t i = 0; i < (1u << 20); i += 8)
		wu_key_event(payload + i, MARKER_KEY, true);
	p = f + n;
	n += wu_ws_frame(p, true, 0x0, true, KEY, payload, 1u << 20);
	cr_assert(n <= total);
	free(payload);
	hostile(f, n, 1009, "message over 4 MiB");
	free(f);
}

/* ---- the good path ---- */

/* The client's ProtocolVersion right behind the upgrade request, before the 101. */
Test(web_hostile, early_frames_behind_the_upgrade_are_rfb)
{
	uint8_t f[64], b[16];
	char resp[4096], o[64];
	struct wu_conn *c = wu_connect(web_port, env.cert);
	size_t n = wu_ws_frame(f, true, 0x2, true, KEY, "RFB 003.008\n", 12);

	cr_assert_not_null(c);
	snprintf(o, sizeof(o), "https://127.0.0.1:%d", web_port);
	cr_assert_eq(wu_ws_upgrade_early(c, web_port, o, "13", true, f, n, resp, sizeof(resp)), 101,
		     "%s", resp);
	cr_assert(wu_rfb_read(c, b, 12, 5000) && !memcmp(b, "RFB 003.008\n", 12));
	/* The security types answer the early version. */
	cr_assert(wu_rfb_read(c, b, 2, 5000), "no security types after the early version");
	cr_assert(b[0] == 1 && b[1] == 1, "security types %u %u", b[0], b[1]);
	wu_close(c);
}

Test(web_hostile, good_path_byte_by_byte)
{
	uint8_t f[256], ke[8], buf[256];
	struct wu_conn *c;
	int w = 0, h = 0, lport;
	size_t n = 0, len;
	uint32_t key = 0;
	bool down = false, fin, eof, pong = false;
	unsigned op, code;
	int64_t deadline;
	char o[64];

	/* Every byte of every frame in its own TLS record, the handshake included. */
	c = rfb_open(1, &w, &h, "the RFB handshake through WebSocket frames failed");
	cr_assert(w == W && h == H, "ServerInit says %dx%d", w, h);
	lport = wu_local_port(c);
	snprintf(o, sizeof(o), "web: WebSocket from https://127.0.0.1:%d", web_port);
	cr_assert(relay_log_wait(relay, o, 3000), "no log line '%s'", o);

	/* A key event in two fragments with a ping between them, byte by byte. */
	wu_key_event(ke, GOOD_KEY, true);
	n += wu_ws_frame(f + n, false, 0x2, true, KEY, ke, 3);
	n += wu_ws_frame(f + n, true, 0x9, true, KEY, "pg-ping", 7);
	n += wu_ws_frame(f + n, true, 0x0, true, KEY, ke + 3, 5);
	cr_assert(wu_send_split(c, f, n, 1) == 0);
	wait_host_keys(1);
	host_last_key(host, &key, &down);
	if (key != GOOD_KEY)
		relay_dump_log(relay, 4000);
	cr_assert(key == GOOD_KEY && down, "the host got key 0x%x, expected 0x%x", key, GOOD_KEY);
	cr_assert_eq(host_key_count(host), 1);
	/* The ping is answered with its payload. */
	deadline = it_now_ms() + 5000;
	while (!pong && it_now_ms() < deadline) {
		if (wu_ws_read_frame(c, (int)(deadline - it_now_ms()), &op, &fin, buf, sizeof(buf),
				     &len) != 1)
			break;
		pong = op == 0xa && len == 7 && !memcmp(buf, "pg-ping", 7);
		cr_assert(op == 0x2 || op == 0xa, "unexpected opcode %u from the relay", op);
	}
	cr_assert(pong, "no pong for the ping");

	/* The key goes up, in one frame; then a clean close. */
	wu_key_event(ke, GOOD_KEY, false);
	cr_assert(wu_rfb_send(c, ke, sizeof(ke)) == 0);
	wait_host_keys(2);
	cr_assert(host_key_at(host, 1, &key, &down) && key == GOOD_KEY && !down);
	n = wu_ws_frame(f, true, 0x8, true, KEY,
			"\x03\xe8"
			"bye",
			5);
	cr_assert(wu_send(c, f, n) == 0);
	code = wu_ws_wait_close(c, 5000, &eof);
	cr_assert_eq(code, 1000, "the relay's close code %u", code);
	cr_assert(eof);
	wu_close(c);
	expect_log("127.0.0.1:%d: closed: %s", lport, "viewer disconnected (WebSocket closed)");
	cr_assert_eq(host_cut_text_count(host), 0);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"message-blocked\"", NULL), 0);
}

/* Under ASan, freed memory waits in a quarantine (256 MiB by default) and counts in
 * the relay's RSS; keep it small for the relays this file starts, so the bound
 * measured below is the relay's own. Ignored by a relay built without ASan. */
__attribute__((constructor)) static void small_asan_quarantine(void)
{
	static char opts[1024];
	const char *o = getenv("ASAN_OPTIONS");
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=4", o ? o : "", o && *o ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
}

/* Pings from a client that never reads its pongs, before any login: the relay must
 * stop reading (or hang up) rather than queue pongs without bound. */
Test(web_hostile, ping_flood_without_reading_stays_bounded)
{
	static uint8_t buf[1 << 20];
	struct wu_conn *c = wu_connect(web_port, env.cert);
	uint8_t payload[125];
	char resp[4096], o[64];
	long rss0, rss1, sent = 0;
	size_t n = 0;
	int64_t t0;

	cr_assert_not_null(c);
	snprintf(o, sizeof(o), "https://127.0.0.1:%d", web_port);
	cr_assert_eq(wu_ws_upgrade(c, web_port, o, "13", true, resp, sizeof(resp)), 101);
	memset(payload, 'p', sizeof(payload));
	while (n + 140 < sizeof(buf))
		n += wu_ws_frame(buf + n, true, 0x9, true, KEY, payload, sizeof(payload));
	rss0 = it_rss_kib(relay_pid(relay));
	/* Within auth_timeout (2 s): the relay's deadline must not be what saves it. */
	t0 = it_now_ms();
	while (it_now_ms() - t0 < 1500) {
		if (wu_send_within(c, buf, n, 300) < 0)
			break; /* the relay stopped reading, or hung up */
		sent += (long)n;
	}
	rss1 = it_rss_kib(relay_pid(relay));
	wu_close(c);
	cr_assert(rss0 > 0 && rss1 > 0);
	if (rss1 - rss0 >= 32 * 1024)
		relay_dump_log(relay, 2000);
	cr_assert(rss1 - rss0 < 32 * 1024,
		  "%ld MiB of unanswered pings grew the relay by %ld MiB (%ld -> %ld KiB): the "
		  "pongs are queued without bound",
		  sent >> 20, (rss1 - rss0) >> 10, rss0, rss1);
	assert_host_got_nothing();
}
