/* pg_rfb_client's side of the clipboard: the Extended Clipboard pseudo-encoding in
 * SetEncodings, extended ServerCutText handed over whole (and bounded as before),
 * legacy cut text both ways; then the same against libvncserver, a host pixelgate
 * did not write. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codec/clipboard.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "upstream_util.h"

struct rec {
	uint8_t cut[64];
	size_t cut_len;
	int cuts;
	uint8_t *xclip; /* a copy of the last extended payload */
	size_t xclip_len;
	int xclips;
	int bells;
};

static void rec_cut(void *ud, const uint8_t *t, size_t n)
{
	struct rec *r = ud;
	r->cut_len = n < sizeof(r->cut) ? n : sizeof(r->cut);
	memcpy(r->cut, t, r->cut_len);
	r->cuts++;
}

static void rec_xclip(void *ud, const uint8_t *p, size_t n)
{
	struct rec *r = ud;
	free(r->xclip);
	r->xclip = malloc(n);
	cr_assert_not_null(r->xclip);
	memcpy(r->xclip, p, n);
	r->xclip_len = n;
	r->xclips++;
}

static void rec_bell(void *ud)
{
	((struct rec *)ud)->bells++;
}

/* A client through RFB 3.8, security None and ServerInit, its output untouched
 * from SetPixelFormat on. ext: whether it has the ext_clipboard callback. */
static struct pg_rfb_client *ready_client(struct rec *r, bool ext)
{
	struct pg_rfb_client_cb cb = {
	    .ud = r,
	    .cut_text = rec_cut,
	    .ext_clipboard = ext ? rec_xclip : NULL,
	    .bell = rec_bell,
	};
	struct pg_rfb_client *c = pg_rfb_client_new(&cb);
	cr_assert_not_null(c);
	ut_client_security_none(c);
	cr_assert_eq(pg_rfb_client_cut_text(c, (const uint8_t *)"x", 1), PG_EUNSUP);
	ut_client_init(c, "host");
	return c;
}

/* Drop SetPixelFormat, SetEncodings and the first FramebufferUpdateRequest. */
static void skip_init(struct pg_rfb_client *c)
{
	struct pg_buf *out = pg_rfb_client_output(c);
	cr_assert_geq(out->len, 24);
	size_t n = 20 + 4 + 4 * (size_t)pg_rd16(out->data + 22) + 10;
	cr_assert_eq(out->len, n);
	pg_buf_consume(out, n);
}

static void rec_free(struct rec *r)
{
	free(r->xclip);
	r->xclip = NULL;
}

Test(rfb_clip, set_encodings_lists_ext_clipboard)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, true);
	struct pg_buf *out = pg_rfb_client_output(c);
	cr_assert_geq(out->len, 24);
	const uint8_t *se = out->data + 20;
	cr_assert_eq(se[0], PG_RFB_SET_ENCODINGS);
	size_t n = pg_rd16(se + 2);
	cr_assert_geq(out->len, 20 + 4 + 4 * n);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		found += (int32_t)pg_rd32(se + 4 + 4 * i) == PG_ENC_EXT_CLIPBOARD;
	cr_assert_eq(found, 1, "SetEncodings lists the Extended Clipboard %d times", found);
	pg_rfb_client_del(c);
}

/* Each builder's output is a whole ServerCutText: the callback gets what follows
 * its 8-byte header, byte for byte, and the stream goes on after it. */
Test(rfb_clip, extended_reaches_callback)
{
	static const char text[] = "Gr\xc3\xbc\xc3\x9f"
				   "e\r\n\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8";
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, true);
	struct pg_buf b;
	pg_buf_init(&b, 1u << 20);
	for (int kind = 0; kind < 4; kind++) {
		pg_buf_reset(&b);
		switch (kind) {
		case 0:
			cr_assert_eq(pg_xclip_build_caps(&b, true, PG_XCLIP_ACTIONS, 4096), 0);
			break;
		case 1:
			cr_assert_eq(pg_xclip_build_notify(&b, true, true), 0);
			break;
		case 2:
			cr_assert_eq(pg_xclip_build_request(&b, true), 0);
			break;
		case 3:
			cr_assert_eq(
			    pg_xclip_build_provide(&b, true, (const uint8_t *)text, strlen(text)),
			    0);
			break;
		}
		cr_assert_eq(b.data[0], PG_RFB_SERVER_CUT_TEXT);
		cr_assert_eq(pg_buf_put_u8(&b, PG_RFB_BELL), 0);
		int xclips = r.xclips, bells = r.bells;
		cr_assert_eq(ut_trickle(c, b.data, b.len), (ssize_t)b.len);
		cr_assert_eq(r.xclips, xclips + 1);
		cr_assert_eq(r.bells, bells + 1);
		cr_assert_eq(r.cuts, 0, "extended cut text reached the legacy callback");
		cr_assert_eq(r.xclip_len, b.len - 9);
		cr_assert_eq(memcmp(r.xclip, b.data + 8, r.xclip_len), 0);
	}
	/* The last one was the provide: it parses back to the text. */
	struct pg_xclip_msg x;
	uint8_t got[64];
	const char *why = NULL;
	cr_assert_eq(
	    pg_xclip_parse(r.xclip, r.xclip_len, sizeof(got) - 1, &x, got, sizeof(got), &why), 0,
	    "%s", why);
	cr_assert_eq(x.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(x.text_len, strlen(text));
	cr_assert_eq(memcmp(got, text, x.text_len), 0);
	pg_buf_free(&b);
	rec_free(&r);
	pg_rfb_client_del(c);
}

Test(rfb_clip, legacy_reaches_cut_text)
{
	static const uint8_t msg[] = {
	    PG_RFB_SERVER_CUT_TEXT, 0, 0, 0, 0, 0, 0, 6, 'c', 'a', 'f', 0xe9, '\n', '!'};
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, true);
	cr_assert_eq(ut_trickle(c, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	cr_assert_eq(r.cuts, 1);
	cr_assert_eq(r.xclips, 0);
	cr_assert_eq(r.cut_len, 6);
	cr_assert_eq(memcmp(r.cut, msg + 8, 6), 0);
	/* Empty text is text too. */
	static const uint8_t empty[] = {PG_RFB_SERVER_CUT_TEXT, 0, 0, 0, 0, 0, 0, 0};
	cr_assert_eq(pg_rfb_client_feed(c, empty, sizeof(empty)), (ssize_t)sizeof(empty));
	cr_assert_eq(r.cuts, 2);
	cr_assert_eq(r.cut_len, 0);
	pg_rfb_client_del(c);
}

/* Without the callback, extended cut text is skipped, bounded as before. */
Test(rfb_clip, extended_skipped_without_callback)
{
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, false);
	struct pg_buf b;
	pg_buf_init(&b, 1u << 20);
	cr_assert_eq(pg_xclip_build_provide(&b, true, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(pg_buf_put_u8(&b, PG_RFB_BELL), 0);
	cr_assert_eq(ut_trickle(c, b.data, b.len), (ssize_t)b.len);
	cr_assert_eq(r.bells, 1);
	cr_assert_eq(r.cuts, 0);
	cr_assert_eq(r.xclips, 0);
	pg_buf_free(&b);
	pg_rfb_client_del(c);
}

static void expect_bad_length(uint32_t len, int want, const char *what)
{
	uint8_t hdr[8] = {PG_RFB_SERVER_CUT_TEXT};
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, true);
	pg_wr32(hdr + 4, len);
	cr_assert_eq(ut_trickle(c, hdr, sizeof(hdr)), want, "length 0x%08x", len);
	cr_assert(strstr(pg_rfb_client_error(c), what), "error \"%s\" lacks \"%s\"",
		  pg_rfb_client_error(c), what);
	cr_assert_not(pg_rfb_client_ready(c));
	cr_assert_eq(r.xclips + r.cuts, 0);
	pg_rfb_client_del(c);
}

/* Lengths are refused from the header, before a byte of the body is waited for. */
Test(rfb_clip, bounds)
{
	expect_bad_length(0u - (PG_RFB_MAX_CUT_TEXT + 1), PG_ELIMIT, "extended length");
	expect_bad_length(0x80000000u, PG_ELIMIT, "extended length");
	expect_bad_length(PG_RFB_MAX_CUT_TEXT + 1, PG_ELIMIT, "length");
	expect_bad_length(0xffffffffu, PG_EPROTO, "under 4"); /* -1 */
	expect_bad_length(0u - 3, PG_EPROTO, "under 4");
}

/* At the limit exactly, the payload arrives whole. */
Test(rfb_clip, extended_at_limit)
{
	size_t n = 8 + PG_RFB_MAX_CUT_TEXT;
	uint8_t *msg = calloc(1, n);
	cr_assert_not_null(msg);
	msg[0] = PG_RFB_SERVER_CUT_TEXT;
	pg_wr32(msg + 4, 0u - PG_RFB_MAX_CUT_TEXT);
	pg_wr32(msg + 8, PG_XCLIP_PROVIDE | PG_XCLIP_HTML);
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, true);
	cr_assert_eq(pg_rfb_client_feed(c, msg, n - 1), 0, "consumed before it was whole");
	cr_assert_eq(pg_rfb_client_feed(c, msg, n), (ssize_t)n);
	cr_assert_eq(r.xclips, 1);
	cr_assert_eq(r.xclip_len, PG_RFB_MAX_CUT_TEXT);
	cr_assert_eq(pg_rd32(r.xclip), PG_XCLIP_PROVIDE | PG_XCLIP_HTML);
	rec_free(&r);
	pg_rfb_client_del(c);
	free(msg);
}

Test(rfb_clip, cut_text_output)
{
	static const uint8_t want[] = {
	    PG_RFB_CLIENT_CUT_TEXT, 0, 0, 0, 0, 0, 0, 4, 'a', '\n', 0xe9, 'b'};
	static const uint8_t want_empty[] = {PG_RFB_CLIENT_CUT_TEXT, 0, 0, 0, 0, 0, 0, 0};
	struct rec r = {0};
	struct pg_rfb_client *c = ready_client(&r, true);
	skip_init(c);
	cr_assert_eq(pg_rfb_client_cut_text(c, want + 8, 4), 0);
	ut_take(c, want, sizeof(want));
	cr_assert_eq(pg_rfb_client_cut_text(c, NULL, 0), 0);
	ut_take(c, want_empty, sizeof(want_empty));
	cr_assert_eq(pg_rfb_client_output(c)->len, 0);

	size_t big = PG_RFB_MAX_CUT_TEXT + 1;
	uint8_t *text = calloc(1, big);
	cr_assert_not_null(text);
	memset(text, 'x', big);
	cr_assert_eq(pg_rfb_client_cut_text(c, text, big), PG_ELIMIT);
	cr_assert_eq(pg_rfb_client_output(c)->len, 0, "a refused message left bytes behind");
	/* The relay's clipboard limit (64 KiB) fits whole. */
	cr_assert_eq(pg_rfb_client_cut_text(c, text, 64u << 10), 0);
	cr_assert_eq(pg_rfb_client_output(c)->len, 8 + (64u << 10));
	cr_assert_eq(pg_rd32(pg_rfb_client_output(c)->data + 4), 64u << 10);
	free(text);
	pg_rfb_client_del(c);
}

/* libvncserver as the host. Its hooks run in the host's thread; the test reads
 * what they recorded through ut_host_run. */
static struct {
	char utf8[256];
	int utf8_len; /* -1: nothing yet */
	char latin1[256];
	int latin1_len;
} got_host;

static void host_utf8(char *str, int len, rfbClientPtr cl)
{
	got_host.utf8_len = len;
	memcpy(got_host.utf8, str, len < 256 ? (size_t)len : 256);
}

static void host_latin1(char *str, int len, rfbClientPtr cl)
{
	got_host.latin1_len = len;
	memcpy(got_host.latin1, str, len < 256 ? (size_t)len : 256);
}

struct host_copy {
	int utf8_len, latin1_len;
};

static void read_host(struct ut_host *h, void *arg)
{
	struct host_copy *hc = arg;
	hc->utf8_len = got_host.utf8_len;
	hc->latin1_len = got_host.latin1_len;
}

/* Pump p until the host recorded text of the wanted kind; false on timeout. */
static bool wait_host(struct ut_host *h, struct ut_peer *p, bool utf8)
{
	for (int i = 0; i < 300; i++) {
		struct host_copy hc;
		ut_host_run(h, p, read_host, &hc);
		if ((utf8 ? hc.utf8_len : hc.latin1_len) >= 0)
			return true;
		if (ut_pump(p, 10) < 0)
			return false;
	}
	return false;
}

static bool have_xclips(struct ut_peer *p, void *n)
{
	return p->xclips >= *(int *)n;
}

static void send_utf8(struct ut_host *h, void *arg)
{
	const char *s = arg;
	rfbSendServerCutTextUTF8(h->screen, (char *)s, (int)strlen(s), NULL, 0);
}

static struct ut_host host;
static struct ut_peer peer;

static void start_host(void)
{
	got_host.utf8_len = got_host.latin1_len = -1;
	ut_host_start(&host, 64, 48, UT_FEW, NULL);
	host.screen->setXCutText = host_latin1;
	host.screen->setXCutTextUTF8 = host_utf8;
	ut_connect(&host, &peer, NULL, 0);
	/* Caps answer our SetEncodings. */
	int one = 1;
	cr_assert(ut_wait(&peer, have_xclips, &one), "no caps from libvncserver (%s)",
		  pg_rfb_client_error(peer.c));
}

static void stop_host(void)
{
	ut_host_stop(&host);
	ut_peer_close(&peer);
}

Test(libvncserver_clip, caps_and_provide_from_host, .init = start_host, .fini = stop_host)
{
	static const char text[] = "\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae"
				   "\xe5\x86\x99\xe3\x81\x97 copy";
	struct pg_xclip_msg x;
	uint8_t buf[256];
	const char *why = NULL;

	cr_assert_eq(pg_xclip_parse(peer.xclip, peer.xclip_len, 255, &x, buf, sizeof(buf), &why), 0,
		     "%s", why);
	cr_assert_eq(x.action, PG_XCLIP_A_CAPS);
	cr_assert(x.formats & PG_XCLIP_TEXT);
	cr_assert(x.actions & PG_XCLIP_REQUEST);
	cr_assert_gt(x.text_max, 0);

	/* Before our caps, libvncserver assumes the spec's defaults (provide, 20 MiB)
	 * and sends its clipboard unsolicited. */
	int two = 2;
	ut_host_run(&host, &peer, send_utf8, (void *)text);
	cr_assert(ut_wait(&peer, have_xclips, &two), "no provide (%s)",
		  pg_rfb_client_error(peer.c));
	cr_assert_eq(pg_xclip_parse(peer.xclip, peer.xclip_len, 255, &x, buf, sizeof(buf), &why), 0,
		     "%s", why);
	cr_assert_eq(x.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(x.text_len, strlen(text));
	cr_assert_eq(memcmp(buf, text, x.text_len), 0);
	cr_assert_eq(peer.cut_len, 0);
}

Test(libvncserver_clip, legacy_to_host, .init = start_host, .fini = stop_host)
{
	cr_assert_eq(pg_rfb_client_cut_text(peer.c, (const uint8_t *)"caf\xe9\nau lait", 12), 0);
	cr_assert(wait_host(&host, &peer, false), "host never got the cut text");
	cr_assert_eq(got_host.latin1_len, 12);
	cr_assert_eq(memcmp(got_host.latin1, "caf\xe9\nau lait", 12), 0);
}

/* libvncserver 0.9.14 takes a provide only if inflate never returns Z_STREAM_END
 * (it closes the client otherwise): the builder ends its stream with a sync flush. */
Test(libvncserver_clip, provide_to_host, .init = start_host, .fini = stop_host)
{
	struct pg_buf *out = pg_rfb_client_output(peer.c);
	cr_assert_eq(pg_xclip_build_caps(out, false, PG_XCLIP_ACTIONS, 65536), 0);
	cr_assert_eq(pg_xclip_build_provide(out, false, (const uint8_t *)"h\xc3\xa9llo", 6), 0);
	cr_assert(wait_host(&host, &peer, true), "host never got the provide");
	cr_assert_eq(got_host.utf8_len, 7);
	cr_assert_eq(memcmp(got_host.utf8, "h\xc3\xa9llo", 7), 0);
}
