/* The WebSocket: client frames in (masked, split, fragmented, hostile), the
 * close codes each violation earns, pings and closes, the caps on what is held,
 * and the frames it sends. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "http/ws.h"
#include "http_util.h"

struct peer {
	struct pg_ws *ws;
	struct pg_buf app, wire;
};

static void peer_init(struct peer *p, size_t app_max)
{
	p->ws = pg_ws_new();
	cr_assert_not_null(p->ws);
	pg_buf_init(&p->app, app_max);
	pg_buf_init(&p->wire, (size_t)32 << 20);
}

static void peer_free(struct peer *p)
{
	pg_ws_del(p->ws);
	pg_buf_free(&p->app);
	pg_buf_free(&p->wire);
}

/* Feed bytes placed against a guard page. */
static ssize_t feed(struct peer *p, const void *data, size_t len)
{
	struct pgx_guard g = {0};
	const uint8_t *q = pgx_guard_place(&g, data, len);
	ssize_t rc = pg_ws_feed(p->ws, q, len, &p->app);
	pgx_guard_free(&g);
	return rc;
}

static void take(struct peer *p)
{
	cr_assert_geq(pg_ws_take_output(p->ws, &p->wire), 0);
}

/* The frames in wire, checked as a browser would; returns how many, with the
 * first close frame's code (1005 when empty, 0 when none) and the payload of the
 * data frames concatenated into data (if not NULL). */
static size_t read_wire(struct peer *p, unsigned *close_code, struct pg_buf *data)
{
	size_t off = 0, n = 0;
	if (close_code)
		*close_code = 0;
	while (off < p->wire.len) {
		struct pgx_ws_frame f;
		size_t used = pgx_ws_parse_server(p->wire.data + off, p->wire.len - off, &f);
		cr_assert_gt(used, 0, "incomplete frame at %zu", off);
		if (f.op == 0x8 && close_code && !*close_code)
			*close_code = f.len >= 2 ? (unsigned)pg_rd16(f.payload) : 1005;
		if (f.op == 0x2 || f.op == 0x0) {
			cr_assert_leq(f.len, PG_WS_MAX_SEND_MSG);
			if (data)
				cr_assert_eq(pg_buf_append(data, f.payload, f.len), 0);
		}
		off += used;
		n++;
	}
	return n;
}

/* A violation: the code in our close frame, and the connection is finished. */
static void assert_fails(const struct pg_buf *in, ssize_t rc, unsigned code)
{
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(feed(&p, in->data, in->len), rc, "%s", pg_ws_error(p.ws));
	cr_assert_neq(pg_ws_error(p.ws)[0], '\0');
	take(&p);
	cr_assert_eq(pg_ws_close_code(p.ws), code);
	unsigned got;
	read_wire(&p, &got, NULL);
	cr_assert_eq(got, code, "close code %u, not %u (%s)", got, code, pg_ws_error(p.ws));
	cr_assert(pg_ws_closed(p.ws));
	/* Nothing more is read, and sending is refused. */
	cr_assert_eq(feed(&p, in->data, in->len), rc);
	cr_assert_eq(pg_ws_send(p.ws, "x", 1), PG_EPROTO);
	peer_free(&p);
}

Test(ws, masked_binary_frame)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	pgx_ws_frame(&in, true, 0, 0x2, true, "RFB 003.008\n", 12);
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	cr_assert_eq(p.app.len, 12);
	cr_assert(memcmp(p.app.data, "RFB 003.008\n", 12) == 0);
	take(&p);
	cr_assert_eq(p.wire.len, 0);
	cr_assert(!pg_ws_closed(p.ws));
	cr_assert_str_eq(pg_ws_error(p.ws), "");
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, split_byte_by_byte)
{
	uint8_t msg[300];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	pgx_ws_frame(&in, true, 0, 0x2, true, msg, sizeof(msg)); /* 16-bit length */
	pgx_ws_frame(&in, true, 0, 0x2, true, msg, 5);
	pgx_ws_frame(&in, true, 0, 0x2, true, NULL, 0);
	struct peer p;
	peer_init(&p, 1 << 20);
	for (size_t i = 0; i < in.len; i++)
		cr_assert_eq(feed(&p, in.data + i, 1), 1, "byte %zu", i);
	cr_assert_eq(p.app.len, sizeof(msg) + 5);
	cr_assert(memcmp(p.app.data, msg, sizeof(msg)) == 0);
	cr_assert(memcmp(p.app.data + sizeof(msg), msg, 5) == 0);
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, fragmented_message_with_a_ping_inside)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	pgx_ws_frame(&in, false, 0, 0x2, true, "abc", 3);
	pgx_ws_frame(&in, true, 0, 0x9, true, "ping!", 5);
	pgx_ws_frame(&in, false, 0, 0x0, true, "def", 3);
	pgx_ws_frame(&in, false, 0, 0x0, true, NULL, 0);
	pgx_ws_frame(&in, true, 0, 0x0, true, "g", 1);
	pgx_ws_frame(&in, true, 0, 0xa, true, "unsolicited", 11);
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	cr_assert_eq(p.app.len, 7);
	cr_assert(memcmp(p.app.data, "abcdefg", 7) == 0);
	take(&p);
	struct pgx_ws_frame f;
	cr_assert_eq(pgx_ws_parse_server(p.wire.data, p.wire.len, &f), p.wire.len);
	cr_assert_eq(f.op, 0xa);
	cr_assert(f.fin);
	cr_assert_eq(f.len, 5);
	cr_assert(memcmp(f.payload, "ping!", 5) == 0);
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, close_is_answered_then_closed)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	pgx_ws_frame(&in, true, 0, 0x2, true, "last", 4);
	pgx_ws_frame(&in, true, 0, 0x8, true,
		     "\x03\xe8"
		     "bye",
		     5);
	pgx_ws_frame(&in, true, 0, 0x2, true, "after", 5);
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	cr_assert_eq(p.app.len, 4, "nothing after the close is read");
	cr_assert_eq(pg_ws_peer_close_code(p.ws), 1000);
	cr_assert_str_eq(pg_ws_error(p.ws), "closed by the client");
	cr_assert(!pg_ws_closed(p.ws), "closed before the answer was taken");
	take(&p);
	unsigned code;
	cr_assert_eq(read_wire(&p, &code, NULL), 1);
	cr_assert_eq(code, 1000);
	cr_assert(pg_ws_closed(p.ws));
	cr_assert_eq(pg_ws_close_code(p.ws), 1000);
	cr_assert_eq(feed(&p, "xyz", 3), 3);
	cr_assert_eq(pg_ws_send(p.ws, "x", 1), PG_EPROTO);
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, empty_close)
{
	struct pg_buf in;
	pg_buf_init(&in, 64);
	pgx_ws_frame(&in, true, 0, 0x8, true, NULL, 0);
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	take(&p);
	unsigned code;
	read_wire(&p, &code, NULL);
	cr_assert_eq(code, 1005);
	cr_assert(pg_ws_closed(p.ws));
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, relay_closes_first)
{
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(pg_ws_close(p.ws, 999, NULL), PG_EPROTO);
	cr_assert_eq(pg_ws_close(p.ws, 1001, "relay stopping"), 0);
	cr_assert_eq(pg_ws_close(p.ws, 1001, NULL), PG_EPROTO);
	take(&p);
	unsigned code;
	read_wire(&p, &code, NULL);
	cr_assert_eq(code, 1001);
	cr_assert(!pg_ws_closed(p.ws), "waits for the client's close");
	struct pg_buf in;
	pg_buf_init(&in, 64);
	pgx_ws_frame(&in, true, 0, 0x2, true, "late", 4);
	pgx_ws_frame(&in, true, 0, 0x8, true, "\x03\xe9", 2);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	take(&p);
	cr_assert(pg_ws_closed(p.ws));
	cr_assert_eq(pg_ws_close_code(p.ws), 1001);
	cr_assert_eq(pg_ws_peer_close_code(p.ws), 1001);
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, violations)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);

	pgx_ws_frame(&in, true, 0, 0x2, false, "plain", 5);
	assert_fails(&in, PG_EPROTO, 1002); /* unmasked */

	pg_buf_reset(&in);
	pgx_ws_header64(&in, true, 0x2, (uint64_t)1 << 63);
	assert_fails(&in, PG_EPROTO, 1002); /* 2^63 */

	pg_buf_reset(&in);
	pgx_ws_header64(&in, true, 0x2, UINT64_MAX);
	assert_fails(&in, PG_EPROTO, 1002);

	pg_buf_reset(&in);
	pgx_ws_frame(&in, false, 0, 0x9, true, "p", 1);
	assert_fails(&in, PG_EPROTO, 1002); /* fragmented ping */

	for (uint8_t rsv = 1; rsv < 8; rsv++) {
		pg_buf_reset(&in);
		pgx_ws_frame(&in, true, rsv, 0x2, true, "x", 1);
		assert_fails(&in, PG_EPROTO, 1002); /* reserved bits */
	}

	for (uint8_t op = 3; op < 16; op++) {
		if (op >= 8 && op <= 10)
			continue;
		pg_buf_reset(&in);
		pgx_ws_frame(&in, true, 0, op, true, "x", 1);
		assert_fails(&in, PG_EPROTO, 1002); /* unknown opcode */
	}

	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x1, true, "text", 4);
	assert_fails(&in, PG_EUNSUP, 1003);

	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x0, true, "cont", 4);
	assert_fails(&in, PG_EPROTO, 1002); /* continuation without a message */

	pg_buf_reset(&in);
	pgx_ws_frame(&in, false, 0, 0x2, true, "a", 1);
	pgx_ws_frame(&in, true, 0, 0x2, true, "b", 1);
	assert_fails(&in, PG_EPROTO, 1002); /* a message inside a message */

	uint8_t big[126];
	memset(big, 'p', sizeof(big));
	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x9, true, big, sizeof(big));
	assert_fails(&in, PG_EPROTO, 1002); /* control frame over 125 */

	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x8, true, "\x03", 1);
	assert_fails(&in, PG_EPROTO, 1002); /* one-byte close */

	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x8, true, "\x03\xe7", 2);
	assert_fails(&in, PG_EPROTO, 1002); /* close code 999: wslay's own check */

	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x8, true, "\x03\xe8\xff", 3);
	assert_fails(&in, PG_EPROTO, 1007); /* close reason not UTF-8: wslay's */

	/* Lengths not in their shortest form. */
	pg_buf_reset(&in);
	cr_assert_eq(pg_buf_append(&in,
				   "\x82\xfe\x00\x05"
				   "abcdhello",
				   13),
		     0);
	assert_fails(&in, PG_EPROTO, 1002);
	pg_buf_reset(&in);
	pgx_ws_header64(&in, true, 0x2, 5);
	assert_fails(&in, PG_EPROTO, 1002);

	pg_buf_free(&in);
}

Test(ws, good_frames_before_a_violation_still_arrive)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	pgx_ws_frame(&in, true, 0, 0x2, true, "good", 4);
	pgx_ws_frame(&in, true, 0, 0x2, false, "bad", 3);
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), PG_EPROTO);
	cr_assert_eq(p.app.len, 4);
	cr_assert_str_eq(pg_ws_error(p.ws), "unmasked client frame");
	take(&p);
	unsigned code;
	read_wire(&p, &code, NULL);
	cr_assert_eq(code, 1002);
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, oversized_messages)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	/* One frame declaring a byte over the cap: refused on its header. */
	pgx_ws_header64(&in, true, 0x2, PG_WS_MAX_MSG + 1);
	assert_fails(&in, PG_ELIMIT, 1009);

	/* Fragments adding up to more than the cap. */
	struct peer p;
	peer_init(&p, (size_t)16 << 20);
	uint8_t *chunk = calloc(1, 1 << 20);
	pg_buf_free(&in);
	pg_buf_init(&in, (size_t)8 << 20);
	for (int i = 0; i < 4; i++)
		pgx_ws_frame(&in, false, 0, i ? 0x0 : 0x2, true, chunk, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x0, true, chunk, 1);
	cr_assert_eq(feed(&p, in.data, in.len), PG_ELIMIT);
	cr_assert_eq(p.app.len, 4 << 20);
	take(&p);
	unsigned code;
	read_wire(&p, &code, NULL);
	cr_assert_eq(code, 1009);
	peer_free(&p);

	/* Exactly the cap is fine. */
	peer_init(&p, (size_t)16 << 20);
	pg_buf_reset(&in);
	for (int i = 0; i < 4; i++)
		pgx_ws_frame(&in, i == 3, 0, i ? 0x0 : 0x2, true, chunk, 1 << 20);
	cr_assert_eq(feed(&p, in.data, in.len), (ssize_t)in.len);
	cr_assert_eq(p.app.len, PG_WS_MAX_MSG);
	peer_free(&p);
	free(chunk);
	pg_buf_free(&in);
}

Test(ws, app_buffer_cap_holds_the_rest_back)
{
	uint8_t msg[100];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	pgx_ws_frame(&in, true, 0, 0x2, true, msg, 60);
	pgx_ws_frame(&in, true, 0, 0x2, true, msg + 60, 40);
	struct peer p;
	peer_init(&p, 25);
	struct pg_buf got;
	pg_buf_init(&got, 1 << 20);
	size_t off = 0;
	int rounds = 0;
	while (off < in.len) {
		ssize_t n = feed(&p, in.data + off, in.len - off);
		cr_assert_geq(n, 0);
		cr_assert_leq(p.app.len, 25);
		off += (size_t)n;
		cr_assert_eq(pg_buf_append(&got, p.app.data, p.app.len), 0);
		pg_buf_reset(&p.app);
		cr_assert_lt(++rounds, 20);
	}
	cr_assert_eq(got.len, 100);
	cr_assert(memcmp(got.data, msg, 100) == 0);
	/* A full buffer takes nothing more of a data frame. */
	pg_buf_reset(&in);
	pgx_ws_frame(&in, true, 0, 0x2, true, msg, 30);
	cr_assert_eq(feed(&p, in.data, in.len), 6 + 25);
	cr_assert_eq(feed(&p, in.data + 31, in.len - 31), 0);
	pg_buf_reset(&p.app);
	cr_assert_eq(feed(&p, in.data + 31, in.len - 31), 5);
	peer_free(&p);
	pg_buf_free(&got);
	pg_buf_free(&in);
}

Test(ws, ping_flood_waits_for_the_output)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	for (int i = 0; i < 1000; i++)
		pgx_ws_frame(&in, true, 0, 0x9, true, "0123456789", 10);
	struct peer p;
	peer_init(&p, 1 << 20);
	ssize_t n = feed(&p, in.data, in.len);
	cr_assert_eq(n, PG_WS_MAX_QUEUED_MSGS * 16);
	cr_assert_eq(feed(&p, in.data + n, in.len - (size_t)n), 0);
	size_t off = (size_t)n, pongs = 0;
	while (off < in.len) {
		take(&p);
		pongs += read_wire(&p, NULL, NULL);
		pg_buf_reset(&p.wire);
		n = feed(&p, in.data + off, in.len - off);
		cr_assert_gt(n, 0);
		off += (size_t)n;
	}
	take(&p);
	pongs += read_wire(&p, NULL, NULL);
	cr_assert_eq(pongs, 1000);
	peer_free(&p);
	pg_buf_free(&in);
}

Test(ws, send_frames_are_bounded_and_valid)
{
	size_t len = 200000;
	uint8_t *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	struct peer p;
	peer_init(&p, 1 << 20);
	cr_assert_eq(pg_ws_send(p.ws, data, len), 0);
	cr_assert_eq(pg_ws_send(p.ws, "tail", 4), 0);
	cr_assert(pg_ws_want_write(p.ws));
	/* Through a small wire buffer, a bit at a time. */
	struct pg_buf small;
	pg_buf_init(&small, 1000);
	for (int i = 0; pg_ws_want_write(p.ws); i++) {
		cr_assert_gt(pg_ws_take_output(p.ws, &small), 0);
		cr_assert_eq(pg_buf_append(&p.wire, small.data, small.len), 0);
		pg_buf_reset(&small);
		cr_assert_lt(i, 1000);
	}
	cr_assert_eq(pg_ws_take_output(p.ws, &small), 0);
	struct pg_buf got;
	pg_buf_init(&got, 1 << 20);
	cr_assert_eq(read_wire(&p, NULL, &got), 5); /* 64 KiB x 3, the rest, "tail" */
	cr_assert_eq(got.len, len + 4);
	cr_assert(memcmp(got.data, data, len) == 0);
	cr_assert(memcmp(got.data + len, "tail", 4) == 0);
	pg_buf_free(&got);
	pg_buf_free(&small);
	peer_free(&p);
	free(data);
}

Test(ws, send_queue_is_capped)
{
	struct peer p;
	peer_init(&p, 1 << 20);
	uint8_t *big = calloc(1, PG_WS_MAX_SEND_QUEUE + 1);
	cr_assert_eq(pg_ws_send(p.ws, big, PG_WS_MAX_SEND_QUEUE + 1), PG_ELIMIT);
	cr_assert(!pg_ws_want_write(p.ws), "all or nothing");
	cr_assert_eq(pg_ws_send(p.ws, big, PG_WS_MAX_SEND_QUEUE), 0);
	cr_assert_eq(pg_ws_send(p.ws, big, 1), PG_ELIMIT);
	take(&p);
	cr_assert_eq(pg_ws_send(p.ws, big, 1), 0);
	/* Many small messages hit the frame count first. */
	take(&p);
	for (int i = 0; i < PG_WS_MAX_QUEUED_MSGS; i++)
		cr_assert_eq(pg_ws_send(p.ws, "x", 1), 0);
	cr_assert_eq(pg_ws_send(p.ws, "x", 1), PG_ELIMIT);
	free(big);
	peer_free(&p);
}

Test(ws, every_prefix_against_a_guard_page)
{
	struct pg_buf in;
	pg_buf_init(&in, 1 << 20);
	uint8_t msg[70000];
	memset(msg, 'm', sizeof(msg));
	pgx_ws_frame(&in, true, 0, 0x2, true, msg, 200);
	pgx_ws_frame(&in, true, 0, 0x9, true, "p", 1);
	pgx_ws_frame(&in, true, 0, 0x2, true, msg, sizeof(msg)); /* 64-bit length */
	pgx_ws_frame(&in, true, 0, 0x8, true, "\x03\xe8", 2);
	for (size_t k = 0; k <= in.len; k += k < 300 ? 1 : 997) {
		struct peer p;
		peer_init(&p, 1 << 20);
		cr_assert_eq(feed(&p, in.data, k), (ssize_t)k);
		cr_assert_eq(feed(&p, in.data + k, in.len - k), (ssize_t)(in.len - k));
		cr_assert_eq(p.app.len, 200 + sizeof(msg));
		take(&p);
		cr_assert(pg_ws_closed(p.ws));
		peer_free(&p);
	}
	pg_buf_free(&in);
}
