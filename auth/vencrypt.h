/* VeNCrypt (RFB security type 19), version 0.2, as in the community rfbproto spec:
 * the negotiation before TLS, both sides, and the Plain credentials sent inside
 * TLS. Pure and incremental: parsers take (buf, len) and return bytes consumed,
 * 0 for "need more", or a negative code of codec/err.h; replies are appended to
 * out. No I/O, no logging; one owner per state. */
#ifndef PG_AUTH_VENCRYPT_H
#define PG_AUTH_VENCRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/buf.h"

/* Subtypes */
#define PG_VENCRYPT_PLAIN     256
#define PG_VENCRYPT_TLSNONE   257
#define PG_VENCRYPT_TLSVNC    258
#define PG_VENCRYPT_TLSPLAIN  259
#define PG_VENCRYPT_X509NONE  260
#define PG_VENCRYPT_X509VNC   261
#define PG_VENCRYPT_X509PLAIN 262

/* Limits: declared credential lengths over these are refused before buffering. */
#define PG_VENCRYPT_MAX_USER	 256
#define PG_VENCRYPT_MAX_PASSWORD 1024
#define PG_VENCRYPT_MAX_SUBTYPES 8

/* Name of a subtype ("X509Plain"), or "unknown". */
const char *pg_vencrypt_name(uint32_t subtype);
/* X509*: TLS with a certificate; TLS*: anonymous TLS; Plain: no TLS at all. */
bool pg_vencrypt_is_x509(uint32_t subtype);
bool pg_vencrypt_is_anon(uint32_t subtype);

enum pg_vencrypt_phase {
	PG_VENCRYPT_VERSION, /* waiting for the peer's version (or the ack of ours) */
	PG_VENCRYPT_SUBTYPE, /* server: the choice; client: the list */
	PG_VENCRYPT_ACCEPT,  /* client only: the server's acceptance of the choice */
	PG_VENCRYPT_TLS,     /* negotiated: run TLS now (the pre-TLS stream is done) */
	PG_VENCRYPT_FAILED,
};

/* Server side (toward viewers). The struct is public so a viewer can embed it;
 * its fields are private. */
struct pg_vencrypt_server {
	enum pg_vencrypt_phase phase;
	uint32_t offer[PG_VENCRYPT_MAX_SUBTYPES];
	size_t noffer;
	uint32_t chosen;
};

/* Offer these subtypes, in this order (1 to PG_VENCRYPT_MAX_SUBTYPES of them,
 * no duplicates, no Plain: pixelgate never takes a password without TLS), and
 * append the server's version 0.2 to out. 0 or negative. */
int pg_vencrypt_server_start(struct pg_vencrypt_server *s, const uint32_t *offer, size_t n,
			     struct pg_buf *out);
/* The same offering Plain alone, for a connection that is TLS from its first byte
 * (the web listener's WebSocket): the caller vouches for that TLS. */
int pg_vencrypt_server_start_in_tls(struct pg_vencrypt_server *s, struct pg_buf *out);
/* Feed the viewer's bytes before TLS. Replies go to out: the version ack (0) and
 * the subtype list, then the acceptance (1) of a TLS choice (none after Plain). A version other
 * than 0.2 is answered 255 and refused (PG_EUNSUP); a subtype not offered is answered 0 and refused
 * (PG_EUNSUP). Once phase is PG_VENCRYPT_TLS, s->chosen holds the subtype and every further byte
 * belongs to TLS: do not feed them here (it returns PG_EPROTO). */
ssize_t pg_vencrypt_server_parse(struct pg_vencrypt_server *s, const uint8_t *buf, size_t len,
				 struct pg_buf *out);

/* Client side (toward browser hosts). */
struct pg_vencrypt_client {
	enum pg_vencrypt_phase phase;
	uint32_t want[PG_VENCRYPT_MAX_SUBTYPES];
	size_t nwant;
	uint32_t chosen;
};

/* Accept these subtypes, most preferred first (1 to PG_VENCRYPT_MAX_SUBTYPES,
 * none of them Plain). 0 or negative. */
int pg_vencrypt_client_init(struct pg_vencrypt_client *c, const uint32_t *want, size_t n);
/* Feed the host's bytes before TLS; our replies go to out. The server must offer
 * version 0.2 or later (we answer 0.2); we choose our most preferred subtype that
 * it offers. PG_EUNSUP when there is none or the server refuses. At phase
 * PG_VENCRYPT_TLS, c->chosen says what was agreed. */
ssize_t pg_vencrypt_client_parse(struct pg_vencrypt_client *c, const uint8_t *buf, size_t len,
				 struct pg_buf *out);

/* Plain credentials, sent inside TLS: u32 username length, u32 password length,
 * the username, the password. */
struct pg_vencrypt_plain {
	char user[PG_VENCRYPT_MAX_USER + 1];
	char password[PG_VENCRYPT_MAX_PASSWORD + 1];
	size_t user_len;
	size_t password_len;
};

/* Parse one Plain credentials message into c (both NUL-terminated). Returns bytes
 * consumed, 0 for need more, PG_ELIMIT when a declared length is over its limit
 * (decided from the 8-byte header alone), PG_EPROTO for an empty username or a
 * NUL byte in either. The caller verifies, then calls pg_vencrypt_plain_wipe and
 * wipes the consumed input. */
ssize_t pg_vencrypt_parse_plain(const uint8_t *buf, size_t len, struct pg_vencrypt_plain *c);
void pg_vencrypt_plain_wipe(struct pg_vencrypt_plain *c);
/* Append a Plain credentials message (for the upstream side). 0, PG_ELIMIT for a
 * credential over its limit, or PG_ENOMEM/PG_ELIMIT from out. */
int pg_vencrypt_write_plain(struct pg_buf *out, const char *user, const char *password);

#endif
