/* A minimal RFB 3.8 server for what libvncserver cannot send: libvncserver caps the desktop
 * name at 127 bytes, so a long or hostile name needs a host written for the purpose. It
 * serves the test pattern in Raw encoding, in whatever true-colour format the client sets,
 * one client at a time, and answers only non-incremental requests (its picture never
 * changes). On request it misbehaves once (rawhost_inject), as a compromised browser host
 * would. */
#include "harness_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct it_rawhost {
	int listen_fd, port, w, h;
	uint32_t *px;
	char *name, *cut;
	size_t name_len, cut_len;
	pthread_t thread;
	volatile bool stop;
	bool running;
	pthread_mutex_t lock;
	int handshakes, connections;
	enum it_rawhost_fault fault; /* pending misbehaviour */
	bool fault_done;
	bool in_session; /* serving thread only: the current client is past ServerInit */
};

struct fmt {
	int bpp, big_endian;
	int max[3], shift[3];
};

static bool rh_write(int fd, const void *buf, size_t len);
static int act_on_fault(struct it_rawhost *rh, int fd);

/* Read exactly len bytes, polling so a stop request is noticed; false on EOF, error,
 * stop, a fault that ends the connection, or 10 s without progress. */
static bool rh_read(struct it_rawhost *rh, int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	int idle = 0;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (rh->stop || idle > 100 || act_on_fault(rh, fd) < 0)
			return false;
		if (poll(&pfd, 1, 100) == 0) {
			idle++;
			continue;
		}
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		idle = 0;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool rh_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static bool handshake_fault(enum it_rawhost_fault f)
{
	return f == IT_RH_HUGE_INIT || f == IT_RH_BAD_SECURITY;
}

/* Take the pending fault if it is of the wanted kind. */
static enum it_rawhost_fault take_fault(struct it_rawhost *rh, bool handshake)
{
	enum it_rawhost_fault f;

	pthread_mutex_lock(&rh->lock);
	f = rh->fault;
	if (f != IT_RH_NONE && handshake_fault(f) == handshake) {
		rh->fault = IT_RH_NONE;
		rh->fault_done = true;
	} else {
		f = IT_RH_NONE;
	}
	pthread_mutex_unlock(&rh->lock);
	return f;
}

/* A FramebufferUpdate of one rectangle header. */
static size_t update_hdr(uint8_t *b, int x, int y, int w, int h, int32_t enc)
{
	b[0] = 0;
	b[1] = 0;
	put16(b + 2, 1);
	put16(b + 4, (unsigned)x);
	put16(b + 6, (unsigned)y);
	put16(b + 8, (unsigned)w);
	put16(b + 10, (unsigned)h);
	put32(b + 12, (uint32_t)enc);
	return 16;
}

/* Called between reads: send a pending in-session fault once the client is past
 * ServerInit; -1 to hang up (a handshake fault waits for the next connection). */
static int act_on_fault(struct it_rawhost *rh, int fd)
{
	static const char marker[] = IT_RH_MARKER;
	uint8_t m[4096];
	size_t n = 0;
	enum it_rawhost_fault f;

	pthread_mutex_lock(&rh->lock);
	f = rh->fault;
	pthread_mutex_unlock(&rh->lock);
	if (f == IT_RH_NONE)
		return 0;
	if (handshake_fault(f))
		return -1;
	if (!rh->in_session)
		return 0;
	f = take_fault(rh, false);
	memset(m, 0x5a, sizeof(m));
	switch (f) {
	case IT_RH_COLOUR_MAP:
		m[0] = 1; /* SetColourMapEntries: first colour 0, one colour */
		m[1] = 0;
		put16(m + 2, 0);
		put16(m + 4, 1);
		n = 12;
		break;
	case IT_RH_RECT_OUTSIDE:
		n = update_hdr(m, rh->w - 8, 0, 16, 16, 0);
		n += 16 * 16 * 4;
		break;
	case IT_RH_HEXTILE:
		n = update_hdr(m, 0, 0, 16, 16, 5);
		m[n++] = 2; /* Hextile BackgroundSpecified */
		n += 4;
		break;
	case IT_RH_CUT_HUGE:
	case IT_RH_CUT_OVER_LIMIT:
		m[0] = 3;
		m[1] = m[2] = m[3] = 0;
		put32(m + 4, f == IT_RH_CUT_HUGE ? 0xffffffffu : 2u << 20);
		n = 8;
		break;
	case IT_RH_ZRLE_HUGE:
		n = update_hdr(m, 0, 0, 16, 16, 16);
		put32(m + n, 0x7fffffffu);
		n += 4;
		break;
	case IT_RH_UNKNOWN_MSG:
		m[0] = 200;
		n = 1;
		break;
	default:
		return 0;
	}
	/* What follows the message carries the marker, so a test can prove none of it
	 * reached a viewer. */
	memcpy(m + n, marker, sizeof(marker) - 1);
	n += sizeof(marker) - 1;
	rh_write(fd, m, n);
	return 0;
}

static bool send_update(struct it_rawhost *rh, int fd, const struct fmt *f)
{
	size_t bypp = (size_t)f->bpp / 8, n = (size_t)rh->w * rh->h;
	uint8_t hdr[16] = {0,
			   0,
			   0,
			   1,
			   0,
			   0,
			   0,
			   0,
			   (uint8_t)(rh->w >> 8),
			   (uint8_t)rh->w,
			   (uint8_t)(rh->h >> 8),
			   (uint8_t)rh->h,
			   0,
			   0,
			   0,
			   0};
	uint8_t *buf = malloc(n * bypp);
	bool ok;

	if (!buf)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = 0;

		for (int k = 0; k < 3; k++) {
			uint32_t c = (rh->px[i] >> (16 - 8 * k)) & 255;

			v |= (c * (uint32_t)f->max[k] / 255) << f->shift[k];
		}
		for (size_t b = 0; b < bypp; b++) {
			size_t shift = f->big_endian ? (bypp - 1 - b) * 8 : b * 8;

			buf[i * bypp + b] = (uint8_t)(v >> shift);
		}
	}
	ok = rh_write(fd, hdr, sizeof(hdr)) && rh_write(fd, buf, n * bypp);
	free(buf);
	return ok;
}

static void serve(struct it_rawhost *rh, int fd)
{
	struct fmt f = {32, 0, {255, 255, 255}, {16, 8, 0}};
	uint8_t b[64];
	int minor;
	enum it_rawhost_fault fault = take_fault(rh, true);

	rh->in_session = false;
	if (!rh_write(fd, "RFB 003.008\n", 12) || !rh_read(rh, fd, b, 12))
		return;
	minor = (b[8] - '0') * 100 + (b[9] - '0') * 10 + (b[10] - '0');
	if (minor >= 7 && fault == IT_RH_BAD_SECURITY) {
		/* VeNCrypt and Apple: nothing a client without them can pick. */
		rh_write(fd, "\x02\x13\x1e", 3);
		rh_read(rh, fd, b, 1);
		return;
	}
	if (minor >= 7) {
		if (!rh_write(fd, "\x01\x01", 2) || !rh_read(rh, fd, b, 1))
			return;
		if (minor >= 8 && !rh_write(fd, "\0\0\0\0", 4))
			return;
	} else if (!rh_write(fd, "\0\0\0\x01", 4)) {
		return;
	}
	if (!rh_read(rh, fd, b, 1))
		return;
	{
		uint8_t si[24] = {(uint8_t)(rh->w >> 8),
				  (uint8_t)rh->w,
				  (uint8_t)(rh->h >> 8),
				  (uint8_t)rh->h,
				  32,
				  24,
				  0,
				  1,
				  0,
				  255,
				  0,
				  255,
				  0,
				  255,
				  16,
				  8,
				  0};

		put32(si + 20, (uint32_t)rh->name_len);
		if (fault == IT_RH_HUGE_INIT) {
			put16(si, 65535);
			put16(si + 2, 65535);
		}
		if (!rh_write(fd, si, 24) || !rh_write(fd, rh->name, rh->name_len))
			return;
		if (fault == IT_RH_HUGE_INIT) {
			/* Wait for the client to give up; its messages are not for us. */
			while (rh_read(rh, fd, b, 1))
				;
			return;
		}
	}
	pthread_mutex_lock(&rh->lock);
	rh->handshakes++;
	pthread_mutex_unlock(&rh->lock);
	rh->in_session = true;
	if (rh->cut) {
		uint8_t m[8] = {3, 0, 0, 0};

		put32(m + 4, (uint32_t)rh->cut_len);
		if (!rh_write(fd, m, 8) || !rh_write(fd, rh->cut, rh->cut_len))
			return;
	}
	for (;;) {
		uint32_t skip = 0;

		if (!rh_read(rh, fd, b, 1))
			return;
		switch (b[0]) {
		case 0: /* SetPixelFormat */
			if (!rh_read(rh, fd, b, 19))
				return;
			if (!b[10] || (b[3] != 8 && b[3] != 16 && b[3] != 32))
				return; /* colour maps and odd sizes: not for this host */
			f.bpp = b[3];
			f.big_endian = b[5];
			for (int k = 0; k < 3; k++) {
				f.max[k] = b[7 + 2 * k] << 8 | b[8 + 2 * k];
				f.shift[k] = b[13 + k];
			}
			break;
		case 2: /* SetEncodings */
			if (!rh_read(rh, fd, b, 3))
				return;
			skip = 4u * (uint32_t)(b[1] << 8 | b[2]);
			break;
		case 3: /* FramebufferUpdateRequest */
			if (!rh_read(rh, fd, b, 9))
				return;
			if (!b[0] && !send_update(rh, fd, &f))
				return;
			break;
		case 4: /* KeyEvent */
			skip = 7;
			break;
		case 5: /* PointerEvent */
			skip = 5;
			break;
		case 6: /* ClientCutText; a negative length is the Extended Clipboard's */
			if (!rh_read(rh, fd, b, 7))
				return;
			skip = (uint32_t)b[3] << 24 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 8 |
			       b[6];
			if (skip & 0x80000000u)
				skip = -skip;
			if (skip > 1u << 20)
				return;
			break;
		default:
			return;
		}
		while (skip > 0) {
			uint32_t n = skip > sizeof(b) ? sizeof(b) : skip;

			if (!rh_read(rh, fd, b, n))
				return;
			skip -= n;
		}
	}
}

static void *rawhost_run(void *arg)
{
	struct it_rawhost *rh = arg;

	while (!rh->stop) {
		struct pollfd pfd = {.fd = rh->listen_fd, .events = POLLIN};
		int fd;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		fd = accept4(rh->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&rh->lock);
		rh->connections++;
		pthread_mutex_unlock(&rh->lock);
		serve(rh, fd);
		close(fd);
	}
	return NULL;
}

struct it_rawhost *rawhost_start(int w, int h, unsigned seed, const char *name, size_t name_len,
				 const char *cut, size_t cut_len)
{
	struct it_rawhost *rh = calloc(1, sizeof(*rh));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1;

	if (!rh)
		return NULL;
	pthread_mutex_init(&rh->lock, NULL);
	rh->w = w;
	rh->h = h;
	rh->px = malloc((size_t)w * h * 4);
	rh->name = malloc(name_len + 1);
	rh->name_len = name_len;
	if (cut) {
		rh->cut = malloc(cut_len + 1);
		rh->cut_len = cut_len;
	}
	rh->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!rh->px || !rh->name || (cut && !rh->cut) || rh->listen_fd < 0)
		goto fail;
	memcpy(rh->name, name, name_len);
	if (cut)
		memcpy(rh->cut, cut, cut_len);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			rh->px[(size_t)y * w + x] = it_pattern_pixel(seed, x, y, w, h);
	setsockopt(rh->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(rh->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(rh->listen_fd, 4) < 0 ||
	    getsockname(rh->listen_fd, (struct sockaddr *)&a, &alen) < 0)
		goto fail;
	rh->port = ntohs(a.sin_port);
	if (pthread_create(&rh->thread, NULL, rawhost_run, rh) != 0)
		goto fail;
	rh->running = true;
	return rh;
fail:
	rawhost_stop(rh);
	return NULL;
}

int rawhost_port(const struct it_rawhost *rh)
{
	return rh->port;
}

int rawhost_handshakes(struct it_rawhost *rh)
{
	int n;

	pthread_mutex_lock(&rh->lock);
	n = rh->handshakes;
	pthread_mutex_unlock(&rh->lock);
	return n;
}

int rawhost_connections(struct it_rawhost *rh)
{
	int n;

	pthread_mutex_lock(&rh->lock);
	n = rh->connections;
	pthread_mutex_unlock(&rh->lock);
	return n;
}

void rawhost_inject(struct it_rawhost *rh, enum it_rawhost_fault fault)
{
	pthread_mutex_lock(&rh->lock);
	rh->fault = fault;
	rh->fault_done = false;
	pthread_mutex_unlock(&rh->lock);
}

bool rawhost_fault_done(struct it_rawhost *rh)
{
	bool done;

	pthread_mutex_lock(&rh->lock);
	done = rh->fault_done;
	pthread_mutex_unlock(&rh->lock);
	return done;
}

const uint32_t *rawhost_picture(const struct it_rawhost *rh, int *w, int *h)
{
	*w = rh->w;
	*h = rh->h;
	return rh->px;
}

void rawhost_stop(struct it_rawhost *rh)
{
	if (!rh)
		return;
	rh->stop = true;
	if (rh->running)
		pthread_join(rh->thread, NULL);
	if (rh->listen_fd >= 0)
		close(rh->listen_fd);
	pthread_mutex_destroy(&rh->lock);
	free(rh->px);
	free(rh->name);
	free(rh->cut);
	free(rh);
}
