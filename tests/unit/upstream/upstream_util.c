#include "upstream_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "auth/vncauth.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "relay/channel.h"

uint32_t ut_swap_rb(uint32_t v)
{
	return (v & 0xff) << 16 | (v & 0xff00) | (v >> 16 & 0xff);
}

static uint32_t rnd(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static uint32_t pixel(enum ut_image kind, int x, int y, int w, int h, unsigned *s)
{
	switch (kind) {
	case UT_GRADIENT:
		return (uint32_t)(x * 255 / w) << 16 | (uint32_t)(y * 255 / h) << 8 |
		       (uint32_t)((x + y) & 0xff);
	case UT_TEXT: {
		/* Dark strokes on white: 1-pixel lines and blocks, like glyphs. */
		bool ink = (x % 7 == 1 && y % 11 < 8) || (y % 11 == 3 && x % 7 < 5) ||
			   ((x / 3 + y / 5) % 13 == 0);
		return ink ? (x % 40 < 20 ? 0x101010 : 0x2040c0) : 0xffffff;
	}
	case UT_NOISE:
		return rnd(s) & 0xffffff;
	case UT_FEW: {
		static const uint32_t pal[4] = {0xff0000, 0x00ff00, 0x0000ff, 0xffffff};
		return pal[(x / 9 + y / 5) % 4];
	}
	case UT_PHOTO: {
		int n = (int)(rnd(s) % 5) - 2;
		/* Smooth triangle waves with a little noise (no libm in the tests). */
		int r = 28 + abs(x % 200 - 100) * 2 + n;
		int g = 28 + abs(y % 150 - 75) * 8 / 3 + n;
		int b = (x + 2 * y) / 3 % 256;
		return (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b;
	}
	case UT_COMPOSITE:
		break;
	}
	/* Bands of every kind, plus a solid block, so one update meets every path. */
	int band = y * 5 / h;
	if (x < w / 8 && band == 1)
		return 0x336699;
	return pixel((enum ut_image)band, x, y, w, h, s);
}

void ut_image(uint32_t *px, int w, int h, enum ut_image kind, unsigned seed)
{
	unsigned s = seed | 1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			px[(size_t)y * w + x] = pixel(kind, x, y, w, h, &s);
}

static void *host_main(void *arg)
{
	struct ut_host *h = arg;
	while (!atomic_load(&h->stop)) {
		rfbProcessEvents(h->screen, 2000);
		pthread_mutex_lock(&h->mu);
		if (h->cmd) {
			h->cmd(h, h->cmd_arg);
			h->cmd = NULL;
			atomic_store(&h->cmd_done, 1);
		}
		pthread_mutex_unlock(&h->mu);
	}
	return NULL;
}

void ut_host_start(struct ut_host *h, int w, int h_, enum ut_image kind, const char *password)
{
	int argc = 1;
	char *argv[] = {(char *)"upstream-test", NULL};

	memset(h, 0, sizeof(*h));
	rfbLogEnable(0);
	h->w = w;
	h->h = h_;
	h->px = calloc((size_t)w * h_, 4);
	cr_assert(h->px);
	ut_image(h->px, w, h_, kind, 7);
	for (size_t i = 0; i < (size_t)w * h_; i++)
		h->px[i] = ut_swap_rb(h->px[i]);
	h->screen = rfbGetScreen(&argc, argv, w, h_, 8, 3, 4);
	cr_assert(h->screen);
	h->screen->frameBuffer = (char *)h->px;
	/* Without a cursor, libvncserver would paint its default arrow into the pixels
	 * it sends to clients that did not ask for cursor shapes. */
	h->screen->cursor = NULL;
	h->screen->desktopName = "upstream test host";
	h->screen->autoPort = FALSE;
	h->screen->port = 0;
	h->screen->ipv6port = 0;
	h->screen->httpPort = 0;
	h->screen->listenInterface = htonl(INADDR_LOOPBACK);
	h->screen->deferUpdateTime = 0;
	if (password) {
		h->passwords[0] = strdup(password);
		h->screen->authPasswdData = h->passwords;
		h->screen->passwordCheck = rfbCheckPasswordByList;
	}
	rfbInitServer(h->screen);
	pthread_mutex_init(&h->mu, NULL);
}

void ut_host_stop(struct ut_host *h)
{
	if (h->running) {
		atomic_store(&h->stop, 1);
		pthread_join(h->thread, NULL);
	}
	rfbShutdownServer(h->screen, TRUE);
	rfbScreenCleanup(h->screen);
	free(h->passwords[0]);
	free(h->retired);
	free(h->px);
	h->screen = NULL;
	h->px = h->retired = NULL;
}

static int cb_resize(void *ud, int w, int h, struct pg_fb *fb)
{
	struct ut_peer *p = ud;
	pg_fb_free(&p->fb);
	int rc = pg_fb_alloc(&p->fb, w, h);
	*fb = p->fb;
	p->resizes++;
	return rc;
}

static void cb_damage(void *ud, const struct pg_rect *r)
{
	struct ut_peer *p = ud;
	cr_assert(pg_rect_inside(r, p->fb.w, p->fb.h));
	p->damages++;
}

static void cb_copy(void *ud, const struct pg_rect *r, int sx, int sy)
{
	((struct ut_peer *)ud)->copies++;
}

static void cb_update_end(void *ud)
{
	((struct ut_peer *)ud)->updates++;
}

static void cb_cursor(void *ud, int hx, int hy, int w, int h, const uint32_t *px,
		      const uint8_t *mask)
{
	struct ut_peer *p = ud;
	p->cursors++;
	p->cursor_w = w;
	p->cursor_h = h;
	p->cursor_hx = hx;
	p->cursor_hy = hy;
	if (w <= 64 && h <= 64 && w > 0 && h > 0) {
		memcpy(p->cursor_px, px, (size_t)w * h * 4);
		memcpy(p->cursor_mask, mask, (size_t)(w + 7) / 8 * h);
	}
}

static void cb_bell(void *ud)
{
	((struct ut_peer *)ud)->bells++;
}

static void cb_cut(void *ud, const uint8_t *t, size_t n)
{
	struct ut_peer *p = ud;
	p->cut_len = n < sizeof(p->cut) ? n : sizeof(p->cut);
	memcpy(p->cut, t, p->cut_len);
}

static void cb_xclip(void *ud, const uint8_t *t, size_t n)
{
	struct ut_peer *p = ud;
	p->xclip_len = n;
	memcpy(p->xclip, t, n < sizeof(p->xclip) ? n : sizeof(p->xclip));
	p->xclips++;
}

static void cb_name(void *ud, const uint8_t *n, size_t len)
{
	struct ut_peer *p = ud;
	size_t k = len < sizeof(p->name) - 1 ? len : sizeof(p->name) - 1;
	memcpy(p->name, n, k);
	p->name[k] = '\0';
	p->names++;
}

static int cb_vnc_auth(void *ud, const uint8_t ch[16], uint8_t resp[16])
{
	struct ut_peer *p = ud;
	if (!p->password)
		return -1;
	return pg_vncauth_response(p->password, ch, resp);
}

void ut_peer_init(struct ut_peer *p)
{
	const char *pw = p->password;
	memset(p, 0, sizeof(*p));
	p->password = pw;
	p->fd = -1;
	struct pg_rfb_client_cb cb = {
	    .ud = p,
	    .resize = cb_resize,
	    .damage = cb_damage,
	    .copy = cb_copy,
	    .update_end = cb_update_end,
	    .cursor = cb_cursor,
	    .bell = cb_bell,
	    .cut_text = cb_cut,
	    .ext_clipboard = cb_xclip,
	    .name = cb_name,
	    .vnc_auth = cb_vnc_auth,
	};
	p->c = pg_rfb_client_new(&cb);
	cr_assert(p->c);
	pg_buf_init(&p->in, 64u << 20);
	pg_buf_init(&p->rec, 64u << 20);
}

void ut_connect(struct ut_host *h, struct ut_peer *p, const int32_t *enc, size_t n_enc)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int one = 1;

	ut_peer_init(p);
	if (enc)
		cr_assert_eq(pg_rfb_client_set_encodings(p->c, enc, n_enc), 0);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(ls >= 0);
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(ls, 1), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(p->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	int s = accept(ls, NULL, NULL);
	cr_assert(s >= 0);
	close(ls);
	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	h->cl = rfbNewClient(h->screen, s);
	cr_assert(h->cl);
	cr_assert_eq(pthread_create(&h->thread, NULL, host_main, h), 0);
	h->running = true;
}

void ut_peer_close(struct ut_peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	pg_rfb_client_del(p->c);
	p->c = NULL;
	pg_buf_free(&p->in);
	pg_buf_free(&p->rec);
	pg_fb_free(&p->fb);
}

int ut_pump(struct ut_peer *p, int ms)
{
	struct pg_buf *out = pg_rfb_client_output(p->c);
	struct pollfd pfd = {p->fd, POLLIN | (out->len ? POLLOUT : 0), 0};
	uint8_t tmp[65536];

	if (poll(&pfd, 1, ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (pfd.revents & POLLOUT) {
		ssize_t n = write(p->fd, out->data, out->len);
		if (n > 0)
			pg_buf_consume(out, (size_t)n);
	}
	if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	ssize_t n = read(p->fd, tmp, sizeof(tmp));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	cr_assert_eq(pg_buf_append(&p->in, tmp, (size_t)n), 0);
	if (p->recording)
		cr_assert_eq(pg_buf_append(&p->rec, tmp, (size_t)n), 0);
	ssize_t used = pg_rfb_client_feed(p->c, p->in.data, p->in.len);
	if (used < 0) {
		p->err = (int)used;
		return -1;
	}
	pg_buf_consume(&p->in, (size_t)used);
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ut_wait(struct ut_peer *p, bool (*pred)(struct ut_peer *, void *), void *ctx)
{
	long end = now_ms() + UT_TIMEOUT_MS;
	while (!pred(p, ctx)) {
		if (now_ms() > end || ut_pump(p, 10) < 0)
			return pred(p, ctx);
	}
	return true;
}

void ut_host_run(struct ut_host *h, struct ut_peer *p, void (*fn)(struct ut_host *, void *),
		 void *arg)
{
	long end = now_ms() + UT_TIMEOUT_MS;
	pthread_mutex_lock(&h->mu);
	atomic_store(&h->cmd_done, 0);
	h->cmd = fn;
	h->cmd_arg = arg;
	pthread_mutex_unlock(&h->mu);
	while (!atomic_load(&h->cmd_done)) {
		cr_assert(now_ms() < end, "host command timed out");
		if (p)
			ut_pump(p, 5);
		else
			usleep(2000);
	}
}

bool ut_fb_equal(struct ut_peer *p, void *host)
{
	struct ut_host *h = host;
	if (!p->fb.px || p->fb.w != h->w || p->fb.h != h->h) {
		snprintf(p->diff, sizeof(p->diff), "size %dx%d, host %dx%d", p->fb.w, p->fb.h, h->w,
			 h->h);
		return false;
	}
	for (int y = 0; y < h->h; y++)
		for (int x = 0; x < h->w; x++) {
			uint32_t want = ut_swap_rb(h->px[(size_t)y * h->w + x] & 0xffffff);
			uint32_t got = p->fb.px[(size_t)y * p->fb.stride + x];
			if (got != want) {
				snprintf(p->diff, sizeof(p->diff), "at %d,%d %06x, host %06x", x, y,
					 got, want);
				return false;
			}
		}
	return true;
}

double ut_mse(const struct ut_peer *p, const struct ut_host *h)
{
	double se = 0;
	size_t n = 0;
	for (int y = 0; y < h->h; y++)
		for (int x = 0; x < h->w; x++) {
			uint32_t a = p->fb.px[(size_t)y * p->fb.stride + x];
			uint32_t b = ut_swap_rb(h->px[(size_t)y * h->w + x]);
			for (int s = 0; s < 24; s += 8) {
				double d = (double)(a >> s & 0xff) - (double)(b >> s & 0xff);
				se += d * d;
				n++;
			}
		}
	return se / (double)n;
}

struct count_arg {
	uint32_t enc;
	int n;
};

static void do_count(struct ut_host *h, void *arg)
{
	struct count_arg *a = arg;
	a->n = rfbStatGetEncodingCountSent(h->cl, a->enc);
}

int ut_sent_count(struct ut_host *h, struct ut_peer *p, uint32_t enc)
{
	struct count_arg a = {enc, 0};
	ut_host_run(h, p, do_count, &a);
	return a.n;
}

uint8_t *ut_guard_alloc(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (n + pg - 1) / pg * pg;
	if (body == 0)
		body = pg;
	uint8_t *m =
	    mmap(NULL, body + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(m != MAP_FAILED);
	cr_assert_eq(mprotect(m + body, pg, PROT_NONE), 0);
	return m + body - n;
}

void ut_guard_free(uint8_t *p, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (n + pg - 1) / pg * pg;
	if (body == 0)
		body = pg;
	munmap(p + n - body, body + pg);
}

ssize_t ut_trickle(struct pg_rfb_client *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t used = 0;
	for (size_t end = 1; end <= n; end++) {
		ssize_t rc = pg_rfb_client_feed(c, p + used, end - used);
		if (rc < 0)
			return rc;
		used += (size_t)rc;
	}
	return (ssize_t)used;
}

void ut_take(struct pg_rfb_client *c, const void *want, size_t n)
{
	struct pg_buf *out = pg_rfb_client_output(c);
	cr_assert_geq(out->len, n, "output has %zu bytes, want %zu", out->len, n);
	cr_assert_eq(memcmp(out->data, want, n), 0);
	pg_buf_consume(out, n);
}

void ut_nothing_queued(struct pg_rfb_client *c)
{
	cr_assert_eq(pg_rfb_client_output(c)->len, 0, "%zu bytes queued",
		     pg_rfb_client_output(c)->len);
}

void ut_client_security_none(struct pg_rfb_client *c)
{
	static const uint8_t none[] = {1, PG_RFB_SEC_NONE};
	cr_assert_eq(ut_trickle(c, "RFB 003.008\n", 12), 12);
	ut_take(c, "RFB 003.008\n", 12);
	cr_assert_eq(ut_trickle(c, none, sizeof(none)), 2);
	ut_take(c, "\1", 1);
}

void ut_client_init(struct pg_rfb_client *c, const char *name)
{
	static const uint8_t ok[4] = {0};
	uint8_t si[24 + 64] = {0, 64, 0, 48, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	size_t n = strlen(name);
	cr_assert_leq(n, sizeof(si) - 24);
	pg_wr32(si + 20, (uint32_t)n);
	memcpy(si + 24, name, n);
	cr_assert_eq(ut_trickle(c, ok, 4), 4);
	ut_take(c, "\1", 1); /* ClientInit, shared */
	ut_nothing_queued(c);
	cr_assert_eq(ut_trickle(c, si, 24 + n), (ssize_t)(24 + n));
	cr_assert(pg_rfb_client_ready(c));
}

void ut_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void ut_worker_fill(struct ut_worker *w, size_t n)
{
	while (w->in.len < n) {
		struct pollfd p = {.fd = w->host, .events = POLLIN};
		cr_assert_eq(poll(&p, 1, UT_WORKER_MS), 1, "the worker sent the host nothing");
		cr_assert_eq(pg_buf_reserve(&w->in, 65536), 0);
		ssize_t got = read(w->host, w->in.data + w->in.len, 65536);
		cr_assert_gt(got, 0, "the worker closed its connection to the host");
		w->in.len += (size_t)got;
	}
}

size_t ut_worker_msg(struct ut_worker *w)
{
	size_t need;
	ut_worker_fill(w, 1);
	switch (w->in.data[0]) {
	case PG_RFB_SET_PIXEL_FORMAT:
		need = 20;
		break;
	case PG_RFB_SET_ENCODINGS:
		ut_worker_fill(w, 4);
		need = 4 + 4 * (size_t)pg_rd16(w->in.data + 2);
		break;
	case PG_RFB_FB_UPDATE_REQUEST:
		need = 10;
		break;
	case PG_RFB_KEY_EVENT:
		need = 8;
		break;
	case PG_RFB_POINTER_EVENT:
		need = 6;
		break;
	case PG_RFB_CLIENT_CUT_TEXT: {
		ut_worker_fill(w, 8);
		uint32_t l = pg_rd32(w->in.data + 4);
		size_t len = l & 0x80000000u ? 0u - l : l;
		cr_assert_leq(len, PG_RFB_MAX_CUT_TEXT);
		need = 8 + len;
		break;
	}
	case PG_RFB_QEMU:
		need = PG_RFB_QEMU_KEY_LEN;
		break;
	case PG_RFB_SET_DESKTOP_SIZE:
		ut_worker_fill(w, 8);
		need = 8 + 16 * (size_t)w->in.data[6];
		break;
	default:
		cr_assert_fail("client message type %u", w->in.data[0]);
	}
	ut_worker_fill(w, need);
	return need;
}

/* The host's side of the handshake: what the worker sends must be want. */
static void worker_expect(struct ut_worker *w, const void *want, size_t n)
{
	ut_worker_fill(w, n);
	cr_assert_eq(memcmp(w->in.data, want, n), 0);
	pg_buf_consume(&w->in, n);
}

void ut_worker_start(struct ut_worker *w, bool debug, bool capture_stderr)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int sv[2], ep[2] = {-1, -1};

	memset(w, 0, sizeof(*w));
	w->chan = w->host = w->err = -1;
	w->m = calloc(1, sizeof(*w->m));
	cr_assert_not_null(w->m);
	pg_buf_init(&w->in, 4u << 20);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(ls, 0);
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(ls, 1), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	if (capture_stderr)
		cr_assert_eq(pipe2(ep, O_CLOEXEC), 0);
	w->pid = fork();
	cr_assert_geq(w->pid, 0);
	if (w->pid == 0) {
		int fd = sv[1] == 3 ? dup(sv[1]) : sv[1];
		if ((ep[1] < 0 || dup2(ep[1], 2) == 2) && dup2(fd, 3) == 3)
			execl(PG_BIN_DIR "/pixelgate-worker", "pixelgate-worker", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	w->chan = sv[0];
	if (capture_stderr) {
		close(ep[1]);
		w->err = ep[0];
	}

	struct pg_chan_msg *m = w->m;
	memset(m, 0, sizeof(*m));
	m->type = PG_CHAN_START;
	strcpy(m->u.start.host, "127.0.0.1");
	m->u.start.port = ntohs(a.sin_port);
	m->u.start.tls = PG_CHAN_TLS_NONE;
	m->u.start.debug = debug;
	/* As the relay sends them: the default caps, and nobody when run as root. */
	m->u.start.max_width = 3840;
	m->u.start.max_height = 2160;
	m->u.start.uid = m->u.start.gid = 65534;
	m->u.start.memory_mib = 1024;
	m->u.start.cpu_seconds = 3600;
	cr_assert_eq(pg_chan_send(w->chan, m, -1), 0);
	struct pollfd p = {.fd = ls, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, UT_WORKER_MS), 1, "the worker never connected");
	w->host = accept(ls, NULL, NULL);
	cr_assert_geq(w->host, 0);
	close(ls);

	/* RFB 3.8, security None, a 16x16 desktop. */
	static const uint8_t sec = PG_RFB_SEC_NONE;
	ut_write_all(w->host, "RFB 003.008\n", 12);
	worker_expect(w, "RFB 003.008\n", 12);
	ut_write_all(w->host, "\1\1", 2);
	worker_expect(w, &sec, 1);
	ut_write_all(w->host, "\0\0\0\0", 4);
	ut_worker_fill(w, 1); /* ClientInit */
	pg_buf_consume(&w->in, 1);
	static const uint8_t si[] = {0,	 16, 0, 16, 32, 24, 0, 1, 0, 255, 0,   255, 0,	255,
				     16, 8,  0, 0,  0,	0,  0, 0, 0, 3,	  'r', 'a', 'w'};
	ut_write_all(w->host, si, sizeof(si));
}

void ut_worker_stop(struct ut_worker *w)
{
	if (w->chan >= 0)
		close(w->chan);
	if (w->host >= 0)
		close(w->host);
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
	}
	if (w->err >= 0)
		close(w->err);
	pg_buf_free(&w->in);
	free(w->m);
	w->chan = w->host = w->err = -1;
	w->pid = 0;
	w->m = NULL;
}

static void keep_log(struct ut_worker *w)
{
	const struct pg_chan_log *l = &w->m->u.log;
	size_t n = l->len < PG_CHAN_TEXT ? l->len : PG_CHAN_TEXT;
	if (w->log_len + n + 2 > sizeof(w->log))
		return;
	memcpy(w->log + w->log_len, l->bytes, n);
	w->log_len += n;
	w->log[w->log_len++] = '\n';
	w->log[w->log_len] = '\0';
}

const char *ut_worker_log(struct ut_worker *w, int quiet_ms)
{
	for (;;) {
		struct pollfd p = {.fd = w->chan, .events = POLLIN};
		int fd = -1;
		if (poll(&p, 1, quiet_ms) != 1 || pg_chan_recv(w->chan, w->m, &fd) != 1)
			break;
		if (fd >= 0)
			close(fd);
		if (w->m->type == PG_CHAN_LOG)
			keep_log(w);
		if (w->m->type == PG_CHAN_UPDATE_END) {
			struct pg_chan_msg ack = {.type = PG_CHAN_UPDATE_ACK};
			pg_chan_send(w->chan, &ack, -1);
		}
	}
	w->log[w->log_len] = '\0';
	return w->log;
}

uint32_t ut_worker_next(struct ut_worker *w)
{
	for (;;) {
		struct pollfd p = {.fd = w->chan, .events = POLLIN};
		int fd = -1;
		cr_assert_eq(poll(&p, 1, UT_WORKER_MS), 1,
			     "the worker told the main process nothing");
		cr_assert_eq(pg_chan_recv(w->chan, w->m, &fd), 1, "channel closed or malformed");
		if (fd >= 0)
			close(fd);
		switch (w->m->type) {
		case PG_CHAN_RESIZE:
			w->resizes++;
			w->resize_w = w->m->u.size.w;
			w->resize_h = w->m->u.size.h;
			continue;
		case PG_CHAN_DAMAGE:
		case PG_CHAN_NAME:
		case PG_CHAN_CURSOR:
			continue;
		case PG_CHAN_LOG:
			keep_log(w);
			continue;
		case PG_CHAN_UPDATE_END: {
			struct pg_chan_msg ack = {.type = PG_CHAN_UPDATE_ACK};
			cr_assert_eq(pg_chan_send(w->chan, &ack, -1), 0);
			continue;
		}
		case PG_CHAN_ERROR:
			cr_log_info("worker error: %.*s", w->m->u.text.len, w->m->u.text.bytes);
			return w->m->type;
		default:
			return w->m->type;
		}
	}
}
