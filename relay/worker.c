/* pixelgate-worker: the only process that reads bytes from a browser host.
 *
 * The main process starts one per session with the channel on fd 3 and sends
 * PG_CHAN_START. The worker connects, speaks RFB as a client (codec/rfb_client),
 * asks for the next update as soon as one begins (so the host encodes it while this
 * one is decoded), decodes into a private framebuffer, and publishes finished
 * updates into a sealed shared-memory framebuffer: after PG_CHAN_UPDATE_END it
 * leaves that memory alone until the main process answers PG_CHAN_UPDATE_ACK, so
 * the main process never reads a half-written picture. Updates that finish meanwhile are merged and
 * published at the next ACK: the main process gets the newest pixels, not a queue.
 * A publish sends only what differs from shared memory (codec/diff): at most one
 * copy (the host's CopyRect, or a scroll found in a repaint), then the changed tiles.
 *
 * With [upstream] tls = x509 the worker insists on VeNCrypt: it loads the CA file
 * and pin before connecting, negotiates an X509 subtype in clear, runs TLS with the
 * host's certificate checked, and from then on every byte to and from the host
 * goes through TLS, RFB (and VNC authentication for X509Vnc) inside it.
 *
 * Clipboard: the worker carries text only, in both directions, and judges none of
 * it (the main process applies the policy). It speaks the Extended Clipboard when
 * the host sends its caps and legacy cut text otherwise; see the clip_* functions.
 *
 * Keyboard: a key that comes with a keycode (a viewer's QEMU extended key event)
 * goes on as one once the host acknowledged the extension, else as its keysym. With
 * PG_CHAN_START's debug flag the worker says which on stderr, never which keys. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/tls.h"
#include "auth/vencrypt.h"
#include "auth/vncauth.h"
#include "codec/buf.h"
#include "codec/clipboard.h"
#include "codec/diff.h"
#include "codec/err.h"
#include "codec/fb.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "relay/channel.h"
#include "relay/sandbox.h"

#define CHAN_FD	   3
#define MAX_DAMAGE 32
#define READ_CHUNK (256u << 10)
/* The largest unit the client waits for whole is one compressed rectangle (Raw is
 * decoded a row at a time): cap the input buffer a little above that. */
#define WORKER_MAX_INPUT     ((size_t)PG_RFB_MAX_ZLIB_IN + (1u << 20))
#define CONNECT_TIMEOUT_MS   10000
#define HANDSHAKE_TIMEOUT_MS 15000
/* Ciphertext read per call while TLS runs: with what a previous read left
 * undecrypted (under one record) it stays below PG_TLS_MAX_CIPHER_IN. */
#define TLS_READ_CHUNK (64u << 10)
/* Bytes queued for the socket; TLS keeps what does not fit. */
#define WIRE_MAX (1u << 20)

enum phase {
	PH_CLEAR,    /* RFB in clear (tls = none, or before VeNCrypt is chosen) */
	PH_VENCRYPT, /* VeNCrypt negotiation, still in clear */
	PH_TLS,	     /* TLS: every byte either way goes through w->tls */
};

struct worker {
	int up;			/* socket to the browser host */
	uint64_t up_in, up_out; /* bytes through it, reported in each PONG */
	struct pg_rfb_client *rfb;
	enum phase phase;
	uint8_t tls_mode;	    /* enum pg_chan_tls */
	struct pg_tls_ctx *tls_ctx; /* CA and pin, loaded before connecting */
	struct pg_tls *tls;
	struct pg_vencrypt_client vc;
	char host[256];	    /* the name or address the certificate must carry */
	bool vencrypt_only; /* tls = none, and the host offers VeNCrypt alone */
	struct pg_buf wire; /* to the socket: clear before TLS, ciphertext after */
	struct pg_buf in;   /* from the host: clear before TLS, plaintext after */
	struct pg_fb fb;    /* private: the decoders write here */
	uint32_t *shm;	    /* published pixels, read by the main process */
	size_t shm_bytes;
	struct pg_rect damage[MAX_DAMAGE];
	int ndamage;
	/* The largest CopyRect of the updates not yet published (the others are plain
	 * damage), and the change detector's scratch, sized with w->fb. */
	bool has_copy;
	int ncopies;	 /* the host's CopyRects since the last publish */
	bool copy_first; /* the first of them came before any damage */
	struct pg_rect copy_dst;
	int copy_x, copy_y;
	struct pg_diff *diff;
	bool shm_fresh;	 /* shm is new memory: nothing in it to compare with */
	int dirty;	 /* an update finished and is not yet published */
	int waiting_ack; /* the main process is reading shm */
	char password[PG_CHAN_PASSWORD];
	int failed;

	/* The host's Extended Clipboard, from its caps: 0 actions until they come. */
	bool xclip;		 /* the host sent caps with the text format */
	uint32_t xclip_actions;	 /* the actions it accepts (PG_XCLIP_REQUEST, ...) */
	uint32_t xclip_text_max; /* its limit for unsolicited text, bytes with the NUL */
	/* The newest text the main process let through, kept for the host's request
	 * as a whole provide message (empty: none), built once: a host that asks
	 * again and again costs a copy, not a deflate. */
	struct pg_buf provide;
	size_t provide_text;		       /* its text on the wire (CRLF, no NUL), bytes */
	uint8_t clip_in[PG_CHAN_CLIP_MAX + 1]; /* text of a host provide, and its NUL */

	/* Keyboard: viewers' keycodes go as QEMU extended key events once the host
	 * acknowledged them. The flags only keep the debug lines to one each. */
	bool debug; /* the main process logs at debug level (PG_CHAN_START) */
	bool qemu_key_logged, keycode_logged;

	/* Caps from PG_CHAN_START: what the host may make us hold, and for how long. */
	int max_width, max_height;
	int update_timeout_ms;
	bool in_update; /* rectangles came since the last update's end */

	/* Floods a host can make cost the main process: each is passed on at most
	 * once per interval, the newest winning (see flush_due). */
	bool resize_pending;	    /* w->fb has a new size the main process lacks */
	bool publish_held;	    /* an update waits for RESIZE_INTERVAL_MS */
	int64_t resize_ms, bell_ms; /* when the last resize, bell went out */
	bool clip_waiting;	    /* clip_pending holds the host's newest clipboard */
	int64_t clip_ms;	    /* when the last clipboard message went out */
	int64_t busy_since;	    /* ms: since an update or a message began, unfinished; 0 */

	/* SetDesktopSize: requests sent to the host and not yet answered, and a
	 * successful answer that waits for its new size to reach the main process
	 * (PG_CHAN_SIZE_RESULT follows that PG_CHAN_RESIZE). */
	int size_asked;
	bool size_result_waiting;
};

static void fail(const char *fmt, ...)
{
	struct pg_chan_msg m = {.type = PG_CHAN_ERROR};
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf((char *)m.u.text.bytes, sizeof(m.u.text.bytes), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	m.u.text.len = (uint16_t)(n < PG_CHAN_TEXT ? n : PG_CHAN_TEXT - 1);
	pg_chan_send(CHAN_FD, &m, -1);
	exit(1);
}

/* A line for the relay's log, through the channel: the worker's stderr is not the
 * relay's, so a compromised worker cannot write the relay's log itself. */
static void vlog_line(uint8_t level, const char *fmt, va_list ap)
{
	struct pg_chan_msg m = {.type = PG_CHAN_LOG};
	int n = vsnprintf((char *)m.u.log.bytes, sizeof(m.u.log.bytes), fmt, ap);
	if (n < 0)
		n = 0;
	m.u.log.level = level;
	m.u.log.len = (uint16_t)(n < PG_CHAN_TEXT ? n : PG_CHAN_TEXT - 1);
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

/* A debug line, when the relay logs at debug level. Never with key values: the log
 * must not become a record of what was typed. */
static void debug(const struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void debug(const struct worker *w, const char *fmt, ...)
{
	va_list ap;
	if (!w->debug)
		return;
	va_start(ap, fmt);
	vlog_line(PG_CHAN_LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog_line(PG_CHAN_LOG_WARN, fmt, ap);
	va_end(ap);
}

static void send_simple(uint32_t type)
{
	struct pg_chan_msg m = {.type = type};
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static void add_damage(struct worker *w, struct pg_rect r)
{
	for (int i = 0; i < w->ndamage; i++) {
		struct pg_rect u = pg_rect_union(w->damage[i], r);
		/* Merge when the union wastes little: keeps the list short without
		 * turning two far-apart carets into a full-screen update. */
		if ((long)u.w * u.h <=
		    (long)w->damage[i].w * w->damage[i].h + (long)r.w * r.h + (long)64 * 64) {
			w->damage[i] = u;
			return;
		}
	}
	if (w->ndamage == MAX_DAMAGE) {
		struct pg_rect all = r;
		for (int i = 0; i < w->ndamage; i++)
			all = pg_rect_union(all, w->damage[i]);
		w->damage[0] = all;
		w->ndamage = 1;
		return;
	}
	w->damage[w->ndamage++] = r;
}

#define RESIZE_INTERVAL_MS 250
#define BELL_INTERVAL_MS   250
#define CLIP_INTERVAL_MS   500

/* The encoding asked of the host first ([upstream] encoding), then the rest as
 * pg_rfb_client asks by default; Tight is that default. */
static void ask_encoding(struct pg_rfb_client *rfb, int32_t first)
{
	static const int32_t rest[] = {
	    PG_ENC_TIGHT,	  PG_ENC_ZRLE,	       PG_ENC_COPYRECT,
	    PG_ENC_RAW,		  PG_ENC_DESKTOP_SIZE, PG_ENC_EXT_DESKTOP_SIZE,
	    PG_ENC_LAST_RECT,	  PG_ENC_CURSOR,       PG_ENC_COMPRESS_LEVEL_0 + 1,
	    PG_ENC_EXT_CLIPBOARD, PG_ENC_QEMU_EXT_KEY,
	};
	int32_t list[sizeof(rest) / sizeof(rest[0]) + 1];
	size_t n = 0;
	if (first != PG_ENC_ZRLE && first != PG_ENC_RAW)
		return;
	list[n++] = first;
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		if (rest[i] != first)
			list[n++] = rest[i];
	pg_rfb_client_set_encodings(rfb, list, n);
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void send_size_result(uint8_t status)
{
	struct pg_chan_msg m = {.type = PG_CHAN_SIZE_RESULT};
	m.u.size_result.status = status;
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

/* New shared memory of w->fb's size for the main process, sealed so it can neither
 * shrink under the main process's mapping nor be resized again. */
static void send_shm(struct worker *w)
{
	size_t bytes;
	if (!pg_mul_size((size_t)w->fb.w * (size_t)w->fb.h, 4, &bytes))
		fail("shared framebuffer of %dx%d: too large", w->fb.w, w->fb.h);
	int fd = memfd_create("pixelgate-fb", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		fail("shared framebuffer of %dx%d: %s", w->fb.w, w->fb.h, strerror(errno));
	void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		fail("mapping the shared framebuffer: %s", strerror(errno));
	if (w->shm)
		munmap(w->shm, w->shm_bytes);
	w->shm = map;
	w->shm_bytes = bytes;
	struct pg_chan_msg m = {.type = PG_CHAN_RESIZE};
	m.u.size = (struct pg_chan_size){(uint16_t)w->fb.w, (uint16_t)w->fb.h};
	int rc = pg_chan_send(CHAN_FD, &m, fd);
	close(fd);
	if (rc < 0)
		exit(1);
	w->resize_pending = false;
	w->resize_ms = now_ms();
	w->shm_fresh = true;
	if (w->size_result_waiting) {
		w->size_result_waiting = false;
		send_size_result(0);
	}
}

static void send_rect(uint32_t type, const struct pg_rect *r)
{
	struct pg_chan_msg m = {.type = type};
	m.u.rect =
	    (struct pg_chan_rect){(uint16_t)r->x, (uint16_t)r->y, (uint16_t)r->w, (uint16_t)r->h};
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

/* Scroll detection is worth its few milliseconds on rectangles this large only. */
#define SCROLL_MIN_W 256
#define SCROLL_MIN_H 256

/* The one move this update starts with: the host's CopyRect when it sent one, else a
 * scroll found across the damage or in its largest rectangle. The host's CopyRect
 * moves the host's previous picture, which is the published one only if nothing came
 * before it since the publish. Several host updates since then (the main process was
 * busy) may each carry a CopyRect, or a repaint may precede one; no CopyRect alone is
 * then the net move (three 4-pixel scrolls are one of 12), so the scroll is looked
 * for, and the largest CopyRect is the fallback. Only a prediction: whatever it gets
 * wrong, the tile comparison after it repairs. */
static bool host_copy(struct worker *w, struct pg_rect *dst, int *src_x, int *src_y)
{
	if (!w->has_copy)
		return false;
	*dst = w->copy_dst;
	*src_x = w->copy_x;
	*src_y = w->copy_y;
	return true;
}

static bool choose_copy(struct worker *w, const struct pg_fb *shm, struct pg_rect *dst, int *src_x,
			int *src_y)
{
	if (w->ncopies == 1 && w->copy_first)
		return host_copy(w, dst, src_x, src_y);
	/* A browser's scroll reaches the worker as many rectangles (Xtigervnc sends
	 * what changed: lines of text, blocks, the scroll bar), so look across all of
	 * them first, then in the largest alone. */
	const struct pg_rect *big = NULL;
	struct pg_rect all = w->ndamage ? w->damage[0] : (struct pg_rect){0, 0, 0, 0};
	for (int i = 0; i < w->ndamage; i++) {
		const struct pg_rect *r = &w->damage[i];
		all = pg_rect_union(all, *r);
		if (r->w >= SCROLL_MIN_W && r->h >= SCROLL_MIN_H &&
		    (!big || (long)r->w * r->h > (long)big->w * big->h))
			big = r;
	}
	bool found = false;
	if (all.w >= SCROLL_MIN_W && all.h >= SCROLL_MIN_H)
		found = pg_diff_scroll(w->diff, shm, &w->fb, &all, dst, src_y);
	if (!found && big && (big->w != all.w || big->h != all.h))
		found = pg_diff_scroll(w->diff, shm, &w->fb, big, dst, src_y);
	*src_x = dst->x;
	return found || host_copy(w, dst, src_x, src_y);
}

/* shm holds the picture the main process has; make it w->fb's, sending only what
 * differs: one copy (applied to shm first), then the tiles still unequal. Outside the
 * damage (and the copy's destination) shm and w->fb are equal already. */
static void publish_changes(struct worker *w, struct pg_fb *shm)
{
	struct pg_rect all = {0, 0, w->fb.w, w->fb.h}, out[MAX_DAMAGE], dst;
	int src_x, src_y;
	pg_diff_clear(w->diff);
	if (choose_copy(w, shm, &dst, &src_x, &src_y) && pg_diff_copy(shm, &dst, src_x, src_y)) {
		struct pg_chan_msg m = {.type = PG_CHAN_COPY};
		m.u.copy = (struct pg_chan_copy){(uint16_t)dst.x, (uint16_t)dst.y, (uint16_t)dst.w,
						 (uint16_t)dst.h, (uint16_t)src_x, (uint16_t)src_y};
		if (pg_chan_send(CHAN_FD, &m, -1) < 0)
			exit(1);
		pg_diff_mark(w->diff, shm, &w->fb, &dst);
	}
	for (int i = 0; i < w->ndamage; i++)
		pg_diff_mark(w->diff, shm, &w->fb, &w->damage[i]);
	int n = pg_diff_rects(w->diff, &all, out, MAX_DAMAGE);
	for (int i = 0; i < n; i++) {
		if (!pg_diff_trim(shm, &w->fb, &out[i]))
			continue;
		pg_fb_copy_rect(shm, &w->fb, &out[i]);
		send_rect(PG_CHAN_DAMAGE, &out[i]);
	}
}

static void publish(struct worker *w)
{
	/* One new size per ACK at most, and at most 4 a second: a host that resizes
	 * with every update costs the main process a few mappings, not thousands. */
	if (w->resize_pending) {
		if (w->resize_ms && now_ms() - w->resize_ms < RESIZE_INTERVAL_MS) {
			w->publish_held = true;
			return;
		}
		send_shm(w);
	}
	w->publish_held = false;
	struct pg_fb shm = {.px = w->shm, .w = w->fb.w, .h = w->fb.h, .stride = w->fb.w};
	if (w->shm_fresh) {
		/* New memory (zeros), and the main process's picture may be anything:
		 * all of it is damage, nothing to compare or move. */
		struct pg_rect all = {0, 0, w->fb.w, w->fb.h};
		pg_fb_copy_rect(&shm, &w->fb, &all);
		send_rect(PG_CHAN_DAMAGE, &all);
		w->shm_fresh = false;
	} else {
		publish_changes(w, &shm);
	}
	w->ndamage = 0;
	w->has_copy = false;
	w->ncopies = 0;
	w->dirty = 0;
	w->waiting_ack = 1;
	send_simple(PG_CHAN_UPDATE_END);
}

static int on_resize(void *ud, int width, int height, struct pg_fb *out)
{
	struct worker *w = ud;
	size_t bytes;
	if (!pg_mul_size((size_t)width * (size_t)height, 4, &bytes))
		return PG_ELIMIT;
	struct pg_fb fb;
	if (pg_fb_alloc(&fb, width, height) < 0)
		return PG_ENOMEM;
	struct pg_diff *diff = pg_diff_new(width, height, 0);
	if (!diff) {
		pg_fb_free(&fb);
		return PG_ENOMEM;
	}
	pg_fb_free(&w->fb);
	w->fb = fb;
	pg_diff_del(w->diff);
	w->diff = diff;
	/* The main process gets memory of the new size with the next published
	 * update (publish); until then it keeps reading the old, untouched. Earlier
	 * damage is moot: the whole picture is new. */
	w->resize_pending = true;
	w->ndamage = 0;
	w->has_copy = false;
	w->ncopies = 0;
	add_damage(w, (struct pg_rect){0, 0, width, height});
	w->dirty = 1;
	*out = fb;
	return 0;
}

static void on_size_result(void *ud, unsigned status)
{
	struct worker *w = ud;
	/* Only answers to our own requests count: a host's unasked "reply" is none. */
	if (!w->size_asked)
		return;
	w->size_asked--;
	if (status > 3) {
		warn("browser host answered SetDesktopSize with status %u (not in RFB's 0..3); "
		     "taken as prohibited",
		     status);
		status = 1;
	}
	debug(w, "browser host answered SetDesktopSize: status %u", status);
	/* Done: the main process hears so once the new size reached it. */
	if (status == 0 && w->resize_pending) {
		w->size_result_waiting = true;
		return;
	}
	send_size_result((uint8_t)status);
}

/* A viewer's SetDesktopSize, as the main process passed it on. */
static void set_size(struct worker *w, const struct pg_chan_size *sz)
{
	int rc = pg_rfb_client_set_desktop_size(w->rfb, sz->w, sz->h);
	if (rc == 0) {
		w->size_asked++;
		debug(w, "asking the browser host for %ux%u", sz->w, sz->h);
		return;
	}
	/* Refused here: not ready or no ExtendedDesktopSize (1), a size out of the
	 * limits (3). */
	debug(w, "SetDesktopSize %ux%u not sent: %s", sz->w, sz->h,
	      rc == PG_ELIMIT			  ? "out of range"
	      : pg_rfb_client_ext_desktop(w->rfb) ? "not connected"
						  : "the browser host does not take it");
	send_size_result(rc == PG_ELIMIT ? 3 : 1);
}

static void on_damage(void *ud, const struct pg_rect *r)
{
	struct worker *w = ud;
	w->in_update = true;
	add_damage(w, *r);
}

static void on_copy(void *ud, const struct pg_rect *dst, int src_x, int src_y)
{
	struct worker *w = ud;
	w->in_update = true;
	if (!w->ncopies)
		w->copy_first = !w->ndamage;
	add_damage(w, *dst);
	w->ncopies++;
	if (!w->has_copy || (long)dst->w * dst->h > (long)w->copy_dst.w * w->copy_dst.h) {
		w->has_copy = true;
		w->copy_dst = *dst;
		w->copy_x = src_x;
		w->copy_y = src_y;
	}
}

static void on_update_end(void *ud)
{
	struct worker *w = ud;
	w->in_update = false;
	/* Progress. Pipelined, the next update may already be arriving: the input
	 * need never be empty between updates, so check_progress times from here. */
	w->busy_since = 0;
	w->dirty = 1;
	if (!w->waiting_ack)
		publish(w);
}

static void on_cursor(void *ud, int hot_x, int hot_y, int cw, int ch, const uint32_t *px,
		      const uint8_t *mask)
{
	static struct pg_chan_msg m; /* large: keep it off the stack */
	memset(&m, 0, sizeof(m));
	m.type = PG_CHAN_CURSOR;
	int w = cw < PG_CHAN_CURSOR_SIDE ? cw : PG_CHAN_CURSOR_SIDE;
	int h = ch < PG_CHAN_CURSOR_SIDE ? ch : PG_CHAN_CURSOR_SIDE;
	int in_stride = (cw + 7) / 8, out_stride = (w + 7) / 8;
	for (int y = 0; y < h; y++) {
		memcpy(m.u.cursor.px + y * w, px + (size_t)y * cw, (size_t)w * 4);
		memcpy(m.u.cursor.mask + y * out_stride, mask + (size_t)y * in_stride,
		       (size_t)out_stride);
	}
	m.u.cursor.w = (uint16_t)w;
	m.u.cursor.h = (uint16_t)h;
	m.u.cursor.hot_x = (uint16_t)(hot_x < w ? hot_x : 0);
	m.u.cursor.hot_y = (uint16_t)(hot_y < h ? hot_y : 0);
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static void on_bell(void *ud)
{
	struct worker *w = ud;
	int64_t now = now_ms();
	if (w->bell_ms && now - w->bell_ms < BELL_INTERVAL_MS)
		return; /* a flood of bells is one bell */
	w->bell_ms = now;
	send_simple(PG_CHAN_BELL);
}

/* The host's clipboard reaches the main process at most once per CLIP_INTERVAL_MS:
 * each message there costs a policy decision and an audit record, so a host that
 * floods cut texts must not turn into a flood of records. The newest text and the
 * newest refusal wait in these (large: static), and go out together. */
static struct pg_chan_msg clip_text, clip_drop;
static bool clip_text_waiting, clip_drop_waiting;

static void clip_flush(struct worker *w)
{
	if (clip_drop_waiting && pg_chan_send(CHAN_FD, &clip_drop, -1) < 0)
		exit(1);
	if (clip_text_waiting && pg_chan_send(CHAN_FD, &clip_text, -1) < 0)
		exit(1);
	clip_drop_waiting = clip_text_waiting = w->clip_waiting = false;
	w->clip_ms = now_ms();
}

static void clip_queue(struct worker *w)
{
	w->clip_waiting = true;
	if (!w->clip_ms || now_ms() - w->clip_ms >= CLIP_INTERVAL_MS)
		clip_flush(w);
}

static void clip_dropped(struct worker *w, uint8_t why, size_t bytes, uint32_t formats)
{
	struct pg_chan_msg *m = &clip_drop;
	memset(m, 0, sizeof(*m));
	m->type = PG_CHAN_CLIP_DROPPED;
	m->u.clip_dropped.why = why;
	m->u.clip_dropped.bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
	m->u.clip_dropped.formats = formats;
	clip_drop_waiting = true;
	clip_queue(w);
}

/* Text for the main process to judge: LF line ends, no NUL added. */
static void clip_from_host(struct worker *w, uint8_t format, const uint8_t *text, size_t len,
			   bool crlf)
{
	struct pg_chan_msg *m = &clip_text;
	memset(m, 0, offsetof(struct pg_chan_msg, u.clip.bytes));
	m->type = PG_CHAN_CLIP_FROM_HOST;
	m->u.clip.format = format;
	if (crlf) {
		m->u.clip.len = (uint32_t)pg_xclip_crlf_to_lf(text, len, m->u.clip.bytes);
	} else {
		memcpy(m->u.clip.bytes, text, len);
		m->u.clip.len = (uint32_t)len;
	}
	clip_text_waiting = true;
	clip_queue(w);
}

/* Legacy ServerCutText: Latin-1 as the host sent it; the main process converts it. */
static void on_cut_text(void *ud, const uint8_t *text, size_t len)
{
	if (len > PG_CHAN_CLIP_MAX)
		return clip_dropped(ud, PG_CHAN_DROP_TOO_LARGE, len, PG_XCLIP_TEXT);
	clip_from_host(ud, PG_CHAN_CLIP_LATIN1, text, len, false);
}

/* Extended Clipboard messages to the host go straight into the RFB client's
 * output. The builders leave it untouched on error: when the host has stopped
 * reading and the output is full, the message is lost, as input would be. */
static void xclip_notify(struct worker *w)
{
	if (w->xclip_actions & PG_XCLIP_NOTIFY)
		pg_xclip_build_notify(pg_rfb_client_output(w->rfb), false, w->provide.len > 0);
}

static void xclip_provide(struct worker *w)
{
	pg_buf_append(pg_rfb_client_output(w->rfb), w->provide.data, w->provide.len);
}

static void xclip_caps(struct worker *w, const struct pg_xclip_msg *x)
{
	w->xclip_actions = x->actions;
	w->xclip_text_max = x->text_max;
	/* A host without the text format has nothing to say to us: legacy. Caps come
	 * again with every SetEncodings; we answer the first. */
	if (w->xclip || !(x->formats & PG_XCLIP_TEXT))
		return;
	w->xclip = true;
	pg_xclip_build_caps(pg_rfb_client_output(w->rfb), false, PG_XCLIP_ACTIONS,
			    PG_CHAN_CLIP_MAX);
	struct pg_chan_msg m = {.type = PG_CHAN_CLIP_CAPS};
	m.u.clip_caps.extended = 1;
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

/* The host's Extended Clipboard. Nothing here is fatal: a message that does not
 * parse is reported and skipped, since the RFB stream around it is intact. */
static void on_ext_clipboard(void *ud, const uint8_t *payload, size_t len)
{
	struct worker *w = ud;
	struct pg_xclip_msg x;
	const char *why;
	/* Text over PG_CHAN_CLIP_MAX is refused from its declared size, uninflated. */
	int rc = pg_xclip_parse(payload, len, PG_CHAN_CLIP_MAX, &x, w->clip_in, sizeof(w->clip_in),
				&why);
	/* RTF, HTML, DIB and Files are never requested nor forwarded: only noted when
	 * offered as data (caps merely say what the host could send). */
	bool offers = x.action == PG_XCLIP_A_NOTIFY || x.action == PG_XCLIP_A_PROVIDE;
	if (offers && x.dropped_formats)
		clip_dropped(w, PG_CHAN_DROP_FORMATS, 0, x.dropped_formats);
	if (rc == PG_ELIMIT)
		return clip_dropped(w, PG_CHAN_DROP_TOO_LARGE,
				    x.text_len > UINT32_MAX ? UINT32_MAX : (uint32_t)x.text_len,
				    PG_XCLIP_TEXT);
	if (rc < 0)
		return clip_dropped(w, PG_CHAN_DROP_MALFORMED, len, x.formats);

	switch (x.action) {
	case PG_XCLIP_A_CAPS:
		return xclip_caps(w, &x);
	case PG_XCLIP_A_NOTIFY:
		if ((x.formats & PG_XCLIP_TEXT) && (w->xclip_actions & PG_XCLIP_REQUEST))
			pg_xclip_build_request(pg_rfb_client_output(w->rfb), false);
		return;
	case PG_XCLIP_A_PROVIDE:
		if (x.formats & PG_XCLIP_TEXT)
			clip_from_host(w, PG_CHAN_CLIP_UTF8, w->clip_in, x.text_len, true);
		return;
	case PG_XCLIP_A_REQUEST:
		/* Only formats we never have: no answer (as TigerVNC). Text we do not
		 * hold: a notify that says so. */
		if (!(x.formats & PG_XCLIP_TEXT))
			return;
		if (w->provide.len)
			return xclip_provide(w);
		return xclip_notify(w);
	case PG_XCLIP_A_PEEK:
		return xclip_notify(w);
	}
}

/* Text the main process let through to the host. It must keep the channel's
 * contract (a known format, at most PG_CHAN_CLIP_MAX bytes, no NUL in UTF-8): the
 * main process is the trusted side, so a message that breaks it ends the worker. */
static void clip_to_host(struct worker *w, const struct pg_chan_clip *c)
{
	if (c->len > PG_CHAN_CLIP_MAX ||
	    (c->format != PG_CHAN_CLIP_UTF8 && c->format != PG_CHAN_CLIP_LATIN1) ||
	    (c->format == PG_CHAN_CLIP_UTF8 && memchr(c->bytes, 0, c->len)))
		fail("main process sent clipboard text out of bounds (format %u, %u bytes)",
		     c->format, c->len);
	/* Before the handshake is done there is no host to give it to. */
	if (!pg_rfb_client_ready(w->rfb))
		return;
	if (c->format == PG_CHAN_CLIP_LATIN1) {
		pg_rfb_client_cut_text(w->rfb, c->bytes, c->len);
		return;
	}
	/* The main process sends UTF-8 only after PG_CHAN_CLIP_CAPS. */
	if (!w->xclip)
		return;
	static uint8_t crlf[2 * PG_CHAN_CLIP_MAX];
	w->provide_text = pg_xclip_lf_to_crlf(c->bytes, c->len, crlf);
	pg_buf_reset(&w->provide);
	if (pg_xclip_build_provide(&w->provide, false, crlf, w->provide_text) < 0)
		return; /* out of memory: the host is told nothing */
	/* Announce it; the host asks for it when it wants it (TigerVNC's server takes
	 * clipboard data only from the client that announced it last). A host that
	 * takes no notify (libvncserver) takes an unsolicited provide up to its
	 * limit, which counts the NUL. */
	if (w->xclip_actions & PG_XCLIP_NOTIFY)
		xclip_notify(w);
	else if ((w->xclip_actions & PG_XCLIP_PROVIDE) && w->provide_text < w->xclip_text_max)
		xclip_provide(w);
}

static void on_name(void *ud, const uint8_t *name, size_t len)
{
	struct pg_chan_msg m = {.type = PG_CHAN_NAME};
	m.u.text.len = (uint16_t)(len < PG_CHAN_TEXT ? len : PG_CHAN_TEXT);
	memcpy(m.u.text.bytes, name, m.u.text.len);
	if (pg_chan_send(CHAN_FD, &m, -1) < 0)
		exit(1);
}

static int on_vnc_auth(void *ud, const uint8_t challenge[16], uint8_t response[16])
{
	struct worker *w = ud;
	if (!w->password[0])
		return -1;
	return pg_vncauth_response(w->password, challenge, response);
}

static void describe_types(char *dst, size_t size, const uint8_t *types, size_t n)
{
	dst[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *name = types[i] == PG_RFB_SEC_NONE	     ? " (None)"
				   : types[i] == PG_RFB_SEC_VNC	     ? " (VNC)"
				   : types[i] == PG_RFB_SEC_VENCRYPT ? " (VeNCrypt)"
								     : "";
		size_t o = strlen(dst);
		snprintf(dst + o, size - o, "%s%u%s", i ? ", " : "", types[i], name);
	}
}

/* tls = x509 must never settle for less than VeNCrypt: taking None or VNC from a
 * host that also offers them would be a silent downgrade. */
static int on_security(void *ud, const uint8_t *types, size_t n)
{
	struct worker *w = ud;
	char offered[128];
	bool vencrypt = memchr(types, PG_RFB_SEC_VENCRYPT, n) != NULL;
	describe_types(offered, sizeof(offered), types, n);
	if (w->tls_mode == PG_CHAN_TLS_X509) {
		if (!vencrypt)
			fail("browser host does not offer VeNCrypt; [upstream] tls = x509 requires "
			     "it (the host offers %s)",
			     offered);
		return PG_RFB_SEC_VENCRYPT;
	}
	/* The client's own refusal says what was offered; the hint says what to change. */
	w->vencrypt_only =
	    vencrypt && !memchr(types, PG_RFB_SEC_NONE, n) && !memchr(types, PG_RFB_SEC_VNC, n);
	return 0;
}

/* Move what the RFB client queued to the wire, through TLS once it runs. */
static void rfb_to_wire(struct worker *w)
{
	struct pg_buf *out = pg_rfb_client_output(w->rfb);
	if (!out->len)
		return;
	if (w->phase != PH_TLS) {
		if (pg_buf_append(&w->wire, out->data, out->len) == 0)
			pg_buf_consume(out, out->len);
		return;
	}
	if (!pg_tls_handshake_done(w->tls))
		return;
	int rc = pg_tls_write(w->tls, out->data, out->len);
	if (rc == 0)
		pg_buf_consume(out, out->len);
	else if (rc != PG_ELIMIT) /* over the cap: the socket is slow, retry later */
		fail("TLS with browser host: %s", pg_tls_error(w->tls));
}

static void tls_failed(struct worker *w)
{
	const char *why = "";
	/* Best effort: let the host see OpenSSL's alert before we go. */
	if (pg_tls_take_output(w->tls, &w->wire) > 0 &&
	    write(w->up, w->wire.data, w->wire.len) < 0) {
		/* the reason below matters more */
	}
	switch (pg_tls_cert_refused(w->tls, &why)) {
	case PG_TLS_CERT_PIN:
		fail("browser host certificate does not match pin_sha256");
		break;
	case PG_TLS_CERT_UNTRUSTED:
		fail("browser host certificate not trusted by ca_file (%s)", why);
		break;
	default:
		fail("TLS with browser host: %s", pg_tls_error(w->tls));
	}
}

static void vencrypt_failed(struct worker *w, enum pg_vencrypt_phase at, const uint8_t *p, size_t n)
{
	char offered[160] = "";
	switch (at) {
	case PG_VENCRYPT_VERSION:
		fail("browser host speaks VeNCrypt %u.%u; pixelgate needs 0.2 or later", p[0],
		     p[1]);
		break;
	case PG_VENCRYPT_SUBTYPE:
		if (n >= 2 && p[0] == 0)
			for (size_t i = 0; i < p[1] && 2 + 4 * i + 4 <= n; i++) {
				size_t o = strlen(offered);
				uint32_t t = pg_rd32(p + 2 + 4 * i);
				snprintf(offered + o, sizeof(offered) - o, "%s%u (%s)",
					 i ? ", " : "", t, pg_vencrypt_name(t));
			}
		fail("browser host offers no VeNCrypt subtype with a certificate (X509None, "
		     "X509Vnc); it offers %s",
		     offered[0] ? offered : "none");
		break;
	default:
		fail("browser host refused VeNCrypt subtype %s", pg_vencrypt_name(w->vc.chosen));
	}
}

static void start_vencrypt(struct worker *w)
{
	/* Without a password, X509Vnc would fail anyway; with one, it is the host's
	 * stated wish when it offers it. */
	static const uint32_t with_pw[] = {PG_VENCRYPT_X509VNC, PG_VENCRYPT_X509NONE};
	static const uint32_t without_pw[] = {PG_VENCRYPT_X509NONE, PG_VENCRYPT_X509VNC};
	if (pg_rfb_client_external(w->rfb) != PG_RFB_SEC_VENCRYPT || !w->tls_ctx)
		fail("internal error: security type %d chosen without TLS",
		     pg_rfb_client_external(w->rfb));
	pg_vencrypt_client_init(&w->vc, w->password[0] ? with_pw : without_pw, 2);
	rfb_to_wire(w); /* the choice of type 19 goes out in clear */
	w->phase = PH_VENCRYPT;
}

static void start_tls(struct worker *w)
{
	w->tls = pg_tls_new(w->tls_ctx, w->host);
	if (!w->tls)
		fail("cannot start TLS toward %s (out of memory, or not a usable host name)",
		     w->host);
	w->phase = PH_TLS;
	if (pg_tls_handshake(w->tls) < 0) /* produces the ClientHello */
		tls_failed(w);
}

/* Parse what w->in holds: clear RFB, the VeNCrypt negotiation, or RFB that TLS
 * decrypted. */
static void process_in(struct worker *w)
{
	size_t off = 0;
	while (off < w->in.len) {
		const uint8_t *p = w->in.data + off;
		size_t n = w->in.len - off;
		ssize_t used;
		if (w->phase == PH_VENCRYPT) {
			enum pg_vencrypt_phase at = w->vc.phase;
			used = pg_vencrypt_client_parse(&w->vc, p, n, &w->wire);
			if (used < 0)
				vencrypt_failed(w, at, p, n);
			off += (size_t)used;
			if (w->vc.phase == PG_VENCRYPT_TLS) {
				/* The client speaks first in TLS: nothing may follow. */
				if (off < w->in.len)
					fail("browser host sent %zu bytes before the TLS handshake",
					     w->in.len - off);
				start_tls(w);
				break;
			}
		} else {
			used = pg_rfb_client_feed(w->rfb, p, n);
			if (used < 0 && w->vencrypt_only)
				fail("browser host: %s; it requires VeNCrypt (TLS): set [upstream] "
				     "tls = x509 with ca_file and/or pin_sha256",
				     pg_rfb_client_error(w->rfb));
			if (used < 0)
				fail("browser host: %s", pg_rfb_client_error(w->rfb));
			off += (size_t)used;
			if (w->phase == PH_CLEAR && pg_rfb_client_external(w->rfb)) {
				start_vencrypt(w);
				continue;
			}
		}
		if (used == 0)
			break;
	}
	pg_buf_consume(&w->in, off);
}

/* Ciphertext arrived: finish the handshake, then decrypt and parse all there is. */
static void tls_input(struct worker *w, const uint8_t *p, size_t n)
{
	if (pg_tls_feed(w->tls, p, n) < 0)
		tls_failed(w);
	if (!pg_tls_handshake_done(w->tls))
		return;
	if (pg_rfb_client_external(w->rfb))
		pg_rfb_client_external_done(w->rfb, w->vc.chosen == PG_VENCRYPT_X509VNC);
	for (;;) {
		ssize_t got = pg_tls_read(w->tls, &w->in);
		if (got < 0)
			tls_failed(w);
		if (got == 0) {
			if (pg_tls_peer_closed(w->tls))
				fail("browser host closed the connection");
			if (w->in.len == w->in.max)
				fail("browser host sent more than %zu bytes pixelgate could not "
				     "parse yet",
				     (size_t)WORKER_MAX_INPUT);
			return;
		}
		process_in(w);
	}
}

static int connect_host(const char *host, int port)
{
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc)
		fail("cannot resolve browser host %s: %s", host, gai_strerror(rc));
	int err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0) {
			err = errno;
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			err = errno;
			close(s);
			continue;
		}
		struct pollfd p = {.fd = s, .events = POLLOUT};
		int so = 0;
		socklen_t sl = sizeof(so);
		int pr = poll(&p, 1, CONNECT_TIMEOUT_MS);
		if (pr == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0) {
			int one = 1;
			/* Without NODELAY every key press waits on Nagle and delayed ACK. */
			setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(res);
			return s;
		}
		err = pr == 0 ? ETIMEDOUT : so ? so : errno;
		close(s);
	}
	freeaddrinfo(res);
	fail("cannot connect to browser host %s:%d: %s", host, port, strerror(err));
	return -1;
}

/* A key with the viewer's keycode: a QEMU extended key event when the host took
 * them, else its keysym (pg_rfb_client_key_code decides). */
static void key_code(struct worker *w, const struct pg_chan_key *k)
{
	pg_rfb_client_key_code(w->rfb, k->down, k->keysym, k->keycode);
	if (w->keycode_logged || !pg_rfb_client_ready(w->rfb))
		return;
	w->keycode_logged = true;
	if (pg_rfb_client_qemu_key(w->rfb) && k->keycode <= PG_RFB_MAX_KEYCODE)
		debug(w, "keys go to the browser host as QEMU extended key events (with "
			 "keycodes)");
	else
		debug(w, "keys come with keycodes, but the browser host did not acknowledge "
			 "QEMU extended key events: sending keysyms only");
}

static void handle_channel(struct worker *w)
{
	struct pg_chan_msg m;
	int fd;
	for (;;) {
		int rc = pg_chan_recv(CHAN_FD, &m, &fd);
		if (rc == -EAGAIN)
			return;
		if (rc <= 0)
			exit(rc == 0 ? 0 : 1); /* the main process went away */
		switch (m.type) {
		case PG_CHAN_KEY:
			if (m.u.key.keycode)
				key_code(w, &m.u.key);
			else
				pg_rfb_client_key(w->rfb, m.u.key.down, m.u.key.keysym);
			break;
		case PG_CHAN_POINTER:
			pg_rfb_client_pointer(w->rfb, m.u.pointer.mask, m.u.pointer.x,
					      m.u.pointer.y);
			break;
		case PG_CHAN_REFRESH:
			pg_rfb_client_request(w->rfb, 0);
			break;
		case PG_CHAN_UPDATE_ACK:
			w->waiting_ack = 0;
			if (w->dirty)
				publish(w);
			break;
		case PG_CHAN_CLIP_TO_HOST:
			clip_to_host(w, &m.u.clip);
			break;
		case PG_CHAN_SET_SIZE:
			set_size(w, &m.u.size);
			break;
		case PG_CHAN_PING:
			/* Answered from this loop only: a worker stuck decoding stays silent,
			 * and the main process kills it. */
			m.type = PG_CHAN_PONG;
			m.u.ping.up_in = w->up_in;
			m.u.ping.up_out = w->up_out;
			if (pg_chan_send(CHAN_FD, &m, -1) < 0)
				exit(1);
			break;
		default:
			break;
		}
	}
}

static void read_upstream(struct worker *w)
{
	if (w->phase == PH_TLS) {
		static uint8_t cipher[TLS_READ_CHUNK];
		ssize_t n = read(w->up, cipher, sizeof(cipher));
		if (n == 0)
			fail("browser host closed the connection");
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail("reading from browser host: %s", strerror(errno));
		}
		w->up_in += (uint64_t)n;
		tls_input(w, cipher, (size_t)n);
		return;
	}
	if (pg_buf_reserve(&w->in, READ_CHUNK) < 0)
		fail("browser host sent more than %zu bytes pixelgate could not parse yet",
		     (size_t)WORKER_MAX_INPUT);
	ssize_t n = read(w->up, w->in.data + w->in.len, READ_CHUNK);
	if (n == 0)
		fail("browser host closed the connection");
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fail("reading from browser host: %s", strerror(errno));
	}
	w->in.len += (size_t)n;
	w->up_in += (uint64_t)n;
	process_in(w);
}

static void write_upstream(struct worker *w)
{
	rfb_to_wire(w);
	if (w->tls && pg_tls_take_output(w->tls, &w->wire) < 0)
		fail("out of memory for TLS output");
	if (!w->wire.len)
		return;
	ssize_t n = write(w->up, w->wire.data, w->wire.len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fail("writing to browser host: %s", strerror(errno));
	}
	w->up_out += (uint64_t)n;
	pg_buf_consume(&w->wire, (size_t)n);
}

/* Anything still to send: queued on the wire, inside TLS, or from the RFB client. */
static bool want_write(struct worker *w)
{
	if (w->wire.len || (w->tls && pg_tls_output_pending(w->tls)))
		return true;
	/* During the TLS handshake RFB output waits; it must not make poll spin. */
	return pg_rfb_client_output(w->rfb)->len && (!w->tls || pg_tls_handshake_done(w->tls));
}

static void load_tls(struct worker *w, struct pg_chan_start *s)
{
	char err[300];
	w->tls_mode = s->tls;
	if (s->tls == PG_CHAN_TLS_NONE)
		return;
	if (s->tls != PG_CHAN_TLS_X509)
		fail("unknown upstream TLS mode %u", s->tls);
	s->ca_file[sizeof(s->ca_file) - 1] = '\0';
	s->pin_sha256[sizeof(s->pin_sha256) - 1] = '\0';
	struct pg_tls_client_opts o = {
	    .ca_file = s->ca_file[0] ? s->ca_file : NULL,
	    .pin_sha256 = s->pin_sha256[0] ? s->pin_sha256 : NULL,
	};
	/* Now, before any host byte: a later sandbox can then forbid open(). */
	w->tls_ctx = pg_tls_ctx_new_client(&o, err, sizeof(err));
	if (!w->tls_ctx)
		fail("[upstream] tls = x509: %s", err);
}

/* Connected, nothing read yet: from here on every byte is the host's. */
static void lock_down(struct worker *w, const struct pg_chan_start *s)
{
	int keep[] = {CHAN_FD, w->up};
	struct pg_sandbox_opts o = {
	    .uid = s->uid,
	    .gid = s->gid,
	    .address_space = (uint64_t)s->memory_mib << 20,
	    /* The shared framebuffer is a memfd: its size counts as a file's. */
	    .file_size = (uint64_t)w->max_width * (uint64_t)w->max_height * 4 + 4096,
	    .cpu_seconds = s->cpu_seconds,
	    .keep_fds = keep,
	    .nkeep = 2,
	};
	struct pg_sandbox_report rep;
	char err[256];
	bool root = geteuid() == 0;
	if (pg_sandbox_enter(&o, &rep, err, sizeof(err)) < 0)
		fail("sandbox: %s", err);
	if (!rep.namespaces && !pg_sandbox_sanitized())
		warn("sandbox without namespaces: %s", rep.note);
	debug(w, "sandbox: namespaces %s, %s, seccomp %s%s%s", rep.namespaces ? "yes" : "no",
	      !rep.user ? "the relay's user"
	      : root	? "unprivileged user"
			: "user namespace",
	      rep.seccomp ? "on" : "off", *rep.note ? "; " : "", rep.note);
}

/* A host that begins an update or a message and never finishes it would hold the
 * session's picture still forever: give it update_timeout_ms, then go. Returns the
 * poll timeout this leaves (-1: none). */
static int check_progress(struct worker *w, int timeout)
{
	bool busy = w->in_update || w->in.len > 0;
	if (!busy) {
		w->busy_since = 0;
		return timeout;
	}
	int64_t now = now_ms();
	if (!w->busy_since)
		w->busy_since = now;
	int64_t left = w->busy_since + w->update_timeout_ms - now;
	if (left <= 0)
		fail("browser host left an update unfinished for %d s ([upstream] "
		     "update_timeout)",
		     w->update_timeout_ms / 1000);
	return timeout < 0 || left < timeout ? (int)left : timeout;
}

/* What was held back (a flood's newest clipboard, an update waiting for its new
 * size to be allowed) goes out once its interval has passed. Returns the poll
 * timeout that leaves until the next is due. */
static int flush_due(struct worker *w, int timeout)
{
	int64_t now = now_ms();
	int64_t next = -1;
	if (w->clip_waiting) {
		int64_t due = w->clip_ms + CLIP_INTERVAL_MS;
		if (now >= due)
			clip_flush(w);
		else
			next = due;
	}
	if (w->publish_held && !w->waiting_ack) {
		int64_t due = w->resize_ms + RESIZE_INTERVAL_MS;
		if (now >= due)
			publish(w);
		else if (next < 0 || due < next)
			next = due;
	}
	if (next < 0)
		return timeout;
	int left = (int)(next - now);
	return timeout < 0 || left < timeout ? left : timeout;
}

int main(int argc, char **argv)
{
	static struct worker w;
	struct pg_chan_msg m;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	/* A worker outliving its relay would hold a browser host for nobody. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	struct pollfd p = {.fd = CHAN_FD, .events = POLLIN};
	if (poll(&p, 1, 10000) != 1 || pg_chan_recv(CHAN_FD, &m, &fd) != 1 ||
	    m.type != PG_CHAN_START) {
		fprintf(stderr, "pixelgate-worker: started without a channel on fd 3; this program "
				"is run by pixelgate, not by hand\n");
		return 2;
	}
	m.u.start.host[sizeof(m.u.start.host) - 1] = '\0';
	m.u.start.password[sizeof(m.u.start.password) - 1] = '\0';
	memcpy(w.password, m.u.start.password, sizeof(w.password));
	explicit_bzero(&m.u.start.password, sizeof(m.u.start.password));

	pg_buf_init(&w.in, WORKER_MAX_INPUT);
	pg_buf_init(&w.wire, WIRE_MAX);
	pg_buf_init(&w.provide, PG_RFB_MAX_CUT_TEXT + 8);
	memcpy(w.host, m.u.start.host, sizeof(w.host));
	w.debug = m.u.start.debug != 0;
	w.max_width = m.u.start.max_width ? m.u.start.max_width : 3840;
	w.max_height = m.u.start.max_height ? m.u.start.max_height : 2160;
	w.update_timeout_ms =
	    m.u.start.update_timeout_ms ? (int)m.u.start.update_timeout_ms : 30000;
	load_tls(&w, &m.u.start);
	w.up = connect_host(m.u.start.host, m.u.start.port);
	lock_down(&w, &m.u.start);
	struct pg_rfb_client_cb cb = {
	    .ud = &w,
	    .resize = on_resize,
	    .damage = on_damage,
	    .copy = on_copy,
	    .update_end = on_update_end,
	    .cursor = on_cursor,
	    .bell = on_bell,
	    .cut_text = on_cut_text,
	    .ext_clipboard = on_ext_clipboard,
	    .name = on_name,
	    .vnc_auth = on_vnc_auth,
	    .security = on_security,
	    .size_result = on_size_result,
	};
	w.rfb = pg_rfb_client_new(&cb);
	if (!w.rfb)
		fail("out of memory");
	struct pg_rfb_client_limits lim = {.max_width = w.max_width, .max_height = w.max_height};
	pg_rfb_client_set_limits(w.rfb, &lim);
	ask_encoding(w.rfb, m.u.start.encoding);
	/* The next request goes when an update begins, so the host encodes the next
	 * update while the worker decodes this one. Not continuous updates: TigerVNC's
	 * server paces them with fences, and counts the worker's decoding time as
	 * network delay (docs/performance.md). */
	pg_rfb_client_set_pipelined(w.rfb, 1);

	int announced = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd fds[2] = {
		    {.fd = CHAN_FD, .events = POLLIN},
		    {.fd = w.up, .events = POLLIN},
		};
		int timeout = -1;
		if (want_write(&w))
			fds[1].events |= POLLOUT;
		if (!announced) {
			/* A host that accepts but never finishes the handshake would hold
			 * the session forever: give up, and the session retries. */
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long spent = (now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000;
			if (spent >= HANDSHAKE_TIMEOUT_MS)
				fail("browser host did not finish the RFB handshake within %d s",
				     HANDSHAKE_TIMEOUT_MS / 1000);
			timeout = (int)(HANDSHAKE_TIMEOUT_MS - spent);
		}
		timeout = check_progress(&w, timeout);
		timeout = flush_due(&w, timeout);
		if (poll(fds, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		if (fds[0].revents)
			handle_channel(&w);
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
			read_upstream(&w);
		if (!w.qemu_key_logged && pg_rfb_client_qemu_key(w.rfb)) {
			w.qemu_key_logged = true;
			debug(&w, "browser host acknowledged QEMU extended key events");
		}
		if (!announced && pg_rfb_client_ready(w.rfb)) {
			explicit_bzero(w.password, sizeof(w.password));
			if (w.resize_pending) /* ServerInit's size, before anything else */
				send_shm(&w);
			send_simple(PG_CHAN_CONNECTED);
			announced = 1;
		}
		write_upstream(&w);
	}
}
