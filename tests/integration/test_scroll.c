/* Change detection end to end: pg-synth-host scrolls a page, with CopyRects or (with
 * --no-copyrect) repainting every moved row as Chromium does, through the relay to a
 * libvncclient viewer. The viewer's last picture must be exactly one of the host's
 * frames, the worker must publish far less than the whole screen per update, and the
 * moves must reach a viewer that accepts CopyRect as CopyRects. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include "harness_util.h"
#include "tools/synth_draw.h"

#define W  800
#define H  600
#define CH (H - PG_SYNTH_STRIP_H) /* the scrolling part; the strip below stays */

static pid_t host_pid = -1;
static struct it_relay *relay;
static rfbClient *viewer;
static uint32_t *frames[5];

struct counts {
	int copyrects, updates;
	long long painted, copied; /* pixels of all rectangles, and of CopyRects, after the first
				      update */
	GotCopyRectProc copy_rect;
};

static struct counts counts;

static void stop_host(void)
{
	if (host_pid <= 0)
		return;
	kill(host_pid, SIGTERM);
	for (int i = 0; i < 250 && waitpid(host_pid, NULL, WNOHANG) == 0; i++)
		it_sleep_ms(20);
	kill(host_pid, SIGKILL);
	waitpid(host_pid, NULL, 0);
	host_pid = -1;
}

static void teardown(void)
{
	if (viewer) {
		uint8_t *fb = viewer->frameBuffer;
		rfbClientCleanup(viewer);
		free(fb);
	}
	relay_stop(relay);
	stop_host();
	for (int i = 0; i < 5; i++)
		free(frames[i]);
}

TestSuite(scroll, .fini = teardown, .timeout = 120);

static const char *host_fps = "30";

/* pg-synth-host in scroll mode on a free port; returns the port, or -1. */
static int start_host(bool no_copyrect)
{
	char bin[512], line[256] = "";
	int out[2], port = -1;
	size_t len = 0;
	it_bin_path("pg-synth-host", bin, sizeof(bin));
	if (access(bin, X_OK) != 0 || pipe(out) < 0)
		return -1;
	host_pid = fork();
	if (host_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		close_range(3, ~0u, 0);
		execl(bin, bin, "--mode", "scroll", "--size", "800x600", "--fps", host_fps,
		      "--port", "0", no_copyrect ? "--no-copyrect" : NULL, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	int64_t deadline = it_now_ms() + 10000;
	while (port < 0 && it_now_ms() < deadline && len < sizeof(line) - 1) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		char *at = strstr(line, "listening on 127.0.0.1:");
		if (at && strchr(at, '\n'))
			port = atoi(at + strlen("listening on 127.0.0.1:"));
	}
	/* Its stdout echoes input, which these tests send none of. */
	close(out[0]);
	return port;
}

/* Frame n of the host's scroll mode, as 0x00RRGGBB, rendered by the host itself. */
static uint32_t *render_frame(long n)
{
	char bin[512], path[64], frame[32];
	snprintf(path, sizeof(path), "/tmp/pg-it-scroll-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	close(fd);
	it_bin_path("pg-synth-host", bin, sizeof(bin));
	snprintf(frame, sizeof(frame), "%ld", n);
	pid_t pid = fork();
	if (pid == 0) {
		execl(bin, bin, "--mode", "scroll", "--size", "800x600", "--render-frame", frame,
		      "--output", path, (char *)NULL);
		_exit(127);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	FILE *f = fopen(path, "rb");
	uint32_t *px = malloc((size_t)W * H * 4);
	int w = 0, h = 0, max = 0;
	bool ok = f && px && status == 0 && fscanf(f, "P6 %d %d %d", &w, &h, &max) == 3 && w == W &&
		  h == H && max == 255 && fgetc(f) != EOF;
	for (size_t i = 0; ok && i < (size_t)W * H; i++) {
		int r = fgetc(f), g = fgetc(f), b = fgetc(f);
		ok = b != EOF;
		px[i] = (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b;
	}
	if (f)
		fclose(f);
	unlink(path);
	if (!ok) {
		free(px);
		return NULL;
	}
	return px;
}

/* Whether pic is one of the host's frames, exactly. Frame n shows the page from row 4n
 * (modulo its height, under 3 * CH + 20 rows) above a strip with its number, so five
 * frames CH / 4 apart hold every row any frame shows: find the row the picture starts
 * at, then compare it whole with the frame that starts there. */
static bool is_a_frame(const uint32_t *pic, long *frame)
{
	for (int i = 0; i < 5; i++) {
		if (!frames[i])
			frames[i] = render_frame((long)i * CH / 4);
		cr_assert_not_null(frames[i], "pg-synth-host --render-frame failed");
	}
	for (int off = 0; off <= 4 * CH; off += 4) {
		int y = 0;
		for (; y < CH; y++) {
			int t = off + y;
			if (memcmp(pic + (size_t)y * W, frames[t / CH] + (size_t)(t % CH) * W,
				   (size_t)W * 4))
				break;
		}
		if (y < CH)
			continue;
		/* synth_draw.c's page height; a few seconds of scrolling stay in the
		 * first pass through the page, but allow for a slow machine. */
		const int page_h = (3 * CH / 20 + 1) * 20;
		for (long n = off / 4; n < off / 4 + 3 * page_h / 4; n += page_h / 4) {
			uint32_t *want = render_frame(n);
			cr_assert_not_null(want, "pg-synth-host --render-frame failed");
			bool same = !memcmp(pic, want, (size_t)W * H * 4);
			free(want);
			if (same) {
				*frame = n;
				return true;
			}
		}
	}
	return false;
}

static int counts_tag;

static void on_copy_rect(rfbClient *c, int sx, int sy, int w, int h, int dx, int dy)
{
	struct counts *k = rfbClientGetClientData(c, &counts_tag);
	k->copyrects++;
	if (k->updates)
		k->copied += (long long)w * h;
	k->copy_rect(c, sx, sy, w, h, dx, dy);
}

/* Every rectangle, CopyRects included (libvncclient calls this after each). */
static void on_rect(rfbClient *c, int x, int y, int w, int h)
{
	struct counts *k = rfbClientGetClientData(c, &counts_tag);
	(void)x;
	(void)y;
	if (k->updates)
		k->painted += (long long)w * h;
}

static void on_update(rfbClient *c)
{
	struct counts *k = rfbClientGetClientData(c, &counts_tag);
	k->updates++;
}

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

/* A libvncclient viewer asking for CopyRect and ZRLE (lossless), pumped by pump(). */
static rfbClient *connect_viewer(int port)
{
	char *argv[] = {"pg-it-scroll", NULL};
	int argc = 1;
	rfbClientLog = rfbClientErr = quiet;
	rfbClient *c = rfbGetClient(8, 3, 4);
	if (!c)
		return NULL;
	rfbClientSetClientData(c, &counts_tag, &counts);
	counts.copy_rect = c->GotCopyRect;
	c->GotCopyRect = on_copy_rect;
	c->FinishedFrameBufferUpdate = on_update;
	c->GotFrameBufferUpdate = on_rect;
	c->appData.encodingsString = "copyrect zrle";
	c->serverHost = strdup("127.0.0.1");
	c->serverPort = port;
	c->connectTimeout = 5;
	c->readTimeout = 10;
	if (!rfbInitClient(c, &argc, argv))
		return NULL; /* freed by rfbInitClient */
	return c;
}

static bool pump(rfbClient *c, int ms)
{
	int64_t end = it_now_ms() + ms;
	while (it_now_ms() < end) {
		int n = WaitForMessage(c, 50000);
		if (n < 0)
			return false;
		if ((n > 0 || c->buffered) && !HandleRFBServerMessage(c))
			return false;
	}
	return true;
}

/* The viewer's picture as 0x00RRGGBB (rfbGetClient(8, 3, 4): red in the low byte). */
static uint32_t *snapshot(rfbClient *c)
{
	uint32_t *out = malloc((size_t)W * H * 4);
	const uint8_t *p = c->frameBuffer;
	cr_assert(out && c->width == W && c->height == H);
	for (size_t i = 0; i < (size_t)W * H; i++)
		out[i] = (uint32_t)p[4 * i] << 16 | (uint32_t)p[4 * i + 1] << 8 | p[4 * i + 2];
	return out;
}

struct stats {
	/* big: after the first, over half the screen and far more than its copy left
	 * to paint (a copy of c rows exposes H - c; a wrong copy exposes nothing). */
	long updates, copies, big;
	long long pixels, first_pixels;
};

/* The relay's debug line per update: "update of N rectangles (P pixels)[ after a
 * copy ...]", read from its log through /proc. Big updates count from the update
 * after the first `skip` on. */
static struct stats relay_stats_from(long skip)
{
	struct stats s = {0};
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/fd/1", (int)relay_pid(relay));
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot read the relay's log: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, "update of ");
		int n, cw = 0, ch = 0;
		long long px;
		if (!at || sscanf(at, "update of %d rectangles (%lld pixels) after a copy of %dx%d",
				  &n, &px, &cw, &ch) < 2)
			continue;
		long long exposed = ch ? (long long)W * (H - ch) : (long long)W * H;
		if (!s.updates++) {
			s.first_pixels = px;
		} else {
			s.pixels += px;
			s.big += s.updates > skip && px > (long long)W * H / 2 &&
				 px > exposed + (long long)W * H / 8;
		}
		s.copies += strstr(at, "after a copy") != NULL;
	}
	fclose(f);
	return s;
}

static struct stats relay_stats(void)
{
	return relay_stats_from(1);
}

/* Stop the host and let what was on its way arrive (the relay keeps the last picture):
 * the viewer's picture must be exactly one of the host's frames. Returns which. */
static long expect_a_frame_after_stop(void)
{
	stop_host();
	pump(viewer, 1500);
	uint32_t *pic = snapshot(viewer);
	long frame = -1;
	bool exact = is_a_frame(pic, &frame);
	free(pic);
	if (!exact && relay)
		relay_dump_log(relay, 4000);
	cr_assert(exact, "the viewer's picture is none of the host's frames");
	return frame;
}

/* Scroll for a while through the relay, stop the host, and check what the viewer keeps
 * and what the worker published. */
static void run_with(bool no_copyrect, const char *const *relay_args)
{
	/* Stopping libvncserver cuts its last update short, and a viewer connected to it
	 * keeps that half; the relay only ever publishes whole updates. */
	if (it_direct_mode())
		cr_skip_test("direct mode: the host's last update is cut short when it stops");
	int port = start_host(no_copyrect);
	cr_assert(port > 0, "pg-synth-host did not start");
	int front = it_front_port_for(port, &relay, relay_args);
	cr_assert(front > 0, "relay did not start");
	viewer = connect_viewer(front);
	cr_assert_not_null(viewer, "viewer did not connect");
	cr_assert(pump(viewer, 3000), "viewer lost the connection while scrolling");
	long frame = expect_a_frame_after_stop();
	cr_log_info("%s: viewer ended on frame %ld after %d updates (%d CopyRects)",
		    no_copyrect ? "--no-copyrect" : "CopyRect", frame, counts.updates,
		    counts.copyrects);
	if (!relay)
		return; /* direct mode: no worker to measure */
	struct stats s = relay_stats();
	cr_assert_gt(s.updates, 10, "only %ld updates in 3 s of scrolling", s.updates);
	long long per = s.pixels / (s.updates - 1);
	cr_log_info("%s: %ld updates, the first %lld pixels, then %lld pixels each on "
		    "average (%.1f%% of the screen), %ld with a copy",
		    no_copyrect ? "--no-copyrect" : "CopyRect", s.updates, s.first_pixels, per,
		    100.0 * (double)per / (W * H), s.copies);
	cr_assert_eq(s.first_pixels, (long long)W * H, "the first update is the whole screen");
	/* Each frame brings 4 new rows (a few frames' worth when updates merge): a tile
	 * row or two of pixels, not the 576 rows that moved. */
	cr_assert_lt(per, (long long)W * H / 4, "%lld pixels per update", per);
	cr_assert_geq(s.copies * 10, (s.updates - 1) * 8, "%ld of %ld updates with a copy",
		      s.copies, s.updates - 1);
}

static void run(bool no_copyrect)
{
	run_with(no_copyrect, NULL);
}

Test(scroll, host_copyrect_picture_exact)
{
	run(false);
}

/* The host scrolls at 120 frames a second and the viewer may take 8: each CopyRect
 * it gets stands for many scrolls composed (relay/update.c), and its picture must
 * still end exact. */
Test(scroll, composed_copies_picture_exact)
{
	static const char *const args[] = {"--max-fps", "8", NULL};
	host_fps = "120";
	run_with(true, args);
	cr_assert_geq(counts.copyrects * 2, counts.updates, "%d CopyRects in %d updates",
		      counts.copyrects, counts.updates);
	/* Composed, the copies leave a strip per update to paint; a copy that cannot be
	 * composed would be its whole destination, most of the screen. */
	long long painted = counts.painted - counts.copied;
	cr_log_info("composed: %d updates painted %lld pixels beside their CopyRects",
		    counts.updates, painted);
	cr_assert_lt(painted / (counts.updates - 1), (long long)W * H / 4,
		     "%lld pixels painted per update", painted / (counts.updates - 1));
}

Test(scroll, repaints_picture_exact)
{
	run(true);
}

/* The moves reach a viewer that accepts CopyRect as CopyRects (needs the viewer side:
 * relay/update.c's pg_viewer_copy). */
static void expect_copyrects(bool no_copyrect)
{
	if (it_direct_mode() && no_copyrect)
		cr_skip_test("direct mode: the host itself sends no CopyRect");
	int port = start_host(no_copyrect);
	cr_assert(port > 0, "pg-synth-host did not start");
	int front = it_front_port_for(port, &relay, NULL);
	cr_assert(front > 0, "relay did not start");
	viewer = connect_viewer(front);
	cr_assert_not_null(viewer, "viewer did not connect");
	cr_assert(pump(viewer, 3000), "viewer lost the connection while scrolling");
	cr_log_info("%s: %d CopyRects in %d updates", no_copyrect ? "--no-copyrect" : "CopyRect",
		    counts.copyrects, counts.updates);
	cr_assert_geq(counts.copyrects * 2, counts.updates, "%d CopyRects in %d updates",
		      counts.copyrects, counts.updates);
}

Test(scroll, copyrects_reach_viewer_from_host)
{
	expect_copyrects(false);
}

Test(scroll, copyrects_reach_viewer_from_repaints)
{
	expect_copyrects(true);
}

/* The main process stalls (here: stopped for 100 ms at a time) while the host goes on
 * scrolling at 120 frames a second (60 under a sanitizer): the worker, waiting for
 * its ACK, takes a dozen CopyRects into one publish. None of them is the net move;
 * the worker must find it, or each such publish repaints the whole scrolled area. */
Test(scroll, copies_merged_while_the_relay_is_busy)
{
	if (it_direct_mode())
		cr_skip_test("relay-only: the worker merges the host's updates");
	/* A sanitizer's slow worker (on a busy machine) can fall over a second
	 * behind: 576 rows at 120 frames a second, a move nothing is left of. Half
	 * the speed keeps every merged move findable. */
	host_fps = it_relay_instrumented() ? "60" : "120";
	int port = start_host(false);
	cr_assert(port > 0, "pg-synth-host did not start");
	int front = it_front_port_for(port, &relay, NULL);
	cr_assert(front > 0, "relay did not start");
	viewer = connect_viewer(front);
	cr_assert_not_null(viewer, "viewer did not connect");
	cr_assert(pump(viewer, 500), "viewer lost the connection");
	/* Until the viewer's first updates, the host (whose clock started with it)
	 * may be far enough ahead to repaint everything; count from the stalls on. */
	long before = relay_stats().updates;
	int stalls = 0;
	for (int64_t end = it_now_ms() + 3000; it_now_ms() < end; stalls++) {
		kill(relay_pid(relay), SIGSTOP);
		it_sleep_ms(100);
		kill(relay_pid(relay), SIGCONT);
		cr_assert(pump(viewer, 100), "viewer lost the connection while scrolling");
	}
	expect_a_frame_after_stop();
	struct stats s = relay_stats_from(before);
	cr_log_info("%d stalls: %ld updates, %ld with a copy, %ld over half the screen", stalls,
		    s.updates, s.copies, s.big);
	cr_assert_gt(s.updates - before, 10, "only %ld updates", s.updates - before);
	cr_assert_leq(s.big, 2, "%ld of %ld updates repainted over half the screen", s.big,
		      s.updates - before);
}
