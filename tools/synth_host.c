/*
 * pg-synth-host: a synthetic browser host on libvncserver, an RFB
 * implementation pixelgate did not write. It serves the pictures of
 * synth_draw.c, resizes on a timer, sends clipboard text, and echoes every
 * input event it receives on stdout, one line each, so tests can check what
 * crossed the relay. Single-threaded: one rfbProcessEvents loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <rfb/rfb.h>

#include "synth_draw.h"

#define PROG		  "pg-synth-host"
#define MAX_SIDE	  8192
#define MIN_SIDE	  64
#define CUT_TEXT_EVERY_MS 3000
#define CUT_TEXT_MAX	  (1 << 20) /* bytes of received clipboard echoed */

struct options {
	const char *listen;
	int port;
	int width, height;
	int width2, height2;
	const char *password_file;
	const char *name;
	const char *cut_text;
	enum pg_synth_mode mode;
	int fps;
	int resize_every;
	bool cursor;
	bool no_copyrect; /* scroll: the moved rows as pixels, not a CopyRect */
	int exit_after;
	bool allow_remote;
	long render_frame; /* >= 0: write this frame to output and exit */
	const char *output;
};

struct synth {
	struct options opt;
	rfbScreenInfoPtr screen;
	struct pg_synth_canvas canvas;
	bool second_size;  /* showing --resize-to */
	bool frame_wanted; /* page mode: a client asked for a frame since the last */
	char *password;
	char *passwords[2];
	char *cut_latin1;
	int cut_latin1_len;
};

/* What the main loop knows about one client. */
struct client_state {
	bool requested; /* has sent a FramebufferUpdateRequest */
	bool cut_sent;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t *alloc_fb(int w, int h)
{
	uint32_t *fb = calloc((size_t)w * h, sizeof(*fb));

	if (!fb) {
		fprintf(stderr, PROG ": out of memory for a %dx%d framebuffer\n", w, h);
		exit(1);
	}
	return fb;
}

static void render_or_die(struct pg_synth_canvas *c, long frame)
{
	if (pg_synth_render_full(c, frame)) {
		fprintf(stderr, PROG ": out of memory drawing a %dx%d picture\n", c->w, c->h);
		exit(1);
	}
}

static void toggle_size(struct synth *s)
{
	struct pg_synth_canvas *c = &s->canvas;
	uint32_t *old = c->fb;
	int w, h;

	s->second_size = !s->second_size;
	w = s->second_size ? s->opt.width2 : s->opt.width;
	h = s->second_size ? s->opt.height2 : s->opt.height;
	c->fb = alloc_fb(w, h);
	c->w = w;
	c->h = h;
	render_or_die(c, c->frame);
	/* Clients hear of it through the NewFBSize / ExtendedDesktopSize pseudo-rects. */
	rfbNewFramebuffer(s->screen, (char *)c->fb, w, h, 8, 3, 4);
	free(old);
	fprintf(stderr, PROG ": resized to %dx%d\n", w, h);
}

static void mark(struct synth *s, struct pg_synth_rect r)
{
	rfbMarkRectAsModified(s->screen, r.x, r.y, r.x + r.w, r.y + r.h);
}

static void step(struct synth *s, long frame)
{
	struct pg_synth_damage d;

	pg_synth_render_step(&s->canvas, frame, &d);
	/* The pixels have moved already; this only schedules the CopyRect, or, with
	 * --no-copyrect, marks the moved rows as a browser's full repaint would. */
	if (d.copy && s->opt.no_copyrect)
		mark(s, d.copy_dst);
	else if (d.copy)
		rfbScheduleCopyRect(s->screen, d.copy_dst.x, d.copy_dst.y,
				    d.copy_dst.x + d.copy_dst.w, d.copy_dst.y + d.copy_dst.h, 0,
				    d.copy_dy);
	for (int i = 0; i < d.nrects; i++)
		mark(s, d.rects[i]);
}

/* Client callbacks --------------------------------------------------------- */

static void print_hex_line(const char *what, const char *str, int len)
{
	int n = len < CUT_TEXT_MAX ? len : CUT_TEXT_MAX;

	printf("%s %d ", what, len);
	for (int i = 0; i < n; i++)
		printf("%02x", (unsigned char)str[i]);
	putchar('\n');
	fflush(stdout);
}

static void on_key(rfbBool down, rfbKeySym key, rfbClientPtr cl)
{
	struct synth *s = cl->screen->screenData;
	struct pg_synth_canvas *c = &s->canvas;
	bool changed = false;

	printf("key %s 0x%04x\n", down ? "down" : "up", (unsigned int)key);
	fflush(stdout);
	if (!down)
		return;
	if (key >= 0x20 && key <= 0x7e) {
		if (c->ntyped == PG_SYNTH_TYPED_MAX) {
			memmove(c->typed, c->typed + 1, PG_SYNTH_TYPED_MAX - 1);
			c->ntyped--;
		}
		c->typed[c->ntyped++] = (char)key;
		changed = true;
	} else if (key == 0xff08 && c->ntyped > 0) { /* BackSpace */
		c->ntyped--;
		changed = true;
	} else if (key == 0xff1b && c->ntyped > 0) { /* Escape clears */
		c->ntyped = 0;
		changed = true;
	}
	c->typed[c->ntyped] = 0;
	if (changed)
		mark(s, pg_synth_draw_strip(c));
}

static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	printf("pointer %d %d %d\n", mask, x, y);
	fflush(stdout);
	rfbDefaultPtrAddEvent(mask, x, y, cl);
}

static void on_cut_text(char *str, int len, rfbClientPtr cl)
{
	(void)cl;
	print_hex_line("cut-text", str, len);
}

static void on_cut_text_utf8(char *str, int len, rfbClientPtr cl)
{
	(void)cl;
	print_hex_line("cut-text-utf8", str, len);
}

static void on_update_request(rfbClientPtr cl, rfbFramebufferUpdateRequestMsg *msg)
{
	struct client_state *cs = cl->clientData;

	(void)msg;
	if (cs)
		cs->requested = true;
	((struct synth *)cl->screen->screenData)->frame_wanted = true;
}

static void on_client_gone(rfbClientPtr cl)
{
	free(cl->clientData);
	cl->clientData = NULL;
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
	struct client_state *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return RFB_CLIENT_REFUSE;
	cl->clientData = cs;
	cl->clientGoneHook = on_client_gone;
	cl->clientFramebufferUpdateRequestHook = on_update_request;
	return RFB_CLIENT_ACCEPT;
}

/*
 * Sends the clipboard text: UTF-8 to clients that speak the Extended
 * Clipboard, Latin-1 to the rest. We write the Latin-1 message ourselves
 * because libvncserver 0.9.14's rfbSendServerCutTextUTF8 puts the UTF-8
 * length in the Latin-1 fallback's header. Clients have sent their encodings
 * by the time they ask for a frame, so a new client's first send waits for
 * that.
 */
static void send_cut_text(struct synth *s, bool only_new)
{
	rfbServerCutTextMsg msg = {.type = rfbServerCutText};
	rfbClientIteratorPtr it;
	rfbClientPtr cl;
	bool any_extended = false;

	msg.length = Swap32IfLE((uint32_t)s->cut_latin1_len);
	it = rfbGetClientIterator(s->screen);
	while ((cl = rfbClientIteratorNext(it))) {
		struct client_state *cs = cl->clientData;

		if (!cs || cl->state != RFB_NORMAL || !cs->requested)
			continue;
		if (only_new && cs->cut_sent)
			continue;
		cs->cut_sent = true;
		if (cl->enableExtendedClipboard) {
			any_extended = true;
			continue;
		}
		if (rfbWriteExact(cl, (char *)&msg, sz_rfbServerCutTextMsg) < 0 ||
		    rfbWriteExact(cl, s->cut_latin1, s->cut_latin1_len) < 0)
			rfbCloseClient(cl);
	}
	rfbReleaseClientIterator(it);
	/* Only clients with the Extended Clipboard get this one (no fallback). */
	if (any_extended)
		rfbSendServerCutTextUTF8(s->screen, (char *)s->opt.cut_text,
					 (int)strlen(s->opt.cut_text), NULL, 0);
}

/* UTF-8 to Latin-1; characters beyond U+00FF become '?'. */
static void make_latin1(struct synth *s)
{
	const unsigned char *u = (const unsigned char *)s->opt.cut_text;
	size_t n = strlen(s->opt.cut_text);
	char *out = malloc(n + 1);
	int len = 0;

	if (!out) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n;) {
		if (u[i] < 0x80) {
			out[len++] = (char)u[i++];
		} else if ((u[i] & 0xe0) == 0xc0 && i + 1 < n) {
			unsigned int cp = (u[i] & 0x1fu) << 6 | (u[i + 1] & 0x3fu);

			out[len++] = cp <= 0xff ? (char)cp : '?';
			i += 2;
		} else {
			out[len++] = '?';
			i++;
			while (i < n && (u[i] & 0xc0) == 0x80)
				i++;
		}
	}
	out[len] = 0;
	s->cut_latin1 = out;
	s->cut_latin1_len = len;
}

/* Options ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [options]\n"
		   "A synthetic browser host for pixelgate's tests: an RFB server\n"
		   "(libvncserver) with deterministic pictures and input echo.\n\n"
		   "  --listen ADDR          numeric address to listen on (default 127.0.0.1)\n"
		   "  --allow-remote         allow an address other than loopback\n"
		   "  --port N               TCP port; 0 picks a free one (default 0)\n"
		   "  --size WxH             framebuffer size (default 1280x720)\n"
		   "  --resize-every SECS    alternate between --size and --resize-to\n"
		   "  --resize-to WxH        the second size (default 3/4 of --size)\n"
		   "  --password-file FILE   VNC auth with FILE's first line (default: None)\n"
		   "  --name NAME            desktop name (any bytes)\n"
		   "  --cut-text TEXT        clipboard text (UTF-8) sent to each client\n"
		   "                         after it connects, and every 3 s\n"
		   "  --mode MODE            pattern, scroll, anim, static, page or stamp\n"
		   "                         (default pattern). page: a different web-page-like\n"
		   "                         full screen each frame, drawn when a client asks\n"
		   "                         for one, at most --fps a second; stamp: a still\n"
		   "                         page whose top left 256x64 pixels show the\n"
		   "                         CLOCK_MONOTONIC time in microseconds, 64 bits in\n"
		   "                         16x16 blocks (page mode shows it too)\n"
		   "  --fps N                frames per second for scroll/anim/page/stamp\n"
		   "                         (default 30)\n"
		   "  --no-copyrect          scroll mode: send the rows that moved as pixels\n"
		   "                         (as Chromium repaints), not as a CopyRect\n"
		   "  --cursor               set a custom cursor shape\n"
		   "  --exit-after SECS      exit after SECS seconds\n"
		   "  --render-frame N --output FILE\n"
		   "                         write frame N (of --mode at --size, nothing\n"
		   "                         typed) as a PPM image and exit\n"
		   "  -h, --help             this text\n\n"
		   "stdout: \"" PROG ": listening on ADDR:PORT\" when ready, then one line\n"
		   "per event: \"key down 0x0061\", \"key up 0x0061\", \"pointer MASK X Y\",\n"
		   "\"cut-text LEN HEX\", \"cut-text-utf8 LEN HEX\".\n");
}

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	exit(2);
}

static int parse_int(const char *arg, const char *opt, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi) {
		fprintf(stderr, PROG ": %s wants a whole number from %d to %d, not '%s'\n", opt, lo,
			hi, arg);
		exit(2);
	}
	return (int)v;
}

static void parse_size(const char *arg, const char *opt, int *w, int *h)
{
	int n = 0;

	if (sscanf(arg, "%dx%d%n", w, h, &n) != 2 || arg[n] || *w < MIN_SIDE || *h < MIN_SIDE ||
	    *w > MAX_SIDE || *h > MAX_SIDE) {
		fprintf(stderr, PROG ": %s wants WxH, each side %d..%d, not '%s'\n", opt, MIN_SIDE,
			MAX_SIDE, arg);
		exit(2);
	}
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_LISTEN = 256,
		OPT_PORT,
		OPT_SIZE,
		OPT_PASSWORD_FILE,
		OPT_NAME,
		OPT_CUT_TEXT,
		OPT_MODE,
		OPT_FPS,
		OPT_RESIZE_EVERY,
		OPT_RESIZE_TO,
		OPT_CURSOR,
		OPT_EXIT_AFTER,
		OPT_ALLOW_REMOTE,
		OPT_RENDER_FRAME,
		OPT_OUTPUT,
		OPT_NO_COPYRECT,
	};
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"size", required_argument, NULL, OPT_SIZE},
	    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"cut-text", required_argument, NULL, OPT_CUT_TEXT},
	    {"mode", required_argument, NULL, OPT_MODE},
	    {"fps", required_argument, NULL, OPT_FPS},
	    {"resize-every", required_argument, NULL, OPT_RESIZE_EVERY},
	    {"resize-to", required_argument, NULL, OPT_RESIZE_TO},
	    {"cursor", no_argument, NULL, OPT_CURSOR},
	    {"exit-after", required_argument, NULL, OPT_EXIT_AFTER},
	    {"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
	    {"render-frame", required_argument, NULL, OPT_RENDER_FRAME},
	    {"output", required_argument, NULL, OPT_OUTPUT},
	    {"no-copyrect", no_argument, NULL, OPT_NO_COPYRECT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool have_size2 = false;
	int c;

	*o = (struct options){
	    .listen = "127.0.0.1",
	    .width = 1280,
	    .height = 720,
	    .name = "pg-synth-host",
	    .mode = PG_SYNTH_PATTERN,
	    .fps = 30,
	    .render_frame = -1,
	};
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case OPT_PORT:
			o->port = parse_int(optarg, "--port", 0, 65535);
			break;
		case OPT_SIZE:
			parse_size(optarg, "--size", &o->width, &o->height);
			break;
		case OPT_RESIZE_TO:
			parse_size(optarg, "--resize-to", &o->width2, &o->height2);
			have_size2 = true;
			break;
		case OPT_PASSWORD_FILE:
			o->password_file = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_CUT_TEXT:
			o->cut_text = optarg;
			break;
		case OPT_MODE: {
			int m = pg_synth_mode_parse(optarg);

			if (m < 0)
				die_usage(
				    "--mode wants pattern, scroll, anim, static, page or stamp, "
				    "not '%s'",
				    optarg);
			o->mode = (enum pg_synth_mode)m;
			break;
		}
		case OPT_FPS:
			o->fps = parse_int(optarg, "--fps", 1, 240);
			break;
		case OPT_RESIZE_EVERY:
			o->resize_every = parse_int(optarg, "--resize-every", 1, 86400);
			break;
		case OPT_CURSOR:
			o->cursor = true;
			break;
		case OPT_EXIT_AFTER:
			o->exit_after = parse_int(optarg, "--exit-after", 1, 86400 * 365);
			break;
		case OPT_ALLOW_REMOTE:
			o->allow_remote = true;
			break;
		case OPT_RENDER_FRAME:
			o->render_frame = parse_int(optarg, "--render-frame", 0, 100000000);
			break;
		case OPT_OUTPUT:
			o->output = optarg;
			break;
		case OPT_NO_COPYRECT:
			o->no_copyrect = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if ((o->render_frame >= 0) != (o->output != NULL))
		die_usage("%s", "--render-frame N and --output FILE go together");
	if (!have_size2) {
		o->width2 = (o->width * 3 / 4) & ~3;
		o->height2 = (o->height * 3 / 4) & ~1;
		if (o->width2 < MIN_SIDE)
			o->width2 = MIN_SIDE;
		if (o->height2 < MIN_SIDE)
			o->height2 = MIN_SIDE;
	}
}

static char *read_password(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[256];
	size_t n;

	if (!f) {
		fprintf(stderr, PROG ": cannot open password file '%s': %s\n", path,
			strerror(errno));
		exit(2);
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = 0;
	if (n == 0) {
		fprintf(stderr, PROG ": the first line of '%s' is empty\n", path);
		exit(2);
	}
	return strdup(buf);
}

/* Listening ---------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

/*
 * libvncserver cannot listen on port 0 and picks all interfaces for IPv6, so
 * we make the socket ourselves and hand it over. Prints the address line.
 */
static int listen_socket(const struct options *o, int *family, int *port)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[16];
	int fd, one = 1, rc;

	snprintf(portstr, sizeof(portstr), "%d", o->port);
	rc = getaddrinfo(o->listen, portstr, &hints, &ai);
	if (rc) {
		fprintf(stderr,
			PROG ": --listen wants a numeric IPv4 or IPv6 address, not '%s' (%s)\n",
			o->listen, gai_strerror(rc));
		exit(2);
	}
	if (!is_loopback(ai->ai_addr) && !o->allow_remote) {
		fprintf(stderr,
			PROG ": refusing to listen on %s, which is not loopback; add "
			     "--allow-remote if you mean it\n",
			o->listen);
		exit(2);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		fprintf(stderr, PROG ": cannot listen on %s port %d: %s\n", o->listen, o->port,
			strerror(errno));
		exit(1);
	}
	*family = ai->ai_family;
	*port = ntohs(ai->ai_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	freeaddrinfo(ai);
	return fd;
}

static void set_cursor(struct synth *s)
{
	/* A red arrow with a white outline, 12x18, hot spot at its tip. */
	static const char shape[] = "x           "
				    "xx          "
				    "x.x         "
				    "x..x        "
				    "x...x       "
				    "x....x      "
				    "x.....x     "
				    "x......x    "
				    "x.......x   "
				    "x........x  "
				    "x.........x "
				    "x......xxxxx"
				    "x...x..x    "
				    "x..xx..x    "
				    "x.x  x..x   "
				    "xx   x..x   "
				    "x     x..x  "
				    "      xxxx  ";
	char src[sizeof(shape)], mask[sizeof(shape)];
	rfbCursorPtr c;

	for (size_t i = 0; i < sizeof(shape); i++) {
		src[i] = shape[i] == '.' ? 'x' : ' ';
		mask[i] = shape[i] == ' ' ? ' ' : 'x';
	}
	src[sizeof(shape) - 1] = mask[sizeof(shape) - 1] = 0;
	c = rfbMakeXCursor(12, 18, src, mask);
	if (!c) {
		fprintf(stderr, PROG ": cannot make the cursor\n");
		exit(1);
	}
	c->xhot = 0;
	c->yhot = 0;
	c->foreRed = 0xffff;
	c->foreGreen = 0x2000;
	c->foreBlue = 0x2000;
	c->backRed = c->backGreen = c->backBlue = 0xffff;
	c->cleanup = TRUE;
	rfbSetCursor(s->screen, c);
}

/* Main ---------------------------------------------------------------------- */

static void setup_screen(struct synth *s)
{
	int argc = 1, fd, family, port;
	char arg0[] = PROG;
	char *argv[] = {arg0, NULL};
	rfbScreenInfoPtr sc;

	sc = rfbGetScreen(&argc, argv, s->canvas.w, s->canvas.h, 8, 3, 4);
	if (!sc) {
		fprintf(stderr, PROG ": rfbGetScreen failed\n");
		exit(1);
	}
	s->screen = sc;
	s->canvas.rshift = sc->serverFormat.redShift;
	s->canvas.gshift = sc->serverFormat.greenShift;
	s->canvas.bshift = sc->serverFormat.blueShift;
	render_or_die(&s->canvas, 0);
	sc->frameBuffer = (char *)s->canvas.fb;
	sc->screenData = s;
	sc->desktopName = s->opt.name;
	sc->alwaysShared = TRUE;
	sc->kbdAddEvent = on_key;
	sc->ptrAddEvent = on_pointer;
	sc->setXCutText = on_cut_text;
	sc->setXCutTextUTF8 = on_cut_text_utf8;
	sc->newClientHook = on_new_client;
	sc->port = 0;
	sc->ipv6port = 0;
	sc->autoPort = FALSE;
	sc->httpPort = 0;
	/* Page and stamp modes measure latency: send as soon as a client may have it. */
	if (s->opt.mode == PG_SYNTH_PAGE || s->opt.mode == PG_SYNTH_STAMP)
		sc->deferUpdateTime = 0;
	if (s->opt.password_file) {
		s->password = read_password(s->opt.password_file);
		s->passwords[0] = s->password;
		s->passwords[1] = NULL;
		sc->authPasswdData = s->passwords;
		sc->passwordCheck = rfbCheckPasswordByList;
	}
	if (s->opt.cursor)
		set_cursor(s);

	rfbInitServer(sc);
	fd = listen_socket(&s->opt, &family, &port);
	if (family == AF_INET)
		sc->listenSock = fd;
	else
		sc->listen6Sock = fd;
	FD_SET(fd, &sc->allFds);
	if (fd > sc->maxFd)
		sc->maxFd = fd;
	sc->port = port;
	if (family == AF_INET6)
		printf(PROG ": listening on [%s]:%d\n", s->opt.listen, port);
	else
		printf(PROG ": listening on %s:%d\n", s->opt.listen, port);
	fflush(stdout);
}

static void run(struct synth *s)
{
	const struct options *o = &s->opt;
	int64_t start = now_ms(), next_cut = start + CUT_TEXT_EVERY_MS;
	int64_t next_resize = start + (int64_t)o->resize_every * 1000;
	bool animated = o->mode == PG_SYNTH_SCROLL || o->mode == PG_SYNTH_ANIM ||
			o->mode == PG_SYNTH_PAGE || o->mode == PG_SYNTH_STAMP;
	bool stamped = o->mode == PG_SYNTH_PAGE || o->mode == PG_SYNTH_STAMP;

	while (!stop_requested) {
		int64_t now = now_ms(), next_frame, wait;
		bool stepped = false;

		if (o->exit_after && now - start >= (int64_t)o->exit_after * 1000) {
			fprintf(stderr, PROG ": --exit-after reached\n");
			break;
		}
		if (animated) {
			long frame = (long)((now - start) * o->fps / 1000);

			/* Page mode draws only what a client will take. */
			if (frame != s->canvas.frame &&
			    (o->mode != PG_SYNTH_PAGE || s->frame_wanted)) {
				struct timespec ts;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				s->canvas.stamp_us =
				    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
				s->frame_wanted = false;
				step(s, frame);
				stepped = true;
			}
		}
		if (o->resize_every && now >= next_resize) {
			toggle_size(s);
			next_resize += (int64_t)o->resize_every * 1000;
		}
		if (o->cut_text) {
			send_cut_text(s, now < next_cut);
			if (now >= next_cut)
				next_cut += CUT_TEXT_EVERY_MS;
		}
		next_frame = animated ? start + (s->canvas.frame + 1) * 1000 / o->fps : now + 100;
		wait = next_frame - now_ms();
		if (wait < 0)
			wait = 0;
		if (wait > 100)
			wait = 100;
		/* libvncserver sends after its select: send a stamped frame now. */
		if (stamped && stepped)
			wait = 0;
		rfbProcessEvents(s->screen, (long)wait * 1000);
	}
}

int main(int argc, char **argv)
{
	struct synth s = {0};
	struct sigaction sa = {.sa_handler = on_signal};

	parse_options(argc, argv, &s.opt);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	s.canvas.mode = s.opt.mode;
	s.canvas.w = s.opt.width;
	s.canvas.h = s.opt.height;
	s.canvas.fb = alloc_fb(s.canvas.w, s.canvas.h);
	if (s.opt.render_frame >= 0) {
		int err;

		/* libvncserver's default 32-bit format; PPM output is RGB anyway. */
		s.canvas.rshift = 0;
		s.canvas.gshift = 8;
		s.canvas.bshift = 16;
		render_or_die(&s.canvas, s.opt.render_frame);
		err = pg_synth_write_ppm(&s.canvas, s.opt.output);
		if (err)
			fprintf(stderr, PROG ": cannot write '%s': %s\n", s.opt.output,
				strerror(-err));
		pg_synth_canvas_release(&s.canvas);
		free(s.canvas.fb);
		return err ? 1 : 0;
	}
	if (s.opt.cut_text)
		make_latin1(&s);
	setup_screen(&s);
	run(&s);

	rfbShutdownServer(s.screen, TRUE);
	rfbScreenCleanup(s.screen);
	if (s.password) {
		explicit_bzero(s.password, strlen(s.password));
		free(s.password);
	}
	free(s.cut_latin1);
	pg_synth_canvas_release(&s.canvas);
	free(s.canvas.fb);
	fprintf(stderr, PROG ": stopped\n");
	return 0;
}
