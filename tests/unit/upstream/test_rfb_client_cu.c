/* pg_rfb_client's ContinuousUpdates and Fence, for a client that lists both: the
 * host's EndOfContinuousUpdates announcement answered with EnableContinuousUpdates
 * for the framebuffer once the first update ended, and from then on no request per
 * update; fence requests echoed; every new message bounded; hosts that never
 * announce them served with requests as before. And pipelined requests (the
 * worker's way), which go when an update begins. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "upstream_util.h"

struct rec {
	int updates;
};

static void rec_update_end(void *ud)
{
	((struct rec *)ud)->updates++;
}

/* The default list with Fence and ContinuousUpdates. */
static const int32_t with_cu[] = {
    PG_ENC_TIGHT,
    PG_ENC_ZRLE,
    PG_ENC_COPYRECT,
    PG_ENC_RAW,
    PG_ENC_DESKTOP_SIZE,
    PG_ENC_EXT_DESKTOP_SIZE,
    PG_ENC_LAST_RECT,
    PG_ENC_CURSOR,
    PG_ENC_COMPRESS_LEVEL_0 + 1,
    PG_ENC_EXT_CLIPBOARD,
    PG_ENC_QEMU_EXT_KEY,
    PG_ENC_FENCE,
    PG_ENC_CONTINUOUS_UPDATES,
};
#define CU with_cu, sizeof(with_cu) / sizeof(with_cu[0])

/* A client through RFB 3.8, security None and ServerInit of a 64x48 host, with
 * SetPixelFormat, SetEncodings and the first request taken. enc NULL: the default
 * encodings. */
static struct pg_rfb_client *ready_client(struct rec *r, const int32_t *enc, size_t n)
{
	struct pg_rfb_client_cb cb = {.ud = r, .update_end = rec_update_end};
	struct pg_rfb_client *c = pg_rfb_client_new(&cb);
	cr_assert_not_null(c);
	if (enc)
		cr_assert_eq(pg_rfb_client_set_encodings(c, enc, n), 0);
	ut_client_security_none(c);
	ut_client_init(c, "");
	struct pg_buf *out = pg_rfb_client_output(c);
	cr_assert_geq(out->len, 24);
	size_t len = 20 + 4 + 4 * (size_t)pg_rd16(out->data + 22) + 10;
	cr_assert_eq(out->len, len);
	cr_assert_eq(out->data[len - 10], PG_RFB_FB_UPDATE_REQUEST);
	cr_assert_eq(out->data[len - 9], 0, "the first request is not incremental");
	pg_buf_consume(out, len);
	return c;
}

static void feed(struct pg_rfb_client *c, const void *m, size_t n)
{
	cr_assert_eq(ut_trickle(c, m, n), (ssize_t)n, "%s", pg_rfb_client_error(c));
}

/* A FramebufferUpdate of one 1x1 Raw rectangle at 1,2. */
static void update(struct pg_rfb_client *c)
{
	static const uint8_t m[4 + 12 + 4] = {
	    PG_RFB_FB_UPDATE, 0, 0, 1, 0, 1, 0, 2, 0, 1, 0, 1, 0, 0, 0, PG_ENC_RAW, 1, 2, 3, 0};
	feed(c, m, sizeof(m));
}

static void end_of_cu(struct pg_rfb_client *c)
{
	static const uint8_t m[1] = {PG_RFB_END_OF_CU};
	feed(c, m, sizeof(m));
}

/* A Fence: flags, then len bytes of payload 0x40, 0x41, ... */
static size_t fence_msg(uint8_t *m, uint32_t flags, unsigned len)
{
	memset(m, 0, 9);
	m[0] = PG_RFB_FENCE;
	pg_wr32(m + 4, flags);
	m[8] = (uint8_t)len;
	for (unsigned i = 0; i < len; i++)
		m[9 + i] = (uint8_t)(0x40 + i);
	return 9 + len;
}

static void expect_enable_cu(struct pg_rfb_client *c, int w, int h)
{
	uint8_t want[10] = {PG_RFB_ENABLE_CU, 1};
	pg_wr16(want + 6, (uint16_t)w);
	pg_wr16(want + 8, (uint16_t)h);
	ut_take(c, want, sizeof(want));
}

static void expect_request(struct pg_rfb_client *c, int incremental, int w, int h)
{
	uint8_t want[10] = {PG_RFB_FB_UPDATE_REQUEST, (uint8_t)incremental};
	pg_wr16(want + 6, (uint16_t)w);
	pg_wr16(want + 8, (uint16_t)h);
	ut_take(c, want, sizeof(want));
}

/* The client and the host both on continuous updates, nothing queued. */
static struct pg_rfb_client *cu_client(struct rec *r)
{
	struct pg_rfb_client *c = ready_client(r, CU);
	end_of_cu(c);
	update(c);
	expect_enable_cu(c, 64, 48);
	ut_nothing_queued(c);
	cr_assert(pg_rfb_client_continuous(c));
	return c;
}

/* How often Fence and ContinuousUpdates are in the SetEncodings c queued. */
static void count_listed(struct pg_rfb_client *c, int *fence, int *cu)
{
	struct pg_buf *out = pg_rfb_client_output(c);
	const uint8_t *se = out->data + 20;
	*fence = *cu = 0;
	cr_assert_eq(se[0], PG_RFB_SET_ENCODINGS);
	for (unsigned i = 0; i < pg_rd16(se + 2); i++) {
		*fence += (int32_t)pg_rd32(se + 4 + 4 * i) == PG_ENC_FENCE;
		*cu += (int32_t)pg_rd32(se + 4 + 4 * i) == PG_ENC_CONTINUOUS_UPDATES;
	}
}

Test(rfb_cu, listed_only_when_asked)
{
	int fence, cu;
	struct pg_rfb_client *c = pg_rfb_client_new(NULL);
	ut_client_security_none(c);
	ut_client_init(c, "");
	count_listed(c, &fence, &cu);
	cr_assert_eq(fence, 0);
	cr_assert_eq(cu, 0);
	pg_rfb_client_del(c);

	c = pg_rfb_client_new(NULL);
	cr_assert_eq(pg_rfb_client_set_encodings(c, CU), 0);
	ut_client_security_none(c);
	ut_client_init(c, "");
	count_listed(c, &fence, &cu);
	cr_assert_eq(fence, 1);
	cr_assert_eq(cu, 1);
	cr_assert_not(pg_rfb_client_continuous(c));
	pg_rfb_client_del(c);
}

/* TigerVNC's server announces them in answer to SetEncodings, before the first
 * update: they go on when that update ended, and requests stop. */
Test(rfb_cu, announcement_enables_after_first_update)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, CU);
	end_of_cu(c);
	ut_nothing_queued(c);
	cr_assert_not(pg_rfb_client_continuous(c));
	update(c);
	cr_assert_eq(r.updates, 1);
	expect_enable_cu(c, 64, 48);
	ut_nothing_queued(c);
	cr_assert(pg_rfb_client_continuous(c));
	for (int i = 0; i < 5; i++)
		update(c);
	cr_assert_eq(r.updates, 6);
	ut_nothing_queued(c);
	/* The main process's refresh still asks for everything. */
	cr_assert_eq(pg_rfb_client_request(c, 0), 0);
	expect_request(c, 0, 64, 48);
	update(c);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
}

Test(rfb_cu, announcement_after_first_update_enables_at_once)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, CU);
	update(c);
	expect_request(c, 1, 64, 48);
	end_of_cu(c);
	expect_enable_cu(c, 64, 48);
	ut_nothing_queued(c);
	update(c);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
}

Test(rfb_cu, without_announcement_requests_as_before)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, CU);
	for (int i = 0; i < 3; i++) {
		update(c);
		expect_request(c, 1, 64, 48);
		ut_nothing_queued(c);
	}
	cr_assert_not(pg_rfb_client_continuous(c));
	pg_rfb_client_del(c);
}

/* A client that did not list them ignores both messages: no reply, no change. */
Test(rfb_cu, unasked_messages_change_nothing)
{
	struct rec r = {0};
	uint8_t m[9 + PG_RFB_MAX_FENCE];
	struct pg_rfb_client *c = ready_client(&r, NULL, 0);
	end_of_cu(c);
	feed(c, m, fence_msg(m, PG_RFB_FENCE_REQUEST, 4));
	ut_nothing_queued(c);
	update(c);
	expect_request(c, 1, 64, 48);
	end_of_cu(c);
	update(c);
	expect_request(c, 1, 64, 48);
	ut_nothing_queued(c);
	cr_assert_not(pg_rfb_client_continuous(c));
	pg_rfb_client_del(c);
}

/* Answered with the same payload, Request cleared, only the flags the client
 * honours (it handles messages in order: BlockBefore, BlockAfter). */
Test(rfb_cu, fence_request_echoed)
{
	struct rec r = {0};
	uint8_t m[9 + PG_RFB_MAX_FENCE], want[9 + PG_RFB_MAX_FENCE];
	struct pg_rfb_client *c = ready_client(&r, CU);
	size_t n = fence_msg(m, PG_RFB_FENCE_REQUEST | PG_RFB_FENCE_BLOCK_BEFORE, 1);
	feed(c, m, n);
	fence_msg(want, PG_RFB_FENCE_BLOCK_BEFORE, 1);
	ut_take(c, want, n);
	ut_nothing_queued(c);

	n = fence_msg(m,
		      PG_RFB_FENCE_REQUEST | PG_RFB_FENCE_BLOCK_BEFORE | PG_RFB_FENCE_BLOCK_AFTER |
			  PG_RFB_FENCE_SYNC_NEXT | 0x00f00000u,
		      PG_RFB_MAX_FENCE);
	feed(c, m, n);
	fence_msg(want, PG_RFB_FENCE_BLOCK_BEFORE | PG_RFB_FENCE_BLOCK_AFTER, PG_RFB_MAX_FENCE);
	ut_take(c, want, n);

	/* Empty payload */
	n = fence_msg(m, PG_RFB_FENCE_REQUEST, 0);
	feed(c, m, n);
	fence_msg(want, 0, 0);
	ut_take(c, want, n);

	/* An answer to a fence never sent asks nothing. */
	feed(c, m, fence_msg(m, PG_RFB_FENCE_BLOCK_BEFORE, 3));
	ut_nothing_queued(c);
	/* and the stream goes on */
	update(c);
	expect_request(c, 1, 64, 48);
	pg_rfb_client_del(c);
}

Test(rfb_cu, fence_over_64_bytes_refused)
{
	struct rec r = {0};
	uint8_t m[9 + 65];
	struct pg_rfb_client *c = ready_client(&r, CU);
	fence_msg(m, PG_RFB_FENCE_REQUEST, 0);
	m[8] = 65;
	/* Refused from its header: the payload is not waited for. */
	cr_assert_eq(pg_rfb_client_feed(c, m, 9), PG_EPROTO);
	cr_assert_not_null(strstr(pg_rfb_client_error(c), "Fence: payload length 65 over"), "%s",
			   pg_rfb_client_error(c));
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
}

/* A host that asks and asks and reads nothing meets the output's cap. */
Test(rfb_cu, fence_flood_bounded)
{
	struct rec r = {0};
	uint8_t m[9 + PG_RFB_MAX_FENCE];
	struct pg_rfb_client *c = ready_client(&r, CU);
	size_t n = fence_msg(m, PG_RFB_FENCE_REQUEST, PG_RFB_MAX_FENCE);
	ssize_t rc = 0;
	size_t i;
	for (i = 0; i < (4u << 20) / n && rc >= 0; i++)
		rc = pg_rfb_client_feed(c, m, n);
	cr_assert_eq(rc, PG_ELIMIT, "%zu fences of %zu bytes answered", i, n);
	cr_assert_leq(pg_rfb_client_output(c)->len, 1u << 20);
	cr_assert_not_null(strstr(pg_rfb_client_error(c), "Fence: output to the host over"), "%s",
			   pg_rfb_client_error(c));
	pg_rfb_client_del(c);
}

/* The area continuous updates cover follows the framebuffer's size. */
Test(rfb_cu, resize_reenables_for_new_size)
{
	struct rec r = {0};
	struct pg_rfb_client *c = cu_client(&r);
	static const uint8_t ds[4 + 12] = {
	    PG_RFB_FB_UPDATE, 0, 0, 1, 0, 0, 0, 0, 0, 80, 0, 60, 0xff, 0xff, 0xff, 0x21}; /* -223 */
	cr_assert_eq((int32_t)pg_rd32(ds + 12), PG_ENC_DESKTOP_SIZE);
	feed(c, ds, sizeof(ds));
	cr_assert_eq(pg_rfb_client_fb(c)->w, 80);
	expect_enable_cu(c, 80, 60);
	expect_request(c, 0, 80, 60);
	ut_nothing_queued(c);
	cr_assert(pg_rfb_client_continuous(c));
	update(c);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
}

/* EndOfContinuousUpdates after they went on: the host stopped them. Requests
 * again, and for good: another announcement does not turn them back on. */
Test(rfb_cu, host_ending_them_brings_requests_back)
{
	struct rec r = {0};
	struct pg_rfb_client *c = cu_client(&r);
	end_of_cu(c);
	cr_assert_not(pg_rfb_client_continuous(c));
	expect_request(c, 1, 64, 48);
	ut_nothing_queued(c);
	update(c);
	expect_request(c, 1, 64, 48);
	end_of_cu(c);
	end_of_cu(c);
	ut_nothing_queued(c);
	update(c);
	expect_request(c, 1, 64, 48);
	ut_nothing_queued(c);
	cr_assert_not(pg_rfb_client_continuous(c));
	pg_rfb_client_del(c);
}

/* Pipelined, the request goes out as the update begins, before its rectangles. */
Test(rfb_cu, pipelined_requests_when_update_begins)
{
	static const uint8_t hdr[4] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	static const uint8_t rect[12 + 4] = {0, 1, 0, 2, 0, 1, 0, 1, 0, 0, 0, PG_ENC_RAW, 1, 2, 3};
	static const uint8_t empty[4] = {PG_RFB_FB_UPDATE, 0, 0, 0};
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, CU);
	pg_rfb_client_set_pipelined(c, 1);
	feed(c, hdr, sizeof(hdr));
	expect_request(c, 1, 64, 48);
	feed(c, rect, sizeof(rect));
	cr_assert_eq(r.updates, 1);
	ut_nothing_queued(c);
	feed(c, empty, sizeof(empty));
	expect_request(c, 1, 64, 48);
	ut_nothing_queued(c);
	/* Continuous updates take over from it. */
	end_of_cu(c);
	expect_enable_cu(c, 64, 48);
	update(c);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
}

/* The worker's way: default list, pipelined. The host's announcement changes
 * nothing, and every update's request goes when it begins. */
Test(rfb_cu, pipelined_default_list_ignores_announcement)
{
	static const uint8_t hdr[4] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	static const uint8_t rect[12 + 4] = {0, 1, 0, 2, 0, 1, 0, 1, 0, 0, 0, PG_ENC_RAW, 1, 2, 3};
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, NULL, 0);
	pg_rfb_client_set_pipelined(c, 1);
	end_of_cu(c);
	ut_nothing_queued(c);
	for (int i = 0; i < 3; i++) {
		feed(c, hdr, sizeof(hdr));
		expect_request(c, 1, 64, 48);
		feed(c, rect, sizeof(rect));
		ut_nothing_queued(c);
		end_of_cu(c);
		ut_nothing_queued(c);
	}
	cr_assert_eq(r.updates, 3);
	cr_assert_not(pg_rfb_client_continuous(c));
	pg_rfb_client_del(c);
}
