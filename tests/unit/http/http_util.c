#include "http_util.h"

#include <criterion/criterion.h>
#include <string.h>

const char pgx_ws_request[] = "GET /websockify HTTP/1.1\r\n"
			      "Host: relay.example:8443\r\n"
			      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n"
			      "Upgrade: websocket\r\n"
			      "Connection: Upgrade\r\n"
			      "Origin: https://relay.example:8443\r\n"
			      "Sec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			      "Sec-WebSocket-Protocol: binary\r\n"
			      "\r\n";

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

void pgx_ws_frame(struct pg_buf *b, bool fin, uint8_t rsv, uint8_t op, bool mask,
		  const void *payload, size_t len)
{
	cr_assert_eq(pg_buf_put_u8(b, (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (op & 0xf))),
		     0);
	uint8_t m = mask ? 0x80 : 0;
	if (len < 126) {
		cr_assert_eq(pg_buf_put_u8(b, m | (uint8_t)len), 0);
	} else if (len < 65536) {
		cr_assert_eq(pg_buf_put_u8(b, m | 126), 0);
		cr_assert_eq(pg_buf_put_u16(b, (uint16_t)len), 0);
	} else {
		cr_assert_eq(pg_buf_put_u8(b, m | 127), 0);
		cr_assert_eq(pg_buf_put_u32(b, (uint32_t)((uint64_t)len >> 32)), 0);
		cr_assert_eq(pg_buf_put_u32(b, (uint32_t)len), 0);
	}
	if (mask)
		cr_assert_eq(pg_buf_append(b, key, 4), 0);
	const uint8_t *p = payload;
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(pg_buf_put_u8(b, mask ? p[i] ^ key[i % 4] : p[i]), 0);
}

void pgx_ws_header64(struct pg_buf *b, bool fin, uint8_t op, uint64_t len)
{
	cr_assert_eq(pg_buf_put_u8(b, (uint8_t)((fin ? 0x80 : 0) | (op & 0xf))), 0);
	cr_assert_eq(pg_buf_put_u8(b, 0x80 | 127), 0);
	cr_assert_eq(pg_buf_put_u32(b, (uint32_t)(len >> 32)), 0);
	cr_assert_eq(pg_buf_put_u32(b, (uint32_t)len), 0);
	cr_assert_eq(pg_buf_append(b, key, 4), 0);
}

size_t pgx_ws_parse_server(const uint8_t *p, size_t len, struct pgx_ws_frame *f)
{
	if (len < 2)
		return 0;
	cr_assert_eq(p[0] & 0x70, 0, "server frame with RSV bits");
	cr_assert_eq(p[1] & 0x80, 0, "masked server frame");
	f->fin = p[0] & 0x80;
	f->op = p[0] & 0xf;
	uint64_t n = p[1] & 0x7f;
	size_t h = 2;
	if (n == 126) {
		if (len < 4)
			return 0;
		n = pg_rd16(p + 2);
		cr_assert_geq(n, 126);
		h = 4;
	} else if (n == 127) {
		if (len < 10)
			return 0;
		n = (uint64_t)pg_rd32(p + 2) << 32 | pg_rd32(p + 6);
		cr_assert_geq(n, 65536);
		cr_assert_eq(n >> 63, 0);
		h = 10;
	}
	if (len - h < n)
		return 0;
	f->payload = p + h;
	f->len = (size_t)n;
	return h + (size_t)n;
}
