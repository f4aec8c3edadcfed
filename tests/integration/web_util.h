/* Helpers for the web listener's tests: a TLS client on OpenSSL (blocking socket, every
 * read bounded by a deadline) that sends raw bytes, reads an HTTP response until the relay
 * closes, performs a WebSocket upgrade, and speaks RFB inside WebSocket frames; and a
 * framer for client frames of any shape (masked or not, any opcode, any length field, FIN
 * set or not), for the hostile peer the tests play. Loopback only. */
#ifndef PG_IT_WEB_UTIL_H
#define PG_IT_WEB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- TLS connection ---- */

struct wu_conn;

/* TCP to 127.0.0.1:port, then a TLS handshake (trusting ca_file when not NULL, the
 * certificate not checked otherwise). NULL on failure (logged to stderr). */
struct wu_conn *wu_connect(int port, const char *ca_file);
/* The TCP connection alone, no TLS: a socket with 5 s timeouts, or -1. */
int wu_tcp_connect(int port);
void wu_close(struct wu_conn *c);
/* The socket's local port, which the relay logs as the viewer's peer. */
int wu_local_port(const struct wu_conn *c);
int wu_fd_local_port(int fd);

/* All of buf in one SSL_write (TLS records of up to 16 KiB). 0, or -1 (peer gone). */
int wu_send(struct wu_conn *c, const void *buf, size_t len);
/* The same, giving up after timeout_ms (the relay not reading): -1. The connection is
 * not fit for more writes after that. */
int wu_send_within(struct wu_conn *c, const void *buf, size_t len, int timeout_ms);
/* buf in pieces of piece bytes, each its own SSL_write and so its own TLS record. */
int wu_send_split(struct wu_conn *c, const void *buf, size_t len, size_t piece);
/* Read plaintext until the relay closes (close_notify, EOF or reset) or timeout_ms
 * pass. The first size - 1 bytes go to buf, NUL-terminated (buf may be NULL); *got (may
 * be NULL) counts every byte read. True when the relay closed in time. */
bool wu_read_until_close(struct wu_conn *c, int timeout_ms, char *buf, size_t size, size_t *got);
/* The same on a plain TCP socket. */
bool wu_fd_read_until_close(int fd, int timeout_ms, char *buf, size_t size, size_t *got);

/* ---- HTTP ---- */

/* Connect, send request (len bytes) as is, read the response until close into resp
 * (NUL-terminated). The status code, or -1 when no response came; *local_port (may be
 * NULL) is the connection's port for finding it in the relay's log. */
int wu_http(int port, const char *request, size_t len, char *resp, size_t size, int *local_port);
/* The status code of a response, or -1. */
int wu_status(const char *resp);
/* The value of header name in a response's header block (case-insensitive name, value
 * without surrounding blanks). False when absent. */
bool wu_header(const char *resp, const char *name, char *value, size_t size);
/* The body: what follows the blank line, or NULL. */
const char *wu_body(const char *resp);

/* ---- WebSocket ---- */

/* Append a client frame header to out (room for 14 bytes): FIN bit, opcode (any 4 bits),
 * MASK bit, a 7-bit length field len7 and, when len7 is 126 or 127, the 16- or 64-bit
 * extended length ext; the mask key follows when masked. Returns the header's length.
 * Nothing is checked: this is the hostile peer's framer. */
size_t wu_ws_header(uint8_t *out, bool fin, unsigned opcode, bool masked, unsigned len7,
		    uint64_t ext, const uint8_t key[4]);
/* XOR p with key, as if p started at offset bytes into a frame's payload. */
void wu_ws_mask(uint8_t *p, size_t len, const uint8_t key[4], uint64_t offset);
/* A whole frame with the shortest length field, masked with key when masked: out must
 * hold len + 14 bytes. Returns its length. */
size_t wu_ws_frame(uint8_t *out, bool fin, unsigned opcode, bool masked, const uint8_t key[4],
		   const void *payload, size_t len);

/* Send the upgrade for /websockify with Host 127.0.0.1:port, origin (omitted when NULL),
 * version (omitted when NULL), a key (omitted when !with_key) and the subprotocol
 * "binary"; read the response's header block byte by byte (nothing after it) into resp.
 * The status code, or -1. A 101 is checked: its Sec-WebSocket-Accept must match the key
 * and Sec-WebSocket-Protocol must be binary (else -1). */
int wu_ws_upgrade(struct wu_conn *c, int port, const char *origin, const char *version,
		  bool with_key, char *resp, size_t size);
/* The same with early_len bytes (WebSocket frames) right behind the request, in the
 * same write: a browser may send its first frames before the 101 arrives. */
int wu_ws_upgrade_early(struct wu_conn *c, int port, const char *origin, const char *version,
			bool with_key, const void *early, size_t early_len, char *resp,
			size_t size);

/* One frame from the relay (must be unmasked): opcode, FIN and payload (the first size
 * bytes in buf; *len its whole length). 1, 0 when the connection closed or timeout_ms
 * passed, -1 on a malformed frame (a mask, a reserved bit). */
int wu_ws_read_frame(struct wu_conn *c, int timeout_ms, unsigned *opcode, bool *fin, uint8_t *buf,
		     size_t size, size_t *len);

/* RFB inside binary messages. wu_rfb_read gathers len payload bytes from binary frames
 * (answering nothing; pings and pongs are skipped) within timeout_ms; false on a close
 * frame (its code kept for wu_ws_close_code), another opcode, EOF or timeout. */
bool wu_rfb_read(struct wu_conn *c, void *buf, size_t len, int timeout_ms);
/* A masked binary frame carrying buf, in one SSL_write. */
int wu_rfb_send(struct wu_conn *c, const void *buf, size_t len);
/* The opcode of the first non-binary frame wu_rfb_read met (0 when none), and the
 * status code of a close frame read so far (0 when none, 1005 when it had none) with
 * its reason, NUL-terminated. */
unsigned wu_ws_other_opcode(const struct wu_conn *c);
unsigned wu_ws_close_code(const struct wu_conn *c, const char **reason);
/* Read and drop binary frames until the relay's close frame and then the end of the
 * connection; its status code, or 0 when none came within timeout_ms. *eof (may be
 * NULL): the relay also closed the connection. */
unsigned wu_ws_wait_close(struct wu_conn *c, int timeout_ms, bool *eof);

/* Upgrade with Origin https://127.0.0.1:port, then the RFB 3.8 handshake with security
 * None, sending each client frame with wu_send_split(piece) (0: one write per frame):
 * the relay's version must come first, in a binary frame. ServerInit's size in *w, *h
 * (may be NULL). The connection, or NULL (the reason on stderr). */
struct wu_conn *wu_rfb_open(int port, size_t piece, int *w, int *h);
/* RFB KeyEvent, 8 bytes. */
void wu_key_event(uint8_t out[8], uint32_t key, bool down);

#endif
