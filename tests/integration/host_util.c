/* The browser host: a libvncserver screen on 127.0.0.1, driven by our own thread.
 *
 * rfbProcessEvents runs in the host thread under host->lock, never libvncserver's own
 * background threads: then the picture, the screen and its clients change only under the
 * lock, and host_stop can shut everything down deterministically (one thread to join). */
#include "harness_util.h"

#include <rfb/rfb.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define KEYS_KEPT 256
#define CUT_KEPT  (64u << 10) /* bytes of the last clipboard text kept */

struct it_host {
	pthread_mutex_t lock; /* screen, fb, size, seed, name, clients */
	rfbScreenInfoPtr screen;
	rfbCursorPtr default_cursor;
	rfbCursorPtr cursor; /* host_set_cursor's, freed by host_free */
	uint32_t *fb;	     /* in screen->serverFormat, 32 bpp */
	int w, h, port;
	unsigned seed;
	char *name, *password, *cut_text;
	char *passwords[2];
	bool ext_clipboard;
	int resize_mode, resize_status;
	int size_requests, size_req_w, size_req_h;
	pthread_t thread;
	volatile bool stop;
	bool running;

	pthread_mutex_t rec_lock; /* input records, written by libvncserver's callbacks */
	int keys, pointers, cuts, utf8_cuts;
	char last_cut[CUT_KEPT];
	size_t last_cut_len;
	bool last_cut_utf8;
	uint32_t key_sym[KEYS_KEPT];
	bool key_down[KEYS_KEPT];
	uint32_t last_key;
	bool last_down;
	int ptr_x, ptr_y, ptr_buttons;
};

struct client_state {
	bool cut_sent;
};

static void quiet_log(const char *format, ...)
{
	va_list ap;

	if (!getenv("PG_IT_VERBOSE"))
		return;
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
}

/* The format the host's pixels are stored in: libvncserver's default for 8/3/4, fixed here
 * so the picture survives host_stop (when there is no screen to ask). */
static uint32_t pack(uint32_t rgb)
{
	return ((rgb >> 16) & 255) | ((rgb >> 8) & 255) << 8 | (rgb & 255) << 16;
}

static void paint(struct it_host *host, int x0, int y0, int w, int h, unsigned seed)
{
	for (int y = y0; y < y0 + h; y++)
		for (int x = x0; x < x0 + w; x++)
			host->fb[(size_t)y * host->w + x] =
			    pack(it_pattern_pixel(seed, x, y, host->w, host->h));
}

static void send_legacy_cut(rfbClientPtr cl, const char *text, size_t len)
{
	char hdr[8] = {rfbServerCutText, 0,	   0, 0, (char)(len >> 24), (char)(len >> 16),
		       (char)(len >> 8), (char)len};

	/* Written by hand, per client: rfbSendServerCutText goes to every client, including
	 * ones still in the handshake, where it would break the protocol. */
	if (rfbWriteExact(cl, hdr, 8) < 0 || rfbWriteExact(cl, text, (int)len) < 0)
		rfbCloseClient(cl);
}

/* An Extended Clipboard provide of UTF-8 text as libvncserver's own
 * rfbSendServerCutTextUTF8 builds it: the size (with the NUL), the text and its NUL,
 * in one complete zlib stream. */
static void send_utf8_cut(rfbClientPtr cl, const char *text, size_t len)
{
	uLongf zlen = compressBound((uLong)len + 5);
	uint8_t *plain = malloc(len + 5), *msg = malloc(12 + zlen);
	uint32_t size = (uint32_t)len + 1, wire;

	if (!plain || !msg)
		goto fail;
	plain[0] = (uint8_t)(size >> 24);
	plain[1] = (uint8_t)(size >> 16);
	plain[2] = (uint8_t)(size >> 8);
	plain[3] = (uint8_t)size;
	memcpy(plain + 4, text, len);
	plain[4 + len] = 0;
	if (compress(msg + 12, &zlen, plain, (uLong)len + 5) != Z_OK)
		goto fail;
	wire = (uint32_t) - (int32_t)(4 + zlen);
	msg[0] = rfbServerCutText;
	msg[1] = msg[2] = msg[3] = 0;
	msg[4] = (uint8_t)(wire >> 24);
	msg[5] = (uint8_t)(wire >> 16);
	msg[6] = (uint8_t)(wire >> 8);
	msg[7] = (uint8_t)wire;
	msg[8] = 0x10; /* provide */
	msg[9] = msg[10] = 0;
	msg[11] = 0x01; /* text */
	if (rfbWriteExact(cl, (char *)msg, (int)(12 + zlen)) < 0)
		rfbCloseClient(cl);
	free(plain);
	free(msg);
	return;
fail:
	fprintf(stderr, "host: cannot build an Extended Clipboard provide\n");
	free(plain);
	free(msg);
}

/* The host's clipboard to one client: as UTF-8 in the Extended Clipboard when the host
 * has it on and the client negotiated it, else as legacy cut text (bytes as given). */
static void send_cut(struct it_host *host, rfbClientPtr cl, const char *text, size_t len)
{
	if (host->ext_clipboard && cl->enableExtendedClipboard)
		send_utf8_cut(cl, text, len);
	else
		send_legacy_cut(cl, text, len);
}

static void on_client_gone(rfbClientPtr cl)
{
	free(cl->clientData);
	cl->clientData = NULL;
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
	cl->clientData = calloc(1, sizeof(struct client_state));
	cl->clientGoneHook = on_client_gone;
	return cl->clientData ? RFB_CLIENT_ACCEPT : RFB_CLIENT_REFUSE;
}

static void on_key(rfbBool down, rfbKeySym key, rfbClientPtr cl)
{
	struct it_host *host = cl->screen->screenData;

	pthread_mutex_lock(&host->rec_lock);
	if (host->keys < KEYS_KEPT) {
		host->key_sym[host->keys] = key;
		host->key_down[host->keys] = down;
	}
	host->keys++;
	host->last_key = key;
	host->last_down = down;
	pthread_mutex_unlock(&host->rec_lock);
}

static void on_pointer(int buttons, int x, int y, rfbClientPtr cl)
{
	struct it_host *host = cl->screen->screenData;

	pthread_mutex_lock(&host->rec_lock);
	host->pointers++;
	host->ptr_x = x;
	host->ptr_y = y;
	host->ptr_buttons = buttons;
	pthread_mutex_unlock(&host->rec_lock);
	rfbDefaultPtrAddEvent(buttons, x, y, cl);
}

static void record_cut(struct it_host *host, const char *str, int len, bool utf8)
{
	size_t n = len > 0 ? (size_t)len : 0;

	/* The Extended Clipboard's text ends with a NUL on the wire. */
	if (utf8 && n > 0 && str[n - 1] == 0)
		n--;
	if (n > CUT_KEPT)
		n = CUT_KEPT;
	pthread_mutex_lock(&host->rec_lock);
	host->cuts++;
	host->utf8_cuts += utf8;
	memcpy(host->last_cut, str, n);
	host->last_cut_len = n;
	host->last_cut_utf8 = utf8;
	pthread_mutex_unlock(&host->rec_lock);
}

/* Legacy ClientCutText: Latin-1. */
static void on_cut_text(char *str, int len, rfbClientPtr cl)
{
	record_cut(cl->screen->screenData, str, len, false);
}

/* An Extended Clipboard provide with text: UTF-8. libvncserver 0.9.14 negotiates the
 * Extended Clipboard with every client that lists it, whatever the host's options,
 * so this is always recorded: text that reached the host cannot hide. */
static void on_cut_text_utf8(char *str, int len, rfbClientPtr cl)
{
	record_cut(cl->screen->screenData, str, len, true);
}

/* Called with host->lock held. */
static void send_pending_cut_text(struct it_host *host)
{
	rfbClientIteratorPtr i;
	rfbClientPtr cl;

	if (!host->cut_text)
		return;
	i = rfbGetClientIterator(host->screen);
	while ((cl = rfbClientIteratorNext(i))) {
		struct client_state *cs = cl->clientData;

		if (cs && !cs->cut_sent && cl->state == RFB_NORMAL &&
		    cl->sock != RFB_INVALID_SOCKET) {
			cs->cut_sent = true;
			send_cut(host, cl, host->cut_text, strlen(host->cut_text));
		}
	}
	rfbReleaseClientIterator(i);
}

static void *host_run(void *arg)
{
	struct it_host *host = arg;

	while (!host->stop) {
		pthread_mutex_lock(&host->lock);
		rfbProcessEvents(host->screen, 0);
		send_pending_cut_text(host);
		pthread_mutex_unlock(&host->lock);
		/* Outside the lock, so the test thread gets its turn. */
		it_sleep_ms(1);
	}
	return NULL;
}

/* Called with host->lock held. The old buffer is the caller's to free once the screen
 * uses the new one. */
static uint32_t *resize_locked(struct it_host *host, uint32_t *fb, int w, int h)
{
	uint32_t *old = host->fb;

	host->fb = fb;
	host->w = w;
	host->h = h;
	paint(host, 0, 0, w, h, host->seed);
	/* rfbNewFramebuffer tells clients that support NewFBSize/ExtendedDesktopSize and
	 * marks everything changed. */
	if (host->screen)
		rfbNewFramebuffer(host->screen, (char *)fb, w, h, 8, 3, 4);
	return old;
}

/* A client's SetDesktopSize, in the host thread (rfbProcessEvents, host->lock held). */
static int on_set_desktop_size(int w, int h, int screens, struct rfbExtDesktopScreen *list,
			       rfbClientPtr cl)
{
	struct it_host *host = cl->screen->screenData;
	uint32_t *fb;

	(void)screens;
	(void)list;
	pthread_mutex_lock(&host->rec_lock);
	host->size_requests++;
	host->size_req_w = w;
	host->size_req_h = h;
	pthread_mutex_unlock(&host->rec_lock);
	if (host->resize_mode == IT_RESIZE_REFUSE)
		return host->resize_status;
	if (w < 1 || h < 1 || w > 8192 || h > 8192)
		return rfbExtDesktopSize_InvalidScreenLayout;
	fb = malloc((size_t)w * h * 4);
	if (!fb)
		return rfbExtDesktopSize_OutOfResources;
	free(resize_locked(host, fb, w, h));
	return rfbExtDesktopSize_Success;
}

/* Called with host->lock held, host->screen NULL. */
static int screen_up(struct it_host *host)
{
	char *argv[] = {"pg-it-host", NULL};
	int argc = 1;
	rfbScreenInfoPtr s;

	rfbLog = quiet_log;
	rfbErr = quiet_log;
	s = rfbGetScreen(&argc, argv, host->w, host->h, 8, 3, 4);
	if (!s)
		return -1;
	if (s->serverFormat.redShift != 0 || s->serverFormat.greenShift != 8 ||
	    s->serverFormat.blueShift != 16) {
		fprintf(stderr, "host: unexpected libvncserver pixel format\n");
		rfbScreenCleanup(s);
		return -1;
	}
	/* No cursor: libvncserver would draw it into the pixels of viewers without cursor
	 * pseudo-encodings, and the picture would no longer be the pattern. The default is
	 * restored before rfbScreenCleanup, which knows not to free it. */
	host->default_cursor = s->cursor;
	s->cursor = host->cursor;
	s->frameBuffer = (char *)host->fb;
	s->desktopName = host->name ? host->name : "pg-it-host";
	s->autoPort = FALSE;
	s->port = host->port;
	s->ipv6port = 0; /* loopback IPv4 only */
	s->listenInterface = htonl(INADDR_LOOPBACK);
	s->deferUpdateTime = 0;
	s->alwaysShared = TRUE;
	s->screenData = host;
	s->newClientHook = on_new_client;
	s->kbdAddEvent = on_key;
	s->ptrAddEvent = on_pointer;
	s->setXCutText = on_cut_text;
	s->setXCutTextUTF8 = on_cut_text_utf8;
	if (host->resize_mode)
		s->setDesktopSizeHook = on_set_desktop_size;
	if (host->password) {
		s->authPasswdData = host->passwords;
		s->passwordCheck = rfbCheckPasswordByList;
	}
	rfbInitServer(s);
	if (s->listenSock == RFB_INVALID_SOCKET) {
		fprintf(stderr, "host: cannot listen on 127.0.0.1:%d\n", host->port);
		s->cursor = host->default_cursor;
		rfbScreenCleanup(s);
		return -1;
	}
	host->screen = s;
	host->stop = false;
	if (pthread_create(&host->thread, NULL, host_run, host) != 0) {
		rfbShutdownServer(s, TRUE);
		s->cursor = host->default_cursor;
		rfbScreenCleanup(s);
		host->screen = NULL;
		return -1;
	}
	host->running = true;
	return 0;
}

struct it_host *host_start(int w, int h, const struct it_host_opts *opts)
{
	struct it_host *host = calloc(1, sizeof(*host));
	int rc;

	if (!host)
		return NULL;
	pthread_mutex_init(&host->lock, NULL);
	pthread_mutex_init(&host->rec_lock, NULL);
	host->w = w;
	host->h = h;
	host->seed = 1;
	host->fb = malloc((size_t)w * h * 4);
	if (opts && opts->name)
		host->name = strdup(opts->name);
	if (opts && opts->password)
		host->password = strdup(opts->password);
	if (opts && opts->cut_text)
		host->cut_text = strdup(opts->cut_text);
	host->ext_clipboard = opts && opts->ext_clipboard;
	host->resize_mode = opts ? opts->resize : 0;
	host->resize_status = opts ? opts->resize_status : 0;
	host->passwords[0] = host->password;
	if (!host->fb)
		goto fail;
	paint(host, 0, 0, w, h, host->seed);
	/* The port may be taken between probing and binding; try a few. */
	for (int tries = 0; tries < 5; tries++) {
		host->port = it_free_port();
		pthread_mutex_lock(&host->lock);
		rc = screen_up(host);
		pthread_mutex_unlock(&host->lock);
		if (rc == 0)
			return host;
	}
fail:
	fprintf(stderr, "host: start failed\n");
	host_free(host);
	return NULL;
}

int host_port(const struct it_host *host)
{
	return host->port;
}

void host_mark_changed(struct it_host *host, int x, int y, int w, int h)
{
	pthread_mutex_lock(&host->lock);
	if (host->screen)
		rfbMarkRectAsModified(host->screen, x, y, x + w, y + h);
	pthread_mutex_unlock(&host->lock);
}

void host_fill_pattern(struct it_host *host, unsigned seed)
{
	pthread_mutex_lock(&host->lock);
	host->seed = seed;
	paint(host, 0, 0, host->w, host->h, seed);
	if (host->screen)
		rfbMarkRectAsModified(host->screen, 0, 0, host->w, host->h);
	pthread_mutex_unlock(&host->lock);
}

void host_fill_colour(struct it_host *host, uint32_t rgb)
{
	pthread_mutex_lock(&host->lock);
	for (size_t i = 0; i < (size_t)host->w * host->h; i++)
		host->fb[i] = pack(rgb);
	if (host->screen)
		rfbMarkRectAsModified(host->screen, 0, 0, host->w, host->h);
	pthread_mutex_unlock(&host->lock);
}

void host_change_region(struct it_host *host, int x, int y, int w, int h, unsigned seed)
{
	pthread_mutex_lock(&host->lock);
	if (x < 0) {
		w += x;
		x = 0;
	}
	if (y < 0) {
		h += y;
		y = 0;
	}
	if (x + w > host->w)
		w = host->w - x;
	if (y + h > host->h)
		h = host->h - y;
	if (w > 0 && h > 0) {
		paint(host, x, y, w, h, seed);
		if (host->screen)
			rfbMarkRectAsModified(host->screen, x, y, x + w, y + h);
	}
	pthread_mutex_unlock(&host->lock);
}

void host_scroll(struct it_host *host, int d, unsigned seed)
{
	pthread_mutex_lock(&host->lock);
	if (d > 0 && d < host->h) {
		memmove(host->fb, host->fb + (size_t)d * host->w,
			(size_t)(host->h - d) * host->w * sizeof(*host->fb));
		paint(host, 0, host->h - d, host->w, d, seed);
		if (host->screen) {
			rfbScheduleCopyRect(host->screen, 0, 0, host->w, host->h - d, 0, -d);
			rfbMarkRectAsModified(host->screen, 0, host->h - d, host->w, host->h);
		}
	}
	pthread_mutex_unlock(&host->lock);
}

int host_resize(struct it_host *host, int w, int h)
{
	uint32_t *fb = malloc((size_t)w * h * 4), *old;

	if (!fb)
		return -1;
	pthread_mutex_lock(&host->lock);
	old = resize_locked(host, fb, w, h);
	pthread_mutex_unlock(&host->lock);
	free(old);
	return 0;
}

int host_size_requests(struct it_host *host, int *w, int *h)
{
	int n;

	pthread_mutex_lock(&host->rec_lock);
	n = host->size_requests;
	if (w)
		*w = host->size_req_w;
	if (h)
		*h = host->size_req_h;
	pthread_mutex_unlock(&host->rec_lock);
	return n;
}

void host_size(struct it_host *host, int *w, int *h)
{
	pthread_mutex_lock(&host->lock);
	*w = host->w;
	*h = host->h;
	pthread_mutex_unlock(&host->lock);
}

void host_set_name(struct it_host *host, const char *name)
{
	char *copy = strdup(name), *old;

	if (!copy)
		return;
	pthread_mutex_lock(&host->lock);
	old = host->name;
	host->name = copy;
	if (host->screen)
		host->screen->desktopName = copy;
	pthread_mutex_unlock(&host->lock);
	free(old);
}

void host_send_cut_text(struct it_host *host, const char *text, size_t len)
{
	rfbClientIteratorPtr i;
	rfbClientPtr cl;

	pthread_mutex_lock(&host->lock);
	if (host->screen) {
		i = rfbGetClientIterator(host->screen);
		while ((cl = rfbClientIteratorNext(i)))
			if (cl->state == RFB_NORMAL && cl->sock != RFB_INVALID_SOCKET)
				send_cut(host, cl, text, len);
		rfbReleaseClientIterator(i);
	}
	pthread_mutex_unlock(&host->lock);
}

void host_bell(struct it_host *host)
{
	pthread_mutex_lock(&host->lock);
	if (host->screen)
		rfbSendBell(host->screen);
	pthread_mutex_unlock(&host->lock);
}

int host_set_cursor(struct it_host *host, int w, int h, int hot_x, int hot_y, const uint32_t *rgb,
		    const uint8_t *mask)
{
	char shape[IT_CURSOR_MAX * (IT_CURSOR_MAX + 1) + 1], mask_str[sizeof(shape)];
	rfbCursorPtr c, old;
	char *p = shape, *q = mask_str;

	if (w <= 0 || h <= 0 || w > IT_CURSOR_MAX || h > IT_CURSOR_MAX || hot_x < 0 || hot_y < 0 ||
	    hot_x >= w || hot_y >= h)
		return -1;
	/* rfbMakeXCursor wants the shape and mask as strings of rows, 'x' for set. */
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			*p++ = 'x';
			*q++ = mask[y * w + x] ? 'x' : ' ';
		}
	}
	*p = *q = 0;
	c = rfbMakeXCursor(w, h, shape, mask_str);
	if (!c)
		return -1;
	/* The rich source is what RichCursor sends: pixels in the server's format. */
	c->richSource = malloc((size_t)w * h * 4);
	if (!c->richSource) {
		rfbFreeCursor(c);
		return -1;
	}
	for (int i = 0; i < w * h; i++) {
		uint32_t v = pack(rgb[i]);

		memcpy(c->richSource + 4 * i, &v, 4);
	}
	c->cleanupRichSource = TRUE;
	c->xhot = (unsigned short)hot_x;
	c->yhot = (unsigned short)hot_y;
	/* Ours to free (in host_free), not rfbScreenCleanup's. */
	c->cleanup = FALSE;
	pthread_mutex_lock(&host->lock);
	old = host->cursor;
	host->cursor = c;
	if (host->screen)
		rfbSetCursor(host->screen, c);
	pthread_mutex_unlock(&host->lock);
	if (old) {
		old->cleanup = TRUE;
		rfbFreeCursor(old);
	}
	return 0;
}

void host_stop(struct it_host *host)
{
	if (!host->running)
		return;
	host->stop = true;
	pthread_join(host->thread, NULL);
	host->running = false;
	pthread_mutex_lock(&host->lock);
	rfbShutdownServer(host->screen, TRUE);
	host->screen->cursor = host->default_cursor;
	rfbScreenCleanup(host->screen);
	host->screen = NULL;
	pthread_mutex_unlock(&host->lock);
}

int host_restart(struct it_host *host)
{
	int rc = -1;

	if (host->running)
		return 0;
	/* Listening sockets use SO_REUSEADDR, so the old connections' TIME_WAIT does not
	 * block the port; a few retries cover a slow close. */
	for (int tries = 0; tries < 20 && rc < 0; tries++) {
		pthread_mutex_lock(&host->lock);
		rc = screen_up(host);
		pthread_mutex_unlock(&host->lock);
		if (rc < 0)
			it_sleep_ms(100);
	}
	return rc;
}

void host_free(struct it_host *host)
{
	if (!host)
		return;
	host_stop(host);
	pthread_mutex_destroy(&host->lock);
	pthread_mutex_destroy(&host->rec_lock);
	free(host->fb);
	free(host->name);
	free(host->password);
	free(host->cut_text);
	if (host->cursor) {
		host->cursor->cleanup = TRUE;
		rfbFreeCursor(host->cursor);
	}
	free(host);
}

int host_clients(struct it_host *host)
{
	rfbClientIteratorPtr i;
	rfbClientPtr cl;
	int n = 0;

	pthread_mutex_lock(&host->lock);
	if (host->screen) {
		i = rfbGetClientIterator(host->screen);
		while ((cl = rfbClientIteratorNext(i)))
			n += cl->state == RFB_NORMAL && cl->sock != RFB_INVALID_SOCKET;
		rfbReleaseClientIterator(i);
	}
	pthread_mutex_unlock(&host->lock);
	return n;
}

bool host_wait_clients(struct it_host *host, int n, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (host_clients(host) >= n)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

bool host_last_key(struct it_host *host, uint32_t *key, bool *down)
{
	bool any;

	pthread_mutex_lock(&host->rec_lock);
	any = host->keys > 0;
	if (any) {
		*key = host->last_key;
		*down = host->last_down;
	}
	pthread_mutex_unlock(&host->rec_lock);
	return any;
}

int host_key_count(struct it_host *host)
{
	int n;

	pthread_mutex_lock(&host->rec_lock);
	n = host->keys;
	pthread_mutex_unlock(&host->rec_lock);
	return n;
}

bool host_key_at(struct it_host *host, int i, uint32_t *key, bool *down)
{
	bool ok;

	pthread_mutex_lock(&host->rec_lock);
	ok = i >= 0 && i < host->keys && i < KEYS_KEPT;
	if (ok) {
		*key = host->key_sym[i];
		*down = host->key_down[i];
	}
	pthread_mutex_unlock(&host->rec_lock);
	return ok;
}

bool host_last_pointer(struct it_host *host, int *x, int *y, int *buttons)
{
	bool any;

	pthread_mutex_lock(&host->rec_lock);
	any = host->pointers > 0;
	if (any) {
		*x = host->ptr_x;
		*y = host->ptr_y;
		*buttons = host->ptr_buttons;
	}
	pthread_mutex_unlock(&host->rec_lock);
	return any;
}

int host_pointer_count(struct it_host *host)
{
	int n;

	pthread_mutex_lock(&host->rec_lock);
	n = host->pointers;
	pthread_mutex_unlock(&host->rec_lock);
	return n;
}

int host_cut_text_count(struct it_host *host)
{
	int n;

	pthread_mutex_lock(&host->rec_lock);
	n = host->cuts;
	pthread_mutex_unlock(&host->rec_lock);
	return n;
}

int host_utf8_cut_count(struct it_host *host)
{
	int n;

	pthread_mutex_lock(&host->rec_lock);
	n = host->utf8_cuts;
	pthread_mutex_unlock(&host->rec_lock);
	return n;
}

bool host_last_cut_text(struct it_host *host, char *buf, size_t size, size_t *len, bool *utf8)
{
	bool any;

	pthread_mutex_lock(&host->rec_lock);
	any = host->cuts > 0;
	if (any) {
		size_t n = host->last_cut_len < size - 1 ? host->last_cut_len : size - 1;

		memcpy(buf, host->last_cut, n);
		buf[n] = 0;
		if (len)
			*len = host->last_cut_len;
		if (utf8)
			*utf8 = host->last_cut_utf8;
	}
	pthread_mutex_unlock(&host->rec_lock);
	return any;
}

bool host_wait_cut_text(struct it_host *host, int n, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (host_cut_text_count(host) >= n)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

bool host_client_ext_clipboard(struct it_host *host)
{
	rfbClientIteratorPtr i;
	rfbClientPtr cl;
	bool any = false;

	pthread_mutex_lock(&host->lock);
	if (host->screen) {
		i = rfbGetClientIterator(host->screen);
		while ((cl = rfbClientIteratorNext(i)))
			any |= cl->state == RFB_NORMAL && cl->enableExtendedClipboard;
		rfbReleaseClientIterator(i);
	}
	pthread_mutex_unlock(&host->lock);
	return any;
}

void host_clear_input(struct it_host *host)
{
	pthread_mutex_lock(&host->rec_lock);
	host->keys = host->pointers = host->cuts = host->utf8_cuts = 0;
	host->last_cut_len = 0;
	pthread_mutex_unlock(&host->rec_lock);
}

uint32_t *host_snapshot(struct it_host *host, int *w, int *h)
{
	uint32_t *out;
	size_t n;

	pthread_mutex_lock(&host->lock);
	n = (size_t)host->w * host->h;
	out = malloc(n * 4);
	if (out) {
		for (size_t i = 0; i < n; i++) {
			uint32_t px = host->fb[i];

			out[i] = (px & 255) << 16 | ((px >> 8) & 255) << 8 | ((px >> 16) & 255);
		}
		*w = host->w;
		*h = host->h;
	}
	pthread_mutex_unlock(&host->lock);
	return out;
}
