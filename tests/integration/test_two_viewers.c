/* One session, several viewers: each gets the picture in its own format and encodings, and
 * a viewer that stops reading neither stalls the others nor makes the relay grow. */
#include <criterion/criterion.h>

#include "harness_util.h"

#include <unistd.h>

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *a, *b;
static int stuck = -1;

static void teardown(void)
{
	if (stuck >= 0)
		close(stuck);
	viewer_stop(a);
	viewer_stop(b);
	relay_stop(relay);
	host_free(host);
}

TestSuite(two_viewers, .fini = teardown, .timeout = 120);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

static void start(int w, int h)
{
	static const struct it_viewer_opts oa = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1};
	static const struct it_viewer_opts ob = {
	    .bpp = 16, .encodings = "copyrect tight", .compress = 6};
	int port;

	host = host_start(w, h, NULL);
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	a = viewer_start(port, &oa);
	b = viewer_start(port, &ob);
	cr_assert(a && b, "viewers did not connect");
}

Test(two_viewers, different_formats_converge)
{
	start(640, 480);
	check(viewer_wait_match(a, host, 15000, 0), "viewer A (32 bpp ZRLE), first update");
	check(viewer_wait_match(b, host, 15000, 0), "viewer B (16 bpp Tight), first update");
	host_change_region(host, 100, 80, 400, 300, 2);
	check(viewer_wait_match(a, host, 10000, 0), "viewer A, incremental");
	check(viewer_wait_match(b, host, 10000, 0), "viewer B, incremental");
	host_fill_pattern(host, 3);
	check(viewer_wait_match(a, host, 10000, 0), "viewer A, full change");
	check(viewer_wait_match(b, host, 10000, 0), "viewer B, full change");
}

/* Keep the host busy for ms milliseconds: moving rectangles and an occasional full repaint,
 * like a scrolling page. */
static void churn(int ms, unsigned *seed)
{
	int64_t end = it_now_ms() + ms;
	unsigned r = *seed * 2654435761u;

	while (it_now_ms() < end) {
		r = r * 1103515245u + 12345u;
		(*seed)++;
		if (*seed % 30 == 0)
			host_fill_pattern(host, *seed);
		else
			host_change_region(host, (int)(r >> 8) % 1700, (int)(r >> 16) % 900, 320,
					   200, *seed);
		it_sleep_ms(30);
	}
}

Test(two_viewers, reader_that_stops_reading)
{
	long rss0 = 0, rss1;
	int w = 0, h = 0, ua, ub, min;
	unsigned seed = 10;

	start(1920, 1080);
	check(viewer_wait_match(a, host, 20000, 0), "viewer A, first update");
	check(viewer_wait_match(b, host, 20000, 0), "viewer B, first update");
	if (relay) {
		/* Let the session settle before the baseline. */
		it_sleep_ms(500);
		rss0 = it_rss_kib(relay_pid(relay));
		cr_assert(rss0 > 0, "cannot read the relay's VmRSS");
	}
	/* In direct mode libvncserver's single thread would block on the stuck client for its
	 * 20 s write timeout: that is libvncserver's behaviour, not what is tested here. */
	if (relay) {
		stuck = raw_client_connect(relay_port(relay), 8, 4096, &w, &h);
		cr_assert(stuck >= 0, "raw client handshake through the relay failed");
		cr_assert_eq(w, 1920);
		cr_assert_eq(h, 1080);
		cr_assert_eq(raw_client_request(stuck, false, 0, 0, 1920, 1080), 0);
	}

	ua = viewer_updates(a);
	ub = viewer_updates(b);
	churn(4000, &seed);
	/* Under ThreadSanitizer, encoding 1920x1080 frames is many times slower. */
	min = it_relay_slow() ? 0 : 3;
	cr_assert(viewer_updates(a) > ua + min,
		  "viewer A got only %d updates while the host changed", viewer_updates(a) - ua);
	cr_assert(viewer_updates(b) > ub + min,
		  "viewer B got only %d updates while the host changed", viewer_updates(b) - ub);
	check(viewer_wait_match(a, host, 20000, 0), "viewer A after the churn");
	check(viewer_wait_match(b, host, 20000, 0), "viewer B after the churn");

	/* And they keep converging while the stuck client is still there. */
	churn(1000, &seed);
	check(viewer_wait_match(a, host, 20000, 0), "viewer A after a second churn");
	check(viewer_wait_match(b, host, 20000, 0), "viewer B after a second churn");

	if (relay) {
		cr_assert(relay_alive(relay), "relay died");
		rss1 = it_rss_kib(relay_pid(relay));
		cr_log_info("relay VmRSS %ld KiB before, %ld KiB after", rss0, rss1);
		/* AddressSanitizer keeps freed memory in quarantine (256 MiB by default) and
		 * ThreadSanitizer keeps the shadow of freed frames, so RSS says nothing
		 * about pixelgate there; the plain build checks it. */
		if (!it_relay_instrumented())
			cr_assert(rss1 > 0 && rss1 - rss0 < 64 * 1024,
				  "relay VmRSS grew from %ld KiB to %ld KiB", rss0, rss1);
	}
}

/* Two viewers alike (encoding, format, options) share the bytes of each update the same
 * for both; the one that came later had other zlib streams before, and the first goes on
 * with its own after the second leaves: every picture must still decode exactly. */
Test(two_viewers, alike_viewers_share_bytes)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect tight", .compress = 6};
	unsigned seed = 40;
	int port;

	host = host_start(1280, 720, NULL);
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	a = viewer_start(port, &o);
	cr_assert_not_null(a, "viewer A did not connect");
	check(viewer_wait_match(a, host, 15000, 0), "viewer A alone");
	churn(800, &seed);
	check(viewer_wait_match(a, host, 15000, 0), "viewer A alone, after changes");

	b = viewer_start(port, &o);
	cr_assert_not_null(b, "viewer B did not connect");
	check(viewer_wait_match(b, host, 15000, 0), "viewer B, first update");
	for (int round = 0; round < 3; round++) {
		churn(700, &seed);
		check(viewer_wait_match(a, host, 15000, 0), "viewer A beside B");
		check(viewer_wait_match(b, host, 15000, 0), "viewer B beside A");
	}
	if (relay)
		cr_assert(relay_log_contains(relay, "(shared)"),
			  "no update was shared between two alike viewers");

	viewer_stop(b);
	b = NULL;
	churn(800, &seed);
	check(viewer_wait_match(a, host, 15000, 0), "viewer A alone again");
}
