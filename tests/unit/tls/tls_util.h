/* Helpers for the TLS and VeNCrypt tests: a throwaway PKI made at test time, an
 * in-memory pump between two pg_tls, buffers that end at a PROT_NONE page, and a
 * loopback RFB 3.8 + VeNCrypt server thread built on auth/. */
#ifndef PG_TEST_TLS_UTIL_H
#define PG_TEST_TLS_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "auth/tls.h"
#include "auth/vencrypt.h"

#define TU_TIMEOUT_MS 10000

/* A CA, a server certificate it signed (SAN: DNS:localhost, IP:127.0.0.1) with
 * its key (mode 0600), and an unrelated CA; all PEM files in dir. */
struct tu_pki {
	char dir[64];
	char ca[128];
	char wrong_ca[128];
	char cert[128];
	char key[128];
	char fp[65];	    /* SHA-256 of the server certificate, hex */
	char fp_colons[96]; /* the same, AB:CD:... */
};
void tu_pki_make(struct tu_pki *p);
void tu_pki_remove(struct tu_pki *p);

/* Move ciphertext both ways until neither side has output left. 0, or the first
 * negative pg_tls_feed result. */
int tu_pump(struct pg_tls *a, struct pg_tls *b);
/* Run a handshake between a client and a server: 0 or negative. */
int tu_handshake(struct pg_tls *client, struct pg_tls *server);

/* Copy n bytes so that they end exactly where a PROT_NONE page begins. Free with
 * tu_guard_free. */
uint8_t *tu_guard(const void *data, size_t n);
void tu_guard_free(uint8_t *p, size_t n);

/* A loopback server: RFB 3.8, security type 19 only, VeNCrypt offering one
 * subtype, TLS with ctx, Plain credentials, SecurityResult OK, ServerInit. */
struct tu_server {
	int lfd;
	int port;
	uint32_t subtype;
	struct pg_tls_ctx *ctx;
	pthread_t thread;
	/* results, read after tu_server_stop */
	int rc; /* 0 when the handshake went through ServerInit */
	char stage[64];
	char err[256];
	struct pg_vencrypt_plain cred;
	char tls_version[32];
	char tls_cipher[64];
};
void tu_server_start(struct tu_server *s, uint32_t subtype, struct pg_tls_ctx *ctx);
void tu_server_stop(struct tu_server *s);

#endif
