/* Misbehaving viewers, after a good handshake: each bad message closes that viewer with a
 * log line naming why, nothing it sent reaches the browser host, and a libvncclient
 * viewer on the same relay keeps following the host's picture. File transfer of the
 * VNC dialects (UltraVNC type 7, TightVNC 130-136) is cut off the same way and named
 * in a message-blocked audit record. Requests and clipboard text that are legal are not
 * closed, and the clipboard text never reaches the host (the default policy denies it). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_util.h"
#include "harness_util.h"
#include "policy_util.h"

#define W 320
#define H 240

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static unsigned seed = 1;
static int barrier_keys;  /* key events the good viewer has sent */
static struct au_env env; /* for the tests with an audit trail */

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
	au_env_free(&env);
}

TestSuite(bad_viewer, .fini = teardown, .timeout = 30);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

/* With audited, the relay writes an audit trail (env.audit). */
static void start_with(bool audited)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1};

	if (it_direct_mode())
		cr_skip_test("relay-only: the checks under test are the relay's");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	if (audited) {
		cr_assert(au_env_init(&env, false), "cannot make the scratch folder");
		cr_assert(pu_write_config(&env, host_port(host), NULL, NULL));
		relay = pu_relay_start(&env, host_port(host));
	} else {
		relay = relay_start(host_port(host), NULL);
	}
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");
}

static void start(void)
{
	start_with(false);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A raw viewer past the handshake (RFB 3.8); its local port names it in the log. */
static int raw_viewer(int *local_port)
{
	struct it_raw_init init;
	int fd = raw_client_connect_init(relay_port(relay), 8, &init);

	if (fd < 0)
		relay_dump_log(relay, 4000);
	cr_assert(fd >= 0, "raw viewer: handshake failed");
	cr_assert(init.w == W && init.h == H);
	*local_port = raw_client_local_port(fd);
	return fd;
}

/* Nothing from a bad viewer crossed: the good viewer presses a key (input crosses in
 * order through one loop, so once the host has it, anything a bad viewer sent earlier
 * would be there too), and the host has exactly the good viewer's keys, no pointer
 * event and no clipboard text. */
static void nothing_crossed(const char *after)
{
	int64_t deadline = it_now_ms() + 10000;
	uint32_t key;
	bool down;

	cr_assert(viewer_send_key(viewer, 0xff0d, (barrier_keys & 1) == 0), "send failed");
	barrier_keys++;
	while (host_key_count(host) < barrier_keys && it_now_ms() < deadline)
		it_sleep_ms(20);
	cr_assert_eq(host_key_count(host), barrier_keys,
		     "after %s the host has %d key events; the good viewer sent %d", after,
		     host_key_count(host), barrier_keys);
	for (int i = 0; i < barrier_keys; i++) {
		cr_assert(host_key_at(host, i, &key, &down));
		cr_assert_eq(key, 0xff0d, "after %s the host got key 0x%x from a bad viewer", after,
			     key);
	}
	cr_assert_eq(host_pointer_count(host), 0, "after %s a pointer event reached the host",
		     after);
	cr_assert_eq(host_cut_text_count(host), 0, "after %s clipboard text reached the host",
		     after);
	cr_assert_eq(host_clients(host), 1, "host has %d clients", host_clients(host));
}

static void viewer_still_follows(const char *after)
{
	char what[160];

	host_change_region(host, 40, 30, 120, 90, ++seed);
	snprintf(what, sizeof(what), "picture after %s", after);
	check(viewer_wait_match(viewer, host, 10000, 0), what);
	cr_assert(viewer_connected(viewer), "good viewer disconnected after %s", after);
}

/* Send msg (and, behind it, input that must never cross: a key event, a pointer event
 * and a clipboard text); the relay must close this viewer and log
 * "<peer>: closed: <reason>". */
static void expect_closed(const char *what, const uint8_t *msg, size_t len, const char *reason)
{
	/* Key 'q' down, a pointer event at 10,10, clipboard text "leak". */
	static const uint8_t tail[] = {4,  1, 0, 0, 0, 0, 0, 0x71, 5, 1,   0,	10,  0,
				       10, 6, 0, 0, 0, 0, 0, 0,	   4, 'l', 'e', 'a', 'k'};
	char needle[256];
	int port, fd = raw_viewer(&port);

	/* The relay may close before it has read everything: send errors are expected. */
	raw_client_send(fd, msg, len);
	raw_client_send(fd, tail, sizeof(tail));
	if (!raw_client_wait_closed(fd, 5000)) {
		relay_dump_log(relay, 3000);
		cr_assert_fail("%s: the relay did not close the viewer", what);
	}
	close(fd);
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed: %s", port, reason);
	if (!relay_log_wait(relay, needle, 3000)) {
		relay_dump_log(relay, 3000);
		cr_assert_fail("%s: relay log lacks \"%s\"", what, needle);
	}
	viewer_still_follows(what);
	nothing_crossed(what);
}

/* A SetPixelFormat message: bpp, depth, true colour, red max; green and blue 255. */
static size_t pixel_format(uint8_t *m, int bpp, int depth, int true_colour, unsigned red_max)
{
	memset(m, 0, 20);
	m[4] = (uint8_t)bpp;
	m[5] = (uint8_t)depth;
	m[7] = (uint8_t)true_colour;
	put16(m + 8, red_max);
	put16(m + 10, 255);
	put16(m + 12, 255);
	m[14] = 16;
	m[15] = 8;
	m[16] = 0;
	return 20;
}

Test(bad_viewer, bad_pixel_formats)
{
	uint8_t m[20];

	start();
	expect_closed("colour-map pixel format", m, pixel_format(m, 8, 8, 0, 0),
		      "SetPixelFormat refused: colour-map pixel formats are not supported");
	expect_closed("24 bits per pixel", m, pixel_format(m, 24, 24, 1, 255),
		      "SetPixelFormat refused: bits per pixel must be 8, 16 or 32");
	expect_closed("red max 300", m, pixel_format(m, 32, 24, 1, 300),
		      "SetPixelFormat refused: red max is not 2^n-1");
}

Test(bad_viewer, too_many_encodings)
{
	/* 65535 declared; a few sent (Raw), the rest never comes. */
	uint8_t m[4 + 16] = {2, 0, 0xff, 0xff};

	start();
	expect_closed("SetEncodings of 65535 entries", m, sizeof(m),
		      "bad input: SetEncodings lists more encodings than PG_RFB_MAX_ENCODINGS");
}

Test(bad_viewer, cut_text_over_limit)
{
	size_t len = 8 + (64u << 10);
	uint8_t *m = calloc(1, len);

	cr_assert_not_null(m);
	start();
	/* 2 MiB declared, 64 KiB of it sent. */
	m[0] = 6;
	put32(m + 4, 2u << 20);
	memset(m + 8, 'x', len - 8);
	expect_closed("ClientCutText of 2 MiB", m, len,
		      "bad input: ClientCutText is longer than PG_RFB_MAX_CUT_TEXT");
	/* Extended Clipboard: -2^31, a payload of 2 GiB. */
	put32(m + 4, 0x80000000u);
	expect_closed("extended ClientCutText of 2 GiB", m, 64,
		      "bad input: ClientCutText is longer than PG_RFB_MAX_CUT_TEXT");
	free(m);
}

/* 0xFFFFFFFF is -1 to the Extended Clipboard: an extended payload of 1 byte, but every
 * extended payload starts with 4 bytes of flags, so it is refused from the header. */
Test(bad_viewer, cut_text_length_ffffffff)
{
	uint8_t m[8] = {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};

	start();
	expect_closed("ClientCutText of 0xFFFFFFFF bytes", m, sizeof(m),
		      "bad input: ClientCutText");
}

Test(bad_viewer, unknown_message_types)
{
	/* UltraVNC FileTransfer (7), TightVNC FileListRequest (130), a type nobody defined
	 * (200) and QEMU audio (255 subtype 1; subtype 0, the extended key event, is
	 * known); each with a plausible body. */
	static const uint8_t types[] = {7, 130, 200, 255};
	uint8_t m[32];

	start();
	for (size_t i = 0; i < sizeof(types); i++) {
		char what[64];

		memset(m, 0, sizeof(m));
		m[0] = types[i];
		if (types[i] == 255)
			m[1] = 1;
		memcpy(m + 8, "/etc/passwd", 11);
		snprintf(what, sizeof(what), "message type %u", types[i]);
		expect_closed(what, m, sizeof(m), "bad input: unknown client message type");
	}
}

/* EnableContinuousUpdates parses, but only a viewer the relay offered them to (it listed
 * the ContinuousUpdates pseudo-encoding) may send it. */
Test(bad_viewer, continuous_updates_not_offered)
{
	static const uint8_t m[] = {150, 1, 0, 0, 0, 0, 0, 100, 0, 100};

	start();
	expect_closed("EnableContinuousUpdates not offered", m, sizeof(m),
		      "EnableContinuousUpdates before the relay offered them");
}

/* Read one FramebufferUpdate of Raw rectangles in the canonical format (the relay's
 * default for a viewer that sent neither SetPixelFormat nor SetEncodings) and check each
 * rectangle lies inside the screen and shows the host's pixels; returns their union. */
static void read_raw_update(int fd, const uint32_t *want, int *ux0, int *uy0, int *ux1, int *uy1)
{
	uint8_t hdr[12];
	int n;

	*ux0 = *uy0 = 1 << 30;
	*ux1 = *uy1 = -1;
	cr_assert(raw_client_read(fd, hdr, 4), "no FramebufferUpdate");
	cr_assert_eq(hdr[0], 0, "message type %u instead of FramebufferUpdate", hdr[0]);
	n = hdr[2] << 8 | hdr[3];
	cr_assert(n >= 1, "empty update");
	for (int i = 0; i < n; i++) {
		int x, y, w, h;
		uint8_t *px;

		cr_assert(raw_client_read(fd, hdr, 12), "rectangle header missing");
		x = hdr[0] << 8 | hdr[1];
		y = hdr[2] << 8 | hdr[3];
		w = hdr[4] << 8 | hdr[5];
		h = hdr[6] << 8 | hdr[7];
		cr_assert_eq(get32(hdr + 8), 0, "rectangle in encoding %d, not Raw",
			     (int)get32(hdr + 8));
		cr_assert(x + w <= W && y + h <= H && w > 0 && h > 0,
			  "rectangle %dx%d at %d,%d outside the %dx%d screen", w, h, x, y, W, H);
		px = malloc((size_t)w * h * 4);
		cr_assert_not_null(px);
		cr_assert(raw_client_read(fd, px, (size_t)w * h * 4), "rectangle body missing");
		for (int r = 0; r < h; r++) {
			for (int c = 0; c < w; c++) {
				const uint8_t *p = px + 4 * ((size_t)r * w + c);
				uint32_t got = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
				uint32_t exp = want[(size_t)(y + r) * W + x + c];

				cr_assert_eq(got, exp, "pixel %d,%d: #%06x, host #%06x", x + c,
					     y + r, got, exp);
			}
		}
		free(px);
		*ux0 = x < *ux0 ? x : *ux0;
		*uy0 = y < *uy0 ? y : *uy0;
		*ux1 = x + w > *ux1 ? x + w : *ux1;
		*uy1 = y + h > *uy1 ? y + h : *uy1;
	}
}

Test(bad_viewer, update_request_out_of_range_is_clipped)
{
	char needle[96];
	uint32_t *snap;
	int port, fd, x0, y0, x1, y1, sw, sh;

	start();
	fd = raw_viewer(&port);
	snap = host_snapshot(host, &sw, &sh);
	cr_assert_not_null(snap);
	/* 100x100 at 300,200 on a 320x240 screen: the 20x40 inside is what it gets. */
	cr_assert_eq(raw_client_request(fd, false, 300, 200, 100, 100), 0);
	read_raw_update(fd, snap, &x0, &y0, &x1, &y1);
	cr_assert(x0 == 300 && y0 == 200 && x1 == W && y1 == H,
		  "update covers %d,%d..%d,%d; the clipped request is 300,200..%d,%d", x0, y0, x1,
		  y1, W, H);
	free(snap);
	/* Wholly outside, and with x + w past 65535: nothing to send, nothing to close. */
	cr_assert_eq(raw_client_request(fd, false, 400, 300, 10, 10), 0);
	cr_assert_eq(raw_client_request(fd, false, 65000, 65000, 65535, 65535), 0);
	viewer_still_follows("out-of-range update requests");
	nothing_crossed("out-of-range update requests");
	cr_assert(raw_client_open_still(fd), "relay closed a viewer for an out-of-range request");
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed", port);
	cr_assert_not(relay_log_contains(relay, needle), "relay logged \"%s\"", needle);
	close(fd);
}

Test(bad_viewer, legal_cut_text_is_dropped_not_closed)
{
	static const char text[] = "pg-viewer-secret-clipboard";
	uint8_t m[8 + sizeof(text) - 1] = {6};
	char needle[160];
	uint8_t hdr[4];
	int port, fd;

	start();
	fd = raw_viewer(&port);
	put32(m + 4, (uint32_t)(sizeof(text) - 1));
	memcpy(m + 8, text, sizeof(text) - 1);
	cr_assert_eq(raw_client_send(fd, m, sizeof(m)), 0);
	/* The default policy denies clipboard text to the browser: logged, not closed. */
	snprintf(needle, sizeof(needle), "127.0.0.1:%d -: clipboard to-browser denied: %zu bytes,",
		 port, sizeof(text) - 1);
	if (!relay_log_wait(relay, needle, 5000)) {
		relay_dump_log(relay, 3000);
		cr_assert_fail("relay log lacks \"%s\"", needle);
	}
	/* Still served: a request gets an update. */
	cr_assert_eq(raw_client_request(fd, false, 0, 0, 16, 16), 0);
	cr_assert(raw_client_read(fd, hdr, 4) && hdr[0] == 0,
		  "viewer that sent legal clipboard text got no update");
	nothing_crossed("legal clipboard text");
	/* The libvncclient viewer's clipboard text does not cross either. */
	cr_assert(viewer_send_cut_text(viewer, text, sizeof(text) - 1), "send failed");
	nothing_crossed("the good viewer's clipboard text");
	viewer_still_follows("legal clipboard text");
	cr_assert(raw_client_open_still(fd), "relay closed a viewer for legal clipboard text");
	close(fd);
}

/* File transfer of the VNC dialects that have it: the viewer is cut off at the first
 * such message, nothing it sent (the transfer, or input behind it) reaches the host,
 * and a message-blocked audit record names the message type. */
static void file_transfer_blocked(const char *what, const uint8_t *msg, size_t len, unsigned type,
				  const char *name)
{
	char type_field[48], name_field[96], line[2048];
	int n = au_audit_count(env.audit, "\"event\":\"message-blocked\"", NULL);

	expect_closed(what, msg, len, "bad input: ");
	snprintf(type_field, sizeof(type_field), "\"message_type\":%u,", type);
	snprintf(name_field, sizeof(name_field), "\"message\":\"%s\"", name);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), 5000,
				"\"event\":\"message-blocked\"", type_field, name_field,
				"\"user\":\"-\"", NULL),
		  "%s: no message-blocked record naming type %u (%s)", what, type, name);
	cr_assert(strstr(line, "\"source\":\"127.0.0.1\"") &&
		      strstr(line, "\"reason\":\"bad input"),
		  "%s: %s", what, line);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"message-blocked\"", NULL), n + 1,
		     "%s: not exactly one message-blocked record", what);
	cr_assert_eq(au_audit_count(env.audit, "/etc/passwd", NULL), 0,
		     "%s: the file name is in the audit trail", what);
}

Test(bad_viewer, file_transfer_is_cut_off_and_audited)
{
	/* UltraVNC FileTransfer (rfbFileTransferMsg): type 7, content type rfbFileTransferOffer
	 * (1), content param 0, size 1234, length 11, then the file name. */
	static const uint8_t ultra[] = {7,   0,	  1,   0,   0,	 0,   0x04, 0xd2, 0,
					0,   0,	  11,  '/', 'e', 't', 'c',  '/',  'p',
					'a', 's', 's', 'w', 'd', 0,   0,    0,	  0};
	/* TightVNC FileUploadRequest (132): compression 0, name length 11, position 0,
	 * then the file name. */
	static const uint8_t tight[] = {132, 0,	  0,   11,  0,	 0,   0,   0,	'/', 'e',
					't', 'c', '/', 'p', 'a', 's', 's', 'w', 'd'};

	start_with(true);
	file_transfer_blocked("UltraVNC FileTransfer", ultra, sizeof(ultra), 7,
			      "UltraVNC FileTransfer");
	file_transfer_blocked("TightVNC FileUploadRequest", tight, sizeof(tight), 132,
			      "TightVNC file transfer");
	cr_assert_eq(host_cut_text_count(host), 0);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"viewer-leave\"", NULL), 0,
		     "the good viewer left");
}
