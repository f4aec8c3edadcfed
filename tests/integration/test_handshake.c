/* The viewer-side handshake through the relay: every RFB version a viewer may speak gets
 * security None and a ServerInit with the host's size and pixelgate's canonical format;
 * a viewer that breaks the handshake is refused with a log line naming it, or (when it
 * merely says nothing) left alone until its deadline. Meanwhile a libvncclient viewer
 * connected to the same relay keeps following the host's picture. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness_util.h"

#define W 320
#define H 240

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static unsigned seed = 1;

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
}

TestSuite(handshake, .fini = teardown, .timeout = 30);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

static void start(void)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1};

	if (it_direct_mode())
		cr_skip_test("relay-only: the handshake under test is the relay's");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	relay = relay_start(host_port(host), NULL);
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");
}

/* The libvncclient viewer still follows the host: a new picture reaches it. */
static void viewer_still_follows(const char *after)
{
	char what[160];

	host_fill_pattern(host, ++seed);
	snprintf(what, sizeof(what), "picture after %s", after);
	check(viewer_wait_match(viewer, host, 10000, 0), what);
	cr_assert(viewer_connected(viewer), "viewer disconnected after %s", after);
	/* Only the relay is a client of the host: no viewer reached it directly. */
	cr_assert_eq(host_clients(host), 1, "host has %d clients after %s", host_clients(host),
		     after);
}

/* Wait for "127.0.0.1:<port>: <what>" in the relay's log: the line about this connection. */
static void expect_log(int local_port, const char *what)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "127.0.0.1:%d: %s", local_port, what);
	if (!relay_log_wait(relay, needle, 5000)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("relay log lacks \"%s\"", needle);
	}
}

Test(handshake, every_version_gets_server_init)
{
	/* Sent minor version, and the one the relay must treat it as. */
	static const struct {
		int sent, as;
	} versions[] = {{3, 3}, {7, 7}, {8, 8}, {5, 3}, {889, 8}};
	/* 32 bpp, depth 24, little-endian, true colour, 255 per channel, red at 16,
	 * green at 8, blue at 0. */
	static const uint8_t canonical[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	int fds[5];

	start();
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct it_raw_init init;
		char what[64];

		fds[i] = raw_client_connect_init(relay_port(relay), versions[i].sent, &init);
		if (fds[i] < 0)
			relay_dump_log(relay, 4000);
		cr_assert(fds[i] >= 0, "RFB 003.%03d viewer: handshake with security None failed",
			  versions[i].sent);
		cr_assert(init.w == W && init.h == H, "RFB 003.%03d viewer: ServerInit says %dx%d",
			  versions[i].sent, init.w, init.h);
		cr_assert(memcmp(init.pixfmt, canonical, 13) == 0,
			  "RFB 003.%03d viewer: ServerInit pixel format is not the canonical one "
			  "(bpp %u depth %u be %u tc %u, shifts %u %u %u)",
			  versions[i].sent, init.pixfmt[0], init.pixfmt[1], init.pixfmt[2],
			  init.pixfmt[3], init.pixfmt[10], init.pixfmt[11], init.pixfmt[12]);
		snprintf(what, sizeof(what), "connected (RFB 3.%d, %dx%d, no TLS)", versions[i].as,
			 W, H);
		expect_log(raw_client_local_port(fds[i]), what);
	}
	viewer_still_follows("five raw handshakes");
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		cr_assert(raw_client_open_still(fds[i]), "raw viewer %zu was closed", i);
		close(fds[i]);
	}
}

Test(handshake, garbage_version_is_refused)
{
	static const char *const garbage[] = {
	    "HTTP/1.1 200\n", /* wrong from the first byte */
	    "RFB 003,008\n",  /* wrong separator */
	    "RFB 004.000\n",  /* a major version that does not exist */
	};

	start();
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		char version[12];
		int fd = raw_client_open(relay_port(relay), version);
		int port;

		cr_assert(fd >= 0, "cannot connect to the relay");
		cr_assert(memcmp(version, "RFB 003.008\n", 12) == 0, "relay did not offer RFB 3.8");
		port = raw_client_local_port(fd);
		raw_client_send(fd, garbage[i], 12);
		cr_assert(raw_client_wait_closed(fd, 5000),
			  "relay kept a viewer that sent \"%.11s\"", garbage[i]);
		close(fd);
		expect_log(port, "closed: bad input: malformed handshake");
	}
	viewer_still_follows("garbage version strings");
}

Test(handshake, security_type_not_offered_is_refused)
{
	/* Minor version and the security type chosen: VNC authentication, Invalid, VeNCrypt. */
	static const int cases[][2] = {{8, 2}, {7, 2}, {8, 0}, {8, 19}};

	start();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char version[13];
		uint8_t types[2], pick = (uint8_t)cases[i][1];
		int fd = raw_client_open(relay_port(relay), NULL);
		int port;

		cr_assert(fd >= 0, "cannot connect to the relay");
		port = raw_client_local_port(fd);
		snprintf(version, sizeof(version), "RFB 003.%03d\n", cases[i][0]);
		cr_assert_eq(raw_client_send(fd, version, 12), 0);
		cr_assert(raw_client_read(fd, types, 2), "no security list");
		cr_assert(types[0] == 1 && types[1] == 1,
			  "relay offered %u types, first %u; expected only None", types[0],
			  types[1]);
		raw_client_send(fd, &pick, 1);
		cr_assert(raw_client_wait_closed(fd, 5000),
			  "relay kept an RFB 3.%d viewer that chose security type %u", cases[i][0],
			  pick);
		close(fd);
		expect_log(port, "closed: viewer chose a security type that was not offered");
	}
	viewer_still_follows("security types that were not offered");
}

Test(handshake, silent_viewer_waits_without_harm)
{
	int silent, partial, p_silent, p_partial;
	int64_t opened;
	char needle[96];

	start();
	silent = raw_client_open(relay_port(relay), NULL);
	partial = raw_client_open(relay_port(relay), NULL);
	cr_assert(silent >= 0 && partial >= 0, "cannot connect to the relay");
	opened = it_now_ms();
	p_silent = raw_client_local_port(silent);
	p_partial = raw_client_local_port(partial);
	/* Half a version string, then nothing. */
	cr_assert_eq(raw_client_send(partial, "RFB 003.", 8), 0);
	expect_log(p_silent, "new connection");
	expect_log(p_partial, "new connection");

	viewer_still_follows("two viewers went quiet in the handshake");
	/* The handshake deadline is 30 s; 2 s in, both must still be connected. */
	while (it_now_ms() < opened + 2000)
		it_sleep_ms(50);
	cr_assert(raw_client_open_still(silent), "silent viewer closed after 2 s");
	cr_assert(raw_client_open_still(partial), "viewer with half a version closed after 2 s");
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed", p_silent);
	cr_assert_not(relay_log_contains(relay, needle), "relay logged \"%s\"", needle);
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed", p_partial);
	cr_assert_not(relay_log_contains(relay, needle), "relay logged \"%s\"", needle);
	viewer_still_follows("two seconds of silent viewers");
	close(silent);
	close(partial);
	cr_assert(relay_alive(relay), "relay died");
}
