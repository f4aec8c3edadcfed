/* Helpers for the HTTP and WebSocket tests: client frames built by hand, server
 * frames read back; inputs against a PROT_NONE guard page come from guard_util.h. */
#ifndef PG_TEST_HTTP_UTIL_H
#define PG_TEST_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/buf.h"
#include "guard_util.h"

/* Append one client frame: rsv is the three RSV bits (0-7); the length in its
 * shortest form; masked with a fixed key unless mask is false. */
void pgx_ws_frame(struct pg_buf *b, bool fin, uint8_t rsv, uint8_t op, bool mask,
		  const void *payload, size_t len);
/* Only the header of a masked frame declaring len in the 64-bit form. */
void pgx_ws_header64(struct pg_buf *b, bool fin, uint8_t op, uint64_t len);

/* One server frame at p: the frame's total length (0 when incomplete), its
 * fields and payload. Fails the test on a mask, RSV bits or a non-minimal length. */
struct pgx_ws_frame {
	bool fin;
	uint8_t op;
	const uint8_t *payload;
	size_t len;
};
size_t pgx_ws_parse_server(const uint8_t *p, size_t len, struct pgx_ws_frame *f);

/* A whole request with the usual browser headers for a WebSocket upgrade. */
extern const char pgx_ws_request[];

#endif
