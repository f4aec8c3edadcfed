/* pg_ws_feed on arbitrary client bytes, with a small application buffer and a
 * small wire buffer so back-pressure is exercised: no crash, no buffer over its
 * cap, no livelock, and every frame sent back is a valid server frame. The
 * first two bytes choose the application buffer's cap and the feed size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/buf.h"
#include "http/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk the server frames in w; abort on a malformed one. Returns bytes used. */
static size_t check_frames(const uint8_t *w, size_t len)
{
	size_t off = 0;
	while (len - off >= 2) {
		const uint8_t *p = w + off;
		if ((p[0] & 0x70) || (p[1] & 0x80))
			abort();
		uint64_t n = p[1] & 0x7f;
		size_t h = 2;
		if (n == 126) {
			if (len - off < 4)
				break;
			n = (uint64_t)p[2] << 8 | p[3];
			h = 4;
		} else if (n == 127) {
			if (len - off < 10)
				break;
			n = 0;
			for (int i = 2; i < 10; i++)
				n = n << 8 | p[i];
			h = 10;
		}
		uint8_t op = p[0] & 0xf;
		if ((op & 8) && n > 125)
			abort();
		if (op != 0x2 && op != 0x8 && op != 0xa)
			abort();
		if (n > PG_WS_MAX_SEND_MSG)
			abort();
		if (len - off - h < n)
			break;
		off += h + (size_t)n;
	}
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t app_max = 1 + (size_t)data[0] * 97, chunk = 1 + data[1];
	data += 2;
	size -= 2;
	struct pg_ws *ws = pg_ws_new();
	if (!ws)
		return 0;
	struct pg_buf app, wire;
	pg_buf_init(&app, app_max);
	pg_buf_init(&wire, 4096);
	size_t off = 0, stalled = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t r = pg_ws_feed(ws, data + off, n, &app);
		if (r < 0)
			break;
		if ((size_t)r > n || app.len > app.max)
			abort();
		off += (size_t)r;
		/* Two stalls in a row with both buffers drained is a livelock. */
		stalled = r == 0 ? stalled + 1 : 0;
		if (stalled > 2)
			abort();
		pg_buf_reset(&app);
		/* Interleave sends; a full queue (PG_ELIMIT) is fine. */
		if (data[off % size] & 1)
			(void)pg_ws_send(ws, data, off % 200);
		if (pg_ws_take_output(ws, &wire) < 0)
			abort();
		size_t used = check_frames(wire.data, wire.len);
		pg_buf_consume(&wire, used);
	}
	while (pg_ws_want_write(ws)) {
		if (pg_ws_take_output(ws, &wire) < 0)
			abort();
		pg_buf_consume(&wire, check_frames(wire.data, wire.len));
	}
	if (wire.len)
		abort(); /* a partial frame left over */
	pg_buf_free(&app);
	pg_buf_free(&wire);
	pg_ws_del(ws);
	return 0;
}
