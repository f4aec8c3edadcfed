/* The viewer-side parser: every prefix of every message asks for more, every
 * message parses exactly against a guard page, limits fail before buffering, and
 * unknown types are refused with a reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"
#include "enc_util.h"

static ssize_t parse_guarded(const void *data, size_t len, struct pg_cmsg *m, const char **why)
{
	struct pgt_guard g = {0};
	const uint8_t *p = pgt_guard_place(&g, data, len);
	ssize_t n = pg_rfb_parse_client_msg(p, len, m, why);
	pgt_guard_free(&g);
	return n;
}

static ssize_t version_guarded(const char *s, size_t len, int *minor)
{
	struct pgt_guard g = {0};
	const uint8_t *p = pgt_guard_place(&g, s, len);
	ssize_t n = pg_rfb_parse_version(p, len, minor);
	pgt_guard_free(&g);
	return n;
}

Test(rfb_server, versions)
{
	static const struct {
		const char *s;
		int minor;
	} ok[] = {
	    {"RFB 003.008\n", 8}, {"RFB 003.007\n", 7}, {"RFB 003.003\n", 3},
	    {"RFB 003.005\n", 3}, {"RFB 003.889\n", 8}, {"RFB 003.010\n", 3},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int minor = -1;
		for (size_t k = 0; k < 12; k++)
			cr_assert_eq(version_guarded(ok[i].s, k, &minor), 0, "%s prefix %zu",
				     ok[i].s, k);
		cr_assert_eq(version_guarded(ok[i].s, 12, &minor), 12);
		cr_assert_eq(minor, ok[i].minor, "%s", ok[i].s);
	}
}

Test(rfb_server, bad_versions)
{
	static const char *bad[] = {"RFB 004.000\n", "RFB 003.00x\n", "RFB 003.008\r",
				    "RFB 003,008\n", "rfb 003.008\n"};
	int minor;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(version_guarded(bad[i], 12, &minor), PG_EPROTO, "%s", bad[i]);
	/* refused on the first wrong byte, not after twelve */
	cr_assert_eq(version_guarded("GET / HTTP/1.1\r\n", 1, &minor), PG_EPROTO);
}

Test(rfb_server, server_init_and_bell)
{
	static const uint8_t want[] = {0x04, 0x00, 0x03, 0x00, 32,  24,	 0,   1,  0, 255,
				       0,    255,  0,	 255,  16,  8,	 0,   0,  0, 0,
				       0,    0,	   0,	 4,    'd', 'e', 's', 'k'};
	struct pg_buf b;
	char longname[PG_RFB_NAME_OUT + 1];

	pg_buf_init(&b, 1 << 16);
	cr_assert_eq(pg_rfb_write_server_init(&b, 1024, 768, "desk", 4), 0);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert(memcmp(b.data, want, sizeof(want)) == 0);
	pg_buf_reset(&b);
	memset(longname, 'a', sizeof(longname));
	cr_assert_eq(pg_rfb_write_server_init(&b, 10, 10, longname, sizeof(longname)), PG_ELIMIT);
	cr_assert_eq(pg_rfb_write_server_init(&b, 0, 10, "x", 1), PG_EPROTO);
	cr_assert_eq(pg_rfb_write_bell(&b), 0);
	cr_assert_eq(b.len, 1);
	cr_assert_eq(b.data[0], 2);
	pg_buf_free(&b);
}

struct fixture {
	const char *name;
	uint8_t bytes[96];
	size_t len;
};

static const struct fixture fixtures[] = {
    {"SetPixelFormat", {0, 0, 0, 0, 16, 16, 1, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0}, 20},
    {"SetEncodings", {2, 0, 0, 3, 0, 0, 0, 16, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xe0}, 16},
    {"SetEncodings empty", {2, 0, 0, 0}, 4},
    {"FramebufferUpdateRequest", {3, 1, 0, 10, 0, 20, 1, 0, 0, 200}, 10},
    {"KeyEvent", {4, 1, 0, 0, 0, 0, 0xff, 0x0d}, 8},
    {"PointerEvent", {5, 0x81, 0x01, 0x02, 0x03, 0x04}, 6},
    {"ClientCutText", {6, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}, 13},
    {"ClientCutText empty", {6, 0, 0, 0, 0, 0, 0, 0}, 8},
    {"Extended clipboard", {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x01, 0, 0, 0x01}, 12},
    {"SetDesktopSize",
     {251,  0,	  0x07, 0x80, 0x04, 0x38, 2,	0,    0, 0, 0, 1, 0, 0,
      0,    0,	  0x03, 0xc0, 0x04, 0x38, 0,	0,    0, 0, 0, 0, 0, 2,
      0x03, 0xc0, 0,	0,    0x03, 0xc0, 0x04, 0x38, 0, 0, 0, 0},
     40},
    /* Zenkaku_Hankaku (0xff2a) on the key left of 1, XT 0x29 */
    {"QEMU extended key event", {255, 0, 0, 1, 0, 0, 0xff, 0x2a, 0, 0, 0, 0x29}, 12},
    {"EnableContinuousUpdates", {150, 1, 0, 10, 0, 20, 1, 0, 0, 200}, 10},
    /* Request | BlockBefore, 3 bytes of payload */
    {"Fence", {248, 0, 0, 0, 0x80, 0, 0, 1, 3, 'a', 'b', 'c'}, 12},
    {"Fence empty", {248, 0, 0, 0, 0, 0, 0, 0, 0}, 9},
};

Test(rfb_server, every_prefix_needs_more)
{
	for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
		for (size_t k = 0; k < fixtures[f].len; k++) {
			struct pg_cmsg m;
			const char *why = NULL;
			cr_assert_eq(parse_guarded(fixtures[f].bytes, k, &m, &why), 0,
				     "%s prefix %zu", fixtures[f].name, k);
		}
	}
}

Test(rfb_server, each_message_parses_exactly)
{
	for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
		struct pg_cmsg m;
		const char *why = NULL;
		uint8_t more[128];
		size_t len = fixtures[f].len;
		cr_assert_eq(parse_guarded(fixtures[f].bytes, len, &m, &why), (ssize_t)len, "%s",
			     fixtures[f].name);
		cr_assert_eq(m.type, fixtures[f].bytes[0]);
		/* with the next message behind it, only this one is consumed */
		memcpy(more, fixtures[f].bytes, len);
		memset(more + len, 4, 8);
		cr_assert_eq(parse_guarded(more, len + 8, &m, &why), (ssize_t)len);
	}
}

Test(rfb_server, fields)
{
	struct pgt_guard g = {0};
	struct pg_cmsg m;
	const char *why;
	const uint8_t *p;

	p = pgt_guard_place(&g, fixtures[0].bytes, 20);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 20, &m, &why), 20);
	cr_assert(pgt_pixfmt_eq(&m.pixfmt, &pgt_rgb565_be));
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[1].bytes, 16);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 16, &m, &why), 16);
	cr_assert_eq(m.encodings.count, 3);
	cr_assert_eq(m.encodings.list, p + 4);
	cr_assert_eq((int32_t)pg_rd32(m.encodings.list + 8), PG_ENC_JPEG_QUALITY_0);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[3].bytes, 10);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 10, &m, &why), 10);
	cr_assert(m.fbreq.incremental == 1 && m.fbreq.x == 10 && m.fbreq.y == 20);
	cr_assert(m.fbreq.w == 256 && m.fbreq.h == 200);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[4].bytes, 8);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 8, &m, &why), 8);
	cr_assert(m.key.down == 1 && m.key.keysym == 0xff0d);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[5].bytes, 6);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 6, &m, &why), 6);
	cr_assert(m.pointer.mask == 0x81 && m.pointer.x == 0x102 && m.pointer.y == 0x304);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[6].bytes, 13);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 13, &m, &why), 13);
	cr_assert(m.cut.len == 5 && !m.cut.extended && memcmp(m.cut.text, "hello", 5) == 0);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[8].bytes, 12);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 12, &m, &why), 12);
	cr_assert(m.cut.len == 4 && m.cut.extended && m.cut.text == p + 8);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[9].bytes, 40);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 40, &m, &why), 40);
	cr_assert(m.desktop_size.w == 1920 && m.desktop_size.h == 1080);
	cr_assert(m.desktop_size.screens == 2 && m.desktop_size.list == p + 8);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[10].bytes, 12);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 12, &m, &why), 12);
	cr_assert_eq(m.type, PG_RFB_QEMU);
	cr_assert(m.qemu_key.down == 1 && m.qemu_key.keysym == 0xff2a);
	cr_assert_eq(m.qemu_key.keycode, 0x29);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[11].bytes, 10);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 10, &m, &why), 10);
	cr_assert_eq(m.type, PG_RFB_ENABLE_CU);
	cr_assert(m.cu.enable == 1 && m.cu.x == 10 && m.cu.y == 20);
	cr_assert(m.cu.w == 256 && m.cu.h == 200);
	pgt_guard_free(&g);

	p = pgt_guard_place(&g, fixtures[12].bytes, 12);
	cr_assert_eq(pg_rfb_parse_client_msg(p, 12, &m, &why), 12);
	cr_assert_eq(m.type, PG_RFB_FENCE);
	cr_assert_eq(m.fence.flags, PG_RFB_FENCE_REQUEST | PG_RFB_FENCE_BLOCK_BEFORE);
	cr_assert(m.fence.len == 3 && m.fence.payload == p + 9);
	pgt_guard_free(&g);
}

Test(rfb_server, fence_and_end_of_cu_written)
{
	static const uint8_t want[] = {248, 0, 0, 0, 0x80, 0, 0, 3, 2, 'h', 'i', 150};
	uint8_t big[PG_RFB_MAX_FENCE + 1] = {0};
	struct pg_buf b;

	pg_buf_init(&b, 1 << 10);
	cr_assert_eq(pg_rfb_write_fence(&b, 0x80000003u, (const uint8_t *)"hi", 2), 0);
	cr_assert_eq(pg_rfb_write_end_of_cu(&b), 0);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert(memcmp(b.data, want, sizeof(want)) == 0);
	pg_buf_reset(&b);
	cr_assert_eq(pg_rfb_write_fence(&b, 0, big, sizeof(big)), PG_ELIMIT);
	cr_assert_eq(pg_rfb_write_fence(&b, 0, big, PG_RFB_MAX_FENCE), 0);
	cr_assert_eq(b.len, 9 + PG_RFB_MAX_FENCE);
	pg_buf_free(&b);
}

Test(rfb_server, qemu_key_values_as_sent)
{
	/* A release of Right (0xe0 0x4d: 0xcd) */
	static const uint8_t right_up[] = {255, 0, 0, 0, 0, 0, 0xff, 0x53, 0, 0, 0, 0xcd};
	/* Any non-zero down-flag is a press; a keysym of 0 (the keycode alone says
	 * which key, as TigerVNC sends for keys without one) and a keycode out of the
	 * XT range are reported as they are, for the caller to judge. */
	static const uint8_t odd[] = {255, 0, 0x01, 0x00, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
	struct pg_cmsg m;

	cr_assert_eq(parse_guarded(right_up, sizeof(right_up), &m, NULL), 12);
	cr_assert(m.qemu_key.down == 0 && m.qemu_key.keysym == 0xff53);
	cr_assert_eq(m.qemu_key.keycode, 0xcd);
	cr_assert_eq(parse_guarded(odd, sizeof(odd), &m, NULL), 12);
	cr_assert(m.qemu_key.down == 1 && m.qemu_key.keysym == 0);
	cr_assert_eq(m.qemu_key.keycode, 0x12345678u);
}

static void limit(const uint8_t *hdr, size_t len, int code, const char *word)
{
	struct pg_cmsg m;
	const char *why = NULL;
	cr_assert_eq(parse_guarded(hdr, len, &m, &why), code);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, word), "why \"%s\"", why);
}

Test(rfb_server, limits_fail_before_buffering)
{
	uint8_t enc[4] = {2, 0, (PG_RFB_MAX_ENCODINGS + 1) >> 8, (PG_RFB_MAX_ENCODINGS + 1) & 255};
	uint8_t cut[8] = {6, 0, 0, 0};
	uint8_t ds[8] = {251, 0, 0, 100, 0, 100, PG_RFB_MAX_SCREENS + 1, 0};
	uint8_t fence[9] = {248, 0, 0, 0, 0x80, 0, 0, 0, PG_RFB_MAX_FENCE + 1};
	struct pg_cmsg m;

	limit(enc, 4, PG_ELIMIT, "PG_RFB_MAX_ENCODINGS");
	pg_wr32(cut + 4, PG_RFB_MAX_CUT_TEXT + 1);
	limit(cut, 8, PG_ELIMIT, "PG_RFB_MAX_CUT_TEXT");
	pg_wr32(cut + 4, (uint32_t) - (int32_t)(PG_RFB_MAX_CUT_TEXT + 1));
	limit(cut, 8, PG_ELIMIT, "PG_RFB_MAX_CUT_TEXT");
	pg_wr32(cut + 4, 0x80000000u);
	limit(cut, 8, PG_ELIMIT, "PG_RFB_MAX_CUT_TEXT");
	limit(ds, 8, PG_ELIMIT, "PG_RFB_MAX_SCREENS");
	limit(fence, 9, PG_ELIMIT, "PG_RFB_MAX_FENCE");
	fence[8] = 255;
	limit(fence, 9, PG_ELIMIT, "PG_RFB_MAX_FENCE");
	/* -1 .. -3: an extended payload too short for its own flags */
	for (uint32_t n = 1; n < 4; n++) {
		pg_wr32(cut + 4, 0u - n);
		limit(cut, 8, PG_EPROTO, "4-byte flags");
	}

	/* exactly at the limits: need more, not an error */
	enc[2] = PG_RFB_MAX_ENCODINGS >> 8;
	enc[3] = PG_RFB_MAX_ENCODINGS & 255;
	cr_assert_eq(parse_guarded(enc, 4, &m, NULL), 0);
	pg_wr32(cut + 4, PG_RFB_MAX_CUT_TEXT);
	cr_assert_eq(parse_guarded(cut, 8, &m, NULL), 0);
	pg_wr32(cut + 4, (uint32_t) - (int32_t)PG_RFB_MAX_CUT_TEXT);
	cr_assert_eq(parse_guarded(cut, 8, &m, NULL), 0);
	ds[6] = PG_RFB_MAX_SCREENS;
	cr_assert_eq(parse_guarded(ds, 8, &m, NULL), 0);
	fence[8] = PG_RFB_MAX_FENCE;
	cr_assert_eq(parse_guarded(fence, 9, &m, NULL), 0);
}

Test(rfb_server, unknown_types_refused)
{
	static const uint8_t types[] = {1, 7, 8, 149, 200, 247, 250, 252};
	for (size_t i = 0; i < sizeof(types); i++)
		limit(&types[i], 1, PG_EUNSUP, "unknown client message type");
	cr_assert_eq(pg_rfb_parse_client_msg(NULL, 0, &(struct pg_cmsg){0}, NULL), 0);
}

/* QEMU client messages: the subtype decides the length, and only the extended key
 * event (0) is known; audio (1) and anything else is refused from its second byte. */
Test(rfb_server, unknown_qemu_subtypes_refused)
{
	static const uint8_t subtypes[] = {1, 2, 128, 255};
	struct pg_cmsg m;

	cr_assert_eq(parse_guarded((const uint8_t[]){255}, 1, &m, NULL), 0);
	for (size_t i = 0; i < sizeof(subtypes); i++) {
		uint8_t msg[12] = {255, subtypes[i]};
		limit(msg, 2, PG_EUNSUP, "unknown client message type: QEMU subtype");
		limit(msg, sizeof(msg), PG_EUNSUP, "QEMU subtype other than 0");
	}
}
