#include "auth/vencrypt.h"

#include <string.h>

#include <openssl/crypto.h>

#include "codec/err.h"

const char *pg_vencrypt_name(uint32_t subtype)
{
	switch (subtype) {
	case PG_VENCRYPT_PLAIN:
		return "Plain";
	case PG_VENCRYPT_TLSNONE:
		return "TLSNone";
	case PG_VENCRYPT_TLSVNC:
		return "TLSVnc";
	case PG_VENCRYPT_TLSPLAIN:
		return "TLSPlain";
	case PG_VENCRYPT_X509NONE:
		return "X509None";
	case PG_VENCRYPT_X509VNC:
		return "X509Vnc";
	case PG_VENCRYPT_X509PLAIN:
		return "X509Plain";
	}
	return "unknown";
}

bool pg_vencrypt_is_x509(uint32_t subtype)
{
	return subtype >= PG_VENCRYPT_X509NONE && subtype <= PG_VENCRYPT_X509PLAIN;
}

bool pg_vencrypt_is_anon(uint32_t subtype)
{
	return subtype >= PG_VENCRYPT_TLSNONE && subtype <= PG_VENCRYPT_TLSPLAIN;
}

/* The subtypes pixelgate negotiates: those with TLS; Plain alone would send the
 * password in clear, so only a server whose whole connection is TLS already (the
 * web listener) may offer it (plain_ok). */
static int check_list(const uint32_t *list, size_t n, bool plain_ok)
{
	if (!list || n == 0 || n > PG_VENCRYPT_MAX_SUBTYPES)
		return PG_ELIMIT;
	for (size_t i = 0; i < n; i++) {
		if (!pg_vencrypt_is_x509(list[i]) && !pg_vencrypt_is_anon(list[i]) &&
		    !(plain_ok && list[i] == PG_VENCRYPT_PLAIN))
			return PG_EUNSUP;
		for (size_t j = 0; j < i; j++)
			if (list[j] == list[i])
				return PG_EPROTO;
	}
	return 0;
}

static bool in_list(const uint32_t *list, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

static int server_start(struct pg_vencrypt_server *s, const uint32_t *offer, size_t n,
			bool plain_ok, struct pg_buf *out)
{
	memset(s, 0, sizeof(*s));
	s->phase = PG_VENCRYPT_FAILED;
	int rc = check_list(offer, n, plain_ok);
	if (rc < 0)
		return rc;
	memcpy(s->offer, offer, n * sizeof(*offer));
	s->noffer = n;
	const uint8_t version[2] = {0, 2};
	if ((rc = pg_buf_append(out, version, 2)) < 0)
		return rc;
	s->phase = PG_VENCRYPT_VERSION;
	return 0;
}

int pg_vencrypt_server_start(struct pg_vencrypt_server *s, const uint32_t *offer, size_t n,
			     struct pg_buf *out)
{
	return server_start(s, offer, n, false, out);
}

int pg_vencrypt_server_start_in_tls(struct pg_vencrypt_server *s, struct pg_buf *out)
{
	static const uint32_t plain = PG_VENCRYPT_PLAIN;
	return server_start(s, &plain, 1, true, out);
}

static ssize_t server_version(struct pg_vencrypt_server *s, const uint8_t *buf, size_t len,
			      struct pg_buf *out)
{
	if (len < 2)
		return 0;
	if (buf[0] != 0 || buf[1] != 2) {
		s->phase = PG_VENCRYPT_FAILED;
		pg_buf_put_u8(out, 255);
		return PG_EUNSUP;
	}
	/* ack, count, subtypes: one append, so a full buffer leaves no half reply */
	uint8_t reply[2 + 4 * PG_VENCRYPT_MAX_SUBTYPES];
	reply[0] = 0;
	reply[1] = (uint8_t)s->noffer;
	for (size_t i = 0; i < s->noffer; i++)
		pg_wr32(reply + 2 + 4 * i, s->offer[i]);
	int rc = pg_buf_append(out, reply, 2 + 4 * s->noffer);
	if (rc < 0) {
		s->phase = PG_VENCRYPT_FAILED;
		return rc;
	}
	s->phase = PG_VENCRYPT_SUBTYPE;
	return 2;
}

static ssize_t server_choice(struct pg_vencrypt_server *s, const uint8_t *buf, size_t len,
			     struct pg_buf *out)
{
	if (len < 4)
		return 0;
	uint32_t v = pg_rd32(buf);
	if (!in_list(s->offer, s->noffer, v)) {
		s->phase = PG_VENCRYPT_FAILED;
		pg_buf_put_u8(out, 0);
		return PG_EUNSUP;
	}
	/* The acceptance byte belongs to the TLS subtypes (TigerVNC reads it in its
	 * TLS layer); after Plain the credentials follow at once, as noVNC expects. */
	int rc = v == PG_VENCRYPT_PLAIN ? 0 : pg_buf_put_u8(out, 1);
	if (rc < 0) {
		s->phase = PG_VENCRYPT_FAILED;
		return rc;
	}
	s->chosen = v;
	s->phase = PG_VENCRYPT_TLS;
	return 4;
}

ssize_t pg_vencrypt_server_parse(struct pg_vencrypt_server *s, const uint8_t *buf, size_t len,
				 struct pg_buf *out)
{
	switch (s->phase) {
	case PG_VENCRYPT_VERSION:
		return server_version(s, buf, len, out);
	case PG_VENCRYPT_SUBTYPE:
		return server_choice(s, buf, len, out);
	default:
		return PG_EPROTO;
	}
}

int pg_vencrypt_client_init(struct pg_vencrypt_client *c, const uint32_t *want, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->phase = PG_VENCRYPT_FAILED;
	int rc = check_list(want, n, false);
	if (rc < 0)
		return rc;
	memcpy(c->want, want, n * sizeof(*want));
	c->nwant = n;
	c->phase = PG_VENCRYPT_VERSION;
	return 0;
}

/* The server's version; we answer 0.2. Its status byte comes with the list. */
static ssize_t client_version(struct pg_vencrypt_client *c, const uint8_t *buf, size_t len,
			      struct pg_buf *out)
{
	if (len < 2)
		return 0;
	/* 0.1 had another layout; anything from 0.2 up can speak 0.2. */
	if (buf[0] == 0 && buf[1] < 2) {
		c->phase = PG_VENCRYPT_FAILED;
		return PG_EUNSUP;
	}
	const uint8_t version[2] = {0, 2};
	int rc = pg_buf_append(out, version, 2);
	if (rc < 0) {
		c->phase = PG_VENCRYPT_FAILED;
		return rc;
	}
	c->phase = PG_VENCRYPT_SUBTYPE;
	return 2;
}

/* status u8 (0 = version accepted), count u8, count u32 subtypes: whole or not at all */
static ssize_t client_list(struct pg_vencrypt_client *c, const uint8_t *buf, size_t len,
			   struct pg_buf *out)
{
	if (len < 1)
		return 0;
	if (buf[0] != 0) {
		c->phase = PG_VENCRYPT_FAILED;
		return PG_EUNSUP;
	}
	if (len < 2)
		return 0;
	size_t count = buf[1];
	if (count == 0) {
		c->phase = PG_VENCRYPT_FAILED;
		return PG_EPROTO;
	}
	if (len < 2 + 4 * count)
		return 0;
	for (size_t w = 0; w < c->nwant; w++) {
		for (size_t i = 0; i < count; i++) {
			if (pg_rd32(buf + 2 + 4 * i) != c->want[w])
				continue;
			int rc = pg_buf_put_u32(out, c->want[w]);
			if (rc < 0) {
				c->phase = PG_VENCRYPT_FAILED;
				return rc;
			}
			c->chosen = c->want[w];
			c->phase = PG_VENCRYPT_ACCEPT;
			return (ssize_t)(2 + 4 * count);
		}
	}
	c->phase = PG_VENCRYPT_FAILED;
	return PG_EUNSUP;
}

static ssize_t client_accept(struct pg_vencrypt_client *c, const uint8_t *buf, size_t len)
{
	if (len < 1)
		return 0;
	if (buf[0] != 1) {
		c->phase = PG_VENCRYPT_FAILED;
		return PG_EUNSUP;
	}
	c->phase = PG_VENCRYPT_TLS;
	return 1;
}

ssize_t pg_vencrypt_client_parse(struct pg_vencrypt_client *c, const uint8_t *buf, size_t len,
				 struct pg_buf *out)
{
	switch (c->phase) {
	case PG_VENCRYPT_VERSION:
		return client_version(c, buf, len, out);
	case PG_VENCRYPT_SUBTYPE:
		return client_list(c, buf, len, out);
	case PG_VENCRYPT_ACCEPT:
		return client_accept(c, buf, len);
	default:
		return PG_EPROTO;
	}
}

ssize_t pg_vencrypt_parse_plain(const uint8_t *buf, size_t len, struct pg_vencrypt_plain *c)
{
	if (len < 8)
		return 0;
	uint32_t ulen = pg_rd32(buf), plen = pg_rd32(buf + 4);
	if (ulen > PG_VENCRYPT_MAX_USER || plen > PG_VENCRYPT_MAX_PASSWORD)
		return PG_ELIMIT;
	if (ulen == 0)
		return PG_EPROTO;
	if (len - 8 < (size_t)ulen + plen)
		return 0;
	const uint8_t *u = buf + 8, *p = u + ulen;
	if (memchr(u, 0, ulen) || memchr(p, 0, plen))
		return PG_EPROTO;
	memcpy(c->user, u, ulen);
	c->user[ulen] = '\0';
	c->user_len = ulen;
	memcpy(c->password, p, plen);
	c->password[plen] = '\0';
	c->password_len = plen;
	return (ssize_t)(8 + ulen + plen);
}

void pg_vencrypt_plain_wipe(struct pg_vencrypt_plain *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
}

int pg_vencrypt_write_plain(struct pg_buf *out, const char *user, const char *password)
{
	size_t ulen = strlen(user), plen = strlen(password);
	if (ulen > PG_VENCRYPT_MAX_USER || plen > PG_VENCRYPT_MAX_PASSWORD)
		return PG_ELIMIT;
	int rc = pg_buf_reserve(out, 8 + ulen + plen);
	if (rc < 0)
		return rc;
	pg_buf_put_u32(out, (uint32_t)ulen);
	pg_buf_put_u32(out, (uint32_t)plen);
	pg_buf_append(out, user, ulen);
	pg_buf_append(out, password, plen);
	return 0;
}
