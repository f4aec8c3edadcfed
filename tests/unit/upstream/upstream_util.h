/* Helpers for the upstream tests: a libvncserver host in a thread of the test
 * process, a peer that drives pg_rfb_client over loopback TCP, test images, and
 * buffers that end at a PROT_NONE page. */
#ifndef PG_TEST_UPSTREAM_UTIL_H
#define PG_TEST_UPSTREAM_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
