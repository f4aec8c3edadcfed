#include "ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "codec/err.h"

enum {
	OP_CONT = 0x0,
	OP_TEXT = 0x1,
	OP_BINARY = 0x2,
	OP_CLOSE = 0x8,
	OP_PING = 0x9,
	OP_PONG = 0xa,
};

struct pg_ws {
	wslay_event_context_ptr ctx;

	/* Memory I/O for wslay's callbacks, set for the length of one call. */
	const uint8_t *in;
	size_t in_len;
	struct pg_buf *app, *wire;
	int io_rc;	 /* an append that failed inside a callback */
	bool data_frame; /* the frame wslay delivers carries payload for app */

	/* Our own reading of the client's frame headers, one step ahead of wslay:
	 * a violation is named, and answered with its own code, before wslay sees
	 * the frame (wslay closes with an empty status on most of them). It also
	 * tells how much payload a span holds, so app's cap is never passed. */
	uint8_t hdr[14];
	size_t hdr_have, hdr_need;
	bool hdr_checked;
	bool in_payload;
	uint8_t opcode, fin;
	uint64_t left;	  /* payload of the current frame still to come */
	bool in_msg;	  /* a fragmented binary message is open */
	uint64_t msg_len; /* its payload so far */
	bool peer_closed; /* the client's close frame has been handed to wslay */

	/* A violation found by the scan, answered once wslay has had what came
	 * before it. */
	int bad_rc;
	unsigned bad_code;
	const char *bad_why;

	int rc; /* the failure, 0 while fine */
	const char *why;
	unsigned code; /* our close frame's, once queued */
};

static bool is_data(uint8_t op)
{
	return op == OP_CONT || op == OP_BINARY;
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct pg_ws *ws = user;
	if (!ws->in_len) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < ws->in_len ? len : ws->in_len;
	memcpy(buf, ws->in, n);
	ws->in += n;
	ws->in_len -= n;
	return (ssize_t)n;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
		       void *user)
{
	struct pg_ws *ws = user;
	struct pg_buf *w = ws->wire;
	size_t room = w && w->max > w->len ? w->max - w->len : 0;
	if (!room) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < room ? len : room;
	int rc = pg_buf_append(w, data, n);
	if (rc < 0) {
		ws->io_rc = rc;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)n;
}

static void on_frame_start(wslay_event_context_ptr ctx,
			   const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct pg_ws *ws = user;
	ws->data_frame = is_data(arg->opcode);
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
			   const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct pg_ws *ws = user;
	if (!ws->data_frame || !arg->data_length || ws->io_rc)
		return;
	int rc = pg_buf_append(ws->app, arg->data, arg->data_length);
	if (rc < 0)
		ws->io_rc = rc;
}

struct pg_ws *pg_ws_new(void)
{
	struct pg_ws *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	static const struct wslay_event_callbacks cb = {
	    .recv_callback = on_recv,
	    .send_callback = on_send,
	    .on_frame_recv_start_callback = on_frame_start,
	    .on_frame_recv_chunk_callback = on_frame_chunk,
	};
	if (wslay_event_context_server_init(&ws->ctx, &cb, ws) != 0) {
		free(ws);
		return NULL;
	}
	/* Payload streams straight into the caller's buffer: wslay never holds a
	 * message, nor allocates one from a length the client declared. */
	wslay_event_config_set_no_buffering(ws->ctx, 1);
	wslay_event_config_set_max_recv_msg_length(ws->ctx, PG_WS_MAX_MSG);
	ws->hdr_need = 2;
	return ws;
}

void pg_ws_del(struct pg_ws *ws)
{
	if (!ws)
		return;
	wslay_event_context_free(ws->ctx);
	free(ws);
}

static void violation(struct pg_ws *ws, int rc, unsigned code, const char *why)
{
	ws->bad_rc = rc;
	ws->bad_code = code;
	ws->bad_why = why;
}

/* The first two bytes of a header: everything but the length's value. */
static bool check_start(struct pg_ws *ws)
{
	uint8_t b0 = ws->hdr[0], b1 = ws->hdr[1];
	uint8_t op = b0 & 0x0f, len7 = b1 & 0x7f;
	bool fin = b0 & 0x80;
	if (b0 & 0x70)
		violation(ws, PG_EPROTO, 1002, "reserved bits set (no extension was negotiated)");
	else if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY && op != OP_CLOSE &&
		 op != OP_PING && op != OP_PONG)
		violation(ws, PG_EPROTO, 1002, "unknown opcode");
	else if (!(b1 & 0x80))
		violation(ws, PG_EPROTO, 1002, "unmasked client frame");
	else if ((op & 0x8) && !fin)
		violation(ws, PG_EPROTO, 1002, "fragmented control frame");
	else if ((op & 0x8) && len7 > 125)
		violation(ws, PG_EPROTO, 1002, "control frame over 125 bytes");
	else if (op == OP_TEXT)
		violation(ws, PG_EUNSUP, 1003, "text message (binary only)");
	else if (op == OP_CONT && !ws->in_msg)
		violation(ws, PG_EPROTO, 1002, "continuation frame without a message");
	else if (op == OP_BINARY && ws->in_msg)
		violation(ws, PG_EPROTO, 1002, "new message inside a fragmented one");
	if (ws->bad_rc)
		return false;
	ws->opcode = op;
	ws->fin = fin;
	ws->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	ws->hdr_checked = true;
	return true;
}

static void end_frame(struct pg_ws *ws)
{
	ws->in_payload = false;
	if (ws->opcode == OP_CLOSE)
		ws->peer_closed = true;
	else if (is_data(ws->opcode) && ws->fin) {
		ws->in_msg = false;
		ws->msg_len = 0;
	}
}

/* The whole header is in: its length. */
static bool check_header(struct pg_ws *ws)
{
	const uint8_t *h = ws->hdr;
	uint64_t plen = h[1] & 0x7f;
	if (plen == 126) {
		plen = (uint64_t)h[2] << 8 | h[3];
		if (plen < 126)
			violation(ws, PG_EPROTO, 1002, "length not in its shortest form");
	} else if (plen == 127) {
		plen = 0;
		for (int i = 2; i < 10; i++)
			plen = plen << 8 | h[i];
		if (plen >> 63)
			violation(ws, PG_EPROTO, 1002, "64-bit length with the top bit set");
		else if (plen < 65536)
			violation(ws, PG_EPROTO, 1002, "length not in its shortest form");
	}
	if (!ws->bad_rc && ws->opcode == OP_CLOSE && plen == 1)
		violation(ws, PG_EPROTO, 1002, "close frame of one byte");
	if (!ws->bad_rc && is_data(ws->opcode) && plen > PG_WS_MAX_MSG - ws->msg_len)
		violation(ws, PG_ELIMIT, 1009, "message over 4 MiB");
	if (ws->bad_rc)
		return false;
	if (is_data(ws->opcode)) {
		ws->msg_len += plen;
		ws->in_msg = !ws->fin;
	}
	ws->left = plen;
	ws->hdr_have = 0;
	ws->hdr_need = 2;
	ws->hdr_checked = false;
	ws->in_payload = true;
	if (!plen)
		end_frame(ws);
	return true;
}

/* Walk p as far as it may go: up to room bytes of data payload, no ping while
 * the output queue is full, nothing after a close frame or a violation.
 * Returns the bytes walked; *give is how many wslay gets (all of them, or on a
 * violation those before the offending frame). */
static size_t scan(struct pg_ws *ws, const uint8_t *p, size_t len, size_t room, size_t *give)
{
	size_t pos = 0, frame_start = 0, pings = 0;
	size_t queued = wslay_event_get_queued_msg_count(ws->ctx);
	while (pos < len && !ws->peer_closed) {
		if (ws->in_payload) {
			uint64_t n = ws->left < len - pos ? ws->left : len - pos;
			if (is_data(ws->opcode)) {
				n = n < room ? n : room;
				room -= n;
			}
			if (!n)
				break;
			pos += n;
			ws->left -= n;
			if (!ws->left)
				end_frame(ws);
			continue;
		}
		if (!ws->hdr_have) {
			frame_start = pos;
			if ((p[pos] & 0x0f) == OP_PING && queued + pings >= PG_WS_MAX_QUEUED_MSGS)
				break;
		}
		size_t take = ws->hdr_need - ws->hdr_have;
		take = take < len - pos ? take : len - pos;
		memcpy(ws->hdr + ws->hdr_have, p + pos, take);
		ws->hdr_have += take;
		pos += take;
		if (ws->hdr_have < 2)
			continue;
		if (!ws->hdr_checked && !check_start(ws))
			break;
		if (ws->hdr_have < ws->hdr_need)
			continue;
		if (!check_header(ws))
			break;
		if (ws->opcode == OP_PING)
			pings++;
	}
	*give = ws->bad_rc ? frame_start : pos;
	return pos;
}

static void fail(struct pg_ws *ws, int rc, unsigned code, const char *why)
{
	if (ws->rc)
		return;
	ws->rc = rc;
	ws->why = why;
	/* The reason goes to the client too: it names the rule, nothing more. */
	if (wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)why,
				    strlen(why) > 123 ? 123 : strlen(why)) == 0)
		ws->code = code;
	wslay_event_shutdown_read(ws->ctx);
}

ssize_t pg_ws_feed(struct pg_ws *ws, const uint8_t *p, size_t len, struct pg_buf *app_out)
{
	if (ws->rc)
		return ws->rc;
	if (ws->peer_closed || !wslay_event_get_read_enabled(ws->ctx))
		return (ssize_t)len;
	size_t give = 0;
	size_t room = app_out->max > app_out->len ? app_out->max - app_out->len : 0;
	size_t used = scan(ws, p, len, room, &give);
	if (give) {
		ws->in = p;
		ws->in_len = give;
		ws->app = app_out;
		ws->io_rc = 0;
		int r = wslay_event_recv(ws->ctx);
		ws->in = NULL;
		ws->in_len = 0;
		ws->app = NULL;
		if (ws->io_rc)
			fail(ws, ws->io_rc, 1011, "out of memory");
		else if (r == WSLAY_ERR_NOMEM)
			fail(ws, PG_ENOMEM, 1011, "out of memory");
		else if (r < 0)
			fail(ws, PG_EPROTO, 1002, "WebSocket protocol error");
	}
	if (ws->bad_rc)
		fail(ws, ws->bad_rc, ws->bad_code, ws->bad_why);
	if (!ws->rc && wslay_event_get_close_received(ws->ctx)) {
		if (!ws->why)
			ws->why = "closed by the client";
		/* wslay answers with the client's own status. */
		if (!ws->code) {
			uint16_t c = wslay_event_get_status_code_received(ws->ctx);
			ws->code = c == 0 ? 1005 : c;
		}
	} else if (!ws->rc && !wslay_event_get_read_enabled(ws->ctx)) {
		/* wslay refused what the scan let through: a close frame's status
		 * code or reason (it has queued 1002 or 1007 itself). */
		ws->rc = PG_EPROTO;
		ws->why = "invalid close frame";
	}
	if (ws->rc)
		return ws->rc;
	return ws->peer_closed ? (ssize_t)len : (ssize_t)used;
}

int pg_ws_send(struct pg_ws *ws, const void *data, size_t len)
{
	if (ws->rc || !wslay_event_get_write_enabled(ws->ctx) || ws->code)
		return PG_EPROTO;
	size_t msgs = len / PG_WS_MAX_SEND_MSG + (len % PG_WS_MAX_SEND_MSG != 0);
	size_t qlen = wslay_event_get_queued_msg_length(ws->ctx);
	size_t qn = wslay_event_get_queued_msg_count(ws->ctx);
	/* Pongs count too, so either may already stand a little over its cap. */
	if (qlen > PG_WS_MAX_SEND_QUEUE || len > PG_WS_MAX_SEND_QUEUE - qlen ||
	    qn > PG_WS_MAX_QUEUED_MSGS || msgs > PG_WS_MAX_QUEUED_MSGS - qn)
		return PG_ELIMIT;
	const uint8_t *p = data;
	for (size_t off = 0; off < len; off += PG_WS_MAX_SEND_MSG) {
		size_t n = len - off < PG_WS_MAX_SEND_MSG ? len - off : PG_WS_MAX_SEND_MSG;
		struct wslay_event_msg m = {OP_BINARY, p + off, n};
		int r = wslay_event_queue_msg(ws->ctx, &m);
		if (r == WSLAY_ERR_NOMEM)
			return PG_ENOMEM;
		if (r)
			return PG_EPROTO;
	}
	return 0;
}

ssize_t pg_ws_take_output(struct pg_ws *ws, struct pg_buf *wire_out)
{
	size_t before = wire_out->len;
	ws->wire = wire_out;
	ws->io_rc = 0;
	int r = wslay_event_send(ws->ctx);
	ws->wire = NULL;
	if (ws->io_rc)
		return ws->io_rc;
	if (r == WSLAY_ERR_NOMEM)
		return PG_ENOMEM;
	if (r < 0)
		return PG_EPROTO;
	return (ssize_t)(wire_out->len - before);
}

bool pg_ws_want_write(const struct pg_ws *ws)
{
	return wslay_event_want_write(ws->ctx);
}

int pg_ws_close(struct pg_ws *ws, unsigned code, const char *reason)
{
	size_t rl = reason ? strlen(reason) : 0;
	bool valid = code == 1000 || code == 1001 || code == 1008 || code == 1011 ||
		     (code >= 3000 && code <= 4999);
	if (!valid || rl > 123 || ws->code || ws->rc)
		return PG_EPROTO;
	if (wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)reason, rl) != 0)
		return PG_EPROTO;
	ws->code = code;
	if (!ws->why)
		ws->why = "closed by the relay";
	return 0;
}

bool pg_ws_closed(const struct pg_ws *ws)
{
	return wslay_event_get_close_sent(ws->ctx) && !wslay_event_get_read_enabled(ws->ctx);
}

const char *pg_ws_error(const struct pg_ws *ws)
{
	return ws->why ? ws->why : "";
}

unsigned pg_ws_close_code(const struct pg_ws *ws)
{
	if (wslay_event_get_close_sent(ws->ctx))
		return wslay_event_get_status_code_sent(ws->ctx);
	return ws->code;
}

unsigned pg_ws_peer_close_code(const struct pg_ws *ws)
{
	if (!wslay_event_get_close_received(ws->ctx))
		return 0;
	return wslay_event_get_status_code_received(ws->ctx);
}
