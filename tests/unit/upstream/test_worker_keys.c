/* The upstream worker's keyboard, on its two edges: the test plays the main process
 * on the channel (fd 3 of a real pixelgate-worker) and the browser host on a
 * loopback socket. Keys with keycodes go as QEMU extended key events once the host
 * acknowledged them, as plain KeyEvents before; the debug lines say so and never
 * carry a key. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/buf.h"
#include "codec/rfb.h"
#include "relay/channel.h"
#include "upstream_util.h"

static struct ut_worker k;
static bool qemu_listed; /* SetEncodings listed QEMU Extended Key Event */

/* The next client message that is not a FramebufferUpdateRequest, copied into
 * msg (at most 16 bytes are kept); returns its type. */
static uint8_t host_msg(uint8_t msg[16])
{
	for (;;) {
		size_t need = ut_worker_msg(&k);
		uint8_t type = k.in.data[0];
		if (type == PG_RFB_SET_ENCODINGS)
			for (size_t i = 4; i < need; i += 4)
				qemu_listed |=
				    (int32_t)pg_rd32(k.in.data + i) == PG_ENC_QEMU_EXT_KEY;
		memcpy(msg, k.in.data, need < 16 ? need : 16);
		pg_buf_consume(&k.in, need);
		if (type != PG_RFB_FB_UPDATE_REQUEST)
			return type;
	}
}

static void start(bool debug)
{
	uint8_t b[16];

	ut_worker_start(&k, debug, true);
	qemu_listed = false;
	cr_assert_eq(host_msg(b), PG_RFB_SET_PIXEL_FORMAT);
	cr_assert_eq(host_msg(b), PG_RFB_SET_ENCODINGS);
	cr_assert(qemu_listed, "SetEncodings did not list QEMU Extended Key Event (-258)");
	cr_assert_eq(ut_worker_next(&k), PG_CHAN_CONNECTED);
}

/* The worker's log lines so far (through the channel), then everything it wrote to
 * stderr, which must be nothing: a worker has no log of its own. */
static size_t worker_stderr(char *buf, size_t size)
{
	size_t n = 0;
	snprintf(buf, size, "%s", ut_worker_log(&k, 300));
	n = strlen(buf);
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

/* The host's acknowledgement, alone in an update; the worker has handled it once
 * it asks for the next update (an incremental request after UPDATE_END). */
static void host_ack(void)
{
	uint8_t m[16] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	pg_wr32(m + 12, (uint32_t)PG_ENC_QEMU_EXT_KEY);
	ut_write_all(k.host, m, sizeof(m));
	/* The worker publishes the (empty) update; its ACK lets it go on. */
	for (;;) {
		ut_worker_fill(&k, 10);
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
	ut_worker_stop(&k);
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
	ut_worker_stop(&k);
}

Test(worker_keys, silent_without_debug)
{
	char log[4096];
	start(false);
	host_ack();
	key(1, 'h', 0x23);
	expect_qemu_key(1, 'h', 0x23);
	cr_assert_eq(worker_stderr(log, sizeof(log)), 0, "%s", log);
	ut_worker_stop(&k);
}
