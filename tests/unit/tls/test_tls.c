/* pg_tls: a client and a server talking purely in memory, against a CA and a
 * server certificate made for this test; plus raw OpenSSL clients for what
 * pg_tls itself would never send. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "codec/err.h"
#include "tls_util.h"

static struct tu_pki pki;

static void setup(void)
{
	tu_pki_make(&pki);
}

static void teardown(void)
{
	tu_pki_remove(&pki);
}

TestSuite(tls, .init = setup, .fini = teardown);

static struct pg_tls_ctx *server_ctx(void)
{
	char err[512] = "";
	struct pg_tls_ctx *c = pg_tls_ctx_new_server(pki.cert, pki.key, err, sizeof(err));
	cr_assert(c, "server ctx: %s", err);
	return c;
}

static struct pg_tls_ctx *client_ctx(const char *ca, const char *pin)
{
	char err[512] = "";
	struct pg_tls_client_opts o = {.ca_file = ca, .pin_sha256 = pin};
	struct pg_tls_ctx *c = pg_tls_ctx_new_client(&o, err, sizeof(err));
	cr_assert(c, "client ctx: %s", err);
	return c;
}

static void assert_one_line(const char *s)
{
	cr_assert(s[0], "an error reason is given");
	cr_assert_null(strchr(s, '\n'), "one line: %s", s);
}

/* Run a handshake between fresh connections; returns its result and leaves the
 * client's error in err. */
static int try_handshake(struct pg_tls_ctx *cc, const char *name, struct pg_tls_ctx *sc, char *err,
			 size_t errlen)
{
	struct pg_tls *c = pg_tls_new(cc, name), *s = pg_tls_new(sc, NULL);
	cr_assert(c && s);
	int rc = tu_handshake(c, s);
	snprintf(err, errlen, "%s", pg_tls_error(c));
	pg_tls_del(c);
	pg_tls_del(s);
	return rc;
}

Test(tls, handshake_and_data_both_ways)
{
	struct pg_tls_ctx *sc = server_ctx(), *cc = client_ctx(pki.ca, NULL);
	struct pg_tls *c = pg_tls_new(cc, "127.0.0.1"), *s = pg_tls_new(sc, NULL);
	cr_assert(c && s);
	cr_assert_not(pg_tls_handshake_done(c));
	cr_assert_eq(pg_tls_write(c, "x", 1), PG_EPROTO, "no plaintext before the handshake");
	cr_assert_eq(tu_handshake(c, s), 0, "%s / %s", pg_tls_error(c), pg_tls_error(s));
	cr_assert_str_eq(pg_tls_version(c), "TLSv1.3");
	cr_assert_str_eq(pg_tls_version(s), "TLSv1.3");

	struct pg_buf in;
	pg_buf_init(&in, 1 << 16);
	cr_assert_eq(pg_tls_write(c, "hello server", 12), 0);
	cr_assert_eq(tu_pump(c, s), 0);
	cr_assert_eq(pg_tls_read(s, &in), 12);
	cr_assert_eq(memcmp(in.data, "hello server", 12), 0);
	pg_buf_reset(&in);
	cr_assert_eq(pg_tls_write(s, "hello viewer", 12), 0);
	cr_assert_eq(tu_pump(c, s), 0);
	cr_assert_eq(pg_tls_read(c, &in), 12);
	cr_assert_eq(memcmp(in.data, "hello viewer", 12), 0);

	/* close_notify is seen as a close, not an error */
	pg_buf_reset(&in);
	cr_assert_eq(pg_tls_shutdown(c), 0);
	cr_assert_eq(tu_pump(c, s), 0);
	cr_assert_eq(pg_tls_read(s, &in), 0);
	cr_assert(pg_tls_peer_closed(s));
	pg_buf_free(&in);
	pg_tls_del(c);
	pg_tls_del(s);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

/* 8 MiB each way through bounded buffers: nothing lost, reordered or stuck, and
 * the plaintext buffer never grows past its cap. */
Test(tls, large_data)
{
	struct pg_tls_ctx *sc = server_ctx(), *cc = client_ctx(pki.ca, NULL);
	struct pg_tls *c = pg_tls_new(cc, "localhost"), *s = pg_tls_new(sc, NULL);
	cr_assert_eq(tu_handshake(c, s), 0);
	const size_t total = 8u << 20, chunk = 100000;
	uint8_t *data = malloc(total);
	cr_assert_eq(RAND_bytes(data, (int)total), 1);
	struct pg_tls *ends[2][2] = {{c, s}, {s, c}};
	for (int dir = 0; dir < 2; dir++) {
		struct pg_tls *from = ends[dir][0], *to = ends[dir][1];
		struct pg_buf in;
		pg_buf_init(&in, 64 * 1024);
		size_t sent = 0, got = 0;
		while (got < total) {
			if (sent < total) {
				size_t n = total - sent < chunk ? total - sent : chunk;
				cr_assert_eq(pg_tls_write(from, data + sent, n), 0);
				sent += n;
			}
			cr_assert_eq(tu_pump(from, to), 0);
			for (;;) {
				ssize_t n = pg_tls_read(to, &in);
				cr_assert_geq(n, 0, "%s", pg_tls_error(to));
				cr_assert_leq(in.cap, in.max);
				if (in.len == 0)
					break;
				cr_assert_eq(memcmp(in.data, data + got, in.len), 0, "at %zu", got);
				got += in.len;
				pg_buf_reset(&in);
			}
		}
		cr_assert_eq(got, total);
		pg_buf_free(&in);
	}
	free(data);
	pg_tls_del(c);
	pg_tls_del(s);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

Test(tls, input_and_output_caps)
{
	struct pg_tls_ctx *sc = server_ctx(), *cc = client_ctx(pki.ca, NULL);
	struct pg_tls *c = pg_tls_new(cc, "127.0.0.1"), *s = pg_tls_new(sc, NULL);
	cr_assert_eq(tu_handshake(c, s), 0);

	static uint8_t big[PG_TLS_MAX_CIPHER_OUT];
	cr_assert_eq(pg_tls_write(c, big, sizeof(big)), PG_ELIMIT, "output cap");
	cr_assert_eq(pg_tls_output_pending(c), 0, "all or nothing");

	size_t n = PG_TLS_MAX_CIPHER_IN + 50000;
	cr_assert_eq(pg_tls_write(c, big, n), 0);
	struct pg_buf wire, in;
	pg_buf_init(&wire, PG_TLS_MAX_CIPHER_OUT);
	pg_buf_init(&in, 64 * 1024);
	cr_assert_gt(pg_tls_take_output(c, &wire), (ssize_t)n);
	cr_assert_eq(pg_tls_feed(s, wire.data, wire.len), PG_ELIMIT, "input cap, whole");
	size_t half = wire.len / 2;
	cr_assert_eq(pg_tls_feed(s, wire.data, half), 0);
	cr_assert_eq(pg_tls_feed(s, wire.data + half, wire.len - half), PG_ELIMIT);
	/* The refusal is backpressure, not a failure: drain, then the rest fits. */
	size_t got = 0;
	ssize_t r;
	while ((r = pg_tls_read(s, &in)) > 0) {
		got += in.len;
		pg_buf_reset(&in);
	}
	cr_assert_eq(r, 0);
	cr_assert_eq(pg_tls_feed(s, wire.data + half, wire.len - half), 0);
	while ((r = pg_tls_read(s, &in)) > 0) {
		got += in.len;
		pg_buf_reset(&in);
	}
	cr_assert_eq(got, n);
	pg_buf_free(&wire);
	pg_buf_free(&in);
	pg_tls_del(c);
	pg_tls_del(s);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

Test(tls, garbage_refused)
{
	struct pg_tls_ctx *sc = server_ctx();
	struct pg_tls *s = pg_tls_new(sc, NULL);
	const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	cr_assert_lt(pg_tls_feed(s, http, strlen(http)), 0);
	assert_one_line(pg_tls_error(s));
	cr_assert_lt(pg_tls_feed(s, "x", 1), 0, "stays failed");
	pg_tls_del(s);
	pg_tls_ctx_del(sc);
}

/* A raw OpenSSL client pinned to one version and cipher list, pumped against a
 * pg_tls server by hand. Returns 1 if the handshake completed. */
static int raw_client(struct pg_tls_ctx *sc, int version, const char *ciphers, char *err,
		      size_t errlen)
{
	SSL_CTX *rc = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_security_level(rc, 0);
	SSL_CTX_set_min_proto_version(rc, version);
	SSL_CTX_set_max_proto_version(rc, version);
	if (ciphers)
		cr_assert_eq(SSL_CTX_set_cipher_list(rc, ciphers), 1);
	SSL *ssl = SSL_new(rc);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(rb, -1);
	SSL_set_bio(ssl, rb, wb);
	SSL_set_connect_state(ssl);
	struct pg_tls *s = pg_tls_new(sc, NULL);
	int done = 0;
	for (int round = 0; round < 20 && !done; round++) {
		int r = SSL_do_handshake(ssl);
		/* Ask now: writing to rb below clears the retry flags. */
		bool stuck = r != 1 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ;
		done = r == 1;
		char buf[65536];
		int n = BIO_read(wb, buf, sizeof(buf));
		if (n > 0 && pg_tls_feed(s, buf, (size_t)n) < 0)
			break;
		struct pg_buf out;
		pg_buf_init(&out, 1 << 20);
		pg_tls_take_output(s, &out);
		if (out.len)
			BIO_write(rb, out.data, (int)out.len);
		pg_buf_free(&out);
		if (stuck)
			break;
	}
	snprintf(err, errlen, "%s", pg_tls_error(s));
	done = done && pg_tls_handshake_done(s);
	pg_tls_del(s);
	SSL_free(ssl);
	SSL_CTX_free(rc);
	return done;
}

Test(tls, old_versions_and_weak_ciphers_refused)
{
	struct pg_tls_ctx *sc = server_ctx();
	char err[256];
	cr_assert_not(raw_client(sc, TLS1_1_VERSION, NULL, err, sizeof(err)), "TLS 1.1 refused");
	cr_assert(strstr(err, "protocol"), "reason names the protocol: %s", err);
	assert_one_line(err);
	cr_assert_not(raw_client(sc, TLS1_VERSION, NULL, err, sizeof(err)), "TLS 1.0 refused");
	/* TLS 1.2 works, but only with forward secrecy and AEAD. */
	cr_assert(raw_client(sc, TLS1_2_VERSION, NULL, err, sizeof(err)), "TLS 1.2: %s", err);
	cr_assert(
	    raw_client(sc, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", err, sizeof(err)));
	cr_assert_not(raw_client(sc, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", err, sizeof(err)),
		      "CBC refused");
	cr_assert_not(raw_client(sc, TLS1_2_VERSION, "ADH-AES128-GCM-SHA256", err, sizeof(err)),
		      "anonymous refused by a certificate server");
	pg_tls_ctx_del(sc);
}

Test(tls, wrong_ca_refused)
{
	struct pg_tls_ctx *sc = server_ctx(), *cc = client_ctx(pki.wrong_ca, NULL);
	char err[256];
	cr_assert_lt(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0);
	cr_assert(strstr(err, "certificate"), "%s", err);
	assert_one_line(err);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

Test(tls, peer_name_checked)
{
	struct pg_tls_ctx *sc = server_ctx(), *cc = client_ctx(pki.ca, NULL);
	char err[256];
	cr_assert_eq(try_handshake(cc, "localhost", sc, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(try_handshake(cc, NULL, sc, err, sizeof(err)), 0, "no name: chain only");
	cr_assert_lt(try_handshake(cc, "evil.example", sc, err, sizeof(err)), 0);
	cr_assert(strstr(err, "mismatch"), "%s", err);
	cr_assert_lt(try_handshake(cc, "127.0.0.2", sc, err, sizeof(err)), 0);
	cr_assert_lt(try_handshake(cc, "::1", sc, err, sizeof(err)), 0);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

Test(tls, pinned_fingerprint)
{
	struct pg_tls_ctx *sc = server_ctx();
	char err[256], wrong[96];
	/* The pin alone: the CA is unknown to the client, the name is not checked. */
	const char *pins[] = {pki.fp, pki.fp_colons};
	for (int i = 0; i < 2; i++) {
		struct pg_tls_ctx *cc = client_ctx(NULL, pins[i]);
		cr_assert_eq(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(try_handshake(cc, "any.example", sc, err, sizeof(err)), 0, "%s", err);
		pg_tls_ctx_del(cc);
	}
	snprintf(wrong, sizeof(wrong), "%s", pki.fp);
	wrong[10] = wrong[10] == '0' ? '1' : '0';
	struct pg_tls_ctx *cc = client_ctx(NULL, wrong);
	cr_assert_lt(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0);
	cr_assert(strstr(err, "pinned"), "%s", err);
	pg_tls_ctx_del(cc);
	/* Both: both must hold. */
	cc = client_ctx(pki.ca, pki.fp);
	cr_assert_eq(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0, "%s", err);
	pg_tls_ctx_del(cc);
	cc = client_ctx(pki.wrong_ca, pki.fp);
	cr_assert_lt(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0,
		     "right pin, wrong CA");
	pg_tls_ctx_del(cc);
	cc = client_ctx(pki.ca, wrong);
	cr_assert_lt(try_handshake(cc, "127.0.0.1", sc, err, sizeof(err)), 0,
		     "right CA, wrong pin");
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

/* What failed, as the upstream worker names it: the CA (with OpenSSL's reason, for a
 * wrong signer and for a wrong name), or the pin. */
static enum pg_tls_cert refusal(struct pg_tls_ctx *cc, const char *name, struct pg_tls_ctx *sc,
				char *why, size_t len)
{
	struct pg_tls *c = pg_tls_new(cc, name), *s = pg_tls_new(sc, NULL);
	const char *reason = NULL;
	cr_assert(c && s);
	cr_assert_eq(pg_tls_cert_refused(c, &reason), PG_TLS_CERT_OK, "nothing refused yet");
	tu_handshake(c, s);
	enum pg_tls_cert r = pg_tls_cert_refused(c, &reason);
	snprintf(why, len, "%s", reason ? reason : "(null)");
	pg_tls_del(c);
	pg_tls_del(s);
	return r;
}

Test(tls, certificate_refusal_reason)
{
	struct pg_tls_ctx *sc = server_ctx(), *cc;
	char why[160], wrong[96];

	snprintf(wrong, sizeof(wrong), "%s", pki.fp);
	wrong[10] = wrong[10] == '0' ? '1' : '0';
	cc = client_ctx(pki.ca, NULL);
	cr_assert_eq(refusal(cc, "127.0.0.1", sc, why, sizeof(why)), PG_TLS_CERT_OK);
	cr_assert_eq(refusal(cc, "127.0.0.2", sc, why, sizeof(why)), PG_TLS_CERT_UNTRUSTED);
	cr_assert(strstr(why, "mismatch"), "%s", why);
	pg_tls_ctx_del(cc);
	cc = client_ctx(pki.wrong_ca, pki.fp);
	cr_assert_eq(refusal(cc, "127.0.0.1", sc, why, sizeof(why)), PG_TLS_CERT_UNTRUSTED);
	cr_assert(strstr(why, "issuer"), "%s", why);
	pg_tls_ctx_del(cc);
	cc = client_ctx(NULL, wrong);
	cr_assert_eq(refusal(cc, "127.0.0.1", sc, why, sizeof(why)), PG_TLS_CERT_PIN);
	pg_tls_ctx_del(cc);
	cc = client_ctx(pki.ca, wrong);
	cr_assert_eq(refusal(cc, "127.0.0.1", sc, why, sizeof(why)), PG_TLS_CERT_PIN);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
}

Test(tls, fingerprint_syntax)
{
	unsigned char fp[32];
	cr_assert_eq(pg_tls_parse_fingerprint(pki.fp, fp), 0);
	cr_assert_eq(pg_tls_parse_fingerprint(pki.fp_colons, fp), 0);
	char s[200];
	snprintf(s, sizeof(s), ":%s", pki.fp);
	cr_assert_lt(pg_tls_parse_fingerprint(s, fp), 0);
	snprintf(s, sizeof(s), "%s:", pki.fp_colons);
	cr_assert_lt(pg_tls_parse_fingerprint(s, fp), 0);
	snprintf(s, sizeof(s), "%.63s", pki.fp);
	cr_assert_lt(pg_tls_parse_fingerprint(s, fp), 0);
	snprintf(s, sizeof(s), "%s0", pki.fp);
	cr_assert_lt(pg_tls_parse_fingerprint(s, fp), 0);
	snprintf(s, sizeof(s), "a:%s", pki.fp + 1);
	cr_assert_lt(pg_tls_parse_fingerprint(s, fp), 0);
	cr_assert_lt(pg_tls_parse_fingerprint("zz", fp), 0);
	cr_assert_lt(pg_tls_parse_fingerprint("", fp), 0);
	char err[256];
	struct pg_tls_client_opts o = {.pin_sha256 = "abcd"};
	cr_assert_null(pg_tls_ctx_new_client(&o, err, sizeof(err)));
	cr_assert(strstr(err, "SHA-256"), "%s", err);
	struct pg_tls_client_opts none = {0};
	cr_assert_null(pg_tls_ctx_new_client(&none, err, sizeof(err)), "no CA, no pin: refused");
}

Test(tls, key_file_must_be_private)
{
	char err[512] = "";
	cr_assert_eq(chmod(pki.key, 0644), 0);
	cr_assert_null(pg_tls_ctx_new_server(pki.cert, pki.key, err, sizeof(err)));
	cr_assert(strstr(err, pki.key), "names the file: %s", err);
	cr_assert(strstr(err, "0644"), "says the mode: %s", err);
	cr_assert(strstr(err, "chmod 600"), "says the fix: %s", err);
	assert_one_line(err);
	cr_assert_eq(chmod(pki.key, 0640), 0);
	cr_assert_null(pg_tls_ctx_new_server(pki.cert, pki.key, err, sizeof(err)), "group too");
	cr_assert_eq(chmod(pki.key, 0400), 0);
	struct pg_tls_ctx *c = pg_tls_ctx_new_server(pki.cert, pki.key, err, sizeof(err));
	cr_assert(c, "0400 is fine: %s", err);
	pg_tls_ctx_del(c);

	cr_assert_null(pg_tls_ctx_new_server(pki.cert, pki.dir, err, sizeof(err)));
	cr_assert(strstr(err, "not a regular file"), "%s", err);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/nope.key", pki.dir);
	cr_assert_null(pg_tls_ctx_new_server(pki.cert, missing, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open"), "%s", err);
	/* A key that is not the certificate's. */
	cr_assert_null(pg_tls_ctx_new_server(pki.ca, pki.key, err, sizeof(err)));
	cr_assert(strstr(err, "does not match"), "%s", err);
	cr_assert_null(pg_tls_ctx_new_server(missing, pki.key, err, sizeof(err)));
	cr_assert(strstr(err, "certificate chain"), "%s", err);
}

Test(tls, anonymous_for_tlsplain)
{
	char err[256];
	struct pg_tls_ctx *sc = pg_tls_ctx_new_anon_server(err, sizeof(err));
	cr_assert(sc, "%s", err);
	struct pg_tls_client_opts o = {.anon = true};
	struct pg_tls_ctx *cc = pg_tls_ctx_new_client(&o, err, sizeof(err));
	cr_assert(cc, "%s", err);
	struct pg_tls *c = pg_tls_new(cc, NULL), *s = pg_tls_new(sc, NULL);
	cr_assert_eq(tu_handshake(c, s), 0, "%s / %s", pg_tls_error(c), pg_tls_error(s));
	cr_assert_str_eq(pg_tls_version(s), "TLSv1.2");
	cr_assert(strstr(pg_tls_cipher(s), "ADH-AES") && strstr(pg_tls_cipher(s), "GCM"), "%s",
		  pg_tls_cipher(s));
	pg_tls_del(c);
	pg_tls_del(s);
	/* A verifying client never settles for an anonymous server. */
	struct pg_tls_ctx *vc = client_ctx(pki.ca, NULL);
	cr_assert_lt(try_handshake(vc, "127.0.0.1", sc, err, sizeof(err)), 0);
	pg_tls_ctx_del(vc);
	pg_tls_ctx_del(cc);
	pg_tls_ctx_del(sc);
	struct pg_tls_client_opts bad = {.anon = true, .ca_file = pki.ca};
	cr_assert_null(pg_tls_ctx_new_client(&bad, err, sizeof(err)));
}
