/* The checking viewer: a libvncclient rfbClient pumped by its own thread, whose picture is
 * compared with the host's. */
#include "harness_util.h"

#include <rfb/rfbclient.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct it_viewer {
	pthread_mutex_t lock; /* client and everything below */
	rfbClient *client;
	char *encodings;
	struct it_tap *tap;
	pthread_t thread;
	volatile bool stop;
	bool running;
	bool connected;
	int updates, fb_allocs, bells, cuts;
	char *last_cut;
	size_t last_cut_len;
	int cursor_shapes, cursor_w, cursor_h, cursor_hx, cursor_hy;
	uint32_t cursor_px[IT_CURSOR_MAX * IT_CURSOR_MAX];
	uint8_t cursor_mask[IT_CURSOR_MAX * IT_CURSOR_MAX];
	rfbBool (*default_malloc_fb)(rfbClient *client);
	char msg[1024];
};

/* rfbClientSetClientData key: the address is what matters. */
static int viewer_tag;

static void quiet_log(const char *format, ...)
{
	va_list ap;

	if (!getenv("PG_IT_VERBOSE"))
		return;
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
}

static struct it_viewer *viewer_of(rfbClient *client)
{
	return rfbClientGetClientData(client, &viewer_tag);
}

/* Callbacks run in the pump thread inside HandleRFBServerMessage, with v->lock held. */
static rfbBool on_malloc_fb(rfbClient *client)
{
	struct it_viewer *v = viewer_of(client);

	v->fb_allocs++;
	return v->default_malloc_fb(client);
}

static void on_finished_update(rfbClient *client)
{
	viewer_of(client)->updates++;
}

static void on_cut_text(rfbClient *client, const char *text, int len)
{
	struct it_viewer *v = viewer_of(client);
	size_t n = len > 0 ? (size_t)len : 0;
	char *copy = malloc(n + 1);

	v->cuts++;
	if (!copy)
		return;
	memcpy(copy, text, n);
	copy[n] = 0;
	free(v->last_cut);
	v->last_cut = copy;
	v->last_cut_len = n;
}

static void on_bell(rfbClient *client)
{
	viewer_of(client)->bells++;
}

/* rcSource is in the viewer's pixel format, rcMask one byte per pixel. */
static void on_cursor_shape(rfbClient *client, int xhot, int yhot, int width, int height,
			    int bytes_per_pixel)
{
	struct it_viewer *v = viewer_of(client);
	const rfbPixelFormat *f = &client->format;
	const int max[3] = {f->redMax, f->greenMax, f->blueMax};
	const int shift[3] = {f->redShift, f->greenShift, f->blueShift};

	v->cursor_shapes++;
	v->cursor_w = width;
	v->cursor_h = height;
	v->cursor_hx = xhot;
	v->cursor_hy = yhot;
	if (width > IT_CURSOR_MAX || height > IT_CURSOR_MAX || !client->rcSource || !client->rcMask)
		return;
	for (int i = 0; i < width * height; i++) {
		const uint8_t *p = client->rcSource + (size_t)i * bytes_per_pixel;
		uint32_t px = 0, rgb = 0;

		for (int b = 0; b < bytes_per_pixel; b++)
			px |= (uint32_t)p[b] << (8 * b);
		for (int k = 0; k < 3; k++) {
			uint32_t c = (px >> shift[k]) & (uint32_t)max[k];

			if (max[k] != 255)
				c = (c * 255 + (uint32_t)max[k] / 2) / (uint32_t)max[k];
			rgb |= c << (16 - 8 * k);
		}
		v->cursor_px[i] = rgb;
		v->cursor_mask[i] = client->rcMask[i] ? 1 : 0;
	}
}

static void set_format(rfbClient *client, int bpp)
{
	rfbPixelFormat *f = &client->format;

	f->trueColour = 1;
	f->bigEndian = 0;
	if (bpp == 16) {
		f->bitsPerPixel = 16;
		f->depth = 16;
		f->redMax = 31;
		f->greenMax = 63;
		f->blueMax = 31;
		f->redShift = 11;
		f->greenShift = 5;
		f->blueShift = 0;
	} else if (bpp == 8) {
		/* BGR233: blue in the top two bits. */
		f->bitsPerPixel = 8;
		f->depth = 8;
		f->redMax = 7;
		f->greenMax = 7;
		f->blueMax = 3;
		f->redShift = 0;
		f->greenShift = 3;
		f->blueShift = 6;
	}
	/* 32 bpp: rfbGetClient(8, 3, 4) already gave RGB888 in a 32-bit word. */
}

static void *pump(void *arg)
{
	struct it_viewer *v = arg;
	rfbClient *client = v->client;

	while (!v->stop) {
		int n = WaitForMessage(client, 100000);
		rfbBool ok;

		if (n < 0)
			break;
		/* libvncclient buffers reads; a message may already sit in its buffer. */
		if (n == 0 && client->buffered == 0)
			continue;
		pthread_mutex_lock(&v->lock);
		ok = HandleRFBServerMessage(client);
		pthread_mutex_unlock(&v->lock);
		if (!ok)
			break;
	}
	pthread_mutex_lock(&v->lock);
	v->connected = false;
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

struct it_viewer *viewer_start(int port, const struct it_viewer_opts *opts)
{
	struct it_viewer *v = calloc(1, sizeof(*v));
	char *argv[] = {"pg-it-viewer", NULL};
	int argc = 1, bpp = opts->bpp ? opts->bpp : 32;
	rfbClient *client;

	if (!v)
		return NULL;
	/* A relay that closes on us must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	rfbClientLog = quiet_log;
	pthread_mutex_init(&v->lock, NULL);
	if (opts->record) {
		v->tap = tap_start(port);
		if (!v->tap)
			goto fail;
		port = tap_port(v->tap);
	}
	client = rfbGetClient(8, 3, 4);
	if (!client)
		goto fail;
	set_format(client, bpp);
	rfbClientSetClientData(client, &viewer_tag, v);
	v->default_malloc_fb = client->MallocFrameBuffer;
	client->MallocFrameBuffer = on_malloc_fb;
	client->FinishedFrameBufferUpdate = on_finished_update;
	client->GotXCutText = on_cut_text;
	client->Bell = on_bell;
	client->canHandleNewFBSize = TRUE;
	client->appData.useRemoteCursor = opts->cursor ? TRUE : FALSE;
	if (opts->cursor)
		client->GotCursorShape = on_cursor_shape;
	client->connectTimeout = 5;
	client->readTimeout = 10;
	v->encodings = strdup(opts->encodings ? opts->encodings : "raw");
	client->appData.encodingsString = v->encodings;
	client->appData.compressLevel = opts->compress;
	client->appData.enableJPEG = opts->jpeg;
	client->appData.qualityLevel = opts->jpeg ? opts->quality : -1;
	client->serverHost = strdup("127.0.0.1");
	client->serverPort = port;
	/* rfbInitClient frees the client itself when it fails. */
	if (!rfbInitClient(client, &argc, argv)) {
		fprintf(stderr, "viewer: cannot connect to 127.0.0.1:%d (%d bpp, %s)\n", port, bpp,
			v->encodings);
		goto fail;
	}
	v->client = client;
	v->connected = true;
	if (pthread_create(&v->thread, NULL, pump, v) != 0)
		goto fail;
	v->running = true;
	return v;
fail:
	viewer_stop(v);
	return NULL;
}

void viewer_stop(struct it_viewer *v)
{
	if (!v)
		return;
	v->stop = true;
	if (v->running)
		pthread_join(v->thread, NULL);
	if (v->client) {
		uint8_t *fb = v->client->frameBuffer;

		rfbClientCleanup(v->client);
		free(fb);
	}
	tap_stop(v->tap);
	pthread_mutex_destroy(&v->lock);
	free(v->last_cut);
	free(v->encodings);
	free(v);
}

static uint32_t viewer_pixel(const rfbClient *c, int x, int y)
{
	const uint8_t *p = c->frameBuffer;
	size_t i = (size_t)y * c->width + x;

	switch (c->format.bitsPerPixel) {
	case 8:
		return p[i];
	case 16:
		return p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
	default:
		return p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
		       (uint32_t)p[4 * i + 3] << 24;
	}
}

static int expand(uint32_t v, int max)
{
	return max == 255 ? (int)v : (int)((v * 255 + (uint32_t)max / 2) / (uint32_t)max);
}

/* Largest error a correct conversion to a channel of this precision can make, whether
 * the encoder truncates or rounds. */
static int step(int max)
{
	return max >= 255 ? 0 : (255 + max - 1) / max;
}

/* PSNR >= 35 dB is MSE <= 255^2 / 10^3.5. */
#define MSE_MAX 20.5626

/* One comparison, with v->lock held; true when the pictures match. */
static bool compare(struct it_viewer *v, const uint32_t *host_px, int hw, int hh, int tol)
{
	const rfbClient *c = v->client;
	const rfbPixelFormat *f = &c->format;
	const int max[3] = {f->redMax, f->greenMax, f->blueMax};
	const int shift[3] = {f->redShift, f->greenShift, f->blueShift};
	long bad = 0, first_x = -1, first_y = -1;
	uint32_t first_host = 0, first_view = 0;
	double sq = 0;

	if (!c->frameBuffer || c->width != hw || c->height != hh) {
		snprintf(v->msg, sizeof(v->msg), "viewer is %dx%d, host is %dx%d", c->width,
			 c->height, hw, hh);
		return false;
	}
	for (int y = 0; y < hh; y++) {
		for (int x = 0; x < hw; x++) {
			uint32_t px = viewer_pixel(c, x, y), want = host_px[(size_t)y * hw + x];
			uint32_t got = 0;
			bool pixel_bad = false;

			for (int k = 0; k < 3; k++) {
				int e = expand((px >> shift[k]) & (uint32_t)max[k], max[k]);
				int h = (int)(want >> (16 - 8 * k)) & 255;
				int err = abs(e - h) - step(max[k]);

				got |= (uint32_t)e << (16 - 8 * k);
				if (err < 0)
					err = 0;
				if (tol == IT_PSNR)
					sq += (double)err * err;
				else if (err > tol)
					pixel_bad = true;
			}
			if (pixel_bad && bad++ == 0) {
				first_x = x;
				first_y = y;
				first_host = want;
				first_view = got;
			}
		}
	}
	if (tol == IT_PSNR) {
		double mse = sq / ((double)hw * hh * 3);

		if (mse <= MSE_MAX)
			return true;
		snprintf(
		    v->msg, sizeof(v->msg),
		    "%d bpp viewer: MSE %.2f beyond quantisation exceeds %.2f (PSNR < %.0f dB)",
		    f->bitsPerPixel, mse, MSE_MAX, IT_PSNR_MIN_DB);
		return false;
	}
	if (bad == 0)
		return true;
	snprintf(v->msg, sizeof(v->msg),
		 "%d bpp viewer: %ld of %d pixels differ by more than %d beyond quantisation; "
		 "first at (%ld,%ld): host #%06x, viewer #%06x",
		 f->bitsPerPixel, bad, hw * hh, tol, first_x, first_y, first_host, first_view);
	return false;
}

/* Poll until match; the picture comes from host (re-read each time, it may change) or,
 * when host is NULL, from px. */
static const char *wait_match(struct it_viewer *v, struct it_host *host, const uint32_t *px, int pw,
			      int ph, int timeout_ms, int max_channel_error)
{
	int64_t start = it_now_ms(), deadline = start + timeout_ms;

	for (;;) {
		int hw = pw, hh = ph;
		uint32_t *snap = host ? host_snapshot(host, &hw, &hh) : NULL;
		bool ok, connected;
		char detail[1024];

		if (host && !snap) {
			snprintf(v->msg, sizeof(v->msg), "out of memory");
			return v->msg;
		}
		pthread_mutex_lock(&v->lock);
		connected = v->connected;
		ok = compare(v, host ? snap : px, hw, hh, max_channel_error);
		pthread_mutex_unlock(&v->lock);
		free(snap);
		if (ok)
			return NULL;
		if (!connected || it_now_ms() >= deadline) {
			memcpy(detail, v->msg, sizeof(detail));
			snprintf(v->msg, sizeof(v->msg),
				 "no match after %lld ms (%s, %d updates): %.900s",
				 (long long)(it_now_ms() - start),
				 connected ? "connected" : "disconnected", viewer_updates(v),
				 detail);
			return v->msg;
		}
		it_sleep_ms(50);
	}
}

const char *viewer_wait_match(struct it_viewer *v, struct it_host *host, int timeout_ms,
			      int max_channel_error)
{
	return wait_match(v, host, NULL, 0, 0, timeout_ms, max_channel_error);
}

const char *viewer_wait_match_picture(struct it_viewer *v, const uint32_t *px, int w, int h,
				      int timeout_ms, int max_channel_error)
{
	return wait_match(v, NULL, px, w, h, timeout_ms, max_channel_error);
}

bool viewer_connected(struct it_viewer *v)
{
	bool c;

	pthread_mutex_lock(&v->lock);
	c = v->connected;
	pthread_mutex_unlock(&v->lock);
	return c;
}

bool viewer_wait_disconnect(struct it_viewer *v, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (!viewer_connected(v))
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

void viewer_size(struct it_viewer *v, int *w, int *h)
{
	pthread_mutex_lock(&v->lock);
	*w = v->client->width;
	*h = v->client->height;
	pthread_mutex_unlock(&v->lock);
}

void viewer_name(struct it_viewer *v, char *buf, size_t len)
{
	pthread_mutex_lock(&v->lock);
	snprintf(buf, len, "%s", v->client->desktopName ? v->client->desktopName : "");
	pthread_mutex_unlock(&v->lock);
}

#define COUNTER(fn, field)                                                                         \
	int fn(struct it_viewer *v)                                                                \
	{                                                                                          \
		int n;                                                                             \
		pthread_mutex_lock(&v->lock);                                                      \
		n = v->field;                                                                      \
		pthread_mutex_unlock(&v->lock);                                                    \
		return n;                                                                          \
	}

COUNTER(viewer_updates, updates)
COUNTER(viewer_bells, bells)
COUNTER(viewer_cut_count, cuts)
COUNTER(viewer_cursor_shapes, cursor_shapes)

bool viewer_last_cut_text(struct it_viewer *v, char *buf, size_t size, size_t *len)
{
	bool any;

	pthread_mutex_lock(&v->lock);
	any = v->last_cut != NULL;
	if (any) {
		size_t n = v->last_cut_len < size - 1 ? v->last_cut_len : size - 1;

		memcpy(buf, v->last_cut, n);
		buf[n] = 0;
		if (len)
			*len = v->last_cut_len;
	}
	pthread_mutex_unlock(&v->lock);
	return any;
}

bool viewer_wait_cut_text(struct it_viewer *v, int n, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (viewer_cut_count(v) >= n)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

uint32_t *viewer_snapshot(struct it_viewer *v, int *w, int *h)
{
	uint32_t *out = NULL;

	pthread_mutex_lock(&v->lock);
	if (v->client && v->client->frameBuffer && v->client->width > 0 && v->client->height > 0) {
		const rfbClient *c = v->client;
		const rfbPixelFormat *f = &c->format;
		const int max[3] = {f->redMax, f->greenMax, f->blueMax};
		const int shift[3] = {f->redShift, f->greenShift, f->blueShift};

		out = malloc((size_t)c->width * c->height * 4);
		for (int y = 0; out && y < c->height; y++) {
			for (int x = 0; x < c->width; x++) {
				uint32_t px = viewer_pixel(c, x, y), rgb = 0;

				for (int k = 0; k < 3; k++)
					rgb |= (uint32_t)expand((px >> shift[k]) & (uint32_t)max[k],
								max[k])
					       << (16 - 8 * k);
				out[(size_t)y * c->width + x] = rgb;
			}
		}
		*w = c->width;
		*h = c->height;
	}
	pthread_mutex_unlock(&v->lock);
	return out;
}

bool viewer_cursor(struct it_viewer *v, int *w, int *h, int *hot_x, int *hot_y, uint32_t *rgb,
		   uint8_t *mask)
{
	bool ok;

	pthread_mutex_lock(&v->lock);
	ok = v->cursor_shapes > 0 && v->cursor_w <= IT_CURSOR_MAX && v->cursor_h <= IT_CURSOR_MAX;
	if (ok) {
		size_t n = (size_t)v->cursor_w * v->cursor_h;

		*w = v->cursor_w;
		*h = v->cursor_h;
		*hot_x = v->cursor_hx;
		*hot_y = v->cursor_hy;
		memcpy(rgb, v->cursor_px, n * sizeof(*rgb));
		memcpy(mask, v->cursor_mask, n);
	}
	pthread_mutex_unlock(&v->lock);
	return ok;
}

int viewer_resizes(struct it_viewer *v)
{
	int n;

	pthread_mutex_lock(&v->lock);
	/* The first allocation is the initial framebuffer, not a resize. */
	n = v->fb_allocs > 0 ? v->fb_allocs - 1 : 0;
	pthread_mutex_unlock(&v->lock);
	return n;
}

bool viewer_wait_updates(struct it_viewer *v, int n, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (viewer_updates(v) >= n)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

bool viewer_received_contains(struct it_viewer *v, const void *needle, size_t len)
{
	return v->tap && tap_contains(v->tap, needle, len);
}

size_t viewer_received_bytes(struct it_viewer *v)
{
	return v->tap ? tap_bytes(v->tap) : 0;
}

bool viewer_send_key(struct it_viewer *v, uint32_t key, bool down)
{
	rfbBool ok;

	pthread_mutex_lock(&v->lock);
	ok = v->connected && SendKeyEvent(v->client, key, down);
	pthread_mutex_unlock(&v->lock);
	return ok;
}

bool viewer_send_pointer(struct it_viewer *v, int x, int y, int buttons)
{
	rfbBool ok;

	pthread_mutex_lock(&v->lock);
	ok = v->connected && SendPointerEvent(v->client, x, y, buttons);
	pthread_mutex_unlock(&v->lock);
	return ok;
}

bool viewer_send_cut_text(struct it_viewer *v, const char *text, size_t len)
{
	rfbBool ok;
	char *copy = malloc(len + 1);

	if (!copy)
		return false;
	memcpy(copy, text, len);
	copy[len] = 0;
	pthread_mutex_lock(&v->lock);
	ok = v->connected && SendClientCutText(v->client, copy, (int)len);
	pthread_mutex_unlock(&v->lock);
	free(copy);
	return ok;
}

bool viewer_send_desktop_size(struct it_viewer *v, int w, int h)
{
	uint8_t m[24] = {251, 0, (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h,
			 1,   0};
	rfbBool ok;

	/* Screen: id 0, x 0, y 0, then w, h, flags 0. */
	m[16] = (uint8_t)(w >> 8);
	m[17] = (uint8_t)w;
	m[18] = (uint8_t)(h >> 8);
	m[19] = (uint8_t)h;
	pthread_mutex_lock(&v->lock);
	ok = v->connected && WriteToRFBServer(v->client, (const char *)m, sizeof(m));
	pthread_mutex_unlock(&v->lock);
	return ok;
}

bool viewer_got_ext_desktop_size(struct it_viewer *v, int x, int y, int w, int h)
{
	/* The rectangle's header: x, y, w, h, then the encoding -308. */
	const uint8_t hdr[12] = {(uint8_t)(x >> 8),
				 (uint8_t)x,
				 (uint8_t)(y >> 8),
				 (uint8_t)y,
				 (uint8_t)(w >> 8),
				 (uint8_t)w,
				 (uint8_t)(h >> 8),
				 (uint8_t)h,
				 0xff,
				 0xff,
				 0xfe,
				 0xcc};

	return viewer_received_contains(v, hdr, sizeof(hdr));
}

bool viewer_wait_ext_desktop_size(struct it_viewer *v, int x, int y, int w, int h, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (viewer_got_ext_desktop_size(v, x, y, w, h))
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}
