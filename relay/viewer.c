/* A viewer: one connection from the LGWAN side. Its I/O, its messages (parsed by
 * codec/rfb_server), its pixel format and encodings. Its handshake is in
 * handshake.c, its updates (scheduler and encoding jobs) in update.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "codec/buf.h"
#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"
#include "auth/audit.h"
#include "auth/tls.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/tcpinfo.h"
#include "http/proxy.h"
#include "relay/viewer_impl.h"
#include "render/text.h"

#define VIEWER_MAX_INPUT (PG_RFB_MAX_CUT_TEXT + (64u << 10))
#define READ_CHUNK	 (64u << 10)
/* Plaintext goes through TLS in pieces this size, so its output buffer stays small. */
#define TLS_CHUNK (64u << 10)
/* What one viewer may send: a pointer moving at 240 events a second is 1.4 KiB, the
 * largest clipboard text 1 MiB; a flood beyond this is read only this fast. */
#define READ_RATE  (1u << 20) /* bytes a second, sustained */
#define READ_BURST (2u << 20)

struct wreq {
	uv_write_t req;
	uint8_t *data;
};

static void preauth_summary(struct pg_relay *relay);

static void on_close_deadline(uv_timer_t *t)
{
	struct pg_viewer *v = t->data;
	pg_viewer_close(v, v->close_reason);
}

uint64_t pg_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void free_viewer(struct pg_viewer *v)
{
	pg_update_free(v);
	pg_tls_del(v->tls);
	pg_web_free(v);
	pg_buf_free(&v->in);
	pg_buf_free(&v->raw);
	free(v);
}

void pg_viewer_ref(struct pg_viewer *v)
{
	v->jobs++;
}

void pg_viewer_unref(struct pg_viewer *v)
{
	if (--v->jobs == 0 && v->open_handles == 0)
		free_viewer(v);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct pg_viewer *v = h->data;
	if (--v->open_handles == 0 && v->jobs == 0)
		free_viewer(v);
}

void pg_viewer_close(struct pg_viewer *v, const char *reason)
{
	if (v->closing)
		return;
	v->closing = true;
	if (!v->quiet_close) {
		char rtt[80] = "";
		if (v->rtt_samples)
			snprintf(rtt, sizeof(rtt), ", round trip %.0f ms, least %u ms", v->rtt_ms,
				 v->rtt_min_ms);
		pg_info("viewer %llu %s%s%s: closed: %s (%llu updates, %llu shared, %llu bytes "
			"sent%s)",
			(unsigned long long)v->id, v->peer, *v->user ? " " : "", v->user, reason,
			(unsigned long long)v->updates, (unsigned long long)v->shared_updates,
			(unsigned long long)v->bytes_out, rtt);
	}
	if (*v->user && v->session) {
		pg_audit(v->relay, "viewer-leave", PG_AUDIT_S("user", v->user),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("browser_host", pg_session_label(v->session)),
			 PG_AUDIT_S("reason", reason),
			 PG_AUDIT_U("duration_ms", pg_now_ms() - v->login_ms),
			 PG_AUDIT_U("bytes_from_viewer", v->bytes_in),
			 PG_AUDIT_U("bytes_to_viewer", v->bytes_out),
			 PG_AUDIT_U("frames", v->updates));
	}
	if (v->ws && !v->close_pending)
		pg_web_goodbye(v, reason);
	pg_record_viewer(v, false);
	pg_guard_leave(v);
	if (v->session)
		pg_session_detach(v->session, v);
	if (v->state == V_NORMAL)
		v->relay->viewers--;
	else
		v->relay->handshakes--;
	if (v->prev)
		v->prev->next = v->next;
	else
		v->relay->viewer_list = v->next;
	if (v->next)
		v->next->prev = v->prev;
	uv_close((uv_handle_t *)&v->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&v->timer, on_handle_closed);
	uv_close((uv_handle_t *)&v->read_timer, on_handle_closed);
}

void pg_viewer_close_all(struct pg_relay *relay, const char *reason)
{
	while (relay->viewer_list)
		pg_viewer_close(relay->viewer_list, reason);
	/* At shutdown the summary's timer is gone: what it held is written now. */
	if (relay->stopping)
		preauth_summary(relay);
}

const char *pg_viewer_user(const struct pg_viewer *v)
{
	return v->user;
}

void pg_viewer_info(const struct pg_viewer *v, struct pg_viewer_info *out)
{
	uint64_t ago_ms = pg_now_ms() - v->login_ms;
	*out = (struct pg_viewer_info){
	    .id = v->id,
	    .user = v->user,
	    .peer = v->peer,
	    .since_unix = (int64_t)time(NULL) - (int64_t)(ago_ms / 1000),
	    .bytes_sent = v->bytes_out,
	    .bytes_received = v->bytes_in,
	    .frames = v->updates,
	    .queued = v->closing ? 0 : uv_stream_get_write_queue_size((const uv_stream_t *)&v->tcp),
	};
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct pg_viewer *v = req->handle->data;
	free(w->data);
	free(w);
	if (v->closing)
		return;
	/* Handed to the kernel is progress only where TCP cannot say what the viewer
	 * acknowledged (pg_viewer_check_stalled). */
	if (!v->acked_known)
		v->out_progress_ms = pg_now_ms();
	if (status < 0) {
		pg_viewer_close(v, uv_strerror(status));
		return;
	}
	if (v->ws && !v->close_pending) {
		/* Frames held back while the socket was full, and input held with them. */
		pg_web_flush(v);
		pg_web_input(v);
		if (v->closing)
			return;
	}
	if (v->close_pending) {
		if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) == 0)
			pg_viewer_close(v, v->close_reason);
		return;
	}
	pg_flow_output_drained(v);
	if (!v->closing)
		pg_update_maybe_send(v);
}

static void write_raw(struct pg_viewer *v, uint8_t *data, size_t len)
{
	struct wreq *w = malloc(sizeof(*w));
	if (!w) {
		free(data);
		pg_viewer_close(v, "out of memory");
		return;
	}
	w->data = data;
	/* Output that starts waiting now is not late yet (pg_viewer_check_stalled);
	 * output added behind bytes the kernel still holds unacknowledged is. Else a
	 * trickle of small messages (the host's bell) would keep a viewer that reads
	 * nothing looking alive. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) == 0 &&
	    pg_update_kernel_queued(v, false) == 0)
		v->out_progress_ms = pg_now_ms();
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&v->tcp, &b, 1, on_write);
	if (rc < 0) {
		free(data);
		free(w);
		pg_viewer_close(v, uv_strerror(rc));
		return;
	}
	v->bytes_out += len;
	pg_metrics_add(v->relay->metrics, PG_M_VIEWER_SENT_BYTES, len);
}

/* Send what TLS has produced (handshake records or encrypted data). */
static int flush_tls(struct pg_viewer *v)
{
	struct pg_buf out;
	pg_buf_init(&out, (size_t)8 << 20);
	int rc = pg_tls_take_output(v->tls, &out);
	if (rc < 0) {
		pg_buf_free(&out);
		return rc;
	}
	if (out.len)
		write_raw(v, out.data, out.len);
	else
		pg_buf_free(&out);
	return 0;
}

/* Queue data (taking ownership of the malloc'd bytes), through TLS when it is on. */
void pg_viewer_send_tls(struct pg_viewer *v, uint8_t *data, size_t len)
{
	if (!v->tls || v->state == V_TLS || v->state == V_WEB_TLS) {
		write_raw(v, data, len);
		return;
	}
	for (size_t off = 0; off < len && !v->closing; off += TLS_CHUNK) {
		size_t n = len - off < TLS_CHUNK ? len - off : TLS_CHUNK;
		if (pg_tls_write(v->tls, data + off, n) < 0 || flush_tls(v) < 0) {
			pg_viewer_close(v, pg_tls_error(v->tls));
			break;
		}
	}
	free(data);
}

/* Queue data (taking ownership), inside WebSocket messages once a web viewer has
 * upgraded. */
void pg_viewer_send_owned(struct pg_viewer *v, uint8_t *data, size_t len)
{
	if (!v->ws) {
		pg_viewer_send_tls(v, data, len);
		return;
	}
	if (pg_web_send(v, data, len) < 0)
		pg_viewer_close(v, "web: cannot frame the output");
	free(data);
}

/* Close once what is queued has been written: an HTTP response, a last word. */
void pg_viewer_close_after_send(struct pg_viewer *v, const char *reason)
{
	if (v->closing || v->close_pending)
		return;
	v->close_pending = true;
	snprintf(v->close_reason, sizeof(v->close_reason), "%s", reason);
	uv_read_stop((uv_stream_t *)&v->tcp);
	if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) == 0)
		pg_viewer_close(v, v->close_reason);
	else
		uv_timer_start(&v->timer, on_close_deadline, 10000, 0);
}

void pg_viewer_send(struct pg_viewer *v, const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	if (!d) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	memcpy(d, p, len);
	pg_viewer_send_owned(v, d, len);
}

void pg_viewer_bell(struct pg_viewer *v)
{
	/* A bell is not worth queuing behind a viewer that does not read: a host that
	 * rings without end would grow the queue a few bytes at a time. */
	if (v->state != V_NORMAL ||
	    uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) > PG_VIEWER_MAX_QUEUED)
		return;
	uint8_t b = PG_RFB_BELL;
	pg_viewer_send(v, &b, 1);
}

/* ---- messages from the viewer ---- */

/* Encodings a viewer may list that pixelgate knows, uses or safely has no use for. */
static bool known_encoding(int32_t e)
{
	return e == PG_ENC_RAW || e == PG_ENC_COPYRECT || e == PG_ENC_RRE || e == PG_ENC_HEXTILE ||
	       e == PG_ENC_TIGHT || e == PG_ENC_ZRLE || e == PG_ENC_LAST_RECT ||
	       e == PG_ENC_DESKTOP_NAME;
}

static void set_encodings(struct pg_viewer *v, const struct pg_cmsg *m)
{
	int32_t chosen = 0, unknown[64];
	int nunknown = 0;
	uint32_t hash = 2166136261u;
	bool have = false, ext_clip = false, fence = false, cu = false;
	v->eopts = (struct pg_enc_opts){-1, -1, -1, -1, 0};
	v->has_cursor = v->has_desktop_size = v->has_ext_desktop_size = v->has_copyrect = false;
	for (unsigned i = 0; i < m->encodings.count; i++) {
		int32_t e = (int32_t)pg_rd32(m->encodings.list + 4 * i);
		if (!have && (e == PG_ENC_RAW || e == PG_ENC_ZRLE || e == PG_ENC_TIGHT)) {
			chosen = e;
			have = true;
		} else if (e >= PG_ENC_JPEG_QUALITY_0 && e <= PG_ENC_JPEG_QUALITY_9) {
			v->eopts.quality = e - PG_ENC_JPEG_QUALITY_0;
		} else if (e >= PG_ENC_COMPRESS_LEVEL_0 && e <= PG_ENC_COMPRESS_LEVEL_9) {
			v->eopts.compress = e - PG_ENC_COMPRESS_LEVEL_0;
		} else if (e >= PG_ENC_FINE_QUALITY_0 && e <= PG_ENC_FINE_QUALITY_100) {
			v->eopts.fine_quality = e - PG_ENC_FINE_QUALITY_0;
		} else if (e >= PG_ENC_SUBSAMPLING_1X && e <= PG_ENC_SUBSAMPLING_GRAY) {
			/* TigerVNC: 1x, 4x, 2x, gray, 8x, 16x; pixelgate has 4:4:4, 4:2:2,
			 * 4:2:0 and grey. */
			static const int map[] = {0, 2, 1, 3, 2, 2};
			v->eopts.subsampling = map[e - PG_ENC_SUBSAMPLING_1X];
		} else if (e == PG_ENC_COPYRECT) {
			v->has_copyrect = true;
		} else if (e == PG_ENC_CURSOR) {
			v->has_cursor = true;
		} else if (e == PG_ENC_DESKTOP_SIZE) {
			v->has_desktop_size = true;
		} else if (e == PG_ENC_EXT_DESKTOP_SIZE) {
			v->has_ext_desktop_size = true;
		} else if (e == PG_ENC_EXT_CLIPBOARD) {
			ext_clip = true;
		} else if (e == PG_ENC_FENCE) {
			fence = true;
		} else if (e == PG_ENC_CONTINUOUS_UPDATES) {
			cu = true;
		} else if (e == PG_ENC_QEMU_EXT_KEY) {
			/* Once a connection: the viewer may then send keycodes. */
			v->pending_qemu_ack = !v->qemu_key_acked;
		} else if (!known_encoding(e)) {
			if (nunknown < 64)
				unknown[nunknown++] = e;
			hash = (hash ^ (uint32_t)e) * 16777619u;
		}
	}
	/* Audited when the set changes, not on every SetEncodings of the same viewer. */
	if (nunknown && hash != v->unknown_enc_hash)
		pg_guard_unknown_encodings(v, unknown, nunknown);
	v->unknown_enc_hash = hash;
	if (ext_clip)
		pg_guard_ext_clipboard(v);
	pg_flow_encodings(v, fence, cu);
	v->enc_dirty = true; /* encoding, quality or compression may have changed */
	v->encoding = chosen;
	if (v->has_cursor && pg_session_cursor(v->session)->w)
		v->pending_cursor = true;
	/* ExtendedDesktopSize is announced with the current size once the viewer lists
	 * it, as RFB asks: only then do viewers (TigerVNC's) send SetDesktopSize. */
	if (v->has_ext_desktop_size && !v->ext_desktop_announced && v->session &&
	    pg_session_fb(v->session)->px) {
		v->ext_desktop_announced = true;
		v->pending_resize = true;
	}
	/* Logged when the outcome changes: a viewer may send SetEncodings as fast as
	 * the relay reads, and a line each is a log flood. */
	uint32_t outcome = ((uint32_t)chosen * 31u + (uint32_t)v->eopts.quality) * 31u +
			   (uint32_t)v->eopts.compress;
	outcome = (outcome * 31u + (uint32_t)v->eopts.fine_quality) * 31u +
		  (uint32_t)v->eopts.subsampling;
	outcome = (outcome << 3 | (uint32_t)v->has_cursor << 2 |
		   (uint32_t)v->has_desktop_size << 1 | (uint32_t)v->has_ext_desktop_size) |
		  1u << 31;
	if (outcome == v->enc_outcome)
		return;
	v->enc_outcome = outcome;
	pg_debug("viewer %llu %s: %u encodings, using %d (quality %d, compress %d)%s%s%s",
		 (unsigned long long)v->id, v->peer, m->encodings.count, chosen, v->eopts.quality,
		 v->eopts.compress, v->has_cursor ? ", cursor" : "",
		 v->has_desktop_size ? ", desktop-size" : "",
		 v->has_ext_desktop_size ? ", extended-desktop-size" : "");
}

/* A message the relay refuses from a viewer past the handshake: audited, then the
 * viewer is closed (RFB has no way to refuse one message and go on). */
static void blocked(struct pg_viewer *v, uint8_t type, const char *name, const char *reason)
{
	pg_audit(v->relay, "message-blocked", PG_AUDIT_S("user", *v->user ? v->user : "-"),
		 PG_AUDIT_S("source", v->addr), PG_AUDIT_U("message_type", type),
		 PG_AUDIT_S("message", name), PG_AUDIT_S("reason", reason));
	pg_viewer_close(v, reason);
}

void pg_viewer_size_result(struct pg_viewer *v, int status)
{
	if (v->closing || !v->has_ext_desktop_size)
		return;
	v->size_status = (uint8_t)status;
	v->pending_size_reply = true;
	pg_update_maybe_send(v);
}

/* A viewer's SetDesktopSize: passed on to the browser host when [upstream] resize
 * lets it, this viewer may give input, it is alone in its session and the size is
 * one the worker takes; else answered here (RFB's status 1 prohibited, 3 invalid
 * layout). The reason for a refusal is logged once per viewer. */
static void set_desktop_size(struct pg_viewer *v, const struct pg_cmsg *m)
{
	int w = m->desktop_size.w, h = m->desktop_size.h, status = 1;
	struct pg_viewer **all;
	const char *why = NULL;
	char range[96];
	if (!v->has_ext_desktop_size) {
		/* It could not read the answer: RFB lets only viewers that listed
		 * ExtendedDesktopSize send this. */
		pg_debug("viewer %llu %s: SetDesktopSize without ExtendedDesktopSize ignored",
			 (unsigned long long)v->id, v->peer);
		return;
	}
	if (!v->relay->resize_follow) {
		why = "[upstream] resize = off";
	} else if (v->policy->view_only) {
		why = "view-only (policy view_only = yes)";
	} else if (!v->session || pg_session_viewers(v->session, &all) != 1) {
		why = "other viewers share this browser host";
	} else if (m->desktop_size.screens == 0 || w < 1 || h < 1 ||
		   w > v->relay->worker.max_width || h > v->relay->worker.max_height) {
		snprintf(range, sizeof(range),
			 "%dx%d with %u screens is outside 1x1..%dx%d ([upstream] max_width, "
			 "max_height)",
			 w, h, m->desktop_size.screens, v->relay->worker.max_width,
			 v->relay->worker.max_height);
		why = range;
		status = 3;
	}
	if (!why) {
		pg_debug("viewer %llu %s: asks for a %dx%d screen (SetDesktopSize)",
			 (unsigned long long)v->id, v->peer, w, h);
		pg_session_set_size(v->session, v, w, h);
		return;
	}
	if (!v->size_refusal_logged) {
		v->size_refusal_logged = true;
		pg_log(PG_LOG_INFO, "viewer %llu %s %s: SetDesktopSize refused: %s",
		       (unsigned long long)v->id, v->peer, *v->user ? v->user : "-", why);
	} else {
		pg_debug("viewer %llu %s: SetDesktopSize %dx%d refused: %s",
			 (unsigned long long)v->id, v->peer, w, h, why);
	}
	pg_viewer_size_result(v, status);
}

static int handle_msg(struct pg_viewer *v, const struct pg_cmsg *m)
{
	const char *why;
	switch (m->type) {
	case PG_RFB_SET_PIXEL_FORMAT:
		if (pg_pixfmt_validate(&m->pixfmt, &why) < 0) {
			char reason[160];
			snprintf(reason, sizeof(reason), "SetPixelFormat refused: %s", why);
			blocked(v, m->type, pg_guard_message_name(m->type), reason);
			return -1;
		}
		v->pf = m->pixfmt;
		v->enc_dirty = true;
		pg_debug("viewer %llu %s: pixel format %u bpp, depth %u, %s-endian",
			 (unsigned long long)v->id, v->peer, m->pixfmt.bpp, m->pixfmt.depth,
			 m->pixfmt.big_endian ? "big" : "little");
		return 0;
	case PG_RFB_SET_ENCODINGS:
		set_encodings(v, m);
		return 0;
	case PG_RFB_FB_UPDATE_REQUEST:
		/* With continuous updates on an incremental request asks for nothing more
		 * (rfbproto); a full one is answered, inside their area or not. */
		if (v->cu_on && m->fbreq.incremental)
			return 0;
		if (!m->fbreq.incremental)
			pg_update_add(
			    v, (struct pg_rect){m->fbreq.x, m->fbreq.y, m->fbreq.w, m->fbreq.h});
		v->requested = true;
		pg_update_maybe_send(v);
		return 0;
	case PG_RFB_KEY_EVENT:
		pg_guard_key(v, m->key.down, m->key.keysym, 0);
		return 0;
	case PG_RFB_QEMU: {
		/* Only the extended key event parses; a keycode outside the XT range
		 * goes on as its keysym alone. */
		uint32_t code = m->qemu_key.keycode <= PG_RFB_MAX_KEYCODE ? m->qemu_key.keycode : 0;
		if (!v->qemu_key_seen) {
			v->qemu_key_seen = true;
			pg_debug("viewer %llu %s: keys come as QEMU extended key events (keycodes)",
				 (unsigned long long)v->id, v->peer);
		}
		pg_guard_key(v, m->qemu_key.down, m->qemu_key.keysym, code);
		return 0;
	}
	case PG_RFB_POINTER_EVENT:
		pg_guard_pointer(v, m->pointer.mask, m->pointer.x, m->pointer.y);
		return 0;
	case PG_RFB_CLIENT_CUT_TEXT:
		return pg_guard_cut_text(v, m);
	case PG_RFB_SET_DESKTOP_SIZE:
		set_desktop_size(v, m);
		return 0;
	case PG_RFB_ENABLE_CU:
		if (!v->cu_announced) {
			blocked(v, m->type, pg_guard_message_name(m->type),
				"EnableContinuousUpdates before the relay offered them (no "
				"ContinuousUpdates pseudo-encoding in SetEncodings)");
			return -1;
		}
		return pg_flow_enable_cu(v, m);
	case PG_RFB_FENCE:
		return pg_flow_fence(v, m);
	default:
		blocked(v, m->type, pg_guard_message_name(m->type), "unexpected message type");
		return -1;
	}
}

void pg_viewer_process_input(struct pg_viewer *v)
{
	size_t off = 0;
	if (v->in_process)
		return;
	v->in_process = true;
	while (!v->closing && !v->input_held && off < v->in.len) {
		const uint8_t *p = v->in.data + off;
		size_t len = v->in.len - off;
		ssize_t n;
		const char *why = NULL;
		if (v->state != V_NORMAL) {
			n = pg_handshake_input(v, p, len, &why);
		} else {
			struct pg_cmsg m;
			n = pg_rfb_parse_client_msg(p, len, &m, &why);
			if (n > 0) {
				int rc = handle_msg(v, &m);
				if (rc < 0)
					break;
				if (rc > 0)
					n = 0; /* it waits, unread, until input is released */
				else
					pg_flow_after_msg(v);
			}
		}
		if (n == 0)
			break;
		if (n < 0) {
			char reason[200];
			snprintf(reason, sizeof(reason), "bad input: %s",
				 why ? why : "malformed handshake");
			if (v->state == V_NORMAL)
				pg_audit(v->relay, "message-blocked",
					 PG_AUDIT_S("user", *v->user ? v->user : "-"),
					 PG_AUDIT_S("source", v->addr),
					 PG_AUDIT_U("message_type", p[0]),
					 PG_AUDIT_S("message", pg_guard_message_name(p[0])),
					 PG_AUDIT_S("reason", reason));
			else
				pg_audit_preauth(v, "message-blocked", PG_AUDIT_S("user", "-"),
						 PG_AUDIT_S("source", v->addr),
						 PG_AUDIT_S("reason", reason));
			pg_viewer_close(v, reason);
			break;
		}
		off += (size_t)n;
		/* Bytes after the VeNCrypt choice belong to TLS, not to this buffer. */
		if (v->state == V_TLS && off < v->in.len) {
			if (pg_buf_append(&v->raw, v->in.data + off, v->in.len - off) < 0) {
				pg_viewer_close(v, "bad input: too much data before TLS");
				break;
			}
			off = v->in.len;
			v->in_process = false;
			pg_buf_consume(&v->in, off);
			pg_handshake_tls_progress(v);
			return;
		}
	}
	v->in_process = false;
	if (!v->closing)
		pg_buf_consume(&v->in, off);
	if (!v->closing && v->state == V_NORMAL)
		pg_guard_input_done(v);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct pg_viewer *v = h->data;
	struct pg_buf *b = v->tls ? &v->raw : &v->in;
	if (pg_buf_reserve(b, READ_CHUNK) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)b->data + b->len, READ_CHUNK);
}

/* Decrypt what arrived into the plaintext buffer; during the TLS handshake, let the
 * handshake take it. */
static int read_tls(struct pg_viewer *v)
{
	if (v->state == V_TLS) {
		pg_handshake_tls_progress(v);
		return 0;
	}
	if (v->state == V_WEB_TLS) {
		pg_web_tls_progress(v);
		return 0;
	}
	int rc = pg_tls_feed(v->tls, v->raw.data, v->raw.len);
	if (rc < 0 && rc != PG_ELIMIT)
		return rc;
	pg_buf_consume(&v->raw, rc == PG_ELIMIT ? 0 : v->raw.len);
	rc = pg_tls_read(v->tls, v->web ? &v->plain : &v->in);
	if (rc < 0 && rc != PG_ELIMIT)
		return rc;
	if (pg_tls_peer_closed(v->tls))
		return PG_EPROTO;
	return flush_tls(v);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_read_resume(uv_timer_t *t)
{
	struct pg_viewer *v = t->data;
	if (!v->closing && !v->close_pending && !v->input_held)
		uv_read_start((uv_stream_t *)&v->tcp, on_alloc, on_read);
}

void pg_viewer_hold_input(struct pg_viewer *v)
{
	if (v->input_held || v->closing)
		return;
	v->input_held = true;
	/* What arrives meanwhile would only fill the buffers: TCP holds it instead. */
	uv_read_stop((uv_stream_t *)&v->tcp);
}

void pg_viewer_release_input(struct pg_viewer *v)
{
	if (!v->input_held || v->closing)
		return;
	v->input_held = false;
	if (!v->close_pending && !uv_is_active((uv_handle_t *)&v->read_timer))
		uv_read_start((uv_stream_t *)&v->tcp, on_alloc, on_read);
	if (v->ws)
		pg_web_input(v);
	else
		pg_viewer_process_input(v);
}

/* Charge n bytes to the viewer's input bucket; over it, stop reading until the
 * bucket is back above zero. */
static void meter_input(struct pg_viewer *v, size_t n)
{
	uint64_t now = pg_now_ms();
	v->read_tokens += (double)(now - v->read_refill_ms) * READ_RATE / 1000.0;
	if (v->read_tokens > READ_BURST)
		v->read_tokens = READ_BURST;
	v->read_refill_ms = now;
	v->read_tokens -= (double)n;
	if (v->read_tokens >= 0 || v->closing || v->close_pending)
		return;
	uint64_t wait = (uint64_t)(-v->read_tokens * 1000.0 / READ_RATE) + 1;
	uv_read_stop((uv_stream_t *)&v->tcp);
	uv_timer_start(&v->read_timer, on_read_resume, wait, 0);
	/* One log line and record a run: it ends after a second without a pause. */
	if (v->read_limited && now - v->read_paused_ms < 1000 + wait) {
		v->read_paused_ms = now;
		return;
	}
	v->read_limited = true;
	v->read_paused_ms = now;
	pg_warn("viewer %llu %s %s: sends more than %u bytes a second; reading it more slowly",
		(unsigned long long)v->id, v->peer, *v->user ? v->user : "-", READ_RATE);
	if (v->state == V_NORMAL)
		pg_audit(v->relay, "input-limited", PG_AUDIT_S("user", *v->user ? v->user : "-"),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("rule", "input over 1 MiB a second is read more slowly"),
			 PG_AUDIT_S("policy", "relay"),
			 PG_AUDIT_U("bytes_from_viewer", v->bytes_in),
			 PG_AUDIT_S("input", "bytes"));
}

static void proxy_input(struct pg_viewer *v);

/* What arrived in v->raw goes through TLS, then to the web layer or RFB. */
static void tls_input(struct pg_viewer *v)
{
	if (read_tls(v) < 0) {
		pg_viewer_close(v, pg_tls_peer_closed(v->tls) ? "viewer disconnected"
							      : pg_tls_error(v->tls));
		return;
	}
	if (v->state == V_TLS || v->state == V_WEB_TLS || v->closing)
		return;
	if (v->web)
		pg_web_input(v);
	else
		pg_viewer_process_input(v);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct pg_viewer *v = s->data;
	if (v->closing)
		return;
	if (nread == UV_ENOBUFS) {
		pg_viewer_close(v, "bad input: a message larger than any pixelgate accepts");
		return;
	}
	if (nread < 0 && (v->state == V_TLS || v->state == V_WEB_TLS)) {
		/* Most often a viewer that does not trust the relay's certificate: it
		 * hangs up without a TLS alert. */
		pg_audit_preauth(v, "tls-failure", PG_AUDIT_S("source", v->addr),
				 PG_AUDIT_S("reason",
					    "viewer closed the connection during the TLS "
					    "handshake (does it trust the relay's certificate?)"));
	}
	if (nread < 0) {
		pg_viewer_close(v,
				nread == UV_EOF ? "viewer disconnected" : uv_strerror((int)nread));
		return;
	}
	v->bytes_in += (size_t)nread;
	pg_metrics_add(v->relay->metrics, PG_M_VIEWER_RECEIVED_BYTES, (uint64_t)nread);
	meter_input(v, (size_t)nread);
	if (v->tls) {
		v->raw.len += (size_t)nread;
		tls_input(v);
		return;
	}
	v->in.len += (size_t)nread;
	if (v->proxy_wait)
		proxy_input(v);
	else
		pg_viewer_process_input(v);
}

/* ---- connections that have not logged in: caps, and what they may cost ---- */

/* The events pg_audit_preauth limits, and their index in struct pg_preauth_audit. */
static const char *const preauth_events[PG_PREAUTH_EVENTS] = {
    "connection-refused", "handshake-timeout", "message-blocked",
    "tls-failure",	  "web-refused",       "admin-auth-failure"};

/* The records held back this second: one preauth-summary per event. */
static void preauth_summary(struct pg_relay *relay)
{
	struct pg_preauth_audit *pa = &relay->preauth;
	for (int i = 0; i < PG_PREAUTH_EVENTS; i++) {
		if (!pa->suppressed[i])
			continue;
		pg_warn("audit: %llu more %s records in the last second summarised in one "
			"(last from %s)",
			(unsigned long long)pa->suppressed[i], preauth_events[i],
			pa->last_source[i]);
		pg_audit(
		    relay, "preauth-summary", PG_AUDIT_S("suppressed_event", preauth_events[i]),
		    PG_AUDIT_U("count", pa->suppressed[i]),
		    PG_AUDIT_S("last_source", pa->last_source[i]), PG_AUDIT_I("period_ms", 1000));
		pa->suppressed[i] = 0;
	}
	pa->written = 0;
}

static void on_flood_summary(uv_timer_t *t)
{
	struct pg_relay *relay = t->data;
	if (relay->refused_quietly > 1)
		pg_warn("%llu more connections refused in the last second (handshake caps or "
			"accept errors)",
			(unsigned long long)relay->refused_quietly - 1);
	relay->refused_quietly = 0;
	preauth_summary(relay);
}

/* The second over which refusals and pre-login records are counted. */
static void flood_window(struct pg_relay *relay)
{
	uv_handle_t *h = (uv_handle_t *)&relay->flood_timer;
	if (!uv_is_active(h) && !uv_is_closing(h))
		uv_timer_start(&relay->flood_timer, on_flood_summary, 1000, 0);
}

bool pg_viewer_preauth_admit(struct pg_viewer *v, const char *event)
{
	return pg_preauth_admit(v->relay, event, v->addr);
}

bool pg_preauth_admit(struct pg_relay *relay, const char *event, const char *source)
{
	struct pg_preauth_audit *pa = &relay->preauth;
	int i = 0;
	while (i < PG_PREAUTH_EVENTS && strcmp(preauth_events[i], event))
		i++;
	if (i == PG_PREAUTH_EVENTS || relay->stopping)
		return true;
	flood_window(relay);
	if (pa->written < PG_PREAUTH_AUDIT_PER_SEC) {
		pa->written++;
		return true;
	}
	pa->suppressed[i]++;
	snprintf(pa->last_source[i], sizeof(pa->last_source[i]), "%s", source);
	return false;
}

void pg_viewer_accept_failed(struct pg_relay *relay, int status)
{
	/* Out of descriptors, libuv's listener reports every connection it had to drop:
	 * one line a second, the rest in the summary. */
	if (relay->refused_quietly++ == 0)
		pg_warn("accept: %s (connections are being dropped; see [relay] max_viewers, "
			"max_handshakes and the open files limit)",
			uv_strerror(status));
	flood_window(relay);
}

void pg_viewer_raise_fd_limit(struct pg_relay *relay)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		pg_warn("open files limit: getrlimit: %s", strerror(errno));
		return;
	}
	/* Every connection is a descriptor; the default soft limit (often 1024) would
	 * refuse viewers long before the configured caps. */
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t before = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			pg_warn("open files limit: cannot raise %llu to %llu: %s",
				(unsigned long long)before, (unsigned long long)rl.rlim_max,
				strerror(errno));
			rl.rlim_cur = before;
		} else {
			pg_info("open files limit raised from %llu to %llu",
				(unsigned long long)before, (unsigned long long)rl.rlim_cur);
		}
	}
	/* A viewer or a connection logging in holds one; sessions, listeners, the audit
	 * file and libraries a few dozen more. */
	unsigned long long need =
	    (unsigned long long)relay->max_viewers + (unsigned long long)relay->max_handshakes + 64;
	if (rl.rlim_cur != RLIM_INFINITY && (unsigned long long)rl.rlim_cur < need)
		pg_warn("open files limit %llu is below the %llu that max_viewers and "
			"max_handshakes may need: raise LimitNOFILE in the service unit or lower "
			"them",
			(unsigned long long)rl.rlim_cur, need);
}

/* Progress is what the viewer acknowledged (TCP_INFO): writes that complete into a
 * kernel buffer it never drains are none. Stalled: output waits, in libuv or in the
 * kernel, and nothing was acknowledged for send_timeout. */
void pg_viewer_check_stalled(struct pg_relay *relay)
{
	uint64_t now = pg_now_ms();
	struct pg_viewer *next;
	for (struct pg_viewer *v = relay->viewer_list; v; v = next) {
		next = v->next;
		uv_os_fd_t fd;
		uint64_t acked;
		if (v->closing || v->close_pending)
			continue;
		if (uv_fileno((uv_handle_t *)&v->tcp, &fd) == 0 &&
		    pg_tcp_bytes_acked(fd, &acked) == 0) {
			if (!v->acked_known || acked != v->acked)
				v->out_progress_ms = now;
			v->acked_known = true;
			v->acked = acked;
		}
		size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp);
		size_t unsent = queued + pg_update_kernel_queued(v, false);
		if (!unsent) {
			v->out_progress_ms = now;
			continue;
		}
		if (now - v->out_progress_ms < (uint64_t)relay->send_timeout_ms)
			continue;
		/* Its pending picture is already one (see maybe_send), but a peer that
		 * reads nothing for this long holds memory and a slot for nobody. */
		char reason[160];
		snprintf(reason, sizeof(reason),
			 "not reading: %zu bytes unsent for %d s (relay.send_timeout)", unsent,
			 relay->send_timeout_ms / 1000);
		if (v->state == V_NORMAL)
			pg_audit(relay, "viewer-stalled",
				 PG_AUDIT_S("user", *v->user ? v->user : "-"),
				 PG_AUDIT_S("source", v->addr), PG_AUDIT_U("bytes_unsent", unsent),
				 PG_AUDIT_I("send_timeout", relay->send_timeout_ms / 1000),
				 PG_AUDIT_U("bytes_to_viewer", v->bytes_out));
		pg_viewer_close(v, reason);
	}
}

static void set_address(struct pg_viewer *v, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)ss, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)ss, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	}
	memcpy(&v->sa, ss, sizeof(*ss));
	snprintf(v->addr, sizeof(v->addr), "%s", host);
	snprintf(v->peer, sizeof(v->peer), ss->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
		 port);
}

/* The caps on connections still logging in, by v->addr: false when v was refused
 * (and is closing). */
static bool admit(struct pg_viewer *v)
{
	struct pg_relay *relay = v->relay;
	const char *refuse = NULL, *rule = NULL;
	if (relay->handshakes > relay->max_handshakes) {
		refuse = "too many connections logging in (relay.max_handshakes)";
		rule = "max_handshakes";
	} else {
		int same = 0;
		for (struct pg_viewer *o = relay->viewer_list; o; o = o->next)
			same += o->state != V_NORMAL && !o->closing && !strcmp(o->addr, v->addr);
		if (same > relay->max_handshakes_per_source) {
			refuse = "too many connections logging in from this address "
				 "(relay.max_handshakes_per_source)";
			rule = "max_handshakes_per_source";
		}
	}
	if (!refuse)
		return true;
	/* A flood must not flood the log too: the first refusal is logged, the rest
	 * are counted and summarised a second later. */
	v->quiet_close = relay->refused_quietly++ > 0;
	flood_window(relay);
	pg_audit_preauth(v, "connection-refused", PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_S("rule", rule), PG_AUDIT_S("reason", refuse));
	pg_viewer_close(v, refuse);
	return false;
}

static void start_protocol(struct pg_viewer *v, bool web)
{
	uv_tcp_nodelay(&v->tcp, 1);
	v->pf = pg_pixfmt_canonical;
	v->encoding = PG_ENC_RAW;
	v->eopts = (struct pg_enc_opts){-1, -1, -1, -1, 0};
	if (web) {
		pg_debug("viewer %llu %s: new web connection", (unsigned long long)v->id, v->peer);
		pg_web_start(v);
	} else {
		pg_info("viewer %llu %s: new connection", (unsigned long long)v->id, v->peer);
		pg_handshake_start(v);
	}
}

static void on_proxy_deadline(uv_timer_t *t)
{
	struct pg_viewer *v = t->data;
	if (v->proxy_wait && !v->closing)
		pg_viewer_close(v, "proxy: no PROXY protocol header in time");
}

/* From a trusted balancer, v->in starts with its PROXY header: once whole, take the
 * client's address from it and carry on as if the client had connected itself. */
static void proxy_input(struct pg_viewer *v)
{
	struct pg_proxy_result r;
	const char *why = NULL;
	char via[sizeof(v->peer)];
	int n = pg_proxy_parse(v->in.data, v->in.len, &r, &why);
	if (n == 0)
		return;
	if (n < 0) {
		char reason[160];
		snprintf(reason, sizeof(reason), "proxy: %s", why);
		pg_viewer_close(v, reason);
		return;
	}
	pg_buf_consume(&v->in, (size_t)n);
	uv_timer_stop(&v->timer);
	v->proxy_wait = false;
	snprintf(via, sizeof(via), "%s", v->peer);
	if (r.has_addr)
		set_address(v, &r.src);
	pg_debug("viewer %llu %s: through the load balancer at %s", (unsigned long long)v->id,
		 v->peer, via);
	if (!admit(v))
		return;
	start_protocol(v, v->proxy_web);
	if (v->closing || !v->in.len)
		return;
	if (v->tls) {
		/* What followed the header (a TLS ClientHello, say) is the TLS layer's. */
		int rc = pg_buf_append(&v->raw, v->in.data, v->in.len);
		pg_buf_reset(&v->in);
		if (rc < 0)
			pg_viewer_close(v, "out of memory");
		else
			tls_input(v);
		return;
	}
	pg_viewer_process_input(v);
}

void pg_viewer_accept(struct pg_relay *relay, uv_stream_t *server, bool web)
{
	struct pg_viewer *v = calloc(1, sizeof(*v));
	if (!v)
		return;
	v->relay = relay;
	v->id = ++relay->next_viewer_id;
	pg_buf_init(&v->in, VIEWER_MAX_INPUT);
	pg_buf_init(&v->raw, VIEWER_MAX_INPUT);
	pg_buf_init(&v->plain, VIEWER_MAX_INPUT);
	uv_tcp_init(relay->loop, &v->tcp);
	uv_timer_init(relay->loop, &v->timer);
	uv_timer_init(relay->loop, &v->read_timer);
	v->tcp.data = v->timer.data = v->read_timer.data = v;
	v->open_handles = 3;
	v->read_tokens = READ_BURST;
	v->read_refill_ms = pg_now_ms();
	relay->handshakes++;
	v->next = relay->viewer_list;
	if (v->next)
		v->next->prev = v;
	relay->viewer_list = v;
	if (uv_accept(server, (uv_stream_t *)&v->tcp) < 0) {
		snprintf(v->peer, sizeof(v->peer), "?");
		pg_viewer_close(v, "accept failed");
		return;
	}
	pg_metrics_add(relay->metrics, PG_M_VIEWER_CONNECTIONS, 1);
	struct sockaddr_storage ss = {0};
	int sl = sizeof(ss);
	uv_tcp_getpeername(&v->tcp, (struct sockaddr *)&ss, &sl);
	set_address(v, &ss);
	if (relay->nproxy_nets && pg_policy_nets_have(relay->proxy_nets, relay->nproxy_nets,
						      (const struct sockaddr *)&ss)) {
		/* The caps and the handshake wait for the client's real address. */
		v->proxy_wait = true;
		v->proxy_web = web;
		uv_timer_start(&v->timer, on_proxy_deadline, (uint64_t)relay->auth_timeout_ms, 0);
	} else if (admit(v)) {
		start_protocol(v, web);
	} else {
		return;
	}
	uv_read_start((uv_stream_t *)&v->tcp, on_alloc, on_read);
}
