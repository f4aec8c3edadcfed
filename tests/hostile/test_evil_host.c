/* The evil browser host: a scripted RFB server (evilhost_util.h) says everything a
 * compromised browser host could, to the real relay and its upstream worker. For each
 * attack:
 *
 * - the relay's main process lives on, its memory bounded (VmRSS before and after);
 * - the worker gives the host up, with a log line naming why ("session HOST:PORT:
 *   upstream worker: browser host: ...") and a worker-exit audit event carrying the
 *   same reason; or, for floods of valid traffic, absorbs them;
 * - where the attack costs work, a healthy session beside it in the same relay (user
 *   good, routed to a libvncserver host whose pixels keep changing, watched by a
 *   libvncclient viewer) keeps at least half the update rate it had just before the
 *   attack: the main process is shared, so this is where a flood would show.
 *
 * User evil is routed to the evil host; its session starts when it logs in (a raw
 * VeNCrypt client that then just waits). The session retries after each failure
 * ([upstream] reconnect_max = 1), and the host's script plays its variants one
 * connection after another. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "auth_util.h"
#include "evilhost_util.h"
#include "harness_util.h"

#define EW 64 /* the evil host's framebuffer */
#define EH 48
#define HW 160 /* the healthy host's */
#define HH 120

/* Growth of the relay's resident set an attack may cause (KiB). */
#define RSS_SLACK_KIB (24 * 1024)

#define PW "evil-host-test-pw"

static struct au_env env;
static struct eh_host *evil;
static struct it_relay *relay;
static int mute_port; /* > 0: user mute is routed there */
static struct au_tls *trigger,
    *trigger_mute;		  /* evil's raw login, for hosts that fail the handshake */
static struct au_viewer *eviewer; /* or evil's viewer, for hosts that get past it */
static long rss_before;

/* The healthy session, in the same relay. */
static struct it_host *hhost;
static struct au_viewer *hviewer;
static pthread_t painter;
static volatile bool painting;
static bool painter_running;

/* Under ASan, freed memory waits in a quarantine (256 MiB by default) and counts in
 * the relay's RSS; keep it small so the bounds below are the relay's own. Ignored by
 * a relay built without ASan. */
__attribute__((constructor)) static void small_asan_quarantine(void)
{
	static char opts[1024];
	const char *o = getenv("ASAN_OPTIONS");
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=4", o ? o : "", o && *o ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
}

static void teardown(void)
{
	if (painter_running) {
		painting = false;
		pthread_join(painter, NULL);
		painter_running = false;
	}
	au_viewer_stop(hviewer);
	au_tls_free(trigger);
	au_tls_free(trigger_mute);
	au_viewer_stop(eviewer);
	relay_stop(relay);
	if (hhost)
		host_free(hhost);
	eh_stop(evil);
	au_env_free(&env);
}

TestSuite(evil_host, .fini = teardown, .timeout = 60);

/* ---- the relay: user evil is routed to the evil host, user good to a healthy one ---- */

static void *paint(void *arg)
{
	for (unsigned seed = 2; painting; seed++) {
		host_change_region(hhost, (int)(seed * 37 % (HW - 32)),
				   (int)(seed * 53 % (HH - 32)), 32, 32, seed);
		it_sleep_ms(10);
	}
	return NULL;
}

static void healthy_start(void)
{
	const struct au_login l = {
	    .user = "good", .password = PW, .ca_file = env.cert, .subtype = 262 /* X509Plain */};
	hviewer = au_viewer_start(relay_port(relay), &l, NULL);
	if (!hviewer)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(hviewer, "the healthy viewer could not log in");
	painting = true;
	cr_assert_eq(pthread_create(&painter, NULL, paint, NULL), 0);
	painter_running = true;
	int64_t deadline = it_now_ms() + 5000;
	int u0 = au_viewer_updates(hviewer);
	while (au_viewer_updates(hviewer) < u0 + 5 && it_now_ms() < deadline)
		it_sleep_ms(20);
	cr_assert_geq(au_viewer_updates(hviewer), u0 + 5, "the healthy viewer gets no updates");
}

/* Updates a second the healthy viewer received over ms. */
static double healthy_rate(int ms)
{
	int u0 = au_viewer_updates(hviewer);
	int64_t t0 = it_now_ms();
	it_sleep_ms(ms);
	return (au_viewer_updates(hviewer) - u0) * 1000.0 / (double)(it_now_ms() - t0);
}

static void healthy_check(double base, double during, const char *what)
{
	cr_log_info("%s: healthy session %.1f updates/s before, %.1f during", what, base, during);
	cr_assert_gt(base, 2.0, "healthy session too slow to measure (%.1f/s)", base);
	cr_assert_geq(during, 0.5 * base,
		      "%s starved the healthy session: %.1f updates/s, %.1f before", what, during,
		      base);
	cr_assert(au_viewer_connected(hviewer), "the healthy viewer lost its connection");
}

/* The relay with users good and evil, evil routed to a new evil host running script
 * (extra: more config lines, in [upstream]); with healthy, good's viewer connected
 * and its host painting. Then evil logs in, which starts its session. */
static void evil_start(eh_script script, void *arg, const char *extra, bool healthy)
{
	char hash[256], users[1024], cfg[1024], mute[64] = "";
	cr_assert(au_env_init(&env, true), "cannot make the scratch folder or certificate");
	cr_assert(au_hash(&env, PW, hash, sizeof(hash)), "pixelgate-passwd failed");
	snprintf(users, sizeof(users), "good::%s::\nevil::%s::\nmute::%s::\n", hash, hash, hash);
	cr_assert(au_write_file(env.users, 0600, users));
	evil = eh_start(script, arg);
	cr_assert_not_null(evil, "evil host did not start");
	hhost = host_start(HW, HH, NULL);
	cr_assert_not_null(hhost, "healthy host did not start");
	if (mute_port > 0)
		snprintf(mute, sizeof(mute), "user.mute = 127.0.0.1:%d\n", mute_port);
	snprintf(cfg, sizeof(cfg),
		 "\n[upstream]\nreconnect_max = 1\n%s[routes]\nuser.evil = 127.0.0.1:%d\n%s",
		 extra ? extra : "", eh_port(evil), mute);
	cr_assert(au_write_config(&env, cfg));
	relay = au_relay_start(&env, host_port(hhost));
	cr_assert_not_null(relay, "relay did not start");
	if (healthy)
		healthy_start();
}

/* The evil user logs in, which starts the session and the attack: with a viewer
 * (libvncclient, which needs the host's handshake to succeed) or with a raw client
 * that stops after the login. */
static void evil_login(bool viewer)
{
	rss_before = it_rss_kib(relay_pid(relay));
	cr_assert_gt(rss_before, 0);
	if (viewer) {
		const struct au_login l = {
		    .user = "evil", .password = PW, .ca_file = env.cert, .subtype = 262};
		eviewer = au_viewer_start(relay_port(relay), &l, NULL);
		if (!eviewer)
			relay_dump_log(relay, 4000);
		cr_assert_not_null(eviewer, "the evil user's viewer could not connect");
		return;
	}
	trigger = au_tls_open(relay_port(relay), env.cert);
	cr_assert_not_null(trigger, "the evil user's viewer got no TLS");
	cr_assert_eq(au_tls_send_plain(trigger, "evil", 4, PW, strlen(PW)), 0);
}

/* The evil user's viewer, if any, is still there: a bad host costs viewers nothing
 * but fresh pixels. */
static void expect_viewer_kept(void)
{
	if (eviewer)
		cr_assert(au_viewer_connected(eviewer), "the evil session's viewer was closed");
}

__attribute__((format(printf, 1, 2))) static void fail_with_log(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	relay_dump_log(relay, 6000);
	cr_assert_fail("%s", msg);
}

/* The worker gave the host up: the log line, the audit event with the reason, the
 * connection closed by the worker (the n-th so far), the relay alive. */
static void expect_given_up(const char *log_needle, const char *audit_needle, int n)
{
	char needle[512], line[4096];
	snprintf(needle, sizeof(needle), "upstream worker: %s", log_needle);
	if (!relay_log_wait(relay, needle, 20000))
		fail_with_log("relay log lacks \"%s\"", needle);
	if (!au_audit_wait(env.audit, line, sizeof(line), 5000, "\"event\":\"worker-exit\"",
			   audit_needle, NULL))
		fail_with_log("no worker-exit audit event with \"%s\"", audit_needle);
	cr_assert(strstr(line, "\"reason\":\""), "worker-exit without a reason: %s", line);
	/* Not only this one: no worker went without saying why. */
	int exits = au_audit_count(env.audit, "\"event\":\"worker-exit\"", NULL);
	int said = au_audit_count(env.audit, "\"event\":\"worker-exit\"", "\"reason\":\"", NULL);
	if (said != exits)
		fail_with_log("%d of %d worker-exit events lack the reason", exits - said, exits);
	cr_assert(eh_wait(evil, eh_peer_closed, n, 5000),
		  "the worker did not close its connection to the host (%d of %d)",
		  eh_peer_closed(evil), n);
	cr_assert(relay_alive(relay), "the relay's main process died");
}

static void expect_rss_bounded(long slack_kib)
{
	long after = it_rss_kib(relay_pid(relay));
	cr_log_info("relay VmRSS %ld KiB before, %ld KiB after", rss_before, after);
	cr_assert_gt(after, 0, "relay gone");
	cr_assert_lt(after - rss_before, slack_kib, "relay grew from %ld to %ld KiB", rss_before,
		     after);
}

/* ---- scripted attacks: one variant per connection, in turn ---- */

struct variant {
	bool handshake; /* a correct handshake first (64x48) */
	const uint8_t *msg;
	size_t len;
	int gap_ms;	   /* > 0: dribbled one byte at a time */
	const char *log;   /* expected after "upstream worker: " */
	const char *audit; /* expected in the worker-exit event */
};

struct attack {
	int n;
	struct variant v[6];
};

static void play(struct eh_conn *c, int index, void *arg)
{
	const struct attack *a = arg;
	const struct variant *v = &a->v[index % a->n];
	if (v->handshake &&
	    (!eh_handshake(c, EW, EH, NULL, "evil", 4) || !eh_wait_requests(c, 1, 5000)))
		return;
	if (v->gap_ms > 0 ? !eh_dribble(c, v->msg, v->len, v->gap_ms) : !eh_send(c, v->msg, v->len))
		return;
	eh_wait_closed(c, 10000);
}

/* Every variant in turn, then the RSS bound. */
static void run_attack(const struct attack *a)
{
	evil_start(play, (void *)a, NULL, false);
	evil_login(a->v[0].handshake);
	for (int i = 0; i < a->n; i++)
		expect_given_up(a->v[i].log, a->v[i].audit, i + 1);
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}

/* Handshake bytes up to ServerInit (RFB 3.8, None, result OK) with w x h, pixel format
 * fmt (NULL: canonical) and a name length. */
static size_t server_init(uint8_t *b, int w, int h, const uint8_t *fmt, uint32_t name_len)
{
	static const uint8_t canonical[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	memcpy(b, "RFB 003.008\n\x01\x01\0\0\0\0", 18);
	eh_put16(b + 18, (unsigned)w);
	eh_put16(b + 20, (unsigned)h);
	memcpy(b + 22, fmt ? fmt : canonical, 16);
	eh_put32(b + 38, name_len);
	return 42;
}

/* ---- handshakes ---- */

Test(evil_host, malformed_handshakes)
{
	static uint8_t refused[12 + 5], many[12 + 256], init33[12 + 4];
	memcpy(refused, "RFB 003.008\n\0", 13);
	eh_put32(refused + 13, 0xffffffffu);
	memcpy(many, "RFB 003.008\n\xff", 13);
	memset(many + 13, 19, 255);
	memcpy(init33, "RFB 003.003\n", 12);
	eh_put32(init33 + 12, 0x7fffffffu);
	static struct attack a = {
	    4,
	    {{false, (const uint8_t *)"XYZ 003.008\n", 12, 0,
	      "browser host: ProtocolVersion: host speaks \"XYZ 003.008\"", "host speaks"},
	     {false, refused, sizeof(refused), 0,
	      "browser host: host refused the connection; reason length 4294967295 over limit 1024",
	      "reason length 4294967295 over limit 1024"},
	     {false, init33, sizeof(init33), 0,
	      "browser host: security: RFB 3.3 host chose type 2147483647",
	      "chose type 2147483647"},
	     {false, many, sizeof(many), 0,
	      "browser host: security: no usable type; host offered 19, 19, 19",
	      "no usable type"}}};
	run_attack(&a);
}

/* A correct handshake one byte at a time is a handshake; a dribbled bad one is
 * refused like any other. */
static void dribble_script(struct eh_conn *c, int index, void *arg)
{
	uint8_t *raw;
	if (!eh_handshake_gap(c, index == 0 ? EW : 0, index == 0 ? EH : 0, NULL, "dribbled", 8, 2))
		return;
	if (index > 0) {
		eh_wait_closed(c, 10000);
		return;
	}
	/* A whole Raw picture, also a byte at a time (without pauses: 12 KiB). */
	if (!eh_wait_requests(c, 1, 5000) || !(raw = calloc(1, 16 + EW * EH * 4)))
		return;
	size_t n = eh_update_hdr(raw, 1);
	n += eh_rect_hdr(raw + n, 0, 0, EW, EH, 0);
	memset(raw + n, 0x7f, EW * EH * 4);
	eh_dribble(c, raw, n + EW * EH * 4, 0);
	free(raw);
	eh_wait_requests(c, 2, 5000); /* the picture was taken */
				      /* Then hang up, to be dribbled the bad one. */
}

Test(evil_host, dribbled_handshakes)
{
	evil_start(dribble_script, NULL, NULL, false);
	evil_login(false);
	if (!relay_log_wait(relay, "connected to browser host (64x48, \"dribbled\")", 10000))
		fail_with_log("%s", "a dribbled handshake did not connect");
	if (!relay_log_wait(relay, "update of 1 rectangles", 10000))
		fail_with_log("%s", "the dribbled picture did not arrive");
	/* The host hung up the first connection itself. */
	expect_given_up("browser host closed the connection", "browser host closed", 0);
	expect_given_up("browser host: ServerInit: framebuffer 0x0 is empty", "0x0 is empty", 1);
	expect_rss_bounded(RSS_SLACK_KIB);
}

Test(evil_host, framebuffer_65535_square)
{
	static uint8_t init[64], resize[32];
	size_t n = server_init(init, 65535, 65535, NULL, 0);
	size_t r = eh_update_hdr(resize, 1);
	r += eh_rect_hdr(resize + r, 0, 0, 65535, 65535, -223);
	static struct attack a = {
	    2,
	    {{false, init, 0, 0,
	      "browser host: ServerInit: framebuffer 65535x65535 exceeds the limit 3840x2160",
	      "framebuffer 65535x65535 exceeds the limit"},
	     {true, resize, 0, 0,
	      "browser host: DesktopSize: framebuffer 65535x65535 exceeds the limit 3840x2160",
	      "DesktopSize: framebuffer 65535x65535 exceeds the limit"}}};
	a.v[0].len = n;
	a.v[1].len = r;
	run_attack(&a);
}

/* The host's pixel format is its own business: pixelgate sets the canonical one and
 * decodes only that. Each connection proves it, then the host hangs up. */
static const uint8_t bad_formats[3][16] = {
    {0},							      /* all zero */
    {7, 99, 5, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 200, 201, 202}, /* nonsense */
    {8, 8, 0, 0},						      /* a colour map */
};
static uint8_t formats_seen[3][16];

static void formats_script(struct eh_conn *c, int index, void *arg)
{
	uint8_t upd[16 + EW * EH * 4] = {0};
	if (!eh_handshake(c, EW, EH, bad_formats[index % 3], "fmt", 3) ||
	    !eh_wait_requests(c, 1, 5000))
		return;
	if (index < 3)
		eh_pixfmt(c, formats_seen[index]);
	size_t n = eh_update_hdr(upd, 1);
	n += eh_rect_hdr(upd + n, 0, 0, EW, EH, 0);
	if (!eh_send(c, upd, n + EW * EH * 4) || !eh_wait_requests(c, 2, 5000))
		return;
	if (index >= 2)
		eh_pump(c, 60000); /* the third one stays */
}

Test(evil_host, bad_pixel_formats_in_server_init)
{
	static const uint8_t canonical[16] = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0};
	evil_start(formats_script, NULL, NULL, false);
	evil_login(true);
	int64_t deadline = it_now_ms() + 15000;
	while (au_log_lines(relay, "connected to browser host (64x48") < 3 &&
	       it_now_ms() < deadline)
		it_sleep_ms(50);
	if (au_log_lines(relay, "connected to browser host (64x48") < 3)
		fail_with_log("%s", "not every odd pixel format led to a session");
	deadline = it_now_ms() + 5000;
	while (au_log_lines(relay, "update of 1 rectangles") < 3 && it_now_ms() < deadline)
		it_sleep_ms(50);
	if (au_log_lines(relay, "update of 1 rectangles") < 3)
		fail_with_log("%s", "not every session showed a picture");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(memcmp(formats_seen[i], canonical, 16), 0,
			     "connection %d: the worker did not set the canonical pixel format", i);
	cr_assert_not(relay_log_contains(relay, "broke the channel protocol"));
	cr_assert(relay_alive(relay));
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}

Test(evil_host, desktop_name_length_ffffffff)
{
	static uint8_t init[64];
	static struct attack a = {
	    1,
	    {{false, init, 0, 0, "browser host: ServerInit: name length 4294967295 over limit 4096",
	      "name length 4294967295 over limit 4096"}}};
	a.v[0].len = server_init(init, EW, EH, NULL, 0xffffffffu);
	run_attack(&a);
}

/* ---- server messages ---- */

Test(evil_host, server_cut_text_lengths)
{
	static uint8_t m[3][8];
	static const uint32_t lens[3] = {0xffffffffu, 0x7fffffffu, 0x80000000u};
	for (int i = 0; i < 3; i++) {
		m[i][0] = 3;
		eh_put32(m[i] + 4, lens[i]);
	}
	static struct attack a = {
	    3,
	    {{true, m[0], 8, 0, "browser host: ServerCutText: extended length 1 under 4",
	      "extended length 1 under 4"},
	     {true, m[1], 8, 0, "browser host: ServerCutText: length 2147483647 over limit 1048576",
	      "length 2147483647 over limit 1048576"},
	     {true, m[2], 8, 0,
	      "browser host: ServerCutText: extended length 2147483648 over limit 1048576",
	      "extended length 2147483648 over limit"}}};
	run_attack(&a);
}

Test(evil_host, colour_map_and_unknown_messages)
{
	static const uint8_t cmap[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t t200[] = {200, 0, 0, 0}, t255[] = {255, 0, 0, 0}, t151[] = {151};
	/* A Fence (never asked for) with a payload over the spec's 64 bytes: refused
	 * from its header. */
	static const uint8_t fence65[9] = {248, 0, 0, 0, 0x80, 0, 0, 0, 65};
	static struct attack a = {
	    5,
	    {{true, cmap, sizeof(cmap), 0,
	      "browser host: SetColourMapEntries: host uses a colour map, pixelgate asked for "
	      "true colour",
	      "SetColourMapEntries"},
	     {true, t200, sizeof(t200), 0, "browser host: server message type 200 unknown",
	      "type 200 unknown"},
	     {true, t255, sizeof(t255), 0, "browser host: server message type 255 unknown",
	      "type 255 unknown"},
	     {true, t151, sizeof(t151), 0, "browser host: server message type 151 unknown",
	      "type 151 unknown"},
	     {true, fence65, sizeof(fence65), 0,
	      "browser host: Fence: payload length 65 over the limit of 64",
	      "Fence: payload length 65"}}};
	run_attack(&a);
}

Test(evil_host, rectangles_outside_the_framebuffer)
{
	static uint8_t m[4][64];
	size_t n[4];
	n[0] = eh_update_hdr(m[0], 1);
	n[0] += eh_rect_hdr(m[0] + n[0], EW - 8, 0, 16, 16, 0);
	n[1] = eh_update_hdr(m[1], 1);
	n[1] += eh_rect_hdr(m[1] + n[1], 65535, 65535, 2, 2, 16);
	n[2] = eh_update_hdr(m[2], 1);
	n[2] += eh_rect_hdr(m[2] + n[2], 0, 0, 16, 16, 1);
	eh_put16(m[2] + n[2], EW - 4);
	eh_put16(m[2] + n[2] + 2, EH - 4);
	n[2] += 4;
	/* A good rectangle first, then one as tall as RFB allows. */
	n[3] = eh_update_hdr(m[3], 2);
	n[3] += eh_rect_hdr(m[3] + n[3], 0, 0, 1, 1, 0);
	n[3] += 4;
	n[3] += eh_rect_hdr(m[3] + n[3], 0, 0, 1, 65535, 0);
	static struct attack a = {
	    4,
	    {{true, m[0], 0, 0,
	      "browser host: rect 1 of update: 16x16 at 56,0 outside the 64x48 framebuffer",
	      "16x16 at 56,0 outside"},
	     {true, m[1], 0, 0,
	      "browser host: rect 1 of update: 2x2 at 65535,65535 outside the 64x48 framebuffer",
	      "2x2 at 65535,65535 outside"},
	     {true, m[2], 0, 0,
	      "browser host: rect 1 of update: CopyRect source 16x16 at 60,44 outside the 64x48 "
	      "framebuffer",
	      "CopyRect source 16x16 at 60,44 outside"},
	     {true, m[3], 0, 0,
	      "browser host: rect 2 of update: 1x65535 at 0,0 outside the 64x48 framebuffer",
	      "1x65535 at 0,0 outside"}}};
	for (int i = 0; i < 4; i++)
		a.v[i].len = n[i];
	run_attack(&a);
}

Test(evil_host, encodings_never_requested)
{
	static uint8_t m[3][32];
	static const int32_t enc[3] = {5, 2, -999};
	for (int i = 0; i < 3; i++) {
		size_t n = eh_update_hdr(m[i], 1);
		eh_rect_hdr(m[i] + n, 0, 0, 16, 16, enc[i]);
		memset(m[i] + 16, 0xee, 16);
	}
	static struct attack a = {
	    3,
	    {{true, m[0], 32, 0,
	      "browser host: rect 1 of update: encoding 5 (Hextile) never requested",
	      "encoding 5 (Hextile) never requested"},
	     {true, m[1], 32, 0, "browser host: rect 1 of update: encoding 2 (RRE) never requested",
	      "encoding 2 (RRE) never requested"},
	     {true, m[2], 32, 0,
	      "browser host: rect 1 of update: encoding -999 (unknown) never requested",
	      "encoding -999 (unknown) never requested"}}};
	run_attack(&a);
}

Test(evil_host, too_many_rectangles)
{
	size_t n0 = 4 + 12 * 10001, n1;
	uint8_t *m0 = calloc(1, n0);
	static uint8_t m1[4];
	cr_assert_not_null(m0);
	size_t off = eh_update_hdr(m0, 65535);
	for (int i = 0; i < 10001; i++) /* empty Raw rectangles: no body */
		off += eh_rect_hdr(m0 + off, 0, 0, 0, 0, 0);
	n1 = eh_update_hdr(m1, 20000);
	static struct attack a = {
	    2,
	    {{true, NULL, 0, 0,
	      "browser host: FramebufferUpdate: rect 10001 before LastRect exceeds the limit of "
	      "10000 rectangles in one update",
	      "rect 10001 before LastRect exceeds the limit"},
	     {true, m1, 0, 0,
	      "browser host: FramebufferUpdate: 20000 rectangles exceed the limit 10000",
	      "20000 rectangles exceed the limit 10000"}}};
	a.v[0].msg = m0;
	a.v[0].len = n0;
	a.v[1].len = n1;
	run_attack(&a);
	free(m0);
}

/* ---- decoders ---- */

static size_t deflate_into(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream zs = {0};
	cr_assert_eq(deflateInit(&zs, 9), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	cr_assert_eq(zs.avail_in, 0);
	size_t len = cap - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

/* A ZRLE (enc 16) or Tight basic (enc 7) rectangle of w x h with body data. */
static size_t zlib_rect(uint8_t *b, int32_t enc, int w, int h, const uint8_t *data, size_t len)
{
	size_t n = eh_update_hdr(b, 1);
	n += eh_rect_hdr(b + n, 0, 0, w, h, enc);
	if (enc == 16) {
		eh_put32(b + n, (uint32_t)len);
		n += 4;
	} else {
		b[n++] = 0x00; /* basic compression, stream 0, copy filter */
		n += eh_compact_len(b + n, len);
	}
	memcpy(b + n, data, len);
	return n + len;
}

Test(evil_host, corrupt_zlib)
{
	static uint8_t junk[64], m[3][128], sub[1] = {17}, zsub[64];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 151 + 7);
	size_t zl = deflate_into(sub, 1, zsub, sizeof(zsub));
	static struct attack a = {
	    3,
	    {{true, m[0], 0, 0,
	      "browser host: rect 1 of update: ZRLE tile at 0,0: corrupt zlib data",
	      "ZRLE tile at 0,0: corrupt zlib data"},
	     {true, m[1], 0, 0, "browser host: rect 1 of update: Tight stream 0: corrupt zlib data",
	      "Tight stream 0: corrupt zlib data"},
	     {true, m[2], 0, 0,
	      "browser host: rect 1 of update: ZRLE tile at 0,0: unknown ZRLE subencoding",
	      "unknown ZRLE subencoding"}}};
	a.v[0].len = zlib_rect(m[0], 16, 16, 16, junk, sizeof(junk));
	a.v[1].len = zlib_rect(m[1], 7, 16, 16, junk, sizeof(junk));
	a.v[2].len = zlib_rect(m[2], 16, 16, 16, zsub, zl);
	run_attack(&a);
}

/* A few dozen KiB of zlib that inflate to 64 MiB, in a 16x16 rectangle: refused at
 * the first surplus byte, while the healthy session goes on. */
Test(evil_host, decompression_bombs)
{
	size_t big = 64u << 20, cap = 1u << 20;
	uint8_t *zeros = calloc(1, big), *z = malloc(cap);
	static uint8_t *m[2];
	cr_assert(zeros && z);
	size_t zl = deflate_into(zeros, big, z, cap);
	free(zeros);
	cr_assert_lt(zl, 256u << 10);
	for (int i = 0; i < 2; i++) {
		m[i] = malloc(zl + 64);
		cr_assert_not_null(m[i]);
	}
	static struct attack a = {
	    2,
	    {{true, NULL, 0, 0,
	      "browser host: rect 1 of update: ZRLE: decompressed data longer than the rectangle",
	      "ZRLE: decompressed data longer than the rectangle"},
	     {true, NULL, 0, 0,
	      "browser host: rect 1 of update: Tight stream 0: decompressed data longer than the "
	      "rectangle",
	      "Tight stream 0: decompressed data longer than the rectangle"}}};
	a.v[0].msg = m[0];
	a.v[0].len = zlib_rect(m[0], 16, 16, 16, z, zl);
	a.v[1].msg = m[1];
	a.v[1].len = zlib_rect(m[1], 7, 16, 16, z, zl);
	free(z);

	evil_start(play, &a, NULL, true);
	double base = healthy_rate(1000);
	evil_login(true);
	double during = healthy_rate(1500);
	for (int i = 0; i < 2; i++)
		expect_given_up(a.v[i].log, a.v[i].audit, i + 1);
	healthy_check(base, during, "decompression bombs");
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
	/* m[] stays: the evil host's thread may still be sending it until the fini. */
}

/* A Tight JPEG rectangle of w x h from TurboJPEG (flags), less its last cut bytes,
 * into b; returns the bytes. */
static size_t jpeg_rect(uint8_t *b, size_t cap, int w, int h, int flags, size_t cut)
{
	tjhandle tj = tjInitCompress();
	uint8_t *rgb = malloc((size_t)w * h * 3), *jpeg = NULL;
	unsigned long jlen = 0;
	cr_assert(tj && rgb);
	for (int i = 0; i < w * h * 3; i++)
		rgb[i] = (uint8_t)(i * 31 % 251);
	cr_assert_eq(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpeg, &jlen, TJSAMP_420, 80, flags),
		     0);
	cr_assert_gt(jlen, cut + 1024);
	jlen -= cut;
	size_t n = eh_update_hdr(b, 1);
	n += eh_rect_hdr(b + n, 0, 0, EW, EH, 7);
	b[n++] = 0x90; /* JPEG */
	n += eh_compact_len(b + n, jlen);
	cr_assert_leq(n + jlen, cap);
	memcpy(b + n, jpeg, jlen);
	tjFree(jpeg);
	tjDestroy(tj);
	free(rgb);
	return n + jlen;
}

Test(evil_host, corrupt_jpeg)
{
	static uint8_t m[4][16384];
	size_t n = eh_update_hdr(m[0], 1);
	n += eh_rect_hdr(m[0] + n, 0, 0, EW, EH, 7);
	m[0][n++] = 0x90;
	m[0][n++] = 100;
	memset(m[0] + n, 0x5a, 100);
	static struct attack a = {
	    4,
	    {{true, m[0], 0, 0,
	      "browser host: rect 1 of update: Tight JPEG: no JPEG start of image",
	      "Tight JPEG: no JPEG start of image"},
	     {true, m[1], 0, 0,
	      "browser host: rect 1 of update: Tight JPEG: JPEG without end of image",
	      "JPEG without end of image"},
	     {true, m[2], 0, 0,
	      "browser host: rect 1 of update: Tight JPEG is 128x96 in a 64x48 rectangle",
	      "Tight JPEG is 128x96 in a 64x48 rectangle"},
	     {true, m[3], 0, 0,
	      "browser host: rect 1 of update: Tight JPEG: JPEG not sequential Huffman",
	      "JPEG not sequential Huffman"}}};
	a.v[0].len = n + 100;
	a.v[1].len = jpeg_rect(m[1], sizeof(m[1]), EW, EH, 0, 100);
	a.v[2].len = jpeg_rect(m[2], sizeof(m[2]), 128, 96, 0, 0);
	a.v[3].len = jpeg_rect(m[3], sizeof(m[3]), EW, EH, TJFLAG_PROGRESSIVE, 0);

	evil_start(play, &a, NULL, true);
	double base = healthy_rate(1000);
	evil_login(true);
	double during = healthy_rate(1500);
	for (int i = 0; i < 4; i++)
		expect_given_up(a.v[i].log, a.v[i].audit, i + 1);
	healthy_check(base, during, "corrupt JPEG");
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}

/* ---- floods and storms: valid traffic, absorbed ---- */

/* Keep sending chunk (len bytes) for ms; false when the worker closed. */
static bool flood(struct eh_conn *c, const uint8_t *chunk, size_t len, int ms)
{
	int64_t end = it_now_ms() + ms;
	while (it_now_ms() < end)
		if (!eh_send(c, chunk, len))
			return false;
	return true;
}

static volatile bool flood_done;

/* A flood of valid traffic (the script sets flood_done once it is all sent) is
 * either absorbed, the worker still connected; or, where a limit says so, the
 * worker gives the host up with its reason logged and audited, as for any attack.
 * Never a worker that dies unexplained, nor one the main process calls broken. */
static void expect_absorbed_or_explained(const char *what)
{
	int64_t deadline = it_now_ms() + 10000;
	while (!flood_done && it_now_ms() < deadline && eh_peer_closed(evil) == 0)
		it_sleep_ms(50);
	int exits = au_audit_count(env.audit, "\"event\":\"worker-exit\"", NULL);
	int said = au_audit_count(env.audit, "\"event\":\"worker-exit\"", "\"reason\":\"", NULL);
	cr_log_info("%s: %s, %d worker exits (%d with a reason), relay log %ld lines, audit "
		    "trail %d records",
		    what, flood_done ? "all sent" : "not all sent", exits, said,
		    au_log_lines(relay, NULL), au_audit_count(env.audit, "\"event\"", NULL));
	if (relay_log_contains(relay, "worker broke the channel protocol"))
		fail_with_log("%s: the main process called the worker broken", what);
	if (eh_peer_closed(evil) == 0) {
		cr_assert(flood_done, "%s: not absorbed, and the worker did not go either", what);
		return;
	}
	if (exits == 0 || said != exits)
		fail_with_log("%s: the worker went without a reason (%d exits, %d with a reason)",
			      what, exits, said);
}

/* Tiny updates as fast as the worker takes them: 1x1 Raw rectangles and empty
 * updates, 64 to a chunk. */
static void tiny_updates_script(struct eh_conn *c, int index, void *arg)
{
	static uint8_t chunk[64 * 24];
	size_t n = 0;
	for (int i = 0; i < 64; i++) {
		if (i % 4 == 3) {
			n += eh_update_hdr(chunk + n, 0);
			continue;
		}
		n += eh_update_hdr(chunk + n, 1);
		n += eh_rect_hdr(chunk + n, i % EW, i % EH, 1, 1, 0);
		eh_put32(chunk + n, (uint32_t)i * 0x010203u);
		n += 4;
	}
	if (!eh_handshake(c, EW, EH, NULL, "flood", 5) || !eh_wait_requests(c, 1, 5000))
		return;
	if (flood(c, chunk, n, 3000))
		flood_done = true;
	eh_pump(c, 60000);
}

Test(evil_host, flood_of_tiny_updates)
{
	evil_start(tiny_updates_script, NULL, NULL, true);
	double base = healthy_rate(1000);
	evil_login(true);
	cr_assert(eh_wait(evil, eh_handshakes, 1, 5000), "no handshake");
	double during = healthy_rate(2000);
	int64_t deadline = it_now_ms() + 10000;
	while (!flood_done && it_now_ms() < deadline && eh_peer_closed(evil) == 0)
		it_sleep_ms(50);
	cr_assert(flood_done, "the flood did not go through (the worker closed: %d)",
		  eh_peer_closed(evil));
	cr_assert_eq(eh_peer_closed(evil), 0, "the worker gave up valid updates");
	cr_assert_not(relay_log_contains(relay, "exited with status"), "the worker failed");
	cr_assert(relay_alive(relay));
	healthy_check(base, during, "a flood of tiny updates");
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}

/* Every update resizes: DesktopSize and ExtendedDesktopSize in turn, between two
 * sizes, each with a rectangle of pixels. */
static void resize_script(struct eh_conn *c, int index, void *arg)
{
	static const int sizes[2][2] = {{640, 480}, {800, 600}};
	uint8_t b[128];
	if (!eh_handshake(c, EW, EH, NULL, "resize", 6) || !eh_wait_requests(c, 1, 5000))
		return;
	int64_t end = it_now_ms() + 3000;
	for (int i = 0; it_now_ms() < end; i++) {
		int w = sizes[i & 1][0], h = sizes[i & 1][1];
		size_t n = eh_update_hdr(b, 2);
		if (i & 2) {
			n += eh_rect_hdr(b + n, 0, 0, w, h, -223);
		} else {
			n += eh_rect_hdr(b + n, 0, 0, w, h, -308);
			memset(b + n, 0, 20);
			b[n] = 1; /* one screen, covering it all */
			eh_put16(b + n + 12, (unsigned)w);
			eh_put16(b + n + 14, (unsigned)h);
			n += 20;
		}
		n += eh_rect_hdr(b + n, 0, 0, 1, 1, 0);
		memset(b + n, 0x33, 4);
		if (!eh_send(c, b, n + 4))
			return;
	}
	flood_done = true;
	eh_pump(c, 60000);
}

Test(evil_host, resize_storm)
{
	evil_start(resize_script, NULL, NULL, true);
	double base = healthy_rate(1000);
	evil_login(true);
	cr_assert(eh_wait(evil, eh_handshakes, 1, 5000), "no handshake");
	double during = healthy_rate(2000);
	expect_absorbed_or_explained("a resize storm");
	cr_log_info("resize storm: %ld resize lines in the relay log",
		    au_log_lines(relay, "browser host framebuffer is"));
	cr_assert(relay_alive(relay));
	healthy_check(base, during, "a resize storm");
	expect_viewer_kept();
	/* Two framebuffers of the larger size may stay: the session's and the mapping. */
	expect_rss_bounded(RSS_SLACK_KIB + 2 * 800 * 600 * 4 / 1024);
}

/* Bells (arg 1) or small clipboard texts (arg 2) as fast as the worker takes them:
 * each is a message on the channel to the main process, and to its viewers. */
static void message_flood_script(struct eh_conn *c, int index, void *arg)
{
	static uint8_t chunk[64 * 13];
	size_t n = 0;
	for (int i = 0; i < 64; i++) {
		if (arg == (void *)1) {
			chunk[n++] = 2; /* Bell */
			continue;
		}
		memset(chunk + n, 0, 8);
		chunk[n] = 3; /* ServerCutText, legacy */
		eh_put32(chunk + n + 4, 5);
		memcpy(chunk + n + 8, "flood", 5);
		n += 13;
	}
	if (!eh_handshake(c, EW, EH, NULL, "messages", 8) || !eh_wait_requests(c, 1, 5000))
		return;
	if (flood(c, chunk, n, 2500))
		flood_done = true;
	eh_pump(c, 60000);
}

static void message_flood(intptr_t kind, const char *what)
{
	evil_start(message_flood_script, (void *)kind, NULL, true);
	double base = healthy_rate(1000);
	evil_login(true);
	cr_assert(eh_wait(evil, eh_handshakes, 1, 5000), "no handshake");
	double during = healthy_rate(2000);
	expect_absorbed_or_explained(what);
	cr_assert(relay_alive(relay));
	healthy_check(base, during, what);
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}

Test(evil_host, bell_flood)
{
	message_flood(1, "a bell flood");
}

Test(evil_host, cut_text_flood)
{
	message_flood(2, "a clipboard flood");
}

/* 25600 cursor shapes (1x1, the cheapest to send; each one a cursor message to the
 * main process), then one of 65535x65535; later connections send that one alone. */
static void cursor_script(struct eh_conn *c, int index, void *arg)
{
	static uint8_t chunk[64 * 21];
	uint8_t huge[16];
	size_t n = 0;
	for (int i = 0; i < 64; i++) {
		n += eh_update_hdr(chunk + n, 1);
		n += eh_rect_hdr(chunk + n, 0, 0, 1, 1, -239);
		eh_put32(chunk + n, (uint32_t)i);
		chunk[n + 4] = 0x80;
		n += 5;
	}
	size_t h = eh_update_hdr(huge, 1);
	h += eh_rect_hdr(huge + h, 0, 0, 65535, 65535, -239);
	if (!eh_handshake(c, EW, EH, NULL, "cursor", 6) || !eh_wait_requests(c, 1, 5000))
		return;
	/* 25600 of them: enough to keep the main process busy when the bomb comes. */
	for (int i = 0; index == 0 && i < 400; i++)
		if (!eh_send(c, chunk, n))
			return;
	if (index == 0)
		flood_done = true;
	if (eh_send(c, huge, h))
		eh_wait_closed(c, 10000);
}

Test(evil_host, cursor_bomb)
{
	evil_start(cursor_script, NULL, NULL, true);
	double base = healthy_rate(1000);
	evil_login(true);
	cr_assert(eh_wait(evil, eh_handshakes, 1, 5000), "no handshake");
	double during = healthy_rate(1500);
	expect_given_up("browser host: rect 1 of update: cursor 65535x65535 over limit 256",
			"cursor 65535x65535 over limit 256", 1);
	cr_assert(flood_done, "the cursor flood did not go through");
	healthy_check(base, during, "a cursor flood");
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}

/* ---- slow hosts ---- */

/* One byte every two seconds: the version alone would take 24 s, over the worker's
 * 15 s for the whole handshake. */
static void slow_handshake_script(struct eh_conn *c, int index, void *arg)
{
	if (eh_dribble(c, "RFB 003.008\n", 12, 2000))
		eh_wait_closed(c, 10000);
}

/* Besides, user mute's host is a listening socket nobody accepts on: the kernel
 * completes the connection, and then nothing, ever (half-open). */
Test(evil_host, stalled_handshakes, .timeout = 60)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  listen(ls, 4) == 0 && getsockname(ls, (struct sockaddr *)&a, &alen) == 0);
	mute_port = ntohs(a.sin_port);
	evil_start(slow_handshake_script, NULL, NULL, true);
	double base = healthy_rate(1000);
	evil_login(false);
	trigger_mute = au_tls_open(relay_port(relay), env.cert);
	cr_assert_not_null(trigger_mute);
	cr_assert_eq(au_tls_send_plain(trigger_mute, "mute", 4, PW, strlen(PW)), 0);
	double during = healthy_rate(2000);
	expect_given_up("browser host did not finish the RFB handshake within 15 s",
			"did not finish the RFB handshake within 15 s", 1);
	int64_t deadline = it_now_ms() + 5000;
	while (au_audit_count(env.audit, "\"event\":\"worker-exit\"",
			      "did not finish the RFB handshake", NULL) < 2 &&
	       it_now_ms() < deadline)
		it_sleep_ms(50);
	cr_assert_eq(au_log_lines(relay, "upstream worker: browser host did not finish the RFB "
					 "handshake within 15 s"),
		     2, "both stalled hosts given up, once each");
	/* The half-open connection was closed by the worker: accepted now, it ends. */
	int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char byte;
	cr_assert_leq(read(fd, &byte, 1), 0, "the half-open connection is still open");
	close(fd);
	close(ls);
	healthy_check(base, during, "stalled handshakes");
	expect_rss_bounded(RSS_SLACK_KIB);
}

/* Past the handshake, an update begun and then fed a byte every half second. */
static void slow_update_script(struct eh_conn *c, int index, void *arg)
{
	uint8_t b[32];
	size_t n = eh_update_hdr(b, 1);
	n += eh_rect_hdr(b + n, 0, 0, EW, EH, 0);
	memset(b + n, 0x44, 8);
	if (!eh_handshake(c, EW, EH, NULL, "slow", 4) || !eh_wait_requests(c, 1, 5000) ||
	    !eh_send(c, b, n + 8))
		return;
	static uint8_t px[EW * EH * 4];
	if (eh_dribble(c, px, sizeof(px), 500))
		return;
	eh_wait_closed(c, 10000);
}

Test(evil_host, update_stalled_midway)
{
	evil_start(slow_update_script, NULL, "update_timeout = 2\n", true);
	double base = healthy_rate(1000);
	evil_login(true);
	double during = healthy_rate(1500);
	expect_given_up("browser host left an update unfinished for 2 s",
			"left an update unfinished", 1);
	healthy_check(base, during, "a stalled update");
	expect_viewer_kept();
	expect_rss_bounded(RSS_SLACK_KIB);
}
