/* TLS through OpenSSL as a memory-only layer: the caller owns the socket, feeds
 * the ciphertext it received, takes the ciphertext to send, and moves plaintext
 * in and out. Nothing here does I/O or logs. Each object has one owning thread
 * (OpenSSL's error queue is per thread). Errors are the codes of codec/err.h. */
#ifndef PG_AUTH_TLS_H
#define PG_AUTH_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "codec/buf.h"

/* Ciphertext received but not yet decrypted, and ciphertext produced but not yet
 * taken: over either cap is PG_ELIMIT. A TLS record is at most about 16.6 KiB. */
#define PG_TLS_MAX_CIPHER_IN  (256u * 1024)
#define PG_TLS_MAX_CIPHER_OUT (4u * 1024 * 1024)
/* What a peer is told when TLS fails; the precise reason is for the log only. */
#define PG_TLS_PEER_FAILURE "TLS handshake failed"

struct pg_tls_ctx;
struct pg_tls;

/* A server context from a PEM certificate chain (leaf first) and a PEM private
 * key: TLS 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305) and TLS 1.3 (default
 * suites), no compression, no renegotiation, no session tickets. The key file
 * must be a regular file that group and others cannot access (mode 0600 or
 * 0400), or this refuses it. Returns the context, or NULL with a one-line reason
 * (naming the file and the fix) in err. */
struct pg_tls_ctx *pg_tls_ctx_new_server(const char *cert_file, const char *key_file, char *err,
					 size_t errlen);

/* A server context for anonymous TLS (VeNCrypt TLSNone/TLSVnc/TLSPlain): TLS 1.2
 * only, anonymous (EC)DH with AES-GCM only, at OpenSSL security level 0. It
 * encrypts against a passive listener but does not authenticate the server, so an
 * active attacker in the path sees everything; see docs/tls.md. */
struct pg_tls_ctx *pg_tls_ctx_new_anon_server(char *err, size_t errlen);

/* A client context. ca_file: PEM CAs the peer's chain must verify against.
 * pin_sha256: SHA-256 of the peer's certificate (DER), 64 hex digits with or
 * without colons. At least one is required; with both, both must hold. With a CA
 * file, the name given to pg_tls_new is checked against the certificate; with a
 * pin only, the pin alone identifies the peer. anon: anonymous TLS instead (for
 * VeNCrypt TLS* subtypes toward a host; ca_file and pin must be NULL). */
struct pg_tls_client_opts {
	const char *ca_file;
	const char *pin_sha256;
	bool anon;
};
struct pg_tls_ctx *pg_tls_ctx_new_client(const struct pg_tls_client_opts *o, char *err,
					 size_t errlen);
void pg_tls_ctx_del(struct pg_tls_ctx *ctx);

/* One connection. peer_name (client side only, may be NULL): the host name or IP
 * address the certificate must match; also sent as SNI when it is a name. The
 * context must outlive the connection. Returns NULL when out of memory. */
struct pg_tls *pg_tls_new(struct pg_tls_ctx *ctx, const char *peer_name);
void pg_tls_del(struct pg_tls *t);

/* Advance the handshake: 1 when done, 0 when it needs more input (take the
 * output and send it first), negative on failure (see pg_tls_error). A client
 * calls this once to produce its ClientHello; pg_tls_feed calls it as well. */
int pg_tls_handshake(struct pg_tls *t);
bool pg_tls_handshake_done(const struct pg_tls *t);

/* Hand over n bytes received from the socket and advance the handshake if it is
 * not done. 0, PG_ELIMIT when undecrypted input would exceed PG_TLS_MAX_CIPHER_IN
 * (stop reading the socket until pg_tls_read drains it), or negative on a TLS
 * failure. */
int pg_tls_feed(struct pg_tls *t, const void *p, size_t n);

/* Decrypt what is available and append it to out, up to out's cap. Returns the
 * bytes appended (0: nothing yet, or out is full, or the peer closed: see
 * pg_tls_peer_closed), or negative on failure. May produce output (alerts, TLS
 * 1.3 key updates): take it afterwards. Plaintext can hold secrets: the caller
 * wipes what it consumed (OPENSSL_cleanse). */
ssize_t pg_tls_read(struct pg_tls *t, struct pg_buf *out);
bool pg_tls_peer_closed(const struct pg_tls *t);

/* Encrypt n plaintext bytes, all or nothing. 0, PG_EPROTO before the handshake is
 * done, PG_ELIMIT when untaken output would exceed PG_TLS_MAX_CIPHER_OUT. */
int pg_tls_write(struct pg_tls *t, const void *p, size_t n);

/* Ciphertext waiting to be sent, and moving it into out (appended, up to out's
 * cap). pg_tls_take_output returns the bytes moved or PG_ENOMEM. */
size_t pg_tls_output_pending(const struct pg_tls *t);
ssize_t pg_tls_take_output(struct pg_tls *t, struct pg_buf *out);

/* Queue a close_notify alert (take the output to send it). 0 or negative. */
int pg_tls_shutdown(struct pg_tls *t);

/* The reason for the last failure, one line, for the log (never for the peer);
 * "" when none. Version and cipher of the established connection. */
const char *pg_tls_error(const struct pg_tls *t);

/* Client side: whether the peer's certificate was the reason the handshake failed,
 * so the caller can name the setting at fault. PG_TLS_CERT_UNTRUSTED: the chain or
 * the name did not verify against the CA file (*reason, if reason is not NULL, is
 * OpenSSL's reason, valid while t lives); PG_TLS_CERT_PIN: it is not the pinned
 * certificate. */
enum pg_tls_cert {
	PG_TLS_CERT_OK = 0, /* not refused (the failure, if any, was something else) */
	PG_TLS_CERT_UNTRUSTED,
	PG_TLS_CERT_PIN,
};
enum pg_tls_cert pg_tls_cert_refused(const struct pg_tls *t, const char **reason);
const char *pg_tls_version(const struct pg_tls *t);
const char *pg_tls_cipher(const struct pg_tls *t);

/* Parse a SHA-256 fingerprint (64 hex digits, colons allowed between byte pairs)
 * into out. 0 or PG_EPROTO. */
int pg_tls_parse_fingerprint(const char *s, unsigned char out[32]);

#endif
