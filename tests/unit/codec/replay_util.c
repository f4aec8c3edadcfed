#include "replay_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfbclient.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "codec/rfb.h"
#include "codec/rfb_server.h"

#define IO_TIMEOUT_S 15

struct rsrv {
	int lfd;
	const struct pgt_replay *o;
	const char *err;
};

static int put_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int get_exact(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t k = recv(fd, b, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_all_updates(struct rsrv *s, int fd, const struct pg_pixfmt *pf)
{
	struct pg_buf out;
	int rc = 0;

	pg_buf_init(&out, 1u << 30);
	for (int u = 0; u < s->o->updates && rc == 0; u++) {
		pg_buf_reset(&out);
		if (s->o->make(s->o->arg, u, pf, &out) < 0) {
			s->err = "building the update failed";
			rc = -1;
		} else if (put_all(fd, out.data, out.len) < 0) {
			s->err = "writing the update failed";
			rc = -1;
		}
	}
	pg_buf_free(&out);
	return rc;
}

static int rserve(struct rsrv *s, int fd)
{
	static const uint8_t sec[] = {1, PG_RFB_SEC_NONE};
	uint8_t b[12], ok[4] = {0};
	struct pg_pixfmt pf = pg_pixfmt_canonical;
	struct pg_buf in, init;
	int minor = 0, rc = -1;

	if (put_all(fd, "RFB 003.008\n", 12) < 0 || get_exact(fd, b, 12) < 0 ||
	    pg_rfb_parse_version(b, 12, &minor) != 12 || minor != 8 ||
	    put_all(fd, sec, sizeof(sec)) < 0 || get_exact(fd, b, 1) < 0 ||
	    b[0] != PG_RFB_SEC_NONE || put_all(fd, ok, 4) < 0 || get_exact(fd, b, 1) < 0) {
		s->err = "handshake failed";
		return -1;
	}
	pg_buf_init(&init, 4096);
	pg_rfb_write_server_init(&init, s->o->w, s->o->h, "pgtest", 6);
	rc = put_all(fd, init.data, init.len);
	pg_buf_free(&init);
	if (rc < 0) {
		s->err = "ServerInit failed";
		return -1;
	}
	rc = -1;
	pg_buf_init(&in, 1u << 20);
	for (int rounds = 0; rounds < 1000; rounds++) {
		uint8_t chunk[4096];
		ssize_t k = recv(fd, chunk, sizeof(chunk), 0);
		if (k <= 0 || pg_buf_append(&in, chunk, (size_t)k) < 0) {
			s->err = "client went away before asking for an update";
			goto out;
		}
		for (;;) {
			struct pg_cmsg m;
			const char *why = NULL;
			ssize_t n = pg_rfb_parse_client_msg(in.data, in.len, &m, &why);
			if (n == 0)
				break;
			if (n < 0) {
				s->err = why ? why : "client message refused";
				goto out;
			}
			if (m.type == PG_RFB_SET_PIXEL_FORMAT) {
				pf = m.pixfmt;
			} else if (m.type == PG_RFB_FB_UPDATE_REQUEST) {
				rc = send_all_updates(s, fd, &pf);
				goto out;
			}
			pg_buf_consume(&in, (size_t)n);
		}
	}
	s->err = "no update request";
out:
	pg_buf_free(&in);
	if (rc == 0) {
		uint8_t sink[4096];
		for (int i = 0; i < 1000 && recv(fd, sink, sizeof(sink), 0) > 0; i++)
			;
	}
	return rc;
}

static void *rserver_main(void *arg)
{
	struct rsrv *s = arg;
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};

	if (poll(&p, 1, IO_TIMEOUT_S * 1000) != 1) {
		s->err = "no connection from libvncclient";
		return NULL;
	}
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0) {
		s->err = "accept failed";
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	rserve(s, fd);
	close(fd);
	return NULL;
}

static void rquiet(const char *fmt, ...)
{
	(void)fmt;
}

static int rfinished_tag;

static void ron_finished(rfbClient *c)
{
	int *n = rfbClientGetClientData(c, &rfinished_tag);
	(*n)++;
}

static int rclient(int port, const struct pgt_replay *o, struct pg_fb *out, const char **err)
{
	int finished = 0, rc = -1;
	rfbClient *c = rfbGetClient(8, 3, 4);

	if (!c) {
		*err = "rfbGetClient failed";
		return -1;
	}
	c->format.bitsPerPixel = o->pf.bpp;
	c->format.depth = o->pf.depth;
	c->format.bigEndian = o->pf.big_endian;
	c->format.trueColour = o->pf.true_colour;
	c->format.redMax = o->pf.red_max;
	c->format.greenMax = o->pf.green_max;
	c->format.blueMax = o->pf.blue_max;
	c->format.redShift = o->pf.red_shift;
	c->format.greenShift = o->pf.green_shift;
	c->format.blueShift = o->pf.blue_shift;
	c->appData.encodingsString = o->encodings;
	c->appData.compressLevel = 1;
	c->appData.enableJPEG = o->quality >= 0;
	c->appData.qualityLevel = o->quality >= 0 ? o->quality : 5;
	c->appData.useRemoteCursor = FALSE;
	c->serverHost = strdup("127.0.0.1");
	c->serverPort = port;
	c->connectTimeout = IO_TIMEOUT_S;
	c->readTimeout = IO_TIMEOUT_S;
	c->FinishedFrameBufferUpdate = ron_finished;
	rfbClientSetClientData(c, &rfinished_tag, &finished);
	if (!rfbInitClient(c, NULL, NULL)) {
		*err = "rfbInitClient failed";
		return -1;
	}
	for (int i = 0; i < 300 && finished < o->updates; i++) {
		int k = c->buffered > 0 ? 1 : WaitForMessage(c, 100000);
		if (k < 0 || (k > 0 && !HandleRFBServerMessage(c))) {
			*err = "libvncclient refused the update";
			goto out;
		}
	}
	if (finished < o->updates) {
		*err = "libvncclient did not finish the updates in time";
		goto out;
	}
	if (c->width != o->w || c->height != o->h || pg_fb_alloc(out, o->w, o->h) < 0) {
		*err = "framebuffer size mismatch";
		goto out;
	}
	unsigned bytes = o->pf.bpp / 8u;
	for (int y = 0; y < o->h; y++)
		for (int x = 0; x < o->w; x++)
			out->px[(size_t)y * out->stride + x] = pg_pixfmt_to_rgb(
			    &o->pf, c->frameBuffer + ((size_t)y * o->w + x) * bytes);
	rc = 0;
out:
	free(c->frameBuffer);
	c->frameBuffer = NULL;
	rfbClientCleanup(c);
	return rc;
}

int pgt_vnc_replay(const struct pgt_replay *o, struct pg_fb *out, const char **err)
{
	struct rsrv s = {.o = o};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	pthread_t th;
	int rc;

	rfbClientLog = rquiet;
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s.lfd, 1) < 0 || getsockname(s.lfd, (struct sockaddr *)&a, &alen) < 0) {
		if (s.lfd >= 0)
			close(s.lfd);
		*err = "cannot listen on 127.0.0.1";
		return -1;
	}
	if (pthread_create(&th, NULL, rserver_main, &s) != 0) {
		close(s.lfd);
		*err = "pthread_create failed";
		return -1;
	}
	rc = rclient(ntohs(a.sin_port), o, out, err);
	pthread_join(th, NULL);
	close(s.lfd);
	if (s.err) {
		*err = s.err;
		if (rc == 0)
			pg_fb_free(out);
		rc = -1;
	}
	return rc;
}
