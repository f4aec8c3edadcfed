/* A viewer's updates: what it still lacks, when it gets the next update, and the
 * encoding jobs that build it on the libuv thread pool.
 *
 * What a viewer lacks is a short list of damaged rectangles and at most one copy
 * (the session's pixels moved from one place to another, a scroll): merged, never
 * queued, so a slow viewer gets the newest pixels in one update, never a backlog.
 *
 * An update is built only when the viewer asked for one (or turned continuous
 * updates on: then it has always asked for their area, and damage outside it is held
 * until a request or a new area covers it), no job of its own is running, and none of
 * these holds it back:
 * - the frame-rate cap (relay.max_fps);
 * - the bandwidth cap (relay.max_bandwidth), a token bucket of bytes;
 * - what is in flight: bytes queued in libuv and in the kernel's send buffer
 *   (SIOCOUTQ) may be at most what the viewer's link carries in a round trip and two
 *   frame intervals, when fences measured the round trip (flow.c), else in PICTURE_MS,
 *   by an estimate of its throughput measured while data was in flight. A viewer on a
 *   thin link therefore gets fewer, fresher frames, not a picture seconds old.
 *
 * Each update is encoded from the session's picture itself, which the session leaves
 * alone while jobs read it (an update from the worker waits meanwhile); a large Tight
 * update is cut in two parts encoded on two threads (two encoders whose zlib
 * streams are disjoint).
 *
 * Viewers of one session alike in encoding, pixel format and options, lacking the
 * same rectangles of the same picture, share bytes: the first encodes, the others
 * take a copy of its bytes (see "bytes shared between viewers" below). */
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "codec/buf.h"
#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"
#include "render/text.h"

#define MAX_UPDATE_BYTES ((size_t)PG_FB_MAX_SIDE * PG_FB_MAX_SIDE * 5)
#define MAX_PENDING	 PG_VIEWER_MAX_PENDING
/* In flight (libuv and kernel): at least this, else what the link carries in
 * PICTURE_MS; while more is in flight the scheduler looks again every POLL_MS. With a
 * round trip measured the floor is INFLIGHT_RTT_MIN (see may_send). */
#define INFLIGHT_MIN	 (64u << 10)
#define INFLIGHT_RTT_MIN (16u << 10)
#define PICTURE_MS	 100
#define POLL_MS		 10
/* Frames the frame-rate cap lets go back to back. */
#define FPS_BURST 2.0
/* Throughput samples span at least this long. */
#define SAMPLE_MS 20
/* An update at least this large (pixels) is encoded in two parts at once. */
#define LANE_MIN_PIXELS (512 * 512)
#define NPARTS		2
/* Adaptive quality: pictures tracked per TILE x TILE tile. A tile changed twice within
 * about HEAT_HALF_MS is moving; a rectangle of at least MOTION_MIN_PIXELS over moving
 * tiles is sent at MOTION_DROP less JPEG quality (never below MOTION_FLOOR), 4:2:0.
 * Whatever went as JPEG is sent again losslessly once still for relay.refine_delay,
 * as TigerVNC's server refreshes, so a still page is exact. */
#define TILE		  64
#define HEAT_HALF_MS	  200
#define MOTION_MIN_PIXELS (128 * 128)
#define MOTION_DROP	  30
#define MOTION_FLOOR	  30

struct job;

struct part {
	uv_work_t work;
	struct job *job;
	struct pg_encoder *enc;
	struct pg_rect rects[MAX_PENDING + 1];
	signed char q[MAX_PENDING + 1]; /* JPEG quality per rectangle (Q_*) */
	int nrects;
	int quality, samp; /* the viewer's */
	struct pg_buf out;
	int count; /* rectangles written */
	int rc;
	uint64_t ns; /* spent encoding, for /metrics */
};

struct job {
	struct pg_viewer *v;
	/* The pixels encoded: the session's own, which it leaves alone until the job
	 * ends (session set), or, under a banner, the viewer's snapshot with it. */
	const struct pg_fb *src;
	struct pg_session *session;
	struct part part[NPARTS];
	int nparts, running;
	uint16_t pseudo;	/* pseudo-rectangles and the CopyRect, in part 0's output */
	size_t body_off;	/* where the rectangles begin in part 0's output */
	int count;		/* rectangles in all, once joined */
	struct pg_share *share; /* the bytes others may take, when they may */
};

/* What makes two updates the same bytes. Zeroed before it is filled (memcmp). */
struct share_key {
	uint64_t version; /* of the session's picture */
	int32_t encoding;
	int quality;
	struct pg_enc_opts eopts;
	uint8_t pf[16]; /* the wire form: no padding */
	int nrects;
	struct pg_rect rects[MAX_PENDING];
	signed char q[MAX_PENDING];
};

/* A viewer waiting for another's bytes: its own header and pseudo-rectangles. */
struct follower {
	struct follower *next;
	struct pg_viewer *v;
	struct pg_buf out;
	uint16_t pseudo;
};

struct pg_share {
	int refs;  /* the session's slot, the leader's job */
	bool busy; /* the leader's job still encodes */
	int rc;	   /* how it ended */
	struct share_key key;
	struct pg_buf body; /* the rectangles, once done */
	int count;
	struct follower *followers;
};

void pg_update_maybe_send(struct pg_viewer *v);

enum { Q_VIEWER, Q_MOTION, Q_REFINE };

/* ---- the tiles of adaptive quality ---- */

static bool adaptive(const struct pg_viewer *v)
{
	return v->relay->adaptive_quality && v->q_target >= 0;
}

static int tiles_fit(struct pg_viewer *v)
{
	int cols = (v->vw + TILE - 1) / TILE, rows = (v->vh + TILE - 1) / TILE;
	if (cols == v->tcols && rows == v->trows)
		return 0;
	free(v->t_changed);
	free(v->t_heat);
	v->t_changed = calloc((size_t)cols * rows, sizeof(*v->t_changed));
	v->t_heat = calloc((size_t)cols * rows, 2);
	v->t_lossy = v->t_heat ? v->t_heat + (size_t)cols * rows : NULL;
	if (!v->t_changed || !v->t_heat) {
		v->tcols = v->trows = 0;
		return PG_ENOMEM;
	}
	v->tcols = cols;
	v->trows = rows;
	return 0;
}

/* The tiles r touches: [*c0, *c1) x [*r0, *r1). */
static void tile_span(const struct pg_viewer *v, const struct pg_rect *r, int *c0, int *c1, int *r0,
		      int *r1)
{
	*c0 = r->x / TILE;
	*r0 = r->y / TILE;
	*c1 = (r->x + r->w + TILE - 1) / TILE;
	*r1 = (r->y + r->h + TILE - 1) / TILE;
	if (*c1 > v->tcols)
		*c1 = v->tcols;
	if (*r1 > v->trows)
		*r1 = v->trows;
}

static unsigned heat_now(const struct pg_viewer *v, size_t i, uint32_t now)
{
	uint32_t halves = (now - v->t_changed[i]) / HEAT_HALF_MS;
	return halves >= 8 ? 0 : v->t_heat[i] >> halves;
}

static void tiles_touch(struct pg_viewer *v, const struct pg_rect *r)
{
	int c0, c1, r0, r1;
	uint32_t now = (uint32_t)pg_now_ms();
	if (!adaptive(v) || tiles_fit(v) < 0)
		return;
	tile_span(v, r, &c0, &c1, &r0, &r1);
	for (int y = r0; y < r1; y++) {
		for (int x = c0; x < c1; x++) {
			size_t i = (size_t)y * v->tcols + x;
			unsigned h = heat_now(v, i, now) + 1;
			v->t_heat[i] = (uint8_t)(h > 255 ? 255 : h);
			v->t_changed[i] = now;
		}
	}
}

static bool tiles_moving(const struct pg_viewer *v, const struct pg_rect *r)
{
	int c0, c1, r0, r1;
	uint32_t now = (uint32_t)pg_now_ms();
	if ((long)r->w * r->h < MOTION_MIN_PIXELS)
		return false;
	tile_span(v, r, &c0, &c1, &r0, &r1);
	/* Changed within refine_delay too: a tile refine_due sends is never moving, or
	 * it would go lossy again, and be due again, without end. And a quarter of the
	 * rectangle at least: refinements merged with a little motion beside them (a
	 * scroll bar fading out) still go lossless. */
	int moving = 0, all = (r1 - r0) * (c1 - c0);
	for (int y = r0; y < r1; y++) {
		for (int x = c0; x < c1; x++) {
			size_t i = (size_t)y * v->tcols + x;
			moving += now - v->t_changed[i] < (uint32_t)v->relay->refine_delay_ms &&
				  heat_now(v, i, now) >= 2;
		}
	}
	return moving * 4 >= all && moving > 0;
}

/* What the viewer now holds in r: below its quality (lossy) or not. Tiles r covers
 * only in part keep what they were, unless r makes them lossy. */
static void tiles_mark(struct pg_viewer *v, const struct pg_rect *r, bool lossy)
{
	int c0, c1, r0, r1;
	tile_span(v, r, &c0, &c1, &r0, &r1);
	for (int y = r0; y < r1; y++) {
		for (int x = c0; x < c1; x++) {
			struct pg_rect t = {x * TILE, y * TILE, TILE, TILE};
			t = pg_rect_intersect(t, (struct pg_rect){0, 0, v->vw, v->vh});
			struct pg_rect in = pg_rect_intersect(t, *r);
			bool whole = in.w == t.w && in.h == t.h;
			if (lossy || whole)
				v->t_lossy[(size_t)y * v->tcols + x] = lossy;
		}
	}
}

/* A copy moves lossy pixels: tiles of dst whose source overlaps a lossy tile. */
static void tiles_copy(struct pg_viewer *v, const struct pg_rect *dst, int dx, int dy)
{
	int c0, c1, r0, r1;
	if (!v->tcols)
		return;
	tile_span(v, dst, &c0, &c1, &r0, &r1);
	/* Bottom-up when moving down, so no tile reads a flag this copy just set. */
	for (int k = 0; k < r1 - r0; k++) {
		int y = dy > 0 ? r1 - 1 - k : r0 + k;
		for (int kx = 0; kx < c1 - c0; kx++) {
			int x = dx > 0 ? c1 - 1 - kx : c0 + kx;
			struct pg_rect t = {x * TILE - dx, y * TILE - dy, TILE, TILE};
			int sc0, sc1, sr0, sr1;
			bool lossy = false;
			t = pg_rect_intersect(t, (struct pg_rect){0, 0, v->vw, v->vh});
			tile_span(v, &t, &sc0, &sc1, &sr0, &sr1);
			for (int sy = sr0; sy < sr1 && !lossy; sy++)
				for (int sx = sc0; sx < sc1 && !lossy; sx++)
					lossy = v->t_lossy[(size_t)sy * v->tcols + sx];
			if (lossy) {
				/* Moved, not changed: refined once it stays put. */
				v->t_lossy[(size_t)y * v->tcols + x] = 1;
				v->t_changed[(size_t)y * v->tcols + x] = (uint32_t)pg_now_ms();
			}
		}
	}
}

/* Lossy tiles still for refine_delay go again at the viewer's quality; returns
 * whether any were added, else sets *next_ms to when the next one is due (0: none).
 * With clip, only tiles wholly inside it: a tile sent in part stays lossy, and would
 * be due again at once, without end. */
static bool refine_due(struct pg_viewer *v, uint64_t *next_ms, const struct pg_rect *clip)
{
	uint32_t now = (uint32_t)pg_now_ms(), delay = (uint32_t)v->relay->refine_delay_ms;
	uint32_t soonest = UINT32_MAX;
	bool added = false;
	*next_ms = 0;
	if (!adaptive(v) || !v->tcols)
		return false;
	for (int y = 0; y < v->trows; y++) {
		for (int x = 0; x < v->tcols; x++) {
			size_t i = (size_t)y * v->tcols + x;
			if (!v->t_lossy[i])
				continue;
			if (clip) {
				struct pg_rect t = {x * TILE, y * TILE, TILE, TILE};
				t = pg_rect_intersect(t, (struct pg_rect){0, 0, v->vw, v->vh});
				struct pg_rect in = pg_rect_intersect(t, *clip);
				if (in.w != t.w || in.h != t.h)
					continue;
			}
			uint32_t still = now - v->t_changed[i];
			if (still >= delay) {
				pg_update_add(v, (struct pg_rect){x * TILE, y * TILE, TILE, TILE});
				v->refining = true;
				added = true;
			} else if (delay - still < soonest) {
				soonest = delay - still;
			}
		}
	}
	if (!added && soonest != UINT32_MAX)
		*next_ms = soonest;
	return added;
}

/* ---- what the viewer lacks ---- */

/* Add r to a list of at most MAX_PENDING rectangles: merged into a neighbour when
 * that costs little area, the whole list collapsing to its bounding box when full. */
static void list_add(struct pg_rect *list, int *n, struct pg_rect r)
{
	for (int i = 0; i < *n; i++) {
		struct pg_rect *p = &list[i];
		struct pg_rect u = pg_rect_union(*p, r);
		if ((long)u.w * u.h <= (long)p->w * p->h + (long)r.w * r.h + 64L * 64) {
			*p = u;
			return;
		}
	}
	if (*n == MAX_PENDING) {
		for (int i = 1; i < *n; i++)
			r = pg_rect_union(r, list[i]);
		r = pg_rect_union(r, list[0]);
		*n = 0;
	}
	list[(*n)++] = r;
}

void pg_update_add(struct pg_viewer *v, struct pg_rect r)
{
	r = pg_rect_intersect(r, (struct pg_rect){0, 0, v->vw, v->vh});
	if (pg_rect_empty(&r))
		return;
	list_add(v->pending, &v->npending, r);
}

void pg_update_unhold(struct pg_viewer *v)
{
	for (int i = 0; i < v->noutside; i++)
		pg_update_add(v, v->outside[i]);
	v->noutside = 0;
}

/* The parts of a outside b (at most four bands), held for a later request. */
static void hold_outside(struct pg_viewer *v, struct pg_rect a, struct pg_rect b)
{
	struct pg_rect i = pg_rect_intersect(a, b), out[4];
	int n = 0;
	if (pg_rect_empty(&a))
		return;
	if (pg_rect_empty(&i)) {
		list_add(v->outside, &v->noutside, a);
		return;
	}
	if (i.y > a.y)
		out[n++] = (struct pg_rect){a.x, a.y, a.w, i.y - a.y};
	if (i.y + i.h < a.y + a.h)
		out[n++] = (struct pg_rect){a.x, i.y + i.h, a.w, a.y + a.h - i.y - i.h};
	if (i.x > a.x)
		out[n++] = (struct pg_rect){a.x, i.y, i.x - a.x, i.h};
	if (i.x + i.w < a.x + a.w)
		out[n++] = (struct pg_rect){i.x + i.w, i.y, a.x + a.w - i.x - i.w, i.h};
	for (int k = 0; k < n; k++)
		list_add(v->outside, &v->noutside, out[k]);
}

/* The banner a viewer's updates draw over its picture, in picture coordinates. */
static bool banner_rect(const struct pg_viewer *v, struct pg_rect *r)
{
	if (!v->banner || !v->banner->ov)
		return false;
	*r = (struct pg_rect){v->banner->x, v->banner->y, v->banner->ov->w, v->banner->ov->h};
	return true;
}

/* The viewer's picture moves like the session's: a CopyRect in its next update,
 * before that update's rectangles. What the viewer holds in src is not always what
 * the session held there: pixels it still lacks (pending damage) and the banner
 * drawn over its picture move with the copy, so where they land is damage too. */
/* Rows [y0, y1) of r's columns, as damage, when not empty. */
static void add_rows(struct pg_viewer *v, const struct pg_rect *r, int y0, int y1)
{
	if (y1 > y0)
		pg_update_add(v, (struct pg_rect){r->x, y0, r->w, y1 - y0});
}

/* A second vertical move of the same columns before the viewer's next update (the
 * page scrolled twice): one CopyRect by the sum of both does it where the second moved
 * pixels the first had moved; the rest of either destination is damage. False when
 * the two do not compose (other columns), and nothing changed. */
static bool compose_copy(struct pg_viewer *v, const struct pg_rect *dst, int dy)
{
	struct pg_rect d1 = v->copy_dst;
	int dy1 = d1.y - v->copy_sy;
	if (v->copy_sx != d1.x || dst->x != d1.x || dst->w != d1.w)
		return false;
	/* Rows of the second's destination whose pixels the first had moved. */
	int top = dst->y > d1.y + dy ? dst->y : d1.y + dy;
	int end = dst->y + dst->h < d1.y + d1.h + dy ? dst->y + dst->h : d1.y + d1.h + dy;
	if (end <= top) {
		/* None: the first stands, and the second's destination is damage. */
		pg_update_add(v, *dst);
		return true;
	}
	/* The first's destination outside the second's, and the second's outside the
	 * composed rows: moved by one of the two only. */
	add_rows(v, &d1, d1.y, d1.y + d1.h < dst->y ? d1.y + d1.h : dst->y);
	add_rows(v, &d1, d1.y > dst->y + dst->h ? d1.y : dst->y + dst->h, d1.y + d1.h);
	add_rows(v, dst, dst->y, top);
	add_rows(v, dst, end, dst->y + dst->h);
	if (dy1 + dy == 0) {
		/* Moved back where it was: the viewer holds those rows already. */
		v->copy_pending = false;
		return true;
	}
	v->copy_dst = (struct pg_rect){dst->x, top, dst->w, end - top};
	v->copy_sy = top - (dy1 + dy);
	return true;
}

void pg_viewer_copy(struct pg_viewer *v, const struct pg_rect *dst, int src_x, int src_y)
{
	if (v->state != V_NORMAL)
		return;
	struct pg_rect src = {src_x, src_y, dst->w, dst->h};
	int dx = dst->x - src_x, dy = dst->y - src_y;
	if (!v->has_copyrect || v->pending_resize || !pg_rect_inside(dst, v->vw, v->vh) ||
	    !pg_rect_inside(&src, v->vw, v->vh) || (v->copy_pending && dx)) {
		pg_update_add(v, *dst);
		return;
	}
	struct pg_rect moved[2 * MAX_PENDING + 2];
	int n = 0;
	for (int i = 0; i < v->npending; i++)
		moved[n++] = pg_rect_intersect(v->pending[i], src);
	for (int i = 0; i < v->noutside; i++)
		moved[n++] = pg_rect_intersect(v->outside[i], src);
	struct pg_rect b;
	if (banner_rect(v, &b)) {
		moved[n++] = pg_rect_intersect(b, src);
		pg_update_add(v, b);
	}
	if (pg_vmark_moves_badly(v)) {
		/* The mark covers the picture: repairing it after every copy would send the
		 * whole page again at each step of a scroll. It moves with the page until the
		 * page is still, then the moved area is drawn again (pg_vmark_tick). */
		pg_vmark_moved(v, dst);
	} else if (pg_vmark_bounds(v, v->vw, v->vh, &b)) {
		moved[n++] = pg_rect_intersect(b, src);
		pg_update_add(v, b);
	}
	for (int i = 0; i < n; i++) {
		if (pg_rect_empty(&moved[i]))
			continue;
		moved[i].x += dx;
		moved[i].y += dy;
		pg_update_add(v, moved[i]);
	}
	if (v->tcols)
		tiles_copy(v, dst, dx, dy);
	if (v->copy_pending && compose_copy(v, dst, dy))
		return;
	if (v->copy_pending) {
		pg_update_add(v, *dst);
		return;
	}
	v->copy_pending = true;
	v->copy_dst = *dst;
	v->copy_sx = src_x;
	v->copy_sy = src_y;
}

/* ---- encoding on the thread pool ---- */

static void part_run(uv_work_t *work)
{
	struct part *p = work->data;
	int last = -1;
	uint64_t t0 = uv_hrtime();
	for (int i = 0; i < p->nrects; i++) {
		int rc = 0;
		if (p->q[i] != last && p->quality >= 0) {
			last = p->q[i];
			if (last == Q_MOTION && p->quality > MOTION_FLOOR)
				rc = pg_encoder_set_jpeg(p->enc,
							 p->quality > MOTION_FLOOR + MOTION_DROP
							     ? p->quality - MOTION_DROP
							     : MOTION_FLOOR,
							 p->samp == 3 ? 3 : 2);
			else if (last == Q_REFINE)
				rc = pg_encoder_set_jpeg(p->enc, -1, -1);
			else
				rc = pg_encoder_set_jpeg(p->enc, p->quality, p->samp);
		}
		if (rc >= 0)
			rc = pg_encoder_encode(p->enc, p->job->src, &p->rects[i], &p->out);
		if (rc < 0) {
			p->rc = rc;
			break;
		}
		p->count += rc;
	}
	p->ns = uv_hrtime() - t0;
}

static void share_done(struct job *j, int rc);
static int write_pseudo(struct pg_viewer *v, struct pg_buf *out, uint16_t *count);

static void job_free(struct job *j)
{
	struct pg_session *s = j->session;
	if (j->share)
		share_done(j, PG_ENOMEM); /* never queued */
	for (int i = 0; i < j->nparts; i++)
		pg_buf_free(&j->part[i].out);
	free(j);
	/* Last: an update the session held back may come in now, and start jobs. */
	if (s)
		pg_session_read_end(s);
}

/* Both parts done: one update of part 0's bytes then part 1's. */
static int job_join(struct job *j)
{
	struct pg_buf *out = &j->part[0].out;
	int n = j->pseudo;
	for (int i = 0; i < j->nparts; i++) {
		if (j->part[i].rc < 0)
			return j->part[i].rc;
		n += j->part[i].count;
	}
	if (n > 65535)
		return PG_ELIMIT;
	for (int i = 1; i < j->nparts; i++) {
		int rc = pg_buf_append(out, j->part[i].out.data, j->part[i].out.len);
		if (rc < 0)
			return rc;
	}
	pg_wr16(out->data + 2, (uint16_t)n);
	j->count = n;
	return 0;
}

/* The update in out goes to the viewer, which takes the buffer. */
static void send_update(struct pg_viewer *v, struct pg_buf *out, bool shared)
{
	v->updates++;
	v->shared_updates += shared;
	pg_metrics_add(v->relay->metrics, PG_M_VIEWER_FRAMES, 1);
	if (v->relay->max_bandwidth)
		v->bw_tokens -= (double)out->len;
	pg_debug("viewer %llu %s: update %llu, %zu bytes%s%s", (unsigned long long)v->id, v->peer,
		 (unsigned long long)v->updates, out->len, shared ? " (shared)" : "",
		 v->cu_on ? " (continuous)" : "");
	pg_viewer_send_owned(v, out->data, out->len);
	pg_buf_init(out, 0); /* given away */
	/* Replies that waited for this update, then a round-trip fence. */
	pg_flow_update_sent(v);
}

/* ---- bytes shared between viewers ----
 *
 * Two viewers of a session that use the same encoding, pixel format and options
 * usually lack the same rectangles of the same picture at the same moment (both
 * keep up with the browser host): the first to start an update (the leader)
 * encodes it and leaves its bytes in the session's slot with what they show (the
 * key); another that starts the same update takes a copy of them, at once or when
 * the leader's job ends (a follower). Such bytes must decode whatever the viewer
 * decoded before: while the session has viewers alike, each Tight update restarts
 * its zlib streams (their reset bits), and a viewer given another's bytes restarts
 * its own in its next update. Raw has no state. ZRLE's one stream cannot restart,
 * and a viewer with a banner of its own has its own pixels: neither shares. */

void pg_share_put(struct pg_share *sh)
{
	if (!sh || --sh->refs > 0)
		return;
	pg_buf_free(&sh->body);
	free(sh);
}

static bool alike(const struct pg_viewer *v, const struct pg_viewer *w)
{
	uint8_t a[16], b[16];
	if (w == v || w->state != V_NORMAL || w->closing || w->banner || w->mark ||
	    w->encoding != v->encoding || memcmp(&w->eopts, &v->eopts, sizeof(v->eopts)))
		return false;
	pg_pixfmt_write(&v->pf, a);
	pg_pixfmt_write(&w->pf, b);
	return !memcmp(a, b, sizeof(a));
}

/* Whether v's update may be another viewer's bytes, or become them. */
static bool may_share(const struct pg_viewer *v)
{
	struct pg_viewer **all;
	if (v->banner || v->mark || v->encoding == PG_ENC_ZRLE || !v->session)
		return false;
	int n = pg_session_viewers(v->session, &all);
	for (int i = 0; i < n; i++)
		if (alike(v, all[i]))
			return true;
	return false;
}

static void share_key(const struct pg_viewer *v, const struct pg_rect *r, const signed char *q,
		      int n, struct share_key *k)
{
	memset(k, 0, sizeof(*k));
	k->version = pg_session_version(v->session);
	k->encoding = v->encoding;
	k->quality = v->q_target;
	k->eopts = v->eopts;
	pg_pixfmt_write(&v->pf, k->pf);
	k->nrects = n;
	memcpy(k->rects, r, sizeof(*r) * (size_t)n);
	memcpy(k->q, q, (size_t)n);
}

/* The follower's update: its header and pseudo-rectangles, then the leader's. */
static void follower_send(struct follower *f, const struct pg_share *sh)
{
	struct pg_viewer *v = f->v;
	int rc = sh->rc;
	if (!rc && f->pseudo + sh->count > 65535)
		rc = PG_ELIMIT;
	if (!rc)
		rc = pg_buf_append(&f->out, sh->body.data, sh->body.len);
	if (v->closing)
		;
	else if (rc < 0)
		pg_viewer_close(v, "encoding an update failed");
	else {
		pg_wr16(f->out.data + 2, (uint16_t)(f->pseudo + sh->count));
		send_update(v, &f->out, true);
	}
	pg_buf_free(&f->out);
	free(f);
}

/* The leader's job ended (rc): its bytes go to the slot and to those waiting. */
static void share_done(struct job *j, int rc)
{
	struct pg_share *sh = j->share;
	const struct pg_buf *out = &j->part[0].out;
	sh->busy = false;
	if (!rc)
		rc = pg_buf_append(&sh->body, out->data + j->body_off, out->len - j->body_off);
	sh->rc = rc < 0 ? rc : 0;
	sh->count = j->count - j->pseudo;
	while (sh->followers) {
		struct follower *f = sh->followers;
		struct pg_viewer *v = f->v;
		sh->followers = f->next;
		v->job_running = false;
		follower_send(f, sh);
		if (!v->closing)
			pg_update_maybe_send(v);
		pg_viewer_unref(v);
	}
	j->share = NULL;
	pg_share_put(sh);
}

/* v's update is the slot's (sh): take its bytes, now or when its leader is done. */
static void follow(struct pg_viewer *v, struct pg_share *sh)
{
	struct follower *f = calloc(1, sizeof(*f));
	if (!f) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	f->v = v;
	pg_buf_init(&f->out, MAX_UPDATE_BYTES);
	if (pg_enc_update_header(&f->out, 0) < 0 || write_pseudo(v, &f->out, &f->pseudo) < 0) {
		pg_buf_free(&f->out);
		free(f);
		pg_viewer_close(v, "cannot build an update");
		return;
	}
	/* The viewer's decoder follows the leader's streams now, not ours. */
	pg_encoder_restart(v->enc);
	if (v->enc2)
		pg_encoder_restart(v->enc2);
	if (!sh->busy) {
		follower_send(f, sh);
		return;
	}
	v->job_running = true;
	pg_viewer_ref(v);
	f->next = sh->followers;
	sh->followers = f;
}

/* v leads: a new slot for its update (key k), which its job j fills. */
static void lead(struct pg_viewer *v, struct job *j, const struct share_key *k)
{
	struct pg_share **slot = pg_session_share(v->session);
	struct pg_share *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return; /* not shared: the update itself goes on */
	sh->refs = 2;
	sh->busy = true;
	sh->key = *k;
	pg_buf_init(&sh->body, MAX_UPDATE_BYTES);
	pg_share_put(*slot);
	*slot = sh;
	j->share = sh;
}

static void part_done(uv_work_t *work, int status)
{
	struct part *p = work->data;
	struct job *j = p->job;
	struct pg_viewer *v = j->v;
	if (status < 0 && !p->rc)
		p->rc = PG_ENOMEM;
	if (--j->running > 0)
		return;
	v->job_running = false;
	uint64_t ns = 0;
	for (int i = 0; i < j->nparts; i++)
		ns += j->part[i].ns;
	pg_metrics_encode(v->relay->metrics, (double)ns / 1e9);
	/* Joined for followers even when the leader has gone. */
	int rc = v->closing && !j->share ? 0 : job_join(j);
	if (j->share)
		share_done(j, rc);
	if (!v->closing && rc < 0) {
		pg_viewer_close(v, "encoding an update failed");
	} else if (!v->closing) {
		send_update(v, &j->part[0].out, false);
		if (!v->closing)
			pg_update_maybe_send(v);
	}
	job_free(j);
	pg_viewer_unref(v);
}

/* Point v->enc at an encoder for the viewer's current encoding, format and options.
 * The ZRLE encoder, once made, lives as long as the connection (its zlib stream must
 * match the viewer's) and is reconfigured; the others are simply made anew. */
static int ensure_encoder(struct pg_viewer *v)
{
	if (v->enc && !v->enc_dirty)
		return 0;
	if (v->enc != v->zrle)
		pg_encoder_del(v->enc);
	pg_encoder_del(v->enc2);
	v->enc = v->enc2 = NULL;
	if (v->encoding == PG_ENC_ZRLE && v->zrle) {
		if (pg_encoder_configure(v->zrle, &v->pf, &v->eopts) < 0)
			return PG_EUNSUP;
		v->enc = v->zrle;
	} else {
		v->enc = pg_encoder_new(v->encoding, &v->pf, &v->eopts);
		if (v->encoding == PG_ENC_ZRLE)
			v->zrle = v->enc;
	}
	v->enc_dirty = false;
	if (!v->enc)
		return PG_ENOMEM;
	/* The quality the viewer asked for, before adaptive quality changes it. */
	v->q_target = pg_encoder_jpeg_quality(v->enc);
	if (v->encoding == PG_ENC_TIGHT) {
		struct pg_enc_opts o = v->eopts;
		o.lane = 1;
		v->enc2 = pg_encoder_new(PG_ENC_TIGHT, &v->pf, &o);
	}
	return 0;
}

static int write_pseudo(struct pg_viewer *v, struct pg_buf *out, uint16_t *count)
{
	const struct pg_fb *fb = pg_session_fb(v->session);
	int rc = 0;
	/* The new size this viewer asked for reaches it as the answer to its request
	 * (reason 1), as RFB says; any other goes as the server's own (reason 0). */
	bool own = v->pending_resize && v->pending_size_reply && v->size_status == 0 &&
		   v->has_ext_desktop_size;
	if (v->pending_resize && !own) {
		if (v->has_ext_desktop_size)
			rc = pg_enc_ext_desktop_size(out, fb->w, fb->h, 0, 0);
		else
			rc = pg_enc_desktop_size(out, fb->w, fb->h);
		(*count)++;
	}
	v->pending_resize = false;
	if (!rc && v->pending_size_reply) {
		/* The answer to the viewer's SetDesktopSize, with the size it has. */
		rc = pg_enc_ext_desktop_size(out, v->vw, v->vh, 1, v->size_status);
		(*count)++;
		v->pending_size_reply = false;
	}
	if (!rc && v->pending_qemu_ack) {
		rc = pg_enc_qemu_key_ack(out);
		(*count)++;
		v->pending_qemu_ack = false;
		v->qemu_key_acked = true;
	}
	if (!rc && v->pending_cursor) {
		const struct pg_cursor_shape *c = pg_session_cursor(v->session);
		rc = pg_enc_cursor(out, &v->pf, c->hot_x, c->hot_y, c->w, c->h, c->px, c->mask);
		(*count)++;
		v->pending_cursor = false;
	}
	/* The copy goes before the rectangles that repair what it could not move. */
	if (!rc && v->copy_pending) {
		rc = pg_enc_copyrect(out, &v->copy_dst, v->copy_sx, v->copy_sy);
		(*count)++;
		v->copies++;
	}
	v->copy_pending = false;
	return rc;
}

/* ---- when the next update may go ---- */

size_t pg_update_kernel_queued(struct pg_viewer *v, bool unsent)
{
	uv_os_fd_t fd;
	int n = 0;
	if (uv_fileno((uv_handle_t *)&v->tcp, &fd) < 0 ||
	    ioctl(fd, unsent ? SIOCOUTQNSD : SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

/* Sample the viewer's throughput: bytes acknowledged over an interval during which
 * data stayed in flight (at both ends), so it measures the link, not our demand. */
static size_t measure_inflight(struct pg_viewer *v, uint64_t now)
{
	size_t inflight = uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) +
			  pg_update_kernel_queued(v, false);
	uint64_t acked = v->bytes_out > inflight ? v->bytes_out - inflight : 0;
	if (!v->est_ms || now - v->est_ms >= SAMPLE_MS) {
		if (v->est_ms && v->est_busy && inflight && acked >= v->est_acked) {
			double rate =
			    (double)(acked - v->est_acked) * 1000.0 / (double)(now - v->est_ms);
			v->est_Bps = v->est_Bps > 0 ? 0.75 * v->est_Bps + 0.25 * rate : rate;
		}
		v->est_ms = now;
		v->est_acked = acked;
		v->est_busy = inflight > 0;
	}
	return inflight;
}

static void on_pace(uv_timer_t *t)
{
	pg_update_maybe_send(t->data);
}

/* Look again in ms, or sooner if the pace timer is due sooner already: a refinement
 * due in 300 ms must not hold back a frame the frame-rate cap allows in 10. */
static void wait_ms(struct pg_viewer *v, uint64_t ms)
{
	if (!ms)
		ms = 1;
	if (v->close_pending ||
	    (uv_is_active((uv_handle_t *)&v->timer) && uv_timer_get_due_in(&v->timer) <= ms))
		return;
	uv_timer_start(&v->timer, on_pace, ms, 0);
}

/* Whether an update may start now; if not, the pace timer will look again. */
static bool may_send(struct pg_viewer *v)
{
	struct pg_relay *relay = v->relay;
	uint64_t now = pg_now_ms();
	/* The frame-rate cap: a bucket of frames refilled at max_fps that holds
	 * FPS_BURST, so the rate holds on average while a small change that follows a
	 * frame closely (a key typed amid an animation) need not wait a whole frame. A
	 * frame takes its token when it starts, so its encoding overlaps the wait for
	 * the next, or a 20 ms encode would turn 30 frames a second into 19. */
	double fps = relay->max_fps;
	v->fps_tokens =
	    v->fps_ms ? v->fps_tokens + fps * (double)(now - v->fps_ms) / 1000.0 : FPS_BURST;
	if (v->fps_tokens > FPS_BURST)
		v->fps_tokens = FPS_BURST;
	v->fps_ms = now;
	if (v->fps_tokens < 1) {
		wait_ms(v, (uint64_t)((1 - v->fps_tokens) * 1000.0 / fps) + 1);
		return false;
	}
	if (relay->max_bandwidth) {
		double rate = (double)relay->max_bandwidth * 125.0; /* kbit/s to bytes/s */
		double burst = rate / 2 > (double)INFLIGHT_MIN ? rate / 2 : (double)INFLIGHT_MIN;
		v->bw_tokens += rate * (double)(now - v->bw_refill_ms) / 1000.0;
		if (v->bw_tokens > burst)
			v->bw_tokens = burst;
		v->bw_refill_ms = now;
		if (v->bw_tokens < 0) {
			wait_ms(v, (uint64_t)(-v->bw_tokens * 1000.0 / rate) + 1);
			return false;
		}
	}
	size_t inflight = measure_inflight(v, now);
	double budget = v->est_Bps * PICTURE_MS / 1000.0;
	if (budget < INFLIGHT_MIN)
		budget = INFLIGHT_MIN;
	/* With a round trip measured (fences, flow.c), in flight need only be what keeps
	 * the link busy: what it carries in one round trip (the least of the last windows,
	 * the wire's, not our own queue's), plus two frame intervals for the next update's
	 * encoding to overlap the sending, and never less than INFLIGHT_RTT_MIN. More only
	 * makes the next picture wait behind older ones: on a 1 Mbit/s link with a 30 ms
	 * round trip that is 16 KiB (130 ms) rather than 64 KiB (half a second). Never more
	 * than the rule without a round trip. The margin also lets the throughput estimate
	 * grow: a budget above one round trip's worth keeps the link fuller than the
	 * estimate, so the next sample is higher, up to what the link carries. */
	if (v->rtt_samples && v->est_Bps > 0) {
		double rtt_budget = v->est_Bps * ((double)v->rtt_base_ms + 2000.0 / fps) / 1000.0;
		if (rtt_budget < INFLIGHT_RTT_MIN)
			rtt_budget = INFLIGHT_RTT_MIN;
		if (rtt_budget < budget)
			budget = rtt_budget;
	}
	if (v->est_Bps > 0 && (double)inflight > budget) {
		wait_ms(v, POLL_MS);
		return false;
	}
	return true;
}

/* The session's pixels are encoded where they are, unless the viewer's banner lies
 * over the update: then the rectangles go to the viewer's snapshot buffer, with the
 * banner drawn there (once, on the loop thread, so the two parts never write the
 * same pixels), and the job reads that. v->snap is empty otherwise. */
static bool rects_meet(const struct pg_rect *b, const struct pg_rect *r, int n)
{
	for (int i = 0; i < n; i++) {
		struct pg_rect in = pg_rect_intersect(*b, r[i]);
		if (!pg_rect_empty(&in))
			return true;
	}
	return false;
}

static int use_snapshot(struct pg_viewer *v, const struct pg_fb *fb, const struct pg_rect *r, int n)
{
	struct pg_rect b, m;
	bool banner = banner_rect(v, &b);
	bool over = (banner && rects_meet(&b, r, n)) ||
		    (pg_vmark_bounds(v, fb->w, fb->h, &m) && rects_meet(&m, r, n));
	if (!over) {
		pg_fb_free(&v->snap);
		return 0;
	}
	if (v->snap.w != fb->w || v->snap.h != fb->h) {
		pg_fb_free(&v->snap);
		if (pg_fb_alloc(&v->snap, fb->w, fb->h) < 0)
			return PG_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		pg_fb_copy_rect(&v->snap, fb, &r[i]);
		pg_vmark_draw(v, &v->snap, &r[i]);
		if (banner)
			pg_overlay_draw(&v->snap, v->banner->ov, b.x, b.y, &r[i]);
	}
	return 0;
}

/* Cut the rectangles in two parts of about equal area for two threads, splitting
 * the rectangle that straddles the middle along a row. */
static void split_parts(struct job *j, const struct pg_rect *r, const signed char *q, int n)
{
	long total = 0, half, acc = 0;
	for (int i = 0; i < n; i++)
		total += (long)r[i].w * r[i].h;
	struct part *a = &j->part[0], *b = &j->part[1];
	if (!b->enc || total < LANE_MIN_PIXELS) {
		memcpy(a->rects, r, sizeof(*r) * (size_t)n);
		memcpy(a->q, q, (size_t)n);
		a->nrects = n;
		j->nparts = 1;
		return;
	}
	half = total / 2;
	for (int i = 0; i < n; i++) {
		long area = (long)r[i].w * r[i].h;
		if (acc >= half) {
			b->q[b->nrects] = q[i];
			b->rects[b->nrects++] = r[i];
		} else if (acc + area <= half) {
			a->q[a->nrects] = q[i];
			a->rects[a->nrects++] = r[i];
		} else {
			int rows = (int)((half - acc + r[i].w - 1) / r[i].w);
			struct pg_rect top = r[i], bottom = r[i];
			top.h = rows;
			bottom.y += rows;
			bottom.h -= rows;
			a->q[a->nrects] = b->q[b->nrects] = q[i];
			a->rects[a->nrects++] = top;
			if (bottom.h > 0)
				b->rects[b->nrects++] = bottom;
		}
		acc += area;
	}
	j->nparts = b->nrects ? 2 : 1;
}

/* Something to send: with clip (continuous updates, nothing requested), damage only
 * counts inside it. */
static bool has_work(const struct pg_viewer *v, const struct pg_rect *clip)
{
	if (v->pending_resize || v->pending_cursor || v->pending_size_reply ||
	    v->pending_qemu_ack || v->copy_pending)
		return true;
	if (!clip)
		return v->npending > 0;
	for (int i = 0; i < v->npending; i++) {
		struct pg_rect r = pg_rect_intersect(v->pending[i], *clip);
		if (!pg_rect_empty(&r))
			return true;
	}
	return false;
}

void pg_update_maybe_send(struct pg_viewer *v)
{
	if (v->closing || v->close_pending || v->state != V_NORMAL || v->job_running ||
	    (!v->requested && !v->cu_on) || pg_session_held(v->session))
		return; /* a held update, once in, calls again */
	/* A request takes everything; continuous updates alone take their area. */
	const struct pg_rect *clip = v->requested ? NULL : &v->cu_rect;
	if (!clip)
		pg_update_unhold(v);
	uint64_t refine_ms = 0;
	if (!has_work(v, clip) && !(refine_due(v, &refine_ms, clip) && has_work(v, clip))) {
		if (refine_ms)
			wait_ms(v, refine_ms);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) > PG_VIEWER_MAX_QUEUED)
		return; /* on_write calls again when the queue drains */
	if (!may_send(v))
		return;
	if (ensure_encoder(v) < 0) {
		pg_viewer_close(v, "cannot create the encoder");
		return;
	}
	const struct pg_fb *fb = pg_session_fb(v->session);
	if (v->pending_resize) {
		v->vw = fb->w;
		v->vh = fb->h;
	}
	/* What the update holds, and at which quality. */
	struct pg_rect rects[MAX_PENDING];
	signed char q[MAX_PENDING];
	int n = 0;
	for (int i = 0; i < v->npending; i++) {
		struct pg_rect r =
		    pg_rect_intersect(v->pending[i], (struct pg_rect){0, 0, fb->w, fb->h});
		if (clip) {
			hold_outside(v, r, *clip);
			r = pg_rect_intersect(r, *clip);
		}
		if (pg_rect_empty(&r))
			continue;
		q[n] = Q_VIEWER;
		if (adaptive(v) && tiles_fit(v) == 0) {
			q[n] = tiles_moving(v, &r) ? Q_MOTION : v->refining ? Q_REFINE : Q_VIEWER;
			/* Anything sent with JPEG allowed may be lossy; a refinement is not. */
			tiles_mark(v, &r, q[n] != Q_REFINE);
		}
		rects[n++] = r;
	}
	v->refining = false;
	struct share_key key;
	bool share = n > 0 && may_share(v);
	if (share) {
		struct pg_share *sh = *pg_session_share(v->session);
		share_key(v, rects, q, n, &key);
		if (sh && (sh->busy || !sh->rc) && !memcmp(&sh->key, &key, sizeof(key))) {
			v->npending = 0;
			v->requested = false;
			v->fps_tokens -= 1;
			follow(v, sh);
			return;
		}
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	j->v = v;
	j->part[0].enc = v->enc;
	j->part[1].enc = v->enc2;
	for (int i = 0; i < NPARTS; i++) {
		j->part[i].job = j;
		j->part[i].work.data = &j->part[i];
		pg_buf_init(&j->part[i].out, MAX_UPDATE_BYTES);
	}
	j->nparts = NPARTS;
	struct pg_buf *out = &j->part[0].out;
	if (pg_enc_update_header(out, 0) < 0 || write_pseudo(v, out, &j->pseudo) < 0)
		goto fail;
	j->body_off = out->len;
	if (use_snapshot(v, fb, rects, n) < 0)
		goto fail;
	j->src = v->snap.px ? &v->snap : fb;
	if (share) {
		/* Bytes any alike viewer can decode, whatever it decoded before. */
		pg_encoder_restart(v->enc);
		if (v->enc2)
			pg_encoder_restart(v->enc2);
		lead(v, j, &key);
	}
	for (int i = 0; i < NPARTS; i++) {
		j->part[i].quality = v->q_target;
		j->part[i].samp = v->eopts.subsampling;
	}
	split_parts(j, rects, q, n);
	v->npending = 0;
	v->requested = false;
	v->job_running = true;
	v->fps_tokens -= 1;
	if (j->src == fb) {
		j->session = v->session;
		pg_session_read_begin(j->session);
	}
	/* The second part first: if it cannot be queued, the first takes its rectangles
	 * before it runs. */
	if (j->nparts == 2 &&
	    uv_queue_work(v->relay->loop, &j->part[1].work, part_run, part_done) < 0) {
		struct part *a = &j->part[0], *p = &j->part[1];
		memcpy(a->rects + a->nrects, p->rects, sizeof(*p->rects) * (size_t)p->nrects);
		memcpy(a->q + a->nrects, p->q, (size_t)p->nrects);
		a->nrects += p->nrects;
		j->nparts = 1;
	}
	j->running = j->nparts - 1;
	if (uv_queue_work(v->relay->loop, &j->part[0].work, part_run, part_done) < 0) {
		if (!j->running) {
			v->job_running = false;
			goto fail;
		}
		/* The second part runs; the update fails when it ends. */
		j->part[0].rc = PG_ENOMEM;
	} else {
		j->running++;
	}
	pg_viewer_ref(v);
	return;
fail:
	job_free(j);
	pg_viewer_close(v, "cannot build an update");
}

/* ---- calls from the session ---- */

void pg_viewer_damage(struct pg_viewer *v, const struct pg_rect *r, int n)
{
	if (v->state != V_NORMAL)
		return;
	/* All of an update's rectangles first, so they leave in one update. */
	for (int i = 0; i < n; i++) {
		tiles_touch(v, &r[i]);
		pg_update_add(v, r[i]);
	}
	pg_update_maybe_send(v);
}

void pg_viewer_resized(struct pg_viewer *v)
{
	if (v->state != V_NORMAL)
		return;
	const struct pg_fb *fb = pg_session_fb(v->session);
	v->copy_pending = false;
	if (v->has_ext_desktop_size || v->has_desktop_size) {
		/* Continuous updates over the whole picture go on over the whole new one
		 * (the viewer says so again soon: noVNC and TigerVNC do). */
		if (v->cu_on && v->cu_rect.x == 0 && v->cu_rect.y == 0 && v->cu_rect.w == v->vw &&
		    v->cu_rect.h == v->vh)
			v->cu_rect = (struct pg_rect){0, 0, fb->w, fb->h};
		v->cu_rect = pg_rect_intersect(v->cu_rect, (struct pg_rect){0, 0, fb->w, fb->h});
		v->pending_resize = true;
		v->npending = 0;
		v->noutside = 0;
		/* The viewer learns the new size with the next update; pending damage
		 * is kept in the new size's coordinates from now on. */
		v->vw = fb->w;
		v->vh = fb->h;
		pg_update_add(v, (struct pg_rect){0, 0, fb->w, fb->h});
	} else {
		pg_warn("viewer %llu %s: browser host resized to %dx%d but this viewer cannot "
			"resize; showing the top-left %dx%d",
			(unsigned long long)v->id, v->peer, fb->w, fb->h, v->vw, v->vh);
		pg_update_add(v, (struct pg_rect){0, 0, v->vw, v->vh});
	}
	pg_update_maybe_send(v);
}

void pg_viewer_cursor_changed(struct pg_viewer *v)
{
	if (v->state != V_NORMAL || !v->has_cursor)
		return;
	v->pending_cursor = true;
	pg_update_maybe_send(v);
}

void pg_update_free(struct pg_viewer *v)
{
	if (v->enc != v->zrle)
		pg_encoder_del(v->enc);
	pg_encoder_del(v->zrle);
	pg_encoder_del(v->enc2);
	pg_fb_free(&v->snap);
	free(v->t_changed);
	free(v->t_heat);
}
