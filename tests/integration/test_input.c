/* Input from the viewer reaches the host as the same keysyms and coordinates. */
#include <criterion/criterion.h>

#include "harness_util.h"

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
}

TestSuite(input, .fini = teardown, .timeout = 60);

static void start(void)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "raw", .compress = -1};
	const char *err;
	int port;

	host = host_start(320, 240, NULL);
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	/* A picture proves the session reached the host. */
	err = viewer_wait_match(viewer, host, 15000, 0);
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s", err);
}

Test(input, keys_arrive_in_order)
{
	/* ASCII, a modifier, Return, a function key and a Unicode keysym (U+30C6). */
	static const struct {
		uint32_t key;
		bool down;
	} seq[] = {
	    {0x61, true},   {0x61, false},   {0xffe1, true},	{0x41, true},
	    {0x41, false},  {0xffe1, false}, {0xff0d, true},	{0xff0d, false},
	    {0xffbe, true}, {0xffbe, false}, {0x10030c6, true}, {0x10030c6, false},
	};
	const int n = (int)(sizeof(seq) / sizeof(seq[0]));
	int64_t deadline;

	start();
	for (int i = 0; i < n; i++)
		cr_assert(viewer_send_key(viewer, seq[i].key, seq[i].down), "send failed");
	deadline = it_now_ms() + 10000;
	while (host_key_count(host) < n && it_now_ms() < deadline)
		it_sleep_ms(20);
	if (host_key_count(host) != n)
		relay_dump_log(relay, 4000);
	cr_assert_eq(host_key_count(host), n, "host got %d of %d key events", host_key_count(host),
		     n);
	for (int i = 0; i < n; i++) {
		uint32_t key;
		bool down;

		cr_assert(host_key_at(host, i, &key, &down));
		cr_assert(key == seq[i].key && down == seq[i].down,
			  "key event %d: host got 0x%x %s, viewer sent 0x%x %s", i, key,
			  down ? "down" : "up", seq[i].key, seq[i].down ? "down" : "up");
	}
}

static bool wait_pointer(int x, int y, int buttons, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	int px, py, pb;

	do {
		if (host_last_pointer(host, &px, &py, &pb) && px == x && py == y && pb == buttons)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

Test(input, pointer_arrives)
{
	static const int ev[][3] = {
	    {10, 20, 0}, {100, 150, 1}, {100, 150, 0}, {319, 239, 4}, {0, 0, 0}, {160, 5, 2},
	};
	int x = -1, y = -1, b = -1;

	start();
	/* One at a time: a relay may coalesce motion, but each state must arrive. */
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		cr_assert(viewer_send_pointer(viewer, ev[i][0], ev[i][1], ev[i][2]), "send failed");
		if (!wait_pointer(ev[i][0], ev[i][1], ev[i][2], 5000)) {
			host_last_pointer(host, &x, &y, &b);
			relay_dump_log(relay, 4000);
			cr_assert_fail("pointer (%d,%d) buttons %d did not arrive; host last saw "
				       "(%d,%d) buttons %d",
				       ev[i][0], ev[i][1], ev[i][2], x, y, b);
		}
	}
}
