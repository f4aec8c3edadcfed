/* pixelgate-worker: the only process that reads bytes from a browser host.
 *
 * The main process starts one per session with the channel on fd 3 and sends
 * PG_CHAN_START. The worker connects, speaks RFB as a client (codec/rfb_client),
 * decodes into a private framebuffer, and publishes finished updates into a sealed
 * shared-memory framebuffer: after PG_CHAN_UPDATE_END it leaves that memory alone
 * until the main process answers PG_CHAN_UPDATE_ACK, so the main process never
 * reads a half-written picture. Updates that finish meanwhile are merged and
 * published at the next ACK: the main process gets the newest pixels, not a queue. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/vncauth.h"
#include "codec/buf.h"
#include "codec/err.h"
#include "codec/fb.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "relay/channel.h"

#define CHAN_FD	   3
#define MAX_DAMAGE 32
#define READ_CHUNK (256u << 10)
/* The largest unit the client waits for whole is one compressed rectangle (Raw is
 * decoded a row at a time): cap the input buffer a little above that. */
#define WORKER_MAX_INPUT     ((size_t)PG_RFB_MAX_ZLIB_IN + (1u << 20))
#define CONNECT_TIMEOUT_MS   10000
#define HANDSHAKE_TIMEOUT_MS 15000

struct worker {
	int up; /* socket to the browser host */
	struct pg_rfb_client *rfb;
	struct pg_buf in;
	struct pg_fb fb; /* private: the decoders write here */
	uint32_t *shm;	 /* published pixels, read by the main process */
	size_t shm_bytes;
	struct pg_rect damage[MAX_DAMAGE];
	int ndamage;
	int dirty;	 /* an update finished and is not yet published */
	int waiting_ack; /* the main process is reading shm */
	char password[PG_CHAN_PASSWORD];
	int failed;
};

static void fail(const char *fmt, ...)
{
	struct pg_chan_msg m = {.type = PG_CHAN_ERROR};
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf((char *)m.u.text.bytes, sizeof(m.u.text.bytes), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	m.u.text.len = (uint16_t)(n < PG_CHAN_TEXT ? n : PG_CHAN_TEXT - 1);
	pg_chan_send(CHAN_FD, &m, -1);
	exit(1);
}

static void send_simple(uint32_t type)
{
	struct pg_chan_msg m = {.type = type};
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static void add_damage(struct worker *w, struct pg_rect r)
{
	for (int i = 0; i < w->ndamage; i++) {
		struct pg_rect u = pg_rect_union(w->damage[i], r);
		/* Merge when the union wastes little: keeps the list short without
		 * turning two far-apart carets into a full-screen update. */
		if ((long)u.w * u.h <=
		    (long)w->damage[i].w * w->damage[i].h + (long)r.w * r.h + (long)64 * 64) {
			w->damage[i] = u;
			return;
		}
	}
	if (w->ndamage == MAX_DAMAGE) {
		struct pg_rect all = r;
		for (int i = 0; i < w->ndamage; i++)
			all = pg_rect_union(all, w->damage[i]);
		w->damage[0] = all;
		w->ndamage = 1;
		return;
	}
	w->damage[w->ndamage++] = r;
}

static void publish(struct worker *w)
{
	struct pg_fb shm = {.px = w->shm, .w = w->fb.w, .h = w->fb.h, .stride = w->fb.w};
	for (int i = 0; i < w->ndamage; i++) {
		struct pg_rect r = w->damage[i];
		pg_fb_copy_rect(&shm, &w->fb, &r);
		struct pg_chan_msg m = {.type = PG_CHAN_DAMAGE};
		m.u.rect = (struct pg_chan_rect){(uint16_t)r.x, (uint16_t)r.y, (uint16_t)r.w,
						 (uint16_t)r.h};
		if (pg_chan_send(CHAN_FD, &m, -1) < 0)
			exit(1);
	}
	w->ndamage = 0;
	w->dirty = 0;
	w->waiting_ack = 1;
	send_simple(PG_CHAN_UPDATE_END);
}

static int on_resize(void *ud, int width, int height, struct pg_fb *out)
{
	struct worker *w = ud;
	size_t bytes;
	if (!pg_mul_size((size_t)width * (size_t)height, 4, &bytes))
		return PG_ELIMIT;
	struct pg_fb fb;
	if (pg_fb_alloc(&fb, width, height) < 0)
		return PG_ENOMEM;
	int fd = memfd_create("pixelgate-fb", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		fail("shared framebuffer of %dx%d: %s", width, height, strerror(errno));
	void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		fail("mapping the shared framebuffer: %s", strerror(errno));
	if (w->shm)
		munmap(w->shm, w->shm_bytes);
	pg_fb_free(&w->fb);
	w->fb = fb;
	w->shm = map;
	w->shm_bytes = bytes;
	struct pg_chan_msg m = {.type = PG_CHAN_RESIZE};
	m.u.size = (struct pg_chan_size){(uint16_t)width, (uint16_t)height};
	if (pg_chan_send(CHAN_FD, &m, fd) < 0)
		exit(1);
	close(fd);
	/* The main process holds the new memory now; earlier damage is moot, the
	 * whole picture is new. */
	w->ndamage = 0;
	add_damage(w, (struct pg_rect){0, 0, width, height});
	w->dirty = 1;
	*out = fb;
	return 0;
}

static void on_damage(void *ud, const struct pg_rect *r)
{
	add_damage(ud, *r);
}

static void on_copy(void *ud, const struct pg_rect *dst, int src_x, int src_y)
{
	add_damage(ud, *dst);
}

static void on_update_end(void *ud)
{
	struct worker *w = ud;
	w->dirty = 1;
	if (!w->waiting_ack)
		publish(w);
}

static void on_cursor(void *ud, int hot_x, int hot_y, int cw, int ch, const uint32_t *px,
		      const uint8_t *mask)
{
	static struct pg_chan_msg m; /* large: keep it off the stack */
	memset(&m, 0, sizeof(m));
	m.type = PG_CHAN_CURSOR;
	int w = cw < PG_CHAN_CURSOR_SIDE ? cw : PG_CHAN_CURSOR_SIDE;
	int h = ch < PG_CHAN_CURSOR_SIDE ? ch : PG_CHAN_CURSOR_SIDE;
	int in_stride = (cw + 7) / 8, out_stride = (w + 7) / 8;
	for (int y = 0; y < h; y++) {
		memcpy(m.u.cursor.px + y * w, px + (size_t)y * cw, (size_t)w * 4);
		memcpy(m.u.cursor.mask + y * out_stride, mask + (size_t)y * in_stride,
		       (size_t)out_stride);
	}
	m.u.cursor.w = (uint16_t)w;
	m.u.cursor.h = (uint16_t)h;
	m.u.cursor.hot_x = (uint16_t)(hot_x < w ? hot_x : 0);
	m.u.cursor.hot_y = (uint16_t)(hot_y < h ? hot_y : 0);
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static void on_bell(void *ud)
{
	send_simple(PG_CHAN_BELL);
}

static void on_cut_text(void *ud, const uint8_t *text, size_t len)
{
	/* Clipboard policy is not in force yet: nothing of the text crosses, only the
	 * fact that it was dropped, so the main process can log it. */
	struct pg_chan_msg m = {.type = PG_CHAN_CUT_TEXT_DROPPED};
	m.u.count.n = (uint32_t)len;
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static void on_name(void *ud, const uint8_t *name, size_t len)
{
	struct pg_chan_msg m = {.type = PG_CHAN_NAME};
	m.u.text.len = (uint16_t)(len < PG_CHAN_TEXT ? len : PG_CHAN_TEXT);
	memcpy(m.u.text.bytes, name, m.u.text.len);
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static int on_vnc_auth(void *ud, const uint8_t challenge[16], uint8_t response[16])
{
	struct worker *w = ud;
	if (!w->password[0])
		return -1;
	return pg_vncauth_response(w->password, challenge, response);
}

static int connect_host(const char *host, int port)
{
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc)
		fail("cannot resolve browser host %s: %s", host, gai_strerror(rc));
	int err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0) {
			err = errno;
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			err = errno;
			close(s);
			continue;
		}
		struct pollfd p = {.fd = s, .events = POLLOUT};
		int so = 0;
		socklen_t sl = sizeof(so);
		int pr = poll(&p, 1, CONNECT_TIMEOUT_MS);
		if (pr == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0) {
			int one = 1;
			/* Without NODELAY every key press waits on Nagle and delayed ACK. */
			setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(res);
			return s;
		}
		err = pr == 0 ? ETIMEDOUT : so ? so : errno;
		close(s);
	}
	freeaddrinfo(res);
	fail("cannot connect to browser host %s:%d: %s", host, port, strerror(err));
	return -1;
}

static void handle_channel(struct worker *w)
{
	struct pg_chan_msg m;
	int fd;
	for (;;) {
		int rc = pg_chan_recv(CHAN_FD, &m, &fd);
		if (rc == -EAGAIN)
			return;
		if (rc <= 0)
			exit(rc == 0 ? 0 : 1); /* the main process went away */
		switch (m.type) {
		case PG_CHAN_KEY:
			pg_rfb_client_key(w->rfb, m.u.key.down, m.u.key.keysym);
			break;
		case PG_CHAN_POINTER:
			pg_rfb_client_pointer(w->rfb, m.u.pointer.mask, m.u.pointer.x,
					      m.u.pointer.y);
			break;
		case PG_CHAN_REFRESH:
			pg_rfb_client_request(w->rfb, 0);
			break;
		case PG_CHAN_UPDATE_ACK:
			w->waiting_ack = 0;
			if (w->dirty)
				publish(w);
			break;
		default:
			break;
		}
	}
}

static void read_upstream(struct worker *w)
{
	if (pg_buf_reserve(&w->in, READ_CHUNK) < 0)
		fail("browser host sent more than %zu bytes pixelgate could not parse yet",
		     (size_t)WORKER_MAX_INPUT);
	ssize_t n = read(w->up, w->in.data + w->in.len, READ_CHUNK);
	if (n == 0)
		fail("browser host closed the connection");
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fail("reading from browser host: %s", strerror(errno));
	}
	w->in.len += (size_t)n;
	size_t off = 0;
	while (off < w->in.len) {
		ssize_t used = pg_rfb_client_feed(w->rfb, w->in.data + off, w->in.len - off);
		if (used < 0)
			fail("browser host: %s", pg_rfb_client_error(w->rfb));
		if (used == 0)
			break;
		off += (size_t)used;
	}
	pg_buf_consume(&w->in, off);
}

static void write_upstream(struct worker *w)
{
	struct pg_buf *out = pg_rfb_client_output(w->rfb);
	if (!out->len)
		return;
	ssize_t n = write(w->up, out->data, out->len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fail("writing to browser host: %s", strerror(errno));
	}
	pg_buf_consume(out, (size_t)n);
}

int main(int argc, char **argv)
{
	static struct worker w;
	struct pg_chan_msg m;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	/* A worker outliving its relay would hold a browser host for nobody. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	struct pollfd p = {.fd = CHAN_FD, .events = POLLIN};
	if (poll(&p, 1, 10000) != 1 || pg_chan_recv(CHAN_FD, &m, &fd) != 1 ||
	    m.type != PG_CHAN_START) {
		fprintf(stderr, "pixelgate-worker: started without a channel on fd 3; this program "
				"is run by pixelgate, not by hand\n");
		return 2;
	}
	m.u.start.host[sizeof(m.u.start.host) - 1] = '\0';
	m.u.start.password[sizeof(m.u.start.password) - 1] = '\0';
	memcpy(w.password, m.u.start.password, sizeof(w.password));
	explicit_bzero(&m.u.start.password, sizeof(m.u.start.password));

	pg_buf_init(&w.in, WORKER_MAX_INPUT);
	w.up = connect_host(m.u.start.host, m.u.start.port);
	struct pg_rfb_client_cb cb = {
	    .ud = &w,
	    .resize = on_resize,
	    .damage = on_damage,
	    .copy = on_copy,
	    .update_end = on_update_end,
	    .cursor = on_cursor,
	    .bell = on_bell,
	    .cut_text = on_cut_text,
	    .name = on_name,
	    .vnc_auth = on_vnc_auth,
	};
	w.rfb = pg_rfb_client_new(&cb);
	if (!w.rfb)
		fail("out of memory");

	int announced = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd fds[2] = {
		    {.fd = CHAN_FD, .events = POLLIN},
		    {.fd = w.up, .events = POLLIN},
		};
		int timeout = -1;
		if (pg_rfb_client_output(w.rfb)->len)
			fds[1].events |= POLLOUT;
		if (!announced) {
			/* A host that accepts but never finishes the handshake would hold
			 * the session forever: give up, and the session retries. */
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long spent = (now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000;
			if (spent >= HANDSHAKE_TIMEOUT_MS)
				fail("browser host did not finish the RFB handshake within %d s",
				     HANDSHAKE_TIMEOUT_MS / 1000);
			timeout = (int)(HANDSHAKE_TIMEOUT_MS - spent);
		}
		if (poll(fds, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		if (fds[0].revents)
			handle_channel(&w);
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
			read_upstream(&w);
		if (!announced && pg_rfb_client_ready(w.rfb)) {
			explicit_bzero(w.password, sizeof(w.password));
			send_simple(PG_CHAN_CONNECTED);
			announced = 1;
		}
		write_upstream(&w);
	}
}
