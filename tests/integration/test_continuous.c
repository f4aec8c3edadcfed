/* ContinuousUpdates and Fence toward viewers, seen by a raw RFB viewer that lists them:
 * the relay announces each once (a fence request, EndOfContinuousUpdates); with
 * continuous updates on it sends updates inside their area without any request, while
 * damage outside waits for a full request or a wider area; it sends its own fences, one
 * at a time, and answers the viewer's with the payload echoed and Request cleared (a
 * SyncNext one after the message that follows it); turning continuous updates off is
 * answered with EndOfContinuousUpdates, after which updates come only when asked for. A
 * fence longer than the spec's 64 bytes cuts that viewer off with a log line, and a
 * viewer flooding fences without reading the replies stops being read; another viewer
 * keeps following the host through both. Loopback only; every wait is bounded. */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec/buf.h"
#include "harness_util.h"

#define W 320
#define H 240

#define ENC_FENCE	   (-312)
#define ENC_CU		   (-313)
#define FENCE_BLOCK_BEFORE 0x1u
#define FENCE_BLOCK_AFTER  0x2u
#define FENCE_SYNC_NEXT	   0x4u
#define FENCE_REQUEST	   0x80000000u

/* What await() waits for besides a server message type. */
#define WANT_PING  (-2) /* a fence request from the relay (answered) */
#define WANT_REPLY (-3) /* a fence reply from the relay */

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static int fd = -1;
static unsigned seed = 1;

/* What the raw viewer saw, besides what await() returns. */
static struct {
	int pings;	       /* the relay's fence requests, all answered */
	uint8_t last_ping[64]; /* the payload of the last one */
	uint8_t last_ping_len;
	int ends;		/* EndOfContinuousUpdates */
	bool ends_allowed;	/* one may come now */
	bool updates_forbidden; /* none may come now */
} seen;

static void teardown(void)
{
	if (fd >= 0)
		close(fd);
	fd = -1;
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
}

TestSuite(continuous, .fini = teardown, .timeout = 90);

struct rect {
	int x, y, w, h;
};

struct msg {
	int type; /* server message type, -1 when none came in time */
	int nrects;
	struct rect r[64]; /* an update's first 64 rectangles */
	uint32_t flags;	   /* a fence's */
	uint8_t len, payload[64];
};

/* The host and relay; with a good viewer (libvncclient) too when asked. */
static void start(bool with_viewer)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1};

	if (it_direct_mode())
		cr_skip_test("relay-only: the extensions under test are the relay's own");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	relay = relay_start(host_port(host), NULL);
	cr_assert_not_null(relay, "relay did not start");
	if (with_viewer) {
		viewer = viewer_start(relay_port(relay), &o);
		cr_assert_not_null(viewer, "good viewer did not connect");
		cr_assert_null(viewer_wait_match(viewer, host, 15000, 0),
			       "good viewer, first picture");
	}
}

static void raw_viewer(void)
{
	struct it_raw_init init;

	fd = raw_client_connect_init(relay_port(relay), 8, &init);
	if (fd < 0)
		relay_dump_log(relay, 4000);
	cr_assert(fd >= 0, "raw viewer: handshake failed");
	cr_assert(init.w == W && init.h == H);
	memset(&seen, 0, sizeof(seen));
}

static void send_all(const void *p, size_t len)
{
	cr_assert_eq(raw_client_send(fd, p, len), 0, "send to the relay failed");
}

/* Raw first (the only pixel encoding listed), then the pseudo-encodings given. */
static void set_encodings(const int32_t *pseudo, int n)
{
	uint8_t b[4 + 4 * 8];

	b[0] = 2;
	b[1] = 0;
	pg_wr16(b + 2, (unsigned)n + 1);
	pg_wr32(b + 4, 0);
	for (int i = 0; i < n; i++)
		pg_wr32(b + 8 + 4 * i, (uint32_t)pseudo[i]);
	send_all(b, 8 + 4 * (size_t)n);
}

static void enable_cu(bool on, int x, int y, int w, int h)
{
	uint8_t b[10] = {150, on};

	pg_wr16(b + 2, (unsigned)x);
	pg_wr16(b + 4, (unsigned)y);
	pg_wr16(b + 6, (unsigned)w);
	pg_wr16(b + 8, (unsigned)h);
	send_all(b, sizeof(b));
}

static void send_fence(uint32_t flags, const void *payload, uint8_t len)
{
	uint8_t b[9 + 255] = {248};

	pg_wr32(b + 4, flags);
	b[8] = len;
	if (len)
		memcpy(b + 9, payload, len);
	send_all(b, 9 + (size_t)len);
}

static bool readable(int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms > 0 ? ms : 0) > 0;
}

/* The next server message within ms (type -1 when none came). */
static void next_msg(struct msg *m, int ms)
{
	static uint8_t px[W * H * 4];
	uint8_t t, b[12];

	m->type = -1;
	if (!readable(ms))
		return;
	cr_assert(raw_client_read(fd, &t, 1), "the relay closed the raw viewer");
	m->type = t;
	switch (t) {
	case 0:
		cr_assert(raw_client_read(fd, b, 3));
		int n = b[1] << 8 | b[2];
		m->nrects = 0;
		for (int i = 0; i < n; i++) {
			cr_assert(raw_client_read(fd, b, 12), "rectangle header missing");
			struct rect r = {b[0] << 8 | b[1], b[2] << 8 | b[3], b[4] << 8 | b[5],
					 b[6] << 8 | b[7]};
			cr_assert_eq(pg_rd32(b + 8), 0, "rectangle in encoding %d, not Raw",
				     (int)pg_rd32(b + 8));
			cr_assert(r.w > 0 && r.h > 0 && r.x + r.w <= W && r.y + r.h <= H,
				  "rectangle %dx%d at %d,%d outside the screen", r.w, r.h, r.x,
				  r.y);
			cr_assert(raw_client_read(fd, px, (size_t)r.w * r.h * 4), "pixels missing");
			if (m->nrects < 64)
				m->r[m->nrects++] = r;
		}
		break;
	case 150:
		break;
	case 248:
		cr_assert(raw_client_read(fd, b, 8));
		m->flags = pg_rd32(b + 3);
		m->len = b[7];
		cr_assert(m->len <= 64, "the relay sent a fence of %u bytes", m->len);
		cr_assert(raw_client_read(fd, m->payload, m->len));
		break;
	default:
		cr_assert_fail("unexpected server message type %u", t);
	}
}

/* A fence request from the relay: a new payload each time; answered as TigerVNC's and
 * noVNC's viewers answer (same payload, the block flags kept, Request cleared). */
static void answer_ping(const struct msg *m)
{
	cr_assert(m->flags & FENCE_REQUEST);
	if (seen.pings)
		cr_assert(m->len != seen.last_ping_len ||
			      memcmp(m->payload, seen.last_ping, m->len) != 0,
			  "the relay's fence %d repeats the last payload", seen.pings + 1);
	seen.pings++;
	seen.last_ping_len = m->len;
	memcpy(seen.last_ping, m->payload, m->len);
	send_fence(m->flags & (FENCE_BLOCK_BEFORE | FENCE_BLOCK_AFTER), m->payload, m->len);
}

/* Read for at most ms until want arrives (a message type, WANT_PING or WANT_REPLY),
 * answering the relay's fences on the way. False when it did not come. */
static bool await(int want, struct msg *m, int ms)
{
	int64_t end = it_now_ms() + ms;

	for (;;) {
		int left = (int)(end - it_now_ms());
		if (left <= 0)
			return false;
		next_msg(m, left);
		if (m->type < 0)
			return false;
		if (m->type == 248 && (m->flags & FENCE_REQUEST)) {
			answer_ping(m);
			if (want == WANT_PING)
				return true;
			continue;
		}
		if (m->type == 248) {
			cr_assert_eq(want, WANT_REPLY, "a fence reply nobody asked for");
			return true;
		}
		if (m->type == 150) {
			cr_assert(seen.ends_allowed, "EndOfContinuousUpdates nobody asked for");
			seen.ends++;
		}
		if (m->type == 0)
			cr_assert(!seen.updates_forbidden,
				  "an update without a request, continuous updates off");
		if (m->type == want)
			return true;
	}
}

static bool covers(const struct msg *m, int x, int y)
{
	for (int i = 0; i < m->nrects; i++)
		if (x >= m->r[i].x && x < m->r[i].x + m->r[i].w && y >= m->r[i].y &&
		    y < m->r[i].y + m->r[i].h)
			return true;
	return false;
}

static void inside(const struct msg *m, struct rect a)
{
	for (int i = 0; i < m->nrects; i++) {
		const struct rect *r = &m->r[i];
		cr_assert(r->x >= a.x && r->y >= a.y && r->x + r->w <= a.x + a.w &&
			      r->y + r->h <= a.y + a.h,
			  "rectangle %dx%d at %d,%d outside the continuous-updates area %dx%d at "
			  "%d,%d",
			  r->w, r->h, r->x, r->y, a.w, a.h, a.x, a.y);
	}
}

/* Both extensions listed: a fence request and one EndOfContinuousUpdates, in time. */
static void negotiate(void)
{
	static const int32_t both[] = {ENC_CU, ENC_FENCE};
	struct msg m;

	set_encodings(both, 2);
	seen.ends_allowed = true;
	cr_assert(await(150, &m, 5000), "no EndOfContinuousUpdates after SetEncodings");
	if (!seen.pings)
		cr_assert(await(WANT_PING, &m, 5000), "no fence after SetEncodings");
	seen.ends_allowed = false;
	/* Listed again: announced once a connection, never again (noVNC would take a
	 * second EndOfContinuousUpdates as continuous updates ending). */
	set_encodings(both, 2);
	cr_assert_not(await(150, &m, 300));
	cr_assert_eq(seen.ends, 1);
}

Test(continuous, updates_come_unasked_inside_their_area)
{
	const struct rect area = {0, 0, 160, 120};
	struct msg m;
	int got = 0;

	start(false);
	raw_viewer();
	negotiate();
	if (!relay_log_wait(relay, "first round trip", 5000)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("the relay logged no round trip from its fence");
	}
	/* No FramebufferUpdateRequest from here on: the picture changes inside the area
	 * and outside it, and only the inside arrives. */
	enable_cu(true, area.x, area.y, area.w, area.h);
	for (int i = 0; i < 40 && got < 4; i++) {
		host_change_region(host, 20, 20, 80, 60, ++seed);
		host_change_region(host, 200, 150, 80, 60, ++seed);
		if (await(0, &m, 1000)) {
			inside(&m, area);
			got++;
		}
	}
	cr_assert(got >= 4, "%d updates in continuous mode without requests", got);
	cr_assert(seen.pings >= 3, "the relay sent %d fences over %d updates", seen.pings, got);

	/* Damage outside the area comes with a full request, even for somewhere else. */
	cr_assert_eq(raw_client_request(fd, false, 300, 230, 10, 10), 0);
	bool outside = false;
	for (int i = 0; i < 10 && !outside; i++) {
		cr_assert(await(0, &m, 5000), "no update after a full request");
		outside = covers(&m, 240, 180);
	}
	cr_assert(outside, "the damage outside the area never came");

	/* Or when the area grows over it. */
	host_change_region(host, 240, 20, 60, 60, ++seed);
	while (await(0, &m, 600))
		inside(&m, area);
	enable_cu(true, 0, 0, W, H);
	outside = false;
	for (int i = 0; i < 10 && !outside; i++) {
		cr_assert(await(0, &m, 5000), "no update after the area grew");
		outside = covers(&m, 270, 50);
	}
	cr_assert(outside, "the damage the wider area covers never came");
	cr_assert(relay_alive(relay));
}

Test(continuous, fences_answered_in_kind)
{
	static const int32_t fence_only[] = {ENC_FENCE};
	static const char payload[] = "pixelgate-fence";
	uint8_t max[64];
	struct msg m;

	start(false);
	raw_viewer();
	set_encodings(fence_only, 1);
	cr_assert(await(WANT_PING, &m, 5000), "no fence after SetEncodings listed Fence");
	cr_assert(m.len <= 64);

	/* Request cleared, the flags the relay honours kept, an unknown one (bit 7)
	 * cleared, the payload as sent. */
	send_fence(FENCE_REQUEST | FENCE_BLOCK_BEFORE | FENCE_BLOCK_AFTER | 0x80, payload,
		   sizeof(payload) - 1);
	cr_assert(await(WANT_REPLY, &m, 5000), "no reply to the viewer's fence");
	cr_assert_eq(m.flags, FENCE_BLOCK_BEFORE | FENCE_BLOCK_AFTER, "reply flags 0x%x", m.flags);
	cr_assert_eq(m.len, sizeof(payload) - 1);
	cr_assert(memcmp(m.payload, payload, m.len) == 0, "payload not echoed");

	/* The largest payload, and none. */
	for (int i = 0; i < 64; i++)
		max[i] = (uint8_t)(i * 37 + 1);
	send_fence(FENCE_REQUEST, max, 64);
	cr_assert(await(WANT_REPLY, &m, 5000));
	cr_assert(m.flags == 0 && m.len == 64 && memcmp(m.payload, max, 64) == 0);
	send_fence(FENCE_REQUEST | FENCE_BLOCK_BEFORE, NULL, 0);
	cr_assert(await(WANT_REPLY, &m, 5000));
	cr_assert(m.flags == FENCE_BLOCK_BEFORE && m.len == 0);

	/* SyncNext: answered after the message that follows it, with SyncNext kept. */
	send_fence(FENCE_REQUEST | FENCE_SYNC_NEXT, "sync", 4);
	cr_assert_not(await(WANT_REPLY, &m, 300), "a SyncNext reply before the next message");
	set_encodings(fence_only, 1);
	cr_assert(await(WANT_REPLY, &m, 5000), "no reply to the SyncNext fence");
	cr_assert(m.flags == FENCE_SYNC_NEXT && m.len == 4 && memcmp(m.payload, "sync", 4) == 0,
		  "SyncNext reply flags 0x%x", m.flags);

	/* A reply to nothing the relay asked is dropped; the viewer stays. */
	send_fence(0, "stray", 5);
	send_fence(FENCE_REQUEST, "after", 5);
	cr_assert(await(WANT_REPLY, &m, 5000));
	cr_assert(m.len == 5 && memcmp(m.payload, "after", 5) == 0);

	/* Updates still come as before, requested, each followed by a fence. */
	int pings = seen.pings;
	host_change_region(host, 10, 10, 50, 50, ++seed);
	cr_assert_eq(raw_client_request(fd, false, 0, 0, W, H), 0);
	cr_assert(await(0, &m, 5000), "no update after a request");
	cr_assert(await(WANT_PING, &m, 5000), "no fence after the update");
	cr_assert_gt(seen.pings, pings);
}

Test(continuous, turned_off_ends_with_end_of_continuous_updates)
{
	struct msg m;

	start(false);
	raw_viewer();
	negotiate();
	enable_cu(true, 0, 0, W, H);
	host_change_region(host, 30, 30, 100, 80, ++seed);
	cr_assert(await(0, &m, 5000), "no update in continuous mode");

	/* Off: whatever update was on its way, then EndOfContinuousUpdates. */
	enable_cu(false, 0, 0, 0, 0);
	seen.ends_allowed = true;
	cr_assert(await(150, &m, 5000), "no EndOfContinuousUpdates after turning them off");
	seen.ends_allowed = false;
	seen.updates_forbidden = true;
	host_change_region(host, 60, 60, 100, 80, ++seed);
	cr_assert_not(await(0, &m, 800));

	/* An incremental request is answered again; then nothing unasked. */
	seen.updates_forbidden = false;
	cr_assert_eq(raw_client_request(fd, true, 0, 0, W, H), 0);
	cr_assert(await(0, &m, 5000), "no update for a request after continuous updates");
	cr_assert(covers(&m, 100, 100));
	seen.updates_forbidden = true;
	host_change_region(host, 200, 100, 60, 60, ++seed);
	cr_assert_not(await(0, &m, 800));

	/* Off when off already: EndOfContinuousUpdates all the same, as the spec asks. */
	enable_cu(false, 0, 0, 0, 0);
	seen.ends_allowed = true;
	cr_assert(await(150, &m, 5000));
	cr_assert_eq(seen.ends, 3);
}

Test(continuous, long_fence_cuts_the_viewer_off)
{
	static const int32_t fence_only[] = {ENC_FENCE};
	uint8_t b[9 + 65] = {248};
	char needle[160];
	struct msg m;

	start(true);
	raw_viewer();
	int port = raw_client_local_port(fd);
	set_encodings(fence_only, 1);
	cr_assert(await(WANT_PING, &m, 5000));
	pg_wr32(b + 4, FENCE_REQUEST);
	b[8] = 65;
	memset(b + 9, 'x', 65);
	raw_client_send(fd, b, sizeof(b)); /* the relay may close before reading it all */
	cr_assert(raw_client_wait_closed(fd, 5000), "the relay kept a viewer whose fence is "
						    "longer than 64 bytes");
	close(fd);
	fd = -1;
	snprintf(needle, sizeof(needle),
		 "127.0.0.1:%d: closed: bad input: Fence payload longer than PG_RFB_MAX_FENCE",
		 port);
	if (!relay_log_wait(relay, needle, 3000)) {
		relay_dump_log(relay, 3000);
		cr_assert_fail("relay log lacks \"%s\"", needle);
	}
	host_change_region(host, 40, 30, 120, 90, ++seed);
	cr_assert_null(viewer_wait_match(viewer, host, 10000, 0), "good viewer after the cut");
	cr_assert(viewer_connected(viewer));
}

/* Fences the viewer never reads the replies to: the relay answers a few beyond what it
 * lets wait unread, then stops reading that viewer, so its output stays bounded. */
Test(continuous, unread_fence_replies_stop_the_reading)
{
	static const int32_t fence_only[] = {ENC_FENCE};
	enum { ONE = 9 + 64, COUNT = 512 };
	static uint8_t flood[ONE * COUNT];
	int w, h;
	size_t off = 0, total = 0, at_mark = 0;
	int64_t start_ms, mark;
	bool stalled = false;

	start(true);
	fd = raw_client_connect(relay_port(relay), 8, 4096, &w, &h);
	cr_assert(fd >= 0, "raw viewer: handshake failed");
	memset(&seen, 0, sizeof(seen));
	set_encodings(fence_only, 1);
	for (int i = 0; i < COUNT; i++) {
		uint8_t *p = flood + (size_t)i * ONE;
		memset(p, 0, 9);
		p[0] = 248;
		pg_wr32(p + 4, FENCE_REQUEST | FENCE_BLOCK_BEFORE);
		p[8] = 64;
		memset(p + 9, 'f', 64);
	}
	start_ms = mark = it_now_ms();
	/* Send without blocking for up to 30 s; stalled once two seconds pass with less
	 * than 64 KiB taken (the relay no longer reads, and the kernel's buffers are full). */
	while (it_now_ms() - start_ms < 30000) {
		ssize_t n = send(fd, flood + off, sizeof(flood) - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off = (off + (size_t)n) % sizeof(flood);
			total += (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			break; /* closed: bounded too, though not the way this test expects */
		} else {
			it_sleep_ms(20);
		}
		if (it_now_ms() - mark >= 2000) {
			if (total - at_mark < (64u << 10)) {
				stalled = true;
				break;
			}
			mark = it_now_ms();
			at_mark = total;
		}
	}
	cr_assert(stalled,
		  "the relay kept reading fences whose replies were unread (%zu bytes "
		  "taken in %lld ms)",
		  total, (long long)(it_now_ms() - start_ms));
	cr_assert(relay_alive(relay));
	host_change_region(host, 40, 30, 120, 90, ++seed);
	cr_assert_null(viewer_wait_match(viewer, host, 10000, 0), "good viewer during the flood");
}
