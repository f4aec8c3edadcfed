/* The upstream worker's keyboard, on its two edges: the test plays the main process
 * on the channel (fd 3 of a real pixelgate-worker) and the browser host on a
 * loopback socket. Keys with keycodes go as QEMU extended key events once the host
 * acknowledged them, as plain KeyEvents before; the debug lines say so and never
 * carry a key. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/buf.h"
#include "codec/rfb.h"
#include "relay/channel.h"

#define TIMEOUT_MS 10000

struct wk {
	pid_t pid;
	int chan;	  /* the main process's end of the channel */
	int host;	  /* the browser host's end of the worker's connection */
	int err;	  /* the worker's stderr */
	struct pg_buf in; /* bytes from the worker, as the host reads them */
	bool qemu_listed; /* SetEncodings listed QEMU Extended Key Event */
	struct pg_chan_msg *m;
};

static struct wk k;

static void write_all(int fd, const void *buf, size_t len)
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

/* Read until the host's buffer holds at least n bytes. */
static void host_fill(size_t n)
{
	while (k.in.len < n) {
		struct pollfd p = {.fd = k.host, .events = POLLIN};
		cr_assert_eq(poll(&p, 1, TIMEOUT_MS), 1, "the worker sent the host nothing");
		cr_assert_eq(pg_buf_reserve(&k.in, 65536), 0);
		ssize_t got = read(k.host, k.in.data + k.in.len, 65536);
		cr_assert_gt(got, 0, "the worker closed its connection to the host");
		k.in.len += (size_t)got;
	}
}

/* The next client message that is not a FramebufferUpdateRequest, copied into
 * msg (at most 16 bytes are kept); returns its type. */
static uint8_t host_msg(uint8_t msg[16])
{
	for (;;) {
		size_t need;
		host_fill(1);
		switch (k.in.data[0]) {
		case PG_RFB_SET_PIXEL_FORMAT:
			need = 20;
			break;
		case PG_RFB_SET_ENCODINGS:
			host_fill(4);
			need = 4 + 4 * (size_t)pg_rd16(k.in.data + 2);
			host_fill(need);
			for (size_t i = 4; i < need; i += 4)
				k.qemu_listed |=
				    (int32_t)pg_rd32(k.in.data + i) == PG_ENC_QEMU_EXT_KEY;
			break;
		case PG_RFB_FB_UPDATE_REQUEST:
			host_fill(10);
			pg_buf_consume(&k.in, 10);
			continue;
		case PG_RFB_KEY_EVENT:
			need = 8;
			break;
		case PG_RFB_QEMU:
			need = PG_RFB_QEMU_KEY_LEN;
			break;
		default:
			cr_assert_fail("client message type %u", k.in.data[0]);
		}
		host_fill(need);
		uint8_t type = k.in.data[0];
		memcpy(msg, k.in.data, need < 16 ? need : 16);
		pg_buf_consume(&k.in, need);
		return type;
	}
}

/* The next channel message that is not about pixels or the handshake. */
static uint32_t chan_next(void)
{
	for (;;) {
		struct pollfd p = {.fd = k.chan, .events = POLLIN};
		int fd = -1;
		cr_assert_eq(poll(&p, 1, TIMEOUT_MS), 1,
			     "the worker told the main process nothing");
		cr_assert_eq(pg_chan_recv(k.chan, k.m, &fd), 1, "channel closed or malformed");
		if (fd >= 0)
			close(fd);
		switch (k.m->type) {
		case PG_CHAN_RESIZE:
		case PG_CHAN_DAMAGE:
		case PG_CHAN_NAME:
		case PG_CHAN_CURSOR:
			continue;
		case PG_CHAN_UPDATE_END: {
			struct pg_chan_msg ack = {.type = PG_CHAN_UPDATE_ACK};
			cr_assert_eq(pg_chan_send(k.chan, &ack, -1), 0);
			continue;
		}
		case PG_CHAN_ERROR:
			cr_log_info("worker error: %.*s", k.m->u.text.len, k.m->u.text.bytes);
			return k.m->type;
		default:
			return k.m->type;
		}
	}
}

static void start(bool debug)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int sv[2], ep[2];

	memset(&k, 0, sizeof(k));
	k.m = calloc(1, sizeof(*k.m));
	cr_assert_not_null(k.m);
	pg_buf_init(&k.in, 4u << 20);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(ls, 0);
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(ls, 1), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(pipe2(ep, O_CLOEXEC), 0);
	k.pid = fork();
	cr_assert_geq(k.pid, 0);
	if (k.pid == 0) {
		int fd = sv[1] == 3 ? dup(sv[1]) : sv[1];
		if (dup2(ep[1], 2) == 2 && dup2(fd, 3) == 3)
			execl(PG_BIN_DIR "/pixelgate-worker", "pixelgate-worker", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	k.chan = sv[0];
	k.err = ep[0];

	struct pg_chan_msg *m = k.m;
	memset(m, 0, sizeof(*m));
	m->type = PG_CHAN_START;
	strcpy(m->u.start.host, "127.0.0.1");
	m->u.start.port = ntohs(a.sin_port);
	m->u.start.tls = PG_CHAN_TLS_NONE;
	m->u.start.debug = debug;
	cr_assert_eq(pg_chan_send(k.chan, m, -1), 0);
	struct pollfd p = {.fd = ls, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, TIMEOUT_MS), 1, "the worker never connected");
	k.host = accept(ls, NULL, NULL);
	cr_assert_geq(k.host, 0);
	close(ls);

	/* RFB 3.8, security None, a 16x16 desktop. */
	uint8_t b[32];
	write_all(k.host, "RFB 003.008\n", 12);
	host_fill(12);
	cr_assert_eq(memcmp(k.in.data, "RFB 003.008\n", 12), 0);
	pg_buf_consume(&k.in, 12);
	write_all(k.host, "\1\1", 2);
	host_fill(1);
	cr_assert_eq(k.in.data[0], PG_RFB_SEC_NONE);
	pg_buf_consume(&k.in, 1);
	write_all(k.host, "\0\0\0\0", 4);
	host_fill(1); /* ClientInit */
	pg_buf_consume(&k.in, 1);
	static const uint8_t si[] = {0,	 16, 0, 16, 32, 24, 0, 1, 0, 255, 0,   255, 0,	255,
				     16, 8,  0, 0,  0,	0,  0, 0, 0, 3,	  'r', 'a', 'w'};
	write_all(k.host, si, sizeof(si));
	cr_assert_eq(host_msg(b), PG_RFB_SET_PIXEL_FORMAT);
	cr_assert_eq(host_msg(b), PG_RFB_SET_ENCODINGS);
	cr_assert(k.qemu_listed, "SetEncodings did not list QEMU Extended Key Event (-258)");
	cr_assert_eq(chan_next(), PG_CHAN_CONNECTED);
}

/* All the worker wrote to stderr so far (it has exited or is killed first). */
static size_t worker_stderr(char *buf, size_t size)
{
	size_t n = 0;
	kill(k.pid, SIGKILL);
	waitpid(k.pid, NULL, 0);
	k.pid = 0;
	for (;;) {
		ssize_t got = read(k.err, buf + n, size - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	return n;
}

static void stop(void)
{
	close(k.chan);
	close(k.host);
	if (k.pid > 0) {
		kill(k.pid, SIGKILL);
		waitpid(k.pid, NULL, 0);
	}
	close(k.err);
	pg_buf_free(&k.in);
	free(k.m);
}

/* The host's acknowledgement, alone in an update; the worker has handled it once
 * it asks for the next update (an incremental request after UPDATE_END). */
static void host_ack(void)
{
	uint8_t m[16] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	pg_wr32(m + 12, (uint32_t)PG_ENC_QEMU_EXT_KEY);
	write_all(k.host, m, sizeof(m));
	/* The worker publishes the (empty) update; its ACK lets it go on. */
	for (;;) {
		host_fill(10);
		uint8_t type = k.in.data[0];
		cr_assert_eq(type, PG_RFB_FB_UPDATE_REQUEST);
		bool incremental = k.in.data[1];
		pg_buf_consume(&k.in, 10);
		if (incremental)
			break;
	}
}

static void key(int down, uint32_t keysym, uint32_t keycode)
{
	memset(k.m, 0, sizeof(*k.m));
	k.m->type = PG_CHAN_KEY;
	k.m->u.key.down = (uint8_t)down;
	k.m->u.key.keysym = keysym;
	k.m->u.key.keycode = keycode;
	cr_assert_eq(pg_chan_send(k.chan, k.m, -1), 0);
}

static void expect_key_event(int down, uint32_t keysym)
{
	uint8_t m[16];
	cr_assert_eq(host_msg(m), PG_RFB_KEY_EVENT);
	cr_assert_eq(m[1], down);
	cr_assert_eq(pg_rd32(m + 4), keysym);
}

static void expect_qemu_key(int down, uint32_t keysym, uint32_t keycode)
{
	uint8_t m[16];
	cr_assert_eq(host_msg(m), PG_RFB_QEMU);
	cr_assert_eq(m[1], PG_RFB_QEMU_EXT_KEY);
	cr_assert_eq(pg_rd16(m + 2), down);
	cr_assert_eq(pg_rd32(m + 4), keysym);
	cr_assert_eq(pg_rd32(m + 8), keycode);
}

Test(worker_keys, keysyms_until_the_host_acknowledges)
{
	char log[4096];
	start(true);
	key(1, 0xff2a, 0x29);
	key(0, 0xff2a, 0x29);
	key(1, 0, 0x70); /* a keycode alone: nothing to send without the extension */
	key(1, 'a', 0);
	expect_key_event(1, 0xff2a);
	expect_key_event(0, 0xff2a);
	expect_key_event(1, 'a');
	worker_stderr(log, sizeof(log));
	cr_assert_not_null(strstr(log, "did not acknowledge QEMU extended key events"), "%s", log);
	cr_assert_null(strstr(log, "acknowledged QEMU extended key events\n"), "%s", log);
	stop();
}

Test(worker_keys, keycodes_once_acknowledged)
{
	char log[4096];
	start(true);
	host_ack();
	key(1, 0xff2a, 0x29);
	key(0, 0xff2a, 0x29);
	key(1, 0, 0x70);
	key(1, 0xff53, 0xcd);
	key(1, 'b', 0);			     /* no keycode: a KeyEvent */
	key(1, 'c', PG_RFB_MAX_KEYCODE + 1); /* not an XT keycode: a KeyEvent */
	expect_qemu_key(1, 0xff2a, 0x29);
	expect_qemu_key(0, 0xff2a, 0x29);
	expect_qemu_key(1, 0, 0x70);
	expect_qemu_key(1, 0xff53, 0xcd);
	expect_key_event(1, 'b');
	expect_key_event(1, 'c');
	worker_stderr(log, sizeof(log));
	cr_assert_not_null(strstr(log, "browser host acknowledged QEMU extended key events"), "%s",
			   log);
	cr_assert_not_null(strstr(log, "keys go to the browser host as QEMU extended key events"),
			   "%s", log);
	/* The log tells how keys travel, never which: no keysym, no keycode. */
	cr_assert_null(strstr(log, "ff2a"), "%s", log);
	cr_assert_null(strstr(log, "65322"), "%s", log);
	cr_assert_null(strstr(log, "0x29"), "%s", log);
	stop();
}

Test(worker_keys, silent_without_debug)
{
	char log[4096];
	start(false);
	host_ack();
	key(1, 'h', 0x23);
	expect_qemu_key(1, 'h', 0x23);
	cr_assert_eq(worker_stderr(log, sizeof(log)), 0, "%s", log);
	stop();
}
