/* Against an implementation we did not write: libvncclient (GnuTLS in Debian)
 * connects over loopback TCP to a test server made of pg_vencrypt + pg_tls and
 * must get through VeNCrypt, TLS, Plain credentials and ServerInit. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <rfb/rfbclient.h>

#include "tls_util.h"

static struct tu_pki pki;
static const char *ca_file;
static const char *const user = "\xe5\xb1\xb1\xe7\x94\xb0.taro";   /* 山田.taro */
static const char *const password = "p@ss w0rd:\xe3\x81\x82/1234"; /* with a space, UTF-8 */
static int cred_calls[3];

static void setup(void)
{
	tu_pki_make(&pki);
}

static void teardown(void)
{
	tu_pki_remove(&pki);
}

TestSuite(libvncclient, .init = setup, .fini = teardown, .timeout = 60);

static void quiet(const char *fmt, ...)
{
}

static rfbCredential *get_credential(rfbClient *cl, int type)
{
	rfbCredential *c = calloc(1, sizeof(*c));
	cr_assert(c);
	if (type >= 0 && type < 3)
		cred_calls[type]++;
	if (type == rfbCredentialTypeX509) {
		c->x509Credential.x509CACertFile = strdup(ca_file);
	} else if (type == rfbCredentialTypeUser) {
		c->userCredential.username = strdup(user);
		c->userCredential.password = strdup(password);
	} else {
		free(c);
		return NULL;
	}
	return c;
}

/* Connect; true if rfbInitClient got through ServerInit. */
static bool connect_viewer(int port)
{
	rfbClientLog = quiet;
	rfbClientErr = quiet;
	rfbClient *cl = rfbGetClient(8, 3, 4);
	cr_assert(cl);
	free(cl->serverHost);
	cl->serverHost = strdup("127.0.0.1");
	cl->serverPort = port;
	cl->GetCredential = get_credential;
	/* rfbInitClient frees the client when it fails */
	if (!rfbInitClient(cl, NULL, NULL))
		return false;
	cr_assert_eq(cl->width, 64);
	cr_assert_eq(cl->height, 48);
	cr_assert_str_eq(cl->desktopName, "pg-tls-test");
	rfbClientCleanup(cl);
	return true;
}

Test(libvncclient, x509plain)
{
	char err[512];
	struct pg_tls_ctx *ctx = pg_tls_ctx_new_server(pki.cert, pki.key, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	struct tu_server s;
	tu_server_start(&s, PG_VENCRYPT_X509PLAIN, ctx);
	ca_file = pki.ca;
	bool ok = connect_viewer(s.port);
	tu_server_stop(&s);
	cr_assert(ok, "libvncclient handshake (server stage %s: %s)", s.stage, s.err);
	cr_assert_eq(s.rc, 0, "server stage %s: %s", s.stage, s.err);
	cr_assert_eq(cred_calls[rfbCredentialTypeX509], 1, "asked for the CA");
	cr_assert_eq(cred_calls[rfbCredentialTypeUser], 1, "asked for user and password");
	cr_assert_str_eq(s.cred.user, user);
	cr_assert_eq(s.cred.user_len, strlen(user));
	cr_assert_str_eq(s.cred.password, password);
	cr_assert_eq(s.cred.password_len, strlen(password));
	cr_assert(strstr(s.tls_version, "TLSv1.") && !strstr(s.tls_version, "TLSv1.1"), "%s",
		  s.tls_version);
	cr_log_info("libvncclient X509Plain: %s %s", s.tls_version, s.tls_cipher);
	pg_vencrypt_plain_wipe(&s.cred);
	pg_tls_ctx_del(ctx);
}

Test(libvncclient, x509plain_wrong_ca_refused)
{
	char err[512];
	struct pg_tls_ctx *ctx = pg_tls_ctx_new_server(pki.cert, pki.key, err, sizeof(err));
	cr_assert(ctx, "%s", err);
	struct tu_server s;
	tu_server_start(&s, PG_VENCRYPT_X509PLAIN, ctx);
	ca_file = pki.wrong_ca;
	bool ok = connect_viewer(s.port);
	tu_server_stop(&s);
	cr_assert_not(ok, "a viewer that does not trust our CA must not get through");
	cr_assert_neq(s.rc, 0);
	cr_assert_str_eq(s.stage, "tls", "failed in TLS (%s)", s.err);
	cr_assert_eq(s.cred.user_len, 0, "no credentials crossed");
	pg_tls_ctx_del(ctx);
}

Test(libvncclient, tlsplain)
{
	char err[512];
	struct pg_tls_ctx *ctx = pg_tls_ctx_new_anon_server(err, sizeof(err));
	cr_assert(ctx, "%s", err);
	struct tu_server s;
	tu_server_start(&s, PG_VENCRYPT_TLSPLAIN, ctx);
	ca_file = NULL;
	bool ok = connect_viewer(s.port);
	tu_server_stop(&s);
	cr_assert(ok, "libvncclient handshake (server stage %s: %s)", s.stage, s.err);
	cr_assert_eq(s.rc, 0, "server stage %s: %s", s.stage, s.err);
	cr_assert_eq(cred_calls[rfbCredentialTypeX509], 0, "anonymous TLS needs no CA");
	cr_assert_str_eq(s.cred.user, user);
	cr_assert_str_eq(s.cred.password, password);
	cr_assert_str_eq(s.tls_version, "TLSv1.2");
	cr_assert(strstr(s.tls_cipher, "ADH") && strstr(s.tls_cipher, "GCM"), "%s", s.tls_cipher);
	cr_log_info("libvncclient TLSPlain: %s %s", s.tls_version, s.tls_cipher);
	pg_vencrypt_plain_wipe(&s.cred);
	pg_tls_ctx_del(ctx);
}
