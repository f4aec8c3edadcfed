#include "request.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>

#include "codec/err.h"

_Static_assert(sizeof(http_parser) <= sizeof(((struct pg_http_req *)0)->priv.hp),
	       "http-parser's state does not fit in struct pg_http_req");

/* Only valid while pg_http_parse runs: callbacks find their chunk's offset in the
 * caller's buffer through it. */
struct ctx {
	struct pg_http_req *r;
	const char *buf;
};

enum { NO_HEADER, IN_NAME, IN_VALUE };

static int fail(struct pg_http_req *r, int status, const char *why)
{
	if (!r->priv.failed) {
		r->priv.failed = true;
		r->status = status;
		r->why = why;
	}
	return -1;
}

static int rc_of(int status)
{
	switch (status) {
	case 413:
	case 414:
	case 431:
		return PG_ELIMIT;
	case 405:
	case 505:
		return PG_EUNSUP;
	default:
		return PG_EPROTO;
	}
}

void pg_http_req_init(struct pg_http_req *r)
{
	memset(r, 0, sizeof(*r));
	http_parser hp;
	http_parser_init(&hp, HTTP_REQUEST);
	memcpy(r->priv.hp, &hp, sizeof(hp));
}

const char *pg_http_list_next(const char **p, size_t *len)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (!*s)
		return NULL;
	const char *e = s;
	while (*e && *e != ',')
		e++;
	*p = e;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*len = (size_t)(e - s);
	return s;
}

bool pg_http_has_token(const char *list, const char *token)
{
	size_t tl = strlen(token), n;
	for (const char *s; (s = pg_http_list_next(&list, &n));)
		if (n == tl && strncasecmp(s, token, tl) == 0)
			return true;
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The target is complete: split the query off, decode the path and refuse any
 * form that could name something outside the served folder, even though static
 * lookups are exact matches: the path also reaches logs. */
static int finish_url(struct pg_http_req *r)
{
	char *url = r->priv.url;
	size_t n = r->priv.url_len;
	r->priv.url_done = true;
	url[n] = '\0';
	if (n == 0 || url[0] != '/')
		return fail(r, 400, "request target is not a path (origin-form only)");
	if (memchr(url, '#', n))
		return fail(r, 400, "fragment in request target");
	char *q = memchr(url, '?', n);
	size_t plen = q ? (size_t)(q - url) : n;
	if (q)
		memcpy(r->query, q + 1, n - plen - 1);
	size_t o = 0;
	for (size_t i = 0; i < plen; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c == '%') {
			int hi = i + 2 < plen ? hexval(url[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(url[i + 2]) : -1;
			if (lo < 0)
				return fail(r, 400, "bad percent-encoding in path");
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0)
			return fail(r, 400, "NUL in path");
		if (c < 0x20 || c == 0x7f)
			return fail(r, 400, "control character in path");
		if (c == '\\')
			return fail(r, 400, "backslash in path");
		if (o > 0 && c == '.' && r->path[o - 1] == '.')
			return fail(r, 400, "'..' in path");
		if (o > 0 && c == '/' && r->path[o - 1] == '/')
			return fail(r, 400, "'//' in path");
		r->path[o++] = (char)c;
	}
	r->path[o] = '\0';
	return 0;
}

/* RFC 9110, 5.6.2. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return true;
	return false;
}

static bool valid_host(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(".-_:[]", *s)))
			return false;
	return true;
}

/* Repeats of a list header are one list (RFC 9110, 5.3); false when it would not fit. */
static bool join(char *dst, const char *v)
{
	size_t dl = strlen(dst), vl = strlen(v);
	size_t sep = dl ? 2 : 0;
	if (dl + sep + vl > PG_HTTP_MAX_FIELD)
		return false;
	if (sep)
		memcpy(dst + dl, ", ", 2);
	memcpy(dst + dl + sep, v, vl + 1);
	return true;
}

static int once(struct pg_http_req *r, char *dst, size_t cap, unsigned bit, const char *v,
		const char *dup, const char *over)
{
	if (r->has & bit)
		return fail(r, 400, dup);
	if (r->priv.value_over || strlen(v) > cap)
		return fail(r, 400, over);
	r->has |= bit;
	strcpy(dst, v);
	return 0;
}

static int commit_header(struct pg_http_req *r)
{
	if (r->priv.name_over)
		return 0; /* longer than any header we read */
	char *name = r->priv.name, *v = r->priv.value;
	name[r->priv.name_len] = '\0';
	size_t vl = r->priv.value_len;
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	v[vl] = '\0';
	bool over = r->priv.value_over;

	if (strcasecmp(name, "transfer-encoding") == 0)
		return fail(r, 400, "Transfer-Encoding in a request (no body is accepted)");
	if (strcasecmp(name, "user-agent") == 0) {
		if (!r->user_agent[0]) {
			size_t n = vl < PG_HTTP_MAX_UA ? vl : PG_HTTP_MAX_UA;
			memcpy(r->user_agent, v, n);
			r->user_agent[n] = '\0';
		}
		return 0;
	}
	static const char *const kept[] = {
	    "host",
	    "origin",
	    "upgrade",
	    "connection",
	    "sec-websocket-key",
	    "sec-websocket-version",
	    "sec-websocket-protocol",
	    "if-none-match",
	    "authorization",
	};
	size_t k = 0;
	while (k < sizeof(kept) / sizeof(kept[0]) && strcasecmp(name, kept[k]) != 0)
		k++;
	if (k == sizeof(kept) / sizeof(kept[0]))
		return 0;
	if (has_ctl(v))
		return fail(r, 400, "control character in a header value");
	switch (k) {
	case 0:
		if (once(r, r->host, PG_HTTP_MAX_HOST, PG_HTTP_HAS_HOST, v, "duplicate Host",
			 "Host over 255 bytes") < 0)
			return -1;
		if (!valid_host(r->host))
			return fail(r, 400, "invalid Host");
		return 0;
	case 1:
		return once(r, r->origin, PG_HTTP_MAX_FIELD, PG_HTTP_HAS_ORIGIN, v,
			    "duplicate Origin", "Origin over 255 bytes");
	case 2:
		if (over || !join(r->upgrade, v))
			return fail(r, 400, "Upgrade over 255 bytes");
		return 0;
	case 3:
		if (over || !join(r->connection, v))
			return fail(r, 400, "Connection over 255 bytes");
		r->conn =
		    (pg_http_has_token(r->connection, "upgrade") ? PG_HTTP_CONN_UPGRADE : 0) |
		    (pg_http_has_token(r->connection, "close") ? PG_HTTP_CONN_CLOSE : 0) |
		    (pg_http_has_token(r->connection, "keep-alive") ? PG_HTTP_CONN_KEEP_ALIVE : 0);
		return 0;
	case 4:
		return once(r, r->ws_key, PG_HTTP_MAX_FIELD, PG_HTTP_HAS_KEY, v,
			    "duplicate Sec-WebSocket-Key", "Sec-WebSocket-Key over 255 bytes");
	case 5:
		if (r->ws_version[0])
			return fail(r, 400, "duplicate Sec-WebSocket-Version");
		if (over)
			return fail(r, 400, "Sec-WebSocket-Version over 255 bytes");
		strcpy(r->ws_version, v);
		return 0;
	case 6:
		if (over || !join(r->ws_protocol, v))
			return fail(r, 400, "Sec-WebSocket-Protocol over 255 bytes");
		return 0;
	case 8:
		/* One credential: a repeat or one too long is none at all. */
		if (over || (r->has & PG_HTTP_HAS_AUTH))
			r->authorization[0] = '\0';
		else
			strcpy(r->authorization, v);
		r->has |= PG_HTTP_HAS_AUTH;
		return 0;
	default:
		/* Only an optimisation: one we cannot hold is as good as none. */
		if (over || !join(r->if_none_match, v))
			r->if_none_match[0] = '\0';
		return 0;
	}
}

/* Header bytes are counted from the first name to the end of the newest data;
 * whitespace the callbacks never see is bounded by PG_HTTP_MAX_REQUEST. */
static int check_block(struct pg_http_req *r, const struct ctx *c, const char *at, size_t len)
{
	size_t end = (size_t)(at - c->buf) + len;
	if (end - r->priv.hdr_start > PG_HTTP_MAX_HEADER_BLOCK)
		return fail(r, 431, "header block over 8 KiB");
	return 0;
}

static bool method_ok(const struct pg_http_req *r, unsigned method)
{
	return method == HTTP_GET || method == HTTP_HEAD || (r->allow_post && method == HTTP_POST);
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
	struct pg_http_req *r = ((struct ctx *)hp->data)->r;
	if (!method_ok(r, hp->method))
		return fail(r, 405, "method not allowed (GET and HEAD only)");
	r->method = hp->method == HTTP_GET    ? PG_HTTP_GET
		    : hp->method == HTTP_HEAD ? PG_HTTP_HEAD
					      : PG_HTTP_POST;
	if (len > PG_HTTP_MAX_URL - r->priv.url_len)
		return fail(r, 414, "request target over 2048 bytes");
	memcpy(r->priv.url + r->priv.url_len, at, len);
	r->priv.url_len += len;
	return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct ctx *c = hp->data;
	struct pg_http_req *r = c->r;
	if (!r->priv.url_done && finish_url(r) < 0)
		return -1;
	if (r->priv.in_value || r->priv.nheaders == 0) {
		if (r->priv.nheaders == 0)
			r->priv.hdr_start = (size_t)(at - c->buf);
		else if (commit_header(r) < 0)
			return -1;
		if (++r->priv.nheaders > PG_HTTP_MAX_HEADERS)
			return fail(r, 431, "more than 64 headers");
		r->priv.in_value = false;
		r->priv.name_len = r->priv.value_len = 0;
		r->priv.name_over = r->priv.value_over = false;
	}
	if (check_block(r, c, at, len) < 0)
		return -1;
	/* Debian's http-parser is built without HTTP_PARSER_STRICT, which lets a
	 * space into a name ("Host : x"): names are tokens or refused. */
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)at[i]))
			return fail(r, 400, "invalid character in a header name");
	if (len > sizeof(r->priv.name) - 1 - r->priv.name_len) {
		r->priv.name_over = true;
		return 0;
	}
	memcpy(r->priv.name + r->priv.name_len, at, len);
	r->priv.name_len += len;
	return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct ctx *c = hp->data;
	struct pg_http_req *r = c->r;
	r->priv.in_value = true;
	if (check_block(r, c, at, len) < 0)
		return -1;
	size_t room = PG_HTTP_MAX_FIELD - r->priv.value_len;
	if (len > room) {
		r->priv.value_over = true;
		len = room;
	}
	memcpy(r->priv.value + r->priv.value_len, at, len);
	r->priv.value_len += len;
	return 0;
}

static int on_headers_complete(http_parser *hp)
{
	struct pg_http_req *r = ((struct ctx *)hp->data)->r;
	if (!r->priv.url_done && finish_url(r) < 0)
		return -1;
	if (r->priv.nheaders && commit_header(r) < 0)
		return -1;
	if (hp->http_major != 1 || hp->http_minor > 1)
		return fail(r, 505, "HTTP version not supported (1.0 and 1.1 only)");
	r->minor = hp->http_minor;
	/* HTTP/1.0 has no Host requirement; HTTP/1.1 does (RFC 9112, 3.2). */
	if (r->minor == 1 && !(r->has & PG_HTTP_HAS_HOST))
		return fail(r, 400, "missing Host");
	if ((hp->flags & F_CHUNKED) || hp->uses_transfer_encoding)
		return fail(r, 400, "Transfer-Encoding in a request (no body is accepted)");
	if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > 0)
		return fail(r, 413, "request body not accepted");
	return 1; /* no body: skip it */
}

static int on_message_complete(http_parser *hp)
{
	struct pg_http_req *r = ((struct ctx *)hp->data)->r;
	r->priv.done = true;
	/* Stop here: what follows is the next protocol's, not a pipelined request. */
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

int pg_http_parse(struct pg_http_req *r, const uint8_t *p, size_t len)
{
	if (r->priv.failed)
		return rc_of(r->status);
	if (r->priv.done)
		return (int)r->priv.seen;
	if (len < r->priv.seen) {
		fail(r, 400, "request buffer shrank between calls");
		return PG_EPROTO;
	}
	size_t end = len < PG_HTTP_MAX_REQUEST ? len : PG_HTTP_MAX_REQUEST;
	if (end > r->priv.seen) {
		/* Copied in and out: the header keeps http-parser's state as bytes. */
		http_parser parser, *hp = &parser;
		memcpy(hp, r->priv.hp, sizeof(*hp));
		struct ctx c = {r, (const char *)p};
		hp->data = &c;
		size_t n = http_parser_execute(hp, &settings, (const char *)p + r->priv.seen,
					       end - r->priv.seen);
		enum http_errno err = HTTP_PARSER_ERRNO(hp);
		hp->data = NULL;
		memcpy(r->priv.hp, hp, sizeof(*hp));
		if (r->priv.failed)
			return rc_of(r->status);
		r->priv.seen += n;
		if (r->priv.done)
			return (int)r->priv.seen;
		if (err != HPE_OK) {
			/* Past a method we refuse, that refusal comes first, however
			 * the bytes arrived (http-parser may find a bad URL byte
			 * before it hands the URL to on_url). */
			if (err != HPE_INVALID_METHOD && !method_ok(r, hp->method))
				fail(r, 405, "method not allowed (GET and HEAD only)");
			else
				fail(r, 400, http_errno_description(err));
			return rc_of(r->status);
		}
	}
	if (end == PG_HTTP_MAX_REQUEST) {
		fail(r, r->priv.url_done ? 431 : 414, "request over its size limit");
		return rc_of(r->status);
	}
	return 0;
}
