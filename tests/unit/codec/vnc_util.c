/* A tiny RFB 3.8 server on 127.0.0.1 feeding libvncclient, an independent decoder,
 * in the same process: pgt_vnc_replay sends the updates a test builds itself, and
 * pgt_vnc_roundtrip one image through one of pixelgate's encoders, built the same
 * way. The server runs in a thread; the client runs in the caller's thread. Every
 * socket has a timeout. */
#include "enc_util.h"
#include "replay_util.h"

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

/* One run of the server: o says what to announce and how to build each update. */
struct srv {
	int lfd;
	const struct pgt_replay *o;
	const char *err;
	int32_t watch; /* an encoding to look for in the client's SetEncodings */
	int saw_watch; /* the client listed watch */
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
	struct pg_buf out;
	int rc = 0;

	pg_buf_init(&out, 1u << 30);
	for (int u = 0; u < s->o->updates && rc == 0; u++) {
		pg_buf_reset(&out);
		if (s->o->make(s->o->arg, u, pf, &out) < 0) {
			s->err = "building the update failed";
			rc = -1;
		} else if (write_all(fd, out.data, out.len) < 0) {
			s->err = "writing the update failed";
			rc = -1;
		}
	}
	pg_buf_free(&out);
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
	pg_rfb_write_server_init(&init, s->o->w, s->o->h, "pgtest", 6);
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
					if ((int32_t)pg_rd32(m.encodings.list + 4 * i) == s->watch)
						s->saw_watch = 1;
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

static int run_client(int port, const struct pgt_replay *o, int compress, struct pg_fb *out,
		      const char **err)
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
	c->appData.compressLevel = compress;
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
	for (int i = 0; i < 300 && finished < o->updates; i++) {
		/* WaitForMessage only watches the socket: a second update already in
		 * libvncclient's own buffer would wait for the server to hang up. */
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

/* Serve s->o from a thread to a libvncclient in this one, asking for compression
 * level compress. out is zeroed first and holds nothing when this fails. */
static int run(struct srv *s, int compress, struct pg_fb *out, const char **err)
{
	pthread_t th;
	int port, rc;

	memset(out, 0, sizeof(*out));
	rfbClientLog = quiet;
	s->lfd = listen_loopback(&port);
	if (s->lfd < 0) {
		*err = "cannot listen on 127.0.0.1";
		return -1;
	}
	if (pthread_create(&th, NULL, server_main, s) != 0) {
		close(s->lfd);
		*err = "pthread_create failed";
		return -1;
	}
	rc = run_client(port, s->o, compress, out, err);
	pthread_join(th, NULL);
	close(s->lfd);
	if (s->err) {
		*err = s->err;
		rc = -1;
	}
	if (rc < 0)
		pg_fb_free(out);
	return rc;
}

int pgt_vnc_replay(const struct pgt_replay *o, struct pg_fb *out, const char **err)
{
	struct srv s = {.o = o};

	return run(&s, 1, out, err);
}

/* pgt_vnc_roundtrip's updates: the image through one encoder, in strips. */
struct enc_job {
	const struct pg_fb *img;
	const struct pgt_vnc_opts *o;
	struct pg_encoder *enc; /* made for the first update, in the client's format */
	const char *err;
	size_t wire_bytes;
};

static int encode_image(void *arg, int u, const struct pg_pixfmt *pf, struct pg_buf *out)
{
	struct enc_job *j = arg;
	int strips = j->o->strips > 0 ? j->o->strips : 1, n = 0;

	(void)u;
	if (!j->enc && !(j->enc = pg_encoder_new(j->o->encoding, pf, &j->o->enc))) {
		j->err = "pg_encoder_new failed";
		return -1;
	}
	pg_enc_update_header(out, 0);
	for (int i = 0; i < strips; i++) {
		int y0 = j->img->h * i / strips, y1 = j->img->h * (i + 1) / strips;
		struct pg_rect r = {0, y0, j->img->w, y1 - y0};
		if (r.h <= 0)
			continue;
		int k = pg_encoder_encode(j->enc, j->img, &r, out);
		if (k <= 0) {
			j->err = "pg_encoder_encode failed";
			return -1;
		}
		n += k;
	}
	if (n > 65535) {
		j->err = "too many rectangles";
		return -1;
	}
	pg_wr16(out->data + 2, (uint16_t)n);
	j->wire_bytes = out->len;
	return 0;
}

int pgt_vnc_roundtrip(const struct pg_fb *img, const struct pgt_vnc_opts *o, struct pg_fb *out,
		      size_t *wire_bytes, const char **err)
{
	struct enc_job j = {.img = img, .o = o};
	struct pgt_replay r = {.w = img->w,
			       .h = img->h,
			       .pf = o->pf,
			       .encodings = o->encodings,
			       .quality = o->quality,
			       .updates = o->updates > 0 ? o->updates : 1,
			       .make = encode_image,
			       .arg = &j};
	struct srv s = {.o = &r, .watch = o->encoding};
	int rc = run(&s, o->compress, out, err);

	if (rc < 0 && j.err) {
		*err = j.err;
	} else if (rc == 0 && !s.saw_watch) {
		*err = "libvncclient did not list the encoding under test";
		pg_fb_free(out);
		rc = -1;
	}
	pg_encoder_del(j.enc);
	if (wire_bytes)
		*wire_bytes = j.wire_bytes;
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
