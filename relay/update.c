/* A viewer's updates: what it still lacks, when it gets the next update, and the
 * encoding jobs that build it on the libuv thread pool.
 *
 * What a viewer lacks is a short list of damaged rectangles and at most one copy
 * (the session's pixels moved from one place to another, a scroll): merged, never
 * queued, so a slow viewer gets the newest pixels in one update, never a backlog.
 *
 * An update is built only when the viewer asked for one, no job of its own is
 * running, and none of these holds it back:
 * - the frame-rate cap (relay.max_fps);
 * - the bandwidth cap (relay.max_bandwidth), a token bucket of bytes;
 * - what is in flight: bytes queued in libuv and in the kernel's send buffer
 *   (SIOCOUTQ) may be at most what the viewer's link carries in PICTURE_MS, by an
 *   estimate of its throughput measured while data was in flight. A viewer on a
 *   thin link therefore gets fewer, fresher frames, not a picture seconds old.
 *
 * Each update is encoded from a snapshot of the damaged pixels (the loop thread may
 * change the session's picture meanwhile); a large Tight update is cut in two
 * parts encoded on two threads (two encoders whose zlib streams are disjoint). */
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
#include "relay/relay.h"
#include "relay/viewer_impl.h"
#include "render/text.h"

/* Encode the next update only when less than this is still queued in libuv. */
#define MAX_QUEUED	 (256u << 10)
#define MAX_UPDATE_BYTES ((size_t)PG_FB_MAX_SIDE * PG_FB_MAX_SIDE * 5)
#define MAX_PENDING	 PG_VIEWER_MAX_PENDING
/* In flight (libuv and kernel): at least this, else what the link carries in
 * PICTURE_MS; while more is in flight the scheduler looks again every POLL_MS. */
#define INFLIGHT_MIN (64u << 10)
#define PICTURE_MS   100
#define POLL_MS	     10
/* Throughput samples span at least this long. */
#define SAMPLE_MS 20
/* An update at least this large (pixels) is encoded in two parts at once. */
#define LANE_MIN_PIXELS (512 * 512)
#define NPARTS		2

struct job;

struct part {
	uv_work_t work;
	struct job *job;
	struct pg_encoder *enc;
	struct pg_rect rects[MAX_PENDING + 1];
	int nrects;
	struct pg_buf out;
	int count; /* rectangles written */
	int rc;
};

struct job {
	struct pg_viewer *v;
	struct pg_fb snap; /* the viewer's snapshot buffer, lent to this job */
	struct part part[NPARTS];
	int nparts, running;
	uint16_t pseudo; /* pseudo-rectangles and the CopyRect, in part 0's output */
};

void pg_update_maybe_send(struct pg_viewer *v);

/* ---- what the viewer lacks ---- */

void pg_update_add(struct pg_viewer *v, struct pg_rect r)
{
	r = pg_rect_intersect(r, (struct pg_rect){0, 0, v->vw, v->vh});
	if (pg_rect_empty(&r))
		return;
	for (int i = 0; i < v->npending; i++) {
		struct pg_rect *p = &v->pending[i];
		struct pg_rect u = pg_rect_union(*p, r);
		if ((long)u.w * u.h <= (long)p->w * p->h + (long)r.w * r.h + 64L * 64) {
			*p = u;
			return;
		}
	}
	if (v->npending == MAX_PENDING) {
		for (int i = 1; i < v->npending; i++)
			r = pg_rect_union(r, v->pending[i]);
		r = pg_rect_union(r, v->pending[0]);
		v->npending = 0;
	}
	v->pending[v->npending++] = r;
}

static bool inside(const struct pg_rect *r, int w, int h)
{
	return r->x >= 0 && r->y >= 0 && r->w > 0 && r->h > 0 && r->x + r->w <= w &&
	       r->y + r->h <= h;
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
void pg_viewer_copy(struct pg_viewer *v, const struct pg_rect *dst, int src_x, int src_y)
{
	if (v->state != V_NORMAL)
		return;
	struct pg_rect src = {src_x, src_y, dst->w, dst->h};
	if (!v->has_copyrect || v->copy_pending || v->pending_resize ||
	    !inside(dst, v->vw, v->vh) || !inside(&src, v->vw, v->vh)) {
		pg_update_add(v, *dst);
		return;
	}
	int dx = dst->x - src_x, dy = dst->y - src_y;
	struct pg_rect moved[MAX_PENDING + 1];
	int n = 0;
	for (int i = 0; i < v->npending; i++)
		moved[n++] = pg_rect_intersect(v->pending[i], src);
	struct pg_rect b;
	if (banner_rect(v, &b)) {
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
	v->copy_pending = true;
	v->copy_dst = *dst;
	v->copy_sx = src_x;
	v->copy_sy = src_y;
}

/* ---- encoding on the thread pool ---- */

static void part_run(uv_work_t *work)
{
	struct part *p = work->data;
	for (int i = 0; i < p->nrects; i++) {
		int rc = pg_encoder_encode(p->enc, &p->job->snap, &p->rects[i], &p->out);
		if (rc < 0) {
			p->rc = rc;
			return;
		}
		p->count += rc;
	}
}

static void job_free(struct job *j)
{
	for (int i = 0; i < j->nparts; i++)
		pg_buf_free(&j->part[i].out);
	free(j);
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
	return 0;
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
	int rc = v->closing ? 0 : job_join(j);
	if (!v->closing && rc < 0) {
		pg_viewer_close(v, "encoding an update failed");
	} else if (!v->closing) {
		struct pg_buf *out = &j->part[0].out;
		v->updates++;
		v->last_send_ms = pg_now_ms();
		if (v->relay->max_bandwidth)
			v->bw_tokens -= (double)out->len;
		pg_debug("viewer %llu %s: update %llu, %zu bytes", (unsigned long long)v->id,
			 v->peer, (unsigned long long)v->updates, out->len);
		pg_viewer_send_owned(v, out->data, out->len);
		pg_buf_init(out, 0); /* given away */
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
	return v->enc ? 0 : PG_ENOMEM;
}

static int write_pseudo(struct pg_viewer *v, struct job *j, struct pg_buf *out)
{
	const struct pg_fb *fb = pg_session_fb(v->session);
	int rc = 0;
	if (v->pending_resize) {
		if (v->has_ext_desktop_size)
			rc = pg_enc_ext_desktop_size(out, fb->w, fb->h, 0, 0);
		else
			rc = pg_enc_desktop_size(out, fb->w, fb->h);
		j->pseudo++;
		v->pending_resize = false;
	}
	if (!rc && v->pending_size_reply) {
		/* Resizing the browser host from a viewer is not offered yet: say so,
		 * as the spec asks, rather than leave the viewer waiting. */
		rc = pg_enc_ext_desktop_size(out, v->vw, v->vh, 1, 1);
		j->pseudo++;
		v->pending_size_reply = false;
	}
	if (!rc && v->pending_qemu_ack) {
		rc = pg_enc_qemu_key_ack(out);
		j->pseudo++;
		v->pending_qemu_ack = false;
		v->qemu_key_acked = true;
	}
	if (!rc && v->pending_cursor) {
		const struct pg_cursor_shape *c = pg_session_cursor(v->session);
		rc = pg_enc_cursor(out, &v->pf, c->hot_x, c->hot_y, c->w, c->h, c->px, c->mask);
		j->pseudo++;
		v->pending_cursor = false;
	}
	/* The copy goes before the rectangles that repair what it could not move. */
	if (!rc && v->copy_pending) {
		rc = pg_enc_copyrect(out, &v->copy_dst, v->copy_sx, v->copy_sy);
		j->pseudo++;
		v->copies++;
	}
	v->copy_pending = false;
	return rc;
}

/* ---- when the next update may go ---- */

/* Bytes handed to the socket that the viewer has not yet acknowledged. */
static size_t kernel_unsent(struct pg_viewer *v)
{
	uv_os_fd_t fd;
	int n = 0;
	if (uv_fileno((uv_handle_t *)&v->tcp, &fd) < 0 || ioctl(fd, SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

/* Sample the viewer's throughput: bytes acknowledged over an interval during which
 * data stayed in flight (at both ends), so it measures the link, not our demand. */
static size_t measure_inflight(struct pg_viewer *v, uint64_t now)
{
	size_t inflight = uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) + kernel_unsent(v);
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

/* Look again in ms (the pace timer; an active one is earlier or a close deadline). */
static void wait_ms(struct pg_viewer *v, uint64_t ms)
{
	if (!uv_is_active((uv_handle_t *)&v->timer))
		uv_timer_start(&v->timer, on_pace, ms ? ms : 1, 0);
}

/* Whether an update may start now; if not, the pace timer will look again. */
static bool may_send(struct pg_viewer *v)
{
	struct pg_relay *relay = v->relay;
	uint64_t now = pg_now_ms(), gap = 1000u / (unsigned)relay->max_fps;
	if (v->last_send_ms && now - v->last_send_ms < gap) {
		wait_ms(v, gap - (now - v->last_send_ms));
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
	if (v->est_Bps > 0 && (double)inflight > budget) {
		wait_ms(v, POLL_MS);
		return false;
	}
	return true;
}

/* Cut the rectangles in two parts of about equal area for two threads, splitting
 * the rectangle that straddles the middle along a row. */
static void split_parts(struct job *j, const struct pg_rect *r, int n)
{
	long total = 0, half, acc = 0;
	for (int i = 0; i < n; i++)
		total += (long)r[i].w * r[i].h;
	struct part *a = &j->part[0], *b = &j->part[1];
	if (!b->enc || total < LANE_MIN_PIXELS) {
		memcpy(a->rects, r, sizeof(*r) * (size_t)n);
		a->nrects = n;
		j->nparts = 1;
		return;
	}
	half = total / 2;
	for (int i = 0; i < n; i++) {
		long area = (long)r[i].w * r[i].h;
		if (acc >= half) {
			b->rects[b->nrects++] = r[i];
		} else if (acc + area <= half) {
			a->rects[a->nrects++] = r[i];
		} else {
			int rows = (int)((half - acc + r[i].w - 1) / r[i].w);
			struct pg_rect top = r[i], bottom = r[i];
			top.h = rows;
			bottom.y += rows;
			bottom.h -= rows;
			a->rects[a->nrects++] = top;
			if (bottom.h > 0)
				b->rects[b->nrects++] = bottom;
		}
		acc += area;
	}
	j->nparts = b->nrects ? 2 : 1;
}

void pg_update_maybe_send(struct pg_viewer *v)
{
	if (v->closing || v->close_pending || v->state != V_NORMAL || v->job_running ||
	    !v->requested)
		return;
	if (!v->npending && !v->pending_resize && !v->pending_cursor && !v->pending_size_reply &&
	    !v->pending_qemu_ack && !v->copy_pending)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) > MAX_QUEUED)
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
	/* One snapshot buffer per viewer, reused frame after frame: only one job runs
	 * at a time, and a fresh full-screen allocation per frame cost page faults. */
	if (v->snap.w != fb->w || v->snap.h != fb->h) {
		pg_fb_free(&v->snap);
		if (pg_fb_alloc(&v->snap, fb->w, fb->h) < 0) {
			pg_viewer_close(v, "out of memory");
			return;
		}
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	j->v = v;
	j->snap = v->snap;
	j->part[0].enc = v->enc;
	j->part[1].enc = v->enc2;
	for (int i = 0; i < NPARTS; i++) {
		j->part[i].job = j;
		j->part[i].work.data = &j->part[i];
		pg_buf_init(&j->part[i].out, MAX_UPDATE_BYTES);
	}
	j->nparts = NPARTS;
	struct pg_buf *out = &j->part[0].out;
	if (pg_enc_update_header(out, 0) < 0 || write_pseudo(v, j, out) < 0)
		goto fail;
	/* The snapshot is the job's own: the loop thread may change the session's
	 * pixels while the pool threads encode. The banner is drawn here, once, so the
	 * two parts never write the same pixels. */
	struct pg_rect rects[MAX_PENDING];
	int n = 0;
	struct pg_rect b;
	bool has_banner = banner_rect(v, &b);
	for (int i = 0; i < v->npending; i++) {
		struct pg_rect r =
		    pg_rect_intersect(v->pending[i], (struct pg_rect){0, 0, fb->w, fb->h});
		if (pg_rect_empty(&r))
			continue;
		pg_fb_copy_rect(&j->snap, fb, &r);
		if (has_banner)
			pg_overlay_draw(&j->snap, v->banner->ov, b.x, b.y, &r);
		rects[n++] = r;
	}
	split_parts(j, rects, n);
	v->npending = 0;
	v->requested = false;
	v->job_running = true;
	for (int i = 0; i < j->nparts; i++) {
		if (uv_queue_work(v->relay->loop, &j->part[i].work, part_run, part_done) < 0) {
			if (i == 0) {
				v->job_running = false;
				goto fail;
			}
			/* The first part runs; the second is encoded with it. */
			struct part *a = &j->part[0], *p = &j->part[1];
			memcpy(a->rects + a->nrects, p->rects,
			       sizeof(*p->rects) * (size_t)p->nrects);
			a->nrects += p->nrects;
			j->nparts = 1;
			break;
		}
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
	for (int i = 0; i < n; i++)
		pg_update_add(v, r[i]);
	pg_update_maybe_send(v);
}

void pg_viewer_resized(struct pg_viewer *v)
{
	if (v->state != V_NORMAL)
		return;
	const struct pg_fb *fb = pg_session_fb(v->session);
	v->copy_pending = false;
	if (v->has_ext_desktop_size || v->has_desktop_size) {
		v->pending_resize = true;
		v->npending = 0;
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
}
