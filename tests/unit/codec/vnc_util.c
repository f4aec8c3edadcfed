/* A tiny RFB 3.8 server on 127.0.0.1 feeding pixelgate's encoders to libvncclient,
 * an independent decoder, in the same process. The server runs in a thread; the
 * client runs in the caller's thread. Every socket has a timeout. */
#include "enc_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfbclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"

#define IO_TIMEOUT_S 15

struct srv {
	int lfd;
	const struct pg_fb *img;
	const struct pgt_vnc_opts *o;
	const char *err;
	size_t wire_bytes;
	int saw_encoding; /* the client listed o->encoding in SetEncodings */
};

static int write_all(int fd, const void *p, size_t n)
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

static int read_exact(int fd, void *p, size_t n)
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

static int send_updates(struct srv *s, int fd, const struct pg_pixfmt *pf)
{
	const struct pgt_vnc_opts *o = s->o;
	struct pg_encoder *enc = pg_encoder_new(o->encoding, pf, &o->enc);
	struct pg_buf out;
	int rc = -1;

	if (!enc) {
		s->err = "pg_encoder_new failed";
		return -1;
	}
	pg_buf_init(&out, 1u << 30);
	for (int u = 0; u < (o->updates > 0 ? o->updates : 1); u++) {
		int strips = o->strips > 0 ? o->strips : 1;
		int n = 0;
		pg_buf_reset(&out);
		pg_enc_update_header(&out, 0);
		for (int i = 0; i < strips; i++) {
			int y0 = s->img->h * i / strips, y1 = s->img->h * (i + 1) / strips;
			struct pg_rect r = {0, y0, s->img->w, y1 - y0};
			if (r.h <= 0)
				continue;
			int k = pg_encoder_encode(enc, s->img, &r, &out);
			if (k <= 0) {
				s->err = "pg_encoder_encode failed";
				goto out;
			}
			n += k;
		}
		if (n > 65535) {
			s->err = "too many rectangles";
			goto out;
		}
		pg_wr16(out.data + 2, (uint16_t)n);
		s->wire_bytes = out.len;
		if (write_all(fd, out.data, out.len) < 0) {
			s->err = "writing the update failed";
			goto out;
		}
	}
	rc = 0;
out:
	pg_buf_free(&out);
	pg_encoder_del(enc);
	return rc;
}

/* Handshake with security None, then answer the first update request. */
static int serve(struct srv *s, int fd)
{
	static const uint8_t sec[] = {1, PG_RFB_SEC_NONE};
	uint8_t b[12], ok[4] = {0};
	struct pg_pixfmt pf = pg_pixfmt_canonical;
	struct pg_buf in, init;
	int minor = 0, rc = -1;

	if (write_all(fd, "RFB 003.008\n", 12) < 0 || read_exact(fd, b, 12) < 0 ||
	    pg_rfb_parse_version(b, 12, &minor) != 12 || minor != 8) {
		s->err = "version exchange failed";
		return -1;
	}
	if (write_all(fd, sec, sizeof(sec)) < 0 || read_exact(fd, b, 1) < 0 ||
	    b[0] != PG_RFB_SEC_NONE || write_all(fd, ok, 4) < 0 || read_exact(fd, b, 1) < 0) {
		s->err = "security handshake failed";
		return -1;
	}
	pg_buf_init(&init, 4096);
	pg_rfb_write_server_init(&init, s->img->w, s->img->h, "pgtest", 6);
	rc = write_all(fd, init.data, init.len);
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
				if (pg_pixfmt_validate(&m.pixfmt, &why) < 0) {
					s->err = why;
					goto out;
				}
				pf = m.pixfmt;
			} else if (m.type == PG_RFB_SET_ENCODINGS) {
				for (unsigned i = 0; i < m.encodings.count; i++)
					if ((int32_t)pg_rd32(m.encodings.list + 4 * i) ==
					    s->o->encoding)
						s->saw_encoding = 1;
			} else if (m.type == PG_RFB_FB_UPDATE_REQUEST) {
				rc = send_updates(s, fd, &pf);
				goto out;
			}
			pg_buf_consume(&in, (size_t)n);
		}
	}
	s->err = "no update request";
out:
	pg_buf_free(&in);
	if (rc == 0) {
		/* Wait for the client to hang up, so it reads everything we sent. */
		uint8_t sink[4096];
		for (int i = 0; i < 1000 && recv(fd, sink, sizeof(sink), 0) > 0; i++)
			;
	}
	return rc;
}

static void *server_main(void *arg)
{
	struct srv *s = arg;
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
	serve(s, fd);
	close(fd);
	return NULL;
}

static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

static int finished_tag;

static void on_finished(rfbClient *c)
{
	int *n = rfbClientGetClientData(c, &finished_tag);
	(*n)++;
}

static int run_client(int port, const struct pgt_vnc_opts *o, int w, int h, struct pg_fb *out,
		      const char **err)
{
	int finished = 0, want = o->updates > 0 ? o->updates : 1, rc = -1;
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
	c->appData.compressLevel = o->compress;
	c->appData.enableJPEG = o->quality >= 0;
	c->appData.qualityLevel = o->quality >= 0 ? o->quality : 5;
	c->appData.useRemoteCursor = FALSE;
	c->serverHost = strdup("127.0.0.1");
	c->serverPort = port;
	c->connectTimeout = IO_TIMEOUT_S;
	c->readTimeout = IO_TIMEOUT_S;
	c->FinishedFrameBufferUpdate = on_finished;
	rfbClientSetClientData(c, &finished_tag, &finished);
	if (!rfbInitClient(c, NULL, NULL)) {
		*err = "rfbInitClient failed"; /* it has freed c */
		return -1;
	}
	for (int i = 0; i < 300 && finished < want; i++) {
		/* WaitForMessage only watches the socket: a second update already in
		 * libvncclient's own buffer would wait for the server to hang up. */
		int k = c->buffered > 0 ? 1 : WaitForMessage(c, 100000);
		if (k < 0 || (k > 0 && !HandleRFBServerMessage(c))) {
			*err = "libvncclient refused the update";
			goto out;
		}
	}
	if (finished < want) {
		*err = "libvncclient did not finish the update in time";
		goto out;
	}
	if (c->width != w || c->height != h || pg_fb_alloc(out, w, h) < 0) {
		*err = "framebuffer size mismatch";
		goto out;
	}
	unsigned bytes = o->pf.bpp / 8u;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			out->px[(size_t)y * out->stride + x] =
			    pg_pixfmt_to_rgb(&o->pf, c->frameBuffer + ((size_t)y * w + x) * bytes);
	rc = 0;
out:
	free(c->frameBuffer);
	c->frameBuffer = NULL;
	rfbClientCleanup(c);
	return rc;
}

int pgt_vnc_roundtrip(const struct pg_fb *img, const struct pgt_vnc_opts *o, struct pg_fb *out,
		      size_t *wire_bytes, const char **err)
{
	struct srv s = {.img = img, .o = o};
	pthread_t th;
	int port, rc;

	rfbClientLog = quiet;
	s.lfd = listen_loopback(&port);
	if (s.lfd < 0) {
		*err = "cannot listen on 127.0.0.1";
		return -1;
	}
	if (pthread_create(&th, NULL, server_main, &s) != 0) {
		close(s.lfd);
		*err = "pthread_create failed";
		return -1;
	}
	rc = run_client(port, o, img->w, img->h, out, err);
	pthread_join(th, NULL);
	close(s.lfd);
	if (s.err) {
		*err = s.err;
		rc = -1;
	} else if (rc == 0 && !s.saw_encoding) {
		*err = "libvncclient did not list the encoding under test";
		rc = -1;
	}
	if (rc < 0)
		pg_fb_free(out);
	if (wire_bytes)
		*wire_bytes = s.wire_bytes;
	return rc;
}

int pgt_check(enum pgt_image kind, int w, int h, const struct pgt_vnc_opts *o, double max_mse,
	      char *msg, size_t msglen)
{
	struct pg_fb img, got;
	const char *err = NULL;
	size_t wire = 0;
	int rc = -1;

	if (pg_fb_alloc(&img, w, h) < 0) {
		snprintf(msg, msglen, "cannot allocate %dx%d", w, h);
		return -1;
	}
	pgt_image(&img, kind, (uint32_t)(w * 31 + h));
	if (pgt_vnc_roundtrip(&img, o, &got, &wire, &err) < 0) {
		snprintf(msg, msglen, "%dx%d image %d: %s", w, h, (int)kind, err);
		goto out;
	}
	if (max_mse >= 0) {
		double mse = pgt_mse(&img, &got);
		if (mse > max_mse)
			snprintf(msg, msglen, "%dx%d image %d: MSE %.2f over %.2f", w, h, (int)kind,
				 mse, max_mse);
		else
			rc = 0;
		goto done;
	}
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			uint32_t want = pgt_quantize(&o->pf, img.px[(size_t)y * img.stride + x]);
			uint32_t have = got.px[(size_t)y * got.stride + x];
			if (want != have) {
				snprintf(msg, msglen,
					 "%dx%d image %d: pixel (%d,%d) is %06x, want %06x", w, h,
					 (int)kind, x, y, have, want);
				goto done;
			}
		}
	}
	rc = 0;
done:
	pg_fb_free(&got);
out:
	pg_fb_free(&img);
	return rc;
}
