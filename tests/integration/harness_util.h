/* Integration-test harness: a browser host on libvncserver, viewers on libvncclient (both
 * RFB implementations pixelgate did not write), a recording TCP tap, a raw RFB client, and
 * the pixelgate relay as a child process in between. Every wait is bounded.
 *
 * With PG_IT_DIRECT=1 viewers connect straight to the host and relay-only assertions are
 * skipped: that proves the harness itself, independently of the relay.
 *
 * Threads: every function may be called from the test's thread; the host and each viewer
 * run their own event thread and guard their state with a mutex. */
#ifndef PG_IT_HARNESS_UTIL_H
#define PG_IT_HARNESS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- common ---- */

/* True when PG_IT_DIRECT=1: no relay, viewers talk to the host. */
bool it_direct_mode(void);
int64_t it_now_ms(void);
void it_sleep_ms(int ms);
/* A loopback TCP port that was free a moment ago (bind to port 0 and release); -1 on error. */
int it_free_port(void);
/* The deterministic test picture, as 0x00RRGGBB: gradients, sharp edges, noise and few-colour
 * areas, each depending on seed so two seeds differ almost everywhere. */
uint32_t it_pattern_pixel(unsigned seed, int x, int y, int w, int h);
/* True when needle occurs in hay. */
bool it_memmem(const void *hay, size_t hay_len, const void *needle, size_t needle_len);

/* ---- host: libvncserver on 127.0.0.1 ---- */

struct it_host;

struct it_host_opts {
	const char *password; /* VNC authentication when set */
	const char *name;     /* desktop name (any bytes but NUL) */
	const char *cut_text; /* sent to each client once it reaches the normal state */
	/* The host's clipboard (host_send_cut_text, cut_text) goes as UTF-8 in an Extended
	 * Clipboard provide to clients that negotiated it, as libvncserver's
	 * rfbSendServerCutTextUTF8 sends it; off: always legacy cut text, bytes as given.
	 * Receiving is not switchable: libvncserver 0.9.14 negotiates the Extended
	 * Clipboard with every client that lists it, and the host records both kinds. */
	bool ext_clipboard;
	/* SetDesktopSize from clients (libvncserver's setDesktopSizeHook): 0 keeps
	 * libvncserver's default (prohibited), IT_RESIZE_ACCEPT resizes the framebuffer
	 * to the size asked for (repainted with the current seed), IT_RESIZE_REFUSE
	 * answers resize_status. Every request is counted (host_size_requests). */
	int resize;
	int resize_status; /* for IT_RESIZE_REFUSE: 1, 2 or 3 */
};

#define IT_RESIZE_ACCEPT 1
#define IT_RESIZE_REFUSE 2

#define IT_CURSOR_MAX 64 /* side of the largest cursor the harness records */

/* Start a w x h host on a free loopback port, painted with pattern seed 1.
 * NULL on failure (logged to stderr). */
struct it_host *host_start(int w, int h, const struct it_host_opts *opts);
int host_port(const struct it_host *host);
/* Repaint everything with the pattern for seed and mark it changed. */
void host_fill_pattern(struct it_host *host, unsigned seed);
/* Paint everything one colour (0x00RRGGBB) and mark it changed: costs a host almost
 * nothing to send (a Tight fill), unlike the pattern. */
void host_fill_colour(struct it_host *host, uint32_t rgb);
/* Repaint one rectangle (clipped) with the pattern for seed and mark it changed. */
void host_change_region(struct it_host *host, int x, int y, int w, int h, unsigned seed);
void host_mark_changed(struct it_host *host, int x, int y, int w, int h);
/* Scroll the picture up by d rows (a CopyRect to clients that take one) and paint the
 * rows it exposes with the pattern for seed. */
void host_scroll(struct it_host *host, int d, unsigned seed);
/* New framebuffer size, repainted with the current seed; 0 or -1. */
int host_resize(struct it_host *host, int w, int h);
/* SetDesktopSize requests received, and the size the last one asked for (w, h may be
 * NULL). */
int host_size_requests(struct it_host *host, int *w, int *h);
/* The framebuffer's size now. */
void host_size(struct it_host *host, int *w, int *h);
/* Name sent in ServerInit to clients that connect from now on. */
void host_set_name(struct it_host *host, const char *name);
/* ServerCutText to every client in the normal state (see it_host_opts.ext_clipboard). */
void host_send_cut_text(struct it_host *host, const char *text, size_t len);
void host_bell(struct it_host *host);
/* Give the host a cursor shape (the harness has none by default, because libvncserver
 * draws a cursor into the pixels of clients without cursor-shape support): w x h pixels
 * as 0x00RRGGBB, mask one byte per pixel (non-zero: opaque), hot spot inside the shape.
 * w and h at most IT_CURSOR_MAX; 0 or -1. */
int host_set_cursor(struct it_host *host, int w, int h, int hot_x, int hot_y, const uint32_t *rgb,
		    const uint8_t *mask);
/* Close every client and the listener; the picture and records stay. */
void host_stop(struct it_host *host);
/* Listen again on the same port; 0 or -1. */
int host_restart(struct it_host *host);
void host_free(struct it_host *host);
/* Clients that completed the handshake. */
int host_clients(struct it_host *host);
bool host_wait_clients(struct it_host *host, int n, int timeout_ms);

/* What input arrived. host_last_key: false when no key event came yet. */
bool host_last_key(struct it_host *host, uint32_t *key, bool *down);
int host_key_count(struct it_host *host);
/* The i-th key event (0-based, first 256 kept). */
bool host_key_at(struct it_host *host, int i, uint32_t *key, bool *down);
bool host_last_pointer(struct it_host *host, int *x, int *y, int *buttons);
int host_pointer_count(struct it_host *host);
/* Clipboard texts received, legacy (Latin-1) and Extended Clipboard (UTF-8) alike;
 * host_utf8_cut_count counts the latter only. */
int host_cut_text_count(struct it_host *host);
int host_utf8_cut_count(struct it_host *host);
bool host_wait_cut_text(struct it_host *host, int n, int timeout_ms);
/* The last clipboard text received, NUL-terminated in buf (cut to size - 1; the NUL
 * the Extended Clipboard adds is not part of it); *len (may be NULL) its full length,
 * *utf8 (may be NULL) whether it came as Extended Clipboard text. False when none. */
bool host_last_cut_text(struct it_host *host, char *buf, size_t size, size_t *len, bool *utf8);
/* True when a client in the normal state negotiated the Extended Clipboard. */
bool host_client_ext_clipboard(struct it_host *host);
/* Forget every recorded input event. */
void host_clear_input(struct it_host *host);

/* A copy of the picture as 0x00RRGGBB (caller frees), with its size; NULL on ENOMEM. */
uint32_t *host_snapshot(struct it_host *host, int *w, int *h);

/* ---- viewer: libvncclient ---- */

struct it_viewer;

/* max_channel_error value selecting the PSNR check (for JPEG). */
#define IT_PSNR	       (-1)
#define IT_PSNR_MIN_DB 35.0

struct it_viewer_opts {
	int bpp;	       /* 32 (RGB888), 16 (RGB565) or 8 (BGR233) */
	const char *encodings; /* libvncclient encodings string, e.g. "copyrect zrle" */
	int quality;	       /* JPEG quality level 0..9 when jpeg */
	bool jpeg;
	int compress; /* compression level 0..9, or -1 for the library default */
	bool record;  /* route through a tap that records every byte the viewer receives */
	bool cursor;  /* ask for cursor shapes (RichCursor) and record the last one */
};

/* Connect and start pumping messages in a thread; NULL on failure (logged to stderr). */
struct it_viewer *viewer_start(int port, const struct it_viewer_opts *opts);
void viewer_stop(struct it_viewer *v);
/* Poll until the viewer's picture equals the host's: within the format's precision plus
 * max_channel_error per channel (8-bit units), or, with IT_PSNR, a PSNR of at least
 * IT_PSNR_MIN_DB after the format's quantisation. NULL on success, else a message owned by
 * the viewer, valid until the next call. */
const char *viewer_wait_match(struct it_viewer *v, struct it_host *host, int timeout_ms,
			      int max_channel_error);
/* The same against a fixed picture (0x00RRGGBB, w x h). */
const char *viewer_wait_match_picture(struct it_viewer *v, const uint32_t *px, int w, int h,
				      int timeout_ms, int max_channel_error);
bool viewer_connected(struct it_viewer *v);
/* Wait until the connection ends; true if it did within timeout_ms. */
bool viewer_wait_disconnect(struct it_viewer *v, int timeout_ms);
void viewer_size(struct it_viewer *v, int *w, int *h);
/* Desktop name as received (NUL-terminated copy, truncated to len - 1). */
void viewer_name(struct it_viewer *v, char *buf, size_t len);
int viewer_updates(struct it_viewer *v);
bool viewer_wait_updates(struct it_viewer *v, int n, int timeout_ms);
int viewer_resizes(struct it_viewer *v);
int viewer_bells(struct it_viewer *v);
int viewer_cut_count(struct it_viewer *v);
/* The last ServerCutText received (libvncclient 0.9.14 knows legacy cut text only):
 * NUL-terminated in buf (cut to size - 1), *len (may be NULL) its full length. False
 * when none came. */
bool viewer_last_cut_text(struct it_viewer *v, char *buf, size_t size, size_t *len);
bool viewer_wait_cut_text(struct it_viewer *v, int n, int timeout_ms);
/* A copy of the viewer's picture as 0x00RRGGBB (caller frees), with its size; NULL
 * before the first framebuffer or on ENOMEM. */
uint32_t *viewer_snapshot(struct it_viewer *v, int *w, int *h);
/* True when the recorded stream contains needle (needs opts.record). */
bool viewer_received_contains(struct it_viewer *v, const void *needle, size_t len);
size_t viewer_received_bytes(struct it_viewer *v);
bool viewer_send_key(struct it_viewer *v, uint32_t key, bool down);
bool viewer_send_pointer(struct it_viewer *v, int x, int y, int buttons);
bool viewer_send_cut_text(struct it_viewer *v, const char *text, size_t len);
/* SetDesktopSize for w x h, one screen (id 0 at 0,0), written as TigerVNC's viewer
 * does; not libvncclient's SendExtDesktopSize, which skips a size equal to the last
 * one it asked for and leaves the screen's id and flags uninitialised. */
bool viewer_send_desktop_size(struct it_viewer *v, int w, int h);
/* True when the viewer received an ExtendedDesktopSize rectangle with reason x, status
 * y and size w x h (needs opts.record). */
bool viewer_got_ext_desktop_size(struct it_viewer *v, int x, int y, int w, int h);
bool viewer_wait_ext_desktop_size(struct it_viewer *v, int x, int y, int w, int h, int timeout_ms);
/* Cursor shapes received (needs opts.cursor). */
int viewer_cursor_shapes(struct it_viewer *v);
/* The last cursor shape: size, hot spot, pixels as 0x00RRGGBB and mask one byte per pixel
 * (1: opaque), each w x h; false when none came or it is larger than IT_CURSOR_MAX. */
bool viewer_cursor(struct it_viewer *v, int *w, int *h, int *hot_x, int *hot_y, uint32_t *rgb,
		   uint8_t *mask);

/* ---- tap: TCP forwarder that records the server-to-client bytes ---- */

struct it_tap;

struct it_tap *tap_start(int target_port);
int tap_port(const struct it_tap *tap);
bool tap_contains(struct it_tap *tap, const void *needle, size_t len);
size_t tap_bytes(struct it_tap *tap);
void tap_stop(struct it_tap *tap);

/* ---- raw RFB client, for misbehaving viewers ---- */

/* Connect, handshake as RFB 3.<minor> with security None, ClientInit shared. Returns the
 * socket and the framebuffer size, or -1. rcvbuf > 0 shrinks the receive buffer first. */
int raw_client_connect(int port, int minor, int rcvbuf, int *w, int *h);
int raw_client_request(int fd, bool incremental, int x, int y, int w, int h);

/* What ServerInit said. */
struct it_raw_init {
	int w, h;
	uint8_t pixfmt[16];
	char name[256]; /* NUL-terminated, truncated */
};

/* As raw_client_connect, keeping the whole ServerInit. minor is sent as "RFB 003.%03d\n";
 * what follows is RFB 3.3's when minor < 7, 3.7's when minor is 7, else 3.8's. */
int raw_client_connect_init(int port, int minor, struct it_raw_init *init);
/* Connect and read the server's 12-byte ProtocolVersion into version (may be NULL);
 * the socket has 5 s send and receive timeouts. -1 on failure. */
int raw_client_open(int port, char *version);
/* Write all of buf; 0, or -1 (for example when the peer has closed). */
int raw_client_send(int fd, const void *buf, size_t len);
/* Read exactly len bytes within the socket's timeout; false on EOF, error or timeout. */
bool raw_client_read(int fd, void *buf, size_t len);
/* Discard what arrives until the peer closes (EOF or reset); false if it is still open
 * after timeout_ms. */
bool raw_client_wait_closed(int fd, int timeout_ms);
/* True when nothing says the peer closed: no EOF or error is pending (data may be). */
bool raw_client_open_still(int fd);
/* The socket's local port, which the relay logs as the viewer's peer; -1 on error. */
int raw_client_local_port(int fd);

/* ---- raw host: a minimal RFB 3.8 server with a fixed picture ----
 * For what libvncserver cannot send (it caps the desktop name at 127 bytes). Serves the
 * pattern for seed in Raw encoding in the client's format, one client at a time. */

struct it_rawhost;

/* cut (may be NULL) is sent right after ServerInit. NULL on failure. */
struct it_rawhost *rawhost_start(int w, int h, unsigned seed, const char *name, size_t name_len,
				 const char *cut, size_t cut_len);
int rawhost_port(const struct it_rawhost *rh);
/* Clients that got as far as ServerInit. */
int rawhost_handshakes(struct it_rawhost *rh);
/* The picture served, 0x00RRGGBB, owned by rh. */
const uint32_t *rawhost_picture(const struct it_rawhost *rh, int *w, int *h);
void rawhost_stop(struct it_rawhost *rh);
/* Connections accepted so far. */
int rawhost_connections(struct it_rawhost *rh);

/* Misbehaviour on demand, for hostile-host tests. */
enum it_rawhost_fault {
	IT_RH_NONE,
	/* Sent on the current connection once it is past ServerInit: */
	IT_RH_COLOUR_MAP,     /* SetColourMapEntries */
	IT_RH_RECT_OUTSIDE,   /* a Raw rectangle reaching past the framebuffer's right edge */
	IT_RH_HEXTILE,	      /* a Hextile rectangle, an encoding the client never asked for */
	IT_RH_CUT_HUGE,	      /* ServerCutText declaring 0xFFFFFFFF bytes */
	IT_RH_CUT_OVER_LIMIT, /* ServerCutText declaring 2 MiB */
	IT_RH_ZRLE_HUGE,      /* a ZRLE rectangle declaring 0x7FFFFFFF compressed bytes */
	IT_RH_UNKNOWN_MSG,    /* server message type 200 */
	/* Hang up the current connection and misbehave in the next one's handshake: */
	IT_RH_HUGE_INIT,    /* ServerInit of 65535x65535 */
	IT_RH_BAD_SECURITY, /* RFB 3.8 security list without None (19 and 30) */
};

/* Misbehave once, as the fault says; later connections are served correctly again. The
 * bytes of the hostile messages contain IT_RH_MARKER. */
void rawhost_inject(struct it_rawhost *rh, enum it_rawhost_fault fault);
#define IT_RH_MARKER "PG-HOSTILE-HOST-BYTES"
/* True once the injected fault has been acted on. */
bool rawhost_fault_done(struct it_rawhost *rh);

/* ---- relay: PG_BIN_DIR/pixelgate as a child process ---- */

/* The path of one of pixelgate's own programs (pixelgate, pixelgate-audit,
 * pixelgate-passwd; the relay finds pixelgate-worker next to itself): in the
 * directory PG_IT_BIN_DIR names when it is set and the program is built there (a
 * sanitizer build of the relay alone, tools/run-tests.sh), else in PG_BIN_DIR. */
void it_bin_path(const char *name, char *out, size_t size);

struct it_relay;

/* Start the relay in front of 127.0.0.1:upstream_port with --log-level debug and
 * extra_args (NULL-terminated, may be NULL); waits until it accepts connections.
 * NULL on failure, with the log copied to stderr. */
struct it_relay *relay_start(int upstream_port, const char *const *extra_args);
/* SIGINT (stop at once, no drain), bounded wait, then SIGKILL for the whole process
 * group. NULL-safe. */
void relay_stop(struct it_relay *relay);
int relay_port(const struct it_relay *relay);
pid_t relay_pid(const struct it_relay *relay);
bool relay_alive(struct it_relay *relay);
/* Wait up to timeout_ms for the relay to exit: its exit status, 128 + the signal
 * that ended it, or -1 when it still runs. */
int relay_exit_status(struct it_relay *relay, int timeout_ms);
bool relay_log_contains(struct it_relay *relay, const char *needle);
bool relay_log_wait(struct it_relay *relay, const char *needle, int timeout_ms);
/* Copy the last max_bytes of the log to stderr, to explain a failure. */
void relay_dump_log(struct it_relay *relay, size_t max_bytes);
/* Resident set of a process in KiB, or -1. */
long it_rss_kib(pid_t pid);
/* True when the relay under test carries a sanitizer runtime: this test program is an
 * ASan build (so is its relay), or the relay comes from PG_IT_BIN_DIR (the TSan pass).
 * Then its RSS says more about the runtime (quarantine, shadow) than about pixelgate,
 * and memory bounds are left to the plain build. */
bool it_relay_instrumented(void);
/* True when the relay comes from PG_IT_BIN_DIR (the TSan pass: several times slower):
 * checks of throughput ask only for progress there. */
bool it_relay_slow(void);

/* The port viewers use: a new relay's in front of host (stored in *relay), or the host's
 * own in direct mode (*relay = NULL). -1 when the relay did not start. */
int it_front_port(struct it_host *host, struct it_relay **relay, const char *const *extra_args);
/* The same for any upstream port. */
int it_front_port_for(int upstream_port, struct it_relay **relay, const char *const *extra_args);

#endif
