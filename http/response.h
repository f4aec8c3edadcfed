/* HTTP responses for the relay's HTTPS listener, and the WebSocket handshake
 * (RFC 6455, 4.2). Pure: everything is built into a capped struct pg_buf. */
#ifndef PG_HTTP_RESPONSE_H
#define PG_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/buf.h"
#include "http/request.h"

/* Sent with every response but the 101. connect-src 'self' covers wss:// to the
 * page's own origin in current browsers (CSP Level 3). */
#define PG_HTTP_CSP                                                                                \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/* "Not Found" and the like; "Unknown" for a status this file does not use. */
const char *pg_http_status_text(int status);

/* Append a whole response to out: the status line, Content-Type (when not NULL),
 * Content-Length, the security headers (CSP, HSTS, nosniff, no-referrer, DENY),
 * Cache-Control (no-store for HTML and for errors, max-age=3600 otherwise),
 * Connection: close, extra_headers (NULL, or whole "Name: value\r\n" lines), then
 * the body unless head_only (Content-Length still counts it). 0, PG_EPROTO for
 * malformed extra_headers, PG_ELIMIT or PG_ENOMEM. */
int pg_http_response(struct pg_buf *out, int status, const char *content_type, const void *body,
		     size_t len, const char *extra_headers, bool head_only);

/* The same, with Cache-Control: no-store whatever the type: answers that change
 * from one request to the next (the admin listener's). */
int pg_http_response_live(struct pg_buf *out, int status, const char *content_type,
			  const void *body, size_t len, const char *extra_headers, bool head_only);

/* A small text/plain error: "<status> <text>\n<reason>\n" (reason may be NULL;
 * bytes other than printable ASCII become '?'). A 405 says Allow: GET, HEAD and a
 * 426 Sec-WebSocket-Version: 13. Same returns as pg_http_response. */
int pg_http_error(struct pg_buf *out, int status, const char *reason);

/* Check a WebSocket upgrade request and answer it. allowed_origins are origins
 * as browsers send them ("https://relay.example:8443"); the comparison ignores
 * case and a default port (:443 for https, :80 for http) on either side.
 * Returns 0 with the 101 response appended to out (Sec-WebSocket-Protocol:
 * binary when the client offered "binary"), or with *why set (static) and the
 * error response appended to out, ready to send before closing:
 *   PG_EAUTH   403, Origin missing or not allowed;
 *   PG_EUNSUP  426, Sec-WebSocket-Version is not 13;
 *   PG_EPROTO  400, anything else (not GET, not HTTP/1.1, no Upgrade: websocket,
 *              no Connection: upgrade, a key that is not 16 bytes of base64).
 * PG_ELIMIT or PG_ENOMEM when out cannot hold the response. */
int pg_http_ws_accept(const struct pg_http_req *r, const char *const *allowed_origins, size_t n,
		      struct pg_buf *out, const char **why);

#endif
