/* An incremental HTTP/1.1 request parser for the relay's HTTPS listener, over
 * http-parser: GET and HEAD (POST when asked), no body, every part capped. Pure, no I/O. */
#ifndef PG_HTTP_REQUEST_H
#define PG_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_HTTP_MAX_URL		 2048 /* request target as sent (414 above) */
#define PG_HTTP_MAX_HEADER_BLOCK 8192 /* first header name to the last value (431) */
#define PG_HTTP_MAX_HEADERS	 64   /* header lines (431) */
/* The most a request may take, request line and blank line included: a caller
 * that buffers this much always gets an answer other than "need more". */
#define PG_HTTP_MAX_REQUEST (PG_HTTP_MAX_URL + PG_HTTP_MAX_HEADER_BLOCK + 64)
#define PG_HTTP_MAX_HOST    255 /* Host (400 above) */
#define PG_HTTP_MAX_FIELD   255 /* Origin, Upgrade, Connection, Sec-WebSocket-* (400 above) */
#define PG_HTTP_MAX_UA	    128 /* User-Agent, truncated: for the log only */

enum pg_http_method {
	PG_HTTP_GET = 1,
	PG_HTTP_HEAD,
	PG_HTTP_POST, /* only when the caller set allow_post (no body either) */
};

/* Tokens found in Connection (and its repeats). */
#define PG_HTTP_CONN_UPGRADE	(1u << 0)
#define PG_HTTP_CONN_CLOSE	(1u << 1)
#define PG_HTTP_CONN_KEEP_ALIVE (1u << 2)

/* Headers seen, for fields whose empty value differs from their absence. */
#define PG_HTTP_HAS_HOST   (1u << 0)
#define PG_HTTP_HAS_ORIGIN (1u << 1)
#define PG_HTTP_HAS_KEY	   (1u << 2)
#define PG_HTTP_HAS_AUTH   (1u << 3)

struct pg_http_req {
	/* Valid once pg_http_parse returned > 0. Strings are NUL-terminated;
	 * absent headers are "". */
	enum pg_http_method method;
	int minor;			 /* HTTP/1.<minor>: 0 or 1 */
	char path[PG_HTTP_MAX_URL + 1];	 /* percent-decoded, starts with '/' */
	char query[PG_HTTP_MAX_URL + 1]; /* after '?', as sent */
	char host[PG_HTTP_MAX_HOST + 1];
	char origin[PG_HTTP_MAX_FIELD + 1];
	char upgrade[PG_HTTP_MAX_FIELD + 1];	/* repeats joined with ", " */
	char connection[PG_HTTP_MAX_FIELD + 1]; /* likewise; tokens in conn */
	unsigned conn;				/* PG_HTTP_CONN_* */
	unsigned has;				/* PG_HTTP_HAS_* */
	char ws_key[PG_HTTP_MAX_FIELD + 1];
	char ws_version[PG_HTTP_MAX_FIELD + 1];
	char ws_protocol[PG_HTTP_MAX_FIELD + 1]; /* repeats joined with ", " */
	char if_none_match[PG_HTTP_MAX_FIELD + 1];
	char user_agent[PG_HTTP_MAX_UA + 1];
	char authorization[PG_HTTP_MAX_FIELD + 1]; /* "" when absent or over 255 bytes */

	/* Set by the caller after pg_http_req_init: accept POST (still without a
	 * body) besides GET and HEAD. The admin listener does; the web one does not. */
	bool allow_post;

	/* Set when pg_http_parse fails: the status to answer (400, 405, 413, 414,
	 * 431, 505) and why, a static string for the log. */
	int status;
	const char *why;

	/* Private to request.c. */
	struct {
		unsigned char hp[64]; /* http-parser's state, as bytes */
		size_t seen;	      /* bytes of the caller's buffer parsed */
		size_t url_len;
		size_t hdr_start, nheaders;
		bool url_done, in_value, done, failed;
		bool value_over, name_over;
		char url[PG_HTTP_MAX_URL + 1];
		char name[32];
		size_t name_len;
		char value[PG_HTTP_MAX_FIELD + 1];
		size_t value_len;
	} priv;
};

void pg_http_req_init(struct pg_http_req *r);

/* Parse the request at the start of p. p and len are everything received so far
 * on the connection: each call passes the previous call's bytes plus new ones,
 * possibly moved (r remembers how far it parsed; each byte is parsed once).
 * Returns the request's length once its header block is complete (bytes after
 * it, such as early WebSocket frames, are not looked at), 0 when more is needed
 * (never once len >= PG_HTTP_MAX_REQUEST), or PG_EPROTO, PG_ELIMIT or PG_EUNSUP
 * with r->status and r->why set. Call pg_http_req_init before parsing another
 * request. */
int pg_http_parse(struct pg_http_req *r, const uint8_t *p, size_t len);

/* Whether a comma-separated header value (Connection, Upgrade,
 * Sec-WebSocket-Protocol) holds token, case-insensitively. */
bool pg_http_has_token(const char *list, const char *token);
/* The next item of such a list, trimmed: a pointer into it with *len bytes, *p
 * moved past it; NULL at the end. */
const char *pg_http_list_next(const char **p, size_t *len);

#endif
