/* The host goes away and comes back: viewers stay connected on the last picture, the relay
 * reconnects and refreshes, and input typed while the host was down is not replayed. */
#include <criterion/criterion.h>

#include "harness_util.h"

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer, *late;

static void teardown(void)
{
	viewer_stop(viewer);
	viewer_stop(late);
	relay_stop(relay);
	host_free(host);
}

TestSuite(reconnect, .fini = teardown, .timeout = 90);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 8000);
	cr_assert_null(err, "%s: %s", what, err);
}

static const struct it_viewer_opts opts = {.bpp = 32, .encodings = "copyrect zrle", .compress = -1};

Test(reconnect, host_restart)
{
	uint32_t key;
	bool down;
	int port;

	host = host_start(320, 240, NULL);
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &opts);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");

	host_stop(host);
	if (!relay) {
		/* Direct mode: the harness's host_stop really hangs up on its clients. */
		cr_assert(viewer_wait_disconnect(viewer, 5000),
			  "host_stop left the viewer connected");
	} else {
		cr_assert_not(viewer_wait_disconnect(viewer, 3000),
			      "viewer was disconnected when the host went away");
		/* Still on the last picture (the host's buffer keeps it while stopped). */
		check(viewer_wait_match(viewer, host, 1000, 0), "last picture while host is down");
		/* Typed while the host is down: must be dropped, not queued for the next host. */
		cr_assert(viewer_send_key(viewer, 0x71, true), "send failed");
		cr_assert(viewer_send_key(viewer, 0x71, false), "send failed");
		cr_assert(viewer_send_pointer(viewer, 33, 44, 1), "send failed");
	}

	host_fill_pattern(host, 7);
	host_clear_input(host);
	cr_assert_eq(host_restart(host), 0, "host did not restart on port %d", host_port(host));

	if (!relay) {
		late = viewer_start(port, &opts);
		cr_assert_not_null(late, "viewer did not reconnect to the restarted host");
		check(viewer_wait_match(late, host, 15000, 0), "picture after restart");
		return;
	}
	check(viewer_wait_match(viewer, host, 15000, 0), "new picture after the host came back");
	cr_assert(viewer_connected(viewer));
	cr_assert(relay_log_contains(relay, "reconnect") || relay_log_contains(relay, "Reconnect"),
		  "relay log does not mention the reconnect");
	/* The refresh proved the new session works; give stray input time to show up. */
	it_sleep_ms(1000);
	cr_assert_not(host_last_key(host, &key, &down),
		      "input sent while the host was down reached the new host (key 0x%x)", key);
	cr_assert_eq(host_pointer_count(host), 0,
		     "pointer input sent while the host was down reached the new host");

	/* Input typed now does arrive: the new session carries input again. */
	cr_assert(viewer_send_key(viewer, 0x62, true), "send failed");
	for (int64_t end = it_now_ms() + 5000;
	     !host_last_key(host, &key, &down) && it_now_ms() < end;)
		it_sleep_ms(20);
	cr_assert(host_last_key(host, &key, &down) && key == 0x62,
		  "input after the reconnect did not reach the host");
}
