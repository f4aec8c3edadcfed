/* pg_rfb_client fed arbitrary host bytes: the handshake (security None), ServerInit
 * and every server message and decoder (Raw, CopyRect, ZRLE, Tight with JPEG and
 * zlib, cursor, desktop size, cut text, Extended Clipboard). The first byte chooses
 * where the rest is split, so incremental feeding is exercised. Callbacks check what
 * they are given against the framebuffer; the resize callback refuses a side over
 * 1024, as the worker's cap keeps runs fast. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fb.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SIDE 1024

struct peer {
	struct pg_fb fb;
	unsigned long events;
};

static int cb_resize(void *ud, int w, int h, struct pg_fb *fb)
{
	struct peer *p = ud;
	if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE)
		return -1;
	pg_fb_free(&p->fb);
	int rc = pg_fb_alloc(&p->fb, w, h);
	if (rc < 0)
		return rc;
	*fb = p->fb;
	return 0;
}

static void cb_damage(void *ud, const struct pg_rect *r)
{
	struct peer *p = ud;
	if (!pg_rect_inside(r, p->fb.w, p->fb.h))
		abort();
	p->events++;
}

static void cb_copy(void *ud, const struct pg_rect *r, int sx, int sy)
{
	struct peer *p = ud;
	struct pg_rect s = {sx, sy, r->w, r->h};
	if (!pg_rect_inside(r, p->fb.w, p->fb.h) || !pg_rect_inside(&s, p->fb.w, p->fb.h))
		abort();
	p->events++;
}

static void cb_update_end(void *ud)
{
	((struct peer *)ud)->events++;
}

static void cb_cursor(void *ud, int hx, int hy, int w, int h, const uint32_t *px,
		      const uint8_t *mask)
{
	struct peer *p = ud;
	if (w < 0 || h < 0 || w > PG_RFB_MAX_CURSOR_SIDE || h > PG_RFB_MAX_CURSOR_SIDE)
		abort();
	/* Touch the first and last pixel and mask byte: ASan checks they are there. */
	if (w > 0 && h > 0) {
		volatile uint32_t a = px[0] ^ px[(size_t)w * h - 1];
		volatile uint8_t m = mask[0] ^ mask[(size_t)(w + 7) / 8 * h - 1];
		(void)a;
		(void)m;
	}
	p->events++;
}

static void cb_bell(void *ud)
{
	((struct peer *)ud)->events++;
}

static void cb_cut(void *ud, const uint8_t *t, size_t n)
{
	if (n > PG_RFB_MAX_CUT_TEXT)
		abort();
	if (n) {
		volatile uint8_t x = t[0] ^ t[n - 1];
		(void)x;
	}
	((struct peer *)ud)->events++;
}

static void cb_ext_clip(void *ud, const uint8_t *t, size_t n)
{
	if (n < 4 || n > PG_RFB_MAX_CUT_TEXT)
		abort();
	volatile uint8_t x = t[0] ^ t[n - 1];
	(void)x;
	((struct peer *)ud)->events++;
}

static void cb_name(void *ud, const uint8_t *name, size_t n)
{
	if (n > PG_RFB_MAX_NAME)
		abort();
	if (n) {
		volatile uint8_t x = name[0] ^ name[n - 1];
		(void)x;
	}
}

static int cb_vnc_auth(void *ud, const uint8_t challenge[16], uint8_t response[16])
{
	return -1; /* no password: security None only */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t split = (size_t)data[0] * (size - 1) / 255;
	data++;
	size--;

	struct peer p = {0};
	const struct pg_rfb_client_cb cb = {
	    .ud = &p,
	    .resize = cb_resize,
	    .damage = cb_damage,
	    .copy = cb_copy,
	    .update_end = cb_update_end,
	    .cursor = cb_cursor,
	    .bell = cb_bell,
	    .cut_text = cb_cut,
	    .ext_clipboard = cb_ext_clip,
	    .name = cb_name,
	    .vnc_auth = cb_vnc_auth,
	};
	struct pg_rfb_client *c = pg_rfb_client_new(&cb);
	if (!c)
		return 0;

	/* The bytes "read" so far end at avail: first the split, then everything. */
	size_t off = 0, avail = split;
	for (;;) {
		ssize_t r = pg_rfb_client_feed(c, data + off, avail - off);
		if (r < 0) {
			if (!pg_rfb_client_error(c))
				abort();
			/* Dead stays dead. */
			if (pg_rfb_client_feed(c, data + off, avail - off) >= 0)
				abort();
			break;
		}
		if ((size_t)r > avail - off)
			abort();
		off += (size_t)r;
		/* What the client wants to send is written at once. */
		struct pg_buf *out = pg_rfb_client_output(c);
		pg_buf_consume(out, out->len);
		if (r == 0 || off == avail) {
			if (avail == size)
				break;
			avail = size;
		}
	}
	pg_rfb_client_del(c);
	pg_fb_free(&p.fb);
	return 0;
}
