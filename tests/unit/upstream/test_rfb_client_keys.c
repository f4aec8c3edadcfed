/* pg_rfb_client's keyboard: QEMU Extended Key Event listed in SetEncodings, the
 * host's acknowledgement pseudo-rectangle (no body, whatever its header says), and
 * keys sent with their keycodes only after it, as plain KeyEvents before. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "upstream_util.h"

struct rec {
	int updates, bells;
};

static void rec_update_end(void *ud)
{
	((struct rec *)ud)->updates++;
}

static void rec_bell(void *ud)
{
	((struct rec *)ud)->bells++;
}

/* A client through RFB 3.8, security None and ServerInit of a 64x48 host; its
 * output untouched from SetPixelFormat on. enc NULL: the default encodings. */
static struct pg_rfb_client *ready_client(struct rec *r, const int32_t *enc, size_t n)
{
	struct pg_rfb_client_cb cb = {.ud = r, .update_end = rec_update_end, .bell = rec_bell};
	struct pg_rfb_client *c = pg_rfb_client_new(&cb);
	cr_assert_not_null(c);
	if (enc)
		cr_assert_eq(pg_rfb_client_set_encodings(c, enc, n), 0);
	ut_client_security_none(c);
	/* Before ready nothing is queued, with or without a keycode. */
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 'a', 0x1e), 0);
	ut_client_init(c, "");
	return c;
}

/* Take SetPixelFormat, SetEncodings and the first FramebufferUpdateRequest; returns
 * how often enc is in the SetEncodings list. */
static int skip_init(struct pg_rfb_client *c, int32_t enc)
{
	struct pg_buf *out = pg_rfb_client_output(c);
	cr_assert_geq(out->len, 24);
	const uint8_t *se = out->data + 20;
	unsigned count = pg_rd16(se + 2);
	size_t n = 20 + 4 + 4 * (size_t)count + 10;
	int found = 0;
	cr_assert_eq(se[0], PG_RFB_SET_ENCODINGS);
	cr_assert_eq(out->len, n);
	for (unsigned i = 0; i < count; i++)
		found += (int32_t)pg_rd32(se + 4 + 4 * i) == enc;
	pg_buf_consume(out, n);
	return found;
}

/* A FramebufferUpdate holding only the acknowledgement, header x, y, w, h as given. */
static void ack_update(uint8_t m[16], int x, int y, int w, int h)
{
	static const uint8_t hdr[4] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	memcpy(m, hdr, 4);
	pg_wr16(m + 4, (uint16_t)x);
	pg_wr16(m + 6, (uint16_t)y);
	pg_wr16(m + 8, (uint16_t)w);
	pg_wr16(m + 10, (uint16_t)h);
	pg_wr32(m + 12, (uint32_t)PG_ENC_QEMU_EXT_KEY);
}

static void expect_key_event(struct pg_rfb_client *c, int down, uint32_t keysym)
{
	uint8_t want[8] = {PG_RFB_KEY_EVENT, (uint8_t)down};
	pg_wr32(want + 4, keysym);
	ut_take(c, want, sizeof(want));
}

static void expect_qemu_key(struct pg_rfb_client *c, int down, uint32_t keysym, uint32_t keycode)
{
	uint8_t want[12] = {PG_RFB_QEMU, PG_RFB_QEMU_EXT_KEY, 0, (uint8_t)down};
	pg_wr32(want + 4, keysym);
	pg_wr32(want + 8, keycode);
	ut_take(c, want, sizeof(want));
}

/* The incremental request queued after an update. */
static void expect_incremental_request(struct pg_rfb_client *c)
{
	static const uint8_t want[10] = {PG_RFB_FB_UPDATE_REQUEST, 1, 0, 0, 0, 0, 0, 64, 0, 48};
	ut_take(c, want, sizeof(want));
}

Test(rfb_keys, set_encodings_lists_qemu_ext_key)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, NULL, 0);
	cr_assert_eq(skip_init(c, PG_ENC_QEMU_EXT_KEY), 1);
	cr_assert_not(pg_rfb_client_qemu_key(c));
	pg_rfb_client_del(c);
}

Test(rfb_keys, plain_key_events_until_acknowledged)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, NULL, 0);
	skip_init(c, PG_ENC_QEMU_EXT_KEY);
	/* Zenkaku_Hankaku with its keycode: the keysym alone goes. */
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 0xff2a, 0x29), 0);
	expect_key_event(c, 1, 0xff2a);
	cr_assert_eq(pg_rfb_client_key_code(c, 0, 0xff2a, 0x29), 0);
	expect_key_event(c, 0, 0xff2a);
	/* Without a keysym a KeyEvent means nothing: nothing is sent. */
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 0, 0x70), 0);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
}

Test(rfb_keys, acknowledged_keys_carry_keycodes)
{
	struct rec r = {0};
	uint8_t ack[16];
	struct pg_rfb_client *c = ready_client(&r, NULL, 0);
	skip_init(c, PG_ENC_QEMU_EXT_KEY);
	ack_update(ack, 0, 0, 0, 0);
	cr_assert_eq(ut_trickle(c, ack, sizeof(ack)), (ssize_t)sizeof(ack));
	cr_assert(pg_rfb_client_qemu_key(c));
	cr_assert_eq(r.updates, 1);
	expect_incremental_request(c);
	ut_nothing_queued(c);

	cr_assert_eq(pg_rfb_client_key_code(c, 1, 'h', 0x23), 0);
	expect_qemu_key(c, 1, 'h', 0x23);
	cr_assert_eq(pg_rfb_client_key_code(c, 0, 'h', 0x23), 0);
	expect_qemu_key(c, 0, 'h', 0x23);
	/* 0xe0-prefixed keys (Right: 0xe0 0x4d) as 0x80 | code, and a keycode alone */
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 0xff53, 0xcd), 0);
	expect_qemu_key(c, 1, 0xff53, 0xcd);
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 0, 0x70), 0);
	expect_qemu_key(c, 1, 0, 0x70);
	/* No keycode, or one outside 1..PG_RFB_MAX_KEYCODE: the keysym as before. */
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 'x', 0), 0);
	expect_key_event(c, 1, 'x');
	cr_assert_eq(pg_rfb_client_key_code(c, 0, 'x', PG_RFB_MAX_KEYCODE + 1), 0);
	expect_key_event(c, 0, 'x');
	cr_assert_eq(pg_rfb_client_key_code(c, 1, 0, 0x1000), 0);
	ut_nothing_queued(c);
	/* pg_rfb_client_key stays a plain KeyEvent. */
	cr_assert_eq(pg_rfb_client_key(c, 1, 'y'), 0);
	expect_key_event(c, 1, 'y');
	pg_rfb_client_del(c);
}

/* QEMU itself fills the header with the framebuffer's size: still no body. The
 * acknowledgement may share an update with pixels, and a Bell right behind it
 * must be read as a Bell. */
Test(rfb_keys, acknowledgement_has_no_body_whatever_its_header)
{
	struct rec r = {0};
	uint8_t m[4 + 12 + 12 + 4 + 1] = {PG_RFB_FB_UPDATE, 0, 0, 2};
	struct pg_rfb_client *c = ready_client(&r, NULL, 0);
	skip_init(c, PG_ENC_QEMU_EXT_KEY);
	ack_update(m, 0, 0, 64, 48);
	m[3] = 2;
	/* a 1x1 Raw rectangle at 3,4 */
	pg_wr16(m + 16, 3);
	pg_wr16(m + 18, 4);
	pg_wr16(m + 20, 1);
	pg_wr16(m + 22, 1);
	pg_wr32(m + 24, PG_ENC_RAW);
	memcpy(m + 28, "\x11\x22\x33\x00", 4);
	m[32] = PG_RFB_BELL;
	cr_assert_eq(ut_trickle(c, m, sizeof(m)), (ssize_t)sizeof(m), "%s", pg_rfb_client_error(c));
	cr_assert(pg_rfb_client_qemu_key(c));
	cr_assert_eq(r.updates, 1);
	cr_assert_eq(r.bells, 1);
	cr_assert_eq(pg_rfb_client_fb(c)->px[4 * pg_rfb_client_fb(c)->stride + 3] & 0xffffff,
		     0x332211);
	pg_rfb_client_del(c);
}

/* A client that did not list the pseudo-encoding refuses its rectangle, as it
 * refuses every encoding it never asked for. */
Test(rfb_keys, unrequested_acknowledgement_refused)
{
	static const int32_t enc[] = {PG_ENC_RAW};
	struct rec r = {0};
	uint8_t ack[16];
	struct pg_rfb_client *c = ready_client(&r, enc, 1);
	cr_assert_eq(skip_init(c, PG_ENC_QEMU_EXT_KEY), 0);
	ack_update(ack, 0, 0, 0, 0);
	cr_assert_eq(pg_rfb_client_feed(c, ack, sizeof(ack)), PG_EUNSUP);
	cr_assert_not_null(strstr(pg_rfb_client_error(c), "-258 (QEMUExtendedKeyEvent) never"),
			   "%s", pg_rfb_client_error(c));
	cr_assert_not(pg_rfb_client_qemu_key(c));
	pg_rfb_client_del(c);
}
