/* How the upstream worker asks the host for updates, on its two edges (a real
 * pixelgate-worker, the test playing the main process and the browser host): one
 * full request after ServerInit, then the next incremental request as soon as an
 * update's header arrives, before its rectangles; no Fence or ContinuousUpdates
 * listed, and a host's EndOfContinuousUpdates changes nothing. */
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

TestSuite(worker_requests, .fini = teardown, .timeout = 30);

/* The next client message, which must be type; its first bytes in msg. */
static void expect_msg(uint8_t type, uint8_t msg[16])
{
	size_t need = ut_worker_msg(&k);
	cr_assert_eq(k.in.data[0], type, "message type %u, not %u", k.in.data[0], type);
	memcpy(msg, k.in.data, need < 16 ? need : 16);
	pg_buf_consume(&k.in, need);
}

static void expect_request(int incremental)
{
	uint8_t m[16];
	expect_msg(PG_RFB_FB_UPDATE_REQUEST, m);
	cr_assert_eq(m[1], incremental);
	cr_assert_eq(pg_rd16(m + 6), 16);
	cr_assert_eq(pg_rd16(m + 8), 16);
}

/* Nothing from the worker for ms. */
static void expect_quiet(int ms)
{
	struct pollfd p = {.fd = k.host, .events = POLLIN};
	cr_assert_eq(k.in.len, 0);
	cr_assert_eq(poll(&p, 1, ms), 0, "the worker sent the host something");
}

Test(worker_requests, next_request_when_an_update_begins)
{
	static const uint8_t hdr[4] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	static const uint8_t rect[12 + 4] = {0, 1, 0, 2, 0, 1, 0, 1, 0, 0, 0, PG_ENC_RAW, 1, 2, 3};
	static const uint8_t end_of_cu[1] = {PG_RFB_END_OF_CU};
	uint8_t m[16];

	ut_worker_start(&k, false, false);
	expect_msg(PG_RFB_SET_PIXEL_FORMAT, m);
	size_t need = ut_worker_msg(&k);
	cr_assert_eq(k.in.data[0], PG_RFB_SET_ENCODINGS);
	for (size_t i = 4; i < need; i += 4) {
		int32_t e = (int32_t)pg_rd32(k.in.data + i);
		cr_assert(e != PG_ENC_FENCE && e != PG_ENC_CONTINUOUS_UPDATES,
			  "SetEncodings lists %d", (int)e);
	}
	pg_buf_consume(&k.in, need);
	expect_request(0);
	cr_assert_eq(ut_worker_next(&k), PG_CHAN_CONNECTED);

	/* Harmless, asked for or not. */
	ut_write_all(k.host, end_of_cu, sizeof(end_of_cu));
	for (int i = 0; i < 3; i++) {
		/* The header alone: the request comes before the rectangle. */
		ut_write_all(k.host, hdr, sizeof(hdr));
		expect_request(1);
		ut_write_all(k.host, rect, sizeof(rect));
		expect_quiet(200);
	}
}
