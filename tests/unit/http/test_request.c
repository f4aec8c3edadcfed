/* The request parser: a browser's GET and WebSocket upgrade, every prefix against
 * a guard page, byte-by-byte arrival, and every refusal with its status, each
 * checked whole and byte by byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "codec/err.h"
#include "http/request.h"
#include "http_util.h"

/* Parse s whole in a fresh request. */
static int parse_all(struct pg_http_req *r, const char *s, size_t len)
{
	pg_http_req_init(r);
	struct pgx_guard g = {0};
	const uint8_t *p = pgx_guard_place(&g, s, len);
	int rc = pg_http_parse(r, p, len);
	pgx_guard_free(&g);
	return rc;
}

/* Parse s as it would arrive one byte at a time: each call sees the bytes so far,
 * placed anew against a guard page. Returns the first non-zero result. */
static int parse_bytewise(struct pg_http_req *r, const char *s, size_t len)
{
	pg_http_req_init(r);
	for (size_t k = 1; k <= len; k++) {
		struct pgx_guard g = {0};
		const uint8_t *p = pgx_guard_place(&g, s, k);
		int rc = pg_http_parse(r, p, k);
		pgx_guard_free(&g);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static const char browser_get[] =
    "GET /app/ui.js?v=1.4&x=%41 HTTP/1.1\r\n"
    "Host: relay.example:8443\r\n"
    "user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\r\n"
    "Accept: */*\r\n"
    "Accept-Language: ja,en-US;q=0.9\r\n"
    "If-None-Match: \"0123456789abcdef\"\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

Test(request, browser_get)
{
	struct pg_http_req r;
	size_t len = strlen(browser_get);
	cr_assert_eq(parse_all(&r, browser_get, len), (int)len);
	cr_assert_eq(r.method, PG_HTTP_GET);
	cr_assert_eq(r.minor, 1);
	cr_assert_str_eq(r.path, "/app/ui.js");
	cr_assert_str_eq(r.query, "v=1.4&x=%41");
	cr_assert_str_eq(r.host, "relay.example:8443");
	cr_assert_str_eq(r.if_none_match, "\"0123456789abcdef\"");
	cr_assert_str_eq(r.user_agent, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
				       "Chrome/120.0 Safari/537.36");
	cr_assert_eq(r.conn, PG_HTTP_CONN_KEEP_ALIVE);
	cr_assert_str_eq(r.origin, "");
	cr_assert_eq(r.has, PG_HTTP_HAS_HOST);
}

Test(request, websocket_upgrade_leaves_frames_alone)
{
	char buf[1024];
	size_t req = strlen(pgx_ws_request);
	memcpy(buf, pgx_ws_request, req);
	/* A client may send its first frame right behind the request. */
	memcpy(buf + req, "\x82\x85\x01\x02\x03\x04hello", 11);
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, buf, req + 11), (int)req);
	cr_assert_str_eq(r.path, "/websockify");
	cr_assert_str_eq(r.upgrade, "websocket");
	cr_assert_eq(r.conn, PG_HTTP_CONN_UPGRADE);
	cr_assert_str_eq(r.origin, "https://relay.example:8443");
	cr_assert_str_eq(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
	cr_assert_str_eq(r.ws_version, "13");
	cr_assert_str_eq(r.ws_protocol, "binary");
	cr_assert_eq(r.has, PG_HTTP_HAS_HOST | PG_HTTP_HAS_ORIGIN | PG_HTTP_HAS_KEY);
}

Test(request, pipelined_request_is_not_read)
{
	const char s[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, s, strlen(s)), 28);
	cr_assert_str_eq(r.path, "/a");
}

Test(request, every_prefix_needs_more_then_the_whole_parses)
{
	const char *reqs[] = {browser_get, pgx_ws_request, "HEAD / HTTP/1.0\r\n\r\n",
			      "GET /x HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Other: \r\n\r\n"};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		size_t len = strlen(reqs[i]);
		struct pg_http_req r;
		/* Fresh each time: every prefix is "need more". */
		for (size_t k = 0; k < len; k++)
			cr_assert_eq(parse_all(&r, reqs[i], k), 0, "request %zu prefix %zu", i, k);
		/* Incrementally, one byte more each call, the same result. */
		cr_assert_eq(parse_bytewise(&r, reqs[i], len), (int)len, "request %zu", i);
		struct pg_http_req whole;
		cr_assert_eq(parse_all(&whole, reqs[i], len), (int)len);
		cr_assert_str_eq(r.path, whole.path);
		cr_assert_str_eq(r.host, whole.host);
		cr_assert_str_eq(r.user_agent, whole.user_agent);
		cr_assert_str_eq(r.ws_key, whole.ws_key);
		cr_assert_eq(r.conn, whole.conn);
	}
}

Test(request, empty_values_and_http10_without_host)
{
	struct pg_http_req r;
	const char *s = "GET /x HTTP/1.1\r\nX-Empty:\r\nHost: h\r\nUser-Agent:\r\n\r\n";
	cr_assert_eq(parse_all(&r, s, strlen(s)), (int)strlen(s));
	cr_assert_str_eq(r.host, "h");
	/* HTTP/1.0 needs no Host (decision: served, and a WebSocket refused later). */
	s = "HEAD / HTTP/1.0\r\n\r\n";
	cr_assert_eq(parse_all(&r, s, strlen(s)), (int)strlen(s));
	cr_assert_eq(r.method, PG_HTTP_HEAD);
	cr_assert_eq(r.minor, 0);
	cr_assert_str_eq(r.path, "/");
	cr_assert_eq(r.has, 0);
}

Test(request, header_names_ignore_case_and_lists_join)
{
	struct pg_http_req r;
	const char *s = "GET / HTTP/1.1\r\nhOsT: H.example\r\nORIGIN: https://h.example\r\n"
			"connection: keep-alive\r\nCONNECTION: Upgrade\r\nupgrade: websocket\r\n"
			"Sec-Websocket-Protocol: base64\r\nsec-websocket-protocol: binary \r\n\r\n";
	cr_assert_eq(parse_all(&r, s, strlen(s)), (int)strlen(s));
	cr_assert_str_eq(r.host, "H.example");
	cr_assert_str_eq(r.origin, "https://h.example");
	cr_assert_str_eq(r.connection, "keep-alive, Upgrade");
	cr_assert_eq(r.conn, PG_HTTP_CONN_KEEP_ALIVE | PG_HTTP_CONN_UPGRADE);
	cr_assert_str_eq(r.ws_protocol, "base64, binary");
	cr_assert(pg_http_has_token(r.ws_protocol, "BINARY"));
	cr_assert(!pg_http_has_token(r.ws_protocol, "bin"));
}

Test(request, user_agent_is_truncated)
{
	char s[1024], ua[400];
	memset(ua, 'u', sizeof(ua) - 1);
	ua[sizeof(ua) - 1] = '\0';
	snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: %s\r\n\r\n", ua);
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, s, strlen(s)), (int)strlen(s));
	cr_assert_eq(strlen(r.user_agent), PG_HTTP_MAX_UA);
}

Test(request, limits_are_exact)
{
	static char s[PG_HTTP_MAX_REQUEST + 4096];
	struct pg_http_req r;
	/* A 2048-byte target is fine, 2049 is 414. */
	for (int extra = 0; extra < 2; extra++) {
		size_t o = (size_t)sprintf(s, "GET /");
		memset(s + o, 'a', PG_HTTP_MAX_URL - 1 + extra);
		o += PG_HTTP_MAX_URL - 1 + extra;
		o += (size_t)sprintf(s + o, " HTTP/1.1\r\nHost: h\r\n\r\n");
		int rc = parse_all(&r, s, o);
		if (!extra) {
			cr_assert_eq(rc, (int)o);
			cr_assert_eq(strlen(r.path), PG_HTTP_MAX_URL);
		} else {
			cr_assert_eq(rc, PG_ELIMIT);
			cr_assert_eq(r.status, 414);
		}
	}
	/* 64 headers are fine, 65 are 431. */
	for (int n = 64; n <= 65; n++) {
		size_t o = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\n");
		for (int i = 1; i < n; i++)
			o += (size_t)sprintf(s + o, "X-%d: v\r\n", i);
		o += (size_t)sprintf(s + o, "\r\n");
		int rc = parse_all(&r, s, o);
		cr_assert_eq(rc, n == 64 ? (int)o : PG_ELIMIT, "%d headers", n);
		if (n == 65) {
			cr_assert_eq(r.status, 431);
			cr_assert_eq(parse_bytewise(&r, s, o), PG_ELIMIT);
			cr_assert_eq(r.status, 431);
		}
	}
}

Test(request, nine_kib_of_headers)
{
	static char s[16384];
	size_t o = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(s + o, 'b', 9 * 1024);
	o += 9 * 1024;
	o += (size_t)sprintf(s + o, "\r\n\r\n");
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, s, o), PG_ELIMIT);
	cr_assert_eq(r.status, 431);
	cr_assert_eq(parse_bytewise(&r, s, o), PG_ELIMIT);
	cr_assert_eq(r.status, 431);
	/* Spread over many headers, too. */
	o = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < 9; i++) {
		o += (size_t)sprintf(s + o, "X-%d: ", i);
		memset(s + o, 'c', 1000);
		o += 1000;
		o += (size_t)sprintf(s + o, "\r\n");
	}
	o += (size_t)sprintf(s + o, "\r\n");
	cr_assert_eq(parse_all(&r, s, o), PG_ELIMIT);
	cr_assert_eq(r.status, 431);
}

Test(request, never_needs_more_than_the_cap)
{
	/* Whitespace no callback sees still counts: a request that has not ended
	 * within PG_HTTP_MAX_REQUEST bytes is refused, never "need more". */
	static char s[PG_HTTP_MAX_REQUEST + 10];
	memset(s, '\n', sizeof(s));
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, s, PG_HTTP_MAX_REQUEST - 1), 0);
	cr_assert_lt(parse_all(&r, s, PG_HTTP_MAX_REQUEST), 0);
	size_t o = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\nX: a");
	memset(s + o, ' ', sizeof(s) - o - 1);
	cr_assert_lt(parse_all(&r, s, sizeof(s) - 1), 0);
	cr_assert_eq(r.status, 431);
}

struct refusal {
	const char *req;
	int status;
};

static const struct refusal refusals[] = {
    /* traversal and odd paths */
    {"GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /%2E%2e%2Fetc HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /..%2fetc HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a/.. HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /index.html%00.js HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET //etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%2f%2fb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a/%2Fb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%5cb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%0ab HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a% HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET http://evil.example/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    /* methods */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405},
    {"PUT / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"CONNECT relay:443 HTTP/1.1\r\nHost: h\r\n\r\n", 405},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400}, /* not a method to http-parser */
    {"get / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400},
    /* bodies */
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 413},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
    /* versions */
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
    {"GET /\r\n\r\n", 505}, /* HTTP/0.9 */
    /* hosts and duplicates */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nOrigin: https://a\r\nOrigin: https://b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Key: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Version: 13\r\n"
     "Sec-WebSocket-Version: 8\r\n\r\n",
     400},
    /* header syntax */
    {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
     "b\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\n .evil\r\n\r\n", 400}, /* folded: "h .evil" */
};

Test(request, refusals)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *f = &refusals[i];
		size_t len = strlen(f->req);
		struct pg_http_req r;
		int rc = parse_all(&r, f->req, len);
		cr_assert_lt(rc, 0, "%zu: %s parsed (%d)", i, f->req, rc);
		cr_assert_eq(r.status, f->status, "%zu: %s: status %d, not %d (%s)", i, f->req,
			     r.status, f->status, r.why);
		cr_assert_not_null(r.why);
		int want = f->status == 400			  ? PG_EPROTO
			   : f->status == 405 || f->status == 505 ? PG_EUNSUP
								  : PG_ELIMIT;
		cr_assert_eq(rc, want, "%zu", i);
		/* Byte by byte: the same answer, and never before the request says so. */
		const char *why = r.why;
		cr_assert_eq(parse_bytewise(&r, f->req, len), rc, "%zu bytewise", i);
		cr_assert_eq(r.status, f->status, "%zu bytewise: %s vs %s", i, r.why, why);
		/* Once refused, it stays refused. */
		cr_assert_eq(pg_http_parse(&r, (const uint8_t *)f->req, len), rc);
	}
}

Test(request, body_of_zero_is_fine)
{
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, s, strlen(s)), (int)strlen(s));
}

Test(request, obs_fold_becomes_a_space)
{
	/* http-parser replaces obs-fold with SP, which RFC 9112 (5.2) allows: the
	 * folded Origin can match no allowed origin, a folded Host is invalid. */
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nOrigin: https://a\r\n .evil\r\n\r\n";
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, s, strlen(s)), (int)strlen(s));
	cr_assert_str_eq(r.origin, "https://a .evil");
}

/* The admin listener's requests: POST only when the caller allows it, still with
 * no body, and the Authorization header kept (one of them). */
static int parse_post(struct pg_http_req *r, const char *s, bool allow)
{
	pg_http_req_init(r);
	r->allow_post = allow;
	return pg_http_parse(r, (const uint8_t *)s, strlen(s));
}

Test(request, post_only_when_allowed)
{
	static const char post[] = "POST /sessions/0123456789abcdef/end HTTP/1.1\r\nHost: h\r\n"
				   "Authorization: Bearer abc\r\nContent-Length: 0\r\n\r\n";
	struct pg_http_req r;
	cr_assert_eq(parse_post(&r, post, false), PG_EUNSUP);
	cr_assert_eq(r.status, 405);
	cr_assert_eq(parse_post(&r, post, true), (int)strlen(post));
	cr_assert_eq(r.method, PG_HTTP_POST);
	cr_assert_str_eq(r.path, "/sessions/0123456789abcdef/end");
	cr_assert_str_eq(r.authorization, "Bearer abc");
	static const char body[] = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
	cr_assert_eq(parse_post(&r, body, true), PG_ELIMIT);
	cr_assert_eq(r.status, 413);
	cr_assert_eq(parse_post(&r, "PUT /x HTTP/1.1\r\nHost: h\r\n\r\n", true), PG_EUNSUP);
}

Test(request, authorization_once)
{
	static const char twice[] = "GET /metrics HTTP/1.1\r\nHost: h\r\n"
				    "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"
				    "Authorization: Bearer c\r\n\r\n";
	struct pg_http_req r;
	cr_assert_eq(parse_all(&r, twice, strlen(twice)), (int)strlen(twice));
	cr_assert_str_eq(r.authorization, "");
	cr_assert_eq(parse_bytewise(&r, twice, strlen(twice)), (int)strlen(twice));
	cr_assert_str_eq(r.authorization, "");
}
