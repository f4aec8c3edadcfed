/* A viewer: one connection from the LGWAN side. Its RFB handshake, its messages
 * (parsed by codec/rfb_server), its pixel format and encodings, and its update
 * scheduler: an update is encoded only when the viewer asked for one, its write
 * queue is short and its frame-rate cap allows; until then damage accumulates as a
 * short list of rectangles, so a slow viewer gets the newest pixels, never a
 * backlog. Encoding runs on the libuv thread pool, one job per viewer at a time. */
#include <stdlib.h>
#include <string.h>

#include "codec/buf.h"
#include "codec/encoder.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"
#include "relay/log.h"
#include "relay/relay.h"

#define MAX_PENDING	 16
#define VIEWER_MAX_INPUT (PG_RFB_MAX_CUT_TEXT + (64u << 10))
#define READ_CHUNK	 (64u << 10)
/* Encode the next update only when less than this is still queued for the viewer. */
#define MAX_QUEUED	 (256u << 10)
#define MAX_UPDATE_BYTES ((size_t)PG_FB_MAX_SIDE * PG_FB_MAX_SIDE * 5)
#define HANDSHAKE_MS	 30000
#define SESSION_WAIT_MS	 20000

enum state { V_VERSION, V_SECURITY, V_WAIT_SESSION, V_CLIENT_INIT, V_NORMAL };

struct pg_viewer {
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake deadline, then frame pacing */
	struct pg_relay *relay;
	struct pg_session *session;
	uint64_t id;
	char peer[64];
	enum state state;
	int minor;
	struct pg_buf in;
	bool closing;
	bool in_process; /* inside process_input: do not re-enter it */
	int open_handles;

	struct pg_pixfmt pf;
	int32_t encoding;
	struct pg_enc_opts eopts;
	bool has_cursor, has_desktop_size, has_ext_desktop_size;
	bool enc_dirty;
	struct pg_encoder *enc;	 /* the one in use */
	struct pg_encoder *zrle; /* kept for the connection's lifetime once made */

	bool requested;
	struct pg_rect pending[MAX_PENDING];
	int npending;
	bool pending_resize, pending_cursor, pending_size_reply;
	int vw, vh; /* the size this viewer was last told */
	bool job_running;
	uint64_t last_send_ms;
	uint64_t updates, bytes_out;
};

struct job {
	uv_work_t work;
	struct pg_viewer *v;
	struct pg_encoder *enc;
	struct pg_fb snap;
	struct pg_rect rects[MAX_PENDING];
	int nrects;
	uint16_t pseudo;
	struct pg_buf out;
	int rc;
};

struct wreq {
	uv_write_t req;
	uint8_t *data;
};

static void maybe_send(struct pg_viewer *v);
static void process_input(struct pg_viewer *v);

uint64_t pg_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void free_viewer(struct pg_viewer *v)
{
	if (v->enc != v->zrle)
		pg_encoder_del(v->enc);
	pg_encoder_del(v->zrle);
	pg_buf_free(&v->in);
	free(v);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct pg_viewer *v = h->data;
	if (--v->open_handles == 0 && !v->job_running)
		free_viewer(v);
}

void pg_viewer_close(struct pg_viewer *v, const char *reason)
{
	if (v->closing)
		return;
	v->closing = true;
	pg_info("viewer %llu %s: closed: %s (%llu updates, %llu bytes sent)",
		(unsigned long long)v->id, v->peer, reason, (unsigned long long)v->updates,
		(unsigned long long)v->bytes_out);
	if (v->session)
		pg_session_detach(v->session, v);
	v->relay->viewers--;
	uv_close((uv_handle_t *)&v->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&v->timer, on_handle_closed);
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct pg_viewer *v = req->handle->data;
	free(w->data);
	free(w);
	if (v->closing)
		return;
	if (status < 0) {
		pg_viewer_close(v, uv_strerror(status));
		return;
	}
	maybe_send(v);
}

/* Queue data (taking ownership of the malloc'd bytes). */
static void send_owned(struct pg_viewer *v, uint8_t *data, size_t len)
{
	struct wreq *w = malloc(sizeof(*w));
	if (!w) {
		free(data);
		pg_viewer_close(v, "out of memory");
		return;
	}
	w->data = data;
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&v->tcp, &b, 1, on_write);
	if (rc < 0) {
		free(data);
		free(w);
		pg_viewer_close(v, uv_strerror(rc));
		return;
	}
	v->bytes_out += len;
}

static void send_copy(struct pg_viewer *v, const void *p, size_t len)
{
	uint8_t *d = malloc(len);
	if (!d) {
		pg_viewer_close(v, "out of memory");
		return;
	}
	memcpy(d, p, len);
	send_owned(v, d, len);
}

static void add_pending(struct pg_viewer *v, struct pg_rect r)
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

/* ---- encoding on the thread pool ---- */

static void job_run(uv_work_t *work)
{
	struct job *j = work->data;
	int n = j->pseudo;
	for (int i = 0; i < j->nrects; i++) {
		int rc = pg_encoder_encode(j->enc, &j->snap, &j->rects[i], &j->out);
		if (rc < 0) {
			j->rc = rc;
			return;
		}
		n += rc;
	}
	if (n > 65535) {
		j->rc = PG_ELIMIT;
		return;
	}
	pg_wr16(j->out.data + 2, (uint16_t)n);
}

static void job_done(uv_work_t *work, int status)
{
	struct job *j = work->data;
	struct pg_viewer *v = j->v;
	v->job_running = false;
	pg_fb_free(&j->snap);
	if (v->closing) {
		pg_buf_free(&j->out);
		free(j);
		if (v->open_handles == 0)
			free_viewer(v);
		return;
	}
	if (j->rc < 0 || status < 0) {
		pg_buf_free(&j->out);
		free(j);
		pg_viewer_close(v, "encoding an update failed");
		return;
	}
	v->updates++;
	v->last_send_ms = pg_now_ms();
	pg_debug("viewer %llu %s: update %llu, %zu bytes", (unsigned long long)v->id, v->peer,
		 (unsigned long long)v->updates, j->out.len);
	send_owned(v, j->out.data, j->out.len);
	free(j);
	if (!v->closing)
		maybe_send(v);
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
	v->enc = NULL;
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

static int write_pseudo(struct pg_viewer *v, struct job *j)
{
	const struct pg_fb *fb = pg_session_fb(v->session);
	int rc = 0;
	if (v->pending_resize) {
		if (v->has_ext_desktop_size)
			rc = pg_enc_ext_desktop_size(&j->out, fb->w, fb->h, 0, 0);
		else
			rc = pg_enc_desktop_size(&j->out, fb->w, fb->h);
		j->pseudo++;
		v->pending_resize = false;
	}
	if (!rc && v->pending_size_reply) {
		/* Resizing the browser host from a viewer is not offered yet: say so,
		 * as the spec asks, rather than leave the viewer waiting. */
		rc = pg_enc_ext_desktop_size(&j->out, v->vw, v->vh, 1, 1);
		j->pseudo++;
		v->pending_size_reply = false;
	}
	if (!rc && v->pending_cursor) {
		const struct pg_cursor_shape *c = pg_session_cursor(v->session);
		rc = pg_enc_cursor(&j->out, &v->pf, c->hot_x, c->hot_y, c->w, c->h, c->px, c->mask);
		j->pseudo++;
		v->pending_cursor = false;
	}
	return rc;
}

static void on_pace(uv_timer_t *t)
{
	maybe_send(t->data);
}

static void maybe_send(struct pg_viewer *v)
{
	if (v->closing || v->state != V_NORMAL || v->job_running || !v->requested)
		return;
	if (!v->npending && !v->pending_resize && !v->pending_cursor && !v->pending_size_reply)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&v->tcp) > MAX_QUEUED)
		return; /* on_write calls again when the queue drains */
	uint64_t now = pg_now_ms(), gap = 1000u / (unsigned)v->relay->max_fps;
	if (v->last_send_ms && now - v->last_send_ms < gap) {
		if (!uv_is_active((uv_handle_t *)&v->timer))
			uv_timer_start(&v->timer, on_pace, gap - (now - v->last_send_ms), 0);
		return;
	}
	if (ensure_encoder(v) < 0) {
		pg_viewer_close(v, "cannot create the encoder");
		return;
	}
	const struct pg_fb *fb = pg_session_fb(v->session);
	if (v->pending_resize) {
		v->vw = fb->w;
		v->vh = fb->h;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j || pg_fb_alloc(&j->snap, fb->w, fb->h) < 0) {
		free(j);
		pg_viewer_close(v, "out of memory");
		return;
	}
	pg_buf_init(&j->out, MAX_UPDATE_BYTES);
	j->v = v;
	j->enc = v->enc;
	j->work.data = j;
	if (pg_enc_update_header(&j->out, 0) < 0 || write_pseudo(v, j) < 0)
		goto fail;
	/* The snapshot is the job's own: the loop thread may change the session's
	 * pixels while the pool thread encodes. */
	for (int i = 0; i < v->npending; i++) {
		struct pg_rect r =
		    pg_rect_intersect(v->pending[i], (struct pg_rect){0, 0, fb->w, fb->h});
		if (pg_rect_empty(&r))
			continue;
		pg_fb_copy_rect(&j->snap, fb, &r);
		j->rects[j->nrects++] = r;
	}
	v->npending = 0;
	v->requested = false;
	v->job_running = true;
	if (uv_queue_work(v->relay->loop, &j->work, job_run, job_done) < 0) {
		v->job_running = false;
		goto fail;
	}
	return;
fail:
	pg_fb_free(&j->snap);
	pg_buf_free(&j->out);
	free(j);
	pg_viewer_close(v, "cannot build an update");
}

/* ---- calls from the session ---- */

void pg_viewer_damage(struct pg_viewer *v, const struct pg_rect *r, int n)
{
	if (v->state != V_NORMAL)
		return;
	/* All of an update's rectangles first, so they leave in one update. */
	for (int i = 0; i < n; i++)
		add_pending(v, r[i]);
	maybe_send(v);
}

void pg_viewer_resized(struct pg_viewer *v)
{
	if (v->state != V_NORMAL)
		return;
	const struct pg_fb *fb = pg_session_fb(v->session);
	if (v->has_ext_desktop_size || v->has_desktop_size) {
		v->pending_resize = true;
		v->npending = 0;
		/* The viewer learns the new size with the next update; pending damage
		 * is kept in the new size's coordinates from now on. */
		v->vw = fb->w;
		v->vh = fb->h;
		add_pending(v, (struct pg_rect){0, 0, fb->w, fb->h});
	} else {
		pg_warn("viewer %llu %s: browser host resized to %dx%d but this viewer cannot "
			"resize; showing the top-left %dx%d",
			(unsigned long long)v->id, v->peer, fb->w, fb->h, v->vw, v->vh);
		add_pending(v, (struct pg_rect){0, 0, v->vw, v->vh});
	}
	maybe_send(v);
}

void pg_viewer_cursor_changed(struct pg_viewer *v)
{
	if (v->state != V_NORMAL || !v->has_cursor)
		return;
	v->pending_cursor = true;
	maybe_send(v);
}

void pg_viewer_bell(struct pg_viewer *v)
{
	if (v->state != V_NORMAL)
		return;
	uint8_t b = PG_RFB_BELL;
	send_copy(v, &b, 1);
}

void pg_viewer_session_ready(struct pg_viewer *v)
{
	if (v->state != V_WAIT_SESSION || v->closing)
		return;
	uv_timer_stop(&v->timer);
	if (v->minor >= 8) {
		uint8_t ok[4] = {0, 0, 0, 0};
		send_copy(v, ok, 4);
	}
	v->state = V_CLIENT_INIT;
	if (!v->in_process)
		process_input(v);
}

void pg_viewer_session_failed(struct pg_viewer *v, const char *reason)
{
	if (v->state == V_WAIT_SESSION && v->minor >= 8) {
		struct pg_buf b;
		size_t len = strlen(reason);
		pg_buf_init(&b, 64 + len);
		if (!pg_buf_put_u32(&b, 1) && !pg_buf_put_u32(&b, (uint32_t)len) &&
		    !pg_buf_append(&b, reason, len))
			send_owned(v, b.data, b.len);
		else
			pg_buf_free(&b);
	}
	pg_viewer_close(v, reason);
}

/* ---- messages from the viewer ---- */

static void set_encodings(struct pg_viewer *v, const struct pg_cmsg *m)
{
	int32_t chosen = 0;
	bool have = false;
	v->eopts = (struct pg_enc_opts){-1, -1, -1, -1};
	v->has_cursor = v->has_desktop_size = v->has_ext_desktop_size = false;
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
		} else if (e == PG_ENC_CURSOR) {
			v->has_cursor = true;
		} else if (e == PG_ENC_DESKTOP_SIZE) {
			v->has_desktop_size = true;
		} else if (e == PG_ENC_EXT_DESKTOP_SIZE) {
			v->has_ext_desktop_size = true;
		}
	}
	v->enc_dirty = true; /* encoding, quality or compression may have changed */
	v->encoding = chosen;
	if (v->has_cursor && pg_session_cursor(v->session)->w)
		v->pending_cursor = true;
	pg_debug("viewer %llu %s: %u encodings, using %d (quality %d, compress %d)%s%s%s",
		 (unsigned long long)v->id, v->peer, m->encodings.count, chosen, v->eopts.quality,
		 v->eopts.compress, v->has_cursor ? ", cursor" : "",
		 v->has_desktop_size ? ", desktop-size" : "",
		 v->has_ext_desktop_size ? ", extended-desktop-size" : "");
}

static int handle_msg(struct pg_viewer *v, const struct pg_cmsg *m)
{
	const char *why;
	switch (m->type) {
	case PG_RFB_SET_PIXEL_FORMAT:
		if (pg_pixfmt_validate(&m->pixfmt, &why) < 0) {
			char reason[160];
			snprintf(reason, sizeof(reason), "SetPixelFormat refused: %s", why);
			pg_viewer_close(v, reason);
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
		if (!m->fbreq.incremental)
			add_pending(
			    v, (struct pg_rect){m->fbreq.x, m->fbreq.y, m->fbreq.w, m->fbreq.h});
		v->requested = true;
		maybe_send(v);
		return 0;
	case PG_RFB_KEY_EVENT:
		pg_session_key(v->session, m->key.down, m->key.keysym);
		return 0;
	case PG_RFB_POINTER_EVENT:
		pg_session_pointer(v->session, m->pointer.mask, m->pointer.x, m->pointer.y);
		return 0;
	case PG_RFB_CLIENT_CUT_TEXT:
		pg_info("viewer %llu %s: dropped %u bytes of %sclipboard text (clipboard to the "
			"browser is not allowed)",
			(unsigned long long)v->id, v->peer, m->cut.len,
			m->cut.extended ? "extended " : "");
		return 0;
	case PG_RFB_SET_DESKTOP_SIZE:
		v->pending_size_reply = v->has_ext_desktop_size;
		maybe_send(v);
		return 0;
	default:
		pg_viewer_close(v, "unexpected message type");
		return -1;
	}
}

static void on_deadline(uv_timer_t *t)
{
	struct pg_viewer *v = t->data;
	if (v->state == V_WAIT_SESSION)
		pg_viewer_session_failed(v, "the browser host is not available right now");
	else
		pg_viewer_close(v, "handshake not finished in time");
}

/* Security is done; the rest of the handshake needs the browser host's size, so
 * wait for it (bounded), telling an RFB 3.8 viewer why if it does not come. */
static void wait_session(struct pg_viewer *v)
{
	v->state = V_WAIT_SESSION;
	uv_timer_start(&v->timer, on_deadline, SESSION_WAIT_MS, 0);
	if (pg_session_connected(v->session))
		pg_viewer_session_ready(v);
}

static void send_security(struct pg_viewer *v)
{
	if (v->minor == 3) {
		uint8_t t[4] = {0, 0, 0, PG_RFB_SEC_NONE};
		send_copy(v, t, 4);
		wait_session(v);
	} else {
		uint8_t t[2] = {1, PG_RFB_SEC_NONE};
		send_copy(v, t, 2);
		v->state = V_SECURITY;
	}
}

static void server_init(struct pg_viewer *v)
{
	const struct pg_fb *fb = pg_session_fb(v->session);
	const char *name = pg_session_name(v->session);
	struct pg_buf b;
	pg_buf_init(&b, 64 + PG_RFB_NAME_OUT);
	v->vw = fb->w;
	v->vh = fb->h;
	v->pf = pg_pixfmt_canonical;
	if (pg_rfb_write_server_init(&b, fb->w, fb->h, name, strlen(name)) < 0) {
		pg_buf_free(&b);
		pg_viewer_close(v, "cannot build ServerInit");
		return;
	}
	send_owned(v, b.data, b.len);
	v->state = V_NORMAL;
	pg_info("viewer %llu %s: connected (RFB 3.%d, %dx%d)", (unsigned long long)v->id, v->peer,
		v->minor, fb->w, fb->h);
}

static void process_input(struct pg_viewer *v)
{
	size_t off = 0;
	v->in_process = true;
	while (!v->closing && off < v->in.len) {
		const uint8_t *p = v->in.data + off;
		size_t len = v->in.len - off;
		ssize_t n;
		const char *why = NULL;
		if (v->state == V_VERSION) {
			n = pg_rfb_parse_version(p, len, &v->minor);
			if (n > 0)
				send_security(v);
		} else if (v->state == V_SECURITY) {
			n = 1;
			if (p[0] != PG_RFB_SEC_NONE) {
				pg_viewer_close(
				    v, "viewer chose a security type that was not offered");
				break;
			}
			wait_session(v);
		} else if (v->state == V_WAIT_SESSION) {
			break; /* keep ClientInit until the browser host is there */
		} else if (v->state == V_CLIENT_INIT) {
			n = 1;
			server_init(v);
		} else {
			struct pg_cmsg m;
			n = pg_rfb_parse_client_msg(p, len, &m, &why);
			if (n > 0 && handle_msg(v, &m) < 0)
				break;
		}
		if (n == 0)
			break;
		if (n < 0) {
			char reason[200];
			snprintf(reason, sizeof(reason), "bad input: %s",
				 why ? why : "malformed handshake");
			pg_viewer_close(v, reason);
			break;
		}
		off += (size_t)n;
	}
	v->in_process = false;
	if (!v->closing)
		pg_buf_consume(&v->in, off);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct pg_viewer *v = h->data;
	if (pg_buf_reserve(&v->in, READ_CHUNK) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)v->in.data + v->in.len, READ_CHUNK);
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
	if (nread < 0) {
		pg_viewer_close(v,
				nread == UV_EOF ? "viewer disconnected" : uv_strerror((int)nread));
		return;
	}
	v->in.len += (size_t)nread;
	process_input(v);
}

void pg_viewer_accept(struct pg_relay *relay, uv_stream_t *server)
{
	struct pg_viewer *v = calloc(1, sizeof(*v));
	if (!v)
		return;
	v->relay = relay;
	v->id = ++relay->next_viewer_id;
	pg_buf_init(&v->in, VIEWER_MAX_INPUT);
	uv_tcp_init(relay->loop, &v->tcp);
	uv_timer_init(relay->loop, &v->timer);
	v->tcp.data = v->timer.data = v;
	v->open_handles = 2;
	relay->viewers++;
	if (uv_accept(server, (uv_stream_t *)&v->tcp) < 0) {
		snprintf(v->peer, sizeof(v->peer), "?");
		pg_viewer_close(v, "accept failed");
		return;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (uv_tcp_getpeername(&v->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else {
			uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(v->peer, sizeof(v->peer), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
		 port);
	if (relay->viewers > relay->max_viewers) {
		pg_viewer_close(v, "too many viewers (relay.max_viewers)");
		return;
	}
	uv_tcp_nodelay(&v->tcp, 1);
	v->pf = pg_pixfmt_canonical;
	v->encoding = PG_ENC_RAW;
	v->eopts = (struct pg_enc_opts){-1, -1, -1, -1};
	v->session = relay->session;
	pg_info("viewer %llu %s: new connection", (unsigned long long)v->id, v->peer);
	static const char version[] = "RFB 003.008\n";
	send_copy(v, version, 12);
	uv_timer_start(&v->timer, on_deadline, HANDSHAKE_MS, 0);
	uv_read_start((uv_stream_t *)&v->tcp, on_alloc, on_read);
	pg_session_attach(v->session, v);
}
