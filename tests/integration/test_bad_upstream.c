/* A hostile browser host (the raw host, misbehaving once on demand) after a correct
 * handshake and a first good picture: the upstream worker ends the connection with a
 * logged reason, the viewer stays connected on the last picture, the session reconnects,
 * none of the hostile bytes reach the viewer, and the relay's main process lives on. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "harness_util.h"

#define W 128
#define H 96

static struct it_rawhost *rawhost;
static struct it_relay *relay;
static struct it_viewer *viewer;

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	rawhost_stop(rawhost);
}

TestSuite(bad_upstream, .fini = teardown, .timeout = 30);

static bool wait_count(int (*count)(struct it_rawhost *), int n, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (count(rawhost) >= n)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

static void check_picture(const char *what)
{
	int pw, ph;
	const uint32_t *px = rawhost_picture(rawhost, &pw, &ph);
	const char *err = viewer_wait_match_picture(viewer, px, pw, ph, 10000, 0);

	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

/* Show a good picture, inject the fault, expect "session: upstream worker: browser
 * host: <reason>" and a reconnect. A handshake fault first hangs up the good connection,
 * so the hostile one is the next and the good one after that proves the reconnect. */
static void run(enum it_rawhost_fault fault, const char *reason, bool handshake)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1, .record = true};
	char needle[256];
	int conns, shakes, updates;

	if (it_direct_mode())
		cr_skip_test("relay-only: the upstream worker is the relay's");
	rawhost = rawhost_start(W, H, 3, "hostile", 7, NULL, 0);
	cr_assert_not_null(rawhost, "raw host did not start");
	relay = relay_start(rawhost_port(rawhost), NULL);
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check_picture("first picture");

	conns = rawhost_connections(rawhost);
	shakes = rawhost_handshakes(rawhost);
	updates = viewer_updates(viewer);
	rawhost_inject(rawhost, fault);

	snprintf(needle, sizeof(needle), "upstream worker: browser host: %s", reason);
	if (!relay_log_wait(relay, needle, 5000)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("relay log lacks \"%s\"", needle);
	}
	cr_assert(rawhost_fault_done(rawhost));
	/* The session reconnects: a new connection, and a good handshake on it. */
	if (!wait_count(rawhost_connections, conns + (handshake ? 2 : 1), 5000) ||
	    !wait_count(rawhost_handshakes, shakes + 1, 5000)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("no reconnect: %d connections, %d handshakes (before: %d, %d)",
			       rawhost_connections(rawhost), rawhost_handshakes(rawhost), conns,
			       shakes);
	}
	cr_assert(relay_log_contains(relay, "reconnecting to browser host"),
		  "relay log does not mention the reconnect");
	/* The new session's full picture reaches the viewer as an ordinary update. */
	cr_assert(viewer_wait_updates(viewer, updates + 1, 5000),
		  "viewer got no update after the reconnect");
	cr_assert(viewer_connected(viewer), "viewer was disconnected by a hostile host");
	check_picture("picture after the reconnect");
	cr_assert_not(viewer_received_contains(viewer, IT_RH_MARKER, strlen(IT_RH_MARKER)),
		      "bytes the hostile host sent reached the viewer");
	cr_assert(relay_alive(relay), "relay's main process died");
	cr_assert_not(relay_log_contains(relay, "closed:"), "the relay closed a viewer");
}

Test(bad_upstream, colour_map)
{
	run(IT_RH_COLOUR_MAP,
	    "SetColourMapEntries: host uses a colour map, pixelgate asked for true colour", false);
}

Test(bad_upstream, rect_outside_framebuffer)
{
	run(IT_RH_RECT_OUTSIDE, "rect 1 of update: 16x16 at 120,0 outside the 128x96 framebuffer",
	    false);
}

Test(bad_upstream, encoding_never_requested)
{
	run(IT_RH_HEXTILE, "rect 1 of update: encoding 5 (Hextile) never requested", false);
}

Test(bad_upstream, cut_text_length_ffffffff)
{
	/* -1 to the Extended Clipboard: a payload too short for its own flags. */
	run(IT_RH_CUT_HUGE, "ServerCutText: extended length 1 under 4", false);
}

Test(bad_upstream, cut_text_over_limit)
{
	run(IT_RH_CUT_OVER_LIMIT, "ServerCutText: length 2097152 over limit 1048576", false);
}

Test(bad_upstream, zrle_length_over_limit)
{
	run(IT_RH_ZRLE_HUGE, "rect 1 of update: ZRLE length 2147483647 over limit 16777216", false);
}

Test(bad_upstream, unknown_message_type)
{
	run(IT_RH_UNKNOWN_MSG, "server message type 200 unknown", false);
}

Test(bad_upstream, server_init_65535_square)
{
	run(IT_RH_HUGE_INIT,
	    "ServerInit: framebuffer 65535x65535 exceeds the limit 3840x2160 ([upstream] "
	    "max_width, max_height)",
	    true);
}

Test(bad_upstream, no_usable_security_type)
{
	run(IT_RH_BAD_SECURITY, "security: no usable type; host offered 19, 30", true);
}
