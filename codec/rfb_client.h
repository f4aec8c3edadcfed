/* pixelgate as an RFB client of a browser host: handshake (3.3, 3.7, 3.8; security
 * None or VNC authentication here, other types such as VeNCrypt run by the caller
 * through the security callback), then server messages. A pure, incremental state
 * machine: the caller feeds bytes read from the socket and sends what
 * pg_rfb_client_output() holds. Runs only in the upstream worker process.
 *
 * Events come out through callbacks, called from inside pg_rfb_client_feed. */
#ifndef PG_CODEC_RFB_CLIENT_H
#define PG_CODEC_RFB_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "fb.h"

struct pg_rfb_client;

struct pg_rfb_client_cb {
	void *ud;
	/* The host's framebuffer is w x h (at ServerInit and on every resize). Fill *fb
	 * with a zeroed framebuffer of that size that the decoders write into, valid
	 * until the next call; return 0 or negative to fail the connection. */
	int (*resize)(void *ud, int w, int h, struct pg_fb *fb);
	/* The pixels of r changed (already decoded into fb). */
	void (*damage)(void *ud, const struct pg_rect *r);
	/* dst now holds what was at (src_x, src_y) (already applied to fb). */
	void (*copy)(void *ud, const struct pg_rect *dst, int src_x, int src_y);
	/* A FramebufferUpdate ended. */
	void (*update_end)(void *ud);
	/* New cursor shape: w x h canonical pixels and an RFB bitmask ((w+7)/8 bytes a
	 * row); w or h 0 for an invisible cursor. Pointers valid during the call. */
	void (*cursor)(void *ud, int hot_x, int hot_y, int w, int h, const uint32_t *px,
		       const uint8_t *mask);
	void (*bell)(void *ud);
	/* ServerCutText: len bytes of Latin-1, at most PG_RFB_MAX_CUT_TEXT. */
	void (*cut_text)(void *ud, const uint8_t *text, size_t len);
	/* Optional: an Extended Clipboard ServerCutText (negative length), its payload
	 * unparsed (pg_xclip_parse in codec/clipboard.h reads it): the flags word and
	 * what follows, 4 <= len <= PG_RFB_MAX_CUT_TEXT. Without it they are skipped. */
	void (*ext_clipboard)(void *ud, const uint8_t *payload, size_t len);
	/* Desktop name from ServerInit, raw bytes, at most PG_RFB_MAX_NAME. */
	void (*name)(void *ud, const uint8_t *name, size_t len);
	/* VNC authentication: encrypt the 16-byte challenge with the password (DES).
	 * Return 0, or negative when no password is configured. */
	int (*vnc_auth)(void *ud, const uint8_t challenge[16], uint8_t response[16]);
	/* Optional: choose among the n security types the host offers (a 3.3 host's
	 * single choice comes as a list of one). Return the type to use, 0 to choose as
	 * without this callback (None, else VNC), or negative to fail the connection.
	 * None and VNC run here; any other type (3.7 and 3.8 only) is run by the caller,
	 * see pg_rfb_client_external. */
	int (*security)(void *ud, const uint8_t *types, size_t n);
	/* Optional: the host answered our SetDesktopSize (an ExtendedDesktopSize
	 * rectangle with reason 1): status 0 (done; the new size comes through resize
	 * first), 1 prohibited, 2 out of resources, 3 invalid screen layout; any other
	 * value the host sends is passed on as it is, for the caller to judge. */
	void (*size_result)(void *ud, unsigned status);
};

struct pg_rfb_client *pg_rfb_client_new(const struct pg_rfb_client_cb *cb);
void pg_rfb_client_del(struct pg_rfb_client *c);

/* What a browser host may ask of the worker. Each bounds memory or work that a few
 * bytes from the host could otherwise claim; going over one is an error
 * (PG_ELIMIT) whose message names the limit. */
struct pg_rfb_client_limits {
	/* Framebuffer sides, at ServerInit and on every resize; default 3840x2160,
	 * at most PG_FB_MAX_SIDE. */
	int max_width, max_height;
	/* Rectangles in one FramebufferUpdate, pseudo-rectangles included, also when
	 * the update announces 65535 and ends with LastRect; default 10000, at most
	 * PG_RFB_MAX_RECTS. */
	unsigned max_rects;
	/* Cursor shape width and height; default 256, at most PG_RFB_MAX_CURSOR_SIDE. */
	int max_cursor_side;
};

#define PG_RFB_CLIENT_MAX_WIDTH	      3840
#define PG_RFB_CLIENT_MAX_HEIGHT      2160
#define PG_RFB_CLIENT_MAX_RECTS	      10000
#define PG_RFB_CLIENT_MAX_CURSOR_SIDE 256

/* Set the limits before feeding any byte. A zero field keeps its default; a value
 * over the hard maximum above is taken as that maximum. */
void pg_rfb_client_set_limits(struct pg_rfb_client *c, const struct pg_rfb_client_limits *l);

/* Feed bytes read from the host. Returns bytes consumed (may be fewer than len;
 * call again with the rest after reading more), or a negative PG_E code after which
 * the connection is dead; pg_rfb_client_error() says why. */
ssize_t pg_rfb_client_feed(struct pg_rfb_client *c, const uint8_t *buf, size_t len);
const char *pg_rfb_client_error(const struct pg_rfb_client *c);
/* True once ServerInit was received and the initial requests were queued. */
int pg_rfb_client_ready(const struct pg_rfb_client *c);

/* The security type the caller runs itself (chosen by the security callback), from
 * the moment it is chosen (its byte is then the last in the output, still to be
 * sent in clear) until pg_rfb_client_external_done; 0 otherwise. Meanwhile
 * pg_rfb_client_feed consumes nothing: the host's bytes belong to the caller. */
int pg_rfb_client_external(const struct pg_rfb_client *c);
/* The caller's security layer is in place (for VeNCrypt: TLS established) and RFB
 * continues inside it, with a VNC authentication challenge when vnc_auth (VeNCrypt
 * X509Vnc, TLSVnc), else with the SecurityResult. The caller now carries the
 * output and the fed bytes through its layer. 0, or PG_EPROTO when no external
 * type was running. */
int pg_rfb_client_external_done(struct pg_rfb_client *c, int vnc_auth);

/* After ServerInit the client queues SetPixelFormat (canonical), SetEncodings (only
 * what the decoders handle, the Extended Clipboard and QEMU Extended Key Event) and
 * a full FramebufferUpdateRequest; after each FramebufferUpdate it queues an
 * incremental request for the whole screen (when the update begins, if pipelined).
 *
 * Fence and ContinuousUpdates (TigerVNC's) are not in the default list; with both
 * listed (pg_rfb_client_set_encodings), Fence requests are answered with their
 * payload, and a host that announces continuous updates (EndOfContinuousUpdates)
 * gets EnableContinuousUpdates for the whole framebuffer once the first update
 * ended, again after every resize, and no more incremental requests: it sends as
 * its congestion control allows. A host that ends them gets requests again, for
 * good. Unlisted, both messages are read and ignored.
 *
 * Bytes waiting to be written to the host; the caller consumes what it wrote. Once
 * ready, the caller may also append whole client messages of its own: the Extended
 * Clipboard builders of codec/clipboard.h (to_viewer false) write straight here. */
struct pg_buf *pg_rfb_client_output(struct pg_rfb_client *c);

/* Queue messages to the host (ignored before ready). Each returns 0 or PG_E code. */
int pg_rfb_client_key(struct pg_rfb_client *c, int down, uint32_t keysym);
/* A key with the physical key's keycode (XT scancode, 0xe0-prefixed as 0x80 | code;
 * 0 for none): a QEMU extended key event once the host acknowledged them (see
 * pg_rfb_client_qemu_key) and keycode is in 1..PG_RFB_MAX_KEYCODE, else a plain
 * KeyEvent with keysym, or nothing when keysym is 0 too. */
int pg_rfb_client_key_code(struct pg_rfb_client *c, int down, uint32_t keysym, uint32_t keycode);
/* True once the host sent the QEMU Extended Key Event pseudo-rectangle. */
int pg_rfb_client_qemu_key(const struct pg_rfb_client *c);
int pg_rfb_client_pointer(struct pg_rfb_client *c, uint8_t mask, int x, int y);
int pg_rfb_client_request(struct pg_rfb_client *c, int incremental);
/* True while continuous updates are on (EnableContinuousUpdates sent). */
int pg_rfb_client_continuous(const struct pg_rfb_client *c);
/* Without continuous updates, request the next update as soon as one begins, as
 * TigerVNC's viewer does, so the host encodes it while this one is decoded; off by
 * default (the request follows the update's end). */
void pg_rfb_client_set_pipelined(struct pg_rfb_client *c, int on);
/* True once the host sent an ExtendedDesktopSize rectangle (it does, after we list
 * the encoding, with its screen layout): it takes SetDesktopSize. */
int pg_rfb_client_ext_desktop(const struct pg_rfb_client *c);
/* Ask the host for a w x h screen (SetDesktopSize with one screen: the host's first
 * screen id and flags, at 0,0). 0; PG_EUNSUP before ready or when the host never
 * announced ExtendedDesktopSize (nothing queued); PG_ELIMIT for a size outside
 * 1..the limits (pg_rfb_client_set_limits) or a full output; PG_ENOMEM. The answer comes through
 * the size_result callback. */
int pg_rfb_client_set_desktop_size(struct pg_rfb_client *c, int w, int h);
/* Legacy ClientCutText: len bytes of Latin-1 with LF line ends, sent as they are.
 * 0; PG_EUNSUP before ready (nothing queued); PG_ELIMIT over PG_RFB_MAX_CUT_TEXT or
 * when the output is full; PG_ENOMEM. */
int pg_rfb_client_cut_text(struct pg_rfb_client *c, const uint8_t *latin1, size_t len);

/* Replace the SetEncodings list (at most PG_RFB_MAX_ENCODINGS) before ServerInit;
 * for tests that force one encoding. PG_EUNSUP once ready. Rectangles in encodings
 * not on the list (Raw excepted, as RFB requires) are errors. */
int pg_rfb_client_set_encodings(struct pg_rfb_client *c, const int32_t *list, size_t n);
/* The framebuffer decoders write into: the last one the resize callback gave, or,
 * with no resize callback, one the client allocates and owns. Empty before ServerInit. */
const struct pg_fb *pg_rfb_client_fb(const struct pg_rfb_client *c);

#endif
