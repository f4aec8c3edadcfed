/* The server side of a WebSocket (RFC 6455) carrying RFB, over wslay's event API
 * with memory I/O: bytes in from the (decrypted) connection, payload out to the
 * caller, frames back. Pure, no I/O; one owning thread.
 *
 * RFB is a byte stream: received payload is appended to the caller's buffer
 * without message boundaries, and pg_ws_send may cut a buffer anywhere. Only
 * binary messages are accepted: a text message fails the connection (1003), as
 * noVNC sends binary only and text would invite base64 confusion. */
#ifndef PG_HTTP_WS_H
#define PG_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/buf.h"

#define PG_WS_MAX_MSG	      (4u << 20)  /* largest client message (1009 above) */
#define PG_WS_MAX_SEND_MSG    (64u << 10) /* pg_ws_send's messages, one frame each */
#define PG_WS_MAX_SEND_QUEUE  (8u << 20)  /* payload queued and not yet taken */
#define PG_WS_MAX_QUEUED_MSGS 256	  /* frames waiting to be taken: data and pongs */

struct pg_ws;

/* NULL when out of memory. pg_ws_del(NULL) is a no-op. */
struct pg_ws *pg_ws_new(void);
void pg_ws_del(struct pg_ws *ws);

/* Take bytes received from the client. Payload of binary messages is appended
 * to app_out, never past its cap. Returns the bytes consumed: fewer than len when
 * app_out is full, or at a ping while PG_WS_MAX_QUEUED_MSGS frames wait to be
 * taken (drain app_out or take the output, then feed the rest again); len after the client's
 * close frame (what follows it is ignored). On a violation returns PG_EPROTO
 * (1002: unmasked frame, reserved bits, unknown opcode, fragmented or oversized
 * control frame, a 64-bit length with the top bit set, bad fragmentation),
 * PG_EUNSUP (1003: text), PG_ELIMIT (1009: a message over PG_WS_MAX_MSG) or
 * PG_ENOMEM (1011), with a close frame queued: take the output, send it and
 * close the connection (pg_ws_error says why). */
ssize_t pg_ws_feed(struct pg_ws *ws, const uint8_t *p, size_t len, struct pg_buf *app_out);

/* Queue len bytes as binary messages of at most PG_WS_MAX_SEND_MSG bytes, so one
 * large update never becomes one large frame a browser must buffer whole. All
 * or nothing: 0, PG_ELIMIT when queued payload would exceed
 * PG_WS_MAX_SEND_QUEUE bytes or PG_WS_MAX_QUEUED_MSGS frames (take the output
 * first, or send in pieces), PG_EPROTO
 * once a close frame is queued, or PG_ENOMEM. */
int pg_ws_send(struct pg_ws *ws, const void *data, size_t len);

/* Move queued frames (data, pongs, close) into wire_out, up to its cap. Returns
 * the bytes appended or PG_ENOMEM. pg_ws_want_write: frames remain. */
ssize_t pg_ws_take_output(struct pg_ws *ws, struct pg_buf *wire_out);
bool pg_ws_want_write(const struct pg_ws *ws);

/* Start a close from our side (code 1000, 1001, 1008, 1011 or 3000-4999; reason
 * at most 123 bytes, may be NULL). 0, or PG_EPROTO when a close is already
 * queued or the arguments are invalid. */
int pg_ws_close(struct pg_ws *ws, unsigned code, const char *reason);

/* Finished: our close frame is in wire_out and nothing more will be read (the
 * client's close arrived, or the connection failed). Send wire_out, then close
 * the connection. */
bool pg_ws_closed(const struct pg_ws *ws);

/* Why the WebSocket is closing, a static string for the log ("" while open):
 * the violation, "closed by the client" or "closed by the relay". */
const char *pg_ws_error(const struct pg_ws *ws);

/* The status code of our close frame (1005 for an empty one): known once queued
 * by pg_ws_close or a violation pg_ws_feed named, else once taken; 0 before.
 * And the client's (0 before it arrived, 1005 when it carried none). */
unsigned pg_ws_close_code(const struct pg_ws *ws);
unsigned pg_ws_peer_close_code(const struct pg_ws *ws);

#endif
