/* The viewer side of RFB: pg_rfb_parse_version on the first 12 bytes, then
 * pg_rfb_parse_client_msg over the whole input as a stream of client messages
 * until it wants more bytes or fails. Every message must span at least one byte and
 * no more than what is left, and pointers into the input must stay inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/rfb.h"
#include "codec/rfb_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
	if (n && (p < lo || p > hi || (size_t)(hi - p) < n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int minor = 0;
	ssize_t v = pg_rfb_parse_version(data, size < 12 ? size : 12, &minor);
	if (v > 0 && (v != 12 || (minor != 3 && minor != 7 && minor != 8)))
		abort();
	if (v == 0 && size >= 12)
		abort();

	size_t off = 0;
	while (off < size) {
		struct pg_cmsg msg;
		const char *why = NULL;
		ssize_t r = pg_rfb_parse_client_msg(data + off, size - off, &msg, &why);
		if (r < 0) {
			if (!why)
				abort();
			break;
		}
		if (r == 0)
			break;
		if ((size_t)r > size - off)
			abort();
		const uint8_t *lo = data + off, *hi = data + off + r;
		switch (msg.type) {
		case PG_RFB_SET_ENCODINGS:
			inside(msg.encodings.list, (size_t)msg.encodings.count * 4, lo, hi);
			break;
		case PG_RFB_CLIENT_CUT_TEXT:
			if (msg.cut.len > PG_RFB_MAX_CUT_TEXT)
				abort();
			inside(msg.cut.text, msg.cut.len, lo, hi);
			break;
		case PG_RFB_SET_DESKTOP_SIZE:
			if (msg.desktop_size.screens > PG_RFB_MAX_SCREENS)
				abort();
			inside(msg.desktop_size.list, (size_t)msg.desktop_size.screens * 16, lo,
			       hi);
			break;
		default:
			break;
		}
		off += (size_t)r;
	}
	return 0;
}
