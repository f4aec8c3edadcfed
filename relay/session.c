/* A session: one browser host, its upstream worker process, the picture the worker
 * publishes, and the viewers watching it. The session never parses a byte from the
 * browser host: it reads fixed-format channel messages and pixels the worker put in
 * shared memory, and checks both against the sizes it already knows. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec/rfb.h"
#include "auth/audit.h"
#include "config/clipcheck.h"
#include "config/config.h"
#include "relay/broker.h"
#include "relay/channel.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"

#define MAX_DAMAGE     64
#define OUTQ_MAX       256 /* input messages waiting for a busy worker */
#define FIRST_RETRY_MS 250
/* SetDesktopSize from a viewer: at most one out to the worker, at most one every
 * SIZE_INTERVAL_MS (a window edge being dragged sends dozens a second), and an
 * answer expected within SIZE_TIMEOUT_MS. */
#define SIZE_INTERVAL_MS 250
#define SIZE_TIMEOUT_MS	 5000
/* A session without viewers keeps its browser host [broker] linger seconds, so a
 * viewer that reconnects (a network blip, a second window) finds it as it was. */
/* Every line names the session by its browser host. */
#define slog(level, s, fmt, ...) pg_log(level, "session %s: " fmt, (s)->label, ##__VA_ARGS__)

struct pg_session {
	struct pg_relay *relay;
	char host[256];
	int port;
	char label[300]; /* host:port, for logs */
	char id[17];	 /* 64 random bits in hex: names the session to admins */
	int64_t started_unix;
	uint64_t frames_at_tick; /* frames at the last pg_session_tick */
	double fps;		 /* frames in the last tick's second */
	struct pg_viewer **viewers;
	int nviewers, cap;

	uv_process_t proc;
	bool proc_running; /* proc handle is open */
	int chan;	   /* our end of the channel, or -1 */
	uv_poll_t poll;
	bool poll_open;
	uv_timer_t retry;
	bool retry_open;
	uv_timer_t linger; /* ends a session its viewers left */
	bool linger_open;
	uint64_t created_ms, frames;
	char last_error[PG_CHAN_TEXT * 4 + 1];
	int backoff_ms;
	bool connected;	  /* the current worker finished the handshake */
	bool ext_clip;	  /* the browser host speaks the Extended Clipboard */
	bool has_picture; /* a picture exists (it stays when the host goes away) */
	bool closing;
	uint64_t started_ms;
	unsigned worker_starts;
	uint64_t heard_ms;	/* the worker's last message */
	uint32_t ping_seq;	/* of the PG_CHAN_PING not yet answered; 0: none out */
	uint64_t up_in, up_out; /* the current worker's last PONG said so (/metrics) */
	bool stalled;		/* killed for silence: said once */
	bool exited;		/* the worker is reaped: its pid may be anyone's now */
	uint64_t resize_log_ms; /* last resize logged at info level */
	unsigned resizes_quiet; /* resizes since, logged at debug only */
	int log_budget;		/* worker log lines still allowed this second */
	unsigned log_dropped;	/* over the budget, this second */

	struct pg_fb fb;	 /* what viewers are shown */
	uint64_t version;	 /* of fb's pixels: one more at each change */
	struct pg_share *share;	 /* update.c's bytes for viewers alike */
	struct pg_recorder *rec; /* record.c's, while the session is recorded */
	const uint32_t *shm;
	size_t shm_bytes;
	int shm_w, shm_h;
	struct pg_rect damage[MAX_DAMAGE];
	int ndamage;
	/* This update's move (PG_CHAN_COPY), which viewers apply before its damage. */
	bool has_copy;
	struct pg_rect copy_dst;
	int copy_x, copy_y;

	char name[PG_RFB_NAME_OUT + 1];
	struct pg_cursor_shape cursor;
	uint64_t dropped_input;
	/* What could not be sent while the worker's queue was full (the kernel keeps
	 * only net.unix.max_dgram_qlen, often 10, messages for it): the ACK, and input
	 * in order, a run of pointer moves kept as its newest. Sent when the channel
	 * is writable again. */
	bool ack_owed;
	struct pg_chan_msg *outq; /* OUTQ_MAX small messages (KEY, POINTER) */
	int outq_head, outq_len;
	bool want_write;
	int poll_ev; /* the events the poll watches */
	/* Encoding jobs read fb on pool threads (pg_session_read_begin): meanwhile an
	 * update's end or a resize, which would change fb, waits here, and the channel
	 * is not read further. */
	int readers;
	struct pg_chan_msg *held;
	int held_fd;

	/* A viewer's SetDesktopSize (pg_session_set_size): the viewer that asked (NULL
	 * once it left), the newest size it asked for and not yet sent, and whether
	 * a request is out at the worker, since when. */
	struct pg_viewer *size_viewer;
	bool size_want, size_out;
	int size_w, size_h;
	uint64_t size_sent_ms;
	uv_timer_t size_timer; /* sends size_want once SIZE_INTERVAL_MS passed */
	bool size_timer_open;
};

static void start_worker(struct pg_session *s);
static void size_fail(struct pg_session *s, const char *why);
static bool queue_out(struct pg_session *s, const struct pg_chan_msg *m);

/* Walks backwards: a viewer that closes in fn leaves the list by swapping the last
 * entry into its place, and that entry has been visited already. */
static void for_each_viewer(struct pg_session *s, void (*fn)(struct pg_viewer *))
{
	for (int i = s->nviewers - 1; i >= 0; i--)
		fn(s->viewers[i]);
}

static void unmap_shm(struct pg_session *s)
{
	if (s->shm)
		munmap((void *)s->shm, s->shm_bytes);
	s->shm = NULL;
	s->shm_bytes = 0;
	s->shm_w = s->shm_h = 0;
}

static void drop_held(struct pg_session *s)
{
	if (s->held && s->held_fd >= 0)
		close(s->held_fd);
	free(s->held);
	s->held = NULL;
}

/* A closing session is freed once its last handle has closed. */
static void maybe_free(struct pg_session *s)
{
	if (!s->closing || s->poll_open || s->proc_running || s->retry_open || s->linger_open ||
	    s->size_timer_open || s->readers)
		return;
	free(s->viewers);
	free(s->cursor.px);
	free(s->cursor.mask);
	drop_held(s);
	pg_fb_free(&s->fb);
	pg_share_put(s->share);
	free(s->outq);
	free(s);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct pg_session *s = h->data;
	s->poll_open = false;
	maybe_free(s);
}

static void close_channel(struct pg_session *s)
{
	if (s->poll_open && !uv_is_closing((uv_handle_t *)&s->poll))
		uv_close((uv_handle_t *)&s->poll, on_poll_closed);
	if (s->chan >= 0)
		close(s->chan);
	s->chan = -1;
	s->connected = false;
	s->ext_clip = false;
	s->ndamage = 0;
	s->has_copy = false;
	/* What waited for this worker is not for the next one (see send_input). */
	s->ack_owed = false;
	s->outq_len = 0;
	s->want_write = false;
	s->poll_ev = 0;
	drop_held(s);
	unmap_shm(s);
	size_fail(s, "the browser host went away");
}

static void on_chan(uv_poll_t *p, int status, int events);
static void flush_out(struct pg_session *s);

/* The worker broke the channel's contract: it may be compromised, so it goes. */
static void worker_misbehaved(struct pg_session *s, const char *what)
{
	slog(PG_LOG_ERROR, s, "worker broke the channel protocol (%s); killing it", what);
	if (s->proc_running && !s->exited)
		uv_process_kill(&s->proc, SIGKILL);
	close_channel(s);
}

static void sanitize_name(char *out, size_t out_size, const uint8_t *in, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < out_size; i++) {
		/* A window title: printable ASCII only, so nothing the host chose can
		 * steer a terminal, a log reader or a viewer's title bar. */
		if (in[i] >= 0x20 && in[i] < 0x7f)
			out[o++] = (char)in[i];
	}
	out[o] = '\0';
}

static void handle_resize(struct pg_session *s, const struct pg_chan_size *sz, int fd)
{
	struct stat st;
	size_t bytes;
	int w = sz->w, h = sz->h;
	if (fd < 0)
		return worker_misbehaved(s, "resize without shared memory");
	if (w <= 0 || h <= 0 || w > s->relay->worker.max_width || h > s->relay->worker.max_height ||
	    !pg_mul_size((size_t)w * (size_t)h, 4, &bytes)) {
		close(fd);
		return worker_misbehaved(s, "framebuffer size out of range");
	}
	int seals = fcntl(fd, F_GET_SEALS);
	/* Without the shrink seal the worker could truncate the memory under our
	 * mapping and crash us with SIGBUS. */
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < bytes || seals < 0 ||
	    !(seals & F_SEAL_SHRINK)) {
		close(fd);
		return worker_misbehaved(s, "shared memory too small or not sealed");
	}
	void *map = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		slog(PG_LOG_ERROR, s, "cannot map the shared framebuffer: %s", strerror(errno));
		return worker_misbehaved(s, "mmap failed");
	}
	unmap_shm(s);
	s->shm = map;
	s->shm_bytes = bytes;
	s->shm_w = w;
	s->shm_h = h;
	s->ndamage = 0;
	s->has_copy = false;
	if (s->fb.w == w && s->fb.h == h)
		return;
	struct pg_fb fb;
	if (pg_fb_alloc(&fb, w, h) < 0) {
		slog(PG_LOG_ERROR, s, "no memory for a %dx%d framebuffer", w, h);
		return worker_misbehaved(s, "out of memory");
	}
	bool had = s->fb.px != NULL;
	/* A host may resize often (the worker passes at most 4 a second): one info
	 * line per 10 s, the rest at debug level, counted. */
	uint64_t now = pg_now_ms();
	if (!had || now - s->resize_log_ms >= 10000) {
		slog(PG_LOG_INFO, s, "browser host framebuffer is %dx%d%s", w, h,
		     had ? " (resized)" : "");
		if (s->resizes_quiet)
			slog(PG_LOG_INFO, s, "(%u more resizes in the %llu s before)",
			     s->resizes_quiet, (unsigned long long)(now - s->resize_log_ms) / 1000);
		s->resize_log_ms = now;
		s->resizes_quiet = 0;
	} else {
		s->resizes_quiet++;
		slog(PG_LOG_DEBUG, s, "browser host framebuffer is %dx%d (resized)", w, h);
	}
	pg_fb_free(&s->fb);
	s->fb = fb;
	s->version++;
	if (had)
		for_each_viewer(s, pg_viewer_resized);
}

static void add_damage(struct pg_session *s, const struct pg_chan_rect *cr)
{
	struct pg_rect r = {cr->x, cr->y, cr->w, cr->h};
	if (!pg_rect_inside(&r, s->shm_w, s->shm_h))
		return worker_misbehaved(s, "damage outside the framebuffer");
	if (s->ndamage == MAX_DAMAGE) {
		for (int i = 1; i < s->ndamage; i++)
			s->damage[0] = pg_rect_union(s->damage[0], s->damage[i]);
		s->ndamage = 1;
	}
	s->damage[s->ndamage++] = r;
}

/* One move per update, before its damage, wholly inside the picture both ways. */
static void add_copy(struct pg_session *s, const struct pg_chan_copy *c)
{
	struct pg_rect dst = {c->x, c->y, c->w, c->h};
	struct pg_rect src = {c->src_x, c->src_y, c->w, c->h};
	if (s->has_copy || s->ndamage)
		return worker_misbehaved(s, "copy not first in its update");
	if (!pg_rect_inside(&dst, s->shm_w, s->shm_h) || !pg_rect_inside(&src, s->shm_w, s->shm_h))
		return worker_misbehaved(s, "copy outside the framebuffer");
	s->has_copy = true;
	s->copy_dst = dst;
	s->copy_x = c->src_x;
	s->copy_y = c->src_y;
}

static void handle_update_end(struct pg_session *s)
{
	struct pg_fb shm = {
	    .px = (uint32_t *)s->shm, .w = s->shm_w, .h = s->shm_h, .stride = s->shm_w};
	if (!s->shm)
		return worker_misbehaved(s, "update before any framebuffer");
	/* The worker moved the pixels in shm already: taking them from there keeps
	 * s->fb equal to shm whatever the move was. */
	long long pixels = 0;
	if (s->has_copy)
		pg_fb_copy_rect(&s->fb, &shm, &s->copy_dst);
	for (int i = 0; i < s->ndamage; i++) {
		pg_fb_copy_rect(&s->fb, &shm, &s->damage[i]);
		pixels += (long long)s->damage[i].w * s->damage[i].h;
	}
	s->has_picture = true;
	s->frames++;
	pg_metrics_add(s->relay->metrics, PG_M_HOST_FRAMES, 1);
	s->version++;
	if (s->has_copy)
		slog(PG_LOG_DEBUG, s, "update of %d rectangles (%lld pixels) after a copy of %dx%d",
		     s->ndamage, pixels, s->copy_dst.w, s->copy_dst.h);
	else
		slog(PG_LOG_DEBUG, s, "update of %d rectangles (%lld pixels)", s->ndamage, pixels);
	int n = s->ndamage;
	bool copy = s->has_copy;
	s->ndamage = 0;
	s->has_copy = false;
	/* Tell the worker first: it can decode the next update while viewers encode.
	 * A full queue (the worker is busy) only delays the ACK. A worker gone by now
	 * (its host closed) takes nothing from viewers: s->fb holds this update. */
	s->ack_owed = true;
	flush_out(s);
	/* Backwards, as for_each_viewer walks, for the same reason. Each viewer
	 * applies the move before the damage, as the worker did. */
	if (copy)
		pg_record_damage(s, &s->copy_dst, 1);
	pg_record_damage(s, s->damage, n);
	if (!s->rec && s->relay->rec_dir[0])
		pg_record_check(s); /* the first picture: a recording may start */
	for (int j = s->nviewers - 1; j >= 0; j--) {
		if (copy)
			pg_viewer_copy(s->viewers[j], &s->copy_dst, s->copy_x, s->copy_y);
		if (j < s->nviewers)
			pg_viewer_damage(s->viewers[j], s->damage, n);
	}
}

static void handle_cursor(struct pg_session *s, const struct pg_chan_cursor *c)
{
	int w = c->w, h = c->h;
	if (w > PG_CHAN_CURSOR_SIDE || h > PG_CHAN_CURSOR_SIDE || (w && c->hot_x >= w) ||
	    (h && c->hot_y >= h))
		return worker_misbehaved(s, "cursor out of range");
	size_t n = (size_t)w * h, stride = (size_t)(w + 7) / 8;
	uint32_t *px = malloc(n ? n * 4 : 1);
	uint8_t *mask = malloc(stride * h + 1);
	if (!px || !mask) {
		free(px);
		free(mask);
		return;
	}
	for (int y = 0; y < h; y++) {
		memcpy(px + (size_t)y * w, c->px + (size_t)y * w, (size_t)w * 4);
		memcpy(mask + y * stride, c->mask + y * stride, stride);
	}
	free(s->cursor.px);
	free(s->cursor.mask);
	s->cursor = (struct pg_cursor_shape){c->hot_x, c->hot_y, w, h, px, mask};
	for_each_viewer(s, pg_viewer_cursor_changed);
}

/* Clipboard text from the browser host: each viewer's policy judges it. */
static void handle_clip(struct pg_session *s, const struct pg_chan_clip *c)
{
	static uint8_t utf8[PG_CHAN_CLIP_MAX * 2];
	const uint8_t *text = c->bytes;
	size_t len = c->len;
	if (c->len > PG_CHAN_CLIP_MAX ||
	    (c->format != PG_CHAN_CLIP_UTF8 && c->format != PG_CHAN_CLIP_LATIN1))
		return worker_misbehaved(s, "clipboard message out of bounds");
	if (c->format == PG_CHAN_CLIP_LATIN1) {
		pg_clip_from_latin1(c->bytes, c->len, utf8, sizeof(utf8), &len);
		text = utf8;
	}
	const char *format = c->format == PG_CHAN_CLIP_LATIN1 ? "latin1" : "utf8";
	for (int i = s->nviewers - 1; i >= 0; i--)
		pg_guard_clip_from_host(s->viewers[i], text, len, format);
}

static void handle_clip_dropped(struct pg_session *s, const struct pg_chan_clip_dropped *d)
{
	const char *why = d->why == PG_CHAN_DROP_TOO_LARGE
			      ? "larger than the relay carries (64 KiB)"
			  : d->why == PG_CHAN_DROP_FORMATS ? "formats other than text"
							   : "malformed Extended Clipboard message";
	slog(PG_LOG_INFO, s, "browser host clipboard dropped: %s (%u bytes)", why, d->bytes);
	for (int i = s->nviewers - 1; i >= 0; i--)
		pg_guard_clip_host_dropped(s->viewers[i], why, d->bytes, d->formats);
}

/* Worker log lines per second; more are counted, and the count logged. */
#define WORKER_LOG_PER_SEC 20

static void worker_log(struct pg_session *s, const struct pg_chan_log *l)
{
	char text[PG_CHAN_TEXT * 4 + 1];
	if (l->level > PG_CHAN_LOG_WARN || l->len > PG_CHAN_TEXT)
		return worker_misbehaved(s, "log line out of bounds");
	if (s->log_budget <= 0) {
		s->log_dropped++;
		return;
	}
	s->log_budget--;
	pg_log_escape(text, sizeof(text), l->bytes, l->len);
	slog(l->level == PG_CHAN_LOG_WARN ? PG_LOG_WARN : PG_LOG_DEBUG, s, "upstream worker: %s",
	     text);
}

/* ---- the browser host's size follows a viewer's (SetDesktopSize) ---- */

static void size_next(struct pg_session *s);

static void on_size_timer(uv_timer_t *t)
{
	size_next(t->data);
}

/* The asking viewer hears status (RFB's 0..3), if it is still here. */
static void size_answer(struct pg_session *s, int status)
{
	if (s->size_viewer)
		pg_viewer_size_result(s->size_viewer, status);
}

/* No worker to answer: what was asked or waiting is refused. */
static void size_fail(struct pg_session *s, const char *why)
{
	if (!s->size_out && !s->size_want)
		return;
	slog(PG_LOG_DEBUG, s, "SetDesktopSize not answered: %s", why);
	s->size_out = s->size_want = false;
	size_answer(s, 1);
}

/* Send the newest size asked for when nothing is out and the interval passed. */
static void size_next(struct pg_session *s)
{
	if (!s->size_want || s->size_out || s->closing)
		return;
	uint64_t now = pg_now_ms();
	if (s->size_sent_ms && now - s->size_sent_ms < SIZE_INTERVAL_MS) {
		uv_timer_start(&s->size_timer, on_size_timer,
			       SIZE_INTERVAL_MS - (now - s->size_sent_ms), 0);
		return;
	}
	s->size_want = false;
	/* Others joined meanwhile: one of several viewers may not set the size. */
	if (!s->size_viewer || s->nviewers != 1 || s->viewers[0] != s->size_viewer) {
		slog(PG_LOG_DEBUG, s, "SetDesktopSize dropped: the session has %d viewers",
		     s->nviewers);
		return size_answer(s, 1);
	}
	if (!s->connected || s->chan < 0)
		return size_answer(s, 1);
	struct pg_chan_msg m = {.type = PG_CHAN_SET_SIZE};
	m.u.size = (struct pg_chan_size){(uint16_t)s->size_w, (uint16_t)s->size_h};
	int rc = s->outq_len ? -EAGAIN : pg_chan_send(s->chan, &m, -1);
	if (rc == -EAGAIN && queue_out(s, &m))
		rc = 0;
	if (rc < 0)
		return size_answer(s, 1);
	slog(PG_LOG_DEBUG, s, "asking the browser host for %dx%d (SetDesktopSize)", s->size_w,
	     s->size_h);
	s->size_out = true;
	s->size_sent_ms = now;
}

void pg_session_set_size(struct pg_session *s, struct pg_viewer *v, int w, int h)
{
	/* A newer size replaces one not yet sent; its viewer hears once. */
	s->size_viewer = v;
	s->size_want = true;
	s->size_w = w;
	s->size_h = h;
	size_next(s);
}

static void size_result(struct pg_session *s, uint8_t status)
{
	/* RFB's statuses only: anything else is a worker off its contract. */
	if (status > 3)
		return worker_misbehaved(s, "SetDesktopSize status out of range");
	if (!s->size_out) {
		slog(PG_LOG_DEBUG, s, "SetDesktopSize answer nobody waits for (status %u)", status);
		return;
	}
	s->size_out = false;
	slog(PG_LOG_DEBUG, s, "browser host answered SetDesktopSize: status %u", status);
	/* A newer size waits: its answer is the one the viewer hears. */
	if (!s->size_want)
		size_answer(s, status);
	size_next(s);
}

static void handle_message(struct pg_session *s, struct pg_chan_msg *m, int fd)
{
	char text[PG_CHAN_TEXT * 4 + 1];
	switch (m->type) {
	case PG_CHAN_RESIZE:
		return handle_resize(s, &m->u.size, fd);
	case PG_CHAN_DAMAGE:
		return add_damage(s, &m->u.rect);
	case PG_CHAN_COPY:
		return add_copy(s, &m->u.copy);
	case PG_CHAN_UPDATE_END:
		return handle_update_end(s);
	case PG_CHAN_CURSOR:
		return handle_cursor(s, &m->u.cursor);
	case PG_CHAN_BELL:
		return for_each_viewer(s, pg_viewer_bell);
	case PG_CHAN_NAME:
		if (m->u.text.len > PG_CHAN_TEXT)
			return worker_misbehaved(s, "name too long");
		sanitize_name(s->name, sizeof(s->name), m->u.text.bytes, m->u.text.len);
		return;
	case PG_CHAN_CLIP_FROM_HOST:
		return handle_clip(s, &m->u.clip);
	case PG_CHAN_CLIP_CAPS:
		s->ext_clip = m->u.clip_caps.extended != 0;
		slog(PG_LOG_DEBUG, s, "browser host clipboard: %s",
		     s->ext_clip ? "Extended Clipboard (UTF-8)" : "legacy (Latin-1)");
		return;
	case PG_CHAN_CLIP_DROPPED:
		return handle_clip_dropped(s, &m->u.clip_dropped);
	case PG_CHAN_ERROR:
		pg_log_escape(text, sizeof(text), m->u.text.bytes,
			      m->u.text.len < PG_CHAN_TEXT ? m->u.text.len : PG_CHAN_TEXT);
		snprintf(s->last_error, sizeof(s->last_error), "%s", text);
		slog(PG_LOG_WARN, s, "upstream worker: %s", text);
		return;
	case PG_CHAN_LOG:
		return worker_log(s, &m->u.log);
	case PG_CHAN_SIZE_RESULT:
		return size_result(s, m->u.size_result.status);
	case PG_CHAN_PONG:
		if (m->u.ping.seq == s->ping_seq)
			s->ping_seq = 0;
		/* The worker's own word: only ever added to, so a lying one can skew a
		 * graph but never make a counter go back. */
		if (m->u.ping.up_in > s->up_in)
			pg_metrics_add(s->relay->metrics, PG_M_UPSTREAM_RECEIVED_BYTES,
				       m->u.ping.up_in - s->up_in);
		if (m->u.ping.up_out > s->up_out)
			pg_metrics_add(s->relay->metrics, PG_M_UPSTREAM_SENT_BYTES,
				       m->u.ping.up_out - s->up_out);
		s->up_in = m->u.ping.up_in > s->up_in ? m->u.ping.up_in : s->up_in;
		s->up_out = m->u.ping.up_out > s->up_out ? m->u.ping.up_out : s->up_out;
		return;
	case PG_CHAN_CONNECTED:
		if (!s->shm)
			return worker_misbehaved(s, "connected without a framebuffer");
		s->connected = true;
		s->backoff_ms = FIRST_RETRY_MS;
		slog(PG_LOG_INFO, s, "connected to browser host (%dx%d, \"%s\")", s->shm_w,
		     s->shm_h, s->name);
		return for_each_viewer(s, pg_viewer_session_ready);
	default:
		return worker_misbehaved(s, pg_chan_type_name(m->type));
	}
}

/* The channel's poll: readable unless a message is held, writable while something
 * waits to go. */
static void poll_events(struct pg_session *s)
{
	bool want = s->ack_owed || s->outq_len;
	int ev = (s->held ? 0 : UV_READABLE) | (want ? UV_WRITABLE : 0);
	s->want_write = want;
	if (ev == s->poll_ev || !s->poll_open || uv_is_closing((uv_handle_t *)&s->poll))
		return;
	s->poll_ev = ev;
	if (ev)
		uv_poll_start(&s->poll, ev, on_chan);
	else
		uv_poll_stop(&s->poll);
}

/* Send what waited, in order, until the queue is full again. */
static void flush_out(struct pg_session *s)
{
	if (s->chan < 0)
		return;
	if (s->ack_owed) {
		struct pg_chan_msg ack = {.type = PG_CHAN_UPDATE_ACK};
		int rc = pg_chan_send(s->chan, &ack, -1);
		if (rc == -EAGAIN) {
			poll_events(s);
			return;
		}
		s->ack_owed = false;
		if (rc == -EPIPE || rc == -ECONNRESET) {
			/* The worker exited (its host closed, say): on_exit reports
			 * why and reconnects; that is no broken protocol. */
			slog(PG_LOG_DEBUG, s, "upstream worker closed its channel");
			close_channel(s);
			return;
		}
		if (rc < 0) {
			worker_misbehaved(s, "channel write failed");
			return;
		}
	}
	while (s->outq_len) {
		int rc = pg_chan_send(s->chan, &s->outq[s->outq_head], -1);
		if (rc == -EAGAIN)
			break;
		s->outq_head = (s->outq_head + 1) % OUTQ_MAX;
		s->outq_len--;
	}
	poll_events(s);
}

static void on_chan(uv_poll_t *p, int status, int events)
{
	struct pg_session *s = p->data;
	if (events & UV_WRITABLE)
		flush_out(s);
	if (!(events & UV_READABLE) || s->chan < 0 || s->held)
		return;
	struct pg_chan_msg *m = malloc(sizeof(*m));
	if (!m)
		return;
	/* Bounded: a worker that floods us yields the loop after a batch. */
	for (int i = 0; i < 4096 && s->chan >= 0; i++) {
		int fd;
		int rc = pg_chan_recv(s->chan, m, &fd);
		if (rc == -EAGAIN)
			break;
		if (rc == 0) {
			close_channel(s);
			break;
		}
		if (rc == -ECONNRESET) { /* the worker exited with messages unread by it */
			close_channel(s);
			break;
		}
		if (rc < 0) {
			worker_misbehaved(s, rc == -EPROTO ? "malformed message" : strerror(-rc));
			break;
		}
		s->heard_ms = pg_now_ms();
		if (s->readers && (m->type == PG_CHAN_UPDATE_END || m->type == PG_CHAN_RESIZE)) {
			/* fb is being read: this waits for pg_session_read_end. */
			s->held = m;
			s->held_fd = fd;
			m = NULL;
			poll_events(s);
			break;
		}
		handle_message(s, m, fd);
	}
	free(m);
}

void pg_session_read_begin(struct pg_session *s)
{
	s->readers++;
}

void pg_session_read_end(struct pg_session *s)
{
	if (--s->readers > 0)
		return;
	if (s->held) {
		struct pg_chan_msg *m = s->held;
		s->held = NULL;
		handle_message(s, m, s->held_fd);
		free(m);
		poll_events(s);
	}
	maybe_free(s);
}

bool pg_session_held(const struct pg_session *s)
{
	return s->held != NULL;
}

static void on_retry(uv_timer_t *t)
{
	start_worker(t->data);
}

static void on_proc_closed(uv_handle_t *h)
{
	struct pg_session *s = h->data;
	s->proc_running = false;
	if (s->closing) {
		maybe_free(s);
		return;
	}
	int delay = s->backoff_ms;
	s->backoff_ms = s->backoff_ms * 2 > s->relay->reconnect_max_ms ? s->relay->reconnect_max_ms
								       : s->backoff_ms * 2;
	slog(PG_LOG_INFO, s, "reconnecting to browser host in %d ms%s", delay,
	     s->has_picture ? "; viewers keep the last picture, input is dropped meanwhile" : "");
	pg_audit(s->relay, "reconnect", PG_AUDIT_S("browser_host", s->label),
		 PG_AUDIT_U("delay_ms", (uint64_t)delay));
	uv_timer_start(&s->retry, on_retry, (uint64_t)delay, 0);
}

static void on_worker_exit(uv_process_t *p, int64_t status, int signal)
{
	struct pg_session *s = p->data;
	/* What the worker said last (its reason, above all) may still be queued: read
	 * it before the channel closes, so the log and the audit record carry it. */
	s->exited = true;
	if (s->chan >= 0 && !s->closing)
		on_chan(&s->poll, 0, UV_READABLE);
	if (!s->closing) {
		if (signal == SIGSYS) {
			/* The worker's code tried what it never does: the sandbox stopped a
			 * system call. Likely an exploit of a decoder by the browser host. */
			slog(PG_LOG_ERROR, s,
			     "upstream worker (pid %d) killed by its sandbox (SIGSYS): it made a "
			     "forbidden system call; the browser host may be attacking the relay",
			     p->pid);
			pg_audit(s->relay, "sandbox-violation",
				 PG_AUDIT_S("browser_host", s->label),
				 PG_AUDIT_U("pid", (uint64_t)p->pid));
		} else if (signal)
			slog(PG_LOG_WARN, s, "upstream worker (pid %d) ended by signal %d (%s)",
			     p->pid, signal, strsignal(signal));
		else
			slog(PG_LOG_WARN, s, "upstream worker (pid %d) exited with status %d",
			     p->pid, (int)status);
	}
	if (!s->closing) {
		char what[64];
		pg_metrics_add(s->relay->metrics, PG_M_WORKER_EXITS, 1);
		if (signal)
			snprintf(what, sizeof(what), "signal %d", signal);
		else
			snprintf(what, sizeof(what), "status %d", (int)status);
		pg_audit(s->relay, "worker-exit", PG_AUDIT_S("browser_host", s->label),
			 PG_AUDIT_S("exit", what),
			 PG_AUDIT_S("reason", *s->last_error ? s->last_error : NULL));
	}
	s->last_error[0] = '\0';
	close_channel(s);
	uv_close((uv_handle_t *)p, on_proc_closed);
}

/* The browser host's own [host] section, or [upstream]'s defaults. */
static const struct pg_upstream_login *login_for(const struct pg_relay *relay, const char *address)
{
	const struct pg_upstream_login *spawned = pg_broker_login(relay->broker, address);
	if (spawned)
		return spawned;
	for (int i = 0; i < relay->nhosts; i++)
		if (!strcmp(relay->hosts[i].address, address))
			return &relay->hosts[i];
	return &relay->upstream;
}

static void start_worker(struct pg_session *s)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		slog(PG_LOG_ERROR, s, "socketpair: %s", strerror(errno));
		uv_timer_start(&s->retry, on_retry, (uint64_t)s->relay->reconnect_max_ms, 0);
		return;
	}
	char *args[] = {s->relay->worker_path, NULL};
	uv_stdio_container_t stdio[4] = {
	    {.flags = UV_IGNORE},
	    {.flags = UV_IGNORE},
	/* The worker logs through the channel; its stderr is the relay's only where
	 * a sanitizer runtime may have a report to write there. */
#ifdef PG_SANITIZER_BUILD
	    {.flags = UV_INHERIT_FD, .data.fd = 2},
#else
	    {.flags = UV_IGNORE},
#endif
	    {.flags = UV_INHERIT_FD, .data.fd = sv[1]},
	};
	uv_process_options_t opts = {
	    .exit_cb = on_worker_exit,
	    .file = s->relay->worker_path,
	    .args = args,
	    .stdio_count = 4,
	    .stdio = stdio,
	};
	s->proc.data = s;
	int rc = uv_spawn(s->relay->loop, &s->proc, &opts);
	close(sv[1]);
	if (rc < 0) {
		slog(PG_LOG_ERROR, s, "cannot start %s: %s", s->relay->worker_path,
		     uv_strerror(rc));
		close(sv[0]);
		/* uv_spawn failures still need the handle closed. */
		uv_close((uv_handle_t *)&s->proc, on_proc_closed);
		s->proc_running = true;
		return;
	}
	s->proc_running = true;
	pg_metrics_add(s->relay->metrics, PG_M_WORKER_STARTS, 1);
	if (s->worker_starts)
		pg_metrics_add(s->relay->metrics, PG_M_UPSTREAM_RECONNECTS, 1);
	s->worker_starts++;
	s->started_ms = s->heard_ms = pg_now_ms();
	s->ping_seq = 0;
	s->up_in = s->up_out = 0;
	s->stalled = false;
	s->exited = false;
	s->log_budget = WORKER_LOG_PER_SEC;
	s->chan = sv[0];
	fcntl(s->chan, F_SETFL, fcntl(s->chan, F_GETFL) | O_NONBLOCK);
	uv_poll_init(s->relay->loop, &s->poll, s->chan);
	s->poll.data = s;
	s->poll_open = true;
	s->poll_ev = UV_READABLE;
	uv_poll_start(&s->poll, UV_READABLE, on_chan);

	struct pg_chan_msg m = {.type = PG_CHAN_START};
	snprintf(m.u.start.host, sizeof(m.u.start.host), "%s", s->host);
	m.u.start.port = (uint16_t)s->port;
	const struct pg_upstream_login *l = login_for(s->relay, s->label);
	snprintf(m.u.start.password, sizeof(m.u.start.password), "%s", l->password);
	m.u.start.tls = (uint8_t)l->tls;
	snprintf(m.u.start.ca_file, sizeof(m.u.start.ca_file), "%s", l->ca_file);
	snprintf(m.u.start.pin_sha256, sizeof(m.u.start.pin_sha256), "%s", l->pin);
	m.u.start.debug = pg_log_enabled(PG_LOG_DEBUG) != 0;
	const struct pg_worker_limits *wl = &s->relay->worker;
	m.u.start.max_width = (uint16_t)wl->max_width;
	m.u.start.max_height = (uint16_t)wl->max_height;
	m.u.start.update_timeout_ms = (uint32_t)wl->update_timeout_ms;
	m.u.start.uid = wl->uid;
	m.u.start.gid = wl->gid;
	m.u.start.memory_mib = (uint32_t)wl->memory_mib;
	m.u.start.cpu_seconds = (uint32_t)wl->cpu_seconds;
	m.u.start.encoding = wl->encoding;
	if (pg_chan_send(s->chan, &m, -1) < 0)
		worker_misbehaved(s, "cannot send start");
	explicit_bzero(&m, sizeof(m));
	pg_debug("session %s: started upstream worker pid %d", s->label, s->proc.pid);
}

/* Before the handshake the worker sits in blocking name lookup and connect (each
 * bounded by its own timeout) and cannot answer: allow for that. */
#define STALL_GRACE_CONNECTING_MS 30000

/* Each second (the relay's guard tick): a worker must answer a ping within
 * [upstream] stall_timeout. One that does not is stuck, decoding or looping, on
 * what the browser host sent; it is killed, and the session reconnects. */
void pg_session_tick(struct pg_session *s)
{
	if (!s->closing)
		pg_record_check(s);
	s->fps = (double)(s->frames - s->frames_at_tick);
	s->frames_at_tick = s->frames;
	if (s->log_dropped)
		slog(PG_LOG_WARN, s, "upstream worker: %u log lines dropped (over %d a second)",
		     s->log_dropped, WORKER_LOG_PER_SEC);
	s->log_dropped = 0;
	s->log_budget = WORKER_LOG_PER_SEC;
	if (s->closing || !s->proc_running || s->chan < 0 || s->stalled ||
	    uv_is_closing((uv_handle_t *)&s->proc))
		return;
	uint64_t now = pg_now_ms();
	uint64_t limit = (uint64_t)s->relay->worker.stall_timeout_ms;
	if (!s->connected)
		limit += STALL_GRACE_CONNECTING_MS;
	if (now - s->heard_ms > limit) {
		s->stalled = true;
		slog(PG_LOG_ERROR, s,
		     "upstream worker (pid %d) made no progress for %llu s; killing it "
		     "([upstream] stall_timeout)",
		     s->proc.pid, (unsigned long long)(now - s->heard_ms) / 1000);
		snprintf(s->last_error, sizeof(s->last_error),
			 "no progress for %llu s (stall_timeout)",
			 (unsigned long long)(now - s->heard_ms) / 1000);
		pg_audit(s->relay, "worker-stalled", PG_AUDIT_S("browser_host", s->label),
			 PG_AUDIT_U("silent_ms", now - s->heard_ms));
		uv_process_kill(&s->proc, SIGKILL);
		return;
	}
	if (s->size_out && now - s->size_sent_ms > SIZE_TIMEOUT_MS) {
		slog(PG_LOG_INFO, s, "browser host did not answer SetDesktopSize within %d s",
		     SIZE_TIMEOUT_MS / 1000);
		s->size_out = false;
		if (!s->size_want)
			size_answer(s, 1);
		size_next(s);
	}
	if (s->ping_seq)
		return; /* one at a time: a stuck worker's queue stays one ping long */
	static uint32_t seq;
	if (++seq == 0)
		seq = 1;
	struct pg_chan_msg m = {.type = PG_CHAN_PING, .u.ping.seq = seq};
	if (pg_chan_send(s->chan, &m, -1) == 0)
		s->ping_seq = seq;
}

static void on_linger(uv_timer_t *t)
{
	struct pg_session *s = t->data;
	if (!s->nviewers)
		pg_session_del(s);
}

static struct pg_session *session_new(struct pg_relay *relay, const char *address)
{
	const char *why;
	struct pg_session *s = calloc(1, sizeof(*s));
	struct pg_session **list =
	    realloc(relay->sessions, sizeof(*list) * (size_t)(relay->nsessions + 1));
	if (list)
		relay->sessions = list;
	if (!s || !list ||
	    pg_config_parse_hostport(address, s->host, sizeof(s->host), &s->port, &why) < 0) {
		free(s);
		return NULL;
	}
	relay->sessions[relay->nsessions++] = s;
	snprintf(s->label, sizeof(s->label), "%s", address);
	s->relay = relay;
	s->chan = -1;
	s->backoff_ms = FIRST_RETRY_MS;
	s->created_ms = pg_now_ms();
	s->started_unix = (int64_t)time(NULL);
	uint64_t rnd;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
	snprintf(s->id, sizeof(s->id), "%016llx", (unsigned long long)rnd);
	slog(PG_LOG_INFO, s, "session %s starts", s->id);
	uv_timer_init(relay->loop, &s->retry);
	uv_timer_init(relay->loop, &s->linger);
	uv_timer_init(relay->loop, &s->size_timer);
	s->retry.data = s->linger.data = s->size_timer.data = s;
	s->retry_open = s->linger_open = s->size_timer_open = true;
	pg_audit(relay, "session-start", PG_AUDIT_S("browser_host", s->label),
		 PG_AUDIT_S("session", s->id));
	return s;
}

struct pg_session *pg_session_get(struct pg_relay *relay, const char *address)
{
	if (relay->stopping || !address || !*address)
		return NULL;
	for (int i = 0; i < relay->nsessions; i++)
		if (!strcmp(relay->sessions[i]->label, address))
			return relay->sessions[i];
	return session_new(relay, address);
}

const char *pg_session_label(const struct pg_session *s)
{
	return s->label;
}

void pg_session_info(const struct pg_session *s, struct pg_session_info *out)
{
	*out = (struct pg_session_info){
	    .id = s->id,
	    .browser_host = s->label,
	    .frames = s->frames,
	    .fps = s->fps,
	    .started_unix = s->started_unix,
	    .connected = s->connected,
	    .nviewers = s->nviewers,
	};
	for (int i = 0; i < s->nviewers; i++) {
		struct pg_viewer_info vi;
		pg_viewer_info(s->viewers[i], &vi);
		out->queued_bytes += vi.queued;
	}
}

struct pg_session *pg_session_find(struct pg_relay *relay, const char *id)
{
	for (int i = 0; i < relay->nsessions; i++)
		if (!strcmp(relay->sessions[i]->id, id))
			return relay->sessions[i];
	return NULL;
}

void pg_session_end(struct pg_session *s, const char *reason)
{
	while (s->nviewers && !s->closing)
		pg_viewer_close(s->viewers[0], reason);
	pg_session_del(s);
}

int pg_session_viewers(const struct pg_session *s, struct pg_viewer ***out)
{
	*out = s->viewers;
	return s->nviewers;
}

static void on_retry_closed(uv_handle_t *h)
{
	struct pg_session *s = h->data;
	s->retry_open = false;
	maybe_free(s);
}

static void on_linger_closed(uv_handle_t *h)
{
	struct pg_session *s = h->data;
	s->linger_open = false;
	maybe_free(s);
}

static void on_size_timer_closed(uv_handle_t *h)
{
	struct pg_session *s = h->data;
	s->size_timer_open = false;
	maybe_free(s);
}

void pg_session_del(struct pg_session *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	struct pg_relay *relay = s->relay;
	for (int i = 0; i < relay->nsessions; i++) {
		if (relay->sessions[i] == s) {
			relay->sessions[i] = relay->sessions[--relay->nsessions];
			break;
		}
	}
	slog(PG_LOG_INFO, s, "session %s ends (%llu updates from the browser host in %llu s)",
	     s->id, (unsigned long long)s->frames,
	     (unsigned long long)(pg_now_ms() - s->created_ms) / 1000);
	pg_audit(relay, "session-end", PG_AUDIT_S("browser_host", s->label),
		 PG_AUDIT_S("session", s->id),
		 PG_AUDIT_U("duration_ms", pg_now_ms() - s->created_ms),
		 PG_AUDIT_U("frames", s->frames), PG_AUDIT_U("worker_starts", s->worker_starts));
	pg_record_session_end(s, relay->stopping ? "relay shutting down" : "session ended");
	while (s->nviewers)
		pg_viewer_close(s->viewers[0],
				relay->stopping ? "relay shutting down" : "session ended");
	if (s->proc_running && !uv_is_closing((uv_handle_t *)&s->proc))
		uv_process_kill(&s->proc, SIGTERM);
	close_channel(s);
	uv_close((uv_handle_t *)&s->retry, on_retry_closed);
	uv_close((uv_handle_t *)&s->linger, on_linger_closed);
	uv_close((uv_handle_t *)&s->size_timer, on_size_timer_closed);
	pg_broker_session_end(relay->broker, s->label);
}

void pg_session_attach(struct pg_session *s, struct pg_viewer *v)
{
	if (s->nviewers == s->cap) {
		int cap = s->cap ? s->cap * 2 : 8;
		struct pg_viewer **p = realloc(s->viewers, sizeof(*p) * (size_t)cap);
		if (!p) {
			pg_viewer_close(v, "out of memory");
			return;
		}
		s->viewers = p;
		s->cap = cap;
	}
	s->viewers[s->nviewers++] = v;
	uv_timer_stop(&s->linger);
	pg_record_check(s);
	/* The browser host is reached when the first viewer arrives, and the session
	 * then stays connected while viewers come and go (see relay->linger_ms). */
	if (!s->proc_running && !uv_is_active((uv_handle_t *)&s->retry))
		start_worker(s);
	else if (s->connected)
		pg_viewer_session_ready(v);
}

void pg_session_detach(struct pg_session *s, struct pg_viewer *v)
{
	for (int i = 0; i < s->nviewers; i++) {
		if (s->viewers[i] == v) {
			s->viewers[i] = s->viewers[--s->nviewers];
			if (!s->closing)
				pg_record_check(s);
			if (s->size_viewer == v) {
				/* Its answer and its pending size are nobody's now. */
				s->size_viewer = NULL;
				s->size_want = false;
			}
			if (!s->nviewers && !s->closing)
				uv_timer_start(&s->linger, on_linger, (uint64_t)s->relay->linger_ms,
					       0);
			return;
		}
	}
}

void pg_session_linger_if_unused(struct pg_session *s)
{
	if (!s->nviewers && !s->closing && !uv_is_active((uv_handle_t *)&s->linger))
		uv_timer_start(&s->linger, on_linger, (uint64_t)s->relay->linger_ms, 0);
}

const struct pg_fb *pg_session_fb(const struct pg_session *s)
{
	return &s->fb;
}

uint64_t pg_session_version(const struct pg_session *s)
{
	return s->version;
}

struct pg_share **pg_session_share(struct pg_session *s)
{
	return &s->share;
}

struct pg_recorder **pg_session_recorder(struct pg_session *s)
{
	return &s->rec;
}

const char *pg_session_name(const struct pg_session *s)
{
	return s->name;
}

const struct pg_cursor_shape *pg_session_cursor(const struct pg_session *s)
{
	return &s->cursor;
}

/* Queue a small message behind others waiting (see outq); false when full. */
static bool queue_out(struct pg_session *s, const struct pg_chan_msg *m)
{
	if (!s->outq && !(s->outq = calloc(OUTQ_MAX, sizeof(*s->outq))))
		return false;
	if (s->outq_len) {
		struct pg_chan_msg *last = &s->outq[(s->outq_head + s->outq_len - 1) % OUTQ_MAX];
		if (m->type == PG_CHAN_POINTER && last->type == PG_CHAN_POINTER &&
		    last->u.pointer.mask == m->u.pointer.mask) {
			last->u.pointer = m->u.pointer; /* a move: the newest position will do */
			return true;
		}
	}
	if (s->outq_len == OUTQ_MAX)
		return false;
	s->outq[(s->outq_head + s->outq_len++) % OUTQ_MAX] = *m;
	poll_events(s);
	return true;
}

static void send_input(struct pg_session *s, struct pg_chan_msg *m)
{
	int rc = -ENOTCONN;
	if (s->connected && s->chan >= 0)
		rc = s->outq_len ? -EAGAIN : pg_chan_send(s->chan, m, -1);
	if (rc == -EAGAIN && queue_out(s, m))
		return;
	/* Input meant for a host that is away is dropped, never queued: replaying
	 * keystrokes into a page that reloaded would type into the wrong place. */
	if (rc < 0) {
		if (s->dropped_input++ % 1000 == 0)
			slog(PG_LOG_INFO, s, "%s; dropping input (%llu so far)",
			     rc == -EAGAIN ? "upstream worker not keeping up"
					   : "browser host not connected",
			     (unsigned long long)s->dropped_input);
	}
}

bool pg_session_host_ext_clipboard(const struct pg_session *s)
{
	return s->ext_clip;
}

int pg_session_clip_to_host(struct pg_session *s, int format, const uint8_t *bytes, size_t len)
{
	static struct pg_chan_msg m; /* large: keep it off the stack */
	if (!s->connected || s->chan < 0 || len > PG_CHAN_CLIP_MAX)
		return -1;
	m.type = PG_CHAN_CLIP_TO_HOST;
	m.u.clip.format = (uint8_t)format;
	m.u.clip.len = (uint32_t)len;
	memcpy(m.u.clip.bytes, bytes, len);
	int rc = pg_chan_send(s->chan, &m, -1);
	explicit_bzero(m.u.clip.bytes, len);
	return rc < 0 ? -1 : 0;
}

void pg_session_key(struct pg_session *s, bool down, uint32_t keysym, uint32_t keycode)
{
	struct pg_chan_msg m = {.type = PG_CHAN_KEY};
	m.u.key.keysym = keysym;
	m.u.key.keycode = keycode;
	m.u.key.down = down;
	send_input(s, &m);
}

void pg_session_pointer(struct pg_session *s, uint8_t mask, int x, int y)
{
	struct pg_chan_msg m = {.type = PG_CHAN_POINTER};
	if (!s->fb.px)
		return;
	m.u.pointer.mask = mask;
	m.u.pointer.x = (uint16_t)(x < s->fb.w ? x : s->fb.w - 1);
	m.u.pointer.y = (uint16_t)(y < s->fb.h ? y : s->fb.h - 1);
	send_input(s, &m);
}
