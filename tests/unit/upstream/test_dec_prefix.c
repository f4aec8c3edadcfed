/* Streams recorded from libvncserver, replayed: a byte at a time (need-more never
 * changes state, so the result is identical), and every prefix placed against a
 * PROT_NONE page (an over-read crashes the test). */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "upstream_util.h"

#define W 72
#define H 56

static void change(struct ut_host *h, void *arg)
{
	for (int y = 10; y < 30; y++)
		for (int x = 5; x < 60; x++)
			h->px[(size_t)y * h->w + x] = (uint32_t)(x * 977 + y * 131) & 0xffffff;
	rfbMarkRectAsModified(h->screen, 5, 10, 60, 30);
	rfbSendBell(h->screen);
	rfbSendServerCutText(h->screen, (char *)"recorded", 8);
}

static void resize(struct ut_host *h, void *arg)
{
	uint32_t *px = calloc(40 * 30, 4);
	ut_image(px, 40, 30, UT_TEXT, 5);
	h->w = 40;
	h->h = 30;
	free(h->retired); /* libvncserver may still read the one it replaces */
	h->retired = h->px;
	h->px = px;
	rfbNewFramebuffer(h->screen, (char *)px, 40, 30, 8, 3, 4);
}

static bool got_bell(struct ut_peer *p, void *h)
{
	return p->bells > 0 && p->cut_len == 8 && ut_fb_equal(p, h);
}

static void record(const int32_t *enc, size_t n, struct pg_buf *out, struct ut_peer *live)
{
	struct ut_host h;
	ut_host_start(&h, W, H, UT_COMPOSITE, NULL);
	ut_connect(&h, live, enc, n);
	live->recording = true;
	cr_assert(ut_wait(live, ut_fb_equal, &h), "%s", pg_rfb_client_error(live->c));
	ut_host_run(&h, live, change, NULL);
	cr_assert(ut_wait(live, got_bell, &h));
	ut_host_run(&h, live, resize, NULL);
	cr_assert(ut_wait(live, ut_fb_equal, &h), "%s", pg_rfb_client_error(live->c));
	ut_host_stop(&h);
	*out = live->rec;
}

static void replay(const int32_t *enc, size_t n)
{
	struct ut_peer live = {0}, r = {0};
	struct pg_buf rec;
	record(enc, n, &rec, &live);

	/* A byte at a time. */
	ut_peer_init(&r);
	if (enc)
		cr_assert_eq(pg_rfb_client_set_encodings(r.c, enc, n), 0);
	for (size_t i = 0; i < rec.len; i++) {
		cr_assert_eq(pg_buf_append(&r.in, rec.data + i, 1), 0);
		ssize_t used = pg_rfb_client_feed(r.c, r.in.data, r.in.len);
		cr_assert_geq(used, 0, "byte %zu: %s", i, pg_rfb_client_error(r.c));
		pg_buf_consume(&r.in, (size_t)used);
	}
	cr_assert_eq(r.in.len, 0);
	cr_assert_eq(r.fb.w, live.fb.w);
	cr_assert_eq(r.fb.h, live.fb.h);
	cr_assert_arr_eq(r.fb.px, live.fb.px, (size_t)r.fb.w * r.fb.h * 4);
	cr_assert_eq(r.bells, live.bells);
	cr_assert_eq(r.cursors, live.cursors);
	ut_peer_close(&r);

	/* Every prefix (or an even spread over long streams) ends at a guard page. */
	uint8_t *g = ut_guard_alloc(rec.len);
	size_t step = rec.len / 3000 + 1;
	for (size_t k = 0; k <= rec.len; k += step) {
		ut_peer_init(&r);
		if (enc)
			if (enc)
				cr_assert_eq(pg_rfb_client_set_encodings(r.c, enc, n), 0);
		memcpy(g + rec.len - k, rec.data, k);
		ssize_t used = pg_rfb_client_feed(r.c, g + rec.len - k, k);
		cr_assert_geq(used, 0, "prefix %zu: %s", k, pg_rfb_client_error(r.c));
		ut_peer_close(&r);
	}
	ut_guard_free(g, rec.len);
	ut_peer_close(&live);
}

Test(prefix, raw)
{
	static const int32_t enc[] = {PG_ENC_RAW, PG_ENC_DESKTOP_SIZE};
	replay(enc, 2);
}

Test(prefix, zrle)
{
	static const int32_t enc[] = {PG_ENC_ZRLE, PG_ENC_DESKTOP_SIZE, PG_ENC_LAST_RECT};
	replay(enc, 3);
}

Test(prefix, tight)
{
	static const int32_t enc[] = {PG_ENC_TIGHT, PG_ENC_EXT_DESKTOP_SIZE, PG_ENC_LAST_RECT,
				      PG_ENC_COMPRESS_LEVEL_0 + 6};
	replay(enc, 4);
}

Test(prefix, tight_no_zlib)
{
	static const int32_t enc[] = {PG_ENC_TIGHT, PG_ENC_DESKTOP_SIZE, PG_ENC_COMPRESS_LEVEL_0};
	replay(enc, 3);
}

Test(prefix, default_list)
{
	replay(NULL, 0);
}
