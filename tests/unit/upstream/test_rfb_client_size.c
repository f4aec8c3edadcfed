/* pg_rfb_client's SetDesktopSize: only once the host announced ExtendedDesktopSize,
 * with the host's first screen id and flags; the host's answer (reason 1) through the
 * size_result callback, after the resize it made; statuses as the host sent them;
 * answers to other clients and the server's own changes are no answer. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "upstream_util.h"

struct rec {
	int results, last_status, resizes, w, h, resizes_at_result;
	struct pg_fb fb;
};

static void rec_result(void *ud, unsigned status)
{
	struct rec *r = ud;
	r->results++;
	r->last_status = (int)status;
	r->resizes_at_result = r->resizes;
}

static int rec_resize(void *ud, int w, int h, struct pg_fb *fb)
{
	struct rec *r = ud;
	pg_fb_free(&r->fb);
	if (pg_fb_alloc(&r->fb, w, h) < 0)
		return -1;
	r->resizes++;
	r->w = w;
	r->h = h;
	*fb = r->fb;
	return 0;
}

/* Ready, 64x48, everything after ServerInit taken. */
static struct pg_rfb_client *ready_client(struct rec *r)
{
	struct pg_rfb_client_cb cb = {.ud = r, .size_result = rec_result, .resize = rec_resize};
	struct pg_rfb_client *c = pg_rfb_client_new(&cb);
	cr_assert_not_null(c);
	ut_client_security_none(c);
	ut_client_init(c, "");
	struct pg_buf *out = pg_rfb_client_output(c);
	pg_buf_consume(out, out->len);
	return c;
}

static void feed(struct pg_rfb_client *c, const void *m, size_t n)
{
	cr_assert_eq(ut_trickle(c, m, n), (ssize_t)n, "%s", pg_rfb_client_error(c));
}

/* An update of one ExtendedDesktopSize rectangle, one screen (id, flags). */
static void ext_desktop(struct pg_rfb_client *c, int x, int y, int w, int h, uint32_t id,
			uint32_t flags)
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
	pg_wr32(m + 32, flags);
	feed(c, m, sizeof(m));
	struct pg_buf *out = pg_rfb_client_output(c);
	pg_buf_consume(out, out->len); /* requests that follow */
}

static void expect_set_size(struct pg_rfb_client *c, int w, int h, uint32_t id, uint32_t flags)
{
	uint8_t want[24] = {PG_RFB_SET_DESKTOP_SIZE, 0};
	pg_wr16(want + 2, (uint16_t)w);
	pg_wr16(want + 4, (uint16_t)h);
	want[6] = 1;
	pg_wr32(want + 8, id);
	pg_wr16(want + 16, (uint16_t)w);
	pg_wr16(want + 18, (uint16_t)h);
	pg_wr32(want + 20, flags);
	ut_take(c, want, sizeof(want));
	ut_nothing_queued(c);
}

Test(rfb_size, not_before_the_host_announced_it)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r);
	cr_assert_eq(pg_rfb_client_ext_desktop(c), 0);
	cr_assert_eq(pg_rfb_client_set_desktop_size(c, 800, 600), PG_EUNSUP);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
	pg_fb_free(&r.fb);
}

Test(rfb_size, request_uses_host_screen)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r);
	ext_desktop(c, 0, 0, 64, 48, 0x1234, 0x5);
	cr_assert_eq(pg_rfb_client_ext_desktop(c), 1);
	cr_assert_eq(r.results, 0, "the announcement is no answer");
	cr_assert_eq(pg_rfb_client_set_desktop_size(c, 800, 600), 0);
	expect_set_size(c, 800, 600, 0x1234, 0x5);
	/* Out of range: nothing queued. */
	cr_assert_eq(pg_rfb_client_set_desktop_size(c, 0, 600), PG_ELIMIT);
	cr_assert_eq(pg_rfb_client_set_desktop_size(c, 4000, 600), PG_ELIMIT);
	cr_assert_eq(pg_rfb_client_set_desktop_size(c, 800, 3000), PG_ELIMIT);
	ut_nothing_queued(c);
	pg_rfb_client_del(c);
	pg_fb_free(&r.fb);
}

Test(rfb_size, success_resizes_then_answers)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r);
	ext_desktop(c, 0, 0, 64, 48, 0, 0);
	int before = r.resizes;
	ext_desktop(c, 1, 0, 80, 60, 0, 0);
	cr_assert_eq(r.results, 1);
	cr_assert_eq(r.last_status, 0);
	cr_assert_eq(r.resizes, before + 1);
	cr_assert_eq(r.resizes_at_result, before + 1, "the answer came before the resize");
	cr_assert(r.w == 80 && r.h == 60);
	pg_rfb_client_del(c);
	pg_fb_free(&r.fb);
}

Test(rfb_size, refusal_changes_nothing)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r);
	ext_desktop(c, 0, 0, 64, 48, 0, 0);
	int before = r.resizes;
	for (int status = 1; status <= 3; status++) {
		/* A refusal carries a size that is not the new one. */
		ext_desktop(c, 1, status, 99, 77, 0, 0);
		cr_assert_eq(r.results, status);
		cr_assert_eq(r.last_status, status);
	}
	/* An odd status goes as it is, for the worker to judge. */
	ext_desktop(c, 1, 9, 64, 48, 0, 0);
	cr_assert_eq(r.last_status, 9);
	cr_assert_eq(r.resizes, before, "a refusal resized");
	/* Another client's change, or the server's own: no answer. */
	ext_desktop(c, 2, 0, 70, 50, 0, 0);
	ext_desktop(c, 0, 0, 72, 52, 0, 0);
	cr_assert_eq(r.results, 4);
	cr_assert(r.w == 72 && r.h == 52);
	pg_rfb_client_del(c);
	pg_fb_free(&r.fb);
}
