#include "response.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec/err.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

const char *pg_http_status_text(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

static int appendf(struct pg_buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return PG_ELIMIT;
	return pg_buf_append(b, line, (size_t)n);
}

/* Whole "Name: value\r\n" lines and nothing else: a stray CR or LF from a
 * caller would split the response. */
static bool valid_extra(const char *h)
{
	while (*h) {
		const char *e = strstr(h, "\r\n");
		const char *colon = strchr(h, ':');
		if (!e || e == h || !colon || colon > e || colon == h)
			return false;
		for (const char *c = h; c < e; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				return false;
		h = e + 2;
	}
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int response(struct pg_buf *out, int status, const char *content_type, const void *body,
		    size_t len, const char *extra_headers, bool head_only, bool live)
{
	if ((extra_headers && !valid_extra(extra_headers)) ||
	    (content_type && !printable(content_type)) || status < 100 || status > 599)
		return PG_EPROTO;
	bool html = content_type && strncasecmp(content_type, "text/html", 9) == 0;
	/* A 304 carries neither body nor length (RFC 9110, 15.4.5). */
	bool bodiless = status == 304 || status == 204;
	size_t mark = out->len;
	int rc = appendf(out, "HTTP/1.1 %d %s\r\n", status, pg_http_status_text(status));
	if (!rc && content_type && !bodiless)
		rc = appendf(out, "Content-Type: %s\r\n", content_type);
	if (!rc && !bodiless)
		rc = appendf(out, "Content-Length: %zu\r\n", len);
	if (!rc)
		rc = appendf(out,
			     "Content-Security-Policy: " PG_HTTP_CSP "\r\n"
			     "Strict-Transport-Security: max-age=31536000\r\n"
			     "X-Content-Type-Options: nosniff\r\n"
			     "Referrer-Policy: no-referrer\r\n"
			     "X-Frame-Options: DENY\r\n"
			     "Cache-Control: %s\r\n"
			     "Connection: close\r\n",
			     live || html || status >= 400 ? "no-store" : "max-age=3600");
	if (!rc && extra_headers)
		rc = pg_buf_append(out, extra_headers, strlen(extra_headers));
	if (!rc)
		rc = pg_buf_append(out, "\r\n", 2);
	if (!rc && !head_only && !bodiless && len)
		rc = pg_buf_append(out, body, len);
	if (rc)
		out->len = mark;
	return rc;
}

int pg_http_response(struct pg_buf *out, int status, const char *content_type, const void *body,
		     size_t len, const char *extra_headers, bool head_only)
{
	return response(out, status, content_type, body, len, extra_headers, head_only, false);
}

int pg_http_response_live(struct pg_buf *out, int status, const char *content_type,
			  const void *body, size_t len, const char *extra_headers, bool head_only)
{
	return response(out, status, content_type, body, len, extra_headers, head_only, true);
}

int pg_http_error(struct pg_buf *out, int status, const char *reason)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, pg_http_status_text(status));
	size_t o = (size_t)n;
	for (const char *s = reason; s && *s && o < sizeof(body) - 2; s++)
		body[o++] = (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?';
	if (reason)
		body[o++] = '\n';
	const char *extra = status == 405   ? "Allow: GET, HEAD\r\n"
			    : status == 426 ? "Sec-WebSocket-Version: 13\r\n"
					    : NULL;
	return pg_http_response(out, status, "text/plain; charset=utf-8", body, o, extra, false);
}

/* 16 bytes of canonical base64: 21 free characters, one whose low four bits are
 * zero, then "==". */
static bool valid_key(const char *k)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (strlen(k) != 24 || k[22] != '=' || k[23] != '=')
		return false;
	for (int i = 0; i < 22; i++)
		if (!k[i] || !strchr(alphabet, k[i]))
			return false;
	return strchr("AQgw", k[21]) != NULL;
}

/* An origin's length without a default port, which browsers never send. */
static size_t origin_len(const char *o)
{
	size_t n = strlen(o);
	if (strncasecmp(o, "https://", 8) == 0 && n > 12 && strcmp(o + n - 4, ":443") == 0)
		return n - 4;
	if (strncasecmp(o, "http://", 7) == 0 && n > 10 && strcmp(o + n - 3, ":80") == 0)
		return n - 3;
	return n;
}

static bool origin_allowed(const char *origin, const char *const *allowed, size_t n)
{
	size_t ol = origin_len(origin);
	for (size_t i = 0; i < n; i++)
		if (allowed[i] && origin_len(allowed[i]) == ol &&
		    strncasecmp(origin, allowed[i], ol) == 0)
			return true;
	return false;
}

int pg_http_ws_accept(const struct pg_http_req *r, const char *const *allowed_origins, size_t n,
		      struct pg_buf *out, const char **why)
{
	const char *w = NULL;
	int rc = PG_EPROTO, status = 400;
	if (r->method != PG_HTTP_GET)
		w = "WebSocket upgrade is not a GET";
	else if (r->minor < 1)
		w = "WebSocket upgrade needs HTTP/1.1";
	else if (!pg_http_has_token(r->upgrade, "websocket"))
		w = "no Upgrade: websocket";
	else if (!(r->conn & PG_HTTP_CONN_UPGRADE))
		w = "no Connection: upgrade";
	else if (strcmp(r->ws_version, "13") != 0) {
		w = "Sec-WebSocket-Version is not 13";
		rc = PG_EUNSUP;
		status = 426;
	} else if (!valid_key(r->ws_key))
		w = "Sec-WebSocket-Key is not 16 bytes of base64";
	else if (!(r->has & PG_HTTP_HAS_ORIGIN)) {
		w = "no Origin";
		rc = PG_EAUTH;
		status = 403;
	} else if (!origin_allowed(r->origin, allowed_origins, n)) {
		w = "Origin not allowed";
		rc = PG_EAUTH;
		status = 403;
	}
	if (w) {
		if (why)
			*why = w;
		int e = pg_http_error(out, status, w);
		return e < 0 ? e : rc;
	}

	char in[24 + sizeof(WS_GUID)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned char accept[32];
	memcpy(in, r->ws_key, 24);
	memcpy(in + 24, WS_GUID, sizeof(WS_GUID) - 1);
	if (!EVP_Digest(in, 24 + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return PG_ENOMEM;
	EVP_EncodeBlock(accept, md, 20);
	size_t mark = out->len;
	int e = appendf(out,
			"HTTP/1.1 101 Switching Protocols\r\n"
			"Upgrade: websocket\r\n"
			"Connection: Upgrade\r\n"
			"Sec-WebSocket-Accept: %s\r\n"
			"%s\r\n",
			(const char *)accept,
			pg_http_has_token(r->ws_protocol, "binary")
			    ? "Sec-WebSocket-Protocol: binary\r\n"
			    : "");
	if (e)
		out->len = mark;
	return e;
}
