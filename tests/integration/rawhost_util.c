/* A minimal RFB 3.8 server for what libvncserver cannot send: libvncserver caps the desktop
 * name at 127 bytes, so a long or hostile name needs a host written for the purpose. It
 * serves the test pattern in Raw encoding, in whatever true-colour format the client sets,
 * one client at a time, and answers only non-incremental requests (its picture never
 * changes). */
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
	int handshakes;
};

struct fmt {
	int bpp, big_endian;
	int max[3], shift[3];
};

/* Read exactly len bytes, polling so a stop request is noticed; false on EOF, error,
 * stop, or 10 s without progress. */
static bool rh_read(struct it_rawhost *rh, int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	int idle = 0;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (rh->stop || idle > 100)
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

	if (!rh_write(fd, "RFB 003.008\n", 12) || !rh_read(rh, fd, b, 12))
		return;
	minor = (b[8] - '0') * 100 + (b[9] - '0') * 10 + (b[10] - '0');
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
		if (!rh_write(fd, si, 24) || !rh_write(fd, rh->name, rh->name_len))
			return;
	}
	pthread_mutex_lock(&rh->lock);
	rh->handshakes++;
	pthread_mutex_unlock(&rh->lock);
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
