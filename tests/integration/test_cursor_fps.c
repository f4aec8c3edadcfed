/* The host's cursor shape reaches a viewer rebuilt but equal (size, hot spot, pixels
 * under the mask, mask), and the relay's frame-rate cap holds a viewer that asks for
 * updates as fast as it can to relay.max_fps without stalling it. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "harness_util.h"

#define W 320
#define H 240

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
}

TestSuite(cursor_fps, .fini = teardown, .timeout = 30);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

struct shape {
	int w, h, hx, hy;
	uint32_t px[IT_CURSOR_MAX * IT_CURSOR_MAX];
	uint8_t mask[IT_CURSOR_MAX * IT_CURSOR_MAX];
};

/* An arrow-like shape, not square (a swapped width and height shows), with colours that
 * differ per pixel and a mask that is neither full nor empty in any row. */
static void make_shape(struct shape *s, int w, int h, int hx, int hy, unsigned seed)
{
	s->w = w;
	s->h = h;
	s->hx = hx;
	s->hy = hy;
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			s->px[y * w + x] = it_pattern_pixel(seed, x * 7, y * 5, 64, 64);
			s->mask[y * w + x] = x <= y * w / h || (x + y) % 5 == 0;
		}
	}
	s->mask[w - 1] = 0; /* the first row ends transparent */
}

static void wait_shape(const struct shape *want, int shapes_before)
{
	static struct shape got;
	int64_t deadline = it_now_ms() + 10000;
	int opaque = 0;

	while (viewer_cursor_shapes(viewer) <= shapes_before && it_now_ms() < deadline)
		it_sleep_ms(20);
	if (viewer_cursor_shapes(viewer) <= shapes_before)
		relay_dump_log(relay, 4000);
	cr_assert(viewer_cursor_shapes(viewer) > shapes_before, "viewer got no cursor shape");
	cr_assert(viewer_cursor(viewer, &got.w, &got.h, &got.hx, &got.hy, got.px, got.mask),
		  "cursor shape of %dx%d is not recorded", got.w, got.h);
	cr_assert(got.w == want->w && got.h == want->h, "cursor is %dx%d, host's is %dx%d", got.w,
		  got.h, want->w, want->h);
	cr_assert(got.hx == want->hx && got.hy == want->hy, "hot spot %d,%d, host's is %d,%d",
		  got.hx, got.hy, want->hx, want->hy);
	for (int i = 0; i < want->w * want->h; i++) {
		cr_assert_eq(got.mask[i], want->mask[i], "mask differs at %d,%d", i % want->w,
			     i / want->w);
		/* Under a transparent mask bit a pixel has no colour to keep. */
		if (want->mask[i]) {
			opaque++;
			cr_assert_eq(got.px[i], want->px[i], "pixel %d,%d: #%06x, host's #%06x",
				     i % want->w, i / want->w, got.px[i], want->px[i]);
		}
	}
	cr_assert(opaque > 0);
}

Test(cursor_fps, cursor_shape_arrives)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1, .cursor = true};
	static struct shape first, second;
	int port;

	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	make_shape(&first, 12, 18, 3, 5, 2);
	cr_assert_eq(
	    host_set_cursor(host, first.w, first.h, first.hx, first.hy, first.px, first.mask), 0);
	port = it_front_port(host, &relay, NULL);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	wait_shape(&first, 0);

	/* A new shape while connected replaces the old one. */
	make_shape(&second, 20, 9, 19, 0, 5);
	cr_assert_eq(
	    host_set_cursor(host, second.w, second.h, second.hx, second.hy, second.px, second.mask),
	    0);
	wait_shape(&second, viewer_cursor_shapes(viewer));
	/* The cursor travels beside the picture, not in it. */
	check(viewer_wait_match(viewer, host, 10000, 0), "picture with a cursor shape");
}

#define FPS	5
#define SECONDS 3

Test(cursor_fps, frame_rate_is_capped)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "raw", .compress = -1};
	static const char *const args[] = {"--max-fps", "5", NULL};
	int64_t start, next;
	int before, after, changes = 0;

	if (it_direct_mode())
		cr_skip_test("relay-only: the cap is the relay's");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	relay = relay_start(host_port(host), args);
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");

	/* libvncclient asks for the next update as soon as one arrives; the host changes a
	 * region every 10 ms, so without the cap there would be an update per change. */
	before = viewer_updates(viewer);
	start = next = it_now_ms();
	while (it_now_ms() < start + SECONDS * 1000) {
		host_change_region(host, (changes * 16) % (W - 32), 40, 32, 32, 10 + changes);
		changes++;
		next += 10;
		while (it_now_ms() < next)
			it_sleep_ms(1);
	}
	after = viewer_updates(viewer);
	cr_assert(after - before <= FPS * SECONDS + 3,
		  "%d updates in %d s with --max-fps %d (%d host changes)", after - before, SECONDS,
		  FPS, changes);
	cr_assert(after - before >= FPS, "only %d updates in %d s with --max-fps %d: a stall",
		  after - before, SECONDS, FPS);
	/* And the last picture still arrives once the host stops changing. */
	check(viewer_wait_match(viewer, host, 10000, 0), "picture after the changes");
}
