/* Nothing crosses as bytes: a desktop name and clipboard text carrying marker strings and
 * control bytes must not reach the viewer verbatim, anywhere in its byte stream; and the
 * viewer's clipboard must not reach the host.
 *
 * In direct mode the same checks run inverted: there the markers must be seen, which
 * proves the recording tap and the checks can see them at all. */
#include <criterion/criterion.h>

#include "harness_util.h"

#include "codec/rfb.h"

#include <stdio.h>
#include <string.h>

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static struct it_rawhost *rawhost;

static void teardown(void)
{
	viewer_stop(viewer);
	rawhost_stop(rawhost);
	relay_stop(relay);
	host_free(host);
}

TestSuite(markers, .fini = teardown, .timeout = 60);

#define NAME_MARK	"PGMARK-NAME-7f3a\x01\x1b\xff"
#define CUT_MARK	"PGMARK-CUT-9c2e"
#define VIEWER_CUT_MARK "PGMARK-VCUT-51d0\x01\x1b"

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

Test(markers, name_and_clipboard_do_not_cross)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1, .record = true};
	char name[601], cut[128], got[1024];
	const char *tail;
	bool direct = it_direct_mode();
	uint32_t key;
	bool down;
	int port;

	/* 600 bytes: the marker, control bytes, then a run no capped name can hold whole. */
	memset(name, 0, sizeof(name));
	strcpy(name, NAME_MARK);
	for (size_t i = strlen(name); i < 600; i++)
		name[i] = (char)('A' + i % 26);
	tail = name + 600 - 300;
	snprintf(cut, sizeof(cut), "%s\x01\x1b\xff clipboard from the Internet side", CUT_MARK);

	host = host_start(320, 240, &(struct it_host_opts){.name = name, .cut_text = cut});
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");

	/* Clipboard again, now that the session is surely up, then a change to be sure what
	 * came after it has been relayed. */
	cr_assert(host_wait_clients(host, 1, 5000));
	host_send_cut_text(host, cut, strlen(cut));
	it_sleep_ms(300);
	host_change_region(host, 0, 0, 320, 240, 5);
	check(viewer_wait_match(viewer, host, 10000, 0), "picture after the clipboard");

	viewer_name(viewer, got, sizeof(got));
	cr_assert_gt(viewer_received_bytes(viewer), 0, "the tap recorded nothing");

	if (direct) {
		cr_assert(strncmp(got, name, strlen(got)) == 0 && strlen(got) > strlen(NAME_MARK),
			  "direct: name not received verbatim (%zu bytes)", strlen(got));
		cr_assert(viewer_received_contains(viewer, NAME_MARK, strlen(NAME_MARK)));
		cr_assert(viewer_received_contains(viewer, CUT_MARK, strlen(CUT_MARK)));
		cr_assert_geq(viewer_cut_count(viewer), 1, "direct: no cut text seen");
	} else {
		cr_assert_leq(strlen(got), PG_RFB_NAME_OUT, "name of %zu bytes is not capped",
			      strlen(got));
		for (const unsigned char *p = (const unsigned char *)got; *p; p++)
			cr_assert(*p >= 0x20 && *p < 0x7f, "name holds byte 0x%02x", *p);
		cr_assert_not(viewer_received_contains(viewer, NAME_MARK, strlen(NAME_MARK)),
			      "the raw desktop name reached the viewer");
		cr_assert_not(viewer_received_contains(viewer, tail, 300),
			      "an uncapped desktop name reached the viewer");
		cr_assert_not(viewer_received_contains(viewer, CUT_MARK, strlen(CUT_MARK)),
			      "the host's clipboard text reached the viewer");
		cr_assert_eq(viewer_cut_count(viewer), 0, "the viewer got %d ServerCutText",
			     viewer_cut_count(viewer));
	}

	/* The viewer's clipboard, followed by a key as a barrier: once the key is at the host,
	 * the cut text, sent before it on the same connection, would be too. */
	cr_assert(viewer_send_cut_text(viewer, VIEWER_CUT_MARK, strlen(VIEWER_CUT_MARK)));
	cr_assert(viewer_send_key(viewer, 0x7a, true));
	cr_assert(viewer_send_key(viewer, 0x7a, false));
	for (int64_t end = it_now_ms() + 5000; host_key_count(host) < 2 && it_now_ms() < end;)
		it_sleep_ms(20);
	cr_assert(host_last_key(host, &key, &down) && key == 0x7a, "barrier key did not arrive");
	it_sleep_ms(200);
	if (direct)
		cr_assert_eq(host_cut_text_count(host), 1,
			     "direct: cut text did not reach the host");
	else
		cr_assert_eq(host_cut_text_count(host), 0,
			     "the viewer's cut text reached the host");
	if (relay)
		cr_assert(relay_alive(relay), "relay died");
}

/* libvncserver caps names at 127 bytes, so the long name comes from the raw host: 600
 * bytes, and a cut text sent right after ServerInit, before any update. */
Test(markers, long_name_is_sanitized_and_capped)
{
	static const struct it_viewer_opts o = {
	    .bpp = 16, .encodings = "copyrect tight", .compress = -1, .record = true};
	char name[600], cut[128], got[1024];
	const uint32_t *px;
	int port, w, h;

	memcpy(name, NAME_MARK, strlen(NAME_MARK));
	for (size_t i = strlen(NAME_MARK); i < sizeof(name); i++)
		name[i] = (char)(i % 7 == 0 ? 0x1b : 'a' + i % 26);
	snprintf(cut, sizeof(cut), "%s\x01 sent before any update", CUT_MARK);
	rawhost = rawhost_start(256, 192, 4, name, sizeof(name), cut, strlen(cut));
	cr_assert_not_null(rawhost, "raw host did not start");
	port = it_front_port_for(rawhost_port(rawhost), &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	px = rawhost_picture(rawhost, &w, &h);
	check(viewer_wait_match_picture(viewer, px, w, h, 15000, 0), "picture from the raw host");

	viewer_name(viewer, got, sizeof(got));
	if (it_direct_mode()) {
		cr_assert(strlen(got) == sizeof(name) && memcmp(got, name, sizeof(name)) == 0,
			  "direct: name of %zu bytes is not the host's", strlen(got));
		cr_assert(viewer_received_contains(viewer, name, sizeof(name)),
			  "direct: the tap did not see the 600-byte name");
		cr_assert(viewer_received_contains(viewer, CUT_MARK, strlen(CUT_MARK)));
		return;
	}
	cr_assert_leq(strlen(got), PG_RFB_NAME_OUT, "name of %zu bytes is not capped", strlen(got));
	for (const unsigned char *p = (const unsigned char *)got; *p; p++)
		cr_assert(*p >= 0x20 && *p < 0x7f, "name holds byte 0x%02x", *p);
	cr_assert_not(viewer_received_contains(viewer, NAME_MARK, strlen(NAME_MARK)),
		      "the raw desktop name reached the viewer");
	cr_assert_not(viewer_received_contains(viewer, name + 300, 64),
		      "part of the raw desktop name reached the viewer verbatim");
	cr_assert_not(viewer_received_contains(viewer, CUT_MARK, strlen(CUT_MARK)),
		      "the host's clipboard text reached the viewer");
	cr_assert_eq(viewer_cut_count(viewer), 0);
	cr_assert(relay_alive(relay), "relay died");
}
