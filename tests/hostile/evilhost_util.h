/* A scripted evil browser host: an RFB server on 127.0.0.1 that runs a test's script on
 * each connection the relay's upstream worker makes, one connection at a time, and
 * records what the worker did (closed the connection, sent requests, set a pixel
 * format). The script decides every byte, so it can say what no real server would:
 * malformed handshakes, lengths of 0xFFFFFFFF, bombs and floods.
 *
 * Every wait is bounded, and eh_stop interrupts a running script. */
#ifndef PG_HOSTILE_EVILHOST_UTIL_H
#define PG_HOSTILE_EVILHOST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eh_host;
struct eh_conn;

/* Runs on the host's thread for each accepted connection, index counting from 0;
 * the host closes the connection when it returns. */
typedef void (*eh_script)(struct eh_conn *c, int index, void *arg);

/* Listen on a free loopback port; NULL on failure (logged to stderr). */
struct eh_host *eh_start(eh_script script, void *arg);
int eh_port(const struct eh_host *h);
/* Interrupt the running script, join the thread, close everything. NULL-safe. */
void eh_stop(struct eh_host *h);

/* Counters, safe from the test's thread. */
int eh_connections(struct eh_host *h); /* accepted */
int eh_handshakes(struct eh_host *h);  /* ServerInit sent by eh_handshake */
int eh_peer_closed(struct eh_host *h); /* connections the worker closed (EOF or reset) */
int eh_scripts_done(struct eh_host *h);
/* Poll count(h) until it is at least n; false after timeout_ms. */
bool eh_wait(struct eh_host *h, int (*count)(struct eh_host *), int n, int timeout_ms);

/* ---- for scripts ---- */

/* True once eh_stop was called: the script should return. */
bool eh_stopping(const struct eh_conn *c);
/* Write all of buf, reading (and parsing) what the worker sends meanwhile so neither
 * side blocks; false when the worker closed, on stop, or after 10 s without progress. */
bool eh_send(struct eh_conn *c, const void *buf, size_t len);
/* The same one byte at a time, gap_ms apart. */
bool eh_dribble(struct eh_conn *c, const void *buf, size_t len, int gap_ms);
/* Read exactly len bytes (the handshake's replies) within timeout_ms; false otherwise. */
bool eh_read(struct eh_conn *c, void *buf, size_t len, int timeout_ms);
/* A correct RFB 3.8 handshake with security None up to ServerInit of w x h with the
 * given pixel format (16 bytes; NULL: 32-bit little-endian true colour) and name. */
bool eh_handshake(struct eh_conn *c, int w, int h, const uint8_t *pixfmt, const void *name,
		  size_t name_len);
/* The same with every byte sent alone, gap_ms apart (a width or height of 0 and
 * other values no server should send are allowed: this is the evil host). */
bool eh_handshake_gap(struct eh_conn *c, int w, int h, const uint8_t *pixfmt, const void *name,
		      size_t name_len, int gap_ms);
/* Read and parse client messages for ms; false when the worker closed or on stop. */
bool eh_pump(struct eh_conn *c, int ms);
/* Read until the worker closes the connection; true (and counted) if within timeout_ms. */
bool eh_wait_closed(struct eh_conn *c, int timeout_ms);
/* What the worker sent on this connection so far. */
int eh_requests(const struct eh_conn *c); /* FramebufferUpdateRequests */
/* The last SetPixelFormat's 16 bytes; false when none came. */
bool eh_pixfmt(const struct eh_conn *c, uint8_t out[16]);
/* Pump until at least n requests came; false after timeout_ms or when closed. */
bool eh_wait_requests(struct eh_conn *c, int n, int timeout_ms);

/* ---- message builders: bytes written to b, returning the count ---- */

size_t eh_update_hdr(uint8_t *b, unsigned nrects);
size_t eh_rect_hdr(uint8_t *b, int x, int y, int w, int h, int32_t enc);
/* Tight's compact length (1 to 3 bytes). */
size_t eh_compact_len(uint8_t *b, size_t n);
void eh_put16(uint8_t *b, unsigned v);
void eh_put32(uint8_t *b, uint32_t v);

#endif
