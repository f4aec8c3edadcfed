/* pg_rfb_client and the decoders against libvncserver, an RFB server pixelgate did
 * not write: every encoding must reproduce its framebuffer exactly (JPEG closely). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/vncauth.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "upstream_util.h"

#define W 320
#define H 200

static bool is_ready(struct ut_peer *p, void *ctx)
{
	return pg_rfb_client_ready(p->c);
}

static bool have_error(struct ut_peer *p, void *ctx)
{
	return p->err < 0;
}

static void draw(struct ut_host *h, void *arg)
{
	enum ut_image kind = *(enum ut_image *)arg;
	uint32_t *tmp = malloc((size_t)h->w * h->h * 4);
	cr_assert(tmp);
	ut_image(tmp, h->w, h->h, kind, 99);
	/* Change only a middle band, so the update is a proper sub-rectangle. */
	for (int y = h->h / 4; y < h->h * 3 / 4; y++)
		for (int x = 10; x < h->w - 30; x++)
			h->px[(size_t)y * h->w + x] = ut_swap_rb(tmp[(size_t)y * h->w + x]);
	rfbMarkRectAsModified(h->screen, 10, h->h / 4, h->w - 30, h->h * 3 / 4);
	free(tmp);
}

static void session(const int32_t *enc, size_t n, uint32_t want_enc, enum ut_image kind)
{
	struct ut_host h;
	struct ut_peer p = {0};
	ut_host_start(&h, W, H, kind, NULL);
	ut_connect(&h, &p, enc, n);
	cr_assert(ut_wait(&p, ut_fb_equal, &h), "initial update differs (%s; err %d: %s)", p.diff,
		  p.err, pg_rfb_client_error(p.c));
	cr_assert_str_eq(p.name, "upstream test host");
	enum ut_image next = kind == UT_COMPOSITE ? UT_TEXT : UT_COMPOSITE;
	ut_host_run(&h, &p, draw, &next);
	cr_assert(ut_wait(&p, ut_fb_equal, &h), "second update differs (%s; err %d: %s)", p.diff,
		  p.err, pg_rfb_client_error(p.c));
	cr_assert_gt(ut_sent_count(&h, &p, want_enc), 0, "host never used encoding %u", want_enc);
	cr_assert_geq(p.updates, 2);
	ut_host_stop(&h);
	ut_peer_close(&p);
}

Test(libvncserver, raw)
{
	static const int32_t enc[] = {PG_ENC_RAW};
	session(enc, 1, PG_ENC_RAW, UT_COMPOSITE);
}

Test(libvncserver, zrle_composite)
{
	static const int32_t enc[] = {PG_ENC_ZRLE};
	session(enc, 1, PG_ENC_ZRLE, UT_COMPOSITE);
}

Test(libvncserver, zrle_each_image)
{
	static const int32_t enc[] = {PG_ENC_ZRLE};
	for (int k = UT_GRADIENT; k <= UT_PHOTO; k++)
		session(enc, 1, PG_ENC_ZRLE, (enum ut_image)k);
}

Test(libvncserver, tight_composite)
{
	static const int32_t enc[] = {PG_ENC_TIGHT, PG_ENC_COMPRESS_LEVEL_0 + 1};
	session(enc, 2, PG_ENC_TIGHT, UT_COMPOSITE);
}

Test(libvncserver, tight_each_image_and_level)
{
	for (int lvl = 0; lvl <= 9; lvl += 3) {
		int32_t enc[] = {PG_ENC_TIGHT, PG_ENC_COMPRESS_LEVEL_0 + lvl};
		for (int k = UT_GRADIENT; k <= UT_PHOTO; k++)
			session(enc, 2, PG_ENC_TIGHT, (enum ut_image)k);
	}
}

Test(libvncserver, default_encodings)
{
	session(NULL, 0, PG_ENC_TIGHT, UT_COMPOSITE);
}

Test(libvncserver, tight_jpeg)
{
	static const int32_t enc[] = {PG_ENC_TIGHT, PG_ENC_JPEG_QUALITY_9};
	struct ut_host h;
	struct ut_peer p = {0};
	ut_host_start(&h, W, H, UT_PHOTO, NULL);
	ut_connect(&h, &p, enc, 2);
	cr_assert(ut_wait(&p, is_ready, NULL));
	/* Wait for the first update to end; JPEG output is not exact, so pixels cannot
	 * tell when it is complete. */
	while (p.updates < 1 && ut_pump(&p, 10) == 0)
		;
	double mse = ut_mse(&p, &h);
	cr_assert_gt(mse, 0, "no JPEG was used: the image came through exactly");
	cr_assert_leq(mse, UT_MSE_35DB, "MSE %.2f: PSNR under 35 dB", mse);
	ut_host_stop(&h);
	ut_peer_close(&p);
}

static void copy_region(struct ut_host *h, void *arg)
{
	rfbDoCopyRect(h->screen, 20, 30, 120, 90, 17, 23);
}

static bool copied(struct ut_peer *p, void *h)
{
	return p->copies > 0 && ut_fb_equal(p, h);
}

Test(libvncserver, copyrect)
{
	static const int32_t enc[] = {PG_ENC_COPYRECT, PG_ENC_RAW, PG_ENC_CURSOR};
	struct ut_host h;
	struct ut_peer p = {0};
	ut_host_start(&h, W, H, UT_COMPOSITE, NULL);
	/* libvncserver 0.9.14 crashes scheduling a copy with no cursor set; with cursor
	 * shapes requested it keeps the cursor out of the pixels. */
	h.screen->cursor = rfbMakeXCursor(1, 1, (char *)" ", (char *)" ");
	ut_connect(&h, &p, enc, 3);
	cr_assert(ut_wait(&p, ut_fb_equal, &h));
	ut_host_run(&h, &p, copy_region, NULL);
	cr_assert(ut_wait(&p, copied, &h), "copies %d err %s", p.copies, pg_rfb_client_error(p.c));
	ut_host_stop(&h);
	ut_peer_close(&p);
}

static void resize(struct ut_host *h, void *arg)
{
	int *wh = arg;
	uint32_t *px = calloc((size_t)wh[0] * wh[1], 4);
	cr_assert(px);
	ut_image(px, wh[0], wh[1], UT_GRADIENT, 3);
	for (size_t i = 0; i < (size_t)wh[0] * wh[1]; i++)
		px[i] = ut_swap_rb(px[i]);
	h->w = wh[0];
	h->h = wh[1];
	free(h->retired); /* libvncserver may still read the one it replaces */
	h->retired = h->px;
	h->px = px;
	rfbNewFramebuffer(h->screen, (char *)px, wh[0], wh[1], 8, 3, 4);
}

static void resize_with(const int32_t *enc, size_t n)
{
	struct ut_host h;
	struct ut_peer p = {0};
	int wh[2] = {200, 150};
	ut_host_start(&h, W, H, UT_COMPOSITE, NULL);
	ut_connect(&h, &p, enc, n);
	cr_assert(ut_wait(&p, ut_fb_equal, &h));
	cr_assert_eq(p.resizes, 1);
	ut_host_run(&h, &p, resize, wh);
	cr_assert(ut_wait(&p, ut_fb_equal, &h), "after resize: %dx%d, err %s", p.fb.w, p.fb.h,
		  pg_rfb_client_error(p.c));
	cr_assert_eq(p.resizes, 2);
	ut_host_stop(&h);
	ut_peer_close(&p);
}

Test(libvncserver, desktop_size)
{
	static const int32_t enc[] = {PG_ENC_ZRLE, PG_ENC_DESKTOP_SIZE};
	resize_with(enc, 2);
}

Test(libvncserver, ext_desktop_size)
{
	static const int32_t enc[] = {PG_ENC_TIGHT, PG_ENC_EXT_DESKTOP_SIZE, PG_ENC_DESKTOP_SIZE};
	resize_with(enc, 3);
}

static void set_cursor(struct ut_host *h, void *arg)
{
	static char src[] = "xx      "
			    "xxx     "
			    "xxxx    "
			    "xxxxx   "
			    "xxxxxx  "
			    "xx xx   "
			    "x   xx  "
			    "     xx ";
	static char mask[] = "xxx     "
			     "xxxx    "
			     "xxxxx   "
			     "xxxxxx  "
			     "xxxxxxx "
			     "xxxxxxx "
			     "xx xxxx "
			     "    xxxx";
	rfbCursorPtr c = rfbMakeXCursor(8, 8, src, mask);
	c->xhot = 1;
	c->yhot = 2;
	c->foreRed = c->foreGreen = c->foreBlue = 0xffff;
	c->backRed = c->backGreen = c->backBlue = 0;
	rfbSetCursor(h->screen, c);
}

static bool got_cursor(struct ut_peer *p, void *ctx)
{
	return p->cursors > 0 && p->cursor_w == 8;
}

Test(libvncserver, cursor_shape)
{
	static const int32_t enc[] = {PG_ENC_RAW, PG_ENC_CURSOR};
	struct ut_host h;
	struct ut_peer p = {0};
	ut_host_start(&h, W, H, UT_TEXT, NULL);
	ut_connect(&h, &p, enc, 2);
	cr_assert(ut_wait(&p, ut_fb_equal, &h));
	ut_host_run(&h, &p, set_cursor, NULL);
	/* The cursor goes out with the next update: make one. */
	enum ut_image k = UT_FEW;
	ut_host_run(&h, &p, draw, &k);
	cr_assert(ut_wait(&p, got_cursor, NULL), "no cursor: %s", pg_rfb_client_error(p.c));
	cr_assert_eq(p.cursor_h, 8);
	cr_assert_eq(p.cursor_hx, 1);
	cr_assert_eq(p.cursor_hy, 2);
	cr_assert_eq(p.cursor_mask[0], 0xe0);
	cr_assert_eq(p.cursor_mask[7], 0x0f);
	cr_assert_eq(p.cursor_px[0], 0xffffff);
	cr_assert_eq(p.cursor_px[2], 0x000000);
	ut_host_stop(&h);
	ut_peer_close(&p);
}

static void bell_and_cut(struct ut_host *h, void *arg)
{
	rfbSendBell(h->screen);
	rfbSendServerCutText(h->screen, (char *)"caf\xe9 pixelgate", 14);
}

static bool got_bell_cut(struct ut_peer *p, void *ctx)
{
	return p->bells == 1 && p->cut_len == 14;
}

Test(libvncserver, bell_and_cut_text)
{
	struct ut_host h;
	struct ut_peer p = {0};
	ut_host_start(&h, W, H, UT_FEW, NULL);
	ut_connect(&h, &p, NULL, 0);
	cr_assert(ut_wait(&p, ut_fb_equal, &h), "%s; %s", p.diff, pg_rfb_client_error(p.c));
	ut_host_run(&h, &p, bell_and_cut, NULL);
	cr_assert(ut_wait(&p, got_bell_cut, NULL));
	cr_assert_eq(memcmp(p.cut, "caf\xe9 pixelgate", 14), 0);
	/* Input goes the other way without upsetting the host. */
	cr_assert_eq(pg_rfb_client_key(p.c, 1, 0x61), 0);
	cr_assert_eq(pg_rfb_client_pointer(p.c, 1, 5000, -3), 0);
	cr_assert_eq(pg_rfb_client_request(p.c, 0), 0);
	int before = p.updates;
	for (int i = 0; i < 200 && p.updates == before; i++)
		cr_assert_eq(ut_pump(&p, 10), 0);
	cr_assert_gt(p.updates, before);
	ut_host_stop(&h);
	ut_peer_close(&p);
}

Test(libvncserver, vnc_password)
{
	struct ut_host h;
	struct ut_peer p = {.password = "s3cret!x-ignored"};
	ut_host_start(&h, W, H, UT_GRADIENT, "s3cret!x");
	ut_connect(&h, &p, NULL, 0);
	cr_assert(ut_wait(&p, ut_fb_equal, &h), "err %s", pg_rfb_client_error(p.c));
	ut_host_stop(&h);
	ut_peer_close(&p);
}

Test(libvncserver, vnc_password_file)
{
	char path[] = "/tmp/pg-upstream-pw-XXXXXX", pw[16];
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(rfbEncryptAndStorePasswd((char *)"hunter2", path), 0);
	cr_assert_eq(pg_vncauth_read_password_file(path, pw, sizeof(pw)), 0);
	unlink(path);
	cr_assert_str_eq(pw, "hunter2");

	struct ut_host h;
	struct ut_peer p = {.password = pw};
	ut_host_start(&h, W, H, UT_GRADIENT, "hunter2");
	ut_connect(&h, &p, NULL, 0);
	cr_assert(ut_wait(&p, ut_fb_equal, &h), "err %s", pg_rfb_client_error(p.c));
	ut_host_stop(&h);
	ut_peer_close(&p);
}

Test(libvncserver, wrong_password)
{
	struct ut_host h;
	struct ut_peer p = {.password = "wrong"};
	ut_host_start(&h, W, H, UT_GRADIENT, "right");
	ut_connect(&h, &p, NULL, 0);
	cr_assert(ut_wait(&p, have_error, NULL));
	cr_assert_eq(p.err, PG_EAUTH, "err %d: %s", p.err, pg_rfb_client_error(p.c));
	cr_assert(strstr(pg_rfb_client_error(p.c), "refused authentication"), "%s",
		  pg_rfb_client_error(p.c));
	ut_host_stop(&h);
	ut_peer_close(&p);
}

Test(libvncserver, no_password_configured)
{
	struct ut_host h;
	struct ut_peer p = {0};
	ut_host_start(&h, W, H, UT_GRADIENT, "right");
	ut_connect(&h, &p, NULL, 0);
	cr_assert(ut_wait(&p, have_error, NULL));
	cr_assert_eq(p.err, PG_EAUTH, "%s", pg_rfb_client_error(p.c));
	ut_host_stop(&h);
	ut_peer_close(&p);
}
