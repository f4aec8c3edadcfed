/* A viewer's flow beyond FramebufferUpdateRequest: the ContinuousUpdates and Fence
 * extensions of the community RFB spec (rfbproto), as TigerVNC's viewer and noVNC use
 * them when a server offers them.
 *
 * ContinuousUpdates: while on, the viewer has always asked for its area, and update.c
 * sends there without requests, paced as ever. Turning them off is answered with
 * EndOfContinuousUpdates after the update being encoded: TigerVNC's viewer takes that
 * message as the point where its new pixel format starts, so no update encoded before
 * may follow it.
 *
 * Fence: a request from the viewer is answered in stream order, after the update being
 * encoded if there is one, so whatever its earlier messages caused comes first
 * (BlockBefore). While such a reply waits, a BlockAfter request holds the viewer's
 * later messages too; a SyncNext request is answered after the message that follows
 * it. The relay's own requests, one out at a time after each update, measure the round
 * trip update.c paces with. Replies are bounded: a few may wait for an update (the
 * viewer's input waits beyond that), and a viewer that leaves them unread past
 * PG_VIEWER_MAX_QUEUED is not read until it catches up. */
#include <string.h>

#include "codec/buf.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"
#include "relay/log.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"

/* The synchronisation a reply may promise: all three hold, by the order replies take. */
#define HONOURED   (PG_RFB_FENCE_BLOCK_BEFORE | PG_RFB_FENCE_BLOCK_AFTER | PG_RFB_FENCE_SYNC_NEXT)
#define PING_MAGIC 0x70675254u /* "pgRT": the first half of the relay's round-trip payload */
#define PING_LEN   8
/* Pacing uses the least round trip of the current and the last window of this length:
 * recent enough to follow a changed route, long enough to include a quiet moment. */
#define RTT_WINDOW_MS 10000
/* Replies written while more than PG_VIEWER_MAX_QUEUED waits unread, before the
 * viewer's input is held. */
#define UNREAD_REPLIES 16

static size_t queued(struct pg_viewer *v)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp);
}

static int fence_msg(struct pg_buf *b, uint32_t flags, const uint8_t *payload, size_t len)
{
	pg_buf_init(b, 16 + PG_RFB_MAX_FENCE);
	return pg_rfb_write_fence(b, flags, payload, len);
}

/* Write p now, or after the update being encoded. Returns -1, writing nothing, when
 * what waits for that update has no room for it. */
static int send_in_order(struct pg_viewer *v, const uint8_t *p, size_t len)
{
	if (v->job_running) {
		if (v->after_len + len > sizeof(v->after_job))
			return -1;
		memcpy(v->after_job + v->after_len, p, len);
		v->after_len += len;
		return 0;
	}
	if (queued(v) > PG_VIEWER_MAX_QUEUED)
		v->replies_unread++;
	pg_viewer_send(v, p, len);
	return 0;
}

static int reply(struct pg_viewer *v, uint32_t flags, const uint8_t *payload, size_t len)
{
	struct pg_buf b;
	int rc = fence_msg(&b, flags & HONOURED, payload, len);
	if (rc == 0)
		rc = send_in_order(v, b.data, b.len);
	pg_buf_free(&b);
	return rc;
}

/* A reply waiting with BlockAfter holds the viewer's later messages; so do replies
 * the viewer does not read. */
static void maybe_hold(struct pg_viewer *v, uint32_t flags)
{
	if (((flags & PG_RFB_FENCE_BLOCK_AFTER) && v->after_len) ||
	    v->replies_unread > UNREAD_REPLIES)
		pg_viewer_hold_input(v);
}

static void maybe_release(struct pg_viewer *v)
{
	if (!v->input_held || v->closing || v->close_pending || v->after_len ||
	    (v->sync_pending && v->sync_armed) || v->replies_unread > UNREAD_REPLIES)
		return;
	pg_viewer_release_input(v);
}

/* The reply to a SyncNext request, once the message after it has been handled. */
static int send_sync(struct pg_viewer *v)
{
	if (reply(v, v->sync_flags, v->sync_data, v->sync_len) < 0)
		return -1;
	v->sync_pending = v->sync_armed = false;
	maybe_hold(v, v->sync_flags);
	return 0;
}

/* A round-trip request, unless one is out: sent at once (it asks, so it needs no place
 * in the order), after whatever is queued. */
static void ping(struct pg_viewer *v)
{
	uint8_t p[PING_LEN];
	struct pg_buf b;

	if (!v->has_fence || v->ping_out || v->closing || v->close_pending)
		return;
	v->ping_seq++;
	pg_wr32(p, PING_MAGIC);
	pg_wr32(p + 4, v->ping_seq);
	/* What is still to leave before it: its time on the link is not round trip. */
	v->ping_ahead = queued(v) + pg_update_kernel_queued(v, true);
	if (fence_msg(&b, PG_RFB_FENCE_REQUEST | PG_RFB_FENCE_BLOCK_BEFORE, p, sizeof(p)) < 0) {
		pg_buf_free(&b);
		return;
	}
	v->ping_out = true;
	v->ping_ms = pg_now_ms();
	pg_viewer_send_owned(v, b.data, b.len); /* takes the bytes */
}

/* A reply to the relay's request: one round trip. The time the bytes queued ahead of
 * the request needed to leave (at the measured throughput) is taken off, so pacing,
 * which keeps little queued, does not measure its own queue and grow without end. */
static void round_trip(struct pg_viewer *v, uint64_t now)
{
	double raw = now > v->ping_ms ? (double)(now - v->ping_ms) : 1.0;
	double drain = v->est_Bps > 0 ? (double)v->ping_ahead * 1000.0 / v->est_Bps : 0;
	uint32_t wire = raw - drain >= 1.0 ? (uint32_t)(raw - drain) : 1;

	v->ping_out = false;
	v->rtt_ms = v->rtt_samples ? 0.875 * v->rtt_ms + 0.125 * raw : raw;
	if (!v->rtt_samples || wire < v->rtt_min_ms)
		v->rtt_min_ms = wire;
	if (!v->rtt_samples || now - v->rtt_win_ms >= RTT_WINDOW_MS) {
		/* A new window; the last one counts only if it ended just now. */
		bool recent = v->rtt_samples && now - v->rtt_win_ms < 2 * RTT_WINDOW_MS;
		v->rtt_win_min[1] = recent ? v->rtt_win_min[0] : wire;
		v->rtt_win_min[0] = wire;
		v->rtt_win_ms = now;
	} else if (wire < v->rtt_win_min[0]) {
		v->rtt_win_min[0] = wire;
	}
	v->rtt_base_ms =
	    v->rtt_win_min[0] < v->rtt_win_min[1] ? v->rtt_win_min[0] : v->rtt_win_min[1];
	if (v->rtt_samples++ == 0)
		pg_debug("viewer %llu %s: first round trip %u ms (fence)",
			 (unsigned long long)v->id, v->peer, wire);
}

void pg_flow_encodings(struct pg_viewer *v, bool fence, bool cu)
{
	v->has_fence = fence;
	/* Each is announced the first time it is listed, as the spec asks: noVNC turns
	 * continuous updates on at the first EndOfContinuousUpdates, and off at any later
	 * one. The announcing fence is the first round trip. */
	if (fence && !v->fence_announced) {
		v->fence_announced = true;
		ping(v);
	}
	if (cu && !v->cu_announced) {
		uint8_t end = PG_RFB_END_OF_CU;
		v->cu_announced = true;
		if (send_in_order(v, &end, 1) < 0)
			pg_viewer_send(v, &end, 1); /* no format change can be waiting for it yet */
	}
}

int pg_flow_fence(struct pg_viewer *v, const struct pg_cmsg *m)
{
	uint32_t flags = m->fence.flags;

	if (!(flags & PG_RFB_FENCE_REQUEST)) {
		/* A reply: ours when it carries the round trip out now; others (to a
		 * request the relay never made) mean nothing and are dropped. */
		const uint8_t *p = m->fence.payload;
		if (m->fence.len == PING_LEN && v->ping_out && pg_rd32(p) == PING_MAGIC &&
		    pg_rd32(p + 4) == v->ping_seq)
			round_trip(v, pg_now_ms());
		return 0;
	}
	/* Room for this reply, and for a SyncNext one this message releases. */
	size_t need = 9 + (size_t)m->fence.len;
	if (v->sync_pending && v->sync_armed)
		need += 9 + (size_t)v->sync_len;
	if (v->job_running && v->after_len + need > sizeof(v->after_job)) {
		pg_viewer_hold_input(v);
		return 1;
	}
	/* This fence is the message a SyncNext request waited for. */
	if (v->sync_pending && v->sync_armed && send_sync(v) < 0)
		return 1; /* cannot happen: room was checked */
	if (flags & PG_RFB_FENCE_SYNC_NEXT) {
		v->sync_pending = true;
		v->sync_armed = false;
		v->sync_flags = flags;
		v->sync_len = m->fence.len;
		memcpy(v->sync_data, m->fence.payload, m->fence.len);
		return 0;
	}
	if (reply(v, flags, m->fence.payload, m->fence.len) < 0)
		return 1; /* cannot happen: room was checked */
	maybe_hold(v, flags);
	return 0;
}

void pg_flow_after_msg(struct pg_viewer *v)
{
	if (!v->sync_pending || v->closing)
		return;
	if (!v->sync_armed) {
		v->sync_armed = true; /* the SyncNext fence itself: the next message counts */
		return;
	}
	if (send_sync(v) < 0)
		pg_viewer_hold_input(v); /* goes when the update being encoded is sent */
}

int pg_flow_enable_cu(struct pg_viewer *v, const struct pg_cmsg *m)
{
	bool was = v->cu_on;

	if (!m->cu.enable && v->job_running && v->after_len + 1 > sizeof(v->after_job)) {
		pg_viewer_hold_input(v);
		return 1;
	}
	/* Damage held outside the old area is pending again: the new area may cover it,
	 * and without continuous updates the next request takes all of it. */
	pg_update_unhold(v);
	v->cu_on = m->cu.enable != 0;
	if (v->cu_on) {
		v->cu_rect = pg_rect_intersect((struct pg_rect){m->cu.x, m->cu.y, m->cu.w, m->cu.h},
					       (struct pg_rect){0, 0, v->vw, v->vh});
		if (!was)
			pg_debug("viewer %llu %s: continuous updates on (%dx%d at %d,%d)",
				 (unsigned long long)v->id, v->peer, v->cu_rect.w, v->cu_rect.h,
				 v->cu_rect.x, v->cu_rect.y);
		pg_update_maybe_send(v);
		return 0;
	}
	/* Sent even when they were off already, as the spec asks. */
	uint8_t end = PG_RFB_END_OF_CU;
	send_in_order(v, &end, 1);
	if (was)
		pg_debug("viewer %llu %s: continuous updates off", (unsigned long long)v->id,
			 v->peer);
	maybe_hold(v, 0);
	return 0;
}

void pg_flow_update_sent(struct pg_viewer *v)
{
	if (v->after_len && !v->closing) {
		pg_viewer_send(v, v->after_job, v->after_len);
		v->after_len = 0;
	}
	if (v->sync_pending && v->sync_armed && !v->closing)
		send_sync(v); /* no update runs now: it goes at once */
	if (v->closing)
		return;
	ping(v);
	maybe_release(v);
}

void pg_flow_output_drained(struct pg_viewer *v)
{
	if (queued(v) > PG_VIEWER_MAX_QUEUED)
		return;
	v->replies_unread = 0;
	maybe_release(v);
}
