/* A viewer's screen size through the upstream worker (a real pixelgate-worker, the
 * test playing the main process and the browser host): PG_CHAN_SET_SIZE becomes the
 * worker's own SetDesktopSize only for a host that announced ExtendedDesktopSize,
 * with the host's screen id; the host's answer comes back as PG_CHAN_SIZE_RESULT,
 * after the RESIZE of the new size when it succeeded; odd statuses become 1 and a
 * host's unasked answers are none. */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>

#include "codec/buf.h"
#include "codec/rfb.h"
#include "relay/channel.h"
#include "upstream_util.h"

static struct ut_worker k;

static void teardown(void)
{
	ut_worker_stop(&k);
}

TestSuite(worker_size, .fini = teardown, .timeout = 30);

/* Client messages up to the next SetDesktopSize (the first ones and requests
 * skipped), which must ask
 * for w x h with the screen id. */
static void expect_set_size(int w, int h, uint32_t id)
{
	for (;;) {
		size_t need = ut_worker_msg(&k);
		uint8_t type = k.in.data[0];
		if (type == PG_RFB_FB_UPDATE_REQUEST || type == PG_RFB_SET_PIXEL_FORMAT ||
		    type == PG_RFB_SET_ENCODINGS) {
			pg_buf_consume(&k.in, need);
			continue;
		}
		cr_assert_eq(type, PG_RFB_SET_DESKTOP_SIZE, "message type %u", type);
		cr_assert_eq(need, 24);
		const uint8_t *m = k.in.data;
		cr_assert_eq(pg_rd16(m + 2), w);
		cr_assert_eq(pg_rd16(m + 4), h);
		cr_assert_eq(m[6], 1);
		cr_assert_eq(pg_rd32(m + 8), id);
		cr_assert_eq(pg_rd16(m + 12), 0);
		cr_assert_eq(pg_rd16(m + 14), 0);
		cr_assert_eq(pg_rd16(m + 16), w);
		cr_assert_eq(pg_rd16(m + 18), h);
		pg_buf_consume(&k.in, need);
		return;
	}
}

/* From the host: an update of one ExtendedDesktopSize rectangle, one screen. */
static void ext_desktop(int x, int y, int w, int h, uint32_t id)
{
	uint8_t m[4 + 12 + 4 + 16] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	pg_wr16(m + 4, (uint16_t)x);
	pg_wr16(m + 6, (uint16_t)y);
	pg_wr16(m + 8, (uint16_t)w);
	pg_wr16(m + 10, (uint16_t)h);
	pg_wr32(m + 12, (uint32_t)PG_ENC_EXT_DESKTOP_SIZE);
	m[16] = 1;
	pg_wr32(m + 20, id);
	pg_wr16(m + 28, (uint16_t)w);
	pg_wr16(m + 30, (uint16_t)h);
	ut_write_all(k.host, m, sizeof(m));
}

static void set_size(int w, int h)
{
	struct pg_chan_msg m = {.type = PG_CHAN_SET_SIZE};
	m.u.size = (struct pg_chan_size){(uint16_t)w, (uint16_t)h};
	cr_assert_eq(pg_chan_send(k.chan, &m, -1), 0);
}

static int next_result(void)
{
	cr_assert_eq(ut_worker_next(&k), PG_CHAN_SIZE_RESULT, "not a size result");
	return k.m->u.size_result.status;
}

/* The worker sent the host something within ms. */
static bool more_within(int ms)
{
	struct pollfd p = {.fd = k.host, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

/* Send an ExtendedDesktopSize update (screen 0x77) and wait until the worker has
 * read it: it asks for the next update when one begins, so the incremental request
 * that follows what it sent before says so. Then a channel message sent next cannot
 * overtake it. */
static void host_update_read(int x, int y, int w, int h)
{
	while (k.in.len || more_within(200))
		pg_buf_consume(&k.in, ut_worker_msg(&k));
	ext_desktop(x, y, w, h, 0x77);
	for (;;) {
		size_t need = ut_worker_msg(&k);
		bool incremental = k.in.data[0] == PG_RFB_FB_UPDATE_REQUEST && k.in.data[1];
		pg_buf_consume(&k.in, need);
		if (incremental)
			return;
	}
}

/* Through ServerInit to CONNECTED, the host's side drained. */
static void connected(void)
{
	ut_worker_start(&k, false, false);
	cr_assert_eq(ut_worker_next(&k), PG_CHAN_CONNECTED);
}

Test(worker_size, host_without_ext_desktop_size)
{
	connected();
	set_size(32, 24);
	cr_assert_eq(next_result(), 1);
	/* Nothing but the first messages went to the host. */
	while (k.in.len || more_within(300)) {
		size_t need = ut_worker_msg(&k);
		cr_assert_neq(k.in.data[0], PG_RFB_SET_DESKTOP_SIZE);
		pg_buf_consume(&k.in, need);
	}
}

Test(worker_size, answers_in_order)
{
	connected();
	host_update_read(0, 0, 16, 16); /* the announcement */
	set_size(32, 24);
	expect_set_size(32, 24, 0x77);
	int before = k.resizes;
	ext_desktop(1, 0, 32, 24, 0x77);
	cr_assert_eq(next_result(), 0);
	cr_assert_eq(k.resizes, before + 1, "the answer came before the new size");
	cr_assert(k.resize_w == 32 && k.resize_h == 24);

	/* Refused: the status as the host said. */
	set_size(40, 30);
	expect_set_size(40, 30, 0x77);
	ext_desktop(1, 3, 32, 24, 0x77);
	cr_assert_eq(next_result(), 3);

	/* Unasked answers are none; an odd status is prohibited. */
	host_update_read(1, 2, 32, 24);
	set_size(48, 36);
	expect_set_size(48, 36, 0x77);
	ext_desktop(1, 9, 32, 24, 0x77);
	cr_assert_eq(next_result(), 1);
	cr_assert_eq(k.resizes, before + 1);

	/* Out of the worker's limits: answered 3, nothing sent. */
	set_size(9000, 100);
	cr_assert_eq(next_result(), 3);
}
