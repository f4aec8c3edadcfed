/* Helpers for the web listener's tests; see web_util.h. */
#include "web_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness_util.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define IO_MS	5000 /* the longest any single exchange may take */

struct wu_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	/* RFB payload received and not yet handed out. */
	uint8_t *rfb;
	size_t rfb_len, rfb_cap;
	unsigned other_opcode;
	unsigned close_code;
	char close_reason[128];
};

/* ---- sockets ---- */

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int wu_tcp_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	/* A relay that closes on us must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	set_timeouts(fd, IO_MS);
	/* Small writes leave at once: one TLS record, one segment. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "web_util: connect to port %d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int wu_fd_local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	return ntohs(a.sin_port);
}

int wu_local_port(const struct wu_conn *c)
{
	return wu_fd_local_port(c->fd);
}

void wu_close(struct wu_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rfb);
	free(c);
}

struct wu_conn *wu_connect(int port, const char *ca_file)
{
	struct wu_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = wu_tcp_connect(port);
	if (c->fd < 0)
		goto fail;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (ca_file) {
		if (SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	if (ca_file)
		SSL_set1_host(c->ssl, "127.0.0.1");
	/* The socket's timeouts bound the handshake. */
	if (SSL_connect(c->ssl) != 1) {
		fprintf(stderr, "web_util: TLS handshake failed: %s\n",
			ERR_error_string(ERR_get_error(), NULL));
		goto fail;
	}
	/* From here reads are bounded by deadlines; short socket timeouts let a read
	 * that waits for the rest of a record notice its deadline. */
	set_timeouts(c->fd, 200);
	return c;
fail:
	wu_close(c);
	return NULL;
}

int wu_send(struct wu_conn *c, const void *buf, size_t len)
{
	return wu_send_within(c, buf, len, IO_MS);
}

int wu_send_within(struct wu_conn *c, const void *buf, size_t len, int timeout_ms)
{
	size_t off = 0;
	int64_t deadline = it_now_ms() + timeout_ms;

	while (off < len) {
		size_t done = 0;

		if (SSL_write_ex(c->ssl, (const uint8_t *)buf + off, len - off, &done) != 1) {
			int e = SSL_get_error(c->ssl, 0);

			ERR_clear_error();
			if (e == SSL_ERROR_WANT_WRITE && it_now_ms() < deadline)
				continue;
			return -1;
		}
		off += done;
	}
	return 0;
}

int wu_send_split(struct wu_conn *c, const void *buf, size_t len, size_t piece)
{
	if (!piece)
		return wu_send(c, buf, len);
	for (size_t off = 0; off < len; off += piece)
		if (wu_send(c, (const uint8_t *)buf + off, len - off < piece ? len - off : piece) <
		    0)
			return -1;
	return 0;
}

/* Up to n plaintext bytes: > 0, 0 when the relay closed (close_notify, EOF, reset or
 * a TLS error), -1 when deadline passed. */
static int tls_read(struct wu_conn *c, void *buf, size_t n, int64_t deadline)
{
	for (;;) {
		size_t got = 0;
		int left = (int)(deadline - it_now_ms());

		if (left <= 0)
			return -1;
		if (!SSL_pending(c->ssl)) {
			struct pollfd p = {.fd = c->fd, .events = POLLIN};
			int r = poll(&p, 1, left);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
		}
		if (SSL_read_ex(c->ssl, buf, n, &got) == 1)
			return (int)got;
		switch (SSL_get_error(c->ssl, 0)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			ERR_clear_error();
			continue; /* part of a record, or a session ticket */
		default:
			ERR_clear_error();
			return 0;
		}
	}
}

static bool read_exact(struct wu_conn *c, void *buf, size_t n, int64_t deadline)
{
	for (size_t off = 0; off < n;) {
		int r = tls_read(c, (uint8_t *)buf + off, n - off, deadline);

		if (r <= 0)
			return false;
		off += (size_t)r;
	}
	return true;
}

/* Up to n bytes from a plain socket, as tls_read answers. */
static int fd_read(int fd, void *buf, size_t n, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - it_now_ms());
		ssize_t r;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
		r = recv(fd, buf, n, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return r > 0 ? (int)r : 0;
	}
}

/* wu_read_until_close on either kind of connection: c, or the plain socket fd. */
static bool read_until_close(struct wu_conn *c, int fd, int timeout_ms, char *buf, size_t size,
			     size_t *got)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t total = 0, kept = 0;
	uint8_t chunk[16384];
	bool closed;

	if (buf && size)
		buf[0] = 0;
	for (;;) {
		int r = c ? tls_read(c, chunk, sizeof(chunk), deadline)
			  : fd_read(fd, chunk, sizeof(chunk), deadline);

		if (r <= 0) {
			closed = r == 0;
			break;
		}
		if (buf && kept + 1 < size) {
			size_t n = (size_t)r < size - 1 - kept ? (size_t)r : size - 1 - kept;

			memcpy(buf + kept, chunk, n);
			kept += n;
			buf[kept] = 0;
		}
		total += (size_t)r;
	}
	if (got)
		*got = total;
	return closed;
}

bool wu_read_until_close(struct wu_conn *c, int timeout_ms, char *buf, size_t size, size_t *got)
{
	return read_until_close(c, -1, timeout_ms, buf, size, got);
}

bool wu_fd_read_until_close(int fd, int timeout_ms, char *buf, size_t size, size_t *got)
{
	return read_until_close(NULL, fd, timeout_ms, buf, size, got);
}

/* ---- HTTP ---- */

int wu_http(int port, const char *request, size_t len, char *resp, size_t size, int *local_port)
{
	struct wu_conn *c = wu_connect(port, NULL);
	int status = -1;

	resp[0] = 0;
	if (local_port)
		*local_port = -1;
	if (!c)
		return -1;
	if (local_port)
		*local_port = wu_local_port(c);
	/* A refusal may come before the whole request is sent: read what came anyway. */
	wu_send(c, request, len);
	wu_read_until_close(c, IO_MS, resp, size, NULL);
	status = wu_status(resp);
	wu_close(c);
	return status;
}

int wu_status(const char *resp)
{
	int status;

	if (sscanf(resp, "HTTP/1.1 %d ", &status) != 1)
		return -1;
	return status;
}

bool wu_header(const char *resp, const char *name, char *value, size_t size)
{
	const char *end = strstr(resp, "\r\n\r\n");
	size_t nl = strlen(name);

	if (!end)
		end = resp + strlen(resp);
	for (const char *p = strstr(resp, "\r\n"); p && p < end; p = strstr(p, "\r\n")) {
		const char *e;
		size_t vl;

		p += 2;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		p += nl + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		e = strstr(p, "\r\n");
		if (!e)
			e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		vl = (size_t)(e - p) < size - 1 ? (size_t)(e - p) : size - 1;
		memcpy(value, p, vl);
		value[vl] = 0;
		return true;
	}
	return false;
}

const char *wu_body(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p ? p + 4 : NULL;
}

/* ---- WebSocket framing ---- */

size_t wu_ws_header(uint8_t *out, bool fin, unsigned opcode, bool masked, unsigned len7,
		    uint64_t ext, const uint8_t key[4])
{
	size_t n = 0;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	out[n++] = (uint8_t)((masked ? 0x80 : 0) | (len7 & 0x7f));
	if ((len7 & 0x7f) == 126) {
		out[n++] = (uint8_t)(ext >> 8);
		out[n++] = (uint8_t)ext;
	} else if ((len7 & 0x7f) == 127) {
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(ext >> (8 * i));
	}
	if (masked) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	return n;
}

void wu_ws_mask(uint8_t *p, size_t len, const uint8_t key[4], uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		p[i] ^= key[(offset + i) % 4];
}

size_t wu_ws_frame(uint8_t *out, bool fin, unsigned opcode, bool masked, const uint8_t key[4],
		   const void *payload, size_t len)
{
	size_t n;

	if (len < 126)
		n = wu_ws_header(out, fin, opcode, masked, (unsigned)len, 0, key);
	else if (len < 65536)
		n = wu_ws_header(out, fin, opcode, masked, 126, len, key);
	else
		n = wu_ws_header(out, fin, opcode, masked, 127, len, key);
	if (len)
		memcpy(out + n, payload, len);
	if (masked)
		wu_ws_mask(out + n, len, key, 0);
	return n + len;
}

/* A mask key with no zero byte, so masking always changes every byte. */
static void mask_key(uint8_t key[4])
{
	if (RAND_bytes(key, 4) != 1)
		memcpy(key, "\x5a\xa5\x3c\xc3", 4);
	for (int i = 0; i < 4; i++)
		key[i] |= 0x01;
}

static void accept_of(const char *key, char *out /* 29 bytes */)
{
	char in[128];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
	EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

int wu_ws_upgrade(struct wu_conn *c, int port, const char *origin, const char *version,
		  bool with_key, char *resp, size_t size)
{
	return wu_ws_upgrade_early(c, port, origin, version, with_key, NULL, 0, resp, size);
}

int wu_ws_upgrade_early(struct wu_conn *c, int port, const char *origin, const char *version,
			bool with_key, const void *early, size_t early_len, char *resp, size_t size)
{
	char req[2048], key[32] = "", want[32], got[256];
	uint8_t *all;
	size_t req_len;
	uint8_t raw[16];
	size_t n = 0;
	int64_t deadline = it_now_ms() + IO_MS;
	int status;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	snprintf(req, sizeof(req),
		 "GET /websockify HTTP/1.1\r\n"
		 "Host: 127.0.0.1:%d\r\n"
		 "User-Agent: pixelgate-web-hostile-test\r\n"
		 "Upgrade: websocket\r\n"
		 "Connection: Upgrade\r\n"
		 "%s%s%s"
		 "%s%s%s"
		 "%s%s%s"
		 "Sec-WebSocket-Protocol: binary\r\n"
		 "\r\n",
		 port, origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "",
		 version ? "Sec-WebSocket-Version: " : "", version ? version : "",
		 version ? "\r\n" : "", with_key ? "Sec-WebSocket-Key: " : "", with_key ? key : "",
		 with_key ? "\r\n" : "");
	resp[0] = 0;
	/* The request and what follows it in one write, so in one TLS record. */
	req_len = strlen(req);
	all = malloc(req_len + early_len);
	if (!all)
		return -1;
	memcpy(all, req, req_len);
	if (early_len)
		memcpy(all + req_len, early, early_len);
	status = wu_send(c, all, req_len + early_len);
	free(all);
	if (status < 0)
		return -1;
	/* Byte by byte: what follows the header block is the first WebSocket frame. */
	while (n + 1 < size) {
		if (!read_exact(c, resp + n, 1, deadline))
			break;
		resp[++n] = 0;
		if (n >= 4 && !memcmp(resp + n - 4, "\r\n\r\n", 4))
			break;
	}
	status = wu_status(resp);
	if (status != 101) {
		/* A refusal: the rest is its body, then the relay closes. */
		if (n + 1 < size)
			wu_read_until_close(c, IO_MS, resp + n, size - n, NULL);
		return status;
	}
	accept_of(key, want);
	if (!wu_header(resp, "Sec-WebSocket-Accept", got, sizeof(got)) || strcmp(got, want)) {
		fprintf(stderr, "web_util: Sec-WebSocket-Accept is '%s', expected '%s'\n", got,
			want);
		return -1;
	}
	if (!wu_header(resp, "Sec-WebSocket-Protocol", got, sizeof(got)) || strcmp(got, "binary")) {
		fprintf(stderr, "web_util: the 101 does not choose the subprotocol binary\n");
		return -1;
	}
	return status;
}

static int read_frame_until(struct wu_conn *c, int64_t deadline, unsigned *opcode, bool *fin,
			    uint8_t *buf, size_t size, size_t *len)
{
	uint8_t h[8];
	uint64_t plen;

	if (!read_exact(c, h, 2, deadline))
		return 0;
	if ((h[0] & 0x70) || (h[1] & 0x80)) {
		fprintf(stderr, "web_util: the relay sent a frame with %s\n",
			h[1] & 0x80 ? "a mask" : "reserved bits");
		return -1;
	}
	*opcode = h[0] & 0x0f;
	*fin = h[0] & 0x80;
	plen = h[1] & 0x7f;
	if (plen == 126) {
		if (!read_exact(c, h, 2, deadline))
			return 0;
		plen = (uint64_t)h[0] << 8 | h[1];
	} else if (plen == 127) {
		if (!read_exact(c, h, 8, deadline))
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | h[i];
		if (plen > (64u << 20)) {
			fprintf(stderr, "web_util: the relay sent a frame of %llu bytes\n",
				(unsigned long long)plen);
			return -1;
		}
	}
	*len = (size_t)plen;
	for (uint64_t off = 0; off < plen;) {
		uint8_t scratch[4096];
		size_t want = plen - off < sizeof(scratch) ? (size_t)(plen - off) : sizeof(scratch);

		if (!read_exact(c, scratch, want, deadline))
			return 0;
		if (off < size)
			memcpy(buf + off, scratch, size - off < want ? (size_t)(size - off) : want);
		off += want;
	}
	return 1;
}

int wu_ws_read_frame(struct wu_conn *c, int timeout_ms, unsigned *opcode, bool *fin, uint8_t *buf,
		     size_t size, size_t *len)
{
	return read_frame_until(c, it_now_ms() + timeout_ms, opcode, fin, buf, size, len);
}

static void note_close(struct wu_conn *c, const uint8_t *p, size_t len)
{
	size_t rl;

	if (len < 2) {
		c->close_code = 1005;
		return;
	}
	c->close_code = (unsigned)p[0] << 8 | p[1];
	rl = len - 2 < sizeof(c->close_reason) - 1 ? len - 2 : sizeof(c->close_reason) - 1;
	memcpy(c->close_reason, p + 2, rl);
	c->close_reason[rl] = 0;
}

static bool rfb_reserve(struct wu_conn *c, size_t more)
{
	if (c->rfb_len + more <= c->rfb_cap)
		return true;
	size_t cap = c->rfb_cap ? c->rfb_cap : 65536;
	while (cap < c->rfb_len + more)
		cap *= 2;
	uint8_t *p = realloc(c->rfb, cap);
	if (!p)
		return false;
	c->rfb = p;
	c->rfb_cap = cap;
	return true;
}

bool wu_rfb_read(struct wu_conn *c, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	static uint8_t frame[1 << 17];

	while (c->rfb_len < len) {
		unsigned op;
		bool fin;
		size_t n;

		if (read_frame_until(c, deadline, &op, &fin, frame, sizeof(frame), &n) != 1)
			return false;
		if (op == 0x8) {
			note_close(c, frame, n);
			return false;
		}
		if (op == 0x9 || op == 0xa)
			continue;
		if (op != 0x2 && op != 0x0) {
			if (!c->other_opcode)
				c->other_opcode = op;
			return false;
		}
		if (n > sizeof(frame) || !rfb_reserve(c, n))
			return false;
		memcpy(c->rfb + c->rfb_len, frame, n);
		c->rfb_len += n;
	}
	memcpy(buf, c->rfb, len);
	memmove(c->rfb, c->rfb + len, c->rfb_len - len);
	c->rfb_len -= len;
	return true;
}

static int rfb_send_split(struct wu_conn *c, const void *buf, size_t len, size_t piece)
{
	uint8_t *f = malloc(len + 14), key[4];
	int rc;

	if (!f)
		return -1;
	mask_key(key);
	rc = wu_send_split(c, f, wu_ws_frame(f, true, 0x2, true, key, buf, len), piece);
	free(f);
	return rc;
}

int wu_rfb_send(struct wu_conn *c, const void *buf, size_t len)
{
	return rfb_send_split(c, buf, len, 0);
}

unsigned wu_ws_other_opcode(const struct wu_conn *c)
{
	return c->other_opcode;
}

unsigned wu_ws_close_code(const struct wu_conn *c, const char **reason)
{
	if (reason)
		*reason = c->close_reason;
	return c->close_code;
}

unsigned wu_ws_wait_close(struct wu_conn *c, int timeout_ms, bool *eof)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	static uint8_t frame[1 << 17];

	if (eof)
		*eof = false;
	while (!c->close_code) {
		unsigned op;
		bool fin;
		size_t n;
		int r = read_frame_until(c, deadline, &op, &fin, frame, sizeof(frame), &n);

		if (r != 1) {
			if (eof && r == 0 && it_now_ms() < deadline)
				*eof = true;
			return 0;
		}
		if (op == 0x8)
			note_close(c, frame, n < sizeof(frame) ? n : sizeof(frame));
	}
	{
		int left = (int)(deadline - it_now_ms());
		bool closed = wu_read_until_close(c, left > 0 ? left : 1, NULL, 0, NULL);

		if (eof)
			*eof = closed;
	}
	return c->close_code;
}

/* ---- RFB ---- */

void wu_key_event(uint8_t out[8], uint32_t key, bool down)
{
	out[0] = 4;
	out[1] = down;
	out[2] = out[3] = 0;
	out[4] = (uint8_t)(key >> 24);
	out[5] = (uint8_t)(key >> 16);
	out[6] = (uint8_t)(key >> 8);
	out[7] = (uint8_t)key;
}

struct wu_conn *wu_rfb_open(int port, size_t piece, int *w, int *h)
{
	char origin[64], resp[4096];
	uint8_t b[256], n;
	const char *step = "TLS";
	struct wu_conn *c = wu_connect(port, NULL);
	uint32_t name_len;

	if (!c)
		goto fail;
	snprintf(origin, sizeof(origin), "https://127.0.0.1:%d", port);
	step = "upgrade";
	if (wu_ws_upgrade(c, port, origin, "13", true, resp, sizeof(resp)) != 101)
		goto fail;
	step = "the relay's ProtocolVersion in a binary frame";
	if (!wu_rfb_read(c, b, 12, IO_MS) || memcmp(b, "RFB 003.008\n", 12) != 0)
		goto fail;
	step = "sending ProtocolVersion";
	if (rfb_send_split(c, "RFB 003.008\n", 12, piece) < 0)
		goto fail;
	step = "security types";
	if (!wu_rfb_read(c, &n, 1, IO_MS) || n == 0 || !wu_rfb_read(c, b, n, IO_MS) ||
	    !memchr(b, 1, n))
		goto fail;
	step = "choosing None";
	if (rfb_send_split(c, "\x01", 1, piece) < 0)
		goto fail;
	step = "SecurityResult";
	if (!wu_rfb_read(c, b, 4, IO_MS) || memcmp(b, "\0\0\0\0", 4) != 0)
		goto fail;
	step = "ClientInit";
	if (rfb_send_split(c, "\x01", 1, piece) < 0)
		goto fail;
	step = "ServerInit";
	if (!wu_rfb_read(c, b, 24, IO_MS))
		goto fail;
	if (w)
		*w = b[0] << 8 | b[1];
	if (h)
		*h = b[2] << 8 | b[3];
	name_len = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
	while (name_len) {
		uint32_t k = name_len < sizeof(b) ? name_len : sizeof(b);

		if (!wu_rfb_read(c, b, k, IO_MS))
			goto fail;
		name_len -= k;
	}
	return c;
fail:
	fprintf(stderr, "web_util: WebSocket RFB handshake failed at: %s", step);
	if (c && c->close_code)
		fprintf(stderr, " (close %u: %s)", c->close_code, c->close_reason);
	fprintf(stderr, "\n");
	wu_close(c);
	return NULL;
}
