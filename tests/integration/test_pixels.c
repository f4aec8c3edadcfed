/* Pixels survive the protocol break: the host's picture reaches a libvncclient viewer
 * through the relay, decoded and re-encoded, for every encoding the relay offers and every
 * pixel format class, both in the first full update and in an incremental one. */
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

TestSuite(pixels, .fini = teardown, .timeout = 60);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

static void run(int bpp, const char *encodings, bool jpeg)
{
	struct it_viewer_opts o = {
	    .bpp = bpp, .encodings = encodings, .jpeg = jpeg, .quality = 8, .compress = -1};
	int tol = jpeg ? IT_PSNR : 0;
	int port;

	/* The spec allows Tight JPEG only at 16 and 32 bpp. libvncserver 0.9.14 sends it at
	 * 8 bpp anyway and libvncclient rightly drops the connection, so the direct mode has
	 * nothing to prove here; through the relay this case must work. */
	if (jpeg && bpp == 8 && it_direct_mode())
		cr_skip_test("direct mode: libvncserver sends JPEG to 8 bpp viewers");

	/* Not multiples of 64 or 16, so partial ZRLE and Tight tiles are covered. */
	host = host_start(400, 300, NULL);
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, tol), "first full update");

	/* A region across all four pattern areas, then a small one inside a single tile. */
	host_change_region(host, 150, 100, 170, 130, 2);
	check(viewer_wait_match(viewer, host, 10000, tol), "incremental update");
	host_change_region(host, 7, 9, 5, 3, 3);
	check(viewer_wait_match(viewer, host, 10000, tol), "small incremental update");
}

Test(pixels, raw_32)
{
	run(32, "raw", false);
}
Test(pixels, raw_16)
{
	run(16, "raw", false);
}
Test(pixels, raw_8)
{
	run(8, "raw", false);
}
Test(pixels, zrle_32)
{
	run(32, "copyrect zrle", false);
}
Test(pixels, zrle_16)
{
	run(16, "copyrect zrle", false);
}
Test(pixels, zrle_8)
{
	run(8, "copyrect zrle", false);
}
Test(pixels, tight_32)
{
	run(32, "copyrect tight", false);
}
Test(pixels, tight_16)
{
	run(16, "copyrect tight", false);
}
Test(pixels, tight_8)
{
	run(8, "copyrect tight", false);
}
Test(pixels, tight_jpeg_32)
{
	run(32, "copyrect tight", true);
}
Test(pixels, tight_jpeg_16)
{
	run(16, "copyrect tight", true);
}
Test(pixels, tight_jpeg_8)
{
	run(8, "copyrect tight", true);
}
