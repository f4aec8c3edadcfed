/* pixelgate-replay serve: a recording played in real time to VNC viewers through
 * libvncserver, an RFB server pixelgate did not write. Single-threaded: one
 * rfbProcessEvents loop, woken for the next record's time. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>

#include "replay.h"

#define PROG PG_REPLAY_PROG

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* Split "ADDR:PORT" or "[V6]:PORT"; false when it is not that. */
static bool split_listen(const char *s, char *addr, size_t addr_size, int *port)
{
	const char *colon, *a = s;
	size_t al;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		a = s + 1;
		al = (size_t)(close - a);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false;
		al = (size_t)(colon - s);
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (al == 0 || al >= addr_size || !colon[1] || *end || p < 0 || p > 65535)
		return false;
	memcpy(addr, a, al);
	addr[al] = '\0';
	*port = (int)p;
	return true;
}

/* A listening socket on addr:port (port 0: the first free one from 5900 up).
 * -2 for a usage error, -1 for a socket error, reported. */
static int listen_on(const char *addr, int port, bool allow_remote, int *family, int *bound)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	int rc = getaddrinfo(addr, "0", &hints, &ai);
	if (rc) {
		fprintf(stderr, PROG ": --listen wants a numeric IPv4 or IPv6 address, not '%s'\n",
			addr);
		return -2;
	}
	if (!is_loopback(ai->ai_addr) && !allow_remote) {
		fprintf(stderr,
			PROG
			": refusing to listen on %s, which is not loopback; add --allow-remote "
			"if you mean it\n",
			addr);
		freeaddrinfo(ai);
		return -2;
	}
	int first = port ? port : 5900, last = port ? port : 5999, fd = -1, one = 1;
	for (int p = first; p <= last; p++) {
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)p);
		else
			((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)p);
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0) {
			*bound = p;
			break;
		}
		close(fd);
		fd = -1;
		if (errno != EADDRINUSE)
			break;
	}
	if (fd < 0)
		fprintf(stderr, PROG ": cannot listen on %s port %d%s: %s\n", addr, first,
			port ? "" : " to 5999", strerror(errno));
	*family = ai->ai_family;
	freeaddrinfo(ai);
	return fd;
}

struct server {
	rfbScreenInfoPtr sc;
	uint32_t *buf; /* libvncserver's framebuffer, in its server format */
	int w, h;
	int rs, gs, bs;
	int viewers;
};

static void take_format(struct server *s)
{
	s->rs = s->sc->serverFormat.redShift;
	s->gs = s->sc->serverFormat.greenShift;
	s->bs = s->sc->serverFormat.blueShift;
}

static void copy_rect(struct server *s, const struct pg_fb *fb, struct pg_rect r)
{
	for (int y = r.y; y < r.y + r.h; y++) {
		const uint32_t *src = fb->px + (size_t)y * fb->stride;
		uint32_t *dst = s->buf + (size_t)y * s->w;
		for (int x = r.x; x < r.x + r.w; x++) {
			uint32_t p = src[x];
			dst[x] = (p >> 16 & 0xff) << s->rs | (p >> 8 & 0xff) << s->gs |
				 (p & 0xff) << s->bs;
		}
	}
}

/* The player's news to the viewers. false when out of memory. */
static bool push(struct server *s, struct pg_rec_player *p)
{
	bool resized;
	struct pg_rect d = pg_rec_player_take_damage(p, &resized);
	const struct pg_fb *fb = pg_rec_player_fb(p);
	if (resized || fb->w != s->w || fb->h != s->h) {
		uint32_t *nb = calloc((size_t)fb->w * (size_t)fb->h, 4);
		if (!nb)
			return false;
		uint32_t *old = s->buf;
		s->buf = nb;
		if (fb->w != s->w || fb->h != s->h) {
			s->w = fb->w;
			s->h = fb->h;
			/* Viewers hear of it through DesktopSize / ExtendedDesktopSize. */
			rfbNewFramebuffer(s->sc, (char *)nb, fb->w, fb->h, 8, 3, 4);
			take_format(s);
		} else {
			s->sc->frameBuffer = (char *)nb;
		}
		free(old);
		d = (struct pg_rect){0, 0, fb->w, fb->h};
	}
	if (pg_rect_empty(&d))
		return true;
	copy_rect(s, fb, d);
	rfbMarkRectAsModified(s->sc, d.x, d.y, d.x + d.w, d.y + d.h);
	return true;
}

static void on_gone(rfbClientPtr cl)
{
	struct server *s = cl->screen->screenData;
	s->viewers--;
	fprintf(stderr, PROG ": viewer %s left\n", cl->host ? cl->host : "?");
}

static enum rfbNewClientAction on_new(rfbClientPtr cl)
{
	struct server *s = cl->screen->screenData;
	s->viewers++;
	cl->clientGoneHook = on_gone;
	fprintf(stderr, PROG ": viewer %s connected\n", cl->host ? cl->host : "?");
	return RFB_CLIENT_ACCEPT;
}

/* Viewers' input goes nowhere: this is a recording. */
static void no_key(rfbBool down, rfbKeySym k, rfbClientPtr cl)
{
}

static void no_pointer(int mask, int x, int y, rfbClientPtr cl)
{
}

static void print_event(void *ctx, const struct pg_rec_record *rec)
{
	char t[32];
	pg_replay_fmt_time(rec->time_us, t, sizeof(t));
	printf("%s  ", t);
	pg_replay_print_safe(stdout, (const char *)rec->data, rec->len);
	putchar('\n');
	fflush(stdout);
}

int pg_replay_serve(struct pg_rec_reader *r, const struct pg_replay_serve_opts *o)
{
	char addr[256] = "127.0.0.1";
	int port = 0, family, bound = 0, rc = 1;
	struct server s = {0};
	struct pg_rec_player *p = NULL;

	if (o->listen && !split_listen(o->listen, addr, sizeof(addr), &port)) {
		fprintf(stderr, PROG ": --listen wants ADDR:PORT or [ADDR]:PORT, not '%s'\n",
			o->listen);
		return 2;
	}
	int fd = listen_on(addr, port, o->allow_remote, &family, &bound);
	if (fd < 0)
		return fd == -2 ? 2 : 1;

	p = pg_rec_player_new(r);
	if (!p)
		goto out;
	const struct pg_fb *fb = pg_rec_player_fb(p);
	int argc = 1;
	char arg0[] = PROG;
	char *argv[] = {arg0, NULL};
	rfbLogEnable(0);
	s.sc = rfbGetScreen(&argc, argv, fb->w, fb->h, 8, 3, 4);
	if (!s.sc)
		goto out;
	s.w = fb->w;
	s.h = fb->h;
	s.buf = calloc((size_t)s.w * (size_t)s.h, 4);
	if (!s.buf)
		goto out;
	take_format(&s);
	s.sc->frameBuffer = (char *)s.buf;
	s.sc->screenData = &s;
	s.sc->desktopName = o->name;
	s.sc->alwaysShared = TRUE;
	s.sc->newClientHook = on_new;
	s.sc->kbdAddEvent = no_key;
	s.sc->ptrAddEvent = no_pointer;
	s.sc->port = 0;
	s.sc->ipv6port = 0;
	s.sc->autoPort = FALSE;
	s.sc->httpPort = 0;
	rfbInitServer(s.sc);
	if (family == AF_INET)
		s.sc->listenSock = fd;
	else
		s.sc->listen6Sock = fd;
	FD_SET(fd, &s.sc->allFds);
	if (fd > s.sc->maxFd)
		s.sc->maxFd = fd;
	s.sc->port = bound;
	fd = -1;

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf(family == AF_INET6 ? PROG ": listening on [%s]:%d\n" : PROG ": listening on %s:%d\n",
	       addr, bound);
	printf(PROG ": playback starts when the first viewer connects\n");
	fflush(stdout);
	while (!stop_signal && s.viewers == 0)
		rfbProcessEvents(s.sc, 100000);

	uint64_t t0 = now_us(), ended_at = 0;
	bool first = true;
	while (!stop_signal) {
		uint64_t media = o->from_us + (uint64_t)((double)(now_us() - t0) * o->speed);
		int more = 1;
		if (!ended_at) {
			more =
			    pg_rec_player_advance(p, first ? o->from_us : media, print_event, NULL);
			first = false;
			if (more < 0) {
				const char *e = pg_rec_player_error(p);
				fprintf(stderr, PROG ": ");
				pg_replay_print_safe(stderr, e, strlen(e));
				fputc('\n', stderr);
				goto out;
			}
			if (!push(&s, p))
				goto out;
		}
		long wait = 50000;
		if (more == 1) {
			uint64_t next = pg_rec_player_next_time(p);
			double until = next > media ? (double)(next - media) / o->speed : 0;
			if (until < wait)
				wait = (long)until;
		} else if (!ended_at) {
			ended_at = now_us();
			printf(PROG ": the recording ends\n");
			fflush(stdout);
		}
		/* Viewers get a second to fetch the last picture before we go, or
		 * the loop starts over. */
		if (ended_at && now_us() - ended_at > 1000000) {
			if (!o->loop) {
				rc = 0;
				goto out;
			}
			ended_at = 0;
			first = true;
			t0 = now_us();
		}
		rfbProcessEvents(s.sc, wait);
	}
	fprintf(stderr, PROG ": stopped by signal %d\n", (int)stop_signal);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (s.sc) {
		rfbShutdownServer(s.sc, TRUE);
		rfbScreenCleanup(s.sc);
	}
	free(s.buf);
	pg_rec_player_del(p);
	return rc;
}
