/* Responses and the WebSocket handshake: the security headers on every answer,
 * RFC 6455's sample key, and each refusal with its status. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "codec/err.h"
#include "http/request.h"
#include "http/response.h"
#include "http_util.h"

static const char *const origins[] = {"https://relay.example:8443", "https://other.example"};

static char *str(struct pg_buf *b)
{
	cr_assert_eq(pg_buf_put_u8(b, 0), 0);
	b->len--;
	return (char *)b->data;
}

static void parse(struct pg_http_req *r, const char *s)
{
	pg_http_req_init(r);
	cr_assert_eq(pg_http_parse(r, (const uint8_t *)s, strlen(s)), (int)strlen(s), "%s (%s)", s,
		     r->why);
}

static void assert_security_headers(const char *s)
{
	cr_assert(strstr(s, "\r\nContent-Security-Policy: default-src 'self'; script-src 'self'; "
			    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
			    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n"),
		  "%s", s);
	cr_assert(strstr(s, "\r\nStrict-Transport-Security: max-age=31536000\r\n"));
	cr_assert(strstr(s, "\r\nX-Content-Type-Options: nosniff\r\n"));
	cr_assert(strstr(s, "\r\nReferrer-Policy: no-referrer\r\n"));
	cr_assert(strstr(s, "\r\nX-Frame-Options: DENY\r\n"));
	cr_assert(strstr(s, "\r\nConnection: close\r\n"));
}

Test(response, html_is_not_cached)
{
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	cr_assert_eq(pg_http_response(&b, 200, "text/html; charset=utf-8", "<p>hi</p>", 9,
				      "ETag: \"abc\"\r\n", false),
		     0);
	char *s = str(&b);
	cr_assert(strncmp(s, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_security_headers(s);
	cr_assert(strstr(s, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
	cr_assert(strstr(s, "\r\nContent-Length: 9\r\n"));
	cr_assert(strstr(s, "\r\nCache-Control: no-store\r\n"));
	cr_assert(strstr(s, "\r\nETag: \"abc\"\r\n"));
	size_t n = strlen(s);
	cr_assert(n > 13 && strcmp(s + n - 13, "\r\n\r\n<p>hi</p>") == 0);
	pg_buf_free(&b);
}

Test(response, scripts_are_cached_and_head_has_no_body)
{
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	cr_assert_eq(
	    pg_http_response(&b, 200, "text/javascript; charset=utf-8", "x=1;", 4, NULL, true), 0);
	char *s = str(&b);
	assert_security_headers(s);
	cr_assert(strstr(s, "\r\nCache-Control: max-age=3600\r\n"));
	cr_assert(strstr(s, "\r\nContent-Length: 4\r\n"));
	size_t n = strlen(s);
	cr_assert(strcmp(s + n - 4, "\r\n\r\n") == 0, "HEAD carried a body");
	pg_buf_free(&b);
}

Test(response, not_modified_has_no_length)
{
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	cr_assert_eq(pg_http_response(&b, 304, "image/png", "data", 4, "ETag: \"e\"\r\n", false),
		     0);
	char *s = str(&b);
	cr_assert(strncmp(s, "HTTP/1.1 304 Not Modified\r\n", 27) == 0);
	cr_assert_null(strstr(s, "Content-Length"));
	cr_assert(strcmp(s + strlen(s) - 4, "\r\n\r\n") == 0);
	pg_buf_free(&b);
}

Test(response, refuses_what_would_split_it)
{
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	cr_assert_eq(
	    pg_http_response(&b, 200, "text/plain", "", 0, "X: a\r\nSet-Cookie: b\n", false),
	    PG_EPROTO);
	cr_assert_eq(pg_http_response(&b, 200, "text/plain", "", 0, "X: a", false), PG_EPROTO);
	cr_assert_eq(pg_http_response(&b, 200, "text/plain", "", 0, "no colon\r\n", false),
		     PG_EPROTO);
	cr_assert_eq(pg_http_response(&b, 200, "text/plain\r\nX: y", "", 0, NULL, false),
		     PG_EPROTO);
	cr_assert_eq(b.len, 0);
	pg_buf_free(&b);
}

Test(response, full_buffer_leaves_nothing_behind)
{
	struct pg_buf b;
	pg_buf_init(&b, 200);
	cr_assert_eq(pg_http_error(&b, 404, "missing"), PG_ELIMIT);
	cr_assert_eq(b.len, 0);
	pg_buf_free(&b);
}

Test(response, errors)
{
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	cr_assert_eq(pg_http_error(&b, 405, "method not allowed\n<script>"), 0);
	char *s = str(&b);
	cr_assert(strncmp(s, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	assert_security_headers(s);
	cr_assert(strstr(s, "\r\nAllow: GET, HEAD\r\n"));
	cr_assert(strstr(s, "\r\nCache-Control: no-store\r\n"));
	cr_assert(strstr(s, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	cr_assert(strstr(s, "\r\n\r\n405 Method Not Allowed\nmethod not allowed?<script>\n"), "%s",
		  s);
	pg_buf_free(&b);
}

Test(ws_accept, rfc6455_sample)
{
	struct pg_http_req r;
	parse(&r, pgx_ws_request);
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	const char *why = NULL;
	cr_assert_eq(pg_http_ws_accept(&r, origins, 2, &b, &why), 0);
	cr_assert_str_eq(str(&b), "HTTP/1.1 101 Switching Protocols\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: Upgrade\r\n"
				  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
				  "Sec-WebSocket-Protocol: binary\r\n"
				  "\r\n");
	pg_buf_free(&b);
}

Test(ws_accept, no_protocol_offered_none_chosen)
{
	struct pg_http_req r;
	parse(&r, "GET /websockify HTTP/1.1\r\nHost: relay.example\r\n"
		  "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
		  "Origin: HTTPS://Relay.Example\r\nSec-WebSocket-Version: 13\r\n"
		  "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n");
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	const char *why = NULL;
	/* Case, and the default port on the configured side, do not matter. */
	const char *const mine[] = {"https://relay.example:443"};
	cr_assert_eq(pg_http_ws_accept(&r, mine, 1, &b, &why), 0, "%s", why);
	cr_assert_null(strstr(str(&b), "Sec-WebSocket-Protocol"));
	pg_buf_free(&b);
}

struct ws_refusal {
	const char *from, *to; /* replace in pgx_ws_request */
	int rc, status;
};

static const struct ws_refusal ws_refusals[] = {
    {"Origin: https://relay.example:8443\r\n", "", PG_EAUTH, 403},
    {"Origin: https://relay.example:8443", "Origin: https://evil.example", PG_EAUTH, 403},
    {"Origin: https://relay.example:8443", "Origin: http://relay.example:8443", PG_EAUTH, 403},
    {"Origin: https://relay.example:8443", "Origin: https://relay.example", PG_EAUTH, 403},
    {"Origin: https://relay.example:8443", "Origin: https://relay.example:8443.evil", PG_EAUTH,
     403},
    {"Origin: https://relay.example:8443", "Origin: null", PG_EAUTH, 403},
    {"Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", PG_EUNSUP, 426},
    {"Sec-WebSocket-Version: 13\r\n", "", PG_EUNSUP, 426},
    {"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",
     PG_EPROTO, 400},
    {"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",
     PG_EPROTO, 400},
    {"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSEh",
     PG_EPROTO, 400},
    {"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", PG_EPROTO, 400},
    {"Upgrade: websocket", "Upgrade: h2c", PG_EPROTO, 400},
    {"Connection: Upgrade", "Connection: keep-alive", PG_EPROTO, 400},
    {"GET /websockify HTTP/1.1", "HEAD /websockify HTTP/1.1", PG_EPROTO, 400},
    {"GET /websockify HTTP/1.1", "GET /websockify HTTP/1.0", PG_EPROTO, 400},
};

static char *replace(const char *s, const char *from, const char *to)
{
	static char out[2048];
	const char *at = strstr(s, from);
	cr_assert_not_null(at, "%s", from);
	size_t pre = (size_t)(at - s);
	memcpy(out, s, pre);
	strcpy(out + pre, to);
	strcat(out, at + strlen(from));
	return out;
}

Test(ws_accept, refusals)
{
	for (size_t i = 0; i < sizeof(ws_refusals) / sizeof(ws_refusals[0]); i++) {
		const struct ws_refusal *f = &ws_refusals[i];
		struct pg_http_req r;
		parse(&r, replace(pgx_ws_request, f->from, f->to));
		struct pg_buf b;
		pg_buf_init(&b, 4096);
		const char *why = NULL;
		cr_assert_eq(pg_http_ws_accept(&r, origins, 2, &b, &why), f->rc, "%zu", i);
		cr_assert_not_null(why);
		char line[64];
		snprintf(line, sizeof(line), "HTTP/1.1 %d ", f->status);
		char *s = str(&b);
		cr_assert(strncmp(s, line, strlen(line)) == 0, "%zu: %s", i, s);
		cr_assert(strstr(s, why), "%zu: the body names the reason", i);
		cr_assert_null(strstr(s, "Sec-WebSocket-Accept"));
		if (f->status == 426)
			cr_assert(strstr(s, "\r\nSec-WebSocket-Version: 13\r\n"));
		pg_buf_free(&b);
	}
}

Test(ws_accept, no_allowed_origins_allows_none)
{
	struct pg_http_req r;
	parse(&r, pgx_ws_request);
	struct pg_buf b;
	pg_buf_init(&b, 4096);
	const char *why = NULL;
	cr_assert_eq(pg_http_ws_accept(&r, NULL, 0, &b, &why), PG_EAUTH);
	pg_buf_free(&b);
}
