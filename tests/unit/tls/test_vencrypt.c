/* VeNCrypt 0.2 state machines: every prefix is "need more" with no reply, every
 * input is read against a PROT_NONE page, limits hold before buffering, and
 * refusals answer what the spec says. */
#include <criterion/criterion.h>
#include <string.h>

#include "auth/vencrypt.h"
#include "codec/buf.h"
#include "codec/err.h"
#include "tls_util.h"

static const uint32_t offer[] = {PG_VENCRYPT_X509PLAIN, PG_VENCRYPT_TLSPLAIN};

/* Feed buf[0..n) to a parser one prefix at a time from a guard page: every
 * shorter prefix needs more and writes nothing; the whole returns want. */
typedef ssize_t (*step_fn)(void *st, const uint8_t *p, size_t len, struct pg_buf *out);

static void check_prefixes(step_fn fn, void *st, size_t st_size, const uint8_t *buf, size_t n,
			   ssize_t want)
{
	uint8_t saved[512];
	cr_assert_leq(st_size, sizeof(saved));
	memcpy(saved, st, st_size);
	for (size_t k = 0; k < n; k++) {
		uint8_t *g = tu_guard(buf, k);
		struct pg_buf out;
		pg_buf_init(&out, 4096);
		cr_assert_eq(fn(st, g, k, &out), 0, "prefix %zu of %zu", k, n);
		cr_assert_eq(out.len, 0, "no reply to a prefix");
		cr_assert_eq(memcmp(saved, st, st_size), 0, "no state change on a prefix");
		pg_buf_free(&out);
		tu_guard_free(g, k);
	}
	uint8_t *g = tu_guard(buf, n);
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	cr_assert_eq(fn(st, g, n, &out), want);
	pg_buf_free(&out);
	tu_guard_free(g, n);
	memcpy(st, saved, st_size);
}

static ssize_t server_step(void *st, const uint8_t *p, size_t len, struct pg_buf *out)
{
	return pg_vencrypt_server_parse(st, p, len, out);
}

static ssize_t client_step(void *st, const uint8_t *p, size_t len, struct pg_buf *out)
{
	return pg_vencrypt_client_parse(st, p, len, out);
}

static ssize_t plain_step(void *st, const uint8_t *p, size_t len, struct pg_buf *out)
{
	return pg_vencrypt_parse_plain(p, len, st);
}

Test(vencrypt, server_happy_path)
{
	struct pg_vencrypt_server s;
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	cr_assert_eq(pg_vencrypt_server_start(&s, offer, 2, &out), 0);
	const uint8_t v02[2] = {0, 2};
	cr_assert_eq(out.len, 2);
	cr_assert_eq(memcmp(out.data, v02, 2), 0, "server version 0.2");
	pg_buf_reset(&out);

	check_prefixes(server_step, &s, sizeof(s), v02, 2, 2);
	cr_assert_eq(pg_vencrypt_server_parse(&s, v02, 2, &out), 2);
	const uint8_t list[] = {0, 2, 0, 0, 1, 6, 0, 0, 1, 3};
	cr_assert_eq(out.len, sizeof(list));
	cr_assert_eq(memcmp(out.data, list, sizeof(list)), 0, "ack 0, count, X509Plain, TLSPlain");
	pg_buf_reset(&out);

	const uint8_t choice[4] = {0, 0, 1, 6};
	check_prefixes(server_step, &s, sizeof(s), choice, 4, 4);
	cr_assert_eq(pg_vencrypt_server_parse(&s, choice, 4, &out), 4);
	cr_assert_eq(out.len, 1);
	cr_assert_eq(out.data[0], 1, "choice accepted");
	cr_assert_eq(s.phase, PG_VENCRYPT_TLS);
	cr_assert_eq(s.chosen, PG_VENCRYPT_X509PLAIN);
	cr_assert(pg_vencrypt_is_x509(s.chosen));
	cr_assert_eq(pg_vencrypt_server_parse(&s, choice, 4, &out), PG_EPROTO,
		     "TLS bytes are not VeNCrypt's");
	pg_buf_free(&out);
}

/* Inside the web listener's TLS: Plain alone, and no acceptance byte after the
 * choice (noVNC, like TigerVNC, reads one only in its TLS layer). */
Test(vencrypt, server_in_tls_offers_plain_without_accept_byte)
{
	struct pg_vencrypt_server s;
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	cr_assert_eq(pg_vencrypt_server_start_in_tls(&s, &out), 0);
	pg_buf_reset(&out);
	const uint8_t v02[2] = {0, 2};
	cr_assert_eq(pg_vencrypt_server_parse(&s, v02, 2, &out), 2);
	const uint8_t list[] = {0, 1, 0, 0, 1, 0};
	cr_assert_eq(out.len, sizeof(list));
	cr_assert_eq(memcmp(out.data, list, sizeof(list)), 0, "ack 0, count 1, Plain");
	pg_buf_reset(&out);
	const uint8_t x509[4] = {0, 0, 1, 6};
	struct pg_vencrypt_server t = s;
	cr_assert_eq(pg_vencrypt_server_parse(&t, x509, 4, &out), PG_EUNSUP, "only Plain offered");
	pg_buf_reset(&out);
	const uint8_t choice[4] = {0, 0, 1, 0};
	cr_assert_eq(pg_vencrypt_server_parse(&s, choice, 4, &out), 4);
	cr_assert_eq(out.len, 0, "no acceptance byte after Plain");
	cr_assert_eq(s.phase, PG_VENCRYPT_TLS);
	cr_assert_eq(s.chosen, PG_VENCRYPT_PLAIN);
	pg_buf_free(&out);
}

Test(vencrypt, server_refuses_other_versions)
{
	const uint8_t versions[][2] = {{0, 1}, {0, 3}, {1, 0}, {2, 2}, {255, 255}};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct pg_vencrypt_server s;
		struct pg_buf out;
		pg_buf_init(&out, 4096);
		cr_assert_eq(pg_vencrypt_server_start(&s, offer, 2, &out), 0);
		pg_buf_reset(&out);
		uint8_t *g = tu_guard(versions[i], 2);
		cr_assert_eq(pg_vencrypt_server_parse(&s, g, 2, &out), PG_EUNSUP);
		tu_guard_free(g, 2);
		cr_assert_eq(out.len, 1);
		cr_assert_eq(out.data[0], 255, "version refused with 255");
		cr_assert_eq(s.phase, PG_VENCRYPT_FAILED);
		pg_buf_free(&out);
	}
}

Test(vencrypt, server_refuses_subtype_not_offered)
{
	const uint32_t only[] = {PG_VENCRYPT_X509PLAIN};
	const uint32_t bad[] = {
	    PG_VENCRYPT_PLAIN, PG_VENCRYPT_TLSPLAIN, PG_VENCRYPT_X509NONE, 0, 19, 0xffffffffu};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pg_vencrypt_server s;
		struct pg_buf out;
		pg_buf_init(&out, 4096);
		cr_assert_eq(pg_vencrypt_server_start(&s, only, 1, &out), 0);
		cr_assert_eq(pg_vencrypt_server_parse(&s, (const uint8_t[]){0, 2}, 2, &out), 2);
		pg_buf_reset(&out);
		uint8_t c[4];
		pg_wr32(c, bad[i]);
		cr_assert_eq(pg_vencrypt_server_parse(&s, c, 4, &out), PG_EUNSUP, "%u", bad[i]);
		cr_assert_eq(out.len, 1);
		cr_assert_eq(out.data[0], 0, "choice refused with 0");
		pg_buf_free(&out);
	}
}

Test(vencrypt, offer_lists_checked)
{
	struct pg_vencrypt_server s;
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	const uint32_t plain[] = {PG_VENCRYPT_PLAIN};
	cr_assert_eq(pg_vencrypt_server_start(&s, plain, 1, &out), PG_EUNSUP,
		     "no password w/o TLS");
	cr_assert_eq(pg_vencrypt_server_start(&s, offer, 0, &out), PG_ELIMIT);
	uint32_t many[PG_VENCRYPT_MAX_SUBTYPES + 1];
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = PG_VENCRYPT_TLSNONE + (uint32_t)(i % 6);
	cr_assert_eq(pg_vencrypt_server_start(&s, many, PG_VENCRYPT_MAX_SUBTYPES + 1, &out),
		     PG_ELIMIT);
	const uint32_t dup[] = {PG_VENCRYPT_X509PLAIN, PG_VENCRYPT_X509PLAIN};
	cr_assert_eq(pg_vencrypt_server_start(&s, dup, 2, &out), PG_EPROTO);
	cr_assert_eq(out.len, 0, "nothing sent for a bad offer");
	struct pg_vencrypt_client c;
	cr_assert_eq(pg_vencrypt_client_init(&c, plain, 1), PG_EUNSUP);
	pg_buf_free(&out);
}

static struct pg_vencrypt_client client_at_list(const uint32_t *want, size_t n)
{
	struct pg_vencrypt_client c;
	struct pg_buf out;
	pg_buf_init(&out, 64);
	cr_assert_eq(pg_vencrypt_client_init(&c, want, n), 0);
	cr_assert_eq(pg_vencrypt_client_parse(&c, (const uint8_t[]){0, 2}, 2, &out), 2);
	cr_assert_eq(out.len, 2);
	cr_assert_eq(out.data[1], 2, "client answers 0.2");
	pg_buf_free(&out);
	return c;
}

Test(vencrypt, client_chooses_its_preference)
{
	/* Xtigervnc's default list, in its order */
	const uint8_t list[] = {0, 5, 0, 0, 1, 6, 0, 0, 1, 3, 0, 0, 1, 5, 0, 0, 1, 2, 0, 0, 1, 4};
	const uint32_t want[] = {PG_VENCRYPT_X509VNC, PG_VENCRYPT_X509NONE, PG_VENCRYPT_TLSVNC};
	struct pg_vencrypt_client c;
	struct pg_buf out;
	pg_buf_init(&out, 64);
	cr_assert_eq(pg_vencrypt_client_init(&c, want, 3), 0);
	const uint8_t v02[2] = {0, 2};
	check_prefixes(client_step, &c, sizeof(c), v02, 2, 2);
	c = client_at_list(want, 3);
	check_prefixes(client_step, &c, sizeof(c), list, sizeof(list), (ssize_t)sizeof(list));
	cr_assert_eq(pg_vencrypt_client_parse(&c, list, sizeof(list), &out), (ssize_t)sizeof(list));
	cr_assert_eq(c.chosen, PG_VENCRYPT_X509VNC, "our first choice, not the server's first");
	cr_assert_eq(out.len, 4);
	cr_assert_eq(pg_rd32(out.data), PG_VENCRYPT_X509VNC);
	check_prefixes(client_step, &c, sizeof(c), (const uint8_t[]){1}, 1, 1);
	cr_assert_eq(pg_vencrypt_client_parse(&c, (const uint8_t[]){1}, 1, &out), 1);
	cr_assert_eq(c.phase, PG_VENCRYPT_TLS);
	cr_assert_str_eq(pg_vencrypt_name(c.chosen), "X509Vnc");
	pg_buf_free(&out);

	/* A newer server version is answered with 0.2. */
	struct pg_vencrypt_client n;
	cr_assert_eq(pg_vencrypt_client_init(&n, want, 3), 0);
	pg_buf_init(&out, 64);
	cr_assert_eq(pg_vencrypt_client_parse(&n, (const uint8_t[]){0, 3}, 2, &out), 2);
	cr_assert_eq(out.data[1], 2);
	pg_buf_free(&out);
}

Test(vencrypt, client_refusals)
{
	const uint32_t want[] = {PG_VENCRYPT_X509PLAIN};
	struct pg_buf out;
	pg_buf_init(&out, 64);
	struct pg_vencrypt_client c;
	cr_assert_eq(pg_vencrypt_client_init(&c, want, 1), 0);
	cr_assert_eq(pg_vencrypt_client_parse(&c, (const uint8_t[]){0, 1}, 2, &out), PG_EUNSUP,
		     "0.1");
	c = client_at_list(want, 1);
	cr_assert_eq(pg_vencrypt_client_parse(&c, (const uint8_t[]){255}, 1, &out), PG_EUNSUP,
		     "server refused our version");
	c = client_at_list(want, 1);
	cr_assert_eq(pg_vencrypt_client_parse(&c, (const uint8_t[]){0, 0}, 2, &out), PG_EPROTO,
		     "empty list");
	c = client_at_list(want, 1);
	const uint8_t none[] = {0, 2, 0, 0, 1, 2, 0, 0, 1, 3};
	cr_assert_eq(pg_vencrypt_client_parse(&c, none, sizeof(none), &out), PG_EUNSUP,
		     "nothing we accept");
	cr_assert_eq(out.len, 0);
	c = client_at_list(want, 1);
	const uint8_t ok[] = {0, 1, 0, 0, 1, 6};
	cr_assert_eq(pg_vencrypt_client_parse(&c, ok, sizeof(ok), &out), (ssize_t)sizeof(ok));
	cr_assert_eq(pg_vencrypt_client_parse(&c, (const uint8_t[]){0}, 1, &out), PG_EUNSUP,
		     "choice refused");
	pg_buf_free(&out);
}

/* Both of our state machines against each other. */
Test(vencrypt, client_meets_server)
{
	struct pg_vencrypt_server s;
	struct pg_vencrypt_client c;
	struct pg_buf to_c, to_s;
	pg_buf_init(&to_c, 4096);
	pg_buf_init(&to_s, 4096);
	const uint32_t want[] = {PG_VENCRYPT_TLSPLAIN, PG_VENCRYPT_X509PLAIN};
	cr_assert_eq(pg_vencrypt_server_start(&s, offer, 2, &to_c), 0);
	cr_assert_eq(pg_vencrypt_client_init(&c, want, 2), 0);
	for (int round = 0; round < 10 && s.phase != PG_VENCRYPT_TLS; round++) {
		ssize_t n;
		while (to_c.len &&
		       (n = pg_vencrypt_client_parse(&c, to_c.data, to_c.len, &to_s)) > 0)
			pg_buf_consume(&to_c, (size_t)n);
		while (to_s.len &&
		       (n = pg_vencrypt_server_parse(&s, to_s.data, to_s.len, &to_c)) > 0)
			pg_buf_consume(&to_s, (size_t)n);
	}
	ssize_t n = pg_vencrypt_client_parse(&c, to_c.data, to_c.len, &to_s);
	cr_assert_eq(n, 1);
	cr_assert_eq(s.phase, PG_VENCRYPT_TLS);
	cr_assert_eq(c.phase, PG_VENCRYPT_TLS);
	cr_assert_eq(s.chosen, PG_VENCRYPT_TLSPLAIN);
	cr_assert_eq(c.chosen, PG_VENCRYPT_TLSPLAIN);
	pg_buf_free(&to_c);
	pg_buf_free(&to_s);
}

static size_t plain_msg(uint8_t *buf, uint32_t ulen, uint32_t plen, const char *u, const char *p)
{
	pg_wr32(buf, ulen);
	pg_wr32(buf + 4, plen);
	memcpy(buf + 8, u, ulen);
	memcpy(buf + 8 + ulen, p, plen);
	return 8 + ulen + plen;
}

Test(vencrypt, plain_credentials)
{
	uint8_t buf[2048];
	const char *user = "yamada.taro", *pw = "correct horse \xe3\x81\x82 battery";
	size_t n = plain_msg(buf, (uint32_t)strlen(user), (uint32_t)strlen(pw), user, pw);
	struct pg_vencrypt_plain c;
	memset(&c, 0, sizeof(c));
	check_prefixes(plain_step, &c, sizeof(c) < 512 ? sizeof(c) : 0, buf, n, (ssize_t)n);
	uint8_t *g = tu_guard(buf, n);
	cr_assert_eq(pg_vencrypt_parse_plain(g, n, &c), (ssize_t)n);
	tu_guard_free(g, n);
	cr_assert_str_eq(c.user, user);
	cr_assert_str_eq(c.password, pw);
	cr_assert_eq(c.password_len, strlen(pw));
	pg_vencrypt_plain_wipe(&c);
	for (size_t i = 0; i < sizeof(c.password); i++)
		cr_assert_eq(c.password[i], 0, "wiped");

	/* Our writer produces what our parser reads. */
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	cr_assert_eq(pg_vencrypt_write_plain(&out, user, pw), 0);
	cr_assert_eq(out.len, n);
	cr_assert_eq(memcmp(out.data, buf, n), 0);
	pg_buf_free(&out);
}

Test(vencrypt, plain_limits_before_buffering)
{
	uint8_t hdr[8];
	struct pg_vencrypt_plain c;
	/* Only the header is there: the lengths alone decide, no waiting for the body. */
	pg_wr32(hdr, PG_VENCRYPT_MAX_USER + 1);
	pg_wr32(hdr + 4, 1);
	uint8_t *g = tu_guard(hdr, 8);
	cr_assert_eq(pg_vencrypt_parse_plain(g, 8, &c), PG_ELIMIT);
	tu_guard_free(g, 8);
	pg_wr32(hdr, 1);
	pg_wr32(hdr + 4, PG_VENCRYPT_MAX_PASSWORD + 1);
	g = tu_guard(hdr, 8);
	cr_assert_eq(pg_vencrypt_parse_plain(g, 8, &c), PG_ELIMIT);
	tu_guard_free(g, 8);
	pg_wr32(hdr, 0xffffffffu);
	pg_wr32(hdr + 4, 0xffffffffu);
	cr_assert_eq(pg_vencrypt_parse_plain(hdr, 8, &c), PG_ELIMIT);

	/* Exactly at the limits is fine. */
	static uint8_t big[8 + PG_VENCRYPT_MAX_USER + PG_VENCRYPT_MAX_PASSWORD];
	char u[PG_VENCRYPT_MAX_USER + 1] = {0}, p[PG_VENCRYPT_MAX_PASSWORD + 1] = {0};
	memset(u, 'u', PG_VENCRYPT_MAX_USER);
	memset(p, 'p', PG_VENCRYPT_MAX_PASSWORD);
	size_t n = plain_msg(big, PG_VENCRYPT_MAX_USER, PG_VENCRYPT_MAX_PASSWORD, u, p);
	g = tu_guard(big, n);
	cr_assert_eq(pg_vencrypt_parse_plain(g, n, &c), (ssize_t)n);
	cr_assert_eq(pg_vencrypt_parse_plain(g, n - 1, &c), 0);
	tu_guard_free(g, n);
	cr_assert_eq(strlen(c.user), PG_VENCRYPT_MAX_USER);
	cr_assert_eq(strlen(c.password), PG_VENCRYPT_MAX_PASSWORD);

	/* Empty user, NUL bytes: refused. An empty password is the verifier's call. */
	uint8_t m[64];
	n = plain_msg(m, 0, 2, "", "pw");
	cr_assert_eq(pg_vencrypt_parse_plain(m, n, &c), PG_EPROTO);
	n = plain_msg(m, 3, 2, "a\0b", "pw");
	cr_assert_eq(pg_vencrypt_parse_plain(m, n, &c), PG_EPROTO);
	n = plain_msg(m, 1, 3, "a", "p\0w");
	cr_assert_eq(pg_vencrypt_parse_plain(m, n, &c), PG_EPROTO);
	n = plain_msg(m, 1, 0, "a", "");
	cr_assert_eq(pg_vencrypt_parse_plain(m, n, &c), (ssize_t)n);
	struct pg_buf out;
	pg_buf_init(&out, 4096);
	cr_assert_eq(pg_vencrypt_write_plain(&out, u, "x"), 0, "256 is the limit");
	char longer[PG_VENCRYPT_MAX_PASSWORD + 2];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	cr_assert_eq(pg_vencrypt_write_plain(&out, "a", longer), PG_ELIMIT);
	pg_buf_free(&out);
}
