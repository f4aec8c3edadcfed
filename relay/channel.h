/* The channel between the main process and an upstream worker: a SOCK_SEQPACKET
 * socketpair carrying fixed-format messages, one per packet. Pixels travel through a
 * shared memory framebuffer whose file descriptor rides along with PG_CHAN_RESIZE.
 *
 * Every message has a fixed size per type (text-carrying ones a fixed maximum), and
 * pg_chan_recv checks the packet's size against its type before anyone looks at it:
 * the main process trusts nothing the worker says beyond these shapes. */
#ifndef PG_RELAY_CHANNEL_H
#define PG_RELAY_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define PG_CHAN_CURSOR_SIDE 128 /* larger cursors are cropped by the worker */
#define PG_CHAN_TEXT	    256 /* desktop name and error text, bytes */
#define PG_CHAN_PASSWORD    128
/* Clipboard text in one message, bytes. Larger text never crosses the channel: the
 * worker reports its size only (PG_CHAN_CLIP_DROPPED). */
#define PG_CHAN_CLIP_MAX (64u << 10)

enum pg_chan_type {
	/* main -> worker */
	PG_CHAN_START = 1,    /* where to connect and how to log in */
	PG_CHAN_KEY,	      /* a key event from a viewer */
	PG_CHAN_POINTER,      /* a pointer event from a viewer */
	PG_CHAN_REFRESH,      /* ask the host for a full update */
	PG_CHAN_UPDATE_ACK,   /* main copied the pixels of the last update; go on */
	PG_CHAN_CLIP_TO_HOST, /* clipboard text the policy let through to the browser host */
	PG_CHAN_PING,	      /* are you making progress? answered by PG_CHAN_PONG */
	PG_CHAN_SET_SIZE,     /* a viewer asks for this screen size; one at a time */
	/* worker -> main */
	PG_CHAN_CONNECTED = 32, /* handshake done; name follows in PG_CHAN_NAME */
	PG_CHAN_RESIZE,		/* new framebuffer size; carries the shared memory fd */
	PG_CHAN_DAMAGE,		/* these pixels changed in shared memory */
	PG_CHAN_UPDATE_END,	/* an update is complete; worker waits for UPDATE_ACK */
	PG_CHAN_CURSOR,		/* new cursor shape */
	PG_CHAN_BELL,
	PG_CHAN_NAME,		/* the host's desktop name, raw bytes */
	PG_CHAN_ERROR,		/* why the worker is about to exit */
	PG_CHAN_CLIP_FROM_HOST, /* the host's clipboard text, for the policy to judge */
	PG_CHAN_CLIP_CAPS,	/* what clipboard the host speaks (after its caps) */
	PG_CHAN_CLIP_DROPPED,	/* the host offered what never crosses; only its size */
	PG_CHAN_PONG,		/* the answer to PG_CHAN_PING, echoing its sequence */
	PG_CHAN_LOG,		/* a line for the relay's log (the worker has no stderr) */
	PG_CHAN_COPY,		/* these pixels moved in shared memory; before any DAMAGE */
	PG_CHAN_SIZE_RESULT,	/* the answer to PG_CHAN_SET_SIZE (after its RESIZE) */
};

enum pg_chan_tls {
	PG_CHAN_TLS_NONE = 0, /* whatever the host offers of None and VNC authentication */
	PG_CHAN_TLS_X509 = 1, /* VeNCrypt with a certificate checked by ca_file and/or pin */
};

struct pg_chan_start {
	char host[256];
	uint16_t port;
	char password[PG_CHAN_PASSWORD]; /* empty: none configured */
	uint8_t tls;			 /* enum pg_chan_tls */
	char ca_file[1024];		 /* read by the worker before it connects; may be empty */
	char pin_sha256[128];		 /* hex, colons allowed; may be empty */
	uint8_t debug; /* 1: the worker may write debug lines to stderr (never key values) */
	/* Caps on what the host may make the worker do, and its sandbox (relay.h) */
	uint16_t max_width, max_height;
	uint32_t update_timeout_ms;
	uint32_t uid, gid;
	uint32_t memory_mib;
	uint32_t cpu_seconds;
	int32_t encoding; /* asked of the host first: PG_ENC_TIGHT, PG_ENC_ZRLE or PG_ENC_RAW */
};

struct pg_chan_key {
	uint32_t keysym;  /* may be 0 when keycode says which key */
	uint32_t keycode; /* XT scancode from a QEMU extended key event; 0: none */
	uint8_t down;
};

struct pg_chan_pointer {
	uint16_t x, y;
	uint8_t mask;
};

struct pg_chan_size {
	uint16_t w, h;
};

/* The host's answer to SetDesktopSize, or the worker's own refusal (a host without
 * ExtendedDesktopSize: 1). RFB's status: 0 done, 1 prohibited, 2 out of resources,
 * 3 invalid screen layout; the main process treats anything else as misbehaviour. */
struct pg_chan_size_result {
	uint8_t status;
};

struct pg_chan_rect {
	uint16_t x, y, w, h;
};

/* At most one per update, before its PG_CHAN_DAMAGE: the pixels at (src_x, src_y)
 * moved to the destination (x, y, w, h), overlapping allowed, as a CopyRect. */
struct pg_chan_copy {
	uint16_t x, y, w, h;
	uint16_t src_x, src_y;
};

struct pg_chan_cursor {
	uint16_t hot_x, hot_y, w, h;
	uint32_t px[PG_CHAN_CURSOR_SIDE * PG_CHAN_CURSOR_SIDE];
	uint8_t mask[PG_CHAN_CURSOR_SIDE / 8 * PG_CHAN_CURSOR_SIDE];
};

struct pg_chan_text {
	uint16_t len;
	uint8_t bytes[PG_CHAN_TEXT];
};

/* Clipboard text in the relay's internal form: LF line ends, no NUL. The worker
 * converts to and from the wire (CRLF for the Extended Clipboard); whatever it sends
 * up is judged by the main process all the same (UTF-8 validity, policy). */
enum pg_chan_clip_format {
	PG_CHAN_CLIP_UTF8 = 1,	 /* Extended Clipboard text */
	PG_CHAN_CLIP_LATIN1 = 2, /* legacy cut text */
};

struct pg_chan_clip {
	uint8_t format; /* enum pg_chan_clip_format */
	uint32_t len;	/* <= PG_CHAN_CLIP_MAX; the receiver checks */
	uint8_t bytes[PG_CHAN_CLIP_MAX];
};

struct pg_chan_clip_caps {
	uint8_t extended; /* 1: the host speaks the Extended Clipboard (UTF-8 text) */
};

enum pg_chan_clip_drop {
	PG_CHAN_DROP_TOO_LARGE = 1, /* text over PG_CHAN_CLIP_MAX */
	PG_CHAN_DROP_FORMATS,	    /* RTF, HTML, DIB or Files: never requested, never sent */
	PG_CHAN_DROP_MALFORMED,	    /* an Extended Clipboard message that did not parse */
};

struct pg_chan_clip_dropped {
	uint8_t why;	  /* enum pg_chan_clip_drop */
	uint32_t bytes;	  /* as declared by the host */
	uint32_t formats; /* PG_XCLIP_* format bits the host offered, for the audit */
};

struct pg_chan_ping {
	uint32_t seq;
	/* In a PONG: bytes read from and written to the browser host's socket (TLS
	 * included) since the worker started; 0 in a PING. For /metrics only. */
	uint64_t up_in, up_out;
};

enum pg_chan_log_level {
	PG_CHAN_LOG_DEBUG = 0, /* only sent when PG_CHAN_START's debug is set */
	PG_CHAN_LOG_WARN = 1,
};

/* The main process escapes the text, prefixes the session and rate-limits it: a
 * worker cannot forge or flood the relay's log. */
struct pg_chan_log {
	uint8_t level; /* enum pg_chan_log_level */
	uint16_t len;
	uint8_t bytes[PG_CHAN_TEXT];
};

struct pg_chan_msg {
	uint32_t type;
	union {
		struct pg_chan_ping ping;
		struct pg_chan_log log;
		struct pg_chan_start start;
		struct pg_chan_key key;
		struct pg_chan_pointer pointer;
		struct pg_chan_size size;
		struct pg_chan_size_result size_result;
		struct pg_chan_rect rect;
		struct pg_chan_copy copy;
		struct pg_chan_cursor cursor;
		struct pg_chan_text text;
		struct pg_chan_clip clip;
		struct pg_chan_clip_caps clip_caps;
		struct pg_chan_clip_dropped clip_dropped;
	} u;
};

/* Send one message (and fd when >= 0). Blocks only as a SEQPACKET send does.
 * Returns 0 or -errno. */
int pg_chan_send(int sock, const struct pg_chan_msg *msg, int fd);
/* Receive one message. Returns 1 with *msg filled (and *fd set to a received fd or
 * -1), 0 on end of stream, -EAGAIN when nothing is waiting (non-blocking socket),
 * or another -errno; -EPROTO for a packet whose size does not match its type. */
int pg_chan_recv(int sock, struct pg_chan_msg *msg, int *fd);
const char *pg_chan_type_name(uint32_t type);

#endif
