/* pixelgate as an RFB server to viewers: the pieces of the handshake and a pure
 * parser of client messages. Runs in the main process on bytes from the LGWAN side.
 * Stateless: the caller keeps its input buffer and calls again with more bytes. */
#ifndef PG_CODEC_RFB_SERVER_H
#define PG_CODEC_RFB_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "pixfmt.h"

/* Parse the 12-byte ProtocolVersion a viewer sent. Returns 12 and sets *minor to
 * 3, 7 or 8 (other 3.x versions are treated as 3.3, as the spec asks; 3.889 Apple is
 * treated as 3.8); 0 when fewer than 12 bytes; PG_EPROTO when it is not "RFB xxx.yyy\n". */
ssize_t pg_rfb_parse_version(const uint8_t *buf, size_t len, int *minor);

/* ServerInit: width, height, canonical pixel format, name (sanitized by the caller). */
int pg_rfb_write_server_init(struct pg_buf *out, int w, int h, const char *name, size_t len);

struct pg_cmsg {
	uint8_t type; /* PG_RFB_* client message type */
	union {
		struct pg_pixfmt pixfmt; /* SetPixelFormat, not yet validated */
		struct {
			uint16_t count;
			const uint8_t *list; /* count big-endian s32, pointing into buf */
		} encodings;
		struct {
			uint8_t incremental;
			uint16_t x, y, w, h;
		} fbreq;
		struct {
			uint8_t down;
			uint32_t keysym;
		} key;
		/* QEMU extended key event (type PG_RFB_QEMU, subtype 0), values as sent:
		 * keysym may be 0 (the keycode alone says which key), keycode any u32
		 * (meaningful only in 1..PG_RFB_MAX_KEYCODE). */
		struct {
			uint8_t down; /* the u16 down-flag, as 0 or 1 */
			uint32_t keysym;
			uint32_t keycode; /* XT scancode, 0xe0-prefixed as 0x80 | code */
		} qemu_key;
		struct {
			uint8_t mask;
			uint16_t x, y;
		} pointer;
		struct {
			uint32_t len;	     /* bytes at text, at most PG_RFB_MAX_CUT_TEXT */
			int extended;	     /* the length was negative (Extended Clipboard) */
			const uint8_t *text; /* pointing into buf */
		} cut;
		/* EnableContinuousUpdates: the area as sent, not yet clipped. */
		struct {
			uint8_t enable;
			uint16_t x, y, w, h;
		} cu;
		struct {
			uint32_t flags;		/* PG_RFB_FENCE_* */
			uint8_t len;		/* at most PG_RFB_MAX_FENCE */
			const uint8_t *payload; /* pointing into buf */
		} fence;
		struct {
			uint16_t w, h;
			uint8_t screens;     /* count, at most PG_RFB_MAX_SCREENS */
			const uint8_t *list; /* screens * 16 bytes of SCREEN, pointing into buf */
		} desktop_size;
	};
};

/* Parse one client message from buf. Returns the bytes it spans (> 0) with *msg
 * filled (pointers into buf); 0 when buf holds only part of it; a negative PG_E
 * code with *why a static string for an unknown type or a declared length over its
 * limit. Accepts types 0, 2, 3, 4, 5, 6, 150 (EnableContinuousUpdates), 248 (Fence),
 * 251 (SetDesktopSize) and 255 (QEMU) with subtype 0 (extended key event); any other
 * QEMU subtype is unknown (PG_EUNSUP). A Fence payload over PG_RFB_MAX_FENCE is
 * PG_ELIMIT, refused from its header. */
ssize_t pg_rfb_parse_client_msg(const uint8_t *buf, size_t len, struct pg_cmsg *msg,
				const char **why);

/* Server messages other than FramebufferUpdate (see encoder.h for that). */
int pg_rfb_write_bell(struct pg_buf *out);
/* A server Fence: flags, and len (at most PG_RFB_MAX_FENCE) bytes of payload. */
int pg_rfb_write_fence(struct pg_buf *out, uint32_t flags, const uint8_t *payload, size_t len);
int pg_rfb_write_end_of_cu(struct pg_buf *out);

#endif
