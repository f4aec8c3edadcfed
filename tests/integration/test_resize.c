/* A host resize reaches viewers that support DesktopSize / ExtendedDesktopSize, and they
 * converge on the new picture. */
#include <criterion/criterion.h>

#include "harness_util.h"

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *a, *b;

static void teardown(void)
{
	viewer_stop(a);
	viewer_stop(b);
	relay_stop(relay);
	host_free(host);
}

TestSuite(resize, .fini = teardown, .timeout = 90);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

Test(resize, viewers_follow_host)
{
	static const struct it_viewer_opts oa = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1};
	static const struct it_viewer_opts ob = {.bpp = 16, .encodings = "tight", .compress = -1};
	static const int sizes[][2] = {{640, 360}, {320, 200}, {1024, 768}};
	int port, w, h;

	host = host_start(400, 300, NULL);
	cr_assert_not_null(host, "host did not start");
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	a = viewer_start(port, &oa);
	b = viewer_start(port, &ob);
	cr_assert(a && b, "viewers did not connect");
	check(viewer_wait_match(a, host, 15000, 0), "viewer A, first update");
	check(viewer_wait_match(b, host, 15000, 0), "viewer B, first update");

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_assert_eq(host_resize(host, sizes[i][0], sizes[i][1]), 0);
		check(viewer_wait_match(a, host, 15000, 0), "viewer A after resize");
		check(viewer_wait_match(b, host, 15000, 0), "viewer B after resize");
		viewer_size(a, &w, &h);
		cr_assert(w == sizes[i][0] && h == sizes[i][1]);
		cr_assert_geq(viewer_resizes(a), (int)i + 1, "viewer A saw %d resizes",
			      viewer_resizes(a));
		cr_assert_geq(viewer_resizes(b), (int)i + 1, "viewer B saw %d resizes",
			      viewer_resizes(b));
	}
	/* And incremental updates still work at the new size. */
	host_change_region(host, 500, 400, 300, 200, 9);
	check(viewer_wait_match(a, host, 10000, 0), "viewer A, incremental after resize");
	check(viewer_wait_match(b, host, 10000, 0), "viewer B, incremental after resize");
}
