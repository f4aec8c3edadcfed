/* The scripted evil browser host (evilhost_util.h). One thread accepts and runs the
 * script on each connection in turn; the socket is non-blocking and every loop polls
 * with a short timeout, so a stop request or a deadline ends any wait. */
#include "evilhost_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX	      (1u << 16)
#define STALL_MS      10000 /* eh_send gives up after this long without progress */
#define POLL_SLICE_MS 50

struct eh_host {
	int listen_fd, port;
	eh_script script;
	void *arg;
	pthread_t thread;
	bool running;
	volatile bool stop;
	pthread_mutex_t lock;
	int connections, handshakes, peer_closed, scripts_done;
};

struct eh_conn {
	struct eh_host *host;
	int fd;
	bool closed; /* the worker closed (counted once) */
	bool parse;  /* past ServerInit: what arrives is client messages */
	bool lost;   /* an unknown client message: the rest is not parsed */
	uint8_t in[IN_MAX];
	size_t in_len;
	int requests;
	bool have_fmt;
	uint8_t fmt[16];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(struct eh_host *h, int *field)
{
	pthread_mutex_lock(&h->lock);
	(*field)++;
	pthread_mutex_unlock(&h->lock);
}

static int get(struct eh_host *h, const int *field)
{
	pthread_mutex_lock(&h->lock);
	int v = *field;
	pthread_mutex_unlock(&h->lock);
	return v;
}

int eh_connections(struct eh_host *h)
{
	return get(h, &h->connections);
}

int eh_handshakes(struct eh_host *h)
{
	return get(h, &h->handshakes);
}

int eh_peer_closed(struct eh_host *h)
{
	return get(h, &h->peer_closed);
}

int eh_scripts_done(struct eh_host *h)
{
	return get(h, &h->scripts_done);
}

bool eh_wait(struct eh_host *h, int (*fn)(struct eh_host *), int n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		if (fn(h) >= n)
			return true;
		if (now_ms() >= deadline)
			return false;
		usleep(20000);
	}
}

bool eh_stopping(const struct eh_conn *c)
{
	return c->host->stop;
}

static void mark_closed(struct eh_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	count(c->host, &c->host->peer_closed);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Length of the client message at p, 0 when incomplete, -1 when unknown. */
static long msg_len(const uint8_t *p, size_t n)
{
	switch (p[0]) {
	case 0:
		return 20;
	case 2:
		return n < 4 ? 0 : 4 + 4 * (long)(p[2] << 8 | p[3]);
	case 3:
		return 10;
	case 4:
		return 8;
	case 5:
		return 6;
	case 6: {
		if (n < 8)
			return 0;
		uint32_t len = rd32(p + 4);
		if (len & 0x80000000u)
			len = 0u - len;
		return len > (1u << 20) ? -1 : 8 + (long)len;
	}
	case 255:
		return 12;
	default:
		return -1;
	}
}

static void parse(struct eh_conn *c)
{
	size_t off = 0;
	while (c->parse && !c->lost && off < c->in_len) {
		const uint8_t *p = c->in + off;
		size_t n = c->in_len - off;
		long len = msg_len(p, n);
		if (len < 0) {
			c->lost = true;
			break;
		}
		if (len == 0 || (size_t)len > n) {
			if ((size_t)len > IN_MAX)
				c->lost = true;
			break;
		}
		if (p[0] == 0) {
			memcpy(c->fmt, p + 4, 16);
			c->have_fmt = true;
		} else if (p[0] == 3) {
			c->requests++;
		}
		off += (size_t)len;
	}
	if (c->lost)
		off = c->in_len; /* nothing more can be understood: drop it */
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* Read what is there; false when the worker closed. */
static bool read_some(struct eh_conn *c)
{
	for (;;) {
		if (c->in_len == IN_MAX) {
			if (!c->parse)
				return true; /* the script reads with eh_read */
			c->in_len = 0;	     /* unparseable: dropped */
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			parse(c);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		mark_closed(c);
		return false;
	}
}

bool eh_send(struct eh_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int64_t last = now_ms();
	while (len > 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLOUT};
		if (c->closed || eh_stopping(c) || now_ms() - last > STALL_MS)
			return false;
		if (poll(&pfd, 1, POLL_SLICE_MS) <= 0)
			continue;
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !read_some(c))
			return false;
		if (!(pfd.revents & POLLOUT))
			continue;
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (n <= 0) {
			mark_closed(c);
			return false;
		}
		p += n;
		len -= (size_t)n;
		last = now_ms();
	}
	return true;
}

bool eh_dribble(struct eh_conn *c, const void *buf, size_t len, int gap_ms)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		if (!eh_send(c, p + i, 1))
			return false;
		if (gap_ms > 0 && !eh_pump(c, gap_ms))
			return false;
	}
	return true;
}

bool eh_read(struct eh_conn *c, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (c->in_len < len) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (c->closed || eh_stopping(c) || now_ms() >= deadline)
			return false;
		if (poll(&pfd, 1, POLL_SLICE_MS) > 0 && !read_some(c))
			return false;
	}
	memcpy(buf, c->in, len);
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;
	return true;
}

bool eh_pump(struct eh_conn *c, int ms)
{
	int64_t deadline = now_ms() + ms;
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		if (c->closed || eh_stopping(c))
			return false;
		if (left <= 0)
			return true;
		if (poll(&pfd, 1, left < POLL_SLICE_MS ? (int)left : POLL_SLICE_MS) > 0 &&
		    !read_some(c))
			return false;
	}
}

bool eh_wait_closed(struct eh_conn *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (!c->closed && !eh_stopping(c) && now_ms() < deadline) {
		c->parse = false; /* whatever comes now is only drained */
		c->in_len = 0;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, POLL_SLICE_MS) > 0)
			read_some(c);
	}
	return c->closed;
}

int eh_requests(const struct eh_conn *c)
{
	return c->requests;
}

bool eh_pixfmt(const struct eh_conn *c, uint8_t out[16])
{
	if (c->have_fmt)
		memcpy(out, c->fmt, 16);
	return c->have_fmt;
}

bool eh_wait_requests(struct eh_conn *c, int n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (c->requests < n) {
		if (now_ms() >= deadline || !eh_pump(c, POLL_SLICE_MS))
			return false;
	}
	return true;
}

void eh_put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

void eh_put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static bool send_gap(struct eh_conn *c, const void *buf, size_t len, int gap_ms)
{
	return gap_ms > 0 ? eh_dribble(c, buf, len, gap_ms) : eh_send(c, buf, len);
}

bool eh_handshake_gap(struct eh_conn *c, int w, int h, const uint8_t *pixfmt, const void *name,
		      size_t name_len, int gap_ms)
{
	static const uint8_t canonical[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	uint8_t b[24];
	if (!send_gap(c, "RFB 003.008\n", 12, gap_ms) || !eh_read(c, b, 12, 5000) ||
	    !send_gap(c, "\x01\x01", 2, gap_ms) || !eh_read(c, b, 1, 5000) || b[0] != 1 ||
	    !send_gap(c, "\0\0\0\0", 4, gap_ms) || !eh_read(c, b, 1, 5000))
		return false;
	eh_put16(b, (unsigned)w);
	eh_put16(b + 2, (unsigned)h);
	memcpy(b + 4, pixfmt ? pixfmt : canonical, 16);
	eh_put32(b + 20, (uint32_t)name_len);
	c->parse = true;
	parse(c);
	if (!send_gap(c, b, 24, gap_ms) || !send_gap(c, name, name_len, gap_ms))
		return false;
	count(c->host, &c->host->handshakes);
	return true;
}

bool eh_handshake(struct eh_conn *c, int w, int h, const uint8_t *pixfmt, const void *name,
		  size_t name_len)
{
	return eh_handshake_gap(c, w, h, pixfmt, name, name_len, 0);
}

size_t eh_update_hdr(uint8_t *b, unsigned nrects)
{
	b[0] = 0;
	b[1] = 0;
	eh_put16(b + 2, nrects);
	return 4;
}

size_t eh_rect_hdr(uint8_t *b, int x, int y, int w, int h, int32_t enc)
{
	eh_put16(b, (unsigned)x);
	eh_put16(b + 2, (unsigned)y);
	eh_put16(b + 4, (unsigned)w);
	eh_put16(b + 6, (unsigned)h);
	eh_put32(b + 8, (uint32_t)enc);
	return 12;
}

size_t eh_compact_len(uint8_t *b, size_t n)
{
	b[0] = (uint8_t)(n & 0x7f);
	if (n < 0x80)
		return 1;
	b[0] |= 0x80;
	b[1] = (uint8_t)(n >> 7 & 0x7f);
	if (n < 0x4000)
		return 2;
	b[1] |= 0x80;
	b[2] = (uint8_t)(n >> 14);
	return 3;
}

static void *run(void *arg)
{
	struct eh_host *h = arg;
	struct eh_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int index = 0; !h->stop; index++) {
		struct pollfd pfd = {.fd = h->listen_fd, .events = POLLIN};
		int fd = -1;
		while (!h->stop && fd < 0) {
			if (poll(&pfd, 1, POLL_SLICE_MS) > 0)
				fd =
				    accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		}
		if (fd < 0)
			break;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(c, 0, sizeof(*c));
		c->host = h;
		c->fd = fd;
		count(h, &h->connections);
		h->script(c, index, h->arg);
		close(fd);
		count(h, &h->scripts_done);
	}
	free(c);
	return NULL;
}

struct eh_host *eh_start(eh_script script, void *arg)
{
	struct eh_host *h = calloc(1, sizeof(*h));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1;
	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->script = script;
	h->arg = arg;
	h->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0)
		goto fail;
	setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(h->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(h->listen_fd, 8) < 0 ||
	    getsockname(h->listen_fd, (struct sockaddr *)&a, &alen) < 0)
		goto fail;
	h->port = ntohs(a.sin_port);
	if (pthread_create(&h->thread, NULL, run, h) != 0)
		goto fail;
	h->running = true;
	return h;
fail:
	fprintf(stderr, "evil host: cannot listen: %s\n", strerror(errno));
	eh_stop(h);
	return NULL;
}

int eh_port(const struct eh_host *h)
{
	return h->port;
}

void eh_stop(struct eh_host *h)
{
	if (!h)
		return;
	h->stop = true;
	if (h->running)
		pthread_join(h->thread, NULL);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
