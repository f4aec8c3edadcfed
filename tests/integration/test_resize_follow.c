/* The browser host's screen follows the viewer: a viewer's SetDesktopSize goes through
 * the relay and its upstream worker to the host (libvncserver's setDesktopSizeHook),
 * the host's answer comes back to the viewer, and the new size to every viewer. And
 * when it must not: several viewers, a size out of range, [upstream] resize = off,
 * view-only viewers, a host that refuses, a host without ExtendedDesktopSize; a flood
 * reaches the host as a few requests, the last size winning. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <unistd.h>

#include "harness_util.h"

#define WAIT_MS 15000

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *a, *b;
static char conf[256];

static void teardown(void)
{
	viewer_stop(a);
	viewer_stop(b);
	relay_stop(relay);
	host_free(host);
	if (*conf)
		unlink(conf);
}

TestSuite(resize_follow, .fini = teardown, .timeout = 120);

static void check(const char *err, const char *what)
{
	if (err && relay)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

static void must(bool ok, const char *what)
{
	if (!ok && relay)
		relay_dump_log(relay, 6000);
	cr_assert(ok, "%s", what);
}

/* A 640x480 host (resize: its answer to SetDesktopSize) and a relay with these
 * config lines (sections included, may be NULL). */
static void start(int resize, int status, const char *settings)
{
	const struct it_host_opts ho = {.resize = resize, .resize_status = status};

	if (it_direct_mode())
		cr_skip_test("the relay's policy is under test: nothing to do with PG_IT_DIRECT=1");
	host = host_start(640, 480, &ho);
	cr_assert_not_null(host, "host did not start");
	snprintf(conf, sizeof(conf), "/tmp/pg-resize-follow-%d.conf", (int)getpid());
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "%s\n", settings ? settings : "");
	fclose(f);
	const char *const args[] = {"-c", conf, NULL};
	relay = relay_start(host_port(host), args);
	cr_assert_not_null(relay, "relay did not start");
}

/* A viewer that records what it receives, and has the host's picture. */
static struct it_viewer *view(void)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1, .record = true};
	struct it_viewer *v = viewer_start(relay_port(relay), &o);

	must(v != NULL, "viewer did not connect");
	check(viewer_wait_match(v, host, WAIT_MS, 0), "first picture");
	return v;
}

static void size_is(struct it_viewer *v, int w, int h, const char *what)
{
	int vw, vh, hw, hh;

	host_size(host, &hw, &hh);
	viewer_size(v, &vw, &vh);
	cr_assert(hw == w && hh == h, "%s: host is %dx%d, not %dx%d", what, hw, hh, w, h);
	cr_assert(vw == w && vh == h, "%s: viewer is %dx%d, not %dx%d", what, vw, vh, w, h);
}

Test(resize_follow, viewer_resizes_host)
{
	int w, h;

	start(IT_RESIZE_ACCEPT, 0, NULL);
	a = view();
	/* The relay announced ExtendedDesktopSize with the current size, unasked: only
	 * then do viewers such as TigerVNC's send SetDesktopSize. */
	must(viewer_wait_ext_desktop_size(a, 0, 0, 640, 480, WAIT_MS),
	     "no ExtendedDesktopSize announcement");
	must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
	/* The answer names the new size: reason 1 (this client), status 0. */
	must(viewer_wait_ext_desktop_size(a, 1, 0, 800, 600, WAIT_MS),
	     "no ExtendedDesktopSize 1/0 800x600 came back");
	check(viewer_wait_match(a, host, WAIT_MS, 0), "picture at the new size");
	size_is(a, 800, 600, "after SetDesktopSize");
	cr_assert_eq(host_size_requests(host, &w, &h), 1);
	cr_assert(w == 800 && h == 600);

	/* And back, smaller. */
	must(viewer_send_desktop_size(a, 500, 400), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 0, 500, 400, WAIT_MS),
	     "no ExtendedDesktopSize 1/0 500x400 came back");
	check(viewer_wait_match(a, host, WAIT_MS, 0), "picture at the second size");
	size_is(a, 500, 400, "after the second SetDesktopSize");
	/* Updates go on at the new size. */
	host_change_region(host, 100, 100, 300, 200, 5);
	check(viewer_wait_match(a, host, WAIT_MS, 0), "incremental update after the resize");
	must(relay_log_contains(relay, "asking the browser host for 500x400"),
	     "no debug line for the request");
}

Test(resize_follow, shared_session_is_prohibited)
{
	start(IT_RESIZE_ACCEPT, 0, NULL);
	a = view();
	b = view();
	must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 1, 640, 480, WAIT_MS),
	     "no ExtendedDesktopSize 1/1 (prohibited) with the current size");
	must(relay_log_wait(relay, "SetDesktopSize refused: other viewers share", WAIT_MS),
	     "refusal not logged with its reason");
	/* Once per viewer at info level: a second refusal only at debug. */
	must(viewer_send_desktop_size(a, 820, 600), "SetDesktopSize not sent");
	must(relay_log_wait(relay, "SetDesktopSize 820x600 refused", WAIT_MS),
	     "second refusal not logged at debug");
	it_sleep_ms(300);
	cr_assert_eq(host_size_requests(host, NULL, NULL), 0, "the host was asked");
	size_is(a, 640, 480, "viewer A");
	size_is(b, 640, 480, "viewer B");
	check(viewer_wait_match(b, host, WAIT_MS, 0), "viewer B's picture");

	/* Alone again (once the relay saw B leave), it may. */
	viewer_stop(b);
	b = NULL;
	bool done = false;
	for (int i = 0; i < 15 && !done; i++) {
		must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
		done = viewer_wait_ext_desktop_size(a, 1, 0, 800, 600, 1000);
	}
	must(done, "alone again, the resize was not done");
	check(viewer_wait_match(a, host, WAIT_MS, 0), "picture at the new size");
}

Test(resize_follow, out_of_range_is_invalid)
{
	start(IT_RESIZE_ACCEPT, 0, "[upstream]\nmax_width = 1024\nmax_height = 768\n");
	a = view();
	must(viewer_send_desktop_size(a, 1280, 720), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 3, 640, 480, WAIT_MS),
	     "no ExtendedDesktopSize 1/3 (invalid layout) for 1280x720 over 1024x768");
	must(viewer_send_desktop_size(a, 0, 480), "SetDesktopSize not sent");
	must(relay_log_wait(relay, "SetDesktopSize 0x480 refused", WAIT_MS), "0x480 not refused");
	it_sleep_ms(300);
	cr_assert_eq(host_size_requests(host, NULL, NULL), 0, "the host was asked");
	size_is(a, 640, 480, "after refusals");
	/* Within the limits it goes. */
	must(viewer_send_desktop_size(a, 1024, 768), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 0, 1024, 768, WAIT_MS), "1024x768 not done");
	check(viewer_wait_match(a, host, WAIT_MS, 0), "picture at 1024x768");
}

Test(resize_follow, resize_off_is_prohibited)
{
	start(IT_RESIZE_ACCEPT, 0, "[upstream]\nresize = off\n");
	a = view();
	must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 1, 640, 480, WAIT_MS),
	     "no ExtendedDesktopSize 1/1 with resize = off");
	must(relay_log_wait(relay, "SetDesktopSize refused: [upstream] resize = off", WAIT_MS),
	     "refusal not logged");
	it_sleep_ms(300);
	cr_assert_eq(host_size_requests(host, NULL, NULL), 0, "the host was asked");
	size_is(a, 640, 480, "resize = off");
}

Test(resize_follow, view_only_is_prohibited)
{
	start(IT_RESIZE_ACCEPT, 0, "[policy]\nview_only = yes\n");
	a = view();
	must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 1, 640, 480, WAIT_MS),
	     "no ExtendedDesktopSize 1/1 for a view-only viewer");
	must(relay_log_wait(relay, "SetDesktopSize refused: view-only", WAIT_MS),
	     "refusal not logged");
	it_sleep_ms(300);
	cr_assert_eq(host_size_requests(host, NULL, NULL), 0, "the host was asked");
}

Test(resize_follow, host_refusal_reaches_viewer)
{
	start(IT_RESIZE_REFUSE, 2, NULL);
	a = view();
	must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
	must(viewer_wait_ext_desktop_size(a, 1, 2, 640, 480, WAIT_MS),
	     "the host's status 2 did not reach the viewer");
	cr_assert_eq(host_size_requests(host, NULL, NULL), 1);
	size_is(a, 640, 480, "host refused");
	/* The session goes on. */
	host_change_region(host, 0, 0, 200, 200, 3);
	check(viewer_wait_match(a, host, WAIT_MS, 0), "picture after the refusal");
}

Test(resize_follow, flood_last_size_wins)
{
	int w, h, n;

	start(IT_RESIZE_ACCEPT, 0, NULL);
	a = view();
	/* A window edge dragged: 100 sizes in a burst, the last 900x700. */
	for (int i = 0; i < 100; i++)
		must(viewer_send_desktop_size(a, 700 + i * 2 + (i == 99 ? 2 : 0), 500 + i * 2),
		     "SetDesktopSize not sent");
	w = 700 + 99 * 2 + 2;
	h = 500 + 99 * 2;
	must(viewer_wait_ext_desktop_size(a, 1, 0, w, h, WAIT_MS),
	     "the last size's answer did not come");
	check(viewer_wait_match(a, host, WAIT_MS, 0), "picture at the last size");
	size_is(a, w, h, "after the flood");
	n = host_size_requests(host, &w, &h);
	cr_assert(n >= 1 && n <= 10, "the host got %d requests for a flood of 100", n);
	cr_assert(w == 900 && h == 698, "the host's last request was %dx%d", w, h);
	/* Nothing more trickles in afterwards. */
	it_sleep_ms(1000);
	cr_assert_eq(host_size_requests(host, NULL, NULL), n);
}

Test(resize_follow, host_without_ext_desktop_size)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "raw", .compress = -1, .record = true};
	const uint32_t *px;
	int w, h;

	if (it_direct_mode())
		cr_skip_test("the relay's worker is under test: nothing to do with PG_IT_DIRECT=1");
	/* A minimal RFB host that never sends ExtendedDesktopSize: the worker answers
	 * for it, and asks it nothing. */
	struct it_rawhost *rh = rawhost_start(320, 240, 4, "plain", 5, NULL, 0);
	cr_assert_not_null(rh, "raw host did not start");
	relay = relay_start(rawhost_port(rh), NULL);
	if (!relay)
		rawhost_stop(rh);
	cr_assert_not_null(relay, "relay did not start");
	a = viewer_start(relay_port(relay), &o);
	must(a != NULL, "viewer did not connect");
	px = rawhost_picture(rh, &w, &h);
	check(viewer_wait_match_picture(a, px, w, h, WAIT_MS, 0), "first picture");
	must(viewer_send_desktop_size(a, 800, 600), "SetDesktopSize not sent");
	bool got = viewer_wait_ext_desktop_size(a, 1, 1, 320, 240, WAIT_MS) &&
		   relay_log_wait(relay, "the browser host does not take it", WAIT_MS);
	if (!got)
		relay_dump_log(relay, 6000);
	viewer_stop(a);
	a = NULL;
	relay_stop(relay);
	relay = NULL;
	rawhost_stop(rh);
	cr_assert(got, "no ExtendedDesktopSize 1/1 (and worker log line) from a host without it");
}
