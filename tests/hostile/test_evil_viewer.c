/* Evil viewers against the real relay. Anyone on LGWAN reaches the pre-login parser,
 * so each test here is an attack by a viewer, run while a healthy libvncclient viewer
 * watches a browser host (libvncserver) whose picture changes every 10 ms. For each
 * attack: the offending connection is closed or throttled, with a relay log line and
 * an audit record naming why; the relay's VmRSS stays bounded (plain builds: ASan's
 * quarantine makes RSS meaningless); it does not crash; and the healthy viewer keeps
 * at least RATIO of the update rate it had just before the attack (a ratio measured
 * in the same test, never an absolute time).
 *
 * Cases other tests already prove, and which are not repeated here: file transfer and
 * unknown message types (integration/test_bad_viewer.c: UltraVNC 7, TightVNC 130-136,
 * 200, QEMU subtypes, with message-blocked records), 24 bits per pixel, colour
 * maps and red max 300 (test_bad_viewer.c), garbage and wrong major versions and the
 * security types not offered (test_handshake.c, for the log lines), an idle flood from
 * one address with VeNCrypt logins (test_auth.c), a stalled reader's memory over a
 * churn (test_two_viewers.c), and the web listener's slowloris, floods and framing
 * (test_web_hostile.c). Loopback only; every wait is bounded. */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth_util.h"
#include "evilviewer_util.h"
#include "harness_util.h"
#include "policy_util.h"

#define W	  320
#define H	  240
#define RATIO	  0.5  /* of the baseline rate the healthy viewer must keep */
#define WINDOW_MS 1500 /* the shortest measurement */
#define MAX_FPS	  60   /* the relay's default frame-rate cap */

/* The relay's limits under test (relay/guard.c, relay.h, config defaults). */
#define POINTER_RATE  240
#define CLIP_RATE     10
#define CLIP_BURST    20
#define KEYS_RATE     20
#define KEYS_BURST    40
#define PREAUTH_PER_S 10
#define HANDSHAKES    256

static struct ev_arena arena;
static int *open_fds;
static int nopen;

static void teardown(void)
{
	for (int i = 0; i < nopen; i++)
		if (open_fds[i] >= 0)
			close(open_fds[i]);
	free(open_fds);
	open_fds = NULL;
	nopen = 0;
	ev_arena_stop(&arena);
}

TestSuite(evil_viewer, .fini = teardown, .timeout = 60);

static void start(const char *relay_extra, long soft_nofile)
{
	struct ev_arena_opts o = {
	    .w = W, .h = H, .relay_extra = relay_extra, .soft_nofile = soft_nofile};
	const char *err;

	if (it_direct_mode())
		cr_skip_test("relay-only: every defence tested here is the relay's");
	err = ev_arena_start(&arena, &o);
	cr_assert_null(err, "arena: %s", err);
}

/* Sockets closed by the teardown whatever happens. */
static int keep(int fd)
{
	if (fd >= 0) {
		int *n = realloc(open_fds, sizeof(*n) * (size_t)(nopen + 1));

		cr_assert_not_null(n);
		open_fds = n;
		open_fds[nopen++] = fd;
	}
	return fd;
}

static void forget(int fd)
{
	for (int i = 0; i < nopen; i++)
		if (open_fds[i] == fd)
			open_fds[i] = -1;
	close(fd);
}

static void healthy_kept_up(double base, double during, const char *what)
{
	cr_log_info("%s: healthy viewer %.1f updates/s during, baseline %.1f (%.0f%%)", what,
		    during, base, base > 0 ? 100 * during / base : 0);
	cr_assert(base > 3, "baseline of %.1f updates/s: the arena does not work", base);
	/* Under a sanitizer the flooding thread, the relay and the healthy viewer all run
	 * several times slower on two cores, and the share each gets says little about
	 * pixelgate: there the healthy viewer must only keep moving, and the plain pass
	 * holds it to RATIO. */
	double ratio = it_relay_instrumented() ? 0.05 : RATIO;
	cr_assert(during >= ratio * base,
		  "%s: the healthy viewer got %.1f updates/s, %.0f%% of its baseline %.1f", what,
		  during, 100 * during / base, base);
	cr_assert(viewer_connected(arena.viewer), "%s: the healthy viewer was disconnected", what);
	cr_assert(relay_alive(arena.relay), "%s: the relay died", what);
}

static void memory_bounded(const char *what)
{
	long grew = ev_rss_growth(&arena);

	cr_log_info("%s: relay VmRSS grew by %ld KiB", what, grew);
#if defined(__SANITIZE_ADDRESS__)
	/* AddressSanitizer keeps freed memory in quarantine: RSS says nothing here. */
	(void)grew;
#else
	cr_assert(grew != LONG_MIN, "%s: cannot read the relay's VmRSS", what);
	cr_assert_lt(grew, 64 * 1024, "%s: relay VmRSS grew by %ld KiB", what, grew);
#endif
}

static void must_log_closed(int port, const char *reason, const char *what)
{
	if (!ev_log_closed(&arena, port, reason, 5000)) {
		relay_dump_log(arena.relay, 4000);
		cr_assert_fail("%s: relay log lacks \"127.0.0.1:%d: closed: %s\"", what, port,
			       reason);
	}
}

/* At most PREAUTH_PER_S records of event one by one in each second of the attack. */
static void preauth_records_bounded(const char *event, int64_t attack_ms)
{
	char ev[80];
	int n;

	snprintf(ev, sizeof(ev), "\"event\":\"%s\"", event);
	n = au_audit_count(arena.env.audit, ev, NULL);
	cr_assert_leq(n, PREAUTH_PER_S * (attack_ms / 1000 + 2),
		      "%d %s records one by one in %lld ms: not rate-limited", n, event,
		      (long long)attack_ms);
}

/* ---- the handshake ---- */

static void read_exact(int fd, void *buf, size_t len, const char *what)
{
	cr_assert(raw_client_read(fd, buf, len), "%s: nothing came", what);
}

/* Send one byte at a time, 20 ms apart. */
static void dribble(int fd, const void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(raw_client_send(fd, (const uint8_t *)buf + i, 1), 0,
			     "relay closed a dribbling viewer");
		it_sleep_ms(20);
	}
}

/* A whole handshake and a first update, one byte at a time: the relay must wait. */
static void dribbled_handshake(void)
{
	uint8_t b[64], req[10] = {3, 0, 0, 0, 0, 0, 0, 16, 0, 16};
	int fd = keep(raw_client_open(relay_port(arena.relay), NULL));

	cr_assert_geq(fd, 0);
	dribble(fd, "RFB 003.008\n", 12);
	read_exact(fd, b, 2, "security types");
	cr_assert(b[0] == 1 && b[1] == 1, "security list %u %u", b[0], b[1]);
	dribble(fd, "\x01", 1);
	read_exact(fd, b, 4, "SecurityResult");
	cr_assert_eq(b[0] | b[1] | b[2] | b[3], 0, "SecurityResult failed");
	dribble(fd, "\x01", 1);
	read_exact(fd, b, 24, "ServerInit");
	cr_assert((b[0] << 8 | b[1]) == W && (b[2] << 8 | b[3]) == H);
	uint32_t name = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | b[22] << 8 | b[23];
	while (name) {
		size_t n = name < sizeof(b) ? name : sizeof(b);

		read_exact(fd, b, n, "desktop name");
		name -= (uint32_t)n;
	}
	dribble(fd, req, sizeof(req));
	read_exact(fd, b, 4, "FramebufferUpdate");
	cr_assert_eq(b[0], 0, "message %u instead of an update", b[0]);
	forget(fd);
}

Test(evil_viewer, malformed_and_dribbled_handshakes)
{
	static const char good[] = "RFB 003.008\n";
	static const uint8_t not_offered[] = {0, 2, 19, 255};
	int garbage = 0, refused_types = 0, fins = 0, rounds = 0;
	double base, during;
	struct ev_mark m;
	int64_t t0;

	start(NULL, 0);
	base = ev_baseline(&arena, WINDOW_MS);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	dribbled_handshake();
	do {
		/* A wrong byte at each position of the version: refused at that byte,
		 * without the rest ever being sent. */
		for (int k = 0; k < 12; k++) {
			char v[12];
			int port, fd = keep(raw_client_open(relay_port(arena.relay), NULL));

			cr_assert_geq(fd, 0, "cannot connect");
			port = raw_client_local_port(fd);
			memcpy(v, good, 12);
			v[k] = 'x';
			raw_client_send(fd, v, (size_t)k + 1);
			cr_assert(raw_client_wait_closed(fd, 5000),
				  "relay kept a viewer whose version has 'x' at byte %d", k);
			forget(fd);
			must_log_closed(port, "bad input: malformed handshake", "garbage version");
			garbage++;
		}
		/* A good version, then a security type that was not offered. */
		for (size_t i = 0; i < sizeof(not_offered); i++) {
			uint8_t types[2];
			int port, fd = keep(raw_client_open(relay_port(arena.relay), NULL));

			cr_assert_geq(fd, 0);
			port = raw_client_local_port(fd);
			cr_assert_eq(raw_client_send(fd, good, 12), 0);
			read_exact(fd, types, 2, "security types");
			raw_client_send(fd, &not_offered[i], 1);
			cr_assert(raw_client_wait_closed(fd, 5000), "relay kept security type %u",
				  not_offered[i]);
			forget(fd);
			must_log_closed(port, "viewer chose a security type that was not offered",
					"security type not offered");
			refused_types++;
		}
		/* Half-closed: half a version, then FIN. */
		{
			int port, fd = keep(raw_client_open(relay_port(arena.relay), NULL));

			cr_assert_geq(fd, 0);
			port = raw_client_local_port(fd);
			raw_client_send(fd, good, 6);
			shutdown(fd, SHUT_WR);
			cr_assert(raw_client_wait_closed(fd, 5000),
				  "relay kept a half-closed viewer");
			forget(fd);
			must_log_closed(port, "viewer disconnected", "half-closed");
			fins++;
		}
		rounds++;
	} while (it_now_ms() - t0 < WINDOW_MS);
	during = ev_rate_since(&arena, m);

	/* Every refusal is in the audit trail: one by one, or counted in a summary. */
	long want = garbage + refused_types;
	long got = ev_audit_wait_total(&arena, "message-blocked", NULL, want, 4000);
	cr_assert_eq(got, want, "%ld message-blocked records (with summaries) for %ld refusals",
		     got, want);
	cr_assert_gt(au_audit_count(arena.env.audit, "\"event\":\"message-blocked\"",
				    "\"reason\":\"bad input: malformed handshake\"", NULL),
		     0, "no message-blocked record names the malformed handshake");
	preauth_records_bounded("message-blocked", it_now_ms() - t0);
	cr_assert_eq(au_log_lines(arena.relay, "closed: bad input: malformed handshake"), garbage);
	cr_log_info("%d rounds: %d garbage versions, %d refused types, %d half-closed", rounds,
		    garbage, refused_types, fins);
	memory_bounded("malformed handshakes");
	healthy_kept_up(base, during, "malformed handshakes");
}

#define SLOWLORIS 20

Test(evil_viewer, slowloris_and_half_open_handshakes_time_out)
{
	int slow[SLOWLORIS], sent[SLOWLORIS] = {0}, silent, noinit = -1;
	int64_t opened[SLOWLORIS + 2], closed_at[SLOWLORIS + 2] = {0}, t0, t_noinit = 0;
	uint8_t b[4];
	double base, during;
	struct ev_mark m;
	int left;

	start("auth_timeout = 3\n", 0);
	base = ev_baseline(&arena, WINDOW_MS);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	/* One that never sends a byte. */
	silent = keep(ev_connect_from("127.0.0.1", relay_port(arena.relay), false));
	cr_assert_geq(silent, 0);
	opened[SLOWLORIS] = it_now_ms();
	/* Twenty from twenty addresses, each sending its version a byte every 400 ms
	 * (it would need 4.8 s): each byte comes well inside the deadline. */
	for (int i = 0; i < SLOWLORIS; i++) {
		char src[32];

		snprintf(src, sizeof(src), "127.0.0.%d", 10 + i);
		slow[i] = keep(ev_connect_from(src, relay_port(arena.relay), false));
		cr_assert_geq(slow[i], 0, "connect from %s: %s", src, strerror(errno));
		opened[i] = it_now_ms();
	}
	left = SLOWLORIS + 2;
	while (left > 0 && it_now_ms() - t0 < 9000) {
		int64_t now = it_now_ms();

		/* Later, so its timeout falls in another second of the audit limiter: one
		 * that does the whole handshake but never sends ClientInit. */
		if (noinit < 0 && now - t0 > 1500) {
			noinit = keep(raw_client_open(relay_port(arena.relay), NULL));
			cr_assert_geq(noinit, 0);
			t_noinit = it_now_ms();
			cr_assert_eq(raw_client_send(noinit, "RFB 003.008\n", 12), 0);
			read_exact(noinit, b, 2, "security types");
			cr_assert_eq(raw_client_send(noinit, "\x01", 1), 0);
			read_exact(noinit, b, 4, "SecurityResult");
			cr_assert_eq(b[3], 0);
			opened[SLOWLORIS + 1] = t_noinit;
		}
		for (int i = 0; i < SLOWLORIS; i++) {
			if (closed_at[i])
				continue;
			if (ev_peer_closed(slow[i])) {
				closed_at[i] = now;
				left--;
			} else if (sent[i] < 12 && now - opened[i] >= 400L * sent[i]) {
				send(slow[i], &"RFB 003.008\n"[sent[i]], 1, MSG_NOSIGNAL);
				sent[i]++;
			}
		}
		if (!closed_at[SLOWLORIS] && ev_peer_closed(silent)) {
			closed_at[SLOWLORIS] = now;
			left--;
		}
		if (noinit >= 0 && !closed_at[SLOWLORIS + 1] && ev_peer_closed(noinit)) {
			closed_at[SLOWLORIS + 1] = now;
			left--;
		}
		it_sleep_ms(50);
	}
	during = ev_rate_since(&arena, m);
	for (int i = 0; i < SLOWLORIS + 2; i++) {
		int64_t took = closed_at[i] - opened[i];

		cr_assert(closed_at[i], "connection %d was never closed", i);
		cr_assert(took >= 2500 && took <= 6000,
			  "connection %d closed after %lld ms; the deadline is 3 s", i,
			  (long long)took);
	}
	cr_assert(sent[0] < 12, "the slowloris finished its version: the test is too slow");

	cr_assert_eq(au_log_lines(arena.relay, "closed: handshake not finished in time"),
		     SLOWLORIS + 2);
	long got = ev_audit_wait_total(&arena, "handshake-timeout", NULL, SLOWLORIS + 2, 4000);
	cr_assert_eq(got, SLOWLORIS + 2, "%ld handshake-timeout records (with summaries) for %d",
		     got, SLOWLORIS + 2);
	cr_assert(au_audit_wait(arena.env.audit, NULL, 0, 3000, "\"event\":\"handshake-timeout\"",
				"\"waiting_for\":\"ClientInit\"", NULL),
		  "no handshake-timeout record for the viewer that never sent ClientInit");
	cr_assert_gt(au_audit_count(arena.env.audit, "\"event\":\"handshake-timeout\"",
				    "\"waiting_for\":\"ProtocolVersion\"", NULL),
		     0);
	cr_assert_gt(au_audit_count(arena.env.audit, "\"event\":\"preauth-summary\"",
				    "\"suppressed_event\":\"handshake-timeout\"", NULL),
		     0, "21 timeouts in one second were all written one by one");
	preauth_records_bounded("handshake-timeout", it_now_ms() - t0);
	memory_bounded("slowloris");
	healthy_kept_up(base, during, "slowloris and half-open handshakes");
}

/* ---- bad messages after the handshake ---- */

static size_t pixel_format(uint8_t *m, int bpp, int depth, int true_colour, unsigned red_max,
			   int red_shift)
{
	memset(m, 0, 20);
	m[4] = (uint8_t)bpp;
	m[5] = (uint8_t)depth;
	m[7] = (uint8_t)true_colour;
	ev_put16(m + 8, red_max);
	ev_put16(m + 10, 255);
	ev_put16(m + 12, 255);
	m[14] = (uint8_t)red_shift;
	m[15] = 8;
	m[16] = 0;
	return 20;
}

Test(evil_viewer, bad_messages_close_only_their_viewer)
{
	struct bad {
		const char *what;
		uint8_t msg[24];
		size_t len;
		unsigned type;
		const char *reason;
	} bad[7];
	int n = 0, rounds = 0;
	double base, during;
	struct ev_mark m;
	int64_t t0;

	bad[n] = (struct bad){"bits per pixel 7",
			      {0},
			      0,
			      0,
			      "SetPixelFormat refused: bits per pixel must be 8, 16 or 32"};
	bad[n].len = pixel_format(bad[n].msg, 7, 7, 1, 1, 0);
	n++;
	bad[n] = (struct bad){"depth 0",
			      {0},
			      0,
			      0,
			      "SetPixelFormat refused: depth must be between 1 and bits per pixel"};
	bad[n].len = pixel_format(bad[n].msg, 32, 0, 1, 255, 16);
	n++;
	bad[n] = (struct bad){"red shift 40",
			      {0},
			      0,
			      0,
			      "SetPixelFormat refused: red max is not 2^n-1 or red does not fit"};
	bad[n].len = pixel_format(bad[n].msg, 32, 24, 1, 255, 40);
	n++;
	bad[n] = (struct bad){"red max 0",
			      {0},
			      0,
			      0,
			      "SetPixelFormat refused: red max is not 2^n-1 or red does not fit"};
	bad[n].len = pixel_format(bad[n].msg, 32, 24, 1, 0, 16);
	n++;
	bad[n] = (struct bad){"true colour 0 at 32 bits",
			      {0},
			      0,
			      0,
			      "SetPixelFormat refused: colour-map pixel formats are not supported"};
	bad[n].len = pixel_format(bad[n].msg, 32, 24, 0, 255, 16);
	n++;
	/* -1 to the Extended Clipboard: shorter than its own flags. */
	bad[n] = (struct bad){"ClientCutText of 0xFFFFFFFF bytes",
			      {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
			      8,
			      6,
			      "bad input: ClientCutText: Extended Clipboard payload shorter"};
	n++;
	/* 65535 entries declared, four sent. */
	bad[n] =
	    (struct bad){"SetEncodings of 65535 entries",
			 {2, 0, 0xff, 0xff},
			 20,
			 2,
			 "bad input: SetEncodings lists more encodings than PG_RFB_MAX_ENCODINGS"};
	n++;

	start(NULL, 0);
	base = ev_baseline(&arena, WINDOW_MS);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	/* A round every 300 ms: past the handshake each refusal is an audit record with
	 * its fdatasync, and what is measured is the bad messages, not reconnect speed. */
	do {
		int fds[7], ports[7];
		int64_t r0 = it_now_ms();

		/* All at once, then each must be closed for its own reason. */
		for (int i = 0; i < n; i++) {
			fds[i] = keep(ev_raw_viewer(&arena, 0, &ports[i]));
			cr_assert_geq(fds[i], 0, "%s: handshake failed", bad[i].what);
		}
		for (int i = 0; i < n; i++)
			raw_client_send(fds[i], bad[i].msg, bad[i].len);
		for (int i = 0; i < n; i++) {
			cr_assert(raw_client_wait_closed(fds[i], 5000), "%s: not closed",
				  bad[i].what);
			forget(fds[i]);
			must_log_closed(ports[i], bad[i].reason, bad[i].what);
		}
		rounds++;
		while (it_now_ms() - r0 < 300)
			it_sleep_ms(10);
	} while (it_now_ms() - t0 < WINDOW_MS);
	during = ev_rate_since(&arena, m);

	/* Past the handshake every refusal is a record of its own, naming the message. */
	for (int i = 0; i < n; i++) {
		char type[40], reason[160];
		int same = 0;

		for (int k = 0; k < n; k++)
			same += !strcmp(bad[k].reason, bad[i].reason);
		snprintf(type, sizeof(type), "\"message_type\":%u,", bad[i].type);
		snprintf(reason, sizeof(reason), "\"reason\":\"%s", bad[i].reason);
		cr_assert_eq(au_audit_count(arena.env.audit, "\"event\":\"message-blocked\"", type,
					    reason, NULL),
			     same * rounds, "%s: not one message-blocked record per attempt",
			     bad[i].what);
	}
	cr_assert_eq(au_audit_count(arena.env.audit, "\"message\":\"SetPixelFormat\"", NULL),
		     5 * rounds);
	cr_assert_eq(au_audit_count(arena.env.audit, "\"message\":\"SetEncodings\"", NULL), rounds);
	cr_assert_eq(au_audit_count(arena.env.audit, "\"message\":\"ClientCutText\"", NULL),
		     rounds);
	cr_assert_eq(host_cut_text_count(arena.host), 0);
	cr_log_info("%d rounds of %d bad messages", rounds, n);
	memory_bounded("bad messages");
	healthy_kept_up(base, during, "bad messages");
}

/* ---- update requests ---- */

/* Read one FramebufferUpdate of Raw rectangles (the default a viewer gets without
 * SetPixelFormat and SetEncodings); every rectangle must lie inside the screen. */
static void read_update(int fd)
{
	static uint8_t px[W * H * 4];
	uint8_t hdr[12];
	int n;

	read_exact(fd, hdr, 4, "FramebufferUpdate");
	cr_assert_eq(hdr[0], 0, "message %u instead of FramebufferUpdate", hdr[0]);
	n = hdr[2] << 8 | hdr[3];
	for (int i = 0; i < n; i++) {
		int x, y, w, h;

		read_exact(fd, hdr, 12, "rectangle header");
		x = hdr[0] << 8 | hdr[1];
		y = hdr[2] << 8 | hdr[3];
		w = hdr[4] << 8 | hdr[5];
		h = hdr[6] << 8 | hdr[7];
		cr_assert(w > 0 && h > 0 && x + w <= W && y + h <= H,
			  "rectangle %dx%d at %d,%d outside the %dx%d screen", w, h, x, y, W, H);
		read_exact(fd, px, (size_t)w * h * 4, "rectangle");
	}
}

Test(evil_viewer, out_of_range_update_requests_are_clipped_and_paced)
{
	/* Non-incremental: everything at 0,0; nothing (0x0); past the right and bottom
	 * edges; wholly outside with x + w past 65535; and an incremental whole screen. */
	static const uint16_t req[][5] = {{0, 0, 0, 65535, 65535},
					  {0, 0, 0, 0, 0},
					  {0, W - 20, H - 20, 200, 200},
					  {0, 65000, 65000, 65535, 65535},
					  {1, 0, 0, W, H}};
	uint8_t batch[sizeof(req) / sizeof(req[0]) * 10];
	int port, fd, updates = 0, batches = 0;
	double base, during;
	struct ev_mark m;
	int64_t t0, took;
	char needle[64];

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		uint8_t *p = batch + 10 * i;

		p[0] = 3;
		p[1] = (uint8_t)req[i][0];
		for (int k = 0; k < 4; k++)
			ev_put16(p + 2 + 2 * k, req[i][k + 1]);
	}
	start(NULL, 0);
	base = ev_baseline(&arena, WINDOW_MS);
	fd = keep(ev_raw_viewer(&arena, 0, &port));
	cr_assert_geq(fd, 0);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	/* Ten batches for each update read: far more requests than the relay serves. */
	while (it_now_ms() - t0 < 2 * WINDOW_MS) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		for (int i = 0; i < 10; i++, batches++)
			cr_assert_eq(raw_client_send(fd, batch, sizeof(batch)), 0,
				     "relay stopped taking update requests");
		if (poll(&p, 1, 5) == 1) {
			read_update(fd);
			updates++;
		}
	}
	took = it_now_ms() - t0;
	during = ev_rate_since(&arena, m);
	cr_log_info("%d batches of requests in %lld ms, %d updates", batches, (long long)took,
		    updates);
	cr_assert_geq(updates, 5, "the requesting viewer was not served");
	/* Throttled by the frame-rate cap, however many requests come. */
	cr_assert_leq(updates, MAX_FPS * (took / 1000.0) * 1.3 + 3,
		      "%d updates in %lld ms: the frame-rate cap (%d) did not hold", updates,
		      (long long)took, MAX_FPS);
	cr_assert(raw_client_open_still(fd), "relay closed a viewer for legal requests");
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed", port);
	cr_assert_not(relay_log_contains(arena.relay, needle), "relay logged \"%s\"", needle);
	memory_bounded("update requests");
	healthy_kept_up(base, during, "out-of-range update requests");
}

/* ---- input floods ---- */

/* Send buf over and over for ms (keeping message boundaries across partial sends);
 * at half time, call midway. Returns the bytes sent. */
static size_t flood(int fd, const uint8_t *buf, size_t len, int ms, void (*midway)(void))
{
	int64_t t0 = it_now_ms();
	size_t off = 0, total = 0;
	bool mid = false;
	int small = 64 << 10;

	/* A small send buffer, so that what follows the flood is not queued behind
	 * megabytes the relay reads at its input rate. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));

	while (it_now_ms() - t0 < ms) {
		ssize_t n = ev_send_some(fd, buf + off, len - off);

		cr_assert_geq(n, 0, "the relay closed the flooding viewer: %s", strerror(errno));
		if (n == 0)
			it_sleep_ms(1);
		off = (off + (size_t)n) % len;
		total += (size_t)n;
		if (!mid && midway && it_now_ms() - t0 >= ms / 2) {
			mid = true;
			midway();
		}
	}
	/* The rest of a message cut in half, so the stream stays in step. */
	if (off)
		cr_assert_eq(raw_client_send(fd, buf + off, len - off), 0);
	return total + (off ? len - off : 0);
}

static void healthy_key(void)
{
	cr_assert(viewer_send_key(arena.viewer, 0xff0d, true));
	cr_assert(viewer_send_key(arena.viewer, 0xff0d, false));
}

static bool host_has_key(uint32_t key)
{
	for (int i = 0; i < host_key_count(arena.host); i++) {
		uint32_t k;
		bool down;

		if (host_key_at(arena.host, i, &k, &down) && k == key)
			return true;
	}
	return false;
}

Test(evil_viewer, pointer_flood_is_coalesced)
{
	enum { N = 10920 }; /* 65520 bytes */
	static uint8_t buf[N * 6];
	int port, fd, px = -1, py = -1, pb, p0, p1;
	double base, during;
	struct ev_mark m;
	int64_t t0, took;
	size_t sent;
	long long dropped;
	char line[2048];

	/* Motion all over the screen, and now and then a click. */
	for (int i = 0; i < N; i++) {
		uint8_t *p = buf + 6 * i;

		p[0] = 5;
		p[1] = i % 4000 == 1 ? 1 : 0;
		ev_put16(p + 2, (unsigned)(i % W));
		ev_put16(p + 4, (unsigned)((i / W) % H));
	}
	start(NULL, 0);
	base = ev_baseline(&arena, WINDOW_MS);
	fd = keep(ev_raw_viewer(&arena, 0, &port));
	cr_assert_geq(fd, 0);
	p0 = host_pointer_count(arena.host);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	sent = flood(fd, buf, sizeof(buf), 2 * WINDOW_MS, healthy_key);
	took = it_now_ms() - t0;
	during = ev_rate_since(&arena, m);
	it_sleep_ms(300);
	p1 = host_pointer_count(arena.host);
	cr_log_info("pointer flood: %zu events in %lld ms, %d reached the host", sent / 6,
		    (long long)took, p1 - p0);
	cr_assert_gt(sent / 6, 20000, "only %zu pointer events sent: no flood", sent / 6);
	/* The bucket: its burst, its rate, and clicks may overdraw it by one burst. */
	cr_assert_leq(p1 - p0, POINTER_RATE * (took / 1000.0 + 1.5) + 2 * POINTER_RATE,
		      "%d of %zu pointer events reached the host in %lld ms", p1 - p0, sent / 6,
		      (long long)took);
	/* The healthy viewer's key, sent mid-flood, was not crowded out. */
	int64_t deadline = it_now_ms() + 3000;
	while (!host_has_key(0xff0d) && it_now_ms() < deadline)
		it_sleep_ms(20);
	cr_assert(host_has_key(0xff0d), "the healthy viewer's key was lost in the pointer flood");
	/* Coalesced, not lost: the newest position arrives once the flood ends. */
	uint8_t last[6] = {5, 0};
	ev_put16(last + 2, 33);
	ev_put16(last + 4, 44);
	cr_assert_eq(raw_client_send(fd, last, sizeof(last)), 0);
	deadline = it_now_ms() + 6000;
	while (!(host_last_pointer(arena.host, &px, &py, &pb) && px == 33 && py == 44) &&
	       it_now_ms() < deadline)
		it_sleep_ms(20);
	cr_assert(px == 33 && py == 44, "the last pointer position never arrived (%d,%d)", px, py);
	/* Throttled, not closed; logged and audited once for the run. */
	cr_assert(raw_client_open_still(fd), "the relay closed the pointer flooder");
	cr_assert(relay_log_wait(arena.relay, "pointer over the limit", 3000),
		  "no log line for the pointer flood");
	cr_assert(au_audit_wait(arena.env.audit, line, sizeof(line), 3000,
				"\"event\":\"input-limited\"", "\"input\":\"pointer\"", NULL),
		  "no input-limited record for the pointer flood");
	cr_assert(strstr(line, "\"source\":\"127.0.0.1\"") && strstr(line, "\"user\":\"-\""), "%s",
		  line);
	cr_assert(pu_field_int(line, "events_dropped_so_far", &dropped) && dropped >= 1, "%s",
		  line);
	int records = au_audit_count(arena.env.audit, "\"event\":\"input-limited\"",
				     "\"input\":\"pointer\"", NULL);
	cr_assert_eq(records, 1, "%d input-limited records for one pointer flood", records);
	/* And the flood's bytes were read only so fast: once too. */
	cr_assert(relay_log_contains(arena.relay, "a second; reading it more slowly"));
	cr_assert_eq(au_audit_count(arena.env.audit, "\"event\":\"input-limited\"",
				    "\"input\":\"bytes\"", NULL),
		     1);
	memory_bounded("pointer flood");
	healthy_kept_up(base, during, "pointer flood");
}

Test(evil_viewer, key_flood_is_limited_and_audited_once)
{
	enum { N = 8190 }; /* key-down and key-up of a..z, 65520 bytes */
	static uint8_t buf[N * 8];
	int port, fd, k0, downs = 0;
	double base, during;
	struct ev_mark m;
	int64_t t0, took;
	size_t sent;

	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < N; i++) {
		uint8_t *p = buf + 8 * i;

		p[0] = 4;
		p[1] = i % 2 == 0;
		ev_put32(p + 4, 0x61 + (uint32_t)(i / 2) % 26);
	}
	start(NULL, 0);
	base = ev_baseline(&arena, WINDOW_MS);
	fd = keep(ev_raw_viewer(&arena, 0, &port));
	cr_assert_geq(fd, 0);
	k0 = host_key_count(arena.host);
	cr_assert_eq(k0, 0);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	sent = flood(fd, buf, sizeof(buf), 2 * WINDOW_MS, NULL);
	took = it_now_ms() - t0;
	during = ev_rate_since(&arena, m);
	it_sleep_ms(300);
	for (int i = 0; i < host_key_count(arena.host) && i < 256; i++) {
		uint32_t key;
		bool down;

		if (host_key_at(arena.host, i, &key, &down) && down)
			downs++;
	}
	cr_log_info("key flood: %zu events in %lld ms, %d downs reached the host", sent / 8,
		    (long long)took, downs);
	cr_assert_gt(sent / 8, 20000, "only %zu key events sent: no flood", sent / 8);
	cr_assert_leq(downs, KEYS_BURST + KEYS_RATE * (took / 1000.0 + 1),
		      "%d key-downs reached the host in %lld ms (burst %d, %d a second)", downs,
		      (long long)took, KEYS_BURST, KEYS_RATE);
	cr_assert(raw_client_open_still(fd), "the relay closed the key flooder");
	cr_assert(relay_log_wait(arena.relay, "keystrokes over the limit", 3000));
	/* One run of drops, one record and one log line: not one per refilled token. */
	int records = au_audit_count(arena.env.audit, "\"event\":\"input-limited\"",
				     "\"input\":\"keyboard\"", NULL);
	cr_assert(records == 1, "%d input-limited records for one sustained key flood", records);
	cr_assert_eq(au_log_lines(arena.relay, "keystrokes over the limit"), 1);
	memory_bounded("key flood");
	healthy_kept_up(base, during, "key flood");
}

/* Messages that each cost an audit record (and its fdatasync): clipboard text the
 * policy denies, and SetEncodings whose set of unknown encodings keeps changing. */
Test(evil_viewer, clipboard_and_encodings_floods_cannot_flood_the_audit_trail)
{
	enum { N = 2048 }; /* ClientCutText "x" (9 bytes) + SetEncodings of two (12): 43008 bytes */
	static uint8_t buf[N * 21];
	int port, fd;
	double base, during;
	struct ev_mark m;
	int64_t t0, took;
	size_t sent;

	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < N; i++) {
		uint8_t *p = buf + 21 * i;

		p[0] = 6;
		ev_put32(p + 4, 1);
		p[8] = 'x';
		p[9] = 2;
		ev_put16(p + 11, 2);
		ev_put32(p + 13, 0);		      /* Raw */
		ev_put32(p + 17, 1000 + (uint32_t)i); /* unknown, different each time */
	}
	start(NULL, 0);
	base = ev_baseline(&arena, WINDOW_MS);
	/* The healthy viewer's own list has encodings the relay does not use. */
	int enc0 = au_audit_count(arena.env.audit, "\"event\":\"encodings-ignored\"", NULL);
	fd = keep(ev_raw_viewer(&arena, 0, &port));
	cr_assert_geq(fd, 0);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	sent = flood(fd, buf, sizeof(buf), 2 * WINDOW_MS, NULL);
	took = it_now_ms() - t0;
	during = ev_rate_since(&arena, m);
	int clip = au_audit_count(arena.env.audit, "\"event\":\"clipboard\"", NULL);
	int enc = au_audit_count(arena.env.audit, "\"event\":\"encodings-ignored\"", NULL) - enc0;
	cr_log_info("%zu clipboard + SetEncodings pairs in %lld ms: %d clipboard and %d "
		    "encodings-ignored records",
		    sent / 21, (long long)took, clip, enc);
	cr_assert_gt(sent / 21, 5000, "only %zu pairs sent: no flood", sent / 21);
	cr_assert(clip >= 1 && clip <= CLIP_BURST + CLIP_RATE * (took / 1000.0 + 1),
		  "%d clipboard records for %lld ms of flood", clip, (long long)took);
	cr_assert(enc >= 1 && enc <= 4, "%d encodings-ignored records", enc);
	cr_assert(relay_log_wait(arena.relay, "changed its unknown encodings 4 times", 3000));
	cr_assert(au_audit_wait(arena.env.audit, NULL, 0, 3000, "\"event\":\"input-limited\"",
				"\"input\":\"clipboard\"", NULL),
		  "no input-limited record for the clipboard flood");
	cr_assert_eq(au_audit_count(arena.env.audit, "\"event\":\"input-limited\"",
				    "\"input\":\"clipboard\"", NULL),
		     1);
	cr_assert(relay_log_contains(arena.relay, "clipboard over the limit"));
	cr_assert_eq(host_cut_text_count(arena.host), 0);
	cr_assert(raw_client_open_still(fd), "the relay closed the flooder");
	memory_bounded("clipboard and encodings flood");
	healthy_kept_up(base, during, "clipboard and encodings flood");
}

/* ---- a viewer that stops reading ---- */

Test(evil_viewer, viewer_that_stops_reading_is_closed)
{
	static const uint8_t full[10] = {3, 0, 0, 0, 0, 0, W >> 8, W & 255, H >> 8, H & 255};
	char needle[96], line[2048];
	int port, fd;
	double base, during;
	struct ev_mark m;
	int64_t t0, took = -1;

	start("send_timeout = 3\n", 0);
	base = ev_baseline(&arena, WINDOW_MS);
	/* A 4 KiB receive buffer, whole-screen requests, and never a byte read; the host
	 * rings its bell too, which must not queue behind it either. */
	fd = keep(ev_raw_viewer(&arena, 4096, &port));
	cr_assert_geq(fd, 0);
	snprintf(needle, sizeof(needle), "127.0.0.1:%d: closed: not reading", port);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	while (it_now_ms() - t0 < 10000) {
		if (relay_log_contains(arena.relay, needle)) {
			took = it_now_ms() - t0;
			break;
		}
		send(fd, full, sizeof(full), MSG_DONTWAIT | MSG_NOSIGNAL);
		for (int i = 0; i < 20; i++)
			host_bell(arena.host);
		it_sleep_ms(50);
	}
	during = ev_rate_since(&arena, m);
	if (took < 0)
		relay_dump_log(arena.relay, 4000);
	cr_assert_geq(took, 0, "the relay kept a viewer that read nothing for 10 s");
	cr_assert_geq(took, 2500, "closed after %lld ms; send_timeout is 3 s", (long long)took);
	cr_assert(relay_log_contains(arena.relay, "(relay.send_timeout)"));
	cr_assert(au_audit_wait(arena.env.audit, line, sizeof(line), 3000,
				"\"event\":\"viewer-stalled\"", "\"source\":\"127.0.0.1\"", NULL),
		  "no viewer-stalled record");
	cr_assert(strstr(line, "\"send_timeout\":3"), "%s", line);
	memory_bounded("viewer that stops reading");
	healthy_kept_up(base, during, "a viewer that stops reading");
}

/* ---- ten thousand idle connections ---- */

#define IDLE	10000
#define SOURCES 50

Test(evil_viewer, ten_thousand_idle_connections, .timeout = 90)
{
	struct rlimit rl;
	long long soft = 0, hard = 0;
	int n = IDLE, closed = 0, prev = -1, *fds;
	double base, during;
	struct ev_mark m;
	int64_t t0, stable_since, took;
	bool *gone;

	/* The test holds every socket: it needs the descriptors itself. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n + 512) {
		n = (int)rl.rlim_max - 512;
		cr_log_warn("hard open-files limit %llu: %d connections instead of %d",
			    (unsigned long long)rl.rlim_max, n, IDLE);
	}
	cr_assert_gt(n, 2 * HANDSHAKES, "the open-files limit is too low for this test");
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Started with a soft limit of 1024: the relay raises it to the hard limit. */
	start(NULL, 1024);
	cr_assert(ev_relay_nofile(&arena, &soft, &hard), "cannot read the relay's limits");
	cr_assert_eq(soft, hard, "relay's open-files soft limit %lld, hard %lld", soft, hard);
	if (hard > 1024)
		cr_assert(relay_log_contains(arena.relay, "open files limit raised from 1024"));

	base = ev_baseline(&arena, WINDOW_MS);
	fds = calloc((size_t)n, sizeof(*fds));
	gone = calloc((size_t)n, sizeof(*gone));
	cr_assert(fds && gone);
	m = ev_mark(&arena);
	t0 = it_now_ms();
	for (int i = 0; i < n; i++) {
		char src[32];

		snprintf(src, sizeof(src), "127.0.0.%d", 2 + i % SOURCES);
		fds[i] = keep(ev_connect_from(src, relay_port(arena.relay), true));
		cr_assert_geq(fds[i], 0, "connection %d from %s: %s", i, src, strerror(errno));
	}
	/* Until the relay has refused all it will: no change for a second. */
	stable_since = it_now_ms();
	while (it_now_ms() - t0 < 30000) {
		for (int i = 0; i < n; i++)
			if (!gone[i] && ev_peer_closed(fds[i])) {
				gone[i] = true;
				closed++;
			}
		if (closed != prev) {
			prev = closed;
			stable_since = it_now_ms();
		} else if (it_now_ms() - stable_since > 1000 && it_now_ms() - t0 > 2 * WINDOW_MS) {
			break;
		}
		it_sleep_ms(100);
	}
	took = it_now_ms() - t0;
	during = ev_rate_since(&arena, m);
	cr_log_info("%d idle connections from %d addresses: %d refused in %lld ms", n, SOURCES,
		    closed, (long long)took);
	/* The ones still open are the ones logging in, at most max_handshakes. */
	cr_assert_geq(closed, n - HANDSHAKES, "%d of %d still open; max_handshakes is %d",
		      n - closed, n, HANDSHAKES);
	cr_assert_geq(n - closed, HANDSHAKES - 16, "only %d held: the relay refused too many",
		      n - closed);
	/* Logged a line a second (and a summary), not a line a connection. */
	long refusals = au_log_lines(arena.relay, "too many connections logging in");
	cr_assert_leq(refusals, took / 1000 + 2, "%ld refusal lines in %lld ms", refusals,
		      (long long)took);
	cr_assert(relay_log_wait(arena.relay, "more connections refused in the last second", 3000));
	/* Audited the same way: a few records one by one, the rest counted in summaries
	 * that add up to every refusal. */
	long got = ev_audit_wait_total(&arena, "connection-refused", NULL, closed, 4000);
	cr_assert_eq(got, closed, "connection-refused records add up to %ld, %d were refused", got,
		     closed);
	cr_assert_gt(au_audit_count(arena.env.audit, "\"event\":\"connection-refused\"",
				    "\"rule\":\"max_handshakes\"", NULL),
		     0);
	preauth_records_bounded("connection-refused", took);
	memory_bounded("idle connections");
	healthy_kept_up(base, during, "ten thousand idle connections");

	/* Once they go, the slots are free again. */
	for (int i = 0; i < n; i++)
		forget(fds[i]);
	free(fds);
	free(gone);
	struct it_raw_init init;
	int64_t deadline = it_now_ms() + 10000;
	int fd = -1;
	while (fd < 0 && it_now_ms() < deadline) {
		fd = raw_client_connect_init(relay_port(arena.relay), 8, &init);
		if (fd < 0)
			it_sleep_ms(200);
	}
	cr_assert_geq(fd, 0, "no viewer could connect after the idle connections closed");
	close(fd);
}
