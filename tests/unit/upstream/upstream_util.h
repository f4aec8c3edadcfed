/* Helpers for the upstream tests: a libvncserver host in a thread of the test
 * process, a peer that drives pg_rfb_client over loopback TCP, a pg_rfb_client fed
 * by hand, a real pixelgate-worker played on both its edges, test images, and
 * buffers that end at a PROT_NONE page. */
#ifndef PG_TEST_UPSTREAM_UTIL_H
#define PG_TEST_UPSTREAM_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rfb/rfb.h>

#include "codec/buf.h"
#include "codec/fb.h"
#include "codec/rfb_client.h"

#define UT_TIMEOUT_MS 15000

enum ut_image { UT_GRADIENT, UT_TEXT, UT_NOISE, UT_FEW, UT_PHOTO, UT_COMPOSITE };

/* Fill px (w x h canonical pixels) with a test image. */
void ut_image(uint32_t *px, int w, int h, enum ut_image kind, unsigned seed);
/* libvncserver's default 32-bit format keeps red in the low byte: swap R and B. */
uint32_t ut_swap_rb(uint32_t v);

struct ut_host {
	rfbScreenInfoPtr screen;
	rfbClientPtr cl;
	uint32_t *px;	   /* server format, w x h */
	uint32_t *retired; /* the framebuffer before the last resize, freed at stop */
	int w, h;
	char *passwords[2];
	pthread_t thread;
	bool running;
	atomic_int stop;
	pthread_mutex_t mu;
	void (*cmd)(struct ut_host *h, void *arg);
	void *cmd_arg;
	atomic_int cmd_done;
};

struct ut_peer {
	int fd;
	struct pg_rfb_client *c;
	struct pg_buf in;
	struct pg_buf rec; /* every byte received, when recording */
	bool recording;
	struct pg_fb fb;
	const char *password;
	int resizes, damages, copies, updates, bells, cursors, names;
	int cursor_w, cursor_h, cursor_hx, cursor_hy;
	uint32_t cursor_px[64 * 64];
	uint8_t cursor_mask[8 * 64];
	char cut[4096];
	size_t cut_len;
	uint8_t xclip[4096]; /* the last Extended Clipboard payload (truncated) */
	size_t xclip_len;    /* its whole length */
	int xclips;
	char name[256];
	int err;
	char diff[96]; /* why ut_fb_equal last said no */
};

/* A host of w x h showing image kind; password NULL for security None. */
void ut_host_start(struct ut_host *h, int w, int h_, enum ut_image kind, const char *password);
void ut_host_stop(struct ut_host *h);
/* Connect p to h over 127.0.0.1 with an ephemeral port; encodings NULL keeps the
 * client's default list. Starts the host's thread. */
void ut_connect(struct ut_host *h, struct ut_peer *p, const int32_t *enc, size_t n_enc);
void ut_peer_close(struct ut_peer *p);
/* Run fn in the host's thread while p keeps reading; bounded by UT_TIMEOUT_MS. */
void ut_host_run(struct ut_host *h, struct ut_peer *p, void (*fn)(struct ut_host *, void *),
		 void *arg);
/* One poll round of at most ms; <0 on EOF or a client error (p->err). */
int ut_pump(struct ut_peer *p, int ms);
/* Pump until pred(p, ctx) or the timeout; returns pred's last value. */
bool ut_wait(struct ut_peer *p, bool (*pred)(struct ut_peer *, void *), void *ctx);
/* True when p's framebuffer equals h's. */
bool ut_fb_equal(struct ut_peer *p, void *host);
/* Mean squared error per channel of p's framebuffer against h's. PSNR >= 35 dB
 * means MSE <= 255^2 / 10^3.5 = UT_MSE_35DB. */
double ut_mse(const struct ut_peer *p, const struct ut_host *h);
#define UT_MSE_35DB 20.56
/* Rectangles of enc libvncserver has sent to its client. */
int ut_sent_count(struct ut_host *h, struct ut_peer *p, uint32_t enc);

/* n bytes whose last byte is followed by a PROT_NONE page; free with ut_guard_free. */
uint8_t *ut_guard_alloc(size_t n);
void ut_guard_free(uint8_t *p, size_t n);
/* Callbacks that record into a ut_peer (also for peers without sockets). */
void ut_peer_init(struct ut_peer *p);

/* ---- a pg_rfb_client fed by hand ---- */

/* Feed one more byte at a time, as a slow socket would: bytes consumed in all, or
 * the first error. */
ssize_t ut_trickle(struct pg_rfb_client *c, const void *buf, size_t n);
/* The next n bytes of c's output must be want; they are taken. */
void ut_take(struct pg_rfb_client *c, const void *want, size_t n);
/* c's output is empty. */
void ut_nothing_queued(struct pg_rfb_client *c);
/* The host's RFB 3.8 and its one security type, None: c's version and choice. */
void ut_client_security_none(struct pg_rfb_client *c);
/* SecurityResult OK, c's ClientInit (shared, nothing else queued), then ServerInit of
 * a 64x48 host called name: c is ready, its output untouched from SetPixelFormat on. */
void ut_client_init(struct pg_rfb_client *c, const char *name);

/* ---- a real pixelgate-worker, the test playing both its edges ---- */

#define UT_WORKER_MS 10000 /* the longest any wait on the worker may take */

struct pg_chan_msg;

struct ut_worker {
	pid_t pid;
	int chan;	/* the main process's end of the channel */
	int host;	/* the browser host's end of the worker's connection */
	int err;	/* the worker's stderr, when captured; else -1 */
	char log[8192]; /* PG_CHAN_LOG lines seen so far, each ending in a newline */
	size_t log_len;
	struct pg_buf in; /* bytes from the worker, as the host reads them */
	struct pg_chan_msg *m;
	int resizes;		/* PG_CHAN_RESIZE messages ut_worker_next passed over */
	int resize_w, resize_h; /* the last one's size */
};

/* PG_BIN_DIR/pixelgate-worker with the channel as its fd 3 (its stderr in w->err when
 * capture_stderr, else the test's), told to connect to a loopback host (debug lines
 * when debug) and taken through RFB 3.8, security None and the ServerInit of a 16x16
 * desktop: what it sends from SetPixelFormat on is for the test to read. */
void ut_worker_start(struct ut_worker *w, bool debug, bool capture_stderr);
/* Kill the worker if it still runs; close and free everything. */
void ut_worker_stop(struct ut_worker *w);
void ut_write_all(int fd, const void *buf, size_t len);
/* Read until the host's buffer w->in holds at least n bytes. */
void ut_worker_fill(struct ut_worker *w, size_t n);
/* The client message at the head of w->in, read whole: its length. SetPixelFormat,
 * SetEncodings, FramebufferUpdateRequest, KeyEvent, PointerEvent, ClientCutText
 * (legacy or extended, at most PG_RFB_MAX_CUT_TEXT), SetDesktopSize and QEMU
 * extended key events;
 * any other type fails the test. */
size_t ut_worker_msg(struct ut_worker *w);
/* The next channel message (in w->m) that is not about pixels, its type; each
 * UPDATE_END is acknowledged on the way. An ERROR is logged. */
uint32_t ut_worker_next(struct ut_worker *w);
/* Read channel messages until none comes for quiet_ms: the worker's log lines so far
 * (PG_CHAN_LOG, one per line), NUL-terminated. */
const char *ut_worker_log(struct ut_worker *w, int quiet_ms);

#endif
