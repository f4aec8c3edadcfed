#include "auth/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "codec/err.h"

/* TLS 1.2: forward secrecy and AEAD only (Mozilla "intermediate" without DHE).
 * TLS 1.3 keeps OpenSSL's default suites, which are all AEAD. */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* Anonymous suites exist only up to TLS 1.2 and OpenSSL 3 allows them only at
 * security level 0. GnuTLS (TigerVNC, libvncclient) offers ANON-DH with AES-GCM;
 * OpenSSL's anonymous ECDH suites are CBC with SHA-1, so they stay out. */
#define ANON_CIPHERS "ADH-AES256-GCM-SHA384:ADH-AES128-GCM-SHA256:@SECLEVEL=0"

/* Plaintext pulled per SSL_read_ex call: one full record. */
#define READ_STEP 16384

struct pg_tls_ctx {
	SSL_CTX *ssl;
	bool server;
	bool anon;
	bool has_ca;
	bool has_pin;
	unsigned char pin[32];
};

struct pg_tls {
	struct pg_tls_ctx *ctx;
	SSL *ssl;
	BIO *rbio; /* ciphertext from the peer, owned by ssl */
	BIO *wbio; /* ciphertext to the peer, owned by ssl */
	bool done;
	bool failed;
	bool closed;
	enum pg_tls_cert cert; /* why the peer's certificate was refused */
	char cert_reason[128]; /* OpenSSL's reason, for PG_TLS_CERT_UNTRUSTED */
	char err[256];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void cert_refused(struct pg_tls *t, enum pg_tls_cert why, const char *reason)
{
	if (t->cert != PG_TLS_CERT_OK)
		return; /* the first reason is the one that counts */
	t->cert = why;
	snprintf(t->cert_reason, sizeof(t->cert_reason), "%s", reason ? reason : "");
}

/* The newest OpenSSL error as one line, then the queue is cleared so it cannot
 * leak into the next connection's report. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "no OpenSSL error recorded");
	ERR_clear_error();
	return buf;
}

static struct pg_tls_ctx *ctx_alloc(bool server, char *err, size_t errlen)
{
	struct pg_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	c->server = server;
	c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c->ssl) {
		char r[200];
		set_err(err, errlen, "cannot create a TLS context: %s", ssl_reason(r, sizeof(r)));
		free(c);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(c->ssl, TLS1_3_VERSION);
	/* Renegotiation and compression only ever added attacks (CRIME, triple
	 * handshake); tickets would need key rotation for no gain: viewers stay. */
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c->ssl, 0);
	/* Idle connections (a thousand of them) should not hold 34 KiB of buffers each. */
	SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	return c;
}

void pg_tls_ctx_del(struct pg_tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl);
	OPENSSL_cleanse(ctx, sizeof(*ctx));
	free(ctx);
}

/* Never prompt on a terminal for a passphrase: a daemon has none to give. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int load_key(SSL_CTX *ssl, const char *path, const char *cert_file, char *err, size_t errlen)
{
	/* Check the file we then read (fstat on the open descriptor), so it cannot be
	 * swapped in between; O_NONBLOCK keeps a FIFO from hanging the start. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		set_err(err, errlen, "cannot open TLS key file %s: %s", path, strerror(errno));
		return PG_EPROTO;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		set_err(err, errlen, "cannot stat TLS key file %s: %s", path, strerror(errno));
		close(fd);
		return PG_EPROTO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen,
			"TLS key file %s is not a regular file; point the setting at "
			"the PEM key file itself",
			path);
		close(fd);
		return PG_EPROTO;
	}
	if (st.st_mode & 077) {
		set_err(err, errlen,
			"TLS key file %s is accessible by group or others (mode %04o); refusing "
			"to use a key others can read. Fix: chmod 600 %s (owned by the user "
			"pixelgate runs as)",
			path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return PG_EPROTO;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		set_err(err, errlen, "cannot read TLS key file %s: %s", path, strerror(errno));
		close(fd);
		return PG_ENOMEM;
	}
	ERR_clear_error();
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	char r[200];
	if (!key) {
		set_err(err, errlen,
			"TLS key file %s holds no usable PEM private key (encrypted keys are not "
			"supported): %s",
			path, ssl_reason(r, sizeof(r)));
		return PG_EPROTO;
	}
	int ok = SSL_CTX_use_PrivateKey(ssl, key);
	EVP_PKEY_free(key);
	if (ok != 1) {
		set_err(err, errlen, "TLS key file %s does not match certificate %s: %s", path,
			cert_file, ssl_reason(r, sizeof(r)));
		return PG_EPROTO;
	}
	return 0;
}

struct pg_tls_ctx *pg_tls_ctx_new_server(const char *cert_file, const char *key_file, char *err,
					 size_t errlen)
{
	char r[200];
	if (!cert_file || !key_file) {
		set_err(err, errlen, "a TLS server needs a certificate file and a key file");
		return NULL;
	}
	struct pg_tls_ctx *c = ctx_alloc(true, err, errlen);
	if (!c)
		return NULL;
	if (SSL_CTX_set_cipher_list(c->ssl, TLS12_CIPHERS) != 1) {
		set_err(err, errlen, "cannot set TLS 1.2 cipher suites: %s",
			ssl_reason(r, sizeof(r)));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1) {
		set_err(err, errlen, "cannot load TLS certificate chain %s: %s", cert_file,
			ssl_reason(r, sizeof(r)));
		goto fail;
	}
	if (load_key(c->ssl, key_file, cert_file, err, errlen) < 0)
		goto fail;
	if (SSL_CTX_check_private_key(c->ssl) != 1) {
		set_err(err, errlen, "TLS key file %s does not match certificate %s: %s", key_file,
			cert_file, ssl_reason(r, sizeof(r)));
		goto fail;
	}
	return c;
fail:
	pg_tls_ctx_del(c);
	return NULL;
}

static int set_anon(struct pg_tls_ctx *c, char *err, size_t errlen)
{
	char r[200];
	c->anon = true;
	SSL_CTX_set_max_proto_version(c->ssl, TLS1_2_VERSION);
	if (SSL_CTX_set_cipher_list(c->ssl, ANON_CIPHERS) != 1) {
		set_err(err, errlen, "cannot enable anonymous TLS cipher suites: %s",
			ssl_reason(r, sizeof(r)));
		return PG_EUNSUP;
	}
	if (c->server)
		SSL_CTX_set_dh_auto(c->ssl, 1);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	return 0;
}

struct pg_tls_ctx *pg_tls_ctx_new_anon_server(char *err, size_t errlen)
{
	struct pg_tls_ctx *c = ctx_alloc(true, err, errlen);
	if (!c)
		return NULL;
	if (set_anon(c, err, errlen) < 0) {
		pg_tls_ctx_del(c);
		return NULL;
	}
	return c;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int pg_tls_parse_fingerprint(const char *s, unsigned char out[32])
{
	size_t n = 0; /* hex digits so far */
	if (!s)
		return PG_EPROTO;
	for (const char *p = s; *p; p++) {
		if (*p == ':') {
			/* Only between byte pairs: "ab:cd", never ":ab", "a:b" or "ab::cd". */
			if (n == 0 || n % 2 || p[1] == ':' || p[1] == '\0')
				return PG_EPROTO;
			continue;
		}
		int v = hexval((unsigned char)*p);
		if (v < 0 || n >= 64)
			return PG_EPROTO;
		if (n % 2 == 0)
			out[n / 2] = (unsigned char)(v << 4);
		else
			out[n / 2] |= (unsigned char)v;
		n++;
	}
	return n == 64 ? 0 : PG_EPROTO;
}

static int pin_matches(const struct pg_tls_ctx *c, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32)
		return 0;
	return CRYPTO_memcmp(md, c->pin, 32) == 0;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct pg_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
	if (!t)
		return 0;
	int depth = X509_STORE_CTX_get_error_depth(xs);
	/* With a pin and no CA, who signed the certificate means nothing (hosts such
	 * as Xtigervnc make their own): the pin alone decides, at depth 0. */
	if (!t->ctx->has_ca)
		ok = 1;
	if (!ok) {
		int e = X509_STORE_CTX_get_error(xs);
		set_err(t->err, sizeof(t->err), "peer certificate not accepted (depth %d): %s",
			depth, X509_verify_cert_error_string(e));
		cert_refused(t, PG_TLS_CERT_UNTRUSTED, X509_verify_cert_error_string(e));
		return 0;
	}
	if (depth == 0 && t->ctx->has_pin &&
	    !pin_matches(t->ctx, X509_STORE_CTX_get_current_cert(xs))) {
		set_err(t->err, sizeof(t->err),
			"peer certificate does not match the pinned SHA-256 fingerprint");
		cert_refused(t, PG_TLS_CERT_PIN, NULL);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

struct pg_tls_ctx *pg_tls_ctx_new_client(const struct pg_tls_client_opts *o, char *err,
					 size_t errlen)
{
	char r[200];
	if (!o) {
		set_err(err, errlen, "no TLS client options");
		return NULL;
	}
	if (o->anon && (o->ca_file || o->pin_sha256)) {
		set_err(err, errlen,
			"anonymous TLS cannot verify a CA file or a pinned fingerprint");
		return NULL;
	}
	if (!o->anon && !o->ca_file && !o->pin_sha256) {
		set_err(err, errlen,
			"a TLS client needs a CA file, a pinned SHA-256 fingerprint, or "
			"both, to know whom it talks to");
		return NULL;
	}
	struct pg_tls_ctx *c = ctx_alloc(false, err, errlen);
	if (!c)
		return NULL;
	if (o->anon) {
		if (set_anon(c, err, errlen) < 0)
			goto fail;
		return c;
	}
	if (SSL_CTX_set_cipher_list(c->ssl, TLS12_CIPHERS) != 1) {
		set_err(err, errlen, "cannot set TLS 1.2 cipher suites: %s",
			ssl_reason(r, sizeof(r)));
		goto fail;
	}
	if (o->pin_sha256) {
		if (pg_tls_parse_fingerprint(o->pin_sha256, c->pin) < 0) {
			set_err(err, errlen,
				"pinned fingerprint is not a SHA-256 fingerprint (64 "
				"hex digits, colons allowed between pairs)");
			goto fail;
		}
		c->has_pin = true;
	}
	if (o->ca_file) {
		if (SSL_CTX_load_verify_locations(c->ssl, o->ca_file, NULL) != 1) {
			set_err(err, errlen, "cannot load TLS CA file %s: %s", o->ca_file,
				ssl_reason(r, sizeof(r)));
			goto fail;
		}
		c->has_ca = true;
	}
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, verify_cb);
	return c;
fail:
	pg_tls_ctx_del(c);
	return NULL;
}

static int set_peer_name(struct pg_tls *t, const char *name)
{
	unsigned char addr[16];
	bool ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
	if (!ip && SSL_set_tlsext_host_name(t->ssl, name) != 1)
		return PG_EPROTO;
	if (!t->ctx->has_ca)
		return 0; /* a pin identifies the certificate itself */
	X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ip)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : PG_EPROTO;
	return SSL_set1_host(t->ssl, name) == 1 ? 0 : PG_EPROTO;
}

struct pg_tls *pg_tls_new(struct pg_tls_ctx *ctx, const char *peer_name)
{
	if (!ctx)
		return NULL;
	struct pg_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ctx = ctx;
	ERR_clear_error();
	t->ssl = SSL_new(ctx->ssl);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio)
		goto fail;
	/* An empty memory BIO means "no data yet", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_app_data(t->ssl, t);
	if (ctx->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (peer_name && *peer_name && set_peer_name(t, peer_name) < 0) {
			SSL_free(t->ssl);
			free(t);
			return NULL;
		}
	}
	return t;
fail:
	/* Only reached before SSL_set_bio: the BIOs are still ours. */
	SSL_free(t->ssl);
	BIO_free(t->rbio);
	BIO_free(t->wbio);
	free(t);
	ERR_clear_error();
	return NULL;
}

void pg_tls_del(struct pg_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

static int fail_ssl(struct pg_tls *t, int rc, const char *what)
{
	t->failed = true;
	if (t->err[0]) {
		ERR_clear_error();
		return PG_EPROTO; /* the verify callback already said why */
	}
	char r[200];
	long vr = SSL_get_verify_result(t->ssl);
	if (!t->ctx->server && !t->ctx->anon && vr != X509_V_OK) {
		set_err(t->err, sizeof(t->err), "%s: peer certificate not accepted: %s", what,
			X509_verify_cert_error_string(vr));
		cert_refused(t, PG_TLS_CERT_UNTRUSTED, X509_verify_cert_error_string(vr));
	} else if (rc == SSL_ERROR_ZERO_RETURN)
		set_err(t->err, sizeof(t->err), "%s: peer closed the TLS connection", what);
	else
		set_err(t->err, sizeof(t->err), "%s: %s", what, ssl_reason(r, sizeof(r)));
	ERR_clear_error();
	return PG_EPROTO;
}

/* A second look once the handshake is through, so a pin cannot be skipped by a
 * verify callback that OpenSSL did not call at depth 0. */
static int check_peer(struct pg_tls *t)
{
	if (t->ctx->server || t->ctx->anon)
		return 0;
	X509 *peer = SSL_get0_peer_certificate(t->ssl);
	if (!peer) {
		t->failed = true;
		set_err(t->err, sizeof(t->err), "TLS handshake: peer sent no certificate");
		return PG_EPROTO;
	}
	if (t->ctx->has_ca && SSL_get_verify_result(t->ssl) != X509_V_OK) {
		t->failed = true;
		set_err(t->err, sizeof(t->err), "TLS handshake: peer certificate not accepted: %s",
			X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
		cert_refused(t, PG_TLS_CERT_UNTRUSTED,
			     X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
		return PG_EPROTO;
	}
	if (t->ctx->has_pin && !pin_matches(t->ctx, peer)) {
		t->failed = true;
		set_err(t->err, sizeof(t->err),
			"peer certificate does not match the pinned SHA-256 fingerprint");
		cert_refused(t, PG_TLS_CERT_PIN, NULL);
		return PG_EPROTO;
	}
	return 0;
}

int pg_tls_handshake(struct pg_tls *t)
{
	if (t->failed)
		return PG_EPROTO;
	if (t->done)
		return 1;
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		if (check_peer(t) < 0)
			return PG_EPROTO;
		t->done = true;
		return 1;
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return fail_ssl(t, e, "TLS handshake");
}

bool pg_tls_handshake_done(const struct pg_tls *t)
{
	return t->done;
}

int pg_tls_feed(struct pg_tls *t, const void *p, size_t n)
{
	if (t->failed)
		return PG_EPROTO;
	size_t pending = BIO_ctrl_pending(t->rbio);
	if (pending > PG_TLS_MAX_CIPHER_IN || n > PG_TLS_MAX_CIPHER_IN - pending) {
		set_err(t->err, sizeof(t->err), "more than %u bytes of TLS input waiting",
			PG_TLS_MAX_CIPHER_IN);
		return PG_ELIMIT;
	}
	if (n) {
		size_t w = 0;
		if (BIO_write_ex(t->rbio, p, n, &w) != 1 || w != n) {
			ERR_clear_error();
			return PG_ENOMEM;
		}
	}
	if (!t->done) {
		int r = pg_tls_handshake(t);
		if (r < 0)
			return r;
	}
	return 0;
}

ssize_t pg_tls_read(struct pg_tls *t, struct pg_buf *out)
{
	if (t->failed)
		return PG_EPROTO;
	if (!t->done) {
		int r = pg_tls_handshake(t);
		if (r <= 0)
			return r;
	}
	size_t total = 0;
	while (!t->closed && out->len < out->max) {
		size_t want = out->max - out->len;
		if (want > READ_STEP)
			want = READ_STEP;
		if (pg_buf_reserve(out, want) < 0)
			return PG_ENOMEM;
		size_t got = 0;
		ERR_clear_error();
		int r = SSL_read_ex(t->ssl, out->data + out->len, want, &got);
		if (r == 1) {
			out->len += got;
			total += got;
			continue;
		}
		int e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			t->closed = true;
			break;
		}
		return fail_ssl(t, e, "TLS read");
	}
	return (ssize_t)total;
}

bool pg_tls_peer_closed(const struct pg_tls *t)
{
	return t->closed;
}

int pg_tls_write(struct pg_tls *t, const void *p, size_t n)
{
	if (t->failed)
		return PG_EPROTO;
	if (!t->done) {
		set_err(t->err, sizeof(t->err), "TLS write before the handshake finished");
		return PG_EPROTO;
	}
	if (n == 0)
		return 0;
	/* Records add at most a few hundred bytes each; count them so the cap holds. */
	size_t overhead = (n / READ_STEP + 1) * 256;
	size_t pending = BIO_ctrl_pending(t->wbio);
	if (n > PG_TLS_MAX_CIPHER_OUT || pending > PG_TLS_MAX_CIPHER_OUT - n ||
	    overhead > PG_TLS_MAX_CIPHER_OUT - n - pending) {
		set_err(t->err, sizeof(t->err), "more than %u bytes of TLS output waiting",
			PG_TLS_MAX_CIPHER_OUT);
		return PG_ELIMIT;
	}
	size_t w = 0;
	ERR_clear_error();
	int r = SSL_write_ex(t->ssl, p, n, &w);
	if (r != 1 || w != n)
		return fail_ssl(t, SSL_get_error(t->ssl, r), "TLS write");
	return 0;
}

size_t pg_tls_output_pending(const struct pg_tls *t)
{
	return BIO_ctrl_pending(t->wbio);
}

ssize_t pg_tls_take_output(struct pg_tls *t, struct pg_buf *out)
{
	size_t n = BIO_ctrl_pending(t->wbio);
	size_t room = out->max > out->len ? out->max - out->len : 0;
	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (pg_buf_reserve(out, n) < 0)
		return PG_ENOMEM;
	size_t got = 0;
	if (BIO_read_ex(t->wbio, out->data + out->len, n, &got) != 1) {
		ERR_clear_error();
		return 0;
	}
	out->len += got;
	return (ssize_t)got;
}

int pg_tls_shutdown(struct pg_tls *t)
{
	if (!t->done || t->failed)
		return 0;
	ERR_clear_error();
	if (SSL_shutdown(t->ssl) < 0) {
		ERR_clear_error();
		return PG_EPROTO;
	}
	return 0;
}

const char *pg_tls_error(const struct pg_tls *t)
{
	return t->err;
}

enum pg_tls_cert pg_tls_cert_refused(const struct pg_tls *t, const char **reason)
{
	if (reason)
		*reason = t->cert_reason;
	return t->cert;
}

const char *pg_tls_version(const struct pg_tls *t)
{
	return t->done ? SSL_get_version(t->ssl) : "";
}

const char *pg_tls_cipher(const struct pg_tls *t)
{
	return t->done ? SSL_get_cipher_name(t->ssl) : "";
}
