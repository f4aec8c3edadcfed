#include "tls_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "codec/buf.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"

/* ---- PKI ---- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	cr_assert(e, "extension %d=%s", nid, value);
	cr_assert_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	cr_assert(x);
	X509_set_version(x, 2);
	unsigned char serial[8];
	cr_assert_eq(RAND_bytes(serial, sizeof(serial)), 1);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"pixelgate test",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509 *signer = issuer ? issuer : x;
	add_ext(x, signer, NID_subject_key_identifier, "hash");
	if (!issuer) {
		add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, signer, NID_authority_key_identifier, "keyid");
		add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, signer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, signer, NID_ext_key_usage, "serverAuth");
		add_ext(x, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	}
	cr_assert(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	cr_assert(f, "%s", path);
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
}

void tu_pki_make(struct tu_pki *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/pg-tls-XXXXXX");
	cr_assert(mkdtemp(p->dir));
	snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
	snprintf(p->wrong_ca, sizeof(p->wrong_ca), "%s/wrong-ca.pem", p->dir);
	snprintf(p->cert, sizeof(p->cert), "%s/server.pem", p->dir);
	snprintf(p->key, sizeof(p->key), "%s/server.key", p->dir);

	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *wrong_key = EVP_EC_gen("P-256");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	cr_assert(ca_key && wrong_key && key);
	X509 *ca = make_cert(ca_key, "pixelgate test CA", NULL, NULL);
	X509 *wrong = make_cert(wrong_key, "pixelgate test CA", NULL, NULL);
	X509 *cert = make_cert(key, "localhost", ca, ca_key);
	write_cert(p->ca, ca);
	write_cert(p->wrong_ca, wrong);
	write_cert(p->cert, cert);

	FILE *f = fopen(p->key, "w");
	cr_assert(f);
	cr_assert_eq(fchmod(fileno(f), 0600), 0);
	cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	cr_assert_eq(X509_digest(cert, EVP_sha256(), md, &len), 1);
	cr_assert_eq(len, 32);
	for (unsigned i = 0; i < 32; i++) {
		snprintf(p->fp + 2 * i, 3, "%02x", md[i]);
		snprintf(p->fp_colons + 3 * i, 4, i < 31 ? "%02X:" : "%02X", md[i]);
	}
	X509_free(ca);
	X509_free(wrong);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(wrong_key);
	EVP_PKEY_free(key);
}

void tu_pki_remove(struct tu_pki *p)
{
	unlink(p->ca);
	unlink(p->wrong_ca);
	unlink(p->cert);
	unlink(p->key);
	rmdir(p->dir);
}

/* ---- in-memory pump ---- */

static int move(struct pg_tls *from, struct pg_tls *to, bool *moved)
{
	struct pg_buf b;
	pg_buf_init(&b, PG_TLS_MAX_CIPHER_IN);
	ssize_t n = pg_tls_take_output(from, &b);
	int rc = 0;
	if (n > 0) {
		*moved = true;
		rc = pg_tls_feed(to, b.data, b.len);
	}
	pg_buf_free(&b);
	return n < 0 ? (int)n : rc;
}

int tu_pump(struct pg_tls *a, struct pg_tls *b)
{
	for (int round = 0; round < 1000; round++) {
		bool moved = false;
		int rc = move(a, b, &moved);
		if (rc < 0)
			return rc;
		rc = move(b, a, &moved);
		if (rc < 0)
			return rc;
		if (!moved)
			return 0;
	}
	return PG_EPROTO;
}

int tu_handshake(struct pg_tls *client, struct pg_tls *server)
{
	int rc = pg_tls_handshake(client);
	if (rc < 0)
		return rc;
	rc = tu_pump(client, server);
	if (rc < 0)
		return rc;
	return pg_tls_handshake_done(client) && pg_tls_handshake_done(server) ? 0 : PG_EPROTO;
}

/* ---- guard page ---- */

uint8_t *tu_guard(const void *data, size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t body = (n + (size_t)page - 1) / (size_t)page * (size_t)page;
	if (body == 0)
		body = (size_t)page;
	uint8_t *m = mmap(NULL, body + (size_t)page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(m != MAP_FAILED);
	cr_assert_eq(mprotect(m + body, (size_t)page, PROT_NONE), 0);
	uint8_t *p = m + body - n;
	if (n)
		memcpy(p, data, n);
	return p;
}

void tu_guard_free(uint8_t *p, size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t body = (n + (size_t)page - 1) / (size_t)page * (size_t)page;
	if (body == 0)
		body = (size_t)page;
	munmap(p + n - body, body + (size_t)page);
}

/* ---- loopback server ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct conn {
	struct tu_server *s;
	int fd;
	long long deadline;
	struct pg_buf in; /* plain bytes before TLS, plaintext after */
	struct pg_tls *tls;
};

static int fail(struct conn *c, const char *stage, const char *why)
{
	snprintf(c->s->stage, sizeof(c->s->stage), "%s", stage);
	snprintf(c->s->err, sizeof(c->s->err), "%s", why);
	return -1;
}

static int send_raw(struct conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush_tls(struct conn *c)
{
	struct pg_buf b;
	pg_buf_init(&b, PG_TLS_MAX_CIPHER_OUT);
	ssize_t n = pg_tls_take_output(c->tls, &b);
	int rc = n < 0 ? -1 : send_raw(c, b.data, b.len);
	pg_buf_free(&b);
	return rc;
}

/* Read from the socket once (bounded by the deadline) into c->in, through TLS
 * once it runs. 1 on progress, 0 on EOF, -1 on error or timeout. */
static int fill(struct conn *c)
{
	long long left = c->deadline - now_ms();
	if (left <= 0)
		return -1;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	int pr = poll(&pfd, 1, (int)left);
	if (pr <= 0)
		return -1;
	uint8_t buf[8192];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
	if (n < 0)
		return errno == EINTR ? 1 : -1;
	if (n == 0)
		return 0;
	if (!c->tls)
		return pg_buf_append(&c->in, buf, (size_t)n) < 0 ? -1 : 1;
	if (pg_tls_feed(c->tls, buf, (size_t)n) < 0)
		return -1;
	if (flush_tls(c) < 0)
		return -1;
	if (pg_tls_handshake_done(c->tls) && pg_tls_read(c->tls, &c->in) < 0)
		return -1;
	return flush_tls(c) < 0 ? -1 : 1;
}

static int need(struct conn *c, size_t n)
{
	while (c->in.len < n)
		if (fill(c) <= 0)
			return -1;
	return 0;
}

static int serve(struct conn *c)
{
	struct tu_server *s = c->s;
	if (send_raw(c, "RFB 003.008\n", 12) < 0 || need(c, 12) < 0)
		return fail(c, "version", "no version");
	int minor = 0;
	if (pg_rfb_parse_version(c->in.data, c->in.len, &minor) != 12 || minor != 8)
		return fail(c, "version", "not RFB 3.8");
	pg_buf_consume(&c->in, 12);
	const uint8_t types[2] = {1, PG_RFB_SEC_VENCRYPT};
	if (send_raw(c, types, 2) < 0 || need(c, 1) < 0 || c->in.data[0] != PG_RFB_SEC_VENCRYPT)
		return fail(c, "security", "viewer did not choose VeNCrypt");
	pg_buf_consume(&c->in, 1);

	struct pg_vencrypt_server vs;
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	if (pg_vencrypt_server_start(&vs, &s->subtype, 1, &out) < 0)
		return fail(c, "vencrypt", "start");
	while (vs.phase != PG_VENCRYPT_TLS) {
		ssize_t n = pg_vencrypt_server_parse(&vs, c->in.data, c->in.len, &out);
		if (out.len && send_raw(c, out.data, out.len) < 0)
			return fail(c, "vencrypt", "send");
		pg_buf_reset(&out);
		if (n < 0)
			return fail(c, "vencrypt", "refused");
		if (n > 0)
			pg_buf_consume(&c->in, (size_t)n);
		else if (fill(c) <= 0)
			return fail(c, "vencrypt", "eof");
	}
	pg_buf_free(&out);
	if (c->in.len)
		return fail(c, "vencrypt", "bytes before TLS");

	c->tls = pg_tls_new(s->ctx, NULL);
	if (!c->tls)
		return fail(c, "tls", "pg_tls_new");
	while (!pg_tls_handshake_done(c->tls)) {
		if (fill(c) <= 0) {
			snprintf(s->err, sizeof(s->err), "%s", pg_tls_error(c->tls));
			snprintf(s->stage, sizeof(s->stage), "tls");
			return -1;
		}
	}
	if (pg_tls_read(c->tls, &c->in) < 0 || flush_tls(c) < 0)
		return fail(c, "tls", pg_tls_error(c->tls));
	snprintf(s->tls_version, sizeof(s->tls_version), "%s", pg_tls_version(c->tls));
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s", pg_tls_cipher(c->tls));

	ssize_t n;
	while ((n = pg_vencrypt_parse_plain(c->in.data, c->in.len, &s->cred)) == 0)
		if (fill(c) <= 0)
			return fail(c, "plain", "eof");
	if (n < 0)
		return fail(c, "plain", "bad credentials message");
	OPENSSL_cleanse(c->in.data, (size_t)n);
	pg_buf_consume(&c->in, (size_t)n);

	const uint8_t ok[4] = {0, 0, 0, 0};
	if (pg_tls_write(c->tls, ok, 4) < 0 || flush_tls(c) < 0)
		return fail(c, "result", "send");
	if (need(c, 1) < 0)
		return fail(c, "init", "no ClientInit");
	pg_buf_consume(&c->in, 1);
	struct pg_buf si;
	pg_buf_init(&si, 1024);
	if (pg_rfb_write_server_init(&si, 64, 48, "pg-tls-test", 11) < 0 ||
	    pg_tls_write(c->tls, si.data, si.len) < 0 || flush_tls(c) < 0)
		return fail(c, "init", "send ServerInit");
	pg_buf_free(&si);
	s->rc = 0;
	snprintf(s->stage, sizeof(s->stage), "done");
	/* Keep the connection until the viewer leaves (bounded). */
	c->deadline = now_ms() + 3000;
	for (;;) {
		pg_buf_reset(&c->in);
		if (fill(c) <= 0)
			break;
	}
	return 0;
}

static void *server_main(void *arg)
{
	struct tu_server *s = arg;
	struct conn c = {.s = s, .fd = -1};
	pg_buf_init(&c.in, 1 << 20);
	c.deadline = now_ms() + TU_TIMEOUT_MS;
	struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
	if (poll(&pfd, 1, TU_TIMEOUT_MS) == 1)
		c.fd = accept(s->lfd, NULL, NULL);
	if (c.fd < 0) {
		snprintf(s->stage, sizeof(s->stage), "accept");
		goto out;
	}
	serve(&c);
	if (c.tls && pg_tls_handshake_done(c.tls) && pg_tls_shutdown(c.tls) == 0)
		flush_tls(&c);
out:
	if (c.in.data)
		OPENSSL_cleanse(c.in.data, c.in.cap);
	pg_buf_free(&c.in);
	pg_tls_del(c.tls);
	if (c.fd >= 0)
		close(c.fd);
	return NULL;
}

void tu_server_start(struct tu_server *s, uint32_t subtype, struct pg_tls_ctx *ctx)
{
	memset(s, 0, sizeof(*s));
	s->rc = -1;
	s->subtype = subtype;
	s->ctx = ctx;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(s->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->lfd, 4), 0);
	socklen_t len = sizeof(a);
	cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&s->thread, NULL, server_main, s), 0);
}

void tu_server_stop(struct tu_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
}
